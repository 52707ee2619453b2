/* Plugin registry internals (the public side is include/kestrel/plugin.h).
 *
 * ctx->plugins holds the registered descriptors, the preference switches
 * (ks_plugin_prefer) and the dlopen handles of loaded libraries.
 *
 * A node whose op is KS_OP_PLUGIN carries node->plugin, a ks_plugin_node
 * owned by that node: the descriptor and the plugin's instance. Importers
 * get one from ks__plugin_lookup (instance created lazily from the node's
 * attributes at the first shape inference) or ks__plugin_node_create
 * (instance created now from a key/value list). The graph releases it with
 * ks__plugin_node_release and deep-copies it with ks__plugin_clone_instance
 * (declared in graph/ir.h). */
#ifndef KS_PLUGINS_REGISTRY_H
#define KS_PLUGINS_REGISTRY_H
#include "graph/ir.h"
#include "kestrel/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ks_plugin_node {
    const ks_plugin_desc *desc; /* borrowed from the registry (lives with ctx) */
    void *instance;             /* owned; NULL until created */
} ks_plugin_node;

/* Called by the ONNX importer for ops it does not know: returns 1 and a new
 * ks_plugin_node in *plugin_out (instance not yet created) when a plugin
 * registered on ctx handles (domain, op_type) at `opset`; else 0. */
int ks__plugin_lookup(ks_context *ctx, const char *domain, const char *op_type, int opset,
                      void **plugin_out);
/* 1 if ks_plugin_prefer(ctx, op_type, 1) was set and a plugin for op_type
 * (any namespace) is registered: importers then use it instead of the
 * built-in op. */
int ks__plugin_preferred(ks_context *ctx, const char *op_type);
/* Creates a plugin node for op_type with the given attributes now. */
ks_status ks__plugin_node_create(ks_context *ctx, const char *domain, const char *op_type,
                                 const ks_plugin_attr *attrs, int n_attrs, ks_plugin_node **out);
/* Ensures node->plugin has an instance (created from node attributes). */
ks_status ks__plugin_node_instance(ks_context *ctx, const ks_graph *g, const ks_node *n,
                                   ks_plugin_node **out);

/* Rewrites nodes of built-in ops that ks_plugin_prefer asked for (e.g.
 * PRelu) into plugin nodes (instances created lazily from the node's
 * attributes). Importers other than Caffe's, or callers holding a graph,
 * apply it after import; *n_replaced may be NULL. */
ks_status ks__plugins_apply_preferences(ks_context *ctx, ks_graph *g, int *n_replaced);

/* Serialization for the engine file: name/namespace/version identify the
 * descriptor; params are the plugin's own bytes. */
ks_status ks__plugin_node_serialize(ks_context *ctx, const ks_plugin_node *pn, void **bytes,
                                    size_t *n_bytes); /* *bytes from ks__alloc */
ks_status ks__plugin_node_deserialize(ks_context *ctx, const char *plugin_namespace,
                                      const char *name, int version, const void *bytes,
                                      size_t n_bytes, ks_plugin_node **out);
/* Destroys a node object created by this module (NULL accepted). */
void ks__plugin_node_free(ks_context *ctx, ks_plugin_node *pn);

/* Runs a plugin node on the GPU: inputs/outputs hold device pointers.
 * UNSUPPORTED_OP when the plugin has no CUDA implementation. */
ks_status ks__plugin_node_run_cuda(ks_context *ctx, ks_plugin_node *pn, int n_in,
                                   const ks_tensor *in, int n_out, ks_tensor *out,
                                   void *workspace, void *stream);
size_t ks__plugin_node_workspace_bytes(ks_plugin_node *pn, int n_in, const ks_tensor *in,
                                       int n_out, const ks_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
