// Box decoder kernel: one thread per (image, row) running ks_v_decode_row
// (vision_kernels.h), the same code as the CPU reference in decode.c.
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

// ------------------------------------------------------------------ decode

static __global__ void decode_kernel(const __grid_constant__ ks_vdec d) {
    int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t total = (int64_t)d.batch * d.n_rows;
    if (t >= total)
        return;
    ks_v_decode_row(&d, (int32_t)(t / d.n_rows), (int32_t)(t % d.n_rows));
}

extern "C" int ks__vdec_cuda_launch(const ks_vdec *d, void *stream, const char **msg) {
    int64_t total = (int64_t)d->batch * d->n_rows;
    if (total <= 0)
        return 0;
    int threads = 256;
    unsigned blocks = (unsigned)((total + threads - 1) / threads);
    decode_kernel<<<blocks, threads, 0, (cudaStream_t)stream>>>(*d);
    return launched(msg);
}
