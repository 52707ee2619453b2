// Depthwise convolution, rolling rows (own:depthwise:4), for the large maps of batch throughput.
//
// Why: the strip-tiled kernel (conv.cu, cfg 3) stages its window in shared memory with scalar, index-heavy
// stores and ran at about a quarter of the memory bandwidth at batch 32 (RFB-640 Conv_3: 155 us for 157 MB
// moved; the depthwise layers were 41 % of that network's time). This one has no shared memory and no
// barrier: one thread makes OV neighbouring outputs of one row (8 in float16, one 16-byte store) and walks
// down a segment of rows. It keeps the KS input rows of its window in registers, so each input row is loaded
// once per thread as 16-byte vectors (the middle of the window, aligned) plus the few columns left and right
// of it (scalar loads, which hit the lines the neighbouring threads load), and after each output row it
// loads only the S rows that the next one adds, issued before the FMAs of the current row so the loads are
// in flight while it computes. A warp covers 32 neighbouring column groups of one row: coalesced loads and
// stores.
//
// Geometry: KS x KS kernel (3, 5), stride S (1, 2) on both axes, no dilation, left pad KS / 2 (any top
// pad), ow a multiple of OV, ow * S <= iw, rows 16-byte (or 8-byte) aligned: ks__cu_conv_dw_roll_fits.
// Math in float32, one fmaf per tap in (ky, kx) order, then the shared epilogue.
#include <type_traits>
#include "backends/cuda/conv_p.cuh"
#include "backends/cuda/epi_n.cuh"
#include "backends/cuda/kernels.h"
#include "format/engine_format.h"

using namespace ksconv;

namespace {

constexpr int ROLL_THREADS = 128;

// Output columns per thread (8 or 4; 0 = not fit): the geometry rule the engine-file loader checks too
int roll_ov(const ks_conv_args *a, int half) {
    return ks__eng_dw_roll_ov(a->c, a->k, a->groups, a->kh, a->kw, a->sh, a->sw, a->dh, a->dw, a->pt, a->pl, a->iw,
                              a->ow, half);
}

template <typename T, int KS, int S, int OV>
struct Roll {
    static constexpr int PL = KS / 2;                         // window columns left of the aligned middle
    static constexpr int MV = OV * S;                         // the aligned middle
    static constexpr int NW = (OV - 1) * S + KS;              // window columns the outputs use
    static constexpr int NR = NW - PL - MV > 0 ? NW - PL - MV : 0;  // columns right of the middle
    static constexpr int WN = PL + MV + NR;                   // window columns kept (>= NW)
    static constexpr int UB = MV * (int)sizeof(T) % 16 == 0 ? 16 : 8;
    typedef typename std::conditional<UB == 16, uint4, uint2>::type U;
    static constexpr int NU = MV * (int)sizeof(T) / UB;
    // one input row of the window as loaded (raw storage, converted later so the load stays in flight)
    struct Raw {
        U m[NU];
        T l[PL > 0 ? PL : 1];
        T r[NR > 0 ? NR : 1];
    };

    static __device__ __forceinline__ void load(const ConvP &p, const T *x, int iy, int cx, Raw &raw) {
        const bool row = (unsigned)iy < (unsigned)p.ih;
        const T *xr = x + (size_t)(row ? iy : 0) * p.iw;
#pragma unroll
        for (int u = 0; u < NU; u++) {
            if (row) raw.m[u] = __ldg((const U *)(xr + cx) + u);
            else raw.m[u] = U();
        }
        const T zero = T(0.f);
#pragma unroll
        for (int i = 0; i < PL; i++) {
            const int ix = cx - PL + i;
            raw.l[i] = row && ix >= 0 ? __ldg(xr + ix) : zero;
        }
#pragma unroll
        for (int i = 0; i < NR; i++) {
            const int ix = cx + MV + i;
            raw.r[i] = row && ix < p.iw ? __ldg(xr + ix) : zero;
        }
    }

    static __device__ __forceinline__ void cvt(const Raw &raw, float *win) {
#pragma unroll
        for (int i = 0; i < PL; i++) win[i] = (float)raw.l[i];
        const T *m = (const T *)raw.m;
#pragma unroll
        for (int i = 0; i < MV; i++) win[PL + i] = (float)m[i];
#pragma unroll
        for (int i = 0; i < NR; i++) win[PL + MV + i] = (float)raw.r[i];
    }
};

template <typename T, int KS, int S, int OV>
__global__ void __launch_bounds__(ROLL_THREADS) conv_dw_roll_k(ConvP p, int nvx, int segs, int rows_per) {
    typedef Roll<T, KS, S, OV> R;
    ks_pdl_wait();
    const int64_t tid = (int64_t)blockIdx.x * ROLL_THREADS + threadIdx.x;
    if (tid >= (int64_t)nvx * segs * p.n * p.c)
        return;
    const int vx = (int)(tid % nvx);
    const int64_t t = tid / nvx;
    const int seg = (int)(t % segs);
    const int64_t plane = t / segs;  // image * channel
    const int ch = (int)(plane % p.c);
    const int ox0 = vx * OV, cx = ox0 * S;
    const int oy0 = seg * rows_per, oy1 = min(p.oh, oy0 + rows_per);
    const T *x = (const T *)p.x + (size_t)plane * p.ih * p.iw;
    float w[KS * KS];
#pragma unroll
    for (int k = 0; k < KS * KS; k++) w[k] = ks_ld((const T *)p.w + ch * KS * KS + k);
    const float b = p.bias ? ks_ld((const T *)p.bias + ch) : 0.f;
    ConvP q = p;  // the epilogue after the bias, which is added here once per thread's channel
    q.bias = nullptr;

    float ring[KS][R::WN];  // the KS input rows of the current output row's window
    {
        typename R::Raw raw[KS];
#pragma unroll
        for (int ky = 0; ky < KS; ky++) R::load(p, x, oy0 * S - p.pt + ky, cx, raw[ky]);
#pragma unroll
        for (int ky = 0; ky < KS; ky++) R::cvt(raw[ky], ring[ky]);
    }
    T *y = (T *)p.y;
    for (int oy = oy0; oy < oy1; oy++) {
        const bool more = oy + 1 < oy1;
        typename R::Raw nx[S];  // the rows the next output row adds, loaded before this row's FMAs
        if (more) {
#pragma unroll
            for (int i = 0; i < S; i++) R::load(p, x, (oy + 1) * S - p.pt + KS - S + i, cx, nx[i]);
        }
        float acc[OV];
#pragma unroll
        for (int j = 0; j < OV; j++) acc[j] = 0.f;
#pragma unroll
        for (int ky = 0; ky < KS; ky++)
#pragma unroll
            for (int kx = 0; kx < KS; kx++)
#pragma unroll
                for (int j = 0; j < OV; j++) acc[j] = fmaf(ring[ky][j * S + kx], w[ky * KS + kx], acc[j]);
        const size_t yi = ((size_t)plane * p.oh + oy) * p.ow + ox0;
        float o[OV];
#pragma unroll
        for (int j = 0; j < OV; j++) o[j] = acc[j] + b;
        epi_run<T, OV>(q, o, ch, (int64_t)yi);  // one activation decision for the OV outputs
        __align__(16) T out[OV];
#pragma unroll
        for (int j = 0; j < OV; j++) out[j] = T(o[j]);
        typedef typename std::conditional<OV * sizeof(T) == 16, uint4, uint2>::type OU;
        *(OU *)(y + yi) = *(const OU *)out;
        if (more) {
#pragma unroll
            for (int k = 0; k < KS - S; k++)
#pragma unroll
                for (int i = 0; i < R::WN; i++) ring[k][i] = ring[k + S][i];
#pragma unroll
            for (int i = 0; i < S; i++) R::cvt(nx[i], ring[KS - S + i]);
        }
    }
}

template <typename T, int KS, int S, int OV>
int roll_launch(const ConvP &p, cudaStream_t s) {
    const int nvx = p.ow / OV;
    const int64_t planes = (int64_t)p.n * p.c;
    // rows per thread: halve the segment until the grid has about 2^20 threads (several waves of every SM;
    // each segment re-reads KS - S rows of the one above), but not below 8 rows
    int rows_per = p.oh;
    while (rows_per > 8 && planes * nvx * ((p.oh + rows_per - 1) / rows_per) < (1 << 20)) rows_per = (rows_per + 1) / 2;
    const int segs = (p.oh + rows_per - 1) / rows_per;
    const int64_t threads = planes * nvx * segs;
    if (threads / ROLL_THREADS >= INT32_MAX)
        return (int)cudaErrorInvalidValue;
    return ks_launch(conv_dw_roll_k<T, KS, S, OV>, dim3(ks_blocks(threads, ROLL_THREADS)), dim3(ROLL_THREADS), s, p,
                     nvx, segs, rows_per);
}

template <typename T>
int roll_dispatch(const ConvP &p, int ov, cudaStream_t s) {
    if (p.kh == 3) {
        if (ov == 8) return p.sh == 1 ? roll_launch<T, 3, 1, 8>(p, s) : roll_launch<T, 3, 2, 8>(p, s);
        return p.sh == 1 ? roll_launch<T, 3, 1, 4>(p, s) : roll_launch<T, 3, 2, 4>(p, s);
    }
    return p.sh == 1 ? roll_launch<T, 5, 1, 4>(p, s) : roll_launch<T, 5, 2, 4>(p, s);
}

} // namespace

extern "C" int ks__cu_conv_dw_roll_fits(const ks_conv_args *a, int half) { return roll_ov(a, half) != 0; }

extern "C" int ks__cu_conv_dw_roll(const ks_conv_args *a, int half, void *stream) {
    const int ov = roll_ov(a, half);
    if (!ov)
        return (int)cudaErrorInvalidValue;
    ConvP p = conv_p(a);
    // the vector loads and stores need the tensors 16-byte aligned (arena tensors are; a caller's binding
    // may not be): the strip-tiled kernel then, which reads and writes any alignment
    if (((uintptr_t)p.x | (uintptr_t)p.y) & 15)
        return ks__cu_conv_dw(a, half, ks__cu_conv_dw_strip_fits(a) ? 3 : 1, stream);
    cudaStream_t s = (cudaStream_t)stream;
    int e = half ? roll_dispatch<__half>(p, ov, s) : roll_dispatch<float>(p, ov, s);
    if (e != cudaSuccess)
        return e;
    KS_CU_RET();
}
