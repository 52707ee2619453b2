/* MTCNN GPU cascade: kernel parameter blocks and the extern "C" launchers of
 * mtcnn_gpu.cu, used by mtcnn_gpu.c (host orchestration). Device pointers;
 * every launcher enqueues on `stream` without synchronizing and returns 0 or
 * a CUDA error code with its text in err. */
#ifndef KS_VISION_MTCNN_GPU_H
#define KS_VISION_MTCNN_GPU_H
#include <stddef.h>
#include <stdint.h>

#include "vision/mtcnn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KS_MTG_MAX_LEVELS KS_MTCNN_MAX_LEVELS
#define KS_MTG_NMS_CAP 4096 /* boxes one block-NMS call handles (power of two) */

/* Frame batching: a pipeline processes nf frames per run (ks_mtcnn_options.
 * frame_batch). Every per-frame device array below holds nf consecutive
 * per-frame blocks; kernels take the frame from blockIdx.y (grid-stride
 * kernels) or blockIdx.x (one-block NMS). */

/* One pyramid level as written into its P-Net input: element (x, y, c) of
 * frame f's resized image goes to dst + base + f*fstride + c*cs + a*rp + b*ps,
 * where (a, b) = transposed ? (x, y) : (y, x). first = first flat thread
 * index (within one frame). */
typedef struct ks_mtg_pyr_level {
    int w, h;
    int64_t base, cs, rp, ps, first, fstride;
} ks_mtg_pyr_level;
typedef struct ks_mtg_pyramid {
    int n, transposed, nf;
    int64_t total;       /* threads per frame */
    int64_t img_fstride; /* floats between frames of the normalised image */
    ks_mtg_pyr_level l[KS_MTG_MAX_LEVELS];
} ks_mtg_pyramid;

/* One level's P-Net output maps (2-channel prob, 4-channel reg). Cell (a, b)
 * of the level is map cell (off_a + a, off_b + b) of a map map_a x map_b;
 * frame f's maps follow frame 0's (engine outputs [nf, C, map_a, map_b] or
 * [nf, map_a, map_b, C]). */
typedef struct ks_mtg_level {
    const float *prob, *reg;
    int map_a, map_b;   /* full map dims (blob axes 2, 3 or NHWC 1, 2) */
    int off_a, off_b;
    int ma, mb;         /* level map size */
    int cell_base;      /* first global cell index */
    float scale;
} ks_mtg_level;
typedef struct ks_mtg_levels {
    int n, nhwc, transposed, total_cells;
    ks_mtg_level l[KS_MTG_MAX_LEVELS];
} ks_mtg_levels;

/* Per-frame counters on the device (zeroed at the start of each frame). */
typedef struct ks_mtg_state {
    int n_cand;      /* P-Net cells over t1 */
    int n_pkept;     /* after the per-level NMS */
    int n_global;    /* in the cross-scale NMS input (<= KS_MTG_NMS_CAP) */
    int n_r;         /* after the cross-scale NMS = R-Net candidates */
    int n_rpass;     /* over t2 */
    int n_o;         /* after the R-Net NMS = O-Net candidates */
    int n_opass;     /* over t3 */
    int n_final;
    int truncated;   /* bit 0: P-Net list, 1: cross-scale input (fixed capacities) */
    int pad[7];
} ks_mtg_state;
#define KS_MTG_STATE_INTS ((int)(sizeof(ks_mtg_state) / sizeof(int)))

/* Scratch of one pipeline, device pointers (sizes in mtcnn_gpu.c); sizes
 * below are per frame, nf frames each (frame stride = that size). */
typedef struct ks_mtg_bufs {
    ks_mtg_state *state;   /* [nf] */
    uint8_t *status;       /* [total_cells] */
    int *cand;             /* KS_MTG_CAND_BYTES(cand_cap): cell indices + masks */
    int cand_cap;
    ks_mtcnn_box *g_in;    /* [KS_MTG_NMS_CAP] */
    int *g_key;
    ks_mtcnn_box *r_list;  /* [KS_MTG_NMS_CAP] after cross-scale NMS */
    ks_mtcnn_box *r_pass;  /* [KS_MTG_NMS_CAP] over t2 (all chunks) */
    int *r_key;
    ks_mtcnn_box *o_list;  /* [KS_MTG_NMS_CAP] after R-Net NMS */
    ks_mtcnn_box *o_pass;  /* [KS_MTG_NMS_CAP] */
    int *o_key;
    ks_mtcnn_box *final;   /* [KS_MTG_NMS_CAP] */
    int *r_boxes, *o_boxes;/* nf*rb x int[4], nf*ob x int[4]: crop box of each net item */
    int rb, ob;            /* R-Net / O-Net items per frame (engine batch = nf*rb, nf*ob) */
    int nf;                /* frames (0 is taken as 1); status stride = total_cells */
} ks_mtg_bufs;

/* Which R-Net/O-Net items a prepare/filter call covers: frames
 * [frame0, frame0 + n_frames), `per` net items each (item i: frame
 * frame0 + i / per, list entry first + i % per; entries past the frame's
 * count are skipped). Normal run: all frames, per = rb/ob, first = 0.
 * Overflow chunk: one frame, per = the whole engine batch, first = the
 * chunk's first list entry. */
typedef struct ks_mtg_span {
    int frame0, n_frames, per, first;
} ks_mtg_span;

typedef struct ks_mtg_thresholds {
    float t[3];
    float nms[3];
} ks_mtg_thresholds;

/* nf frames of 8-bit interleaved RGB/BGR (bit f of bgr_mask: frame f is
 * BGR), w*h*3 bytes apart, rows `stride` bytes -> normalised float RGB HWC,
 * w*h*3 floats apart. */
int ks__mtg_normalize(const uint8_t *src, int w, int h, size_t stride, int nf,
                      uint32_t bgr_mask, float *dst, void *stream, char *err, size_t err_bytes);
int ks__mtg_pyramid(const float *img, int w, int h, const ks_mtg_pyramid *p, float *dst,
                    void *stream, char *err, size_t err_bytes);
/* Zeroes the state, finds P-Net cells over t1, per-level NMS, compacts the
 * kept boxes and runs the cross-scale NMS: r_list / state->n_r. */
int ks__mtg_pnet_post(const ks_mtg_levels *L, const ks_mtg_bufs *b, const ks_mtg_thresholds *t,
                      void *const *ev, void *stream, char *err, size_t err_bytes);
/* ev (profiling; NULL = none): 3 events recorded after the cell selection,
 * the per-level NMS and the compaction. */
/* Regression + squaring of the R-Net (stage 1) or O-Net (stage 2) input
 * list entries of span sp, crop boxes, crop-resize into the net input
 * (n_frames*per items, layout). img: frame 0's normalised image, frames
 * w*h*3 floats apart. */
int ks__mtg_prepare_stage(int stage, const ks_mtg_span *sp, const float *img, int w, int h,
                          const ks_mtg_bufs *b, int nhwc, int transposed, float *net_in,
                          void *stream, char *err, size_t err_bytes);
/* Appends the span's items over the threshold to the stage's pass list
 * (n_rpass / n_opass; O-Net: landmarks + bbreg). prob [items][2], reg
 * [items][4], pts [items][10] (O-Net). */
int ks__mtg_filter_stage(int stage, const ks_mtg_span *sp, int w, int h, const ks_mtg_bufs *b,
                         const float *prob, const float *reg, const float *pts,
                         const ks_mtg_thresholds *t, void *stream, char *err, size_t err_bytes);
/* The stage's NMS for frames [frame0, frame0 + n_frames): R-Net pass list
 * -> o_list / n_o, O-Net pass list -> final / n_final. */
int ks__mtg_nms_stage(int stage, int frame0, int n_frames, const ks_mtg_bufs *b,
                      const ks_mtg_thresholds *t, void *stream, char *err, size_t err_bytes);
/* One-block NMS (also used by the NMS plugin tests): n = min(*count, cap)
 * boxes with tie keys (ascending wins on equal score; NULL = index) ->
 * out sorted by score with *out_count kept. */
int ks__mtg_nms(const ks_mtcnn_box *in, const int *key, const int *count, float thr, int min_mode,
                ks_mtcnn_box *out, int *out_count, void *stream, char *err, size_t err_bytes);

/* CUDA runtime helpers for mtcnn_gpu.c (no CUDA headers there). */
int ks__mtg_malloc(void **p, size_t n, char *err, size_t err_bytes);
int ks__mtg_malloc_host(void **p, size_t n, char *err, size_t err_bytes);
void ks__mtg_free(void *p);
void ks__mtg_free_host(void *p);
int ks__mtg_memset(void *p, int v, size_t n, void *stream, char *err, size_t err_bytes);
/* kind: 1 H2D, 2 D2H, 3 D2D; 2-D copy when rows > 1 */
int ks__mtg_memcpy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                     size_t rows, int kind, void *stream, char *err, size_t err_bytes);
int ks__mtg_stream_create(void **s, char *err, size_t err_bytes);
void ks__mtg_stream_destroy(void *s);
int ks__mtg_stream_sync(void *s, char *err, size_t err_bytes);
int ks__mtg_event_create(void **e, int timing, char *err, size_t err_bytes);
void ks__mtg_event_destroy(void *e);
int ks__mtg_event_record(void *e, void *stream, char *err, size_t err_bytes);
int ks__mtg_stream_wait(void *stream, void *e, char *err, size_t err_bytes);
float ks__mtg_event_ms(void *a, void *b); /* < 0 on error */
int ks__mtg_capture_begin(void *stream, char *err, size_t err_bytes);
/* Ends the capture and instantiates; *exec NULL when it failed. */
int ks__mtg_capture_end(void *stream, void **exec, char *err, size_t err_bytes);
int ks__mtg_graph_launch(void *exec, void *stream, char *err, size_t err_bytes);
void ks__mtg_graph_destroy(void *exec);
int ks__mtg_pointer_is_device(const void *p);

#ifdef __cplusplus
}
#endif
#endif
