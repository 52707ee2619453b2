/* CPU reference: ReduceMean ReduceMax ReduceMin ReduceSum ReduceProd
 * ReduceL2, ArgMax, ArgMin.
 *
 * Reductions walk the input once in memory order and accumulate into one
 * accumulator per output element (double for float dtypes, int64 for
 * integer dtypes, so integer sums are exact and wrap like the storage
 * type), then round once to the output dtype. Max/Min propagate NaN.
 * An empty reduction gives the identity: 0 (sum, mean is NaN), 1 (prod),
 * -inf / +inf (max / min; the type's limits for integers).
 *
 * Axes come from the optional second input (the importer moves the older
 * attribute form there); none or empty means all axes, or identity when
 * noop_with_empty_axes = 1. */
#include <math.h>
#include <string.h>

#include "backends/cpu/elementwise.h"

enum { RED_SUM, RED_MEAN, RED_MAX, RED_MIN, RED_PROD, RED_L2 };

static ks_status reduce_common(ks_op_ctx *oc, int kind) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *out = oc->out[0];
    int rank = x->ndim;
    uint8_t mask[KS_MAX_DIMS];
    int noop = 0;
    KS_CHECK(ks__reduce_axes(oc, rank, mask, &noop));
    int is_f = ks__dtype_is_float(x->dtype), is_i = ks__dtype_is_int(x->dtype);
    if ((!is_f && !is_i) || out->dtype != x->dtype ||
        ((kind == RED_MEAN || kind == RED_L2) && !is_f))
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "dtype %s is not supported",
                            ks_dtype_name(x->dtype));
    int64_t n_in = ks_tensor_numel(x), n_out = ks_tensor_numel(out);
    if (noop) {
        if (n_out != n_in)
            return ks__op_error(oc, KS_INTERNAL, "noop reduction changes the element count");
        memcpy(out->data, x->data, ks_tensor_nbytes(x));
        return KS_OK;
    }
    /* output strides in input coordinates: 0 along reduced axes */
    int64_t kept[KS_MAX_DIMS], ost[KS_MAX_DIMS];
    for (int i = 0; i < rank; i++)
        kept[i] = mask[i] ? 1 : x->dims[i];
    ks__strides(kept, rank, ost);
    for (int i = 0; i < rank; i++)
        if (mask[i])
            ost[i] = 0;
    int64_t n_kept = 1;
    for (int i = 0; i < rank; i++)
        n_kept *= kept[i];
    if (n_kept != n_out)
        return ks__op_error(oc, KS_INTERNAL, "output has %lld elements, expected %lld",
                            (long long)n_out, (long long)n_kept);
    double *accf = NULL;
    int64_t *acci = NULL;
    if (is_f)
        accf = (double *)ks__alloc_array(oc->ctx, (size_t)(n_out ? n_out : 1), sizeof(double));
    else
        acci = (int64_t *)ks__alloc_array(oc->ctx, (size_t)(n_out ? n_out : 1), sizeof(int64_t));
    if (!accf && !acci)
        return ks__oom(oc->ctx, (size_t)n_out * 8, "reduction accumulators");
    for (int64_t i = 0; i < n_out; i++) {
        if (is_f)
            accf[i] = kind == RED_PROD ? 1.0 : kind == RED_MAX ? -INFINITY
                    : kind == RED_MIN  ? INFINITY : 0.0;
        else
            acci[i] = kind == RED_PROD ? 1 : kind == RED_MAX ? INT64_MIN
                    : kind == RED_MIN  ? INT64_MAX : 0;
    }
    const float *xf = x->dtype == KS_DTYPE_FLOAT32 ? (const float *)x->data : NULL;
    if (n_in > 0) {
        int last = rank - 1;
        int64_t row = rank > 0 ? x->dims[last] : 1;
        int64_t ost_last = rank > 0 ? ost[last] : 0;
        int64_t ctr[KS_MAX_DIMS] = {0};
        int64_t o_base = 0;
        for (int64_t base = 0; base < n_in; base += row) {
            for (int64_t j = 0; j < row; j++) {
                int64_t io = o_base + j * ost_last;
                if (is_f) {
                    double v = xf ? (double)xf[base + j] : ks__tensor_get_f64(x, base + j);
                    double *a = &accf[io];
                    switch (kind) {
                    case RED_SUM: case RED_MEAN: *a += v; break;
                    case RED_PROD: *a *= v; break;
                    case RED_L2: *a += v * v; break;
                    case RED_MAX: if (v > *a || v != v) *a = (*a != *a) ? *a : v; break;
                    case RED_MIN: if (v < *a || v != v) *a = (*a != *a) ? *a : v; break;
                    }
                } else {
                    int64_t v = ks__tensor_get_i64(x, base + j), *a = &acci[io];
                    switch (kind) {
                    case RED_SUM: *a = (int64_t)((uint64_t)*a + (uint64_t)v); break;
                    case RED_PROD: *a = (int64_t)((uint64_t)*a * (uint64_t)v); break;
                    case RED_MAX: if (v > *a) *a = v; break;
                    case RED_MIN: if (v < *a) *a = v; break;
                    default: break;
                    }
                }
            }
            /* advance the outer counters (all dims but the last) */
            for (int i = last - 1; i >= 0; i--) {
                ctr[i]++;
                o_base += ost[i];
                if (ctr[i] < x->dims[i])
                    break;
                o_base -= ost[i] * x->dims[i];
                ctr[i] = 0;
            }
        }
    }
    int64_t count = n_out > 0 ? n_in / n_out : 0;
    for (int64_t i = 0; i < n_out; i++) {
        if (is_f) {
            double v = accf[i];
            if (kind == RED_MEAN)
                v = v / (double)count;
            else if (kind == RED_L2)
                v = sqrt(v);
            ks__tensor_set_f64(out, i, v);
        } else {
            int64_t v = acci[i];
            switch (out->dtype) { /* integer limits for empty max/min wrap to the type */
            case KS_DTYPE_INT64: ((int64_t *)out->data)[i] = v; break;
            case KS_DTYPE_INT32:
                ((int32_t *)out->data)[i] = count == 0 && kind == RED_MAX ? INT32_MIN
                                          : count == 0 && kind == RED_MIN ? INT32_MAX : (int32_t)v;
                break;
            case KS_DTYPE_INT8:
                ((int8_t *)out->data)[i] = count == 0 && kind == RED_MAX ? INT8_MIN
                                         : count == 0 && kind == RED_MIN ? INT8_MAX : (int8_t)v;
                break;
            case KS_DTYPE_UINT8:
                ((uint8_t *)out->data)[i] = count == 0 && kind == RED_MAX ? 0
                                          : count == 0 && kind == RED_MIN ? UINT8_MAX : (uint8_t)v;
                break;
            default: break;
            }
        }
    }
    ks__free(oc->ctx, accf);
    ks__free(oc->ctx, acci);
    return KS_OK;
}

ks_status ks__cpu_reduce_sum(ks_op_ctx *oc) { return reduce_common(oc, RED_SUM); }
ks_status ks__cpu_reduce_mean(ks_op_ctx *oc) { return reduce_common(oc, RED_MEAN); }
ks_status ks__cpu_reduce_max(ks_op_ctx *oc) { return reduce_common(oc, RED_MAX); }
ks_status ks__cpu_reduce_min(ks_op_ctx *oc) { return reduce_common(oc, RED_MIN); }
ks_status ks__cpu_reduce_prod(ks_op_ctx *oc) { return reduce_common(oc, RED_PROD); }
ks_status ks__cpu_reduce_l2(ks_op_ctx *oc) { return reduce_common(oc, RED_L2); }

/* ------------------------------------------------------------ ArgMax/Min */

static ks_status arg_common(ks_op_ctx *oc, int is_max) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *out = oc->out[0];
    int64_t axis_attr = ks__attr_i(oc->node, "axis", 0);
    int last = ks__attr_i(oc->node, "select_last_index", 0) != 0;
    int axis;
    if (!ks__norm_axis(axis_attr, x->ndim, &axis))
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR, "axis %lld out of range for rank %d",
                            (long long)axis_attr, x->ndim);
    if (out->dtype != KS_DTYPE_INT64)
        return ks__op_error(oc, KS_INTERNAL, "output must be int64");
    int is_f = ks__dtype_is_float(x->dtype);
    if (!is_f && !ks__dtype_is_int(x->dtype) && x->dtype != KS_DTYPE_BOOL)
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "dtype %s is not supported",
                            ks_dtype_name(x->dtype));
    int64_t outer = 1, len = x->dims[axis], inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= x->dims[i];
    for (int i = axis + 1; i < x->ndim; i++)
        inner *= x->dims[i];
    if (len == 0 && outer * inner > 0)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "cannot take arg%s of an empty axis",
                            is_max ? "max" : "min");
    int64_t *po = (int64_t *)out->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t in = 0; in < inner; in++) {
            int64_t base = o * len * inner + in, best = 0;
            if (is_f) {
                double bv = ks__tensor_get_f64(x, base);
                for (int64_t j = 1; j < len && bv == bv; j++) {
                    double v = ks__tensor_get_f64(x, base + j * inner);
                    int better = is_max ? v > bv : v < bv;
                    if (v != v || better || (last && v == bv)) {
                        bv = v;
                        best = j;
                    }
                }
            } else {
                int64_t bv = ks__tensor_get_i64(x, base);
                for (int64_t j = 1; j < len; j++) {
                    int64_t v = ks__tensor_get_i64(x, base + j * inner);
                    int better = is_max ? v > bv : v < bv;
                    if (better || (last && v == bv)) {
                        bv = v;
                        best = j;
                    }
                }
            }
            po[o * inner + in] = best;
        }
    }
    return KS_OK;
}

ks_status ks__cpu_arg_max(ks_op_ctx *oc) { return arg_common(oc, 1); }
ks_status ks__cpu_arg_min(ks_op_ctx *oc) { return arg_common(oc, 0); }
