/* BatchedNMS plugin: kestrel's NMS (ks_nms_cpu / ks_nms_cuda, written by the
 * vision pipeline) wrapped as an operator, EfficientNMS-like, through the
 * public plugin API only (kestrel/plugin.h + kestrel/vision.h).
 *
 * inputs : boxes [B, N, 4] float32 (x1, y1, x2, y2)
 *          scores [B, N] or [B, N, C] float32 (per row the best class is used)
 * outputs: num_detections [B, 1] int32, detection_boxes [B, M, 4] float32,
 *          detection_scores [B, M] float32, detection_classes [B, M] int32
 *          (rows past num_detections are zero)
 * attributes: score_threshold (0.5; keep score > t), iou_threshold (0.45),
 *          top_k (5000; best candidates considered, <= 0 all), max_output
 *          (M, 100), class_aware (0: boxes of any class suppress each other). */
#include <string.h>

#include "kestrel/plugin.h"
#include "kestrel/vision.h"
#include "plugins/nms/nms_plugin.h"

#define NMSP_MAGIC 0x504d4e42u /* "BNMP" */
#define NMSP_VERSION 1u

typedef struct nmsp {
    ks_context *ctx;
    float score_threshold, iou_threshold;
    int32_t top_k, max_output, class_aware;
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
    nmsp p = {ctx, 0.5f, 0.45f, 5000, 100, 0};
    static const char *const fkeys[2] = {"score_threshold", "iou_threshold"};
    static const char *const ikeys[3] = {"top_k", "max_output", "class_aware"};
    float *fv[2] = {&p.score_threshold, &p.iou_threshold};
    int32_t *iv[3] = {&p.top_k, &p.max_output, &p.class_aware};
    for (int k = 0; k < 2; k++) {
        const ks_plugin_attr *a = ks_plugin_attr_find(attrs, n, fkeys[k]);
        if (!a)
            continue;
        if (a->type != KS_PLUGIN_ATTR_FLOAT && a->type != KS_PLUGIN_ATTR_INT)
            return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "BatchedNMS: %s must be a number",
                                   fkeys[k]);
        *fv[k] = a->type == KS_PLUGIN_ATTR_FLOAT ? (float)a->f : (float)a->i;
    }
    for (int k = 0; k < 3; k++) {
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

/* magic, version, score_threshold, iou_threshold, top_k, max_output, class_aware */
static ks_status nmsp_serialize(const void *self, void *buf, size_t cap, size_t *n_bytes) {
    const nmsp *p = self;
    uint32_t w[7] = {NMSP_MAGIC, NMSP_VERSION, 0, 0, (uint32_t)p->top_k, (uint32_t)p->max_output,
                     (uint32_t)p->class_aware};
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
    uint32_t w[7];
    if (!bytes || n != sizeof w)
        return ks_plugin_error(ctx, KS_CORRUPT_FILE, "BatchedNMS: %zu parameter bytes, need %zu", n,
                               sizeof w);
    memcpy(w, bytes, sizeof w);
    if (w[0] != NMSP_MAGIC)
        return ks_plugin_error(ctx, KS_CORRUPT_FILE, "BatchedNMS: bad parameter magic");
    if (w[1] != NMSP_VERSION)
        return ks_plugin_error(ctx, KS_VERSION_MISMATCH, "BatchedNMS: parameter version %u", w[1]);
    nmsp p = {ctx, 0, 0, (int32_t)w[4], (int32_t)w[5], (int32_t)w[6]};
    memcpy(&p.score_threshold, &w[2], 4);
    memcpy(&p.iou_threshold, &w[3], 4);
    ks_status st = nmsp_check(ctx, &p);
    if (st != KS_OK) /* a bad value in a file is corruption */
        return ks_plugin_error(ctx, KS_CORRUPT_FILE, "BatchedNMS: invalid stored parameters");
    return nmsp_new(ctx, &p, self);
}

static ks_status nmsp_clone(const void *self, void **copy) {
    const nmsp *p = self;
    return nmsp_new(p->ctx, p, copy);
}

static void nmsp_destroy(void *self) {
    nmsp *p = self;
    ks_plugin_free(p->ctx, p);
}

/* B, N, C from the inputs (-1 when unknown). */
static ks_status io_dims(const nmsp *p, int n_in, const ks_tensor *in, int64_t *B, int64_t *N,
                         int64_t *C) {
    if (n_in != 2)
        return ks_plugin_error(p->ctx, KS_INVALID_MODEL, "BatchedNMS: needs 2 inputs, got %d", n_in);
    const ks_tensor *bx = &in[0], *sc = &in[1];
    if (bx->dtype != KS_DTYPE_FLOAT32 || sc->dtype != KS_DTYPE_FLOAT32)
        return ks_plugin_error(p->ctx, KS_UNSUPPORTED_DTYPE, "BatchedNMS: float32 boxes and scores");
    *B = *N = *C = -1;
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
    *B = bx->dims[0] >= 0 ? bx->dims[0] : sc->dims[0];
    *N = bx->dims[1] >= 0 ? bx->dims[1] : sc->dims[1];
    *C = sc->ndim == 3 ? sc->dims[2] : 1;
    if (*C == 0 || *N == 0)
        return ks_plugin_error(p->ctx, KS_UNSUPPORTED_SHAPE, "BatchedNMS: no rows or classes");
    return KS_OK;
}

static ks_status nmsp_infer(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                            int n_out, ks_tensor *out) {
    const nmsp *p = self;
    int64_t B = -1, N = -1, C = -1;
    ks_status st = io_dims(p, n_in, in, &B, &N, &C);
    if (st != KS_OK)
        return st;
    if (n_out != 4)
        return ks_plugin_error(ctx, KS_INVALID_MODEL, "BatchedNMS: needs 4 outputs, got %d", n_out);
    int64_t M = p->max_output;
    out[0].dtype = KS_DTYPE_INT32, out[0].ndim = 2, out[0].dims[0] = B, out[0].dims[1] = 1;
    out[1].dtype = KS_DTYPE_FLOAT32, out[1].ndim = 3;
    out[1].dims[0] = B, out[1].dims[1] = M, out[1].dims[2] = 4;
    out[2].dtype = KS_DTYPE_FLOAT32, out[2].ndim = 2, out[2].dims[0] = B, out[2].dims[1] = M;
    out[3].dtype = KS_DTYPE_INT32, out[3].ndim = 2, out[3].dims[0] = B, out[3].dims[1] = M;
    return KS_OK;
}

static int nmsp_supports(const void *self, int pos, int n_in, int n_out, ks_dtype dtype,
                         ks_plugin_layout layout) {
    (void)self;
    if (layout != KS_PLUGIN_LAYOUT_LINEAR || n_in != 2 || n_out != 4)
        return 0;
    if (pos == 2 || pos == 5)
        return dtype == KS_DTYPE_INT32;
    return dtype == KS_DTYPE_FLOAT32;
}

static void fill_params(const nmsp *p, int64_t B, int64_t N, ks_nms_params *q) {
    ks_nms_params_init(q);
    q->batch = (int32_t)B;
    q->n_rows = (int32_t)N;
    q->score_threshold = p->score_threshold;
    q->iou_threshold = p->iou_threshold;
    q->top_k = p->top_k;
    q->max_output = p->max_output;
    q->class_aware = p->class_aware;
    q->n_landmarks = 0;
}

static void fill_outputs(ks_tensor *out, ks_nms_outputs *o) {
    memset(o, 0, sizeof(*o));
    o->counts = out[0].data;
    o->boxes = out[1].data;
    o->scores = out[2].data;
    o->classes = out[3].data;
}

static ks_status nmsp_cpu(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                          int n_out, ks_tensor *out) {
    const nmsp *p = self;
    int64_t B = -1, N = -1, C = -1;
    ks_status st = io_dims(p, n_in, in, &B, &N, &C);
    if (st != KS_OK)
        return st;
    if (B < 0 || N < 0 || C < 0 || n_out != 4 || B * N > (1LL << 30))
        return ks_plugin_error(ctx, KS_UNSUPPORTED_SHAPE, "BatchedNMS: unknown or huge shapes");
    int64_t rows = B * N;
    float *best = ks_plugin_alloc(ctx, (size_t)rows * sizeof(float));
    int32_t *cls = ks_plugin_alloc(ctx, (size_t)rows * sizeof(int32_t));
    if (!best || !cls) {
        ks_plugin_free(ctx, best);
        ks_plugin_free(ctx, cls);
        return ks_plugin_error(ctx, KS_OUT_OF_MEMORY, "BatchedNMS: out of memory");
    }
    const float *s = in[1].data;
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
    ks_nms_params q;
    fill_params(p, B, N, &q);
    ks_candidates cand = {(float *)in[0].data, best, cls, NULL};
    ks_nms_outputs o;
    fill_outputs(out, &o);
    st = ks_nms_cpu(ctx, &q, &cand, &o);
    ks_plugin_free(ctx, best);
    ks_plugin_free(ctx, cls);
    return st;
}

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

static size_t ws_bytes(const nmsp *p, int64_t B, int64_t N) {
    ks_nms_params q;
    fill_params(p, B, N, &q);
    return 2 * align256((size_t)(B * N) * 4) + ks_nms_cuda_workspace_bytes(&q);
}

static size_t nmsp_workspace(const void *self, int n_in, const ks_tensor *in, int n_out,
                             const ks_tensor *out) {
    const nmsp *p = self;
    (void)n_out, (void)out;
    if (n_in != 2 || in[0].ndim != 3 || in[0].dims[0] < 0 || in[0].dims[1] < 0)
        return 0;
    return ws_bytes(p, in[0].dims[0], in[0].dims[1]);
}

static ks_status nmsp_cuda(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                           int n_out, ks_tensor *out, void *workspace, void *stream) {
#ifndef KS_HAVE_CUDA
    (void)self, (void)n_in, (void)in, (void)n_out, (void)out, (void)workspace, (void)stream;
    return ks_plugin_error(ctx, KS_NO_DEVICE, "BatchedNMS: built without CUDA");
#else
    const nmsp *p = self;
    int64_t B = -1, N = -1, C = -1;
    ks_status st = io_dims(p, n_in, in, &B, &N, &C);
    if (st != KS_OK)
        return st;
    if (B < 0 || N < 0 || C < 0 || n_out != 4 || !workspace)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_SHAPE, "BatchedNMS: unknown shapes or no workspace");
    size_t a = align256((size_t)(B * N) * 4);
    float *best = workspace;
    int32_t *cls = (int32_t *)((char *)workspace + a);
    char err[256];
    if (ks__nms_plugin_argmax_cuda(in[1].data, B * N, C, best, cls, stream, err, sizeof err))
        return ks_plugin_error(ctx, KS_DEVICE_ERROR, "%s", err);
    ks_nms_params q;
    fill_params(p, B, N, &q);
    ks_candidates cand = {(float *)in[0].data, best, cls, NULL};
    ks_nms_outputs o;
    fill_outputs(out, &o);
    return ks_nms_cuda(ctx, &q, &cand, &o, (char *)workspace + 2 * a,
                       ws_bytes(p, B, N) - 2 * a, stream);
#endif
}

static const ks_plugin_desc nms_desc = {
    .api_version = KS_PLUGIN_API_VERSION,
    .name = "BatchedNMS",
    .version = 1,
    .plugin_namespace = "com.kestrel",
    .n_outputs = 4,
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
