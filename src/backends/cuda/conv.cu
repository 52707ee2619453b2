// Own convolution kernels: implicit-GEMM direct conv (any geometry and
// groups), depthwise conv, and the epilogue used after cuDNN convs. All
// fuse bias, residual and activation.
#include "backends/cuda/common.cuh"

namespace {

struct ConvP {
    const void *x, *w, *bias, *res;
    const float *prelu;
    void *y;
    int n, c, ih, iw, k, oh, ow, groups, kh, kw, sh, sw, pt, pl, dh, dw;
    int act;
    float act_a, act_b;
    int res_after_act;
};

template <typename T>
__device__ __forceinline__ float epi(const ConvP &p, float v, int co, int64_t yi) {
    if (p.bias) v += ks_ld((const T *)p.bias + co);
    if (p.res && !p.res_after_act) v += ks_ld((const T *)p.res + yi);
    if (p.act == KS_ACT_PRELU) v = v >= 0.f ? v : v * __ldg(p.prelu + co);
    else v = ks_apply_act(p.act, v, p.act_a, p.act_b);
    if (p.res && p.res_after_act) v += ks_ld((const T *)p.res + yi);
    return v;
}

// Implicit GEMM: M = output channels of a group, N = n*oh*ow pixels,
// K = (c/groups)*kh*kw. 256 threads; each computes TM x TN outputs.
template <typename T, int BM, int BN, int BK>
__global__ void __launch_bounds__(256) conv_igemm_k(ConvP p) {
    constexpr int TM = BM / 16, TN = BN / 16;
    __shared__ float As[BK][BM];
    __shared__ float Bs[BK][BN + 4];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int cg = p.c / p.groups, kg = p.k / p.groups;
    const int g = blockIdx.z;
    const int m0 = blockIdx.y * BM;
    const int64_t ohw = (int64_t)p.oh * p.ow;
    const int64_t npix = (int64_t)p.n * ohw;
    const int64_t n0 = (int64_t)blockIdx.x * BN;
    const int khw = p.kh * p.kw;
    const int K = cg * khw;
    const T *x = (const T *)p.x;
    const T *w = (const T *)p.w + (int64_t)g * kg * K;

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.f;

    // B loader: thread loads columns nn = tid % BN (+ BN/... ) rows kk.
    constexpr int B_ROWS_PER_PASS = 256 / BN > 0 ? 256 / BN : 1;
    constexpr int B_PASSES = BK / B_ROWS_PER_PASS;
    const int bcol = tid % BN, brow0 = tid / BN;
    const int64_t pix = n0 + bcol;
    const bool pix_ok = pix < npix;
    int ih0 = 0, iw0 = 0;
    const T *xb = x;
    if (pix_ok) {
        int64_t b = pix / ohw;
        int r = (int)(pix - b * ohw);
        int oy = r / p.ow, ox = r - oy * p.ow;
        ih0 = oy * p.sh - p.pt;
        iw0 = ox * p.sw - p.pl;
        xb = x + (b * p.c + (int64_t)g * cg) * p.ih * p.iw;
    }
    // A loader: BM*BK elements, 256 threads.
    constexpr int A_PER = (BM * BK + 255) / 256;

    for (int k0 = 0; k0 < K; k0 += BK) {
#pragma unroll
        for (int i = 0; i < A_PER; i++) {
            int e = tid + i * 256;
            if (e < BM * BK) {
                int mm = e / BK, kk = e % BK;
                int m = m0 + mm, kidx = k0 + kk;
                As[kk][mm] = (m < kg && kidx < K) ? ks_ld(w + (int64_t)m * K + kidx) : 0.f;
            }
        }
#pragma unroll
        for (int i = 0; i < B_PASSES; i++) {
            int kk = brow0 + i * B_ROWS_PER_PASS;
            int kidx = k0 + kk;
            float v = 0.f;
            if (pix_ok && kidx < K) {
                int ci = kidx / khw, r = kidx - ci * khw;
                int ky = r / p.kw, kx = r - ky * p.kw;
                int iy = ih0 + ky * p.dh, ix = iw0 + kx * p.dw;
                if ((unsigned)iy < (unsigned)p.ih && (unsigned)ix < (unsigned)p.iw)
                    v = ks_ld(xb + ((int64_t)ci * p.ih + iy) * p.iw + ix);
            }
            Bs[kk][bcol] = v;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk++) {
            float a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; i++) a[i] = As[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < TN; j++) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
    T *y = (T *)p.y;
#pragma unroll
    for (int j = 0; j < TN; j++) {
        int64_t px = n0 + tx + 16 * j;
        if (px >= npix) continue;
        int64_t b = px / ohw, r = px - b * ohw;
#pragma unroll
        for (int i = 0; i < TM; i++) {
            int m = m0 + ty + 16 * i;
            if (m >= kg) continue;
            int co = g * kg + m;
            int64_t yi = (b * p.k + co) * ohw + r;
            ks_st(y + yi, epi<T>(p, acc[i][j], co, yi));
        }
    }
}

// Depthwise: one thread per VEC outputs along a row.
template <typename T, int VEC>
__global__ void conv_dw_k(ConvP p) {
    const int owv = (p.ow + VEC - 1) / VEC;
    int64_t total = (int64_t)p.n * p.c * p.oh * owv;
    int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int oxv = (int)(idx % owv);
    int64_t t = idx / owv;
    int oy = (int)(t % p.oh);
    int64_t nc = t / p.oh;
    int ch = (int)(nc % p.c);
    const T *x = (const T *)p.x + nc * p.ih * p.iw;
    const T *w = (const T *)p.w + (int64_t)ch * p.kh * p.kw;
    int ox0 = oxv * VEC;
    float acc[VEC];
#pragma unroll
    for (int v = 0; v < VEC; v++) acc[v] = 0.f;
    int iy0 = oy * p.sh - p.pt;
    for (int ky = 0; ky < p.kh; ky++) {
        int iy = iy0 + ky * p.dh;
        if ((unsigned)iy >= (unsigned)p.ih) continue;
        const T *xr = x + (int64_t)iy * p.iw;
        for (int kx = 0; kx < p.kw; kx++) {
            float wv = ks_ld(w + ky * p.kw + kx);
#pragma unroll
            for (int v = 0; v < VEC; v++) {
                int ix = (ox0 + v) * p.sw - p.pl + kx * p.dw;
                if ((unsigned)ix < (unsigned)p.iw) acc[v] = fmaf(ks_ld(xr + ix), wv, acc[v]);
            }
        }
    }
    T *y = (T *)p.y;
#pragma unroll
    for (int v = 0; v < VEC; v++) {
        int ox = ox0 + v;
        if (ox >= p.ow) break;
        int64_t yi = (nc * p.oh + oy) * p.ow + ox;
        ks_st(y + yi, epi<T>(p, acc[v], ch, yi));
    }
}

template <typename T>
__global__ void epilogue_k(ConvP p, int64_t total, int64_t hw) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int co = (int)((i / hw) % p.k);
    T *y = (T *)p.y;
    float v = ks_ld((const T *)y + i);
    ks_st(y + i, epi<T>(p, v, co, i));
}

ConvP mk(const ks_conv_args *a) {
    ConvP p;
    p.x = a->x; p.w = a->w; p.bias = a->bias; p.res = a->res; p.prelu = a->prelu; p.y = a->y;
    p.n = a->n; p.c = a->c; p.ih = a->ih; p.iw = a->iw;
    p.k = a->k; p.oh = a->oh; p.ow = a->ow; p.groups = a->groups; p.kh = a->kh; p.kw = a->kw;
    p.sh = a->sh; p.sw = a->sw; p.pt = a->pt; p.pl = a->pl; p.dh = a->dh; p.dw = a->dw;
    p.act = a->act; p.act_a = a->act_a; p.act_b = a->act_b; p.res_after_act = a->res_after_act;
    return p;
}

template <typename T, int BM, int BN>
void launch_igemm(const ConvP &p, cudaStream_t s) {
    int64_t npix = (int64_t)p.n * p.oh * p.ow;
    int kg = p.k / p.groups;
    dim3 grid((unsigned)((npix + BN - 1) / BN), (unsigned)((kg + BM - 1) / BM), (unsigned)p.groups);
    conv_igemm_k<T, BM, BN, 16><<<grid, 256, 0, s>>>(p);
}

} // namespace

extern "C" int ks__cu_conv_igemm(const ks_conv_args *a, int half, int cfg, void *stream) {
    ConvP p = mk(a);
    cudaStream_t s = (cudaStream_t)stream;
    if (half) {
        if (cfg == 0) launch_igemm<__half, 64, 64>(p, s);
        else if (cfg == 1) launch_igemm<__half, 32, 128>(p, s);
        else launch_igemm<__half, 16, 256>(p, s);
    } else {
        if (cfg == 0) launch_igemm<float, 64, 64>(p, s);
        else if (cfg == 1) launch_igemm<float, 32, 128>(p, s);
        else launch_igemm<float, 16, 256>(p, s);
    }
    KS_CU_RET();
}

extern "C" int ks__cu_conv_dw(const ks_conv_args *a, int half, int cfg, void *stream) {
    ConvP p = mk(a);
    cudaStream_t s = (cudaStream_t)stream;
    int vec = cfg == 1 ? 4 : 1;
    int64_t total = (int64_t)p.n * p.c * p.oh * ((p.ow + vec - 1) / vec);
    unsigned blocks = ks_blocks(total, 256);
    if (half) {
        if (vec == 4) conv_dw_k<__half, 4><<<blocks, 256, 0, s>>>(p);
        else conv_dw_k<__half, 1><<<blocks, 256, 0, s>>>(p);
    } else {
        if (vec == 4) conv_dw_k<float, 4><<<blocks, 256, 0, s>>>(p);
        else conv_dw_k<float, 1><<<blocks, 256, 0, s>>>(p);
    }
    KS_CU_RET();
}

extern "C" int ks__cu_conv_epilogue(const ks_conv_args *a, int half, void *stream) {
    ConvP p = mk(a);
    int64_t hw = (int64_t)p.oh * p.ow, total = (int64_t)p.n * p.k * hw;
    cudaStream_t s = (cudaStream_t)stream;
    if (half) epilogue_k<__half><<<ks_blocks(total, 256), 256, 0, s>>>(p, total, hw);
    else epilogue_k<float><<<ks_blocks(total, 256), 256, 0, s>>>(p, total, hw);
    KS_CU_RET();
}
