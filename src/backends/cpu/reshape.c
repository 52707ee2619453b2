/* Ops that keep the bytes and change only the shape: Reshape, Flatten,
 * Squeeze, Unsqueeze, Identity, Dropout (inference). */
#include <string.h>

#include "backends/cpu/move_common.h"

static ks_status copy_same(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    int64_t n = ks_tensor_numel(x);
    if (n < 0 || n != ks_tensor_numel(o) || x->dtype != o->dtype) {
        char a[96], b[96];
        return ks__op_error(oc, KS_INVALID_MODEL, "cannot reshape %s (%lld elements) to %s",
                            ks_shape_str(x->dims, x->ndim, a, sizeof a), (long long)n,
                            ks_shape_str(o->dims, o->ndim, b, sizeof b));
    }
    if (n && o->data != x->data)
        memcpy(o->data, x->data, ks_tensor_nbytes(x));
    return KS_OK;
}

ks_status ks__cpu_reshape(ks_op_ctx *oc) { return copy_same(oc); }
ks_status ks__cpu_flatten(ks_op_ctx *oc) { return copy_same(oc); }
ks_status ks__cpu_squeeze(ks_op_ctx *oc) { return copy_same(oc); }
ks_status ks__cpu_unsqueeze(ks_op_ctx *oc) { return copy_same(oc); }
ks_status ks__cpu_identity(ks_op_ctx *oc) { return copy_same(oc); }

ks_status ks__cpu_dropout(ks_op_ctx *oc) {
    KS_CHECK(copy_same(oc));
    if (oc->n_out > 1 && oc->out[1]) {
        ks_tensor *m = oc->out[1];
        int64_t n = ks_tensor_numel(m);
        if (n > 0)
            memset(m->data, 1, (size_t)n); /* bool: nothing dropped */
    }
    return KS_OK;
}
