/* Thin CUDA-runtime wrappers for C code that cannot include CUDA headers
 * (tools, tests). All return 0 on success, else a cudaError_t value.
 * Declared weak by callers that must also link without CUDA. */
#ifndef KS_CUDA_DEVUTIL_H
#define KS_CUDA_DEVUTIL_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
int ks__dev_malloc(void **p, size_t n_bytes);
void ks__dev_free(void *p);
int ks__host_malloc_pinned(void **p, size_t n_bytes);
void ks__host_free_pinned(void *p);
int ks__stream_create(void **s);
void ks__stream_destroy(void *s);
int ks__stream_sync(void *s);
int ks__event_create(void **e);
void ks__event_destroy(void *e);
int ks__event_record(void *e, void *s);
int ks__event_sync(void *e);
float ks__event_ms(void *a, void *b);
/* kind: 1 H2D, 2 D2H, 3 D2D */
int ks__memcpy_async(void *dst, const void *src, size_t n_bytes, int kind, void *s);
int ks__dev_sync(void);
const char *ks__dev_error_str(int err);
/* Fills n elements of a float32/float16 device buffer with U[lo, hi). */
int ks__dev_fill_random(void *p, int64_t n, int dtype, float lo, float hi, uint32_t seed, void *s);
#ifdef __cplusplus
}
#endif
#endif
