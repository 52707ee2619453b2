/* Plugins in GPU engines.
 *
 * Host part (runs everywhere, no GPU): an engine description with a PRelu
 * plugin layer survives serialize/parse (format version 2, plugin-free files
 * stay version 1); instantiating it on a context without the plugin is
 * NOT_FOUND naming the plugin, with another version VERSION_MISMATCH; tensors
 * that disagree with the plugin's shape inference and bad parameter ranges
 * are CORRUPT_FILE; every flipped byte is rejected or still instantiates
 * safely. With the CUDA backend compiled (no GPU needed): O-Net (Caffe,
 * PReLU taken by the plugin) lowers into plugin layers (FP16: casts around
 * the FP32-only plugin), logged in the build report; the Swish test library
 * (tests/plugins, loaded with ks_plugin_load_library) lowers into a plugin
 * layer, and a variant of its descriptor without run_cuda fails the build
 * clearly.
 *
 * GPU part (skips with 77 without a GPU), for O-Net with the built-in PRelu
 * plugin and for the Swish model with the library plugin: import -> build
 * -> save -> load (fresh context: fails without the plugin, then
 * registered / library loaded) -> run, plain and through a CUDA graph,
 * against the CPU session: FP32 <= 1e-4, FP16 <= 1e-2 relative to the
 * output's magnitude. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/engine_format.h"
#include "harness.h"
#include "kestrel/engine.h"
#include "kestrel/kestrel.h"
#include "kestrel/plugin.h"
#include "plugins/registry.h"

#include "swish_model.h"

ks_status ks__engine_build_desc(ks_model *model, const ks_build_config *cfg, int sm, ks_eng_desc **out,
                                char **report) __attribute__((weak));

/* x [1,4,3,3] -> PRelu plugin (slope [4] constant) -> y */
static void prelu_desc(ks_context *ctx, ks_eng_desc *d, ks_plugin_node *pn) {
    ks__eng_desc_init(d, ctx);
    d->sm = 90;
    d->n_inputs = 1;
    d->n_outputs = 1;
    d->bindings = ks__alloc_array(ctx, 2, sizeof(int32_t));
    int64_t xd[4] = {1, 4, 3, 3}, sd[1] = {4};
    float slope[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    int x = ks__eng_add_tensor(d, "x", KS_DTYPE_FLOAT32, 4, xd);
    d->tensors[x].storage = KS_STORE_BINDING;
    d->tensors[x].offset = 0;
    int s = ks__eng_add_weight(d, "slope", KS_DTYPE_FLOAT32, 1, sd, slope);
    int y = ks__eng_add_tensor(d, "y", KS_DTYPE_FLOAT32, 4, xd);
    d->tensors[y].storage = KS_STORE_BINDING;
    d->tensors[y].offset = 1;
    d->bindings[0] = x;
    d->bindings[1] = y;
    int li = -1;
    KS_T_CHECK_OK(ctx, ks__eng_add_plugin_layer(d, "prelu1", pn, &li));
    KS_T_CHECK(li == 0);
    if (li >= 0) {
        ks_eng_layer *l = &d->layers[li];
        l->n_in = 2;
        l->in[0] = x;
        l->in[1] = s;
        l->n_out = 1;
        l->out[0] = y;
    }
}

static uint32_t file_version(const void *buf) {
    uint32_t v;
    memcpy(&v, (const char *)buf + 8, 4);
    return v;
}

static void host_desc_checks(void) {
    ks_context *ctx, *c2;
    ks_context_create(NULL, &ctx);
    ks_context_create(NULL, &c2);
    KS_T_CHECK_OK(ctx, ks_plugin_register(ctx, ks_plugin_builtin("PRelu")));
    ks_plugin_node *pn = NULL;
    KS_T_CHECK_OK(ctx, ks__plugin_node_create(ctx, "", "PRelu", NULL, 0, &pn));
    if (!pn)
        goto out;
    ks_eng_desc d;
    prelu_desc(ctx, &d, pn);
    KS_T_CHECK_OK(ctx, ks__eng_validate(&d));
    void *buf = NULL;
    size_t n = 0;
    KS_T_CHECK_OK(ctx, ks__eng_serialize(&d, &buf, &n));
    KS_T_CHECK_MSG(buf && file_version(buf) == 2, "plugin engine file version %u", buf ? file_version(buf) : 0);

    /* load side: parse works anywhere; the plugin comes from c2's registry */
    ks_eng_desc r;
    KS_T_CHECK_OK(c2, ks__eng_parse(c2, buf, n, &r));
    ks_plugin_node *got = NULL;
    ks_status st = ks__eng_plugin_instantiate(&r, 0, &got);
    KS_T_CHECK_MSG(st == KS_NOT_FOUND, "missing plugin: %s", ks_status_name(st));
    KS_T_CHECK_MSG(strstr(ks_context_last_error(c2), "PRelu") && strstr(ks_context_last_error(c2), "prelu1"),
                   "message names plugin and layer: %s", ks_context_last_error(c2));
    fprintf(stderr, "missing plugin: %s\n", ks_context_last_error(c2));
    static ks_plugin_desc v2;
    v2 = *ks_plugin_builtin("PRelu");
    v2.version = 2;
    KS_T_CHECK_OK(c2, ks_plugin_register(c2, &v2));
    st = ks__eng_plugin_instantiate(&r, 0, &got);
    KS_T_CHECK_MSG(st == KS_VERSION_MISMATCH && strstr(ks_context_last_error(c2), "PRelu"),
                   "other version: %s: %s", ks_status_name(st), ks_context_last_error(c2));
    KS_T_CHECK_OK(c2, ks_plugin_register(c2, ks_plugin_builtin("PRelu"))); /* replaces v2 */
    KS_T_CHECK_OK(c2, ks__eng_plugin_instantiate(&r, 0, &got));
    KS_T_CHECK(got && got->desc == ks_plugin_builtin("PRelu"));
    ks__plugin_node_free(c2, got);
    got = NULL;

    /* output shape the plugin would not produce: refused before running */
    r.tensors[r.layers[0].out[0]].dims[3] = 2;
    r.tensors[r.layers[0].out[0]].bytes = 1 * 4 * 3 * 2 * 4;
    st = ks__eng_plugin_instantiate(&r, 0, &got);
    KS_T_CHECK_MSG(st == KS_CORRUPT_FILE, "output shape mismatch: %s", ks_status_name(st));
    ks__eng_desc_free(&r);
    /* parameter range outside the plugins section */
    KS_T_CHECK_OK(c2, ks__eng_parse(c2, buf, n, &r));
    r.layers[0].ip[KS_ENG_PLUGIN_IP_BYTES] = r.n_plugin_bytes + 1;
    KS_T_CHECK(ks__eng_validate(&r) == KS_CORRUPT_FILE);
    r.layers[0].ip[KS_ENG_PLUGIN_IP_BYTES] = 0;
    r.layers[0].ip[KS_ENG_PLUGIN_IP_NAME] = r.n_strings_bytes;
    KS_T_CHECK(ks__eng_validate(&r) == KS_CORRUPT_FILE);
    ks__eng_desc_free(&r);

    /* every byte flipped (checksums fixed): rejected, or instantiates safely */
    int rejected = 0, accepted = 0;
    uint8_t *copy = malloc(n);
    for (size_t off = 0; copy && off < n; off++) {
        memcpy(copy, buf, n);
        copy[off] ^= 0x5a;
        ks__eng_fix_checksums(copy, n);
        if (ks__eng_parse(c2, copy, n, &r) != KS_OK) {
            rejected++;
            continue;
        }
        accepted++;
        for (int li = 0; li < r.n_layers; li++) {
            if (r.layers[li].kind != KS_LAYER_PLUGIN)
                continue;
            if (ks__eng_plugin_instantiate(&r, li, &got) == KS_OK)
                ks__plugin_node_free(c2, got);
            got = NULL;
        }
        ks__eng_desc_free(&r);
    }
    free(copy);
    KS_T_CHECK(rejected > 100);
    fprintf(stderr, "flipped bytes: %d rejected, %d accepted\n", rejected, accepted);
    /* the same file cut short anywhere is rejected */
    for (size_t len = 0; len < n; len += 7)
        KS_T_CHECK(ks__eng_parse(c2, buf, len, &r) == KS_CORRUPT_FILE);
    ks__free(ctx, buf);
    ks__eng_desc_free(&d);

    /* a plugin-free description is still written as version 1 */
    {
        ks_eng_desc p;
        ks__eng_desc_init(&p, ctx);
        p.n_inputs = p.n_outputs = 1;
        p.bindings = ks__alloc_array(ctx, 2, sizeof(int32_t));
        int64_t dims[1] = {8};
        int a = ks__eng_add_tensor(&p, "a", KS_DTYPE_FLOAT32, 1, dims);
        int b = ks__eng_add_tensor(&p, "b", KS_DTYPE_FLOAT32, 1, dims);
        p.tensors[a].storage = p.tensors[b].storage = KS_STORE_BINDING;
        p.tensors[a].offset = 0;
        p.tensors[b].offset = 1;
        p.bindings[0] = a;
        p.bindings[1] = b;
        ks_eng_layer *l = ks__eng_add_layer(&p, KS_LAYER_COPY, "copy");
        l->n_in = l->n_out = 1;
        l->in[0] = a;
        l->out[0] = b;
        KS_T_CHECK_OK(ctx, ks__eng_serialize(&p, &buf, &n));
        KS_T_CHECK(buf && file_version(buf) == 1);
        KS_T_CHECK_OK(c2, ks__eng_parse(c2, buf, n, &r));
        ks__eng_desc_free(&r);
        ks__free(ctx, buf);
        ks__eng_desc_free(&p);
    }
    ks__plugin_node_free(ctx, pn);
out:
    ks_context_destroy(c2);
    ks_context_destroy(ctx);
}

#ifdef KS_TEST_PLUGIN_PATH
/* the build path, unless the binaries were moved (tools/gpu-check.sh) */
static const char *test_plugin_path(void) {
    return getenv("KS_TEST_PLUGIN_PATH") ? getenv("KS_TEST_PLUGIN_PATH") : KS_TEST_PLUGIN_PATH;
}
#endif

static int count_kind(const ks_eng_desc *d, int kind, int dtype) {
    int k = 0;
    for (int i = 0; i < d->n_layers; i++)
        k += d->layers[i].kind == kind && (dtype < 0 || d->layers[i].dtype == dtype);
    return k;
}

static void det3_path(char *path, size_t n) {
    snprintf(path, n, "%s/mtcnn/caffe/det3.prototxt", ks_t_models_dir());
}

/* Lowering without a GPU (CUDA backend compiled). */
static void host_lowering_checks(void) {
    if (!ks__engine_build_desc) {
        fprintf(stderr, "lowering checks: CUDA backend not compiled\n");
        return;
    }
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    KS_T_CHECK_OK(ctx, ks_plugin_prefer(ctx, "PRelu", 1));
    char path[2048];
    det3_path(path, sizeof path);
    ks_model *m = NULL;
    if (ks_model_load_file(ctx, path, NULL, &m) != KS_OK) {
        fprintf(stderr, "det3 not loadable (%s): lowering checks skipped\n", ks_context_last_error(ctx));
    } else {
        for (int fp16 = 0; fp16 < 2; fp16++) {
            ks_build_config cfg;
            ks_build_config_init(&cfg);
            cfg.precision = fp16 ? KS_PRECISION_FP16 : KS_PRECISION_FP32;
            ks_eng_desc *d = NULL;
            char *report = NULL;
            KS_T_CHECK_OK(ctx, ks__engine_build_desc(m, &cfg, 90, &d, &report));
            KS_T_CHECK_MSG(report && strstr(report, "Plugin layer"), "report logs plugin layers");
            if (d) {
                int np = count_kind(d, KS_LAYER_PLUGIN, KS_DTYPE_FLOAT32);
                KS_T_CHECK_MSG(np == 5, "%s: %d fp32 plugin layers (det3 has 5 PReLUs)", fp16 ? "fp16" : "fp32", np);
                KS_T_CHECK(count_kind(d, KS_LAYER_PLUGIN, -1) == np);
                if (fp16)
                    KS_T_CHECK_MSG(count_kind(d, KS_LAYER_CAST, -1) >= 2 * np,
                                   "fp16: casts around the fp32-only plugin (%d casts)",
                                   count_kind(d, KS_LAYER_CAST, -1));
                /* round trip, then the loading context decides */
                void *buf = NULL;
                size_t n = 0;
                KS_T_CHECK_OK(ctx, ks__eng_serialize(d, &buf, &n));
                ks_context *c2;
                ks_context_create(NULL, &c2);
                ks_eng_desc r;
                KS_T_CHECK_OK(c2, ks__eng_parse(c2, buf, n, &r));
                int li = 0;
                while (li < r.n_layers && r.layers[li].kind != KS_LAYER_PLUGIN)
                    li++;
                ks_plugin_node *pn = NULL;
                KS_T_CHECK(li < r.n_layers && ks__eng_plugin_instantiate(&r, li, &pn) == KS_NOT_FOUND);
                KS_T_CHECK_OK(c2, ks_plugin_register(c2, ks_plugin_builtin("PRelu")));
                for (int i = 0; i < r.n_layers; i++)
                    if (r.layers[i].kind == KS_LAYER_PLUGIN) {
                        KS_T_CHECK_OK(c2, ks__eng_plugin_instantiate(&r, i, &pn));
                        ks__plugin_node_free(c2, pn);
                        pn = NULL;
                    }
                ks__eng_desc_free(&r);
                ks_context_destroy(c2);
                ks__free(ctx, buf);
                if (fp16 == 0)
                    fprintf(stderr, "%s", report);
                ks__eng_desc_free(d);
                ks__free(ctx, d);
            }
            ks__free(ctx, report);
        }
        ks_model_destroy(m);
    }
#ifdef KS_TEST_PLUGIN_PATH
    /* the library's Swish (built with run_cuda alongside the CUDA backend)
     * lowers into one plugin layer; a variant of its descriptor without
     * run_cuda cannot go into a GPU engine: clear error */
    KS_T_CHECK_OK(ctx, ks_plugin_load_library(ctx, test_plugin_path()));
    const ks_plugin_desc *lib = ks_plugin_find(ctx, "com.kestrel.test", "Swish");
    KS_T_CHECK(lib && lib->run_cuda);
    for (int variant = 0; lib && variant < 2; variant++) {
        static ks_plugin_desc no_cuda;
        if (variant == 1) { /* same name and version: replaces the library's */
            no_cuda = *lib;
            no_cuda.run_cuda = NULL;
            KS_T_CHECK_OK(ctx, ks_plugin_register(ctx, &no_cuda));
        }
        m = NULL;
        KS_T_CHECK_OK(ctx, ks_model_load_memory(ctx, swish_model_onnx, sizeof swish_model_onnx, NULL, &m));
        if (!m)
            continue;
        ks_eng_desc *d = NULL;
        ks_status st = ks__engine_build_desc(m, NULL, 90, &d, NULL);
        if (variant == 0)
            KS_T_CHECK_MSG(st == KS_OK && d && count_kind(d, KS_LAYER_PLUGIN, KS_DTYPE_FLOAT32) == 1,
                           "Swish with run_cuda: %s: %s", ks_status_name(st), ks_context_last_error(ctx));
        else
            KS_T_CHECK_MSG(st == KS_UNSUPPORTED_OP && strstr(ks_context_last_error(ctx), "Swish") &&
                               strstr(ks_context_last_error(ctx), "CUDA"),
                           "Swish without run_cuda: %s: %s", ks_status_name(st), ks_context_last_error(ctx));
        if (variant == 1)
            fprintf(stderr, "plugin without run_cuda: %s\n", ks_context_last_error(ctx));
        if (d) {
            ks__eng_desc_free(d);
            ks__free(ctx, d);
        }
        ks_model_destroy(m);
    }
#endif
    ks_context_destroy(ctx);
}

/* GPU part, public API only (the test is not compiled with the CUDA
 * headers): bindings are plain host buffers, which ks_exec_run stages
 * through device memory with async copies on the stream. */

/* max |gpu - ref| / max |ref| over one output */
static double rel_err(const float *g, const float *r, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)g[i] - r[i]));
        mr = fmax(mr, fabs((double)r[i]));
    }
    return md / fmax(mr, 1e-6);
}

/* swish: the Swish model with the test library's plugin instead of O-Net
 * with the built-in PRelu. */
static void gpu_run(ks_precision prec, int swish) {
    const char *pname = prec == KS_PRECISION_FP16 ? (swish ? "swish fp16" : "fp16")
                                                  : (swish ? "swish fp32" : "fp32");
    const char *plugin = swish ? "Swish" : "PRelu";
    double tol = prec == KS_PRECISION_FP16 ? 1e-2 : 1e-4;
    char path[2048];
    det3_path(path, sizeof path);
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    ks_model *m = NULL;
    ks_status st;
    if (swish) {
#ifdef KS_TEST_PLUGIN_PATH
        KS_T_CHECK_OK(ctx, ks_plugin_load_library(ctx, test_plugin_path()));
#endif
        st = ks_model_load_memory(ctx, swish_model_onnx, sizeof swish_model_onnx, NULL, &m);
    } else {
        KS_T_CHECK_OK(ctx, ks_plugin_prefer(ctx, "PRelu", 1));
        st = ks_model_load_file(ctx, path, NULL, &m);
    }
    KS_T_CHECK_MSG(st == KS_OK, "%s: %s", swish ? "swish model" : "det3", ks_context_last_error(ctx));
    if (st != KS_OK) {
        ks_context_destroy(ctx);
        return;
    }
    enum { N_IN = 3 * 48 * 48 };
    static float x[N_IN];
    for (int i = 0; i < N_IN; i++)
        x[i] = (float)((i * 37) % 255) / 127.5f - 1.f;
    ks_tensor in = {KS_DTYPE_FLOAT32, 4, {1, 3, 48, 48}, x};
    if (swish) { /* X [1, 2, 3, 4], values in [-4, 4] */
        in.dims[1] = 2, in.dims[2] = 3, in.dims[3] = 4;
        for (int i = 0; i < 24; i++)
            x[i] = -4.f + (float)((i * 7) % 24) / 3.f;
    }
    ks_tensor ref[3];
    memset(ref, 0, sizeof ref);
    ks_session *s = NULL;
    KS_T_CHECK_OK(ctx, ks_session_create(m, NULL, &s));
    const char *iname = ks_model_input_name(m, 0);
    KS_T_CHECK_OK(ctx, ks_session_run(s, 1, &iname, &in, 0, NULL, ref));
    ks_session_destroy(s);
    int n_out = ks_model_num_outputs(m);
    KS_T_CHECK(n_out == (swish ? 1 : 3));

    ks_build_config cfg;
    ks_build_config_init(&cfg);
    cfg.precision = prec;
    ks_engine *e = NULL;
    st = ks_engine_build(m, &cfg, &e);
    KS_T_CHECK_MSG(st == KS_OK, "%s build with plugin: %s: %s", pname, ks_status_name(st),
                   ks_context_last_error(ctx));
    char epath[] = "/tmp/ks_plugin_engine_XXXXXX";
    int fd = mkstemp(epath);
    if (fd >= 0)
        close(fd);
    if (e) {
        KS_T_CHECK(strstr(ks_engine_build_report(e), "Plugin layer") != NULL);
        KS_T_CHECK_OK(ctx, ks_engine_save(e, epath));
    }
    ks_engine_destroy(e);

    /* a fresh context must have the plugin registered to load the engine */
    ks_context *c2;
    ks_context_create(NULL, &c2);
    ks_engine *e2 = NULL;
    st = ks_engine_load_file(c2, epath, &e2);
    KS_T_CHECK_MSG(st == KS_NOT_FOUND && strstr(ks_context_last_error(c2), plugin),
                   "%s: load without the plugin: %s: %s", pname, ks_status_name(st),
                   ks_context_last_error(c2));
    ks_engine_destroy(e2);
    e2 = NULL;
    if (swish) {
#ifdef KS_TEST_PLUGIN_PATH
        KS_T_CHECK_OK(c2, ks_plugin_load_library(c2, test_plugin_path()));
#endif
    } else {
        KS_T_CHECK_OK(c2, ks_plugin_register(c2, ks_plugin_builtin("PRelu")));
    }
    st = ks_engine_load_file(c2, epath, &e2);
    KS_T_CHECK_MSG(st == KS_OK, "%s load: %s", pname, ks_context_last_error(c2));
    if (e2) {
        ks_exec_context *ec = NULL;
        KS_T_CHECK_OK(c2, ks_exec_context_create(e2, &ec));
        void *bind[4] = {0};
        size_t out_bytes[3] = {0};
        void *stream = NULL;
        KS_T_CHECK_OK(c2, ks_cuda_stream_create(&stream));
        bind[0] = x;
        for (int k = 0; k < n_out && k < 3; k++) {
            out_bytes[k] = ks_tensor_nbytes(&ref[k]);
            bind[1 + k] = malloc(out_bytes[k]);
        }
        /* pass 0: plain enqueue; pass 1: CUDA graph capture (no sync/alloc inside) */
        for (int pass = 0; pass < 2 && ec; pass++) {
            for (int k = 0; k < n_out && k < 3; k++)
                memset(bind[1 + k], 0, out_bytes[k]);
            KS_T_CHECK_OK(c2, ks_exec_set_cuda_graph(ec, pass));
            KS_T_CHECK_OK(c2, ks_exec_run(ec, stream, bind));
            KS_T_CHECK_OK(c2, ks_cuda_stream_synchronize(stream));
            for (int k = 0; k < n_out && k < 3; k++) {
                double re = rel_err(bind[1 + k], ref[k].data, out_bytes[k] / 4);
                fprintf(stderr, "%s %s output %d: rel err %.3g\n", pname, pass ? "graph" : "plain", k, re);
                KS_T_CHECK_MSG(re <= tol, "%s %s output %d: rel err %g > %g", pname,
                               pass ? "graph" : "plain", k, re, tol);
            }
        }
        for (int k = 0; k < n_out && k < 3; k++)
            free(bind[1 + k]);
        ks_cuda_stream_destroy(stream);
        ks_exec_context_destroy(ec);
    }
    ks_engine_destroy(e2);
    remove(epath);
    for (int k = 0; k < 3; k++)
        ks_tensor_release(ctx, &ref[k]);
    ks_model_destroy(m);
    ks_context_destroy(c2);
    ks_context_destroy(ctx);
}

int main(void) {
    host_desc_checks();
    host_lowering_checks();
    if (!ks_cuda_available()) { /* also 0 when built without CUDA */
        if (ks_t_failures_)
            return ks_t_done();
        KS_T_SKIP("GPU part: no GPU or built without CUDA (host checks passed)");
    }
    gpu_run(KS_PRECISION_FP32, 0);
    gpu_run(KS_PRECISION_FP16, 0);
#ifdef KS_TEST_PLUGIN_PATH
    gpu_run(KS_PRECISION_FP32, 1);
    gpu_run(KS_PRECISION_FP16, 1);
#endif
    return ks_t_done();
}
