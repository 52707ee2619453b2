/* kestrel — tensors.
 *
 * ks_tensor is a plain, caller-visible struct: dtype, shape and a data
 * pointer to dense row-major (C-order) storage. Who owns `data` depends on
 * where the tensor came from:
 *   - tensors the caller fills in and passes to the library are borrowed for
 *     the duration of the call only;
 *   - tensors the library returns (e.g. session outputs) own their data,
 *     allocated with the context's allocator; release with ks_tensor_release.
 * A dim of -1 in a model's declared shape means "dynamic" (see dim names in
 * model.h); tensors holding data always have concrete dims >= 0. */
#ifndef KESTREL_TENSOR_H
#define KESTREL_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include "kestrel/export.h"
#include "kestrel/status.h"
#include "kestrel/context.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KS_MAX_DIMS 8

#define KS_DTYPE_LIST(X)            \
    X(UNDEFINED, "undefined", 0)    \
    X(FLOAT32, "float32", 4)        \
    X(FLOAT16, "float16", 2)        \
    X(INT8, "int8", 1)              \
    X(INT32, "int32", 4)            \
    X(INT64, "int64", 8)            \
    X(UINT8, "uint8", 1)            \
    X(BOOL, "bool", 1)              \
    X(FLOAT64, "float64", 8)

typedef enum ks_dtype {
#define KS_X_(name, text, size) KS_DTYPE_##name,
    KS_DTYPE_LIST(KS_X_)
#undef KS_X_
    KS_DTYPE_COUNT
} ks_dtype;

typedef struct ks_tensor {
    ks_dtype dtype;
    int32_t ndim;                 /* 0 = scalar */
    int64_t dims[KS_MAX_DIMS];
    void *data;                   /* dense row-major; see ownership above */
} ks_tensor;

KS_API const char *ks_dtype_name(ks_dtype dt);       /* "float32" */
KS_API size_t ks_dtype_size(ks_dtype dt);            /* bytes per element; 0 if undefined */
KS_API ks_status ks_dtype_from_name(const char *name, ks_dtype *out);

/* Number of elements (product of dims; 1 for a scalar). Returns -1 if any dim
 * is negative or the product overflows int64. */
KS_API int64_t ks_tensor_numel(const ks_tensor *t);
/* Bytes of dense storage, or 0 on overflow / unknown dims. */
KS_API size_t ks_tensor_nbytes(const ks_tensor *t);

/* Allocates t->data for t's dtype and dims with ctx's allocator (zeroed).
 * t must not already own data. */
KS_API ks_status ks_tensor_alloc(ks_context *ctx, ks_tensor *t);
/* Frees data owned by the library (from ks_tensor_alloc or a session output)
 * and resets t->data to NULL. NULL t is accepted. */
KS_API void ks_tensor_release(ks_context *ctx, ks_tensor *t);

/* IEEE half <-> float conversion (round to nearest even). */
KS_API float ks_half_to_float(uint16_t h);
KS_API uint16_t ks_float_to_half(float f);

/* Formats a shape as "1x3x480x640" ("?" for -1) into buf; returns buf. */
KS_API char *ks_shape_str(const int64_t *dims, int ndim, char *buf, size_t buf_size);

/* .npy I/O (v1/v2 headers, little-endian, C order). */
KS_API ks_status ks_tensor_load_npy(ks_context *ctx, const char *path, ks_tensor *out);
KS_API ks_status ks_tensor_save_npy(ks_context *ctx, const char *path, const ks_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
