/* Plugin layers in engine descriptions: writing a plugin node into a layer
 * record + the plugins section, and making the instance back from the
 * loading context's plugin registry, checked against the layer's tensors.
 * Host-only (no GPU), so loading errors are testable anywhere. */
#include <stdio.h>
#include <string.h>

#include "format/engine_format.h"
#include "plugins/registry.h"

static const char *ns_of(const ks_plugin_desc *p) {
    return p->plugin_namespace ? p->plugin_namespace : "";
}

ks_status ks__eng_add_plugin_layer(ks_eng_desc *d, const char *name, const ks_plugin_node *pn,
                                   int *layer_index) {
    ks_context *ctx = d->ctx;
    *layer_index = -1;
    void *bytes = NULL;
    size_t nb = 0;
    KS_CHECK(ks__plugin_node_serialize(ctx, pn, &bytes, &nb));
    int64_t off = d->n_plugin_bytes;
    int64_t need = off + (int64_t)nb;
    if (need > d->cap_plugin_bytes) {
        int64_t nc = d->cap_plugin_bytes ? d->cap_plugin_bytes : 256;
        while (nc < need)
            nc *= 2;
        uint8_t *np = ks__realloc(ctx, d->plugin_data, (size_t)nc);
        if (!np) {
            ks__free(ctx, bytes);
            return ks__oom(ctx, (size_t)nc, "plugin parameters");
        }
        d->plugin_data = np;
        d->cap_plugin_bytes = nc;
    }
    if (nb)
        memcpy(d->plugin_data + off, bytes, nb);
    ks__free(ctx, bytes);
    d->n_plugin_bytes = need;
    uint32_t so_name = ks__eng_add_string(d, pn->desc->name);
    uint32_t so_ns = ks__eng_add_string(d, ns_of(pn->desc));
    ks_eng_layer *l = ks__eng_add_layer(d, KS_LAYER_PLUGIN, name);
    if (so_name == UINT32_MAX || so_ns == UINT32_MAX || !l)
        return ks__oom(ctx, 0, "plugin layer");
    l->tactic = KS_TACTIC_DEFAULT;
    l->ip[KS_ENG_PLUGIN_IP_NAME] = so_name;
    l->ip[KS_ENG_PLUGIN_IP_NS] = so_ns;
    l->ip[KS_ENG_PLUGIN_IP_VERSION] = pn->desc->version;
    l->ip[KS_ENG_PLUGIN_IP_OFFSET] = off;
    l->ip[KS_ENG_PLUGIN_IP_BYTES] = (int64_t)nb;
    *layer_index = d->n_layers - 1;
    return KS_OK;
}

void ks__eng_layer_tensors(const ks_eng_desc *d, const ks_eng_layer *l, ks_tensor *in,
                           ks_tensor *out) {
    for (int k = 0; k < l->n_in; k++) {
        memset(&in[k], 0, sizeof in[k]);
        if (l->in[k] < 0) {
            in[k].dtype = KS_DTYPE_UNDEFINED;
            continue;
        }
        const ks_eng_tensor *t = &d->tensors[l->in[k]];
        in[k].dtype = (ks_dtype)t->dtype;
        in[k].ndim = t->ndim;
        memcpy(in[k].dims, t->dims, sizeof t->dims);
    }
    for (int k = 0; k < l->n_out; k++) {
        const ks_eng_tensor *t = &d->tensors[l->out[k]];
        memset(&out[k], 0, sizeof out[k]);
        out[k].dtype = (ks_dtype)t->dtype;
        out[k].ndim = t->ndim;
        memcpy(out[k].dims, t->dims, sizeof t->dims);
    }
}

static int supports(const ks_plugin_desc *p, const void *self, int pos, int n_in, int n_out,
                    ks_dtype dt) {
    if (!p->supports)
        return dt == KS_DTYPE_FLOAT32;
    return p->supports(self, pos, n_in, n_out, dt, KS_PLUGIN_LAYOUT_LINEAR) != 0;
}

/* The plugin must agree with the tensors the file gives it: dtypes it
 * supports, and outputs exactly as its shape inference makes them (it
 * writes that many bytes), workspace within what the engine reserves. */
static ks_status check_tensors(const ks_eng_desc *d, const ks_eng_layer *l, int li,
                               ks_plugin_node *pn) {
    ks_context *ctx = d->ctx;
    const char *nm = ks__eng_str(d, l->name), *pname = pn->desc->name;
    ks_tensor in[KS_ENG_MAX_IN], out[KS_ENG_MAX_OUT], inf[KS_ENG_MAX_OUT];
    ks__eng_layer_tensors(d, l, in, out);
    if (pn->desc->n_outputs && pn->desc->n_outputs != l->n_out)
        return ks__error(ctx, KS_CORRUPT_FILE,
                         "engine: layer %d '%s': plugin '%s' has %d outputs, the layer %d", li, nm,
                         pname, pn->desc->n_outputs, l->n_out);
    for (int k = 0; k < l->n_in + l->n_out; k++) {
        const ks_tensor *t = k < l->n_in ? &in[k] : &out[k - l->n_in];
        if (t->dtype == KS_DTYPE_UNDEFINED)
            continue;
        if (!supports(pn->desc, pn->instance, k, l->n_in, l->n_out, t->dtype))
            return ks__error(ctx, KS_CORRUPT_FILE,
                             "engine: layer %d '%s': plugin '%s' does not support %s at tensor %d",
                             li, nm, pname, ks_dtype_name(t->dtype), k);
    }
    for (int k = 0; k < l->n_out; k++) {
        memset(&inf[k], 0, sizeof inf[k]);
        inf[k].ndim = -1;
    }
    ks_status st = pn->desc->infer_shapes(ctx, pn->instance, l->n_in, in, l->n_out, inf);
    if (st != KS_OK) {
        ks__error_prefix(ctx, "engine: layer %d '%s': plugin '%s' shape inference", li, nm, pname);
        return st;
    }
    for (int k = 0; k < l->n_out; k++) {
        int same = inf[k].dtype == out[k].dtype && inf[k].ndim == out[k].ndim;
        for (int j = 0; same && j < out[k].ndim; j++)
            same = inf[k].dims[j] == out[k].dims[j];
        if (!same) {
            char a[96], b[96];
            return ks__error(ctx, KS_CORRUPT_FILE,
                             "engine: layer %d '%s': plugin '%s' output %d is %s %s, the file "
                             "says %s %s",
                             li, nm, pname, k, ks_dtype_name(inf[k].dtype),
                             inf[k].ndim >= 0 && inf[k].ndim <= KS_MAX_DIMS
                                 ? ks_shape_str(inf[k].dims, inf[k].ndim, a, sizeof a)
                                 : "?",
                             ks_dtype_name(out[k].dtype),
                             ks_shape_str(out[k].dims, out[k].ndim, b, sizeof b));
        }
    }
    size_t ws = ks__plugin_node_workspace_bytes(pn, l->n_in, in, l->n_out, out);
    if ((uint64_t)ws > (uint64_t)l->workspace_bytes)
        return ks__error(ctx, KS_CORRUPT_FILE,
                         "engine: layer %d '%s': plugin '%s' needs %zu workspace bytes, the layer "
                         "reserves %lld",
                         li, nm, pname, ws, (long long)l->workspace_bytes);
    return KS_OK;
}

ks_status ks__eng_plugin_instantiate(const ks_eng_desc *d, int li, ks_plugin_node **out) {
    ks_context *ctx = d->ctx;
    *out = NULL;
    if (li < 0 || li >= d->n_layers || d->layers[li].kind != KS_LAYER_PLUGIN)
        return ks__error(ctx, KS_INTERNAL, "engine: layer %d is not a plugin layer", li);
    const ks_eng_layer *l = &d->layers[li];
    const char *nm = ks__eng_str(d, l->name);
    /* offsets and ranges were checked by ks__eng_validate */
    const char *name = ks__eng_str(d, (uint32_t)l->ip[KS_ENG_PLUGIN_IP_NAME]);
    const char *ns = ks__eng_str(d, (uint32_t)l->ip[KS_ENG_PLUGIN_IP_NS]);
    int version = (int)l->ip[KS_ENG_PLUGIN_IP_VERSION];
    const uint8_t *bytes = d->plugin_data ? d->plugin_data + l->ip[KS_ENG_PLUGIN_IP_OFFSET] : NULL;
    size_t nb = (size_t)l->ip[KS_ENG_PLUGIN_IP_BYTES];
    ks_plugin_node *pn = NULL;
    ks_status st = ks__plugin_node_deserialize(ctx, ns, name, version, bytes, nb, &pn);
    if (st != KS_OK) {
        if (st == KS_NOT_FOUND)
            ks__error_prefix(ctx, "layer '%s' (register plugin '%s%s%s' v%d on the loading "
                                  "context first)",
                             nm, ns, *ns ? "::" : "", name, version);
        else
            ks__error_prefix(ctx, "layer '%s'", nm);
        return st;
    }
    st = check_tensors(d, l, li, pn);
    if (st != KS_OK) {
        ks__plugin_node_free(ctx, pn);
        return st;
    }
    *out = pn;
    return KS_OK;
}
