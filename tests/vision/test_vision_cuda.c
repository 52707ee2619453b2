/* CUDA vision kernels against the CPU references: preprocessing (every pixel format,
 * every resize mode, FP32/FP16, a 40-image mixed batch), every decoder (FP32 and FP16
 * network outputs), batched NMS (shared-memory and global-memory sort paths, class-aware,
 * top-k, landmarks, transforms), and the GPU detector end to end against the CPU detector.
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
    for (size_t r = 0; r < R; r++) {
        if (hc.scores[r] != gc.scores[r])
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
                p.levels[l] = (ks_decode_level){s, 640 / s, 480 / s, A};
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
    }
}

/* ----------------------------------------------------------------------- NMS */

static void test_nms(ks_context *ctx) {
    struct {
        int B, N, top_k, class_aware, with_lm, with_tf;
        float sthr, ithr;
    } cases[5] = {{4, 3000, 0, 0, 1, 1, 0.3f, 0.4f},
                  {4, 3000, 500, 1, 0, 0, 0.2f, 0.5f},
                  {2, 20000, 0, 1, 1, 1, 0.5f, 0.45f},   /* > 4096 survivors: global-memory sort */
                  {3, 25200, 5000, 0, 0, 1, 0.25f, 0.3f},
                  {32, 4420, 0, 0, 0, 1, 0.7f, 0.3f}};
    for (int c = 0; c < 5; c++) {
        int B = cases[c].B, N = cases[c].N, M = 300;
        size_t R = (size_t)B * N;
        float *bx = malloc(R * 16), *sc = malloc(R * 4), *lm = malloc(R * 40);
        int32_t *cl = malloc(R * 4);
        for (size_t i = 0; i < R; i++) {
            float x = frand(0, 600), y = frand(0, 600), w = frand(4, 80), h = frand(4, 80);
            bx[4 * i] = x, bx[4 * i + 1] = y, bx[4 * i + 2] = x + w, bx[4 * i + 3] = y + h;
            sc[i] = (i % 3) ? frand(0, 1) : (float)(rnd() % 10) / 10.0f; /* some exact ties */
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
        fprintf(stderr, "  nms batch %2d x %5d rows, top-k %4d, class-aware %d: %d kept, GPU == CPU, %.3f ms\n", B, N,
                p.top_k, p.class_aware, kept, t1 - t0);
        free(bx), free(sc), free(lm), free(cl), free(tf), free(hcnt), free(hidx), free(hcls), free(hb), free(hs), free(hl);
        free(gcnt), free(gidx), free(gcls), free(gb), free(gs), free(gl);
        ks__cuda_free(din.boxes), ks__cuda_free(din.scores), ks__cuda_free(din.classes), ks__cuda_free(din.landmarks);
        ks__cuda_free(dout.counts), ks__cuda_free(dout.boxes), ks__cuda_free(dout.scores), ks__cuda_free(dout.classes);
        ks__cuda_free(dout.landmarks), ks__cuda_free(dout.indices), ks__cuda_free((void *)dout.transforms);
        ks__cuda_free(dws);
    }
}

/* --------------------------------------------------- detector GPU vs CPU */

static float iou(const float *a, const float *b) {
    float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (iw <= 0 || ih <= 0)
        return 0;
    float i = iw * ih;
    return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i);
}

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
        for (int fp16 = 0; fp16 < 2; fp16++) {
            ks_detector_options o;
            ks_detector_options_init(&o);
            ks_detector *cpu = NULL, *gpu = NULL;
            KS_T_CHECK_OK(ctx, ks_detector_create(ctx, path, KS_FAMILY_AUTO, &o, &cpu));
            o.use_gpu = 1, o.fp16 = fp16, o.max_batch = 3;
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
            float thr = eo.score_threshold + (fp16 ? 0.1f : 0.05f);
            float need = fp16 ? 0.8f : 0.9f;
            for (int i = 0; i < 3; i++) {
                for (int a = 0; a < nc[i]; a++) {
                    if (copy[i][a].score < thr)
                        continue;
                    strong++;
                    float best = 0;
                    for (int b = 0; b < rg[i].n; b++)
                        best = fmaxf(best, iou(copy[i][a].box, rg[i].items[b].box));
                    matched += best >= need;
                }
                for (int b = 0; b < rg[i].n; b++) {
                    if (rg[i].items[b].score < thr)
                        continue;
                    float best = 0;
                    for (int a = 0; a < nc[i]; a++)
                        best = fmaxf(best, iou(copy[i][a].box, rg[i].items[b].box));
                    extra += best < need;
                }
            }
            int allowed = fp16 ? strong / 50 : 0; /* FP16 engines may move a few boxes */
            KS_T_CHECK_MSG(strong - matched <= allowed && extra <= allowed,
                           "%s %s: %d of %d strong CPU boxes matched, %d strong GPU boxes unmatched", models[m],
                           fp16 ? "fp16" : "fp32", matched, strong, extra);
            fprintf(stderr, "  detector %-46s %s (engine batch %d): GPU vs CPU strong boxes %d/%d matched (IoU >= %.1f), "
                            "%d extra; 3 images in %.1f ms (first call)\n",
                    models[m], fp16 ? "fp16" : "fp32", (int)eo.max_batch, matched, strong, need, extra, t1 - t0);
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

int main(void) {
    if (!ks__cuda_device_count || !ks__cuda_malloc || !ks__cuda_free || !ks__cuda_memcpy || !ks__cuda_stream_sync)
        KS_T_SKIP("built without CUDA");
    if (ks__cuda_device_count() <= 0)
        KS_T_SKIP("no CUDA device");
    ks_context *ctx = NULL;
    KS_T_CHECK(ks_context_create(NULL, &ctx) == KS_OK);
    test_preprocess(ctx);
    test_decoders(ctx);
    test_nms(ctx);
    if (getenv("KS_VISION_SKIP_DETECTOR"))
        fprintf(stderr, "  detector GPU-vs-CPU part skipped (KS_VISION_SKIP_DETECTOR)\n");
    else
        test_detector(ctx);
    ks_context_destroy(ctx);
    return ks_t_done();
}
