/* CPU reference: N-d broadcast iteration shared by the elementwise, logic
 * and activation kernels. Internal header.
 *
 * ks_bcast walks an output tensor row by row. Input dims are aligned to the
 * output from the right; a dim of size 1 in an input against a larger output
 * dim gets stride 0. Adjacent dims are collapsed wherever every input is
 * contiguous (or broadcast) across them, so same-shape operands become one
 * row of numel elements and [N,C,H,W] op [1,C,1,1] becomes N*C rows of H*W.
 *
 *   ks_bcast b;
 *   if (!ks__bcast_init(&b, out, 2, ins)) -> shapes do not broadcast
 *   for (int64_t r = 0; r < b.n_rows; r++, ks__bcast_next(&b))
 *       row(in0 + b.off[0], b.inner[0], in1 + b.off[1], b.inner[1],
 *           out + r * b.row_len, b.row_len);      // offsets in elements
 */
#ifndef KS_CPU_ELEMENTWISE_H
#define KS_CPU_ELEMENTWISE_H

#include "graph/ir.h"

#define KS_BC_MAX_IN 4

typedef struct ks_bcast {
    int n_in;
    int ndim;                                /* collapsed rank, >= 1 */
    int64_t dims[KS_MAX_DIMS];               /* collapsed output dims */
    int64_t st[KS_BC_MAX_IN][KS_MAX_DIMS];   /* element strides, 0 = broadcast */
    int64_t row_len;                         /* dims[ndim-1] */
    int64_t n_rows;                          /* product of the other dims */
    int64_t inner[KS_BC_MAX_IN];             /* stride along a row: 0 or 1 */
    int64_t ctr[KS_MAX_DIMS];                /* current row's index (outer dims) */
    int64_t off[KS_BC_MAX_IN];               /* current row's first element per input */
} ks_bcast;

/* Plans iteration of `out` (dims only) over n_in inputs (dims only). Returns
 * 0 if an input does not broadcast to out's shape (or n_in is too large). */
int ks__bcast_init(ks_bcast *b, const ks_tensor *out, int n_in, const ks_tensor *const *in);
/* Advances to the next row (updates ctr and off). */
void ks__bcast_next(ks_bcast *b);

/* PRelu's slope as seen by X (dims only; data shared). ONNX broadcasts
 * slope to X unidirectionally (numpy, aligned right). A 1-D slope of X's
 * channel count that does not broadcast that way is taken per channel
 * (axis 1), as Caffe and several exporters mean it. Unknown (-1) dims are
 * accepted. Returns 0 if neither applies. Used by infer and kernel. */
int ks__prelu_slope_view(const ks_tensor *x, const ks_tensor *slope, ks_tensor *view);

/* Reduce* axes (optional input 1; none or empty = all axes, or the
 * identity when noop_with_empty_axes = 1): mask[i] = 1 for each reduced
 * axis of a rank-`rank` input. Defined in graph/infer_reduce.c. */
ks_status ks__reduce_axes(const ks_op_ctx *oc, int rank, uint8_t *mask, int *noop);

static inline int ks__dtype_is_float(ks_dtype dt) {
    return dt == KS_DTYPE_FLOAT32 || dt == KS_DTYPE_FLOAT64 || dt == KS_DTYPE_FLOAT16;
}
static inline int ks__dtype_is_int(ks_dtype dt) {
    return dt == KS_DTYPE_INT8 || dt == KS_DTYPE_UINT8 || dt == KS_DTYPE_INT32 ||
           dt == KS_DTYPE_INT64;
}

#endif
