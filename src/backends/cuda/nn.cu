// Pooling, softmax and resize kernels.
#include <float.h>
#include "backends/cuda/common.cuh"
#include "backends/cuda/fastdiv.cuh"

namespace {

// I32: every index below 2^31, decoded with precomputed fast division.
template <typename T, bool I32>
__global__ void pool_k(ks_pool_args p, ks_fdiv fow, ks_fdiv foh) {
    ks_pdl_wait();
    int64_t total = (int64_t)p.n * p.c * p.oh * p.ow;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int ox, oy;
    int64_t nc;
    if (I32) {
        uint32_t u = (uint32_t)i, t = ks_fdiv_q(fow, u);
        ox = (int)(u - t * fow.d);
        uint32_t q = ks_fdiv_q(foh, t);
        oy = (int)(t - q * foh.d);
        nc = q;
    } else {
        ox = (int)(i % p.ow);
        int64_t t = i / p.ow;
        oy = (int)(t % p.oh);
        nc = t / p.oh;
    }
    const T *x = (const T *)p.x + nc * p.h * p.w;
    int hs = oy * p.sh - p.pt, ws = ox * p.sw - p.pl;
    int he = min(hs + p.kh, p.h + p.pb), we = min(ws + p.kw, p.w + p.pr);
    int pool_size = (he - hs) * (we - ws);
    int hs0 = max(hs, 0), ws0 = max(ws, 0), he0 = min(he, p.h), we0 = min(we, p.w);
    float acc = p.mode == KS_POOL_MAX ? -FLT_MAX : 0.f;
    for (int y = hs0; y < he0; y++)
        for (int xx = ws0; xx < we0; xx++) {
            float v = ks_ld(x + (int64_t)y * p.w + xx);
            acc = p.mode == KS_POOL_MAX ? fmaxf(acc, v) : acc + v;
        }
    if (p.mode == KS_POOL_AVG) acc /= (float)max(pool_size, 1);
    else if (p.mode == KS_POOL_AVG_EXCL_PAD) acc /= (float)max((he0 - hs0) * (we0 - ws0), 1);
    ks_st((T *)p.y + i, acc);
}

// Max pooling by output tiles: the block stages the input window of each of its tiles in shared memory
// (outside the image: -FLT_MAX, what the kernel above starts from), takes the maximum along each row over kw,
// then down each column over kh: kw + kh comparisons per output instead of kh * kw loads with their index
// arithmetic. A tile is th x tw outputs of one plane (the whole plane when it is at most 64 x 64 and its
// window fits, else 16 x 32), and a block takes ppb tiles of consecutive planes so that small planes still
// give it 1024-2048 outputs.
// YOLOv5n's SPPF (5x5, stride 1, 20x20 x 128 channels x batch 32) took 0.041 ms per pool with the kernel
// above (bench/RESULTS.md ninth session). grid.x = tiles per plane; grid.y * grid.z = plane groups.
struct PoolTile {
    int th, tw, ih, iw, tiles_x, ppb; // tile outputs, its input window, tiles per plane row, planes per block
    ks_fdiv f_wsz, f_iw, f_rsz, f_tw, f_osz; // division by ih * iw, iw, ih * tw, tw, th * tw (fastdiv.cuh)
};

__host__ PoolTile pool_tile_of(const ks_pool_args *a) {
    PoolTile t;
    /* the whole plane when its window and row maxima fit 32 KB */
    const int64_t wih = (int64_t)(a->oh - 1) * a->sh + a->kh, wiw = (int64_t)(a->ow - 1) * a->sw + a->kw;
    const bool whole = a->oh <= 64 && a->ow <= 64 && wih * (wiw + a->ow) * 4 <= 32 * 1024;
    t.th = whole ? a->oh : 16, t.tw = whole ? a->ow : 32;
    t.ih = (t.th - 1) * a->sh + a->kh, t.iw = (t.tw - 1) * a->sw + a->kw;
    t.tiles_x = (a->ow + t.tw - 1) / t.tw;
    t.ppb = 1;
    const int64_t per = (int64_t)t.ih * (t.iw + t.tw) * 4; /* window + row maxima, floats */
    while (t.ppb < 16 && (int64_t)t.th * t.tw * t.ppb * 2 <= 2048 && per * t.ppb * 2 <= 32 * 1024) t.ppb *= 2;
    t.f_wsz = ks_fdiv_make((uint32_t)(t.ih * t.iw)), t.f_iw = ks_fdiv_make((uint32_t)t.iw);
    t.f_rsz = ks_fdiv_make((uint32_t)(t.ih * t.tw)), t.f_tw = ks_fdiv_make((uint32_t)t.tw);
    t.f_osz = ks_fdiv_make((uint32_t)(t.th * t.tw));
    return t;
}

template <typename T>
__global__ void __launch_bounds__(256) pool_max_tile_k(ks_pool_args p, PoolTile pt, int64_t planes) {
    ks_pdl_wait();
    extern __shared__ float pm[];
    const int64_t plane0 = ((int64_t)blockIdx.z * gridDim.y + blockIdx.y) * pt.ppb;
    if (plane0 >= planes) return;
    const int np = (int)min((int64_t)pt.ppb, planes - plane0);
    const int ty = blockIdx.x / pt.tiles_x, tx = blockIdx.x - ty * pt.tiles_x;
    const int oy0 = ty * pt.th, ox0 = tx * pt.tw, IH = pt.ih, IW = pt.iw, TW = pt.tw, TH = pt.th;
    const int wsz = IH * IW, rsz = IH * TW;
    float *win = pm, *rowm = pm + np * wsz; // np x [IH][IW], then np x [IH][TW]
    const T *x = (const T *)p.x + plane0 * p.h * p.w;
    const int gy0 = oy0 * p.sh - p.pt, gx0 = ox0 * p.sw - p.pl;
    for (int i = threadIdx.x; i < np * wsz; i += blockDim.x) {
        const int q = (int)ks_fdiv_q(pt.f_wsz, (uint32_t)i), e = i - q * wsz, r = (int)ks_fdiv_q(pt.f_iw, (uint32_t)e);
        const int c = e - r * IW, gy = gy0 + r, gx = gx0 + c;
        win[i] = gy >= 0 && gy < p.h && gx >= 0 && gx < p.w ? ks_ld(x + ((int64_t)q * p.h + gy) * p.w + gx)
                                                            : -FLT_MAX;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < np * rsz; i += blockDim.x) {
        const int q = (int)ks_fdiv_q(pt.f_rsz, (uint32_t)i), e = i - q * rsz, r = (int)ks_fdiv_q(pt.f_tw, (uint32_t)e);
        const int c = e - r * TW;
        const float *w = win + q * wsz + r * IW + c * p.sw;
        float m = -FLT_MAX;
        for (int j = 0; j < p.kw; j++) m = fmaxf(m, w[j]);
        rowm[i] = m;
    }
    __syncthreads();
    T *y = (T *)p.y + plane0 * p.oh * p.ow;
    const int osz = TH * TW;
    for (int i = threadIdx.x; i < np * osz; i += blockDim.x) {
        const int q = (int)ks_fdiv_q(pt.f_osz, (uint32_t)i), e = i - q * osz, r = (int)ks_fdiv_q(pt.f_tw, (uint32_t)e);
        const int c = e - r * TW, oy = oy0 + r, ox = ox0 + c;
        if (oy >= p.oh || ox >= p.ow) continue;
        const float *col = rowm + q * rsz + r * p.sh * TW + c;
        float m = -FLT_MAX;
        for (int j = 0; j < p.kh; j++) m = fmaxf(m, col[j * TW]);
        ks_st(y + ((int64_t)q * p.oh + oy) * p.ow + ox, m);
    }
}

// One thread per row (small axis).
template <typename T>
__global__ void softmax_small_k(const T *x, T *y, int64_t outer, int64_t axis, int64_t inner) {
    ks_pdl_wait();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= outer * inner) return;
    int64_t o = i / inner, in = i - o * inner;
    const T *xr = x + o * axis * inner + in;
    T *yr = y + o * axis * inner + in;
    float m = -FLT_MAX;
    for (int64_t a = 0; a < axis; a++) m = fmaxf(m, ks_ld(xr + a * inner));
    float s = 0.f;
    for (int64_t a = 0; a < axis; a++) s += expf(ks_ld(xr + a * inner) - m);
    float inv = 1.f / s;
    for (int64_t a = 0; a < axis; a++) ks_st(yr + a * inner, expf(ks_ld(xr + a * inner) - m) * inv);
}

// One warp per row (inner == 1, large axis).
template <typename T>
__global__ void softmax_warp_k(const T *x, T *y, int64_t rows, int64_t axis) {
    ks_pdl_wait();
    int64_t row = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const T *xr = x + row * axis;
    T *yr = y + row * axis;
    float m = -FLT_MAX;
    for (int64_t a = lane; a < axis; a += 32) m = fmaxf(m, ks_ld(xr + a));
    for (int o = 16; o; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float s = 0.f;
    for (int64_t a = lane; a < axis; a += 32) s += expf(ks_ld(xr + a) - m);
    for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    float inv = 1.f / s;
    for (int64_t a = lane; a < axis; a += 32) ks_st(yr + a, expf(ks_ld(xr + a) - m) * inv);
}

// One block of 1024 threads per row (inner == 1, long rows such as the
// opset < 13 softmax that flattens a whole feature map).
template <typename T>
__global__ void __launch_bounds__(1024) softmax_block_k(const T *x, T *y, int64_t axis) {
    ks_pdl_wait();
    __shared__ float red[32];
    const T *xr = x + (int64_t)blockIdx.x * axis;
    T *yr = y + (int64_t)blockIdx.x * axis;
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    // online max + rescaled sum in one pass
    float m = -FLT_MAX, s = 0.f;
    for (int64_t a = threadIdx.x; a < axis; a += blockDim.x) {
        float v = ks_ld(xr + a);
        if (v > m) { s = s * __expf(m - v) + 1.f; m = v; }
        else s += __expf(v - m);
    }
    for (int o = 16; o; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        float mn = fmaxf(m, m2);
        s = (m == -FLT_MAX ? 0.f : s * __expf(m - mn)) + (m2 == -FLT_MAX ? 0.f : s2 * __expf(m2 - mn));
        m = mn;
    }
    __shared__ float redm[32];
    if (lane == 0) { red[wid] = s; redm[wid] = m; }
    __syncthreads();
    int nw = (int)(blockDim.x >> 5);
    m = lane < nw ? redm[lane] : -FLT_MAX;
    s = lane < nw ? red[lane] : 0.f;
    for (int o = 16; o; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        float mn = fmaxf(m, m2);
        s = (m == -FLT_MAX ? 0.f : s * __expf(m - mn)) + (m2 == -FLT_MAX ? 0.f : s2 * __expf(m2 - mn));
        m = mn;
    }
    float inv = 1.f / s;
    for (int64_t a = threadIdx.x; a < axis; a += blockDim.x) ks_st(yr + a, expf(ks_ld(xr + a) - m) * inv);
}

// Table-driven (tables computed at build with the shared params_nn
// mapping, so every coordinate mode matches the CPU reference): per output
// row two input rows + weights, per output column two input columns +
// weights.
template <typename T, bool I32>
__global__ void resize_k(ks_resize_args p, ks_fdiv fow, ks_fdiv foh) {
    ks_pdl_wait();
    int64_t total = p.outer * p.oh * p.ow;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int ox, oy;
    int64_t o;
    if (I32) {
        uint32_t u = (uint32_t)i, t = ks_fdiv_q(fow, u);
        ox = (int)(u - t * fow.d);
        uint32_t q = ks_fdiv_q(foh, t);
        oy = (int)(t - q * foh.d);
        o = q;
    } else {
        ox = (int)(i % p.ow);
        int64_t t = i / p.ow;
        oy = (int)(t % p.oh);
        o = t / p.oh;
    }
    const T *x = (const T *)p.x + o * p.ih * p.iw;
    int y0 = __ldg(p.idx + 2 * oy), y1 = __ldg(p.idx + 2 * oy + 1);
    int x0 = __ldg(p.idx + 2 * p.oh + 2 * ox), x1 = __ldg(p.idx + 2 * p.oh + 2 * ox + 1);
    float wy0 = __ldg(p.wt + 2 * oy), wy1 = __ldg(p.wt + 2 * oy + 1);
    float wx0 = __ldg(p.wt + 2 * p.oh + 2 * ox), wx1 = __ldg(p.wt + 2 * p.oh + 2 * ox + 1);
    float v;
    if (p.mode == 0) {
        v = ks_ld(x + (int64_t)y0 * p.iw + x0);
    } else {
        float a = ks_ld(x + (int64_t)y0 * p.iw + x0), b = ks_ld(x + (int64_t)y0 * p.iw + x1);
        float c = ks_ld(x + (int64_t)y1 * p.iw + x0), d = ks_ld(x + (int64_t)y1 * p.iw + x1);
        v = (a * wx0 + b * wx1) * wy0 + (c * wx0 + d * wx1) * wy1;
    }
    ks_st((T *)p.y + i, v);
}

// resize_k for 8 consecutive outputs of a row per thread (ow % 8 == 0, y 16-byte aligned): the row's taps and
// weights once, 16-byte stores. YOLOv5n's two nearest 2x upsamples at batch 32 took 0.036 / 0.066 ms with one
// thread per output (bench/RESULTS.md ninth session).
template <typename T>
__global__ void resize8_k(ks_resize_args p, ks_fdiv fow8, ks_fdiv foh, int64_t total8) {
    ks_pdl_wait();
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total8) return;
    uint32_t u = (uint32_t)i, t = ks_fdiv_q(fow8, u);
    const int ox0 = (int)(u - t * fow8.d) * 8;
    const uint32_t q = ks_fdiv_q(foh, t);
    const int oy = (int)(t - q * foh.d);
    const T *x = (const T *)p.x + (int64_t)q * p.ih * p.iw;
    const int y0 = __ldg(p.idx + 2 * oy), y1 = __ldg(p.idx + 2 * oy + 1);
    const float wy0 = __ldg(p.wt + 2 * oy), wy1 = __ldg(p.wt + 2 * oy + 1);
    const T *r0 = x + (int64_t)y0 * p.iw, *r1 = x + (int64_t)y1 * p.iw;
    const int *xi = p.idx + 2 * p.oh + 2 * ox0;
    const float *xw = p.wt + 2 * p.oh + 2 * ox0;
    float v[8];
#pragma unroll
    for (int j = 0; j < 8; j++) {
        const int x0 = __ldg(xi + 2 * j);
        if (p.mode == 0) {
            v[j] = ks_ld(r0 + x0);
        } else {
            const int x1 = __ldg(xi + 2 * j + 1);
            const float wx0 = __ldg(xw + 2 * j), wx1 = __ldg(xw + 2 * j + 1);
            v[j] = (ks_ld(r0 + x0) * wx0 + ks_ld(r0 + x1) * wx1) * wy0 + (ks_ld(r1 + x0) * wx0 + ks_ld(r1 + x1) * wx1) * wy1;
        }
    }
    T *y = (T *)p.y + ((int64_t)t * p.ow + ox0);
    if constexpr (sizeof(T) == 4) {
        ((float4 *)y)[0] = make_float4(v[0], v[1], v[2], v[3]);
        ((float4 *)y)[1] = make_float4(v[4], v[5], v[6], v[7]);
    } else {
        uint4 w;
        __half2 *h = (__half2 *)&w;
#pragma unroll
        for (int j = 0; j < 4; j++) h[j] = __floats2half2_rn(v[2 * j], v[2 * j + 1]);
        *(uint4 *)y = w;
    }
}

} // namespace

extern "C" int ks__cu_pool(const ks_pool_args *a, int half, void *stream) {
    int64_t total = (int64_t)a->n * a->c * a->oh * a->ow;
    if (total <= 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    dim3 g(ks_blocks(total, 256));
    ks_fdiv fw = ks_fdiv_make((uint32_t)a->ow), fh = ks_fdiv_make((uint32_t)a->oh);
    /* the tiled kernel: max pooling with overlapping windows only (kernel > stride on an axis: SPPF's 5x5
       stride 1); a window that each input value falls in once (YuNet's 2x2 stride 2) gains nothing from the
       staging, and there the batch-32 network measured 9 % slower with it (bench/RESULTS.md ninth session) */
    if (a->mode == KS_POOL_MAX && (a->kh > a->sh || a->kw > a->sw) && !ks__cu_fast_off()) {
        const int64_t planes = (int64_t)a->n * a->c;
        const PoolTile pt = pool_tile_of(a);
        const size_t psm = (size_t)pt.ih * (pt.iw + pt.tw) * 4 * pt.ppb;
        const int64_t groups = (planes + pt.ppb - 1) / pt.ppb;
        /* and enough blocks to fill the GPU (528: four per SM of an H100 / H200): YOLOv5n's SPPF at batch 1 is
           32 blocks of four planes, where the plain kernel's 200 blocks were faster (the network 0.375 -> 0.389
           ms between calls 1 and 8 of the ninth session) */
        const int ty = (a->oh + pt.th - 1) / pt.th;
        const int64_t n_blocks = (int64_t)pt.tiles_x * ty * groups;
        if (n_blocks >= 528 && psm <= 32 * 1024 && groups <= (int64_t)65535 * 65535) {
            const unsigned gy = (unsigned)(groups < 65535 ? groups : 65535), gz = (unsigned)((groups + gy - 1) / gy);
            dim3 pg((unsigned)(pt.tiles_x * ty), gy, gz);
            if (half) ks_launch_smem(pool_max_tile_k<__half>, pg, dim3(256), psm, s, *a, pt, planes);
            else ks_launch_smem(pool_max_tile_k<float>, pg, dim3(256), psm, s, *a, pt, planes);
            KS_CU_RET();
        }
    }
    if (total < ((int64_t)1 << 31) && !ks__cu_fast_off()) {
        if (half) ks_launch(pool_k<__half, true>, g, dim3(256), s, *a, fw, fh);
        else ks_launch(pool_k<float, true>, g, dim3(256), s, *a, fw, fh);
    } else {
        if (half) ks_launch(pool_k<__half, false>, g, dim3(256), s, *a, fw, fh);
        else ks_launch(pool_k<float, false>, g, dim3(256), s, *a, fw, fh);
    }
    KS_CU_RET();
}

extern "C" int ks__cu_softmax(const void *x, void *y, int64_t outer, int64_t axis, int64_t inner,
                              int half, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (inner == 1 && axis > 4096 && outer < 4096) {
        if (half) ks_launch(softmax_block_k<__half>, dim3((unsigned)outer), dim3(1024), s, (const __half *)x, (__half *)y, axis);
        else ks_launch(softmax_block_k<float>, dim3((unsigned)outer), dim3(1024), s, (const float *)x, (float *)y, axis);
    } else if (inner == 1 && axis > 64) {
        int64_t threads = outer * 32;
        if (half) ks_launch(softmax_warp_k<__half>, dim3(ks_blocks(threads, 256)), dim3(256), s, (const __half *)x, (__half *)y, outer, axis);
        else ks_launch(softmax_warp_k<float>, dim3(ks_blocks(threads, 256)), dim3(256), s, (const float *)x, (float *)y, outer, axis);
    } else {
        int64_t n = outer * inner;
        if (half) ks_launch(softmax_small_k<__half>, dim3(ks_blocks(n, 256)), dim3(256), s, (const __half *)x, (__half *)y, outer, axis, inner);
        else ks_launch(softmax_small_k<float>, dim3(ks_blocks(n, 256)), dim3(256), s, (const float *)x, (float *)y, outer, axis, inner);
    }
    KS_CU_RET();
}

extern "C" int ks__cu_resize(const ks_resize_args *a, int half, void *stream) {
    int64_t total = a->outer * a->oh * a->ow;
    if (total <= 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    dim3 g(ks_blocks(total, 256));
    ks_fdiv fw = ks_fdiv_make((uint32_t)a->ow), fh = ks_fdiv_make((uint32_t)a->oh);
    if (a->ow % 8 == 0 && ((uintptr_t)a->y & 15) == 0 && total < ((int64_t)1 << 31) && !ks__cu_fast_off()) {
        const int64_t total8 = total / 8;
        ks_fdiv fw8 = ks_fdiv_make((uint32_t)(a->ow / 8));
        dim3 g8(ks_blocks(total8, 256));
        if (half) ks_launch(resize8_k<__half>, g8, dim3(256), s, *a, fw8, fh, total8);
        else ks_launch(resize8_k<float>, g8, dim3(256), s, *a, fw8, fh, total8);
        KS_CU_RET();
    }
    if (total < ((int64_t)1 << 31) && !ks__cu_fast_off()) {
        if (half) ks_launch(resize_k<__half, true>, g, dim3(256), s, *a, fw, fh);
        else ks_launch(resize_k<float, true>, g, dim3(256), s, *a, fw, fh);
    } else {
        if (half) ks_launch(resize_k<__half, false>, g, dim3(256), s, *a, fw, fh);
        else ks_launch(resize_k<float, false>, g, dim3(256), s, *a, fw, fh);
    }
    KS_CU_RET();
}
