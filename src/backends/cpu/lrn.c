/* CPU reference: LRN (local response normalization across channels).
 * y = x / (bias + alpha / size * sum of x^2 over channels
 *     [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta, summed in double. */
#include <math.h>

#include "backends/cpu/nn_common.h"

KS_NN_INLINE void lrn_run(ks_dtype dt, int64_t n, int64_t c, int64_t plane, const void *x, void *y,
                          int64_t size, double alpha, double beta, double bias) {
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++) {
            int64_t c0 = ch - lo < 0 ? 0 : ch - lo, c1 = ch + hi >= c ? c - 1 : ch + hi;
            for (int64_t j = 0; j < plane; j++) {
                double s = 0.0;
                for (int64_t k = c0; k <= c1; k++) {
                    double v = ks__nn_ld(x, dt, (i * c + k) * plane + j);
                    s += v * v;
                }
                int64_t o = (i * c + ch) * plane + j;
                ks__nn_st(y, dt, o,
                          ks__nn_ld(x, dt, o) / pow(bias + alpha / (double)size * s, beta));
            }
        }
}

ks_status ks__cpu_lrn(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *y = oc->out[0];
    const ks_tensor *ts[2] = {x, y};
    KS_CHECK(ks__nn_check_float(oc, 2, ts));
    int64_t size = ks__attr_i(oc->node, "size", -1);
    if (size < 1)
        return ks__op_error(oc, KS_INVALID_MODEL, "LRN: attribute size = %lld must be >= 1",
                            (long long)size);
    double alpha = ks__attr_f(oc->node, "alpha", 1e-4f);
    double beta = ks__attr_f(oc->node, "beta", 0.75f);
    double bias = ks__attr_f(oc->node, "bias", 1.0f);
    int64_t n = x->dims[0], c = x->dims[1], plane = 1;
    for (int i = 2; i < x->ndim; i++)
        plane *= x->dims[i];
    if (x->dtype == KS_DTYPE_FLOAT64)
        lrn_run(KS_DTYPE_FLOAT64, n, c, plane, x->data, y->data, size, alpha, beta, bias);
    else
        lrn_run(KS_DTYPE_FLOAT32, n, c, plane, x->data, y->data, size, alpha, beta, bias);
    return KS_OK;
}
