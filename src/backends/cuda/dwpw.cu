// Fused depthwise + pointwise convolution (own tactic "own:dwpw"): a
// depthwise conv (+bias+activation) whose only consumer is a 1x1 conv
// (+bias+activation, optional residual) runs as one kernel. Each block owns
// BM output channels x BN output pixels; per step of BK input channels it
// computes the depthwise outputs of those channels for its pixels into
// shared memory, then multiplies them by the matching BM x BK slice of the
// pointwise weights. The intermediate tensor is never written. Math is
// float32 for both float32 and float16 storage.
#include "backends/cuda/conv_p.cuh"

namespace {

struct DwPwP {
    const void *x, *dww, *dwb;
    const float *dwprelu;
    int dwact;
    float dwa, dwb2;
    const void *w, *bias, *res;
    const float *prelu;
    int act;
    float act_a, act_b;
    int res_after_act;
    void *y;
    int n, c, ih, iw, k, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw;
};

template <typename T, int BM, int BN, int TM, int TN, int KH, int KW>
__global__ void __launch_bounds__(256) dwpw_k(DwPwP p) {
    ks_pdl_wait();
    constexpr int BK = 16;
    constexpr int NTX = BN / TN, NTY = BM / TM;
    static_assert(NTX * NTY == 256, "256 threads");
    constexpr int DROWS = 256 / BN;          // dw rows filled per pass
    constexpr int DPASS = BK / DROWS;        // passes over BK rows
    __shared__ float Ws[BK][BM + 1];
    __shared__ float Ds[BK][BN + 4];
    const int tid = threadIdx.x, tx = tid % NTX, ty = tid / NTX;
    const int m0 = blockIdx.y * BM;
    const int64_t ohw = (int64_t)p.oh * p.ow;
    const int64_t npix = (int64_t)p.n * ohw;
    const int64_t n0 = (int64_t)blockIdx.x * BN;
    const int kh = KH > 0 ? KH : p.kh, kw = KW > 0 ? KW : p.kw, khw = kh * kw;
    const T *x = (const T *)p.x;
    const T *dww = (const T *)p.dww;
    const T *w = (const T *)p.w;
    // this thread's depthwise column
    const int dcol = tid % BN, drow0 = tid / BN;
    const int64_t pix = n0 + dcol;
    const bool pix_ok = pix < npix;
    int iy0 = 0, ix0 = 0;
    const T *xb = x;
    if (pix_ok) {
        int64_t b = pix / ohw;
        int r = (int)(pix - b * ohw);
        int oy = r / p.ow, ox = r - oy * p.ow;
        iy0 = oy * p.sh - p.pt;
        ix0 = ox * p.sw - p.pl;
        xb = x + b * p.c * (int64_t)p.ih * p.iw;
    }
    const int64_t HW = (int64_t)p.ih * p.iw;
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.f;

    for (int c0 = 0; c0 < p.c; c0 += BK) {
        // depthwise outputs of channels c0..c0+BK for the block's pixels
#pragma unroll
        for (int s = 0; s < DPASS; s++) {
            int row = drow0 + s * DROWS, ch = c0 + row;
            float v = 0.f;
            if (pix_ok && ch < p.c) {
                const T *xc = xb + (int64_t)ch * HW;
                const T *wc = dww + (int64_t)ch * khw;
#pragma unroll
                for (int ky = 0; ky < kh; ky++) {
                    int iy = iy0 + ky * p.dh;
                    if ((unsigned)iy >= (unsigned)p.ih) continue;
#pragma unroll
                    for (int kx = 0; kx < kw; kx++) {
                        int ix = ix0 + kx * p.dw;
                        if ((unsigned)ix < (unsigned)p.iw)
                            v = fmaf(ks_ld(xc + (int64_t)iy * p.iw + ix), ks_ld(wc + ky * kw + kx), v);
                    }
                }
                if (p.dwb) v += ks_ld((const T *)p.dwb + ch);
                if (p.dwact == KS_ACT_PRELU) v = v >= 0.f ? v : v * __ldg(p.dwprelu + ch);
                else v = ksconv::ks_act1(p.dwact, v, p.dwa, p.dwb2);
            }
            Ds[row][dcol] = v;
        }
        // pointwise weights [m0..m0+BM) x [c0..c0+BK)
        for (int e = tid; e < BM * BK; e += 256) {
            int mm = e / BK, kk = e % BK;
            int m = m0 + mm, ch = c0 + kk;
            Ws[kk][mm] = (m < p.k && ch < p.c) ? ks_ld(w + (int64_t)m * p.c + ch) : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk++) {
            float a[TM], bv[TN];
#pragma unroll
            for (int i = 0; i < TM; i++) a[i] = Ws[kk][ty + NTY * i];
#pragma unroll
            for (int j = 0; j < TN; j++) bv[j] = Ds[kk][tx + NTX * j];
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++) acc[i][j] = fmaf(a[i], bv[j], acc[i][j]);
        }
        __syncthreads();
    }
    T *y = (T *)p.y;
#pragma unroll
    for (int j = 0; j < TN; j++) {
        int64_t px = n0 + tx + NTX * j;
        if (px >= npix) continue;
        int64_t b = px / ohw, r = px - b * ohw;
#pragma unroll
        for (int i = 0; i < TM; i++) {
            int co = m0 + ty + NTY * i;
            if (co >= p.k) continue;
            int64_t yi = (b * p.k + co) * ohw + r;
            ks_st(y + yi, ksconv::epi<T>(p, acc[i][j], co, yi));
        }
    }
}

template <typename T, int BM, int BN, int TM, int TN>
void launch(const DwPwP &p, cudaStream_t s) {
    int64_t npix = (int64_t)p.n * p.oh * p.ow;
    dim3 grid((unsigned)((npix + BN - 1) / BN), (unsigned)((p.k + BM - 1) / BM));
    if (p.kh == 3 && p.kw == 3)
        ks_launch(dwpw_k<T, BM, BN, TM, TN, 3, 3>, grid, dim3(256), s, p);
    else
        ks_launch(dwpw_k<T, BM, BN, TM, TN, 0, 0>, grid, dim3(256), s, p);
}

template <typename T>
void launch_cfg(const DwPwP &p, int cfg, cudaStream_t s) {
    switch (cfg) {
    case 1: launch<T, 32, 64, 2, 4>(p, s); break;
    case 2: launch<T, 32, 32, 2, 2>(p, s); break;
    case 3: launch<T, 64, 32, 4, 2>(p, s); break;
    case 4: launch<T, 16, 64, 1, 4>(p, s); break;
    case 5: launch<T, 128, 32, 4, 4>(p, s); break;
    case 6: launch<T, 16, 128, 1, 8>(p, s); break;
    case 7: launch<T, 16, 32, 1, 2>(p, s); break;
    case 8: launch<T, 32, 16, 2, 1>(p, s); break;
    default: launch<T, 64, 64, 4, 4>(p, s); break;
    }
}
} // namespace

extern "C" int ks__cu_conv_dwpw(const ks_dwpw_args *a, int half, int cfg, void *stream) {
    if (cfg < 0 || cfg >= KS_DWPW_N_CFG || a->kh < 1 || a->kw < 1)
        return (int)cudaErrorInvalidValue;
    if (cfg == KS_DWPW_STREAM_CFG)
        return ks__cu_conv_dwpw_stream(a, half, stream);
    if (cfg == KS_DWPW_TC_CFG)
        return ks__cu_conv_dwpw_tc(a, half, stream);
    DwPwP p;
    p.x = a->x; p.dww = a->dw_w; p.dwb = a->dw_bias; p.dwprelu = a->dw_prelu;
    p.dwact = a->dw_act; p.dwa = a->dw_act_a; p.dwb2 = a->dw_act_b;
    p.w = a->w; p.bias = a->bias; p.res = a->res; p.prelu = a->prelu;
    p.act = a->act; p.act_a = a->act_a; p.act_b = a->act_b; p.res_after_act = a->res_after_act;
    p.y = a->y;
    p.n = a->n; p.c = a->c; p.ih = a->ih; p.iw = a->iw; p.k = a->k; p.oh = a->oh; p.ow = a->ow;
    p.kh = a->kh; p.kw = a->kw; p.sh = a->sh; p.sw = a->sw; p.pt = a->pt; p.pl = a->pl;
    p.dh = a->dh; p.dw = a->dw;
    cudaStream_t s = (cudaStream_t)stream;
    if (half) launch_cfg<__half>(p, cfg, s);
    else launch_cfg<float>(p, cfg, s);
    KS_CU_RET();
}
