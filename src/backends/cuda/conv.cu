// Own convolution kernels: implicit-GEMM direct conv (any geometry and
// groups), depthwise conv, and the epilogue used after cuDNN convs. All
// fuse bias, residual and activation.
#include <mma.h>
#include "backends/cuda/conv_p.cuh"

namespace {
using namespace ksconv;

// Implicit GEMM: M = output channels of a group, N = n*oh*ow pixels,
// K = (c/groups)*kh*kw. 256 threads; each computes TM x TN outputs.
template <typename T, int BM, int BN, int BK>
__global__ void __launch_bounds__(256) conv_igemm_k(ConvP p) {
    ks_pdl_wait();
    constexpr int TM = BM / 16, TN = BN / 16;
    __shared__ float As[BK][BM];
    __shared__ float Bs[BK][BN + 4];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int cg = p.c / p.groups, kg = p.k / p.groups;
    const int g = blockIdx.z % p.groups, sidx = blockIdx.z / p.groups;
    const int m0 = blockIdx.y * BM;
    const int64_t ohw = (int64_t)p.oh * p.ow;
    const int64_t npix = (int64_t)p.n * ohw;
    const int64_t n0 = (int64_t)blockIdx.x * BN;
    const int khw = p.kh * p.kw;
    const int K = cg * khw;
    int kb = 0, ke = K;
    if (p.part) split_range(K, p.ksplit, sidx, BK, kb, ke);
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

    // register prefetch of the next K tile while the current one is used
    float ra[A_PER], rb[B_PASSES];
    auto load_tile = [&](int k0) {
#pragma unroll
        for (int i = 0; i < A_PER; i++) {
            int e = tid + i * 256;
            float v = 0.f;
            if (e < BM * BK) {
                int mm = e / BK, kk = e % BK;
                int m = m0 + mm, kidx = k0 + kk;
                if (m < kg && kidx < ke) v = ks_ld(w + (int64_t)m * K + kidx);
            }
            ra[i] = v;
        }
#pragma unroll
        for (int i = 0; i < B_PASSES; i++) {
            int kk = brow0 + i * B_ROWS_PER_PASS;
            int kidx = k0 + kk;
            float v = 0.f;
            if (pix_ok && kidx < ke) {
                int ci = kidx / khw, r = kidx - ci * khw;
                int ky = r / p.kw, kx = r - ky * p.kw;
                int iy = ih0 + ky * p.dh, ix = iw0 + kx * p.dw;
                if ((unsigned)iy < (unsigned)p.ih && (unsigned)ix < (unsigned)p.iw)
                    v = ks_ld(xb + ((int64_t)ci * p.ih + iy) * p.iw + ix);
            }
            rb[i] = v;
        }
    };
    auto store_tile = [&]() {
#pragma unroll
        for (int i = 0; i < A_PER; i++) {
            int e = tid + i * 256;
            if (e < BM * BK) As[e % BK][e / BK] = ra[i];
        }
#pragma unroll
        for (int i = 0; i < B_PASSES; i++) Bs[brow0 + i * B_ROWS_PER_PASS][bcol] = rb[i];
    };
    load_tile(kb);
    for (int k0 = kb; k0 < ke; k0 += BK) {
        store_tile();
        __syncthreads();
        if (k0 + BK < ke) load_tile(k0 + BK);
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
            if (p.part) p.part[(int64_t)sidx * npix * p.k + yi] = acc[i][j];
            else ks_st(y + yi, epi<T>(p, acc[i][j], co, yi));
        }
    }
}

// Depthwise: one thread per VEC outputs along a row.
template <typename T, int VEC>
__global__ void conv_dw_k(ConvP p) {
    ks_pdl_wait();
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


// Depthwise, tiled (cfg 2): one block per (image*channel plane, TH x TW output
// tile). The input window of the tile is staged in shared memory (float) with
// coalesced row loads; each thread then computes outputs along a row, so
// output stores are coalesced too. For large maps (batch 32 at 640x480) where
// the one-thread-per-4-outputs kernel above reads with strided, partially used
// sectors. Any kernel size, stride, padding and dilation whose window fits in
// the shared buffer (the host checks ks__cu_conv_dw_tiled_fits).
constexpr int DWT_W = 64, DWT_H = 16, DWT_THREADS = 256;

__host__ __device__ inline int dwt_in_w(int sw, int kw, int dw) { return (DWT_W - 1) * sw + (kw - 1) * dw + 1; }
__host__ __device__ inline int dwt_in_h(int sh, int kh, int dh) { return (DWT_H - 1) * sh + (kh - 1) * dh + 1; }

template <typename T, int KS>
__global__ void __launch_bounds__(DWT_THREADS) conv_dw_tiled_k(ConvP p, int tiles_x) {
    ks_pdl_wait();
    extern __shared__ float xs[];
    const int kh = KS ? KS : p.kh, kw = KS ? KS : p.kw;
    const int in_w = dwt_in_w(p.sw, kw, p.dw), in_h = dwt_in_h(p.sh, kh, p.dh);
    const int64_t nc = blockIdx.y;
    const int ch = (int)(nc % p.c);
    const int ox0 = (blockIdx.x % tiles_x) * DWT_W, oy0 = (blockIdx.x / tiles_x) * DWT_H;
    const int ix0 = ox0 * p.sw - p.pl, iy0 = oy0 * p.sh - p.pt;
    // the part of the window this tile's valid outputs touch
    const int oy_end = min(p.oh, oy0 + DWT_H), ox_end = min(p.ow, ox0 + DWT_W);
    const int rows = min(in_h, (oy_end - 1 - oy0) * p.sh + (kh - 1) * p.dh + 1);
    const int cols = min(in_w, (ox_end - 1 - ox0) * p.sw + (kw - 1) * p.dw + 1);
    const T *x = (const T *)p.x + nc * p.ih * p.iw;
    for (int i = threadIdx.x; i < rows * cols; i += DWT_THREADS) {
        int r = i / cols, cc = i - r * cols;
        int iy = iy0 + r, ix = ix0 + cc;
        float v = 0.f;
        if ((unsigned)iy < (unsigned)p.ih && (unsigned)ix < (unsigned)p.iw) v = ks_ld(x + (int64_t)iy * p.iw + ix);
        xs[r * in_w + cc] = v;
    }
    const T *w = (const T *)p.w + (int64_t)ch * kh * kw;
    float wr[KS ? KS * KS : 1];
    if (KS) {
#pragma unroll
        for (int k = 0; k < (KS ? KS * KS : 1); k++) wr[k] = ks_ld(w + k);
    }
    __syncthreads();
    const int tx = threadIdx.x % DWT_W, ty0 = threadIdx.x / DWT_W;
    const int ox = ox0 + tx;
    if (ox >= p.ow) return;
    T *y = (T *)p.y;
    for (int ty = ty0; ty < DWT_H; ty += DWT_THREADS / DWT_W) {
        int oy = oy0 + ty;
        if (oy >= p.oh) break;
        const float *xr = xs + ty * p.sh * in_w + tx * p.sw;
        float acc = 0.f;
        if (KS) {
#pragma unroll
            for (int ky = 0; ky < (KS ? KS : 1); ky++)
#pragma unroll
                for (int kx = 0; kx < (KS ? KS : 1); kx++)
                    acc = fmaf(xr[ky * p.dh * in_w + kx * p.dw], wr[ky * KS + kx], acc);
        } else {
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++)
                    acc = fmaf(xr[ky * p.dh * in_w + kx * p.dw], ks_ld(w + ky * kw + kx), acc);
        }
        int64_t yi = (nc * p.oh + oy) * p.ow + ox;
        ks_st(y + yi, epi<T>(p, acc, ch, yi));
    }
}

// Depthwise, strip-tiled (cfg 3) for large maps at batch throughput: one
// block per (image*channel plane, 32 x 64 output tile), 256 threads, each
// thread makes 4 consecutive outputs in each of 2 rows. The input window is
// staged in shared memory (float) with 16-byte global loads where the plane
// allows (scalar at the borders), so every input element is read from memory
// about once. For stride 2 the staged rows are split into even and odd
// columns, so that the taps of 4 neighbouring outputs are again consecutive.
// A thread reads its taps as float4 (8 threads of a quarter warp hit 8
// different 16-byte bank groups) and reuses each input row for both output
// rows. KS x KS kernels (3, 5), stride S (1, 2), no dilation
// (ks__cu_conv_dw_strip_fits).
constexpr int DWS_TW = 64, DWS_TH = 32, DWS_THREADS = 256, DWS_PX = 4, DWS_RY = 2;

__host__ __device__ constexpr int dws_cols(int S, int KS) { return (DWS_TW - 1) * S + KS; }
__host__ __device__ constexpr int dws_rows(int S, int KS) { return (DWS_TH - 1) * S + KS; }
// columns of one parity (S == 2) or all columns (S == 1), rounded up for the float4 reads
__host__ __device__ constexpr int dws_half(int S, int KS) { return ((dws_cols(S, KS) + S - 1) / S + 3) / 4 * 4 + 4; }
__host__ __device__ constexpr int dws_pitch(int S, int KS) { return S * dws_half(S, KS); }

template <typename T, int KS, int S>
__global__ void __launch_bounds__(DWS_THREADS) conv_dw_strip_k(ConvP p, int tiles_x, int vec_in, int vec_out) {
    ks_pdl_wait();
    constexpr int COLS = dws_cols(S, KS), ROWS = dws_rows(S, KS), HALF = dws_half(S, KS),
                  PITCH = dws_pitch(S, KS);
    constexpr int V = 16 / sizeof(T);  // elements per 16-byte vector
    __shared__ __align__(16) float xs[ROWS * PITCH];
    const int plane = blockIdx.y;      // image * channel
    const int ch = plane % p.c;
    const int ox0 = (blockIdx.x % tiles_x) * DWS_TW, oy0 = (blockIdx.x / tiles_x) * DWS_TH;
    const int ix0 = ox0 * S - p.pl, iy0 = oy0 * S - p.pt;
    const T *x = (const T *)p.x + (size_t)plane * p.ih * p.iw;
    const int tid = threadIdx.x;
    // window column lc goes to xs[r * PITCH + (lc % S) * HALF + lc / S]
    if (vec_in) {
        // whole 16-byte vectors covering [ix0, ix0 + COLS) of each window row
        const int g0 = (ix0 >= 0 ? ix0 / V : -((-ix0 + V - 1) / V)) * V;
        const int nv = (ix0 + COLS - g0 + V - 1) / V;
        for (int i = tid; i < ROWS * nv; i += DWS_THREADS) {
            const int r = i / nv, gx = g0 + (i - r * nv) * V, iy = iy0 + r;
            float v[V];
            if ((unsigned)iy < (unsigned)p.ih && gx >= 0 && gx + V <= p.iw) {
                uint4 raw = __ldg((const uint4 *)(x + (size_t)iy * p.iw + gx));
                if (sizeof(T) == 2) {
                    const __half2 *h = (const __half2 *)&raw;
#pragma unroll
                    for (int e = 0; e < V / 2; e++) {
                        float2 f = __half22float2(h[e]);
                        v[2 * e] = f.x;
                        v[2 * e + 1] = f.y;
                    }
                } else {
                    const float *f = (const float *)&raw;
#pragma unroll
                    for (int e = 0; e < V; e++) v[e] = f[e];
                }
            } else {
#pragma unroll
                for (int e = 0; e < V; e++) {
                    const int ix = gx + e;
                    v[e] = (unsigned)iy < (unsigned)p.ih && (unsigned)ix < (unsigned)p.iw
                               ? ks_ld(x + (size_t)iy * p.iw + ix) : 0.f;
                }
            }
            float *d = xs + r * PITCH;
#pragma unroll
            for (int e = 0; e < V; e++) {
                const int lc = gx + e - ix0;
                if (lc >= 0 && lc < COLS) d[(lc % S) * HALF + lc / S] = v[e];
            }
        }
    } else {
        for (int i = tid; i < ROWS * COLS; i += DWS_THREADS) {
            const int r = i / COLS, lc = i - r * COLS, iy = iy0 + r, ix = ix0 + lc;
            xs[r * PITCH + (lc % S) * HALF + lc / S] =
                (unsigned)iy < (unsigned)p.ih && (unsigned)ix < (unsigned)p.iw ? ks_ld(x + (size_t)iy * p.iw + ix)
                                                                               : 0.f;
        }
    }
    float w[KS * KS];
    const T *wp = (const T *)p.w + ch * KS * KS;
#pragma unroll
    for (int k = 0; k < KS * KS; k++) w[k] = ks_ld(wp + k);
    __syncthreads();
    constexpr int NSX = DWS_TW / DWS_PX;   // strips per row (16)
    const int sx = tid % NSX, ry = (tid / NSX) * DWS_RY;
    const int oy = oy0 + ry, oxs = ox0 + sx * DWS_PX;
    if (oy >= p.oh || oxs >= p.ow) return;
    // per parity: the taps of outputs j = 0..3 at kx are parity kx % S, index j + kx / S
    constexpr int NE = (DWS_PX + (KS - 1) / S + 3) / 4 * 4;  // floats read per parity and row
    float acc[DWS_RY][DWS_PX];
#pragma unroll
    for (int q = 0; q < DWS_RY; q++)
#pragma unroll
        for (int j = 0; j < DWS_PX; j++) acc[q][j] = 0.f;
#pragma unroll
    for (int ir = 0; ir < (DWS_RY - 1) * S + KS; ir++) {
        const float *row = xs + (ry * S + ir) * PITCH + sx * DWS_PX;
        float in[S][NE];
#pragma unroll
        for (int par = 0; par < S; par++)
#pragma unroll
            for (int e = 0; e < NE / 4; e++) {
                float4 f = *(const float4 *)(row + par * HALF + 4 * e);
                in[par][4 * e] = f.x; in[par][4 * e + 1] = f.y; in[par][4 * e + 2] = f.z; in[par][4 * e + 3] = f.w;
            }
#pragma unroll
        for (int q = 0; q < DWS_RY; q++) {
            const int ky = ir - q * S;
            if (ky < 0 || ky >= KS) continue;
#pragma unroll
            for (int kx = 0; kx < KS; kx++)
#pragma unroll
                for (int j = 0; j < DWS_PX; j++)
                    acc[q][j] = fmaf(in[kx % S][j + kx / S], w[ky * KS + kx], acc[q][j]);
        }
    }
    T *y = (T *)p.y;
#pragma unroll
    for (int q = 0; q < DWS_RY; q++) {
        if (oy + q >= p.oh) break;
        const size_t yrow = ((size_t)plane * p.oh + oy + q) * p.ow;
        if (vec_out && oxs + DWS_PX <= p.ow) {
            T out[DWS_PX];
#pragma unroll
            for (int j = 0; j < DWS_PX; j++) {
                float v = epi<T>(p, acc[q][j], ch, (int64_t)(yrow + oxs + j));
                if (sizeof(T) == 2) ((__half *)out)[j] = __float2half_rn(v);
                else ((float *)out)[j] = v;
            }
            if (sizeof(T) == 2) *(uint2 *)(y + yrow + oxs) = *(const uint2 *)out;
            else *(uint4 *)(y + yrow + oxs) = *(const uint4 *)out;
        } else {
#pragma unroll
            for (int j = 0; j < DWS_PX; j++)
                if (oxs + j < p.ow) ks_st(y + yrow + oxs + j, epi<T>(p, acc[q][j], ch, (int64_t)(yrow + oxs + j)));
        }
    }
}

// Direct conv for tiny input channel counts (first layers): one thread per
// output pixel computes up to 16 output channels at a time; all weights in
// shared memory (float), input taps read once per chunk of channels.
template <typename T>
__global__ void __launch_bounds__(256) conv_direct_k(ConvP p) {
    ks_pdl_wait();
    extern __shared__ float wsh[];
    const int K = p.c * p.kh * p.kw;
    for (int i = threadIdx.x; i < p.k * K; i += blockDim.x) wsh[i] = ks_ld((const T *)p.w + i);
    __syncthreads();
    int64_t ohw = (int64_t)p.oh * p.ow;
    int64_t px = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (px >= (int64_t)p.n * ohw) return;
    int64_t b = px / ohw, r = px - b * ohw;
    int oy = (int)(r / p.ow), ox = (int)(r - (int64_t)oy * p.ow);
    const T *x = (const T *)p.x + b * p.c * (int64_t)p.ih * p.iw;
    int iy0 = oy * p.sh - p.pt, ix0 = ox * p.sw - p.pl;
    T *y = (T *)p.y;
    for (int m0 = 0; m0 < p.k; m0 += 16) {
        float acc[16];
#pragma unroll
        for (int j = 0; j < 16; j++) acc[j] = 0.f;
        int kk = 0;
        for (int ci = 0; ci < p.c; ci++)
            for (int ky = 0; ky < p.kh; ky++) {
                int iy = iy0 + ky * p.dh;
                for (int kx = 0; kx < p.kw; kx++, kk++) {
                    int ix = ix0 + kx * p.dw;
                    float v = 0.f;
                    if ((unsigned)iy < (unsigned)p.ih && (unsigned)ix < (unsigned)p.iw)
                        v = ks_ld(x + ((int64_t)ci * p.ih + iy) * p.iw + ix);
#pragma unroll
                    for (int j = 0; j < 16; j++)
                        if (m0 + j < p.k) acc[j] = fmaf(v, wsh[(m0 + j) * K + kk], acc[j]);
                }
            }
#pragma unroll
        for (int j = 0; j < 16; j++) {
            int co = m0 + j;
            if (co >= p.k) break;
            int64_t yi = (b * p.k + co) * ohw + r;
            ks_st(y + yi, epi<T>(p, acc[j], co, yi));
        }
    }
}

template <typename T>
__global__ void epilogue_k(ConvP p, int64_t total, int64_t hw) {
    ks_pdl_wait();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int co = (int)((i / hw) % p.k);
    T *y = (T *)p.y;
    float v = ks_ld((const T *)y + i);
    ks_st(y + i, epi<T>(p, v, co, i));
}

/* split-K: y = epi(sum of the partial sums), summed in a fixed order
 * (deterministic, so CUDA-graph replay stays bit-identical) */
template <typename T>
__global__ void splitk_reduce_k(ConvP p, int64_t total, int64_t hw) {
    ks_pdl_wait();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    float v = 0.f;
    for (int s = 0; s < p.ksplit; s++) v += p.part[(int64_t)s * total + i];
    int co = (int)((i / hw) % p.k);
    ks_st((T *)p.y + i, epi<T>(p, v, co, i));
}

template <typename T, int BM, int BN>
void launch_igemm(const ConvP &p, cudaStream_t s) {
    int64_t npix = (int64_t)p.n * p.oh * p.ow;
    int kg = p.k / p.groups;
    dim3 grid((unsigned)((npix + BN - 1) / BN), (unsigned)((kg + BM - 1) / BM),
              (unsigned)(p.groups * (p.part ? p.ksplit : 1)));
    ks_launch(conv_igemm_k<T, BM, BN, 16>, grid, dim3(256), s, p);
}


// Tensor-core implicit GEMM (float16 in, float32 accumulate) via WMMA.
// 4 warps; tile BM x BN x 32; warps WGM x WGN; per-column input offsets and
// per-k tap offsets precomputed in shared memory so the im2col gather costs
// two adds and a bounds check per element.
template <int BM, int BN, int WGM, int WGN>
__global__ void __launch_bounds__(128) conv_wmma_k(ConvP p) {
    ks_pdl_wait();
    using namespace nvcuda;
    constexpr int BK = 32;
    constexpr int FM = BM / (WGM * 16), FN = BN / (WGN * 16);
    __shared__ __align__(32) __half As[BM][BK + 16];
    __shared__ __align__(32) __half Bs[BK][BN + 16];
    __shared__ __align__(32) float Cs[BM][BN + 8];
    __shared__ long long colbase[BN];
    __shared__ int colih[BN], coliw[BN];
    __shared__ int koff[BK], kdy[BK], kdx[BK];
    const int tid = threadIdx.x, warp = tid / 32;
    const int wm = warp / WGN, wn = warp % WGN;
    const int cg = p.c / p.groups, kg = p.k / p.groups;
    const int g = blockIdx.z % p.groups, sidx = blockIdx.z / p.groups;
    const int m0 = blockIdx.y * BM;
    const int64_t ohw = (int64_t)p.oh * p.ow;
    const int64_t npix = (int64_t)p.n * ohw;
    const int64_t n0 = (int64_t)blockIdx.x * BN;
    const int khw = p.kh * p.kw;
    const int K = cg * khw;
    int kb = 0, ke = K;
    if (p.part) split_range(K, p.ksplit, sidx, BK, kb, ke);
    const int64_t HW = (int64_t)p.ih * p.iw;
    const __half *x = (const __half *)p.x;
    const __half *w = (const __half *)p.w + (int64_t)g * kg * K;
    for (int nn = tid; nn < BN; nn += 128) {
        int64_t pix = n0 + nn;
        if (pix < npix) {
            int64_t b = pix / ohw;
            int r = (int)(pix - b * ohw);
            int oy = r / p.ow, ox = r - oy * p.ow;
            int ih0 = oy * p.sh - p.pt, iw0 = ox * p.sw - p.pl;
            colih[nn] = ih0;
            coliw[nn] = iw0;
            colbase[nn] = (b * p.c + (int64_t)g * cg) * HW + (int64_t)ih0 * p.iw + iw0;
        } else {
            colih[nn] = -1000000;
            coliw[nn] = -1000000;
            colbase[nn] = 0;
        }
    }
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++) wmma::fill_fragment(acc[i][j], 0.f);
    for (int k0 = kb; k0 < ke; k0 += BK) {
        if (tid < BK) {
            int kidx = k0 + tid;
            if (kidx < ke) {
                int ci = kidx / khw, r = kidx - ci * khw;
                int ky = r / p.kw, kx = r - ky * p.kw;
                kdy[tid] = ky * p.dh;
                kdx[tid] = kx * p.dw;
                koff[tid] = (int)(ci * HW + (int64_t)ky * p.dh * p.iw + kx * p.dw);
            } else {
                kdy[tid] = -1000000;
                kdx[tid] = 0;
                koff[tid] = 0;
            }
        }
        for (int e = tid; e < BM * BK; e += 128) {
            int mm = e / BK, kk = e % BK;
            int m = m0 + mm, kidx = k0 + kk;
            As[mm][kk] = (m < kg && kidx < ke) ? __ldg(w + (int64_t)m * K + kidx) : __float2half(0.f);
        }
        __syncthreads();
        for (int e = tid; e < BK * BN; e += 128) {
            int kk = e / BN, nn = e % BN;
            int iy = colih[nn] + kdy[kk], ix = coliw[nn] + kdx[kk];
            __half v = __float2half(0.f);
            if ((unsigned)iy < (unsigned)p.ih && (unsigned)ix < (unsigned)p.iw)
                v = __ldg(x + colbase[nn] + koff[kk]);
            Bs[kk][nn] = v;
        }
        __syncthreads();
#pragma unroll
        for (int ks = 0; ks < BK; ks += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa[FM];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> fb[FN];
#pragma unroll
            for (int i = 0; i < FM; i++)
                wmma::load_matrix_sync(fa[i], &As[(wm * FM + i) * 16][ks], BK + 16);
#pragma unroll
            for (int j = 0; j < FN; j++)
                wmma::load_matrix_sync(fb[j], &Bs[ks][(wn * FN + j) * 16], BN + 16);
#pragma unroll
            for (int i = 0; i < FM; i++)
#pragma unroll
                for (int j = 0; j < FN; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++)
            wmma::store_matrix_sync(&Cs[(wm * FM + i) * 16][(wn * FN + j) * 16], acc[i][j], BN + 8,
                                    wmma::mem_row_major);
    __syncthreads();
    __half *y = (__half *)p.y;
    for (int e = tid; e < BM * BN; e += 128) {
        int mm = e / BN, nn = e % BN;
        int m = m0 + mm;
        int64_t px = n0 + nn;
        if (m >= kg || px >= npix) continue;
        int64_t b = px / ohw, r = px - b * ohw;
        int co = g * kg + m;
        int64_t yi = (b * p.k + co) * ohw + r;
        if (p.part) p.part[(int64_t)sidx * npix * p.k + yi] = Cs[mm][nn];
        else ks_st(y + yi, epi<__half>(p, Cs[mm][nn], co, yi));
    }
}

template <int BM, int BN, int WGM, int WGN>
void launch_wmma(const ConvP &p, cudaStream_t s) {
    int64_t npix = (int64_t)p.n * p.oh * p.ow;
    int kg = p.k / p.groups;
    dim3 grid((unsigned)((npix + BN - 1) / BN), (unsigned)((kg + BM - 1) / BM),
              (unsigned)(p.groups * (p.part ? p.ksplit : 1)));
    ks_launch(conv_wmma_k<BM, BN, WGM, WGN>, grid, dim3(128), s, p);
}
} // namespace

extern "C" int64_t ks__cu_conv_igemm_ws(const ks_conv_args *a, int cfg) {
    int ks = KS_IGEMM_SPLIT(cfg);
    if (ks <= 1 || KS_IGEMM_IS_CLUSTER(cfg)) return 0;
    return (int64_t)ks * a->n * a->k * a->oh * a->ow * (int64_t)sizeof(float);
}

extern "C" int ks__cu_conv_igemm(const ks_conv_args *a, int half, int cfg, void *stream) {
    ConvP p = conv_p(a);
    cudaStream_t s = (cudaStream_t)stream;
    int tile = KS_IGEMM_TILE(cfg), ks = KS_IGEMM_SPLIT(cfg);
    if (KS_IGEMM_IS_CLUSTER(cfg)) { /* the splits as one thread-block cluster: no scratch, no reduce kernel */
        p.ksplit = ks;
        if (!half || !ks__conv_mma_launch(p, tile, s, true)) return (int)cudaErrorInvalidValue;
        KS_CU_RET();
    }
    if (ks > 1) {
        if (!a->ws) return (int)cudaErrorInvalidValue;
        p.part = (float *)a->ws;
        p.ksplit = ks;
    }
    if (half && tile >= 10) {
        if (!ks__conv_mma_launch(p, tile, s, false)) return (int)cudaErrorInvalidValue;
    } else if (half && tile >= 3 && tile <= 6) {
        if (tile == 3) launch_wmma<64, 64, 2, 2>(p, s);
        else if (tile == 4) launch_wmma<32, 128, 2, 2>(p, s);
        else if (tile == 5) launch_wmma<16, 128, 1, 4>(p, s);
        else launch_wmma<32, 32, 2, 2>(p, s);
    } else if (half) {
        switch (tile) {
        case 1: launch_igemm<__half, 32, 128>(p, s); break;
        case 2: launch_igemm<__half, 16, 256>(p, s); break;
        case 7: launch_igemm<__half, 32, 32>(p, s); break;
        case 8: launch_igemm<__half, 16, 64>(p, s); break;
        case 9: launch_igemm<__half, 64, 16>(p, s); break;
        default: launch_igemm<__half, 64, 64>(p, s); break;
        }
    } else {
        switch (tile) {
        case 1: launch_igemm<float, 32, 128>(p, s); break;
        case 2: launch_igemm<float, 16, 256>(p, s); break;
        case 7: launch_igemm<float, 32, 32>(p, s); break;
        case 8: launch_igemm<float, 16, 64>(p, s); break;
        case 9: launch_igemm<float, 64, 16>(p, s); break;
        default: launch_igemm<float, 64, 64>(p, s); break;
        }
    }
    if (ks > 1) {
        int64_t hw = (int64_t)p.oh * p.ow, total = (int64_t)p.n * p.k * hw;
        if (half) ks_launch(splitk_reduce_k<__half>, dim3(ks_blocks(total, 256)), dim3(256), s, p, total, hw);
        else ks_launch(splitk_reduce_k<float>, dim3(ks_blocks(total, 256)), dim3(256), s, p, total, hw);
    }
    KS_CU_RET();
}

extern "C" int ks__cu_conv_direct(const ks_conv_args *a, int half, void *stream) {
    ConvP p = conv_p(a);
    if (p.groups != 1 || (size_t)p.k * p.c * p.kh * p.kw * sizeof(float) > 48 * 1024)
        return (int)cudaErrorInvalidValue;
    cudaStream_t s = (cudaStream_t)stream;
    int64_t npix = (int64_t)p.n * p.oh * p.ow;
    size_t smem = (size_t)p.k * p.c * p.kh * p.kw * sizeof(float);
    int e = half ? ks_launch_smem(conv_direct_k<__half>, dim3(ks_blocks(npix, 256)), dim3(256), smem, s, p)
                 : ks_launch_smem(conv_direct_k<float>, dim3(ks_blocks(npix, 256)), dim3(256), smem, s, p);
    if (e != cudaSuccess) return e;
    KS_CU_RET();
}

extern "C" int ks__cu_conv_dw_tiled_fits(const ks_conv_args *a) {
    ConvP p = conv_p(a);
    size_t sm = (size_t)dwt_in_w(p.sw, p.kw, p.dw) * dwt_in_h(p.sh, p.kh, p.dh) * sizeof(float);
    return sm <= 48 * 1024 && (int64_t)p.n * p.c <= 65535;
}

extern "C" int ks__cu_conv_dw_strip_fits(const ks_conv_args *a) {
    return a->groups == a->c && a->k == a->c && a->kh == a->kw && (a->kh == 3 || a->kh == 5) && a->sh == a->sw &&
           (a->sh == 1 || a->sh == 2) && a->dh == 1 && a->dw == 1 && (int64_t)a->n * a->c <= 65535 &&
           (int64_t)a->n * a->c * a->ih * a->iw < ((int64_t)1 << 31) &&
           (int64_t)a->n * a->c * a->oh * a->ow < ((int64_t)1 << 31);
}

template <typename T, int KS, int S>
static void dw_strip_launch(const ConvP &p, cudaStream_t s) {
    const int tiles_x = (p.ow + DWS_TW - 1) / DWS_TW, tiles_y = (p.oh + DWS_TH - 1) / DWS_TH;
    constexpr int V = 16 / sizeof(T);
    // 16-byte loads: every row start of the planes must be 16-byte aligned; stores are 4 outputs
    // (8 bytes FP16, 16 bytes FP32) at multiples of 4 outputs
    const int vec_in = p.iw % V == 0 && ((uintptr_t)p.x & 15) == 0;
    const int vec_out = p.ow % DWS_PX == 0 && ((uintptr_t)p.y & 15) == 0;
    dim3 grid((unsigned)(tiles_x * tiles_y), (unsigned)(p.n * p.c));
    ks_launch(conv_dw_strip_k<T, KS, S>, grid, dim3(DWS_THREADS), s, p, tiles_x, vec_in, vec_out);
}

template <typename T>
static int dw_strip(const ConvP &p, cudaStream_t s) {
    if (p.kh == 3) {
        if (p.sh == 1) dw_strip_launch<T, 3, 1>(p, s);
        else dw_strip_launch<T, 3, 2>(p, s);
    } else {
        if (p.sh == 1) dw_strip_launch<T, 5, 1>(p, s);
        else dw_strip_launch<T, 5, 2>(p, s);
    }
    KS_CU_RET();
}

extern "C" int ks__cu_conv_dw(const ks_conv_args *a, int half, int cfg, void *stream) {
    if (cfg == 4)
        return ks__cu_conv_dw_roll(a, half, stream);
    ConvP p = conv_p(a);
    cudaStream_t s = (cudaStream_t)stream;
    if (cfg == 3) {
        if (!ks__cu_conv_dw_strip_fits(a)) return (int)cudaErrorInvalidValue;
        return half ? dw_strip<__half>(p, s) : dw_strip<float>(p, s);
    }
    if (cfg == 2) {
        if (!ks__cu_conv_dw_tiled_fits(a)) return (int)cudaErrorInvalidValue;
        int tiles_x = (p.ow + DWT_W - 1) / DWT_W, tiles_y = (p.oh + DWT_H - 1) / DWT_H;
        size_t sm = (size_t)dwt_in_w(p.sw, p.kw, p.dw) * dwt_in_h(p.sh, p.kh, p.dh) * sizeof(float);
        dim3 grid((unsigned)(tiles_x * tiles_y), (unsigned)((int64_t)p.n * p.c));
        bool k3 = p.kh == 3 && p.kw == 3;
        if (half) ks_launch_smem(k3 ? conv_dw_tiled_k<__half, 3> : conv_dw_tiled_k<__half, 0>, grid, dim3(DWT_THREADS), sm, s, p, tiles_x);
        else ks_launch_smem(k3 ? conv_dw_tiled_k<float, 3> : conv_dw_tiled_k<float, 0>, grid, dim3(DWT_THREADS), sm, s, p, tiles_x);
        KS_CU_RET();
    }
    int vec = cfg == 1 ? 4 : 1;
    int64_t total = (int64_t)p.n * p.c * p.oh * ((p.ow + vec - 1) / vec);
    unsigned blocks = ks_blocks(total, 256);
    if (half) {
        if (vec == 4) ks_launch(conv_dw_k<__half, 4>, dim3(blocks), dim3(256), s, p);
        else ks_launch(conv_dw_k<__half, 1>, dim3(blocks), dim3(256), s, p);
    } else {
        if (vec == 4) ks_launch(conv_dw_k<float, 4>, dim3(blocks), dim3(256), s, p);
        else ks_launch(conv_dw_k<float, 1>, dim3(blocks), dim3(256), s, p);
    }
    KS_CU_RET();
}

extern "C" int ks__cu_conv_epilogue(const ks_conv_args *a, int half, void *stream) {
    ConvP p = conv_p(a);
    int64_t hw = (int64_t)p.oh * p.ow, total = (int64_t)p.n * p.k * hw;
    cudaStream_t s = (cudaStream_t)stream;
    if (half) ks_launch(epilogue_k<__half>, dim3(ks_blocks(total, 256)), dim3(256), s, p, total, hw);
    else ks_launch(epilogue_k<float>, dim3(ks_blocks(total, 256)), dim3(256), s, p, total, hw);
    KS_CU_RET();
}
