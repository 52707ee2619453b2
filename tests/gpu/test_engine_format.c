/* Engine file format: host-only (runs without a GPU). A synthetic engine
 * description is serialized, parsed back, then corrupted and truncated at
 * many offsets: the loader must reject every damaged file with CORRUPT_FILE
 * (or VERSION_MISMATCH for a newer format) and never read out of bounds
 * (run under ASan/valgrind in CI). With checksums recomputed after a
 * corruption, the structural validation itself is exercised. */
#include <string.h>

#include "format/engine_format.h"
#include "harness.h"

/* an empty sm_90 description with one input and one output binding */
static void desc_start(ks_context *ctx, ks_eng_desc *d) {
    ks__eng_desc_init(d, ctx);
    d->sm = 90;
    d->cudnn_version = 91900;
    d->n_inputs = 1;
    d->n_outputs = 1;
    d->bindings = ks__alloc_array(ctx, 2, sizeof(int32_t));
}

static void build_desc_dt(ks_context *ctx, ks_eng_desc *d, ks_dtype dt) {
    desc_start(ctx, d);
    int64_t xd[4] = {1, 4, 8, 8}, wd[4] = {8, 4, 3, 3}, bd[1] = {8}, yd[4] = {1, 8, 8, 8};
    int x = ks__eng_add_tensor(d, "input", dt, 4, xd);
    d->tensors[x].storage = KS_STORE_BINDING;
    d->tensors[x].offset = 0;
    float w[8 * 4 * 9], bb[8];
    uint16_t wh[8 * 4 * 9], bh[8];
    for (int i = 0; i < 8 * 4 * 9; i++) wh[i] = ks_float_to_half(w[i] = (float)i * 0.01f);
    for (int i = 0; i < 8; i++) bh[i] = ks_float_to_half(bb[i] = (float)i);
    const int half = dt == KS_DTYPE_FLOAT16;
    int wi = ks__eng_add_weight(d, "conv.w", dt, 4, wd, half ? (const void *)wh : (const void *)w);
    int bi = ks__eng_add_weight(d, "conv.b", dt, 1, bd, half ? (const void *)bh : (const void *)bb);
    int h = ks__eng_add_tensor(d, "hidden", dt, 4, yd);
    d->tensors[h].offset = 0;
    int y = ks__eng_add_tensor(d, "output", dt, 4, yd);
    d->tensors[y].storage = KS_STORE_BINDING;
    d->tensors[y].offset = 1;
    d->arena_bytes = d->tensors[h].bytes;
    d->bindings[0] = x;
    d->bindings[1] = y;
    ks_eng_layer *l = ks__eng_add_layer(d, KS_LAYER_CONV, "conv+relu");
    l->n_in = 3; l->in[0] = x; l->in[1] = wi; l->in[2] = bi;
    l->n_out = 1; l->out[0] = h;
    l->act = KS_ACT_RELU;
    l->tactic = KS_TACTIC_OWN_GEMM;
    l->dtype = dt;
    int64_t ip[] = {1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
    memcpy(l->ip, ip, sizeof ip);
    l = ks__eng_add_layer(d, KS_LAYER_ELTWISE, "sig");
    l->dtype = dt;
    l->n_in = 1; l->in[0] = h; l->n_out = 1; l->out[0] = y;
    l->ip[0] = 1;
    l->ip[1] = KS_EW_UNARY | (4 << 8);
    l->ip[2] = KS_ACT_SIGMOID;
    l->ip[31] = 4;
}

static void build_desc(ks_context *ctx, ks_eng_desc *d) { build_desc_dt(ctx, d, KS_DTYPE_FLOAT32); }


/* the program both segmap descriptions use: sigmoid, then part 0 (2 channels) + constant r0, part 1 (4) as is */
static void segmap_program(ks_eng_layer *l) {
    l->act = KS_ACT_SIGMOID;
    l->ip[0] = 2;
    l->ip[1] = 2, l->ip[2] = 6;
    l->ip[5] = 1 | (1 << 8), l->ip[6] = 0;
    l->ip[9] = 1;
    l->ip[10] = KS_EW_ADD | (4 << 16) | (0 << 24);
}

/* x [1,2,6,2,3] -> segmap -> y [1,2,2,3,6]: sigmoid, then part 0 (2 channels) + a broadcast constant
 * [2,1,1,2], part 1 (4 channels) as is */
static void build_segmap_desc(ks_context *ctx, ks_eng_desc *d) {
    desc_start(ctx, d);
    int64_t xd[5] = {1, 2, 6, 2, 3}, yd[5] = {1, 2, 2, 3, 6}, cd[4] = {2, 1, 1, 2};
    int x = ks__eng_add_tensor(d, "x", KS_DTYPE_FLOAT32, 5, xd);
    d->tensors[x].storage = KS_STORE_BINDING;
    d->tensors[x].offset = 0;
    float cv[4] = {1, 2, 3, 4};
    int c = ks__eng_add_weight(d, "grid", KS_DTYPE_FLOAT32, 4, cd, cv);
    int y = ks__eng_add_tensor(d, "y", KS_DTYPE_FLOAT32, 5, yd);
    d->tensors[y].storage = KS_STORE_BINDING;
    d->tensors[y].offset = 1;
    d->bindings[0] = x;
    d->bindings[1] = y;
    ks_eng_layer *l = ks__eng_add_layer(d, KS_LAYER_SEGMAP, "head");
    l->n_in = 2; l->in[0] = x; l->in[1] = c;
    l->n_out = 1; l->out[0] = y;
    segmap_program(l);
}

/* serializes t, parses the file back into r (the caller frees it), returns the written format version */
static uint32_t round_trip(ks_context *ctx, const ks_eng_desc *t, ks_eng_desc *r) {
    void *buf = NULL;
    size_t n = 0;
    uint32_t ver = 0;
    KS_T_CHECK_OK(ctx, ks__eng_serialize(t, &buf, &n));
    if (buf)
        memcpy(&ver, (uint8_t *)buf + 8, 4);
    KS_T_CHECK_OK(ctx, ks__eng_parse(ctx, buf, n, r));
    ks__free(ctx, buf);
    return ver;
}

/* the segmap layer: round trip as a version-3 file; every damaged parameter rejected */
static void test_segmap(ks_context *ctx) {
    ks_eng_desc t, r;
    build_segmap_desc(ctx, &t);
    KS_T_CHECK_OK(ctx, ks__eng_validate(&t));
    KS_T_CHECK_EQ_I(round_trip(ctx, &t, &r), 3);
    KS_T_CHECK_EQ_I(r.layers[0].kind, KS_LAYER_SEGMAP);
    KS_T_CHECK_EQ_I(r.layers[0].ip[10], t.layers[0].ip[10]);
    ks__eng_desc_free(&r);
    ks__eng_desc_free(&t);
    /* an output row stride (a batch > 1 concat buffer): version 6, kept through the round trip */
    build_segmap_desc(ctx, &t);
    t.layers[0].algo = 2 * 2 * 3 * 6;
    KS_T_CHECK_OK(ctx, ks__eng_validate(&t));
    KS_T_CHECK_EQ_I(round_trip(ctx, &t, &r), 6);
    KS_T_CHECK_EQ_I(r.layers[0].algo, 72);
    ks__eng_desc_free(&r);
    ks__eng_desc_free(&t);
    for (int bad = 0; bad < 10; bad++) {
        build_segmap_desc(ctx, &t);
        ks_eng_layer *l = &t.layers[0];
        switch (bad) {
        case 0: l->ip[2] = 5; break;                   /* parts do not cover the last axis */
        case 1: l->ip[0] = 5; break;                   /* too many parts */
        case 2: l->ip[1] = 0; break;                   /* empty part */
        case 3: l->ip[10] = KS_EW_OP_COUNT; break;     /* unknown instruction */
        case 4: l->ip[5] = 1 | (2 << 8); break;        /* more constants than inputs */
        case 5: l->ip[9] = 12; break;                  /* program size */
        case 6: t.tensors[1].dims[3] = 3; break;       /* constant does not broadcast */
        case 7: t.tensors[0].dims[2] = 5; break;       /* x and y disagree */
        case 8: l->algo = 71; break;                   /* output rows closer than one image's rows */
        case 9: /* two images whose rows are 100 elements apart: the second runs past the end of y */
            for (int q = 0; q < 3; q += 2)
                t.tensors[q].dims[0] = 2, t.tensors[q].bytes *= 2;
            l->algo = 100;
            break;
        }
        KS_T_CHECK_MSG(ks__eng_validate(&t) == KS_CORRUPT_FILE, "segmap damage %d accepted", bad);
        ks__eng_desc_free(&t);
    }
}

/* A segmap running its 1x1 conv in front (tactic own:pointwise, float16): x [2,16,2,3] -> 1x1 conv (w [12,16,1,1],
 * bias [12]) -> the segmap of build_segmap_desc at batch 2 -> y [2,2,2,3,6] */
static void build_pwseg_desc(ks_context *ctx, ks_eng_desc *d) {
    desc_start(ctx, d);
    const ks_dtype h = KS_DTYPE_FLOAT16;
    int64_t xd[4] = {2, 16, 2, 3}, yd[5] = {2, 2, 2, 3, 6}, cd[4] = {2, 1, 1, 2}, wd[4] = {12, 16, 1, 1}, bd[1] = {12};
    uint16_t cv[4], wv[12 * 16], bv[12];
    for (int i = 0; i < 4; i++) cv[i] = ks_float_to_half((float)i);
    for (int i = 0; i < 12 * 16; i++) wv[i] = ks_float_to_half((float)(i % 7) * 0.1f);
    for (int i = 0; i < 12; i++) bv[i] = ks_float_to_half((float)i * 0.5f);
    int x = ks__eng_add_tensor(d, "x", h, 4, xd);
    d->tensors[x].storage = KS_STORE_BINDING;
    d->tensors[x].offset = 0;
    int c = ks__eng_add_weight(d, "grid", h, 4, cd, cv);
    int w = ks__eng_add_weight(d, "head.w", h, 4, wd, wv);
    int b = ks__eng_add_weight(d, "head.b", h, 1, bd, bv);
    int y = ks__eng_add_tensor(d, "y", h, 5, yd);
    d->tensors[y].storage = KS_STORE_BINDING;
    d->tensors[y].offset = 1;
    d->bindings[0] = x;
    d->bindings[1] = y;
    ks_eng_layer *l = ks__eng_add_layer(d, KS_LAYER_SEGMAP, "head+seg");
    l->dtype = h;
    l->tactic = KS_TACTIC_OWN_PW;
    l->n_in = 4; l->in[0] = x; l->in[1] = c; l->in[2] = w; l->in[3] = b;
    l->n_out = 1; l->out[0] = y;
    segmap_program(l);
}

/* the fused form: a version-7 file whose layer keeps its tactic and inputs; every damaged parameter rejected */
static void test_pwseg(ks_context *ctx) {
    ks_eng_desc t, r;
    build_pwseg_desc(ctx, &t);
    KS_T_CHECK_OK(ctx, ks__eng_validate(&t));
    KS_T_CHECK_EQ_I(round_trip(ctx, &t, &r), 7);
    KS_T_CHECK_EQ_I(r.layers[0].tactic, KS_TACTIC_OWN_PW);
    KS_T_CHECK_EQ_I(r.layers[0].n_in, 4);
    KS_T_CHECK_EQ_I(r.layers[0].in[2], t.layers[0].in[2]);
    ks__eng_desc_free(&r);
    ks__eng_desc_free(&t);
    /* no bias: allowed */
    build_pwseg_desc(ctx, &t);
    t.layers[0].in[3] = -1;
    KS_T_CHECK_OK(ctx, ks__eng_validate(&t));
    ks__eng_desc_free(&t);
    static const char *why[] = {"tactic", "conv weights", "conv weights", "program size", "conv parameters",
                                "shapes", "conv parameters", "overlap", "conv parameters"};
    for (int bad = 0; bad < (int)KS_ARRAY_LEN(why); bad++) {
        build_pwseg_desc(ctx, &t);
        ks_eng_layer *l = &t.layers[0];
        switch (bad) {
        case 0: l->tactic = KS_TACTIC_CUDNN; break;                                  /* not a segmap tactic */
        case 1: t.tensors[2].dims[1] = 15, t.tensors[2].bytes = 12 * 15 * 2; break; /* weights vs x's channels */
        case 2: t.tensors[2].dims[0] = 11, t.tensors[2].bytes = 11 * 16 * 2; break; /* weights vs A*C channels */
        case 3: l->in[2] = l->in[3] = -1, l->n_in = 2; break;                        /* conv inputs missing */
        case 4: t.tensors[3].dims[0] = 11, t.tensors[3].bytes = 22; break;           /* bias length */
        case 5: t.tensors[0].dims[2] = 3, t.tensors[0].bytes = 2 * 16 * 3 * 3 * 2; break; /* x, y disagree on H */
        case 6: l->dtype = KS_DTYPE_FLOAT32; break;                                  /* float16 only */
        case 7: { /* x and y in the activation arena, y's rows over x's */
            int64_t d4[4] = {2, 16, 2, 3}, d5[5] = {2, 2, 2, 3, 6};
            int bi = ks__eng_add_tensor(&t, "in2", KS_DTYPE_FLOAT16, 4, d4);
            int bo = ks__eng_add_tensor(&t, "out2", KS_DTYPE_FLOAT16, 5, d5);
            t.tensors[bi].storage = t.tensors[bo].storage = KS_STORE_BINDING;
            t.tensors[bi].offset = 0, t.tensors[bo].offset = 1;
            t.bindings[0] = bi, t.bindings[1] = bo;
            t.tensors[0].storage = t.tensors[4].storage = KS_STORE_ARENA;
            t.tensors[0].offset = 0, t.tensors[4].offset = 256;
            t.arena_bytes = 1024;
            l = &t.layers[0];
            break;
        }
        case 8: l->in[2] = 1; break;                                                 /* the constant as weights */
        }
        ks_status st = ks__eng_validate(&t);
        KS_T_CHECK_MSG(st == KS_CORRUPT_FILE, "fused segmap damage %d accepted", bad);
        if (bad >= 1)
            KS_T_CHECK_MSG(strstr(ks_context_last_error(ctx), bad == 7 ? "overlap" : "segmap") != NULL,
                           "damage %d (%s): %s", bad, why[bad], ks_context_last_error(ctx));
        ks__eng_desc_free(&t);
    }
}

/* the written format version: 1 for the plain engine, 4 once a conv layer uses a cluster split-K config
 * (which older libraries must refuse by version); the config survives the round trip */
static uint32_t written_version(ks_context *ctx, ks_eng_desc *t, int64_t cfg) {
    t->layers[0].ip[13] = cfg;
    ks_eng_desc r;
    uint32_t ver = round_trip(ctx, t, &r);
    KS_T_CHECK_EQ_I(r.layers[0].ip[13], cfg);
    ks__eng_desc_free(&r);
    return ver;
}

static void test_cluster_version(ks_context *ctx) {
    ks_eng_desc t;
    build_desc_dt(ctx, &t, KS_DTYPE_FLOAT16);
    KS_T_CHECK_OK(ctx, ks__eng_validate(&t));
    KS_T_CHECK_EQ_I(written_version(ctx, &t, 0), 1);
    KS_T_CHECK_EQ_I(written_version(ctx, &t, 10 | 4 << 4), 1);                          /* global split-K */
    KS_T_CHECK_EQ_I(written_version(ctx, &t, 13 | 8 << 4 | KS_ENG_IGEMM_CLUSTER), 4); /* cluster split-K */
    /* configs the loader refuses: split 1, a cluster of 3, a cluster on a SIMT tile, a cluster of 16, bits past
     * the cluster bit, a negative config */
    const int64_t bad[] = {10 | 1 << 4, 13 | 3 << 4 | KS_ENG_IGEMM_CLUSTER, 0 | 4 << 4 | KS_ENG_IGEMM_CLUSTER,
                           10 | 16 << 4 | KS_ENG_IGEMM_CLUSTER, 2048 | 10, -1};
    for (size_t i = 0; i < KS_ARRAY_LEN(bad); i++) {
        t.layers[0].ip[13] = bad[i];
        KS_T_CHECK_MSG(ks__eng_validate(&t) == KS_CORRUPT_FILE, "config %lld accepted", (long long)bad[i]);
    }
    ks__eng_desc_free(&t);
    /* the tensor-core tiles are float16 only */
    build_desc(ctx, &t);
    t.layers[0].ip[13] = 13 | 2 << 4 | KS_ENG_IGEMM_CLUSTER;
    KS_T_CHECK(ks__eng_validate(&t) == KS_CORRUPT_FILE);
    t.layers[0].ip[13] = 0 | 8 << 4; /* SIMT tile 0, global split 8: any precision */
    KS_T_CHECK_OK(ctx, ks__eng_validate(&t));
    ks__eng_desc_free(&t);
}

/* own:direct:3..8 (window-staged tensor-core conv): float16, groups 1, stride 1 or 2, iw % 8 == 0; an engine
 * using one (or own:depthwise:4) is written as version 5, which older libraries refuse by version */
static void test_v5_kernels(ks_context *ctx) {
    ks_eng_desc t;
    build_desc_dt(ctx, &t, KS_DTYPE_FLOAT16);
    t.layers[0].tactic = KS_TACTIC_OWN_DIRECT;
    for (int a = 3; a <= 8; a++) {
        t.layers[0].algo = a;
        KS_T_CHECK_OK(ctx, ks__eng_validate(&t));
        KS_T_CHECK_EQ_I(written_version(ctx, &t, 0), 5);
    }
    t.layers[0].algo = 9;
    KS_T_CHECK(ks__eng_validate(&t) == KS_CORRUPT_FILE);
    t.layers[0].algo = 3;
    t.layers[0].ip[3] = t.layers[0].ip[4] = 3; /* stride 3 */
    KS_T_CHECK(ks__eng_validate(&t) == KS_CORRUPT_FILE);
    t.layers[0].ip[3] = t.layers[0].ip[4] = 1;
    t.layers[0].tactic = KS_TACTIC_OWN_DW; /* the rolling depthwise on a conv that is not depthwise */
    t.layers[0].algo = 4;
    KS_T_CHECK(ks__eng_validate(&t) == KS_CORRUPT_FILE);
    ks__eng_desc_free(&t);
    build_desc(ctx, &t); /* float32 has no window-staged conv */
    t.layers[0].tactic = KS_TACTIC_OWN_DIRECT;
    t.layers[0].algo = 3;
    KS_T_CHECK(ks__eng_validate(&t) == KS_CORRUPT_FILE);
    ks__eng_desc_free(&t);
    /* the rolling depthwise's geometry rule */
    KS_T_CHECK_EQ_I(ks__eng_dw_roll_ov(16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 320, 320, 1), 8);
    KS_T_CHECK_EQ_I(ks__eng_dw_roll_ov(16, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1, 320, 160, 1), 8);
    KS_T_CHECK_EQ_I(ks__eng_dw_roll_ov(16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 20, 20, 1), 4);  /* ow % 8 != 0 */
    KS_T_CHECK_EQ_I(ks__eng_dw_roll_ov(16, 16, 16, 5, 5, 1, 1, 1, 1, 2, 2, 64, 64, 1), 4);  /* 5x5 */
    KS_T_CHECK_EQ_I(ks__eng_dw_roll_ov(16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 64, 64, 0), 4);  /* float32 */
    KS_T_CHECK_EQ_I(ks__eng_dw_roll_ov(16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 97, 97, 1), 0);  /* ow % 4 */
    KS_T_CHECK_EQ_I(ks__eng_dw_roll_ov(16, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1, 41, 21, 1), 0);  /* ow * 2 > iw */
    KS_T_CHECK_EQ_I(ks__eng_dw_roll_ov(16, 16, 16, 3, 3, 1, 1, 2, 2, 2, 2, 64, 64, 1), 0);  /* dilation */
    KS_T_CHECK_EQ_I(ks__eng_dw_roll_ov(16, 16, 16, 3, 3, 1, 1, 1, 1, 0, 0, 64, 62, 1), 0);  /* pad 0 */
    KS_T_CHECK_EQ_I(ks__eng_dw_roll_ov(16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 36, 36, 1), 4);  /* rows not 16-byte */
    KS_T_CHECK_EQ_I(ks__eng_dw_roll_ov(16, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1, 36, 16, 1), 0);  /* 16-byte unit, 72 B rows */
}

/* own:pointwise:1's channel rule (ks__eng_pw_tc_ok, shared by the kernel's fits check and the loader): c and k in
 * 1..256 with the weights and two input tiles within 200 KiB of shared memory */
static void test_pw_tc_rule(void) {
    KS_T_CHECK(ks__eng_pw_tc_ok(128, 128));
    KS_T_CHECK(ks__eng_pw_tc_ok(64, 255)); /* the YOLOv5 detect-head 1x1 */
    KS_T_CHECK(ks__eng_pw_tc_ok(96, 256));
    KS_T_CHECK(ks__eng_pw_tc_ok(40, 200));
    KS_T_CHECK(ks__eng_pw_tc_ok(1, 1));
    KS_T_CHECK(!ks__eng_pw_tc_ok(128, 256)); /* 214 KiB */
    KS_T_CHECK(!ks__eng_pw_tc_ok(128, 255)); /* YOLOv5's 40x40 head conv: same tiles */
    KS_T_CHECK(!ks__eng_pw_tc_ok(257, 16));
    KS_T_CHECK(!ks__eng_pw_tc_ok(16, 257));
    KS_T_CHECK(!ks__eng_pw_tc_ok(0, 16));
    KS_T_CHECK(!ks__eng_pw_tc_ok(16, 0));
}

int main(void) {
    ks_context *ctx = NULL;
    KS_T_CHECK(ks_context_create(NULL, &ctx) == KS_OK);
    ks_eng_desc d;
    build_desc(ctx, &d);
    KS_T_CHECK_OK(ctx, ks__eng_validate(&d));
    void *buf = NULL;
    size_t n = 0;
    KS_T_CHECK_OK(ctx, ks__eng_serialize(&d, &buf, &n));
    KS_T_CHECK(n % 64 == 0);
    /* round trip */
    ks_eng_desc r;
    KS_T_CHECK_OK(ctx, ks__eng_parse(ctx, buf, n, &r));
    KS_T_CHECK_EQ_I(r.n_layers, 2);
    KS_T_CHECK_EQ_I(r.n_tensors, d.n_tensors);
    KS_T_CHECK_EQ_I(r.n_weight_bytes, d.n_weight_bytes);
    KS_T_CHECK(memcmp(r.weights, d.weights, (size_t)d.n_weight_bytes) == 0);
    KS_T_CHECK(strcmp(ks__eng_str(&r, r.layers[0].name), "conv+relu") == 0);
    ks__eng_desc_free(&r);
    /* sections are 64-byte aligned: the weights section offset */
    uint8_t *copy = malloc(n);
    /* truncation at every length */
    int bad_ok = 0;
    for (size_t len = 0; len < n; len++) {
        ks_status st = ks__eng_parse(ctx, buf, len, &r);
        if (st == KS_OK) { bad_ok++; ks__eng_desc_free(&r); }
        KS_T_CHECK_MSG(st == KS_CORRUPT_FILE, "truncated to %zu -> %s", len, ks_status_name(st));
    }
    KS_T_CHECK_EQ_I(bad_ok, 0);
    /* single-byte corruption at every offset: the checksums catch it */
    for (size_t off = 0; off < n; off++) {
        memcpy(copy, buf, n);
        copy[off] ^= 0x5a;
        ks_status st = ks__eng_parse(ctx, copy, n, &r);
        if (st == KS_OK) ks__eng_desc_free(&r);
        KS_T_CHECK_MSG(st == KS_CORRUPT_FILE || st == KS_VERSION_MISMATCH, "byte %zu flipped -> %s", off,
                       ks_status_name(st));
    }
    /* corruption with checksums fixed: structural validation; must never
     * crash, and anything accepted must still validate */
    int rejected = 0, accepted = 0;
    for (size_t off = 128; off < n; off++) {
        for (int pat = 0; pat < 3; pat++) {
            memcpy(copy, buf, n);
            uint8_t v = pat == 0 ? 0xff : pat == 1 ? 0x80 : (uint8_t)(copy[off] + 1);
            copy[off] = v;
            ks__eng_fix_checksums(copy, n);
            ks_status st = ks__eng_parse(ctx, copy, n, &r);
            if (st == KS_OK) {
                accepted++;
                KS_T_CHECK(ks__eng_validate(&r) == KS_OK);
                ks__eng_desc_free(&r);
            } else {
                rejected++;
                KS_T_CHECK_MSG(st == KS_CORRUPT_FILE || st == KS_VERSION_MISMATCH, "off %zu -> %s", off,
                               ks_status_name(st));
            }
        }
    }
    KS_T_CHECK(rejected > 100);
    fprintf(stderr, "structural corruption: %d rejected, %d accepted (weights/padding/names)\n", rejected, accepted);
    /* newer format version -> VERSION_MISMATCH with a message */
    memcpy(copy, buf, n);
    uint32_t v = 99;
    memcpy(copy + 8, &v, 4);
    ks__eng_fix_checksums(copy, n);
    KS_T_CHECK(ks__eng_parse(ctx, copy, n, &r) == KS_VERSION_MISMATCH);
    KS_T_CHECK(strstr(ks_context_last_error(ctx), "newer") != NULL);
    /* bad magic */
    memcpy(copy, buf, n);
    copy[0] = 'X';
    KS_T_CHECK(ks__eng_parse(ctx, copy, n, &r) == KS_CORRUPT_FILE);
    KS_T_CHECK(strstr(ks_context_last_error(ctx), "magic") != NULL);
    /* targeted: a tensor pointing outside the weights, a layer with a bad id */
    {
        ks_eng_desc t;
        build_desc(ctx, &t);
        t.tensors[1].offset = t.n_weight_bytes;
        KS_T_CHECK(ks__eng_validate(&t) == KS_CORRUPT_FILE);
        ks__eng_desc_free(&t);
        build_desc(ctx, &t);
        t.layers[0].in[0] = 1000;
        KS_T_CHECK(ks__eng_validate(&t) == KS_CORRUPT_FILE);
        ks__eng_desc_free(&t);
        build_desc(ctx, &t);
        t.layers[0].ip[3] = 0; /* stride 0 */
        KS_T_CHECK(ks__eng_validate(&t) == KS_CORRUPT_FILE);
        ks__eng_desc_free(&t);
        build_desc(ctx, &t);
        t.tensors[3].root = 3;
        t.tensors[3].storage = KS_STORE_VIEW; /* self-cycle */
        KS_T_CHECK(ks__eng_validate(&t) == KS_CORRUPT_FILE);
        ks__eng_desc_free(&t);
    }
    test_segmap(ctx);
    test_pwseg(ctx);
    test_cluster_version(ctx);
    test_v5_kernels(ctx);
    test_pw_tc_rule();
    /* CRC32C check value */
    KS_T_CHECK_EQ_I(ks__crc32c(0, "123456789", 9), 0xE3069283u);
    free(copy);
    ks__free(ctx, buf);
    ks__eng_desc_free(&d);
    ks_context_destroy(ctx);
    return ks_t_done();
}
