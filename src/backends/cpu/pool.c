/* CPU reference: MaxPool (with optional Indices), AveragePool,
 * GlobalAveragePool, GlobalMaxPool.
 *
 * Windows follow params_nn.c's geometry (pads, strides, dilations,
 * ceil_mode, auto_pad); 1-D and 2-D run as 3-D with leading size-1 dims.
 * MaxPool ignores padding positions; AveragePool divides by the number of
 * window positions inside the input, or (count_include_pad) inside the
 * padded input [-pad_begin, in + pad_end). Averages sum in double. MaxPool
 * also accepts int8 / uint8 (ONNX opset 12). */
#include <float.h>
#include <math.h>

#include "backends/cpu/nn_common.h"

/* Kernel taps [*k0, *k1) of one axis whose input position lies in [lo, hi). */
static void tap_range(const geom3 *g, int a, int64_t o, int64_t lo, int64_t hi, int64_t *k0,
                      int64_t *k1) {
    int64_t start = o * g->s[a] - g->pb[a];
    int64_t d = g->d[a];
    int64_t a0 = 0, a1 = g->k[a];
    if (start < lo)
        a0 = (lo - start + d - 1) / d;
    if (start + (a1 - 1) * d >= hi)
        a1 = hi - start <= 0 ? 0 : (hi - start - 1) / d + 1;
    if (a1 < a0)
        a1 = a0;
    *k0 = a0;
    *k1 = a1;
}

KS_NN_INLINE void max_pool_run(ks_dtype dt, const geom3 *g, int64_t planes, const void *x, void *y,
                               int64_t *ind, int storage_order) {
    const int64_t ip = g->in[0] * g->in[1] * g->in[2];
    const int64_t op = g->out[0] * g->out[1] * g->out[2];
    for (int64_t pl = 0; pl < planes; pl++) {
        int64_t xo = pl * ip, yo = pl * op;
        for (int64_t oz = 0; oz < g->out[0]; oz++) {
            int64_t z0, z1;
            tap_range(g, 0, oz, 0, g->in[0], &z0, &z1);
            for (int64_t oy = 0; oy < g->out[1]; oy++) {
                int64_t y0, y1;
                tap_range(g, 1, oy, 0, g->in[1], &y0, &y1);
                for (int64_t ox = 0; ox < g->out[2]; ox++, yo++) {
                    int64_t x0, x1;
                    tap_range(g, 2, ox, 0, g->in[2], &x0, &x1);
                    double best = -INFINITY;
                    int64_t bi = -1;
                    for (int64_t kz = z0; kz < z1; kz++) {
                        int64_t iz = oz * g->s[0] - g->pb[0] + kz * g->d[0];
                        for (int64_t ky = y0; ky < y1; ky++) {
                            int64_t iy = oy * g->s[1] - g->pb[1] + ky * g->d[1];
                            int64_t row = (iz * g->in[1] + iy) * g->in[2];
                            for (int64_t kx = x0; kx < x1; kx++) {
                                int64_t ix = ox * g->s[2] - g->pb[2] + kx * g->d[2];
                                double v = ks__nn_ld(x, dt, xo + row + ix);
                                if (v > best || bi < 0) {
                                    best = v;
                                    bi = row + ix;
                                }
                            }
                        }
                    }
                    ks__nn_st(y, dt, yo, bi < 0 ? 0.0 : best);
                    if (ind) {
                        int64_t si = bi < 0 ? 0 : bi;
                        if (storage_order == 1) { /* column-major over (H, W) */
                            int64_t ih = (si / g->in[2]) % g->in[1], iw = si % g->in[2];
                            int64_t iz = si / (g->in[1] * g->in[2]);
                            si = iz * g->in[1] * g->in[2] + iw * g->in[1] + ih;
                        }
                        ind[yo] = xo + si;
                    }
                }
            }
        }
    }
}

ks_status ks__cpu_max_pool(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *y = oc->out[0];
    ks_tensor *ind = oc->n_out > 1 ? oc->out[1] : NULL;
    ks_window_params p;
    KS_CHECK(ks__pool_params(oc, x, &p));
    if (p.n_spatial == 0)
        return ks__op_error(oc, KS_INTERNAL, "MaxPool: unknown rank at run time");
    if (ind && ind->dtype != KS_DTYPE_INT64)
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "MaxPool: Indices must be int64");
    geom3 g;
    ks__nn_geom3_from(&p, &g);
    int64_t planes = x->dims[0] * x->dims[1];
    int64_t *ip = ind ? (int64_t *)ind->data : NULL;
    int so = p.storage_order;
    switch (x->dtype) {
    case KS_DTYPE_FLOAT32:
        max_pool_run(KS_DTYPE_FLOAT32, &g, planes, x->data, y->data, ip, so);
        break;
    case KS_DTYPE_FLOAT64:
        max_pool_run(KS_DTYPE_FLOAT64, &g, planes, x->data, y->data, ip, so);
        break;
    case KS_DTYPE_UINT8:
        max_pool_run(KS_DTYPE_UINT8, &g, planes, x->data, y->data, ip, so);
        break;
    case KS_DTYPE_INT8:
        max_pool_run(KS_DTYPE_INT8, &g, planes, x->data, y->data, ip, so);
        break;
    default:
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE,
                            "MaxPool: %s input is not supported "
                            "(float32, float64, int8, uint8)",
                            ks_dtype_name(x->dtype));
    }
    return KS_OK;
}

KS_NN_INLINE void avg_pool_run(ks_dtype dt, const geom3 *g, int64_t planes, const void *x, void *y,
                               int include_pad) {
    const int64_t ip = g->in[0] * g->in[1] * g->in[2];
    const int64_t op = g->out[0] * g->out[1] * g->out[2];
    for (int64_t pl = 0; pl < planes; pl++) {
        int64_t xo = pl * ip, yo = pl * op;
        for (int64_t oz = 0; oz < g->out[0]; oz++) {
            int64_t z0, z1, cz0, cz1;
            tap_range(g, 0, oz, 0, g->in[0], &z0, &z1);
            tap_range(g, 0, oz, -g->pb[0], g->in[0] + g->pe[0], &cz0, &cz1);
            for (int64_t oy = 0; oy < g->out[1]; oy++) {
                int64_t y0, y1, cy0, cy1;
                tap_range(g, 1, oy, 0, g->in[1], &y0, &y1);
                tap_range(g, 1, oy, -g->pb[1], g->in[1] + g->pe[1], &cy0, &cy1);
                for (int64_t ox = 0; ox < g->out[2]; ox++, yo++) {
                    int64_t x0, x1, cx0, cx1;
                    tap_range(g, 2, ox, 0, g->in[2], &x0, &x1);
                    tap_range(g, 2, ox, -g->pb[2], g->in[2] + g->pe[2], &cx0, &cx1);
                    double sum = 0.0;
                    for (int64_t kz = z0; kz < z1; kz++) {
                        int64_t iz = oz * g->s[0] - g->pb[0] + kz * g->d[0];
                        for (int64_t ky = y0; ky < y1; ky++) {
                            int64_t iy = oy * g->s[1] - g->pb[1] + ky * g->d[1];
                            int64_t row = xo + (iz * g->in[1] + iy) * g->in[2];
                            for (int64_t kx = x0; kx < x1; kx++)
                                sum +=
                                    ks__nn_ld(x, dt, row + ox * g->s[2] - g->pb[2] + kx * g->d[2]);
                        }
                    }
                    int64_t cnt = include_pad ? (cz1 - cz0) * (cy1 - cy0) * (cx1 - cx0)
                                              : (z1 - z0) * (y1 - y0) * (x1 - x0);
                    ks__nn_st(y, dt, yo, cnt > 0 ? sum / (double)cnt : 0.0);
                }
            }
        }
    }
}

ks_status ks__cpu_average_pool(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *y = oc->out[0];
    const ks_tensor *ts[2] = {x, y};
    KS_CHECK(ks__nn_check_float(oc, 2, ts));
    ks_window_params p;
    KS_CHECK(ks__pool_params(oc, x, &p));
    if (p.n_spatial == 0)
        return ks__op_error(oc, KS_INTERNAL, "AveragePool: unknown rank at run time");
    geom3 g;
    ks__nn_geom3_from(&p, &g);
    int64_t planes = x->dims[0] * x->dims[1];
    if (x->dtype == KS_DTYPE_FLOAT64)
        avg_pool_run(KS_DTYPE_FLOAT64, &g, planes, x->data, y->data, p.count_include_pad);
    else
        avg_pool_run(KS_DTYPE_FLOAT32, &g, planes, x->data, y->data, p.count_include_pad);
    return KS_OK;
}

KS_NN_INLINE void global_pool_run(ks_dtype dt, int is_max, int64_t planes, int64_t n, const void *x,
                                  void *y) {
    for (int64_t pl = 0; pl < planes; pl++) {
        double acc = is_max ? -INFINITY : 0.0;
        for (int64_t i = 0; i < n; i++) {
            double v = ks__nn_ld(x, dt, pl * n + i);
            if (is_max)
                acc = v > acc ? v : acc;
            else
                acc += v;
        }
        if (n == 0)
            acc = 0.0;
        else if (!is_max)
            acc /= (double)n;
        ks__nn_st(y, dt, pl, acc);
    }
}

static ks_status global_pool(ks_op_ctx *oc, int is_max) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *y = oc->out[0];
    if (!(is_max && (x->dtype == KS_DTYPE_UINT8 || x->dtype == KS_DTYPE_INT8))) {
        const ks_tensor *ts[2] = {x, y};
        KS_CHECK(ks__nn_check_float(oc, 2, ts));
    }
    if (x->ndim < 2)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "X must have rank >= 2, has %d", x->ndim);
    int64_t planes = x->dims[0] * x->dims[1];
    int64_t n = 1;
    for (int i = 2; i < x->ndim; i++)
        n *= x->dims[i];
    switch (x->dtype) {
    case KS_DTYPE_FLOAT64:
        global_pool_run(KS_DTYPE_FLOAT64, is_max, planes, n, x->data, y->data);
        break;
    case KS_DTYPE_UINT8:
        global_pool_run(KS_DTYPE_UINT8, is_max, planes, n, x->data, y->data);
        break;
    case KS_DTYPE_INT8:
        global_pool_run(KS_DTYPE_INT8, is_max, planes, n, x->data, y->data);
        break;
    default:
        global_pool_run(KS_DTYPE_FLOAT32, is_max, planes, n, x->data, y->data);
        break;
    }
    return KS_OK;
}

ks_status ks__cpu_global_average_pool(ks_op_ctx *oc) {
    return global_pool(oc, 0);
}
ks_status ks__cpu_global_max_pool(ks_op_ctx *oc) {
    return global_pool(oc, 1);
}
