/* Multi-stream execution of an engine inside a CUDA graph (auxiliary streams).
 *
 * At batch 1 most layers are a few microseconds long and leave most of the GPU idle, and a graph runs
 * independent nodes at the same time. When the engine's layers are enqueued into a capture (the
 * context's own CUDA graph, or a caller's capture such as the detector's whole-pipeline graph), they
 * are spread over the caller's stream and up to KS_MS_MAX_AUX auxiliary streams, with event edges only
 * where one layer needs another:
 *  - what a layer touches: the byte ranges of its input and output tensors in the activation arena
 *    (views resolved to their root, so producers writing disjoint parts of a concat buffer are
 *    independent) and in each binding; weights are read only and ignored;
 *  - the shared workspace (split-K partial sums, cuDNN and cuBLAS scratch) is one more range that every
 *    layer using it writes, so those layers stay in order;
 *  - plugin layers and layer kinds not listed in pure_kind() are barriers: they wait for everything
 *    before them and everything after them waits for them; they run on the caller's stream;
 *  - layer B depends on an earlier layer A when B writes what A reads or writes, or reads what A
 *    writes. The arena planner reuses buffers by liveness in layer order, and those reuses are exactly
 *    such write-after-read edges, so sharing memory is kept safe.
 * Scheduling (once, when the context is created): layers in engine order; a layer continues the
 * stream whose last layer it depends on (the latest such), else takes the stream whose last layer is
 * oldest. A cross-stream dependency becomes an event wait unless that stream already waited on a
 * later point of the other stream (per-stream vector clocks, merged through every wait). Every
 * auxiliary stream first waits for a fork event on the caller's stream and is joined back at the
 * end, as stream capture requires.
 * Outside a capture (eager runs, per-layer profiling) the layers run in order on the caller's stream.
 * KESTREL_AUX_STREAMS=0 turns this off (same-binary A/B); 1..4 caps the auxiliary streams. */
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda_rt.h"
#include "backends/cuda/multistream.h"

typedef struct {
    int space;  /* 0 arena, 1 workspace, 2 + b binding b */
    int64_t lo, hi;
} rng;

#define MAX_RNG (KS_ENG_MAX_IN + KS_ENG_MAX_OUT + 1)

typedef struct {
    rng r[MAX_RNG], w[MAX_RNG];
    int nr, nw, barrier;
} footprint;

static int pure_kind(int kind) {
    switch (kind) {
    case KS_LAYER_CONV: case KS_LAYER_POOL: case KS_LAYER_ELTWISE: case KS_LAYER_SOFTMAX:
    case KS_LAYER_CONCAT: case KS_LAYER_TRANSPOSE: case KS_LAYER_SLICE: case KS_LAYER_PAD:
    case KS_LAYER_RESIZE: case KS_LAYER_GATHER: case KS_LAYER_CAST: case KS_LAYER_COPY:
    case KS_LAYER_GEMM: case KS_LAYER_SEGMAP:
        return 1;
    default:
        return 0;
    }
}

/* GEMM (cuBLAS workspace), cuDNN convs and convs with scratch (global split-K) use the workspace */
static int uses_workspace(const ks_eng_layer *l) {
    if (l->kind == KS_LAYER_GEMM || l->workspace_bytes > 0)
        return 1;
    return l->kind == KS_LAYER_CONV && (l->tactic == KS_TACTIC_CUDNN || l->tactic == KS_TACTIC_CUDNN_FUSED);
}

static int tensor_rng(const ks_eng_desc *d, int t, rng *out) {
    if (t < 0 || t >= d->n_tensors || d->tensors[t].bytes <= 0)
        return 0;
    int64_t off = 0;
    int r = ks__eng_root(d, t, &off);
    if (r < 0)
        return 0;
    const ks_eng_tensor *rt = &d->tensors[r];
    if (rt->storage == KS_STORE_ARENA) {
        out->space = 0;
        out->lo = rt->offset + off;
    } else if (rt->storage == KS_STORE_BINDING) {
        out->space = 2 + (int)rt->offset;
        out->lo = off;
    } else {
        return 0; /* weights: read only */
    }
    out->hi = out->lo + d->tensors[t].bytes;
    return 1;
}

static void layer_footprint(const ks_eng_desc *d, const ks_eng_layer *l, footprint *f) {
    memset(f, 0, sizeof *f);
    f->barrier = !pure_kind(l->kind);
    for (int k = 0; k < l->n_in && k < KS_ENG_MAX_IN; k++)
        f->nr += tensor_rng(d, l->in[k], &f->r[f->nr]);
    for (int k = 0; k < l->n_out && k < KS_ENG_MAX_OUT; k++)
        f->nw += tensor_rng(d, l->out[k], &f->w[f->nw]);
    if (l->kind == KS_LAYER_SEGMAP && l->algo > 0 && f->nw > 0 && l->in[0] >= 0)
        /* rows written algo elements apart (a batch > 1 concat buffer): the span from the first to the last */
        f->w[0].hi = f->w[0].lo + ks__eng_segmap_span(d, l);
    if (uses_workspace(l)) {
        f->w[f->nw].space = 1;
        f->w[f->nw].lo = 0;
        f->w[f->nw++].hi = 1;
    }
}

static int overlap(const rng *a, int na, const rng *b, int nb) {
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (a[i].space == b[j].space && a[i].lo < b[j].hi && b[j].lo < a[i].hi)
                return 1;
    return 0;
}

/* B (later) must wait for A */
static int conflict(const footprint *a, const footprint *b) {
    return a->barrier || b->barrier || overlap(b->w, b->nw, a->r, a->nr) || overlap(b->w, b->nw, a->w, a->nw) ||
           overlap(b->r, b->nr, a->w, a->nw);
}

static int aux_streams_wanted(void) {
    const char *m = getenv("KESTREL_AUX_STREAMS");
    if (!m || !*m)
        return KS_MS_MAX_AUX;
    int n = atoi(m);
    return n < 0 ? 0 : n > KS_MS_MAX_AUX ? KS_MS_MAX_AUX : n;
}

int ks__ms_conflict(const ks_eng_desc *d, int a, int b) {
    footprint fa, fb;
    layer_footprint(d, &d->layers[a], &fa);
    layer_footprint(d, &d->layers[b], &fb);
    return conflict(&fa, &fb);
}

void ks__ms_plan_free(ks_context *ctx, ks_ms_plan *p) {
    if (!p)
        return;
    if (p->ev)
        for (int i = 0; i <= p->n_layers; i++)
            if (p->ev[i])
                cudaEventDestroy((cudaEvent_t)p->ev[i]);
    for (int s = 1; s <= p->n_aux; s++)
        if (p->aux[s])
            cudaStreamDestroy((cudaStream_t)p->aux[s]);
    ks__free(ctx, p->stream);
    ks__free(ctx, p->rec);
    ks__free(ctx, p->wait_off);
    ks__free(ctx, p->waits);
    ks__free(ctx, p->ev);
    ks__free(ctx, p);
}

void ks__ms_free(ks_exec_context *ec) {
    if (!ec || !ec->ms)
        return;
    ks__ms_plan_free(ec->e->ctx, ec->ms);
    ec->ms = NULL;
}

ks_status ks__ms_schedule(ks_context *ctx, const ks_eng_desc *d, int n_aux, ks_ms_plan **out) {
    const int n = d->n_layers;
    *out = NULL;
    if (n_aux > KS_MS_MAX_AUX)
        n_aux = KS_MS_MAX_AUX;
    if (n < 2 || n_aux <= 0)
        return KS_OK;
    ks_status st = KS_OK;
    footprint *fp = ks__alloc_array(ctx, (size_t)n, sizeof *fp);
    int(*clk)[KS_MS_NS] = ks__alloc_array(ctx, (size_t)n, sizeof *clk); /* stream clocks after each layer */
    ks_ms_plan *p = ks__alloc(ctx, sizeof *p);
    if (p) {
        p->stream = ks__alloc_array(ctx, (size_t)n, 1);
        p->rec = ks__alloc_array(ctx, (size_t)n, 1);
        p->wait_off = ks__alloc_array(ctx, (size_t)n + 1, sizeof(int));
    }
    int cap = 4 * n + 16, nw = 0;
    int *waits = ks__alloc_array(ctx, (size_t)cap, sizeof(int));
    if (!fp || !clk || !p || !p->stream || !p->rec || !p->wait_off || !waits) {
        st = ks__oom(ctx, 0, "multi-stream plan");
        goto fail;
    }
    p->n_layers = n;
    for (int i = 0; i < n; i++)
        layer_footprint(d, &d->layers[i], &fp[i]);
    int clock[KS_MS_NS][KS_MS_NS]; /* clock[s][t]: stream s has waited for stream t's layers up to this one */
    for (int s = 0; s < KS_MS_NS; s++) {
        p->first[s] = p->tail[s] = -1;
        for (int t = 0; t < KS_MS_NS; t++)
            clock[s][t] = -1;
    }
    int used = 0;
    for (int i = 0; i < n; i++) {
        /* the stream: the one whose last layer this one depends on (the latest), else the oldest tail */
        int s = -1, best = -1;
        if (fp[i].barrier) {
            s = 0;
        } else {
            for (int t = 0; t <= n_aux; t++)
                if (p->tail[t] >= 0 && p->tail[t] > best && conflict(&fp[p->tail[t]], &fp[i])) {
                    best = p->tail[t];
                    s = t;
                }
            if (s < 0) {
                int oldest = 1 << 30;
                for (int t = 0; t <= n_aux; t++)
                    if (p->tail[t] < oldest) {
                        oldest = p->tail[t];
                        s = t;
                    }
            }
        }
        p->stream[i] = (int8_t)s;
        p->wait_off[i] = nw;
        /* waits: every earlier layer it depends on that this stream has not covered yet (latest first, so
         * one wait often covers the older ones through the merged clocks) */
        for (int j = i - 1; j >= 0; j--) {
            int t = p->stream[j];
            if (t == s || j <= clock[s][t] || !conflict(&fp[j], &fp[i]))
                continue;
            if (nw == cap) {
                int nc = cap * 2;
                int *nwt = ks__realloc(ctx, waits, (size_t)nc * sizeof(int));
                if (!nwt) {
                    st = ks__oom(ctx, 0, "multi-stream plan");
                    goto fail;
                }
                waits = nwt;
                cap = nc;
            }
            waits[nw++] = j;
            p->rec[j] = 1;
            for (int u = 0; u < KS_MS_NS; u++)
                if (clk[j][u] > clock[s][u])
                    clock[s][u] = clk[j][u];
            clock[s][t] = j;
        }
        if (p->first[s] < 0)
            p->first[s] = i;
        p->tail[s] = i;
        clock[s][s] = i;
        memcpy(clk[i], clock[s], sizeof clock[s]);
        if (s > used)
            used = s;
    }
    p->wait_off[n] = nw;
    /* the join: the caller's stream waits for every auxiliary stream's last layer */
    for (int s = 1; s <= used; s++)
        if (p->tail[s] > clock[0][s])
            p->rec[p->tail[s]] = 1;
    p->n_aux = used;
    p->waits = waits;
    waits = NULL;
    ks__free(ctx, fp);
    ks__free(ctx, clk);
    fp = NULL;
    clk = NULL;
    if (used == 0) { /* one chain: nothing to gain */
        ks__ms_plan_free(ctx, p);
        return KS_OK;
    }
    *out = p;
    return KS_OK;
fail:
    ks__free(ctx, fp);
    ks__free(ctx, clk);
    ks__free(ctx, waits);
    if (p) {
        ks__free(ctx, p->stream);
        ks__free(ctx, p->rec);
        ks__free(ctx, p->wait_off);
        ks__free(ctx, p);
    }
    return st;
}

ks_status ks__ms_plan(ks_exec_context *ec) {
    ks_context *ctx = ec->e->ctx;
    ec->ms = NULL;
    ks_ms_plan *p = NULL;
    KS_CHECK(ks__ms_schedule(ctx, &ec->e->d, aux_streams_wanted(), &p));
    if (!p)
        return KS_OK;
    const int n = p->n_layers, used = p->n_aux;
    ec->ms = p;
    p->ev = ks__alloc_array(ctx, (size_t)n + 1, sizeof(void *));
    if (!p->ev) {
        ks__ms_free(ec);
        return ks__oom(ctx, 0, "multi-stream events");
    }
    for (int i = 0; i <= n; i++)
        if ((i == n || p->rec[i]) &&
            cudaEventCreateWithFlags((cudaEvent_t *)&p->ev[i], cudaEventDisableTiming) != cudaSuccess)
            goto cuda_fail;
    for (int s = 1; s <= used; s++)
        if (cudaStreamCreateWithFlags((cudaStream_t *)&p->aux[s], cudaStreamNonBlocking) != cudaSuccess)
            goto cuda_fail;
    return KS_OK;
cuda_fail:
    cudaGetLastError();
    ks__ms_free(ec);
    return ks__error(ctx, KS_DEVICE_ERROR, "creating the auxiliary streams and events of an execution context");
}

int ks_exec_aux_streams(const ks_exec_context *ec) { return ec && ec->ms ? ec->ms->n_aux : 0; }

ks_status ks__ms_enqueue(ks_exec_context *ec, cudaStream_t s0) {
    ks_context *ctx = ec->e->ctx;
    ks_ms_plan *p = ec->ms;
    const int n = p->n_layers;
    cudaStream_t st[KS_MS_NS];
    st[0] = s0;
    for (int s = 1; s <= p->n_aux; s++)
        st[s] = (cudaStream_t)p->aux[s];
    KS_CUDA_TRY(ctx, cudaEventRecord((cudaEvent_t)p->ev[n], s0), "multi-stream fork");
    for (int i = 0; i < n; i++) {
        int s = p->stream[i];
        if (s > 0 && p->first[s] == i) /* an auxiliary stream's first layer waits for the fork */
            KS_CUDA_TRY(ctx, cudaStreamWaitEvent(st[s], (cudaEvent_t)p->ev[n], 0), "multi-stream enqueue");
        for (int k = p->wait_off[i]; k < p->wait_off[i + 1]; k++) {
            cudaEvent_t ev = (cudaEvent_t)p->ev[p->waits[k]];
            KS_CUDA_TRY(ctx, cudaStreamWaitEvent(st[s], ev, 0), "multi-stream enqueue");
        }
        KS_CHECK(ks__cuda_run_layer(ec, i, st[s]));
        if (p->rec[i])
            KS_CUDA_TRY(ctx, cudaEventRecord((cudaEvent_t)p->ev[i], st[s]), "multi-stream enqueue");
    }
    for (int s = 1; s <= p->n_aux; s++) /* the join */
        if (p->tail[s] >= 0 && p->rec[p->tail[s]])
            KS_CUDA_TRY(ctx, cudaStreamWaitEvent(s0, (cudaEvent_t)p->ev[p->tail[s]], 0), "multi-stream enqueue");
    return KS_OK;
}
