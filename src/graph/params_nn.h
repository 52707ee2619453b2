/* Parameters of the neural-network op family (Conv, ConvTranspose, pools,
 * Resize, Pad, Gemm, MatMul), parsed once from a node and shared by shape
 * inference, the CPU reference kernels and the CUDA backend so their
 * geometry cannot drift apart. Internal header.
 *
 * Every struct here is plain data (no pointers): it may be copied, stored in
 * an engine file or passed by value to a CUDA launcher.
 *
 *   ks_window_params p;
 *   KS_CHECK(ks__conv_params(oc, oc->in[0], oc->in[1], &p));
 *   // p.out[i]: output spatial sizes; p.pad_begin[i]: resolved padding
 *
 * Unknown sizes: during static inference an input dim may be -1; the
 * functions then write -1 for whatever depends on it (output sizes, and
 * SAME_* pads) instead of failing. They fail (via ks__op_error, naming the
 * attribute and its value) only on inputs that are invalid. */
#ifndef KS_GRAPH_PARAMS_NN_H
#define KS_GRAPH_PARAMS_NN_H

#include "graph/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Spatial ranks the window ops (Conv, ConvTranspose, pools) support. */
#define KS_NN_MAX_SPATIAL 3

typedef enum ks_auto_pad {
    KS_AUTO_PAD_NOTSET = 0,
    KS_AUTO_PAD_SAME_UPPER,
    KS_AUTO_PAD_SAME_LOWER,
    KS_AUTO_PAD_VALID
} ks_auto_pad;

/* Geometry of a sliding-window op over n_spatial trailing dims of an
 * [N, C, D1..Dn] tensor. Output position o along axis i reads input
 * positions o*stride[i] - pad_begin[i] + k*dilation[i], k in [0, kernel[i])
 * (Conv and pools); for ConvTranspose input position j writes output
 * positions j*stride[i] - pad_begin[i] + k*dilation[i]. */
typedef struct ks_window_params {
    int n_spatial; /* 1..KS_NN_MAX_SPATIAL */
    ks_auto_pad auto_pad;
    int64_t kernel[KS_NN_MAX_SPATIAL];
    int64_t stride[KS_NN_MAX_SPATIAL];
    int64_t dilation[KS_NN_MAX_SPATIAL];
    int64_t pad_begin[KS_NN_MAX_SPATIAL]; /* resolved; -1 if unknown (SAME_*, size unknown) */
    int64_t pad_end[KS_NN_MAX_SPATIAL];
    int64_t output_padding[KS_NN_MAX_SPATIAL]; /* ConvTranspose only */
    int64_t in[KS_NN_MAX_SPATIAL];             /* input spatial sizes, -1 unknown */
    int64_t out[KS_NN_MAX_SPATIAL];            /* output spatial sizes, -1 unknown */
    int64_t group;                             /* Conv / ConvTranspose; 1 for pools */
    int64_t in_channels;                       /* C of X, -1 unknown */
    int64_t out_channels;  /* Conv: M; ConvTranspose: group * W.dims[1]; pools: C */
    int ceil_mode;         /* pools */
    int count_include_pad; /* AveragePool */
    int storage_order;     /* MaxPool (Indices output) */
} ks_window_params;

/* Conv: X [N, C, D...], W [M, C/group, k...]. Validates group against C and
 * M, kernel_shape against W, and that every output size is >= 1. */
ks_status ks__conv_params(const ks_op_ctx *oc, const ks_tensor *x, const ks_tensor *w,
                          ks_window_params *p);
/* ConvTranspose: X [N, C, D...], W [C, M/group, k...]; output_shape and
 * output_padding resolved into pads and out[]. */
ks_status ks__conv_transpose_params(const ks_op_ctx *oc, const ks_tensor *x, const ks_tensor *w,
                                    ks_window_params *p);
/* MaxPool / AveragePool (kernel_shape required). ceil_mode drops a last
 * window that would start inside the end padding (as PyTorch and
 * onnxruntime do). */
ks_status ks__pool_params(const ks_op_ctx *oc, const ks_tensor *x, ks_window_params *p);

/* Output size along one axis of a Conv-style window; -1 if in < 0. */
int64_t ks__window_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                            int64_t pad_begin, int64_t pad_end, int ceil_mode);

/* --- Resize --- */
typedef enum ks_resize_mode {
    KS_RESIZE_NEAREST = 0,
    KS_RESIZE_LINEAR,
    KS_RESIZE_CUBIC
} ks_resize_mode;

typedef enum ks_resize_coord {
    KS_RESIZE_HALF_PIXEL = 0,
    KS_RESIZE_HALF_PIXEL_SYMMETRIC,
    KS_RESIZE_PYTORCH_HALF_PIXEL,
    KS_RESIZE_ALIGN_CORNERS,
    KS_RESIZE_ASYMMETRIC,
    KS_RESIZE_TF_HALF_PIXEL_FOR_NN, /* opset 11 only */
    KS_RESIZE_TF_CROP_AND_RESIZE
} ks_resize_coord;

typedef enum ks_resize_nearest {
    KS_RESIZE_ROUND_PREFER_FLOOR = 0,
    KS_RESIZE_ROUND_PREFER_CEIL,
    KS_RESIZE_FLOOR,
    KS_RESIZE_CEIL,
    KS_RESIZE_SIMPLE /* Resize-10 / Upsample: ceil when downsampling, else trunc */
} ks_resize_nearest;

/* Coordinates are computed in double with scale = out/in exactly (from
 * sizes) or the float scale given, as ONNX's reference implementation does:
 * nearest-neighbour ties (x.5, or an integer under floor/ceil) then round as
 * exact arithmetic says. onnxruntime computes in float and can land on
 * either side of such a tie. Backends should build their index/weight
 * tables with these functions (on the host) rather than re-derive them in
 * float. */
typedef struct ks_resize_params {
    ks_resize_mode mode;
    ks_resize_coord coord;
    ks_resize_nearest nearest;
    float cubic_coeff_a;
    int exclude_outside;
    float extrapolation_value;
    int ndim;
    int64_t in[KS_MAX_DIMS];
    int64_t out[KS_MAX_DIMS];      /* -1 unknown */
    double scale[KS_MAX_DIMS];     /* out/in when from sizes; 0 if unknown */
    double roi_start[KS_MAX_DIMS]; /* tf_crop_and_resize; 0 / 1 by default */
    double roi_end[KS_MAX_DIMS];
} ks_resize_params;

/* Picks X, roi, scales and sizes from oc->in by the node's opset (Resize-10
 * has inputs X, scales) and treats empty tensors as absent. */
void ks__resize_inputs(const ks_op_ctx *oc, const ks_tensor **x, const ks_tensor **roi,
                       const ks_tensor **scales, const ks_tensor **sizes);
/* Parses attributes and the roi/scales/sizes inputs. Where scales/sizes
 * data is not known (static inference) the output dims are -1. Rejects
 * antialias != 0 with UNSUPPORTED_ATTR. */
ks_status ks__resize_params(const ks_op_ctx *oc, ks_resize_params *p);
/* Output coordinate -> input coordinate along axis (not clamped). */
double ks__resize_coord(const ks_resize_params *p, int axis, int64_t x_out);
/* Nearest input index for input coordinate x along axis, clamped to
 * [0, in-1]. */
int64_t ks__resize_nearest_index(const ks_resize_params *p, int axis, double x);
/* Whether x (an input coordinate along axis) lies outside the input, for
 * tf_crop_and_resize's extrapolation_value. */
int ks__resize_outside(const ks_resize_params *p, int axis, double x);
/* Keys cubic convolution weights for taps floor(x)-1 .. floor(x)+2, t =
 * x - floor(x). */
void ks__resize_cubic_coeffs(double a, double t, double c[4]);

/* --- Pad --- */
typedef enum ks_pad_mode {
    KS_PAD_CONSTANT = 0,
    KS_PAD_REFLECT,
    KS_PAD_EDGE,
    KS_PAD_WRAP
} ks_pad_mode;

typedef struct ks_pad_params {
    ks_pad_mode mode;
    int ndim;
    int known;                  /* 0 if the pads input has no data (static inference) */
    int64_t begin[KS_MAX_DIMS]; /* may be negative (crop) */
    int64_t end[KS_MAX_DIMS];
} ks_pad_params;

/* Pad: inputs data, pads, [constant_value], [axes]. */
ks_status ks__pad_params(const ks_op_ctx *oc, ks_pad_params *p);
/* Source index along an axis for padded position i (already shifted by
 * -begin, so 0 is the input's first element), or -1 for the constant value.
 * [lo, hi) is the part of the axis that negative pads keep (lo = max(0,
 * -begin), hi = n - max(0, -end)): pads are applied to the cropped axis, so
 * reflect / edge / wrap read only from it. hi > lo unless mode is constant. */
int64_t ks__pad_src_index(ks_pad_mode mode, int64_t i, int64_t lo, int64_t hi);

/* --- Gemm / MatMul --- */
typedef struct ks_gemm_params {
    float alpha, beta;
    int trans_a, trans_b;
    int64_t m, n, k; /* -1 unknown */
} ks_gemm_params;

ks_status ks__gemm_params(const ks_op_ctx *oc, const ks_tensor *a, const ks_tensor *b,
                          ks_gemm_params *p);

/* numpy matmul shapes. Writes the output shape, and (for kernels) the
 * broadcast batch shape of rank n_batch with a's and b's batch dims aligned
 * to it (1 where a / b has none), plus m, k, n (m = 1 / n = 1 for 1-D a / b). */
typedef struct ks_matmul_params {
    int n_batch;
    int64_t batch[KS_MAX_DIMS];
    int64_t a_batch[KS_MAX_DIMS];
    int64_t b_batch[KS_MAX_DIMS];
    int64_t m, k, n;
    int out_ndim;
    int64_t out_dims[KS_MAX_DIMS];
} ks_matmul_params;

ks_status ks__matmul_params(const ks_op_ctx *oc, const ks_tensor *a, const ks_tensor *b,
                            ks_matmul_params *p);

#ifdef __cplusplus
}
#endif
#endif
