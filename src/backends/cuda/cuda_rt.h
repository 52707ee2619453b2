/* CUDA runtime internals: engine and execution context structs, layer
 * dispatch. Host C11 (cudart, cuDNN and cuBLAS have C APIs). */
#ifndef KS_CUDA_RT_H
#define KS_CUDA_RT_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "format/engine_format.h"
#include "kestrel/engine.h"

typedef struct ks_cu_layer {
    int has_cudnn;
    cudnnTensorDescriptor_t xd, yd, bd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    cudnnActivationDescriptor_t ad;
    char tactic_str[48];
    struct ks_plugin_node *plugin; /* PLUGIN layers: owned instance (shared by contexts) */
} ks_cu_layer;

struct ks_engine {
    ks_context *ctx;
    ks_eng_desc d;
    void *d_weights;
    ks_cu_layer *lrt;
    char *report;
    double build_seconds;
    int device;
};

struct ks_exec_context {
    ks_engine *e;
    void *arena, *workspace, *staging;
    size_t workspace_bytes;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void **tp;            /* resolved pointer per tensor */
    void **user_bind;     /* last user pointers */
    int *bind_host;       /* 1 = pointer is host memory (staged) */
    int64_t *staging_off; /* per binding */
    int ptrs_valid;
    int use_graph, graph_valid;
    cudaGraphExec_t gexec;
    int profiling;
    cudaEvent_t *ev;
    double *prof_ms;
    int64_t prof_runs;
    struct ks_ms_plan *ms; /* multi-stream schedule for captures (multistream.c); NULL = one stream */
};

#define KS_CUDA_TRY(ctx, expr, what)                                                   \
    do {                                                                               \
        cudaError_t ks_ce_ = (expr);                                                   \
        if (ks_ce_ != cudaSuccess)                                                     \
            return ks__error((ctx), KS_DEVICE_ERROR, "%s: CUDA error %s: %s", (what),  \
                             cudaGetErrorName(ks_ce_), cudaGetErrorString(ks_ce_));    \
    } while (0)

/* 0 ok, else sets the error (NO_DEVICE when no GPU). */
ks_status ks__cuda_init(ks_context *ctx, int *device, int *sm);
/* Instantiates an engine from a description (takes ownership of *d). */
ks_status ks__cuda_engine_from_desc(ks_context *ctx, ks_eng_desc *d, ks_engine **out);
/* Creates cuDNN descriptors for layer li (idempotent). */
ks_status ks__cuda_layer_setup(ks_engine *e, int li);
/* Removes layer li from the engine (its runtime state freed, later layers
 * shift down); for the builder after a fusion decided by timing. */
void ks__cuda_engine_drop_layer(ks_engine *e, int li);
/* multistream.c: the auxiliary-stream schedule of a context (made at context creation; ec->ms stays
 * NULL when the layers form one chain or KESTREL_AUX_STREAMS=0), its release, and the enqueue of every
 * layer over those streams (inside a capture: fork and join included). */
ks_status ks__ms_plan(ks_exec_context *ec);
void ks__ms_free(ks_exec_context *ec);
ks_status ks__ms_enqueue(ks_exec_context *ec, cudaStream_t s);
/* Enqueues one layer. */
ks_status ks__cuda_run_layer(ks_exec_context *ec, int li, cudaStream_t s);
/* Enqueues a PLUGIN layer (plugin_layer.c): the plugin's run_cuda on
 * stream s with the execution context's workspace; no sync, no alloc. */
ks_status ks__cuda_run_plugin(ks_exec_context *ec, int li, cudaStream_t s);
/* Resolves tensor pointers from the current bindings. */
void ks__cuda_resolve(ks_exec_context *ec, void *const *bind);
const char *ks__cudnn_algo_name(int algo);

#endif
