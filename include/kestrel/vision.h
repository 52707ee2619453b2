/* kestrel — vision: images, preprocessing, box decoding, NMS, detectors.
 *
 * Layers, each usable on its own (src/vision/):
 *   ks_image          a frame in host or device memory (BGR/RGB/BGRA/RGBA/GRAY/NV12/I420);
 *                     JPEG/PNG decode on the CPU (libjpeg-turbo, libpng), JPEG on the GPU
 *                     through nvJPEG when libnvjpeg.so.13 can be loaded at run time.
 *   preprocess        one affine warp (stretch / letterbox / crop) + bilinear sampling +
 *                     channel order + (x*scale - mean)/std + HWC->CHW, FP32 or FP16, for a
 *                     batch; returns the inverse transform (network pixels -> image pixels).
 *   decode            raw network outputs -> dense per-row candidates (box in network-input
 *                     pixels, score, class, landmarks): SSD priors, in-graph corners,
 *                     YuNet, SCRFD, YOLOv5 rows.
 *   nms               batched greedy NMS with fixed-size outputs and a count per image
 *                     (like TensorRT's EfficientNMS), optionally mapping results back
 *                     through each image's inverse transform.
 *   ks_detector       model file + family -> detections in original-image pixels.
 * Every stage has a CPU reference (the oracle) and a CUDA version sharing the same
 * params struct (the _cuda functions return KS_NO_DEVICE when the library is built
 * without CUDA or no GPU is present).
 *
 * Example:
 *   ks_image img;
 *   ks_image_load_file(ctx, "group.jpg", KS_PIXEL_BGR, &img);
 *   ks_detector_options o; ks_detector_options_init(&o);
 *   ks_detector *det;
 *   ks_detector_create(ctx, "version-RFB-320.onnx", KS_FAMILY_AUTO, &o, &det);
 *   ks_detection_list res;
 *   ks_detector_detect(det, 1, &img, &res);
 *   for (int i = 0; i < res.n; i++) ... res.items[i].box ...
 *   ks_detector_destroy(det); ks_image_release(ctx, &img);
 *
 * Threading: a detector is not reentrant (one detect at a time). The free functions are
 * reentrant. */
#ifndef KESTREL_VISION_H
#define KESTREL_VISION_H
#include <stddef.h>
#include <stdint.h>
#include "kestrel/kestrel.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KS_MAX_LANDMARKS 5

/* One detection in original-image pixel coordinates. */
typedef struct ks_detection {
    float box[4];                       /* x1, y1, x2, y2 */
    float score;
    int32_t class_id;                   /* 0 for single-class face detectors */
    int32_t n_landmarks;                /* 0 or 5 */
    float landmarks[KS_MAX_LANDMARKS][2];
} ks_detection;

/* ------------------------------------------------------------------ images */

typedef enum ks_pixel_format {
    KS_PIXEL_BGR = 0, /* packed 8-bit, 3 bytes per pixel */
    KS_PIXEL_RGB,
    KS_PIXEL_BGRA,    /* packed 8-bit, 4 bytes per pixel, alpha ignored */
    KS_PIXEL_RGBA,
    KS_PIXEL_GRAY,    /* 8-bit luma */
    KS_PIXEL_NV12,    /* Y plane, then interleaved UV at half resolution (BT.601 limited range) */
    KS_PIXEL_I420,    /* Y plane, then U and V planes at half resolution (BT.601 limited range) */
    KS_PIXEL_FORMAT_COUNT
} ks_pixel_format;

typedef enum ks_memory_kind {
    KS_MEMORY_HOST = 0,
    KS_MEMORY_DEVICE, /* CUDA device pointer (current device) */
    KS_MEMORY_KIND_COUNT
} ks_memory_kind;

/* A frame. For packed formats only data/stride are used. For NV12/I420 the chroma
 * pointers may be NULL, meaning "contiguous after the luma plane" (NV12: UV at
 * data + stride*height with stride bytes per row; I420: U at data + stride*height with
 * stride/2 bytes per row, V right after U). Odd widths/heights round the chroma size up.
 * Ownership: owner_ is non-NULL when the library allocated the pixels
 * (ks_image_alloc / ks_image_load_*); such an image is released with ks_image_release.
 * Images the caller fills in (ks_image_wrap) are borrowed. */
typedef struct ks_image {
    int32_t width, height;
    ks_pixel_format format;
    ks_memory_kind memory;
    uint8_t *data;           /* plane 0 */
    int32_t stride;          /* bytes per row of plane 0 */
    uint8_t *chroma[2];      /* NV12: [0] = UV; I420: [0] = U, [1] = V; NULL = contiguous */
    int32_t chroma_stride;   /* 0 = derived from stride */
    void *owner_;            /* internal */
} ks_image;

KS_API const char *ks_pixel_format_name(ks_pixel_format f); /* "BGR", ... */
/* Bytes per pixel of plane 0 (1 for GRAY/NV12/I420). */
KS_API int ks_pixel_format_bpp(ks_pixel_format f);
/* Bytes of a contiguous (stride = width * bpp) image of this size, chroma included. */
KS_API size_t ks_image_bytes(ks_pixel_format f, int32_t width, int32_t height);

/* Describes caller-owned pixels (borrowed). stride 0 = width * bpp. */
KS_API ks_status ks_image_wrap(ks_image *img, int32_t width, int32_t height, ks_pixel_format f,
                               void *data, int32_t stride, ks_memory_kind memory);
/* Allocates a zeroed host image, contiguous. Release with ks_image_release. */
KS_API ks_status ks_image_alloc(ks_context *ctx, int32_t width, int32_t height, ks_pixel_format f,
                                ks_image *out);
/* Frees pixels the library allocated (host or device); borrowed images are only reset.
 * NULL is accepted. */
KS_API void ks_image_release(ks_context *ctx, ks_image *img);

/* Decodes a JPEG or PNG file / buffer on the CPU into a host image of format fmt
 * (BGR, RGB, BGRA, RGBA or GRAY). Corrupt or truncated data fails with KS_CORRUPT_FILE
 * and a message naming the file and what libjpeg/libpng reported (also for data that is
 * neither JPEG nor PNG); a missing file with KS_IO_ERROR. The EXIF orientation tag is not
 * applied. */
KS_API ks_status ks_image_load_file(ks_context *ctx, const char *path, ks_pixel_format fmt,
                                    ks_image *out);
KS_API ks_status ks_image_decode(ks_context *ctx, const void *data, size_t n_bytes,
                                 ks_pixel_format fmt, ks_image *out);
/* Decodes a JPEG on the GPU with nvJPEG (dlopen("libnvjpeg.so.13") on first use) into a
 * device image of format BGR or RGB (interleaved). Returns KS_NO_DEVICE when nvJPEG or a
 * GPU is not available: callers fall back to ks_image_decode + upload. stream may be NULL. */
KS_API ks_status ks_image_decode_device(ks_context *ctx, const void *data, size_t n_bytes,
                                        ks_pixel_format fmt, void *stream, ks_image *out);
/* 1 when ks_image_decode_device can work in this process (nvJPEG loaded, GPU present). */
KS_API int ks_image_gpu_decode_available(ks_context *ctx);
/* A reusable nvJPEG decoder (library handle + decode state) for decoding many JPEGs: create
 * returns KS_NO_DEVICE without nvJPEG or a GPU. decode allocates a device BGR/RGB image
 * (ks_image_release); it is asynchronous on `stream` (the image is ready once the stream
 * is). One decoder per thread. */
typedef struct ks_gpu_jpeg ks_gpu_jpeg;
KS_API ks_status ks_gpu_jpeg_create(ks_context *ctx, ks_gpu_jpeg **out);
KS_API ks_status ks_gpu_jpeg_decode(ks_gpu_jpeg *j, const void *data, size_t n_bytes, ks_pixel_format fmt,
                                    void *stream, ks_image *out);
KS_API void ks_gpu_jpeg_destroy(ks_gpu_jpeg *j);
/* Converts a host image to another format (any -> any of the 7), allocating out. */
KS_API ks_status ks_image_convert(ks_context *ctx, const ks_image *src, ks_pixel_format fmt,
                                  ks_image *out);
/* Copies a host image to the device (contiguous) or back. */
KS_API ks_status ks_image_to_device(ks_context *ctx, const ks_image *src, ks_image *out);
KS_API ks_status ks_image_to_host(ks_context *ctx, const ks_image *src, ks_image *out);
/* Writes a host BGR/RGB/GRAY image as JPEG (quality 1..100). */
KS_API ks_status ks_image_save_jpeg(ks_context *ctx, const char *path, const ks_image *img,
                                    int quality);
/* Writes a host packed (BGR/RGB/BGRA/RGBA) or GRAY image as PNG (lossless). */
KS_API ks_status ks_image_save_png(ks_context *ctx, const char *path, const ks_image *img);

/* ----------------------------------------------------------- preprocessing */

typedef enum ks_resize_mode {
    KS_RESIZE_STRETCH = 0, /* whole image to the whole canvas, aspect ratio not kept */
    KS_RESIZE_LETTERBOX,   /* keep aspect ratio, fit inside the canvas, pad the rest */
    KS_RESIZE_CROP,        /* crop rectangle (source pixels) to the whole canvas */
    KS_RESIZE_MODE_COUNT
} ks_resize_mode;

typedef enum ks_placement {
    KS_PLACE_TOP_LEFT = 0,
    KS_PLACE_CENTER,
    KS_PLACEMENT_COUNT
} ks_placement;

/* 2x3 affine map: x' = m[0]*x + m[1]*y + m[2], y' = m[3]*x + m[4]*y + m[5]. */
typedef struct ks_affine {
    float m[6];
} ks_affine;

typedef struct ks_preprocess_config {
    int32_t width, height;       /* network input (canvas) size */
    ks_resize_mode resize;
    ks_placement placement;      /* LETTERBOX only */
    int32_t round_content;       /* LETTERBOX content size: 0 = floor(side * r) (InsightFace,
                                    YOLOX, default), 1 = round to nearest (Ultralytics) */
    float pad_value[3];          /* value of padded pixels, before normalization, per output channel */
    float crop[4];               /* CROP only: x, y, w, h in source pixels */
    ks_pixel_format channel_order; /* output channels: KS_PIXEL_RGB, KS_PIXEL_BGR or KS_PIXEL_GRAY */
    float scale;                 /* out = (pixel * scale - mean[c]) / std[c], c in output order */
    float mean[3];
    float std[3];
    ks_dtype dtype;              /* KS_DTYPE_FLOAT32 or KS_DTYPE_FLOAT16 */
} ks_preprocess_config;

/* Defaults: 640x640 stretch, top-left, pad 0, RGB, scale 1, mean 0, std 1, FP32. */
KS_API void ks_preprocess_config_init(ks_preprocess_config *cfg);
/* The transforms for one image: fwd maps source pixel coordinates (continuous, pixel
 * centres at +0.5) to canvas coordinates, inv maps back. content (may be NULL) receives
 * the canvas rectangle covered by the image: x0, y0, x1, y1 (integers). */
KS_API ks_status ks_preprocess_transform(const ks_preprocess_config *cfg, int32_t src_width,
                                         int32_t src_height, ks_affine *fwd, ks_affine *inv,
                                         int32_t content[4]);
KS_API void ks_affine_apply(const ks_affine *a, float x, float y, float *out_x, float *out_y);
KS_API ks_status ks_affine_invert(const ks_affine *a, ks_affine *out);
/* CPU reference: n host images -> dst [n][C][H][W] (C = 1 for GRAY else 3) in host memory,
 * dtype per cfg. inv (n entries, may be NULL) receives each image's canvas->image map. */
KS_API ks_status ks_preprocess_cpu(ks_context *ctx, const ks_preprocess_config *cfg, int n,
                                   const ks_image *images, void *dst, ks_affine *inv);
/* CUDA: device images -> dst (device pointer) on stream (cudaStream_t, NULL = default),
 * one kernel launch per 32 images, no synchronisation, no allocation. */
KS_API ks_status ks_preprocess_cuda(ks_context *ctx, const ks_preprocess_config *cfg, int n,
                                    const ks_image *images, void *dst, ks_affine *inv,
                                    void *stream);

/* ------------------------------------------------------------- box decoding */

#define KS_DECODE_MAX_LEVELS 5

typedef enum ks_box_decoder {
    KS_DECODE_SSD = 0,  /* priors (cx,cy,w,h normalised) + regression (dx,dy,dw,dh) with
                           variances; scores [B,N,n_classes] softmaxed; optional landmarks
                           [B,N,10] (RetinaFace) decoded like centres */
    KS_DECODE_CORNERS,  /* boxes [B,N,4] already x1,y1,x2,y2 normalised to [0,1], scores
                           [B,N,n_classes] (UltraFace with in-graph post-processing) */
    KS_DECODE_YUNET,    /* per level: cls, obj [B,n,1]; bbox [B,n,4] (dx,dy,log w,log h);
                           kps [B,n,10]; one point per cell at (col*s, row*s) */
    KS_DECODE_SCRFD,    /* per level: score [B,n*A,1]; bbox [B,n*A,4] (l,t,r,b distances / s);
                           kps [B,n*A,10]; A points per cell at (col*s, row*s) */
    KS_DECODE_YOLO,     /* rows [B,N,5+n_classes]: cx,cy,w,h (input pixels), obj, classes;
                           score = obj * best class score (one class per row) */
    KS_DECODE_YOLO_GRID, /* YOLOv5 raw heads, per level [B,A,H,W,5+C] (or [B,A*(5+C),H,W] with
                           yolo_channels_first) logits: sigmoid, then xy = (2 sx - 0.5 + cell) *
                           stride, wh = (2 sw)^2 * anchor, score = obj * best class; rows in
                           (level, anchor, y, x) order = the in-graph [B,N,5+C] rows */
    KS_BOX_DECODER_COUNT
} ks_box_decoder;

typedef enum ks_score_mode {
    KS_SCORE_PRODUCT = 0, /* YuNet: cls * obj (training repo, reference outputs) */
    KS_SCORE_SQRT,        /* YuNet: sqrt(clamp(cls) * clamp(obj)) (OpenCV FaceDetectorYN) */
    KS_SCORE_MODE_COUNT
} ks_score_mode;

typedef struct ks_decode_level {
    int32_t stride;
    int32_t grid_w, grid_h;
    int32_t n_anchors;  /* points per cell (SCRFD: 2; YOLO_GRID: anchors, at most 4) */
    float anchors[4][2]; /* YOLO_GRID: anchor w, h in input pixels */
} ks_decode_level;

/* Shared by the CPU and CUDA decoders. */
typedef struct ks_decode_params {
    ks_box_decoder kind;
    int32_t batch;
    int32_t n_rows;          /* candidate rows per image (sum over levels for YUNET/SCRFD) */
    int32_t input_w, input_h; /* network input size in pixels */
    int32_t n_classes;       /* score columns (SSD/CORNERS: 2 with background; YOLO: 80) */
    int32_t first_class;     /* SSD/CORNERS: first foreground column (1); class id = column - first */
    float score_threshold;   /* rows with score <= threshold get score -1 and are not decoded */
    ks_score_mode score_mode;
    float variance[2];       /* SSD: 0.1, 0.2 */
    int32_t n_landmarks;     /* 0 or 5 (SSD with landmarks, YUNET, SCRFD) */
    int32_t n_levels;        /* YUNET/SCRFD */
    ks_decode_level levels[KS_DECODE_MAX_LEVELS];
    ks_dtype dtype;          /* of the network outputs: FLOAT32 or FLOAT16 */
    int32_t yolo_channels_first; /* YOLO_GRID: 1 = levels are [B, A*(5+C), H, W] */
} ks_decode_params;

/* Network outputs (host pointers for the CPU decoder, device pointers for CUDA). SSD,
 * CORNERS and YOLO use index 0 only. */
typedef struct ks_decode_inputs {
    const void *boxes[KS_DECODE_MAX_LEVELS];      /* loc / boxes / bbox / rows */
    const void *scores[KS_DECODE_MAX_LEVELS];     /* conf / cls / score */
    const void *objectness[KS_DECODE_MAX_LEVELS]; /* YUNET obj */
    const void *landmarks[KS_DECODE_MAX_LEVELS];  /* RetinaFace landm / kps; NULL = none */
    const float *priors;                          /* SSD: [n_rows][4] cx, cy, w, h */
} ks_decode_inputs;

/* Dense candidates, n_rows per image (row order = network order). */
typedef struct ks_candidates {
    float *boxes;       /* [batch][n_rows][4] x1, y1, x2, y2 in network-input pixels */
    float *scores;      /* [batch][n_rows]; -1 for rows at or under the threshold */
    int32_t *classes;   /* [batch][n_rows] */
    float *landmarks;   /* [batch][n_rows][2 * n_landmarks], or NULL */
} ks_candidates;

KS_API void ks_decode_params_init(ks_decode_params *p);
/* YOLO_GRID: 3 levels (stride 8, 16, 32) with the standard YOLOv5 anchors (n/s/m/l/x P3-P5)
 * and grids for input_w x input_h (set those first); n_rows set to their sum. */
KS_API void ks_decode_yolov5_levels(ks_decode_params *p);
KS_API ks_status ks_decode_check(ks_context *ctx, const ks_decode_params *p);
KS_API ks_status ks_decode_cpu(ks_context *ctx, const ks_decode_params *p,
                               const ks_decode_inputs *in, const ks_candidates *out);
KS_API ks_status ks_decode_cuda(ks_context *ctx, const ks_decode_params *p,
                                const ks_decode_inputs *in, const ks_candidates *out,
                                void *stream);

/* SSD prior boxes. */
typedef struct ks_prior_config {
    int32_t input_w, input_h;
    int32_t n_levels;
    int32_t strides[KS_DECODE_MAX_LEVELS];
    int32_t n_sizes[KS_DECODE_MAX_LEVELS];
    float sizes[KS_DECODE_MAX_LEVELS][4];  /* anchor sizes in input pixels */
    int32_t center_by_feature_map; /* 1: cx = (x+0.5)/fm_w (UltraFace); 0: (x+0.5)*s/W (RetinaFace) */
    int32_t clip;                  /* clamp every value to [0,1] */
} ks_prior_config;

KS_API void ks_prior_config_ultraface(ks_prior_config *c, int32_t input_w, int32_t input_h);
KS_API void ks_prior_config_retinaface(ks_prior_config *c, int32_t input_w, int32_t input_h);
/* Number of priors (order: level, row, column, size). */
KS_API int64_t ks_prior_count(const ks_prior_config *c);
/* Writes ks_prior_count() x 4 floats (cx, cy, w, h normalised). */
KS_API ks_status ks_prior_generate(const ks_prior_config *c, float *priors);

/* --------------------------------------------------------------------- NMS */

typedef struct ks_nms_params {
    int32_t batch;
    int32_t n_rows;          /* candidate rows per image */
    float score_threshold;   /* keep score > threshold */
    float iou_threshold;     /* suppress IoU > threshold (no +1 pixel convention) */
    int32_t top_k;           /* best candidates considered, <= 0: all */
    int32_t max_output;      /* detections kept per image */
    int32_t class_aware;     /* 1: only boxes of one class suppress each other */
    int32_t n_landmarks;     /* copied through when candidates carry landmarks */
} ks_nms_params;

/* Fixed-size outputs (host for CPU, device for CUDA). Rows past counts[b] are zero. */
typedef struct ks_nms_outputs {
    int32_t *counts;         /* [batch] */
    float *boxes;            /* [batch][max_output][4] */
    float *scores;           /* [batch][max_output] */
    int32_t *classes;        /* [batch][max_output] */
    float *landmarks;        /* [batch][max_output][2 * n_landmarks] or NULL */
    int32_t *indices;        /* [batch][max_output] candidate row, or NULL */
    const ks_affine *transforms; /* optional [batch]: applied to kept boxes and landmarks
                                    (e.g. preprocessing's inverse); NULL = identity */
} ks_nms_outputs;

KS_API void ks_nms_params_init(ks_nms_params *p);
/* Greedy NMS: candidates sorted by score (descending; ties by row, ascending), the first
 * top_k considered, each kept box suppresses later ones. Boxes mapped through an affine
 * transform are re-ordered (x1<=x2, y1<=y2). */
KS_API ks_status ks_nms_cpu(ks_context *ctx, const ks_nms_params *p, const ks_candidates *in,
                            const ks_nms_outputs *out);
/* Device scratch needed by ks_nms_cuda (bytes). */
KS_API size_t ks_nms_cuda_workspace_bytes(const ks_nms_params *p);
KS_API ks_status ks_nms_cuda(ks_context *ctx, const ks_nms_params *p, const ks_candidates *in,
                             const ks_nms_outputs *out, void *workspace, size_t workspace_bytes,
                             void *stream);

/* --------------------------------------------------------------- detectors */

typedef enum ks_detector_family {
    KS_FAMILY_AUTO = 0,
    KS_FAMILY_ULTRAFACE,
    KS_FAMILY_YUNET,
    KS_FAMILY_RETINAFACE,
    KS_FAMILY_SCRFD,
    KS_FAMILY_YOLOV5,
    KS_FAMILY_MTCNN,
    KS_FAMILY_COUNT
} ks_detector_family;

typedef struct ks_detector_options {
    float score_threshold;   /* < 0: family default */
    float nms_threshold;     /* < 0: family default */
    int32_t input_width;     /* 0: the model's static size, else 640x640 */
    int32_t input_height;
    int32_t max_detections;  /* per image (default 300) */
    int32_t top_k;           /* candidates considered by NMS (default 5000) */
    int32_t use_gpu;         /* 1: GPU engine path when available (default 0 = CPU); falls back
                                to the CPU (logged) when no GPU or the engine build fails */
    int32_t fp16;            /* GPU path: FP16 engine */
    int32_t max_batch;       /* GPU path: images per engine run (default 1); the engine is built
                                for this batch (batch 1 if the graph cannot take it) */
    int32_t letterbox;       /* -1: family default; 0: stretch; 1: letterbox */
    int32_t center;          /* letterbox placement, -1: family default; 0: top-left; 1: centre */
    int32_t class_aware_nms; /* -1: family default (YOLO class-aware, faces not) */
    ks_score_mode yunet_score; /* default KS_SCORE_PRODUCT */
    int32_t postprocess;     /* decode + NMS as plugin nodes of the model (ks_vision_append_postprocess):
                                -1 (default): on the GPU path (one engine run does network + decode +
                                NMS), not on the CPU path; 0: never (separate decode and NMS stages);
                                1: on both paths. KESTREL_DETECTOR_POSTPROCESS=0/1 overrides the
                                default (-1) */
    int32_t keep_graph_decode; /* with postprocess: 0 (default) = an UltraFace graph that decodes its
                                boxes itself (Slice/Mul/Exp/Concat, ~14 small layers) is cut back to
                                its raw regression and the appended DetectionDecode does the same
                                prior decode in one step (only when the graph's priors equal the
                                family's); 1 = keep the graph's own decode */
} ks_detector_options;

typedef struct ks_detector ks_detector;

/* Results of one image: items owned by the detector, valid until the next
 * ks_detector_detect or ks_detector_destroy. Highest score first. */
typedef struct ks_detection_list {
    int32_t n;
    ks_detection *items;
} ks_detection_list;

KS_API void ks_detector_options_init(ks_detector_options *o);
KS_API const char *ks_detector_family_name(ks_detector_family f); /* "ultraface", ... */
KS_API ks_status ks_detector_family_from_name(const char *name, ks_detector_family *out);

/* Loads model_path (ONNX; an engine file when the GPU engine is built) and prepares the
 * pipeline. KS_FAMILY_AUTO detects the family from the model's output names and shapes
 * (fails with KS_INVALID_ARGUMENT naming the outputs when it is ambiguous). For MTCNN
 * model_path is the folder holding the three nets. opt may be NULL. */
KS_API ks_status ks_detector_create(ks_context *ctx, const char *model_path,
                                    ks_detector_family family, const ks_detector_options *opt,
                                    ks_detector **out);
KS_API void ks_detector_destroy(ks_detector *det);
/* Runs the detector on n images (host images on the CPU path; host or device images on
 * the GPU path). results[i] receives image i's detections in its own pixel coordinates. */
KS_API ks_status ks_detector_detect(ks_detector *det, int n_images, const ks_image *images,
                                    ks_detection_list *results);
KS_API ks_detector_family ks_detector_get_family(const ks_detector *det);
/* The options in effect (family defaults resolved). */
KS_API void ks_detector_get_options(const ks_detector *det, ks_detector_options *out);
/* Class label: "face" for face detectors, COCO names for YOLOv5 ("?" out of range). */
KS_API const char *ks_detector_class_label(const ks_detector *det, int32_t class_id);
/* 1 when detections run on the GPU. */
KS_API int ks_detector_on_gpu(const ks_detector *det);

/* ------------------------------------------------- post-processing inside the model */

/* Registers the built-in com.kestrel::DetectionDecode and com.kestrel::BatchedNMS plugins on
 * ctx (those not registered yet). Needed before ks_engine_load_file of an engine built with
 * post-processing; ks_vision_append_postprocess and ks_detector_create call it. */
KS_API ks_status ks_vision_register_plugins(ks_context *ctx);

/* Appends the family's box decoding and batched NMS to a detector model as plugin nodes
 * (DetectionDecode -> BatchedNMS, see docs/vision.md), so that one CPU session run or one
 * engine (ks_engine_build; engine files keep the plugins) does network + decode + NMS.
 * The model's outputs become, with B the batch and M = opt->max_detections:
 *   num_detections [B,1] int32, detection_boxes [B,M,4] float32 (x1,y1,x2,y2),
 *   detection_scores [B,M] float32, detection_classes [B,M] int32, and for families with
 *   landmarks (YuNet, RetinaFace, SCRFD-kps) detection_landmarks [B,M,10] float32,
 * in network-input pixels, highest score first, zero past the count. opt (may be NULL)
 * gives the thresholds, max_detections, top_k, class_aware_nms, yunet_score and, for
 * dynamic inputs, input_width/height (default 640x640; the input is fixed to that size,
 * batch 1 when unknown). family may be KS_FAMILY_AUTO (guessed from the outputs as
 * ks_detector_create does); MTCNN is refused (UNSUPPORTED_OP). On failure the model may be
 * partly modified: destroy it. A model that already has post-processing is refused. */
KS_API ks_status ks_vision_append_postprocess(ks_model *model, ks_detector_family family,
                                              const ks_detector_options *opt);

#ifdef __cplusplus
}
#endif
#endif
