/* Protobuf text-format reader over protobuf-c descriptors (see caffe_text.h). */
#include "caffe/caffe_text.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 64

static void *pb_alloc(void *data, size_t n) { return ks__alloc((ks_context *)data, n ? n : 1); }
static void pb_free(void *data, void *p) { ks__free((ks_context *)data, p); }

void ks__caffe_pb_allocator(ks_context *ctx, ProtobufCAllocator *a) {
    a->alloc = pb_alloc;
    a->free = pb_free;
    a->allocator_data = ctx;
}

/* ------------------------------------------------------------ tokenizer */

typedef enum { T_END, T_IDENT, T_NUMBER, T_STRING, T_PUNCT } tok_kind;

typedef struct {
    tok_kind kind;
    const char *p; /* start in the text (strings: including the quote) */
    size_t n;
    int line;
    char c; /* T_PUNCT */
} token;

typedef struct {
    ks_context *ctx;
    ProtobufCAllocator *alloc;
    const char *src, *end, *cur;
    const char *source;
    int line;
    token tok; /* current (peeked) token */
    int has_tok;
} parser;

static ks_status perr(parser *ps, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static ks_status perr(parser *ps, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ks__error(ps->ctx, KS_INVALID_MODEL, "%s:%d: %s", ps->source, line, msg);
}

static int is_ident_start(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_ident_char(int c) { return is_ident_start(c) || (c >= '0' && c <= '9') || c == '.'; }
static int is_num_char(int c) {
    return (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E' ||
           c == 'x' || c == 'X' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static ks_status lex(parser *ps, token *t) {
    const char *s = ps->cur, *e = ps->end;
    for (;;) {
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n' || *s == '\f' ||
                         *s == '\v')) {
            if (*s == '\n')
                ps->line++;
            s++;
        }
        if (s < e && *s == '#') {
            while (s < e && *s != '\n')
                s++;
            continue;
        }
        break;
    }
    t->line = ps->line;
    t->p = s;
    if (s >= e) {
        t->kind = T_END;
        t->n = 0;
        ps->cur = s;
        return KS_OK;
    }
    unsigned char c = (unsigned char)*s;
    if (c == 0)
        return perr(ps, ps->line, "unexpected NUL byte (is this a binary file?)");
    if (is_ident_start(c)) {
        const char *b = s;
        while (s < e && is_ident_char((unsigned char)*s))
            s++;
        t->kind = T_IDENT;
        t->n = (size_t)(s - b);
    } else if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.') {
        const char *b = s;
        s++;
        /* allow "-inf", "-nan" */
        if ((c == '-' || c == '+') && s < e && is_ident_start((unsigned char)*s)) {
            while (s < e && is_ident_char((unsigned char)*s))
                s++;
        } else {
            while (s < e && is_num_char((unsigned char)*s)) {
                /* a sign is only part of a number right after an exponent */
                if ((*s == '-' || *s == '+') && !(s[-1] == 'e' || s[-1] == 'E'))
                    break;
                s++;
            }
        }
        /* float suffix f/F (text format allows 1.5f) */
        if (s < e && (*s == 'f' || *s == 'F'))
            s++;
        t->kind = T_NUMBER;
        t->n = (size_t)(s - b);
    } else if (c == '"' || c == '\'') {
        const char *b = s;
        char q = (char)c;
        s++;
        while (s < e && *s != q) {
            if (*s == '\n')
                return perr(ps, ps->line, "unterminated string literal");
            if (*s == '\\' && s + 1 < e)
                s++;
            s++;
        }
        if (s >= e)
            return perr(ps, ps->line, "unterminated string literal");
        s++;
        t->kind = T_STRING;
        t->n = (size_t)(s - b);
    } else if (strchr("{}<>:;,[]", (int)c)) {
        t->kind = T_PUNCT;
        t->c = (char)c;
        t->n = 1;
        s++;
    } else {
        return perr(ps, ps->line, "unexpected character '%c' (0x%02x)", c >= 32 && c < 127 ? c : '?',
                    c);
    }
    ps->cur = s;
    return KS_OK;
}

static ks_status peek(parser *ps, token **t) {
    if (!ps->has_tok) {
        KS_CHECK(lex(ps, &ps->tok));
        ps->has_tok = 1;
    }
    *t = &ps->tok;
    return KS_OK;
}

static ks_status next(parser *ps, token *t) {
    token *p;
    KS_CHECK(peek(ps, &p));
    *t = *p;
    ps->has_tok = 0;
    return KS_OK;
}

static int is_punct(const token *t, char c) { return t->kind == T_PUNCT && t->c == c; }

static const char *tok_desc(const token *t, char *buf, size_t n) {
    if (t->kind == T_END)
        return "end of file";
    size_t k = t->n < 40 ? t->n : 40;
    snprintf(buf, n, "'%.*s'", (int)k, t->p);
    return buf;
}

/* ------------------------------------------------------------ values */

/* Decodes a quoted literal (with escapes) and appends to *buf. */
static ks_status append_string(parser *ps, const token *t, char **buf, size_t *len) {
    const char *s = t->p + 1, *e = t->p + t->n - 1;
    char *nb = ps->alloc->alloc(ps->alloc->allocator_data, *len + (size_t)(e - s) + 1);
    if (!nb)
        return ks__oom(ps->ctx, *len + (size_t)(e - s) + 1, "prototxt string");
    if (*buf) {
        memcpy(nb, *buf, *len);
        ps->alloc->free(ps->alloc->allocator_data, *buf);
    }
    size_t o = *len;
    while (s < e) {
        char c = *s++;
        if (c != '\\') {
            nb[o++] = c;
            continue;
        }
        if (s >= e)
            break;
        c = *s++;
        switch (c) {
        case 'n': nb[o++] = '\n'; break;
        case 't': nb[o++] = '\t'; break;
        case 'r': nb[o++] = '\r'; break;
        case 'a': nb[o++] = '\a'; break;
        case 'b': nb[o++] = '\b'; break;
        case 'f': nb[o++] = '\f'; break;
        case 'v': nb[o++] = '\v'; break;
        case 'x': {
            int v = 0, k = 0;
            while (k < 2 && s < e &&
                   ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F'))) {
                int d = *s <= '9' ? *s - '0' : (*s | 32) - 'a' + 10;
                v = v * 16 + d;
                s++;
                k++;
            }
            nb[o++] = (char)v;
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                int v = c - '0', k = 1;
                while (k < 3 && s < e && *s >= '0' && *s <= '7') {
                    v = v * 8 + (*s - '0');
                    s++;
                    k++;
                }
                nb[o++] = (char)v;
            } else {
                nb[o++] = c; /* \\ \" \' \? */
            }
        }
    }
    nb[o] = 0;
    *buf = nb;
    *len = o;
    return KS_OK;
}

static ks_status parse_int(parser *ps, const token *t, int is_signed, int64_t lo, int64_t hi,
                           uint64_t uhi, int64_t *out_i, uint64_t *out_u, const char *field) {
    char buf[64];
    if (t->kind != T_NUMBER || t->n >= sizeof buf)
        return perr(ps, t->line, "field '%s': expected an integer, got %s", field,
                    tok_desc(t, buf, sizeof buf));
    memcpy(buf, t->p, t->n);
    buf[t->n] = 0;
    char *endp;
    errno = 0;
    if (is_signed) {
        long long v = strtoll(buf, &endp, 0);
        if (*endp || errno == ERANGE || v < lo || v > hi)
            return perr(ps, t->line, "field '%s': '%s' is not a valid integer in range [%lld, %lld]",
                        field, buf, (long long)lo, (long long)hi);
        *out_i = v;
    } else {
        if (buf[0] == '-')
            return perr(ps, t->line, "field '%s': negative value '%s' for an unsigned field", field,
                        buf);
        unsigned long long v = strtoull(buf, &endp, 0);
        if (*endp || errno == ERANGE || v > uhi)
            return perr(ps, t->line, "field '%s': '%s' is not a valid unsigned integer (max %llu)",
                        field, buf, (unsigned long long)uhi);
        *out_u = v;
    }
    return KS_OK;
}

static ks_status parse_float(parser *ps, const token *t, double *out, const char *field) {
    char buf[64];
    if ((t->kind != T_NUMBER && t->kind != T_IDENT) || t->n >= sizeof buf)
        return perr(ps, t->line, "field '%s': expected a number, got %s", field,
                    tok_desc(t, buf, sizeof buf));
    memcpy(buf, t->p, t->n);
    buf[t->n] = 0;
    const char *b = buf;
    int neg = 0;
    if (*b == '-' || *b == '+') {
        neg = *b == '-';
        b++;
    }
    if (!strcasecmp(b, "inf") || !strcasecmp(b, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return KS_OK;
    }
    if (!strcasecmp(b, "nan")) {
        *out = NAN;
        return KS_OK;
    }
    if (t->kind != T_NUMBER)
        return perr(ps, t->line, "field '%s': expected a number, got '%s'", field, buf);
    size_t n = strlen(buf);
    if (n > 1 && (buf[n - 1] == 'f' || buf[n - 1] == 'F') && !(buf[0] == '0' && (buf[1] | 32) == 'x'))
        buf[n - 1] = 0;
    char *endp;
    *out = strtod(buf, &endp);
    if (*endp || endp == buf)
        return perr(ps, t->line, "field '%s': '%s' is not a valid number", field, buf);
    return KS_OK;
}

static size_t scalar_size(ProtobufCType type) {
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    }
    return 0;
}

/* Parses one scalar value token for field f into `slot` (scalar_size bytes).
 * Strings are read into a freshly allocated char* stored in slot. */
static ks_status parse_scalar(parser *ps, const ProtobufCFieldDescriptor *f, void *slot) {
    token t;
    KS_CHECK(next(ps, &t));
    int64_t i = 0;
    uint64_t u = 0;
    double d = 0;
    char buf[64];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        KS_CHECK(parse_int(ps, &t, 1, INT32_MIN, INT32_MAX, 0, &i, &u, f->name));
        *(int32_t *)slot = (int32_t)i;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        KS_CHECK(parse_int(ps, &t, 1, INT64_MIN, INT64_MAX, 0, &i, &u, f->name));
        *(int64_t *)slot = i;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        KS_CHECK(parse_int(ps, &t, 0, 0, 0, UINT32_MAX, &i, &u, f->name));
        *(uint32_t *)slot = (uint32_t)u;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        KS_CHECK(parse_int(ps, &t, 0, 0, 0, UINT64_MAX, &i, &u, f->name));
        *(uint64_t *)slot = u;
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        KS_CHECK(parse_float(ps, &t, &d, f->name));
        *(float *)slot = (float)d;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        KS_CHECK(parse_float(ps, &t, &d, f->name));
        *(double *)slot = d;
        break;
    case PROTOBUF_C_TYPE_BOOL: {
        int v = -1;
        if (t.kind == T_IDENT) {
            if ((t.n == 4 && !strncasecmp(t.p, "true", 4)) || (t.n == 1 && *t.p == 't'))
                v = 1;
            else if ((t.n == 5 && !strncasecmp(t.p, "false", 5)) || (t.n == 1 && *t.p == 'f'))
                v = 0;
        } else if (t.kind == T_NUMBER && t.n == 1 && (*t.p == '0' || *t.p == '1')) {
            v = *t.p - '0';
        }
        if (v < 0)
            return perr(ps, t.line, "field '%s': expected true or false, got %s", f->name,
                        tok_desc(&t, buf, sizeof buf));
        *(protobuf_c_boolean *)slot = v;
        break;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        if (t.kind == T_IDENT) {
            char name[128];
            if (t.n >= sizeof name)
                return perr(ps, t.line, "field '%s': enum name too long", f->name);
            memcpy(name, t.p, t.n);
            name[t.n] = 0;
            const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, name);
            if (!ev)
                return perr(ps, t.line, "field '%s': '%s' is not a value of enum %s", f->name, name,
                            ed->name);
            *(int32_t *)slot = ev->value;
        } else {
            KS_CHECK(parse_int(ps, &t, 1, INT32_MIN, INT32_MAX, 0, &i, &u, f->name));
            if (!protobuf_c_enum_descriptor_get_value(ed, (int)i))
                return perr(ps, t.line, "field '%s': %lld is not a value of enum %s", f->name,
                            (long long)i, ed->name);
            *(int32_t *)slot = (int32_t)i;
        }
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES: {
        if (t.kind != T_STRING)
            return perr(ps, t.line, "field '%s': expected a quoted string, got %s", f->name,
                        tok_desc(&t, buf, sizeof buf));
        char *s = NULL;
        size_t len = 0;
        KS_CHECK(append_string(ps, &t, &s, &len));
        for (;;) { /* adjacent literals concatenate */
            token *pk;
            ks_status st = peek(ps, &pk);
            if (st != KS_OK) {
                ps->alloc->free(ps->alloc->allocator_data, s);
                return st;
            }
            if (pk->kind != T_STRING)
                break;
            token t2;
            next(ps, &t2);
            st = append_string(ps, &t2, &s, &len);
            if (st != KS_OK) {
                ps->alloc->free(ps->alloc->allocator_data, s);
                return st;
            }
        }
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            *(char **)slot = s;
        } else {
            ProtobufCBinaryData *bd = slot;
            bd->data = (uint8_t *)s;
            bd->len = len;
        }
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return perr(ps, t.line, "internal: message field as scalar");
    }
    return KS_OK;
}

/* Appends one zeroed element to a repeated field, returning its slot. */
static ks_status repeated_grow(parser *ps, void *msg, const ProtobufCFieldDescriptor *f,
                               void **slot, int line) {
    size_t *n = (size_t *)((char *)msg + f->quantifier_offset);
    void **arr = (void **)((char *)msg + f->offset);
    size_t es = scalar_size(f->type);
    if (*n >= (size_t)1 << 28)
        return perr(ps, line, "field '%s': too many values", f->name);
    /* grow geometrically: the capacity is n rounded up to a power of two,
     * so a reallocation is due exactly when n is 0 or a power of two */
    if (*n == 0 || (*n & (*n - 1)) == 0) {
        size_t ncap = *n == 0 ? 1 : *n * 2;
        void *na = ps->alloc->alloc(ps->alloc->allocator_data, ncap * es);
        if (!na)
            return ks__oom(ps->ctx, ncap * es, "prototxt repeated field");
        if (*arr) {
            memcpy(na, *arr, *n * es);
            ps->alloc->free(ps->alloc->allocator_data, *arr);
        }
        *arr = na;
    }
    *slot = (char *)*arr + *n * es;
    memset(*slot, 0, es);
    (*n)++;
    return KS_OK;
}

static ks_status parse_message_body(parser *ps, const ProtobufCMessageDescriptor *desc, void *msg,
                                    char close, int depth);

static ks_status new_submessage(parser *ps, const ProtobufCFieldDescriptor *f, void **out) {
    const ProtobufCMessageDescriptor *md = f->descriptor;
    void *m = ps->alloc->alloc(ps->alloc->allocator_data, md->sizeof_message);
    if (!m)
        return ks__oom(ps->ctx, md->sizeof_message, md->name);
    protobuf_c_message_init(md, m);
    *out = m;
    return KS_OK;
}

static ks_status parse_message_value(parser *ps, const ProtobufCFieldDescriptor *f, void *sub,
                                     int depth) {
    token t;
    char buf[64];
    KS_CHECK(next(ps, &t));
    char close;
    if (is_punct(&t, '{'))
        close = '}';
    else if (is_punct(&t, '<'))
        close = '>';
    else
        return perr(ps, t.line, "field '%s': expected '{' to open a %s, got %s", f->name,
                    ((const ProtobufCMessageDescriptor *)f->descriptor)->short_name,
                    tok_desc(&t, buf, sizeof buf));
    return parse_message_body(ps, f->descriptor, sub, close, depth + 1);
}

/* Skips the value of an unknown field (after its name). */
static ks_status skip_value(parser *ps, int depth) {
    token t, *pk;
    char buf[64];
    if (depth > MAX_DEPTH)
        return perr(ps, ps->line, "nesting deeper than %d", MAX_DEPTH);
    KS_CHECK(peek(ps, &pk));
    int had_colon = 0;
    if (is_punct(pk, ':')) {
        next(ps, &t);
        had_colon = 1;
        KS_CHECK(peek(ps, &pk));
    }
    if (is_punct(pk, '{') || is_punct(pk, '<')) {
        next(ps, &t);
        char close = t.c == '{' ? '}' : '>';
        for (;;) {
            KS_CHECK(peek(ps, &pk));
            if (is_punct(pk, close)) {
                next(ps, &t);
                return KS_OK;
            }
            if (pk->kind == T_END)
                return perr(ps, pk->line, "missing '%c' before end of file", close);
            KS_CHECK(next(ps, &t));
            if (t.kind != T_IDENT)
                return perr(ps, t.line, "expected a field name, got %s", tok_desc(&t, buf, sizeof buf));
            KS_CHECK(skip_value(ps, depth + 1));
            KS_CHECK(peek(ps, &pk));
            if (is_punct(pk, ',') || is_punct(pk, ';'))
                next(ps, &t);
        }
    }
    if (!had_colon)
        return perr(ps, pk->line, "expected ':' or '{' after the field name, got %s",
                    tok_desc(pk, buf, sizeof buf));
    if (is_punct(pk, '[')) {
        next(ps, &t);
        KS_CHECK(peek(ps, &pk));
        if (is_punct(pk, ']')) {
            next(ps, &t);
            return KS_OK;
        }
        for (;;) {
            KS_CHECK(peek(ps, &pk));
            if (is_punct(pk, '{') || is_punct(pk, '<')) {
                /* list of messages: reuse the message skipper */
                KS_CHECK(skip_value(ps, depth + 1));
            } else {
                KS_CHECK(next(ps, &t));
                if (t.kind != T_NUMBER && t.kind != T_IDENT && t.kind != T_STRING)
                    return perr(ps, t.line, "expected a value, got %s", tok_desc(&t, buf, sizeof buf));
            }
            KS_CHECK(next(ps, &t));
            if (is_punct(&t, ']'))
                return KS_OK;
            if (!is_punct(&t, ','))
                return perr(ps, t.line, "expected ',' or ']' in a list, got %s",
                            tok_desc(&t, buf, sizeof buf));
        }
    }
    KS_CHECK(next(ps, &t));
    if (t.kind != T_NUMBER && t.kind != T_IDENT && t.kind != T_STRING)
        return perr(ps, t.line, "expected a value, got %s", tok_desc(&t, buf, sizeof buf));
    if (t.kind == T_STRING) { /* adjacent string literals */
        for (;;) {
            KS_CHECK(peek(ps, &pk));
            if (pk->kind != T_STRING)
                break;
            next(ps, &t);
        }
    }
    return KS_OK;
}

/* One value (scalar or message) for field f of msg, appending for repeated. */
static ks_status parse_field_value(parser *ps, const ProtobufCFieldDescriptor *f, void *msg,
                                   int depth, int line) {
    char *base = msg;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        void *sub;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            void *slot;
            KS_CHECK(new_submessage(ps, f, &sub));
            ks_status st = repeated_grow(ps, msg, f, &slot, line);
            if (st != KS_OK) {
                protobuf_c_message_free_unpacked(sub, ps->alloc);
                return st;
            }
            *(void **)slot = sub;
        } else {
            void **pp = (void **)(base + f->offset);
            if (*pp)
                return perr(ps, line, "field '%s' given twice (it is not repeated)", f->name);
            KS_CHECK(new_submessage(ps, f, &sub));
            *pp = sub;
        }
        return parse_message_value(ps, f, sub, depth);
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        void *slot;
        KS_CHECK(repeated_grow(ps, msg, f, &slot, line));
        ks_status st = parse_scalar(ps, f, slot);
        if (st != KS_OK) /* drop the half-made element (zeroed: safe to free) */
            return st;
        return KS_OK;
    }
    /* optional / required scalar */
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        char **pp = (char **)(base + f->offset);
        if (*pp && *pp != f->default_value)
            return perr(ps, line, "field '%s' given twice (it is not repeated)", f->name);
        char *s = NULL;
        KS_CHECK(parse_scalar(ps, f, &s));
        *pp = s;
        return KS_OK;
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
        protobuf_c_boolean *has = (protobuf_c_boolean *)(base + f->quantifier_offset);
        if (*has)
            return perr(ps, line, "field '%s' given twice (it is not repeated)", f->name);
        if (f->type == PROTOBUF_C_TYPE_BYTES) {
            ProtobufCBinaryData *bd = (ProtobufCBinaryData *)(base + f->offset);
            ProtobufCBinaryData nb = {0, NULL};
            KS_CHECK(parse_scalar(ps, f, &nb));
            *bd = nb;
        } else {
            KS_CHECK(parse_scalar(ps, f, base + f->offset));
        }
        *has = 1;
        return KS_OK;
    }
    return perr(ps, line, "field '%s': unsupported field kind", f->name);
}

static ks_status parse_message_body(parser *ps, const ProtobufCMessageDescriptor *desc, void *msg,
                                    char close, int depth) {
    token t, *pk;
    char buf[64], name[128];
    if (depth > MAX_DEPTH)
        return perr(ps, ps->line, "nesting deeper than %d", MAX_DEPTH);
    for (;;) {
        KS_CHECK(next(ps, &t));
        if (close && is_punct(&t, close))
            return KS_OK;
        if (t.kind == T_END) {
            if (close)
                return perr(ps, t.line, "missing '%c' before end of file (message %s)", close,
                            desc->short_name);
            return KS_OK;
        }
        if (is_punct(&t, ',') || is_punct(&t, ';'))
            continue;
        if (t.kind != T_IDENT)
            return perr(ps, t.line, "expected a field name in %s, got %s", desc->short_name,
                        tok_desc(&t, buf, sizeof buf));
        if (t.n >= sizeof name)
            return perr(ps, t.line, "field name too long");
        memcpy(name, t.p, t.n);
        name[t.n] = 0;
        int line = t.line;
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, name);
        if (!f) {
            ks__log(ps->ctx, KS_LOG_INFO, "%s:%d: skipping field '%s' of %s (not used by kestrel)",
                    ps->source, line, name, desc->short_name);
            KS_CHECK(skip_value(ps, depth + 1));
            continue;
        }
        if (f->type == PROTOBUF_C_TYPE_BYTES && f->label == PROTOBUF_C_LABEL_REPEATED &&
            !strcmp(f->name, "layers") && !strcmp(desc->short_name, "NetParameter"))
            return ks__error(ps->ctx, KS_UNSUPPORTED_OP,
                             "%s:%d: legacy V1 'layers' definitions are not supported; upgrade the "
                             "net to the 'layer' format (caffe's upgrade_net_proto_text tool)",
                             ps->source, line);
        KS_CHECK(peek(ps, &pk));
        int had_colon = 0;
        if (is_punct(pk, ':')) {
            next(ps, &t);
            had_colon = 1;
            KS_CHECK(peek(ps, &pk));
        }
        if (f->type != PROTOBUF_C_TYPE_MESSAGE && !had_colon)
            return perr(ps, pk->line, "expected ':' after field name '%s', got %s", name,
                        tok_desc(pk, buf, sizeof buf));
        if (is_punct(pk, '[')) {
            if (f->label != PROTOBUF_C_LABEL_REPEATED)
                return perr(ps, pk->line, "field '%s' is not repeated; a [list] is not allowed", name);
            next(ps, &t);
            KS_CHECK(peek(ps, &pk));
            if (is_punct(pk, ']')) {
                next(ps, &t);
            } else {
                for (;;) {
                    KS_CHECK(parse_field_value(ps, f, msg, depth, line));
                    KS_CHECK(next(ps, &t));
                    if (is_punct(&t, ']'))
                        break;
                    if (!is_punct(&t, ','))
                        return perr(ps, t.line, "expected ',' or ']' in the list for '%s', got %s",
                                    name, tok_desc(&t, buf, sizeof buf));
                }
            }
        } else {
            KS_CHECK(parse_field_value(ps, f, msg, depth, line));
        }
    }
}

ks_status ks__pb_text_parse(ks_context *ctx, ProtobufCAllocator *alloc,
                            const ProtobufCMessageDescriptor *desc, const char *text, size_t n,
                            const char *source, ProtobufCMessage **out) {
    *out = NULL;
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.ctx = ctx;
    ps.alloc = alloc;
    ps.src = ps.cur = text;
    ps.end = text + n;
    ps.source = source ? source : "<prototxt>";
    ps.line = 1;
    /* skip a UTF-8 BOM */
    if (n >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF)
        ps.cur += 3;
    void *msg = alloc->alloc(alloc->allocator_data, desc->sizeof_message);
    if (!msg)
        return ks__oom(ctx, desc->sizeof_message, desc->name);
    protobuf_c_message_init(desc, msg);
    ks_status st = parse_message_body(&ps, desc, msg, 0, 0);
    if (st != KS_OK) {
        protobuf_c_message_free_unpacked(msg, alloc);
        return st;
    }
    *out = msg;
    return KS_OK;
}
