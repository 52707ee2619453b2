// Shared device helpers for kestrel's CUDA kernels (C++ only inside .cu).
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>
#include "format/engine_format.h"
#include "backends/cuda/kernels.h"

#define KS_CU_RET()                                \
    do {                                           \
        cudaError_t e_ = cudaGetLastError();       \
        return (int)e_;                            \
    } while (0)

static __device__ __forceinline__ float ks_ld(const float *p) { return __ldg(p); }
static __device__ __forceinline__ float ks_ld(const __half *p) { return __half2float(__ldg(p)); }
static __device__ __forceinline__ void ks_st(float *p, float v) { *p = v; }
static __device__ __forceinline__ void ks_st(__half *p, float v) { *p = __float2half_rn(v); }

static __device__ __forceinline__ float ks_sigmoid(float x) { return 1.f / (1.f + __expf(-x)); }

// Activation (ks_act). PRELU is handled by callers (needs a slope).
static __device__ __forceinline__ float ks_apply_act(int act, float x, float a, float b) {
    switch (act) {
    case KS_ACT_NONE: return x;
    case KS_ACT_RELU: return fmaxf(x, 0.f);
    case KS_ACT_LEAKY: return x >= 0.f ? x : x * a;
    case KS_ACT_CLIP: return fminf(fmaxf(x, a), b);
    case KS_ACT_SIGMOID: return ks_sigmoid(x);
    case KS_ACT_SILU: return x * ks_sigmoid(x);
    case KS_ACT_HSWISH: return x * fminf(fmaxf(x + 3.f, 0.f), 6.f) * (1.f / 6.f);
    case KS_ACT_HSIGMOID: return fminf(fmaxf(a * x + b, 0.f), 1.f);
    case KS_ACT_TANH: return tanhf(x);
    case KS_ACT_EXP: return expf(x);
    case KS_ACT_LOG: return logf(x);
    case KS_ACT_SQRT: return sqrtf(x);
    case KS_ACT_NEG: return -x;
    case KS_ACT_ABS: return fabsf(x);
    case KS_ACT_FLOOR: return floorf(x);
    case KS_ACT_CEIL: return ceilf(x);
    case KS_ACT_RECIP: return 1.f / x;
    case KS_ACT_ELU: return x >= 0.f ? x : a * (expf(x) - 1.f);
    case KS_ACT_SOFTPLUS: return x > 20.f ? x : log1pf(expf(x));
    case KS_ACT_ERF: return erff(x);
    case KS_ACT_GELU: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case KS_ACT_MISH: return x * tanhf(x > 20.f ? x : log1pf(expf(x)));
    case KS_ACT_ROUND: return rintf(x);
    case KS_ACT_SIN: return sinf(x);
    case KS_ACT_COS: return cosf(x);
    case KS_ACT_SELU: return x > 0.f ? b * x : b * a * (expf(x) - 1.f);
    case KS_ACT_SOFTSIGN: return x / (1.f + fabsf(x));
    default: return x;
    }
}

// Programmatic dependent launch (Hopper): kernels launched with ks_launch
// start while the previous kernel drains; each such kernel must call
// ks_pdl_wait() before touching global memory (it waits for the previous
// grid to complete and flush). Off by default (measured slower, see
// bench/RESULTS.md); KESTREL_PDL=1 turns the launch attribute on.
static __device__ __forceinline__ void ks_pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;");
#endif
}

int ks__pdl_enabled(void);

// Launches k with dynamic shared memory smem on stream s, in thread-block clusters of 1 x 1 x cluster_z
// blocks when cluster_z > 1 (sm_90; grid.z a multiple of it), with programmatic dependent launch when
// KESTREL_PDL=1; returns the cudaError_t as an int.
template <typename... KArgs, typename... Args>
static inline int ks_launch_ex(void (*k)(KArgs...), dim3 grid, dim3 block, size_t smem, unsigned cluster_z,
                               cudaStream_t s, Args... args) {
    cudaLaunchConfig_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cudaLaunchAttribute at[2];
    unsigned n = 0;
    if (cluster_z > 1) {
        at[n].id = cudaLaunchAttributeClusterDimension;
        at[n].val.clusterDim.x = 1;
        at[n].val.clusterDim.y = 1;
        at[n++].val.clusterDim.z = cluster_z;
    }
    if (ks__pdl_enabled()) {
        at[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[n++].val.programmaticStreamSerializationAllowed = 1;
    }
    cfg.attrs = at;
    cfg.numAttrs = n;
    return (int)cudaLaunchKernelEx(&cfg, k, ((KArgs)args)...);
}

template <typename... KArgs, typename... Args>
static inline int ks_launch_smem(void (*k)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t s,
                                 Args... args) {
    return ks_launch_ex(k, grid, block, smem, 1u, s, args...);
}

template <typename... KArgs, typename... Args>
static inline int ks_launch(void (*k)(KArgs...), dim3 grid, dim3 block, cudaStream_t s, Args... args) {
    return ks_launch_ex(k, grid, block, 0, 1u, s, args...);
}

static inline unsigned ks_blocks(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    return (unsigned)(b > 0x7fffffff ? 0x7fffffff : (b < 1 ? 1 : b));
}
