/* Bad parameters for the post-processing plugins and ks_vision_append_postprocess (CPU,
 * runs under ASan+UBSan: the name holds "bad"):
 *  - DetectionDecode attributes (missing / unknown decoder, input_size, strides vs anchors,
 *    NaN threshold, variances) -> KS_UNSUPPORTED_ATTR naming the plugin;
 *  - DetectionDecode input shapes (wrong count, last dims, rows not a multiple of the
 *    per-image rows, priors count) -> errors naming the plugin and the input;
 *  - parameters round trip, corrupt and future-version bytes;
 *  - yolo_grid: attributes, head shapes and layouts, a hand-computed row, version-2 bytes;
 *  - BatchedNMS: landmarks / classes inputs, output counts, v1 (28-byte) parameters load,
 *    landmarks carried through against a hand-computed case, packed and separate;
 *  - a graph holding a DetectionDecode node fed wrong shapes: the error names the file,
 *    the node and the op;
 *  - ks_vision_append_postprocess: wrong family for the outputs, MTCNN, bad options,
 *    appending twice. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kestrel/vision.h"
#include "core/model_internal.h"
#include "plugins/decode/decode_plugin.h"
#include "plugins/nms/nms_plugin.h"
#include "plugins/registry.h"

static ks_tensor T(ks_dtype dt, int nd, int64_t d0, int64_t d1, int64_t d2) {
    ks_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.ndim = nd;
    t.dims[0] = d0, t.dims[1] = d1, t.dims[2] = d2;
    return t;
}

static int has(ks_context *ctx, const char *s) { return strstr(ks_context_last_error(ctx), s) != NULL; }

static void decode_attrs(ks_context *ctx) {
    const ks_plugin_desc *d = ks__decode_plugin_desc();
    void *self = NULL;
    int64_t sz[2] = {320, 240}, bad_sz[2] = {0, 240}, strides[3] = {8, 16, 32}, anchors2[2] = {2, 2};
    float var[2] = {0.1f, 0.2f}, badvar[2] = {0.f, 0.2f};
    ks_plugin_attr base[2] = {{.key = "decoder", .type = KS_PLUGIN_ATTR_STRING, .s = "ssd"},
                              {.key = "input_size", .type = KS_PLUGIN_ATTR_INTS, .n = 2, .ints = sz}};
    /* missing decoder, unknown decoder, missing / bad input_size */
    KS_T_CHECK(d->create(ctx, base + 1, 1, &self) == KS_UNSUPPORTED_ATTR && has(ctx, "DetectionDecode") &&
               has(ctx, "decoder"));
    ks_plugin_attr a[4] = {{.key = "decoder", .type = KS_PLUGIN_ATTR_STRING, .s = "fcos"}, base[1]};
    KS_T_CHECK(d->create(ctx, a, 2, &self) == KS_UNSUPPORTED_ATTR && has(ctx, "fcos"));
    KS_T_CHECK(d->create(ctx, base, 1, &self) == KS_UNSUPPORTED_ATTR && has(ctx, "input_size"));
    a[0] = base[0];
    a[1] = (ks_plugin_attr){.key = "input_size", .type = KS_PLUGIN_ATTR_INTS, .n = 2, .ints = bad_sz};
    KS_T_CHECK(d->create(ctx, a, 2, &self) == KS_UNSUPPORTED_ATTR);
    /* NaN threshold, bad variances, anchors not one per stride, YuNet with 2 anchors */
    a[1] = base[1];
    a[2] = (ks_plugin_attr){.key = "score_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = NAN};
    KS_T_CHECK(d->create(ctx, a, 3, &self) == KS_UNSUPPORTED_ATTR && has(ctx, "NaN"));
    a[2] = (ks_plugin_attr){.key = "variances", .type = KS_PLUGIN_ATTR_FLOATS, .n = 2, .floats = badvar};
    KS_T_CHECK(d->create(ctx, a, 3, &self) == KS_UNSUPPORTED_ATTR && has(ctx, "variances"));
    a[0].s = "scrfd";
    a[2] = (ks_plugin_attr){.key = "strides", .type = KS_PLUGIN_ATTR_INTS, .n = 3, .ints = strides};
    a[3] = (ks_plugin_attr){.key = "anchors", .type = KS_PLUGIN_ATTR_INTS, .n = 2, .ints = anchors2};
    KS_T_CHECK(d->create(ctx, a, 4, &self) == KS_UNSUPPORTED_ATTR && has(ctx, "anchors"));
    int64_t two[3] = {2, 2, 2};
    a[0].s = "yunet";
    a[3].n = 3, a[3].ints = two;
    KS_T_CHECK(d->create(ctx, a, 4, &self) == KS_UNSUPPORTED_ATTR && has(ctx, "yunet"));
    a[2].n = 3, a[2].ints = strides;
    a[1].type = KS_PLUGIN_ATTR_INT;
    KS_T_CHECK(d->create(ctx, a, 2, &self) == KS_UNSUPPORTED_ATTR);
    /* family must be a name */
    ks_plugin_attr f[3] = {base[0], base[1], {.key = "family", .type = KS_PLUGIN_ATTR_STRING, .s = "faces"}};
    KS_T_CHECK(d->create(ctx, f, 3, &self) == KS_UNSUPPORTED_ATTR && has(ctx, "family"));
    (void)var;
}

static void decode_shapes(ks_context *ctx) {
    const ks_plugin_desc *d = ks__decode_plugin_desc();
    int64_t sz[2] = {320, 240};
    ks_plugin_attr at[3] = {{.key = "decoder", .type = KS_PLUGIN_ATTR_STRING, .s = "ssd"},
                            {.key = "input_size", .type = KS_PLUGIN_ATTR_INTS, .n = 2, .ints = sz},
                            {.key = "family", .type = KS_PLUGIN_ATTR_STRING, .s = "retinaface"}};
    void *ssd = NULL;
    KS_T_CHECK_OK(ctx, d->create(ctx, at, 3, &ssd));
    if (!ssd)
        return;
    ks_tensor in[4] = {T(KS_DTYPE_FLOAT32, 3, 2, 100, 4), T(KS_DTYPE_FLOAT32, 3, 2, 100, 2),
                       T(KS_DTYPE_FLOAT32, 3, 2, 100, 10), T(KS_DTYPE_FLOAT32, 2, 100, 4, 0)};
    ks_tensor out[4];
    for (int i = 0; i < 4; i++)
        out[i] = T(KS_DTYPE_UNDEFINED, -1, 0, 0, 0);
    KS_T_CHECK_OK(ctx, d->infer_shapes(ctx, ssd, 4, in, 4, out));
    KS_T_CHECK(out[0].dims[0] == 2 && out[0].dims[1] == 100 && out[0].dims[2] == 4 && out[2].dtype == KS_DTYPE_INT32 &&
               out[3].dims[2] == 10);
    /* landmarks given but only 3 outputs */
    KS_T_CHECK(d->infer_shapes(ctx, ssd, 4, in, 3, out) == KS_INVALID_MODEL && has(ctx, "outputs"));
    /* boxes with 5 columns */
    ks_tensor w[4] = {in[0], in[1], in[2], in[3]};
    w[0].dims[2] = 5;
    KS_T_CHECK(d->infer_shapes(ctx, ssd, 4, w, 4, out) == KS_UNSUPPORTED_SHAPE && has(ctx, "input 0 (boxes)"));
    /* 99 priors for 100 rows */
    w[0] = in[0], w[3].dims[0] = 99;
    KS_T_CHECK(d->infer_shapes(ctx, ssd, 4, w, 4, out) == KS_UNSUPPORTED_SHAPE && has(ctx, "priors"));
    /* 5 inputs; 1 input; mixed dtypes */
    KS_T_CHECK(d->infer_shapes(ctx, ssd, 1, in, 3, out) == KS_INVALID_MODEL && has(ctx, "inputs"));
    w[3] = in[3], w[1].dtype = KS_DTYPE_FLOAT16;
    KS_T_CHECK(d->infer_shapes(ctx, ssd, 4, w, 4, out) == KS_UNSUPPORTED_DTYPE);
    /* serialize round trip, corrupt magic, future version, bad stored value */
    size_t nb = 0;
    KS_T_CHECK_OK(ctx, d->serialize(ssd, NULL, 0, &nb));
    unsigned char buf[256];
    KS_T_CHECK(nb <= sizeof buf);
    KS_T_CHECK_OK(ctx, d->serialize(ssd, buf, sizeof buf, &nb));
    ks_decode_plugin_info info;
    KS_T_CHECK(ks__decode_plugin_peek(buf, nb, &info) == 0 && info.family == KS_FAMILY_RETINAFACE &&
               info.input_w == 320 && info.input_h == 240 && info.kind == KS_DECODE_SSD);
    void *copy = NULL, *x = NULL;
    KS_T_CHECK_OK(ctx, d->deserialize(ctx, buf, nb, &copy));
    if (copy)
        d->destroy(copy);
    KS_T_CHECK(d->deserialize(ctx, buf, nb - 1, &x) == KS_CORRUPT_FILE);
    buf[4] = 9; /* version 9 */
    KS_T_CHECK(d->deserialize(ctx, buf, nb, &x) == KS_VERSION_MISMATCH);
    buf[4] = 1;
    buf[16] = 0, buf[17] = 0; /* input width 0 (little endian low bytes of 320) */
    buf[18] = 0, buf[19] = 0;
    KS_T_CHECK(d->deserialize(ctx, buf, nb, &x) == KS_CORRUPT_FILE);
    buf[0] ^= 0xff;
    KS_T_CHECK(d->deserialize(ctx, buf, nb, &x) == KS_CORRUPT_FILE);
    d->destroy(ssd);

    /* SCRFD: level rows of a 64x64 input: 8x8x2 + 4x4x2 + 2x2x2 = 168 per image */
    sz[0] = sz[1] = 64;
    at[0].s = "scrfd";
    at[2].s = "scrfd";
    void *sc = NULL;
    KS_T_CHECK_OK(ctx, d->create(ctx, at, 3, &sc));
    if (!sc)
        return;
    ks_tensor l[3] = {T(KS_DTYPE_FLOAT32, 2, 336, 1, 0), T(KS_DTYPE_FLOAT32, 2, 336, 4, 0),
                      T(KS_DTYPE_FLOAT32, 2, 336, 10, 0)};
    KS_T_CHECK_OK(ctx, d->infer_shapes(ctx, sc, 3, l, 4, out));
    KS_T_CHECK(out[0].dims[0] == 2 && out[0].dims[1] == 168);
    l[1].dims[0] = 335;
    KS_T_CHECK(d->infer_shapes(ctx, sc, 3, l, 4, out) == KS_UNSUPPORTED_SHAPE && has(ctx, "multiple") &&
               has(ctx, "bbox"));
    l[1].dims[0] = 168; /* batch 1 against batch 2 */
    KS_T_CHECK(d->infer_shapes(ctx, sc, 3, l, 4, out) == KS_UNSUPPORTED_SHAPE && has(ctx, "batch"));
    /* CPU run on hand-made rows: one box at row 0 of level 0 (cell 0, stride 8) */
    l[1].dims[0] = 336;
    float score[336] = {0}, bbox[336 * 4] = {0}, kps[336 * 10] = {0};
    score[0] = 0.9f;
    bbox[0] = 1, bbox[1] = 1, bbox[2] = 2, bbox[3] = 3; /* l t r b in strides */
    for (int k = 0; k < 10; k++)
        kps[k] = 0.5f * (float)k;
    l[0].data = score, l[1].data = bbox, l[2].data = kps;
    float ob[336 * 4], os[336], ol[336 * 10];
    int32_t oc[336];
    ks_tensor o2[4] = {T(KS_DTYPE_FLOAT32, 3, 2, 168, 4), T(KS_DTYPE_FLOAT32, 2, 2, 168, 0),
                       T(KS_DTYPE_INT32, 2, 2, 168, 0), T(KS_DTYPE_FLOAT32, 3, 2, 168, 10)};
    o2[0].data = ob, o2[1].data = os, o2[2].data = oc, o2[3].data = ol;
    KS_T_CHECK_OK(ctx, d->run_cpu(ctx, sc, 3, l, 4, o2));
    KS_T_CHECK(os[0] > 0.89f && os[1] < 0 && fabsf(ob[0] + 8) < 1e-5f && fabsf(ob[1] + 8) < 1e-5f &&
               fabsf(ob[2] - 16) < 1e-5f && fabsf(ob[3] - 24) < 1e-5f && fabsf(ol[2] - 8) < 1e-5f);
    d->destroy(sc);
}

/* DetectionDecode yolo_grid: attributes, head shapes, the hand-computed row of
 * test_vision_ops (stride 8, 2x1 grid, anchor 10x13, 2 classes) in both layouts through
 * run_cpu, version-2 parameters round trip and peek. */
static void grid_cases(ks_context *ctx) {
    const ks_plugin_desc *d = ks__decode_plugin_desc();
    void *self = NULL;
    int64_t sz[2] = {16, 8}, one_stride[1] = {8}, two_strides[2] = {8, 16};
    float anc[2] = {10, 13}, seven[7] = {1, 2, 3, 4, 5, 6, 7}, zero_anc[2] = {0, 13};
    ks_plugin_attr a[5] = {{.key = "decoder", .type = KS_PLUGIN_ATTR_STRING, .s = "yolo_grid"},
                           {.key = "input_size", .type = KS_PLUGIN_ATTR_INTS, .n = 2, .ints = sz},
                           {.key = "strides", .type = KS_PLUGIN_ATTR_INTS, .n = 2, .ints = two_strides},
                           {.key = "score_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = 0.25}};
    /* strides other than 8 16 32 without anchors; 7 anchor numbers; a zero anchor; bad layout */
    KS_T_CHECK(d->create(ctx, a, 3, &self) == KS_UNSUPPORTED_ATTR && has(ctx, "yolo_grid") && has(ctx, "anchors"));
    a[3] = (ks_plugin_attr){.key = "anchors", .type = KS_PLUGIN_ATTR_FLOATS, .n = 7, .floats = seven};
    KS_T_CHECK(d->create(ctx, a, 4, &self) == KS_UNSUPPORTED_ATTR && has(ctx, "anchors"));
    a[2].n = 1, a[2].ints = one_stride;
    a[3] = (ks_plugin_attr){.key = "anchors", .type = KS_PLUGIN_ATTR_FLOATS, .n = 2, .floats = zero_anc};
    KS_T_CHECK(d->create(ctx, a, 4, &self) == KS_UNSUPPORTED_ATTR && has(ctx, "anchor 0"));
    a[3].floats = anc;
    a[4] = (ks_plugin_attr){.key = "layout", .type = KS_PLUGIN_ATTR_STRING, .s = "nhwc"};
    KS_T_CHECK(d->create(ctx, a, 5, &self) == KS_UNSUPPORTED_ATTR && has(ctx, "layout"));
    /* one level, anchor 10x13, layout auto */
    a[4] = (ks_plugin_attr){.key = "score_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = 0.25};
    KS_T_CHECK_OK(ctx, d->create(ctx, a, 5, &self));
    if (!self)
        return;
    float g[14] = {0, 0, 0, 0, -10, 0, 0, 0, 0, 0, 0, 10, -10, 0}, gcf[14];
    for (int k = 0; k < 7; k++)
        gcf[k * 2] = g[k], gcf[k * 2 + 1] = g[7 + k];
    ks_tensor in[2], out[3];
    float ob[8], os[2];
    int32_t oc[2];
    for (int cf = 0; cf < 2; cf++) {
        memset(&in[0], 0, sizeof in[0]);
        in[0].dtype = KS_DTYPE_FLOAT32;
        if (cf)
            in[0].ndim = 4, in[0].dims[0] = 1, in[0].dims[1] = 7, in[0].dims[2] = 1, in[0].dims[3] = 2;
        else
            in[0].ndim = 5, in[0].dims[0] = 1, in[0].dims[1] = 1, in[0].dims[2] = 1, in[0].dims[3] = 2,
            in[0].dims[4] = 7;
        in[0].data = cf ? gcf : g;
        out[0] = T(KS_DTYPE_FLOAT32, 3, 1, 2, 4), out[1] = T(KS_DTYPE_FLOAT32, 2, 1, 2, 0);
        out[2] = T(KS_DTYPE_INT32, 2, 1, 2, 0);
        KS_T_CHECK_OK(ctx, d->infer_shapes(ctx, self, 1, in, 3, out));
        KS_T_CHECK(out[0].dims[0] == 1 && out[0].dims[1] == 2 && out[1].dims[1] == 2);
        out[0].data = ob, out[1].data = os, out[2].data = oc;
        KS_T_CHECK_OK(ctx, d->run_cpu(ctx, self, 1, in, 3, out));
        KS_T_CHECK(os[0] < 0 && oc[1] == 1);
        KS_T_CHECK_NEAR(os[1], 0.5 / (1 + exp(-10.0)), 1e-6);
        KS_T_CHECK_NEAR(ob[4], 7, 1e-4);
        KS_T_CHECK_NEAR(ob[5], -2.5, 1e-4);
        KS_T_CHECK_NEAR(ob[6], 17, 1e-4);
        KS_T_CHECK_NEAR(ob[7], 10.5, 1e-4);
    }
    /* wrong grid (3 cells), two heads for one stride, 5 columns */
    in[0].dims[3] = 3;
    KS_T_CHECK(d->infer_shapes(ctx, self, 1, in, 3, out) == KS_UNSUPPORTED_SHAPE && has(ctx, "input 0") &&
               has(ctx, "stride 8"));
    in[0].dims[3] = 2;
    in[1] = in[0];
    KS_T_CHECK(d->infer_shapes(ctx, self, 2, in, 3, out) == KS_INVALID_MODEL && has(ctx, "one head per stride"));
    in[0].dims[1] = 5;
    KS_T_CHECK(d->infer_shapes(ctx, self, 1, in, 3, out) == KS_UNSUPPORTED_SHAPE);
    /* version-2 parameters: round trip, peek, truncated, as version 1 */
    unsigned char buf[512];
    size_t nb = 0;
    KS_T_CHECK_OK(ctx, d->serialize(self, buf, sizeof buf, &nb));
    KS_T_CHECK(nb > 104 && nb <= sizeof buf);
    ks_decode_plugin_info info;
    KS_T_CHECK(ks__decode_plugin_peek(buf, nb, &info) == 0 && info.kind == KS_DECODE_YOLO_GRID && info.input_w == 16);
    void *copy = NULL, *x = NULL;
    KS_T_CHECK_OK(ctx, d->deserialize(ctx, buf, nb, &copy));
    if (copy) {
        in[0].dims[1] = 7;
        out[0].data = ob, out[1].data = os, out[2].data = oc;
        memset(os, 0, sizeof os);
        KS_T_CHECK_OK(ctx, d->run_cpu(ctx, copy, 1, in, 3, out));
        KS_T_CHECK_NEAR(os[1], 0.5 / (1 + exp(-10.0)), 1e-6);
        KS_T_CHECK_NEAR(ob[6], 17, 1e-4);
        d->destroy(copy);
    }
    KS_T_CHECK(d->deserialize(ctx, buf, 104, &x) == KS_CORRUPT_FILE);
    buf[4] = 1; /* version 1 cannot hold anchors */
    KS_T_CHECK(d->deserialize(ctx, buf, nb, &x) == KS_CORRUPT_FILE);
    d->destroy(self);
    /* defaults: strides 8 16 32, the YOLOv5 anchors; 3 heads of a 64x32 input */
    int64_t sz2[2] = {64, 32};
    ks_plugin_attr b[2] = {a[0], {.key = "input_size", .type = KS_PLUGIN_ATTR_INTS, .n = 2, .ints = sz2}};
    KS_T_CHECK_OK(ctx, d->create(ctx, b, 2, &self));
    if (!self)
        return;
    ks_tensor h[3];
    for (int l = 0; l < 3; l++) {
        memset(&h[l], 0, sizeof h[l]);
        h[l].dtype = KS_DTYPE_FLOAT16, h[l].ndim = 4;
        h[l].dims[0] = 2, h[l].dims[1] = 255, h[l].dims[2] = 4 >> l, h[l].dims[3] = 8 >> l;
    }
    KS_T_CHECK_OK(ctx, d->infer_shapes(ctx, self, 3, h, 3, out));
    KS_T_CHECK(out[0].dims[0] == 2 && out[0].dims[1] == 3 * (32 + 8 + 2));
    h[2].ndim = 5, h[2].dims[1] = 3, h[2].dims[4] = 85; /* mixed layouts */
    KS_T_CHECK(d->infer_shapes(ctx, self, 3, h, 3, out) == KS_UNSUPPORTED_SHAPE && has(ctx, "one layout"));
    d->destroy(self);
    ks_context_clear_error(ctx);
}

static void nms_cases(ks_context *ctx) {
    const ks_plugin_desc *d = ks__nms_plugin_desc();
    ks_plugin_attr at[4] = {{.key = "score_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = 0.1},
                            {.key = "iou_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = 0.5},
                            {.key = "max_output", .type = KS_PLUGIN_ATTR_INT, .i = 3},
                            {.key = "pack_landmarks", .type = KS_PLUGIN_ATTR_INT, .i = 2}};
    void *self = NULL, *packed = NULL;
    KS_T_CHECK(d->create(ctx, at, 4, &self) == KS_UNSUPPORTED_ATTR && has(ctx, "pack_landmarks"));
    KS_T_CHECK_OK(ctx, d->create(ctx, at, 3, &self));
    at[3].i = 1;
    KS_T_CHECK_OK(ctx, d->create(ctx, at, 4, &packed));
    if (!self || !packed)
        return;
    enum { N = 4 };
    float boxes[N * 4] = {0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30, 40, 40, 50, 50};
    float scores[N] = {0.9f, 0.8f, 0.7f, 0.05f};
    int32_t classes[N] = {3, 3, 7, 1};
    float lm[N * 10];
    for (int i = 0; i < N * 10; i++)
        lm[i] = (float)i;
    ks_tensor in[4] = {T(KS_DTYPE_FLOAT32, 3, 1, N, 4), T(KS_DTYPE_FLOAT32, 2, 1, N, 0), T(KS_DTYPE_INT32, 2, 1, N, 0),
                       T(KS_DTYPE_FLOAT32, 3, 1, N, 10)};
    in[0].data = boxes, in[1].data = scores, in[2].data = classes, in[3].data = lm;
    ks_tensor out[5];
    for (int i = 0; i < 5; i++)
        out[i] = T(KS_DTYPE_UNDEFINED, -1, 0, 0, 0);
    /* landmarks need a fifth output (or pack_landmarks) */
    KS_T_CHECK(d->infer_shapes(ctx, self, 4, in, 4, out) == KS_INVALID_MODEL && has(ctx, "detection_landmarks"));
    KS_T_CHECK_OK(ctx, d->infer_shapes(ctx, self, 4, in, 5, out));
    KS_T_CHECK(out[4].ndim == 3 && out[4].dims[1] == 3 && out[4].dims[2] == 10);
    KS_T_CHECK(d->infer_shapes(ctx, packed, 4, in, 5, out) == KS_INVALID_MODEL);
    KS_T_CHECK_OK(ctx, d->infer_shapes(ctx, packed, 4, in, 4, out));
    KS_T_CHECK(out[1].dims[2] == 14);
    /* landmarks of width 8; classes with [B,N,C>1] scores; float classes after landmarks */
    ks_tensor w[4] = {in[0], in[1], in[2], in[3]};
    w[3].dims[2] = 8;
    KS_T_CHECK(d->infer_shapes(ctx, self, 4, w, 5, out) == KS_UNSUPPORTED_SHAPE && has(ctx, "landmarks"));
    w[3] = in[3];
    w[1] = T(KS_DTYPE_FLOAT32, 3, 1, N, 2);
    KS_T_CHECK(d->infer_shapes(ctx, self, 4, w, 5, out) == KS_UNSUPPORTED_SHAPE && has(ctx, "classes"));
    ks_tensor w3[3] = {in[0], in[1], in[3]}; /* boxes, scores, landmarks (no classes): fine */
    KS_T_CHECK_OK(ctx, d->infer_shapes(ctx, self, 3, w3, 5, out));
    w3[2] = T(KS_DTYPE_INT64, 2, 1, N, 0);
    KS_T_CHECK(d->infer_shapes(ctx, self, 3, w3, 4, out) == KS_UNSUPPORTED_DTYPE);
    /* run: separate landmarks. Row 1 overlaps row 0 (IoU 0.68) and goes; row 3 is under the
       threshold: kept rows 0 and 2, with their classes and landmarks */
    int32_t cnt;
    float ob[3 * 14], os[3], ol[3 * 10];
    int32_t oc[3];
    ks_tensor o5[5] = {T(KS_DTYPE_INT32, 2, 1, 1, 0), T(KS_DTYPE_FLOAT32, 3, 1, 3, 4), T(KS_DTYPE_FLOAT32, 2, 1, 3, 0),
                       T(KS_DTYPE_INT32, 2, 1, 3, 0), T(KS_DTYPE_FLOAT32, 3, 1, 3, 10)};
    o5[0].data = &cnt, o5[1].data = ob, o5[2].data = os, o5[3].data = oc, o5[4].data = ol;
    KS_T_CHECK_OK(ctx, d->run_cpu(ctx, self, 4, in, 5, o5));
    KS_T_CHECK(cnt == 2 && oc[0] == 3 && oc[1] == 7 && ob[4] == 20 && ol[0] == 0 && ol[10] == 20 && ol[19] == 29 &&
               os[2] == 0 && ol[20] == 0);
    /* packed */
    memset(ob, 0xff, sizeof ob);
    o5[1] = T(KS_DTYPE_FLOAT32, 3, 1, 3, 14);
    o5[1].data = ob;
    KS_T_CHECK_OK(ctx, d->run_cpu(ctx, packed, 4, in, 4, o5));
    KS_T_CHECK(cnt == 2 && ob[0] == 0 && ob[3] == 10 && ob[4] == 0 && ob[13] == 9 && ob[14] == 20 && ob[18] == 20 &&
               ob[27] == 29 && ob[28] == 0 && ob[41] == 0);
    /* version-1 parameters (28 bytes, before landmarks) still load */
    uint32_t v1[7] = {0x504d4e42u, 1u, 0, 0, 100u, 50u, 1u};
    float st = 0.25f, it = 0.5f;
    memcpy(&v1[2], &st, 4);
    memcpy(&v1[3], &it, 4);
    void *old = NULL;
    KS_T_CHECK_OK(ctx, d->deserialize(ctx, v1, sizeof v1, &old));
    if (old)
        d->destroy(old);
    v1[1] = 2u; /* version 2 needs 32 bytes */
    KS_T_CHECK(d->deserialize(ctx, v1, sizeof v1, &old) == KS_CORRUPT_FILE);
    v1[1] = 3u;
    KS_T_CHECK(d->deserialize(ctx, v1, sizeof v1, &old) == KS_VERSION_MISMATCH);
    d->destroy(self);
    d->destroy(packed);
}

/* A graph with a DetectionDecode node fed [1,10,5] boxes: the import fails naming the
 * node and the op. */
static void node_error(ks_context *ctx) {
    KS_T_CHECK_OK(ctx, ks_vision_register_plugins(ctx));
    ks_graph *g = NULL;
    KS_T_CHECK_OK(ctx, ks__graph_create(ctx, "synthetic.onnx", &g));
    if (!g)
        return;
    int vb, vs, vp, ob, os, oc;
    ks__graph_add_value(g, "boxes", 0, &vb);
    ks__graph_add_value(g, "scores", 0, &vs);
    g->values[vb].t = T(KS_DTYPE_FLOAT32, 3, 1, 10, 5);
    g->values[vs].t = T(KS_DTYPE_FLOAT32, 3, 1, 10, 2);
    float pri[40] = {0};
    ks_tensor pt = T(KS_DTYPE_FLOAT32, 2, 10, 4, 0);
    pt.data = pri;
    ks__graph_add_const(g, "priors", &pt, &vp);
    ks__graph_add_value(g, "db", 0, &ob);
    ks__graph_add_value(g, "ds", 0, &os);
    ks__graph_add_value(g, "dc", 0, &oc);
    int64_t sz[2] = {64, 64};
    ks_plugin_attr at[2] = {{.key = "decoder", .type = KS_PLUGIN_ATTR_STRING, .s = "ssd"},
                            {.key = "input_size", .type = KS_PLUGIN_ATTR_INTS, .n = 2, .ints = sz}};
    ks_plugin_node *pn = NULL;
    KS_T_CHECK_OK(ctx, ks__plugin_node_create(ctx, "com.kestrel", "DetectionDecode", at, 2, &pn));
    int ins[3] = {vb, vs, vp}, outs[3] = {ob, os, oc}, idx = -1;
    KS_T_CHECK_OK(ctx, ks__graph_add_node(g, "my_decode", "DetectionDecode", "com.kestrel", 1, 3, ins, 3, outs, &idx));
    if (idx >= 0) {
        g->nodes[idx].op = KS_OP_PLUGIN;
        g->nodes[idx].plugin = pn;
    } else {
        ks__plugin_node_free(ctx, pn);
    }
    ks_status st = ks__graph_infer_and_fold(g, 1);
    KS_T_CHECK_MSG(st == KS_UNSUPPORTED_SHAPE && has(ctx, "synthetic.onnx") && has(ctx, "my_decode") &&
                       has(ctx, "DetectionDecode") && has(ctx, "last dim must be 4"),
                   "%s: %s", ks_status_name(st), ks_context_last_error(ctx));
    ks__graph_destroy(g);
}

static void append_errors(ks_context *ctx) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ultraface/version-RFB-320.onnx", ks_t_models_dir());
    ks_model *m = NULL;
    if (ks_model_load_file(ctx, path, NULL, &m) != KS_OK) {
        fprintf(stderr, "skipping the model cases: %s\n", ks_context_last_error(ctx));
        return;
    }
    ks_status st = ks_vision_append_postprocess(m, KS_FAMILY_YOLOV5, NULL);
    KS_T_CHECK_MSG(st == KS_INVALID_MODEL && has(ctx, "yolov5") && has(ctx, "version-RFB-320.onnx"), "%s",
                   ks_context_last_error(ctx));
    ks_model_destroy(m);
    KS_T_CHECK_OK(ctx, ks_model_load_file(ctx, path, NULL, &m));
    KS_T_CHECK(ks_vision_append_postprocess(m, KS_FAMILY_MTCNN, NULL) == KS_UNSUPPORTED_OP && has(ctx, "MTCNN"));
    ks_detector_options o;
    ks_detector_options_init(&o);
    o.nms_threshold = 2.0f;
    KS_T_CHECK(ks_vision_append_postprocess(m, KS_FAMILY_ULTRAFACE, &o) == KS_INVALID_ARGUMENT);
    ks_detector_options_init(&o);
    o.postprocess = 7;
    KS_T_CHECK(ks_vision_append_postprocess(m, KS_FAMILY_ULTRAFACE, &o) == KS_INVALID_ARGUMENT &&
               has(ctx, "postprocess 7"));
    ks_detector_options_init(&o);
    o.input_width = 640; /* fixed 320x240 model */
    o.input_height = 480;
    KS_T_CHECK(ks_vision_append_postprocess(m, KS_FAMILY_ULTRAFACE, &o) == KS_UNSUPPORTED_SHAPE);
    KS_T_CHECK(ks_vision_append_postprocess(m, (ks_detector_family)99, NULL) == KS_INVALID_ARGUMENT);
    KS_T_CHECK(ks_vision_append_postprocess(NULL, KS_FAMILY_AUTO, NULL) == KS_INVALID_ARGUMENT);
    KS_T_CHECK_OK(ctx, ks_vision_append_postprocess(m, KS_FAMILY_AUTO, NULL));
    KS_T_CHECK(ks_vision_append_postprocess(m, KS_FAMILY_AUTO, NULL) == KS_INVALID_ARGUMENT && has(ctx, "already"));
    ks_model_destroy(m);
}

int main(void) {
    ks_context *ctx = NULL;
    KS_T_CHECK(ks_context_create(NULL, &ctx) == KS_OK);
    decode_attrs(ctx);
    decode_shapes(ctx);
    grid_cases(ctx);
    nms_cases(ctx);
    node_error(ctx);
    append_errors(ctx);
    ks_context_destroy(ctx);
    return ks_t_done();
}
