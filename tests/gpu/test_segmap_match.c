/* segment-fuse pattern matching, host only (needs the CUDA backend compiled, not a GPU).
 *
 * A small YOLO-style head is built as an IR graph:
 *   x [1,21,4,4] -> Reshape [1,3,7,4,4] -> Transpose(0,1,3,4,2) -> Sigmoid -> Split(last axis: 2,2,3)
 *     part 0: Mul 2 -> Add grid [1,3,4,4,2] -> Mul 8
 *     part 1: Mul 2 -> Pow 2 -> Mul anchor [1,3,1,1,2]
 *     part 2: as is
 *   -> Concat(last axis) -> Reshape [1,48,7] -> y
 * and lowered with every pass on. The intact head must become exactly one segmap layer; each variant
 * that breaks the pattern (another permutation, a non-constant operand, the parts concatenated out of
 * order, a split part that is also a graph output) must lower without one,
 * and every lowering must validate. Then two such heads at batch 2 with their rows concatenated: concat
 * elimination makes both segmaps write strided rows into the output, unless one head's rows are also an
 * output. The GPU results of the layer are checked on the YOLOv5n model (test_gpu_models, tools/gpu-check.sh
 * segmap) and the op cases of test_gpu_ops. */
#include <string.h>

#include "core/model_internal.h"
#include "format/engine_format.h"
#include "graph/ir.h"
#include "harness.h"
#include "kestrel/engine.h"

ks_status ks__engine_build_desc(ks_model *model, const ks_build_config *cfg, int sm, ks_eng_desc **out,
                                char **report) __attribute__((weak));

enum { V_OK, V_PERM, V_DYNAMIC_OPERAND, V_ORDER, V_PART_OUTPUT, V_COUNT };
static const char *const vnames[V_COUNT] = {"intact head", "other permutation", "non-constant operand",
                                            "parts out of order", "split part is a graph output"};

static int val(ks_graph *g, const char *name) {
    int id = -1;
    if (ks__graph_add_value(g, name, 0, &id) == KS_OK)
        g->values[id].t.ndim = -1;
    return id;
}

static int cst(ks_graph *g, const char *name, int ndim, const int64_t *dims, const float *data) {
    ks_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = KS_DTYPE_FLOAT32;
    t.ndim = ndim;
    for (int k = 0; k < ndim; k++)
        t.dims[k] = dims[k];
    t.data = (void *)data;
    int id = -1;
    ks__graph_add_const(g, name, &t, &id);
    return id;
}

static int node(ks_graph *g, const char *name, const char *op, int n_in, const int *ins, int n_out, const int *outs) {
    int nd = -1;
    ks__graph_add_node(g, name, op, "", 11, n_in, ins, n_out, outs, &nd);
    return nd;
}

static void attr_ints(ks_graph *g, int nd, const char *name, int n, const int64_t *v) {
    ks_attr a;
    memset(&a, 0, sizeof a);
    a.name = (char *)name;
    a.type = KS_ATTR_INTS;
    a.n = n;
    a.ints = (int64_t *)v;
    ks__node_add_attr(g, nd, &a);
}

static void attr_int(ks_graph *g, int nd, const char *name, int64_t v) {
    ks_attr a;
    memset(&a, 0, sizeof a);
    a.name = (char *)name;
    a.type = KS_ATTR_INT;
    a.i = v;
    ks__node_add_attr(g, nd, &a);
}

/* One head (the chain above) on input x at batch n, value names suffixed with sfx; returns y [n,48,7] and, through
 * p2_out, the third split part. */
static int head_chain(ks_graph *g, int variant, int64_t n, const char *sfx, int x, int z, int *p2_out) {
    static float grid[3 * 4 * 4 * 2], anchor[3 * 2];
    for (int i = 0; i < 3 * 4 * 4 * 2; i++)
        grid[i] = (float)(i % 7) - 0.5f;
    for (int i = 0; i < 6; i++)
        anchor[i] = 10.0f + (float)i;
    static const float two = 2.0f, eight = 8.0f;
    static int64_t shp5[2][5], shp3[2][3]; /* batch 1 and 2 */
    int64_t *s5v = shp5[n > 1], *s3v = shp3[n > 1];
    const int64_t s5i[5] = {n, 3, 7, 4, 4}, s3i[3] = {n, 48, 7};
    memcpy(s5v, s5i, sizeof s5i);
    memcpy(s3v, s3i, sizeof s3i);
    char b[64];
#define NM(base) (snprintf(b, sizeof b, "%s%s", base, sfx), b)
    int64_t dg[5] = {1, 3, 4, 4, 2}, da[5] = {1, 3, 1, 1, 2};
    ks_tensor s5 = {KS_DTYPE_INT64, 1, {5}, (void *)s5v}, s3 = {KS_DTYPE_INT64, 1, {3}, (void *)s3v};
    int c_s5 = -1, c_s3 = -1;
    ks__graph_add_const(g, NM("shape5"), &s5, &c_s5);
    ks__graph_add_const(g, NM("shape3"), &s3, &c_s3);
    int c_two = cst(g, NM("two"), 0, NULL, &two), c_eight = cst(g, NM("eight"), 0, NULL, &eight);
    int c_grid = cst(g, NM("grid"), 5, dg, grid), c_anchor = cst(g, NM("anchor"), 5, da, anchor);
    int r5 = val(g, NM("r5")), tr = val(g, NM("tr")), sg = val(g, NM("sg")), p0 = val(g, NM("p0"));
    int p1 = val(g, NM("p1")), p2 = val(g, NM("p2")), a0 = val(g, NM("a0")), a1 = val(g, NM("a1"));
    int a2 = val(g, NM("a2")), b0 = val(g, NM("b0")), b1 = val(g, NM("b1")), b2 = val(g, NM("b2"));
    int cc = val(g, NM("cc")), y = val(g, NM("y"));
    int in2[2];
    in2[0] = x, in2[1] = c_s5;
    node(g, NM("reshape"), "Reshape", 2, in2, 1, &r5);
    int nd = node(g, NM("transpose"), "Transpose", 1, &r5, 1, &tr);
    int64_t perm[5] = {0, 1, 3, 4, 2}, perm_bad[5] = {0, 1, 4, 3, 2}; /* channels last too, h and w swapped */
    attr_ints(g, nd, "perm", 5, variant == V_PERM ? perm_bad : perm);
    node(g, NM("sigmoid"), "Sigmoid", 1, &tr, 1, &sg);
    int outs3[3] = {p0, p1, p2};
    nd = node(g, NM("split"), "Split", 1, &sg, 3, outs3);
    attr_int(g, nd, "axis", 4);
    int64_t split[3] = {2, 2, 3};
    attr_ints(g, nd, "split", 3, split);
    /* part 0: (2s + grid) * 8 */
    in2[0] = p0, in2[1] = c_two;
    node(g, NM("mul0"), "Mul", 2, in2, 1, &a0);
    in2[0] = a0, in2[1] = variant == V_DYNAMIC_OPERAND ? z : c_grid;
    node(g, NM("add0"), "Add", 2, in2, 1, &a1);
    in2[0] = a1, in2[1] = c_eight;
    node(g, NM("mul1"), "Mul", 2, in2, 1, &a2);
    /* part 1: (2s)^2 * anchor */
    in2[0] = p1, in2[1] = c_two;
    node(g, NM("mul2"), "Mul", 2, in2, 1, &b0);
    in2[0] = b0, in2[1] = c_two;
    node(g, NM("pow"), "Pow", 2, in2, 1, &b1);
    in2[0] = b1, in2[1] = c_anchor;
    node(g, NM("mul3"), "Mul", 2, in2, 1, &b2);
    int cat[3] = {a2, b2, p2};
    if (variant == V_ORDER)
        cat[0] = b2, cat[1] = a2;
    nd = node(g, NM("concat"), "Concat", 3, cat, 1, &cc);
    attr_int(g, nd, "axis", -1);
    in2[0] = cc, in2[1] = c_s3;
    node(g, NM("reshape_out"), "Reshape", 2, in2, 1, &y);
#undef NM
    if (p2_out)
        *p2_out = p2;
    return y;
}

static ks_graph *head_graph(ks_context *ctx, int variant) {
    ks_graph *g = NULL;
    if (ks__graph_create(ctx, "<segmap test>", &g) != KS_OK)
        return NULL;
    g->opset = 11;
    int x = val(g, "x"), z = val(g, "z"), p2 = -1;
    g->values[x].t = (ks_tensor){KS_DTYPE_FLOAT32, 4, {1, 21, 4, 4}, NULL};
    g->values[z].t = (ks_tensor){KS_DTYPE_FLOAT32, 5, {1, 3, 4, 4, 2}, NULL};
    int y = head_chain(g, variant, 1, "", x, z, &p2);
    int n_out = variant == V_PART_OUTPUT ? 2 : 1;
    g->inputs = ks__alloc(ctx, 2 * sizeof(int));
    g->outputs = ks__alloc(ctx, 2 * sizeof(int));
    g->inputs[0] = x, g->n_inputs = 1;
    if (variant == V_DYNAMIC_OPERAND)
        g->inputs[1] = z, g->n_inputs = 2;
    g->outputs[0] = y, g->outputs[1] = p2, g->n_outputs = n_out;
    if (ks__graph_toposort(g) != KS_OK) {
        ks__graph_destroy(g);
        return NULL;
    }
    return g;
}

/* Two heads on one input at batch 2, their rows concatenated (axis 1) into the output [2,96,7]. Concat
 * elimination at batch > 1: each segmap writes its images' rows 96 * 7 elements apart and the concat goes;
 * with extra_output the first head's rows are a graph output too, so its segmap must write them packed
 * and the concat stays. */
static ks_graph *two_heads_graph(ks_context *ctx, int extra_output) {
    ks_graph *g = NULL;
    if (ks__graph_create(ctx, "<segmap rows test>", &g) != KS_OK)
        return NULL;
    g->opset = 11;
    int x = val(g, "x"), out = val(g, "out");
    g->values[x].t = (ks_tensor){KS_DTYPE_FLOAT32, 4, {2, 21, 4, 4}, NULL};
    int ya = head_chain(g, V_OK, 2, "_a", x, -1, NULL), yb = head_chain(g, V_OK, 2, "_b", x, -1, NULL);
    int cat[2] = {ya, yb};
    int nd = node(g, "rows", "Concat", 2, cat, 1, &out);
    attr_int(g, nd, "axis", 1);
    g->inputs = ks__alloc(ctx, sizeof(int));
    g->outputs = ks__alloc(ctx, 2 * sizeof(int));
    g->inputs[0] = x, g->n_inputs = 1;
    g->outputs[0] = out, g->outputs[1] = ya, g->n_outputs = extra_output ? 2 : 1;
    if (ks__graph_toposort(g) != KS_OK) {
        ks__graph_destroy(g);
        return NULL;
    }
    return g;
}

/* Lowers g (the model takes it over) with every pass on for sm_90 and validates the description: NULL when a step
 * fails (a check failed then); *m is the model, for ks_model_destroy after the description is freed. */
static ks_eng_desc *lower(ks_context *ctx, ks_graph *g, int fp16, const char *label, ks_model **m) {
    *m = NULL;
    ks_status st = ks__model_from_graph(ctx, g, m);
    KS_T_CHECK_MSG(st == KS_OK, "%s: model: %s", label, ks_context_last_error(ctx));
    if (st != KS_OK)
        return NULL;
    ks_build_config cfg;
    ks_build_config_init(&cfg);
    cfg.precision = fp16 ? KS_PRECISION_FP16 : KS_PRECISION_FP32;
    ks_eng_desc *d = NULL;
    char *report = NULL;
    st = ks__engine_build_desc(*m, &cfg, 90, &d, &report);
    KS_T_CHECK_MSG(st == KS_OK, "%s: lowering: %s", label, ks_context_last_error(ctx));
    ks__free(ctx, report);
    if (st != KS_OK)
        return NULL;
    KS_T_CHECK_OK(ctx, ks__eng_validate(d));
    return d;
}

static void test_two_heads(ks_context *ctx) {
    for (int extra = 0; extra < 2; extra++) {
        ks_graph *g = two_heads_graph(ctx, extra);
        KS_T_CHECK(g != NULL);
        if (!g)
            continue;
        ks_model *m = NULL;
        ks_eng_desc *d = lower(ctx, g, 1, "two heads", &m);
        if (d) {
            int n_seg = 0, n_strided = 0, n_cat = 0;
            for (int li = 0; li < d->n_layers; li++) {
                const ks_eng_layer *l = &d->layers[li];
                n_seg += l->kind == KS_LAYER_SEGMAP;
                n_strided += l->kind == KS_LAYER_SEGMAP && l->algo == 96 * 7;
                n_cat += l->kind == KS_LAYER_CONCAT;
                KS_T_CHECK_MSG(l->kind != KS_LAYER_SEGMAP || l->algo == 0 || l->algo == 96 * 7, "row stride %d",
                               (int)l->algo);
            }
            KS_T_CHECK_EQ_I(n_seg, 2);
            KS_T_CHECK_MSG(n_strided == (extra ? 0 : 2) && n_cat == (extra ? 1 : 0),
                           "two heads%s: %d strided segmaps, %d concats", extra ? " (rows also an output)" : "",
                           n_strided, n_cat);
            /* the writer marks strided segmaps as format version 6 */
            void *buf = NULL;
            size_t n = 0;
            uint32_t ver = 0;
            KS_T_CHECK_OK(ctx, ks__eng_serialize(d, &buf, &n));
            if (buf)
                memcpy(&ver, (uint8_t *)buf + 8, 4);
            KS_T_CHECK_MSG(extra ? ver < 6 : ver == 6, "two heads%s: format version %u", extra ? " (extra)" : "",
                           ver);
            ks__free(ctx, buf);
            fprintf(stderr, "  two heads at batch 2%-22s: %2d layers, %d strided segmaps, %d concats, version %u\n",
                    extra ? " (rows also an output)" : "", d->n_layers, n_strided, n_cat, ver);
            ks__eng_desc_free(d);
            ks__free(ctx, d);
        }
        ks_model_destroy(m);
    }
}

int main(void) {
    if (!ks__engine_build_desc)
        KS_T_SKIP("CUDA backend not compiled");
    ks_context *ctx = NULL;
    KS_T_CHECK_OK(NULL, ks_context_create(NULL, &ctx));
    for (int v = 0; v < V_COUNT; v++) {
        for (int fp16 = 0; fp16 < 2; fp16++) {
            ks_graph *g = head_graph(ctx, v);
            KS_T_CHECK_MSG(g != NULL, "%s: graph", vnames[v]);
            if (!g)
                continue;
            ks_model *m = NULL;
            ks_eng_desc *d = lower(ctx, g, fp16, vnames[v], &m);
            if (d) {
                int n_seg = 0;
                for (int li = 0; li < d->n_layers; li++)
                    n_seg += d->layers[li].kind == KS_LAYER_SEGMAP;
                KS_T_CHECK_MSG(n_seg == (v == V_OK), "%s (%s): %d segmap layers in %d", vnames[v],
                               fp16 ? "fp16" : "fp32", n_seg, d->n_layers);
                fprintf(stderr, "  %-30s %s: %2d layers, %d segmap\n", vnames[v], fp16 ? "fp16" : "fp32", d->n_layers,
                        n_seg);
                if (v == V_OK && n_seg == 1) {
                    const ks_eng_layer *l = NULL;
                    for (int li = 0; li < d->n_layers; li++)
                        if (d->layers[li].kind == KS_LAYER_SEGMAP)
                            l = &d->layers[li];
                    /* parts 2/2/3, programs of 3 + 3 instructions, one constant each, sigmoid first */
                    KS_T_CHECK_EQ_I(l->ip[0], 3);
                    KS_T_CHECK(l->ip[1] == 2 && l->ip[2] == 4 && l->ip[3] == 7);
                    KS_T_CHECK(l->ip[5] == (3 | 1 << 8) && l->ip[6] == (3 | 1 << 8) && l->ip[7] == 0);
                    KS_T_CHECK_EQ_I(l->ip[9], 6);
                    KS_T_CHECK_EQ_I(l->act, KS_ACT_SIGMOID);
                    KS_T_CHECK_EQ_I(l->n_in, 3);
                }
                ks__eng_desc_free(d);
                ks__free(ctx, d);
            }
            ks_model_destroy(m);
        }
    }
    test_two_heads(ctx);
    ks_context_destroy(ctx);
    return ks_t_done();
}
