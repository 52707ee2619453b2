/* Tests of the nn op family (Conv, ConvTranspose, norms, pools, Resize,
 * MatMul, Gemm, Pad, LRN): shape inference and the CPU reference kernels.
 *
 *   test_ops_nn                 built-in cases: hand-computed values, shape
 *                               inference with unknown dims, error messages
 *   test_ops_nn CASEDIR         also every case of CASEDIR/manifest.txt written
 *                               by gen_cases.py (onnxruntime references)
 *   test_ops_nn --bench         times a YOLOv5n-sized Conv (GFLOP/s)
 *
 * Manifest cases are run through ks__node_infer (static: inputs marked
 * constant carry data, others only shapes; then again with unknown dims and
 * unknown rank, which must not fail) and ks__node_run_cpu (the executor's
 * entry), and every output is compared with the reference. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "graph/ir.h"
#include "graph/params_nn.h"

static ks_context *ctx;

/* ------------------------------------------------------------ building */

typedef struct built {
    ks_graph *g;
    int node;
} built;

static int build(built *b, const char *op, int opset, int nin, int nout) {
    if (ks__graph_create(ctx, "<test>", &b->g) != KS_OK)
        return 0;
    b->g->opset = opset;
    int ins[16], outs[16];
    char nm[32];
    for (int i = 0; i < nin; i++) {
        snprintf(nm, sizeof nm, "in%d", i);
        ks__graph_add_value(b->g, nm, 0, &ins[i]);
    }
    for (int i = 0; i < nout; i++) {
        snprintf(nm, sizeof nm, "out%d", i);
        ks__graph_add_value(b->g, nm, 0, &outs[i]);
    }
    return ks__graph_add_node(b->g, op, op, "", opset, nin, ins, nout, outs, &b->node) == KS_OK;
}

static void add_attr(built *b, const ks_attr *a) {
    ks__node_add_attr(b->g, b->node, a);
}

static void set_i(built *b, const char *name, int64_t v) {
    ks_attr a = {0};
    a.name = (char *)name;
    a.type = KS_ATTR_INT;
    a.i = v;
    add_attr(b, &a);
}
static void set_f(built *b, const char *name, float v) {
    ks_attr a = {0};
    a.name = (char *)name;
    a.type = KS_ATTR_FLOAT;
    a.f = v;
    add_attr(b, &a);
}
static void set_s(built *b, const char *name, const char *v) {
    ks_attr a = {0};
    a.name = (char *)name;
    a.type = KS_ATTR_STRING;
    a.s = (char *)v;
    add_attr(b, &a);
}
static void set_ints(built *b, const char *name, int n, const int64_t *v) {
    ks_attr a = {0};
    a.name = (char *)name;
    a.type = KS_ATTR_INTS;
    a.n = n;
    a.ints = (int64_t *)v;
    add_attr(b, &a);
}

static ks_tensor tf32(int ndim, const int64_t *dims, float *data) {
    ks_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = KS_DTYPE_FLOAT32;
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t.dims[i] = dims[i];
    t.data = data;
    return t;
}

/* ------------------------------------------------------------ comparison */

static double elem(const ks_tensor *t, int64_t i) {
    return ks__tensor_get_f64(t, i);
}

/* Returns 1 if equal within tolerance; prints the first mismatch. */
static int compare(const char *name, int oi, const ks_tensor *got, const ks_tensor *ref,
                   double atol, double rtol) {
    char a[64], b[64];
    if (got->dtype != ref->dtype) {
        fprintf(stderr, "FAIL %s: output %d dtype %s, expected %s\n", name, oi,
                ks_dtype_name(got->dtype), ks_dtype_name(ref->dtype));
        return 0;
    }
    if (got->ndim != ref->ndim ||
        memcmp(got->dims, ref->dims, sizeof(int64_t) * (size_t)ref->ndim)) {
        fprintf(stderr, "FAIL %s: output %d shape %s, expected %s\n", name, oi,
                ks_shape_str(got->dims, got->ndim, a, sizeof a),
                ks_shape_str(ref->dims, ref->ndim, b, sizeof b));
        return 0;
    }
    int64_t n = ks_tensor_numel(ref);
    int is_float = ref->dtype == KS_DTYPE_FLOAT32 || ref->dtype == KS_DTYPE_FLOAT64 ||
                   ref->dtype == KS_DTYPE_FLOAT16;
    double worst = 0.0;
    int64_t bad = -1, n_bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = elem(got, i), y = elem(ref, i);
        double err = fabs(x - y);
        int ok;
        if (is_float)
            ok = (isnan(x) && isnan(y)) || x == y || err <= atol + rtol * fabs(y);
        else
            ok = x == y;
        if (!ok) {
            n_bad++;
            if (bad < 0 || err > worst) {
                worst = err;
                bad = i;
            }
        }
    }
    if (bad >= 0) {
        fprintf(stderr,
                "FAIL %s: output %d: %lld of %lld elements differ; worst at %lld: got "
                "%.9g, expected %.9g (atol %g, rtol %g)\n",
                name, oi, (long long)n_bad, (long long)n, (long long)bad, elem(got, bad),
                elem(ref, bad), atol, rtol);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------ manifest */

#define MAX_IO 8

typedef struct mcase {
    char name[160];
    char op[64];
    int opset;
    int n_in, n_out;
    ks_tensor in[MAX_IO];
    int present[MAX_IO], is_const[MAX_IO];
    ks_tensor ref[MAX_IO];
    double atol, rtol;
} mcase;

static void free_case(mcase *c) {
    for (int i = 0; i < MAX_IO; i++) {
        ks_tensor_release(ctx, &c->in[i]);
        ks_tensor_release(ctx, &c->ref[i]);
    }
}

static int run_case(mcase *c, built *b) {
    ks_graph *g = b->g;
    const ks_node *nd = &g->nodes[b->node];
    const ks_tensor *ins[MAX_IO];
    ks_tensor shp[MAX_IO], outs[MAX_IO];
    int ok = 1;
    /* 1. static inference: constants with data, the rest shapes only */
    int allow_unknown = 0;
    for (int i = 0; i < c->n_in; i++) {
        shp[i] = c->in[i];
        if (!c->is_const[i])
            shp[i].data = NULL;
        if (i > 0 && c->present[i] && !c->is_const[i] &&
            (!strcmp(c->op, "Resize") || !strcmp(c->op, "Pad")))
            allow_unknown = 1;
        ins[i] = c->present[i] ? &shp[i] : NULL;
    }
    ks_status st = ks__node_infer(g, nd, ins, outs);
    if (st != KS_OK) {
        fprintf(stderr, "FAIL %s: static inference: %s: %s\n", c->name, ks_status_name(st),
                ks_context_last_error(ctx));
        return 0;
    }
    for (int o = 0; o < c->n_out; o++) {
        int same = outs[o].ndim == c->ref[o].ndim && outs[o].dtype == c->ref[o].dtype;
        for (int d = 0; same && d < outs[o].ndim; d++)
            if (outs[o].dims[d] != c->ref[o].dims[d] && !(allow_unknown && outs[o].dims[d] == -1))
                same = 0;
        if (!same) {
            char a[64], r[64];
            fprintf(stderr, "FAIL %s: static inference of output %d: %s %s, expected %s %s\n",
                    c->name, o, ks_dtype_name(outs[o].dtype),
                    ks_shape_str(outs[o].dims, outs[o].ndim, a, sizeof a),
                    ks_dtype_name(c->ref[o].dtype),
                    ks_shape_str(c->ref[o].dims, c->ref[o].ndim, r, sizeof r));
            ok = 0;
        }
    }
    /* 2. unknown dims (input 0 all -1), then unknown rank: must not fail */
    for (int pass = 0; pass < 2; pass++) {
        ks_tensor u = shp[0];
        if (pass == 0)
            for (int d = 0; d < u.ndim; d++)
                u.dims[d] = -1;
        else
            u.ndim = -1;
        const ks_tensor *uin[MAX_IO];
        for (int i = 0; i < c->n_in; i++)
            uin[i] = ins[i];
        uin[0] = &u;
        st = ks__node_infer(g, nd, uin, outs);
        if (st != KS_OK) {
            fprintf(stderr, "FAIL %s: inference with unknown %s: %s: %s\n", c->name,
                    pass ? "rank" : "dims", ks_status_name(st), ks_context_last_error(ctx));
            ok = 0;
        } else if (pass == 0 && c->ref[0].ndim >= 0 && outs[0].ndim != c->ref[0].ndim &&
                   outs[0].ndim != -1) {
            fprintf(stderr, "FAIL %s: inference with unknown dims gave rank %d\n", c->name,
                    outs[0].ndim);
            ok = 0;
        }
    }
    /* 3. run */
    for (int i = 0; i < c->n_in; i++)
        ins[i] = c->present[i] ? &c->in[i] : NULL;
    memset(outs, 0, sizeof outs);
    st = ks__node_run_cpu(g, nd, ins, outs);
    if (st != KS_OK) {
        fprintf(stderr, "FAIL %s: run: %s: %s\n", c->name, ks_status_name(st),
                ks_context_last_error(ctx));
        return 0;
    }
    for (int o = 0; o < c->n_out; o++) {
        if (!compare(c->name, o, &outs[o], &c->ref[o], c->atol, c->rtol)) {
            ok = 0;
            const char *dump = getenv("KS_NN_DUMP"); /* debugging: keep what we computed */
            if (dump && *dump) {
                char p[1024];
                snprintf(p, sizeof p, "%s/%s_got%d.npy", dump, c->name, o);
                ks_tensor_save_npy(ctx, p, &outs[o]);
            }
        }
        ks_tensor_release(ctx, &outs[o]);
    }
    return ok;
}

/* Parses one "attr" line into the node. */
static int parse_attr(built *b, char *line) {
    char name[64], kind[16];
    int off = 0;
    if (sscanf(line, "attr %63s %15s %n", name, kind, &off) < 2)
        return 0;
    char *rest = line + off;
    if (!strcmp(kind, "i")) {
        set_i(b, name, strtoll(rest, NULL, 10));
    } else if (!strcmp(kind, "f")) {
        set_f(b, name, strtof(rest, NULL));
    } else if (!strcmp(kind, "s")) {
        rest[strcspn(rest, "\r\n")] = 0;
        set_s(b, name, rest);
    } else if (!strcmp(kind, "ints") || !strcmp(kind, "floats")) {
        char *end;
        long n = strtol(rest, &end, 10);
        if (n < 0 || n > 64)
            return 0;
        int64_t iv[64];
        float fv[64];
        for (long i = 0; i < n; i++) {
            if (kind[0] == 'i')
                iv[i] = strtoll(end, &end, 10);
            else
                fv[i] = strtof(end, &end);
        }
        ks_attr a = {0};
        a.name = name;
        a.n = n;
        if (kind[0] == 'i') {
            a.type = KS_ATTR_INTS;
            a.ints = iv;
        } else {
            a.type = KS_ATTR_FLOATS;
            a.floats = fv;
        }
        add_attr(b, &a);
    } else {
        return 0;
    }
    return 1;
}

static int run_manifest(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    char line[4096];
    int n_pass = 0, n_fail = 0;
    mcase c;
    built b = {0};
    char attr_lines[64][512];
    int n_attr = 0;
    memset(&c, 0, sizeof c);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!strncmp(line, "case ", 5)) {
            memset(&c, 0, sizeof c);
            snprintf(c.name, sizeof c.name, "%.150s", line + 5);
            n_attr = 0;
        } else if (!strncmp(line, "op ", 3)) {
            sscanf(line, "op %63s %d", c.op, &c.opset);
        } else if (!strncmp(line, "attr ", 5)) {
            if (n_attr < 64)
                snprintf(attr_lines[n_attr++], 512, "%.500s", line);
        } else if (!strncmp(line, "in ", 3) || !strncmp(line, "out ", 4)) {
            int is_out = line[0] == 'o';
            int idx;
            char fn[512];
            if (sscanf(line + (is_out ? 4 : 3), "%d %511s", &idx, fn) != 2 || idx < 0 ||
                idx >= MAX_IO)
                continue;
            if (!is_out && !strcmp(fn, "-")) {
                if (idx + 1 > c.n_in)
                    c.n_in = idx + 1;
                continue;
            }
            snprintf(path, sizeof path, "%s/%s", dir, fn);
            ks_tensor *t = is_out ? &c.ref[idx] : &c.in[idx];
            if (ks_tensor_load_npy(ctx, path, t) != KS_OK) {
                fprintf(stderr, "FAIL %s: cannot load %s: %s\n", c.name, path,
                        ks_context_last_error(ctx));
                continue;
            }
            if (is_out) {
                if (idx + 1 > c.n_out)
                    c.n_out = idx + 1;
            } else {
                c.present[idx] = 1;
                if (idx + 1 > c.n_in)
                    c.n_in = idx + 1;
            }
        } else if (!strncmp(line, "const ", 6)) {
            int idx = atoi(line + 6);
            if (idx >= 0 && idx < MAX_IO)
                c.is_const[idx] = 1;
        } else if (!strncmp(line, "tol ", 4)) {
            sscanf(line + 4, "%lf %lf", &c.atol, &c.rtol);
        } else if (!strcmp(line, "end")) {
            int ok = build(&b, c.op, c.opset, c.n_in, c.n_out);
            for (int i = 0; ok && i < n_attr; i++)
                ok = parse_attr(&b, attr_lines[i]);
            /* omitted optional inputs */
            for (int i = 0; ok && i < c.n_in; i++)
                if (!c.present[i])
                    b.g->nodes[b.node].inputs[i] = -1;
            if (!ok) {
                fprintf(stderr, "FAIL %s: cannot build the node\n", c.name);
                n_fail++;
            } else if (run_case(&c, &b)) {
                n_pass++;
            } else {
                n_fail++;
            }
            ks__graph_destroy(b.g);
            b.g = NULL;
            free_case(&c);
        }
    }
    fclose(f);
    fprintf(stderr, "manifest: %d passed, %d failed\n", n_pass, n_fail);
    ks_t_checks_ += n_pass + n_fail;
    ks_t_failures_ += n_fail;
    return n_fail;
}

/* ------------------------------------------------------------ built-in cases */

/* Runs node b on inputs, returning the status; outputs in out[]. */
static ks_status run_node(built *b, int nin, const ks_tensor *const *in, ks_tensor *out) {
    return ks__node_run_cpu(b->g, &b->g->nodes[b->node], in, out);
}

static void test_conv_hand(void) {
    /* 1x1x3x3 input 1..9, 2x2 kernel of ones, stride 1, pads 1 on the end */
    built b;
    KS_T_CHECK(build(&b, "Conv", 11, 3, 1));
    int64_t pads[4] = {0, 0, 1, 1};
    set_ints(&b, "pads", 4, pads);
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 1, 1, 1}, bias[1] = {0.5f};
    int64_t xd[4] = {1, 1, 3, 3}, wd[4] = {1, 1, 2, 2}, bd[1] = {1};
    ks_tensor tx = tf32(4, xd, x), tw = tf32(4, wd, w), tb = tf32(1, bd, bias);
    const ks_tensor *in[3] = {&tx, &tw, &tb};
    ks_tensor out[1];
    memset(out, 0, sizeof out);
    KS_T_CHECK_OK(ctx, run_node(&b, 3, in, out));
    float want[9] = {12, 16, 9, 24, 28, 15, 15, 17, 9};
    KS_T_CHECK_EQ_I(out[0].ndim, 4);
    KS_T_CHECK_EQ_I(out[0].dims[2], 3);
    for (int i = 0; i < 9 && out[0].data; i++)
        KS_T_CHECK_NEAR(((float *)out[0].data)[i], want[i] + 0.5f, 1e-6);
    ks_tensor_release(ctx, &out[0]);
    ks__graph_destroy(b.g);
}

static void test_conv_errors(void) {
    built b;
    KS_T_CHECK(build(&b, "Conv", 11, 2, 1));
    set_i(&b, "group", 3);
    int64_t xd[4] = {1, 64, 8, 8}, wd[4] = {6, 21, 3, 3};
    ks_tensor tx = tf32(4, xd, NULL), tw = tf32(4, wd, NULL);
    const ks_tensor *in[2] = {&tx, &tw};
    ks_tensor out[1];
    ks_status st = ks__node_infer(b.g, &b.g->nodes[b.node], in, out);
    KS_T_CHECK_EQ_I(st, KS_INVALID_MODEL);
    KS_T_CHECK_MSG(strstr(ks_context_last_error(ctx), "group 3 does not divide input channels 64"),
                   "message: %s", ks_context_last_error(ctx));
    ks__graph_destroy(b.g);

    /* kernel larger than the padded input */
    KS_T_CHECK(build(&b, "Conv", 11, 2, 1));
    int64_t xd2[4] = {1, 1, 2, 2}, wd2[4] = {1, 1, 3, 3};
    tx = tf32(4, xd2, NULL);
    tw = tf32(4, wd2, NULL);
    st = ks__node_infer(b.g, &b.g->nodes[b.node], in, out);
    KS_T_CHECK_EQ_I(st, KS_UNSUPPORTED_SHAPE);
    ks__graph_destroy(b.g);

    /* bad auto_pad names the value */
    KS_T_CHECK(build(&b, "Conv", 11, 2, 1));
    set_s(&b, "auto_pad", "SAME");
    tx = tf32(4, xd2, NULL);
    tw = tf32(4, wd2, NULL);
    st = ks__node_infer(b.g, &b.g->nodes[b.node], in, out);
    KS_T_CHECK_EQ_I(st, KS_UNSUPPORTED_ATTR);
    KS_T_CHECK_MSG(strstr(ks_context_last_error(ctx), "'SAME'"), "message: %s",
                   ks_context_last_error(ctx));
    ks__graph_destroy(b.g);
}

static void test_infer_unknown(void) {
    /* Conv with unknown H: output H unknown, W known */
    built b;
    KS_T_CHECK(build(&b, "Conv", 11, 2, 1));
    int64_t strides[2] = {2, 2};
    set_ints(&b, "strides", 2, strides);
    set_s(&b, "auto_pad", "SAME_UPPER");
    int64_t xd[4] = {-1, 3, -1, 640}, wd[4] = {16, 3, 6, 6};
    ks_tensor tx = tf32(4, xd, NULL), tw = tf32(4, wd, NULL);
    const ks_tensor *in[2] = {&tx, &tw};
    ks_tensor out[1];
    KS_T_CHECK_OK(ctx, ks__node_infer(b.g, &b.g->nodes[b.node], in, out));
    KS_T_CHECK_EQ_I(out[0].ndim, 4);
    KS_T_CHECK_EQ_I(out[0].dims[0], -1);
    KS_T_CHECK_EQ_I(out[0].dims[1], 16);
    KS_T_CHECK_EQ_I(out[0].dims[2], -1);
    KS_T_CHECK_EQ_I(out[0].dims[3], 320);
    ks__graph_destroy(b.g);

    /* Resize with non-constant sizes: N, C kept only when unresized via axes */
    KS_T_CHECK(build(&b, "Resize", 18, 4, 1));
    int64_t axes[2] = {2, 3};
    set_ints(&b, "axes", 2, axes);
    int64_t rd[4] = {1, 8, 20, 20}, sd[1] = {2};
    ks_tensor rx = tf32(4, rd, NULL), sz;
    memset(&sz, 0, sizeof sz);
    sz.dtype = KS_DTYPE_INT64;
    sz.ndim = 1;
    sz.dims[0] = sd[0];
    const ks_tensor *rin[4] = {&rx, NULL, NULL, &sz};
    KS_T_CHECK_OK(ctx, ks__node_infer(b.g, &b.g->nodes[b.node], rin, out));
    KS_T_CHECK_EQ_I(out[0].ndim, 4);
    KS_T_CHECK_EQ_I(out[0].dims[1], 8);
    KS_T_CHECK_EQ_I(out[0].dims[2], -1);
    ks__graph_destroy(b.g);

    /* MatMul with unknown batch */
    KS_T_CHECK(build(&b, "MatMul", 13, 2, 1));
    int64_t ad[3] = {-1, 5, 4}, bd2[2] = {4, 7};
    ks_tensor ta = tf32(3, ad, NULL), tb = tf32(2, bd2, NULL);
    const ks_tensor *min[2] = {&ta, &tb};
    KS_T_CHECK_OK(ctx, ks__node_infer(b.g, &b.g->nodes[b.node], min, out));
    KS_T_CHECK_EQ_I(out[0].ndim, 3);
    KS_T_CHECK_EQ_I(out[0].dims[0], -1);
    KS_T_CHECK_EQ_I(out[0].dims[2], 7);
    ks__graph_destroy(b.g);
}

static void test_resize_unsupported(void) {
    built b;
    KS_T_CHECK(build(&b, "Resize", 18, 3, 1));
    set_i(&b, "antialias", 1);
    set_s(&b, "mode", "linear");
    int64_t xd[4] = {1, 1, 4, 4}, sd[1] = {4};
    float sc[4] = {1, 1, 0.5f, 0.5f};
    ks_tensor tx = tf32(4, xd, NULL), ts = tf32(1, sd, sc);
    const ks_tensor *in[3] = {&tx, NULL, &ts};
    ks_tensor out[1];
    ks_status st = ks__node_infer(b.g, &b.g->nodes[b.node], in, out);
    KS_T_CHECK_EQ_I(st, KS_UNSUPPORTED_ATTR);
    KS_T_CHECK_MSG(strstr(ks_context_last_error(ctx), "antialias"), "message: %s",
                   ks_context_last_error(ctx));
    ks__graph_destroy(b.g);
}

static void test_pool_geometry(void) {
    /* ceil_mode output sizes, incl. dropping a window that starts in the padding */
    KS_T_CHECK_EQ_I(ks__window_out_size(4, 3, 2, 1, 0, 0, 1), 2);
    KS_T_CHECK_EQ_I(ks__window_out_size(4, 3, 2, 1, 0, 0, 0), 1);
    KS_T_CHECK_EQ_I(ks__window_out_size(6, 2, 2, 1, 1, 1, 1), 4);
    KS_T_CHECK_EQ_I(ks__window_out_size(5, 2, 2, 1, 1, 1, 1), 3);
    KS_T_CHECK_EQ_I(ks__window_out_size(-1, 2, 2, 1, 1, 1, 1), -1);
    KS_T_CHECK_EQ_I(ks__pad_src_index(KS_PAD_REFLECT, -1, 0, 4), 1);
    KS_T_CHECK_EQ_I(ks__pad_src_index(KS_PAD_REFLECT, 4, 0, 4), 2);
    KS_T_CHECK_EQ_I(ks__pad_src_index(KS_PAD_REFLECT, -5, 0, 4), 1);
    KS_T_CHECK_EQ_I(ks__pad_src_index(KS_PAD_WRAP, -1, 0, 4), 3);
    KS_T_CHECK_EQ_I(ks__pad_src_index(KS_PAD_WRAP, 4, 1, 4), 1); /* cropped to [1, 4) */
    KS_T_CHECK_EQ_I(ks__pad_src_index(KS_PAD_EDGE, 9, 0, 4), 3);
    KS_T_CHECK_EQ_I(ks__pad_src_index(KS_PAD_CONSTANT, 4, 0, 4), -1);
}

/* ------------------------------------------------------------ bench */

static void bench(void) {
    /* YOLOv5n's heaviest shape class: 3x3 convs; run one C3-sized layer */
    struct {
        int64_t c, m, h, k, s;
    } layers[] = {{3, 16, 640, 6, 2}, {16, 32, 320, 3, 2},  {32, 32, 160, 3, 1},
                  {64, 64, 80, 3, 1}, {128, 128, 40, 3, 1}, {256, 256, 20, 3, 1},
                  {64, 64, 80, 1, 1}};
    for (size_t li = 0; li < sizeof layers / sizeof layers[0]; li++) {
        int64_t c = layers[li].c, m = layers[li].m, h = layers[li].h, k = layers[li].k,
                s = layers[li].s;
        built b;
        build(&b, "Conv", 11, 3, 1);
        int64_t pads[4] = {k / 2, k / 2, k / 2, k / 2}, str[2] = {s, s};
        set_ints(&b, "pads", 4, pads);
        set_ints(&b, "strides", 2, str);
        int64_t xd[4] = {1, c, h, h}, wd[4] = {m, c, k, k}, bd[1] = {m};
        float *x = calloc((size_t)(c * h * h), 4), *w = calloc((size_t)(m * c * k * k), 4),
              *bb = calloc((size_t)m, 4);
        for (int64_t i = 0; i < c * h * h; i++)
            x[i] = (float)(i % 7) * 0.1f;
        for (int64_t i = 0; i < m * c * k * k; i++)
            w[i] = (float)(i % 5) * 0.01f;
        ks_tensor tx = tf32(4, xd, x), tw = tf32(4, wd, w), tb = tf32(1, bd, bb);
        const ks_tensor *in[3] = {&tx, &tw, &tb};
        ks_tensor out[1];
        memset(out, 0, sizeof out);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ks_status st = run_node(&b, 3, in, out);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        int64_t oh = out[0].ndim == 4 ? out[0].dims[2] : 0;
        double flop = 2.0 * (double)(m * c * k * k) * (double)(oh * oh);
        fprintf(stderr, "conv %lldx%lldx%lld -> %lld k%lld s%lld: %s %.1f ms, %.2f GFLOP/s\n",
                (long long)c, (long long)h, (long long)h, (long long)m, (long long)k, (long long)s,
                ks_status_name(st), sec * 1e3, flop / sec * 1e-9);
        ks_tensor_release(ctx, &out[0]);
        ks__graph_destroy(b.g);
        free(x);
        free(w);
        free(bb);
    }
}

int main(int argc, char **argv) {
    if (ks_context_create(NULL, &ctx) != KS_OK) {
        fprintf(stderr, "cannot create context\n");
        return 1;
    }
    if (argc > 1 && !strcmp(argv[1], "--bench")) {
        bench();
        ks_context_destroy(ctx);
        return 0;
    }
    test_conv_hand();
    test_conv_errors();
    test_infer_unknown();
    test_resize_unsupported();
    test_pool_geometry();
    if (argc > 1 && run_manifest(argv[1]) < 0)
        ks_t_failures_++;
    ks_context_destroy(ctx);
    return ks_t_done();
}
