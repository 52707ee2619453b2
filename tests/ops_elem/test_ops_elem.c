/* Unit tests for the elementwise / activation / softmax / logic / reduction
 * / TopK ops: the shared helpers (opsupport.c), shape inference with
 * unknown dims, and the CPU reference kernels run through ks__node_run_cpu
 * on hand-built nodes. Broadcasting kernels are checked against a naive
 * multi-index implementation written here over random shapes. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "graph/ir.h"

static ks_context *ctx;
static ks_graph *g;

/* ------------------------------------------------------------ building */

static int node_opset(const char *op, int opset, int nin, int nout) {
    int ins[16], outs[16];
    char nm[64];
    for (int i = 0; i < nin; i++) {
        snprintf(nm, sizeof nm, "e%d_in%d", g->n_nodes, i);
        ks__graph_add_value(g, nm, 1, &ins[i]);
    }
    for (int i = 0; i < nout; i++) {
        snprintf(nm, sizeof nm, "e%d_out%d", g->n_nodes, i);
        ks__graph_add_value(g, nm, 1, &outs[i]);
    }
    snprintf(nm, sizeof nm, "%s_node%d", op, g->n_nodes);
    int idx = -1;
    ks_status st = ks__graph_add_node(g, nm, op, "", opset, nin, ins, nout, outs, &idx);
    KS_T_CHECK_MSG(st == KS_OK, "add node %s", op);
    return idx;
}
static int node(const char *op, int nin, int nout) { return node_opset(op, 17, nin, nout); }

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
static void attr_s(int n, const char *name, const char *s) {
    ks_attr a = {0};
    a.name = (char *)name;
    a.type = KS_ATTR_STRING;
    a.s = (char *)s;
    ks__node_add_attr(g, n, &a);
}

static ks_tensor mk(ks_dtype dt, int ndim, const int64_t *dims, void *data) {
    ks_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t.dims[i] = dims[i];
    t.data = data;
    return t;
}

/* runs node n (inputs may be NULL = omitted); returns status */
static ks_status run(int n, int nin, const ks_tensor **in, ks_tensor *out) {
    return ks__node_run_cpu(g, &g->nodes[n], in, out);
}
static ks_status infer(int n, const ks_tensor **in, ks_tensor *out) {
    return ks__node_infer(g, &g->nodes[n], in, out);
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static float rndf(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() % 1000000) / 1e6f; }

/* ------------------------------------------------------------ helpers */

static void test_helpers(void) {
    int64_t a[] = {2, 1, 4}, b[] = {3, 1}, o[KS_MAX_DIMS];
    int no = 0;
    KS_T_CHECK_EQ_I(ks__broadcast_shape(a, 3, b, 2, o, &no), KS_OK);
    KS_T_CHECK_EQ_I(no, 3);
    KS_T_CHECK(o[0] == 2 && o[1] == 3 && o[2] == 4);
    int64_t c[] = {3};
    KS_T_CHECK_EQ_I(ks__broadcast_shape(a, 3, c, 1, o, &no), KS_UNSUPPORTED_SHAPE);
    int64_t u[] = {-1, 5, -1}, v[] = {1, 1, 7};
    KS_T_CHECK_EQ_I(ks__broadcast_shape(u, 3, v, 3, o, &no), KS_OK);
    KS_T_CHECK(o[0] == -1 && o[1] == 5 && o[2] == 7);
    KS_T_CHECK_EQ_I(ks__broadcast_shape(u, -1, v, 3, o, &no), KS_OK);
    KS_T_CHECK_EQ_I(no, -1);
    KS_T_CHECK_EQ_I(ks__broadcast_shape(a, 0, v, 0, o, &no), KS_OK);
    KS_T_CHECK_EQ_I(no, 0);

    int ax = 9;
    KS_T_CHECK(ks__norm_axis(-1, 4, &ax) && ax == 3);
    KS_T_CHECK(ks__norm_axis(0, 4, &ax) && ax == 0);
    KS_T_CHECK(!ks__norm_axis(4, 4, &ax));
    KS_T_CHECK(!ks__norm_axis(-5, 4, &ax));
    int64_t d[] = {2, 3, 4}, s[3];
    ks__strides(d, 3, s);
    KS_T_CHECK(s[0] == 12 && s[1] == 4 && s[2] == 1);

    int8_t i8[] = {-5, 7};
    ks_tensor t = mk(KS_DTYPE_INT8, 1, (int64_t[]){2}, i8);
    KS_T_CHECK_EQ_I(ks__tensor_get_i64(&t, 0), -5);
    ks__tensor_set_f64(&t, 1, 300.0); /* saturates */
    KS_T_CHECK_EQ_I(i8[1], 127);
    uint16_t h[1];
    ks_tensor th = mk(KS_DTYPE_FLOAT16, 1, (int64_t[]){1}, h);
    ks__tensor_set_f64(&th, 0, 1.5);
    KS_T_CHECK_NEAR(ks__tensor_get_f64(&th, 0), 1.5, 0);
    int64_t i64[] = {INT64_MAX};
    ks_tensor t64 = mk(KS_DTYPE_INT64, 1, (int64_t[]){1}, i64);
    KS_T_CHECK(ks__tensor_get_i64(&t64, 0) == INT64_MAX);
}

/* ------------------------------------------------------------ broadcasting */

/* naive: value of input t at output multi-index idx (output rank n) */
static int64_t bc_index(const ks_tensor *t, const int64_t *idx, int n) {
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) {
        int oi = i + (n - t->ndim);
        int64_t k = t->dims[i] == 1 ? 0 : idx[oi];
        off = off * t->dims[i] + k;
    }
    return off;
}

static double ref_bin(const char *op, double x, double y, int is_int) {
    if (!strcmp(op, "Add"))
        return x + y;
    if (!strcmp(op, "Sub"))
        return x - y;
    if (!strcmp(op, "Mul"))
        return x * y;
    if (!strcmp(op, "Div"))
        return is_int ? (y == 0 ? 0 : trunc(x / y)) : x / y;
    if (!strcmp(op, "Max"))
        return x > y ? x : y;
    if (!strcmp(op, "Min"))
        return x < y ? x : y;
    if (!strcmp(op, "Pow"))
        return pow(x, y);
    return NAN;
}

/* random broadcastable pair of shapes, ranks 0..4 */
static void rand_shapes(ks_tensor *a, ks_tensor *b, int64_t *od, int *on) {
    int n = (int)(rnd() % 5);
    for (int i = 0; i < n; i++)
        od[i] = 1 + rnd() % 4;
    *on = n;
    ks_tensor *ts[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        int r = n ? (int)(rnd() % (n + 1)) : 0;
        ts[k]->ndim = r;
        for (int i = 0; i < r; i++)
            ts[k]->dims[i] = (rnd() % 3 == 0) ? 1 : od[i + n - r];
    }
    /* the output shape is the broadcast of both (a dim may end up 1) */
    KS_T_CHECK_EQ_I(ks__broadcast_shape(a->dims, a->ndim, b->dims, b->ndim, od, on), KS_OK);
}

static void fill(ks_tensor *t, int64_t n, int is_int) {
    for (int64_t i = 0; i < n; i++) {
        double v = is_int ? (double)((int)(rnd() % 19) - 9) : rndf(-3, 3);
        if (t->dtype == KS_DTYPE_UINT8)
            v = rnd() % 16;
        ks__tensor_set_f64(t, i, v);
    }
}

static void test_binary_random(void) {
    const char *ops[] = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"};
    ks_dtype dts[] = {KS_DTYPE_FLOAT32, KS_DTYPE_FLOAT64, KS_DTYPE_INT32, KS_DTYPE_INT64,
                      KS_DTYPE_INT8, KS_DTYPE_UINT8, KS_DTYPE_FLOAT16};
    int fails = 0;
    for (int iter = 0; iter < 400; iter++) {
        const char *op = ops[iter % 7];
        ks_dtype dt = dts[(iter / 7) % 7];
        int is_int = dt != KS_DTYPE_FLOAT32 && dt != KS_DTYPE_FLOAT64 && dt != KS_DTYPE_FLOAT16;
        if (!strcmp(op, "Pow") && dt == KS_DTYPE_FLOAT16)
            continue;
        ks_tensor a = mk(dt, 0, NULL, NULL), b = mk(dt, 0, NULL, NULL);
        int64_t od[KS_MAX_DIMS];
        int on;
        rand_shapes(&a, &b, od, &on);
        int64_t na = ks_tensor_numel(&a), nb = ks_tensor_numel(&b);
        a.data = calloc((size_t)na, 8);
        b.data = calloc((size_t)nb, 8);
        fill(&a, na, is_int);
        fill(&b, nb, is_int);
        if (!strcmp(op, "Pow")) { /* keep integer powers small and defined */
            for (int64_t i = 0; i < nb; i++)
                ks__tensor_set_f64(&b, i, is_int ? rnd() % 4 : rndf(-2, 2));
            for (int64_t i = 0; i < na && !is_int; i++)
                ks__tensor_set_f64(&a, i, rndf(0.1f, 3));
        }
        int n = node(op, 2, 1);
        const ks_tensor *in[2] = {&a, &b};
        ks_tensor out;
        ks_status st = run(n, 2, in, &out);
        KS_T_CHECK_OK(ctx, st);
        if (st != KS_OK)
            continue;
        KS_T_CHECK_EQ_I(out.ndim, on);
        KS_T_CHECK_EQ_I(out.dtype, dt);
        int64_t no = ks_tensor_numel(&out), idx[KS_MAX_DIMS];
        for (int64_t i = 0; i < no; i++) {
            int64_t r = i;
            for (int d = on - 1; d >= 0; d--) {
                idx[d] = r % od[d];
                r /= od[d];
            }
            double x = ks__tensor_get_f64(&a, bc_index(&a, idx, on));
            double y = ks__tensor_get_f64(&b, bc_index(&b, idx, on));
            double want = ref_bin(op, x, y, is_int);
            ks_tensor w = mk(dt, 0, NULL, &(double){0});
            uint8_t buf[8];
            w.data = buf;
            ks__tensor_set_f64(&w, 0, want); /* round/wrap like the dtype */
            if (dt == KS_DTYPE_UINT8 || dt == KS_DTYPE_INT8) { /* wrap, not saturate */
                int64_t wi = (int64_t)want;
                if (dt == KS_DTYPE_UINT8)
                    buf[0] = (uint8_t)wi;
                else
                    buf[0] = (uint8_t)(int8_t)wi;
            }
            double wantd = ks__tensor_get_f64(&w, 0), got = ks__tensor_get_f64(&out, i);
            double tol = dt == KS_DTYPE_FLOAT16 ? 2e-3 * fabs(wantd) + 1e-3 : 1e-6 * fabs(wantd);
            if (!(fabs(got - wantd) <= tol) && fails++ < 10)
                KS_T_CHECK_MSG(0, "%s %s elem %lld: got %g want %g", op, ks_dtype_name(dt),
                               (long long)i, got, wantd);
        }
        ks_tensor_release(ctx, &out);
        free(a.data);
        free(b.data);
    }
    KS_T_CHECK_EQ_I(fails, 0);
}

static void test_int_div_mod(void) {
    int32_t a[] = {7, -7, 7, -7, 5, 3};
    int32_t b[] = {2, 2, -2, -2, 0, 1};
    int64_t d6[] = {6};
    ks_tensor ta = mk(KS_DTYPE_INT32, 1, d6, a), tb = mk(KS_DTYPE_INT32, 1, d6, b);
    const ks_tensor *in[2] = {&ta, &tb};
    ks_tensor out;
    int n = node("Div", 2, 1);
    KS_T_CHECK_OK(ctx, run(n, 2, in, &out));
    int32_t *o = out.data;
    KS_T_CHECK(o[0] == 3 && o[1] == -3 && o[2] == -3 && o[3] == 3 && o[4] == 0 && o[5] == 3);
    ks_tensor_release(ctx, &out);

    /* test_mod_mixed_sign_int32: fmod=0 follows the divisor's sign */
    int32_t ma[] = {-4, 7, 5, 4, -7, 8}, mb[] = {2, -3, 8, -2, 3, 5};
    ks_tensor tma = mk(KS_DTYPE_INT32, 1, d6, ma), tmb = mk(KS_DTYPE_INT32, 1, d6, mb);
    const ks_tensor *min_[2] = {&tma, &tmb};
    n = node("Mod", 2, 1);
    KS_T_CHECK_OK(ctx, run(n, 2, min_, &out));
    o = out.data;
    int32_t want[] = {0, -2, 5, 0, 2, 3};
    for (int i = 0; i < 6; i++)
        KS_T_CHECK_EQ_I(o[i], want[i]);
    ks_tensor_release(ctx, &out);
    /* fmod=1: the dividend's sign */
    n = node("Mod", 2, 1);
    attr_i(n, "fmod", 1);
    KS_T_CHECK_OK(ctx, run(n, 2, min_, &out));
    o = out.data;
    int32_t wantf[] = {0, 1, 5, 0, -1, 3};
    for (int i = 0; i < 6; i++)
        KS_T_CHECK_EQ_I(o[i], wantf[i]);
    ks_tensor_release(ctx, &out);
    /* float fmod */
    float fa[] = {-4.3f, 7.2f, 5.0f, 4.3f, -7.2f, 8.0f}, fb[] = {2.1f, -3.4f, 8.0f, -2.1f, 3.4f, 5.0f};
    ks_tensor tfa = mk(KS_DTYPE_FLOAT32, 1, d6, fa), tfb = mk(KS_DTYPE_FLOAT32, 1, d6, fb);
    const ks_tensor *fin[2] = {&tfa, &tfb};
    n = node("Mod", 2, 1);
    attr_i(n, "fmod", 1);
    KS_T_CHECK_OK(ctx, run(n, 2, fin, &out));
    for (int i = 0; i < 6; i++)
        KS_T_CHECK_NEAR(((float *)out.data)[i], fmodf(fa[i], fb[i]), 1e-6);
    ks_tensor_release(ctx, &out);
}

static void test_pow_mixed(void) {
    float base[] = {1, 2, 3};
    int64_t ex[] = {4, 5, 6};
    int64_t d3[] = {3};
    ks_tensor tb = mk(KS_DTYPE_FLOAT32, 1, d3, base), te = mk(KS_DTYPE_INT64, 1, d3, ex);
    const ks_tensor *in[2] = {&tb, &te};
    ks_tensor out;
    int n = node("Pow", 2, 1);
    KS_T_CHECK_OK(ctx, run(n, 2, in, &out));
    KS_T_CHECK_EQ_I(out.dtype, KS_DTYPE_FLOAT32);
    KS_T_CHECK_NEAR(((float *)out.data)[2], 729, 0);
    ks_tensor_release(ctx, &out);
    int32_t ib[] = {1, 2, 3};
    float fe[] = {4, 5, 6};
    ks_tensor tib = mk(KS_DTYPE_INT32, 1, d3, ib), tfe = mk(KS_DTYPE_FLOAT32, 1, d3, fe);
    const ks_tensor *in2[2] = {&tib, &tfe};
    n = node("Pow", 2, 1);
    KS_T_CHECK_OK(ctx, run(n, 2, in2, &out));
    KS_T_CHECK_EQ_I(out.dtype, KS_DTYPE_INT32);
    KS_T_CHECK_EQ_I(((int32_t *)out.data)[1], 32);
    ks_tensor_release(ctx, &out);
}

static void test_variadic(void) {
    float a[] = {3, 2, 1}, b[] = {1, 4, 4}, c[] = {2, 5, 3}, s[] = {10};
    int64_t d3[] = {3};
    ks_tensor ta = mk(KS_DTYPE_FLOAT32, 1, d3, a), tb = mk(KS_DTYPE_FLOAT32, 1, d3, b);
    ks_tensor tc = mk(KS_DTYPE_FLOAT32, 1, d3, c), ts = mk(KS_DTYPE_FLOAT32, 0, NULL, s);
    const ks_tensor *in[4] = {&ta, &tb, &tc, &ts};
    ks_tensor out;
    int n = node("Sum", 4, 1);
    KS_T_CHECK_OK(ctx, run(n, 4, in, &out));
    float *o = out.data;
    KS_T_CHECK(o[0] == 16 && o[1] == 21 && o[2] == 18);
    ks_tensor_release(ctx, &out);
    n = node("Mean", 3, 1);
    KS_T_CHECK_OK(ctx, run(n, 3, in, &out));
    o = out.data;
    KS_T_CHECK_NEAR(o[0], 2, 1e-6);
    KS_T_CHECK_NEAR(o[1], 11.0 / 3, 1e-6);
    ks_tensor_release(ctx, &out);
    n = node("Max", 3, 1);
    KS_T_CHECK_OK(ctx, run(n, 3, in, &out));
    o = out.data;
    KS_T_CHECK(o[0] == 3 && o[1] == 5 && o[2] == 4);
    ks_tensor_release(ctx, &out);
    /* scalar first: output shape from the others */
    const ks_tensor *in2[2] = {&ts, &ta};
    n = node("Min", 2, 1);
    KS_T_CHECK_OK(ctx, run(n, 2, in2, &out));
    KS_T_CHECK_EQ_I(out.ndim, 1);
    KS_T_CHECK(((float *)out.data)[0] == 3);
    ks_tensor_release(ctx, &out);
    n = node("Max", 1, 1);
    KS_T_CHECK_OK(ctx, run(n, 1, in, &out));
    KS_T_CHECK(((float *)out.data)[2] == 1);
    ks_tensor_release(ctx, &out);
    /* float16 add (ANY op: kernel sees float16) */
    uint16_t h1[] = {ks_float_to_half(1.5f), ks_float_to_half(-2.0f)};
    uint16_t h2[] = {ks_float_to_half(0.25f)};
    ks_tensor th1 = mk(KS_DTYPE_FLOAT16, 1, (int64_t[]){2}, h1);
    ks_tensor th2 = mk(KS_DTYPE_FLOAT16, 1, (int64_t[]){1}, h2);
    const ks_tensor *hin[2] = {&th1, &th2};
    n = node("Add", 2, 1);
    KS_T_CHECK_OK(ctx, run(n, 2, hin, &out));
    KS_T_CHECK_EQ_I(out.dtype, KS_DTYPE_FLOAT16);
    KS_T_CHECK_NEAR(ks_half_to_float(((uint16_t *)out.data)[0]), 1.75, 0);
    KS_T_CHECK_NEAR(ks_half_to_float(((uint16_t *)out.data)[1]), -1.75, 0);
    ks_tensor_release(ctx, &out);
}

/* ------------------------------------------------------------ activations */

static double ref_act(const char *op, double x) {
    if (!strcmp(op, "Relu"))
        return x > 0 ? x : 0;
    if (!strcmp(op, "LeakyRelu"))
        return x >= 0 ? x : (double)0.01f * x;
    if (!strcmp(op, "Sigmoid"))
        return 1 / (1 + exp(-x));
    if (!strcmp(op, "Tanh"))
        return tanh(x);
    if (!strcmp(op, "HardSigmoid"))
        return fmax(0, fmin(1, (double)0.2f * x + 0.5));
    if (!strcmp(op, "HardSwish"))
        return x * fmax(0, fmin(1, x / 6 + 0.5));
    if (!strcmp(op, "Elu"))
        return x > 0 ? x : exp(x) - 1;
    if (!strcmp(op, "Selu"))
        return x > 0 ? (double)1.05070102f * x
                     : (double)1.05070102f * (double)1.67326319f * (exp(x) - 1);
    if (!strcmp(op, "Softplus"))
        return log(1 + exp(x));
    if (!strcmp(op, "Softsign"))
        return x / (1 + fabs(x));
    if (!strcmp(op, "Mish"))
        return x * tanh(log(1 + exp(x)));
    if (!strcmp(op, "Gelu"))
        return 0.5 * x * (1 + erf(x / sqrt(2)));
    if (!strcmp(op, "Erf"))
        return erf(x);
    if (!strcmp(op, "Exp"))
        return exp(x);
    if (!strcmp(op, "Log"))
        return log(fabs(x) + 0.5);
    if (!strcmp(op, "Sqrt"))
        return sqrt(fabs(x));
    if (!strcmp(op, "Reciprocal"))
        return 1 / x;
    if (!strcmp(op, "Neg"))
        return -x;
    if (!strcmp(op, "Abs"))
        return fabs(x);
    if (!strcmp(op, "Sign"))
        return x > 0 ? 1 : x < 0 ? -1 : 0;
    if (!strcmp(op, "Floor"))
        return floor(x);
    if (!strcmp(op, "Ceil"))
        return ceil(x);
    if (!strcmp(op, "Sin"))
        return sin(x);
    if (!strcmp(op, "Cos"))
        return cos(x);
    return NAN;
}

static void test_activations(void) {
    const char *ops[] = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish",
                         "Elu", "Selu", "Softplus", "Softsign", "Mish", "Gelu", "Erf", "Exp",
                         "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Sign", "Floor", "Ceil",
                         "Sin", "Cos"};
    enum { N = 64 };
    float x[N];
    double xd[N];
    for (int i = 0; i < N; i++) {
        x[i] = rndf(-6, 6);
        if (i == 0)
            x[i] = 0;
        xd[i] = x[i];
    }
    int64_t dn[] = {4, N / 4};
    for (size_t k = 0; k < KS_ARRAY_LEN(ops); k++) {
        for (int use64 = 0; use64 < 2; use64++) {
            const char *op = ops[k];
            float xin[N];
            double xin64[N];
            for (int i = 0; i < N; i++) {
                double v = xd[i];
                if (!strcmp(op, "Log") || !strcmp(op, "Sqrt"))
                    v = !strcmp(op, "Log") ? fabs(v) + 0.5 : fabs(v);
                xin[i] = (float)v;
                xin64[i] = use64 ? v : (double)(float)v;
            }
            ks_tensor t = use64 ? mk(KS_DTYPE_FLOAT64, 2, dn, xin64) : mk(KS_DTYPE_FLOAT32, 2, dn, xin);
            const ks_tensor *in[1] = {&t};
            ks_tensor out;
            int n = node(op, 1, 1);
            ks_status st = run(n, 1, in, &out);
            KS_T_CHECK_OK(ctx, st);
            if (st != KS_OK)
                continue;
            KS_T_CHECK_EQ_I(out.ndim, 2);
            int bad = 0;
            for (int i = 0; i < N; i++) {
                double xv = use64 ? xin64[i] : (double)xin[i];
                double want;
                if (!strcmp(op, "Log"))
                    want = log(xv);
                else if (!strcmp(op, "Sqrt"))
                    want = sqrt(xv);
                else
                    want = ref_act(op, xv);
                double got = ks__tensor_get_f64(&out, i);
                double tol = (use64 ? 1e-12 : 2e-7) * fmax(1, fabs(want));
                if (!(fabs(got - want) <= tol) && !(isinf(want) && got == want) && bad++ < 3)
                    KS_T_CHECK_MSG(0, "%s(%s) x=%.9g got %.12g want %.12g", op,
                                   use64 ? "f64" : "f32", xv, got, want);
            }
            ks_tensor_release(ctx, &out);
        }
    }
    /* attributes */
    float xa[] = {-2, -0.5f, 0, 1};
    ks_tensor t = mk(KS_DTYPE_FLOAT32, 1, (int64_t[]){4}, xa);
    const ks_tensor *in[1] = {&t};
    ks_tensor out;
    int n = node("LeakyRelu", 1, 1);
    attr_f(n, "alpha", 0.1f);
    KS_T_CHECK_OK(ctx, run(n, 1, in, &out));
    KS_T_CHECK_NEAR(((float *)out.data)[0], -0.2f, 0);
    ks_tensor_release(ctx, &out);
    n = node("Gelu", 1, 1);
    attr_s(n, "approximate", "tanh");
    KS_T_CHECK_OK(ctx, run(n, 1, in, &out));
    double x0 = -0.5;
    KS_T_CHECK_NEAR(((float *)out.data)[1],
                    0.5 * x0 * (1 + tanh(sqrt(2 / M_PI) * (x0 + 0.044715 * x0 * x0 * x0))), 1e-7);
    ks_tensor_release(ctx, &out);
    n = node("Gelu", 1, 1);
    attr_s(n, "approximate", "bogus");
    KS_T_CHECK(run(n, 1, in, &out) == KS_UNSUPPORTED_ATTR);
    n = node("Elu", 1, 1);
    attr_f(n, "alpha", 2.0f);
    KS_T_CHECK_OK(ctx, run(n, 1, in, &out));
    KS_T_CHECK_NEAR(((float *)out.data)[0], 2 * (exp(-2) - 1), 1e-7);
    ks_tensor_release(ctx, &out);
    /* Round: half to even */
    float xr[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, -2.6f};
    float wr[] = {0, 2, 2, -0.f, -2, 2, -3};
    ks_tensor tr = mk(KS_DTYPE_FLOAT32, 1, (int64_t[]){7}, xr);
    const ks_tensor *rin[1] = {&tr};
    n = node("Round", 1, 1);
    KS_T_CHECK_OK(ctx, run(n, 1, rin, &out));
    for (int i = 0; i < 7; i++)
        KS_T_CHECK_NEAR(((float *)out.data)[i], wr[i], 0);
    ks_tensor_release(ctx, &out);
    /* float16 through the MATH path */
    uint16_t hx[] = {ks_float_to_half(-1.0f), ks_float_to_half(2.0f)};
    ks_tensor th = mk(KS_DTYPE_FLOAT16, 1, (int64_t[]){2}, hx);
    const ks_tensor *hin[1] = {&th};
    n = node("Sigmoid", 1, 1);
    KS_T_CHECK_OK(ctx, run(n, 1, hin, &out));
    KS_T_CHECK_EQ_I(out.dtype, KS_DTYPE_FLOAT16);
    KS_T_CHECK_NEAR(ks_half_to_float(((uint16_t *)out.data)[1]), 1 / (1 + exp(-2.0)), 1e-3);
    ks_tensor_release(ctx, &out);
}

static void test_prelu_clip(void) {
    /* X [2,3,2,2]; slope as [3], [3,1,1], [1,3,1,1], scalar, [2] (numpy: W) */
    enum { N = 24 };
    float x[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)(i - 12);
    int64_t dx[] = {2, 3, 2, 2};
    ks_tensor tx = mk(KS_DTYPE_FLOAT32, 4, dx, x);
    float sl[] = {0.1f, 0.2f, 0.3f};
    struct { int nd; int64_t d[4]; int per; } cases[] = {
        {1, {3}, 1}, {3, {3, 1, 1}, 1}, {4, {1, 3, 1, 1}, 1}, {0, {0}, 0}, {1, {2}, 2},
    };
    for (size_t c = 0; c < KS_ARRAY_LEN(cases); c++) {
        ks_tensor ts = mk(KS_DTYPE_FLOAT32, cases[c].nd, cases[c].d, sl);
        const ks_tensor *in[2] = {&tx, &ts};
        ks_tensor out;
        int n = node("PRelu", 2, 1);
        ks_status st = run(n, 2, in, &out);
        KS_T_CHECK_OK(ctx, st);
        if (st != KS_OK)
            continue;
        KS_T_CHECK_EQ_I(out.ndim, 4);
        for (int i = 0; i < N; i++) {
            int ch = (i / 4) % 3, w = i % 2;
            float s = cases[c].per == 1 ? sl[ch] : cases[c].per == 2 ? sl[w] : sl[0];
            float want = x[i] < 0 ? x[i] * s : x[i];
            KS_T_CHECK_NEAR(((float *)out.data)[i], want, 0);
        }
        ks_tensor_release(ctx, &out);
    }
    /* bad slope */
    ks_tensor bad = mk(KS_DTYPE_FLOAT32, 1, (int64_t[]){5}, sl);
    const ks_tensor *bin[2] = {&tx, &bad};
    ks_tensor o2;
    KS_T_CHECK(run(node("PRelu", 2, 1), 2, bin, &o2) == KS_UNSUPPORTED_SHAPE);

    /* Clip: float with min only, int8 with both, float16, min > max */
    float cx[] = {-3, -1, 0, 2, 5};
    float lo = -1.5f, hi = 1.0f;
    int64_t d5[] = {5};
    ks_tensor tc = mk(KS_DTYPE_FLOAT32, 1, d5, cx), tlo = mk(KS_DTYPE_FLOAT32, 0, NULL, &lo);
    ks_tensor thi = mk(KS_DTYPE_FLOAT32, 0, NULL, &hi);
    const ks_tensor *cin[3] = {&tc, &tlo, NULL};
    ks_tensor out;
    KS_T_CHECK_OK(ctx, run(node("Clip", 3, 1), 3, cin, &out));
    KS_T_CHECK(((float *)out.data)[0] == -1.5f && ((float *)out.data)[4] == 5);
    ks_tensor_release(ctx, &out);
    const ks_tensor *cin2[3] = {&tc, NULL, &thi};
    KS_T_CHECK_OK(ctx, run(node("Clip", 3, 1), 3, cin2, &out));
    KS_T_CHECK(((float *)out.data)[0] == -3 && ((float *)out.data)[4] == 1);
    ks_tensor_release(ctx, &out);
    float big = 2.0f;
    ks_tensor tbig = mk(KS_DTYPE_FLOAT32, 0, NULL, &big);
    const ks_tensor *cin3[3] = {&tc, &tbig, &thi};
    KS_T_CHECK_OK(ctx, run(node("Clip", 3, 1), 3, cin3, &out));
    for (int i = 0; i < 5; i++)
        KS_T_CHECK(((float *)out.data)[i] == 1);
    ks_tensor_release(ctx, &out);
    const ks_tensor *cin4[1] = {&tc};
    KS_T_CHECK_OK(ctx, run(node("Clip", 1, 1), 1, cin4, &out));
    KS_T_CHECK(((float *)out.data)[0] == -3);
    ks_tensor_release(ctx, &out);
    int8_t ix[] = {-128, -5, 0, 5, 127}, ilo = -3, ihi = 4;
    ks_tensor ti = mk(KS_DTYPE_INT8, 1, d5, ix), til = mk(KS_DTYPE_INT8, 0, NULL, &ilo);
    ks_tensor tih = mk(KS_DTYPE_INT8, 0, NULL, &ihi);
    const ks_tensor *iin[3] = {&ti, &til, &tih};
    KS_T_CHECK_OK(ctx, run(node("Clip", 3, 1), 3, iin, &out));
    int8_t *io = out.data;
    KS_T_CHECK(io[0] == -3 && io[1] == -3 && io[2] == 0 && io[3] == 4 && io[4] == 4);
    ks_tensor_release(ctx, &out);
    uint16_t hx[] = {ks_float_to_half(-3), ks_float_to_half(0.5f)};
    uint16_t hl = ks_float_to_half(-1), hh = ks_float_to_half(0.25f);
    ks_tensor th = mk(KS_DTYPE_FLOAT16, 1, (int64_t[]){2}, hx);
    ks_tensor thl = mk(KS_DTYPE_FLOAT16, 0, NULL, &hl), thh = mk(KS_DTYPE_FLOAT16, 0, NULL, &hh);
    const ks_tensor *hin[3] = {&th, &thl, &thh};
    KS_T_CHECK_OK(ctx, run(node("Clip", 3, 1), 3, hin, &out));
    KS_T_CHECK_EQ_I(out.dtype, KS_DTYPE_FLOAT16);
    KS_T_CHECK(ks_half_to_float(((uint16_t *)out.data)[0]) == -1);
    KS_T_CHECK(ks_half_to_float(((uint16_t *)out.data)[1]) == 0.25f);
    ks_tensor_release(ctx, &out);
}

/* ------------------------------------------------------------ softmax */

static void test_softmax(void) {
    enum { N = 24 };
    float x[N];
    for (int i = 0; i < N; i++)
        x[i] = rndf(-4, 4);
    x[5] = 1000; /* large numbers must not overflow */
    int64_t d[] = {2, 3, 4};
    ks_tensor t = mk(KS_DTYPE_FLOAT32, 3, d, x);
    const ks_tensor *in[1] = {&t};
    for (int is_log = 0; is_log < 2; is_log++) {
        for (int axis = -3; axis < 3; axis++) {
            for (int legacy = 0; legacy < 2; legacy++) {
                int n = node_opset(is_log ? "LogSoftmax" : "Softmax", legacy ? 11 : 13, 1, 1);
                attr_i(n, "axis", axis);
                ks_tensor out;
                ks_status st = run(n, 1, in, &out);
                KS_T_CHECK_OK(ctx, st);
                if (st != KS_OK)
                    continue;
                int a = axis < 0 ? axis + 3 : axis;
                /* groups: legacy flattens [prod(d[:a]), prod(d[a:])] */
                int64_t outer = 1, len = 1, inner = 1;
                for (int i = 0; i < a; i++)
                    outer *= d[i];
                if (legacy) {
                    for (int i = a; i < 3; i++)
                        len *= d[i];
                } else {
                    len = d[a];
                    for (int i = a + 1; i < 3; i++)
                        inner *= d[i];
                }
                for (int64_t o = 0; o < outer; o++)
                    for (int64_t k = 0; k < inner; k++) {
                        double m = -INFINITY, s = 0;
                        for (int64_t j = 0; j < len; j++)
                            m = fmax(m, x[(o * len + j) * inner + k]);
                        for (int64_t j = 0; j < len; j++)
                            s += exp(x[(o * len + j) * inner + k] - m);
                        for (int64_t j = 0; j < len; j++) {
                            int64_t e = (o * len + j) * inner + k;
                            double want = is_log ? x[e] - m - log(s) : exp(x[e] - m) / s;
                            KS_T_CHECK_NEAR(((float *)out.data)[e], want, 1e-6 * fmax(1, fabs(want)));
                        }
                    }
                ks_tensor_release(ctx, &out);
            }
        }
    }
    /* default axis: -1 at opset 13, 1 before */
    int n13 = node_opset("Softmax", 13, 1, 1), n11 = node_opset("Softmax", 11, 1, 1);
    ks_tensor o13, o11;
    KS_T_CHECK_OK(ctx, run(n13, 1, in, &o13));
    KS_T_CHECK_OK(ctx, run(n11, 1, in, &o11));
    double s13 = 0, s11 = 0;
    for (int j = 0; j < 4; j++)
        s13 += ((float *)o13.data)[j];
    for (int j = 0; j < 12; j++)
        s11 += ((float *)o11.data)[j];
    KS_T_CHECK_NEAR(s13, 1, 1e-6);
    KS_T_CHECK_NEAR(s11, 1, 1e-6);
    ks_tensor_release(ctx, &o13);
    ks_tensor_release(ctx, &o11);
}

/* ------------------------------------------------------------ logic */

static void test_logic(void) {
    int32_t a[] = {1, 2, 3, 4, 5, 6};
    int32_t b[] = {2, 2, 5};
    ks_tensor ta = mk(KS_DTYPE_INT32, 2, (int64_t[]){2, 3}, a);
    ks_tensor tb = mk(KS_DTYPE_INT32, 1, (int64_t[]){3}, b);
    const ks_tensor *in[2] = {&ta, &tb};
    const char *ops[] = {"Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual"};
    for (int k = 0; k < 5; k++) {
        ks_tensor out;
        KS_T_CHECK_OK(ctx, run(node(ops[k], 2, 1), 2, in, &out));
        KS_T_CHECK_EQ_I(out.dtype, KS_DTYPE_BOOL);
        KS_T_CHECK_EQ_I(out.ndim, 2);
        for (int i = 0; i < 6; i++) {
            int x = a[i], y = b[i % 3];
            int want = k == 0 ? x == y : k == 1 ? x > y : k == 2 ? x >= y : k == 3 ? x < y : x <= y;
            KS_T_CHECK_EQ_I(((uint8_t *)out.data)[i], want);
        }
        ks_tensor_release(ctx, &out);
    }
    uint8_t p[] = {1, 0, 1, 0}, q[] = {1, 1, 0, 0};
    ks_tensor tp = mk(KS_DTYPE_BOOL, 1, (int64_t[]){4}, p), tq = mk(KS_DTYPE_BOOL, 1, (int64_t[]){4}, q);
    const ks_tensor *lin[2] = {&tp, &tq};
    const char *lops[] = {"And", "Or", "Xor"};
    uint8_t want[3][4] = {{1, 0, 0, 0}, {1, 1, 1, 0}, {0, 1, 1, 0}};
    for (int k = 0; k < 3; k++) {
        ks_tensor out;
        KS_T_CHECK_OK(ctx, run(node(lops[k], 2, 1), 2, lin, &out));
        KS_T_CHECK(memcmp(out.data, want[k], 4) == 0);
        ks_tensor_release(ctx, &out);
    }
    ks_tensor out;
    KS_T_CHECK_OK(ctx, run(node("Not", 1, 1), 1, lin, &out));
    KS_T_CHECK(((uint8_t *)out.data)[0] == 0 && ((uint8_t *)out.data)[1] == 1);
    ks_tensor_release(ctx, &out);
    /* Where: cond [2,1], X [1,3] int64, Y scalar -> [2,3] */
    uint8_t c[] = {1, 0};
    int64_t x[] = {7, 8, 9}, y = -1;
    ks_tensor tc = mk(KS_DTYPE_BOOL, 2, (int64_t[]){2, 1}, c);
    ks_tensor tx = mk(KS_DTYPE_INT64, 2, (int64_t[]){1, 3}, x);
    ks_tensor ty = mk(KS_DTYPE_INT64, 0, NULL, &y);
    const ks_tensor *win[3] = {&tc, &tx, &ty};
    KS_T_CHECK_OK(ctx, run(node("Where", 3, 1), 3, win, &out));
    KS_T_CHECK_EQ_I(out.ndim, 2);
    KS_T_CHECK_EQ_I(out.dims[1], 3);
    int64_t *o = out.data;
    KS_T_CHECK(o[0] == 7 && o[1] == 8 && o[2] == 9 && o[3] == -1 && o[5] == -1);
    ks_tensor_release(ctx, &out);
    /* float comparisons with NaN */
    float fa[] = {NAN, 1}, fb[] = {NAN, 1};
    ks_tensor tfa = mk(KS_DTYPE_FLOAT32, 1, (int64_t[]){2}, fa), tfb = mk(KS_DTYPE_FLOAT32, 1, (int64_t[]){2}, fb);
    const ks_tensor *fin[2] = {&tfa, &tfb};
    KS_T_CHECK_OK(ctx, run(node("Equal", 2, 1), 2, fin, &out));
    KS_T_CHECK(((uint8_t *)out.data)[0] == 0 && ((uint8_t *)out.data)[1] == 1);
    ks_tensor_release(ctx, &out);
}

/* ------------------------------------------------------------ reductions */

static void test_reduce(void) {
    enum { N = 60 };
    float x[N];
    for (int i = 0; i < N; i++)
        x[i] = rndf(-2, 2);
    int64_t d[] = {3, 4, 5};
    ks_tensor t = mk(KS_DTYPE_FLOAT32, 3, d, x);
    const char *ops[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2"};
    /* every axes subset (bitmask), keepdims 0/1 */
    for (int k = 0; k < 6; k++) {
        for (int m = 0; m < 8; m++) {
            for (int keep = 0; keep < 2; keep++) {
                int64_t axes[3];
                int na = 0;
                for (int i = 0; i < 3; i++)
                    if (m & (1 << i))
                        axes[na++] = i - (k & 1 ? 3 : 0); /* negative axes for some */
                ks_tensor ta = mk(KS_DTYPE_INT64, 1, (int64_t[]){na}, axes);
                const ks_tensor *in[2] = {&t, na ? &ta : NULL};
                int n = node(ops[k], 2, 1);
                attr_i(n, "keepdims", keep);
                ks_tensor out;
                ks_status st = run(n, 2, in, &out);
                KS_T_CHECK_OK(ctx, st);
                if (st != KS_OK)
                    continue;
                int mm = na ? m : 7;
                int exp_nd = keep ? 3 : 3 - __builtin_popcount(mm);
                KS_T_CHECK_EQ_I(out.ndim, exp_nd);
                int64_t od[3];
                for (int i = 0; i < 3; i++)
                    od[i] = (mm & (1 << i)) ? 1 : d[i];
                int64_t no = od[0] * od[1] * od[2];
                KS_T_CHECK_EQ_I(ks_tensor_numel(&out), no);
                for (int64_t oi = 0; oi < no; oi++) {
                    int64_t o0 = oi / (od[1] * od[2]), o1 = (oi / od[2]) % od[1], o2 = oi % od[2];
                    double acc = k == 2 ? -INFINITY : k == 3 ? INFINITY : k == 4 ? 1 : 0;
                    int cnt = 0;
                    for (int i0 = 0; i0 < 3; i0++)
                        for (int i1 = 0; i1 < 4; i1++)
                            for (int i2 = 0; i2 < 5; i2++) {
                                if (((mm & 1) == 0 && i0 != o0) || ((mm & 2) == 0 && i1 != o1) ||
                                    ((mm & 4) == 0 && i2 != o2))
                                    continue;
                                double v = x[(i0 * 4 + i1) * 5 + i2];
                                cnt++;
                                switch (k) {
                                case 0: case 1: acc += v; break;
                                case 2: acc = fmax(acc, v); break;
                                case 3: acc = fmin(acc, v); break;
                                case 4: acc *= v; break;
                                case 5: acc += v * v; break;
                                }
                            }
                    if (k == 1)
                        acc /= cnt;
                    if (k == 5)
                        acc = sqrt(acc);
                    double got = ((float *)out.data)[oi];
                    KS_T_CHECK_MSG(fabs(got - acc) <= 1e-6 * fmax(1, fabs(acc)),
                                   "%s mask %d keep %d out %lld: got %g want %g", ops[k], m, keep,
                                   (long long)oi, got, acc);
                }
                ks_tensor_release(ctx, &out);
            }
        }
    }
    /* noop_with_empty_axes */
    int64_t none[1];
    ks_tensor te = mk(KS_DTYPE_INT64, 1, (int64_t[]){0}, none);
    const ks_tensor *in[2] = {&t, &te};
    int n = node("ReduceSum", 2, 1);
    attr_i(n, "noop_with_empty_axes", 1);
    ks_tensor out;
    KS_T_CHECK_OK(ctx, run(n, 2, in, &out));
    KS_T_CHECK_EQ_I(out.ndim, 3);
    KS_T_CHECK(memcmp(out.data, x, sizeof x) == 0);
    ks_tensor_release(ctx, &out);
    /* integer ReduceSum / Max */
    int32_t xi[] = {1, -2, 3, 4, 5, -6};
    ks_tensor ti = mk(KS_DTYPE_INT32, 2, (int64_t[]){2, 3}, xi);
    int64_t ax1[] = {1};
    ks_tensor ta = mk(KS_DTYPE_INT64, 1, (int64_t[]){1}, ax1);
    const ks_tensor *iin[2] = {&ti, &ta};
    n = node("ReduceSum", 2, 1);
    attr_i(n, "keepdims", 0);
    KS_T_CHECK_OK(ctx, run(n, 2, iin, &out));
    KS_T_CHECK(out.ndim == 1 && ((int32_t *)out.data)[0] == 2 && ((int32_t *)out.data)[1] == 3);
    ks_tensor_release(ctx, &out);
    n = node("ReduceMax", 2, 1);
    KS_T_CHECK_OK(ctx, run(n, 2, iin, &out));
    KS_T_CHECK(out.ndim == 2 && ((int32_t *)out.data)[0] == 3 && ((int32_t *)out.data)[1] == 5);
    ks_tensor_release(ctx, &out);
    /* axis out of range */
    int64_t ax9[] = {9};
    ks_tensor t9 = mk(KS_DTYPE_INT64, 1, (int64_t[]){1}, ax9);
    const ks_tensor *bin[2] = {&ti, &t9};
    KS_T_CHECK(run(node("ReduceSum", 2, 1), 2, bin, &out) == KS_INVALID_MODEL);
}

static void test_arg_topk(void) {
    float x[] = {2, 1, 2, 0, 5, 5, 3, 3};
    ks_tensor t = mk(KS_DTYPE_FLOAT32, 2, (int64_t[]){2, 4}, x);
    const ks_tensor *in[1] = {&t};
    ks_tensor out;
    int n = node("ArgMax", 1, 1);
    attr_i(n, "axis", 1);
    KS_T_CHECK_OK(ctx, run(n, 1, in, &out));
    KS_T_CHECK(out.ndim == 2 && out.dims[1] == 1 && out.dtype == KS_DTYPE_INT64);
    KS_T_CHECK(((int64_t *)out.data)[0] == 0 && ((int64_t *)out.data)[1] == 0);
    ks_tensor_release(ctx, &out);
    n = node("ArgMax", 1, 1);
    attr_i(n, "axis", -1);
    attr_i(n, "select_last_index", 1);
    attr_i(n, "keepdims", 0);
    KS_T_CHECK_OK(ctx, run(n, 1, in, &out));
    KS_T_CHECK(out.ndim == 1);
    KS_T_CHECK(((int64_t *)out.data)[0] == 2 && ((int64_t *)out.data)[1] == 1);
    ks_tensor_release(ctx, &out);
    n = node("ArgMin", 1, 1);
    KS_T_CHECK_OK(ctx, run(n, 1, in, &out));
    KS_T_CHECK(out.ndim == 2 && out.dims[0] == 1 && out.dims[1] == 4);
    int64_t *o = out.data;
    KS_T_CHECK(o[0] == 0 && o[1] == 0 && o[2] == 0 && o[3] == 0);
    ks_tensor_release(ctx, &out);

    /* TopK with ties: lower index first */
    int64_t k = 3;
    ks_tensor tk = mk(KS_DTYPE_INT64, 1, (int64_t[]){1}, &k);
    const ks_tensor *tin[2] = {&t, &tk};
    ks_tensor outs[2];
    n = node("TopK", 2, 2);
    KS_T_CHECK_OK(ctx, run(n, 2, tin, outs));
    KS_T_CHECK(outs[0].ndim == 2 && outs[0].dims[1] == 3 && outs[1].dtype == KS_DTYPE_INT64);
    float *v = outs[0].data;
    int64_t *ix = outs[1].data;
    KS_T_CHECK(v[0] == 2 && v[1] == 2 && v[2] == 1 && ix[0] == 0 && ix[1] == 2 && ix[2] == 1);
    KS_T_CHECK(v[3] == 5 && v[4] == 5 && v[5] == 3 && ix[3] == 0 && ix[4] == 1 && ix[5] == 2);
    ks_tensor_release(ctx, &outs[0]);
    ks_tensor_release(ctx, &outs[1]);
    n = node("TopK", 2, 2);
    attr_i(n, "largest", 0);
    attr_i(n, "axis", 0);
    k = 1;
    KS_T_CHECK_OK(ctx, run(n, 2, tin, outs));
    KS_T_CHECK(outs[0].dims[0] == 1 && outs[0].dims[1] == 4);
    v = outs[0].data;
    ix = outs[1].data;
    KS_T_CHECK(v[0] == 2 && v[1] == 1 && v[2] == 2 && v[3] == 0);
    KS_T_CHECK(ix[0] == 0 && ix[1] == 0 && ix[2] == 0 && ix[3] == 0);
    ks_tensor_release(ctx, &outs[0]);
    ks_tensor_release(ctx, &outs[1]);
    k = 9;
    KS_T_CHECK(run(node("TopK", 2, 2), 2, tin, outs) == KS_INVALID_MODEL);
}

/* ------------------------------------------------------------ inference */

static void test_infer_unknown(void) {
    ks_tensor a = mk(KS_DTYPE_FLOAT32, 4, (int64_t[]){-1, 3, -1, 1}, NULL);
    ks_tensor b = mk(KS_DTYPE_FLOAT32, 3, (int64_t[]){1, 5, 7}, NULL);
    const ks_tensor *in[2] = {&a, &b};
    ks_tensor out;
    KS_T_CHECK_OK(ctx, infer(node("Add", 2, 1), in, &out));
    KS_T_CHECK(out.ndim == 4 && out.dims[0] == -1 && out.dims[1] == 3 && out.dims[2] == 5 &&
               out.dims[3] == 7);
    KS_T_CHECK_OK(ctx, infer(node("Less", 2, 1), in, &out));
    KS_T_CHECK(out.dtype == KS_DTYPE_BOOL && out.ndim == 4);
    ks_tensor bad = mk(KS_DTYPE_FLOAT32, 3, (int64_t[]){4, 1, 1}, NULL);
    const ks_tensor *bin[2] = {&a, &bad};
    KS_T_CHECK(infer(node("Mul", 2, 1), bin, &out) == KS_UNSUPPORTED_SHAPE);
    ks_tensor ur = mk(KS_DTYPE_FLOAT32, 0, NULL, NULL);
    ur.ndim = -1;
    const ks_tensor *uin[2] = {&a, &ur};
    KS_T_CHECK_OK(ctx, infer(node("Sub", 2, 1), uin, &out));
    KS_T_CHECK_EQ_I(out.ndim, -1);
    /* mismatched dtypes */
    ks_tensor bi = mk(KS_DTYPE_INT32, 1, (int64_t[]){1}, NULL);
    const ks_tensor *din[2] = {&a, &bi};
    KS_T_CHECK(infer(node("Add", 2, 1), din, &out) == KS_INVALID_MODEL);

    /* reductions with unknown axes data */
    ks_tensor ax = mk(KS_DTYPE_INT64, 1, (int64_t[]){2}, NULL);
    const ks_tensor *rin[2] = {&a, &ax};
    int n = node("ReduceMean", 2, 1);
    KS_T_CHECK_OK(ctx, infer(n, rin, &out));
    KS_T_CHECK(out.ndim == 4 && out.dims[1] == -1 && out.dims[3] == 1);
    n = node("ReduceMean", 2, 1);
    attr_i(n, "keepdims", 0);
    KS_T_CHECK_OK(ctx, infer(n, rin, &out));
    KS_T_CHECK_EQ_I(out.ndim, 2);
    int64_t axv[] = {1, -1};
    ax.data = axv;
    KS_T_CHECK_OK(ctx, infer(n, rin, &out));
    KS_T_CHECK(out.ndim == 2 && out.dims[0] == -1 && out.dims[1] == -1);
    /* TopK with unknown K */
    ks_tensor k = mk(KS_DTYPE_INT64, 1, (int64_t[]){1}, NULL);
    const ks_tensor *tin[2] = {&b, &k};
    ks_tensor outs[2];
    KS_T_CHECK_OK(ctx, infer(node("TopK", 2, 2), tin, outs));
    KS_T_CHECK(outs[0].ndim == 3 && outs[0].dims[2] == -1 && outs[1].dtype == KS_DTYPE_INT64);
    /* PRelu with channel slope against unknown dims */
    ks_tensor sl = mk(KS_DTYPE_FLOAT32, 1, (int64_t[]){3}, NULL);
    const ks_tensor *pin[2] = {&a, &sl};
    KS_T_CHECK_OK(ctx, infer(node("PRelu", 2, 1), pin, &out));
    KS_T_CHECK(out.ndim == 4 && out.dims[1] == 3);
    /* Where: three-way */
    ks_tensor c = mk(KS_DTYPE_BOOL, 2, (int64_t[]){-1, 1}, NULL);
    ks_tensor y = mk(KS_DTYPE_INT64, 1, (int64_t[]){6}, NULL);
    ks_tensor x = mk(KS_DTYPE_INT64, 0, NULL, NULL);
    const ks_tensor *win[3] = {&c, &x, &y};
    KS_T_CHECK_OK(ctx, infer(node("Where", 3, 1), win, &out));
    KS_T_CHECK(out.ndim == 2 && out.dims[0] == -1 && out.dims[1] == 6 && out.dtype == KS_DTYPE_INT64);
    /* ArgMax */
    const ks_tensor *ain[1] = {&b};
    n = node("ArgMax", 1, 1);
    attr_i(n, "axis", 5);
    KS_T_CHECK(infer(n, ain, &out) == KS_UNSUPPORTED_ATTR);
}

/* ------------------------------------------------------------ speed sanity */

static void test_large_broadcast(void) {
    /* [8,64,32,32] + [1,64,1,1]: exercises the collapsed row path */
    int64_t da[] = {8, 64, 32, 32}, db[] = {1, 64, 1, 1};
    ks_tensor a = mk(KS_DTYPE_FLOAT32, 4, da, NULL), b = mk(KS_DTYPE_FLOAT32, 4, db, NULL);
    int64_t na = ks_tensor_numel(&a);
    float *pa = malloc((size_t)na * 4), pb[64];
    for (int64_t i = 0; i < na; i++)
        pa[i] = (float)(i % 97);
    for (int i = 0; i < 64; i++)
        pb[i] = (float)i * 1000;
    a.data = pa;
    b.data = pb;
    const ks_tensor *in[2] = {&a, &b};
    ks_tensor out;
    KS_T_CHECK_OK(ctx, run(node("Add", 2, 1), 2, in, &out));
    int bad = 0;
    for (int64_t i = 0; i < na; i++) {
        int64_t ch = (i / 1024) % 64;
        if (((float *)out.data)[i] != pa[i] + pb[ch])
            bad++;
    }
    KS_T_CHECK_EQ_I(bad, 0);
    ks_tensor_release(ctx, &out);
    free(pa);
}

int main(void) {
    KS_T_CHECK(ks_context_create(NULL, &ctx) == KS_OK);
    KS_T_CHECK(ks__graph_create(ctx, "<test_ops_elem>", &g) == KS_OK);
    test_helpers();
    test_binary_random();
    test_int_div_mod();
    test_pow_mixed();
    test_variadic();
    test_activations();
    test_prelu_clip();
    test_softmax();
    test_logic();
    test_reduce();
    test_arg_topk();
    test_infer_unknown();
    test_large_broadcast();
    ks__graph_destroy(g);
    ks_context_destroy(ctx);
    return ks_t_done();
}
