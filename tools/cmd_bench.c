/* kestrel bench (--onnx M | --engine E) [build options] [--iterations N | --duration S]
 *               [--warmup S] [--cuda-graph] [--streams N] [--no-transfers] [--dump-profile]
 *               [--export-json F] [--cpu]
 *
 * trtexec-like: latency (sequential runs on one stream, CUDA events) split into
 * H2D, GPU compute and D2H, and throughput (back-to-back runs over N streams). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/cuda/devutil.h"
#include "kestrel/engine.h"
#include "tools/cli.h"


/* weak: the binary also links without the CUDA backend */
#define W __attribute__((weak))
int ks__dev_malloc(void **p, size_t n) W;
void ks__dev_free(void *p) W;
int ks__host_malloc_pinned(void **p, size_t n) W;
void ks__host_free_pinned(void *p) W;
int ks__stream_create(void **s) W;
void ks__stream_destroy(void *s) W;
int ks__stream_sync(void *s) W;
int ks__event_create(void **e) W;
void ks__event_destroy(void *e) W;
int ks__event_record(void *e, void *s) W;
int ks__event_sync(void *e) W;
float ks__event_ms(void *a, void *b) W;
int ks__memcpy_async(void *dst, const void *src, size_t n, int kind, void *s) W;
const char *ks__dev_error_str(int err) W;
int ks__dev_fill_random(void *p, int64_t n, int dtype, float lo, float hi, uint32_t seed, void *s) W;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct stats {
    double min, mean, median, p90, p95, p99, max;
} stats;

static stats stats_of(double *v, int n) {
    stats s;
    memset(&s, 0, sizeof s);
    if (n <= 0)
        return s;
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += v[i];
    s.min = v[0];
    s.max = v[n - 1];
    s.mean = sum / n;
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
#define PCT(p) v[(int)ceil((p) / 100.0 * n) - 1 < 0 ? 0 : (int)ceil((p) / 100.0 * n) - 1]
    s.p90 = PCT(90);
    s.p95 = PCT(95);
    s.p99 = PCT(99);
#undef PCT
    return s;
}

/* The per-layer profile summed by layer kind (by_tactic 0) or by tactic without its split-K suffix
 * (by_tactic 1, e.g. "own:igemm:13"): layers, ms and share of the layer sum, largest first. */
static void print_profile_groups(const ks_layer_profile *pr, int nl, double sum, int by_tactic) {
    char (*key)[48] = calloc((size_t)(nl > 0 ? nl : 1), sizeof *key);
    double *ms = calloc((size_t)(nl > 0 ? nl : 1), sizeof *ms);
    int *cnt = calloc((size_t)(nl > 0 ? nl : 1), sizeof *cnt), ng = 0;
    if (!key || !ms || !cnt) {
        free(key), free(ms), free(cnt);
        return;
    }
    for (int k = 0; k < nl; k++) {
        char kk[48];
        snprintf(kk, sizeof kk, "%s", by_tactic ? (pr[k].tactic ? pr[k].tactic : "-") : (pr[k].kind ? pr[k].kind : "-"));
        char *slash = strchr(kk, '/');
        if (slash)
            *slash = 0;
        int g = 0;
        while (g < ng && strcmp(key[g], kk))
            g++;
        if (g == ng)
            snprintf(key[ng++], sizeof key[0], "%s", kk);
        ms[g] += pr[k].mean_ms;
        cnt[g]++;
    }
    printf("  by %s:", by_tactic ? "tactic" : "kind");
    for (int done = 0; done < ng; done++) { /* largest first */
        int best = -1;
        for (int g = 0; g < ng; g++)
            if (cnt[g] > 0 && (best < 0 || ms[g] > ms[best]))
                best = g;
        printf("%s %s %d x %.4f ms (%.1f%%)", done ? "," : "", key[best], cnt[best], ms[best],
               sum > 0 ? 100.0 * ms[best] / sum : 0.0);
        cnt[best] = 0;
    }
    printf("\n");
    free(key), free(ms), free(cnt);
}

static void print_stats(const char *what, stats s) {
    printf("  %-13s min %8.4f  mean %8.4f  median %8.4f  p90 %8.4f  p95 %8.4f  p99 %8.4f  max %8.4f ms\n", what,
           s.min, s.mean, s.median, s.p90, s.p95, s.p99, s.max);
}

static void json_stats(FILE *f, const char *k, stats s, int comma) {
    fprintf(f, "  \"%s\": {\"min\": %.6f, \"mean\": %.6f, \"median\": %.6f, \"p90\": %.6f, \"p95\": %.6f, \"p99\": %.6f, \"max\": %.6f}%s\n",
            k, s.min, s.mean, s.median, s.p90, s.p95, s.p99, s.max, comma ? "," : "");
}

static void usage(void) {
    printf("usage: kestrel bench (--onnx MODEL | --engine ENGINE) [options]\n"
           "  --iterations N         timed runs (default 200)\n"
           "  --duration S           run for S seconds instead of a count\n"
           "  --warmup S             warm-up seconds before timing (default 0.2)\n"
           "  --cuda-graph           replay the engine as a CUDA graph\n"
           "  --streams N            throughput over N streams / execution contexts (default 1)\n"
           "  --no-transfers         inputs/outputs stay on the GPU (no H2D/D2H)\n"
           "  --dump-profile         per-layer time, tactic and precision\n"
           "  --export-json F        write the figures to F\n"
           "  --save ENGINE          with --onnx: also save the built engine\n"
           "  --cpu                  with --onnx: time the CPU reference instead\n"
           "build options (with --onnx):\n");
    ks_cli_build_opts_help();
    printf("figures: 'H2D' = host-to-device copy of the inputs from pinned memory; 'GPU compute' = the\n"
           "engine's kernels (ks_exec_run) between CUDA events; 'D2H' = outputs back to pinned memory;\n"
           "'end-to-end' = H2D + compute + D2H on one stream, one run at a time (CUDA events);\n"
           "'throughput' = batch x runs / wall time with runs queued back-to-back over the streams.\n");
}

static int bench_cpu(ks_context *ctx, const char *onnx, ks_cli_build_opts *o, int iters) {
    ks_model *m = NULL;
    ks_status st = ks_model_load_file(ctx, onnx, NULL, &m);
    if (st != KS_OK)
        return ks_cli_fail(ctx, st, "load");
    for (int k = 0; k < o->cfg.n_input_shapes; k++)
        ks_model_set_input_shape(m, o->shapes[k].name, o->shapes[k].ndim, o->shapes[k].dims);
    if ((st = ks_model_optimize(m)) != KS_OK)
        return ks_cli_fail(ctx, st, "optimize");
    int ni = ks_model_num_inputs(m), no = ks_model_num_outputs(m);
    ks_tensor in[16];
    const char *names[16];
    memset(in, 0, sizeof in);
    for (int i = 0; i < ni && i < 16; i++) {
        names[i] = ks_model_input_name(m, i);
        ks_model_input_info(m, i, &in[i].dtype, &in[i].ndim, in[i].dims, NULL);
        for (int d = 0; d < in[i].ndim; d++)
            if (in[i].dims[d] < 0)
                in[i].dims[d] = 1;
        if (o->batch > 0 && in[i].ndim > 0)
            in[i].dims[0] = o->batch;
        ks_tensor_alloc(ctx, &in[i]);
    }
    ks_session *s = NULL;
    if ((st = ks_session_create(m, NULL, &s)) != KS_OK)
        return ks_cli_fail(ctx, st, "session");
    double *lat = calloc((size_t)iters, sizeof(double));
    ks_tensor *outs = calloc((size_t)no, sizeof(ks_tensor));
    for (int it = -1; it < iters; it++) {
        double t0 = now_s();
        st = ks_session_run(s, ni, names, in, 0, NULL, outs);
        double t1 = now_s();
        if (st != KS_OK)
            return ks_cli_fail(ctx, st, "run");
        for (int k = 0; k < no; k++)
            ks_tensor_release(ctx, &outs[k]);
        if (it >= 0)
            lat[it] = (t1 - t0) * 1e3;
    }
    stats sl = stats_of(lat, iters);
    printf("CPU reference, %d runs:\n", iters);
    print_stats("latency", sl);
    free(lat);
    free(outs);
    ks_session_destroy(s);
    for (int i = 0; i < ni && i < 16; i++)
        ks_tensor_release(ctx, &in[i]);
    ks_model_destroy(m);
    return 0;
}

#define MAXB 32
#define MAXS 8

int ks_cmd_bench(int argc, char **argv) {
    const char *onnx = NULL, *engine_path = NULL, *json = NULL, *save = NULL;
    int iters = 200, streams = 1, graph = 0, no_xfer = 0, profile = 0, cpu = 0;
    double duration = 0, warmup = 0.2;
    ks_cli_build_opts o;
    ks_cli_build_opts_init(&o);
    for (int i = 1; i < argc; i++) {
        int r = ks_cli_build_opt(&o, argc, argv, &i);
        if (r < 0) {
            fprintf(stderr, "kestrel bench: bad value for %s\n", argv[i]);
            return 2;
        }
        if (r > 0)
            continue;
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--onnx") && v) { onnx = v; i++; }
        else if (!strcmp(a, "--engine") && v) { engine_path = v; i++; }
        else if (!strcmp(a, "--iterations") && v) { iters = atoi(v); i++; }
        else if (!strcmp(a, "--duration") && v) { duration = atof(v); i++; }
        else if (!strcmp(a, "--warmup") && v) { warmup = atof(v); i++; }
        else if (!strcmp(a, "--streams") && v) { streams = atoi(v); i++; }
        else if (!strcmp(a, "--export-json") && v) { json = v; i++; }
        else if (!strcmp(a, "--save") && v) { save = v; i++; }
        else if (!strcmp(a, "--cuda-graph")) graph = 1;
        else if (!strcmp(a, "--no-transfers")) no_xfer = 1;
        else if (!strcmp(a, "--dump-profile")) profile = 1;
        else if (!strcmp(a, "--cpu")) cpu = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        else {
            fprintf(stderr, "kestrel bench: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (ks_cli_build_opts_check(&o, "bench"))
        return 2;
    if ((!onnx && !engine_path) || iters < 1 || streams < 1 || streams > MAXS) {
        usage();
        return 2;
    }
    ks_context *ctx = ks_cli_context(KS_LOG_WARN);
    if (!ctx)
        return 1;
    if (cpu) {
        if (!onnx) {
            fprintf(stderr, "kestrel bench: --cpu needs --onnx\n");
            return 2;
        }
        int rc = bench_cpu(ctx, onnx, &o, iters);
        ks_context_destroy(ctx);
        return rc;
    }
    if (!ks_cuda_available() || !ks__dev_malloc) {
        fprintf(stderr, "kestrel bench: no CUDA GPU available (NO_DEVICE)\n");
        ks_context_destroy(ctx);
        return 3;
    }
    ks_engine *e = NULL;
    ks_status st;
    double build_s = 0, load_ms = 0;
    if (onnx) {
        st = ks_cli_build_engine(ctx, onnx, &o, &e, &build_s);
        if (st == KS_OK && save)
            st = ks_engine_save(e, save);
    } else {
        /* deserialize time excludes CUDA context creation (as trtexec): bring
         * the context up first */
        void *warm = NULL;
        if (ks__dev_malloc(&warm, 256) == 0)
            ks__dev_free(warm);
        double t0 = now_s();
        st = ks_engine_load_file(ctx, engine_path, &e);
        load_ms = (now_s() - t0) * 1e3;
    }
    if (st != KS_OK) {
        int rc = ks_cli_fail(ctx, st, onnx ? "build" : "load");
        ks_context_destroy(ctx);
        return rc;
    }
    char dev[256] = "?";
    int sm = 0;
    ks_cuda_device_info(dev, sizeof dev, &sm);
    int nb = ks_engine_num_inputs(e) + ks_engine_num_outputs(e);
    if (nb > MAXB) {
        fprintf(stderr, "kestrel bench: too many bindings\n");
        return 1;
    }
    size_t bytes[MAXB];
    int batch = 1;
    for (int b = 0; b < nb; b++) {
        ks_dtype dt;
        int nd;
        int64_t dims[KS_MAX_DIMS];
        ks_engine_binding_info(e, b, &dt, &nd, dims);
        size_t n = ks_dtype_size(dt);
        for (int k = 0; k < nd; k++)
            n *= (size_t)dims[k];
        bytes[b] = n;
        if (b == 0 && nd > 0)
            batch = (int)dims[0];
    }
    ks_exec_context *ec[MAXS] = {0};
    void *stream[MAXS] = {0}, *dbuf[MAXS][MAXB], *hbuf[MAXS][MAXB];
    memset(dbuf, 0, sizeof dbuf);
    memset(hbuf, 0, sizeof hbuf);
    int rc = 1;
    for (int s = 0; s < streams; s++) {
        if ((st = ks_exec_context_create(e, &ec[s])) != KS_OK) {
            rc = ks_cli_fail(ctx, st, "execution context");
            goto out;
        }
        ks_exec_set_cuda_graph(ec[s], graph);
        if (ks__stream_create(&stream[s])) {
            fprintf(stderr, "kestrel bench: stream creation failed\n");
            goto out;
        }
        for (int b = 0; b < nb; b++) {
            if (ks__dev_malloc(&dbuf[s][b], bytes[b]) || ks__host_malloc_pinned(&hbuf[s][b], bytes[b])) {
                fprintf(stderr, "kestrel bench: out of memory for bindings\n");
                goto out;
            }
            ks_dtype dt;
            ks_engine_binding_info(e, b, &dt, NULL, NULL);
            if (b < ks_engine_num_inputs(e)) {
                ks__dev_fill_random(dbuf[s][b], (int64_t)(bytes[b] / ks_dtype_size(dt)), dt, -1.f, 1.f,
                                    17u + (uint32_t)b, stream[s]);
                ks__memcpy_async(hbuf[s][b], dbuf[s][b], bytes[b], 2, stream[s]);
            }
        }
        ks__stream_sync(stream[s]);
    }
    int ni = ks_engine_num_inputs(e);
    void *ev[4];
    for (int k = 0; k < 4; k++)
        ks__event_create(&ev[k]);
    /* warm-up */
    double tw = now_s();
    int nwarm = 0;
    do {
        if ((st = ks_exec_run(ec[0], stream[0], dbuf[0])) != KS_OK) {
            rc = ks_cli_fail(ctx, st, "run");
            goto out;
        }
        ks__stream_sync(stream[0]);
        nwarm++;
    } while (now_s() - tw < warmup || nwarm < 3);
    /* latency: sequential on stream 0 */
    int cap = duration > 0 ? 1000000 : iters;
    double *h2d = calloc((size_t)cap, sizeof(double)), *gpu = calloc((size_t)cap, sizeof(double)),
           *d2h = calloc((size_t)cap, sizeof(double)), *tot = calloc((size_t)cap, sizeof(double)),
           *wall = calloc((size_t)cap, sizeof(double));
    int n = 0;
    double t_start = now_s();
    while (n < cap && (duration > 0 ? now_s() - t_start < duration : n < iters)) {
        double w0 = now_s();
        ks__event_record(ev[0], stream[0]);
        if (!no_xfer)
            for (int b = 0; b < ni; b++)
                ks__memcpy_async(dbuf[0][b], hbuf[0][b], bytes[b], 1, stream[0]);
        ks__event_record(ev[1], stream[0]);
        st = ks_exec_run(ec[0], stream[0], dbuf[0]);
        ks__event_record(ev[2], stream[0]);
        if (!no_xfer)
            for (int b = ni; b < nb; b++)
                ks__memcpy_async(hbuf[0][b], dbuf[0][b], bytes[b], 2, stream[0]);
        ks__event_record(ev[3], stream[0]);
        int er = ks__event_sync(ev[3]);
        if (st != KS_OK || er) {
            rc = st != KS_OK ? ks_cli_fail(ctx, st, "run") : 1;
            if (er)
                fprintf(stderr, "kestrel bench: CUDA error %s\n", ks__dev_error_str(er));
            goto out;
        }
        wall[n] = (now_s() - w0) * 1e3;
        h2d[n] = ks__event_ms(ev[0], ev[1]);
        gpu[n] = ks__event_ms(ev[1], ev[2]);
        d2h[n] = ks__event_ms(ev[2], ev[3]);
        tot[n] = ks__event_ms(ev[0], ev[3]);
        n++;
    }
    stats s_h2d = stats_of(h2d, n), s_gpu = stats_of(gpu, n), s_d2h = stats_of(d2h, n), s_tot = stats_of(tot, n),
          s_wall = stats_of(wall, n);
    /* throughput: back-to-back over the streams */
    int nthr = n < 20 ? 20 : n;
    double t0 = now_s();
    for (int k = 0; k < nthr; k++) {
        int s = k % streams;
        if (!no_xfer)
            for (int b = 0; b < ni; b++)
                ks__memcpy_async(dbuf[s][b], hbuf[s][b], bytes[b], 1, stream[s]);
        ks_exec_run(ec[s], stream[s], dbuf[s]);
        if (!no_xfer)
            for (int b = ni; b < nb; b++)
                ks__memcpy_async(hbuf[s][b], dbuf[s][b], bytes[b], 2, stream[s]);
    }
    for (int s = 0; s < streams; s++)
        ks__stream_sync(stream[s]);
    double thr_s = now_s() - t0;
    double ips = (double)nthr * batch / thr_s;
    ks_engine_memory mem;
    ks_engine_memory_report(e, &mem);
    printf("=== kestrel bench: %s on %s (sm_%d) ===\n", onnx ? onnx : engine_path, dev, sm);
    if (onnx)
        printf("build: %.3f s (%d layers)\n", build_s, ks_engine_num_layers(e));
    else
        printf("deserialize: %.3f ms (%d layers; file read + checks + weight upload + cuDNN descriptors, "
               "CUDA context already created)\n", load_ms, ks_engine_num_layers(e));
    printf("batch %d, %d timed runs, cuda-graph %s (auxiliary streams %d), transfers %s, streams %d\n", batch, n,
           graph ? "on" : "off", graph ? ks_exec_aux_streams(ec[0]) : 0, no_xfer ? "off" : "on", streams);
    printf("memory: weights %.2f MiB, activations %.2f MiB (naive %.2f MiB), workspace %.2f MiB\n",
           mem.weight_bytes / 1048576.0, mem.activation_bytes / 1048576.0,
           mem.activation_naive_bytes / 1048576.0, mem.workspace_bytes / 1048576.0);
    if (!no_xfer)
        print_stats("H2D", s_h2d);
    print_stats("GPU compute", s_gpu);
    if (!no_xfer) {
        print_stats("D2H", s_d2h);
        print_stats("end-to-end", s_tot);
    }
    print_stats("host wall", s_wall);
    printf("  throughput    %.1f inferences/s = %.1f images/s (%d runs x batch %d over %d stream(s) in %.3f s)\n",
           nthr / thr_s, ips, nthr, batch, streams, thr_s);
    if (profile) {
        ks_exec_set_profiling(ec[0], 1);
        for (int k = 0; k < 50; k++)
            ks_exec_run(ec[0], stream[0], dbuf[0]);
        ks__stream_sync(stream[0]);
        int nl = ks_exec_get_profile(ec[0], NULL, 0);
        ks_layer_profile *pr = calloc((size_t)nl, sizeof *pr);
        ks_exec_get_profile(ec[0], pr, nl);
        double sum = 0;
        for (int k = 0; k < nl; k++)
            sum += pr[k].mean_ms;
        printf("per-layer profile (mean of %lld runs with events around each layer):\n",
               nl ? (long long)pr[0].n_runs : 0LL);
        printf("  %4s %9s %6s  %-10s %-24s %-5s %s\n", "#", "ms", "%", "kind", "tactic", "prec", "name");
        static const char *pn[] = {"fp32", "tf32", "fp16"};
        for (int k = 0; k < nl; k++)
            printf("  %4d %9.4f %5.1f%%  %-10s %-24s %-5s %s\n", k, pr[k].mean_ms,
                   sum > 0 ? 100.0 * pr[k].mean_ms / sum : 0.0, pr[k].kind, pr[k].tactic,
                   pn[pr[k].precision < 3 ? pr[k].precision : 0], pr[k].name);
        printf("  sum of layers %.4f ms\n", sum);
        print_profile_groups(pr, nl, sum, 0);
        print_profile_groups(pr, nl, sum, 1);
        free(pr);
    }
    if (json) {
        FILE *f = fopen(json, "w");
        if (f) {
            fprintf(f, "{\n  \"model\": \"%s\",\n  \"device\": \"%s\",\n  \"batch\": %d,\n  \"runs\": %d,\n",
                    onnx ? onnx : engine_path, dev, batch, n);
            fprintf(f, "  \"cuda_graph\": %d,\n  \"transfers\": %d,\n  \"streams\": %d,\n  \"build_s\": %.4f,\n  \"deserialize_ms\": %.4f,\n",
                    graph, !no_xfer, streams, build_s, load_ms);
            fprintf(f, "  \"layers\": %d,\n  \"activation_bytes\": %zu,\n  \"weight_bytes\": %zu,\n",
                    ks_engine_num_layers(e), mem.activation_bytes, mem.weight_bytes);
            json_stats(f, "h2d_ms", s_h2d, 1);
            json_stats(f, "gpu_ms", s_gpu, 1);
            json_stats(f, "d2h_ms", s_d2h, 1);
            json_stats(f, "end_to_end_ms", s_tot, 1);
            json_stats(f, "wall_ms", s_wall, 1);
            fprintf(f, "  \"throughput_images_per_s\": %.2f\n}\n", ips);
            fclose(f);
        }
    }
    rc = 0;
    free(h2d);
    free(gpu);
    free(d2h);
    free(tot);
    free(wall);
out:
    for (int s = 0; s < streams; s++) {
        for (int b = 0; b < nb; b++) {
            ks__dev_free(dbuf[s][b]);
            ks__host_free_pinned(hbuf[s][b]);
        }
        ks_exec_context_destroy(ec[s]);
        ks__stream_destroy(stream[s]);
    }
    ks_engine_destroy(e);
    ks_context_destroy(ctx);
    return rc;
}
