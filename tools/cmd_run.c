/* kestrel run --onnx M.onnx [--shapes name:1x3x480x640] [--input name:file.npy|image.jpg|random]
 *            [--output-dir D] [--cpu]
 * kestrel run --engine M.engine [--input name:file.npy|random] [--output-dir D]   (GPU) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kestrel/vision.h"
#include "tools/cli.h"

/* Image file -> model input tensor (vision subsystem), when linked. */
ks_status ks_cli_image_to_tensor(ks_context *ctx, const char *path, ks_dtype dtype, int ndim,
                                 const int64_t *dims, ks_tensor *out) __attribute__((weak));

#define MAX_IN 32

static void usage(void) {
    printf("usage: kestrel run --onnx MODEL [options]      (CPU reference backend)\n"
           "       kestrel run --engine ENGINE [options]   (GPU engine)\n"
           "  --shapes name:1x3x480x640[,name2:...]  fix dynamic input dims\n"
           "  --input name:FILE      FILE is .npy, an image (.jpg/.png: resized, RGB, /255),\n"
           "                         or 'random[:seed]' (uniform [0,1)); default random for all\n"
           "  --output-dir D         write each output as D/<name>.npy\n"
           "  --check-finite         reject NaN/Inf in float inputs\n");
}

static int is_image(const char *p) {
    const char *e = strrchr(p, '.');
    return e && (!strcasecmp(e, ".jpg") || !strcasecmp(e, ".jpeg") || !strcasecmp(e, ".png"));
}

static ks_status make_random(ks_context *ctx, ks_dtype dt, int ndim, const int64_t *dims,
                             unsigned seed, ks_tensor *t) {
    t->dtype = dt;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        t->dims[d] = dims[d] < 0 ? 1 : dims[d];
    t->data = NULL;
    ks_status st = ks_tensor_alloc(ctx, t);
    if (st != KS_OK)
        return st;
    int64_t n = ks_tensor_numel(t);
    uint64_t x = 0x9e3779b97f4a7c15ull ^ seed;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        float r = (float)((x >> 40) & 0xffffff) / 16777216.0f;
        switch (dt) {
        case KS_DTYPE_FLOAT32: ((float *)t->data)[i] = r; break;
        case KS_DTYPE_FLOAT16: ((uint16_t *)t->data)[i] = ks_float_to_half(r); break;
        case KS_DTYPE_FLOAT64: ((double *)t->data)[i] = r; break;
        case KS_DTYPE_INT64: ((int64_t *)t->data)[i] = (int64_t)(r * 10); break;
        case KS_DTYPE_INT32: ((int32_t *)t->data)[i] = (int32_t)(r * 10); break;
        case KS_DTYPE_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)(r * 255); break;
        case KS_DTYPE_INT8: ((int8_t *)t->data)[i] = (int8_t)(r * 127); break;
        case KS_DTYPE_BOOL: ((uint8_t *)t->data)[i] = r > 0.5f; break;
        default: break;
        }
    }
    return KS_OK;
}

static void print_stats(const char *name, const ks_tensor *t) {
    char shp[128];
    ks_shape_str(t->dims, t->ndim, shp, sizeof shp);
    int64_t n = ks_tensor_numel(t);
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    int64_t n_nan = 0;
    for (int64_t i = 0; i < n; i++) {
        double v;
        switch (t->dtype) {
        case KS_DTYPE_FLOAT32: v = ((const float *)t->data)[i]; break;
        case KS_DTYPE_FLOAT16: v = ks_half_to_float(((const uint16_t *)t->data)[i]); break;
        case KS_DTYPE_FLOAT64: v = ((const double *)t->data)[i]; break;
        case KS_DTYPE_INT64: v = (double)((const int64_t *)t->data)[i]; break;
        case KS_DTYPE_INT32: v = ((const int32_t *)t->data)[i]; break;
        case KS_DTYPE_INT8: v = ((const int8_t *)t->data)[i]; break;
        default: v = ((const uint8_t *)t->data)[i]; break;
        }
        if (isnan(v)) {
            n_nan++;
            continue;
        }
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        sum += v;
    }
    printf("  output %-24s %-8s %-16s min %.6g max %.6g mean %.6g%s\n", name, ks_dtype_name(t->dtype),
           shp, n ? mn : 0, n ? mx : 0, n ? sum / (double)(n - n_nan ? n - n_nan : 1) : 0,
           n_nan ? " (has NaN)" : "");
}

/* The --input spec for input `name`: "name:SRC" entries, or a bare SRC when
 * the model has a single input; "random" when none is given. */
static const char *input_source(const char *name, int n_inputs, const char *const *spec, int n_spec) {
    const char *src = "random";
    size_t nl = strlen(name);
    for (int k = 0; k < n_spec; k++) {
        if (!strncmp(spec[k], name, nl) && spec[k][nl] == ':')
            src = spec[k] + nl + 1;
        else if (n_inputs == 1 && !strchr(spec[k], ':'))
            src = spec[k];
    }
    return src;
}

static void safe_name(const char *on, char *safe, size_t n) {
    snprintf(safe, n, "%s", on);
    for (char *p = safe; *p; p++)
        if (*p == '/' || *p == ':')
            *p = '_';
}

/* Runs a saved GPU engine once: inputs from .npy or random, outputs copied
 * back to the host, printed and optionally written as .npy. */

/* Engines built with --postprocess: the fixed-size detections per image (network-input
 * pixels), the first 5 of each. */
static void print_detections(ks_engine *e, int n_in, int n_out, const ks_tensor *t) {
    static const char *const names[5] = {"num_detections", "detection_boxes", "detection_scores", "detection_classes",
                                         "detection_landmarks"};
    int idx[5];
    for (int k = 0; k < 5; k++) {
        idx[k] = -1;
        for (int i = n_in; i < n_in + n_out; i++)
            if (!strcmp(ks_engine_binding_name(e, i), names[k]))
                idx[k] = i;
        if (k < 4 && idx[k] < 0)
            return;
    }
    const ks_tensor *nd = &t[idx[0]], *bx = &t[idx[1]], *sc = &t[idx[2]], *cl = &t[idx[3]];
    if (nd->dtype != KS_DTYPE_INT32 || bx->ndim != 3 || sc->ndim != 2 || cl->dtype != KS_DTYPE_INT32)
        return;
    int64_t B = bx->dims[0], M = bx->dims[1];
    const float *lm = idx[4] >= 0 ? (const float *)t[idx[4]].data : NULL;
    printf("detections (post-processing in the engine; boxes in network-input pixels, at most %lld per image):\n",
           (long long)M);
    for (int64_t b = 0; b < B; b++) {
        int32_t c = ((const int32_t *)nd->data)[b];
        printf("  image %lld: %d detections\n", (long long)b, (int)c);
        for (int32_t k = 0; k < c && k < 5 && k < M; k++) {
            const float *q = (const float *)bx->data + (b * M + k) * 4;
            printf("    [%.1f %.1f %.1f %.1f] score %.4f class %d", q[0], q[1], q[2], q[3],
                   ((const float *)sc->data)[b * M + k], (int)((const int32_t *)cl->data)[b * M + k]);
            if (lm) {
                const float *p = lm + (b * M + k) * 10;
                printf(" landmarks (%.1f,%.1f) (%.1f,%.1f) (%.1f,%.1f) (%.1f,%.1f) (%.1f,%.1f)", p[0], p[1], p[2],
                       p[3], p[4], p[5], p[6], p[7], p[8], p[9]);
            }
            printf("\n");
        }
    }
}

static int run_engine(int argc, char **argv) {
    const char *engine_path = NULL, *out_dir = NULL;
    const char *in_spec[MAX_IN];
    int n_in_spec = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--engine") && i + 1 < argc)
            engine_path = argv[++i];
        else if (!strcmp(argv[i], "--output-dir") && i + 1 < argc)
            out_dir = argv[++i];
        else if (!strcmp(argv[i], "--input") && i + 1 < argc && n_in_spec < MAX_IN)
            in_spec[n_in_spec++] = argv[++i];
        else {
            fprintf(stderr, "kestrel run --engine: unknown or incomplete option %s\n", argv[i]);
            return 2;
        }
    }
    if (!engine_path) {
        usage();
        return 2;
    }
    ks_context *ctx = ks_cli_context(KS_LOG_WARN);
    if (!ctx)
        return 1;
    int rc = 0;
    ks_engine *e = NULL;
    ks_exec_context *ec = NULL;
    ks_tensor t[2 * MAX_IN];
    void *bind[2 * MAX_IN];
    int n_bind = 0;
    memset(t, 0, sizeof t);
    /* engines built with --postprocess hold DetectionDecode / BatchedNMS layers */
    ks_status st = ks_vision_register_plugins(ctx);
    if (st == KS_OK)
        st = ks_engine_load_file(ctx, engine_path, &e);
    if (st != KS_OK) {
        rc = ks_cli_fail(ctx, st, "loading the engine");
        goto out;
    }
    int n_in = ks_engine_num_inputs(e), n_out = ks_engine_num_outputs(e);
    if (n_in + n_out > 2 * MAX_IN) {
        fprintf(stderr, "kestrel run: too many bindings\n");
        rc = 1;
        goto out;
    }
    for (int i = 0; i < n_in + n_out; i++, n_bind++) {
        ks_tensor *ti = &t[i];
        int nd;
        ks_engine_binding_info(e, i, &ti->dtype, &nd, ti->dims);
        ti->ndim = nd;
        const char *name = ks_engine_binding_name(e, i);
        if (i >= n_in) {
            st = ks_tensor_alloc(ctx, ti);
        } else {
            const char *src = input_source(name, n_in, in_spec, n_in_spec);
            if (!strncmp(src, "random", 6)) {
                st = make_random(ctx, ti->dtype, nd, ti->dims,
                                 src[6] == ':' ? (unsigned)atoi(src + 7) : (unsigned)i, ti);
            } else {
                ks_tensor want = *ti;
                st = ks_tensor_load_npy(ctx, src, ti);
                if (st == KS_OK && (ti->dtype != want.dtype || ks_tensor_numel(ti) != ks_tensor_numel(&want))) {
                    char a[128], b[128];
                    fprintf(stderr, "kestrel run: %s is %s %s, engine input '%s' wants %s %s\n", src,
                            ks_dtype_name(ti->dtype), ks_shape_str(ti->dims, ti->ndim, a, sizeof a), name,
                            ks_dtype_name(want.dtype), ks_shape_str(want.dims, want.ndim, b, sizeof b));
                    rc = 2;
                    goto out;
                }
            }
        }
        if (st != KS_OK) {
            rc = ks_cli_fail(ctx, st, "preparing bindings");
            goto out;
        }
        bind[i] = ti->data;
    }
    if ((st = ks_exec_context_create(e, &ec)) != KS_OK ||
        (st = ks_exec_run(ec, NULL, bind)) != KS_OK || (st = ks_cuda_stream_synchronize(NULL)) != KS_OK) {
        rc = ks_cli_fail(ctx, st, "GPU run");
        goto out;
    }
    printf("ran %s on the GPU\n", engine_path);
    if (out_dir)
        mkdir(out_dir, 0755);
    for (int i = n_in; i < n_in + n_out; i++) {
        const char *on = ks_engine_binding_name(e, i);
        print_stats(on, &t[i]);
        if (out_dir) {
            char path[4096], safe[256];
            safe_name(on, safe, sizeof safe);
            snprintf(path, sizeof path, "%s/%s.npy", out_dir, safe);
            if ((st = ks_tensor_save_npy(ctx, path, &t[i])) != KS_OK) {
                rc = ks_cli_fail(ctx, st, "writing output");
                goto out;
            }
        }
    }
    print_detections(e, n_in, n_out, t);
out:
    for (int i = 0; i < n_bind; i++)
        ks_tensor_release(ctx, &t[i]);
    ks_exec_context_destroy(ec);
    ks_engine_destroy(e);
    ks_context_destroy(ctx);
    return rc;
}

int ks_cmd_run(int argc, char **argv) {
    const char *model_path = NULL, *out_dir = NULL;
    const char *in_spec[MAX_IN];
    int n_in_spec = 0, check = 0;
    char *shape_names[MAX_IN];
    int shape_ndim[MAX_IN];
    int64_t shape_dims[MAX_IN][KS_MAX_DIMS];
    int n_shapes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--engine")) {
            return run_engine(argc, argv);
        } else if (!strcmp(a, "--onnx") && i + 1 < argc) {
            model_path = argv[++i];
        } else if (!strcmp(a, "--output-dir") && i + 1 < argc) {
            out_dir = argv[++i];
        } else if (!strcmp(a, "--input") && i + 1 < argc && n_in_spec < MAX_IN) {
            in_spec[n_in_spec++] = argv[++i];
        } else if (!strcmp(a, "--check-finite")) {
            check = 1;
        } else if (!strcmp(a, "--cpu")) {
            /* the ONNX path always runs on the CPU reference */
        } else if (!strcmp(a, "--shapes") && i + 1 < argc) {
            for (char *tok = strtok(argv[++i], ","); tok && n_shapes < MAX_IN; tok = strtok(NULL, ",")) {
                if (ks_cli_parse_named_shape(tok, &shape_names[n_shapes], &shape_ndim[n_shapes],
                                             shape_dims[n_shapes]) != 0) {
                    fprintf(stderr, "kestrel run: bad --shapes entry '%s'\n", tok);
                    return 2;
                }
                n_shapes++;
            }
        } else if (a[0] != '-' && !model_path) {
            model_path = a;
        } else {
            fprintf(stderr, "kestrel run: unknown or incomplete option %s\n", a);
            usage();
            return 2;
        }
    }
    if (!model_path) {
        usage();
        return 2;
    }
    ks_context *ctx = ks_cli_context(KS_LOG_WARN);
    if (!ctx)
        return 1;
    int rc = 0;
    ks_model *m = NULL;
    ks_session *s = NULL;
    ks_tensor inputs[MAX_IN];
    const char *names[MAX_IN];
    ks_tensor *outputs = NULL;
    int n_inputs = 0;
    memset(inputs, 0, sizeof inputs);
    ks_status st = ks_model_load_file(ctx, model_path, NULL, &m);
    if (st != KS_OK) {
        rc = ks_cli_fail(ctx, st, "import");
        goto out;
    }
    for (int i = 0; i < n_shapes; i++)
        if ((st = ks_model_set_input_shape(m, shape_names[i], shape_ndim[i], shape_dims[i])) != KS_OK) {
            rc = ks_cli_fail(ctx, st, "--shapes");
            goto out;
        }
    if (n_shapes && (st = ks_model_optimize(m)) != KS_OK) {
        rc = ks_cli_fail(ctx, st, "shape inference");
        goto out;
    }
    n_inputs = ks_model_num_inputs(m);
    if (n_inputs > MAX_IN) {
        fprintf(stderr, "kestrel run: too many inputs (%d)\n", n_inputs);
        rc = 1;
        goto out;
    }
    for (int i = 0; i < n_inputs; i++) {
        ks_dtype dt;
        int nd;
        int64_t dims[KS_MAX_DIMS];
        ks_model_input_info(m, i, &dt, &nd, dims, NULL);
        names[i] = ks_model_input_name(m, i);
        const char *src = input_source(names[i], n_inputs, in_spec, n_in_spec);
        if (!strncmp(src, "random", 6)) {
            for (int d = 0; d < nd; d++)
                if (dims[d] < 0)
                    fprintf(stderr, "kestrel run: input '%s' dim %d is dynamic; using 1 (pass --shapes)\n",
                            names[i], d);
            st = make_random(ctx, dt, nd, dims, src[6] == ':' ? (unsigned)atoi(src + 7) : (unsigned)i, &inputs[i]);
        } else if (is_image(src)) {
            if (!ks_cli_image_to_tensor) {
                fprintf(stderr, "kestrel run: image inputs need the vision module, not built\n");
                rc = 2;
                goto out;
            }
            st = ks_cli_image_to_tensor(ctx, src, dt, nd, dims, &inputs[i]);
        } else {
            st = ks_tensor_load_npy(ctx, src, &inputs[i]);
        }
        if (st != KS_OK) {
            rc = ks_cli_fail(ctx, st, "reading input");
            goto out;
        }
    }
    ks_session_config scfg;
    ks_session_config_init(&scfg);
    scfg.check_finite = check;
    if ((st = ks_session_create(m, &scfg, &s)) != KS_OK) {
        rc = ks_cli_fail(ctx, st, "session");
        goto out;
    }
    int n_out = ks_model_num_outputs(m);
    outputs = calloc((size_t)n_out + 1, sizeof(ks_tensor));
    if ((st = ks_session_run(s, n_inputs, names, inputs, 0, NULL, outputs)) != KS_OK) {
        rc = ks_cli_fail(ctx, st, "run");
        goto out;
    }
    printf("ran %s on the CPU reference backend\n", model_path);
    if (out_dir)
        mkdir(out_dir, 0755);
    for (int i = 0; i < n_out; i++) {
        const char *on = ks_model_output_name(m, i);
        print_stats(on, &outputs[i]);
        if (out_dir) {
            char path[4096], safe[256];
            safe_name(on, safe, sizeof safe);
            snprintf(path, sizeof path, "%s/%s.npy", out_dir, safe);
            if ((st = ks_tensor_save_npy(ctx, path, &outputs[i])) != KS_OK) {
                rc = ks_cli_fail(ctx, st, "writing output");
                goto out;
            }
        }
        ks_tensor_release(ctx, &outputs[i]);
    }
out:
    for (int i = 0; i < n_inputs; i++)
        ks_tensor_release(ctx, &inputs[i]);
    free(outputs);
    for (int i = 0; i < n_shapes; i++)
        free(shape_names[i]);
    ks_session_destroy(s);
    ks_model_destroy(m);
    ks_context_destroy(ctx);
    return rc;
}
