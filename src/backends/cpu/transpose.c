/* Transpose (rank <= 8, any dtype). */
#include "backends/cpu/move_common.h"

ks_status ks__cpu_transpose(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    int r = x->ndim;
    size_t es = ks_dtype_size(x->dtype);
    const int64_t *perm = NULL;
    int64_t np = ks__attr_ints(oc->node, "perm", &perm);
    if (np >= 0 && np != r)
        return ks__op_error(oc, KS_INVALID_MODEL, "perm has %lld values for rank %d",
                            (long long)np, r);
    int64_t in_st[KS_MAX_DIMS], st[KS_MAX_DIMS];
    ks__strides(x->dims, r, in_st);
    for (int i = 0; i < r; i++) {
        int p = np >= 0 ? (int)perm[i] : r - 1 - i;
        if (p < 0 || p >= r)
            return ks__op_error(oc, KS_INVALID_MODEL, "bad perm value %d", p);
        st[i] = in_st[p] * (int64_t)es;
        if (o->dims[i] != x->dims[p])
            return ks__op_error(oc, KS_INTERNAL, "output dims do not match perm");
    }
    ks__cpu_strided_copy(x->data, st, o->data, o->dims, r, es);
    return KS_OK;
}
