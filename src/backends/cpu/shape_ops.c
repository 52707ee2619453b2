/* Shape, Size (need only the input's dims: its data may be NULL),
 * Constant, ConstantOfShape. */
#include <string.h>

#include "backends/cpu/move_common.h"

ks_status ks__cpu_shape(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    int64_t r = x->ndim;
    if (r < 0)
        return ks__op_error(oc, KS_INTERNAL, "input rank is unknown");
    int64_t s = ks__attr_i(oc->node, "start", 0), e = ks__attr_i(oc->node, "end", r);
    if (s < 0)
        s += r;
    if (e < 0)
        e += r;
    s = s < 0 ? 0 : (s > r ? r : s);
    e = e < 0 ? 0 : (e > r ? r : e);
    int64_t n = e > s ? e - s : 0;
    if (o->ndim != 1 || o->dims[0] != n || o->dtype != KS_DTYPE_INT64)
        return ks__op_error(oc, KS_INTERNAL, "output shape differs from inferred");
    for (int64_t i = 0; i < n; i++) {
        if (x->dims[s + i] < 0)
            return ks__op_error(oc, KS_INTERNAL, "input dim %lld is unknown", (long long)(s + i));
        ((int64_t *)o->data)[i] = x->dims[s + i];
    }
    return KS_OK;
}

ks_status ks__cpu_size(ks_op_ctx *oc) {
    int64_t n = ks_tensor_numel(oc->in[0]);
    if (n < 0)
        return ks__op_error(oc, KS_INTERNAL, "input dims are unknown");
    *(int64_t *)oc->out[0]->data = n;
    return KS_OK;
}

ks_status ks__cpu_constant(ks_op_ctx *oc) {
    ks_tensor *o = oc->out[0];
    const ks_attr *a;
    int64_t n = ks_tensor_numel(o);
    if ((a = ks__attr_find(oc->node, "value")) != NULL) {
        if (ks_tensor_numel(&a->t) != n || a->t.dtype != o->dtype)
            return ks__op_error(oc, KS_INTERNAL, "output differs from the value attribute");
        if (n && !a->t.data)
            return ks__op_error(oc, KS_INVALID_MODEL, "value attribute has no data");
        if (n)
            memcpy(o->data, a->t.data, ks_tensor_nbytes(o));
    } else if ((a = ks__attr_find(oc->node, "value_float")) != NULL) {
        *(float *)o->data = a->f;
    } else if ((a = ks__attr_find(oc->node, "value_int")) != NULL) {
        *(int64_t *)o->data = a->i;
    } else if ((a = ks__attr_find(oc->node, "value_floats")) != NULL) {
        if (a->n != n)
            return ks__op_error(oc, KS_INTERNAL, "output differs from value_floats");
        if (n)
            memcpy(o->data, a->floats, (size_t)n * sizeof(float));
    } else if ((a = ks__attr_find(oc->node, "value_ints")) != NULL) {
        if (a->n != n)
            return ks__op_error(oc, KS_INTERNAL, "output differs from value_ints");
        if (n)
            memcpy(o->data, a->ints, (size_t)n * sizeof(int64_t));
    } else {
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR, "has no supported value attribute");
    }
    return KS_OK;
}

ks_status ks__cpu_constant_of_shape(ks_op_ctx *oc) {
    ks_tensor *o = oc->out[0];
    const ks_tensor *v = ks__attr_t(oc->node, "value");
    size_t es = ks_dtype_size(o->dtype);
    int64_t n = ks_tensor_numel(o);
    if (!v || !v->data)
        return KS_OK; /* float 0: output is zero-filled already */
    if (v->dtype != o->dtype)
        return ks__op_error(oc, KS_INTERNAL, "output dtype differs from the value attribute");
    char *d = (char *)o->data;
    for (int64_t i = 0; i < n; i++)
        memcpy(d + (size_t)i * es, v->data, es);
    return KS_OK;
}
