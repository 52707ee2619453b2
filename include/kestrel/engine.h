/* kestrel — GPU engines (CUDA backend).
 *
 * An engine is a model compiled for one GPU architecture: the graph lowered
 * to a list of GPU layers (fused, with a chosen kernel "tactic" per layer),
 * weights in their final layouts and precisions, and an activation memory
 * plan. It can be saved to a file and loaded back without the model.
 *
 *   ks_build_config cfg; ks_build_config_init(&cfg);
 *   cfg.precision = KS_PRECISION_FP16;
 *   ks_engine *e;  ks_engine_build(model, &cfg, &e);   // or ks_engine_load_file
 *   ks_engine_save(e, "face.engine");
 *   ks_exec_context *ec; ks_exec_context_create(e, &ec);
 *   void *bind[2] = { d_input, d_output };              // model I/O order
 *   ks_exec_run(ec, stream, bind);                      // async on `stream`
 *
 * Binding order: inputs first (ks_engine_num_inputs of them, in model order),
 * then outputs. Each binding is a device pointer or a pinned (page-locked)
 * host pointer; a host pointer costs an async copy through a staging buffer
 * owned by the execution context.
 *
 * Ownership and lifetime: an engine borrows its ks_context (the context must
 * outlive it). An execution context borrows its engine (destroy every
 * execution context before the engine). Names returned by accessors are
 * owned by the engine.
 *
 * Thread safety:
 *  - a built or loaded engine is immutable: any number of threads may create
 *    execution contexts from one engine concurrently (weights are shared);
 *  - an execution context is NOT thread safe: one thread and one stream at a
 *    time; use one execution context per stream;
 *  - errors are recorded on the engine's ks_context; when several threads use
 *    one engine, give each its own context for messages or serialize calls
 *    that can fail.
 *
 * No function here includes or needs CUDA headers: streams are passed as
 * void* (a cudaStream_t; NULL = the legacy default stream).
 *
 * When the library was built without CUDA, or no GPU is present at run
 * time, every call that needs the GPU returns KS_NO_DEVICE. */
#ifndef KESTREL_ENGINE_H
#define KESTREL_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include "kestrel/export.h"
#include "kestrel/status.h"
#include "kestrel/context.h"
#include "kestrel/tensor.h"
#include "kestrel/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ks_engine ks_engine;
typedef struct ks_exec_context ks_exec_context;

typedef enum ks_precision {
    KS_PRECISION_FP32 = 0, /* IEEE float32 everywhere (TF32 off) */
    KS_PRECISION_TF32,     /* float32 storage; convolutions may use TF32 tensor cores */
    KS_PRECISION_FP16,     /* float16 activations and weights, float32 accumulation */
    KS_PRECISION_COUNT
} ks_precision;

/* Builder passes; each may be switched off (ks_build_config.disable_passes
 * is a bit mask of 1u << KS_PASS_x). */
#define KS_PASS_LIST(X)                                                     \
    X(CONST_FOLD, "const-fold", "fold nodes whose inputs are all constant") \
    X(BN_FOLD, "bn-fold", "fold BatchNormalization / Mul+Add by constants into the conv") \
    X(ACT_FUSE, "act-fuse", "fuse bias and activation into the conv epilogue") \
    X(RESIDUAL_FUSE, "residual-fuse", "fuse a residual Add into the conv epilogue") \
    X(ELTWISE_FUSE, "eltwise-fuse", "fuse chains of elementwise ops into one kernel") \
    X(HORIZONTAL_FUSE, "horizontal-fuse", "merge sibling 1x1 convs reading one tensor") \
    X(CONCAT_ELIM, "concat-elim", "producers write straight into the concat buffer") \
    X(RESHAPE_ELIM, "reshape-elim", "reshape/flatten/squeeze/unsqueeze become views") \
    X(DEAD_ELIM, "dead-elim", "remove layers whose outputs nobody uses") \
    X(SCORE_FP32, "score-fp32", "FP16 builds: keep score Softmax heads (to outputs / NMS) in FP32") \
    X(SEGMENT_FUSE, "segment-fuse", "Transpose + activation + Split + per-part elementwise chains + Concat as one layer (YOLO heads)")

typedef enum ks_pass {
#define KS_X_(e, name, help) KS_PASS_##e,
    KS_PASS_LIST(KS_X_)
#undef KS_X_
    KS_PASS_COUNT
} ks_pass;

KS_API const char *ks_pass_name(ks_pass p); /* "bn-fold"; NULL if out of range */
/* Looks up a pass by its name; KS_PASS_COUNT if none. */
KS_API ks_pass ks_pass_from_name(const char *name);

typedef struct ks_layer_precision {
    const char *node_name; /* borrowed for the ks_engine_build call */
    ks_precision precision;
} ks_layer_precision;

typedef struct ks_input_shape {
    const char *name;      /* model input name (borrowed for the build call) */
    int ndim;
    int64_t dims[KS_MAX_DIMS];
} ks_input_shape;

typedef struct ks_build_config {
    ks_precision precision;          /* default FP32 */
    const ks_layer_precision *layer_precisions; /* per-layer overrides (by ONNX node name) */
    int n_layer_precisions;
    size_t workspace_limit_bytes;    /* cap on per-layer scratch (cuDNN); 0 = 256 MiB */
    const char *timing_cache_path;   /* read before and written after the build; NULL = none */
    uint32_t disable_passes;         /* bit mask of 1u << KS_PASS_x */
    /* Shapes for dynamic (or to override) input dims. The engine is built
     * for these shapes; at run time an execution context may use any batch
     * size 1..the built batch (ks_exec_set_input_shape) when the network is
     * batch-separable. */
    const ks_input_shape *input_shapes;
    int n_input_shapes;
    int max_batch;                   /* 0 = take the batch from the shapes (or 1 if dynamic) */
    int tactic_timing;               /* 1 (default) = time candidate kernels per layer */
    int verbose;                     /* 1 = log a pass report (TensorRT-like) at INFO */
    /* 1 (default) = I/O keep the model's declared dtypes (an FP16 build casts a float32
     * input to FP16 inside the engine and its outputs back to float32). 0 = float32 inputs of
     * an FP16 build are bound as float16 (the caller writes FP16; no input cast) and every
     * output is bound in the dtype its last layer writes (FP16, or FP32 for layers kept in
     * FP32). ks_engine_binding_info reports the bound dtypes. */
    int keep_io_dtypes;
} ks_build_config;

KS_API void ks_build_config_init(ks_build_config *cfg);

/* Builds an engine for the current GPU. The model's input shapes are fixed
 * by the build (cfg->input_shapes) and the model is optimized in place
 * (ks_model_optimize). The model may be destroyed after the build. */
KS_API ks_status ks_engine_build(ks_model *model, const ks_build_config *cfg, ks_engine **out);

/* Writes the engine file (docs/format.md). */
KS_API ks_status ks_engine_save(const ks_engine *e, const char *path);
/* Serializes into a buffer allocated with ctx's allocator; the caller frees
 * it with ks_engine_free_buffer. */
KS_API ks_status ks_engine_serialize(const ks_engine *e, void **data, size_t *n_bytes);
KS_API void ks_engine_free_buffer(const ks_engine *e, void *data);

/* Loads an engine file. Every count, offset and size is validated against
 * the file length before anything is allocated. Errors:
 *   KS_CORRUPT_FILE     bad magic, checksum, truncated, out-of-range fields;
 *   KS_VERSION_MISMATCH file format newer than this library, built for a
 *                       different GPU architecture, or for an incompatible
 *                       cuDNN major version (the message says which);
 *   KS_NO_DEVICE        no GPU. */
KS_API ks_status ks_engine_load_file(ks_context *ctx, const char *path, ks_engine **out);
/* Same from memory; data is borrowed for the call only. */
KS_API ks_status ks_engine_load_memory(ks_context *ctx, const void *data, size_t n_bytes,
                                       ks_engine **out);
KS_API void ks_engine_destroy(ks_engine *e);

KS_API ks_context *ks_engine_context(const ks_engine *e);
KS_API int ks_engine_num_inputs(const ks_engine *e);
KS_API int ks_engine_num_outputs(const ks_engine *e);
/* Binding i in 0..num_inputs+num_outputs-1 (inputs first). */
KS_API const char *ks_engine_binding_name(const ks_engine *e, int i);
/* Returns the binding index for a name, or -1. */
KS_API int ks_engine_binding_index(const ks_engine *e, const char *name);
/* Dtype and shape of a binding as built (the max shape). */
KS_API ks_status ks_engine_binding_info(const ks_engine *e, int i, ks_dtype *dtype, int *ndim,
                                        int64_t dims[KS_MAX_DIMS]);
KS_API int ks_engine_num_layers(const ks_engine *e);

typedef struct ks_engine_memory {
    size_t weight_bytes;      /* device memory holding weights, shared by contexts */
    size_t activation_bytes;  /* planned activation arena per execution context */
    size_t activation_naive_bytes; /* what one buffer per tensor would take */
    size_t workspace_bytes;   /* per-context scratch (cuDNN workspace) */
    size_t staging_bytes;     /* per-context staging for host-pointer bindings */
} ks_engine_memory;

KS_API ks_status ks_engine_memory_report(const ks_engine *e, ks_engine_memory *out);

/* Build report: passes and layer counts, one line each, NUL-terminated;
 * owned by the engine ("" for a loaded engine). */
KS_API const char *ks_engine_build_report(const ks_engine *e);
/* Seconds spent building, and how many layers hit the timing cache. */
KS_API double ks_engine_build_seconds(const ks_engine *e);

/* ---- execution ---- */

/* Creates an execution context: activation arena, workspace, handles. All
 * device memory is allocated here; ks_exec_run never allocates. */
KS_API ks_status ks_exec_context_create(ks_engine *e, ks_exec_context **out);
KS_API void ks_exec_context_destroy(ks_exec_context *ec);

/* Sets the shape of input `name` for the next runs. Only the batch
 * (leading) dim may differ from the built shape, 1..built, and only for
 * engines that are batch-separable; otherwise UNSUPPORTED_SHAPE. */
KS_API ks_status ks_exec_set_input_shape(ks_exec_context *ec, const char *name, int ndim,
                                         const int64_t *dims);
/* Current shape of binding i (after set_input_shape). */
KS_API ks_status ks_exec_binding_shape(const ks_exec_context *ec, int i, int *ndim,
                                       int64_t dims[KS_MAX_DIMS]);

/* 1 = capture the layers into a CUDA graph on the first run and replay it;
 * re-captured when shapes or binding pointers change. Default 0. */
KS_API ks_status ks_exec_set_cuda_graph(ks_exec_context *ec, int enable);
/* Auxiliary streams: inside a CUDA-graph capture (ks_exec_set_cuda_graph, or a capture the caller has
 * begun on the stream passed to ks_exec_run) the layers are spread over the caller's stream and up to 4
 * auxiliary streams owned by the context, so independent branches run at the same time; the captured
 * work forks from and joins back to the caller's stream. Eager runs and profiling use the caller's
 * stream only. Returns how many auxiliary streams the context uses (0: one chain of layers, no GPU, or
 * KESTREL_AUX_STREAMS=0 when the context was created). */
KS_API int ks_exec_aux_streams(const ks_exec_context *ec);
/* 1 = record per-layer timings (events around each layer; slower; disables
 * graph capture while on). */
KS_API ks_status ks_exec_set_profiling(ks_exec_context *ec, int enable);

/* Enqueues one inference on `stream` (cudaStream_t as void*). bindings has
 * num_inputs + num_outputs pointers (device or pinned host). Returns after
 * enqueueing: synchronize the stream before reading outputs. No allocation,
 * synchronization or host round trip happens inside. */
KS_API ks_status ks_exec_run(ks_exec_context *ec, void *stream, void *const *bindings);

typedef struct ks_layer_profile {
    const char *name;       /* layer name (fused layers: "conv1+relu1") */
    const char *kind;       /* "conv", "depthwise", "eltwise", ... */
    const char *tactic;     /* "cudnn:algo1", "own:dw3x3", ... */
    ks_precision precision;
    double mean_ms;         /* mean over profiled runs */
    int64_t n_runs;
} ks_layer_profile;

/* Per-layer profile of the runs made while profiling was on. out may be
 * NULL to ask for the count; strings are owned by the engine. */
KS_API int ks_exec_get_profile(const ks_exec_context *ec, ks_layer_profile *out, int cap);

/* Small stream helpers so callers need no CUDA headers: a non-blocking
 * stream (cudaStream_t as void*), destroy (NULL accepted), and synchronize
 * (NULL = the legacy default stream). */
KS_API ks_status ks_cuda_stream_create(void **stream);
KS_API void ks_cuda_stream_destroy(void *stream);
KS_API ks_status ks_cuda_stream_synchronize(void *stream);

/* 1 if a usable CUDA GPU is present (and the library has CUDA), else 0. */
KS_API int ks_cuda_available(void);
/* Device name and compute capability (e.g. 90); KS_NO_DEVICE if none. */
KS_API ks_status ks_cuda_device_info(char *name, size_t name_bytes, int *sm);

#ifdef __cplusplus
}
#endif
#endif
