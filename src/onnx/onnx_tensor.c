/* TensorProto -> ks_tensor: dtypes, shapes, raw/typed/external data. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx/onnx_pb.h"
#include "onnx/onnx_tensor.h"

static const char *const onnx_type_names[] = {
    "UNDEFINED",      "FLOAT",      "UINT8",          "INT8",       "UINT16",   "INT16",
    "INT32",          "INT64",      "STRING",         "BOOL",       "FLOAT16",  "DOUBLE",
    "UINT32",         "UINT64",     "COMPLEX64",      "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN",
    "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4",      "INT4",     "FLOAT4E2M1",
};

const char *ks__onnx_dtype_name(int t) {
    if (t < 0 || (size_t)t >= KS_ARRAY_LEN(onnx_type_names))
        return "UNKNOWN";
    return onnx_type_names[t];
}

int ks__onnx_dtype(int t, ks_dtype *out) {
    ks_dtype d;
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        d = KS_DTYPE_FLOAT32;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
        d = KS_DTYPE_UINT8;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
        d = KS_DTYPE_INT8;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
        d = KS_DTYPE_INT32;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        d = KS_DTYPE_INT64;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
        d = KS_DTYPE_BOOL;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
        d = KS_DTYPE_FLOAT16;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        d = KS_DTYPE_FLOAT64;
        break;
    default:
        return 0;
    }
    *out = d;
    return 1;
}

/* ---------------------------------------------------------------- external data */

static int parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s)
        return 0;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* Rejects absolute paths, "..", backslashes and empty components. */
static int location_safe(const char *loc) {
    if (!loc || !*loc || loc[0] == '/' || strchr(loc, '\\'))
        return 0;
    const char *c = loc;
    while (*c) {
        const char *e = strchr(c, '/');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (len == 2 && c[0] == '.' && c[1] == '.')
            return 0;
        if (!e)
            break;
        c = e + 1;
    }
    return 1;
}

static ks_status read_external(ks_context *ctx, const Onnx__TensorProto *tp, const char *source,
                               const char *what, const char *ext_dir, size_t n_bytes, void *dst) {
    const char *loc = NULL;
    uint64_t offset = 0, length = 0;
    int have_length = 0;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *kv = tp->external_data[i];
        if (!kv || !kv->key)
            continue;
        if (!strcmp(kv->key, "location")) {
            loc = kv->value;
        } else if (!strcmp(kv->key, "offset")) {
            if (!parse_u64(kv->value, &offset))
                return ks__error(ctx, KS_INVALID_MODEL, "%s: %s: bad external data offset '%s'",
                                 source, what, kv->value ? kv->value : "");
        } else if (!strcmp(kv->key, "length")) {
            if (!parse_u64(kv->value, &length))
                return ks__error(ctx, KS_INVALID_MODEL, "%s: %s: bad external data length '%s'",
                                 source, what, kv->value ? kv->value : "");
            have_length = 1;
        }
    }
    if (!loc || !*loc)
        return ks__error(ctx, KS_INVALID_MODEL, "%s: %s: external data without a location", source,
                         what);
    if (!location_safe(loc))
        return ks__error(ctx, KS_INVALID_MODEL,
                         "%s: %s: external data location '%s' is absolute or leaves the model "
                         "directory",
                         source, what, loc);
    if (!ext_dir || !*ext_dir)
        return ks__error(ctx, KS_INVALID_ARGUMENT,
                         "%s: %s: external data '%s' needs a directory (set "
                         "ks_import_options.external_data_dir)",
                         source, what, loc);
    char path[PATH_MAX], real_dir[PATH_MAX], real_file[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", ext_dir, loc);
    if (n < 0 || (size_t)n >= sizeof path)
        return ks__error(ctx, KS_INVALID_MODEL, "%s: %s: external data path too long", source,
                         what);
    if (!realpath(ext_dir, real_dir))
        return ks__error(ctx, KS_IO_ERROR, "%s: %s: external data directory '%s': %s", source, what,
                         ext_dir, strerror(errno));
    if (!realpath(path, real_file))
        return ks__error(ctx, KS_IO_ERROR, "%s: %s: external data file '%s': %s", source, what,
                         path, strerror(errno));
    size_t ld = strlen(real_dir);
    if (strncmp(real_file, real_dir, ld) != 0 || (real_file[ld] != '/' && ld > 1))
        return ks__error(ctx, KS_INVALID_MODEL,
                         "%s: %s: external data '%s' resolves outside the model directory", source,
                         what, loc);
    int fd = open(real_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ks__error(ctx, KS_IO_ERROR, "%s: %s: cannot open external data '%s': %s", source,
                         what, path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ks__error(ctx, KS_IO_ERROR, "%s: %s: external data '%s' is not a regular file",
                         source, what, path);
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    if (!have_length)
        length = offset <= fsize ? fsize - offset : 0;
    if (offset > fsize || length > fsize - offset) {
        close(fd);
        return ks__error(ctx, KS_CORRUPT_FILE,
                         "%s: %s: external data offset %llu + length %llu exceeds the size of "
                         "'%s' (%llu bytes)",
                         source, what, (unsigned long long)offset, (unsigned long long)length, loc,
                         (unsigned long long)fsize);
    }
    if (length != n_bytes) {
        close(fd);
        return ks__error(ctx, KS_INVALID_MODEL,
                         "%s: %s: external data length %llu does not match the %zu bytes its "
                         "shape needs",
                         source, what, (unsigned long long)length, n_bytes);
    }
    size_t done = 0;
    while (done < n_bytes) {
        ssize_t r = pread(fd, (char *)dst + done, n_bytes - done, (off_t)(offset + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fd);
            return ks__error(ctx, KS_IO_ERROR, "%s: %s: short read of external data '%s'", source,
                             what, path);
        }
        done += (size_t)r;
    }
    close(fd);
    return KS_OK;
}

/* ---------------------------------------------------------------- conversion */

static char *shape_desc(const ks_tensor *t, char *buf, size_t n) {
    return ks_shape_str(t->dims, t->ndim, buf, n);
}

ks_status ks__onnx_tensor_convert(ks_context *ctx, const Onnx__TensorProto *tp, const char *source,
                                  const char *what, const char *ext_dir, ks_tensor *out) {
    memset(out, 0, sizeof(*out));
    if (!source)
        source = "<memory>";
    if (!tp)
        return ks__error(ctx, KS_INVALID_MODEL, "%s: %s: missing tensor", source, what);
    int onnx_type = tp->has_data_type ? tp->data_type : 0;
    ks_dtype dt;
    if (!ks__onnx_dtype(onnx_type, &dt))
        return ks__error(ctx, KS_UNSUPPORTED_DTYPE, "%s: %s: data type %s (%d) is not supported",
                         source, what, ks__onnx_dtype_name(onnx_type), onnx_type);
    if (tp->n_dims > KS_MAX_DIMS)
        return ks__error(ctx, KS_UNSUPPORTED_SHAPE, "%s: %s: rank %zu exceeds the maximum of %d",
                         source, what, tp->n_dims, KS_MAX_DIMS);
    if (tp->segment)
        return ks__error(ctx, KS_UNSUPPORTED_ATTR, "%s: %s: segmented tensors are not supported",
                         source, what);
    ks_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.ndim = (int32_t)tp->n_dims;
    int64_t numel = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return ks__error(ctx, KS_INVALID_MODEL, "%s: %s: dimension %zu is negative (%lld)",
                             source, what, i, (long long)tp->dims[i]);
        t.dims[i] = tp->dims[i];
        if (!ks__mul_i64(numel, tp->dims[i], &numel))
            return ks__error(ctx, KS_UNSUPPORTED_SHAPE,
                             "%s: %s: the element count overflows (dimension %zu = %lld)", source,
                             what, i, (long long)tp->dims[i]);
    }
    char sb[96];
    if (numel > KS_ONNX_MAX_ELEMENTS)
        return ks__error(ctx, KS_UNSUPPORTED_SHAPE,
                         "%s: %s: shape %s has %lld elements (the limit is 2^31-1)", source, what,
                         shape_desc(&t, sb, sizeof sb), (long long)numel);
    size_t es = ks_dtype_size(dt);
    size_t n_bytes = (size_t)numel * es;
    int external =
        tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;

    /* Count the values the chosen source holds and check before allocating. */
    size_t n_typed = 0;
    const char *field = NULL;
    if (!external && !tp->has_raw_data) {
        switch (dt) {
        case KS_DTYPE_FLOAT32:
            n_typed = tp->n_float_data;
            field = "float_data";
            break;
        case KS_DTYPE_FLOAT64:
            n_typed = tp->n_double_data;
            field = "double_data";
            break;
        case KS_DTYPE_INT64:
            n_typed = tp->n_int64_data;
            field = "int64_data";
            break;
        default:
            n_typed = tp->n_int32_data;
            field = "int32_data";
            break;
        }
        if (n_typed != (size_t)numel)
            return ks__error(ctx, KS_INVALID_MODEL,
                             "%s: %s: %s holds %zu values but shape %s %s needs %lld", source, what,
                             field, n_typed, shape_desc(&t, sb, sizeof sb), ks_dtype_name(dt),
                             (long long)numel);
    } else if (!external && tp->raw_data.len != n_bytes) {
        return ks__error(ctx, KS_INVALID_MODEL,
                         "%s: %s: raw_data has %zu bytes but shape %s %s needs %zu", source, what,
                         tp->raw_data.len, shape_desc(&t, sb, sizeof sb), ks_dtype_name(dt),
                         n_bytes);
    }
    t.data = ks__alloc(ctx, n_bytes ? n_bytes : 1);
    if (!t.data)
        return ks__oom(ctx, n_bytes, what);
    if (external) {
        ks_status st = read_external(ctx, tp, source, what, ext_dir, n_bytes, t.data);
        if (st != KS_OK) {
            ks__free(ctx, t.data);
            return st;
        }
    } else if (tp->has_raw_data) {
        if (n_bytes)
            memcpy(t.data, tp->raw_data.data, n_bytes);
    } else if (numel > 0) {
        size_t n = (size_t)numel;
        switch (dt) {
        case KS_DTYPE_FLOAT32:
            memcpy(t.data, tp->float_data, n * 4);
            break;
        case KS_DTYPE_FLOAT64:
            memcpy(t.data, tp->double_data, n * 8);
            break;
        case KS_DTYPE_INT64:
            memcpy(t.data, tp->int64_data, n * 8);
            break;
        case KS_DTYPE_INT32:
            memcpy(t.data, tp->int32_data, n * 4);
            break;
        case KS_DTYPE_FLOAT16:
            for (size_t i = 0; i < n; i++)
                ((uint16_t *)t.data)[i] = (uint16_t)tp->int32_data[i];
            break;
        case KS_DTYPE_INT8:
            for (size_t i = 0; i < n; i++)
                ((int8_t *)t.data)[i] = (int8_t)tp->int32_data[i];
            break;
        case KS_DTYPE_UINT8:
            for (size_t i = 0; i < n; i++)
                ((uint8_t *)t.data)[i] = (uint8_t)tp->int32_data[i];
            break;
        case KS_DTYPE_BOOL:
            for (size_t i = 0; i < n; i++)
                ((uint8_t *)t.data)[i] = tp->int32_data[i] != 0;
            break;
        default:
            ks__free(ctx, t.data);
            return ks__error(ctx, KS_INTERNAL, "%s: %s: unhandled dtype", source, what);
        }
    }
    if (dt == KS_DTYPE_BOOL) /* normalize raw/external bools to 0/1 */
        for (size_t i = 0; i < n_bytes; i++)
            ((uint8_t *)t.data)[i] = ((uint8_t *)t.data)[i] != 0;
    *out = t;
    return KS_OK;
}

/* ---------------------------------------------------------------- standalone .pb */

ks_status ks__onnx_parse_tensor_pb(ks_context *ctx, const void *data, size_t n_bytes,
                                   const char *source, const char *ext_dir, ks_tensor *out,
                                   char **name_out) {
    if (!ctx || !out || (!data && n_bytes))
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks__onnx_parse_tensor_pb: NULL argument");
    memset(out, 0, sizeof(*out));
    if (name_out)
        *name_out = NULL;
    if (!source)
        source = "<memory>";
    Onnx__TensorProto *tp = (Onnx__TensorProto *)ks__pb_unpack(
        ctx, &onnx__tensor_proto__descriptor, data, n_bytes, source, "ONNX TensorProto");
    if (!tp)
        return ks_context_last_status(ctx);
    char what[160];
    snprintf(what, sizeof what, "tensor '%s'", tp->name ? tp->name : "");
    ks_status st = ks__onnx_tensor_convert(ctx, tp, source, what, ext_dir, out);
    if (st == KS_OK && name_out) {
        *name_out = ks__strdup(ctx, tp->name ? tp->name : "");
        if (!*name_out) {
            ks_tensor_release(ctx, out);
            st = ks__oom(ctx, 0, "tensor name");
        }
    }
    ks__pb_free(ctx, &tp->base);
    return st;
}

ks_status ks__onnx_load_tensor_pb(ks_context *ctx, const char *path, ks_tensor *out,
                                  char **name_out) {
    if (!ctx || !path || !out)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks__onnx_load_tensor_pb: NULL argument");
    memset(out, 0, sizeof(*out));
    if (name_out)
        *name_out = NULL;
    void *data;
    size_t n;
    KS_CHECK(ks__read_file(ctx, path, &data, &n));
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash) {
        size_t l = (size_t)(slash - path);
        if (l >= sizeof dir)
            l = sizeof dir - 1;
        memcpy(dir, path, l);
        dir[l ? l : 1] = '\0';
        if (!l)
            dir[0] = '/';
    } else {
        strcpy(dir, ".");
    }
    ks_status st = ks__onnx_parse_tensor_pb(ctx, data, n, path, dir, out, name_out);
    ks__free(ctx, data);
    return st;
}
