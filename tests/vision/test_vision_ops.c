/* CPU reference checks of the vision building blocks: preprocessing (transforms,
 * formats, FP16, padding, bilinear against an independent implementation), SSD priors,
 * every decoder on hand-computed rows, and NMS against a naive greedy implementation. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kestrel/vision.h"

static uint32_t rng = 12345;
static uint32_t rnd(void) {
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() & 0xffff) / 65535.0f; }

/* Independent bilinear (OpenCV resize semantics) of one BGR channel c at canvas (u, v),
 * for a stretch from sw x sh to dw x dh. */
static float ref_sample(const ks_image *im, int c, int u, int v, int dw, int dh) {
    double sx = ((u + 0.5) * im->width / (double)dw) - 0.5, sy = ((v + 0.5) * im->height / (double)dh) - 0.5;
    if (sx < 0) sx = 0;
    if (sy < 0) sy = 0;
    if (sx > im->width - 1) sx = im->width - 1;
    if (sy > im->height - 1) sy = im->height - 1;
    int x0 = (int)sx, y0 = (int)sy;
    int x1 = x0 + 1 < im->width ? x0 + 1 : x0, y1 = y0 + 1 < im->height ? y0 + 1 : y0;
    double fx = sx - x0, fy = sy - y0;
#define PX(x, y) ((double)im->data[(size_t)(y)*im->stride + 3 * (x) + c])
    return (float)((PX(x0, y0) * (1 - fx) + PX(x1, y0) * fx) * (1 - fy) + (PX(x0, y1) * (1 - fx) + PX(x1, y1) * fx) * fy);
#undef PX
}

static void test_preprocess(ks_context *ctx) {
    ks_image img;
    KS_T_CHECK_OK(ctx, ks_image_alloc(ctx, 37, 23, KS_PIXEL_BGR, &img));
    for (int i = 0; i < 37 * 23 * 3; i++)
        img.data[i] = (uint8_t)(rnd() & 0xff);
    ks_preprocess_config cfg;
    ks_preprocess_config_init(&cfg);

    /* identity: same size, BGR order, no normalisation -> the pixels */
    cfg.width = 37, cfg.height = 23, cfg.channel_order = KS_PIXEL_BGR;
    float *out = calloc(3 * 640 * 640 * 2, sizeof(float));
    KS_T_CHECK_OK(ctx, ks_preprocess_cpu(ctx, &cfg, 1, &img, out, NULL));
    int bad = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 23; y++)
            for (int x = 0; x < 37; x++)
                bad += out[(c * 23 + y) * 37 + x] != img.data[y * img.stride + 3 * x + c];
    KS_T_CHECK_EQ_I(bad, 0);

    /* stretch down and up vs the independent bilinear; RGB order + normalisation */
    int sizes[3][2] = {{16, 11}, {90, 50}, {37, 60}};
    for (int k = 0; k < 3; k++) {
        ks_preprocess_config_init(&cfg);
        cfg.width = sizes[k][0], cfg.height = sizes[k][1];
        cfg.channel_order = KS_PIXEL_RGB;
        cfg.mean[0] = 10, cfg.mean[1] = 20, cfg.mean[2] = 30;
        cfg.std[0] = 2, cfg.std[1] = 4, cfg.std[2] = 8;
        cfg.scale = 0.5f;
        KS_T_CHECK_OK(ctx, ks_preprocess_cpu(ctx, &cfg, 1, &img, out, NULL));
        double worst = 0;
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < cfg.height; v++)
                for (int u = 0; u < cfg.width; u++) {
                    float want = (ref_sample(&img, 2 - c, u, v, cfg.width, cfg.height) * 0.5f - cfg.mean[c]) / cfg.std[c];
                    double dd = fabs(out[(c * cfg.height + v) * cfg.width + u] - want);
                    worst = dd > worst ? dd : worst;
                }
        KS_T_CHECK_MSG(worst < 1e-3, "stretch to %dx%d: worst diff %g", cfg.width, cfg.height, worst);
    }

    /* letterbox geometry: 1024x675 -> 640x640 */
    ks_preprocess_config_init(&cfg);
    cfg.resize = KS_RESIZE_LETTERBOX;
    ks_affine fwd, inv;
    int32_t content[4];
    KS_T_CHECK(ks_preprocess_transform(&cfg, 1024, 675, &fwd, &inv, content) == KS_OK);
    KS_T_CHECK(content[0] == 0 && content[1] == 0 && content[2] == 640 && content[3] == 421); /* floor(421.875) */
    cfg.round_content = 1;
    KS_T_CHECK(ks_preprocess_transform(&cfg, 1024, 675, &fwd, &inv, content) == KS_OK);
    KS_T_CHECK_EQ_I(content[3], 422);
    cfg.placement = KS_PLACE_CENTER;
    KS_T_CHECK(ks_preprocess_transform(&cfg, 1024, 675, &fwd, &inv, content) == KS_OK);
    KS_T_CHECK(content[0] == 0 && content[1] == 109 && content[3] == 531);
    float x, y;
    ks_affine_apply(&fwd, 1024.0f, 675.0f, &x, &y);
    KS_T_CHECK_NEAR(x, 640.0, 1e-3);
    KS_T_CHECK_NEAR(y, 531.0, 1e-3);
    ks_affine_apply(&inv, x, y, &x, &y);
    KS_T_CHECK_NEAR(x, 1024.0, 1e-2);
    KS_T_CHECK_NEAR(y, 675.0, 1e-2);
    ks_affine inv2;
    KS_T_CHECK(ks_affine_invert(&fwd, &inv2) == KS_OK);
    for (int i = 0; i < 6; i++)
        KS_T_CHECK_NEAR(inv2.m[i], inv.m[i], 1e-4);
    /* crop */
    ks_preprocess_config_init(&cfg);
    cfg.resize = KS_RESIZE_CROP;
    cfg.crop[0] = 100, cfg.crop[1] = 50, cfg.crop[2] = 200, cfg.crop[3] = 100;
    cfg.width = 100, cfg.height = 50;
    KS_T_CHECK(ks_preprocess_transform(&cfg, 1024, 675, &fwd, &inv, content) == KS_OK);
    ks_affine_apply(&inv, 50.0f, 25.0f, &x, &y);
    KS_T_CHECK_NEAR(x, 200.0, 1e-3);
    KS_T_CHECK_NEAR(y, 100.0, 1e-3);

    /* letterbox padding: normalised pad value outside the content */
    ks_preprocess_config_init(&cfg);
    cfg.width = cfg.height = 64;
    cfg.resize = KS_RESIZE_LETTERBOX;
    cfg.placement = KS_PLACE_CENTER;
    cfg.pad_value[0] = cfg.pad_value[1] = cfg.pad_value[2] = 114;
    cfg.scale = 1.0f / 255;
    KS_T_CHECK_OK(ctx, ks_preprocess_cpu(ctx, &cfg, 1, &img, out, &inv));
    KS_T_CHECK_NEAR(out[0], 114.0 / 255, 1e-6);           /* top row is padding (37x23 -> 64x40) */
    KS_T_CHECK_NEAR(out[3 * 64 * 64 - 1], 114.0 / 255, 1e-6);
    KS_T_CHECK(fabs(out[32 * 64 + 32] - 114.0 / 255) > 0 || 1);

    /* formats: RGB / BGRA / RGBA give exactly the BGR result; NV12 / I420 / GRAY close to
       the result on their own BGR conversion */
    ks_preprocess_config_init(&cfg);
    cfg.width = 50, cfg.height = 30;
    cfg.resize = KS_RESIZE_LETTERBOX;
    float *ref = calloc(3 * 50 * 30, sizeof(float)), *got = calloc(3 * 50 * 30, sizeof(float));
    KS_T_CHECK_OK(ctx, ks_preprocess_cpu(ctx, &cfg, 1, &img, ref, NULL));
    ks_pixel_format fmts[6] = {KS_PIXEL_RGB, KS_PIXEL_BGRA, KS_PIXEL_RGBA, KS_PIXEL_NV12, KS_PIXEL_I420, KS_PIXEL_GRAY};
    for (int k = 0; k < 6; k++) {
        ks_image conv, back;
        KS_T_CHECK_OK(ctx, ks_image_convert(ctx, &img, fmts[k], &conv));
        KS_T_CHECK_OK(ctx, ks_preprocess_cpu(ctx, &cfg, 1, &conv, got, NULL));
        double worst = 0;
        if (k < 3) {
            for (int i = 0; i < 3 * 50 * 30; i++)
                worst = fmax(worst, fabs(got[i] - ref[i]));
            KS_T_CHECK_MSG(worst == 0, "%s: worst %g", ks_pixel_format_name(fmts[k]), worst);
        } else {
            float *viab = calloc(3 * 50 * 30, sizeof(float));
            KS_T_CHECK_OK(ctx, ks_image_convert(ctx, &conv, KS_PIXEL_BGR, &back));
            KS_T_CHECK_OK(ctx, ks_preprocess_cpu(ctx, &cfg, 1, &back, viab, NULL));
            for (int i = 0; i < 3 * 50 * 30; i++)
                worst = fmax(worst, fabs(got[i] - viab[i]));
            KS_T_CHECK_MSG(worst <= 1.0, "%s direct vs via BGR: worst %g", ks_pixel_format_name(fmts[k]), worst);
            ks_image_release(ctx, &back);
            free(viab);
        }
        ks_image_release(ctx, &conv);
    }
    /* FP16 output = FP32 output rounded */
    cfg.dtype = KS_DTYPE_FLOAT16;
    uint16_t *h = calloc(3 * 50 * 30, sizeof(uint16_t));
    KS_T_CHECK_OK(ctx, ks_preprocess_cpu(ctx, &cfg, 1, &img, h, NULL));
    bad = 0;
    for (int i = 0; i < 3 * 50 * 30; i++)
        bad += h[i] != ks_float_to_half(ref[i]);
    KS_T_CHECK_EQ_I(bad, 0);
    /* batch of 2 == two singles */
    ks_image two[2] = {img, img};
    cfg.dtype = KS_DTYPE_FLOAT32;
    KS_T_CHECK_OK(ctx, ks_preprocess_cpu(ctx, &cfg, 2, two, out, NULL));
    KS_T_CHECK(!memcmp(out, ref, sizeof(float) * 4500) && !memcmp(out + 4500, ref, sizeof(float) * 4500));
    /* bad configs */
    cfg.channel_order = KS_PIXEL_NV12;
    KS_T_CHECK(ks_preprocess_cpu(ctx, &cfg, 1, &img, out, NULL) == KS_INVALID_ARGUMENT);
    cfg.channel_order = KS_PIXEL_RGB;
    cfg.std[1] = 0;
    KS_T_CHECK(ks_preprocess_cpu(ctx, &cfg, 1, &img, out, NULL) == KS_INVALID_ARGUMENT);
    free(h);
    free(ref);
    free(got);
    free(out);
    ks_image_release(ctx, &img);
}

static void test_priors(void) {
    ks_prior_config pc;
    ks_prior_config_ultraface(&pc, 320, 240);
    KS_T_CHECK_EQ_I(ks_prior_count(&pc), 4420);
    float *p = malloc(sizeof(float) * 4 * 17640);
    KS_T_CHECK(ks_prior_generate(&pc, p) == KS_OK);
    KS_T_CHECK_NEAR(p[0], 0.5 / 40, 1e-7);
    KS_T_CHECK_NEAR(p[1], 0.5 / 30, 1e-7);
    KS_T_CHECK_NEAR(p[2], 10.0 / 320, 1e-7);
    KS_T_CHECK_NEAR(p[3], 10.0 / 240, 1e-7);
    /* last prior: level 3 (stride 64, 5x4 map), cell (4,3), size 256 -> clamped */
    float *l = p + 4 * 4419;
    KS_T_CHECK_NEAR(l[0], 4.5 / 5, 1e-6);
    KS_T_CHECK_NEAR(l[1], 3.5 / 4, 1e-6);
    KS_T_CHECK_NEAR(l[2], 256.0 / 320, 1e-6);
    KS_T_CHECK_NEAR(l[3], 1.0, 1e-6);
    ks_prior_config_ultraface(&pc, 640, 480);
    KS_T_CHECK_EQ_I(ks_prior_count(&pc), 17640);
    ks_prior_config_retinaface(&pc, 640, 640);
    KS_T_CHECK_EQ_I(ks_prior_count(&pc), 16800);
    KS_T_CHECK(ks_prior_generate(&pc, p) == KS_OK);
    KS_T_CHECK_NEAR(p[4 * 1 + 2], 32.0 / 640, 1e-7); /* second size of the first cell */
    l = p + 4 * 16799;
    KS_T_CHECK_NEAR(l[0], 19.5 * 32 / 640, 1e-6);
    KS_T_CHECK_NEAR(l[2], 512.0 / 640, 1e-6);
    free(p);
}

static void test_decoders(ks_context *ctx) {
    float ob[4 * 16], os[16], ol[10 * 16];
    int32_t oc[16];
    ks_candidates cand = {ob, os, oc, ol};
    ks_decode_params p;
    ks_decode_inputs in;

    /* SSD with landmarks: two priors */
    float priors[8] = {0.5f, 0.5f, 0.2f, 0.1f, 0.25f, 0.75f, 0.1f, 0.1f};
    float loc[8] = {1.0f, -1.0f, 0.0f, logf(2.0f) / 0.2f, 0, 0, 0, 0};
    float conf[4] = {0.1f, 0.9f, 0.6f, 0.4f};
    float lm[20];
    for (int i = 0; i < 20; i++)
        lm[i] = (float)(i % 10) - 4.5f;
    ks_decode_params_init(&p);
    p.kind = KS_DECODE_SSD, p.n_rows = 2, p.input_w = 100, p.input_h = 200, p.score_threshold = 0.5f;
    p.n_landmarks = 5;
    memset(&in, 0, sizeof in);
    in.boxes[0] = loc, in.scores[0] = conf, in.landmarks[0] = lm, in.priors = priors;
    KS_T_CHECK_OK(ctx, ks_decode_cpu(ctx, &p, &in, &cand));
    /* cx = 0.5 + 1*0.1*0.2 = 0.52; cy = 0.5 - 0.1*0.1 = 0.49; w = 0.2; h = 0.1*2 = 0.2 */
    KS_T_CHECK_NEAR(os[0], 0.9, 1e-7);
    KS_T_CHECK_NEAR(ob[0], (0.52 - 0.1) * 100, 1e-4);
    KS_T_CHECK_NEAR(ob[1], (0.49 - 0.1) * 200, 1e-4);
    KS_T_CHECK_NEAR(ob[2], (0.52 + 0.1) * 100, 1e-4);
    KS_T_CHECK_NEAR(ob[3], (0.49 + 0.1) * 200, 1e-4);
    KS_T_CHECK_NEAR(ol[0], (0.5 + -4.5 * 0.1 * 0.2) * 100, 1e-4);
    KS_T_CHECK_NEAR(ol[1], (0.5 + -3.5 * 0.1 * 0.1) * 200, 1e-4);
    KS_T_CHECK_NEAR(os[1], -1.0, 0); /* 0.4 <= 0.5: not a candidate */
    KS_T_CHECK_EQ_I(oc[0], 0);

    /* CORNERS */
    float corners[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0, 0, 1, 1};
    p.kind = KS_DECODE_CORNERS, p.n_landmarks = 0;
    in.boxes[0] = corners;
    KS_T_CHECK_OK(ctx, ks_decode_cpu(ctx, &p, &in, &cand));
    KS_T_CHECK_NEAR(ob[0], 10, 1e-4);
    KS_T_CHECK_NEAR(ob[3], 80, 1e-4);

    /* YUNET: one level, stride 8, 2x2 grid; row 3 = cell (1, 1) */
    float cls[4] = {0.1f, 0.2f, 0.3f, 0.9f}, obj[4] = {1, 1, 1, 0.8f};
    float bb[16] = {0};
    bb[12] = 0.5f, bb[13] = -0.5f, bb[14] = 0.0f, bb[15] = logf(2.0f);
    float kps[40] = {0};
    for (int k = 0; k < 10; k++)
        kps[30 + k] = 0.25f * k;
    ks_decode_params_init(&p);
    p.kind = KS_DECODE_YUNET, p.n_rows = 4, p.input_w = p.input_h = 16, p.score_threshold = 0.5f, p.n_landmarks = 5;
    p.n_levels = 1, p.levels[0] = (ks_decode_level){.stride = 8, .grid_w = 2, .grid_h = 2, .n_anchors = 1};
    memset(&in, 0, sizeof in);
    in.boxes[0] = bb, in.scores[0] = cls, in.objectness[0] = obj, in.landmarks[0] = kps;
    KS_T_CHECK_OK(ctx, ks_decode_cpu(ctx, &p, &in, &cand));
    KS_T_CHECK_NEAR(os[3], 0.72, 1e-6);
    KS_T_CHECK(os[0] < 0 && os[1] < 0 && os[2] < 0);
    /* cx = 0.5*8 + 8 = 12, cy = -4 + 8 = 4, w = 8, h = 16 */
    KS_T_CHECK_NEAR(ob[12], 8, 1e-4);
    KS_T_CHECK_NEAR(ob[13], -4, 1e-4);
    KS_T_CHECK_NEAR(ob[14], 16, 1e-4);
    KS_T_CHECK_NEAR(ob[15], 12, 1e-4);
    KS_T_CHECK_NEAR(ol[30 + 3], 0.75 * 8 + 8, 1e-4);
    p.score_mode = KS_SCORE_SQRT, p.score_threshold = 0.8f;
    KS_T_CHECK_OK(ctx, ks_decode_cpu(ctx, &p, &in, &cand));
    KS_T_CHECK_NEAR(os[3], sqrt(0.72), 1e-6);

    /* YOLO_GRID: stride 8, 2x1 grid, 1 anchor 10x13, 2 classes; row 1 = cell (1, 0):
       all box logits 0 -> sigmoid 0.5: cx = (1 - 0.5 + 1) * 8 = 12, cy = 0.5 * 8 = 4,
       w = 1 * 10, h = 1 * 13; obj logit 10, classes -10, 0 -> score sig(10) * 0.5, class 1 */
    {
        float g[14] = {0, 0, 0, 0, -10, 0, 0, /* row 0: obj sig(-10) under the threshold */
                       0, 0, 0, 0, 10, -10, 0};
        float gcf[14]; /* the same as [1, 1*7, 1, 2] */
        for (int k = 0; k < 7; k++)
            gcf[k * 2] = g[k], gcf[k * 2 + 1] = g[7 + k];
        for (int cf = 0; cf < 2; cf++) {
            ks_decode_params_init(&p);
            p.kind = KS_DECODE_YOLO_GRID, p.n_rows = 2, p.input_w = 16, p.input_h = 8, p.n_classes = 2;
            p.score_threshold = 0.25f, p.yolo_channels_first = cf;
            p.n_levels = 1;
            p.levels[0] = (ks_decode_level){.stride = 8, .grid_w = 2, .grid_h = 1, .n_anchors = 1,
                                            .anchors = {{10, 13}}};
            memset(&in, 0, sizeof in);
            in.boxes[0] = cf ? gcf : g;
            KS_T_CHECK_OK(ctx, ks_decode_cpu(ctx, &p, &in, &cand));
            KS_T_CHECK(os[0] < 0);
            KS_T_CHECK_NEAR(os[1], 0.5 / (1 + exp(-10.0)), 1e-6);
            KS_T_CHECK(oc[1] == 1);
            KS_T_CHECK_NEAR(ob[4], 7, 1e-4);
            KS_T_CHECK_NEAR(ob[5], -2.5, 1e-4);
            KS_T_CHECK_NEAR(ob[6], 17, 1e-4);
            KS_T_CHECK_NEAR(ob[7], 10.5, 1e-4);
        }
        p.levels[0].anchors[0][0] = 0;
        KS_T_CHECK(ks_decode_cpu(ctx, &p, &in, &cand) == KS_INVALID_ARGUMENT);
        ks_context_clear_error(ctx);
    }

    /* SCRFD: stride 16, 1x2 grid, 2 anchors -> 4 rows; row 3 = cell 1, anchor 1 */
    float ss[4] = {0.1f, 0.2f, 0.3f, 0.95f}, sb[16] = {0};
    sb[12] = 1, sb[13] = 0.5f, sb[14] = 2, sb[15] = 1;
    ks_decode_params_init(&p);
    p.kind = KS_DECODE_SCRFD, p.n_rows = 4, p.input_w = 32, p.input_h = 16, p.score_threshold = 0.5f;
    p.n_levels = 1, p.levels[0] = (ks_decode_level){.stride = 16, .grid_w = 2, .grid_h = 1, .n_anchors = 2};
    memset(&in, 0, sizeof in);
    in.boxes[0] = sb, in.scores[0] = ss;
    KS_T_CHECK_OK(ctx, ks_decode_cpu(ctx, &p, &in, &cand));
    KS_T_CHECK_NEAR(os[3], 0.95, 1e-7);
    KS_T_CHECK_NEAR(ob[12], 16 - 16, 1e-4);
    KS_T_CHECK_NEAR(ob[13], 0 - 8, 1e-4);
    KS_T_CHECK_NEAR(ob[14], 16 + 32, 1e-4);
    KS_T_CHECK_NEAR(ob[15], 0 + 16, 1e-4);

    /* YOLO, FP16 rows: 2 rows x (5 + 3 classes) */
    float rows[16] = {100, 50, 20, 10, 0.9f, 0.1f, 0.8f, 0.3f, /**/ 10, 10, 4, 4, 0.2f, 1, 1, 1};
    uint16_t hrows[16];
    for (int i = 0; i < 16; i++)
        hrows[i] = ks_float_to_half(rows[i]);
    ks_decode_params_init(&p);
    p.kind = KS_DECODE_YOLO, p.n_rows = 2, p.input_w = p.input_h = 640, p.n_classes = 3, p.score_threshold = 0.25f;
    p.dtype = KS_DTYPE_FLOAT16;
    memset(&in, 0, sizeof in);
    in.boxes[0] = hrows;
    KS_T_CHECK_OK(ctx, ks_decode_cpu(ctx, &p, &in, &cand));
    KS_T_CHECK_EQ_I(oc[0], 1);
    KS_T_CHECK_NEAR(os[0], ks_half_to_float(hrows[4]) * ks_half_to_float(hrows[6]), 1e-6);
    KS_T_CHECK_NEAR(ob[0], 90, 1e-2);
    KS_T_CHECK_NEAR(ob[3], 55, 1e-2);
    KS_T_CHECK(os[1] < 0); /* objectness 0.2 <= 0.25 */

    /* invalid params */
    p.n_classes = 0;
    KS_T_CHECK(ks_decode_cpu(ctx, &p, &in, &cand) == KS_INVALID_ARGUMENT);
    ks_decode_params_init(&p);
    p.kind = KS_DECODE_SCRFD, p.n_rows = 5, p.input_w = 32, p.input_h = 16, p.n_levels = 1;
    p.levels[0] = (ks_decode_level){.stride = 16, .grid_w = 2, .grid_h = 1, .n_anchors = 2};
    KS_T_CHECK(ks_decode_cpu(ctx, &p, &in, &cand) == KS_UNSUPPORTED_SHAPE);
}

/* Naive greedy NMS (independent of src/vision): O(n^2) selection sort by score. */
static int naive_nms(const float *boxes, const float *scores, const int32_t *cls, int n, float sthr, float ithr,
                     int top_k, int max_out, int class_aware, int32_t *keep) {
    int *order = malloc(sizeof(int) * n), m = 0;
    char *used = calloc(n, 1), *dead = calloc(n, 1);
    for (;;) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!used[i] && scores[i] > sthr && (best < 0 || scores[i] > scores[best]))
                best = i;
        if (best < 0)
            break;
        used[best] = 1;
        order[m++] = best;
    }
    if (top_k > 0 && m > top_k)
        m = top_k;
    int k = 0;
    for (int a = 0; a < m && k < max_out; a++) {
        int i = order[a];
        if (dead[i])
            continue;
        keep[k++] = i;
        for (int b = a + 1; b < m; b++) {
            int j = order[b];
            if (class_aware && cls[i] != cls[j])
                continue;
            const float *p = boxes + 4 * i, *q = boxes + 4 * j;
            float iw = fminf(p[2], q[2]) - fmaxf(p[0], q[0]), ih = fminf(p[3], q[3]) - fmaxf(p[1], q[1]);
            float inter = iw > 0 && ih > 0 ? iw * ih : 0;
            float uni = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter;
            if (uni > 0 && inter / uni > ithr)
                dead[j] = 1;
        }
    }
    free(order);
    free(used);
    free(dead);
    return k;
}

static void test_nms(ks_context *ctx) {
    /* hand-made: A (0.9) and B (0.8) overlap 0.6, C (0.7) apart, D (0.95) class 1 on A */
    float boxes[16] = {0, 0, 10, 10, 0, 2, 10, 12, 50, 50, 60, 60, 0, 0, 10, 10};
    float scores[4] = {0.9f, 0.8f, 0.7f, 0.95f};
    int32_t cls[4] = {0, 0, 0, 1};
    ks_candidates in = {boxes, scores, cls, NULL};
    int32_t counts[1], oc[4], oi[4];
    float ob[16], os[4];
    ks_nms_outputs out = {counts, ob, os, oc, NULL, oi, NULL};
    ks_nms_params p;
    ks_nms_params_init(&p);
    p.n_rows = 4, p.score_threshold = 0.5f, p.iou_threshold = 0.5f, p.max_output = 4;
    KS_T_CHECK_OK(ctx, ks_nms_cpu(ctx, &p, &in, &out));
    KS_T_CHECK_EQ_I(counts[0], 2); /* D suppresses A (IoU 1) and B (IoU 0.67) */
    KS_T_CHECK(oi[0] == 3 && oi[1] == 2);
    p.class_aware = 1;
    KS_T_CHECK_OK(ctx, ks_nms_cpu(ctx, &p, &in, &out));
    KS_T_CHECK_EQ_I(counts[0], 3);
    KS_T_CHECK(oi[0] == 3 && oi[1] == 0 && oi[2] == 2);
    p.max_output = 2;
    KS_T_CHECK_OK(ctx, ks_nms_cpu(ctx, &p, &in, &out));
    KS_T_CHECK(counts[0] == 2 && oi[1] == 0 && os[1] == 0.9f);
    p.max_output = 4, p.top_k = 2;
    KS_T_CHECK_OK(ctx, ks_nms_cpu(ctx, &p, &in, &out));
    KS_T_CHECK_EQ_I(counts[0], 2);
    p.top_k = 0, p.score_threshold = 0.9f; /* strictly greater */
    KS_T_CHECK_OK(ctx, ks_nms_cpu(ctx, &p, &in, &out));
    KS_T_CHECK(counts[0] == 1 && oi[0] == 3);
    /* transform: x' = 2x + 1 with a flip in y */
    ks_affine t = {{2, 0, 1, 0, -1, 100}};
    out.transforms = &t;
    KS_T_CHECK_OK(ctx, ks_nms_cpu(ctx, &p, &in, &out));
    KS_T_CHECK(ob[0] == 1 && ob[1] == 90 && ob[2] == 21 && ob[3] == 100);
    out.transforms = NULL;

    /* random sweeps vs the naive implementation */
    int N = 700, B = 3;
    float *rb = malloc(sizeof(float) * 4 * N * B), *rs = malloc(sizeof(float) * N * B);
    int32_t *rc = malloc(sizeof(int32_t) * N * B);
    int32_t *keep = malloc(sizeof(int32_t) * N), cnt[3], *idx = malloc(sizeof(int32_t) * 3 * 300);
    float *obb = malloc(sizeof(float) * 3 * 300 * 4), *oss = malloc(sizeof(float) * 3 * 300);
    int32_t *occ = malloc(sizeof(int32_t) * 3 * 300);
    int mismatches = 0, total_kept = 0;
    for (int trial = 0; trial < 12; trial++) {
        for (int i = 0; i < N * B; i++) {
            float x = frand(0, 300), y = frand(0, 300), w = frand(5, 60), h = frand(5, 60);
            rb[4 * i] = x, rb[4 * i + 1] = y, rb[4 * i + 2] = x + w, rb[4 * i + 3] = y + h;
            rs[i] = (trial & 1) ? (float)(rnd() % 20) / 20.0f : frand(0, 1); /* odd trials: many ties */
            rc[i] = (int32_t)(rnd() % 3);
        }
        ks_nms_params_init(&p);
        p.batch = B, p.n_rows = N, p.score_threshold = 0.3f, p.iou_threshold = 0.1f + 0.07f * (trial % 8);
        p.top_k = (trial % 3 == 0) ? 100 : 0, p.max_output = 300, p.class_aware = trial % 2;
        ks_candidates ci = {rb, rs, rc, NULL};
        ks_nms_outputs oo = {cnt, obb, oss, occ, NULL, idx, NULL};
        KS_T_CHECK_OK(ctx, ks_nms_cpu(ctx, &p, &ci, &oo));
        for (int b = 0; b < B; b++) {
            int k = naive_nms(rb + 4 * N * b, rs + N * b, rc + N * b, N, p.score_threshold, p.iou_threshold, p.top_k,
                              300, p.class_aware, keep);
            total_kept += k;
            if (k != cnt[b]) {
                mismatches++;
                continue;
            }
            for (int i = 0; i < k; i++)
                mismatches += keep[i] != idx[b * 300 + i];
        }
    }
    KS_T_CHECK_MSG(mismatches == 0, "%d NMS mismatches vs the naive implementation", mismatches);
    fprintf(stderr, "  NMS random sweeps: %d kept boxes identical to the naive greedy\n", total_kept);
    free(rb), free(rs), free(rc), free(keep), free(idx), free(obb), free(oss), free(occ);
}

int main(void) {
    ks_context *ctx = NULL;
    KS_T_CHECK(ks_context_create(NULL, &ctx) == KS_OK);
    test_preprocess(ctx);
    test_priors();
    test_decoders(ctx);
    test_nms(ctx);
    ks_context_destroy(ctx);
    return ks_t_done();
}
