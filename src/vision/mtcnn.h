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
} ks_mtcnn_options;

void ks__mtcnn_options_init(ks_mtcnn_options *o);

/* opt may be NULL. The detector borrows ctx. */
ks_status ks__mtcnn_create(ks_context *ctx, const char *model_dir, const ks_mtcnn_options *opt,
                           ks_mtcnn **out);
/* Detects faces in a host image (any ks_pixel_format; converted to RGB).
 * *dets is allocated with ctx's allocator (ks__free), highest score first
 * after the last NMS order; *n may be 0. */
ks_status ks__mtcnn_detect(ks_mtcnn *m, const ks_image *image, ks_detection **dets, int *n);
void ks__mtcnn_destroy(ks_mtcnn *m);
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
