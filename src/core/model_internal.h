/* ks_model internals. */
#ifndef KS_MODEL_INTERNAL_H
#define KS_MODEL_INTERNAL_H
#include "graph/ir.h"

struct ks_model {
    ks_context *ctx;
    ks_graph *graph;
};

/* Wraps an imported graph (takes ownership) into a model, running static
 * shape inference + shape-subgraph folding + dead-node removal. */
ks_status ks__model_from_graph(ks_context *ctx, ks_graph *g, ks_model **out);
#endif
