/* protobuf-c glue for the ONNX reader: an allocator that routes protobuf-c's
 * allocations through the context allocator (so allocation-failure tests
 * reach the parser too), and a nesting-depth pre-check. Internal header. */
#ifndef KS_ONNX_PB_H
#define KS_ONNX_PB_H
#include "core/core.h"
#include "onnx/onnx.pb-c.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX reader assumes a little-endian host (raw_data is little-endian)"
#endif

typedef struct ks_pb_alloc {
    ProtobufCAllocator a; /* pass &pa.a to protobuf-c */
    ks_context *ctx;
    int failed; /* set when an allocation returned NULL */
} ks_pb_alloc;

void ks__pb_alloc_init(ks_pb_alloc *pa, ks_context *ctx);

/* Maximum message nesting accepted (Model > Graph > Node > Attribute >
 * Graph > ...). Real models stay far below; a crafted file nesting
 * thousands of levels would otherwise overflow the stack inside
 * protobuf-c's recursive unpacker. */
#define KS_PB_MAX_DEPTH 64

/* Walks the wire format of `data` using the generated descriptor (field
 * numbers and types only; no values are decoded) and returns 0 if message
 * nesting exceeds max_depth, 1 otherwise. Malformed input returns 1: the
 * real parser reports it. */
int ks__pb_depth_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t n,
                    int max_depth);

/* Unpacks with the context allocator after the depth check. On failure
 * returns NULL and records CORRUPT_FILE / OUT_OF_MEMORY on ctx with
 * "<source>: <what>: ..." */
ProtobufCMessage *ks__pb_unpack(ks_context *ctx, const ProtobufCMessageDescriptor *desc,
                                const void *data, size_t n, const char *source, const char *what);
void ks__pb_free(ks_context *ctx, ProtobufCMessage *m);
#endif
