/* Shared pieces of the data-movement ops (Cast, Concat, Reshape, Slice, ...):
 * shape inference lives in graph/infer_shape_ops.c, kernels in
 * backends/cpu/ (one file per op family); the parameter computations both need are here so the two
 * cannot drift apart. Internal header. */
#ifndef KS_CPU_MOVE_COMMON_H
#define KS_CPU_MOVE_COMMON_H

#include "graph/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Copies a strided view: the destination is dense row-major with dims
 * out_dims[0..nd-1] (nd <= KS_MOVE_MAX_ND); element k of the output (multi-index i) comes from
 * src + sum_j i_j * src_stride_bytes[j]. Strides may be negative or zero.
 * es = element size in bytes. nd may be 0 (one element). */
#define KS_MOVE_MAX_ND (2 * KS_MAX_DIMS)
void ks__cpu_strided_copy(const void *src, const int64_t *src_stride_bytes, void *dst,
                          const int64_t *out_dims, int nd, size_t es);

/* Resolved Slice parameters for every axis of the data input. */
typedef struct ks_slice_plan {
    int ndim;
    int64_t start[KS_MAX_DIMS];
    int64_t step[KS_MAX_DIMS];
    int64_t len[KS_MAX_DIMS]; /* -1 where unknown (unknown input dim) */
} ks_slice_plan;

/* Computes the Slice plan from the node's inputs (data, starts, ends, axes,
 * steps). Requires starts/ends (and axes/steps when given) to have data.
 * Fails with an error naming the node on invalid inputs. */
ks_status ks__slice_plan(ks_op_ctx *oc, ks_slice_plan *p);

/* Resolves Split sizes along *axis into sizes[0..n_out-1] (-1 where
 * unknown). */
ks_status ks__split_sizes(ks_op_ctx *oc, int *axis, int64_t *sizes);

/* 1 for float16/float32/float64. */
int ks__move_dtype_is_float(ks_dtype dt);

#ifdef __cplusplus
}
#endif
#endif
