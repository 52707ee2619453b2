// Elementwise programs with numpy broadcasting: up to 4 inputs loaded into
// registers r0..r3, up to 12 instructions over 8 registers, one output.
// Covers every unary activation, binary arithmetic and fused chains.
#include "backends/cuda/common.cuh"
#include "backends/cuda/fastdiv.cuh"
#include "backends/cuda/epi_n.cuh"
#include "backends/cuda/mma.cuh"
#include "backends/cuda/segmap.cuh"

namespace {
using namespace kseg;

struct EwP {
    const void *in[KS_CU_EW_MAX_IN];
    void *y;
    int n_in, rank;
    int64_t dims[6];
    int64_t strides[KS_CU_EW_MAX_IN][6];
    int same[KS_CU_EW_MAX_IN];
    int n_instr;
    int32_t op[12], dst[12], ra[12], rb[12], act[12];
    float imm[12], imm2[12];
    int out_reg;
};

template <typename T>
__global__ void eltwise_k(const __grid_constant__ EwP p, int64_t numel) {
    ks_pdl_wait();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= numel) return;
    float r[8];
    int64_t coord[6];
    {
        int64_t t = i;
        for (int d = p.rank - 1; d >= 0; d--) {
            coord[d] = t % p.dims[d];
            t /= p.dims[d];
        }
    }
#pragma unroll
    for (int k = 0; k < KS_CU_EW_MAX_IN; k++) {
        if (k >= p.n_in) break;
        int64_t off;
        if (p.same[k]) {
            off = i;
        } else {
            off = 0;
            for (int d = 0; d < p.rank; d++) off += coord[d] * p.strides[k][d];
        }
        r[k] = ks_ld((const T *)p.in[k] + off);
    }
    for (int s = 0; s < p.n_instr; s++)
        r[p.dst[s] & 7] = binop(p.op[s], r[p.ra[s] & 7], r[p.rb[s] & 7], p.imm[s], p.imm2[s], p.act[s]);
    ks_st((T *)p.y + i, r[p.out_reg & 7]);
}

// ---- fast path: every instruction writes the accumulator r4 (what the
// builder emits), inputs r0..r3 are read-only, so no register file is
// indexed at run time. V consecutive elements per thread with 16-byte
// loads/stores of same-shape inputs; broadcast inputs through 32-bit
// collapsed strides and precomputed fast division.
enum { IN_SAME = 0, IN_SCALAR = 1, IN_STRIDED = 2 };

struct EwF {
    const void *in[KS_CU_EW_MAX_IN];
    void *y;
    int n_in, rank;
    int kind[KS_CU_EW_MAX_IN];
    ks_fdiv fd[6];
    uint32_t st[KS_CU_EW_MAX_IN][6];
    int n_instr;
    int32_t op[12], ra[12], rb[12], act[12];
    float imm[12], imm2[12];
    int out_reg;
};

template <typename T, int V> __device__ __forceinline__ void ld_vec(const T *p, float *o) {
    if constexpr (V == 1) {
        o[0] = ks_ld(p);
    } else if constexpr (sizeof(T) == 4) {
        static_assert(V == 4, "float: 4 lanes");
        float4 v = __ldg((const float4 *)p);
        o[0] = v.x; o[1] = v.y; o[2] = v.z; o[3] = v.w;
    } else {
        static_assert(V == 8, "half: 8 lanes");
        uint4 u = __ldg((const uint4 *)p);
        const __half2 *h = (const __half2 *)&u;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            float2 f = __half22float2(h[j]);
            o[2 * j] = f.x; o[2 * j + 1] = f.y;
        }
    }
}

template <typename T, int V> __device__ __forceinline__ void st_vec(T *p, const float *o) {
    if constexpr (V == 1) {
        ks_st(p, o[0]);
    } else if constexpr (sizeof(T) == 4) {
        *(float4 *)p = make_float4(o[0], o[1], o[2], o[3]);
    } else {
        uint4 u;
        __half2 *h = (__half2 *)&u;
#pragma unroll
        for (int j = 0; j < 4; j++) h[j] = __floats2half2_rn(o[2 * j], o[2 * j + 1]);
        *(uint4 *)p = u;
    }
}

template <int V> __device__ __forceinline__ void act_vec(int act, const float *a, float *o, float p0, float p1) {
    switch (act) {
    case KS_ACT_RELU:
#pragma unroll
        for (int e = 0; e < V; e++) o[e] = fmaxf(a[e], 0.f);
        break;
    case KS_ACT_SIGMOID: // approximate reciprocal (2 ulp): 1 / inf = 0 for large -x
#pragma unroll
        for (int e = 0; e < V; e++) o[e] = __fdividef(1.f, 1.f + __expf(-a[e]));
        break;
    case KS_ACT_SILU:
#pragma unroll
        for (int e = 0; e < V; e++) o[e] = __fdividef(a[e], 1.f + __expf(-a[e]));
        break;
    case KS_ACT_CLIP:
#pragma unroll
        for (int e = 0; e < V; e++) o[e] = fminf(fmaxf(a[e], p0), p1);
        break;
    case KS_ACT_LEAKY:
#pragma unroll
        for (int e = 0; e < V; e++) o[e] = a[e] >= 0.f ? a[e] : a[e] * p0;
        break;
    default:
#pragma unroll
        for (int e = 0; e < V; e++) o[e] = ksconv::ks_act_rare(act, a[e], p0, p1);
        break;
    }
}

template <int V>
__device__ __forceinline__ void step_vec(int op, int act, float imm, float imm2, const float *a, const float *b,
                                         float *o) {
#define KS_EW_LOOP(expr) _Pragma("unroll") for (int e = 0; e < V; e++) o[e] = (expr); break;
    switch (op) {
    case KS_EW_UNARY: act_vec<V>(act, a, o, imm, imm2); break;
    case KS_EW_ADD: KS_EW_LOOP(a[e] + b[e])
    case KS_EW_SUB: KS_EW_LOOP(a[e] - b[e])
    case KS_EW_MUL: KS_EW_LOOP(a[e] * b[e])
    case KS_EW_DIV: KS_EW_LOOP(a[e] / b[e])
    case KS_EW_MIN: KS_EW_LOOP(fminf(a[e], b[e]))
    case KS_EW_MAX: KS_EW_LOOP(fmaxf(a[e], b[e]))
    case KS_EW_ADDC: KS_EW_LOOP(a[e] + imm)
    case KS_EW_MULC: KS_EW_LOOP(a[e] * imm)
    case KS_EW_RSUBC: KS_EW_LOOP(imm - a[e])
    case KS_EW_RDIVC: KS_EW_LOOP(imm / a[e])
    case KS_EW_PRELU: KS_EW_LOOP(a[e] >= 0.f ? a[e] : a[e] * b[e])
    default: KS_EW_LOOP(binop(op, a[e], b[e], imm, imm2, act))
    }
#undef KS_EW_LOOP
}

template <int V>
__device__ __forceinline__ void pick(int r, const float (&x)[KS_CU_EW_MAX_IN][V], const float *acc, float *o) {
#pragma unroll
    for (int e = 0; e < V; e++)
        o[e] = r == 0 ? x[0][e] : r == 1 ? x[1][e] : r == 2 ? x[2][e] : r == 3 ? x[3][e] : acc[e];
}

// BC: some input is broadcast with strides (then V divides the innermost
// collapsed dim, so a thread's V elements share one row).
// ONE: a single instruction acc = op(r0, r1): no operand selection.
template <typename T, int V, bool BC, bool ONE>
__global__ void __launch_bounds__(256) ew_fast_k(const __grid_constant__ EwF p, int64_t numel) {
    ks_pdl_wait();
    int64_t i0 = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * V;
    if (i0 >= numel) return;
    const bool full = i0 + V <= numel;
    float x[KS_CU_EW_MAX_IN][V];
    uint32_t base[KS_CU_EW_MAX_IN] = {0, 0, 0, 0};
    if (BC) {
        uint32_t t = (uint32_t)i0;
#pragma unroll
        for (int d = 5; d >= 0; d--) {
            if (d >= p.rank) continue;
            uint32_t q = ks_fdiv_q(p.fd[d], t), c = t - q * p.fd[d].d;
            t = q;
#pragma unroll
            for (int k = 0; k < KS_CU_EW_MAX_IN; k++) base[k] += c * p.st[k][d];
        }
    }
#pragma unroll
    for (int k = 0; k < KS_CU_EW_MAX_IN; k++) {
#pragma unroll
        for (int e = 0; e < V; e++) x[k][e] = 0.f;
        if (k >= p.n_in) continue;
        const T *in = (const T *)p.in[k];
        int kind = p.kind[k];
        if (kind == IN_SCALAR) {
            float v = ks_ld(in);
#pragma unroll
            for (int e = 0; e < V; e++) x[k][e] = v;
        } else if (kind == IN_SAME && full) {
            ld_vec<T, V>(in + i0, x[k]);
        } else if (kind == IN_SAME) {
#pragma unroll
            for (int e = 0; e < V; e++)
                if (i0 + e < numel) x[k][e] = ks_ld(in + i0 + e);
        } else {
            uint32_t s = p.st[k][p.rank - 1];
#pragma unroll
            for (int e = 0; e < V; e++) x[k][e] = ks_ld(in + base[k] + (uint32_t)e * s);
        }
    }
    float acc[V];
#pragma unroll
    for (int e = 0; e < V; e++) acc[e] = 0.f;
    float out[V];
    if (ONE) {
        step_vec<V>(p.op[0], p.act[0], p.imm[0], p.imm2[0], x[0], x[1], out);
    } else {
        for (int s = 0; s < p.n_instr; s++) {
            float a[V], b[V];
            pick<V>(p.ra[s], x, acc, a);
            pick<V>(p.rb[s], x, acc, b);
            step_vec<V>(p.op[s], p.act[s], p.imm[s], p.imm2[s], a, b, acc);
        }
        pick<V>(p.out_reg, x, acc, out);
    }
    T *y = (T *)p.y + i0;
    if (full) st_vec<T, V>(y, out);
    else {
#pragma unroll
        for (int e = 0; e < V; e++)
            if (i0 + e < numel) ks_st(y + e, out[e]);
    }
}

// Host: the fast path applies when every instruction writes r4 and reads
// r0..r4; returns 0 when launched, 1 when the generic kernel must run.
static int ew_fast(const ks_ew_args *a, int64_t numel, int half, cudaStream_t s) {
    if (numel >= ((int64_t)1 << 31) || a->n_in < 1 || a->n_in > KS_CU_EW_MAX_IN || a->rank < 1 || a->rank > 6)
        return 1;
    for (int k = 0; k < a->n_instr; k++)
        if (a->dst[k] != 4 || a->ra[k] < 0 || a->ra[k] > 4 || a->rb[k] < 0 || a->rb[k] > 4) return 1;
    if (a->out_reg < 0 || a->out_reg > 4 || (a->out_reg == 4 && a->n_instr == 0) ||
        (a->out_reg < 4 && a->out_reg >= a->n_in))
        return 1;
    EwF p;
    memset(&p, 0, sizeof p);
    p.y = a->y;
    p.n_in = a->n_in;
    p.n_instr = a->n_instr;
    p.out_reg = a->out_reg;
    for (int k = 0; k < 12; k++) {
        p.op[k] = a->op[k]; p.ra[k] = a->ra[k]; p.rb[k] = a->rb[k]; p.act[k] = a->act[k];
        p.imm[k] = a->imm[k]; p.imm2[k] = a->imm2[k];
    }
    // collapse: drop size-1 dims, merge neighbours contiguous for every input
    int64_t dims[6], st[KS_CU_EW_MAX_IN][6];
    int r = 0;
    for (int d = 0; d < a->rank; d++) {
        if (a->dims[d] == 1) continue;
        if (r > 0) {
            int m = 1;
            for (int k = 0; k < a->n_in; k++)
                if (st[k][r - 1] != a->strides[k][d] * a->dims[d]) m = 0;
            if (m) {
                dims[r - 1] *= a->dims[d];
                for (int k = 0; k < a->n_in; k++) st[k][r - 1] = a->strides[k][d];
                continue;
            }
        }
        dims[r] = a->dims[d];
        for (int k = 0; k < a->n_in; k++) st[k][r] = a->strides[k][d];
        r++;
    }
    if (r == 0) {
        dims[0] = 1;
        for (int k = 0; k < a->n_in; k++) st[k][0] = 0;
        r = 1;
    }
    int bc = 0;
    const int V = half ? 8 : 4, eb = half ? 2 : 4;
    int vec_ok = ((uintptr_t)a->y % 16) == 0;
    for (int k = 0; k < a->n_in; k++) {
        int same = 1, scalar = 1;
        int64_t cs = 1;
        for (int d = r - 1; d >= 0; d--) {
            if (st[k][d] != cs) same = 0;
            if (st[k][d] != 0) scalar = 0;
            cs *= dims[d];
        }
        p.in[k] = a->in[k];
        p.kind[k] = same || a->same_shape[k] ? IN_SAME : scalar ? IN_SCALAR : IN_STRIDED;
        if (p.kind[k] == IN_STRIDED) bc = 1;
        if (p.kind[k] == IN_SAME && ((uintptr_t)a->in[k] % 16) != 0) vec_ok = 0;
    }
    (void)eb;
    if (bc && dims[r - 1] % V) vec_ok = 0;
    p.rank = r;
    for (int d = 0; d < r; d++) {
        p.fd[d] = ks_fdiv_make((uint32_t)dims[d]);
        for (int k = 0; k < a->n_in; k++) p.st[k][d] = (uint32_t)st[k][d];
    }
    int v = vec_ok ? V : 1;
    dim3 g(ks_blocks((numel + v - 1) / v, 256)), b(256);
    int op0 = a->op[0];
    int ign_b = op0 == KS_EW_UNARY || op0 == KS_EW_ADDC || op0 == KS_EW_MULC || op0 == KS_EW_RSUBC ||
                op0 == KS_EW_RDIVC || op0 == KS_EW_POWC;
    int one = a->n_instr == 1 && a->ra[0] == 0 && a->out_reg == 4 && ((a->rb[0] == 1 && a->n_in >= 2) || ign_b);
#define KS_EW_GO(TT, VV)                                                                          \
    (bc ? (one ? ks_launch(ew_fast_k<TT, VV, true, true>, g, b, s, p, numel)                      \
               : ks_launch(ew_fast_k<TT, VV, true, false>, g, b, s, p, numel))                    \
        : (one ? ks_launch(ew_fast_k<TT, VV, false, true>, g, b, s, p, numel)                     \
               : ks_launch(ew_fast_k<TT, VV, false, false>, g, b, s, p, numel)))
    if (half) { if (v > 1) KS_EW_GO(__half, 8); else KS_EW_GO(__half, 1); }
    else { if (v > 1) KS_EW_GO(float, 4); else KS_EW_GO(float, 1); }
#undef KS_EW_GO
    return 0;
}


// Segmented map (kernels.h ks_segmap_args, segmap.cuh): one thread per output element.
// One thread per output element. SMALL: every index and constant offset fits 31 bits, so the
// coordinates come from precomputed 32-bit divisions (fastdiv.cuh) instead of 64-bit ones.
template <typename T, bool SMALL>
__global__ void __launch_bounds__(256) segmap_k(const __grid_constant__ SegP p, ks_fdiv fC, ks_fdiv fW, ks_fdiv fH,
                                                ks_fdiv fA, int64_t numel) {
    ks_pdl_wait();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= numel) return;
    uint32_t c, w, h, bi, ai;
    int64_t ba;
    if (SMALL) {
        uint32_t t = (uint32_t)i, q = ks_fdiv_q(fC, t);
        c = t - q * p.C;
        t = q, q = ks_fdiv_q(fW, t), w = t - q * p.W;
        t = q, q = ks_fdiv_q(fH, t), h = t - q * p.H;
        ba = q, bi = ks_fdiv_q(fA, q), ai = q - bi * p.A;
    } else {
        int64_t t = i;
        c = (uint32_t)(t % p.C), t /= p.C;
        w = (uint32_t)(t % p.W), t /= p.W;
        h = (uint32_t)(t % p.H), t /= p.H;
        ba = t, bi = (uint32_t)(t / p.A), ai = (uint32_t)(t % p.A);
    }
    const int64_t src = SMALL ? (int64_t)(((uint32_t)ba * p.C + c) * p.H + h) * p.W + w
                              : ((ba * p.C + c) * p.H + h) * p.W + w;
    float r4 = ksconv::ks_act1(p.act, ks_ld((const T *)p.x + src), p.act_a, p.act_b);
    float r0 = 0.f, r1 = 0.f, r2 = 0.f, r3 = 0.f;
    int k = 0;
    while (k + 1 < p.n_parts && c >= p.end[k]) k++;
    const uint32_t cc = c - (k ? p.end[k - 1] : 0u);
    for (int j = 0; j < p.n_const[k]; j++) {
        const int q = p.first_const[k] + j;
        const int64_t *st = p.cst[q];
        int64_t off = SMALL ? (int64_t)(uint32_t)(bi * (uint32_t)st[0] + ai * (uint32_t)st[1] + h * (uint32_t)st[2] +
                                                  w * (uint32_t)st[3] + cc * (uint32_t)st[4])
                            : bi * st[0] + ai * st[1] + h * st[2] + w * st[3] + cc * st[4];
        float v = ks_ld((const T *)p.c[q] + off);
        if (j == 0) r0 = v; else if (j == 1) r1 = v; else if (j == 2) r2 = v; else r3 = v;
    }
    for (int s = p.first_instr[k]; s < p.first_instr[k] + p.n_instr[k]; s++)
        r4 = binop(p.op[s], seg_reg(p.ra[s], r0, r1, r2, r3, r4), seg_reg(p.rb[s], r0, r1, r2, r3, r4), p.imm[s],
                   p.imm2[s], p.iact[s]);
    ks_st((T *)p.y + ((int64_t)bi * p.ys + (i - (int64_t)bi * p.row)), r4);
}

// ---- the same map, transposed through shared memory (the default where it fits; KESTREL_SEGMAP_TILED=0 for
// the kernel above). Tiles of (image * anchor, TP pixels: 128, or SEG_TP = 64).
//  Phase 0 (16-byte aligned channel rows): the tile's input goes to shared memory with cp.async; persistent
//  blocks, double-buffered, so the next tile's copy is in flight while this one is computed.
//  Phase 1: a thread takes SEG_V consecutive pixels of one channel, so the channel's part, its constants' base
//  offsets, the activation and every instruction are decided once for SEG_V values, then writes them to shared
//  memory in output order.
//  Phase 2: the block's TP * C outputs are one contiguous run, copied out with 16-byte stores.
// YOLOv5n FP16 batch 32, 80x80 level (bench/RESULTS.md ninth session): 0.436 ms with the kernel above; 0.215 ms
// with 16-byte loads straight from global memory, one tile per block; 0.202 ms with the tile through cp.async
// (Nsight Compute: 40 % of the stalls at the barriers around copy and compute, DRAM at 16 %); 0.187 ms
// double-buffered with 64-pixel tiles; 0.150 ms with 128. (The first tiled version, reverted in 9cc285d, read
// 2 bytes per thread and ran the whole per-element program after the transpose: slower than the plain kernel.)
constexpr int SEG_TP = 64;

// SEG_V values from shared memory (16-byte aligned)
template <typename T> __device__ __forceinline__ void ld8s(const T *p, float (&o)[SEG_V]) {
    if constexpr (sizeof(T) == 4) {
        const float4 a = ((const float4 *)p)[0], b = ((const float4 *)p)[1];
        o[0] = a.x, o[1] = a.y, o[2] = a.z, o[3] = a.w, o[4] = b.x, o[5] = b.y, o[6] = b.z, o[7] = b.w;
    } else {
        const uint4 u = *(const uint4 *)p;
        const __half2 *h = (const __half2 *)&u;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const float2 f = __half22float2(h[j]);
            o[2 * j] = f.x, o[2 * j + 1] = f.y;
        }
    }
}

// The input tile of (image * anchor ba, pixels pix0..) into xs ([C][SEG_TP]) with 16-byte cp.async, zero-filled
// past the map (HW % SEG_V == 0, so a piece is wholly in or out); committed as one group.
template <typename T, int TP>
__device__ __forceinline__ void seg_stage(const SegP &p, T *xs, uint32_t ba, uint32_t pix0) {
    constexpr uint32_t E = 16 / sizeof(T), RCH = TP / E;
    const uint32_t HW = p.H * p.W, C = p.C, np = min((uint32_t)TP, HW - pix0);
    const T *x = (const T *)p.x + (size_t)ba * C * HW + pix0;
    for (uint32_t j = threadIdx.x; j < C * RCH; j += blockDim.x) {
        const uint32_t c = j / RCH, q = (j % RCH) * E;
        const bool in = q < np;
        cp_async16(smem_u32(xs + c * TP + q), in ? (const void *)(x + (size_t)c * HW + q) : (const void *)x,
                   in ? 16 : 0);
    }
    cp_async_commit();
}

// One tile: phase 1 (the part programs, from xs when VEC, else from global memory) into ys in output order,
// a barrier, phase 2 (the contiguous copy out). The caller separates tiles with a barrier before ys is
// written again.
template <typename T, bool VEC, int TP = SEG_TP>
__device__ __forceinline__ void seg_tile(const SegP &p, ks_fdiv fW, ks_fdiv fA, uint32_t ba, uint32_t pix0,
                                         const T *xs, T *ys) {
    const uint32_t HW = p.H * p.W, C = p.C;
    const uint32_t bi = ks_fdiv_q(fA, ba), ai = ba - bi * p.A;
    const uint32_t np = min((uint32_t)TP, HW - pix0);
    const T *x = (const T *)p.x + (size_t)ba * C * HW + pix0;
    constexpr uint32_t NCH = TP / SEG_V;
    for (uint32_t j = threadIdx.x; j < C * NCH; j += blockDim.x) {
        const uint32_t c = j / NCH, q0 = (j % NCH) * SEG_V;
        if (q0 >= np) continue;
        const T *xr = x + (size_t)c * HW + q0;
        float r4[SEG_V];
        if (VEC) {
            ld8s<T>(xs + c * TP + q0, r4);
        } else {
#pragma unroll
            for (int i = 0; i < SEG_V; i++) r4[i] = q0 + i < np ? ks_ld(xr + i) : 0.f;
        }
        seg_eval<T>(p, fW, bi, ai, c, pix0 + q0, np - q0, r4);
#pragma unroll
        for (int i = 0; i < SEG_V; i++)
            if (q0 + i < np) ks_st(ys + (q0 + i) * C + c, r4[i]);
    }
    __syncthreads();
    copy_run((T *)p.y + (int64_t)bi * p.ys + ((size_t)ai * HW + pix0) * C, ys, np * C, threadIdx.x, blockDim.x);
}

// Rows not 16-byte aligned: one block per tile (grid: tiles per image * anchor, B * A), global loads.
template <typename T>
__global__ void __launch_bounds__(256) segmap_tp_k(const __grid_constant__ SegP p, ks_fdiv fW, ks_fdiv fA) {
    ks_pdl_wait();
    extern __shared__ __align__(16) unsigned char seg_sm[];
    seg_tile<T, false>(p, fW, fA, blockIdx.y, blockIdx.x * SEG_TP, (const T *)nullptr, (T *)seg_sm);
}

// 16-byte rows: persistent blocks walk the tiles (tile = ba * tiles_per + pixel tile); the next tile's input
// goes to the other buffer with cp.async while this one is computed and copied out.
// Shared memory: ys [TP][C], then two input tiles [C][TP].
template <typename T, int TP>
__global__ void __launch_bounds__(256) segmap_tp2_k(const __grid_constant__ SegP p, ks_fdiv fW, ks_fdiv fA,
                                                    ks_fdiv fT, uint32_t n_tiles) {
    ks_pdl_wait();
    extern __shared__ __align__(16) unsigned char seg_sm[];
    T *ys = (T *)seg_sm, *xs0 = ys + TP * p.C, *xs1 = xs0 + TP * p.C;
    uint32_t tile = blockIdx.x;
    if (tile >= n_tiles) return;
    uint32_t ba = ks_fdiv_q(fT, tile);
    seg_stage<T, TP>(p, xs0, ba, (tile - ba * fT.d) * TP);
    for (int buf = 0; tile < n_tiles; tile += gridDim.x, buf ^= 1) {
        const uint32_t next = tile + gridDim.x;
        if (next < n_tiles) {
            const uint32_t nba = ks_fdiv_q(fT, next);
            seg_stage<T, TP>(p, buf ? xs0 : xs1, nba, (next - nba * fT.d) * TP);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads(); // this tile's input is in; the previous tile's copy-out is done with ys
        ba = ks_fdiv_q(fT, tile);
        seg_tile<T, true, TP>(p, fW, fA, ba, (tile - ba * fT.d) * TP, buf ? xs1 : xs0, ys);
        __syncthreads(); // ys and this input buffer are free again
    }
}
} // namespace

extern "C" int ks__cu_eltwise(const ks_ew_args *a, int64_t numel, int half, void *stream) {
    EwP p;
    memset(&p, 0, sizeof(p));
    for (int k = 0; k < KS_CU_EW_MAX_IN; k++) {
        p.in[k] = a->in[k];
        p.same[k] = a->same_shape[k];
        for (int d = 0; d < 6; d++) p.strides[k][d] = a->strides[k][d];
    }
    p.y = a->y; p.n_in = a->n_in; p.rank = a->rank;
    for (int d = 0; d < 6; d++) p.dims[d] = a->dims[d];
    p.n_instr = a->n_instr;
    for (int s = 0; s < 12; s++) {
        p.op[s] = a->op[s]; p.dst[s] = a->dst[s]; p.ra[s] = a->ra[s]; p.rb[s] = a->rb[s];
        p.act[s] = a->act[s]; p.imm[s] = a->imm[s]; p.imm2[s] = a->imm2[s];
    }
    p.out_reg = a->out_reg;
    if (numel <= 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    if (!ks__cu_fast_off() && ew_fast(a, numel, half, s) == 0) KS_CU_RET();
    if (half) ks_launch(eltwise_k<__half>, dim3(ks_blocks(numel, 256)), dim3(256), s, p, numel);
    else ks_launch(eltwise_k<float>, dim3(ks_blocks(numel, 256)), dim3(256), s, p, numel);
    KS_CU_RET();
}

/* The persistent kernel with TP-pixel tiles: as many blocks as fit at once (over 48 KB of shared memory: the
 * opt-in, once per kernel), each walking tiles_per * images tiles. */
template <typename T, int TP>
static int tp2_launch(const SegP &p, ks_fdiv fW, ks_fdiv fA, int64_t tiles_per, int64_t images, size_t smem,
                      cudaStream_t s) {
    static int attr = 0;
    if (smem > 48 * 1024)
        if (int rc = smem_attr(segmap_tp2_k<T, TP>, 96 * 1024, attr)) return rc;
    const int64_t n_tiles = tiles_per * images;
    int64_t grid = 0;
    if (int rc = persistent_grid(segmap_tp2_k<T, TP>, 256, smem, n_tiles, &grid)) return rc;
    return ks_launch_smem(segmap_tp2_k<T, TP>, dim3((unsigned)grid), dim3(256), smem, s, p, fW, fA,
                          ks_fdiv_make((uint32_t)tiles_per), (uint32_t)n_tiles);
}

/* Pixels per tile of the persistent kernel: 128 (KESTREL_SEGMAP_TP=64 for the same-binary A/B: YOLOv5n FP16
 * batch 32, 80x80 level 0.187 ms with 64, 0.150 ms with 128, bench/RESULTS.md ninth session), read once per
 * process */
static int tile_px(void) {
    static int tp = 0; /* benign race, as below */
    if (!tp) {
        const char *e = getenv("KESTREL_SEGMAP_TP");
        tp = e && !strcmp(e, "64") ? 64 : 128;
    }
    return tp;
}

/* KESTREL_SEGMAP_TILED=0: the one-thread-per-output segmap kernel (same-binary A/B), read once per process */
static int tiled_on(void) {
    static int state = -1; /* benign race, as for ks__cu_fast_off */
    if (state < 0) {
        const char *e = getenv("KESTREL_SEGMAP_TILED");
        state = !(e && *e == '0');
    }
    return state;
}

extern "C" int ks__cu_segmap(const ks_segmap_args *a, int half, void *stream) {
    const SegP p = seg_params(a);
    int64_t numel = a->B * a->A * a->H * a->W * a->C;
    if (numel <= 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    /* 32-bit indexing when every element index and every constant's extent fits 31 bits */
    const bool small = seg_small(a) && !ks__cu_fast_off();
    ks_fdiv fC = ks_fdiv_make((uint32_t)a->C), fW = ks_fdiv_make((uint32_t)a->W), fH = ks_fdiv_make((uint32_t)a->H),
            fA = ks_fdiv_make((uint32_t)a->A);
    const int64_t hw = a->H * a->W;
    const size_t sm1 = (size_t)SEG_TP * a->C * (half ? 2 : 4); /* one tile: the outputs, or an input tile */
    if (small && sm1 <= 48 * 1024 && a->B * a->A <= 65535 && tiled_on()) {
        const int64_t tiles_per = (hw + SEG_TP - 1) / SEG_TP;
        const bool vec = hw % SEG_V == 0 && ((uintptr_t)a->x & 15) == 0 && 3 * sm1 <= 48 * 1024;
        if (vec) {
            /* tiles of 128 pixels where the three tiles fit in 96 KB (tile_px), else 64 */
            const int tp = tile_px() == 128 && 6 * sm1 <= 96 * 1024 ? 128 : 64;
            const int64_t tiles2 = (hw + tp - 1) / tp;
            const size_t sm3 = 3 * sm1 * (size_t)(tp / SEG_TP);
            const int rc = half ? (tp == 128 ? tp2_launch<__half, 128>(p, fW, fA, tiles2, a->B * a->A, sm3, s)
                                             : tp2_launch<__half, 64>(p, fW, fA, tiles2, a->B * a->A, sm3, s))
                                : (tp == 128 ? tp2_launch<float, 128>(p, fW, fA, tiles2, a->B * a->A, sm3, s)
                                             : tp2_launch<float, 64>(p, fW, fA, tiles2, a->B * a->A, sm3, s));
            if (rc) return rc;
        } else {
            dim3 g((unsigned)tiles_per, (unsigned)(a->B * a->A));
            if (half) ks_launch_smem(segmap_tp_k<__half>, g, dim3(256), sm1, s, p, fW, fA);
            else ks_launch_smem(segmap_tp_k<float>, g, dim3(256), sm1, s, p, fW, fA);
        }
        KS_CU_RET();
    }
    dim3 g(ks_blocks(numel, 256)), blk(256);
    if (half && small) ks_launch(segmap_k<__half, true>, g, blk, s, p, fC, fW, fH, fA, numel);
    else if (half) ks_launch(segmap_k<__half, false>, g, blk, s, p, fC, fW, fH, fA, numel);
    else if (small) ks_launch(segmap_k<float, true>, g, blk, s, p, fC, fW, fH, fA, numel);
    else ks_launch(segmap_k<float, false>, g, blk, s, p, fC, fW, fH, fA, numel);
    KS_CU_RET();
}
