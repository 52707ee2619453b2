#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>

#include "core/core.h"

static const char *const dtype_names[] = {
#define KS_X_(name, text, size) text,
    KS_DTYPE_LIST(KS_X_)
#undef KS_X_
};
static const size_t dtype_sizes[] = {
#define KS_X_(name, text, size) size,
    KS_DTYPE_LIST(KS_X_)
#undef KS_X_
};
_Static_assert(KS_ARRAY_LEN(dtype_names) == KS_DTYPE_COUNT, "dtype table");

const char *ks_dtype_name(ks_dtype dt) {
    return (unsigned)dt < KS_DTYPE_COUNT ? dtype_names[dt] : "invalid";
}
size_t ks_dtype_size(ks_dtype dt) { return (unsigned)dt < KS_DTYPE_COUNT ? dtype_sizes[dt] : 0; }

ks_status ks_dtype_from_name(const char *name, ks_dtype *out) {
    for (int i = 1; i < KS_DTYPE_COUNT; i++)
        if (name && strcmp(name, dtype_names[i]) == 0) {
            *out = (ks_dtype)i;
            return KS_OK;
        }
    return KS_INVALID_ARGUMENT;
}

int64_t ks_tensor_numel(const ks_tensor *t) {
    if (!t || t->ndim < 0 || t->ndim > KS_MAX_DIMS)
        return -1;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->dims[i] < 0 || !ks__mul_i64(n, t->dims[i], &n))
            return -1;
    }
    return n;
}

size_t ks_tensor_nbytes(const ks_tensor *t) {
    int64_t n = ks_tensor_numel(t);
    size_t es = t ? ks_dtype_size(t->dtype) : 0;
    if (n < 0 || es == 0)
        return 0;
    if ((uint64_t)n > SIZE_MAX / es)
        return 0;
    return (size_t)n * es;
}

ks_status ks_tensor_alloc(ks_context *ctx, ks_tensor *t) {
    if (!ctx || !t)
        return KS_INVALID_ARGUMENT;
    int64_t n = ks_tensor_numel(t);
    if (n < 0 || ks_dtype_size(t->dtype) == 0)
        return ks__error(ctx, KS_UNSUPPORTED_SHAPE, "cannot allocate tensor with shape/dtype %s",
                         ks_dtype_name(t->dtype));
    size_t nb = ks_tensor_nbytes(t);
    if (n > 0 && nb == 0)
        return ks__error(ctx, KS_OUT_OF_MEMORY, "tensor too large");
    t->data = ks__alloc(ctx, nb ? nb : 1);
    if (!t->data)
        return ks__oom(ctx, nb, "tensor");
    return KS_OK;
}

void ks_tensor_release(ks_context *ctx, ks_tensor *t) {
    if (!t)
        return;
    if (ctx && t->data)
        ks__free(ctx, t->data);
    t->data = NULL;
}

float ks_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while ((man & 0x400u) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t ks_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u | ((absx >> 13) & 0x3ffu) : 0));
    if (absx >= 0x477ff000u) /* rounds to >= 65520 -> inf */
        return (uint16_t)(sign | 0x7c00u);
    if (absx < 0x38800000u) { /* subnormal or zero in half */
        if (absx < 0x33000000u) /* < 2^-25: rounds to 0 */
            return (uint16_t)sign;
        uint32_t e = absx >> 23;
        uint32_t m = (absx & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14 + (112 - e) ... */
        /* value = m * 2^(e-150); half subnormal unit 2^-24 -> m * 2^(e-126) */
        uint32_t sh = shift; /* number of bits to drop from m to get units of 2^-24 */
        uint32_t q = m >> sh;
        uint32_t rem = m & ((1u << sh) - 1);
        uint32_t half = 1u << (sh - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
        return (uint16_t)(sign | q);
    }
    uint32_t e = (absx >> 23) - 127 + 15;
    uint32_t m = absx & 0x7fffffu;
    uint32_t q = (e << 10) | (m >> 13);
    uint32_t rem = m & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1)))
        q++;
    return (uint16_t)(sign | q);
}

char *ks_shape_str(const int64_t *dims, int ndim, char *buf, size_t buf_size) {
    if (!buf || buf_size == 0)
        return buf;
    buf[0] = '\0';
    size_t off = 0;
    if (ndim == 0) {
        snprintf(buf, buf_size, "scalar");
        return buf;
    }
    for (int i = 0; i < ndim && off < buf_size; i++) {
        int n;
        if (dims[i] < 0)
            n = snprintf(buf + off, buf_size - off, "%s?", i ? "x" : "");
        else
            n = snprintf(buf + off, buf_size - off, "%s%lld", i ? "x" : "", (long long)dims[i]);
        if (n < 0)
            break;
        off += (size_t)n;
    }
    return buf;
}

/* ---- .npy ---------------------------------------------------------------- */

static const char *npy_descr(ks_dtype dt) {
    switch (dt) {
    case KS_DTYPE_FLOAT32: return "<f4";
    case KS_DTYPE_FLOAT16: return "<f2";
    case KS_DTYPE_FLOAT64: return "<f8";
    case KS_DTYPE_INT8: return "|i1";
    case KS_DTYPE_UINT8: return "|u1";
    case KS_DTYPE_INT32: return "<i4";
    case KS_DTYPE_INT64: return "<i8";
    case KS_DTYPE_BOOL: return "|b1";
    default: return NULL;
    }
}

ks_status ks_tensor_save_npy(ks_context *ctx, const char *path, const ks_tensor *t) {
    const char *descr = npy_descr(t->dtype);
    if (!descr)
        return ks__error(ctx, KS_UNSUPPORTED_DTYPE, "%s: cannot write dtype %s to .npy", path,
                         ks_dtype_name(t->dtype));
    char shape[256] = "";
    size_t off = 0;
    for (int i = 0; i < t->ndim; i++)
        off += (size_t)snprintf(shape + off, sizeof(shape) - off, "%lld,%s", (long long)t->dims[i],
                                (i + 1 < t->ndim) ? " " : "");
    if (t->ndim > 1)
        shape[off - 1] = '\0'; /* drop trailing comma for ndim > 1 */
    char header[512];
    int hl = snprintf(header, sizeof(header), "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                      descr, shape);
    int total = 10 + hl + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f)
        return ks__error(ctx, KS_IO_ERROR, "%s: cannot create: %s", path, strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    uint16_t hlen = (uint16_t)(hl + pad + 1);
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)hl, f) == (size_t)hl;
    for (int i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    size_t nb = ks_tensor_nbytes(t);
    if (ok && nb)
        ok = fwrite(t->data, 1, nb, f) == nb;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok)
        return ks__error(ctx, KS_IO_ERROR, "%s: write failed", path);
    return KS_OK;
}

ks_status ks_tensor_load_npy(ks_context *ctx, const char *path, ks_tensor *out) {
    memset(out, 0, sizeof(*out));
    void *buf;
    size_t n;
    KS_CHECK(ks__read_file(ctx, path, &buf, &n));
    const unsigned char *p = buf;
    ks_status st = KS_CORRUPT_FILE;
    if (n < 10 || memcmp(p, "\x93NUMPY", 6) != 0) {
        ks__error(ctx, st, "%s: not a .npy file", path);
        goto done;
    }
    size_t hl, hoff;
    if (p[6] == 1) {
        hl = (size_t)p[8] | ((size_t)p[9] << 8);
        hoff = 10;
    } else {
        if (n < 12) {
            ks__error(ctx, st, "%s: truncated .npy header", path);
            goto done;
        }
        hl = (size_t)p[8] | ((size_t)p[9] << 8) | ((size_t)p[10] << 16) | ((size_t)p[11] << 24);
        hoff = 12;
    }
    if (hl > n - hoff) {
        ks__error(ctx, st, "%s: truncated .npy header", path);
        goto done;
    }
    char hdr[4096];
    size_t cl = hl < sizeof(hdr) - 1 ? hl : sizeof(hdr) - 1;
    memcpy(hdr, p + hoff, cl);
    hdr[cl] = '\0';
    const char *d = strstr(hdr, "'descr'");
    const char *fo = strstr(hdr, "'fortran_order'");
    const char *sh = strstr(hdr, "'shape'");
    if (!d || !fo || !sh) {
        ks__error(ctx, st, "%s: malformed .npy header", path);
        goto done;
    }
    if (strstr(fo, "True")) {
        ks__error(ctx, KS_UNSUPPORTED_SHAPE, "%s: fortran-order .npy not supported", path);
        goto done;
    }
    static const struct { const char *s; ks_dtype dt; } map[] = {
        {"'<f4'", KS_DTYPE_FLOAT32}, {"'<f2'", KS_DTYPE_FLOAT16}, {"'<f8'", KS_DTYPE_FLOAT64},
        {"'|i1'", KS_DTYPE_INT8},    {"'|u1'", KS_DTYPE_UINT8},   {"'<i4'", KS_DTYPE_INT32},
        {"'<i8'", KS_DTYPE_INT64},   {"'|b1'", KS_DTYPE_BOOL},
    };
    out->dtype = KS_DTYPE_UNDEFINED;
    for (size_t i = 0; i < KS_ARRAY_LEN(map); i++)
        if (strncmp(strchr(d + 7, '\''), map[i].s, strlen(map[i].s)) == 0)
            out->dtype = map[i].dt;
    if (out->dtype == KS_DTYPE_UNDEFINED) {
        ks__error(ctx, KS_UNSUPPORTED_DTYPE, "%s: unsupported .npy dtype", path);
        goto done;
    }
    const char *lp = strchr(sh, '(');
    if (!lp) {
        ks__error(ctx, st, "%s: malformed .npy shape", path);
        goto done;
    }
    lp++;
    out->ndim = 0;
    while (*lp && *lp != ')') {
        while (*lp == ' ' || *lp == ',')
            lp++;
        if (*lp == ')')
            break;
        char *end;
        long long v = strtoll(lp, &end, 10);
        if (end == lp || v < 0 || out->ndim >= KS_MAX_DIMS) {
            ks__error(ctx, st, "%s: malformed .npy shape", path);
            goto done;
        }
        out->dims[out->ndim++] = v;
        lp = end;
    }
    size_t nb = ks_tensor_nbytes(out);
    int64_t numel = ks_tensor_numel(out);
    if (numel < 0 || (numel > 0 && nb == 0) || nb > n - hoff - hl) {
        ks__error(ctx, st, "%s: .npy data truncated", path);
        goto done;
    }
    st = ks_tensor_alloc(ctx, out);
    if (st != KS_OK)
        goto done;
    memcpy(out->data, p + hoff + hl, nb);
    st = KS_OK;
done:
    ks__free(ctx, buf);
    return st;
}
