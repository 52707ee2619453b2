/* MTCNN face detector (P-Net / R-Net / O-Net cascade), CPU reference.
 *
 * model_dir holds the three nets in one of these forms:
 *   det1/det2/det3.prototxt + .caffemodel      (kpzhang93 original, Caffe)
 *   det1_relu/det2_relu/det3_relu.*            (PReLU rewritten as ReLU+Scale+Eltwise)
 *   pnet/rnet/onet.onnx                        (NHWC, ipazc Keras export; or NCHW)
 * The nets were trained from MATLAB, so they see the image TRANSPOSED (the
 * blob's "height" axis is the image x axis) — except det1_relu, whose P-Net
 * kernels are stored already transposed so it takes the image as is. The
 * loader detects each case (see docs/mtcnn.md).
 *
 * Pipeline (as kpzhang93's detect_face / facenet's port):
 *   pyramid scales 12/min_face * 0.709^k while min side >= 12; per scale
 *   P-Net on the image resized to ceil(h*s) x ceil(w*s); cells with face
 *   probability >= t1 become 12x12 boxes (stride 2), NMS 0.5 per scale;
 *   NMS 0.7 over all scales, regression, squaring; R-Net on 24x24 crops
 *   (zero padded outside the image), t2, NMS 0.7, regression, squaring;
 *   O-Net on 48x48 crops, t3, landmarks, regression, NMS 0.7 "Min".
 *   NMS here uses MTCNN's +1 pixel areas and the "Min" overlap, which is why
 *   it does not call the generic ks_nms_cpu.
 * Boxes are in MTCNN's convention (1-based inclusive pixel bounds, as
 * every port reports them); landmarks are 0-based. */
#ifndef KS_VISION_MTCNN_H
#define KS_VISION_MTCNN_H
#include "core/core.h"
#include "kestrel/vision.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ks_mtcnn ks_mtcnn;

typedef struct ks_mtcnn_options {
    float min_face;        /* smallest face in pixels (default 20) */
    float scale_factor;    /* pyramid factor (default 0.709) */
    float thresholds[3];   /* P/R/O-Net face probability (default 0.6, 0.7, 0.7) */
    int32_t max_detections;/* 0 = unlimited */
    int32_t use_plugin_prelu; /* 1: Caffe PReLU layers through the PRelu plugin */
    float nms_thresholds[3];  /* per-scale/global P-Net, R-Net, O-Net (default 0.5, 0.7, 0.7;
                                 the cross-scale P-Net NMS is always 0.7, the O-Net one "Min") */
    /* GPU cascade (mtcnn_gpu.c; needs the CUDA build and a GPU) */
    int32_t use_gpu;          /* 1: run on the GPU (KS_NO_DEVICE from create when impossible) */
    int32_t fp16;             /* GPU engines in FP16 (default FP32) */
    int32_t pnet_per_level;   /* 0: all pyramid levels tiled into one canvas, one P-Net launch;
                                 1: one P-Net engine per level, levels on concurrent streams */
    int32_t rnet_batch;       /* R-Net items per frame in the graph (default 1024); more
                                 candidates run in extra chunks after a round trip */
    int32_t onet_batch;       /* O-Net items per frame in the graph (default 256), same */
    int32_t cuda_graph;       /* 1 (default): replay the frame as one CUDA graph */
    int32_t tactic_timing;    /* engine builder tactic timing (default 1) */
    int32_t frame_batch;      /* GPU: frames per pipeline run (default 1, at most 32): one
                                 P-Net / R-Net / O-Net run and one graph for all of them */
} ks_mtcnn_options;

/* Candidate counts of the last detection (CPU and GPU). */
typedef struct ks_mtcnn_stats {
    int32_t n_levels;
    int32_t pnet_candidates;  /* cells over t1, all levels */
    int32_t pnet_kept;        /* after the per-level NMS */
    int32_t rnet_in;          /* after the cross-scale NMS (R-Net batch items used) */
    int32_t rnet_kept;        /* over t2 after NMS */
    int32_t onet_in;
    int32_t final;
    int32_t truncated;        /* GPU: bit 0 P-Net cell list, bit 1 cross-scale NMS input:
                                 a fixed capacity cut candidates (see docs) */
    int32_t overflow;         /* GPU: bit 0 R-Net, bit 1 O-Net candidates beyond the batch
                                 (run in extra chunks: nothing lost, one more round trip) */
} ks_mtcnn_stats;

void ks__mtcnn_options_init(ks_mtcnn_options *o);

/* opt may be NULL. The detector borrows ctx. */
ks_status ks__mtcnn_create(ks_context *ctx, const char *model_dir, const ks_mtcnn_options *opt,
                           ks_mtcnn **out);
/* Detects faces in a host image (any ks_pixel_format; converted to RGB).
 * *dets is allocated with ctx's allocator (ks__free), highest score first
 * after the last NMS order; *n may be 0. */
ks_status ks__mtcnn_detect(ks_mtcnn *m, const ks_image *image, ks_detection **dets, int *n);
void ks__mtcnn_destroy(ks_mtcnn *m);
void ks__mtcnn_get_stats(const ks_mtcnn *m, ks_mtcnn_stats *out);
/* 1 when the detector runs on the GPU. */
int ks__mtcnn_on_gpu(const ks_mtcnn *m);
/* Plugin nodes in the nets loaded so far (tests: the plugin path is used). */
int ks__mtcnn_count_plugin_nodes(const ks_mtcnn *m);

/* Adapter for ks_detector (src/vision/detector.c, KS_FAMILY_MTCNN): MTCNN
 * thresholds are its own (options' score/nms thresholds are not used);
 * max_detections is honoured. Results are owned by the detector. */
ks_status ks__mtcnn_detector_create(ks_context *ctx, const char *model_dir,
                                    const ks_detector_options *opt, void **out);
ks_status ks__mtcnn_detector_detect(void *m, int n_images, const ks_image *images,
                                    ks_detection_list *results);
void ks__mtcnn_detector_destroy(void *m);

/* --- GPU cascade (mtcnn_gpu.c; KS_NO_DEVICE without CUDA or a GPU) --- */
typedef struct ks_mtcnn_gpu ks_mtcnn_gpu;
/* Builds the R-Net / O-Net engines and one pipeline; P-Net engines are built
 * per frame size on first use (or by ks__mtcnn_gpu_prepare). */
ks_status ks__mtcnn_gpu_create(ks_mtcnn *m, ks_mtcnn_gpu **out);
void ks__mtcnn_gpu_destroy(ks_mtcnn_gpu *g);
/* Builds the P-Net engine(s) for w x h frames and n_pipes independent
 * pipelines (exec contexts, buffers, stream, graph each). Pipelines may run
 * concurrently from different threads once prepared for the frame size. */
ks_status ks__mtcnn_gpu_prepare(ks_mtcnn *m, int w, int h, int n_pipes);
/* Detection on pipeline `pipe` (host or device image). stats may be NULL. */
ks_status ks__mtcnn_gpu_detect(ks_mtcnn *m, int pipe, const ks_image *image, ks_detection **dets,
                               int *n, ks_mtcnn_stats *stats);
/* n_images <= frame_batch images of one size in one pipeline run: dets[i]
 * (ctx allocator) / n[i] / stats[i] (stats may be NULL) per image. With
 * fewer images than frame_batch the run still costs a full batch. */
ks_status ks__mtcnn_gpu_detect_batch(ks_mtcnn *m, int pipe, int n_images, const ks_image *images,
                                     ks_detection **dets, int *n, ks_mtcnn_stats *stats);
/* Frames per pipeline run (1 without the GPU cascade). */
int ks__mtcnn_gpu_frame_batch(const ks_mtcnn *m);
/* Per-stage timing with CUDA events (disables the CUDA graph while on). */
enum { KS_MTCNN_T_UPLOAD, KS_MTCNN_T_PYRAMID, KS_MTCNN_T_PNET, KS_MTCNN_T_PNMS,
       KS_MTCNN_T_RNET, KS_MTCNN_T_ONET, KS_MTCNN_T_COUNT };
ks_status ks__mtcnn_gpu_set_profiling(ks_mtcnn *m, int on);
/* Milliseconds of each stage in pipeline `pipe`'s last profiled run. */
ks_status ks__mtcnn_gpu_last_timing(ks_mtcnn *m, int pipe, float ms[KS_MTCNN_T_COUNT]);
/* Inside KS_MTCNN_T_PNMS: cell selection, per-level NMS, compaction (ms);
 * the rest is the cross-scale NMS. */
ks_status ks__mtcnn_gpu_last_subtiming(ks_mtcnn *m, int pipe, float ms[3]);
/* 1 when pipeline `pipe` replays a CUDA graph. */
int ks__mtcnn_gpu_graph_active(ks_mtcnn *m, int pipe);

/* Accessors for mtcnn_gpu.c: a fresh model of stage (0..2) for input
 * [batch, 3, a, b] (NHWC: [batch, a, b, 3]); the net's layout. */
ks_status ks__mtcnn_net_model(ks_mtcnn *m, int stage, int batch, int a, int b, ks_model **out);
void ks__mtcnn_net_layout(const ks_mtcnn *m, int stage, int *nhwc, int *transposed);
const char *ks__mtcnn_net_name(const ks_mtcnn *m, int stage);
ks_context *ks__mtcnn_context(const ks_mtcnn *m);
const ks_mtcnn_options *ks__mtcnn_options(const ks_mtcnn *m);
ks_mtcnn_gpu *ks__mtcnn_gpu_handle(const ks_mtcnn *m);

/* --- building blocks (shared with the CUDA glue kernels' CPU references) --- */

/* Bilinear resize of a float HWC image (half-pixel centres, edge clamp),
 * with (v - 127.5) * 0.0078125 normalisation applied by the caller. */
void ks__mtcnn_resize_bilinear(const float *src, int sw, int sh, int ch, float *dst, int dw,
                               int dh);

typedef struct ks_mtcnn_box {
    float x1, y1, x2, y2, score;
    float reg[4];
    float landmarks[10]; /* x0..x4, y0..y4 */
} ks_mtcnn_box;

/* Greedy NMS with MTCNN's +1 areas; min_mode: overlap over the smaller box.
 * Sorts boxes by score (descending, stable) and compacts the kept ones to
 * the front; returns their count. scratch: 2 * n ints. */
int ks__mtcnn_nms(ks_mtcnn_box *boxes, int n, float threshold, int min_mode, int *scratch);

/* Writes an RGB float HWC image (w x h) as one batch item of a net input:
 * NCHW or NHWC, transposed (blob axis 2 = image x) or not. */
void ks__mtcnn_pack_cpu(const float *img, int w, int h, int nhwc, int transposed, float *dst);
/* P-Net cells with face probability >= threshold -> boxes (MTCNN's
 * generateBoundingBox), in cell order (a outer, b inner; a = blob axis 2).
 * prob has 2 channels, reg 4, maps ma x mb in the net's layout. Writes at
 * most cap boxes (out may be NULL with cap 0) and, if cells is not NULL,
 * each box's cell index a*mb+b; returns the total count. */
int ks__mtcnn_candidates_cpu(const float *prob, const float *reg, int ma, int mb, int nhwc,
                             int transposed, float scale, float threshold, ks_mtcnn_box *out,
                             int *cells, int cap);
/* MTCNN crop of box (x1,y1,x2,y2: 1-based inclusive ints) from a normalised
 * RGB float HWC image, zero padded outside, bilinear to size x size (HWC). */
void ks__mtcnn_crop_cpu(const float *img, int w, int h, const int box[4], int size, float *dst);
int ks__mtcnn_crop_valid(const int box[4], int w, int h);

/* --- CUDA glue kernels (mtcnn.cu). Device pointers; enqueue on stream
 * (cudaStream_t), no synchronization; return 0 or a CUDA error code with
 * its text in err. --- */
#define KS_MTCNN_MAX_LEVELS 32
typedef struct ks_mtcnn_pyramid {
    int n_levels;
    int w[KS_MTCNN_MAX_LEVELS], h[KS_MTCNN_MAX_LEVELS]; /* resized image sizes */
    int64_t offset[KS_MTCNN_MAX_LEVELS];                 /* float offset of each level in dst */
    int nhwc, transposed;                                /* P-Net input layout */
} ks_mtcnn_pyramid;
/* All pyramid levels in one launch: level l = pack(resize(img -> w[l] x h[l])). */
int ks__mtcnn_pyramid_cuda(const float *img, int w, int h, const ks_mtcnn_pyramid *p, float *dst,
                           void *stream, char *err, size_t err_bytes);
/* Candidate extraction: appends boxes (unordered) and their cell indices;
 * *count (device int, zeroed by the caller) receives the total, possibly >
 * cap (only cap written). */
int ks__mtcnn_candidates_cuda(const float *prob, const float *reg, int ma, int mb, int nhwc,
                              int transposed, float scale, float threshold, ks_mtcnn_box *out,
                              int *cells, int cap, int *count, void *stream, char *err,
                              size_t err_bytes);
/* Batched ROI crop-resize into a [n, ...] net input (pack layout): boxes are
 * n x int[4]; invalid boxes give a zero item. */
int ks__mtcnn_crop_cuda(const float *img, int w, int h, const int *boxes, int n, int size,
                        int nhwc, int transposed, float *dst, void *stream, char *err,
                        size_t err_bytes);

#ifdef __cplusplus
}
#endif
#endif
