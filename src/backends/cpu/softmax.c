/* CPU reference: Softmax and LogSoftmax.
 *
 * opset >= 13: normalizes along one axis (default -1).
 * opset <  13: flattens the input to 2-D at `axis` (default 1) and
 *              normalizes each row of the flattened [prod(d[:axis]),
 *              prod(d[axis:])] matrix.
 * Both reduce to (outer, len, inner) loops. Computed in double with the
 * max subtracted first, rounded once at the store. */
#include <math.h>

#include "backends/cpu/elementwise.h"

static ks_status softmax_common(ks_op_ctx *oc, int is_log) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *out = oc->out[0];
    if (x->dtype != KS_DTYPE_FLOAT32 && x->dtype != KS_DTYPE_FLOAT64)
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "dtype %s is not supported",
                            ks_dtype_name(x->dtype));
    int legacy = oc->node->opset > 0 && oc->node->opset < 13;
    int64_t axis_attr = ks__attr_i(oc->node, "axis", legacy ? 1 : -1);
    int rank = x->ndim, axis;
    if (rank == 0) {
        /* a scalar normalizes to 1 (or 0 for log) */
        if (x->dtype == KS_DTYPE_FLOAT32)
            ((float *)out->data)[0] = is_log ? 0.0f : 1.0f;
        else
            ((double *)out->data)[0] = is_log ? 0.0 : 1.0;
        return KS_OK;
    }
    if (!ks__norm_axis(axis_attr, rank, &axis))
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR, "axis %lld out of range for rank %d",
                            (long long)axis_attr, rank);
    int64_t outer = 1, len = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= x->dims[i];
    if (legacy) {
        for (int i = axis; i < rank; i++)
            len *= x->dims[i];
    } else {
        len = x->dims[axis];
        for (int i = axis + 1; i < rank; i++)
            inner *= x->dims[i];
    }
    if (len == 0)
        return KS_OK;
    /* per outer block: running max and sum for each of the `inner`
     * positions, walking the axis with the contiguous inner index
     * innermost (cache friendly for any axis) */
    double *m = (double *)ks__alloc_array(oc->ctx, (size_t)inner * 2, sizeof(double));
    if (!m)
        return ks__oom(oc->ctx, (size_t)inner * 16, "softmax scratch");
    double *s = m + inner;
    /* exp values of one block are kept (double) when the block is not huge,
     * so exp runs once per element; otherwise they are recomputed */
    int64_t blk = len * inner;
    double *ev = blk <= ((int64_t)1 << 22)
                     ? (double *)ks__alloc_array(oc->ctx, (size_t)blk, sizeof(double))
                     : NULL;
    int f32 = x->dtype == KS_DTYPE_FLOAT32;
    const float *xf = (const float *)x->data;
    const double *xd = (const double *)x->data;
    float *yf = (float *)out->data;
    double *yd = (double *)out->data;
#define LOADX(k) (f32 ? (double)xf[k] : xd[k])
    for (int64_t o = 0; o < outer; o++) {
        int64_t base = o * len * inner;
        for (int64_t i = 0; i < inner; i++) {
            m[i] = -INFINITY;
            s[i] = 0.0;
        }
        for (int64_t j = 0; j < len; j++)
            for (int64_t i = 0; i < inner; i++) {
                double v = LOADX(base + j * inner + i);
                if (v > m[i] || v != v)
                    m[i] = m[i] != m[i] ? m[i] : v; /* NaN sticks */
            }
        for (int64_t j = 0; j < len; j++)
            for (int64_t i = 0; i < inner; i++) {
                double e = exp(LOADX(base + j * inner + i) - m[i]);
                s[i] += e;
                if (ev)
                    ev[j * inner + i] = e;
            }
        for (int64_t i = 0; i < inner; i++)
            s[i] = is_log ? log(s[i]) : s[i];
        for (int64_t j = 0; j < len; j++) {
            for (int64_t i = 0; i < inner; i++) {
                int64_t e = base + j * inner + i;
                double d = LOADX(e) - m[i];
                double r = is_log ? d - s[i] : (ev ? ev[j * inner + i] : exp(d)) / s[i];
                if (m[i] == INFINITY || m[i] == -INFINITY)
                    r = NAN; /* inf - inf: undefined, as numpy gives */
                if (f32)
                    yf[e] = (float)r;
                else
                    yd[e] = r;
            }
        }
    }
#undef LOADX
    ks__free(oc->ctx, m);
    ks__free(oc->ctx, ev);
    return KS_OK;
}

ks_status ks__cpu_softmax(ks_op_ctx *oc) { return softmax_common(oc, 0); }
ks_status ks__cpu_log_softmax(ks_op_ctx *oc) { return softmax_common(oc, 1); }
