/* PRelu as a plugin, written against the public plugin API only
 * (kestrel/plugin.h): the worked example of docs/plugins.md.
 *
 * y = x >= 0 ? x : slope[c] * x, c = index along axis 1 of x [N, C, ...];
 * inputs: x (float32), slope (float32, C or 1 values: shapes [C], [C,1,1],
 * [1,C,1,1] or [1]). Attribute: channel_shared (int, optional; when 1 the
 * slope must hold one value). */
#include <string.h>

#include "kestrel/plugin.h"

#define PRELU_MAGIC 0x554c5250u /* "PRLU" */
#define PRELU_PARAM_VERSION 1u

typedef struct prelu_params {
    ks_context *ctx;
    int32_t channel_shared;
} prelu_params;

#ifdef KS_HAVE_CUDA
/* src/plugins/prelu/prelu_cuda.cu */
int ks__prelu_plugin_cuda(const float *x, const float *slope, float *y, int64_t n, int64_t inner,
                          int64_t channels, int shared, void *stream, char *err, size_t err_bytes);
#endif

static ks_status prelu_new(ks_context *ctx, int shared, void **self) {
    prelu_params *p = ks_plugin_alloc(ctx, sizeof(*p));
    if (!p)
        return ks_plugin_error(ctx, KS_OUT_OF_MEMORY, "PRelu plugin: out of memory");
    p->ctx = ctx;
    p->channel_shared = shared;
    *self = p;
    return KS_OK;
}

static ks_status prelu_create(ks_context *ctx, const ks_plugin_attr *attrs, int n_attrs,
                              void **self) {
    const ks_plugin_attr *a = ks_plugin_attr_find(attrs, n_attrs, "channel_shared");
    int shared = 0;
    if (a) {
        if (a->type != KS_PLUGIN_ATTR_INT || (a->i != 0 && a->i != 1))
            return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR,
                                   "PRelu plugin: channel_shared must be an int 0 or 1");
        shared = (int)a->i;
    }
    return prelu_new(ctx, shared, self);
}

/* Params: magic, version, channel_shared (3 x uint32 little-endian). */
static ks_status prelu_serialize(const void *self, void *buf, size_t cap, size_t *n_bytes) {
    const prelu_params *p = self;
    uint32_t w[3] = {PRELU_MAGIC, PRELU_PARAM_VERSION, (uint32_t)p->channel_shared};
    *n_bytes = sizeof w;
    if (buf) {
        if (cap < sizeof w)
            return ks_plugin_error(p->ctx, KS_INVALID_ARGUMENT, "PRelu plugin: buffer too small");
        memcpy(buf, w, sizeof w);
    }
    return KS_OK;
}

static ks_status prelu_deserialize(ks_context *ctx, const void *bytes, size_t n, void **self) {
    uint32_t w[3];
    if (!bytes || n != sizeof w)
        return ks_plugin_error(ctx, KS_CORRUPT_FILE, "PRelu plugin: %zu parameter bytes, need %zu",
                               n, sizeof w);
    memcpy(w, bytes, sizeof w);
    if (w[0] != PRELU_MAGIC)
        return ks_plugin_error(ctx, KS_CORRUPT_FILE, "PRelu plugin: bad parameter magic");
    if (w[1] != PRELU_PARAM_VERSION)
        return ks_plugin_error(ctx, KS_VERSION_MISMATCH, "PRelu plugin: parameter version %u",
                               w[1]);
    if (w[2] > 1)
        return ks_plugin_error(ctx, KS_CORRUPT_FILE, "PRelu plugin: bad channel_shared %u", w[2]);
    return prelu_new(ctx, (int)w[2], self);
}

static ks_status prelu_clone(const void *self, void **copy) {
    const prelu_params *p = self;
    return prelu_new(p->ctx, p->channel_shared, copy);
}

static void prelu_destroy(void *self) {
    prelu_params *p = self;
    ks_plugin_free(p->ctx, p);
}

static int64_t numel(const ks_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->dims[i];
    return n;
}

/* Checks the slope against x; sets *channels and *inner (elements per
 * channel plane). Unknown dims (-1) are accepted during inference. */
static ks_status check_io(const prelu_params *p, int n_in, const ks_tensor *in, int64_t *channels,
                          int64_t *inner, int64_t *shared) {
    if (n_in != 2)
        return ks_plugin_error(p->ctx, KS_INVALID_MODEL, "PRelu plugin: needs 2 inputs, got %d",
                               n_in);
    const ks_tensor *x = &in[0], *s = &in[1];
    if (x->dtype != KS_DTYPE_FLOAT32 || s->dtype != KS_DTYPE_FLOAT32)
        return ks_plugin_error(p->ctx, KS_UNSUPPORTED_DTYPE,
                               "PRelu plugin: float32 only (x %s, slope %s)", ks_dtype_name(x->dtype),
                               ks_dtype_name(s->dtype));
    if (x->ndim < 0 || s->ndim < 0) {
        *channels = *inner = -1;
        *shared = 0;
        return KS_OK;
    }
    if (x->ndim < 2)
        return ks_plugin_error(p->ctx, KS_UNSUPPORTED_SHAPE, "PRelu plugin: x rank %d < 2",
                               x->ndim);
    int64_t c = x->dims[1], sn = numel(s);
    for (int i = 0; i < s->ndim; i++)
        if (s->dims[i] < 0)
            sn = -1;
    int64_t in_ = 1;
    for (int i = 2; i < x->ndim; i++)
        in_ = x->dims[i] < 0 || in_ < 0 ? -1 : in_ * x->dims[i];
    *channels = c;
    *inner = in_;
    *shared = sn == 1;
    if (p->channel_shared && sn >= 0 && sn != 1)
        return ks_plugin_error(p->ctx, KS_UNSUPPORTED_SHAPE,
                               "PRelu plugin: channel_shared but the slope has %lld values",
                               (long long)sn);
    if (sn >= 0 && c >= 0 && sn != 1 && sn != c)
        return ks_plugin_error(p->ctx, KS_UNSUPPORTED_SHAPE,
                               "PRelu plugin: slope has %lld values for %lld channels",
                               (long long)sn, (long long)c);
    return KS_OK;
}

static ks_status prelu_infer(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                             int n_out, ks_tensor *out) {
    const prelu_params *p = self;
    int64_t c, inner, shared;
    if (n_out != 1)
        return ks_plugin_error(ctx, KS_INVALID_MODEL, "PRelu plugin: 1 output, got %d", n_out);
    ks_status st = check_io(p, n_in, in, &c, &inner, &shared);
    if (st != KS_OK)
        return st;
    out[0].dtype = in[0].dtype;
    out[0].ndim = in[0].ndim;
    memcpy(out[0].dims, in[0].dims, sizeof out[0].dims);
    return KS_OK;
}

static int prelu_supports(const void *self, int pos, int n_in, int n_out, ks_dtype dtype,
                          ks_plugin_layout layout) {
    return dtype == KS_DTYPE_FLOAT32 && layout == KS_PLUGIN_LAYOUT_LINEAR && pos < n_in + n_out;
}

static ks_status prelu_cpu(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                           int n_out, ks_tensor *out) {
    const prelu_params *p = self;
    int64_t c, inner, shared;
    ks_status st = check_io(p, n_in, in, &c, &inner, &shared);
    if (st != KS_OK)
        return st;
    const float *x = in[0].data, *s = in[1].data;
    float *y = out[0].data;
    int64_t n = numel(&in[0]);
    for (int64_t i = 0; i < n; i++) {
        float a = shared ? s[0] : s[(i / inner) % c];
        y[i] = x[i] >= 0.f ? x[i] : a * x[i];
    }
    return KS_OK;
}

static ks_status prelu_cuda(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                            int n_out, ks_tensor *out, void *workspace, void *stream) {
#ifdef KS_HAVE_CUDA
    const prelu_params *p = self;
    int64_t c, inner, shared;
    ks_status st = check_io(p, n_in, in, &c, &inner, &shared);
    if (st != KS_OK)
        return st;
    char err[256];
    if (ks__prelu_plugin_cuda(in[0].data, in[1].data, out[0].data, numel(&in[0]), inner, c,
                              (int)shared, stream, err, sizeof err) != 0)
        return ks_plugin_error(ctx, KS_DEVICE_ERROR, "PRelu plugin: %s", err);
    return KS_OK;
#else
    return ks_plugin_error(ctx, KS_NO_DEVICE, "PRelu plugin: built without CUDA");
#endif
}

static const ks_plugin_desc prelu_desc = {
    .api_version = KS_PLUGIN_API_VERSION,
    .name = "PRelu",
    .version = 1,
    .plugin_namespace = "",
    .n_outputs = 1,
    .create = prelu_create,
    .deserialize = prelu_deserialize,
    .serialize = prelu_serialize,
    .clone = prelu_clone,
    .destroy = prelu_destroy,
    .infer_shapes = prelu_infer,
    .supports = prelu_supports,
    .workspace_bytes = NULL,
    .run_cpu = prelu_cpu,
#ifdef KS_HAVE_CUDA
    .run_cuda = prelu_cuda,
#else
    .run_cuda = NULL,
#endif
};

const ks_plugin_desc *ks__prelu_plugin_desc(void) {
    (void)prelu_cuda;
    return &prelu_desc;
}
