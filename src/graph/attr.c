/* Attribute accessors. */
#include <string.h>

#include "graph/ir.h"

const ks_attr *ks__attr_find(const ks_node *n, const char *name) {
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t ks__attr_i(const ks_node *n, const char *name, int64_t def) {
    const ks_attr *a = ks__attr_find(n, name);
    if (!a)
        return def;
    if (a->type == KS_ATTR_INT)
        return a->i;
    if (a->type == KS_ATTR_FLOAT)
        return (int64_t)a->f;
    return def;
}

float ks__attr_f(const ks_node *n, const char *name, float def) {
    const ks_attr *a = ks__attr_find(n, name);
    if (!a)
        return def;
    if (a->type == KS_ATTR_FLOAT)
        return a->f;
    if (a->type == KS_ATTR_INT)
        return (float)a->i;
    return def;
}

const char *ks__attr_s(const ks_node *n, const char *name, const char *def) {
    const ks_attr *a = ks__attr_find(n, name);
    return (a && a->type == KS_ATTR_STRING && a->s) ? a->s : def;
}

int64_t ks__attr_ints(const ks_node *n, const char *name, const int64_t **vals) {
    const ks_attr *a = ks__attr_find(n, name);
    if (!a || a->type != KS_ATTR_INTS) {
        if (vals)
            *vals = NULL;
        return -1;
    }
    if (vals)
        *vals = a->ints;
    return a->n;
}

int64_t ks__attr_floats(const ks_node *n, const char *name, const float **vals) {
    const ks_attr *a = ks__attr_find(n, name);
    if (!a || a->type != KS_ATTR_FLOATS) {
        if (vals)
            *vals = NULL;
        return -1;
    }
    if (vals)
        *vals = a->floats;
    return a->n;
}

const ks_tensor *ks__attr_t(const ks_node *n, const char *name) {
    const ks_attr *a = ks__attr_find(n, name);
    return (a && a->type == KS_ATTR_TENSOR) ? &a->t : NULL;
}
