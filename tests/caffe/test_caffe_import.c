/* Caffe importer: real models load and run on the CPU and match the ONNX
 * files holding the same weights; the PRelu plugin path matches the built-in
 * op; malformed prototxt / caffemodel files fail with clear errors. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "caffe/caffe_import.h"
#include "core/model_internal.h"
#include "kestrel/kestrel.h"
#include "kestrel/plugin.h"

static char g_models[1024];
static void *slurp(const char *path, size_t *n);

static const char *mpath(const char *rel) {
    static char buf[4][1200];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_models, rel);
    return buf[k];
}

static int file_exists(const char *p) {
    FILE *f = fopen(p, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

static uint32_t rng = 12345u;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return ((rng >> 8) / 16777216.0f) * 2.f - 1.f;
}

static void fill_random(ks_tensor *t) {
    int64_t n = ks_tensor_numel(t);
    float *f = t->data;
    for (int64_t i = 0; i < n; i++)
        f[i] = frand();
}

/* NCHW -> NHWC copy */
static void nchw_to_nhwc(const ks_tensor *src, ks_tensor *dst, ks_context *ctx) {
    int64_t N = src->dims[0], C = src->dims[1], H = src->dims[2], W = src->dims[3];
    dst->dtype = KS_DTYPE_FLOAT32;
    dst->ndim = 4;
    dst->dims[0] = N, dst->dims[1] = H, dst->dims[2] = W, dst->dims[3] = C;
    dst->data = NULL;
    ks_tensor_alloc(ctx, dst);
    const float *s = src->data;
    float *d = dst->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++)
                    d[((n * H + h) * W + w) * C + c] = s[((n * C + c) * H + h) * W + w];
}

/* [N,C,H,W] -> [N,C,W,H] copy */
static void transpose_hw(const ks_tensor *src, ks_tensor *dst, ks_context *ctx) {
    int64_t N = src->dims[0], C = src->dims[1], H = src->dims[2], W = src->dims[3];
    dst->dtype = KS_DTYPE_FLOAT32;
    dst->ndim = 4;
    dst->dims[0] = N, dst->dims[1] = C, dst->dims[2] = W, dst->dims[3] = H;
    dst->data = NULL;
    ks_tensor_alloc(ctx, dst);
    const float *s = src->data;
    float *d = dst->data;
    for (int64_t p = 0; p < N * C; p++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++)
                d[(p * W + w) * H + h] = s[(p * H + h) * W + w];
}

/* Max |a-b| relative to max |b| (b: reference), with layout changes of a
 * 4-D a first: H/W transposed when hw_t, then NCHW -> NHWC when b_nhwc. */
static double rel_diff_t(const ks_tensor *a, const ks_tensor *b, int b_nhwc, int hw_t,
                         ks_context *ctx) {
    ks_tensor t1 = {0}, t2 = {0};
    const ks_tensor *aa = a;
    if (hw_t && aa->ndim == 4) {
        transpose_hw(aa, &t1, ctx);
        aa = &t1;
    }
    if (b_nhwc && aa->ndim == 4) {
        nchw_to_nhwc(aa, &t2, ctx);
        aa = &t2;
    }
    double md = 0, mb = 0, r = 1e30;
    int64_t n = ks_tensor_numel(b);
    int same = ks_tensor_numel(aa) == n && aa->ndim == b->ndim;
    for (int i = 0; same && i < b->ndim; i++)
        same = aa->dims[i] == b->dims[i];
    if (same) {
        const float *x = aa->data, *y = b->data;
        for (int64_t i = 0; i < n; i++) {
            double d = fabs((double)x[i] - y[i]);
            if (d > md || d != d)
                md = d != d ? 1e30 : d;
            if (fabs(y[i]) > mb)
                mb = fabs(y[i]);
        }
        r = md / (mb > 1e-6 ? mb : 1e-6);
    }
    ks_tensor_release(ctx, &t1);
    ks_tensor_release(ctx, &t2);
    return r;
}

static double rel_diff(const ks_tensor *a, const ks_tensor *b, int b_nhwc, ks_context *ctx) {
    return rel_diff_t(a, b, b_nhwc, 0, ctx);
}

static ks_model *load(ks_context *ctx, const char *path) {
    ks_model *m = NULL;
    ks_status st = ks_model_load_file(ctx, path, NULL, &m);
    KS_T_CHECK_MSG(st == KS_OK, "load %s: %s: %s", path, ks_status_name(st),
                   ks_context_last_error(ctx));
    return st == KS_OK ? m : NULL;
}

/* Loads a model at a given NCHW input size: Caffe through the importer's
 * shape override, ONNX through ks_model_set_input_shape (if not static). */
static ks_model *load_sized(ks_context *ctx, const char *path, const int64_t *dims) {
    size_t n = strlen(path);
    if (n > 9 && !strcmp(path + n - 9, ".prototxt")) {
        char w[1300];
        snprintf(w, sizeof w, "%.*s.caffemodel", (int)(n - 9), path);
        size_t nt, nw;
        void *txt = slurp(path, &nt), *wb = slurp(w, &nw);
        ks_caffe_input_shape sh = {NULL, 4, {dims[0], dims[1], dims[2], dims[3]}};
        ks_graph *g = NULL;
        ks_model *m = NULL;
        ks_status st = ks__caffe_import_memory_ex(ctx, txt, nt, path, wb, nw, w, &sh, 1, &g);
        if (st == KS_OK)
            st = ks__model_from_graph(ctx, g, &m);
        free(txt);
        free(wb);
        KS_T_CHECK_MSG(st == KS_OK, "load %s: %s", path, ks_context_last_error(ctx));
        return m;
    }
    ks_model *m = load(ctx, path);
    if (m) {
        ks_dtype dt;
        int nd;
        int64_t d[KS_MAX_DIMS];
        ks_model_input_info(m, 0, &dt, &nd, d, NULL);
        int same = nd == 4;
        for (int i = 0; same && i < 4; i++)
            same = d[i] == dims[i];
        if (!same)
            KS_T_CHECK_OK(ctx, ks_model_set_input_shape(m, ks_model_input_name(m, 0), 4, dims));
    }
    return m;
}

static int out_index(ks_model *m, const char *name) {
    for (int i = 0; i < ks_model_num_outputs(m); i++)
        if (!strcmp(ks_model_output_name(m, i), name))
            return i;
    return -1;
}

/* Runs a model on one input; outputs into outs (all of them). */
static int run1(ks_context *ctx, ks_model *m, const ks_tensor *in, ks_tensor *outs) {
    ks_session *s = NULL;
    ks_status st = ks_session_create(m, NULL, &s);
    KS_T_CHECK_MSG(st == KS_OK, "session: %s", ks_context_last_error(ctx));
    if (st != KS_OK)
        return 0;
    const char *name = ks_model_input_name(m, 0);
    st = ks_session_run(s, 1, &name, in, 0, NULL, outs);
    KS_T_CHECK_MSG(st == KS_OK, "run: %s: %s", ks_status_name(st), ks_context_last_error(ctx));
    ks_session_destroy(s);
    return st == KS_OK;
}

typedef struct pair_case {
    const char *caffe;      /* prototxt */
    const char *onnx;       /* reference ONNX (NULL = Caffe-vs-Caffe case) */
    const char *caffe2;     /* second Caffe model to compare against (relu variant) */
    int nhwc;               /* ONNX input/4-D outputs are NHWC */
    int hw_t;               /* reference takes H/W-transposed input, gives transposed maps */
    int64_t dims[4];        /* Caffe input */
    const char *outs[3][2]; /* caffe output name, reference output name */
} pair_case;

static const pair_case cases[] = {
    {"mtcnn/caffe/det1.prototxt", "mtcnn/onnx_ipazc/pnet.onnx", NULL, 1, 0, {1, 3, 31, 23},
     {{"conv4-2", "conv2d_4"}, {"prob1", "softmax"}}},
    {"mtcnn/caffe/det1.prototxt", "mtcnn/onnx_caffe/det1.onnx", NULL, 0, 0, {1, 3, 12, 12},
     {{"conv4-2", "conv4-2_Y"}, {"prob1", "prob1_Y"}}},
    {"mtcnn/caffe/det2.prototxt", "mtcnn/onnx_ipazc/rnet.onnx", NULL, 1, 0, {1, 3, 24, 24},
     {{"conv5-2", "dense_2"}, {"prob1", "softmax_1"}}},
    {"mtcnn/caffe/det3.prototxt", "mtcnn/onnx_ipazc/onet.onnx", NULL, 1, 0, {1, 3, 48, 48},
     {{"conv6-2", "dense_5"}, {"conv6-3", "dense_6"}, {"prob1", "softmax_2"}}},
    /* PKUZHOU's det1_relu has H/W-transposed conv kernels: it takes the
     * image untransposed, unlike det1 (and det2/3 of either set) */
    {"mtcnn/caffe_relu/det1_relu.prototxt", NULL, "mtcnn/caffe/det1.prototxt", 0, 1, {1, 3, 31, 23},
     {{"conv4-2", "conv4-2"}, {"prob1", "prob1"}}},
    {"mtcnn/caffe_relu/det2_relu.prototxt", NULL, "mtcnn/caffe/det2.prototxt", 0, 0, {1, 3, 24, 24},
     {{"conv5-2", "conv5-2"}, {"prob1", "prob1"}}},
    {"mtcnn/caffe_relu/det3_relu.prototxt", NULL, "mtcnn/caffe/det3.prototxt", 0, 0, {1, 3, 48, 48},
     {{"conv6-2", "conv6-2"}, {"conv6-3", "conv6-3"}, {"prob1", "prob1"}}},
    {"ultraface/caffe/RFB-320.prototxt", "ultraface/version-RFB-320_simplified.onnx", NULL, 0,
     0, {1, 3, 240, 320}, {{"scores", "scores"}, {"boxes", "boxes"}}},
    {"ultraface/caffe/slim-320.prototxt", "ultraface/version-slim-320_simplified.onnx", NULL, 0,
     0, {1, 3, 240, 320}, {{"scores", "scores"}, {"boxes", "boxes"}}},
};

static void run_pair(const pair_case *c) {
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    const char *ref_path = c->onnx ? c->onnx : c->caffe2;
    if (!file_exists(mpath(c->caffe)) || !file_exists(mpath(ref_path))) {
        fprintf(stderr, "note: %s or %s missing, case skipped\n", c->caffe, ref_path);
        ks_context_destroy(ctx);
        return;
    }
    ks_model *mc = NULL, *mr = NULL;
    {
        ks_tensor in = {KS_DTYPE_FLOAT32, 4, {0}, NULL};
        memcpy(in.dims, c->dims, sizeof c->dims);
        ks_tensor_alloc(ctx, &in);
        fill_random(&in);
        ks_tensor in_ref = in, in_t = {0};
        const ks_tensor *rsrc = &in;
        if (c->hw_t) {
            transpose_hw(&in, &in_t, ctx);
            rsrc = &in_t;
            in_ref = in_t;
        }
        if (c->nhwc)
            nchw_to_nhwc(rsrc, &in_ref, ctx);
        mc = load_sized(ctx, mpath(c->caffe), in.dims);
        mr = load_sized(ctx, mpath(ref_path), in_ref.dims);
        ks_tensor oc[8], orf[8];
        memset(oc, 0, sizeof oc);
        memset(orf, 0, sizeof orf);
        if (mc && mr && run1(ctx, mc, &in, oc) && run1(ctx, mr, &in_ref, orf)) {
            for (int k = 0; k < 3 && c->outs[k][0]; k++) {
                int a = out_index(mc, c->outs[k][0]), b = out_index(mr, c->outs[k][1]);
                KS_T_CHECK_MSG(a >= 0 && b >= 0, "%s: outputs %s / %s not found", c->caffe,
                               c->outs[k][0], c->outs[k][1]);
                if (a < 0 || b < 0)
                    continue;
                double d = rel_diff_t(&oc[a], &orf[b], c->nhwc, c->hw_t, ctx);
                KS_T_CHECK_MSG(d <= 1e-4, "%s output %s vs %s %s: relative diff %g", c->caffe,
                               c->outs[k][0], ref_path, c->outs[k][1], d);
                fprintf(stderr, "%s %s vs %s: rel diff %.3g\n", c->caffe, c->outs[k][0], ref_path, d);
            }
        }
        for (int i = 0; i < 8; i++) {
            ks_tensor_release(ctx, &oc[i]);
            ks_tensor_release(ctx, &orf[i]);
        }
        if (c->nhwc)
            ks_tensor_release(ctx, &in_ref);
        ks_tensor_release(ctx, &in_t);
        ks_tensor_release(ctx, &in);
    }
    ks_model_destroy(mc);
    ks_model_destroy(mr);
    ks_context_destroy(ctx);
}

/* PReLU through the plugin (ks_plugin_prefer) equals the built-in op. */
static void test_prelu_plugin(void) {
    ks_context *c1, *c2;
    ks_context_create(NULL, &c1);
    ks_context_create(NULL, &c2);
    KS_T_CHECK_OK(c2, ks_plugin_prefer(c2, "PRelu", 1));
    KS_T_CHECK(ks_plugin_find(c2, NULL, "PRelu") != NULL);
    const char *p = mpath("mtcnn/caffe/det3.prototxt");
    ks_model *a = load(c1, p), *b = load(c2, p);
    if (a && b) {
        int n_plugin = 0, n_prelu = 0;
        for (int i = 0; i < ks_model_num_nodes(b); i++)
            n_plugin += !strcmp(ks_model_node_op(b, i), "PRelu");
        for (int i = 0; i < ks_model_num_nodes(a); i++)
            n_prelu += !strcmp(ks_model_node_op(a, i), "PRelu");
        KS_T_CHECK_EQ_I(n_plugin, n_prelu);
        KS_T_CHECK(n_prelu == 5);
        ks_tensor in = {KS_DTYPE_FLOAT32, 4, {1, 3, 48, 48}, NULL};
        ks_tensor_alloc(c1, &in);
        fill_random(&in);
        ks_tensor oa[4] = {0}, ob[4] = {0};
        if (run1(c1, a, &in, oa) && run1(c2, b, &in, ob)) {
            for (int k = 0; k < ks_model_num_outputs(a); k++) {
                double d = rel_diff(&ob[k], &oa[k], 0, c1);
                KS_T_CHECK_MSG(d <= 1e-6, "plugin vs built-in PRelu, output %d: %g", k, d);
            }
        }
        for (int i = 0; i < 4; i++) {
            ks_tensor_release(c1, &oa[i]);
            ks_tensor_release(c2, &ob[i]);
        }
        ks_tensor_release(c1, &in);
    }
    ks_model_destroy(a);
    ks_model_destroy(b);
    ks_context_destroy(c1);
    ks_context_destroy(c2);
}

/* det4 (Slice + Concat): loads and runs, outputs finite. */
static void test_det4(void) {
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    ks_model *m = load(ctx, mpath("mtcnn/caffe/det4.prototxt"));
    if (m) {
        KS_T_CHECK(ks_model_num_outputs(m) >= 5);
        ks_tensor in = {KS_DTYPE_FLOAT32, 4, {1, 15, 24, 24}, NULL};
        ks_tensor_alloc(ctx, &in);
        fill_random(&in);
        ks_tensor o[16];
        memset(o, 0, sizeof o);
        if (run1(ctx, m, &in, o)) {
            for (int k = 0; k < ks_model_num_outputs(m) && k < 16; k++) {
                int64_t n = ks_tensor_numel(&o[k]);
                int finite = n > 0;
                for (int64_t i = 0; i < n; i++)
                    finite &= isfinite(((float *)o[k].data)[i]);
                KS_T_CHECK_MSG(finite, "det4 output %s not finite", ks_model_output_name(m, k));
            }
        }
        for (int i = 0; i < 16; i++)
            ks_tensor_release(ctx, &o[i]);
        ks_tensor_release(ctx, &in);
    }
    ks_model_destroy(m);
    ks_context_destroy(ctx);
}

/* ------------------------------------------------------------ malformed */

static void *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    ((char *)b)[*n] = 0;
    return b;
}

static ks_status imp(ks_context *ctx, const char *txt, const void *w, size_t nw) {
    ks_graph *g = NULL;
    ks_status st =
        ks__caffe_import_memory(ctx, txt, strlen(txt), "t.prototxt", w, nw, "t.caffemodel", &g);
    ks__graph_destroy(g);
    return st;
}

static void expect_err(ks_context *ctx, ks_status got, ks_status want, const char *needle,
                       const char *what) {
    KS_T_CHECK_MSG(got == want, "%s: got %s (%s), want %s", what, ks_status_name(got),
                   ks_context_last_error(ctx), ks_status_name(want));
    if (needle)
        KS_T_CHECK_MSG(strstr(ks_context_last_error(ctx), needle) != NULL,
                       "%s: message '%s' lacks '%s'", what, ks_context_last_error(ctx), needle);
}

static char *replace(const char *s, const char *from, const char *to) {
    const char *p = strstr(s, from);
    if (!p)
        return NULL;
    size_t n = strlen(s) + strlen(to) + 1;
    char *r = malloc(n);
    memcpy(r, s, (size_t)(p - s));
    strcpy(r + (p - s), to);
    strcat(r, p + strlen(from));
    return r;
}

static void test_malformed(void) {
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    size_t nt = 0, nw = 0;
    char *txt = slurp(mpath("mtcnn/caffe/det1.prototxt"), &nt);
    unsigned char *w = slurp(mpath("mtcnn/caffe/det1.caffemodel"), &nw);
    if (!txt || !w) {
        fprintf(stderr, "note: det1 missing, malformed tests on models skipped\n");
    } else {
        KS_T_CHECK_OK(ctx, imp(ctx, txt, w, nw));
        /* truncated caffemodel at many points: never crash; error or (if the
         * cut only loses training layers) success */
        int n_err = 0;
        for (size_t cut = 0; cut < nw; cut += nw / 97 + 1) {
            ks_status st = imp(ctx, txt, w, cut);
            n_err += st != KS_OK;
            if (st != KS_OK)
                KS_T_CHECK_MSG(st == KS_CORRUPT_FILE || st == KS_INVALID_MODEL,
                               "cut %zu: %s %s", cut, ks_status_name(st), ks_context_last_error(ctx));
        }
        KS_T_CHECK(n_err > 80);
        /* garbage */
        unsigned char junk[4096];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (unsigned char)(frand() * 127 + 128);
        expect_err(ctx, imp(ctx, txt, junk, sizeof junk), KS_CORRUPT_FILE, "t.caffemodel",
                   "garbage caffemodel");
        /* flipped bytes inside the weights: no crash */
        unsigned char *w2 = malloc(nw);
        for (int trial = 0; trial < 50; trial++) {
            memcpy(w2, w, nw);
            for (int k = 0; k < 8; k++)
                w2[(size_t)((frand() * 0.5f + 0.5f) * (float)(nw - 1))] ^= 0x5a;
            (void)imp(ctx, txt, w2, nw);
        }
        free(w2);
        /* missing weights for a layer (renamed in the prototxt) */
        char *t2 = replace(txt, "name: \"conv2\"", "name: \"conv2_renamed\"");
        expect_err(ctx, imp(ctx, t2, w, nw), KS_INVALID_MODEL, "conv2_renamed", "missing blobs");
        KS_T_CHECK(strstr(ks_context_last_error(ctx), "no weights") != NULL);
        free(t2);
        /* wrong blob size: num_output changed */
        t2 = replace(txt, "num_output: 16", "num_output: 17");
        expect_err(ctx, imp(ctx, t2, w, nw), KS_INVALID_MODEL, "conv2", "wrong blob size");
        free(t2);
        /* no caffemodel at all */
        expect_err(ctx, imp(ctx, txt, NULL, 0), KS_INVALID_MODEL, "no caffemodel", "no weights");
        /* unsupported layer type */
        t2 = replace(txt, "type: \"PReLU\"", "type: \"Frobnicate\"");
        expect_err(ctx, imp(ctx, t2, w, nw), KS_UNSUPPORTED_OP, "Frobnicate", "unknown layer");
        KS_T_CHECK(strstr(ks_context_last_error(ctx), "PReLU1") != NULL);
        free(t2);
        /* truncated prototxt: every cut is an error or a smaller valid net */
        for (size_t cut = 0; cut < nt; cut += 7) {
            char *tc = malloc(cut + 1);
            memcpy(tc, txt, cut);
            tc[cut] = 0;
            ks_graph *g = NULL;
            ks_status st = ks__caffe_import_memory(ctx, tc, cut, "t.prototxt", w, nw, "w", &g);
            ks__graph_destroy(g);
            if (st != KS_OK)
                KS_T_CHECK_MSG(strstr(ks_context_last_error(ctx), "t.prototxt") != NULL, "%s",
                               ks_context_last_error(ctx));
            free(tc);
        }
    }
    /* syntax errors carry line numbers */
    expect_err(ctx, imp(ctx, "name: \"x\"\ninput: \"data\"\nlayer {\n  name: \"a\"\n  type: }\n",
                        NULL, 0),
               KS_INVALID_MODEL, "t.prototxt:5:", "syntax error line");
    expect_err(ctx, imp(ctx, "layer {\n name: \"a\"\n", NULL, 0), KS_INVALID_MODEL, "missing '}'",
               "unclosed brace");
    expect_err(ctx, imp(ctx, "input_dim: 1.5\n", NULL, 0), KS_INVALID_MODEL, "t.prototxt:1:",
               "float for int");
    expect_err(ctx, imp(ctx, "input_dim: 99999999999\n", NULL, 0), KS_INVALID_MODEL, "range",
               "int overflow");
    expect_err(ctx, imp(ctx, "name: \"unterminated\n", NULL, 0), KS_INVALID_MODEL, "unterminated",
               "unterminated string");
    expect_err(ctx, imp(ctx, "layer { pooling_param { pool: AVERAGE } }", NULL, 0),
               KS_INVALID_MODEL, "AVERAGE", "bad enum");
    expect_err(ctx, imp(ctx, "name: \"a\" name: \"b\"", NULL, 0), KS_INVALID_MODEL, "twice",
               "duplicate singular field");
    expect_err(ctx, imp(ctx, "layers { name: \"x\" type: CONVOLUTION }", NULL, 0), KS_UNSUPPORTED_OP,
               "V1", "legacy layers");
    expect_err(ctx, imp(ctx, "input: \"data\"\ninput_dim: 1\ninput_dim: 3\n", NULL, 0),
               KS_INVALID_MODEL, "input_dim", "short input_dim");
    {
        /* binary garbage as prototxt */
        char bin[64];
        for (int i = 0; i < 64; i++)
            bin[i] = (char)(i * 37 + 1);
        bin[10] = 0;
        ks_graph *g = NULL;
        ks_status st = ks__caffe_import_memory(ctx, bin, sizeof bin, "t.prototxt", NULL, 0, NULL, &g);
        ks__graph_destroy(g);
        KS_T_CHECK(st == KS_INVALID_MODEL);
    }
    /* a small hand-written net exercising text-format corners and layers */
    const char *net =
        "# comment\n"
        "name: 'tiny' input: \"x\" input_shape { dim: [1, 4, 5, 5] }\n"
        "layer { name: 'p' type: 'Pooling' bottom: 'x' top: 'p'\n"
        "  pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }\n"
        "layer < name: 'r' type: \"ReLU\" bottom: 'p' top: 'p' relu_param: { negative_slope: 0.1 } >\n"
        "layer { name: 'e' type: 'Eltwise' bottom: 'p' bottom: 'x2' top: 'e' }\n"
        "layer { name: 'tr' type: 'Dropout' bottom: 'x' top: 'x2' include { phase: TRAIN } }\n";
    ks_status st = imp(ctx, net, NULL, 0);
    expect_err(ctx, st, KS_INVALID_MODEL, "x2", "bottom from a TRAIN-only layer");
    const char *net2 =
        "name: 'tiny' input: \"x\" input_shape { dim: [1, 4, 5, 5] }\n"
        "layer { name: 'p' type: 'Pooling' bottom: 'x' top: 'p'\n"
        "  pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }\n"
        "layer { name: 'm' type: 'Pooling' bottom: 'x' top: 'm'\n"
        "  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n"
        "layer { name: 'loss' type: 'SoftmaxWithLoss' bottom: 'm' bottom: 'label' top: 'l' }\n"
        "layer { name: 'pm' type: 'Permute' bottom: 'm' top: 'pm' permute_param { order: 0 order: 2 } }\n"
        "layer { name: 'f' type: 'Flatten' bottom: 'pm' top: 'f' }\n";
    ks_graph *g = NULL;
    st = ks__caffe_import_memory(ctx, net2, strlen(net2), "tiny", NULL, 0, NULL, &g);
    KS_T_CHECK_MSG(st == KS_OK, "tiny net: %s", ks_context_last_error(ctx));
    if (g) {
        /* outputs p [1,4,3,3] (Caffe: ceil((5+2-3)/2)+1 = 3) and f [1, 3*4*3] */
        KS_T_CHECK_EQ_I(g->n_outputs, 2);
        for (int i = 0; i < g->n_outputs; i++) {
            const ks_value *v = &g->values[g->outputs[i]];
            if (!strcmp(v->name, "p")) {
                KS_T_CHECK_EQ_I(v->t.dims[2], 3);
                KS_T_CHECK_EQ_I(v->t.dims[3], 3);
            } else {
                KS_T_CHECK(!strcmp(v->name, "f"));
                KS_T_CHECK_EQ_I(v->t.ndim, 2);
                KS_T_CHECK_EQ_I(v->t.dims[1], 36);
            }
        }
        ks__graph_destroy(g);
    }
    free(txt);
    free(w);
    ks_context_destroy(ctx);
}

/* Caffe pooling sizes: the importer's explicit pads reproduce Caffe's
 * formula, including the "last window starts inside" rule. */
static void test_pool_sizes(void) {
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    struct {
        int in, k, s, p, want;
    } cs[] = {{5, 2, 2, 0, 3}, {12, 3, 2, 0, 6}, {10, 3, 2, 1, 6}, {7, 3, 3, 1, 3},
              {6, 2, 2, 1, 4}, {23, 3, 2, 0, 11}, {11, 2, 2, 0, 6}, {4, 3, 3, 2, 2}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        char net[512];
        snprintf(net, sizeof net,
                 "input: 'x' input_dim: 1 input_dim: 1 input_dim: %d input_dim: %d\n"
                 "layer { name: 'p' type: 'Pooling' bottom: 'x' top: 'p'\n"
                 "  pooling_param { pool: MAX kernel_size: %d stride: %d pad: %d } }\n",
                 cs[i].in, cs[i].in, cs[i].k, cs[i].s, cs[i].p);
        ks_graph *g = NULL;
        ks_status st = ks__caffe_import_memory(ctx, net, strlen(net), "pool", NULL, 0, NULL, &g);
        if (st == KS_OK && cs[i].p >= cs[i].k)
            KS_T_CHECK_MSG(0, "pad >= kernel accepted");
        if (cs[i].p >= cs[i].k) {
            ks__graph_destroy(g);
            continue;
        }
        KS_T_CHECK_MSG(st == KS_OK, "%s", ks_context_last_error(ctx));
        if (g) {
            const ks_value *v = &g->values[g->outputs[0]];
            KS_T_CHECK_MSG(v->t.dims[2] == cs[i].want && v->t.dims[3] == cs[i].want,
                           "in %d k %d s %d p %d: got %lld want %d", cs[i].in, cs[i].k, cs[i].s,
                           cs[i].p, (long long)v->t.dims[2], cs[i].want);
        }
        ks__graph_destroy(g);
    }
    ks_context_destroy(ctx);
}

int main(void) {
    snprintf(g_models, sizeof g_models, "%s", ks_t_models_dir());
    if (!file_exists(mpath("mtcnn/caffe/det1.prototxt")))
        KS_T_SKIP("models not found under %s", g_models);
    test_pool_sizes();
    test_malformed();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_pair(&cases[i]);
    test_prelu_plugin();
    test_det4();
    return ks_t_done();
}
