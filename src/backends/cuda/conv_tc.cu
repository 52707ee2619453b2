// Tensor-core 1x1 conv and fused depthwise + 1x1 conv, FP16 storage with
// FP32 accumulation (batch throughput, issue 3):
//  - own:pointwise:1 (pw_tc_k): per image Y[k][p] = W[k][c] * X[c][p] with
//    mma.sync m16n8k16 (M = output channels, K = input channels, N =
//    pixels). A persistent block keeps all of W (padded to multiples of 16
//    with zeros) in shared memory and walks 256-pixel tiles of X[c][256]:
//    the next tile is fetched with cp.async (16-byte, coalesced, zero-fill
//    past the map) while the current one is multiplied. 8 warps own 32
//    pixels each and loop over all output-channel tiles; A fragments come
//    from W with ldmatrix, B fragments from X with ldmatrix.trans.
//  - own:dwpw:10 (dwpw_tc_k): the same 1x1 behind a depthwise conv (any
//    kh x kw <= 5, stride 1-2, pad, dilation 1-2, own bias/activation): a
//    block owns an 8 x 32 output tile of one image, stages the depthwise
//    input window of a chunk of channels in shared memory (one coalesced
//    read instead of kh*kw scattered loads per output), writes the
//    depthwise outputs of all channels as FP16 into the X tile, then runs
//    the tensor-core 1x1 from there. The intermediate never goes to memory.
// Epilogue (both): the FP32 accumulators of 8 channels x 32 pixels go
// through a small per-warp shared buffer so that each lane applies bias,
// residual, activation (PReLU, SiLU, ...) exactly as conv_p.cuh's epi
// to 8 consecutive pixels of one channel and writes them with one 16-byte
// store (scalar stores when the map size is not a multiple of 8).
// Row strides of every shared matrix are odd multiples of 16 bytes, so the
// 8 row addresses of an ldmatrix hit 8 different bank groups.
#include "backends/cuda/mma.cuh"
#include "backends/cuda/epi_n.cuh"
#include "backends/cuda/segmap.cuh"
#include "format/engine_format.h"
#include <type_traits>

namespace {

struct TcP {
    const __half *x, *w, *bias, *res;
    const float *prelu;
    __half *y;
    int n, c, ih, iw, k, oh, ow;
    int act;
    float act_a, act_b;
    int res_after_act;
    /* depthwise front (own:dwpw:10) */
    const __half *dww, *dwb;
    const float *dwprelu;
    int dwact;
    float dwa, dwb2;
    int kh, kw, sh, sw, pt, pl, dh, dw;
    /* derived on the host */
    int cp;              /* c rounded up to 16 */
    int mtg;             /* 16-row output-channel tiles, rounded up to the group size MG */
    int tiles_per_img;   /* pointwise: 256-pixel tiles per image */
    int n_tiles;
    int tiles_x;         /* dwpw: 32-column tiles per row */
    int ch, wh, ww;      /* dwpw: channels per window chunk, window rows / columns */
    unsigned ww_m, wh_m; /* magic multipliers for division by ww, wh */
};

constexpr int TC_P = 256;         // pixels per tile
constexpr int TC_THREADS = 256;   // 8 warps x 32 pixels
constexpr int TC_XS = TC_P + 8;   // X row stride in halves (528 bytes: odd multiple of 16)
constexpr int TC_SS = 36;         // staging row stride in floats
constexpr int TC_STG = 8 * TC_SS; // staging floats per warp (8 channels x 32 pixels)
constexpr int DW_TH = 8, DW_TW = 32;     // dwpw output tile (rows x columns)
constexpr int DW_WIN_BYTES = 24 * 1024;  // dwpw input window budget per chunk

// conv_p.cuh's epi for one value: bias, residual before/after the activation, PReLU slope sl
__device__ __forceinline__ float epi_tc(const TcP &p, float v, float bias, float sl, float r) {
    v += bias;
    if (p.res && !p.res_after_act) v += r;
    if (p.act == KS_ACT_PRELU) v = v >= 0.f ? v : v * sl;
    else v = ksconv::ks_act1(p.act, v, p.act_a, p.act_b);
    if (p.res && p.res_after_act) v += r;
    return v;
}

// epi_tc for 8 values of one channel with one activation decision (epi_n.cuh says why)
__device__ __forceinline__ void epi8_tc(const TcP &p, float (&o)[8], float bias, float sl, const float (&r)[8]) {
#pragma unroll
    for (int i = 0; i < 8; i++) {
        o[i] += bias;
        if (p.res && !p.res_after_act) o[i] += r[i];
    }
    if (p.act == KS_ACT_PRELU) {
#pragma unroll
        for (int i = 0; i < 8; i++) o[i] = o[i] >= 0.f ? o[i] : o[i] * sl;
    } else {
        ksconv::ks_act_n<8>(p.act, o, p.act_a, p.act_b);
    }
    if (p.res && p.res_after_act) {
#pragma unroll
        for (int i = 0; i < 8; i++) o[i] += r[i];
    }
}

// W[k][c] -> Ws[mtg*16][cp + 8] (zero padded)
__device__ __forceinline__ void fill_w(const TcP &p, __half *Ws, int tid) {
    const int ws = p.cp + 8, n = p.mtg * 16 * ws;
    for (int e = tid; e < n; e += TC_THREADS) {
        int m = e / ws, ci = e - m * ws;
        Ws[e] = m < p.k && ci < p.c ? p.w[m * p.c + ci] : __float2half_rn(0.f);
    }
}

// A lane's 8 staged accumulators (channel row r, pixels j0..) and its channel's bias and PReLU slope.
__device__ __forceinline__ void staged8(const TcP &p, const float *stg, int r, int j0, int co, float (&o)[8],
                                        float &bias, float &sl) {
    const float4 s0 = *(const float4 *)(stg + r * TC_SS + j0);
    const float4 s1 = *(const float4 *)(stg + r * TC_SS + j0 + 4);
    o[0] = s0.x; o[1] = s0.y; o[2] = s0.z; o[3] = s0.w;
    o[4] = s1.x; o[5] = s1.y; o[6] = s1.z; o[7] = s1.w;
    bias = p.bias ? __half2float(__ldg(p.bias + co)) : 0.f;
    sl = p.act == KS_ACT_PRELU ? __ldg(p.prelu + co) : 0.f;
}

// The plain epilogue: each lane applies bias, residual and activation to 8 consecutive pixels of one channel
// (r = lane / 4 of the 8 staged channels, pixels 8 * (lane % 4)..) and stores them as NCHW, one 16-byte store
// where the map allows (vec), else scalar.
struct EpiStore {
    const TcP &p;
    bool vec;
    __device__ __forceinline__ void operator()(const float *stg, int cbase, int b, int pb, int nv, int lane) {
        const int r = lane >> 2, v = lane & 3, co = cbase + r, j0 = 8 * v;
        if (co >= p.k || j0 >= nv) return;
        float o[8], bias, sl;
        staged8(p, stg, r, j0, co, o, bias, sl);
        const int64_t yi = ((int64_t)b * p.k + co) * (p.oh * p.ow) + pb + j0;
        if (vec && j0 + 8 <= nv) {
            float rr[8];
            if (p.res) {
                const uint4 raw = __ldg((const uint4 *)(p.res + yi));
                unpack2(raw.x, rr[0], rr[1]);
                unpack2(raw.y, rr[2], rr[3]);
                unpack2(raw.z, rr[4], rr[5]);
                unpack2(raw.w, rr[6], rr[7]);
            } else {
#pragma unroll
                for (int i = 0; i < 8; i++) rr[i] = 0.f;
            }
            epi8_tc(p, o, bias, sl, rr);
            uint4 out;
            out.x = pack2(o[0], o[1]);
            out.y = pack2(o[2], o[3]);
            out.z = pack2(o[4], o[5]);
            out.w = pack2(o[6], o[7]);
            *(uint4 *)(p.y + yi) = out;
        } else {
#pragma unroll
            for (int i = 0; i < 8; i++)
                if (j0 + i < nv) {
                    float rv = p.res ? __half2float(p.res[yi + i]) : 0.f;
                    p.y[yi + i] = __float2half_rn(epi_tc(p, o[i], bias, sl, rv));
                }
        }
    }
};

// The segmap epilogue (own:pointwise:1 running a YOLO-style detect head, kernels.h ks__cu_conv_pw_seg): conv
// channel co is channel c = co % C of anchor a = co / C of the segmap. Each lane applies bias and activation to its
// 8 pixels of one channel, then the channel's part program (segmap.cuh seg_eval), and puts the results into the
// warp's [32 pixels][C] buffer in output order; once an anchor's C channels are in (channels arrive in increasing
// order), the warp writes its 32 * C values as one contiguous run of output rows. The conv's NCHW output and the
// segmap's read of it never exist.
struct SegX {
    kseg::SegP sp;
    ks_fdiv fW;
};

struct EpiSeg {
    const TcP &p;
    const SegX &sx;
    __half *sb;  // the warp's [32][C] buffer (16-byte aligned)
    uint32_t a;  // the anchor being collected
    __device__ __forceinline__ void put(const float (&o)[8], uint32_t c, int j0, int nvv) {
        const uint32_t C = sx.sp.C;
#pragma unroll
        for (int i = 0; i < 8; i++)
            if (i < nvv) sb[(j0 + i) * C + c] = __float2half_rn(o[i]);
    }
    __device__ __forceinline__ void flush(int b, int pb, int nv, int lane) {
        const uint32_t C = sx.sp.C, hw = sx.sp.H * sx.sp.W;
        kseg::copy_run((__half *)sx.sp.y + (int64_t)b * sx.sp.ys + ((int64_t)a * hw + pb) * C, sb, (uint32_t)nv * C,
                       (uint32_t)lane, 32u);
    }
    __device__ __forceinline__ void operator()(const float *stg, int cbase, int b, int pb, int nv, int lane) {
        const int r = lane >> 2, v = lane & 3, co = cbase + r, j0 = 8 * v;
        const uint32_t C = sx.sp.C;
        const bool mine = co < p.k && j0 < nv;
        const int nvv = min(8, nv - j0);
        float o[8];
        uint32_t ca = 0, c = 0;
        if (mine) {
            float bias, sl;
            staged8(p, stg, r, j0, co, o, bias, sl);
            const float rr[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f}; // no residual in this form
            epi8_tc(p, o, bias, sl, rr);
            ca = (uint32_t)co / C;
            c = (uint32_t)co - ca * C;
            kseg::seg_eval<__half>(sx.sp, sx.fW, (uint32_t)b, ca, c, (uint32_t)(pb + j0), (uint32_t)nvv, o);
            if (ca == a) put(o, c, j0, nvv);
        }
        const int chi = min(cbase + 8, p.k);
        while ((int)((a + 1) * C) <= chi) { // anchor a is complete
            __syncwarp();
            flush(b, pb, nv, lane);
            __syncwarp();
            a++;
            if (mine && ca == a) put(o, c, j0, nvv);
        }
    }
};

// The warp's 32 pixels (columns warp*32.. of Xs; global pixels pb.., nv of them valid) times all
// output channels; every 8 channels x 32 pixels of accumulators go through the warp's staging buffer to
// epi (in increasing channel order).
template <int MG, class Epi>
__device__ __forceinline__ void tc_tile(const TcP &p, const __half *Xs, const __half *Ws, float *stg, int b,
                                        int pb, int nv, int warp, int lane, Epi &epi) {
    const int ws = p.cp + 8, KT = p.cp >> 4;
    const int g = lane >> 2, t = lane & 3;
    const unsigned xa = smem_u32(Xs + ((lane & 7) + ((lane >> 3) & 1) * 8) * TC_XS + warp * 32 + (lane >> 4) * 8);
    const unsigned wa = smem_u32(Ws + (lane & 15) * ws + (lane >> 4) * 8);
    for (int mt0 = 0; mt0 < p.mtg; mt0 += MG) {
        float acc[MG][4][4];
#pragma unroll
        for (int mi = 0; mi < MG; mi++)
#pragma unroll
            for (int nt = 0; nt < 4; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++) acc[mi][nt][i] = 0.f;
        for (int ks = 0; ks < KT; ks++) {
            unsigned bf[4][2];
            const unsigned xk = xa + (unsigned)(ks * 16 * TC_XS * 2);
            ldsm_x4_t(xk, bf[0][0], bf[0][1], bf[1][0], bf[1][1]);
            ldsm_x4_t(xk + 32, bf[2][0], bf[2][1], bf[3][0], bf[3][1]);
#pragma unroll
            for (int mi = 0; mi < MG; mi++) {
                unsigned a0, a1, a2, a3;
                ldsm_x4(wa + (unsigned)(((mt0 + mi) * 16 * ws + ks * 16) * 2), a0, a1, a2, a3);
#pragma unroll
                for (int nt = 0; nt < 4; nt++) mma16816(acc[mi][nt], a0, a1, a2, a3, bf[nt][0], bf[nt][1]);
            }
        }
#pragma unroll
        for (int mi = 0; mi < MG; mi++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int cbase = (mt0 + mi) * 16 + 8 * h;
                if (cbase >= p.k) break;
                __syncwarp();
#pragma unroll
                for (int nt = 0; nt < 4; nt++)
                    *(float2 *)(stg + g * TC_SS + nt * 8 + 2 * t) =
                        make_float2(acc[mi][nt][2 * h], acc[mi][nt][2 * h + 1]);
                __syncwarp();
                epi(stg, cbase, b, pb, nv, lane);
            }
    }
}

// ------------------------------------------------------------------ 1x1
__device__ __forceinline__ void pw_load(const TcP &p, __half *X, int tile, bool vec, int tid, int hw) {
    const int b = tile / p.tiles_per_img, p0 = (tile - b * p.tiles_per_img) * TC_P;
    const __half *xb = p.x + (int64_t)b * p.c * hw;
    if (vec) {
        const int nvec = p.c * (TC_P / 8);
        for (int e = tid; e < nvec; e += TC_THREADS) {
            const int ci = e >> 5, v = e & 31, px = p0 + 8 * v;
            const bool in = px < hw;
            cp_async16(smem_u32(X + ci * TC_XS + 8 * v), in ? (const void *)(xb + (int64_t)ci * hw + px) : (const void *)xb,
                       in ? 16 : 0);
        }
    } else {
        for (int e = tid; e < p.c * TC_P; e += TC_THREADS) {
            const int ci = e >> 8, j = e & (TC_P - 1), px = p0 + j;
            X[ci * TC_XS + j] = px < hw ? xb[(int64_t)ci * hw + px] : __float2half_rn(0.f);
        }
    }
}

struct NoSeg {};

// S = NoSeg: the plain 1x1 (EpiStore); S = SegX: with the segmap epilogue, whose per-warp buffers follow the
// staging buffers in shared memory (one block per SM: 157 KB for YOLOv5's 64 -> 255 head, so the register
// budget is not halved for a second block; with it, the epilogue's program spilled).
template <int MG, class S>
__global__ void __launch_bounds__(TC_THREADS, std::is_same<S, NoSeg>::value ? (MG >= 4 ? 2 : 3) : 1)
    pw_tc_k(TcP p, const __grid_constant__ S sx) {
    ks_pdl_wait();
    extern __shared__ float4 smem4[];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    __half *Ws = (__half *)smem4;
    __half *X0 = Ws + p.mtg * 16 * (p.cp + 8);
    __half *X1 = X0 + p.cp * TC_XS;
    float *stg = (float *)(X1 + p.cp * TC_XS) + warp * TC_STG;
    fill_w(p, Ws, tid);
    for (int e = tid; e < (p.cp - p.c) * TC_XS; e += TC_THREADS) {
        X0[p.c * TC_XS + e] = __float2half_rn(0.f);
        X1[p.c * TC_XS + e] = __float2half_rn(0.f);
    }
    const int hw = p.oh * p.ow;
    const bool vin = (hw & 7) == 0 && ((uintptr_t)p.x & 15) == 0;
    const bool vout = (hw & 7) == 0 && ((uintptr_t)p.y & 15) == 0 && ((uintptr_t)p.res & 15) == 0;
    int tile = blockIdx.x;
    if (tile < p.n_tiles) pw_load(p, X0, tile, vin, tid, hw);
    cp_async_commit();
    int buf = 0;
    for (; tile < p.n_tiles; tile += gridDim.x) {
        const int next = tile + gridDim.x;
        const __half *cur = buf ? X1 : X0;
        if (next < p.n_tiles) pw_load(p, buf ? X0 : X1, next, vin, tid, hw);
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        const int b = tile / p.tiles_per_img, p0 = (tile - b * p.tiles_per_img) * TC_P;
        const int pb = p0 + warp * 32, nv = min(32, hw - pb);
        if (nv > 0) {
            if constexpr (std::is_same<S, NoSeg>::value) {
                EpiStore epi{p, vout};
                tc_tile<MG>(p, cur, Ws, stg, b, pb, nv, warp, lane, epi);
            } else {
                __half *sb = (__half *)((float *)(X1 + p.cp * TC_XS) + 8 * TC_STG) + warp * 32 * sx.sp.C;
                EpiSeg epi{p, sx, sb, 0u};
                tc_tile<MG>(p, cur, Ws, stg, b, pb, nv, warp, lane, epi);
            }
        }
        __syncthreads();
        buf ^= 1;
    }
    cp_async_wait<0>();
}

// the layout above, as the engine-file rule computes it (ks__eng_pw_tc_smem: one formula for the kernel's launch
// and the loader's check)
static_assert(TC_P == 256 && TC_XS == 256 + 8 && TC_STG == 8 * 36, "ks__eng_pw_tc_smem assumes this layout");
size_t pw_smem(const TcP &p) { return (size_t)ks__eng_pw_tc_smem(p.c, p.k); }

// ------------------------------------------------------------------ dw + 1x1
struct DwLayout {
    size_t ws, xs, dw, win, total;
};

DwLayout dw_layout(const TcP &p) {
    DwLayout L;
    L.ws = (size_t)p.mtg * 16 * (p.cp + 8) * 2;
    L.xs = (size_t)p.cp * TC_XS * 2;
    L.dw = ((size_t)p.c * p.kh * p.kw * 4 + 15) / 16 * 16;
    size_t win = ((size_t)p.ch * p.wh * p.ww * 2 + 15) / 16 * 16, stg = (size_t)8 * TC_STG * 4;
    L.win = win > stg ? win : stg; // the staging buffers reuse the window
    L.total = L.ws + L.xs + L.dw + L.win;
    return L;
}

template <int MG, int KS>
__global__ void __launch_bounds__(TC_THREADS, MG >= 4 ? 2 : 3) dwpw_tc_k(TcP p, DwLayout L) {
    ks_pdl_wait();
    extern __shared__ float4 smem4[];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    char *base = (char *)smem4;
    __half *Ws = (__half *)base;
    __half *Xs = (__half *)(base + L.ws);
    float *dwf = (float *)(base + L.ws + L.xs);
    __half *win = (__half *)(base + L.ws + L.xs + L.dw);
    float *stg = (float *)win + warp * TC_STG;
    const int kh = KS ? KS : p.kh, kw = KS ? KS : p.kw, khw = kh * kw;
    fill_w(p, Ws, tid);
    for (int e = tid; e < (p.cp - p.c) * TC_XS; e += TC_THREADS) Xs[p.c * TC_XS + e] = __float2half_rn(0.f);
    for (int e = tid; e < p.c * khw; e += TC_THREADS) dwf[e] = __half2float(p.dww[e]);
    const int b = blockIdx.y;
    const int tyi = blockIdx.x / p.tiles_x, txi = blockIdx.x - tyi * p.tiles_x;
    const int oy0 = tyi * DW_TH, ox0 = txi * DW_TW;
    const int iy0 = oy0 * p.sh - p.pt, ix0 = ox0 * p.sw - p.pl;
    const int ihw = p.ih * p.iw, wplane = p.wh * p.ww;
    const __half *xb = p.x + (int64_t)b * p.c * ihw;
    for (int c0 = 0; c0 < p.c; c0 += p.ch) {
        const int nch = min(p.ch, p.c - c0), tot = nch * wplane;
        const __half *xc = xb + (int64_t)c0 * ihw;
        for (int e0 = tid; e0 < tot; e0 += 4 * TC_THREADS) {
            __half v[4];
#pragma unroll
            for (int u = 0; u < 4; u++) {
                const int e = e0 + u * TC_THREADS;
                v[u] = __float2half_rn(0.f);
                if (e < tot) {
                    const int q = (int)__umulhi((unsigned)e, p.ww_m), wx = e - q * p.ww;
                    const int ci = (int)__umulhi((unsigned)q, p.wh_m), wy = q - ci * p.wh;
                    const int iy = iy0 + wy, ix = ix0 + wx;
                    if ((unsigned)iy < (unsigned)p.ih && (unsigned)ix < (unsigned)p.iw)
                        v[u] = __ldg(xc + (int64_t)ci * ihw + iy * p.iw + ix);
                }
            }
#pragma unroll
            for (int u = 0; u < 4; u++)
                if (e0 + u * TC_THREADS < tot) win[e0 + u * TC_THREADS] = v[u];
        }
        __syncthreads();
        // depthwise output of pixel (row warp, column lane) for every channel of the chunk
        for (int ci = 0; ci < nch; ci++) {
            const __half *wc = win + ci * wplane + warp * p.sh * p.ww + lane * p.sw;
            const float *wt = dwf + (c0 + ci) * khw;
            float a = 0.f;
#pragma unroll
            for (int ky = 0; ky < (KS ? KS : 1); ky++)
                for (int kyr = 0; kyr < (KS ? 1 : kh); kyr++) {
                    const int kyy = KS ? ky : kyr;
#pragma unroll
                    for (int kx = 0; kx < (KS ? KS : 1); kx++)
                        for (int kxr = 0; kxr < (KS ? 1 : kw); kxr++) {
                            const int kxx = KS ? kx : kxr;
                            a = fmaf(__half2float(wc[kyy * p.dh * p.ww + kxx * p.dw]), wt[kyy * kw + kxx], a);
                        }
                }
            if (p.dwb) a += __half2float(__ldg(p.dwb + c0 + ci));
            if (p.dwact == KS_ACT_PRELU) a = a >= 0.f ? a : a * __ldg(p.dwprelu + c0 + ci);
            else a = ksconv::ks_act1(p.dwact, a, p.dwa, p.dwb2);
            Xs[(c0 + ci) * TC_XS + warp * 32 + lane] = __float2half_rn(a);
        }
        __syncthreads();
    }
    const int oy = oy0 + warp;
    const int nv = oy < p.oh ? min(DW_TW, p.ow - ox0) : 0;
    const bool vout = (p.ow & 7) == 0 && ((uintptr_t)p.y & 15) == 0 && ((uintptr_t)p.res & 15) == 0;
    if (nv > 0) {
        EpiStore epi{p, vout};
        tc_tile<MG>(p, Xs, Ws, stg, b, oy * p.ow + ox0, nv, warp, lane, epi);
    }
}

int mg_of(int k) {
    int mt = (k + 15) / 16;
    return mt <= 1 ? 1 : mt <= 2 ? 2 : 4;
}

void derive(TcP &p) {
    p.cp = (p.c + 15) / 16 * 16;
    int mg = mg_of(p.k), mt = (p.k + 15) / 16;
    p.mtg = (mt + mg - 1) / mg * mg;
}

unsigned magic(int d) { return (unsigned)(0xFFFFFFFFu / (unsigned)d) + 1u; }

void dw_derive(TcP &p) {
    derive(p);
    p.tiles_x = (p.ow + DW_TW - 1) / DW_TW;
    p.wh = (DW_TH - 1) * p.sh + (p.kh - 1) * p.dh + 1;
    p.ww = (DW_TW - 1) * p.sw + (p.kw - 1) * p.dw + 1;
    int per = p.wh * p.ww * 2;
    p.ch = DW_WIN_BYTES / per;
    if (p.ch < 1) p.ch = 1;
    if (p.ch > p.c) p.ch = p.c;
    p.ww_m = magic(p.ww);
    p.wh_m = magic(p.wh);
}

constexpr size_t TC_SMEM_MAX = 200 * 1024;


template <int MG, class S>
int launch_pw(TcP &p, const S &sx, size_t sm, cudaStream_t s) {
    static int attr = 0;
    if (sm > TC_SMEM_MAX) return (int)cudaErrorInvalidValue;
    if (int rc = smem_attr(pw_tc_k<MG, S>, TC_SMEM_MAX, attr)) return rc;
    int64_t grid = 0;
    if (int rc = persistent_grid(pw_tc_k<MG, S>, TC_THREADS, sm, p.n_tiles, &grid)) return rc;
    return ks_launch_smem(pw_tc_k<MG, S>, dim3((unsigned)grid), dim3(TC_THREADS), sm, s, p, sx);
}

template <class S>
int launch_pw_any(TcP &p, const S &sx, size_t sm, cudaStream_t s) {
    const int mg = mg_of(p.k);
    return mg == 1 ? launch_pw<1>(p, sx, sm, s) : mg == 2 ? launch_pw<2>(p, sx, sm, s) : launch_pw<4>(p, sx, sm, s);
}

template <int MG, int KS>
int launch_dwpw2(const TcP &p, const DwLayout &L, cudaStream_t s) {
    static int attr = 0;
    if (L.total > TC_SMEM_MAX) return (int)cudaErrorInvalidValue;
    if (int rc = smem_attr(dwpw_tc_k<MG, KS>, TC_SMEM_MAX, attr)) return rc;
    int tiles_y = (p.oh + DW_TH - 1) / DW_TH;
    dim3 grid((unsigned)(p.tiles_x * tiles_y), (unsigned)p.n);
    return ks_launch_smem(dwpw_tc_k<MG, KS>, grid, dim3(TC_THREADS), L.total, s, p, L);
}

template <int MG>
int launch_dwpw(const TcP &p, const DwLayout &L, cudaStream_t s) {
    if (p.kh == 3 && p.kw == 3) return launch_dwpw2<MG, 3>(p, L, s);
    if (p.kh == 5 && p.kw == 5) return launch_dwpw2<MG, 5>(p, L, s);
    return launch_dwpw2<MG, 0>(p, L, s);
}

bool chan_ok(int c, int k) { return c >= 1 && c <= 128 && k >= 1 && k <= 128; }

// the 1x1 conv's fields, which ks_conv_args and ks_dwpw_args name alike
template <class A>
void pw_fields(const A *a, TcP &p) {
    memset(&p, 0, sizeof p);
    p.x = (const __half *)a->x; p.w = (const __half *)a->w; p.bias = (const __half *)a->bias;
    p.res = (const __half *)a->res; p.prelu = a->prelu; p.y = (__half *)a->y;
    p.n = a->n; p.c = a->c; p.ih = a->ih; p.iw = a->iw; p.k = a->k; p.oh = a->oh; p.ow = a->ow;
    p.act = a->act; p.act_a = a->act_a; p.act_b = a->act_b; p.res_after_act = a->res_after_act;
}

void dw_from_args(const ks_dwpw_args *a, TcP &p) {
    pw_fields(a, p);
    p.dww = (const __half *)a->dw_w; p.dwb = (const __half *)a->dw_bias; p.dwprelu = a->dw_prelu;
    p.dwact = a->dw_act; p.dwa = a->dw_act_a; p.dwb2 = a->dw_act_b;
    p.kh = a->kh; p.kw = a->kw; p.sh = a->sh; p.sw = a->sw; p.pt = a->pt; p.pl = a->pl; p.dh = a->dh; p.dw = a->dw;
}
// the tensor-core 1x1's parameter block of a launcher's arguments
TcP pw_from_args(const ks_conv_args *a) {
    TcP p;
    pw_fields(a, p);
    derive(p);
    int hw = p.oh * p.ow;
    p.tiles_per_img = (hw + TC_P - 1) / TC_P;
    p.n_tiles = p.tiles_per_img * p.n;
    return p;
}
} // namespace

extern "C" int ks__cu_conv_pw_tc_fits(const ks_conv_args *a, int half) {
    if (!half || a->groups != 1 || a->kh != 1 || a->kw != 1 || a->sh != 1 || a->sw != 1 || a->pt != 0 ||
        a->pl != 0 || a->oh != a->ih || a->ow != a->iw || !ks__eng_pw_tc_ok(a->c, a->k) || a->n < 1 || a->oh < 1 ||
        a->ow < 1)
        return 0;
    int64_t hw = (int64_t)a->oh * a->ow, tiles = (hw + TC_P - 1) / TC_P * a->n;
    return hw <= 0x7fffffff - TC_P && tiles <= 0x7fffffff;
}

extern "C" int ks__cu_conv_pw_tc(const ks_conv_args *a, int half, void *stream) {
    if (!ks__cu_conv_pw_tc_fits(a, half)) return (int)cudaErrorInvalidValue;
    TcP p = pw_from_args(a);
    if (int rc = launch_pw_any(p, NoSeg{}, pw_smem(p), (cudaStream_t)stream)) return rc;
    KS_CU_RET();
}

extern "C" int ks__cu_conv_pw_seg_fits(const ks_conv_args *a, const ks_segmap_args *s) {
    return ks__cu_conv_pw_tc_fits(a, 1) && !a->res && s->C >= 1 && s->A >= 1 && s->A * s->C == a->k &&
           s->B == a->n && s->H == a->oh && s->W == a->ow && ks__eng_pw_seg_ok(a->c, a->k, s->C) &&
           kseg::seg_small(s);
}

extern "C" int ks__cu_conv_pw_seg(const ks_conv_args *a, const ks_segmap_args *s, void *stream) {
    if (!ks__cu_conv_pw_seg_fits(a, s)) return (int)cudaErrorInvalidValue;
    TcP p = pw_from_args(a);
    SegX sx;
    sx.sp = kseg::seg_params(s);
    sx.fW = ks_fdiv_make((uint32_t)s->W);
    if (int rc = launch_pw_any(p, sx, (size_t)ks__eng_pw_seg_smem(a->c, a->k, s->C), (cudaStream_t)stream)) return rc;
    KS_CU_RET();
}

extern "C" int ks__cu_conv_dwpw_tc_fits(const ks_dwpw_args *a, int half) {
    if (!half || !chan_ok(a->c, a->k) || a->n < 1 || a->n > 65535 || a->kh < 1 || a->kw < 1 || a->kh > 5 ||
        a->kw > 5 || a->sh < 1 || a->sw < 1 || a->sh > 2 || a->sw > 2 || a->dh < 1 || a->dw < 1 || a->dh > 2 ||
        a->dw > 2 || a->pt < 0 || a->pl < 0 || a->oh < 1 || a->ow < 1 || a->ih < 1 || a->iw < 1)
        return 0;
    int64_t tiles = (int64_t)((a->ow + DW_TW - 1) / DW_TW) * ((a->oh + DW_TH - 1) / DW_TH);
    if (tiles > 0x7fffffff || (int64_t)a->oh * a->ow > 0x7fffffff || (int64_t)a->ih * a->iw > 0x7fffffff)
        return 0;
    TcP p;
    dw_from_args(a, p);
    dw_derive(p);
    return dw_layout(p).total <= TC_SMEM_MAX;
}

extern "C" int ks__cu_conv_dwpw_tc(const ks_dwpw_args *a, int half, void *stream) {
    if (!ks__cu_conv_dwpw_tc_fits(a, half)) return (int)cudaErrorInvalidValue;
    TcP p;
    dw_from_args(a, p);
    dw_derive(p);
    DwLayout L = dw_layout(p);
    cudaStream_t s = (cudaStream_t)stream;
    int mg = mg_of(p.k);
    int rc = mg == 1 ? launch_dwpw<1>(p, L, s) : mg == 2 ? launch_dwpw<2>(p, L, s) : launch_dwpw<4>(p, L, s);
    if (rc) return rc;
    KS_CU_RET();
}
