/* ks_detector GPU path: upload (host frames only) -> preprocess kernel -> engine run ->
 * decode kernel -> NMS kernel (boxes mapped back through each image's inverse
 * transform) on one CUDA stream; the only device->host copies are the final fixed-size
 * NMS outputs, followed by one stream synchronisation per batch.
 *
 * The engine comes from ks_engine_build (ONNX model; built for opt.max_batch images, or
 * batch 1 when the graph cannot take a larger batch) or ks_engine_load_file (engine file;
 * the family is detected from the binding names and shapes as for a model). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "kestrel/engine.h"
#include "vision/detector_internal.h"

#ifdef KS_HAVE_CUDA

typedef struct ks_detector_gpu {
    ks_engine *engine;
    ks_exec_context *ec;
    void *stream;
    int batch;                         /* engine batch */
    int n_in, n_out;
    void *bind[1 + KS_DET_MAX_IO];     /* device buffers, binding order */
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

void ks__detector_gpu_destroy(ks_detector *d) {
    ks_detector_gpu *g = d ? d->gpu : NULL;
    if (!g)
        return;
    if (g->stream) {
        const char *msg;
        ks__cuda_stream_sync(g->stream, &msg);
    }
    ks_exec_context_destroy(g->ec);
    ks_engine_destroy(g->engine);
    for (int i = 0; i < 1 + KS_DET_MAX_IO; i++)
        ks__cuda_free(g->bind[i]);
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

/* Everything after the engine exists: execution context, buffers, decode params. */
static ks_status gpu_init(ks_detector *d) {
    ks_detector_gpu *g = d->gpu;
    ks_context *ctx = d->ctx;
    const char *msg_ = "";
    if (ks__cuda_stream_create(&g->stream, &msg_))
        return ks__error(ctx, KS_DEVICE_ERROR, "%s: creating a CUDA stream: %s", d->path, msg_);
    KS_CHECK(ks_exec_context_create(g->engine, &g->ec));
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
    if (dt != d->in_dtype)
        return ks__error(ctx, KS_UNSUPPORTED_DTYPE, "%s: engine input dtype %s, expected %s", d->path,
                         ks_dtype_name(dt), ks_dtype_name(d->in_dtype));
    g->batch = (int)dims[0];
    d->opt.max_batch = g->batch; /* the batch actually built */
    size_t in_bytes = (size_t)g->batch * 3 * d->in_w * d->in_h * ks_dtype_size(dt);
    KS_CHECK(dev_alloc(d, &g->bind[0], in_bytes, "the network input"));
    for (int i = 0; i < g->n_out; i++) {
        KS_CHECK(ks_engine_binding_info(g->engine, 1 + i, &g->out_dtype[i], &g->out_ndim[i], g->out_dims[i]));
        ks_tensor t = {g->out_dtype[i], g->out_ndim[i], {0}, NULL};
        memcpy(t.dims, g->out_dims[i], sizeof(t.dims));
        size_t nb = ks_tensor_nbytes(&t);
        if (!nb)
            return ks__error(ctx, KS_UNSUPPORTED_SHAPE, "%s: engine output %d has no static size", d->path, i);
        KS_CHECK(dev_alloc(d, &g->bind[1 + i], nb, "a network output"));
    }
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

ks_status ks__detector_gpu_create(ks_detector *d) {
    ks_context *ctx = d->ctx;
    if (!ks_cuda_available())
        return ks__error(ctx, KS_NO_DEVICE, "no CUDA device");
    d->gpu = ks__alloc(ctx, sizeof(ks_detector_gpu));
    if (!d->gpu)
        return ks__oom(ctx, sizeof(ks_detector_gpu), "GPU detector");
    ks_detector_gpu *g = d->gpu;
    int want = d->opt.max_batch > 0 ? d->opt.max_batch : 1;
    ks_build_config cfg;
    ks_build_config_init(&cfg);
    cfg.precision = d->opt.fp16 ? KS_PRECISION_FP16 : KS_PRECISION_FP32;
    ks_input_shape shape = {d->input_name, 4, {want, 3, d->in_h, d->in_w}};
    cfg.input_shapes = &shape;
    cfg.n_input_shapes = 1;
    cfg.max_batch = want;
    ks_status st = ks_engine_build(d->model, &cfg, &g->engine);
    if (st == KS_OK)
        st = gpu_init(d);
    if (st != KS_OK && want > 1) {
        /* The build failed, or the outputs are not batch-major (graphs with a hard-coded
           batch of 1 in their reshapes): batch 1 always works. */
        ks__log(ctx, KS_LOG_INFO, "%s: no batch-%d engine (%s); building for batch 1", d->path, want,
                ks_context_last_error(ctx));
        ks_context_clear_error(ctx);
        ks__detector_gpu_destroy(d);
        d->gpu = ks__alloc(ctx, sizeof(ks_detector_gpu));
        if (!d->gpu)
            return ks__oom(ctx, sizeof(ks_detector_gpu), "GPU detector");
        g = d->gpu;
        shape.dims[0] = 1;
        cfg.max_batch = 1;
        st = ks_engine_build(d->model, &cfg, &g->engine);
        if (st == KS_OK)
            st = gpu_init(d);
    }
    return st;
}

ks_status ks__detector_gpu_create_from_engine(ks_detector *d) {
    ks_context *ctx = d->ctx;
    d->gpu = ks__alloc(ctx, sizeof(ks_detector_gpu));
    if (!d->gpu)
        return ks__oom(ctx, sizeof(ks_detector_gpu), "GPU detector");
    ks_detector_gpu *g = d->gpu;
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

ks_status ks__detector_gpu_detect(ks_detector *d, int n, const ks_image *images, ks_detection_list *results) {
    ks_detector_gpu *g = d->gpu;
    ks_context *ctx = d->ctx;
    int B = g->batch;
    int32_t M = d->opt.max_detections;
    for (int i0 = 0; i0 < n; i0 += B) {
        int m = n - i0 < B ? n - i0 : B;
        if (m > KS_VPREP_MAX_BATCH)
            m = KS_VPREP_MAX_BATCH;
        ks_image dev[KS_VPREP_MAX_BATCH];
        for (int k = 0; k < m; k++)
            KS_CHECK(device_image(d, k, &images[i0 + k], &dev[k]));
        KS_CHECK(ks_preprocess_cuda(ctx, &d->pre, m, dev, g->bind[0], d->inv + i0, g->stream));
        CU(ks__cuda_memcpy(g->d_tf, d->inv + i0, sizeof(ks_affine) * (size_t)m, 1, g->stream, &msg_),
           "uploading transforms");
        KS_CHECK(ks_exec_run(g->ec, g->stream, g->bind));
        if (d->family == KS_FAMILY_ULTRAFACE && d->io.has_exp < 0 && !g->corners_decided) {
            CU(ks__cuda_stream_sync(g->stream, &msg_), "engine run");
            KS_CHECK(decide_corners(d));
        }
        ks_decode_params dec = g->dec;
        dec.batch = m;
        ks_decode_inputs in;
        ks__detector_decode_inputs(d, &g->bind[1], &in);
        in.priors = g->d_priors;
        ks_candidates cand = {g->d_cboxes, g->d_cscores, g->d_ccls, g->d_clm};
        KS_CHECK(ks_decode_cuda(ctx, &dec, &in, &cand, g->stream));
        ks_nms_params np;
        ks__detector_nms_params(d, m, dec.n_rows, dec.n_landmarks, &np);
        ks_nms_outputs no = {g->d_counts, g->d_boxes, g->d_scores, g->d_classes, g->d_lm, NULL, g->d_tf};
        KS_CHECK(ks_nms_cuda(ctx, &np, &cand, &no, g->d_ws, g->ws_bytes, g->stream));
        size_t mm = (size_t)m * M;
        int nl = dec.n_landmarks;
        CU(ks__cuda_memcpy(d->nms_counts + i0, g->d_counts, sizeof(int32_t) * m, 2, g->stream, &msg_), "results");
        CU(ks__cuda_memcpy(d->nms_boxes + (size_t)i0 * M * 4, g->d_boxes, mm * 16, 2, g->stream, &msg_), "results");
        CU(ks__cuda_memcpy(d->nms_scores + (size_t)i0 * M, g->d_scores, mm * 4, 2, g->stream, &msg_), "results");
        CU(ks__cuda_memcpy(d->nms_classes + (size_t)i0 * M, g->d_classes, mm * 4, 2, g->stream, &msg_), "results");
        if (nl)
            CU(ks__cuda_memcpy(d->nms_landmarks + (size_t)i0 * M * 2 * KS_MAX_LANDMARKS, g->d_lm, mm * 8 * nl, 2,
                               g->stream, &msg_),
               "results");
        CU(ks__cuda_stream_sync(g->stream, &msg_), "detection");
        ks__detector_fill_results(d, i0, m, nl, results + i0);
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
