/* Expand: numpy broadcast of the input to the output shape. */
#include "backends/cpu/move_common.h"

ks_status ks__cpu_expand(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    size_t es = ks_dtype_size(x->dtype);
    int r = o->ndim;
    if (x->ndim > r)
        return ks__op_error(oc, KS_INTERNAL, "output rank below input rank");
    int64_t in_st[KS_MAX_DIMS], st[KS_MAX_DIMS];
    ks__strides(x->dims, x->ndim, in_st);
    for (int i = 0; i < r; i++) {
        int xi = i - (r - x->ndim);
        if (xi < 0 || x->dims[xi] == 1) {
            st[i] = 0;
        } else if (x->dims[xi] == o->dims[i]) {
            st[i] = in_st[xi] * (int64_t)es;
        } else {
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                                "cannot broadcast input dim %d (%lld) to %lld", xi,
                                (long long)x->dims[xi], (long long)o->dims[i]);
        }
    }
    if (ks_tensor_numel(o) == 0)
        return KS_OK;
    ks__cpu_strided_copy(x->data, st, o->data, o->dims, r, es);
    return KS_OK;
}
