/* MTCNN CUDA glue kernels against their CPU references: batched pyramid
 * resize + pack (all layouts), candidate extraction, ROI crop-resize.
 * Skips (77) without CUDA or a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kestrel/engine.h"
#include "vision/mtcnn.h"

#ifdef KS_HAVE_CUDA
#include <cuda_runtime.h>

static uint32_t rng = 7u;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return ((rng >> 8) / 16777216.0f) * 2.f - 1.f;
}

static void *dev_copy(const void *h, size_t n) {
    void *d = NULL;
    cudaMalloc(&d, n ? n : 1);
    if (n)
        cudaMemcpy(d, h, n, cudaMemcpyHostToDevice);
    return d;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d)
            m = d != d ? 1e30 : d;
    }
    return m;
}

static void test_pyramid(const float *img, int w, int h) {
    char err[256];
    for (int layout = 0; layout < 4; layout++) {
        ks_mtcnn_pyramid p;
        memset(&p, 0, sizeof p);
        p.nhwc = layout & 1;
        p.transposed = layout >> 1;
        float scale = 12.f / 20.f;
        int64_t off = 0;
        while (p.n_levels < 8) {
            int lw = (int)ceilf(w * scale), lh = (int)ceilf(h * scale);
            if (lw < 12 || lh < 12)
                break;
            p.w[p.n_levels] = lw, p.h[p.n_levels] = lh, p.offset[p.n_levels] = off;
            off += 3LL * lw * lh;
            p.n_levels++;
            scale *= 0.709f;
        }
        float *ref = calloc((size_t)off, sizeof(float)), *got = calloc((size_t)off, sizeof(float));
        for (int l = 0; l < p.n_levels; l++) {
            float *rs = malloc(sizeof(float) * 3 * (size_t)p.w[l] * p.h[l]);
            ks__mtcnn_resize_bilinear(img, w, h, 3, rs, p.w[l], p.h[l]);
            ks__mtcnn_pack_cpu(rs, p.w[l], p.h[l], p.nhwc, p.transposed, ref + p.offset[l]);
            free(rs);
        }
        float *dimg = dev_copy(img, sizeof(float) * 3 * (size_t)w * h), *ddst = NULL;
        cudaMalloc((void **)&ddst, sizeof(float) * (size_t)off);
        int rc = ks__mtcnn_pyramid_cuda(dimg, w, h, &p, ddst, NULL, err, sizeof err);
        KS_T_CHECK_MSG(rc == 0, "%s", err);
        cudaMemcpy(got, ddst, sizeof(float) * (size_t)off, cudaMemcpyDeviceToHost);
        double d = max_diff(ref, got, (size_t)off);
        KS_T_CHECK_MSG(d <= 1e-5, "pyramid layout %d: max diff %g", layout, d);
        cudaFree(dimg);
        cudaFree(ddst);
        free(ref);
        free(got);
    }
}

static int cmp_cell(const void *a, const void *b) {
    return *(const int *)a - *(const int *)b;
}

static void test_candidates(void) {
    char err[256];
    int ma = 37, mb = 23, n = ma * mb;
    float *prob = malloc(sizeof(float) * 2 * n), *reg = malloc(sizeof(float) * 4 * n);
    for (int i = 0; i < 2 * n; i++)
        prob[i] = frand() * 0.5f + 0.5f;
    for (int i = 0; i < 4 * n; i++)
        reg[i] = frand() * 0.2f;
    for (int layout = 0; layout < 4; layout++) {
        int nhwc = layout & 1, tr = layout >> 1;
        int cap = n;
        ks_mtcnn_box *ref = calloc((size_t)cap, sizeof(*ref)), *got = calloc((size_t)cap, sizeof(*got));
        int *rc_cells = calloc((size_t)cap, sizeof(int)), *gc = calloc((size_t)cap, sizeof(int));
        int nr = ks__mtcnn_candidates_cpu(prob, reg, ma, mb, nhwc, tr, 0.37f, 0.6f, ref, rc_cells, cap);
        float *dp = dev_copy(prob, sizeof(float) * 2 * n), *dr = dev_copy(reg, sizeof(float) * 4 * n);
        ks_mtcnn_box *dout = NULL;
        int *dcells = NULL, *dcount = NULL, count = 0;
        cudaMalloc((void **)&dout, sizeof(*dout) * cap);
        cudaMalloc((void **)&dcells, sizeof(int) * cap);
        cudaMalloc((void **)&dcount, sizeof(int));
        cudaMemset(dcount, 0, sizeof(int));
        int rc = ks__mtcnn_candidates_cuda(dp, dr, ma, mb, nhwc, tr, 0.37f, 0.6f, dout, dcells,
                                           cap, dcount, NULL, err, sizeof err);
        KS_T_CHECK_MSG(rc == 0, "%s", err);
        cudaMemcpy(&count, dcount, sizeof(int), cudaMemcpyDeviceToHost);
        cudaMemcpy(got, dout, sizeof(*got) * cap, cudaMemcpyDeviceToHost);
        cudaMemcpy(gc, dcells, sizeof(int) * cap, cudaMemcpyDeviceToHost);
        KS_T_CHECK_EQ_I(count, nr);
        KS_T_CHECK(nr > 10);
        /* match by cell index (GPU order is arbitrary) */
        int ok = 1;
        for (int i = 0; i < nr && i < count; i++) {
            int j = 0;
            while (j < count && gc[j] != rc_cells[i])
                j++;
            if (j == count) {
                ok = 0;
                break;
            }
            ok &= !memcmp(&ref[i], &got[j], sizeof(ks_mtcnn_box));
        }
        KS_T_CHECK_MSG(ok, "candidates layout %d differ", layout);
        qsort(gc, (size_t)count, sizeof(int), cmp_cell);
        for (int i = 1; i < count; i++)
            KS_T_CHECK(gc[i] != gc[i - 1]);
        cudaFree(dp);
        cudaFree(dr);
        cudaFree(dout);
        cudaFree(dcells);
        cudaFree(dcount);
        free(ref);
        free(got);
        free(rc_cells);
        free(gc);
    }
    free(prob);
    free(reg);
}

static void test_crop(const float *img, int w, int h) {
    char err[256];
    enum { NB = 6 };
    int boxes[NB][4] = {{1, 1, 24, 24},   {-10, -5, 40, 45}, {w - 10, h - 20, w + 15, h + 5},
                        {30, 20, 31, 21}, {5, 7, 5, 7},      {10, 10, 9, 30} /* invalid */};
    for (int size = 24; size <= 48; size += 24)
        for (int layout = 0; layout < 4; layout++) {
            int nhwc = layout & 1, tr = layout >> 1;
            size_t per = 3 * (size_t)size * size;
            float *ref = calloc(per * NB, sizeof(float)), *got = calloc(per * NB, sizeof(float));
            float *tmp = malloc(sizeof(float) * per);
            for (int b = 0; b < NB; b++) {
                if (!ks__mtcnn_crop_valid(boxes[b], w, h))
                    continue; /* zero item */
                ks__mtcnn_crop_cpu(img, w, h, boxes[b], size, tmp);
                ks__mtcnn_pack_cpu(tmp, size, size, nhwc, tr, ref + per * b);
            }
            float *dimg = dev_copy(img, sizeof(float) * 3 * (size_t)w * h);
            int *db = dev_copy(boxes, sizeof boxes);
            float *dd = NULL;
            cudaMalloc((void **)&dd, sizeof(float) * per * NB);
            int rc = ks__mtcnn_crop_cuda(dimg, w, h, db, NB, size, nhwc, tr, dd, NULL, err, sizeof err);
            KS_T_CHECK_MSG(rc == 0, "%s", err);
            cudaMemcpy(got, dd, sizeof(float) * per * NB, cudaMemcpyDeviceToHost);
            double d = max_diff(ref, got, per * NB);
            KS_T_CHECK_MSG(d <= 1e-5, "crop size %d layout %d: max diff %g", size, layout, d);
            cudaFree(dimg);
            cudaFree(db);
            cudaFree(dd);
            free(ref);
            free(got);
            free(tmp);
        }
}
#endif

int main(void) {
#ifndef KS_HAVE_CUDA
    KS_T_SKIP("built without CUDA");
#else
    if (!ks_cuda_available())
        KS_T_SKIP("no GPU");
    int w = 211, h = 157;
    float *img = malloc(sizeof(float) * 3 * (size_t)w * h);
    for (int i = 0; i < 3 * w * h; i++)
        img[i] = frand();
    test_pyramid(img, w, h);
    test_candidates();
    test_crop(img, w, h);
    free(img);
    return ks_t_done();
#endif
}
