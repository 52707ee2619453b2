// Thin CUDA runtime wrappers for the C files of src/vision (they include no CUDA
// headers). They return 0 or a cudaError_t value with its text in *msg.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "vision/vision_internal.h"

static int fail(cudaError_t e, const char **msg) {
    if (msg)
        *msg = cudaGetErrorString(e);
    return (int)e;
}

extern "C" int ks__cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

extern "C" int ks__cuda_malloc(void **p, size_t n_bytes, const char **msg) {
    cudaError_t e = cudaMalloc(p, n_bytes ? n_bytes : 1);
    return e == cudaSuccess ? 0 : fail(e, msg);
}

extern "C" void ks__cuda_free(void *p) {
    if (p)
        cudaFree(p);
}

static cudaMemcpyKind kind_of(int kind) {
    return kind == 1 ? cudaMemcpyHostToDevice : kind == 2 ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice;
}

extern "C" int ks__cuda_memcpy(void *dst, const void *src, size_t n, int kind, void *stream, const char **msg) {
    cudaError_t e = stream ? cudaMemcpyAsync(dst, src, n, kind_of(kind), (cudaStream_t)stream)
                           : cudaMemcpy(dst, src, n, kind_of(kind));
    return e == cudaSuccess ? 0 : fail(e, msg);
}

extern "C" int ks__cuda_memcpy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                                 size_t height, int kind, const char **msg) {
    cudaError_t e = cudaMemcpy2D(dst, dpitch, src, spitch, width, height, kind_of(kind));
    return e == cudaSuccess ? 0 : fail(e, msg);
}

extern "C" int ks__cuda_stream_sync(void *stream, const char **msg) {
    cudaError_t e = cudaStreamSynchronize((cudaStream_t)stream);
    return e == cudaSuccess ? 0 : fail(e, msg);
}


extern "C" int ks__cuda_stream_create(void **stream, const char **msg) {
    cudaStream_t s;
    cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    if (e != cudaSuccess)
        return fail(e, msg);
    *stream = (void *)s;
    return 0;
}

extern "C" void ks__cuda_stream_destroy(void *stream) {
    if (stream)
        cudaStreamDestroy((cudaStream_t)stream);
}

extern "C" int ks__cuda_memcpy2d_async(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                                       size_t height, int kind, void *stream, const char **msg) {
    cudaError_t e = cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, kind_of(kind), (cudaStream_t)stream);
    return e == cudaSuccess ? 0 : fail(e, msg);
}

extern "C" int ks__cuda_memset_async(void *dst, int value, size_t n, void *stream, const char **msg) {
    cudaError_t e = cudaMemsetAsync(dst, value, n, (cudaStream_t)stream);
    return e == cudaSuccess ? 0 : fail(e, msg);
}

extern "C" int ks__cuda_host_alloc(void **p, size_t n, const char **msg) {
    cudaError_t e = cudaMallocHost(p, n ? n : 1);
    return e == cudaSuccess ? 0 : fail(e, msg);
}

extern "C" void ks__cuda_host_free(void *p) {
    if (p)
        cudaFreeHost(p);
}
