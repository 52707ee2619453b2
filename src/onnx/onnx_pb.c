/* protobuf-c glue: context allocator, nesting-depth pre-check, unpack. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "onnx/onnx_pb.h"

static void *pb_alloc(void *user, size_t n) {
    ks_pb_alloc *pa = user;
    void *p = pa->ctx->alloc.alloc(pa->ctx->alloc.user, n ? n : 1);
    if (!p)
        pa->failed = 1;
    return p;
}

static void pb_free(void *user, void *p) {
    ks_pb_alloc *pa = user;
    if (p)
        pa->ctx->alloc.free(pa->ctx->alloc.user, p);
}

void ks__pb_alloc_init(ks_pb_alloc *pa, ks_context *ctx) {
    memset(pa, 0, sizeof(*pa));
    pa->ctx = ctx;
    pa->a.alloc = pb_alloc;
    pa->a.free = pb_free;
    pa->a.allocator_data = pa;
}

static int read_varint(const uint8_t *d, size_t end, size_t *p, uint64_t *v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return 0;
        uint8_t b = d[(*p)++];
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 1;
        }
    }
    return 0;
}

int ks__pb_depth_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t n,
                    int max_depth) {
    struct {
        const ProtobufCMessageDescriptor *d;
        size_t end;
    } st[KS_PB_MAX_DEPTH + 1];
    if (max_depth > KS_PB_MAX_DEPTH)
        max_depth = KS_PB_MAX_DEPTH;
    int top = 0;
    st[0].d = desc;
    st[0].end = n;
    size_t p = 0;
    for (;;) {
        while (p >= st[top].end) {
            if (top == 0)
                return 1;
            top--;
        }
        size_t end = st[top].end;
        uint64_t tag, v;
        if (!read_varint(data, end, &p, &tag))
            return 1;
        switch (tag & 7) {
        case 0:
            if (!read_varint(data, end, &p, &v))
                return 1;
            break;
        case 1:
            if (end - p < 8)
                return 1;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return 1;
            p += 4;
            break;
        case 2: {
            if (!read_varint(data, end, &p, &v) || v > end - p)
                return 1;
            uint64_t fnum = tag >> 3;
            const ProtobufCFieldDescriptor *fd =
                (fnum > 0 && fnum <= INT_MAX && st[top].d)
                    ? protobuf_c_message_descriptor_get_field(st[top].d, (unsigned)fnum)
                    : NULL;
            if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (top + 1 > max_depth)
                    return 0;
                top++;
                st[top].d = fd->descriptor;
                st[top].end = p + (size_t)v;
            } else {
                p += (size_t)v;
            }
            break;
        }
        default:
            return 1; /* groups / invalid wire types: the parser rejects them */
        }
    }
}

ProtobufCMessage *ks__pb_unpack(ks_context *ctx, const ProtobufCMessageDescriptor *desc,
                                const void *data, size_t n, const char *source, const char *what) {
    if (!ks__pb_depth_ok(desc, data, n, KS_PB_MAX_DEPTH)) {
        ks__error(ctx, KS_CORRUPT_FILE, "%s: %s: messages nested deeper than %d levels", source,
                  what, KS_PB_MAX_DEPTH);
        return NULL;
    }
    ks_pb_alloc pa;
    ks__pb_alloc_init(&pa, ctx);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &pa.a, n, data);
    if (!m) {
        if (pa.failed)
            ks__error(ctx, KS_OUT_OF_MEMORY, "%s: out of memory parsing the %s", source, what);
        else
            ks__error(ctx, KS_CORRUPT_FILE,
                      "%s: not a valid %s (protobuf parse failed: truncated or corrupt, %zu bytes)",
                      source, what, n);
    }
    return m;
}

void ks__pb_free(ks_context *ctx, ProtobufCMessage *m) {
    if (!m)
        return;
    ks_pb_alloc pa;
    ks__pb_alloc_init(&pa, ctx);
    protobuf_c_message_free_unpacked(m, &pa.a);
}
