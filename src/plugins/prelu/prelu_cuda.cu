// PRelu plugin CUDA kernel (see prelu_plugin.c). C launcher, no sync.
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

static __global__ void prelu_kernel(const float *__restrict__ x, const float *__restrict__ slope,
                                    float *__restrict__ y, int64_t n, int64_t inner,
                                    int64_t channels, int shared) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float v = x[i];
        float a = shared ? slope[0] : slope[(i / inner) % channels];
        y[i] = v >= 0.f ? v : a * v;
    }
}

extern "C" int ks__prelu_plugin_cuda(const float *x, const float *slope, float *y, int64_t n,
                                     int64_t inner, int64_t channels, int shared, void *stream,
                                     char *err, size_t err_bytes) {
    if (n <= 0)
        return 0;
    if (inner <= 0 || channels <= 0) {
        snprintf(err, err_bytes, "invalid shape (inner %lld, channels %lld)", (long long)inner,
                 (long long)channels);
        return 1;
    }
    int threads = 256;
    int64_t blocks = (n + threads - 1) / threads;
    if (blocks > 65535 * 8)
        blocks = 65535 * 8;
    prelu_kernel<<<(unsigned)blocks, threads, 0, (cudaStream_t)stream>>>(x, slope, y, n, inner,
                                                                          channels, shared);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        snprintf(err, err_bytes, "kernel launch: %s", cudaGetErrorString(e));
        return 1;
    }
    return 0;
}
