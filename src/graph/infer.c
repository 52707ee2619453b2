/* Node-level inference/run on the CPU, whole-graph static shape inference
 * with constant folding of shape subgraphs, dead-node removal, cloning. */
#include <string.h>

#include "graph/ir.h"

/* Folding is skipped for outputs larger than this (weights-sized constant
 * chains are still folded; huge broadcasts are left to run time). */
#define KS_FOLD_MAX_BYTES ((size_t)64 << 20)

static void op_ctx_init(ks_op_ctx *oc, const ks_graph *g, const ks_node *n,
                        const ks_tensor *const *in, ks_tensor *const *out) {
    oc->ctx = g->ctx;
    oc->graph = g;
    oc->node = n;
    oc->n_in = n->n_inputs;
    oc->in = in;
    oc->n_out = n->n_outputs;
    oc->out = out;
}

static ks_status unsupported(const ks_graph *g, const ks_node *n, const char *what) {
    return ks__node_error(g, n, KS_UNSUPPORTED_OP, "no %s for this operator", what);
}

ks_status ks__node_infer(const ks_graph *g, const ks_node *n, const ks_tensor *const *in,
                         ks_tensor *out) {
    ks_op_fn fn = ks__op_infer_fn(n->op);
    if (!fn)
        return unsupported(g, n, "shape inference");
    ks_tensor *outp[64];
    ks_tensor **outs = outp;
    if (n->n_outputs > 64) {
        outs = ks__alloc_array(g->ctx, (size_t)n->n_outputs, sizeof(*outs));
        if (!outs)
            return ks__oom(g->ctx, 0, "node outputs");
    }
    for (int i = 0; i < n->n_outputs; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].ndim = -1;
        outs[i] = &out[i];
    }
    ks_op_ctx oc;
    op_ctx_init(&oc, g, n, in, outs);
    ks_status st = fn(&oc);
    for (int i = 0; st == KS_OK && i < n->n_outputs; i++) {
        if (out[i].ndim > KS_MAX_DIMS || out[i].ndim < -1)
            st = ks__node_error(g, n, KS_INTERNAL, "shape inference produced rank %d", out[i].ndim);
        out[i].data = NULL;
    }
    if (outs != outp)
        ks__free(g->ctx, outs);
    return st;
}

static ks_status to_f32(ks_context *ctx, const ks_tensor *src, ks_tensor *dst) {
    *dst = *src;
    dst->dtype = KS_DTYPE_FLOAT32;
    dst->data = NULL;
    KS_CHECK(ks_tensor_alloc(ctx, dst));
    int64_t n = ks_tensor_numel(src);
    const uint16_t *s = src->data;
    float *d = dst->data;
    for (int64_t i = 0; i < n; i++)
        d[i] = ks_half_to_float(s[i]);
    return KS_OK;
}

static ks_status run_plain(ks_graph *g, const ks_node *n, const ks_tensor *const *in,
                           ks_tensor *out) {
    ks_context *ctx = g->ctx;
    ks_op_fn fn = ks__op_cpu_fn(n->op);
    if (!fn)
        return unsupported(g, n, "CPU kernel");
    KS_CHECK(ks__node_infer(g, n, in, out));
    ks_status st = KS_OK;
    ks_tensor *outp[64];
    ks_tensor **outs = outp;
    if (n->n_outputs > 64 && !(outs = ks__alloc_array(ctx, (size_t)n->n_outputs, sizeof(*outs))))
        return ks__oom(ctx, 0, "node outputs");
    for (int i = 0; i < n->n_outputs; i++) {
        outs[i] = &out[i];
        if (st != KS_OK)
            continue;
        if (out[i].ndim < 0 || ks_tensor_numel(&out[i]) < 0) {
            st = ks__node_error(g, n, KS_UNSUPPORTED_SHAPE,
                                "output %d shape could not be determined at run time", i);
            continue;
        }
        if (ks_dtype_size(out[i].dtype) == 0) {
            st = ks__node_error(g, n, KS_INTERNAL, "output %d has no dtype", i);
            continue;
        }
        st = ks_tensor_alloc(ctx, &out[i]);
        if (st != KS_OK)
            ks__error_prefix(ctx, "%s: node '%s' (%s)", g->source, n->name, n->op_type);
    }
    if (st == KS_OK) {
        ks_op_ctx oc;
        op_ctx_init(&oc, g, n, in, outs);
        st = fn(&oc);
    }
    if (outs != outp)
        ks__free(ctx, outs);
    if (st != KS_OK)
        for (int i = 0; i < n->n_outputs; i++)
            ks_tensor_release(ctx, &out[i]);
    return st;
}

ks_status ks__node_run_cpu(ks_graph *g, const ks_node *n, const ks_tensor *const *in,
                           ks_tensor *out) {
    ks_context *ctx = g->ctx;
    int has_f16 = 0;
    for (int i = 0; i < n->n_inputs; i++)
        if (in[i] && in[i]->dtype == KS_DTYPE_FLOAT16)
            has_f16 = 1;
    if (!(ks__op_flags(n->op) & KS_OPF_MATH) || !has_f16)
        return run_plain(g, n, in, out);

    /* float16 through float32: convert inputs, compute, round outputs back
     * where the op's declared output dtype is float16. */
    ks_status st = KS_OK;
    int ni = n->n_inputs, no = n->n_outputs;
    ks_tensor *tmp = ks__alloc_array(ctx, (size_t)(ni ? ni : 1), sizeof(ks_tensor));
    const ks_tensor **in32 = ks__alloc_array(ctx, (size_t)(ni ? ni : 1), sizeof(ks_tensor *));
    ks_tensor *decl = ks__alloc_array(ctx, (size_t)(no ? no : 1), sizeof(ks_tensor));
    if (!tmp || !in32 || !decl) {
        st = ks__oom(ctx, 0, "float16 conversion");
        goto done;
    }
    st = ks__node_infer(g, n, in, decl);
    for (int i = 0; st == KS_OK && i < ni; i++) {
        in32[i] = in[i];
        if (in[i] && in[i]->dtype == KS_DTYPE_FLOAT16) {
            st = to_f32(ctx, in[i], &tmp[i]);
            in32[i] = &tmp[i];
        }
    }
    if (st == KS_OK)
        st = run_plain(g, n, in32, out);
    for (int o = 0; st == KS_OK && o < no; o++) {
        if (decl[o].dtype == KS_DTYPE_FLOAT16 && out[o].dtype == KS_DTYPE_FLOAT32) {
            int64_t cnt = ks_tensor_numel(&out[o]);
            float *f = out[o].data;
            uint16_t *h = out[o].data; /* in place: h[i] written after f[i] read */
            for (int64_t i = 0; i < cnt; i++)
                h[i] = ks_float_to_half(f[i]);
            out[o].dtype = KS_DTYPE_FLOAT16;
        }
    }
done:
    for (int i = 0; tmp && i < ni; i++)
        if (in[i] && in[i]->dtype == KS_DTYPE_FLOAT16)
            ks_tensor_release(ctx, &tmp[i]);
    ks__free(ctx, tmp);
    ks__free(ctx, in32);
    ks__free(ctx, decl);
    return st;
}

static int dims_known(const ks_tensor *t) {
    if (t->ndim < 0)
        return 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->dims[i] < 0)
            return 0;
    return 1;
}

ks_status ks__graph_infer_and_fold(ks_graph *g, int fold) {
    ks_context *ctx = g->ctx;
    ks_status st = KS_OK;
    int max_io = 1;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].n_inputs > max_io)
            max_io = g->nodes[i].n_inputs;
        if (g->nodes[i].n_outputs > max_io)
            max_io = g->nodes[i].n_outputs;
    }
    const ks_tensor **in = ks__alloc_array(ctx, (size_t)max_io, sizeof(*in));
    ks_tensor *out = ks__alloc_array(ctx, (size_t)max_io, sizeof(*out));
    char *folded = ks__alloc(ctx, (size_t)g->n_nodes + 1);
    if (!in || !out || !folded) {
        st = ks__oom(ctx, 0, "shape inference");
        goto done;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        ks_node *n = &g->nodes[i];
        int all_const = n->op != KS_OP_PLUGIN && n->op != KS_OP_DROPOUT;
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            in[k] = v >= 0 ? &g->values[v].t : NULL;
            if (v >= 0 && !g->values[v].is_const) {
                /* Shape and Size only need the input's dims */
                if (!((n->op == KS_OP_SHAPE || n->op == KS_OP_SIZE) && k == 0 &&
                      dims_known(&g->values[v].t)))
                    all_const = 0;
            }
        }
        st = ks__node_infer(g, n, in, out);
        if (st != KS_OK)
            goto done;
        size_t out_bytes = 0;
        for (int o = 0; o < n->n_outputs; o++) {
            int v = n->outputs[o];
            if (v < 0)
                continue;
            ks_value *val = &g->values[v];
            val->t.dtype = out[o].dtype;
            val->t.ndim = out[o].ndim;
            for (int d = 0; d < KS_MAX_DIMS; d++)
                val->t.dims[d] = d < out[o].ndim ? out[o].dims[d] : 0;
            if (!dims_known(&out[o]))
                all_const = 0;
            else
                out_bytes += ks_tensor_nbytes(&out[o]);
        }
        if (!fold || !all_const || out_bytes > KS_FOLD_MAX_BYTES || n->n_outputs > max_io)
            continue;
        st = ks__node_run_cpu(g, n, in, out);
        if (st != KS_OK)
            goto done;
        for (int o = 0; o < n->n_outputs; o++) {
            int v = n->outputs[o];
            if (v < 0) {
                ks_tensor_release(ctx, &out[o]);
                continue;
            }
            ks_value *val = &g->values[v];
            val->t = out[o];
            val->is_const = 1;
            val->producer = -1;
        }
        folded[i] = 1;
    }
    if (fold) {
        int w = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            if (folded[i]) {
                ks__node_free(ctx, &g->nodes[i]);
                continue;
            }
            g->nodes[w++] = g->nodes[i];
        }
        g->n_nodes = w;
        for (int i = 0; i < g->n_nodes; i++)
            for (int o = 0; o < g->nodes[i].n_outputs; o++)
                if (g->nodes[i].outputs[o] >= 0)
                    g->values[g->nodes[i].outputs[o]].producer = i;
    }
done:
    ks__free(ctx, in);
    ks__free(ctx, out);
    ks__free(ctx, folded);
    return st;
}

ks_status ks__graph_remove_dead(ks_graph *g) {
    ks_context *ctx = g->ctx;
    char *live_v = ks__alloc(ctx, (size_t)g->n_values + 1);
    char *live_n = ks__alloc(ctx, (size_t)g->n_nodes + 1);
    if (!live_v || !live_n) {
        ks__free(ctx, live_v);
        ks__free(ctx, live_n);
        return ks__oom(ctx, 0, "dead-node removal");
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] >= 0)
            live_v[g->outputs[i]] = 1;
    /* nodes are topologically sorted: one backward sweep marks liveness */
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        ks_node *n = &g->nodes[i];
        int live = 0;
        for (int o = 0; o < n->n_outputs; o++)
            if (n->outputs[o] >= 0 && live_v[n->outputs[o]])
                live = 1;
        if (!live)
            continue;
        live_n[i] = 1;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                live_v[n->inputs[k]] = 1;
    }
    int w = 0, removed = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (!live_n[i]) {
            ks__node_free(ctx, &g->nodes[i]);
            removed++;
            continue;
        }
        g->nodes[w++] = g->nodes[i];
    }
    g->n_nodes = w;
    for (int v = 0; v < g->n_values; v++) {
        g->values[v].producer = -1;
        if (g->values[v].is_const && !live_v[v]) { /* drop unused weights */
            ks__free(ctx, g->values[v].t.data);
            g->values[v].t.data = NULL;
            g->values[v].is_const = 0;
        }
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int o = 0; o < g->nodes[i].n_outputs; o++)
            if (g->nodes[i].outputs[o] >= 0)
                g->values[g->nodes[i].outputs[o]].producer = i;
    if (removed)
        ks__log(ctx, KS_LOG_DEBUG, "%s: removed %d dead node(s)", g->source, removed);
    ks__free(ctx, live_v);
    ks__free(ctx, live_n);
    return KS_OK;
}


ks_status ks__graph_clone(const ks_graph *src, ks_graph **out) {
    ks_context *ctx = src->ctx;
    ks_graph *g;
    KS_CHECK(ks__graph_create(ctx, src->source, &g));
    ks_status st = KS_OK;
    ks__free(ctx, g->producer);
    g->producer = ks__strdup(ctx, src->producer);
    g->opset = src->opset;
    g->ir_version = src->ir_version;
    for (int v = 0; v < src->n_values && st == KS_OK; v++) {
        const ks_value *sv = &src->values[v];
        int id;
        if (sv->is_const) {
            st = ks__graph_add_const(g, sv->name, &sv->t, &id);
        } else {
            st = ks__graph_add_value(g, sv->name, 0, &id);
            if (st == KS_OK)
                g->values[id].t = sv->t;
        }
        if (st != KS_OK)
            break;
        g->values[id].producer = sv->producer;
        for (int d = 0; d < KS_MAX_DIMS; d++)
            if (sv->dim_names[d] && !(g->values[id].dim_names[d] = ks__strdup(ctx, sv->dim_names[d])))
                st = ks__oom(ctx, 0, "dim name");
    }
    for (int i = 0; i < src->n_nodes && st == KS_OK; i++) {
        const ks_node *sn = &src->nodes[i];
        int idx;
        st = ks__graph_add_node(g, sn->name, sn->op_type, sn->domain, sn->opset, sn->n_inputs,
                                sn->inputs, sn->n_outputs, sn->outputs, &idx);
        if (st != KS_OK)
            break;
        g->nodes[idx].op = sn->op;
        for (int a = 0; a < sn->n_attrs && st == KS_OK; a++)
            st = ks__node_add_attr(g, idx, &sn->attrs[a]);
        if (sn->plugin) {
            g->nodes[idx].plugin =
                ks__plugin_clone_instance ? ks__plugin_clone_instance(ctx, sn->plugin) : NULL;
            if (!g->nodes[idx].plugin)
                st = ks__node_error(src, sn, KS_INTERNAL, "cannot clone plugin instance");
        }
    }
    if (st == KS_OK) {
        g->inputs = ks__alloc_array(ctx, (size_t)src->n_inputs + 1, sizeof(int));
        g->outputs = ks__alloc_array(ctx, (size_t)src->n_outputs + 1, sizeof(int));
        if (!g->inputs || !g->outputs)
            st = ks__oom(ctx, 0, "graph clone");
        else {
            memcpy(g->inputs, src->inputs, (size_t)src->n_inputs * sizeof(int));
            memcpy(g->outputs, src->outputs, (size_t)src->n_outputs * sizeof(int));
            g->n_inputs = src->n_inputs;
            g->n_outputs = src->n_outputs;
        }
    }
    if (st != KS_OK) {
        ks__graph_destroy(g);
        return st;
    }
    *out = g;
    return KS_OK;
}
