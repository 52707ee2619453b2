/* Shape inference: Reduce*, ArgMax/ArgMin, TopK; and the axes parsing the
 * CPU reductions share (ks__reduce_axes). */
#include <string.h>

#include "backends/cpu/elementwise.h"
#include "graph/ir.h"

/* Axes of a Reduce* node: optional input 1 (int64/int32 1-D). Fills
 * mask[i] = 1 for reduced axes of a rank-`rank` input. *noop = 1 when the
 * node is the identity (empty axes with noop_with_empty_axes). *unknown = 1
 * when the axes input exists but its data is not known (static
 * inference); mask is then unset. */
static ks_status reduce_axes(const ks_op_ctx *oc, int rank, uint8_t *mask, int *noop,
                             int *unknown) {
    *noop = 0;
    *unknown = 0;
    memset(mask, 0, KS_MAX_DIMS);
    const ks_tensor *ax = oc->n_in > 1 ? oc->in[1] : NULL;
    int64_t n_axes = 0;
    if (ax) {
        if (!ks__dtype_is_int(ax->dtype))
            return ks__op_error(oc, KS_INVALID_MODEL, "axes must be an integer tensor, got %s",
                                ks_dtype_name(ax->dtype));
        n_axes = ks_tensor_numel(ax);
        if (!ax->data && n_axes != 0) {
            *unknown = 1;
            return KS_OK;
        }
    }
    if (n_axes == 0) {
        if (ks__attr_i(oc->node, "noop_with_empty_axes", 0))
            *noop = 1;
        else
            memset(mask, 1, rank > 0 ? (size_t)rank : 0);
        return KS_OK;
    }
    for (int64_t i = 0; i < n_axes; i++) {
        int64_t a = ks__tensor_get_i64(ax, i);
        int axis;
        if (!ks__norm_axis(a, rank, &axis))
            return ks__op_error(oc, KS_INVALID_MODEL, "axis %lld out of range for rank %d",
                                (long long)a, rank);
        mask[axis] = 1;
    }
    return KS_OK;
}

ks_status ks__reduce_axes(const ks_op_ctx *oc, int rank, uint8_t *mask, int *noop) {
    int unknown;
    KS_CHECK(reduce_axes(oc, rank, mask, noop, &unknown));
    if (unknown)
        return ks__op_error(oc, KS_INTERNAL, "axes are not known at run time");
    return KS_OK;
}

static ks_status infer_reduce(ks_op_ctx *oc) {
    if (oc->n_in < 1 || !oc->in[0] || oc->n_out < 1 || !oc->out[0])
        return ks__op_error(oc, KS_INVALID_MODEL, "needs an input and an output");
    const ks_tensor *x = oc->in[0];
    ks_tensor *out = oc->out[0];
    int keep = ks__attr_i(oc->node, "keepdims", 1) != 0;
    out->dtype = x->dtype;
    if (x->ndim < 0) {
        out->ndim = -1;
        return KS_OK;
    }
    uint8_t mask[KS_MAX_DIMS];
    int noop, unknown;
    KS_CHECK(reduce_axes(oc, x->ndim, mask, &noop, &unknown));
    if (noop) {
        out->ndim = x->ndim;
        memcpy(out->dims, x->dims, sizeof(int64_t) * (size_t)x->ndim);
        return KS_OK;
    }
    if (unknown) {
        /* which axes go is not known: with keepdims the rank stays and each
         * dim is itself or 1; without, the rank drops by the axes count */
        const ks_tensor *ax = oc->in[1];
        int64_t n_axes = ks_tensor_numel(ax);
        if (keep) {
            out->ndim = x->ndim;
            for (int i = 0; i < x->ndim; i++)
                out->dims[i] = x->dims[i] == 1 ? 1 : -1;
        } else if (n_axes > 0 && n_axes <= x->ndim) {
            out->ndim = x->ndim - (int)n_axes;
            for (int i = 0; i < out->ndim; i++)
                out->dims[i] = -1;
        } else {
            out->ndim = -1;
        }
        return KS_OK;
    }
    int n = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (!mask[i])
            out->dims[n++] = x->dims[i];
        else if (keep)
            out->dims[n++] = 1;
    }
    out->ndim = n;
    return KS_OK;
}

ks_status ks__infer_reduce_mean(ks_op_ctx *oc) { return infer_reduce(oc); }
ks_status ks__infer_reduce_max(ks_op_ctx *oc) { return infer_reduce(oc); }
ks_status ks__infer_reduce_min(ks_op_ctx *oc) { return infer_reduce(oc); }
ks_status ks__infer_reduce_sum(ks_op_ctx *oc) { return infer_reduce(oc); }
ks_status ks__infer_reduce_prod(ks_op_ctx *oc) { return infer_reduce(oc); }
ks_status ks__infer_reduce_l2(ks_op_ctx *oc) { return infer_reduce(oc); }

static ks_status infer_arg(ks_op_ctx *oc) {
    if (oc->n_in < 1 || !oc->in[0] || oc->n_out < 1 || !oc->out[0])
        return ks__op_error(oc, KS_INVALID_MODEL, "needs an input and an output");
    const ks_tensor *x = oc->in[0];
    ks_tensor *out = oc->out[0];
    int keep = ks__attr_i(oc->node, "keepdims", 1) != 0;
    int64_t a = ks__attr_i(oc->node, "axis", 0);
    out->dtype = KS_DTYPE_INT64;
    if (x->ndim < 0) {
        out->ndim = -1;
        return KS_OK;
    }
    int axis;
    if (!ks__norm_axis(a, x->ndim, &axis))
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR, "axis %lld out of range for rank %d",
                            (long long)a, x->ndim);
    int n = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i != axis)
            out->dims[n++] = x->dims[i];
        else if (keep)
            out->dims[n++] = 1;
    }
    out->ndim = n;
    return KS_OK;
}
ks_status ks__infer_arg_max(ks_op_ctx *oc) { return infer_arg(oc); }
ks_status ks__infer_arg_min(ks_op_ctx *oc) { return infer_arg(oc); }

ks_status ks__infer_top_k(ks_op_ctx *oc) {
    if (oc->n_in < 2 || !oc->in[0] || !oc->in[1] || oc->n_out < 1 || !oc->out[0])
        return ks__op_error(oc, KS_INVALID_MODEL, "TopK needs X, K and an output");
    const ks_tensor *x = oc->in[0], *tk = oc->in[1];
    ks_tensor *vals = oc->out[0];
    ks_tensor *idxs = oc->n_out > 1 ? oc->out[1] : NULL;
    if (!ks__dtype_is_int(tk->dtype))
        return ks__op_error(oc, KS_INVALID_MODEL, "K must be int64, got %s",
                            ks_dtype_name(tk->dtype));
    int64_t nk = ks_tensor_numel(tk);
    if (tk->ndim >= 0 && nk >= 0 && nk != 1)
        return ks__op_error(oc, KS_INVALID_MODEL, "K must hold one value, has %lld",
                            (long long)nk);
    vals->dtype = x->dtype;
    vals->ndim = x->ndim;
    if (x->ndim > 0)
        memcpy(vals->dims, x->dims, sizeof(int64_t) * (size_t)x->ndim);
    if (x->ndim >= 0) {
        int64_t a = ks__attr_i(oc->node, "axis", -1);
        int axis;
        if (!ks__norm_axis(a, x->ndim, &axis))
            return ks__op_error(oc, KS_UNSUPPORTED_ATTR, "axis %lld out of range for rank %d",
                                (long long)a, x->ndim);
        int64_t k = -1;
        if (tk->data && nk == 1) {
            k = ks__tensor_get_i64(tk, 0);
            if (k < 0 || (x->dims[axis] >= 0 && k > x->dims[axis]))
                return ks__op_error(oc, KS_INVALID_MODEL,
                                    "K = %lld out of range for axis of size %lld", (long long)k,
                                    (long long)x->dims[axis]);
        }
        vals->dims[axis] = k;
    }
    if (idxs) {
        idxs->dtype = KS_DTYPE_INT64;
        idxs->ndim = vals->ndim;
        if (vals->ndim > 0)
            memcpy(idxs->dims, vals->dims, sizeof(int64_t) * (size_t)vals->ndim);
    }
    return KS_OK;
}
