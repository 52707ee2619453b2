/* CPU reference: the matrix-multiply core shared by the nn kernels, plus
 * MatMul and Gemm.
 *
 * The core is a plain register-blocked loop: B is packed into panels of
 * KS_NN_NR columns so each 4 x NR block of C is computed from contiguous
 * memory with its accumulators held in registers; the compiler vectorizes
 * the NR-wide inner loop. Sums over k run in order in the element type. */
#include "backends/cpu/nn_common.h"

ks_status ks__nn_check_float(const ks_op_ctx *oc, int n, const ks_tensor *const *ts) {
    ks_dtype dt = KS_DTYPE_UNDEFINED;
    for (int i = 0; i < n; i++) {
        if (!ts[i])
            continue;
        if (ts[i]->dtype != KS_DTYPE_FLOAT32 && ts[i]->dtype != KS_DTYPE_FLOAT64)
            return ks__op_error(oc, KS_UNSUPPORTED_DTYPE,
                                "%s: %s tensors are not supported "
                                "(float32, float64)",
                                ks__op_name(oc->node->op), ks_dtype_name(ts[i]->dtype));
        if (dt != KS_DTYPE_UNDEFINED && ts[i]->dtype != dt)
            return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "%s: mixed element types %s and %s",
                                ks__op_name(oc->node->op), ks_dtype_name(dt),
                                ks_dtype_name(ts[i]->dtype));
        dt = ts[i]->dtype;
    }
    return KS_OK;
}

ks_status ks__nn_scratch(const ks_op_ctx *oc, int64_t n, size_t es, void **out) {
    size_t nb = (size_t)(n > 0 ? n : 1) * es;
    *out = ks__alloc(oc->ctx, nb);
    if (!*out)
        return ks__oom(oc->ctx, nb, ks__op_name(oc->node->op));
    return KS_OK;
}

#define NR KS_NN_NR

#define KS_NN_PACK_DEF(NAME, T)                                                                    \
    void NAME(int64_t K, int64_t N, const T *b, int64_t b_rs, int64_t b_cs, T *bp) {               \
        for (int64_t n0 = 0; n0 < N; n0 += NR) {                                                   \
            int64_t nr = N - n0 < NR ? N - n0 : NR;                                                \
            T *dst = bp + n0 * K;                                                                  \
            for (int64_t k = 0; k < K; k++, dst += NR) {                                           \
                const T *src = b + k * b_rs + n0 * b_cs;                                           \
                int64_t t = 0;                                                                     \
                for (; t < nr; t++)                                                                \
                    dst[t] = src[t * b_cs];                                                        \
                for (; t < NR; t++)                                                                \
                    dst[t] = 0;                                                                    \
            }                                                                                      \
        }                                                                                          \
    }

KS_NN_PACK_DEF(ks__nn_pack_b_f32, float)
KS_NN_PACK_DEF(ks__nn_pack_b_f64, double)

/* The micro-kernels keep a 4 x NR block of C in registers across the whole
 * k loop. With GCC / Clang they are written with generic vector types
 * (vector_size: portable C extensions, no ISA intrinsics; the compiler
 * splits them into whatever registers the target has). Left to the
 * auto-vectorizer, GCC vectorizes the k loop across rows of A with shuffles
 * instead, about 4x slower. Other compilers get the plain loops. */
#if defined(__GNUC__)
#define KS_NN_VEC 1
/* 16-byte vectors: wider generic vectors are lowered through the stack on
 * targets without them (plain x86-64 has SSE2 only). */
typedef float ks_v4f __attribute__((vector_size(16)));
typedef double ks_v2d __attribute__((vector_size(16)));
#endif

#if KS_NN_VEC
/* NV vectors of VT per row of the block */
#define KS_NN_GEMM_MK(NAME, T, VT)                                                                 \
    enum { NAME##_NV = NR * (int)sizeof(T) / 16, NAME##_VL = 16 / (int)sizeof(T) };                \
    static void NAME##_4xnr(int64_t K, const T *a, int64_t a_rs, int64_t a_cs,                     \
                            const T *restrict bp, T *c, int64_t ldc, int64_t nr) {                 \
        VT acc[4][NAME##_NV];                                                                      \
        memset(acc, 0, sizeof acc);                                                                \
        const T *a0 = a, *a1 = a + a_rs, *a2 = a + 2 * a_rs, *a3 = a + 3 * a_rs;                   \
        for (int64_t k = 0; k < K; k++, bp += NR) {                                                \
            T s0 = a0[k * a_cs], s1 = a1[k * a_cs], s2 = a2[k * a_cs], s3 = a3[k * a_cs];          \
            for (int v = 0; v < NAME##_NV; v++) {                                                  \
                VT b;                                                                              \
                memcpy(&b, bp + v * NAME##_VL, sizeof b);                                          \
                acc[0][v] += s0 * b;                                                               \
                acc[1][v] += s1 * b;                                                               \
                acc[2][v] += s2 * b;                                                               \
                acc[3][v] += s3 * b;                                                               \
            }                                                                                      \
        }                                                                                          \
        T out[4][NR];                                                                              \
        memcpy(out, acc, sizeof out);                                                              \
        for (int64_t t = 0; t < nr; t++) {                                                         \
            c[t] += out[0][t];                                                                     \
            c[ldc + t] += out[1][t];                                                               \
            c[2 * ldc + t] += out[2][t];                                                           \
            c[3 * ldc + t] += out[3][t];                                                           \
        }                                                                                          \
    }                                                                                              \
    static void NAME##_1xnr(int64_t K, const T *a, int64_t a_cs, const T *restrict bp, T *c,       \
                            int64_t nr) {                                                          \
        VT acc[NAME##_NV];                                                                         \
        memset(acc, 0, sizeof acc);                                                                \
        for (int64_t k = 0; k < K; k++, bp += NR) {                                                \
            T s0 = a[k * a_cs];                                                                    \
            for (int v = 0; v < NAME##_NV; v++) {                                                  \
                VT b;                                                                              \
                memcpy(&b, bp + v * NAME##_VL, sizeof b);                                          \
                acc[v] += s0 * b;                                                                  \
            }                                                                                      \
        }                                                                                          \
        T out[NR];                                                                                 \
        memcpy(out, acc, sizeof out);                                                              \
        for (int64_t t = 0; t < nr; t++)                                                           \
            c[t] += out[t];                                                                        \
    }
#else
#define KS_NN_GEMM_MK(NAME, T, VT)                                                                 \
    static void NAME##_4xnr(int64_t K, const T *a, int64_t a_rs, int64_t a_cs,                     \
                            const T *restrict bp, T *c, int64_t ldc, int64_t nr) {                 \
        T acc0[NR] = {0}, acc1[NR] = {0}, acc2[NR] = {0}, acc3[NR] = {0};                          \
        const T *a0 = a, *a1 = a + a_rs, *a2 = a + 2 * a_rs, *a3 = a + 3 * a_rs;                   \
        for (int64_t k = 0; k < K; k++, bp += NR) {                                                \
            T v0 = a0[k * a_cs], v1 = a1[k * a_cs], v2 = a2[k * a_cs], v3 = a3[k * a_cs];          \
            for (int t = 0; t < NR; t++) {                                                         \
                acc0[t] += v0 * bp[t];                                                             \
                acc1[t] += v1 * bp[t];                                                             \
                acc2[t] += v2 * bp[t];                                                             \
                acc3[t] += v3 * bp[t];                                                             \
            }                                                                                      \
        }                                                                                          \
        for (int64_t t = 0; t < nr; t++) {                                                         \
            c[t] += acc0[t];                                                                       \
            c[ldc + t] += acc1[t];                                                                 \
            c[2 * ldc + t] += acc2[t];                                                             \
            c[3 * ldc + t] += acc3[t];                                                             \
        }                                                                                          \
    }                                                                                              \
    static void NAME##_1xnr(int64_t K, const T *a, int64_t a_cs, const T *restrict bp, T *c,       \
                            int64_t nr) {                                                          \
        T acc[NR] = {0};                                                                           \
        for (int64_t k = 0; k < K; k++, bp += NR) {                                                \
            T v = a[k * a_cs];                                                                     \
            for (int t = 0; t < NR; t++)                                                           \
                acc[t] += v * bp[t];                                                               \
        }                                                                                          \
        for (int64_t t = 0; t < nr; t++)                                                           \
            c[t] += acc[t];                                                                        \
    }
#endif

/* C += A * Bpacked: 4-row blocks, then single rows. */
#define KS_NN_GEMM_DEF(NAME, T, VT)                                                                \
    KS_NN_GEMM_MK(NAME, T, VT)                                                                     \
    void NAME(int64_t M, int64_t N, int64_t K, const T *a, int64_t a_rs, int64_t a_cs,             \
              const T *bp, T *c, int64_t ldc) {                                                    \
        int64_t m = 0;                                                                             \
        for (; m + 4 <= M; m += 4)                                                                 \
            for (int64_t n0 = 0; n0 < N; n0 += NR)                                                 \
                NAME##_4xnr(K, a + m * a_rs, a_rs, a_cs, bp + n0 * K, c + m * ldc + n0, ldc,       \
                            N - n0 < NR ? N - n0 : NR);                                            \
        for (; m < M; m++)                                                                         \
            for (int64_t n0 = 0; n0 < N; n0 += NR)                                                 \
                NAME##_1xnr(K, a + m * a_rs, a_cs, bp + n0 * K, c + m * ldc + n0,                  \
                            N - n0 < NR ? N - n0 : NR);                                            \
    }

KS_NN_GEMM_DEF(ks__nn_gemm_f32, float, ks_v4f)
KS_NN_GEMM_DEF(ks__nn_gemm_f64, double, ks_v2d)

/* ------------------------------------------------------------ MatMul */

ks_status ks__cpu_matmul(ks_op_ctx *oc) {
    const ks_tensor *a = oc->in[0], *b = oc->in[1];
    ks_tensor *y = oc->out[0];
    const ks_tensor *ts[3] = {a, b, y};
    KS_CHECK(ks__nn_check_float(oc, 3, ts));
    ks_matmul_params p;
    KS_CHECK(ks__matmul_params(oc, a, b, &p));
    ks_dtype dt = a->dtype;
    size_t es = ks_dtype_size(dt);
    int64_t M = p.m, K = p.k, N = p.n;
    int64_t n_batch = 1;
    for (int i = 0; i < p.n_batch; i++)
        n_batch *= p.batch[i];
    memset(y->data, 0, ks_tensor_nbytes(y));
    if (n_batch == 0 || M == 0 || N == 0)
        return KS_OK;
    /* batch strides of a and b (elements), 0 where broadcast */
    int64_t sa[KS_MAX_DIMS], sb[KS_MAX_DIMS];
    int64_t ra = M * K, rb = K * N;
    for (int i = p.n_batch - 1; i >= 0; i--) {
        sa[i] = p.a_batch[i] == 1 ? 0 : ra;
        sb[i] = p.b_batch[i] == 1 ? 0 : rb;
        ra *= p.a_batch[i];
        rb *= p.b_batch[i];
    }
    int b_shared = 1; /* same B for every batch: pack once */
    for (int i = 0; i < p.n_batch; i++)
        if (sb[i])
            b_shared = 0;
    /* b_shared and a contiguous over batches: one GEMM with M * n_batch rows */
    int a_full = 1;
    for (int i = 0; i < p.n_batch; i++)
        if (p.a_batch[i] != p.batch[i])
            a_full = 0;
    void *bp;
    KS_CHECK(ks__nn_scratch(oc, ks__nn_packed_size(K, N), es, &bp));
    if (b_shared && a_full) {
        ks__nn_pack_b(dt, K, N, b->data, N, 1, bp);
        ks__nn_gemm(dt, M * n_batch, N, K, a->data, K, 1, bp, y->data, N);
        ks__free(oc->ctx, bp);
        return KS_OK;
    }
    int64_t idx[KS_MAX_DIMS] = {0};
    int64_t last_b = -1;
    for (int64_t bi = 0; bi < n_batch; bi++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < p.n_batch; i++) {
            oa += idx[i] * sa[i];
            ob += idx[i] * sb[i];
        }
        if (ob != last_b) {
            ks__nn_pack_b(dt, K, N, (const char *)b->data + ob * es, N, 1, bp);
            last_b = ob;
        }
        ks__nn_gemm(dt, M, N, K, (const char *)a->data + oa * es, K, 1, bp,
                    (char *)y->data + bi * M * N * es, N);
        for (int i = p.n_batch - 1; i >= 0; i--) {
            if (++idx[i] < p.batch[i])
                break;
            idx[i] = 0;
        }
    }
    ks__free(oc->ctx, bp);
    return KS_OK;
}

/* ------------------------------------------------------------ Gemm */

KS_NN_INLINE void gemm_epilogue(ks_dtype dt, void *y, int64_t M, int64_t N, double alpha,
                                double beta, const ks_tensor *c) {
    int64_t crs = 0, ccs = 0;
    if (c && c->ndim >= 1) {
        int64_t d1 = c->dims[c->ndim - 1], d0 = c->ndim == 2 ? c->dims[0] : 1;
        ccs = d1 == 1 ? 0 : 1;
        crs = d0 == 1 ? 0 : d1;
    }
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double v = ks__nn_ld(y, dt, m * N + n);
            if (alpha != 1.0)
                v *= alpha;
            if (c && beta != 0.0)
                v += beta * ks__nn_ld(c->data, dt, m * crs + n * ccs);
            ks__nn_st(y, dt, m * N + n, v);
        }
}

ks_status ks__cpu_gemm(ks_op_ctx *oc) {
    const ks_tensor *a = oc->in[0], *b = oc->in[1];
    const ks_tensor *c = oc->n_in > 2 ? oc->in[2] : NULL;
    ks_tensor *y = oc->out[0];
    const ks_tensor *ts[4] = {a, b, c, y};
    KS_CHECK(ks__nn_check_float(oc, 4, ts));
    ks_gemm_params p;
    KS_CHECK(ks__gemm_params(oc, a, b, &p));
    ks_dtype dt = a->dtype;
    size_t es = ks_dtype_size(dt);
    int64_t M = p.m, N = p.n, K = p.k;
    memset(y->data, 0, ks_tensor_nbytes(y));
    if (M == 0 || N == 0)
        return KS_OK;
    void *bp;
    KS_CHECK(ks__nn_scratch(oc, ks__nn_packed_size(K, N), es, &bp));
    /* B(k, n): [K, N] row-major, or [N, K] when transposed */
    if (p.trans_b)
        ks__nn_pack_b(dt, K, N, b->data, 1, K, bp);
    else
        ks__nn_pack_b(dt, K, N, b->data, N, 1, bp);
    if (p.alpha != 0.0f) {
        if (p.trans_a)
            ks__nn_gemm(dt, M, N, K, a->data, 1, M, bp, y->data, N);
        else
            ks__nn_gemm(dt, M, N, K, a->data, K, 1, bp, y->data, N);
    }
    ks__free(oc->ctx, bp);
    if (dt == KS_DTYPE_FLOAT64)
        gemm_epilogue(KS_DTYPE_FLOAT64, y->data, M, N, p.alpha, p.beta, c);
    else
        gemm_epilogue(KS_DTYPE_FLOAT32, y->data, M, N, p.alpha, p.beta, c);
    return KS_OK;
}
