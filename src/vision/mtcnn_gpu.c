/* MTCNN GPU cascade: host orchestration over the public engine API.
 *
 * Per frame, on one stream, without host round trips until the results:
 *   upload (or device copy) -> normalise -> pyramid (one launch, every level)
 *   -> P-Net: (a) all levels tiled into one canvas, one engine run, or
 *             (b) one engine per level, levels on concurrent streams
 *   -> cells over t1 + exact per-level NMS on the cell grid + cross-scale NMS
 *   -> regression/squaring/crops 24x24 -> R-Net (fixed batch rb, the count
 *      stays on the device) -> filter + NMS -> crops 48x48 -> O-Net (batch
 *      ob) -> filter, landmarks, regression, NMS "Min" -> one copy back.
 * The whole frame is captured into a CUDA graph after the first (eager) run.
 * See docs/mtcnn.md. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kestrel/engine.h"
#include "vision/mtcnn.h"

#ifndef KS_HAVE_CUDA

ks_status ks__mtcnn_gpu_create(ks_mtcnn *m, ks_mtcnn_gpu **out) {
    *out = NULL;
    return ks__error(ks__mtcnn_context(m), KS_NO_DEVICE, "mtcnn: built without CUDA");
}
void ks__mtcnn_gpu_destroy(ks_mtcnn_gpu *g) { (void)g; }
ks_status ks__mtcnn_gpu_prepare(ks_mtcnn *m, int w, int h, int n_pipes) {
    return ks__error(ks__mtcnn_context(m), KS_NO_DEVICE, "mtcnn: built without CUDA");
}
ks_status ks__mtcnn_gpu_detect(ks_mtcnn *m, int pipe, const ks_image *image, ks_detection **dets,
                               int *n, ks_mtcnn_stats *stats) {
    return ks__error(ks__mtcnn_context(m), KS_NO_DEVICE, "mtcnn: built without CUDA");
}
ks_status ks__mtcnn_gpu_set_profiling(ks_mtcnn *m, int on) { return KS_NO_DEVICE; }
ks_status ks__mtcnn_gpu_last_timing(ks_mtcnn *m, int pipe, float ms[KS_MTCNN_T_COUNT]) {
    return KS_NO_DEVICE;
}
ks_status ks__mtcnn_gpu_last_subtiming(ks_mtcnn *m, int pipe, float ms[3]) { return KS_NO_DEVICE; }
int ks__mtcnn_gpu_graph_active(ks_mtcnn *m, int pipe) { return 0; }
ks_status ks__mtcnn_gpu_detect_batch(ks_mtcnn *m, int pipe, int n_images, const ks_image *images,
                                     ks_detection **dets, int *n, ks_mtcnn_stats *stats) {
    return ks__error(ks__mtcnn_context(m), KS_NO_DEVICE, "mtcnn: built without CUDA");
}
int ks__mtcnn_gpu_frame_batch(const ks_mtcnn *m) { return 1; }

#else

#include "vision/mtcnn_gpu.h"
#include "vision/mtcnn_dev.cuh"

#define MAX_PIPES 64
#define MAX_FRAMES 32 /* frame_batch: bits of the BGR mask */
#define GAP 2
#define N_EV (KS_MTCNN_T_COUNT + 1)

typedef struct mt_eng {
    ks_engine *e;
    int n_out;
    int prob, reg, pts;        /* output index (0-based among outputs) */
    size_t in_bytes;
    size_t out_bytes[3];
    int64_t map_a, map_b;      /* P-Net: output map dims */
} mt_eng;

typedef struct mt_pipe {
    void *stream;
    void *lvl_stream[KS_MTG_MAX_LEVELS];
    void *ev_fork, *ev_join[KS_MTG_MAX_LEVELS];
    void *ev[N_EV];
    void *ev_sub[3];
    ks_exec_context *pctx[KS_MTG_MAX_LEVELS];
    ks_exec_context *rctx, *octx;
    uint8_t *d_u8;
    float *d_img;
    float *d_pin;                          /* P-Net input(s) */
    float *d_pout[KS_MTG_MAX_LEVELS][2];   /* P-Net outputs per engine */
    float *d_rin, *d_rout[3], *d_oin, *d_oout[3];
    ks_mtg_bufs b;
    ks_mtg_levels L;
    ks_mtg_pyramid pyr;
    int64_t pin_off[KS_MTG_MAX_LEVELS];   /* per-level mode: input offset of each level */
    void *graph;
    int graph_failed, frames;
    ks_mtg_state *h_state;   /* [fb] */
    ks_mtcnn_box *h_final;   /* [fb][KS_MTG_NMS_CAP] */
    float ms[KS_MTCNN_T_COUNT];
    float sub_ms[3];
} mt_pipe;

struct ks_mtcnn_gpu {
    ks_mtcnn *m;
    ks_context *ctx;
    ks_mtcnn_options opt;
    int nhwc[3], transposed[3];
    mt_eng rnet, onet;
    int rb, ob; /* R-Net / O-Net items per frame (engine batches fb*rb, fb*ob) */
    int fb;     /* frames per pipeline run */
    /* frame-size state */
    int fw, fh, n_levels;
    int lw[KS_MTG_MAX_LEVELS], lh[KS_MTG_MAX_LEVELS];
    float lscale[KS_MTG_MAX_LEVELS];
    int pa[KS_MTG_MAX_LEVELS], pb[KS_MTG_MAX_LEVELS]; /* canvas placement (blob pixels) */
    int ca, cb;                                       /* canvas dims */
    mt_eng pnet[KS_MTG_MAX_LEVELS];
    int n_pnet;
    mt_pipe *pipes[MAX_PIPES];
    int n_pipes;
    int profiling;
};

static ks_status cuerr(ks_context *ctx, int rc, const char *err) {
    return ks__error(ctx, KS_DEVICE_ERROR, "mtcnn gpu: %s (%d)", err, rc);
}
#define CU(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_)                                                                                   \
            return cuerr(ctx, rc_, err);                                                           \
    } while (0)

/* ------------------------------------------------------------ engines */

static int out_channels(int nhwc, int nd, const int64_t *d) {
    if (nd == 4)
        return (int)(nhwc ? d[3] : d[1]);
    if (nd == 2)
        return (int)d[1];
    return -1;
}

static ks_status eng_build(ks_mtcnn_gpu *g, int stage, int batch, int a, int b, mt_eng *out) {
    ks_context *ctx = g->ctx;
    memset(out, 0, sizeof(*out));
    ks_model *mo;
    KS_CHECK(ks__mtcnn_net_model(g->m, stage, batch, a, b, &mo));
    ks_build_config cfg;
    ks_build_config_init(&cfg);
    cfg.precision = g->opt.fp16 ? KS_PRECISION_FP16 : KS_PRECISION_FP32;
    cfg.tactic_timing = g->opt.tactic_timing;
    ks_status st = ks_engine_build(mo, &cfg, &out->e);
    ks_model_destroy(mo);
    if (st != KS_OK)
        return ks__error_prefix(ctx, "mtcnn: building the %s engine (batch %d, %dx%d)",
                                ks__mtcnn_net_name(g->m, stage), batch, a, b);
    int want = stage == 2 ? 3 : 2;
    ks_engine *e = out->e;
    if (ks_engine_num_inputs(e) != 1 || ks_engine_num_outputs(e) != want)
        return ks__error(ctx, KS_INVALID_MODEL, "%s: engine has %d inputs / %d outputs (want 1 / %d)",
                         ks__mtcnn_net_name(g->m, stage), ks_engine_num_inputs(e),
                         ks_engine_num_outputs(e), want);
    out->n_out = want;
    out->prob = out->reg = out->pts = -1;
    for (int i = 0; i < 1 + want; i++) {
        ks_dtype dt;
        int nd;
        int64_t d[KS_MAX_DIMS];
        KS_CHECK(ks_engine_binding_info(e, i, &dt, &nd, d));
        if (dt != KS_DTYPE_FLOAT32)
            return ks__error(ctx, KS_UNSUPPORTED_DTYPE, "%s: binding %d is not float32",
                             ks__mtcnn_net_name(g->m, stage), i);
        size_t n = 4;
        for (int k = 0; k < nd; k++)
            n *= (size_t)d[k];
        if (i == 0) {
            out->in_bytes = n;
            continue;
        }
        out->out_bytes[i - 1] = n;
        int c = out_channels(g->nhwc[stage], nd, d);
        if (c == 2)
            out->prob = i - 1;
        else if (c == 4)
            out->reg = i - 1;
        else if (c == 10)
            out->pts = i - 1;
        if (stage == 0 && nd == 4) {
            out->map_a = g->nhwc[0] ? d[1] : d[2];
            out->map_b = g->nhwc[0] ? d[2] : d[3];
        }
    }
    if (out->prob < 0 || out->reg < 0 || (stage == 2 && out->pts < 0))
        return ks__error(ctx, KS_INVALID_MODEL, "%s: outputs with 2/4%s channels not found",
                         ks__mtcnn_net_name(g->m, stage), stage == 2 ? "/10" : "");
    return KS_OK;
}

/* ------------------------------------------------------------ pipelines */

static void pipe_free(ks_mtcnn_gpu *g, mt_pipe *p) {
    if (!p)
        return;
    if (p->stream)
        ks_cuda_stream_synchronize(p->stream);
    ks__mtg_graph_destroy(p->graph);
    for (int l = 0; l < KS_MTG_MAX_LEVELS; l++) {
        ks_exec_context_destroy(p->pctx[l]);
        ks__mtg_stream_destroy(p->lvl_stream[l]);
        ks__mtg_event_destroy(p->ev_join[l]);
        ks__mtg_free(p->d_pout[l][0]);
        ks__mtg_free(p->d_pout[l][1]);
    }
    ks_exec_context_destroy(p->rctx);
    ks_exec_context_destroy(p->octx);
    for (int k = 0; k < N_EV; k++)
        ks__mtg_event_destroy(p->ev[k]);
    for (int k = 0; k < 3; k++)
        ks__mtg_event_destroy(p->ev_sub[k]);
    ks__mtg_event_destroy(p->ev_fork);
    void *dev[] = {p->d_u8,        p->d_img,      p->d_pin,      p->d_rin,      p->d_rout[0],
                   p->d_rout[1],   p->d_rout[2],  p->d_oin,      p->d_oout[0],  p->d_oout[1],
                   p->d_oout[2],   p->b.state,    p->b.status,   p->b.cand,     p->b.g_in,
                   p->b.g_key,     p->b.r_list,   p->b.r_pass,   p->b.r_key,    p->b.o_list,
                   p->b.o_pass,    p->b.o_key,    p->b.final,    p->b.r_boxes,  p->b.o_boxes};
    for (size_t k = 0; k < sizeof dev / sizeof dev[0]; k++)
        ks__mtg_free(dev[k]);
    ks__mtg_free_host(p->h_state);
    ks__mtg_free_host(p->h_final);
    ks__mtg_stream_destroy(p->stream);
    ks__free(g->ctx, p);
}

static ks_status dalloc(ks_context *ctx, void **p, size_t n) {
    char err[256];
    CU(ks__mtg_malloc(p, n, err, sizeof err));
    return KS_OK;
}

static ks_status pipe_create(ks_mtcnn_gpu *g, mt_pipe **out) {
    ks_context *ctx = g->ctx;
    char err[256];
    mt_pipe *p = ks__alloc(ctx, sizeof(*p));
    if (!p)
        return ks__oom(ctx, sizeof(*p), "mtcnn pipe");
    ks_status st = KS_OK;
#define TRY(x)                                                                                     \
    do {                                                                                           \
        if (st == KS_OK)                                                                           \
            st = (x);                                                                              \
    } while (0)
#define TRYCU(x)                                                                                   \
    do {                                                                                           \
        if (st == KS_OK) {                                                                         \
            int rc_ = (x);                                                                         \
            if (rc_)                                                                               \
                st = cuerr(ctx, rc_, err);                                                         \
        }                                                                                          \
    } while (0)
    TRYCU(ks__mtg_stream_create(&p->stream, err, sizeof err));
    for (int k = 0; k < N_EV; k++)
        TRYCU(ks__mtg_event_create(&p->ev[k], 1, err, sizeof err));
    for (int k = 0; k < 3; k++)
        TRYCU(ks__mtg_event_create(&p->ev_sub[k], 1, err, sizeof err));
    TRYCU(ks__mtg_event_create(&p->ev_fork, 0, err, sizeof err));
    TRY(ks_exec_context_create(g->rnet.e, &p->rctx));
    TRY(ks_exec_context_create(g->onet.e, &p->octx));
    TRY(dalloc(ctx, (void **)&p->d_rin, g->rnet.in_bytes));
    TRY(dalloc(ctx, (void **)&p->d_oin, g->onet.in_bytes));
    for (int k = 0; k < 3; k++) {
        if (k < g->rnet.n_out)
            TRY(dalloc(ctx, (void **)&p->d_rout[k], g->rnet.out_bytes[k]));
        if (k < g->onet.n_out)
            TRY(dalloc(ctx, (void **)&p->d_oout[k], g->onet.out_bytes[k]));
    }
    size_t bsz = sizeof(ks_mtcnn_box), nf = (size_t)g->fb, cap = KS_MTG_NMS_CAP * nf;
    ks_mtg_bufs *b = &p->b;
    b->rb = g->rb;
    b->ob = g->ob;
    b->nf = g->fb;
    TRY(dalloc(ctx, (void **)&b->state, nf * sizeof(ks_mtg_state)));
    TRY(dalloc(ctx, (void **)&b->g_in, cap * bsz));
    TRY(dalloc(ctx, (void **)&b->g_key, cap * sizeof(int)));
    TRY(dalloc(ctx, (void **)&b->r_list, cap * bsz));
    TRY(dalloc(ctx, (void **)&b->r_pass, cap * bsz));
    TRY(dalloc(ctx, (void **)&b->r_key, cap * sizeof(int)));
    TRY(dalloc(ctx, (void **)&b->o_list, cap * bsz));
    TRY(dalloc(ctx, (void **)&b->o_pass, cap * bsz));
    TRY(dalloc(ctx, (void **)&b->o_key, cap * sizeof(int)));
    TRY(dalloc(ctx, (void **)&b->final, cap * bsz));
    TRY(dalloc(ctx, (void **)&b->r_boxes, nf * (size_t)g->rb * 4 * sizeof(int)));
    TRY(dalloc(ctx, (void **)&b->o_boxes, nf * (size_t)g->ob * 4 * sizeof(int)));
    TRYCU(ks__mtg_malloc_host((void **)&p->h_state, nf * sizeof(ks_mtg_state), err, sizeof err));
    TRYCU(ks__mtg_malloc_host((void **)&p->h_final, cap * bsz, err, sizeof err));
    if (st != KS_OK) {
        pipe_free(g, p);
        return st;
    }
    *out = p;
    return KS_OK;
}

/* Frame-size part of a pipeline: buffers and P-Net exec contexts. */
static ks_status pipe_size(ks_mtcnn_gpu *g, mt_pipe *p) {
    ks_context *ctx = g->ctx;
    char err[256];
    int nh = g->nhwc[0], tr = g->transposed[0];
    size_t img = (size_t)g->fw * g->fh * 3 * (size_t)g->fb;
    KS_CHECK(dalloc(ctx, (void **)&p->d_u8, img));
    /* frame slots a batch leaves empty hold a black frame, not garbage */
    CU(ks__mtg_memset(p->d_u8, 0, img, p->stream, err, sizeof err));
    KS_CHECK(dalloc(ctx, (void **)&p->d_img, img * sizeof(float)));
    int per_level = g->opt.pnet_per_level;
    /* inputs */
    size_t pin = 0;
    for (int l = 0; l < g->n_levels; l++) {
        p->pin_off[l] = (int64_t)(pin / sizeof(float));
        if (per_level)
            pin += g->pnet[l].in_bytes;
    }
    if (!per_level)
        pin = g->pnet[0].in_bytes;
    KS_CHECK(dalloc(ctx, (void **)&p->d_pin, pin));
    CU(ks__mtg_memset(p->d_pin, 0, pin, p->stream, err, sizeof err)); /* canvas gaps */
    for (int e = 0; e < g->n_pnet; e++) {
        KS_CHECK(ks_exec_context_create(g->pnet[e].e, &p->pctx[e]));
        for (int k = 0; k < 2; k++)
            KS_CHECK(dalloc(ctx, (void **)&p->d_pout[e][k], g->pnet[e].out_bytes[k]));
        if (per_level) {
            CU(ks__mtg_stream_create(&p->lvl_stream[e], err, sizeof err));
            CU(ks__mtg_event_create(&p->ev_join[e], 0, err, sizeof err));
        }
    }
    /* pyramid destinations */
    ks_mtg_pyramid *py = &p->pyr;
    memset(py, 0, sizeof(*py));
    py->n = g->n_levels;
    py->transposed = tr;
    py->nf = g->fb;
    py->img_fstride = (int64_t)g->fw * g->fh * 3;
    int64_t first = 0;
    for (int l = 0; l < g->n_levels; l++) {
        ks_mtg_pyr_level *q = &py->l[l];
        int A = tr ? g->lw[l] : g->lh[l], B = tr ? g->lh[l] : g->lw[l];
        int64_t CA = per_level ? A : g->ca, CB = per_level ? B : g->cb;
        int64_t oa = per_level ? 0 : g->pa[l], ob = per_level ? 0 : g->pb[l];
        int64_t base = per_level ? p->pin_off[l] : 0;
        q->w = g->lw[l];
        q->h = g->lh[l];
        q->fstride = 3 * CA * CB; /* one batch item of the (canvas or level) input */
        if (nh) {
            q->base = base + (oa * CB + ob) * 3, q->cs = 1, q->rp = CB * 3, q->ps = 3;
        } else {
            q->base = base + oa * CB + ob, q->cs = CA * CB, q->rp = CB, q->ps = 1;
        }
        q->first = first;
        first += 3LL * A * B;
    }
    py->total = first;
    /* P-Net output maps per level */
    ks_mtg_levels *L = &p->L;
    memset(L, 0, sizeof(*L));
    L->n = g->n_levels;
    L->nhwc = nh;
    L->transposed = tr;
    int cells = 0;
    for (int l = 0; l < g->n_levels; l++) {
        ks_mtg_level *v = &L->l[l];
        const mt_eng *e = &g->pnet[per_level ? l : 0];
        float *const *o = p->d_pout[per_level ? l : 0];
        int A = tr ? g->lw[l] : g->lh[l], B = tr ? g->lh[l] : g->lw[l];
        v->prob = o[e->prob];
        v->reg = o[e->reg];
        v->map_a = (int)e->map_a;
        v->map_b = (int)e->map_b;
        v->off_a = per_level ? 0 : g->pa[l] / 2;
        v->off_b = per_level ? 0 : g->pb[l] / 2;
        /* det1: conv3 -> pool2 (ceil) -> conv3 -> conv3 */
        v->ma = (A - 1) / 2 - 4;
        v->mb = (B - 1) / 2 - 4;
        if (per_level && (v->ma != v->map_a || v->mb != v->map_b))
            return ks__error(ctx, KS_INVALID_MODEL,
                             "%s: P-Net map %lldx%lld for input %dx%d (expected %dx%d)",
                             ks__mtcnn_net_name(g->m, 0), (long long)e->map_a,
                             (long long)e->map_b, A, B, v->ma, v->mb);
        if (v->off_a + v->ma > v->map_a || v->off_b + v->mb > v->map_b)
            return ks__error(ctx, KS_INTERNAL, "mtcnn: level %d outside the canvas map", l);
        v->cell_base = cells;
        v->scale = g->lscale[l];
        cells += v->ma * v->mb;
    }
    L->total_cells = cells;
    ks_mtg_bufs *b = &p->b;
    KS_CHECK(dalloc(ctx, (void **)&b->status, (size_t)cells * (size_t)g->fb));
    b->cand_cap = cells < (1 << 17) ? cells : (1 << 17);
    /* cell indices + per-level NMS neighbour masks (mtcnn_dev.cuh), per frame */
    KS_CHECK(dalloc(ctx, (void **)&b->cand, KS_MTG_CAND_BYTES(b->cand_cap) * (size_t)g->fb));
    CU(ks__mtg_stream_sync(p->stream, err, sizeof err));
    return KS_OK;
}

static void pipe_unsize(mt_pipe *p) {
    if (p->stream)
        ks_cuda_stream_synchronize(p->stream);
    ks__mtg_graph_destroy(p->graph);
    p->graph = NULL;
    p->graph_failed = 0;
    p->frames = 0;
    for (int l = 0; l < KS_MTG_MAX_LEVELS; l++) {
        ks_exec_context_destroy(p->pctx[l]);
        p->pctx[l] = NULL;
        ks__mtg_stream_destroy(p->lvl_stream[l]);
        p->lvl_stream[l] = NULL;
        ks__mtg_event_destroy(p->ev_join[l]);
        p->ev_join[l] = NULL;
        ks__mtg_free(p->d_pout[l][0]);
        ks__mtg_free(p->d_pout[l][1]);
        p->d_pout[l][0] = p->d_pout[l][1] = NULL;
    }
    ks__mtg_free(p->d_u8);
    ks__mtg_free(p->d_img);
    ks__mtg_free(p->d_pin);
    ks__mtg_free(p->b.status);
    ks__mtg_free(p->b.cand);
    p->d_u8 = NULL, p->d_img = NULL, p->d_pin = NULL, p->b.status = NULL, p->b.cand = NULL;
}

/* ------------------------------------------------------------ create / prepare */

ks_status ks__mtcnn_gpu_create(ks_mtcnn *m, ks_mtcnn_gpu **out) {
    ks_context *ctx = ks__mtcnn_context(m);
    *out = NULL;
    if (!ks_cuda_available())
        return ks__error(ctx, KS_NO_DEVICE, "mtcnn: no GPU");
    ks_mtcnn_gpu *g = ks__alloc(ctx, sizeof(*g));
    if (!g)
        return ks__oom(ctx, sizeof(*g), "mtcnn gpu");
    g->m = m;
    g->ctx = ctx;
    g->opt = *ks__mtcnn_options(m);
    for (int k = 0; k < 3; k++)
        ks__mtcnn_net_layout(m, k, &g->nhwc[k], &g->transposed[k]);
    g->rb = g->opt.rnet_batch > 0 ? g->opt.rnet_batch : 1024;
    g->ob = g->opt.onet_batch > 0 ? g->opt.onet_batch : 256;
    g->fb = g->opt.frame_batch > 0 ? g->opt.frame_batch : 1;
    ks_status st = KS_OK;
    if (g->rb > KS_MTG_NMS_CAP || g->ob > KS_MTG_NMS_CAP)
        st = ks__error(ctx, KS_INVALID_ARGUMENT, "mtcnn: R/O-Net batch must be <= %d",
                       KS_MTG_NMS_CAP);
    if (st == KS_OK && g->fb > MAX_FRAMES)
        st = ks__error(ctx, KS_INVALID_ARGUMENT, "mtcnn: frame_batch %d > %d", g->fb, MAX_FRAMES);
    if (st == KS_OK)
        st = eng_build(g, 1, g->fb * g->rb, 24, 24, &g->rnet);
    if (st == KS_OK)
        st = eng_build(g, 2, g->fb * g->ob, 48, 48, &g->onet);
    if (st == KS_OK) {
        st = pipe_create(g, &g->pipes[0]);
        g->n_pipes = st == KS_OK;
    }
    if (st != KS_OK) {
        ks__mtcnn_gpu_destroy(g);
        return st;
    }
    *out = g;
    return KS_OK;
}

void ks__mtcnn_gpu_destroy(ks_mtcnn_gpu *g) {
    if (!g)
        return;
    for (int i = 0; i < g->n_pipes; i++)
        pipe_free(g, g->pipes[i]);
    for (int l = 0; l < g->n_pnet; l++)
        ks_engine_destroy(g->pnet[l].e);
    ks_engine_destroy(g->rnet.e);
    ks_engine_destroy(g->onet.e);
    ks__free(g->ctx, g);
}

/* Shelf packing of the levels (blob axes a x b) into one canvas of width cb. */
static int64_t pack(ks_mtcnn_gpu *g, int cb, int *pa, int *pb, int *ca_out) {
    int tr = g->transposed[0];
    int shelf_a = 0, shelf_h = 0, cur_b = 0;
    for (int l = 0; l < g->n_levels; l++) {
        int A = tr ? g->lw[l] : g->lh[l], B = tr ? g->lh[l] : g->lw[l];
        if (B > cb)
            return -1;
        if (l == 0 || cur_b + B > cb || A > shelf_h) {
            if (l > 0)
                shelf_a += (shelf_h + GAP + 1) & ~1;
            shelf_h = A;
            cur_b = 0;
        }
        pa[l] = shelf_a;
        pb[l] = cur_b;
        cur_b += (B + GAP + 1) & ~1;
    }
    *ca_out = shelf_a + shelf_h;
    return (int64_t)*ca_out * cb;
}


/* Pyramid levels exactly as the CPU cascade computes them. */
static ks_status geometry(ks_mtcnn_gpu *g, int w, int h) {
    float mscale = 12.f / g->opt.min_face;
    float minl = (float)(w < h ? w : h) * mscale;
    int count = 0, n = 0;
    while (minl >= 12.f) {
        float scale = mscale * powf(g->opt.scale_factor, (float)count);
        int hs = (int)ceilf((float)h * scale), ws = (int)ceilf((float)w * scale);
        if (hs >= 12 && ws >= 12) {
            if (n == KS_MTG_MAX_LEVELS)
                return ks__error(g->ctx, KS_UNSUPPORTED_SHAPE, "mtcnn: more than %d pyramid levels",
                                 KS_MTG_MAX_LEVELS);
            g->lw[n] = ws, g->lh[n] = hs, g->lscale[n] = scale;
            n++;
        }
        minl *= g->opt.scale_factor;
        count++;
    }
    g->n_levels = n;
    return KS_OK;
}

ks_status ks__mtcnn_gpu_prepare(ks_mtcnn *m, int w, int h, int n_pipes) {
    ks_mtcnn_gpu *g = ks__mtcnn_gpu_handle(m);
    if (!g)
        return ks__error(ks__mtcnn_context(m), KS_INVALID_ARGUMENT, "mtcnn: GPU cascade not enabled");
    ks_context *ctx = g->ctx;
    if (w <= 0 || h <= 0 || n_pipes < 1 || n_pipes > MAX_PIPES)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "mtcnn: prepare %dx%d, %d pipelines", w, h,
                         n_pipes);
    if (w != g->fw || h != g->fh) {
        for (int i = 0; i < g->n_pipes; i++)
            pipe_unsize(g->pipes[i]);
        for (int l = 0; l < g->n_pnet; l++)
            ks_engine_destroy(g->pnet[l].e);
        memset(g->pnet, 0, sizeof g->pnet);
        g->n_pnet = 0;
        g->fw = g->fh = 0;
        KS_CHECK(geometry(g, w, h));
        int tr = g->transposed[0];
        if (g->n_levels > 0 && !g->opt.pnet_per_level) {
            int B0 = tr ? g->lh[0] : g->lw[0];
            int B1 = g->n_levels > 1 ? (tr ? g->lh[1] : g->lw[1]) : 0;
            int pa[KS_MTG_MAX_LEVELS], pb[KS_MTG_MAX_LEVELS], ca;
            int64_t best = -1;
            int cands[2] = {B0, B0 + ((B1 + GAP + 1) & ~1)};
            for (int c = 0; c < 2; c++) {
                int64_t area = pack(g, cands[c], pa, pb, &ca);
                if (area > 0 && (best < 0 || area < best)) {
                    best = area;
                    g->cb = cands[c];
                    g->ca = ca;
                    memcpy(g->pa, pa, sizeof pa);
                    memcpy(g->pb, pb, sizeof pb);
                }
            }
            KS_CHECK(eng_build(g, 0, g->fb, g->ca, g->cb, &g->pnet[0]));
            g->n_pnet = 1;
            if (g->pnet[0].map_a != (g->ca - 1) / 2 - 4 || g->pnet[0].map_b != (g->cb - 1) / 2 - 4)
                return ks__error(ctx, KS_INVALID_MODEL,
                                 "%s: P-Net map %lldx%lld for a %dx%d canvas: not the MTCNN "
                                 "P-Net geometry",
                                 ks__mtcnn_net_name(m, 0), (long long)g->pnet[0].map_a,
                                 (long long)g->pnet[0].map_b, g->ca, g->cb);
        } else {
            for (int l = 0; l < g->n_levels; l++) {
                int A = tr ? g->lw[l] : g->lh[l], B = tr ? g->lh[l] : g->lw[l];
                KS_CHECK(eng_build(g, 0, g->fb, A, B, &g->pnet[l]));
                g->n_pnet = l + 1;
            }
        }
        g->fw = w, g->fh = h;
        if (g->n_levels > 0)
            for (int i = 0; i < g->n_pipes; i++)
                KS_CHECK(pipe_size(g, g->pipes[i]));
    }
    while (g->n_pipes < n_pipes) {
        mt_pipe *p;
        KS_CHECK(pipe_create(g, &p));
        g->pipes[g->n_pipes++] = p;
        if (g->n_levels > 0)
            KS_CHECK(pipe_size(g, p));
    }
    return KS_OK;
}

static void thresholds(const ks_mtcnn_gpu *g, ks_mtg_thresholds *t) {
    for (int k = 0; k < 3; k++)
        t->t[k] = g->opt.thresholds[k], t->nms[k] = g->opt.nms_thresholds[k];
}

/* Everything after the upload and normalisation, on p->stream, for the
 * pipeline's fb frames. */
static ks_status enqueue_frame(ks_mtcnn_gpu *g, mt_pipe *p, int timed) {
    ks_context *ctx = g->ctx;
    char err[256];
    void *s = p->stream;
    int w = g->fw, h = g->fh;
    ks_mtg_thresholds t;
    thresholds(g, &t);
    CU(ks__mtg_pyramid(p->d_img, w, h, &p->pyr, p->d_pin, s, err, sizeof err));
    if (timed)
        CU(ks__mtg_event_record(p->ev[2], s, err, sizeof err));
    if (!g->opt.pnet_per_level) {
        void *bind[3] = {p->d_pin, p->d_pout[0][0], p->d_pout[0][1]};
        KS_CHECK(ks_exec_run(p->pctx[0], s, bind));
    } else {
        CU(ks__mtg_event_record(p->ev_fork, s, err, sizeof err));
        for (int l = 0; l < g->n_pnet; l++) {
            CU(ks__mtg_stream_wait(p->lvl_stream[l], p->ev_fork, err, sizeof err));
            void *bind[3] = {p->d_pin + p->pin_off[l], p->d_pout[l][0], p->d_pout[l][1]};
            KS_CHECK(ks_exec_run(p->pctx[l], p->lvl_stream[l], bind));
            CU(ks__mtg_event_record(p->ev_join[l], p->lvl_stream[l], err, sizeof err));
            CU(ks__mtg_stream_wait(s, p->ev_join[l], err, sizeof err));
        }
    }
    if (timed)
        CU(ks__mtg_event_record(p->ev[3], s, err, sizeof err));
    CU(ks__mtg_pnet_post(&p->L, &p->b, &t, timed ? p->ev_sub : NULL, s, err, sizeof err));
    if (timed)
        CU(ks__mtg_event_record(p->ev[4], s, err, sizeof err));
    /* R-Net: rb items per frame */
    ks_mtg_span rs = {0, g->fb, g->rb, 0}, os = {0, g->fb, g->ob, 0};
    CU(ks__mtg_prepare_stage(1, &rs, p->d_img, w, h, &p->b, g->nhwc[1], g->transposed[1],
                             p->d_rin, s, err, sizeof err));
    void *rb[3] = {p->d_rin, p->d_rout[0], p->d_rout[1]};
    KS_CHECK(ks_exec_run(p->rctx, s, rb));
    CU(ks__mtg_filter_stage(1, &rs, w, h, &p->b, p->d_rout[g->rnet.prob], p->d_rout[g->rnet.reg],
                            NULL, &t, s, err, sizeof err));
    CU(ks__mtg_nms_stage(1, 0, g->fb, &p->b, &t, s, err, sizeof err));
    if (timed)
        CU(ks__mtg_event_record(p->ev[5], s, err, sizeof err));
    /* O-Net: ob items per frame */
    CU(ks__mtg_prepare_stage(2, &os, p->d_img, w, h, &p->b, g->nhwc[2], g->transposed[2],
                             p->d_oin, s, err, sizeof err));
    void *ob[4] = {p->d_oin, p->d_oout[0], p->d_oout[1], p->d_oout[2]};
    KS_CHECK(ks_exec_run(p->octx, s, ob));
    CU(ks__mtg_filter_stage(2, &os, w, h, &p->b, p->d_oout[g->onet.prob], p->d_oout[g->onet.reg],
                            p->d_oout[g->onet.pts], &t, s, err, sizeof err));
    CU(ks__mtg_nms_stage(2, 0, g->fb, &p->b, &t, s, err, sizeof err));
    /* results: one copy of the counters, one of the first ob final boxes of each frame */
    size_t bsz = sizeof(ks_mtcnn_box);
    CU(ks__mtg_memcpy2d(p->h_state, 0, p->b.state, 0, sizeof(ks_mtg_state) * (size_t)g->fb, 1, 2,
                        s, err, sizeof err));
    CU(ks__mtg_memcpy2d(p->h_final, KS_MTG_NMS_CAP * bsz, p->b.final, KS_MTG_NMS_CAP * bsz,
                        (size_t)g->ob * bsz, (size_t)g->fb, 2, s, err, sizeof err));
    if (timed)
        CU(ks__mtg_event_record(p->ev[6], s, err, sizeof err));
    return KS_OK;
}

/* Frame f had more R-Net (or O-Net) candidates than the graph's rb (ob)
 * items: the graph left the rest alone. Runs the remaining R-Net items in
 * chunks of the whole engine batch, the R-Net NMS again, then O-Net over
 * all its candidates (or only the remaining ones when R-Net fitted), the
 * O-Net NMS, and copies frame f's counters and final list back. Eager, on
 * the pipeline's stream; two more round trips. */
static ks_status run_overflow(ks_mtcnn_gpu *g, mt_pipe *p, int f) {
    ks_context *ctx = g->ctx;
    char err[256];
    void *s = p->stream;
    int w = g->fw, h = g->fh;
    ks_mtg_thresholds t;
    thresholds(g, &t);
    ks_mtg_state *hs = &p->h_state[f];
    int RB = g->fb * g->rb, OB = g->fb * g->ob;
    int o_first = g->ob;
    if (hs->n_r > g->rb) {
        for (int c = g->rb; c < hs->n_r; c += RB) {
            ks_mtg_span sp = {f, 1, RB, c};
            CU(ks__mtg_prepare_stage(1, &sp, p->d_img, w, h, &p->b, g->nhwc[1], g->transposed[1],
                                     p->d_rin, s, err, sizeof err));
            void *rb[3] = {p->d_rin, p->d_rout[0], p->d_rout[1]};
            KS_CHECK(ks_exec_run(p->rctx, s, rb));
            CU(ks__mtg_filter_stage(1, &sp, w, h, &p->b, p->d_rout[g->rnet.prob],
                                    p->d_rout[g->rnet.reg], NULL, &t, s, err, sizeof err));
        }
        CU(ks__mtg_nms_stage(1, f, 1, &p->b, &t, s, err, sizeof err));
        /* O-Net from scratch on the new list */
        CU(ks__mtg_memset(&p->b.state[f].n_opass, 0, sizeof(int), s, err, sizeof err));
        CU(ks__mtg_memcpy2d(hs, 0, &p->b.state[f], 0, sizeof(*hs), 1, 2, s, err, sizeof err));
        CU(ks__mtg_stream_sync(s, err, sizeof err));
        o_first = 0;
    }
    for (int c = o_first; c < hs->n_o; c += OB) {
        ks_mtg_span sp = {f, 1, OB, c};
        CU(ks__mtg_prepare_stage(2, &sp, p->d_img, w, h, &p->b, g->nhwc[2], g->transposed[2],
                                 p->d_oin, s, err, sizeof err));
        void *ob[4] = {p->d_oin, p->d_oout[0], p->d_oout[1], p->d_oout[2]};
        KS_CHECK(ks_exec_run(p->octx, s, ob));
        CU(ks__mtg_filter_stage(2, &sp, w, h, &p->b, p->d_oout[g->onet.prob],
                                p->d_oout[g->onet.reg], p->d_oout[g->onet.pts], &t, s, err,
                                sizeof err));
    }
    CU(ks__mtg_nms_stage(2, f, 1, &p->b, &t, s, err, sizeof err));
    size_t bsz = sizeof(ks_mtcnn_box), n = hs->n_o > 0 ? (size_t)hs->n_o : 1;
    if (n > KS_MTG_NMS_CAP)
        n = KS_MTG_NMS_CAP;
    CU(ks__mtg_memcpy2d(hs, 0, &p->b.state[f], 0, sizeof(*hs), 1, 2, s, err, sizeof err));
    CU(ks__mtg_memcpy2d(p->h_final + (size_t)f * KS_MTG_NMS_CAP, 0,
                        p->b.final + (size_t)f * KS_MTG_NMS_CAP, 0, n * bsz, 1, 2, s, err,
                        sizeof err));
    CU(ks__mtg_stream_sync(s, err, sizeof err));
    return KS_OK;
}

/* extra: run_overflow copied frame f's whole final list (else the first ob). */
static ks_status frame_results(ks_mtcnn_gpu *g, mt_pipe *p, int f, int extra, int overflow,
                               ks_detection **dets, int *n_dets, ks_mtcnn_stats *stats) {
    ks_context *ctx = g->ctx;
    const ks_mtg_state *hs = &p->h_state[f];
    if (stats) {
        memset(stats, 0, sizeof(*stats));
        stats->n_levels = g->n_levels;
        stats->pnet_candidates = hs->n_cand;
        stats->pnet_kept = hs->n_pkept;
        stats->rnet_in = hs->n_r;
        stats->rnet_kept = hs->n_o;
        stats->onet_in = hs->n_o;
        stats->final = hs->n_final;
        stats->truncated = hs->truncated;
        stats->overflow = overflow;
    }
    int n = hs->n_final;
    int cap = extra ? KS_MTG_NMS_CAP : g->ob;
    if (n > cap)
        n = cap;
    if (n < 0)
        n = 0;
    if (g->opt.max_detections > 0 && n > g->opt.max_detections)
        n = g->opt.max_detections;
    if (n == 0)
        return KS_OK;
    ks_detection *d = ks__alloc_array(ctx, (size_t)n, sizeof(*d));
    if (!d)
        return ks__oom(ctx, (size_t)n * sizeof(*d), "mtcnn detections");
    const ks_mtcnn_box *fin = p->h_final + (size_t)f * KS_MTG_NMS_CAP;
    for (int i = 0; i < n; i++) {
        const ks_mtcnn_box *b = &fin[i];
        d[i].box[0] = b->x1, d[i].box[1] = b->y1, d[i].box[2] = b->x2, d[i].box[3] = b->y2;
        d[i].score = b->score;
        d[i].class_id = 0;
        d[i].n_landmarks = 5;
        for (int k = 0; k < 5; k++) {
            d[i].landmarks[k][0] = b->landmarks[k];
            d[i].landmarks[k][1] = b->landmarks[5 + k];
        }
    }
    *dets = d;
    *n_dets = n;
    return KS_OK;
}

ks_status ks__mtcnn_gpu_detect_batch(ks_mtcnn *m, int pipe, int n_images, const ks_image *images,
                                     ks_detection **dets, int *n_dets, ks_mtcnn_stats *stats) {
    ks_mtcnn_gpu *g = ks__mtcnn_gpu_handle(m);
    if (!g || !images || !dets || !n_dets || n_images < 1)
        return KS_INVALID_ARGUMENT;
    ks_context *ctx = g->ctx;
    char err[256];
    for (int i = 0; i < n_images && i < g->fb; i++) {
        dets[i] = NULL;
        n_dets[i] = 0;
        if (stats)
            memset(&stats[i], 0, sizeof(stats[i]));
    }
    if (n_images > g->fb)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "mtcnn: %d images for a frame batch of %d",
                         n_images, g->fb);
    if (pipe < 0 || pipe >= g->n_pipes)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "mtcnn: pipeline %d of %d", pipe, g->n_pipes);
    int w = images[0].width, h = images[0].height;
    for (int i = 0; i < n_images; i++) {
        const ks_image *im = &images[i];
        if (im->width <= 0 || im->height <= 0 || !im->data)
            return ks__error(ctx, KS_INVALID_ARGUMENT, "mtcnn: empty image %d", i);
        if (im->width != w || im->height != h)
            return ks__error(ctx, KS_INVALID_ARGUMENT,
                             "mtcnn: image %d is %dx%d, image 0 %dx%d (one size per batch)", i,
                             im->width, im->height, w, h);
        if (im->format != KS_PIXEL_RGB && im->format != KS_PIXEL_BGR &&
            im->memory != KS_MEMORY_HOST)
            return ks__error(ctx, KS_UNSUPPORTED_DTYPE,
                             "mtcnn: device images must be RGB or BGR (got %s)",
                             ks_pixel_format_name(im->format));
    }
    if (w != g->fw || h != g->fh)
        KS_CHECK(ks__mtcnn_gpu_prepare(m, w, h, g->n_pipes));
    if (g->n_levels == 0) /* smaller than one P-Net window */
        return KS_OK;
    mt_pipe *p = g->pipes[pipe];
    int timed = g->profiling;
    ks_status st = KS_OK;
    int rc = 0;
    uint32_t bgr = 0;
    size_t fbytes = (size_t)w * h * 3;
    if (timed)
        rc = ks__mtg_event_record(p->ev[0], p->stream, err, sizeof err);
    for (int i = 0; i < n_images && st == KS_OK && !rc; i++) {
        const ks_image *src = &images[i];
        ks_image conv;
        int converted = 0;
        if (src->format != KS_PIXEL_RGB && src->format != KS_PIXEL_BGR) {
            st = ks_image_convert(ctx, src, KS_PIXEL_RGB, &conv);
            if (st != KS_OK)
                break;
            src = &conv;
            converted = 1;
        }
        if (src->format == KS_PIXEL_BGR)
            bgr |= 1u << i;
        rc = ks__mtg_memcpy2d(p->d_u8 + (size_t)i * fbytes, (size_t)w * 3, src->data,
                              (size_t)src->stride, (size_t)w * 3, (size_t)h,
                              src->memory == KS_MEMORY_HOST ? 1 : 3, p->stream, err, sizeof err);
        if (converted) /* the copy above is from pageable memory: done when it returns */
            ks_image_release(ctx, &conv);
    }
    if (st == KS_OK && !rc && timed)
        rc = ks__mtg_event_record(p->ev[1], p->stream, err, sizeof err);
    /* outside the graph: the BGR mask changes from call to call */
    if (st == KS_OK && !rc)
        rc = ks__mtg_normalize(p->d_u8, w, h, (size_t)w * 3, g->fb, bgr, p->d_img, p->stream, err,
                               sizeof err);
    if (st == KS_OK && rc)
        st = cuerr(ctx, rc, err);
    if (st == KS_OK) {
        int use_graph = g->opt.cuda_graph && !timed && !p->graph_failed && p->frames > 0;
        if (use_graph && !p->graph) {
            rc = ks__mtg_capture_begin(p->stream, err, sizeof err);
            ks_status cst = rc ? KS_DEVICE_ERROR : enqueue_frame(g, p, 0);
            if (!rc)
                rc = ks__mtg_capture_end(p->stream, &p->graph, err, sizeof err);
            if (rc || cst != KS_OK || !p->graph) {
                ks__log(ctx, KS_LOG_INFO, "mtcnn: CUDA graph capture failed (%s); running eagerly",
                        cst != KS_OK ? ks_context_last_error(ctx) : err);
                ks_context_clear_error(ctx);
                ks__mtg_graph_destroy(p->graph);
                p->graph = NULL;
                p->graph_failed = 1;
                use_graph = 0;
            }
        }
        if (use_graph) {
            rc = ks__mtg_graph_launch(p->graph, p->stream, err, sizeof err);
            if (rc)
                st = cuerr(ctx, rc, err);
        } else {
            st = enqueue_frame(g, p, timed);
        }
    }
    if (st == KS_OK) {
        rc = ks__mtg_stream_sync(p->stream, err, sizeof err);
        if (rc)
            st = cuerr(ctx, rc, err);
    }
    if (st != KS_OK)
        return st;
    p->frames++;
    if (timed)
        for (int k = 0; k < KS_MTCNN_T_COUNT; k++)
            p->ms[k] = ks__mtg_event_ms(p->ev[k], p->ev[k + 1]);
    if (timed) {
        p->sub_ms[0] = ks__mtg_event_ms(p->ev[3], p->ev_sub[0]);
        p->sub_ms[1] = ks__mtg_event_ms(p->ev_sub[0], p->ev_sub[1]);
        p->sub_ms[2] = ks__mtg_event_ms(p->ev_sub[1], p->ev_sub[2]);
    }
    for (int i = 0; i < n_images && st == KS_OK; i++) {
        const ks_mtg_state *hs = &p->h_state[i];
        int r_over = hs->n_r > g->rb, extra = r_over || hs->n_o > g->ob;
        if (extra)
            st = run_overflow(g, p, i); /* updates h_state[i] */
        int overflow = r_over | (hs->n_o > g->ob ? 2 : 0);
        if (st == KS_OK)
            st = frame_results(g, p, i, extra, overflow, &dets[i], &n_dets[i],
                               stats ? &stats[i] : NULL);
    }
    if (st != KS_OK)
        for (int i = 0; i < n_images; i++) {
            ks__free(ctx, dets[i]);
            dets[i] = NULL;
            n_dets[i] = 0;
        }
    return st;
}

ks_status ks__mtcnn_gpu_detect(ks_mtcnn *m, int pipe, const ks_image *image, ks_detection **dets,
                               int *n_dets, ks_mtcnn_stats *stats) {
    if (!image || !dets || !n_dets)
        return KS_INVALID_ARGUMENT;
    return ks__mtcnn_gpu_detect_batch(m, pipe, 1, image, dets, n_dets, stats);
}

int ks__mtcnn_gpu_frame_batch(const ks_mtcnn *m) {
    const ks_mtcnn_gpu *g = ks__mtcnn_gpu_handle(m);
    return g ? g->fb : 1;
}

ks_status ks__mtcnn_gpu_set_profiling(ks_mtcnn *m, int on) {
    ks_mtcnn_gpu *g = ks__mtcnn_gpu_handle(m);
    if (!g)
        return KS_INVALID_ARGUMENT;
    g->profiling = on ? 1 : 0;
    return KS_OK;
}

ks_status ks__mtcnn_gpu_last_timing(ks_mtcnn *m, int pipe, float ms[KS_MTCNN_T_COUNT]) {
    ks_mtcnn_gpu *g = ks__mtcnn_gpu_handle(m);
    if (!g || pipe < 0 || pipe >= g->n_pipes)
        return KS_INVALID_ARGUMENT;
    memcpy(ms, g->pipes[pipe]->ms, sizeof(float) * KS_MTCNN_T_COUNT);
    return KS_OK;
}

ks_status ks__mtcnn_gpu_last_subtiming(ks_mtcnn *m, int pipe, float ms[3]) {
    ks_mtcnn_gpu *g = ks__mtcnn_gpu_handle(m);
    if (!g || pipe < 0 || pipe >= g->n_pipes)
        return KS_INVALID_ARGUMENT;
    memcpy(ms, g->pipes[pipe]->sub_ms, sizeof(float) * 3);
    return KS_OK;
}

int ks__mtcnn_gpu_graph_active(ks_mtcnn *m, int pipe) {
    ks_mtcnn_gpu *g = ks__mtcnn_gpu_handle(m);
    return g && pipe >= 0 && pipe < g->n_pipes && g->pipes[pipe]->graph ? 1 : 0;
}

#endif
