/* Box decoders (CPU reference) and SSD prior generation. The per-row math is in
 * vision_kernels.h (ks_v_decode_row), shared with decode.cu. */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "vision/vision_internal.h"

_Static_assert((int)KS_V_DEC_SSD == (int)KS_DECODE_SSD && (int)KS_V_DEC_CORNERS == (int)KS_DECODE_CORNERS &&
                   (int)KS_V_DEC_YUNET == (int)KS_DECODE_YUNET && (int)KS_V_DEC_SCRFD == (int)KS_DECODE_SCRFD &&
                   (int)KS_V_DEC_YOLO == (int)KS_DECODE_YOLO && (int)KS_V_DEC_YOLO_GRID == (int)KS_DECODE_YOLO_GRID,
               "decoder ids");

static const char *const decoder_names[] = {"ssd", "corners", "yunet", "scrfd", "yolo", "yolo_grid"};
_Static_assert(KS_ARRAY_LEN(decoder_names) == KS_BOX_DECODER_COUNT, "decoder names");

void ks_decode_params_init(ks_decode_params *p) {
    if (!p)
        return;
    memset(p, 0, sizeof(*p));
    p->batch = 1;
    p->n_classes = 2;
    p->first_class = 1;
    p->score_threshold = 0.5f;
    p->variance[0] = 0.1f;
    p->variance[1] = 0.2f;
    p->dtype = KS_DTYPE_FLOAT32;
}

ks_status ks_decode_check(ks_context *ctx, const ks_decode_params *p) {
    if (!p)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "decode: params are NULL");
    if ((unsigned)p->kind >= KS_BOX_DECODER_COUNT)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "decode: unknown decoder %d", (int)p->kind);
    const char *nm = decoder_names[p->kind];
    if (p->batch <= 0 || p->n_rows <= 0 || p->input_w <= 0 || p->input_h <= 0)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (%s): batch %d, rows %d, input %dx%d must be > 0", nm,
                         (int)p->batch, (int)p->n_rows, (int)p->input_w, (int)p->input_h);
    if (p->dtype != KS_DTYPE_FLOAT32 && p->dtype != KS_DTYPE_FLOAT16)
        return ks__error(ctx, KS_UNSUPPORTED_DTYPE, "decode (%s): network outputs must be float32 or float16, not %s",
                         nm, ks_dtype_name(p->dtype));
    if (p->n_landmarks != 0 && p->n_landmarks != KS_MAX_LANDMARKS)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (%s): n_landmarks %d (0 or 5)", nm, (int)p->n_landmarks);
    if ((unsigned)p->score_mode >= KS_SCORE_MODE_COUNT)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (%s): bad score mode %d", nm, (int)p->score_mode);
    switch (p->kind) {
    case KS_DECODE_SSD:
    case KS_DECODE_CORNERS:
        if (p->first_class < 0 || p->first_class >= p->n_classes)
            return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (%s): first_class %d of %d score columns", nm,
                             (int)p->first_class, (int)p->n_classes);
        break;
    case KS_DECODE_YOLO:
        if (p->n_classes <= 0)
            return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (yolo): n_classes %d", (int)p->n_classes);
        break;
    case KS_DECODE_YOLO_GRID:
        if (p->n_classes <= 0)
            return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (yolo_grid): n_classes %d", (int)p->n_classes);
        for (int l = 0; l < p->n_levels && l < KS_DECODE_MAX_LEVELS; l++) {
            if (p->levels[l].n_anchors > 4)
                return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (yolo_grid): level %d has %d anchors (at most 4)", l,
                                 (int)p->levels[l].n_anchors);
            for (int a = 0; a < p->levels[l].n_anchors && a < 4; a++)
                if (!(p->levels[l].anchors[a][0] > 0.0f) || !(p->levels[l].anchors[a][1] > 0.0f))
                    return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (yolo_grid): level %d anchor %d is %gx%g", l, a,
                                     (double)p->levels[l].anchors[a][0], (double)p->levels[l].anchors[a][1]);
        }
        /* fall through - the levels and rows are checked below */
    default: {
        if (p->n_levels <= 0 || p->n_levels > KS_DECODE_MAX_LEVELS)
            return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (%s): %d levels (1..%d)", nm, (int)p->n_levels,
                             KS_DECODE_MAX_LEVELS);
        int64_t rows = 0;
        for (int l = 0; l < p->n_levels; l++) {
            const ks_decode_level *L = &p->levels[l];
            if (L->stride <= 0 || L->grid_w <= 0 || L->grid_h <= 0 || L->n_anchors <= 0)
                return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (%s): level %d: stride %d grid %dx%d anchors %d", nm,
                                 l, (int)L->stride, (int)L->grid_w, (int)L->grid_h, (int)L->n_anchors);
            rows += (int64_t)L->grid_w * L->grid_h * L->n_anchors;
        }
        if (rows != p->n_rows)
            return ks__error(ctx, KS_UNSUPPORTED_SHAPE, "decode (%s): levels hold %lld rows, n_rows is %d", nm,
                             (long long)rows, (int)p->n_rows);
        break;
    }
    }
    return KS_OK;
}

ks_status ks__vdec_build(ks_context *ctx, const ks_decode_params *p, const ks_decode_inputs *in,
                         const ks_candidates *out, ks_vdec *d) {
    KS_CHECK(ks_decode_check(ctx, p));
    const char *nm = decoder_names[p->kind];
    if (!in || !out || !out->boxes || !out->scores || !out->classes)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (%s): inputs or candidate outputs missing", nm);
    memset(d, 0, sizeof(*d));
    d->kind = (int32_t)p->kind;
    d->batch = p->batch;
    d->n_rows = p->n_rows;
    d->input_w = p->input_w;
    d->input_h = p->input_h;
    d->n_classes = p->n_classes;
    d->first_class = p->first_class;
    d->threshold = p->score_threshold;
    d->sqrt_score = p->score_mode == KS_SCORE_SQRT;
    d->n_landmarks = p->n_landmarks;
    d->fp16 = p->dtype == KS_DTYPE_FLOAT16;
    d->var0 = p->variance[0];
    d->var1 = p->variance[1];
    d->out_boxes = out->boxes;
    d->out_scores = out->scores;
    d->out_classes = out->classes;
    d->out_landmarks = p->n_landmarks ? out->landmarks : NULL;
    switch (p->kind) {
    case KS_DECODE_SSD:
    case KS_DECODE_CORNERS:
        if (!in->boxes[0] || !in->scores[0])
            return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (%s): boxes and scores are required", nm);
        if (p->kind == KS_DECODE_SSD && !in->priors)
            return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (ssd): priors are required");
        d->boxes = in->boxes[0];
        d->scores = in->scores[0];
        d->landmarks = p->kind == KS_DECODE_SSD ? in->landmarks[0] : NULL;
        d->priors = in->priors;
        if (!d->landmarks)
            d->n_landmarks = 0, d->out_landmarks = NULL;
        break;
    case KS_DECODE_YOLO:
        if (!in->boxes[0])
            return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (yolo): the output rows are required");
        d->boxes = in->boxes[0];
        d->n_landmarks = 0, d->out_landmarks = NULL;
        break;
    case KS_DECODE_YOLO_GRID: {
        d->n_levels = p->n_levels;
        d->channels_first = p->yolo_channels_first ? 1 : 0;
        d->n_landmarks = 0, d->out_landmarks = NULL;
        int32_t off = 0;
        for (int l = 0; l < p->n_levels; l++) {
            const ks_decode_level *L = &p->levels[l];
            ks_vdec_level *v = &d->lv[l];
            if (!in->boxes[l])
                return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (yolo_grid): level %d: missing head output", l);
            v->boxes = in->boxes[l];
            v->stride = L->stride;
            v->grid_w = L->grid_w;
            v->grid_h = L->grid_h;
            v->n_anchors = L->n_anchors;
            memcpy(v->anchors, L->anchors, sizeof v->anchors);
            v->n_rows = L->grid_w * L->grid_h * L->n_anchors;
            v->row_offset = off;
            off += v->n_rows;
        }
        break;
    }
    default: {
        d->n_levels = p->n_levels;
        int32_t off = 0;
        int any_kps = 0;
        for (int l = 0; l < p->n_levels; l++) {
            const ks_decode_level *L = &p->levels[l];
            ks_vdec_level *v = &d->lv[l];
            if (!in->boxes[l] || !in->scores[l] || (p->kind == KS_DECODE_YUNET && !in->objectness[l]))
                return ks__error(ctx, KS_INVALID_ARGUMENT, "decode (%s): level %d: missing %s", nm, l,
                                 !in->boxes[l] ? "bbox" : !in->scores[l] ? "scores" : "objectness");
            v->boxes = in->boxes[l];
            v->scores = in->scores[l];
            v->obj = in->objectness[l];
            v->kps = in->landmarks[l];
            any_kps |= v->kps != NULL;
            v->stride = L->stride;
            v->grid_w = L->grid_w;
            v->n_anchors = L->n_anchors;
            v->n_rows = L->grid_w * L->grid_h * L->n_anchors;
            v->row_offset = off;
            off += v->n_rows;
        }
        if (p->n_landmarks && !any_kps)
            d->n_landmarks = 0, d->out_landmarks = NULL;
        break;
    }
    }
    if (d->n_landmarks && !out->landmarks)
        d->out_landmarks = NULL;
    return KS_OK;
}

ks_status ks_decode_cpu(ks_context *ctx, const ks_decode_params *p, const ks_decode_inputs *in,
                        const ks_candidates *out) {
    if (!ctx)
        return KS_INVALID_ARGUMENT;
    ks_vdec d;
    KS_CHECK(ks__vdec_build(ctx, p, in, out, &d));
    for (int32_t b = 0; b < d.batch; b++)
        for (int32_t r = 0; r < d.n_rows; r++)
            ks_v_decode_row(&d, b, r);
    /* Rows whose landmark output was requested but the network has none: zero them. */
    if (p->n_landmarks && out->landmarks && !d.out_landmarks)
        memset(out->landmarks, 0, sizeof(float) * 2 * p->n_landmarks * (size_t)d.batch * d.n_rows);
    return KS_OK;
}

ks_status ks_decode_cuda(ks_context *ctx, const ks_decode_params *p, const ks_decode_inputs *in,
                         const ks_candidates *out, void *stream) {
    if (!ctx)
        return KS_INVALID_ARGUMENT;
#ifdef KS_HAVE_CUDA
    ks_vdec d;
    KS_CHECK(ks__vdec_build(ctx, p, in, out, &d));
    const char *msg = "";
    if (ks__vdec_cuda_launch(&d, stream, &msg))
        return ks__error(ctx, KS_DEVICE_ERROR, "decode (%s) kernel: %s", decoder_names[p->kind], msg);
    return KS_OK;
#else
    KS_UNUSED(p), KS_UNUSED(in), KS_UNUSED(out), KS_UNUSED(stream);
    return ks__error(ctx, KS_NO_DEVICE, "ks_decode_cuda: built without CUDA");
#endif
}

void ks_decode_yolov5_levels(ks_decode_params *p) {
    static const float anchors[3][3][2] = {
        {{10, 13}, {16, 30}, {33, 23}}, {{30, 61}, {62, 45}, {59, 119}}, {{116, 90}, {156, 198}, {373, 326}}};
    if (!p)
        return;
    p->n_levels = 3;
    p->n_rows = 0;
    for (int l = 0; l < 3; l++) {
        ks_decode_level *L = &p->levels[l];
        memset(L, 0, sizeof(*L));
        L->stride = 8 << l;
        L->grid_w = (p->input_w + L->stride - 1) / L->stride;
        L->grid_h = (p->input_h + L->stride - 1) / L->stride;
        L->n_anchors = 3;
        memcpy(L->anchors, anchors[l], sizeof anchors[l]);
        p->n_rows += L->grid_w * L->grid_h * 3;
    }
}

/* -------------------------------------------------------------------- priors */

void ks_prior_config_ultraface(ks_prior_config *c, int32_t w, int32_t h) {
    static const float sizes[4][3] = {{10, 16, 24}, {32, 48, 0}, {64, 96, 0}, {128, 192, 256}};
    static const int32_t n[4] = {3, 2, 2, 3};
    memset(c, 0, sizeof(*c));
    c->input_w = w;
    c->input_h = h;
    c->n_levels = 4;
    for (int l = 0; l < 4; l++) {
        c->strides[l] = 8 << l;
        c->n_sizes[l] = n[l];
        for (int k = 0; k < n[l]; k++)
            c->sizes[l][k] = sizes[l][k];
    }
    c->center_by_feature_map = 1;
    c->clip = 1;
}

void ks_prior_config_retinaface(ks_prior_config *c, int32_t w, int32_t h) {
    static const float sizes[3][2] = {{16, 32}, {64, 128}, {256, 512}};
    memset(c, 0, sizeof(*c));
    c->input_w = w;
    c->input_h = h;
    c->n_levels = 3;
    for (int l = 0; l < 3; l++) {
        c->strides[l] = 8 << l;
        c->n_sizes[l] = 2;
        c->sizes[l][0] = sizes[l][0];
        c->sizes[l][1] = sizes[l][1];
    }
    c->center_by_feature_map = 0;
    c->clip = 0;
}

static int prior_config_ok(const ks_prior_config *c) {
    if (!c || c->input_w <= 0 || c->input_h <= 0 || c->n_levels <= 0 || c->n_levels > KS_DECODE_MAX_LEVELS)
        return 0;
    for (int l = 0; l < c->n_levels; l++)
        if (c->strides[l] <= 0 || c->n_sizes[l] <= 0 || c->n_sizes[l] > 4)
            return 0;
    return 1;
}

int64_t ks_prior_count(const ks_prior_config *c) {
    if (!prior_config_ok(c))
        return -1;
    int64_t n = 0;
    for (int l = 0; l < c->n_levels; l++) {
        int64_t fw = (c->input_w + c->strides[l] - 1) / c->strides[l];
        int64_t fh = (c->input_h + c->strides[l] - 1) / c->strides[l];
        n += fw * fh * c->n_sizes[l];
    }
    return n;
}

static float clip01(float v, int clip) { return clip ? (v < 0 ? 0 : (v > 1 ? 1 : v)) : v; }

ks_status ks_prior_generate(const ks_prior_config *c, float *priors) {
    if (!prior_config_ok(c) || !priors)
        return KS_INVALID_ARGUMENT;
    float *p = priors;
    for (int l = 0; l < c->n_levels; l++) {
        int32_t s = c->strides[l];
        int32_t fw = (c->input_w + s - 1) / s, fh = (c->input_h + s - 1) / s;
        for (int32_t y = 0; y < fh; y++)
            for (int32_t x = 0; x < fw; x++)
                for (int k = 0; k < c->n_sizes[l]; k++) {
                    float cx, cy;
                    if (c->center_by_feature_map) {
                        cx = ((float)x + 0.5f) / (float)fw;
                        cy = ((float)y + 0.5f) / (float)fh;
                    } else {
                        cx = ((float)x + 0.5f) * (float)s / (float)c->input_w;
                        cy = ((float)y + 0.5f) * (float)s / (float)c->input_h;
                    }
                    *p++ = clip01(cx, c->clip);
                    *p++ = clip01(cy, c->clip);
                    *p++ = clip01(c->sizes[l][k] / (float)c->input_w, c->clip);
                    *p++ = clip01(c->sizes[l][k] / (float)c->input_h, c->clip);
                }
    }
    return KS_OK;
}
