/* Engine description (ks_eng_desc) and its file format. Host-only C11,
 * always compiled (also without CUDA) so the format can be written, read
 * and validated anywhere. docs/format.md describes the bytes.
 *
 * A description is everything an engine is, minus device state: tensors
 * (with their storage plan), layers (with chosen tactics and parameters),
 * a string table and the weights blob. The CUDA runtime instantiates an
 * engine from a description, for a freshly built engine and a loaded one
 * alike, so both paths run the same code. */
#ifndef KS_FORMAT_ENGINE_FORMAT_H
#define KS_FORMAT_ENGINE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KS_ENG_MAGIC "KSENGINE"
/* Version 2 added the plugins section and the plugin layer kind; files
 * without plugin layers are still written as version 1 (readable by older
 * libraries), and version 1 files load. */
/* Version 3 added the segmap layer kind (written only for engines that have one). */
/* Version 4 added cluster split-K conv configs (own:igemm cfg bit KS_ENG_IGEMM_CLUSTER in ip[13]); written
 * only for engines that use one, so that older libraries refuse them by version. */
/* Version 6 added the segmap output row stride (layer algo, elements per image; 0 = rows packed): a segmap
 * writing its rows into a batch > 1 concat buffer; and own:pointwise:1 beyond 128 channels (ks__eng_pw_tc_ok).
 * Written only for engines with such a layer. */
/* Version 7 added the segmap layer with its 1x1 conv in front (tactic own:pointwise: x is the conv's input, the
 * conv's weights and bias follow the constants); written only for engines with one. */
#define KS_ENG_FORMAT_VERSION 7u
#define KS_ENG_IGEMM_CLUSTER 1024 /* = KS_IGEMM_CLUSTER of src/backends/cuda/kernels.h */
#define KS_ENG_ALIGN 64u
#define KS_ENG_MAX_IN 8
#define KS_ENG_MAX_OUT 4
#define KS_ENG_N_IP 32
#define KS_ENG_N_FP 16

/* Where a root tensor lives. */
typedef enum ks_eng_storage {
    KS_STORE_ARENA = 0,  /* activation arena, offset = byte offset */
    KS_STORE_WEIGHT,     /* weights blob, offset = byte offset */
    KS_STORE_BINDING,    /* user binding; offset = binding index */
    KS_STORE_VIEW,       /* view of tensor `root` at byte `offset` */
    KS_STORE_COUNT
} ks_eng_storage;

/* Layer kinds. Parameters per kind are documented in docs/format.md and
 * validated by ks__eng_check_layer. */
#define KS_LAYER_LIST(X)        \
    X(CONV, "conv")             \
    X(POOL, "pool")             \
    X(ELTWISE, "eltwise")       \
    X(SOFTMAX, "softmax")       \
    X(CONCAT, "concat")         \
    X(TRANSPOSE, "transpose")   \
    X(SLICE, "slice")           \
    X(RESIZE, "resize")         \
    X(GATHER, "gather")         \
    X(PAD, "pad")               \
    X(CAST, "cast")             \
    X(COPY, "copy")             \
    X(GEMM, "gemm")             \
    X(PLUGIN, "plugin")         \
    X(SEGMAP, "segmap")

typedef enum ks_layer_kind {
#define KS_X_(e, n) KS_LAYER_##e,
    KS_LAYER_LIST(KS_X_)
#undef KS_X_
    KS_LAYER_COUNT
} ks_layer_kind;

/* Tactics (kernels) a layer can run with. */
#define KS_TACTIC_LIST(X)                 \
    X(DEFAULT, "own")                     \
    X(CUDNN, "cudnn")                     \
    X(CUDNN_FUSED, "cudnn-fused")         \
    X(OWN_GEMM, "own:igemm")              \
    X(OWN_DW, "own:depthwise")            \
    X(OWN_DIRECT, "own:direct")           \
    X(CUBLAS, "cublas")                   \
    X(OWN_DWPW, "own:dwpw")               \
    X(OWN_PW, "own:pointwise")

typedef enum ks_tactic {
#define KS_X_(e, n) KS_TACTIC_##e,
    KS_TACTIC_LIST(KS_X_)
#undef KS_X_
    KS_TACTIC_COUNT
} ks_tactic;

/* Fused activations (epilogues and eltwise unary ops share these). */
#define KS_ACT_LIST(X)                         \
    X(NONE, "none")                            \
    X(RELU, "relu")                            \
    X(LEAKY, "leaky_relu")   /* a = alpha */   \
    X(CLIP, "clip")          /* [a, b] */      \
    X(SIGMOID, "sigmoid")                      \
    X(SILU, "silu")          /* x*sigmoid(x) */\
    X(HSWISH, "hard_swish")                    \
    X(HSIGMOID, "hard_sigmoid") /* a, b */     \
    X(TANH, "tanh")                            \
    X(PRELU, "prelu")        /* per-channel slope tensor */ \
    X(EXP, "exp")                              \
    X(LOG, "log")                              \
    X(SQRT, "sqrt")                            \
    X(NEG, "neg")                              \
    X(ABS, "abs")                              \
    X(FLOOR, "floor")                          \
    X(CEIL, "ceil")                            \
    X(RECIP, "reciprocal")                     \
    X(ELU, "elu")                              \
    X(SOFTPLUS, "softplus")                    \
    X(ERF, "erf")                              \
    X(GELU, "gelu")                            \
    X(MISH, "mish")                            \
    X(ROUND, "round")                          \
    X(SIN, "sin")                              \
    X(COS, "cos")                              \
    X(SELU, "selu")                            \
    X(SOFTSIGN, "softsign")

typedef enum ks_act {
#define KS_X_(e, n) KS_ACT_##e,
    KS_ACT_LIST(KS_X_)
#undef KS_X_
    KS_ACT_COUNT
} ks_act;

/* Eltwise program ops (layer ELTWISE). Registers r0..r7; inputs are
 * loaded into r0..r(n_in-1) (broadcast to the output shape). */
enum {
    KS_EW_UNARY = 0, /* dst = act(a) (act in `imm` as int) */
    KS_EW_ADD, KS_EW_SUB, KS_EW_MUL, KS_EW_DIV, KS_EW_POW, KS_EW_MIN, KS_EW_MAX,
    KS_EW_ADDC, KS_EW_MULC, KS_EW_RSUBC, KS_EW_RDIVC, KS_EW_POWC, /* with scalar imm */
    KS_EW_PRELU,     /* a >= 0 ? a : a * b */
    KS_EW_OP_COUNT
};
#define KS_EW_MAX_INSTR 12
/* SEGMAP layers (docs/format.md): at most 4 parts, 7 constants, 11 instructions in all */
#define KS_SEG_MAX_PARTS 4
#define KS_SEG_MAX_CONST 7
#define KS_SEG_MAX_INSTR 11

/* Pool modes. */
enum { KS_POOL_MAX = 0, KS_POOL_AVG, KS_POOL_AVG_EXCL_PAD };

/* Resize (ip[0]: 0 nearest, 1 linear) uses tap tables made at build. Pad
 * modes are ks_pad_mode (graph/params_nn.h): 0 constant, 1 reflect, 2 edge. */
#define KS_ENG_PAD_CONSTANT 0
#define KS_ENG_PAD_REFLECT 1
#define KS_ENG_PAD_EDGE 2

typedef struct ks_eng_tensor {
    uint32_t name;      /* string table offset */
    int32_t dtype;      /* ks_dtype */
    int32_t ndim;
    int32_t storage;    /* ks_eng_storage */
    int64_t dims[KS_MAX_DIMS];
    int64_t offset;     /* see ks_eng_storage */
    int64_t bytes;      /* numel * dtype size */
    int32_t root;       /* VIEW: root tensor id; else own id */
    int32_t reserved;
} ks_eng_tensor;

typedef struct ks_eng_layer {
    uint32_t name;      /* string table offset ("conv1+relu1") */
    int32_t kind;       /* ks_layer_kind */
    int32_t tactic;     /* ks_tactic */
    int32_t dtype;      /* compute dtype: FLOAT32 or FLOAT16 */
    int32_t n_in, n_out;
    int32_t in[KS_ENG_MAX_IN];   /* tensor ids; -1 = absent */
    int32_t out[KS_ENG_MAX_OUT];
    int32_t act;        /* fused activation (ks_act) */
    int32_t algo;       /* tactic detail (cuDNN algo) */
    float act_a, act_b;
    int64_t ip[KS_ENG_N_IP];     /* int parameters (per kind) */
    float fp[KS_ENG_N_FP];       /* float parameters (per kind) */
    int64_t workspace_bytes;
} ks_eng_layer;

typedef struct ks_eng_desc {
    ks_context *ctx;
    /* header facts */
    uint32_t lib_version;     /* major<<16 | minor<<8 | patch */
    uint32_t sm;              /* e.g. 90 */
    uint32_t cuda_version;    /* cudart version (e.g. 13000) */
    uint32_t cudnn_version;   /* e.g. 91900 */
    uint32_t precision;       /* ks_precision of the build */
    uint32_t build_flags;     /* disabled passes mask */
    int32_t n_inputs, n_outputs;
    int32_t *bindings;        /* tensor id per binding (inputs then outputs) */
    int64_t arena_bytes, workspace_bytes, staging_bytes, naive_bytes;
    int64_t batch_separable;  /* 1 if only the batch dim may vary */
    ks_eng_tensor *tensors; int32_t n_tensors, cap_tensors;
    ks_eng_layer *layers; int32_t n_layers, cap_layers;
    char *strings; uint32_t n_strings_bytes, cap_strings;
    uint8_t *weights; int64_t n_weight_bytes, cap_weights;
    /* plugins section: parameter bytes of plugin layers (host only) */
    uint8_t *plugin_data; int64_t n_plugin_bytes, cap_plugin_bytes;
} ks_eng_desc;

/* Plugin layers (kind PLUGIN, src/format/engine_plugin.c). ip[] holds: */
#define KS_ENG_PLUGIN_IP_NAME 0      /* string offset of the plugin name */
#define KS_ENG_PLUGIN_IP_NS 1        /* string offset of its namespace */
#define KS_ENG_PLUGIN_IP_VERSION 2   /* plugin version */
#define KS_ENG_PLUGIN_IP_OFFSET 3    /* parameter bytes: offset in the plugins section */
#define KS_ENG_PLUGIN_IP_BYTES 4     /* ... and count */

struct ks_plugin_node;
/* Appends a plugin layer for plugin node pn (serialized into the plugins
 * section); its inputs/outputs are left for the caller. *layer_index gets
 * the new layer's index. */
ks_status ks__eng_add_plugin_layer(ks_eng_desc *d, const char *name,
                                   const struct ks_plugin_node *pn, int *layer_index);
/* Makes the plugin instance of plugin layer li from the loading context's
 * registry (d->ctx): NOT_FOUND when the plugin is not registered,
 * VERSION_MISMATCH for another version (messages name layer and plugin).
 * Then checks the plugin agrees with the layer's tensors (dtypes it
 * supports, output shapes from its shape inference, workspace within the
 * layer's): CORRUPT_FILE otherwise. Free with ks__plugin_node_free. */
ks_status ks__eng_plugin_instantiate(const ks_eng_desc *d, int li, struct ks_plugin_node **out);
/* Fills ks_tensor views (dtype, dims; data NULL) of layer l's inputs and
 * outputs; absent inputs get dtype UNDEFINED. */
void ks__eng_layer_tensors(const ks_eng_desc *d, const ks_eng_layer *l, ks_tensor *in,
                           ks_tensor *out);

void ks__eng_desc_init(ks_eng_desc *d, ks_context *ctx);
void ks__eng_desc_free(ks_eng_desc *d);
/* Appends a string; returns its offset or UINT32_MAX on OOM. */
uint32_t ks__eng_add_string(ks_eng_desc *d, const char *s);
const char *ks__eng_str(const ks_eng_desc *d, uint32_t off);
/* Appends a tensor (zero-initialized but dtype/dims); returns id or -1. */
int ks__eng_add_tensor(ks_eng_desc *d, const char *name, ks_dtype dt, int ndim,
                       const int64_t *dims);
/* Appends a weight blob (64-byte aligned) and a WEIGHT tensor on it. */
int ks__eng_add_weight(ks_eng_desc *d, const char *name, ks_dtype dt, int ndim,
                       const int64_t *dims, const void *data);
/* Appends a layer; returns a pointer valid until the next add, or NULL. */
ks_eng_layer *ks__eng_add_layer(ks_eng_desc *d, ks_layer_kind kind, const char *name);
int64_t ks__eng_numel(const ks_eng_tensor *t);
/* An own:igemm config (a conv layer's ip[13], or its algo when ip[13] is 0): tile | split << 4 | cluster << 10
 * as in src/backends/cuda/kernels.h. 1 when the engine can run it: split 0 or 2..63; the tensor-core tiles (3..6,
 * 10..15) only in float16; a cluster only with tiles 10 and 13 and split 2, 4 or 8. */
int ks__eng_igemm_cfg_ok(int64_t cfg, int half);
/* Output columns per thread of the rolling-rows depthwise kernel (own:depthwise:4, conv_dw_roll.cu) for
 * this geometry, 0 when it cannot run it: 3x3 or 5x5, stride 1 or 2 (both axes), no dilation, left pad
 * kernel / 2, top pad <= kernel, ow a multiple of 4 with ow * stride <= iw, rows starting on the kernel's
 * load unit. 8 in float16 for 3x3 kernels where ow and the rows allow it, else 4. */
int ks__eng_dw_roll_ov(int64_t c, int64_t k, int64_t groups, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                       int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t iw, int64_t ow, int half);
/* The geometry rule of the window-staged tensor-core conv (own:direct:3..8, conv_win.cu): float16, groups 1,
 * stride 1 or 2 on both axes, kernel 1..7, dilation >= 1, iw a multiple of 8 (16-byte input rows). The kernel
 * checks its shared memory and 32-bit indices at launch besides. */
int ks__eng_conv_win_ok(int64_t groups, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                        int64_t iw, int half);
/* Shared memory of the tensor-core 1x1 conv (own:pointwise:1, conv_tc.cu) for c -> k channels, in bytes: the
 * weights [16-row tiles rounded up to the group of 1, 2 or 4][c rounded up to 16, + 8], two input tiles [c
 * rounded up to 16][256 + 8] halves, the epilogue staging 8 x [8][36] floats. The kernel sizes its launch by it. */
int64_t ks__eng_pw_tc_smem(int64_t c, int64_t k);
/* Its channel rule: c and k in 1..256 with that shared memory <= 200 KiB: up to 128 x 128, and 64 -> 255 (a
 * YOLO detect-head conv). */
int ks__eng_pw_tc_ok(int64_t c, int64_t k);
/* The same kernel with a segmap in its epilogue (a SEGMAP layer with tactic own:pointwise, docs/format.md): the
 * shared memory above plus each warp's [32 pixels][seg_c] float16 output buffer; the rule: pw_tc_ok, seg_c in
 * 1..256 dividing k, that shared memory <= 200 KiB (YOLOv5's 64 -> 3 x 85 head conv at the 80x80 level). */
int64_t ks__eng_pw_seg_smem(int64_t c, int64_t k, int64_t seg_c);
int ks__eng_pw_seg_ok(int64_t c, int64_t k, int64_t seg_c);
/* Bytes from the start of a segmap layer's first output row to the end of its last (layer algo = the image stride
 * in elements, 0 = rows packed): what it writes in its output's root, from the output's offset. */
int64_t ks__eng_segmap_span(const ks_eng_desc *d, const ks_eng_layer *l);
/* Root tensor of a view chain and the byte offset into it. */
int ks__eng_root(const ks_eng_desc *d, int t, int64_t *offset);

const char *ks__layer_kind_name(int k);
const char *ks__tactic_name(int t);
const char *ks__act_name(int a);

/* Serializes (ctx allocator). */
ks_status ks__eng_serialize(const ks_eng_desc *d, void **data, size_t *n_bytes);
/* Parses and validates; on success *d owns copies of everything. */
ks_status ks__eng_parse(ks_context *ctx, const void *data, size_t n_bytes, ks_eng_desc *d);
/* Structural validation of a description (tensor storage ranges, layer
 * tensor ids, per-kind parameters). CORRUPT_FILE with a message. */
ks_status ks__eng_validate(const ks_eng_desc *d);
/* Recomputes the checksums of a serialized file in place (tests use it to
 * reach the deeper validation after a corruption). */
void ks__eng_fix_checksums(void *data, size_t n_bytes);

uint32_t ks__crc32c(uint32_t crc, const void *data, size_t n);

#ifdef __cplusplus
}
#endif
#endif
