/* DetectionDecode plugin: kestrel's box decoders (ks_decode_cpu / ks_decode_cuda, the
 * code the vision pipeline runs) wrapped as an operator, through the public plugin API
 * only (kestrel/plugin.h + kestrel/vision.h). See README.md for the contract.
 *
 * inputs (raw network outputs, float32 or float16; priors float32):
 *   ssd     : loc [B,N,4], conf [B,N,C], (landm [B,N,10]), priors [N,4] (cx,cy,w,h normalised)
 *   corners : boxes [B,N,4] (x1,y1,x2,y2 in [0,1]), scores [B,N,C]
 *   yolo    : rows [B,N,5+C] (cx,cy,w,h in input pixels, obj, classes)
 *   yunet   : cls [B*N,1], obj [B*N,1], bbox [B*N,4], (kps [B*N,10])
 *   scrfd   : score [B*N,1], bbox [B*N,4], (kps [B*N,10])
 *   yolo_grid: one raw head per level (logits), [B,A,H,W,5+C] (layout channels_last) or
 *             [B,A*(5+C),H,W] (channels_first), H = ceil(input_h/stride), W likewise
 *   (yunet / scrfd: the levels concatenated level-major: level l holds its [B, n_l, k]
 *   rows, n_l = ceil(H/s)*ceil(W/s)*anchors, at row B*(n_0+..+n_{l-1}))
 * outputs: boxes [B,N,4] float32 (x1,y1,x2,y2, network-input pixels), scores [B,N] float32
 *   (-1 at or under score_threshold: those rows are not decoded), classes [B,N] int32,
 *   and, when the landmark input is given, landmarks [B,N,10] float32 (input pixels). */
#include <string.h>

#include "kestrel/plugin.h"
#include "kestrel/vision.h"
#include "plugins/decode/decode_plugin.h"

#define DECP_MAGIC 0x44445344u /* "DSDD" */
#define DECP_VERSION 1u  /* ssd, corners, yunet, scrfd, yolo: 26 words */
#define DECP_VERSION2 2u /* yolo_grid: the 26 words + layout, anchors per level, anchor sizes */
#define DECP_WORDS 26
#define DECP_WORDS2 (DECP_WORDS + 2 + KS_DECODE_MAX_LEVELS * 4 * 2)

/* yolo_grid layouts (attribute 'layout'); 1 and 2 match ks_detector's yolo_grid codes */
enum { GRID_AUTO = 0, GRID_CHANNELS_LAST = 1, GRID_CHANNELS_FIRST = 2 };
static const char *const layout_names[3] = {"auto", "channels_last", "channels_first"};

static const char *const kind_names[KS_BOX_DECODER_COUNT] = {"ssd", "corners", "yunet", "scrfd", "yolo", "yolo_grid"};

typedef struct decp {
    ks_context *ctx;
    int32_t kind, family, input_w, input_h, first_class, sqrt_score, n_levels;
    float score_threshold, variance[2];
    int32_t strides[KS_DECODE_MAX_LEVELS], anchors[KS_DECODE_MAX_LEVELS]; /* anchors: count per level */
    int32_t layout;                                   /* yolo_grid: GRID_* */
    float anchor_wh[KS_DECODE_MAX_LEVELS][4][2];      /* yolo_grid: anchor w, h (input pixels) */
} decp;

static int is_level_kind(int32_t k) { return k == KS_DECODE_YUNET || k == KS_DECODE_SCRFD || k == KS_DECODE_YOLO_GRID; }

static ks_status decp_check(ks_context *ctx, const decp *p) {
    if ((unsigned)p->kind >= KS_BOX_DECODER_COUNT)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode: unknown decoder %d", (int)p->kind);
    const char *nm = kind_names[p->kind];
    if ((unsigned)p->family >= KS_FAMILY_COUNT)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode (%s): unknown family %d", nm,
                               (int)p->family);
    if (p->input_w <= 0 || p->input_h <= 0 || p->input_w > 16384 || p->input_h > 16384)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR,
                               "DetectionDecode (%s): input_size %dx%d (attribute input_size = [W, H], 1..16384)", nm,
                               (int)p->input_w, (int)p->input_h);
    if (p->score_threshold != p->score_threshold)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode (%s): score_threshold is NaN", nm);
    if (p->sqrt_score != 0 && p->sqrt_score != 1)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode (%s): sqrt_score must be 0 or 1", nm);
    if (p->first_class < 0 || p->first_class > 1024)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode (%s): first_class %d", nm,
                               (int)p->first_class);
    if (!(p->variance[0] > 0 && p->variance[1] > 0 && p->variance[0] < 1e6f && p->variance[1] < 1e6f))
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode (%s): variances must be > 0", nm);
    if (is_level_kind(p->kind)) {
        if (p->n_levels <= 0 || p->n_levels > KS_DECODE_MAX_LEVELS)
            return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode (%s): %d strides (1..%d)", nm,
                                   (int)p->n_levels, KS_DECODE_MAX_LEVELS);
        int64_t rows = 0;
        for (int l = 0; l < p->n_levels; l++) {
            if (p->strides[l] <= 0 || p->strides[l] > 4096 || p->anchors[l] <= 0 || p->anchors[l] > 64)
                return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR,
                                       "DetectionDecode (%s): level %d: stride %d, anchors %d", nm, l,
                                       (int)p->strides[l], (int)p->anchors[l]);
            if (p->kind == KS_DECODE_YUNET && p->anchors[l] != 1)
                return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode (yunet): one anchor per cell");
            if (p->kind == KS_DECODE_YOLO_GRID) {
                if (p->anchors[l] > 4 || p->anchors[l] != p->anchors[0])
                    return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR,
                                           "DetectionDecode (yolo_grid): level %d: %d anchors (1..4, the same on "
                                           "every level)", l, (int)p->anchors[l]);
                for (int a = 0; a < p->anchors[l]; a++) {
                    float w = p->anchor_wh[l][a][0], h = p->anchor_wh[l][a][1];
                    if (!(w > 0 && h > 0 && w <= 1e6f && h <= 1e6f))
                        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR,
                                               "DetectionDecode (yolo_grid): level %d anchor %d is %gx%g (must be > 0)",
                                               l, a, (double)w, (double)h);
                }
            }
            int64_t gw = (p->input_w + p->strides[l] - 1) / p->strides[l];
            int64_t gh = (p->input_h + p->strides[l] - 1) / p->strides[l];
            rows += gw * gh * p->anchors[l];
        }
        if (rows > (1 << 28))
            return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode (%s): %lld rows", nm, (long long)rows);
    }
    if (p->layout < GRID_AUTO || p->layout > GRID_CHANNELS_FIRST || (p->layout && p->kind != KS_DECODE_YOLO_GRID))
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode (%s): layout %d", nm, (int)p->layout);
    return KS_OK;
}

/* yolo_grid attributes: strides (8 16 32), anchors (w,h pairs, level-major, the same count per
 * level; the standard YOLOv5 P3-P5 anchors by default), layout (auto, channels_last,
 * channels_first). */
static ks_status grid_attrs(ks_context *ctx, const ks_plugin_attr *attrs, int n, decp *p) {
    ks_decode_params dp;
    ks_decode_params_init(&dp);
    dp.input_w = dp.input_h = 640;
    ks_decode_yolov5_levels(&dp);
    p->n_levels = dp.n_levels;
    for (int l = 0; l < dp.n_levels; l++) {
        p->strides[l] = dp.levels[l].stride, p->anchors[l] = dp.levels[l].n_anchors;
        memcpy(p->anchor_wh[l], dp.levels[l].anchors, sizeof p->anchor_wh[l]);
    }
    const ks_plugin_attr *a = ks_plugin_attr_find(attrs, n, "strides");
    int custom_strides = 0;
    if (a) {
        if (a->type != KS_PLUGIN_ATTR_INTS || a->n < 1 || a->n > KS_DECODE_MAX_LEVELS)
            return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode (yolo_grid): strides must be 1..%d ints",
                                   KS_DECODE_MAX_LEVELS);
        custom_strides = a->n != 3 || a->ints[0] != 8 || a->ints[1] != 16 || a->ints[2] != 32;
        p->n_levels = (int32_t)a->n;
        for (int l = 0; l < p->n_levels; l++)
            p->strides[l] = a->ints[l] > 0 && a->ints[l] <= 4096 ? (int32_t)a->ints[l] : -1;
    }
    if ((a = ks_plugin_attr_find(attrs, n, "anchors"))) {
        int64_t cnt = a->n;
        if ((a->type != KS_PLUGIN_ATTR_FLOATS && a->type != KS_PLUGIN_ATTR_INTS) || cnt <= 0 ||
            cnt % (2 * p->n_levels) || cnt / (2 * p->n_levels) > 4)
            return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR,
                                   "DetectionDecode (yolo_grid): anchors must be w,h pairs, 1..4 per stride for %d "
                                   "strides (level-major), got %lld numbers",
                                   (int)p->n_levels, (long long)cnt);
        int na = (int)(cnt / (2 * p->n_levels));
        memset(p->anchor_wh, 0, sizeof p->anchor_wh);
        for (int l = 0; l < p->n_levels; l++) {
            p->anchors[l] = na;
            for (int k = 0; k < 2 * na; k++) {
                int64_t i = (int64_t)l * 2 * na + k;
                p->anchor_wh[l][k / 2][k % 2] = a->type == KS_PLUGIN_ATTR_FLOATS ? a->floats[i] : (float)a->ints[i];
            }
        }
    } else if (custom_strides) {
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR,
                               "DetectionDecode (yolo_grid): strides other than 8 16 32 need an 'anchors' attribute");
    }
    p->layout = GRID_AUTO;
    if ((a = ks_plugin_attr_find(attrs, n, "layout"))) {
        p->layout = -1;
        for (int k = 0; a->type == KS_PLUGIN_ATTR_STRING && a->s && k < 3; k++)
            if (!strcmp(a->s, layout_names[k]))
                p->layout = k;
        if (p->layout < 0)
            return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR,
                                   "DetectionDecode (yolo_grid): layout must be auto, channels_last ([B,A,H,W,5+C]) or "
                                   "channels_first ([B,A*(5+C),H,W])");
    }
    return KS_OK;
}

static ks_status decp_new(ks_context *ctx, const decp *src, void **self) {
    ks_status st = decp_check(ctx, src);
    if (st != KS_OK)
        return st;
    decp *p = ks_plugin_alloc(ctx, sizeof(*p));
    if (!p)
        return ks_plugin_error(ctx, KS_OUT_OF_MEMORY, "DetectionDecode: out of memory");
    *p = *src;
    p->ctx = ctx;
    *self = p;
    return KS_OK;
}

static ks_status get_int(ks_context *ctx, const ks_plugin_attr *a, int64_t lo, int64_t hi, int32_t *v) {
    if (a->type != KS_PLUGIN_ATTR_INT || a->i < lo || a->i > hi)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode: attribute %s must be an int in %lld..%lld",
                               a->key, (long long)lo, (long long)hi);
    *v = (int32_t)a->i;
    return KS_OK;
}

static ks_status decp_create(ks_context *ctx, const ks_plugin_attr *attrs, int n, void **self) {
    decp p;
    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    p.score_threshold = 0.5f;
    p.first_class = 1;
    p.variance[0] = 0.1f, p.variance[1] = 0.2f;
    const ks_plugin_attr *a = ks_plugin_attr_find(attrs, n, "decoder");
    if (!a || a->type != KS_PLUGIN_ATTR_STRING || !a->s)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR,
                               "DetectionDecode: string attribute 'decoder' (ssd, corners, yunet, scrfd, yolo, yolo_grid) is required");
    p.kind = -1;
    for (int k = 0; k < KS_BOX_DECODER_COUNT; k++)
        if (!strcmp(a->s, kind_names[k]))
            p.kind = k;
    if (p.kind < 0)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR,
                               "DetectionDecode: decoder '%s' (ssd, corners, yunet, scrfd, yolo, yolo_grid)", a->s);
    if ((a = ks_plugin_attr_find(attrs, n, "family"))) {
        ks_detector_family f;
        if (a->type != KS_PLUGIN_ATTR_STRING || !a->s || ks_detector_family_from_name(a->s, &f) != KS_OK)
            return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode: family must be a detector family name");
        p.family = (int32_t)f;
    }
    a = ks_plugin_attr_find(attrs, n, "input_size");
    if (!a || a->type != KS_PLUGIN_ATTR_INTS || a->n != 2 || a->ints[0] <= 0 || a->ints[1] <= 0 ||
        a->ints[0] > 16384 || a->ints[1] > 16384)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR,
                               "DetectionDecode: ints attribute 'input_size' = [W, H] (network input pixels) is required");
    p.input_w = (int32_t)a->ints[0], p.input_h = (int32_t)a->ints[1];
    if ((a = ks_plugin_attr_find(attrs, n, "score_threshold"))) {
        if (a->type != KS_PLUGIN_ATTR_FLOAT && a->type != KS_PLUGIN_ATTR_INT)
            return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode: score_threshold must be a number");
        p.score_threshold = a->type == KS_PLUGIN_ATTR_FLOAT ? (float)a->f : (float)a->i;
    }
    ks_status st;
    if ((a = ks_plugin_attr_find(attrs, n, "sqrt_score")) && (st = get_int(ctx, a, 0, 1, &p.sqrt_score)) != KS_OK)
        return st;
    if ((a = ks_plugin_attr_find(attrs, n, "first_class")) && (st = get_int(ctx, a, 0, 1024, &p.first_class)) != KS_OK)
        return st;
    if ((a = ks_plugin_attr_find(attrs, n, "variances"))) {
        if (a->type != KS_PLUGIN_ATTR_FLOATS || a->n != 2)
            return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode: variances must be 2 floats");
        p.variance[0] = a->floats[0], p.variance[1] = a->floats[1];
    }
    if (p.kind == KS_DECODE_YOLO_GRID) {
        if ((st = grid_attrs(ctx, attrs, n, &p)) != KS_OK)
            return st;
    } else if (is_level_kind(p.kind)) {
        p.n_levels = 3;
        for (int l = 0; l < 3; l++)
            p.strides[l] = 8 << l, p.anchors[l] = p.kind == KS_DECODE_SCRFD ? 2 : 1;
        if ((a = ks_plugin_attr_find(attrs, n, "strides"))) {
            if (a->type != KS_PLUGIN_ATTR_INTS || a->n < 1 || a->n > KS_DECODE_MAX_LEVELS)
                return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode: strides must be 1..%d ints",
                                       KS_DECODE_MAX_LEVELS);
            p.n_levels = (int32_t)a->n;
            for (int l = 0; l < p.n_levels; l++) {
                p.strides[l] = a->ints[l] > 0 && a->ints[l] <= 4096 ? (int32_t)a->ints[l] : -1;
                p.anchors[l] = p.kind == KS_DECODE_SCRFD ? 2 : 1;
            }
        }
        if ((a = ks_plugin_attr_find(attrs, n, "anchors"))) {
            if (a->type != KS_PLUGIN_ATTR_INTS || a->n != p.n_levels)
                return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "DetectionDecode: anchors must be one int per stride");
            for (int l = 0; l < p.n_levels; l++)
                p.anchors[l] = a->ints[l] > 0 && a->ints[l] <= 64 ? (int32_t)a->ints[l] : -1;
        }
    }
    return decp_new(ctx, &p, self);
}

/* Version 1 (26 words) for every decoder but yolo_grid, so their parameters are unchanged;
 * version 2 (DECP_WORDS2) for yolo_grid. Returns the word count. */
static int to_words(const decp *p, uint32_t *w) {
    int grid = p->kind == KS_DECODE_YOLO_GRID;
    memset(w, 0, sizeof(uint32_t) * DECP_WORDS2);
    w[0] = DECP_MAGIC, w[1] = grid ? DECP_VERSION2 : DECP_VERSION;
    w[2] = (uint32_t)p->kind, w[3] = (uint32_t)p->family, w[4] = (uint32_t)p->input_w, w[5] = (uint32_t)p->input_h;
    w[6] = (uint32_t)p->first_class, w[7] = (uint32_t)p->sqrt_score, w[8] = (uint32_t)p->n_levels;
    memcpy(&w[9], &p->score_threshold, 4);
    memcpy(&w[10], &p->variance[0], 4);
    memcpy(&w[11], &p->variance[1], 4);
    for (int l = 0; l < KS_DECODE_MAX_LEVELS; l++)
        w[12 + l] = (uint32_t)p->strides[l], w[17 + l] = (uint32_t)p->anchors[l];
    /* w[22..25] reserved (zero) */
    if (!grid)
        return DECP_WORDS;
    w[26] = (uint32_t)p->layout, w[27] = (uint32_t)p->anchors[0];
    memcpy(&w[28], p->anchor_wh, sizeof p->anchor_wh);
    return DECP_WORDS2;
}

static int from_words(const void *bytes, size_t n, decp *p) {
    uint32_t w[DECP_WORDS2];
    if (!bytes || n < 8)
        return -1;
    memcpy(w, bytes, 8);
    if (w[0] != DECP_MAGIC)
        return -1;
    if (w[1] != DECP_VERSION && w[1] != DECP_VERSION2)
        return -2;
    int v2 = w[1] == DECP_VERSION2;
    if (n != sizeof(uint32_t) * (v2 ? DECP_WORDS2 : DECP_WORDS))
        return -1;
    memcpy(w, bytes, n);
    memset(p, 0, sizeof(*p));
    p->kind = (int32_t)w[2], p->family = (int32_t)w[3], p->input_w = (int32_t)w[4], p->input_h = (int32_t)w[5];
    p->first_class = (int32_t)w[6], p->sqrt_score = (int32_t)w[7], p->n_levels = (int32_t)w[8];
    memcpy(&p->score_threshold, &w[9], 4);
    memcpy(&p->variance[0], &w[10], 4);
    memcpy(&p->variance[1], &w[11], 4);
    for (int l = 0; l < KS_DECODE_MAX_LEVELS; l++)
        p->strides[l] = (int32_t)w[12 + l], p->anchors[l] = (int32_t)w[17 + l];
    if ((p->kind == KS_DECODE_YOLO_GRID) != v2) /* yolo_grid needs its anchors; the others are version 1 */
        return -1;
    if (v2) {
        p->layout = (int32_t)w[26];
        memcpy(p->anchor_wh, &w[28], sizeof p->anchor_wh);
        if (p->n_levels < 1 || p->n_levels > KS_DECODE_MAX_LEVELS || (int32_t)w[27] != p->anchors[0])
            return -1;
    }
    return 0;
}

static ks_status decp_serialize(const void *self, void *buf, size_t cap, size_t *n_bytes) {
    const decp *p = self;
    uint32_t w[DECP_WORDS2];
    size_t nb = sizeof(uint32_t) * (size_t)to_words(p, w);
    *n_bytes = nb;
    if (buf) {
        if (cap < nb)
            return ks_plugin_error(p->ctx, KS_INVALID_ARGUMENT, "DetectionDecode: buffer too small");
        memcpy(buf, w, nb);
    }
    return KS_OK;
}

static ks_status decp_deserialize(ks_context *ctx, const void *bytes, size_t n, void **self) {
    decp p;
    int rc = from_words(bytes, n, &p);
    if (rc == -2)
        return ks_plugin_error(ctx, KS_VERSION_MISMATCH, "DetectionDecode: unknown parameter version");
    if (rc)
        return ks_plugin_error(ctx, KS_CORRUPT_FILE, "DetectionDecode: %zu parameter bytes or bad magic (need %zu, or %zu for "
                               "yolo_grid)", n, sizeof(uint32_t) * DECP_WORDS, sizeof(uint32_t) * DECP_WORDS2);
    if (decp_check(ctx, &p) != KS_OK) /* a bad value in a file is corruption */
        return ks_plugin_error(ctx, KS_CORRUPT_FILE, "DetectionDecode: invalid stored parameters");
    return decp_new(ctx, &p, self);
}

int ks__decode_plugin_peek(const void *bytes, size_t n, ks_decode_plugin_info *out) {
    decp p;
    if (!out || from_words(bytes, n, &p) || (unsigned)p.kind >= KS_BOX_DECODER_COUNT ||
        (unsigned)p.family >= KS_FAMILY_COUNT)
        return -1;
    out->kind = (ks_box_decoder)p.kind;
    out->family = (ks_detector_family)p.family;
    out->input_w = p.input_w;
    out->input_h = p.input_h;
    out->score_threshold = p.score_threshold;
    out->sqrt_score = p.sqrt_score;
    return 0;
}

static ks_status decp_clone(const void *self, void **copy) {
    const decp *p = self;
    return decp_new(p->ctx, p, copy);
}

static void decp_destroy(void *self) {
    decp *p = self;
    ks_plugin_free(p->ctx, p);
}

/* ------------------------------------------------------------------ shapes */

/* Rows per image for the level decoders. */
static int64_t level_rows(const decp *p, int l) {
    int64_t gw = (p->input_w + p->strides[l] - 1) / p->strides[l];
    int64_t gh = (p->input_h + p->strides[l] - 1) / p->strides[l];
    return gw * gh * p->anchors[l];
}

static int64_t total_level_rows(const decp *p) {
    int64_t r = 0;
    for (int l = 0; l < p->n_levels; l++)
        r += level_rows(p, l);
    return r;
}

typedef struct shape_info {
    int64_t B, N, C;  /* -1 unknown */
    int landmarks;    /* landmark input present */
    int layout;       /* yolo_grid: GRID_CHANNELS_LAST / _FIRST (GRID_AUTO while ranks are unknown) */
    ks_dtype dtype;   /* raw inputs */
} shape_info;

/* Product of all dims but the last, -1 if unknown. */
static int64_t lead_rows(const ks_tensor *t) {
    if (t->ndim < 1)
        return -1;
    int64_t r = 1;
    for (int i = 0; i < t->ndim - 1; i++) {
        if (t->dims[i] < 0)
            return -1;
        r *= t->dims[i];
    }
    return r;
}

#define SHAPE_ERR(...) ks_plugin_error(p->ctx, KS_UNSUPPORTED_SHAPE, __VA_ARGS__)

static ks_status check_last(const decp *p, const ks_tensor *t, int idx, const char *role, int64_t last) {
    if (t->ndim < 0)
        return KS_OK;
    if (t->ndim < 2 || (t->dims[t->ndim - 1] >= 0 && last >= 0 && t->dims[t->ndim - 1] != last)) {
        char sh[96];
        ks_shape_str(t->dims, t->ndim, sh, sizeof sh);
        return SHAPE_ERR("DetectionDecode (%s): input %d (%s) has shape [%s], its last dim must be %lld",
                         kind_names[p->kind], idx, role, sh, (long long)last);
    }
    return KS_OK;
}

/* yolo_grid: one head per level, [B,A,H,W,5+C] or [B,A*(5+C),H,W]. */
static ks_status grid_shapes(const decp *p, int n_in, const ks_tensor *in, shape_info *si) {
    if (n_in != p->n_levels)
        return ks_plugin_error(p->ctx, KS_INVALID_MODEL,
                               "DetectionDecode (yolo_grid): takes one head per stride (%d inputs), got %d",
                               (int)p->n_levels, n_in);
    si->dtype = in[0].dtype;
    si->N = total_level_rows(p);
    si->layout = p->layout;
    for (int l = 0; l < n_in; l++) {
        const ks_tensor *t = &in[l];
        if (t->dtype != si->dtype || (si->dtype != KS_DTYPE_FLOAT32 && si->dtype != KS_DTYPE_FLOAT16))
            return ks_plugin_error(p->ctx, KS_UNSUPPORTED_DTYPE,
                                   "DetectionDecode (yolo_grid): inputs must all be float32 or all float16 (input %d "
                                   "is %s)",
                                   l, ks_dtype_name(t->dtype));
        if (t->ndim < 0)
            continue;
        int lay = p->layout ? p->layout : t->ndim == 5 ? GRID_CHANNELS_LAST : GRID_CHANNELS_FIRST;
        if (si->layout && lay != si->layout)
            lay = -1;
        int32_t s = p->strides[l], A = p->anchors[l];
        int64_t gh = (p->input_h + s - 1) / s, gw = (p->input_w + s - 1) / s;
        int64_t no = -1, want[5];
        int nd = lay == GRID_CHANNELS_LAST ? 5 : 4, ok = lay > 0 && t->ndim == nd;
        if (ok) {
            no = lay == GRID_CHANNELS_LAST ? t->dims[4] : (t->dims[1] >= 0 ? t->dims[1] / A : -1);
            if (lay == GRID_CHANNELS_LAST)
                want[1] = A, want[2] = gh, want[3] = gw, want[4] = no;
            else
                want[1] = no >= 0 ? A * no : -1, want[2] = gh, want[3] = gw;
            for (int d = 1; d < nd; d++)
                ok &= t->dims[d] < 0 || want[d] < 0 || t->dims[d] == want[d];
            ok &= no < 0 || no >= 6;
        }
        if (!ok) {
            char sh[96];
            ks_shape_str(t->dims, t->ndim, sh, sizeof sh);
            return SHAPE_ERR("DetectionDecode (yolo_grid): input %d (stride %d head) has shape [%s], must be "
                             "[B,%d,%lld,%lld,5+C] (channels_last) or [B,%d*(5+C),%lld,%lld] (channels_first) for a "
                             "%dx%d input%s",
                             l, (int)s, sh, (int)A, (long long)gh, (long long)gw, (int)A, (long long)gh, (long long)gw,
                             (int)p->input_w, (int)p->input_h, lay < 0 ? " (all heads in one layout)" : "");
        }
        si->layout = lay;
        if (no >= 0) {
            if (si->C >= 0 && si->C != no - 5)
                return SHAPE_ERR("DetectionDecode (yolo_grid): input %d has %lld classes, input 0 %lld", l,
                                 (long long)(no - 5), (long long)si->C);
            si->C = no - 5;
        }
        if (t->dims[0] >= 0) {
            if (si->B >= 0 && si->B != t->dims[0])
                return SHAPE_ERR("DetectionDecode (yolo_grid): inputs disagree on the batch (%lld vs %lld)",
                                 (long long)si->B, (long long)t->dims[0]);
            si->B = t->dims[0];
        }
    }
    if (si->B == 0)
        return SHAPE_ERR("DetectionDecode (yolo_grid): no rows");
    if (si->B > 0 && si->B * si->N > (1LL << 31) - 1)
        return SHAPE_ERR("DetectionDecode (yolo_grid): %lld x %lld rows is too many", (long long)si->B,
                         (long long)si->N);
    return KS_OK;
}

/* Validates the inputs and derives B, N, C. */
static ks_status io_shapes(const decp *p, int n_in, const ks_tensor *in, shape_info *si) {
    const char *nm = kind_names[p->kind];
    si->B = si->N = si->C = -1;
    si->landmarks = 0;
    si->layout = GRID_AUTO;
    if (p->kind == KS_DECODE_YOLO_GRID)
        return grid_shapes(p, n_in, in, si);
    static const int lo[KS_BOX_DECODER_COUNT] = {3, 2, 3, 2, 1, 3}, hi[KS_BOX_DECODER_COUNT] = {4, 2, 4, 3, 1, 3};
    if (n_in < lo[p->kind] || n_in > hi[p->kind])
        return ks_plugin_error(p->ctx, KS_INVALID_MODEL,
                               "DetectionDecode (%s): takes %d%s%d inputs, got %d (see the plugin README)", nm,
                               lo[p->kind], lo[p->kind] == hi[p->kind] ? "" : " or ",
                               lo[p->kind] == hi[p->kind] ? lo[p->kind] : hi[p->kind], n_in);
    int n_raw = p->kind == KS_DECODE_SSD ? n_in - 1 : n_in;
    si->dtype = in[0].dtype;
    for (int k = 0; k < n_raw; k++)
        if (in[k].dtype != si->dtype || (si->dtype != KS_DTYPE_FLOAT32 && si->dtype != KS_DTYPE_FLOAT16))
            return ks_plugin_error(p->ctx, KS_UNSUPPORTED_DTYPE,
                                   "DetectionDecode (%s): inputs must all be float32 or all float16 (input %d is %s)",
                                   nm, k, ks_dtype_name(in[k].dtype));
    switch (p->kind) {
    case KS_DECODE_SSD:
    case KS_DECODE_CORNERS:
    case KS_DECODE_YOLO: {
        static const char *const roles[3] = {"boxes", "scores", "landmarks"};
        for (int k = 0; k < n_raw; k++) {
            const ks_tensor *t = &in[k];
            if (t->ndim < 0)
                continue;
            if (t->ndim != 3) {
                char sh[96];
                ks_shape_str(t->dims, t->ndim, sh, sizeof sh);
                return SHAPE_ERR("DetectionDecode (%s): input %d (%s) has shape [%s], must be [B, N, k]", nm, k,
                                 p->kind == KS_DECODE_YOLO ? "rows" : roles[k], sh);
            }
            for (int d = 0; d < 2; d++)
                if (t->dims[d] >= 0) {
                    int64_t *dst = d == 0 ? &si->B : &si->N;
                    if (*dst >= 0 && *dst != t->dims[d])
                        return SHAPE_ERR("DetectionDecode (%s): inputs disagree on dim %d (%lld vs %lld)", nm, d,
                                         (long long)*dst, (long long)t->dims[d]);
                    *dst = t->dims[d];
                }
        }
        if (p->kind == KS_DECODE_YOLO) {
            int64_t last = in[0].ndim == 3 ? in[0].dims[2] : -1;
            if (last >= 0 && last < 6)
                return SHAPE_ERR("DetectionDecode (yolo): rows have %lld columns (need 5 + classes)", (long long)last);
            si->C = last >= 0 ? last - 5 : -1;
        } else {
            ks_status st = check_last(p, &in[0], 0, "boxes", 4);
            if (st != KS_OK)
                return st;
            si->C = in[1].ndim == 3 ? in[1].dims[2] : -1;
            if (si->C >= 0 && si->C <= p->first_class)
                return SHAPE_ERR("DetectionDecode (%s): %lld score columns, first_class is %d", nm, (long long)si->C,
                                 (int)p->first_class);
            if (n_raw == 3) {
                si->landmarks = 1;
                if ((st = check_last(p, &in[2], 2, "landmarks", 2 * KS_MAX_LANDMARKS)) != KS_OK)
                    return st;
            }
        }
        if (p->kind == KS_DECODE_SSD) {
            const ks_tensor *pr = &in[n_in - 1];
            if (pr->dtype != KS_DTYPE_FLOAT32)
                return ks_plugin_error(p->ctx, KS_UNSUPPORTED_DTYPE, "DetectionDecode (ssd): priors must be float32");
            if (pr->ndim >= 0) {
                if (pr->ndim != 2 || (pr->dims[1] >= 0 && pr->dims[1] != 4))
                    return SHAPE_ERR("DetectionDecode (ssd): priors (input %d) must be [N, 4]", n_in - 1);
                if (pr->dims[0] >= 0 && si->N >= 0 && pr->dims[0] != si->N)
                    return SHAPE_ERR("DetectionDecode (ssd): %lld priors for %lld rows", (long long)pr->dims[0],
                                     (long long)si->N);
                if (pr->dims[0] >= 0)
                    si->N = pr->dims[0];
            }
        }
        break;
    }
    default: { /* yunet / scrfd: level-major concatenation */
        int yunet = p->kind == KS_DECODE_YUNET;
        static const char *const yroles[4] = {"cls", "obj", "bbox", "kps"}, *const sroles[3] = {"score", "bbox", "kps"};
        static const int64_t ylast[4] = {1, 1, 4, 10}, slast[3] = {1, 4, 10};
        si->N = total_level_rows(p);
        si->landmarks = n_in == (yunet ? 4 : 3);
        for (int k = 0; k < n_in; k++) {
            ks_status st = check_last(p, &in[k], k, yunet ? yroles[k] : sroles[k], yunet ? ylast[k] : slast[k]);
            if (st != KS_OK)
                return st;
            int64_t r = lead_rows(&in[k]);
            if (r < 0)
                continue;
            if (r % si->N) {
                char sh[96];
                ks_shape_str(in[k].dims, in[k].ndim, sh, sizeof sh);
                return SHAPE_ERR("DetectionDecode (%s): input %d (%s) has shape [%s]: %lld rows, not a multiple of "
                                 "the %lld rows per image of a %dx%d input",
                                 nm, k, yunet ? yroles[k] : sroles[k], sh, (long long)r, (long long)si->N,
                                 (int)p->input_w, (int)p->input_h);
            }
            if (si->B >= 0 && si->B != r / si->N)
                return SHAPE_ERR("DetectionDecode (%s): inputs disagree on the batch (%lld vs %lld images)", nm,
                                 (long long)si->B, (long long)(r / si->N));
            si->B = r / si->N;
        }
        break;
    }
    }
    if (si->N == 0 || si->B == 0)
        return SHAPE_ERR("DetectionDecode (%s): no rows", nm);
    if (si->B > 0 && si->N > 0 && si->B * si->N > (1LL << 31) - 1)
        return SHAPE_ERR("DetectionDecode (%s): %lld x %lld rows is too many", nm, (long long)si->B, (long long)si->N);
    return KS_OK;
}

static ks_status decp_infer(ks_context *ctx, const void *self, int n_in, const ks_tensor *in, int n_out,
                            ks_tensor *out) {
    const decp *p = self;
    shape_info si;
    ks_status st = io_shapes(p, n_in, in, &si);
    if (st != KS_OK)
        return st;
    int want = 3 + si.landmarks;
    if (n_out != want)
        return ks_plugin_error(ctx, KS_INVALID_MODEL,
                               "DetectionDecode (%s): needs %d outputs (boxes, scores, classes%s), got %d",
                               kind_names[p->kind], want, si.landmarks ? ", landmarks" : "", n_out);
    out[0].dtype = KS_DTYPE_FLOAT32, out[0].ndim = 3;
    out[0].dims[0] = si.B, out[0].dims[1] = si.N, out[0].dims[2] = 4;
    out[1].dtype = KS_DTYPE_FLOAT32, out[1].ndim = 2, out[1].dims[0] = si.B, out[1].dims[1] = si.N;
    out[2].dtype = KS_DTYPE_INT32, out[2].ndim = 2, out[2].dims[0] = si.B, out[2].dims[1] = si.N;
    if (si.landmarks) {
        out[3].dtype = KS_DTYPE_FLOAT32, out[3].ndim = 3;
        out[3].dims[0] = si.B, out[3].dims[1] = si.N, out[3].dims[2] = 2 * KS_MAX_LANDMARKS;
    }
    return KS_OK;
}

/* float32 everywhere (an FP16 engine casts the network outputs around it: decoded boxes
 * in pixels need more than half precision), int32 classes. */
static int decp_supports(const void *self, int pos, int n_in, int n_out, ks_dtype dtype, ks_plugin_layout layout) {
    (void)self, (void)n_out;
    if (layout != KS_PLUGIN_LAYOUT_LINEAR)
        return 0;
    if (pos == n_in + 2)
        return dtype == KS_DTYPE_INT32;
    return dtype == KS_DTYPE_FLOAT32;
}

/* Level l's stride, grid (the input size over the stride, rounded up) and anchors per cell. */
static void set_level(const decp *p, int l, ks_decode_params *q) {
    int32_t s = p->strides[l];
    q->levels[l].stride = s;
    q->levels[l].grid_w = (p->input_w + s - 1) / s;
    q->levels[l].grid_h = (p->input_h + s - 1) / s;
    q->levels[l].n_anchors = p->anchors[l];
}

/* ks_decode_params + inputs + candidates for these tensors. */
static ks_status make_call(const decp *p, int n_in, const ks_tensor *in, int n_out, ks_tensor *out,
                           ks_decode_params *q, ks_decode_inputs *di, ks_candidates *c) {
    shape_info si;
    ks_status st = io_shapes(p, n_in, in, &si);
    if (st != KS_OK)
        return st;
    if (si.B <= 0 || si.N <= 0 || (p->kind != KS_DECODE_YUNET && p->kind != KS_DECODE_SCRFD && si.C <= 0))
        return ks_plugin_error(p->ctx, KS_UNSUPPORTED_SHAPE, "DetectionDecode (%s): unknown shapes at run time",
                               kind_names[p->kind]);
    if (n_out != 3 + si.landmarks)
        return ks_plugin_error(p->ctx, KS_INVALID_MODEL, "DetectionDecode: %d outputs", n_out);
    ks_decode_params_init(q);
    q->kind = (ks_box_decoder)p->kind;
    q->batch = (int32_t)si.B;
    q->n_rows = (int32_t)si.N;
    q->input_w = p->input_w;
    q->input_h = p->input_h;
    q->first_class = p->first_class;
    q->score_threshold = p->score_threshold;
    q->score_mode = p->sqrt_score ? KS_SCORE_SQRT : KS_SCORE_PRODUCT;
    q->variance[0] = p->variance[0];
    q->variance[1] = p->variance[1];
    q->n_landmarks = si.landmarks ? KS_MAX_LANDMARKS : 0;
    q->dtype = si.dtype;
    memset(di, 0, sizeof(*di));
    size_t es = si.dtype == KS_DTYPE_FLOAT16 ? 2 : 4;
    switch (p->kind) {
    case KS_DECODE_SSD:
    case KS_DECODE_CORNERS:
        q->n_classes = (int32_t)si.C;
        di->boxes[0] = in[0].data;
        di->scores[0] = in[1].data;
        if (si.landmarks)
            di->landmarks[0] = in[2].data;
        if (p->kind == KS_DECODE_SSD)
            di->priors = in[n_in - 1].data;
        break;
    case KS_DECODE_YOLO:
        q->n_classes = (int32_t)si.C;
        q->first_class = 0;
        di->boxes[0] = in[0].data;
        break;
    case KS_DECODE_YOLO_GRID:
        q->n_classes = (int32_t)si.C;
        q->first_class = 0;
        q->n_levels = p->n_levels;
        q->yolo_channels_first = si.layout == GRID_CHANNELS_FIRST;
        for (int l = 0; l < p->n_levels; l++) {
            set_level(p, l, q);
            memcpy(q->levels[l].anchors, p->anchor_wh[l], sizeof q->levels[l].anchors);
            di->boxes[l] = in[l].data;
        }
        break;
    default: {
        int yunet = p->kind == KS_DECODE_YUNET;
        q->n_levels = p->n_levels;
        int64_t off = 0; /* rows per image before this level */
        for (int l = 0; l < p->n_levels; l++) {
            set_level(p, l, q);
            size_t base = (size_t)(si.B * off) * es; /* bytes per unit of last dim */
            if (yunet) {
                di->scores[l] = (const char *)in[0].data + base * 1;
                di->objectness[l] = (const char *)in[1].data + base * 1;
                di->boxes[l] = (const char *)in[2].data + base * 4;
                if (si.landmarks)
                    di->landmarks[l] = (const char *)in[3].data + base * 10;
            } else {
                di->scores[l] = (const char *)in[0].data + base * 1;
                di->boxes[l] = (const char *)in[1].data + base * 4;
                if (si.landmarks)
                    di->landmarks[l] = (const char *)in[2].data + base * 10;
            }
            off += level_rows(p, l);
        }
        q->n_classes = 1;
        q->first_class = 0;
        break;
    }
    }
    c->boxes = out[0].data;
    c->scores = out[1].data;
    c->classes = out[2].data;
    c->landmarks = si.landmarks ? out[3].data : NULL;
    return KS_OK;
}

static ks_status decp_cpu(ks_context *ctx, const void *self, int n_in, const ks_tensor *in, int n_out,
                          ks_tensor *out) {
    const decp *p = self;
    ks_decode_params q;
    ks_decode_inputs di;
    ks_candidates c;
    ks_status st = make_call(p, n_in, in, n_out, out, &q, &di, &c);
    if (st != KS_OK)
        return st;
    return ks_decode_cpu(ctx, &q, &di, &c);
}

static ks_status decp_cuda(ks_context *ctx, const void *self, int n_in, const ks_tensor *in, int n_out,
                           ks_tensor *out, void *workspace, void *stream) {
    const decp *p = self;
    (void)workspace;
    ks_decode_params q;
    ks_decode_inputs di;
    ks_candidates c;
    ks_status st = make_call(p, n_in, in, n_out, out, &q, &di, &c);
    if (st != KS_OK)
        return st;
    return ks_decode_cuda(ctx, &q, &di, &c, stream);
}

static const ks_plugin_desc decode_desc = {
    .api_version = KS_PLUGIN_API_VERSION,
    .name = "DetectionDecode",
    .version = 1,
    .plugin_namespace = "com.kestrel",
    .n_outputs = 0, /* 3, or 4 with landmarks */
    .create = decp_create,
    .deserialize = decp_deserialize,
    .serialize = decp_serialize,
    .clone = decp_clone,
    .destroy = decp_destroy,
    .infer_shapes = decp_infer,
    .supports = decp_supports,
    .run_cpu = decp_cpu,
    .run_cuda = decp_cuda,
};

const ks_plugin_desc *ks__decode_plugin_desc(void) { return &decode_desc; }
