/* Plugin registry: per-context descriptors, preferences, loaded libraries,
 * per-node plugin objects, and the KS_OP_PLUGIN op functions. */
#include "plugins/registry.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct ks_plugin_registry {
    const ks_plugin_desc **descs;
    int n_descs, cap_descs;
    char **prefer; /* op types to take from plugins */
    int n_prefer;
    void **libs; /* dlopen handles */
    int n_libs;
} ks_plugin_registry;

static ks_plugin_registry *reg_get(ks_context *ctx, int create) {
    if (!ctx->plugins && create)
        ctx->plugins = ks__alloc(ctx, sizeof(ks_plugin_registry));
    return ctx->plugins;
}

static const char *ns_of(const ks_plugin_desc *d) {
    return d->plugin_namespace ? d->plugin_namespace : "";
}

ks_status ks_plugin_register(ks_context *ctx, const ks_plugin_desc *d) {
    if (!ctx)
        return KS_INVALID_ARGUMENT;
    if (!d)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks_plugin_register: NULL descriptor");
    if (d->api_version != KS_PLUGIN_API_VERSION)
        return ks__error(ctx, KS_VERSION_MISMATCH,
                         "plugin '%s': api_version %d, this library implements %d",
                         d->name ? d->name : "?", d->api_version, KS_PLUGIN_API_VERSION);
    const char *missing = !d->name || !*d->name ? "name"
                          : !d->create          ? "create"
                          : !d->deserialize     ? "deserialize"
                          : !d->serialize       ? "serialize"
                          : !d->clone           ? "clone"
                          : !d->destroy         ? "destroy"
                          : !d->infer_shapes    ? "infer_shapes"
                          : !d->run_cpu         ? "run_cpu"
                                                : NULL;
    if (missing)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "plugin '%s': required member '%s' is not set",
                         d->name ? d->name : "?", missing);
    ks_plugin_registry *r = reg_get(ctx, 1);
    if (!r)
        return ks__oom(ctx, sizeof(*r), "plugin registry");
    for (int i = 0; i < r->n_descs; i++) {
        if (!strcmp(r->descs[i]->name, d->name) && !strcmp(ns_of(r->descs[i]), ns_of(d))) {
            r->descs[i] = d; /* replace */
            return KS_OK;
        }
    }
    if (r->n_descs == r->cap_descs) {
        int nc = r->cap_descs ? r->cap_descs * 2 : 8;
        const ks_plugin_desc **nd = ks__realloc(ctx, r->descs, (size_t)nc * sizeof(*nd));
        if (!nd)
            return ks__oom(ctx, (size_t)nc * sizeof(*nd), "plugin registry");
        r->descs = nd;
        r->cap_descs = nc;
    }
    r->descs[r->n_descs++] = d;
    ks__log(ctx, KS_LOG_INFO, "registered plugin %s%s%s v%d", ns_of(d), *ns_of(d) ? "::" : "",
            d->name, d->version);
    return KS_OK;
}

ks_status ks_plugin_load_library(ks_context *ctx, const char *path) {
    if (!ctx)
        return KS_INVALID_ARGUMENT;
    if (!path)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks_plugin_load_library: NULL path");
    ks_plugin_registry *r = reg_get(ctx, 1);
    if (!r)
        return ks__oom(ctx, sizeof(*r), "plugin registry");
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        return ks__error(ctx, KS_IO_ERROR, "%s: cannot load plugin library: %s", path,
                         e ? e : "unknown error");
    }
    ks_plugin_library_register_fn fn;
    *(void **)&fn = dlsym(h, KS_PLUGIN_LIBRARY_ENTRY);
    if (!fn) {
        dlclose(h);
        return ks__error(ctx, KS_NOT_FOUND, "%s: no exported '%s' function", path,
                         KS_PLUGIN_LIBRARY_ENTRY);
    }
    void **nl = ks__realloc(ctx, r->libs, (size_t)(r->n_libs + 1) * sizeof(void *));
    if (!nl) {
        dlclose(h);
        return ks__oom(ctx, 0, "plugin library list");
    }
    r->libs = nl;
    r->libs[r->n_libs++] = h; /* kept even if registration fails half-way */
    ks_status st = fn(ctx);
    if (st != KS_OK)
        return ks__error_prefix(ctx, "%s: %s failed", path, KS_PLUGIN_LIBRARY_ENTRY);
    return KS_OK;
}

ks_status ks_plugin_prefer(ks_context *ctx, const char *op_type, int prefer) {
    if (!ctx)
        return KS_INVALID_ARGUMENT;
    if (!op_type)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks_plugin_prefer: NULL op type");
    ks_plugin_registry *r = reg_get(ctx, 1);
    if (!r)
        return ks__oom(ctx, sizeof(*r), "plugin registry");
    for (int i = 0; i < r->n_prefer; i++) {
        if (!strcmp(r->prefer[i], op_type)) {
            if (!prefer) {
                ks__free(ctx, r->prefer[i]);
                r->prefer[i] = r->prefer[--r->n_prefer];
            }
            return KS_OK;
        }
    }
    if (!prefer)
        return KS_OK;
    if (!ks_plugin_find(ctx, NULL, op_type) && ks_plugin_builtin(op_type))
        KS_CHECK(ks_plugin_register(ctx, ks_plugin_builtin(op_type)));
    char **np = ks__realloc(ctx, r->prefer, (size_t)(r->n_prefer + 1) * sizeof(char *));
    if (!np)
        return ks__oom(ctx, 0, "plugin preferences");
    r->prefer = np;
    if (!(np[r->n_prefer] = ks__strdup(ctx, op_type)))
        return ks__oom(ctx, 0, "plugin preferences");
    r->n_prefer++;
    return KS_OK;
}

/* Built-in plugins (each in its own folder). */
const ks_plugin_desc *ks__prelu_plugin_desc(void);

const ks_plugin_desc *ks_plugin_builtin(const char *name) {
    if (!name)
        return NULL;
    if (!strcmp(name, "PRelu"))
        return ks__prelu_plugin_desc();
    return NULL;
}

const ks_plugin_desc *ks_plugin_find(ks_context *ctx, const char *ns, const char *name) {
    ks_plugin_registry *r = ctx ? ctx->plugins : NULL;
    if (!r || !name)
        return NULL;
    for (int i = r->n_descs - 1; i >= 0; i--)
        if (!strcmp(r->descs[i]->name, name) && (!ns || !strcmp(ns_of(r->descs[i]), ns)))
            return r->descs[i];
    return NULL;
}

int ks_plugin_count(ks_context *ctx) {
    ks_plugin_registry *r = ctx ? ctx->plugins : NULL;
    return r ? r->n_descs : 0;
}

ks_status ks_plugin_error(ks_context *ctx, ks_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ks_status r = ks__verror(ctx, st == KS_OK ? KS_INTERNAL : st, fmt, ap);
    va_end(ap);
    return r;
}

void *ks_plugin_alloc(ks_context *ctx, size_t n) { return ctx ? ks__alloc(ctx, n) : NULL; }
void ks_plugin_free(ks_context *ctx, void *p) {
    if (ctx)
        ks__free(ctx, p);
}

const ks_plugin_attr *ks_plugin_attr_find(const ks_plugin_attr *attrs, int n, const char *key) {
    for (int i = 0; attrs && key && i < n; i++)
        if (attrs[i].key && !strcmp(attrs[i].key, key))
            return &attrs[i];
    return NULL;
}

void ks__plugins_destroy(ks_context *ctx) {
    ks_plugin_registry *r = ctx->plugins;
    if (!r)
        return;
    for (int i = 0; i < r->n_prefer; i++)
        ks__free(ctx, r->prefer[i]);
    ks__free(ctx, r->prefer);
    ks__free(ctx, r->descs);
    for (int i = r->n_libs - 1; i >= 0; i--)
        dlclose(r->libs[i]);
    ks__free(ctx, r->libs);
    ks__free(ctx, r);
    ctx->plugins = NULL;
}

/* ------------------------------------------------------------ nodes */

static int opset_ok(const ks_plugin_desc *d, int opset) {
    return (!d->min_opset || opset >= d->min_opset) && (!d->max_opset || opset <= d->max_opset);
}

static const ks_plugin_desc *match(ks_context *ctx, const char *domain, const char *op_type,
                                   int opset) {
    ks_plugin_registry *r = ctx->plugins;
    if (!r || !op_type)
        return NULL;
    const char *dom = domain ? domain : "";
    const ks_plugin_desc *any = NULL;
    for (int i = r->n_descs - 1; i >= 0; i--) {
        const ks_plugin_desc *d = r->descs[i];
        if (strcmp(d->name, op_type) || !opset_ok(d, opset))
            continue;
        if (!strcmp(ns_of(d), dom))
            return d; /* exact namespace match wins */
        if (!*ns_of(d) && !any)
            any = d;  /* "" claims the op in any domain */
    }
    return any;
}

static ks_status node_new(ks_context *ctx, const ks_plugin_desc *d, ks_plugin_node **out) {
    ks_plugin_node *pn = ks__alloc(ctx, sizeof(*pn));
    if (!pn)
        return ks__oom(ctx, sizeof(*pn), "plugin node");
    pn->desc = d;
    *out = pn;
    return KS_OK;
}

int ks__plugin_lookup(ks_context *ctx, const char *domain, const char *op_type, int opset,
                      void **plugin_out) {
    *plugin_out = NULL;
    const ks_plugin_desc *d = match(ctx, domain, op_type, opset);
    if (!d)
        return 0;
    ks_plugin_node *pn;
    if (node_new(ctx, d, &pn) != KS_OK)
        return 0;
    *plugin_out = pn;
    return 1;
}

int ks__plugin_preferred(ks_context *ctx, const char *op_type) {
    ks_plugin_registry *r = ctx ? ctx->plugins : NULL;
    if (!r || !op_type)
        return 0;
    for (int i = 0; i < r->n_prefer; i++)
        if (!strcmp(r->prefer[i], op_type))
            return ks_plugin_find(ctx, NULL, op_type) != NULL;
    return 0;
}

ks_status ks__plugins_apply_preferences(ks_context *ctx, ks_graph *g, int *n_replaced) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        ks_node *nd = &g->nodes[i];
        if (nd->op == KS_OP_PLUGIN || !ks__plugin_preferred(ctx, nd->op_type))
            continue;
        void *pn = NULL;
        if (!ks__plugin_lookup(ctx, nd->domain, nd->op_type, nd->opset, &pn) || !pn)
            return ks__node_error(g, nd, KS_NOT_FOUND, "no plugin for preferred op '%s'",
                                  nd->op_type);
        nd->op = KS_OP_PLUGIN;
        nd->plugin = pn;
        n++;
    }
    if (n_replaced)
        *n_replaced = n;
    return KS_OK;
}

ks_status ks__plugin_node_create(ks_context *ctx, const char *domain, const char *op_type,
                                 const ks_plugin_attr *attrs, int n_attrs, ks_plugin_node **out) {
    *out = NULL;
    const ks_plugin_desc *d = match(ctx, domain, op_type, 0);
    if (!d)
        d = ks_plugin_find(ctx, NULL, op_type);
    if (!d)
        return ks__error(ctx, KS_NOT_FOUND, "no plugin registered for op '%s'", op_type);
    ks_plugin_node *pn;
    KS_CHECK(node_new(ctx, d, &pn));
    ks_status st = d->create(ctx, attrs, n_attrs, &pn->instance);
    if (st != KS_OK || !pn->instance) {
        ks__free(ctx, pn);
        if (st == KS_OK)
            st = ks__error(ctx, KS_INTERNAL, "plugin '%s': create returned no instance", d->name);
        return ks__error_prefix(ctx, "plugin '%s'", d->name);
    }
    *out = pn;
    return KS_OK;
}

void ks__plugin_node_free(ks_context *ctx, ks_plugin_node *pn) {
    if (!pn)
        return;
    if (pn->instance)
        pn->desc->destroy(pn->instance);
    ks__free(ctx, pn);
}

void ks__plugin_node_release(ks_context *ctx, ks_node *n) {
    ks__plugin_node_free(ctx, n->plugin);
    n->plugin = NULL;
}

void *ks__plugin_clone_instance(ks_context *ctx, void *plugin) {
    ks_plugin_node *src = plugin, *pn;
    if (!src || node_new(ctx, src->desc, &pn) != KS_OK)
        return NULL;
    if (src->instance && src->desc->clone(src->instance, &pn->instance) != KS_OK) {
        ks__free(ctx, pn);
        return NULL;
    }
    return pn;
}

/* Node attributes -> plugin key/value list (borrowed pointers). */
static ks_status attrs_of(ks_context *ctx, const ks_node *n, ks_plugin_attr **out, int *n_out) {
    *out = NULL;
    *n_out = 0;
    if (!n->n_attrs)
        return KS_OK;
    ks_plugin_attr *a = ks__alloc_array(ctx, (size_t)n->n_attrs, sizeof(*a));
    if (!a)
        return ks__oom(ctx, 0, "plugin attributes");
    int k = 0;
    for (int i = 0; i < n->n_attrs; i++) {
        const ks_attr *s = &n->attrs[i];
        ks_plugin_attr *d = &a[k];
        d->key = s->name;
        switch (s->type) {
        case KS_ATTR_INT: d->type = KS_PLUGIN_ATTR_INT; d->i = s->i; break;
        case KS_ATTR_FLOAT: d->type = KS_PLUGIN_ATTR_FLOAT; d->f = s->f; break;
        case KS_ATTR_STRING: d->type = KS_PLUGIN_ATTR_STRING; d->s = s->s; break;
        case KS_ATTR_INTS: d->type = KS_PLUGIN_ATTR_INTS; d->n = s->n; d->ints = s->ints; break;
        case KS_ATTR_FLOATS:
            d->type = KS_PLUGIN_ATTR_FLOATS;
            d->n = s->n;
            d->floats = s->floats;
            break;
        default:
            continue; /* tensors / string lists are not passed to plugins */
        }
        k++;
    }
    *out = a;
    *n_out = k;
    return KS_OK;
}

ks_status ks__plugin_node_instance(ks_context *ctx, const ks_graph *g, const ks_node *n,
                                   ks_plugin_node **out) {
    ks_plugin_node *pn = n->plugin;
    if (!pn)
        return ks__node_error(g, n, KS_INTERNAL, "plugin node without a plugin");
    if (!pn->instance) {
        ks_plugin_attr *a;
        int na;
        KS_CHECK(attrs_of(ctx, n, &a, &na));
        ks_status st = pn->desc->create(ctx, a, na, &pn->instance);
        ks__free(ctx, a);
        if (st != KS_OK || !pn->instance) {
            char msg[KS_ERR_MSG_BYTES];
            snprintf(msg, sizeof msg, "%s", st != KS_OK ? ks_context_last_error(ctx) : "no instance");
            return ks__node_error(g, n, st != KS_OK ? st : KS_INTERNAL, "plugin '%s' create: %s",
                                  pn->desc->name, msg);
        }
    }
    *out = pn;
    return KS_OK;
}

/* Gathers op-ctx inputs into a dense array; NULL inputs become UNDEFINED. */
static ks_status gather(ks_op_ctx *oc, ks_tensor **in, ks_tensor **out) {
    *in = ks__alloc_array(oc->ctx, (size_t)oc->n_in + 1, sizeof(ks_tensor));
    *out = ks__alloc_array(oc->ctx, (size_t)oc->n_out + 1, sizeof(ks_tensor));
    if (!*in || !*out) {
        ks__free(oc->ctx, *in);
        ks__free(oc->ctx, *out);
        return ks__oom(oc->ctx, 0, "plugin call");
    }
    for (int i = 0; i < oc->n_in; i++) {
        if (oc->in[i])
            (*in)[i] = *oc->in[i];
        else
            (*in)[i].dtype = KS_DTYPE_UNDEFINED;
    }
    for (int i = 0; i < oc->n_out; i++)
        (*out)[i] = *oc->out[i];
    return KS_OK;
}

static ks_status wrap_err(ks_op_ctx *oc, const ks_plugin_node *pn, ks_status st, const char *what) {
    char msg[KS_ERR_MSG_BYTES];
    snprintf(msg, sizeof msg, "%s", ks_context_last_error(oc->ctx));
    return ks__op_error(oc, st, "plugin '%s' %s: %s", pn->desc->name, what, msg);
}

ks_status ks__infer_plugin(ks_op_ctx *oc) {
    ks_plugin_node *pn;
    KS_CHECK(ks__plugin_node_instance(oc->ctx, oc->graph, oc->node, &pn));
    if (pn->desc->n_outputs && pn->desc->n_outputs != oc->n_out)
        return ks__op_error(oc, KS_INVALID_MODEL, "plugin '%s' has %d outputs, the node %d",
                            pn->desc->name, pn->desc->n_outputs, oc->n_out);
    ks_tensor *in, *out;
    KS_CHECK(gather(oc, &in, &out));
    for (int i = 0; i < oc->n_out; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].ndim = -1;
    }
    ks_status st = pn->desc->infer_shapes(oc->ctx, pn->instance, oc->n_in, in, oc->n_out, out);
    if (st == KS_OK) {
        for (int i = 0; i < oc->n_out; i++) {
            if (out[i].ndim < -1 || out[i].ndim > KS_MAX_DIMS) {
                st = ks__op_error(oc, KS_INTERNAL, "plugin '%s' inferred rank %d",
                                  pn->desc->name, out[i].ndim);
                break;
            }
            oc->out[i]->dtype = out[i].dtype;
            oc->out[i]->ndim = out[i].ndim;
            memcpy(oc->out[i]->dims, out[i].dims, sizeof out[i].dims);
        }
    } else {
        st = wrap_err(oc, pn, st, "shape inference");
    }
    ks__free(oc->ctx, in);
    ks__free(oc->ctx, out);
    return st;
}

ks_status ks__cpu_plugin(ks_op_ctx *oc) {
    ks_plugin_node *pn;
    KS_CHECK(ks__plugin_node_instance(oc->ctx, oc->graph, oc->node, &pn));
    ks_tensor *in, *out;
    KS_CHECK(gather(oc, &in, &out));
    ks_status st = pn->desc->run_cpu(oc->ctx, pn->instance, oc->n_in, in, oc->n_out, out);
    if (st != KS_OK)
        st = wrap_err(oc, pn, st, "run_cpu");
    ks__free(oc->ctx, in);
    ks__free(oc->ctx, out);
    return st;
}

ks_status ks__plugin_node_run_cuda(ks_context *ctx, ks_plugin_node *pn, int n_in,
                                   const ks_tensor *in, int n_out, ks_tensor *out,
                                   void *workspace, void *stream) {
    if (!pn || !pn->instance)
        return ks__error(ctx, KS_INTERNAL, "plugin node without an instance");
    if (!pn->desc->run_cuda)
        return ks__error(ctx, KS_UNSUPPORTED_OP, "plugin '%s' has no CUDA implementation",
                         pn->desc->name);
    return pn->desc->run_cuda(ctx, pn->instance, n_in, in, n_out, out, workspace, stream);
}

size_t ks__plugin_node_workspace_bytes(ks_plugin_node *pn, int n_in, const ks_tensor *in,
                                       int n_out, const ks_tensor *out) {
    if (!pn || !pn->instance || !pn->desc->workspace_bytes)
        return 0;
    return pn->desc->workspace_bytes(pn->instance, n_in, in, n_out, out);
}

ks_status ks__plugin_node_serialize(ks_context *ctx, const ks_plugin_node *pn, void **bytes,
                                    size_t *n_bytes) {
    *bytes = NULL;
    *n_bytes = 0;
    if (!pn || !pn->instance)
        return ks__error(ctx, KS_INTERNAL, "plugin node without an instance");
    size_t n = 0;
    KS_CHECK(pn->desc->serialize(pn->instance, NULL, 0, &n));
    void *b = ks__alloc(ctx, n ? n : 1);
    if (!b)
        return ks__oom(ctx, n, "plugin parameters");
    size_t n2 = 0;
    ks_status st = pn->desc->serialize(pn->instance, b, n, &n2);
    if (st == KS_OK && n2 != n)
        st = ks__error(ctx, KS_INTERNAL, "plugin '%s': serialize size changed (%zu then %zu)",
                       pn->desc->name, n, n2);
    if (st != KS_OK) {
        ks__free(ctx, b);
        return st;
    }
    *bytes = b;
    *n_bytes = n;
    return KS_OK;
}

ks_status ks__plugin_node_deserialize(ks_context *ctx, const char *ns, const char *name,
                                      int version, const void *bytes, size_t n_bytes,
                                      ks_plugin_node **out) {
    *out = NULL;
    const ks_plugin_desc *d = ks_plugin_find(ctx, ns ? ns : "", name);
    if (!d)
        return ks__error(ctx, KS_NOT_FOUND,
                         "the engine uses plugin '%s%s%s' which is not registered on this context",
                         ns && *ns ? ns : "", ns && *ns ? "::" : "", name);
    if (d->version != version)
        return ks__error(ctx, KS_VERSION_MISMATCH,
                         "plugin '%s': the engine was built with version %d, registered is %d",
                         name, version, d->version);
    ks_plugin_node *pn;
    KS_CHECK(node_new(ctx, d, &pn));
    ks_status st = d->deserialize(ctx, bytes, n_bytes, &pn->instance);
    if (st != KS_OK || !pn->instance) {
        ks__free(ctx, pn);
        return st != KS_OK ? ks__error_prefix(ctx, "plugin '%s' deserialize", name)
                           : ks__error(ctx, KS_INTERNAL, "plugin '%s': no instance", name);
    }
    *out = pn;
    return KS_OK;
}
