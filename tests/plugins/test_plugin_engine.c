/* Plugin through the GPU engine: O-Net (Caffe) with PReLU taken by the PRelu
 * plugin (CUDA kernel) -> ks_engine_build -> save -> load (plugin registered
 * on a fresh context) -> run, against the CPU session. Skips without a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "kestrel/engine.h"
#include "kestrel/kestrel.h"
#include "kestrel/plugin.h"

#ifdef KS_HAVE_CUDA
#include <cuda_runtime.h>
#endif

int main(void) {
#ifndef KS_HAVE_CUDA
    KS_T_SKIP("built without CUDA");
#else
    if (!ks_cuda_available())
        KS_T_SKIP("no GPU");
    char path[2048];
    snprintf(path, sizeof path, "%s/mtcnn/caffe/det3.prototxt", ks_t_models_dir());
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    KS_T_CHECK_OK(ctx, ks_plugin_prefer(ctx, "PRelu", 1));
    ks_model *m = NULL;
    ks_status st = ks_model_load_file(ctx, path, NULL, &m);
    if (st != KS_OK)
        KS_T_SKIP("det3 not loadable: %s", ks_context_last_error(ctx));
    enum { N_IN = 3 * 48 * 48 };
    static float x[N_IN];
    for (int i = 0; i < N_IN; i++)
        x[i] = (float)((i * 37) % 255) / 127.5f - 1.f;
    ks_tensor in = {KS_DTYPE_FLOAT32, 4, {1, 3, 48, 48}, x};
    ks_tensor ref[3];
    memset(ref, 0, sizeof ref);
    ks_session *s = NULL;
    KS_T_CHECK_OK(ctx, ks_session_create(m, NULL, &s));
    const char *iname = ks_model_input_name(m, 0);
    KS_T_CHECK_OK(ctx, ks_session_run(s, 1, &iname, &in, 0, NULL, ref));
    ks_session_destroy(s);
    int n_out = ks_model_num_outputs(m);

    ks_build_config cfg;
    ks_build_config_init(&cfg);
    ks_engine *e = NULL;
    st = ks_engine_build(m, &cfg, &e);
    KS_T_CHECK_MSG(st == KS_OK, "build with plugin: %s: %s", ks_status_name(st),
                   ks_context_last_error(ctx));
    char epath[] = "/tmp/ks_plugin_engine_XXXXXX";
    int fd = mkstemp(epath);
    if (fd >= 0)
        close(fd);
    if (e)
        KS_T_CHECK_OK(ctx, ks_engine_save(e, epath));
    ks_engine_destroy(e);

    /* a fresh context must have the plugin registered to load the engine */
    ks_context *c2;
    ks_context_create(NULL, &c2);
    ks_engine *e2 = NULL;
    st = ks_engine_load_file(c2, epath, &e2);
    KS_T_CHECK_MSG(st != KS_OK, "engine with a plugin loaded without the plugin registered");
    ks_engine_destroy(e2);
    e2 = NULL;
    KS_T_CHECK_OK(c2, ks_plugin_register(c2, ks_plugin_builtin("PRelu")));
    st = ks_engine_load_file(c2, epath, &e2);
    KS_T_CHECK_MSG(st == KS_OK, "load: %s", ks_context_last_error(c2));
    if (e2) {
        ks_exec_context *ec = NULL;
        KS_T_CHECK_OK(c2, ks_exec_context_create(e2, &ec));
        void *bind[4] = {0};
        float *host_out[3] = {0};
        size_t out_bytes[3] = {0};
        cudaMalloc(&bind[0], sizeof x);
        cudaMemcpy(bind[0], x, sizeof x, cudaMemcpyHostToDevice);
        for (int k = 0; k < n_out && k < 3; k++) {
            out_bytes[k] = ks_tensor_nbytes(&ref[k]);
            cudaMalloc(&bind[1 + k], out_bytes[k]);
            host_out[k] = malloc(out_bytes[k]);
        }
        KS_T_CHECK_OK(c2, ks_exec_run(ec, NULL, bind));
        cudaDeviceSynchronize();
        for (int k = 0; k < n_out && k < 3; k++) {
            cudaMemcpy(host_out[k], bind[1 + k], out_bytes[k], cudaMemcpyDeviceToHost);
            const float *r = ref[k].data;
            double md = 0;
            for (size_t i = 0; i < out_bytes[k] / 4; i++)
                md = fmax(md, fabs((double)host_out[k][i] - r[i]));
            KS_T_CHECK_MSG(md < 1e-3, "output %d: max diff %g", k, md);
            cudaFree(bind[1 + k]);
            free(host_out[k]);
        }
        cudaFree(bind[0]);
        ks_exec_context_destroy(ec);
    }
    ks_engine_destroy(e2);
    remove(epath);
    for (int k = 0; k < 3; k++)
        ks_tensor_release(ctx, &ref[k]);
    ks_model_destroy(m);
    ks_context_destroy(c2);
    ks_context_destroy(ctx);
    return ks_t_done();
#endif
}
