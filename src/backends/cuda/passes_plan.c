/* Engine-description passes: output binding, concat elimination, dead-layer
 * removal and the activation memory planner (liveness + best-fit offsets).
 * Host-only logic on the ks_eng_desc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/builder.h"

#define ON(b, p) (!((b)->cfg->disable_passes & (1u << KS_PASS_##p)))

ks_status ks__plan_bind_output(kb *b, int i, int tid, const char *name) {
    ks_eng_desc *d = b->d;
    int bi = d->n_inputs + i;
    int64_t off = 0;
    int r = ks__eng_root(d, tid, &off);
    const ks_eng_tensor *t = &d->tensors[tid];
    int64_t dims[KS_MAX_DIMS];
    memcpy(dims, t->dims, sizeof dims);
    int nd = t->ndim, dt = t->dtype;
    int64_t tb = t->bytes;
    int bt = ks__eng_add_tensor(d, name, (ks_dtype)dt, nd, dims);
    if (bt < 0)
        return ks__oom(b->ctx, 0, "output binding");
    d->tensors[bt].storage = KS_STORE_BINDING;
    d->tensors[bt].offset = bi;
    d->bindings[bi] = bt;
    int producer = -1;
    for (int li = 0; li < d->n_layers; li++)
        for (int k = 0; k < d->layers[li].n_out; k++)
            if (ks__eng_root(d, d->layers[li].out[k], NULL) == r)
                producer = li;
    if (r >= 0 && d->tensors[r].storage == KS_STORE_ARENA && off == 0 && d->tensors[r].bytes == tb &&
        producer >= 0) {
        d->tensors[r].storage = KS_STORE_VIEW;
        d->tensors[r].root = bt;
        d->tensors[r].offset = 0;
        return KS_OK;
    }
    ks_eng_layer *l = ks__eng_add_layer(d, KS_LAYER_COPY, name);
    if (!l)
        return ks__oom(b->ctx, 0, "output copy");
    l->dtype = dt == KS_DTYPE_FLOAT16 ? KS_DTYPE_FLOAT16 : KS_DTYPE_FLOAT32;
    l->n_in = 1;
    l->in[0] = tid;
    l->n_out = 1;
    l->out[0] = bt;
    return KS_OK;
}

static int count_live(const ks_eng_desc *d, const char *dead) {
    int n = 0;
    for (int i = 0; i < d->n_layers; i++)
        n += !dead[i];
    return n;
}

static void compact(ks_eng_desc *d, const char *dead) {
    int w = 0;
    for (int i = 0; i < d->n_layers; i++)
        if (!dead[i])
            d->layers[w++] = d->layers[i];
    d->n_layers = w;
}

typedef struct root_iv {
    int id;
    int first, last;
    int64_t bytes, off;
} root_iv;

static int by_size(const void *a, const void *b) {
    const root_iv *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return x->first - y->first;
}

/* Conv layers that can share one launch with conv li: same input tensor and
 * geometry, groups 1, same dtype and activation, no residual or PReLU, and
 * an arena output that no one has turned into a view. */
static int hsib_ok(const ks_eng_desc *d, const ks_eng_layer *l) {
    if (l->kind != KS_LAYER_CONV || l->ip[0] != 1 || l->n_out != 1 || l->in[3] >= 0 ||
        l->act == KS_ACT_PRELU || l->tactic != KS_TACTIC_OWN_GEMM)
        return 0;
    return d->tensors[l->out[0]].storage == KS_STORE_ARENA;
}

static int hsib_same(const ks_eng_layer *a, const ks_eng_layer *c) {
    if (a->in[0] != c->in[0] || a->dtype != c->dtype || a->act != c->act || a->act_a != c->act_a ||
        a->act_b != c->act_b || a->ip[12] != c->ip[12])
        return 0;
    for (int k = 1; k <= 10; k++)
        if (a->ip[k] != c->ip[k])
            return 0;
    return 1;
}

/* Appends n bytes of weight tensor t (or zeros when t < 0) at dst. */
static void copy_weight(const ks_eng_desc *d, int t, uint8_t *dst, int64_t n) {
    if (t < 0 || d->tensors[t].storage != KS_STORE_WEIGHT || d->tensors[t].bytes != n)
        memset(dst, 0, (size_t)n);
    else
        memcpy(dst, d->weights + d->tensors[t].offset, (size_t)n);
}

#define KS_HFUSE_MAX 8

/* Horizontal fusion: sibling convs reading one tensor become one conv with
 * the output channels concatenated; each sibling's output becomes a channel
 * slice view of the merged output. Only at batch 1, where a channel slice
 * of NCHW is contiguous (the engine's kernels take dense tensors). */
static ks_status hfuse(kb *b, char *dead, int *n_merged, int *n_groups, int *n_batch_skip) {
    ks_eng_desc *d = b->d;
    int nl = d->n_layers;
    for (int li = 0; li < nl; li++) {
        if (dead[li] || !hsib_ok(d, &d->layers[li]))
            continue;
        int grp[KS_HFUSE_MAX], ng = 0;
        grp[ng++] = li;
        for (int lj = li + 1; lj < nl && ng < KS_HFUSE_MAX; lj++)
            if (!dead[lj] && hsib_ok(d, &d->layers[lj]) && hsib_same(&d->layers[li], &d->layers[lj]))
                grp[ng++] = lj;
        if (ng < 2)
            continue;
        const ks_eng_tensor *x = &d->tensors[d->layers[li].in[0]];
        if (x->dims[0] != 1) {
            (*n_batch_skip)++;
            for (int k = 1; k < ng; k++) /* not again as the head of a smaller group */
                dead[grp[k]] |= 2;
            continue;
        }
        const ks_eng_tensor *y0 = &d->tensors[d->layers[li].out[0]], *w0 = &d->tensors[d->layers[li].in[1]];
        int dt = d->layers[li].dtype;
        int64_t es = ks_dtype_size((ks_dtype)dt);
        int64_t ktot = 0, per = w0->dims[1] * w0->dims[2] * w0->dims[3];
        for (int k = 0; k < ng; k++)
            ktot += d->tensors[d->layers[grp[k]].out[0]].dims[1];
        uint8_t *wb = ks__alloc(b->ctx, (size_t)(ktot * per * es));
        uint8_t *bb = ks__alloc(b->ctx, (size_t)(ktot * es));
        if (!wb || !bb) {
            ks__free(b->ctx, wb);
            ks__free(b->ctx, bb);
            return ks__oom(b->ctx, 0, "horizontal fusion");
        }
        char name[512];
        int64_t koff = 0;
        name[0] = 0;
        for (int k = 0; k < ng; k++) {
            const ks_eng_layer *l = &d->layers[grp[k]];
            int64_t kk = d->tensors[l->out[0]].dims[1];
            copy_weight(d, l->in[1], wb + koff * per * es, kk * per * es);
            copy_weight(d, l->in[2], bb + koff * es, kk * es);
            size_t L = strlen(name);
            snprintf(name + L, sizeof name - L, "%s%s", k ? "|" : "", ks__eng_str(d, l->name));
            koff += kk;
        }
        int64_t wd[4] = {ktot, w0->dims[1], w0->dims[2], w0->dims[3]};
        int64_t yd[4] = {1, ktot, y0->dims[2], y0->dims[3]};
        int wid = ks__eng_add_weight(d, name, (ks_dtype)dt, 4, wd, wb);
        int bid = wid >= 0 ? ks__eng_add_weight(d, name, (ks_dtype)dt, 1, &ktot, bb) : -1;
        int yid = bid >= 0 ? ks__eng_add_tensor(d, name, (ks_dtype)dt, 4, yd) : -1;
        uint32_t nm = yid >= 0 ? ks__eng_add_string(d, name) : UINT32_MAX;
        ks__free(b->ctx, wb);
        ks__free(b->ctx, bb);
        if (nm == UINT32_MAX)
            return ks__oom(b->ctx, 0, "horizontal fusion");
        d->tensors[yid].storage = KS_STORE_ARENA;
        koff = 0;
        for (int k = 0; k < ng; k++) {
            ks_eng_tensor *t = &d->tensors[d->layers[grp[k]].out[0]];
            t->storage = KS_STORE_VIEW;
            t->root = yid;
            t->offset = koff * t->dims[2] * t->dims[3] * es;
            koff += t->dims[1];
            if (k)
                dead[grp[k]] = 1;
        }
        ks_eng_layer *l = &d->layers[li];
        l->name = nm;
        l->in[1] = wid;
        l->in[2] = bid;
        l->out[0] = yid;
        (*n_merged) += ng;
        (*n_groups)++;
    }
    for (int li = 0; li < nl; li++)
        dead[li] &= 1;
    return KS_OK;
}

/* The one layer that reads root t (written by layer li): it reads t as its input 0, through t or a view of t at
 * offset 0 (that tensor's id in *view), and nothing else reads t, no binding is t and no layer but li writes t.
 * -1 when there is no such layer. */
static int sole_reader(const ks_eng_desc *d, int t, int li, int *view) {
    for (int i = 0; i < d->n_inputs + d->n_outputs; i++)
        if (ks__eng_root(d, d->bindings[i], NULL) == t)
            return -1;
    int reader = -1;
    for (int lj = 0; lj < d->n_layers; lj++) {
        const ks_eng_layer *m = &d->layers[lj];
        for (int k = 0; k < m->n_in; k++) {
            int64_t off = 0;
            if (m->in[k] < 0 || ks__eng_root(d, m->in[k], &off) != t)
                continue;
            if (reader >= 0 || k != 0 || off != 0)
                return -1;
            reader = lj;
            *view = m->in[0];
        }
        for (int k = 0; k < m->n_out && lj != li; k++)
            if (ks__eng_root(d, m->out[k], NULL) == t)
                return -1;
    }
    return reader;
}

/* Appends the layer pair (a, c) to a candidate list of pairs (*n of them, room for *cap). */
static ks_status push_pair(kb *b, int **list, int *n, int *cap, int a, int c, const char *what) {
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        int *np = ks__realloc(b->ctx, *list, (size_t)nc * 2 * sizeof(int));
        if (!np)
            return ks__oom(b->ctx, 0, what);
        *list = np;
        *cap = nc;
    }
    (*list)[2 * *n] = a;
    (*list)[2 * *n + 1] = c;
    (*n)++;
    return KS_OK;
}

/* A depthwise conv layer (no residual) whose output, an arena tensor nobody
 * else reads or views, is the input of a plain 1x1 conv of the same dtype. */
static ks_status find_dwpw(kb *b) {
    ks_eng_desc *d = b->d;
    b->n_dwpw = 0;
    if (ks__dwpw_mode() == 0)
        return KS_OK;
    int nl = d->n_layers, cap = 0;
    ks__free(b->ctx, b->dwpw);
    b->dwpw = NULL;
    for (int li = 0; li < nl; li++) {
        const ks_eng_layer *l = &d->layers[li];
        if (l->kind != KS_LAYER_CONV || l->tactic != KS_TACTIC_OWN_DW || l->in[3] >= 0 || l->n_out != 1)
            continue;
        int t = l->out[0];
        if (d->tensors[t].storage != KS_STORE_ARENA)
            continue;
        /* one reader, after the depthwise, through t itself or a same-shape view of it (Identity); nothing else
         * writes or binds it */
        int v = -1, pw = sole_reader(d, t, li, &v);
        if (pw <= li || d->tensors[v].ndim != 4 || memcmp(d->tensors[v].dims, d->tensors[t].dims, 4 * sizeof(int64_t)))
            continue;
        const ks_eng_layer *p = &d->layers[pw];
        const int64_t *ip = p->ip;
        if (p->kind != KS_LAYER_CONV || p->dtype != l->dtype || p->tactic != KS_TACTIC_OWN_GEMM || ip[0] != 1 ||
            ip[1] != 1 || ip[2] != 1 || ip[3] != 1 || ip[4] != 1 || ip[5] || ip[6] || ip[7] || ip[8] ||
            p->n_out != 1)
            continue;
        ks_status st = push_pair(b, &b->dwpw, &b->n_dwpw, &cap, li, pw, "dw+pw pairs");
        if (st != KS_OK)
            return st;
    }
    if (b->n_dwpw)
        ks__kb_report(b, "Depthwise+pointwise pairs: %d candidates for the fused dw+pw tactic\n", b->n_dwpw);
    return KS_OK;
}

/* A float16 1x1 conv (stride 1, no padding, one group, no activation, no residual) whose output, an arena
 * tensor nothing else reads, is the x of a segmap layer (a YOLO detect head): candidates for the tensor-core 1x1
 * with the segmap in its epilogue, decided by timing in tactics.c. */
static ks_status find_pwseg(kb *b) {
    ks_eng_desc *d = b->d;
    b->n_pwseg = 0;
    ks__free(b->ctx, b->pwseg);
    b->pwseg = NULL;
    if (ks__pwseg_mode() == 0)
        return KS_OK;
    int nl = d->n_layers, cap = 0;
    for (int si = 0; si < nl; si++) {
        const ks_eng_layer *s = &d->layers[si];
        if (s->kind != KS_LAYER_SEGMAP || s->tactic != KS_TACTIC_DEFAULT || s->dtype != KS_DTYPE_FLOAT16 ||
            s->in[0] < 0 || s->n_in + 2 > KS_ENG_MAX_IN)
            continue;
        const int t = ks__eng_root(d, s->in[0], NULL);
        int pi = -1;
        for (int li = 0; li < si && t >= 0; li++)
            if (d->layers[li].n_out == 1 && d->layers[li].out[0] == t)
                pi = li;
        if (pi < 0 || d->tensors[t].storage != KS_STORE_ARENA)
            continue;
        const ks_eng_layer *p = &d->layers[pi];
        const ks_eng_tensor *x = &d->tensors[p->in[0]], *y = &d->tensors[t], *sy = &d->tensors[s->out[0]];
        const int64_t *ip = p->ip;
        if (p->kind != KS_LAYER_CONV || p->dtype != KS_DTYPE_FLOAT16 || p->act != KS_ACT_NONE || p->in[3] >= 0 ||
            p->n_in > 3 || ip[0] != 1 || ip[1] != 1 || ip[2] != 1 || ip[3] != 1 || ip[4] != 1 || ip[5] || ip[6] ||
            ip[7] || ip[8] || x->ndim != 4 || y->ndim != 4 || sy->ndim != 5 || x->dims[2] != y->dims[2] ||
            x->dims[3] != y->dims[3] || !ks__eng_pw_seg_ok(x->dims[1], y->dims[1], sy->dims[4]))
            continue;
        int v = -1; /* the segmap reads the conv's output whole (its [B,A,C,H,W] view), and nothing else does */
        if (sole_reader(d, t, pi, &v) != si || d->tensors[v].bytes != y->bytes)
            continue;
        ks_status st = push_pair(b, &b->pwseg, &b->n_pwseg, &cap, pi, si, "1x1 conv + segmap pairs");
        if (st != KS_OK)
            return st;
    }
    if (b->n_pwseg)
        ks__kb_report(b, "1x1 conv + segmap pairs: %d candidates for the fused own:pointwise:1+segmap\n", b->n_pwseg);
    return KS_OK;
}

/* Concat elimination with outer > 1: root r, written whole by segmap layer pi, can become the rows of its
 * input of concat layer ci (ext bytes per outer row of total) when the segmap writes exactly outer images
 * of ext bytes each (it then writes them total bytes apart) and nothing but the concat reads r. */
static int strided_segmap_ok(const ks_eng_desc *d, int pi, int r, int ci, int64_t outer, int64_t ext, int64_t total) {
    const ks_eng_layer *p = &d->layers[pi];
    const ks_eng_tensor *y = &d->tensors[r];
    const int64_t es = (int64_t)ks_dtype_size((ks_dtype)p->dtype);
    if (p->kind != KS_LAYER_SEGMAP || p->algo != 0 || p->out[0] != r || y->ndim != 5 || y->dims[0] != outer ||
        y->bytes != outer * ext || ext % es || total % es || total / es > INT32_MAX)
        return 0;
    for (int li = 0; li < d->n_layers; li++) {
        if (li == ci)
            continue;
        const ks_eng_layer *l = &d->layers[li];
        for (int k = 0; k < l->n_in; k++)
            if (l->in[k] >= 0 && ks__eng_root(d, l->in[k], NULL) == r)
                return 0;
    }
    for (int k = 0; k < d->n_inputs + d->n_outputs; k++)
        if (d->bindings[k] >= 0 && ks__eng_root(d, d->bindings[k], NULL) == r)
            return 0;
    return 1;
}

/* Fusion candidates (first, second) of a pair list: the first layer's input 0 stays live until the second, which
 * reads it once fused (the memory plan's interval and, for the parallel-aware plan, its touch bits). */
static void keep_input_live(const ks_eng_desc *d, const int *pairs, int n, root_iv *iv, const int *slot,
                            uint64_t *touch, size_t W) {
    for (int i = 0; i < n; i++) {
        int r = ks__eng_root(d, d->layers[pairs[2 * i]].in[0], NULL);
        int until = pairs[2 * i + 1];
        if (r < 0 || slot[r] < 0)
            continue;
        if (iv[slot[r]].last < until)
            iv[slot[r]].last = until;
        if (touch)
            touch[(size_t)slot[r] * W + until / 64] |= 1ull << (until % 64);
    }
}

ks_status ks__plan_passes(kb *b) {
    ks_eng_desc *d = b->d;
    ks_context *ctx = b->ctx;
    int nl = d->n_layers, nt = d->n_tensors;
    char *dead = ks__alloc(ctx, (size_t)nl + 1);
    int *producer = ks__alloc_array(ctx, (size_t)nt + 1, sizeof(int));
    char *need = ks__alloc(ctx, (size_t)nt + 1);
    root_iv *iv = ks__alloc_array(ctx, (size_t)nt + 1, sizeof(root_iv));
    int *slot = ks__alloc_array(ctx, (size_t)nt + 1, sizeof(int));
    uint64_t *touch = NULL, *anc = NULL; /* the parallel-aware memory plan's bit tables (below) */
    ks_status st = KS_OK;
    if (!dead || !producer || !need || !iv || !slot) {
        st = ks__oom(ctx, 0, "planner");
        goto done;
    }
    for (int t = 0; t < nt; t++)
        producer[t] = -1;
    for (int li = 0; li < nl; li++)
        for (int k = 0; k < d->layers[li].n_out; k++)
            producer[d->layers[li].out[k]] = li;

    /* ---- concat elimination: inputs become views of the output */
    int n_concat_elim = 0;
    if (ON(b, CONCAT_ELIM)) {
        for (int li = 0; li < nl; li++) {
            ks_eng_layer *l = &d->layers[li];
            if (l->kind != KS_LAYER_CONCAT)
                continue;
            /* outer > 1 (a batch of rows): only segmap producers, which can write their rows with a stride */
            const int strided = l->ip[0] != 1;
            int64_t total = 0;
            for (int k = 0; k < l->n_in; k++)
                total += l->ip[2 + k] * l->ip[1];
            int ok = 1, roots[KS_ENG_MAX_IN];
            for (int k = 0; k < l->n_in && ok; k++) {
                int64_t off;
                int r = ks__eng_root(d, l->in[k], &off);
                roots[k] = r;
                ok = r >= 0 && d->tensors[r].storage == KS_STORE_ARENA && off == 0 &&
                     d->tensors[r].bytes == d->tensors[l->in[k]].bytes && producer[r] >= 0 &&
                     producer[r] < li;
                for (int j = 0; j < k && ok; j++)
                    ok = roots[j] != r;
                /* the producer must write r whole and only r */
                if (ok) {
                    const ks_eng_layer *p = &d->layers[producer[r]];
                    ok = p->n_out == 1 && p->kind != KS_LAYER_COPY;
                    if (ok && strided)
                        ok = strided_segmap_ok(d, producer[r], r, li, l->ip[0], l->ip[2 + k] * l->ip[1], total);
                }
            }
            if (!ok)
                continue;
            int64_t off = 0;
            for (int k = 0; k < l->n_in; k++) {
                ks_eng_tensor *r = &d->tensors[roots[k]];
                r->storage = KS_STORE_VIEW;
                r->root = l->out[0];
                r->offset = off;
                if (strided) {
                    ks_eng_layer *p = &d->layers[producer[roots[k]]];
                    p->algo = (int32_t)(total / (int64_t)ks_dtype_size((ks_dtype)p->dtype));
                    off += l->ip[2 + k] * l->ip[1];
                } else {
                    off += r->bytes;
                }
            }
            dead[li] = 1;
            n_concat_elim++;
        }
    }
    ks__kb_report(b, "After concat elimination: %d layers (%d concats removed)\n", count_live(d, dead),
                  n_concat_elim);

    /* ---- horizontal fusion (after concat elimination, which it must not
     * defeat: siblings already writing into a concat buffer are left) */
    if (ON(b, HORIZONTAL_FUSE)) {
        int n_merged = 0, n_groups = 0, n_batch_skip = 0;
        st = hfuse(b, dead, &n_merged, &n_groups, &n_batch_skip);
        if (st != KS_OK)
            goto done;
        ks__kb_report(b,
                      "After horizontal fusion: %d layers (%d sibling convs merged into %d; %d groups left "
                      "apart at batch > 1)\n",
                      count_live(d, dead), n_merged, n_groups, n_batch_skip);
        if (d->n_tensors != nt) {
            nt = d->n_tensors;
            ks__free(ctx, need);
            ks__free(ctx, iv);
            ks__free(ctx, slot);
            need = ks__alloc(ctx, (size_t)nt + 1);
            iv = ks__alloc_array(ctx, (size_t)nt + 1, sizeof(root_iv));
            slot = ks__alloc_array(ctx, (size_t)nt + 1, sizeof(int));
            if (!need || !iv || !slot) {
                st = ks__oom(ctx, 0, "planner");
                goto done;
            }
        }
    }

    /* ---- dead layers: per root, backwards */
    if (ON(b, DEAD_ELIM)) {
        for (int i = 0; i < d->n_inputs + d->n_outputs; i++)
            need[d->bindings[i]] = 1;
        int removed = 0;
        for (int li = nl - 1; li >= 0; li--) {
            if (dead[li])
                continue;
            const ks_eng_layer *l = &d->layers[li];
            int live = 0;
            for (int k = 0; k < l->n_out; k++) {
                int r = ks__eng_root(d, l->out[k], NULL);
                live |= r >= 0 && need[r];
            }
            if (!live) {
                dead[li] = 1;
                removed++;
                continue;
            }
            for (int k = 0; k < l->n_in; k++)
                if (l->in[k] >= 0) {
                    int r = ks__eng_root(d, l->in[k], NULL);
                    if (r >= 0)
                        need[r] = 1;
                }
            /* layers writing into part of a needed root stay (concat views) */
        }
        ks__kb_report(b, "After dead-layer removal: %d layers (%d removed)\n", count_live(d, dead), removed);
    }
    compact(d, dead);
    nl = d->n_layers;

    /* ---- fused depthwise + pointwise candidates (decided by timing in
     * tactics.c): the depthwise input must stay live until the pointwise
     * layer, which reads it when fused */
    st = find_dwpw(b);
    if (st != KS_OK)
        goto done;
    /* ---- 1x1 conv + segmap candidates: likewise, the conv's input stays live until the segmap */
    st = find_pwseg(b);
    if (st != KS_OK)
        goto done;

    /* ---- memory plan */
    for (int t = 0; t < nt; t++) {
        slot[t] = -1;
    }
    /* Concurrency-aware reuse (multistream.c runs independent layers at the same time inside CUDA graphs):
     * two roots live at different times share memory only when every layer touching the earlier one is
     * a data ancestor of the layer that first writes the later one. Reusing memory across two parallel
     * branches would add a write-after-read edge between them and serialize them. (The runtime derives
     * its edges from the final offsets, so this only decides how much parallelism survives, never
     * safety.) KESTREL_PLAN_PARALLEL=0: plain liveness reuse.
     * touch: per root slot, the layers touching it (filled with the intervals below); anc: per layer, its
     * data ancestors, from wanc: per root, the layers so far that wrote it and their ancestors. */
    const char *pp = getenv("KESTREL_PLAN_PARALLEL");
    const int par = !(pp && !strcmp(pp, "0")) && nl > 1;
    const size_t W = ((size_t)nl + 63) / 64;
    if (par) {
        touch = ks__alloc_array(ctx, (size_t)nt * W + 1, sizeof(uint64_t));
        anc = ks__alloc_array(ctx, (size_t)nl * W, sizeof(uint64_t));
        uint64_t *wanc = ks__alloc_array(ctx, (size_t)nt * W + 1, sizeof(uint64_t));
        if (!touch || !anc || !wanc) {
            ks__free(ctx, wanc);
            st = ks__oom(ctx, 0, "memory planner tables");
            goto done;
        }
        for (int li = 0; li < nl; li++) {
            const ks_eng_layer *l = &d->layers[li];
            uint64_t *a = anc + (size_t)li * W;
            for (int k = 0; k < l->n_in; k++) { /* the earlier writers of what it reads (weights have none) */
                int r = l->in[k] >= 0 ? ks__eng_root(d, l->in[k], NULL) : -1;
                for (size_t w = 0; r >= 0 && w < W; w++)
                    a[w] |= wanc[(size_t)r * W + w];
            }
            for (int k = 0; k < l->n_out; k++) {
                int r = l->out[k] >= 0 ? ks__eng_root(d, l->out[k], NULL) : -1;
                if (r < 0)
                    continue;
                uint64_t *x = wanc + (size_t)r * W;
                for (size_t w = 0; w < W; w++)
                    x[w] |= a[w];
                x[li / 64] |= 1ull << (li % 64);
            }
        }
        ks__free(ctx, wanc);
    }
    int n_roots = 0;
    for (int li = 0; li < nl; li++) {
        const ks_eng_layer *l = &d->layers[li];
        for (int k = 0; k < l->n_out + l->n_in; k++) {
            int t = k < l->n_out ? l->out[k] : l->in[k - l->n_out];
            if (t < 0)
                continue;
            int r = ks__eng_root(d, t, NULL);
            if (r < 0 || d->tensors[r].storage != KS_STORE_ARENA)
                continue;
            if (slot[r] < 0) {
                slot[r] = n_roots;
                iv[n_roots].id = r;
                iv[n_roots].first = li;
                iv[n_roots].last = li;
                iv[n_roots].bytes = (d->tensors[r].bytes + 255) / 256 * 256;
                n_roots++;
            }
            root_iv *x = &iv[slot[r]];
            if (li > x->last)
                x->last = li;
            if (touch)
                touch[(size_t)slot[r] * W + li / 64] |= 1ull << (li % 64);
            if (k >= l->n_out && x->first == li) {
                /* read in its first layer before any write: only legal for a
                 * layer that also writes it (in-place); otherwise unwritten */
                int writes = 0;
                for (int j = 0; j < l->n_out; j++)
                    writes |= ks__eng_root(d, l->out[j], NULL) == r;
                if (!writes) {
                    st = ks__error(ctx, KS_INTERNAL, "planner: tensor '%s' is read before it is written",
                                   ks__eng_str(d, d->tensors[r].name));
                    goto done;
                }
            }
        }
    }
    /* the fused pointwise layer reads the depthwise input; the fused segmap layer the conv's input */
    keep_input_live(d, b->dwpw, b->n_dwpw, iv, slot, touch, W);
    keep_input_live(d, b->pwseg, b->n_pwseg, iv, slot, touch, W);
    qsort(iv, (size_t)n_roots, sizeof(root_iv), by_size);
    int64_t arena = 0, naive = 0;
    for (int i = 0; i < n_roots; i++) {
        naive += iv[i].bytes;
        /* lowest offset that fits among placed roots that overlap in time or may run concurrently */
        int64_t off = 0;
        for (int again = 1; again;) {
            again = 0;
            for (int j = 0; j < i; j++) {
                if (iv[j].last < iv[i].first || iv[i].last < iv[j].first) {
                    if (!par)
                        continue;
                    const root_iv *e0 = iv[j].last < iv[i].first ? &iv[j] : &iv[i], *e1 = e0 == &iv[j] ? &iv[i] : &iv[j];
                    const uint64_t *tw = touch + (size_t)slot[e0->id] * W, *aw = anc + (size_t)e1->first * W;
                    int before = 1;
                    for (size_t w = 0; w < W && before; w++)
                        before = (tw[w] & ~aw[w]) == 0;
                    if (before)
                        continue;
                }
                if (off < iv[j].off + iv[j].bytes && iv[j].off < off + iv[i].bytes) {
                    off = iv[j].off + iv[j].bytes;
                    again = 1;
                }
            }
        }
        iv[i].off = off;
        if (off + iv[i].bytes > arena)
            arena = off + iv[i].bytes;
        d->tensors[iv[i].id].offset = off;
    }
    /* arena tensors no layer touches (unreferenced): give them offset 0 and
     * mark them as views of nothing is not possible; make them size-checked */
    for (int t = 0; t < nt; t++) {
        ks_eng_tensor *x = &d->tensors[t];
        if (x->storage == KS_STORE_ARENA && x->offset < 0) {
            x->offset = 0;
            if (x->bytes > arena)
                arena = (x->bytes + 255) / 256 * 256;
        }
    }
    d->arena_bytes = arena;
    d->naive_bytes = naive;
    ks__kb_report(b, "Final: %d layers; activation memory %.2f MiB planned (%.2f MiB one buffer per tensor)\n",
                  nl, arena / 1048576.0, naive / 1048576.0);
done:
    ks__free(ctx, dead);
    ks__free(ctx, producer);
    ks__free(ctx, need);
    ks__free(ctx, iv);
    ks__free(ctx, slot);
    ks__free(ctx, touch);
    ks__free(ctx, anc);
    return st;
}
