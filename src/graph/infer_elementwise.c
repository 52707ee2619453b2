/* Shape inference: activations, softmax, Clip, broadcasting arithmetic,
 * unary math, comparisons and logic, Where.
 *
 * Unknown dims (-1) and unknown rank (ndim -1) flow through: broadcasting
 * follows ks__broadcast_shape's rule (-1 against 1 or -1 stays -1, against
 * a concrete d > 1 becomes d). Errors only for inputs that cannot be valid. */
#include <string.h>

#include "backends/cpu/elementwise.h"
#include "graph/ir.h"

static ks_status need_inputs(ks_op_ctx *oc, int n_min) {
    if (oc->n_in < n_min)
        return ks__op_error(oc, KS_INVALID_MODEL, "expects at least %d input(s), has %d", n_min,
                            oc->n_in);
    for (int i = 0; i < n_min; i++)
        if (!oc->in[i])
            return ks__op_error(oc, KS_INVALID_MODEL, "input %d is missing", i);
    if (oc->n_out < 1 || !oc->out[0])
        return ks__op_error(oc, KS_INVALID_MODEL, "has no output");
    return KS_OK;
}

static void copy_shape(ks_tensor *dst, const ks_tensor *src) {
    dst->ndim = src->ndim;
    if (src->ndim > 0)
        memcpy(dst->dims, src->dims, sizeof(int64_t) * (size_t)src->ndim);
}

/* output = input 0's dtype and shape */
static ks_status infer_same(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 1));
    oc->out[0]->dtype = oc->in[0]->dtype;
    copy_shape(oc->out[0], oc->in[0]);
    return KS_OK;
}

/* output shape = broadcast of inputs [first, first + n); present inputs only */
static ks_status infer_bcast(ks_op_ctx *oc, int first, int n, ks_dtype dtype) {
    int64_t dims[KS_MAX_DIMS];
    int nd = 0;
    for (int i = first; i < first + n; i++) {
        const ks_tensor *t = oc->in[i];
        char s1[96], s2[96];
        if (ks__broadcast_shape(dims, nd, t->dims, t->ndim, dims, &nd) != KS_OK)
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                                "input %d shape %s does not broadcast with %s", i,
                                ks_shape_str(t->dims, t->ndim, s1, sizeof s1),
                                ks_shape_str(dims, nd, s2, sizeof s2));
        if (nd < 0)
            break;
    }
    ks_tensor *out = oc->out[0];
    out->dtype = dtype;
    out->ndim = nd;
    if (nd > 0)
        memcpy(out->dims, dims, sizeof(int64_t) * (size_t)nd);
    return KS_OK;
}

/* all inputs in [first, first+n) share one dtype (undefined = not known
 * yet during static inference, accepted) */
static ks_status same_dtypes(ks_op_ctx *oc, int first, int n) {
    for (int i = first + 1; i < first + n; i++)
        if (oc->in[i]->dtype != oc->in[first]->dtype &&
            oc->in[i]->dtype != KS_DTYPE_UNDEFINED && oc->in[first]->dtype != KS_DTYPE_UNDEFINED)
            return ks__op_error(oc, KS_INVALID_MODEL, "input %d has dtype %s, input %d has %s", i,
                                ks_dtype_name(oc->in[i]->dtype), first,
                                ks_dtype_name(oc->in[first]->dtype));
    return KS_OK;
}

/* Binary / variadic arithmetic: same dtypes, broadcast shapes. */
static ks_status infer_arith(ks_op_ctx *oc, int variadic) {
    KS_CHECK(need_inputs(oc, variadic ? 1 : 2));
    if (!variadic && oc->n_in != 2)
        return ks__op_error(oc, KS_INVALID_MODEL, "expects 2 inputs, has %d", oc->n_in);
    for (int i = 0; i < oc->n_in; i++)
        if (!oc->in[i])
            return ks__op_error(oc, KS_INVALID_MODEL, "input %d is missing", i);
    KS_CHECK(same_dtypes(oc, 0, oc->n_in));
    return infer_bcast(oc, 0, oc->n_in, oc->in[0]->dtype);
}

/* --- activations and unary math: same dtype and shape --- */
#define SAME(fn) \
    ks_status ks__infer_##fn(ks_op_ctx *oc) { return infer_same(oc); }
SAME(relu)
SAME(leaky_relu)
SAME(sigmoid)
SAME(tanh)
SAME(hard_sigmoid)
SAME(hard_swish)
SAME(elu)
SAME(selu)
SAME(softplus)
SAME(softsign)
SAME(mish)
SAME(erf)
SAME(exp)
SAME(log)
SAME(sqrt)
SAME(reciprocal)
SAME(neg)
SAME(abs)
SAME(sign)
SAME(floor)
SAME(ceil)
SAME(round)
SAME(sin)
SAME(cos)
#undef SAME

ks_status ks__infer_gelu(ks_op_ctx *oc) {
    const char *approx = ks__attr_s(oc->node, "approximate", "none");
    if (strcmp(approx, "none") != 0 && strcmp(approx, "tanh") != 0)
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR, "approximate='%s' (expected none or tanh)",
                            approx);
    return infer_same(oc);
}

static ks_status infer_softmax(ks_op_ctx *oc) {
    KS_CHECK(infer_same(oc));
    int rank = oc->in[0]->ndim, axis;
    int legacy = oc->node->opset > 0 && oc->node->opset < 13;
    int64_t a = ks__attr_i(oc->node, "axis", legacy ? 1 : -1);
    if (rank > 0 && !ks__norm_axis(a, rank, &axis))
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR, "axis %lld out of range for rank %d",
                            (long long)a, rank);
    return KS_OK;
}
ks_status ks__infer_softmax(ks_op_ctx *oc) { return infer_softmax(oc); }
ks_status ks__infer_log_softmax(ks_op_ctx *oc) { return infer_softmax(oc); }

ks_status ks__infer_clip(ks_op_ctx *oc) {
    KS_CHECK(infer_same(oc));
    for (int i = 1; i < oc->n_in && i < 3; i++) {
        const ks_tensor *b = oc->in[i];
        if (!b)
            continue;
        if (b->dtype != oc->in[0]->dtype)
            return ks__op_error(oc, KS_INVALID_MODEL, "%s has dtype %s, input has %s",
                                i == 1 ? "min" : "max", ks_dtype_name(b->dtype),
                                ks_dtype_name(oc->in[0]->dtype));
        int64_t n = ks_tensor_numel(b);
        if (b->ndim >= 0 && n >= 0 && n != 1)
            return ks__op_error(oc, KS_INVALID_MODEL, "%s must be a scalar",
                                i == 1 ? "min" : "max");
    }
    return KS_OK;
}

ks_status ks__infer_prelu(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 2));
    KS_CHECK(infer_same(oc));
    const ks_tensor *x = oc->in[0], *s = oc->in[1];
    ks_tensor view;
    if (x->ndim >= 0 && s->ndim >= 0 && !ks__prelu_slope_view(x, s, &view)) {
        char s1[96], s2[96];
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "slope %s does not broadcast to X %s",
                            ks_shape_str(s->dims, s->ndim, s1, sizeof s1),
                            ks_shape_str(x->dims, x->ndim, s2, sizeof s2));
    }
    return same_dtypes(oc, 0, 2);
}

/* --- broadcasting arithmetic --- */
ks_status ks__infer_add(ks_op_ctx *oc) { return infer_arith(oc, 0); }
ks_status ks__infer_sub(ks_op_ctx *oc) { return infer_arith(oc, 0); }
ks_status ks__infer_mul(ks_op_ctx *oc) { return infer_arith(oc, 0); }
ks_status ks__infer_div(ks_op_ctx *oc) { return infer_arith(oc, 0); }
ks_status ks__infer_mod(ks_op_ctx *oc) { return infer_arith(oc, 0); }
ks_status ks__infer_min(ks_op_ctx *oc) { return infer_arith(oc, 1); }
ks_status ks__infer_max(ks_op_ctx *oc) { return infer_arith(oc, 1); }
ks_status ks__infer_sum(ks_op_ctx *oc) { return infer_arith(oc, 1); }
ks_status ks__infer_mean(ks_op_ctx *oc) { return infer_arith(oc, 1); }

/* Pow: base and exponent may differ in dtype; output takes the base's. */
ks_status ks__infer_pow(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 2));
    return infer_bcast(oc, 0, 2, oc->in[0]->dtype);
}

/* --- comparisons and logic: bool output --- */
static ks_status infer_cmp(ks_op_ctx *oc, int bool_only) {
    KS_CHECK(need_inputs(oc, 2));
    KS_CHECK(same_dtypes(oc, 0, 2));
    if (bool_only && oc->in[0]->dtype != KS_DTYPE_BOOL)
        return ks__op_error(oc, KS_INVALID_MODEL, "inputs must be bool, got %s",
                            ks_dtype_name(oc->in[0]->dtype));
    return infer_bcast(oc, 0, 2, KS_DTYPE_BOOL);
}
ks_status ks__infer_equal(ks_op_ctx *oc) { return infer_cmp(oc, 0); }
ks_status ks__infer_greater(ks_op_ctx *oc) { return infer_cmp(oc, 0); }
ks_status ks__infer_greater_or_equal(ks_op_ctx *oc) { return infer_cmp(oc, 0); }
ks_status ks__infer_less(ks_op_ctx *oc) { return infer_cmp(oc, 0); }
ks_status ks__infer_less_or_equal(ks_op_ctx *oc) { return infer_cmp(oc, 0); }
ks_status ks__infer_and(ks_op_ctx *oc) { return infer_cmp(oc, 1); }
ks_status ks__infer_or(ks_op_ctx *oc) { return infer_cmp(oc, 1); }
ks_status ks__infer_xor(ks_op_ctx *oc) { return infer_cmp(oc, 1); }

ks_status ks__infer_not(ks_op_ctx *oc) {
    KS_CHECK(infer_same(oc));
    if (oc->in[0]->dtype != KS_DTYPE_BOOL)
        return ks__op_error(oc, KS_INVALID_MODEL, "input must be bool, got %s",
                            ks_dtype_name(oc->in[0]->dtype));
    return KS_OK;
}

ks_status ks__infer_where(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 3));
    if (oc->in[0]->dtype != KS_DTYPE_BOOL)
        return ks__op_error(oc, KS_INVALID_MODEL, "condition must be bool, got %s",
                            ks_dtype_name(oc->in[0]->dtype));
    KS_CHECK(same_dtypes(oc, 1, 2));
    return infer_bcast(oc, 0, 3, oc->in[1]->dtype);
}
