/* CUDA runtime wrappers for tools and tests (see devutil.h). */
#include <cuda_runtime_api.h>

#include "backends/cuda/devutil.h"
#include "backends/cuda/kernels.h"
#include "kestrel/tensor.h"

int ks__dev_malloc(void **p, size_t n) { return (int)cudaMalloc(p, n ? n : 16); }
void ks__dev_free(void *p) { if (p) cudaFree(p); }
int ks__host_malloc_pinned(void **p, size_t n) { return (int)cudaMallocHost(p, n ? n : 16); }
void ks__host_free_pinned(void *p) { if (p) cudaFreeHost(p); }
int ks__stream_create(void **s) { return (int)cudaStreamCreateWithFlags((cudaStream_t *)s, cudaStreamNonBlocking); }
void ks__stream_destroy(void *s) { if (s) cudaStreamDestroy((cudaStream_t)s); }
int ks__stream_sync(void *s) { return (int)cudaStreamSynchronize((cudaStream_t)s); }
int ks__event_create(void **e) { return (int)cudaEventCreate((cudaEvent_t *)e); }
void ks__event_destroy(void *e) { if (e) cudaEventDestroy((cudaEvent_t)e); }
int ks__event_record(void *e, void *s) { return (int)cudaEventRecord((cudaEvent_t)e, (cudaStream_t)s); }
int ks__event_sync(void *e) { return (int)cudaEventSynchronize((cudaEvent_t)e); }
float ks__event_ms(void *a, void *b) {
    float ms = 0.f;
    cudaEventElapsedTime(&ms, (cudaEvent_t)a, (cudaEvent_t)b);
    return ms;
}
int ks__memcpy_async(void *dst, const void *src, size_t n, int kind, void *s) {
    enum cudaMemcpyKind k = kind == 1 ? cudaMemcpyHostToDevice
                            : kind == 2 ? cudaMemcpyDeviceToHost
                                        : cudaMemcpyDeviceToDevice;
    return (int)cudaMemcpyAsync(dst, src, n, k, (cudaStream_t)s);
}
int ks__dev_sync(void) { return (int)cudaDeviceSynchronize(); }
const char *ks__dev_error_str(int err) { return cudaGetErrorString((cudaError_t)err); }
int ks__dev_fill_random(void *p, int64_t n, int dtype, float lo, float hi, uint32_t seed, void *s) {
    if (dtype != KS_DTYPE_FLOAT32 && dtype != KS_DTYPE_FLOAT16)
        return (int)cudaMemsetAsync(p, 0, (size_t)n, (cudaStream_t)s);
    return ks__cu_fill_random(p, n, dtype == KS_DTYPE_FLOAT16, lo, hi, seed, s);
}
