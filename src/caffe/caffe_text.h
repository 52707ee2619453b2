/* Protobuf TEXT format (prototxt) reader, driven by protobuf-c descriptors.
 *
 * protobuf-c has no text parser; this one covers what Caffe prototxt files
 * use: nested messages (`name { ... }` or `name: { ... }`, also `< >`),
 * repeated fields (repeated `key: value` lines or `key: [a, b]` lists),
 * integers (decimal/hex, range-checked per field type), floats (incl. inf,
 * nan), bools, quoted strings with C escapes (adjacent literals are joined),
 * enums by name or number, and `#` comments. Fields unknown to the schema
 * are skipped (their value is parsed for syntax and discarded, logged at
 * INFO); everything else that is wrong is an INVALID_MODEL error naming the
 * file and line.
 *
 * The message is allocated with `alloc` (see ks__caffe_pb_allocator) and
 * released with protobuf_c_message_free_unpacked(msg, alloc), exactly like
 * a binary-unpacked message. */
#ifndef KS_CAFFE_TEXT_H
#define KS_CAFFE_TEXT_H
#include <protobuf-c/protobuf-c.h>
#include "core/core.h"

/* Fills *a with an allocator that routes through ctx's allocator hook. */
void ks__caffe_pb_allocator(ks_context *ctx, ProtobufCAllocator *a);

/* Parses text (n bytes, need not be NUL-terminated) as a message of type
 * desc. `source` names the file in error messages. */
ks_status ks__pb_text_parse(ks_context *ctx, ProtobufCAllocator *alloc,
                            const ProtobufCMessageDescriptor *desc, const char *text, size_t n,
                            const char *source, ProtobufCMessage **out);
#endif
