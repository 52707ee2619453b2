/* Slice (opset 10+ input form; negative steps, clamping). */
#include "backends/cpu/move_common.h"

ks_status ks__cpu_slice(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    ks_slice_plan p;
    KS_CHECK(ks__slice_plan(oc, &p));
    size_t es = ks_dtype_size(x->dtype);
    int64_t in_st[KS_MAX_DIMS], st[KS_MAX_DIMS];
    ks__strides(x->dims, x->ndim, in_st);
    int64_t base = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (p.len[i] != o->dims[i])
            return ks__op_error(oc, KS_INTERNAL, "slice length differs from inferred output");
        base += p.start[i] * in_st[i];
        st[i] = p.step[i] * in_st[i] * (int64_t)es;
    }
    if (ks_tensor_numel(o) == 0)
        return KS_OK;
    ks__cpu_strided_copy((const char *)x->data + base * (int64_t)es, st, o->data, o->dims,
                         x->ndim, es);
    return KS_OK;
}
