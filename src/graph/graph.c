#include <stdio.h>
/* Graph construction, lookup and topological sort. */
#include <string.h>

#include "graph/ir.h"

/* Open-addressing name -> value-id index, kept beside the graph. */
typedef struct name_index {
    int *slots; /* value id + 1; 0 = empty */
    int cap;    /* power of two */
} name_index;

typedef struct ks_graph_priv {
    ks_graph g;
    name_index idx;
} ks_graph_priv;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static ks_graph_priv *priv(const ks_graph *g) { return (ks_graph_priv *)g; }

static ks_status index_rebuild(ks_graph *g, int cap) {
    int *slots = ks__alloc_array(g->ctx, (size_t)cap, sizeof(int));
    if (!slots)
        return ks__oom(g->ctx, (size_t)cap * sizeof(int), "graph name index");
    for (int v = 0; v < g->n_values; v++) {
        uint64_t h = hash_str(g->values[v].name);
        int i = (int)(h & (uint64_t)(cap - 1));
        while (slots[i])
            i = (i + 1) & (cap - 1);
        slots[i] = v + 1;
    }
    ks__free(g->ctx, priv(g)->idx.slots);
    priv(g)->idx.slots = slots;
    priv(g)->idx.cap = cap;
    return KS_OK;
}

ks_status ks__graph_create(ks_context *ctx, const char *source, ks_graph **out) {
    *out = NULL;
    ks_graph_priv *p = ks__alloc(ctx, sizeof(*p));
    if (!p)
        return ks__oom(ctx, sizeof(*p), "graph");
    p->g.ctx = ctx;
    p->g.source = ks__strdup(ctx, source ? source : "<memory>");
    p->g.producer = ks__strdup(ctx, "");
    if (!p->g.source || !p->g.producer) {
        ks__graph_destroy(&p->g);
        return ks__oom(ctx, 64, "graph");
    }
    *out = &p->g;
    return KS_OK;
}

static void attr_free(ks_context *ctx, ks_attr *a) {
    ks__free(ctx, a->name);
    ks__free(ctx, a->s);
    ks__free(ctx, a->ints);
    ks__free(ctx, a->floats);
    for (int64_t i = 0; a->strings && i < a->n; i++)
        ks__free(ctx, a->strings[i]);
    ks__free(ctx, a->strings);
    ks__free(ctx, a->t.data);
}

void ks__node_free(ks_context *ctx, ks_node *n) {
    if (n->plugin && ks__plugin_node_release)
        ks__plugin_node_release(ctx, n);
    ks__free(ctx, n->name);
    ks__free(ctx, n->op_type);
    ks__free(ctx, n->domain);
    ks__free(ctx, n->inputs);
    ks__free(ctx, n->outputs);
    for (int a = 0; a < n->n_attrs; a++)
        attr_free(ctx, &n->attrs[a]);
    ks__free(ctx, n->attrs);
    memset(n, 0, sizeof(*n));
}

void ks__graph_destroy(ks_graph *g) {
    if (!g)
        return;
    ks_context *ctx = g->ctx;
    for (int i = 0; i < g->n_values; i++) {
        ks_value *v = &g->values[i];
        ks__free(ctx, v->name);
        for (int d = 0; d < KS_MAX_DIMS; d++)
            ks__free(ctx, v->dim_names[d]);
        if (v->is_const)
            ks__free(ctx, v->t.data);
    }
    for (int i = 0; i < g->n_nodes; i++)
        ks__node_free(ctx, &g->nodes[i]);
    ks__free(ctx, g->values);
    ks__free(ctx, g->nodes);
    ks__free(ctx, g->inputs);
    ks__free(ctx, g->outputs);
    ks__free(ctx, g->source);
    ks__free(ctx, g->producer);
    ks__free(ctx, priv(g)->idx.slots);
    ks__free(ctx, g);
}

int ks__graph_find_value(const ks_graph *g, const char *name) {
    const name_index *ix = &priv(g)->idx;
    if (!name || !ix->cap)
        return -1;
    int i = (int)(hash_str(name) & (uint64_t)(ix->cap - 1));
    while (ix->slots[i]) {
        int v = ix->slots[i] - 1;
        if (strcmp(g->values[v].name, name) == 0)
            return v;
        i = (i + 1) & (ix->cap - 1);
    }
    return -1;
}

ks_status ks__graph_add_value(ks_graph *g, const char *name, int allow_existing, int *id) {
    if (!name)
        name = "";
    int ex = ks__graph_find_value(g, name);
    if (ex >= 0) {
        if (allow_existing) {
            *id = ex;
            return KS_OK;
        }
        return ks__error(g->ctx, KS_INVALID_MODEL, "%s: tensor '%s' is defined twice", g->source,
                         name);
    }
    if (g->n_values == g->cap_values) {
        int nc = g->cap_values ? g->cap_values * 2 : 64;
        ks_value *nv = ks__realloc(g->ctx, g->values, (size_t)nc * sizeof(ks_value));
        if (!nv)
            return ks__oom(g->ctx, (size_t)nc * sizeof(ks_value), "graph values");
        g->values = nv;
        g->cap_values = nc;
    }
    ks_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof(*v));
    v->name = ks__strdup(g->ctx, name);
    if (!v->name)
        return ks__oom(g->ctx, strlen(name), "value name");
    v->producer = -1;
    v->t.ndim = -1;
    g->n_values++;
    /* keep the load factor under 1/2 */
    name_index *ix = &priv(g)->idx;
    if (g->n_values * 2 > ix->cap) {
        ks_status st = index_rebuild(g, ix->cap ? ix->cap * 2 : 128);
        if (st != KS_OK) {
            g->n_values--;
            ks__free(g->ctx, v->name);
            return st;
        }
    } else {
        int i = (int)(hash_str(name) & (uint64_t)(ix->cap - 1));
        while (ix->slots[i])
            i = (i + 1) & (ix->cap - 1);
        ix->slots[i] = g->n_values;
    }
    *id = g->n_values - 1;
    return KS_OK;
}

ks_status ks__graph_add_const(ks_graph *g, const char *name, const ks_tensor *t, int *id) {
    int vid;
    KS_CHECK(ks__graph_add_value(g, name, 0, &vid));
    ks_value *v = &g->values[vid];
    v->t = *t;
    v->t.data = NULL;
    size_t nb = ks_tensor_nbytes(t);
    if (ks_tensor_numel(t) < 0)
        return ks__error(g->ctx, KS_INVALID_MODEL, "%s: constant '%s' has an invalid shape",
                         g->source, name);
    v->t.data = ks__alloc(g->ctx, nb ? nb : 1);
    if (!v->t.data)
        return ks__oom(g->ctx, nb, name);
    if (nb && t->data)
        memcpy(v->t.data, t->data, nb);
    v->is_const = 1;
    if (id)
        *id = vid;
    return KS_OK;
}

ks_status ks__graph_add_node(ks_graph *g, const char *name, const char *op_type,
                             const char *domain, int opset, int n_inputs, const int *inputs,
                             int n_outputs, const int *outputs, int *node_idx) {
    if (n_inputs < 0 || n_outputs < 0)
        return ks__error(g->ctx, KS_INVALID_MODEL, "%s: negative input/output count", g->source);
    if (g->n_nodes == g->cap_nodes) {
        int nc = g->cap_nodes ? g->cap_nodes * 2 : 64;
        ks_node *nn = ks__realloc(g->ctx, g->nodes, (size_t)nc * sizeof(ks_node));
        if (!nn)
            return ks__oom(g->ctx, (size_t)nc * sizeof(ks_node), "graph nodes");
        g->nodes = nn;
        g->cap_nodes = nc;
    }
    ks_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof(*n));
    char synth[64];
    if (!name || !*name) {
        snprintf(synth, sizeof synth, "%s_%d", op_type ? op_type : "node", g->n_nodes);
        name = synth;
    }
    n->name = ks__strdup(g->ctx, name);
    n->op_type = ks__strdup(g->ctx, op_type ? op_type : "");
    n->domain = ks__strdup(g->ctx, domain ? domain : "");
    n->inputs = ks__alloc_array(g->ctx, (size_t)n_inputs, sizeof(int));
    n->outputs = ks__alloc_array(g->ctx, (size_t)n_outputs, sizeof(int));
    g->n_nodes++; /* owned by the graph from here on, freed by destroy */
    if (!n->name || !n->op_type || !n->domain || !n->inputs || !n->outputs)
        return ks__oom(g->ctx, 0, "graph node");
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    if (n_inputs)
        memcpy(n->inputs, inputs, (size_t)n_inputs * sizeof(int));
    if (n_outputs)
        memcpy(n->outputs, outputs, (size_t)n_outputs * sizeof(int));
    n->opset = opset;
    n->op = (domain && *domain && strcmp(domain, "ai.onnx") != 0) ? KS_OP_COUNT
                                                                   : ks__op_from_name(op_type);
    if (node_idx)
        *node_idx = g->n_nodes - 1;
    return KS_OK;
}

ks_status ks__node_add_attr(ks_graph *g, int node_idx, const ks_attr *a) {
    ks_context *ctx = g->ctx;
    ks_node *n = &g->nodes[node_idx];
    ks_attr *na = ks__realloc(ctx, n->attrs, (size_t)(n->n_attrs + 1) * sizeof(ks_attr));
    if (!na)
        return ks__oom(ctx, 0, "attribute");
    n->attrs = na;
    ks_attr *d = &na[n->n_attrs];
    memset(d, 0, sizeof(*d));
    n->n_attrs++;
    d->type = a->type;
    d->i = a->i;
    d->f = a->f;
    d->n = a->n < 0 ? 0 : a->n;
    d->name = ks__strdup(ctx, a->name);
    if (!d->name)
        return ks__oom(ctx, 0, "attribute name");
    if (a->s && !(d->s = ks__strdup(ctx, a->s)))
        return ks__oom(ctx, 0, "attribute string");
    if (a->ints && d->n) {
        if (!(d->ints = ks__alloc_array(ctx, (size_t)d->n, sizeof(int64_t))))
            return ks__oom(ctx, 0, "attribute ints");
        memcpy(d->ints, a->ints, (size_t)d->n * sizeof(int64_t));
    }
    if (a->floats && d->n) {
        if (!(d->floats = ks__alloc_array(ctx, (size_t)d->n, sizeof(float))))
            return ks__oom(ctx, 0, "attribute floats");
        memcpy(d->floats, a->floats, (size_t)d->n * sizeof(float));
    }
    if (a->strings && d->n) {
        if (!(d->strings = ks__alloc_array(ctx, (size_t)d->n, sizeof(char *))))
            return ks__oom(ctx, 0, "attribute strings");
        for (int64_t i = 0; i < d->n; i++)
            if (!(d->strings[i] = ks__strdup(ctx, a->strings[i])))
                return ks__oom(ctx, 0, "attribute strings");
    }
    if (a->type == KS_ATTR_TENSOR) {
        d->t = a->t;
        d->t.data = NULL;
        size_t nb = ks_tensor_nbytes(&a->t);
        if (ks_tensor_numel(&a->t) < 0)
            return ks__error(ctx, KS_INVALID_MODEL, "%s: attribute '%s' tensor has invalid shape",
                             g->source, a->name);
        if (!(d->t.data = ks__alloc(ctx, nb ? nb : 1)))
            return ks__oom(ctx, nb, "attribute tensor");
        if (nb && a->t.data)
            memcpy(d->t.data, a->t.data, nb);
    }
    return KS_OK;
}

ks_status ks__graph_toposort(ks_graph *g) {
    ks_context *ctx = g->ctx;
    int nn = g->n_nodes;
    ks_status st = KS_OK;
    for (int v = 0; v < g->n_values; v++)
        g->values[v].producer = -1;
    for (int i = 0; i < nn; i++) {
        ks_node *n = &g->nodes[i];
        for (int o = 0; o < n->n_outputs; o++) {
            int v = n->outputs[o];
            if (v < 0)
                continue;
            if (v >= g->n_values)
                return ks__node_error(g, n, KS_INVALID_MODEL, "output id out of range");
            if (g->values[v].producer >= 0 || g->values[v].is_const)
                return ks__node_error(g, n, KS_INVALID_MODEL,
                                      "output '%s' is already produced by another node or is an initializer",
                                      g->values[v].name);
            g->values[v].producer = i;
        }
    }
    int *is_input = ks__alloc_array(ctx, (size_t)g->n_values, sizeof(int));
    int *indeg = ks__alloc_array(ctx, (size_t)nn, sizeof(int));
    int *order = ks__alloc_array(ctx, (size_t)nn, sizeof(int));
    int *queue = ks__alloc_array(ctx, (size_t)nn, sizeof(int));
    /* consumer adjacency in CSR form */
    int *cnt = ks__alloc_array(ctx, (size_t)nn + 1, sizeof(int));
    int n_edges = 0;
    for (int i = 0; i < nn; i++)
        n_edges += g->nodes[i].n_inputs;
    int *adj = ks__alloc_array(ctx, (size_t)n_edges + 1, sizeof(int));
    if (!is_input || !indeg || !order || !queue || !cnt || !adj) {
        st = ks__oom(ctx, 0, "topological sort");
        goto done;
    }
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] >= 0 && g->inputs[i] < g->n_values)
            is_input[g->inputs[i]] = 1;
    for (int i = 0; i < nn; i++) {
        ks_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v < 0)
                continue;
            if (v >= g->n_values) {
                st = ks__node_error(g, n, KS_INVALID_MODEL, "input id out of range");
                goto done;
            }
            int p = g->values[v].producer;
            if (p < 0 && !g->values[v].is_const && !is_input[v]) {
                st = ks__node_error(g, n, KS_INVALID_MODEL,
                                    "input '%s' is not a graph input, an initializer or the output of any node",
                                    g->values[v].name);
                goto done;
            }
            if (p >= 0) {
                indeg[i]++;
                cnt[p + 1]++;
            }
        }
    }
    for (int i = 0; i < nn; i++)
        cnt[i + 1] += cnt[i];
    {
        int *fill = queue; /* reuse as cursor */
        for (int i = 0; i < nn; i++)
            fill[i] = cnt[i];
        for (int i = 0; i < nn; i++) {
            ks_node *n = &g->nodes[i];
            for (int k = 0; k < n->n_inputs; k++) {
                int v = n->inputs[k];
                if (v < 0)
                    continue;
                int p = g->values[v].producer;
                if (p >= 0)
                    adj[fill[p]++] = i;
            }
        }
    }
    int head = 0, tail = 0;
    for (int i = 0; i < nn; i++)
        if (indeg[i] == 0)
            queue[tail++] = i;
    while (head < tail) {
        int i = queue[head++];
        order[head - 1] = i;
        for (int e = cnt[i]; e < cnt[i + 1]; e++)
            if (--indeg[adj[e]] == 0)
                queue[tail++] = adj[e];
    }
    if (head != nn) {
        for (int i = 0; i < nn; i++)
            if (indeg[i] > 0) {
                st = ks__node_error(g, &g->nodes[i], KS_INVALID_MODEL,
                                    "the graph has a cycle through this node");
                break;
            }
        goto done;
    }
    {
        ks_node *sorted = ks__alloc_array(ctx, (size_t)(nn ? nn : 1), sizeof(ks_node));
        if (!sorted) {
            st = ks__oom(ctx, 0, "topological sort");
            goto done;
        }
        for (int i = 0; i < nn; i++)
            sorted[i] = g->nodes[order[i]];
        ks__free(ctx, g->nodes);
        g->nodes = sorted;
        g->cap_nodes = nn ? nn : 1;
        for (int i = 0; i < nn; i++)
            for (int o = 0; o < g->nodes[i].n_outputs; o++)
                if (g->nodes[i].outputs[o] >= 0)
                    g->values[g->nodes[i].outputs[o]].producer = i;
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        if (v < 0 || v >= g->n_values ||
            (g->values[v].producer < 0 && !g->values[v].is_const && !is_input[v])) {
            st = ks__error(ctx, KS_INVALID_MODEL, "%s: graph output '%s' is never produced",
                           g->source, (v >= 0 && v < g->n_values) ? g->values[v].name : "?");
            goto done;
        }
    }
done:
    ks__free(ctx, is_input);
    ks__free(ctx, indeg);
    ks__free(ctx, order);
    ks__free(ctx, queue);
    ks__free(ctx, cnt);
    ks__free(ctx, adj);
    return st;
}

/* ---- op table ---- */
static const char *const op_names[] = {
#define X(e, name, fn, flags) name,
#include "graph/ops.def"
#undef X
};
static const int op_flags[] = {
#define X(e, name, fn, flags) flags,
#include "graph/ops.def"
#undef X
};
_Static_assert(KS_ARRAY_LEN(op_names) == KS_OP_COUNT, "op name table");
_Static_assert(KS_ARRAY_LEN(op_flags) == KS_OP_COUNT, "op flag table");

ks_op ks__op_from_name(const char *op_type) {
    if (!op_type)
        return KS_OP_COUNT;
    for (int i = 0; i < KS_OP_COUNT; i++)
        if (i != KS_OP_PLUGIN && strcmp(op_names[i], op_type) == 0)
            return (ks_op)i;
    return KS_OP_COUNT;
}
const char *ks__op_name(ks_op op) { return (unsigned)op < KS_OP_COUNT ? op_names[op] : "?"; }
int ks__op_flags(ks_op op) { return (unsigned)op < KS_OP_COUNT ? op_flags[op] : 0; }

ks_op_fn ks__op_infer_fn(ks_op op) {
    switch (op) {
#define X(e, name, fn, flags) \
    case KS_OP_##e:           \
        return ks__infer_##fn;
#include "graph/ops.def"
#undef X
    default:
        return NULL;
    }
}

ks_op_fn ks__op_cpu_fn(ks_op op) {
    switch (op) {
#define X(e, name, fn, flags) \
    case KS_OP_##e:           \
        return ks__cpu_##fn;
#include "graph/ops.def"
#undef X
    default:
        return NULL;
    }
}

static ks_status node_verror(const ks_graph *g, const ks_node *n, ks_status st, const char *fmt,
                             va_list ap) {
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return ks__error(g->ctx, st, "%s: node '%s' (%s%s%s, opset %d): %s", g->source, n->name,
                     n->domain && *n->domain ? n->domain : "", n->domain && *n->domain ? "::" : "",
                     n->op_type, n->opset, msg);
}

ks_status ks__node_error(const ks_graph *g, const ks_node *n, ks_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    node_verror(g, n, st, fmt, ap);
    va_end(ap);
    return st;
}

ks_status ks__op_error(const ks_op_ctx *oc, ks_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    node_verror(oc->graph, oc->node, st, fmt, ap);
    va_end(ap);
    return st;
}
