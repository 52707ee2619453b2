/* kestrel — model import and CPU execution.
 *
 * A ks_model is an imported, validated graph (ONNX or Caffe). A ks_session
 * runs a model on the CPU reference backend. Typical use:
 *
 *   ks_context *ctx; ks_context_create(NULL, &ctx);
 *   ks_model *m;
 *   if (ks_model_load_file(ctx, "face.onnx", NULL, &m) != KS_OK)
 *       fprintf(stderr, "%s\n", ks_context_last_error(ctx));
 *   ks_session *s; ks_session_create(m, NULL, &s);
 *   ks_tensor in = {KS_DTYPE_FLOAT32, 4, {1,3,240,320}, pixels};
 *   const char *in_name = ks_model_input_name(m, 0);
 *   ks_tensor outs[2];
 *   ks_session_run(s, 1, &in_name, &in, 0, NULL, outs);  // all outputs
 *   ... ks_tensor_release(ctx, &outs[i]) ...
 *   ks_session_destroy(s); ks_model_destroy(m); ks_context_destroy(ctx);
 *
 * Ownership: the model borrows ctx (ctx must outlive it). A session borrows
 * its model (the model must outlive the session). Names returned by the
 * accessors are owned by the model and valid until ks_model_destroy.
 *
 * Thread safety: a model is immutable after import except through
 * ks_model_optimize; several sessions may run one model concurrently on
 * different threads provided each thread uses its own ks_context for errors
 * (a session is not reentrant: one run at a time per session). */
#ifndef KESTREL_MODEL_H
#define KESTREL_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "kestrel/export.h"
#include "kestrel/status.h"
#include "kestrel/context.h"
#include "kestrel/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ks_model ks_model;
typedef struct ks_session ks_session;

typedef enum ks_model_format {
    KS_FORMAT_AUTO = 0, /* by extension / content */
    KS_FORMAT_ONNX,
    KS_FORMAT_CAFFE,    /* path is the .prototxt; weights path in options */
    KS_FORMAT_COUNT
} ks_model_format;

typedef struct ks_import_options {
    ks_model_format format;
    const char *weights_path;   /* Caffe .caffemodel; NULL = same stem */
    const char *external_data_dir; /* ONNX external data; NULL = model's dir */
    int keep_unused;            /* 1 = do not remove dead nodes */
} ks_import_options;

KS_API void ks_import_options_init(ks_import_options *opt);

/* Imports a model file. opt may be NULL. On failure *out is NULL and the
 * context's last error names the file, the node, its op type and opset. */
KS_API ks_status ks_model_load_file(ks_context *ctx, const char *path,
                                    const ks_import_options *opt, ks_model **out);
/* Imports from memory (ONNX bytes). data is borrowed for the call only.
 * External data, if any, is resolved relative to opt->external_data_dir. */
KS_API ks_status ks_model_load_memory(ks_context *ctx, const void *data, size_t n_bytes,
                                      const ks_import_options *opt, ks_model **out);
KS_API void ks_model_destroy(ks_model *m);

KS_API ks_context *ks_model_context(const ks_model *m);
KS_API int ks_model_num_inputs(const ks_model *m);
KS_API int ks_model_num_outputs(const ks_model *m);
KS_API const char *ks_model_input_name(const ks_model *m, int i);
KS_API const char *ks_model_output_name(const ks_model *m, int i);
/* Declared dtype and shape; dynamic dims are -1 and, when the model names
 * them, dim_names[k] is that name (else NULL). dim_names may be NULL. */
KS_API ks_status ks_model_input_info(const ks_model *m, int i, ks_dtype *dtype, int *ndim,
                                     int64_t dims[KS_MAX_DIMS],
                                     const char *dim_names[KS_MAX_DIMS]);
KS_API ks_status ks_model_output_info(const ks_model *m, int i, ks_dtype *dtype, int *ndim,
                                      int64_t dims[KS_MAX_DIMS],
                                      const char *dim_names[KS_MAX_DIMS]);
KS_API int ks_model_opset(const ks_model *m);   /* default-domain opset */
KS_API int ks_model_num_nodes(const ks_model *m);
KS_API const char *ks_model_node_op(const ks_model *m, int i);
KS_API int64_t ks_model_num_params(const ks_model *m);

/* Fixes input shapes (e.g. "input:1x3x480x640") and runs shape inference,
 * constant folding of shape subgraphs and dead-node removal. n may be 0 to
 * just fold what is already static. */
KS_API ks_status ks_model_set_input_shape(ks_model *m, const char *name, int ndim,
                                          const int64_t *dims);
KS_API ks_status ks_model_optimize(ks_model *m);
/* Estimated multiply-add FLOPs (2 per MAC) for the current input shapes;
 * -1 if shapes are not known. */
KS_API int64_t ks_model_flops(const ks_model *m);

/* CPU session options. */
typedef struct ks_session_config {
    int check_finite; /* 1 = reject float inputs holding NaN/Inf with KS_NUMERIC_ERROR
                         naming the input and the first bad element (default 0:
                         NaN propagates as ONNX specifies) */
} ks_session_config;
KS_API void ks_session_config_init(ks_session_config *cfg);

/* Creates a CPU session for the model's current graph. cfg may be NULL. */
KS_API ks_status ks_session_create(ks_model *m, const ks_session_config *cfg, ks_session **out);
KS_API void ks_session_destroy(ks_session *s);
/* Runs the model. inputs[i] is bound to input_names[i] (borrowed). If
 * n_outputs is 0 every model output is produced, in model order, into
 * outputs[0..ks_model_num_outputs-1]; else only the named ones. Output
 * tensors own their data (ks_tensor_release). Input dtypes must match the
 * model's declared dtype; shapes must match its static dims. Non-finite
 * values in inputs are allowed and propagate (ONNX semantics). */
KS_API ks_status ks_session_run(ks_session *s, int n_inputs, const char *const *input_names,
                                const ks_tensor *inputs, int n_outputs,
                                const char *const *output_names, ks_tensor *outputs);

#ifdef __cplusplus
}
#endif
#endif
