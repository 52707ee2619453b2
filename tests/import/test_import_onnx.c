/* ONNX importer: graph structure, initializers (raw, typed, float16,
 * external), inputs with symbolic dims, Constant folding into constants,
 * normalization of old op forms, plugin/unsupported-op messages, standalone
 * TensorProto files. Models are built in memory (tests/import/onnx_build.h). */
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "kestrel/kestrel.h"
#include "kestrel/plugin.h"
#include "graph/ir.h"
#include "onnx/onnx_import.h"
#include "onnx/onnx_tensor.h"
#include "onnx_build.h"

static ks_context *ctx;

static ks_status import_tb(tb_model *tb, const char *ext_dir, ks_graph **g) {
    size_t n;
    uint8_t *buf = tb_pack(tb, &n);
    ks_status st = ks__onnx_import(ctx, buf, n, "test.onnx", ext_dir, g);
    free(buf);
    return st;
}

static const ks_node *find_node(const ks_graph *g, const char *op_type) {
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].op_type, op_type))
            return &g->nodes[i];
    return NULL;
}

static const ks_value *input_value(const ks_graph *g, const ks_node *n, int i) {
    if (!n || i >= n->n_inputs || n->inputs[i] < 0)
        return NULL;
    return &g->values[n->inputs[i]];
}

/* Checks input i of n is a constant int64 tensor equal to v[0..cnt). */
static int const_ints_eq(const ks_graph *g, const ks_node *n, int i, const int64_t *v, int cnt) {
    const ks_value *x = input_value(g, n, i);
    if (!x || !x->is_const || x->t.dtype != KS_DTYPE_INT64 || ks_tensor_numel(&x->t) != cnt)
        return 0;
    for (int k = 0; k < cnt; k++)
        if (((const int64_t *)x->t.data)[k] != v[k])
            return 0;
    return 1;
}

static float const_f(const ks_graph *g, const ks_node *n, int i, int k) {
    const ks_value *x = input_value(g, n, i);
    if (!x || !x->is_const || x->t.dtype != KS_DTYPE_FLOAT32)
        return NAN;
    return ((const float *)x->t.data)[k];
}

static void test_basic(void) {
    tb_model tb;
    tb_init(&tb, 7, 13);
    int64_t xd[4] = {-1, 3, 8, 8};
    tb_input(&tb, "x", TB_FLOAT, 4, xd);
    float w[2 * 3 * 3 * 3];
    for (int i = 0; i < 54; i++)
        w[i] = (float)i * 0.01f;
    tb_init_f(&tb, "w", 4, (int64_t[]){2, 3, 3, 3}, w);
    tb_input(&tb, "w", TB_FLOAT, 4, (int64_t[]){2, 3, 3, 3}); /* old exporters list initializers */
    Onnx__NodeProto *c = tb_node(&tb, "Conv", "conv1", "x,w", "c");
    tb_attr_ints(&tb, c, "pads", 4, (int64_t[]){1, 1, 1, 1});
    tb_attr_s(&tb, c, "auto_pad", "NOTSET");
    tb_node(&tb, "Relu", "", "c", "y");
    tb_output(&tb, "y", TB_FLOAT, 4, (int64_t[]){-1, 2, 8, 8});
    ks_graph *g = NULL;
    KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
    if (g) {
        KS_T_CHECK_EQ_I(g->n_inputs, 1);
        KS_T_CHECK_EQ_I(g->n_outputs, 1);
        KS_T_CHECK_EQ_I(g->n_nodes, 2);
        KS_T_CHECK_EQ_I(g->opset, 13);
        KS_T_CHECK_EQ_I(g->ir_version, 7);
        KS_T_CHECK(!strcmp(g->producer, "kestrel-test"));
        const ks_value *x = &g->values[g->inputs[0]];
        KS_T_CHECK(!strcmp(x->name, "x"));
        KS_T_CHECK_EQ_I(x->t.dtype, KS_DTYPE_FLOAT32);
        KS_T_CHECK_EQ_I(x->t.ndim, 4);
        KS_T_CHECK_EQ_I(x->t.dims[0], -1);
        KS_T_CHECK(x->dim_names[0] && !strcmp(x->dim_names[0], "N0"));
        KS_T_CHECK(x->dim_names[1] == NULL);
        KS_T_CHECK_EQ_I(x->t.dims[3], 8);
        const ks_node *conv = &g->nodes[0];
        KS_T_CHECK_EQ_I(conv->op, KS_OP_CONV);
        KS_T_CHECK(!strcmp(conv->name, "conv1"));
        const ks_value *wv = input_value(g, conv, 1);
        KS_T_CHECK(wv && wv->is_const && ((float *)wv->t.data)[53] == w[53]);
        KS_T_CHECK_EQ_I(ks__attr_ints(conv, "pads", NULL), 4);
        KS_T_CHECK(!strcmp(ks__attr_s(conv, "auto_pad", ""), "NOTSET"));
        const ks_node *relu = &g->nodes[1];
        KS_T_CHECK_EQ_I(relu->op, KS_OP_RELU);
        KS_T_CHECK(relu->name[0] != '\0'); /* synthesized */
        const ks_value *y = &g->values[g->outputs[0]];
        KS_T_CHECK(y->dim_names[0] && !strcmp(y->dim_names[0], "N0"));
    }
    ks__graph_destroy(g);
    tb_free(&tb);
}

/* Typed data fields, float16, bool, double, int8 via int32_data. */
static void test_typed_initializers(void) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    int64_t d3[1] = {3};
    Onnx__TensorProto *tf = tb_tensor_empty(&tb, "f", TB_FLOAT, 1, d3);
    float fv[3] = {1.5f, -2, 3};
    tf->n_float_data = 3;
    tf->float_data = fv;
    Onnx__TensorProto *th = tb_tensor_empty(&tb, "h", TB_FLOAT16, 1, d3);
    int32_t hv[3] = {0x3c00, 0xc000, 0x7bff}; /* 1, -2, 65504 */
    th->n_int32_data = 3;
    th->int32_data = hv;
    Onnx__TensorProto *tbo = tb_tensor_empty(&tb, "b", TB_BOOL, 1, d3);
    int32_t bv[3] = {0, 1, 5};
    tbo->n_int32_data = 3;
    tbo->int32_data = bv;
    Onnx__TensorProto *ti8 = tb_tensor_empty(&tb, "i8", TB_INT8, 1, d3);
    int32_t iv[3] = {-128, 0, 127};
    ti8->n_int32_data = 3;
    ti8->int32_data = iv;
    Onnx__TensorProto *td = tb_tensor_empty(&tb, "d", TB_DOUBLE, 0, NULL); /* scalar */
    double dv[1] = {2.25};
    td->n_double_data = 1;
    td->double_data = dv;
    Onnx__TensorProto *tl = tb_tensor_empty(&tb, "l", TB_INT64, 1, d3);
    int64_t lv[3] = {INT64_MIN, 0, INT64_MAX};
    tl->n_int64_data = 3;
    tl->int64_data = lv;
    Onnx__TensorProto *te = tb_tensor_empty(&tb, "e", TB_FLOAT, 2, (int64_t[]){0, 4}); /* empty */
    Onnx__TensorProto *all[] = {tf, th, tbo, ti8, td, tl, te};
    for (int i = 0; i < 7; i++)
        tb_add_init(&tb, all[i]);
    tb_input(&tb, "x", TB_FLOAT, 1, d3);
    tb_node(&tb, "Add", "add", "x,f", "y");
    tb_output(&tb, "y", TB_FLOAT, 1, d3);
    ks_graph *g = NULL;
    KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
    if (g) {
        const ks_value *v;
        v = &g->values[ks__graph_find_value(g, "f")];
        KS_T_CHECK(v->is_const && ((float *)v->t.data)[0] == 1.5f);
        v = &g->values[ks__graph_find_value(g, "h")];
        KS_T_CHECK_EQ_I(v->t.dtype, KS_DTYPE_FLOAT16);
        KS_T_CHECK_NEAR(ks_half_to_float(((uint16_t *)v->t.data)[1]), -2.0, 0);
        KS_T_CHECK_NEAR(ks_half_to_float(((uint16_t *)v->t.data)[2]), 65504.0, 0);
        v = &g->values[ks__graph_find_value(g, "b")];
        KS_T_CHECK_EQ_I(((uint8_t *)v->t.data)[2], 1);
        v = &g->values[ks__graph_find_value(g, "i8")];
        KS_T_CHECK_EQ_I(((int8_t *)v->t.data)[0], -128);
        v = &g->values[ks__graph_find_value(g, "d")];
        KS_T_CHECK_EQ_I(v->t.ndim, 0);
        KS_T_CHECK_NEAR(((double *)v->t.data)[0], 2.25, 0);
        v = &g->values[ks__graph_find_value(g, "l")];
        KS_T_CHECK(((int64_t *)v->t.data)[0] == INT64_MIN);
        v = &g->values[ks__graph_find_value(g, "e")];
        KS_T_CHECK_EQ_I(ks_tensor_numel(&v->t), 0);
        KS_T_CHECK_EQ_I(g->n_inputs, 1);
    }
    ks__graph_destroy(g);
    tb_free(&tb);
}

static void test_constant_nodes(void) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    tb_input(&tb, "x", TB_FLOAT, 2, (int64_t[]){2, 3});
    /* used before its Constant node appears (nodes out of order) */
    tb_node(&tb, "Add", "add", "x,cf", "a");
    Onnx__NodeProto *c1 = tb_node(&tb, "Constant", "c1", "", "cf");
    tb_attr_f(&tb, c1, "value_float", 0.5f);
    Onnx__NodeProto *c2 = tb_node(&tb, "Constant", "c2", "", "shape");
    tb_attr_ints(&tb, c2, "value_ints", 2, (int64_t[]){3, 2});
    Onnx__NodeProto *c3 = tb_node(&tb, "Constant", "c3", "", "ct");
    float tv[2] = {7, 8};
    tb_attr_t(&tb, c3, "value", tb_tensor_raw(&tb, "", TB_FLOAT, 1, (int64_t[]){2}, tv, 8));
    Onnx__NodeProto *c4 = tb_node(&tb, "Constant", "c4", "", "ci");
    tb_attr_i(&tb, c4, "value_int", -3);
    tb_node(&tb, "Reshape", "r", "a,shape", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    tb_output(&tb, "ct", TB_FLOAT, -1, NULL);
    tb_output(&tb, "ci", TB_INT64, -1, NULL);
    ks_graph *g = NULL;
    KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
    if (g) {
        KS_T_CHECK(find_node(g, "Constant") == NULL);
        KS_T_CHECK_EQ_I(g->n_nodes, 2);
        KS_T_CHECK_EQ_I(g->nodes[0].op, KS_OP_ADD); /* toposorted */
        const ks_value *cf = &g->values[ks__graph_find_value(g, "cf")];
        KS_T_CHECK(cf->is_const && cf->t.ndim == 0 && ((float *)cf->t.data)[0] == 0.5f);
        KS_T_CHECK(const_ints_eq(g, find_node(g, "Reshape"), 1, (int64_t[]){3, 2}, 2));
        const ks_value *ct = &g->values[ks__graph_find_value(g, "ct")];
        KS_T_CHECK(ct->is_const && ((float *)ct->t.data)[1] == 8.0f);
        const ks_value *ci = &g->values[ks__graph_find_value(g, "ci")];
        KS_T_CHECK(ci->is_const && ci->t.dtype == KS_DTYPE_INT64 &&
                   ((int64_t *)ci->t.data)[0] == -3);
    }
    ks__graph_destroy(g);
    tb_free(&tb);
}

/* Builds a one-node model at `opset` with input x (float 1x2x4x4). */
static Onnx__NodeProto *one_node(tb_model *tb, int opset, const char *op, const char *inputs) {
    tb_init(tb, 7, opset);
    tb_input(tb, "x", TB_FLOAT, 4, (int64_t[]){1, 2, 4, 4});
    Onnx__NodeProto *n = tb_node(tb, op, "n", inputs, "y");
    tb_output(tb, "y", TB_FLOAT, -1, NULL);
    return n;
}

static void test_legacy_forms(void) {
    tb_model tb;
    ks_graph *g;
    const ks_node *n;

    /* Slice-1 */
    Onnx__NodeProto *s = one_node(&tb, 9, "Slice", "x");
    tb_attr_ints(&tb, s, "starts", 2, (int64_t[]){1, 0});
    tb_attr_ints(&tb, s, "ends", 2, (int64_t[]){3, 2});
    tb_attr_ints(&tb, s, "axes", 2, (int64_t[]){2, 3});
    g = NULL;
    KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
    if (g && (n = find_node(g, "Slice"))) {
        KS_T_CHECK_EQ_I(n->n_inputs, 4);
        KS_T_CHECK(const_ints_eq(g, n, 1, (int64_t[]){1, 0}, 2));
        KS_T_CHECK(const_ints_eq(g, n, 2, (int64_t[]){3, 2}, 2));
        KS_T_CHECK(const_ints_eq(g, n, 3, (int64_t[]){2, 3}, 2));
        KS_T_CHECK(ks__attr_find(n, "starts") == NULL);
    }
    ks__graph_destroy(g);
    tb_free(&tb);

    /* Clip-6: min only -> (x, min, omitted) */
    Onnx__NodeProto *c = one_node(&tb, 10, "Clip", "x");
    tb_attr_f(&tb, c, "min", -1.5f);
    g = NULL;
    KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
    if (g && (n = find_node(g, "Clip"))) {
        KS_T_CHECK_EQ_I(n->n_inputs, 2);
        KS_T_CHECK(input_value(g, n, 1) && input_value(g, n, 1)->t.ndim == 0);
        KS_T_CHECK_NEAR(const_f(g, n, 1, 0), -1.5, 0);
        KS_T_CHECK(ks__attr_find(n, "min") == NULL);
    }
    ks__graph_destroy(g);
    tb_free(&tb);

    /* Pad-2 */
    Onnx__NodeProto *p = one_node(&tb, 10, "Pad", "x");
    tb_attr_ints(&tb, p, "pads", 8, (int64_t[]){0, 0, 1, 1, 0, 0, 1, 1});
    tb_attr_f(&tb, p, "value", 2.0f);
    tb_attr_s(&tb, p, "mode", "constant");
    g = NULL;
    KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
    if (g && (n = find_node(g, "Pad"))) {
        KS_T_CHECK_EQ_I(n->n_inputs, 3);
        KS_T_CHECK(const_ints_eq(g, n, 1, (int64_t[]){0, 0, 1, 1, 0, 0, 1, 1}, 8));
        KS_T_CHECK_NEAR(const_f(g, n, 2, 0), 2.0, 0);
        KS_T_CHECK(!strcmp(ks__attr_s(n, "mode", ""), "constant"));
        KS_T_CHECK(ks__attr_find(n, "pads") == NULL && ks__attr_find(n, "value") == NULL);
    }
    ks__graph_destroy(g);
    tb_free(&tb);

    /* Split-11, Squeeze-11, Unsqueeze-11, ReduceMean-13, ReduceSum-11 */
    struct {
        const char *op;
        int opset;
        const char *attr;
    } moves[] = {{"Split", 11, "split"},     {"Squeeze", 11, "axes"},   {"Unsqueeze", 11, "axes"},
                 {"ReduceMean", 13, "axes"}, {"ReduceMax", 17, "axes"}, {"ReduceSum", 11, "axes"},
                 {"ReduceL2", 13, "axes"},   {"ReduceProd", 13, "axes"}};
    for (size_t k = 0; k < KS_ARRAY_LEN(moves); k++) {
        Onnx__NodeProto *m = one_node(&tb, moves[k].opset, moves[k].op, "x");
        tb_attr_ints(&tb, m, moves[k].attr, 2, (int64_t[]){1, 1});
        g = NULL;
        KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
        if (g && (n = find_node(g, moves[k].op))) {
            KS_T_CHECK_MSG(const_ints_eq(g, n, 1, (int64_t[]){1, 1}, 2), "%s", moves[k].op);
            KS_T_CHECK_MSG(ks__attr_find(n, moves[k].attr) == NULL, "%s", moves[k].op);
        }
        ks__graph_destroy(g);
        tb_free(&tb);
    }
    /* ... and at the opset where axes is an input, attributes stay as they are */
    Onnx__NodeProto *rs = one_node(&tb, 13, "ReduceSum", "x");
    tb_attr_i(&tb, rs, "keepdims", 0);
    g = NULL;
    KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
    if (g && (n = find_node(g, "ReduceSum")))
        KS_T_CHECK_EQ_I(n->n_inputs, 1);
    ks__graph_destroy(g);
    tb_free(&tb);

    /* Upsample-7 (scales attr) and -9 (scales input) -> Resize */
    for (int v = 7; v <= 9; v += 2) {
        Onnx__NodeProto *u = one_node(&tb, v, "Upsample", v == 7 ? "x" : "x,sc");
        float sc[4] = {1, 1, 2, 2};
        if (v == 7)
            tb_attr_floats(&tb, u, "scales", 4, sc);
        else
            tb_init_f(&tb, "sc", 1, (int64_t[]){4}, sc);
        tb_attr_s(&tb, u, "mode", v == 7 ? "bilinear" : "nearest");
        g = NULL;
        KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
        if (g) {
            n = find_node(g, "Resize");
            KS_T_CHECK(n != NULL && n->op == KS_OP_RESIZE);
            if (n) {
                KS_T_CHECK_EQ_I(n->n_inputs, 3);
                KS_T_CHECK(n->inputs[1] == -1);
                KS_T_CHECK_NEAR(const_f(g, n, 2, 3), 2.0, 0);
                KS_T_CHECK(!strcmp(ks__attr_s(n, "mode", ""), v == 7 ? "linear" : "nearest"));
                KS_T_CHECK(
                    !strcmp(ks__attr_s(n, "coordinate_transformation_mode", ""), "asymmetric"));
                KS_T_CHECK(!strcmp(ks__attr_s(n, "nearest_mode", ""), "floor"));
                KS_T_CHECK(ks__attr_find(n, "scales") == NULL);
            }
        }
        ks__graph_destroy(g);
        tb_free(&tb);
    }

    /* Resize-10 downsampling: (x, scales) -> (x, -, scales), nearest rounds up */
    Onnx__NodeProto *r = one_node(&tb, 10, "Resize", "x,sc");
    tb_init_f(&tb, "sc", 1, (int64_t[]){4}, (float[]){1, 1, 0.5f, 0.5f});
    (void)r;
    g = NULL;
    KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
    if (g && (n = find_node(g, "Resize"))) {
        KS_T_CHECK_EQ_I(n->n_inputs, 3);
        KS_T_CHECK(n->inputs[1] == -1);
        KS_T_CHECK(!strcmp(ks__attr_s(n, "nearest_mode", ""), "ceil"));
    }
    ks__graph_destroy(g);
    tb_free(&tb);

    /* TopK-1 */
    Onnx__NodeProto *t = one_node(&tb, 9, "TopK", "x");
    t->n_output = 2;
    t->output = (char *[]){"vals", "idx"};
    tb.outputs[0]->name = "vals";
    tb_attr_i(&tb, t, "k", 3);
    g = NULL;
    KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
    if (g && (n = find_node(g, "TopK")))
        KS_T_CHECK(const_ints_eq(g, n, 1, (int64_t[]){3}, 1));
    ks__graph_destroy(g);
    tb_free(&tb);

    /* Dropout-10 ratio, BatchNormalization-7 spatial/is_test */
    Onnx__NodeProto *d = one_node(&tb, 10, "Dropout", "x");
    tb_attr_f(&tb, d, "ratio", 0.25f);
    g = NULL;
    KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
    if (g && (n = find_node(g, "Dropout"))) {
        KS_T_CHECK_NEAR(const_f(g, n, 1, 0), 0.25, 0);
        KS_T_CHECK(ks__attr_find(n, "ratio") == NULL);
    }
    ks__graph_destroy(g);
    tb_free(&tb);

    Onnx__NodeProto *b = one_node(&tb, 7, "BatchNormalization", "x,s,bb,m,v");
    for (int k = 0; k < 4; k++)
        tb_init_f(&tb, (const char *[]){"s", "bb", "m", "v"}[k], 1, (int64_t[]){2},
                  (float[]){1, 1});
    tb_attr_i(&tb, b, "spatial", 1);
    tb_attr_i(&tb, b, "is_test", 1);
    tb_attr_f(&tb, b, "epsilon", 1e-5f);
    g = NULL;
    KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
    if (g && (n = find_node(g, "BatchNormalization"))) {
        KS_T_CHECK(ks__attr_find(n, "spatial") == NULL && ks__attr_find(n, "is_test") == NULL);
        KS_T_CHECK(ks__attr_find(n, "epsilon") != NULL);
    }
    ks__graph_destroy(g);
    tb_free(&tb);
    b = one_node(&tb, 7, "BatchNormalization", "x,s,bb,m,v");
    for (int k = 0; k < 4; k++)
        tb_init_f(&tb, (const char *[]){"s", "bb", "m", "v"}[k], 1, (int64_t[]){2},
                  (float[]){1, 1});
    tb_attr_i(&tb, b, "spatial", 0);
    g = NULL;
    KS_T_CHECK_EQ_I(import_tb(&tb, NULL, &g), KS_UNSUPPORTED_ATTR);
    KS_T_CHECK(strstr(ks_context_last_error(ctx), "spatial") != NULL);
    ks__graph_destroy(g);
    tb_free(&tb);

    /* Opset 6: Relu accepted (unchanged), Add refused (broadcast attribute form) */
    one_node(&tb, 6, "Relu", "x");
    g = NULL;
    KS_T_CHECK_OK(ctx, import_tb(&tb, NULL, &g));
    ks__graph_destroy(g);
    tb_free(&tb);
    one_node(&tb, 6, "Add", "x,x");
    g = NULL;
    KS_T_CHECK_EQ_I(import_tb(&tb, NULL, &g), KS_VERSION_MISMATCH);
    KS_T_CHECK(strstr(ks_context_last_error(ctx), "Add") != NULL);
    tb_free(&tb);
}

/* Runs old forms end to end: Slice-1 and Upsample-7 through the executor. */
static void test_legacy_numeric(void) {
    tb_model tb;
    Onnx__NodeProto *s = one_node(&tb, 9, "Slice", "x");
    tb_attr_ints(&tb, s, "starts", 2, (int64_t[]){1, 2});
    tb_attr_ints(&tb, s, "ends", 2, (int64_t[]){3, 100});
    tb_attr_ints(&tb, s, "axes", 2, (int64_t[]){2, 3});
    size_t len;
    uint8_t *buf = tb_pack(&tb, &len);
    ks_model *m = NULL;
    KS_T_CHECK_OK(ctx, ks_model_load_memory(ctx, buf, len, NULL, &m));
    free(buf);
    tb_free(&tb);
    float x[32];
    for (int i = 0; i < 32; i++)
        x[i] = (float)i;
    ks_tensor in = {KS_DTYPE_FLOAT32, 4, {1, 2, 4, 4}, x};
    const char *nm = "x";
    ks_session *se = NULL;
    if (m) {
        KS_T_CHECK_OK(ctx, ks_session_create(m, NULL, &se));
        ks_tensor out[1];
        memset(out, 0, sizeof out);
        if (se) {
            KS_T_CHECK_OK(ctx, ks_session_run(se, 1, &nm, &in, 0, NULL, out));
            if (out[0].data) {
                KS_T_CHECK_EQ_I(out[0].dims[2], 2);
                KS_T_CHECK_EQ_I(out[0].dims[3], 2);
                /* x[0,0,1,2] = 6, x[0,1,2,3] = 16 + 11 = 27 */
                KS_T_CHECK_NEAR(((float *)out[0].data)[0], 6.0, 0);
                KS_T_CHECK_NEAR(((float *)out[0].data)[7], 27.0, 0);
            }
            ks_tensor_release(ctx, &out[0]);
        }
    }
    ks_session_destroy(se);
    ks_model_destroy(m);

    Onnx__NodeProto *u = one_node(&tb, 7, "Upsample", "x");
    tb_attr_floats(&tb, u, "scales", 4, (float[]){1, 1, 2, 2});
    buf = tb_pack(&tb, &len);
    m = NULL;
    se = NULL;
    KS_T_CHECK_OK(ctx, ks_model_load_memory(ctx, buf, len, NULL, &m));
    free(buf);
    tb_free(&tb);
    if (m) {
        KS_T_CHECK_OK(ctx, ks_session_create(m, NULL, &se));
        ks_tensor out[1];
        memset(out, 0, sizeof out);
        if (se) {
            KS_T_CHECK_OK(ctx, ks_session_run(se, 1, &nm, &in, 0, NULL, out));
            if (out[0].data) {
                KS_T_CHECK_EQ_I(out[0].dims[3], 8);
                /* nearest, asymmetric, floor: y[0,0,3,5] = x[0,0,1,2] = 6 */
                KS_T_CHECK_NEAR(((float *)out[0].data)[3 * 8 + 5], 6.0, 0);
            }
            ks_tensor_release(ctx, &out[0]);
        }
    }
    ks_session_destroy(se);
    ks_model_destroy(m);
}

static void test_external_data(void) {
    char dir[] = "/tmp/ks_ext_XXXXXX";
    if (!mkdtemp(dir)) {
        KS_T_CHECK(0);
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    FILE *f = fopen(path, "wb");
    float junk[2] = {99, 99}, vals[3] = {1, 2, 3};
    fwrite(junk, 4, 2, f);
    fwrite(vals, 4, 3, f);
    fclose(f);
    struct {
        const char *loc, *off, *len;
        ks_status want;
        const char *msg;
    } cases[] = {
        {"weights.bin", "8", "12", KS_OK, NULL},
        {"./weights.bin", "8", NULL, KS_OK, NULL},
        {"weights.bin", "8", "8", KS_INVALID_MODEL, "length"},
        {"weights.bin", "12", "12", KS_CORRUPT_FILE, "exceeds"},
        {"weights.bin", "18446744073709551615", "12", KS_CORRUPT_FILE, "exceeds"},
        {"weights.bin", "-4", "12", KS_INVALID_MODEL, "offset"},
        {"../weights.bin", "0", "12", KS_INVALID_MODEL, "leaves the model directory"},
        {"a/../../etc/passwd", "0", "12", KS_INVALID_MODEL, "leaves the model directory"},
        {"/etc/passwd", "0", "12", KS_INVALID_MODEL, "absolute"},
        {"escape", "0", "12", KS_INVALID_MODEL, "outside"},
        {"missing.bin", "0", "12", KS_IO_ERROR, "missing.bin"},
        {"", "0", "12", KS_INVALID_MODEL, "location"},
    };
    char link[300];
    snprintf(link, sizeof link, "%s/escape", dir);
    KS_T_CHECK(symlink("/etc/hostname", link) == 0);
    for (size_t k = 0; k < KS_ARRAY_LEN(cases); k++) {
        tb_model tb;
        tb_init(&tb, 8, 13);
        Onnx__TensorProto *t = tb_tensor_empty(&tb, "w", TB_FLOAT, 1, (int64_t[]){3});
        t->has_data_location = 1;
        t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        t->external_data = tb_alloc(&tb, 3 * sizeof(void *));
        const char *keys[3] = {"location", "offset", "length"};
        const char *vs[3] = {cases[k].loc, cases[k].off, cases[k].len};
        for (int i = 0; i < 3; i++) {
            if (!vs[i])
                continue;
            Onnx__StringStringEntryProto *kv = tb_alloc(&tb, sizeof *kv);
            static const Onnx__StringStringEntryProto kv0 = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
            *kv = kv0;
            kv->key = (char *)keys[i];
            kv->value = (char *)vs[i];
            t->external_data[t->n_external_data++] = kv;
        }
        tb_add_init(&tb, t);
        tb_input(&tb, "x", TB_FLOAT, 1, (int64_t[]){3});
        tb_node(&tb, "Add", "add", "x,w", "y");
        tb_output(&tb, "y", TB_FLOAT, 1, (int64_t[]){3});
        ks_graph *g = NULL;
        ks_status st = import_tb(&tb, dir, &g);
        KS_T_CHECK_MSG(st == cases[k].want, "case %zu (%s): %s: %s", k, cases[k].loc,
                       ks_status_name(st), ks_context_last_error(ctx));
        if (cases[k].msg)
            KS_T_CHECK_MSG(strstr(ks_context_last_error(ctx), cases[k].msg) != NULL, "case %zu: %s",
                           k, ks_context_last_error(ctx));
        if (g) {
            const ks_value *w = &g->values[ks__graph_find_value(g, "w")];
            KS_T_CHECK(((float *)w->t.data)[2] == 3.0f);
        }
        ks__graph_destroy(g);
        /* from memory without a directory: refused with a hint */
        if (k == 0) {
            g = NULL;
            KS_T_CHECK_EQ_I(import_tb(&tb, NULL, &g), KS_INVALID_ARGUMENT);
            KS_T_CHECK(strstr(ks_context_last_error(ctx), "external_data_dir") != NULL);
        }
        tb_free(&tb);
    }
    unlink(link);
    unlink(path);
    rmdir(dir);
}

static void test_unsupported_messages(void) {
    tb_model tb;
    one_node(&tb, 13, "NonMaxSuppressionX", "x");
    ks_graph *g = NULL;
    KS_T_CHECK_EQ_I(import_tb(&tb, NULL, &g), KS_UNSUPPORTED_OP);
    const char *e = ks_context_last_error(ctx);
    KS_T_CHECK_MSG(strstr(e, "test.onnx") && strstr(e, "'n'") && strstr(e, "NonMaxSuppressionX") &&
                       strstr(e, "opset 13") && strstr(e, "unsupported operator"),
                   "%s", e);
    tb_free(&tb);

    Onnx__NodeProto *n = one_node(&tb, 13, "FancyOp", "x");
    n->domain = "com.example";
    tb_add_opset(&tb, "com.example", 3);
    g = NULL;
    KS_T_CHECK_EQ_I(import_tb(&tb, NULL, &g), KS_UNSUPPORTED_OP);
    e = ks_context_last_error(ctx);
    KS_T_CHECK_MSG(strstr(e, "com.example") && strstr(e, "FancyOp") && strstr(e, "opset 3"), "%s",
                   e);
    ks__graph_destroy(g);
    tb_free(&tb);

    /* string graph input */
    tb_init(&tb, 8, 13);
    tb_input(&tb, "names", TB_STRING, 1, (int64_t[]){2});
    tb_node(&tb, "Identity", "id", "names", "y");
    tb_output(&tb, "y", TB_STRING, 1, (int64_t[]){2});
    g = NULL;
    KS_T_CHECK_EQ_I(import_tb(&tb, NULL, &g), KS_UNSUPPORTED_DTYPE);
    KS_T_CHECK(strstr(ks_context_last_error(ctx), "'names'") &&
               strstr(ks_context_last_error(ctx), "STRING"));
    tb_free(&tb);
}

static void test_tensor_pb(void) {
    float v[4] = {1, 2, 3, 4};
    tb_model tb;
    tb_init(&tb, 8, 13);
    Onnx__TensorProto *t = tb_tensor_raw(&tb, "input_0", TB_FLOAT, 2, (int64_t[]){2, 2}, v, 16);
    size_t n = onnx__tensor_proto__get_packed_size(t);
    uint8_t *buf = malloc(n);
    onnx__tensor_proto__pack(t, buf);
    char path[] = "/tmp/ks_tensor_XXXXXX";
    int fd = mkstemp(path);
    KS_T_CHECK(fd >= 0 && write(fd, buf, n) == (ssize_t)n);
    close(fd);
    ks_tensor out;
    char *name = NULL;
    KS_T_CHECK_OK(ctx, ks__onnx_load_tensor_pb(ctx, path, &out, &name));
    KS_T_CHECK(name && !strcmp(name, "input_0"));
    KS_T_CHECK(out.ndim == 2 && out.dims[1] == 2 && ((float *)out.data)[3] == 4.0f);
    ks_tensor_release(ctx, &out);
    ks__free(ctx, name);
    /* truncated file */
    KS_T_CHECK(truncate(path, (off_t)n - 3) == 0);
    KS_T_CHECK(ks__onnx_load_tensor_pb(ctx, path, &out, &name) != KS_OK);
    KS_T_CHECK(out.data == NULL);
    unlink(path);
    free(buf);
    tb_free(&tb);
}

/* Plugins: a custom-domain op claimed by a registered plugin, a preferred
 * plugin replacing a built-in op, and no leak when the import fails after
 * the plugin node was created. */
static void test_plugins(void) {
    const ks_plugin_desc *prelu = ks_plugin_builtin("PRelu");
    if (!prelu) {
        fprintf(stderr, "note: no built-in PRelu plugin; skipping plugin cases\n");
        return;
    }
    ks_context *pc = NULL;
    KS_T_CHECK(ks_context_create(NULL, &pc) == KS_OK);
    KS_T_CHECK_OK(pc, ks_plugin_register(pc, prelu));
    for (int k = 0; k < 3; k++) {
        tb_model tb;
        tb_init(&tb, 7, 13);
        tb_input(&tb, "x", TB_FLOAT, 4, (int64_t[]){1, 2, 4, 4});
        tb_init_f(&tb, "slope", 3, (int64_t[]){2, 1, 1}, (float[]){0.1f, 0.2f});
        Onnx__NodeProto *n = tb_node(&tb, "PRelu", "p", "x,slope", k == 2 ? "t" : "y");
        if (k != 1) {
            n->domain = "com.vendor";
            tb_add_opset(&tb, "com.vendor", 1);
        }
        if (k == 2)
            tb_node(&tb, "NoSuchOp", "bad", "t", "y");
        tb_output(&tb, "y", TB_FLOAT, -1, NULL);
        if (k == 1)
            KS_T_CHECK_OK(pc, ks_plugin_prefer(pc, "PRelu", 1));
        size_t len;
        uint8_t *buf = tb_pack(&tb, &len);
        ks_graph *g = NULL;
        ks_status st = ks__onnx_import(pc, buf, len, "plugin.onnx", NULL, &g);
        if (k < 2) {
            KS_T_CHECK_OK(pc, st);
            const ks_node *pn = g ? find_node(g, "PRelu") : NULL;
            KS_T_CHECK(pn && pn->op == KS_OP_PLUGIN && pn->plugin != NULL);
        } else {
            KS_T_CHECK_EQ_I(st, KS_UNSUPPORTED_OP);
            KS_T_CHECK(strstr(ks_context_last_error(pc), "NoSuchOp") != NULL);
        }
        ks__graph_destroy(g);
        free(buf);
        tb_free(&tb);
    }
    ks_context_destroy(pc);
}

int main(void) {
    KS_T_CHECK(ks_context_create(NULL, &ctx) == KS_OK);
    test_basic();
    test_typed_initializers();
    test_constant_nodes();
    test_legacy_forms();
    test_legacy_numeric();
    test_external_data();
    test_unsupported_messages();
    test_tensor_pb();
    test_plugins();
    ks_context_destroy(ctx);
    return ks_t_done();
}
