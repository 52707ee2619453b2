/* A plugin library for the tests, written against the public API only:
 * com.kestrel.test::Swish, y = x * sigmoid(beta * x) (float32), attribute
 * beta (float, default 1). Built as libks_test_plugin.so; kestrel finds it
 * through the exported ks_plugin_library_register. With CUDA
 * (KS_TEST_PLUGIN_CUDA, tests/plugins/tests.cmake) it also has run_cuda,
 * whose kernel is in ks_test_plugin_cuda.cu. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kestrel/plugin.h"

typedef struct swish {
    ks_context *ctx;
    float beta;
} swish;

static ks_status make(ks_context *ctx, float beta, void **self) {
    swish *s = ks_plugin_alloc(ctx, sizeof(*s));
    if (!s)
        return ks_plugin_error(ctx, KS_OUT_OF_MEMORY, "Swish: out of memory");
    s->ctx = ctx;
    s->beta = beta;
    *self = s;
    return KS_OK;
}

static ks_status sw_create(ks_context *ctx, const ks_plugin_attr *a, int n, void **self) {
    const ks_plugin_attr *b = ks_plugin_attr_find(a, n, "beta");
    if (b && b->type != KS_PLUGIN_ATTR_FLOAT)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_ATTR, "Swish: beta must be a float");
    return make(ctx, b ? (float)b->f : 1.f, self);
}

static ks_status sw_serialize(const void *self, void *buf, size_t cap, size_t *n) {
    const swish *s = self;
    *n = sizeof(float);
    if (buf) {
        if (cap < sizeof(float))
            return ks_plugin_error(s->ctx, KS_INVALID_ARGUMENT, "Swish: buffer too small");
        memcpy(buf, &s->beta, sizeof(float));
    }
    return KS_OK;
}

static ks_status sw_deserialize(ks_context *ctx, const void *b, size_t n, void **self) {
    float beta;
    if (n != sizeof beta)
        return ks_plugin_error(ctx, KS_CORRUPT_FILE, "Swish: %zu parameter bytes", n);
    memcpy(&beta, b, sizeof beta);
    return make(ctx, beta, self);
}

static ks_status sw_clone(const void *self, void **copy) {
    const swish *s = self;
    return make(s->ctx, s->beta, copy);
}

static void sw_destroy(void *self) {
    swish *s = self;
    ks_plugin_free(s->ctx, s);
}

static ks_status sw_infer(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                          int n_out, ks_tensor *out) {
    if (n_in != 1 || n_out != 1)
        return ks_plugin_error(ctx, KS_INVALID_MODEL, "Swish: 1 input and 1 output");
    if (in[0].dtype != KS_DTYPE_FLOAT32)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_DTYPE, "Swish: float32 only");
    out[0] = in[0];
    out[0].data = NULL;
    return KS_OK;
}

static ks_status sw_cpu(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                        int n_out, ks_tensor *out) {
    const swish *s = self;
    int64_t n = 1;
    for (int i = 0; i < in[0].ndim; i++)
        n *= in[0].dims[i];
    const float *x = in[0].data;
    float *y = out[0].data;
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] / (1.f + expf(-s->beta * x[i]));
    return KS_OK;
}

#ifdef KS_TEST_PLUGIN_CUDA
int ks_test_swish_cuda(const float *x, float *y, int64_t n, float beta, void *stream, char *err,
                       size_t err_bytes);

static ks_status sw_cuda(ks_context *ctx, const void *self, int n_in, const ks_tensor *in,
                         int n_out, ks_tensor *out, void *workspace, void *stream) {
    const swish *s = self;
    (void)workspace;
    if (n_in != 1 || n_out != 1 || in[0].dtype != KS_DTYPE_FLOAT32 ||
        out[0].dtype != KS_DTYPE_FLOAT32)
        return ks_plugin_error(ctx, KS_UNSUPPORTED_DTYPE, "Swish: 1 float32 input and output");
    int64_t n = 1;
    for (int i = 0; i < in[0].ndim; i++)
        n *= in[0].dims[i];
    char err[128];
    int rc = ks_test_swish_cuda(in[0].data, out[0].data, n, s->beta, stream, err, sizeof err);
    if (rc)
        return ks_plugin_error(ctx, KS_DEVICE_ERROR, "Swish: kernel launch: %s (%d)", err, rc);
    return KS_OK;
}
#endif

static const ks_plugin_desc swish_desc = {
    .api_version = KS_PLUGIN_API_VERSION,
    .name = "Swish",
    .version = 3,
    .plugin_namespace = "com.kestrel.test",
    .n_outputs = 1,
    .create = sw_create,
    .deserialize = sw_deserialize,
    .serialize = sw_serialize,
    .clone = sw_clone,
    .destroy = sw_destroy,
    .infer_shapes = sw_infer,
    .run_cpu = sw_cpu,
#ifdef KS_TEST_PLUGIN_CUDA
    .run_cuda = sw_cuda,
#endif
};

KS_API ks_status ks_plugin_library_register(ks_context *ctx) {
    return ks_plugin_register(ctx, &swish_desc);
}
