/* CPU reference kernels of the nn op family: shared helpers. Internal header.
 *
 * Element types: the MATH kernels run on FLOAT32 (fast path) and FLOAT64.
 * Rather than duplicate loops per type, a kernel body is written once as a
 * KS_NN_INLINE function taking the dtype as a parameter, and called with a
 * compile-time constant (KS_DTYPE_FLOAT32 / KS_DTYPE_FLOAT64); the compiler
 * folds ks__nn_ld / ks__nn_st into plain typed loads and stores. The
 * matrix-multiply core (the hot loop of Conv, ConvTranspose, MatMul, Gemm) is
 * instantiated per type explicitly in matmul.c. */
#ifndef KS_CPU_NN_COMMON_H
#define KS_CPU_NN_COMMON_H

#include <string.h>

#include "graph/params_nn.h"

#if defined(__GNUC__)
#define KS_NN_INLINE static inline __attribute__((always_inline))
#else
#define KS_NN_INLINE static inline
#endif

/* Reads element i of typed storage as double (dt constant-folded). */
KS_NN_INLINE double ks__nn_ld(const void *p, ks_dtype dt, int64_t i) {
    switch (dt) {
    case KS_DTYPE_FLOAT32:
        return ((const float *)p)[i];
    case KS_DTYPE_FLOAT64:
        return ((const double *)p)[i];
    case KS_DTYPE_INT8:
        return ((const int8_t *)p)[i];
    case KS_DTYPE_UINT8:
        return ((const uint8_t *)p)[i];
    case KS_DTYPE_INT32:
        return ((const int32_t *)p)[i];
    case KS_DTYPE_INT64:
        return (double)((const int64_t *)p)[i];
    default:
        return 0.0;
    }
}

/* Writes v to element i (float / double; integer types by truncation of a
 * value known to be representable, e.g. a max of the same type). */
KS_NN_INLINE void ks__nn_st(void *p, ks_dtype dt, int64_t i, double v) {
    switch (dt) {
    case KS_DTYPE_FLOAT32:
        ((float *)p)[i] = (float)v;
        break;
    case KS_DTYPE_FLOAT64:
        ((double *)p)[i] = v;
        break;
    case KS_DTYPE_INT8:
        ((int8_t *)p)[i] = (int8_t)v;
        break;
    case KS_DTYPE_UINT8:
        ((uint8_t *)p)[i] = (uint8_t)v;
        break;
    case KS_DTYPE_INT32:
        ((int32_t *)p)[i] = (int32_t)v;
        break;
    case KS_DTYPE_INT64:
        ((int64_t *)p)[i] = (int64_t)v;
        break;
    default:
        break;
    }
}

/* Checks that the given tensors (NULL skipped) are all FLOAT32 or all
 * FLOAT64; UNSUPPORTED_DTYPE naming the op otherwise. */
ks_status ks__nn_check_float(const ks_op_ctx *oc, int n, const ks_tensor *const *ts);

/* --- matrix multiply core (matmul.c) ---
 * Packed B: columns in panels of KS_NN_NR, panel q holding columns
 * [q*NR, q*NR+NR) as bp[(q*K + k)*NR + t], the last panel zero-filled.
 * ks__nn_pack_b_*: packs B(k, n) = b[k*b_rs + n*b_cs] for k < K, n < N into bp
 * (ks__nn_packed_size elements).
 * ks__nn_gemm_*: C(m, n) += sum_k A(m, k) * B(k, n) for m < M, n < N with
 * A(m, k) = a[m*a_rs + k*a_cs] and C(m, n) = c[m*ldc + n]; sums over k in
 * order, in the element type. */
#define KS_NN_NR 8
static inline int64_t ks__nn_packed_size(int64_t k, int64_t n) {
    return ((n + KS_NN_NR - 1) / KS_NN_NR) * KS_NN_NR * k;
}
void ks__nn_pack_b_f32(int64_t K, int64_t N, const float *b, int64_t b_rs, int64_t b_cs, float *bp);
void ks__nn_pack_b_f64(int64_t K, int64_t N, const double *b, int64_t b_rs, int64_t b_cs,
                       double *bp);
void ks__nn_gemm_f32(int64_t M, int64_t N, int64_t K, const float *a, int64_t a_rs, int64_t a_cs,
                     const float *bp, float *c, int64_t ldc);
void ks__nn_gemm_f64(int64_t M, int64_t N, int64_t K, const double *a, int64_t a_rs, int64_t a_cs,
                     const double *bp, double *c, int64_t ldc);

/* Dispatch on dtype (FLOAT32 / FLOAT64) with void pointers. */
static inline void ks__nn_pack_b(ks_dtype dt, int64_t K, int64_t N, const void *b, int64_t b_rs,
                                 int64_t b_cs, void *bp) {
    if (dt == KS_DTYPE_FLOAT64)
        ks__nn_pack_b_f64(K, N, (const double *)b, b_rs, b_cs, (double *)bp);
    else
        ks__nn_pack_b_f32(K, N, (const float *)b, b_rs, b_cs, (float *)bp);
}
static inline void ks__nn_gemm(ks_dtype dt, int64_t M, int64_t N, int64_t K, const void *a,
                               int64_t a_rs, int64_t a_cs, const void *bp, void *c, int64_t ldc) {
    if (dt == KS_DTYPE_FLOAT64)
        ks__nn_gemm_f64(M, N, K, (const double *)a, a_rs, a_cs, (const double *)bp, (double *)c,
                        ldc);
    else
        ks__nn_gemm_f32(M, N, K, (const float *)a, a_rs, a_cs, (const float *)bp, (float *)c, ldc);
}

/* Allocates n elements of es bytes as scratch (ctx allocator), reporting
 * OUT_OF_MEMORY through oc. */
ks_status ks__nn_scratch(const ks_op_ctx *oc, int64_t n, size_t es, void **out);


/* Conv/pool window geometry padded to 3 spatial axes (leading axes of size 1),
 * so 1-D, 2-D and 3-D windows share one loop nest. */
typedef struct geom3 {
    int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
} geom3;

static inline void ks__nn_geom3_from(const ks_window_params *p, geom3 *g) {
    int n = p->n_spatial;
    for (int i = 0; i < 3; i++) {
        int j = i - (3 - n);
        if (j < 0) {
            g->in[i] = g->out[i] = g->k[i] = g->s[i] = g->d[i] = 1;
            g->pb[i] = g->pe[i] = 0;
        } else {
            g->in[i] = p->in[j];
            g->out[i] = p->out[j];
            g->k[i] = p->kernel[j];
            g->s[i] = p->stride[j];
            g->d[i] = p->dilation[j];
            g->pb[i] = p->pad_begin[j];
            g->pe[i] = p->pad_end[j];
        }
    }
}

#endif
