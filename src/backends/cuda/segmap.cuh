// The segmented map's device pieces (kernels.h ks_segmap_args), shared by the segmap kernels (eltwise.cu) and
// the tensor-core 1x1 conv that runs a segmap in its epilogue (conv_tc.cu, own:pointwise:1 + segmap): the
// parameter block, the instruction set and one channel's part program over SEG_V consecutive pixels.
#pragma once
#include "backends/cuda/common.cuh"
#include "backends/cuda/fastdiv.cuh"
#include "backends/cuda/epi_n.cuh"
#include <string.h>

namespace kseg {

__device__ __forceinline__ float binop(int op, float a, float b, float imm, float imm2, int act) {
    switch (op) {
    case KS_EW_UNARY: return ksconv::ks_act1(act, a, imm, imm2); // the rare ones out of line (epi_n.cuh)
    case KS_EW_ADD: return a + b;
    case KS_EW_SUB: return a - b;
    case KS_EW_MUL: return a * b;
    case KS_EW_DIV: return a / b;
    case KS_EW_POW: return powf(a, b);
    case KS_EW_MIN: return fminf(a, b);
    case KS_EW_MAX: return fmaxf(a, b);
    case KS_EW_ADDC: return a + imm;
    case KS_EW_MULC: return a * imm;
    case KS_EW_RSUBC: return imm - a;
    case KS_EW_RDIVC: return imm / a;
    case KS_EW_POWC: return imm == 2.f ? a * a : (imm == 0.5f ? sqrtf(a) : powf(a, imm));
    case KS_EW_PRELU: return a >= 0.f ? a : a * b;
    default: return a;
    }
}

struct SegP {
    const void *x;
    void *y;
    uint32_t A, C, H, W;
    int64_t row, ys; /* elements of one image's rows of y (A*H*W*C), and from one image's rows to the next */
    int act;
    float act_a, act_b;
    int n_parts;
    uint32_t end[KS_CU_SEG_MAX_PARTS];
    int n_instr[KS_CU_SEG_MAX_PARTS], first_instr[KS_CU_SEG_MAX_PARTS];
    int n_const[KS_CU_SEG_MAX_PARTS], first_const[KS_CU_SEG_MAX_PARTS];
    const void *c[KS_CU_SEG_MAX_CONST];
    int64_t cst[KS_CU_SEG_MAX_CONST][5];
    int32_t op[12], ra[12], rb[12], iact[12];
    float imm[12], imm2[12];
};

// Register select without an indexed (local-memory) register file.
__device__ __forceinline__ float seg_reg(int i, float r0, float r1, float r2, float r3, float r4) {
    i &= 7;
    return i == 4 ? r4 : i == 0 ? r0 : i == 1 ? r1 : i == 2 ? r2 : i == 3 ? r3 : 0.0f;
}

constexpr int SEG_V = 8;

// op over SEG_V values with one decision (binop's cases, same formulas)
__device__ __forceinline__ void binop_v(int op, const float (&a)[SEG_V], const float (&b)[SEG_V], float imm,
                                        float imm2, int act, float (&o)[SEG_V]) {
#define KS_SEG_EACH(EXPR)                                                                                    \
    {                                                                                                        \
        _Pragma("unroll") for (int i = 0; i < SEG_V; i++) o[i] = (EXPR);                                     \
    }                                                                                                        \
    break
    switch (op) {
    case KS_EW_ADD: KS_SEG_EACH(a[i] + b[i]);
    case KS_EW_SUB: KS_SEG_EACH(a[i] - b[i]);
    case KS_EW_MUL: KS_SEG_EACH(a[i] * b[i]);
    case KS_EW_ADDC: KS_SEG_EACH(a[i] + imm);
    case KS_EW_MULC: KS_SEG_EACH(a[i] * imm);
    case KS_EW_RSUBC: KS_SEG_EACH(imm - a[i]);
    case KS_EW_POWC: KS_SEG_EACH(imm == 2.f ? a[i] * a[i] : binop(KS_EW_POWC, a[i], b[i], imm, imm2, act));
    case KS_EW_UNARY: {
#pragma unroll
        for (int i = 0; i < SEG_V; i++) o[i] = a[i];
        ksconv::ks_act_n<SEG_V>(act, o, imm, imm2);
        break;
    }
    default: KS_SEG_EACH(binop(op, a[i], b[i], imm, imm2, act));
    }
#undef KS_SEG_EACH
}

// n values from ys (shared memory, 16-byte aligned) to y, the threads tid, tid + step, ... taking turns: 16-byte
// stores where y is 16-byte aligned, then the tail one value at a time.
template <typename T>
__device__ __forceinline__ void copy_run(T *y, const T *ys, uint32_t n, uint32_t tid, uint32_t step) {
    uint32_t done = 0;
    if (((uintptr_t)y & 15) == 0) {
        constexpr uint32_t E = 16 / sizeof(T);
        const uint32_t n16 = n / E;
        for (uint32_t j = tid; j < n16; j += step) ((uint4 *)y)[j] = ((const uint4 *)ys)[j];
        done = n16 * E;
    }
    for (uint32_t j = done + tid; j < n; j += step) y[j] = ys[j];
}

// Channel c of image bi, anchor ai, at the SEG_V consecutive pixels pa.. (nv of them inside the map): r4 holds
// the input values and leaves with the outputs (the activation, then the program of c's part, its constants
// decided once for the SEG_V values). Constant values past nv read as 0 (never stored).
template <typename T>
__device__ __forceinline__ void seg_eval(const SegP &p, ks_fdiv fW, uint32_t bi, uint32_t ai, uint32_t c,
                                         uint32_t pa, uint32_t nv, float (&r4)[SEG_V]) {
    float r[4][SEG_V] = {}, A[SEG_V], B[SEG_V];
    ksconv::ks_act_n<SEG_V>(p.act, r4, p.act_a, p.act_b);
    int k = 0;
    while (k + 1 < p.n_parts && c >= p.end[k]) k++;
    const uint32_t cc = c - (k ? p.end[k - 1] : 0u);
    const uint32_t h0 = ks_fdiv_q(fW, pa), w0 = pa - h0 * p.W;
#pragma unroll
    for (int jc = 0; jc < 4; jc++) {
        if (jc >= p.n_const[k]) break;
        const int q = p.first_const[k] + jc;
        const int64_t *st = p.cst[q];
        const uint32_t s2 = (uint32_t)st[2], s3 = (uint32_t)st[3];
        const T *cb = (const T *)p.c[q] + (bi * (uint32_t)st[0] + ai * (uint32_t)st[1] + cc * (uint32_t)st[4]);
        if (s2 == 0 && s3 == 0) {
            const float v = ks_ld(cb);
#pragma unroll
            for (int i = 0; i < SEG_V; i++) r[jc][i] = v;
        } else {
            uint32_t h = h0, w = w0;
#pragma unroll
            for (int i = 0; i < SEG_V; i++) {
                r[jc][i] = (uint32_t)i < nv ? ks_ld(cb + (h * s2 + w * s3)) : 0.f;
                if (++w == p.W) w = 0, h++;
            }
        }
    }
    for (int s = p.first_instr[k]; s < p.first_instr[k] + p.n_instr[k]; s++) {
        const int ra = p.ra[s] & 7, rb = p.rb[s] & 7, op = p.op[s];
        if (ra == 4 && rb <= 4) {
            /* the usual form, r4 = r4 op (r4 | a constant | imm): the operand array chosen once (uniform branch)
             * instead of a select chain per value */
            switch (rb) {
            case 0: binop_v(op, r4, r[0], p.imm[s], p.imm2[s], p.iact[s], r4); break;
            case 1: binop_v(op, r4, r[1], p.imm[s], p.imm2[s], p.iact[s], r4); break;
            case 2: binop_v(op, r4, r[2], p.imm[s], p.imm2[s], p.iact[s], r4); break;
            case 3: binop_v(op, r4, r[3], p.imm[s], p.imm2[s], p.iact[s], r4); break;
            default: binop_v(op, r4, r4, p.imm[s], p.imm2[s], p.iact[s], r4); break;
            }
            continue;
        }
#pragma unroll
        for (int i = 0; i < SEG_V; i++) {
            A[i] = seg_reg(ra, r[0][i], r[1][i], r[2][i], r[3][i], r4[i]);
            B[i] = seg_reg(rb, r[0][i], r[1][i], r[2][i], r[3][i], r4[i]);
        }
        binop_v(op, A, B, p.imm[s], p.imm2[s], p.iact[s], r4);
    }
}

// The parameter block of a segmap's arguments (host).
inline SegP seg_params(const ks_segmap_args *a) {
    SegP p;
    memset(&p, 0, sizeof(p));
    p.x = a->x, p.y = a->y;
    p.A = (uint32_t)a->A, p.C = (uint32_t)a->C, p.H = (uint32_t)a->H, p.W = (uint32_t)a->W;
    p.act = a->act, p.act_a = a->act_a, p.act_b = a->act_b;
    p.row = a->A * a->H * a->W * a->C;
    p.ys = a->y_stride ? a->y_stride : p.row;
    p.n_parts = a->n_parts;
    for (int k = 0; k < KS_CU_SEG_MAX_PARTS; k++) {
        p.end[k] = (uint32_t)a->end[k];
        p.n_instr[k] = a->n_instr[k], p.first_instr[k] = a->first_instr[k];
        p.n_const[k] = a->n_const[k], p.first_const[k] = a->first_const[k];
    }
    for (int j = 0; j < KS_CU_SEG_MAX_CONST; j++) {
        p.c[j] = a->c[j];
        for (int d = 0; d < 5; d++) p.cst[j][d] = a->cst[j][d];
    }
    for (int s = 0; s < 12; s++) {
        p.op[s] = a->op[s], p.ra[s] = a->ra[s], p.rb[s] = a->rb[s], p.iact[s] = a->iact[s];
        p.imm[s] = a->imm[s], p.imm2[s] = a->imm2[s];
    }
    return p;
}

// Every element index and every constant's extent fits 31 bits (seg_eval's 32-bit offsets).
inline bool seg_small(const ks_segmap_args *a) {
    bool small = a->B * a->A * a->H * a->W * a->C < ((int64_t)1 << 31);
    for (int j = 0; j < KS_CU_SEG_MAX_CONST && small; j++) {
        int64_t ext = a->cst[j][0] * a->B + a->cst[j][1] * a->A + a->cst[j][2] * a->H + a->cst[j][3] * a->W +
                      a->cst[j][4] * a->C;
        small = ext < ((int64_t)1 << 31);
    }
    return small;
}

} // namespace kseg
