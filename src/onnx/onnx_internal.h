/* ONNX importer internals shared by onnx_import.c (graph walk) and
 * onnx_legacy.c (old op forms -> latest form). Internal header. */
#ifndef KS_ONNX_INTERNAL_H
#define KS_ONNX_INTERNAL_H
#include "graph/ir.h"
#include "onnx/onnx_pb.h"
#include "onnx/onnx_tensor.h"

/* How a value got defined (importer bookkeeping, indexed by value id). */
enum { KS_DEF_NONE = 0, KS_DEF_CONST, KS_DEF_INPUT, KS_DEF_NODE };

typedef struct ks_onnx_imp {
    ks_context *ctx;
    ks_graph *g;
    const char *source;
    const char *ext_dir;
    int opset; /* default-domain opset; 0 if the model imports none */
    const Onnx__ModelProto *model;
    uint8_t *def; /* KS_DEF_* per value id */
    int cap_def;
    int n_synth; /* counter for synthesized constant names */
} ks_onnx_imp;

/* A node being imported: inputs/outputs resolved to value ids, attributes
 * converted (owned here until added to the graph). Normalization edits it. */
typedef struct ks_onnx_pnode {
    const char *name;
    const char *op_type;
    const char *domain; /* "" = default domain */
    ks_op op;
    int opset;
    int n_in, cap_in;
    int *in; /* -1 = omitted optional input */
    int n_out;
    int *out;
    int n_attrs, cap_attrs;
    ks_attr *attrs;
    void *plugin;
} ks_onnx_pnode;

/* Error naming the node: "<file>: node 'x' (Op, opset N): ..." */
ks_status ks__onnx_pnode_error(ks_onnx_imp *im, const ks_onnx_pnode *pn, ks_status st,
                               const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
int ks__onnx_pnode_attr(const ks_onnx_pnode *pn, const char *name); /* index or -1 */
void ks__onnx_pnode_remove_attr(ks_onnx_imp *im, ks_onnx_pnode *pn, int idx);
/* Adds or replaces a STRING attribute. */
ks_status ks__onnx_pnode_set_attr_s(ks_onnx_imp *im, ks_onnx_pnode *pn, const char *name,
                                    const char *value);
/* Sets input slot pos (growing the input list with omitted inputs). */
ks_status ks__onnx_pnode_set_input(ks_onnx_imp *im, ks_onnx_pnode *pn, int pos, int id);
/* Adds a constant named "<node>/<what>" (made unique) holding a copy of t. */
ks_status ks__onnx_add_const(ks_onnx_imp *im, const ks_onnx_pnode *pn, const char *what,
                             const ks_tensor *t, int *id);
/* 1-D int64 / float constants (ndim 0 when scalar is set; n must be 1). */
ks_status ks__onnx_const_i64(ks_onnx_imp *im, const ks_onnx_pnode *pn, const char *what,
                             const int64_t *v, int64_t n, int scalar, int *id);
ks_status ks__onnx_const_f32(ks_onnx_imp *im, const ks_onnx_pnode *pn, const char *what,
                             const float *v, int64_t n, int scalar, int *id);

/* Rewrites old op forms into the latest one (see graph/ir.h). */
ks_status ks__onnx_normalize(ks_onnx_imp *im, ks_onnx_pnode *pn);
/* Checks the types of well-known attributes of default-domain ops. */
ks_status ks__onnx_check_attr_types(ks_onnx_imp *im, const ks_onnx_pnode *pn);
/* For models below opset 7: rejects ops whose semantics changed between
 * the model's opset and 7 (others are read as their opset-7 form). */
ks_status ks__onnx_check_old_opset(ks_onnx_imp *im, const ks_onnx_pnode *pn);
#endif
