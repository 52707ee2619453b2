/* ONNX TensorProto -> ks_tensor conversion, shared by the importer
 * (initializers, Constant nodes, TENSOR attributes) and by the conformance
 * runner (standalone input_N.pb / output_N.pb files). Internal header.
 *
 * Ownership: every tensor these functions return owns its data, allocated
 * with the context allocator; release it with ks_tensor_release(ctx, t). */
#ifndef KS_ONNX_TENSOR_H
#define KS_ONNX_TENSOR_H
#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct Onnx__TensorProto;

/* Largest tensor the importer accepts holding data: 2^31-1 elements. */
#define KS_ONNX_MAX_ELEMENTS ((int64_t)0x7fffffff)

/* Maps an ONNX TensorProto.DataType to a ks_dtype. Returns 0 (and leaves
 * *out alone) for types kestrel does not support (string, bfloat16,
 * float8, complex, 16/32/64-bit unsigned, int16, int4 ...). */
int ks__onnx_dtype(int onnx_type, ks_dtype *out);
/* Upper-case ONNX name of a data type ("FLOAT", "BFLOAT16"), "UNKNOWN" for
 * values ONNX does not define. Static storage. */
const char *ks__onnx_dtype_name(int onnx_type);

/* Converts one TensorProto. `what` names the tensor in messages (e.g.
 * "initializer 'conv1.weight'"); `source` is the model file for messages.
 * Data may come from raw_data, the typed fields (float_data, int32_data
 * (also float16 bits, int8, uint8, bool), int64_data, double_data) or
 * external data (data_location = EXTERNAL, keys location/offset/length)
 * resolved under ext_dir (NULL: external data is rejected). Paths that are
 * absolute, contain "..", or resolve (through symlinks) outside ext_dir are
 * rejected. Shapes are checked (rank <= KS_MAX_DIMS, dims >= 0, at most
 * KS_ONNX_MAX_ELEMENTS elements) and so are data sizes, before allocating. */
ks_status ks__onnx_tensor_convert(ks_context *ctx, const struct Onnx__TensorProto *tp,
                                  const char *source, const char *what, const char *ext_dir,
                                  ks_tensor *out);

/* Loads a standalone serialized TensorProto file (ONNX test data
 * input_0.pb). *out owns its data (ks_tensor_release). If name_out is not
 * NULL, *name_out receives the tensor's name (may be ""), allocated with
 * the context allocator: free it with ks__free(ctx, *name_out). External
 * data is resolved relative to the file's directory. */
ks_status ks__onnx_load_tensor_pb(ks_context *ctx, const char *path, ks_tensor *out,
                                  char **name_out);
/* Same, from memory. source names the buffer in messages. */
ks_status ks__onnx_parse_tensor_pb(ks_context *ctx, const void *data, size_t n_bytes,
                                   const char *source, const char *ext_dir, ks_tensor *out,
                                   char **name_out);

#ifdef __cplusplus
}
#endif
#endif
