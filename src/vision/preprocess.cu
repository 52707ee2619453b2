// Preprocessing kernel: one launch per batch of up to KS_VPREP_MAX_BATCH images; the
// per-pixel math is ks_v_prep_pixel (vision_kernels.h), shared with preprocess.c.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "vision/vision_internal.h"

static int launched(const char **msg) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess)
        return 0;
    *msg = cudaGetErrorString(e);
    return (int)e;
}

// ------------------------------------------------------------ preprocessing

struct PrepBatch {
    ks_vprep_params p;
    int32_t n;
    ks_vprep_image img[KS_VPREP_MAX_BATCH];
};
static_assert(sizeof(PrepBatch) < 4000, "kernel parameter size");

// One thread per canvas pixel; blockIdx.z = image. Writes all channels (CHW planes).
static __global__ void prep_kernel(const __grid_constant__ PrepBatch b, void *dst) {
    int u = blockIdx.x * blockDim.x + threadIdx.x;
    int v = blockIdx.y * blockDim.y + threadIdx.y;
    int i = blockIdx.z;
    const int W = b.p.width, H = b.p.height, C = b.p.channels;
    if (u >= W || v >= H || i >= b.n)
        return;
    float px[3];
    ks_v_prep_pixel(&b.p, &b.img[i], u, v, px);
    size_t plane = (size_t)W * H;
    size_t o = (size_t)i * C * plane + (size_t)v * W + u;
    if (b.p.fp16) {
        __half *d = (__half *)dst;
        for (int c = 0; c < C; c++)
            d[o + c * plane] = __float2half_rn(px[c]);
    } else {
        float *d = (float *)dst;
        for (int c = 0; c < C; c++)
            d[o + c * plane] = px[c];
    }
}

extern "C" int ks__vprep_cuda_launch(const ks_vprep_params *p, int n, const ks_vprep_image *images, void *dst,
                                     void *stream, const char **msg) {
    if (n <= 0)
        return 0;
    PrepBatch b;
    b.p = *p;
    b.n = n;
    for (int i = 0; i < n && i < KS_VPREP_MAX_BATCH; i++)
        b.img[i] = images[i];
    dim3 block(32, 8);
    dim3 grid((p->width + 31) / 32, (p->height + 7) / 8, n);
    prep_kernel<<<grid, block, 0, (cudaStream_t)stream>>>(b, dst);
    return launched(msg);
}

