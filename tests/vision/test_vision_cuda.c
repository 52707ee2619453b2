/* CUDA vision kernels against the CPU references: preprocessing (every pixel format,
 * every resize mode, FP32/FP16, a 40-image mixed batch), every decoder (FP32 and FP16
 * network outputs), batched NMS (shared-memory and global-memory sort paths, class-aware,
 * top-k, landmarks, transforms), the post-processing plugins (DetectionDecode incl. yolo_grid,
 * BatchedNMS: run_cuda against run_cpu), engines built with appended post-processing against the CPU
 * session of the same model (FP32/FP16, serialize -> load, missing-plugin error), and the GPU
 * detector end to end against the CPU detector: decode + NMS inside the engine (default),
 * as separate kernels, and from an engine file built with post-processing.
 * Exits 77 (skipped) without CUDA or a GPU. KS_VISION_CUDA_TIMING=1 prints kernel times. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "kestrel/engine.h"
#include "kestrel/vision.h"
#include "vision/vision_internal.h"
#include "plugins/decode/decode_plugin.h"
#include "plugins/nms/nms_plugin.h"

/* The CUDA runtime wrappers exist only in CUDA builds (tests do not see KS_HAVE_CUDA):
   weak references, checked in main. */
#pragma weak ks__cuda_device_count
#pragma weak ks__cuda_malloc
#pragma weak ks__cuda_free
#pragma weak ks__cuda_memcpy
#pragma weak ks__cuda_stream_sync

static uint32_t rng = 777;
static uint32_t rnd(void) {
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() & 0xffff) / 65535.0f; }

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *dmalloc(size_t n) {
    void *p = NULL;
    const char *msg = "";
    if (ks__cuda_malloc(&p, n, &msg)) {
        fprintf(stderr, "cudaMalloc(%zu): %s\n", n, msg);
        exit(1);
    }
    return p;
}
static void *upload(const void *h, size_t n) {
    void *d = dmalloc(n);
    const char *msg = "";
    if (ks__cuda_memcpy(d, h, n, 1, NULL, &msg)) {
        fprintf(stderr, "H2D: %s\n", msg);
        exit(1);
    }
    return d;
}
/* fills device memory with a byte pattern (results of an earlier run cannot pass for new ones) */
static void poison(void *d, size_t n) {
    if (!d)
        return;
    void *h = malloc(n);
    memset(h, 0xA5, n);
    const char *msg = "";
    if (ks__cuda_memcpy(d, h, n, 1, NULL, &msg)) {
        fprintf(stderr, "H2D: %s\n", msg);
        exit(1);
    }
    free(h);
}
static void download(void *h, const void *d, size_t n) {
    const char *msg = "";
    if (ks__cuda_memcpy(h, d, n, 2, NULL, &msg)) {
        fprintf(stderr, "D2H: %s\n", msg);
        exit(1);
    }
}

static float h2f(uint16_t h) { return ks_half_to_float(h); }

/* ------------------------------------------------------------ preprocessing */

static void test_preprocess(ks_context *ctx) {
    enum { N = 40 };
    ks_image host[N], dev[N];
    ks_pixel_format fmts[7] = {KS_PIXEL_BGR, KS_PIXEL_RGB, KS_PIXEL_BGRA, KS_PIXEL_RGBA,
                               KS_PIXEL_GRAY, KS_PIXEL_NV12, KS_PIXEL_I420};
    for (int i = 0; i < N; i++) {
        int w = 17 + (int)(rnd() % 700), h = 9 + (int)(rnd() % 500);
        ks_image bgr;
        KS_T_CHECK_OK(ctx, ks_image_alloc(ctx, w, h, KS_PIXEL_BGR, &bgr));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < 3 * w; x++)
                bgr.data[(size_t)y * bgr.stride + x] = (uint8_t)((x * 7 + y * 3 + (rnd() & 15)) & 0xff);
        KS_T_CHECK_OK(ctx, ks_image_convert(ctx, &bgr, fmts[i % 7], &host[i]));
        ks_image_release(ctx, &bgr);
        KS_T_CHECK_OK(ctx, ks_image_to_device(ctx, &host[i], &dev[i]));
    }
    struct {
        ks_resize_mode mode;
        ks_placement place;
        ks_pixel_format order;
        ks_dtype dt;
        int w, h;
    } cfgs[4] = {{KS_RESIZE_STRETCH, KS_PLACE_TOP_LEFT, KS_PIXEL_RGB, KS_DTYPE_FLOAT32, 320, 240},
                 {KS_RESIZE_LETTERBOX, KS_PLACE_CENTER, KS_PIXEL_RGB, KS_DTYPE_FLOAT16, 640, 640},
                 {KS_RESIZE_LETTERBOX, KS_PLACE_TOP_LEFT, KS_PIXEL_BGR, KS_DTYPE_FLOAT32, 416, 256},
                 {KS_RESIZE_CROP, KS_PLACE_TOP_LEFT, KS_PIXEL_GRAY, KS_DTYPE_FLOAT32, 96, 112}};
    for (int c = 0; c < 4; c++) {
        ks_preprocess_config cfg;
        ks_preprocess_config_init(&cfg);
        cfg.width = cfgs[c].w, cfg.height = cfgs[c].h;
        cfg.resize = cfgs[c].mode, cfg.placement = cfgs[c].place;
        cfg.channel_order = cfgs[c].order, cfg.dtype = cfgs[c].dt;
        cfg.crop[0] = 3.5f, cfg.crop[1] = 2.0f, cfg.crop[2] = 60, cfg.crop[3] = 40;
        cfg.pad_value[0] = cfg.pad_value[1] = cfg.pad_value[2] = 114;
        cfg.mean[0] = 127, cfg.mean[1] = 110, cfg.mean[2] = 100;
        cfg.std[0] = 128, cfg.std[1] = 60, cfg.std[2] = 58;
        int C = cfg.channel_order == KS_PIXEL_GRAY ? 1 : 3;
        size_t per = (size_t)C * cfg.width * cfg.height, esz = cfg.dtype == KS_DTYPE_FLOAT16 ? 2 : 4;
        void *ref = malloc(per * esz * N), *got = malloc(per * esz * N), *d = dmalloc(per * esz * N);
        ks_affine inv_c[N], inv_g[N];
        KS_T_CHECK_OK(ctx, ks_preprocess_cpu(ctx, &cfg, N, host, ref, inv_c));
        double t0 = now_ms();
        KS_T_CHECK_OK(ctx, ks_preprocess_cuda(ctx, &cfg, N, dev, d, inv_g, NULL));
        const char *msg = "";
        KS_T_CHECK(ks__cuda_stream_sync(NULL, &msg) == 0);
        double t1 = now_ms();
        download(got, d, per * esz * N);
        double worst = 0;
        for (size_t k = 0; k < per * N; k++) {
            double a = esz == 2 ? h2f(((uint16_t *)ref)[k]) : ((float *)ref)[k];
            double b = esz == 2 ? h2f(((uint16_t *)got)[k]) : ((float *)got)[k];
            double tol = esz == 2 ? 1e-3 + 1e-3 * fabs(a) : 1e-4 + 1e-5 * fabs(a);
            double e = fabs(a - b) / tol;
            worst = e > worst ? e : worst;
        }
        KS_T_CHECK_MSG(worst <= 1.0, "preprocess config %d: worst error %.3g x tolerance", c, worst);
        KS_T_CHECK(!memcmp(inv_c, inv_g, sizeof inv_c));
        fprintf(stderr, "  preprocess %dx%d mode %d %s %s, %d mixed-format images: GPU == CPU (worst %.2g of tol), %.3f ms\n",
                cfg.width, cfg.height, (int)cfg.resize, ks_pixel_format_name(cfg.channel_order), ks_dtype_name(cfg.dtype),
                N, worst, t1 - t0);
        free(ref), free(got), ks__cuda_free(d);
    }
    /* host images are refused by the CUDA path, device images by the CPU path */
    ks_preprocess_config cfg;
    ks_preprocess_config_init(&cfg);
    float *dummy = malloc(sizeof(float) * 3 * 640 * 640);
    KS_T_CHECK(ks_preprocess_cuda(ctx, &cfg, 1, host, dummy, NULL, NULL) == KS_INVALID_ARGUMENT);
    KS_T_CHECK(ks_preprocess_cpu(ctx, &cfg, 1, dev, dummy, NULL) == KS_INVALID_ARGUMENT);
    free(dummy);
    for (int i = 0; i < N; i++) {
        ks_image back;
        KS_T_CHECK_OK(ctx, ks_image_to_host(ctx, &dev[i], &back));
        KS_T_CHECK(!memcmp(back.data, host[i].data, ks_image_bytes(host[i].format, host[i].width, host[i].height)));
        ks_image_release(ctx, &back);
        ks_image_release(ctx, &host[i]);
        ks_image_release(ctx, &dev[i]);
    }
}

/* ------------------------------------------------------------------ decoders */

typedef struct buf {
    void *h, *d;
    size_t n;
} buf;

static buf make_buf(size_t count, int fp16, float lo, float hi) {
    buf b;
    b.n = count * (fp16 ? 2 : 4);
    b.h = malloc(b.n);
    for (size_t i = 0; i < count; i++) {
        float v = frand(lo, hi);
        if (fp16)
            ((uint16_t *)b.h)[i] = ks_float_to_half(v);
        else
            ((float *)b.h)[i] = v;
    }
    b.d = upload(b.h, b.n);
    return b;
}
static void free_buf(buf *b) {
    free(b->h);
    ks__cuda_free(b->d);
}

static void compare_decode(ks_context *ctx, const ks_decode_params *p, const ks_decode_inputs *hin,
                           const ks_decode_inputs *din, const char *what) {
    size_t R = (size_t)p->batch * p->n_rows;
    ks_candidates hc = {malloc(R * 16), malloc(R * 4), malloc(R * 4), malloc(R * 40)};
    ks_candidates dc = {dmalloc(R * 16), dmalloc(R * 4), dmalloc(R * 4), dmalloc(R * 40)};
    KS_T_CHECK_OK(ctx, ks_decode_cpu(ctx, p, hin, &hc));
    double t0 = now_ms();
    KS_T_CHECK_OK(ctx, ks_decode_cuda(ctx, p, din, &dc, NULL));
    const char *msg = "";
    KS_T_CHECK(ks__cuda_stream_sync(NULL, &msg) == 0);
    double t1 = now_ms();
    ks_candidates gc = {malloc(R * 16), malloc(R * 4), malloc(R * 4), malloc(R * 40)};
    download(gc.boxes, dc.boxes, R * 16);
    download(gc.scores, dc.scores, R * 4);
    download(gc.classes, dc.classes, R * 4);
    download(gc.landmarks, dc.landmarks, R * 40);
    int score_diff = 0, cls_diff = 0, live = 0;
    double worst = 0;
    int nl = p->n_landmarks;
    /* the grid decoder's sigmoids use expf: the CUDA one may differ by an ulp or two */
    float stol = p->kind == KS_DECODE_YOLO_GRID ? 4e-7f : 0.0f;
    for (size_t r = 0; r < R; r++) {
        if (hc.scores[r] != gc.scores[r] && !(hc.scores[r] >= 0 && gc.scores[r] >= 0 &&
                                               fabsf(hc.scores[r] - gc.scores[r]) <= stol * fabsf(hc.scores[r])))
            score_diff++;
        if (hc.scores[r] < 0)
            continue;
        live++;
        cls_diff += hc.classes[r] != gc.classes[r];
        for (int k = 0; k < 4; k++) {
            double e = fabs(hc.boxes[r * 4 + k] - gc.boxes[r * 4 + k]) / (1e-3 + 1e-5 * fabs(hc.boxes[r * 4 + k]));
            worst = e > worst ? e : worst;
        }
        for (int k = 0; k < 2 * nl; k++) {
            double a = hc.landmarks[r * 2 * nl + k], b = gc.landmarks[r * 2 * nl + k];
            double e = fabs(a - b) / (1e-3 + 1e-5 * fabs(a));
            worst = e > worst ? e : worst;
        }
    }
    KS_T_CHECK_MSG(score_diff == 0, "%s: %d scores differ", what, score_diff);
    KS_T_CHECK_MSG(cls_diff == 0, "%s: %d classes differ", what, cls_diff);
    KS_T_CHECK_MSG(worst <= 1.0, "%s: worst box/landmark error %.3g x tolerance", what, worst);
    KS_T_CHECK_MSG(live > 0, "%s: no row above the threshold (test data too weak)", what);
    fprintf(stderr, "  decode %-12s batch %d x %d rows (%d candidates): GPU == CPU (worst %.2g of tol), %.3f ms\n", what,
            p->batch, p->n_rows, live, worst, t1 - t0);
    free(hc.boxes), free(hc.scores), free(hc.classes), free(hc.landmarks);
    free(gc.boxes), free(gc.scores), free(gc.classes), free(gc.landmarks);
    ks__cuda_free(dc.boxes), ks__cuda_free(dc.scores), ks__cuda_free(dc.classes), ks__cuda_free(dc.landmarks);
}

static void test_decoders(ks_context *ctx) {
    const int B = 3;
    for (int fp16 = 0; fp16 < 2; fp16++) {
        /* SSD (RetinaFace-like, with landmarks) and CORNERS */
        ks_prior_config pc;
        ks_prior_config_retinaface(&pc, 640, 640);
        int N = (int)ks_prior_count(&pc);
        float *pri = malloc(sizeof(float) * 4 * N);
        ks_prior_generate(&pc, pri);
        float *dpri = upload(pri, sizeof(float) * 4 * N);
        buf loc = make_buf((size_t)B * N * 4, fp16, -2, 2), conf = make_buf((size_t)B * N * 2, fp16, 0, 1),
            lm = make_buf((size_t)B * N * 10, fp16, -3, 3);
        ks_decode_params p;
        ks_decode_params_init(&p);
        p.kind = KS_DECODE_SSD, p.batch = B, p.n_rows = N, p.input_w = p.input_h = 640, p.score_threshold = 0.6f;
        p.n_landmarks = 5, p.dtype = fp16 ? KS_DTYPE_FLOAT16 : KS_DTYPE_FLOAT32;
        ks_decode_inputs hin = {{loc.h}, {conf.h}, {0}, {lm.h}, pri}, din = {{loc.d}, {conf.d}, {0}, {lm.d}, dpri};
        compare_decode(ctx, &p, &hin, &din, fp16 ? "ssd fp16" : "ssd fp32");
        p.kind = KS_DECODE_CORNERS, p.n_landmarks = 0;
        compare_decode(ctx, &p, &hin, &din, fp16 ? "corners fp16" : "corners fp32");
        free_buf(&loc), free_buf(&conf), free_buf(&lm), free(pri), ks__cuda_free(dpri);

        /* YUNET and SCRFD: 3 levels at 640x480 */
        for (int kind = 0; kind < 2; kind++) {
            ks_decode_params_init(&p);
            p.kind = kind ? KS_DECODE_SCRFD : KS_DECODE_YUNET;
            p.batch = B, p.input_w = 640, p.input_h = 480, p.n_landmarks = 5, p.n_levels = 3;
            p.score_threshold = 0.5f, p.dtype = fp16 ? KS_DTYPE_FLOAT16 : KS_DTYPE_FLOAT32;
            p.score_mode = fp16 ? KS_SCORE_SQRT : KS_SCORE_PRODUCT;
            buf bb[3], sc[3], ob[3], kp[3];
            ks_decode_inputs h, dd;
            memset(&h, 0, sizeof h), memset(&dd, 0, sizeof dd);
            int rows = 0;
            for (int l = 0; l < 3; l++) {
                int s = 8 << l, A = kind ? 2 : 1;
                p.levels[l] = (ks_decode_level){.stride = s, .grid_w = 640 / s, .grid_h = 480 / s, .n_anchors = A};
                int n = (640 / s) * (480 / s) * A;
                rows += n;
                bb[l] = make_buf((size_t)B * n * 4, fp16, kind ? 0 : -1, kind ? 4 : 1);
                sc[l] = make_buf((size_t)B * n, fp16, 0, 1);
                ob[l] = make_buf((size_t)B * n, fp16, 0.5f, 1);
                kp[l] = make_buf((size_t)B * n * 10, fp16, -2, 2);
                h.boxes[l] = bb[l].h, h.scores[l] = sc[l].h, h.objectness[l] = ob[l].h, h.landmarks[l] = kp[l].h;
                dd.boxes[l] = bb[l].d, dd.scores[l] = sc[l].d, dd.objectness[l] = ob[l].d, dd.landmarks[l] = kp[l].d;
            }
            p.n_rows = rows;
            compare_decode(ctx, &p, &h, &dd, kind ? (fp16 ? "scrfd fp16" : "scrfd fp32") : (fp16 ? "yunet fp16" : "yunet fp32"));
            for (int l = 0; l < 3; l++)
                free_buf(&bb[l]), free_buf(&sc[l]), free_buf(&ob[l]), free_buf(&kp[l]);
        }

        /* YOLO rows 25200 x 85 */
        ks_decode_params_init(&p);
        p.kind = KS_DECODE_YOLO, p.batch = B, p.n_rows = 25200, p.input_w = p.input_h = 640, p.n_classes = 80;
        p.score_threshold = 0.25f, p.dtype = fp16 ? KS_DTYPE_FLOAT16 : KS_DTYPE_FLOAT32;
        buf rows = make_buf((size_t)B * 25200 * 85, fp16, 0, 1);
        ks_decode_inputs h = {{rows.h}, {0}, {0}, {0}, NULL}, dd = {{rows.d}, {0}, {0}, {0}, NULL};
        compare_decode(ctx, &p, &h, &dd, fp16 ? "yolo fp16" : "yolo fp32");
        free_buf(&rows);

        /* YOLOv5 raw heads (grid decode), 640x480: [B,3,H,W,85] and [B,255,H,W] */
        for (int cf = 0; cf < 2; cf++) {
            ks_decode_params_init(&p);
            p.kind = KS_DECODE_YOLO_GRID, p.batch = B, p.input_w = 640, p.input_h = 480, p.n_classes = 80;
            p.score_threshold = 0.25f, p.dtype = fp16 ? KS_DTYPE_FLOAT16 : KS_DTYPE_FLOAT32;
            p.yolo_channels_first = cf;
            ks_decode_yolov5_levels(&p);
            buf hd[3];
            ks_decode_inputs hh, dh;
            memset(&hh, 0, sizeof hh), memset(&dh, 0, sizeof dh);
            for (int l = 0; l < 3; l++) {
                hd[l] = make_buf((size_t)B * 3 * p.levels[l].grid_w * p.levels[l].grid_h * 85, fp16, -6.0f, 3.0f);
                hh.boxes[l] = hd[l].h, dh.boxes[l] = hd[l].d;
            }
            compare_decode(ctx, &p, &hh, &dh, cf ? (fp16 ? "ygrid-cf fp16" : "ygrid-cf fp32") : (fp16 ? "ygrid fp16" : "ygrid fp32"));
            for (int l = 0; l < 3; l++)
                free_buf(&hd[l]);
        }
    }
}

/* ----------------------------------------------------------------------- NMS */

static void test_nms(ks_context *ctx) {
    /* cluster: boxes jittered around a few centres (heavy overlap) with scores on a 1/16 grid
       (many exact ties); else uniform boxes with some tied scores. The bitmask path covers
       K = min(top_k, rows) <= 8192; the others take the per-candidate sweep. */
    struct {
        int B, N, top_k, class_aware, with_lm, with_tf;
        float sthr, ithr;
        int M, cluster;
    } cases[] = {{4, 3000, 0, 0, 1, 1, 0.3f, 0.4f, 300, 0},
                 {4, 3000, 500, 1, 0, 0, 0.2f, 0.5f, 300, 0},
                 {2, 20000, 0, 1, 1, 1, 0.5f, 0.45f, 300, 0}, /* > 4096 survivors, K > 8192: sweep */
                 {3, 25200, 5000, 0, 0, 1, 0.25f, 0.3f, 300, 0},
                 {32, 4420, 0, 0, 0, 1, 0.7f, 0.3f, 300, 0},
                 /* stress: overlapping clusters, ties, K > 4096, class-aware, batch > 1 */
                 {1, 17640, 5000, 0, 1, 1, 0.3f, 0.45f, 300, 1},
                 {3, 12000, 6000, 1, 0, 1, 0.1f, 0.5f, 1000, 1},
                 {2, 9000, 8192, 0, 1, 0, 0.0f, 0.3f, 2000, 1},
                 {2, 9000, 8193, 1, 0, 1, 0.0f, 0.3f, 500, 1},
                 {2, 5000, 0, 0, 0, 0, 0.0f, 1.0f, 300, 0},  /* nothing suppressed: max_output */
                 {5, 700, 100, 1, 1, 1, 0.5f, 0.0f, 50, 1},  /* any overlap suppresses */
                 {8, 1, 0, 0, 0, 0, 0.5f, 0.5f, 3, 0},
                 {1, 64, 0, 0, 0, 0, 0.0f, 0.2f, 70, 1},
                 {1, 130, 0, 1, 0, 0, -1.0f, 0.6f, 128, 1},
                 /* ~480 survivors with clusters and ties: the sort spread over the block (<= 512) */
                 {2, 1200, 0, 0, 1, 1, 0.6f, 0.45f, 300, 1}};
    for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
        int B = cases[c].B, N = cases[c].N, M = cases[c].M;
        size_t R = (size_t)B * N;
        float *bx = malloc(R * 16), *sc = malloc(R * 4), *lm = malloc(R * 40);
        int32_t *cl = malloc(R * 4);
        float cx[24], cy[24];
        for (int k = 0; k < 24; k++)
            cx[k] = frand(0, 600), cy[k] = frand(0, 600);
        for (size_t i = 0; i < R; i++) {
            float x, y, w, h;
            if (cases[c].cluster) {
                int k = (int)(rnd() % 24);
                x = cx[k] + frand(-12, 12), y = cy[k] + frand(-12, 12), w = frand(30, 60), h = frand(30, 60);
                sc[i] = (float)(rnd() % 16) / 16.0f;
            } else {
                x = frand(0, 600), y = frand(0, 600), w = frand(4, 80), h = frand(4, 80);
                sc[i] = (i % 3) ? frand(0, 1) : (float)(rnd() % 10) / 10.0f; /* some exact ties */
            }
            bx[4 * i] = x, bx[4 * i + 1] = y, bx[4 * i + 2] = x + w, bx[4 * i + 3] = y + h;
            cl[i] = (int32_t)(rnd() % 4);
            for (int k = 0; k < 10; k++)
                lm[i * 10 + k] = frand(0, 600);
        }
        ks_affine *tf = malloc(sizeof(ks_affine) * B);
        for (int b = 0; b < B; b++)
            tf[b] = (ks_affine){{1.5f + 0.1f * b, 0, 3.0f, 0, 2.0f, -7.0f}};
        ks_nms_params p;
        ks_nms_params_init(&p);
        p.batch = B, p.n_rows = N, p.top_k = cases[c].top_k, p.class_aware = cases[c].class_aware;
        p.score_threshold = cases[c].sthr, p.iou_threshold = cases[c].ithr, p.max_output = M;
        p.n_landmarks = cases[c].with_lm ? 5 : 0;
        ks_candidates hin = {bx, sc, cl, cases[c].with_lm ? lm : NULL};
        int32_t *hcnt = malloc(4 * B), *hidx = malloc(4 * B * M), *hcls = malloc(4 * B * M);
        float *hb = malloc(16 * (size_t)B * M), *hs = malloc(4 * (size_t)B * M), *hl = malloc(40 * (size_t)B * M);
        ks_nms_outputs hout = {hcnt, hb, hs, hcls, cases[c].with_lm ? hl : NULL, hidx, cases[c].with_tf ? tf : NULL};
        KS_T_CHECK_OK(ctx, ks_nms_cpu(ctx, &p, &hin, &hout));

        ks_candidates din = {upload(bx, R * 16), upload(sc, R * 4), upload(cl, R * 4),
                             cases[c].with_lm ? upload(lm, R * 40) : NULL};
        ks_nms_outputs dout = {dmalloc(4 * B), dmalloc(16 * (size_t)B * M), dmalloc(4 * (size_t)B * M),
                               dmalloc(4 * (size_t)B * M), cases[c].with_lm ? dmalloc(40 * (size_t)B * M) : NULL,
                               dmalloc(4 * (size_t)B * M), cases[c].with_tf ? upload(tf, sizeof(ks_affine) * B) : NULL};
        size_t ws = ks_nms_cuda_workspace_bytes(&p);
        void *dws = dmalloc(ws);
        KS_T_CHECK(ks_nms_cuda(ctx, &p, &din, &dout, dws, ws - 1, NULL) == KS_INVALID_ARGUMENT);
        /* two runs on the same workspace: the per-image ticket of the mask/walk/emit kernel must be
           reset by each run */
        for (int rep = 0; rep < 2; rep++) {
        poison(dout.counts, 4 * B), poison(dout.boxes, 16 * (size_t)B * M), poison(dout.scores, 4 * (size_t)B * M);
        poison(dout.classes, 4 * (size_t)B * M), poison(dout.landmarks, cases[c].with_lm ? 40 * (size_t)B * M : 0);
        poison(dout.indices, 4 * (size_t)B * M);
        double t0 = now_ms();
        KS_T_CHECK_OK(ctx, ks_nms_cuda(ctx, &p, &din, &dout, dws, ws, NULL));
        const char *msg = "";
        KS_T_CHECK(ks__cuda_stream_sync(NULL, &msg) == 0);
        double t1 = now_ms();
        int32_t *gcnt = malloc(4 * B), *gidx = malloc(4 * B * M), *gcls = malloc(4 * B * M);
        float *gb = malloc(16 * (size_t)B * M), *gs = malloc(4 * (size_t)B * M), *gl = malloc(40 * (size_t)B * M);
        download(gcnt, dout.counts, 4 * B);
        download(gidx, dout.indices, 4 * (size_t)B * M);
        download(gcls, dout.classes, 4 * (size_t)B * M);
        download(gb, dout.boxes, 16 * (size_t)B * M);
        download(gs, dout.scores, 4 * (size_t)B * M);
        if (cases[c].with_lm)
            download(gl, dout.landmarks, 40 * (size_t)B * M);
        int diff = 0, kept = 0;
        double worst = 0;
        for (int b = 0; b < B; b++) {
            diff += hcnt[b] != gcnt[b];
            kept += hcnt[b];
            for (int k = 0; k < M; k++) {
                size_t o = (size_t)b * M + k;
                diff += hidx[o] != gidx[o] || hcls[o] != gcls[o] || hs[o] != gs[o];
                for (int q = 0; q < 4; q++)
                    worst = fmax(worst, fabs(hb[o * 4 + q] - gb[o * 4 + q]) / (1e-4 + 1e-6 * fabs(hb[o * 4 + q])));
                for (int q = 0; cases[c].with_lm && q < 10; q++)
                    worst = fmax(worst, fabs(hl[o * 10 + q] - gl[o * 10 + q]) / (1e-4 + 1e-6 * fabs(hl[o * 10 + q])));
            }
        }
        KS_T_CHECK_MSG(diff == 0, "NMS case %d: %d differences in counts/indices/classes/scores", c, diff);
        KS_T_CHECK_MSG(worst <= 1.0, "NMS case %d: worst box error %.3g x tolerance", c, worst);
        fprintf(stderr, "  nms batch %2d x %5d rows, top-k %4d, class-aware %d: %d kept, GPU == CPU, %.3f ms%s\n", B, N,
                p.top_k, p.class_aware, kept, t1 - t0, rep ? " (again)" : "");
        free(gcnt), free(gidx), free(gcls), free(gb), free(gs), free(gl);
        }
        free(bx), free(sc), free(lm), free(cl), free(tf), free(hcnt), free(hidx), free(hcls), free(hb), free(hs), free(hl);
        ks__cuda_free(din.boxes), ks__cuda_free(din.scores), ks__cuda_free(din.classes), ks__cuda_free(din.landmarks);
        ks__cuda_free(dout.counts), ks__cuda_free(dout.boxes), ks__cuda_free(dout.scores), ks__cuda_free(dout.classes);
        ks__cuda_free(dout.landmarks), ks__cuda_free(dout.indices), ks__cuda_free((void *)dout.transforms);
        ks__cuda_free(dws);
    }
}

/* --------------------------------------------------- detector GPU vs CPU */

static void test_detector(ks_context *ctx) {
    static const char *models[] = {"ultraface/version-RFB-320.onnx", "ultraface/version-RFB-320_simplified.onnx",
                                   "yunet/yunet_n_640_640.onnx",     "retinaface/retinaface_mnet025_640_opset17.onnx",
                                   "scrfd/scrfd_500m_bnkps_640.onnx", "yolov5/yolov5n_fp16_dynamic.onnx"};
    static const char *imgs[] = {"ultraface/17.jpg", "faces_misc/tensorrtpro_group.jpg", "coco_samples/bus.jpg"};
    ks_image im[3];
    for (int i = 0; i < 3; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", ks_t_images_dir(), imgs[i]);
        KS_T_CHECK_OK(ctx, ks_image_load_file(ctx, p, KS_PIXEL_BGR, &im[i]));
    }
    for (size_t m = 0; m < sizeof(models) / sizeof(models[0]); m++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", ks_t_models_dir(), models[m]);
        for (int run = 0; run < 3; run++) {
            /* runs: FP32 and FP16 with decode + NMS inside the engine (the default), then FP32
               with the separate decode/NMS kernels (postprocess = 0) for the first models */
            int fp16 = run == 1, pp = run < 2;
            if (!pp && m >= 3)
                continue;
            ks_detector_options o;
            ks_detector_options_init(&o);
            ks_detector *cpu = NULL, *gpu = NULL;
            KS_T_CHECK_OK(ctx, ks_detector_create(ctx, path, KS_FAMILY_AUTO, &o, &cpu));
            o.use_gpu = 1, o.fp16 = fp16, o.max_batch = 3, o.postprocess = pp;
            KS_T_CHECK_OK(ctx, ks_detector_create(ctx, path, KS_FAMILY_AUTO, &o, &gpu));
            if (!cpu || !gpu) {
                ks_detector_destroy(cpu), ks_detector_destroy(gpu);
                continue;
            }
            KS_T_CHECK_MSG(ks_detector_on_gpu(gpu), "%s: detector fell back to the CPU: %s", models[m],
                           ks_context_last_error(ctx));
            ks_detection_list rc[3], rg[3];
            ks_detection *copy[3];
            int nc[3];
            for (int i = 0; i < 3; i++) {
                KS_T_CHECK_OK(ctx, ks_detector_detect(cpu, 1, &im[i], &rc[i]));
                nc[i] = rc[i].n;
                copy[i] = malloc(sizeof(ks_detection) * (rc[i].n + 1));
                memcpy(copy[i], rc[i].items, sizeof(ks_detection) * rc[i].n);
            }
            double t0 = now_ms();
            KS_T_CHECK_OK(ctx, ks_detector_detect(gpu, 3, im, rg)); /* warm-up + check */
            double t1 = now_ms();
            int strong = 0, matched = 0, extra = 0;
            ks_detector_options eo;
            ks_detector_get_options(gpu, &eo);
            KS_T_CHECK_MSG(eo.postprocess == pp, "%s: postprocess %d, asked %d", models[m], eo.postprocess, pp);
            float thr = eo.score_threshold + (fp16 ? 0.1f : 0.05f);
            float need = fp16 ? 0.8f : 0.9f;
            for (int i = 0; i < 3; i++) {
                for (int a = 0; a < nc[i]; a++) {
                    if (copy[i][a].score < thr)
                        continue;
                    strong++;
                    float best = 0;
                    for (int b = 0; b < rg[i].n; b++)
                        best = fmaxf(best, ks_t_box_iou(copy[i][a].box, rg[i].items[b].box));
                    matched += best >= need;
                }
                for (int b = 0; b < rg[i].n; b++) {
                    if (rg[i].items[b].score < thr)
                        continue;
                    float best = 0;
                    for (int a = 0; a < nc[i]; a++)
                        best = fmaxf(best, ks_t_box_iou(copy[i][a].box, rg[i].items[b].box));
                    extra += best < need;
                }
            }
            int allowed = fp16 ? strong / 50 : 0; /* FP16 engines may move a few boxes */
            KS_T_CHECK_MSG(strong - matched <= allowed && extra <= allowed,
                           "%s %s %s: %d of %d strong CPU boxes matched, %d strong GPU boxes unmatched", models[m],
                           fp16 ? "fp16" : "fp32", pp ? "in-engine" : "separate", matched, strong, extra);
            fprintf(stderr, "  detector %-46s %s %-9s (engine batch %d): GPU vs CPU strong boxes %d/%d matched (IoU >= %.1f), "
                            "%d extra; 3 images in %.1f ms (first call)\n",
                    models[m], fp16 ? "fp16" : "fp32", pp ? "in-engine" : "separate", (int)eo.max_batch, matched,
                    strong, need, extra, t1 - t0);
            { /* device frames: eager call, then capture, then replay of the whole-pipeline CUDA
                 graph must give bit-identical results to the host-frame (eager) call */
                ks_image dimg[3];
                ks_detection *gcopy[3];
                int ng[3];
                for (int i = 0; i < 3; i++) {
                    KS_T_CHECK_OK(ctx, ks_image_to_device(ctx, &im[i], &dimg[i]));
                    ng[i] = rg[i].n;
                    gcopy[i] = malloc(sizeof(ks_detection) * (rg[i].n + 1));
                    memcpy(gcopy[i], rg[i].items, sizeof(ks_detection) * rg[i].n);
                }
                for (int rep = 0; rep < 4; rep++) {
                    KS_T_CHECK_OK(ctx, ks_detector_detect(gpu, 3, dimg, rg));
                    for (int i = 0; i < 3; i++) {
                        int same = rg[i].n == ng[i] && !memcmp(rg[i].items, gcopy[i], sizeof(ks_detection) * ng[i]);
                        KS_T_CHECK_MSG(same, "%s %s: device-frame call %d (graph %s) differs on image %d: %d vs %d boxes",
                                       models[m], fp16 ? "fp16" : "fp32", rep, rep == 0 ? "off" : "on", i, rg[i].n, ng[i]);
                    }
                }
                for (int i = 0; i < 3; i++) {
                    ks_image_release(ctx, &dimg[i]);
                    free(gcopy[i]);
                }
            }
            for (int i = 0; i < 3; i++)
                free(copy[i]);
            ks_detector_destroy(cpu);
            ks_detector_destroy(gpu);
        }
    }
    for (int i = 0; i < 3; i++)
        ks_image_release(ctx, &im[i]);
}

/* ------------------------------------------------ post-processing plugins and engines */

/* Runs plugin instance `self` on the CPU and on the GPU with the same host inputs; hout and
 * gout receive host outputs (shapes from infer_shapes; release with ks_tensor_release). */
static void plugin_both(ks_context *ctx, const ks_plugin_desc *d, void *self, int n_in, const ks_tensor *in,
                        int n_out, ks_tensor *hout, ks_tensor *gout, double *ms) {
    for (int i = 0; i < n_out; i++) {
        memset(&hout[i], 0, sizeof hout[i]);
        hout[i].ndim = -1;
    }
    KS_T_CHECK_OK(ctx, d->infer_shapes(ctx, self, n_in, in, n_out, hout));
    for (int i = 0; i < n_out; i++) {
        gout[i] = hout[i];
        gout[i].data = NULL;
        KS_T_CHECK_OK(ctx, ks_tensor_alloc(ctx, &hout[i]));
        KS_T_CHECK_OK(ctx, ks_tensor_alloc(ctx, &gout[i]));
    }
    KS_T_CHECK_OK(ctx, d->run_cpu(ctx, self, n_in, in, n_out, hout));
    ks_tensor din[8], dout[8];
    for (int i = 0; i < n_in; i++) {
        din[i] = in[i];
        din[i].data = upload(in[i].data, ks_tensor_nbytes(&in[i]));
    }
    for (int i = 0; i < n_out; i++) {
        dout[i] = hout[i];
        dout[i].data = dmalloc(ks_tensor_nbytes(&hout[i]));
    }
    size_t ws = d->workspace_bytes ? d->workspace_bytes(self, n_in, in, n_out, hout) : 0;
    void *dws = ws ? dmalloc(ws) : NULL;
    double t0 = now_ms();
    KS_T_CHECK_OK(ctx, d->run_cuda(ctx, self, n_in, din, n_out, dout, dws, NULL));
    const char *msg = "";
    KS_T_CHECK(ks__cuda_stream_sync(NULL, &msg) == 0);
    *ms = now_ms() - t0;
    for (int i = 0; i < n_out; i++) {
        download(gout[i].data, dout[i].data, ks_tensor_nbytes(&hout[i]));
        ks__cuda_free(dout[i].data);
    }
    for (int i = 0; i < n_in; i++)
        ks__cuda_free(din[i].data);
    ks__cuda_free(dws);
}

static ks_tensor host_t(ks_dtype dt, int nd, int64_t d0, int64_t d1, int64_t d2, void *data) {
    ks_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt, t.ndim = nd, t.dims[0] = d0, t.dims[1] = d1, t.dims[2] = d2, t.data = data;
    return t;
}

static float *rand_floats(size_t n, float lo, float hi) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = frand(lo, hi);
    return p;
}

/* DetectionDecode (SCRFD levels, RetinaFace SSD + priors) and BatchedNMS (classes +
 * landmarks, packed and separate): run_cuda == run_cpu. */
static void test_plugins(ks_context *ctx) {
    const ks_plugin_desc *dd = ks__decode_plugin_desc(), *nd = ks__nms_plugin_desc();
    const int B = 2;
    for (int kind = 0; kind < 2; kind++) {
        int scrfd = kind == 0;
        int64_t sz[2] = {640, 640};
        ks_plugin_attr at[3] = {{.key = "decoder", .type = KS_PLUGIN_ATTR_STRING, .s = scrfd ? "scrfd" : "ssd"},
                                {.key = "input_size", .type = KS_PLUGIN_ATTR_INTS, .n = 2, .ints = sz},
                                {.key = "score_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = scrfd ? 0.9 : 0.5}};
        void *dec = NULL;
        KS_T_CHECK_OK(ctx, dd->create(ctx, at, 3, &dec));
        if (!dec)
            return;
        int64_t N;
        float *prior = NULL;
        ks_tensor in[4];
        int n_in;
        if (scrfd) {
            N = (80 * 80 + 40 * 40 + 20 * 20) * 2;
            in[0] = host_t(KS_DTYPE_FLOAT32, 2, B * N, 1, 0, rand_floats((size_t)(B * N), 0, 1));
            in[1] = host_t(KS_DTYPE_FLOAT32, 2, B * N, 4, 0, rand_floats((size_t)(B * N * 4), 0, 4));
            in[2] = host_t(KS_DTYPE_FLOAT32, 2, B * N, 10, 0, rand_floats((size_t)(B * N * 10), -2, 2));
            n_in = 3;
        } else {
            ks_prior_config pc;
            ks_prior_config_retinaface(&pc, 640, 640);
            N = ks_prior_count(&pc);
            prior = malloc(sizeof(float) * (size_t)N * 4);
            ks_prior_generate(&pc, prior);
            in[0] = host_t(KS_DTYPE_FLOAT32, 3, B, N, 4, rand_floats((size_t)(B * N * 4), -2, 2));
            in[1] = host_t(KS_DTYPE_FLOAT32, 3, B, N, 2, rand_floats((size_t)(B * N * 2), 0, 1));
            in[2] = host_t(KS_DTYPE_FLOAT32, 3, B, N, 10, rand_floats((size_t)(B * N * 10), -3, 3));
            in[3] = host_t(KS_DTYPE_FLOAT32, 2, N, 4, 0, prior);
            n_in = 4;
        }
        ks_tensor ho[4], go[4];
        double ms = 0;
        plugin_both(ctx, dd, dec, n_in, in, 4, ho, go, &ms);
        const float *hs = ho[1].data, *gs = go[1].data, *hb = ho[0].data, *gb = go[0].data;
        const float *hl = ho[3].data, *gl = go[3].data;
        int sdiff = 0, live = 0;
        double worst = 0;
        for (int64_t r = 0; r < B * N; r++) {
            sdiff += hs[r] != gs[r];
            if (hs[r] < 0)
                continue;
            live++;
            sdiff += ((const int32_t *)ho[2].data)[r] != ((const int32_t *)go[2].data)[r];
            for (int k = 0; k < 14; k++) {
                double a = k < 4 ? hb[r * 4 + k] : hl[r * 10 + k - 4], b = k < 4 ? gb[r * 4 + k] : gl[r * 10 + k - 4];
                double e = fabs(a - b) / (1e-3 + 1e-5 * fabs(a));
                worst = e > worst ? e : worst;
            }
        }
        KS_T_CHECK_MSG(sdiff == 0 && worst <= 1.0 && live > 0, "DetectionDecode %s: %d score/class diffs, worst %.3g",
                       scrfd ? "scrfd" : "ssd", sdiff, worst);
        fprintf(stderr, "  plugin DetectionDecode %-5s %d x %lld rows (%d candidates): run_cuda == run_cpu (worst %.2g of "
                        "tol), %.3f ms\n",
                scrfd ? "scrfd" : "ssd", B, (long long)N, live, worst, ms);
        /* NMS on the CPU decode outputs: classes + landmarks, packed (4 outputs) and separate (5) */
        for (int packed = 0; packed < 2; packed++) {
            ks_plugin_attr na[4] = {{.key = "score_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = scrfd ? 0.9 : 0.5},
                                    {.key = "iou_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = 0.4},
                                    {.key = "max_output", .type = KS_PLUGIN_ATTR_INT, .i = 300},
                                    {.key = "pack_landmarks", .type = KS_PLUGIN_ATTR_INT, .i = packed}};
            void *nms = NULL;
            KS_T_CHECK_OK(ctx, nd->create(ctx, na, 4, &nms));
            if (!nms)
                break;
            ks_tensor nh[5], ng[5];
            int n_out = packed ? 4 : 5;
            plugin_both(ctx, nd, nms, 4, ho, n_out, nh, ng, &ms);
            int same = 1;
            for (int i = 0; i < n_out; i++)
                same &= !memcmp(nh[i].data, ng[i].data, ks_tensor_nbytes(&nh[i]));
            const int32_t *cnt = nh[0].data;
            KS_T_CHECK_MSG(same && cnt[0] > 0, "BatchedNMS %s: GPU outputs differ from the CPU's (counts %d %d vs %d %d)",
                           packed ? "packed" : "separate", cnt[0], cnt[1], ((int32_t *)ng[0].data)[0],
                           ((int32_t *)ng[0].data)[1]);
            fprintf(stderr, "  plugin BatchedNMS (%s landmarks) on %d x %lld rows: kept %d + %d, GPU == CPU bit for bit, "
                            "%.3f ms\n",
                    packed ? "packed" : "separate", B, (long long)N, cnt[0], cnt[1], ms);
            for (int i = 0; i < n_out; i++)
                ks_tensor_release(ctx, &nh[i]), ks_tensor_release(ctx, &ng[i]);
            nd->destroy(nms);
        }
        for (int i = 0; i < 4; i++)
            ks_tensor_release(ctx, &ho[i]), ks_tensor_release(ctx, &go[i]);
        for (int i = 0; i < n_in; i++)
            if (in[i].data != prior)
                free(in[i].data);
        free(prior);
        dd->destroy(dec);
    }
}

/* DetectionDecode yolo_grid (three raw YOLOv5 heads, 640x480, batch 2; channels_last with
 * layout auto, channels_first named): run_cuda == run_cpu (the sigmoids use expf, which may
 * differ by an ulp or two between CPU and GPU). */
static void test_plugin_yolo_grid(ks_context *ctx) {
    const ks_plugin_desc *dd = ks__decode_plugin_desc();
    const int B = 2, NO = 85;
    for (int cf = 0; cf < 2; cf++) {
        int64_t sz[2] = {640, 480};
        ks_plugin_attr at[4] = {{.key = "decoder", .type = KS_PLUGIN_ATTR_STRING, .s = "yolo_grid"},
                                {.key = "input_size", .type = KS_PLUGIN_ATTR_INTS, .n = 2, .ints = sz},
                                {.key = "score_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = 0.25},
                                {.key = "layout", .type = KS_PLUGIN_ATTR_STRING, .s = "channels_first"}};
        void *dec = NULL;
        KS_T_CHECK_OK(ctx, dd->create(ctx, at, cf ? 4 : 3, &dec));
        if (!dec)
            return;
        ks_tensor in[3];
        int64_t N = 0;
        for (int l = 0; l < 3; l++) {
            int64_t s = 8 << l, H = (480 + s - 1) / s, W = (640 + s - 1) / s;
            memset(&in[l], 0, sizeof in[l]);
            in[l].dtype = KS_DTYPE_FLOAT32;
            if (cf) {
                in[l].ndim = 4;
                in[l].dims[0] = B, in[l].dims[1] = 3 * NO, in[l].dims[2] = H, in[l].dims[3] = W;
            } else {
                in[l].ndim = 5;
                in[l].dims[0] = B, in[l].dims[1] = 3, in[l].dims[2] = H, in[l].dims[3] = W, in[l].dims[4] = NO;
            }
            in[l].data = rand_floats((size_t)(B * 3 * H * W * NO), -6, 3);
            N += 3 * H * W;
        }
        ks_tensor ho[3], go[3];
        double ms = 0;
        plugin_both(ctx, dd, dec, 3, in, 3, ho, go, &ms);
        KS_T_CHECK(ho[1].ndim == 2 && ho[1].dims[0] == B && ho[1].dims[1] == N);
        const float *hs = ho[1].data, *gs = go[1].data, *hb = ho[0].data, *gb = go[0].data;
        int sdiff = 0, live = 0;
        double worst = 0;
        for (int64_t r = 0; r < B * N; r++) {
            if (hs[r] != gs[r] && !(hs[r] >= 0 && gs[r] >= 0 && fabsf(hs[r] - gs[r]) <= 4e-7f * fabsf(hs[r])))
                sdiff++;
            if (hs[r] < 0)
                continue;
            live++;
            sdiff += ((const int32_t *)ho[2].data)[r] != ((const int32_t *)go[2].data)[r];
            for (int k = 0; k < 4; k++) {
                double a = hb[r * 4 + k], b = gb[r * 4 + k];
                double e = fabs(a - b) / (1e-3 + 1e-5 * fabs(a));
                worst = e > worst ? e : worst;
            }
        }
        KS_T_CHECK_MSG(sdiff == 0 && worst <= 1.0 && live > 0,
                       "DetectionDecode yolo_grid (%s): %d score/class diffs, worst %.3g, %d live",
                       cf ? "channels_first" : "channels_last", sdiff, worst, live);
        fprintf(stderr, "  plugin DetectionDecode yolo_grid %-14s %d x %lld rows (%d candidates): run_cuda == run_cpu "
                        "(worst %.2g of tol), %.3f ms\n",
                cf ? "channels_first" : "channels_last", B, (long long)N, live, worst, ms);
        for (int i = 0; i < 3; i++)
            ks_tensor_release(ctx, &ho[i]), ks_tensor_release(ctx, &go[i]), free(in[i].data);
        dd->destroy(dec);
    }
}

/* Strong boxes (score >= thr) of a [M,4] list with a partner at IoU >= need in the other. */
static int unmatched(const float *a, const float *as, int na, const float *b, int nb, float thr, float need,
                     int *strong) {
    int miss = 0;
    for (int i = 0; i < na; i++) {
        if (as[i] < thr)
            continue;
        (*strong)++;
        float best = 0;
        for (int j = 0; j < nb; j++)
            best = fmaxf(best, ks_t_box_iou(a + 4 * i, b + 4 * j));
        miss += best < need;
    }
    return miss;
}

/* An engine built from a model with appended post-processing against the CPU session of the
 * same model on a real image; serialize -> load (a context without the plugins gets
 * NOT_FOUND) gives bit-identical outputs. */
static void test_engine_postprocess(ks_context *ctx) {
    static const struct { const char *file; int w, h, letterbox; float mean[3]; } cases[] = {
        {"retinaface/retinaface_mnet025_640_opset17.onnx", 640, 640, 1, {104, 117, 123}},
        {"yunet/yunet_n_640_640.onnx", 640, 640, 1, {0, 0, 0}}};
    char ip[4096];
    snprintf(ip, sizeof ip, "%s/faces_misc/tensorrtpro_group.jpg", ks_t_images_dir());
    ks_image img;
    if (ks_image_load_file(ctx, ip, KS_PIXEL_BGR, &img) != KS_OK) {
        KS_T_CHECK_MSG(0, "%s: %s", ip, ks_context_last_error(ctx));
        return;
    }
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", ks_t_models_dir(), cases[c].file);
        ks_preprocess_config pc;
        ks_preprocess_config_init(&pc);
        pc.width = cases[c].w, pc.height = cases[c].h;
        pc.resize = KS_RESIZE_LETTERBOX;
        pc.channel_order = KS_PIXEL_BGR;
        for (int k = 0; k < 3; k++)
            pc.mean[k] = cases[c].mean[k];
        size_t in_n = (size_t)3 * pc.width * pc.height;
        float *x = malloc(in_n * sizeof(float));
        KS_T_CHECK_OK(ctx, ks_preprocess_cpu(ctx, &pc, 1, &img, x, NULL));
        for (int fp16 = 0; fp16 < 2; fp16++) {
            ks_model *mc = NULL, *mg = NULL;
            KS_T_CHECK_OK(ctx, ks_model_load_file(ctx, path, NULL, &mc));
            KS_T_CHECK_OK(ctx, ks_model_load_file(ctx, path, NULL, &mg));
            if (!mc || !mg) {
                ks_model_destroy(mc), ks_model_destroy(mg);
                continue;
            }
            KS_T_CHECK_OK(ctx, ks_vision_append_postprocess(mc, KS_FAMILY_AUTO, NULL));
            KS_T_CHECK_OK(ctx, ks_vision_append_postprocess(mg, KS_FAMILY_AUTO, NULL));
            int no = ks_model_num_outputs(mc);
            ks_session *s = NULL;
            KS_T_CHECK_OK(ctx, ks_session_create(mc, NULL, &s));
            ks_tensor in = {KS_DTYPE_FLOAT32, 4, {1, 3, pc.height, pc.width}, x};
            const char *iname = ks_model_input_name(mc, 0);
            ks_tensor co[5];
            memset(co, 0, sizeof co);
            KS_T_CHECK_OK(ctx, ks_session_run(s, 1, &iname, &in, 0, NULL, co));
            ks_build_config cfg;
            ks_build_config_init(&cfg);
            cfg.precision = fp16 ? KS_PRECISION_FP16 : KS_PRECISION_FP32;
            ks_engine *e = NULL, *e2 = NULL;
            KS_T_CHECK_OK(ctx, ks_engine_build(mg, &cfg, &e));
            void *bytes = NULL;
            size_t nb = 0;
            if (e)
                KS_T_CHECK_OK(ctx, ks_engine_serialize(e, &bytes, &nb));
            if (bytes) {
                ks_context *bare = NULL;
                ks_context_create(NULL, &bare);
                ks_engine *x2 = NULL;
                ks_status st = ks_engine_load_memory(bare, bytes, nb, &x2);
                KS_T_CHECK_MSG(st == KS_NOT_FOUND && strstr(ks_context_last_error(bare), "DetectionDecode"),
                               "loading without the plugins: %s: %s", ks_status_name(st), ks_context_last_error(bare));
                ks_engine_destroy(x2);
                ks_context_destroy(bare);
                KS_T_CHECK_OK(ctx, ks_engine_load_memory(ctx, bytes, nb, &e2));
                ks_engine_free_buffer(e, bytes);
            }
            if (e && e2 && co[0].data) {
                ks_tensor go[2][5];
                for (int which = 0; which < 2; which++) {
                    ks_engine *en = which ? e2 : e;
                    ks_exec_context *ec = NULL;
                    KS_T_CHECK_OK(ctx, ks_exec_context_create(en, &ec));
                    void *bind[6];
                    bind[0] = upload(x, in_n * 4);
                    for (int i = 0; i < no; i++) {
                        ks_dtype dt;
                        int ndm;
                        go[which][i] = co[i];
                        go[which][i].data = NULL;
                        ks_engine_binding_info(en, 1 + i, &dt, &ndm, go[which][i].dims);
                        KS_T_CHECK(!strcmp(ks_engine_binding_name(en, 1 + i), ks_model_output_name(mc, i)));
                        KS_T_CHECK_OK(ctx, ks_tensor_alloc(ctx, &go[which][i]));
                        bind[1 + i] = dmalloc(ks_tensor_nbytes(&co[i]));
                    }
                    if (ec) {
                        KS_T_CHECK_OK(ctx, ks_exec_run(ec, NULL, bind));
                        const char *msg = "";
                        KS_T_CHECK(ks__cuda_stream_sync(NULL, &msg) == 0);
                    }
                    for (int i = 0; i < no; i++) {
                        download(go[which][i].data, bind[1 + i], ks_tensor_nbytes(&co[i]));
                        ks__cuda_free(bind[1 + i]);
                    }
                    ks__cuda_free(bind[0]);
                    ks_exec_context_destroy(ec);
                }
                int same = 1;
                for (int i = 0; i < no; i++)
                    same &= !memcmp(go[0][i].data, go[1][i].data, ks_tensor_nbytes(&co[i]));
                KS_T_CHECK_MSG(same, "%s %s: the loaded engine's outputs differ from the built one's", cases[c].file,
                               fp16 ? "fp16" : "fp32");
                int nc = ((int32_t *)co[0].data)[0], ng = ((int32_t *)go[0][0].data)[0];
                int strong = 0, strong2 = 0;
                float thr = 0.5f + (fp16 ? 0.1f : 0.05f), need = fp16 ? 0.8f : 0.9f;
                if (strstr(cases[c].file, "yunet"))
                    thr = 0.6f + (fp16 ? 0.1f : 0.05f);
                int miss = unmatched(co[1].data, co[2].data, nc, go[0][1].data, ng, thr, need, &strong);
                int extra = unmatched(go[0][1].data, go[0][2].data, ng, co[1].data, nc, thr, need, &strong2);
                int allowed = fp16 ? strong / 50 : 0;
                KS_T_CHECK_MSG(miss <= allowed && extra <= allowed && strong > 0,
                               "%s %s: engine vs CPU session: %d of %d strong missing, %d extra", cases[c].file,
                               fp16 ? "fp16" : "fp32", miss, strong, extra);
                fprintf(stderr, "  engine with post-processing %-44s %s: %d (GPU) vs %d (CPU) detections, strong %d/%d "
                                "matched, %d extra; serialize -> load bit-identical%s\n",
                        cases[c].file, fp16 ? "fp16" : "fp32", ng, nc, strong - miss, strong, extra,
                        same ? "" : " NO");
                for (int w = 0; w < 2; w++)
                    for (int i = 0; i < no; i++)
                        ks_tensor_release(ctx, &go[w][i]);
            }
            for (int i = 0; i < no; i++)
                ks_tensor_release(ctx, &co[i]);
            ks_engine_destroy(e2);
            ks_engine_destroy(e);
            ks_session_destroy(s);
            ks_model_destroy(mc);
            ks_model_destroy(mg);
        }
        free(x);
    }
    ks_image_release(ctx, &img);
}

/* `kestrel build --postprocess` equivalent: model + appended post-processing -> engine file;
 * ks_detector_create(file.engine) recognises it (family, input, thresholds from the plugin
 * parameters) and finds what the CPU detector finds. */
static void test_engine_file_detector(ks_context *ctx) {
    static const char *models[] = {"ultraface/version-RFB-320_without_postprocessing.onnx",
                                   "scrfd/scrfd_500m_bnkps_640.onnx", "yolov5/yolov5n_fp16_dynamic.onnx"};
    static const char *imgs[] = {"ultraface/17.jpg", "coco_samples/bus.jpg"};
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        char path[4096], epath[4096];
        snprintf(path, sizeof path, "%s/%s", ks_t_models_dir(), models[m]);
        snprintf(epath, sizeof epath, "%s/ks_test_pp_%d.engine", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)m);
        ks_model *mod = NULL;
        KS_T_CHECK_OK(ctx, ks_model_load_file(ctx, path, NULL, &mod));
        if (!mod)
            continue;
        ks_detector_options o;
        ks_detector_options_init(&o);
        o.max_detections = 200;
        KS_T_CHECK_OK(ctx, ks_vision_append_postprocess(mod, KS_FAMILY_AUTO, &o));
        ks_build_config cfg;
        ks_build_config_init(&cfg);
        ks_engine *e = NULL;
        KS_T_CHECK_OK(ctx, ks_engine_build(mod, &cfg, &e));
        if (e)
            KS_T_CHECK_OK(ctx, ks_engine_save(e, epath));
        ks_engine_destroy(e);
        ks_model_destroy(mod);
        ks_detector *cpu = NULL, *gpu = NULL;
        KS_T_CHECK_OK(ctx, ks_detector_create(ctx, path, KS_FAMILY_AUTO, &o, &cpu));
        KS_T_CHECK_OK(ctx, ks_detector_create(ctx, epath, KS_FAMILY_AUTO, NULL, &gpu));
        if (cpu && gpu) {
            ks_detector_options eo, co;
            ks_detector_get_options(gpu, &eo);
            ks_detector_get_options(cpu, &co);
            KS_T_CHECK_MSG(ks_detector_get_family(gpu) == ks_detector_get_family(cpu) && eo.postprocess == 1 &&
                               eo.max_detections == 200 && eo.score_threshold == co.score_threshold &&
                               eo.nms_threshold == co.nms_threshold && eo.input_width == co.input_width,
                           "%s: engine file read as %s, postprocess %d, M %d, thr %g/%g", models[m],
                           ks_detector_family_name(ks_detector_get_family(gpu)), eo.postprocess, eo.max_detections,
                           eo.score_threshold, eo.nms_threshold);
            for (int i = 0; i < 2; i++) {
                char ipath[4096];
                snprintf(ipath, sizeof ipath, "%s/%s", ks_t_images_dir(), imgs[i]);
                ks_image im;
                if (ks_image_load_file(ctx, ipath, KS_PIXEL_BGR, &im) != KS_OK)
                    continue;
                ks_detection_list rc, rg;
                KS_T_CHECK_OK(ctx, ks_detector_detect(cpu, 1, &im, &rc));
                float *cb = malloc(sizeof(float) * 4 * (rc.n + 1)), *cs = malloc(sizeof(float) * (rc.n + 1));
                for (int k = 0; k < rc.n; k++)
                    memcpy(cb + 4 * k, rc.items[k].box, 16), cs[k] = rc.items[k].score;
                int nc = rc.n;
                KS_T_CHECK_OK(ctx, ks_detector_detect(gpu, 1, &im, &rg));
                float *gb = malloc(sizeof(float) * 4 * (rg.n + 1)), *gs = malloc(sizeof(float) * (rg.n + 1));
                for (int k = 0; k < rg.n; k++)
                    memcpy(gb + 4 * k, rg.items[k].box, 16), gs[k] = rg.items[k].score;
                int strong = 0, s2 = 0;
                float thr = co.score_threshold + 0.05f;
                int miss = unmatched(cb, cs, nc, gb, rg.n, thr, 0.9f, &strong);
                int extra = unmatched(gb, gs, rg.n, cb, nc, thr, 0.9f, &s2);
                KS_T_CHECK_MSG(miss == 0 && extra == 0, "%s on %s: engine file detector: %d of %d strong missing, %d extra",
                               models[m], imgs[i], miss, strong, extra);
                fprintf(stderr, "  detector from engine file (%s) on %s: %d vs %d (CPU) detections, strong %d/%d matched\n",
                        models[m], imgs[i], rg.n, nc, strong - miss, strong);
                free(cb), free(cs), free(gb), free(gs);
                ks_image_release(ctx, &im);
            }
        }
        ks_detector_destroy(cpu);
        ks_detector_destroy(gpu);
        remove(epath);
    }
}

/* MTCNN through ks_detector on the GPU: max_batch 4 = frame batching (one cascade run for
 * consecutive images of one size) finds what max_batch 1 finds, frame by frame. */
static int mt_unmatched(const ks_detection_list *a, const ks_detection_list *b, float thr) {
    int miss = 0;
    for (int i = 0; i < a->n; i++) {
        if (a->items[i].score < thr)
            continue;
        float best = 0;
        for (int j = 0; j < b->n; j++)
            best = fmaxf(best, ks_t_box_iou(a->items[i].box, b->items[j].box));
        miss += best < 0.9f;
    }
    return miss;
}

static void test_detector_mtcnn_batch(ks_context *ctx) {
    char path[4096], p1[4096];
    snprintf(path, sizeof path, "%s/mtcnn/caffe", ks_t_models_dir());
    snprintf(p1, sizeof p1, "%s/faces_misc/tensorrtpro_group.jpg", ks_t_images_dir());
    ks_image a;
    if (ks_image_load_file(ctx, p1, KS_PIXEL_BGR, &a) != KS_OK) {
        fprintf(stderr, "  mtcnn detector batch: no image (%s), skipped\n", ks_context_last_error(ctx));
        ks_context_clear_error(ctx);
        return;
    }
    /* one size only: a size change rebuilds the P-Net engines */
    ks_image im[5] = {a, a, a, a, a}; /* max_batch 4: runs of [4] [1] */
    ks_detection *ref[5] = {0};
    int nref[5] = {0};
    for (int mb = 1; mb <= 4; mb += 3) {
        ks_detector_options o;
        ks_detector_options_init(&o);
        o.use_gpu = 1, o.max_batch = mb;
        ks_detector *d = NULL;
        ks_status st = ks_detector_create(ctx, path, KS_FAMILY_MTCNN, &o, &d);
        if (st != KS_OK) {
            fprintf(stderr, "  mtcnn detector batch: %s, skipped\n", ks_context_last_error(ctx));
            ks_context_clear_error(ctx);
            break;
        }
        KS_T_CHECK_MSG(ks_detector_on_gpu(d), "mtcnn detector max_batch %d fell back to the CPU", mb);
        ks_detection_list r[5];
        double t0 = 0;
        for (int run = 0; run < 3; run++) { /* eager, capture, replay */
            t0 = now_ms();
            KS_T_CHECK_OK(ctx, ks_detector_detect(d, 5, im, r));
        }
        double t1 = now_ms();
        if (mb == 1) {
            for (int i = 0; i < 5; i++) {
                nref[i] = r[i].n;
                ref[i] = malloc(sizeof(ks_detection) * (r[i].n + 1));
                memcpy(ref[i], r[i].items, sizeof(ks_detection) * r[i].n);
            }
        } else {
            int miss = 0;
            for (int i = 0; i < 5; i++) {
                ks_detection_list rl = {nref[i], ref[i]};
                miss += mt_unmatched(&rl, &r[i], 0.95f) + mt_unmatched(&r[i], &rl, 0.95f);
            }
            KS_T_CHECK_MSG(miss == 0, "mtcnn detector frame batch 4: %d strong faces differ from batch 1", miss);
            KS_T_CHECK_MSG(r[0].n == r[1].n && r[0].n == r[4].n && r[0].n > 0 &&
                               !memcmp(r[0].items, r[4].items, sizeof(ks_detection) * (size_t)r[0].n),
                           "mtcnn detector frame batch: copies of one frame differ");
        }
        fprintf(stderr, "  mtcnn detector (GPU, max_batch %d): 5 images (%d %d %d %d %d faces), %.3f ms per call\n", mb,
                r[0].n, r[1].n, r[2].n, r[3].n, r[4].n, t1 - t0);
        ks_detector_destroy(d);
    }
    for (int i = 0; i < 5; i++)
        free(ref[i]);
    ks_image_release(ctx, &a);
}

int main(void) {
    if (!ks__cuda_device_count || !ks__cuda_malloc || !ks__cuda_free || !ks__cuda_memcpy || !ks__cuda_stream_sync)
        KS_T_SKIP("built without CUDA");
    if (ks__cuda_device_count() <= 0)
        KS_T_SKIP("no CUDA device");
    ks_context *ctx = NULL;
    KS_T_CHECK(ks_context_create(NULL, &ctx) == KS_OK);
    if (getenv("KS_VISION_ONLY_NMS")) { /* the NMS cases alone (tools/gpu-check.sh nms runs them under memcheck) */
        test_nms(ctx);
        ks_context_destroy(ctx);
        return ks_t_done();
    }
    test_preprocess(ctx);
    test_decoders(ctx);
    test_nms(ctx);
    test_detector_mtcnn_batch(ctx);
    test_plugins(ctx);
    test_plugin_yolo_grid(ctx);
    test_engine_postprocess(ctx);
    if (getenv("KS_VISION_SKIP_DETECTOR"))
        fprintf(stderr, "  detector GPU-vs-CPU part skipped (KS_VISION_SKIP_DETECTOR)\n");
    else {
        test_detector(ctx);
        test_engine_file_detector(ctx);
    }
    ks_context_destroy(ctx);
    return ks_t_done();
}
