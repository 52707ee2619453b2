/* Plugin API: a plugin shared library loaded with ks_plugin_load_library
 * claims a custom ONNX op; import -> CPU run; serialize/deserialize/clone;
 * registration errors; the built-in PRelu plugin against the built-in op. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "core/model_internal.h"
#include "kestrel/kestrel.h"
#include "kestrel/plugin.h"
#include "plugins/registry.h"
#include "swish_model.h"

static ks_status load_swish(ks_context *ctx, ks_model **m) {
    return ks_model_load_memory(ctx, swish_model_onnx, sizeof swish_model_onnx, NULL, m);
}

static void test_library(void) {
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    /* without the plugin: a clear UNSUPPORTED_OP naming the op */
    ks_model *m = NULL;
    ks_status st = load_swish(ctx, &m);
    KS_T_CHECK(st == KS_UNSUPPORTED_OP);
    KS_T_CHECK_MSG(strstr(ks_context_last_error(ctx), "Swish") != NULL, "%s",
                   ks_context_last_error(ctx));
    /* loader errors */
    KS_T_CHECK(ks_plugin_load_library(ctx, "/nonexistent/libnothing.so") == KS_IO_ERROR);
    KS_T_CHECK(ks_plugin_load_library(ctx, "libm.so.6") == KS_NOT_FOUND);
    KS_T_CHECK(strstr(ks_context_last_error(ctx), KS_PLUGIN_LIBRARY_ENTRY) != NULL);

    KS_T_CHECK_OK(ctx, ks_plugin_load_library(ctx, KS_TEST_PLUGIN_PATH));
    const ks_plugin_desc *d = ks_plugin_find(ctx, "com.kestrel.test", "Swish");
    KS_T_CHECK(d != NULL && d->version == 3);
    KS_T_CHECK(ks_plugin_find(ctx, "other.domain", "Swish") == NULL);
    KS_T_CHECK_EQ_I(ks_plugin_count(ctx), 1);

    st = load_swish(ctx, &m);
    KS_T_CHECK_MSG(st == KS_OK, "%s", ks_context_last_error(ctx));
    if (m) {
        ks_session *s = NULL;
        KS_T_CHECK_OK(ctx, ks_session_create(m, NULL, &s));
        float x[24], ref[24];
        for (int i = 0; i < 24; i++) {
            x[i] = (float)(i - 12) * 0.37f;
            ref[i] = x[i] / (1.f + expf(-1.5f * x[i])) + x[i];
        }
        ks_tensor in = {KS_DTYPE_FLOAT32, 4, {1, 2, 3, 4}, x}, out[1];
        memset(out, 0, sizeof out);
        const char *name = "X";
        st = ks_session_run(s, 1, &name, &in, 0, NULL, out);
        KS_T_CHECK_MSG(st == KS_OK, "%s", ks_context_last_error(ctx));
        if (st == KS_OK) {
            const float *y = out[0].data;
            for (int i = 0; i < 24; i++)
                KS_T_CHECK_NEAR(y[i], ref[i], 1e-5);
        }
        ks_tensor_release(ctx, &out[0]);
        ks_session_destroy(s);

        /* the plugin node: serialize -> deserialize -> same bytes; clone */
        ks_graph *g = m->graph;
        const ks_node *pn_node = NULL;
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i].op == KS_OP_PLUGIN)
                pn_node = &g->nodes[i];
        KS_T_CHECK(pn_node != NULL);
        if (pn_node) {
            ks_plugin_node *pn = pn_node->plugin;
            void *bytes = NULL;
            size_t nb = 0;
            KS_T_CHECK_OK(ctx, ks__plugin_node_serialize(ctx, pn, &bytes, &nb));
            KS_T_CHECK_EQ_I(nb, sizeof(float));
            ks_plugin_node *back = NULL;
            KS_T_CHECK_OK(ctx, ks__plugin_node_deserialize(ctx, "com.kestrel.test", "Swish", 3,
                                                           bytes, nb, &back));
            if (back) {
                void *b2 = NULL;
                size_t n2 = 0;
                KS_T_CHECK_OK(ctx, ks__plugin_node_serialize(ctx, back, &b2, &n2));
                KS_T_CHECK(n2 == nb && !memcmp(bytes, b2, nb));
                ks__free(ctx, b2);
            }
            ks__plugin_node_free(ctx, back);
            /* version / name mismatches */
            KS_T_CHECK(ks__plugin_node_deserialize(ctx, "com.kestrel.test", "Swish", 2, bytes, nb,
                                                   &back) == KS_VERSION_MISMATCH);
            KS_T_CHECK(ks__plugin_node_deserialize(ctx, "com.kestrel.test", "Nope", 3, bytes, nb,
                                                   &back) == KS_NOT_FOUND);
            KS_T_CHECK(ks__plugin_node_deserialize(ctx, "com.kestrel.test", "Swish", 3, bytes, 2,
                                                   &back) == KS_CORRUPT_FILE);
            ks__free(ctx, bytes);
            void *c = ks__plugin_clone_instance(ctx, pn);
            KS_T_CHECK(c != NULL);
            ks__plugin_node_free(ctx, c);
            ks_graph *g2 = NULL;
            KS_T_CHECK_OK(ctx, ks__graph_clone(g, &g2));
            ks__graph_destroy(g2);
        }
        ks_model_destroy(m);
    }
    ks_context_destroy(ctx);
}

static ks_status dummy_create(ks_context *c, const ks_plugin_attr *a, int n, void **s) {
    return KS_OK;
}

static void test_register_errors(void) {
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    ks_plugin_desc d;
    memset(&d, 0, sizeof d);
    d.api_version = 99;
    d.name = "X";
    KS_T_CHECK(ks_plugin_register(ctx, &d) == KS_VERSION_MISMATCH);
    d.api_version = KS_PLUGIN_API_VERSION;
    KS_T_CHECK(ks_plugin_register(ctx, &d) == KS_INVALID_ARGUMENT);
    KS_T_CHECK(strstr(ks_context_last_error(ctx), "create") != NULL);
    d.create = dummy_create;
    KS_T_CHECK(ks_plugin_register(ctx, &d) == KS_INVALID_ARGUMENT);
    KS_T_CHECK(ks_plugin_register(ctx, NULL) == KS_INVALID_ARGUMENT);
    KS_T_CHECK(ks_plugin_builtin("PRelu") != NULL);
    KS_T_CHECK(ks_plugin_builtin("Nope") == NULL);
    KS_T_CHECK_OK(ctx, ks_plugin_register(ctx, ks_plugin_builtin("PRelu")));
    KS_T_CHECK_OK(ctx, ks_plugin_register(ctx, ks_plugin_builtin("PRelu"))); /* replace */
    KS_T_CHECK_EQ_I(ks_plugin_count(ctx), 1);
    KS_T_CHECK_OK(ctx, ks_plugin_prefer(ctx, "PRelu", 1));
    KS_T_CHECK(ks__plugin_preferred(ctx, "PRelu"));
    KS_T_CHECK_OK(ctx, ks_plugin_prefer(ctx, "PRelu", 0));
    KS_T_CHECK(!ks__plugin_preferred(ctx, "PRelu"));
    ks_context_destroy(ctx);
}

/* PRelu plugin on random shapes vs a direct computation, incl. shared slope
 * and negative slopes; bad slope sizes are rejected. */
static void test_prelu_cpu(void) {
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    const ks_plugin_desc *d = ks_plugin_builtin("PRelu");
    for (int shared = 0; shared < 2; shared++) {
        ks_plugin_attr a = {.key = "channel_shared", .type = KS_PLUGIN_ATTR_INT, .i = shared};
        void *inst = NULL;
        KS_T_CHECK_OK(ctx, d->create(ctx, &a, 1, &inst));
        if (!inst)
            continue;
        float x[2 * 3 * 2 * 2], sl[3] = {0.25f, -0.5f, 1.5f}, y[24];
        for (int i = 0; i < 24; i++)
            x[i] = (float)((i * 5) % 11) - 5.f;
        ks_tensor in[2] = {{KS_DTYPE_FLOAT32, 4, {2, 3, 2, 2}, x},
                           {KS_DTYPE_FLOAT32, 3, {shared ? 1 : 3, 1, 1}, sl}};
        ks_tensor out = {KS_DTYPE_FLOAT32, 4, {2, 3, 2, 2}, y}, inf;
        memset(&inf, 0, sizeof inf);
        KS_T_CHECK_OK(ctx, d->infer_shapes(ctx, inst, 2, in, 1, &inf));
        KS_T_CHECK_EQ_I(inf.ndim, 4);
        KS_T_CHECK_OK(ctx, d->run_cpu(ctx, inst, 2, in, 1, &out));
        for (int i = 0; i < 24; i++) {
            int c = (i / 4) % 3;
            float s = shared ? sl[0] : sl[c];
            KS_T_CHECK_NEAR(y[i], x[i] >= 0 ? x[i] : s * x[i], 0);
        }
        if (shared) {
            in[1].dims[0] = 3; /* 3 slopes with channel_shared */
            KS_T_CHECK(d->infer_shapes(ctx, inst, 2, in, 1, &inf) == KS_UNSUPPORTED_SHAPE);
        } else {
            in[1].dims[0] = 2; /* wrong count */
            KS_T_CHECK(d->infer_shapes(ctx, inst, 2, in, 1, &inf) == KS_UNSUPPORTED_SHAPE);
        }
        size_t n = 0;
        KS_T_CHECK_OK(ctx, d->serialize(inst, NULL, 0, &n));
        unsigned char buf[64];
        KS_T_CHECK_OK(ctx, d->serialize(inst, buf, sizeof buf, &n));
        void *back = NULL;
        KS_T_CHECK_OK(ctx, d->deserialize(ctx, buf, n, &back));
        buf[0] ^= 1;
        void *bad = NULL;
        KS_T_CHECK(d->deserialize(ctx, buf, n, &bad) == KS_CORRUPT_FILE);
        if (back)
            d->destroy(back);
        d->destroy(inst);
    }
    ks_context_destroy(ctx);
}

int main(void) {
    test_register_errors();
    test_prelu_cpu();
    test_library();
    return ks_t_done();
}
