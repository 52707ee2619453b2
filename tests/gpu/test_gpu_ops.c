/* Every GPU layer kind and fusion, with parameter sweeps, against the CPU
 * reference: small ONNX models built in memory, run through the public API
 * (ks_engine_build / ks_exec_run) in FP32 (<= 1e-4 relative L2, TF32 off)
 * and FP16 (<= 1e-2). Exit 77 without a GPU. */
#include "gpu/gpu_test.h"
#include "import/onnx_build.h"

static ks_context *ctx;
static int n_cases;

static float *rnd(size_t n, float lo, float hi) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        v[i] = gt_uniform(lo, hi);
    return v;
}

static int fp16_only; /* run_case_fused: FP16-only tactics (own:direct:2) */
static int fp32_only; /* discontinuous ops (Floor/Ceil/Round): FP16 input rounding flips results */

static void run_case(tb_model *tb, const char *label, float lo, float hi) {
    size_t n;
    uint8_t *buf = tb_pack(tb, &n);
    for (int p = 0; p < (fp32_only ? 1 : 2); p++) {
        gt_opts o;
        memset(&o, 0, sizeof o);
        o.precision = p ? KS_PRECISION_FP16 : KS_PRECISION_FP32;
        o.tol = p ? 1e-2 : 1e-4;
        o.lo = lo;
        o.hi = hi;
        o.label = label;
        o.check_graph = (n_cases % 7) == 0;
        double r = gt_compare(ctx, NULL, buf, n, &o);
        if (r < 0 || r > o.tol)
            fprintf(stderr, "  case %-48s %s rel %.3g\n", label, p ? "fp16" : "fp32", r);
    }
    n_cases++;
    free(buf);
    tb_free(tb);
}

/* conv [+ bn] [+ act ...] */
static void conv_case(int C, int M, int H, int W, int k, int s, int pad, int group, int dil, const char *act,
                      int bn, int residual, const char *auto_pad) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    int64_t xd[4] = {2, C, H, W};
    tb_input(&tb, "x", TB_FLOAT, 4, xd);
    int64_t wd[4] = {M, C / group, k, k}, bd[1] = {M};
    float *w = rnd((size_t)(M * (C / group) * k * k), -0.5f, 0.5f), *b = rnd((size_t)M, -0.5f, 0.5f);
    tb_init_f(&tb, "w", 4, wd, w);
    tb_init_f(&tb, "b", 1, bd, b);
    Onnx__NodeProto *n = tb_node(&tb, "Conv", "conv", "x,w,b", "c");
    tb_attr_ints(&tb, n, "kernel_shape", 2, (int64_t[]){k, k});
    tb_attr_ints(&tb, n, "strides", 2, (int64_t[]){s, s});
    tb_attr_ints(&tb, n, "dilations", 2, (int64_t[]){dil, dil});
    if (auto_pad)
        tb_attr_s(&tb, n, "auto_pad", auto_pad);
    else
        tb_attr_ints(&tb, n, "pads", 4, (int64_t[]){pad, pad, pad, pad});
    tb_attr_i(&tb, n, "group", group);
    const char *cur = "c";
    if (bn) {
        float *sc = rnd((size_t)M, 0.5f, 1.5f), *sh = rnd((size_t)M, -0.5f, 0.5f), *mu = rnd((size_t)M, -0.5f, 0.5f),
              *var = rnd((size_t)M, 0.5f, 1.5f);
        tb_init_f(&tb, "sc", 1, bd, sc);
        tb_init_f(&tb, "sh", 1, bd, sh);
        tb_init_f(&tb, "mu", 1, bd, mu);
        tb_init_f(&tb, "var", 1, bd, var);
        tb_node(&tb, "BatchNormalization", "bn", "c,sc,sh,mu,var", "cb");
        cur = "cb";
        free(sc); free(sh); free(mu); free(var);
    }
    if (residual == 1) { /* add before act: needs a same-shape operand: a second conv branch */
        tb_node(&tb, "Conv", "conv2", "x,w,b", "c2");
        Onnx__NodeProto *n2 = tb.nodes[tb.graph.n_node - 1];
        *n2 = *n;
        n2->name = tb_str(&tb, "conv2");
        n2->n_output = 1;
        n2->output = tb_alloc(&tb, sizeof(char *));
        n2->output[0] = tb_str(&tb, "c2");
        tb_node(&tb, "Add", "add", cur[1] ? "cb,c2" : "c,c2", "ca");
        cur = "ca";
    }
    char out[32] = "y";
    if (act) {
        if (!strcmp(act, "SiLU")) {
            tb_node(&tb, "Sigmoid", "sig", cur, "s");
            char ins[64];
            snprintf(ins, sizeof ins, "%s,s", cur);
            tb_node(&tb, "Mul", "mul", ins, "y");
        } else if (!strcmp(act, "Clip")) {
            float lo6[1] = {0.f}, hi6[1] = {6.f};
            tb_init_f(&tb, "lo", 0, NULL, lo6);
            tb_init_f(&tb, "hi", 0, NULL, hi6);
            char ins[64];
            snprintf(ins, sizeof ins, "%s,lo,hi", cur);
            tb_node(&tb, "Clip", "clip", ins, "y");
        } else if (!strcmp(act, "PRelu")) {
            int64_t sd[3] = {M, 1, 1};
            float *sl = rnd((size_t)M, 0.f, 0.5f);
            tb_init_f(&tb, "slope", 3, sd, sl);
            free(sl);
            char ins[64];
            snprintf(ins, sizeof ins, "%s,slope", cur);
            tb_node(&tb, "PRelu", "prelu", ins, "y");
        } else {
            Onnx__NodeProto *a = tb_node(&tb, act, "act", cur, "y");
            if (!strcmp(act, "LeakyRelu"))
                tb_attr_f(&tb, a, "alpha", 0.1f);
        }
    } else {
        tb_node(&tb, "Identity", "id", cur, "y");
    }
    if (residual == 2) { /* add after act: y2 = y + c2 */
        tb_node(&tb, "Conv", "conv3", "x,w,b", "c3");
        Onnx__NodeProto *n3 = tb.nodes[tb.graph.n_node - 1];
        *n3 = *n;
        n3->name = tb_str(&tb, "conv3");
        n3->n_output = 1;
        n3->output = tb_alloc(&tb, sizeof(char *));
        n3->output[0] = tb_str(&tb, "c3");
        tb_node(&tb, "Add", "add2", "y,c3", "y2");
        strcpy(out, "y2");
    }
    tb_output(&tb, out, TB_FLOAT, -1, NULL);
    char label[160];
    snprintf(label, sizeof label, "conv C%d M%d %dx%d k%d s%d p%d g%d d%d %s%s%s%s", C, M, H, W, k, s, pad, group,
             dil, act ? act : "-", bn ? " bn" : "", residual ? (residual == 1 ? " res" : " res-after") : "",
             auto_pad ? auto_pad : "");
    run_case(&tb, label, -1.f, 1.f);
    free(w);
    free(b);
}

/* Builds the packed model and checks the build report names `needle`
 * (that the fusion under test happened). */
static void expect_report(const uint8_t *buf, size_t n, ks_precision prec, const char *needle, const char *label) {
    ks_model *m = NULL;
    ks_status st = ks_model_load_memory(ctx, buf, n, NULL, &m);
    KS_T_CHECK_OK(ctx, st);
    if (st != KS_OK)
        return;
    ks_build_config cfg;
    ks_build_config_init(&cfg);
    cfg.precision = prec;
    ks_engine *e = NULL;
    st = ks_engine_build(m, &cfg, &e);
    KS_T_CHECK_MSG(st == KS_OK, "%s: build: %s: %s", label, ks_status_name(st), ks_context_last_error(ctx));
    if (e) {
        const char *r = ks_engine_build_report(e);
        KS_T_CHECK_MSG(r && strstr(r, needle), "%s (%s): build report lacks '%s':\n%s", label,
                       prec == KS_PRECISION_FP16 ? "fp16" : "fp32", needle, r ? r : "");
        ks_engine_destroy(e);
    }
    ks_model_destroy(m);
}

/* run_case plus: the report must contain `needle` in both precisions, and
 * the engine must survive serialize + load (engine-file validation). */
static int needle_fp16_only; /* fp16-only kernels: fp32 just runs the fallback */

static void run_case_fused(tb_model *tb, const char *label, const char *needle) {
    size_t n;
    uint8_t *buf = tb_pack(tb, &n);
    for (int p = fp16_only; p < 2; p++) {
        if (p || !needle_fp16_only)
            expect_report(buf, n, p ? KS_PRECISION_FP16 : KS_PRECISION_FP32, needle, label);
        gt_opts o;
        memset(&o, 0, sizeof o);
        o.precision = p ? KS_PRECISION_FP16 : KS_PRECISION_FP32;
        o.tol = p ? 1e-2 : 1e-4;
        o.lo = -1.f;
        o.hi = 1.f;
        o.label = label;
        o.check_graph = 1;
        o.check_roundtrip = 1;
        double r = gt_compare(ctx, NULL, buf, n, &o);
        if (r < 0 || r > o.tol)
            fprintf(stderr, "  case %-48s %s rel %.3g\n", label, p ? "fp16" : "fp32", r);
    }
    n_cases++;
    free(buf);
    tb_free(tb);
}

/* activation node `act` (NULL = none) from `in` to `out` */
static void act_node(tb_model *tb, const char *act, const char *in, const char *out, int C, const char *tag) {
    char ins[96], nm[64];
    snprintf(nm, sizeof nm, "%s_act", tag);
    if (!act) {
        tb_node(tb, "Identity", nm, in, out);
    } else if (!strcmp(act, "Clip")) {
        char lo[32], hi[32];
        snprintf(lo, sizeof lo, "%s_lo", tag);
        snprintf(hi, sizeof hi, "%s_hi", tag);
        float lo6[1] = {0.f}, hi6[1] = {6.f};
        tb_init_f(tb, lo, 0, NULL, lo6);
        tb_init_f(tb, hi, 0, NULL, hi6);
        snprintf(ins, sizeof ins, "%s,%s,%s", in, lo, hi);
        tb_node(tb, "Clip", nm, ins, out);
    } else if (!strcmp(act, "PRelu")) {
        char sn[32];
        snprintf(sn, sizeof sn, "%s_slope", tag);
        int64_t sd[3] = {C, 1, 1};
        float *sl = rnd((size_t)C, 0.f, 0.5f);
        tb_init_f(tb, sn, 3, sd, sl);
        free(sl);
        snprintf(ins, sizeof ins, "%s,%s", in, sn);
        tb_node(tb, "PRelu", nm, ins, out);
    } else {
        tb_node(tb, act, nm, in, out);
    }
}

/* depthwise kxk (+BN) + act, then 1x1 + act [+ residual]: the fused
 * depthwise+pointwise layer, forced on with KESTREL_DWPW=force[:cfg] */
static void dwpw_case(int N, int C, int K, int H, int W, int k, int s, const char *dact, const char *pact,
                      int residual, int cfg) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    int64_t xd[4] = {N, C, H, W};
    tb_input(&tb, "x", TB_FLOAT, 4, xd);
    int64_t dwd[4] = {C, 1, k, k}, cd[1] = {C}, pwd[4] = {K, C, 1, 1}, kd[1] = {K};
    float *dw = rnd((size_t)(C * k * k), -0.5f, 0.5f), *db = rnd((size_t)C, -0.5f, 0.5f);
    float *pw = rnd((size_t)(K * C), -0.5f, 0.5f), *pb = rnd((size_t)K, -0.5f, 0.5f);
    tb_init_f(&tb, "dw", 4, dwd, dw);
    tb_init_f(&tb, "db", 1, cd, db);
    tb_init_f(&tb, "pw", 4, pwd, pw);
    tb_init_f(&tb, "pb", 1, kd, pb);
    Onnx__NodeProto *n = tb_node(&tb, "Conv", "dwconv", "x,dw,db", "d");
    tb_attr_ints(&tb, n, "kernel_shape", 2, (int64_t[]){k, k});
    tb_attr_ints(&tb, n, "strides", 2, (int64_t[]){s, s});
    tb_attr_ints(&tb, n, "pads", 4, (int64_t[]){k / 2, k / 2, k / 2, k / 2});
    tb_attr_i(&tb, n, "group", C);
    act_node(&tb, dact, "d", "da", C, "dw");
    n = tb_node(&tb, "Conv", "pwconv", "da,pw,pb", "p");
    tb_attr_ints(&tb, n, "kernel_shape", 2, (int64_t[]){1, 1});
    act_node(&tb, pact, "p", residual ? "pa" : "y", K, "pw");
    if (residual) /* x + pw(dw(x)): K == C, stride 1 */
        tb_node(&tb, "Add", "add", "pa,x", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    char label[160], env[32];
    snprintf(label, sizeof label, "dw+pw N%d C%d K%d %dx%d k%d s%d %s/%s%s cfg%d", N, C, K, H, W, k, s,
             dact ? dact : "-", pact ? pact : "-", residual ? " res" : "", cfg);
    snprintf(env, sizeof env, cfg >= 0 ? "force:%d" : "force", cfg);
    setenv("KESTREL_DWPW", env, 1);
    run_case_fused(&tb, label, "Depthwise+pointwise fusion: 1 of 1 pairs fused");
    unsetenv("KESTREL_DWPW");
    free(dw); free(db); free(pw); free(pb);
}

/* sibling convs on one tensor (different output channel counts) whose
 * outputs feed a conv, a 1x1 conv and an elementwise op: horizontal fusion */
static void hfuse_case(int N, int k) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    int C = 8, H = 12, W = 13;
    int64_t xd[4] = {N, C, H, W};
    tb_input(&tb, "x", TB_FLOAT, 4, xd);
    const int ks[3] = {16, 24, 5};
    const char *nm[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        int64_t wd[4] = {ks[i], C, k, k}, bd[1] = {ks[i]};
        float *w = rnd((size_t)(ks[i] * C * k * k), -0.5f, 0.5f), *b = rnd((size_t)ks[i], -0.5f, 0.5f);
        char wn[16], bn[16], ins[48], out[16];
        snprintf(wn, sizeof wn, "hw_%s", nm[i]);
        snprintf(bn, sizeof bn, "hb_%s", nm[i]);
        tb_init_f(&tb, wn, 4, wd, w);
        tb_init_f(&tb, bn, 1, bd, b);
        snprintf(ins, sizeof ins, "x,%s,%s", wn, bn);
        snprintf(out, sizeof out, "%s0", nm[i]);
        Onnx__NodeProto *n = tb_node(&tb, "Conv", nm[i], ins, out);
        tb_attr_ints(&tb, n, "kernel_shape", 2, (int64_t[]){k, k});
        tb_attr_ints(&tb, n, "pads", 4, (int64_t[]){k / 2, k / 2, k / 2, k / 2});
        char an[16];
        snprintf(an, sizeof an, "%s_relu", nm[i]);
        snprintf(ins, sizeof ins, "%s1", nm[i]);
        tb_node(&tb, "Relu", an, out, ins);
        free(w);
        free(b);
    }
    int64_t w1d[4] = {8, 16, 3, 3}, w2d[4] = {8, 24, 1, 1}, b8[1] = {8};
    float *w1 = rnd(8 * 16 * 9, -0.3f, 0.3f), *w2 = rnd(8 * 24, -0.3f, 0.3f), *bb = rnd(8, -0.5f, 0.5f);
    tb_init_f(&tb, "w1", 4, w1d, w1);
    tb_init_f(&tb, "w2", 4, w2d, w2);
    tb_init_f(&tb, "bb", 1, b8, bb);
    Onnx__NodeProto *n = tb_node(&tb, "Conv", "ca", "a1,w1,bb", "ya");
    tb_attr_ints(&tb, n, "kernel_shape", 2, (int64_t[]){3, 3});
    tb_attr_ints(&tb, n, "pads", 4, (int64_t[]){1, 1, 1, 1});
    n = tb_node(&tb, "Conv", "cb", "b1,w2,bb", "yb");
    tb_attr_ints(&tb, n, "kernel_shape", 2, (int64_t[]){1, 1});
    tb_node(&tb, "Add", "add", "ya,yb", "y");
    tb_node(&tb, "Sigmoid", "sig", "c1", "y2");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    tb_output(&tb, "y2", TB_FLOAT, -1, NULL);
    char label[96];
    snprintf(label, sizeof label, "horizontal fusion N%d k%d (16+24+5 channels)", N, k);
    run_case_fused(&tb, label,
                   N == 1 ? "3 sibling convs merged into 1" : "0 sibling convs merged into 0; 1 groups left apart");
    free(w1); free(w2); free(bb);
}

static void unary_case(const char *op, float lo, float hi) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    int64_t xd[4] = {2, 5, 7, 9};
    tb_input(&tb, "x", TB_FLOAT, 4, xd);
    tb_node(&tb, op, "u", "x", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    char label[64];
    snprintf(label, sizeof label, "unary %s", op);
    run_case(&tb, label, lo, hi);
}

static void binary_case(const char *op, int64_t *bd, int nbd, int scalar_const, float lo, float hi) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    int64_t xd[4] = {2, 6, 5, 7};
    tb_input(&tb, "x", TB_FLOAT, 4, xd);
    if (scalar_const) {
        float c[1] = {1.75f};
        tb_init_f(&tb, "c", 0, NULL, c);
        tb_node(&tb, op, "b", scalar_const == 1 ? "x,c" : "c,x", "y");
    } else {
        tb_input(&tb, "z", TB_FLOAT, nbd, bd);
        tb_node(&tb, op, "b", "x,z", "t");
        tb_node(&tb, "Relu", "r", "t", "y"); /* chain fusion */
    }
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    char label[96];
    snprintf(label, sizeof label, "binary %s %s", op, scalar_const ? (scalar_const == 1 ? "x,c" : "c,x") : "bcast");
    run_case(&tb, label, lo, hi);
}

static void pool_case_at(const char *op, int k, int s, int p, int ceil_mode, int cip, const int64_t xd[4]) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    tb_input(&tb, "x", TB_FLOAT, 4, xd);
    Onnx__NodeProto *n = tb_node(&tb, op, "pool", "x", "y");
    if (strncmp(op, "Global", 6)) {
        tb_attr_ints(&tb, n, "kernel_shape", 2, (int64_t[]){k, k});
        tb_attr_ints(&tb, n, "strides", 2, (int64_t[]){s, s});
        tb_attr_ints(&tb, n, "pads", 4, (int64_t[]){p, p, p, p});
        tb_attr_i(&tb, n, "ceil_mode", ceil_mode);
        if (!strcmp(op, "AveragePool"))
            tb_attr_i(&tb, n, "count_include_pad", cip);
    }
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    char label[96];
    snprintf(label, sizeof label, "%s k%d s%d p%d ceil%d cip%d %lldx%lldx%lldx%lld", op, k, s, p, ceil_mode, cip,
             (long long)xd[0], (long long)xd[1], (long long)xd[2], (long long)xd[3]);
    run_case(&tb, label, -1.f, 1.f);
}

static void pool_case(const char *op, int k, int s, int p, int ceil_mode, int cip) {
    pool_case_at(op, k, s, p, ceil_mode, cip, (int64_t[]){2, 4, 13, 11});
}

static void resize_case_at(const char *mode, const char *coord, float sh, float sw, const int64_t xd[4]) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    tb_input(&tb, "x", TB_FLOAT, 4, xd);
    int64_t sd[1] = {4};
    float sc[4] = {1.f, 1.f, sh, sw};
    tb_init_f(&tb, "scales", 1, sd, sc);
    Onnx__NodeProto *n = tb_node(&tb, "Resize", "rs", "x,,scales", "y");
    tb_attr_s(&tb, n, "mode", mode);
    tb_attr_s(&tb, n, "coordinate_transformation_mode", coord);
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    char label[96];
    snprintf(label, sizeof label, "resize %s %s %gx%g %lldx%lldx%lldx%lld", mode, coord, sh, sw, (long long)xd[0],
             (long long)xd[1], (long long)xd[2], (long long)xd[3]);
    run_case(&tb, label, -1.f, 1.f);
}

static void resize_case(const char *mode, const char *coord, float sh, float sw) {
    resize_case_at(mode, coord, sh, sw, (int64_t[]){1, 3, 6, 5});
}

/* the max pool and resize fast paths (nn.cu): the tiled max pool where it makes >= 528 blocks (the three larger
 * cases: several tiles per plane, strides, ceil mode, a 13x13 window, SPPF's widest) and the plain kernel on the
 * smaller ones; resize with 8 outputs per thread where the output width is a multiple of 8 */
static void pool_resize_cases(void) {
    pool_case_at("MaxPool", 5, 1, 2, 0, 0, (int64_t[]){2, 3, 40, 70});
    pool_case_at("MaxPool", 3, 2, 1, 1, 0, (int64_t[]){1, 2, 37, 67});
    pool_case_at("MaxPool", 13, 1, 6, 0, 0, (int64_t[]){3, 5, 20, 20});
    pool_case_at("MaxPool", 5, 1, 2, 0, 0, (int64_t[]){33, 64, 20, 20});
    pool_case_at("MaxPool", 13, 1, 6, 0, 0, (int64_t[]){33, 64, 20, 20});
    pool_case_at("MaxPool", 3, 2, 1, 1, 0, (int64_t[]){16, 16, 80, 96});
    resize_case_at("nearest", "asymmetric", 2.f, 2.f, (int64_t[]){2, 3, 10, 12});
    resize_case_at("linear", "half_pixel", 2.f, 2.f, (int64_t[]){1, 2, 5, 8});
    resize_case_at("nearest", "half_pixel", 1.5f, 4.f, (int64_t[]){1, 3, 7, 6});
}

static void move_cases(void) {
    tb_model tb;
    /* concat of three convs outputs along C (elimination) + transpose + reshape + softmax */
    for (int axis = 1; axis <= 2; axis++) {
        tb_init(&tb, 8, 13);
        int64_t xd[4] = {1, 4, 6, 8};
        tb_input(&tb, "x", TB_FLOAT, 4, xd);
        int64_t wd[4] = {4, 4, 1, 1};
        float *w = rnd(16, -1.f, 1.f);
        tb_init_f(&tb, "w", 4, wd, w);
        free(w);
        tb_node(&tb, "Conv", "c1", "x,w", "a");
        tb_node(&tb, "Relu", "r1", "x", "b");
        tb_node(&tb, "Sigmoid", "s1", "x", "c");
        Onnx__NodeProto *n = tb_node(&tb, "Concat", "cat", "a,b,c", "cc");
        tb_attr_i(&tb, n, "axis", axis);
        n = tb_node(&tb, "Transpose", "tr", "cc", "t");
        tb_attr_ints(&tb, n, "perm", 4, (int64_t[]){0, 2, 3, 1});
        int64_t shp[1] = {3};
        int64_t sv[3] = {1, -1, 4};
        tb_init_i64(&tb, "shape", 1, shp, sv);
        tb_node(&tb, "Reshape", "rs", "t,shape", "r");
        n = tb_node(&tb, "Softmax", "sm", "r", "y");
        tb_attr_i(&tb, n, "axis", -1);
        tb_output(&tb, "y", TB_FLOAT, -1, NULL);
        run_case(&tb, axis == 1 ? "concat(c)+transpose+reshape+softmax" : "concat(h)+transpose+reshape+softmax", -1.f, 1.f);
    }
    /* slice with steps, split, gather */
    tb_init(&tb, 8, 13);
    int64_t xd[4] = {2, 6, 9, 10};
    tb_input(&tb, "x", TB_FLOAT, 4, xd);
    int64_t d1[1] = {2};
    tb_init_i64(&tb, "st", 1, d1, (int64_t[]){1, -1});
    tb_init_i64(&tb, "en", 1, d1, (int64_t[]){8, 0});
    tb_init_i64(&tb, "ax", 1, d1, (int64_t[]){2, 3});
    tb_init_i64(&tb, "sp", 1, d1, (int64_t[]){2, -3});
    tb_node(&tb, "Slice", "sl", "x,st,en,ax,sp", "y1");
    tb_output(&tb, "y1", TB_FLOAT, -1, NULL);
    tb_init_i64(&tb, "spl", 1, (int64_t[]){3}, (int64_t[]){1, 2, 3});
    Onnx__NodeProto *n = tb_node(&tb, "Split", "split", "x,spl", "p0,p1,p2");
    tb_attr_i(&tb, n, "axis", 1);
    tb_node(&tb, "Relu", "pr", "p1", "y2");
    tb_output(&tb, "y2", TB_FLOAT, -1, NULL);
    tb_output(&tb, "p2", TB_FLOAT, -1, NULL);
    tb_init_i64(&tb, "gi", 1, (int64_t[]){3}, (int64_t[]){4, 0, -1});
    n = tb_node(&tb, "Gather", "ga", "x,gi", "y3");
    tb_attr_i(&tb, n, "axis", 3);
    tb_output(&tb, "y3", TB_FLOAT, -1, NULL);
    run_case(&tb, "slice(steps)+split+gather", -1.f, 1.f);
    /* pad: constant / reflect / edge */
    const char *modes[3] = {"constant", "reflect", "edge"};
    for (int m = 0; m < 3; m++) {
        tb_init(&tb, 8, 13);
        int64_t pd[4] = {1, 3, 5, 6};
        tb_input(&tb, "x", TB_FLOAT, 4, pd);
        tb_init_i64(&tb, "pads", 1, (int64_t[]){8}, (int64_t[]){0, 0, 2, 1, 0, 0, 1, 3});
        float cv[1] = {0.5f};
        tb_init_f(&tb, "cv", 0, NULL, cv);
        n = tb_node(&tb, "Pad", "pad", "x,pads,cv", "y");
        tb_attr_s(&tb, n, "mode", modes[m]);
        tb_output(&tb, "y", TB_FLOAT, -1, NULL);
        char label[64];
        snprintf(label, sizeof label, "pad %s", modes[m]);
        run_case(&tb, label, -1.f, 1.f);
    }
    /* Gemm transB + bias, MatMul */
    tb_init(&tb, 8, 13);
    int64_t ad[2] = {5, 24};
    tb_input(&tb, "a", TB_FLOAT, 2, ad);
    float *bw = rnd(16 * 24, -1.f, 1.f), *bb = rnd(16, -1.f, 1.f);
    tb_init_f(&tb, "B", 2, (int64_t[]){16, 24}, bw);
    tb_init_f(&tb, "C", 1, (int64_t[]){16}, bb);
    n = tb_node(&tb, "Gemm", "gemm", "a,B,C", "g");
    tb_attr_i(&tb, n, "transB", 1);
    tb_init_f(&tb, "B2", 2, (int64_t[]){16, 8}, bw);
    tb_node(&tb, "MatMul", "mm", "g,B2", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    free(bw);
    free(bb);
    run_case(&tb, "gemm(transB,bias)+matmul", -1.f, 1.f);
}

/* ---- bandwidth fast paths of the elementwise / data-movement kernels:
 * large tensors (the YOLOv5 detect head at batch 32), odd sizes that defeat
 * vectorization, misaligned and negative-step slices, broadcasts */
static void transpose_case(int r, const int64_t *d, const int64_t *perm, const char *label) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    tb_input(&tb, "x", TB_FLOAT, r, d);
    Onnx__NodeProto *n = tb_node(&tb, "Transpose", "tr", "x", "y");
    tb_attr_ints(&tb, n, "perm", r, perm);
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    run_case(&tb, label, -1.f, 1.f);
}

static void slice_case(int r, const int64_t *d, int64_t st, int64_t en, int64_t ax, int64_t step, const char *label) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    tb_input(&tb, "x", TB_FLOAT, r, d);
    int64_t d1[1] = {1};
    tb_init_i64(&tb, "st", 1, d1, &st);
    tb_init_i64(&tb, "en", 1, d1, &en);
    tb_init_i64(&tb, "ax", 1, d1, &ax);
    tb_init_i64(&tb, "sp", 1, d1, &step);
    tb_node(&tb, "Slice", "sl", "x,st,en,ax,sp", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    run_case(&tb, label, -1.f, 1.f);
}

static void bcast_case(int rx, const int64_t *xd, int rz, const int64_t *zd, const char *op, const char *label) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    tb_input(&tb, "x", TB_FLOAT, rx, xd);
    tb_input(&tb, "z", TB_FLOAT, rz, zd);
    tb_node(&tb, op, "b", "x,z", "t");
    tb_node(&tb, "Sigmoid", "s", "t", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    run_case(&tb, label, 0.5f, 2.f);
}

/* One YOLOv5 detect-head level into tb: input x<k> [N,255,H,W] -> reshape [N,3,85,H,W] -> transpose ->
 * sigmoid -> split 2/2/81 -> xy*2-0.5+grid, (wh*2)^2*anchor -> concat -> reshape [N,3*H*W,85] = y<k>
 * (not declared an output here) */
/* cin > 0: the level's 255 channels come from a 1x1 conv (bias, no activation) of a cin-channel input, the
 * detect-head conv that own:pointwise:1+segmap runs in front of the segmap */
static void yolo_level(tb_model *tb, int N, int H, int W, int k, int cin) {
    char nm[24][16];
    static const char *base[24] = {"x", "s5", "rs", "r", "tr", "t", "sg", "s", "spl", "split", "a", "b", "c", "grid",
                                   "anc", "a1", "a2", "a3", "xy", "b1", "b2", "wh", "cc", "y"};
    for (int i = 0; i < 24; i++)
        snprintf(nm[i], sizeof nm[i], "%s%d", base[i], k);
    char buf[64];
    if (cin > 0) {
        char xin[16], w[16], b[16], cv[16];
        snprintf(xin, sizeof xin, "xin%d", k);
        snprintf(w, sizeof w, "hw%d", k);
        snprintf(b, sizeof b, "hb%d", k);
        snprintf(cv, sizeof cv, "head%d", k);
        tb_input(tb, xin, TB_FLOAT, 4, (int64_t[]){N, cin, H, W});
        float *wv = rnd((size_t)255 * cin, -0.3f, 0.3f), *bv = rnd(255, -1.f, 1.f);
        tb_init_f(tb, w, 4, (int64_t[]){255, cin, 1, 1}, wv);
        tb_init_f(tb, b, 1, (int64_t[]){255}, bv);
        snprintf(buf, sizeof buf, "%s,%s,%s", xin, w, b);
        tb_node(tb, "Conv", cv, buf, nm[0]);
        free(wv);
        free(bv);
    } else {
        tb_input(tb, nm[0], TB_FLOAT, 4, (int64_t[]){N, 255, H, W});
    }
    tb_init_i64(tb, nm[1], 1, (int64_t[]){5}, (int64_t[]){N, 3, 85, H, W});
    snprintf(buf, sizeof buf, "%s,%s", nm[0], nm[1]);
    tb_node(tb, "Reshape", nm[2], buf, nm[3]);
    Onnx__NodeProto *n = tb_node(tb, "Transpose", nm[4], nm[3], nm[5]);
    tb_attr_ints(tb, n, "perm", 5, (int64_t[]){0, 1, 3, 4, 2});
    tb_node(tb, "Sigmoid", nm[6], nm[5], nm[7]);
    tb_init_i64(tb, nm[8], 1, (int64_t[]){3}, (int64_t[]){2, 2, 81});
    snprintf(buf, sizeof buf, "%s,%s", nm[7], nm[8]);
    char outs[48];
    snprintf(outs, sizeof outs, "%s,%s,%s", nm[10], nm[11], nm[12]);
    n = tb_node(tb, "Split", nm[9], buf, outs);
    tb_attr_i(tb, n, "axis", 4);
    size_t ng = (size_t)3 * H * W * 2;
    float *grid = rnd(ng, -1.f, 1.f), *anc = rnd(6, 0.5f, 2.f);
    tb_init_f(tb, nm[13], 5, (int64_t[]){1, 3, H, W, 2}, grid);
    tb_init_f(tb, nm[14], 5, (int64_t[]){1, 3, 1, 1, 2}, anc);
#define YL(OP, I, A, B, O)                                                                                           \
    snprintf(buf, sizeof buf, "%s,%s", A, B);                                                                        \
    snprintf(outs, sizeof outs, "m%d_%d", I, k);                                                                     \
    tb_node(tb, OP, outs, buf, O)
    YL("Mul", 1, nm[10], "two", nm[15]);
    YL("Sub", 2, nm[15], "half", nm[16]);
    YL("Add", 3, nm[16], nm[13], nm[17]);
    YL("Mul", 4, nm[17], "stride", nm[18]);
    YL("Mul", 5, nm[11], "two", nm[19]);
    YL("Pow", 6, nm[19], "two", nm[20]);
    YL("Mul", 7, nm[20], nm[14], nm[21]);
#undef YL
    snprintf(buf, sizeof buf, "%s,%s,%s", nm[18], nm[21], nm[12]);
    snprintf(outs, sizeof outs, "cat%d", k);
    n = tb_node(tb, "Concat", outs, buf, nm[22]);
    tb_attr_i(tb, n, "axis", 4);
    snprintf(outs, sizeof outs, "s3_%d", k);
    tb_init_i64(tb, outs, 1, (int64_t[]){3}, (int64_t[]){N, -1, 85});
    snprintf(buf, sizeof buf, "%s,%s", nm[22], outs);
    snprintf(outs, sizeof outs, "rs2_%d", k);
    tb_node(tb, "Reshape", outs, buf, nm[23]);
    free(grid);
    free(anc);
}

static void yolo_consts(tb_model *tb) {
    float two[1] = {2.f}, half[1] = {0.5f}, stride[1] = {8.f};
    tb_init_f(tb, "two", 0, NULL, two);
    tb_init_f(tb, "half", 0, NULL, half);
    tb_init_f(tb, "stride", 0, NULL, stride);
}

/* YOLOv5 detect head, one level: full_chain = the segmap (one layer), else up to the split (its parts and
 * the sigmoid as outputs) */
static void yolo_head_case(int N, int H, int W, int full_chain) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    if (!full_chain) {
        int64_t xd[4] = {N, 255, H, W};
        tb_input(&tb, "x", TB_FLOAT, 4, xd);
        tb_init_i64(&tb, "s5", 1, (int64_t[]){5}, (int64_t[]){N, 3, 85, H, W});
        tb_node(&tb, "Reshape", "rs", "x,s5", "r");
        Onnx__NodeProto *n = tb_node(&tb, "Transpose", "tr", "r", "t");
        tb_attr_ints(&tb, n, "perm", 5, (int64_t[]){0, 1, 3, 4, 2});
        tb_node(&tb, "Sigmoid", "sg", "t", "s");
        tb_init_i64(&tb, "spl", 1, (int64_t[]){3}, (int64_t[]){2, 2, 81});
        n = tb_node(&tb, "Split", "split", "s,spl", "a,b,c");
        tb_attr_i(&tb, n, "axis", 4);
        tb_output(&tb, "a", TB_FLOAT, -1, NULL);
        tb_output(&tb, "b", TB_FLOAT, -1, NULL);
        tb_output(&tb, "c", TB_FLOAT, -1, NULL);
        tb_output(&tb, "s", TB_FLOAT, -1, NULL);
    } else {
        yolo_consts(&tb);
        yolo_level(&tb, N, H, W, 0, 0);
        tb_output(&tb, "y0", TB_FLOAT, -1, NULL);
    }
    char label[96];
    snprintf(label, sizeof label, "yolo head %dx255x%dx%d %s", N, H, W, full_chain ? "chain" : "split");
    run_case(&tb, label, -3.f, 3.f);
}

/* Three levels concatenated on the row axis: at N > 1 each segmap writes its rows into the concat
 * buffer with the image stride of the whole output (the concat is eliminated) */
static void yolo_head3_case(int N, int H, int cin) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    yolo_consts(&tb);
    for (int k = 0; k < 3; k++)
        yolo_level(&tb, N, H >> k, (H >> k) + 3, k, cin);
    Onnx__NodeProto *n = tb_node(&tb, "Concat", "cat_all", "y0,y1,y2", "y");
    tb_attr_i(&tb, n, "axis", 1);
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    char label[96];
    snprintf(label, sizeof label, "yolo head 3 levels %dx255x%d.. concat%s", N, H, cin ? " +conv" : "");
    if (cin > 0) {
        /* the three head convs run inside their segmaps (forced: the test is about the kernel) and the engine
         * survives serialize + load (format version 7) */
        needle_fp16_only = 1;
        setenv("KESTREL_PW_SEG", "force", 1);
        run_case_fused(&tb, label, "segmap fusion: 3 of 3 pairs fused");
        unsetenv("KESTREL_PW_SEG");
        needle_fp16_only = 0;
    } else {
        run_case(&tb, label, -3.f, 3.f);
    }
}

/* the segmap kernels' edges: rows that are not 16-byte aligned (7x9), a partial last tile with 16-byte rows
 * (11x16 = 176 pixels), 20x20, and three levels concatenated at batch 3 and 1 (strided rows / one run) */
static void segmap_cases(void) {
    yolo_head_case(2, 7, 9, 1);
    yolo_head_case(3, 11, 16, 1);
    yolo_head_case(2, 20, 20, 1);
    yolo_head3_case(3, 16, 0);
    yolo_head3_case(1, 16, 0);
    /* own:pointwise:1+segmap: 48-input head convs at batch 3 (strided rows; levels 16x19 / 8x11 / 4x7: partial
     * pixel tiles, runs not 16-byte aligned) and batch 1 (one packed run per image) */
    yolo_head3_case(3, 16, 48);
    yolo_head3_case(1, 16, 64);
}

static void concat_odd_case(int64_t e0, int64_t e1, int64_t e2, int axis) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    int64_t a[3] = {3, 5, e0}, b[3] = {3, 5, e1}, c[3] = {3, 5, e2};
    if (axis == 1) { a[1] = e0; a[2] = 7; b[1] = e1; b[2] = 7; c[1] = e2; c[2] = 7; }
    tb_input(&tb, "a", TB_FLOAT, 3, a);
    tb_input(&tb, "b", TB_FLOAT, 3, b);
    tb_input(&tb, "c", TB_FLOAT, 3, c);
    Onnx__NodeProto *n = tb_node(&tb, "Concat", "cat", "a,b,c", "y");
    tb_attr_i(&tb, n, "axis", axis);
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    char label[96];
    snprintf(label, sizeof label, "concat axis%d %lld/%lld/%lld", axis, (long long)e0, (long long)e1, (long long)e2);
    run_case(&tb, label, -1.f, 1.f);
}

static void bandwidth_cases(void) {
    int64_t big[5] = {32, 3, 80, 80, 85};
    tb_model tb;
    tb_init(&tb, 8, 13);
    tb_input(&tb, "x", TB_FLOAT, 5, big);
    tb_node(&tb, "Sigmoid", "sg", "x", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    run_case(&tb, "sigmoid 32x3x80x80x85", -4.f, 4.f);
    transpose_case(5, (int64_t[]){32, 3, 85, 80, 80}, (int64_t[]){0, 1, 3, 4, 2}, "transpose 32x3x85x80x80 ->(0,1,3,4,2)");
    yolo_head_case(32, 80, 80, 0);
    yolo_head_case(32, 40, 40, 1);
    segmap_cases();
    /* odd sizes: tails of the 4/8-lane paths, tiles cut at every edge */
    int64_t odd[4] = {3, 7, 13, 17};
    tb_init(&tb, 8, 13);
    tb_input(&tb, "x", TB_FLOAT, 4, odd);
    tb_node(&tb, "HardSwish", "hs", "x", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    run_case(&tb, "hardswish 3x7x13x17", -4.f, 4.f);
    transpose_case(4, (int64_t[]){2, 3, 37, 41}, (int64_t[]){0, 2, 3, 1}, "transpose 2x3x37x41 (0,2,3,1)");
    transpose_case(4, (int64_t[]){2, 3, 37, 41}, (int64_t[]){0, 3, 1, 2}, "transpose 2x3x37x41 (0,3,1,2)");
    transpose_case(4, (int64_t[]){2, 3, 37, 41}, (int64_t[]){3, 2, 1, 0}, "transpose 2x3x37x41 (3,2,1,0)");
    transpose_case(4, (int64_t[]){5, 1, 33, 1}, (int64_t[]){3, 2, 1, 0}, "transpose 5x1x33x1 (3,2,1,0)");
    transpose_case(3, (int64_t[]){4, 64, 96}, (int64_t[]){0, 2, 1}, "transpose 4x64x96 (0,2,1)");
    transpose_case(6, (int64_t[]){2, 3, 4, 5, 6, 7}, (int64_t[]){5, 0, 3, 1, 4, 2}, "transpose rank6 (5,0,3,1,4,2)");
    transpose_case(6, (int64_t[]){2, 3, 4, 5, 6, 7}, (int64_t[]){0, 2, 1, 3, 4, 5}, "transpose rank6 (0,2,1,3,4,5)");
    transpose_case(6, (int64_t[]){2, 3, 4, 5, 20, 17}, (int64_t[]){5, 0, 3, 1, 2, 4}, "transpose rank6 tiled, 3 batch dims");
    int64_t sd[4] = {2, 6, 9, 85};
    slice_case(4, sd, 1, 84, 3, 1, "slice last 1:84 (misaligned)");
    slice_case(4, sd, 4, 85, 3, 1, "slice last 4:85 (odd run)");
    slice_case(4, (int64_t[]){2, 6, 9, 80}, 8, 72, 3, 1, "slice last 8:72 (16B runs)");
    slice_case(4, (int64_t[]){2, 6, 9, 80}, 0, 80, 3, 2, "slice last ::2");
    slice_case(4, sd, 83, -100, 3, -1, "slice last 83::-1");
    slice_case(4, sd, 5, 0, 1, -2, "slice channels 5:0:-2");
    slice_case(4, sd, 1, 5, 1, 1, "slice channels 1:5 (long runs)");
    slice_case(4, (int64_t[]){3, 5, 64, 64}, 16, 48, 2, 1, "slice rows 16:48");
    /* broadcast: per-channel, innermost vector, middle axis, V-divisible and not */
    bcast_case(4, (int64_t[]){2, 6, 5, 16}, 4, (int64_t[]){1, 6, 1, 1}, "Add", "bcast 2x6x5x16 + 1x6x1x1");
    bcast_case(4, (int64_t[]){2, 6, 5, 16}, 1, (int64_t[]){16}, "Mul", "bcast 2x6x5x16 * 16");
    bcast_case(4, (int64_t[]){2, 6, 5, 16}, 4, (int64_t[]){2, 1, 5, 16}, "Sub", "bcast 2x6x5x16 - 2x1x5x16");
    bcast_case(4, (int64_t[]){2, 6, 5, 7}, 4, (int64_t[]){2, 6, 1, 7}, "Div", "bcast 2x6x5x7 / 2x6x1x7");
    bcast_case(3, (int64_t[]){6, 5, 7}, 4, (int64_t[]){2, 1, 1, 1}, "Max", "bcast 6x5x7 max 2x1x1x1");
    bcast_case(4, (int64_t[]){1, 32, 40, 40}, 4, (int64_t[]){1, 32, 40, 40}, "Add", "same 1x32x40x40 add");
    concat_odd_case(2, 2, 81, 2);
    concat_odd_case(8, 16, 8, 2);
    concat_odd_case(3, 1, 5, 1);
    concat_odd_case(8, 8, 16, 1);
}

/* batch-throughput conv kernels (issue 3), forced with KESTREL_CONV_FORCE:
 * conv C->M kxk stride s pad p [+BN] [+act] [+ x residual], batch N; the
 * build report must show the forced tactic on the layer, FP32 1e-4 / FP16
 * 1e-2 vs the CPU reference, serialize/load and graph replay included */
static void stream_conv_case_gd(const char *force, int N, int C, int M, int H, int W, int k, int s, int pad,
                                const char *act, int bn, int residual, int groups, int dil) {
    tb_model tb;
    tb_init(&tb, 8, 13);
    int64_t xd[4] = {N, C, H, W};
    tb_input(&tb, "x", TB_FLOAT, 4, xd);
    int64_t wd[4] = {M, C / groups, k, k}, bd[1] = {M};
    float *w = rnd((size_t)(M * (C / groups) * k * k), -0.5f, 0.5f), *b = rnd((size_t)M, -0.5f, 0.5f);
    tb_init_f(&tb, "w", 4, wd, w);
    tb_init_f(&tb, "b", 1, bd, b);
    Onnx__NodeProto *n = tb_node(&tb, "Conv", "conv", "x,w,b", "c");
    if (groups > 1)
        tb_attr_i(&tb, n, "group", groups);
    tb_attr_ints(&tb, n, "kernel_shape", 2, (int64_t[]){k, k});
    tb_attr_ints(&tb, n, "strides", 2, (int64_t[]){s, s});
    tb_attr_ints(&tb, n, "pads", 4, (int64_t[]){pad, pad, pad, pad});
    if (dil > 1)
        tb_attr_ints(&tb, n, "dilations", 2, (int64_t[]){dil, dil});
    const char *cur = "c";
    if (bn) {
        float *sc = rnd((size_t)M, 0.5f, 1.5f), *sh = rnd((size_t)M, -0.5f, 0.5f), *mu = rnd((size_t)M, -0.5f, 0.5f),
              *var = rnd((size_t)M, 0.5f, 1.5f);
        tb_init_f(&tb, "sc", 1, bd, sc);
        tb_init_f(&tb, "sh", 1, bd, sh);
        tb_init_f(&tb, "mu", 1, bd, mu);
        tb_init_f(&tb, "var", 1, bd, var);
        tb_node(&tb, "BatchNormalization", "bn", "c,sc,sh,mu,var", "cb");
        cur = "cb";
        free(sc); free(sh); free(mu); free(var);
    }
    const char *fin = residual ? "a" : "y";
    if (act && !strcmp(act, "SiLU")) {
        char ins[32];
        tb_node(&tb, "Sigmoid", "sig", cur, "sg");
        snprintf(ins, sizeof ins, "%s,sg", cur);
        tb_node(&tb, "Mul", "mul", ins, fin);
    } else {
        act_node(&tb, act, cur, fin, M, "sc");
    }
    if (residual) /* y = act(conv(x)) + x: C == M, 1x1 stride 1 */
        tb_node(&tb, "Add", "add", "a,x", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    char label[160], needle[128];
    snprintf(label, sizeof label, "%s N%d C%d M%d %dx%d k%d s%d p%d d%d %s%s%s", force, N, C, M, H, W, k, s, pad,
             dil, act ? act : "-", bn ? " bn" : "", residual ? " res" : "");
    snprintf(needle, sizeof needle, "Forced conv tactic %s (KESTREL_CONV_FORCE): 1 of 1 conv layers", force);
    setenv("KESTREL_CONV_FORCE", force, 1);
    run_case_fused(&tb, label, needle);
    unsetenv("KESTREL_CONV_FORCE");
    free(w);
    free(b);
}

static void stream_conv_case_g(const char *force, int N, int C, int M, int H, int W, int k, int s, int pad,
                               const char *act, int bn, int residual, int groups) {
    stream_conv_case_gd(force, N, C, M, H, W, k, s, pad, act, bn, residual, groups, 1);
}

static void stream_conv_case(const char *force, int N, int C, int M, int H, int W, int k, int s, int pad,
                             const char *act, int bn, int residual) {
    stream_conv_case_g(force, N, C, M, H, W, k, s, pad, act, bn, residual, 1);
}

/* strip-tiled depthwise own:depthwise:3 (forced): 3x3 / 5x5, stride 1 / 2, maps
 * off the 64 x 32 tile and off the 16-byte vectors (scalar staging and stores),
 * batch 1, 3 and 32, every epilogue */
static void dw_strip_cases(void) {
    stream_conv_case_g("own:depthwise:3", 1, 16, 16, 67, 97, 3, 1, 1, "Relu", 1, 0, 16);
    stream_conv_case_g("own:depthwise:3", 32, 16, 16, 48, 64, 3, 1, 1, "Relu", 1, 0, 16);
    stream_conv_case_g("own:depthwise:3", 32, 32, 32, 48, 64, 3, 2, 1, "Relu", 1, 0, 32);
    stream_conv_case_g("own:depthwise:3", 3, 8, 8, 33, 70, 3, 2, 1, "PRelu", 0, 0, 8);
    stream_conv_case_g("own:depthwise:3", 2, 12, 12, 40, 136, 5, 1, 2, "SiLU", 1, 0, 12);
    stream_conv_case_g("own:depthwise:3", 1, 24, 24, 19, 23, 5, 2, 2, "Clip", 0, 0, 24);
    stream_conv_case_g("own:depthwise:3", 2, 16, 16, 24, 40, 3, 1, 1, NULL, 0, 1, 16); /* + x residual */
    stream_conv_case_g("own:depthwise:3", 1, 8, 8, 35, 72, 3, 1, 0, "LeakyRelu", 0, 0, 8);
}

/* rolling-rows depthwise own:depthwise:4 (forced): 3x3 / 5x5, stride 1 / 2; 8 outputs per thread (float16
 * 3x3 with ow % 8 == 0) and 4 (float32, 5x5, ow % 8 != 0; 8-byte and 16-byte row loads); heights that
 * leave a short last row segment, maps cut into many segments (each re-reads the rows above it), top pad 0,
 * batch 1 to 32, every epilogue */
static void dw_roll_cases(void) {
    stream_conv_case_g("own:depthwise:4", 1, 16, 16, 67, 96, 3, 1, 1, "Relu", 1, 0, 16);
    stream_conv_case_g("own:depthwise:4", 32, 16, 16, 48, 64, 3, 1, 1, "Relu", 1, 0, 16);
    stream_conv_case_g("own:depthwise:4", 32, 32, 32, 48, 64, 3, 2, 1, "Relu", 1, 0, 32);
    stream_conv_case_g("own:depthwise:4", 3, 8, 8, 33, 72, 3, 2, 1, "PRelu", 0, 0, 8);
    stream_conv_case_g("own:depthwise:4", 2, 12, 12, 40, 136, 5, 1, 2, "SiLU", 1, 0, 12);
    stream_conv_case_g("own:depthwise:4", 1, 24, 24, 19, 24, 5, 2, 2, "Clip", 0, 0, 24);
    stream_conv_case_g("own:depthwise:4", 2, 16, 16, 24, 40, 3, 1, 1, NULL, 0, 1, 16); /* + x residual */
    stream_conv_case_g("own:depthwise:4", 1, 8, 8, 21, 20, 3, 1, 1, "LeakyRelu", 0, 0, 8);
    stream_conv_case_g("own:depthwise:4", 2, 16, 16, 120, 160, 3, 1, 1, "Relu", 1, 0, 16);
    stream_conv_case_g("own:depthwise:4", 1, 8, 8, 37, 64, 3, 2, 1, "Sigmoid", 0, 0, 8);
}

/* window-staged tensor-core direct conv own:direct:3..8 (forced; float16 is checked, float32 has no such
 * candidate and keeps its own): each config on 3x3 stride 1 and 2; channel counts off the 16-channel
 * chunk and the 16 / 32 / 64-channel block (24 -> 40), maps off the 4 x 32 and 8 x 16 tiles, dilation 2
 * and 3 (RFB), 1x1, 5x5 and 7x7, batch 1 to 3, residual and every epilogue */
static void conv_win_cases(void) {
    needle_fp16_only = 1;
    for (int a = 3; a <= 8; a++) {
        char f[32];
        snprintf(f, sizeof f, "own:direct:%d", a);
        stream_conv_case_gd(f, 2, 16, 32, 40, 64, 3, 2, 1, "SiLU", 1, 0, 1, 1);
        stream_conv_case_gd(f, 1, 24, 40, 19, 40, 3, 1, 1, "Relu", 1, 0, 1, 1);
    }
    stream_conv_case_gd("own:direct:3", 3, 32, 16, 30, 48, 3, 1, 2, "Relu", 0, 0, 1, 2);
    stream_conv_case_gd("own:direct:6", 1, 16, 48, 26, 56, 3, 1, 3, "PRelu", 0, 0, 1, 3);
    stream_conv_case_gd("own:direct:5", 2, 48, 64, 12, 24, 1, 1, 0, "LeakyRelu", 1, 0, 1, 1);
    stream_conv_case_gd("own:direct:4", 1, 8, 24, 21, 32, 5, 2, 2, "Clip", 0, 0, 1, 1);
    stream_conv_case_gd("own:direct:7", 1, 16, 32, 33, 64, 7, 2, 3, "Sigmoid", 0, 0, 1, 1);
    stream_conv_case_gd("own:direct:8", 2, 32, 32, 20, 24, 3, 1, 1, NULL, 0, 1, 1, 1); /* + x residual */
    needle_fp16_only = 0;
}

/* split-K (partial sums, then the reduce kernel with the epilogue; serialize -> load and CUDA-graph
 * replay included), SIMT tile 64x64 (the split tile every precision has) with 4, 8, 16 and 32 splits,
 * residual and activation in the reduce */
static void splitk_cases(void) {
    stream_conv_case("own:igemm:64", 1, 64, 48, 10, 12, 3, 1, 1, "Relu", 1, 0);  /* tile 0, split 4 */
    stream_conv_case("own:igemm:256", 1, 128, 40, 7, 9, 3, 1, 1, "SiLU", 0, 0);  /* tile 0, split 16 */
    stream_conv_case("own:igemm:512", 2, 256, 24, 5, 6, 3, 1, 1, "PRelu", 0, 0); /* tile 0, split 32 */
    stream_conv_case("own:igemm:128", 1, 96, 96, 6, 6, 3, 1, 1, NULL, 0, 1);     /* tile 0, split 8, + x */
}

/* tensor-core mma.sync implicit GEMM, own:igemm tiles 10..15 (FP16 only): 3x3 stride 1 / 2, 1x1 (the
 * no-tap path) stride 1 / 2, 5x5, groups, K off the 8-element weight vectors (element loads), maps whose
 * pixel pairs straddle two images (odd oh*ow, batch > 1), channel counts off the tiles, every epilogue,
 * residual, and split-K 4 / 32 through the partial sums */
static void mma_cases(void) {
    fp16_only = 1;
    stream_conv_case("own:igemm:10", 1, 32, 64, 40, 40, 3, 1, 1, "SiLU", 1, 0);
    stream_conv_case("own:igemm:10", 2, 24, 40, 17, 19, 3, 2, 1, "Relu", 1, 0);
    stream_conv_case("own:igemm:11", 2, 16, 32, 21, 23, 3, 2, 1, "Relu", 0, 0);
    stream_conv_case("own:igemm:11", 3, 40, 24, 9, 15, 1, 1, 0, "HardSwish", 1, 0);
    stream_conv_case("own:igemm:12", 1, 64, 128, 20, 20, 1, 1, 0, "PRelu", 0, 0);
    stream_conv_case("own:igemm:12", 1, 128, 136, 10, 10, 3, 1, 1, "SiLU", 1, 0);
    stream_conv_case("own:igemm:13", 3, 40, 40, 9, 15, 3, 1, 1, NULL, 0, 1);
    stream_conv_case("own:igemm:13", 1, 8, 16, 30, 30, 5, 1, 2, "SiLU", 0, 0);
    stream_conv_case("own:igemm:14", 2, 32, 48, 33, 35, 1, 2, 0, "Clip", 0, 0);
    stream_conv_case("own:igemm:14", 32, 16, 32, 24, 40, 3, 1, 1, "Relu", 1, 0);
    stream_conv_case("own:igemm:15", 1, 3, 16, 67, 97, 3, 2, 1, "LeakyRelu", 0, 0);
    stream_conv_case("own:igemm:15", 2, 16, 16, 20, 20, 1, 1, 0, "Sigmoid", 1, 1);
    stream_conv_case_g("own:igemm:10", 1, 32, 64, 19, 21, 3, 1, 1, "Relu", 0, 0, 2);
    stream_conv_case_g("own:igemm:13", 2, 48, 48, 12, 13, 3, 2, 1, "SiLU", 1, 0, 4);
    stream_conv_case("own:igemm:74", 1, 128, 64, 10, 12, 3, 1, 1, "Relu", 1, 0);   /* tile 10, split 4 */
    stream_conv_case("own:igemm:77", 1, 96, 96, 6, 6, 3, 1, 1, NULL, 0, 1);        /* tile 13, split 4, + x */
    stream_conv_case("own:igemm:522", 2, 256, 24, 5, 7, 3, 1, 1, "PRelu", 0, 0);   /* tile 10, split 32 */
    /* cluster split-K (cfg | 1024): the splits of a tile as one thread-block cluster, partial tiles summed
     * through distributed shared memory; splits with an empty K range (K 1152 in 8 splits of 192, K 576 in 4),
     * channel and pixel counts off the tile, residual, the 1x1 path, batch 2 */
    stream_conv_case("own:igemm:1066", 1, 128, 64, 10, 12, 3, 1, 1, "Relu", 1, 0);  /* tile 10, cluster 2 */
    stream_conv_case("own:igemm:1098", 1, 128, 40, 10, 12, 3, 1, 1, "SiLU", 0, 0);  /* tile 10, cluster 4 */
    stream_conv_case("own:igemm:1165", 1, 128, 128, 6, 6, 3, 1, 1, NULL, 0, 1);     /* tile 13, cluster 8, + x */
    stream_conv_case("own:igemm:1101", 2, 64, 36, 7, 9, 3, 1, 1, "PRelu", 0, 0);    /* tile 13, cluster 4 */
    stream_conv_case("own:igemm:1162", 1, 512, 72, 11, 13, 1, 1, 0, "SiLU", 1, 0);  /* tile 10, cluster 8, 1x1 */
    stream_conv_case("own:igemm:1069", 1, 256, 256, 9, 9, 1, 1, 0, "Sigmoid", 0, 1); /* tile 13, cluster 2, 1x1 + x */
    fp16_only = 0;
}

static void stream_cases(void) {
    mma_cases();
    dw_strip_cases();
    dw_roll_cases();
    conv_win_cases();
    splitk_cases();
    /* tiled first-layer conv own:direct:1: RFB-640 / YOLOv5n stems, odd map
     * sizes (partial tiles), 2 channel passes (M 24), 1 and 4 input channels */
    stream_conv_case("own:direct:1", 1, 3, 16, 67, 97, 3, 2, 1, "Relu", 1, 0);
    stream_conv_case("own:direct:1", 32, 3, 16, 48, 64, 3, 2, 1, "Relu", 1, 0);
    stream_conv_case("own:direct:1", 1, 3, 16, 70, 134, 6, 2, 2, "SiLU", 1, 0);
    stream_conv_case("own:direct:1", 32, 3, 16, 40, 48, 6, 2, 2, "SiLU", 0, 0);
    stream_conv_case("own:direct:1", 2, 4, 24, 33, 31, 3, 1, 1, "PRelu", 0, 0);
    stream_conv_case("own:direct:1", 3, 1, 8, 21, 19, 5, 2, 2, NULL, 0, 0);
    /* streaming 1x1 own:pointwise: channel counts 16/32/64 and off them,
     * map sizes off the 8-pixel vectors (scalar path), residual, PReLU */
    stream_conv_case("own:pointwise:0", 1, 16, 32, 37, 53, 1, 1, 0, "Relu", 1, 0);
    stream_conv_case("own:pointwise:0", 32, 16, 32, 24, 40, 1, 1, 0, "Relu", 1, 0);
    stream_conv_case("own:pointwise:0", 32, 32, 32, 12, 20, 1, 1, 0, "SiLU", 0, 0);
    stream_conv_case("own:pointwise:0", 2, 64, 64, 16, 24, 1, 1, 0, "Clip", 0, 1);
    stream_conv_case("own:pointwise:0", 3, 24, 40, 9, 15, 1, 1, 0, "PRelu", 0, 0);
    stream_conv_case("own:pointwise:0", 1, 5, 11, 8, 8, 1, 1, 0, NULL, 0, 0);
    /* streaming fused dw+pw (tile 9): batch 1 and 32, stride 1/2, residual, 5x5 */
    dwpw_case(1, 16, 32, 45, 61, 3, 1, "Relu", "Relu", 0, 9);
    dwpw_case(32, 32, 32, 24, 40, 3, 2, "Relu", NULL, 0, 9);
    dwpw_case(32, 16, 16, 20, 24, 3, 1, "Relu", "Relu", 1, 9);
    dwpw_case(2, 64, 64, 11, 13, 3, 1, "PRelu", "PRelu", 0, 9);
    dwpw_case(1, 8, 20, 9, 7, 5, 1, "Clip", "Sigmoid", 0, 9);
    /* fp16 tensor-core 1x1 own:pointwise:1 and fused dw+pw tile 10 (fp32: the report is not checked):
     * batch 1/2/3/32, maps off the 8-pixel vectors and the 256-pixel / 8x32 tiles, channel counts off
     * 16, 128 -> 128, every epilogue, dw stride 2 and 5x5 */
    needle_fp16_only = 1;
    stream_conv_case("own:pointwise:1", 1, 16, 32, 37, 53, 1, 1, 0, "Relu", 1, 0);
    /* many 256-pixel tiles per persistent block: the three-buffer rotation (c <= 32) and the two-buffer one */
    stream_conv_case("own:pointwise:1", 32, 16, 32, 120, 160, 1, 1, 0, "Relu", 1, 0);
    stream_conv_case("own:pointwise:1", 32, 64, 64, 48, 64, 1, 1, 0, "SiLU", 0, 0);
    stream_conv_case("own:pointwise:1", 32, 16, 32, 24, 40, 1, 1, 0, "Relu", 1, 0);
    stream_conv_case("own:pointwise:1", 32, 32, 32, 12, 20, 1, 1, 0, "SiLU", 0, 0);
    stream_conv_case("own:pointwise:1", 32, 32, 64, 10, 16, 1, 1, 0, "HardSwish", 1, 0);
    stream_conv_case("own:pointwise:1", 2, 64, 64, 16, 24, 1, 1, 0, "Clip", 0, 1);
    stream_conv_case("own:pointwise:1", 3, 24, 40, 9, 15, 1, 1, 0, "PRelu", 0, 0);
    stream_conv_case("own:pointwise:1", 1, 5, 11, 8, 8, 1, 1, 0, NULL, 0, 0);
    stream_conv_case("own:pointwise:1", 3, 128, 128, 17, 19, 1, 1, 0, "Sigmoid", 1, 1);
    /* beyond 128 output channels (ks__eng_pw_tc_ok): the YOLOv5 detect-head 1x1 (64 -> 255, no activation),
       256 outputs from 96 inputs with BN, 200 from 40 with PReLU, an odd map */
    stream_conv_case("own:pointwise:1", 2, 64, 255, 20, 24, 1, 1, 0, NULL, 0, 0);
    stream_conv_case("own:pointwise:1", 2, 96, 256, 9, 16, 1, 1, 0, "SiLU", 1, 0);
    stream_conv_case("own:pointwise:1", 1, 40, 200, 13, 11, 1, 1, 0, "PRelu", 0, 0);
    stream_conv_case("own:pointwise:1", 2, 96, 120, 16, 16, 1, 1, 0, "LeakyRelu", 0, 0);
    dwpw_case(1, 16, 32, 45, 61, 3, 1, "Relu", "Relu", 0, 10);
    dwpw_case(32, 32, 32, 24, 40, 3, 2, "Relu", NULL, 0, 10);
    dwpw_case(32, 32, 64, 32, 64, 3, 2, "Relu", "Relu", 0, 10);
    dwpw_case(32, 16, 16, 20, 24, 3, 1, "Relu", "Relu", 1, 10);
    dwpw_case(3, 64, 64, 11, 13, 3, 1, "PRelu", "PRelu", 0, 10);
    dwpw_case(1, 8, 20, 9, 7, 5, 1, "Clip", "Sigmoid", 0, 10);
    dwpw_case(3, 24, 40, 19, 33, 5, 2, "HardSwish", "LeakyRelu", 0, 10);
    dwpw_case(2, 128, 128, 12, 20, 3, 1, "Relu", "Relu", 1, 10);
    dwpw_case(1, 5, 11, 10, 9, 3, 2, NULL, "Clip", 0, 10);
    needle_fp16_only = 0;
    /* tensor-core first-layer conv own:direct:2 (FP16 only): RFB-640 / YOLOv5n
     * stems at batch 1 (odd maps: partial tiles, scalar stores) and 32 (16-byte
     * stores), c 1..4, k 8/10/24/28/48/64 (1, 2 and 4 m-tiles), 1x1..7x7,
     * stride 1/2/4, odd input widths (scalar patch loads), residual */
    fp16_only = 1;
    stream_conv_case("own:direct:2", 1, 3, 16, 67, 97, 3, 2, 1, "Relu", 1, 0);
    stream_conv_case("own:direct:2", 32, 3, 16, 48, 64, 3, 2, 1, "Relu", 1, 0);
    stream_conv_case("own:direct:2", 1, 3, 16, 70, 134, 6, 2, 2, "SiLU", 1, 0);
    stream_conv_case("own:direct:2", 32, 3, 16, 40, 48, 6, 2, 2, "SiLU", 0, 0);
    stream_conv_case("own:direct:2", 2, 4, 24, 33, 31, 3, 1, 1, "PRelu", 0, 0);
    stream_conv_case("own:direct:2", 3, 1, 8, 21, 19, 5, 2, 2, NULL, 0, 0);
    stream_conv_case("own:direct:2", 2, 3, 10, 37, 45, 7, 4, 3, "Clip", 1, 0);
    stream_conv_case("own:direct:2", 1, 3, 64, 29, 70, 7, 2, 3, "Relu", 1, 0);
    stream_conv_case("own:direct:2", 1, 3, 28, 45, 77, 3, 2, 1, "Relu", 1, 0);
    stream_conv_case("own:direct:2", 1, 3, 10, 30, 41, 3, 1, 0, "PRelu", 0, 0);
    stream_conv_case("own:direct:2", 2, 2, 48, 26, 130, 1, 1, 0, NULL, 0, 0);
    stream_conv_case("own:direct:2", 2, 4, 4, 19, 23, 3, 1, 1, "Relu", 0, 1);
    fp16_only = 0;
}

int main(void) {
    gt_require_gpu();
    ks_context_create(NULL, &ctx);
    if (getenv("KS_TEST_MMA_ONLY")) { /* diagnostics: the mma.sync implicit-GEMM cases only */
        mma_cases();
        fprintf(stderr, "%d op cases\n", n_cases);
        ks_context_destroy(ctx);
        return ks_t_done();
    }
    if (getenv("KS_TEST_WIN_ONLY")) { /* diagnostics: the rolling depthwise and window-staged conv cases only */
        dw_roll_cases();
        conv_win_cases();
        fprintf(stderr, "%d op cases\n", n_cases);
        ks_context_destroy(ctx);
        return ks_t_done();
    }
    if (getenv("KS_TEST_SEGMAP_ONLY")) { /* diagnostics: the detect-head (segmap), tiled max pool and 8-wide resize cases */
        pool_resize_cases();
        pool_case("MaxPool", 2, 2, 0, 1, 0);
        pool_case("GlobalMaxPool", 0, 0, 0, 0, 0);
        segmap_cases();
        yolo_head_case(4, 40, 40, 1);
        fprintf(stderr, "%d op cases\n", n_cases);
        ks_context_destroy(ctx);
        return ks_t_done();
    }
    if (getenv("KS_TEST_STREAM_ONLY")) { /* diagnostics: the batch-throughput conv cases only */
        stream_cases();
        fprintf(stderr, "%d op cases\n", n_cases);
        ks_context_destroy(ctx);
        return ks_t_done();
    }
    /* convolution sweep: kernel, stride, pad, groups (incl. depthwise), dilation */
    int ks[3] = {1, 3, 5};
    for (int ki = 0; ki < 3; ki++)
        for (int s = 1; s <= 2; s++) {
            int k = ks[ki];
            conv_case(8, 16, 15, 17, k, s, k / 2, 1, 1, NULL, 0, 0, NULL);
            conv_case(16, 16, 15, 17, k, s, k / 2, 16, 1, "Relu", 0, 0, NULL); /* depthwise */
        }
    conv_case(3, 16, 33, 31, 3, 2, 1, 1, 1, "Relu", 1, 0, NULL);          /* tiny-channel first layer + BN */
    conv_case(8, 8, 16, 16, 3, 1, 2, 1, 2, "LeakyRelu", 0, 0, NULL);       /* dilation */
    conv_case(8, 12, 16, 16, 3, 1, 1, 4, 1, "Clip", 0, 0, NULL);           /* groups 4, ReLU6 */
    conv_case(8, 8, 16, 15, 3, 2, 0, 1, 1, "Sigmoid", 0, 0, "SAME_UPPER"); /* asymmetric pads */
    conv_case(16, 16, 12, 12, 1, 1, 0, 1, 1, "SiLU", 1, 0, NULL);          /* YOLO SiLU */
    conv_case(8, 8, 12, 12, 3, 1, 1, 1, 1, "Relu", 1, 1, NULL);            /* residual before act */
    conv_case(8, 8, 12, 12, 3, 1, 1, 1, 1, "Relu", 0, 2, NULL);            /* residual after act */
    conv_case(8, 8, 12, 12, 3, 1, 1, 8, 1, "PRelu", 0, 0, NULL);
    conv_case(8, 8, 12, 12, 3, 1, 1, 1, 1, "HardSwish", 0, 0, NULL);
    conv_case(32, 64, 20, 20, 3, 1, 1, 1, 1, "Relu", 1, 0, NULL);          /* bigger: cuDNN tactics */
    /* fused depthwise + pointwise (forced): every tile config once, channel
     * counts off the tile sizes, strides 1/2, epilogues, batch 1 and 3 */
    for (int cfg = 0; cfg < 9; cfg++)
        dwpw_case(1 + cfg / 7, 24 + cfg, 40 - 3 * cfg, 13, 17, 3, 1 + cfg % 2, "Relu", NULL, 0, cfg);
    dwpw_case(1, 32, 64, 20, 20, 3, 1, "Clip", "Relu", 0, -1);          /* MobileNet ReLU6 */
    dwpw_case(3, 17, 33, 15, 11, 3, 2, "PRelu", "PRelu", 0, -1);        /* batch 3, PReLU both */
    dwpw_case(2, 48, 48, 10, 12, 3, 1, NULL, "Relu", 1, -1);            /* residual, batch 2 */
    dwpw_case(1, 8, 130, 9, 7, 5, 1, "Relu", "Sigmoid", 0, -1);         /* 5x5, K over 128 */
    dwpw_case(2, 64, 16, 8, 8, 3, 2, "Relu", NULL, 0, 5);
    /* horizontal fusion of siblings (batch 2: left apart, still correct) */
    hfuse_case(1, 1);
    hfuse_case(1, 3);
    hfuse_case(2, 1);
    const char *un[] = {"Relu", "Sigmoid", "Tanh", "Exp", "HardSwish", "HardSigmoid", "Softplus", "Elu",
                        "Abs", "Neg", "LeakyRelu", "Floor", "Ceil", "Erf", "Softsign"};
    for (size_t i = 0; i < GT_LEN(un); i++) {
        fp32_only = !strcmp(un[i], "Floor") || !strcmp(un[i], "Ceil");
        unary_case(un[i], -2.f, 2.f);
        fp32_only = 0;
    }
    unary_case("Sqrt", 0.1f, 2.f);
    unary_case("Log", 0.1f, 2.f);
    unary_case("Reciprocal", 0.5f, 2.f);
    int64_t b1[4] = {1, 6, 1, 1}, b2[2] = {5, 7}, b3[4] = {2, 6, 5, 7}, b4[1] = {7};
    const char *bin[] = {"Add", "Sub", "Mul", "Div", "Max", "Min"};
    for (size_t i = 0; i < GT_LEN(bin); i++) {
        binary_case(bin[i], b1, 4, 0, 0.5f, 2.f);
        binary_case(bin[i], b2, 2, 0, 0.5f, 2.f);
        if (i < 4) {
            binary_case(bin[i], NULL, 0, 1, 0.5f, 2.f);
            binary_case(bin[i], NULL, 0, 2, 0.5f, 2.f);
        }
    }
    binary_case("Add", b3, 4, 0, -1.f, 1.f);
    binary_case("Mul", b4, 1, 0, -1.f, 1.f);
    binary_case("Pow", NULL, 0, 1, 0.5f, 2.f);
    pool_case("MaxPool", 3, 2, 1, 0, 0);
    pool_case("MaxPool", 2, 2, 0, 1, 0);
    pool_case("MaxPool", 5, 1, 2, 0, 0);
    pool_case("AveragePool", 3, 2, 1, 0, 1);
    pool_case("AveragePool", 3, 2, 1, 1, 0);
    pool_case("AveragePool", 2, 2, 0, 0, 0);
    pool_case("GlobalAveragePool", 0, 0, 0, 0, 0);
    pool_case("GlobalMaxPool", 0, 0, 0, 0, 0);
    resize_case("nearest", "asymmetric", 2.f, 2.f);
    resize_case("nearest", "half_pixel", 2.f, 3.f);
    resize_case("linear", "half_pixel", 2.f, 2.f);
    resize_case("linear", "align_corners", 2.f, 1.5f);
    resize_case("linear", "pytorch_half_pixel", 0.5f, 2.f);
    resize_case("linear", "asymmetric", 1.5f, 0.5f);
    pool_resize_cases();
    move_cases();
    bandwidth_cases();
    stream_cases();
    fprintf(stderr, "%d op cases\n", n_cases);
    ks_context_destroy(ctx);
    return ks_t_done();
}
