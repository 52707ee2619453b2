/* kestrel build --onnx M.onnx --save M.engine [--fp16] [--tf32] [--shapes name:1x3x480x640]
 *               [--batch N] [--timing-cache F] [--workspace MB] [--no-<pass>] [--verbose]
 *               [--layer-precision node:fp32] [--no-tactics]
 *               [--postprocess FAMILY|auto [--score-threshold S] [--nms-threshold T]
 *                [--max-detections K] [--top-k N] [--yunet-sqrt-score]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kestrel/engine.h"
#include "kestrel/vision.h"
#include "core/model_internal.h"
#include "graph/pass_batch.h"
#include "tools/cli.h"


static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void ks_cli_build_opts_init(ks_cli_build_opts *o) {
    memset(o, 0, sizeof *o);
    ks_build_config_init(&o->cfg);
    o->cfg.input_shapes = o->shapes;
    o->cfg.layer_precisions = o->lp;
}

void ks_cli_build_opts_help(void) {
    printf("  --fp16                 float16 activations/weights, float32 accumulation\n"
           "  --tf32                 float32 storage, TF32 tensor cores allowed in convs/GEMMs\n"
           "  --io-fp16              with --fp16: float32 inputs bound as float16, outputs as their\n"
           "                         last layer writes them (no I/O casts inside the engine)\n"
           "  --shapes n:1x3x480x640[,n2:...]  input shapes (dynamic dims, or to override)\n"
           "  --batch N              batch size (leading dim of every input)\n"
           "  --timing-cache F       read/write the tactic timing cache F\n"
           "  --workspace MB         cap on per-layer scratch memory (default 256)\n"
           "  --layer-precision node:fp32|fp16|tf32   per-layer override (repeatable)\n"
           "  --no-tactics           skip tactic timing (default kernels)\n"
           "  --verbose              print the pass report\n"
           "  --no-<pass>            disable a pass:");
    for (int p = 0; p < KS_PASS_COUNT; p++)
        printf(" %s", ks_pass_name((ks_pass)p));
    printf("\n");
}

static int parse_prec(const char *s, ks_precision *p) {
    if (!strcmp(s, "fp32")) *p = KS_PRECISION_FP32;
    else if (!strcmp(s, "fp16")) *p = KS_PRECISION_FP16;
    else if (!strcmp(s, "tf32")) *p = KS_PRECISION_TF32;
    else return -1;
    return 0;
}

int ks_cli_build_opts_check(const ks_cli_build_opts *o, const char *cmd) {
    if (!o->cfg.keep_io_dtypes && o->cfg.precision != KS_PRECISION_FP16) {
        fprintf(stderr, "kestrel %s: --io-fp16 binds float32 I/O as float16 and needs --fp16\n", cmd);
        return 1;
    }
    return 0;
}

/* Returns 1 if argv[*i] was a build option (consuming its value), 0 if not,
 * -1 on a bad value. */
int ks_cli_build_opt(ks_cli_build_opts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
#define VAL() (*i + 1 < argc ? argv[++*i] : NULL)
    if (!strcmp(a, "--fp16")) { o->cfg.precision = KS_PRECISION_FP16; return 1; }
    if (!strcmp(a, "--tf32")) { o->cfg.precision = KS_PRECISION_TF32; return 1; }
    if (!strcmp(a, "--io-fp16")) { o->cfg.keep_io_dtypes = 0; return 1; }
    if (!strcmp(a, "--verbose")) { o->cfg.verbose = 1; return 1; }
    if (!strcmp(a, "--no-tactics")) { o->cfg.tactic_timing = 0; return 1; }
    if (!strcmp(a, "--timing-cache")) { const char *v = VAL(); if (!v) return -1; o->cfg.timing_cache_path = v; return 1; }
    if (!strcmp(a, "--workspace")) { const char *v = VAL(); if (!v) return -1; o->cfg.workspace_limit_bytes = (size_t)atoll(v) << 20; return 1; }
    if (!strcmp(a, "--batch")) { const char *v = VAL(); if (!v || atoi(v) < 1) return -1; o->batch = atoi(v); o->cfg.max_batch = o->batch; return 1; }
    if (!strcmp(a, "--layer-precision")) {
        const char *v = VAL();
        const char *c = v ? strrchr(v, ':') : NULL;
        if (!c || o->cfg.n_layer_precisions >= 64) return -1;
        ks_layer_precision *lp = &o->lp[o->cfg.n_layer_precisions];
        lp->node_name = strndup(v, (size_t)(c - v));
        if (parse_prec(c + 1, &lp->precision)) return -1;
        o->cfg.n_layer_precisions++;
        return 1;
    }
    if (!strcmp(a, "--shapes")) {
        const char *v = VAL();
        if (!v) return -1;
        char *copy = strdup(v), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (o->cfg.n_input_shapes >= KS_CLI_MAX_SHAPES) { free(copy); return -1; }
            ks_input_shape *s = &o->shapes[o->cfg.n_input_shapes];
            char *name;
            if (ks_cli_parse_named_shape(tok, &name, &s->ndim, s->dims)) { free(copy); return -1; }
            s->name = name;
            o->cfg.n_input_shapes++;
        }
        free(copy);
        return 1;
    }
    if (!strncmp(a, "--no-", 5)) {
        ks_pass p = ks_pass_from_name(a + 5);
        if (p == KS_PASS_COUNT) return 0;
        o->cfg.disable_passes |= 1u << p;
        return 1;
    }
#undef VAL
    return 0;
}

/* pp_family >= 0: decode + NMS appended (ks_vision_append_postprocess) after the batch
 * rewrite, before the build. */
static ks_status build_engine(ks_context *ctx, const char *onnx, ks_cli_build_opts *o, int pp_family,
                              const ks_detector_options *pp_opt, ks_engine **out, double *seconds) {
    ks_model *m = NULL;
    ks_status st = ks_model_load_file(ctx, onnx, NULL, &m);
    if (st != KS_OK)
        return st;
    /* --batch: leading dim of every input (shapes given win for other dims) */
    if (o->batch > 0) {
        for (int i = 0; i < ks_model_num_inputs(m); i++) {
            const char *nm = ks_model_input_name(m, i);
            ks_input_shape *s = NULL;
            for (int k = 0; k < o->cfg.n_input_shapes; k++)
                if (!strcmp(o->shapes[k].name, nm))
                    s = &o->shapes[k];
            if (!s) {
                if (o->cfg.n_input_shapes >= KS_CLI_MAX_SHAPES)
                    break;
                s = &o->shapes[o->cfg.n_input_shapes++];
                s->name = nm;
                ks_dtype dt;
                if (ks_model_input_info(m, i, &dt, &s->ndim, s->dims, NULL) != KS_OK)
                    continue;
            }
            if (s->ndim > 0)
                s->dims[0] = o->batch;
        }
    }
    /* A model exported with a static batch of 1 (constants such as Reshape targets hard-code
       it) asked for a larger batch: rewrite the graph for that batch where the batch axis can
       be followed (graph/pass_batch.h), else a clear UNSUPPORTED_SHAPE naming the node. */
    for (int k = 0; k < o->cfg.n_input_shapes; k++) {
        int idx = -1;
        for (int i = 0; i < ks_model_num_inputs(m); i++)
            if (o->shapes[k].name && !strcmp(o->shapes[k].name, ks_model_input_name(m, i)))
                idx = i;
        ks_dtype dt;
        int nd;
        int64_t dims[KS_MAX_DIMS];
        if (idx < 0 || o->shapes[k].ndim < 1 || o->shapes[k].dims[0] <= 1 ||
            ks_model_input_info(m, idx, &dt, &nd, dims, NULL) != KS_OK || nd < 1 || dims[0] != 1)
            continue;
        /* on a copy: a refused rewrite leaves the graph as exported (the build may still
           handle the batch, e.g. Reshape to [-1, 1]) */
        ks_graph *g2 = NULL;
        if ((st = ks__graph_clone(m->graph, &g2)) != KS_OK) {
            ks_model_destroy(m);
            return st;
        }
        if (ks__graph_set_batch(g2, o->shapes[k].dims[0]) == KS_OK) {
            ks__graph_destroy(m->graph);
            m->graph = g2;
            ks__log(ctx, KS_LOG_INFO, "%s: graph exported for batch 1 rewritten for batch %lld",
                    onnx, (long long)o->shapes[k].dims[0]);
        } else {
            ks__log(ctx, KS_LOG_INFO, "%s: batch rewrite refused (%s); building the graph as exported",
                    onnx, ks_context_last_error(ctx));
            ks_context_clear_error(ctx);
            ks__graph_destroy(g2);
        }
        break;
    }
    if (pp_family >= 0) {
        ks_detector_options po = *pp_opt;
        /* a dynamic input's size from --shapes (the post-processing needs it) */
        for (int k = 0; k < o->cfg.n_input_shapes; k++)
            if (o->shapes[k].name && ks_model_num_inputs(m) > 0 &&
                !strcmp(o->shapes[k].name, ks_model_input_name(m, 0)) && o->shapes[k].ndim == 4 &&
                po.input_width == 0) {
                po.input_width = (int32_t)o->shapes[k].dims[3];
                po.input_height = (int32_t)o->shapes[k].dims[2];
            }
        /* the shapes asked for (batch included) before the append, which folds the graph's
           shape subgraphs; a static dim that differs (a refused batch rewrite) is left to the
           builder */
        for (int k = 0; k < o->cfg.n_input_shapes; k++)
            if (o->shapes[k].name &&
                ks_model_set_input_shape(m, o->shapes[k].name, o->shapes[k].ndim, o->shapes[k].dims) != KS_OK)
                ks_context_clear_error(ctx);
        st = ks_vision_append_postprocess(m, (ks_detector_family)pp_family, &po);
        if (st != KS_OK) {
            ks_model_destroy(m);
            return st;
        }
        /* the Split of the packed NMS boxes + landmarks stays FP32 in FP16 engines (pixel
           coordinates need more than half precision); a user override of it wins */
        int have = 0;
        for (int k = 0; k < o->cfg.n_layer_precisions; k++)
            have |= o->lp[k].node_name && !strcmp(o->lp[k].node_name, "ks_postprocess/split_landmarks");
        if (!have && o->cfg.n_layer_precisions < 64) {
            o->lp[o->cfg.n_layer_precisions].node_name = "ks_postprocess/split_landmarks";
            o->lp[o->cfg.n_layer_precisions++].precision = KS_PRECISION_FP32;
        }
    }
    double t0 = now_s();
    st = ks_engine_build(m, &o->cfg, out);
    if (seconds)
        *seconds = now_s() - t0;
    /* shape names borrowed from the model are not used after the build */
    for (int k = 0; k < o->cfg.n_input_shapes; k++) {
        int from_model = 0;
        for (int i = 0; i < ks_model_num_inputs(m); i++)
            from_model |= o->shapes[k].name == ks_model_input_name(m, i);
        if (from_model)
            o->shapes[k].name = NULL;
    }
    ks_model_destroy(m);
    return st;
}

ks_status ks_cli_build_engine(ks_context *ctx, const char *onnx, ks_cli_build_opts *o, ks_engine **out,
                              double *seconds) {
    return build_engine(ctx, onnx, o, -1, NULL, out, seconds);
}

static void usage(void) {
    printf("usage: kestrel build --onnx MODEL --save ENGINE [options]\n");
    ks_cli_build_opts_help();
    printf("  --postprocess FAMILY|auto  append box decoding + batched NMS (ultraface, yunet, retinaface,\n"
           "                         scrfd, yolov5; auto = from the outputs): the engine's outputs become\n"
           "                         num_detections, detection_boxes, detection_scores, detection_classes\n"
           "                         (+ detection_landmarks), fixed size, in network-input pixels\n"
           "  --score-threshold S    (with --postprocess) family default otherwise\n"
           "  --nms-threshold T      (with --postprocess) IoU threshold, family default otherwise\n"
           "  --max-detections K     (with --postprocess) detections kept per image (300)\n"
           "  --top-k N              (with --postprocess) candidates considered by NMS (5000; 0 = all)\n"
           "  --yunet-sqrt-score     (with --postprocess yunet) OpenCV's sqrt(cls*obj) score\n");
}

int ks_cmd_build(int argc, char **argv) {
    const char *onnx = NULL, *save = NULL;
    ks_cli_build_opts o;
    ks_cli_build_opts_init(&o);
    int pp_family = -1, pp_args = 0;
    ks_detector_options po;
    ks_detector_options_init(&po);
    for (int i = 1; i < argc; i++) {
        int r = ks_cli_build_opt(&o, argc, argv, &i);
        if (r < 0) {
            fprintf(stderr, "kestrel build: bad value for %s\n", argv[i]);
            return 2;
        }
        if (r > 0)
            continue;
        if (!strcmp(argv[i], "--onnx") && i + 1 < argc) onnx = argv[++i];
        else if (!strcmp(argv[i], "--save") && i + 1 < argc) save = argv[++i];
        else if (!strcmp(argv[i], "--postprocess") && i + 1 < argc) {
            ks_detector_family f;
            if (ks_detector_family_from_name(argv[++i], &f) != KS_OK || f == KS_FAMILY_MTCNN) {
                fprintf(stderr, "kestrel build: --postprocess takes ultraface, yunet, retinaface, scrfd, yolov5 "
                                "or auto, not '%s'\n", argv[i]);
                return 2;
            }
            pp_family = (int)f;
        }
        else if (!strcmp(argv[i], "--score-threshold") && i + 1 < argc) po.score_threshold = (float)atof(argv[++i]), pp_args++;
        else if (!strcmp(argv[i], "--nms-threshold") && i + 1 < argc) po.nms_threshold = (float)atof(argv[++i]), pp_args++;
        else if (!strcmp(argv[i], "--max-detections") && i + 1 < argc) po.max_detections = atoi(argv[++i]), pp_args++;
        else if (!strcmp(argv[i], "--top-k") && i + 1 < argc) po.top_k = atoi(argv[++i]), pp_args++;
        else if (!strcmp(argv[i], "--yunet-sqrt-score")) po.yunet_score = KS_SCORE_SQRT, pp_args++;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(); return 0; }
        else {
            fprintf(stderr, "kestrel build: unknown option '%s'\n", argv[i]);
            usage();
            return 2;
        }
    }
    if (ks_cli_build_opts_check(&o, "build"))
        return 2;
    if (!onnx || !save) {
        usage();
        return 2;
    }
    if (pp_args && pp_family < 0) {
        fprintf(stderr, "kestrel build: --score-threshold, --nms-threshold, --max-detections, --top-k and "
                        "--yunet-sqrt-score need --postprocess\n");
        return 2;
    }
    ks_context *ctx = ks_cli_context(o.cfg.verbose ? KS_LOG_INFO : KS_LOG_WARN);
    if (!ctx)
        return 1;
    ks_engine *e = NULL;
    double secs = 0;
    int verbose = o.cfg.verbose;
    o.cfg.verbose = 0; /* the report is printed below */
    ks_status st = build_engine(ctx, onnx, &o, pp_family, &po, &e, &secs);
    if (st != KS_OK) {
        int rc = ks_cli_fail(ctx, st, "build");
        ks_context_destroy(ctx);
        return rc;
    }
    if (verbose)
        printf("%s", ks_engine_build_report(e));
    st = ks_engine_save(e, save);
    if (st != KS_OK) {
        int rc = ks_cli_fail(ctx, st, "save");
        ks_engine_destroy(e);
        ks_context_destroy(ctx);
        return rc;
    }
    ks_engine_memory mem;
    ks_engine_memory_report(e, &mem);
    printf("built %s -> %s in %.3f s: %d layers, weights %.2f MiB, activations %.2f MiB (naive %.2f MiB), "
           "workspace %.2f MiB\n",
           onnx, save, secs, ks_engine_num_layers(e), mem.weight_bytes / 1048576.0,
           mem.activation_bytes / 1048576.0, mem.activation_naive_bytes / 1048576.0,
           mem.workspace_bytes / 1048576.0);
    if (pp_family >= 0)
        printf("post-processing inside the engine: outputs");
    for (int i = 0; pp_family >= 0 && i < ks_engine_num_outputs(e); i++) {
        ks_dtype dt;
        int nd;
        int64_t dims[KS_MAX_DIMS];
        char sh[96];
        ks_engine_binding_info(e, ks_engine_num_inputs(e) + i, &dt, &nd, dims);
        printf("%s %s [%s] %s", i ? "," : "", ks_engine_binding_name(e, ks_engine_num_inputs(e) + i),
               ks_shape_str(dims, nd, sh, sizeof sh), ks_dtype_name(dt));
    }
    if (pp_family >= 0)
        printf("\n");
    ks_engine_destroy(e);
    ks_context_destroy(ctx);
    return 0;
}
