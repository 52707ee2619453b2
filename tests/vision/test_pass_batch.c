/* ks__graph_set_batch (src/graph/pass_batch.c): detector graphs exported with a hard-coded
 * batch of 1 rewritten for batch 4 must give, on the CPU reference, exactly the batch-1
 * outputs of the 4 images run one by one; graphs where the batch cannot be followed are
 * refused with UNSUPPORTED_SHAPE naming the node. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kestrel/kestrel.h"
#include "core/model_internal.h"
#include "graph/pass_batch.h"

#define B 4

static void fill(float *p, size_t n, unsigned seed) {
    unsigned s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        /* smooth-ish image-like signal plus noise, in [-1, 1] */
        float base = sinf((float)(i % 640) * 0.013f * (float)(seed + 1)) * 0.6f;
        p[i] = base + ((float)(s >> 8) / 16777216.0f - 0.5f) * 0.8f;
    }
}

static void check_model(ks_context *ctx, const char *file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", ks_t_models_dir(), file);
    ks_model *m1 = NULL, *mb = NULL;
    if (ks_model_load_file(ctx, path, NULL, &m1) != KS_OK) {
        fprintf(stderr, "skip %s: %s\n", file, ks_context_last_error(ctx));
        return;
    }
    KS_T_CHECK_OK(ctx, ks_model_load_file(ctx, path, NULL, &mb));
    ks_status st = ks__graph_set_batch(mb->graph, B);
    KS_T_CHECK_MSG(st == KS_OK, "%s: set_batch: %s", file, ks_context_last_error(ctx));
    if (st != KS_OK)
        goto out;
    KS_T_CHECK_OK(ctx, ks_model_optimize(m1));
    ks_dtype dt;
    int nd;
    int64_t dims[KS_MAX_DIMS];
    KS_T_CHECK_OK(ctx, ks_model_input_info(m1, 0, &dt, &nd, dims, NULL));
    size_t per = (size_t)dims[1] * dims[2] * dims[3];
    float *x = malloc(per * B * sizeof(float));
    for (int i = 0; i < B; i++)
        fill(x + per * i, per, (unsigned)i + 1);
    ks_session *s1 = NULL, *sb = NULL;
    KS_T_CHECK_OK(ctx, ks_session_create(m1, NULL, &s1));
    KS_T_CHECK_OK(ctx, ks_session_create(mb, NULL, &sb));
    const char *in_name = ks_model_input_name(m1, 0);
    int n_out = ks_model_num_outputs(m1);
    ks_tensor ob[16], o1[16];
    memset(ob, 0, sizeof ob);
    ks_tensor xb = {KS_DTYPE_FLOAT32, 4, {B, dims[1], dims[2], dims[3]}, x};
    KS_T_CHECK_OK(ctx, ks_session_run(sb, 1, &in_name, &xb, 0, NULL, ob));
    double worst = 0;
    for (int i = 0; i < B; i++) {
        memset(o1, 0, sizeof o1);
        ks_tensor x1 = {KS_DTYPE_FLOAT32, 4, {1, dims[1], dims[2], dims[3]}, x + per * i};
        KS_T_CHECK_OK(ctx, ks_session_run(s1, 1, &in_name, &x1, 0, NULL, o1));
        for (int k = 0; k < n_out; k++) {
            KS_T_CHECK_EQ_I(ob[k].dims[0], B);
            KS_T_CHECK_EQ_I(ob[k].ndim, o1[k].ndim);
            int64_t n1 = ks_tensor_numel(&o1[k]);
            KS_T_CHECK_EQ_I(ks_tensor_numel(&ob[k]), n1 * B);
            const float *a = (const float *)ob[k].data + n1 * i, *b = o1[k].data;
            for (int64_t j = 0; j < n1; j++) {
                double d = fabs((double)a[j] - b[j]) / (1.0 + fabs(b[j]));
                if (d > worst)
                    worst = d;
            }
            ks_tensor_release(ctx, &o1[k]);
        }
    }
    KS_T_CHECK_MSG(worst <= 1e-5, "%s: batch-%d outputs differ from batch 1 by %g", file, B, worst);
    fprintf(stderr, "%s: %d outputs, batch %d vs 1: max rel diff %g\n", file, n_out, B, worst);
    for (int k = 0; k < n_out; k++)
        ks_tensor_release(ctx, &ob[k]);
    ks_session_destroy(s1);
    ks_session_destroy(sb);
    free(x);
out:
    ks_model_destroy(m1);
    ks_model_destroy(mb);
}

/* x[1,2,3] -> op -> y; the pass must refuse, naming node 'bad'. */
static void check_refused(ks_context *ctx, int concat) {
    ks_graph *g;
    KS_T_CHECK_OK(ctx, ks__graph_create(ctx, "<test>", &g));
    int x, y, c, nd;
    KS_T_CHECK_OK(ctx, ks__graph_add_value(g, "x", 0, &x));
    g->values[x].t = (ks_tensor){KS_DTYPE_FLOAT32, 3, {1, 2, 3}, NULL};
    KS_T_CHECK_OK(ctx, ks__graph_add_value(g, "y", 0, &y));
    g->values[y].t.ndim = -1;
    if (concat) {
        int ins[2] = {x, x};
        KS_T_CHECK_OK(ctx, ks__graph_add_node(g, "bad", "Concat", "", 13, 2, ins, 1, &y, &nd));
        ks_attr at = {0};
        at.name = "axis";
        at.type = KS_ATTR_INT;
        at.i = 0;
        KS_T_CHECK_OK(ctx, ks__node_add_attr(g, nd, &at));
    } else {
        int64_t shp[2] = {-1, 3};
        ks_tensor t = {KS_DTYPE_INT64, 1, {2}, shp};
        KS_T_CHECK_OK(ctx, ks__graph_add_const(g, "shape", &t, &c));
        int ins[2] = {x, c};
        KS_T_CHECK_OK(ctx, ks__graph_add_node(g, "bad", "Reshape", "", 13, 2, ins, 1, &y, &nd));
    }
    g->inputs = ks__alloc(ctx, sizeof(int));
    g->outputs = ks__alloc(ctx, sizeof(int));
    g->inputs[0] = x, g->n_inputs = 1;
    g->outputs[0] = y, g->n_outputs = 1;
    KS_T_CHECK_OK(ctx, ks__graph_toposort(g));
    ks_status st = ks__graph_set_batch(g, 4);
    const char *msg = ks_context_last_error(ctx);
    KS_T_CHECK_MSG(st == KS_UNSUPPORTED_SHAPE && strstr(msg, "'bad'") && strstr(msg, concat ? "Concat" : "Reshape"),
                   "expected a refusal naming the node, got %s: %s", ks_status_name(st), msg);
    fprintf(stderr, "refused as expected: %s\n", msg);
    ks_context_clear_error(ctx);
    ks__graph_destroy(g);
}

int main(void) {
    ks_context *ctx;
    KS_T_CHECK_OK(NULL, ks_context_create(NULL, &ctx));
    static const char *models[] = {
        "ultraface/version-RFB-320.onnx",
        "ultraface/version-RFB-640.onnx",
        "retinaface/retinaface_mnet025_640_opset17.onnx",
        "retinaface/retinaface_mnet025_640_opset14.onnx",
        "scrfd/scrfd_500m_bnkps_640.onnx",
    };
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/%s", ks_t_models_dir(), models[0]);
    FILE *f = fopen(probe, "rb");
    if (!f)
        KS_T_SKIP("no models at %s", ks_t_models_dir());
    fclose(f);
    for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
        check_model(ctx, models[i]);
    check_refused(ctx, 0);
    check_refused(ctx, 1);
    ks_context_destroy(ctx);
    return ks_t_done();
}
