/* C launchers for kestrel's own CUDA kernels (implemented in *.cu behind
 * extern "C"). Every launcher enqueues on `stream`, never synchronizes or
 * allocates, checks cudaGetLastError and returns 0 on success or the CUDA
 * error code. `half` selects float16 (1) or float32 (0) storage; math is
 * float32 either way. */
#ifndef KS_CUDA_KERNELS_H
#define KS_CUDA_KERNELS_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ks_conv_args {
    const void *x, *w, *bias, *res; /* bias (layer dtype), res (y dtype) may be NULL */
    const float *prelu;             /* per-channel slopes for act PRELU */
    void *y;
    int n, c, ih, iw;               /* input */
    int k, oh, ow;                  /* output channels and size */
    int groups, kh, kw, sh, sw, pt, pl, dh, dw;
    int act;                        /* ks_act */
    float act_a, act_b;
    int res_after_act;              /* 1: y = act(conv + b) + res; 0: act(conv + b + res) */
    void *ws;                       /* scratch for split-K partial sums (ks__cu_conv_igemm_ws bytes) */
} ks_conv_args;

/* Implicit-GEMM direct convolution, any groups/stride/dilation/padding.
 * cfg = tile | split << 4. Tiles (output channels x pixels): SIMT FMA
 * 0: 64x64, 1: 32x128, 2: 16x256, 7: 32x32, 8: 16x64, 9: 64x16; float16
 * tensor-core WMMA 3: 64x64, 4: 32x128, 5: 16x128, 6: 32x32; tensor-core
 * mma.sync with a register-staged double buffer (conv_mma.cu) 10: 64x64,
 * 11: 32x64, 12: 128x64, 13: 32x32 (BK 64), 14: 64x128, 15: 16x64 (BK 64)
 * (tensor-core tiles: float16 only; float32 falls back to tile 0). split > 1: the K loop is cut into `split`
 * chunks run by separate blocks, FP32 partial sums go to a->ws and a second
 * kernel sums them in a fixed order and applies the epilogue. With KS_IGEMM_CLUSTER (tensor-core tiles 10
 * and 13, split 2, 4 or 8; sm_90) the splits of a tile are one thread-block cluster instead: each block
 * leaves its partial sums in its shared memory and the blocks of the cluster sum each other's through
 * distributed shared memory and apply the epilogue, each to its share of the tile: one kernel, no
 * scratch. */
#define KS_IGEMM_CLUSTER 1024
#define KS_IGEMM_TILE(cfg) ((cfg) & 15)
#define KS_IGEMM_SPLIT(cfg) (((cfg) >> 4) & 63)
#define KS_IGEMM_IS_CLUSTER(cfg) (((cfg) & KS_IGEMM_CLUSTER) != 0)
#define KS_IGEMM_CFG(tile, split) ((tile) | ((split) > 1 ? (split) << 4 : 0))
int ks__cu_conv_igemm(const ks_conv_args *a, int half, int cfg, void *stream);
/* Scratch bytes that ks__cu_conv_igemm needs for cfg (0 without split-K). */
int64_t ks__cu_conv_igemm_ws(const ks_conv_args *a, int cfg);
/* Depthwise (groups == c == k) convolution, any kernel size. cfg 0: one
 * output per thread, 1: four outputs along a row per thread, 2: 64x16 output
 * tiles with the input window staged in shared memory (when
 * ks__cu_conv_dw_tiled_fits; else the launch fails with an error). */
int ks__cu_conv_dw(const ks_conv_args *a, int half, int cfg, void *stream);
/* Depthwise cfg 3 (strip-tiled, 16-byte staging): 3x3 or 5x5, stride 1 or 2,
 * no dilation, n*c <= 65535. */
int ks__cu_conv_dw_strip_fits(const ks_conv_args *a);
int ks__cu_conv_dw_tiled_fits(const ks_conv_args *a);
/* Depthwise cfg 4 (rolling rows, conv_dw_roll.cu): 3x3 or 5x5, stride 1 or 2, no dilation, left pad
 * kernel / 2, ow a multiple of 4 with ow * stride <= iw, rows 8- or 16-byte aligned. Tensors that are not
 * 16-byte aligned run the strip-tiled (or the four-outputs) kernel instead. */
int ks__cu_conv_dw_roll_fits(const ks_conv_args *a, int half);
int ks__cu_conv_dw_roll(const ks_conv_args *a, int half, void *stream);
/* Fused depthwise (c -> c, kernel kh x kw, any stride/pad/dilation, bias,
 * activation dw_act) + pointwise 1x1 (c -> k, bias, activation act,
 * residual) convolution: y = pw(dw(x)) without writing the intermediate.
 * cfg 0..KS_DWPW_N_CFG-1 picks the tile (out channels x pixels): 0 64x64,
 * 1 32x64, 2 32x32, 3 64x32, 4 16x64, 5 128x32, 6 16x128, 7 16x32, 8 32x16;
 * 9: streaming (c, k <= 64; ks__cu_conv_dwpw_stream): the depthwise outputs
 * of all channels of 128 pixels in shared memory, then all k outputs;
 * 10: tensor cores, float16 only (ks__cu_conv_dwpw_tc). */
#define KS_DWPW_N_CFG 11
#define KS_DWPW_STREAM_CFG 9
#define KS_DWPW_TC_CFG 10
typedef struct ks_dwpw_args {
    const void *x;                       /* [n, c, ih, iw] */
    const void *dw_w, *dw_bias;          /* [c, 1, kh, kw], [c] (may be NULL) */
    const float *dw_prelu;               /* [c] slopes for dw_act PRELU */
    int dw_act;
    float dw_act_a, dw_act_b;
    const void *w, *bias, *res;          /* [k, c, 1, 1], [k] (may be NULL), y-shaped (may be NULL) */
    const float *prelu;                  /* [k] slopes for act PRELU */
    int act;
    float act_a, act_b;
    int res_after_act;
    void *y;                             /* [n, k, oh, ow] */
    int n, c, ih, iw, k, oh, ow;
    int kh, kw, sh, sw, pt, pl, dh, dw;  /* depthwise geometry */
} ks_dwpw_args;
int ks__cu_conv_dwpw(const ks_dwpw_args *a, int half, int cfg, void *stream);
/* Direct conv for tiny input channel counts (groups 1, weights <= 48 KB). */
int ks__cu_conv_direct(const ks_conv_args *a, int half, void *stream);
/* Tiled direct conv for first layers (groups 1, c <= 4, k <= 64): the input
 * patch of a 64 x (8 fp32 | 16 fp16) output tile staged in shared memory,
 * 16 output channels per pass per pixel (own:direct:1). _fits: 1 if the
 * geometry is supported (shared memory <= 48 KB). */
int ks__cu_conv_direct_tiled(const ks_conv_args *a, int half, void *stream);
int ks__cu_conv_direct_tiled_fits(const ks_conv_args *a, int half);
/* Tensor-core first-layer conv, FP16 only (own:direct:2): groups 1, c <= 4,
 * k <= 64, kernel <= 7x7, stride 1..4, dilation 1; mma.sync m16n8k16 over
 * an input patch staged in shared memory (conv_tc_direct.cu). */
int ks__cu_conv_tc_direct(const ks_conv_args *a, int half, void *stream);
int ks__cu_conv_tc_direct_fits(const ks_conv_args *a);
/* Streaming 1x1 conv (groups 1, stride 1, no padding, c <= 64, k <= 64):
 * one coalesced read of all input channels of 128 pixels into shared
 * memory, all output channels from there (own:pointwise). */
int ks__cu_conv_pw_stream(const ks_conv_args *a, int half, void *stream);
int ks__cu_conv_pw_stream_fits(const ks_conv_args *a);
/* Fused dw+pw tile 9 (c, k <= 64), see KS_DWPW_STREAM_CFG. */
int ks__cu_conv_dwpw_stream(const ks_dwpw_args *a, int half, void *stream);
/* Tensor-core (mma.sync m16n8k16, FP32 accumulate) 1x1 conv, float16 only
 * (own:pointwise:1): groups 1, stride 1, no padding, c and k <= 128.
 * _fits: 1 if supported (half must be 1). */
int ks__cu_conv_pw_tc(const ks_conv_args *a, int half, void *stream);
int ks__cu_conv_pw_tc_fits(const ks_conv_args *a, int half);
/* Fused dw+pw tile 10 (KS_DWPW_TC_CFG, float16 only): depthwise kernel <= 5x5,
 * stride and dilation 1..2, c and k <= 128; the depthwise outputs of an 8x32
 * pixel tile in shared memory, then the tensor-core 1x1 from there. */
int ks__cu_conv_dwpw_tc(const ks_dwpw_args *a, int half, void *stream);
int ks__cu_conv_dwpw_tc_fits(const ks_dwpw_args *a, int half);
/* In-place epilogue after a library convolution: y = act(y + bias [+ res])
 * (+ res after act). */
int ks__cu_conv_epilogue(const ks_conv_args *a, int half, void *stream);

typedef struct ks_pool_args {
    const void *x; void *y;
    int n, c, h, w, oh, ow;
    int mode, kh, kw, sh, sw, pt, pl, pb, pr;
} ks_pool_args;
int ks__cu_pool(const ks_pool_args *a, int half, void *stream);

#define KS_CU_EW_MAX_IN 4
typedef struct ks_ew_args {
    const void *in[KS_CU_EW_MAX_IN];
    void *y;
    int n_in;
    int rank;                 /* <= 6 */
    int64_t dims[6];          /* output dims */
    int64_t strides[KS_CU_EW_MAX_IN][6]; /* per input, in elements; 0 = broadcast */
    int same_shape[KS_CU_EW_MAX_IN];     /* input is contiguous with the output's shape */
    int n_instr;
    int32_t op[12], dst[12], ra[12], rb[12], act[12];
    float imm[12], imm2[12];
    int out_reg;
} ks_ew_args;
int ks__cu_eltwise(const ks_ew_args *a, int64_t numel, int half, void *stream);

/* Segmented map (layer kind SEGMAP): y[b,a,h,w,c] = prog_k(act(x[b,a,c,h,w])) where part k
 * holds c (a Transpose(0,1,3,4,2) + activation + Split on the last axis + an elementwise chain
 * per part + Concat, e.g. a YOLO detect head). Constant inputs c[j] broadcast against their
 * part's shape [B,A,H,W,len_k] with strides cst[j] (0 = broadcast). Registers: r4 = the
 * activated value, r0..r3 = the part's constants; every instruction writes r4. */
#define KS_CU_SEG_MAX_PARTS 4
#define KS_CU_SEG_MAX_CONST 7
typedef struct ks_segmap_args {
    const void *x;
    void *y;
    int64_t B, A, C, H, W;    /* y is [B,A,H,W,C], x is [B,A,C,H,W] */
    int act;                  /* activation applied to every element first */
    float act_a, act_b;
    int64_t y_stride;         /* elements from one image's rows of y to the next; 0 = A*H*W*C (packed) */
    int n_parts;
    int64_t end[KS_CU_SEG_MAX_PARTS];      /* exclusive end of part k on the last axis */
    int n_instr[KS_CU_SEG_MAX_PARTS], first_instr[KS_CU_SEG_MAX_PARTS];
    int n_const[KS_CU_SEG_MAX_PARTS], first_const[KS_CU_SEG_MAX_PARTS];
    const void *c[KS_CU_SEG_MAX_CONST];
    int64_t cst[KS_CU_SEG_MAX_CONST][5];
    int32_t op[12], ra[12], rb[12], iact[12];
    float imm[12], imm2[12];
} ks_segmap_args;
int ks__cu_segmap(const ks_segmap_args *a, int half, void *stream);
/* own:pointwise:1 with the segmap in its epilogue (layer kind SEGMAP, tactic own:pointwise: docs/format.md):
 * a is the 1x1 conv (float16, no residual) whose output [n, A*C, oh, ow] is the segmap's x; s the segmap, whose
 * x is not read. Writes s->y only. Fits: a fits ks__cu_conv_pw_tc, shapes agree, ks__eng_pw_seg_ok. */
int ks__cu_conv_pw_seg_fits(const ks_conv_args *a, const ks_segmap_args *s);
int ks__cu_conv_pw_seg(const ks_conv_args *a, const ks_segmap_args *s, void *stream);

int ks__cu_softmax(const void *x, void *y, int64_t outer, int64_t axis, int64_t inner, int half,
                   void *stream);

/* Generic byte movers (element size 1, 2, 4 or 8). */
typedef struct ks_nd_args {
    const void *x; void *y;
    int rank;
    int64_t odims[6];
    int64_t in_strides[6];  /* elements, per output axis (transpose: permuted strides) */
    int64_t in_offset;      /* elements (slice start) */
    int64_t idims[6];       /* pad: input dims; */
    int64_t pad_before[6];
    int pad_mode;           /* -1 = not a pad */
    uint64_t pad_value;     /* raw bits of the element */
} ks_nd_args;
int ks__cu_nd_copy(const ks_nd_args *a, int elem_bytes, void *stream);

typedef struct ks_concat_args {
    const void *in[8];
    int64_t extent[8];      /* axis extent * inner bytes per input */
    int n_in;
    int64_t outer, total;   /* total = sum extents (bytes per outer row) */
    void *y;
} ks_concat_args;
int ks__cu_concat(const ks_concat_args *a, void *stream);

int ks__cu_gather(const void *x, const int32_t *idx, void *y, int64_t outer, int64_t axis,
                  int64_t inner_bytes, int64_t n_idx, void *stream);

typedef struct ks_resize_args {
    const void *x; void *y;
    int64_t outer; int ih, iw, oh, ow;
    int mode;               /* 0 nearest (one tap), 1 linear (2x2 taps) */
    const int32_t *idx;     /* [2*oh rows][2*ow cols] input indices */
    const float *wt;        /* matching weights */
} ks_resize_args;
int ks__cu_resize(const ks_resize_args *a, int half, void *stream);

/* dtype conversion between ks_dtype codes (float32/16, int8/32/64, uint8, bool). */
int ks__cu_cast(const void *x, int src_dtype, void *y, int dst_dtype, int64_t n, void *stream);
/* Fills n elements with uniform values in [lo, hi) (float16 or float32); for timing buffers. */
int ks__cu_fill_random(void *p, int64_t n, int half, float lo, float hi, uint32_t seed, void *stream);

#ifdef __cplusplus
}
#endif
#endif
