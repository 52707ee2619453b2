/* Engine API pieces that need no GPU (config defaults, pass names), and the
 * whole engine API as KS_NO_DEVICE stubs when the library is built without
 * CUDA. */
#include <string.h>

#include "core/core.h"
#include "kestrel/engine.h"

void ks_build_config_init(ks_build_config *cfg) {
    if (!cfg)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->precision = KS_PRECISION_FP32;
    cfg->tactic_timing = 1;
    cfg->keep_io_dtypes = 1;
}

static const char *const pass_names[] = {
#define KS_X_(e, name, help) name,
    KS_PASS_LIST(KS_X_)
#undef KS_X_
};
_Static_assert(KS_ARRAY_LEN(pass_names) == KS_PASS_COUNT, "pass names");

const char *ks_pass_name(ks_pass p) { return (unsigned)p < KS_PASS_COUNT ? pass_names[p] : NULL; }

ks_pass ks_pass_from_name(const char *name) {
    for (int i = 0; name && i < KS_PASS_COUNT; i++)
        if (!strcmp(pass_names[i], name))
            return (ks_pass)i;
    return KS_PASS_COUNT;
}

#ifndef KS_HAVE_CUDA
#define NODEV(ctx) ((ctx) ? ks__error((ctx), KS_NO_DEVICE, "kestrel was built without CUDA") : KS_NO_DEVICE)
ks_status ks_engine_build(ks_model *model, const ks_build_config *cfg, ks_engine **out) {
    (void)model; (void)cfg;
    if (out) *out = NULL;
    return KS_NO_DEVICE;
}
ks_status ks_engine_save(const ks_engine *e, const char *path) { (void)e; (void)path; return KS_NO_DEVICE; }
ks_status ks_engine_serialize(const ks_engine *e, void **d, size_t *n) { (void)e; (void)d; (void)n; return KS_NO_DEVICE; }
void ks_engine_free_buffer(const ks_engine *e, void *d) { (void)e; (void)d; }
ks_status ks_engine_load_file(ks_context *ctx, const char *path, ks_engine **out) {
    (void)path;
    if (out) *out = NULL;
    return NODEV(ctx);
}
ks_status ks_engine_load_memory(ks_context *ctx, const void *data, size_t n, ks_engine **out) {
    (void)data; (void)n;
    if (out) *out = NULL;
    return NODEV(ctx);
}
void ks_engine_destroy(ks_engine *e) { (void)e; }
ks_context *ks_engine_context(const ks_engine *e) { (void)e; return NULL; }
int ks_engine_num_inputs(const ks_engine *e) { (void)e; return 0; }
int ks_engine_num_outputs(const ks_engine *e) { (void)e; return 0; }
const char *ks_engine_binding_name(const ks_engine *e, int i) { (void)e; (void)i; return NULL; }
int ks_engine_binding_index(const ks_engine *e, const char *n) { (void)e; (void)n; return -1; }
ks_status ks_engine_binding_info(const ks_engine *e, int i, ks_dtype *dt, int *nd, int64_t d[KS_MAX_DIMS]) {
    (void)e; (void)i; (void)dt; (void)nd; (void)d; return KS_NO_DEVICE;
}
int ks_engine_num_layers(const ks_engine *e) { (void)e; return 0; }
ks_status ks_engine_memory_report(const ks_engine *e, ks_engine_memory *o) { (void)e; (void)o; return KS_NO_DEVICE; }
const char *ks_engine_build_report(const ks_engine *e) { (void)e; return ""; }
double ks_engine_build_seconds(const ks_engine *e) { (void)e; return 0.0; }
ks_status ks_exec_context_create(ks_engine *e, ks_exec_context **out) { (void)e; if (out) *out = NULL; return KS_NO_DEVICE; }
void ks_exec_context_destroy(ks_exec_context *ec) { (void)ec; }
ks_status ks_exec_set_input_shape(ks_exec_context *ec, const char *n, int nd, const int64_t *d) {
    (void)ec; (void)n; (void)nd; (void)d; return KS_NO_DEVICE;
}
ks_status ks_exec_binding_shape(const ks_exec_context *ec, int i, int *nd, int64_t d[KS_MAX_DIMS]) {
    (void)ec; (void)i; (void)nd; (void)d; return KS_NO_DEVICE;
}
ks_status ks_exec_set_cuda_graph(ks_exec_context *ec, int en) { (void)ec; (void)en; return KS_NO_DEVICE; }
ks_status ks_exec_set_profiling(ks_exec_context *ec, int en) { (void)ec; (void)en; return KS_NO_DEVICE; }
int ks_exec_aux_streams(const ks_exec_context *ec) { (void)ec; return 0; }
ks_status ks_exec_run(ks_exec_context *ec, void *s, void *const *b) { (void)ec; (void)s; (void)b; return KS_NO_DEVICE; }
int ks_exec_get_profile(const ks_exec_context *ec, ks_layer_profile *o, int cap) { (void)ec; (void)o; (void)cap; return 0; }
int ks_cuda_available(void) { return 0; }
ks_status ks_cuda_stream_create(void **s) { if (s) *s = NULL; return KS_NO_DEVICE; }
void ks_cuda_stream_destroy(void *s) { (void)s; }
ks_status ks_cuda_stream_synchronize(void *s) { (void)s; return KS_NO_DEVICE; }
ks_status ks_cuda_device_info(char *name, size_t nb, int *sm) { (void)name; (void)nb; (void)sm; return KS_NO_DEVICE; }
#endif
