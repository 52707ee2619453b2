/* CPU reference: ConvTranspose (1-D, 2-D, 3-D; groups, dilations, pads,
 * output_padding, output_shape, auto_pad).
 *
 * GEMM + col2im, tiled over input positions: for each batch item and group,
 * col[(m, tap), q] = sum_c W[c, m, tap] * X[c, q] for a tile of input
 * positions q, then every col entry is added to the output position
 * q * stride - pad_begin + tap * dilation when that lies inside the output.
 * The bias is added last. */
#include "backends/cpu/nn_common.h"

/* Scatters col [mg*kprod x np] (input positions p0..p0+np) into y (mg
 * output channels). */
KS_NN_INLINE void col2im(ks_dtype dt, const geom3 *g, int64_t mg, const void *col, int64_t p0,
                         int64_t np, void *y) {
    const int64_t kprod = g->k[0] * g->k[1] * g->k[2];
    const int64_t oplane = g->out[0] * g->out[1] * g->out[2];
    const int64_t iyx = g->in[1] * g->in[2];
    int64_t r = 0;
    for (int64_t m = 0; m < mg; m++)
        for (int64_t kz = 0; kz < g->k[0]; kz++)
            for (int64_t ky = 0; ky < g->k[1]; ky++)
                for (int64_t kx = 0; kx < g->k[2]; kx++, r++) {
                    for (int64_t q = 0; q < np; q++) {
                        int64_t p = p0 + q;
                        int64_t iz = p / iyx, iy = (p % iyx) / g->in[2], ix = p % g->in[2];
                        int64_t oz = iz * g->s[0] - g->pb[0] + kz * g->d[0];
                        int64_t oy = iy * g->s[1] - g->pb[1] + ky * g->d[1];
                        int64_t ox = ix * g->s[2] - g->pb[2] + kx * g->d[2];
                        if (oz < 0 || oz >= g->out[0] || oy < 0 || oy >= g->out[1] || ox < 0 ||
                            ox >= g->out[2])
                            continue;
                        int64_t o = m * oplane + (oz * g->out[1] + oy) * g->out[2] + ox;
                        ks__nn_st(y, dt, o, ks__nn_ld(y, dt, o) + ks__nn_ld(col, dt, r * np + q));
                    }
                }
    (void)kprod;
}

ks_status ks__cpu_conv_transpose(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0], *w = oc->in[1];
    const ks_tensor *b = oc->n_in > 2 ? oc->in[2] : NULL;
    ks_tensor *y = oc->out[0];
    const ks_tensor *ts[4] = {x, w, b, y};
    KS_CHECK(ks__nn_check_float(oc, 4, ts));
    ks_window_params p;
    KS_CHECK(ks__conv_transpose_params(oc, x, w, &p));
    if (p.n_spatial == 0)
        return ks__op_error(oc, KS_INTERNAL, "ConvTranspose: unknown rank at run time");
    ks_dtype dt = x->dtype;
    size_t es = ks_dtype_size(dt);
    memset(y->data, 0, ks_tensor_nbytes(y));
    geom3 g;
    ks__nn_geom3_from(&p, &g);
    const int64_t N = x->dims[0], C = x->dims[1], G = p.group;
    const int64_t cg = C / G, mg = w->dims[1], M = mg * G;
    const int64_t kprod = g.k[0] * g.k[1] * g.k[2];
    const int64_t R = mg * kprod; /* col rows */
    const int64_t Pin = g.in[0] * g.in[1] * g.in[2];
    const int64_t Pout = g.out[0] * g.out[1] * g.out[2];
    if (Pin > 0 && R > 0 && N > 0) {
        /* tile of input positions: packed X tile + col tile near 1 MiB */
        int64_t tile = (int64_t)(1024 * 1024 / es) / (R + cg + 1);
        tile = tile / KS_NN_NR * KS_NN_NR;
        if (tile < KS_NN_NR)
            tile = KS_NN_NR;
        if (tile > Pin)
            tile = Pin;
        void *bp, *col;
        KS_CHECK(ks__nn_scratch(oc, ks__nn_packed_size(cg, tile), es, &bp));
        ks_status st = ks__nn_scratch(oc, R * tile, es, &col);
        if (st != KS_OK) {
            ks__free(oc->ctx, bp);
            return st;
        }
        for (int64_t n = 0; n < N; n++)
            for (int64_t gi = 0; gi < G; gi++) {
                const char *xg = (const char *)x->data + (size_t)((n * C + gi * cg) * Pin) * es;
                const char *wg = (const char *)w->data + (size_t)(gi * cg * R) * es;
                char *yg = (char *)y->data + (size_t)((n * M + gi * mg) * Pout) * es;
                for (int64_t p0 = 0; p0 < Pin; p0 += tile) {
                    int64_t np = Pin - p0 < tile ? Pin - p0 : tile;
                    ks__nn_pack_b(dt, cg, np, xg + (size_t)p0 * es, Pin, 1, bp);
                    memset(col, 0, (size_t)(R * np) * es);
                    /* A(r, c) = W[c, r] within the group: a_rs = 1, a_cs = R */
                    ks__nn_gemm(dt, R, np, cg, wg, 1, R, bp, col, np);
                    if (dt == KS_DTYPE_FLOAT64)
                        col2im(KS_DTYPE_FLOAT64, &g, mg, col, p0, np, yg);
                    else
                        col2im(KS_DTYPE_FLOAT32, &g, mg, col, p0, np, yg);
                }
            }
        ks__free(oc->ctx, col);
        ks__free(oc->ctx, bp);
    }
    if (b)
        for (int64_t n = 0; n < N; n++)
            for (int64_t m = 0; m < M; m++) {
                double bv = ks__tensor_get_f64(b, m);
                for (int64_t j = 0; j < Pout; j++) {
                    int64_t o = (n * M + m) * Pout + j;
                    if (dt == KS_DTYPE_FLOAT64)
                        ((double *)y->data)[o] += bv;
                    else
                        ((float *)y->data)[o] += (float)bv;
                }
            }
    return KS_OK;
}
