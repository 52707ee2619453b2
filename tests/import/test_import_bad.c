/* Hostile and malformed ONNX input: every case must return a non-OK status
 * with a useful message, never crash, never leak.
 *   - truncation of a real model at every 1/64 of its length
 *   - random byte flips (fixed seed)
 *   - hand-built bad models: wrong attribute types, negative / huge /
 *     overflowing dims, 2^31-element tensors, rank > 8, cycles, missing
 *     initializers, duplicate definitions, empty names, raw_data size
 *     mismatch, unsupported dtype / op / subgraph attributes, bad versions,
 *     deep message nesting, external data escaping the directory
 *   - out-of-range Gather indices in a constant: run-time error, not a crash
 *   - allocation failure after N allocations, N = 0.., with leak accounting */
#include <stdint.h>

#include "harness.h"
#include "kestrel/kestrel.h"
#include "graph/ir.h"
#include "onnx/onnx_import.h"
#include "onnx_build.h"

static ks_context *ctx;

/* ---------------------------------------------------------------- helpers */

static ks_status load_bytes(const void *buf, size_t n, const ks_import_options *opt) {
    ks_model *m = NULL;
    ks_context_clear_error(ctx);
    ks_status st = ks_model_load_memory(ctx, buf, n, opt, &m);
    if (st == KS_OK)
        KS_T_CHECK(m != NULL);
    else
        KS_T_CHECK(m == NULL);
    ks_model_destroy(m);
    return st;
}

static ks_status load_tb(tb_model *tb) {
    size_t n;
    uint8_t *buf = tb_pack(tb, &n);
    ks_status st = load_bytes(buf, n, NULL);
    free(buf);
    return st;
}

/* Expects status `want` (or any error if want is KS_OK... never) and a
 * message containing every '|'-separated fragment of `frags`. */
#define EXPECT(tb, want, frags) expect_(tb, want, frags, __LINE__)
static void expect_(tb_model *tb, ks_status want, const char *frags, int line) {
    ks_status st = load_tb(tb);
    const char *e = ks_context_last_error(ctx);
    KS_T_CHECK_MSG(st == want, "line %d: got %s (%s), want %s", line, ks_status_name(st), e,
                   ks_status_name(want));
    KS_T_CHECK_MSG(st == KS_OK || e[0] != '\0', "line %d: empty message", line);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", frags ? frags : "");
    for (char *tok = strtok(buf, "|"); tok; tok = strtok(NULL, "|"))
        KS_T_CHECK_MSG(strstr(e, tok) != NULL, "line %d: message lacks '%s': %s", line, tok, e);
    tb_free(tb);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* A small valid model: x[1,2,4,4] -> Relu -> y. */
static void base(tb_model *tb, int opset) {
    tb_init(tb, 7, opset);
    tb_input(tb, "x", TB_FLOAT, 4, (int64_t[]){1, 2, 4, 4});
    tb_output(tb, "y", TB_FLOAT, -1, NULL);
}

/* ---------------------------------------------------------------- real-model damage */

static void test_real_model(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/ultraface/version-RFB-320.onnx", ks_t_models_dir());
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "note: %s not found; skipping truncation/flip cases\n", path);
        return;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *data = malloc((size_t)n);
    KS_T_CHECK(fread(data, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    KS_T_CHECK_OK(ctx, load_bytes(data, (size_t)n, NULL));

    /* truncated at every 1/64 (and a few bytes before the end) */
    for (int k = 0; k < 64; k++) {
        size_t len = (size_t)n * (size_t)k / 64;
        ks_status st = load_bytes(data, len, NULL);
        KS_T_CHECK_MSG(st != KS_OK, "truncated to %zu of %ld bytes imported", len, n);
        KS_T_CHECK_MSG(ks_context_last_error(ctx)[0], "truncated to %zu: empty message", len);
    }
    for (long cut = 1; cut <= 5; cut++)
        KS_T_CHECK(load_bytes(data, (size_t)(n - cut), NULL) != KS_OK);

    /* random byte flips; half of them in the first 64 KiB where the graph
     * structure is, the rest anywhere */
    uint8_t *copy = malloc((size_t)n);
    int n_ok = 0, n_err = 0;
    for (int it = 0; it < 400; it++) {
        memcpy(copy, data, (size_t)n);
        int flips = 1 + (int)(rng() % 4);
        for (int j = 0; j < flips; j++) {
            size_t range = (it & 1) && n > 65536 ? 65536 : (size_t)n;
            size_t pos = (size_t)(rng() % range);
            copy[pos] ^= (uint8_t)(1u << (rng() % 8));
        }
        ks_status st = load_bytes(copy, (size_t)n, NULL);
        if (st == KS_OK) {
            n_ok++;
        } else {
            n_err++;
            KS_T_CHECK_MSG(ks_context_last_error(ctx)[0], "flip %d: empty message", it);
        }
    }
    fprintf(stderr, "byte flips: %d imported, %d rejected\n", n_ok, n_err);
    /* overwrite runs of bytes with random garbage */
    for (int it = 0; it < 100; it++) {
        memcpy(copy, data, (size_t)n);
        size_t pos = (size_t)(rng() % (uint64_t)n), len = 1 + (size_t)(rng() % 64);
        for (size_t j = pos; j < pos + len && j < (size_t)n; j++)
            copy[j] = (uint8_t)rng();
        load_bytes(copy, (size_t)n, NULL);
    }
    free(copy);
    free(data);
}

/* ---------------------------------------------------------------- hand-built cases */

static void test_not_onnx(void) {
    const char *texts[] = {"hello world, not a model", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
                           "\x08\x07\x3a\xff\xff\xff\xff\x0f"};
    for (size_t i = 0; i < KS_ARRAY_LEN(texts); i++) {
        ks_status st = load_bytes(texts[i], strlen(texts[i]) + 1, NULL);
        KS_T_CHECK(st == KS_CORRUPT_FILE || st == KS_INVALID_MODEL);
        KS_T_CHECK(ks_context_last_error(ctx)[0] != '\0');
    }
    KS_T_CHECK(load_bytes("", 0, NULL) != KS_OK);
    uint8_t junk[4096];
    for (int it = 0; it < 200; it++) {
        size_t len = 1 + (size_t)(rng() % sizeof junk);
        for (size_t j = 0; j < len; j++)
            junk[j] = (uint8_t)rng();
        KS_T_CHECK(load_bytes(junk, len, NULL) != KS_OK);
    }
}

static void test_versions(void) {
    tb_model tb;
    base(&tb, 13);
    tb.model.has_ir_version = 0;
    tb_node(&tb, "Relu", "r", "x", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "ir_version");
    base(&tb, 13);
    tb.model.ir_version = 99;
    tb_node(&tb, "Relu", "r", "x", "y");
    EXPECT(&tb, KS_VERSION_MISMATCH, "ir_version 99");
    base(&tb, 22);
    tb_node(&tb, "Relu", "r", "x", "y");
    EXPECT(&tb, KS_VERSION_MISMATCH, "opset 22");
    base(&tb, 0); /* no default-domain opset */
    tb_node(&tb, "Relu", "r", "x", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'r'|no opset");
    base(&tb, 13);
    tb.model.graph = NULL;
    EXPECT(&tb, KS_INVALID_MODEL, "no graph");
}

static void test_shapes(void) {
    tb_model tb;
    /* negative dim in an initializer */
    base(&tb, 13);
    tb_add_init(&tb, tb_tensor_raw(&tb, "w", TB_FLOAT, 2, (int64_t[]){-2, 2}, NULL, 0));
    tb_node(&tb, "Add", "a", "x,w", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'w'|negative");
    /* negative dim in a graph input */
    tb_init(&tb, 7, 13);
    tb_input(&tb, "x", TB_FLOAT, 2, (int64_t[]){3, -7});
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    tb_node(&tb, "Relu", "r", "x", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'x'|negative");
    /* overflowing element count */
    base(&tb, 13);
    tb_add_init(&tb, tb_tensor_raw(&tb, "w", TB_FLOAT, 3,
                                   (int64_t[]){1ll << 40, 1ll << 40, 1ll << 40}, NULL, 0));
    tb_node(&tb, "Add", "a", "x,w", "y");
    EXPECT(&tb, KS_UNSUPPORTED_SHAPE, "'w'|overflow");
    tb_init(&tb, 7, 13);
    tb_input(&tb, "x", TB_FLOAT, 3, (int64_t[]){1ll << 62, 4, 4});
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    tb_node(&tb, "Relu", "r", "x", "y");
    EXPECT(&tb, KS_UNSUPPORTED_SHAPE, "'x'|overflow");
    /* 2^31 elements: refused before looking at (or allocating for) data */
    base(&tb, 13);
    tb_add_init(&tb, tb_tensor_raw(&tb, "big", TB_FLOAT, 2, (int64_t[]){65536, 32768}, NULL, 0));
    tb_node(&tb, "Add", "a", "x,big", "y");
    EXPECT(&tb, KS_UNSUPPORTED_SHAPE, "'big'|2147483648");
    base(&tb, 13);
    Onnx__TensorProto *big = tb_tensor_empty(&tb, "big", TB_UINT8, 1, (int64_t[]){1ll << 31});
    tb_add_init(&tb, big);
    tb_node(&tb, "Add", "a", "x,big", "y");
    EXPECT(&tb, KS_UNSUPPORTED_SHAPE, "'big'");
    /* rank 9 */
    base(&tb, 13);
    tb_add_init(&tb, tb_tensor_raw(&tb, "w", TB_FLOAT, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1},
                                   (float[]){1}, 4));
    tb_node(&tb, "Add", "a", "x,w", "y");
    EXPECT(&tb, KS_UNSUPPORTED_SHAPE, "'w'|rank");
    /* raw_data size mismatch, typed count mismatch */
    base(&tb, 13);
    tb_add_init(&tb, tb_tensor_raw(&tb, "w", TB_FLOAT, 1, (int64_t[]){4}, (float[]){1, 2, 3}, 12));
    tb_node(&tb, "Add", "a", "x,w", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'w'|raw_data has 12 bytes|16");
    base(&tb, 13);
    Onnx__TensorProto *t = tb_tensor_empty(&tb, "w", TB_INT64, 1, (int64_t[]){3});
    t->n_int64_data = 2;
    t->int64_data = (int64_t[]){1, 2};
    tb_add_init(&tb, t);
    tb_node(&tb, "Reshape", "a", "x,w", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'w'|int64_data holds 2");
    base(&tb, 13); /* no data at all */
    tb_add_init(&tb, tb_tensor_empty(&tb, "w", TB_FLOAT, 1, (int64_t[]){5}));
    tb_node(&tb, "Add", "a", "x,w", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'w'");
}

static void test_dtypes(void) {
    tb_model tb;
    base(&tb, 13);
    tb_add_init(&tb, tb_tensor_raw(&tb, "bf", TB_BFLOAT16, 1, (int64_t[]){2}, NULL, 4));
    tb_node(&tb, "Add", "a", "x,bf", "y");
    EXPECT(&tb, KS_UNSUPPORTED_DTYPE, "'bf'|BFLOAT16");
    base(&tb, 13);
    tb_add_init(&tb, tb_tensor_raw(&tb, "q", 42, 1, (int64_t[]){2}, NULL, 4));
    tb_node(&tb, "Add", "a", "x,q", "y");
    EXPECT(&tb, KS_UNSUPPORTED_DTYPE, "'q'");
    tb_init(&tb, 7, 13);
    Onnx__ValueInfoProto *vi = tb_input(&tb, "seq", TB_FLOAT, -1, NULL);
    static Onnx__TypeProto__Sequence seq = ONNX__TYPE_PROTO__SEQUENCE__INIT;
    vi->type->value_case =
        ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE; /* no element type: still rejected */
    vi->type->sequence_type = &seq;
    tb_node(&tb, "Identity", "i", "seq", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    EXPECT(&tb, KS_UNSUPPORTED_DTYPE, "'seq'|sequence");
    tb_init(&tb, 7, 13);
    vi = tb_input(&tb, "x", TB_FLOAT, -1, NULL);
    vi->type = NULL;
    tb_node(&tb, "Relu", "r", "x", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    EXPECT(&tb, KS_INVALID_MODEL, "'x'|no type");
}

static void test_structure(void) {
    tb_model tb;
    /* cycle */
    base(&tb, 13);
    tb_node(&tb, "Add", "a1", "x,b", "a");
    tb_node(&tb, "Relu", "r1", "a", "b");
    tb_node(&tb, "Relu", "r2", "b", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "cycle");
    /* self loop */
    base(&tb, 13);
    tb_node(&tb, "Add", "self", "x,y", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "cycle");
    /* missing initializer */
    base(&tb, 13);
    tb_node(&tb, "Conv", "conv1", "x,W", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'W'");
    /* output never produced */
    base(&tb, 13);
    tb_node(&tb, "Relu", "r", "x", "z");
    EXPECT(&tb, KS_INVALID_MODEL, "'y'");
    /* produced twice */
    base(&tb, 13);
    tb_node(&tb, "Relu", "r1", "x", "y");
    tb_node(&tb, "Sigmoid", "r2", "x", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'r2'|'y'|already defined");
    /* node output redefines an initializer / graph input */
    base(&tb, 13);
    tb_init_f(&tb, "w", 1, (int64_t[]){1}, (float[]){1});
    tb_node(&tb, "Relu", "r1", "x", "w");
    tb_node(&tb, "Add", "a", "x,w", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'w'|already defined");
    base(&tb, 13);
    tb_node(&tb, "Relu", "r1", "x", "x");
    tb_node(&tb, "Relu", "r2", "x", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'x'|already defined");
    /* duplicate initializer, duplicate input, duplicate graph output */
    base(&tb, 13);
    tb_init_f(&tb, "w", 1, (int64_t[]){1}, (float[]){1});
    tb_init_f(&tb, "w", 1, (int64_t[]){1}, (float[]){2});
    tb_node(&tb, "Add", "a", "x,w", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'w'|twice");
    base(&tb, 13);
    tb_input(&tb, "x", TB_FLOAT, 1, (int64_t[]){3});
    tb_node(&tb, "Relu", "r", "x", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'x'|twice");
    base(&tb, 13);
    tb_node(&tb, "Relu", "r", "x", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    EXPECT(&tb, KS_INVALID_MODEL, "'y'|twice");
    /* empty names / missing fields */
    base(&tb, 13);
    tb_add_init(&tb, tb_tensor_raw(&tb, "", TB_FLOAT, 1, (int64_t[]){1}, (float[]){1}, 4));
    tb_node(&tb, "Relu", "r", "x", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "initializer 0 has no name");
    base(&tb, 13);
    tb_input(&tb, "", TB_FLOAT, 1, (int64_t[]){1});
    tb_node(&tb, "Relu", "r", "x", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "graph input 1 has no name");
    base(&tb, 13);
    tb_node(&tb, "", "nop", "x", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'nop'|no op_type");
    base(&tb, 13);
    tb_node(&tb, NULL, NULL, "x", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "no op_type");
    base(&tb, 13);
    tb_node(&tb, "Relu", "r", "x", "y");
    tb.outputs[0]->name = "";
    EXPECT(&tb, KS_INVALID_MODEL, "graph output 0 has no name");
    base(&tb, 13);
    tb.graph.n_output = 0;
    tb_node(&tb, "Relu", "r", "x", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "no outputs");
}

static void test_attributes(void) {
    tb_model tb;
    /* wrong type for a well-known attribute */
    base(&tb, 13);
    tb_init_f(&tb, "W", 4, (int64_t[]){2, 2, 1, 1}, (float[]){1, 0, 0, 1});
    Onnx__NodeProto *c = tb_node(&tb, "Conv", "conv1", "x,W", "y");
    tb_attr_f(&tb, c, "strides", 2.0f);
    EXPECT(&tb, KS_INVALID_MODEL, "'conv1'|Conv|'strides'|FLOAT|INTS");
    base(&tb, 13);
    Onnx__NodeProto *s = tb_node(&tb, "Softmax", "sm", "x", "y");
    tb_attr_s(&tb, s, "axis", "1");
    EXPECT(&tb, KS_INVALID_MODEL, "'axis'|STRING");
    base(&tb, 13);
    Onnx__NodeProto *tp = tb_node(&tb, "Transpose", "t", "x", "y");
    tb_attr_i(&tb, tp, "perm", 0);
    EXPECT(&tb, KS_INVALID_MODEL, "'perm'");
    /* attribute without a name / value / duplicated */
    base(&tb, 13);
    Onnx__NodeProto *r = tb_node(&tb, "Relu", "r", "x", "y");
    tb_attr_i(&tb, r, "", 1);
    EXPECT(&tb, KS_INVALID_MODEL, "without a name");
    base(&tb, 13);
    r = tb_node(&tb, "Relu", "r", "x", "y");
    Onnx__AttributeProto *a = tb_attr(&tb, r, "alpha", 0);
    a->has_type = 0;
    EXPECT(&tb, KS_INVALID_MODEL, "'alpha'|no value");
    base(&tb, 13);
    r = tb_node(&tb, "LeakyRelu", "r", "x", "y");
    tb_attr_f(&tb, r, "alpha", 0.1f);
    tb_attr_f(&tb, r, "alpha", 0.2f);
    EXPECT(&tb, KS_INVALID_MODEL, "'alpha'|twice");
    /* subgraph attribute */
    base(&tb, 13);
    r = tb_node(&tb, "Relu", "r", "x", "y");
    static Onnx__GraphProto sub = ONNX__GRAPH_PROTO__INIT;
    a = tb_attr(&tb, r, "body", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    a->g = &sub;
    EXPECT(&tb, KS_UNSUPPORTED_ATTR, "'r'|'body'|subgraph");
    /* If: unsupported op (named with opset) */
    base(&tb, 13);
    r = tb_node(&tb, "If", "branch", "x", "y");
    a = tb_attr(&tb, r, "then_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    a->g = &sub;
    EXPECT(&tb, KS_UNSUPPORTED_OP, "'branch'|If|opset 13|unsupported operator");
    /* tensor attribute with a bad shape */
    base(&tb, 13);
    tb_init_i64(&tb, "shape", 1, (int64_t[]){2}, (int64_t[]){2, 2});
    Onnx__NodeProto *cs = tb_node(&tb, "ConstantOfShape", "cos", "shape", "y");
    tb_attr_t(&tb, cs, "value", tb_tensor_raw(&tb, "", TB_FLOAT, 1, (int64_t[]){-1}, NULL, 0));
    EXPECT(&tb, KS_INVALID_MODEL, "'cos'|'value'|negative");
    /* Constant: two values, none, wrong kind */
    base(&tb, 13);
    Onnx__NodeProto *k = tb_node(&tb, "Constant", "k", "", "y");
    tb_attr_f(&tb, k, "value_float", 1);
    tb_attr_i(&tb, k, "value_int", 1);
    EXPECT(&tb, KS_INVALID_MODEL, "'k'|exactly one");
    base(&tb, 13);
    tb_node(&tb, "Constant", "k", "", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'k'|without a value");
    base(&tb, 13);
    k = tb_node(&tb, "Constant", "k", "", "y");
    tb_attr_s(&tb, k, "value_string", "hi");
    EXPECT(&tb, KS_UNSUPPORTED_ATTR, "'k'|value_string");
    /* legacy form missing what it needs */
    base(&tb, 9);
    Onnx__NodeProto *sl = tb_node(&tb, "Slice", "sl", "x", "y");
    tb_attr_ints(&tb, sl, "ends", 1, (int64_t[]){1});
    EXPECT(&tb, KS_INVALID_MODEL, "'sl'|'starts'");
    base(&tb, 8);
    tb_node(&tb, "Upsample", "up", "x", "y");
    EXPECT(&tb, KS_INVALID_MODEL, "'up'|scales");
    base(&tb, 9);
    Onnx__NodeProto *up = tb_node(&tb, "Upsample", "up", "x", "y");
    tb_attr_s(&tb, up, "mode", "cubic");
    EXPECT(&tb, KS_UNSUPPORTED_ATTR, "'up'|cubic");
}

/* Very long, repeated node names: synthesized constant names stay unique
 * (and the importer terminates). */
static void test_long_names(void) {
    static char longname[3000];
    memset(longname, 'n', sizeof longname - 1);
    tb_model tb;
    base(&tb, 9);
    const char *prev = "x";
    char outs[4][8];
    for (int i = 0; i < 4; i++) {
        snprintf(outs[i], sizeof outs[i], i == 3 ? "y" : "s%d", i);
        Onnx__NodeProto *s = tb_node(&tb, "Slice", longname, prev, outs[i]);
        tb_attr_ints(&tb, s, "starts", 1, (int64_t[]){0});
        tb_attr_ints(&tb, s, "ends", 1, (int64_t[]){4});
        prev = outs[i];
    }
    EXPECT(&tb, KS_OK, "");
}

static void test_ops(void) {
    tb_model tb;
    base(&tb, 13);
    tb_node(&tb, "FooBar", "weird_node", "x", "y");
    EXPECT(&tb, KS_UNSUPPORTED_OP, "'weird_node'|FooBar|opset 13|unsupported operator");
    base(&tb, 11);
    Onnx__NodeProto *n = tb_node(&tb, "Gadget", "g1", "x", "y");
    n->domain = "com.vendor";
    EXPECT(&tb, KS_UNSUPPORTED_OP, "'g1'|com.vendor|Gadget|opset 0");
}

/* Nests Graph > Node > Attribute > Graph ... `levels` times, as raw bytes. */
static uint8_t *nested_model(int levels, size_t *n_out) {
    size_t cap = (size_t)levels * 16 + 64, start = cap;
    uint8_t *buf = malloc(cap);
    /* write backwards: innermost message is an empty GraphProto */
    for (int i = 0; i < levels; i++) {
        static const uint8_t tags[3] = {0x32 /* Attribute.g = 6 */, 0x2a /* Node.attribute = 5 */,
                                        0x0a /* Graph.node = 1 */};
        for (int t = 0; t < 3; t++) {
            size_t len = cap - start;
            uint8_t v[10];
            int nv = 0;
            do {
                v[nv++] = (uint8_t)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
                len >>= 7;
            } while (len);
            start -= (size_t)nv;
            memcpy(buf + start, v, (size_t)nv);
            buf[--start] = tags[t];
        }
    }
    size_t glen = cap - start;
    uint8_t *out = malloc(glen + 32);
    size_t k = 0;
    out[k++] = 0x08; /* ir_version = 7 */
    out[k++] = 7;
    out[k++] = 0x3a; /* graph = 7 */
    size_t len = glen;
    do {
        out[k++] = (uint8_t)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
        len >>= 7;
    } while (len);
    memcpy(out + k, buf + start, glen);
    k += glen;
    free(buf);
    *n_out = k;
    return out;
}

static void test_deep_nesting(void) {
    size_t n;
    uint8_t *m = nested_model(100000, &n);
    ks_status st = load_bytes(m, n, NULL);
    KS_T_CHECK_EQ_I(st, KS_CORRUPT_FILE);
    KS_T_CHECK(strstr(ks_context_last_error(ctx), "nested") != NULL);
    free(m);
    m = nested_model(3, &n); /* shallow: parses, then fails on content */
    st = load_bytes(m, n, NULL);
    KS_T_CHECK(st != KS_OK && st != KS_CORRUPT_FILE);
    free(m);
}

static void test_external_escape(void) {
    tb_model tb;
    const char *locs[] = {"../../../../etc/passwd", "/etc/passwd", "sub/../../x.bin"};
    for (size_t i = 0; i < KS_ARRAY_LEN(locs); i++) {
        base(&tb, 13);
        Onnx__TensorProto *t = tb_tensor_empty(&tb, "w", TB_FLOAT, 1, (int64_t[]){4});
        t->has_data_location = 1;
        t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        t->external_data = tb_alloc(&tb, sizeof(void *));
        Onnx__StringStringEntryProto *kv = tb_alloc(&tb, sizeof *kv);
        static const Onnx__StringStringEntryProto kv0 = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
        *kv = kv0;
        kv->key = "location";
        kv->value = (char *)locs[i];
        t->external_data[t->n_external_data++] = kv;
        tb_add_init(&tb, t);
        tb_node(&tb, "Add", "a", "x,w", "y");
        size_t n;
        uint8_t *buf = tb_pack(&tb, &n);
        ks_import_options opt;
        ks_import_options_init(&opt);
        opt.external_data_dir = "/tmp";
        ks_status st = load_bytes(buf, n, &opt);
        KS_T_CHECK_EQ_I(st, KS_INVALID_MODEL);
        KS_T_CHECK(strstr(ks_context_last_error(ctx), "'w'") != NULL);
        free(buf);
        tb_free(&tb);
    }
}

/* Out-of-range Gather indices held in a constant: the model imports (data is
 * a runtime input) and the run fails with an error naming the node. */
static void test_gather_out_of_range(void) {
    tb_model tb;
    tb_init(&tb, 7, 13);
    tb_input(&tb, "x", TB_FLOAT, 1, (int64_t[]){3});
    tb_init_i64(&tb, "idx", 1, (int64_t[]){2}, (int64_t[]){1, 7});
    tb_node(&tb, "Gather", "gather1", "x,idx", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    size_t n;
    uint8_t *buf = tb_pack(&tb, &n);
    ks_model *m = NULL;
    ks_status st = ks_model_load_memory(ctx, buf, n, NULL, &m);
    if (st == KS_OK) {
        ks_session *s = NULL;
        st = ks_session_create(m, NULL, &s);
        if (st == KS_OK) {
            float x[3] = {1, 2, 3};
            ks_tensor in = {KS_DTYPE_FLOAT32, 1, {3}, x};
            const char *nm = "x";
            ks_tensor out[1];
            memset(out, 0, sizeof out);
            st = ks_session_run(s, 1, &nm, &in, 0, NULL, out);
            ks_tensor_release(ctx, &out[0]);
        }
        ks_session_destroy(s);
    }
    KS_T_CHECK(st != KS_OK);
    KS_T_CHECK_MSG(strstr(ks_context_last_error(ctx), "gather1") != NULL, "%s",
                   ks_context_last_error(ctx));
    ks_model_destroy(m);
    free(buf);
    tb_free(&tb);
    /* both constant: caught while folding at import */
    tb_init(&tb, 7, 13);
    tb_init_f(&tb, "x", 1, (int64_t[]){3}, (float[]){1, 2, 3});
    tb_init_i64(&tb, "idx", 1, (int64_t[]){1}, (int64_t[]){-9});
    tb_node(&tb, "Gather", "gather2", "x,idx", "y");
    tb_output(&tb, "y", TB_FLOAT, -1, NULL);
    buf = tb_pack(&tb, &n);
    m = NULL;
    st = ks_model_load_memory(ctx, buf, n, NULL, &m);
    if (st == KS_OK) { /* folding may be skipped: then the run must fail */
        ks_session *s = NULL;
        st = ks_session_create(m, NULL, &s);
        if (st == KS_OK) {
            ks_tensor out[1];
            memset(out, 0, sizeof out);
            st = ks_session_run(s, 0, NULL, NULL, 0, NULL, out);
            ks_tensor_release(ctx, &out[0]);
        }
        ks_session_destroy(s);
    }
    KS_T_CHECK(st != KS_OK);
    ks_model_destroy(m);
    free(buf);
    tb_free(&tb);
}

/* ---------------------------------------------------------------- allocation failure */

typedef struct fail_alloc {
    long n_allocs; /* successful allocations so far */
    long fail_at;  /* the allocation with this index fails (and all after); -1 = never */
    long live;
    int failed;
} fail_alloc;

static void *fa_alloc(void *u, size_t n) {
    fail_alloc *fa = u;
    if (fa->fail_at >= 0 && fa->n_allocs >= fa->fail_at) {
        fa->failed = 1;
        return NULL;
    }
    void *p = malloc(n);
    if (p) {
        fa->n_allocs++;
        fa->live++;
    }
    return p;
}
static void *fa_realloc(void *u, void *p, size_t n) {
    fail_alloc *fa = u;
    if (fa->fail_at >= 0 && fa->n_allocs >= fa->fail_at) {
        fa->failed = 1;
        return NULL;
    }
    void *q = realloc(p, n);
    if (q) {
        fa->n_allocs++;
        if (!p)
            fa->live++;
    }
    return q;
}
static void fa_free(void *u, void *p) {
    fail_alloc *fa = u;
    if (p) {
        fa->live--;
        free(p);
    }
}

/* A small model touching initializers, Constant folding, a legacy form
 * (Slice-1 at opset 9), an Upsample rewrite, attributes of each kind. */
static uint8_t *small_model(size_t *n) {
    tb_model tb;
    tb_init(&tb, 4, 9);
    tb_input(&tb, "x", TB_FLOAT, 4, (int64_t[]){-1, 2, 4, 4});
    tb_init_f(&tb, "W", 4, (int64_t[]){2, 2, 1, 1}, (float[]){1, 0, 0, 1});
    tb_input(&tb, "W", TB_FLOAT, 4, (int64_t[]){2, 2, 1, 1});
    Onnx__NodeProto *c = tb_node(&tb, "Conv", "conv", "x,W", "c");
    tb_attr_ints(&tb, c, "kernel_shape", 2, (int64_t[]){1, 1});
    tb_attr_s(&tb, c, "auto_pad", "NOTSET");
    Onnx__NodeProto *k = tb_node(&tb, "Constant", "k", "", "half");
    tb_attr_t(&tb, k, "value", tb_tensor_raw(&tb, "", TB_FLOAT, 0, NULL, (float[]){0.5f}, 4));
    tb_node(&tb, "Mul", "mul", "c,half", "m");
    Onnx__NodeProto *s = tb_node(&tb, "Slice", "slice", "m", "s");
    tb_attr_ints(&tb, s, "starts", 1, (int64_t[]){1});
    tb_attr_ints(&tb, s, "ends", 1, (int64_t[]){3});
    tb_attr_ints(&tb, s, "axes", 1, (int64_t[]){2});
    Onnx__NodeProto *u = tb_node(&tb, "Upsample", "up", "s,scales", "y");
    tb_init_f(&tb, "scales", 1, (int64_t[]){4}, (float[]){1, 1, 2, 2});
    tb_attr_s(&tb, u, "mode", "nearest");
    Onnx__NodeProto *l = tb_node(&tb, "LeakyRelu", "lr", "y", "z");
    tb_attr_f(&tb, l, "alpha", 0.1f);
    tb_output(&tb, "z", TB_FLOAT, 4, (int64_t[]){-1, 2, 4, 8});
    uint8_t *buf = tb_pack(&tb, n);
    tb_free(&tb);
    return buf;
}

static void test_alloc_failure(void) {
    size_t n;
    uint8_t *buf = small_model(&n);
    int succeeded = 0;
    long needed = -1;
    for (long fail_at = 0; fail_at < 100000 && !succeeded; fail_at++) {
        fail_alloc fa = {0, -1, 0, 0};
        ks_context_config cfg;
        ks_context_config_init(&cfg);
        cfg.allocator.alloc = fa_alloc;
        cfg.allocator.realloc = fa_realloc;
        cfg.allocator.free = fa_free;
        cfg.allocator.user = &fa;
        ks_context *c = NULL;
        if (ks_context_create(&cfg, &c) != KS_OK) {
            KS_T_CHECK(0);
            break;
        }
        fa.fail_at = fa.n_allocs + fail_at;
        ks_model *m = NULL;
        ks_status st = ks_model_load_memory(c, buf, n, NULL, &m);
        if (st == KS_OK) {
            KS_T_CHECK(m != NULL);
            if (!fa.failed) {
                succeeded = 1;
                needed = fail_at;
            }
        } else {
            KS_T_CHECK_MSG(fa.failed, "fail_at %ld: error %s without an allocation failure: %s",
                           fail_at, ks_status_name(st), ks_context_last_error(c));
            KS_T_CHECK_MSG(st == KS_OUT_OF_MEMORY, "fail_at %ld: %s: %s", fail_at,
                           ks_status_name(st), ks_context_last_error(c));
            KS_T_CHECK(m == NULL);
        }
        ks_model_destroy(m);
        /* and the raw importer on its own */
        fa.fail_at = fa.n_allocs + fail_at;
        fa.failed = 0;
        ks_graph *g = NULL;
        st = ks__onnx_import(c, buf, n, "small.onnx", NULL, &g);
        KS_T_CHECK(st == KS_OK || st == KS_OUT_OF_MEMORY);
        KS_T_CHECK((st == KS_OK) == (g != NULL));
        ks__graph_destroy(g);
        ks_context_destroy(c);
        KS_T_CHECK_MSG(fa.live == 0, "fail_at %ld: %ld allocations leaked", fail_at, fa.live);
    }
    KS_T_CHECK(succeeded);
    fprintf(stderr, "allocation failure: the small model needs %ld allocations to import\n",
            needed);
    free(buf);
}

int main(void) {
    KS_T_CHECK(ks_context_create(NULL, &ctx) == KS_OK);
    test_not_onnx();
    test_versions();
    test_shapes();
    test_dtypes();
    test_structure();
    test_attributes();
    test_ops();
    test_long_names();
    test_deep_nesting();
    test_external_escape();
    test_gather_out_of_range();
    test_alloc_failure();
    test_real_model();
    ks_context_destroy(ctx);
    return ks_t_done();
}
