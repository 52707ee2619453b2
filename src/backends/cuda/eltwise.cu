// Elementwise programs with numpy broadcasting: up to 4 inputs loaded into
// registers r0..r3, up to 12 instructions over 8 registers, one output.
// Covers every unary activation, binary arithmetic and fused chains.
#include "backends/cuda/common.cuh"

namespace {

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

__device__ __forceinline__ float binop(int op, float a, float b, float imm, float imm2, int act) {
    switch (op) {
    case KS_EW_UNARY: return ks_apply_act(act, a, imm, imm2);
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
    if (half) ks_launch(eltwise_k<__half>, dim3(ks_blocks(numel, 256)), dim3(256), s, p, numel);
    else ks_launch(eltwise_k<float>, dim3(ks_blocks(numel, 256)), dim3(256), s, p, numel);
    KS_CU_RET();
}
