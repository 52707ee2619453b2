/* ks_detector: model + family -> detections in original-image pixels.
 *
 * CPU path: preprocess (CPU) -> ks_session_run -> decode (CPU) -> NMS (CPU, mapping boxes
 * back through each image's inverse transform). GPU path (detector_gpu.c): engine run ->
 * decode -> NMS on one stream, copying only the final fixed-size results back.
 *
 * Family facts (preprocessing, decoding, thresholds) follow shared/models/MANIFEST.md and
 * the `about` field of reference_outputs_ort.json; docs/vision.md lists them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "vision/detector_internal.h"

static const char *const family_names[] = {"auto", "ultraface", "yunet", "retinaface", "scrfd", "yolov5", "mtcnn"};
_Static_assert(KS_ARRAY_LEN(family_names) == KS_FAMILY_COUNT, "family names");

static const char *const coco_names[80] = {
    "person", "bicycle", "car", "motorbike", "aeroplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "sofa",
    "pottedplant", "bed", "diningtable", "toilet", "tvmonitor", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush"};

/* MTCNN lives in src/vision/mtcnn*.c (another owner). Weak references: when it is not
 * linked in, KS_FAMILY_MTCNN reports UNSUPPORTED_OP. */
#if defined(__has_include)
#if __has_include("vision/mtcnn.h")
#include "vision/mtcnn.h"
#endif
#endif
ks_status ks__mtcnn_detector_create(ks_context *ctx, const char *model_dir, const ks_detector_options *opt,
                                    void **out) __attribute__((weak));
ks_status ks__mtcnn_detector_detect(void *m, int n_images, const ks_image *images,
                                    ks_detection_list *results) __attribute__((weak));
void ks__mtcnn_detector_destroy(void *m) __attribute__((weak));
int ks__mtcnn_on_gpu(const ks_mtcnn *m) __attribute__((weak));

void ks_detector_options_init(ks_detector_options *o) {
    if (!o)
        return;
    memset(o, 0, sizeof(*o));
    o->score_threshold = -1.0f;
    o->nms_threshold = -1.0f;
    o->max_detections = 300;
    o->top_k = 5000;
    o->letterbox = -1;
    o->center = -1;
    o->class_aware_nms = -1;
    o->yunet_score = KS_SCORE_PRODUCT;
    o->max_batch = 1;
    o->postprocess = -1;
}

const char *ks_detector_family_name(ks_detector_family f) {
    return (unsigned)f < KS_FAMILY_COUNT ? family_names[f] : "?";
}

ks_status ks_detector_family_from_name(const char *name, ks_detector_family *out) {
    if (!name || !out)
        return KS_INVALID_ARGUMENT;
    for (int i = 0; i < KS_FAMILY_COUNT; i++)
        if (!strcasecmp(name, family_names[i])) {
            *out = (ks_detector_family)i;
            return KS_OK;
        }
    if (!strcasecmp(name, "yolo")) {
        *out = KS_FAMILY_YOLOV5;
        return KS_OK;
    }
    return KS_NOT_FOUND;
}

/* ----------------------------------------------------------- family detection */

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* I/O description from a model (declared shapes) or an engine (built shapes). */
ks_status ks__det_io_from_model(ks_context *ctx, const ks_model *m, ks_det_io *io) {
    memset(io, 0, sizeof(*io));
    io->n_inputs = ks_model_num_inputs(m);
    io->n_outputs = ks_model_num_outputs(m);
    if (io->n_outputs > KS_DET_MAX_IO)
        return ks__error(ctx, KS_UNSUPPORTED_SHAPE, "detector models have at most %d outputs, this one %d",
                         KS_DET_MAX_IO, io->n_outputs);
    if (io->n_inputs >= 1) {
        snprintf(io->in_name, sizeof io->in_name, "%s", ks_model_input_name(m, 0));
        KS_CHECK(ks_model_input_info(m, 0, &io->in_dtype, &io->in_ndim, io->in_dims, NULL));
    }
    for (int i = 0; i < io->n_outputs; i++) {
        snprintf(io->out_names[i], sizeof io->out_names[i], "%s", ks_model_output_name(m, i));
        KS_CHECK(ks_model_output_info(m, i, &io->out_dtype[i], &io->out_ndim[i], io->out_dims[i], NULL));
    }
    io->has_exp = 0;
    for (int i = 0; i < ks_model_num_nodes(m); i++) {
        const char *op = ks_model_node_op(m, i);
        if (op && !strcmp(op, "Exp"))
            io->has_exp = 1;
    }
    return KS_OK;
}

/* Last dim of declared output i (-1 if unknown). */
static int64_t out_last_dim(const ks_det_io *io, int i) {
    if (i < 0 || i >= io->n_outputs || io->out_ndim[i] <= 0)
        return -1;
    return io->out_dims[i][io->out_ndim[i] - 1];
}

static int find_output(const ks_det_io *io, const char *name) {
    for (int i = 0; i < io->n_outputs; i++)
        if (!strcmp(io->out_names[i], name))
            return i;
    return -1;
}

static void describe_outputs(const ks_det_io *io, char *buf, size_t n) {
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < io->n_outputs && o + 1 < n; i++) {
        char sh[96];
        ks_shape_str(io->out_dims[i], io->out_ndim[i], sh, sizeof sh);
        int k = snprintf(buf + o, n - o, "%s%s[%s]", i ? ", " : "", io->out_names[i], sh);
        if (k < 0)
            break;
        o += (size_t)k;
    }
}

/* YOLOv5 raw detection heads (no in-graph decode): three outputs [B,3,H,W,5+C] (1) or
 * [B,3*(5+C),H,W] (2) with the same C; 0 otherwise. Rank-5 heads may have unknown dims
 * before a dynamic input is fixed (their Reshape reads the input size at run time);
 * ks__detector_decode_params checks the final shapes. */
int ks__detector_yolo_heads(const ks_det_io *m) {
    if (m->n_outputs != 3)
        return 0;
    int kind = 0;
    int64_t no = -1;
    for (int i = 0; i < 3; i++) {
        const int64_t *d = m->out_dims[i];
        int k = 0;
        int64_t c = -1;
        if (m->out_ndim[i] == 5 && (d[1] < 0 || d[1] == 3) && (d[4] < 0 || d[4] >= 6))
            k = 1, c = d[4];
        else if (m->out_ndim[i] == 4 && d[1] > 0 && d[1] % 3 == 0 && d[1] / 3 >= 6)
            k = 2, c = d[1] / 3;
        if (!k || (kind && k != kind) || (no >= 0 && c >= 0 && c != no))
            return 0;
        kind = k;
        if (c >= 0)
            no = c;
    }
    return kind;
}

ks_detector_family ks__detector_guess_family(const ks_det_io *m) {
    int n = m->n_outputs;
    if (find_output(m, "cls_8") >= 0 && find_output(m, "obj_8") >= 0 && find_output(m, "bbox_8") >= 0)
        return KS_FAMILY_YUNET;
    if (n == 2 && find_output(m, "scores") >= 0 && find_output(m, "boxes") >= 0)
        return KS_FAMILY_ULTRAFACE;
    if (n == 1) {
        int64_t last = out_last_dim(m, 0);
        if (m->out_ndim[0] == 3 && (last < 0 || last > 5))
            return KS_FAMILY_YOLOV5;
        return KS_FAMILY_AUTO;
    }
    if (n == 3 && ks__detector_yolo_heads(m))
        return KS_FAMILY_YOLOV5;
    if (n == 3) {
        int have4 = 0, have2 = 0, have10 = 0;
        for (int i = 0; i < 3; i++) {
            int64_t l = out_last_dim(m, i);
            have4 += l == 4, have2 += l == 2, have10 += l == 10;
        }
        if (have4 == 1 && have2 == 1 && have10 == 1)
            return KS_FAMILY_RETINAFACE;
        return KS_FAMILY_AUTO;
    }
    if (n == 9 || n == 6) {
        /* SCRFD: 3 score [.,1], 3 bbox [.,4], (3 kps [.,10]) in that order. */
        static const int64_t want[9] = {1, 1, 1, 4, 4, 4, 10, 10, 10};
        for (int i = 0; i < n; i++) {
            int64_t l = out_last_dim(m, i);
            if (l >= 0 && l != want[i])
                return KS_FAMILY_AUTO;
        }
        return KS_FAMILY_SCRFD;
    }
    return KS_FAMILY_AUTO;
}

/* ----------------------------------------------------------- family defaults */

static void family_defaults(ks_detector *d) {
    ks_detector_options *o = &d->opt;
    ks_preprocess_config *p = &d->pre;
    ks_preprocess_config_init(p);
    float score = 0.5f, nms = 0.4f;
    int letterbox = 1, center = 0, class_aware = 0;
    float pad = 0.0f;
    switch (d->family) {
    case KS_FAMILY_ULTRAFACE:
        score = 0.7f, nms = 0.3f, letterbox = 0;
        p->channel_order = KS_PIXEL_RGB;
        p->mean[0] = p->mean[1] = p->mean[2] = 127.0f;
        p->std[0] = p->std[1] = p->std[2] = 128.0f;
        break;
    case KS_FAMILY_YUNET:
        score = o->yunet_score == KS_SCORE_SQRT ? 0.9f : 0.6f, nms = 0.3f;
        p->channel_order = KS_PIXEL_BGR;
        break;
    case KS_FAMILY_RETINAFACE:
        score = 0.5f, nms = 0.4f;
        p->channel_order = KS_PIXEL_BGR;
        p->mean[0] = 104.0f, p->mean[1] = 117.0f, p->mean[2] = 123.0f;
        break;
    case KS_FAMILY_SCRFD:
        score = 0.5f, nms = 0.4f;
        p->channel_order = KS_PIXEL_RGB;
        p->mean[0] = p->mean[1] = p->mean[2] = 127.5f;
        p->std[0] = p->std[1] = p->std[2] = 128.0f;
        break;
    case KS_FAMILY_YOLOV5:
        score = 0.25f, nms = 0.45f, center = 1, class_aware = 1, pad = 114.0f;
        p->channel_order = KS_PIXEL_RGB;
        p->scale = 1.0f / 255.0f;
        p->round_content = 1; /* Ultralytics letterbox rounds the resized size */
        break;
    default:
        break;
    }
    if (o->score_threshold < 0)
        o->score_threshold = score;
    if (o->nms_threshold < 0)
        o->nms_threshold = nms;
    if (o->letterbox < 0)
        o->letterbox = letterbox;
    if (o->center < 0)
        o->center = center;
    if (o->class_aware_nms < 0)
        o->class_aware_nms = class_aware;
    if (o->max_detections <= 0)
        o->max_detections = 300;
    p->resize = o->letterbox ? KS_RESIZE_LETTERBOX : KS_RESIZE_STRETCH;
    p->placement = o->center ? KS_PLACE_CENTER : KS_PLACE_TOP_LEFT;
    p->pad_value[0] = p->pad_value[1] = p->pad_value[2] = pad;
}

/* ------------------------------------------------------------------ creation */

ks_status ks__detector_setup_input(ks_detector *d) {
    const ks_det_io *io = &d->io;
    if (io->n_inputs != 1)
        return ks__error(d->ctx, KS_INVALID_MODEL, "%s: detector models take one input, this one has %d", d->path,
                         io->n_inputs);
    ks_dtype dt = io->in_dtype;
    int nd = io->in_ndim;
    const int64_t *dims = io->in_dims;
    if (nd != 4 || (dims[1] >= 0 && dims[1] != 3))
        return ks__error(d->ctx, KS_UNSUPPORTED_SHAPE, "%s: input must be N x 3 x H x W", d->path);
    if (dt != KS_DTYPE_FLOAT32 && dt != KS_DTYPE_FLOAT16)
        return ks__error(d->ctx, KS_UNSUPPORTED_DTYPE, "%s: input dtype %s (float32 or float16)", d->path,
                         ks_dtype_name(dt));
    d->in_dtype = dt;
    d->input_name = io->in_name;
    int32_t w = d->opt.input_width, h = d->opt.input_height;
    int dynamic = dims[2] < 0 || dims[3] < 0;
    if (!dynamic) {
        if ((w && w != dims[3]) || (h && h != dims[2]))
            return ks__error(d->ctx, KS_UNSUPPORTED_SHAPE, "%s: the model has a fixed %lldx%lld input; %dx%d asked",
                             d->path, (long long)dims[3], (long long)dims[2], (int)w, (int)h);
        w = (int32_t)dims[3], h = (int32_t)dims[2];
    } else {
        if (!w || !h)
            w = h = 640;
        if ((d->family == KS_FAMILY_YUNET || d->family == KS_FAMILY_YOLOV5 || d->family == KS_FAMILY_SCRFD) &&
            (w % 32 || h % 32))
            return ks__error(d->ctx, KS_UNSUPPORTED_SHAPE, "%s: %s input size must be a multiple of 32, not %dx%d",
                             d->path, family_names[d->family], (int)w, (int)h);
    }
    if (w <= 0 || h <= 0 || w > 8192 || h > 8192)
        return ks__error(d->ctx, KS_INVALID_ARGUMENT, "%s: input size %dx%d out of range", d->path, (int)w, (int)h);
    int64_t want[4] = {1, 3, h, w};
    if (d->model && (dims[0] < 0 || dynamic))
        KS_CHECK(ks_model_set_input_shape(d->model, d->input_name, 4, want));
    d->in_w = w;
    d->in_h = h;
    d->opt.input_width = w;
    d->opt.input_height = h;
    d->pre.width = w;
    d->pre.height = h;
    d->pre.dtype = dt;
    return KS_OK;
}

/* Roles of the model outputs per family. */
ks_status ks__detector_setup_outputs(ks_detector *d) {
    const ks_det_io *m = &d->io;
    int n = m->n_outputs;
    char desc[512];
    describe_outputs(m, desc, sizeof desc);
    for (int i = 0; i < KS_DECODE_MAX_LEVELS; i++)
        d->o_boxes[i] = d->o_scores[i] = d->o_obj[i] = d->o_kps[i] = -1;
    switch (d->family) {
    case KS_FAMILY_ULTRAFACE: {
        d->o_scores[0] = find_output(m, "scores");
        d->o_boxes[0] = find_output(m, "boxes");
        if (d->o_scores[0] < 0 || d->o_boxes[0] < 0) {
            for (int i = 0; i < n; i++) {
                int64_t l = out_last_dim(m, i);
                if (l == 2)
                    d->o_scores[0] = i;
                else if (l == 4)
                    d->o_boxes[0] = i;
            }
        }
        /* In-graph decoded variants compute Exp (the prior decode); raw ones have none.
           Unknown for engine files: decided on the first outputs (detector_gpu.c). */
        d->decoded_in_graph = m->has_exp;
        break;
    }
    case KS_FAMILY_RETINAFACE:
        for (int i = 0; i < n; i++) {
            int64_t l = out_last_dim(m, i);
            if (l == 4)
                d->o_boxes[0] = i;
            else if (l == 2)
                d->o_scores[0] = i;
            else if (l == 10)
                d->o_kps[0] = i;
        }
        break;
    case KS_FAMILY_YUNET: {
        static const int strides[3] = {8, 16, 32};
        for (int l = 0; l < 3; l++) {
            char nm[32];
            snprintf(nm, sizeof nm, "cls_%d", strides[l]);
            d->o_scores[l] = find_output(m, nm);
            snprintf(nm, sizeof nm, "obj_%d", strides[l]);
            d->o_obj[l] = find_output(m, nm);
            snprintf(nm, sizeof nm, "bbox_%d", strides[l]);
            d->o_boxes[l] = find_output(m, nm);
            snprintf(nm, sizeof nm, "kps_%d", strides[l]);
            d->o_kps[l] = find_output(m, nm);
            d->strides[l] = strides[l];
        }
        d->n_levels = 3;
        break;
    }
    case KS_FAMILY_SCRFD:
        if (n != 9 && n != 6)
            break;
        for (int l = 0; l < 3; l++) {
            d->o_scores[l] = l;
            d->o_boxes[l] = 3 + l;
            d->o_kps[l] = n == 9 ? 6 + l : -1;
            d->strides[l] = 8 << l;
        }
        d->n_levels = 3;
        break;
    case KS_FAMILY_YOLOV5:
        d->yolo_grid = 0;
        if (n == 1) {
            d->o_boxes[0] = 0;
        } else if ((d->yolo_grid = ks__detector_yolo_heads(m))) {
            /* levels by falling grid height (stride 8, 16, 32); output order when unknown */
            int ord[3] = {0, 1, 2}, hd = 2; /* H is dim 2 in both layouts */
            for (int i = 0; i < 3; i++)
                for (int j = i + 1; j < 3; j++)
                    if (m->out_dims[ord[j]][hd] > 0 && m->out_dims[ord[i]][hd] > 0 &&
                        m->out_dims[ord[j]][hd] > m->out_dims[ord[i]][hd]) {
                        int t = ord[i];
                        ord[i] = ord[j], ord[j] = t;
                    }
            for (int l = 0; l < 3; l++)
                d->o_boxes[l] = ord[l], d->strides[l] = 8 << l;
            d->n_levels = 3;
        }
        break;
    default:
        break;
    }
    int ok = d->o_boxes[0] >= 0 && (d->family == KS_FAMILY_YOLOV5 || d->o_scores[0] >= 0);
    for (int l = 1; l < d->n_levels; l++)
        ok &= d->o_boxes[l] >= 0 && (d->family == KS_FAMILY_YOLOV5 || d->o_scores[l] >= 0);
    if (d->family == KS_FAMILY_YUNET)
        for (int l = 0; l < 3; l++)
            ok &= d->o_obj[l] >= 0;
    if (d->family == KS_FAMILY_RETINAFACE)
        ok &= d->o_kps[0] >= 0;
    if (!ok)
        return ks__error(d->ctx, KS_INVALID_MODEL, "%s: outputs do not look like a %s model: %s", d->path,
                         family_names[d->family], desc);
    return KS_OK;
}

ks_status ks__detector_make_priors(ks_detector *d) {
    if (d->priors || (d->family != KS_FAMILY_ULTRAFACE && d->family != KS_FAMILY_RETINAFACE))
        return KS_OK;
    ks_prior_config pc;
    if (d->family == KS_FAMILY_ULTRAFACE)
        ks_prior_config_ultraface(&pc, d->in_w, d->in_h);
    else
        ks_prior_config_retinaface(&pc, d->in_w, d->in_h);
    int64_t np = ks_prior_count(&pc);
    d->priors = ks__alloc_array(d->ctx, (size_t)np * 4, sizeof(float));
    if (!d->priors)
        return ks__oom(d->ctx, (size_t)np * 16, "priors");
    ks_prior_generate(&pc, d->priors);
    d->n_priors = np;
    return KS_OK;
}

ks_status ks__detector_alloc_buffers(ks_detector *d) {
    ks_context *ctx = d->ctx;
    size_t in_bytes = (size_t)3 * d->in_w * d->in_h * ks_dtype_size(d->in_dtype);
    d->input_buf = ks__alloc(ctx, in_bytes);
    if (!d->input_buf)
        return ks__oom(ctx, in_bytes, "detector input");
    return ks__detector_make_priors(d);
}

int ks__detector_want_postprocess(const ks_detector *d, int gpu) {
    int v = d->opt.postprocess;
    const char *env = getenv("KESTREL_DETECTOR_POSTPROCESS");
    if (v < 0 && env && *env)
        v = atoi(env) != 0;
    if (v < 0)
        v = gpu;
    return v != 0;
}

void ks__detector_pp_map(const ks_affine *inv, int32_t count, float *boxes, float *landmarks, int32_t n_landmarks) {
    const float *m = inv ? inv->m : NULL;
    for (int32_t k = 0; k < count; k++) {
        ks_v_map_box(m, boxes + (size_t)k * 4);
        for (int32_t j = 0; landmarks && j < n_landmarks; j++)
            ks_v_map_point(m, landmarks + (size_t)k * 2 * KS_MAX_LANDMARKS + 2 * j);
    }
}

/* Grows the per-run host buffers to hold n_rows candidates. */
ks_status ks__detector_reserve_rows(ks_detector *d, int32_t n_rows) {
    if (n_rows <= d->cap_rows)
        return KS_OK;
    ks_context *ctx = d->ctx;
    ks__free(ctx, d->cand_boxes);
    ks__free(ctx, d->cand_scores);
    ks__free(ctx, d->cand_classes);
    ks__free(ctx, d->cand_landmarks);
    d->cand_boxes = ks__alloc_array(ctx, (size_t)n_rows * 4, sizeof(float));
    d->cand_scores = ks__alloc_array(ctx, (size_t)n_rows, sizeof(float));
    d->cand_classes = ks__alloc_array(ctx, (size_t)n_rows, sizeof(int32_t));
    d->cand_landmarks = ks__alloc_array(ctx, (size_t)n_rows * 2 * KS_MAX_LANDMARKS, sizeof(float));
    d->cap_rows = 0;
    if (!d->cand_boxes || !d->cand_scores || !d->cand_classes || !d->cand_landmarks)
        return ks__oom(ctx, (size_t)n_rows * 64, "detector candidates");
    d->cap_rows = n_rows;
    return KS_OK;
}

ks_status ks__detector_reserve_results(ks_detector *d, int n_images) {
    int32_t M = d->opt.max_detections;
    if (n_images <= d->cap_images)
        return KS_OK;
    ks_context *ctx = d->ctx;
    ks__free(ctx, d->results);
    ks__free(ctx, d->nms_boxes);
    ks__free(ctx, d->nms_scores);
    ks__free(ctx, d->nms_classes);
    ks__free(ctx, d->nms_landmarks);
    ks__free(ctx, d->nms_counts);
    ks__free(ctx, d->inv);
    d->cap_images = 0;
    size_t nm = (size_t)n_images * M;
    d->results = ks__alloc_array(ctx, nm, sizeof(ks_detection));
    d->nms_boxes = ks__alloc_array(ctx, nm * 4, sizeof(float));
    d->nms_scores = ks__alloc_array(ctx, nm, sizeof(float));
    d->nms_classes = ks__alloc_array(ctx, nm, sizeof(int32_t));
    d->nms_landmarks = ks__alloc_array(ctx, nm * 2 * KS_MAX_LANDMARKS, sizeof(float));
    d->nms_counts = ks__alloc_array(ctx, (size_t)n_images, sizeof(int32_t));
    d->inv = ks__alloc_array(ctx, (size_t)n_images, sizeof(ks_affine));
    if (!d->results || !d->nms_boxes || !d->nms_scores || !d->nms_classes || !d->nms_landmarks ||
        !d->nms_counts || !d->inv)
        return ks__oom(ctx, nm * (sizeof(ks_detection) + 80), "detector results");
    d->cap_images = n_images;
    return KS_OK;
}

ks_status ks__detector_check_options(ks_detector *d) {
    const ks_detector_options *o = &d->opt;
    if ((unsigned)o->yunet_score >= KS_SCORE_MODE_COUNT || o->max_detections < 0 || o->max_detections > 100000 ||
        o->input_width < 0 || o->input_height < 0 || (o->score_threshold != o->score_threshold) ||
        o->nms_threshold > 1.0f || o->postprocess < -1 || o->postprocess > 1)
        return ks__error(d->ctx, KS_INVALID_ARGUMENT,
                         "%s: invalid detector options (yunet_score %d, max_detections %d, input %dx%d, score "
                         "threshold %g, NMS threshold %g, postprocess %d)",
                         d->path, (int)o->yunet_score, (int)o->max_detections, (int)o->input_width,
                         (int)o->input_height, (double)o->score_threshold, (double)o->nms_threshold,
                         (int)o->postprocess);
    return KS_OK;
}

/* Family from the I/O when AUTO, then the family's defaults. */
ks_status ks__detector_resolve_family(ks_detector *d) {
    if (d->family == KS_FAMILY_AUTO) {
        d->family = ks__detector_guess_family(&d->io);
        if (d->family == KS_FAMILY_AUTO) {
            char desc[512];
            describe_outputs(&d->io, desc, sizeof desc);
            return ks__error(d->ctx, KS_INVALID_ARGUMENT,
                             "%s: cannot tell the detector family from the outputs (%s); pass it explicitly", d->path,
                             desc);
        }
    }
    family_defaults(d);
    return KS_OK;
}

ks_status ks__detector_new(ks_context *ctx, ks_detector_family family, const ks_detector_options *opt,
                           const char *path, ks_detector **out) {
    *out = NULL;
    ks_detector *d = ks__alloc(ctx, sizeof(*d));
    if (!d)
        return ks__oom(ctx, sizeof(*d), "detector");
    d->ctx = ctx;
    d->family = family;
    if (opt)
        d->opt = *opt;
    else
        ks_detector_options_init(&d->opt);
    d->path = ks__strdup(ctx, path);
    if (!d->path) {
        ks__free(ctx, d);
        return ks__oom(ctx, strlen(path), "path");
    }
    *out = d;
    return KS_OK;
}

ks_status ks_detector_create(ks_context *ctx, const char *model_path, ks_detector_family family,
                             const ks_detector_options *opt, ks_detector **out) {
    if (!ctx || !model_path || !out || (unsigned)family >= KS_FAMILY_COUNT)
        return ctx ? ks__error(ctx, KS_INVALID_ARGUMENT, "ks_detector_create: bad argument") : KS_INVALID_ARGUMENT;
    ks_detector *d;
    KS_CHECK(ks__detector_new(ctx, family, opt, model_path, &d));
    ks_status st = ks__detector_check_options(d);
    if (st != KS_OK)
        goto fail;

    if (family == KS_FAMILY_MTCNN) {
        if (!ks__mtcnn_detector_create || !ks__mtcnn_detector_detect || !ks__mtcnn_detector_destroy) {
            st = ks__error(ctx, KS_UNSUPPORTED_OP, "mtcnn not built");
            goto fail;
        }
        family_defaults(d);
        st = ks__mtcnn_detector_create(ctx, model_path, &d->opt, &d->mtcnn);
        if (st != KS_OK)
            goto fail;
        *out = d;
        return KS_OK;
    }

    if (ks__detector_is_engine_file(model_path)) {
        d->opt.use_gpu = 1;
        st = ks__detector_gpu_create_from_engine(d);
        if (st != KS_OK)
            goto fail;
        *out = d;
        return KS_OK;
    }

    st = ks_model_load_file(ctx, model_path, NULL, &d->model);
    if (st == KS_OK)
        st = ks__det_io_from_model(ctx, d->model, &d->io);
    if (st != KS_OK)
        goto fail;
    if ((st = ks__detector_resolve_family(d)) != KS_OK)
        goto fail;
    if ((st = ks__detector_setup_input(d)) != KS_OK || (st = ks__detector_setup_outputs(d)) != KS_OK ||
        (st = ks__detector_alloc_buffers(d)) != KS_OK)
        goto fail;
    if (d->opt.use_gpu) {
        st = ks__detector_gpu_create(d);
        if (st == KS_OK) {
            *out = d;
            return KS_OK;
        }
        /* Fall back to the CPU: quietly without a GPU, loudly when the GPU build failed.
           The engine build may have changed the model's shapes: import it again. */
        ks__log(ctx, st == KS_NO_DEVICE ? KS_LOG_INFO : KS_LOG_WARN, "%s: GPU path unavailable (%s: %s); running on the CPU",
                model_path, ks_status_name(st), ks_context_last_error(ctx));
        ks_context_clear_error(ctx);
        ks__detector_gpu_destroy(d);
        d->opt.use_gpu = 0;
        d->postprocess = 0;
        ks_model_destroy(d->model);
        d->model = NULL;
        st = ks_model_load_file(ctx, model_path, NULL, &d->model);
        if (st == KS_OK)
            st = ks__det_io_from_model(ctx, d->model, &d->io);
        if (st != KS_OK || (st = ks__detector_setup_input(d)) != KS_OK ||
            (st = ks__detector_setup_outputs(d)) != KS_OK)
            goto fail;
    }
    if (ks__detector_want_postprocess(d, 0) && (st = ks__detector_append_postprocess(d)) != KS_OK)
        goto fail;
    d->opt.postprocess = d->postprocess;
    if ((st = ks_model_optimize(d->model)) != KS_OK)
        goto fail;
    st = ks_session_create(d->model, NULL, &d->session);
    if (st != KS_OK)
        goto fail;
    *out = d;
    return KS_OK;
fail:
    ks_detector_destroy(d);
    return st;
}

void ks_detector_destroy(ks_detector *d) {
    if (!d)
        return;
    ks_context *ctx = d->ctx;
    if (d->mtcnn && ks__mtcnn_detector_destroy)
        ks__mtcnn_detector_destroy(d->mtcnn);
    ks__detector_gpu_destroy(d);
    ks_session_destroy(d->session);
    ks_model_destroy(d->model);
    ks__free(ctx, d->input_buf);
    ks__free(ctx, d->priors);
    ks__free(ctx, d->cand_boxes);
    ks__free(ctx, d->cand_scores);
    ks__free(ctx, d->cand_classes);
    ks__free(ctx, d->cand_landmarks);
    ks__free(ctx, d->results);
    ks__free(ctx, d->nms_boxes);
    ks__free(ctx, d->nms_scores);
    ks__free(ctx, d->nms_classes);
    ks__free(ctx, d->nms_landmarks);
    ks__free(ctx, d->nms_counts);
    ks__free(ctx, d->inv);
    ks__free(ctx, d->path);
    ks__free(ctx, d);
}

/* ------------------------------------------------------------------ decoding */

/* Rows of an output tensor: product of all dims but the last (which must be `last`, or
 * any when last < 0). Returns -1 on mismatch. */
static int64_t rows_of(const int64_t *dims, int nd, int64_t last) {
    if (nd < 1 || (last >= 0 && dims[nd - 1] != last))
        return -1;
    int64_t r = 1;
    for (int i = 0; i < nd - 1; i++)
        r *= dims[i];
    return r;
}

ks_status ks__detector_decode_params(ks_detector *d, int32_t batch, const int64_t (*odims)[KS_MAX_DIMS],
                                     const int *ondim, const ks_dtype *odtype, ks_decode_params *p) {
    ks_decode_params_init(p);
    p->batch = batch;
    p->input_w = d->in_w;
    p->input_h = d->in_h;
    p->score_threshold = d->opt.score_threshold;
    p->score_mode = d->opt.yunet_score;
    int ob = d->o_boxes[0];
    p->dtype = odtype[ob];
    const char *fam = family_names[d->family];
#define BAD_SHAPE(i)                                                                                           \
    do {                                                                                                       \
        char sh_[96];                                                                                          \
        ks_shape_str(odims[i], ondim[i], sh_, sizeof sh_);                                                     \
        return ks__error(d->ctx, KS_UNSUPPORTED_SHAPE, "%s: %s output '%s' has unexpected shape %s", d->path,  \
                         fam, d->io.out_names[i], sh_);                        \
    } while (0)
    for (int i = 0; i < KS_DECODE_MAX_LEVELS; i++) {
        int ids[4] = {d->o_boxes[i], d->o_scores[i], d->o_obj[i], d->o_kps[i]};
        for (int k = 0; k < 4; k++)
            if (ids[k] >= 0 && odtype[ids[k]] != p->dtype)
                return ks__error(d->ctx, KS_UNSUPPORTED_DTYPE, "%s: outputs mix float16 and float32", d->path);
    }
    switch (d->family) {
    case KS_FAMILY_ULTRAFACE:
    case KS_FAMILY_RETINAFACE: {
        int os = d->o_scores[0];
        /* One concatenated tensor over all levels: image-major only when the leading dim is
           the batch. Graphs that reshape with a hard-coded batch of 1 give [1, B*N, C]
           with the levels of all images interleaved: not batch-separable. */
        for (int k = 0; k < 3; k++) {
            int oi = k == 0 ? ob : k == 1 ? os : d->o_kps[0];
            if (oi >= 0 && batch > 1 && (ondim[oi] < 3 || odims[oi][0] != batch))
                return ks__error(d->ctx, KS_UNSUPPORTED_SHAPE,
                                 "%s: output '%s' is not batch-major for batch %d (the graph is not batch-separable)",
                                 d->path, d->io.out_names[oi], (int)batch);
        }
        int64_t n = rows_of(odims[ob], ondim[ob], 4);
        if (n <= 0 || n % batch)
            BAD_SHAPE(ob);
        n /= batch;
        int64_t ns = rows_of(odims[os], ondim[os], -1);
        if (ns != n * batch)
            BAD_SHAPE(os);
        p->kind = (d->family == KS_FAMILY_ULTRAFACE && d->decoded_in_graph) ? KS_DECODE_CORNERS : KS_DECODE_SSD;
        p->n_classes = (int32_t)odims[os][ondim[os] - 1];
        p->first_class = 1;
        if (p->n_classes < 2)
            BAD_SHAPE(os);
        if (p->kind == KS_DECODE_SSD && n != d->n_priors)
            return ks__error(d->ctx, KS_UNSUPPORTED_SHAPE, "%s: %lld output rows but %lld priors for a %dx%d input",
                             d->path, (long long)n, (long long)d->n_priors, (int)d->in_w, (int)d->in_h);
        if (d->o_kps[0] >= 0) {
            int ok = d->o_kps[0];
            if (rows_of(odims[ok], ondim[ok], 10) != n * batch)
                BAD_SHAPE(ok);
            p->n_landmarks = 5;
        }
        p->n_rows = (int32_t)n;
        break;
    }
    case KS_FAMILY_YOLOV5: {
        if (d->yolo_grid) {
            p->kind = KS_DECODE_YOLO_GRID;
            p->yolo_channels_first = d->yolo_grid == 2;
            ks_decode_yolov5_levels(p);
            for (int l = 0; l < 3; l++) {
                int oi = d->o_boxes[l];
                const int64_t *od = odims[oi];
                const ks_decode_level *L = &p->levels[l];
                int64_t no = d->yolo_grid == 1 ? od[4] : od[1] / 3;
                int okd = od[0] == batch && (d->yolo_grid == 1 ? (ondim[oi] == 5 && od[1] == 3 && od[2] == L->grid_h &&
                                                                  od[3] == L->grid_w)
                                                               : (ondim[oi] == 4 && od[1] == 3 * no &&
                                                                  od[2] == L->grid_h && od[3] == L->grid_w));
                if (!okd || no < 6 || (l && no != 5 + p->n_classes))
                    BAD_SHAPE(oi);
                p->n_classes = (int32_t)no - 5;
            }
            break;
        }
        if (ondim[ob] != 3 || odims[ob][0] != batch || odims[ob][2] < 6)
            BAD_SHAPE(ob);
        p->kind = KS_DECODE_YOLO;
        p->n_rows = (int32_t)odims[ob][1];
        p->n_classes = (int32_t)odims[ob][2] - 5;
        break;
    }
    case KS_FAMILY_YUNET:
    case KS_FAMILY_SCRFD: {
        p->kind = d->family == KS_FAMILY_YUNET ? KS_DECODE_YUNET : KS_DECODE_SCRFD;
        p->n_levels = d->n_levels;
        int64_t total = 0;
        int any_kps = 0;
        for (int l = 0; l < d->n_levels; l++) {
            int s = d->strides[l];
            int32_t gw = (d->in_w + s - 1) / s, gh = (d->in_h + s - 1) / s;
            int bi = d->o_boxes[l], si = d->o_scores[l];
            int64_t n = rows_of(odims[bi], ondim[bi], 4);
            if (n <= 0 || n % ((int64_t)batch * gw * gh))
                BAD_SHAPE(bi);
            int32_t A = (int32_t)(n / ((int64_t)batch * gw * gh));
            if (d->family == KS_FAMILY_YUNET && A != 1)
                BAD_SHAPE(bi);
            if (rows_of(odims[si], ondim[si], 1) != n)
                BAD_SHAPE(si);
            if (d->o_obj[l] >= 0 && rows_of(odims[d->o_obj[l]], ondim[d->o_obj[l]], 1) != n)
                BAD_SHAPE(d->o_obj[l]);
            if (d->o_kps[l] >= 0) {
                if (rows_of(odims[d->o_kps[l]], ondim[d->o_kps[l]], 10) != n)
                    BAD_SHAPE(d->o_kps[l]);
                any_kps = 1;
            }
            p->levels[l].stride = s;
            p->levels[l].grid_w = gw;
            p->levels[l].grid_h = gh;
            p->levels[l].n_anchors = A;
            total += n / batch;
        }
        p->n_rows = (int32_t)total;
        p->n_landmarks = any_kps ? 5 : 0;
        break;
    }
    default:
        return ks__error(d->ctx, KS_INTERNAL, "decode params for family %d", (int)d->family);
    }
#undef BAD_SHAPE
    return KS_OK;
}

void ks__detector_decode_inputs(const ks_detector *d, void *const *outs, ks_decode_inputs *in) {
    memset(in, 0, sizeof(*in));
    for (int l = 0; l < KS_DECODE_MAX_LEVELS; l++) {
        in->boxes[l] = d->o_boxes[l] >= 0 ? outs[d->o_boxes[l]] : NULL;
        in->scores[l] = d->o_scores[l] >= 0 ? outs[d->o_scores[l]] : NULL;
        in->objectness[l] = d->o_obj[l] >= 0 ? outs[d->o_obj[l]] : NULL;
        in->landmarks[l] = d->o_kps[l] >= 0 ? outs[d->o_kps[l]] : NULL;
    }
}

void ks__detector_nms_params(const ks_detector *d, int32_t batch, int32_t n_rows, int32_t n_landmarks,
                             ks_nms_params *np) {
    ks_nms_params_init(np);
    np->batch = batch;
    np->n_rows = n_rows;
    np->score_threshold = d->opt.score_threshold;
    np->iou_threshold = d->opt.nms_threshold;
    np->top_k = d->opt.top_k;
    np->max_output = d->opt.max_detections;
    np->class_aware = d->opt.class_aware_nms;
    np->n_landmarks = n_landmarks;
}

/* Fills results[0..n) from the NMS output slots first..first+n-1 (host). */
void ks__detector_fill_results(ks_detector *d, int first, int n, int32_t n_landmarks,
                               ks_detection_list *results) {
    int32_t M = d->opt.max_detections;
    for (int i = first; i < first + n; i++) {
        ks_detection *items = d->results + (size_t)i * M;
        int32_t c = d->nms_counts[i];
        if (c < 0)
            c = 0;
        if (c > M)
            c = M;
        for (int32_t k = 0; k < c; k++) {
            size_t o = (size_t)i * M + k;
            ks_detection *t = &items[k];
            memset(t, 0, sizeof(*t));
            memcpy(t->box, d->nms_boxes + o * 4, 4 * sizeof(float));
            t->score = d->nms_scores[o];
            t->class_id = d->nms_classes[o];
            t->n_landmarks = n_landmarks;
            for (int j = 0; j < n_landmarks; j++) {
                t->landmarks[j][0] = d->nms_landmarks[o * 2 * KS_MAX_LANDMARKS + 2 * j];
                t->landmarks[j][1] = d->nms_landmarks[o * 2 * KS_MAX_LANDMARKS + 2 * j + 1];
            }
        }
        results[i - first].n = c;
        results[i - first].items = items;
    }
}

/* ----------------------------------------------------------------- detection */

static ks_status detect_cpu_one(ks_detector *d, const ks_image *img, int idx) {
    ks_context *ctx = d->ctx;
    if (img->memory == KS_MEMORY_DEVICE) { /* CPU path given a device frame: download it */
        ks_image host;
        KS_CHECK(ks_image_to_host(ctx, img, &host));
        ks_status st = detect_cpu_one(d, &host, idx);
        ks_image_release(ctx, &host);
        return st;
    }
    KS_CHECK(ks_preprocess_cpu(ctx, &d->pre, 1, img, d->input_buf, &d->inv[idx]));
    ks_tensor in = {d->in_dtype, 4, {1, 3, d->in_h, d->in_w}, d->input_buf};
    int n_out = d->io.n_outputs;
    ks_tensor outs[16];
    if (n_out > 16)
        return ks__error(ctx, KS_UNSUPPORTED_SHAPE, "%s: %d outputs", d->path, n_out);
    memset(outs, 0, sizeof(outs));
    const char *in_name = d->input_name;
    ks_status st = ks_session_run(d->session, 1, &in_name, &in, 0, NULL, outs);
    if (st != KS_OK)
        return ks__error_prefix(ctx, "%s", d->path);
    if (d->postprocess) { /* outputs are the fixed-size NMS results in network pixels */
        int32_t M = d->opt.max_detections;
        const int *pp = d->pp_out;
        int32_t c = ((const int32_t *)outs[pp[0]].data)[0];
        c = c < 0 ? 0 : c > M ? M : c;
        d->nms_counts[idx] = c;
        memcpy(d->nms_boxes + (size_t)idx * M * 4, outs[pp[1]].data, sizeof(float) * 4 * (size_t)M);
        memcpy(d->nms_scores + (size_t)idx * M, outs[pp[2]].data, sizeof(float) * (size_t)M);
        memcpy(d->nms_classes + (size_t)idx * M, outs[pp[3]].data, sizeof(int32_t) * (size_t)M);
        float *lm = d->nms_landmarks + (size_t)idx * M * 2 * KS_MAX_LANDMARKS;
        if (d->pp_landmarks)
            memcpy(lm, outs[pp[4]].data, sizeof(float) * 2 * KS_MAX_LANDMARKS * (size_t)M);
        ks__detector_pp_map(&d->inv[idx], c, d->nms_boxes + (size_t)idx * M * 4, d->pp_landmarks ? lm : NULL,
                            d->pp_landmarks);
        d->last_landmarks = d->pp_landmarks;
        for (int i = 0; i < n_out; i++)
            ks_tensor_release(ctx, &outs[i]);
        return KS_OK;
    }
    int64_t odims[16][KS_MAX_DIMS];
    int ondim[16] = {0};
    ks_dtype odt[16] = {KS_DTYPE_UNDEFINED};
    void *optr[16] = {NULL};
    memset(odims, 0, sizeof(odims));
    for (int i = 0; i < n_out; i++) {
        memcpy(odims[i], outs[i].dims, sizeof(odims[i]));
        ondim[i] = outs[i].ndim;
        odt[i] = outs[i].dtype;
        optr[i] = outs[i].data;
    }
    ks_decode_params p;
    st = ks__detector_decode_params(d, 1, (const int64_t(*)[KS_MAX_DIMS])odims, ondim, odt, &p);
    if (st == KS_OK)
        st = ks__detector_reserve_rows(d, p.n_rows);
    if (st == KS_OK) {
        ks_decode_inputs di;
        ks__detector_decode_inputs(d, optr, &di);
        di.priors = d->priors;
        ks_candidates c = {d->cand_boxes, d->cand_scores, d->cand_classes, d->cand_landmarks};
        st = ks_decode_cpu(ctx, &p, &di, &c);
        if (st == KS_OK) {
            ks_nms_params np;
            ks__detector_nms_params(d, 1, p.n_rows, p.n_landmarks, &np);
            int32_t M = d->opt.max_detections;
            ks_nms_outputs no = {d->nms_counts + idx,
                                 d->nms_boxes + (size_t)idx * M * 4,
                                 d->nms_scores + (size_t)idx * M,
                                 d->nms_classes + (size_t)idx * M,
                                 d->nms_landmarks + (size_t)idx * M * 2 * KS_MAX_LANDMARKS,
                                 NULL,
                                 &d->inv[idx]};
            /* landmarks rows are strided by 2*KS_MAX_LANDMARKS; with n_landmarks 0 the
               candidate landmarks are ignored. */
            st = ks_nms_cpu(ctx, &np, &c, &no);
            d->last_landmarks = p.n_landmarks;
        }
    }
    for (int i = 0; i < n_out; i++)
        ks_tensor_release(ctx, &outs[i]);
    return st;
}

ks_status ks_detector_detect(ks_detector *d, int n_images, const ks_image *images, ks_detection_list *results) {
    if (!d)
        return KS_INVALID_ARGUMENT;
    if (n_images < 0 || (n_images > 0 && (!images || !results)))
        return ks__error(d->ctx, KS_INVALID_ARGUMENT, "ks_detector_detect: bad arguments");
    if (n_images == 0)
        return KS_OK;
    if (d->mtcnn)
        return ks__mtcnn_detector_detect(d->mtcnn, n_images, images, results);
    KS_CHECK(ks__detector_reserve_results(d, n_images));
    if (d->gpu)
        return ks__detector_gpu_detect(d, n_images, images, results);
    for (int i = 0; i < n_images; i++) {
        ks_status st = detect_cpu_one(d, &images[i], i);
        if (st != KS_OK)
            return st;
        ks__detector_fill_results(d, i, 1, d->last_landmarks, &results[i]);
    }
    return KS_OK;
}

ks_detector_family ks_detector_get_family(const ks_detector *d) { return d ? d->family : KS_FAMILY_AUTO; }

void ks_detector_get_options(const ks_detector *d, ks_detector_options *out) {
    if (d && out)
        *out = d->opt;
}

const char *ks_detector_class_label(const ks_detector *d, int32_t class_id) {
    if (!d)
        return "?";
    if (d->family == KS_FAMILY_YOLOV5)
        return class_id >= 0 && class_id < 80 ? coco_names[class_id] : "?";
    return class_id == 0 ? "face" : "?";
}

int ks_detector_on_gpu(const ks_detector *d) {
    if (d && d->mtcnn) /* the cascade keeps its own GPU state */
        return ks__mtcnn_on_gpu ? ks__mtcnn_on_gpu((const ks_mtcnn *)d->mtcnn) : 0;
    return d && d->gpu ? 1 : 0;
}

int ks__detector_is_engine_file(const char *path) {
    return ends_with(path, ".engine") || ends_with(path, ".ksengine") || ends_with(path, ".kse");
}
