/* kestrel detect: run a face / object detector on images; human summary on stdout,
 * optional JSON file and drawn JPEGs. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kestrel/vision.h"
#include "tools/cli.h"
#include "vision/draw.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: kestrel detect [--model M] [--family F] [--fp16] [--cpu] IMAGES...\n"
            "                      [--json out.json] [--draw DIR] [--score-threshold S]\n"
            "                      [--nms-threshold T] [--input-size WxH]\n"
            "\n"
            "  --model M            ONNX model (or engine file); default: UltraFace RFB-640 from\n"
            "                       $KESTREL_MODELS (else shared/models found near the executable\n"
            "                       or the current directory)\n"
            "  --family F           auto (default), ultraface, yunet, retinaface, scrfd, yolov5, mtcnn\n"
            "  --cpu                run on the CPU (default: GPU when available, else CPU)\n"
            "  --fp16               GPU: FP16 engine\n"
            "  --json FILE          write detections as JSON\n"
            "  --draw DIR           write DIR/<image>.jpg with boxes, scores and landmarks drawn\n"
            "  --score-threshold S  keep detections scoring above S (family default otherwise)\n"
            "  --nms-threshold T    NMS IoU threshold (family default otherwise)\n"
            "  --input-size WxH     network input size for models with a dynamic input\n"
            "  --max-detections N   per image (default 300)\n"
            "  --top-k N            candidates considered by NMS (default 5000)\n"
            "  --draw-png           drawn outputs as PNG instead of JPEG\n"
            "  --postprocess / --no-postprocess  decode + NMS as plugin nodes of the model / engine\n"
            "                       (default: inside the GPU engine, separate stages on the CPU);\n"
            "                       engine files built with `kestrel build --postprocess` are recognised\n"
            "  --letterbox / --no-letterbox, --yunet-sqrt-score, -q (no per-image lines)\n");
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int dir_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Finds the shared models folder: $KESTREL_MODELS, then shared/models near the
 * executable, then near the current directory (walking up). */
static int find_models_dir(char *out, size_t n) {
    const char *env = getenv("KESTREL_MODELS");
    if (env && *env) {
        snprintf(out, n, "%.3900s", env);
        return dir_exists(out);
    }
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char bases[2][PATH_MAX];
    int nb = 0;
    if (k > 0) {
        exe[k] = 0;
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = 0;
        memcpy(bases[nb++], exe, PATH_MAX);
    }
    if (getcwd(bases[nb], PATH_MAX))
        nb++;
    for (int b = 0; b < nb; b++) {
        char dir[PATH_MAX];
        memcpy(dir, bases[b], sizeof dir);
        for (int up = 0; up < 5; up++) {
            char cand[PATH_MAX + 64];
            snprintf(cand, sizeof cand, "%s/shared/models/ultraface", dir);
            if (dir_exists(cand)) {
                snprintf(out, n, "%.3900s/shared/models", dir);
                return 1;
            }
            snprintf(cand, sizeof cand, "%s/../shared/models/ultraface", dir);
            if (dir_exists(cand)) {
                snprintf(out, n, "%.3900s/../shared/models", dir);
                return 1;
            }
            char *s = strrchr(dir, '/');
            if (!s || s == dir)
                break;
            *s = 0;
        }
    }
    return 0;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int parse_wxh(const char *s, int32_t *w, int32_t *h) {
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || (*end != 'x' && *end != 'X'))
        return -1;
    const char *q = end + 1;
    long b = strtol(q, &end, 10);
    if (end == q || *end || a <= 0 || b <= 0 || a > 8192 || b > 8192)
        return -1;
    *w = (int32_t)a, *h = (int32_t)b;
    return 0;
}

int ks_cmd_detect(int argc, char **argv) {
    const char *model = NULL, *family_s = "auto", *json_path = NULL, *draw_dir = NULL;
    ks_detector_options opt;
    ks_detector_options_init(&opt);
    opt.use_gpu = 1;
    int quiet = 0, draw_png = 0;
    const char **files = calloc((size_t)argc, sizeof(char *));
    int n_files = 0;
    if (!files)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEXT()                                                              \
    (i + 1 < argc ? argv[++i]                                               \
                  : (fprintf(stderr, "kestrel detect: %s needs a value\n", a), free(files), exit(2), (char *)0))
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(files);
            return 0;
        } else if (!strcmp(a, "--model") || !strcmp(a, "-m")) {
            model = NEXT();
        } else if (!strcmp(a, "--family")) {
            family_s = NEXT();
        } else if (!strcmp(a, "--fp16")) {
            opt.fp16 = 1;
        } else if (!strcmp(a, "--cpu")) {
            opt.use_gpu = 0;
        } else if (!strcmp(a, "--gpu")) {
            opt.use_gpu = 1;
        } else if (!strcmp(a, "--json")) {
            json_path = NEXT();
        } else if (!strcmp(a, "--draw")) {
            draw_dir = NEXT();
        } else if (!strcmp(a, "--score-threshold")) {
            opt.score_threshold = strtof(NEXT(), NULL);
        } else if (!strcmp(a, "--nms-threshold")) {
            opt.nms_threshold = strtof(NEXT(), NULL);
        } else if (!strcmp(a, "--max-detections")) {
            opt.max_detections = atoi(NEXT());
        } else if (!strcmp(a, "--top-k")) {
            opt.top_k = atoi(NEXT());
        } else if (!strcmp(a, "--letterbox")) {
            opt.letterbox = 1;
        } else if (!strcmp(a, "--no-letterbox")) {
            opt.letterbox = 0;
        } else if (!strcmp(a, "--yunet-sqrt-score")) {
            opt.yunet_score = KS_SCORE_SQRT;
        } else if (!strcmp(a, "--postprocess")) {
            opt.postprocess = 1;
        } else if (!strcmp(a, "--no-postprocess")) {
            opt.postprocess = 0;
        } else if (!strcmp(a, "--draw-png")) {
            draw_png = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--input-size")) {
            const char *v = NEXT();
            if (parse_wxh(v, &opt.input_width, &opt.input_height)) {
                fprintf(stderr, "kestrel detect: --input-size wants WxH, got '%s'\n", v);
                free(files);
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "kestrel detect: unknown option '%s'\n", a);
            usage(stderr);
            free(files);
            return 2;
        } else {
            files[n_files++] = a;
        }
#undef NEXT
    }
    if (n_files == 0) {
        fprintf(stderr, "kestrel detect: no images given\n");
        usage(stderr);
        free(files);
        return 2;
    }
    ks_detector_family family;
    if (ks_detector_family_from_name(family_s, &family) != KS_OK) {
        fprintf(stderr, "kestrel detect: unknown family '%s'\n", family_s);
        free(files);
        return 2;
    }
    char model_buf[PATH_MAX + 64];
    if (!model) {
        char dir[PATH_MAX];
        if (!find_models_dir(dir, sizeof dir)) {
            fprintf(stderr, "kestrel detect: no --model given and no models folder found "
                            "(set KESTREL_MODELS to shared/models)\n");
            free(files);
            return 2;
        }
        snprintf(model_buf, sizeof model_buf, "%s/ultraface/version-RFB-640.onnx", dir);
        if (!file_exists(model_buf))
            snprintf(model_buf, sizeof model_buf, "%s/ultraface/version-RFB-320.onnx", dir);
        model = model_buf;
    }
    if (draw_dir && !dir_exists(draw_dir) && mkdir(draw_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "kestrel detect: cannot create %s: %s\n", draw_dir, strerror(errno));
        free(files);
        return 1;
    }

    ks_context *ctx = ks_cli_context(KS_LOG_WARN);
    if (!ctx) {
        free(files);
        return 1;
    }
    ks_detector *det = NULL;
    double t0 = now_ms();
    ks_status st = ks_detector_create(ctx, model, family, &opt, &det);
    if (st != KS_OK) {
        int rc = ks_cli_fail(ctx, st, "loading the detector");
        ks_context_destroy(ctx);
        free(files);
        return rc;
    }
    double t_load = now_ms() - t0;
    ks_detector_options eff;
    ks_detector_get_options(det, &eff);
    ks_detector_family fam = ks_detector_get_family(det);
    if (fam == KS_FAMILY_MTCNN) /* image pyramid: no fixed input size; stage thresholds */
        printf("model %s (mtcnn cascade, P/R/O-Net thresholds and NMS per docs/mtcnn.md), loaded in %.1f ms\n",
               model, t_load);
    else
        printf("model %s (%s, %dx%d input, %s, score > %.3g, NMS IoU %.3g), loaded in %.1f ms\n", model,
               ks_detector_family_name(fam), (int)eff.input_width, (int)eff.input_height,
               ks_detector_on_gpu(det) ? "GPU" : "CPU", (double)eff.score_threshold,
               (double)eff.nms_threshold, t_load);

    FILE *jf = NULL;
    if (json_path) {
        jf = fopen(json_path, "w");
        if (!jf) {
            fprintf(stderr, "kestrel detect: cannot write %s: %s\n", json_path, strerror(errno));
            ks_detector_destroy(det);
            ks_context_destroy(ctx);
            free(files);
            return 1;
        }
        fprintf(jf, "{\"model\": ");
        json_str(jf, model);
        fprintf(jf, ", \"family\": ");
        json_str(jf, ks_detector_family_name(fam));
        fprintf(jf, ", \"images\": [");
    }
    int failures = 0, n_json = 0;
    long total = 0;
    double t_all = 0;
    for (int f = 0; f < n_files; f++) {
        ks_image img;
        st = ks_image_load_file(ctx, files[f], KS_PIXEL_BGR, &img);
        if (st != KS_OK) {
            fprintf(stderr, "kestrel detect: %s: %s\n", ks_status_name(st), ks_context_last_error(ctx));
            failures++;
            continue;
        }
        ks_detection_list res = {0, NULL};
        double t1 = now_ms();
        st = ks_detector_detect(det, 1, &img, &res);
        double dt = now_ms() - t1;
        if (st != KS_OK) {
            fprintf(stderr, "kestrel detect: %s: %s: %s\n", files[f], ks_status_name(st), ks_context_last_error(ctx));
            ks_image_release(ctx, &img);
            failures++;
            continue;
        }
        t_all += dt;
        total += res.n;
        if (!quiet) {
            printf("%s: %dx%d, %d detection%s in %.1f ms", files[f], (int)img.width, (int)img.height, (int)res.n,
                   res.n == 1 ? "" : "s", dt);
            if (fam == KS_FAMILY_YOLOV5 && res.n) {
                printf(":");
                for (int k = 0; k < res.n && k < 20; k++)
                    printf(" %s", ks_detector_class_label(det, res.items[k].class_id));
                if (res.n > 20)
                    printf(" ...");
            }
            printf("\n");
        }
        if (jf) {
            fprintf(jf, "%s\n  {\"file\": ", n_json++ ? "," : "");
            json_str(jf, files[f]);
            fprintf(jf, ", \"width\": %d, \"height\": %d, \"detections\": [", (int)img.width, (int)img.height);
            for (int k = 0; k < res.n; k++) {
                const ks_detection *d = &res.items[k];
                fprintf(jf, "%s\n    {\"box\": [%.2f, %.2f, %.2f, %.2f], \"score\": %.5f, \"class\": %d, \"label\": ",
                        k ? "," : "", (double)d->box[0], (double)d->box[1], (double)d->box[2], (double)d->box[3],
                        (double)d->score, (int)d->class_id);
                json_str(jf, ks_detector_class_label(det, d->class_id));
                fprintf(jf, ", \"landmarks\": [");
                for (int j = 0; j < d->n_landmarks; j++)
                    fprintf(jf, "%s[%.2f, %.2f]", j ? ", " : "", (double)d->landmarks[j][0],
                            (double)d->landmarks[j][1]);
                fprintf(jf, "]}");
            }
            fprintf(jf, "%s]}", res.n ? "\n  " : "");
        }
        if (draw_dir) {
            ks__draw_detections(&img, res.items, res.n);
            char out[PATH_MAX + 64];
            const char *b = base_name(files[f]);
            const char *dot = strrchr(b, '.');
            int len = dot ? (int)(dot - b) : (int)strlen(b);
            snprintf(out, sizeof out, "%s/%.*s.%s", draw_dir, len, b, draw_png ? "png" : "jpg");
            st = draw_png ? ks_image_save_png(ctx, out, &img) : ks_image_save_jpeg(ctx, out, &img, 85);
            if (st != KS_OK) {
                fprintf(stderr, "kestrel detect: %s\n", ks_context_last_error(ctx));
                failures++;
            }
        }
        ks_image_release(ctx, &img);
    }
    if (jf) {
        fprintf(jf, "\n]}\n");
        if (fclose(jf) != 0) {
            fprintf(stderr, "kestrel detect: writing %s failed\n", json_path);
            failures++;
        }
    }
    int done = n_files - failures;
    printf("%d image%s, %ld detection%s, %.1f ms per image%s%s\n", done, done == 1 ? "" : "s", total,
           total == 1 ? "" : "s", done > 0 ? t_all / done : 0.0, failures ? ", failures: " : "",
           failures ? "see stderr" : "");
    ks_detector_destroy(det);
    ks_context_destroy(ctx);
    free(files);
    return failures ? 1 : 0;
}
