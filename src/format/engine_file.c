/* Engine description: building helpers, serialization, parsing and
 * validation (docs/format.md). Host-only; never touches the GPU. */
#include <stdio.h>
#include <string.h>

#include "format/engine_format.h"

/* ------------------------------------------------------------ CRC32C */
static uint32_t crc_table[8][256];
static int crc_ready = 0;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
    crc_ready = 1; /* benign race: every thread computes identical tables */
}

uint32_t ks__crc32c(uint32_t crc, const void *data, size_t n) {
    if (!crc_ready)
        crc_init();
    const uint8_t *p = data;
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        lo ^= crc;
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
              crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

/* ------------------------------------------------------------ names */
static const char *const layer_names[] = {
#define KS_X_(e, n) n,
    KS_LAYER_LIST(KS_X_)
#undef KS_X_
};
static const char *const tactic_names[] = {
#define KS_X_(e, n) n,
    KS_TACTIC_LIST(KS_X_)
#undef KS_X_
};
static const char *const act_names[] = {
#define KS_X_(e, n) n,
    KS_ACT_LIST(KS_X_)
#undef KS_X_
};
_Static_assert(KS_ARRAY_LEN(layer_names) == KS_LAYER_COUNT, "layer names");
_Static_assert(KS_ARRAY_LEN(tactic_names) == KS_TACTIC_COUNT, "tactic names");
_Static_assert(KS_ARRAY_LEN(act_names) == KS_ACT_COUNT, "act names");

const char *ks__layer_kind_name(int k) { return k >= 0 && k < KS_LAYER_COUNT ? layer_names[k] : "?"; }
const char *ks__tactic_name(int t) { return t >= 0 && t < KS_TACTIC_COUNT ? tactic_names[t] : "?"; }
const char *ks__act_name(int a) { return a >= 0 && a < KS_ACT_COUNT ? act_names[a] : "?"; }

/* ------------------------------------------------------------ desc */
void ks__eng_desc_init(ks_eng_desc *d, ks_context *ctx) {
    memset(d, 0, sizeof(*d));
    d->ctx = ctx;
    d->lib_version = (KS_VERSION_MAJOR << 16) | (KS_VERSION_MINOR << 8) | KS_VERSION_PATCH;
}

void ks__eng_desc_free(ks_eng_desc *d) {
    if (!d || !d->ctx)
        return;
    ks__free(d->ctx, d->bindings);
    ks__free(d->ctx, d->tensors);
    ks__free(d->ctx, d->layers);
    ks__free(d->ctx, d->strings);
    ks__free(d->ctx, d->weights);
    ks__free(d->ctx, d->plugin_data);
    ks_context *ctx = d->ctx;
    memset(d, 0, sizeof(*d));
    d->ctx = ctx;
}

static int grow(ks_context *ctx, void **p, int64_t need, int64_t *cap, size_t elem) {
    if (need <= *cap)
        return 1;
    int64_t nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    void *np = ks__realloc(ctx, *p, (size_t)nc * elem);
    if (!np)
        return 0;
    memset((char *)np + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *p = np;
    *cap = nc;
    return 1;
}

uint32_t ks__eng_add_string(ks_eng_desc *d, const char *s) {
    if (!s)
        s = "";
    size_t n = strlen(s) + 1;
    int64_t cap = d->cap_strings;
    if (!grow(d->ctx, (void **)&d->strings, (int64_t)d->n_strings_bytes + (int64_t)n, &cap, 1))
        return UINT32_MAX;
    d->cap_strings = (uint32_t)cap;
    uint32_t off = d->n_strings_bytes;
    memcpy(d->strings + off, s, n);
    d->n_strings_bytes += (uint32_t)n;
    return off;
}

const char *ks__eng_str(const ks_eng_desc *d, uint32_t off) {
    if (!d->strings || off >= d->n_strings_bytes)
        return "";
    return d->strings + off;
}

int64_t ks__eng_numel(const ks_eng_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        if (!ks__mul_i64(n, t->dims[i], &n) || t->dims[i] < 0)
            return -1;
    return n;
}

int ks__eng_add_tensor(ks_eng_desc *d, const char *name, ks_dtype dt, int ndim,
                       const int64_t *dims) {
    if (ndim < 0 || ndim > KS_MAX_DIMS)
        return -1;
    int64_t cap = d->cap_tensors;
    if (!grow(d->ctx, (void **)&d->tensors, d->n_tensors + 1, &cap, sizeof(ks_eng_tensor)))
        return -1;
    d->cap_tensors = (int32_t)cap;
    uint32_t so = ks__eng_add_string(d, name);
    if (so == UINT32_MAX)
        return -1;
    int id = d->n_tensors++;
    ks_eng_tensor *t = &d->tensors[id];
    memset(t, 0, sizeof(*t));
    t->name = so;
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->dims[i] = dims[i];
    t->storage = KS_STORE_ARENA;
    t->root = id;
    t->offset = -1;
    int64_t n = ks__eng_numel(t);
    t->bytes = n < 0 ? -1 : n * (int64_t)ks_dtype_size(dt);
    return id;
}

int ks__eng_add_weight(ks_eng_desc *d, const char *name, ks_dtype dt, int ndim,
                       const int64_t *dims, const void *data) {
    int id = ks__eng_add_tensor(d, name, dt, ndim, dims);
    if (id < 0)
        return -1;
    ks_eng_tensor *t = &d->tensors[id];
    int64_t off = (d->n_weight_bytes + KS_ENG_ALIGN - 1) / KS_ENG_ALIGN * KS_ENG_ALIGN;
    if (!grow(d->ctx, (void **)&d->weights, off + t->bytes, &d->cap_weights, 1))
        return -1;
    t = &d->tensors[id];
    memcpy(d->weights + off, data, (size_t)t->bytes);
    d->n_weight_bytes = off + t->bytes;
    t->storage = KS_STORE_WEIGHT;
    t->offset = off;
    return id;
}

ks_eng_layer *ks__eng_add_layer(ks_eng_desc *d, ks_layer_kind kind, const char *name) {
    int64_t cap = d->cap_layers;
    if (!grow(d->ctx, (void **)&d->layers, d->n_layers + 1, &cap, sizeof(ks_eng_layer)))
        return NULL;
    d->cap_layers = (int32_t)cap;
    uint32_t so = ks__eng_add_string(d, name);
    if (so == UINT32_MAX)
        return NULL;
    ks_eng_layer *l = &d->layers[d->n_layers++];
    memset(l, 0, sizeof(*l));
    l->name = so;
    l->kind = kind;
    l->dtype = KS_DTYPE_FLOAT32;
    for (int i = 0; i < KS_ENG_MAX_IN; i++)
        l->in[i] = -1;
    for (int i = 0; i < KS_ENG_MAX_OUT; i++)
        l->out[i] = -1;
    return l;
}

int ks__eng_root(const ks_eng_desc *d, int t, int64_t *offset) {
    int64_t off = 0;
    for (int hops = 0; hops <= d->n_tensors; hops++) {
        if (t < 0 || t >= d->n_tensors)
            return -1;
        const ks_eng_tensor *x = &d->tensors[t];
        if (x->storage != KS_STORE_VIEW) {
            if (offset)
                *offset = off;
            return t;
        }
        off += x->offset;
        t = x->root;
    }
    return -1; /* cycle */
}

/* ------------------------------------------------------------ file layout */
/* SEC_PLUGINS exists from format version 2 on (files with plugin layers). */
enum { SEC_META = 1, SEC_BINDINGS, SEC_TENSORS, SEC_LAYERS, SEC_STRINGS, SEC_WEIGHTS, SEC_PLUGINS,
       SEC_COUNT };
#define SEC_COUNT_V1 SEC_PLUGINS
static const char *const sec_names[] = {"?",       "meta",    "bindings", "tensors",
                                        "layers",  "strings", "weights",  "plugins"};

typedef struct file_header {
    char magic[8];
    uint32_t format_version;
    uint32_t header_bytes;
    uint64_t file_bytes;
    uint32_t lib_version;
    uint32_t sm;
    uint32_t cuda_version;
    uint32_t cudnn_version;
    uint32_t precision;
    uint32_t build_flags;
    uint32_t n_sections;
    uint32_t header_crc; /* CRC32C of the 128 header bytes with this field 0 */
    uint32_t body_crc;   /* CRC32C of bytes [128, file_bytes) */
    uint8_t reserved[128 - 60];
} file_header;
_Static_assert(sizeof(file_header) == 128, "header is 128 bytes");

typedef struct section_entry {
    uint32_t type;
    uint32_t elem_bytes;
    uint64_t offset;
    uint64_t bytes;
    uint64_t count;
} section_entry;
_Static_assert(sizeof(section_entry) == 32, "section entry is 32 bytes");

typedef struct file_meta {
    int32_t n_inputs, n_outputs, n_tensors, n_layers;
    int64_t arena_bytes, workspace_bytes, staging_bytes, naive_bytes, batch_separable;
    int64_t reserved[3];
} file_meta;

static uint64_t align_up(uint64_t x) { return (x + KS_ENG_ALIGN - 1) / KS_ENG_ALIGN * KS_ENG_ALIGN; }

ks_status ks__eng_serialize(const ks_eng_desc *d, void **data, size_t *n_bytes) {
    *data = NULL;
    *n_bytes = 0;
    file_meta meta;
    memset(&meta, 0, sizeof(meta));
    meta.n_inputs = d->n_inputs;
    meta.n_outputs = d->n_outputs;
    meta.n_tensors = d->n_tensors;
    meta.n_layers = d->n_layers;
    meta.arena_bytes = d->arena_bytes;
    meta.workspace_bytes = d->workspace_bytes;
    meta.staging_bytes = d->staging_bytes;
    meta.naive_bytes = d->naive_bytes;
    meta.batch_separable = d->batch_separable;
    const void *src[SEC_COUNT] = {0};
    section_entry sec[SEC_COUNT - 1];
    memset(sec, 0, sizeof(sec));
    uint64_t sizes[SEC_COUNT] = {0}, elems[SEC_COUNT] = {0}, counts[SEC_COUNT] = {0};
    src[SEC_META] = &meta; sizes[SEC_META] = sizeof(meta); elems[SEC_META] = sizeof(meta); counts[SEC_META] = 1;
    src[SEC_BINDINGS] = d->bindings; elems[SEC_BINDINGS] = 4;
    counts[SEC_BINDINGS] = (uint64_t)(d->n_inputs + d->n_outputs);
    src[SEC_TENSORS] = d->tensors; elems[SEC_TENSORS] = sizeof(ks_eng_tensor); counts[SEC_TENSORS] = (uint64_t)d->n_tensors;
    src[SEC_LAYERS] = d->layers; elems[SEC_LAYERS] = sizeof(ks_eng_layer); counts[SEC_LAYERS] = (uint64_t)d->n_layers;
    src[SEC_STRINGS] = d->strings; elems[SEC_STRINGS] = 1; counts[SEC_STRINGS] = d->n_strings_bytes;
    src[SEC_WEIGHTS] = d->weights; elems[SEC_WEIGHTS] = 1; counts[SEC_WEIGHTS] = (uint64_t)d->n_weight_bytes;
    src[SEC_PLUGINS] = d->plugin_data; elems[SEC_PLUGINS] = 1; counts[SEC_PLUGINS] = (uint64_t)d->n_plugin_bytes;
    /* without plugin layers: a version 1 file (6 sections) older libraries read */
    /* segmap layers: version 3 (same sections as 2), which libraries without the kind refuse by version */
    /* cluster split-K conv configs: version 4 (same sections as 2) */
    /* the rolling-rows depthwise (own:depthwise:4) and the window-staged conv (own:direct:3..8): version 5 */
    /* a segmap with its 1x1 conv in front (tactic own:pointwise): version 7 */
    int has_plugins = d->n_plugin_bytes > 0, has_segmap = 0, has_cluster = 0, has_v5 = 0, has_v6 = 0, has_v7 = 0;
    for (int i = 0; i < d->n_layers; i++) {
        has_plugins |= d->layers[i].kind == KS_LAYER_PLUGIN;
        has_segmap |= d->layers[i].kind == KS_LAYER_SEGMAP;
        has_v6 |= d->layers[i].kind == KS_LAYER_SEGMAP && d->layers[i].algo != 0;
        has_v7 |= d->layers[i].kind == KS_LAYER_SEGMAP && d->layers[i].tactic == KS_TACTIC_OWN_PW;
        has_v6 |= d->layers[i].kind == KS_LAYER_CONV && d->layers[i].tactic == KS_TACTIC_OWN_PW &&
                  d->layers[i].algo == 1 && d->layers[i].in[0] >= 0 && d->layers[i].out[0] >= 0 &&
                  (d->tensors[d->layers[i].in[0]].dims[1] > 128 || d->tensors[d->layers[i].out[0]].dims[1] > 128);
        has_cluster |= d->layers[i].kind == KS_LAYER_CONV && d->layers[i].tactic == KS_TACTIC_OWN_GEMM &&
                       d->layers[i].ip[13] > 0 && (d->layers[i].ip[13] & KS_ENG_IGEMM_CLUSTER);
        has_v5 |= d->layers[i].kind == KS_LAYER_CONV &&
                  ((d->layers[i].tactic == KS_TACTIC_OWN_DW && d->layers[i].algo == 4) ||
                   (d->layers[i].tactic == KS_TACTIC_OWN_DIRECT && d->layers[i].algo >= 3));
    }
    int n_sec = has_plugins || has_segmap || has_v7 || has_v6 || has_cluster || has_v5 ? SEC_COUNT : SEC_COUNT_V1;
    uint64_t off = align_up(sizeof(file_header) + (uint64_t)(n_sec - 1) * sizeof(section_entry));
    for (int s = 1; s < n_sec; s++) {
        sizes[s] = elems[s] * counts[s];
        sec[s - 1].type = (uint32_t)s;
        sec[s - 1].elem_bytes = (uint32_t)elems[s];
        sec[s - 1].offset = off;
        sec[s - 1].bytes = sizes[s];
        sec[s - 1].count = counts[s];
        off = align_up(off + sizes[s]);
    }
    uint8_t *buf = ks__alloc(d->ctx, (size_t)off);
    if (!buf)
        return ks__oom(d->ctx, (size_t)off, "engine file");
    file_header h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, KS_ENG_MAGIC, 8);
    h.format_version = has_v7 ? 7u : has_v6 ? 6u : has_v5 ? 5u : has_cluster ? 4u : has_segmap ? 3u : has_plugins ? 2u : 1u;
    h.header_bytes = sizeof(h);
    h.file_bytes = off;
    h.lib_version = d->lib_version;
    h.sm = d->sm;
    h.cuda_version = d->cuda_version;
    h.cudnn_version = d->cudnn_version;
    h.precision = d->precision;
    h.build_flags = d->build_flags;
    h.n_sections = (uint32_t)(n_sec - 1);
    memcpy(buf + sizeof(h), sec, (size_t)(n_sec - 1) * sizeof(section_entry));
    for (int s = 1; s < n_sec; s++)
        if (sizes[s])
            memcpy(buf + sec[s - 1].offset, src[s], (size_t)sizes[s]);
    memcpy(buf, &h, sizeof(h));
    *data = buf;
    *n_bytes = (size_t)off;
    ks__eng_fix_checksums(buf, (size_t)off);
    return KS_OK;
}

void ks__eng_fix_checksums(void *data, size_t n_bytes) {
    if (n_bytes < sizeof(file_header))
        return;
    file_header h;
    memcpy(&h, data, sizeof(h));
    h.body_crc = ks__crc32c(0, (uint8_t *)data + sizeof(h), n_bytes - sizeof(h));
    h.header_crc = 0;
    memcpy(data, &h, sizeof(h));
    h.header_crc = ks__crc32c(0, data, sizeof(h));
    memcpy(data, &h, sizeof(h));
}

#define CORRUPT(...) ks__error(ctx, KS_CORRUPT_FILE, "engine file: " __VA_ARGS__)

ks_status ks__eng_parse(ks_context *ctx, const void *data, size_t n_bytes, ks_eng_desc *d) {
    ks__eng_desc_init(d, ctx);
    const uint8_t *p = data;
    if (!data || n_bytes < sizeof(file_header))
        return CORRUPT("%zu bytes is shorter than the %zu-byte header (truncated?)", n_bytes,
                       sizeof(file_header));
    file_header h;
    memcpy(&h, p, sizeof(h));
    if (memcmp(h.magic, KS_ENG_MAGIC, 8) != 0)
        return CORRUPT("bad magic (not a kestrel engine)");
    if (h.format_version > KS_ENG_FORMAT_VERSION)
        return ks__error(ctx, KS_VERSION_MISMATCH,
                         "engine file: format version %u is newer than this library's %u "
                         "(library %s); rebuild the engine or update kestrel",
                         h.format_version, KS_ENG_FORMAT_VERSION, KS_VERSION_STRING);
    if (h.format_version == 0)
        return CORRUPT("format version 0");
    uint32_t want = h.header_crc;
    file_header hz = h;
    hz.header_crc = 0;
    if (ks__crc32c(0, &hz, sizeof(hz)) != want)
        return CORRUPT("header checksum mismatch");
    if (h.header_bytes != sizeof(file_header))
        return CORRUPT("header size %u, expected %zu", h.header_bytes, sizeof(file_header));
    if (h.file_bytes != n_bytes)
        return CORRUPT("header says %llu bytes but the file has %zu (truncated or padded)",
                       (unsigned long long)h.file_bytes, n_bytes);
    if (ks__crc32c(0, p + sizeof(h), n_bytes - sizeof(h)) != h.body_crc)
        return CORRUPT("checksum mismatch (file damaged)");
    /* version 1: 6 sections; versions 2 to 5: 7 (plugins) */
    int n_sec = h.format_version >= 2 ? SEC_COUNT : SEC_COUNT_V1;
    if (h.n_sections != (uint32_t)(n_sec - 1))
        return CORRUPT("%u sections, format version %u has %d", h.n_sections, h.format_version,
                       n_sec - 1);
    uint64_t tab_end = sizeof(h) + (uint64_t)h.n_sections * sizeof(section_entry);
    if (tab_end > n_bytes)
        return CORRUPT("section table runs past the end of the file");
    const section_entry *found[SEC_COUNT] = {0};
    section_entry secs[SEC_COUNT];
    for (uint32_t i = 0; i < h.n_sections; i++) {
        section_entry s;
        memcpy(&s, p + sizeof(h) + i * sizeof(section_entry), sizeof(s));
        if (s.type == 0 || s.type >= (uint32_t)n_sec)
            return CORRUPT("section %u has unknown type %u", i, s.type);
        if (found[s.type])
            return CORRUPT("section '%s' appears twice", sec_names[s.type]);
        if (s.offset % KS_ENG_ALIGN)
            return CORRUPT("section '%s' offset %llu is not %u-byte aligned", sec_names[s.type],
                           (unsigned long long)s.offset, KS_ENG_ALIGN);
        if (s.offset < tab_end || s.offset > n_bytes || s.bytes > n_bytes - s.offset)
            return CORRUPT("section '%s' [%llu, +%llu) lies outside the file (%zu bytes)",
                           sec_names[s.type], (unsigned long long)s.offset,
                           (unsigned long long)s.bytes, n_bytes);
        if (s.elem_bytes == 0 || s.count > s.bytes || s.bytes != s.count * s.elem_bytes)
            return CORRUPT("section '%s' size %llu != %llu x %u", sec_names[s.type],
                           (unsigned long long)s.bytes, (unsigned long long)s.count, s.elem_bytes);
        secs[s.type] = s;
        found[s.type] = &secs[s.type];
    }
    static const uint32_t elem_want[SEC_COUNT] = {0, sizeof(file_meta), 4, sizeof(ks_eng_tensor),
                                                  sizeof(ks_eng_layer), 1, 1, 1};
    for (int s = 1; s < n_sec; s++) {
        if (!found[s])
            return CORRUPT("section '%s' missing", sec_names[s]);
        if (secs[s].elem_bytes != elem_want[s])
            return CORRUPT("section '%s' record size %u, this library expects %u", sec_names[s],
                           secs[s].elem_bytes, elem_want[s]);
    }
    if (secs[SEC_META].count != 1)
        return CORRUPT("meta section count %llu", (unsigned long long)secs[SEC_META].count);
    file_meta meta;
    memcpy(&meta, p + secs[SEC_META].offset, sizeof(meta));
    if (meta.n_inputs < 0 || meta.n_outputs < 1 || meta.n_inputs > 4096 || meta.n_outputs > 4096 ||
        (uint64_t)(meta.n_inputs + meta.n_outputs) != secs[SEC_BINDINGS].count)
        return CORRUPT("binding counts %d inputs + %d outputs do not match the section (%llu)",
                       meta.n_inputs, meta.n_outputs, (unsigned long long)secs[SEC_BINDINGS].count);
    if (meta.n_tensors < 0 || (uint64_t)meta.n_tensors != secs[SEC_TENSORS].count)
        return CORRUPT("tensor count %d does not match the section", meta.n_tensors);
    if (meta.n_layers < 0 || (uint64_t)meta.n_layers != secs[SEC_LAYERS].count)
        return CORRUPT("layer count %d does not match the section", meta.n_layers);
    if (meta.arena_bytes < 0 || meta.workspace_bytes < 0 || meta.staging_bytes < 0 ||
        meta.naive_bytes < 0 || meta.arena_bytes > ((int64_t)1 << 40) ||
        meta.workspace_bytes > ((int64_t)1 << 40) || meta.staging_bytes > ((int64_t)1 << 40))
        return CORRUPT("memory sizes out of range");
    if (secs[SEC_STRINGS].bytes == 0 || p[secs[SEC_STRINGS].offset + secs[SEC_STRINGS].bytes - 1] != 0)
        return CORRUPT("string table is empty or not NUL-terminated");
    if (secs[SEC_STRINGS].bytes >= UINT32_MAX)
        return CORRUPT("string table too large");

    /* every size is now bounded by the file length: copy out */
    d->lib_version = h.lib_version;
    d->sm = h.sm;
    d->cuda_version = h.cuda_version;
    d->cudnn_version = h.cudnn_version;
    d->precision = h.precision;
    d->build_flags = h.build_flags;
    d->n_inputs = meta.n_inputs;
    d->n_outputs = meta.n_outputs;
    d->arena_bytes = meta.arena_bytes;
    d->workspace_bytes = meta.workspace_bytes;
    d->staging_bytes = meta.staging_bytes;
    d->naive_bytes = meta.naive_bytes;
    d->batch_separable = meta.batch_separable;
#define COPY_SEC(field, s, capfield)                                                     \
    do {                                                                                 \
        size_t nb_ = (size_t)secs[s].bytes;                                              \
        d->field = ks__alloc(ctx, nb_ ? nb_ : 1);                                        \
        if (!d->field) {                                                                 \
            ks__eng_desc_free(d);                                                        \
            return ks__oom(ctx, nb_, "engine section");                                  \
        }                                                                                \
        memcpy(d->field, p + secs[s].offset, nb_);                                       \
        capfield;                                                                        \
    } while (0)
    COPY_SEC(bindings, SEC_BINDINGS, (void)0);
    COPY_SEC(tensors, SEC_TENSORS, d->n_tensors = d->cap_tensors = meta.n_tensors);
    COPY_SEC(layers, SEC_LAYERS, d->n_layers = d->cap_layers = meta.n_layers);
    COPY_SEC(strings, SEC_STRINGS,
             d->n_strings_bytes = d->cap_strings = (uint32_t)secs[SEC_STRINGS].bytes);
    COPY_SEC(weights, SEC_WEIGHTS,
             d->n_weight_bytes = d->cap_weights = (int64_t)secs[SEC_WEIGHTS].bytes);
    if (n_sec > SEC_PLUGINS && secs[SEC_PLUGINS].bytes > 0)
        COPY_SEC(plugin_data, SEC_PLUGINS,
                 d->n_plugin_bytes = d->cap_plugin_bytes = (int64_t)secs[SEC_PLUGINS].bytes);
#undef COPY_SEC
    ks_status st = ks__eng_validate(d);
    if (st != KS_OK)
        ks__eng_desc_free(d);
    return st;
}

/* ------------------------------------------------------------ validation */
#define VFAIL(...) ks__error(ctx, KS_CORRUPT_FILE, "engine: " __VA_ARGS__)

static int dtype_ok(int dt) { return dt > KS_DTYPE_UNDEFINED && dt < KS_DTYPE_COUNT; }

static ks_status check_tensor(const ks_eng_desc *d, int i) {
    ks_context *ctx = d->ctx;
    const ks_eng_tensor *t = &d->tensors[i];
    if (t->name >= d->n_strings_bytes)
        return VFAIL("tensor %d: name offset out of range", i);
    if (!dtype_ok(t->dtype))
        return VFAIL("tensor %d: bad dtype %d", i, t->dtype);
    if (t->ndim < 0 || t->ndim > KS_MAX_DIMS)
        return VFAIL("tensor %d: bad rank %d", i, t->ndim);
    for (int k = 0; k < t->ndim; k++)
        if (t->dims[k] < 0 || t->dims[k] > ((int64_t)1 << 40))
            return VFAIL("tensor %d: dim %d = %lld out of range", i, k, (long long)t->dims[k]);
    int64_t n = ks__eng_numel(t), nb;
    if (n < 0 || !ks__mul_i64(n, (int64_t)ks_dtype_size(t->dtype), &nb) || nb != t->bytes)
        return VFAIL("tensor %d: byte size %lld does not match its shape", i, (long long)t->bytes);
    switch (t->storage) {
    case KS_STORE_ARENA:
        if (t->offset < 0 || t->offset > d->arena_bytes || t->bytes > d->arena_bytes - t->offset)
            return VFAIL("tensor %d: arena range [%lld, +%lld) outside the %lld-byte arena", i,
                         (long long)t->offset, (long long)t->bytes, (long long)d->arena_bytes);
        if (t->offset % 16)
            return VFAIL("tensor %d: arena offset %lld not 16-byte aligned", i, (long long)t->offset);
        break;
    case KS_STORE_WEIGHT:
        if (t->offset < 0 || t->offset > d->n_weight_bytes || t->bytes > d->n_weight_bytes - t->offset)
            return VFAIL("tensor %d: weight range outside the weights section", i);
        if (t->offset % 16)
            return VFAIL("tensor %d: weight offset not aligned", i);
        break;
    case KS_STORE_BINDING:
        if (t->offset < 0 || t->offset >= d->n_inputs + d->n_outputs)
            return VFAIL("tensor %d: binding index %lld out of range", i, (long long)t->offset);
        break;
    case KS_STORE_VIEW: {
        int64_t off;
        int r = ks__eng_root(d, i, &off);
        if (r < 0)
            return VFAIL("tensor %d: view chain broken or cyclic", i);
        if (off < 0 || off > d->tensors[r].bytes || t->bytes > d->tensors[r].bytes - off)
            return VFAIL("tensor %d: view [%lld, +%lld) outside its root %d", i, (long long)off,
                         (long long)t->bytes, r);
        break;
    }
    default:
        return VFAIL("tensor %d: bad storage kind %d", i, t->storage);
    }
    return KS_OK;
}

/* PReLU slope tensors: float32 [c] */
static int sl_bad(const ks_eng_tensor *sl, int64_t c) {
    return sl->ndim != 1 || sl->dims[0] != c || sl->dtype != KS_DTYPE_FLOAT32;
}

static const ks_eng_tensor *lt(const ks_eng_desc *d, const ks_eng_layer *l, int is_out, int k) {
    int id = is_out ? l->out[k] : l->in[k];
    return id >= 0 ? &d->tensors[id] : NULL;
}

/* An elementwise instruction word pair (eltwise and segmap programs: op | dst << 8 | a << 16 |
 * b << 24, then activation | second parameter bits << 32): 0 when the opcode, the registers and a
 * unary's activation are in range. */
static int ew_instr_ok(const int64_t *w) {
    int64_t op = w[0] & 0xff, dst = (w[0] >> 8) & 0xff, a = (w[0] >> 16) & 0xff, b = (w[0] >> 24) & 0xff;
    int64_t act = w[1] & 0xffffffff;
    if (op < 0 || op >= KS_EW_OP_COUNT || dst > 7 || a > 7 || b > 7)
        return 0;
    return op != KS_EW_UNARY || (act < KS_ACT_COUNT && act != KS_ACT_PRELU);
}

/* 1 when t broadcasts (numpy rules, aligned on the right) against a tensor of `rank` dims. */
static int broadcasts_to(const ks_eng_tensor *t, int rank, const int64_t *dims) {
    if (t->ndim > rank)
        return 0;
    for (int j = 0; j < t->ndim; j++) {
        int64_t want = dims[rank - t->ndim + j];
        if (t->dims[j] != want && t->dims[j] != 1)
            return 0;
    }
    return 1;
}

/* Per-kind checks: everything a kernel launcher relies on for memory
 * safety (ranks, counts, parameter ranges against tensor dims). */
static ks_status check_layer(const ks_eng_desc *d, int li) {
    ks_context *ctx = d->ctx;
    const ks_eng_layer *l = &d->layers[li];
    if (l->name >= d->n_strings_bytes)
        return VFAIL("layer %d: name offset out of range", li);
    const char *nm = d->strings + l->name;
    if (l->kind < 0 || l->kind >= KS_LAYER_COUNT)
        return VFAIL("layer %d '%s': unknown kind %d", li, nm, l->kind);
    if (l->tactic < 0 || l->tactic >= KS_TACTIC_COUNT)
        return VFAIL("layer %d '%s': unknown tactic %d", li, nm, l->tactic);
    if (l->act < 0 || l->act >= KS_ACT_COUNT)
        return VFAIL("layer %d '%s': unknown activation %d", li, nm, l->act);
    if (l->dtype != KS_DTYPE_FLOAT32 && l->dtype != KS_DTYPE_FLOAT16)
        return VFAIL("layer %d '%s': compute dtype %d", li, nm, l->dtype);
    if (l->n_in < 0 || l->n_in > KS_ENG_MAX_IN || l->n_out < 1 || l->n_out > KS_ENG_MAX_OUT)
        return VFAIL("layer %d '%s': %d inputs / %d outputs", li, nm, l->n_in, l->n_out);
    if (l->workspace_bytes < 0 || l->workspace_bytes > d->workspace_bytes)
        return VFAIL("layer %d '%s': workspace %lld over the engine's %lld", li, nm,
                     (long long)l->workspace_bytes, (long long)d->workspace_bytes);
    for (int k = 0; k < KS_ENG_MAX_IN; k++)
        if (l->in[k] < -1 || l->in[k] >= d->n_tensors || (k >= l->n_in && l->in[k] != -1))
            return VFAIL("layer %d '%s': input %d tensor id %d out of range", li, nm, k, l->in[k]);
    for (int k = 0; k < KS_ENG_MAX_OUT; k++)
        if (l->out[k] < -1 || l->out[k] >= d->n_tensors || (k < l->n_out) != (l->out[k] >= 0))
            return VFAIL("layer %d '%s': output %d tensor id %d invalid", li, nm, k, l->out[k]);
    for (int k = 0; k < l->n_out; k++) {
        int st = d->tensors[l->out[k]].storage;
        int64_t off;
        int r = ks__eng_root(d, l->out[k], &off);
        if (r < 0 || d->tensors[r].storage == KS_STORE_WEIGHT || st == KS_STORE_WEIGHT)
            return VFAIL("layer %d '%s': writes into the weights", li, nm);
    }
    const ks_eng_tensor *x = lt(d, l, 0, 0), *y = lt(d, l, 1, 0);
    if (!y)
        return VFAIL("layer %d '%s': no output", li, nm);
    const int64_t *ip = l->ip;
    switch (l->kind) {
    case KS_LAYER_CONV: {
        const ks_eng_tensor *w = lt(d, l, 0, 1), *b = lt(d, l, 0, 2), *r = lt(d, l, 0, 3);
        if (!x || !w || x->ndim != 4 || y->ndim != 4 || w->ndim != 4)
            return VFAIL("layer %d '%s': conv needs 4-d x, w, y", li, nm);
        int64_t g = ip[0];
        if (g < 1 || x->dims[1] % g || y->dims[1] % g || w->dims[0] != y->dims[1] ||
            w->dims[1] * g != x->dims[1] || x->dims[0] != y->dims[0])
            return VFAIL("layer %d '%s': conv channel/group mismatch", li, nm);
        for (int k = 1; k < 11; k++)
            if (ip[k] < 0 || ip[k] > 4096)
                return VFAIL("layer %d '%s': conv parameter %d = %lld", li, nm, k, (long long)ip[k]);
        if (ip[1] != w->dims[2] || ip[2] != w->dims[3] || ip[3] < 1 || ip[4] < 1 || ip[9] < 1 ||
            ip[10] < 1)
            return VFAIL("layer %d '%s': conv kernel/stride/dilation invalid", li, nm);
        /* ip: 0 g, 1 kh, 2 kw, 3 sh, 4 sw, 5 pt, 6 pl, 7 pb, 8 pr, 9 dh, 10 dw.
         * OWN_DWPW (fused depthwise + pointwise): ip[0..10] are the 1x1
         * conv's, the depthwise geometry is ip[14..23] in the same order
         * (kh..dw), its activation ip[24] (fp[0], fp[1]); inputs 5, 6, 7 are
         * its weights [c,1,kh,kw], bias [c] and PReLU slopes. */
        const int64_t *gp = ip;
        if (l->tactic == KS_TACTIC_OWN_DWPW) {
            const ks_eng_tensor *dwt = lt(d, l, 0, 5), *dwb = lt(d, l, 0, 6), *dsl = lt(d, l, 0, 7);
            for (int k = 14; k < 24; k++)
                if (ip[k] < 0 || ip[k] > 4096)
                    return VFAIL("layer %d '%s': dw+pw parameter %d = %lld", li, nm, k, (long long)ip[k]);
            if (ip[0] != 1 || ip[1] != 1 || ip[2] != 1 || ip[3] != 1 || ip[4] != 1 || ip[5] || ip[6] ||
                ip[7] || ip[8] || !dwt || dwt->ndim != 4 || dwt->dims[0] != x->dims[1] || dwt->dims[1] != 1 ||
                dwt->dims[2] != ip[14] || dwt->dims[3] != ip[15] || ip[16] < 1 || ip[17] < 1 || ip[22] < 1 ||
                ip[23] < 1 || dwt->dtype != l->dtype || l->algo < 0 || l->algo > 10 ||
                (l->algo == 9 && (x->dims[1] > 64 || y->dims[1] > 64)) ||
                /* tile 10 (tensor cores): fp16, c and k <= 128, kernel <= 5, stride and dilation <= 2 */
                (l->algo == 10 && (l->dtype != KS_DTYPE_FLOAT16 || x->dims[1] > 128 || y->dims[1] > 128 ||
                                   ip[14] > 5 || ip[15] > 5 || ip[16] > 2 || ip[17] > 2 || ip[22] > 2 ||
                                   ip[23] > 2)) ||
                (dwb && (dwb->ndim != 1 || dwb->dims[0] != x->dims[1] || dwb->dtype != l->dtype)) ||
                ip[24] < 0 || ip[24] >= KS_ACT_COUNT ||
                (ip[24] == KS_ACT_PRELU && (!dsl || sl_bad(dsl, x->dims[1]))))
                return VFAIL("layer %d '%s': dw+pw parameters invalid", li, nm);
            gp = ip + 13;
        }
        int64_t oh = (x->dims[2] + gp[5] + gp[7] - gp[9] * (gp[1] - 1) - 1) / gp[3] + 1;
        int64_t ow = (x->dims[3] + gp[6] + gp[8] - gp[10] * (gp[2] - 1) - 1) / gp[4] + 1;
        if (oh != y->dims[2] || ow != y->dims[3])
            return VFAIL("layer %d '%s': conv output %lldx%lld, geometry gives %lldx%lld", li, nm,
                         (long long)y->dims[2], (long long)y->dims[3], (long long)oh, (long long)ow);
        if (b && (b->ndim != 1 || b->dims[0] != y->dims[1] || b->dtype != w->dtype))
            return VFAIL("layer %d '%s': bias shape", li, nm);
        if (r && (r->bytes != y->bytes || r->dtype != y->dtype))
            return VFAIL("layer %d '%s': residual shape", li, nm);
        if (x->dtype != l->dtype || y->dtype != l->dtype || w->dtype != l->dtype)
            return VFAIL("layer %d '%s': conv dtypes", li, nm);
        if ((l->tactic == KS_TACTIC_OWN_GEMM && (l->algo < 0 || l->algo > 5 ||
                                                  (l->algo >= 3 && l->dtype != KS_DTYPE_FLOAT16))) ||
            ((l->tactic == KS_TACTIC_OWN_GEMM || l->tactic == KS_TACTIC_DEFAULT) &&
             !ks__eng_igemm_cfg_ok(ip[13] ? ip[13] : l->algo, l->dtype == KS_DTYPE_FLOAT16)) ||
            (l->tactic == KS_TACTIC_OWN_DW && (l->algo < 0 || l->algo > 4 || ip[0] != x->dims[1] ||
                                                ip[0] != y->dims[1])) ||
            (l->tactic == KS_TACTIC_OWN_DW && l->algo == 4 &&
             !ks__eng_dw_roll_ov(x->dims[1], y->dims[1], ip[0], ip[1], ip[2], ip[3], ip[4], ip[9], ip[10], ip[5],
                                 ip[6], x->dims[3], y->dims[3], l->dtype == KS_DTYPE_FLOAT16)) ||
            /* depthwise cfg 3 (strip-tiled): 3x3 or 5x5, stride 1 or 2 (both axes alike), no dilation */
            (l->tactic == KS_TACTIC_OWN_DW && l->algo == 3 &&
             (ip[1] != ip[2] || (ip[1] != 3 && ip[1] != 5) || ip[3] != ip[4] || ip[3] > 2 || ip[9] != 1 ||
              ip[10] != 1 || x->dims[0] * x->dims[1] > 65535)) ||
            (l->tactic == KS_TACTIC_OWN_DIRECT && l->algo != 1 && l->algo != 2 && (l->algo < 3 || l->algo > 8) &&
             (l->algo != 0 || ip[0] != 1 || w->dims[0] * w->dims[1] * w->dims[2] * w->dims[3] * 4 > 48 * 1024)) ||
            /* own:direct:1 (tiled first-layer conv): c <= 4, k <= 64, kernel/stride/dilation bounds of
             * ks__cu_conv_direct_tiled_fits (the shared-memory size is checked again at launch) */
            (l->tactic == KS_TACTIC_OWN_DIRECT && l->algo == 1 &&
             (ip[0] != 1 || x->dims[1] > 4 || y->dims[1] > 64 || ip[1] > 11 || ip[2] > 11 || ip[3] > 4 ||
              ip[4] > 4 || ip[9] > 4 || ip[10] > 4)) ||
            /* own:direct:2 (tensor-core first layer, ks__cu_conv_tc_direct_fits): FP16, c <= 4,
             * k <= 64, kernel <= 7x7, stride <= 4, dilation 1 */
            (l->tactic == KS_TACTIC_OWN_DIRECT && l->algo == 2 &&
             (l->dtype != KS_DTYPE_FLOAT16 || ip[0] != 1 || x->dims[1] > 4 || y->dims[1] > 64 || ip[1] > 7 ||
              ip[2] > 7 || ip[1] < 1 || ip[2] < 1 || ip[3] > 4 || ip[4] > 4 || ip[9] != 1 || ip[10] != 1)) ||
            /* own:direct:3..8 (window-staged tensor-core conv): its geometry rule (the shared-memory size is
             * checked again at launch) */
            (l->tactic == KS_TACTIC_OWN_DIRECT && l->algo >= 3 &&
             !ks__eng_conv_win_ok(ip[0], ip[1], ip[2], ip[3], ip[4], ip[9], ip[10], x->dims[3],
                                  l->dtype == KS_DTYPE_FLOAT16)) ||
            /* own:pointwise (1x1): groups 1, stride 1, no padding; algo 0 (streaming) c and k <= 64,
             * algo 1 (tensor cores) fp16, ks__eng_pw_tc_ok */
            (l->tactic == KS_TACTIC_OWN_PW &&
             ((l->algo != 0 && l->algo != 1) || ip[0] != 1 || ip[1] != 1 || ip[2] != 1 || ip[3] != 1 ||
              ip[4] != 1 || ip[5] || ip[6] || ip[7] || ip[8] ||
              (l->algo == 0 && (x->dims[1] > 64 || y->dims[1] > 64)) ||
              (l->algo == 1 && (l->dtype != KS_DTYPE_FLOAT16 || !ks__eng_pw_tc_ok(x->dims[1], y->dims[1]))))) ||
            l->tactic == KS_TACTIC_CUBLAS || l->tactic == KS_TACTIC_DEFAULT ||
            ((l->tactic == KS_TACTIC_CUDNN || l->tactic == KS_TACTIC_CUDNN_FUSED) && (l->algo < 0 || l->algo > 7)))
            return VFAIL("layer %d '%s': conv tactic %d/%d invalid", li, nm, l->tactic, l->algo);
        const ks_eng_tensor *sl = lt(d, l, 0, 4);
        if (l->act == KS_ACT_PRELU && (!sl || sl->ndim != 1 || sl->dims[0] != y->dims[1] ||
                                       sl->dtype != KS_DTYPE_FLOAT32))
            return VFAIL("layer %d '%s': prelu slopes", li, nm);
        break;
    }
    case KS_LAYER_POOL:
        if (!x || x->ndim != 4 || y->ndim != 4 || x->dims[0] != y->dims[0] || x->dims[1] != y->dims[1])
            return VFAIL("layer %d '%s': pool shapes", li, nm);
        for (int k = 1; k < 9; k++)
            if (ip[k] < 0 || ip[k] > (1 << 20))
                return VFAIL("layer %d '%s': pool parameter %d", li, nm, k);
        if (ip[0] < 0 || ip[0] > 2 || ip[1] < 1 || ip[2] < 1 || ip[3] < 1 || ip[4] < 1)
            return VFAIL("layer %d '%s': pool mode/kernel/stride", li, nm);
        if (x->dtype != l->dtype || y->dtype != l->dtype)
            return VFAIL("layer %d '%s': pool dtypes", li, nm);
        break;
    case KS_LAYER_ELTWISE: {
        /* ip[0] = n_instr; ip[1+4k..] = op, dst, a, b ; fp[k] = imm */
        int64_t ni = ip[0];
        if (ni < 1 || ni > KS_EW_MAX_INSTR || l->n_in < 1 || l->n_in > 4)
            return VFAIL("layer %d '%s': eltwise program size", li, nm);
        for (int k = 0; k < ni; k++)
            if (!ew_instr_ok(&ip[1 + 2 * k]))
                return VFAIL("layer %d '%s': eltwise instruction %d", li, nm, k);
        if (y->ndim > 6)
            return VFAIL("layer %d '%s': eltwise rank %d > 6", li, nm, y->ndim);
        for (int k = 0; k < l->n_in; k++) {
            const ks_eng_tensor *t = lt(d, l, 0, k);
            if (!t || t->ndim > y->ndim || t->dtype != l->dtype)
                return VFAIL("layer %d '%s': eltwise input %d", li, nm, k);
            if (!broadcasts_to(t, y->ndim, y->dims))
                return VFAIL("layer %d '%s': eltwise input %d does not broadcast", li, nm, k);
        }
        if (y->dtype != l->dtype)
            return VFAIL("layer %d '%s': eltwise output dtype", li, nm);
        break;
    }
    case KS_LAYER_SEGMAP: {
        /* ip[0] parts; ip[1+k] end of part k; ip[5+k] = instructions | constants << 8;
         * ip[9] instructions in all; ip[10+2j], ip[11+2j] instruction j (op | a << 16 | b << 24,
         * unary act | imm2 bits << 32), fp[j] its immediate; x [B,A,C,H,W] -> y [B,A,H,W,C].
         * Tactic own:pointwise (version 7): the 1x1 conv producing x runs in front, in one kernel
         * (ks__cu_conv_pw_seg): x is the conv's input [B,Cin,H,W] and the inputs after the constants are its
         * weights [A*C,Cin,1,1] and bias [A*C] (-1: none), float16, no activation of its own. */
        const int fused = l->tactic == KS_TACTIC_OWN_PW;
        int64_t np = ip[0], ni_all = 0, nc_all = 0, prev = 0;
        if (l->tactic != KS_TACTIC_DEFAULT && !fused)
            return VFAIL("layer %d '%s': segmap tactic %d", li, nm, l->tactic);
        if (!x || y->ndim != 5 || x->ndim != (fused ? 4 : 5) || np < 1 || np > KS_SEG_MAX_PARTS)
            return VFAIL("layer %d '%s': segmap ranks / parts", li, nm);
        if (x->dtype != l->dtype || y->dtype != l->dtype ||
            (fused ? x->dims[0] != y->dims[0] || x->dims[2] != y->dims[2] || x->dims[3] != y->dims[3]
                   : x->dims[0] != y->dims[0] || x->dims[1] != y->dims[1] || x->dims[2] != y->dims[4] ||
                         x->dims[3] != y->dims[2] || x->dims[4] != y->dims[3]))
            return VFAIL("layer %d '%s': segmap input / output shapes or dtypes", li, nm);
        if (l->act == KS_ACT_PRELU)
            return VFAIL("layer %d '%s': segmap activation", li, nm);
        if (l->algo != 0) { /* output row stride (elements per image): the rows of every image inside y's root */
            int64_t yoff = 0;
            int yr = ks__eng_root(d, l->out[0], &yoff);
            if (l->algo < y->dims[1] * y->dims[2] * y->dims[3] * y->dims[4] || yr < 0 || y->dims[0] < 1 ||
                l->algo > INT64_MAX / (int64_t)ks_dtype_size((ks_dtype)l->dtype) / y->dims[0] ||
                yoff + ks__eng_segmap_span(d, l) > d->tensors[yr].bytes)
                return VFAIL("layer %d '%s': segmap output row stride %d", li, nm, (int)l->algo);
        }
        for (int k = 0; k < np; k++) {
            int64_t ni = ip[5 + k] & 0xff, nc = (ip[5 + k] >> 8) & 0xff;
            if (ip[1 + k] <= prev || (k == np - 1 && ip[1 + k] != y->dims[4]))
                return VFAIL("layer %d '%s': segmap part %d bounds", li, nm, k);
            int64_t len = ip[1 + k] - prev;
            if (nc > 4)
                return VFAIL("layer %d '%s': segmap part %d constants", li, nm, k);
            for (int j = 0; j < nc; j++) {
                const ks_eng_tensor *t = 1 + nc_all + j < l->n_in ? lt(d, l, 0, (int)(1 + nc_all + j)) : NULL;
                if (!t || t->ndim > 5 || t->dtype != l->dtype)
                    return VFAIL("layer %d '%s': segmap constant %d", li, nm, (int)(nc_all + j));
                int64_t pd[5] = {y->dims[0], y->dims[1], y->dims[2], y->dims[3], len};
                if (!broadcasts_to(t, 5, pd))
                    return VFAIL("layer %d '%s': segmap constant %d does not broadcast", li, nm, (int)(nc_all + j));
            }
            prev = ip[1 + k];
            ni_all += ni;
            nc_all += nc;
        }
        if (ni_all != ip[9] || ni_all > KS_SEG_MAX_INSTR || nc_all > KS_SEG_MAX_CONST ||
            l->n_in != 1 + nc_all + (fused ? 2 : 0))
            return VFAIL("layer %d '%s': segmap program size", li, nm);
        for (int j = 0; j < ni_all; j++)
            if (!ew_instr_ok(&ip[10 + 2 * j]))
                return VFAIL("layer %d '%s': segmap instruction %d", li, nm, j);
        if (fused) {
            const int64_t kk = y->dims[1] * y->dims[4];
            const ks_eng_tensor *w = lt(d, l, 0, (int)(1 + nc_all)), *bs = lt(d, l, 0, (int)(2 + nc_all));
            if (l->dtype != KS_DTYPE_FLOAT16 || !w || w->ndim != 4 || w->dims[0] != kk || w->dims[1] != x->dims[1] ||
                w->dims[2] != 1 || w->dims[3] != 1 || w->dtype != l->dtype || w->storage != KS_STORE_WEIGHT ||
                (bs && (bs->ndim != 1 || bs->dims[0] != kk || bs->dtype != l->dtype)) ||
                !ks__eng_pw_seg_ok(x->dims[1], kk, y->dims[4]) || ks__eng_numel(y) >= ((int64_t)1 << 31))
                return VFAIL("layer %d '%s': fused 1x1 conv + segmap parameters", li, nm);
            /* the kernel reads x while it writes y: they must not share memory */
            int64_t xo = 0, yo = 0;
            int xr = ks__eng_root(d, l->in[0], &xo), yr = ks__eng_root(d, l->out[0], &yo);
            if (xr == yr || (xr >= 0 && yr >= 0 && d->tensors[xr].storage == KS_STORE_ARENA &&
                             d->tensors[yr].storage == KS_STORE_ARENA &&
                             d->tensors[xr].offset + xo < d->tensors[yr].offset + yo + ks__eng_segmap_span(d, l) &&
                             d->tensors[yr].offset + yo < d->tensors[xr].offset + xo + x->bytes))
                return VFAIL("layer %d '%s': fused 1x1 conv + segmap input and output overlap", li, nm);
        }
        break;
    }
    case KS_LAYER_SOFTMAX:
        /* ip: outer, axis, inner */
        if (!x || ip[0] < 1 || ip[1] < 1 || ip[2] < 1 || x->bytes != y->bytes ||
            ip[0] * ip[1] * ip[2] != ks__eng_numel(y) || x->dtype != l->dtype || y->dtype != l->dtype)
            return VFAIL("layer %d '%s': softmax sizes", li, nm);
        break;
    case KS_LAYER_CONCAT: {
        /* ip: 0 outer, 1 inner(bytes), then per input axis extent at ip[2+k] */
        int64_t tot = 0;
        if (ip[0] < 1 || ip[1] < 1)
            return VFAIL("layer %d '%s': concat sizes", li, nm);
        for (int k = 0; k < l->n_in; k++) {
            const ks_eng_tensor *t = lt(d, l, 0, k);
            if (!t || ip[2 + k] < 0 || t->bytes != ip[0] * ip[2 + k] * ip[1])
                return VFAIL("layer %d '%s': concat input %d size", li, nm, k);
            tot += ip[2 + k];
        }
        if (y->bytes != ip[0] * tot * ip[1])
            return VFAIL("layer %d '%s': concat output size", li, nm);
        break;
    }
    case KS_LAYER_TRANSPOSE:
    case KS_LAYER_SLICE:
    case KS_LAYER_PAD: {
        /* ip[0] = rank; TRANSPOSE perm at ip[1..]; SLICE starts ip[1..], steps ip[9..];
         * PAD: mode ip[1], pads-before ip[2..] */
        int r = (int)ip[0];
        if (!x || r < 1 || r > 6 || x->ndim != r || y->ndim != r || x->dtype != y->dtype)
            return VFAIL("layer %d '%s': rank", li, nm);
        if (l->kind == KS_LAYER_TRANSPOSE) {
            int seen = 0;
            for (int k = 0; k < r; k++) {
                if (ip[1 + k] < 0 || ip[1 + k] >= r || (seen >> ip[1 + k]) & 1 ||
                    y->dims[k] != x->dims[ip[1 + k]])
                    return VFAIL("layer %d '%s': bad permutation", li, nm);
                seen |= 1 << ip[1 + k];
            }
        } else if (l->kind == KS_LAYER_SLICE) {
            for (int k = 0; k < r; k++) {
                int64_t s = ip[1 + k], st = ip[9 + k], n = y->dims[k];
                if (st == 0 || s < 0 || s >= x->dims[k] + (n == 0) ||
                    (n > 0 && (s + (n - 1) * st < 0 || s + (n - 1) * st >= x->dims[k])))
                    return VFAIL("layer %d '%s': slice out of range on axis %d", li, nm, k);
            }
        } else {
            if (ip[1] < 0 || ip[1] > 2)
                return VFAIL("layer %d '%s': pad mode", li, nm);
            for (int k = 0; k < r; k++)
                if (ip[2 + k] < -x->dims[k] || ip[2 + k] > y->dims[k] ||
                    (ip[1] != KS_ENG_PAD_CONSTANT && x->dims[k] == 0))
                    return VFAIL("layer %d '%s': pads", li, nm);
        }
        break;
    }
    case KS_LAYER_RESIZE: {
        /* in[1] int32 index table, in[2] float weight table: 2*(oh + ow) each,
         * made at build; every index is checked against the input here. */
        const ks_eng_tensor *ix = lt(d, l, 0, 1), *wt = lt(d, l, 0, 2);
        if (!x || x->ndim != y->ndim || x->ndim < 2 || x->ndim > 6 || ip[0] < 0 || ip[0] > 1 ||
            x->dtype != l->dtype || y->dtype != l->dtype || !ix || !wt ||
            ix->dtype != KS_DTYPE_INT32 || wt->dtype != KS_DTYPE_FLOAT32 ||
            ix->storage != KS_STORE_WEIGHT || wt->storage != KS_STORE_WEIGHT)
            return VFAIL("layer %d '%s': resize parameters", li, nm);
        int r = x->ndim;
        for (int k = 0; k < r - 2; k++)
            if (x->dims[k] != y->dims[k])
                return VFAIL("layer %d '%s': resize may only scale the last two axes", li, nm);
        int64_t oh = y->dims[r - 2], ow = y->dims[r - 1];
        if (ks__eng_numel(ix) != 2 * (oh + ow) || ks__eng_numel(wt) != 2 * (oh + ow))
            return VFAIL("layer %d '%s': resize tables size", li, nm);
        const int32_t *iv = (const int32_t *)(d->weights + ix->offset);
        for (int64_t k = 0; k < 2 * (oh + ow); k++) {
            int64_t lim = k < 2 * oh ? x->dims[r - 2] : x->dims[r - 1];
            if (iv[k] < 0 || iv[k] >= lim)
                return VFAIL("layer %d '%s': resize table index out of range", li, nm);
        }
        break;
    }
    case KS_LAYER_GATHER: {
        /* ip: outer, axis_in, inner(bytes), n_idx ; in[1] = int32 indices */
        const ks_eng_tensor *ix = lt(d, l, 0, 1);
        if (!x || !ix || ix->dtype != KS_DTYPE_INT32 || ip[0] < 0 || ip[1] < 1 || ip[2] < 1 ||
            ix->bytes != ip[3] * 4 || x->bytes != ip[0] * ip[1] * ip[2] ||
            y->bytes != ip[0] * ip[3] * ip[2])
            return VFAIL("layer %d '%s': gather sizes", li, nm);
        if (ix->storage == KS_STORE_WEIGHT) {
            const int32_t *iv = (const int32_t *)(d->weights + ix->offset);
            for (int64_t k = 0; k < ip[3]; k++)
                if (iv[k] < 0 || iv[k] >= ip[1])
                    return VFAIL("layer %d '%s': gather index out of range", li, nm);
        } else {
            return VFAIL("layer %d '%s': gather indices must be constant", li, nm);
        }
        break;
    }
    case KS_LAYER_CAST:
    case KS_LAYER_COPY:
        if (!x || ks__eng_numel(x) != ks__eng_numel(y) ||
            (l->kind == KS_LAYER_COPY && x->dtype != y->dtype))
            return VFAIL("layer %d '%s': sizes", li, nm);
        if (l->kind == KS_LAYER_CAST) {
            int ok = 1;
            int dts[2] = {x->dtype, y->dtype};
            for (int k = 0; k < 2; k++)
                ok &= dts[k] == KS_DTYPE_FLOAT32 || dts[k] == KS_DTYPE_FLOAT16 ||
                      dts[k] == KS_DTYPE_INT32 || dts[k] == KS_DTYPE_INT64 ||
                      dts[k] == KS_DTYPE_UINT8 || dts[k] == KS_DTYPE_INT8 || dts[k] == KS_DTYPE_BOOL;
            if (!ok)
                return VFAIL("layer %d '%s': cast dtypes", li, nm);
        }
        break;
    case KS_LAYER_GEMM: {
        /* ip: batch, M, N, K, transA, transB, a_bstride, b_bstride (elements; 0 = broadcast) */
        const ks_eng_tensor *b = lt(d, l, 0, 1), *c = lt(d, l, 0, 2);
        if (!x || !b || ip[0] < 1 || ip[1] < 1 || ip[2] < 1 || ip[3] < 1 || ip[1] > (1 << 30) ||
            ip[2] > (1 << 30) || ip[3] > (1 << 30))
            return VFAIL("layer %d '%s': gemm sizes", li, nm);
        int64_t abs_ = ip[6], bbs = ip[7];
        if ((abs_ != 0 && abs_ != ip[1] * ip[3]) || (bbs != 0 && bbs != ip[3] * ip[2]) ||
            x->bytes != (abs_ ? ip[0] : 1) * ip[1] * ip[3] * (int64_t)ks_dtype_size(x->dtype) ||
            b->bytes != (bbs ? ip[0] : 1) * ip[3] * ip[2] * (int64_t)ks_dtype_size(b->dtype) ||
            y->bytes != ip[0] * ip[1] * ip[2] * (int64_t)ks_dtype_size(y->dtype))
            return VFAIL("layer %d '%s': gemm operand sizes", li, nm);
        if (c && (c->ndim != 1 || c->dims[0] != ip[2]))
            return VFAIL("layer %d '%s': gemm bias must be [N]", li, nm);
        if (x->dtype != l->dtype || b->dtype != l->dtype || y->dtype != l->dtype ||
            (c && c->dtype != l->dtype))
            return VFAIL("layer %d '%s': gemm dtypes", li, nm);
        break;
    }
    case KS_LAYER_PLUGIN: {
        /* identity (name, namespace, version) and the parameter byte range;
         * ks__eng_plugin_instantiate checks the tensors against the plugin */
        int64_t so_name = ip[KS_ENG_PLUGIN_IP_NAME], so_ns = ip[KS_ENG_PLUGIN_IP_NS];
        int64_t po = ip[KS_ENG_PLUGIN_IP_OFFSET], pb = ip[KS_ENG_PLUGIN_IP_BYTES];
        if (so_name < 0 || so_name >= d->n_strings_bytes || so_ns < 0 || so_ns >= d->n_strings_bytes ||
            d->strings[so_name] == 0)
            return VFAIL("layer %d '%s': plugin name/namespace string offsets", li, nm);
        if (l->tactic != KS_TACTIC_DEFAULT || l->act != KS_ACT_NONE)
            return VFAIL("layer %d '%s': plugin layer tactic %d / activation %d", li, nm, l->tactic,
                         l->act);
        if (ip[KS_ENG_PLUGIN_IP_VERSION] < INT32_MIN || ip[KS_ENG_PLUGIN_IP_VERSION] > INT32_MAX)
            return VFAIL("layer %d '%s': plugin version out of range", li, nm);
        if (po < 0 || pb < 0 || po > d->n_plugin_bytes || pb > d->n_plugin_bytes - po)
            return VFAIL("layer %d '%s': plugin parameters [%lld, +%lld) outside the %lld-byte "
                         "plugins section", li, nm, (long long)po, (long long)pb,
                         (long long)d->n_plugin_bytes);
        break;
    }
    default:
        break;
    }
    return KS_OK;
}

int ks__eng_igemm_cfg_ok(int64_t cfg, int half) {
    if (cfg < 0 || cfg >= 2 * KS_ENG_IGEMM_CLUSTER)
        return 0;
    const int tile = (int)(cfg & 15), split = (int)((cfg >> 4) & 63), cluster = (cfg & KS_ENG_IGEMM_CLUSTER) != 0;
    if (split == 1 || (!half && ((tile >= 3 && tile <= 6) || tile >= 10)))
        return 0;
    return !cluster || ((tile == 10 || tile == 13) && (split == 2 || split == 4 || split == 8));
}

int64_t ks__eng_segmap_span(const ks_eng_desc *d, const ks_eng_layer *l) {
    const ks_eng_tensor *y = &d->tensors[l->out[0]]; /* [B,A,H,W,C] (x is the conv's input in the fused form) */
    const int64_t row = y->dims[1] * y->dims[2] * y->dims[3] * y->dims[4];
    const int64_t stride = l->algo ? l->algo : row;
    return ((y->dims[0] - 1) * stride + row) * (int64_t)ks_dtype_size((ks_dtype)l->dtype);
}

int64_t ks__eng_pw_tc_smem(int64_t c, int64_t k) {
    const int64_t cp = (c + 15) / 16 * 16, mt = (k + 15) / 16, mg = mt <= 1 ? 1 : mt <= 2 ? 2 : 4;
    const int64_t mtg = (mt + mg - 1) / mg * mg;
    return mtg * 16 * (cp + 8) * 2 + 2 * cp * (256 + 8) * 2 + 8 * 8 * 36 * 4;
}

int ks__eng_pw_tc_ok(int64_t c, int64_t k) {
    return c >= 1 && c <= 256 && k >= 1 && k <= 256 && ks__eng_pw_tc_smem(c, k) <= 200 * 1024;
}

int64_t ks__eng_pw_seg_smem(int64_t c, int64_t k, int64_t seg_c) {
    return ks__eng_pw_tc_smem(c, k) + 8 * 32 * seg_c * 2; /* + each warp's [32 pixels][C] output buffer */
}

int ks__eng_pw_seg_ok(int64_t c, int64_t k, int64_t seg_c) {
    return ks__eng_pw_tc_ok(c, k) && seg_c >= 1 && seg_c <= 256 && k % seg_c == 0 &&
           ks__eng_pw_seg_smem(c, k, seg_c) <= 200 * 1024;
}

int ks__eng_conv_win_ok(int64_t groups, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                        int64_t iw, int half) {
    return half && groups == 1 && sh == sw && (sh == 1 || sh == 2) && kh >= 1 && kh <= 7 && kw >= 1 && kw <= 7 &&
           dh >= 1 && dw >= 1 && iw % 8 == 0;
}

int ks__eng_dw_roll_ov(int64_t c, int64_t k, int64_t groups, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                       int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t iw, int64_t ow, int half) {
    if (groups != c || k != c || kh != kw || (kh != 3 && kh != 5) || sh != sw || (sh != 1 && sh != 2) || dh != 1 ||
        dw != 1 || pl != kw / 2 || pt < 0 || pt > kh || ow % 4 || ow * sw > iw)
        return 0;
    const int64_t esz = half ? 2 : 4;
    int ov = half && kh == 3 && ow % 8 == 0 ? 8 : 4;
    /* the aligned middle of a window row (ov * stride elements) is loaded in 16-byte units, or one 8-byte
     * unit when it is that short; every row must start on a unit */
    for (;; ov = 4) {
        const int64_t unit = ov * sw * esz % 16 == 0 ? 16 : 8;
        if (iw * esz % unit == 0)
            return ov;
        if (ov == 4)
            return 0;
    }
}

ks_status ks__eng_validate(const ks_eng_desc *d) {
    ks_context *ctx = d->ctx;
    if (d->n_strings_bytes == 0 || d->strings[d->n_strings_bytes - 1] != 0)
        return VFAIL("string table not NUL-terminated");
    for (int i = 0; i < d->n_tensors; i++)
        KS_CHECK(check_tensor(d, i));
    for (int i = 0; i < d->n_inputs + d->n_outputs; i++) {
        int t = d->bindings[i];
        if (t < 0 || t >= d->n_tensors)
            return VFAIL("binding %d: tensor id %d out of range", i, t);
        const ks_eng_tensor *x = &d->tensors[t];
        if (x->storage != KS_STORE_BINDING || x->offset != i)
            return VFAIL("binding %d: tensor %d is not bound to it", i, t);
    }
    for (int i = 0; i < d->n_layers; i++)
        KS_CHECK(check_layer(d, i));
    return KS_OK;
}
