/* MTCNN GPU cascade against the CPU cascade (Caffe nets) on the MTCNN test
 * images and ultraface/13.jpg: every box scoring >= 0.9 on one side has a
 * box with IoU >= 0.9 on the other (P-Net canvas FP32, per-level streams
 * FP32; 0.8 for canvas FP16), CUDA-graph replays and device-image input give the
 * same results, and the GPU block NMS equals ks__mtcnn_nms (union and Min)
 * on random boxes, and the per-level grid NMS (ks__mtg_pnet_post) keeps
 * exactly the cells a CPU ks__mtcnn_nms per level keeps on random grids
 * with tied scores. Frame batching: 3 different frames (ultraface/13.jpg,
 * its mirror image, its BGR copy) in one run of a 4-frame pipeline each
 * match the CPU on that frame, replays are identical, one image alone
 * gives the first slot's result. Overflow: the dense crowd
 * ultraface/17.jpg with R/O batches shrunk to 64/16 (1 and 2 frames per
 * run) runs the extra candidates in chunks: nothing truncated, the CPU
 * cascade's strong faces found (and vice versa; per-level P-Net: all of
 * them, canvas: 5% may differ at the image edge), the same face count
 * within 2%. Skips (77) without CUDA or a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kestrel/engine.h"
#include "kestrel/vision.h"
#include "vision/mtcnn.h"
#ifdef KS_HAVE_CUDA
#include "vision/mtcnn_dev.cuh"
#include "vision/mtcnn_gpu.h"
#endif

static const char *images[] = {"mtcnn/test2.jpg", "mtcnn/pkuzhou_4.jpg", "mtcnn/pkuzhou_2.png",
                               "ultraface/13.jpg"};
#define N_IMG (sizeof images / sizeof images[0])
#define STRONG 0.9f

/* Every strong box of a has a match in b; returns the count of misses. */
static int unmatched(const ks_detection *a, int na, const ks_detection *b, int nb, float min_iou,
                     const char *what) {
    int miss = 0;
    for (int i = 0; i < na; i++) {
        if (a[i].score < STRONG)
            continue;
        float best = 0;
        for (int j = 0; j < nb; j++)
            best = fmaxf(best, ks_t_box_iou(a[i].box, b[j].box));
        if (best < min_iou) {
            fprintf(stderr, "  %s: box %d (%.1f,%.1f,%.1f,%.1f %.4f) best IoU %.3f\n", what, i,
                    a[i].box[0], a[i].box[1], a[i].box[2], a[i].box[3], a[i].score, best);
            miss++;
        }
    }
    return miss;
}

#ifdef KS_HAVE_CUDA
static uint32_t rng = 12345u;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 16777216.0f;
}

static void test_block_nms(void) {
    char err[256];
    enum { N = 3000 };
    static ks_mtcnn_box in[N], ref[N], got[N];
    static int scratch[2 * N];
    for (int mode = 0; mode < 2; mode++) {
        for (int i = 0; i < N; i++) {
            memset(&in[i], 0, sizeof in[i]);
            float x = frand() * 400, y = frand() * 300, s = 8 + frand() * 60;
            in[i].x1 = floorf(x), in[i].y1 = floorf(y);
            in[i].x2 = floorf(x + s), in[i].y2 = floorf(y + s * (0.8f + 0.4f * frand()));
            in[i].score = (float)((i * 7919) % N) / N; /* distinct scores */
            in[i].reg[0] = (float)i;
        }
        memcpy(ref, in, sizeof in);
        int nr = ks__mtcnn_nms(ref, N, mode ? 0.7f : 0.5f, mode, scratch);
        void *din = NULL, *dout = NULL, *dcnt = NULL;
        int n = N, ng = -1;
        KS_T_CHECK(!ks__mtg_malloc(&din, sizeof in, err, sizeof err));
        KS_T_CHECK(!ks__mtg_malloc(&dout, sizeof in, err, sizeof err));
        KS_T_CHECK(!ks__mtg_malloc(&dcnt, 2 * sizeof(int), err, sizeof err));
        ks__mtg_memcpy2d(din, 0, in, 0, sizeof in, 1, 1, NULL, err, sizeof err);
        ks__mtg_memcpy2d(dcnt, 0, &n, 0, sizeof n, 1, 1, NULL, err, sizeof err);
        int rc = ks__mtg_nms(din, NULL, dcnt, mode ? 0.7f : 0.5f, mode, dout, (int *)dcnt + 1,
                             NULL, err, sizeof err);
        KS_T_CHECK_MSG(rc == 0, "gpu nms: %s", err);
        ks__mtg_stream_sync(NULL, err, sizeof err);
        ks__mtg_memcpy2d(&ng, 0, (int *)dcnt + 1, 0, sizeof ng, 1, 2, NULL, err, sizeof err);
        ks__mtg_memcpy2d(got, 0, dout, 0, sizeof got, 1, 2, NULL, err, sizeof err);
        ks__mtg_stream_sync(NULL, err, sizeof err);
        KS_T_CHECK_MSG(ng == nr, "gpu nms mode %d: %d kept, cpu %d", mode, ng, nr);
        int same = ng == nr;
        for (int i = 0; same && i < nr; i++)
            same = got[i].reg[0] == ref[i].reg[0];
        KS_T_CHECK_MSG(same, "gpu nms mode %d: kept boxes differ from the CPU", mode);
        fprintf(stderr, "block NMS %s: %d of %d kept, %s\n", mode ? "Min 0.7" : "IoU 0.5", ng, N,
                same ? "same as CPU" : "DIFFERENT");
        ks__mtg_free(din);
        ks__mtg_free(dout);
        ks__mtg_free(dcnt);
    }
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

/* Random P-Net grids (3 levels, quantised scores: many ties) through
 * ks__mtg_pnet_post; the per-level kept cells (g_key) must equal a CPU
 * greedy NMS of each level's cells >= t1 listed in cell order. */
static void test_grid_nms(void) {
    char err[256];
    static const int dims[3][2] = {{70, 90}, {41, 53}, {17, 23}};
    static const float scales[3] = {0.6f, 0.35f, 0.15f};
    static const float thrs[3] = {0.5f, 0.7f, 0.3f};
    enum { CELLS = 70 * 90 + 41 * 53 + 17 * 23 };
    static float prob[CELLS * 2], reg[CELLS * 4];
    static ks_mtcnn_box lb[CELLS];
    static int scratch[2 * CELLS], ref[CELLS], got[KS_MTG_NMS_CAP];
    for (int trial = 0; trial < 6; trial++) {
        int transposed = trial & 1;
        float thr = thrs[trial / 2], t1 = 0.7f;
        ks_mtg_levels L;
        memset(&L, 0, sizeof L);
        L.n = 3, L.transposed = transposed;
        void *dmap = NULL;
        KS_T_CHECK(!ks__mtg_malloc(&dmap, sizeof prob + sizeof reg, err, sizeof err));
        int cells = 0;
        size_t poff = 0;
        for (int l = 0; l < 3; l++) {
            ks_mtg_level *v = &L.l[l];
            v->ma = v->map_a = dims[l][0], v->mb = v->map_b = dims[l][1];
            v->cell_base = cells, v->scale = scales[l];
            v->prob = (const float *)dmap + poff;
            v->reg = (const float *)dmap + CELLS * 2 + (size_t)cells * 4;
            int n = v->ma * v->mb;
            for (int k = 0; k < n; k++) {
                prob[poff + k] = 0;
                /* denser where trial is odd; quantised: ties */
                float r = frand();
                prob[poff + n + k] = r < 0.55f ? 0.f : 0.5f + 0.5f * floorf(frand() * 24) / 24;
            }
            for (int k = 0; k < 4 * n; k++)
                reg[(size_t)cells * 4 + k] = 0;
            poff += 2 * (size_t)n;
            cells += n;
        }
        L.total_cells = cells;
        ks__mtg_memcpy2d(dmap, 0, prob, 0, sizeof prob, 1, 1, NULL, err, sizeof err);
        ks__mtg_memcpy2d((float *)dmap + CELLS * 2, 0, reg, 0, sizeof reg, 1, 1, NULL, err,
                         sizeof err);
        ks_mtg_bufs b;
        memset(&b, 0, sizeof b);
        b.cand_cap = cells;
        b.nf = 1;
        KS_T_CHECK(!ks__mtg_malloc((void **)&b.state, sizeof(ks_mtg_state), err, sizeof err));
        KS_T_CHECK(!ks__mtg_malloc((void **)&b.status, (size_t)cells, err, sizeof err));
        KS_T_CHECK(!ks__mtg_malloc((void **)&b.cand, KS_MTG_CAND_BYTES(cells), err, sizeof err));
        KS_T_CHECK(!ks__mtg_malloc((void **)&b.g_in, KS_MTG_NMS_CAP * sizeof(ks_mtcnn_box), err,
                                   sizeof err));
        KS_T_CHECK(!ks__mtg_malloc((void **)&b.g_key, KS_MTG_NMS_CAP * sizeof(int), err,
                                   sizeof err));
        KS_T_CHECK(!ks__mtg_malloc((void **)&b.r_list, KS_MTG_NMS_CAP * sizeof(ks_mtcnn_box), err,
                                   sizeof err));
        ks_mtg_thresholds t = {{t1, 0.7f, 0.7f}, {thr, 0.7f, 0.7f}};
        int rc = ks__mtg_pnet_post(&L, &b, &t, NULL, NULL, err, sizeof err);
        KS_T_CHECK_MSG(rc == 0, "pnet post: %s", err);
        ks_mtg_state st;
        ks__mtg_stream_sync(NULL, err, sizeof err);
        ks__mtg_memcpy2d(&st, 0, b.state, 0, sizeof st, 1, 2, NULL, err, sizeof err);
        ks__mtg_memcpy2d(got, 0, b.g_key, 0, sizeof got, 1, 2, NULL, err, sizeof err);
        ks__mtg_stream_sync(NULL, err, sizeof err);
        /* CPU: per level, cells >= t1 in cell order, greedy NMS */
        int nref = 0;
        poff = 0;
        for (int l = 0; l < 3; l++) {
            const ks_mtg_level *v = &L.l[l];
            int n = v->ma * v->mb, nl = 0;
            for (int k = 0; k < n; k++) {
                float p = prob[poff + n + k];
                if (!(p >= t1))
                    continue;
                int a = k / v->mb, bb = k % v->mb;
                int cx = transposed ? a : bb, cy = transposed ? bb : a;
                ks_mtcnn_box *x = &lb[nl++];
                memset(x, 0, sizeof *x);
                x->x1 = truncf((2.f * (float)cx + 1.f) / v->scale);
                x->y1 = truncf((2.f * (float)cy + 1.f) / v->scale);
                x->x2 = truncf((2.f * (float)cx + 12.f) / v->scale);
                x->y2 = truncf((2.f * (float)cy + 12.f) / v->scale);
                x->score = p;
                x->reg[0] = (float)(v->cell_base + k);
            }
            nl = ks__mtcnn_nms(lb, nl, thr, 0, scratch);
            for (int i = 0; i < nl; i++)
                ref[nref++] = (int)lb[i].reg[0];
            poff += 2 * (size_t)n;
        }
        int ng = st.n_global < KS_MTG_NMS_CAP ? st.n_global : KS_MTG_NMS_CAP;
        KS_T_CHECK_MSG(!st.truncated && st.n_pkept == ng, "grid nms: truncated (%d, %d kept)",
                       st.truncated, st.n_pkept);
        qsort(ref, (size_t)nref, sizeof(int), cmp_int);
        qsort(got, (size_t)ng, sizeof(int), cmp_int);
        int same = ng == nref;
        for (int i = 0; same && i < nref; i++)
            same = got[i] == ref[i];
        KS_T_CHECK_MSG(same, "grid nms trial %d (thr %.1f, transposed %d): gpu %d kept, cpu %d",
                       trial, thr, transposed, ng, nref);
        fprintf(stderr, "grid NMS IoU %.1f%s: %d of %d candidates kept, %s\n", thr,
                transposed ? " transposed" : "", ng, st.n_cand, same ? "same as CPU" : "DIFFERENT");
        ks__mtg_free(b.state);
        ks__mtg_free(b.status);
        ks__mtg_free(b.cand);
        ks__mtg_free(b.g_in);
        ks__mtg_free(b.g_key);
        ks__mtg_free(b.r_list);
        ks__mtg_free(dmap);
    }
}
#endif

#ifdef KS_HAVE_CUDA
/* Mirror image (x -> w-1-x) or the same pixels stored as BGR. */
static ks_status variant_image(ks_context *ctx, const ks_image *src, int mirror, ks_image *out) {
    ks_status st = ks_image_alloc(ctx, src->width, src->height,
                                  mirror ? KS_PIXEL_RGB : KS_PIXEL_BGR, out);
    if (st != KS_OK)
        return st;
    for (int y = 0; y < src->height; y++)
        for (int x = 0; x < src->width; x++) {
            const uint8_t *s = src->data + (size_t)y * src->stride + (size_t)x * 3;
            uint8_t *d = out->data + (size_t)y * out->stride +
                         (size_t)(mirror ? src->width - 1 - x : x) * 3;
            for (int c = 0; c < 3; c++)
                d[c] = mirror ? s[c] : s[2 - c];
        }
    return KS_OK;
}

/* 13.jpg, its mirror image and its BGR copy in one run of a 4-frame
 * pipeline (slot 3 empty) vs the CPU on each. */
static void test_frame_batch(ks_context *ctx, const char *dir, const ks_mtcnn_options *o,
                             ks_mtcnn *cpu, const ks_image *img13) {
    ks_image fr[3];
    fr[0] = *img13;
    if (variant_image(ctx, img13, 1, &fr[1]) != KS_OK || variant_image(ctx, img13, 0, &fr[2]) != KS_OK) {
        KS_T_CHECK_MSG(0, "variant images: %s", ks_context_last_error(ctx));
        return;
    }
    ks_detection *ref[3] = {0};
    int nref[3] = {0};
    for (int i = 0; i < 3; i++)
        KS_T_CHECK_OK(ctx, ks__mtcnn_detect(cpu, &fr[i], &ref[i], &nref[i]));
    for (int fp16 = 0; fp16 < 2; fp16++) {
        ks_mtcnn_options go = *o;
        go.use_gpu = 1;
        go.fp16 = fp16;
        go.tactic_timing = 0;
        go.frame_batch = 4;
        ks_mtcnn *g = NULL;
        ks_status st = ks__mtcnn_create(ctx, dir, &go, &g);
        KS_T_CHECK_MSG(st == KS_OK, "frame batch: %s", ks_context_last_error(ctx));
        if (!g)
            continue;
        KS_T_CHECK(ks__mtcnn_gpu_frame_batch(g) == 4);
        ks_detection *d[3][4] = {{0}};
        int n[3][4] = {{0}};
        ks_mtcnn_stats stt[4];
        /* runs 0 (eager), 1 (graph capture), 2 (replay) */
        for (int run = 0; run < 3; run++) {
            st = ks__mtcnn_gpu_detect_batch(g, 0, 3, fr, d[run], n[run], stt);
            KS_T_CHECK_MSG(st == KS_OK, "batch run %d: %s", run, ks_context_last_error(ctx));
        }
        float min_iou = fp16 ? 0.8f : 0.9f;
        for (int i = 0; i < 3; i++) {
            fprintf(stderr, "gpu batch %s frame %d: %d faces (cpu %d) | cand %d rnet %d onet %d trunc %d\n",
                    fp16 ? "fp16" : "fp32", i, n[2][i], nref[i], stt[i].pnet_candidates,
                    stt[i].rnet_in, stt[i].onet_in, stt[i].truncated);
            int miss = unmatched(ref[i], nref[i], d[2][i], n[2][i], min_iou, "cpu box missing in batch") +
                       unmatched(d[2][i], n[2][i], ref[i], nref[i], min_iou, "batch box missing on cpu");
            KS_T_CHECK_MSG(miss == 0, "frame batch %s frame %d: %d strong boxes unmatched",
                           fp16 ? "fp16" : "fp32", i, miss);
            for (int run = 0; run < 2; run++)
                KS_T_CHECK_MSG(n[run][i] == n[2][i] &&
                                   (!n[2][i] || !memcmp(d[run][i], d[2][i], sizeof(ks_detection) * (size_t)n[2][i])),
                               "frame batch frame %d: run %d differs from the replay", i, run);
        }
        /* the RGB and BGR copies are the same frame */
        KS_T_CHECK_MSG(n[2][0] == n[2][2] &&
                           (!n[2][0] || !memcmp(d[2][0], d[2][2], sizeof(ks_detection) * (size_t)n[2][0])),
                       "frame batch: BGR frame differs from the RGB frame");
        KS_T_CHECK_MSG(ks__mtcnn_gpu_graph_active(g, 0), "frame batch: no CUDA graph");
        /* one image alone in the 4-frame pipeline */
        ks_detection *d1 = NULL;
        int n1 = 0;
        KS_T_CHECK_OK(ctx, ks__mtcnn_gpu_detect(g, 0, &fr[1], &d1, &n1, NULL));
        KS_T_CHECK_MSG(n1 == n[2][1] && (!n1 || !memcmp(d1, d[2][1], sizeof(ks_detection) * (size_t)n1)),
                       "single image in a batch pipeline differs (%d vs %d faces)", n1, n[2][1]);
        ks__free(ctx, d1);
        /* more images than the batch: refused */
        ks_image five[5] = {fr[0], fr[0], fr[0], fr[0], fr[0]};
        ks_detection *d5[5];
        int n5[5];
        KS_T_CHECK(ks__mtcnn_gpu_detect_batch(g, 0, 5, five, d5, n5, NULL) == KS_INVALID_ARGUMENT);
        ks_context_clear_error(ctx);
        for (int run = 0; run < 3; run++)
            for (int i = 0; i < 3; i++)
                ks__free(ctx, d[run][i]);
        ks__mtcnn_destroy(g);
    }
    for (int i = 0; i < 3; i++)
        ks__free(ctx, ref[i]);
    ks_image_release(ctx, &fr[1]);
    ks_image_release(ctx, &fr[2]);
}

/* Dense crowd with R/O batches far below the candidate counts: the
 * overflow chunks must find what the CPU finds. */
static void test_overflow(ks_context *ctx, const char *dir) {
    char p[2048];
    snprintf(p, sizeof p, "%s/ultraface/17.jpg", ks_t_images_dir());
    ks_image img;
    if (ks_image_load_file(ctx, p, KS_PIXEL_RGB, &img) != KS_OK) {
        fprintf(stderr, "note: %s not loaded: overflow test skipped\n", p);
        ks_context_clear_error(ctx);
        return;
    }
    ks_mtcnn_options o;
    ks__mtcnn_options_init(&o);
    o.min_face = 40;
    ks_mtcnn *cpu = NULL;
    KS_T_CHECK_OK(ctx, ks__mtcnn_create(ctx, dir, &o, &cpu));
    ks_detection *ref = NULL;
    int nref = 0;
    ks_mtcnn_stats cs;
    memset(&cs, 0, sizeof cs);
    if (cpu) {
        KS_T_CHECK_OK(ctx, ks__mtcnn_detect(cpu, &img, &ref, &nref));
        ks__mtcnn_get_stats(cpu, &cs);
    }
    fprintf(stderr, "cpu crowd 17.jpg: %d faces | levels %d cand %d pkept %d rnet %d onet %d\n",
            nref, cs.n_levels, cs.pnet_candidates, cs.pnet_kept, cs.rnet_in, cs.onet_in);
    static const struct {
        const char *label;
        int per_level, rb, ob, fb;
    } v[] = {{"per-level fp32 1024/256", 1, 1024, 256, 1},
             {"per-level fp32 64/16", 1, 64, 16, 1},
             {"canvas fp32 64/16 x2 frames", 0, 64, 16, 2}};
    int n_big = -1;
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        ks_mtcnn_options go = o;
        go.use_gpu = 1;
        go.pnet_per_level = v[k].per_level;
        go.rnet_batch = v[k].rb;
        go.onet_batch = v[k].ob;
        go.frame_batch = v[k].fb;
        go.tactic_timing = 0;
        ks_mtcnn *g = NULL;
        ks_status st = ks__mtcnn_create(ctx, dir, &go, &g);
        KS_T_CHECK_MSG(st == KS_OK, "%s: %s", v[k].label, ks_context_last_error(ctx));
        if (!g)
            continue;
        for (int run = 0; run < 2; run++) { /* eager, then graph + overflow chunks */
            ks_image two[2] = {img, img};
            ks_detection *d[2] = {0};
            int n[2] = {0};
            ks_mtcnn_stats s[2];
            memset(s, 0, sizeof s);
            st = ks__mtcnn_gpu_detect_batch(g, 0, v[k].fb, two, d, n, s);
            KS_T_CHECK_MSG(st == KS_OK, "%s: %s", v[k].label, ks_context_last_error(ctx));
            fprintf(stderr,
                    "gpu crowd %-28s run %d: %d faces | cand %d pkept %d rnet %d onet %d trunc %d "
                    "overflow %d\n",
                    v[k].label, run, n[0], s[0].pnet_candidates, s[0].pnet_kept, s[0].rnet_in,
                    s[0].onet_in, s[0].truncated, s[0].overflow);
            KS_T_CHECK_MSG(s[0].truncated == 0, "%s: truncated %d", v[k].label, s[0].truncated);
            if (v[k].rb < 1024)
                KS_T_CHECK_MSG(s[0].overflow == 3,
                               "%s: overflow %d (R %d, O %d): the test should overflow both batches",
                               v[k].label, s[0].overflow, s[0].rnet_in, s[0].onet_in);
            else
                n_big = n[0];
            int miss = unmatched(ref, nref, d[0], n[0], 0.9f, "cpu crowd box missing on gpu") +
                       unmatched(d[0], n[0], ref, nref, 0.9f, "gpu crowd box missing on cpu");
            /* per-level: the CPU's nets, exact. Canvas: the last cell row/column of
             * an odd-sized level sees a gap column (docs/mtcnn.md), which moves
             * faces cut by the image's right/bottom edge (seen on the H200: 3
             * boxes at x > 1570 of 1600, 148 faces vs 147): 5% allowed */
            int allowed = v[k].per_level ? 0 : nref / 20;
            KS_T_CHECK_MSG(miss <= allowed, "%s: %d strong boxes unmatched (%d allowed)",
                           v[k].label, miss, allowed);
            int tol = nref / 50 > 1 ? nref / 50 : 1;
            KS_T_CHECK_MSG(abs(n[0] - nref) <= tol, "%s: %d faces, CPU %d", v[k].label, n[0], nref);
            if (n_big >= 0 && v[k].rb < 1024)
                KS_T_CHECK_MSG(abs(n[0] - n_big) <= tol, "%s: %d faces, without overflow %d",
                               v[k].label, n[0], n_big);
            if (v[k].fb == 2)
                KS_T_CHECK_MSG(n[1] == n[0] && (!n[0] || !memcmp(d[0], d[1], sizeof(ks_detection) * (size_t)n[0])),
                               "%s: the two frames differ", v[k].label);
            for (int i = 0; i < 2; i++)
                ks__free(ctx, d[i]);
        }
        ks__mtcnn_destroy(g);
    }
    ks__free(ctx, ref);
    ks__mtcnn_destroy(cpu);
    ks_image_release(ctx, &img);
}
#endif

typedef struct gvariant {
    const char *label;
    int per_level, fp16;
} gvariant;

int main(void) {
#ifndef KS_HAVE_CUDA
    KS_T_SKIP("built without CUDA");
#else
    if (!ks_cuda_available())
        KS_T_SKIP("no GPU");
    test_block_nms();
    test_grid_nms();
    char path[2048];
    snprintf(path, sizeof path, "%s/mtcnn/caffe/det1.prototxt", ks_t_models_dir());
    FILE *f = fopen(path, "rb");
    if (!f)
        KS_T_SKIP("models missing");
    fclose(f);
    snprintf(path, sizeof path, "%s/mtcnn/caffe", ks_t_models_dir());
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    ks_image img[N_IMG];
    int have[N_IMG];
    for (size_t i = 0; i < N_IMG; i++) {
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", ks_t_images_dir(), images[i]);
        have[i] = ks_image_load_file(ctx, p, KS_PIXEL_RGB, &img[i]) == KS_OK;
        if (!have[i])
            fprintf(stderr, "note: %s not loaded\n", p);
    }
    /* CPU reference */
    ks_mtcnn_options o;
    ks__mtcnn_options_init(&o);
    ks_mtcnn *cpu = NULL;
    KS_T_CHECK_OK(ctx, ks__mtcnn_create(ctx, path, &o, &cpu));
    ks_detection *ref[N_IMG] = {0};
    ks_mtcnn_stats cpu_stats[N_IMG];
    memset(cpu_stats, 0, sizeof cpu_stats);
    int nref[N_IMG] = {0};
    for (size_t i = 0; cpu && i < N_IMG; i++) {
        if (!have[i])
            continue;
        KS_T_CHECK_OK(ctx, ks__mtcnn_detect(cpu, &img[i], &ref[i], &nref[i]));
        ks_mtcnn_stats s;
        ks__mtcnn_get_stats(cpu, &s);
        cpu_stats[i] = s;
        fprintf(stderr, "cpu %-20s %d faces | levels %d cand %d pkept %d rnet %d onet %d\n",
                images[i], nref[i], s.n_levels, s.pnet_candidates, s.pnet_kept, s.rnet_in,
                s.onet_in);
    }
    const gvariant vars[] = {{"canvas fp32", 0, 0}, {"per-level fp32", 1, 0}, {"canvas fp16", 0, 1}};
    for (size_t v = 0; v < sizeof vars / sizeof vars[0]; v++) {
        ks_mtcnn_options go = o;
        go.use_gpu = 1;
        go.pnet_per_level = vars[v].per_level;
        go.fp16 = vars[v].fp16;
        go.tactic_timing = 0; /* build speed; tactics only change timing */
        ks_mtcnn *g = NULL;
        ks_status st = ks__mtcnn_create(ctx, path, &go, &g);
        KS_T_CHECK_MSG(st == KS_OK, "%s: %s", vars[v].label, ks_context_last_error(ctx));
        if (!g)
            continue;
        KS_T_CHECK(ks__mtcnn_on_gpu(g));
        for (size_t i = 0; i < N_IMG; i++) {
            if (!have[i])
                continue;
            ks_detection *d = NULL, *d2 = NULL;
            int n = 0, n2 = 0;
            st = ks__mtcnn_detect(g, &img[i], &d, &n);
            KS_T_CHECK_MSG(st == KS_OK, "%s %s: %s", vars[v].label, images[i],
                           ks_context_last_error(ctx));
            ks_mtcnn_stats s;
            ks__mtcnn_get_stats(g, &s);
            fprintf(stderr,
                    "gpu %-15s %-20s %d faces | levels %d cand %d pkept %d rnet %d onet %d "
                    "trunc %d",
                    vars[v].label, images[i], n, s.n_levels, s.pnet_candidates, s.pnet_kept,
                    s.rnet_in, s.onet_in, s.truncated);
            if (n)
                fprintf(stderr, " best %.4f (%.1f,%.1f,%.1f,%.1f)", d[0].score, d[0].box[0],
                        d[0].box[1], d[0].box[2], d[0].box[3]);
            fputc('\n', stderr);
            KS_T_CHECK(s.truncated == 0);
            /* FP16 R/O-Net regressions move boxes by a few pixels (seen: IoU 0.88
             * on ultraface/13.jpg): 0.8 there, 0.9 in FP32 */
            float min_iou = vars[v].fp16 ? 0.8f : 0.9f;
            int miss = unmatched(ref[i], nref[i], d, n, min_iou, "cpu box missing on gpu") +
                       unmatched(d, n, ref[i], nref[i], min_iou, "gpu box missing on cpu");
            KS_T_CHECK_MSG(miss == 0, "%s %s: %d strong boxes unmatched", vars[v].label,
                           images[i], miss);
            if (vars[v].per_level && !vars[v].fp16) /* the CPU's nets, FP32: same everything */
                KS_T_CHECK_MSG(n == nref[i] && s.pnet_candidates == (int)cpu_stats[i].pnet_candidates &&
                                   s.rnet_in == cpu_stats[i].rnet_in,
                               "%s %s: %d faces / %d cells / %d R-Net (CPU %d / %d / %d)",
                               vars[v].label, images[i], n, s.pnet_candidates, s.rnet_in, nref[i],
                               cpu_stats[i].pnet_candidates, cpu_stats[i].rnet_in);
            /* second run: CUDA graph replay (when capturable) gives the same */
            st = ks__mtcnn_detect(g, &img[i], &d2, &n2);
            KS_T_CHECK_OK(ctx, st);
            KS_T_CHECK_MSG(n2 == n && (!n || !memcmp(d, d2, sizeof(*d) * (size_t)n)),
                           "%s %s: replay differs (graph %d)", vars[v].label, images[i],
                           ks__mtcnn_gpu_graph_active(g, 0));
            ks__free(ctx, d2);
            d2 = NULL;
            if (v == 0) { /* device image input */
                ks_image dimg;
                if (ks_image_to_device(ctx, &img[i], &dimg) == KS_OK) {
                    st = ks__mtcnn_detect(g, &dimg, &d2, &n2);
                    KS_T_CHECK_OK(ctx, st);
                    KS_T_CHECK_MSG(n2 == n && (!n || !memcmp(d, d2, sizeof(*d) * (size_t)n)),
                                   "device image input differs");
                    ks__free(ctx, d2);
                    ks_image_release(ctx, &dimg);
                }
            }
            ks__free(ctx, d);
        }
        fprintf(stderr, "gpu %-15s CUDA graph %s\n", vars[v].label,
                ks__mtcnn_gpu_graph_active(g, 0) ? "active" : "off (eager)");
        ks__mtcnn_destroy(g);
    }
    if (cpu && have[3])
        test_frame_batch(ctx, path, &o, cpu, &img[3]);
    test_overflow(ctx, path);
    /* through ks_detector with use_gpu */
    {
        ks_detector_options dopt;
        ks_detector_options_init(&dopt);
        dopt.use_gpu = 1;
        ks_detector *det = NULL;
        KS_T_CHECK_OK(ctx, ks_detector_create(ctx, path, KS_FAMILY_MTCNN, &dopt, &det));
        if (det && have[0]) {
            ks_detection_list r;
            KS_T_CHECK_OK(ctx, ks_detector_detect(det, 1, &img[0], &r));
            KS_T_CHECK_MSG(unmatched(ref[0], nref[0], r.items, r.n, 0.9f, "detector") == 0,
                           "ks_detector GPU path differs");
        }
        ks_detector_destroy(det);
    }
    for (size_t i = 0; i < N_IMG; i++) {
        ks__free(ctx, ref[i]);
        if (have[i])
            ks_image_release(ctx, &img[i]);
    }
    ks__mtcnn_destroy(cpu);
    ks_context_destroy(ctx);
    return ks_t_done();
#endif
}
