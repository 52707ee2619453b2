/* Batch generalisation of a graph exported for batch 1 (internal).
 *
 * Many detector exports bake the batch into constants: Reshape targets [1, -1, 4], Resize
 * sizes [1, C, H, W], Slice ends on axis 0, Expand/Tile shapes. ks__graph_set_batch tracks the
 * batch axis of every value from the inputs (whose leading dim must be 1) through the graph;
 * where a constant hard-codes that axis (a Reshape target's 1 at the batch position, Resize
 * sizes, a Slice over the batch axis) it gets a rewritten copy for `batch`. Then the inputs
 * get dims[0] = batch, shapes are inferred again and every value is checked: its batch axis
 * has `batch`, every other dim is as before.
 *
 * Refuses with KS_UNSUPPORTED_SHAPE, naming the node, whenever the batch cannot be followed:
 * an op that mixes images (Concat/Softmax/Reduce/Gather/Squeeze over the batch axis, a
 * Reshape that merges the batch into another dim, MatMul with two batched operands, Shape of a
 * batched value left unfolded, plugins, ...). On failure the graph may be partly rewritten:
 * callers work on a copy (ks__graph_clone) or re-import. */
#ifndef KS_GRAPH_PASS_BATCH_H
#define KS_GRAPH_PASS_BATCH_H

#include "graph/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

ks_status ks__graph_set_batch(ks_graph *g, int64_t batch);

#ifdef __cplusplus
}
#endif
#endif
