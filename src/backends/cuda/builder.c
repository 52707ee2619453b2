/* Engine builder: lowers the optimized IR into GPU layers with vertical
 * fusions (BN folding, conv + bias + activation, residual add, SiLU,
 * elementwise chains), then runs the description passes (passes_plan.c:
 * view/concat elimination, dead layers, memory plan) and tactic timing
 * (tactics.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backends/cuda/builder.h"
#include "core/model_internal.h"
#include "graph/params_nn.h"
#include "plugins/registry.h"

#define ON(b, p) (!((b)->cfg->disable_passes & (1u << KS_PASS_##p)))

static ks_status node_err(kb *b, const ks_node *n, ks_status st, const char *fmt, const char *what) {
    return ks__node_error(b->g, n, st, fmt, what);
}

/* ------------------------------------------------------------ helpers */
static ks_value *V(kb *b, int v) { return &b->g->values[v]; }
static int is_float(int dt) { return dt == KS_DTYPE_FLOAT32 || dt == KS_DTYPE_FLOAT16; }
static int is_const(kb *b, int v) { return v >= 0 && V(b, v)->is_const; }

static int node_dtype(kb *b, const ks_node *n) {
    ks_precision p = b->cfg->precision;
    if (p == KS_PRECISION_FP16 && b->score32 && b->score32[n - b->g->nodes])
        p = KS_PRECISION_FP32;
    for (int i = 0; i < b->cfg->n_layer_precisions; i++)
        if (b->cfg->layer_precisions[i].node_name && !strcmp(b->cfg->layer_precisions[i].node_name, n->name))
            p = b->cfg->layer_precisions[i].precision;
    return p == KS_PRECISION_FP16 ? KS_DTYPE_FLOAT16 : KS_DTYPE_FLOAT32;
}

/* Score heads stay FP32 in an FP16 build: a Softmax whose result only leaves
 * the network (an FP32 graph output) or feeds plugin layers (the appended
 * decode + NMS). Stored in FP16, scores near 1 round to exactly 1.0 (the
 * spacing there is 4.9e-4), so neighbouring anchors of one face tie and NMS
 * keeps an arbitrary one: on images/mtcnn/pkuzhou_2.png UltraFace RFB-320
 * FP16 kept a box at IoU 0.84 to onnxruntime's (test_detect_reference
 * --gpu-fp16). The Softmax reads the FP16 logits through one cast. */
static void mark_score_heads(kb *b) {
    const ks_graph *g = b->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const ks_node *n = &g->nodes[i];
        if (n->op != KS_OP_SOFTMAX || n->n_outputs < 1 || n->outputs[0] < 0)
            continue;
        int v = n->outputs[0], ok = b->n_uses[v] > 0 || b->is_output[v];
        if (b->is_output[v] && V(b, v)->t.dtype != KS_DTYPE_FLOAT32)
            ok = 0;
        for (int j = 0; j < g->n_nodes && ok; j++)
            for (int k = 0; k < g->nodes[j].n_inputs; k++)
                if (g->nodes[j].inputs[k] == v && g->nodes[j].op != KS_OP_PLUGIN)
                    ok = 0;
        if (ok) {
            b->score32[i] = 1;
            b->n_score32++;
        }
    }
}

/* A plugin layer takes FP32 when one of its float inputs is a score head. */
static int reads_score_head(kb *b, const ks_node *n) {
    for (int k = 0; k < n->n_inputs; k++) {
        int v = n->inputs[k];
        if (v >= 0 && V(b, v)->producer >= 0 && b->score32[V(b, v)->producer])
            return 1;
    }
    return 0;
}
static int node_tf32(kb *b, const ks_node *n) {
    ks_precision p = b->cfg->precision;
    for (int i = 0; i < b->cfg->n_layer_precisions; i++)
        if (b->cfg->layer_precisions[i].node_name && !strcmp(b->cfg->layer_precisions[i].node_name, n->name))
            p = b->cfg->layer_precisions[i].precision;
    return p == KS_PRECISION_TF32;
}

/* Converts a constant tensor to float32 (caller frees). */
static float *const_f32(kb *b, int v, int64_t *n_out) {
    const ks_tensor *t = &V(b, v)->t;
    int64_t n = ks_tensor_numel(t);
    float *f = ks__alloc_array(b->ctx, (size_t)(n > 0 ? n : 1), sizeof(float));
    if (!f)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        f[i] = (float)ks__tensor_get_f64(t, i);
    if (n_out)
        *n_out = n;
    return f;
}

/* Adds a float weight in dtype dt from float32 data. */
static int add_weight_f(kb *b, const char *name, int dt, int ndim, const int64_t *dims, const float *f) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= dims[i];
    if (dt == KS_DTYPE_FLOAT32)
        return ks__eng_add_weight(b->d, name, KS_DTYPE_FLOAT32, ndim, dims, f);
    uint16_t *h = ks__alloc_array(b->ctx, (size_t)(n > 0 ? n : 1), 2);
    if (!h)
        return -1;
    for (int64_t i = 0; i < n; i++)
        h[i] = ks_float_to_half(f[i]);
    int id = ks__eng_add_weight(b->d, name, KS_DTYPE_FLOAT16, ndim, dims, h);
    ks__free(b->ctx, h);
    return id;
}

static ks_eng_layer *add_layer(kb *b, ks_layer_kind k, const char *name, int dt) {
    ks_eng_layer *l = ks__eng_add_layer(b->d, k, name);
    if (l)
        l->dtype = dt;
    return l;
}

/* A layer reading tensor x and writing tensor y; NULL when out of memory. */
static ks_eng_layer *add_layer_xy(kb *b, ks_layer_kind k, const char *name, int dt, int x, int y) {
    ks_eng_layer *l = add_layer(b, k, name, dt);
    if (l) {
        l->n_in = 1;
        l->in[0] = x;
        l->n_out = 1;
        l->out[0] = y;
    }
    return l;
}

/* Tensor y becomes a view of tensor root, offset bytes in (no layer). */
static void make_view(kb *b, int y, int root, int64_t offset) {
    b->d->tensors[y].storage = KS_STORE_VIEW;
    b->d->tensors[y].root = root;
    b->d->tensors[y].offset = offset;
}

static int new_tensor(kb *b, const char *name, int dt, int ndim, const int64_t *dims) {
    return ks__eng_add_tensor(b->d, name, (ks_dtype)dt, ndim, dims);
}

/* Engine tensor holding IR value v in dtype `want` (0 = as produced).
 * Constants become weights; float tensors of another float dtype get a
 * cast layer (cached). */
static ks_status tensor_for(kb *b, int v, int want, int *out) {
    ks_value *x = V(b, v);
    if (x->is_const) {
        int dt = x->t.dtype;
        if (want && is_float(dt) && is_float(want))
            dt = want;
        int slot = dt == KS_DTYPE_FLOAT16 ? 1 : 0;
        if (b->cvt[2 * v + slot] >= 0) {
            *out = b->cvt[2 * v + slot];
            return KS_OK;
        }
        int id;
        if (is_float(dt) && (int)x->t.dtype != dt) {
            int64_t n;
            float *f = const_f32(b, v, &n);
            if (!f)
                return ks__oom(b->ctx, 0, "constant");
            id = add_weight_f(b, x->name, dt, x->t.ndim, x->t.dims, f);
            ks__free(b->ctx, f);
        } else {
            id = ks__eng_add_weight(b->d, x->name, (ks_dtype)dt, x->t.ndim, x->t.dims, x->t.data);
        }
        if (id < 0)
            return ks__oom(b->ctx, 0, "weight");
        b->cvt[2 * v + slot] = id;
        *out = id;
        return KS_OK;
    }
    int t = b->vt[v];
    if (t < 0)
        return ks__error(b->ctx, KS_INTERNAL, "value '%s' used before it is produced", x->name);
    int have = b->d->tensors[t].dtype;
    if (!want || have == want) {
        *out = t;
        return KS_OK;
    }
    if (!is_float(have) || !is_float(want))
        return ks__error(b->ctx, KS_UNSUPPORTED_DTYPE, "value '%s' is %s where %s is needed", x->name,
                         ks_dtype_name((ks_dtype)have), ks_dtype_name((ks_dtype)want));
    int slot = want == KS_DTYPE_FLOAT16 ? 1 : 0;
    if (b->cvt[2 * v + slot] >= 0) {
        *out = b->cvt[2 * v + slot];
        return KS_OK;
    }
    char nm[256];
    snprintf(nm, sizeof nm, "%s:%s", x->name, want == KS_DTYPE_FLOAT16 ? "fp16" : "fp32");
    const ks_eng_tensor *src = &b->d->tensors[t];
    int64_t dims[KS_MAX_DIMS];
    memcpy(dims, src->dims, sizeof dims);
    int nd = src->ndim;
    int y = new_tensor(b, nm, want, nd, dims);
    ks_eng_layer *l = add_layer_xy(b, KS_LAYER_CAST, nm, want, t, y);
    if (y < 0 || !l)
        return ks__oom(b->ctx, 0, "cast");
    b->n_casts++;
    b->cvt[2 * v + slot] = y;
    *out = y;
    return KS_OK;
}

/* Output tensor for IR value v in dtype dt. */
static int out_tensor(kb *b, int v, int dt) {
    ks_value *x = V(b, v);
    int id = new_tensor(b, x->name, dt, x->t.ndim, x->t.dims);
    if (id >= 0)
        b->vt[v] = id;
    return id;
}

static int single_consumer(kb *b, int v) {
    if (v < 0 || b->n_uses[v] != 1 || b->is_output[v])
        return -1;
    return b->consumer[v];
}

static int same_shape(kb *b, int a, int c) {
    const ks_tensor *x = &V(b, a)->t, *y = &V(b, c)->t;
    if (x->ndim != y->ndim)
        return 0;
    for (int i = 0; i < x->ndim; i++)
        if (x->dims[i] != y->dims[i])
            return 0;
    return 1;
}

static int act_of(kb *b, const ks_node *n, int *act, float *a, float *c) {
    *a = 0.f;
    *c = 0.f;
    switch (n->op) {
    case KS_OP_RELU: *act = KS_ACT_RELU; return 1;
    case KS_OP_LEAKY_RELU: *act = KS_ACT_LEAKY; *a = ks__attr_f(n, "alpha", 0.01f); return 1;
    case KS_OP_SIGMOID: *act = KS_ACT_SIGMOID; return 1;
    case KS_OP_TANH: *act = KS_ACT_TANH; return 1;
    case KS_OP_HARD_SWISH: *act = KS_ACT_HSWISH; return 1;
    case KS_OP_HARD_SIGMOID:
        *act = KS_ACT_HSIGMOID;
        *a = ks__attr_f(n, "alpha", 0.2f);
        *c = ks__attr_f(n, "beta", 0.5f);
        return 1;
    case KS_OP_CLIP: {
        *act = KS_ACT_CLIP;
        *a = -INFINITY;
        *c = INFINITY;
        for (int k = 1; k < n->n_inputs && k < 3; k++) {
            int v = n->inputs[k];
            if (v < 0)
                continue;
            if (!is_const(b, v) || ks_tensor_numel(&V(b, v)->t) != 1)
                return 0;
            float f = (float)ks__tensor_get_f64(&V(b, v)->t, 0);
            if (k == 1) *a = f; else *c = f;
        }
        return 1;
    }
    case KS_OP_ELU: *act = KS_ACT_ELU; *a = ks__attr_f(n, "alpha", 1.f); return 1;
    case KS_OP_SELU:
        *act = KS_ACT_SELU;
        *a = ks__attr_f(n, "alpha", 1.67326319217681884765625f);
        *c = ks__attr_f(n, "gamma", 1.05070102214813232421875f);
        return 1;
    case KS_OP_SOFTPLUS: *act = KS_ACT_SOFTPLUS; return 1;
    case KS_OP_SOFTSIGN: *act = KS_ACT_SOFTSIGN; return 1;
    case KS_OP_MISH: *act = KS_ACT_MISH; return 1;
    case KS_OP_GELU:
        if (strcmp(ks__attr_s(n, "approximate", "none"), "none"))
            return 0;
        *act = KS_ACT_GELU;
        return 1;
    case KS_OP_ERF: *act = KS_ACT_ERF; return 1;
    case KS_OP_EXP: *act = KS_ACT_EXP; return 1;
    case KS_OP_LOG: *act = KS_ACT_LOG; return 1;
    case KS_OP_SQRT: *act = KS_ACT_SQRT; return 1;
    case KS_OP_NEG: *act = KS_ACT_NEG; return 1;
    case KS_OP_ABS: *act = KS_ACT_ABS; return 1;
    case KS_OP_FLOOR: *act = KS_ACT_FLOOR; return 1;
    case KS_OP_CEIL: *act = KS_ACT_CEIL; return 1;
    case KS_OP_ROUND: *act = KS_ACT_ROUND; return 1;
    case KS_OP_RECIPROCAL: *act = KS_ACT_RECIP; return 1;
    case KS_OP_SIN: *act = KS_ACT_SIN; return 1;
    case KS_OP_COS: *act = KS_ACT_COS; return 1;
    case KS_OP_IDENTITY: *act = KS_ACT_NONE; return 1;
    default: return 0;
    }
}

/* Activations a conv epilogue takes (cheap ones). */
static int epilogue_act(int act) {
    return act == KS_ACT_RELU || act == KS_ACT_LEAKY || act == KS_ACT_CLIP || act == KS_ACT_SIGMOID ||
           act == KS_ACT_HSWISH || act == KS_ACT_HSIGMOID || act == KS_ACT_TANH || act == KS_ACT_ELU;
}

static int is_binary(ks_op op) {
    return op == KS_OP_ADD || op == KS_OP_SUB || op == KS_OP_MUL || op == KS_OP_DIV || op == KS_OP_POW ||
           op == KS_OP_MIN || op == KS_OP_MAX || op == KS_OP_PRELU ||
           op == KS_OP_SUM || op == KS_OP_MEAN;
}

/* Is n an elementwise op the eltwise program can express on float data? */
static int ew_capable(kb *b, const ks_node *n) {
    if (n->n_outputs < 1 || n->outputs[0] < 0 || !is_float(V(b, n->outputs[0])->t.dtype))
        return 0;
    if (V(b, n->outputs[0])->t.ndim > 6)
        return 0;
    int act;
    float a, c;
    if (n->op == KS_OP_IDENTITY || n->op == KS_OP_DROPOUT)
        return 0;
    if (act_of(b, n, &act, &a, &c))
        return 1;
    if ((n->op == KS_OP_SUM || n->op == KS_OP_MEAN || n->op == KS_OP_MIN || n->op == KS_OP_MAX) &&
        n->n_inputs != 2)
        return 0;
    if (n->op == KS_OP_MEAN)
        return 0;
    if (is_binary(n->op))
        return n->n_inputs == 2 && is_float(V(b, n->inputs[0])->t.dtype) &&
               is_float(V(b, n->inputs[1])->t.dtype);
    if (n->op == KS_OP_BATCH_NORM) {
        for (int k = 1; k < 5; k++)
            if (k >= n->n_inputs || !is_const(b, n->inputs[k]))
                return 0;
        return V(b, n->inputs[0])->t.ndim >= 2 && n->n_outputs == 1;
    }
    return 0;
}

/* ------------------------------------------------------------ eltwise programs */
typedef struct ewprog {
    int n_in;
    int in_v[4];     /* IR value per input register (or -1 for a prepared tensor) */
    int in_t[4];     /* prepared engine tensor, or -1 */
    int n;
    int op[12], dst[12], ra[12], rb[12], act[12];
    float imm[12], imm2[12];
    int cur;         /* register holding the chain value */
} ewprog;

static int ew_reg_for(ewprog *p, int v) {
    for (int i = 0; i < p->n_in; i++)
        if (p->in_v[i] == v)
            return i;
    if (p->n_in >= 4)
        return -1;
    p->in_v[p->n_in] = v;
    p->in_t[p->n_in] = -1;
    return p->n_in++;
}

static int ew_emit(ewprog *p, int op, int ra, int rb, int act, float imm, float imm2) {
    if (p->n >= 12)
        return -1;
    int k = p->n++;
    p->op[k] = op;
    p->dst[k] = 4;
    p->ra[k] = ra;
    p->rb[k] = rb;
    p->act[k] = act;
    p->imm[k] = imm;
    p->imm2[k] = imm2;
    p->cur = 4;
    return 0;
}

static float scalar_of(kb *b, int v, int *ok) {
    *ok = is_const(b, v) && ks_tensor_numel(&V(b, v)->t) == 1 && is_float(V(b, v)->t.dtype);
    return *ok ? (float)ks__tensor_get_f64(&V(b, v)->t, 0) : 0.f;
}

/* Appends node n to the program; chain_v is the value holding the chain
 * (or -1 for the first node). Returns 0 if it does not fit. */
static int ew_add_node(kb *b, ewprog *p, const ks_node *n, int chain_v) {
    ewprog save = *p;
    int act;
    float a, c;
    int creg = chain_v >= 0 ? p->cur : -1;
    if (act_of(b, n, &act, &a, &c)) {
        if (creg < 0 && (creg = ew_reg_for(p, n->inputs[0])) < 0)
            goto fail;
        if (ew_emit(p, KS_EW_UNARY, creg, creg, act, a, c) < 0)
            goto fail;
        return 1;
    }
    if (n->op == KS_OP_BATCH_NORM) {
        return 0; /* handled as a prepared scale/shift pair, see emit */
    }
    {
        int x0 = n->inputs[0], x1 = n->inputs[1];
        int chain_is_0 = chain_v >= 0 && x0 == chain_v;
        int chain_is_1 = chain_v >= 0 && x1 == chain_v && !chain_is_0;
        int ok0, ok1;
        float s0 = scalar_of(b, x0, &ok0), s1 = scalar_of(b, x1, &ok1);
        int ra = -1, rb = -1;
        if (chain_is_0) ra = creg;
        if (chain_is_1) rb = creg;
        if (chain_v >= 0 && x0 == x1) rb = creg;
        int op;
        switch (n->op) {
        case KS_OP_ADD: case KS_OP_SUM: op = KS_EW_ADD; break;
        case KS_OP_SUB: op = KS_EW_SUB; break;
        case KS_OP_MUL: op = KS_EW_MUL; break;
        case KS_OP_DIV: op = KS_EW_DIV; break;
        case KS_OP_POW: op = KS_EW_POW; break;
        case KS_OP_MIN: op = KS_EW_MIN; break;
        case KS_OP_MAX: op = KS_EW_MAX; break;
        case KS_OP_PRELU: op = KS_EW_PRELU; break;
        default: goto fail;
        }
        /* scalar constant on one side */
        if (ra >= 0 || (ra < 0 && !ok0)) {
            if (ra < 0 && (ra = ew_reg_for(p, x0)) < 0)
                goto fail;
            if (rb < 0 && ok1) {
                int cop = -1;
                float imm = s1;
                if (op == KS_EW_ADD) cop = KS_EW_ADDC;
                else if (op == KS_EW_SUB) { cop = KS_EW_ADDC; imm = -s1; }
                else if (op == KS_EW_MUL) cop = KS_EW_MULC;
                else if (op == KS_EW_DIV) { cop = KS_EW_MULC; imm = 1.f / s1; if (!isfinite(imm) || s1 != s1) cop = -1; }
                else if (op == KS_EW_POW) cop = KS_EW_POWC;
                if (cop >= 0) {
                    if (ew_emit(p, cop, ra, ra, 0, imm, 0.f) < 0)
                        goto fail;
                    return 1;
                }
            }
            if (rb < 0 && (rb = ew_reg_for(p, x1)) < 0)
                goto fail;
            if (ew_emit(p, op, ra, rb, 0, 0.f, 0.f) < 0)
                goto fail;
            return 1;
        }
        /* x0 is a scalar constant, x1 is a tensor (maybe the chain) */
        if (rb < 0 && (rb = ew_reg_for(p, x1)) < 0)
            goto fail;
        if (op == KS_EW_ADD) { if (ew_emit(p, KS_EW_ADDC, rb, rb, 0, s0, 0.f) < 0) goto fail; return 1; }
        if (op == KS_EW_MUL) { if (ew_emit(p, KS_EW_MULC, rb, rb, 0, s0, 0.f) < 0) goto fail; return 1; }
        if (op == KS_EW_SUB) { if (ew_emit(p, KS_EW_RSUBC, rb, rb, 0, s0, 0.f) < 0) goto fail; return 1; }
        if (op == KS_EW_DIV) { if (ew_emit(p, KS_EW_RDIVC, rb, rb, 0, s0, 0.f) < 0) goto fail; return 1; }
        if ((ra = ew_reg_for(p, x0)) < 0)
            goto fail;
        if (ew_emit(p, op, ra, rb, 0, 0.f, 0.f) < 0)
            goto fail;
        return 1;
    }
fail:
    *p = save;
    return 0;
}

/* Instruction k of p as the engine's word pair (docs/format.md: op | a << 16 | b << 24, then
 * activation | second parameter bits << 32) and its immediate; eltwise layers add dst << 8. */
static void ew_encode(const ewprog *p, int k, int64_t *w, float *imm) {
    w[0] = (int64_t)p->op[k] | ((int64_t)p->ra[k] << 16) | ((int64_t)p->rb[k] << 24);
    uint32_t bits;
    memcpy(&bits, &p->imm2[k], 4);
    w[1] = (int64_t)(uint32_t)p->act[k] | ((int64_t)bits << 32);
    *imm = p->imm[k];
}

static ks_status emit_eltwise(kb *b, ewprog *p, int out_v, int dt, const char *name) {
    ks_eng_layer tmp;
    int tin[4];
    for (int i = 0; i < p->n_in; i++) {
        if (p->in_t[i] >= 0)
            tin[i] = p->in_t[i];
        else
            KS_CHECK(tensor_for(b, p->in_v[i], dt, &tin[i]));
    }
    int y = out_tensor(b, out_v, dt);
    ks_eng_layer *l = add_layer(b, KS_LAYER_ELTWISE, name, dt);
    if (y < 0 || !l)
        return ks__oom(b->ctx, 0, "eltwise layer");
    (void)tmp;
    l->n_in = p->n_in;
    for (int i = 0; i < p->n_in; i++)
        l->in[i] = tin[i];
    l->n_out = 1;
    l->out[0] = y;
    l->ip[0] = p->n;
    for (int k = 0; k < p->n; k++) {
        ew_encode(p, k, &l->ip[1 + 2 * k], &l->fp[k]);
        l->ip[1 + 2 * k] |= (int64_t)p->dst[k] << 8;
    }
    l->ip[31] = p->n ? p->cur : 0;
    return KS_OK;
}

/* ------------------------------------------------------------ conv */
static ks_status emit_conv(kb *b, int ci, int bn_i, int act_node, int act, float aa, float ab,
                           int res_v, int res_after, int silu_mul, int out_v) {
    const ks_node *n = &b->g->nodes[ci];
    int x_v = n->inputs[0], w_v = n->inputs[1], b_v = n->n_inputs > 2 ? n->inputs[2] : -1;
    if (!is_const(b, w_v) || (b_v >= 0 && !is_const(b, b_v)))
        return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "Conv with non-constant weights is not supported on the GPU");
    const ks_tensor *xt = &V(b, x_v)->t, *wt = &V(b, w_v)->t;
    if (xt->ndim != 4 || wt->ndim != 4)
        return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "only 2-D convolutions are supported on the GPU");
    ks_window_params wp;
    {
        const ks_tensor *ins[3] = {xt, wt, b_v >= 0 ? &V(b, b_v)->t : NULL};
        ks_op_ctx oc = {b->ctx, b->g, n, n->n_inputs, ins, 0, NULL};
        KS_CHECK(ks__conv_params(&oc, xt, wt, &wp));
    }
    int dt = node_dtype(b, n);
    int64_t M = wt->dims[0], per = ks_tensor_numel(wt) / M;
    int64_t nw;
    float *w = const_f32(b, w_v, &nw);
    float *bias = ks__alloc_array(b->ctx, (size_t)M, sizeof(float));
    if (!w || !bias) {
        ks__free(b->ctx, w);
        ks__free(b->ctx, bias);
        return ks__oom(b->ctx, 0, "conv weights");
    }
    if (b_v >= 0)
        for (int64_t m = 0; m < M; m++)
            bias[m] = (float)ks__tensor_get_f64(&V(b, b_v)->t, m);
    char name[512];
    snprintf(name, sizeof name, "%s", n->name);
    if (bn_i >= 0) {
        const ks_node *bn = &b->g->nodes[bn_i];
        float eps = ks__attr_f(bn, "epsilon", 1e-5f);
        const ks_tensor *sc = &V(b, bn->inputs[1])->t, *sh = &V(b, bn->inputs[2])->t,
                        *mu = &V(b, bn->inputs[3])->t, *var = &V(b, bn->inputs[4])->t;
        for (int64_t m = 0; m < M; m++) {
            double s = ks__tensor_get_f64(sc, m) / sqrt(ks__tensor_get_f64(var, m) + eps);
            for (int64_t k = 0; k < per; k++)
                w[m * per + k] = (float)(w[m * per + k] * s);
            bias[m] = (float)((bias[m] - ks__tensor_get_f64(mu, m)) * s + ks__tensor_get_f64(sh, m));
        }
        size_t L = strlen(name);
        snprintf(name + L, sizeof name - L, "+%s", bn->name);
        b->n_bn_folded++;
    }
    if (act_node >= 0) {
        size_t L = strlen(name);
        snprintf(name + L, sizeof name - L, "+%s", b->g->nodes[act_node].name);
        b->n_act_fused++;
    }
    if (silu_mul >= 0) {
        size_t L = strlen(name);
        snprintf(name + L, sizeof name - L, "+%s", b->g->nodes[silu_mul].name);
    }
    char wn[600];
    snprintf(wn, sizeof wn, "%s.w", n->name);
    int wid = add_weight_f(b, wn, dt, 4, wt->dims, w);
    snprintf(wn, sizeof wn, "%s.b", n->name);
    int bid = add_weight_f(b, wn, dt, 1, &M, bias);
    ks__free(b->ctx, w);
    ks__free(b->ctx, bias);
    if (wid < 0 || bid < 0)
        return ks__oom(b->ctx, 0, "conv weights");
    int xid, rid = -1, pid = -1;
    KS_CHECK(tensor_for(b, x_v, dt, &xid));
    if (res_v >= 0) {
        KS_CHECK(tensor_for(b, res_v, dt, &rid));
        b->n_res_fused++;
    }
    if (act == KS_ACT_PRELU) {
        const ks_node *pn = &b->g->nodes[act_node];
        int64_t ns;
        float *sl = const_f32(b, pn->inputs[1], &ns);
        if (!sl)
            return ks__oom(b->ctx, 0, "prelu");
        float *full = ks__alloc_array(b->ctx, (size_t)M, sizeof(float));
        if (!full) {
            ks__free(b->ctx, sl);
            return ks__oom(b->ctx, 0, "prelu");
        }
        for (int64_t m = 0; m < M; m++)
            full[m] = sl[ns == 1 ? 0 : m];
        snprintf(wn, sizeof wn, "%s.slope", n->name);
        pid = ks__eng_add_weight(b->d, wn, KS_DTYPE_FLOAT32, 1, &M, full);
        ks__free(b->ctx, sl);
        ks__free(b->ctx, full);
    }
    int y = out_tensor(b, out_v, dt);
    ks_eng_layer *l = add_layer(b, KS_LAYER_CONV, name, dt);
    if (y < 0 || !l)
        return ks__oom(b->ctx, 0, "conv layer");
    l->n_in = pid >= 0 ? 5 : rid >= 0 ? 4 : 3;
    l->in[0] = xid;
    l->in[1] = wid;
    l->in[2] = bid;
    l->in[3] = rid;
    l->in[4] = pid;
    l->n_out = 1;
    l->out[0] = y;
    l->act = act;
    l->act_a = aa;
    l->act_b = ab;
    l->ip[0] = wp.group;
    l->ip[1] = wt->dims[2];
    l->ip[2] = wt->dims[3];
    l->ip[3] = wp.stride[0];
    l->ip[4] = wp.stride[1];
    l->ip[5] = wp.pad_begin[0];
    l->ip[6] = wp.pad_begin[1];
    l->ip[7] = wp.pad_end[0];
    l->ip[8] = wp.pad_end[1];
    l->ip[9] = wp.dilation[0];
    l->ip[10] = wp.dilation[1];
    l->ip[11] = res_after;
    l->ip[12] = node_tf32(b, n);
    int64_t C = xt->dims[1];
    l->tactic = KS_TACTIC_OWN_GEMM;
    l->algo = dt == KS_DTYPE_FLOAT16 ? 3 : 0;
    if (wp.group == C && wp.group == M && wp.group > 1) {
        l->tactic = KS_TACTIC_OWN_DW;
        l->algo = 1;
    }
    return KS_OK;
}

/* ------------------------------------------------------------ other ops */
static int64_t prod(const int64_t *d, int a, int b2) {
    int64_t p = 1;
    for (int i = a; i < b2; i++)
        p *= d[i];
    return p;
}

static ks_status simple_layer(kb *b, const ks_node *n, ks_layer_kind k, int dt_in, int *l_out_idx,
                              int *y_out) {
    int xid;
    KS_CHECK(tensor_for(b, n->inputs[0], dt_in, &xid));
    int dt = b->d->tensors[xid].dtype;
    int y = out_tensor(b, n->outputs[0], dt);
    ks_eng_layer *l = add_layer_xy(b, k, n->name, is_float(dt) ? dt : KS_DTYPE_FLOAT32, xid, y);
    if (y < 0 || !l)
        return ks__oom(b->ctx, 0, "layer");
    *l_out_idx = b->d->n_layers - 1;
    *y_out = y;
    return KS_OK;
}

/* View: y is x reinterpreted (same bytes). */
static ks_status emit_view(kb *b, const ks_node *n) {
    int xid;
    KS_CHECK(tensor_for(b, n->inputs[0], 0, &xid));
    int dt = b->d->tensors[xid].dtype;
    int y = out_tensor(b, n->outputs[0], dt);
    if (y < 0)
        return ks__oom(b->ctx, 0, "view");
    if (ON(b, RESHAPE_ELIM)) {
        make_view(b, y, xid, 0);
        b->n_views++;
        return KS_OK;
    }
    ks_eng_layer *l = add_layer_xy(b, KS_LAYER_COPY, n->name, is_float(dt) ? dt : KS_DTYPE_FLOAT32, xid, y);
    if (!l)
        return ks__oom(b->ctx, 0, "copy");
    return KS_OK;
}

static ks_status emit_slice_dims(kb *b, const ks_node *n, int x_v, int out_v, const int64_t *start,
                                 const int64_t *step) {
    int xid;
    KS_CHECK(tensor_for(b, x_v, 0, &xid));
    const ks_eng_tensor *xt = &b->d->tensors[xid];
    int dt = xt->dtype, r = xt->ndim;
    int64_t xdims[KS_MAX_DIMS];
    memcpy(xdims, xt->dims, sizeof xdims);
    const ks_tensor *yt = &V(b, out_v)->t;
    /* contiguous block? all axes before the first sliced one have extent 1
     * in the output, later axes are whole, step 1 on the sliced axis */
    int first = -1, contiguous = 1;
    for (int k = 0; k < r; k++) {
        int whole = start[k] == 0 && step[k] == 1 && yt->dims[k] == xdims[k];
        if (!whole && first < 0)
            first = k;
        else if (!whole && first >= 0)
            contiguous = 0;
    }
    if (first >= 0) {
        if (step[first] != 1)
            contiguous = 0;
        for (int k = 0; k < first; k++)
            if (yt->dims[k] != 1)
                contiguous = 0;
    }
    int y = out_tensor(b, out_v, dt);
    if (y < 0)
        return ks__oom(b->ctx, 0, "slice");
    if (r > 6 || r < 1)
        return node_err(b, n, KS_UNSUPPORTED_SHAPE, "%s", "slice rank must be 1..6 on the GPU");
    if (ON(b, RESHAPE_ELIM) && contiguous) {
        int64_t st[KS_MAX_DIMS], off = 0;
        ks__strides(xdims, r, st);
        for (int k = 0; k < r; k++)
            off += start[k] * st[k];
        make_view(b, y, xid, off * (int64_t)ks_dtype_size((ks_dtype)dt));
        b->n_views++;
        return KS_OK;
    }
    ks_eng_layer *l = add_layer_xy(b, KS_LAYER_SLICE, n->name, is_float(dt) ? dt : KS_DTYPE_FLOAT32, xid, y);
    if (!l)
        return ks__oom(b->ctx, 0, "slice");
    l->ip[0] = r;
    for (int k = 0; k < r; k++) {
        l->ip[1 + k] = start[k];
        l->ip[9 + k] = step[k];
    }
    return KS_OK;
}

static ks_status emit_slice(kb *b, const ks_node *n) {
    const ks_tensor *xt = &V(b, n->inputs[0])->t;
    int r = xt->ndim;
    int64_t start[KS_MAX_DIMS], step[KS_MAX_DIMS];
    for (int k = 0; k < r; k++) {
        start[k] = 0;
        step[k] = 1;
    }
    for (int k = 1; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0 && !is_const(b, n->inputs[k]))
            return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "Slice with non-constant starts/ends is not supported on the GPU");
    const ks_tensor *st = &V(b, n->inputs[1])->t, *en = &V(b, n->inputs[2])->t;
    const ks_tensor *ax = n->n_inputs > 3 && n->inputs[3] >= 0 ? &V(b, n->inputs[3])->t : NULL;
    const ks_tensor *sp = n->n_inputs > 4 && n->inputs[4] >= 0 ? &V(b, n->inputs[4])->t : NULL;
    int64_t cnt = ks_tensor_numel(st);
    for (int64_t i = 0; i < cnt; i++) {
        int a;
        if (!ks__norm_axis(ax ? ks__tensor_get_i64(ax, i) : i, r, &a))
            return node_err(b, n, KS_INVALID_MODEL, "%s", "bad slice axis");
        int64_t dim = xt->dims[a], s = ks__tensor_get_i64(st, i), e = ks__tensor_get_i64(en, i);
        int64_t p = sp ? ks__tensor_get_i64(sp, i) : 1;
        if (p == 0)
            return node_err(b, n, KS_INVALID_MODEL, "%s", "slice step 0");
        (void)e;
        if (s < 0)
            s += dim;
        if (p > 0)
            s = s < 0 ? 0 : s > dim ? dim : s;
        else
            s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
        start[a] = s;
        step[a] = p;
    }
    /* for empty outputs on an axis the start is irrelevant */
    const ks_tensor *yt = &V(b, n->outputs[0])->t;
    for (int k = 0; k < r; k++)
        if (yt->dims[k] == 0)
            start[k] = 0;
    return emit_slice_dims(b, n, n->inputs[0], n->outputs[0], start, step);
}

static ks_status emit_split(kb *b, const ks_node *n) {
    const ks_tensor *xt = &V(b, n->inputs[0])->t;
    int r = xt->ndim, a;
    if (!ks__norm_axis(ks__attr_i(n, "axis", 0), r, &a))
        return node_err(b, n, KS_INVALID_MODEL, "%s", "bad split axis");
    int64_t off = 0;
    for (int o = 0; o < n->n_outputs; o++) {
        int v = n->outputs[o];
        if (v < 0)
            continue;
        int64_t start[KS_MAX_DIMS], step[KS_MAX_DIMS];
        for (int k = 0; k < r; k++) {
            start[k] = 0;
            step[k] = 1;
        }
        start[a] = off;
        off += V(b, v)->t.dims[a];
        if (V(b, v)->t.dims[a] == 0)
            start[a] = 0;
        KS_CHECK(emit_slice_dims(b, n, n->inputs[0], v, start, step));
    }
    return KS_OK;
}

static ks_status emit_transpose(kb *b, const ks_node *n) {
    const ks_tensor *xt = &V(b, n->inputs[0])->t;
    int r = xt->ndim;
    int64_t perm[KS_MAX_DIMS];
    const int64_t *pv;
    int64_t np = ks__attr_ints(n, "perm", &pv);
    for (int k = 0; k < r; k++)
        perm[k] = np == r ? pv[k] : r - 1 - k;
    /* only size-1 axes move? then it is a view */
    int64_t last = -1;
    int order_kept = 1;
    for (int k = 0; k < r; k++) {
        if (xt->dims[perm[k]] == 1)
            continue;
        if (perm[k] < last)
            order_kept = 0;
        last = perm[k];
    }
    if (order_kept)
        return emit_view(b, n);
    if (r > 6)
        return node_err(b, n, KS_UNSUPPORTED_SHAPE, "%s", "transpose rank > 6");
    int l_i, y;
    KS_CHECK(simple_layer(b, n, KS_LAYER_TRANSPOSE, 0, &l_i, &y));
    ks_eng_layer *l = &b->d->layers[l_i];
    l->ip[0] = r;
    for (int k = 0; k < r; k++)
        l->ip[1 + k] = perm[k];
    return KS_OK;
}

static ks_status emit_concat(kb *b, const ks_node *n) {
    const ks_tensor *yt = &V(b, n->outputs[0])->t;
    int r = yt->ndim, a;
    if (!ks__norm_axis(ks__attr_i(n, "axis", 0), r, &a))
        return node_err(b, n, KS_INVALID_MODEL, "%s", "bad concat axis");
    /* dtype: float inputs go to the node precision if any input is float */
    int dt = 0;
    if (is_float(yt->dtype))
        dt = node_dtype(b, n);
    int ins[64], n_in = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        int v = n->inputs[k];
        if (v < 0 || ks_tensor_numel(&V(b, v)->t) == 0)
            continue;
        if (n_in >= 64)
            return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "concat of more than 64 inputs");
        KS_CHECK(tensor_for(b, v, dt, &ins[n_in]));
        n_in++;
    }
    if (!dt)
        dt = yt->dtype;
    int y = out_tensor(b, n->outputs[0], dt);
    if (y < 0)
        return ks__oom(b->ctx, 0, "concat");
    int64_t inner = prod(yt->dims, a + 1, r) * (int64_t)ks_dtype_size((ks_dtype)dt);
    int64_t outer = prod(yt->dims, 0, a);
    /* chunks of at most 8 inputs: later chunks concat into views */
    int64_t done = 0;
    for (int c0 = 0; c0 < n_in; c0 += 8) {
        int cn = n_in - c0 < 8 ? n_in - c0 : 8;
        int dst = y;
        if (n_in > 8) {
            /* write chunk c0 into a view region? only contiguous when outer == 1 */
            if (outer != 1)
                return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "concat of more than 8 inputs with outer > 1");
            int64_t ext = 0;
            for (int k = 0; k < cn; k++)
                ext += b->d->tensors[ins[c0 + k]].bytes;
            int64_t dims1 = ext / (int64_t)ks_dtype_size((ks_dtype)dt);
            dst = new_tensor(b, n->name, dt, 1, &dims1);
            if (dst < 0)
                return ks__oom(b->ctx, 0, "concat");
            make_view(b, dst, y, done);
            done += ext;
        }
        ks_eng_layer *l = add_layer(b, KS_LAYER_CONCAT, n->name, is_float(dt) ? dt : KS_DTYPE_FLOAT32);
        if (!l)
            return ks__oom(b->ctx, 0, "concat");
        l->n_in = cn;
        l->n_out = 1;
        l->out[0] = dst;
        l->ip[0] = n_in > 8 ? 1 : outer;
        l->ip[1] = n_in > 8 ? (int64_t)ks_dtype_size((ks_dtype)dt) : inner;
        for (int k = 0; k < cn; k++) {
            l->in[k] = ins[c0 + k];
            int64_t eb = b->d->tensors[ins[c0 + k]].bytes;
            l->ip[2 + k] = n_in > 8 ? eb / (int64_t)ks_dtype_size((ks_dtype)dt) : eb / (outer * inner);
        }
    }
    return KS_OK;
}

static ks_status emit_pool(kb *b, const ks_node *n) {
    const ks_tensor *xt = &V(b, n->inputs[0])->t, *yt = &V(b, n->outputs[0])->t;
    if (xt->ndim != 4)
        return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "only 2-D pooling on the GPU");
    if (n->n_outputs > 1 && n->outputs[1] >= 0)
        return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "MaxPool Indices output is not supported on the GPU");
    int dt = node_dtype(b, n), l_i, y;
    KS_CHECK(simple_layer(b, n, KS_LAYER_POOL, dt, &l_i, &y));
    ks_eng_layer *l = &b->d->layers[l_i];
    if (n->op == KS_OP_GLOBAL_AVERAGE_POOL || n->op == KS_OP_GLOBAL_MAX_POOL) {
        l->ip[0] = n->op == KS_OP_GLOBAL_MAX_POOL ? KS_POOL_MAX : KS_POOL_AVG;
        l->ip[1] = xt->dims[2];
        l->ip[2] = xt->dims[3];
        l->ip[3] = l->ip[4] = 1;
        return KS_OK;
    }
    ks_window_params wp;
    const ks_tensor *ins[1] = {xt};
    ks_op_ctx oc = {b->ctx, b->g, n, 1, ins, 0, NULL};
    KS_CHECK(ks__pool_params(&oc, xt, &wp));
    if (wp.dilation[0] != 1 || wp.dilation[1] != 1)
        return node_err(b, n, KS_UNSUPPORTED_ATTR, "%s", "pool dilations are not supported on the GPU");
    l = &b->d->layers[l_i];
    l->ip[0] = n->op == KS_OP_MAX_POOL ? KS_POOL_MAX : wp.count_include_pad ? KS_POOL_AVG : KS_POOL_AVG_EXCL_PAD;
    l->ip[1] = wp.kernel[0];
    l->ip[2] = wp.kernel[1];
    l->ip[3] = wp.stride[0];
    l->ip[4] = wp.stride[1];
    l->ip[5] = wp.pad_begin[0];
    l->ip[6] = wp.pad_begin[1];
    /* the effective end extent covers ceil_mode windows: pads computed so that
     * the last window fits (divisor as onnxruntime: clipped to in + pad_end) */
    l->ip[7] = wp.pad_end[0];
    l->ip[8] = wp.pad_end[1];
    (void)yt;
    return KS_OK;
}

static ks_status emit_softmax(kb *b, const ks_node *n) {
    const ks_tensor *xt = &V(b, n->inputs[0])->t;
    int r = xt->ndim, a;
    int64_t axis_attr = ks__attr_i(n, "axis", n->opset < 13 ? 1 : -1);
    if (!ks__norm_axis(axis_attr, r, &a))
        return node_err(b, n, KS_INVALID_MODEL, "%s", "bad softmax axis");
    int dt = node_dtype(b, n), l_i, y;
    KS_CHECK(simple_layer(b, n, KS_LAYER_SOFTMAX, dt, &l_i, &y));
    ks_eng_layer *l = &b->d->layers[l_i];
    if (n->opset < 13) {
        l->ip[0] = prod(xt->dims, 0, a);
        l->ip[1] = prod(xt->dims, a, r);
        l->ip[2] = 1;
    } else {
        l->ip[0] = prod(xt->dims, 0, a);
        l->ip[1] = xt->dims[a];
        l->ip[2] = prod(xt->dims, a + 1, r);
    }
    return KS_OK;
}

static ks_status emit_gather(kb *b, const ks_node *n) {
    const ks_tensor *xt = &V(b, n->inputs[0])->t;
    int iv = n->inputs[1];
    if (!is_const(b, iv))
        return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "Gather with runtime indices is not supported on the GPU");
    int r = xt->ndim, a;
    if (!ks__norm_axis(ks__attr_i(n, "axis", 0), r, &a))
        return node_err(b, n, KS_INVALID_MODEL, "%s", "bad gather axis");
    const ks_tensor *it = &V(b, iv)->t;
    int64_t ni = ks_tensor_numel(it);
    int32_t *idx = ks__alloc_array(b->ctx, (size_t)(ni > 0 ? ni : 1), 4);
    if (!idx)
        return ks__oom(b->ctx, 0, "gather");
    for (int64_t i = 0; i < ni; i++) {
        int64_t v = ks__tensor_get_i64(it, i);
        if (v < 0)
            v += xt->dims[a];
        if (v < 0 || v >= xt->dims[a]) {
            ks__free(b->ctx, idx);
            return node_err(b, n, KS_INVALID_MODEL, "%s", "gather index out of range");
        }
        idx[i] = (int32_t)v;
    }
    char nm[300];
    snprintf(nm, sizeof nm, "%s.idx", n->name);
    int iid = ks__eng_add_weight(b->d, nm, KS_DTYPE_INT32, 1, &ni, idx);
    ks__free(b->ctx, idx);
    if (iid < 0)
        return ks__oom(b->ctx, 0, "gather");
    int l_i, y;
    KS_CHECK(simple_layer(b, n, KS_LAYER_GATHER, 0, &l_i, &y));
    ks_eng_layer *l = &b->d->layers[l_i];
    l->n_in = 2;
    l->in[1] = iid;
    l->ip[0] = prod(xt->dims, 0, a);
    l->ip[1] = xt->dims[a];
    l->ip[2] = prod(xt->dims, a + 1, r) * (int64_t)ks_dtype_size((ks_dtype)b->d->tensors[l->in[0]].dtype);
    l->ip[3] = ni;
    return KS_OK;
}

static ks_status emit_resize(kb *b, const ks_node *n) {
    const ks_tensor *ins[4] = {NULL, NULL, NULL, NULL};
    for (int k = 0; k < n->n_inputs && k < 4; k++) {
        int v = n->inputs[k];
        if (v >= 0) {
            if (k > 0 && !is_const(b, v))
                return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "Resize with runtime scales/sizes is not supported on the GPU");
            ins[k] = &V(b, v)->t;
        }
    }
    ks_tensor yt = V(b, n->outputs[0])->t;
    ks_tensor *outs[1] = {&yt};
    ks_op_ctx oc = {b->ctx, b->g, n, n->n_inputs, ins, 1, outs};
    ks_resize_params rp;
    KS_CHECK(ks__resize_params(&oc, &rp));
    int r = rp.ndim;
    if (r < 2 || r > 6)
        return node_err(b, n, KS_UNSUPPORTED_SHAPE, "%s", "resize rank must be 2..6 on the GPU");
    for (int k = 0; k < r - 2; k++)
        if (rp.in[k] != rp.out[k])
            return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "resize of other than the last two axes is not supported on the GPU");
    if (rp.mode == KS_RESIZE_CUBIC || rp.coord == KS_RESIZE_TF_CROP_AND_RESIZE)
        return node_err(b, n, KS_UNSUPPORTED_ATTR, "%s", "cubic / tf_crop_and_resize are not supported on the GPU");
    int64_t oh = rp.out[r - 2], ow = rp.out[r - 1];
    int64_t nt = 2 * (oh + ow);
    int32_t *idx = ks__alloc_array(b->ctx, (size_t)nt, 4);
    float *wt = ks__alloc_array(b->ctx, (size_t)nt, 4);
    if (!idx || !wt) {
        ks__free(b->ctx, idx);
        ks__free(b->ctx, wt);
        return ks__oom(b->ctx, 0, "resize tables");
    }
    for (int ax = 0; ax < 2; ax++) {
        int a = r - 2 + ax;
        int64_t base = ax ? 2 * oh : 0, no = rp.out[a], ni = rp.in[a];
        for (int64_t o = 0; o < no; o++) {
            float x = ks__resize_coord(&rp, a, o);
            if (rp.mode == KS_RESIZE_NEAREST) {
                idx[base + 2 * o] = idx[base + 2 * o + 1] = (int32_t)ks__resize_nearest_index(&rp, a, x);
                wt[base + 2 * o] = 1.f;
                wt[base + 2 * o + 1] = 0.f;
            } else {
                if (x < 0.f) x = 0.f;
                if (x > (float)(ni - 1)) x = (float)(ni - 1);
                int64_t i0 = (int64_t)x, i1 = i0 + 1 < ni ? i0 + 1 : ni - 1;
                float f = x - (float)i0;
                idx[base + 2 * o] = (int32_t)i0;
                idx[base + 2 * o + 1] = (int32_t)i1;
                wt[base + 2 * o] = 1.f - f;
                wt[base + 2 * o + 1] = f;
            }
        }
    }
    char nm[300];
    snprintf(nm, sizeof nm, "%s.idx", n->name);
    int iid = ks__eng_add_weight(b->d, nm, KS_DTYPE_INT32, 1, &nt, idx);
    snprintf(nm, sizeof nm, "%s.wt", n->name);
    int wid = ks__eng_add_weight(b->d, nm, KS_DTYPE_FLOAT32, 1, &nt, wt);
    ks__free(b->ctx, idx);
    ks__free(b->ctx, wt);
    if (iid < 0 || wid < 0)
        return ks__oom(b->ctx, 0, "resize");
    int dt = node_dtype(b, n), l_i, y;
    KS_CHECK(simple_layer(b, n, KS_LAYER_RESIZE, dt, &l_i, &y));
    ks_eng_layer *l = &b->d->layers[l_i];
    l->n_in = 3;
    l->in[1] = iid;
    l->in[2] = wid;
    l->ip[0] = rp.mode == KS_RESIZE_NEAREST ? 0 : 1;
    return KS_OK;
}

static ks_status emit_pad(kb *b, const ks_node *n) {
    const ks_tensor *ins[4] = {NULL, NULL, NULL, NULL};
    for (int k = 0; k < n->n_inputs && k < 4; k++) {
        int v = n->inputs[k];
        if (v >= 0) {
            if (k > 0 && !is_const(b, v))
                return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "Pad with runtime pads is not supported on the GPU");
            ins[k] = &V(b, v)->t;
        }
    }
    ks_op_ctx oc = {b->ctx, b->g, n, n->n_inputs, ins, 0, NULL};
    ks_pad_params pp;
    KS_CHECK(ks__pad_params(&oc, &pp));
    if (pp.mode == KS_PAD_WRAP)
        return node_err(b, n, KS_UNSUPPORTED_ATTR, "%s", "wrap padding is not supported on the GPU");
    const ks_tensor *xt = &V(b, n->inputs[0])->t;
    if (xt->ndim < 1 || xt->ndim > 6)
        return node_err(b, n, KS_UNSUPPORTED_SHAPE, "%s", "pad rank must be 1..6 on the GPU");
    int l_i, y;
    KS_CHECK(simple_layer(b, n, KS_LAYER_PAD, 0, &l_i, &y));
    ks_eng_layer *l = &b->d->layers[l_i];
    int dt = b->d->tensors[l->in[0]].dtype;
    l->ip[0] = xt->ndim;
    l->ip[1] = pp.mode;
    for (int k = 0; k < xt->ndim; k++)
        l->ip[2 + k] = pp.begin[k];
    double cv = 0.0;
    if (n->n_inputs > 2 && n->inputs[2] >= 0 && ks_tensor_numel(&V(b, n->inputs[2])->t) > 0)
        cv = ks__tensor_get_f64(&V(b, n->inputs[2])->t, 0);
    ks_tensor one = {(ks_dtype)dt, 0, {0}, NULL};
    uint64_t bits = 0;
    one.data = &bits;
    ks__tensor_set_f64(&one, 0, cv);
    memcpy(&l->ip[20], &bits, 8);
    return KS_OK;
}

static ks_status emit_cast(kb *b, const ks_node *n) {
    int to = (int)ks__attr_i(n, "to", 0);
    ks_dtype want = V(b, n->outputs[0])->t.dtype;
    (void)to;
    int xid;
    KS_CHECK(tensor_for(b, n->inputs[0], 0, &xid));
    int have = b->d->tensors[xid].dtype;
    /* float -> float: internal precision stays as planned (a view) */
    if ((is_float(have) && is_float(want)) || have == (int)want) {
        int y = out_tensor(b, n->outputs[0], have);
        if (y < 0)
            return ks__oom(b->ctx, 0, "cast");
        make_view(b, y, xid, 0);
        return KS_OK;
    }
    int y = out_tensor(b, n->outputs[0], want);
    ks_eng_layer *l = add_layer_xy(b, KS_LAYER_CAST, n->name, KS_DTYPE_FLOAT32, xid, y);
    if (y < 0 || !l)
        return ks__oom(b->ctx, 0, "cast");
    return KS_OK;
}

/* MatMul [.., M, K] x [K, N] (B constant or same batch) and Gemm. */
static ks_status emit_gemm(kb *b, const ks_node *n) {
    int dt = node_dtype(b, n);
    const ks_tensor *at = &V(b, n->inputs[0])->t, *bt = &V(b, n->inputs[1])->t;
    const ks_tensor *yt = &V(b, n->outputs[0])->t;
    int64_t batch = 1, M, N, K, abs_, bbs;
    int ta = 0, tb = 0;
    float alpha = 1.f, beta = 1.f;
    if (n->op == KS_OP_GEMM) {
        ta = (int)ks__attr_i(n, "transA", 0);
        tb = (int)ks__attr_i(n, "transB", 0);
        alpha = ks__attr_f(n, "alpha", 1.f);
        beta = ks__attr_f(n, "beta", 1.f);
        if (at->ndim != 2 || bt->ndim != 2)
            return node_err(b, n, KS_INVALID_MODEL, "%s", "Gemm operands must be 2-D");
        M = ta ? at->dims[1] : at->dims[0];
        K = ta ? at->dims[0] : at->dims[1];
        N = tb ? bt->dims[0] : bt->dims[1];
        abs_ = bbs = 0;
    } else {
        if (at->ndim < 2 || bt->ndim < 2)
            return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "MatMul with 1-D operands is not supported on the GPU");
        M = at->dims[at->ndim - 2];
        K = at->dims[at->ndim - 1];
        N = bt->dims[bt->ndim - 1];
        int64_t ab = prod(at->dims, 0, at->ndim - 2), bb = prod(bt->dims, 0, bt->ndim - 2);
        if (bb != 1 && bb != ab)
            return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "MatMul batch broadcasting of B is not supported on the GPU");
        if (ab == 1 && bb == 1) {
            batch = 1; abs_ = bbs = 0;
        } else {
            batch = ab;
            abs_ = M * K;
            bbs = bb == 1 ? 0 : K * N;
        }
        if (ab == 1 && bb > 1)
            return node_err(b, n, KS_UNSUPPORTED_OP, "%s", "MatMul batch broadcasting of A is not supported on the GPU");
    }
    int aid, bid;
    KS_CHECK(tensor_for(b, n->inputs[0], dt, &aid));
    KS_CHECK(tensor_for(b, n->inputs[1], dt, &bid));
    int has_c = n->op == KS_OP_GEMM && n->n_inputs > 2 && n->inputs[2] >= 0 && beta != 0.f;
    int y;
    if (has_c) {
        int64_t dims[2] = {M, N};
        y = new_tensor(b, n->name, dt, 2, dims);
    } else {
        y = out_tensor(b, n->outputs[0], dt);
    }
    ks_eng_layer *l = add_layer(b, KS_LAYER_GEMM, n->name, dt);
    if (y < 0 || !l)
        return ks__oom(b->ctx, 0, "gemm");
    l->n_in = 2;
    l->in[0] = aid;
    l->in[1] = bid;
    l->n_out = 1;
    l->out[0] = y;
    l->tactic = KS_TACTIC_CUBLAS;
    l->ip[0] = batch; l->ip[1] = M; l->ip[2] = N; l->ip[3] = K;
    l->ip[4] = ta; l->ip[5] = tb; l->ip[6] = abs_; l->ip[7] = bbs;
    l->ip[12] = node_tf32(b, n);
    l->fp[0] = alpha;
    if (has_c) {
        /* y_out = y + beta * C (broadcast) */
        int cid;
        KS_CHECK(tensor_for(b, n->inputs[2], dt, &cid));
        int yo = out_tensor(b, n->outputs[0], dt);
        char nm[300];
        snprintf(nm, sizeof nm, "%s.bias", n->name);
        ks_eng_layer *e = add_layer(b, KS_LAYER_ELTWISE, nm, dt);
        if (yo < 0 || !e)
            return ks__oom(b->ctx, 0, "gemm bias");
        e->n_in = 2;
        e->in[0] = y;
        e->in[1] = cid;
        e->n_out = 1;
        e->out[0] = yo;
        if (beta == 1.f) {
            e->ip[0] = 1;
            e->ip[1] = KS_EW_ADD | (4 << 8) | (0 << 16) | (1 << 24);
        } else {
            e->ip[0] = 2;
            e->ip[1] = KS_EW_MULC | (4 << 8) | (1 << 16) | (1 << 24);
            e->fp[0] = beta;
            e->ip[3] = KS_EW_ADD | (4 << 8) | (0 << 16) | (4 << 24);
        }
        e->ip[31] = 4;
    }
    (void)yt;
    return KS_OK;
}

/* Standalone BatchNormalization: y = x * s + t per channel (axis 1). */
/* ------------------------------------------------------------ plugins */
static int plugin_supports(const ks_plugin_node *pn, int pos, int n_in, int n_out, int dt) {
    if (!pn->desc->supports)
        return dt == KS_DTYPE_FLOAT32; /* NULL = float32 linear only */
    return pn->desc->supports(pn->instance, pos, n_in, n_out, (ks_dtype)dt, KS_PLUGIN_LAYOUT_LINEAR) != 0;
}

/* A KS_OP_PLUGIN node becomes one PLUGIN layer. Float tensors get one
 * dtype: the node's precision if the plugin supports it at every float
 * position, else the other float dtype (FP16 engines then cast around an
 * FP32-only plugin: tensor_for casts the inputs, consumers cast the
 * outputs). Other dtypes must be supported as they are. */
static ks_status emit_plugin(kb *b, const ks_node *n) {
    ks_plugin_node *pn;
    KS_CHECK(ks__plugin_node_instance(b->ctx, b->g, n, &pn));
    const char *pname = pn->desc->name;
    if (!pn->desc->run_cuda)
        return ks__node_error(b->g, n, KS_UNSUPPORTED_OP,
                              "plugin '%s' has no CUDA implementation (run_cuda): it cannot run in a "
                              "GPU engine", pname);
    int n_in = n->n_inputs, n_out = n->n_outputs;
    if (n_in > KS_ENG_MAX_IN || n_out < 1 || n_out > KS_ENG_MAX_OUT)
        return ks__node_error(b->g, n, KS_UNSUPPORTED_OP,
                              "plugin '%s' node has %d inputs / %d outputs; GPU layers take at most %d / %d",
                              pname, n_in, n_out, KS_ENG_MAX_IN, KS_ENG_MAX_OUT);
    int want = node_dtype(b, n);
    if (want == KS_DTYPE_FLOAT16 && reads_score_head(b, n))
        want = KS_DTYPE_FLOAT32;
    int cand[2] = {want, want == KS_DTYPE_FLOAT16 ? KS_DTYPE_FLOAT32 : KS_DTYPE_FLOAT16};
    int dt = 0;
    for (int c = 0; c < 2 && !dt; c++) {
        int ok = 1;
        for (int k = 0; k < n_in + n_out && ok; k++) {
            int v = k < n_in ? n->inputs[k] : n->outputs[k - n_in];
            if (v < 0)
                continue;
            int vdt = V(b, v)->t.dtype;
            ok = plugin_supports(pn, k, n_in, n_out, is_float(vdt) ? cand[c] : vdt);
        }
        if (ok)
            dt = cand[c];
    }
    if (!dt)
        return ks__node_error(b->g, n, KS_UNSUPPORTED_DTYPE,
                              "plugin '%s' supports neither float16 nor float32 for this node's tensors",
                              pname);
    int ins[KS_ENG_MAX_IN], outs[KS_ENG_MAX_OUT];
    for (int k = 0; k < n_in; k++) {
        ins[k] = -1;
        int v = n->inputs[k];
        if (v >= 0)
            KS_CHECK(tensor_for(b, v, is_float(V(b, v)->t.dtype) ? dt : 0, &ins[k]));
    }
    for (int k = 0; k < n_out; k++) {
        int v = n->outputs[k];
        outs[k] = -1;
        if (v < 0) {
            /* unused optional output: a scratch tensor the plugin may write */
            return ks__node_error(b->g, n, KS_UNSUPPORTED_OP,
                                  "plugin '%s': omitted outputs are not supported on the GPU", pname);
        }
        int vdt = V(b, v)->t.dtype;
        outs[k] = out_tensor(b, v, is_float(vdt) ? dt : vdt);
        if (outs[k] < 0)
            return ks__oom(b->ctx, 0, "plugin output");
    }
    int li;
    ks_status st = ks__eng_add_plugin_layer(b->d, n->name, pn, &li);
    if (st != KS_OK)
        return ks__error_prefix(b->ctx, "node '%s' (plugin '%s')", n->name, pname);
    ks_eng_layer *l = &b->d->layers[li];
    l->dtype = dt;
    l->n_in = n_in;
    l->n_out = n_out;
    for (int k = 0; k < n_in; k++)
        l->in[k] = ins[k];
    for (int k = 0; k < n_out; k++)
        l->out[k] = outs[k];
    ks_tensor tin[KS_ENG_MAX_IN], tout[KS_ENG_MAX_OUT];
    ks__eng_layer_tensors(b->d, l, tin, tout);
    size_t ws = ks__plugin_node_workspace_bytes(pn, n_in, tin, n_out, tout);
    if (ws > ((size_t)1 << 40))
        return ks__node_error(b->g, n, KS_UNSUPPORTED_SHAPE, "plugin '%s' asks for %zu workspace bytes",
                              pname, ws);
    l->workspace_bytes = (int64_t)ws;
    b->n_plugins++;
    const char *ns = pn->desc->plugin_namespace ? pn->desc->plugin_namespace : "";
    ks__kb_report(b, "Plugin layer '%s': %s%s%s v%d, %s%s, workspace %zu bytes\n", n->name, ns,
                  *ns ? "::" : "", pname, pn->desc->version, ks_dtype_name((ks_dtype)dt),
                  dt != want ? " (casts around it: the plugin does not support the build precision)" : "",
                  ws);
    return KS_OK;
}

/* The engine workspace covers every plugin layer's (tactic selection sets
 * it from the conv layers only). */
static void plugin_workspace(ks_eng_desc *d) {
    for (int i = 0; i < d->n_layers; i++)
        if (d->layers[i].kind == KS_LAYER_PLUGIN && d->layers[i].workspace_bytes > d->workspace_bytes)
            d->workspace_bytes = d->layers[i].workspace_bytes;
}

static ks_status bn_prog(kb *b, const ks_node *n, ewprog *p, int dt) {
    const ks_tensor *xt = &V(b, n->inputs[0])->t;
    int64_t C = xt->dims[1];
    float eps = ks__attr_f(n, "epsilon", 1e-5f);
    float *s = ks__alloc_array(b->ctx, (size_t)C, 4), *t = ks__alloc_array(b->ctx, (size_t)C, 4);
    if (!s || !t) {
        ks__free(b->ctx, s);
        ks__free(b->ctx, t);
        return ks__oom(b->ctx, 0, "bn");
    }
    for (int64_t c = 0; c < C; c++) {
        double sc = ks__tensor_get_f64(&V(b, n->inputs[1])->t, c) /
                    sqrt(ks__tensor_get_f64(&V(b, n->inputs[4])->t, c) + eps);
        s[c] = (float)sc;
        t[c] = (float)(ks__tensor_get_f64(&V(b, n->inputs[2])->t, c) -
                       ks__tensor_get_f64(&V(b, n->inputs[3])->t, c) * sc);
    }
    int64_t dims[KS_MAX_DIMS];
    int nd = xt->ndim - 1;
    dims[0] = C;
    for (int k = 1; k < nd; k++)
        dims[k] = 1;
    char nm[300];
    snprintf(nm, sizeof nm, "%s.scale", n->name);
    int sid = add_weight_f(b, nm, dt, nd, dims, s);
    snprintf(nm, sizeof nm, "%s.shift", n->name);
    int tid = add_weight_f(b, nm, dt, nd, dims, t);
    ks__free(b->ctx, s);
    ks__free(b->ctx, t);
    if (sid < 0 || tid < 0)
        return ks__oom(b->ctx, 0, "bn");
    memset(p, 0, sizeof *p);
    p->in_v[0] = n->inputs[0]; p->in_t[0] = -1;
    p->in_v[1] = -2; p->in_t[1] = sid;
    p->in_v[2] = -3; p->in_t[2] = tid;
    p->n_in = 3;
    ew_emit(p, KS_EW_MUL, 0, 1, 0, 0.f, 0.f);
    ew_emit(p, KS_EW_ADD, 4, 2, 0, 0.f, 0.f);
    return KS_OK;
}

/* ------------------------------------------------------------ lowering */
/* ------------------------------------------------------------ segmented map
 * Transpose(perm 0,1,3,4,2) -> activation -> Split(last axis, <= 4 parts) -> per part a chain
 * of elementwise ops with constant operands -> Concat(last axis, the parts in order): one
 * SEGMAP layer reading the transpose's input in place (a YOLO detect head: sigmoid, then
 * xy = (2s + grid) * stride, wh = (2s)^2 * anchor, the rest as is). Returns 1 when the nodes
 * were emitted (*st the status), 0 when the pattern does not match (nothing changed). */
static int try_segmap(kb *b, int ti, char *done, const int *defer_at, ks_status *st) {
    ks_graph *g = b->g;
    const ks_node *tn = &g->nodes[ti];
    const ks_tensor *xt = &V(b, tn->inputs[0])->t;
    const int64_t *pv;
    if (xt->ndim != 5 || ks__attr_ints(tn, "perm", &pv) != 5 || pv[0] != 0 || pv[1] != 1 || pv[2] != 3 ||
        pv[3] != 4 || pv[4] != 2 || !is_float(xt->dtype) || b->vt[tn->inputs[0]] < 0)
        return 0;
    int dt = node_dtype(b, tn);
    int si = single_consumer(b, tn->outputs[0]);
    if (si < 0 || done[si] || defer_at[si] >= 0)
        return 0;
    const ks_node *sn = &g->nodes[si];
    int act;
    float aa, ab;
    if (sn->n_inputs != 1 || !act_of(b, sn, &act, &aa, &ab) || act == KS_ACT_PRELU || node_dtype(b, sn) != dt)
        return 0;
    int pi = single_consumer(b, sn->outputs[0]);
    if (pi < 0 || done[pi] || defer_at[pi] >= 0 || g->nodes[pi].op != KS_OP_SPLIT)
        return 0;
    const ks_node *pn = &g->nodes[pi];
    int ax;
    int np = pn->n_outputs;
    if (!ks__norm_axis(ks__attr_i(pn, "axis", 0), 5, &ax) || ax != 4 || np < 1 || np > KS_SEG_MAX_PARTS)
        return 0;
    ewprog prog[KS_SEG_MAX_PARTS];
    int chain_nodes[64], n_chain = 0, ci = -1, n_instr = 0, n_const = 0;
    int64_t end[KS_SEG_MAX_PARTS], at = 0;
    for (int k = 0; k < np; k++) {
        int v = pn->outputs[k];
        if (v < 0)
            return 0;
        at += V(b, v)->t.dims[4];
        end[k] = at;
        ewprog *p = &prog[k];
        memset(p, 0, sizeof *p);
        p->cur = 4; /* r4 holds the activated value */
        for (;;) {
            int c = single_consumer(b, v);
            if (c < 0 || done[c] || defer_at[c] >= 0)
                return 0;
            const ks_node *cn = &g->nodes[c];
            if (cn->op == KS_OP_CONCAT) {
                if (ci >= 0 && ci != c)
                    return 0;
                ci = c;
                if (cn->n_inputs != np || cn->inputs[k] != v)
                    return 0;
                break;
            }
            if (!ew_capable(b, cn) || cn->op == KS_OP_BATCH_NORM || node_dtype(b, cn) != dt || n_chain >= 64)
                return 0;
            for (int q = 0; q < cn->n_inputs; q++)
                if (cn->inputs[q] != v && !is_const(b, cn->inputs[q]))
                    return 0;
            if (!ew_add_node(b, p, cn, v))
                return 0;
            chain_nodes[n_chain++] = c;
            v = cn->outputs[0];
        }
        /* the constants must broadcast against the part's shape [B,A,H,W,len] */
        int64_t pd[5] = {xt->dims[0], xt->dims[1], xt->dims[3], xt->dims[4], V(b, pn->outputs[k])->t.dims[4]};
        for (int r = 0; r < p->n_in; r++) {
            const ks_tensor *ct = &V(b, p->in_v[r])->t;
            if (!is_const(b, p->in_v[r]) || ct->ndim > 5)
                return 0;
            for (int q = 0; q < ct->ndim; q++) {
                int64_t want = pd[5 - ct->ndim + q];
                if (ct->dims[q] != want && ct->dims[q] != 1)
                    return 0;
            }
        }
        for (int q = 0; q < p->n; q++)
            if (p->dst[q] != 4)
                return 0;
        n_instr += p->n;
        n_const += p->n_in;
    }
    if (ci < 0)
        return 0;
    const ks_node *cn = &g->nodes[ci];
    int cax;
    if (!ks__norm_axis(ks__attr_i(cn, "axis", 0), 5, &cax) || cax != 4 || node_dtype(b, cn) != dt ||
        at != xt->dims[2] || n_instr > KS_SEG_MAX_INSTR || n_const > KS_SEG_MAX_CONST)
        return 0;
    /* matched: emit */
    int tin[1 + KS_SEG_MAX_CONST];
    if ((*st = tensor_for(b, tn->inputs[0], dt, &tin[0])) != KS_OK)
        return 1;
    int nc = 0;
    for (int k = 0; k < np; k++)
        for (int r = 0; r < prog[k].n_in; r++)
            if ((*st = tensor_for(b, prog[k].in_v[r], dt, &tin[1 + nc++])) != KS_OK)
                return 1;
    char name[512];
    snprintf(name, sizeof name, "%s+%s+%s+(%d ops)+%s", tn->name, sn->name, pn->name, n_chain, cn->name);
    int y = out_tensor(b, cn->outputs[0], dt);
    ks_eng_layer *l = add_layer(b, KS_LAYER_SEGMAP, name, dt);
    if (y < 0 || !l) {
        *st = ks__oom(b->ctx, 0, "segmap layer");
        return 1;
    }
    l->n_in = 1 + nc;
    for (int q = 0; q < 1 + nc; q++)
        l->in[q] = tin[q];
    l->n_out = 1;
    l->out[0] = y;
    l->act = act, l->act_a = aa, l->act_b = ab;
    l->ip[0] = np;
    int j = 0;
    for (int k = 0; k < np; k++) {
        l->ip[1 + k] = end[k];
        l->ip[5 + k] = prog[k].n | (prog[k].n_in << 8);
        for (int q = 0; q < prog[k].n; q++, j++)
            ew_encode(&prog[k], q, &l->ip[10 + 2 * j], &l->fp[j]);
    }
    l->ip[9] = j;
    done[ti] = done[si] = done[pi] = done[ci] = 1;
    for (int q = 0; q < n_chain; q++)
        done[chain_nodes[q]] = 1;
    b->n_segmap++;
    b->n_segmap_nodes += 4 + n_chain;
    *st = KS_OK;
    return 1;
}

static ks_status lower(kb *b) {
    ks_graph *g = b->g;
    int nn = g->n_nodes;
    char *done = ks__alloc(b->ctx, (size_t)nn + 1);
    if (!done)
        return ks__oom(b->ctx, 0, "lowering");
    ks_status st = KS_OK;
    /* deferred groups: a conv fused with later nodes is emitted at the
     * position of its last member (all its inputs exist by then) */
    int *defer_at = ks__alloc_array(b->ctx, (size_t)nn + 1, sizeof(int));
    int *grp = ks__alloc_array(b->ctx, (size_t)nn * 8 + 8, sizeof(int));
    if (!defer_at || !grp) {
        ks__free(b->ctx, done);
        ks__free(b->ctx, defer_at);
        ks__free(b->ctx, grp);
        return ks__oom(b->ctx, 0, "lowering");
    }
    for (int i = 0; i < nn; i++)
        defer_at[i] = -1;
    /* plan conv groups first */
    for (int i = 0; i < nn; i++) {
        ks_node *n = &g->nodes[i];
        if (n->op != KS_OP_CONV || done[i])
            continue;
        int *G = &grp[i * 8];
        for (int k = 0; k < 8; k++)
            G[k] = -1;
        /* G: 0 bn, 1 act node, 2 act code, 3 residual add node, 4 res value, 5 res_after, 6 silu mul, 7 last */
        int cur = n->outputs[0], last = i;
        int c;
        if (ON(b, BN_FOLD) && (c = single_consumer(b, cur)) >= 0 && !done[c] && g->nodes[c].op == KS_OP_BATCH_NORM &&
            g->nodes[c].inputs[0] == cur && g->nodes[c].n_outputs >= 1 && ew_capable(b, &g->nodes[c])) {
            G[0] = c;
            cur = g->nodes[c].outputs[0];
            last = c;
        }
        if (ON(b, RESIDUAL_FUSE) && (c = single_consumer(b, cur)) >= 0 && !done[c] && g->nodes[c].op == KS_OP_ADD) {
            int other = g->nodes[c].inputs[0] == cur ? g->nodes[c].inputs[1] : g->nodes[c].inputs[0];
            if (other != cur && !is_const(b, other) && same_shape(b, other, cur) &&
                is_float(V(b, other)->t.dtype)) {
                G[3] = c;
                G[4] = other;
                G[5] = 0;
                cur = g->nodes[c].outputs[0];
                last = c;
            }
        }
        if (ON(b, ACT_FUSE)) {
            int act;
            float aa, ab;
            if ((c = single_consumer(b, cur)) >= 0 && !done[c] && act_of(b, &g->nodes[c], &act, &aa, &ab) &&
                epilogue_act(act) && g->nodes[c].inputs[0] == cur) {
                G[1] = c;
                G[2] = act;
                cur = g->nodes[c].outputs[0];
                last = c;
            } else if ((c = single_consumer(b, cur)) >= 0 && !done[c] && g->nodes[c].op == KS_OP_PRELU &&
                       g->nodes[c].inputs[0] == cur && is_const(b, g->nodes[c].inputs[1])) {
                const ks_tensor *sl = &V(b, g->nodes[c].inputs[1])->t;
                int64_t ns = ks_tensor_numel(sl), C = V(b, cur)->t.dims[1];
                int ok = ns == 1 || ns == C;
                for (int k = 0; ok && k < sl->ndim; k++)
                    if (sl->dims[k] != 1 && !(sl->dims[k] == C && sl->ndim - k == 3 - 0))
                        ok = sl->dims[k] == C && k == sl->ndim - 3;
                if (ok) {
                    G[1] = c;
                    G[2] = KS_ACT_PRELU;
                    cur = g->nodes[c].outputs[0];
                    last = c;
                }
            } else if (b->n_uses[cur] == 2 && !b->is_output[cur]) {
                /* SiLU: s = Sigmoid(cur); y = Mul(cur, s) */
                int sig = -1, mul = -1;
                for (int j = i + 1; j < nn; j++) {
                    ks_node *m = &g->nodes[j];
                    for (int k = 0; k < m->n_inputs; k++)
                        if (m->inputs[k] == cur) {
                            if (m->op == KS_OP_SIGMOID) sig = j;
                            else if (m->op == KS_OP_MUL) mul = j;
                        }
                }
                if (sig >= 0 && mul >= 0 && !done[sig] && !done[mul]) {
                    int sv = g->nodes[sig].outputs[0];
                    ks_node *m = &g->nodes[mul];
                    if (single_consumer(b, sv) == mul &&
                        ((m->inputs[0] == cur && m->inputs[1] == sv) ||
                         (m->inputs[1] == cur && m->inputs[0] == sv))) {
                        G[1] = sig;
                        G[2] = KS_ACT_SILU;
                        G[6] = mul;
                        cur = m->outputs[0];
                        last = mul > sig ? mul : sig;
                    }
                }
            }
        }
        if (ON(b, RESIDUAL_FUSE) && G[3] < 0 && G[1] >= 0 && (c = single_consumer(b, cur)) >= 0 && !done[c] &&
            g->nodes[c].op == KS_OP_ADD) {
            int other = g->nodes[c].inputs[0] == cur ? g->nodes[c].inputs[1] : g->nodes[c].inputs[0];
            if (other != cur && !is_const(b, other) && same_shape(b, other, cur) &&
                is_float(V(b, other)->t.dtype)) {
                G[3] = c;
                G[4] = other;
                G[5] = 1;
                cur = g->nodes[c].outputs[0];
                last = c;
            }
        }
        G[7] = cur;
        /* the residual operand must be produced before `last` (always true in
         * topological order since `last` consumes it) */
        for (int k = 0; k < 7; k++)
            if ((k == 0 || k == 1 || k == 3 || k == 6) && G[k] >= 0)
                done[G[k]] = 2; /* absorbed */
        defer_at[last] = i;
        done[i] = 2;
    }
    for (int i = 0; i < nn && st == KS_OK; i++) {
        ks_node *n = &g->nodes[i];
        if (defer_at[i] >= 0) {
            int ci = defer_at[i];
            int *G = &grp[ci * 8];
            st = emit_conv(b, ci, G[0], G[1], G[1] >= 0 ? G[2] : KS_ACT_NONE,
                           0.f, 0.f, G[3] >= 0 ? G[4] : -1, G[5] > 0, G[6], G[7]);
            if (st == KS_OK && G[1] >= 0 && G[2] != KS_ACT_PRELU && G[2] != KS_ACT_SILU) {
                int act;
                float aa, ab;
                act_of(b, &g->nodes[G[1]], &act, &aa, &ab);
                ks_eng_layer *l = &b->d->layers[b->d->n_layers - 1];
                l->act_a = aa;
                l->act_b = ab;
            }
            continue;
        }
        if (done[i])
            continue;
        if (n->n_outputs < 1 || n->outputs[0] < 0)
            continue;
        if (V(b, n->outputs[0])->is_const)
            continue; /* folded */
        switch (n->op) {
        case KS_OP_RESHAPE:
        case KS_OP_FLATTEN:
        case KS_OP_SQUEEZE:
        case KS_OP_UNSQUEEZE:
        case KS_OP_IDENTITY:
        case KS_OP_DROPOUT:
            st = emit_view(b, n);
            break;
        case KS_OP_TRANSPOSE:
            if (!(ON(b, SEGMENT_FUSE) && try_segmap(b, i, done, defer_at, &st)))
                st = emit_transpose(b, n);
            break;
        case KS_OP_CONCAT: st = emit_concat(b, n); break;
        case KS_OP_SLICE: st = emit_slice(b, n); break;
        case KS_OP_SPLIT: st = emit_split(b, n); break;
        case KS_OP_GATHER: st = emit_gather(b, n); break;
        case KS_OP_MAX_POOL:
        case KS_OP_AVERAGE_POOL:
        case KS_OP_GLOBAL_AVERAGE_POOL:
        case KS_OP_GLOBAL_MAX_POOL:
            st = emit_pool(b, n);
            break;
        case KS_OP_SOFTMAX: st = emit_softmax(b, n); break;
        case KS_OP_RESIZE: st = emit_resize(b, n); break;
        case KS_OP_PAD: st = emit_pad(b, n); break;
        case KS_OP_CAST: st = emit_cast(b, n); break;
        case KS_OP_GEMM:
        case KS_OP_MATMUL:
            st = emit_gemm(b, n);
            break;
        case KS_OP_PLUGIN: st = emit_plugin(b, n); break;
        default:
            if (ew_capable(b, n)) {
                int dt = node_dtype(b, n);
                ewprog p;
                memset(&p, 0, sizeof p);
                char name[512];
                snprintf(name, sizeof name, "%s", n->name);
                if (n->op == KS_OP_BATCH_NORM) {
                    st = bn_prog(b, n, &p, dt);
                    if (st != KS_OK)
                        break;
                } else if (!ew_add_node(b, &p, n, -1)) {
                    st = node_err(b, n, KS_UNSUPPORTED_OP, "%s", "elementwise op does not fit the GPU program");
                    break;
                }
                int cur_v = n->outputs[0];
                done[i] = 1;
                /* chain: single consumer, elementwise, same node dtype */
                while (ON(b, ELTWISE_FUSE)) {
                    int c = single_consumer(b, cur_v);
                    if (c < 0 || done[c] || defer_at[c] >= 0 || !ew_capable(b, &g->nodes[c]) ||
                        g->nodes[c].op == KS_OP_BATCH_NORM || node_dtype(b, &g->nodes[c]) != dt)
                        break;
                    /* all other inputs must already exist (produced before c
                     * in topological order, and not by a node still pending) */
                    int ok = 1;
                    for (int k = 0; k < g->nodes[c].n_inputs; k++) {
                        int v = g->nodes[c].inputs[k];
                        if (v >= 0 && v != cur_v && !is_const(b, v) && b->vt[v] < 0)
                            ok = 0;
                    }
                    if (!ok || !ew_add_node(b, &p, &g->nodes[c], cur_v))
                        break;
                    size_t L = strlen(name);
                    snprintf(name + L, sizeof name - L, "+%s", g->nodes[c].name);
                    done[c] = 1;
                    cur_v = g->nodes[c].outputs[0];
                    b->n_ew_fused++;
                }
                st = emit_eltwise(b, &p, cur_v, dt, name);
            } else {
                st = ks__node_error(g, n, KS_UNSUPPORTED_OP, "op %s is not supported by the GPU builder",
                                    n->op_type);
            }
            break;
        }
    }
    ks__free(b->ctx, done);
    ks__free(b->ctx, defer_at);
    ks__free(b->ctx, grp);
    return st;
}

/* ------------------------------------------------------------ build */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void ks__kb_report(kb *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t L = b->report_len;
    if (L + 512 >= b->report_cap) {
        size_t nc = b->report_cap ? b->report_cap * 2 : 4096;
        char *np = ks__realloc(b->ctx, b->report, nc);
        if (!np) {
            va_end(ap);
            return;
        }
        b->report = np;
        b->report_cap = nc;
    }
    int w = vsnprintf(b->report + L, b->report_cap - L, fmt, ap);
    va_end(ap);
    if (w > 0)
        b->report_len += (size_t)w < b->report_cap - L ? (size_t)w : b->report_cap - L - 1;
    if (b->cfg->verbose)
        ks__log(b->ctx, KS_LOG_INFO, "%s", b->report + L);
}

/* Lowering + description passes, no GPU needed: *out_d (owned by the
 * caller, free with ks__eng_desc_free + ks__free) is validated. */
static ks_status build_desc(kb *b, ks_model *model, const ks_build_config *cfg_in, int sm, ks_eng_desc **out_d) {
    ks_context *ctx = model->ctx;
    *out_d = NULL;
    b->ctx = ctx;
    b->cfg = cfg_in;
    b->sm = sm;
    ks_graph *g = NULL;
    ks_status st = ks__graph_clone(model->graph, &g);
    if (st != KS_OK)
        return st;
    b->g = g;
    int orig_nodes = g->n_nodes;
    /* input shapes: explicit ones override (also static dims, e.g. batch) */
    for (int i = 0; i < cfg_in->n_input_shapes && st == KS_OK; i++) {
        const ks_input_shape *s = &cfg_in->input_shapes[i];
        int vid = s->name ? ks__graph_find_value(g, s->name) : -1;
        int is_in = 0;
        for (int k = 0; k < g->n_inputs; k++)
            is_in |= g->inputs[k] == vid;
        if (!is_in) {
            st = ks__error(ctx, KS_NOT_FOUND, "build: model has no input '%s'", s->name ? s->name : "(null)");
            break;
        }
        ks_value *v = &g->values[vid];
        if (v->t.ndim >= 0 && v->t.ndim != s->ndim) {
            st = ks__error(ctx, KS_UNSUPPORTED_SHAPE, "build: input '%s' has rank %d, shape given has %d",
                           s->name, v->t.ndim, s->ndim);
            break;
        }
        v->t.ndim = s->ndim;
        for (int k = 0; k < s->ndim; k++)
            v->t.dims[k] = s->dims[k];
    }
    /* remaining dynamic dims: batch -> max_batch or 1; others must be given */
    for (int i = 0; i < g->n_inputs && st == KS_OK; i++) {
        ks_value *v = &g->values[g->inputs[i]];
        for (int k = 0; k < v->t.ndim; k++)
            if (v->t.dims[k] < 0) {
                if (k == 0)
                    v->t.dims[k] = cfg_in->max_batch > 0 ? cfg_in->max_batch : 1;
                else {
                    char sh[128];
                    st = ks__error(ctx, KS_UNSUPPORTED_SHAPE,
                                   "build: input '%s' has dynamic shape %s: give its shape "
                                   "(--shapes %s:1x3x480x640)",
                                   v->name, ks_shape_str(v->t.dims, v->t.ndim, sh, sizeof sh), v->name);
                    break;
                }
            }
    }
    if (st == KS_OK)
        st = ks__graph_infer_and_fold(g, 1); /* shape subgraphs must fold */
    if (st == KS_OK)
        st = ks__graph_remove_dead(g);
    if (st != KS_OK)
        goto fail;
    for (int v = 0; v < g->n_values; v++) {
        const ks_value *x = &g->values[v];
        if (x->is_const)
            continue;
        int known = x->t.ndim >= 0;
        for (int k = 0; known && k < x->t.ndim; k++)
            known = x->t.dims[k] >= 0;
        if (!known && (x->producer >= 0)) {
            st = ks__error(ctx, KS_UNSUPPORTED_SHAPE, "build: shape of '%s' is not static after inference",
                           x->name);
            goto fail;
        }
    }
    ks__kb_report(b, "Original: %d nodes\n", orig_nodes);
    ks__kb_report(b, "After constant folding and dead-node removal: %d nodes\n", g->n_nodes);
    /* use counts */
    int nv = g->n_values;
    b->vt = ks__alloc_array(ctx, (size_t)nv + 1, sizeof(int));
    b->cvt = ks__alloc_array(ctx, (size_t)nv * 2 + 2, sizeof(int));
    b->n_uses = ks__alloc_array(ctx, (size_t)nv + 1, sizeof(int));
    b->consumer = ks__alloc_array(ctx, (size_t)nv + 1, sizeof(int));
    b->is_output = ks__alloc_array(ctx, (size_t)nv + 1, sizeof(int));
    ks_eng_desc *d = ks__alloc(ctx, sizeof(ks_eng_desc));
    if (d)
        ks__eng_desc_init(d, ctx);
    b->d = d;
    if (!b->vt || !b->cvt || !b->n_uses || !b->consumer || !b->is_output || !d) {
        st = ks__oom(ctx, 0, "builder tables");
        goto fail;
    }
    b->d = d;
    ks__eng_desc_init(d, ctx);
    d->sm = (uint32_t)sm;
    int rt = 0;
    cudaRuntimeGetVersion(&rt);
    d->cuda_version = (uint32_t)rt;
    d->cudnn_version = (uint32_t)cudnnGetVersion();
    d->precision = cfg_in->precision;
    d->build_flags = cfg_in->disable_passes;
    for (int v = 0; v < nv; v++) {
        b->vt[v] = -1;
        b->cvt[2 * v] = b->cvt[2 * v + 1] = -1;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++) {
            int v = g->nodes[i].inputs[k];
            if (v < 0)
                continue;
            /* count a node once even if it reads v twice */
            int dup = 0;
            for (int j = 0; j < k; j++)
                dup |= g->nodes[i].inputs[j] == v;
            if (!dup) {
                b->n_uses[v]++;
                b->consumer[v] = i;
            }
        }
    for (int i = 0; i < g->n_outputs; i++)
        b->is_output[g->outputs[i]] = 1;
    b->score32 = ks__alloc_array(ctx, (size_t)g->n_nodes + 1, 1);
    if (!b->score32) {
        st = ks__oom(ctx, 0, "builder tables");
        goto fail;
    }
    if (cfg_in->precision == KS_PRECISION_FP16 && !(cfg_in->disable_passes & (1u << KS_PASS_SCORE_FP32)))
        mark_score_heads(b);
    /* input bindings */
    d->n_inputs = g->n_inputs;
    d->n_outputs = g->n_outputs;
    d->bindings = ks__alloc_array(ctx, (size_t)(g->n_inputs + g->n_outputs), sizeof(int32_t));
    if (!d->bindings) {
        st = ks__oom(ctx, 0, "bindings");
        goto fail;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        ks_value *x = &g->values[g->inputs[i]];
        /* keep_io_dtypes 0: a float32 input of an FP16 build is bound as float16, so the
           caller writes FP16 and the engine casts nothing on the way in */
        int dt = x->t.dtype;
        if (!cfg_in->keep_io_dtypes && cfg_in->precision == KS_PRECISION_FP16 && dt == KS_DTYPE_FLOAT32)
            dt = KS_DTYPE_FLOAT16;
        int id = new_tensor(b, x->name, dt, x->t.ndim, x->t.dims);
        if (id < 0) {
            st = ks__oom(ctx, 0, "input");
            goto fail;
        }
        d->tensors[id].storage = KS_STORE_BINDING;
        d->tensors[id].offset = i;
        d->bindings[i] = id;
        b->vt[g->inputs[i]] = id;
    }
    st = lower(b);
    if (st != KS_OK)
        goto fail;
    /* outputs: bind, casting back to the declared dtype (keep_io_dtypes 0: a float output
       stays in the dtype its last layer writes, no cast) */
    for (int i = 0; i < g->n_outputs && st == KS_OK; i++) {
        int v = g->outputs[i];
        ks_value *x = &g->values[v];
        int tid;
        if (x->is_const || !cfg_in->keep_io_dtypes) {
            st = tensor_for(b, v, 0, &tid);
        } else {
            st = tensor_for(b, v, is_float(x->t.dtype) ? (int)x->t.dtype : 0, &tid);
        }
        if (st != KS_OK)
            break;
        st = ks__plan_bind_output(b, i, tid, x->name);
    }
    if (st != KS_OK)
        goto fail;
    ks__kb_report(b,
                  "After vertical fusions: %d layers (BN folded into conv: %d, conv+activation: %d, "
                  "residual adds fused: %d, elementwise ops fused into chains: %d, views: %d, casts: %d)\n",
                  d->n_layers, b->n_bn_folded, b->n_act_fused, b->n_res_fused, b->n_ew_fused, b->n_views,
                  b->n_casts);
    st = ks__plan_passes(b);
    if (st != KS_OK)
        goto fail;
    plugin_workspace(d);
    if (b->n_plugins)
        ks__kb_report(b, "Plugin layers: %d\n", b->n_plugins);
    if (b->n_score32)
        ks__kb_report(b, "Score heads kept in FP32 (score-fp32): %d\n", b->n_score32);
    if (b->n_segmap)
        ks__kb_report(b, "Segmented maps (segment-fuse): %d layers in place of %d nodes\n", b->n_segmap,
                      b->n_segmap_nodes);
    st = ks__eng_validate(d);
    if (st != KS_OK) {
        ks__error_prefix(ctx, "internal: built engine failed validation");
        goto fail;
    }
    *out_d = d;
    b->d = NULL;
fail:
    if (b->d) {
        ks__eng_desc_free(b->d);
        ks__free(ctx, b->d);
        b->d = NULL;
    }
    ks__free(ctx, b->vt);
    ks__free(ctx, b->cvt);
    ks__free(ctx, b->n_uses);
    ks__free(ctx, b->consumer);
    ks__free(ctx, b->is_output);
    ks__free(ctx, b->score32);
    b->score32 = NULL;
    b->vt = b->cvt = b->n_uses = b->consumer = b->is_output = NULL;
    ks__graph_destroy(g);
    b->g = NULL;
    return st;
}

ks_status ks__engine_build_desc(ks_model *model, const ks_build_config *cfg, int sm, ks_eng_desc **out,
                                char **report) {
    ks_build_config defcfg;
    if (!cfg) {
        ks_build_config_init(&defcfg);
        cfg = &defcfg;
    }
    kb B;
    memset(&B, 0, sizeof B);
    ks_status st = build_desc(&B, model, cfg, sm, out);
    ks__free(model->ctx, B.dwpw);
    ks__free(model->ctx, B.pwseg);
    if (report)
        *report = B.report;
    else
        ks__free(model->ctx, B.report);
    return st;
}

ks_status ks_engine_build(ks_model *model, const ks_build_config *cfg_in, ks_engine **out) {
    if (!model || !out)
        return KS_INVALID_ARGUMENT;
    *out = NULL;
    ks_context *ctx = model->ctx;
    ks_build_config defcfg;
    if (!cfg_in) {
        ks_build_config_init(&defcfg);
        cfg_in = &defcfg;
    }
    double t0 = now_s();
    int dev, sm;
    KS_CHECK(ks__cuda_init(ctx, &dev, &sm));
    (void)dev;
    kb B;
    memset(&B, 0, sizeof B);
    kb *b = &B;
    ks_eng_desc *d = NULL;
    ks_status st = build_desc(b, model, cfg_in, sm, &d);
    if (st != KS_OK) {
        ks__free(ctx, b->dwpw);
        ks__free(ctx, b->pwseg);
        ks__free(ctx, b->report);
        return st;
    }
    ks_engine *e = NULL;
    st = ks__cuda_engine_from_desc(ctx, d, &e);
    ks__free(ctx, d);
    if (st == KS_OK) {
        st = ks__tactics_select(b, e);
        plugin_workspace(&e->d);
        if (st != KS_OK) {
            ks_engine_destroy(e);
            e = NULL;
        }
    }
    ks__free(ctx, b->dwpw);
    b->dwpw = NULL;
    ks__free(ctx, b->pwseg);
    b->pwseg = NULL;
    if (st == KS_OK) {
        e->build_seconds = now_s() - t0;
        ks__kb_report(b, "Build time: %.3f s\n", e->build_seconds);
        e->report = b->report;
        b->report = NULL;
        *out = e;
    }
    ks__free(ctx, b->report);
    return st;
}
