/* CPU reference: broadcasting arithmetic (Add Sub Mul Div Pow Mod Min Max
 * Sum Mean) and unary math (Exp Log Sqrt Reciprocal Neg Abs Sign Floor Ceil
 * Round Sin Cos).
 *
 * Semantics (ONNX, numpy):
 *  - float32/float64 compute in their own type; float16 converts each
 *    element to float, computes, and rounds back (as numpy does).
 *  - integer Add/Sub/Mul/Neg/Abs wrap around (two's complement); integer
 *    Div truncates toward zero (C semantics, as onnxruntime); x / 0 and
 *    x % 0 give 0 instead of trapping.
 *  - Mod fmod=0 takes the sign of the divisor (Python %), fmod=1 the sign
 *    of the dividend (C fmod).
 *  - Min/Max propagate NaN.
 *  - Pow: output dtype = base dtype; integer ** integer by repeated
 *    squaring, anything else through double pow() and then converted
 *    (truncated) to the base dtype. */
#include <math.h>
#include <string.h>

#include "backends/cpu/elementwise.h"

/* ------------------------------------------------------------ broadcast */

int ks__bcast_init(ks_bcast *b, const ks_tensor *out, int n_in, const ks_tensor *const *in) {
    memset(b, 0, sizeof(*b));
    if (n_in < 1 || n_in > KS_BC_MAX_IN || out->ndim < 0 || out->ndim > KS_MAX_DIMS)
        return 0;
    int n = out->ndim;
    int64_t dims[KS_MAX_DIMS];
    int64_t st[KS_BC_MAX_IN][KS_MAX_DIMS];
    for (int k = 0; k < n_in; k++) {
        const ks_tensor *t = in[k];
        if (t->ndim < 0 || t->ndim > n)
            return 0;
        int64_t s = 1;
        for (int i = n - 1; i >= 0; i--) {
            int ti = i - (n - t->ndim);
            int64_t d = ti >= 0 ? t->dims[ti] : 1;
            if (d == out->dims[i]) {
                st[k][i] = d == 1 ? 0 : s;
            } else if (d == 1) {
                st[k][i] = 0;
            } else {
                return 0;
            }
            s *= d;
        }
    }
    /* drop size-1 dims, then merge adjacent dims every input walks alike */
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (out->dims[i] == 1)
            continue;
        if (m > 0) {
            int merge = 1;
            for (int k = 0; k < n_in; k++)
                if (st[k][m - 1] != st[k][i] * out->dims[i])
                    merge = 0;
            if (merge) {
                dims[m - 1] *= out->dims[i];
                for (int k = 0; k < n_in; k++)
                    st[k][m - 1] = st[k][i];
                continue;
            }
        }
        dims[m] = out->dims[i];
        for (int k = 0; k < n_in; k++)
            st[k][m] = st[k][i];
        m++;
    }
    if (m == 0) {
        dims[0] = 1;
        for (int k = 0; k < n_in; k++)
            st[k][0] = 0;
        m = 1;
    }
    b->n_in = n_in;
    b->ndim = m;
    memcpy(b->dims, dims, sizeof(dims[0]) * (size_t)m);
    for (int k = 0; k < n_in; k++) {
        memcpy(b->st[k], st[k], sizeof(st[k][0]) * (size_t)m);
        b->inner[k] = st[k][m - 1];
    }
    b->row_len = dims[m - 1];
    b->n_rows = 1;
    for (int i = 0; i < m - 1; i++)
        b->n_rows *= dims[i];
    if (b->row_len == 0)
        b->n_rows = 0;
    return 1;
}

void ks__bcast_next(ks_bcast *b) {
    for (int i = b->ndim - 2; i >= 0; i--) {
        b->ctr[i]++;
        for (int k = 0; k < b->n_in; k++)
            b->off[k] += b->st[k][i];
        if (b->ctr[i] < b->dims[i])
            return;
        for (int k = 0; k < b->n_in; k++)
            b->off[k] -= b->st[k][i] * b->dims[i];
        b->ctr[i] = 0;
    }
}

/* ------------------------------------------------------------ row kernels */

/* o[i] = f(a[i*sa], b[i*sb]) for i < n; sa, sb are 0 or 1. */
typedef void (*row2_fn)(const void *a, int64_t sa, const void *b, int64_t sb, void *o, int64_t n,
                        int flag);

/* loads/stores per storage type; half converts through float */
#define LD_A_float(i) x = a[i]
#define LD_B_float(i) y = b[i]
#define LD_A_double(i) x = a[i]
#define LD_B_double(i) y = b[i]
#define LD_A_int8_t(i) x = a[i]
#define LD_B_int8_t(i) y = b[i]
#define LD_A_uint8_t(i) x = a[i]
#define LD_B_uint8_t(i) y = b[i]
#define LD_A_int32_t(i) x = a[i]
#define LD_B_int32_t(i) y = b[i]
#define LD_A_int64_t(i) x = a[i]
#define LD_B_int64_t(i) y = b[i]
#define LD_A_uint16_t(i) x = ks_half_to_float(a[i])
#define LD_B_uint16_t(i) y = ks_half_to_float(b[i])

/* The store needs the op's expression, so each op defines its rows with a
 * dedicated macro taking the expression in x and y. */
#define DEF_ROW_T(name, T, CT, EXPR, STOREX)                                               \
    static void name(const void *a_, int64_t sa, const void *b_, int64_t sb, void *o_,     \
                     int64_t n, int flag) {                                                \
        const T *a = (const T *)a_;                                                        \
        const T *b = (const T *)b_;                                                        \
        T *o = (T *)o_;                                                                    \
        CT x, y;                                                                           \
        (void)flag;                                                                        \
        if (sa == 1 && sb == 1) {                                                          \
            for (int64_t i = 0; i < n; i++) {                                              \
                LD_A_##T(i);                                                               \
                LD_B_##T(i);                                                               \
                o[i] = STOREX(EXPR);                                                       \
            }                                                                              \
        } else if (sb == 0) {                                                              \
            LD_B_##T(0);                                                                   \
            for (int64_t i = 0; i < n; i++) {                                              \
                LD_A_##T(i * sa);                                                          \
                o[i] = STOREX(EXPR);                                                       \
            }                                                                              \
        } else { /* sa == 0, sb == 1 */                                                    \
            LD_A_##T(0);                                                                   \
            for (int64_t i = 0; i < n; i++) {                                              \
                LD_B_##T(i);                                                               \
                o[i] = STOREX(EXPR);                                                       \
            }                                                                              \
        }                                                                                  \
    }

#define ST_PLAIN(v) (v)
#define ST_HALF(v) ks_float_to_half((float)(v))

/* Defines name_f32 ... name_i64 and a dtype switch name_row(). FEXPR is the
 * float expression (x, y of the float type), IEXPR the integer one (x, y
 * int64_t; result converted to the storage type, wrapping). */
#define DEF_BIN(name, FEXPR, IEXPR)                                              \
    DEF_ROW_T(name##_f32, float, float, FEXPR, (float)ST_PLAIN)                  \
    DEF_ROW_T(name##_f64, double, double, FEXPR, (double)ST_PLAIN)               \
    DEF_ROW_T(name##_f16, uint16_t, float, FEXPR, ST_HALF)                       \
    DEF_ROW_T(name##_i8, int8_t, int64_t, IEXPR, (int8_t)ST_PLAIN)               \
    DEF_ROW_T(name##_u8, uint8_t, int64_t, IEXPR, (uint8_t)ST_PLAIN)             \
    DEF_ROW_T(name##_i32, int32_t, int64_t, IEXPR, (int32_t)ST_PLAIN)            \
    DEF_ROW_T(name##_i64, int64_t, int64_t, IEXPR, (int64_t)ST_PLAIN)            \
    static row2_fn name##_row(ks_dtype dt) {                                     \
        switch (dt) {                                                            \
        case KS_DTYPE_FLOAT32: return name##_f32;                                \
        case KS_DTYPE_FLOAT64: return name##_f64;                                \
        case KS_DTYPE_FLOAT16: return name##_f16;                                \
        case KS_DTYPE_INT8: return name##_i8;                                    \
        case KS_DTYPE_UINT8: return name##_u8;                                   \
        case KS_DTYPE_INT32: return name##_i32;                                  \
        case KS_DTYPE_INT64: return name##_i64;                                  \
        default: return NULL;                                                    \
        }                                                                        \
    }

/* integer helpers on int64 with wrap-around and no traps */
static inline int64_t wrap_add(int64_t x, int64_t y) { return (int64_t)((uint64_t)x + (uint64_t)y); }
static inline int64_t wrap_sub(int64_t x, int64_t y) { return (int64_t)((uint64_t)x - (uint64_t)y); }
static inline int64_t wrap_mul(int64_t x, int64_t y) { return (int64_t)((uint64_t)x * (uint64_t)y); }
static inline int64_t idiv(int64_t x, int64_t y) {
    if (y == 0)
        return 0;
    if (y == -1)
        return (int64_t)(0 - (uint64_t)x);
    return x / y;
}
static inline int64_t imod(int64_t x, int64_t y, int fmod_) {
    if (y == 0 || y == -1)
        return 0;
    int64_t r = x % y;
    if (!fmod_ && r != 0 && ((r < 0) != (y < 0)))
        r += y;
    return r;
}
static inline double fmod_py(double x, double y, int fmod_) {
    double r = fmod(x, y);
    if (!fmod_ && r != 0 && ((r < 0) != (y < 0)))
        r += y;
    return r;
}
#define FMIN(x, y) ((x) != (x) ? (x) : (y) != (y) ? (y) : (x) < (y) ? (x) : (y))
#define FMAX(x, y) ((x) != (x) ? (x) : (y) != (y) ? (y) : (x) > (y) ? (x) : (y))
#define IMIN(x, y) ((x) < (y) ? (x) : (y))
#define IMAX(x, y) ((x) > (y) ? (x) : (y))

DEF_BIN(add, x + y, wrap_add(x, y))
DEF_BIN(sub, x - y, wrap_sub(x, y))
DEF_BIN(mul, x * y, wrap_mul(x, y))
DEF_BIN(div, x / y, idiv(x, y))
DEF_BIN(mod, fmod_py(x, y, flag), imod(x, y, flag))
DEF_BIN(min, FMIN(x, y), IMIN(x, y))
DEF_BIN(max, FMAX(x, y), IMAX(x, y))

/* ------------------------------------------------------------ drivers */

static ks_status check_dtypes(ks_op_ctx *oc, int first, int n) {
    for (int i = first; i < n; i++) {
        if (!oc->in[i])
            return ks__op_error(oc, KS_INVALID_MODEL, "input %d is missing", i);
        if (oc->in[i]->dtype != oc->in[first]->dtype)
            return ks__op_error(oc, KS_INVALID_MODEL, "input %d has dtype %s, input %d has %s", i,
                                ks_dtype_name(oc->in[i]->dtype), first,
                                ks_dtype_name(oc->in[first]->dtype));
    }
    return KS_OK;
}

/* out = row(a, b) with broadcasting; a or b may alias out when they have
 * out's shape. */
static ks_status run_bin(ks_op_ctx *oc, row2_fn row, const ks_tensor *a, const ks_tensor *b,
                         ks_tensor *out, int flag) {
    const ks_tensor *ins[2] = {a, b};
    ks_bcast bc;
    if (!ks__bcast_init(&bc, out, 2, ins)) {
        char sa[64], sb[64], so[64];
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "cannot broadcast %s and %s to %s",
                            ks_shape_str(a->dims, a->ndim, sa, sizeof sa),
                            ks_shape_str(b->dims, b->ndim, sb, sizeof sb),
                            ks_shape_str(out->dims, out->ndim, so, sizeof so));
    }
    size_t es = ks_dtype_size(out->dtype);
    const char *pa = (const char *)a->data, *pb = (const char *)b->data;
    char *po = (char *)out->data;
    for (int64_t r = 0; r < bc.n_rows; r++, ks__bcast_next(&bc))
        row(pa + (size_t)bc.off[0] * es, bc.inner[0], pb + (size_t)bc.off[1] * es, bc.inner[1],
            po + (size_t)(r * bc.row_len) * es, bc.row_len, flag);
    return KS_OK;
}

/* Copies `in` broadcast to out's shape (same dtype). */
static ks_status bcast_copy(ks_op_ctx *oc, const ks_tensor *in, ks_tensor *out) {
    const ks_tensor *ins[1] = {in};
    ks_bcast bc;
    if (!ks__bcast_init(&bc, out, 1, ins))
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "input does not broadcast to the output");
    size_t es = ks_dtype_size(out->dtype);
    const char *pi = (const char *)in->data;
    char *po = (char *)out->data;
    for (int64_t r = 0; r < bc.n_rows; r++, ks__bcast_next(&bc)) {
        char *dst = po + (size_t)(r * bc.row_len) * es;
        const char *src = pi + (size_t)bc.off[0] * es;
        if (bc.inner[0])
            memcpy(dst, src, (size_t)bc.row_len * es);
        else
            for (int64_t i = 0; i < bc.row_len; i++)
                memcpy(dst + (size_t)i * es, src, es);
    }
    return KS_OK;
}

typedef row2_fn (*row_picker)(ks_dtype);

/* Binary or variadic op: out = in0 op in1 op ... (left fold). */
static ks_status run_fold(ks_op_ctx *oc, row_picker pick, int flag) {
    if (oc->n_in < 1)
        return ks__op_error(oc, KS_INVALID_MODEL, "needs at least one input");
    KS_CHECK(check_dtypes(oc, 0, oc->n_in));
    ks_tensor *out = oc->out[0];
    row2_fn row = pick(out->dtype);
    if (!row || out->dtype != oc->in[0]->dtype)
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "dtype %s is not supported",
                            ks_dtype_name(oc->in[0]->dtype));
    if (oc->n_in == 1)
        return bcast_copy(oc, oc->in[0], out);
    KS_CHECK(run_bin(oc, row, oc->in[0], oc->in[1], out, flag));
    for (int i = 2; i < oc->n_in; i++)
        KS_CHECK(run_bin(oc, row, out, oc->in[i], out, flag));
    return KS_OK;
}

ks_status ks__cpu_add(ks_op_ctx *oc) { return run_fold(oc, add_row, 0); }
ks_status ks__cpu_sub(ks_op_ctx *oc) { return run_fold(oc, sub_row, 0); }
ks_status ks__cpu_mul(ks_op_ctx *oc) { return run_fold(oc, mul_row, 0); }
ks_status ks__cpu_div(ks_op_ctx *oc) { return run_fold(oc, div_row, 0); }
ks_status ks__cpu_min(ks_op_ctx *oc) { return run_fold(oc, min_row, 0); }
ks_status ks__cpu_max(ks_op_ctx *oc) { return run_fold(oc, max_row, 0); }
ks_status ks__cpu_sum(ks_op_ctx *oc) { return run_fold(oc, add_row, 0); }

ks_status ks__cpu_mod(ks_op_ctx *oc) {
    int fmod_ = (int)ks__attr_i(oc->node, "fmod", 0);
    return run_fold(oc, mod_row, fmod_ != 0);
}

ks_status ks__cpu_mean(ks_op_ctx *oc) {
    ks_tensor *out = oc->out[0];
    if (out->dtype != KS_DTYPE_FLOAT32 && out->dtype != KS_DTYPE_FLOAT64)
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "dtype %s is not supported",
                            ks_dtype_name(out->dtype));
    KS_CHECK(run_fold(oc, add_row, 0));
    int64_t n = ks_tensor_numel(out);
    if (out->dtype == KS_DTYPE_FLOAT32) {
        float *o = (float *)out->data, k = (float)oc->n_in;
        for (int64_t i = 0; i < n; i++)
            o[i] /= k;
    } else {
        double *o = (double *)out->data, k = (double)oc->n_in;
        for (int64_t i = 0; i < n; i++)
            o[i] /= k;
    }
    return KS_OK;
}

/* ------------------------------------------------------------ Pow */

static int64_t ipow(int64_t base, int64_t e) {
    if (e < 0) /* integer result of base ** negative: only +-1 survive */
        return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)base;
    while (e) {
        if (e & 1)
            r *= b;
        b *= b;
        e >>= 1;
    }
    return (int64_t)r;
}

static void set_i64(ks_tensor *t, int64_t i, int64_t v) {
    switch (t->dtype) {
    case KS_DTYPE_INT64: ((int64_t *)t->data)[i] = v; break;
    case KS_DTYPE_INT32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case KS_DTYPE_INT8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    case KS_DTYPE_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    default: ks__tensor_set_f64(t, i, (double)v); break;
    }
}

DEF_ROW_T(pow_f32, float, double, pow(x, y), (float)ST_PLAIN)
DEF_ROW_T(pow_f64, double, double, pow(x, y), (double)ST_PLAIN)

ks_status ks__cpu_pow(ks_op_ctx *oc) {
    if (oc->n_in != 2 || !oc->in[0] || !oc->in[1])
        return ks__op_error(oc, KS_INVALID_MODEL, "Pow needs two inputs");
    const ks_tensor *a = oc->in[0], *b = oc->in[1];
    ks_tensor *out = oc->out[0];
    if (a->dtype == b->dtype && a->dtype == KS_DTYPE_FLOAT32)
        return run_bin(oc, pow_f32, a, b, out, 0);
    if (a->dtype == b->dtype && a->dtype == KS_DTYPE_FLOAT64)
        return run_bin(oc, pow_f64, a, b, out, 0);
    if (!(ks__dtype_is_float(a->dtype) || ks__dtype_is_int(a->dtype)) ||
        !(ks__dtype_is_float(b->dtype) || ks__dtype_is_int(b->dtype)) || out->dtype != a->dtype)
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "Pow of %s by %s is not supported",
                            ks_dtype_name(a->dtype), ks_dtype_name(b->dtype));
    /* mixed dtypes: element by element through int64 or double */
    const ks_tensor *ins[2] = {a, b};
    ks_bcast bc;
    if (!ks__bcast_init(&bc, out, 2, ins))
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "inputs do not broadcast");
    int both_int = ks__dtype_is_int(a->dtype) && ks__dtype_is_int(b->dtype);
    for (int64_t r = 0; r < bc.n_rows; r++, ks__bcast_next(&bc)) {
        for (int64_t i = 0; i < bc.row_len; i++) {
            int64_t ia = bc.off[0] + i * bc.inner[0], ib = bc.off[1] + i * bc.inner[1];
            int64_t io = r * bc.row_len + i;
            if (both_int)
                set_i64(out, io, ipow(ks__tensor_get_i64(a, ia), ks__tensor_get_i64(b, ib)));
            else
                ks__tensor_set_f64(out, io,
                                   pow(ks__tensor_get_f64(a, ia), ks__tensor_get_f64(b, ib)));
        }
    }
    return KS_OK;
}

/* ------------------------------------------------------------ unary */

/* MATH unary ops: float32 / float64 (float16 arrives as float32). Computed
 * in double and rounded once. */
#define DEF_UNARY_MATH(fn, EXPR)                                                   \
    ks_status ks__cpu_##fn(ks_op_ctx *oc) {                                        \
        const ks_tensor *in = oc->in[0];                                           \
        ks_tensor *out = oc->out[0];                                               \
        int64_t n = ks_tensor_numel(in);                                           \
        if (in->dtype == KS_DTYPE_FLOAT32 && out->dtype == KS_DTYPE_FLOAT32) {     \
            const float *px = (const float *)in->data;                             \
            float *py = (float *)out->data;                                        \
            for (int64_t i = 0; i < n; i++) {                                      \
                double x = px[i];                                                  \
                py[i] = (float)(EXPR);                                             \
            }                                                                      \
        } else if (in->dtype == KS_DTYPE_FLOAT64 && out->dtype == KS_DTYPE_FLOAT64) { \
            const double *px = (const double *)in->data;                           \
            double *py = (double *)out->data;                                      \
            for (int64_t i = 0; i < n; i++) {                                      \
                double x = px[i];                                                  \
                py[i] = (EXPR);                                                    \
            }                                                                      \
        } else {                                                                   \
            return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "dtype %s is not supported", \
                                ks_dtype_name(in->dtype));                         \
        }                                                                          \
        return KS_OK;                                                              \
    }

DEF_UNARY_MATH(exp, exp(x))
DEF_UNARY_MATH(log, log(x))
DEF_UNARY_MATH(sqrt, sqrt(x))
DEF_UNARY_MATH(reciprocal, 1.0 / x)
DEF_UNARY_MATH(floor, floor(x))
DEF_UNARY_MATH(ceil, ceil(x))
DEF_UNARY_MATH(round, rint(x)) /* default rounding mode: half to even */
DEF_UNARY_MATH(sin, sin(x))
DEF_UNARY_MATH(cos, cos(x))

/* ANY unary ops: every numeric dtype. */
#define UNARY_LOOP(T, CT, LOAD, STORE, EXPR)                                       \
    do {                                                                           \
        const T *px = (const T *)in->data;                                         \
        T *py = (T *)out->data;                                                    \
        for (int64_t i = 0; i < n; i++) {                                          \
            CT x = LOAD(px[i]);                                                    \
            py[i] = STORE(EXPR);                                                   \
        }                                                                          \
    } while (0)
#define LD_ID(v) (v)
#define LD_HALF(v) ks_half_to_float(v)

#define DEF_UNARY_ANY(fn, FEXPR, IEXPR)                                            \
    ks_status ks__cpu_##fn(ks_op_ctx *oc) {                                        \
        const ks_tensor *in = oc->in[0];                                           \
        ks_tensor *out = oc->out[0];                                               \
        int64_t n = ks_tensor_numel(in);                                           \
        if (out->dtype != in->dtype)                                               \
            return ks__op_error(oc, KS_INTERNAL, "output dtype differs from input"); \
        switch (in->dtype) {                                                       \
        case KS_DTYPE_FLOAT32: UNARY_LOOP(float, float, LD_ID, (float), FEXPR); break; \
        case KS_DTYPE_FLOAT64: UNARY_LOOP(double, double, LD_ID, (double), FEXPR); break; \
        case KS_DTYPE_FLOAT16: UNARY_LOOP(uint16_t, float, LD_HALF, ST_HALF, FEXPR); break; \
        case KS_DTYPE_INT8: UNARY_LOOP(int8_t, int64_t, LD_ID, (int8_t), IEXPR); break; \
        case KS_DTYPE_UINT8: UNARY_LOOP(uint8_t, int64_t, LD_ID, (uint8_t), IEXPR); break; \
        case KS_DTYPE_INT32: UNARY_LOOP(int32_t, int64_t, LD_ID, (int32_t), IEXPR); break; \
        case KS_DTYPE_INT64: UNARY_LOOP(int64_t, int64_t, LD_ID, (int64_t), IEXPR); break; \
        default:                                                                   \
            return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "dtype %s is not supported", \
                                ks_dtype_name(in->dtype));                         \
        }                                                                          \
        return KS_OK;                                                              \
    }

DEF_UNARY_ANY(neg, -x, wrap_sub(0, x))
DEF_UNARY_ANY(abs, fabs(x), (x < 0 ? wrap_sub(0, x) : x))
DEF_UNARY_ANY(sign, (x > 0 ? 1 : x < 0 ? -1 : x == 0 ? 0 : x), (x > 0 ? 1 : x < 0 ? -1 : 0))
