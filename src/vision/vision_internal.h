/* src/vision internals shared by the .c files and the extern "C" CUDA launchers.
 * C11 inside extern "C" guards. Not a public header. */
#ifndef KS_VISION_INTERNAL_H
#define KS_VISION_INTERNAL_H

#include "kestrel/vision.h"
#include "vision/vision_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills a resolved image descriptor (plane pointers derived). */
ks_status ks__vimg_resolve(ks_context *ctx, const ks_image *img, ks_vimg *out);
/* Checks a preprocessing config and fills the kernel params. */
ks_status ks__vprep_params(ks_context *ctx, const ks_preprocess_config *cfg, ks_vprep_params *out);
/* Builds one image's descriptor (transform, content rect) and its inverse transform. */
ks_status ks__vprep_image(ks_context *ctx, const ks_preprocess_config *cfg, const ks_image *img,
                          ks_vprep_image *out, ks_affine *inv);
/* Checks decode params + inputs and fills the shared kernel descriptor. */
ks_status ks__vdec_build(ks_context *ctx, const ks_decode_params *p, const ks_decode_inputs *in,
                         const ks_candidates *out, ks_vdec *d);
ks_status ks__nms_check(ks_context *ctx, const ks_nms_params *p, const ks_candidates *in,
                        const ks_nms_outputs *out);

/* CUDA launchers (the .cu files of src/vision). Return 0 on success, else a cudaError_t value;
 * *msg receives the CUDA error text. They never synchronize or allocate. */
#define KS_VPREP_MAX_BATCH 32
int ks__vprep_cuda_launch(const ks_vprep_params *p, int n, const ks_vprep_image *images,
                          void *dst, void *stream, const char **msg);
int ks__vdec_cuda_launch(const ks_vdec *d, void *stream, const char **msg);
size_t ks__nms_cuda_ws_bytes(int32_t batch, int32_t n_rows, int32_t top_k);
int ks__nms_cuda_launch(const ks_nms_params *p, const ks_candidates *in, const ks_nms_outputs *out,
                        void *workspace, void *stream, const char **msg);
/* Small wrappers over the CUDA runtime for .c files (no cuda headers needed there). */
int ks__cuda_device_count(void);
int ks__cuda_malloc(void **p, size_t n_bytes, const char **msg);
void ks__cuda_free(void *p);
int ks__cuda_memcpy(void *dst, const void *src, size_t n_bytes, int kind, void *stream,
                    const char **msg); /* kind: 1 H2D, 2 D2H, 3 D2D; stream NULL = sync */
int ks__cuda_memcpy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                      size_t height, int kind, const char **msg);
int ks__cuda_stream_sync(void *stream, const char **msg);
int ks__cuda_stream_create(void **stream, const char **msg);
void ks__cuda_stream_destroy(void *stream);
int ks__cuda_memcpy2d_async(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                            size_t height, int kind, void *stream, const char **msg);
int ks__cuda_memset_async(void *dst, int value, size_t n, void *stream, const char **msg);
int ks__cuda_host_alloc(void **p, size_t n_bytes, const char **msg); /* pinned */
void ks__cuda_host_free(void *p);
/* CUDA graphs (stream capture, thread-local mode) and events. */
int ks__cuda_capture_begin(void *stream, const char **msg);
int ks__cuda_capture_end(void *stream, int ok, void **exec, const char **msg);
int ks__cuda_graph_launch(void *exec, void *stream, const char **msg);
void ks__cuda_graph_destroy(void *exec);
int ks__cuda_event_create(void **ev, const char **msg);
void ks__cuda_event_destroy(void *ev);
int ks__cuda_event_record(void *ev, void *stream);
float ks__cuda_event_ms(void *a, void *b);

#ifdef __cplusplus
}
#endif
#endif
