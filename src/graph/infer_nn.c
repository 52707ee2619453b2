/* Shape inference for the nn op family (Conv, ConvTranspose, norms, pools,
 * Resize, MatMul, Gemm, Pad, LRN). Geometry comes from params_nn.c so the
 * kernels and the CUDA backend see the same numbers. */
#include <string.h>

#include "graph/params_nn.h"

static const ks_tensor *in_at(const ks_op_ctx *oc, int i) {
    return i < oc->n_in ? oc->in[i] : NULL;
}

static ks_tensor *out_at(const ks_op_ctx *oc, int i) {
    return i < oc->n_out ? oc->out[i] : NULL;
}

static void set_unknown_rank(ks_tensor *o, ks_dtype dt) {
    o->dtype = dt;
    o->ndim = -1;
}

static void copy_shape(ks_tensor *o, const ks_tensor *x) {
    o->dtype = x->dtype;
    o->ndim = x->ndim;
    if (x->ndim > 0)
        memcpy(o->dims, x->dims, (size_t)x->ndim * sizeof(int64_t));
}

static ks_status need_input(const ks_op_ctx *oc, int i, const char *what) {
    if (!in_at(oc, i))
        return ks__op_error(oc, KS_INVALID_MODEL, "input %d (%s) is required", i, what);
    return KS_OK;
}

/* A 1-D per-channel input of length c (unknown lengths accepted). */
static ks_status check_channel_vec(const ks_op_ctx *oc, int i, const char *what, int64_t c) {
    const ks_tensor *t = in_at(oc, i);
    if (!t || t->ndim < 0)
        return KS_OK;
    if (t->ndim != 1 || (c >= 0 && t->dims[0] >= 0 && t->dims[0] != c))
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                            "%s must be a vector of %lld values "
                            "(has rank %d, dim0 %lld)",
                            what, (long long)c, t->ndim, (long long)(t->ndim > 0 ? t->dims[0] : 0));
    return KS_OK;
}

static void window_out_shape(ks_tensor *o, const ks_tensor *x, const ks_window_params *p,
                             int64_t channels) {
    o->dtype = x->dtype;
    if (p->n_spatial == 0) {
        o->ndim = -1;
        return;
    }
    o->ndim = p->n_spatial + 2;
    o->dims[0] = x->ndim >= 1 ? x->dims[0] : -1;
    o->dims[1] = channels;
    for (int i = 0; i < p->n_spatial; i++)
        o->dims[2 + i] = p->out[i];
}

ks_status ks__infer_conv(ks_op_ctx *oc) {
    KS_CHECK(need_input(oc, 0, "X"));
    KS_CHECK(need_input(oc, 1, "W"));
    ks_window_params p;
    KS_CHECK(ks__conv_params(oc, oc->in[0], oc->in[1], &p));
    KS_CHECK(check_channel_vec(oc, 2, "Conv: B", p.out_channels));
    window_out_shape(oc->out[0], oc->in[0], &p, p.out_channels);
    return KS_OK;
}

ks_status ks__infer_conv_transpose(ks_op_ctx *oc) {
    KS_CHECK(need_input(oc, 0, "X"));
    KS_CHECK(need_input(oc, 1, "W"));
    ks_window_params p;
    KS_CHECK(ks__conv_transpose_params(oc, oc->in[0], oc->in[1], &p));
    KS_CHECK(check_channel_vec(oc, 2, "ConvTranspose: B", p.out_channels));
    window_out_shape(oc->out[0], oc->in[0], &p, p.out_channels);
    return KS_OK;
}

ks_status ks__infer_max_pool(ks_op_ctx *oc) {
    KS_CHECK(need_input(oc, 0, "X"));
    ks_window_params p;
    KS_CHECK(ks__pool_params(oc, oc->in[0], &p));
    window_out_shape(oc->out[0], oc->in[0], &p, p.out_channels);
    ks_tensor *ind = out_at(oc, 1);
    if (ind) {
        if (p.n_spatial > 2)
            return ks__op_error(oc, KS_UNSUPPORTED_ATTR,
                                "MaxPool: the Indices output is only "
                                "supported for 1-D and 2-D pooling");
        window_out_shape(ind, oc->in[0], &p, p.out_channels);
        ind->dtype = KS_DTYPE_INT64;
    }
    return KS_OK;
}

ks_status ks__infer_average_pool(ks_op_ctx *oc) {
    KS_CHECK(need_input(oc, 0, "X"));
    ks_window_params p;
    KS_CHECK(ks__pool_params(oc, oc->in[0], &p));
    window_out_shape(oc->out[0], oc->in[0], &p, p.out_channels);
    return KS_OK;
}

static ks_status infer_global_pool(ks_op_ctx *oc) {
    KS_CHECK(need_input(oc, 0, "X"));
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    if (x->ndim < 0) {
        set_unknown_rank(o, x->dtype);
        return KS_OK;
    }
    if (x->ndim < 2)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "X must have rank >= 2 (N, C, ...), has %d",
                            x->ndim);
    copy_shape(o, x);
    for (int i = 2; i < x->ndim; i++)
        o->dims[i] = 1;
    return KS_OK;
}

ks_status ks__infer_global_average_pool(ks_op_ctx *oc) {
    return infer_global_pool(oc);
}
ks_status ks__infer_global_max_pool(ks_op_ctx *oc) {
    return infer_global_pool(oc);
}

ks_status ks__infer_batch_norm(ks_op_ctx *oc) {
    for (int i = 0; i < 5; i++)
        KS_CHECK(need_input(oc, i,
                            i == 0   ? "X"
                            : i == 1 ? "scale"
                            : i == 2 ? "B"
                            : i == 3 ? "input_mean"
                                     : "input_var"));
    const ks_tensor *x = oc->in[0];
    int64_t c = -1;
    if (x->ndim >= 0) {
        if (x->ndim < 1)
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "BatchNormalization: X is a scalar");
        c = x->ndim >= 2 ? x->dims[1] : 1;
    }
    static const char *const names[] = {"", "scale", "B", "input_mean", "input_var"};
    for (int i = 1; i < 5; i++)
        KS_CHECK(check_channel_vec(oc, i, names[i], c));
    copy_shape(oc->out[0], x);
    for (int i = 1; i < 3; i++) { /* training mode: running mean / var */
        ks_tensor *o = out_at(oc, i);
        if (!o)
            continue;
        o->dtype = oc->in[3]->dtype;
        o->ndim = 1;
        o->dims[0] = c;
    }
    return KS_OK;
}

ks_status ks__infer_instance_norm(ks_op_ctx *oc) {
    for (int i = 0; i < 3; i++)
        KS_CHECK(need_input(oc, i, i == 0 ? "input" : i == 1 ? "scale" : "B"));
    const ks_tensor *x = oc->in[0];
    int64_t c = -1;
    if (x->ndim >= 0) {
        if (x->ndim < 2)
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                                "InstanceNormalization: input must have "
                                "rank >= 2, has %d",
                                x->ndim);
        c = x->dims[1];
    }
    KS_CHECK(check_channel_vec(oc, 1, "scale", c));
    KS_CHECK(check_channel_vec(oc, 2, "B", c));
    copy_shape(oc->out[0], x);
    return KS_OK;
}

ks_status ks__infer_lrn(ks_op_ctx *oc) {
    KS_CHECK(need_input(oc, 0, "X"));
    int64_t size = ks__attr_i(oc->node, "size", -1);
    if (size < 1)
        return ks__op_error(oc, KS_INVALID_MODEL, "LRN: attribute size = %lld must be >= 1",
                            (long long)size);
    const ks_tensor *x = oc->in[0];
    if (x->ndim >= 0 && x->ndim < 2)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "LRN: X must have rank >= 2, has %d",
                            x->ndim);
    copy_shape(oc->out[0], x);
    return KS_OK;
}

ks_status ks__infer_resize(ks_op_ctx *oc) {
    KS_CHECK(need_input(oc, 0, "X"));
    ks_resize_params p;
    KS_CHECK(ks__resize_params(oc, &p));
    ks_tensor *o = oc->out[0];
    o->dtype = oc->in[0]->dtype;
    o->ndim = p.ndim;
    for (int i = 0; i < p.ndim; i++)
        o->dims[i] = p.out[i];
    return KS_OK;
}

ks_status ks__infer_matmul(ks_op_ctx *oc) {
    KS_CHECK(need_input(oc, 0, "A"));
    KS_CHECK(need_input(oc, 1, "B"));
    ks_matmul_params p;
    KS_CHECK(ks__matmul_params(oc, oc->in[0], oc->in[1], &p));
    ks_tensor *o = oc->out[0];
    o->dtype = oc->in[0]->dtype;
    o->ndim = p.out_ndim;
    for (int i = 0; i < p.out_ndim; i++)
        o->dims[i] = p.out_dims[i];
    return KS_OK;
}

ks_status ks__infer_gemm(ks_op_ctx *oc) {
    KS_CHECK(need_input(oc, 0, "A"));
    KS_CHECK(need_input(oc, 1, "B"));
    ks_gemm_params p;
    KS_CHECK(ks__gemm_params(oc, oc->in[0], oc->in[1], &p));
    const ks_tensor *c = in_at(oc, 2);
    if (c && c->ndim >= 0) {
        if (c->ndim > 2)
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "Gemm: C has rank %d (max 2)", c->ndim);
        int64_t want[2] = {p.m, p.n};
        for (int i = 0; i < c->ndim; i++) {
            int64_t d = c->dims[i], w = want[2 - c->ndim + i];
            if (d >= 0 && w >= 0 && d != 1 && d != w)
                return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                                    "Gemm: C dim %d = %lld does not "
                                    "broadcast to %lld",
                                    i, (long long)d, (long long)w);
        }
    }
    ks_tensor *o = oc->out[0];
    o->dtype = oc->in[0]->dtype;
    o->ndim = 2;
    o->dims[0] = p.m;
    o->dims[1] = p.n;
    return KS_OK;
}

ks_status ks__infer_pad(ks_op_ctx *oc) {
    KS_CHECK(need_input(oc, 0, "data"));
    ks_pad_params p;
    KS_CHECK(ks__pad_params(oc, &p));
    const ks_tensor *x = oc->in[0];
    const ks_tensor *cv = in_at(oc, 2);
    if (cv && cv->ndim >= 0 && cv->dtype != x->dtype)
        return ks__op_error(oc, KS_INVALID_MODEL, "Pad: constant_value is %s but data is %s",
                            ks_dtype_name(cv->dtype), ks_dtype_name(x->dtype));
    ks_tensor *o = oc->out[0];
    copy_shape(o, x);
    if (x->ndim < 0)
        return KS_OK;
    for (int i = 0; i < x->ndim; i++)
        o->dims[i] = (p.known && x->dims[i] >= 0) ? x->dims[i] + p.begin[i] + p.end[i] : -1;
    return KS_OK;
}
