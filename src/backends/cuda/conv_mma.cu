// own:igemm tiles 10..15: tensor-core implicit-GEMM convolution, FP16 storage with FP32
// accumulation, for the convolutions in the middle of the networks (any kernel size, stride,
// padding, dilation and groups; split-K through the partial-sum buffer of conv.cu).
//
// GEMM view (NCHW): M = output channels of a group, N = output pixels (n * oh * ow), K = (c / groups)
// * kh * kw. A block computes a BM x BN tile with 4 warps and mma.sync m16n8k16:
//  - A (weights, [M][K] rows) and B (the im2col gather of the input) are staged in shared memory
//    as [rows][BK] with k contiguous, so both fragments come from plain ldmatrix (A: 16 x 16 per x4,
//    B: two n8 x k16 fragments per x4). Row strides are odd multiples of 16 bytes: the 8 row
//    addresses of an ldmatrix phase and the 16-byte stores of 8 consecutive rows hit 8 different
//    bank groups.
//  - Two shared buffers, one barrier per K step: the global loads of step s + 1 go to registers
//    before the tensor-core work of step s and to the other buffer after it, so their latency is
//    spent under the multiply (the conv.cu WMMA kernel loads, waits, then multiplies).
//  - B: each thread owns one output pixel (column) and a run of KPT consecutive k of every step.
//    Its pixel's input origin is computed once; the (channel, ky, kx) of its run is carried from
//    one element to the next by increments (no division per element). 1x1 convs without padding
//    (PW) skip the tap arithmetic and the bounds checks. Warps read 32 consecutive pixels of one
//    input plane per load.
//  - A: 16-byte loads when every weight row is 16-byte aligned (K % 8 == 0), else element loads.
//  - Epilogue straight from the accumulator fragments: bias, residual, activation (conv.cu's epi),
//    two neighbouring pixels of one channel per half2 store.
//  - Cluster split-K (CL, sm_90): the ksplit blocks of one tile's K ranges are one thread-block cluster
//    (cluster dims 1 x 1 x ksplit). Each leaves its FP32 partial tile in its own shared memory (where the
//    operand buffers were); after a cluster barrier, block r sums rows [r * BM / ksplit, ...) of every
//    block's tile through distributed shared memory, in rank order, and applies the epilogue to them. A
//    second barrier keeps every block's shared memory alive until the others have read it. Against the
//    global split-K of conv.cu: no partial-sum scratch and no second kernel.
#include <cooperative_groups.h>
#include "backends/cuda/conv_p.cuh"
#include "backends/cuda/epi_n.cuh"
#include "backends/cuda/mma.cuh"

using namespace ksconv;

namespace {

constexpr int MMA_THREADS = 128;

template <int BM, int BN, int BK, int WGM, int WGN, bool PW, bool CL>
__global__ void __launch_bounds__(MMA_THREADS) conv_mma_k(ConvP p) {
    ks_pdl_wait();
    constexpr int WTM = BM / WGM, WTN = BN / WGN; // warp tile
    constexpr int FM = WTM / 16, FN = WTN / 8;    // m16 x n8 fragments per warp
    static_assert(WGM * WGN * 32 == MMA_THREADS && FM >= 1 && FN % 2 == 0, "tile");
    constexpr int LD = BK + 8;                 // shared row stride in halves
    constexpr int KPT = BK * BN / MMA_THREADS; // B elements per thread and step
    static_assert(KPT % 8 == 0 && KPT <= BK && MMA_THREADS % BN == 0, "B mapping");
    constexpr int ACH = BM * BK / 8;           // 16-byte A chunks per step
    constexpr int APT = (ACH + MMA_THREADS - 1) / MMA_THREADS;
    // the operand double buffers; with CL, the partial tile [BM][RS] floats afterwards
    constexpr int RS = BN + 8; // padded: the fragment stores of 8 rows spread over the banks
    constexpr int AB_BYTES = 2 * (BM + BN) * LD * 2, RED_BYTES = CL ? BM * RS * 4 : 0;
    __shared__ __align__(16) unsigned char smem[AB_BYTES > RED_BYTES ? AB_BYTES : RED_BYTES];
    __half(*As)[BM][LD] = reinterpret_cast<__half(*)[BM][LD]>(smem);
    __half(*Bs)[BN][LD] = reinterpret_cast<__half(*)[BN][LD]>(smem + 2 * BM * LD * 2);

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / WGN, wn = warp % WGN;
    const int cg = p.c / p.groups, kg = p.k / p.groups;
    // the splits of one tile are consecutive in z with CL (one cluster), groups apart without
    const int g = CL ? blockIdx.z / p.ksplit : blockIdx.z % p.groups;
    const int sidx = CL ? blockIdx.z % p.ksplit : blockIdx.z / p.groups;
    const int m0 = blockIdx.y * BM;
    // 32-bit index math (the host checks n * k * oh * ow and n * c * ih * iw < 2^31)
    const int ohw = p.oh * p.ow, npix = p.n * ohw;
    const int n0 = blockIdx.x * BN;
    const int khw = p.kh * p.kw, K = cg * khw;
    int kb = 0, ke = K;
    if (CL || p.part) split_range(K, p.ksplit, sidx, BK, kb, ke);
    const int HW = p.ih * p.iw;
    const __half *w = (const __half *)p.w + (int64_t)g * kg * K;

    // B: this thread's pixel (column bn of the tile) and k run [bk, bk + KPT) of every step
    const int bn = tid % BN, bk = (tid / BN) * KPT;
    int ih0 = -(1 << 29), iw0 = -(1 << 29);
    const __half *xb = (const __half *)p.x;
    bool pix_ok = false;
    {
        int pix = n0 + bn;
        if (pix < npix) {
            int b = pix / ohw;
            int r = pix - b * ohw;
            int oy = r / p.ow, ox = r - oy * p.ow;
            ih0 = oy * p.sh - p.pt;
            iw0 = ox * p.sw - p.pl;
            xb += (b * p.c + g * cg) * HW + ih0 * p.iw + iw0;
            pix_ok = true;
        }
    }
    const int step_y = p.dh * p.iw - p.kw * p.dw, step_c = HW - p.kh * p.dh * p.iw;

    __half breg[KPT];
    uint4 areg[APT];
    auto load = [&](int k0) {
#pragma unroll
        for (int i = 0; i < APT; i++) {
            int ch = tid + i * MMA_THREADS;
            if (ACH % MMA_THREADS == 0 || ch < ACH) {
                int m = ch / (BK / 8), kq = (ch % (BK / 8)) * 8;
                int mm = m0 + m, kidx = k0 + kq;
                if (p.avec && mm < kg && kidx + 8 <= ke) {
                    areg[i] = __ldg((const uint4 *)(w + (int64_t)mm * K + kidx));
                } else {
                    __align__(16) __half h[8];
#pragma unroll
                    for (int e = 0; e < 8; e++)
                        h[e] = mm < kg && kidx + e < ke ? __ldg(w + (int64_t)mm * K + kidx + e) : __float2half_rn(0.f);
                    areg[i] = *(const uint4 *)h;
                }
            }
        }
        int kidx = k0 + bk;
        if (PW) {
            const __half *src = xb + kidx * HW;
#pragma unroll
            for (int j = 0; j < KPT; j++)
                breg[j] = pix_ok && kidx + j < ke ? __ldg(src + j * HW) : __float2half_rn(0.f);
        } else {
            int ci = kidx / khw, r = kidx - ci * khw;
            int ky = r / p.kw, kx = r - ky * p.kw;
            int off = ci * HW + ky * p.dh * p.iw + kx * p.dw;
            int iy = ih0 + ky * p.dh, ix = iw0 + kx * p.dw;
#pragma unroll
            for (int j = 0; j < KPT; j++) {
                bool ok = kidx + j < ke && (unsigned)iy < (unsigned)p.ih && (unsigned)ix < (unsigned)p.iw;
                breg[j] = ok ? __ldg(xb + off) : __float2half_rn(0.f);
                off += p.dw;
                ix += p.dw;
                if (++kx == p.kw) {
                    kx = 0;
                    ix = iw0;
                    iy += p.dh;
                    off += step_y;
                    if (++ky == p.kh) {
                        ky = 0;
                        iy = ih0;
                        off += step_c;
                    }
                }
            }
        }
    };
    auto store = [&](int buf) {
#pragma unroll
        for (int i = 0; i < APT; i++) {
            int ch = tid + i * MMA_THREADS;
            if (ACH % MMA_THREADS == 0 || ch < ACH)
                *(uint4 *)&As[buf][ch / (BK / 8)][(ch % (BK / 8)) * 8] = areg[i];
        }
#pragma unroll
        for (int q = 0; q < KPT / 8; q++) {
            __align__(16) __half h[8];
#pragma unroll
            for (int e = 0; e < 8; e++) h[e] = breg[q * 8 + e];
            *(uint4 *)&Bs[buf][bn][bk + q * 8] = *(const uint4 *)h;
        }
    };

    float acc[FM][FN][4] = {};

    int buf = 0;
    if (kb < ke) {
        load(kb);
        store(0);
    }
    __syncthreads();
    for (int k0 = kb; k0 < ke; k0 += BK) {
        const bool more = k0 + BK < ke;
        if (more) load(k0 + BK);
#pragma unroll
        for (int ks = 0; ks < BK; ks += 16) {
            unsigned a[FM][4], b[FN][2];
#pragma unroll
            for (int i = 0; i < FM; i++)
                ldsm_x4(smem_u32(&As[buf][wm * WTM + i * 16 + (lane & 15)][ks + (lane >> 4) * 8]), a[i][0], a[i][1],
                        a[i][2], a[i][3]);
#pragma unroll
            for (int j = 0; j < FN; j += 2)
                ldsm_x4(smem_u32(&Bs[buf][wn * WTN + j * 8 + (lane & 7) + (lane >> 4) * 8][ks + ((lane >> 3) & 1) * 8]),
                        b[j][0], b[j][1], b[j + 1][0], b[j + 1][1]);
#pragma unroll
            for (int i = 0; i < FM; i++)
#pragma unroll
                for (int j = 0; j < FN; j++) mma16816(acc[i][j], a[i][0], a[i][1], a[i][2], a[i][3], b[j][0], b[j][1]);
        }
        if (more) store(buf ^ 1);
        __syncthreads();
        buf ^= 1;
    }

    // epilogue: fragment element (i, j, 2h + e) is output channel row g + 8h of m16 tile i, pixel 2t + e
    // of n8 tile j
    __half *y = (__half *)p.y;
    if constexpr (CL) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
        // the loop's last barrier has passed: the operand buffers are free for the partial tile
        float *red = reinterpret_cast<float *>(smem);
#pragma unroll
        for (int i = 0; i < FM; i++)
#pragma unroll
            for (int h = 0; h < 2; h++)
#pragma unroll
                for (int j = 0; j < FN; j++)
                    *(float2 *)&red[(wm * WTM + i * 16 + (lane >> 2) + 8 * h) * RS + wn * WTN + j * 8 + 2 * (lane & 3)] =
                        make_float2(acc[i][j][2 * h], acc[i][j][2 * h + 1]);
        namespace cg = cooperative_groups;
        cg::cluster_group cl = cg::this_cluster();
        cl.sync();
        // block r: rows [r * rows, (r + 1) * rows) of the tile, consecutive threads on consecutive pixels
        const int rows = BM / p.ksplit, r0 = (int)cl.block_rank() * rows;
        for (int e = tid; e < rows * BN; e += MMA_THREADS) {
            const int m = r0 + e / BN, n = e % BN;
            float v = 0.f;
            for (int q = 0; q < p.ksplit; q++) v += cl.map_shared_rank(red, q)[m * RS + n];
            const int mm = m0 + m, px = n0 + n;
            if (mm < kg && px < npix) {
                const int co = g * kg + mm, b = px / ohw, yi = (b * p.k + co) * ohw + (px - b * ohw);
                y[yi] = __float2half_rn(epi<__half>(p, v, co, yi));
            }
        }
        cl.sync(); // the other blocks may still read this block's partial tile
#endif
        return;
    }
    const int ptotal = npix * p.k;
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int m = m0 + wm * WTM + i * 16 + (lane >> 2) + 8 * h;
            if (m >= kg) continue;
            const int co = g * kg + m;
            // the 2 * FN values of channel co: pixel pair j at yi[2j] and the second pixel's index yi[2j + 1]
            // (the next index of the same image, or index 0 of the next image); -1 = past the pixels
            float v[2 * FN];
            int yi[2 * FN];
            bool pair[FN];
#pragma unroll
            for (int j = 0; j < FN; j++) {
                const int px = n0 + wn * WTN + j * 8 + 2 * (lane & 3);
                const int b = px / ohw, r = px - b * ohw;
                const bool has0 = px < npix, has1 = px + 1 < npix;
                pair[j] = has1 && r + 1 < ohw;
                v[2 * j] = acc[i][j][2 * h];
                v[2 * j + 1] = acc[i][j][2 * h + 1];
                yi[2 * j] = has0 ? (b * p.k + co) * ohw + r : -1;
                yi[2 * j + 1] = has1 ? (r + 1 < ohw ? yi[2 * j] + 1 : ((b + 1) * p.k + co) * ohw) : -1;
            }
            if (p.part) {
                float *part = p.part + (int64_t)sidx * ptotal;
#pragma unroll
                for (int j = 0; j < FN; j++) {
                    const int y0 = yi[2 * j], y1 = yi[2 * j + 1];
                    if (y0 < 0) continue;
                    if (pair[j] && ((uintptr_t)(part + y0) & 7) == 0) {
                        *(float2 *)(part + y0) = make_float2(v[2 * j], v[2 * j + 1]);
                    } else {
                        part[y0] = v[2 * j];
                        if (y1 >= 0) part[y1] = v[2 * j + 1];
                    }
                }
                continue;
            }
            epi_n<__half, 2 * FN>(p, v, co, yi); // one activation decision for the channel's values
#pragma unroll
            for (int j = 0; j < FN; j++) {
                const int y0 = yi[2 * j], y1 = yi[2 * j + 1];
                if (y0 < 0) continue;
                if (pair[j] && ((uintptr_t)(y + y0) & 3) == 0) {
                    *(__half2 *)(y + y0) = __floats2half2_rn(v[2 * j], v[2 * j + 1]);
                } else {
                    y[y0] = __float2half_rn(v[2 * j]);
                    if (y1 >= 0) y[y1] = __float2half_rn(v[2 * j + 1]);
                }
            }
        }
}

template <int BM, int BN, int BK, int WGM, int WGN>
void launch(const ConvP &p, bool pw, cudaStream_t s) {
    int64_t npix = (int64_t)p.n * p.oh * p.ow;
    int kg = p.k / p.groups;
    dim3 grid((unsigned)((npix + BN - 1) / BN), (unsigned)((kg + BM - 1) / BM),
              (unsigned)(p.groups * (p.part ? p.ksplit : 1)));
    if (pw) ks_launch(conv_mma_k<BM, BN, BK, WGM, WGN, true, false>, grid, dim3(MMA_THREADS), s, p);
    else ks_launch(conv_mma_k<BM, BN, BK, WGM, WGN, false, false>, grid, dim3(MMA_THREADS), s, p);
}

// cluster split-K: grid z = groups * ksplit, clusters of 1 x 1 x ksplit blocks (one tile's K ranges)
template <int BM, int BN, int BK, int WGM, int WGN>
int launch_cluster(const ConvP &p, bool pw, cudaStream_t s) {
    int64_t npix = (int64_t)p.n * p.oh * p.ow;
    int kg = p.k / p.groups;
    dim3 grid((unsigned)((npix + BN - 1) / BN), (unsigned)((kg + BM - 1) / BM), (unsigned)(p.groups * p.ksplit));
    const unsigned cz = (unsigned)p.ksplit;
    if (pw) return ks_launch_ex(conv_mma_k<BM, BN, BK, WGM, WGN, true, true>, grid, dim3(MMA_THREADS), 0, cz, s, p);
    return ks_launch_ex(conv_mma_k<BM, BN, BK, WGM, WGN, false, true>, grid, dim3(MMA_THREADS), 0, cz, s, p);
}

} // namespace

bool ks__conv_mma_launch(const ConvP &p0, int tile, cudaStream_t s, bool cluster) {
    if (tile < 10 || tile > 15) return false;
    ConvP p = p0;
    // 32-bit index math in the kernel
    if ((int64_t)p.n * p.c * p.ih * p.iw >= ((int64_t)1 << 31) || (int64_t)p.n * p.k * p.oh * p.ow >= ((int64_t)1 << 31))
        return false;
    const int K = p.c / p.groups * p.kh * p.kw;
    p.avec = K % 8 == 0 && ((uintptr_t)p.w & 15) == 0;
    const bool pw = p.kh == 1 && p.kw == 1 && p.pt == 0 && p.pl == 0;
    if (cluster) {
        // tiles 10 and 13, 2 / 4 / 8 splits (portable cluster sizes; BM divisible by the split)
        if (p.part || (p.ksplit != 2 && p.ksplit != 4 && p.ksplit != 8) || (tile != 10 && tile != 13)) return false;
        int e = tile == 10 ? launch_cluster<64, 64, 32, 2, 2>(p, pw, s) : launch_cluster<32, 32, 64, 2, 2>(p, pw, s);
        return e == (int)cudaSuccess;
    }
    switch (tile) {
    case 10: launch<64, 64, 32, 2, 2>(p, pw, s); break;
    case 11: launch<32, 64, 32, 2, 2>(p, pw, s); break;
    case 12: launch<128, 64, 32, 2, 2>(p, pw, s); break;
    case 13: launch<32, 32, 64, 2, 2>(p, pw, s); break;
    case 14: launch<64, 128, 32, 2, 2>(p, pw, s); break;
    default: launch<16, 64, 64, 1, 4>(p, pw, s); break;
    }
    return true;
}
