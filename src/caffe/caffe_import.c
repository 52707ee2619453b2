/* Caffe importer (see caffe_import.h). */
#include "caffe/caffe_import.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "caffe/caffe.pb-c.h"
#include "caffe/caffe_text.h"
#include "plugins/registry.h"

#define CAFFE_OPSET 13

typedef Kscaffe__LayerParameter layer_t;
typedef Kscaffe__BlobProto blob_t;

typedef struct blob_ver {
    char *name;   /* Caffe blob name */
    int writes;   /* total number of layers writing it (+1 if a net input) */
    int version;  /* versions produced so far */
    int value;    /* current value id, -1 before the first write */
    int is_input;
} blob_ver;

typedef struct importer {
    ks_context *ctx;
    ks_graph *g;
    const char *src;      /* prototxt name */
    const char *wsrc;     /* caffemodel name */
    Kscaffe__NetParameter *net, *wnet;
    blob_ver *blobs;
    int n_blobs;
    char *consumed;       /* per value id (grown on demand) */
    int n_consumed;
    const layer_t *L;     /* current layer (messages) */
    const ks_caffe_input_shape *shapes; /* overrides */
    int n_shapes;
    char namebuf[512];
} importer;

/* ------------------------------------------------------------ messages */

static ks_status lerr(importer *im, ks_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static ks_status lerr(importer *im, ks_status st, const char *fmt, ...) {
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (im->L)
        return ks__error(im->ctx, st, "%s: layer '%s' (%s): %s", im->src,
                         im->L->name ? im->L->name : "", im->L->type ? im->L->type : "", msg);
    return ks__error(im->ctx, st, "%s: %s", im->src, msg);
}

static const char *nm(importer *im, const char *suffix) {
    snprintf(im->namebuf, sizeof im->namebuf, "%s%s", im->L && im->L->name ? im->L->name : "net",
             suffix);
    return im->namebuf;
}

/* ------------------------------------------------------------ blobs/values */

static blob_ver *blob_find(importer *im, const char *name) {
    for (int i = 0; i < im->n_blobs; i++)
        if (!strcmp(im->blobs[i].name, name))
            return &im->blobs[i];
    return NULL;
}

static ks_status blob_get_or_add(importer *im, const char *name, blob_ver **out) {
    blob_ver *b = blob_find(im, name);
    if (!b) {
        blob_ver *nb = ks__realloc(im->ctx, im->blobs, (size_t)(im->n_blobs + 1) * sizeof(*nb));
        if (!nb)
            return ks__oom(im->ctx, 0, "caffe blob table");
        im->blobs = nb;
        b = &im->blobs[im->n_blobs++];
        memset(b, 0, sizeof(*b));
        b->value = -1;
        b->name = ks__strdup(im->ctx, name);
        if (!b->name)
            return ks__oom(im->ctx, 0, "caffe blob name");
    }
    *out = b;
    return KS_OK;
}

static void mark_consumed(importer *im, int vid) {
    if (vid < 0)
        return;
    if (vid >= im->n_consumed) {
        int n = im->n_consumed ? im->n_consumed : 64;
        while (n <= vid)
            n *= 2;
        char *c = ks__realloc(im->ctx, im->consumed, (size_t)n);
        if (!c)
            return; /* only affects output detection; reported later via OOM elsewhere */
        memset(c + im->n_consumed, 0, (size_t)(n - im->n_consumed));
        im->consumed = c;
        im->n_consumed = n;
    }
    im->consumed[vid] = 1;
}

/* Current value of a bottom blob. */
static ks_status bottom_value(importer *im, const char *name, int *vid) {
    blob_ver *b = blob_find(im, name);
    if (!b || b->value < 0)
        return lerr(im, KS_INVALID_MODEL, "bottom blob '%s' is not produced by any earlier layer",
                    name);
    *vid = b->value;
    mark_consumed(im, *vid);
    return KS_OK;
}

/* Creates the next version of a top blob and returns its value id. */
static ks_status top_value(importer *im, const char *name, int *vid) {
    blob_ver *b;
    KS_CHECK(blob_get_or_add(im, name, &b));
    int v = b->version++;
    char vname[600];
    int plain = b->is_input ? v == 0 : v == b->writes - 1;
    if (plain)
        snprintf(vname, sizeof vname, "%s", name);
    else
        snprintf(vname, sizeof vname, "%s#%d", name, v);
    ks_status st = ks__graph_add_value(im->g, vname, 0, vid);
    if (st != KS_OK)
        return lerr(im, KS_INVALID_MODEL, "cannot create value for top blob '%s' (%s)", name,
                    ks_context_last_error(im->ctx));
    /* blob_get_or_add may have moved the table: look it up again */
    blob_find(im, name)->value = *vid;
    return KS_OK;
}

static ks_status add_const(importer *im, const char *suffix, ks_dtype dt, int ndim,
                           const int64_t *dims, const void *data, int *vid) {
    ks_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t.dims[i] = dims[i];
    t.data = (void *)data;
    char name[600];
    snprintf(name, sizeof name, "%s", nm(im, suffix));
    /* unique even when a layer name repeats */
    int k = 1;
    while (ks__graph_find_value(im->g, name) >= 0)
        snprintf(name, sizeof name, "%s_%d", nm(im, suffix), k++);
    return ks__graph_add_const(im->g, name, &t, vid);
}

static ks_status add_i64_const(importer *im, const char *suffix, int n, const int64_t *v, int *vid) {
    int64_t d = n;
    return add_const(im, suffix, KS_DTYPE_INT64, 1, &d, v, vid);
}

/* Intermediate (non-blob) value. */
static ks_status temp_value(importer *im, const char *suffix, int *vid) {
    char name[600];
    snprintf(name, sizeof name, "%s", nm(im, suffix));
    int k = 1;
    while (ks__graph_find_value(im->g, name) >= 0)
        snprintf(name, sizeof name, "%s_%d", nm(im, suffix), k++);
    return ks__graph_add_value(im->g, name, 0, vid);
}

static const ks_tensor *vt(importer *im, int vid) { return &im->g->values[vid].t; }

/* ------------------------------------------------------------ nodes */

typedef struct attr_list {
    ks_attr a[8];
    int n;
} attr_list;

static void at_i(attr_list *l, const char *name, int64_t v) {
    ks_attr *a = &l->a[l->n++];
    memset(a, 0, sizeof(*a));
    a->name = (char *)name;
    a->type = KS_ATTR_INT;
    a->i = v;
}
static void at_f(attr_list *l, const char *name, float v) {
    ks_attr *a = &l->a[l->n++];
    memset(a, 0, sizeof(*a));
    a->name = (char *)name;
    a->type = KS_ATTR_FLOAT;
    a->f = v;
}
static void at_ints(attr_list *l, const char *name, int n, int64_t *v) {
    ks_attr *a = &l->a[l->n++];
    memset(a, 0, sizeof(*a));
    a->name = (char *)name;
    a->type = KS_ATTR_INTS;
    a->n = n;
    a->ints = v;
}

/* Adds a node and runs its shape inference so later layers see shapes. */
static ks_status add_node_ex(importer *im, const char *suffix, const char *op, int n_in,
                             const int *in, int n_out, const int *out, const attr_list *attrs,
                             ks_plugin_node *plugin) {
    int idx;
    char name[600];
    snprintf(name, sizeof name, "%s", nm(im, suffix));
    ks_status st = ks__graph_add_node(im->g, name, op, "", CAFFE_OPSET, n_in, in, n_out, out, &idx);
    if (st != KS_OK) {
        if (plugin)
            ks__plugin_node_free(im->ctx, plugin);
        return st;
    }
    ks_node *n = &im->g->nodes[idx];
    if (plugin) {
        n->op = KS_OP_PLUGIN;
        n->plugin = plugin;
    }
    for (int i = 0; attrs && i < attrs->n; i++)
        KS_CHECK(ks__node_add_attr(im->g, idx, &attrs->a[i]));
    n = &im->g->nodes[idx];
    if (n->op == KS_OP_COUNT)
        return lerr(im, KS_INTERNAL, "op %s is not in the op table", op);
    const ks_tensor *ins[16];
    ks_tensor outs[16];
    if (n_in > 16 || n_out > 16)
        return lerr(im, KS_UNSUPPORTED_ATTR, "more than 16 inputs or outputs");
    for (int i = 0; i < n_in; i++)
        ins[i] = in[i] >= 0 ? vt(im, in[i]) : NULL;
    st = ks__node_infer(im->g, n, ins, outs);
    if (st != KS_OK)
        return ks__error_prefix(im->ctx, "%s: layer '%s' (%s)", im->src, im->L->name, im->L->type);
    for (int i = 0; i < n_out; i++) {
        ks_tensor *t = &im->g->values[out[i]].t;
        t->dtype = outs[i].dtype;
        t->ndim = outs[i].ndim;
        memcpy(t->dims, outs[i].dims, sizeof t->dims);
    }
    return KS_OK;
}

static ks_status add_node(importer *im, const char *suffix, const char *op, int n_in,
                          const int *in, int n_out, const int *out, const attr_list *attrs) {
    return add_node_ex(im, suffix, op, n_in, in, n_out, out, attrs, NULL);
}

/* ------------------------------------------------------------ weights */

static const layer_t *weights_layer(importer *im, const layer_t *L) {
    if (L->n_blobs)
        return L;
    if (!im->wnet || !L->name)
        return NULL;
    const layer_t *match = NULL;
    for (size_t i = 0; i < im->wnet->n_layer; i++) {
        const layer_t *w = im->wnet->layer[i];
        if (w->name && !strcmp(w->name, L->name) && w->n_blobs) {
            match = w;
            break;
        }
    }
    return match;
}

static int64_t blob_count(const blob_t *b) {
    return b->n_data ? (int64_t)b->n_data : (int64_t)b->n_double_data;
}

/* Blob dims as written in the file (shape, else legacy 4-D). */
static int blob_dims(const blob_t *b, int64_t *dims) {
    if (b->shape) {
        int n = (int)(b->shape->n_dim < KS_MAX_DIMS ? b->shape->n_dim : KS_MAX_DIMS);
        for (int i = 0; i < n; i++)
            dims[i] = b->shape->dim[i];
        return n;
    }
    dims[0] = b->num, dims[1] = b->channels, dims[2] = b->height, dims[3] = b->width;
    return 4;
}

/* Fetches `need` blobs (at least min_n) of layer L. */
static ks_status get_blobs(importer *im, const layer_t *L, size_t min_n, const layer_t **wl) {
    const layer_t *w = weights_layer(im, L);
    if (!w)
        return lerr(im, KS_INVALID_MODEL, "no weights for this layer in %s (weights match layers "
                    "by name)", im->wsrc ? im->wsrc : "(no caffemodel given)");
    if (w->n_blobs < min_n)
        return lerr(im, KS_INVALID_MODEL, "expected %zu weight blob(s) in %s, found %zu", min_n,
                    im->wsrc ? im->wsrc : "the prototxt", w->n_blobs);
    *wl = w;
    return KS_OK;
}

/* Copies blob data as float32, checking its element count; the checks
 * compare both the data length and the declared shape. */
static ks_status blob_floats(importer *im, const blob_t *b, int idx, int64_t expect, float **out) {
    int64_t n = blob_count(b);
    int64_t dims[KS_MAX_DIMS];
    int nd = blob_dims(b, dims);
    int64_t declared = 1;
    int any_dim = 0;
    for (int i = 0; i < nd; i++) {
        if (dims[i] < 0)
            return lerr(im, KS_INVALID_MODEL, "blob %d has a negative dim", idx);
        if (b->shape || dims[i])
            any_dim = 1;
        if (!ks__mul_i64(declared, dims[i], &declared))
            return lerr(im, KS_INVALID_MODEL, "blob %d shape overflows", idx);
    }
    if (n != expect)
        return lerr(im, KS_INVALID_MODEL, "blob %d holds %lld values, expected %lld", idx,
                    (long long)n, (long long)expect);
    if (any_dim && declared != n)
        return lerr(im, KS_INVALID_MODEL, "blob %d declares %lld elements but holds %lld", idx,
                    (long long)declared, (long long)n);
    float *f = ks__alloc_array(im->ctx, (size_t)(n ? n : 1), sizeof(float));
    if (!f)
        return ks__oom(im->ctx, (size_t)n * 4, "caffe blob");
    for (int64_t i = 0; i < n; i++)
        f[i] = b->n_data ? b->data[i] : (float)b->double_data[i];
    *out = f;
    return KS_OK;
}

static ks_status blob_const(importer *im, const blob_t *b, int idx, const char *suffix, int ndim,
                            const int64_t *dims, int *vid) {
    int64_t expect = 1;
    for (int i = 0; i < ndim; i++)
        if (dims[i] < 0 || !ks__mul_i64(expect, dims[i], &expect))
            return lerr(im, KS_UNSUPPORTED_SHAPE, "weight shape depends on an unknown input dim");
    float *f;
    KS_CHECK(blob_floats(im, b, idx, expect, &f));
    ks_status st = add_const(im, suffix, KS_DTYPE_FLOAT32, ndim, dims, f, vid);
    ks__free(im->ctx, f);
    return st;
}

/* ------------------------------------------------------------ layers */

static int input_rank(importer *im, int vid) { return vt(im, vid)->ndim; }
static int64_t input_dim(importer *im, int vid, int axis) {
    const ks_tensor *t = vt(im, vid);
    return axis >= 0 && axis < t->ndim ? t->dims[axis] : -1;
}

static ks_status need_io(importer *im, const layer_t *L, size_t n_bottom, size_t n_top) {
    if (n_bottom && L->n_bottom != n_bottom)
        return lerr(im, KS_INVALID_MODEL, "expected %zu bottom blob(s), found %zu", n_bottom,
                    L->n_bottom);
    if (n_top && L->n_top != n_top)
        return lerr(im, KS_INVALID_MODEL, "expected %zu top blob(s), found %zu", n_top, L->n_top);
    return KS_OK;
}

/* Resolves Caffe's "one value or per-axis" repeated geometry fields. */
static ks_status geom2(importer *im, const char *what, size_t n, const uint32_t *v, int has_h,
                       uint32_t h, int has_w, uint32_t w, int64_t def, int64_t out[2]) {
    if (has_h || has_w) {
        if (n)
            return lerr(im, KS_INVALID_MODEL, "%s given both as %s and %s_h/%s_w", what, what, what,
                        what);
        out[0] = has_h ? h : def;
        out[1] = has_w ? w : def;
        return KS_OK;
    }
    if (n == 0) {
        out[0] = out[1] = def;
    } else if (n == 1) {
        out[0] = out[1] = v[0];
    } else if (n == 2) {
        out[0] = v[0];
        out[1] = v[1];
    } else {
        return lerr(im, KS_UNSUPPORTED_ATTR, "%s has %zu values (only 2-D is supported)", what, n);
    }
    return KS_OK;
}

static ks_status conv_layer(importer *im, const layer_t *L) {
    KS_CHECK(need_io(im, L, 1, 1));
    const Kscaffe__ConvolutionParameter *p = L->convolution_param;
    if (!p)
        return lerr(im, KS_INVALID_MODEL, "missing convolution_param");
    if (p->axis != 1)
        return lerr(im, KS_UNSUPPORTED_ATTR, "axis %d (only 1 is supported)", p->axis);
    int64_t k[2], s[2], pad[2], d[2];
    KS_CHECK(geom2(im, "kernel", p->n_kernel_size, p->kernel_size, p->has_kernel_h, p->kernel_h,
                   p->has_kernel_w, p->kernel_w, 0, k));
    KS_CHECK(geom2(im, "stride", p->n_stride, p->stride, p->has_stride_h, p->stride_h,
                   p->has_stride_w, p->stride_w, 1, s));
    KS_CHECK(geom2(im, "pad", p->n_pad, p->pad, p->has_pad_h, p->pad_h, p->has_pad_w, p->pad_w, 0,
                   pad));
    KS_CHECK(geom2(im, "dilation", p->n_dilation, p->dilation, 0, 0, 0, 0, 1, d));
    if (k[0] <= 0 || k[1] <= 0 || s[0] <= 0 || s[1] <= 0 || d[0] <= 0 || d[1] <= 0)
        return lerr(im, KS_INVALID_MODEL, "kernel %lldx%lld, stride %lldx%lld, dilation "
                    "%lldx%lld: all must be >= 1", (long long)k[0], (long long)k[1],
                    (long long)s[0], (long long)s[1], (long long)d[0], (long long)d[1]);
    int64_t group = p->group, nout = p->num_output;
    if (group < 1 || nout < 1 || nout % group)
        return lerr(im, KS_INVALID_MODEL, "num_output %lld and group %lld are inconsistent",
                    (long long)nout, (long long)group);
    int x;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    if (input_rank(im, x) != 4)
        return lerr(im, KS_UNSUPPORTED_SHAPE, "input '%s' has rank %d (expected 4)", L->bottom[0],
                    input_rank(im, x));
    int64_t c = input_dim(im, x, 1);
    if (c < 0 || c % group)
        return lerr(im, KS_INVALID_MODEL, "input channels %lld not divisible by group %lld",
                    (long long)c, (long long)group);
    const layer_t *w;
    KS_CHECK(get_blobs(im, L, p->bias_term ? 2 : 1, &w));
    int in[3], n_in = 2;
    int64_t wd[4] = {nout, c / group, k[0], k[1]};
    KS_CHECK(blob_const(im, w->blobs[0], 0, "/W", 4, wd, &in[1]));
    if (p->bias_term) {
        KS_CHECK(blob_const(im, w->blobs[1], 1, "/B", 1, &nout, &in[2]));
        n_in = 3;
    }
    in[0] = x;
    int y;
    KS_CHECK(top_value(im, L->top[0], &y));
    attr_list a = {.n = 0};
    int64_t pads[4] = {pad[0], pad[1], pad[0], pad[1]};
    at_ints(&a, "kernel_shape", 2, k);
    at_ints(&a, "strides", 2, s);
    at_ints(&a, "pads", 4, pads);
    at_ints(&a, "dilations", 2, d);
    at_i(&a, "group", group);
    return add_node(im, "", "Conv", n_in, in, 1, &y, &a);
}

static ks_status inner_product_layer(importer *im, const layer_t *L) {
    KS_CHECK(need_io(im, L, 1, 1));
    const Kscaffe__InnerProductParameter *p = L->inner_product_param;
    if (!p)
        return lerr(im, KS_INVALID_MODEL, "missing inner_product_param");
    int x;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    int rank = input_rank(im, x);
    int axis;
    if (rank < 1 || !ks__norm_axis(p->axis, rank, &axis))
        return lerr(im, KS_INVALID_MODEL, "axis %d out of range for input rank %d", p->axis, rank);
    if (axis != 1)
        return lerr(im, KS_UNSUPPORTED_ATTR, "axis %d (only 1 is supported)", p->axis);
    int64_t nout = p->num_output;
    if (nout < 1)
        return lerr(im, KS_INVALID_MODEL, "num_output must be >= 1");
    int64_t kdim = 1;
    for (int i = axis; i < rank; i++) {
        int64_t dd = input_dim(im, x, i);
        if (dd < 0)
            return lerr(im, KS_UNSUPPORTED_SHAPE, "input dim %d unknown", i);
        kdim *= dd;
    }
    const layer_t *w;
    KS_CHECK(get_blobs(im, L, p->bias_term ? 2 : 1, &w));
    int flat;
    KS_CHECK(temp_value(im, "/flatten", &flat));
    attr_list fa = {.n = 0};
    at_i(&fa, "axis", axis);
    KS_CHECK(add_node(im, "/flatten", "Flatten", 1, &x, 1, &flat, &fa));
    int in[3] = {flat, -1, -1}, n_in = 2;
    int64_t wd[2] = {p->transpose ? kdim : nout, p->transpose ? nout : kdim};
    KS_CHECK(blob_const(im, w->blobs[0], 0, "/W", 2, wd, &in[1]));
    if (p->bias_term) {
        KS_CHECK(blob_const(im, w->blobs[1], 1, "/B", 1, &nout, &in[2]));
        n_in = 3;
    }
    int y;
    KS_CHECK(top_value(im, L->top[0], &y));
    attr_list a = {.n = 0};
    at_i(&a, "transB", p->transpose ? 0 : 1);
    return add_node(im, "", "Gemm", n_in, in, 1, &y, &a);
}

static ks_status prelu_layer(importer *im, const layer_t *L) {
    KS_CHECK(need_io(im, L, 1, 1));
    int shared = L->prelu_param && L->prelu_param->channel_shared;
    int x;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    int rank = input_rank(im, x);
    if (rank < 2)
        return lerr(im, KS_UNSUPPORTED_SHAPE, "input rank %d (expected >= 2)", rank);
    int64_t c = input_dim(im, x, 1);
    if (c < 0)
        return lerr(im, KS_UNSUPPORTED_SHAPE, "channel count unknown");
    const layer_t *w;
    KS_CHECK(get_blobs(im, L, 1, &w));
    /* slope broadcast against [N, C, ...]: [C, 1, ..., 1] or [1] */
    int64_t sd[KS_MAX_DIMS];
    int snd = 1;
    sd[0] = shared ? 1 : c;
    if (!shared)
        for (int i = 2; i < rank; i++)
            sd[snd++] = 1;
    int in[2] = {x, -1};
    KS_CHECK(blob_const(im, w->blobs[0], 0, "/slope", snd, sd, &in[1]));
    int y;
    KS_CHECK(top_value(im, L->top[0], &y));
    if (ks__plugin_preferred(im->ctx, "PRelu")) {
        ks_plugin_attr pa = {.key = "channel_shared", .type = KS_PLUGIN_ATTR_INT, .i = shared};
        ks_plugin_node *pn;
        KS_CHECK(ks__plugin_node_create(im->ctx, "", "PRelu", &pa, 1, &pn));
        return add_node_ex(im, "", "PRelu", 2, in, 1, &y, NULL, pn);
    }
    return add_node(im, "", "PRelu", 2, in, 1, &y, NULL);
}

static ks_status relu_layer(importer *im, const layer_t *L) {
    KS_CHECK(need_io(im, L, 1, 1));
    int x, y;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    KS_CHECK(top_value(im, L->top[0], &y));
    float slope = L->relu_param ? L->relu_param->negative_slope : 0.f;
    if (slope != 0.f) {
        attr_list a = {.n = 0};
        at_f(&a, "alpha", slope);
        return add_node(im, "", "LeakyRelu", 1, &x, 1, &y, &a);
    }
    return add_node(im, "", "Relu", 1, &x, 1, &y, NULL);
}

static ks_status unary_layer(importer *im, const layer_t *L, const char *op) {
    KS_CHECK(need_io(im, L, 1, 1));
    int x, y;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    KS_CHECK(top_value(im, L->top[0], &y));
    return add_node(im, "", op, 1, &x, 1, &y, NULL);
}

/* Caffe's pooled size: ceil((in + 2p - k) / s) + 1, minus one when the last
 * window would start at or past in + p (FLOOR rounding uses floor). */
static int64_t caffe_pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int ceil_round) {
    int64_t num = in + 2 * p - k;
    int64_t o = (ceil_round ? (num + s - 1) / s : num / s) + 1;
    if (num < 0)
        o = ceil_round ? -((-num) / s) + 1 : -((-num + s - 1) / s) + 1;
    if (p > 0 && (o - 1) * s >= in + p)
        o--;
    return o;
}

static ks_status pooling_layer(importer *im, const layer_t *L) {
    KS_CHECK(need_io(im, L, 1, 1));
    const Kscaffe__PoolingParameter *p = L->pooling_param;
    if (!p)
        return lerr(im, KS_INVALID_MODEL, "missing pooling_param");
    int is_max = p->pool == KSCAFFE__POOLING_PARAMETER__POOL_METHOD__MAX;
    if (!is_max && p->pool != KSCAFFE__POOLING_PARAMETER__POOL_METHOD__AVE)
        return lerr(im, KS_UNSUPPORTED_ATTR, "pool method STOCHASTIC is not supported");
    int x;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    if (input_rank(im, x) != 4)
        return lerr(im, KS_UNSUPPORTED_SHAPE, "input rank %d (expected 4)", input_rank(im, x));
    int y;
    if (p->global_pooling) {
        KS_CHECK(top_value(im, L->top[0], &y));
        return add_node(im, "", is_max ? "GlobalMaxPool" : "GlobalAveragePool", 1, &x, 1, &y, NULL);
    }
    int64_t k[2], s[2], pad[2];
    uint32_t kv = p->kernel_size, sv = p->stride, pv = p->pad;
    KS_CHECK(geom2(im, "kernel", p->has_kernel_size ? 1 : 0, &kv, p->has_kernel_h, p->kernel_h,
                   p->has_kernel_w, p->kernel_w, 0, k));
    KS_CHECK(geom2(im, "stride", p->has_stride ? 1 : 0, &sv, p->has_stride_h, p->stride_h,
                   p->has_stride_w, p->stride_w, 1, s));
    KS_CHECK(geom2(im, "pad", p->has_pad ? 1 : 0, &pv, p->has_pad_h, p->pad_h, p->has_pad_w,
                   p->pad_w, 0, pad));
    if (k[0] <= 0 || k[1] <= 0 || s[0] <= 0 || s[1] <= 0)
        return lerr(im, KS_INVALID_MODEL, "kernel and stride must be >= 1");
    if (pad[0] >= k[0] || pad[1] >= k[1])
        return lerr(im, KS_INVALID_MODEL, "pad must be smaller than the kernel");
    int ceil_round = !(p->has_round_mode && p->round_mode == KSCAFFE__POOLING_PARAMETER__ROUND_MODE__FLOOR);
    int64_t pe[2];
    int ceil_mode = 0;
    for (int i = 0; i < 2; i++) {
        int64_t in = input_dim(im, x, 2 + i);
        if (in < 0) {
            /* unknown size: fall back to ONNX ceil_mode, which applies the same
             * "last window starts inside" rule */
            pe[i] = pad[i];
            ceil_mode = ceil_round;
            continue;
        }
        int64_t o = caffe_pool_out(in, k[i], s[i], pad[i], ceil_round);
        if (o < 1)
            return lerr(im, KS_INVALID_MODEL, "pooling output size %lld along axis %d",
                        (long long)o, 2 + i);
        /* smallest end pad giving exactly o windows with floor rounding */
        int64_t need = (o - 1) * s[i] + k[i] - in - pad[i];
        pe[i] = need > 0 ? need : 0;
    }
    int src = x;
    int64_t pb0 = pad[0], pb1 = pad[1];
    if (!is_max && (pad[0] || pad[1])) {
        /* Caffe averages over the window clipped to the padded image
         * [-p, in + p): pad explicitly with zeros, then count only cells
         * inside that padded image. */
        int64_t pads8[8] = {0, 0, pad[0], pad[1], 0, 0, pad[0], pad[1]};
        int pv_id, padded;
        KS_CHECK(add_i64_const(im, "/pads", 8, pads8, &pv_id));
        KS_CHECK(temp_value(im, "/padded", &padded));
        int pin[2] = {x, pv_id};
        KS_CHECK(add_node(im, "/pad", "Pad", 2, pin, 1, &padded, NULL));
        src = padded;
        pe[0] = pe[0] > pad[0] ? pe[0] - pad[0] : 0;
        pe[1] = pe[1] > pad[1] ? pe[1] - pad[1] : 0;
        pb0 = pb1 = 0;
    }
    KS_CHECK(top_value(im, L->top[0], &y));
    attr_list a = {.n = 0};
    int64_t pads[4] = {pb0, pb1, pe[0], pe[1]};
    at_ints(&a, "kernel_shape", 2, k);
    at_ints(&a, "strides", 2, s);
    at_ints(&a, "pads", 4, pads);
    if (ceil_mode)
        at_i(&a, "ceil_mode", 1);
    if (!is_max)
        at_i(&a, "count_include_pad", 0);
    return add_node(im, "", is_max ? "MaxPool" : "AveragePool", 1, &src, 1, &y, &a);
}

static ks_status softmax_layer(importer *im, const layer_t *L) {
    KS_CHECK(need_io(im, L, 1, 1));
    int x, y;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    KS_CHECK(top_value(im, L->top[0], &y));
    attr_list a = {.n = 0};
    at_i(&a, "axis", L->softmax_param ? L->softmax_param->axis : 1);
    return add_node(im, "", "Softmax", 1, &x, 1, &y, &a);
}

static ks_status concat_layer(importer *im, const layer_t *L) {
    if (L->n_bottom < 1 || L->n_top != 1)
        return lerr(im, KS_INVALID_MODEL, "needs >= 1 bottom and 1 top");
    int64_t axis = 1;
    if (L->concat_param)
        axis = L->concat_param->has_axis || !L->concat_param->has_concat_dim
                   ? L->concat_param->axis
                   : (int64_t)L->concat_param->concat_dim;
    int *in = ks__alloc_array(im->ctx, L->n_bottom, sizeof(int));
    if (!in)
        return ks__oom(im->ctx, 0, "concat inputs");
    ks_status st = KS_OK;
    for (size_t i = 0; i < L->n_bottom && st == KS_OK; i++)
        st = bottom_value(im, L->bottom[i], &in[i]);
    int y;
    if (st == KS_OK)
        st = top_value(im, L->top[0], &y);
    if (st == KS_OK) {
        attr_list a = {.n = 0};
        at_i(&a, "axis", axis);
        st = add_node(im, "", "Concat", (int)L->n_bottom, in, 1, &y, &a);
    }
    ks__free(im->ctx, in);
    return st;
}

static ks_status identity_layer(importer *im, const layer_t *L) {
    if (L->n_bottom != 1 || L->n_top < 1)
        return lerr(im, KS_INVALID_MODEL, "needs 1 bottom and >= 1 top");
    int x;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    for (size_t i = 0; i < L->n_top; i++) {
        int y;
        KS_CHECK(top_value(im, L->top[i], &y));
        char sfx[32];
        snprintf(sfx, sizeof sfx, i ? "/%zu" : "", i);
        KS_CHECK(add_node(im, sfx, "Identity", 1, &x, 1, &y, NULL));
    }
    return KS_OK;
}

static ks_status eltwise_layer(importer *im, const layer_t *L) {
    if (L->n_bottom < 2 || L->n_top != 1)
        return lerr(im, KS_INVALID_MODEL, "needs >= 2 bottoms and 1 top");
    const Kscaffe__EltwiseParameter *p = L->eltwise_param;
    int op = p ? p->operation : KSCAFFE__ELTWISE_PARAMETER__ELTWISE_OP__SUM;
    if (p && p->n_coeff && (op != KSCAFFE__ELTWISE_PARAMETER__ELTWISE_OP__SUM ||
                            p->n_coeff != L->n_bottom))
        return lerr(im, KS_INVALID_MODEL, "%zu coeff values for %zu bottoms (coeffs need SUM and "
                    "one per bottom)", p->n_coeff, L->n_bottom);
    const char *onnx_op = op == KSCAFFE__ELTWISE_PARAMETER__ELTWISE_OP__SUM    ? "Add"
                          : op == KSCAFFE__ELTWISE_PARAMETER__ELTWISE_OP__PROD ? "Mul"
                                                                              : "Max";
    int acc = -1;
    for (size_t i = 0; i < L->n_bottom; i++) {
        int x;
        KS_CHECK(bottom_value(im, L->bottom[i], &x));
        if (p && p->n_coeff && p->coeff[i] != 1.f) {
            int cv, sx;
            char sfx[48];
            snprintf(sfx, sizeof sfx, "/coeff%zu", i);
            KS_CHECK(add_const(im, sfx, KS_DTYPE_FLOAT32, 0, NULL, &p->coeff[i], &cv));
            snprintf(sfx, sizeof sfx, "/scaled%zu", i);
            KS_CHECK(temp_value(im, sfx, &sx));
            int in[2] = {x, cv};
            KS_CHECK(add_node(im, sfx, "Mul", 2, in, 1, &sx, NULL));
            x = sx;
        }
        if (acc < 0) {
            acc = x;
            continue;
        }
        int y;
        if (i == L->n_bottom - 1) {
            KS_CHECK(top_value(im, L->top[0], &y));
        } else {
            char sfx[32];
            snprintf(sfx, sizeof sfx, "/acc%zu", i);
            KS_CHECK(temp_value(im, sfx, &y));
        }
        int in[2] = {acc, x};
        char sfx[32];
        snprintf(sfx, sizeof sfx, i == L->n_bottom - 1 ? "" : "/%zu", i);
        KS_CHECK(add_node(im, sfx, onnx_op, 2, in, 1, &y, NULL));
        acc = y;
    }
    return KS_OK;
}

/* Shape [d_axis .. d_axis+na-1, 1, ..., 1] that broadcasts a Caffe
 * Scale/Bias parameter against x. */
static ks_status scale_shape(importer *im, int x, int64_t axis, int64_t num_axes, int64_t *dims,
                             int *nd, int64_t *count) {
    int rank = input_rank(im, x);
    int ax;
    if (rank < 1 || !ks__norm_axis(axis, rank, &ax))
        return lerr(im, KS_INVALID_MODEL, "axis %lld out of range for rank %d", (long long)axis,
                    rank);
    int64_t na = num_axes < 0 ? rank - ax : num_axes;
    if (ax + na > rank)
        return lerr(im, KS_INVALID_MODEL, "axis %d + num_axes %lld exceeds rank %d", ax,
                    (long long)na, rank);
    *nd = 0;
    *count = 1;
    for (int i = ax; i < ax + na; i++) {
        int64_t d = input_dim(im, x, i);
        if (d < 0)
            return lerr(im, KS_UNSUPPORTED_SHAPE, "input dim %d unknown", i);
        dims[(*nd)++] = d;
        *count *= d;
    }
    for (int i = ax + (int)na; i < rank; i++)
        dims[(*nd)++] = 1;
    if (*nd == 0)
        dims[(*nd)++] = 1; /* scalar parameter */
    return KS_OK;
}

static ks_status scale_layer(importer *im, const layer_t *L) {
    if (L->n_top != 1 || L->n_bottom < 1 || L->n_bottom > 2)
        return lerr(im, KS_INVALID_MODEL, "needs 1 or 2 bottoms and 1 top");
    const Kscaffe__ScaleParameter *p = L->scale_param;
    int64_t axis = p ? p->axis : 1, num_axes = p ? p->num_axes : 1;
    int bias = p && p->bias_term;
    int x;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    int gamma, beta = -1;
    int64_t sd[KS_MAX_DIMS], cnt;
    int snd;
    const layer_t *w = NULL;
    if (L->n_bottom == 2) {
        int sb;
        KS_CHECK(bottom_value(im, L->bottom[1], &sb));
        int sr = input_rank(im, sb);
        if (sr < 0)
            return lerr(im, KS_UNSUPPORTED_SHAPE, "rank of the scale bottom is unknown");
        KS_CHECK(scale_shape(im, x, axis, sr, sd, &snd, &cnt));
        int64_t tail = snd - sr;
        int64_t rs[KS_MAX_DIMS];
        for (int i = 0; i < snd; i++)
            rs[i] = i < sr ? 0 : 1;
        (void)tail;
        int sv, rv;
        KS_CHECK(add_i64_const(im, "/scale_shape", snd, rs, &sv));
        KS_CHECK(temp_value(im, "/scale_b", &rv));
        int in[2] = {sb, sv};
        KS_CHECK(add_node(im, "/scale_reshape", "Reshape", 2, in, 1, &rv, NULL));
        gamma = rv;
        if (bias) {
            KS_CHECK(get_blobs(im, L, 1, &w));
            KS_CHECK(blob_const(im, w->blobs[0], 0, "/beta", snd, sd, &beta));
        }
    } else {
        KS_CHECK(scale_shape(im, x, axis, num_axes, sd, &snd, &cnt));
        KS_CHECK(get_blobs(im, L, bias ? 2 : 1, &w));
        KS_CHECK(blob_const(im, w->blobs[0], 0, "/gamma", snd, sd, &gamma));
        if (bias)
            KS_CHECK(blob_const(im, w->blobs[1], 1, "/beta", snd, sd, &beta));
    }
    int y, in[2] = {x, gamma};
    if (!bias) {
        KS_CHECK(top_value(im, L->top[0], &y));
        return add_node(im, "", "Mul", 2, in, 1, &y, NULL);
    }
    int t;
    KS_CHECK(temp_value(im, "/scaled", &t));
    KS_CHECK(add_node(im, "/mul", "Mul", 2, in, 1, &t, NULL));
    KS_CHECK(top_value(im, L->top[0], &y));
    int in2[2] = {t, beta};
    return add_node(im, "", "Add", 2, in2, 1, &y, NULL);
}

static ks_status batch_norm_layer(importer *im, const layer_t *L) {
    KS_CHECK(need_io(im, L, 1, 1));
    int x;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    int64_t c = input_dim(im, x, 1);
    if (input_rank(im, x) < 2 || c < 0)
        return lerr(im, KS_UNSUPPORTED_SHAPE, "input channels unknown");
    const layer_t *w;
    KS_CHECK(get_blobs(im, L, 3, &w));
    float *mean = NULL, *var = NULL, *fac = NULL, *ones = NULL, *zeros = NULL;
    ks_status st = blob_floats(im, w->blobs[0], 0, c, &mean);
    if (st == KS_OK)
        st = blob_floats(im, w->blobs[1], 1, c, &var);
    if (st == KS_OK)
        st = blob_floats(im, w->blobs[2], 2, 1, &fac);
    if (st == KS_OK) {
        ones = ks__alloc_array(im->ctx, (size_t)c, sizeof(float));
        zeros = ks__alloc_array(im->ctx, (size_t)c, sizeof(float));
        if (!ones || !zeros)
            st = ks__oom(im->ctx, (size_t)c * 4, "batch norm");
    }
    int in[5];
    if (st == KS_OK) {
        float sf = fac[0] == 0.f ? 0.f : 1.f / fac[0];
        for (int64_t i = 0; i < c; i++) {
            mean[i] *= sf;
            var[i] *= sf;
            ones[i] = 1.f;
        }
        in[0] = x;
        st = add_const(im, "/scale", KS_DTYPE_FLOAT32, 1, &c, ones, &in[1]);
        if (st == KS_OK)
            st = add_const(im, "/bias", KS_DTYPE_FLOAT32, 1, &c, zeros, &in[2]);
        if (st == KS_OK)
            st = add_const(im, "/mean", KS_DTYPE_FLOAT32, 1, &c, mean, &in[3]);
        if (st == KS_OK)
            st = add_const(im, "/var", KS_DTYPE_FLOAT32, 1, &c, var, &in[4]);
    }
    ks__free(im->ctx, mean);
    ks__free(im->ctx, var);
    ks__free(im->ctx, fac);
    ks__free(im->ctx, ones);
    ks__free(im->ctx, zeros);
    KS_CHECK(st);
    int y;
    KS_CHECK(top_value(im, L->top[0], &y));
    attr_list a = {.n = 0};
    at_f(&a, "epsilon", L->batch_norm_param ? L->batch_norm_param->eps : 1e-5f);
    return add_node(im, "", "BatchNormalization", 5, in, 1, &y, &a);
}

static ks_status reshape_layer(importer *im, const layer_t *L) {
    KS_CHECK(need_io(im, L, 1, 1));
    const Kscaffe__ReshapeParameter *p = L->reshape_param;
    if (!p || !p->shape)
        return lerr(im, KS_INVALID_MODEL, "missing reshape_param.shape");
    int x;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    int rank = input_rank(im, x);
    int64_t shape[KS_MAX_DIMS];
    int n = 0;
    size_t nd = p->shape->n_dim;
    if (p->axis == 0 && p->num_axes == -1) {
        if (nd > KS_MAX_DIMS)
            return lerr(im, KS_UNSUPPORTED_SHAPE, "reshape to rank %zu", nd);
        for (size_t i = 0; i < nd; i++)
            shape[n++] = p->shape->dim[i]; /* 0 = copy and -1 = infer, as in ONNX */
    } else {
        if (rank < 0)
            return lerr(im, KS_UNSUPPORTED_SHAPE, "input rank unknown");
        int ax;
        if (p->axis < 0) {
            ax = rank + 1 + p->axis;
            if (ax < 0)
                return lerr(im, KS_INVALID_MODEL, "axis %d out of range", p->axis);
        } else {
            ax = p->axis;
            if (ax > rank)
                return lerr(im, KS_INVALID_MODEL, "axis %d out of range", p->axis);
        }
        int na = p->num_axes < 0 ? rank - ax : p->num_axes;
        if (ax + na > rank)
            return lerr(im, KS_INVALID_MODEL, "axis + num_axes exceeds the input rank");
        if ((size_t)(ax + (rank - ax - na)) + nd > KS_MAX_DIMS)
            return lerr(im, KS_UNSUPPORTED_SHAPE, "reshape result rank too large");
        for (int i = 0; i < ax; i++)
            shape[n++] = input_dim(im, x, i);
        for (size_t i = 0; i < nd; i++) {
            int64_t d = p->shape->dim[i];
            if (d == 0)
                d = input_dim(im, x, ax + (int)i);
            shape[n++] = d;
        }
        for (int i = ax + na; i < rank; i++)
            shape[n++] = input_dim(im, x, i);
        int n_unknown = 0;
        for (int i = 0; i < n; i++)
            n_unknown += shape[i] == -1;
        if (n_unknown > 1)
            return lerr(im, KS_UNSUPPORTED_SHAPE, "partial reshape needs known input dims");
    }
    int sv, y;
    KS_CHECK(add_i64_const(im, "/shape", n, shape, &sv));
    KS_CHECK(top_value(im, L->top[0], &y));
    int in[2] = {x, sv};
    return add_node(im, "", "Reshape", 2, in, 1, &y, NULL);
}

static ks_status flatten_layer(importer *im, const layer_t *L) {
    KS_CHECK(need_io(im, L, 1, 1));
    int x;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    int rank = input_rank(im, x);
    int64_t axis = L->flatten_param ? L->flatten_param->axis : 1;
    int64_t end = L->flatten_param ? L->flatten_param->end_axis : -1;
    int a, e;
    if (rank < 1 || !ks__norm_axis(axis, rank, &a) || !ks__norm_axis(end, rank, &e) || e < a)
        return lerr(im, KS_INVALID_MODEL, "axis %lld / end_axis %lld invalid for rank %d",
                    (long long)axis, (long long)end, rank);
    int64_t shape[KS_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < a; i++)
        shape[n++] = 0; /* copy (same index in input and output) */
    shape[n++] = -1;
    for (int i = e + 1; i < rank; i++) {
        int64_t d = input_dim(im, x, i);
        if (d < 0)
            return lerr(im, KS_UNSUPPORTED_SHAPE, "trailing dim %d unknown", i);
        shape[n++] = d;
    }
    int sv, y;
    KS_CHECK(add_i64_const(im, "/shape", n, shape, &sv));
    KS_CHECK(top_value(im, L->top[0], &y));
    int in[2] = {x, sv};
    return add_node(im, "", "Reshape", 2, in, 1, &y, NULL);
}

static ks_status permute_layer(importer *im, const layer_t *L) {
    KS_CHECK(need_io(im, L, 1, 1));
    int x;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    int rank = input_rank(im, x);
    if (rank < 1)
        return lerr(im, KS_UNSUPPORTED_SHAPE, "input rank unknown");
    int64_t perm[KS_MAX_DIMS];
    int used[KS_MAX_DIMS] = {0}, n = 0;
    const Kscaffe__PermuteParameter *p = L->permute_param;
    for (size_t i = 0; p && i < p->n_order; i++) {
        uint32_t o = p->order[i];
        if ((int)o >= rank || used[o])
            return lerr(im, KS_INVALID_MODEL, "order value %u invalid or repeated (rank %d)", o,
                        rank);
        used[o] = 1;
        perm[n++] = o;
    }
    for (int i = 0; i < rank; i++) /* Caffe appends the axes not named */
        if (!used[i])
            perm[n++] = i;
    int y;
    KS_CHECK(top_value(im, L->top[0], &y));
    attr_list a = {.n = 0};
    at_ints(&a, "perm", n, perm);
    return add_node(im, "", "Transpose", 1, &x, 1, &y, &a);
}

static ks_status slice_layer(importer *im, const layer_t *L) {
    if (L->n_bottom != 1 || L->n_top < 1 || L->n_top > 16)
        return lerr(im, KS_INVALID_MODEL, "needs 1 bottom and 1..16 tops");
    const Kscaffe__SliceParameter *p = L->slice_param;
    int x;
    KS_CHECK(bottom_value(im, L->bottom[0], &x));
    int rank = input_rank(im, x);
    int64_t axis = p ? (p->has_axis || !p->has_slice_dim ? p->axis : (int64_t)p->slice_dim) : 1;
    int ax;
    if (rank < 1 || !ks__norm_axis(axis, rank, &ax))
        return lerr(im, KS_INVALID_MODEL, "axis %lld out of range", (long long)axis);
    int64_t dim = input_dim(im, x, ax);
    if (dim < 0)
        return lerr(im, KS_UNSUPPORTED_SHAPE, "sliced dim unknown");
    int nt = (int)L->n_top;
    int64_t sizes[16];
    if (p && p->n_slice_point) {
        if (p->n_slice_point != L->n_top - 1)
            return lerr(im, KS_INVALID_MODEL, "%zu slice points for %d tops", p->n_slice_point, nt);
        int64_t prev = 0;
        for (int i = 0; i < nt; i++) {
            int64_t end = i < nt - 1 ? (int64_t)p->slice_point[i] : dim;
            if (end <= prev || end > dim)
                return lerr(im, KS_INVALID_MODEL, "slice points must increase within (0, %lld)",
                            (long long)dim);
            sizes[i] = end - prev;
            prev = end;
        }
    } else {
        if (dim % nt)
            return lerr(im, KS_INVALID_MODEL, "dim %lld not divisible into %d tops", (long long)dim,
                        nt);
        for (int i = 0; i < nt; i++)
            sizes[i] = dim / nt;
    }
    int sv;
    KS_CHECK(add_i64_const(im, "/split", nt, sizes, &sv));
    int outs[16];
    for (int i = 0; i < nt; i++)
        KS_CHECK(top_value(im, L->top[i], &outs[i]));
    int in[2] = {x, sv};
    attr_list a = {.n = 0};
    at_i(&a, "axis", ax);
    return add_node(im, "", "Split", 2, in, nt, outs, &a);
}

/* ------------------------------------------------------------ net */

static int is_training_only(const char *type) {
    static const char *const skip[] = {"Data",        "ImageData",  "HDF5Data", "HDF5Output",
                                       "WindowData",  "MemoryData", "DummyData", "AnnotatedData",
                                       "Accuracy",    "Silence",    "Python"};
    for (size_t i = 0; i < KS_ARRAY_LEN(skip); i++)
        if (!strcmp(type, skip[i]))
            return 1;
    size_t n = strlen(type);
    return n >= 4 && !strcmp(type + n - 4, "Loss");
}

/* Caffe's NetStateRule evaluation for phase TEST. */
static int layer_in_test_phase(const layer_t *L) {
    if (L->has_phase && L->phase == KSCAFFE__PHASE__TRAIN)
        return 0;
    if (L->n_include) {
        for (size_t i = 0; i < L->n_include; i++)
            if (!L->include[i]->has_phase || L->include[i]->phase == KSCAFFE__PHASE__TEST)
                return 1;
        return 0;
    }
    for (size_t i = 0; i < L->n_exclude; i++)
        if (!L->exclude[i]->has_phase || L->exclude[i]->phase == KSCAFFE__PHASE__TEST)
            return 0;
    return 1;
}

static ks_status add_input(importer *im, const char *name, int ndim, const int64_t *dims) {
    for (int i = 0; i < im->n_shapes; i++) {
        const ks_caffe_input_shape *o = &im->shapes[i];
        if (o->name ? !strcmp(o->name, name) : im->g->n_inputs == 0) {
            if (o->ndim != ndim)
                return lerr(im, KS_UNSUPPORTED_SHAPE, "input '%s' has rank %d, override rank %d",
                            name, ndim, o->ndim);
            dims = o->dims;
            break;
        }
    }
    if (ndim > KS_MAX_DIMS)
        return lerr(im, KS_UNSUPPORTED_SHAPE, "input '%s' has rank %d", name, ndim);
    for (int i = 0; i < ndim; i++)
        if (dims[i] < 0)
            return lerr(im, KS_INVALID_MODEL, "input '%s' has a negative dim", name);
    blob_ver *b = blob_find(im, name);
    if (b && b->value >= 0)
        return lerr(im, KS_INVALID_MODEL, "input '%s' declared twice", name);
    int vid;
    KS_CHECK(top_value(im, name, &vid));
    ks_tensor *t = &im->g->values[vid].t;
    t->dtype = KS_DTYPE_FLOAT32;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->dims[i] = dims[i];
    int *ni = ks__realloc(im->ctx, im->g->inputs, (size_t)(im->g->n_inputs + 1) * sizeof(int));
    if (!ni)
        return ks__oom(im->ctx, 0, "graph inputs");
    im->g->inputs = ni;
    ni[im->g->n_inputs++] = vid;
    return KS_OK;
}

static ks_status import_layer(importer *im, const layer_t *L) {
    const char *t = L->type;
    if (!strcmp(t, "Convolution"))
        return conv_layer(im, L);
    if (!strcmp(t, "InnerProduct"))
        return inner_product_layer(im, L);
    if (!strcmp(t, "PReLU"))
        return prelu_layer(im, L);
    if (!strcmp(t, "ReLU"))
        return relu_layer(im, L);
    if (!strcmp(t, "Sigmoid"))
        return unary_layer(im, L, "Sigmoid");
    if (!strcmp(t, "TanH"))
        return unary_layer(im, L, "Tanh");
    if (!strcmp(t, "Pooling"))
        return pooling_layer(im, L);
    if (!strcmp(t, "Softmax"))
        return softmax_layer(im, L);
    if (!strcmp(t, "Concat"))
        return concat_layer(im, L);
    if (!strcmp(t, "Dropout") || !strcmp(t, "Split"))
        return identity_layer(im, L);
    if (!strcmp(t, "Eltwise"))
        return eltwise_layer(im, L);
    if (!strcmp(t, "Scale"))
        return scale_layer(im, L);
    if (!strcmp(t, "BatchNorm"))
        return batch_norm_layer(im, L);
    if (!strcmp(t, "Reshape"))
        return reshape_layer(im, L);
    if (!strcmp(t, "Flatten"))
        return flatten_layer(im, L);
    if (!strcmp(t, "Permute"))
        return permute_layer(im, L);
    if (!strcmp(t, "Slice"))
        return slice_layer(im, L);
    return lerr(im, KS_UNSUPPORTED_OP, "layer type '%s' is not supported", t);
}

static ks_status import_net(importer *im) {
    Kscaffe__NetParameter *net = im->net;
    if (net->n_layers && !net->n_layer)
        return lerr(im, KS_UNSUPPORTED_OP, "legacy V1 'layers' definitions are not supported; "
                    "upgrade the net to the 'layer' format");
    /* pass 1: count writes per blob (SSA naming) */
    for (size_t i = 0; i < net->n_input; i++) {
        blob_ver *b;
        KS_CHECK(blob_get_or_add(im, net->input[i], &b));
        b->is_input = 1;
        b->writes++;
    }
    for (size_t li = 0; li < net->n_layer; li++) {
        const layer_t *L = net->layer[li];
        im->L = L;
        if (!L->type || !*L->type)
            return lerr(im, KS_INVALID_MODEL, "layer %zu has no type", li);
        if (!L->name) /* Caffe allows unnamed layers; name them by index */
            return lerr(im, KS_INVALID_MODEL, "layer %zu has no name", li);
        if (!layer_in_test_phase(L) || is_training_only(L->type))
            continue;
        for (size_t k = 0; k < L->n_top; k++) {
            blob_ver *b;
            KS_CHECK(blob_get_or_add(im, L->top[k], &b));
            if (!strcmp(L->type, "Input"))
                b->is_input = 1;
            b->writes++;
        }
    }
    im->L = NULL;
    /* legacy net-level inputs */
    if (net->n_input) {
        size_t nshape = net->n_input_shape, ndim = net->n_input_dim;
        if (nshape && nshape != net->n_input)
            return lerr(im, KS_INVALID_MODEL, "%zu input_shape entries for %zu inputs", nshape,
                        net->n_input);
        if (!nshape && ndim != 4 * net->n_input)
            return lerr(im, KS_INVALID_MODEL, "%zu input_dim values for %zu inputs (need 4 each)",
                        ndim, net->n_input);
        for (size_t i = 0; i < net->n_input; i++) {
            int64_t dims[KS_MAX_DIMS];
            int nd;
            if (nshape) {
                nd = (int)net->input_shape[i]->n_dim;
                if (nd > KS_MAX_DIMS)
                    return lerr(im, KS_UNSUPPORTED_SHAPE, "input rank %d", nd);
                for (int d = 0; d < nd; d++)
                    dims[d] = net->input_shape[i]->dim[d];
            } else {
                nd = 4;
                for (int d = 0; d < 4; d++)
                    dims[d] = net->input_dim[4 * i + (size_t)d];
            }
            KS_CHECK(add_input(im, net->input[i], nd, dims));
        }
    }
    for (size_t li = 0; li < net->n_layer; li++) {
        const layer_t *L = net->layer[li];
        im->L = L;
        if (!layer_in_test_phase(L) || is_training_only(L->type)) {
            ks__log(im->ctx, KS_LOG_INFO, "%s: skipping training layer '%s' (%s)", im->src,
                    L->name, L->type);
            continue;
        }
        if (!strcmp(L->type, "Input")) {
            const Kscaffe__InputParameter *p = L->input_param;
            if (!p || !p->n_shape || (p->n_shape != 1 && p->n_shape != L->n_top))
                return lerr(im, KS_INVALID_MODEL, "input_param needs 1 shape or one per top");
            for (size_t k = 0; k < L->n_top; k++) {
                const Kscaffe__BlobShape *s = p->shape[p->n_shape == 1 ? 0 : k];
                int64_t dims[KS_MAX_DIMS];
                if (s->n_dim > KS_MAX_DIMS)
                    return lerr(im, KS_UNSUPPORTED_SHAPE, "input rank %zu", s->n_dim);
                for (size_t d = 0; d < s->n_dim; d++)
                    dims[d] = s->dim[d];
                KS_CHECK(add_input(im, L->top[k], (int)s->n_dim, dims));
            }
            continue;
        }
        KS_CHECK(import_layer(im, L));
    }
    im->L = NULL;
    /* outputs: final versions of blobs nobody consumes */
    int n_out = 0;
    int *outs = ks__alloc_array(im->ctx, (size_t)im->n_blobs + 1, sizeof(int));
    if (!outs)
        return ks__oom(im->ctx, 0, "graph outputs");
    for (int i = 0; i < im->n_blobs; i++) {
        int v = im->blobs[i].value;
        if (v < 0 || (v < im->n_consumed && im->consumed[v]))
            continue;
        if (im->blobs[i].is_input && im->blobs[i].version == 1)
            continue; /* an input nothing reads */
        outs[n_out++] = v;
    }
    ks__free(im->ctx, im->g->outputs);
    im->g->outputs = outs;
    im->g->n_outputs = n_out;
    if (!n_out)
        return lerr(im, KS_INVALID_MODEL, "the net has no outputs");
    if (!im->g->n_inputs)
        return lerr(im, KS_INVALID_MODEL, "the net declares no inputs (input/input_shape or an "
                    "Input layer)");
    return ks__graph_toposort(im->g);
}

ks_status ks__caffe_import_memory(ks_context *ctx, const char *prototxt, size_t n_prototxt,
                                  const char *prototxt_name, const void *weights, size_t n_weights,
                                  const char *weights_name, ks_graph **out) {
    return ks__caffe_import_memory_ex(ctx, prototxt, n_prototxt, prototxt_name, weights, n_weights,
                                      weights_name, NULL, 0, out);
}

ks_status ks__caffe_import_memory_ex(ks_context *ctx, const char *prototxt, size_t n_prototxt,
                                     const char *prototxt_name, const void *weights,
                                     size_t n_weights, const char *weights_name,
                                     const ks_caffe_input_shape *shapes, int n_shapes,
                                     ks_graph **out) {
    if (!ctx || !out || (!prototxt && n_prototxt))
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks__caffe_import_memory: NULL argument");
    *out = NULL;
    importer im;
    memset(&im, 0, sizeof im);
    im.ctx = ctx;
    im.src = prototxt_name ? prototxt_name : "<prototxt>";
    im.wsrc = weights ? (weights_name ? weights_name : "<caffemodel>") : NULL;
    im.shapes = shapes;
    im.n_shapes = n_shapes;
    ProtobufCAllocator alloc;
    ks__caffe_pb_allocator(ctx, &alloc);
    ProtobufCMessage *m = NULL;
    ks_status st = ks__pb_text_parse(ctx, &alloc, &kscaffe__net_parameter__descriptor, prototxt,
                                     n_prototxt, im.src, &m);
    if (st != KS_OK)
        return st;
    im.net = (Kscaffe__NetParameter *)m;
    if (weights) {
        if (n_weights == 0) {
            st = ks__error(ctx, KS_CORRUPT_FILE, "%s: empty weights file", im.wsrc);
        } else {
            im.wnet = kscaffe__net_parameter__unpack(&alloc, n_weights, weights);
            if (!im.wnet)
                st = ks__error(ctx, KS_CORRUPT_FILE,
                               "%s: cannot decode the caffemodel (truncated, corrupt, or not a "
                               "binary NetParameter)", im.wsrc);
            else if (im.wnet->n_layers && !im.wnet->n_layer)
                st = ks__error(ctx, KS_UNSUPPORTED_OP,
                               "%s: legacy V1 'layers' weights are not supported; upgrade the "
                               "model with caffe's upgrade_net_proto_binary", im.wsrc);
        }
    }
    if (st == KS_OK)
        st = ks__graph_create(ctx, im.src, &im.g);
    if (st == KS_OK) {
        im.g->opset = CAFFE_OPSET;
        im.g->ir_version = 8;
        ks__free(ctx, im.g->producer);
        im.g->producer = ks__strdup(ctx, "caffe");
        st = import_net(&im);
    }
    if (im.wnet)
        kscaffe__net_parameter__free_unpacked(im.wnet, &alloc);
    kscaffe__net_parameter__free_unpacked(im.net, &alloc);
    for (int i = 0; i < im.n_blobs; i++)
        ks__free(ctx, im.blobs[i].name);
    ks__free(ctx, im.blobs);
    ks__free(ctx, im.consumed);
    if (st != KS_OK) {
        ks__graph_destroy(im.g);
        return st;
    }
    *out = im.g;
    return KS_OK;
}

ks_status ks__caffe_import(ks_context *ctx, const char *prototxt_path, const char *caffemodel_path,
                           ks_graph **out) {
    if (!ctx || !prototxt_path || !out)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks__caffe_import: NULL argument");
    *out = NULL;
    void *txt = NULL, *w = NULL;
    size_t n_txt = 0, n_w = 0;
    KS_CHECK(ks__read_file(ctx, prototxt_path, &txt, &n_txt));
    if (caffemodel_path) {
        ks_status st = ks__read_file(ctx, caffemodel_path, &w, &n_w);
        if (st != KS_OK) {
            ks__free(ctx, txt);
            return st;
        }
        if (!w) /* empty file: keep a non-NULL pointer so it is reported as such */
            w = ks__alloc(ctx, 1);
    }
    ks_status st = ks__caffe_import_memory(ctx, txt, n_txt, prototxt_path, w, n_w, caffemodel_path,
                                           out);
    ks__free(ctx, txt);
    ks__free(ctx, w);
    return st;
}
