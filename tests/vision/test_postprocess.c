/* Post-processing appended to the model (ks_vision_append_postprocess: DetectionDecode +
 * BatchedNMS plugin nodes) run by the CPU executor, against the CPU detector's separate
 * decode + NMS stages, for every family of reference_outputs_ort.json on the shared images.
 *
 * The rule is exact equality (count, boxes, scores, classes, landmarks, bit for bit):
 * both paths run the same network kernels on the same preprocessed input, then
 * ks_decode_cpu with the same params (the plugin builds them from its attributes) and
 * ks_nms_cpu with the same params; the NMS selects on network-pixel boxes in both, and the
 * inverse transform is applied after selection by the same inline functions
 * (ks_v_map_box / ks_v_map_point) — inside the NMS on one side, on the host after the
 * session on the other. The level-major concatenation feeding the YuNet/SCRFD decode only
 * moves rows; the decoder reads each level at the same offsets.
 *
 * Also: the appended model's outputs (names, dtypes, shapes), a batch-2 appended model
 * (UltraFace RFB-320 rewritten by ks__graph_set_batch) = two batch-1 runs, and a dynamic
 * model (YuNet) appended at 640x640.
 *
 * CI: 3 images per model (crowd, group, small photo; two COCO images for YOLOv5);
 * KESTREL_VISION_FULL=1: every image of the reference file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "vision_ref.h"
#include "kestrel/vision.h"
#include "core/model_internal.h"
#include "graph/pass_batch.h"
#include "vision/detector_internal.h"

typedef struct pcase {
    const char *key, *file;
    ks_detector_family family;
    float score, nms;
    int letterbox, center;
} pcase;

static const pcase cases[] = {
    {"ultraface/version-RFB-320", "ultraface/version-RFB-320.onnx", KS_FAMILY_ULTRAFACE, 0.7f, 0.3f, 0, 0},
    {"ultraface/version-slim-320", "ultraface/version-slim-320.onnx", KS_FAMILY_ULTRAFACE, 0.7f, 0.3f, 0, 0},
    {"ultraface/version-RFB-640", "ultraface/version-RFB-640.onnx", KS_FAMILY_ULTRAFACE, 0.7f, 0.3f, 0, 0},
    {"ultraface/version-RFB-320", "ultraface/version-RFB-320_without_postprocessing.onnx", KS_FAMILY_ULTRAFACE,
     0.7f, 0.3f, 0, 0},
    {"yunet/yunet_n_640_640", "yunet/yunet_n_640_640.onnx", KS_FAMILY_YUNET, 0.6f, 0.3f, 1, 0},
    {"yunet/yunet_s_640_640", "yunet/yunet_s_640_640.onnx", KS_FAMILY_YUNET, 0.6f, 0.3f, 1, 0},
    {"yunet/yunet_n_320_320", "yunet/yunet_n_320_320.onnx", KS_FAMILY_YUNET, 0.6f, 0.3f, 1, 0},
    {"yunet/yunet_n_640_640", "yunet/yunet_n_dynamic.onnx", KS_FAMILY_YUNET, 0.6f, 0.3f, 1, 0},
    {"retinaface/retinaface_mnet025_640_opset14", "retinaface/retinaface_mnet025_640_opset14.onnx",
     KS_FAMILY_RETINAFACE, 0.5f, 0.4f, 1, 0},
    {"retinaface/retinaface_mnet025_640_opset17", "retinaface/retinaface_mnet025_640_opset17.onnx",
     KS_FAMILY_RETINAFACE, 0.5f, 0.4f, 1, 0},
    {"scrfd/scrfd_500m_bnkps_640", "scrfd/scrfd_500m_bnkps_640.onnx", KS_FAMILY_SCRFD, 0.5f, 0.4f, 1, 0},
    {"scrfd/scrfd_500m_bnkps_dynamic", "scrfd/scrfd_500m_bnkps_dynamic.onnx", KS_FAMILY_SCRFD, 0.5f, 0.4f, 1, 0},
    {"scrfd/scrfd_2.5g_bnkps_dynamic", "scrfd/scrfd_2.5g_bnkps_dynamic.onnx", KS_FAMILY_SCRFD, 0.5f, 0.4f, 1, 0},
    {"yolov5/yolov5n_fp16_dynamic", "yolov5/yolov5n_fp16_dynamic.onnx", KS_FAMILY_YOLOV5, 0.25f, 0.45f, 1, 1},
};

static void make_opts(const pcase *c, int postprocess, ks_detector_options *o) {
    ks_detector_options_init(o);
    o->score_threshold = c->score;
    o->nms_threshold = c->nms;
    o->letterbox = c->letterbox;
    o->center = c->center;
    o->top_k = 0;
    o->max_detections = 300;
    o->postprocess = postprocess;
    o->keep_graph_decode = 1; /* the exact rule below; the cut-back UltraFace decode: check_strip */
}

/* UltraFace graphs that decode in the graph, appended with keep_graph_decode = 0: the decode
 * chain is gone (no Exp left) and the appended DetectionDecode's prior decode gives the
 * separate stages' detections: same count, classes and scores bit for bit (the Softmax is
 * untouched), boxes within 0.01 px (the same formula, evaluated in another order).
 * open_strip: the detector (one per model), NULL after a failed check. */
static ks_detector *open_strip(ks_context *ctx, const pcase *c, const char *path) {
    ks_detector_options o;
    make_opts(c, 1, &o);
    o.keep_graph_decode = 0;
    ks_detector *d = NULL;
    ks_status st = ks_detector_create(ctx, path, KS_FAMILY_AUTO, &o, &d);
    KS_T_CHECK_MSG(st == KS_OK, "%s (graph decode cut): %s", path, ks_context_last_error(ctx));
    if (!d)
        return NULL;
    int exp_left = 0;
    for (int i = 0; i < d->model->graph->n_nodes; i++)
        exp_left |= d->model->graph->nodes[i].op == KS_OP_EXP;
    KS_T_CHECK_MSG(!exp_left && d->postprocess, "%s: the in-graph decode was not cut back", path);
    return d;
}

static void check_strip(ks_context *ctx, ks_detector *d, const char *path, const char *img_rel, ks_image *img,
                        const ks_detection_list *a) {
    ks_detection_list b = {0, NULL};
    KS_T_CHECK_OK(ctx, ks_detector_detect(d, 1, img, &b));
    int bad = a->n != b.n;
    for (int i = 0; i < a->n && i < b.n; i++) {
        const ks_detection *x = &a->items[i], *y = &b.items[i];
        int same = x->score == y->score && x->class_id == y->class_id;
        for (int k = 0; k < 4; k++)
            same &= fabsf(x->box[k] - y->box[k]) <= 0.01f;
        if (!same && bad++ < 3)
            fprintf(stderr, "  %s on %s (decode cut) #%d: [%.4f %.4f %.4f %.4f] %.6f vs [%.4f %.4f %.4f %.4f] %.6f\n",
                    path, img_rel, i, x->box[0], x->box[1], x->box[2], x->box[3], x->score, y->box[0], y->box[1],
                    y->box[2], y->box[3], y->score);
    }
    KS_T_CHECK_MSG(bad == 0, "%s on %s: %d detections differ with the graph's decode cut back (%d vs %d)", path,
                   img_rel, bad, a->n, b.n);
}

/* Exact comparison; returns the number of differing detections. */
static int compare_lists(const char *what, const ks_detection_list *a, const ks_detection_list *b) {
    if (a->n != b->n) {
        fprintf(stderr, "  %s: %d detections (separate stages) vs %d (appended)\n", what, a->n, b->n);
        return abs(a->n - b->n) + 1;
    }
    int bad = 0;
    for (int i = 0; i < a->n; i++) {
        const ks_detection *x = &a->items[i], *y = &b->items[i];
        int same = !memcmp(x->box, y->box, sizeof x->box) && x->score == y->score && x->class_id == y->class_id &&
                   x->n_landmarks == y->n_landmarks &&
                   !memcmp(x->landmarks, y->landmarks, sizeof(float) * 2 * (size_t)x->n_landmarks);
        if (!same && bad++ < 3)
            fprintf(stderr, "  %s #%d: [%.3f %.3f %.3f %.3f] %.5f c%d lm%d vs [%.3f %.3f %.3f %.3f] %.5f c%d lm%d\n",
                    what, i, x->box[0], x->box[1], x->box[2], x->box[3], x->score, x->class_id, x->n_landmarks,
                    y->box[0], y->box[1], y->box[2], y->box[3], y->score, y->class_id, y->n_landmarks);
    }
    return bad;
}

/* Output names / dtypes / shapes of an appended model. */
static void check_outputs(ks_context *ctx, const char *path, ks_detector_family fam, int landmarks) {
    ks_model *m = NULL;
    KS_T_CHECK_OK(ctx, ks_model_load_file(ctx, path, NULL, &m));
    if (!m)
        return;
    ks_detector_options o;
    ks_detector_options_init(&o);
    o.max_detections = 77;
    KS_T_CHECK_OK(ctx, ks_vision_append_postprocess(m, fam, &o));
    KS_T_CHECK_EQ_I(ks_model_num_outputs(m), 4 + landmarks);
    static const char *const names[5] = {"num_detections", "detection_boxes", "detection_scores", "detection_classes",
                                         "detection_landmarks"};
    static const int nd[5] = {2, 3, 2, 2, 3};
    static const int64_t last[5] = {1, 4, 77, 77, 10};
    static const ks_dtype dt[5] = {KS_DTYPE_INT32, KS_DTYPE_FLOAT32, KS_DTYPE_FLOAT32, KS_DTYPE_INT32,
                                   KS_DTYPE_FLOAT32};
    for (int i = 0; i < ks_model_num_outputs(m) && i < 5; i++) {
        ks_dtype d;
        int n;
        int64_t dims[KS_MAX_DIMS];
        KS_T_CHECK_OK(ctx, ks_model_output_info(m, i, &d, &n, dims, NULL));
        KS_T_CHECK_MSG(!strcmp(ks_model_output_name(m, i), names[i]) && d == dt[i] && n == nd[i] &&
                           dims[0] == 1 && dims[n - 1] == last[i],
                       "%s: output %d %s (%s, rank %d)", path, i, ks_model_output_name(m, i), ks_dtype_name(d), n);
    }
    /* appending twice is refused */
    ks_status st = ks_vision_append_postprocess(m, fam, &o);
    KS_T_CHECK_MSG(st == KS_INVALID_ARGUMENT && strstr(ks_context_last_error(ctx), "already"), "%s: %s", path,
                   ks_context_last_error(ctx));
    ks_model_destroy(m);
}

/* A batch-2 appended model gives, per image, what the batch-1 one gives. yolo = 0: UltraFace
 * (exported for batch 1, rewritten by ks__graph_set_batch); 1: YOLOv5 (dynamic batch, FP16
 * input, fixed to 2 with ks_model_set_input_shape before the append, as the GPU detector and
 * `kestrel build --postprocess --batch` do). */
static void check_batch2(ks_context *ctx, const char *path, int yolo) {
    ks_model *m1 = NULL, *m2 = NULL;
    KS_T_CHECK_OK(ctx, ks_model_load_file(ctx, path, NULL, &m1));
    KS_T_CHECK_OK(ctx, ks_model_load_file(ctx, path, NULL, &m2));
    if (!m1 || !m2) {
        ks_model_destroy(m1), ks_model_destroy(m2);
        return;
    }
    if (yolo) {
        int64_t d1[4] = {1, 3, 640, 640}, d2[4] = {2, 3, 640, 640};
        KS_T_CHECK_OK(ctx, ks_model_set_input_shape(m1, ks_model_input_name(m1, 0), 4, d1));
        KS_T_CHECK_OK(ctx, ks_model_set_input_shape(m2, ks_model_input_name(m2, 0), 4, d2));
    } else {
        KS_T_CHECK_OK(ctx, ks__graph_set_batch(m2->graph, 2));
    }
    ks_detector_options o;
    ks_detector_options_init(&o);
    o.score_threshold = yolo ? 0.1f : 0.3f;
    KS_T_CHECK_OK(ctx, ks_vision_append_postprocess(m1, KS_FAMILY_AUTO, &o));
    KS_T_CHECK_OK(ctx, ks_vision_append_postprocess(m2, KS_FAMILY_AUTO, &o));
    ks_session *s1 = NULL, *s2 = NULL;
    KS_T_CHECK_OK(ctx, ks_session_create(m1, NULL, &s1));
    KS_T_CHECK_OK(ctx, ks_session_create(m2, NULL, &s2));
    ks_dtype d;
    int n;
    int64_t dims[KS_MAX_DIMS];
    KS_T_CHECK_OK(ctx, ks_model_input_info(m1, 0, &d, &n, dims, NULL));
    int64_t per = dims[1] * dims[2] * dims[3];
    size_t es = d == KS_DTYPE_FLOAT16 ? 2 : 4;
    char *x = malloc(es * (size_t)per * 2);
    /* two real photos, preprocessed as UltraFace wants (stretch, RGB, (x-127)/128) */
    ks_preprocess_config pc;
    ks_preprocess_config_init(&pc);
    pc.width = (int32_t)dims[3], pc.height = (int32_t)dims[2];
    pc.channel_order = KS_PIXEL_RGB;
    pc.dtype = d;
    for (int c = 0; c < 3; c++)
        pc.mean[c] = 127.f, pc.std[c] = 128.f;
    if (yolo) { /* Ultralytics letterbox, /255 */
        pc.resize = KS_RESIZE_LETTERBOX, pc.placement = KS_PLACE_CENTER, pc.round_content = 1;
        for (int c = 0; c < 3; c++)
            pc.mean[c] = 0.f, pc.std[c] = 1.f, pc.pad_value[c] = 114.f;
        pc.scale = 1.0f / 255.0f;
    }
    static const char *const imgs[2] = {"ultraface/17.jpg", "faces_misc/tensorrtpro_group.jpg"};
    for (int b = 0; b < 2; b++) {
        char ip[4096];
        snprintf(ip, sizeof ip, "%s/%s", ks_t_images_dir(), imgs[b]);
        ks_image img;
        memset(x + b * per * es, 0, es * (size_t)per);
        if (ks_image_load_file(ctx, ip, KS_PIXEL_BGR, &img) == KS_OK) {
            KS_T_CHECK_OK(ctx, ks_preprocess_cpu(ctx, &pc, 1, &img, x + b * per * es, NULL));
            ks_image_release(ctx, &img);
        }
    }
    const char *in_name = ks_model_input_name(m1, 0);
    ks_tensor outs2[5], outs1[5];
    memset(outs2, 0, sizeof outs2);
    ks_tensor in2 = {d, 4, {2, dims[1], dims[2], dims[3]}, x};
    KS_T_CHECK_OK(ctx, ks_session_run(s2, 1, &in_name, &in2, 0, NULL, outs2));
    int no = ks_model_num_outputs(m1);
    for (int b = 0; b < 2; b++) {
        memset(outs1, 0, sizeof outs1);
        ks_tensor in1 = {d, 4, {1, dims[1], dims[2], dims[3]}, x + b * per * es};
        KS_T_CHECK_OK(ctx, ks_session_run(s1, 1, &in_name, &in1, 0, NULL, outs1));
        for (int i = 0; i < no; i++) {
            size_t nb = ks_tensor_nbytes(&outs1[i]);
            KS_T_CHECK_MSG(outs2[i].data && outs1[i].data && ks_tensor_nbytes(&outs2[i]) == 2 * nb &&
                               !memcmp((char *)outs2[i].data + b * nb, outs1[i].data, nb),
                           "%s: batch-2 output %d image %d differs from the batch-1 run", path, i, b);
            ks_tensor_release(ctx, &outs1[i]);
        }
    }
    int n0 = outs2[0].data ? ((int32_t *)outs2[0].data)[0] : -1, n1 = outs2[0].data ? ((int32_t *)outs2[0].data)[1] : -1;
    KS_T_CHECK_MSG(n0 > 0 && n1 > 0, "%s: batch 2: %d and %d detections", path, n0, n1);
    fprintf(stderr, "%s: batch-2 appended model = 2 batch-1 runs (%d and %d detections)\n", path, n0, n1);
    for (int i = 0; i < no; i++)
        ks_tensor_release(ctx, &outs2[i]);
    free(x);
    ks_session_destroy(s1), ks_session_destroy(s2);
    ks_model_destroy(m1), ks_model_destroy(m2);
}

int main(void) {
    vt_ref vr;
    vt_ref_open(&vr);
    ks_context *ctx = NULL;
    KS_T_CHECK(ks_context_create(NULL, &ctx) == KS_OK);

    /* outputs of appended models, one per family */
    char mp[4096];
    static const struct { const char *file; ks_detector_family f; int lm; } shapes[] = {
        {"ultraface/version-RFB-320.onnx", KS_FAMILY_ULTRAFACE, 0},
        {"ultraface/version-RFB-320_without_postprocessing.onnx", KS_FAMILY_AUTO, 0},
        {"yunet/yunet_n_dynamic.onnx", KS_FAMILY_YUNET, 1},
        {"retinaface/retinaface_mnet025_640_opset14.onnx", KS_FAMILY_AUTO, 1},
        {"scrfd/scrfd_500m_bnkps_640.onnx", KS_FAMILY_SCRFD, 1},
        {"yolov5/yolov5n_fp16_dynamic.onnx", KS_FAMILY_AUTO, 0}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        if (!vt_selected(&vr, shapes[i].file))
            continue;
        snprintf(mp, sizeof mp, "%s/%s", ks_t_models_dir(), shapes[i].file);
        check_outputs(ctx, mp, shapes[i].f, shapes[i].lm);
    }
    if (vt_selected(&vr, "ultraface/version-RFB-320.onnx")) {
        snprintf(mp, sizeof mp, "%s/ultraface/version-RFB-320.onnx", ks_t_models_dir());
        check_batch2(ctx, mp, 0);
    }
    if (vt_selected(&vr, "yolov5/yolov5n_fp16_dynamic.onnx")) {
        snprintf(mp, sizeof mp, "%s/yolov5/yolov5n_fp16_dynamic.onnx", ks_t_models_dir());
        check_batch2(ctx, mp, 1);
    }

    int total_imgs = 0, total_dets = 0, total_bad = 0, n_strip = 0;
    for (size_t mc = 0; mc < sizeof(cases) / sizeof(cases[0]); mc++) {
        const pcase *c = &cases[mc];
        if (!vt_selected(&vr, c->file))
            continue;
        jm_node *ref = jm_get(vr.dets, c->key);
        KS_T_CHECK_MSG(ref != NULL, "%s not in the reference file", c->key);
        if (!ref)
            continue;
        snprintf(mp, sizeof mp, "%s/%s", ks_t_models_dir(), c->file);
        ks_detector *sep = NULL, *app = NULL;
        ks_detector_options o;
        make_opts(c, 0, &o);
        ks_status st = ks_detector_create(ctx, mp, KS_FAMILY_AUTO, &o, &sep);
        KS_T_CHECK_MSG(st == KS_OK, "%s: %s", c->file, ks_context_last_error(ctx));
        make_opts(c, 1, &o);
        st = ks_detector_create(ctx, mp, KS_FAMILY_AUTO, &o, &app);
        KS_T_CHECK_MSG(st == KS_OK, "%s (appended): %s", c->file, ks_context_last_error(ctx));
        if (sep && app) {
            ks_detector_options eo;
            ks_detector_get_options(app, &eo);
            KS_T_CHECK_MSG(eo.postprocess == 1 && ks_detector_get_family(app) == c->family, "%s: postprocess %d",
                           c->file, eo.postprocess);
            ks_detector_get_options(sep, &eo);
            KS_T_CHECK(eo.postprocess == 0);
        }
        ks_detector *strp = c->family == KS_FAMILY_ULTRAFACE && !strstr(c->file, "without_postprocessing")
                                ? open_strip(ctx, c, mp)
                                : NULL;
        int imgs = 0, ndet = 0, bad = 0;
        for (int ii = 0; sep && app && ii < ref->n; ii++) {
            const char *img_rel = ref->keys[ii];
            if (!vr.run_all && !vt_in_subset(img_rel))
                continue;
            char img_path[8192];
            snprintf(img_path, sizeof img_path, "%s/%s", vr.shared_dir, img_rel);
            ks_image img;
            st = ks_image_load_file(ctx, img_path, KS_PIXEL_BGR, &img);
            KS_T_CHECK_MSG(st == KS_OK, "%s: %s", img_path, ks_context_last_error(ctx));
            if (st != KS_OK)
                continue;
            ks_detection_list a = {0, NULL}, b = {0, NULL};
            KS_T_CHECK_OK(ctx, ks_detector_detect(sep, 1, &img, &a));
            KS_T_CHECK_OK(ctx, ks_detector_detect(app, 1, &img, &b));
            if (strp) {
                check_strip(ctx, strp, mp, img_rel, &img, &a);
                n_strip++;
            }
            ks_image_release(ctx, &img);
            char what[512];
            snprintf(what, sizeof what, "%s on %s", c->file, img_rel);
            int d = compare_lists(what, &a, &b);
            KS_T_CHECK_MSG(d == 0, "%s: %d detections differ", what, d);
            bad += d;
            ndet += a.n;
            imgs++;
        }
        fprintf(stderr, "%-56s %2d images, %4d detections, %d differ (appended decode+NMS vs separate stages)\n",
                c->file, imgs, ndet, bad);
        KS_T_CHECK(imgs > 0);
        total_imgs += imgs, total_dets += ndet, total_bad += bad;
        ks_detector_destroy(sep);
        ks_detector_destroy(app);
        ks_detector_destroy(strp);
    }
    fprintf(stderr, "TOTAL %d model-images, %d detections, %d differ%s; UltraFace in-graph decode cut back: %d "
                    "model-images checked\n",
            total_imgs, total_dets, total_bad, vr.run_all ? "" : " (3 images per model; KESTREL_VISION_FULL=1 for all)",
            n_strip);
    ks_context_destroy(ctx);
    jm_free(vr.root);
    return ks_t_done();
}
