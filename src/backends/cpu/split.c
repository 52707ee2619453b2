/* Split along one axis into n_out parts. */
#include <string.h>

#include "backends/cpu/move_common.h"

ks_status ks__cpu_split(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    size_t es = ks_dtype_size(x->dtype);
    int64_t *sizes = ks__alloc_array(oc->ctx, (size_t)oc->n_out + 1, sizeof(int64_t));
    if (!sizes)
        return ks__oom(oc->ctx, ((size_t)oc->n_out + 1) * sizeof(int64_t), "split sizes");
    int axis = 0;
    ks_status st = ks__split_sizes(oc, &axis, sizes);
    if (st != KS_OK) {
        ks__free(oc->ctx, sizes);
        return st;
    }
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= x->dims[i];
    for (int i = axis + 1; i < x->ndim; i++)
        inner *= x->dims[i];
    size_t in_row = (size_t)(x->dims[axis] * inner) * es;
    size_t off = 0;
    for (int k = 0; k < oc->n_out; k++) {
        size_t row = (size_t)(sizes[k] * inner) * es;
        ks_tensor *o = oc->out[k];
        if (o && row) {
            if (o->dims[axis] != sizes[k]) {
                ks__free(oc->ctx, sizes);
                return ks__op_error(oc, KS_INTERNAL, "output %d size differs from split", k);
            }
            for (int64_t j = 0; j < outer; j++)
                memcpy((char *)o->data + (size_t)j * row,
                       (const char *)x->data + (size_t)j * in_row + off, row);
        }
        off += row;
    }
    ks__free(oc->ctx, sizes);
    return KS_OK;
}
