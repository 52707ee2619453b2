/* Helpers for the GPU tests: CPU-reference vs GPU-engine comparison of a
 * model (file or in-memory ONNX), through the public API only. */
#ifndef KS_TEST_GPU_TEST_H
#define KS_TEST_GPU_TEST_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kestrel/engine.h"
#include "kestrel/kestrel.h"

#define GT_MAX_IO 16
#define GT_LEN(a) (sizeof(a) / sizeof((a)[0]))

static inline void gt_require_gpu(void) {
    if (!ks_cuda_available() && !getenv("KS_TEST_NO_GPU_RUN"))
        KS_T_SKIP("no GPU: CUDA device not available (or library built without CUDA)");
}

static inline float gt_get(const ks_tensor *t, int64_t i) {
    switch (t->dtype) {
    case KS_DTYPE_FLOAT32: return ((const float *)t->data)[i];
    case KS_DTYPE_FLOAT16: return ks_half_to_float(((const uint16_t *)t->data)[i]);
    case KS_DTYPE_INT64: return (float)((const int64_t *)t->data)[i];
    case KS_DTYPE_INT32: return (float)((const int32_t *)t->data)[i];
    case KS_DTYPE_UINT8: case KS_DTYPE_BOOL: return (float)((const uint8_t *)t->data)[i];
    case KS_DTYPE_INT8: return (float)((const int8_t *)t->data)[i];
    default: return NAN;
    }
}

static uint64_t gt_rng = 0x243F6A8885A308D3ull;
static inline float gt_uniform(float lo, float hi) {
    gt_rng ^= gt_rng << 13;
    gt_rng ^= gt_rng >> 7;
    gt_rng ^= gt_rng << 17;
    return lo + (hi - lo) * (float)((gt_rng >> 40) & 0xffffff) / 16777216.0f;
}

static inline void gt_fill(ks_tensor *t, float lo, float hi) {
    int64_t n = ks_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        float v = gt_uniform(lo, hi);
        if (t->dtype == KS_DTYPE_FLOAT32) ((float *)t->data)[i] = v;
        else if (t->dtype == KS_DTYPE_FLOAT16) ((uint16_t *)t->data)[i] = ks_float_to_half(v);
        else if (t->dtype == KS_DTYPE_INT64) ((int64_t *)t->data)[i] = (int64_t)(v * 4);
        else if (t->dtype == KS_DTYPE_INT32) ((int32_t *)t->data)[i] = (int32_t)(v * 4);
        else memset(t->data, 0, ks_tensor_nbytes(t));
    }
}

typedef struct gt_opts {
    ks_precision precision;
    double tol;                 /* relative L2 error bound */
    const ks_input_shape *shapes;
    int n_shapes;
    float lo, hi;               /* input range */
    int check_roundtrip;        /* serialize + load + rerun; compare */
    int check_graph;            /* CUDA-graph replay; compare */
    uint32_t disable_passes;
    const char *label;
    const float *input0;        /* optional: values of input 0 (float32, its numel), else random */
    int io_fp16;                /* build with keep_io_dtypes 0: FP16 bindings (the CPU reference
                                   gets the same FP16-rounded inputs in its declared dtype) */
} gt_opts;

/* ||a - b|| / ||b|| (L2); NaN anywhere -> inf. */
static inline double gt_rel_l2(const ks_tensor *a, const ks_tensor *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = gt_get(a, i), y = gt_get(b, i);
        if (x != x || y != y)
            return INFINITY;
        num += (x - y) * (x - y);
        den += y * y;
    }
    if (den == 0)
        return sqrt(num);
    return sqrt(num / den);
}

/* Loads the model twice (CPU reference and GPU build), runs both on the same
 * random inputs and checks every output. Returns the worst relative error
 * (or -1 if something failed; failures are recorded as CHECK failures). */
static inline double gt_compare(ks_context *ctx, const char *path, const void *bytes, size_t n_bytes,
                                const gt_opts *o) {
    ks_model *mc = NULL, *mg = NULL;
    ks_status st = path ? ks_model_load_file(ctx, path, NULL, &mc) : ks_model_load_memory(ctx, bytes, n_bytes, NULL, &mc);
    KS_T_CHECK_OK(ctx, st);
    if (st != KS_OK)
        return -1;
    st = path ? ks_model_load_file(ctx, path, NULL, &mg) : ks_model_load_memory(ctx, bytes, n_bytes, NULL, &mg);
    KS_T_CHECK_OK(ctx, st);
    for (int i = 0; i < o->n_shapes; i++)
        KS_T_CHECK_OK(ctx, ks_model_set_input_shape(mc, o->shapes[i].name, o->shapes[i].ndim, o->shapes[i].dims));
    KS_T_CHECK_OK(ctx, ks_model_optimize(mc));
    ks_build_config cfg;
    ks_build_config_init(&cfg);
    cfg.precision = o->precision;
    cfg.input_shapes = o->shapes;
    cfg.n_input_shapes = o->n_shapes;
    cfg.disable_passes = o->disable_passes;
    cfg.keep_io_dtypes = !o->io_fp16;
    if (getenv("KS_TEST_NO_TACTICS")) /* diagnostics: own default kernels only */
        cfg.tactic_timing = 0;
    ks_engine *e = NULL;
    st = ks_engine_build(mg, &cfg, &e);
    KS_T_CHECK_MSG(st == KS_OK, "%s: build: %s: %s", o->label, ks_status_name(st), ks_context_last_error(ctx));
    double worst = -1;
    int ni = ks_model_num_inputs(mc), no = ks_model_num_outputs(mc);
    ks_tensor in[GT_MAX_IO], rin[GT_MAX_IO], ref[GT_MAX_IO], got[GT_MAX_IO], got2[GT_MAX_IO];
    const char *names[GT_MAX_IO];
    memset(in, 0, sizeof in);
    memset(rin, 0, sizeof rin);
    memset(ref, 0, sizeof ref);
    memset(got, 0, sizeof got);
    memset(got2, 0, sizeof got2);
    ks_session *s = NULL;
    ks_exec_context *ec = NULL;
    if (st != KS_OK || ni > GT_MAX_IO || no > GT_MAX_IO)
        goto out;
    KS_T_CHECK_EQ_I(ks_engine_num_inputs(e), ni);
    KS_T_CHECK_EQ_I(ks_engine_num_outputs(e), no);
    for (int i = 0; i < ni; i++) {
        names[i] = ks_model_input_name(mc, i);
        KS_T_CHECK_OK(ctx, ks_engine_binding_info(e, i, &in[i].dtype, &in[i].ndim, in[i].dims));
        KS_T_CHECK_OK(ctx, ks_tensor_alloc(ctx, &in[i]));
        if (i == 0 && o->input0) {
            int64_t n0 = ks_tensor_numel(&in[0]);
            for (int64_t j = 0; j < n0; j++) {
                if (in[0].dtype == KS_DTYPE_FLOAT16)
                    ((uint16_t *)in[0].data)[j] = ks_float_to_half(o->input0[j]);
                else
                    ((float *)in[0].data)[j] = o->input0[j];
            }
        } else {
            gt_fill(&in[i], o->lo, o->hi);
        }
    }
    /* the CPU reference takes each input in the model's declared dtype (an FP16 binding of a
       float32 input is widened: the same values) */
    for (int i = 0; i < ni; i++) {
        int64_t md[KS_MAX_DIMS];
        int mnd = 0;
        KS_T_CHECK_OK(ctx, ks_model_input_info(mc, i, &rin[i].dtype, &mnd, md, NULL));
        if (o->io_fp16 && o->precision == KS_PRECISION_FP16 && rin[i].dtype == KS_DTYPE_FLOAT32)
            KS_T_CHECK_MSG(in[i].dtype == KS_DTYPE_FLOAT16, "%s: io_fp16: input %d bound as %s", o->label, i,
                           ks_dtype_name(in[i].dtype));
        if (!o->io_fp16)
            KS_T_CHECK_MSG(in[i].dtype == rin[i].dtype, "%s: input %d bound as %s, declared %s", o->label, i,
                           ks_dtype_name(in[i].dtype), ks_dtype_name(rin[i].dtype));
        if (rin[i].dtype == in[i].dtype || rin[i].dtype != KS_DTYPE_FLOAT32) {
            rin[i] = in[i];
            rin[i].data = NULL; /* borrowed below */
            continue;
        }
        rin[i].ndim = in[i].ndim;
        memcpy(rin[i].dims, in[i].dims, sizeof rin[i].dims);
        KS_T_CHECK_OK(ctx, ks_tensor_alloc(ctx, &rin[i]));
        for (int64_t j = 0; rin[i].data && j < ks_tensor_numel(&in[i]); j++)
            ((float *)rin[i].data)[j] = gt_get(&in[i], j);
    }
    ks_tensor rin_run[GT_MAX_IO];
    for (int i = 0; i < ni; i++) {
        rin_run[i] = rin[i];
        if (!rin[i].data)
            rin_run[i].data = in[i].data;
    }
    KS_T_CHECK_OK(ctx, ks_session_create(mc, NULL, &s));
    st = ks_session_run(s, ni, names, rin_run, 0, NULL, ref);
    KS_T_CHECK_OK(ctx, st);
    if (st != KS_OK)
        goto out;
    void *bind[2 * GT_MAX_IO];
    for (int i = 0; i < ni; i++)
        bind[i] = in[i].data;
    for (int k = 0; k < no; k++) {
        KS_T_CHECK_OK(ctx, ks_engine_binding_info(e, ni + k, &got[k].dtype, &got[k].ndim, got[k].dims));
        KS_T_CHECK_OK(ctx, ks_tensor_alloc(ctx, &got[k]));
        got2[k] = got[k];
        got2[k].data = NULL;
        KS_T_CHECK_OK(ctx, ks_tensor_alloc(ctx, &got2[k]));
        memset(got[k].data, 0xff, ks_tensor_nbytes(&got[k])); /* poison: NaN */
        bind[ni + k] = got[k].data;
    }
    KS_T_CHECK_OK(ctx, ks_exec_context_create(e, &ec));
    if (!ec)
        goto out;
    st = ks_exec_run(ec, NULL, bind);
    KS_T_CHECK_OK(ctx, st);
    KS_T_CHECK_OK(ctx, ks_cuda_stream_synchronize(NULL));
    worst = 0;
    for (int k = 0; k < no; k++) {
        /* io_fp16: a float output may be bound as float16 (or float32 where kept in FP32) */
        int same = ref[k].ndim == got[k].ndim &&
                   (ref[k].dtype == got[k].dtype ||
                    (o->io_fp16 && (ref[k].dtype == KS_DTYPE_FLOAT32 || ref[k].dtype == KS_DTYPE_FLOAT16) &&
                     (got[k].dtype == KS_DTYPE_FLOAT32 || got[k].dtype == KS_DTYPE_FLOAT16)));
        for (int d = 0; same && d < ref[k].ndim; d++)
            same = ref[k].dims[d] == got[k].dims[d];
        KS_T_CHECK_MSG(same, "%s: output %d shape/dtype differs from the CPU reference", o->label, k);
        if (!same) {
            worst = INFINITY;
            continue;
        }
        double r = gt_rel_l2(&got[k], &ref[k], ks_tensor_numel(&ref[k]));
        KS_T_CHECK_MSG(r <= o->tol, "%s: output '%s' rel L2 error %.3g > %.3g", o->label,
                       ks_model_output_name(mc, k), r, o->tol);
        if (r > worst)
            worst = r;
    }
    if (o->check_roundtrip) {
        void *buf = NULL;
        size_t nb = 0;
        KS_T_CHECK_OK(ctx, ks_engine_serialize(e, &buf, &nb));
        ks_engine *e2 = NULL;
        KS_T_CHECK_OK(ctx, ks_engine_load_memory(ctx, buf, nb, &e2));
        ks_engine_free_buffer(e, buf);
        if (e2) {
            ks_exec_context *ec2 = NULL;
            KS_T_CHECK_OK(ctx, ks_exec_context_create(e2, &ec2));
            void *b2[2 * GT_MAX_IO];
            for (int i = 0; i < ni; i++)
                b2[i] = in[i].data;
            for (int k = 0; k < no; k++)
                b2[ni + k] = got2[k].data;
            KS_T_CHECK_OK(ctx, ks_exec_run(ec2, NULL, b2));
            KS_T_CHECK_OK(ctx, ks_cuda_stream_synchronize(NULL));
            for (int k = 0; k < no; k++)
                KS_T_CHECK_MSG(memcmp(got[k].data, got2[k].data, ks_tensor_nbytes(&got[k])) == 0,
                               "%s: reloaded engine output %d differs", o->label, k);
            ks_exec_context_destroy(ec2);
            ks_engine_destroy(e2);
        }
    }
    if (o->check_graph) {
        void *stream = NULL;
        KS_T_CHECK_OK(ctx, ks_cuda_stream_create(&stream));
        ks_exec_context *ec3 = NULL;
        KS_T_CHECK_OK(ctx, ks_exec_context_create(e, &ec3));
        if (ec3 && stream) {
            ks_exec_set_cuda_graph(ec3, 1);
            void *b3[2 * GT_MAX_IO];
            for (int i = 0; i < ni; i++)
                b3[i] = in[i].data;
            for (int k = 0; k < no; k++) {
                memset(got2[k].data, 0xff, ks_tensor_nbytes(&got2[k]));
                b3[ni + k] = got2[k].data;
            }
            for (int rep = 0; rep < 3; rep++)
                KS_T_CHECK_OK(ctx, ks_exec_run(ec3, stream, b3));
            KS_T_CHECK_OK(ctx, ks_cuda_stream_synchronize(stream));
            for (int k = 0; k < no; k++)
                KS_T_CHECK_MSG(memcmp(got[k].data, got2[k].data, ks_tensor_nbytes(&got[k])) == 0,
                               "%s: CUDA-graph output %d differs from eager", o->label, k);
        }
        ks_exec_context_destroy(ec3);
        ks_cuda_stream_destroy(stream);
    }
out:
    ks_exec_context_destroy(ec);
    ks_session_destroy(s);
    for (int i = 0; i < GT_MAX_IO; i++) {
        ks_tensor_release(ctx, &in[i]);
        ks_tensor_release(ctx, &rin[i]);
        ks_tensor_release(ctx, &ref[i]);
        ks_tensor_release(ctx, &got[i]);
        ks_tensor_release(ctx, &got2[i]);
    }
    ks_engine_destroy(e);
    ks_model_destroy(mc);
    ks_model_destroy(mg);
    return worst;
}
#endif
