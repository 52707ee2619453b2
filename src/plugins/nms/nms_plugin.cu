// BatchedNMS plugin: per-row best class (score max over C, first index wins).
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

#include "plugins/nms/nms_plugin.h"

static __global__ void argmax_kernel(const float *__restrict__ s, int64_t rows, int64_t C,
                                     float *__restrict__ best, int32_t *__restrict__ cls) {
    for (int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; r < rows;
         r += (int64_t)gridDim.x * blockDim.x) {
        const float *p = s + r * C;
        float b = p[0];
        int32_t k = 0;
        for (int64_t c = 1; c < C; c++)
            if (p[c] > b)
                b = p[c], k = (int32_t)c;
        best[r] = b;
        cls[r] = k;
    }
}

extern "C" int ks__nms_plugin_argmax_cuda(const float *scores, int64_t rows, int64_t classes,
                                          float *best, int32_t *cls, void *stream, char *err,
                                          size_t err_bytes) {
    if (rows <= 0)
        return 0;
    int64_t blocks = (rows + 255) / 256;
    if (blocks > 65535)
        blocks = 65535;
    argmax_kernel<<<(unsigned)blocks, 256, 0, (cudaStream_t)stream>>>(scores, rows, classes, best,
                                                                      cls);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        snprintf(err, err_bytes, "BatchedNMS argmax: %s", cudaGetErrorString(e));
        return (int)e;
    }
    return 0;
}

static __global__ void pack_kernel(const float *__restrict__ bx, const float *__restrict__ lm, int64_t rows, int L,
                                   float *__restrict__ dst) {
    int64_t W = 4 + L;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < rows * W;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / W, c = i % W;
        dst[i] = c < 4 ? bx[r * 4 + c] : lm[r * L + (c - 4)];
    }
}

extern "C" int ks__nms_plugin_pack_cuda(const float *boxes, const float *landmarks, int64_t rows, int L, float *dst,
                                        void *stream, char *err, size_t err_bytes) {
    if (rows <= 0)
        return 0;
    int64_t blocks = (rows * (4 + L) + 255) / 256;
    if (blocks > 65535)
        blocks = 65535;
    pack_kernel<<<(unsigned)blocks, 256, 0, (cudaStream_t)stream>>>(boxes, landmarks, rows, L, dst);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        snprintf(err, err_bytes, "BatchedNMS pack: %s", cudaGetErrorString(e));
        return (int)e;
    }
    return 0;
}
