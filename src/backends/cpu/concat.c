/* Concat along one axis: for each outer index, each input's slab in turn. */
#include <string.h>

#include "backends/cpu/move_common.h"

ks_status ks__cpu_concat(ks_op_ctx *oc) {
    ks_tensor *o = oc->out[0];
    size_t es = ks_dtype_size(o->dtype);
    int axis;
    if (!ks__norm_axis(ks__attr_i(oc->node, "axis", 0), o->ndim, &axis))
        return ks__op_error(oc, KS_INTERNAL, "bad axis");
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= o->dims[i];
    for (int i = axis + 1; i < o->ndim; i++)
        inner *= o->dims[i];
    size_t out_row = (size_t)(o->dims[axis] * inner) * es;
    size_t off = 0;
    for (int k = 0; k < oc->n_in; k++) {
        const ks_tensor *t = oc->in[k];
        if (t->ndim != o->ndim)
            return ks__op_error(oc, KS_INTERNAL, "input %d rank changed", k);
        size_t row = (size_t)(t->dims[axis] * inner) * es;
        if (row == 0)
            continue;
        const char *s = (const char *)t->data;
        char *d = (char *)o->data + off;
        for (int64_t j = 0; j < outer; j++)
            memcpy(d + (size_t)j * out_row, s + (size_t)j * row, row);
        off += row;
    }
    if (off != out_row)
        return ks__op_error(oc, KS_INTERNAL, "input sizes do not add up to the output");
    return KS_OK;
}
