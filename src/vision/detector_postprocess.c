/* Post-processing appended to a detector model: the raw outputs feed a DetectionDecode
 * plugin node and a BatchedNMS plugin node (src/plugins/decode, src/plugins/nms), whose
 * fixed-size results become the model outputs:
 *
 *   num_detections [B,1] int32, detection_boxes [B,M,4], detection_scores [B,M],
 *   detection_classes [B,M] int32, detection_landmarks [B,M,10] (families with landmarks)
 *
 * in network-input pixels. The CPU session and ks_engine_build then run network + decode
 * + NMS as one graph; only the per-image inverse preprocessing transform of the <= M kept
 * boxes is left to the caller (ks_detector does it on the host).
 *
 * Graph shape (names prefixed "ks_postprocess/"):
 *   SSD        loc, conf, (landm), priors (constant [N,4])          -> decode
 *   corners    boxes, scores                                        -> decode
 *   YOLOv5     rows                                                 -> decode
 *   YOLOv5 raw heads, one per stride (8, 16, 32), as they are           -> decode (yolo_grid: 3 inputs)
 *   YuNet      cls/obj/bbox/kps per level: Reshape [B*n_l, k] -> Concat(axis 0) -> decode
 *   SCRFD      score/bbox/kps per level:  idem (level-major: GPU plugin layers take at most 8 inputs)
 *   decode -> boxes, scores, classes, (landmarks) -> BatchedNMS
 *   with landmarks: BatchedNMS(pack_landmarks=1) -> [B,M,14] -> Split(axis 2, [4, 10])
 *   (GPU plugin layers have at most 4 outputs, so the NMS packs landmarks after the box). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/model_internal.h"
#include "plugins/decode/decode_plugin.h"
#include "plugins/nms/nms_plugin.h"
#include "plugins/registry.h"
#include "vision/detector_internal.h"

static const char *const pp_out_names[KS_PP_OUTPUTS] = {"num_detections", "detection_boxes", "detection_scores",
                                                        "detection_classes", "detection_landmarks"};

const char *ks__pp_output_name(int i) { return i >= 0 && i < KS_PP_OUTPUTS ? pp_out_names[i] : NULL; }

ks_status ks_vision_register_plugins(ks_context *ctx) {
    if (!ctx)
        return KS_INVALID_ARGUMENT;
    if (!ks_plugin_find(ctx, "com.kestrel", "DetectionDecode"))
        KS_CHECK(ks_plugin_register(ctx, ks__decode_plugin_desc()));
    if (!ks_plugin_find(ctx, "com.kestrel", "BatchedNMS"))
        KS_CHECK(ks_plugin_register(ctx, ks__nms_plugin_desc()));
    return KS_OK;
}

int ks__det_io_postprocessed(const ks_det_io *io, int idx[KS_PP_OUTPUTS]) {
    int found = 0;
    for (int k = 0; k < KS_PP_OUTPUTS; k++) {
        idx[k] = -1;
        for (int i = 0; i < io->n_outputs; i++)
            if (!strcmp(io->out_names[i], pp_out_names[k]))
                idx[k] = i;
        found += idx[k] >= 0;
    }
    return idx[0] >= 0 && idx[1] >= 0 && idx[2] >= 0 && idx[3] >= 0 ? found : 0;
}

/* --------------------------------------------------------------- graph edits */

typedef struct pp_builder {
    ks_detector *d;
    ks_graph *g;
    int64_t batch;
} pp_builder;

static ks_status new_value(pp_builder *b, const char *name, int *id) {
    char full[256];
    snprintf(full, sizeof full, "ks_postprocess/%s", name);
    return ks__graph_add_value(b->g, full, 0, id);
}

static ks_status const_i64(pp_builder *b, const char *name, int n, const int64_t *vals, int *id) {
    char full[256];
    snprintf(full, sizeof full, "ks_postprocess/%s", name);
    ks_tensor t = {KS_DTYPE_INT64, 1, {n}, (void *)vals};
    return ks__graph_add_const(b->g, full, &t, id);
}

static ks_status add_node(pp_builder *b, const char *name, const char *op, const char *domain, int n_in,
                          const int *ins, int n_out, const int *outs, int *idx) {
    char full[256];
    snprintf(full, sizeof full, "ks_postprocess/%s", name);
    return ks__graph_add_node(b->g, full, op, domain, domain && *domain ? 1 : b->g->opset, n_in, ins, n_out, outs,
                              idx);
}

static ks_status add_int_attr(pp_builder *b, int node, const char *key, int64_t v) {
    ks_attr a;
    memset(&a, 0, sizeof a);
    a.name = (char *)key;
    a.type = KS_ATTR_INT;
    a.i = v;
    return ks__node_add_attr(b->g, node, &a);
}

/* One role of a level family (cls, obj, bbox, kps): per level Reshape to [B*n_l, k], then
 * Concat over axis 0 (level-major). */
static ks_status concat_levels(pp_builder *b, const char *role, const int *outs, int n_levels, int64_t last,
                               int *value) {
    int parts[KS_DECODE_MAX_LEVELS];
    for (int l = 0; l < n_levels; l++) {
        int src = b->g->outputs[outs[l]];
        int64_t shape[2] = {-1, last}; /* any batch: the rows stay image-major */
        char nm[64];
        int sh, idx;
        snprintf(nm, sizeof nm, "%s_%d_shape", role, l);
        KS_CHECK(const_i64(b, nm, 2, shape, &sh));
        snprintf(nm, sizeof nm, "%s_%d", role, l);
        KS_CHECK(new_value(b, nm, &parts[l]));
        int ins[2] = {src, sh};
        snprintf(nm, sizeof nm, "reshape_%s_%d", role, l);
        KS_CHECK(add_node(b, nm, "Reshape", "", 2, ins, 1, &parts[l], &idx));
    }
    char nm[64];
    int idx;
    snprintf(nm, sizeof nm, "%s", role);
    KS_CHECK(new_value(b, nm, value));
    snprintf(nm, sizeof nm, "concat_%s", role);
    KS_CHECK(add_node(b, nm, "Concat", "", n_levels, parts, 1, value, &idx));
    return add_int_attr(b, idx, "axis", 0);
}

/* Adds a plugin node whose instance is created now from attrs. */
static ks_status add_plugin_node(pp_builder *b, const char *name, const char *op, const ks_plugin_attr *attrs,
                                 int n_attrs, int n_in, const int *ins, int n_out, const int *outs) {
    ks_plugin_node *pn = NULL;
    ks_status st = ks__plugin_node_create(b->g->ctx, "com.kestrel", op, attrs, n_attrs, &pn);
    if (st != KS_OK)
        return ks__error_prefix(b->g->ctx, "%s: appending %s", b->g->source, op);
    int idx;
    st = add_node(b, name, op, "com.kestrel", n_in, ins, n_out, outs, &idx);
    if (st != KS_OK) {
        ks__plugin_node_free(b->g->ctx, pn);
        return st;
    }
    b->g->nodes[idx].op = KS_OP_PLUGIN;
    b->g->nodes[idx].plugin = pn;
    return KS_OK;
}

static const char *const decoder_attr_names[KS_BOX_DECODER_COUNT] = {"ssd", "corners", "yunet", "scrfd", "yolo", "yolo_grid"};

ks_status ks__detector_append_postprocess(ks_detector *d) {
    ks_context *ctx = d->ctx;
    ks_graph *g = d->model->graph;
    /* the graph's current shapes (the input may have been fixed or re-batched since) */
    KS_CHECK(ks_model_optimize(d->model));
    KS_CHECK(ks__det_io_from_model(ctx, d->model, &d->io));
    KS_CHECK(ks__detector_setup_outputs(d));
    if (!d->opt.keep_graph_decode && ks__ultraface_strip_decode(d)) {
        /* the decode chain is dead now: removed, and the outputs read again */
        KS_CHECK(ks_model_optimize(d->model));
        KS_CHECK(ks__det_io_from_model(ctx, d->model, &d->io));
        KS_CHECK(ks__detector_setup_outputs(d));
        ks__log(ctx, KS_LOG_INFO, "%s: in-graph box decode left to the DetectionDecode plugin", d->path);
    }
    pp_builder b = {d, g, d->io.in_dims[0]};
    if (b.batch <= 0)
        return ks__error(ctx, KS_UNSUPPORTED_SHAPE, "%s: the batch must be known to append post-processing", d->path);
    KS_CHECK(ks_vision_register_plugins(ctx));
    ks_decode_params p;
    KS_CHECK(ks__detector_decode_params(d, (int32_t)b.batch, (const int64_t(*)[KS_MAX_DIMS])d->io.out_dims,
                                        d->io.out_ndim, d->io.out_dtype, &p));
    /* decode inputs */
    int ins[8], n_in = 0, landmarks = 0;
    switch (p.kind) {
    case KS_DECODE_SSD:
    case KS_DECODE_CORNERS: {
        ins[n_in++] = g->outputs[d->o_boxes[0]];
        ins[n_in++] = g->outputs[d->o_scores[0]];
        if (p.kind == KS_DECODE_SSD && d->o_kps[0] >= 0)
            ins[n_in++] = g->outputs[d->o_kps[0]], landmarks = 1;
        if (p.kind == KS_DECODE_SSD) {
            if (!d->priors || d->n_priors != p.n_rows)
                return ks__error(ctx, KS_INTERNAL, "%s: priors for the SSD decode", d->path);
            ks_tensor t = {KS_DTYPE_FLOAT32, 2, {d->n_priors, 4}, d->priors};
            KS_CHECK(ks__graph_add_const(g, "ks_postprocess/priors", &t, &ins[n_in]));
            n_in++;
        }
        break;
    }
    case KS_DECODE_YOLO:
        ins[n_in++] = g->outputs[d->o_boxes[0]];
        break;
    case KS_DECODE_YOLO_GRID: /* the heads in stride order; no concatenation (3 inputs) */
        for (int l = 0; l < p.n_levels; l++)
            ins[n_in++] = g->outputs[d->o_boxes[l]];
        break;
    default: {
        int yunet = p.kind == KS_DECODE_YUNET, L = d->n_levels;
        int kps = 1;
        for (int l = 0; l < L; l++)
            kps &= d->o_kps[l] >= 0;
        KS_CHECK(concat_levels(&b, yunet ? "cls" : "score", d->o_scores, L, 1, &ins[n_in++]));
        if (yunet)
            KS_CHECK(concat_levels(&b, "obj", d->o_obj, L, 1, &ins[n_in++]));
        KS_CHECK(concat_levels(&b, "bbox", d->o_boxes, L, 4, &ins[n_in++]));
        if (kps) {
            KS_CHECK(concat_levels(&b, "kps", d->o_kps, L, 2 * KS_MAX_LANDMARKS, &ins[n_in++]));
            landmarks = 1;
        }
        break;
    }
    }
    /* decode node */
    int dec_out[4];
    static const char *const dec_names[4] = {"boxes", "scores", "classes", "landmarks"};
    for (int k = 0; k < 3 + landmarks; k++)
        KS_CHECK(new_value(&b, dec_names[k], &dec_out[k]));
    int64_t in_size[2] = {d->in_w, d->in_h};
    int64_t strides[KS_DECODE_MAX_LEVELS], anchors[KS_DECODE_MAX_LEVELS];
    for (int l = 0; l < p.n_levels; l++)
        strides[l] = p.levels[l].stride, anchors[l] = p.levels[l].n_anchors;
    float anchor_wh[KS_DECODE_MAX_LEVELS * 4 * 2];
    int n_anchor_wh = 0;
    for (int l = 0; p.kind == KS_DECODE_YOLO_GRID && l < p.n_levels; l++)
        for (int a = 0; a < p.levels[l].n_anchors && a < 4; a++)
            anchor_wh[n_anchor_wh++] = p.levels[l].anchors[a][0], anchor_wh[n_anchor_wh++] = p.levels[l].anchors[a][1];
    ks_plugin_attr da[10];
    memset(da, 0, sizeof da);
    int nda = 0;
    da[nda++] = (ks_plugin_attr){.key = "decoder", .type = KS_PLUGIN_ATTR_STRING, .s = decoder_attr_names[p.kind]};
    da[nda++] = (ks_plugin_attr){.key = "family", .type = KS_PLUGIN_ATTR_STRING,
                                 .s = ks_detector_family_name(d->family)};
    da[nda++] = (ks_plugin_attr){.key = "input_size", .type = KS_PLUGIN_ATTR_INTS, .n = 2, .ints = in_size};
    da[nda++] = (ks_plugin_attr){.key = "score_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = p.score_threshold};
    da[nda++] = (ks_plugin_attr){.key = "sqrt_score", .type = KS_PLUGIN_ATTR_INT, .i = p.score_mode == KS_SCORE_SQRT};
    da[nda++] = (ks_plugin_attr){.key = "first_class", .type = KS_PLUGIN_ATTR_INT, .i = p.first_class};
    if (p.n_levels > 0 && (p.kind == KS_DECODE_YUNET || p.kind == KS_DECODE_SCRFD)) {
        da[nda++] = (ks_plugin_attr){.key = "strides", .type = KS_PLUGIN_ATTR_INTS, .n = p.n_levels, .ints = strides};
        da[nda++] = (ks_plugin_attr){.key = "anchors", .type = KS_PLUGIN_ATTR_INTS, .n = p.n_levels, .ints = anchors};
    }
    if (p.kind == KS_DECODE_YOLO_GRID) {
        da[nda++] = (ks_plugin_attr){.key = "strides", .type = KS_PLUGIN_ATTR_INTS, .n = p.n_levels, .ints = strides};
        da[nda++] = (ks_plugin_attr){.key = "anchors", .type = KS_PLUGIN_ATTR_FLOATS, .n = n_anchor_wh,
                                     .floats = anchor_wh};
        da[nda++] = (ks_plugin_attr){.key = "layout", .type = KS_PLUGIN_ATTR_STRING,
                                     .s = p.yolo_channels_first ? "channels_first" : "channels_last"};
    }
    KS_CHECK(add_plugin_node(&b, "decode", "DetectionDecode", da, nda, n_in, ins, 3 + landmarks, dec_out));
    /* NMS node */
    int out_ids[KS_PP_OUTPUTS], nms_out[4];
    for (int k = 0; k < KS_PP_OUTPUTS; k++)
        out_ids[k] = -1;
    for (int k = 0; k < 4 + landmarks; k++)
        KS_CHECK(ks__graph_add_value(g, pp_out_names[k], 0, &out_ids[k]));
    nms_out[0] = out_ids[0], nms_out[2] = out_ids[2], nms_out[3] = out_ids[3];
    if (landmarks)
        KS_CHECK(new_value(&b, "nms_boxes_landmarks", &nms_out[1]));
    else
        nms_out[1] = out_ids[1];
    ks_plugin_attr na[6] = {
        {.key = "score_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = d->opt.score_threshold},
        {.key = "iou_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = d->opt.nms_threshold},
        {.key = "top_k", .type = KS_PLUGIN_ATTR_INT, .i = d->opt.top_k},
        {.key = "max_output", .type = KS_PLUGIN_ATTR_INT, .i = d->opt.max_detections},
        {.key = "class_aware", .type = KS_PLUGIN_ATTR_INT, .i = d->opt.class_aware_nms},
        {.key = "pack_landmarks", .type = KS_PLUGIN_ATTR_INT, .i = landmarks}};
    KS_CHECK(add_plugin_node(&b, "nms", "BatchedNMS", na, 6, 3 + landmarks, dec_out, 4, nms_out));
    if (landmarks) {
        int64_t split[2] = {4, 2 * KS_MAX_LANDMARKS};
        int sid, idx;
        KS_CHECK(const_i64(&b, "split_sizes", 2, split, &sid));
        int sins[2] = {nms_out[1], sid}, souts[2] = {out_ids[1], out_ids[4]};
        KS_CHECK(add_node(&b, "split_landmarks", "Split", "", 2, sins, 2, souts, &idx));
        KS_CHECK(add_int_attr(&b, idx, "axis", 2));
    }
    /* the fixed-size results become the model outputs */
    int n_new = 4 + landmarks;
    int *outs = ks__alloc_array(ctx, (size_t)n_new, sizeof(int));
    if (!outs)
        return ks__oom(ctx, sizeof(int) * (size_t)n_new, "model outputs");
    for (int k = 0; k < n_new; k++)
        outs[k] = out_ids[k];
    ks__free(ctx, g->outputs);
    g->outputs = outs;
    g->n_outputs = n_new;
    KS_CHECK(ks__graph_toposort(g));
    ks_status st = ks_model_optimize(d->model);
    if (st != KS_OK)
        return ks__error_prefix(ctx, "%s: post-processing appended for %s", d->path, ks_detector_family_name(d->family));
    /* the detector's view of the outputs */
    KS_CHECK(ks__det_io_from_model(ctx, d->model, &d->io));
    if (!ks__det_io_postprocessed(&d->io, d->pp_out))
        return ks__error(ctx, KS_INTERNAL, "%s: post-processing outputs missing after the append", d->path);
    d->postprocess = 1;
    d->pp_landmarks = landmarks ? KS_MAX_LANDMARKS : 0;
    return KS_OK;
}

/* Marks in `on` (n_nodes bytes, zeroed by the caller) the producers of v and all their ancestors. */
static void mark_ancestors(const ks_graph *g, int v, unsigned char *on, int *stack) {
    int sp = 0;
    if (v >= 0 && g->values[v].producer >= 0)
        stack[sp++] = g->values[v].producer;
    while (sp > 0) {
        int i = stack[--sp];
        if (on[i])
            continue;
        on[i] = 1;
        for (int k = 0; k < g->nodes[i].n_inputs; k++) {
            int u = g->nodes[i].inputs[k];
            if (u >= 0 && g->values[u].producer >= 0 && !on[g->values[u].producer])
                stack[sp++] = g->values[u].producer;
        }
    }
}

/* 1 when constant t (N*4 or N*2 floats) equals the priors (cx, cy, w, h), all four columns or
 * the pair (0,1) or (2,3); 0 when it differs; -1 when it is not prior-shaped. */
static int const_is_priors(const ks_tensor *t, const float *pr, int64_t N) {
    int64_t n = ks_tensor_numel(t);
    int cols = n == N * 4 ? 4 : n == N * 2 ? 2 : 0;
    if (!cols || (t->dtype != KS_DTYPE_FLOAT32 && t->dtype != KS_DTYPE_FLOAT16) || t->ndim < 1 ||
        t->dims[t->ndim - 1] != cols)
        return -1;
    for (int off = 0; off <= 4 - cols; off += 2) {
        int same = 1;
        for (int64_t r = 0; r < N && same; r++)
            for (int c = 0; c < cols && same; c++) {
                double a = ks__tensor_get_f64(t, r * cols + c), b = pr[r * 4 + off + c];
                same = fabs(a - b) <= 1e-5 + 1e-4 * fabs(b);
            }
        if (same)
            return 1;
    }
    return 0;
}

int ks__ultraface_strip_decode(ks_detector *d) {
    ks_graph *g = d->model->graph;
    if (d->family != KS_FAMILY_ULTRAFACE || !d->decoded_in_graph || d->o_boxes[0] < 0 || !d->priors)
        return 0;
    int bv = g->outputs[d->o_boxes[0]];
    const ks_tensor *bt = &g->values[bv].t;
    int64_t N = d->n_priors;
    if (bt->ndim != 3 || bt->dims[1] != N || bt->dims[2] != 4)
        return 0;
    unsigned char *anc = ks__alloc(d->ctx, (size_t)g->n_nodes + 1), *up = ks__alloc(d->ctx, (size_t)g->n_nodes + 1);
    /* each node is expanded once and pushes at most its inputs: 1 + all inputs bound the stack */
    size_t n_edges = 1;
    for (int i = 0; i < g->n_nodes; i++)
        n_edges += (size_t)g->nodes[i].n_inputs;
    int *stack = ks__alloc_array(d->ctx, n_edges, sizeof(int));
    int cand = -1, n_cand = 0, priors_ok = 0, priors_bad = 0;
    if (!anc || !up || !stack)
        goto done;
    mark_ancestors(g, bv, anc, stack);
    for (int i = 0; i < g->n_nodes; i++) {
        if (!anc[i])
            continue;
        const ks_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) { /* the graph's priors must be ours */
            int u = n->inputs[k];
            if (u >= 0 && g->values[u].is_const) {
                int r = const_is_priors(&g->values[u].t, d->priors, N);
                priors_ok += r == 1;
                priors_bad += r == 0;
            }
        }
        if (n->op != KS_OP_CONCAT || n->n_outputs != 1)
            continue;
        const ks_tensor *t = &g->values[n->outputs[0]].t;
        if (n->outputs[0] == bv || t->ndim != 3 || t->dims[1] != N || t->dims[2] != 4)
            continue;
        /* the raw regression: no Exp (the size decode) above it */
        memset(up, 0, (size_t)g->n_nodes);
        mark_ancestors(g, n->outputs[0], up, stack);
        int has_exp = 0;
        for (int j = 0; j < g->n_nodes && !has_exp; j++)
            has_exp = up[j] && g->nodes[j].op == KS_OP_EXP;
        if (!has_exp) {
            cand = n->outputs[0];
            n_cand++;
        }
    }
done:
    ks__free(d->ctx, anc);
    ks__free(d->ctx, up);
    ks__free(d->ctx, stack);
    if (n_cand != 1 || !priors_ok || priors_bad)
        return 0;
    g->outputs[d->o_boxes[0]] = cand;
    d->decoded_in_graph = 0;
    return 1;
}

ks_status ks_vision_append_postprocess(ks_model *m, ks_detector_family family, const ks_detector_options *opt) {
    if (!m)
        return KS_INVALID_ARGUMENT;
    ks_context *ctx = ks_model_context(m);
    if ((unsigned)family >= KS_FAMILY_COUNT)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks_vision_append_postprocess: bad family %d", (int)family);
    if (family == KS_FAMILY_MTCNN)
        return ks__error(ctx, KS_UNSUPPORTED_OP,
                         "%s: MTCNN is a cascade of three nets; its post-processing cannot be appended to one model",
                         m->graph->source);
    ks_detector *d;
    KS_CHECK(ks__detector_new(ctx, family, opt, m->graph->source ? m->graph->source : "<model>", &d));
    d->model = m;
    int pp[KS_PP_OUTPUTS];
    ks_status st = ks__detector_check_options(d);
    if (st == KS_OK)
        st = ks__det_io_from_model(ctx, m, &d->io);
    if (st == KS_OK && ks__det_io_postprocessed(&d->io, pp))
        st = ks__error(ctx, KS_INVALID_ARGUMENT, "%s: the model already has post-processing (num_detections, ...)",
                       d->path);
    if (st == KS_OK)
        st = ks__detector_resolve_family(d);
    if (st == KS_OK)
        st = ks__detector_setup_input(d); /* fixes a dynamic input to the size asked (batch 1 if unknown) */
    if (st == KS_OK)
        st = ks__det_io_from_model(ctx, m, &d->io); /* output shapes now known */
    if (st == KS_OK)
        st = ks__detector_setup_outputs(d);
    if (st == KS_OK)
        st = ks__detector_make_priors(d);
    if (st == KS_OK)
        st = ks__detector_append_postprocess(d);
    ks__free(ctx, d->priors);
    ks__free(ctx, d->path);
    ks__free(ctx, d);
    return st;
}
