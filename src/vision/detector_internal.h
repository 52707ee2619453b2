/* ks_detector internals shared by detector.c (CPU path) and detector_gpu.c. */
#ifndef KS_VISION_DETECTOR_INTERNAL_H
#define KS_VISION_DETECTOR_INTERNAL_H

#include "kestrel/vision.h"
#include "vision/vision_internal.h"

struct ks_detector_gpu; /* detector_gpu.c */

#define KS_DET_MAX_IO 16
/* Outputs of a model with appended post-processing (detector_postprocess.c), in order:
 * num_detections, detection_boxes, detection_scores, detection_classes, detection_landmarks. */
#define KS_PP_OUTPUTS 5
/* The Split node that separates the packed NMS boxes + landmarks: built in FP32 even in FP16
 * engines (box coordinates in pixels need more than half precision). */
#define KS_PP_SPLIT_NODE "ks_postprocess/split_landmarks"

/* Model or engine I/O, as the detector needs it. */
typedef struct ks_det_io {
    int n_inputs, n_outputs;
    char in_name[256];
    ks_dtype in_dtype;
    int in_ndim;
    int64_t in_dims[KS_MAX_DIMS];
    char out_names[KS_DET_MAX_IO][256];
    ks_dtype out_dtype[KS_DET_MAX_IO];
    int out_ndim[KS_DET_MAX_IO];
    int64_t out_dims[KS_DET_MAX_IO][KS_MAX_DIMS];
    int has_exp;              /* graph computes Exp (UltraFace in-graph decode); -1 unknown */
} ks_det_io;

struct ks_detector {
    ks_context *ctx;
    char *path;
    ks_detector_family family;
    ks_detector_options opt;      /* family defaults resolved */
    ks_preprocess_config pre;
    int decoded_in_graph;         /* UltraFace variant with in-graph decode */
    ks_model *model;
    ks_session *session;
    ks_det_io io;
    const char *input_name;       /* owned by the model */
    ks_dtype in_dtype;
    int32_t in_w, in_h;
    /* output roles: model output index per level, -1 = none */
    int o_boxes[KS_DECODE_MAX_LEVELS], o_scores[KS_DECODE_MAX_LEVELS];
    int o_obj[KS_DECODE_MAX_LEVELS], o_kps[KS_DECODE_MAX_LEVELS];
    int strides[KS_DECODE_MAX_LEVELS];
    int n_levels;
    int yolo_grid;                /* YOLOv5 raw heads: 1 = [B,3,H,W,5+C], 2 = [B,3*(5+C),H,W] */
    float *priors;                /* SSD families */
    int64_t n_priors;
    /* host buffers */
    void *input_buf;              /* one image, CHW */
    int32_t cap_rows;
    float *cand_boxes, *cand_scores, *cand_landmarks;
    int32_t *cand_classes;
    int cap_images;
    ks_detection *results;        /* [cap_images][max_detections] */
    float *nms_boxes, *nms_scores, *nms_landmarks; /* landmarks stride 2*KS_MAX_LANDMARKS */
    int32_t *nms_classes, *nms_counts;
    ks_affine *inv;
    int32_t last_landmarks;
    int postprocess;              /* decode + NMS are nodes of the model / engine */
    int32_t pp_landmarks;         /* landmark points of the appended post-processing (0 or 5) */
    int pp_out[KS_PP_OUTPUTS];    /* model/engine output index of each post-processing output (-1) */
    void *mtcnn;                  /* MTCNN detector (another owner's code) */
    struct ks_detector_gpu *gpu;  /* non-NULL on the GPU path */
};

ks_status ks__det_io_from_model(ks_context *ctx, const ks_model *m, ks_det_io *io);
ks_detector_family ks__detector_guess_family(const ks_det_io *io);
int ks__detector_yolo_heads(const ks_det_io *io);
/* Creation steps shared by the CPU and GPU paths (d->io filled first). */
ks_status ks__detector_resolve_family(ks_detector *d);
ks_status ks__detector_setup_input(ks_detector *d);
ks_status ks__detector_setup_outputs(ks_detector *d);
ks_status ks__detector_alloc_buffers(ks_detector *d);
ks_status ks__detector_reserve_rows(ks_detector *d, int32_t n_rows);
ks_status ks__detector_reserve_results(ks_detector *d, int n_images);
ks_status ks__detector_decode_params(ks_detector *d, int32_t batch, const int64_t (*odims)[KS_MAX_DIMS],
                                     const int *ondim, const ks_dtype *odtype, ks_decode_params *p);
void ks__detector_decode_inputs(const ks_detector *d, void *const *outs, ks_decode_inputs *in);
void ks__detector_nms_params(const ks_detector *d, int32_t batch, int32_t n_rows, int32_t n_landmarks,
                             ks_nms_params *np);
void ks__detector_fill_results(ks_detector *d, int first, int n, int32_t n_landmarks,
                               ks_detection_list *results);
int ks__detector_is_engine_file(const char *path);
/* A zeroed detector with ctx, family, the options (defaults when opt is NULL) and a copy of
 * path; *out = NULL and an error on allocation failure. */
ks_status ks__detector_new(ks_context *ctx, ks_detector_family family, const ks_detector_options *opt,
                           const char *path, ks_detector **out);
ks_status ks__detector_check_options(ks_detector *d);
ks_status ks__detector_make_priors(ks_detector *d);
/* 1 when opt.postprocess (or KESTREL_DETECTOR_POSTPROCESS) asks for in-model post-processing
 * on this path (gpu = 1: GPU engine; default on), else 0 (CPU default: separate stages). */
int ks__detector_want_postprocess(const ks_detector *d, int gpu);

/* detector_postprocess.c. Appends DetectionDecode + BatchedNMS to d->model (family, input,
 * outputs and priors set up; batch from d->io.in_dims[0]); the model's outputs become the
 * KS_PP_OUTPUTS ones; d->io, d->postprocess, d->pp_landmarks updated. */
ks_status ks__detector_append_postprocess(ks_detector *d);
/* UltraFace exports that decode in the graph: moves the boxes output back to the raw SSD
 * regression (the ~14 small decode layers become dead and the appended DetectionDecode
 * decodes with the priors instead), only where the graph's prior constants equal
 * d->priors and exactly one raw [B, N, 4] concat is found. 1 when done, 0 when the graph
 * is left as it is. The caller re-reads the outputs (ks_model_optimize removes the chain). */
int ks__ultraface_strip_decode(ks_detector *d);
/* The post-processing output indices in io (idx[k] = -1 when absent); returns the number
 * found when the first four are all there, else 0. */
int ks__det_io_postprocessed(const ks_det_io *io, int idx[KS_PP_OUTPUTS]);
const char *ks__pp_output_name(int i);
/* Maps `count` kept boxes (and landmarks, stride 2*KS_MAX_LANDMARKS) through inv, in place,
 * with the same arithmetic as the NMS (ks_v_map_box / ks_v_map_point). */
void ks__detector_pp_map(const ks_affine *inv, int32_t count, float *boxes, float *landmarks, int32_t n_landmarks);

/* GPU path (detector_gpu.c). create returns KS_NO_DEVICE / KS_UNSUPPORTED_OP when the GPU
 * engine or a GPU is not available (the caller then falls back to the CPU). */
ks_status ks__detector_gpu_create(ks_detector *d);
ks_status ks__detector_gpu_create_from_engine(ks_detector *d);
ks_status ks__detector_gpu_detect(ks_detector *d, int n, const ks_image *images, ks_detection_list *results);
void ks__detector_gpu_destroy(ks_detector *d);

#endif
