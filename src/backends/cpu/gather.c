/* Gather and GatherElements (negative indices allowed; an out-of-range index
 * is an error naming the node, never an out-of-bounds read). */
#include <string.h>

#include "backends/cpu/move_common.h"

ks_status ks__cpu_gather(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0], *idx = oc->in[1];
    ks_tensor *o = oc->out[0];
    int axis;
    if (!ks__norm_axis(ks__attr_i(oc->node, "axis", 0), x->ndim, &axis))
        return ks__op_error(oc, KS_INVALID_MODEL, "axis is out of range for rank %d", x->ndim);
    size_t es = ks_dtype_size(x->dtype);
    int64_t d = x->dims[axis], outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= x->dims[i];
    for (int i = axis + 1; i < x->ndim; i++)
        inner *= x->dims[i];
    int64_t ni = ks_tensor_numel(idx);
    for (int64_t j = 0; j < ni; j++) {
        int64_t v = ks__tensor_get_i64(idx, j);
        if (v < -d || v >= d)
            return ks__op_error(oc, KS_INVALID_ARGUMENT,
                                "index %lld (indices element %lld) is out of range for axis %d "
                                "of size %lld",
                                (long long)v, (long long)j, axis, (long long)d);
    }
    if (ks_tensor_numel(o) != outer * ni * inner)
        return ks__op_error(oc, KS_INTERNAL, "output size differs from inferred shape");
    size_t row = (size_t)inner * es;
    char *dst = (char *)o->data;
    const char *src = (const char *)x->data;
    for (int64_t a = 0; a < outer; a++) {
        for (int64_t j = 0; j < ni; j++) {
            int64_t v = ks__tensor_get_i64(idx, j);
            if (v < 0)
                v += d;
            memcpy(dst, src + (size_t)((a * d + v) * inner) * es, row);
            dst += row;
        }
    }
    return KS_OK;
}

ks_status ks__cpu_gather_elements(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0], *idx = oc->in[1];
    ks_tensor *o = oc->out[0];
    int r = x->ndim, axis;
    if (idx->ndim != r)
        return ks__op_error(oc, KS_INVALID_MODEL, "data rank %d differs from indices rank %d", r,
                            idx->ndim);
    if (!ks__norm_axis(ks__attr_i(oc->node, "axis", 0), r, &axis))
        return ks__op_error(oc, KS_INVALID_MODEL, "axis is out of range for rank %d", r);
    for (int i = 0; i < r; i++)
        if (i != axis && idx->dims[i] > x->dims[i])
            return ks__op_error(oc, KS_INVALID_ARGUMENT,
                                "indices dim %d (%lld) exceeds data dim (%lld)", i,
                                (long long)idx->dims[i], (long long)x->dims[i]);
    size_t es = ks_dtype_size(x->dtype);
    int64_t st[KS_MAX_DIMS];
    ks__strides(x->dims, r, st);
    int64_t n = ks_tensor_numel(idx), d = x->dims[axis];
    int64_t ii[KS_MAX_DIMS] = {0};
    int64_t base = 0; /* offset without the axis term */
    for (int64_t k = 0; k < n; k++) {
        int64_t v = ks__tensor_get_i64(idx, k);
        if (v < -d || v >= d)
            return ks__op_error(oc, KS_INVALID_ARGUMENT,
                                "index %lld (indices element %lld) is out of range for axis %d "
                                "of size %lld",
                                (long long)v, (long long)k, axis, (long long)d);
        if (v < 0)
            v += d;
        memcpy((char *)o->data + (size_t)k * es,
               (const char *)x->data + (size_t)(base + v * st[axis]) * es, es);
        for (int j = r - 1; j >= 0; j--) {
            if (j != axis)
                base += st[j];
            if (++ii[j] < idx->dims[j])
                break;
            if (j != axis)
                base -= st[j] * idx->dims[j];
            ii[j] = 0;
        }
    }
    return KS_OK;
}
