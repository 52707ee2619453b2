/* Test helper: builds ONNX models in memory from the protobuf-c structs
 * (generated from the system onnx.proto) and packs them to bytes.
 * Everything is malloc'ed into the builder's arena and freed by tb_free.
 *
 *   tb_model tb; tb_init(&tb, 8, 13);
 *   tb_input(&tb, "x", TB_FLOAT, 2, (int64_t[]){1, -1});   // -1 -> dim_param "N"
 *   Onnx__NodeProto *n = tb_node(&tb, "Relu", "relu1", "x", "y");
 *   tb_output(&tb, "y", TB_FLOAT, 0, NULL);                 // ndim 0 + NULL: no shape
 *   size_t len; uint8_t *buf = tb_pack(&tb, &len); ... free(buf); tb_free(&tb);
 */
#ifndef KS_TEST_ONNX_BUILD_H
#define KS_TEST_ONNX_BUILD_H
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.pb-c.h"

enum {
    TB_FLOAT = 1,
    TB_UINT8 = 2,
    TB_INT8 = 3,
    TB_INT32 = 6,
    TB_INT64 = 7,
    TB_STRING = 8,
    TB_BOOL = 9,
    TB_FLOAT16 = 10,
    TB_DOUBLE = 11,
    TB_BFLOAT16 = 16
};

#define TB_MAX 256

typedef struct tb_model {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto *opsets[8];
    Onnx__NodeProto *nodes[TB_MAX];
    Onnx__TensorProto *inits[TB_MAX];
    Onnx__ValueInfoProto *inputs[TB_MAX];
    Onnx__ValueInfoProto *outputs[TB_MAX];
    void **arena;
    size_t n_arena, cap_arena;
} tb_model;

static inline void *tb_alloc(tb_model *tb, size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (tb->n_arena == tb->cap_arena) {
        tb->cap_arena = tb->cap_arena ? tb->cap_arena * 2 : 64;
        tb->arena = realloc(tb->arena, tb->cap_arena * sizeof(void *));
    }
    tb->arena[tb->n_arena++] = p;
    return p;
}

static inline char *tb_str(tb_model *tb, const char *s) {
    char *d = tb_alloc(tb, strlen(s) + 1);
    strcpy(d, s);
    return d;
}

static inline void tb_add_opset(tb_model *tb, const char *domain, int64_t version) {
    static const Onnx__OperatorSetIdProto init = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *o = tb_alloc(tb, sizeof *o);
    *o = init;
    o->domain = tb_str(tb, domain);
    o->has_version = 1;
    o->version = version;
    tb->opsets[tb->model.n_opset_import++] = o;
}

static inline void tb_init(tb_model *tb, int64_t ir_version, int64_t opset) {
    static const Onnx__ModelProto mi = ONNX__MODEL_PROTO__INIT;
    static const Onnx__GraphProto gi = ONNX__GRAPH_PROTO__INIT;
    memset(tb, 0, sizeof *tb);
    tb->model = mi;
    tb->graph = gi;
    tb->model.has_ir_version = ir_version >= 0;
    tb->model.ir_version = ir_version;
    tb->model.producer_name = "kestrel-test";
    tb->model.graph = &tb->graph;
    tb->model.opset_import = tb->opsets;
    if (opset > 0)
        tb_add_opset(tb, "", opset);
    tb->graph.name = "g";
    tb->graph.node = tb->nodes;
    tb->graph.initializer = tb->inits;
    tb->graph.input = tb->inputs;
    tb->graph.output = tb->outputs;
}

/* Splits "a,b,,c" into strings ("" stays an empty name = omitted input). */
static inline size_t tb_split(tb_model *tb, const char *list, char ***out) {
    if (!list || !*list) {
        *out = NULL;
        return 0;
    }
    size_t n = 1;
    for (const char *c = list; *c; c++)
        n += *c == ',';
    char **v = tb_alloc(tb, n * sizeof(char *));
    const char *s = list;
    for (size_t i = 0; i < n; i++) {
        const char *e = strchr(s, ',');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        v[i] = tb_alloc(tb, l + 1);
        memcpy(v[i], s, l);
        s = e ? e + 1 : s + l;
    }
    *out = v;
    return n;
}

static inline Onnx__NodeProto *tb_node(tb_model *tb, const char *op, const char *name,
                                       const char *inputs, const char *outputs) {
    static const Onnx__NodeProto ni = ONNX__NODE_PROTO__INIT;
    Onnx__NodeProto *n = tb_alloc(tb, sizeof *n);
    *n = ni;
    n->op_type = op ? tb_str(tb, op) : NULL;
    n->name = name ? tb_str(tb, name) : NULL;
    n->n_input = tb_split(tb, inputs, &n->input);
    n->n_output = tb_split(tb, outputs, &n->output);
    n->attribute = tb_alloc(tb, 32 * sizeof(Onnx__AttributeProto *));
    tb->nodes[tb->graph.n_node++] = n;
    return n;
}

static inline Onnx__AttributeProto *tb_attr(tb_model *tb, Onnx__NodeProto *n, const char *name,
                                            int type) {
    static const Onnx__AttributeProto ai = ONNX__ATTRIBUTE_PROTO__INIT;
    Onnx__AttributeProto *a = tb_alloc(tb, sizeof *a);
    *a = ai;
    a->name = tb_str(tb, name);
    a->has_type = 1;
    a->type = (Onnx__AttributeProto__AttributeType)type;
    n->attribute[n->n_attribute++] = a;
    return a;
}
static inline void tb_attr_i(tb_model *tb, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *a = tb_attr(tb, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}
static inline void tb_attr_f(tb_model *tb, Onnx__NodeProto *n, const char *name, float v) {
    Onnx__AttributeProto *a = tb_attr(tb, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}
static inline void tb_attr_s(tb_model *tb, Onnx__NodeProto *n, const char *name, const char *v) {
    Onnx__AttributeProto *a = tb_attr(tb, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.data = (uint8_t *)tb_str(tb, v);
    a->s.len = strlen(v);
}
static inline void tb_attr_ints(tb_model *tb, Onnx__NodeProto *n, const char *name, size_t cnt,
                                const int64_t *v) {
    Onnx__AttributeProto *a = tb_attr(tb, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = cnt;
    a->ints = tb_alloc(tb, cnt * sizeof(int64_t));
    memcpy(a->ints, v, cnt * sizeof(int64_t));
}
static inline void tb_attr_floats(tb_model *tb, Onnx__NodeProto *n, const char *name, size_t cnt,
                                  const float *v) {
    Onnx__AttributeProto *a = tb_attr(tb, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    a->n_floats = cnt;
    a->floats = tb_alloc(tb, cnt * sizeof(float));
    memcpy(a->floats, v, cnt * sizeof(float));
}

/* Tensor with raw_data (data may be NULL: zero bytes of the given length). */
static inline Onnx__TensorProto *tb_tensor_raw(tb_model *tb, const char *name, int dtype, int ndim,
                                               const int64_t *dims, const void *data,
                                               size_t n_bytes) {
    static const Onnx__TensorProto ti = ONNX__TENSOR_PROTO__INIT;
    Onnx__TensorProto *t = tb_alloc(tb, sizeof *t);
    *t = ti;
    t->name = name ? tb_str(tb, name) : NULL;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)ndim;
    t->dims = tb_alloc(tb, (size_t)(ndim ? ndim : 1) * sizeof(int64_t));
    if (ndim)
        memcpy(t->dims, dims, (size_t)ndim * sizeof(int64_t));
    t->has_raw_data = 1;
    t->raw_data.len = n_bytes;
    t->raw_data.data = tb_alloc(tb, n_bytes);
    if (data && n_bytes)
        memcpy(t->raw_data.data, data, n_bytes);
    return t;
}

/* Tensor without data (fill a typed field yourself). */
static inline Onnx__TensorProto *tb_tensor_empty(tb_model *tb, const char *name, int dtype,
                                                 int ndim, const int64_t *dims) {
    Onnx__TensorProto *t = tb_tensor_raw(tb, name, dtype, ndim, dims, NULL, 0);
    t->has_raw_data = 0;
    return t;
}

static inline void tb_attr_t(tb_model *tb, Onnx__NodeProto *n, const char *name,
                             Onnx__TensorProto *t) {
    Onnx__AttributeProto *a = tb_attr(tb, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    a->t = t;
}

static inline Onnx__TensorProto *tb_init_f(tb_model *tb, const char *name, int ndim,
                                           const int64_t *dims, const float *v) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)dims[i];
    Onnx__TensorProto *t = tb_tensor_raw(tb, name, TB_FLOAT, ndim, dims, v, n * 4);
    tb->inits[tb->graph.n_initializer++] = t;
    return t;
}
static inline Onnx__TensorProto *tb_init_i64(tb_model *tb, const char *name, int ndim,
                                             const int64_t *dims, const int64_t *v) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)dims[i];
    Onnx__TensorProto *t = tb_tensor_raw(tb, name, TB_INT64, ndim, dims, v, n * 8);
    tb->inits[tb->graph.n_initializer++] = t;
    return t;
}
static inline void tb_add_init(tb_model *tb, Onnx__TensorProto *t) {
    tb->inits[tb->graph.n_initializer++] = t;
}

/* Value info; dims -1 become dim_param "N<k>"; ndim < 0 = no shape. */
static inline Onnx__ValueInfoProto *tb_value(tb_model *tb, const char *name, int dtype, int ndim,
                                             const int64_t *dims) {
    static const Onnx__ValueInfoProto vi0 = ONNX__VALUE_INFO_PROTO__INIT;
    static const Onnx__TypeProto tp0 = ONNX__TYPE_PROTO__INIT;
    static const Onnx__TypeProto__Tensor tt0 = ONNX__TYPE_PROTO__TENSOR__INIT;
    static const Onnx__TensorShapeProto sp0 = ONNX__TENSOR_SHAPE_PROTO__INIT;
    static const Onnx__TensorShapeProto__Dimension d0 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
    Onnx__ValueInfoProto *vi = tb_alloc(tb, sizeof *vi);
    *vi = vi0;
    vi->name = name ? tb_str(tb, name) : NULL;
    Onnx__TypeProto *tp = tb_alloc(tb, sizeof *tp);
    *tp = tp0;
    Onnx__TypeProto__Tensor *tt = tb_alloc(tb, sizeof *tt);
    *tt = tt0;
    tt->has_elem_type = 1;
    tt->elem_type = dtype;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    if (ndim >= 0) {
        Onnx__TensorShapeProto *sp = tb_alloc(tb, sizeof *sp);
        *sp = sp0;
        sp->n_dim = (size_t)ndim;
        sp->dim = tb_alloc(tb, (size_t)(ndim ? ndim : 1) * sizeof(void *));
        for (int i = 0; i < ndim; i++) {
            Onnx__TensorShapeProto__Dimension *d = tb_alloc(tb, sizeof *d);
            *d = d0;
            if (dims[i] >= 0 || dims[i] < -1) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = dims[i];
            } else {
                char nm[16];
                snprintf(nm, sizeof nm, "N%d", i);
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = tb_str(tb, nm);
            }
            sp->dim[i] = d;
        }
        tt->shape = sp;
    }
    return vi;
}
static inline Onnx__ValueInfoProto *tb_input(tb_model *tb, const char *name, int dtype, int ndim,
                                             const int64_t *dims) {
    Onnx__ValueInfoProto *v = tb_value(tb, name, dtype, ndim, dims);
    tb->inputs[tb->graph.n_input++] = v;
    return v;
}
static inline Onnx__ValueInfoProto *tb_output(tb_model *tb, const char *name, int dtype, int ndim,
                                              const int64_t *dims) {
    Onnx__ValueInfoProto *v = tb_value(tb, name, dtype, ndim, dims);
    tb->outputs[tb->graph.n_output++] = v;
    return v;
}

static inline uint8_t *tb_pack(tb_model *tb, size_t *n) {
    *n = onnx__model_proto__get_packed_size(&tb->model);
    uint8_t *buf = malloc(*n ? *n : 1);
    onnx__model_proto__pack(&tb->model, buf);
    return buf;
}

static inline void tb_free(tb_model *tb) {
    for (size_t i = 0; i < tb->n_arena; i++)
        free(tb->arena[i]);
    free(tb->arena);
    memset(tb, 0, sizeof *tb);
}
#endif
