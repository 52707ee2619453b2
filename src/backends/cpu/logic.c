/* CPU reference: comparisons (Equal Greater GreaterOrEqual Less
 * LessOrEqual -> bool), boolean logic (Not And Or Xor) and Where.
 * Broadcasting is numpy's (ks_bcast); bool is one byte, 0 or 1. */
#include <string.h>

#include "backends/cpu/elementwise.h"

typedef void (*cmp_fn)(const void *a, int64_t sa, const void *b, int64_t sb, uint8_t *o,
                       int64_t n);

#define CMP_ROW(name, T, CT, LOAD, EXPR)                                            \
    static void name(const void *a_, int64_t sa, const void *b_, int64_t sb, uint8_t *o, \
                     int64_t n) {                                                   \
        const T *a = (const T *)a_;                                                 \
        const T *b = (const T *)b_;                                                 \
        for (int64_t i = 0; i < n; i++) {                                           \
            CT x = LOAD(a[i * sa]), y = LOAD(b[i * sb]);                            \
            o[i] = (uint8_t)(EXPR);                                                 \
        }                                                                           \
    }
#define LD_ID(v) (v)
#define LD_HALF(v) ks_half_to_float(v)

#define DEF_CMP(name, EXPR)                                                         \
    CMP_ROW(name##_f32, float, float, LD_ID, EXPR)                                  \
    CMP_ROW(name##_f64, double, double, LD_ID, EXPR)                                \
    CMP_ROW(name##_f16, uint16_t, float, LD_HALF, EXPR)                             \
    CMP_ROW(name##_i8, int8_t, int8_t, LD_ID, EXPR)                                 \
    CMP_ROW(name##_u8, uint8_t, uint8_t, LD_ID, EXPR)                               \
    CMP_ROW(name##_i32, int32_t, int32_t, LD_ID, EXPR)                              \
    CMP_ROW(name##_i64, int64_t, int64_t, LD_ID, EXPR)                              \
    static cmp_fn name##_row(ks_dtype dt) {                                         \
        switch (dt) {                                                               \
        case KS_DTYPE_FLOAT32: return name##_f32;                                   \
        case KS_DTYPE_FLOAT64: return name##_f64;                                   \
        case KS_DTYPE_FLOAT16: return name##_f16;                                   \
        case KS_DTYPE_INT8: return name##_i8;                                       \
        case KS_DTYPE_UINT8: return name##_u8;                                      \
        case KS_DTYPE_BOOL: return name##_u8;                                       \
        case KS_DTYPE_INT32: return name##_i32;                                     \
        case KS_DTYPE_INT64: return name##_i64;                                     \
        default: return NULL;                                                       \
        }                                                                           \
    }

DEF_CMP(eq, x == y)
DEF_CMP(gt, x > y)
DEF_CMP(ge, x >= y)
DEF_CMP(lt, x < y)
DEF_CMP(le, x <= y)

/* bool logic: inputs are bool (any nonzero byte counts as true) */
CMP_ROW(and_row_, uint8_t, int, LD_ID, (x != 0) & (y != 0))
CMP_ROW(or_row_, uint8_t, int, LD_ID, (x != 0) | (y != 0))
CMP_ROW(xor_row_, uint8_t, int, LD_ID, (x != 0) ^ (y != 0))
static cmp_fn and_row(ks_dtype dt) { return dt == KS_DTYPE_BOOL ? and_row_ : NULL; }
static cmp_fn or_row(ks_dtype dt) { return dt == KS_DTYPE_BOOL ? or_row_ : NULL; }
static cmp_fn xor_row(ks_dtype dt) { return dt == KS_DTYPE_BOOL ? xor_row_ : NULL; }

static ks_status run_cmp(ks_op_ctx *oc, cmp_fn (*pick)(ks_dtype)) {
    if (oc->n_in != 2 || !oc->in[0] || !oc->in[1])
        return ks__op_error(oc, KS_INVALID_MODEL, "needs two inputs");
    const ks_tensor *a = oc->in[0], *b = oc->in[1];
    ks_tensor *out = oc->out[0];
    if (a->dtype != b->dtype)
        return ks__op_error(oc, KS_INVALID_MODEL, "input dtypes differ (%s, %s)",
                            ks_dtype_name(a->dtype), ks_dtype_name(b->dtype));
    cmp_fn row = pick(a->dtype);
    if (!row || out->dtype != KS_DTYPE_BOOL)
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "dtype %s is not supported",
                            ks_dtype_name(a->dtype));
    const ks_tensor *ins[2] = {a, b};
    ks_bcast bc;
    if (!ks__bcast_init(&bc, out, 2, ins))
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "inputs do not broadcast to the output");
    size_t es = ks_dtype_size(a->dtype);
    const char *pa = (const char *)a->data, *pb = (const char *)b->data;
    uint8_t *po = (uint8_t *)out->data;
    for (int64_t r = 0; r < bc.n_rows; r++, ks__bcast_next(&bc))
        row(pa + (size_t)bc.off[0] * es, bc.inner[0], pb + (size_t)bc.off[1] * es, bc.inner[1],
            po + r * bc.row_len, bc.row_len);
    return KS_OK;
}

ks_status ks__cpu_equal(ks_op_ctx *oc) { return run_cmp(oc, eq_row); }
ks_status ks__cpu_greater(ks_op_ctx *oc) { return run_cmp(oc, gt_row); }
ks_status ks__cpu_greater_or_equal(ks_op_ctx *oc) { return run_cmp(oc, ge_row); }
ks_status ks__cpu_less(ks_op_ctx *oc) { return run_cmp(oc, lt_row); }
ks_status ks__cpu_less_or_equal(ks_op_ctx *oc) { return run_cmp(oc, le_row); }
ks_status ks__cpu_and(ks_op_ctx *oc) { return run_cmp(oc, and_row); }
ks_status ks__cpu_or(ks_op_ctx *oc) { return run_cmp(oc, or_row); }
ks_status ks__cpu_xor(ks_op_ctx *oc) { return run_cmp(oc, xor_row); }

ks_status ks__cpu_not(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *out = oc->out[0];
    if (x->dtype != KS_DTYPE_BOOL || out->dtype != KS_DTYPE_BOOL)
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "Not needs bool, got %s",
                            ks_dtype_name(x->dtype));
    int64_t n = ks_tensor_numel(x);
    const uint8_t *px = (const uint8_t *)x->data;
    uint8_t *py = (uint8_t *)out->data;
    for (int64_t i = 0; i < n; i++)
        py[i] = px[i] == 0;
    return KS_OK;
}

/* Where(cond, X, Y): out = cond ? X : Y, three-way broadcast, any dtype
 * (elements moved as bytes). */
#define WHERE_ROW(T)                                                                \
    do {                                                                            \
        const T *px = (const T *)x->data + bc.off[1];                               \
        const T *py = (const T *)y->data + bc.off[2];                               \
        T *po = (T *)out->data + r * bc.row_len;                                    \
        for (int64_t i = 0; i < bc.row_len; i++)                                    \
            po[i] = pc[i * bc.inner[0]] ? px[i * bc.inner[1]] : py[i * bc.inner[2]]; \
    } while (0)

ks_status ks__cpu_where(ks_op_ctx *oc) {
    if (oc->n_in != 3 || !oc->in[0] || !oc->in[1] || !oc->in[2])
        return ks__op_error(oc, KS_INVALID_MODEL, "Where needs three inputs");
    const ks_tensor *c = oc->in[0], *x = oc->in[1], *y = oc->in[2];
    ks_tensor *out = oc->out[0];
    if (c->dtype != KS_DTYPE_BOOL)
        return ks__op_error(oc, KS_INVALID_MODEL, "condition must be bool, got %s",
                            ks_dtype_name(c->dtype));
    if (x->dtype != y->dtype || out->dtype != x->dtype)
        return ks__op_error(oc, KS_INVALID_MODEL, "X (%s) and Y (%s) dtypes differ",
                            ks_dtype_name(x->dtype), ks_dtype_name(y->dtype));
    const ks_tensor *ins[3] = {c, x, y};
    ks_bcast bc;
    if (!ks__bcast_init(&bc, out, 3, ins))
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "inputs do not broadcast to the output");
    size_t es = ks_dtype_size(x->dtype);
    for (int64_t r = 0; r < bc.n_rows; r++, ks__bcast_next(&bc)) {
        const uint8_t *pc = (const uint8_t *)c->data + bc.off[0];
        switch (es) {
        case 1: WHERE_ROW(uint8_t); break;
        case 2: WHERE_ROW(uint16_t); break;
        case 4: WHERE_ROW(uint32_t); break;
        case 8: WHERE_ROW(uint64_t); break;
        default:
            return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "dtype %s is not supported",
                                ks_dtype_name(x->dtype));
        }
    }
    return KS_OK;
}
