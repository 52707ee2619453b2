/* kestrel graph IR: values (tensors), nodes (ops with attributes) and the
 * op table. Internal header.
 *
 * Semantics: nodes follow the ONNX operator of the same name at its LATEST
 * opset form. Importers normalize older forms: attributes that later moved to
 * inputs (Slice-1 starts/ends/axes, Clip-6 min/max, Pad-2 pads/value,
 * Split/Squeeze/Unsqueeze/Reduce* axes, Upsample scales) become constant
 * inputs, and Upsample becomes Resize. Differences that are not expressible
 * that way keep the node's `opset` (e.g. Softmax/LogSoftmax < 13 flatten at
 * axis; kernels check node->opset).
 *
 * Ownership: the graph owns every string, attribute and constant buffer in
 * it, all allocated with the graph's context allocator. */
#ifndef KS_GRAPH_IR_H
#define KS_GRAPH_IR_H

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ks_op {
#define X(e, name, fn, flags) KS_OP_##e,
#include "graph/ops.def"
#undef X
    KS_OP_COUNT
} ks_op;

enum { KS_OPF_MATH = 1, KS_OPF_ANY = 2 };

typedef enum ks_attr_type {
    KS_ATTR_UNDEFINED = 0,
    KS_ATTR_FLOAT,
    KS_ATTR_INT,
    KS_ATTR_STRING,
    KS_ATTR_TENSOR,
    KS_ATTR_FLOATS,
    KS_ATTR_INTS,
    KS_ATTR_STRINGS,
    KS_ATTR_TYPE_COUNT
} ks_attr_type;

typedef struct ks_attr {
    char *name;
    ks_attr_type type;
    int64_t i;
    float f;
    char *s;          /* STRING (NUL-terminated) */
    int64_t n;        /* count for FLOATS / INTS / STRINGS */
    int64_t *ints;
    float *floats;
    char **strings;
    ks_tensor t;      /* TENSOR; t.data owned by the graph */
} ks_attr;

typedef struct ks_value {
    char *name;
    ks_tensor t;                       /* dtype, shape (-1 = unknown dim, ndim -1 = unknown rank) */
    char *dim_names[KS_MAX_DIMS];      /* symbolic names of graph-input/-output dims, or NULL */
    int is_const;                      /* t.data holds constant data owned by the graph */
    int producer;                      /* node index, or -1 (graph input / constant) */
} ks_value;

typedef struct ks_node {
    char *name;       /* never NULL (importer synthesizes "<op>_<idx>" if empty) */
    char *op_type;    /* as written in the model */
    char *domain;     /* "" for the default domain */
    ks_op op;
    int opset;        /* opset of the node's domain */
    int n_inputs;
    int *inputs;      /* value ids; -1 = omitted optional input */
    int n_outputs;
    int *outputs;     /* value ids; -1 = omitted optional output */
    int n_attrs;
    ks_attr *attrs;
    void *plugin;     /* KS_OP_PLUGIN: plugin instance (plugins/registry.h) */
} ks_node;

typedef struct ks_graph {
    ks_context *ctx;
    char *source;     /* file path or "<memory>", for messages */
    char *producer;   /* producer_name from the model, may be "" */
    int opset;        /* default-domain opset */
    int ir_version;
    ks_value *values;
    int n_values, cap_values;
    ks_node *nodes;   /* topologically sorted once the importer finishes */
    int n_nodes, cap_nodes;
    int *inputs;      /* runtime inputs (initializers excluded) */
    int n_inputs;
    int *outputs;
    int n_outputs;
} ks_graph;

/* --- graph building (graph.c) --- */
ks_status ks__graph_create(ks_context *ctx, const char *source, ks_graph **out);
void ks__graph_destroy(ks_graph *g);
/* Returns the id of the value named `name`, or -1. O(1) average. */
int ks__graph_find_value(const ks_graph *g, const char *name);
/* Adds a value (name copied); fails with INVALID_MODEL on duplicates unless
 * allow_existing, in which case the existing id is returned. */
ks_status ks__graph_add_value(ks_graph *g, const char *name, int allow_existing, int *id);
/* Appends a node; strings copied; inputs/outputs arrays copied. Attributes
 * are added after with ks__node_add_attr. Returns the node index. */
ks_status ks__graph_add_node(ks_graph *g, const char *name, const char *op_type,
                             const char *domain, int opset, int n_inputs, const int *inputs,
                             int n_outputs, const int *outputs, int *node_idx);
/* Frees everything a node owns (its plugin instance included) and zeroes it. */
void ks__node_free(ks_context *ctx, ks_node *n);
/* Appends a copy of *a (deep copy; name copied). */
ks_status ks__node_add_attr(ks_graph *g, int node_idx, const ks_attr *a);
/* Sorts nodes topologically and sets value producers. INVALID_MODEL on a
 * cycle, a value produced twice, or a use of a value nothing defines. */
ks_status ks__graph_toposort(ks_graph *g);
/* Adds a constant value holding a copy of t. */
ks_status ks__graph_add_const(ks_graph *g, const char *name, const ks_tensor *t, int *id);
/* Maps an ONNX op_type (default domain) to the op enum; KS_OP_COUNT if none. */
ks_op ks__op_from_name(const char *op_type);
const char *ks__op_name(ks_op op);
int ks__op_flags(ks_op op);

/* --- attributes (attr.c) --- */
const ks_attr *ks__attr_find(const ks_node *n, const char *name);
int64_t ks__attr_i(const ks_node *n, const char *name, int64_t def);
float ks__attr_f(const ks_node *n, const char *name, float def);
const char *ks__attr_s(const ks_node *n, const char *name, const char *def);
/* Returns the count and sets *vals, or -1 if absent (vals set to NULL). */
int64_t ks__attr_ints(const ks_node *n, const char *name, const int64_t **vals);
int64_t ks__attr_floats(const ks_node *n, const char *name, const float **vals);
const ks_tensor *ks__attr_t(const ks_node *n, const char *name);

/* --- op functions ---
 * One ks_op_ctx per node invocation. in[i] is NULL for an omitted optional
 * input. During static shape inference an input's data may be NULL (not
 * constant) and its dims may be -1 (unknown) or ndim -1 (unknown rank); at
 * run time every input has data and concrete dims.
 *
 * infer: sets out[i]->dtype, ndim, dims. Where a dim cannot be known
 *        statically it writes -1 (or ndim = -1); it fails only on inputs
 *        that are invalid (wrong rank, mismatched dims, bad attribute) with
 *        ks__op_error. It must not write out[i]->data.
 * cpu:   out[i] already have dtype and dims from infer and zeroed data
 *        allocated; computes. Scratch memory via ks__alloc(oc->ctx, ...). */
typedef struct ks_op_ctx {
    ks_context *ctx;
    const ks_graph *graph;
    const ks_node *node;
    int n_in;
    const ks_tensor *const *in;
    int n_out;
    ks_tensor *const *out;
} ks_op_ctx;

typedef ks_status (*ks_op_fn)(ks_op_ctx *oc);

/* Error naming the source, node, op type and opset:
 * "<file>: node 'conv1' (Conv, opset 11): <message>". */
ks_status ks__op_error(const ks_op_ctx *oc, ks_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
ks_status ks__node_error(const ks_graph *g, const ks_node *n, ks_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Weak declarations: an op whose function is not linked reports
 * UNSUPPORTED_OP at use. */
#define X(e, name, fn, flags)                                             \
    ks_status ks__infer_##fn(ks_op_ctx *oc) __attribute__((weak));     \
    ks_status ks__cpu_##fn(ks_op_ctx *oc) __attribute__((weak));
#include "graph/ops.def"
#undef X

ks_op_fn ks__op_infer_fn(ks_op op);
ks_op_fn ks__op_cpu_fn(ks_op op);

/* --- helpers shared by op implementations (opsupport.c) --- */
/* numpy-style broadcast of a and b shapes into out; UNSUPPORTED_SHAPE if
 * incompatible. Unknown (-1) dims broadcast to -1 unless the other is > 1. */
int ks__broadcast_shape(const int64_t *a, int na, const int64_t *b, int nb, int64_t *out, int *nout);
/* Reads element i of an integer tensor (int32/int64/int8/uint8/bool) as int64. */
int64_t ks__tensor_get_i64(const ks_tensor *t, int64_t i);
/* Reads element i of any numeric tensor as double. */
double ks__tensor_get_f64(const ks_tensor *t, int64_t i);
void ks__tensor_set_f64(ks_tensor *t, int64_t i, double v);
/* Normalizes a possibly negative axis against rank; returns 0 if out of range. */
int ks__norm_axis(int64_t axis, int rank, int *out);
/* Row-major strides (elements) of dims. */
void ks__strides(const int64_t *dims, int ndim, int64_t *strides);

/* --- passes (infer.c) --- */
/* Static shape inference over the whole graph, folding nodes whose inputs
 * are all constant into constants (shape subgraphs), then removing nodes
 * whose outputs nobody uses. Values' t.dims are updated in place. */
ks_status ks__graph_infer_and_fold(ks_graph *g, int fold);
ks_status ks__graph_remove_dead(ks_graph *g);
/* Deep copy (plugin instances cloned through the plugin registry). */
ks_status ks__graph_clone(const ks_graph *src, ks_graph **out);
/* Runs one node on the CPU with the given concrete inputs; allocates and
 * fills outputs (caller releases with ks_tensor_release). Used by the
 * executor and by constant folding. Handles the float16-through-float32 path
 * for KS_OPF_MATH ops. */
ks_status ks__node_run_cpu(ks_graph *g, const ks_node *n, const ks_tensor *const *in,
                           ks_tensor *out);
/* Runs one node's shape inference with the given input tensors. */
ks_status ks__node_infer(const ks_graph *g, const ks_node *n, const ks_tensor *const *in,
                         ks_tensor *out);

/* --- plugin hooks (implemented in src/plugins/; weak so the core links
 * without them) --- */
/* Releases node->plugin (called when a node is destroyed or removed). */
void ks__plugin_node_release(ks_context *ctx, ks_node *n) __attribute__((weak));
/* Returns a deep copy of a plugin instance, or NULL on failure. */
void *ks__plugin_clone_instance(ks_context *ctx, void *plugin) __attribute__((weak));

#ifdef __cplusplus
}
#endif
#endif
