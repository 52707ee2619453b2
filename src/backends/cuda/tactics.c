/* Tactic selection: every conv layer's candidate kernels (own implicit GEMM
 * in SIMT and tensor-core tile shapes, split-K variants for layers whose
 * plain grid does not fill the GPU, own depthwise, cuDNN algorithms plain or fused with
 * bias+activation) are checked against a reference result and timed on the
 * real shapes; the fastest correct one is kept. A timing cache (text file
 * keyed by layer signature + GPU + cuDNN version) lets a rebuild skip timing. */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backends/cuda/builder.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda/conv_win.h"
#include "format/engine_format.h"

_Static_assert(KS_IGEMM_CLUSTER == KS_ENG_IGEMM_CLUSTER, "the cluster split-K bit of the engine file");

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

typedef struct tc_entry {
    char key[320];
    int tactic, algo;
    double us;
} tc_entry;

typedef struct tcache {
    tc_entry *e;
    int n, cap;
} tcache;

static void tc_load(ks_context *ctx, tcache *c, const char *path) {
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return;
    char line[512];
    if (!fgets(line, sizeof line, f) || strncmp(line, "KSTC2", 5)) {
        fclose(f);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        tc_entry t;
        memset(&t, 0, sizeof t);
        char *tab = strchr(line, '\t');
        if (!tab || tab - line >= (long)sizeof t.key)
            continue;
        memcpy(t.key, line, (size_t)(tab - line));
        if (sscanf(tab + 1, "%d\t%d\t%lf", &t.tactic, &t.algo, &t.us) != 3)
            continue;
        if (t.tactic < 0 || t.tactic >= KS_TACTIC_COUNT || t.algo < 0 || t.algo > 2047) /* own:igemm cfgs: tile | split << 4 | cluster */
            continue;
        if (c->n == c->cap) {
            int nc = c->cap ? c->cap * 2 : 64;
            tc_entry *ne = ks__realloc(ctx, c->e, (size_t)nc * sizeof *ne);
            if (!ne)
                break;
            c->e = ne;
            c->cap = nc;
        }
        c->e[c->n++] = t;
    }
    fclose(f);
}

static tc_entry *tc_find(tcache *c, const char *key) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].key, key))
            return &c->e[i];
    return NULL;
}

static void tc_put(ks_context *ctx, tcache *c, const char *key, int tactic, int algo, double us) {
    tc_entry *t = tc_find(c, key);
    if (!t) {
        if (c->n == c->cap) {
            int nc = c->cap ? c->cap * 2 : 64;
            tc_entry *ne = ks__realloc(ctx, c->e, (size_t)nc * sizeof *ne);
            if (!ne)
                return;
            c->e = ne;
            c->cap = nc;
        }
        t = &c->e[c->n++];
        memset(t, 0, sizeof *t);
        snprintf(t->key, sizeof t->key, "%s", key);
    }
    t->tactic = tactic;
    t->algo = algo;
    t->us = us;
}

static void tc_save(tcache *c, const char *path) {
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f)
        return;
    fprintf(f, "KSTC2\n");
    for (int i = 0; i < c->n; i++)
        fprintf(f, "%s\t%d\t%d\t%.3f\n", c->e[i].key, c->e[i].tactic, c->e[i].algo, c->e[i].us);
    fclose(f);
}

static void layer_key(const ks_engine *e, const ks_eng_layer *l, int sm, char *key, size_t n) {
    const ks_eng_desc *d = &e->d;
    const ks_eng_tensor *x = &d->tensors[l->in[0]], *w = &d->tensors[l->in[1]];
    snprintf(key, n,
             "sm%d|cudnn%u|conv|%s|x%lldx%lldx%lldx%lld|w%lldx%lldx%lldx%lld|g%lld|s%lldx%lld|p%lld,%lld,%lld,%lld|"
             "d%lldx%lld|a%d|r%d%lld|tf%lld",
             sm, d->cudnn_version, l->dtype == KS_DTYPE_FLOAT16 ? "fp16" : "fp32", (long long)x->dims[0],
             (long long)x->dims[1], (long long)x->dims[2], (long long)x->dims[3], (long long)w->dims[0],
             (long long)w->dims[1], (long long)w->dims[2], (long long)w->dims[3], (long long)l->ip[0],
             (long long)l->ip[3], (long long)l->ip[4], (long long)l->ip[5], (long long)l->ip[6],
             (long long)l->ip[7], (long long)l->ip[8], (long long)l->ip[9], (long long)l->ip[10], l->act,
             l->in[3] >= 0, (long long)l->ip[11], (long long)l->ip[12]);
}

/* Own implicit-GEMM config: configs the engine-file loader knows (0..5) go
 * in algo, the newer tiles and split-K in ip[13] (read by engine_rt.c). */
static void set_own_cfg(ks_eng_layer *l, int tactic, int cfg) {
    l->ip[13] = 0;
    if (tactic != KS_TACTIC_OWN_GEMM || cfg <= 5) {
        l->algo = cfg;
        return;
    }
    int t = KS_IGEMM_TILE(cfg);
    l->algo = l->dtype == KS_DTYPE_FLOAT16 && t >= 3 && t <= 6 ? 3 : 0;
    l->ip[13] = cfg;
}

/* split-K scratch: FP32 partial sums of every split */
static int64_t own_ws(int64_t ny, int algo) {
    int sp = KS_IGEMM_SPLIT(algo);
    return sp > 1 ? (int64_t)sp * ny * 4 : 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fits_fused(const ks_eng_layer *l) {
    if (l->act != KS_ACT_RELU && l->act != KS_ACT_NONE)
        return 0;
    if (l->in[3] >= 0 && l->ip[11])
        return 0;
    return 1;
}

static size_t cudnn_ws(ks_exec_context *ec, ks_cu_layer *r, int algo) {
    size_t ws = 0;
    if (cudnnGetConvolutionForwardWorkspaceSize(ec->cudnn, r->xd, r->wd, r->cd, r->yd,
                                                (cudnnConvolutionFwdAlgo_t)algo, &ws) != CUDNN_STATUS_SUCCESS)
        return (size_t)-1;
    return ws;
}

/* Reads y to host as float. */
static int read_out(ks_exec_context *ec, const ks_eng_tensor *y, void *yp, float *host, void *tmp) {
    if (cudaMemcpy(tmp, yp, (size_t)y->bytes, cudaMemcpyDeviceToHost) != cudaSuccess)
        return 0;
    int64_t n = ks__eng_numel(y);
    if (y->dtype == KS_DTYPE_FLOAT16)
        for (int64_t i = 0; i < n; i++)
            host[i] = ks_half_to_float(((uint16_t *)tmp)[i]);
    else
        memcpy(host, tmp, (size_t)n * 4);
    (void)ec;
    return 1;
}

int ks__dwpw_mode(void) {
    const char *m = getenv("KESTREL_DWPW");
    if (!m || !*m)
        return 1;
    if (!strcmp(m, "off") || !strcmp(m, "0"))
        return 0;
    if (!strncmp(m, "force", 5)) {
        int c = -1;
        if (m[5] != ':' || sscanf(m + 6, "%d", &c) != 1 || c < 0 || c >= KS_DWPW_N_CFG)
            c = -1;
        return 3 + c;
    }
    return 1;
}

/* KESTREL_CONV_FORCE=<tactic name>:<algo> (e.g. own:direct:1, own:pointwise:0):
 * every conv layer for which that tactic is a candidate and passes the
 * reference check takes it regardless of time (tests; timing cache bypassed). */
static int conv_force(int *algo) {
    const char *m = getenv("KESTREL_CONV_FORCE");
    if (!m || !*m)
        return -1;
    const char *colon = strrchr(m, ':');
    int a = 0;
    size_t nlen = strlen(m);
    if (colon && sscanf(colon + 1, "%d", &a) == 1)
        nlen = (size_t)(colon - m);
    for (int t = 0; t < KS_TACTIC_COUNT; t++)
        if (strlen(ks__tactic_name(t)) == nlen && !strncmp(ks__tactic_name(t), m, nlen)) {
            *algo = a;
            return t;
        }
    return -1;
}

/* An A/B switch of the tactic candidates: true when the variable is "off" or "0" */
static int knob_off(const char *name) {
    const char *m = getenv(name);
    return m && (!strcmp(m, "off") || !strcmp(m, "0"));
}

/* KESTREL_CONV_MMA=off: leave the mma.sync implicit-GEMM tiles 10..15 out of the candidates (same-binary A/B) */
static int conv_mma_on(void) { return !knob_off("KESTREL_CONV_MMA"); }

/* KESTREL_CONV_CLUSTER=off: leave the cluster split-K configs out of the candidates (same-binary A/B) */
static int conv_cluster_on(void) { return !knob_off("KESTREL_CONV_CLUSTER"); }

/* KESTREL_CONV_STREAM=off: leave the streaming kernels (own:direct:1,
 * own:pointwise, dw+pw tile 9) out of the candidates (same-binary A/B) */
static int conv_stream_on(void) { return !knob_off("KESTREL_CONV_STREAM"); }

/* KESTREL_CONV_TC=off: leave the fp16 tensor-core 1x1 kernels (own:pointwise:1,
 * dw+pw tile 10) out of the candidates (same-binary A/B) */
static int conv_tc_on(void) { return !knob_off("KESTREL_CONV_TC"); }

/* the conv geometry of layer l, for the kernels' _fits checks */
static void layer_conv_args(const ks_eng_desc *d, const ks_eng_layer *l, ks_conv_args *a) {
    const ks_eng_tensor *x = &d->tensors[l->in[0]], *y = &d->tensors[l->out[0]];
    memset(a, 0, sizeof *a);
    a->n = (int)x->dims[0]; a->c = (int)x->dims[1]; a->ih = (int)x->dims[2]; a->iw = (int)x->dims[3];
    a->k = (int)y->dims[1]; a->oh = (int)y->dims[2]; a->ow = (int)y->dims[3];
    a->groups = (int)l->ip[0]; a->kh = (int)l->ip[1]; a->kw = (int)l->ip[2];
    a->sh = (int)l->ip[3]; a->sw = (int)l->ip[4]; a->pt = (int)l->ip[5]; a->pl = (int)l->ip[6];
    a->dh = (int)l->ip[9]; a->dw = (int)l->ip[10];
}

/* Rel L2 of got vs ref over n. */
static double rel_l2(const float *got, const float *ref, int64_t n) {
    double e = 0, r = 0;
    for (int64_t i = 0; i < n; i++) {
        double dd = (double)got[i] - ref[i];
        e += dd * dd;
        r += (double)ref[i] * ref[i];
    }
    return sqrt(e) / (sqrt(r) + 1e-12);
}

/* Time of one run of layer li in us: 2 warm-up runs, then the best of 3 rounds of 5 runs each
 * (the minimum round, not the mean: a round slowed by clock ramp-up or a neighbour must not
 * decide the tactic; with one round of 10, two builds of RFB-640 at batch 32 picked different
 * tactics for a third of its 1x1 layers, 0.073 vs 0.094 ms in the network). -1 on a failure. */
static double time_layer(ks_exec_context *ec, int li, cudaStream_t s, cudaEvent_t ev0, cudaEvent_t ev1) {
    for (int w = 0; w < 2; w++)
        ks__cuda_run_layer(ec, li, s);
    double best = -1;
    for (int round = 0; round < 3; round++) {
        cudaEventRecord(ev0, s);
        for (int r = 0; r < 5; r++)
            ks__cuda_run_layer(ec, li, s);
        cudaEventRecord(ev1, s);
        float ms = 0;
        if (cudaEventSynchronize(ev1) != cudaSuccess)
            return -1;
        cudaEventElapsedTime(&ms, ev0, ev1);
        double us = ms * 1000.0 / 5;
        if (best < 0 || us < best)
            best = us;
    }
    return best;
}

/* The string "first+second" of two layer names, added to d's strings (UINT32_MAX when out of memory: the fused
 * layer keeps its own name). May move d's tables. */
static uint32_t fused_name(ks_eng_desc *d, uint32_t first, uint32_t second) {
    char name[256];
    snprintf(name, sizeof name, "%s+%s", ks__eng_str(d, first), ks__eng_str(d, second));
    return ks__eng_add_string(d, name);
}

/* Turns pointwise layer p into the fused dw+pw layer reading dw's input. */
static void make_dwpw(ks_eng_layer *p, const ks_eng_layer *dw, int cfg) {
    p->in[0] = dw->in[0];
    p->in[5] = dw->in[1];
    p->in[6] = dw->in[2];
    p->in[7] = dw->act == KS_ACT_PRELU ? dw->in[4] : -1;
    p->n_in = 8;
    for (int k = 1; k <= 10; k++)
        p->ip[13 + k] = dw->ip[k];
    p->ip[13] = 0;
    p->ip[24] = dw->act;
    p->fp[0] = dw->act_a;
    p->fp[1] = dw->act_b;
    p->tactic = KS_TACTIC_OWN_DWPW;
    p->algo = cfg;
    p->workspace_bytes = 0;
}

/* tile 10 (tensor cores, fp16) supports the pair dw -> p */
static int dwpw_tc_fits(const ks_eng_desc *d, const ks_eng_layer *dw, const ks_eng_layer *p) {
    const ks_eng_tensor *x = &d->tensors[dw->in[0]], *y = &d->tensors[p->out[0]];
    ks_dwpw_args f;
    memset(&f, 0, sizeof f);
    f.n = (int)x->dims[0]; f.c = (int)x->dims[1]; f.ih = (int)x->dims[2]; f.iw = (int)x->dims[3];
    f.k = (int)y->dims[1]; f.oh = (int)y->dims[2]; f.ow = (int)y->dims[3];
    f.kh = (int)dw->ip[1]; f.kw = (int)dw->ip[2]; f.sh = (int)dw->ip[3]; f.sw = (int)dw->ip[4];
    f.pt = (int)dw->ip[5]; f.pl = (int)dw->ip[6]; f.dh = (int)dw->ip[9]; f.dw = (int)dw->ip[10];
    return ks__cu_conv_dwpw_tc_fits(&f, p->dtype == KS_DTYPE_FLOAT16);
}

/* Fused depthwise + pointwise: for every candidate pair found by the planner
 * (b->dwpw), times the fused kernel's tiles against the two layers' chosen
 * tactics; where fused is faster (or KESTREL_DWPW=force), the pointwise
 * layer becomes the fused one and the depthwise layer is dropped. */
static ks_status dwpw_select(kb *b, ks_engine *e, ks_exec_context *ec, cudaStream_t s, tcache *tc,
                             const double *lus, cudaEvent_t ev0, cudaEvent_t ev1, float *ref, float *got,
                             void *tmp, int *n_timed, char *drop) {
    ks_context *ctx = b->ctx;
    ks_eng_desc *d = &e->d;
    int mode = ks__dwpw_mode();
    if (b->n_dwpw == 0 || mode == 0)
        return KS_OK;
    int n_fused = 0, n_cached = 0;
    double saved_us = 0;
    for (int i = 0; i < b->n_dwpw; i++) {
        int di = b->dwpw[2 * i], pi = b->dwpw[2 * i + 1];
        ks_eng_layer *dw = &d->layers[di], *p = &d->layers[pi];
        const ks_eng_tensor *x = &d->tensors[dw->in[0]], *y = &d->tensors[p->out[0]];
        int64_t ny = ks__eng_numel(y);
        char key[320];
        snprintf(key, sizeof key,
                 "sm%d|cudnn%u|dwpw|%s|x%lldx%lldx%lldx%lld|k%lldx%lld|s%lldx%lld|p%lld,%lld,%lld,%lld|d%lldx%lld|"
                 "da%d|m%lld|a%d|r%d%lld",
                 b->sm, d->cudnn_version, p->dtype == KS_DTYPE_FLOAT16 ? "fp16" : "fp32", (long long)x->dims[0],
                 (long long)x->dims[1], (long long)x->dims[2], (long long)x->dims[3], (long long)dw->ip[1],
                 (long long)dw->ip[2], (long long)dw->ip[3], (long long)dw->ip[4], (long long)dw->ip[5],
                 (long long)dw->ip[6], (long long)dw->ip[7], (long long)dw->ip[8], (long long)dw->ip[9],
                 (long long)dw->ip[10], dw->act, (long long)y->dims[1], p->act, p->in[3] >= 0,
                 (long long)p->ip[11]);
        int best_cfg = -1;
        double best_us = 1e30, pair_us = lus[di] + lus[pi];
        tc_entry *hit = mode == 1 ? tc_find(tc, key) : NULL;
        if (hit) {
            n_cached++;
            if (hit->tactic == KS_TACTIC_OWN_DWPW && hit->algo < KS_DWPW_N_CFG) {
                best_cfg = hit->algo;
                best_us = hit->us;
            }
        } else if (mode >= 2 || b->cfg->tactic_timing) {
            /* reference: the pair with its chosen tactics */
            ks__cu_fill_random(ec->tp[p->out[0]], y->bytes / 2, 1, -9.f, 9.f, 77u, s);
            if (ks__cuda_run_layer(ec, di, s) != KS_OK || ks__cuda_run_layer(ec, pi, s) != KS_OK ||
                cudaStreamSynchronize(s) != cudaSuccess || !read_out(ec, y, ec->tp[p->out[0]], ref, tmp))
                return ks__error_prefix(ctx, "dw+pw reference run");
            ks_eng_layer save = *p;
            double tol = p->dtype == KS_DTYPE_FLOAT16 || p->ip[12] || dw->ip[12] ? 4e-3 : 2e-5;
            for (int c = 0; c < KS_DWPW_N_CFG; c++) {
                if (mode >= 3 && c != mode - 3)
                    continue;
                if (mode < 3 && (c == KS_DWPW_STREAM_CFG || c == KS_DWPW_TC_CFG) && !conv_stream_on())
                    continue;
                if (c == KS_DWPW_TC_CFG && ((mode < 3 && !conv_tc_on()) || !dwpw_tc_fits(d, dw, p)))
                    continue;
                make_dwpw(p, dw, c);
                ks__cu_fill_random(ec->tp[p->out[0]], y->bytes / 2, 1, -9.f, 9.f, 99u + c, s);
                if (ks__cuda_run_layer(ec, pi, s) != KS_OK || cudaStreamSynchronize(s) != cudaSuccess) {
                    cudaGetLastError();
                    if (mode >= 3)
                        ks__kb_report(b, "dw+pw '%s': forced tile %d failed to run: %s\n", ks__eng_str(d, p->name), c,
                                      ks_context_last_error(ctx));
                    ks_context_clear_error(ctx);
                    continue;
                }
                if (!read_out(ec, y, ec->tp[p->out[0]], got, tmp))
                    continue;
                double err = rel_l2(got, ref, ny);
                if (!(err <= tol) && mode >= 3)
                    ks__kb_report(b, "dw+pw '%s': forced tile %d rejected (rel L2 error %.3g)\n",
                                  ks__eng_str(d, p->name), c, err);
                if (!(err <= tol)) {
                    ks__log(ctx, KS_LOG_WARN, "layer '%s': fused dw+pw tile %d rejected (rel L2 error %.3g)",
                            ks__eng_str(d, p->name), c, err);
                    continue;
                }
                double us = time_layer(ec, pi, s, ev0, ev1);
                if (us < 0) {
                    cudaGetLastError();
                    continue;
                }
                if (us < best_us) {
                    best_us = us;
                    best_cfg = c;
                }
            }
            *p = save;
            (*n_timed)++;
            if (mode == 1)
                tc_put(ctx, tc, key, best_cfg >= 0 && best_us < pair_us ? KS_TACTIC_OWN_DWPW : KS_TACTIC_DEFAULT,
                       best_cfg >= 0 ? best_cfg : 0, best_us);
        }
        int fuse = best_cfg >= 0 && (mode >= 2 || best_us < pair_us);
        ks__log(ctx, KS_LOG_INFO, "dw+pw '%s' -> '%s': pair %.2f us, fused tile %d %.2f us: %s",
                ks__eng_str(d, dw->name), ks__eng_str(d, p->name), pair_us, best_cfg, best_us,
                fuse ? "fused" : "kept apart");
        if (!fuse)
            continue;
        uint32_t nm = fused_name(d, dw->name, p->name);
        d = &e->d;
        dw = &d->layers[di];
        p = &d->layers[pi];
        make_dwpw(p, dw, best_cfg);
        if (nm != UINT32_MAX)
            p->name = nm;
        snprintf(e->lrt[pi].tactic_str, sizeof e->lrt[pi].tactic_str, "%s:%d", ks__tactic_name(p->tactic),
                 best_cfg);
        drop[di] = 1;
        n_fused++;
        if (pair_us < 1e29)
            saved_us += pair_us - best_us;
    }
    ks__kb_report(b,
                  "Depthwise+pointwise fusion: %d of %d pairs fused (%d decisions from the timing cache%s), "
                  "%.1f us saved by timing\n",
                  n_fused, b->n_dwpw, n_cached, mode >= 2 ? "; forced by KESTREL_DWPW" : "", saved_us);
    return KS_OK;
}

/* Off unless asked for: on the H200 the fused kernel lost to the pair on YOLOv5n's 80x80 head at batch 32
 * (0.466 vs 0.215 ms) and 1 (0.074 vs 0.020 ms), bench/RESULTS.md tenth session, and a candidate pair keeps the
 * conv's input live until the segmap (more activation memory). */
int ks__pwseg_mode(void) {
    const char *m = getenv("KESTREL_PW_SEG");
    if (!m || !*m || !strcmp(m, "off") || !strcmp(m, "0"))
        return 0;
    return !strcmp(m, "force") ? 2 : 1;
}

/* The rows segmap layer sl writes (B images of A*H*W*C float16 values, algo elements apart when strided),
 * from its output pointer yp, into host as floats. */
static int read_seg_rows(const ks_eng_desc *d, const ks_eng_layer *sl, const void *yp, float *host, void *tmp) {
    const ks_eng_tensor *y = &d->tensors[sl->out[0]];
    const int64_t row = y->dims[1] * y->dims[2] * y->dims[3] * y->dims[4], B = y->dims[0];
    const int64_t stride = sl->algo ? sl->algo : row;
    if (cudaMemcpy2D(tmp, (size_t)row * 2, yp, (size_t)stride * 2, (size_t)row * 2, (size_t)B,
                     cudaMemcpyDeviceToHost) != cudaSuccess)
        return 0;
    for (int64_t i = 0; i < B * row; i++)
        host[i] = ks_half_to_float(((uint16_t *)tmp)[i]);
    return 1;
}

/* Segmap layer sg runs 1x1 conv layer p in front (docs/format.md, version 7): x is the conv's input, its
 * weights and bias follow the constants. */
static void make_pwseg(ks_eng_layer *sg, const ks_eng_layer *p) {
    const int nc = sg->n_in - 1;
    sg->in[0] = p->in[0];
    sg->in[1 + nc] = p->in[1];
    sg->in[2 + nc] = p->in[2];
    sg->n_in = nc + 3;
    sg->tactic = KS_TACTIC_OWN_PW;
}

/* Fused 1x1 conv + segmap: for every candidate pair found by the planner (b->pwseg), times the tensor-core 1x1
 * with the segmap in its epilogue against the conv's chosen tactic plus the segmap kernel, after checking its
 * output against theirs; where fused is faster (or KESTREL_PW_SEG=force), the segmap layer takes the conv in
 * and the conv layer is dropped (drop). */
static ks_status pwseg_select(kb *b, ks_engine *e, ks_exec_context *ec, cudaStream_t s, tcache *tc,
                              const double *lus, cudaEvent_t ev0, cudaEvent_t ev1, float *ref, float *got,
                              void *tmp, int *n_timed, char *drop) {
    ks_context *ctx = b->ctx;
    ks_eng_desc *d = &e->d;
    const int mode = ks__pwseg_mode();
    if (b->n_pwseg == 0 || mode == 0)
        return KS_OK;
    int n_fused = 0, n_cached = 0;
    double saved_us = 0;
    for (int i = 0; i < b->n_pwseg; i++) {
        const int pi = b->pwseg[2 * i], si = b->pwseg[2 * i + 1];
        ks_eng_layer *p = &d->layers[pi], *sg = &d->layers[si];
        if (drop[pi] || p->tactic == KS_TACTIC_OWN_DWPW) /* taken by a dw+pw fusion */
            continue;
        const ks_eng_tensor *x = &d->tensors[p->in[0]], *sy = &d->tensors[sg->out[0]];
        const int64_t n = ks__eng_numel(sy);
        char key[256];
        snprintf(key, sizeof key, "sm%d|cudnn%u|pwseg|fp16|x%lldx%lldx%lldx%lld|k%lldx%lld|st%d|i%lld|c%d", b->sm,
                 d->cudnn_version, (long long)x->dims[0], (long long)x->dims[1], (long long)x->dims[2],
                 (long long)x->dims[3], (long long)sy->dims[1], (long long)sy->dims[4], sg->algo != 0,
                 (long long)sg->ip[9], sg->n_in - 1);
        int fuse = 0;
        double fused_us = -1, pair_us = -1;
        tc_entry *hit = mode == 1 ? tc_find(tc, key) : NULL;
        if (hit) {
            n_cached++;
            fuse = hit->tactic == KS_TACTIC_OWN_PW;
            fused_us = hit->us;
        } else if (mode == 2 || b->cfg->tactic_timing) {
            void *yp = ec->tp[sg->out[0]];
            /* reference: the two layers with their chosen tactics */
            if (ks__cuda_run_layer(ec, pi, s) != KS_OK || ks__cuda_run_layer(ec, si, s) != KS_OK ||
                cudaStreamSynchronize(s) != cudaSuccess || !read_seg_rows(d, sg, yp, ref, tmp))
                return ks__error_prefix(ctx, "1x1 conv + segmap reference run");
            const double seg_us = time_layer(ec, si, s, ev0, ev1);
            pair_us = seg_us >= 0 ? lus[pi] + seg_us : 1e30;
            const ks_eng_layer save = *sg;
            make_pwseg(sg, p);
            ks__cu_fill_random(yp, ks__eng_segmap_span(d, sg) / 2, 1, -9.f, 9.f, 4242u, s);
            int ok = ks__cuda_run_layer(ec, si, s) == KS_OK && cudaStreamSynchronize(s) == cudaSuccess &&
                     read_seg_rows(d, sg, yp, got, tmp);
            if (!ok) {
                cudaGetLastError();
                ks__log(ctx, KS_LOG_WARN, "layer '%s': fused 1x1 conv + segmap failed to run: %s",
                        ks__eng_str(d, sg->name), ks_context_last_error(ctx));
                ks_context_clear_error(ctx);
            } else {
                const double err = rel_l2(got, ref, n);
                ok = err <= 4e-3;
                if (!ok)
                    ks__log(ctx, KS_LOG_WARN, "layer '%s': fused 1x1 conv + segmap rejected (rel L2 error %.3g)",
                            ks__eng_str(d, sg->name), err);
            }
            fused_us = ok ? time_layer(ec, si, s, ev0, ev1) : -1;
            *sg = save;
            fuse = fused_us >= 0 && (mode == 2 || fused_us < pair_us);
            (*n_timed)++;
            if (mode == 1)
                tc_put(ctx, tc, key, fuse ? KS_TACTIC_OWN_PW : KS_TACTIC_DEFAULT, 0, fused_us);
        }
        ks__log(ctx, KS_LOG_INFO, "1x1 conv + segmap '%s' -> '%s': pair %.2f us, fused %.2f us: %s",
                ks__eng_str(d, p->name), ks__eng_str(d, sg->name), pair_us, fused_us, fuse ? "fused" : "kept apart");
        if (!fuse)
            continue;
        uint32_t nm = fused_name(d, p->name, sg->name);
        d = &e->d;
        p = &d->layers[pi];
        sg = &d->layers[si];
        make_pwseg(sg, p);
        if (nm != UINT32_MAX)
            sg->name = nm;
        snprintf(e->lrt[si].tactic_str, sizeof e->lrt[si].tactic_str, "own:pointwise:1+segmap");
        drop[pi] = 1;
        n_fused++;
        if (pair_us > 0 && pair_us < 1e29)
            saved_us += pair_us - fused_us;
    }
    ks__kb_report(b,
                  "1x1 conv + segmap fusion: %d of %d pairs fused (%d decisions from the timing cache%s), "
                  "%.1f us saved by timing\n",
                  n_fused, b->n_pwseg, n_cached, mode >= 2 ? "; forced by KESTREL_PW_SEG" : "", saved_us);
    return KS_OK;
}

ks_status ks__tactics_select(kb *b, ks_engine *e) {
    ks_context *ctx = b->ctx;
    ks_eng_desc *d = &e->d;
    double t0 = now_s();
    size_t limit = b->cfg->workspace_limit_bytes ? b->cfg->workspace_limit_bytes : (256u << 20);
    tcache tc = {0};
    tc_load(ctx, &tc, b->cfg->timing_cache_path);
    int n_conv = 0;
    for (int i = 0; i < d->n_layers; i++)
        n_conv += d->layers[i].kind == KS_LAYER_CONV;
    if (n_conv == 0) {
        ks__free(ctx, tc.e);
        return KS_OK;
    }
    d->workspace_bytes = (int64_t)limit;
    ks_exec_context *ec = NULL;
    ks_status st = ks_exec_context_create(e, &ec);
    if (st != KS_OK) {
        d->workspace_bytes = 0;
        ks__free(ctx, tc.e);
        return st;
    }
    int nb = d->n_inputs + d->n_outputs;
    void *bind[64] = {0};
    cudaStream_t s = NULL;
    cudaEvent_t ev0 = NULL, ev1 = NULL;
    float *ref = NULL, *got = NULL;
    double *lus = NULL;
    char *drop = NULL;
    void *tmp = NULL;
    int64_t max_out = 0;
    for (int i = 0; i < d->n_layers; i++)
        if (d->layers[i].kind == KS_LAYER_CONV) {
            int64_t by = d->tensors[d->layers[i].out[0]].bytes;
            if (by > max_out)
                max_out = by;
        }
    ref = ks__alloc(ctx, (size_t)max_out * 2 + 16);
    got = ks__alloc(ctx, (size_t)max_out * 2 + 16);
    tmp = ks__alloc(ctx, (size_t)max_out + 16);
    if (!ref || !got || !tmp || nb > 64) {
        st = ks__oom(ctx, 0, "tactic buffers");
        goto done;
    }
    if (cudaStreamCreate(&s) != cudaSuccess || cudaEventCreate(&ev0) != cudaSuccess ||
        cudaEventCreate(&ev1) != cudaSuccess) {
        st = ks__error(ctx, KS_DEVICE_ERROR, "tactic timing: stream/event creation failed");
        goto done;
    }
    for (int i = 0; i < nb; i++) {
        const ks_eng_tensor *t = &d->tensors[d->bindings[i]];
        if (cudaMalloc(&bind[i], (size_t)(t->bytes > 0 ? t->bytes : 16)) != cudaSuccess) {
            st = ks__error(ctx, KS_OUT_OF_MEMORY, "tactic timing: binding buffer");
            goto done;
        }
        if (t->dtype == KS_DTYPE_FLOAT16 || t->dtype == KS_DTYPE_FLOAT32)
            ks__cu_fill_random(bind[i], ks__eng_numel(t), t->dtype == KS_DTYPE_FLOAT16, -1.f, 1.f, 7u + i, s);
    }
    if (d->arena_bytes > 0)
        ks__cu_fill_random(ec->arena, d->arena_bytes / 2, 1, -1.f, 1.f, 1234u, s);
    ks__cuda_resolve(ec, bind);
    ec->ptrs_valid = 1;
    cudaStreamSynchronize(s);
    int n_sm = 132, dev = 0, cc_major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n_sm <= 0)
        n_sm = 132;
    if (cudaDeviceGetAttribute(&cc_major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
        cc_major = 0;
    /* thread-block clusters (cluster split-K): sm_90 on, KESTREL_CONV_CLUSTER=off leaves them out */
    const int cluster_ok = cc_major >= 9 && conv_cluster_on();
    int n_timed = 0, n_cached = 0, force_a = 0, n_forced = 0;
    int force_t = conv_force(&force_a);
    int64_t ws_final = 0;
    lus = ks__alloc_array(ctx, (size_t)d->n_layers + 1, sizeof(double));
    if (!lus) {
        st = ks__oom(ctx, 0, "tactic times");
        goto done;
    }
    for (int li = 0; li < d->n_layers; li++) {
        ks_eng_layer *l = &d->layers[li];
        if (l->kind != KS_LAYER_CONV)
            continue;
        char key[320];
        layer_key(e, l, b->sm, key, sizeof key);
        const ks_eng_tensor *y = &d->tensors[l->out[0]];
        void *yp = ec->tp[l->out[0]];
        int64_t ny = ks__eng_numel(y);
        int is_dw = l->ip[0] > 1 && l->ip[0] == d->tensors[l->in[0]].dims[1] && l->ip[0] == y->dims[1];
        tc_entry *hit = force_t >= 0 ? NULL : tc_find(&tc, key);
        int best_t = l->tactic, best_a = l->algo, forced = 0;
        double best_us = 1e30;
        if (hit && (hit->tactic == KS_TACTIC_CUDNN || hit->tactic == KS_TACTIC_CUDNN_FUSED)) {
            if (ks__cuda_layer_setup(e, li) != KS_OK || !e->lrt[li].has_cudnn)
                hit = NULL;
        }
        if (hit) {
            best_t = hit->tactic;
            best_a = hit->algo;
            best_us = hit->us;
            n_cached++;
        } else if (b->cfg->tactic_timing) {
            /* reference: own implicit GEMM (plain FP32/FP16 FMA) */
            l->tactic = KS_TACTIC_OWN_GEMM;
            set_own_cfg(l, KS_TACTIC_OWN_GEMM, 0);
            if (ks__cuda_run_layer(ec, li, s) != KS_OK || cudaStreamSynchronize(s) != cudaSuccess ||
                !read_out(ec, y, yp, ref, tmp)) {
                st = ks__error_prefix(ctx, "tactic reference run");
                goto done;
            }
            double refn = 0;
            for (int64_t i = 0; i < ny; i++)
                refn += (double)ref[i] * ref[i];
            refn = sqrt(refn) + 1e-12;
            int cand_t[128], cand_a[128], nc = 0; /* at most 16 plain + 64 split-K + 6 cluster + 24 others */
            {
                /* SIMT tiles 64x64, 32x128, 16x256 and the small ones 32x32,
                 * 16x64, 64x16 that give more blocks on small maps */
                static const int simt[] = {0, 1, 2, 7, 8, 9};
                for (int c = 0; c < 6; c++) { cand_t[nc] = KS_TACTIC_OWN_GEMM; cand_a[nc++] = simt[c]; }
            }
            if (l->dtype == KS_DTYPE_FLOAT16 && !is_dw) /* tensor-core WMMA tiles */
                for (int c = 3; c < 7; c++) { cand_t[nc] = KS_TACTIC_OWN_GEMM; cand_a[nc++] = c; }
            if (l->dtype == KS_DTYPE_FLOAT16 && !is_dw && conv_mma_on()) {
                /* tensor-core mma.sync tiles (conv_mma.cu); the 128-row tile only for wide layers, the
                 * 16-row one only for narrow ones */
                int64_t kg = y->dims[1] / l->ip[0];
                for (int c = 10; c < 16; c++) {
                    if ((c == 12 && kg < 96) || (c == 15 && kg > 32))
                        continue;
                    cand_t[nc] = KS_TACTIC_OWN_GEMM;
                    cand_a[nc++] = c;
                }
            }
            if (!is_dw) {
                /* split-K: when the plain grid is under two waves and K is
                 * long, cut the K loop over more blocks */
                const ks_eng_tensor *xt = &d->tensors[l->in[0]];
                int64_t groups = l->ip[0], kg = y->dims[1] / groups;
                int64_t K = xt->dims[1] / groups * l->ip[1] * l->ip[2];
                int64_t npix = y->dims[0] * y->dims[2] * y->dims[3];
                static const int tiles[] = {0, 7, 3, 6, 10, 13};
                static const int tbm[] = {64, 32, 64, 32, 64, 32}, tbn[] = {64, 32, 64, 32, 64, 32},
                                 tbk[] = {16, 16, 32, 32, 32, 64};
                for (int ti = 0; ti < 6; ti++) {
                    if (tiles[ti] >= 3 && (l->dtype != KS_DTYPE_FLOAT16))
                        continue;
                    if (tiles[ti] >= 10 && !conv_mma_on())
                        continue;
                    int64_t blocks = (npix + tbn[ti] - 1) / tbn[ti] * ((kg + tbm[ti] - 1) / tbm[ti]) * groups;
                    if (blocks >= 2 * n_sm)
                        continue;
                    for (int sp = 2; sp <= 32 && nc < 64; sp *= 2) {
                        if (K < (int64_t)sp * 2 * tbk[ti] || blocks * sp > 4 * n_sm)
                            break;
                        if ((uint64_t)sp * ny * 4 > limit)
                            break;
                        cand_t[nc] = KS_TACTIC_OWN_GEMM;
                        cand_a[nc++] = KS_IGEMM_CFG(tiles[ti], sp);
                    }
                    /* the same splits as one thread-block cluster (mma tiles, 2..8 splits, no scratch) */
                    for (int sp = 2; tiles[ti] >= 10 && cluster_ok && sp <= 8; sp *= 2) {
                        if (K < (int64_t)sp * 2 * tbk[ti] || blocks * sp > 4 * n_sm)
                            break;
                        cand_t[nc] = KS_TACTIC_OWN_GEMM;
                        cand_a[nc++] = KS_IGEMM_CFG(tiles[ti], sp) | KS_IGEMM_CLUSTER;
                    }
                }
            }
            if (is_dw) {
                for (int c = 0; c < 3; c++) { cand_t[nc] = KS_TACTIC_OWN_DW; cand_a[nc++] = c; }
                ks_conv_args ga;
                layer_conv_args(d, l, &ga);
                if (ks__cu_conv_dw_strip_fits(&ga)) { cand_t[nc] = KS_TACTIC_OWN_DW; cand_a[nc++] = 3; }
                /* rolling rows (KESTREL_DW_ROLL=off leaves it out: same-binary A/B) */
                if (!knob_off("KESTREL_DW_ROLL") && ks__cu_conv_dw_roll_fits(&ga, l->dtype == KS_DTYPE_FLOAT16)) {
                    cand_t[nc] = KS_TACTIC_OWN_DW;
                    cand_a[nc++] = 4;
                }
            }
            {
                const ks_eng_tensor *xt = &d->tensors[l->in[0]];
                int64_t wk = y->dims[1] * xt->dims[1] * l->ip[1] * l->ip[2];
                if (l->ip[0] == 1 && xt->dims[1] <= 8 && wk * 4 <= 48 * 1024) { /* tiny-channel first layers */
                    cand_t[nc] = KS_TACTIC_OWN_DIRECT;
                    cand_a[nc++] = 0;
                }
            }
            if (conv_stream_on()) {
                /* streaming kernels for large maps with few channels (batch throughput) */
                ks_conv_args ga;
                layer_conv_args(d, l, &ga);
                int half = l->dtype == KS_DTYPE_FLOAT16;
                if (ks__cu_conv_direct_tiled_fits(&ga, half)) {
                    cand_t[nc] = KS_TACTIC_OWN_DIRECT;
                    cand_a[nc++] = 1;
                }
                /* window-staged tensor-core direct conv (float16; KESTREL_CONV_WIN=off leaves it out), for maps of
                 * 64x64 pixels and more: with it a candidate on YOLOv5n's 40x40 and 20x20 3x3 convs at batch 32,
                 * the builds picked tactics for those layers that ran 2x slower in the network than the ones
                 * picked without it (bench/RESULTS.md, seventh session); where it wins (RFB-640's 60x80 branch
                 * convs, YOLOv5n's 160x160 ones) the maps are larger */
                const int win_map = (int64_t)ga.oh * ga.ow >= 4096 || force_t == KS_TACTIC_OWN_DIRECT; /* tests: any map */
                for (int c = 0; half && win_map && !knob_off("KESTREL_CONV_WIN") && c < KS_DIRECT_WIN_N; c++)
                    if (ks__cu_conv_win_fits(&ga, c)) {
                        cand_t[nc] = KS_TACTIC_OWN_DIRECT;
                        cand_a[nc++] = KS_DIRECT_WIN_FIRST + c;
                    }
                const char *tcd = getenv("KESTREL_TC_DIRECT"); /* =off: left out (same-binary A/B) */
                if (half && !(tcd && !strcmp(tcd, "off")) && ks__cu_conv_tc_direct_fits(&ga)) {
                    /* tensor-core first layer, FP16 only */
                    cand_t[nc] = KS_TACTIC_OWN_DIRECT;
                    cand_a[nc++] = 2;
                }
                if (ks__cu_conv_pw_stream_fits(&ga)) {
                    cand_t[nc] = KS_TACTIC_OWN_PW;
                    cand_a[nc++] = 0;
                }
                if (conv_tc_on() && ks__cu_conv_pw_tc_fits(&ga, half)) { /* tensor-core 1x1, fp16 */
                    cand_t[nc] = KS_TACTIC_OWN_PW;
                    cand_a[nc++] = 1;
                }
            }
            if (ks__cuda_layer_setup(e, li) == KS_OK && e->lrt[li].has_cudnn) {
                cudnnConvolutionFwdAlgoPerf_t perf[8];
                int got_n = 0;
                cudnnSetStream(ec->cudnn, s);
                if (cudnnGetConvolutionForwardAlgorithm_v7(ec->cudnn, e->lrt[li].xd, e->lrt[li].wd,
                                                           e->lrt[li].cd, e->lrt[li].yd, 8, &got_n,
                                                           perf) == CUDNN_STATUS_SUCCESS) {
                    int taken = 0;
                    for (int k = 0; k < got_n && taken < 4; k++) {
                        if (perf[k].status != CUDNN_STATUS_SUCCESS || perf[k].memory > limit)
                            continue;
                        cand_t[nc] = KS_TACTIC_CUDNN; cand_a[nc++] = (int)perf[k].algo;
                        if (fits_fused(l) && (l->act == KS_ACT_RELU ||
                                              perf[k].algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)) {
                            cand_t[nc] = KS_TACTIC_CUDNN_FUSED; cand_a[nc++] = (int)perf[k].algo;
                        }
                        taken++;
                    }
                    if (fits_fused(l) && l->act == KS_ACT_NONE) {
                        int have = 0;
                        for (int k = 0; k < nc; k++)
                            have |= cand_t[k] == KS_TACTIC_CUDNN_FUSED;
                        if (!have) {
                            cand_t[nc] = KS_TACTIC_CUDNN_FUSED;
                            cand_a[nc++] = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
                        }
                    }
                }
            }
            /* relative L2 against the plain-FMA reference: fp16 tactics differ
             * only by accumulation order and rounding (~1e-3), fp32 ones by
             * ulps; anything more is a wrong kernel */
            double tol = l->dtype == KS_DTYPE_FLOAT16 ? 4e-3 : l->ip[12] ? 4e-3 : 2e-5;
            for (int c = 0; c < nc; c++) {
                l->tactic = cand_t[c];
                set_own_cfg(l, cand_t[c], cand_a[c]);
                if (cand_t[c] == KS_TACTIC_CUDNN || cand_t[c] == KS_TACTIC_CUDNN_FUSED) {
                    size_t ws = cudnn_ws(ec, &e->lrt[li], cand_a[c]);
                    if (ws > limit)
                        continue;
                }
                if (cand_t[c] == KS_TACTIC_OWN_GEMM && (uint64_t)own_ws(ny, cand_a[c]) > limit)
                    continue;
                ks__cu_fill_random(yp, y->bytes / 2, 1, -9.f, 9.f, 99u + c, s);
                if (ks__cuda_run_layer(ec, li, s) != KS_OK || cudaStreamSynchronize(s) != cudaSuccess) {
                    cudaGetLastError();
                    ks_context_clear_error(ctx);
                    continue;
                }
                if (!read_out(ec, y, yp, got, tmp))
                    continue;
                double err = 0;
                for (int64_t i = 0; i < ny; i++) {
                    double dd = (double)got[i] - ref[i];
                    err += dd * dd;
                }
                err = sqrt(err) / refn;
                if (!(err <= tol)) {
                    ks__log(ctx, KS_LOG_INFO, "layer '%s': tactic %s:%d rejected (rel L2 error %.3g)",
                            ks__eng_str(d, l->name), ks__tactic_name(cand_t[c]), cand_a[c], err);
                    continue;
                }
                double us = time_layer(ec, li, s, ev0, ev1);
                if (us < 0) {
                    cudaGetLastError();
                    continue;
                }
                int is_forced = cand_t[c] == force_t && cand_a[c] == force_a;
                if (!forced && (us < best_us || is_forced)) {
                    best_us = us;
                    best_t = cand_t[c];
                    best_a = cand_a[c];
                    forced = is_forced;
                }
            }
            n_timed++;
            n_forced += forced;
            if (force_t < 0)
                tc_put(ctx, &tc, key, best_t, best_a, best_us);
        }
        l->tactic = best_t;
        set_own_cfg(l, best_t, best_a);
        lus[li] = best_us;
        l->workspace_bytes = 0;
        if (best_t == KS_TACTIC_OWN_GEMM && own_ws(ny, best_a) > 0) {
            l->workspace_bytes = own_ws(ny, best_a);
            if (l->workspace_bytes > ws_final)
                ws_final = l->workspace_bytes;
        }
        if (best_t == KS_TACTIC_CUDNN || best_t == KS_TACTIC_CUDNN_FUSED) {
            size_t ws = cudnn_ws(ec, &e->lrt[li], best_a);
            if (ws == (size_t)-1) {
                st = ks__error(ctx, KS_DEVICE_ERROR, "layer '%s': cuDNN workspace query failed",
                               ks__eng_str(d, l->name));
                goto done;
            }
            l->workspace_bytes = (int64_t)ws;
            if ((int64_t)ws > ws_final)
                ws_final = (int64_t)ws;
        }
        snprintf(e->lrt[li].tactic_str, sizeof e->lrt[li].tactic_str, "%s:%s",
                 ks__tactic_name(best_t),
                 best_t == KS_TACTIC_CUDNN || best_t == KS_TACTIC_CUDNN_FUSED ? ks__cudnn_algo_name(best_a) : "");
        if (best_t == KS_TACTIC_OWN_GEMM || best_t == KS_TACTIC_OWN_DW || best_t == KS_TACTIC_OWN_DIRECT ||
            best_t == KS_TACTIC_OWN_PW)
            snprintf(e->lrt[li].tactic_str, sizeof e->lrt[li].tactic_str, "%s:%d", ks__tactic_name(best_t), best_a);
        if (best_t == KS_TACTIC_OWN_GEMM && KS_IGEMM_SPLIT(best_a) > 1)
            snprintf(e->lrt[li].tactic_str, sizeof e->lrt[li].tactic_str, "%s:%d/%s%d", ks__tactic_name(best_t),
                     KS_IGEMM_TILE(best_a), KS_IGEMM_IS_CLUSTER(best_a) ? "cluster" : "splitk",
                     KS_IGEMM_SPLIT(best_a));
    }
    ks__kb_report(b, "Tactic selection: %d conv layers timed, %d from the timing cache, %.3f s\n", n_timed,
                  n_cached, now_s() - t0);
    if (force_t >= 0)
        ks__kb_report(b, "Forced conv tactic %s:%d (KESTREL_CONV_FORCE): %d of %d conv layers\n",
                      ks__tactic_name(force_t), force_a, n_forced, n_conv);
    drop = ks__alloc(ctx, (size_t)d->n_layers + 1);
    if (!drop) {
        st = ks__oom(ctx, 0, "fusion");
        goto done;
    }
    memset(drop, 0, (size_t)d->n_layers + 1);
    st = dwpw_select(b, e, ec, s, &tc, lus, ev0, ev1, ref, got, tmp, &n_timed, drop);
    if (st == KS_OK)
        st = pwseg_select(b, e, ec, s, &tc, lus, ev0, ev1, ref, got, tmp, &n_timed, drop);
    if (st != KS_OK)
        goto done;
    d = &e->d;
    for (int li = d->n_layers - 1; li >= 0; li--)
        if (drop[li])
            ks__cuda_engine_drop_layer(e, li);
    if (b->n_dwpw || b->n_pwseg)
        ks__kb_report(b, "After fusions by timing: %d layers\n", d->n_layers);
    ws_final = 0;
    for (int li = 0; li < d->n_layers; li++)
        if (d->layers[li].kind == KS_LAYER_CONV && d->layers[li].workspace_bytes > ws_final)
            ws_final = d->layers[li].workspace_bytes;
    d->workspace_bytes = ws_final;
    if (b->cfg->timing_cache_path && n_timed > 0)
        tc_save(&tc, b->cfg->timing_cache_path);
done:
    for (int i = 0; i < nb && i < 64; i++)
        if (bind[i])
            cudaFree(bind[i]);
    if (ev0) cudaEventDestroy(ev0);
    if (ev1) cudaEventDestroy(ev1);
    if (s) cudaStreamDestroy(s);
    ks_exec_context_destroy(ec);
    ks__free(ctx, ref);
    ks__free(ctx, got);
    ks__free(ctx, tmp);
    ks__free(ctx, tc.e);
    ks__free(ctx, lus);
    ks__free(ctx, drop);
    return st;
}
