/* CPU reference executor: runs the graph node by node in topological
 * order, computing each node's output shapes from its actual inputs (so
 * dynamic shapes need no special handling) and freeing each intermediate at
 * its last use. */
#include <math.h>
#include <string.h>

#include "core/model_internal.h"

struct ks_session {
    ks_context *ctx;
    ks_model *model;
    ks_graph *g;
    ks_session_config cfg;
    int *n_uses;    /* per value: consumers + (graph output ? 1 : 0) */
    int max_io;
};

void ks_session_config_init(ks_session_config *cfg) {
    if (cfg)
        memset(cfg, 0, sizeof(*cfg));
}

ks_status ks_session_create(ks_model *m, const ks_session_config *cfg, ks_session **out) {
    if (!m || !out)
        return KS_INVALID_ARGUMENT;
    *out = NULL;
    ks_context *ctx = m->ctx;
    ks_session *s = ks__alloc(ctx, sizeof(*s));
    if (!s)
        return ks__oom(ctx, sizeof(*s), "session");
    s->ctx = ctx;
    s->model = m;
    s->g = m->graph;
    if (cfg)
        s->cfg = *cfg;
    ks_graph *g = s->g;
    s->n_uses = ks__alloc_array(ctx, (size_t)g->n_values + 1, sizeof(int));
    if (!s->n_uses) {
        ks__free(ctx, s);
        return ks__oom(ctx, 0, "session");
    }
    s->max_io = 1;
    for (int i = 0; i < g->n_nodes; i++) {
        const ks_node *n = &g->nodes[i];
        if (!ks__op_cpu_fn(n->op)) {
            ks_session_destroy(s);
            return ks__node_error(g, n, KS_UNSUPPORTED_OP, "no CPU kernel for this operator");
        }
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                s->n_uses[n->inputs[k]]++;
        if (n->n_inputs > s->max_io)
            s->max_io = n->n_inputs;
        if (n->n_outputs > s->max_io)
            s->max_io = n->n_outputs;
    }
    for (int i = 0; i < g->n_outputs; i++)
        s->n_uses[g->outputs[i]]++;
    *out = s;
    return KS_OK;
}

void ks_session_destroy(ks_session *s) {
    if (!s)
        return;
    ks__free(s->ctx, s->n_uses);
    ks__free(s->ctx, s);
}

static ks_status check_finite(ks_session *s, const char *name, const ks_tensor *t) {
    int64_t n = ks_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double v;
        if (t->dtype == KS_DTYPE_FLOAT32)
            v = ((const float *)t->data)[i];
        else if (t->dtype == KS_DTYPE_FLOAT16)
            v = ks_half_to_float(((const uint16_t *)t->data)[i]);
        else if (t->dtype == KS_DTYPE_FLOAT64)
            v = ((const double *)t->data)[i];
        else
            return KS_OK;
        if (!isfinite(v))
            return ks__error(s->ctx, KS_NUMERIC_ERROR, "%s: input '%s' element %lld is %s",
                             s->g->source, name, (long long)i, isnan(v) ? "NaN" : "infinite");
    }
    return KS_OK;
}

/* Runtime slot of a value: tensor + whether the session owns its data. */
typedef struct slot {
    ks_tensor t;
    int owned;
    int set;
} slot;

ks_status ks_session_run(ks_session *s, int n_inputs, const char *const *input_names,
                         const ks_tensor *inputs, int n_outputs, const char *const *output_names,
                         ks_tensor *outputs) {
    if (!s || n_inputs < 0 || n_outputs < 0 || (n_inputs && (!input_names || !inputs)) ||
        (n_outputs && !output_names) || !outputs)
        return ks__error(s ? s->ctx : NULL, KS_INVALID_ARGUMENT, "ks_session_run: bad argument");
    ks_context *ctx = s->ctx;
    ks_graph *g = s->g;
    ks_status st = KS_OK;
    slot *rt = ks__alloc_array(ctx, (size_t)g->n_values + 1, sizeof(slot));
    int *uses = ks__alloc_array(ctx, (size_t)g->n_values + 1, sizeof(int));
    const ks_tensor **in = ks__alloc_array(ctx, (size_t)s->max_io, sizeof(*in));
    ks_tensor *out = ks__alloc_array(ctx, (size_t)s->max_io, sizeof(*out));
    int n_req = n_outputs ? n_outputs : g->n_outputs;
    int *req = ks__alloc_array(ctx, (size_t)n_req + 1, sizeof(int));
    if (!rt || !uses || !in || !out || !req) {
        st = ks__oom(ctx, 0, "session run");
        goto done;
    }
    memcpy(uses, s->n_uses, (size_t)g->n_values * sizeof(int));
    for (int i = 0; i < n_req; i++)
        memset(&outputs[i], 0, sizeof(outputs[i]));

    /* bind inputs */
    for (int i = 0; i < n_inputs; i++) {
        int vid = ks__graph_find_value(g, input_names[i]);
        int k = -1;
        for (int j = 0; j < g->n_inputs; j++)
            if (g->inputs[j] == vid)
                k = j;
        if (vid < 0 || k < 0) {
            st = ks__error(ctx, KS_NOT_FOUND, "%s: no model input named '%s'", g->source,
                           input_names[i] ? input_names[i] : "(null)");
            goto done;
        }
        const ks_value *v = &g->values[vid];
        const ks_tensor *t = &inputs[i];
        char have[128], want[128];
        ks_shape_str(t->dims, t->ndim, have, sizeof have);
        ks_shape_str(v->t.dims, v->t.ndim, want, sizeof want);
        if (t->dtype != v->t.dtype) {
            st = ks__error(ctx, KS_UNSUPPORTED_DTYPE, "%s: input '%s' must be %s, got %s", g->source,
                           v->name, ks_dtype_name(v->t.dtype), ks_dtype_name(t->dtype));
            goto done;
        }
        int ok = t->ndim >= 0 && t->ndim <= KS_MAX_DIMS && ks_tensor_numel(t) >= 0 &&
                 (v->t.ndim < 0 || v->t.ndim == t->ndim);
        for (int d = 0; ok && v->t.ndim >= 0 && d < t->ndim; d++)
            if (v->t.dims[d] >= 0 && v->t.dims[d] != t->dims[d])
                ok = 0;
        if (!ok) {
            st = ks__error(ctx, KS_UNSUPPORTED_SHAPE, "%s: input '%s' has shape %s, model expects %s",
                           g->source, v->name, have, want);
            goto done;
        }
        if (!t->data && ks_tensor_numel(t) > 0) {
            st = ks__error(ctx, KS_INVALID_ARGUMENT, "%s: input '%s' has no data", g->source, v->name);
            goto done;
        }
        if (s->cfg.check_finite && (st = check_finite(s, v->name, t)) != KS_OK)
            goto done;
        rt[vid].t = *t;
        rt[vid].set = 1;
    }
    for (int j = 0; j < g->n_inputs; j++)
        if (!rt[g->inputs[j]].set) {
            st = ks__error(ctx, KS_INVALID_ARGUMENT, "%s: input '%s' was not given", g->source,
                           g->values[g->inputs[j]].name);
            goto done;
        }
    /* resolve requested outputs */
    for (int i = 0; i < n_req; i++) {
        int vid = n_outputs ? ks__graph_find_value(g, output_names[i]) : g->outputs[i];
        if (vid < 0) {
            st = ks__error(ctx, KS_NOT_FOUND, "%s: no tensor named '%s'", g->source, output_names[i]);
            goto done;
        }
        req[i] = vid;
        uses[vid]++; /* keep requested intermediates alive */
    }

    for (int i = 0; i < g->n_nodes; i++) {
        const ks_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v < 0) {
                in[k] = NULL;
            } else if (g->values[v].is_const) {
                in[k] = &g->values[v].t;
            } else if (rt[v].set) {
                in[k] = &rt[v].t;
            } else {
                st = ks__node_error(g, n, KS_INTERNAL, "input '%s' was not computed",
                                    g->values[v].name);
                goto done;
            }
        }
        st = ks__node_run_cpu(g, n, in, out);
        if (st != KS_OK)
            goto done;
        for (int o = 0; o < n->n_outputs; o++) {
            int v = n->outputs[o];
            if (v < 0 || uses[v] == 0) {
                ks_tensor_release(ctx, &out[o]);
                continue;
            }
            rt[v].t = out[o];
            rt[v].owned = 1;
            rt[v].set = 1;
        }
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v < 0 || g->values[v].is_const)
                continue;
            if (--uses[v] == 0 && rt[v].owned) {
                ks_tensor_release(ctx, &rt[v].t);
                rt[v].set = 0;
                rt[v].owned = 0;
            }
        }
    }
    /* hand outputs to the caller */
    for (int i = 0; i < n_req; i++) {
        int v = req[i];
        const ks_tensor *src = g->values[v].is_const ? &g->values[v].t : (rt[v].set ? &rt[v].t : NULL);
        if (!src) {
            st = ks__error(ctx, KS_INTERNAL, "%s: output '%s' was not computed", g->source,
                           g->values[v].name);
            goto done;
        }
        if (rt[v].owned && !g->values[v].is_const && uses[v] == 1) {
            outputs[i] = rt[v].t; /* move */
            rt[v].owned = 0;
            rt[v].set = 0;
            continue;
        }
        outputs[i] = *src;
        outputs[i].data = NULL;
        st = ks_tensor_alloc(ctx, &outputs[i]);
        if (st != KS_OK)
            goto done;
        size_t nb = ks_tensor_nbytes(src);
        if (nb)
            memcpy(outputs[i].data, src->data, nb);
        if (rt[v].owned)
            uses[v]--;
    }
done:
    if (rt)
        for (int v = 0; v < g->n_values; v++)
            if (rt[v].owned)
                ks_tensor_release(ctx, &rt[v].t);
    if (st != KS_OK && outputs)
        for (int i = 0; i < n_req; i++)
            ks_tensor_release(ctx, &outputs[i]);
    ks__free(ctx, rt);
    ks__free(ctx, uses);
    ks__free(ctx, in);
    ks__free(ctx, out);
    ks__free(ctx, req);
    return st;
}
