/* CPU reference: BatchNormalization (inference, and training_mode = 1 for
 * opset >= 14) and InstanceNormalization.
 *
 * Per-channel factors are computed in double: y = x * a + b with
 * a = scale / sqrt(var + epsilon), b = B - mean * a. Statistics (training
 * mode, instance norm) are accumulated in double with two passes (mean, then
 * the mean of squared deviations: the population variance). */
#include <math.h>

#include "backends/cpu/nn_common.h"

/* Applies y[n, c, :] = x[n, c, :] * a[c] + b[c]. */
KS_NN_INLINE void affine_run(ks_dtype dt, int64_t n, int64_t c, int64_t plane, const void *x,
                             void *y, const double *a, const double *b) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++) {
            int64_t off = (i * c + ch) * plane;
            if (dt == KS_DTYPE_FLOAT32) {
                const float *xx = (const float *)x + off;
                float *yy = (float *)y + off;
                float af = (float)a[ch], bf = (float)b[ch];
                for (int64_t j = 0; j < plane; j++)
                    yy[j] = xx[j] * af + bf;
            } else {
                const double *xx = (const double *)x + off;
                double *yy = (double *)y + off;
                for (int64_t j = 0; j < plane; j++)
                    yy[j] = xx[j] * a[ch] + b[ch];
            }
        }
}

static void affine(ks_dtype dt, int64_t n, int64_t c, int64_t plane, const void *x, void *y,
                   const double *a, const double *b) {
    if (dt == KS_DTYPE_FLOAT64)
        affine_run(KS_DTYPE_FLOAT64, n, c, plane, x, y, a, b);
    else
        affine_run(KS_DTYPE_FLOAT32, n, c, plane, x, y, a, b);
}

/* Mean and population variance over `count` blocks of `len` elements at
 * stride `stride` starting at element `first`. */
static void moments(const ks_tensor *x, int64_t first, int64_t count, int64_t stride, int64_t len,
                    double *mean, double *var) {
    double s = 0.0;
    for (int64_t b = 0; b < count; b++)
        for (int64_t j = 0; j < len; j++)
            s += ks__tensor_get_f64(x, first + b * stride + j);
    int64_t n = count * len;
    double m = n > 0 ? s / (double)n : 0.0;
    double q = 0.0;
    for (int64_t b = 0; b < count; b++)
        for (int64_t j = 0; j < len; j++) {
            double d = ks__tensor_get_f64(x, first + b * stride + j) - m;
            q += d * d;
        }
    *mean = m;
    *var = n > 0 ? q / (double)n : 0.0;
}

ks_status ks__cpu_batch_norm(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *y = oc->out[0];
    const ks_tensor *ts[2] = {x, y};
    KS_CHECK(ks__nn_check_float(oc, 2, ts));
    for (int i = 1; i < 5; i++)
        if (oc->in[i]->dtype != KS_DTYPE_FLOAT32 && oc->in[i]->dtype != KS_DTYPE_FLOAT64)
            return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "BatchNormalization: input %d is %s", i,
                                ks_dtype_name(oc->in[i]->dtype));
    if (oc->node->opset < 9 && ks__attr_i(oc->node, "spatial", 1) == 0)
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR,
                            "BatchNormalization: spatial = 0 is not "
                            "supported");
    double eps = ks__attr_f(oc->node, "epsilon", 1e-5f);
    int training = oc->node->opset >= 14 && ks__attr_i(oc->node, "training_mode", 0) != 0;
    if (!training && oc->n_out > 1) {
        for (int i = 1; i < oc->n_out; i++)
            if (oc->out[i])
                return ks__op_error(oc, KS_UNSUPPORTED_ATTR,
                                    "BatchNormalization: %d outputs "
                                    "requested; training outputs need opset >= 14 with "
                                    "training_mode = 1",
                                    oc->n_out);
    }
    int64_t n = x->ndim >= 1 ? x->dims[0] : 1;
    int64_t c = x->ndim >= 2 ? x->dims[1] : 1;
    int64_t plane = 1;
    for (int i = 2; i < x->ndim; i++)
        plane *= x->dims[i];
    const ks_tensor *scale = oc->in[1], *bias = oc->in[2], *mean = oc->in[3], *var = oc->in[4];
    double *a, *b;
    KS_CHECK(ks__nn_scratch(oc, 2 * c, sizeof(double), (void **)&a));
    b = a + c;
    double momentum = ks__attr_f(oc->node, "momentum", 0.9f);
    for (int64_t ch = 0; ch < c; ch++) {
        double m = ks__tensor_get_f64(mean, ch), v = ks__tensor_get_f64(var, ch);
        if (training) {
            double bm, bv;
            moments(x, ch * plane, n, c * plane, plane, &bm, &bv);
            if (oc->n_out > 1 && oc->out[1])
                ks__tensor_set_f64(oc->out[1], ch, m * momentum + bm * (1.0 - momentum));
            if (oc->n_out > 2 && oc->out[2])
                ks__tensor_set_f64(oc->out[2], ch, v * momentum + bv * (1.0 - momentum));
            m = bm;
            v = bv;
        }
        a[ch] = ks__tensor_get_f64(scale, ch) / sqrt(v + eps);
        b[ch] = ks__tensor_get_f64(bias, ch) - m * a[ch];
    }
    affine(x->dtype, n, c, plane, x->data, y->data, a, b);
    ks__free(oc->ctx, a);
    return KS_OK;
}

ks_status ks__cpu_instance_norm(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0], *scale = oc->in[1], *bias = oc->in[2];
    ks_tensor *y = oc->out[0];
    const ks_tensor *ts[4] = {x, scale, bias, y};
    KS_CHECK(ks__nn_check_float(oc, 4, ts));
    double eps = ks__attr_f(oc->node, "epsilon", 1e-5f);
    int64_t n = x->dims[0], c = x->dims[1], plane = 1;
    for (int i = 2; i < x->ndim; i++)
        plane *= x->dims[i];
    double *a;
    KS_CHECK(ks__nn_scratch(oc, 2 * n * c, sizeof(double), (void **)&a));
    double *b = a + n * c;
    for (int64_t i = 0; i < n * c; i++) {
        double m, v;
        moments(x, i * plane, 1, plane, plane, &m, &v);
        a[i] = ks__tensor_get_f64(scale, i % c) / sqrt(v + eps);
        b[i] = ks__tensor_get_f64(bias, i % c) - m * a[i];
    }
    /* per (n, c) factors: run as one batch of n*c channels */
    affine(x->dtype, 1, n * c, plane, x->data, y->data, a, b);
    ks__free(oc->ctx, a);
    return KS_OK;
}
