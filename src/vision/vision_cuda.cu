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

// ---- CUDA graphs of the whole detector pipeline (detector_gpu.c) and stage events.
extern "C" int ks__cuda_capture_begin(void *stream, const char **msg) {
    cudaError_t e = cudaStreamBeginCapture((cudaStream_t)stream, cudaStreamCaptureModeThreadLocal);
    return e == cudaSuccess ? 0 : fail(e, msg);
}

// Ends the capture on `stream`; on success turns it into *exec: updated in place when *exec
// already holds a graph of the same topology, else (re)instantiated. ok = 0 aborts (the
// captured graph is dropped).
extern "C" int ks__cuda_capture_end(void *stream, int ok, void **exec, const char **msg) {
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture((cudaStream_t)stream, &graph);
    if (e != cudaSuccess || !ok) {
        if (graph)
            cudaGraphDestroy(graph);
        cudaGetLastError();
        return e != cudaSuccess ? fail(e, msg) : 0;
    }
    if (*exec) {
        cudaGraphExecUpdateResultInfo info;
        if (cudaGraphExecUpdate((cudaGraphExec_t)*exec, graph, &info) == cudaSuccess) {
            cudaGraphDestroy(graph);
            return 0;
        }
        cudaGetLastError();
        cudaGraphExecDestroy((cudaGraphExec_t)*exec);
        *exec = NULL;
    }
    cudaGraphExec_t ge = NULL;
    e = cudaGraphInstantiate(&ge, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess)
        return fail(e, msg);
    *exec = (void *)ge;
    return 0;
}

extern "C" int ks__cuda_graph_launch(void *exec, void *stream, const char **msg) {
    cudaError_t e = cudaGraphLaunch((cudaGraphExec_t)exec, (cudaStream_t)stream);
    return e == cudaSuccess ? 0 : fail(e, msg);
}

extern "C" void ks__cuda_graph_destroy(void *exec) {
    if (exec)
        cudaGraphExecDestroy((cudaGraphExec_t)exec);
}

extern "C" int ks__cuda_event_create(void **ev, const char **msg) {
    cudaEvent_t e0;
    cudaError_t e = cudaEventCreate(&e0);
    *ev = e == cudaSuccess ? (void *)e0 : NULL;
    return e == cudaSuccess ? 0 : fail(e, msg);
}

extern "C" void ks__cuda_event_destroy(void *ev) {
    if (ev)
        cudaEventDestroy((cudaEvent_t)ev);
}

extern "C" int ks__cuda_event_record(void *ev, void *stream) {
    return (int)cudaEventRecord((cudaEvent_t)ev, (cudaStream_t)stream);
}

extern "C" float ks__cuda_event_ms(void *a, void *b) {
    float ms = 0;
    if (cudaEventElapsedTime(&ms, (cudaEvent_t)a, (cudaEvent_t)b) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return ms;
}
