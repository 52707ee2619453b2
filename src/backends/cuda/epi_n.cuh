// The fused conv epilogue for N values of one output channel at once.
//
// Why: conv_p.cuh's epi() decides the activation per value. The activation is a kernel parameter, so every
// value walks the same compare-and-branch tree over the ~27 activations (and PReLU, bias, residual) before its
// one fmaxf: in the bandwidth-bound batch-32 kernels (own:pointwise:1, own:depthwise:4) that made them issue-
// bound (Nsight Compute, RFB-640 FP16 batch 32: 57-62 % SM throughput at 15-20 % of the DRAM bandwidth). Here
// the decision is taken once per group of N values and the common activations run as straight loops; the rest
// go through one out-of-line copy of ks_apply_act. Same formulas, same order of operations as epi(), so the
// results are the same.
#pragma once
#include "backends/cuda/common.cuh"

namespace ksconv {

static __device__ __noinline__ float ks_act_rare(int act, float x, float a, float b) {
    return ks_apply_act(act, x, a, b);
}

// ks_apply_act for one value with the common activations inline and the rest out of line: for the
// kernels that still apply the epilogue value by value (a short compare chain instead of the whole
// switch inlined per value)
static __device__ __forceinline__ float ks_act1(int act, float x, float a, float b) {
    if (act == KS_ACT_NONE) return x;
    if (act == KS_ACT_RELU) return fmaxf(x, 0.f);
    if (act == KS_ACT_SILU) return x * ks_sigmoid(x);
    if (act == KS_ACT_SIGMOID) return ks_sigmoid(x);
    return ks_act_rare(act, x, a, b);
}

// The activation (not PReLU) of N values: one decision for all of them.
template <int N>
__device__ __forceinline__ void ks_act_n(int act, float (&v)[N], float a, float b) {
    if (act == KS_ACT_NONE) return;
    if (act == KS_ACT_RELU) {
#pragma unroll
        for (int i = 0; i < N; i++) v[i] = fmaxf(v[i], 0.f);
    } else if (act == KS_ACT_SILU) {
#pragma unroll
        for (int i = 0; i < N; i++) v[i] = v[i] * ks_sigmoid(v[i]);
    } else if (act == KS_ACT_LEAKY) {
#pragma unroll
        for (int i = 0; i < N; i++) v[i] = v[i] >= 0.f ? v[i] : v[i] * a;
    } else if (act == KS_ACT_CLIP) {
#pragma unroll
        for (int i = 0; i < N; i++) v[i] = fminf(fmaxf(v[i], a), b);
    } else if (act == KS_ACT_SIGMOID) {
#pragma unroll
        for (int i = 0; i < N; i++) v[i] = ks_sigmoid(v[i]);
    } else if (act == KS_ACT_HSWISH) {
#pragma unroll
        for (int i = 0; i < N; i++) v[i] = v[i] * fminf(fmaxf(v[i] + 3.f, 0.f), 6.f) * (1.f / 6.f);
    } else {
#pragma unroll
        for (int i = 0; i < N; i++) v[i] = ks_act_rare(act, v[i], a, b);
    }
}

// epi() for N values of channel co: value i belongs at output index yi[i] (where the residual is read);
// yi[i] < 0 marks a value that is not stored (its residual is not read). P as for epi(); I int or int64_t.
template <typename T, int N, typename P, typename I>
__device__ __forceinline__ void epi_n(const P &p, float (&v)[N], int co, const I (&yi)[N]) {
    if (p.bias) {
        const float bias = ks_ld((const T *)p.bias + co);
#pragma unroll
        for (int i = 0; i < N; i++) v[i] += bias;
    }
    if (p.res && !p.res_after_act) {
#pragma unroll
        for (int i = 0; i < N; i++)
            if (yi[i] >= 0) v[i] += ks_ld((const T *)p.res + yi[i]);
    }
    if (p.act == KS_ACT_PRELU) {
        const float sl = __ldg(p.prelu + co);
#pragma unroll
        for (int i = 0; i < N; i++) v[i] = v[i] >= 0.f ? v[i] : v[i] * sl;
    } else {
        ks_act_n<N>(p.act, v, p.act_a, p.act_b);
    }
    if (p.res && p.res_after_act) {
#pragma unroll
        for (int i = 0; i < N; i++)
            if (yi[i] >= 0) v[i] += ks_ld((const T *)p.res + yi[i]);
    }
}

// epi_n for N consecutive outputs y0 .. y0 + N - 1 of channel co (all stored)
template <typename T, int N, typename P>
__device__ __forceinline__ void epi_run(const P &p, float (&v)[N], int co, int64_t y0) {
    int64_t yi[N];
#pragma unroll
    for (int i = 0; i < N; i++) yi[i] = y0 + i;
    epi_n<T, N>(p, v, co, yi);
}

} // namespace ksconv
