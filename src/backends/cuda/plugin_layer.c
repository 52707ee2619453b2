/* PLUGIN layers at run time: hands the plugin the layer's tensors as
 * device-pointer ks_tensors and the execution context's stream and
 * workspace. Capture-safe: stack arrays only, no allocation, no sync. */
#include <string.h>

#include "backends/cuda/cuda_rt.h"
#include "plugins/registry.h"

ks_status ks__cuda_run_plugin(ks_exec_context *ec, int li, cudaStream_t s) {
    ks_engine *e = ec->e;
    const ks_eng_desc *d = &e->d;
    const ks_eng_layer *l = &d->layers[li];
    ks_plugin_node *pn = e->lrt[li].plugin;
    if (!pn)
        return ks__error(e->ctx, KS_INTERNAL, "layer '%s': plugin not instantiated",
                         ks__eng_str(d, l->name));
    /* n_in <= KS_ENG_MAX_IN, n_out <= KS_ENG_MAX_OUT: checked by ks__eng_validate */
    ks_tensor in[KS_ENG_MAX_IN], out[KS_ENG_MAX_OUT];
    ks__eng_layer_tensors(d, l, in, out);
    for (int k = 0; k < l->n_in; k++)
        in[k].data = l->in[k] >= 0 ? ec->tp[l->in[k]] : NULL;
    for (int k = 0; k < l->n_out; k++)
        out[k].data = ec->tp[l->out[k]];
    /* the exec context's scratch: >= d->workspace_bytes >= this layer's
     * (ks__eng_validate, ks__eng_plugin_instantiate) */
    void *ws = l->workspace_bytes > 0 ? ec->workspace : NULL;
    ks_status st = ks__plugin_node_run_cuda(e->ctx, pn, l->n_in, in, l->n_out, out, ws, (void *)s);
    if (st != KS_OK)
        ks__error_prefix(e->ctx, "layer '%s' (plugin '%s')", ks__eng_str(d, l->name), pn->desc->name);
    return st;
}
