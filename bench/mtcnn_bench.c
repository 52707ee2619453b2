/* MTCNN GPU cascade benchmark on 1920x1080 frames (a photo resized).
 *
 *   mtcnn_bench MODEL_DIR IMAGE [--frames N] [--streams 1,2,4,8] [--configs LIST]
 *
 * Configs (comma list, default all): seed = min face 30, thresholds
 * 0.7/0.7/0.7, NMS 0.5/0.5/0.5; min20 / min40 = same with min face 20 / 40;
 * each in fp16 / fp32 and P-Net canvas / per-level streams (suffixes
 * -fp32, -level; -b256: R-Net batch 256, O-Net 64 instead of 1024 / 256;
 * -b128: 128 / 32; -fbN: N frames per pipeline run, frame batching).
 * Frames are device-resident (as after NVDEC/nvJPEG);
 * "host" latency adds the upload from pageable host memory.
 * Reports per config: build seconds, single-stream latency per frame
 * (median, p90, min, max), per-stage times (CUDA events, eager run),
 * aggregate frames/s with N pipelines (own exec contexts + stream each) on
 * N threads, candidate counts. With -fbN a "frame" below is one run of N
 * frames (latency per run, and per frame = run / N); frames/s counts
 * frames. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kestrel/engine.h"
#include "kestrel/kestrel.h"
#include "kestrel/vision.h"
#include "vision/mtcnn.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct worker {
    ks_mtcnn *m;
    int pipe, frames, fb;
    const ks_image *img; /* fb images */
    ks_context *ctx;
    int failed;
} worker;

static void *run_worker(void *arg) {
    worker *w = arg;
    for (int i = 0; i < w->frames; i++) {
        ks_detection *d[64] = {0};
        int n[64] = {0};
        if (ks__mtcnn_gpu_detect_batch(w->m, w->pipe, w->fb, w->img, d, n, NULL) != KS_OK) {
            w->failed = 1;
            return NULL;
        }
        for (int k = 0; k < w->fb; k++)
            ks__free(w->ctx, d[k]);
    }
    return NULL;
}

static int run_config(const char *name, const char *dir, const ks_image *himg,
                      const ks_image *dimg, int frames, const int *streams, int n_streams) {
    int per_level = strstr(name, "-level") != NULL, fp32 = strstr(name, "-fp32") != NULL;
    int small = strstr(name, "-b256") != NULL, tiny = strstr(name, "-b128") != NULL;
    const char *fbs = strstr(name, "-fb");
    int fb = fbs ? atoi(fbs + 3) : 1;
    if (fb < 1 || fb > 32)
        fb = 1;
    float min_face = !strncmp(name, "min20", 5) ? 20.f : !strncmp(name, "min40", 5) ? 40.f : 30.f;
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    ks_mtcnn_options o;
    ks__mtcnn_options_init(&o);
    o.min_face = min_face;
    o.thresholds[0] = o.thresholds[1] = o.thresholds[2] = 0.7f;
    o.nms_thresholds[0] = o.nms_thresholds[1] = o.nms_thresholds[2] = 0.5f;
    o.use_gpu = 1;
    o.fp16 = !fp32;
    o.pnet_per_level = per_level;
    if (small)
        o.rnet_batch = 256, o.onet_batch = 64;
    if (tiny)
        o.rnet_batch = 128, o.onet_batch = 32;
    o.frame_batch = fb;
    int max_streams = 1;
    for (int i = 0; i < n_streams; i++)
        max_streams = streams[i] > max_streams ? streams[i] : max_streams;
    double t0 = now();
    ks_mtcnn *m = NULL;
    ks_status st = ks__mtcnn_create(ctx, dir, &o, &m);
    if (st == KS_OK)
        st = ks__mtcnn_gpu_prepare(m, dimg->width, dimg->height, max_streams);
    double t_build = now() - t0;
    if (st != KS_OK) {
        printf("%-14s FAILED: %s: %s\n", name, ks_status_name(st), ks_context_last_error(ctx));
        ks__mtcnn_destroy(m);
        ks_context_destroy(ctx);
        return 1;
    }
    ks_image dimgs[32], himgs[32];
    for (int k = 0; k < fb; k++)
        dimgs[k] = *dimg, himgs[k] = *himg;
    /* warm-up (first frame eager, second captures the graph) */
    ks_detection *dd[32] = {0};
    int nn[32] = {0};
    ks_mtcnn_stats ss[32];
#define FREE_DETS()                                                                                \
    for (int k_ = 0; k_ < fb; k_++) {                                                              \
        ks__free(ctx, dd[k_]);                                                                     \
        dd[k_] = NULL;                                                                             \
    }
    for (int i = 0; i < 5 && st == KS_OK; i++) {
        FREE_DETS();
        st = ks__mtcnn_gpu_detect_batch(m, 0, fb, dimgs, dd, nn, NULL);
    }
    FREE_DETS();
    if (st == KS_OK)
        st = ks__mtcnn_gpu_detect_batch(m, 0, fb, dimgs, dd, nn, ss);
    ks_mtcnn_stats s = ss[0];
    int n = nn[0];
    double *lat = calloc((size_t)frames, sizeof(double));
    double *hlat = calloc((size_t)frames, sizeof(double));
    for (int i = 0; i < frames && st == KS_OK; i++) {
        FREE_DETS();
        double a = now();
        st = ks__mtcnn_gpu_detect_batch(m, 0, fb, dimgs, dd, nn, NULL);
        lat[i] = (now() - a) * 1e3;
    }
    for (int i = 0; i < frames && st == KS_OK; i++) {
        FREE_DETS();
        double a = now();
        st = ks__mtcnn_gpu_detect_batch(m, 0, fb, himgs, dd, nn, NULL);
        hlat[i] = (now() - a) * 1e3;
    }
    /* per-stage breakdown (eager, events) */
    double stage[KS_MTCNN_T_COUNT] = {0}, sub[3] = {0};
    int n_prof = frames < 50 ? frames : 50;
    if (st == KS_OK)
        st = ks__mtcnn_gpu_set_profiling(m, 1);
    double eager_sum = 0;
    for (int i = 0; i < n_prof && st == KS_OK; i++) {
        FREE_DETS();
        double a = now();
        st = ks__mtcnn_gpu_detect_batch(m, 0, fb, dimgs, dd, nn, NULL);
        eager_sum += (now() - a) * 1e3;
        float ms[KS_MTCNN_T_COUNT];
        ks__mtcnn_gpu_last_timing(m, 0, ms);
        for (int k = 0; k < KS_MTCNN_T_COUNT; k++)
            stage[k] += ms[k];
        ks__mtcnn_gpu_last_subtiming(m, 0, ms);
        for (int k = 0; k < 3; k++)
            sub[k] += ms[k];
    }
    ks__mtcnn_gpu_set_profiling(m, 0);
    FREE_DETS();
    if (st != KS_OK) {
        printf("%-14s FAILED while running: %s: %s\n", name, ks_status_name(st),
               ks_context_last_error(ctx));
        free(lat);
        free(hlat);
        ks__mtcnn_destroy(m);
        ks_context_destroy(ctx);
        return 1;
    }
    qsort(lat, (size_t)frames, sizeof(double), cmp_d);
    qsort(hlat, (size_t)frames, sizeof(double), cmp_d);
    printf("%-14s build %6.1f s | graph %s | frames/run %d | faces %d | levels %d cand %d pkept %d "
           "rnet %d onet %d trunc %d overflow %d\n",
           name, t_build, ks__mtcnn_gpu_graph_active(m, 0) ? "on" : "off", fb, n, s.n_levels,
           s.pnet_candidates, s.pnet_kept, s.rnet_in, s.onet_in, s.truncated, s.overflow);
    printf("%-14s latency device %s: median %.3f ms p90 %.3f min %.3f max %.3f | host: "
           "median %.3f ms p90 %.3f | per frame %.3f ms\n",
           name, fb > 1 ? "run" : "frame", lat[frames / 2], lat[frames * 9 / 10], lat[0],
           lat[frames - 1], hlat[frames / 2], hlat[frames * 9 / 10], lat[frames / 2] / fb);
    printf("%-14s stages (eager, mean of %d, ms): upload %.3f pyramid %.3f pnet %.3f "
           "cand+nms %.3f rnet %.3f onet %.3f | eager wall %.3f\n",
           name, n_prof, stage[0] / n_prof, stage[1] / n_prof, stage[2] / n_prof,
           stage[3] / n_prof, stage[4] / n_prof, stage[5] / n_prof, eager_sum / n_prof);
    printf("%-14s   cand+nms = cells %.3f + level NMS %.3f + compact %.3f + cross-scale NMS %.3f\n",
           name, sub[0] / n_prof, sub[1] / n_prof, sub[2] / n_prof,
           (stage[3] - sub[0] - sub[1] - sub[2]) / n_prof);
    for (int si = 0; si < n_streams; si++) {
        int ns = streams[si];
        worker w[64];
        pthread_t th[64];
        int per = (frames + fb - 1) / fb;
        double a = now();
        for (int i = 0; i < ns; i++) {
            w[i] = (worker){m, i, per, fb, dimgs, ctx, 0};
            pthread_create(&th[i], NULL, run_worker, &w[i]);
        }
        int failed = 0;
        for (int i = 0; i < ns; i++) {
            pthread_join(th[i], NULL);
            failed |= w[i].failed;
        }
        double t = now() - a;
        printf("%-14s %2d streams: %8.1f frames/s aggregate%s\n", name, ns, (double)ns * per * fb / t,
               failed ? " (FAILED)" : "");
    }
    fflush(stdout);
    free(lat);
    free(hlat);
    ks__mtcnn_destroy(m);
    ks_context_destroy(ctx);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR IMAGE [--frames N] [--streams 1,2,4] [--configs a,b]\n",
                argv[0]);
        return 2;
    }
    const char *dir = argv[1], *path = argv[2];
    int frames = 200;
    int streams[16] = {1, 2, 4, 8}, n_streams = 4;
    char configs[1024] = "seed,seed-fp32,seed-level,min20,min40";
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--frames"))
            frames = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--streams")) {
            n_streams = 0;
            for (char *t = strtok(argv[i + 1], ","); t && n_streams < 16; t = strtok(NULL, ","))
                streams[n_streams++] = atoi(t);
        } else if (!strcmp(argv[i], "--configs"))
            snprintf(configs, sizeof configs, "%s", argv[i + 1]);
    }
    if (frames < 10)
        frames = 10;
    if (!ks_cuda_available()) {
        fprintf(stderr, "no GPU\n");
        return 77;
    }
    char dev[256];
    int sm = 0;
    ks_cuda_device_info(dev, sizeof dev, &sm);
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    ks_image src, rgb, dimg;
    if (ks_image_load_file(ctx, path, KS_PIXEL_RGB, &src) != KS_OK) {
        fprintf(stderr, "%s: %s\n", path, ks_context_last_error(ctx));
        return 1;
    }
    /* resize to 1920x1080 (bilinear on floats, as the MTCNN pyramid) */
    int W = 1920, H = 1080;
    float *f = malloc(sizeof(float) * 3 * (size_t)src.width * src.height);
    float *g = malloc(sizeof(float) * 3 * (size_t)W * H);
    for (int y = 0; y < src.height; y++)
        for (int x = 0; x < src.width * 3; x++)
            f[(size_t)y * src.width * 3 + x] = src.data[(size_t)y * src.stride + x];
    ks__mtcnn_resize_bilinear(f, src.width, src.height, 3, g, W, H);
    ks_image_alloc(ctx, W, H, KS_PIXEL_RGB, &rgb);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W * 3; x++) {
            float v = g[(size_t)y * W * 3 + x] + 0.5f;
            rgb.data[(size_t)y * rgb.stride + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    free(f);
    free(g);
    if (ks_image_to_device(ctx, &rgb, &dimg) != KS_OK) {
        fprintf(stderr, "upload: %s\n", ks_context_last_error(ctx));
        return 1;
    }
    printf("device %s (sm %d); frame %dx%d from %s; %d frames per measurement\n", dev, sm, W, H,
           path, frames);
    int rc = 0;
    for (char *t = strtok(configs, ","); t; t = strtok(NULL, ","))
        rc |= run_config(t, dir, &rgb, &dimg, frames, streams, n_streams);
    ks_image_release(ctx, &dimg);
    ks_image_release(ctx, &rgb);
    ks_image_release(ctx, &src);
    ks_context_destroy(ctx);
    return rc;
}
