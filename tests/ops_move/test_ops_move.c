/* Unit tests for the data-movement / shape ops: shape inference (with and
 * without constant data) and the CPU reference kernels, run through
 * ks__node_infer / ks__node_run_cpu on hand-built nodes. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "graph/ir.h"

static ks_context *ctx;
static ks_graph *g;

/* ---- node building ---- */
static int node(const char *op, int nin, int nout) {
    int ins[16], outs[16];
    char nm[64];
    for (int i = 0; i < nin; i++) {
        snprintf(nm, sizeof nm, "n%d_in%d", g->n_nodes, i);
        ks__graph_add_value(g, nm, 1, &ins[i]);
    }
    for (int i = 0; i < nout; i++) {
        snprintf(nm, sizeof nm, "n%d_out%d", g->n_nodes, i);
        ks__graph_add_value(g, nm, 1, &outs[i]);
    }
    snprintf(nm, sizeof nm, "%s_node%d", op, g->n_nodes);
    int idx = -1;
    ks_status st = ks__graph_add_node(g, nm, op, "", 17, nin, ins, nout, outs, &idx);
    KS_T_CHECK_MSG(st == KS_OK, "add node %s", op);
    return idx;
}
static void attr_i(int n, const char *name, int64_t v) {
    ks_attr a = {0};
    a.name = (char *)name;
    a.type = KS_ATTR_INT;
    a.i = v;
    ks__node_add_attr(g, n, &a);
}
static void attr_f(int n, const char *name, float v) {
    ks_attr a = {0};
    a.name = (char *)name;
    a.type = KS_ATTR_FLOAT;
    a.f = v;
    ks__node_add_attr(g, n, &a);
}
static void attr_ints(int n, const char *name, const int64_t *v, int k) {
    ks_attr a = {0};
    a.name = (char *)name;
    a.type = KS_ATTR_INTS;
    a.n = k;
    a.ints = (int64_t *)v;
    ks__node_add_attr(g, n, &a);
}
static void attr_s(int n, const char *name, const char *s) {
    ks_attr a = {0};
    a.name = (char *)name;
    a.type = KS_ATTR_STRING;
    a.s = (char *)s;
    ks__node_add_attr(g, n, &a);
}
static void attr_t(int n, const char *name, const ks_tensor *t) {
    ks_attr a = {0};
    a.name = (char *)name;
    a.type = KS_ATTR_TENSOR;
    a.t = *t;
    ks__node_add_attr(g, n, &a);
}

static ks_tensor T(ks_dtype dt, int nd, const int64_t *dims, const void *data) {
    ks_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.ndim = nd;
    for (int i = 0; i < nd; i++)
        t.dims[i] = dims[i];
    t.data = (void *)data;
    return t;
}
#define D(...) ((const int64_t[]){__VA_ARGS__})
#define DN(...) (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), D(__VA_ARGS__)

static ks_status run(int n, const ks_tensor *const *in, ks_tensor *out) {
    return ks__node_run_cpu(g, &g->nodes[n], in, out);
}
static ks_status infer(int n, const ks_tensor *const *in, ks_tensor *out) {
    return ks__node_infer(g, &g->nodes[n], in, out);
}
static void rel(ks_tensor *o, int n) {
    for (int i = 0; i < n; i++)
        ks_tensor_release(ctx, &o[i]);
}
static int shape_is(const ks_tensor *t, int nd, const int64_t *d) {
    if (t->ndim != nd)
        return 0;
    for (int i = 0; i < nd; i++)
        if (t->dims[i] != d[i])
            return 0;
    return 1;
}
#define CHECK_SHAPE(t, ...)                                                        \
    do {                                                                           \
        char b_[96];                                                               \
        KS_T_CHECK_MSG(shape_is((t), DN(__VA_ARGS__)), "got %s (ndim %d)",         \
                       ks_shape_str((t)->dims, (t)->ndim, b_, sizeof b_), (t)->ndim); \
    } while (0)
#define CHECK_ERR_HAS(st, want, text)                                                    \
    do {                                                                                 \
        KS_T_CHECK_MSG((st) == (want), "status %s", ks_status_name(st));                 \
        KS_T_CHECK_MSG(strstr(ks_context_last_error(ctx), (text)) != NULL, "message: %s", \
                       ks_context_last_error(ctx));                                      \
    } while (0)

static void check_f32(const ks_tensor *o, const float *want, int64_t n) {
    KS_T_CHECK_EQ_I(ks_tensor_numel(o), n);
    for (int64_t i = 0; i < n && i < ks_tensor_numel(o); i++)
        KS_T_CHECK_MSG(((const float *)o->data)[i] == want[i], "elem %lld: %g vs %g", (long long)i,
                       ((const float *)o->data)[i], want[i]);
}
static void check_i64(const ks_tensor *o, const int64_t *want, int64_t n) {
    KS_T_CHECK_EQ_I(ks_tensor_numel(o), n);
    for (int64_t i = 0; i < n && i < ks_tensor_numel(o); i++)
        KS_T_CHECK_MSG(((const int64_t *)o->data)[i] == want[i], "elem %lld: %lld vs %lld",
                       (long long)i, (long long)((const int64_t *)o->data)[i],
                       (long long)want[i]);
}

static float iota_f[4096];

/* ---------------------------------------------------------------- tests */

static void test_cast(void) {
    const float xf[] = {2.7f, -2.7f, 1e10f, -1e10f, NAN, 0.0f, 300.0f, -5.0f};
    ks_tensor x = T(KS_DTYPE_FLOAT32, 1, D(8), xf), o[1];
    const ks_tensor *in[] = {&x};
    int n = node("Cast", 1, 1);
    attr_i(n, "to", 6); /* int32 */
    KS_T_CHECK_OK(ctx, run(n, in, o));
    const int32_t w32[] = {2, -2, INT32_MAX, INT32_MIN, 0, 0, 300, -5};
    for (int i = 0; i < 8; i++)
        KS_T_CHECK_EQ_I(((int32_t *)o[0].data)[i], w32[i]);
    rel(o, 1);
    n = node("Cast", 1, 1);
    attr_i(n, "to", 2); /* uint8 */
    KS_T_CHECK_OK(ctx, run(n, in, o));
    const uint8_t wu8[] = {2, 0, 255, 0, 0, 0, 255, 0};
    for (int i = 0; i < 8; i++)
        KS_T_CHECK_EQ_I(((uint8_t *)o[0].data)[i], wu8[i]);
    rel(o, 1);
    n = node("Cast", 1, 1);
    attr_i(n, "to", 9); /* bool */
    KS_T_CHECK_OK(ctx, run(n, in, o));
    const uint8_t wb[] = {1, 1, 1, 1, 1, 0, 1, 1};
    for (int i = 0; i < 8; i++)
        KS_T_CHECK_EQ_I(((uint8_t *)o[0].data)[i], wb[i]);
    rel(o, 1);
    /* int64 -> int8 wraps; int64 -> float16 -> float */
    const int64_t xi[] = {300, -129, 5, 70000};
    ks_tensor xi_t = T(KS_DTYPE_INT64, 2, D(2, 2), xi);
    const ks_tensor *in2[] = {&xi_t};
    n = node("Cast", 1, 1);
    attr_i(n, "to", 3);
    KS_T_CHECK_OK(ctx, run(n, in2, o));
    CHECK_SHAPE(&o[0], 2, 2);
    const int8_t w8[] = {44, 127, 5, 112};
    for (int i = 0; i < 4; i++)
        KS_T_CHECK_EQ_I(((int8_t *)o[0].data)[i], w8[i]);
    rel(o, 1);
    n = node("Cast", 1, 1);
    attr_i(n, "to", 10);
    KS_T_CHECK_OK(ctx, run(n, in2, o));
    KS_T_CHECK(o[0].dtype == KS_DTYPE_FLOAT16);
    KS_T_CHECK_NEAR(ks_half_to_float(((uint16_t *)o[0].data)[0]), 300.0, 0);
    KS_T_CHECK(isinf(ks_half_to_float(((uint16_t *)o[0].data)[3]))); /* 70000 > fp16 max */
    /* float16 -> float64 -> int64 */
    ks_tensor h = o[0];
    const ks_tensor *in3[] = {&h};
    ks_tensor o2[1];
    n = node("Cast", 1, 1);
    attr_i(n, "to", 11);
    KS_T_CHECK_OK(ctx, run(n, in3, o2));
    KS_T_CHECK_NEAR(((double *)o2[0].data)[1], -129.0, 0);
    rel(o2, 1);
    rel(o, 1);
    /* bool -> float */
    const uint8_t xb[] = {0, 1, 1};
    ks_tensor b = T(KS_DTYPE_BOOL, 1, D(3), xb);
    const ks_tensor *in4[] = {&b};
    n = node("Cast", 1, 1);
    attr_i(n, "to", 1);
    KS_T_CHECK_OK(ctx, run(n, in4, o));
    check_f32(&o[0], (const float[]){0, 1, 1}, 3);
    rel(o, 1);
    /* unsupported target (string) */
    n = node("Cast", 1, 1);
    attr_i(n, "to", 8);
    CHECK_ERR_HAS(infer(n, in4, o), KS_UNSUPPORTED_DTYPE, "Cast_node");
}

static void test_concat(void) {
    const int64_t a[] = {1, 2, 3, 4}, b[] = {5, 6};
    ks_tensor ta = T(KS_DTYPE_INT64, 2, D(2, 2), a), tb = T(KS_DTYPE_INT64, 2, D(2, 1), b), o[1];
    const ks_tensor *in[] = {&ta, &tb};
    int n = node("Concat", 2, 1);
    attr_i(n, "axis", -1);
    KS_T_CHECK_OK(ctx, run(n, in, o));
    CHECK_SHAPE(&o[0], 2, 3);
    check_i64(&o[0], (const int64_t[]){1, 2, 5, 3, 4, 6}, 6);
    rel(o, 1);
    /* unknown dim -> unknown axis sum; mismatch -> error */
    ks_tensor ua = T(KS_DTYPE_INT64, 2, D(2, -1), NULL), ub = T(KS_DTYPE_INT64, 2, D(-1, 3), NULL);
    const ks_tensor *in2[] = {&ua, &ub};
    KS_T_CHECK_OK(ctx, infer(n, in2, o));
    CHECK_SHAPE(&o[0], 2, -1);
    ks_tensor bad = T(KS_DTYPE_INT64, 2, D(3, 1), b);
    const ks_tensor *in3[] = {&ta, &bad};
    CHECK_ERR_HAS(infer(n, in3, o), KS_UNSUPPORTED_SHAPE, "Concat_node");
}

static void test_reshape(void) {
    ks_tensor x = T(KS_DTYPE_FLOAT32, 3, D(1, 3, 4), iota_f), o[1];
    const int64_t s1[] = {0, -1, 2};
    ks_tensor ts = T(KS_DTYPE_INT64, 1, D(3), s1);
    const ks_tensor *in[] = {&x, &ts};
    int n = node("Reshape", 2, 1);
    KS_T_CHECK_OK(ctx, run(n, in, o));
    CHECK_SHAPE(&o[0], 1, 6, 2);
    check_f32(&o[0], iota_f, 12);
    rel(o, 1);
    /* allowzero: a 0 is a real 0 */
    const int64_t s2[] = {0, 4};
    ks_tensor x0 = T(KS_DTYPE_FLOAT32, 2, D(0, 4), iota_f), ts2 = T(KS_DTYPE_INT64, 1, D(2), s2);
    const ks_tensor *in2[] = {&x0, &ts2};
    n = node("Reshape", 2, 1);
    attr_i(n, "allowzero", 1);
    KS_T_CHECK_OK(ctx, infer(n, in2, o));
    CHECK_SHAPE(&o[0], 0, 4);
    /* bad target: error names the node and both shapes */
    const int64_t s3[] = {5, -1};
    ks_tensor ts3 = T(KS_DTYPE_INT64, 1, D(2), s3);
    const ks_tensor *in3[] = {&x, &ts3};
    n = node("Reshape", 2, 1);
    CHECK_ERR_HAS(infer(n, in3, o), KS_INVALID_MODEL, "cannot reshape 1x3x4 (12 elements) to 5x?");
    KS_T_CHECK(strstr(ks_context_last_error(ctx), "Reshape_node") != NULL);
    /* shape not constant: rank from the shape input's length, dims unknown */
    ks_tensor tsu = T(KS_DTYPE_INT64, 1, D(4), NULL);
    const ks_tensor *in4[] = {&x, &tsu};
    KS_T_CHECK_OK(ctx, infer(n, in4, o));
    CHECK_SHAPE(&o[0], -1, -1, -1, -1);
    /* unknown input dim with 0 copy and -1 */
    ks_tensor xu = T(KS_DTYPE_FLOAT32, 3, D(-1, 3, 4), NULL);
    const int64_t s5[] = {0, -1};
    ks_tensor ts5 = T(KS_DTYPE_INT64, 1, D(2), s5);
    const ks_tensor *in5[] = {&xu, &ts5};
    KS_T_CHECK_OK(ctx, infer(n, in5, o));
    CHECK_SHAPE(&o[0], -1, -1);
    /* Flatten */
    ks_tensor x4 = T(KS_DTYPE_FLOAT32, 4, D(2, 3, 4, 5), iota_f);
    const ks_tensor *in6[] = {&x4};
    n = node("Flatten", 1, 1);
    attr_i(n, "axis", -1);
    KS_T_CHECK_OK(ctx, run(n, in6, o));
    CHECK_SHAPE(&o[0], 24, 5);
    check_f32(&o[0], iota_f, 120);
    rel(o, 1);
    n = node("Flatten", 1, 1);
    attr_i(n, "axis", 0);
    KS_T_CHECK_OK(ctx, infer(n, in6, o));
    CHECK_SHAPE(&o[0], 1, 120);
}

static void test_transpose(void) {
    ks_tensor x = T(KS_DTYPE_FLOAT32, 3, D(2, 3, 4), iota_f), o[1];
    const ks_tensor *in[] = {&x};
    int n = node("Transpose", 1, 1);
    attr_ints(n, "perm", D(1, 2, 0), 3);
    KS_T_CHECK_OK(ctx, run(n, in, o));
    CHECK_SHAPE(&o[0], 3, 4, 2);
    int bad = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 2; k++)
                bad += ((float *)o[0].data)[(i * 4 + j) * 2 + k] != iota_f[(k * 3 + i) * 4 + j];
    KS_T_CHECK_EQ_I(bad, 0);
    rel(o, 1);
    n = node("Transpose", 1, 1); /* default: reverse */
    KS_T_CHECK_OK(ctx, run(n, in, o));
    CHECK_SHAPE(&o[0], 4, 3, 2);
    bad = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++)
                bad += ((float *)o[0].data)[(i * 3 + j) * 2 + k] != iota_f[(k * 3 + j) * 4 + i];
    KS_T_CHECK_EQ_I(bad, 0);
    rel(o, 1);
    /* 6-D pixel shuffle on float16 (sub-pixel CNN) */
    uint16_t h[1 * 1 * 3 * 3 * 2 * 2];
    for (int i = 0; i < 36; i++)
        h[i] = ks_float_to_half((float)i);
    ks_tensor x6 = T(KS_DTYPE_FLOAT16, 6, D(1, 1, 3, 3, 2, 2), h);
    const ks_tensor *in6[] = {&x6};
    n = node("Transpose", 1, 1);
    attr_ints(n, "perm", D(0, 1, 4, 2, 5, 3), 6);
    KS_T_CHECK_OK(ctx, run(n, in6, o));
    CHECK_SHAPE(&o[0], 1, 1, 2, 3, 2, 3);
    bad = 0;
    /* out[0,0,a,b,c,d] = in[0,0,b,d,a,c] */
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 2; c++)
                for (int d = 0; d < 3; d++)
                    bad += ((uint16_t *)o[0].data)[((a * 3 + b) * 2 + c) * 3 + d] !=
                           h[((b * 3 + d) * 2 + a) * 2 + c];
    KS_T_CHECK_EQ_I(bad, 0);
    rel(o, 1);
    n = node("Transpose", 1, 1);
    attr_ints(n, "perm", D(0, 0, 1), 3);
    CHECK_ERR_HAS(infer(n, in, o), KS_INVALID_MODEL, "perm");
}

static void test_slice(void) {
    /* x = 0..19 as 4x5 */
    ks_tensor x = T(KS_DTYPE_FLOAT32, 2, D(4, 5), iota_f), o[1];
    ks_tensor st = T(KS_DTYPE_INT64, 1, D(2), D(-1, INT64_MAX)),
              en = T(KS_DTYPE_INT64, 1, D(2), D(INT64_MIN, 1)),
              ax = T(KS_DTYPE_INT64, 1, D(2), D(0, -1)), sp = T(KS_DTYPE_INT64, 1, D(2), D(-2, -3));
    const ks_tensor *in[] = {&x, &st, &en, &ax, &sp};
    int n = node("Slice", 5, 1);
    KS_T_CHECK_OK(ctx, run(n, in, o));
    /* rows 3,1; cols 4 (start clamped to 4, end 1, step -3 -> 4 only) */
    CHECK_SHAPE(&o[0], 2, 1);
    check_f32(&o[0], (const float[]){19, 9}, 2);
    rel(o, 1);
    /* default axes and steps; end out of bounds */
    ks_tensor st2 = T(KS_DTYPE_INT32, 1, D(2), (const int32_t[]){1, -3}),
              en2 = T(KS_DTYPE_INT32, 1, D(2), (const int32_t[]){1000, -1});
    const ks_tensor *in2[] = {&x, &st2, &en2};
    n = node("Slice", 3, 1);
    KS_T_CHECK_OK(ctx, run(n, in2, o));
    CHECK_SHAPE(&o[0], 3, 2);
    check_f32(&o[0], (const float[]){7, 8, 12, 13, 17, 18}, 6);
    rel(o, 1);
    /* start out of bounds -> empty */
    ks_tensor st3 = T(KS_DTYPE_INT64, 1, D(1), D(10)), en3 = T(KS_DTYPE_INT64, 1, D(1), D(20));
    const ks_tensor *in3[] = {&x, &st3, &en3};
    n = node("Slice", 3, 1);
    KS_T_CHECK_OK(ctx, run(n, in3, o));
    CHECK_SHAPE(&o[0], 0, 5);
    rel(o, 1);
    /* non-constant starts, constant axes: only that axis unknown */
    ks_tensor stu = T(KS_DTYPE_INT64, 1, D(1), NULL), axc = T(KS_DTYPE_INT64, 1, D(1), D(1));
    const ks_tensor *in4[] = {&x, &stu, &en3, &axc};
    n = node("Slice", 4, 1);
    KS_T_CHECK_OK(ctx, infer(n, in4, o));
    CHECK_SHAPE(&o[0], 4, -1);
    /* step 0 -> error */
    ks_tensor sp0 = T(KS_DTYPE_INT64, 1, D(1), D(0));
    const ks_tensor *in5[] = {&x, &st3, &en3, &axc, &sp0};
    n = node("Slice", 5, 1);
    CHECK_ERR_HAS(infer(n, in5, o), KS_INVALID_MODEL, "step");
    /* bool data, reverse whole axis */
    const uint8_t bd[] = {1, 0, 0, 1, 1};
    ks_tensor xb = T(KS_DTYPE_BOOL, 1, D(5), bd), s6 = T(KS_DTYPE_INT64, 1, D(1), D(-1)),
              e6 = T(KS_DTYPE_INT64, 1, D(1), D(-INT64_MAX)), p6 = T(KS_DTYPE_INT64, 1, D(1), D(-1));
    const ks_tensor *in6[] = {&xb, &s6, &e6, NULL, &p6};
    n = node("Slice", 5, 1);
    KS_T_CHECK_OK(ctx, run(n, in6, o));
    CHECK_SHAPE(&o[0], 5);
    KS_T_CHECK(memcmp(o[0].data, (const uint8_t[]){1, 1, 0, 0, 1}, 5) == 0);
    rel(o, 1);
}

static void test_split(void) {
    ks_tensor x = T(KS_DTYPE_FLOAT32, 2, D(2, 7), iota_f), o[4];
    ks_tensor sp = T(KS_DTYPE_INT64, 1, D(3), D(2, 0, 5));
    const ks_tensor *in[] = {&x, &sp};
    int n = node("Split", 2, 3);
    attr_i(n, "axis", 1);
    KS_T_CHECK_OK(ctx, run(n, in, o));
    CHECK_SHAPE(&o[0], 2, 2);
    CHECK_SHAPE(&o[1], 2, 0);
    CHECK_SHAPE(&o[2], 2, 5);
    check_f32(&o[0], (const float[]){0, 1, 7, 8}, 4);
    check_f32(&o[2], (const float[]){2, 3, 4, 5, 6, 9, 10, 11, 12, 13}, 10);
    rel(o, 3);
    /* num_outputs (opset 18): 7 into 4 -> 2,2,2,1 */
    const ks_tensor *in2[] = {&x};
    n = node("Split", 1, 4);
    attr_i(n, "axis", -1);
    attr_i(n, "num_outputs", 4);
    KS_T_CHECK_OK(ctx, run(n, in2, o));
    CHECK_SHAPE(&o[3], 2, 1);
    check_f32(&o[3], (const float[]){6, 13}, 2);
    rel(o, 4);
    /* equal split needs divisibility */
    n = node("Split", 1, 2);
    attr_i(n, "axis", 1);
    CHECK_ERR_HAS(infer(n, in2, o), KS_INVALID_MODEL, "cannot be split equally");
    /* wrong sum */
    ks_tensor sp2 = T(KS_DTYPE_INT64, 1, D(2), D(3, 3));
    const ks_tensor *in3[] = {&x, &sp2};
    n = node("Split", 2, 2);
    attr_i(n, "axis", 1);
    CHECK_ERR_HAS(infer(n, in3, o), KS_INVALID_MODEL, "sum to 6");
}

static void test_gather(void) {
    ks_tensor x = T(KS_DTYPE_FLOAT32, 2, D(3, 4), iota_f), o[1];
    ks_tensor idx = T(KS_DTYPE_INT64, 2, D(2, 2), D(0, -1, 2, 1));
    const ks_tensor *in[] = {&x, &idx};
    int n = node("Gather", 2, 1);
    attr_i(n, "axis", 1);
    KS_T_CHECK_OK(ctx, run(n, in, o));
    CHECK_SHAPE(&o[0], 3, 2, 2);
    check_f32(&o[0], (const float[]){0, 3, 2, 1, 4, 7, 6, 5, 8, 11, 10, 9}, 12);
    rel(o, 1);
    /* scalar index, int32, axis 0 */
    ks_tensor si = T(KS_DTYPE_INT32, 0, NULL, (const int32_t[]){-2});
    const ks_tensor *in2[] = {&x, &si};
    n = node("Gather", 2, 1);
    KS_T_CHECK_OK(ctx, run(n, in2, o));
    CHECK_SHAPE(&o[0], 4);
    check_f32(&o[0], (const float[]){4, 5, 6, 7}, 4);
    rel(o, 1);
    /* out of range: error naming the node, at inference with constant
     * indices and at run time when the indices are not constant */
    ks_tensor bi = T(KS_DTYPE_INT64, 1, D(2), D(1, 3));
    const ks_tensor *in3[] = {&x, &bi};
    n = node("Gather", 2, 1);
    CHECK_ERR_HAS(run(n, in3, o), KS_INVALID_ARGUMENT, "index 3");
    KS_T_CHECK(strstr(ks_context_last_error(ctx), "Gather_node") != NULL);
    ks_op_ctx oc = {ctx, g, &g->nodes[n], 2, in3, 1, NULL};
    ks_tensor ob = T(KS_DTYPE_FLOAT32, 2, D(2, 4), NULL);
    float buf[8];
    ob.data = buf;
    ks_tensor *outs[] = {&ob};
    oc.out = outs;
    CHECK_ERR_HAS(ks__cpu_gather(&oc), KS_INVALID_ARGUMENT, "out of range for axis 0 of size 3");
    /* GatherElements */
    ks_tensor ei = T(KS_DTYPE_INT64, 2, D(2, 3), D(0, 2, -1, 1, 0, 0));
    const ks_tensor *in4[] = {&x, &ei};
    n = node("GatherElements", 2, 1);
    attr_i(n, "axis", 1);
    KS_T_CHECK_OK(ctx, run(n, in4, o));
    CHECK_SHAPE(&o[0], 2, 3);
    check_f32(&o[0], (const float[]){0, 2, 3, 5, 4, 4}, 6);
    rel(o, 1);
    n = node("GatherElements", 2, 1);
    attr_i(n, "axis", 0);
    KS_T_CHECK_OK(ctx, run(n, in4, o));
    check_f32(&o[0], (const float[]){0, 9, 10, 4, 1, 2}, 6);
    rel(o, 1);
}

static void test_squeeze(void) {
    ks_tensor x = T(KS_DTYPE_INT8, 3, D(3, 1, 2), iota_f), o[1];
    ks_tensor ax = T(KS_DTYPE_INT64, 1, D(2), D(-1, 0));
    const ks_tensor *in[] = {&x, &ax};
    int n = node("Unsqueeze", 2, 1);
    KS_T_CHECK_OK(ctx, run(n, in, o));
    CHECK_SHAPE(&o[0], 1, 3, 1, 2, 1);
    rel(o, 1);
    ks_tensor ax1 = T(KS_DTYPE_INT64, 1, D(1), D(1));
    const ks_tensor *in1[] = {&x, &ax1};
    n = node("Squeeze", 2, 1);
    KS_T_CHECK_OK(ctx, run(n, in1, o));
    CHECK_SHAPE(&o[0], 3, 2);
    rel(o, 1);
    ks_tensor ax0 = T(KS_DTYPE_INT64, 1, D(1), D(0));
    const ks_tensor *in0[] = {&x, &ax0};
    CHECK_ERR_HAS(infer(n, in0, o), KS_INVALID_MODEL, "cannot squeeze axis 0 of size 3");
    /* no axes: all 1-dims; unknown dims -> unknown rank */
    ks_tensor y = T(KS_DTYPE_FLOAT32, 4, D(1, 3, 1, 1), iota_f);
    const ks_tensor *in2[] = {&y};
    n = node("Squeeze", 1, 1);
    KS_T_CHECK_OK(ctx, run(n, in2, o));
    CHECK_SHAPE(&o[0], 3);
    check_f32(&o[0], iota_f, 3);
    rel(o, 1);
    ks_tensor yu = T(KS_DTYPE_FLOAT32, 2, D(1, -1), NULL);
    const ks_tensor *in3[] = {&yu};
    KS_T_CHECK_OK(ctx, infer(n, in3, o));
    KS_T_CHECK_EQ_I(o[0].ndim, -1);
    /* Unsqueeze of a scalar with axes attr (old opset form) */
    ks_tensor s = T(KS_DTYPE_INT64, 0, NULL, D(7));
    const ks_tensor *in4[] = {&s};
    n = node("Unsqueeze", 1, 1);
    attr_ints(n, "axes", D(0), 1);
    KS_T_CHECK_OK(ctx, run(n, in4, o));
    CHECK_SHAPE(&o[0], 1);
    check_i64(&o[0], D(7), 1);
    rel(o, 1);
}

static void test_shape_size(void) {
    ks_tensor x = T(KS_DTYPE_FLOAT32, 4, D(2, 3, 480, 640), NULL), o[1];
    const ks_tensor *in[] = {&x};
    int n = node("Shape", 1, 1);
    KS_T_CHECK_OK(ctx, run(n, in, o)); /* data NULL: only dims are needed */
    check_i64(&o[0], D(2, 3, 480, 640), 4);
    rel(o, 1);
    n = node("Shape", 1, 1);
    attr_i(n, "start", -3);
    attr_i(n, "end", -1);
    KS_T_CHECK_OK(ctx, run(n, in, o));
    check_i64(&o[0], D(3, 480), 2);
    rel(o, 1);
    n = node("Shape", 1, 1);
    attr_i(n, "start", 10);
    KS_T_CHECK_OK(ctx, run(n, in, o));
    CHECK_SHAPE(&o[0], 0);
    rel(o, 1);
    ks_tensor xu = T(KS_DTYPE_FLOAT32, 4, D(1, 3, -1, -1), NULL);
    const ks_tensor *in2[] = {&xu};
    KS_T_CHECK_OK(ctx, infer(n, in2, o));
    CHECK_SHAPE(&o[0], 0);
    n = node("Size", 1, 1);
    KS_T_CHECK_OK(ctx, run(n, in, o));
    CHECK_SHAPE(&o[0]);
    check_i64(&o[0], D(2 * 3 * 480 * 640), 1);
    rel(o, 1);
}

static void test_constants(void) {
    ks_tensor o[2];
    int n = node("Constant", 0, 1);
    attr_ints(n, "value_ints", D(4, 5, 6), 3);
    KS_T_CHECK_OK(ctx, run(n, NULL, o));
    check_i64(&o[0], D(4, 5, 6), 3);
    rel(o, 1);
    n = node("Constant", 0, 1);
    attr_f(n, "value_float", 2.5f);
    KS_T_CHECK_OK(ctx, run(n, NULL, o));
    CHECK_SHAPE(&o[0]);
    check_f32(&o[0], (const float[]){2.5f}, 1);
    rel(o, 1);
    ks_tensor v = T(KS_DTYPE_INT32, 2, D(1, 2), (const int32_t[]){-1, 9});
    n = node("Constant", 0, 1);
    attr_t(n, "value", &v);
    KS_T_CHECK_OK(ctx, run(n, NULL, o));
    KS_T_CHECK(o[0].dtype == KS_DTYPE_INT32 && ((int32_t *)o[0].data)[1] == 9);
    rel(o, 1);
    /* ConstantOfShape: default float 0; int64 value; empty shape -> scalar */
    ks_tensor s = T(KS_DTYPE_INT64, 1, D(2), D(2, 3));
    const ks_tensor *in[] = {&s};
    n = node("ConstantOfShape", 1, 1);
    KS_T_CHECK_OK(ctx, run(n, in, o));
    CHECK_SHAPE(&o[0], 2, 3);
    check_f32(&o[0], (const float[]){0, 0, 0, 0, 0, 0}, 6);
    rel(o, 1);
    ks_tensor vv = T(KS_DTYPE_INT64, 1, D(1), D(-7));
    n = node("ConstantOfShape", 1, 1);
    attr_t(n, "value", &vv);
    KS_T_CHECK_OK(ctx, run(n, in, o));
    check_i64(&o[0], D(-7, -7, -7, -7, -7, -7), 6);
    rel(o, 1);
    ks_tensor s0 = T(KS_DTYPE_INT64, 1, D(0), D(0));
    const ks_tensor *in0[] = {&s0};
    KS_T_CHECK_OK(ctx, run(n, in0, o));
    CHECK_SHAPE(&o[0]);
    check_i64(&o[0], D(-7), 1);
    rel(o, 1);
    /* Dropout: identity + all-true mask */
    ks_tensor x = T(KS_DTYPE_FLOAT32, 2, D(2, 2), iota_f);
    const ks_tensor *in2[] = {&x};
    n = node("Dropout", 1, 2);
    KS_T_CHECK_OK(ctx, run(n, in2, o));
    check_f32(&o[0], iota_f, 4);
    KS_T_CHECK(o[1].dtype == KS_DTYPE_BOOL && memcmp(o[1].data, "\1\1\1\1", 4) == 0);
    rel(o, 2);
    n = node("Identity", 1, 1);
    KS_T_CHECK_OK(ctx, run(n, in2, o));
    check_f32(&o[0], iota_f, 4);
    rel(o, 1);
}

static void test_expand_tile_range(void) {
    ks_tensor x = T(KS_DTYPE_FLOAT32, 2, D(3, 1), iota_f), o[1];
    ks_tensor s = T(KS_DTYPE_INT64, 1, D(3), D(2, 1, 4));
    const ks_tensor *in[] = {&x, &s};
    int n = node("Expand", 2, 1);
    KS_T_CHECK_OK(ctx, run(n, in, o));
    CHECK_SHAPE(&o[0], 2, 3, 4);
    float w[24];
    for (int i = 0; i < 24; i++)
        w[i] = (float)((i / 4) % 3);
    check_f32(&o[0], w, 24);
    rel(o, 1);
    ks_tensor su = T(KS_DTYPE_INT64, 1, D(3), NULL);
    const ks_tensor *in2[] = {&x, &su};
    KS_T_CHECK_OK(ctx, infer(n, in2, o));
    CHECK_SHAPE(&o[0], -1, 3, -1);
    ks_tensor sb = T(KS_DTYPE_INT64, 1, D(2), D(2, 4));
    const ks_tensor *in3[] = {&x, &sb};
    CHECK_ERR_HAS(infer(n, in3, o), KS_UNSUPPORTED_SHAPE, "cannot expand 3x1 to 2x4");
    /* Tile */
    ks_tensor t = T(KS_DTYPE_FLOAT32, 2, D(2, 2), iota_f), r = T(KS_DTYPE_INT64, 1, D(2), D(2, 3));
    const ks_tensor *in4[] = {&t, &r};
    n = node("Tile", 2, 1);
    KS_T_CHECK_OK(ctx, run(n, in4, o));
    CHECK_SHAPE(&o[0], 4, 6);
    check_f32(&o[0],
              (const float[]){0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3},
              24);
    rel(o, 1);
    /* Range */
    ks_tensor a = T(KS_DTYPE_INT32, 0, NULL, (const int32_t[]){10}),
              b = T(KS_DTYPE_INT32, 0, NULL, (const int32_t[]){4}),
              c = T(KS_DTYPE_INT32, 0, NULL, (const int32_t[]){-3});
    const ks_tensor *in5[] = {&a, &b, &c};
    n = node("Range", 3, 1);
    KS_T_CHECK_OK(ctx, run(n, in5, o));
    CHECK_SHAPE(&o[0], 2);
    KS_T_CHECK(((int32_t *)o[0].data)[0] == 10 && ((int32_t *)o[0].data)[1] == 7);
    rel(o, 1);
    ks_tensor fa = T(KS_DTYPE_FLOAT32, 0, NULL, (const float[]){1.0f}),
              fb = T(KS_DTYPE_FLOAT32, 0, NULL, (const float[]){2.0f}),
              fc = T(KS_DTYPE_FLOAT32, 0, NULL, (const float[]){0.3f});
    const ks_tensor *in6[] = {&fa, &fb, &fc};
    KS_T_CHECK_OK(ctx, run(n, in6, o));
    CHECK_SHAPE(&o[0], 4);
    KS_T_CHECK_NEAR(((float *)o[0].data)[3], 1.9, 1e-6);
    rel(o, 1);
    ks_tensor fz = T(KS_DTYPE_FLOAT32, 0, NULL, (const float[]){0.0f});
    const ks_tensor *in7[] = {&fa, &fb, &fz};
    CHECK_ERR_HAS(infer(n, in7, o), KS_INVALID_ARGUMENT, "Range_node");
}

static void test_depth_space(void) {
    /* N=1, C=8, H=2, W=3, b=2 */
    ks_tensor x = T(KS_DTYPE_FLOAT32, 4, D(1, 8, 2, 3), iota_f), o[1], o2[1];
    const ks_tensor *in[] = {&x};
    for (int crd = 0; crd < 2; crd++) {
        int n = node("DepthToSpace", 1, 1);
        attr_i(n, "blocksize", 2);
        if (crd)
            attr_s(n, "mode", "CRD");
        KS_T_CHECK_OK(ctx, run(n, in, o));
        CHECK_SHAPE(&o[0], 1, 2, 4, 6);
        int bad = 0;
        for (int c = 0; c < 2; c++)
            for (int y = 0; y < 4; y++)
                for (int xx = 0; xx < 6; xx++) {
                    int i = y % 2, j = xx % 2, h = y / 2, w = xx / 2;
                    int ic = crd ? c * 4 + i * 2 + j : (i * 2 + j) * 2 + c;
                    bad += ((float *)o[0].data)[(c * 4 + y) * 6 + xx] != iota_f[(ic * 2 + h) * 3 + w];
                }
        KS_T_CHECK_EQ_I(bad, 0);
        if (!crd) { /* SpaceToDepth inverts DCR DepthToSpace */
            const ks_tensor *in2[] = {&o[0]};
            int m = node("SpaceToDepth", 1, 1);
            attr_i(m, "blocksize", 2);
            KS_T_CHECK_OK(ctx, run(m, in2, o2));
            CHECK_SHAPE(&o2[0], 1, 8, 2, 3);
            check_f32(&o2[0], iota_f, 48);
            rel(o2, 1);
        }
        rel(o, 1);
    }
    ks_tensor xb = T(KS_DTYPE_FLOAT32, 4, D(1, 6, 2, 3), iota_f);
    const ks_tensor *inb[] = {&xb};
    int n = node("DepthToSpace", 1, 1);
    attr_i(n, "blocksize", 2);
    CHECK_ERR_HAS(infer(n, inb, o), KS_INVALID_MODEL, "not divisible");
}

/* Shape inference must cope with unknown ranks / unknown dims / missing data
 * on every input (static inference of a dynamic model): never crash, write
 * a rank in [-1, 8], and fail only with a status. */
static void test_unknown_inputs(void) {
    static const char *ops[] = {"Cast", "Concat", "Reshape", "Flatten", "Transpose", "Slice",
                                "Split", "Gather", "GatherElements", "Unsqueeze", "Squeeze",
                                "Shape", "Size", "ConstantOfShape", "Identity", "Dropout",
                                "Expand", "Tile", "Range", "DepthToSpace", "SpaceToDepth"};
    ks_tensor unk_rank = T(KS_DTYPE_INT64, -1, NULL, NULL);
    ks_tensor unk_dims = T(KS_DTYPE_INT64, 4, D(-1, 3, -1, 4), NULL);
    ks_tensor vec_unk = T(KS_DTYPE_INT64, 1, D(-1), NULL);
    ks_tensor vec2 = T(KS_DTYPE_INT64, 1, D(2), NULL);
    const ks_tensor *variants[] = {&unk_rank, &unk_dims, &vec_unk, &vec2};
    for (size_t k = 0; k < KS_ARRAY_LEN(ops); k++) {
        for (int with_attrs = 0; with_attrs < 2; with_attrs++) {
            int n = node(ops[k], 5, 2);
            if (with_attrs) {
                attr_i(n, "to", 1);
                attr_i(n, "axis", 1);
                attr_i(n, "blocksize", 2);
            }
            for (size_t a = 0; a < KS_ARRAY_LEN(variants); a++) {
                for (size_t b = 0; b < KS_ARRAY_LEN(variants); b++) {
                    const ks_tensor *in[5] = {variants[a], variants[b], variants[b], NULL,
                                              variants[a]};
                    ks_tensor o[2];
                    ks_status st = infer(n, in, o);
                    if (st == KS_OK)
                        KS_T_CHECK_MSG(o[0].ndim >= -1 && o[0].ndim <= KS_MAX_DIMS,
                                       "%s: rank %d", ops[k], o[0].ndim);
                    else
                        KS_T_CHECK_MSG(strlen(ks_context_last_error(ctx)) > 0,
                                       "%s: error without message", ops[k]);
                }
            }
        }
    }
}

int main(void) {
    for (int i = 0; i < 4096; i++)
        iota_f[i] = (float)i;
    if (ks_context_create(NULL, &ctx) != KS_OK)
        return 1;
    if (ks__graph_create(ctx, "test.onnx", &g) != KS_OK)
        return 1;
    test_cast();
    test_concat();
    test_reshape();
    test_transpose();
    test_slice();
    test_split();
    test_gather();
    test_squeeze();
    test_shape_size();
    test_constants();
    test_expand_tile_range();
    test_depth_space();
    test_unknown_inputs();
    ks__graph_destroy(g);
    ks_context_destroy(ctx);
    return ks_t_done();
}
