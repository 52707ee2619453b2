// own:direct:3..8: tensor-core direct convolution with the input window staged in shared memory, FP16
// storage, FP32 accumulation, for the convolutions of large maps at batch throughput.
//
// Why: the implicit-GEMM tiles (conv_mma.cu) gather the im2col matrix one 2-byte element per thread and
// K index, with a bounds check and index arithmetic per element. At batch 32 that gather, not the tensor
// cores or the memory, sets their speed (YOLOv5n model.1, a 3x3 stride-2 conv 16 -> 32 at 320x320: 0.37 ms
// for 157 MB moved). Here a block owns a tile of 128 output pixels of one image (4 rows x 32 or 8 x 16)
// and 16, 32 or 64 output channels, and walks the input channels 16 at a time:
//  - the input window of the tile (every row and column any tap of the tile reads, from an 8-aligned
//    column) is copied into shared memory with 16-byte cp.async, rows and vectors outside the image
//    zero-filled by the copy itself; two stages, so chunk c + 1 is in flight while chunk c is multiplied;
//  - every tap (ky, kx) is one m16n8k16 step per n8 pixel run: the B fragment (16 channels x 8 pixels) is
//    read from the window at the tap's offset (dilation and stride are just offsets), the A fragment
//    (16 output channels x 16 channels of that tap) from the weights in global memory ([k][c][kh][kw],
//    the layout the engine stores; they stay in L1 and L2, every block reads the same);
//  - the window's channel planes are padded to 16 bytes past a multiple of 64, so the four channel pairs
//    a warp's B loads touch fall in different banks;
//  - the shared epilogue (bias, residual, activation), two neighbouring pixels per half2 store.
// Warps: WM along the output channels (16 each) x 4 / WM along the pixel rows. Configs (algo - 3):
// WM 1 / 2 / 4 (16 / 32 / 64 channels per block) x tile 4 x 32 / 8 x 16 pixels.
// Geometry (ks__cu_conv_win_fits): groups 1, stride 1 or 2 on both axes, kernel up to 7 x 7, any padding
// and dilation, iw a multiple of 8 (16-byte input rows), the two stages within 96 KB of shared memory.
#include "backends/cuda/conv_p.cuh"
#include "backends/cuda/epi_n.cuh"
#include "backends/cuda/conv_win.h"
#include "backends/cuda/mma.cuh"
#include "format/engine_format.h"

using namespace ksconv;

namespace {

constexpr int WIN_THREADS = 128, WIN_PIX = 128, WIN_CK = 16;

// the shared-memory window of one stage (computed on the host, passed to the kernel)
struct WinGeom {
    int wh;    // window rows
    int wcp;   // halves per window row: 8-aligned vectors covering the tile's columns
    int plb;   // bytes per channel plane (wh * wcp * 2, padded to 16 mod 64)
    int stage; // bytes per stage: WIN_CK planes
};

WinGeom win_geom(int tw, int s, int kh, int kw, int dh, int dw) {
    WinGeom g;
    const int th = WIN_PIX / tw;
    g.wh = (th - 1) * s + (kh - 1) * dh + 1;
    const int wcols = (tw - 1) * s + (kw - 1) * dw + 1;
    g.wcp = (wcols + 7 + 7) / 8 * 8; // the window starts up to 7 columns after its aligned start
    int plb = g.wh * g.wcp * 2;
    plb += (16 - plb % 64 + 64) % 64;
    g.plb = plb;
    g.stage = WIN_CK * plb;
    return g;
}

__device__ __forceinline__ unsigned pack_h2(__half lo, __half hi) {
    __half2 h = __halves2half2(lo, hi);
    unsigned u;
    memcpy(&u, &h, 4);
    return u;
}

template <int WM, int TW, int S>
__global__ void __launch_bounds__(WIN_THREADS) conv_win_k(ConvP p, WinGeom G, int tiles_x, int tiles_y) {
    ks_pdl_wait();
    constexpr int TH = WIN_PIX / TW, WN = 4 / WM, RPW = TH / WN; // pixel rows per warp
    constexpr int NX = TW / 8, FN = RPW * NX;                    // n8 runs per row, per warp
    extern __shared__ __align__(16) unsigned char smem[];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp % WM, wn = warp / WM;
    const int g = lane >> 2, t = lane & 3;
    int tile = blockIdx.x;
    const int b = tile / (tiles_x * tiles_y);
    tile -= b * tiles_x * tiles_y;
    const int oy0 = tile / tiles_x * TH, ox0 = tile % tiles_x * TW;
    const int iy0 = oy0 * S - p.pt, ix0 = ox0 * S - p.pl;
    const int gx0 = ix0 >= 0 ? ix0 & ~7 : -((-ix0 + 7) & ~7); // aligned start of the window columns
    const int nv = G.wcp / 8, HW = p.ih * p.iw, taps = p.kh * p.kw;
    const int m0 = blockIdx.y * 16 * WM + wm * 16; // this warp's first output channel
    const __half *xb = (const __half *)p.x + (size_t)b * p.c * HW;
    const __half *w = (const __half *)p.w;
    const int nchunks = (p.c + WIN_CK - 1) / WIN_CK;

    auto stage = [&](int chunk, int buf) {
        unsigned char *base = smem + buf * G.stage;
        const int c0 = chunk * WIN_CK, total = WIN_CK * G.wh * nv;
        for (int i = tid; i < total; i += WIN_THREADS) {
            const int v = i % nv, rc = i / nv, row = rc % G.wh, ch = rc / G.wh;
            const int iy = iy0 + row, gx = gx0 + v * 8, c = c0 + ch;
            // iw % 8 == 0: a vector is wholly inside the row or wholly outside
            const bool ok = c < p.c && (unsigned)iy < (unsigned)p.ih && gx >= 0 && gx < p.iw;
            const __half *src = ok ? xb + (size_t)c * HW + iy * p.iw + gx : xb;
            cp_async16(smem_u32(base + ch * G.plb + row * G.wcp * 2 + v * 16), src, ok ? 16 : 0);
        }
        cp_async_commit();
    };

    float acc[FN][4];
#pragma unroll
    for (int j = 0; j < FN; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
    const int PL = G.plb / 2; // halves per channel plane
    const int col0 = ix0 - gx0 + g * S;
    const __half zero = __float2half_rn(0.f);
    // weight rows of this lane's two output channels (A fragment rows g and g + 8)
    const bool mok0 = m0 + g < p.k, mok1 = m0 + g + 8 < p.k;
    const __half *w0 = w + (size_t)(mok0 ? m0 + g : 0) * p.c * taps, *w1 = w + (size_t)(mok1 ? m0 + g + 8 : 0) * p.c * taps;

    stage(0, 0);
    for (int ck = 0; ck < nchunks; ck++) {
        const int buf = ck & 1;
        if (ck + 1 < nchunks) {
            stage(ck + 1, buf ^ 1);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const __half *xs = (const __half *)(smem + buf * G.stage);
        const int c0 = ck * WIN_CK;
        // this lane's four channels of the chunk: 2t, 2t + 1, 2t + 8, 2t + 9
        const int ca = c0 + 2 * t;
        const bool cok[4] = {ca < p.c, ca + 1 < p.c, ca + 8 < p.c, ca + 9 < p.c};
        for (int ky = 0; ky < p.kh; ky++) {
            for (int kx = 0; kx < p.kw; kx++) {
                const int tap = ky * p.kw + kx;
                const int o0 = ca * taps + tap;
                unsigned a0, a1, a2, a3;
                {
                    __half e[8];
                    e[0] = mok0 && cok[0] ? __ldg(w0 + o0) : zero;
                    e[1] = mok0 && cok[1] ? __ldg(w0 + o0 + taps) : zero;
                    e[2] = mok1 && cok[0] ? __ldg(w1 + o0) : zero;
                    e[3] = mok1 && cok[1] ? __ldg(w1 + o0 + taps) : zero;
                    e[4] = mok0 && cok[2] ? __ldg(w0 + o0 + 8 * taps) : zero;
                    e[5] = mok0 && cok[3] ? __ldg(w0 + o0 + 9 * taps) : zero;
                    e[6] = mok1 && cok[2] ? __ldg(w1 + o0 + 8 * taps) : zero;
                    e[7] = mok1 && cok[3] ? __ldg(w1 + o0 + 9 * taps) : zero;
                    a0 = pack_h2(e[0], e[1]);
                    a1 = pack_h2(e[2], e[3]);
                    a2 = pack_h2(e[4], e[5]);
                    a3 = pack_h2(e[6], e[7]);
                }
                // B: channel 2t (+1, +8, +9) of pixel g of each n8 run, at the tap's window offset
                const __half *q = xs + 2 * t * PL + (wn * RPW * S + ky * p.dh) * G.wcp + col0 + kx * p.dw;
#pragma unroll
                for (int j = 0; j < FN; j++) {
                    const __half *qj = q + (j / NX) * S * G.wcp + (j % NX) * 8 * S;
                    const unsigned b0 = pack_h2(qj[0], qj[PL]), b1 = pack_h2(qj[8 * PL], qj[9 * PL]);
                    mma16816(acc[j], a0, a1, a2, a3, b0, b1);
                }
            }
        }
        __syncthreads(); // the next iteration's copy overwrites this buffer
    }

    // epilogue: acc[j][2h + e] is output channel m0 + g + 8h, pixel 2t + e of run j; the 2 * NX values of a
    // channel in one pixel row go through one epi_n (one activation decision, epi_n.cuh)
    __half *y = (__half *)p.y;
    const int ohw = p.oh * p.ow;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int co = m0 + g + 8 * h;
        if (co >= p.k) continue;
#pragma unroll
        for (int r = 0; r < RPW; r++) {
            const int oy = oy0 + wn * RPW + r;
            if (oy >= p.oh) continue;
            float v[2 * NX];
            int yi[2 * NX];
#pragma unroll
            for (int q = 0; q < NX; q++) {
                const int ox = ox0 + q * 8 + 2 * t, base = (b * p.k + co) * ohw + oy * p.ow + ox;
                v[2 * q] = acc[r * NX + q][2 * h];
                v[2 * q + 1] = acc[r * NX + q][2 * h + 1];
                yi[2 * q] = ox < p.ow ? base : -1;
                yi[2 * q + 1] = ox + 1 < p.ow ? base + 1 : -1;
            }
            epi_n<__half, 2 * NX>(p, v, co, yi);
#pragma unroll
            for (int q = 0; q < NX; q++) {
                const int i0 = yi[2 * q];
                if (i0 < 0) continue;
                if (yi[2 * q + 1] >= 0) {
                    if (((uintptr_t)(y + i0) & 3) == 0) {
                        *(__half2 *)(y + i0) = __floats2half2_rn(v[2 * q], v[2 * q + 1]);
                    } else {
                        y[i0] = __float2half_rn(v[2 * q]);
                        y[i0 + 1] = __float2half_rn(v[2 * q + 1]);
                    }
                } else {
                    y[i0] = __float2half_rn(v[2 * q]);
                }
            }
        }
    }
}

constexpr int WIN_MAX_SMEM = 96 * 1024;

// the geometry rule the engine-file loader checks too, then the configuration, the 32-bit indices and the
// shared memory (float16 only: the tactic timing offers it to float16 layers only)
bool win_ok(const ks_conv_args *a, WinGeom *gout, int cfg) {
    if (cfg < 0 || cfg > 5 || !ks__eng_conv_win_ok(a->groups, a->kh, a->kw, a->sh, a->sw, a->dh, a->dw, a->iw, 1) ||
        (int64_t)a->n * a->c * a->ih * a->iw >= ((int64_t)1 << 31) ||
        (int64_t)a->n * a->k * a->oh * a->ow >= ((int64_t)1 << 31))
        return false;
    const int tw = cfg % 2 ? 16 : 32;
    WinGeom g = win_geom(tw, a->sh, a->kh, a->kw, a->dh, a->dw);
    if (2 * g.stage > WIN_MAX_SMEM)
        return false;
    if (gout)
        *gout = g;
    return true;
}

template <int WM, int TW, int S>
int win_launch(const ConvP &p, const WinGeom &G, cudaStream_t s) {
    constexpr int TH = WIN_PIX / TW;
    const int tiles_x = (p.ow + TW - 1) / TW, tiles_y = (p.oh + TH - 1) / TH;
    const size_t smem = 2 * (size_t)G.stage;
    static int attr = 0;
    if (smem > 48 * 1024)
        if (int rc = smem_attr(conv_win_k<WM, TW, S>, WIN_MAX_SMEM, attr)) return rc;
    const int64_t tiles = (int64_t)p.n * tiles_x * tiles_y;
    if (tiles > INT32_MAX)
        return (int)cudaErrorInvalidValue;
    dim3 grid((unsigned)tiles, (unsigned)((p.k + 16 * WM - 1) / (16 * WM)));
    return ks_launch_smem(conv_win_k<WM, TW, S>, grid, dim3(WIN_THREADS), smem, s, p, G, tiles_x, tiles_y);
}

template <int WM>
int win_dispatch(const ConvP &p, const WinGeom &G, int tw, cudaStream_t s) {
    if (tw == 32) return p.sh == 1 ? win_launch<WM, 32, 1>(p, G, s) : win_launch<WM, 32, 2>(p, G, s);
    return p.sh == 1 ? win_launch<WM, 16, 1>(p, G, s) : win_launch<WM, 16, 2>(p, G, s);
}

} // namespace

extern "C" int ks__cu_conv_win_fits(const ks_conv_args *a, int cfg) { return win_ok(a, NULL, cfg); }

extern "C" int ks__cu_conv_win(const ks_conv_args *a, int cfg, void *stream) {
    WinGeom G;
    if (!win_ok(a, &G, cfg))
        return (int)cudaErrorInvalidValue;
    ConvP p = conv_p(a);
    cudaStream_t s = (cudaStream_t)stream;
    if ((uintptr_t)a->x & 15) { // a caller's binding may be unaligned: the general tensor-core tile then
        if (!ks__conv_mma_launch(p, 11, s, false))
            return (int)cudaErrorInvalidValue;
        KS_CU_RET();
    }
    const int tw = cfg % 2 ? 16 : 32;
    int e;
    switch (cfg / 2) {
    case 0: e = win_dispatch<1>(p, G, tw, s); break;
    case 1: e = win_dispatch<2>(p, G, tw, s); break;
    default: e = win_dispatch<4>(p, G, tw, s); break;
    }
    if (e != cudaSuccess)
        return e;
    KS_CU_RET();
}
