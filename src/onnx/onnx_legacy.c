/* Old ONNX op forms -> the latest form the IR uses (see graph/ir.h), plus
 * attribute type checks for well-known attributes and the opset < 7 gate.
 *
 *   Slice-1        starts/ends/axes attrs        -> int64 inputs 1..3
 *   Clip-6         min/max attrs                 -> scalar inputs 1, 2
 *   Pad-2          pads/value attrs              -> inputs 1, 2 (mode kept)
 *   Split-2..11    split attr                    -> int64 input 1
 *   (Un)Squeeze<13 axes attr                     -> int64 input 1
 *   Reduce*<18, ReduceSum<13  axes attr          -> int64 input 1
 *   TopK-1         k attr                        -> int64 [1] input 1
 *   Dropout<12     ratio attr                    -> float input 1
 *   Upsample-7/9   -> Resize(X, roi=none, scales), mode nearest|linear,
 *                  coordinate_transformation_mode asymmetric, nearest_mode floor
 *   Resize-10      (X, scales) -> (X, roi=none, scales), asymmetric; nearest
 *                  rounds down when upsampling and up when downsampling
 *                  (onnxruntime's Resize-10 behaviour)
 *   BatchNormalization spatial=1 / is_test / consumed_inputs: dropped */
#include <float.h>
#include <stdio.h>
#include <string.h>

#include "onnx/onnx_internal.h"

/* ---------------------------------------------------------------- helpers */

static const ks_attr *attr(const ks_onnx_pnode *pn, const char *name) {
    int i = ks__onnx_pnode_attr(pn, name);
    return i < 0 ? NULL : &pn->attrs[i];
}

static int input_present(const ks_onnx_pnode *pn, int pos) {
    return pos < pn->n_in && pn->in[pos] >= 0;
}

/* Moves an INTS attribute to input `pos` as a 1-D int64 constant. Absent
 * attribute: input left omitted unless required. */
static ks_status ints_attr_to_input(ks_onnx_imp *im, ks_onnx_pnode *pn, const char *name, int pos,
                                    int required) {
    int i = ks__onnx_pnode_attr(pn, name);
    if (i < 0) {
        if (required && !input_present(pn, pos))
            return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL,
                                        "required attribute '%s' is missing", name);
        return KS_OK;
    }
    const ks_attr *a = &pn->attrs[i];
    if (a->type != KS_ATTR_INTS)
        return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL,
                                    "attribute '%s' must be a list of ints", name);
    if (input_present(pn, pos))
        return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL,
                                    "'%s' is given both as attribute and as input %d", name, pos);
    int id;
    KS_CHECK(ks__onnx_const_i64(im, pn, name, a->ints, a->n, 0, &id));
    KS_CHECK(ks__onnx_pnode_set_input(im, pn, pos, id));
    ks__onnx_pnode_remove_attr(im, pn, i);
    return KS_OK;
}

/* dtype of input `pos` when the importer already knows it (constant or
 * graph input), else `def`. */
static ks_dtype input_dtype(ks_onnx_imp *im, const ks_onnx_pnode *pn, int pos, ks_dtype def) {
    if (!input_present(pn, pos))
        return def;
    const ks_value *v = &im->g->values[pn->in[pos]];
    if ((im->def[pn->in[pos]] == KS_DEF_CONST || im->def[pn->in[pos]] == KS_DEF_INPUT) &&
        v->t.dtype != KS_DTYPE_UNDEFINED)
        return v->t.dtype;
    return def;
}

/* A scalar constant of dtype dt holding v (float dtypes only; others get
 * float32, which the kernels read through ks__tensor_get_f64). */
static ks_status scalar_const(ks_onnx_imp *im, const ks_onnx_pnode *pn, const char *what,
                              ks_dtype dt, double v, int *id) {
    uint8_t buf[8];
    ks_tensor t;
    memset(&t, 0, sizeof t);
    t.ndim = 0;
    t.data = buf;
    switch (dt) {
    case KS_DTYPE_FLOAT64: {
        t.dtype = dt;
        memcpy(buf, &v, 8);
        break;
    }
    case KS_DTYPE_FLOAT16: {
        t.dtype = dt;
        uint16_t h = ks_float_to_half((float)v);
        memcpy(buf, &h, 2);
        break;
    }
    default: {
        t.dtype = KS_DTYPE_FLOAT32;
        float f = (float)v;
        memcpy(buf, &f, 4);
        break;
    }
    }
    return ks__onnx_add_const(im, pn, what, &t, id);
}

/* ---------------------------------------------------------------- per op */

static ks_status norm_slice1(ks_onnx_imp *im, ks_onnx_pnode *pn) {
    if (pn->n_in > 1)
        return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL,
                                    "Slice before opset 10 takes one input (starts/ends are "
                                    "attributes)");
    KS_CHECK(ints_attr_to_input(im, pn, "starts", 1, 1));
    KS_CHECK(ints_attr_to_input(im, pn, "ends", 2, 1));
    KS_CHECK(ints_attr_to_input(im, pn, "axes", 3, 0));
    return KS_OK;
}

static ks_status float_attr_to_scalar_input(ks_onnx_imp *im, ks_onnx_pnode *pn, const char *name,
                                            int pos, ks_dtype dt) {
    int i = ks__onnx_pnode_attr(pn, name);
    if (i < 0)
        return KS_OK;
    const ks_attr *a = &pn->attrs[i];
    if (a->type != KS_ATTR_FLOAT && a->type != KS_ATTR_INT)
        return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL, "attribute '%s' must be a float",
                                    name);
    if (input_present(pn, pos))
        return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL,
                                    "'%s' is given both as attribute and as input %d", name, pos);
    double v = a->type == KS_ATTR_FLOAT ? a->f : (double)a->i;
    int id;
    KS_CHECK(scalar_const(im, pn, name, dt, v, &id));
    KS_CHECK(ks__onnx_pnode_set_input(im, pn, pos, id));
    ks__onnx_pnode_remove_attr(im, pn, i);
    return KS_OK;
}

static ks_status norm_clip6(ks_onnx_imp *im, ks_onnx_pnode *pn) {
    ks_dtype dt = input_dtype(im, pn, 0, KS_DTYPE_FLOAT32);
    KS_CHECK(float_attr_to_scalar_input(im, pn, "min", 1, dt));
    KS_CHECK(float_attr_to_scalar_input(im, pn, "max", 2, dt));
    return KS_OK;
}

static ks_status norm_pad2(ks_onnx_imp *im, ks_onnx_pnode *pn) {
    KS_CHECK(ints_attr_to_input(im, pn, "pads", 1, 1));
    ks_dtype dt = input_dtype(im, pn, 0, KS_DTYPE_FLOAT32);
    KS_CHECK(float_attr_to_scalar_input(im, pn, "value", 2, dt));
    return KS_OK;
}

static ks_status norm_topk1(ks_onnx_imp *im, ks_onnx_pnode *pn) {
    int i = ks__onnx_pnode_attr(pn, "k");
    if (i < 0) {
        if (!input_present(pn, 1))
            return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL,
                                        "required attribute 'k' is missing");
        return KS_OK;
    }
    if (pn->attrs[i].type != KS_ATTR_INT)
        return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL, "attribute 'k' must be an int");
    int64_t k = pn->attrs[i].i;
    int id;
    KS_CHECK(ks__onnx_const_i64(im, pn, "k", &k, 1, 0, &id));
    KS_CHECK(ks__onnx_pnode_set_input(im, pn, 1, id));
    ks__onnx_pnode_remove_attr(im, pn, i);
    return KS_OK;
}

static ks_status norm_dropout(ks_onnx_imp *im, ks_onnx_pnode *pn) {
    ks__onnx_pnode_remove_attr(im, pn, ks__onnx_pnode_attr(pn, "is_test"));
    if (pn->opset < 12)
        KS_CHECK(float_attr_to_scalar_input(im, pn, "ratio", 1, KS_DTYPE_FLOAT32));
    return KS_OK;
}

static ks_status norm_batch_norm(ks_onnx_imp *im, ks_onnx_pnode *pn) {
    const ks_attr *sp = attr(pn, "spatial");
    if (sp && sp->type == KS_ATTR_INT && sp->i == 0)
        return ks__onnx_pnode_error(im, pn, KS_UNSUPPORTED_ATTR,
                                    "spatial=0 (per-activation statistics) is not supported");
    ks__onnx_pnode_remove_attr(im, pn, ks__onnx_pnode_attr(pn, "spatial"));
    ks__onnx_pnode_remove_attr(im, pn, ks__onnx_pnode_attr(pn, "is_test"));
    return KS_OK;
}

/* Mode of Upsample / Resize-10: nearest or linear ("bilinear" from old
 * exporters is linear). */
static ks_status old_resize_mode(ks_onnx_imp *im, ks_onnx_pnode *pn) {
    const ks_attr *m = attr(pn, "mode");
    const char *mode = (m && m->type == KS_ATTR_STRING && m->s) ? m->s : "nearest";
    if (!strcmp(mode, "bilinear"))
        mode = "linear";
    if (strcmp(mode, "nearest") != 0 && strcmp(mode, "linear") != 0)
        return ks__onnx_pnode_error(im, pn, KS_UNSUPPORTED_ATTR, "mode '%s' is not supported",
                                    mode);
    char buf[16];
    strcpy(buf, mode);
    return ks__onnx_pnode_set_attr_s(im, pn, "mode", buf);
}

static ks_status norm_upsample(ks_onnx_imp *im, ks_onnx_pnode *pn) {
    KS_CHECK(old_resize_mode(im, pn));
    int scales_id = -1;
    if (pn->opset < 9) {
        int i = ks__onnx_pnode_attr(pn, "scales");
        if (i < 0 || pn->attrs[i].type != KS_ATTR_FLOATS)
            return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL,
                                        "Upsample before opset 9 needs a 'scales' attribute "
                                        "(list of floats)");
        KS_CHECK(ks__onnx_const_f32(im, pn, "scales", pn->attrs[i].floats, pn->attrs[i].n, 0,
                                    &scales_id));
        ks__onnx_pnode_remove_attr(im, pn, i);
        if (pn->n_in != 1)
            return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL, "expected 1 input, got %d",
                                        pn->n_in);
    } else {
        if (pn->n_in != 2 || pn->in[1] < 0)
            return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL,
                                        "expected inputs (X, scales), got %d inputs", pn->n_in);
        scales_id = pn->in[1];
    }
    /* drop the old attributes 'height_scale'/'width_scale' (Upsample-1) */
    ks__onnx_pnode_remove_attr(im, pn, ks__onnx_pnode_attr(pn, "height_scale"));
    ks__onnx_pnode_remove_attr(im, pn, ks__onnx_pnode_attr(pn, "width_scale"));
    pn->n_in = 1;
    KS_CHECK(ks__onnx_pnode_set_input(im, pn, 1, -1));
    KS_CHECK(ks__onnx_pnode_set_input(im, pn, 2, scales_id));
    KS_CHECK(ks__onnx_pnode_set_attr_s(im, pn, "coordinate_transformation_mode", "asymmetric"));
    KS_CHECK(ks__onnx_pnode_set_attr_s(im, pn, "nearest_mode", "floor"));
    pn->op_type = "Resize";
    pn->op = KS_OP_RESIZE;
    return KS_OK;
}

static ks_status norm_resize10(ks_onnx_imp *im, ks_onnx_pnode *pn) {
    KS_CHECK(old_resize_mode(im, pn));
    if (pn->n_in != 2 || pn->in[1] < 0)
        return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL,
                                    "Resize-10 expects inputs (X, scales), got %d inputs",
                                    pn->n_in);
    int scales_id = pn->in[1];
    /* onnxruntime's Resize-10 nearest: floor when upsampling, ceil when
     * downsampling. Expressible when the scales are constant and agree. */
    const char *nearest = "floor";
    const ks_value *sv = &im->g->values[scales_id];
    if (im->def[scales_id] == KS_DEF_CONST && sv->t.dtype == KS_DTYPE_FLOAT32 && sv->t.data) {
        int64_t n = ks_tensor_numel(&sv->t);
        int down = 0, up = 0;
        for (int64_t i = 0; i < n; i++) {
            float s = ((const float *)sv->t.data)[i];
            down += s < 1.0f;
            up += s > 1.0f;
        }
        if (down && !up)
            nearest = "ceil";
    }
    pn->n_in = 1;
    KS_CHECK(ks__onnx_pnode_set_input(im, pn, 1, -1));
    KS_CHECK(ks__onnx_pnode_set_input(im, pn, 2, scales_id));
    KS_CHECK(ks__onnx_pnode_set_attr_s(im, pn, "coordinate_transformation_mode", "asymmetric"));
    KS_CHECK(ks__onnx_pnode_set_attr_s(im, pn, "nearest_mode", nearest));
    return KS_OK;
}

ks_status ks__onnx_normalize(ks_onnx_imp *im, ks_onnx_pnode *pn) {
    int v = pn->opset;
    /* consumed_inputs (opset < 6) was an optimization hint only. */
    ks__onnx_pnode_remove_attr(im, pn, ks__onnx_pnode_attr(pn, "consumed_inputs"));
    switch (pn->op) {
    case KS_OP_SLICE:
        return v < 10 ? norm_slice1(im, pn) : KS_OK;
    case KS_OP_CLIP:
        return v < 11 ? norm_clip6(im, pn) : KS_OK;
    case KS_OP_PAD:
        return v < 11 ? norm_pad2(im, pn) : KS_OK;
    case KS_OP_SPLIT:
        return v < 13 ? ints_attr_to_input(im, pn, "split", 1, 0) : KS_OK;
    case KS_OP_SQUEEZE:
    case KS_OP_UNSQUEEZE:
        return v < 13 ? ints_attr_to_input(im, pn, "axes", 1, pn->op == KS_OP_UNSQUEEZE) : KS_OK;
    case KS_OP_REDUCE_SUM:
        return v < 13 ? ints_attr_to_input(im, pn, "axes", 1, 0) : KS_OK;
    case KS_OP_REDUCE_MEAN:
    case KS_OP_REDUCE_MAX:
    case KS_OP_REDUCE_MIN:
    case KS_OP_REDUCE_PROD:
    case KS_OP_REDUCE_L2:
        return v < 18 ? ints_attr_to_input(im, pn, "axes", 1, 0) : KS_OK;
    case KS_OP_TOP_K:
        return v < 10 ? norm_topk1(im, pn) : KS_OK;
    case KS_OP_DROPOUT:
        return norm_dropout(im, pn);
    case KS_OP_BATCH_NORM:
        return norm_batch_norm(im, pn);
    case KS_OP_RESIZE:
        if (!strcmp(pn->op_type, "Upsample"))
            return norm_upsample(im, pn);
        return v < 11 ? norm_resize10(im, pn) : KS_OK;
    default:
        return KS_OK;
    }
}

/* ---------------------------------------------------------------- old opsets */

/* Ops whose semantics changed at some opset <= 7 (beyond dropping
 * consumed_inputs): a model below that opset uses a form we do not read. */
static const struct {
    const char *op;
    int changed_at;
} old_forms[] = {
    {"Add", 7},     {"Sub", 7},      {"Mul", 7},
    {"Div", 7},     {"Pow", 7},      {"Gemm", 7},
    {"Equal", 7},   {"Greater", 7},  {"Less", 7},
    {"And", 7},     {"Or", 7},       {"Xor", 7},
    {"PRelu", 7},   {"Upsample", 7}, {"Cast", 6},
    {"Tile", 6},    {"Reshape", 5},  {"Concat", 4},
    {"Pad", 2},     {"Split", 2},    {"BatchNormalization", 6},
    {"Dropout", 6},
};

ks_status ks__onnx_check_old_opset(ks_onnx_imp *im, const ks_onnx_pnode *pn) {
    if (pn->opset >= 7)
        return KS_OK;
    for (size_t i = 0; i < KS_ARRAY_LEN(old_forms); i++)
        if (!strcmp(pn->op_type, old_forms[i].op) && pn->opset < old_forms[i].changed_at)
            return ks__onnx_pnode_error(im, pn, KS_VERSION_MISMATCH,
                                        "the opset %d form of %s is not supported (opset 7..21 "
                                        "is)",
                                        pn->opset, pn->op_type);
    return KS_OK;
}

/* ---------------------------------------------------------------- attribute types */

/* Expected types of well-known attributes. Entries with an op apply to that
 * op only and take precedence over the generic (op NULL) entries. Unknown
 * attributes are kept unchecked. */
static const struct {
    const char *op;
    const char *name;
    ks_attr_type type;
} attr_types[] = {
    {"Pad", "value", KS_ATTR_FLOAT},
    {"Constant", "value", KS_ATTR_TENSOR},
    {"ConstantOfShape", "value", KS_ATTR_TENSOR},
    {"LRN", "size", KS_ATTR_INT},
    {"LRN", "bias", KS_ATTR_FLOAT},
    {"Shape", "start", KS_ATTR_INT},
    {"Shape", "end", KS_ATTR_INT},
    {"Upsample", "scales", KS_ATTR_FLOATS},
    {"Dropout", "seed", KS_ATTR_INT},
    {"Clip", "min", KS_ATTR_FLOAT},
    {"Clip", "max", KS_ATTR_FLOAT},
    {"TopK", "k", KS_ATTR_INT},
    {"Split", "split", KS_ATTR_INTS},
    {"Cast", "to", KS_ATTR_INT},
    {"Gelu", "approximate", KS_ATTR_STRING},
    {"Mod", "fmod", KS_ATTR_INT},
    {NULL, "axis", KS_ATTR_INT},
    {NULL, "axes", KS_ATTR_INTS},
    {NULL, "keepdims", KS_ATTR_INT},
    {NULL, "kernel_shape", KS_ATTR_INTS},
    {NULL, "strides", KS_ATTR_INTS},
    {NULL, "pads", KS_ATTR_INTS},
    {NULL, "dilations", KS_ATTR_INTS},
    {NULL, "group", KS_ATTR_INT},
    {NULL, "auto_pad", KS_ATTR_STRING},
    {NULL, "alpha", KS_ATTR_FLOAT},
    {NULL, "beta", KS_ATTR_FLOAT},
    {NULL, "gamma", KS_ATTR_FLOAT},
    {NULL, "epsilon", KS_ATTR_FLOAT},
    {NULL, "momentum", KS_ATTR_FLOAT},
    {NULL, "perm", KS_ATTR_INTS},
    {NULL, "mode", KS_ATTR_STRING},
    {NULL, "transA", KS_ATTR_INT},
    {NULL, "transB", KS_ATTR_INT},
    {NULL, "starts", KS_ATTR_INTS},
    {NULL, "ends", KS_ATTR_INTS},
    {NULL, "ceil_mode", KS_ATTR_INT},
    {NULL, "count_include_pad", KS_ATTR_INT},
    {NULL, "storage_order", KS_ATTR_INT},
    {NULL, "output_padding", KS_ATTR_INTS},
    {NULL, "output_shape", KS_ATTR_INTS},
    {NULL, "largest", KS_ATTR_INT},
    {NULL, "sorted", KS_ATTR_INT},
    {NULL, "select_last_index", KS_ATTR_INT},
    {NULL, "coordinate_transformation_mode", KS_ATTR_STRING},
    {NULL, "nearest_mode", KS_ATTR_STRING},
    {NULL, "cubic_coeff_a", KS_ATTR_FLOAT},
    {NULL, "exclude_outside", KS_ATTR_INT},
    {NULL, "extrapolation_value", KS_ATTR_FLOAT},
    {NULL, "noop_with_empty_axes", KS_ATTR_INT},
    {NULL, "num_outputs", KS_ATTR_INT},
    {NULL, "allowzero", KS_ATTR_INT},
    {NULL, "blocksize", KS_ATTR_INT},
    {NULL, "spatial", KS_ATTR_INT},
    {NULL, "is_test", KS_ATTR_INT},
    {NULL, "training_mode", KS_ATTR_INT},
    {NULL, "saturate", KS_ATTR_INT},
    {NULL, "ratio", KS_ATTR_FLOAT},
    {NULL, "lambd", KS_ATTR_FLOAT},
    {NULL, "antialias", KS_ATTR_INT},
    {NULL, "keep_aspect_ratio_policy", KS_ATTR_STRING},
};

static const char *ks_attr_type_name(ks_attr_type t) {
    static const char *const names[] = {"UNDEFINED", "FLOAT",  "INT",  "STRING",
                                        "TENSOR",    "FLOATS", "INTS", "STRINGS"};
    return (unsigned)t < KS_ARRAY_LEN(names) ? names[t] : "?";
}

ks_status ks__onnx_check_attr_types(ks_onnx_imp *im, const ks_onnx_pnode *pn) {
    if (*pn->domain)
        return KS_OK;
    for (int a = 0; a < pn->n_attrs; a++) {
        const ks_attr *at = &pn->attrs[a];
        int found = 0;
        ks_attr_type want = KS_ATTR_UNDEFINED;
        for (size_t i = 0; i < KS_ARRAY_LEN(attr_types) && !found; i++) {
            if (attr_types[i].op && !strcmp(attr_types[i].op, pn->op_type) &&
                !strcmp(attr_types[i].name, at->name)) {
                found = 1;
                want = attr_types[i].type;
            }
        }
        for (size_t i = 0; i < KS_ARRAY_LEN(attr_types) && !found; i++) {
            if (!attr_types[i].op && !strcmp(attr_types[i].name, at->name)) {
                found = 1;
                want = attr_types[i].type;
            }
        }
        if (found && at->type != want)
            return ks__onnx_pnode_error(im, pn, KS_INVALID_MODEL,
                                        "attribute '%s' has type %s; expected %s", at->name,
                                        ks_attr_type_name(at->type), ks_attr_type_name(want));
    }
    return KS_OK;
}
