/* MTCNN CPU reference cascade (see mtcnn.h). */
#include "vision/mtcnn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "caffe/caffe_import.h"
#include "core/model_internal.h"
#include "kestrel/plugin.h"
#include "plugins/registry.h"

#define PNET_CACHE 48

typedef struct mt_sized {
    int a, b; /* input spatial dims as fed (blob axes 2,3 or NHWC 1,2) */
    ks_model *model;
    ks_session *sess;
} mt_sized;

typedef struct mt_net {
    int is_caffe;
    char *name;       /* path of the prototxt / onnx, for messages */
    char *wname;
    void *txt;        /* prototxt or onnx bytes */
    size_t n_txt;
    void *w;          /* caffemodel bytes */
    size_t n_w;
    int nhwc;         /* input layout */
    int transposed;   /* the net sees the image transposed */
    mt_sized sized[PNET_CACHE];
    int n_sized;
} mt_net;

struct ks_mtcnn {
    ks_context *ctx;
    ks_mtcnn_options opt;
    mt_net net[3];
    ks_mtcnn_stats stats;
    ks_mtcnn_gpu *gpu; /* GPU cascade (mtcnn_gpu.c) when opt.use_gpu */
    /* ks_detector adapter results */
    ks_detection *last;
};

void ks__mtcnn_options_init(ks_mtcnn_options *o) {
    memset(o, 0, sizeof(*o));
    o->min_face = 20.f;
    o->scale_factor = 0.709f;
    o->thresholds[0] = 0.6f;
    o->thresholds[1] = 0.7f;
    o->thresholds[2] = 0.7f;
    o->nms_thresholds[0] = 0.5f;
    o->nms_thresholds[1] = 0.7f;
    o->nms_thresholds[2] = 0.7f;
    o->rnet_batch = 1024;
    o->onet_batch = 256;
    o->cuda_graph = 1;
    o->tactic_timing = 1;
}

/* ------------------------------------------------------------ loading */

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static ks_status read_all(ks_context *ctx, const char *p, void **d, size_t *n) {
    return ks__read_file(ctx, p, d, n);
}

static void sized_free(mt_sized *s) {
    ks_session_destroy(s->sess);
    ks_model_destroy(s->model);
    memset(s, 0, sizeof(*s));
}

static void net_free(ks_context *ctx, mt_net *n) {
    for (int i = 0; i < n->n_sized; i++)
        sized_free(&n->sized[i]);
    ks__free(ctx, n->name);
    ks__free(ctx, n->wname);
    ks__free(ctx, n->txt);
    ks__free(ctx, n->w);
    memset(n, 0, sizeof(*n));
}

/* Finds stage k (0..2) in dir. */
static ks_status net_open(ks_context *ctx, const char *dir, int k, mt_net *n) {
    static const char *const caffe_names[3][2] = {{"det1", "det1_relu"}, {"det2", "det2_relu"},
                                                  {"det3", "det3_relu"}};
    static const char *const onnx_names[3][2] = {{"pnet", "det1"}, {"rnet", "det2"}, {"onet", "det3"}};
    char p[2048], w[2048];
    memset(n, 0, sizeof(*n));
    for (int v = 0; v < 2; v++) {
        snprintf(p, sizeof p, "%s/%s.prototxt", dir, caffe_names[k][v]);
        snprintf(w, sizeof w, "%s/%s.caffemodel", dir, caffe_names[k][v]);
        if (exists(p) && exists(w)) {
            n->is_caffe = 1;
            n->nhwc = 0;
            /* det1_relu (PKUZHOU) stores its P-Net kernels H/W-transposed: it
             * takes the image untransposed. Every other MTCNN net is trained
             * on transposed images. */
            n->transposed = !(k == 0 && v == 1);
            n->name = ks__strdup(ctx, p);
            n->wname = ks__strdup(ctx, w);
            if (!n->name || !n->wname)
                return ks__oom(ctx, 0, "mtcnn path");
            KS_CHECK(read_all(ctx, p, &n->txt, &n->n_txt));
            return read_all(ctx, w, &n->w, &n->n_w);
        }
    }
    for (int v = 0; v < 2; v++) {
        snprintf(p, sizeof p, "%s/%s.onnx", dir, onnx_names[k][v]);
        if (exists(p)) {
            n->is_caffe = 0;
            n->transposed = 1;
            n->name = ks__strdup(ctx, p);
            if (!n->name)
                return ks__oom(ctx, 0, "mtcnn path");
            KS_CHECK(read_all(ctx, p, &n->txt, &n->n_txt));
            /* layout from the declared input: NHWC when the last dim is 3 */
            ks_model *m;
            ks_import_options io;
            ks_import_options_init(&io);
            io.external_data_dir = dir;
            KS_CHECK(ks_model_load_memory(ctx, n->txt, n->n_txt, &io, &m));
            ks_dtype dt;
            int nd;
            int64_t d[KS_MAX_DIMS];
            ks_status st = ks_model_input_info(m, 0, &dt, &nd, d, NULL);
            ks_model_destroy(m);
            KS_CHECK(st);
            if (nd != 4)
                return ks__error(ctx, KS_INVALID_MODEL, "%s: input rank %d (expected 4)", p, nd);
            n->nhwc = d[3] == 3 && d[1] != 3;
            return KS_OK;
        }
    }
    return ks__error(ctx, KS_NOT_FOUND,
                     "%s: no MTCNN stage %d net (%s.prototxt/.caffemodel, %s.prototxt or %s.onnx)",
                     dir, k + 1, caffe_names[k][0], caffe_names[k][1], onnx_names[k][0]);
}

/* A fresh model of net n for input dims (batch, a, b) (a, b = blob axes 2, 3 or NHWC 1, 2). */
static ks_status net_model(ks_mtcnn *m, mt_net *n, int batch, int a, int b, ks_model **out) {
    ks_context *ctx = m->ctx;
    *out = NULL;
    int64_t dims[4] = {batch, 3, a, b};
    if (n->nhwc)
        dims[1] = a, dims[2] = b, dims[3] = 3;
    if (n->is_caffe) {
        ks_caffe_input_shape sh = {NULL, 4, {dims[0], dims[1], dims[2], dims[3]}};
        ks_graph *g;
        KS_CHECK(ks__caffe_import_memory_ex(ctx, n->txt, n->n_txt, n->name, n->w, n->n_w, n->wname,
                                            &sh, 1, &g));
        return ks__model_from_graph(ctx, g, out);
    }
    ks_model *mo;
    KS_CHECK(ks_model_load_memory(ctx, n->txt, n->n_txt, NULL, &mo));
    ks_dtype dt;
    int nd;
    int64_t d[KS_MAX_DIMS];
    ks_status st = ks_model_input_info(mo, 0, &dt, &nd, d, NULL);
    int same = st == KS_OK && nd == 4;
    for (int i = 0; same && i < 4; i++)
        same = d[i] == dims[i];
    if (st == KS_OK && !same)
        st = ks_model_set_input_shape(mo, ks_model_input_name(mo, 0), 4, dims);
    if (st == KS_OK && m->opt.use_plugin_prelu) /* the Caffe importer does this itself */
        st = ks__plugins_apply_preferences(ctx, mo->graph, NULL);
    if (st != KS_OK) {
        ks_model_destroy(mo);
        return ks__error_prefix(ctx, "%s", n->name);
    }
    *out = mo;
    return KS_OK;
}

ks_status ks__mtcnn_net_model(ks_mtcnn *m, int stage, int batch, int a, int b, ks_model **out) {
    if (!m || stage < 0 || stage > 2 || batch < 1 || a < 1 || b < 1 || !out)
        return KS_INVALID_ARGUMENT;
    return net_model(m, &m->net[stage], batch, a, b, out);
}

void ks__mtcnn_net_layout(const ks_mtcnn *m, int stage, int *nhwc, int *transposed) {
    *nhwc = m->net[stage].nhwc;
    *transposed = m->net[stage].transposed;
}

const char *ks__mtcnn_net_name(const ks_mtcnn *m, int stage) { return m->net[stage].name; }

ks_context *ks__mtcnn_context(const ks_mtcnn *m) { return m->ctx; }
const ks_mtcnn_options *ks__mtcnn_options(const ks_mtcnn *m) { return &m->opt; }
ks_mtcnn_gpu *ks__mtcnn_gpu_handle(const ks_mtcnn *m) { return m ? m->gpu : NULL; }

/* A model + session of net n for input spatial dims (a, b) and batch 1. */
static ks_status net_sized(ks_mtcnn *m, mt_net *n, int a, int b, mt_sized **out) {
    for (int i = 0; i < n->n_sized; i++)
        if (n->sized[i].a == a && n->sized[i].b == b) {
            *out = &n->sized[i];
            return KS_OK;
        }
    if (n->n_sized == PNET_CACHE) { /* evict the oldest */
        sized_free(&n->sized[0]);
        memmove(&n->sized[0], &n->sized[1], (PNET_CACHE - 1) * sizeof(mt_sized));
        memset(&n->sized[PNET_CACHE - 1], 0, sizeof(mt_sized));
        n->n_sized--;
    }
    mt_sized *s = &n->sized[n->n_sized];
    KS_CHECK(net_model(m, n, 1, a, b, &s->model));
    ks_status st = ks_session_create(s->model, NULL, &s->sess);
    if (st != KS_OK) {
        sized_free(s);
        return st;
    }
    s->a = a;
    s->b = b;
    n->n_sized++;
    *out = s;
    return KS_OK;
}

ks_status ks__mtcnn_create(ks_context *ctx, const char *model_dir, const ks_mtcnn_options *opt,
                           ks_mtcnn **out) {
    if (!ctx || !model_dir || !out)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks__mtcnn_create: NULL argument");
    *out = NULL;
    ks_mtcnn *m = ks__alloc(ctx, sizeof(*m));
    if (!m)
        return ks__oom(ctx, sizeof(*m), "mtcnn");
    m->ctx = ctx;
    if (opt)
        m->opt = *opt;
    else
        ks__mtcnn_options_init(&m->opt);
    ks_status st = KS_OK;
    int bad_nms = 0;
    for (int k = 0; k < 3; k++)
        bad_nms |= !(m->opt.nms_thresholds[k] > 0.f && m->opt.nms_thresholds[k] <= 1.f);
    if (bad_nms)
        st = ks__error(ctx, KS_INVALID_ARGUMENT, "mtcnn: NMS thresholds must be in (0, 1]");
    else if (!(m->opt.min_face >= 12.f) || !(m->opt.scale_factor > 0.1f && m->opt.scale_factor < 0.95f))
        st = ks__error(ctx, KS_INVALID_ARGUMENT,
                       "mtcnn: min_face %.1f (>= 12) / scale_factor %.3f (0.1..0.95) out of range",
                       m->opt.min_face, m->opt.scale_factor);
    if (st == KS_OK && m->opt.use_plugin_prelu)
        st = ks_plugin_prefer(ctx, "PRelu", 1);
    for (int k = 0; k < 3 && st == KS_OK; k++)
        st = net_open(ctx, model_dir, k, &m->net[k]);
    /* load R/O-Net now so a broken model fails at creation */
    mt_sized *s;
    if (st == KS_OK)
        st = net_sized(m, &m->net[1], 24, 24, &s);
    if (st == KS_OK)
        st = net_sized(m, &m->net[2], 48, 48, &s);
    if (st == KS_OK && m->opt.use_gpu)
        st = ks__mtcnn_gpu_create(m, &m->gpu);
    if (st != KS_OK) {
        ks__mtcnn_destroy(m);
        return st;
    }
    *out = m;
    return KS_OK;
}

int ks__mtcnn_count_plugin_nodes(const ks_mtcnn *m) {
    int c = 0;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < m->net[k].n_sized; i++) {
            const ks_graph *g = m->net[k].sized[i].model->graph;
            for (int j = 0; j < g->n_nodes; j++)
                c += g->nodes[j].op == KS_OP_PLUGIN;
        }
    return c;
}

void ks__mtcnn_destroy(ks_mtcnn *m) {
    if (!m)
        return;
    ks__mtcnn_gpu_destroy(m->gpu);
    for (int k = 0; k < 3; k++)
        net_free(m->ctx, &m->net[k]);
    ks__free(m->ctx, m->last);
    ks__free(m->ctx, m);
}

/* ------------------------------------------------------------ helpers */

/* Half-pixel source sampling along one axis (edge clamp): output index o of
 * a resize by `scale` (source/destination) over n source samples gives
 * taps i0, i1 and the weight of i1. Shared by the pyramid resize and the
 * crop resize so both sample exactly alike. */
static void src_taps(int o, float scale, int n, int *i0, int *i1, float *w) {
    float f = ((float)o + 0.5f) * scale - 0.5f;
    if (f < 0)
        f = 0;
    int a = (int)f;
    if (a > n - 1)
        a = n - 1;
    *i0 = a;
    *i1 = a + 1 < n ? a + 1 : n - 1;
    *w = f - (float)a;
}

void ks__mtcnn_resize_bilinear(const float *src, int sw, int sh, int ch, float *dst, int dw,
                               int dh) {
    float sx = (float)sw / (float)dw, sy = (float)sh / (float)dh;
    for (int y = 0; y < dh; y++) {
        int y0, y1;
        float wy;
        src_taps(y, sy, sh, &y0, &y1, &wy);
        for (int x = 0; x < dw; x++) {
            int x0, x1;
            float wx;
            src_taps(x, sx, sw, &x0, &x1, &wx);
            for (int c = 0; c < ch; c++) {
                float a = src[((size_t)y0 * sw + x0) * ch + c], b = src[((size_t)y0 * sw + x1) * ch + c];
                float d = src[((size_t)y1 * sw + x0) * ch + c], e = src[((size_t)y1 * sw + x1) * ch + c];
                float top = a + (b - a) * wx, bot = d + (e - d) * wx;
                dst[((size_t)y * dw + x) * ch + c] = top + (bot - top) * wy;
            }
        }
    }
}

int ks__mtcnn_nms(ks_mtcnn_box *b, int n, float thr, int min_mode, int *scratch) {
    if (n <= 0)
        return 0;
    int *order = scratch, *tmp = scratch + n;
    /* stable bottom-up merge sort of indices by score, descending */
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n - w; lo += 2 * w) {
            int mid = lo + w, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = b[order[j]].score > b[order[i]].score ? order[j++] : order[i++];
            while (i < mid)
                tmp[k++] = order[i++];
            while (j < hi)
                tmp[k++] = order[j++];
            memcpy(order + lo, tmp + lo, (size_t)(hi - lo) * sizeof(int));
        }
    }
    /* apply the permutation in place (new[k] = old[order[k]]), cycle by cycle */
    memset(tmp, 0, (size_t)n * sizeof(int));
    for (int k = 0; k < n; k++) {
        if (tmp[k])
            continue;
        ks_mtcnn_box t = b[k];
        int j = k;
        for (;;) {
            tmp[j] = 1;
            int src = order[j];
            if (src == k) {
                b[j] = t;
                break;
            }
            b[j] = b[src];
            j = src;
        }
    }
    /* greedy suppression over the sorted boxes; tmp = suppressed flags */
    memset(tmp, 0, (size_t)n * sizeof(int));
    int n_keep = 0;
    for (int i = 0; i < n; i++) {
        if (tmp[i])
            continue;
        const ks_mtcnn_box *a = &b[i];
        float area_a = (a->x2 - a->x1 + 1) * (a->y2 - a->y1 + 1);
        for (int j = i + 1; j < n; j++) {
            if (tmp[j])
                continue;
            const ks_mtcnn_box *c = &b[j];
            float xx1 = fmaxf(a->x1, c->x1), yy1 = fmaxf(a->y1, c->y1);
            float xx2 = fminf(a->x2, c->x2), yy2 = fminf(a->y2, c->y2);
            float w = fmaxf(0.f, xx2 - xx1 + 1), h = fmaxf(0.f, yy2 - yy1 + 1);
            float inter = w * h;
            float area_c = (c->x2 - c->x1 + 1) * (c->y2 - c->y1 + 1);
            float o = min_mode ? inter / fminf(area_a, area_c) : inter / (area_a + area_c - inter);
            if (o > thr)
                tmp[j] = 1;
        }
        if (n_keep != i)
            b[n_keep] = b[i];
        n_keep++;
    }
    return n_keep;
}

/* Growable box list. */
typedef struct box_list {
    ks_mtcnn_box *b;
    int n, cap;
} box_list;

static ks_status bl_push(ks_context *ctx, box_list *l, const ks_mtcnn_box *x) {
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 64;
        ks_mtcnn_box *nb = ks__realloc(ctx, l->b, (size_t)nc * sizeof(*nb));
        if (!nb)
            return ks__oom(ctx, (size_t)nc * sizeof(*nb), "mtcnn boxes");
        l->b = nb;
        l->cap = nc;
    }
    l->b[l->n++] = *x;
    return KS_OK;
}

static ks_status nms_list(ks_context *ctx, box_list *l, float thr, int min_mode) {
    if (l->n == 0)
        return KS_OK;
    int *scratch = ks__alloc_array(ctx, (size_t)l->n * 2, sizeof(int));
    if (!scratch)
        return ks__oom(ctx, (size_t)l->n * sizeof(int), "mtcnn nms");
    l->n = ks__mtcnn_nms(l->b, l->n, thr, min_mode, scratch);
    ks__free(ctx, scratch);
    return KS_OK;
}

static void rerec(ks_mtcnn_box *b) {
    float w = b->x2 - b->x1, h = b->y2 - b->y1, l = fmaxf(w, h);
    b->x1 = b->x1 + w * 0.5f - l * 0.5f;
    b->y1 = b->y1 + h * 0.5f - l * 0.5f;
    b->x2 = b->x1 + l;
    b->y2 = b->y1 + l;
}

static void bbreg(ks_mtcnn_box *b, const float *reg) {
    float w = b->x2 - b->x1 + 1, h = b->y2 - b->y1 + 1;
    float x1 = b->x1 + reg[0] * w, y1 = b->y1 + reg[1] * h;
    float x2 = b->x2 + reg[2] * w, y2 = b->y2 + reg[3] * h;
    b->x1 = x1, b->y1 = y1, b->x2 = x2, b->y2 = y2;
}

void ks__mtcnn_pack_cpu(const float *img, int w, int h, int nhwc, int transposed, float *t) {
    int A = transposed ? w : h, B = transposed ? h : w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int a = transposed ? x : y, b = transposed ? y : x;
            for (int c = 0; c < 3; c++) {
                float v = img[((size_t)y * w + x) * 3 + c];
                if (nhwc)
                    t[((size_t)a * B + b) * 3 + c] = v;
                else
                    t[((size_t)c * A + a) * B + b] = v;
            }
        }
}

static void pack_input(const mt_net *n, const float *img, int w, int h, float *t) {
    ks__mtcnn_pack_cpu(img, w, h, n->nhwc, n->transposed, t);
}

/* Channel count of a P-Net output map / R,O-Net output row. */
static int out_channels(const mt_net *n, const ks_tensor *t) {
    if (t->ndim == 4)
        return (int)(n->nhwc ? t->dims[3] : t->dims[1]);
    if (t->ndim == 2)
        return (int)t->dims[1];
    return -1;
}

static ks_status run_net(ks_mtcnn *m, mt_net *n, mt_sized *s, const float *img, int w, int h,
                         ks_tensor *outs, int n_outs) {
    ks_context *ctx = m->ctx;
    int A = n->transposed ? w : h, B = n->transposed ? h : w;
    ks_tensor in = {KS_DTYPE_FLOAT32, 4, {1, 3, A, B}, NULL};
    if (n->nhwc)
        in.dims[1] = A, in.dims[2] = B, in.dims[3] = 3;
    KS_CHECK(ks_tensor_alloc(ctx, &in));
    pack_input(n, img, w, h, in.data);
    if (ks_model_num_outputs(s->model) != n_outs) {
        ks_tensor_release(ctx, &in);
        return ks__error(ctx, KS_INVALID_MODEL, "%s: %d outputs, MTCNN expects %d", n->name,
                         ks_model_num_outputs(s->model), n_outs);
    }
    const char *name = ks_model_input_name(s->model, 0);
    ks_status st = ks_session_run(s->sess, 1, &name, &in, 0, NULL, outs);
    ks_tensor_release(ctx, &in);
    return st;
}

static void release_outs(ks_context *ctx, ks_tensor *o, int n) {
    for (int i = 0; i < n; i++)
        ks_tensor_release(ctx, &o[i]);
}

/* Finds the outputs with the given channel counts. */
static ks_status pick_outputs(ks_mtcnn *m, const mt_net *n, const ks_tensor *o, int n_o,
                              const int *want, int n_want, const ks_tensor **res) {
    for (int k = 0; k < n_want; k++) {
        res[k] = NULL;
        for (int i = 0; i < n_o; i++)
            if (out_channels(n, &o[i]) == want[k] && o[i].dtype == KS_DTYPE_FLOAT32)
                res[k] = &o[i];
        if (!res[k])
            return ks__error(m->ctx, KS_INVALID_MODEL, "%s: no float output with %d channels",
                             n->name, want[k]);
    }
    return KS_OK;
}

static float map_at_raw(const float *d, int nhwc, int C, int ma, int mb, int c, int a, int b) {
    if (nhwc)
        return d[((size_t)a * mb + b) * C + c];
    return d[((size_t)c * ma + a) * mb + b];
}

int ks__mtcnn_candidates_cpu(const float *prob, const float *reg, int ma, int mb, int nhwc,
                             int transposed, float scale, float threshold, ks_mtcnn_box *out,
                             int *cells, int cap) {
    int n = 0;
    for (int a = 0; a < ma; a++)
        for (int b = 0; b < mb; b++) {
            float p = map_at_raw(prob, nhwc, 2, ma, mb, 1, a, b);
            if (!(p >= threshold))
                continue;
            if (n < cap) {
                int cx = transposed ? a : b, cy = transposed ? b : a;
                ks_mtcnn_box *bx = &out[n];
                memset(bx, 0, sizeof(*bx));
                bx->x1 = truncf((2.f * (float)cx + 1.f) / scale);
                bx->y1 = truncf((2.f * (float)cy + 1.f) / scale);
                bx->x2 = truncf((2.f * (float)cx + 12.f) / scale);
                bx->y2 = truncf((2.f * (float)cy + 12.f) / scale);
                bx->score = p;
                for (int k = 0; k < 4; k++)
                    bx->reg[k] = map_at_raw(reg, nhwc, 4, ma, mb, k, a, b);
                if (cells)
                    cells[n] = a * mb + b;
            }
            n++;
        }
    return n;
}

/* Stage 1 for one scale: appends candidate boxes (after NMS 0.5). */
static ks_status pnet_scale(ks_mtcnn *m, const float *img, int w, int h, float scale,
                            box_list *all) {
    ks_context *ctx = m->ctx;
    mt_net *n = &m->net[0];
    int hs = (int)ceilf((float)h * scale), ws = (int)ceilf((float)w * scale);
    if (hs < 12 || ws < 12)
        return KS_OK;
    float *rs = ks__alloc_array(ctx, (size_t)hs * ws * 3, sizeof(float));
    if (!rs)
        return ks__oom(ctx, (size_t)hs * ws * 12, "mtcnn pyramid");
    ks__mtcnn_resize_bilinear(img, w, h, 3, rs, ws, hs);
    mt_sized *s;
    int A = n->transposed ? ws : hs, B = n->transposed ? hs : ws;
    ks_status st = net_sized(m, n, A, B, &s);
    ks_tensor o[4];
    memset(o, 0, sizeof o);
    if (st == KS_OK)
        st = run_net(m, n, s, rs, ws, hs, o, 2);
    ks__free(ctx, rs);
    const ks_tensor *r[2];
    int want[2] = {4, 2};
    if (st == KS_OK)
        st = pick_outputs(m, n, o, 2, want, 2, r);
    box_list l = {0};
    if (st == KS_OK) {
        const ks_tensor *reg = r[0], *prob = r[1];
        if (reg->ndim != 4 || prob->ndim != 4) {
            st = ks__error(ctx, KS_INVALID_MODEL, "%s: P-Net outputs must be 4-D", n->name);
        } else {
            int ma = (int)(n->nhwc ? prob->dims[1] : prob->dims[2]);
            int mb = (int)(n->nhwc ? prob->dims[2] : prob->dims[3]);
            int cnt = ks__mtcnn_candidates_cpu(prob->data, reg->data, ma, mb, n->nhwc,
                                               n->transposed, scale, m->opt.thresholds[0], NULL,
                                               NULL, 0);
            if (cnt > 0) {
                l.b = ks__alloc_array(ctx, (size_t)cnt, sizeof(ks_mtcnn_box));
                if (!l.b)
                    st = ks__oom(ctx, (size_t)cnt * sizeof(ks_mtcnn_box), "mtcnn candidates");
                else
                    l.n = l.cap = ks__mtcnn_candidates_cpu(prob->data, reg->data, ma, mb, n->nhwc,
                                                           n->transposed, scale,
                                                           m->opt.thresholds[0], l.b, NULL, cnt);
            }
        }
    }
    m->stats.pnet_candidates += l.n;
    if (st == KS_OK)
        st = nms_list(ctx, &l, m->opt.nms_thresholds[0], 0);
    m->stats.pnet_kept += l.n;
    for (int i = 0; i < l.n && st == KS_OK; i++)
        st = bl_push(ctx, all, &l.b[i]);
    ks__free(ctx, l.b);
    release_outs(ctx, o, 4);
    return st;
}

/* MTCNN's crop: box (1-based inclusive, integral after fix) from the image
 * with zero padding outside, resized to size x size. Returns 0 when the box
 * is empty (skipped). */
int ks__mtcnn_crop_valid(const int box[4], int w, int h) {
    int tw = box[2] - box[0] + 1, th = box[3] - box[1] + 1;
    return tw > 0 && th > 0 && tw <= 8 * (w + h) && th <= 8 * (w + h);
}

void ks__mtcnn_crop_cpu(const float *img, int w, int h, const int box[4], int size, float *dst) {
    int x1 = box[0], y1 = box[1];
    int tw = box[2] - x1 + 1, th = box[3] - y1 + 1;
    /* bilinear sampling of the zero-padded crop (padding = normalised 0,
     * as the reference pads raw zeros before normalising), computed per
     * output pixel like ks__mtcnn_resize_bilinear over the crop */
    const float padv = -127.5f * 0.0078125f;
    float sx = (float)tw / (float)size, sy = (float)th / (float)size;
    for (int y = 0; y < size; y++) {
        int y0, y1i;
        float wy;
        src_taps(y, sy, th, &y0, &y1i, &wy);
        for (int x = 0; x < size; x++) {
            int x0, x1i;
            float wx;
            src_taps(x, sx, tw, &x0, &x1i, &wx);
            for (int c = 0; c < 3; c++) {
                float v[4];
                int xs[2] = {x1 - 1 + x0, x1 - 1 + x1i}, ys[2] = {y1 - 1 + y0, y1 - 1 + y1i};
                for (int k = 0; k < 4; k++) {
                    int px = xs[k & 1], py = ys[k >> 1];
                    v[k] = px >= 0 && px < w && py >= 0 && py < h ? img[((size_t)py * w + px) * 3 + c]
                                                                  : padv;
                }
                float top = v[0] + (v[1] - v[0]) * wx, bot = v[2] + (v[3] - v[2]) * wx;
                dst[((size_t)y * size + x) * 3 + c] = top + (bot - top) * wy;
            }
        }
    }
}

static int crop_box(ks_context *ctx, const float *img, int w, int h, const ks_mtcnn_box *bx,
                    int size, float *dst) {
    int box[4] = {(int)bx->x1, (int)bx->y1, (int)bx->x2, (int)bx->y2};
    (void)ctx;
    if (!ks__mtcnn_crop_valid(box, w, h))
        return 0;
    ks__mtcnn_crop_cpu(img, w, h, box, size, dst);
    return 1;
}

static ks_status refine_stage(ks_mtcnn *m, int stage, const float *img, int w, int h,
                              box_list *l) {
    ks_context *ctx = m->ctx;
    mt_net *n = &m->net[stage];
    int size = stage == 1 ? 24 : 48;
    mt_sized *s;
    KS_CHECK(net_sized(m, n, size, size, &s));
    float *crop = ks__alloc_array(ctx, (size_t)size * size * 3, sizeof(float));
    if (!crop)
        return ks__oom(ctx, 0, "mtcnn crop");
    ks_status st = KS_OK;
    int n_keep = 0;
    for (int i = 0; i < l->n && st == KS_OK; i++) {
        ks_mtcnn_box bx = l->b[i];
        bx.x1 = truncf(bx.x1), bx.y1 = truncf(bx.y1), bx.x2 = truncf(bx.x2), bx.y2 = truncf(bx.y2);
        int r = crop_box(ctx, img, w, h, &bx, size, crop);
        if (r < 0) {
            st = ks__oom(ctx, 0, "mtcnn crop");
            break;
        }
        if (r == 0)
            continue;
        ks_tensor o[4];
        memset(o, 0, sizeof o);
        int n_o = stage == 1 ? 2 : 3;
        st = run_net(m, n, s, crop, size, size, o, n_o);
        const ks_tensor *res[3];
        int want[3] = {4, 2, 10};
        if (st == KS_OK)
            st = pick_outputs(m, n, o, n_o, want, n_o, res);
        if (st == KS_OK) {
            float p = ((const float *)res[1]->data)[1];
            if (p > m->opt.thresholds[stage]) {
                bx.score = p;
                memcpy(bx.reg, res[0]->data, 4 * sizeof(float));
                if (stage == 2) {
                    const float *pt = res[2]->data;
                    float bw = bx.x2 - bx.x1 + 1, bh = bx.y2 - bx.y1 + 1;
                    for (int k = 0; k < 5; k++) {
                        bx.landmarks[k] = bw * pt[k] + bx.x1 - 1;
                        bx.landmarks[5 + k] = bh * pt[5 + k] + bx.y1 - 1;
                    }
                }
                l->b[n_keep++] = bx;
            }
        }
        release_outs(ctx, o, 4);
    }
    ks__free(ctx, crop);
    KS_CHECK(st);
    l->n = n_keep;
    if (stage == 1) {
        KS_CHECK(nms_list(ctx, l, m->opt.nms_thresholds[1], 0));
        m->stats.rnet_kept = l->n;
        for (int i = 0; i < l->n; i++) {
            bbreg(&l->b[i], l->b[i].reg);
            rerec(&l->b[i]);
        }
    } else {
        for (int i = 0; i < l->n; i++)
            bbreg(&l->b[i], l->b[i].reg);
        KS_CHECK(nms_list(ctx, l, m->opt.nms_thresholds[2], 1));
    }
    return KS_OK;
}

/* RGB float image, normalised, from any host ks_image. */
static ks_status to_rgb_float(ks_context *ctx, const ks_image *im, float **out) {
    if (im->memory != KS_MEMORY_HOST)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "mtcnn: the CPU detector needs a host image");
    ks_image rgb;
    const ks_image *src = im;
    int converted = 0;
    if (im->format != KS_PIXEL_RGB) {
        KS_CHECK(ks_image_convert(ctx, im, KS_PIXEL_RGB, &rgb));
        src = &rgb;
        converted = 1;
    }
    size_t n = (size_t)src->width * src->height * 3;
    float *f = ks__alloc_array(ctx, n ? n : 1, sizeof(float));
    if (!f) {
        if (converted)
            ks_image_release(ctx, &rgb);
        return ks__oom(ctx, n * 4, "mtcnn image");
    }
    for (int y = 0; y < src->height; y++) {
        const uint8_t *row = src->data + (size_t)y * src->stride;
        for (int x = 0; x < src->width * 3; x++)
            f[(size_t)y * src->width * 3 + x] = ((float)row[x] - 127.5f) * 0.0078125f;
    }
    if (converted)
        ks_image_release(ctx, &rgb);
    *out = f;
    return KS_OK;
}

ks_status ks__mtcnn_detect(ks_mtcnn *m, const ks_image *image, ks_detection **dets, int *n_dets) {
    if (!m || !image || !dets || !n_dets)
        return KS_INVALID_ARGUMENT;
    ks_context *ctx = m->ctx;
    *dets = NULL;
    *n_dets = 0;
    if (image->width <= 0 || image->height <= 0 || !image->data)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "mtcnn: empty image");
    if (m->gpu)
        return ks__mtcnn_gpu_detect(m, 0, image, dets, n_dets, &m->stats);
    memset(&m->stats, 0, sizeof m->stats);
    float *img;
    KS_CHECK(to_rgb_float(ctx, image, &img));
    int w = image->width, h = image->height;
    box_list l = {0};
    ks_status st = KS_OK;
    /* stage 1: pyramid */
    float mscale = 12.f / m->opt.min_face;
    float minl = (float)(w < h ? w : h) * mscale;
    int count = 0;
    while (minl >= 12.f && st == KS_OK) {
        float scale = mscale * powf(m->opt.scale_factor, (float)count);
        st = pnet_scale(m, img, w, h, scale, &l);
        minl *= m->opt.scale_factor;
        count++;
    }
    m->stats.n_levels = count;
    if (st == KS_OK)
        st = nms_list(ctx, &l, 0.7f, 0);
    m->stats.rnet_in = l.n;
    if (st == KS_OK) {
        for (int i = 0; i < l.n; i++) {
            ks_mtcnn_box *b = &l.b[i];
            float rw = b->x2 - b->x1, rh = b->y2 - b->y1;
            float q1 = b->x1 + b->reg[0] * rw, q2 = b->y1 + b->reg[1] * rh;
            float q3 = b->x2 + b->reg[2] * rw, q4 = b->y2 + b->reg[3] * rh;
            b->x1 = q1, b->y1 = q2, b->x2 = q3, b->y2 = q4;
            rerec(b);
        }
    }
    if (st == KS_OK && l.n)
        st = refine_stage(m, 1, img, w, h, &l);
    m->stats.onet_in = l.n;
    if (st == KS_OK && l.n)
        st = refine_stage(m, 2, img, w, h, &l);
    m->stats.final = l.n;
    ks__free(ctx, img);
    if (st == KS_OK && l.n) {
        int n = l.n;
        if (m->opt.max_detections > 0 && n > m->opt.max_detections)
            n = m->opt.max_detections;
        ks_detection *d = ks__alloc_array(ctx, (size_t)n, sizeof(*d));
        if (!d) {
            st = ks__oom(ctx, 0, "mtcnn detections");
        } else {
            for (int i = 0; i < n; i++) {
                const ks_mtcnn_box *b = &l.b[i];
                d[i].box[0] = b->x1, d[i].box[1] = b->y1, d[i].box[2] = b->x2, d[i].box[3] = b->y2;
                d[i].score = b->score;
                d[i].class_id = 0;
                d[i].n_landmarks = 5;
                for (int k = 0; k < 5; k++) {
                    d[i].landmarks[k][0] = b->landmarks[k];
                    d[i].landmarks[k][1] = b->landmarks[5 + k];
                }
            }
            *dets = d;
            *n_dets = n;
        }
    }
    ks__free(ctx, l.b);
    return st;
}

void ks__mtcnn_get_stats(const ks_mtcnn *m, ks_mtcnn_stats *out) { *out = m->stats; }
int ks__mtcnn_on_gpu(const ks_mtcnn *m) { return m && m->gpu ? 1 : 0; }

/* ------------------------------------------------------------ ks_detector adapter */

ks_status ks__mtcnn_detector_create(ks_context *ctx, const char *model_dir,
                                    const ks_detector_options *opt, void **out) {
    ks_mtcnn_options o;
    ks__mtcnn_options_init(&o);
    if (opt && opt->max_detections > 0)
        o.max_detections = opt->max_detections;
    ks_mtcnn *m;
    if (opt && opt->use_gpu) {
        o.use_gpu = 1;
        o.fp16 = opt->fp16 ? 1 : 0;
        /* ks_detector_options.max_batch: frames per GPU cascade run (detect with n images) */
        o.frame_batch = opt->max_batch < 1 ? 1 : (opt->max_batch > 32 ? 32 : opt->max_batch);
        ks_status st = ks__mtcnn_create(ctx, model_dir, &o, &m);
        if (st == KS_OK) {
            *out = m;
            return KS_OK;
        }
        /* fall back to the CPU cascade: quietly without a GPU, loudly otherwise */
        ks__log(ctx, st == KS_NO_DEVICE ? KS_LOG_INFO : KS_LOG_WARN,
                "%s: MTCNN GPU cascade unavailable (%s: %s); running on the CPU", model_dir,
                ks_status_name(st), ks_context_last_error(ctx));
        ks_context_clear_error(ctx);
        o.use_gpu = 0;
    }
    KS_CHECK(ks__mtcnn_create(ctx, model_dir, &o, &m));
    *out = m;
    return KS_OK;
}

ks_status ks__mtcnn_detector_detect(void *mp, int n_images, const ks_image *images,
                                    ks_detection_list *results) {
    ks_mtcnn *m = mp;
    if (!m || n_images < 0 || (n_images && (!images || !results)))
        return KS_INVALID_ARGUMENT;
    /* results stay valid until the next call: one allocation for all images */
    ks__free(m->ctx, m->last);
    m->last = NULL;
    ks_detection **per = ks__alloc_array(m->ctx, (size_t)n_images + 1, sizeof(*per));
    int *cnt = ks__alloc_array(m->ctx, (size_t)n_images + 1, sizeof(int));
    ks_status st = per && cnt ? KS_OK : ks__oom(m->ctx, 0, "mtcnn results");
    size_t total = 0;
    int fb = m->gpu ? ks__mtcnn_gpu_frame_batch(m) : 1;
    for (int i = 0; i < n_images && st == KS_OK;) {
        /* GPU frame batching: up to fb consecutive images of one size in one cascade run */
        int k = 1;
        while (fb > 1 && i + k < n_images && k < fb && images[i + k].width == images[i].width &&
               images[i + k].height == images[i].height && images[i].width > 0 && images[i].height > 0)
            k++;
        if (k > 1)
            st = ks__mtcnn_gpu_detect_batch(m, 0, k, &images[i], &per[i], &cnt[i], NULL);
        else
            st = ks__mtcnn_detect(m, &images[i], &per[i], &cnt[i]);
        for (int j = 0; j < k && st == KS_OK; j++)
            total += (size_t)cnt[i + j];
        i += k;
    }
    if (st == KS_OK) {
        m->last = ks__alloc_array(m->ctx, total + 1, sizeof(ks_detection));
        if (!m->last)
            st = ks__oom(m->ctx, total * sizeof(ks_detection), "mtcnn results");
    }
    size_t off = 0;
    for (int i = 0; i < n_images && st == KS_OK; i++) {
        if (cnt[i])
            memcpy(m->last + off, per[i], (size_t)cnt[i] * sizeof(ks_detection));
        results[i].n = cnt[i];
        results[i].items = m->last + off;
        off += (size_t)cnt[i];
    }
    for (int i = 0; per && i < n_images; i++)
        ks__free(m->ctx, per[i]);
    ks__free(m->ctx, per);
    ks__free(m->ctx, cnt);
    return st;
}

void ks__mtcnn_detector_destroy(void *m) { ks__mtcnn_destroy(m); }
