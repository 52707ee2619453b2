// CUDA half of the test plugin library (com.kestrel.test::Swish): compiled
// into libks_test_plugin when kestrel is built with CUDA. Public API only:
// the launcher gets device pointers and the cudaStream_t from run_cuda and
// only enqueues (it runs inside CUDA graph capture).
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

static __global__ void swish_kernel(const float *__restrict__ x, float *__restrict__ y, int64_t n,
                                    float beta) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float v = x[i];
        y[i] = v / (1.f + expf(-beta * v));
    }
}

// 0 or the CUDA error code, its text in err.
extern "C" int ks_test_swish_cuda(const float *x, float *y, int64_t n, float beta, void *stream,
                                  char *err, size_t err_bytes) {
    if (n <= 0)
        return 0;
    int64_t blocks = (n + 255) / 256;
    if (blocks > 4096)
        blocks = 4096;
    swish_kernel<<<(unsigned)blocks, 256, 0, (cudaStream_t)stream>>>(x, y, n, beta);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        snprintf(err, err_bytes, "%s", cudaGetErrorString(e));
        return (int)e;
    }
    return 0;
}
