/* End-to-end detector benchmark (public API only; built by tools/vision-bench.sh).
 *
 *   vision_bench [--models DIR] [--images DIR] [--fp16] [--iters N] [--batch B] [--no-jpeg]
 *                [--postprocess-ab | --separate] [family-or-model ...]
 *
 * For each detector: a 1920x1080 BGR frame already in device memory -> detections in
 * frame pixels (ks_detector_detect on the GPU path: preprocess + engine + decode + NMS +
 * copy of the final results), batch 1 latency (min / median / p90 / p99 / mean ms) and batch
 * B throughput (frames/s), each with the detector's whole-pipeline CUDA graph (default) and
 * without it (KESTREL_DETECTOR_GRAPH=0, eager launches), and the per-stage split measured with
 * CUDA events (KESTREL_DETECTOR_PROFILE=1; the detector logs it), then once more with the decode + NMS layers
 * timed inside the engine (KESTREL_DETECTOR_PROFILE=layers). Then, separately, the cost of getting a frame from a JPEG file:
 * CPU decode (libjpeg-turbo) + upload, and nvJPEG decode when libnvjpeg.so.13 loads.
 * Every figure is wall time around the call, which synchronises its stream.
 *
 * Decode + NMS run inside the engine (the detector's default: DetectionDecode + BatchedNMS
 * plugin layers, one ks_exec_run). --separate measures the older path instead (engine, then
 * separate decode and NMS kernels, postprocess = 0); --postprocess-ab measures both, the
 * separate path on rows labelled "<name> [sep]". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kestrel/engine.h"
#include "kestrel/vision.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The detector logs the stage split (and, with KESTREL_DETECTOR_PROFILE=layers, the split inside the engine)
 * at INFO; print those lines. */
static void on_log(void *user, ks_log_level level, const char *msg) {
    (void)user, (void)level;
    const char *p = strstr(msg, "stage split");
    if (!p)
        p = strstr(msg, "inside the engine");
    if (p)
        printf("    %s\n", p);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats(double *v, int n, double *mn, double *med, double *p90, double *p99, double *mean) {
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    *mn = v[0], *med = v[n / 2], *p90 = v[(int)(0.90 * (n - 1))], *p99 = v[(int)(0.99 * (n - 1))], *mean = s / n;
}

static double median_call_ms(ks_detector *d, int n, const ks_image *frames, ks_detection_list *res, int iters) {
    double v[400];
    if (iters > 400)
        iters = 400;
    for (int i = 0; i < iters; i++) {
        double t0 = now_ms();
        ks_detector_detect(d, n, frames, res);
        v[i] = now_ms() - t0;
    }
    double mn, med, p90, p99, mean;
    stats(v, iters, &mn, &med, &p90, &p99, &mean);
    return med;
}

typedef struct entry {
    const char *name, *file;
} entry;

static const entry defaults[] = {
    {"ultraface-rfb320", "ultraface/version-RFB-320.onnx"},
    {"ultraface-rfb640", "ultraface/version-RFB-640.onnx"},
    {"yunet-n-640", "yunet/yunet_n_640_640.onnx"},
    {"retinaface-mnet025", "retinaface/retinaface_mnet025_640_opset17.onnx"},
    {"scrfd-500m", "scrfd/scrfd_500m_bnkps_640.onnx"},
    {"scrfd-2.5g", "scrfd/scrfd_2.5g_bnkps_dynamic.onnx"},
    {"yolov5n", "yolov5/yolov5n_fp16_dynamic.onnx"},
};

int main(int argc, char **argv) {
    const char *models = getenv("KESTREL_MODELS"), *images = getenv("KESTREL_IMAGES");
    int fp16 = 0, iters = 200, batch = 32, jpeg = 1, pp_modes[2] = {-1, 0}, n_pp = 1;
    const char *only[32];
    int n_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--models") && i + 1 < argc)
            models = argv[++i];
        else if (!strcmp(argv[i], "--images") && i + 1 < argc)
            images = argv[++i];
        else if (!strcmp(argv[i], "--no-jpeg"))
            jpeg = 0;
        else if (!strcmp(argv[i], "--fp16"))
            fp16 = 1;
        else if (!strcmp(argv[i], "--postprocess-ab"))
            n_pp = 2;
        else if (!strcmp(argv[i], "--separate"))
            pp_modes[0] = 0, n_pp = 1;
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]); /* 0: no throughput run */
        else if (n_only < 32)
            only[n_only++] = argv[i];
    }
    if (!models)
        models = "../shared/models";
    if (!images)
        images = "../shared/images";
    if (iters < 10)
        iters = 10;
    if (batch < 0 || batch > 32)
        batch = 32;
    ks_context *ctx = NULL;
    ks_context_config cc;
    ks_context_config_init(&cc);
    cc.log = on_log;
    cc.log_level = KS_LOG_INFO;
    if (ks_context_create(&cc, &ctx) != KS_OK)
        return 1;
    char dev[256] = "?";
    int sm = 0;
    if (ks_cuda_device_info(dev, sizeof dev, &sm) != KS_OK) {
        fprintf(stderr, "vision_bench: no CUDA device\n");
        return 77;
    }
    time_t t = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    printf("# vision_bench on %s (sm_%d), %s, %s engines, %d iterations\n", dev, sm, date, fp16 ? "FP16" : "FP32", iters);

    /* frame: the crowd photo scaled to 1920x1080 on the host, then uploaded once */
    char path[4096];
    snprintf(path, sizeof path, "%s/ultraface/17.jpg", images);
    ks_image src, frame, dframe;
    if (ks_image_load_file(ctx, path, KS_PIXEL_BGR, &src) != KS_OK) {
        fprintf(stderr, "vision_bench: %s\n", ks_context_last_error(ctx));
        return 1;
    }
    ks_image_alloc(ctx, 1920, 1080, KS_PIXEL_BGR, &frame);
    for (int y = 0; y < 1080; y++)
        for (int x = 0; x < 1920; x++) {
            int sx = x * src.width / 1920, sy = y * src.height / 1080;
            memcpy(frame.data + (size_t)y * frame.stride + 3 * x, src.data + (size_t)sy * src.stride + 3 * sx, 3);
        }
    if (ks_image_to_device(ctx, &frame, &dframe) != KS_OK) {
        fprintf(stderr, "vision_bench: %s\n", ks_context_last_error(ctx));
        return 1;
    }
    ks_image frames[32];
    for (int i = 0; i < 32; i++)
        frames[i] = dframe;

    printf("%-20s %5s %6s | %-44s | %-22s\n", "detector", "input", "dets", "batch 1 latency ms: min / median / p90 / p99 / mean",
           "batch B throughput");
    double *lat = malloc(sizeof(double) * (size_t)iters);
    for (size_t mm = 0; mm < n_pp * (sizeof(defaults) / sizeof(defaults[0])); mm++) {
        size_t m = mm / (size_t)n_pp;
        int pp = pp_modes[mm % (size_t)n_pp];
        char label[64];
        snprintf(label, sizeof label, "%s%s", defaults[m].name, pp == 0 && n_pp == 2 ? " [sep]" : "");
        int want = n_only == 0;
        for (int k = 0; k < n_only; k++)
            want |= strstr(defaults[m].name, only[k]) != NULL || strstr(defaults[m].file, only[k]) != NULL;
        if (!want)
            continue;
        snprintf(path, sizeof path, "%s/%s", models, defaults[m].file);
        ks_detector_options o;
        ks_detector_options_init(&o);
        o.use_gpu = 1, o.fp16 = fp16, o.max_batch = 1, o.postprocess = pp;
        ks_detector *d1 = NULL, *dB = NULL;
        double tb0 = now_ms();
        if (ks_detector_create(ctx, path, KS_FAMILY_AUTO, &o, &d1) != KS_OK || !ks_detector_on_gpu(d1)) {
            printf("%-20s failed: %s\n", label, ks_context_last_error(ctx));
            ks_detector_destroy(d1);
            continue;
        }
        double build_ms = now_ms() - tb0;
        ks_detection_list res[32];
        for (int w = 0; w < 10; w++)
            ks_detector_detect(d1, 1, frames, res);
        for (int i = 0; i < iters; i++) {
            double t0 = now_ms();
            ks_detector_detect(d1, 1, frames, res);
            lat[i] = now_ms() - t0;
        }
        int ndet = res[0].n;
        double mn, med, p90, p99, mean;
        stats(lat, iters, &mn, &med, &p90, &p99, &mean);
        setenv("KESTREL_DETECTOR_GRAPH", "0", 1);
        ks_detector_detect(d1, 1, frames, res);
        double eager1 = median_call_ms(d1, 1, frames, res, iters / 2 + 10);
        unsetenv("KESTREL_DETECTOR_GRAPH");
        printf("%-20s batch 1: one CUDA graph %.3f ms, eager launches %.3f ms (median)\n", label, med, eager1);
        setenv("KESTREL_DETECTOR_PROFILE", "1", 1);
        median_call_ms(d1, 1, frames, res, 50);
        unsetenv("KESTREL_DETECTOR_PROFILE");
        ks_detector_detect(d1, 1, frames, res); /* logs the split */
        /* the appended decode + NMS layers timed inside the engine (events around each layer) */
        setenv("KESTREL_DETECTOR_PROFILE", "layers", 1);
        median_call_ms(d1, 1, frames, res, 50);
        unsetenv("KESTREL_DETECTOR_PROFILE");
        ks_detector_detect(d1, 1, frames, res); /* logs the split with the layers */
        ks_detector_options eo;
        ks_detector_get_options(d1, &eo);
        o.max_batch = batch;
        double thr = 0;
        int got_b = 0;
        if (batch > 0 && ks_detector_create(ctx, path, KS_FAMILY_AUTO, &o, &dB) == KS_OK && ks_detector_on_gpu(dB)) {
            for (int w = 0; w < 3; w++)
                ks_detector_detect(dB, batch, frames, res);
            int reps = iters / 4 + 1;
            double t0 = now_ms();
            for (int i = 0; i < reps; i++)
                ks_detector_detect(dB, batch, frames, res);
            thr = reps * batch / ((now_ms() - t0) / 1e3);
            setenv("KESTREL_DETECTOR_GRAPH", "0", 1);
            ks_detector_detect(dB, batch, frames, res);
            double eagerB = median_call_ms(dB, batch, frames, res, 10);
            unsetenv("KESTREL_DETECTOR_GRAPH");
            printf("%-20s batch %d: %.1f frames/s with the graph, %.1f frames/s eager (median call %.3f ms)\n",
                   label, batch, thr, batch / (eagerB / 1e3), eagerB);
            setenv("KESTREL_DETECTOR_PROFILE", "1", 1);
            median_call_ms(dB, batch, frames, res, 10);
            unsetenv("KESTREL_DETECTOR_PROFILE");
            ks_detector_detect(dB, batch, frames, res);
            ks_detector_options bo;
            ks_detector_get_options(dB, &bo);
            got_b = bo.max_batch; /* engine batch: 1 when the graph cannot be batched */
        }
        printf("%-20s %dx%d %5d | %7.3f / %7.3f / %7.3f / %7.3f / %7.3f | %8.1f frames/s (%d frames per call, "
               "engine batch %d)  [build %.0f ms]\n",
               label, (int)eo.input_width, (int)eo.input_height, ndet, mn, med, p90, p99, mean, thr, batch,
               got_b, build_ms);
        fflush(stdout);
        ks_detector_destroy(d1);
        ks_detector_destroy(dB);
    }

    /* frame acquisition from JPEG files, measured separately */
    if (!jpeg)
        goto end;
    static const char *jpgs[] = {"ultraface/17.jpg", "coco_samples/bus.jpg", "faces_misc/tensorrtpro_group.jpg"};
    printf("\n%-36s %-28s %-28s\n", "JPEG -> device frame (ms, median)", "CPU decode + upload",
           "nvJPEG decode (+ frame alloc/free)");
    ks_gpu_jpeg *nj = NULL;
    int have_nvjpeg = ks_gpu_jpeg_create(ctx, &nj) == KS_OK;
    for (size_t j = 0; j < sizeof(jpgs) / sizeof(jpgs[0]); j++) {
        snprintf(path, sizeof path, "%s/%s", images, jpgs[j]);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        rewind(f);
        unsigned char *buf = malloc((size_t)n);
        size_t got = fread(buf, 1, (size_t)n, f);
        fclose(f);
        int reps = 30;
        double cpu[30], gpu[30];
        int w = 0, h = 0;
        for (int r = 0; r < reps; r++) {
            double t0 = now_ms();
            ks_image im, di;
            ks_image_decode(ctx, buf, got, KS_PIXEL_BGR, &im);
            ks_image_to_device(ctx, &im, &di);
            cpu[r] = now_ms() - t0;
            w = im.width, h = im.height;
            ks_image_release(ctx, &im);
            ks_image_release(ctx, &di);
            gpu[r] = 0;
            if (have_nvjpeg) {
                t0 = now_ms();
                if (ks_gpu_jpeg_decode(nj, buf, got, KS_PIXEL_BGR, NULL, &di) == KS_OK) {
                    ks_image_release(ctx, &di); /* cudaFree synchronises the device */
                    gpu[r] = now_ms() - t0;
                }
            }
        }
        double a, med_c, b, c, e, med_g = 0;
        stats(cpu, reps, &a, &med_c, &b, &c, &e);
        if (have_nvjpeg)
            stats(gpu, reps, &a, &med_g, &b, &c, &e);
        char lab[96];
        snprintf(lab, sizeof lab, "%s (%dx%d)", jpgs[j], w, h);
        printf("%-36s %-28.3f ", lab, med_c);
        if (have_nvjpeg)
            printf("%.3f\n", med_g);
        else
            printf("n/a (libnvjpeg.so.13 not loadable)\n");
        free(buf);
    }
    ks_gpu_jpeg_destroy(nj);
end:
    free(lat);
    ks_image_release(ctx, &dframe);
    ks_image_release(ctx, &frame);
    ks_image_release(ctx, &src);
    ks_context_destroy(ctx);
    return 0;
}
