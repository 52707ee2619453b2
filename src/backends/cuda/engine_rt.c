/* CUDA runtime: engine instantiation from a description, execution
 * contexts, layer dispatch, CUDA graph capture, profiling. */
#include <stdio.h>
#include <string.h>

#include "backends/cuda/cuda_rt.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda/conv_win.h"
#include "graph/ir.h"
#include "plugins/registry.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

ks_status ks__cuda_init(ks_context *ctx, int *device, int *sm) {
    int n = 0;
    cudaError_t ce = cudaGetDeviceCount(&n);
    if (ce != cudaSuccess || n == 0) {
        cudaGetLastError();
        return ks__error(ctx, KS_NO_DEVICE, "no CUDA GPU available (%s)",
                         ce != cudaSuccess ? cudaGetErrorString(ce) : "0 devices");
    }
    int dev = 0;
    cudaGetDevice(&dev);
    int major = 0, minor = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
    if (device)
        *device = dev;
    if (sm)
        *sm = major * 10 + minor;
    return KS_OK;
}

ks_status ks_cuda_stream_create(void **stream) {
    if (!stream)
        return KS_INVALID_ARGUMENT;
    *stream = NULL;
    if (!ks_cuda_available())
        return KS_NO_DEVICE;
    return cudaStreamCreateWithFlags((cudaStream_t *)stream, cudaStreamNonBlocking) == cudaSuccess
               ? KS_OK
               : KS_DEVICE_ERROR;
}

void ks_cuda_stream_destroy(void *stream) {
    if (stream)
        cudaStreamDestroy((cudaStream_t)stream);
}

ks_status ks_cuda_stream_synchronize(void *stream) {
    cudaError_t e = cudaStreamSynchronize((cudaStream_t)stream);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return KS_DEVICE_ERROR;
    }
    return KS_OK;
}

int ks_cuda_available(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n > 0;
}

ks_status ks_cuda_device_info(char *name, size_t name_bytes, int *sm) {
    if (!ks_cuda_available())
        return KS_NO_DEVICE;
    int dev = 0;
    cudaGetDevice(&dev);
    struct cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, dev) != cudaSuccess)
        return KS_DEVICE_ERROR;
    if (name && name_bytes)
        snprintf(name, name_bytes, "%s", p.name);
    if (sm)
        *sm = p.major * 10 + p.minor;
    return KS_OK;
}

const char *ks__cudnn_algo_name(int algo) {
    static const char *n[] = {"implicit_gemm", "implicit_precomp_gemm", "gemm", "direct", "fft",
                              "fft_tiling", "winograd", "winograd_nonfused"};
    return algo >= 0 && algo < 8 ? n[algo] : "?";
}

static cudnnDataType_t cudnn_dt(int dt) {
    return dt == KS_DTYPE_FLOAT16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
}

#define DNN_TRY(expr)                                                                        \
    do {                                                                                     \
        cudnnStatus_t s_ = (expr);                                                           \
        if (s_ != CUDNN_STATUS_SUCCESS)                                                      \
            return ks__error(e->ctx, KS_DEVICE_ERROR, "layer '%s': cuDNN: %s (%s)",           \
                             ks__eng_str(&e->d, l->name), cudnnGetErrorString(s_), #expr);   \
    } while (0)

ks_status ks__cuda_layer_setup(ks_engine *e, int li) {
    const ks_eng_layer *l = &e->d.layers[li];
    ks_cu_layer *r = &e->lrt[li];
    if (l->kind != KS_LAYER_CONV || r->has_cudnn)
        return KS_OK;
    const int64_t *ip = l->ip;
    if (ip[5] != ip[7] || ip[6] != ip[8])
        return KS_OK; /* asymmetric padding: cuDNN cannot */
    const ks_eng_tensor *x = &e->d.tensors[l->in[0]], *w = &e->d.tensors[l->in[1]],
                        *y = &e->d.tensors[l->out[0]];
    cudnnDataType_t dt = cudnn_dt(l->dtype);
    DNN_TRY(cudnnCreateTensorDescriptor(&r->xd));
    DNN_TRY(cudnnCreateTensorDescriptor(&r->yd));
    DNN_TRY(cudnnCreateTensorDescriptor(&r->bd));
    DNN_TRY(cudnnCreateFilterDescriptor(&r->wd));
    DNN_TRY(cudnnCreateConvolutionDescriptor(&r->cd));
    DNN_TRY(cudnnCreateActivationDescriptor(&r->ad));
    r->has_cudnn = 1;
    DNN_TRY(cudnnSetTensor4dDescriptor(r->xd, CUDNN_TENSOR_NCHW, dt, (int)x->dims[0], (int)x->dims[1],
                                       (int)x->dims[2], (int)x->dims[3]));
    DNN_TRY(cudnnSetTensor4dDescriptor(r->yd, CUDNN_TENSOR_NCHW, dt, (int)y->dims[0], (int)y->dims[1],
                                       (int)y->dims[2], (int)y->dims[3]));
    DNN_TRY(cudnnSetTensor4dDescriptor(r->bd, CUDNN_TENSOR_NCHW, dt, 1, (int)y->dims[1], 1, 1));
    DNN_TRY(cudnnSetFilter4dDescriptor(r->wd, dt, CUDNN_TENSOR_NCHW, (int)w->dims[0], (int)w->dims[1],
                                       (int)w->dims[2], (int)w->dims[3]));
    DNN_TRY(cudnnSetConvolution2dDescriptor(r->cd, (int)ip[5], (int)ip[6], (int)ip[3], (int)ip[4],
                                            (int)ip[9], (int)ip[10], CUDNN_CROSS_CORRELATION,
                                            CUDNN_DATA_FLOAT));
    DNN_TRY(cudnnSetConvolutionGroupCount(r->cd, (int)ip[0]));
    cudnnMathType_t mt = l->dtype == KS_DTYPE_FLOAT16 ? CUDNN_TENSOR_OP_MATH
                         : ip[12]                     ? CUDNN_DEFAULT_MATH
                                                      : CUDNN_FMA_MATH;
    DNN_TRY(cudnnSetConvolutionMathType(r->cd, mt));
    DNN_TRY(cudnnSetActivationDescriptor(r->ad, l->act == KS_ACT_RELU ? CUDNN_ACTIVATION_RELU
                                                                       : CUDNN_ACTIVATION_IDENTITY,
                                         CUDNN_NOT_PROPAGATE_NAN, 0.0));
    return KS_OK;
}

static void layer_free(ks_cu_layer *r) {
    if (!r->has_cudnn)
        return;
    cudnnDestroyTensorDescriptor(r->xd);
    cudnnDestroyTensorDescriptor(r->yd);
    cudnnDestroyTensorDescriptor(r->bd);
    cudnnDestroyFilterDescriptor(r->wd);
    cudnnDestroyConvolutionDescriptor(r->cd);
    cudnnDestroyActivationDescriptor(r->ad);
    r->has_cudnn = 0;
}

static void set_tactic_str(ks_engine *e, int li) {
    const ks_eng_layer *l = &e->d.layers[li];
    ks_cu_layer *r = &e->lrt[li];
    if (l->tactic == KS_TACTIC_CUDNN || l->tactic == KS_TACTIC_CUDNN_FUSED)
        snprintf(r->tactic_str, sizeof(r->tactic_str), "%s:%s", ks__tactic_name(l->tactic),
                 ks__cudnn_algo_name(l->algo));
    else if (l->kind == KS_LAYER_SEGMAP && l->tactic == KS_TACTIC_OWN_PW)
        snprintf(r->tactic_str, sizeof(r->tactic_str), "own:pointwise:1+segmap"); /* the 1x1 conv in front */
    else if (l->kind == KS_LAYER_PLUGIN)
        snprintf(r->tactic_str, sizeof(r->tactic_str), "plugin:%s",
                 ks__eng_str(&e->d, (uint32_t)l->ip[KS_ENG_PLUGIN_IP_NAME]));
    else if (l->tactic == KS_TACTIC_OWN_GEMM || l->tactic == KS_TACTIC_OWN_DW || l->tactic == KS_TACTIC_OWN_DWPW ||
             l->tactic == KS_TACTIC_OWN_DIRECT || l->tactic == KS_TACTIC_OWN_PW)
        snprintf(r->tactic_str, sizeof(r->tactic_str), "%s:%d", ks__tactic_name(l->tactic),
                 l->tactic == KS_TACTIC_OWN_GEMM && l->ip[13] > 0 ? (int)l->ip[13] : l->algo);
    else
        snprintf(r->tactic_str, sizeof(r->tactic_str), "%s", ks__tactic_name(l->tactic));
}

void ks__cuda_engine_drop_layer(ks_engine *e, int li) {
    if (li < 0 || li >= e->d.n_layers)
        return;
    layer_free(&e->lrt[li]);
    ks__plugin_node_free(e->ctx, e->lrt[li].plugin);
    for (int i = li; i + 1 < e->d.n_layers; i++) {
        e->d.layers[i] = e->d.layers[i + 1];
        e->lrt[i] = e->lrt[i + 1];
    }
    e->d.n_layers--;
}

void ks_engine_destroy(ks_engine *e) {
    if (!e)
        return;
    ks_context *ctx = e->ctx;
    if (e->lrt)
        for (int i = 0; i < e->d.n_layers; i++) {
            layer_free(&e->lrt[i]);
            ks__plugin_node_free(ctx, e->lrt[i].plugin);
            e->lrt[i].plugin = NULL;
        }
    if (e->d_weights)
        cudaFree(e->d_weights);
    ks__free(ctx, e->lrt);
    ks__free(ctx, e->report);
    ks__eng_desc_free(&e->d);
    ks__free(ctx, e);
}

ks_status ks__cuda_engine_from_desc(ks_context *ctx, ks_eng_desc *d, ks_engine **out) {
    *out = NULL;
    int dev, sm;
    ks_status st = ks__cuda_init(ctx, &dev, &sm);
    if (st != KS_OK) {
        ks__eng_desc_free(d);
        return st;
    }
    if (d->sm != (uint32_t)sm) {
        ks__eng_desc_free(d);
        return ks__error(ctx, KS_VERSION_MISMATCH,
                         "engine was built for sm_%u but this GPU is sm_%d: rebuild the engine "
                         "on this GPU",
                         d->sm, sm);
    }
    size_t cudnn_v = cudnnGetVersion();
    if (d->cudnn_version / 10000 != (uint32_t)(cudnn_v / 10000)) {
        uint32_t v = d->cudnn_version;
        ks__eng_desc_free(d);
        return ks__error(ctx, KS_VERSION_MISMATCH,
                         "engine was built with cuDNN %u.%u but cuDNN %zu.%zu is loaded", v / 10000,
                         (v / 100) % 100, cudnn_v / 10000, (cudnn_v / 100) % 100);
    }
    ks_engine *e = ks__alloc(ctx, sizeof(*e));
    if (!e) {
        ks__eng_desc_free(d);
        return ks__oom(ctx, sizeof(*e), "engine");
    }
    e->ctx = ctx;
    e->d = *d;
    memset(d, 0, sizeof(*d));
    d->ctx = ctx;
    e->device = dev;
    e->lrt = ks__alloc_array(ctx, (size_t)(e->d.n_layers > 0 ? e->d.n_layers : 1), sizeof(ks_cu_layer));
    if (!e->lrt) {
        ks_engine_destroy(e);
        return ks__oom(ctx, 0, "layer table");
    }
    if (e->d.n_weight_bytes > 0) {
        cudaError_t ce = cudaMalloc(&e->d_weights, (size_t)e->d.n_weight_bytes);
        if (ce == cudaSuccess)
            ce = cudaMemcpy(e->d_weights, e->d.weights, (size_t)e->d.n_weight_bytes,
                            cudaMemcpyHostToDevice);
        if (ce != cudaSuccess) {
            ks_engine_destroy(e);
            return ks__error(ctx, KS_DEVICE_ERROR, "uploading %lld bytes of weights: %s",
                             (long long)e->d.n_weight_bytes, cudaGetErrorString(ce));
        }
    }
    for (int i = 0; i < e->d.n_layers; i++) {
        const ks_eng_layer *l = &e->d.layers[i];
        if (l->kind == KS_LAYER_PLUGIN) {
            /* from ctx's registry: NOT_FOUND / VERSION_MISMATCH name the plugin */
            st = ks__eng_plugin_instantiate(&e->d, i, &e->lrt[i].plugin);
            if (st != KS_OK) {
                ks_engine_destroy(e);
                return st;
            }
        }
        if (l->tactic == KS_TACTIC_CUDNN || l->tactic == KS_TACTIC_CUDNN_FUSED) {
            st = ks__cuda_layer_setup(e, i);
            if (st == KS_OK && !e->lrt[i].has_cudnn)
                st = ks__error(ctx, KS_CORRUPT_FILE, "layer '%s': cuDNN tactic with asymmetric padding",
                               ks__eng_str(&e->d, l->name));
            if (st != KS_OK) {
                ks_engine_destroy(e);
                return st;
            }
        }
        set_tactic_str(e, i);
    }
    *out = e;
    return KS_OK;
}

/* ------------------------------------------------------------ exec context */
void ks_exec_context_destroy(ks_exec_context *ec) {
    if (!ec)
        return;
    ks_context *ctx = ec->e->ctx;
    if (ec->graph_valid)
        cudaGraphExecDestroy(ec->gexec);
    if (ec->ev) {
        for (int i = 0; i <= ec->e->d.n_layers; i++)
            if (ec->ev[i])
                cudaEventDestroy(ec->ev[i]);
    }
    ks__ms_free(ec);
    if (ec->cudnn)
        cudnnDestroy(ec->cudnn);
    if (ec->cublas)
        cublasDestroy(ec->cublas);
    cudaFree(ec->arena);
    cudaFree(ec->workspace);
    cudaFree(ec->staging);
    ks__free(ctx, ec->tp);
    ks__free(ctx, ec->user_bind);
    ks__free(ctx, ec->bind_host);
    ks__free(ctx, ec->staging_off);
    ks__free(ctx, ec->ev);
    ks__free(ctx, ec->prof_ms);
    ks__free(ctx, ec);
}

#define CUBLAS_WS_BYTES (4u << 20)

ks_status ks_exec_context_create(ks_engine *e, ks_exec_context **out) {
    if (!e || !out)
        return KS_INVALID_ARGUMENT;
    *out = NULL;
    ks_context *ctx = e->ctx;
    ks_exec_context *ec = ks__alloc(ctx, sizeof(*ec));
    if (!ec)
        return ks__oom(ctx, sizeof(*ec), "execution context");
    ec->e = e;
    int nb = e->d.n_inputs + e->d.n_outputs;
    ec->tp = ks__alloc_array(ctx, (size_t)e->d.n_tensors + 1, sizeof(void *));
    ec->user_bind = ks__alloc_array(ctx, (size_t)nb, sizeof(void *));
    ec->bind_host = ks__alloc_array(ctx, (size_t)nb, sizeof(int));
    ec->staging_off = ks__alloc_array(ctx, (size_t)nb, sizeof(int64_t));
    ec->ev = ks__alloc_array(ctx, (size_t)e->d.n_layers + 1, sizeof(cudaEvent_t));
    ec->prof_ms = ks__alloc_array(ctx, (size_t)e->d.n_layers + 1, sizeof(double));
    if (!ec->tp || !ec->user_bind || !ec->bind_host || !ec->staging_off || !ec->ev || !ec->prof_ms) {
        ks_exec_context_destroy(ec);
        return ks__oom(ctx, 0, "execution context tables");
    }
    int64_t so = 0;
    for (int i = 0; i < nb; i++) {
        ec->staging_off[i] = so;
        so += (e->d.tensors[e->d.bindings[i]].bytes + 255) / 256 * 256;
    }
    cudaError_t ce = cudaSuccess;
    if (e->d.arena_bytes > 0)
        ce = cudaMalloc(&ec->arena, (size_t)e->d.arena_bytes);
    size_t dnn_ws = ((size_t)e->d.workspace_bytes + 255) / 256 * 256;
    ec->workspace_bytes = dnn_ws + CUBLAS_WS_BYTES;
    if (ce == cudaSuccess)
        ce = cudaMalloc(&ec->workspace, ec->workspace_bytes);
    if (ce == cudaSuccess && so > 0)
        ce = cudaMalloc(&ec->staging, (size_t)so);
    if (ce != cudaSuccess) {
        ks_exec_context_destroy(ec);
        return ks__error(ctx, KS_OUT_OF_MEMORY, "allocating execution context device memory: %s",
                         cudaGetErrorString(ce));
    }
    if (cudnnCreate(&ec->cudnn) != CUDNN_STATUS_SUCCESS ||
        cublasCreate(&ec->cublas) != CUBLAS_STATUS_SUCCESS) {
        ks_exec_context_destroy(ec);
        return ks__error(ctx, KS_DEVICE_ERROR, "creating cuDNN/cuBLAS handles");
    }
    cublasSetWorkspace(ec->cublas, (char *)ec->workspace + dnn_ws, CUBLAS_WS_BYTES);
    if (e->d.precision == KS_PRECISION_FP32)
        cublasSetMathMode(ec->cublas, CUBLAS_PEDANTIC_MATH);
    ks_status st = ks__ms_plan(ec);
    if (st != KS_OK) {
        ks_exec_context_destroy(ec);
        return st;
    }
    *out = ec;
    return KS_OK;
}

ks_status ks_exec_set_input_shape(ks_exec_context *ec, const char *name, int ndim,
                                  const int64_t *dims) {
    if (!ec || !name || (ndim > 0 && !dims))
        return KS_INVALID_ARGUMENT;
    ks_engine *e = ec->e;
    int b = ks_engine_binding_index(e, name);
    if (b < 0 || b >= e->d.n_inputs)
        return ks__error(e->ctx, KS_NOT_FOUND, "engine has no input '%s'", name);
    const ks_eng_tensor *t = &e->d.tensors[e->d.bindings[b]];
    int same = ndim == t->ndim;
    for (int i = 0; same && i < ndim; i++)
        same = dims[i] == t->dims[i];
    if (same)
        return KS_OK;
    char a[96], c[96];
    return ks__error(e->ctx, KS_UNSUPPORTED_SHAPE,
                     "input '%s': engine was built for %s, asked for %s; this engine is not "
                     "shape-dynamic: rebuild it with --shapes %s:%s",
                     name, ks_shape_str(t->dims, t->ndim, a, sizeof(a)),
                     ks_shape_str(dims, ndim, c, sizeof(c)), name, c);
}

ks_status ks_exec_binding_shape(const ks_exec_context *ec, int i, int *ndim,
                                int64_t dims[KS_MAX_DIMS]) {
    if (!ec)
        return KS_INVALID_ARGUMENT;
    return ks_engine_binding_info(ec->e, i, NULL, ndim, dims);
}

ks_status ks_exec_set_cuda_graph(ks_exec_context *ec, int enable) {
    if (!ec)
        return KS_INVALID_ARGUMENT;
    ec->use_graph = enable != 0;
    return KS_OK;
}

ks_status ks_exec_set_profiling(ks_exec_context *ec, int enable) {
    if (!ec)
        return KS_INVALID_ARGUMENT;
    if (enable && !ec->ev[0]) {
        for (int i = 0; i <= ec->e->d.n_layers; i++)
            KS_CUDA_TRY(ec->e->ctx, cudaEventCreate(&ec->ev[i]), "profiling events");
    }
    ec->profiling = enable != 0;
    return KS_OK;
}

int ks_exec_get_profile(const ks_exec_context *ec, ks_layer_profile *out, int cap) {
    if (!ec)
        return 0;
    const ks_engine *e = ec->e;
    int n = e->d.n_layers;
    if (!out)
        return n;
    for (int i = 0; i < n && i < cap; i++) {
        const ks_eng_layer *l = &e->d.layers[i];
        out[i].name = ks__eng_str(&e->d, l->name);
        out[i].kind = ks__layer_kind_name(l->kind);
        out[i].tactic = e->lrt[i].tactic_str;
        out[i].precision = l->dtype == KS_DTYPE_FLOAT16 ? KS_PRECISION_FP16
                           : l->ip[12] && l->kind == KS_LAYER_CONV ? KS_PRECISION_TF32
                                                                  : KS_PRECISION_FP32;
        out[i].n_runs = ec->prof_runs;
        out[i].mean_ms = ec->prof_runs ? ec->prof_ms[i] / (double)ec->prof_runs : 0.0;
    }
    return n < cap ? n : cap;
}

void ks__cuda_resolve(ks_exec_context *ec, void *const *bind) {
    const ks_eng_desc *d = &ec->e->d;
    for (int i = 0; i < d->n_tensors; i++) {
        int64_t off = 0;
        int r = ks__eng_root(d, i, &off);
        const ks_eng_tensor *t = &d->tensors[r];
        char *base = NULL;
        switch (t->storage) {
        case KS_STORE_ARENA: base = (char *)ec->arena + t->offset; break;
        case KS_STORE_WEIGHT: base = (char *)ec->e->d_weights + t->offset; break;
        case KS_STORE_BINDING: base = (char *)bind[t->offset]; break;
        default: base = NULL; break;
        }
        ec->tp[i] = base ? base + off : NULL;
    }
}

/* ------------------------------------------------------------ dispatch */
#define P(k) (l->in[k] >= 0 ? ec->tp[l->in[k]] : NULL)
#define T(k) (&d->tensors[l->in[k]])
#define CU(expr)                                                                            \
    do {                                                                                    \
        int rc_ = (expr);                                                                   \
        if (rc_)                                                                            \
            return ks__error(e->ctx, KS_DEVICE_ERROR, "layer '%s' (%s): CUDA error %s",     \
                             ks__eng_str(d, l->name), ks__layer_kind_name(l->kind),         \
                             cudaGetErrorString((cudaError_t)rc_));                         \
    } while (0)

/* Decodes instruction word pair w (docs/format.md, eltwise / segmap programs) and its immediate. */
static void ew_decode(const int64_t *w, float imm, int32_t *op, int32_t *dst, int32_t *ra, int32_t *rb, int32_t *act,
                      float *imm1, float *imm2) {
    *op = (int32_t)(w[0] & 0xff);
    *dst = (int32_t)((w[0] >> 8) & 0xff);
    *ra = (int32_t)((w[0] >> 16) & 0xff);
    *rb = (int32_t)((w[0] >> 24) & 0xff);
    *act = (int32_t)(w[1] & 0xffffffff);
    uint32_t bits = (uint32_t)((uint64_t)w[1] >> 32);
    memcpy(imm2, &bits, 4);
    *imm1 = imm;
}

/* Element strides of t broadcast (numpy rules, aligned on the right) against `rank` dims (0 on
 * broadcast axes); returns 1 when t has exactly those dims. */
static int bcast_strides(const ks_eng_tensor *t, int rank, const int64_t *dims, int64_t *strides) {
    int64_t st = 1;
    int same = t->ndim == rank;
    for (int j = rank - 1; j >= 0; j--) {
        int tj = j - (rank - t->ndim);
        int64_t td = tj >= 0 ? t->dims[tj] : 1;
        strides[j] = td == 1 ? 0 : st;
        if (td != dims[j])
            same = 0;
        st *= td;
    }
    return same;
}

static void fill_conv_args(const ks_exec_context *ec, const ks_eng_layer *l, ks_conv_args *a) {
    const ks_eng_desc *d = &ec->e->d;
    const ks_eng_tensor *x = &d->tensors[l->in[0]], *y = &d->tensors[l->out[0]];
    memset(a, 0, sizeof(*a));
    a->x = P(0);
    a->w = P(1);
    a->bias = P(2);
    a->res = P(3);
    a->prelu = (const float *)P(4);
    a->y = ec->tp[l->out[0]];
    a->n = (int)x->dims[0]; a->c = (int)x->dims[1]; a->ih = (int)x->dims[2]; a->iw = (int)x->dims[3];
    a->k = (int)y->dims[1]; a->oh = (int)y->dims[2]; a->ow = (int)y->dims[3];
    a->groups = (int)l->ip[0]; a->kh = (int)l->ip[1]; a->kw = (int)l->ip[2];
    a->sh = (int)l->ip[3]; a->sw = (int)l->ip[4]; a->pt = (int)l->ip[5]; a->pl = (int)l->ip[6];
    a->dh = (int)l->ip[9]; a->dw = (int)l->ip[10];
    a->act = l->act; a->act_a = l->act_a; a->act_b = l->act_b;
    a->res_after_act = (int)l->ip[11];
    a->ws = ec->workspace;
}

ks_status ks__cuda_run_layer(ks_exec_context *ec, int li, cudaStream_t s) {
    ks_engine *e = ec->e;
    const ks_eng_desc *d = &e->d;
    const ks_eng_layer *l = &d->layers[li];
    const ks_eng_tensor *y = &d->tensors[l->out[0]];
    void *yp = ec->tp[l->out[0]];
    int half = l->dtype == KS_DTYPE_FLOAT16;
    const int64_t *ip = l->ip;
    switch (l->kind) {
    case KS_LAYER_CONV: {
        ks_conv_args a;
        fill_conv_args(ec, l, &a);
        if (l->tactic == KS_TACTIC_OWN_DWPW) {
            /* fused depthwise + pointwise (format: docs/format.md, engine_file.c) */
            const ks_eng_tensor *x = T(0);
            ks_dwpw_args f;
            memset(&f, 0, sizeof f);
            f.x = a.x; f.dw_w = P(5); f.dw_bias = P(6); f.dw_prelu = (const float *)P(7);
            f.dw_act = (int)ip[24]; f.dw_act_a = l->fp[0]; f.dw_act_b = l->fp[1];
            f.w = a.w; f.bias = a.bias; f.res = a.res; f.prelu = a.prelu;
            f.act = a.act; f.act_a = a.act_a; f.act_b = a.act_b; f.res_after_act = a.res_after_act;
            f.y = a.y;
            f.n = (int)x->dims[0]; f.c = (int)x->dims[1]; f.ih = (int)x->dims[2]; f.iw = (int)x->dims[3];
            f.k = a.k; f.oh = a.oh; f.ow = a.ow;
            f.kh = (int)ip[14]; f.kw = (int)ip[15]; f.sh = (int)ip[16]; f.sw = (int)ip[17];
            f.pt = (int)ip[18]; f.pl = (int)ip[19]; f.dh = (int)ip[22]; f.dw = (int)ip[23];
            CU(ks__cu_conv_dwpw(&f, half, l->algo, s));
        } else if (l->tactic == KS_TACTIC_OWN_DW) {
            CU(ks__cu_conv_dw(&a, half, l->algo, s));
        } else if (l->tactic == KS_TACTIC_OWN_DIRECT) {
            if (l->algo >= KS_DIRECT_WIN_FIRST)
                CU(ks__cu_conv_win(&a, (int)l->algo - KS_DIRECT_WIN_FIRST, s));
            else if (l->algo == 2)
                CU(ks__cu_conv_tc_direct(&a, half, s));
            else if (l->algo == 1)
                CU(ks__cu_conv_direct_tiled(&a, half, s));
            else
                CU(ks__cu_conv_direct(&a, half, s));
        } else if (l->tactic == KS_TACTIC_OWN_PW) {
            if (l->algo == 1)
                CU(ks__cu_conv_pw_tc(&a, half, s));
            else
                CU(ks__cu_conv_pw_stream(&a, half, s));
        } else if (l->tactic == KS_TACTIC_OWN_GEMM || l->tactic == KS_TACTIC_DEFAULT) {
            /* ip[13]: tiles/split-K beyond the loader-checked algo 0..5 */
            int cfg = l->ip[13] > 0 ? (int)l->ip[13] : l->algo;
            if (l->ip[13] < 0 || !ks__eng_igemm_cfg_ok(cfg, half) || ks__cu_conv_igemm_ws(&a, cfg) > d->workspace_bytes)
                return ks__error(e->ctx, KS_CORRUPT_FILE, "layer '%s': invalid conv config %d",
                                 ks__eng_str(d, l->name), cfg);
            CU(ks__cu_conv_igemm(&a, half, cfg, s));
        } else {
            ks_cu_layer *r = &e->lrt[li];
            if (!r->has_cudnn)
                return ks__error(e->ctx, KS_INTERNAL, "layer '%s': cuDNN not set up", ks__eng_str(d, l->name));
            cudnnSetStream(ec->cudnn, s);
            float one = 1.f, zero = 0.f;
            cudnnStatus_t cs;
            if (l->tactic == KS_TACTIC_CUDNN_FUSED) {
                float a2 = a.res ? 1.f : 0.f;
                cs = cudnnConvolutionBiasActivationForward(
                    ec->cudnn, &one, r->xd, a.x, r->wd, a.w, r->cd, (cudnnConvolutionFwdAlgo_t)l->algo,
                    ec->workspace, (size_t)d->workspace_bytes, &a2, r->yd, a.res ? a.res : yp, r->bd,
                    a.bias, r->ad, r->yd, yp);
            } else {
                cs = cudnnConvolutionForward(ec->cudnn, &one, r->xd, a.x, r->wd, a.w, r->cd,
                                             (cudnnConvolutionFwdAlgo_t)l->algo, ec->workspace,
                                             (size_t)d->workspace_bytes, &zero, r->yd, yp);
            }
            if (cs != CUDNN_STATUS_SUCCESS)
                return ks__error(e->ctx, KS_DEVICE_ERROR, "layer '%s': cuDNN: %s",
                                 ks__eng_str(d, l->name), cudnnGetErrorString(cs));
            if (l->tactic == KS_TACTIC_CUDNN &&
                (a.bias || a.res || l->act != KS_ACT_NONE)) {
                a.x = yp;
                CU(ks__cu_conv_epilogue(&a, half, s));
            }
        }
        break;
    }
    case KS_LAYER_POOL: {
        const ks_eng_tensor *x = T(0);
        ks_pool_args a = {P(0), yp, (int)x->dims[0], (int)x->dims[1], (int)x->dims[2],
                          (int)x->dims[3], (int)y->dims[2], (int)y->dims[3], (int)ip[0], (int)ip[1],
                          (int)ip[2], (int)ip[3], (int)ip[4], (int)ip[5], (int)ip[6], (int)ip[7],
                          (int)ip[8]};
        CU(ks__cu_pool(&a, half, s));
        break;
    }
    case KS_LAYER_ELTWISE: {
        ks_ew_args a;
        memset(&a, 0, sizeof(a));
        a.n_in = l->n_in;
        a.rank = y->ndim;
        for (int k = 0; k < y->ndim; k++)
            a.dims[k] = y->dims[k];
        if (a.rank == 0) {
            a.rank = 1;
            a.dims[0] = 1;
        }
        for (int k = 0; k < l->n_in; k++) {
            a.in[k] = P(k);
            a.same_shape[k] = bcast_strides(T(k), y->ndim, y->dims, a.strides[k]);
        }
        a.n_instr = (int)ip[0];
        for (int k = 0; k < a.n_instr; k++)
            ew_decode(&ip[1 + 2 * k], l->fp[k], &a.op[k], &a.dst[k], &a.ra[k], &a.rb[k], &a.act[k], &a.imm[k],
                      &a.imm2[k]);
        a.out_reg = (int)ip[31];
        a.y = yp;
        CU(ks__cu_eltwise(&a, ks__eng_numel(y), half, s));
        break;
    }
    case KS_LAYER_SOFTMAX:
        CU(ks__cu_softmax(P(0), yp, ip[0], ip[1], ip[2], half, s));
        break;
    case KS_LAYER_CONCAT: {
        ks_concat_args a;
        memset(&a, 0, sizeof(a));
        a.n_in = l->n_in;
        a.outer = ip[0];
        for (int k = 0; k < l->n_in; k++) {
            a.in[k] = P(k);
            a.extent[k] = ip[2 + k] * ip[1];
            a.total += a.extent[k];
        }
        a.y = yp;
        CU(ks__cu_concat(&a, s));
        break;
    }
    case KS_LAYER_TRANSPOSE:
    case KS_LAYER_SLICE:
    case KS_LAYER_PAD: {
        const ks_eng_tensor *x = T(0);
        ks_nd_args a;
        memset(&a, 0, sizeof(a));
        a.x = P(0);
        a.y = yp;
        a.rank = (int)ip[0];
        a.pad_mode = -1;
        int64_t xs[KS_MAX_DIMS];
        ks__strides(x->dims, x->ndim, xs);
        for (int k = 0; k < a.rank; k++)
            a.odims[k] = y->dims[k];
        if (l->kind == KS_LAYER_TRANSPOSE) {
            for (int k = 0; k < a.rank; k++)
                a.in_strides[k] = xs[ip[1 + k]];
        } else if (l->kind == KS_LAYER_SLICE) {
            for (int k = 0; k < a.rank; k++) {
                a.in_offset += ip[1 + k] * xs[k];
                a.in_strides[k] = ip[9 + k] * xs[k];
            }
        } else {
            a.pad_mode = (int)ip[1];
            for (int k = 0; k < a.rank; k++) {
                a.in_strides[k] = xs[k];
                a.idims[k] = x->dims[k];
                a.pad_before[k] = ip[2 + k];
            }
            memcpy(&a.pad_value, &ip[20], 8);
        }
        CU(ks__cu_nd_copy(&a, (int)ks_dtype_size(x->dtype), s));
        break;
    }
    case KS_LAYER_RESIZE: {
        const ks_eng_tensor *x = T(0);
        int r = x->ndim;
        ks_resize_args a;
        memset(&a, 0, sizeof(a));
        a.x = P(0);
        a.y = yp;
        a.outer = 1;
        for (int k = 0; k < r - 2; k++)
            a.outer *= x->dims[k];
        a.ih = r >= 2 ? (int)x->dims[r - 2] : 1;
        a.iw = (int)x->dims[r - 1];
        a.oh = r >= 2 ? (int)y->dims[r - 2] : 1;
        a.ow = (int)y->dims[r - 1];
        a.mode = (int)ip[0];
        a.idx = (const int32_t *)P(1);
        a.wt = (const float *)P(2);
        CU(ks__cu_resize(&a, half, s));
        break;
    }
    case KS_LAYER_GATHER:
        CU(ks__cu_gather(P(0), (const int32_t *)P(1), yp, ip[0], ip[1], ip[2], ip[3], s));
        break;
    case KS_LAYER_CAST:
        CU(ks__cu_cast(P(0), T(0)->dtype, yp, y->dtype, ks__eng_numel(y), s));
        break;
    case KS_LAYER_COPY:
        if (y->bytes > 0 && P(0) != yp)
            CU((int)cudaMemcpyAsync(yp, P(0), (size_t)y->bytes, cudaMemcpyDeviceToDevice, s));
        break;
    case KS_LAYER_GEMM: {
        cublasSetStream(ec->cublas, s);
        int64_t B = ip[0], M = ip[1], N = ip[2], K = ip[3];
        int ta = (int)ip[4], tb = (int)ip[5];
        float alpha = l->fp[0], beta = 0.f;
        cudaDataType_t dt = half ? CUDA_R_16F : CUDA_R_32F;
        cublasComputeType_t ct = half ? CUBLAS_COMPUTE_32F
                                 : ip[12] ? CUBLAS_COMPUTE_32F_FAST_TF32
                                          : CUBLAS_COMPUTE_32F_PEDANTIC;
        /* row-major C = op(A) op(B)  <=>  col-major C^T = op(B)^T op(A)^T */
        cublasStatus_t bs = cublasGemmStridedBatchedEx(
            ec->cublas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N,
            (int)M, (int)K, &alpha, P(1), dt, tb ? (int)K : (int)N, ip[7], P(0), dt,
            ta ? (int)M : (int)K, ip[6], &beta, yp, dt, (int)N, M * N, (int)B, ct,
            CUBLAS_GEMM_DEFAULT);
        if (bs != CUBLAS_STATUS_SUCCESS)
            return ks__error(e->ctx, KS_DEVICE_ERROR, "layer '%s': cuBLAS status %d",
                             ks__eng_str(d, l->name), (int)bs);
        break;
    }
    case KS_LAYER_SEGMAP: {
        /* validated (engine_file.c): x [B,A,C,H,W] (or, tactic own:pointwise, the input of the 1x1 conv in
         * front), y [B,A,H,W,C], parts, constants, program */
        ks_segmap_args a;
        memset(&a, 0, sizeof(a));
        a.x = P(0);
        a.y = yp;
        a.B = y->dims[0], a.A = y->dims[1], a.C = y->dims[4], a.H = y->dims[2], a.W = y->dims[3];
        a.act = l->act, a.act_a = l->act_a, a.act_b = l->act_b;
        a.y_stride = l->algo; /* 0: rows packed; else elements per image (a batch > 1 concat buffer) */
        a.n_parts = (int)ip[0];
        int fi = 0, fc = 0;
        int64_t prev = 0;
        for (int k = 0; k < a.n_parts; k++) {
            a.end[k] = ip[1 + k];
            a.n_instr[k] = (int)(ip[5 + k] & 0xff), a.first_instr[k] = fi;
            a.n_const[k] = (int)((ip[5 + k] >> 8) & 0xff), a.first_const[k] = fc;
            int64_t pd[5] = {y->dims[0], y->dims[1], y->dims[2], y->dims[3], ip[1 + k] - prev};
            for (int j = 0; j < a.n_const[k]; j++) {
                a.c[fc + j] = P(1 + fc + j);
                bcast_strides(T(1 + fc + j), 5, pd, a.cst[fc + j]);
            }
            fi += a.n_instr[k], fc += a.n_const[k];
            prev = ip[1 + k];
        }
        for (int j = 0; j < (int)ip[9]; j++) {
            int32_t dst; /* every segmap instruction writes r4 */
            ew_decode(&ip[10 + 2 * j], l->fp[j], &a.op[j], &dst, &a.ra[j], &a.rb[j], &a.iact[j], &a.imm[j],
                      &a.imm2[j]);
        }
        if (l->tactic == KS_TACTIC_OWN_PW) {
            /* the conv's weights and bias follow the constants (fc of them) */
            ks_conv_args c;
            memset(&c, 0, sizeof c);
            c.x = a.x, c.w = P(1 + fc), c.bias = P(2 + fc), c.y = NULL;
            c.n = (int)a.B, c.c = (int)T(0)->dims[1], c.ih = (int)a.H, c.iw = (int)a.W;
            c.k = (int)(a.A * a.C), c.oh = (int)a.H, c.ow = (int)a.W;
            c.groups = c.kh = c.kw = c.sh = c.sw = c.dh = c.dw = 1;
            c.act = KS_ACT_NONE;
            CU(ks__cu_conv_pw_seg(&c, &a, s));
        } else {
            CU(ks__cu_segmap(&a, half, s));
        }
        break;
    }
    case KS_LAYER_PLUGIN:
        return ks__cuda_run_plugin(ec, li, s);
    default:
        return ks__error(e->ctx, KS_INTERNAL, "layer '%s': unknown kind %d", ks__eng_str(d, l->name),
                         l->kind);
    }
    return KS_OK;
}

static ks_status enqueue_layers(ks_exec_context *ec, cudaStream_t s, int profile) {
    ks_engine *e = ec->e;
    /* inside a capture (the context's graph or the caller's), independent layers go to auxiliary streams */
    enum cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    if (!profile && ec->ms && s != NULL && cudaStreamIsCapturing(s, &cs) == cudaSuccess &&
        cs == cudaStreamCaptureStatusActive)
        return ks__ms_enqueue(ec, s);
    for (int i = 0; i < e->d.n_layers; i++) {
        if (profile)
            cudaEventRecord(ec->ev[i], s);
        KS_CHECK(ks__cuda_run_layer(ec, i, s));
    }
    if (profile)
        cudaEventRecord(ec->ev[e->d.n_layers], s);
    return KS_OK;
}

ks_status ks_exec_run(ks_exec_context *ec, void *stream, void *const *bindings) {
    if (!ec || !bindings)
        return KS_INVALID_ARGUMENT;
    ks_engine *e = ec->e;
    ks_context *ctx = e->ctx;
    cudaStream_t s = (cudaStream_t)stream;
    int nb = e->d.n_inputs + e->d.n_outputs;
    int changed = !ec->ptrs_valid;
    for (int i = 0; i < nb; i++) {
        if (!bindings[i])
            return ks__error(ctx, KS_INVALID_ARGUMENT, "binding %d ('%s') is NULL", i,
                             ks_engine_binding_name(e, i));
        if (bindings[i] != ec->user_bind[i] || !ec->ptrs_valid) {
            struct cudaPointerAttributes pa;
            cudaError_t ce = cudaPointerGetAttributes(&pa, bindings[i]);
            if (ce != cudaSuccess) {
                cudaGetLastError();
                pa.type = cudaMemoryTypeUnregistered;
            }
            ec->bind_host[i] = pa.type == cudaMemoryTypeHost || pa.type == cudaMemoryTypeUnregistered;
            ec->user_bind[i] = bindings[i];
            changed = 1;
        }
    }
    void *dev_bind[64];
    void **db = dev_bind;
    if (nb > 64)
        return ks__error(ctx, KS_UNSUPPORTED_SHAPE, "more than 64 bindings");
    for (int i = 0; i < nb; i++)
        db[i] = ec->bind_host[i] ? (char *)ec->staging + ec->staging_off[i] : bindings[i];
    if (changed) {
        ks__cuda_resolve(ec, db);
        ec->ptrs_valid = 1;
        if (ec->graph_valid) {
            cudaGraphExecDestroy(ec->gexec);
            ec->graph_valid = 0;
        }
    }
    for (int i = 0; i < e->d.n_inputs; i++)
        if (ec->bind_host[i])
            KS_CUDA_TRY(ctx,
                        cudaMemcpyAsync(db[i], bindings[i],
                                        (size_t)e->d.tensors[e->d.bindings[i]].bytes,
                                        cudaMemcpyHostToDevice, s),
                        "input upload");
    if (ec->profiling) {
        KS_CHECK(enqueue_layers(ec, s, 1));
        KS_CUDA_TRY(ctx, cudaEventSynchronize(ec->ev[e->d.n_layers]), "profiling");
        for (int i = 0; i < e->d.n_layers; i++) {
            float ms = 0.f;
            cudaEventElapsedTime(&ms, ec->ev[i], ec->ev[i + 1]);
            ec->prof_ms[i] += ms;
        }
        ec->prof_runs++;
    } else if (ec->use_graph && s != NULL) {
        if (!ec->graph_valid) {
            cudaGraph_t g = NULL;
            KS_CUDA_TRY(ctx, cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "graph capture");
            ks_status st = enqueue_layers(ec, s, 0);
            cudaError_t ce = cudaStreamEndCapture(s, &g);
            if (st != KS_OK) { /* the capture is ended either way; a partial graph is dropped */
                if (ce == cudaSuccess && g)
                    cudaGraphDestroy(g);
                cudaGetLastError();
                return st;
            }
            KS_CUDA_TRY(ctx, ce, "graph capture");
            ce = cudaGraphInstantiate(&ec->gexec, g, 0);
            cudaGraphDestroy(g);
            KS_CUDA_TRY(ctx, ce, "graph instantiate");
            ec->graph_valid = 1;
        }
        KS_CUDA_TRY(ctx, cudaGraphLaunch(ec->gexec, s), "graph launch");
    } else {
        KS_CHECK(enqueue_layers(ec, s, 0));
    }
    for (int i = e->d.n_inputs; i < nb; i++)
        if (ec->bind_host[i])
            KS_CUDA_TRY(ctx,
                        cudaMemcpyAsync(bindings[i], db[i],
                                        (size_t)e->d.tensors[e->d.bindings[i]].bytes,
                                        cudaMemcpyDeviceToHost, s),
                        "output download");
    return KS_OK;
}

/* ------------------------------------------------------------ accessors */
ks_context *ks_engine_context(const ks_engine *e) { return e ? e->ctx : NULL; }
int ks_engine_num_inputs(const ks_engine *e) { return e ? e->d.n_inputs : 0; }
int ks_engine_num_outputs(const ks_engine *e) { return e ? e->d.n_outputs : 0; }
int ks_engine_num_layers(const ks_engine *e) { return e ? e->d.n_layers : 0; }

const char *ks_engine_binding_name(const ks_engine *e, int i) {
    if (!e || i < 0 || i >= e->d.n_inputs + e->d.n_outputs)
        return NULL;
    return ks__eng_str(&e->d, e->d.tensors[e->d.bindings[i]].name);
}

int ks_engine_binding_index(const ks_engine *e, const char *name) {
    if (!e || !name)
        return -1;
    for (int i = 0; i < e->d.n_inputs + e->d.n_outputs; i++)
        if (!strcmp(ks_engine_binding_name(e, i), name))
            return i;
    return -1;
}

ks_status ks_engine_binding_info(const ks_engine *e, int i, ks_dtype *dtype, int *ndim,
                                 int64_t dims[KS_MAX_DIMS]) {
    if (!e || i < 0 || i >= e->d.n_inputs + e->d.n_outputs)
        return KS_INVALID_ARGUMENT;
    const ks_eng_tensor *t = &e->d.tensors[e->d.bindings[i]];
    if (dtype)
        *dtype = (ks_dtype)t->dtype;
    if (ndim)
        *ndim = t->ndim;
    if (dims)
        for (int k = 0; k < t->ndim; k++)
            dims[k] = t->dims[k];
    return KS_OK;
}

ks_status ks_engine_memory_report(const ks_engine *e, ks_engine_memory *out) {
    if (!e || !out)
        return KS_INVALID_ARGUMENT;
    out->weight_bytes = (size_t)e->d.n_weight_bytes;
    out->activation_bytes = (size_t)e->d.arena_bytes;
    out->activation_naive_bytes = (size_t)e->d.naive_bytes;
    out->workspace_bytes = (size_t)e->d.workspace_bytes + CUBLAS_WS_BYTES;
    int64_t so = 0;
    for (int i = 0; i < e->d.n_inputs + e->d.n_outputs; i++)
        so += (e->d.tensors[e->d.bindings[i]].bytes + 255) / 256 * 256;
    out->staging_bytes = (size_t)so;
    return KS_OK;
}

const char *ks_engine_build_report(const ks_engine *e) { return e && e->report ? e->report : ""; }
double ks_engine_build_seconds(const ks_engine *e) { return e ? e->build_seconds : 0.0; }

ks_status ks_engine_serialize(const ks_engine *e, void **data, size_t *n_bytes) {
    if (!e || !data || !n_bytes)
        return KS_INVALID_ARGUMENT;
    return ks__eng_serialize(&e->d, data, n_bytes);
}

void ks_engine_free_buffer(const ks_engine *e, void *data) {
    if (e)
        ks__free(e->ctx, data);
}

ks_status ks_engine_save(const ks_engine *e, const char *path) {
    if (!e || !path)
        return KS_INVALID_ARGUMENT;
    void *buf;
    size_t n;
    KS_CHECK(ks__eng_serialize(&e->d, &buf, &n));
    FILE *f = fopen(path, "wb");
    if (!f) {
        ks__free(e->ctx, buf);
        return ks__error(e->ctx, KS_IO_ERROR, "cannot write '%s'", path);
    }
    size_t w = fwrite(buf, 1, n, f);
    int cl = fclose(f);
    ks__free(e->ctx, buf);
    if (w != n || cl != 0)
        return ks__error(e->ctx, KS_IO_ERROR, "writing '%s' failed", path);
    return KS_OK;
}

ks_status ks_engine_load_memory(ks_context *ctx, const void *data, size_t n_bytes, ks_engine **out) {
    if (!ctx || !out)
        return KS_INVALID_ARGUMENT;
    *out = NULL;
    ks_eng_desc d;
    KS_CHECK(ks__eng_parse(ctx, data, n_bytes, &d));
    return ks__cuda_engine_from_desc(ctx, &d, out);
}

ks_status ks_engine_load_file(ks_context *ctx, const char *path, ks_engine **out) {
    if (!ctx || !path || !out)
        return KS_INVALID_ARGUMENT;
    *out = NULL;
    void *data;
    size_t n;
    KS_CHECK(ks__read_file(ctx, path, &data, &n));
    ks_status st = ks_engine_load_memory(ctx, data, n, out);
    ks__free(ctx, data);
    if (st != KS_OK)
        ks__error_prefix(ctx, "%s", path);
    return st;
}
