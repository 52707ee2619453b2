/* kestrel — plugin API: custom operators, registered per context.
 *
 * A plugin is a versioned descriptor (ks_plugin_desc) of callbacks. The
 * importers use it for an op they find in a model:
 *   - ONNX: a node whose (domain, op_type) the engine does not know, or
 *     that names the plugin's namespace as its domain;
 *   - Caffe: for layers mapped to an op the plugin implements, when asked
 *     with ks_plugin_prefer(ctx, op_type, 1) (e.g. "PRelu").
 * The importer creates one instance per node with create() from the node's
 * attributes (ONNX attributes, or the Caffe layer's parameters) as a flat
 * key/value list; extra inputs such as weights arrive as constant inputs.
 * Then:
 *   infer_shapes  output dtypes/shapes from input shapes (static inference,
 *                 dims may be -1 = unknown; input data non-NULL when constant)
 *   supports      which dtype/layout each input/output position accepts
 *   workspace_bytes, run_cuda   GPU execution on a cudaStream_t (void *)
 *   run_cpu       CPU reference (required)
 *   serialize / deserialize     parameters <-> bytes, stored in engine files
 *   clone / destroy
 *
 *   static const ks_plugin_desc my_desc = {
 *       .api_version = KS_PLUGIN_API_VERSION, .name = "MyOp", .version = 1,
 *       .plugin_namespace = "com.example", .create = my_create, ...};
 *   ks_plugin_register(ctx, &my_desc);
 *
 * or put it in a shared library exporting ks_plugin_library_register and
 * call ks_plugin_load_library(ctx, "libmyop.so"). See docs/plugins.md.
 *
 * Ownership: the descriptor (and every string in it) is borrowed until the
 * context is destroyed: keep it in static storage. Instances are owned by
 * the engine and destroyed with destroy(). Callbacks may be called from any
 * thread, but never concurrently on one instance, except run_cpu/run_cuda
 * which must not modify the instance.
 * Errors: callbacks return a ks_status and may describe it with
 * ks_plugin_error(ctx, ...); the engine adds the node name. */
#ifndef KESTREL_PLUGIN_H
#define KESTREL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include "kestrel/export.h"
#include "kestrel/status.h"
#include "kestrel/context.h"
#include "kestrel/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KS_PLUGIN_API_VERSION 1

typedef enum ks_plugin_attr_type {
    KS_PLUGIN_ATTR_INT = 0,
    KS_PLUGIN_ATTR_FLOAT,
    KS_PLUGIN_ATTR_STRING,
    KS_PLUGIN_ATTR_INTS,
    KS_PLUGIN_ATTR_FLOATS,
    KS_PLUGIN_ATTR_TYPE_COUNT
} ks_plugin_attr_type;

/* One attribute. Everything is borrowed for the duration of create(). */
typedef struct ks_plugin_attr {
    const char *key;
    ks_plugin_attr_type type;
    int64_t i;             /* INT */
    double f;              /* FLOAT */
    const char *s;         /* STRING */
    int64_t n;             /* INTS / FLOATS count */
    const int64_t *ints;
    const float *floats;
} ks_plugin_attr;

typedef enum ks_plugin_layout {
    KS_PLUGIN_LAYOUT_LINEAR = 0, /* dense row-major, as ks_tensor */
    KS_PLUGIN_LAYOUT_NHWC,       /* channels-last 4-D */
    KS_PLUGIN_LAYOUT_COUNT
} ks_plugin_layout;

typedef struct ks_plugin_desc {
    int api_version;              /* KS_PLUGIN_API_VERSION */
    const char *name;             /* op type it implements, e.g. "PRelu" */
    int version;                  /* plugin's own version (stored in engines) */
    const char *plugin_namespace; /* ONNX domain it claims ("" = any domain
                                     for ops the engine does not know) */
    int min_opset, max_opset;     /* opsets it handles; 0 = any */
    int n_outputs;                /* 0 = as many as the node has */

    /* Makes an instance from attributes. Required. */
    ks_status (*create)(ks_context *ctx, const ks_plugin_attr *attrs, int n_attrs, void **self);
    /* Makes an instance from serialize()d bytes. Required. */
    ks_status (*deserialize)(ks_context *ctx, const void *bytes, size_t n_bytes, void **self);
    /* Writes at most cap bytes into buf (buf NULL: only size) and sets
     * *n_bytes to the full size. Required. */
    ks_status (*serialize)(const void *self, void *buf, size_t cap, size_t *n_bytes);
    /* Deep copy. Required. */
    ks_status (*clone)(const void *self, void **copy);
    void (*destroy)(void *self); /* required; NULL self never passed */

    /* Output dtypes and shapes. out[i] come with ndim = -1; set dtype, ndim,
     * dims (-1 for unknown dims). Must not touch out[i].data. Required. */
    ks_status (*infer_shapes)(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                              int n_out, ks_tensor *out);
    /* 1 if tensor `pos` (inputs first, then outputs) may have this dtype and
     * layout. NULL = float32 linear only. */
    int (*supports)(const void *self, int pos, int n_in, int n_out, ks_dtype dtype,
                    ks_plugin_layout layout);
    /* Scratch bytes run_cuda needs for these shapes. NULL = 0. */
    size_t (*workspace_bytes)(const void *self, int n_in, const ks_tensor *in, int n_out,
                              const ks_tensor *out);
    /* CPU reference: out[i] are allocated (zeroed) with inferred shapes.
     * Required. */
    ks_status (*run_cpu)(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                         int n_out, ks_tensor *out);
    /* GPU: data pointers are device pointers; stream is a cudaStream_t.
     * Enqueue only (no synchronization). NULL = no GPU implementation. */
    ks_status (*run_cuda)(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                          int n_out, ks_tensor *out, void *workspace, void *stream);
} ks_plugin_desc;

/* Registers a descriptor on ctx (borrowed until ks_context_destroy).
 * INVALID_ARGUMENT for a missing required callback, VERSION_MISMATCH for
 * another api_version; registering the same (namespace, name) again
 * replaces the earlier one (the newer version wins). */
KS_API ks_status ks_plugin_register(ks_context *ctx, const ks_plugin_desc *desc);
/* dlopens path and calls its exported
 *   ks_status ks_plugin_library_register(ks_context *ctx);
 * (KS_PLUGIN_LIBRARY_ENTRY below). The library stays loaded until the
 * context is destroyed. IO_ERROR if it cannot be opened, NOT_FOUND if the
 * entry point is missing. */
KS_API ks_status ks_plugin_load_library(ks_context *ctx, const char *path);
/* Makes importers use a registered plugin for op_type instead of the
 * built-in op (prefer = 1), or not (0, the default). Applies to models
 * imported afterwards. */
KS_API ks_status ks_plugin_prefer(ks_context *ctx, const char *op_type, int prefer);
/* Descriptors of the plugins built into kestrel ("PRelu"), in static
 * storage; NULL for an unknown name. They are not registered by default:
 * ks_plugin_register(ctx, ks_plugin_builtin("PRelu")), or ks_plugin_prefer,
 * which registers the built-in one when no plugin of that name is. */
KS_API const ks_plugin_desc *ks_plugin_builtin(const char *name);
/* Finds a registered descriptor (namespace NULL = any); NULL if none. */
KS_API const ks_plugin_desc *ks_plugin_find(ks_context *ctx, const char *plugin_namespace,
                                            const char *name);
KS_API int ks_plugin_count(ks_context *ctx);

/* For plugins: records an error message on ctx and returns st. */
KS_API ks_status ks_plugin_error(ks_context *ctx, ks_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* For plugins: host memory through the context's allocator (zeroed). */
KS_API void *ks_plugin_alloc(ks_context *ctx, size_t n_bytes);
KS_API void ks_plugin_free(ks_context *ctx, void *p);
/* Looks up an attribute by key (NULL if absent). */
KS_API const ks_plugin_attr *ks_plugin_attr_find(const ks_plugin_attr *attrs, int n_attrs,
                                                 const char *key);

/* The entry point a plugin library exports. */
#define KS_PLUGIN_LIBRARY_ENTRY "ks_plugin_library_register"
typedef ks_status (*ks_plugin_library_register_fn)(ks_context *ctx);

#ifdef __cplusplus
}
#endif
#endif
