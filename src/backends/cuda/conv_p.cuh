// The parameter block of the own convolution kernels (conv.cu, conv_mma.cu) and
// what they share: the split-K range of a block and the fused epilogue.
#pragma once
#include "backends/cuda/common.cuh"
#include "backends/cuda/kernels.h"
#include "backends/cuda/epi_n.cuh"

namespace ksconv {

struct ConvP {
    const void *x, *w, *bias, *res;
    const float *prelu;
    void *y;
    int n, c, ih, iw, k, oh, ow, groups, kh, kw, sh, sw, pt, pl, dh, dw;
    int act;
    float act_a, act_b;
    int res_after_act;
    float *part;  /* split-K: FP32 partial sums [ksplit][n*k*oh*ow], NULL = direct epilogue */
    int ksplit;
    int avec;     /* conv_mma: weight rows can be read 16 bytes at a time (K % 8 == 0, aligned) */
};

/* K range [kb, ke) of split s (whole BK steps) */
__device__ __forceinline__ void split_range(int K, int ksplit, int s, int BK, int &kb, int &ke) {
    int per = ((K + ksplit - 1) / ksplit + BK - 1) / BK * BK;
    kb = s * per;
    ke = min(K, kb + per);
}

/* The fused epilogue of one output value: bias, residual before or after the activation, PReLU or any
 * other activation. P is any parameter block with the fields bias, res, prelu, act, act_a, act_b and
 * res_after_act (ConvP, and the blocks of conv_stream.cu and dwpw.cu); T the storage type. */
template <typename T, typename P>
__device__ __forceinline__ float epi(const P &p, float v, int co, int64_t yi) {
    if (p.bias) v += ks_ld((const T *)p.bias + co);
    if (p.res && !p.res_after_act) v += ks_ld((const T *)p.res + yi);
    if (p.act == KS_ACT_PRELU) v = v >= 0.f ? v : v * __ldg(p.prelu + co);
    else v = ks_act1(p.act, v, p.act_a, p.act_b);
    if (p.res && p.res_after_act) v += ks_ld((const T *)p.res + yi);
    return v;
}

/* the parameter block of a launcher's arguments (no split-K) */
inline ConvP conv_p(const ks_conv_args *a) {
    ConvP p;
    p.x = a->x; p.w = a->w; p.bias = a->bias; p.res = a->res; p.prelu = a->prelu; p.y = a->y;
    p.n = a->n; p.c = a->c; p.ih = a->ih; p.iw = a->iw;
    p.k = a->k; p.oh = a->oh; p.ow = a->ow; p.groups = a->groups; p.kh = a->kh; p.kw = a->kw;
    p.sh = a->sh; p.sw = a->sw; p.pt = a->pt; p.pl = a->pl; p.dh = a->dh; p.dw = a->dw;
    p.act = a->act; p.act_a = a->act_a; p.act_b = a->act_b; p.res_after_act = a->res_after_act;
    p.part = NULL;
    p.ksplit = 1;
    return p;
}

} // namespace ksconv

/* own:igemm tiles 10..15 (conv_mma.cu): tensor-core implicit GEMM, float16. cluster: the p.ksplit K
 * splits as one thread-block cluster (tiles 10 and 13, split 2 / 4 / 8, p.part NULL). False when the
 * tile or split is not one of those, or the launch failed. */
bool ks__conv_mma_launch(const ksconv::ConvP &p, int tile, cudaStream_t s, bool cluster);
