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
#include "vision/mtcnn_dev.cuh"

static int check(const char *what, char *err, size_t err_bytes) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        snprintf(err, err_bytes, "%s: %s", what, cudaGetErrorString(e));
        return (int)e;
    }
    return 0;
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
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int item = (int)(i / per);
        int k = (int)(i % per);
        int c = k % 3, pix = k / 3, x = pix % size, y = pix / size;
        const int *bx = boxes + 4 * item;
        float v = ks_mtg_crop_sample(img, w, h, bx, size, x, y, c);
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
