/* CPU reference: activations (Relu LeakyRelu PRelu Sigmoid Tanh HardSigmoid
 * HardSwish Elu Selu Softplus Softsign Mish Gelu Erf) and Clip.
 *
 * Activations are KS_OPF_MATH: float16 arrives as float32. Each element is
 * computed in double and rounded once to the storage type, so the result
 * is the correctly rounded (or nearly) value of the ONNX formula: an
 * oracle for the GPU kernels. Integer inputs (allowed by ONNX for Relu,
 * LeakyRelu, PRelu) go through double as well and are truncated back. */
#include <math.h>
#include <string.h>

#include "backends/cpu/elementwise.h"

/* Defines ks__cpu_<fn>. PROLOGUE reads attributes into locals; EXPR maps
 * double x to the result. */
#define DEF_ACT(fn, PROLOGUE, EXPR) DEF_ACT_(, ks__cpu_##fn, PROLOGUE, EXPR)
#define DEF_ACT_(SC, NAME, PROLOGUE, EXPR)                                           \
    SC ks_status NAME(ks_op_ctx *oc) {                                          \
        const ks_tensor *in = oc->in[0];                                             \
        ks_tensor *out = oc->out[0];                                                 \
        const ks_node *node = oc->node;                                              \
        (void)node;                                                                  \
        PROLOGUE;                                                                    \
        int64_t n = ks_tensor_numel(in);                                             \
        if (out->dtype != in->dtype || ks_tensor_numel(out) != n)                    \
            return ks__op_error(oc, KS_INTERNAL, "output does not match the input"); \
        if (in->dtype == KS_DTYPE_FLOAT32) {                                         \
            const float *px = (const float *)in->data;                               \
            float *py = (float *)out->data;                                          \
            for (int64_t i = 0; i < n; i++) {                                        \
                double x = px[i];                                                    \
                py[i] = (float)(EXPR);                                               \
            }                                                                        \
        } else if (in->dtype == KS_DTYPE_FLOAT64) {                                  \
            const double *px = (const double *)in->data;                             \
            double *py = (double *)out->data;                                        \
            for (int64_t i = 0; i < n; i++) {                                        \
                double x = px[i];                                                    \
                py[i] = (EXPR);                                                      \
            }                                                                        \
        } else if (ks__dtype_is_int(in->dtype) || in->dtype == KS_DTYPE_FLOAT16) {   \
            for (int64_t i = 0; i < n; i++) {                                        \
                double x = ks__tensor_get_f64(in, i);                                \
                ks__tensor_set_f64(out, i, (EXPR));                                  \
            }                                                                        \
        } else {                                                                     \
            return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "dtype %s is not supported", \
                                ks_dtype_name(in->dtype));                           \
        }                                                                            \
        return KS_OK;                                                                \
    }

#define NO_ATTRS ((void)0)

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x) {
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

DEF_ACT(relu, NO_ATTRS, x > 0 ? x : (x == x ? 0.0 : x))
DEF_ACT(leaky_relu, double alpha = ks__attr_f(node, "alpha", 0.01f), x >= 0 ? x : alpha * x)
DEF_ACT(sigmoid, NO_ATTRS, sigmoid(x))
DEF_ACT(tanh, NO_ATTRS, tanh(x))
DEF_ACT(hard_sigmoid,
        double alpha = ks__attr_f(node, "alpha", 0.2f);
        double beta = ks__attr_f(node, "beta", 0.5f),
        fmax(0.0, fmin(1.0, alpha * x + beta)))
DEF_ACT(hard_swish, NO_ATTRS, x * fmax(0.0, fmin(1.0, x / 6.0 + 0.5)))
DEF_ACT(elu, double alpha = ks__attr_f(node, "alpha", 1.0f), x > 0 ? x : alpha * expm1(x))
DEF_ACT(selu,
        double alpha = ks__attr_f(node, "alpha", 1.67326319217681884765625f);
        double gamma = ks__attr_f(node, "gamma", 1.05070102214813232421875f),
        x > 0 ? gamma * x : gamma * alpha * expm1(x))
DEF_ACT(softplus, NO_ATTRS, softplus(x))
DEF_ACT(softsign, NO_ATTRS, x / (1.0 + fabs(x)))
DEF_ACT(mish, NO_ATTRS, x * tanh(softplus(x)))
DEF_ACT(erf, NO_ATTRS, erf(x))

static double gelu_exact(double x) { return 0.5 * x * (1.0 + erf(x * 0.70710678118654752440)); }
static double gelu_tanh(double x) {
    return 0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
}
DEF_ACT_(static, gelu_none, NO_ATTRS, gelu_exact(x))
DEF_ACT_(static, gelu_approx, NO_ATTRS, gelu_tanh(x))
ks_status ks__cpu_gelu(ks_op_ctx *oc) {
    const char *approx = ks__attr_s(oc->node, "approximate", "none");
    if (strcmp(approx, "none") == 0)
        return gelu_none(oc);
    if (strcmp(approx, "tanh") == 0)
        return gelu_approx(oc);
    return ks__op_error(oc, KS_UNSUPPORTED_ATTR, "approximate='%s' (expected none or tanh)",
                        approx);
}

/* ------------------------------------------------------------ PRelu */

int ks__prelu_slope_view(const ks_tensor *x, const ks_tensor *slope, ks_tensor *view) {
    *view = *slope;
    if (slope->ndim <= x->ndim) {
        int ok = 1;
        for (int i = 0; i < slope->ndim; i++) {
            int64_t ds = slope->dims[slope->ndim - 1 - i], dx = x->dims[x->ndim - 1 - i];
            if (ds != 1 && ds != dx && dx >= 0 && ds >= 0)
                ok = 0;
        }
        if (ok)
            return 1;
    }
    if (slope->ndim == 1 && x->ndim >= 2 && (slope->dims[0] == x->dims[1] || x->dims[1] < 0)) {
        view->ndim = x->ndim - 1;
        view->dims[0] = slope->dims[0];
        for (int i = 1; i < view->ndim; i++)
            view->dims[i] = 1;
        return 1;
    }
    return 0;
}

ks_status ks__cpu_prelu(ks_op_ctx *oc) {
    if (oc->n_in < 2 || !oc->in[0] || !oc->in[1])
        return ks__op_error(oc, KS_INVALID_MODEL, "PRelu needs X and slope");
    const ks_tensor *x = oc->in[0];
    ks_tensor *out = oc->out[0];
    ks_tensor sv;
    if (!ks__prelu_slope_view(x, oc->in[1], &sv))
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "slope does not broadcast to X");
    if (sv.dtype != x->dtype)
        return ks__op_error(oc, KS_INVALID_MODEL, "slope dtype %s differs from X dtype %s",
                            ks_dtype_name(sv.dtype), ks_dtype_name(x->dtype));
    const ks_tensor *ins[2] = {x, &sv};
    ks_bcast bc;
    if (!ks__bcast_init(&bc, out, 2, ins))
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "slope does not broadcast to X");
    for (int64_t r = 0; r < bc.n_rows; r++, ks__bcast_next(&bc)) {
        int64_t ox = bc.off[0], os = bc.off[1], o = r * bc.row_len;
        if (x->dtype == KS_DTYPE_FLOAT32) {
            const float *px = (const float *)x->data + ox, *ps = (const float *)sv.data + os;
            float *py = (float *)out->data + o;
            for (int64_t i = 0; i < bc.row_len; i++) {
                float v = px[i * bc.inner[0]];
                py[i] = v < 0 ? v * ps[i * bc.inner[1]] : v;
            }
        } else if (x->dtype == KS_DTYPE_FLOAT64) {
            const double *px = (const double *)x->data + ox, *ps = (const double *)sv.data + os;
            double *py = (double *)out->data + o;
            for (int64_t i = 0; i < bc.row_len; i++) {
                double v = px[i * bc.inner[0]];
                py[i] = v < 0 ? v * ps[i * bc.inner[1]] : v;
            }
        } else if (ks__dtype_is_int(x->dtype) || x->dtype == KS_DTYPE_FLOAT16) {
            for (int64_t i = 0; i < bc.row_len; i++) {
                double v = ks__tensor_get_f64(x, ox + i * bc.inner[0]);
                double s = ks__tensor_get_f64(&sv, os + i * bc.inner[1]);
                ks__tensor_set_f64(out, o + i, v < 0 ? v * s : v);
            }
        } else {
            return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "dtype %s is not supported",
                                ks_dtype_name(x->dtype));
        }
    }
    return KS_OK;
}

/* ------------------------------------------------------------ Clip */

/* Clip is KS_OPF_ANY: every numeric dtype, float16 included. min/max are
 * optional scalar inputs; absent means unbounded. If min > max every
 * element becomes max (ONNX). NaN passes through. */
#define CLIP_LOOP(T, CT, LOAD, STORE, LO, HI)                                     \
    do {                                                                          \
        const T *px = (const T *)x->data;                                         \
        T *py = (T *)out->data;                                                   \
        CT lo_ = (LO), hi_ = (HI);                                                \
        for (int64_t i = 0; i < n; i++) {                                         \
            CT v = LOAD(px[i]);                                                   \
            if (has_lo && v < lo_)                                                \
                v = lo_;                                                          \
            if (has_hi && v > hi_)                                                \
                v = hi_;                                                          \
            py[i] = STORE(v);                                                     \
        }                                                                         \
    } while (0)
#define CL_ID(v) (v)
#define CL_H2F(v) ks_half_to_float(v)
#define CL_F2H(v) ks_float_to_half(v)

ks_status ks__cpu_clip(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    const ks_tensor *tlo = oc->n_in > 1 ? oc->in[1] : NULL;
    const ks_tensor *thi = oc->n_in > 2 ? oc->in[2] : NULL;
    ks_tensor *out = oc->out[0];
    for (int k = 0; k < 2; k++) {
        const ks_tensor *b = k ? thi : tlo;
        if (!b)
            continue;
        if (b->dtype != x->dtype)
            return ks__op_error(oc, KS_INVALID_MODEL, "%s has dtype %s, input has %s",
                                k ? "max" : "min", ks_dtype_name(b->dtype),
                                ks_dtype_name(x->dtype));
        if (ks_tensor_numel(b) != 1)
            return ks__op_error(oc, KS_INVALID_MODEL, "%s must be a scalar", k ? "max" : "min");
    }
    int has_lo = tlo != NULL, has_hi = thi != NULL;
    int64_t n = ks_tensor_numel(x);
    int64_t ilo = has_lo ? ks__tensor_get_i64(tlo, 0) : 0;
    int64_t ihi = has_hi ? ks__tensor_get_i64(thi, 0) : 0;
    double flo = has_lo ? ks__tensor_get_f64(tlo, 0) : 0;
    double fhi = has_hi ? ks__tensor_get_f64(thi, 0) : 0;
    switch (x->dtype) {
    case KS_DTYPE_FLOAT32: CLIP_LOOP(float, float, CL_ID, CL_ID, (float)flo, (float)fhi); break;
    case KS_DTYPE_FLOAT64: CLIP_LOOP(double, double, CL_ID, CL_ID, flo, fhi); break;
    case KS_DTYPE_FLOAT16: CLIP_LOOP(uint16_t, float, CL_H2F, CL_F2H, (float)flo, (float)fhi); break;
    case KS_DTYPE_INT8: CLIP_LOOP(int8_t, int64_t, CL_ID, (int8_t), ilo, ihi); break;
    case KS_DTYPE_UINT8: CLIP_LOOP(uint8_t, int64_t, CL_ID, (uint8_t), ilo, ihi); break;
    case KS_DTYPE_INT32: CLIP_LOOP(int32_t, int64_t, CL_ID, (int32_t), ilo, ihi); break;
    case KS_DTYPE_INT64: CLIP_LOOP(int64_t, int64_t, CL_ID, CL_ID, ilo, ihi); break;
    default:
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "dtype %s is not supported",
                            ks_dtype_name(x->dtype));
    }
    return KS_OK;
}
