/* ONNX importer (protobuf-c, generated at build time from the system onnx.proto). */
#ifndef KS_ONNX_IMPORT_H
#define KS_ONNX_IMPORT_H
#include "graph/ir.h"

/* Parses an ONNX ModelProto from memory into a new graph: values for graph
 * inputs (initializers excluded from g->inputs even when the old exporter
 * lists them as inputs), initializers as constants (raw_data, typed fields,
 * float16, external data resolved relative to external_data_dir), nodes
 * normalized to the latest op form (see graph/ir.h), then toposorted.
 * `source` names the file in every message. Unknown ops/attributes: error
 * naming node, op type and opset (UNSUPPORTED_OP / UNSUPPORTED_ATTR), unless
 * a plugin registered on ctx claims the op (then op = KS_OP_PLUGIN). */
ks_status ks__onnx_import(ks_context *ctx, const void *data, size_t n_bytes, const char *source,
                          const char *external_data_dir, ks_graph **out);
#endif
