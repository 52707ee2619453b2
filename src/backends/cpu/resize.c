/* CPU reference: Resize (nearest / linear / cubic, N-D, every
 * coordinate_transformation_mode; see params_nn.h).
 *
 * Separable: for every axis and every output index the coordinate mapping
 * gives up to 4 (input index, weight) taps -- nearest 1, linear 2, cubic 4 --
 * computed in double (params_nn.c). An output element is the sum over
 * the tap combinations of all axes of the product of weights times the input
 * element (taps of zero weight are dropped per axis, so unscaled axes cost
 * nothing). tf_crop_and_resize positions outside the input get
 * extrapolation_value. Nearest mode moves bytes and accepts every dtype. */
#include <math.h>

#include "backends/cpu/nn_common.h"

typedef struct axis_taps {
    int ntap;               /* taps stored per output index */
    int used;               /* taps with a non-zero weight, max over outputs (<= ntap) */
    int64_t *off;           /* [out * ntap] input element offsets (index * stride) */
    double *w;              /* [out * ntap] weights, non-zero ones first */
    unsigned char *outside; /* [out] tf_crop_and_resize: outside the input */
} axis_taps;

static void linear_taps(const ks_resize_params *p, int a, double x, int64_t *idx, double *w,
                        int *outside) {
    int64_t n = p->in[a];
    if (ks__resize_outside(p, a, x)) {
        *outside = 1;
        return;
    }
    if (x < 0.0)
        x = 0.0;
    if (x > (double)(n - 1))
        x = (double)(n - 1);
    int64_t i0 = (int64_t)x;
    int64_t i1 = i0 + 1 < n ? i0 + 1 : n - 1;
    double f = x - (double)i0;
    idx[0] = i0;
    idx[1] = i1;
    w[0] = 1.0 - f;
    w[1] = f;
}

static void cubic_taps(const ks_resize_params *p, int a, double x, int64_t *idx, double *w,
                       int *outside) {
    int64_t n = p->in[a];
    if (ks__resize_outside(p, a, x)) {
        *outside = 1;
        return;
    }
    double fl = floor(x);
    int64_t i = (int64_t)fl;
    ks__resize_cubic_coeffs(p->cubic_coeff_a, x - fl, w);
    double sum = 0.0;
    for (int t = 0; t < 4; t++) {
        int64_t j = i - 1 + t;
        if (p->exclude_outside && (j < 0 || j >= n))
            w[t] = 0.0;
        sum += w[t];
        idx[t] = j < 0 ? 0 : j >= n ? n - 1 : j;
    }
    if (p->exclude_outside && sum != 0.0)
        for (int t = 0; t < 4; t++)
            w[t] /= sum;
}

static ks_status build_taps(const ks_op_ctx *oc, const ks_resize_params *p, int a, int64_t stride,
                            axis_taps *t) {
    int64_t no = p->out[a];
    int nt = p->mode == KS_RESIZE_NEAREST ? 1 : p->mode == KS_RESIZE_LINEAR ? 2 : 4;
    t->ntap = nt;
    t->used = 0;
    KS_CHECK(ks__nn_scratch(oc, no * nt, sizeof(int64_t), (void **)&t->off));
    KS_CHECK(ks__nn_scratch(oc, no * nt, sizeof(double), (void **)&t->w));
    KS_CHECK(ks__nn_scratch(oc, no, 1, (void **)&t->outside));
    for (int64_t o = 0; o < no; o++) {
        double x = ks__resize_coord(p, a, o);
        int64_t idx[4] = {0, 0, 0, 0};
        double w[4] = {0, 0, 0, 0};
        int outside = 0;
        if (p->mode == KS_RESIZE_NEAREST) {
            if (ks__resize_outside(p, a, x))
                outside = 1;
            else {
                idx[0] = ks__resize_nearest_index(p, a, x);
                w[0] = 1.0;
            }
        } else if (p->mode == KS_RESIZE_LINEAR) {
            linear_taps(p, a, x, idx, w, &outside);
        } else {
            cubic_taps(p, a, x, idx, w, &outside);
        }
        t->outside[o] = (unsigned char)outside;
        int k = 0;
        for (int j = 0; j < nt; j++)
            if (w[j] != 0.0 || (nt == 1)) {
                t->off[o * nt + k] = idx[j] * stride;
                t->w[o * nt + k] = w[j];
                k++;
            }
        for (int j = k; j < nt; j++) {
            t->off[o * nt + j] = 0;
            t->w[o * nt + j] = 0.0;
        }
        if (k > t->used)
            t->used = k;
    }
    if (t->used == 0)
        t->used = 1;
    return KS_OK;
}

KS_NN_INLINE void interp_run(ks_dtype dt, const ks_resize_params *p, const axis_taps *ax,
                             const void *x, void *y, int64_t *co_off, double *co_w) {
    int r = p->ndim;
    const axis_taps *last = &ax[r - 1];
    int64_t nl = p->out[r - 1];
    int64_t idx[KS_MAX_DIMS] = {0};
    int64_t n_outer = 1;
    for (int a = 0; a < r - 1; a++)
        n_outer *= p->out[a];
    double extrap = p->extrapolation_value;
    int64_t yo = 0;
    for (int64_t oi = 0; oi < n_outer; oi++) {
        /* tap combinations of the outer axes */
        int out_outer = 0;
        int64_t nc = 1;
        co_off[0] = 0;
        co_w[0] = 1.0;
        for (int a = 0; a < r - 1; a++) {
            const axis_taps *t = &ax[a];
            int64_t o = idx[a];
            if (t->outside[o])
                out_outer = 1;
            int64_t ncn = nc * t->used;
            /* expand in place, back to front */
            for (int64_t c = nc - 1; c >= 0; c--)
                for (int k = t->used - 1; k >= 0; k--) {
                    co_off[c * t->used + k] = co_off[c] + t->off[o * t->ntap + k];
                    co_w[c * t->used + k] = co_w[c] * t->w[o * t->ntap + k];
                }
            nc = ncn;
        }
        for (int64_t ol = 0; ol < nl; ol++, yo++) {
            if (out_outer || last->outside[ol]) {
                ks__nn_st(y, dt, yo, extrap);
                continue;
            }
            double s = 0.0;
            const int64_t *lo = last->off + ol * last->ntap;
            const double *lw = last->w + ol * last->ntap;
            for (int64_t c = 0; c < nc; c++)
                for (int k = 0; k < last->used; k++)
                    s += co_w[c] * lw[k] * ks__nn_ld(x, dt, co_off[c] + lo[k]);
            ks__nn_st(y, dt, yo, s);
        }
        for (int a = r - 2; a >= 0; a--) {
            if (++idx[a] < p->out[a])
                break;
            idx[a] = 0;
        }
    }
}

/* Nearest: a gather of es-byte elements (any dtype). */
KS_NN_INLINE void nearest_run(size_t es, const ks_resize_params *p, const axis_taps *ax,
                              const void *x, void *y, const void *extrap) {
    int r = p->ndim;
    const axis_taps *last = &ax[r - 1];
    int64_t nl = p->out[r - 1];
    int64_t idx[KS_MAX_DIMS] = {0};
    int64_t n_outer = 1;
    for (int a = 0; a < r - 1; a++)
        n_outer *= p->out[a];
    char *yy = (char *)y;
    const char *xx = (const char *)x;
    for (int64_t oi = 0; oi < n_outer; oi++) {
        int out_outer = 0;
        int64_t base = 0;
        for (int a = 0; a < r - 1; a++) {
            out_outer |= ax[a].outside[idx[a]];
            base += ax[a].off[idx[a]];
        }
        for (int64_t ol = 0; ol < nl; ol++, yy += es) {
            const void *src =
                (out_outer || last->outside[ol]) ? extrap : xx + (base + last->off[ol]) * es;
            if (es == 4)
                memcpy(yy, src, 4);
            else
                memcpy(yy, src, es);
        }
        for (int a = r - 2; a >= 0; a--) {
            if (++idx[a] < p->out[a])
                break;
            idx[a] = 0;
        }
    }
}

ks_status ks__cpu_resize(ks_op_ctx *oc) {
    ks_resize_params p;
    KS_CHECK(ks__resize_params(oc, &p));
    const ks_tensor *x, *roi, *scales, *sizes;
    ks__resize_inputs(oc, &x, &roi, &scales, &sizes);
    ks_tensor *y = oc->out[0];
    if (p.mode != KS_RESIZE_NEAREST) {
        const ks_tensor *ts[2] = {x, y};
        KS_CHECK(ks__nn_check_float(oc, 2, ts));
    }
    int r = p.ndim;
    if (r < 1)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "Resize: X must have rank >= 1");
    for (int a = 0; a < r; a++) {
        if (p.out[a] < 0 || p.out[a] != y->dims[a])
            return ks__op_error(oc, KS_INTERNAL, "Resize: output dim %d is %lld, expected %lld", a,
                                (long long)y->dims[a], (long long)p.out[a]);
        if (p.out[a] > 0 && p.in[a] == 0)
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                                "Resize: cannot resize an empty axis "
                                "%d to %lld",
                                a, (long long)p.out[a]);
    }
    if (ks_tensor_numel(y) == 0)
        return KS_OK;
    int64_t st[KS_MAX_DIMS];
    ks__strides(x->dims, r, st);
    axis_taps ax[KS_MAX_DIMS];
    memset(ax, 0, sizeof ax);
    ks_status s = KS_OK;
    int64_t max_combos = 1;
    for (int a = 0; a < r && s == KS_OK; a++) {
        s = build_taps(oc, &p, a, st[a], &ax[a]);
        if (s == KS_OK && a < r - 1)
            max_combos *= ax[a].used;
    }
    int64_t *co_off = NULL;
    double *co_w = NULL;
    if (s == KS_OK)
        s = ks__nn_scratch(oc, max_combos, sizeof(int64_t), (void **)&co_off);
    if (s == KS_OK)
        s = ks__nn_scratch(oc, max_combos, sizeof(double), (void **)&co_w);
    if (s == KS_OK) {
        if (p.mode == KS_RESIZE_NEAREST) {
            size_t es = ks_dtype_size(x->dtype);
            unsigned char ev[8] = {0};
            ks_tensor et = {x->dtype, 0, {0}, ev};
            if (x->dtype != KS_DTYPE_BOOL)
                ks__tensor_set_f64(&et, 0, p.extrapolation_value);
            if (es == 4)
                nearest_run(4, &p, ax, x->data, y->data, ev);
            else
                nearest_run(es, &p, ax, x->data, y->data, ev);
        } else if (x->dtype == KS_DTYPE_FLOAT64) {
            interp_run(KS_DTYPE_FLOAT64, &p, ax, x->data, y->data, co_off, co_w);
        } else {
            interp_run(KS_DTYPE_FLOAT32, &p, ax, x->data, y->data, co_off, co_w);
        }
    }
    for (int a = 0; a < r; a++) {
        ks__free(oc->ctx, ax[a].off);
        ks__free(oc->ctx, ax[a].w);
        ks__free(oc->ctx, ax[a].outside);
    }
    ks__free(oc->ctx, co_off);
    ks__free(oc->ctx, co_w);
    return s;
}
