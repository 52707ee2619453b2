/* Batch generalisation (see pass_batch.h). */
#include <stdio.h>
#include <string.h>

#include "graph/pass_batch.h"

enum { BFREE = -2, BUNSET = -1 };

typedef struct bctx {
    ks_graph *g;
    int64_t batch;
    int *ax; /* per value: batch axis, or BFREE */
} bctx;

static ks_status refuse(bctx *b, const ks_node *n, const char *fmt, const char *detail) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, detail ? detail : "");
    return ks__node_error(b->g, n, KS_UNSUPPORTED_SHAPE, "cannot generalise the batch to %lld: %s",
                          (long long)b->batch, msg);
}

static int in_ax(const bctx *b, const ks_node *n, int k) {
    if (k >= n->n_inputs || n->inputs[k] < 0)
        return BFREE;
    return b->ax[n->inputs[k]];
}

static const ks_tensor *in_t(const bctx *b, const ks_node *n, int k) {
    return k < n->n_inputs && n->inputs[k] >= 0 ? &b->g->values[n->inputs[k]].t : NULL;
}

static const ks_tensor *in_const(const bctx *b, const ks_node *n, int k) {
    if (k >= n->n_inputs || n->inputs[k] < 0)
        return NULL;
    const ks_value *v = &b->g->values[n->inputs[k]];
    return v->is_const && v->t.data ? &v->t : NULL;
}

static void set_out(bctx *b, const ks_node *n, int axis) {
    for (int o = 0; o < n->n_outputs; o++)
        if (n->outputs[o] >= 0)
            b->ax[n->outputs[o]] = axis;
}

/* Integer list from constant input k, or from attribute `attr` (k < 0 or input absent).
 * Returns the count, -1 if absent, -2 if present but not constant. */
static int64_t int_list(const bctx *b, const ks_node *n, int k, const char *attr, int64_t *vals, int cap) {
    if (k >= 0 && k < n->n_inputs && n->inputs[k] >= 0) {
        const ks_tensor *t = in_const(b, n, k);
        if (!t)
            return -2;
        int64_t c = ks_tensor_numel(t);
        for (int64_t i = 0; i < c && i < cap; i++)
            vals[i] = ks__tensor_get_i64(t, i);
        return c;
    }
    if (attr) {
        const int64_t *v;
        int64_t c = ks__attr_ints(n, attr, &v);
        for (int64_t i = 0; i < c && i < cap; i++)
            vals[i] = v[i];
        return c;
    }
    return -1;
}

/* Replaces constant input k of node ni with a copy whose element `idx` is `val`. */
static ks_status rewrite_const(bctx *b, int ni, int k, int64_t idx, int64_t val) {
    ks_graph *g = b->g;
    int old = g->nodes[ni].inputs[k];
    ks_tensor t = g->values[old].t;
    char name[512];
    snprintf(name, sizeof name, "%s__batch%lld_n%d_i%d", g->values[old].name, (long long)b->batch, ni, k);
    int id;
    KS_CHECK(ks__graph_add_const(g, name, &t, &id));
    ks__tensor_set_f64(&g->values[id].t, idx, (double)val);
    if (t.dtype == KS_DTYPE_INT64)
        ((int64_t *)g->values[id].t.data)[idx] = val; /* exact beyond 2^53 */
    g->values[id].producer = -1;
    g->nodes[ni].inputs[k] = id;
    int *nax = ks__realloc(g->ctx, b->ax, sizeof(int) * (size_t)g->n_values);
    if (!nax)
        return ks__oom(g->ctx, sizeof(int) * (size_t)g->n_values, "batch pass");
    b->ax = nax;
    b->ax[id] = BFREE;
    return KS_OK;
}

static int is_elementwise(ks_op op) {
    switch (op) {
    case KS_OP_RELU: case KS_OP_LEAKY_RELU: case KS_OP_PRELU: case KS_OP_SIGMOID: case KS_OP_TANH:
    case KS_OP_HARD_SIGMOID: case KS_OP_HARD_SWISH: case KS_OP_ELU: case KS_OP_SELU: case KS_OP_SOFTPLUS:
    case KS_OP_SOFTSIGN: case KS_OP_MISH: case KS_OP_GELU: case KS_OP_ERF: case KS_OP_CLIP: case KS_OP_ADD:
    case KS_OP_SUB: case KS_OP_MUL: case KS_OP_DIV: case KS_OP_POW: case KS_OP_MOD: case KS_OP_MIN:
    case KS_OP_MAX: case KS_OP_SUM: case KS_OP_MEAN: case KS_OP_EXP: case KS_OP_LOG: case KS_OP_SQRT:
    case KS_OP_RECIPROCAL: case KS_OP_NEG: case KS_OP_ABS: case KS_OP_SIGN: case KS_OP_FLOOR: case KS_OP_CEIL:
    case KS_OP_ROUND: case KS_OP_SIN: case KS_OP_COS: case KS_OP_EQUAL: case KS_OP_GREATER:
    case KS_OP_GREATER_OR_EQUAL: case KS_OP_LESS: case KS_OP_LESS_OR_EQUAL: case KS_OP_NOT: case KS_OP_AND:
    case KS_OP_OR: case KS_OP_XOR: case KS_OP_WHERE: case KS_OP_CAST: case KS_OP_IDENTITY: case KS_OP_DROPOUT:
        return 1;
    default:
        return 0;
    }
}

/* Ops whose input 0 is N x C x ... with the batch on axis 0 and whose other inputs are
 * per-channel parameters. */
static int is_nchw(ks_op op) {
    switch (op) {
    case KS_OP_CONV: case KS_OP_CONV_TRANSPOSE: case KS_OP_BATCH_NORM: case KS_OP_INSTANCE_NORM:
    case KS_OP_MAX_POOL: case KS_OP_AVERAGE_POOL: case KS_OP_GLOBAL_AVERAGE_POOL: case KS_OP_GLOBAL_MAX_POOL:
    case KS_OP_LRN: case KS_OP_DEPTH_TO_SPACE: case KS_OP_SPACE_TO_DEPTH:
        return 1;
    default:
        return 0;
    }
}

static int contains(const int64_t *v, int64_t n, int64_t x, int rank) {
    for (int64_t i = 0; i < n; i++)
        if (v[i] == x || (v[i] < 0 && v[i] + rank == x))
            return 1;
    return 0;
}

static int count_below(const int64_t *v, int64_t n, int64_t x, int rank) {
    int c = 0;
    for (int64_t i = 0; i < n; i++)
        c += (v[i] < 0 ? v[i] + rank : v[i]) < x;
    return c;
}

static ks_status visit(bctx *b, int ni) {
    ks_graph *g = b->g;
    const ks_node *n = &g->nodes[ni];
    int any = 0;
    for (int k = 0; k < n->n_inputs; k++)
        any |= in_ax(b, n, k) >= 0;
    if (!any) {
        set_out(b, n, BFREE);
        return KS_OK;
    }
    const ks_tensor *x = in_t(b, n, 0);
    int a = in_ax(b, n, 0);
    int r = x ? x->ndim : -1;
    int64_t v[KS_MAX_DIMS * 2 + 2];
    const char *op = n->op_type;

    if (is_elementwise(n->op)) {
        int rank = n->outputs[0] >= 0 ? g->values[n->outputs[0]].t.ndim : -1;
        int oax = BUNSET;
        for (int k = 0; k < n->n_inputs; k++) {
            const ks_tensor *t = in_t(b, n, k);
            if (!t)
                continue;
            if (in_ax(b, n, k) >= 0) {
                int p = rank - t->ndim + in_ax(b, n, k);
                if (oax != BUNSET && oax != p)
                    return refuse(b, n, "%s: inputs carry the batch on different axes", op);
                oax = p;
            }
        }
        for (int k = 0; k < n->n_inputs; k++) {
            const ks_tensor *t = in_t(b, n, k);
            if (!t || in_ax(b, n, k) >= 0)
                continue;
            int p = oax - (rank - t->ndim);
            if (p >= 0 && t->dims[p] != 1)
                return refuse(b, n, "%s: a batch-independent operand spans the batch axis", op);
        }
        set_out(b, n, oax);
        return KS_OK;
    }
    if (a < 0 && n->op != KS_OP_CONCAT)
        return refuse(b, n, "%s: only a secondary input depends on the batch", op);
    if (is_nchw(n->op)) {
        if (a != 0)
            return refuse(b, n, "%s: the batch is not on axis 0", op);
        for (int k = 1; k < n->n_inputs; k++)
            if (in_ax(b, n, k) >= 0)
                return refuse(b, n, "%s: a parameter input depends on the batch", op);
        set_out(b, n, 0);
        return KS_OK;
    }
    switch (n->op) {
    case KS_OP_RESIZE: {
        for (int k = 1; k < n->n_inputs; k++)
            if (in_ax(b, n, k) >= 0)
                return refuse(b, n, "%s: roi/scales/sizes depend on the batch", op);
        int64_t c = int_list(b, n, 3, NULL, v, KS_MAX_DIMS);
        if (c == -2)
            return refuse(b, n, "%s: sizes are not constant", op);
        if (c > 0) {
            if (c != r || v[a] != 1)
                return refuse(b, n, "%s: sizes do not keep the batch", op);
            KS_CHECK(rewrite_const(b, ni, 3, a, b->batch));
        }
        c = int_list(b, n, 2, NULL, v, KS_MAX_DIMS);
        if (c == -2)
            return refuse(b, n, "%s: scales are not constant", op);
        if (c > 0) {
            const ks_tensor *s = in_const(b, n, 2);
            if (c != r || ks__tensor_get_f64(s, a) != 1.0)
                return refuse(b, n, "%s: scales do not keep the batch", op);
        }
        set_out(b, n, a);
        return KS_OK;
    }
    case KS_OP_SOFTMAX:
    case KS_OP_LOG_SOFTMAX: {
        int64_t axis = ks__attr_i(n, "axis", n->opset < 13 ? 1 : -1);
        int ax;
        if (!ks__norm_axis(axis, r, &ax))
            return refuse(b, n, "%s: bad axis", op);
        if (n->opset < 13 ? a >= ax : a == ax)
            return refuse(b, n, "%s: normalises across the batch axis", op);
        set_out(b, n, a);
        return KS_OK;
    }
    case KS_OP_REDUCE_MEAN: case KS_OP_REDUCE_MAX: case KS_OP_REDUCE_MIN: case KS_OP_REDUCE_SUM:
    case KS_OP_REDUCE_PROD: case KS_OP_REDUCE_L2: {
        int64_t c = int_list(b, n, 1, "axes", v, KS_MAX_DIMS);
        if (c < 0 || c == 0)
            return refuse(b, n, "%s: reduces all axes (or unknown axes)", op);
        if (contains(v, c, a, r))
            return refuse(b, n, "%s: reduces the batch axis", op);
        set_out(b, n, ks__attr_i(n, "keepdims", 1) ? a : a - count_below(v, c, a, r));
        return KS_OK;
    }
    case KS_OP_ARG_MAX:
    case KS_OP_ARG_MIN:
    case KS_OP_TOP_K: {
        int ax;
        if (!ks__norm_axis(ks__attr_i(n, "axis", n->op == KS_OP_TOP_K ? -1 : 0), r, &ax) || ax == a)
            return refuse(b, n, "%s: works along the batch axis", op);
        if (n->op == KS_OP_TOP_K && in_ax(b, n, 1) >= 0)
            return refuse(b, n, "%s: k depends on the batch", op);
        int keep = n->op == KS_OP_TOP_K || ks__attr_i(n, "keepdims", 1);
        set_out(b, n, keep || ax > a ? a : a - 1);
        return KS_OK;
    }
    case KS_OP_CONCAT: {
        int ax;
        int rank = n->outputs[0] >= 0 ? g->values[n->outputs[0]].t.ndim : -1;
        if (!ks__norm_axis(ks__attr_i(n, "axis", 0), rank, &ax))
            return refuse(b, n, "%s: bad axis", op);
        int common = BUNSET;
        for (int k = 0; k < n->n_inputs; k++) {
            int ak = in_ax(b, n, k);
            if (ak < 0)
                return refuse(b, n, "%s: joins batched and batch-independent tensors", op);
            if (common != BUNSET && ak != common)
                return refuse(b, n, "%s: inputs carry the batch on different axes", op);
            common = ak;
        }
        if (common == ax)
            return refuse(b, n, "%s: concatenates along the batch axis", op);
        set_out(b, n, common);
        return KS_OK;
    }
    case KS_OP_TRANSPOSE: {
        int64_t c = int_list(b, n, -1, "perm", v, KS_MAX_DIMS);
        if (c < 0) { /* default: reverse */
            set_out(b, n, r - 1 - a);
            return KS_OK;
        }
        for (int64_t j = 0; j < c; j++)
            if (v[j] == a) {
                set_out(b, n, (int)j);
                return KS_OK;
            }
        return refuse(b, n, "%s: bad perm", op);
    }
    case KS_OP_RESHAPE: {
        if (in_ax(b, n, 1) >= 0)
            return refuse(b, n, "%s: the target shape depends on the batch", op);
        const ks_tensor *tt = in_const(b, n, 1);
        if (!tt)
            return refuse(b, n, "%s: the target shape is not constant", op);
        int64_t lead = 1;
        for (int i = 0; i < a; i++)
            lead *= x->dims[i];
        if (lead != 1 || x->dims[a] != 1)
            return refuse(b, n, "%s: the input is not image-major", op);
        const ks_tensor *ot = n->outputs[0] >= 0 ? &g->values[n->outputs[0]].t : NULL;
        int64_t c = ks_tensor_numel(tt);
        int allowzero = (int)ks__attr_i(n, "allowzero", 0);
        if (!ot || ot->ndim != c)
            return refuse(b, n, "%s: output shape unknown", op);
        for (int64_t j = 0; j < c; j++) {
            int64_t t = ks__tensor_get_i64(tt, j);
            if (ot->dims[j] != 1)
                break; /* the batch must land on a leading 1 of the output */
            if (t == 1) {
                KS_CHECK(rewrite_const(b, ni, 1, j, b->batch));
                set_out(b, n, (int)j);
                return KS_OK;
            }
            if (t == 0 && !allowzero && j == a) {
                set_out(b, n, (int)j);
                return KS_OK;
            }
        }
        return refuse(b, n, "%s: the target shape merges the batch into another dim (needs [1, ...])", op);
    }
    case KS_OP_FLATTEN: {
        int ax;
        if (!ks__norm_axis(ks__attr_i(n, "axis", 1), r, &ax) || a >= ax)
            return refuse(b, n, "%s: flattens the batch axis into the features", op);
        for (int i = 0; i < ax; i++)
            if (i != a && x->dims[i] != 1)
                return refuse(b, n, "%s: merges the batch with another dim", op);
        set_out(b, n, 0);
        return KS_OK;
    }
    case KS_OP_SLICE: {
        for (int k = 1; k < n->n_inputs; k++)
            if (in_ax(b, n, k) >= 0)
                return refuse(b, n, "%s: starts/ends depend on the batch", op);
        int64_t st[KS_MAX_DIMS], en[KS_MAX_DIMS], axs[KS_MAX_DIMS], sp[KS_MAX_DIMS];
        int64_t c = int_list(b, n, 1, NULL, st, KS_MAX_DIMS);
        if (c < 0 || int_list(b, n, 2, NULL, en, KS_MAX_DIMS) != c)
            return refuse(b, n, "%s: starts/ends not constant", op);
        int64_t ca = int_list(b, n, 3, NULL, axs, KS_MAX_DIMS);
        if (ca == -2)
            return refuse(b, n, "%s: axes not constant", op);
        int64_t cs = int_list(b, n, 4, NULL, sp, KS_MAX_DIMS);
        if (cs == -2)
            return refuse(b, n, "%s: steps not constant", op);
        for (int64_t j = 0; j < c && j < KS_MAX_DIMS; j++) {
            int64_t axj = ca > 0 ? axs[j] : j;
            if (axj < 0)
                axj += r;
            if (axj != a)
                continue;
            int64_t step = cs > 0 ? sp[j] : 1;
            int64_t s0 = st[j] < 0 ? st[j] + 1 : st[j];
            if (step != 1 || s0 > 0 || en[j] < 1)
                return refuse(b, n, "%s: selects part of the batch axis", op);
            if (en[j] < ((int64_t)1 << 62))
                KS_CHECK(rewrite_const(b, ni, 2, j, INT64_MAX));
        }
        set_out(b, n, a);
        return KS_OK;
    }
    case KS_OP_SPLIT: {
        int ax;
        if (!ks__norm_axis(ks__attr_i(n, "axis", 0), r, &ax) || ax == a)
            return refuse(b, n, "%s: splits the batch axis", op);
        set_out(b, n, a);
        return KS_OK;
    }
    case KS_OP_GATHER: {
        int ax;
        const ks_tensor *ind = in_t(b, n, 1);
        if (!ks__norm_axis(ks__attr_i(n, "axis", 0), r, &ax) || ax == a || in_ax(b, n, 1) >= 0 || !ind)
            return refuse(b, n, "%s: gathers along the batch axis", op);
        set_out(b, n, ax > a ? a : a + ind->ndim - 1);
        return KS_OK;
    }
    case KS_OP_UNSQUEEZE: {
        int64_t c = int_list(b, n, 1, "axes", v, KS_MAX_DIMS);
        if (c < 0)
            return refuse(b, n, "%s: axes not constant", op);
        int R = r + (int)c, src = 0;
        for (int j = 0; j < R; j++) {
            if (contains(v, c, j, R))
                continue;
            if (src++ == a) {
                set_out(b, n, j);
                return KS_OK;
            }
        }
        return refuse(b, n, "%s: bad axes", op);
    }
    case KS_OP_SQUEEZE: {
        int64_t c = int_list(b, n, 1, "axes", v, KS_MAX_DIMS);
        if (c <= 0)
            return refuse(b, n, "%s: squeezes every 1-dim, the batch included", op);
        if (contains(v, c, a, r))
            return refuse(b, n, "%s: squeezes the batch axis", op);
        set_out(b, n, a - count_below(v, c, a, r));
        return KS_OK;
    }
    case KS_OP_EXPAND: {
        if (in_ax(b, n, 1) >= 0)
            return refuse(b, n, "%s: the shape depends on the batch", op);
        int64_t c = int_list(b, n, 1, NULL, v, KS_MAX_DIMS);
        if (c < 0)
            return refuse(b, n, "%s: the shape is not constant", op);
        int R = (int)(c > r ? c : r);
        int p = R - r + a, q = p - (R - (int)c);
        if (q >= 0 && v[q] != 1)
            return refuse(b, n, "%s: expands the batch axis", op);
        set_out(b, n, p);
        return KS_OK;
    }
    case KS_OP_TILE: {
        int64_t c = int_list(b, n, 1, NULL, v, KS_MAX_DIMS);
        if (c != r || v[a] != 1)
            return refuse(b, n, "%s: repeats the batch axis", op);
        set_out(b, n, a);
        return KS_OK;
    }
    case KS_OP_PAD: {
        int64_t c = int_list(b, n, 1, "pads", v, 2 * KS_MAX_DIMS);
        if (c == -2 || n->n_inputs > 3)
            return refuse(b, n, "%s: pads not constant (or per-axis pads)", op);
        if (c > 0 && (c != 2 * r || v[a] || v[a + r]))
            return refuse(b, n, "%s: pads the batch axis", op);
        set_out(b, n, a);
        return KS_OK;
    }
    case KS_OP_MATMUL: {
        if (in_ax(b, n, 1) >= 0)
            return refuse(b, n, "%s: both operands depend on the batch", op);
        const ks_tensor *w = in_t(b, n, 1);
        int rank = n->outputs[0] >= 0 ? g->values[n->outputs[0]].t.ndim : -1;
        if (r < 2 || !w || a == r - 1)
            return refuse(b, n, "%s: the batch is the contracted axis", op);
        int p = a == r - 2 ? rank - 2 : rank - r + a;
        if (a < r - 2) {
            int q = p - (rank - w->ndim);
            if (q >= 0 && q < w->ndim - 2 && w->dims[q] != 1)
                return refuse(b, n, "%s: the other operand spans the batch axis", op);
        }
        set_out(b, n, p);
        return KS_OK;
    }
    case KS_OP_GEMM: {
        int ta = (int)ks__attr_i(n, "transA", 0);
        if (in_ax(b, n, 1) >= 0 || in_ax(b, n, 2) >= 0 || a != (ta ? 1 : 0))
            return refuse(b, n, "%s: the batch is not the rows of A", op);
        const ks_tensor *c = in_t(b, n, 2);
        if (c && c->ndim == 2 && c->dims[0] != 1)
            return refuse(b, n, "%s: the bias spans the batch axis", op);
        set_out(b, n, 0);
        return KS_OK;
    }
    default:
        return refuse(b, n, "%s: op not handled with a batched input", op);
    }
}

ks_status ks__graph_set_batch(ks_graph *g, int64_t batch) {
    ks_context *ctx = g->ctx;
    if (batch < 1)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "%s: batch %lld", g->source, (long long)batch);
    KS_CHECK(ks__graph_infer_and_fold(g, 1));
    KS_CHECK(ks__graph_remove_dead(g));
    bctx b = {g, batch, NULL};
    int nv0 = g->n_values;
    b.ax = ks__alloc_array(ctx, (size_t)nv0 + 1, sizeof(int));
    int64_t(*before)[KS_MAX_DIMS] = ks__alloc_array(ctx, (size_t)nv0 + 1, sizeof(*before));
    int *rank0 = ks__alloc_array(ctx, (size_t)nv0 + 1, sizeof(int));
    ks_status st = KS_OK;
    if (!b.ax || !before || !rank0) {
        st = ks__oom(ctx, (size_t)nv0 * 80, "batch pass");
        goto done;
    }
    for (int i = 0; i < nv0; i++) {
        b.ax[i] = BFREE;
        rank0[i] = g->values[i].t.ndim;
        memcpy(before[i], g->values[i].t.dims, sizeof(before[i]));
    }
    for (int i = 0; i < g->n_inputs; i++) {
        ks_value *v = &g->values[g->inputs[i]];
        if (v->t.ndim < 1 || v->t.dims[0] != 1) {
            char sh[96];
            ks_shape_str(v->t.dims, v->t.ndim, sh, sizeof sh);
            st = ks__error(ctx, KS_UNSUPPORTED_SHAPE,
                           "%s: cannot generalise the batch: input '%s' has shape %s (needs a static leading 1)",
                           g->source, v->name, sh);
            goto done;
        }
        b.ax[g->inputs[i]] = 0;
    }
    for (int i = 0; i < g->n_nodes && st == KS_OK; i++) {
        const ks_node *n = &g->nodes[i];
        for (int o = 0; o < n->n_outputs; o++) /* every batched value has a 1 at its axis */
            if (n->outputs[o] >= 0 && g->values[n->outputs[o]].t.ndim < 0) {
                st = refuse(&b, n, "%s: output rank unknown", n->op_type);
                break;
            }
        if (st == KS_OK)
            st = visit(&b, i);
        for (int o = 0; st == KS_OK && o < n->n_outputs; o++) {
            int vo = g->nodes[i].outputs[o];
            if (vo >= 0 && b.ax[vo] >= 0) {
                const ks_tensor *t = &g->values[vo].t;
                if (b.ax[vo] >= t->ndim || t->dims[b.ax[vo]] != 1)
                    st = refuse(&b, &g->nodes[i], "%s: lost track of the batch axis", g->nodes[i].op_type);
            }
        }
    }
    if (st != KS_OK)
        goto done;
    for (int i = 0; i < g->n_inputs; i++)
        g->values[g->inputs[i]].t.dims[0] = batch;
    st = ks__graph_infer_and_fold(g, 1);
    if (st != KS_OK) {
        ks__error_prefix(ctx, "%s: batch %lld after rewriting", g->source, (long long)batch);
        goto done;
    }
    /* Check: batch axis = batch, every other dim unchanged. */
    for (int i = 0; i < nv0; i++) {
        const ks_value *v = &g->values[i];
        if (v->t.ndim != rank0[i]) {
            st = ks__error(ctx, KS_UNSUPPORTED_SHAPE, "%s: batch %lld: value '%s' changed rank", g->source,
                           (long long)batch, v->name);
            goto done;
        }
        for (int d = 0; d < v->t.ndim; d++) {
            int64_t want = d == b.ax[i] ? batch : before[i][d];
            if (v->t.dims[d] != want) {
                char s0[96], s1[96];
                ks_shape_str(before[i], rank0[i], s0, sizeof s0);
                ks_shape_str(v->t.dims, v->t.ndim, s1, sizeof s1);
                st = ks__error(ctx, KS_UNSUPPORTED_SHAPE,
                               "%s: batch %lld: value '%s' went from %s to %s (batch axis %d)", g->source,
                               (long long)batch, v->name, s0, s1, b.ax[i]);
                goto done;
            }
        }
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (b.ax[g->outputs[i]] > 0) {
            st = ks__error(ctx, KS_UNSUPPORTED_SHAPE, "%s: output '%s' carries the batch on axis %d, not 0",
                           g->source, g->values[g->outputs[i]].name, b.ax[g->outputs[i]]);
            goto done;
        }
    st = ks__graph_remove_dead(g);
done:
    ks__free(ctx, b.ax);
    ks__free(ctx, before);
    ks__free(ctx, rank0);
    return st;
}
