/* Public model API: import dispatch, accessors, shape fixing, statistics. */
#include <string.h>

#include "core/model_internal.h"
#include "onnx/onnx_import.h"

/* Caffe importer lives in src/caffe (weak: the core links without it). */
ks_status ks__caffe_import(ks_context *ctx, const char *prototxt_path, const char *caffemodel_path,
                           ks_graph **out) __attribute__((weak));
/* Plugin registry (src/plugins): swaps built-in ops for plugins the user
 * asked for with ks_plugin_prefer. */
ks_status ks__plugins_apply_preferences(ks_context *ctx, ks_graph *g, int *n_swapped)
    __attribute__((weak));

void ks_import_options_init(ks_import_options *opt) {
    if (opt)
        memset(opt, 0, sizeof(*opt));
}

ks_status ks__model_from_graph(ks_context *ctx, ks_graph *g, ks_model **out) {
    *out = NULL;
    ks_status st = KS_OK;
    if (ks__plugins_apply_preferences)
        st = ks__plugins_apply_preferences(ctx, g, NULL);
    if (st == KS_OK)
        st = ks__graph_infer_and_fold(g, 1);
    if (st == KS_OK)
        st = ks__graph_remove_dead(g);
    if (st != KS_OK) {
        ks__graph_destroy(g);
        return st;
    }
    ks_model *m = ks__alloc(ctx, sizeof(*m));
    if (!m) {
        ks__graph_destroy(g);
        return ks__oom(ctx, sizeof(*m), "model");
    }
    m->ctx = ctx;
    m->graph = g;
    *out = m;
    return KS_OK;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static char *dir_of(ks_context *ctx, const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ks__strdup(ctx, ".");
    size_t n = (size_t)(slash - path);
    char *d = ks__alloc(ctx, n + 2);
    if (d) {
        memcpy(d, path, n ? n : 1);
        if (!n)
            d[0] = '/';
    }
    return d;
}

ks_status ks_model_load_file(ks_context *ctx, const char *path, const ks_import_options *opt,
                             ks_model **out) {
    if (!ctx || !path || !out)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks_model_load_file: NULL argument");
    *out = NULL;
    ks_import_options def;
    if (!opt) {
        ks_import_options_init(&def);
        opt = &def;
    }
    ks_model_format fmt = opt->format;
    if (fmt == KS_FORMAT_AUTO)
        fmt = ends_with(path, ".prototxt") ? KS_FORMAT_CAFFE : KS_FORMAT_ONNX;
    ks_graph *g = NULL;
    if (fmt == KS_FORMAT_CAFFE) {
        if (!ks__caffe_import)
            return ks__error(ctx, KS_UNSUPPORTED_OP, "%s: the Caffe importer is not built", path);
        char *weights = NULL;
        const char *wp = opt->weights_path;
        if (!wp) {
            size_t n = strlen(path);
            weights = ks__alloc(ctx, n + 16);
            if (!weights)
                return ks__oom(ctx, n, "path");
            memcpy(weights, path, n - strlen(".prototxt"));
            strcat(weights, ".caffemodel");
            wp = weights;
        }
        ks_status st = ks__caffe_import(ctx, path, wp, &g);
        ks__free(ctx, weights);
        KS_CHECK(st);
    } else if (fmt == KS_FORMAT_ONNX) {
        void *data;
        size_t n;
        KS_CHECK(ks__read_file(ctx, path, &data, &n));
        char *dir = opt->external_data_dir ? NULL : dir_of(ctx, path);
        ks_status st = ks__onnx_import(ctx, data, n, path,
                                       opt->external_data_dir ? opt->external_data_dir : dir, &g);
        ks__free(ctx, dir);
        ks__free(ctx, data);
        KS_CHECK(st);
    } else {
        return ks__error(ctx, KS_INVALID_ARGUMENT, "%s: unknown model format %d", path, (int)fmt);
    }
    return ks__model_from_graph(ctx, g, out);
}

ks_status ks_model_load_memory(ks_context *ctx, const void *data, size_t n_bytes,
                               const ks_import_options *opt, ks_model **out) {
    if (!ctx || (!data && n_bytes) || !out)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks_model_load_memory: NULL argument");
    *out = NULL;
    if (opt && opt->format == KS_FORMAT_CAFFE)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "Caffe models load from files only");
    ks_graph *g;
    KS_CHECK(ks__onnx_import(ctx, data, n_bytes, "<memory>",
                             opt && opt->external_data_dir ? opt->external_data_dir : ".", &g));
    return ks__model_from_graph(ctx, g, out);
}

void ks_model_destroy(ks_model *m) {
    if (!m)
        return;
    ks__graph_destroy(m->graph);
    ks__free(m->ctx, m);
}

ks_context *ks_model_context(const ks_model *m) { return m ? m->ctx : NULL; }
int ks_model_num_inputs(const ks_model *m) { return m ? m->graph->n_inputs : 0; }
int ks_model_num_outputs(const ks_model *m) { return m ? m->graph->n_outputs : 0; }
const char *ks_model_input_name(const ks_model *m, int i) {
    return (m && i >= 0 && i < m->graph->n_inputs) ? m->graph->values[m->graph->inputs[i]].name : NULL;
}
const char *ks_model_output_name(const ks_model *m, int i) {
    return (m && i >= 0 && i < m->graph->n_outputs) ? m->graph->values[m->graph->outputs[i]].name
                                                    : NULL;
}

static ks_status value_info(const ks_model *m, int vid, ks_dtype *dtype, int *ndim,
                            int64_t dims[KS_MAX_DIMS], const char *dim_names[KS_MAX_DIMS]) {
    const ks_value *v = &m->graph->values[vid];
    if (dtype)
        *dtype = v->t.dtype;
    if (ndim)
        *ndim = v->t.ndim;
    for (int d = 0; d < KS_MAX_DIMS; d++) {
        if (dims)
            dims[d] = d < v->t.ndim ? v->t.dims[d] : 0;
        if (dim_names)
            dim_names[d] = v->dim_names[d];
    }
    return KS_OK;
}

ks_status ks_model_input_info(const ks_model *m, int i, ks_dtype *dtype, int *ndim,
                              int64_t dims[KS_MAX_DIMS], const char *dim_names[KS_MAX_DIMS]) {
    if (!m || i < 0 || i >= m->graph->n_inputs)
        return KS_INVALID_ARGUMENT;
    return value_info(m, m->graph->inputs[i], dtype, ndim, dims, dim_names);
}

ks_status ks_model_output_info(const ks_model *m, int i, ks_dtype *dtype, int *ndim,
                               int64_t dims[KS_MAX_DIMS], const char *dim_names[KS_MAX_DIMS]) {
    if (!m || i < 0 || i >= m->graph->n_outputs)
        return KS_INVALID_ARGUMENT;
    return value_info(m, m->graph->outputs[i], dtype, ndim, dims, dim_names);
}

int ks_model_opset(const ks_model *m) { return m ? m->graph->opset : 0; }
int ks_model_num_nodes(const ks_model *m) { return m ? m->graph->n_nodes : 0; }
const char *ks_model_node_op(const ks_model *m, int i) {
    return (m && i >= 0 && i < m->graph->n_nodes) ? m->graph->nodes[i].op_type : NULL;
}

int64_t ks_model_num_params(const ks_model *m) {
    if (!m)
        return 0;
    const ks_graph *g = m->graph;
    int64_t total = 0;
    for (int v = 0; v < g->n_values; v++) {
        const ks_value *val = &g->values[v];
        if (val->is_const && (val->t.dtype == KS_DTYPE_FLOAT32 || val->t.dtype == KS_DTYPE_FLOAT16 ||
                              val->t.dtype == KS_DTYPE_FLOAT64 || val->t.dtype == KS_DTYPE_INT8))
            total += ks_tensor_numel(&val->t);
    }
    return total;
}

ks_status ks_model_set_input_shape(ks_model *m, const char *name, int ndim, const int64_t *dims) {
    if (!m || !name || ndim < 0 || ndim > KS_MAX_DIMS || (ndim && !dims))
        return ks__error(m ? m->ctx : NULL, KS_INVALID_ARGUMENT, "ks_model_set_input_shape: bad argument");
    ks_graph *g = m->graph;
    int vid = ks__graph_find_value(g, name);
    int is_input = 0;
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == vid)
            is_input = 1;
    if (vid < 0 || !is_input)
        return ks__error(m->ctx, KS_NOT_FOUND, "%s: no model input named '%s'", g->source, name);
    ks_value *v = &g->values[vid];
    char want[128], have[128];
    ks_shape_str(dims, ndim, want, sizeof want);
    ks_shape_str(v->t.dims, v->t.ndim, have, sizeof have);
    if (v->t.ndim >= 0 && v->t.ndim != ndim)
        return ks__error(m->ctx, KS_UNSUPPORTED_SHAPE, "%s: input '%s' has rank %d (%s); cannot set %s",
                         g->source, name, v->t.ndim, have, want);
    for (int d = 0; d < ndim; d++) {
        if (dims[d] < 0)
            return ks__error(m->ctx, KS_INVALID_ARGUMENT, "%s: negative dim in %s", g->source, want);
        if (v->t.ndim >= 0 && v->t.dims[d] >= 0 && v->t.dims[d] != dims[d])
            return ks__error(m->ctx, KS_UNSUPPORTED_SHAPE,
                             "%s: input '%s' has static shape %s; cannot set %s", g->source, name,
                             have, want);
    }
    v->t.ndim = ndim;
    for (int d = 0; d < ndim; d++)
        v->t.dims[d] = dims[d];
    return KS_OK;
}

ks_status ks_model_optimize(ks_model *m) {
    if (!m)
        return KS_INVALID_ARGUMENT;
    KS_CHECK(ks__graph_infer_and_fold(m->graph, 1));
    return ks__graph_remove_dead(m->graph);
}

int64_t ks_model_flops(const ks_model *m) {
    if (!m)
        return -1;
    const ks_graph *g = m->graph;
    int64_t total = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const ks_node *n = &g->nodes[i];
        if (n->n_outputs < 1 || n->outputs[0] < 0)
            continue;
        const ks_tensor *y = &g->values[n->outputs[0]].t;
        int64_t ny = ks_tensor_numel(y);
        if (n->op == KS_OP_CONV || n->op == KS_OP_CONV_TRANSPOSE || n->op == KS_OP_GEMM ||
            n->op == KS_OP_MATMUL) {
            if (n->n_inputs < 2 || n->inputs[1] < 0)
                continue;
            const ks_tensor *w = &g->values[n->inputs[1]].t;
            const ks_tensor *x = &g->values[n->inputs[0]].t;
            if (ny < 0 || w->ndim < 2 || x->ndim < 1)
                return -1;
            int64_t k = 1;
            if (n->op == KS_OP_CONV) {
                for (int d = 1; d < w->ndim; d++)
                    k *= w->dims[d];
            } else if (n->op == KS_OP_CONV_TRANSPOSE) {
                /* every input element scatters into Cout/g * kernel outputs */
                int64_t nx = ks_tensor_numel(x);
                int64_t kk = 1;
                for (int d = 1; d < w->ndim; d++)
                    kk *= w->dims[d];
                if (nx < 0)
                    return -1;
                total += 2 * nx * kk;
                continue;
            } else if (n->op == KS_OP_GEMM) {
                k = ks__attr_i(n, "transA", 0) ? x->dims[0] : x->dims[x->ndim - 1];
            } else {
                k = x->dims[x->ndim - 1];
            }
            if (k < 0)
                return -1;
            total += 2 * ny * k;
        }
    }
    return total;
}
