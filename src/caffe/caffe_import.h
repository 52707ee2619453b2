/* Caffe importer: .prototxt (protobuf text) + .caffemodel (binary) into the
 * kestrel IR, with ONNX operator semantics (see graph/ir.h).
 *
 * Layers map to IR ops as follows (all nodes at opset 13):
 *   Convolution   -> Conv (group, pad/stride/kernel h/w, dilation, bias_term)
 *   InnerProduct  -> Flatten(axis) + Gemm(transB = !transpose)
 *   PReLU         -> PRelu (slope [C,1,..] or [1] when channel_shared), or the
 *                    PRelu plugin when ks_plugin_prefer(ctx, "PRelu", 1)
 *   ReLU          -> Relu, or LeakyRelu(alpha = negative_slope)
 *   Pooling       -> MaxPool / AveragePool reproducing Caffe's output size
 *                    (ceil rounding, last window must start inside the
 *                    image + begin padding) with explicit end pads; global
 *                    pooling -> GlobalMaxPool / GlobalAveragePool
 *   Softmax(axis), Concat(axis), Permute -> Transpose, Reshape (0 / -1 /
 *   axis / num_axes), Flatten(axis, end_axis) -> Reshape, Slice -> Split,
 *   Eltwise SUM (coeffs) / PROD / MAX, Scale (+bias) -> Mul (+Add),
 *   BatchNorm (blob[2] moving-average factor) -> BatchNormalization,
 *   Dropout / Split -> Identity, Sigmoid, TanH, Input.
 * Training-only layers (data layers, *Loss, Accuracy, Silence) and layers
 * with phase TRAIN (own phase or include/exclude rules) are skipped.
 * Weights come from the .caffemodel, matched by layer name (its training
 * layers are ignored); blob counts and sizes are checked against the layer.
 * In-place layers (top == bottom) become SSA values; the last version of a
 * blob keeps the blob's name (earlier ones are "<blob>#<k>"). Graph outputs
 * are the blobs no kept layer consumes, as in Caffe.
 *
 * Errors name the file (and line, for prototxt syntax), the layer and type:
 * UNSUPPORTED_OP for unknown layer types and legacy V1 nets, INVALID_MODEL /
 * CORRUPT_FILE for malformed files, missing or mis-sized blobs, IO_ERROR
 * when a file cannot be read. caffemodel_path may be NULL when no layer
 * needs weights (or the prototxt carries them). */
#ifndef KS_CAFFE_IMPORT_H
#define KS_CAFFE_IMPORT_H
#include "graph/ir.h"

ks_status ks__caffe_import(ks_context *ctx, const char *prototxt_path, const char *caffemodel_path,
                           ks_graph **out);

/* Same from memory buffers (used by the file variant and the fuzz tests).
 * weights may be NULL (n_weights 0). Names are used in messages only. */
ks_status ks__caffe_import_memory(ks_context *ctx, const char *prototxt, size_t n_prototxt,
                                  const char *prototxt_name, const void *weights, size_t n_weights,
                                  const char *weights_name, ks_graph **out);

/* Input shape override. Caffe nets declare static input shapes and the
 * importer resolves Caffe's pooling rounding into explicit pads for those
 * sizes, so a net is imported once per input size (MTCNN's P-Net per
 * pyramid scale) instead of being reshaped after import. */
typedef struct ks_caffe_input_shape {
    const char *name; /* input blob name; NULL = the first input */
    int ndim;
    int64_t dims[KS_MAX_DIMS];
} ks_caffe_input_shape;

ks_status ks__caffe_import_memory_ex(ks_context *ctx, const char *prototxt, size_t n_prototxt,
                                     const char *prototxt_name, const void *weights,
                                     size_t n_weights, const char *weights_name,
                                     const ks_caffe_input_shape *shapes, int n_shapes,
                                     ks_graph **out);
#endif
