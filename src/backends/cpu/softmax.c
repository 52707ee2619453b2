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
    int f32 = x->dtype == KS_DTYPE_FLOAT32;
    const float *xf = (const float *)x->data;
    const double *xd = (const double *)x->data;
    float *yf = (float *)out->data;
    double *yd = (double *)out->data;
#define LOADX(k) (f32 ? (double)xf[k] : xd[k])
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t in = 0; in < inner; in++) {
            int64_t base = o * len * inner + in;
            double m = -INFINITY;
            for (int64_t j = 0; j < len; j++) {
                double v = LOADX(base + j * inner);
                if (v > m || v != v)
                    m = v;
                if (m != m)
                    break;
            }
            double s = 0.0;
            for (int64_t j = 0; j < len; j++)
                s += exp(LOADX(base + j * inner) - m);
            double ls = log(s);
            for (int64_t j = 0; j < len; j++) {
                double d = LOADX(base + j * inner) - m;
                double r = is_log ? d - ls : exp(d) / s;
                if (m == INFINITY || m == -INFINITY)
                    r = NAN; /* inf - inf: undefined, as numpy gives */
                if (f32)
                    yf[base + j * inner] = (float)r;
                else
                    yd[base + j * inner] = r;
            }
        }
    }
#undef LOADX
    return KS_OK;
}

ks_status ks__cpu_softmax(ks_op_ctx *oc) { return softmax_common(oc, 0); }
ks_status ks__cpu_log_softmax(ks_op_ctx *oc) { return softmax_common(oc, 1); }
