/* YOLOv5 raw heads (KS_DECODE_YOLO_GRID) end to end, against the in-graph-decode export.
 *
 * tests/vision/make_yolov5_raw_heads.py cuts yolov5n_fp16_dynamic.onnx at its three
 * detect-head convolutions (before the in-graph Reshape/Transpose/Sigmoid/grid decode) and
 * writes, to the build directory at test time, the raw-head model in two layouts:
 * [B,255,H,W] (the Conv outputs, channels_first) and [B,3,H,W,85] (after the head's
 * Transpose, channels_last). Same weights, so on every shared COCO image:
 *
 *  1. detector, separate stages (ks_decode_cpu yolo_grid + ks_nms_cpu) on the raw model
 *     vs the detector on the in-graph model, by the rule of test_detect_reference.c:
 *     every box scoring >= threshold + 0.05 on either side has a partner on the other side
 *     at IoU >= 0.9 with the same class; boxes nearer the threshold without a partner are
 *     counted and reported, not failed (the in-graph decode runs in FP16, ours in FP32 from
 *     FP16 logits, so scores move by ~1e-3 and boxes by under a pixel);
 *  2. detector with the post-processing appended (DetectionDecode yolo_grid + BatchedNMS
 *     plugin nodes run by the CPU session) on the raw model = (1), exactly;
 *  3. ks_vision_append_postprocess + ks_session on the raw model vs the same on the in-graph
 *     model, same preprocessed input, by the rule of (1) in network-input pixels.
 *
 * The model directory comes from $KS_YOLO_RAW_DIR (tests.cmake sets it and runs the script
 * first, as a fixture) or argv[1]; exit 77 (skipped) when the models are absent (no onnx
 * package, no shared models). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kestrel/vision.h"

#define SCORE 0.25f
#define NMS 0.45f
#define MARGIN 0.05f
#define MIN_IOU 0.9f

static const char *const IMAGES[] = {"bus.jpg", "zidane.jpg", "dog.jpg", "horses.jpg", "person.jpg",
                                     "tensorrtpro_street.jpg"};
static const char *const RAW[2] = {"yolov5n_raw_nchw.onnx", "yolov5n_raw_bahwc.onnx"};

typedef struct det {
    float box[4], score;
    int cls;
} det;

typedef struct cmp_stats {
    int a_boxes, b_boxes, strong, strong_matched, strong_missing, near_diff;
    float worst_iou;
} cmp_stats;

/* One direction of the rule: boxes of x without a same-class partner in y at IoU >= 0.9. */
static void match_side(const char *what, const char *xname, const det *x, int nx, const det *y, int ny,
                       cmp_stats *s) {
    for (int i = 0; i < nx; i++) {
        float best = 0;
        for (int j = 0; j < ny; j++)
            if (y[j].cls == x[i].cls) {
                float v = ks_t_box_iou(x[i].box, y[j].box);
                best = v > best ? v : best;
            }
        int ok = best >= MIN_IOU;
        if (x[i].score >= SCORE + MARGIN) {
            s->strong++;
            if (ok) {
                s->strong_matched++;
                s->worst_iou = best < s->worst_iou ? best : s->worst_iou;
            } else {
                s->strong_missing++;
                fprintf(stderr, "  %s: %s box [%.1f %.1f %.1f %.1f] %.4f class %d has no partner (best IoU %.3f)\n",
                        what, xname, x[i].box[0], x[i].box[1], x[i].box[2], x[i].box[3], x[i].score, x[i].cls, best);
            }
        } else if (!ok) {
            s->near_diff++;
            fprintf(stderr, "  %s: near-threshold %s box %.4f class %d without partner (best IoU %.3f)\n", what, xname,
                    x[i].score, x[i].cls, best);
        }
    }
}

static void compare(const char *what, const det *a, int na, const det *b, int nb, cmp_stats *s) {
    s->a_boxes += na, s->b_boxes += nb;
    match_side(what, "in-graph", a, na, b, nb, s);
    match_side(what, "raw-head", b, nb, a, na, s);
}

static int from_list(const ks_detection_list *l, det *out, int cap) {
    int n = l->n < cap ? l->n : cap;
    for (int i = 0; i < n; i++) {
        memcpy(out[i].box, l->items[i].box, sizeof out[i].box);
        out[i].score = l->items[i].score;
        out[i].cls = l->items[i].class_id;
    }
    return n;
}

static void make_opts(int postprocess, ks_detector_options *o) {
    ks_detector_options_init(o);
    o->score_threshold = SCORE;
    o->nms_threshold = NMS;
    o->letterbox = 1;
    o->center = 1;
    o->top_k = 0;
    o->max_detections = 300;
    o->postprocess = postprocess;
}

/* A model with decode + NMS appended, as a CPU session; NULL on failure (checked). */
static ks_session *appended_session(ks_context *ctx, const char *path, ks_model **mout) {
    ks_model *m = NULL;
    *mout = NULL;
    KS_T_CHECK_OK(ctx, ks_model_load_file(ctx, path, NULL, &m));
    if (!m)
        return NULL;
    ks_detector_options o;
    make_opts(1, &o);
    ks_status st = ks_vision_append_postprocess(m, KS_FAMILY_AUTO, &o);
    KS_T_CHECK_MSG(st == KS_OK, "%s: append: %s", path, ks_context_last_error(ctx));
    ks_session *s = NULL;
    if (st == KS_OK)
        KS_T_CHECK_OK(ctx, ks_session_create(m, NULL, &s));
    if (!s) {
        ks_model_destroy(m);
        return NULL;
    }
    *mout = m;
    return s;
}

/* Runs an appended session on one preprocessed input; fills dets (network-input pixels). */
static int run_session(ks_context *ctx, ks_model *m, ks_session *s, const ks_tensor *in, det *out, int cap) {
    const char *in_name = ks_model_input_name(m, 0);
    ks_tensor o[4];
    memset(o, 0, sizeof o);
    int n = -1;
    KS_T_CHECK_EQ_I(ks_model_num_outputs(m), 4);
    ks_status st = ks_session_run(s, 1, &in_name, in, 0, NULL, o);
    KS_T_CHECK_MSG(st == KS_OK, "session run: %s", ks_context_last_error(ctx));
    if (st == KS_OK && o[0].data && o[1].data && o[2].data && o[3].data) {
        n = ((const int32_t *)o[0].data)[0];
        int64_t M = o[2].dims[1];
        KS_T_CHECK(n >= 0 && n <= M);
        n = n < 0 ? 0 : n > M ? (int)M : n;
        n = n < cap ? n : cap;
        for (int i = 0; i < n; i++) {
            memcpy(out[i].box, (const float *)o[1].data + 4 * i, sizeof out[i].box);
            out[i].score = ((const float *)o[2].data)[i];
            out[i].cls = ((const int32_t *)o[3].data)[i];
        }
    }
    for (int i = 0; i < 4; i++)
        ks_tensor_release(ctx, &o[i]);
    return n;
}

static void report(const char *what, int imgs, const cmp_stats *s) {
    fprintf(stderr,
            "%-58s %d images, %4d in-graph / %4d raw-head boxes; strong (score >= %.2f): %d of %d matched at "
            "IoU >= %.2f (worst %.3f), %d unmatched; near-threshold differences: %d\n",
            what, imgs, s->a_boxes, s->b_boxes, SCORE + MARGIN, s->strong_matched, s->strong, MIN_IOU, s->worst_iou,
            s->strong_missing, s->near_diff);
    KS_T_CHECK_MSG(s->strong_missing == 0, "%s: %d strong boxes without a partner", what, s->strong_missing);
    KS_T_CHECK_MSG(s->strong > 0, "%s: no strong boxes at all", what);
}

int main(int argc, char **argv) {
    const char *raw_dir = argc > 1 ? argv[1] : getenv("KS_YOLO_RAW_DIR");
    if (!raw_dir || !*raw_dir)
        KS_T_SKIP("no raw-head model directory (tests.cmake runs make_yolov5_raw_heads.py and sets KS_YOLO_RAW_DIR)");
    char ref_path[4096], raw_path[2][4096];
    snprintf(ref_path, sizeof ref_path, "%s/yolov5/yolov5n_fp16_dynamic.onnx", ks_t_models_dir());
    FILE *f = fopen(ref_path, "rb");
    if (!f)
        KS_T_SKIP("%s not found", ref_path);
    fclose(f);
    for (int r = 0; r < 2; r++) {
        snprintf(raw_path[r], sizeof raw_path[r], "%s/%s", raw_dir, RAW[r]);
        if (!(f = fopen(raw_path[r], "rb")))
            KS_T_SKIP("%s not found (make_yolov5_raw_heads.py skipped or failed: is the onnx package installed?)",
                      raw_path[r]);
        fclose(f);
    }
    ks_context *ctx = NULL;
    KS_T_CHECK(ks_context_create(NULL, &ctx) == KS_OK);
    if (!ctx)
        return ks_t_done();

    ks_detector *ref = NULL, *sep[2] = {NULL, NULL}, *app[2] = {NULL, NULL};
    ks_detector_options o;
    make_opts(0, &o);
    KS_T_CHECK_OK(ctx, ks_detector_create(ctx, ref_path, KS_FAMILY_AUTO, &o, &ref));
    for (int r = 0; r < 2; r++) {
        make_opts(0, &o);
        ks_status st = ks_detector_create(ctx, raw_path[r], KS_FAMILY_AUTO, &o, &sep[r]);
        KS_T_CHECK_MSG(st == KS_OK, "%s: %s", raw_path[r], ks_context_last_error(ctx));
        make_opts(1, &o);
        st = ks_detector_create(ctx, raw_path[r], KS_FAMILY_AUTO, &o, &app[r]);
        KS_T_CHECK_MSG(st == KS_OK, "%s (appended): %s", raw_path[r], ks_context_last_error(ctx));
        if (sep[r] && app[r]) {
            KS_T_CHECK_MSG(ks_detector_get_family(sep[r]) == KS_FAMILY_YOLOV5 &&
                               ks_detector_get_family(app[r]) == KS_FAMILY_YOLOV5,
                           "%s: family %s", RAW[r], ks_detector_family_name(ks_detector_get_family(sep[r])));
            ks_detector_get_options(app[r], &o);
            KS_T_CHECK_MSG(o.postprocess == 1, "%s: post-processing not appended", RAW[r]);
            ks_detector_get_options(sep[r], &o);
            KS_T_CHECK(o.postprocess == 0);
        }
    }
    ks_model *m_ref = NULL, *m_raw[2] = {NULL, NULL};
    ks_session *s_ref = appended_session(ctx, ref_path, &m_ref);
    ks_session *s_raw[2] = {appended_session(ctx, raw_path[0], &m_raw[0]),
                            appended_session(ctx, raw_path[1], &m_raw[1])};

    /* the session input: the Ultralytics letterbox the detector uses (centred, rounded, pad
       114, RGB / 255), in the model's input dtype (FP16) */
    ks_dtype in_dt = KS_DTYPE_FLOAT32;
    int in_nd = 0;
    int64_t in_dims[KS_MAX_DIMS] = {0};
    if (m_ref)
        KS_T_CHECK_OK(ctx, ks_model_input_info(m_ref, 0, &in_dt, &in_nd, in_dims, NULL));
    KS_T_CHECK(in_nd == 4 && in_dims[2] == 640 && in_dims[3] == 640);
    ks_preprocess_config pc;
    ks_preprocess_config_init(&pc);
    pc.width = 640, pc.height = 640;
    pc.channel_order = KS_PIXEL_RGB;
    pc.dtype = in_dt;
    pc.resize = KS_RESIZE_LETTERBOX, pc.placement = KS_PLACE_CENTER, pc.round_content = 1;
    for (int c = 0; c < 3; c++)
        pc.mean[c] = 0.f, pc.std[c] = 1.f, pc.pad_value[c] = 114.f;
    pc.scale = 1.0f / 255.0f;
    size_t in_bytes = (size_t)3 * 640 * 640 * ks_dtype_size(in_dt);
    void *x = malloc(in_bytes);
    KS_T_CHECK(x != NULL);

    enum { CAP = 512 };
    static det da[CAP], db[CAP];
    cmp_stats cs_sep[2], cs_ses[2];
    for (int r = 0; r < 2; r++) {
        memset(&cs_sep[r], 0, sizeof cs_sep[r]), memset(&cs_ses[r], 0, sizeof cs_ses[r]);
        cs_sep[r].worst_iou = cs_ses[r].worst_iou = 1;
    }
    int imgs = 0, app_diff[2] = {0, 0};
    /* the sanitizer build (make test-san, Debug + ASan) runs two images unless
       KESTREL_VISION_FULL=1; the release build all six */
    size_t n_images = sizeof IMAGES / sizeof IMAGES[0];
#if defined(__SANITIZE_ADDRESS__)
    const char *full = getenv("KESTREL_VISION_FULL");
    if (!(full && atoi(full) > 0))
        n_images = 2;
#endif
    for (size_t ii = 0; ref && x && ii < n_images; ii++) {
        char ip[4096];
        snprintf(ip, sizeof ip, "%s/coco_samples/%s", ks_t_images_dir(), IMAGES[ii]);
        ks_image img;
        if (ks_image_load_file(ctx, ip, KS_PIXEL_BGR, &img) != KS_OK) {
            fprintf(stderr, "  %s: %s (skipped)\n", ip, ks_context_last_error(ctx));
            continue;
        }
        imgs++;
        ks_detection_list lr = {0, NULL};
        KS_T_CHECK_OK(ctx, ks_detector_detect(ref, 1, &img, &lr));
        int na = from_list(&lr, da, CAP);
        for (int r = 0; r < 2; r++) {
            char what[512];
            snprintf(what, sizeof what, "%s on %s", RAW[r], IMAGES[ii]);
            ks_detection_list ls = {0, NULL}, lp = {0, NULL};
            if (sep[r]) {
                KS_T_CHECK_OK(ctx, ks_detector_detect(sep[r], 1, &img, &ls));
                int nb = from_list(&ls, db, CAP);
                compare(what, da, na, db, nb, &cs_sep[r]);
            }
            if (sep[r] && app[r]) {
                /* copy: the next detect on the same detector reuses the list's storage */
                det tmp[CAP];
                int ns = from_list(&ls, tmp, CAP);
                KS_T_CHECK_OK(ctx, ks_detector_detect(app[r], 1, &img, &lp));
                int same = lp.n == ns;
                for (int i = 0; same && i < ns; i++)
                    same = !memcmp(tmp[i].box, lp.items[i].box, sizeof tmp[i].box) && tmp[i].score == lp.items[i].score &&
                           tmp[i].cls == lp.items[i].class_id;
                if (!same) {
                    app_diff[r]++;
                    fprintf(stderr, "  %s: appended decode+NMS gives %d detections, separate stages %d (not identical)\n",
                            what, lp.n, ns);
                }
            }
        }
        /* session path, network-input pixels */
        if (s_ref) {
            KS_T_CHECK_OK(ctx, ks_preprocess_cpu(ctx, &pc, 1, &img, x, NULL));
            ks_tensor in = {in_dt, 4, {1, 3, 640, 640}, x};
            na = run_session(ctx, m_ref, s_ref, &in, da, CAP);
            for (int r = 0; r < 2; r++) {
                if (!s_raw[r])
                    continue;
                char what[512];
                snprintf(what, sizeof what, "%s on %s (appended, session)", RAW[r], IMAGES[ii]);
                int nb = run_session(ctx, m_raw[r], s_raw[r], &in, db, CAP);
                compare(what, da, na < 0 ? 0 : na, db, nb < 0 ? 0 : nb, &cs_ses[r]);
            }
        }
        ks_image_release(ctx, &img);
    }
    KS_T_CHECK_MSG(imgs > 0, "no COCO sample images under %s/coco_samples", ks_t_images_dir());
    for (int r = 0; r < 2; r++) {
        char what[256];
        snprintf(what, sizeof what, "%s detector vs in-graph", RAW[r]);
        report(what, imgs, &cs_sep[r]);
        snprintf(what, sizeof what, "%s appended session vs in-graph", RAW[r]);
        report(what, imgs, &cs_ses[r]);
        fprintf(stderr, "%-58s %d images: appended decode+NMS = separate stages exactly on %d\n", RAW[r], imgs,
                imgs - app_diff[r]);
        KS_T_CHECK_MSG(app_diff[r] == 0, "%s: appended post-processing differs from the separate stages on %d images",
                       RAW[r], app_diff[r]);
    }
    free(x);
    for (int r = 0; r < 2; r++) {
        ks_session_destroy(s_raw[r]);
        ks_model_destroy(m_raw[r]);
        ks_detector_destroy(sep[r]);
        ks_detector_destroy(app[r]);
    }
    ks_session_destroy(s_ref);
    ks_model_destroy(m_ref);
    ks_detector_destroy(ref);
    ks_context_destroy(ctx);
    return ks_t_done();
}
