// Streaming convolutions for large maps with few channels (batch-32
// throughput, issue 3):
//  - conv_pw_stream_k: 1x1 conv (C_in, C_out <= 64). A block owns 128
//    consecutive pixels of one image; it stages all input channels of those
//    pixels in shared memory with one coalesced, vectorized read (or, fused
//    with a depthwise conv in front, computes the depthwise outputs of all
//    channels there), then every thread produces 4 pixels x C_out/8 output
//    channels from shared memory (weights broadcast from shared memory).
//    Input read once, output written once, no 64x64 GEMM tile padding.
//  - conv_direct_tiled_k: first layers (C_in <= 4): the input patch of a
//    64 x 8|16 output tile staged in shared memory, all output channels of
//    a pixel per thread, weights as float4 broadcasts (the old own:direct
//    kernel did one shared load per FMA and uncoalesced strided reads).
// All index math is 32-bit per image (64-bit division per element made the
// simple depthwise kernel ~8x slower than its memory traffic).
#include "backends/cuda/conv_p.cuh"

namespace {

struct StreamP {
    const void *x, *w, *bias, *res;
    const float *prelu;
    void *y;
    int n, c, ih, iw, k, oh, ow;
    int act;
    float act_a, act_b;
    int res_after_act;
    /* depthwise front (fused dw+pw) or the direct conv geometry */
    const void *dww, *dwb;
    const float *dwprelu;
    int dwact;
    float dwa, dwb2;
    int kh, kw, sh, sw, pt, pl, dh, dw;
};

__device__ __forceinline__ float tof(float v) { return v; }
__device__ __forceinline__ float tof(__half v) { return __half2float(v); }

using ksconv::epi;

constexpr int PW_P = 128;       // pixels per block
constexpr int PW_THREADS = 256; // 8 warps = 8 channel groups, 32 lanes x 4 pixels

// TC output channels per thread (k <= 8 * TC). DW: depthwise front.
template <typename T, int TC, bool DW>
__global__ void __launch_bounds__(PW_THREADS) conv_pw_stream_k(StreamP p) {
    ks_pdl_wait();
    extern __shared__ float4 smem4[];
    float *xs = (float *)smem4;           // [c][PW_P]
    float *ws = xs + p.c * PW_P;          // [c][8*TC]
    constexpr int KP = 8 * TC;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int b = blockIdx.y;
    const int hw = p.oh * p.ow;
    const int p0 = blockIdx.x * PW_P;
    const int c = p.c;
    for (int e = tid; e < c * KP; e += PW_THREADS) {
        int ci = e / KP, co = e - ci * KP;
        ws[e] = co < p.k ? ks_ld((const T *)p.w + co * c + ci) : 0.f;
    }
    if (!DW) {
        const T *xb = (const T *)p.x + (int64_t)b * c * hw;
        constexpr int V = 16 / sizeof(T); // elements per 16-byte vector
        if (hw % V == 0 && ((uintptr_t)xb & 15) == 0) {
            constexpr int NV = PW_P / V;
            for (int e = tid; e < c * NV; e += PW_THREADS) {
                int ci = e / NV, v = e - ci * NV;
                int px = p0 + v * V;
                float *d = xs + ci * PW_P + v * V;
                if (px < hw) {
                    uint4 raw = __ldg((const uint4 *)(xb + (int64_t)ci * hw + px));
                    if (sizeof(T) == 2) {
                        const __half2 *h = (const __half2 *)&raw;
                        float2 f0 = __half22float2(h[0]), f1 = __half22float2(h[1]);
                        float2 f2 = __half22float2(h[2]), f3 = __half22float2(h[3]);
                        ((float4 *)d)[0] = make_float4(f0.x, f0.y, f1.x, f1.y);
                        ((float4 *)d)[1] = make_float4(f2.x, f2.y, f3.x, f3.y);
                    } else {
                        *(float4 *)d = *(const float4 *)&raw;
                    }
                } else {
#pragma unroll
                    for (int i = 0; i < V; i++) d[i] = 0.f;
                }
            }
        } else {
            for (int e = tid; e < c * PW_P; e += PW_THREADS) {
                int ci = e / PW_P, v = e - ci * PW_P;
                int px = p0 + v;
                xs[e] = px < hw ? ks_ld(xb + (int64_t)ci * hw + px) : 0.f;
            }
        }
    } else {
        // depthwise outputs of every channel for the block's pixels
        const int pl_ = tid % PW_P, cstart = tid / PW_P;
        const int px = p0 + pl_;
        const bool ok = px < hw;
        int oy = 0, ox = 0;
        if (ok) {
            oy = px / p.ow;
            ox = px - oy * p.ow;
        }
        const int iy0 = oy * p.sh - p.pt, ix0 = ox * p.sw - p.pl;
        const int ihw = p.ih * p.iw;
        const T *xb = (const T *)p.x + (int64_t)b * c * ihw;
        const T *dww = (const T *)p.dww;
        const int khw = p.kh * p.kw;
        for (int ci = cstart; ci < c; ci += PW_THREADS / PW_P) {
            float v = 0.f;
            if (ok) {
                const T *xc = xb + (int64_t)ci * ihw;
                const T *wc = dww + ci * khw;
                if (p.kh == 3 && p.kw == 3) {
#pragma unroll
                    for (int ky = 0; ky < 3; ky++) {
                        int iy = iy0 + ky * p.dh;
                        if ((unsigned)iy >= (unsigned)p.ih) continue;
#pragma unroll
                        for (int kx = 0; kx < 3; kx++) {
                            int ix = ix0 + kx * p.dw;
                            if ((unsigned)ix < (unsigned)p.iw)
                                v = fmaf(ks_ld(xc + iy * p.iw + ix), ks_ld(wc + ky * 3 + kx), v);
                        }
                    }
                } else {
                    for (int ky = 0; ky < p.kh; ky++) {
                        int iy = iy0 + ky * p.dh;
                        if ((unsigned)iy >= (unsigned)p.ih) continue;
                        for (int kx = 0; kx < p.kw; kx++) {
                            int ix = ix0 + kx * p.dw;
                            if ((unsigned)ix < (unsigned)p.iw)
                                v = fmaf(ks_ld(xc + iy * p.iw + ix), ks_ld(wc + ky * p.kw + kx), v);
                        }
                    }
                }
                if (p.dwb) v += ks_ld((const T *)p.dwb + ci);
                if (p.dwact == KS_ACT_PRELU) v = v >= 0.f ? v : v * __ldg(p.dwprelu + ci);
                else v = ksconv::ks_act1(p.dwact, v, p.dwa, p.dwb2);
            }
            xs[ci * PW_P + pl_] = v;
        }
    }
    __syncthreads();
    float acc[TC][4];
#pragma unroll
    for (int j = 0; j < TC; j++)
#pragma unroll
        for (int i = 0; i < 4; i++) acc[j][i] = 0.f;
    const float *xr = xs + lane * 4;
    const float *wr = ws + warp * TC;
#pragma unroll 4
    for (int ci = 0; ci < c; ci++) {
        float4 xv = *(const float4 *)(xr + ci * PW_P);
        float wv[TC];
        if (TC % 4 == 0) {
#pragma unroll
            for (int j = 0; j < TC; j += 4) {
                float4 t = *(const float4 *)(wr + ci * KP + j);
                wv[j] = t.x; wv[j + 1] = t.y; wv[j + 2] = t.z; wv[j + 3] = t.w;
            }
        } else {
#pragma unroll
            for (int j = 0; j < TC; j += 2) {
                float2 t = *(const float2 *)(wr + ci * KP + j);
                wv[j] = t.x; wv[j + 1] = t.y;
            }
        }
#pragma unroll
        for (int j = 0; j < TC; j++) {
            acc[j][0] = fmaf(xv.x, wv[j], acc[j][0]);
            acc[j][1] = fmaf(xv.y, wv[j], acc[j][1]);
            acc[j][2] = fmaf(xv.z, wv[j], acc[j][2]);
            acc[j][3] = fmaf(xv.w, wv[j], acc[j][3]);
        }
    }
    T *y = (T *)p.y;
    const int px = p0 + lane * 4;
    const bool vec = hw % 4 == 0 && px + 4 <= hw && ((uintptr_t)y & (4 * sizeof(T) - 1)) == 0;
#pragma unroll
    for (int j = 0; j < TC; j++) {
        int co = warp * TC + j;
        if (co >= p.k) break;
        int64_t yi = ((int64_t)b * p.k + co) * hw + px;
        float o[4];
#pragma unroll
        for (int i = 0; i < 4; i++) o[i] = px + i < hw ? epi<T>(p, acc[j][i], co, yi + i) : 0.f;
        if (vec) {
            if (sizeof(T) == 2) {
                __half2 h0 = __floats2half2_rn(o[0], o[1]), h1 = __floats2half2_rn(o[2], o[3]);
                uint2 u;
                u.x = *(unsigned *)&h0;
                u.y = *(unsigned *)&h1;
                *(uint2 *)(y + yi) = u;
            } else {
                *(float4 *)(y + yi) = make_float4(o[0], o[1], o[2], o[3]);
            }
        } else {
#pragma unroll
            for (int i = 0; i < 4; i++)
                if (px + i < hw) ks_st(y + yi + i, o[i]);
        }
    }
}

template <typename T, bool DW>
int launch_pw(const StreamP &p, cudaStream_t s) {
    int tc = p.k <= 16 ? 2 : p.k <= 32 ? 4 : 8;
    size_t sm = ((size_t)p.c * PW_P + (size_t)p.c * 8 * tc) * sizeof(float);
    int hw = p.oh * p.ow;
    dim3 grid((unsigned)((hw + PW_P - 1) / PW_P), (unsigned)p.n);
    if (tc == 2) return ks_launch_smem(conv_pw_stream_k<T, 2, DW>, grid, dim3(PW_THREADS), sm, s, p);
    if (tc == 4) return ks_launch_smem(conv_pw_stream_k<T, 4, DW>, grid, dim3(PW_THREADS), sm, s, p);
    return ks_launch_smem(conv_pw_stream_k<T, 8, DW>, grid, dim3(PW_THREADS), sm, s, p);
}

int pw_fits(int n, int c, int k, int64_t hw) {
    return c >= 1 && c <= 64 && k >= 1 && k <= 64 && n >= 1 && n <= 65535 && hw >= 1 && hw <= (1 << 30) / 64;
}

// ---------------------------------------------------------------- direct
constexpr int DT_W = 64;            // output columns per tile (2 per lane)
constexpr int DT_THREADS = 256;     // 8 warps, RPW output rows each
constexpr int DT_MC = 16;           // output channels per pass

__host__ __device__ inline int dt_rows(int half) { return half ? 16 : 8; }
__host__ __device__ inline int dt_pw(int sw, int kw, int dw) { return (DT_W - 1) * sw + (kw - 1) * dw + 1; }
__host__ __device__ inline int dt_ph(int rows, int sh, int kh, int dh) { return (rows - 1) * sh + (kh - 1) * dh + 1; }

size_t dt_smem(int half, int c, int k, int kh, int kw, int sh, int sw, int dh, int dw) {
    int rows = dt_rows(half);
    size_t patch = (size_t)c * dt_ph(rows, sh, kh, dh) * dt_pw(sw, kw, dw) * (half ? 2 : 4);
    patch = (patch + 15) / 16 * 16;
    int mch = (k + DT_MC - 1) / DT_MC;
    return patch + (size_t)mch * c * kh * kw * DT_MC * sizeof(float);
}

// KS: square kernel size known at compile time (0 = runtime kh, kw).
// Thread (warp w, lane l): rows RPW*w .. +RPW, columns l and l + 32.
template <typename T, int KS, int RPW>
__global__ void __launch_bounds__(DT_THREADS) conv_direct_tiled_k(StreamP p, int tiles_x) {
    ks_pdl_wait();
    extern __shared__ float4 smem4[];
    constexpr int ROWS = 8 * RPW;
    const int kh = KS ? KS : p.kh, kw = KS ? KS : p.kw;
    const int PW = dt_pw(p.sw, kw, p.dw), PH = dt_ph(ROWS, p.sh, kh, p.dh);
    const int c = p.c, K = c * kh * kw;
    T *xs = (T *)smem4;
    size_t patch = ((size_t)c * PH * PW * sizeof(T) + 15) / 16 * 16;
    float *ws = (float *)((char *)smem4 + patch); // [mchunk][K][16]
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int b = blockIdx.y;
    const int tyi = blockIdx.x / tiles_x, txi = blockIdx.x - tyi * tiles_x;
    const int oy0 = tyi * ROWS, ox0 = txi * DT_W;
    const int iy0 = oy0 * p.sh - p.pt, ix0 = ox0 * p.sw - p.pl;
    const int ihw = p.ih * p.iw;
    const T *xb = (const T *)p.x + (int64_t)b * c * ihw;
    const int mch = (p.k + DT_MC - 1) / DT_MC;
    for (int e = tid; e < mch * K * DT_MC; e += DT_THREADS) {
        int m = e % DT_MC, r = e / DT_MC, kk = r % K, chunk = r / K;
        int co = chunk * DT_MC + m;
        ws[e] = co < p.k ? ks_ld((const T *)p.w + co * K + kk) : 0.f;
    }
    const int plane = PH * PW;
    for (int e = tid; e < c * plane; e += DT_THREADS) {
        int ci = e / plane, r = e - ci * plane;
        int ry = r / PW, rx = r - ry * PW;
        int iy = iy0 + ry, ix = ix0 + rx;
        if ((unsigned)iy < (unsigned)p.ih && (unsigned)ix < (unsigned)p.iw) xs[e] = __ldg(xb + ci * ihw + iy * p.iw + ix);
        else xs[e] = T(0.f);
    }
    __syncthreads();
    const int hw = p.oh * p.ow;
    T *y = (T *)p.y;
    for (int chunk = 0; chunk < mch; chunk++) {
        float acc[RPW][2][DT_MC];
#pragma unroll
        for (int r = 0; r < RPW; r++)
#pragma unroll
            for (int q = 0; q < 2; q++)
#pragma unroll
                for (int m = 0; m < DT_MC; m++) acc[r][q][m] = 0.f;
        const float4 *wc = (const float4 *)(ws + (size_t)chunk * K * DT_MC);
        for (int ci = 0; ci < c; ci++) {
            const T *xc = xs + ci * plane;
#pragma unroll
            for (int ky = 0; ky < (KS ? KS : 1); ky++) {
                for (int kyr = 0; kyr < (KS ? 1 : kh); kyr++) {
                    const int kyy = KS ? ky : kyr;
#pragma unroll
                    for (int kx = 0; kx < (KS ? KS : 1); kx++) {
                        for (int kxr = 0; kxr < (KS ? 1 : kw); kxr++) {
                            const int kxx = KS ? kx : kxr;
                            float xv[RPW][2];
#pragma unroll
                            for (int r = 0; r < RPW; r++)
#pragma unroll
                                for (int q = 0; q < 2; q++) {
                                    int ry = (warp * RPW + r) * p.sh + kyy * p.dh;
                                    int rx = (lane + 32 * q) * p.sw + kxx * p.dw;
                                    xv[r][q] = tof(xc[ry * PW + rx]);
                                }
                            const float4 *wt = wc + ((ci * kh + kyy) * kw + kxx) * (DT_MC / 4);
#pragma unroll
                            for (int m4 = 0; m4 < DT_MC / 4; m4++) {
                                float4 w4 = wt[m4];
#pragma unroll
                                for (int r = 0; r < RPW; r++)
#pragma unroll
                                    for (int q = 0; q < 2; q++) {
                                        acc[r][q][4 * m4 + 0] = fmaf(xv[r][q], w4.x, acc[r][q][4 * m4 + 0]);
                                        acc[r][q][4 * m4 + 1] = fmaf(xv[r][q], w4.y, acc[r][q][4 * m4 + 1]);
                                        acc[r][q][4 * m4 + 2] = fmaf(xv[r][q], w4.z, acc[r][q][4 * m4 + 2]);
                                        acc[r][q][4 * m4 + 3] = fmaf(xv[r][q], w4.w, acc[r][q][4 * m4 + 3]);
                                    }
                            }
                        }
                    }
                }
            }
        }
#pragma unroll
        for (int r = 0; r < RPW; r++) {
            int oy = oy0 + warp * RPW + r;
            if (oy >= p.oh) continue;
#pragma unroll
            for (int q = 0; q < 2; q++) {
                int ox = ox0 + lane + 32 * q;
                if (ox >= p.ow) continue;
#pragma unroll
                for (int m = 0; m < DT_MC; m++) {
                    int co = chunk * DT_MC + m;
                    if (co >= p.k) break;
                    int64_t yi = ((int64_t)b * p.k + co) * hw + oy * p.ow + ox;
                    ks_st(y + yi, epi<T>(p, acc[r][q][m], co, yi));
                }
            }
        }
    }
}

template <typename T, int RPW>
int launch_direct(const StreamP &p, size_t sm, cudaStream_t s) {
    int tiles_x = (p.ow + DT_W - 1) / DT_W, tiles_y = (p.oh + 8 * RPW - 1) / (8 * RPW);
    dim3 grid((unsigned)(tiles_x * tiles_y), (unsigned)p.n);
    if (p.kh == 3 && p.kw == 3)
        return ks_launch_smem(conv_direct_tiled_k<T, 3, RPW>, grid, dim3(DT_THREADS), sm, s, p, tiles_x);
    if (p.kh == 6 && p.kw == 6)
        return ks_launch_smem(conv_direct_tiled_k<T, 6, RPW>, grid, dim3(DT_THREADS), sm, s, p, tiles_x);
    return ks_launch_smem(conv_direct_tiled_k<T, 0, RPW>, grid, dim3(DT_THREADS), sm, s, p, tiles_x);
}

StreamP mk_s(const ks_conv_args *a) {
    StreamP p;
    memset(&p, 0, sizeof p);
    p.x = a->x; p.w = a->w; p.bias = a->bias; p.res = a->res; p.prelu = a->prelu; p.y = a->y;
    p.n = a->n; p.c = a->c; p.ih = a->ih; p.iw = a->iw; p.k = a->k; p.oh = a->oh; p.ow = a->ow;
    p.act = a->act; p.act_a = a->act_a; p.act_b = a->act_b; p.res_after_act = a->res_after_act;
    p.kh = a->kh; p.kw = a->kw; p.sh = a->sh; p.sw = a->sw; p.pt = a->pt; p.pl = a->pl; p.dh = a->dh; p.dw = a->dw;
    return p;
}
} // namespace

extern "C" int ks__cu_conv_pw_stream_fits(const ks_conv_args *a) {
    return a->groups == 1 && a->kh == 1 && a->kw == 1 && a->sh == 1 && a->sw == 1 && a->pt == 0 && a->pl == 0 &&
           a->oh == a->ih && a->ow == a->iw && pw_fits(a->n, a->c, a->k, (int64_t)a->oh * a->ow);
}

extern "C" int ks__cu_conv_pw_stream(const ks_conv_args *a, int half, void *stream) {
    if (!ks__cu_conv_pw_stream_fits(a)) return (int)cudaErrorInvalidValue;
    StreamP p = mk_s(a);
    cudaStream_t s = (cudaStream_t)stream;
    int rc = half ? launch_pw<__half, false>(p, s) : launch_pw<float, false>(p, s);
    if (rc) return rc;
    KS_CU_RET();
}

extern "C" int ks__cu_conv_dwpw_stream(const ks_dwpw_args *a, int half, void *stream) {
    if (!pw_fits(a->n, a->c, a->k, (int64_t)a->oh * a->ow) || a->kh < 1 || a->kw < 1)
        return (int)cudaErrorInvalidValue;
    StreamP p;
    memset(&p, 0, sizeof p);
    p.x = a->x; p.w = a->w; p.bias = a->bias; p.res = a->res; p.prelu = a->prelu; p.y = a->y;
    p.n = a->n; p.c = a->c; p.ih = a->ih; p.iw = a->iw; p.k = a->k; p.oh = a->oh; p.ow = a->ow;
    p.act = a->act; p.act_a = a->act_a; p.act_b = a->act_b; p.res_after_act = a->res_after_act;
    p.dww = a->dw_w; p.dwb = a->dw_bias; p.dwprelu = a->dw_prelu; p.dwact = a->dw_act;
    p.dwa = a->dw_act_a; p.dwb2 = a->dw_act_b;
    p.kh = a->kh; p.kw = a->kw; p.sh = a->sh; p.sw = a->sw; p.pt = a->pt; p.pl = a->pl; p.dh = a->dh; p.dw = a->dw;
    cudaStream_t s = (cudaStream_t)stream;
    int rc = half ? launch_pw<__half, true>(p, s) : launch_pw<float, true>(p, s);
    if (rc) return rc;
    KS_CU_RET();
}

extern "C" int ks__cu_conv_direct_tiled_fits(const ks_conv_args *a, int half) {
    if (a->groups != 1 || a->c < 1 || a->c > 4 || a->k < 1 || a->k > 64 || a->n < 1 || a->n > 65535 ||
        a->kh < 1 || a->kw < 1 || a->kh > 11 || a->kw > 11 || a->sh < 1 || a->sw < 1 || a->sh > 4 || a->sw > 4 ||
        a->dh < 1 || a->dw < 1 || a->dh > 4 || a->dw > 4)
        return 0;
    int64_t tiles = (int64_t)((a->ow + DT_W - 1) / DT_W) * ((a->oh + dt_rows(half) - 1) / dt_rows(half));
    if (tiles > 0x7fffffff) return 0;
    return dt_smem(half, a->c, a->k, a->kh, a->kw, a->sh, a->sw, a->dh, a->dw) <= 48 * 1024;
}

extern "C" int ks__cu_conv_direct_tiled(const ks_conv_args *a, int half, void *stream) {
    if (!ks__cu_conv_direct_tiled_fits(a, half)) return (int)cudaErrorInvalidValue;
    StreamP p = mk_s(a);
    size_t sm = dt_smem(half, p.c, p.k, p.kh, p.kw, p.sh, p.sw, p.dh, p.dw);
    cudaStream_t s = (cudaStream_t)stream;
    int rc = half ? launch_direct<__half, 2>(p, sm, s) : launch_direct<float, 1>(p, sm, s);
    if (rc) return rc;
    KS_CU_RET();
}
