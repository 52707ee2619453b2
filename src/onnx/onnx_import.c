/* ONNX importer: ModelProto (protobuf-c, generated from the system
 * onnx.proto at build time) -> kestrel graph IR.
 *
 * Order of work: model checks (ir_version, opsets) -> initializers (as
 * constants) -> graph inputs (initializers listed as inputs are skipped) ->
 * Constant nodes (folded into constants) -> other nodes (op lookup, plugin
 * lookup, attribute conversion and type checks, normalization of old op
 * forms) -> graph outputs -> toposort (cycles, undefined values). Every
 * failure returns a status with a message naming the file and, where there
 * is one, the node, its op type and opset; nothing is left allocated. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "onnx/onnx_import.h"
#include "onnx/onnx_internal.h"

#define KS_ONNX_MIN_IR 3
#define KS_ONNX_MAX_IR 11
#define KS_ONNX_MIN_OPSET 1 /* 1..6 only for ops unchanged up to 7 (onnx_legacy.c) */
#define KS_ONNX_MAX_OPSET 21

/* Implemented by the plugin registry (src/plugins/); weak so the importer
 * links without it. Returns 1 and sets *plugin_out if a plugin registered
 * on ctx claims (domain, op_type, opset). */
int ks__plugin_lookup(ks_context *ctx, const char *domain, const char *op_type, int opset,
                      void **plugin_out) __attribute__((weak));
/* 1 if ks_plugin_prefer(ctx, op_type, 1) asks for a plugin over the
 * built-in op. */
int ks__plugin_preferred(ks_context *ctx, const char *op_type) __attribute__((weak));
/* Frees a plugin node from ks__plugin_lookup that never reached the graph. */
struct ks_plugin_node;
void ks__plugin_node_free(ks_context *ctx, struct ks_plugin_node *pn) __attribute__((weak));

/* ---------------------------------------------------------------- helpers */

static ks_status def_reserve(ks_onnx_imp *im, int id) {
    if (id < im->cap_def)
        return KS_OK;
    int nc = im->cap_def ? im->cap_def : 256;
    while (nc <= id)
        nc *= 2;
    uint8_t *nd = ks__realloc(im->ctx, im->def, (size_t)nc);
    if (!nd)
        return ks__oom(im->ctx, (size_t)nc, "importer bookkeeping");
    memset(nd + im->cap_def, 0, (size_t)(nc - im->cap_def));
    im->def = nd;
    im->cap_def = nc;
    return KS_OK;
}

static ks_status value_id(ks_onnx_imp *im, const char *name, int allow_existing, int *id) {
    KS_CHECK(ks__graph_add_value(im->g, name, allow_existing, id));
    return def_reserve(im, *id);
}

static void attr_free_tmp(ks_context *ctx, ks_attr *a) {
    ks__free(ctx, a->name);
    ks__free(ctx, a->s);
    ks__free(ctx, a->ints);
    ks__free(ctx, a->floats);
    for (int64_t i = 0; a->strings && i < a->n; i++)
        ks__free(ctx, a->strings[i]);
    ks__free(ctx, a->strings);
    ks__free(ctx, a->t.data);
    memset(a, 0, sizeof(*a));
}

static void pnode_free(ks_onnx_imp *im, ks_onnx_pnode *pn) {
    if (pn->plugin && ks__plugin_node_free) /* still ours: not handed to the graph */
        ks__plugin_node_free(im->ctx, pn->plugin);
    for (int i = 0; i < pn->n_attrs; i++)
        attr_free_tmp(im->ctx, &pn->attrs[i]);
    ks__free(im->ctx, pn->attrs);
    ks__free(im->ctx, pn->in);
    ks__free(im->ctx, pn->out);
    memset(pn, 0, sizeof(*pn));
}

ks_status ks__onnx_pnode_error(ks_onnx_imp *im, const ks_onnx_pnode *pn, ks_status st,
                               const char *fmt, ...) {
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ks_node tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.name = (char *)pn->name;
    tmp.op_type = (char *)pn->op_type;
    tmp.domain = (char *)pn->domain;
    tmp.opset = pn->opset;
    return ks__node_error(im->g, &tmp, st, "%s", msg);
}

int ks__onnx_pnode_attr(const ks_onnx_pnode *pn, const char *name) {
    for (int i = 0; i < pn->n_attrs; i++)
        if (!strcmp(pn->attrs[i].name, name))
            return i;
    return -1;
}

void ks__onnx_pnode_remove_attr(ks_onnx_imp *im, ks_onnx_pnode *pn, int idx) {
    if (idx < 0 || idx >= pn->n_attrs)
        return;
    attr_free_tmp(im->ctx, &pn->attrs[idx]);
    memmove(&pn->attrs[idx], &pn->attrs[idx + 1],
            (size_t)(pn->n_attrs - idx - 1) * sizeof(ks_attr));
    pn->n_attrs--;
}

static ks_status pnode_reserve_attrs(ks_onnx_imp *im, ks_onnx_pnode *pn, int n) {
    if (n <= pn->cap_attrs)
        return KS_OK;
    int nc = pn->cap_attrs ? pn->cap_attrs * 2 : 8;
    while (nc < n)
        nc *= 2;
    ks_attr *na = ks__realloc(im->ctx, pn->attrs, (size_t)nc * sizeof(ks_attr));
    if (!na)
        return ks__oom(im->ctx, (size_t)nc * sizeof(ks_attr), "attributes");
    pn->attrs = na;
    pn->cap_attrs = nc;
    return KS_OK;
}

ks_status ks__onnx_pnode_set_attr_s(ks_onnx_imp *im, ks_onnx_pnode *pn, const char *name,
                                    const char *value) {
    char *s = ks__strdup(im->ctx, value);
    if (!s)
        return ks__oom(im->ctx, strlen(value), "attribute");
    int i = ks__onnx_pnode_attr(pn, name);
    if (i < 0) {
        char *nm = ks__strdup(im->ctx, name);
        ks_status st = nm ? pnode_reserve_attrs(im, pn, pn->n_attrs + 1)
                          : ks__oom(im->ctx, strlen(name), "attribute");
        if (st != KS_OK) {
            ks__free(im->ctx, nm);
            ks__free(im->ctx, s);
            return st;
        }
        i = pn->n_attrs++;
        memset(&pn->attrs[i], 0, sizeof(ks_attr));
        pn->attrs[i].name = nm;
    } else {
        char *nm = pn->attrs[i].name;
        pn->attrs[i].name = NULL;
        attr_free_tmp(im->ctx, &pn->attrs[i]);
        pn->attrs[i].name = nm;
    }
    pn->attrs[i].type = KS_ATTR_STRING;
    pn->attrs[i].s = s;
    return KS_OK;
}

ks_status ks__onnx_pnode_set_input(ks_onnx_imp *im, ks_onnx_pnode *pn, int pos, int id) {
    if (pos < 0 || pos > 64)
        return ks__error(im->ctx, KS_INTERNAL, "bad input slot %d", pos);
    if (pos >= pn->cap_in) {
        int nc = pos + 4;
        int *ni = ks__realloc(im->ctx, pn->in, (size_t)nc * sizeof(int));
        if (!ni)
            return ks__oom(im->ctx, (size_t)nc * sizeof(int), "node inputs");
        pn->in = ni;
        pn->cap_in = nc;
    }
    while (pn->n_in <= pos)
        pn->in[pn->n_in++] = -1;
    pn->in[pos] = id;
    return KS_OK;
}

ks_status ks__onnx_add_const(ks_onnx_imp *im, const ks_onnx_pnode *pn, const char *what,
                             const ks_tensor *t, int *id) {
    /* Bounded parts, so the numeric suffix is never cut off (which would
     * make every candidate identical). */
    char name[512];
    snprintf(name, sizeof name, "%.300s/%.64s", pn->name, what);
    if (ks__graph_find_value(im->g, name) >= 0) {
        for (;;) {
            snprintf(name, sizeof name, "%.300s/%.64s_%d", pn->name, what, ++im->n_synth);
            if (ks__graph_find_value(im->g, name) < 0)
                break;
        }
    }
    KS_CHECK(ks__graph_add_const(im->g, name, t, id));
    KS_CHECK(def_reserve(im, *id));
    im->def[*id] = KS_DEF_CONST;
    return KS_OK;
}

ks_status ks__onnx_const_i64(ks_onnx_imp *im, const ks_onnx_pnode *pn, const char *what,
                             const int64_t *v, int64_t n, int scalar, int *id) {
    ks_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = KS_DTYPE_INT64;
    t.ndim = scalar ? 0 : 1;
    t.dims[0] = n;
    t.data = (void *)v;
    return ks__onnx_add_const(im, pn, what, &t, id);
}

ks_status ks__onnx_const_f32(ks_onnx_imp *im, const ks_onnx_pnode *pn, const char *what,
                             const float *v, int64_t n, int scalar, int *id) {
    ks_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = KS_DTYPE_FLOAT32;
    t.ndim = scalar ? 0 : 1;
    t.dims[0] = n;
    t.data = (void *)v;
    return ks__onnx_add_const(im, pn, what, &t, id);
}

static int is_default_domain(const char *d) {
    return !d || !*d || !strcmp(d, "ai.onnx");
}

static int domain_opset(const Onnx__ModelProto *mp, const char *domain) {
    int v = 0;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (!o)
            continue;
        const char *d = o->domain ? o->domain : "";
        int same = is_default_domain(domain) ? is_default_domain(d) : !strcmp(d, domain);
        if (same && o->has_version && o->version > v)
            v = o->version > INT_MAX ? INT_MAX : (int)o->version;
    }
    return v;
}

/* ---------------------------------------------------------------- value types */

static ks_status read_value_type(ks_onnx_imp *im, const Onnx__ValueInfoProto *vi, const char *kind,
                                 ks_value *v, int require_type) {
    const char *name = vi->name;
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET) {
        if (require_type)
            return ks__error(im->ctx, KS_INVALID_MODEL, "%s: %s '%s' has no type", im->source, kind,
                             name);
        return KS_OK;
    }
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return ks__error(im->ctx, KS_UNSUPPORTED_DTYPE,
                         "%s: %s '%s' is %s; only tensors are supported", im->source, kind, name,
                         tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE ? "a sequence"
                         : tp->value_case == ONNX__TYPE_PROTO__VALUE_MAP_TYPE    ? "a map"
                         : tp->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE
                             ? "an optional"
                             : "a sparse tensor");
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (!tt || !tt->has_elem_type || tt->elem_type == 0) {
        if (require_type)
            return ks__error(im->ctx, KS_INVALID_MODEL, "%s: %s '%s' has no element type",
                             im->source, kind, name);
        return KS_OK;
    }
    ks_dtype dt;
    if (!ks__onnx_dtype(tt->elem_type, &dt))
        return ks__error(im->ctx, KS_UNSUPPORTED_DTYPE,
                         "%s: %s '%s' has data type %s (%d), which is not supported", im->source,
                         kind, name, ks__onnx_dtype_name(tt->elem_type), (int)tt->elem_type);
    ks_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.ndim = -1;
    char *dim_names[KS_MAX_DIMS] = {0};
    if (tt->shape) {
        const Onnx__TensorShapeProto *sp = tt->shape;
        if (sp->n_dim > KS_MAX_DIMS)
            return ks__error(im->ctx, KS_UNSUPPORTED_SHAPE,
                             "%s: %s '%s' has rank %zu; the maximum is %d", im->source, kind, name,
                             sp->n_dim, KS_MAX_DIMS);
        t.ndim = (int32_t)sp->n_dim;
        int64_t prod = 1;
        for (size_t k = 0; k < sp->n_dim; k++) {
            const Onnx__TensorShapeProto__Dimension *d = sp->dim[k];
            t.dims[k] = -1;
            if (d && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
                if (d->dim_value < 0)
                    return ks__error(im->ctx, KS_INVALID_MODEL,
                                     "%s: %s '%s': dimension %zu is negative (%lld)", im->source,
                                     kind, name, k, (long long)d->dim_value);
                t.dims[k] = d->dim_value;
                if (!ks__mul_i64(prod, d->dim_value, &prod))
                    return ks__error(im->ctx, KS_UNSUPPORTED_SHAPE,
                                     "%s: %s '%s': the element count overflows (dimension %zu = "
                                     "%lld)",
                                     im->source, kind, name, k, (long long)d->dim_value);
            } else if (d && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                       d->dim_param && *d->dim_param) {
                dim_names[k] = d->dim_param;
            }
        }
    }
    /* Commit (strings copied; the graph frees dim_names). */
    for (int k = 0; k < KS_MAX_DIMS; k++) {
        ks__free(im->ctx, v->dim_names[k]);
        v->dim_names[k] = NULL;
    }
    for (int k = 0; k < KS_MAX_DIMS; k++) {
        if (!dim_names[k])
            continue;
        v->dim_names[k] = ks__strdup(im->ctx, dim_names[k]);
        if (!v->dim_names[k])
            return ks__oom(im->ctx, strlen(dim_names[k]), "dimension name");
    }
    v->t.dtype = t.dtype;
    v->t.ndim = t.ndim;
    memcpy(v->t.dims, t.dims, sizeof t.dims);
    return KS_OK;
}

/* ---------------------------------------------------------------- attributes */

static const char *attr_type_name(int t) {
    switch (t) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        return "FLOAT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        return "INT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        return "STRING";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        return "TENSOR";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
        return "GRAPH";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR:
        return "SPARSE_TENSOR";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO:
        return "TYPE_PROTO";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        return "FLOATS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        return "INTS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        return "STRINGS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS:
        return "TENSORS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
        return "GRAPHS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS:
        return "SPARSE_TENSORS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS:
        return "TYPE_PROTOS";
    default:
        return "UNDEFINED";
    }
}

/* IR version 1 files carry no attribute type: infer it from the field set. */
static int attr_type_of(const Onnx__AttributeProto *ap) {
    if (ap->has_type && ap->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return ap->type;
    if (ap->has_f)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (ap->has_i)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (ap->has_s)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (ap->t)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (ap->g)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (ap->n_floats)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (ap->n_ints)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (ap->n_strings)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    if (ap->n_tensors)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS;
    if (ap->n_graphs)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

static char *dup_bytes(ks_context *ctx, const ProtobufCBinaryData *b) {
    char *s = ks__alloc(ctx, b->len + 1);
    if (s && b->len)
        memcpy(s, b->data, b->len);
    return s;
}

/* Copies a FLOATS / INTS attribute list into an owned array (*dst, *n). */
static ks_status copy_attr_list(ks_onnx_imp *im, const ks_onnx_pnode *pn, const char *an,
                                const void *src, size_t count, size_t elem, void **dst,
                                int64_t *n) {
    if (count > INT32_MAX)
        return ks__onnx_pnode_error(im, pn, KS_UNSUPPORTED_ATTR, "attribute '%s' too long", an);
    *dst = ks__alloc_array(im->ctx, count ? count : 1, elem);
    if (!*dst)
        return ks__oom(im->ctx, count * elem, "attribute list");
    if (count)
        memcpy(*dst, src, count * elem);
    *n = (int64_t)count;
    return KS_OK;
}

/* Converts one attribute into *a (owned copies). */
static ks_status convert_attr(ks_onnx_imp *im, const ks_onnx_pnode *pn,
                              const Onnx__AttributeProto *ap, ks_attr *a) {
    ks_context *ctx = im->ctx;
    memset(a, 0, sizeof(*a));
    if (!ap || !ap->name || !*ap->name)
        return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL, "attribute without a name");
    const char *an = ap->name;
    if (ap->ref_attr_name && *ap->ref_attr_name)
        return ks__onnx_pnode_error(im, pn, KS_UNSUPPORTED_ATTR,
                                    "attribute '%s' references a function attribute", an);
    int type = attr_type_of(ap);
    a->name = ks__strdup(ctx, an);
    if (!a->name)
        return ks__oom(ctx, strlen(an), "attribute name");
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        a->type = KS_ATTR_FLOAT;
        a->f = ap->f;
        return KS_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        a->type = KS_ATTR_INT;
        a->i = ap->i;
        return KS_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        a->type = KS_ATTR_STRING;
        a->s = dup_bytes(ctx, &ap->s);
        return a->s ? KS_OK : ks__oom(ctx, ap->s.len, "attribute string");
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        a->type = KS_ATTR_TENSOR;
        if (!ap->t)
            return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL,
                                        "TENSOR attribute '%s' has no tensor", an);
        char what[256];
        snprintf(what, sizeof what, "node '%s' attribute '%s'", pn->name, an);
        return ks__onnx_tensor_convert(ctx, ap->t, im->source, what, im->ext_dir, &a->t);
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        a->type = KS_ATTR_FLOATS;
        return copy_attr_list(im, pn, an, ap->floats, ap->n_floats, sizeof(float),
                              (void **)&a->floats, &a->n);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        a->type = KS_ATTR_INTS;
        return copy_attr_list(im, pn, an, ap->ints, ap->n_ints, sizeof(int64_t),
                              (void **)&a->ints, &a->n);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        a->type = KS_ATTR_STRINGS;
        if (ap->n_strings > INT32_MAX)
            return ks__onnx_pnode_error(im, pn, KS_UNSUPPORTED_ATTR, "attribute '%s' too long", an);
        a->strings = ks__alloc_array(ctx, ap->n_strings ? ap->n_strings : 1, sizeof(char *));
        if (!a->strings)
            return ks__oom(ctx, ap->n_strings * sizeof(char *), "attribute strings");
        for (size_t i = 0; i < ap->n_strings; i++) {
            a->n = (int64_t)i; /* so a partial list is freed */
            if (!(a->strings[i] = dup_bytes(ctx, &ap->strings[i])))
                return ks__oom(ctx, ap->strings[i].len, "attribute string");
        }
        a->n = (int64_t)ap->n_strings;
        return KS_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
        return ks__onnx_pnode_error(im, pn, KS_UNSUPPORTED_ATTR,
                                    "attribute '%s' is a subgraph (%s): control flow is not "
                                    "supported",
                                    an, attr_type_name(type));
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED:
        return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL, "attribute '%s' has no value", an);
    default:
        return ks__onnx_pnode_error(im, pn, KS_UNSUPPORTED_ATTR,
                                    "attribute '%s' has type %s, which is not supported", an,
                                    attr_type_name(type));
    }
}

static ks_status convert_attrs(ks_onnx_imp *im, ks_onnx_pnode *pn, const Onnx__NodeProto *np) {
    if (np->n_attribute > 4096)
        return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL, "%zu attributes", np->n_attribute);
    KS_CHECK(pnode_reserve_attrs(im, pn, (int)np->n_attribute + 4));
    for (size_t i = 0; i < np->n_attribute; i++) {
        ks_attr *a = &pn->attrs[pn->n_attrs];
        ks_status st = convert_attr(im, pn, np->attribute[i], a);
        pn->n_attrs++; /* freed with the node even on failure */
        if (st != KS_OK)
            return st;
        for (int k = 0; k < pn->n_attrs - 1; k++)
            if (!strcmp(pn->attrs[k].name, a->name))
                return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL,
                                            "attribute '%s' appears twice", a->name);
    }
    return KS_OK;
}

/* ---------------------------------------------------------------- nodes */

static const char *node_name(const Onnx__NodeProto *np, size_t idx, char *buf, size_t n) {
    if (np->name && *np->name)
        return np->name;
    snprintf(buf, n, "%s_%zu", np->op_type && *np->op_type ? np->op_type : "node", idx);
    return buf;
}

static ks_status pnode_begin(ks_onnx_imp *im, const Onnx__NodeProto *np, size_t idx, char *namebuf,
                             size_t namebuf_n, ks_onnx_pnode *pn) {
    memset(pn, 0, sizeof(*pn));
    pn->name = node_name(np, idx, namebuf, namebuf_n);
    pn->op_type = np->op_type && *np->op_type ? np->op_type : "";
    pn->domain = is_default_domain(np->domain) ? "" : np->domain;
    pn->opset = is_default_domain(np->domain) ? im->opset : domain_opset(im->model, np->domain);
    pn->op = KS_OP_COUNT;
    if (!*pn->op_type)
        return ks__error(im->ctx, KS_INVALID_MODEL, "%s: node %zu ('%s') has no op_type",
                         im->source, idx, pn->name);
    if (is_default_domain(np->domain) && im->opset == 0)
        return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL,
                                    "the model imports no opset for the default ONNX domain");
    return KS_OK;
}

/* Constant node -> a constant value named after its output. */
static ks_status import_constant(ks_onnx_imp *im, const Onnx__NodeProto *np, size_t idx) {
    char namebuf[96];
    ks_onnx_pnode pn;
    ks_status st = pnode_begin(im, np, idx, namebuf, sizeof namebuf, &pn);
    if (st != KS_OK)
        return st;
    ks_context *ctx = im->ctx;
    ks_tensor t;
    memset(&t, 0, sizeof t);
    if (np->n_output != 1 || !np->output[0] || !*np->output[0]) {
        st = ks__onnx_pnode_error(im, &pn, KS_INVALID_MODEL, "a Constant needs exactly one output");
        goto done;
    }
    if (np->n_input != 0) {
        st = ks__onnx_pnode_error(im, &pn, KS_INVALID_MODEL, "a Constant takes no inputs");
        goto done;
    }
    if ((st = convert_attrs(im, &pn, np)) != KS_OK)
        goto done;
    int found = 0;
    for (int i = 0; i < pn.n_attrs; i++) {
        ks_attr *a = &pn.attrs[i];
        int kind = 0; /* 1 tensor 2 float 3 floats 4 int 5 ints */
        ks_attr_type want = KS_ATTR_UNDEFINED;
        if (!strcmp(a->name, "value")) {
            kind = 1;
            want = KS_ATTR_TENSOR;
        } else if (!strcmp(a->name, "value_float")) {
            kind = 2;
            want = KS_ATTR_FLOAT;
        } else if (!strcmp(a->name, "value_floats")) {
            kind = 3;
            want = KS_ATTR_FLOATS;
        } else if (!strcmp(a->name, "value_int")) {
            kind = 4;
            want = KS_ATTR_INT;
        } else if (!strcmp(a->name, "value_ints")) {
            kind = 5;
            want = KS_ATTR_INTS;
        } else if (!strcmp(a->name, "value_string") || !strcmp(a->name, "value_strings") ||
                   !strcmp(a->name, "sparse_value")) {
            st = ks__onnx_pnode_error(im, &pn, KS_UNSUPPORTED_ATTR,
                                      "attribute '%s' is not supported (string or sparse "
                                      "constants)",
                                      a->name);
            goto done;
        } else {
            continue;
        }
        if (found++) {
            st = ks__onnx_pnode_error(im, &pn, KS_INVALID_MODEL,
                                      "a Constant must have exactly one value attribute");
            goto done;
        }
        if (a->type != want) {
            st = ks__onnx_pnode_error(im, &pn, KS_INVALID_MODEL,
                                      "attribute '%s' has the wrong type", a->name);
            goto done;
        }
        memset(&t, 0, sizeof t);
        switch (kind) {
        case 1:
            t = a->t;
            a->t.data = NULL; /* moved */
            break;
        case 2:
        case 4:
            t.dtype = kind == 2 ? KS_DTYPE_FLOAT32 : KS_DTYPE_INT64;
            t.ndim = 0;
            t.data = ks__alloc(ctx, 8);
            if (!t.data) {
                st = ks__oom(ctx, 8, "constant");
                goto done;
            }
            if (kind == 2)
                *(float *)t.data = a->f;
            else
                *(int64_t *)t.data = a->i;
            break;
        case 3:
        case 5:
            t.dtype = kind == 3 ? KS_DTYPE_FLOAT32 : KS_DTYPE_INT64;
            t.ndim = 1;
            t.dims[0] = a->n;
            if (kind == 3) {
                t.data = a->floats;
                a->floats = NULL;
            } else {
                t.data = a->ints;
                a->ints = NULL;
            }
            break;
        }
    }
    if (!found) {
        st =
            ks__onnx_pnode_error(im, &pn, KS_INVALID_MODEL, "a Constant without a value attribute");
        goto done;
    }
    const char *out_name = np->output[0];
    if (ks__graph_find_value(im->g, out_name) >= 0) {
        st = ks__onnx_pnode_error(im, &pn, KS_INVALID_MODEL,
                                  "output '%s' is already defined (initializer, graph input or "
                                  "another Constant)",
                                  out_name);
        goto done;
    }
    int id;
    if ((st = ks__graph_add_const(im->g, out_name, &t, &id)) != KS_OK)
        goto done;
    if ((st = def_reserve(im, id)) != KS_OK)
        goto done;
    im->def[id] = KS_DEF_CONST;
done:
    ks__free(ctx, t.data);
    pnode_free(im, &pn);
    return st;
}

static ks_status import_node(ks_onnx_imp *im, const Onnx__NodeProto *np, size_t idx) {
    char namebuf[96];
    ks_onnx_pnode pn;
    ks_status st = pnode_begin(im, np, idx, namebuf, sizeof namebuf, &pn);
    if (st != KS_OK)
        return st;
    ks_context *ctx = im->ctx;
    int is_default = !*pn.domain;

    /* Which op. */
    if (is_default) {
        if (!strcmp(pn.op_type, "Upsample"))
            pn.op = KS_OP_RESIZE; /* rewritten by ks__onnx_normalize */
        else
            pn.op = ks__op_from_name(pn.op_type);
    }
    int prefer_plugin = is_default && pn.op != KS_OP_COUNT && ks__plugin_preferred &&
                        ks__plugin_preferred(ctx, pn.op_type);
    if (pn.op == KS_OP_COUNT || prefer_plugin) {
        void *plugin = NULL;
        if (ks__plugin_lookup &&
            ks__plugin_lookup(ctx, pn.domain, pn.op_type, pn.opset, &plugin) == 1) {
            pn.op = KS_OP_PLUGIN;
            pn.plugin = plugin;
        } else if (!prefer_plugin) {
            st = ks__onnx_pnode_error(im, &pn, KS_UNSUPPORTED_OP, "unsupported operator%s%s%s",
                                      is_default ? "" : " (domain '", is_default ? "" : pn.domain,
                                      is_default ? "" : "')");
            goto done;
        }
    }

    /* Inputs and outputs. */
    if (np->n_input > 65536 || np->n_output > 65536) {
        st = ks__onnx_pnode_error(im, &pn, KS_INVALID_MODEL, "too many inputs/outputs");
        goto done;
    }
    pn.cap_in = (int)np->n_input + 4;
    pn.in = ks__alloc_array(ctx, (size_t)pn.cap_in, sizeof(int));
    pn.out = ks__alloc_array(ctx, np->n_output ? np->n_output : 1, sizeof(int));
    if (!pn.in || !pn.out) {
        st = ks__oom(ctx, 0, "node inputs");
        goto done;
    }
    for (size_t i = 0; i < np->n_input; i++) {
        const char *nm = np->input[i];
        int id = -1;
        if (nm && *nm && (st = value_id(im, nm, 1, &id)) != KS_OK)
            goto done;
        pn.in[pn.n_in++] = id;
    }
    for (size_t i = 0; i < np->n_output; i++) {
        const char *nm = np->output[i];
        int id = -1;
        if (nm && *nm) {
            if ((st = value_id(im, nm, 1, &id)) != KS_OK)
                goto done;
            if (im->def[id] != KS_DEF_NONE) {
                static const char *const by[] = {"", "an initializer or Constant", "a graph input",
                                                 "another node"};
                st = ks__onnx_pnode_error(im, &pn, KS_INVALID_MODEL,
                                          "output '%s' is already defined by %s", nm,
                                          by[im->def[id]]);
                goto done;
            }
            im->def[id] = KS_DEF_NODE;
        }
        pn.out[pn.n_out++] = id;
    }

    if ((st = convert_attrs(im, &pn, np)) != KS_OK)
        goto done;
    if (pn.op != KS_OP_PLUGIN) {
        if ((st = ks__onnx_check_old_opset(im, &pn)) != KS_OK)
            goto done;
        if ((st = ks__onnx_check_attr_types(im, &pn)) != KS_OK)
            goto done;
        if ((st = ks__onnx_normalize(im, &pn)) != KS_OK)
            goto done;
    }

    int nidx;
    st = ks__graph_add_node(im->g, pn.name, pn.op_type, pn.domain, pn.opset, pn.n_in, pn.in,
                            pn.n_out, pn.out, &nidx);
    if (st != KS_OK)
        goto done;
    im->g->nodes[nidx].op = pn.op;
    im->g->nodes[nidx].plugin = pn.plugin; /* the graph owns it from here */
    pn.plugin = NULL;
    for (int i = 0; i < pn.n_attrs && st == KS_OK; i++)
        st = ks__node_add_attr(im->g, nidx, &pn.attrs[i]);
done:
    pnode_free(im, &pn);
    return st;
}

/* ---------------------------------------------------------------- model */

static ks_status import_model(ks_onnx_imp *im, const Onnx__ModelProto *mp) {
    ks_context *ctx = im->ctx;
    if (!mp->has_ir_version)
        return ks__error(ctx, KS_INVALID_MODEL,
                         "%s: no ir_version: not an ONNX model (or a corrupt one)", im->source);
    if (mp->ir_version < KS_ONNX_MIN_IR || mp->ir_version > KS_ONNX_MAX_IR)
        return ks__error(ctx, KS_VERSION_MISMATCH,
                         "%s: ONNX ir_version %lld is not supported (%d..%d)", im->source,
                         (long long)mp->ir_version, KS_ONNX_MIN_IR, KS_ONNX_MAX_IR);
    const Onnx__GraphProto *gp = mp->graph;
    if (!gp)
        return ks__error(ctx, KS_INVALID_MODEL, "%s: the model has no graph", im->source);
    int has_default = 0;
    for (size_t i = 0; i < mp->n_opset_import; i++)
        if (mp->opset_import[i] && is_default_domain(mp->opset_import[i]->domain))
            has_default = 1;
    im->opset = domain_opset(mp, "");
    if (has_default && (im->opset < KS_ONNX_MIN_OPSET || im->opset > KS_ONNX_MAX_OPSET))
        return ks__error(ctx, KS_VERSION_MISMATCH,
                         "%s: default-domain opset %d is not supported (7..%d)", im->source,
                         im->opset, KS_ONNX_MAX_OPSET);
    if (gp->n_node > INT_MAX / 4 || gp->n_initializer > INT_MAX / 4 || gp->n_input > INT_MAX / 4 ||
        gp->n_output > INT_MAX / 4)
        return ks__error(ctx, KS_UNSUPPORTED_SHAPE, "%s: graph too large", im->source);
    if (gp->n_sparse_initializer)
        return ks__error(ctx, KS_UNSUPPORTED_DTYPE, "%s: sparse initializers are not supported",
                         im->source);

    KS_CHECK(ks__graph_create(ctx, im->source, &im->g));
    ks_graph *g = im->g;
    g->opset = im->opset;
    g->ir_version = (int)mp->ir_version;
    if (mp->producer_name && *mp->producer_name) {
        char *p = ks__strdup(ctx, mp->producer_name);
        if (!p)
            return ks__oom(ctx, strlen(mp->producer_name), "producer name");
        ks__free(ctx, g->producer);
        g->producer = p;
    }

    /* Initializers. */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp || !tp->name || !*tp->name)
            return ks__error(ctx, KS_INVALID_MODEL, "%s: initializer %zu has no name", im->source,
                             i);
        if (ks__graph_find_value(g, tp->name) >= 0)
            return ks__error(ctx, KS_INVALID_MODEL, "%s: initializer '%s' is defined twice",
                             im->source, tp->name);
        char what[300];
        snprintf(what, sizeof what, "initializer '%s'", tp->name);
        ks_tensor t;
        KS_CHECK(ks__onnx_tensor_convert(ctx, tp, im->source, what, im->ext_dir, &t));
        int id;
        ks_status st = ks__graph_add_const(g, tp->name, &t, &id);
        ks__free(ctx, t.data);
        KS_CHECK(st);
        KS_CHECK(def_reserve(im, id));
        im->def[id] = KS_DEF_CONST;
    }

    /* Graph inputs (initializers listed as inputs are not runtime inputs). */
    g->inputs = ks__alloc_array(ctx, gp->n_input ? gp->n_input : 1, sizeof(int));
    if (!g->inputs)
        return ks__oom(ctx, gp->n_input * sizeof(int), "graph inputs");
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi || !vi->name || !*vi->name)
            return ks__error(ctx, KS_INVALID_MODEL, "%s: graph input %zu has no name", im->source,
                             i);
        int ex = ks__graph_find_value(g, vi->name);
        if (ex >= 0 && im->def[ex] == KS_DEF_CONST)
            continue;
        if (ex >= 0)
            return ks__error(ctx, KS_INVALID_MODEL, "%s: graph input '%s' is listed twice",
                             im->source, vi->name);
        int id;
        KS_CHECK(value_id(im, vi->name, 0, &id));
        im->def[id] = KS_DEF_INPUT;
        g->inputs[g->n_inputs++] = id;
        KS_CHECK(read_value_type(im, vi, "graph input", &g->values[id], 1));
        if (g->values[id].t.ndim < 0)
            ks__log(ctx, KS_LOG_DEBUG, "%s: graph input '%s' has no shape", im->source, vi->name);
    }

    /* Constant nodes first, so later nodes may reference them in any order. */
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        if (!np)
            return ks__error(ctx, KS_INVALID_MODEL, "%s: node %zu is empty", im->source, i);
        if (is_default_domain(np->domain) && np->op_type && !strcmp(np->op_type, "Constant"))
            KS_CHECK(import_constant(im, np, i));
    }
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        if (is_default_domain(np->domain) && np->op_type && !strcmp(np->op_type, "Constant"))
            continue;
        KS_CHECK(import_node(im, np, i));
    }

    /* Graph outputs. */
    if (gp->n_output == 0)
        return ks__error(ctx, KS_INVALID_MODEL, "%s: the graph has no outputs", im->source);
    g->outputs = ks__alloc_array(ctx, gp->n_output, sizeof(int));
    if (!g->outputs)
        return ks__oom(ctx, gp->n_output * sizeof(int), "graph outputs");
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        if (!vi || !vi->name || !*vi->name)
            return ks__error(ctx, KS_INVALID_MODEL, "%s: graph output %zu has no name", im->source,
                             i);
        int id = ks__graph_find_value(g, vi->name);
        if (id < 0 || im->def[id] == KS_DEF_NONE)
            return ks__error(ctx, KS_INVALID_MODEL,
                             "%s: graph output '%s' is not produced by any node, input or "
                             "initializer",
                             im->source, vi->name);
        for (int k = 0; k < g->n_outputs; k++)
            if (g->outputs[k] == id)
                return ks__error(ctx, KS_INVALID_MODEL, "%s: graph output '%s' is listed twice",
                                 im->source, vi->name);
        g->outputs[g->n_outputs++] = id;
        if (im->def[id] == KS_DEF_NODE)
            KS_CHECK(read_value_type(im, vi, "graph output", &g->values[id], 0));
    }
    return ks__graph_toposort(g);
}

ks_status ks__onnx_import(ks_context *ctx, const void *data, size_t n_bytes, const char *source,
                          const char *external_data_dir, ks_graph **out) {
    if (!ctx || !out || (!data && n_bytes))
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks__onnx_import: NULL argument");
    *out = NULL;
    if (!source)
        source = "<memory>";
    if (n_bytes == 0)
        return ks__error(ctx, KS_CORRUPT_FILE, "%s: empty file", source);
    Onnx__ModelProto *mp = (Onnx__ModelProto *)ks__pb_unpack(ctx, &onnx__model_proto__descriptor,
                                                             data, n_bytes, source, "ONNX model");
    if (!mp)
        return ks_context_last_status(ctx);
    ks_onnx_imp im;
    memset(&im, 0, sizeof im);
    im.ctx = ctx;
    im.source = source;
    im.ext_dir = external_data_dir;
    im.model = mp;
    ks_status st = import_model(&im, mp);
    ks__pb_free(ctx, &mp->base);
    ks__free(ctx, im.def);
    if (st != KS_OK) {
        ks__graph_destroy(im.g);
        return st;
    }
    *out = im.g;
    return KS_OK;
}
