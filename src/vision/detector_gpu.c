/* ks_detector GPU path: upload (host frames only) -> preprocess kernel -> engine run ->
 * decode kernel -> NMS kernel (boxes mapped back through each image's inverse
 * transform) on one CUDA stream; the only device->host copies are the final fixed-size
 * NMS outputs (into pinned buffers), followed by one stream synchronisation per batch.
 *
 * Device frames: from the second call with the same (image count, frame sizes, formats,
 * pointers) the whole sequence — preprocess, transform upload, ks_exec_run, decode, NMS, result
 * copies — is ONE CUDA graph captured from the stream and replayed (a few entries cached; a
 * new frame pointer re-captures and updates the executable graph in place). The engine's own
 * graph mode is off for this execution context (no nested capture). KESTREL_DETECTOR_GRAPH=0
 * turns replay off; KESTREL_DETECTOR_PROFILE=1 runs eagerly with CUDA events between the stages
 * and logs the mean split (INFO) when the detector is destroyed.
 *
 * The engine comes from ks_engine_build (ONNX model; built for opt.max_batch images —
 * graphs exported with a hard-coded batch of 1 are first rewritten by ks__graph_set_batch —
 * or batch 1 when that is refused) or ks_engine_load_file (engine file; the family is
 * detected from the binding names and shapes as for a model). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "kestrel/engine.h"
#include "vision/detector_internal.h"
#include "core/model_internal.h"
#include "graph/pass_batch.h"
#include "format/engine_format.h"
#include "plugins/decode/decode_plugin.h"
#include "plugins/nms/nms_plugin.h"

#ifdef KS_HAVE_CUDA

#define KS_DET_GRAPHS 4
#define KS_DET_STAGES 5 /* preprocess (+transforms), engine, decode, NMS, result copy */

typedef struct ks_det_graph_key {
    int m;
    struct {
        const void *data, *p1, *p2;
        int32_t w, h, stride, stride1;
        int fmt;
    } img[KS_VPREP_MAX_BATCH];
} ks_det_graph_key;

typedef struct ks_det_graph {
    void *exec;
    ks_det_graph_key key;
    uint64_t last_use;
} ks_det_graph;

typedef struct ks_detector_gpu {
    ks_engine *engine;
    ks_exec_context *ec;
    void *stream;
    int batch;                         /* engine batch */
    int n_in, n_out;
    void *bind[1 + KS_DET_MAX_IO];     /* device buffers, binding order */
    /* post-processing engines: every output in one device block (bind[1..] point into it) and its pinned
     * mirror (h_counts .. h_lm point into it), so the results come back in one copy; NULL otherwise */
    void *d_out;
    void *h_out;
    size_t out_bytes, out_off[KS_DET_MAX_IO];
    int64_t out_dims[KS_DET_MAX_IO][KS_MAX_DIMS];
    int out_ndim[KS_DET_MAX_IO];
    ks_dtype out_dtype[KS_DET_MAX_IO];
    ks_decode_params dec;              /* for `batch` images */
    float *d_priors;
    float *d_cboxes, *d_cscores, *d_clm;
    int32_t *d_ccls;
    int32_t *d_counts, *d_classes;
    float *d_boxes, *d_scores, *d_lm;
    ks_affine *d_tf;
    void *d_ws;
    size_t ws_bytes;
    ks_image dimg[KS_VPREP_MAX_BATCH]; /* device copies of host frames */
    size_t dimg_bytes[KS_VPREP_MAX_BATCH];
    int corners_decided;               /* engine files: UltraFace variant decided */
    /* pinned host copies of the NMS outputs and the transforms */
    int32_t *h_counts, *h_classes;
    float *h_boxes, *h_scores, *h_lm;
    ks_affine *h_tf;
    /* whole-pipeline CUDA graphs */
    int graph_broken, profile, layer_profile;
    ks_det_graph graphs[KS_DET_GRAPHS];
    ks_det_graph_key seen;             /* last eager call's key: capture on the second */
    uint64_t tick;
    int64_t n_replays, n_captures;
    void *ev[KS_DET_STAGES + 1];
    double stage_ms[KS_DET_STAGES];
    int64_t n_profiled;
} ks_detector_gpu;

#define CU(call, what)                                                                                   \
    do {                                                                                                 \
        const char *msg_ = "";                                                                           \
        if (call)                                                                                        \
            return ks__error(d->ctx, KS_DEVICE_ERROR, "%s: %s: %s", d->path, what, msg_);                \
    } while (0)

static ks_status dev_alloc(ks_detector *d, void **p, size_t n, const char *what) {
    const char *msg = "";
    if (ks__cuda_malloc(p, n, &msg))
        return ks__error(d->ctx, KS_OUT_OF_MEMORY, "%s: cudaMalloc(%zu) for %s: %s", d->path, n, what, msg);
    return KS_OK;
}

/* Logs (INFO) and resets the stage split gathered while KESTREL_DETECTOR_PROFILE was set. */
static void report_split(ks_detector *d) {
    ks_detector_gpu *g = d->gpu;
    if (g->n_profiled <= 0)
        return;
    double *t = g->stage_ms, tot = 0;
    for (int i = 0; i < KS_DET_STAGES; i++)
        tot += t[i];
    double n = (double)g->n_profiled;
    if (d->postprocess) {
        ks__log(d->ctx, KS_LOG_INFO,
                "stage split (batch %d, mean of %lld calls, CUDA events): preprocess %.4f ms, engine with decode + NMS "
                "inside %.4f ms, result copy %.4f ms; sum %.4f ms; preprocess %.1f %%",
                g->batch, (long long)g->n_profiled, t[0] / n, (t[1] + t[2] + t[3]) / n, t[4] / n, tot / n,
                tot > 0 ? 100.0 * t[0] / tot : 0.0);
        /* KESTREL_DETECTOR_PROFILE=layers: the appended layers (ks_postprocess/...) timed inside the engine
           with events around each layer (which also lengthens the engine stage: an upper bound for both) */
        int nl = g->layer_profile ? ks_exec_get_profile(g->ec, NULL, 0) : 0;
        ks_layer_profile *lp = nl > 0 ? ks__alloc_array(d->ctx, (size_t)nl, sizeof(ks_layer_profile)) : NULL;
        if (lp) {
            nl = ks_exec_get_profile(g->ec, lp, nl);
            double pp_ms = 0, net_ms = 0;
            int n_pp = 0;
            for (int i = 0; i < nl; i++) {
                if (!strncmp(lp[i].name, "ks_postprocess/", 15))
                    pp_ms += lp[i].mean_ms, n_pp++;
                else
                    net_ms += lp[i].mean_ms;
            }
            double per = tot / n;
            ks__log(d->ctx, KS_LOG_INFO,
                    "inside the engine (events around each of %d layers, mean of %lld runs): network %.4f ms, decode + "
                    "NMS %.4f ms (%d layers); preprocess + decode + NMS + result copy %.1f %% of the stage sum",
                    nl, (long long)(nl ? lp[0].n_runs : 0), net_ms, pp_ms, n_pp,
                    per > 0 ? 100.0 * (t[0] / n + pp_ms + t[4] / n) / per : 0.0);
            ks__free(d->ctx, lp);
        }
        memset(g->stage_ms, 0, sizeof(g->stage_ms));
        g->n_profiled = 0;
        return;
    }
    ks__log(d->ctx, KS_LOG_INFO,
            "stage split (batch %d, mean of %lld calls, CUDA events): preprocess %.4f ms, engine %.4f ms, "
            "decode %.4f ms, NMS %.4f ms, result copy %.4f ms; sum %.4f ms; pre+decode+NMS %.1f %%",
            g->batch, (long long)g->n_profiled, t[0] / n, t[1] / n, t[2] / n, t[3] / n, t[4] / n, tot / n,
            tot > 0 ? 100.0 * (t[0] + t[2] + t[3]) / tot : 0.0);
    memset(g->stage_ms, 0, sizeof(g->stage_ms));
    g->n_profiled = 0;
}

void ks__detector_gpu_destroy(ks_detector *d) {
    ks_detector_gpu *g = d ? d->gpu : NULL;
    if (!g)
        return;
    if (g->stream) {
        const char *msg;
        ks__cuda_stream_sync(g->stream, &msg);
    }
    report_split(d);
    for (int i = 0; i < KS_DET_GRAPHS; i++)
        ks__cuda_graph_destroy(g->graphs[i].exec);
    for (int i = 0; i <= KS_DET_STAGES; i++)
        ks__cuda_event_destroy(g->ev[i]);
    if (g->h_out) { /* the result pointers point into the pinned block (landmarks only when the engine has them) */
        const int *pp = d->pp_out;
        if (pp[4] >= 0)
            g->h_lm = NULL;
        g->h_counts = g->h_classes = NULL;
        g->h_boxes = g->h_scores = NULL;
        ks__cuda_host_free(g->h_out);
    }
    void *pinned[] = {g->h_counts, g->h_classes, g->h_boxes, g->h_scores, g->h_lm, g->h_tf};
    for (size_t i = 0; i < KS_ARRAY_LEN(pinned); i++)
        ks__cuda_host_free(pinned[i]);
    ks_exec_context_destroy(g->ec);
    ks_engine_destroy(g->engine);
    for (int i = 0; i < 1 + KS_DET_MAX_IO; i++)
        if (!g->d_out || i == 0) /* with the output block, bind[1..] point into it */
            ks__cuda_free(g->bind[i]);
    ks__cuda_free(g->d_out);
    void *bufs[] = {g->d_priors, g->d_cboxes, g->d_cscores, g->d_clm, g->d_ccls, g->d_counts, g->d_classes,
                    g->d_boxes, g->d_scores, g->d_lm, g->d_tf, g->d_ws};
    for (size_t i = 0; i < KS_ARRAY_LEN(bufs); i++)
        ks__cuda_free(bufs[i]);
    for (int i = 0; i < KS_VPREP_MAX_BATCH; i++)
        ks_image_release(d->ctx, &g->dimg[i]);
    ks__cuda_stream_destroy(g->stream);
    ks__free(d->ctx, g);
    d->gpu = NULL;
}

/* Engines with the post-processing inside: the outputs are the fixed-size NMS results in
 * network pixels; only pinned copies of them are needed (the transforms are applied on the
 * host to the kept boxes). */
static ks_status gpu_init_postprocess(ks_detector *d) {
    ks_detector_gpu *g = d->gpu;
    ks_det_io io;
    memset(&io, 0, sizeof io);
    io.n_outputs = g->n_out;
    for (int i = 0; i < g->n_out; i++)
        snprintf(io.out_names[i], sizeof io.out_names[i], "%s", ks_engine_binding_name(g->engine, 1 + i));
    if (!ks__det_io_postprocessed(&io, d->pp_out))
        return ks__error(d->ctx, KS_INVALID_MODEL, "%s: engine outputs are not num_detections, detection_boxes, ...",
                         d->path);
    int64_t M = g->out_ndim[d->pp_out[2]] == 2 ? g->out_dims[d->pp_out[2]][1] : -1;
    const int *pp = d->pp_out;
    int ok = M > 0 && M <= 100000 && g->out_dtype[pp[0]] == KS_DTYPE_INT32 && g->out_dtype[pp[1]] == KS_DTYPE_FLOAT32 &&
             g->out_dtype[pp[2]] == KS_DTYPE_FLOAT32 && g->out_dtype[pp[3]] == KS_DTYPE_INT32 &&
             g->out_ndim[pp[1]] == 3 && g->out_dims[pp[1]][1] == M && g->out_dims[pp[1]][2] == 4 &&
             g->out_dims[pp[0]][0] == g->batch && g->out_dims[pp[2]][0] == g->batch;
    if (pp[4] >= 0)
        ok &= g->out_dtype[pp[4]] == KS_DTYPE_FLOAT32 && g->out_ndim[pp[4]] == 3 && g->out_dims[pp[4]][1] == M &&
              g->out_dims[pp[4]][2] == 2 * KS_MAX_LANDMARKS;
    if (!ok)
        return ks__error(d->ctx, KS_INVALID_MODEL, "%s: post-processing outputs have unexpected dtypes or shapes",
                         d->path);
    d->opt.max_detections = (int32_t)M;
    d->pp_landmarks = pp[4] >= 0 ? KS_MAX_LANDMARKS : 0;
    g->corners_decided = 1;
    size_t B = (size_t)g->batch, MM = (size_t)M;
    if (g->d_out) { /* the pinned mirror of the output block */
        CU(ks__cuda_host_alloc(&g->h_out, g->out_bytes, &msg_), "pinned results");
        char *h = (char *)g->h_out;
        g->h_counts = (int32_t *)(h + g->out_off[pp[0]]);
        g->h_boxes = (float *)(h + g->out_off[pp[1]]);
        g->h_scores = (float *)(h + g->out_off[pp[2]]);
        g->h_classes = (int32_t *)(h + g->out_off[pp[3]]);
        if (pp[4] >= 0)
            g->h_lm = (float *)(h + g->out_off[pp[4]]);
        else
            CU(ks__cuda_host_alloc((void **)&g->h_lm, B * MM * 8 * KS_MAX_LANDMARKS, &msg_), "pinned results");
    } else {
        CU(ks__cuda_host_alloc((void **)&g->h_counts, B * 4, &msg_), "pinned results");
        CU(ks__cuda_host_alloc((void **)&g->h_classes, B * MM * 4, &msg_), "pinned results");
        CU(ks__cuda_host_alloc((void **)&g->h_boxes, B * MM * 16, &msg_), "pinned results");
        CU(ks__cuda_host_alloc((void **)&g->h_scores, B * MM * 4, &msg_), "pinned results");
        CU(ks__cuda_host_alloc((void **)&g->h_lm, B * MM * 8 * KS_MAX_LANDMARKS, &msg_), "pinned results");
    }
    CU(ks__cuda_host_alloc((void **)&g->h_tf, B * sizeof(ks_affine), &msg_), "pinned transforms");
    g->dec.n_landmarks = d->pp_landmarks;
    return KS_OK;
}

/* Everything after the engine exists: execution context, buffers, decode params. */
static ks_status gpu_init(ks_detector *d) {
    ks_detector_gpu *g = d->gpu;
    ks_context *ctx = d->ctx;
    const char *msg_ = "";
    if (ks__cuda_stream_create(&g->stream, &msg_))
        return ks__error(ctx, KS_DEVICE_ERROR, "%s: creating a CUDA stream: %s", d->path, msg_);
    KS_CHECK(ks_exec_context_create(g->engine, &g->ec));
    KS_CHECK(ks_exec_set_cuda_graph(g->ec, 0)); /* the detector captures the whole pipeline */
    g->n_in = ks_engine_num_inputs(g->engine);
    g->n_out = ks_engine_num_outputs(g->engine);
    if (g->n_in != 1 || g->n_out < 1 || g->n_out > KS_DET_MAX_IO)
        return ks__error(ctx, KS_INVALID_MODEL, "%s: engine has %d inputs and %d outputs", d->path, g->n_in, g->n_out);
    ks_dtype dt;
    int nd;
    int64_t dims[KS_MAX_DIMS];
    KS_CHECK(ks_engine_binding_info(g->engine, 0, &dt, &nd, dims));
    if (nd != 4 || dims[1] != 3 || dims[2] != d->in_h || dims[3] != d->in_w || dims[0] < 1)
        return ks__error(ctx, KS_UNSUPPORTED_SHAPE, "%s: engine input is not %s x 3 x %d x %d", d->path, "N",
                         (int)d->in_h, (int)d->in_w);
    if (dt == KS_DTYPE_FLOAT16 && d->in_dtype == KS_DTYPE_FLOAT32) {
        /* an FP16 engine with FP16 I/O (keep_io_dtypes 0): preprocessing writes FP16 */
        d->in_dtype = dt;
        d->pre.dtype = dt;
    }
    if (dt != d->in_dtype)
        return ks__error(ctx, KS_UNSUPPORTED_DTYPE, "%s: engine input dtype %s, expected %s", d->path,
                         ks_dtype_name(dt), ks_dtype_name(d->in_dtype));
    g->batch = (int)dims[0];
    d->opt.max_batch = g->batch; /* the batch actually built */
    size_t in_bytes = (size_t)g->batch * 3 * d->in_w * d->in_h * ks_dtype_size(dt);
    KS_CHECK(dev_alloc(d, &g->bind[0], in_bytes, "the network input"));
    /* post-processing engines (small fixed-size outputs): one block, one result copy per call
       (KESTREL_DET_PACKED=0: one buffer and one copy per output, the A/B of bench/VISION_RESULTS.md) */
    const char *pk = getenv("KESTREL_DET_PACKED");
    const int packed = d->postprocess && !(pk && pk[0] == '0');
    g->out_bytes = 0;
    for (int i = 0; i < g->n_out; i++) {
        KS_CHECK(ks_engine_binding_info(g->engine, 1 + i, &g->out_dtype[i], &g->out_ndim[i], g->out_dims[i]));
        ks_tensor t = {g->out_dtype[i], g->out_ndim[i], {0}, NULL};
        memcpy(t.dims, g->out_dims[i], sizeof(t.dims));
        size_t nb = ks_tensor_nbytes(&t);
        if (!nb)
            return ks__error(ctx, KS_UNSUPPORTED_SHAPE, "%s: engine output %d has no static size", d->path, i);
        if (packed) {
            g->out_off[i] = g->out_bytes;
            g->out_bytes += (nb + 255) & ~(size_t)255;
        } else {
            KS_CHECK(dev_alloc(d, &g->bind[1 + i], nb, "a network output"));
        }
    }
    if (packed) {
        KS_CHECK(dev_alloc(d, &g->d_out, g->out_bytes, "the network outputs"));
        for (int i = 0; i < g->n_out; i++)
            g->bind[1 + i] = (char *)g->d_out + g->out_off[i];
    }
    if (d->postprocess)
        return gpu_init_postprocess(d);
    KS_CHECK(ks__detector_decode_params(d, g->batch, (const int64_t(*)[KS_MAX_DIMS])g->out_dims, g->out_ndim,
                                        g->out_dtype, &g->dec));
    size_t B = (size_t)g->batch, R = (size_t)g->dec.n_rows, M = (size_t)d->opt.max_detections;
    KS_CHECK(dev_alloc(d, (void **)&g->d_cboxes, B * R * 16, "candidates"));
    KS_CHECK(dev_alloc(d, (void **)&g->d_cscores, B * R * 4, "candidates"));
    KS_CHECK(dev_alloc(d, (void **)&g->d_ccls, B * R * 4, "candidates"));
    KS_CHECK(dev_alloc(d, (void **)&g->d_clm, B * R * 40, "candidates"));
    KS_CHECK(dev_alloc(d, (void **)&g->d_counts, B * 4, "NMS outputs"));
    KS_CHECK(dev_alloc(d, (void **)&g->d_boxes, B * M * 16, "NMS outputs"));
    KS_CHECK(dev_alloc(d, (void **)&g->d_scores, B * M * 4, "NMS outputs"));
    KS_CHECK(dev_alloc(d, (void **)&g->d_classes, B * M * 4, "NMS outputs"));
    KS_CHECK(dev_alloc(d, (void **)&g->d_lm, B * M * 40, "NMS outputs"));
    KS_CHECK(dev_alloc(d, (void **)&g->d_tf, B * sizeof(ks_affine), "transforms"));
    CU(ks__cuda_host_alloc((void **)&g->h_counts, B * 4, &msg_), "pinned results");
    CU(ks__cuda_host_alloc((void **)&g->h_classes, B * M * 4, &msg_), "pinned results");
    CU(ks__cuda_host_alloc((void **)&g->h_boxes, B * M * 16, &msg_), "pinned results");
    CU(ks__cuda_host_alloc((void **)&g->h_scores, B * M * 4, &msg_), "pinned results");
    CU(ks__cuda_host_alloc((void **)&g->h_lm, B * M * 8 * KS_MAX_LANDMARKS, &msg_), "pinned results");
    CU(ks__cuda_host_alloc((void **)&g->h_tf, B * sizeof(ks_affine), &msg_), "pinned transforms");
    ks_nms_params np;
    ks__detector_nms_params(d, g->batch, g->dec.n_rows, g->dec.n_landmarks, &np);
    g->ws_bytes = ks_nms_cuda_workspace_bytes(&np);
    KS_CHECK(dev_alloc(d, &g->d_ws, g->ws_bytes, "NMS workspace"));
    if (d->priors) {
        KS_CHECK(dev_alloc(d, (void **)&g->d_priors, (size_t)d->n_priors * 16, "priors"));
        CU(ks__cuda_memcpy(g->d_priors, d->priors, (size_t)d->n_priors * 16, 1, NULL, &msg_), "uploading priors");
    }
    return KS_OK;
}

/* The file's graph again (after a refused batch rewrite or an appended post-processing),
 * with the input fixed and the output roles found. */
static ks_status reload_model(ks_detector *d) {
    ks_model_destroy(d->model);
    d->model = NULL;
    d->postprocess = 0;
    KS_CHECK(ks_model_load_file(d->ctx, d->path, NULL, &d->model));
    KS_CHECK(ks__det_io_from_model(d->ctx, d->model, &d->io));
    KS_CHECK(ks__detector_setup_input(d));
    return ks__detector_setup_outputs(d);
}

/* Appends decode + NMS (batch and output shapes re-read from the current graph first). */
static ks_status append_postprocess(ks_detector *d) {
    KS_CHECK(ks__det_io_from_model(d->ctx, d->model, &d->io));
    KS_CHECK(ks__detector_setup_outputs(d));
    return ks__detector_append_postprocess(d);
}

/* One attempt: an engine for `want` images, with decode + NMS inside when pp, from d->model
 * as it is now (the caller reloads it between attempts). */
static ks_status build_at(ks_detector *d, int want, int pp, int dyn_batch) {
    ks_context *ctx = d->ctx;
    d->gpu = ks__alloc(ctx, sizeof(ks_detector_gpu));
    if (!d->gpu)
        return ks__oom(ctx, sizeof(ks_detector_gpu), "GPU detector");
    ks_detector_gpu *g = d->gpu;
    ks_build_config cfg;
    ks_build_config_init(&cfg);
    cfg.precision = d->opt.fp16 ? KS_PRECISION_FP16 : KS_PRECISION_FP32;
    /* With decode + NMS inside, the outputs are the plugins' (float32 / int32) whatever the
       build precision, and the preprocessing kernel writes the FP16 input itself: no cast
       layer in front of the network. */
    const char *kn = getenv("KESTREL_DET_FP16_INPUT"); /* "0": the declared input dtype (A/B) */
    cfg.keep_io_dtypes = !(d->opt.fp16 && pp) || (kn && !strcmp(kn, "0"));
    ks_layer_precision split_fp32 = {KS_PP_SPLIT_NODE, KS_PRECISION_FP32};
    cfg.layer_precisions = &split_fp32;
    cfg.n_layer_precisions = 1;
    ks_input_shape shape = {d->input_name, 4, {want, 3, d->in_h, d->in_w}};
    cfg.input_shapes = &shape;
    cfg.n_input_shapes = 1;
    cfg.max_batch = want;
    ks_status st = KS_OK;
    if (want > 1 && d->io.in_dims[0] == 1) {
        /* Exported for batch 1 (constants such as Reshape targets hard-code it): rewrite the
           graph for `want` where the batch can be followed, else build the file's graph. */
        st = ks__graph_set_batch(d->model->graph, want);
        if (st == KS_OK) {
            ks__log(ctx, KS_LOG_INFO, "%s: graph rewritten for batch %d", d->path, want);
        } else {
            /* Refused (e.g. a Reshape to [-1, 1] merging the batch into the rows, which a
               batch-B build may still handle): back to the file's graph, built as it is. */
            ks__log(ctx, KS_LOG_INFO, "%s: batch rewrite refused: %s", d->path, ks_context_last_error(ctx));
            ks_context_clear_error(ctx);
            KS_CHECK(reload_model(d));
            st = KS_OK;
        }
    }
    /* decode + NMS inside the engine (after the batch rewrite, which does not follow plugins) */
    if (st == KS_OK && pp) {
        /* A dynamic batch was fixed to 1 by ks__detector_setup_input; the append folds the
           graph's shape subgraphs (ks_model_optimize), so give it the engine's batch first. */
        int vid = want > 1 && dyn_batch ? ks__graph_find_value(d->model->graph, d->input_name) : -1;
        if (vid >= 0 && d->model->graph->values[vid].t.ndim == 4)
            d->model->graph->values[vid].t.dims[0] = want;
        st = append_postprocess(d);
    }
    if (st == KS_OK)
        st = ks_engine_build(d->model, &cfg, &g->engine);
    if (st == KS_OK)
        st = gpu_init(d);
    return st;
}

/* After a failed attempt: frees it, reloads the model file and tries again for `want`
 * images, with or without decode + NMS inside. */
static ks_status rebuild(ks_detector *d, int want, int pp, int dyn_batch) {
    ks__log(d->ctx, KS_LOG_INFO, "%s: engine build failed (%s); building for batch %d%s", d->path,
            ks_context_last_error(d->ctx), want, pp ? " with post-processing" : " with separate decode + NMS");
    ks_context_clear_error(d->ctx);
    ks__detector_gpu_destroy(d);
    KS_CHECK(reload_model(d));
    return build_at(d, want, pp, dyn_batch);
}

ks_status ks__detector_gpu_create(ks_detector *d) {
    ks_context *ctx = d->ctx;
    if (!ks_cuda_available())
        return ks__error(ctx, KS_NO_DEVICE, "no CUDA device");
    int pp = ks__detector_want_postprocess(d, 1);
    int want = d->opt.max_batch > 0 ? d->opt.max_batch : 1;
    int dyn_batch = d->io.in_dims[0] < 0; /* declared dims (read before the input was fixed) */
    ks_status st = build_at(d, want, pp, dyn_batch);
    /* Fallbacks, each from the file's graph: the batch-`want` engine without post-processing
       inside (a graph the builder can batch may still not carry the appended plugins' shapes),
       then batch 1, which always works. */
    if (st != KS_OK && want > 1 && pp)
        st = rebuild(d, want, 0, dyn_batch);
    if (st != KS_OK && want > 1)
        st = rebuild(d, 1, pp, dyn_batch);
    if (st == KS_OK)
        d->opt.postprocess = d->postprocess;
    return st;
}

/* Engine files built with post-processing: family, input size and thresholds from the
 * DetectionDecode / BatchedNMS parameters stored in the file. */
static ks_status engine_postprocess_info(ks_detector *d) {
    ks_context *ctx = d->ctx;
    void *data = NULL;
    size_t n = 0;
    KS_CHECK(ks__read_file(ctx, d->path, &data, &n));
    ks_eng_desc desc;
    ks__eng_desc_init(&desc, ctx);
    ks_status st = ks__eng_parse(ctx, data, n, &desc);
    ks__free(ctx, data);
    if (st != KS_OK) {
        ks__eng_desc_free(&desc);
        return st;
    }
    int found_dec = 0, found_nms = 0;
    ks_decode_plugin_info info;
    memset(&info, 0, sizeof info);
    float nms_score = 0, iou = 0;
    int32_t top_k = 0, max_out = 0, aware = 0;
    for (int i = 0; i < desc.n_layers; i++) {
        const ks_eng_layer *l = &desc.layers[i];
        if (l->kind != KS_LAYER_PLUGIN)
            continue;
        const char *name = ks__eng_str(&desc, (uint32_t)l->ip[KS_ENG_PLUGIN_IP_NAME]);
        int64_t off = l->ip[KS_ENG_PLUGIN_IP_OFFSET], nb = l->ip[KS_ENG_PLUGIN_IP_BYTES];
        if (!name || off < 0 || nb < 0 || off + nb > desc.n_plugin_bytes)
            continue;
        const uint8_t *bytes = desc.plugin_data + off;
        if (!strcmp(name, "DetectionDecode") && !found_dec)
            found_dec = !ks__decode_plugin_peek(bytes, (size_t)nb, &info);
        else if (!strcmp(name, "BatchedNMS") && !found_nms)
            found_nms = !ks__nms_plugin_peek(bytes, (size_t)nb, &nms_score, &iou, &top_k, &max_out, &aware);
    }
    ks__eng_desc_free(&desc);
    if (!found_dec || !found_nms)
        return ks__error(ctx, KS_INVALID_MODEL,
                         "%s: the engine has post-processing outputs but no DetectionDecode / BatchedNMS layer", d->path);
    if (info.family == KS_FAMILY_AUTO || info.family == KS_FAMILY_MTCNN)
        return ks__error(ctx, KS_INVALID_MODEL, "%s: the engine's DetectionDecode layer names no detector family",
                         d->path);
    if (d->family != KS_FAMILY_AUTO && d->family != info.family)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "%s: the engine was built with %s post-processing, not %s", d->path,
                         ks_detector_family_name(info.family), ks_detector_family_name(d->family));
    d->family = info.family;
    d->opt.score_threshold = nms_score;
    d->opt.nms_threshold = iou;
    d->opt.top_k = top_k;
    d->opt.max_detections = max_out;
    d->opt.class_aware_nms = aware;
    d->opt.yunet_score = info.sqrt_score ? KS_SCORE_SQRT : KS_SCORE_PRODUCT;
    d->opt.input_width = info.input_w;
    d->opt.input_height = info.input_h;
    d->postprocess = 1;
    return KS_OK;
}

ks_status ks__detector_gpu_create_from_engine(ks_detector *d) {
    ks_context *ctx = d->ctx;
    d->gpu = ks__alloc(ctx, sizeof(ks_detector_gpu));
    if (!d->gpu)
        return ks__oom(ctx, sizeof(ks_detector_gpu), "GPU detector");
    ks_detector_gpu *g = d->gpu;
    KS_CHECK(ks_vision_register_plugins(ctx)); /* engines built with post-processing use them */
    KS_CHECK(ks_engine_load_file(ctx, d->path, &g->engine));
    ks_det_io *io = &d->io;
    memset(io, 0, sizeof(*io));
    io->n_inputs = ks_engine_num_inputs(g->engine);
    io->n_outputs = ks_engine_num_outputs(g->engine);
    if (io->n_inputs != 1 || io->n_outputs > KS_DET_MAX_IO)
        return ks__error(ctx, KS_INVALID_MODEL, "%s: engine has %d inputs, %d outputs", d->path, io->n_inputs,
                         io->n_outputs);
    snprintf(io->in_name, sizeof io->in_name, "%s", ks_engine_binding_name(g->engine, 0));
    KS_CHECK(ks_engine_binding_info(g->engine, 0, &io->in_dtype, &io->in_ndim, io->in_dims));
    for (int i = 0; i < io->n_outputs; i++) {
        snprintf(io->out_names[i], sizeof io->out_names[i], "%s", ks_engine_binding_name(g->engine, 1 + i));
        KS_CHECK(ks_engine_binding_info(g->engine, 1 + i, &io->out_dtype[i], &io->out_ndim[i], io->out_dims[i]));
    }
    io->has_exp = -1;
    int pp[KS_PP_OUTPUTS];
    if (ks__det_io_postprocessed(io, pp)) { /* built with --postprocess */
        KS_CHECK(engine_postprocess_info(d));
        KS_CHECK(ks__detector_resolve_family(d));
        KS_CHECK(ks__detector_setup_input(d));
        KS_CHECK(gpu_init(d));
        d->opt.postprocess = 1;
        return KS_OK;
    }
    KS_CHECK(ks__detector_resolve_family(d));
    KS_CHECK(ks__detector_setup_input(d));
    KS_CHECK(ks__detector_setup_outputs(d));
    KS_CHECK(ks__detector_alloc_buffers(d));
    d->decoded_in_graph = 0;
    return gpu_init(d);
}

/* Engine files of UltraFace: "boxes" is either decoded corners in [0,1] or raw SSD
 * regression. Decided once from the first image's best-scoring rows. */
static ks_status decide_corners(ks_detector *d) {
    ks_detector_gpu *g = d->gpu;
    const char *msg_ = "";
    int ob = d->o_boxes[0], os = d->o_scores[0];
    int64_t R = g->dec.n_rows;
    int C = g->dec.n_classes;
    if (g->out_dtype[ob] != KS_DTYPE_FLOAT32 || g->out_dtype[os] != KS_DTYPE_FLOAT32) {
        g->corners_decided = 1;
        return KS_OK;
    }
    float *bx = ks__alloc_array(d->ctx, (size_t)R * 4, sizeof(float));
    float *sc = ks__alloc_array(d->ctx, (size_t)R * C, sizeof(float));
    if (!bx || !sc) {
        ks__free(d->ctx, bx);
        ks__free(d->ctx, sc);
        return ks__oom(d->ctx, (size_t)R * 24, "UltraFace variant check");
    }
    int rc = ks__cuda_memcpy(bx, g->bind[1 + ob], (size_t)R * 16, 2, NULL, &msg_);
    if (!rc)
        rc = ks__cuda_memcpy(sc, g->bind[1 + os], (size_t)R * C * 4, 2, NULL, &msg_);
    int votes = 0, n = 0;
    for (int pick = 0; !rc && pick < 20; pick++) { /* 20 best rows */
        int64_t best = -1;
        for (int64_t r = 0; r < R; r++)
            if (sc[r * C + 1] >= 0 && (best < 0 || sc[r * C + 1] > sc[best * C + 1]))
                best = r;
        if (best < 0)
            break;
        const float *b = bx + best * 4;
        votes += b[0] >= -0.1f && b[1] >= -0.1f && b[2] <= 1.1f && b[3] <= 1.1f && b[2] > b[0] && b[3] > b[1];
        n++;
        sc[best * C + 1] = -1;
    }
    ks__free(d->ctx, bx);
    ks__free(d->ctx, sc);
    if (rc)
        return ks__error(d->ctx, KS_DEVICE_ERROR, "%s: reading outputs: %s", d->path, msg_);
    d->decoded_in_graph = n > 0 && votes == n;
    g->dec.kind = d->decoded_in_graph ? KS_DECODE_CORNERS : KS_DECODE_SSD;
    g->corners_decided = 1;
    ks__log(d->ctx, KS_LOG_INFO, "%s: UltraFace engine outputs look %s", d->path,
            d->decoded_in_graph ? "decoded (corners)" : "raw (SSD regression)");
    return KS_OK;
}

/* A device view of image i: device images as they are, host images uploaded. */
static ks_status device_image(ks_detector *d, int slot, const ks_image *src, ks_image *out) {
    ks_detector_gpu *g = d->gpu;
    if (src->memory == KS_MEMORY_DEVICE) {
        *out = *src;
        out->owner_ = NULL;
        return KS_OK;
    }
    ks_vimg s;
    KS_CHECK(ks__vimg_resolve(d->ctx, src, &s));
    size_t need = ks_image_bytes(src->format, src->width, src->height);
    ks_image *di = &g->dimg[slot];
    if (g->dimg_bytes[slot] < need) {
        ks_image_release(d->ctx, di);
        g->dimg_bytes[slot] = 0;
        void *p = NULL;
        KS_CHECK(dev_alloc(d, &p, need, "an uploaded frame"));
        di->owner_ = p;
        di->data = p;
        di->memory = KS_MEMORY_DEVICE;
        g->dimg_bytes[slot] = need;
    }
    void *base = di->owner_;
    ks_image_wrap(out, src->width, src->height, src->format, base, 0, KS_MEMORY_DEVICE);
    ks_vimg dv;
    KS_CHECK(ks__vimg_resolve(d->ctx, out, &dv));
    size_t row = (size_t)src->width * ks_pixel_format_bpp(src->format);
    size_t cw = (size_t)(src->width + 1) / 2, ch = (size_t)(src->height + 1) / 2;
    CU(ks__cuda_memcpy2d_async(out->data, (size_t)out->stride, src->data, (size_t)src->stride, row,
                               (size_t)src->height, 1, g->stream, &msg_),
       "uploading a frame");
    if (src->format == KS_PIXEL_NV12)
        CU(ks__cuda_memcpy2d_async((void *)dv.p1, (size_t)dv.stride1, s.p1, (size_t)s.stride1, 2 * cw, ch, 1,
                                   g->stream, &msg_),
           "uploading a frame");
    if (src->format == KS_PIXEL_I420) {
        CU(ks__cuda_memcpy2d_async((void *)dv.p1, (size_t)dv.stride1, s.p1, (size_t)s.stride1, cw, ch, 1, g->stream,
                                   &msg_),
           "uploading a frame");
        CU(ks__cuda_memcpy2d_async((void *)dv.p2, (size_t)dv.stride1, s.p2, (size_t)s.stride1, cw, ch, 1, g->stream,
                                   &msg_),
           "uploading a frame");
    }
    return KS_OK;
}

/* Everything after the frames are on the device, enqueued on g->stream (capturable: kernel
 * launches, ks_exec_run and async copies from/to pinned memory only). The transforms are in
 * g->h_tf already. With profiling on, events separate the stages. */
static ks_status enqueue_pipeline(ks_detector *d, int m, const ks_image *dev) {
    ks_detector_gpu *g = d->gpu;
    ks_context *ctx = d->ctx;
    int32_t M = d->opt.max_detections;
    void *s = g->stream;
    if (g->profile)
        ks__cuda_event_record(g->ev[0], s);
    KS_CHECK(ks_preprocess_cuda(ctx, &d->pre, m, dev, g->bind[0], NULL, s));
    if (d->postprocess) { /* network + decode + NMS in one engine run; results to pinned memory */
        if (g->profile)
            ks__cuda_event_record(g->ev[1], s);
        KS_CHECK(ks_exec_run(g->ec, s, g->bind));
        if (g->profile) {
            ks__cuda_event_record(g->ev[2], s);
            ks__cuda_event_record(g->ev[3], s);
            ks__cuda_event_record(g->ev[4], s);
        }
        const int *pp = d->pp_out;
        size_t mm = (size_t)m * M;
        if (g->d_out) { /* every output of the engine batch in one copy */
            CU(ks__cuda_memcpy(g->h_out, g->d_out, g->out_bytes, 2, s, &msg_), "results");
            if (g->profile)
                ks__cuda_event_record(g->ev[5], s);
            return KS_OK;
        }
        CU(ks__cuda_memcpy(g->h_counts, g->bind[1 + pp[0]], sizeof(int32_t) * m, 2, s, &msg_), "results");
        CU(ks__cuda_memcpy(g->h_boxes, g->bind[1 + pp[1]], mm * 16, 2, s, &msg_), "results");
        CU(ks__cuda_memcpy(g->h_scores, g->bind[1 + pp[2]], mm * 4, 2, s, &msg_), "results");
        CU(ks__cuda_memcpy(g->h_classes, g->bind[1 + pp[3]], mm * 4, 2, s, &msg_), "results");
        if (pp[4] >= 0)
            CU(ks__cuda_memcpy(g->h_lm, g->bind[1 + pp[4]], mm * 8 * KS_MAX_LANDMARKS, 2, s, &msg_), "results");
        if (g->profile)
            ks__cuda_event_record(g->ev[5], s);
        return KS_OK;
    }
    CU(ks__cuda_memcpy(g->d_tf, g->h_tf, sizeof(ks_affine) * (size_t)m, 1, s, &msg_), "uploading transforms");
    if (g->profile)
        ks__cuda_event_record(g->ev[1], s);
    KS_CHECK(ks_exec_run(g->ec, s, g->bind));
    if (g->profile)
        ks__cuda_event_record(g->ev[2], s);
    ks_decode_params dec = g->dec;
    dec.batch = m;
    ks_decode_inputs in;
    ks__detector_decode_inputs(d, &g->bind[1], &in);
    in.priors = g->d_priors;
    ks_candidates cand = {g->d_cboxes, g->d_cscores, g->d_ccls, g->d_clm};
    KS_CHECK(ks_decode_cuda(ctx, &dec, &in, &cand, s));
    if (g->profile)
        ks__cuda_event_record(g->ev[3], s);
    ks_nms_params np;
    ks__detector_nms_params(d, m, dec.n_rows, dec.n_landmarks, &np);
    ks_nms_outputs no = {g->d_counts, g->d_boxes, g->d_scores, g->d_classes, g->d_lm, NULL, g->d_tf};
    KS_CHECK(ks_nms_cuda(ctx, &np, &cand, &no, g->d_ws, g->ws_bytes, s));
    if (g->profile)
        ks__cuda_event_record(g->ev[4], s);
    size_t mm = (size_t)m * M;
    CU(ks__cuda_memcpy(g->h_counts, g->d_counts, sizeof(int32_t) * m, 2, s, &msg_), "results");
    CU(ks__cuda_memcpy(g->h_boxes, g->d_boxes, mm * 16, 2, s, &msg_), "results");
    CU(ks__cuda_memcpy(g->h_scores, g->d_scores, mm * 4, 2, s, &msg_), "results");
    CU(ks__cuda_memcpy(g->h_classes, g->d_classes, mm * 4, 2, s, &msg_), "results");
    if (dec.n_landmarks)
        CU(ks__cuda_memcpy(g->h_lm, g->d_lm, mm * 8 * KS_MAX_LANDMARKS, 2, s, &msg_), "results");
    if (g->profile)
        ks__cuda_event_record(g->ev[5], s);
    return KS_OK;
}

static void make_key(int m, const ks_image *dev, ks_det_graph_key *k) {
    memset(k, 0, sizeof(*k));
    k->m = m;
    for (int i = 0; i < m; i++) {
        k->img[i].data = dev[i].data;
        k->img[i].p1 = dev[i].chroma[0];
        k->img[i].p2 = dev[i].chroma[1];
        k->img[i].w = dev[i].width;
        k->img[i].h = dev[i].height;
        k->img[i].stride = dev[i].stride;
        k->img[i].stride1 = dev[i].chroma_stride;
        k->img[i].fmt = (int)dev[i].format;
    }
}

/* Results of images first..first+n-1 from the pinned NMS outputs (slot 0 = image first). */
static void fill_from_pinned(ks_detector *d, int first, int n, int32_t n_landmarks, ks_detection_list *results) {
    ks_detector_gpu *g = d->gpu;
    int32_t M = d->opt.max_detections;
    for (int i = 0; i < n; i++) {
        ks_detection *items = d->results + (size_t)(first + i) * M;
        int32_t c = g->h_counts[i];
        c = c < 0 ? 0 : c > M ? M : c;
        for (int32_t k = 0; k < c; k++) {
            size_t o = (size_t)i * M + k;
            ks_detection *t = &items[k];
            memset(t, 0, sizeof(*t));
            memcpy(t->box, g->h_boxes + o * 4, 4 * sizeof(float));
            t->score = g->h_scores[o];
            t->class_id = g->h_classes[o];
            t->n_landmarks = n_landmarks;
            if (n_landmarks)
                memcpy(t->landmarks, g->h_lm + o * 2 * KS_MAX_LANDMARKS, sizeof(float) * 2 * (size_t)n_landmarks);
        }
        results[i].n = c;
        results[i].items = items;
    }
}

ks_status ks__detector_gpu_detect(ks_detector *d, int n, const ks_image *images, ks_detection_list *results) {
    ks_detector_gpu *g = d->gpu;
    ks_context *ctx = d->ctx;
    int B = g->batch;
    /* switches read per call (cheap) so that one detector can be measured both ways */
    const char *env = getenv("KESTREL_DETECTOR_PROFILE");
    int profile = env && *env && strcmp(env, "0");
    if (profile && !g->ev[0])
        for (int i = 0; i <= KS_DET_STAGES; i++)
            CU(ks__cuda_event_create(&g->ev[i], &msg_), "creating events");
    if (g->profile && !profile)
        report_split(d);
    g->profile = profile;
    int layer_profile = profile && d->postprocess && (!strcmp(env, "layers") || !strcmp(env, "2"));
    if (layer_profile != g->layer_profile)
        KS_CHECK(ks_exec_set_profiling(g->ec, layer_profile));
    g->layer_profile = layer_profile;
    env = getenv("KESTREL_DETECTOR_GRAPH");
    int graph_on = !(env && !strcmp(env, "0")) && !g->graph_broken && !profile;
    for (int i0 = 0; i0 < n; i0 += B) {
        int m = n - i0 < B ? n - i0 : B;
        if (m > KS_VPREP_MAX_BATCH)
            m = KS_VPREP_MAX_BATCH;
        ks_image dev[KS_VPREP_MAX_BATCH];
        int all_device = 1;
        for (int k = 0; k < m; k++) {
            all_device &= images[i0 + k].memory == KS_MEMORY_DEVICE;
            KS_CHECK(device_image(d, k, &images[i0 + k], &dev[k]));
        }
        int need_corners = d->family == KS_FAMILY_ULTRAFACE && d->io.has_exp < 0 && !g->corners_decided;
        ks_det_graph_key key;
        make_key(m, dev, &key);
        ks_det_graph *gr = NULL;
        int replay = 0;
        if (graph_on && all_device && !need_corners) {
            for (int i = 0; i < KS_DET_GRAPHS; i++)
                if (g->graphs[i].exec && !memcmp(&g->graphs[i].key, &key, sizeof key))
                    gr = &g->graphs[i], replay = 1;
            if (!gr && !memcmp(&g->seen, &key, sizeof key)) {
                /* second call with this key: capture. Reuse (update in place) the entry of the
                   same sizes if there is one, else the least recently used. */
                for (int i = 0; i < KS_DET_GRAPHS && !gr; i++) {
                    ks_det_graph *e = &g->graphs[i];
                    int same = e->exec && e->key.m == m;
                    for (int k = 0; same && k < m; k++)
                        same = e->key.img[k].w == key.img[k].w && e->key.img[k].h == key.img[k].h &&
                               e->key.img[k].fmt == key.img[k].fmt;
                    if (same)
                        gr = e;
                }
                for (int i = 0; i < KS_DET_GRAPHS && !gr; i++)
                    if (!g->graphs[i].exec)
                        gr = &g->graphs[i];
                if (!gr) {
                    gr = &g->graphs[0];
                    for (int i = 1; i < KS_DET_GRAPHS; i++)
                        if (g->graphs[i].last_use < gr->last_use)
                            gr = &g->graphs[i];
                }
            }
        }
        /* transforms (host); the NMS (or, with the post-processing in the engine, the host
           after it) maps boxes back with them. Computed on every call: a replayed graph reads
           them from the pinned buffer, which a call with other sizes may have changed. */
        for (int k = 0; k < m; k++) {
            ks_vprep_image vi;
            KS_CHECK(ks__vprep_image(ctx, &d->pre, &dev[k], &vi, &g->h_tf[k]));
        }
        if (replay) {
            CU(ks__cuda_graph_launch(gr->exec, g->stream, &msg_), "replaying the detector graph");
            g->n_replays++;
        } else if (gr) {
            CU(ks__cuda_capture_begin(g->stream, &msg_), "capturing the detector graph");
            ks_status st = enqueue_pipeline(d, m, dev);
            const char *msg = "";
            int rc = ks__cuda_capture_end(g->stream, st == KS_OK, &gr->exec, &msg);
            if (st != KS_OK || rc) {
                /* not capturable here: say so once and run eagerly from now on */
                ks__log(ctx, KS_LOG_WARN, "%s: detector CUDA graph capture failed (%s); running without it", d->path,
                        st != KS_OK ? ks_context_last_error(ctx) : msg);
                ks_context_clear_error(ctx);
                ks__cuda_graph_destroy(gr->exec);
                gr->exec = NULL;
                g->graph_broken = 1;
                graph_on = 0;
                KS_CHECK(enqueue_pipeline(d, m, dev));
            } else {
                gr->key = key;
                g->n_captures++;
                CU(ks__cuda_graph_launch(gr->exec, g->stream, &msg_), "launching the detector graph");
            }
        } else {
            if (need_corners) { /* engine files of UltraFace: look at the first outputs once */
                KS_CHECK(ks_preprocess_cuda(ctx, &d->pre, m, dev, g->bind[0], NULL, g->stream));
                KS_CHECK(ks_exec_run(g->ec, g->stream, g->bind));
                CU(ks__cuda_stream_sync(g->stream, &msg_), "engine run");
                KS_CHECK(decide_corners(d));
            }
            KS_CHECK(enqueue_pipeline(d, m, dev));
            g->seen = key;
        }
        if (gr)
            gr->last_use = ++g->tick;
        CU(ks__cuda_stream_sync(g->stream, &msg_), "detection");
        if (g->profile) {
            for (int k = 0; k < KS_DET_STAGES; k++)
                g->stage_ms[k] += ks__cuda_event_ms(g->ev[k], g->ev[k + 1]);
            g->n_profiled++;
        }
        memcpy(d->inv + i0, g->h_tf, sizeof(ks_affine) * (size_t)m);
        if (d->postprocess) { /* inverse transform of the kept boxes, on the host */
            int32_t M = d->opt.max_detections;
            for (int k = 0; k < m; k++) {
                int32_t c = g->h_counts[k];
                c = c < 0 ? 0 : c > M ? M : c;
                ks__detector_pp_map(&g->h_tf[k], c, g->h_boxes + (size_t)k * M * 4,
                                    d->pp_landmarks ? g->h_lm + (size_t)k * M * 2 * KS_MAX_LANDMARKS : NULL,
                                    d->pp_landmarks);
            }
        }
        fill_from_pinned(d, i0, m, g->dec.n_landmarks, results + i0);
    }
    return KS_OK;
}

#else /* no CUDA */

ks_status ks__detector_gpu_create(ks_detector *d) {
    return ks__error(d->ctx, KS_NO_DEVICE, "built without CUDA");
}
ks_status ks__detector_gpu_create_from_engine(ks_detector *d) {
    return ks__error(d->ctx, KS_NO_DEVICE, "%s: engine files need a CUDA build", d->path);
}
ks_status ks__detector_gpu_detect(ks_detector *d, int n, const ks_image *images, ks_detection_list *results) {
    KS_UNUSED(n), KS_UNUSED(images), KS_UNUSED(results);
    return ks__error(d->ctx, KS_NO_DEVICE, "built without CUDA");
}
void ks__detector_gpu_destroy(ks_detector *d) { KS_UNUSED(d); }

#endif
