/* Tile: the output viewed as [rep0, d0, rep1, d1, ...] is a strided copy of
 * the input with stride 0 on the repeat axes. */
#include "backends/cpu/move_common.h"

ks_status ks__cpu_tile(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    size_t es = ks_dtype_size(x->dtype);
    int r = x->ndim;
    if (o->ndim != r)
        return ks__op_error(oc, KS_INTERNAL, "output rank differs from input rank");
    if (ks_tensor_numel(o) == 0)
        return KS_OK;
    int64_t in_st[KS_MAX_DIMS], dims[KS_MOVE_MAX_ND], st[KS_MOVE_MAX_ND];
    ks__strides(x->dims, r, in_st);
    for (int i = 0; i < r; i++) {
        if (x->dims[i] == 0 || o->dims[i] % x->dims[i] != 0)
            return ks__op_error(oc, KS_INTERNAL, "output dim %d is not a multiple of input", i);
        dims[2 * i] = o->dims[i] / x->dims[i];
        st[2 * i] = 0;
        dims[2 * i + 1] = x->dims[i];
        st[2 * i + 1] = in_st[i] * (int64_t)es;
    }
    ks__cpu_strided_copy(x->data, st, o->data, dims, 2 * r, es);
    return KS_OK;
}
