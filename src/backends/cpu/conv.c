/* CPU reference: Conv (1-D, 2-D, 3-D; groups, dilations, pads, auto_pad).
 *
 * im2col + GEMM, tiled over output positions: for each batch item and
 * group, a tile of output positions is unfolded into a packed [K x tile]
 * matrix (K = C/group * prod(kernel)) that the matmul core multiplies by the
 * group's [M/group x K] weights. 1-D and 2-D are run as 3-D with leading
 * spatial dims of size 1. Sums run over (channel, kernel position) in that
 * order, in the element type; the bias is added last. */
#include "backends/cpu/nn_common.h"

/* Window geometry padded to 3 spatial dims. */
/* Unfolds output positions [p0, p0+np) of one group's channels (x points at
 * its first channel) into packed panels: bp[((q / NR) * K + kk) * NR + q % NR]
 * = input value read by kernel tap kk at output position p0 + q. */
KS_NN_INLINE void im2col_pack(size_t es, const geom3 *g, int64_t cg, const void *x, int64_t p0,
                              int64_t np, void *bp) {
    const int64_t kprod = g->k[0] * g->k[1] * g->k[2];
    const int64_t K = cg * kprod;
    const int64_t plane = g->in[0] * g->in[1] * g->in[2];
    const int64_t oyx = g->out[1] * g->out[2];
    int64_t kk = 0;
    for (int64_t c = 0; c < cg; c++) {
        const char *xc = (const char *)x + (size_t)(c * plane) * es;
        for (int64_t kz = 0; kz < g->k[0]; kz++)
            for (int64_t ky = 0; ky < g->k[1]; ky++)
                for (int64_t kx = 0; kx < g->k[2]; kx++, kk++) {
                    int64_t oz = p0 / oyx, oy = (p0 % oyx) / g->out[2], ox = p0 % g->out[2];
                    int64_t q = 0;
                    const int64_t xoff = kx * g->d[2] - g->pb[2];
                    while (q < np) {
                        int64_t seg = g->out[2] - ox;
                        if (seg > np - q)
                            seg = np - q;
                        int64_t iz = oz * g->s[0] - g->pb[0] + kz * g->d[0];
                        int64_t iy = oy * g->s[1] - g->pb[1] + ky * g->d[1];
                        int row_ok = iz >= 0 && iz < g->in[0] && iy >= 0 && iy < g->in[1];
                        /* only form the row pointer for rows inside the input
                         * (a pointer into padding would be out of bounds) */
                        const char *row =
                            row_ok ? xc + (size_t)((iz * g->in[1] + iy) * g->in[2]) * es : xc;
                        /* taps t in [t0, t1) read inside the row, the rest are padding */
                        int64_t ix0 = ox * g->s[2] + xoff, t0 = 0, t1 = 0;
                        if (row_ok) {
                            t0 = ix0 < 0 ? (-ix0 + g->s[2] - 1) / g->s[2] : 0;
                            t1 = ix0 > g->in[2] - 1 ? 0 : (g->in[2] - 1 - ix0) / g->s[2] + 1;
                            if (t1 > seg)
                                t1 = seg;
                            if (t0 > t1)
                                t0 = t1;
                        }
                        /* walk the packed destination: NR lanes per panel, then
                         * jump to the same row of the next panel */
                        int64_t lane = (q % KS_NN_NR);
                        int64_t di = ((q / KS_NN_NR) * K + kk) * KS_NN_NR + lane;
                        const int64_t jump = (K - 1) * KS_NN_NR + 1;
                        for (int64_t t = 0; t < seg; t++) {
                            int ok = t >= t0 && t < t1;
                            if (es == 4)
                                ((float *)bp)[di] =
                                    ok ? ((const float *)row)[ix0 + t * g->s[2]] : 0.0f;
                            else
                                ((double *)bp)[di] =
                                    ok ? ((const double *)row)[ix0 + t * g->s[2]] : 0.0;
                            if (++lane == KS_NN_NR) {
                                lane = 0;
                                di += jump;
                            } else {
                                di++;
                            }
                        }
                        q += seg;
                        ox = 0;
                        if (++oy == g->out[1]) {
                            oy = 0;
                            oz++;
                        }
                    }
                }
    }
}

static void im2col_pack_any(ks_dtype dt, const geom3 *g, int64_t cg, const void *x, int64_t p0,
                            int64_t np, void *bp) {
    if (dt == KS_DTYPE_FLOAT64)
        im2col_pack(8, g, cg, x, p0, np, bp);
    else
        im2col_pack(4, g, cg, x, p0, np, bp);
}

/* Output positions per tile: keep the packed tile near 192 KiB. */
static int64_t pick_tile(int64_t K, int64_t P, size_t es) {
    int64_t t = (int64_t)(192 * 1024 / es) / (K > 0 ? K : 1);
    t = t / KS_NN_NR * KS_NN_NR;
    if (t < 4 * KS_NN_NR)
        t = 4 * KS_NN_NR;
    if (t > P)
        t = P;
    return t > 0 ? t : 1;
}

KS_NN_INLINE void add_bias(ks_dtype dt, void *y, const ks_tensor *b, int64_t n, int64_t m,
                           int64_t plane) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < m; c++) {
            double bv = ks__tensor_get_f64(b, c);
            int64_t off = (i * m + c) * plane;
            if (dt == KS_DTYPE_FLOAT64) {
                double *yy = (double *)y + off;
                for (int64_t j = 0; j < plane; j++)
                    yy[j] += bv;
            } else {
                float *yy = (float *)y + off;
                float bf = (float)bv;
                for (int64_t j = 0; j < plane; j++)
                    yy[j] += bf;
            }
        }
}

ks_status ks__cpu_conv(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0], *w = oc->in[1];
    const ks_tensor *b = oc->n_in > 2 ? oc->in[2] : NULL;
    ks_tensor *y = oc->out[0];
    const ks_tensor *ts[4] = {x, w, b, y};
    KS_CHECK(ks__nn_check_float(oc, 4, ts));
    ks_window_params p;
    KS_CHECK(ks__conv_params(oc, x, w, &p));
    if (p.n_spatial == 0)
        return ks__op_error(oc, KS_INTERNAL, "Conv: unknown rank at run time");
    ks_dtype dt = x->dtype;
    size_t es = ks_dtype_size(dt);
    memset(y->data, 0, ks_tensor_nbytes(y));
    geom3 g;
    ks__nn_geom3_from(&p, &g);
    const int64_t N = x->dims[0], C = x->dims[1], M = w->dims[0], G = p.group;
    const int64_t cg = C / G, mg = M / G;
    const int64_t kprod = g.k[0] * g.k[1] * g.k[2];
    const int64_t K = cg * kprod;
    const int64_t P = g.out[0] * g.out[1] * g.out[2];
    const int64_t plane = g.in[0] * g.in[1] * g.in[2];
    if (P > 0 && K > 0 && mg > 0 && N > 0) {
        int64_t tile = pick_tile(K, P, es);
        void *bp;
        KS_CHECK(ks__nn_scratch(oc, ks__nn_packed_size(K, tile), es, &bp));
        for (int64_t n = 0; n < N; n++)
            for (int64_t gi = 0; gi < G; gi++) {
                const char *xg = (const char *)x->data + (size_t)((n * C + gi * cg) * plane) * es;
                const char *wg = (const char *)w->data + (size_t)(gi * mg * K) * es;
                char *yg = (char *)y->data + (size_t)((n * M + gi * mg) * P) * es;
                for (int64_t p0 = 0; p0 < P; p0 += tile) {
                    int64_t np = P - p0 < tile ? P - p0 : tile;
                    im2col_pack_any(dt, &g, cg, xg, p0, np, bp);
                    ks__nn_gemm(dt, mg, np, K, wg, K, 1, bp, yg + (size_t)p0 * es, P);
                }
            }
        ks__free(oc->ctx, bp);
    }
    if (b) {
        if (dt == KS_DTYPE_FLOAT64)
            add_bias(KS_DTYPE_FLOAT64, y->data, b, N, M, P);
        else
            add_bias(KS_DTYPE_FLOAT32, y->data, b, N, M, P);
    }
    return KS_OK;
}
