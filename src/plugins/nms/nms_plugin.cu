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
