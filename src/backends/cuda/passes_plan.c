/* Engine-description passes: output binding, concat elimination, dead-layer
 * removal and the activation memory planner (liveness + best-fit offsets).
 * Host-only logic on the ks_eng_desc. */
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

ks_status ks__plan_passes(kb *b) {
    ks_eng_desc *d = b->d;
    ks_context *ctx = b->ctx;
    int nl = d->n_layers, nt = d->n_tensors;
    char *dead = ks__alloc(ctx, (size_t)nl + 1);
    int *producer = ks__alloc_array(ctx, (size_t)nt + 1, sizeof(int));
    char *need = ks__alloc(ctx, (size_t)nt + 1);
    root_iv *iv = ks__alloc_array(ctx, (size_t)nt + 1, sizeof(root_iv));
    int *slot = ks__alloc_array(ctx, (size_t)nt + 1, sizeof(int));
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
            if (l->kind != KS_LAYER_CONCAT || l->ip[0] != 1)
                continue;
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
                off += r->bytes;
            }
            dead[li] = 1;
            n_concat_elim++;
        }
    }
    ks__kb_report(b, "After concat elimination: %d layers (%d concats removed)\n", count_live(d, dead),
                  n_concat_elim);

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

    /* ---- memory plan */
    for (int t = 0; t < nt; t++) {
        slot[t] = -1;
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
    qsort(iv, (size_t)n_roots, sizeof(root_iv), by_size);
    int64_t arena = 0, naive = 0;
    for (int i = 0; i < n_roots; i++) {
        naive += iv[i].bytes;
        /* lowest offset that fits among placed, overlapping-in-time roots */
        int64_t off = 0;
        for (int again = 1; again;) {
            again = 0;
            for (int j = 0; j < i; j++) {
                if (iv[j].last < iv[i].first || iv[i].last < iv[j].first)
                    continue;
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
    return st;
}
