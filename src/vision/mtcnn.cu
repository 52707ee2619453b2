// MTCNN GPU glue kernels: batched pyramid resize + pack, P-Net candidate
// extraction, batched ROI crop-resize + pack. The arithmetic mirrors the CPU
// references in mtcnn.c (ks__mtcnn_resize_bilinear + ks__mtcnn_pack_cpu,
// ks__mtcnn_candidates_cpu, ks__mtcnn_crop_cpu) operation by operation so
// results agree to rounding. C launchers; no synchronization.
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vision/mtcnn.h"

static int check(const char *what, char *err, size_t err_bytes) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        snprintf(err, err_bytes, "%s: %s", what, cudaGetErrorString(e));
        return (int)e;
    }
    return 0;
}

// Bilinear sample of channel c at output (x, y) of a dw x dh resize of a
// sw x sh HWC image (half-pixel centres, edge clamp), as the CPU reference.
static __device__ __forceinline__ float sample(const float *src, int sw, int sh, int dw, int dh,
                                               int x, int y, int c) {
    float sx = (float)sw / (float)dw, sy = (float)sh / (float)dh;
    float fy = ((float)y + 0.5f) * sy - 0.5f;
    if (fy < 0)
        fy = 0;
    int y0 = (int)fy;
    if (y0 > sh - 1)
        y0 = sh - 1;
    int y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
    float wy = fy - (float)y0;
    float fx = ((float)x + 0.5f) * sx - 0.5f;
    if (fx < 0)
        fx = 0;
    int x0 = (int)fx;
    if (x0 > sw - 1)
        x0 = sw - 1;
    int x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
    float wx = fx - (float)x0;
    float a = src[((size_t)y0 * sw + x0) * 3 + c], b = src[((size_t)y0 * sw + x1) * 3 + c];
    float d = src[((size_t)y1 * sw + x0) * 3 + c], e = src[((size_t)y1 * sw + x1) * 3 + c];
    float top = a + (b - a) * wx, bot = d + (e - d) * wx;
    return top + (bot - top) * wy;
}

static __device__ __forceinline__ size_t pack_index(int x, int y, int c, int w, int h, int nhwc,
                                                    int transposed) {
    int A = transposed ? w : h, B = transposed ? h : w;
    int a = transposed ? x : y, b = transposed ? y : x;
    return nhwc ? ((size_t)a * B + b) * 3 + c : ((size_t)c * A + a) * B + b;
}

static __global__ void pyramid_kernel(const float *__restrict__ img, int w, int h,
                                      ks_mtcnn_pyramid p, int64_t total, float *__restrict__ dst) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        // find the level: levels are laid out back to back, 3*w*h floats each
        int l = 0;
        int64_t base = 0;
        while (l < p.n_levels - 1 && i >= base + 3LL * p.w[l] * p.h[l]) {
            base += 3LL * p.w[l] * p.h[l];
            l++;
        }
        int64_t k = i - base;
        int lw = p.w[l], lh = p.h[l];
        int c = (int)(k % 3), pix = (int)(k / 3);
        int x = pix % lw, y = pix / lw;
        float v = sample(img, w, h, lw, lh, x, y, c);
        dst[p.offset[l] + (int64_t)pack_index(x, y, c, lw, lh, p.nhwc, p.transposed)] = v;
    }
}

extern "C" int ks__mtcnn_pyramid_cuda(const float *img, int w, int h, const ks_mtcnn_pyramid *p,
                                      float *dst, void *stream, char *err, size_t err_bytes) {
    if (p->n_levels <= 0 || p->n_levels > KS_MTCNN_MAX_LEVELS || w <= 0 || h <= 0) {
        snprintf(err, err_bytes, "invalid pyramid (%d levels, %dx%d image)", p->n_levels, w, h);
        return -1;
    }
    int64_t total = 0;
    for (int l = 0; l < p->n_levels; l++) {
        if (p->w[l] <= 0 || p->h[l] <= 0) {
            snprintf(err, err_bytes, "pyramid level %d has size %dx%d", l, p->w[l], p->h[l]);
            return -1;
        }
        total += 3LL * p->w[l] * p->h[l];
    }
    int threads = 256;
    int64_t blocks = (total + threads - 1) / threads;
    if (blocks > 65535LL * 16)
        blocks = 65535LL * 16;
    pyramid_kernel<<<(unsigned)blocks, threads, 0, (cudaStream_t)stream>>>(img, w, h, *p, total,
                                                                           dst);
    return check("mtcnn pyramid", err, err_bytes);
}

static __global__ void candidates_kernel(const float *__restrict__ prob,
                                         const float *__restrict__ reg, int ma, int mb, int nhwc,
                                         int transposed, float scale, float threshold,
                                         ks_mtcnn_box *out, int *cells, int cap, int *count) {
    int n = ma * mb;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        int a = i / mb, b = i % mb;
        float p = nhwc ? prob[(size_t)i * 2 + 1] : prob[(size_t)1 * n + i];
        if (!(p >= threshold))
            continue;
        int slot = atomicAdd(count, 1);
        if (slot >= cap)
            continue;
        int cx = transposed ? a : b, cy = transposed ? b : a;
        ks_mtcnn_box bx;
        memset(&bx, 0, sizeof bx);
        bx.x1 = truncf((2.f * (float)cx + 1.f) / scale);
        bx.y1 = truncf((2.f * (float)cy + 1.f) / scale);
        bx.x2 = truncf((2.f * (float)cx + 12.f) / scale);
        bx.y2 = truncf((2.f * (float)cy + 12.f) / scale);
        bx.score = p;
        for (int k = 0; k < 4; k++)
            bx.reg[k] = nhwc ? reg[(size_t)i * 4 + k] : reg[(size_t)k * n + i];
        out[slot] = bx;
        if (cells)
            cells[slot] = i;
    }
}

extern "C" int ks__mtcnn_candidates_cuda(const float *prob, const float *reg, int ma, int mb,
                                         int nhwc, int transposed, float scale, float threshold,
                                         ks_mtcnn_box *out, int *cells, int cap, int *count,
                                         void *stream, char *err, size_t err_bytes) {
    if (ma <= 0 || mb <= 0)
        return 0;
    if (!(scale > 0.f)) {
        snprintf(err, err_bytes, "invalid scale %g", (double)scale);
        return -1;
    }
    int threads = 256;
    int blocks = (ma * mb + threads - 1) / threads;
    if (blocks > 65535)
        blocks = 65535;
    candidates_kernel<<<blocks, threads, 0, (cudaStream_t)stream>>>(
        prob, reg, ma, mb, nhwc, transposed, scale, threshold, out, cells, cap, count);
    return check("mtcnn candidates", err, err_bytes);
}

static __global__ void crop_kernel(const float *__restrict__ img, int w, int h,
                                   const int *__restrict__ boxes, int n, int size, int nhwc,
                                   int transposed, float *__restrict__ dst) {
    int64_t per = 3LL * size * size, total = per * n;
    const float padv = -127.5f * 0.0078125f;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int item = (int)(i / per);
        int k = (int)(i % per);
        int c = k % 3, pix = k / 3, x = pix % size, y = pix / size;
        const int *bx = boxes + 4 * item;
        int x1 = bx[0], y1 = bx[1];
        int tw = bx[2] - x1 + 1, th = bx[3] - y1 + 1;
        float v = 0.f;
        if (tw > 0 && th > 0 && tw <= 8 * (w + h) && th <= 8 * (w + h)) {
            float sx = (float)tw / (float)size, sy = (float)th / (float)size;
            float fy = ((float)y + 0.5f) * sy - 0.5f;
            if (fy < 0)
                fy = 0;
            int y0 = (int)fy;
            if (y0 > th - 1)
                y0 = th - 1;
            int y1i = y0 + 1 < th ? y0 + 1 : th - 1;
            float wy = fy - (float)y0;
            float fx = ((float)x + 0.5f) * sx - 0.5f;
            if (fx < 0)
                fx = 0;
            int x0 = (int)fx;
            if (x0 > tw - 1)
                x0 = tw - 1;
            int x1i = x0 + 1 < tw ? x0 + 1 : tw - 1;
            float wx = fx - (float)x0;
            float q[4];
            int xs[2] = {x1 - 1 + x0, x1 - 1 + x1i}, ys[2] = {y1 - 1 + y0, y1 - 1 + y1i};
            for (int t = 0; t < 4; t++) {
                int px = xs[t & 1], py = ys[t >> 1];
                q[t] = px >= 0 && px < w && py >= 0 && py < h ? img[((size_t)py * w + px) * 3 + c]
                                                              : padv;
            }
            float top = q[0] + (q[1] - q[0]) * wx, bot = q[2] + (q[3] - q[2]) * wx;
            v = top + (bot - top) * wy;
        }
        dst[(int64_t)item * per + (int64_t)pack_index(x, y, c, size, size, nhwc, transposed)] = v;
    }
}

extern "C" int ks__mtcnn_crop_cuda(const float *img, int w, int h, const int *boxes, int n,
                                   int size, int nhwc, int transposed, float *dst, void *stream,
                                   char *err, size_t err_bytes) {
    if (n <= 0)
        return 0;
    if (size <= 0 || w <= 0 || h <= 0) {
        snprintf(err, err_bytes, "invalid crop (size %d, image %dx%d)", size, w, h);
        return -1;
    }
    int64_t total = 3LL * size * size * n;
    int threads = 256;
    int64_t blocks = (total + threads - 1) / threads;
    if (blocks > 65535LL * 16)
        blocks = 65535LL * 16;
    crop_kernel<<<(unsigned)blocks, threads, 0, (cudaStream_t)stream>>>(img, w, h, boxes, n, size,
                                                                        nhwc, transposed, dst);
    return check("mtcnn crop", err, err_bytes);
}
