/* BatchedNMS plugin: kestrel's NMS (ks_nms_cpu / ks_nms_cuda, written by the
 * vision pipeline) wrapped as an operator, EfficientNMS-like, through the
 * public plugin API only (kestrel/plugin.h + kestrel/vision.h).
 *
 * inputs : boxes [B, N, 4] float32 (x1, y1, x2, y2)
 *          scores [B, N] or [B, N, C] float32 (per row the best class is used)
 *          optional, in this order, told apart by dtype:
 *          classes [B, N] int32 (a class id per row; scores must then be [B, N] or [B, N, 1])
 *          landmarks [B, N, 10] float32 (5 points per row, carried through)
 * outputs: num_detections [B, 1] int32, detection_boxes [B, M, 4] float32,
 *          detection_scores [B, M] float32, detection_classes [B, M] int32
 *          (rows past num_detections are zero); with landmarks either a fifth output
 *          detection_landmarks [B, M, 10] float32, or (pack_landmarks = 1, for GPU
 *          layers, which have at most 4 outputs) detection_boxes [B, M, 4 + 10]: the box,
 *          then the landmarks of each kept row.
 * attributes: score_threshold (0.5; keep score > t), iou_threshold (0.45),
 *          top_k (5000; best candidates considered, <= 0 all), max_output
 *          (M, 100), class_aware (0: boxes of any class suppress each other),
 *          pack_landmarks (0).
 * Parameters: version 2 (32 bytes) adds pack_landmarks; version 1 (28 bytes) still loads. */
#include <string.h>

#include "kestrel/plugin.h"
#include "kestrel/vision.h"
#include "plugins/nms/nms_plugin.h"

#define NMSP_MAGIC 0x504d4e42u /* "BNMP" */
#define NMSP_VERSION 2u
#define NMSP_LM (2 * KS_MAX_LANDMARKS)

typedef struct nmsp {
    ks_context *ctx;
    float score_threshold, iou_threshold;
    int32_t top_k, max_output, class_aware, pack_landmarks;
} nmsp;

static ks_status nmsp_check(ks_context *ctx, const nmsp *p) {
    if (!(p->iou_threshold >= 0.f && p->iou_threshold <= 1.f))
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "BatchedNMS: iou_threshold %g not in [0, 1]",
                               (double)p->iou_threshold);
    if (p->score_threshold != p->score_threshold)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "BatchedNMS: score_threshold is NaN");
    if (p->max_output <= 0 || p->max_output > (1 << 20))
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "BatchedNMS: max_output %d not in 1..2^20",
                               (int)p->max_output);
    if (p->class_aware != 0 && p->class_aware != 1)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "BatchedNMS: class_aware must be 0 or 1");
    if (p->pack_landmarks != 0 && p->pack_landmarks != 1)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "BatchedNMS: pack_landmarks must be 0 or 1");
    return KS_OK;
}

static ks_status nmsp_new(ks_context *ctx, const nmsp *src, void **self) {
    ks_status st = nmsp_check(ctx, src);
    if (st != KS_OK)
        return st;
    nmsp *p = ks_plugin_alloc(ctx, sizeof(*p));
    if (!p)
        return ks_plugin_error(ctx, KS_OUT_OF_MEMORY, "BatchedNMS: out of memory");
    *p = *src;
    p->ctx = ctx;
    *self = p;
    return KS_OK;
}

static ks_status nmsp_create(ks_context *ctx, const ks_plugin_attr *attrs, int n, void **self) {
    nmsp p = {ctx, 0.5f, 0.45f, 5000, 100, 0, 0};
    static const char *const fkeys[2] = {"score_threshold", "iou_threshold"};
    static const char *const ikeys[4] = {"top_k", "max_output", "class_aware", "pack_landmarks"};
    float *fv[2] = {&p.score_threshold, &p.iou_threshold};
    int32_t *iv[4] = {&p.top_k, &p.max_output, &p.class_aware, &p.pack_landmarks};
    for (int k = 0; k < 2; k++) {
        const ks_plugin_attr *a = ks_plugin_attr_find(attrs, n, fkeys[k]);
        if (!a)
            continue;
        if (a->type != KS_PLUGIN_ATTR_FLOAT && a->type != KS_PLUGIN_ATTR_INT)
            return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "BatchedNMS: %s must be a number",
                                   fkeys[k]);
        *fv[k] = a->type == KS_PLUGIN_ATTR_FLOAT ? (float)a->f : (float)a->i;
    }
    for (int k = 0; k < 4; k++) {
        const ks_plugin_attr *a = ks_plugin_attr_find(attrs, n, ikeys[k]);
        if (!a)
            continue;
        if (a->type != KS_PLUGIN_ATTR_INT || a->i < -(1LL << 30) || a->i > (1LL << 30))
            return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "BatchedNMS: %s must be an int",
                                   ikeys[k]);
        *iv[k] = (int32_t)a->i;
    }
    return nmsp_new(ctx, &p, self);
}

/* magic, version, score_threshold, iou_threshold, top_k, max_output, class_aware,
 * pack_landmarks (version 2) */
static ks_status nmsp_serialize(const void *self, void *buf, size_t cap, size_t *n_bytes) {
    const nmsp *p = self;
    uint32_t w[8] = {NMSP_MAGIC, NMSP_VERSION, 0, 0, (uint32_t)p->top_k, (uint32_t)p->max_output,
                     (uint32_t)p->class_aware, (uint32_t)p->pack_landmarks};
    memcpy(&w[2], &p->score_threshold, 4);
    memcpy(&w[3], &p->iou_threshold, 4);
    *n_bytes = sizeof w;
    if (buf) {
        if (cap < sizeof w)
            return ks_plugin_error(p->ctx, KS_INVALID_ARGUMENT, "BatchedNMS: buffer too small");
        memcpy(buf, w, sizeof w);
    }
    return KS_OK;
}

static ks_status nmsp_deserialize(ks_context *ctx, const void *bytes, size_t n, void **self) {
    uint32_t w[8] = {0};
    if (!bytes || (n != 7 * 4 && n != 8 * 4))
        return ks_plugin_error(ctx, KS_CORRUPT_FILE, "BatchedNMS: %zu parameter bytes, need 28 (v1) or 32 (v2)", n);
    memcpy(w, bytes, n);
    if (w[0] != NMSP_MAGIC)
        return ks_plugin_error(ctx, KS_CORRUPT_FILE, "BatchedNMS: bad parameter magic");
    if (w[1] != 1u && w[1] != NMSP_VERSION)
        return ks_plugin_error(ctx, KS_VERSION_MISMATCH, "BatchedNMS: parameter version %u", w[1]);
    if ((w[1] == 1u) != (n == 7 * 4))
        return ks_plugin_error(ctx, KS_CORRUPT_FILE, "BatchedNMS: %zu parameter bytes for version %u", n, w[1]);
    nmsp p = {ctx, 0, 0, (int32_t)w[4], (int32_t)w[5], (int32_t)w[6], (int32_t)w[7]};
    memcpy(&p.score_threshold, &w[2], 4);
    memcpy(&p.iou_threshold, &w[3], 4);
    ks_status st = nmsp_check(ctx, &p);
    if (st != KS_OK) /* a bad value in a file is corruption */
        return ks_plugin_error(ctx, KS_CORRUPT_FILE, "BatchedNMS: invalid stored parameters");
    return nmsp_new(ctx, &p, self);
}

int ks__nms_plugin_peek(const void *bytes, size_t n, float *score_threshold, float *iou_threshold,
                        int32_t *top_k, int32_t *max_output, int32_t *class_aware) {
    uint32_t w[8] = {0};
    if (!bytes || (n != 28 && n != 32))
        return -1;
    memcpy(w, bytes, n);
    if (w[0] != NMSP_MAGIC || (w[1] != 1u && w[1] != 2u))
        return -1;
    memcpy(score_threshold, &w[2], 4);
    memcpy(iou_threshold, &w[3], 4);
    *top_k = (int32_t)w[4], *max_output = (int32_t)w[5], *class_aware = (int32_t)w[6];
    return 0;
}

static ks_status nmsp_clone(const void *self, void **copy) {
    const nmsp *p = self;
    return nmsp_new(p->ctx, p, copy);
}

static void nmsp_destroy(void *self) {
    nmsp *p = self;
    ks_plugin_free(p->ctx, p);
}

typedef struct nms_io {
    int64_t B, N, C; /* -1 when unknown */
    int cls_in, lm_in; /* input index of classes / landmarks, -1 = none */
} nms_io;

/* B, N, C and the optional inputs (-1 when unknown). */
static ks_status io_dims(const nmsp *p, int n_in, const ks_tensor *in, nms_io *io) {
    io->B = io->N = io->C = -1;
    io->cls_in = io->lm_in = -1;
    if (n_in < 2 || n_in > 4)
        return ks_plugin_error(p->ctx, KS_INVALID_MODEL,
                               "BatchedNMS: needs 2 to 4 inputs (boxes, scores, [classes], [landmarks]), got %d", n_in);
    const ks_tensor *bx = &in[0], *sc = &in[1];
    if (bx->dtype != KS_DTYPE_FLOAT32 || sc->dtype != KS_DTYPE_FLOAT32)
        return ks_plugin_error(p->ctx, KS_UNSUPPORTED_DTYPE, "BatchedNMS: float32 boxes and scores");
    for (int k = 2; k < n_in; k++) {
        if (in[k].dtype == KS_DTYPE_INT32 && io->cls_in < 0 && io->lm_in < 0)
            io->cls_in = k;
        else if (in[k].dtype == KS_DTYPE_FLOAT32 && io->lm_in < 0)
            io->lm_in = k;
        else
            return ks_plugin_error(p->ctx, KS_UNSUPPORTED_DTYPE,
                                   "BatchedNMS: input %d (%s): optional inputs are int32 classes [B, N] then float32 "
                                   "landmarks [B, N, 10]",
                                   k, ks_dtype_name(in[k].dtype));
    }
    if (bx->ndim < 0 || sc->ndim < 0)
        return KS_OK;
    if (bx->ndim != 3 || (bx->dims[2] != 4 && bx->dims[2] >= 0) || (sc->ndim != 2 && sc->ndim != 3))
        return ks_plugin_error(p->ctx, KS_UNSUPPORTED_SHAPE,
                               "BatchedNMS: boxes must be [B, N, 4] and scores [B, N] or [B, N, C]");
    for (int k = 0; k < 2; k++)
        if (bx->dims[k] >= 0 && sc->dims[k] >= 0 && bx->dims[k] != sc->dims[k])
            return ks_plugin_error(p->ctx, KS_UNSUPPORTED_SHAPE,
                                   "BatchedNMS: boxes and scores disagree on dim %d (%lld vs %lld)",
                                   k, (long long)bx->dims[k], (long long)sc->dims[k]);
    io->B = bx->dims[0] >= 0 ? bx->dims[0] : sc->dims[0];
    io->N = bx->dims[1] >= 0 ? bx->dims[1] : sc->dims[1];
    io->C = sc->ndim == 3 ? sc->dims[2] : 1;
    if (io->C == 0 || io->N == 0)
        return ks_plugin_error(p->ctx, KS_UNSUPPORTED_SHAPE, "BatchedNMS: no rows or classes");
    if (io->cls_in >= 0) {
        const ks_tensor *c = &in[io->cls_in];
        if (io->C > 1)
            return ks_plugin_error(p->ctx, KS_UNSUPPORTED_SHAPE,
                                   "BatchedNMS: with a classes input the scores must be [B, N], not %lld columns",
                                   (long long)io->C);
        if (c->ndim >= 0 && (c->ndim != 2 || (c->dims[0] >= 0 && io->B >= 0 && c->dims[0] != io->B) ||
                             (c->dims[1] >= 0 && io->N >= 0 && c->dims[1] != io->N)))
            return ks_plugin_error(p->ctx, KS_UNSUPPORTED_SHAPE, "BatchedNMS: classes (input %d) must be [B, N]",
                                   io->cls_in);
    }
    if (io->lm_in >= 0) {
        const ks_tensor *l = &in[io->lm_in];
        if (l->ndim >= 0 && (l->ndim != 3 || (l->dims[2] >= 0 && l->dims[2] != NMSP_LM) ||
                             (l->dims[0] >= 0 && io->B >= 0 && l->dims[0] != io->B) ||
                             (l->dims[1] >= 0 && io->N >= 0 && l->dims[1] != io->N)))
            return ks_plugin_error(p->ctx, KS_UNSUPPORTED_SHAPE,
                                   "BatchedNMS: landmarks (input %d) must be [B, N, %d]", io->lm_in, NMSP_LM);
    }
    return KS_OK;
}

static ks_status check_n_out(const nmsp *p, const nms_io *io, int n_out) {
    int want = io->lm_in >= 0 && !p->pack_landmarks ? 5 : 4;
    if (n_out != want)
        return ks_plugin_error(p->ctx, KS_INVALID_MODEL,
                               "BatchedNMS: needs %d outputs%s, got %d", want,
                               io->lm_in >= 0 ? (p->pack_landmarks ? " (landmarks packed into detection_boxes)"
                                                                   : " (the fifth is detection_landmarks)")
                                              : "",
                               n_out);
    return KS_OK;
}

static ks_status nmsp_infer(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                            int n_out, ks_tensor *out) {
    const nmsp *p = self;
    (void)ctx;
    nms_io io;
    ks_status st = io_dims(p, n_in, in, &io);
    if (st != KS_OK || (st = check_n_out(p, &io, n_out)) != KS_OK)
        return st;
    int64_t B = io.B, M = p->max_output;
    int packed = io.lm_in >= 0 && p->pack_landmarks;
    out[0].dtype = KS_DTYPE_INT32, out[0].ndim = 2, out[0].dims[0] = B, out[0].dims[1] = 1;
    out[1].dtype = KS_DTYPE_FLOAT32, out[1].ndim = 3;
    out[1].dims[0] = B, out[1].dims[1] = M, out[1].dims[2] = packed ? 4 + NMSP_LM : 4;
    out[2].dtype = KS_DTYPE_FLOAT32, out[2].ndim = 2, out[2].dims[0] = B, out[2].dims[1] = M;
    out[3].dtype = KS_DTYPE_INT32, out[3].ndim = 2, out[3].dims[0] = B, out[3].dims[1] = M;
    if (n_out == 5) {
        out[4].dtype = KS_DTYPE_FLOAT32, out[4].ndim = 3;
        out[4].dims[0] = B, out[4].dims[1] = M, out[4].dims[2] = NMSP_LM;
    }
    return KS_OK;
}

static int nmsp_supports(const void *self, int pos, int n_in, int n_out, ks_dtype dtype,
                         ks_plugin_layout layout) {
    (void)self;
    if (layout != KS_PLUGIN_LAYOUT_LINEAR || n_in < 2 || n_in > 4 || n_out < 4 || n_out > 5)
        return 0;
    if (pos >= 2 && pos < n_in) /* classes (int32) or landmarks (float32) */
        return dtype == KS_DTYPE_INT32 || dtype == KS_DTYPE_FLOAT32;
    if (pos == n_in || pos == n_in + 3)
        return dtype == KS_DTYPE_INT32;
    return dtype == KS_DTYPE_FLOAT32;
}

static void fill_params(const nmsp *p, int64_t B, int64_t N, int landmarks, ks_nms_params *q) {
    ks_nms_params_init(q);
    q->batch = (int32_t)B;
    q->n_rows = (int32_t)N;
    q->score_threshold = p->score_threshold;
    q->iou_threshold = p->iou_threshold;
    q->top_k = p->top_k;
    q->max_output = p->max_output;
    q->class_aware = p->class_aware;
    q->n_landmarks = landmarks ? KS_MAX_LANDMARKS : 0;
}

static ks_status run_shapes(const nmsp *p, int n_in, const ks_tensor *in, int n_out, nms_io *io) {
    ks_status st = io_dims(p, n_in, in, io);
    if (st != KS_OK || (st = check_n_out(p, io, n_out)) != KS_OK)
        return st;
    if (io->B <= 0 || io->N <= 0 || io->C <= 0 || io->B * io->N > (1LL << 30))
        return ks_plugin_error(p->ctx, KS_UNSUPPORTED_SHAPE, "BatchedNMS: unknown or huge shapes");
    return KS_OK;
}

static ks_status nmsp_cpu(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                          int n_out, ks_tensor *out) {
    const nmsp *p = self;
    nms_io io;
    ks_status st = run_shapes(p, n_in, in, n_out, &io);
    if (st != KS_OK)
        return st;
    int64_t B = io.B, N = io.N, C = io.C, rows = B * N, M = p->max_output;
    int packed = io.lm_in >= 0 && p->pack_landmarks;
    float *best = NULL, *tbox = NULL, *tlm = NULL;
    int32_t *cls = NULL;
    if (io.cls_in < 0) {
        best = ks_plugin_alloc(ctx, (size_t)rows * sizeof(float));
        cls = ks_plugin_alloc(ctx, (size_t)rows * sizeof(int32_t));
    }
    if (packed) {
        tbox = ks_plugin_alloc(ctx, (size_t)(B * M) * 4 * sizeof(float));
        tlm = ks_plugin_alloc(ctx, (size_t)(B * M) * NMSP_LM * sizeof(float));
    }
    if ((io.cls_in < 0 && (!best || !cls)) || (packed && (!tbox || !tlm))) {
        st = ks_plugin_error(ctx, KS_OUT_OF_MEMORY, "BatchedNMS: out of memory");
        goto done;
    }
    const float *s = in[1].data;
    if (io.cls_in < 0) {
        for (int64_t r = 0; r < rows; r++) {
            const float *q = s + r * C;
            float b = q[0];
            int32_t k = 0;
            for (int64_t c = 1; c < C; c++)
                if (q[c] > b)
                    b = q[c], k = (int32_t)c;
            best[r] = b;
            cls[r] = k;
        }
    }
    ks_nms_params q;
    fill_params(p, B, N, io.lm_in >= 0, &q);
    ks_candidates cand = {(float *)in[0].data, io.cls_in < 0 ? best : (float *)s,
                          io.cls_in < 0 ? cls : (int32_t *)in[io.cls_in].data,
                          io.lm_in >= 0 ? (float *)in[io.lm_in].data : NULL};
    ks_nms_outputs o;
    memset(&o, 0, sizeof o);
    o.counts = out[0].data;
    o.boxes = packed ? tbox : out[1].data;
    o.scores = out[2].data;
    o.classes = out[3].data;
    o.landmarks = packed ? tlm : (n_out == 5 ? out[4].data : NULL);
    st = ks_nms_cpu(ctx, &q, &cand, &o);
    if (st == KS_OK && packed) {
        float *dst = out[1].data;
        for (int64_t r = 0; r < B * M; r++) {
            memcpy(dst + r * (4 + NMSP_LM), tbox + r * 4, 4 * sizeof(float));
            memcpy(dst + r * (4 + NMSP_LM) + 4, tlm + r * NMSP_LM, NMSP_LM * sizeof(float));
        }
    }
done:
    ks_plugin_free(ctx, best);
    ks_plugin_free(ctx, cls);
    ks_plugin_free(ctx, tbox);
    ks_plugin_free(ctx, tlm);
    return st;
}

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

/* Workspace: [argmax best, cls when no classes input] [packed: boxes, landmarks] [NMS]. */
typedef struct ws_layout {
    size_t best, cls, tbox, tlm, nms, total;
} ws_layout;

static void ws_plan(const nmsp *p, const nms_io *io, ws_layout *w) {
    ks_nms_params q;
    fill_params(p, io->B, io->N, io->lm_in >= 0, &q);
    size_t rows = (size_t)(io->B * io->N), bm = (size_t)io->B * (size_t)p->max_output, o = 0;
    int packed = io->lm_in >= 0 && p->pack_landmarks;
    w->best = o, o += io->cls_in < 0 ? align256(rows * 4) : 0;
    w->cls = o, o += io->cls_in < 0 ? align256(rows * 4) : 0;
    w->tbox = o, o += packed ? align256(bm * 16) : 0;
    w->tlm = o, o += packed ? align256(bm * 4 * NMSP_LM) : 0;
    w->nms = o, o += ks_nms_cuda_workspace_bytes(&q);
    w->total = o;
}

static size_t nmsp_workspace(const void *self, int n_in, const ks_tensor *in, int n_out,
                             const ks_tensor *out) {
    const nmsp *p = self;
    (void)out;
    nms_io io;
    if (io_dims(p, n_in, in, &io) != KS_OK || check_n_out(p, &io, n_out) != KS_OK || io.B <= 0 || io.N <= 0)
        return 0;
    ws_layout w;
    ws_plan(p, &io, &w);
    return w.total;
}

static ks_status nmsp_cuda(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                           int n_out, ks_tensor *out, void *workspace, void *stream) {
#ifndef KS_HAVE_CUDA
    (void)self, (void)n_in, (void)in, (void)n_out, (void)out, (void)workspace, (void)stream;
    return ks_plugin_error(ctx, KS_NO_DEVICE, "BatchedNMS: built without CUDA");
#else
    const nmsp *p = self;
    nms_io io;
    ks_status st = run_shapes(p, n_in, in, n_out, &io);
    if (st != KS_OK)
        return st;
    if (!workspace)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_SHAPE, "BatchedNMS: no workspace");
    ws_layout w;
    ws_plan(p, &io, &w);
    char *ws = workspace;
    int packed = io.lm_in >= 0 && p->pack_landmarks;
    char err[256];
    float *best = (float *)(ws + w.best);
    int32_t *cls = (int32_t *)(ws + w.cls);
    if (io.cls_in < 0 &&
        ks__nms_plugin_argmax_cuda(in[1].data, io.B * io.N, io.C, best, cls, stream, err, sizeof err))
        return ks_plugin_error(ctx, KS_DEVICE_ERROR, "%s", err);
    ks_nms_params q;
    fill_params(p, io.B, io.N, io.lm_in >= 0, &q);
    ks_candidates cand = {(float *)in[0].data, io.cls_in < 0 ? best : (float *)in[1].data,
                          io.cls_in < 0 ? cls : (int32_t *)in[io.cls_in].data,
                          io.lm_in >= 0 ? (float *)in[io.lm_in].data : NULL};
    ks_nms_outputs o;
    memset(&o, 0, sizeof o);
    o.counts = out[0].data;
    o.boxes = packed ? (float *)(ws + w.tbox) : out[1].data;
    o.scores = out[2].data;
    o.classes = out[3].data;
    o.landmarks = packed ? (float *)(ws + w.tlm) : (n_out == 5 ? out[4].data : NULL);
    st = ks_nms_cuda(ctx, &q, &cand, &o, ws + w.nms, w.total - w.nms, stream);
    if (st != KS_OK || !packed)
        return st;
    if (ks__nms_plugin_pack_cuda((const float *)(ws + w.tbox), (const float *)(ws + w.tlm),
                                 io.B * p->max_output, NMSP_LM, out[1].data, stream, err, sizeof err))
        return ks_plugin_error(ctx, KS_DEVICE_ERROR, "%s", err);
    return KS_OK;
#endif
}

static const ks_plugin_desc nms_desc = {
    .api_version = KS_PLUGIN_API_VERSION,
    .name = "BatchedNMS",
    .version = 1, /* the descriptor version stays 1 so that engines saved before landmarks load */
    .plugin_namespace = "com.kestrel",
    .n_outputs = 0, /* 4, or 5 with separate landmarks */
    .create = nmsp_create,
    .deserialize = nmsp_deserialize,
    .serialize = nmsp_serialize,
    .clone = nmsp_clone,
    .destroy = nmsp_destroy,
    .infer_shapes = nmsp_infer,
    .supports = nmsp_supports,
    .workspace_bytes = nmsp_workspace,
    .run_cpu = nmsp_cpu,
    .run_cuda = nmsp_cuda,
};

const ks_plugin_desc *ks__nms_plugin_desc(void) { return &nms_desc; }
