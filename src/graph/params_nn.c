/* Parameter parsing and geometry for the nn op family (see params_nn.h). */
#include <math.h>
#include <string.h>

#include "graph/params_nn.h"

/* ------------------------------------------------------------ windows */

int64_t ks__window_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                            int64_t pad_begin, int64_t pad_end, int ceil_mode) {
    if (in < 0 || pad_begin < 0 || pad_end < 0)
        return -1;
    int64_t dk = (kernel - 1) * dilation + 1;
    int64_t span = in + pad_begin + pad_end - dk;
    if (span < 0)
        return 0;
    int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    /* a last window starting inside the end padding is dropped */
    if (ceil_mode && out > 1 && (out - 1) * stride >= in + pad_begin)
        out--;
    return out;
}

static ks_status parse_auto_pad(const ks_op_ctx *oc, ks_auto_pad *ap) {
    const char *s = ks__attr_s(oc->node, "auto_pad", "NOTSET");
    if (!*s || strcmp(s, "NOTSET") == 0)
        *ap = KS_AUTO_PAD_NOTSET;
    else if (strcmp(s, "SAME_UPPER") == 0)
        *ap = KS_AUTO_PAD_SAME_UPPER;
    else if (strcmp(s, "SAME_LOWER") == 0)
        *ap = KS_AUTO_PAD_SAME_LOWER;
    else if (strcmp(s, "VALID") == 0)
        *ap = KS_AUTO_PAD_VALID;
    else
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR,
                            "auto_pad '%s' is not one of NOTSET, "
                            "SAME_UPPER, SAME_LOWER, VALID",
                            s);
    return KS_OK;
}

/* Reads an INTS attribute of exactly `n` values (or absent -> def). */
static ks_status ints_attr(const ks_op_ctx *oc, const char *name, int n, int64_t def, int64_t min,
                           int64_t *vals) {
    const int64_t *v;
    int64_t cnt = ks__attr_ints(oc->node, name, &v);
    if (cnt < 0) {
        for (int i = 0; i < n; i++)
            vals[i] = def;
        return KS_OK;
    }
    if (cnt != n)
        return ks__op_error(oc, KS_INVALID_MODEL, "attribute %s has %lld values, expected %d", name,
                            (long long)cnt, n);
    for (int i = 0; i < n; i++) {
        if (v[i] < min)
            return ks__op_error(oc, KS_UNSUPPORTED_ATTR, "attribute %s[%d] = %lld must be >= %lld",
                                name, i, (long long)v[i], (long long)min);
        vals[i] = v[i];
    }
    return KS_OK;
}

/* strides, dilations, pads, auto_pad; kernel must be set. */
static ks_status parse_window_common(const ks_op_ctx *oc, ks_window_params *p) {
    int n = p->n_spatial;
    KS_CHECK(parse_auto_pad(oc, &p->auto_pad));
    KS_CHECK(ints_attr(oc, "strides", n, 1, 1, p->stride));
    KS_CHECK(ints_attr(oc, "dilations", n, 1, 1, p->dilation));
    int64_t pads[2 * KS_NN_MAX_SPATIAL];
    const int64_t *v;
    int64_t cnt = ks__attr_ints(oc->node, "pads", &v);
    if (cnt >= 0 && cnt != 2 * n)
        return ks__op_error(oc, KS_INVALID_MODEL, "attribute pads has %lld values, expected %d",
                            (long long)cnt, 2 * n);
    for (int i = 0; i < 2 * n; i++) {
        pads[i] = cnt < 0 ? 0 : v[i];
        if (pads[i] < 0)
            return ks__op_error(oc, KS_UNSUPPORTED_ATTR, "attribute pads[%d] = %lld is negative", i,
                                (long long)pads[i]);
    }
    for (int i = 0; i < n; i++) {
        p->pad_begin[i] = pads[i];
        p->pad_end[i] = pads[n + i];
    }
    return KS_OK;
}

/* Resolves SAME_* / VALID pads and the output size of a Conv / pool axis. */
static void resolve_forward_axis(ks_window_params *p, int i) {
    int64_t in = p->in[i], k = p->kernel[i], s = p->stride[i], d = p->dilation[i];
    int64_t dk = (k - 1) * d + 1;
    switch (p->auto_pad) {
    case KS_AUTO_PAD_VALID:
        p->pad_begin[i] = p->pad_end[i] = 0;
        break;
    case KS_AUTO_PAD_SAME_UPPER:
    case KS_AUTO_PAD_SAME_LOWER:
        if (in < 0) {
            p->pad_begin[i] = p->pad_end[i] = -1;
            p->out[i] = -1;
            return;
        } else {
            int64_t target = (in + s - 1) / s;
            int64_t need = (target - 1) * s + dk - in;
            if (need < 0)
                need = 0;
            p->pad_begin[i] = p->auto_pad == KS_AUTO_PAD_SAME_LOWER ? (need + 1) / 2 : need / 2;
            p->pad_end[i] = need - p->pad_begin[i];
        }
        break;
    default:
        break;
    }
    p->out[i] = ks__window_out_size(in, k, s, d, p->pad_begin[i], p->pad_end[i], p->ceil_mode);
}

static ks_status check_out_sizes(const ks_op_ctx *oc, const ks_window_params *p, const char *op) {
    for (int i = 0; i < p->n_spatial; i++)
        if (p->in[i] >= 0 && p->out[i] == 0)
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                                "%s: kernel %lld (dilation %lld) does not fit the padded input "
                                "(size %lld, pads %lld+%lld) along spatial axis %d",
                                op, (long long)p->kernel[i], (long long)p->dilation[i],
                                (long long)p->in[i], (long long)p->pad_begin[i],
                                (long long)p->pad_end[i], i);
    return KS_OK;
}

/* Spatial rank from x, else from w, else from kernel_shape. 0 if unknown. */
static ks_status spatial_rank(const ks_op_ctx *oc, const char *op, const ks_tensor *x,
                              const ks_tensor *w, int *n_spatial) {
    int r = -1;
    if (x && x->ndim >= 0)
        r = x->ndim;
    else if (w && w->ndim >= 0)
        r = w->ndim;
    else {
        int64_t c = ks__attr_ints(oc->node, "kernel_shape", NULL);
        r = c >= 0 ? (int)c + 2 : -1;
    }
    if (r < 0) {
        *n_spatial = 0;
        return KS_OK;
    }
    if (r < 3 || r > 2 + KS_NN_MAX_SPATIAL)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                            "%s: input rank %d not supported (expected 3..%d: N, C and 1..%d "
                            "spatial dims)",
                            op, r, 2 + KS_NN_MAX_SPATIAL, KS_NN_MAX_SPATIAL);
    if (x && x->ndim >= 0 && w && w->ndim >= 0 && x->ndim != w->ndim)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "%s: X has rank %d but W has rank %d", op,
                            x->ndim, w->ndim);
    *n_spatial = r - 2;
    return KS_OK;
}

/* kernel from W dims (if known), checked against kernel_shape. */
static ks_status kernel_from_w(const ks_op_ctx *oc, const char *op, const ks_tensor *w,
                               ks_window_params *p) {
    int n = p->n_spatial;
    const int64_t *ks;
    int64_t cnt = ks__attr_ints(oc->node, "kernel_shape", &ks);
    if (cnt >= 0 && cnt != n)
        return ks__op_error(oc, KS_INVALID_MODEL, "%s: kernel_shape has %lld values, expected %d",
                            op, (long long)cnt, n);
    for (int i = 0; i < n; i++) {
        int64_t kw = (w && w->ndim == n + 2) ? w->dims[2 + i] : -1;
        int64_t ka = cnt >= 0 ? ks[i] : -1;
        if (kw >= 0 && ka >= 0 && kw != ka)
            return ks__op_error(oc, KS_INVALID_MODEL,
                                "%s: kernel_shape[%d] = %lld but W has %lld along that axis", op, i,
                                (long long)ka, (long long)kw);
        p->kernel[i] = kw >= 0 ? kw : ka;
        if (p->kernel[i] == 0 || p->kernel[i] < -1)
            return ks__op_error(oc, KS_INVALID_MODEL, "%s: kernel size %lld along axis %d", op,
                                (long long)p->kernel[i], i);
    }
    return KS_OK;
}

static void init_window(ks_window_params *p) {
    memset(p, 0, sizeof *p);
    p->group = 1;
    p->in_channels = p->out_channels = -1;
    for (int i = 0; i < KS_NN_MAX_SPATIAL; i++) {
        p->kernel[i] = p->stride[i] = p->dilation[i] = 1;
        p->in[i] = p->out[i] = -1;
    }
}

ks_status ks__conv_params(const ks_op_ctx *oc, const ks_tensor *x, const ks_tensor *w,
                          ks_window_params *p) {
    init_window(p);
    KS_CHECK(spatial_rank(oc, "Conv", x, w, &p->n_spatial));
    if (p->n_spatial == 0)
        return KS_OK;
    int n = p->n_spatial;
    KS_CHECK(kernel_from_w(oc, "Conv", w, p));
    KS_CHECK(parse_window_common(oc, p));
    p->group = ks__attr_i(oc->node, "group", 1);
    if (p->group < 1)
        return ks__op_error(oc, KS_INVALID_MODEL, "Conv: group %lld must be >= 1",
                            (long long)p->group);
    int xk = x && x->ndim == n + 2, wk = w && w->ndim == n + 2;
    p->in_channels = xk ? x->dims[1] : -1;
    p->out_channels = wk ? w->dims[0] : -1;
    if (p->in_channels >= 0 && p->in_channels % p->group)
        return ks__op_error(oc, KS_INVALID_MODEL,
                            "Conv: group %lld does not divide input "
                            "channels %lld",
                            (long long)p->group, (long long)p->in_channels);
    if (p->out_channels >= 0 && p->out_channels % p->group)
        return ks__op_error(oc, KS_INVALID_MODEL,
                            "Conv: group %lld does not divide output "
                            "channels %lld (W dim 0)",
                            (long long)p->group, (long long)p->out_channels);
    if (p->in_channels >= 0 && wk && w->dims[1] >= 0 && w->dims[1] * p->group != p->in_channels)
        return ks__op_error(oc, KS_INVALID_MODEL,
                            "Conv: X has %lld channels but W expects "
                            "%lld x group %lld",
                            (long long)p->in_channels, (long long)w->dims[1], (long long)p->group);
    for (int i = 0; i < n; i++) {
        p->in[i] = xk ? x->dims[2 + i] : -1;
        if (p->kernel[i] < 0) {
            p->out[i] = -1;
            continue;
        }
        resolve_forward_axis(p, i);
    }
    return check_out_sizes(oc, p, "Conv");
}

ks_status ks__conv_transpose_params(const ks_op_ctx *oc, const ks_tensor *x, const ks_tensor *w,
                                    ks_window_params *p) {
    init_window(p);
    KS_CHECK(spatial_rank(oc, "ConvTranspose", x, w, &p->n_spatial));
    if (p->n_spatial == 0)
        return KS_OK;
    int n = p->n_spatial;
    KS_CHECK(kernel_from_w(oc, "ConvTranspose", w, p));
    KS_CHECK(parse_window_common(oc, p));
    KS_CHECK(ints_attr(oc, "output_padding", n, 0, 0, p->output_padding));
    p->group = ks__attr_i(oc->node, "group", 1);
    if (p->group < 1)
        return ks__op_error(oc, KS_INVALID_MODEL, "ConvTranspose: group %lld must be >= 1",
                            (long long)p->group);
    int xk = x && x->ndim == n + 2, wk = w && w->ndim == n + 2;
    p->in_channels = xk ? x->dims[1] : -1;
    if (p->in_channels >= 0 && p->in_channels % p->group)
        return ks__op_error(oc, KS_INVALID_MODEL,
                            "ConvTranspose: group %lld does not divide "
                            "input channels %lld",
                            (long long)p->group, (long long)p->in_channels);
    if (p->in_channels >= 0 && wk && w->dims[0] >= 0 && w->dims[0] != p->in_channels)
        return ks__op_error(oc, KS_INVALID_MODEL,
                            "ConvTranspose: X has %lld channels but W "
                            "dim 0 is %lld",
                            (long long)p->in_channels, (long long)w->dims[0]);
    p->out_channels = (wk && w->dims[1] >= 0) ? w->dims[1] * p->group : -1;

    const int64_t *os;
    int64_t n_os = ks__attr_ints(oc->node, "output_shape", &os);
    if (n_os >= 0 && n_os != n && n_os != n + 2)
        return ks__op_error(oc, KS_INVALID_MODEL,
                            "ConvTranspose: output_shape has %lld values, "
                            "expected %d",
                            (long long)n_os, n);
    if (n_os == n + 2)
        os += 2;
    for (int i = 0; i < n; i++) {
        int64_t in = xk ? x->dims[2 + i] : -1;
        p->in[i] = in;
        int64_t k = p->kernel[i], s = p->stride[i], d = p->dilation[i], op = p->output_padding[i];
        if (op >= s && op >= d)
            return ks__op_error(oc, KS_INVALID_MODEL,
                                "ConvTranspose: output_padding[%d] = %lld "
                                "must be smaller than stride %lld or dilation %lld",
                                i, (long long)op, (long long)s, (long long)d);
        if (in < 0 || k < 0) {
            p->out[i] = n_os >= 0 ? os[i] : -1;
            if (p->auto_pad == KS_AUTO_PAD_SAME_UPPER || p->auto_pad == KS_AUTO_PAD_SAME_LOWER ||
                n_os >= 0)
                p->pad_begin[i] = p->pad_end[i] = -1;
            else if (p->auto_pad == KS_AUTO_PAD_VALID)
                p->pad_begin[i] = p->pad_end[i] = 0;
            if (n_os < 0 && in >= 0 && p->auto_pad != KS_AUTO_PAD_NOTSET &&
                p->auto_pad != KS_AUTO_PAD_VALID)
                p->out[i] = in * s;
            continue;
        }
        int64_t full = s * (in - 1) + op + (k - 1) * d + 1;
        int64_t target = -1;
        if (n_os >= 0)
            target = os[i];
        else if (p->auto_pad == KS_AUTO_PAD_SAME_UPPER || p->auto_pad == KS_AUTO_PAD_SAME_LOWER)
            target = in * s;
        if (target >= 0) {
            int64_t total = full - target;
            if (total < 0)
                total = 0; /* extra output positions receive only bias */
            if (p->auto_pad == KS_AUTO_PAD_SAME_UPPER) {
                p->pad_begin[i] = total / 2;
                p->pad_end[i] = total - total / 2;
            } else {
                p->pad_begin[i] = total - total / 2;
                p->pad_end[i] = total / 2;
            }
            p->out[i] = target;
        } else {
            if (p->auto_pad == KS_AUTO_PAD_VALID)
                p->pad_begin[i] = p->pad_end[i] = 0;
            p->out[i] = full - p->pad_begin[i] - p->pad_end[i];
        }
        if (p->out[i] < 1)
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                                "ConvTranspose: output size %lld along "
                                "spatial axis %d (input %lld, pads %lld+%lld)",
                                (long long)p->out[i], i, (long long)in, (long long)p->pad_begin[i],
                                (long long)p->pad_end[i]);
    }
    return KS_OK;
}

ks_status ks__pool_params(const ks_op_ctx *oc, const ks_tensor *x, ks_window_params *p) {
    init_window(p);
    const char *op = ks__op_name(oc->node->op);
    const int64_t *ks;
    int64_t cnt = ks__attr_ints(oc->node, "kernel_shape", &ks);
    if (cnt < 0)
        return ks__op_error(oc, KS_INVALID_MODEL, "%s: attribute kernel_shape is required", op);
    if (x && x->ndim >= 0 && cnt != x->ndim - 2)
        return ks__op_error(oc, KS_INVALID_MODEL,
                            "%s: kernel_shape has %lld values but X has "
                            "rank %d",
                            op, (long long)cnt, x->ndim);
    KS_CHECK(spatial_rank(oc, op, x, NULL, &p->n_spatial));
    int n = p->n_spatial;
    for (int i = 0; i < n; i++) {
        if (ks[i] < 1)
            return ks__op_error(oc, KS_INVALID_MODEL, "%s: kernel_shape[%d] = %lld", op, i,
                                (long long)ks[i]);
        p->kernel[i] = ks[i];
    }
    KS_CHECK(parse_window_common(oc, p));
    p->ceil_mode = (int)ks__attr_i(oc->node, "ceil_mode", 0);
    p->count_include_pad = (int)ks__attr_i(oc->node, "count_include_pad", 0);
    p->storage_order = (int)ks__attr_i(oc->node, "storage_order", 0);
    int xk = x && x->ndim == n + 2;
    p->in_channels = p->out_channels = xk ? x->dims[1] : -1;
    for (int i = 0; i < n; i++) {
        p->in[i] = xk ? x->dims[2 + i] : -1;
        resolve_forward_axis(p, i);
        if (p->pad_begin[i] >= 0 && p->pad_begin[i] >= (p->kernel[i] - 1) * p->dilation[i] + 1 &&
            p->auto_pad == KS_AUTO_PAD_NOTSET && oc->node->op == KS_OP_MAX_POOL)
            return ks__op_error(oc, KS_INVALID_MODEL,
                                "%s: pad %lld is not smaller than the "
                                "kernel extent %lld along axis %d",
                                op, (long long)p->pad_begin[i],
                                (long long)((p->kernel[i] - 1) * p->dilation[i] + 1), i);
    }
    return check_out_sizes(oc, p, op);
}

/* ------------------------------------------------------------ resize */

void ks__resize_inputs(const ks_op_ctx *oc, const ks_tensor **x, const ks_tensor **roi,
                       const ks_tensor **scales, const ks_tensor **sizes) {
    const ks_tensor *in[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < oc->n_in && i < 4; i++)
        in[i] = oc->in[i];
    *x = in[0];
    if (oc->node->opset < 11 && oc->n_in == 2) { /* Resize-10 / Upsample-9: X, scales */
        *roi = NULL;
        *scales = in[1];
        *sizes = NULL;
    } else {
        *roi = in[1];
        *scales = in[2];
        *sizes = in[3];
    }
    /* empty tensors stand for "not given" */
    if (*roi && (*roi)->ndim == 1 && (*roi)->dims[0] == 0)
        *roi = NULL;
    if (*scales && (*scales)->ndim == 1 && (*scales)->dims[0] == 0)
        *scales = NULL;
    if (*sizes && (*sizes)->ndim == 1 && (*sizes)->dims[0] == 0)
        *sizes = NULL;
}

static int str_in(const char *s, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

ks_status ks__resize_params(const ks_op_ctx *oc, ks_resize_params *p) {
    const ks_node *nd = oc->node;
    memset(p, 0, sizeof *p);
    const ks_tensor *x, *roi, *scales, *sizes;
    ks__resize_inputs(oc, &x, &roi, &scales, &sizes);
    int legacy = nd->opset < 11;

    static const char *const modes[] = {"nearest", "linear", "cubic"};
    const char *ms = ks__attr_s(nd, "mode", "nearest");
    int m = str_in(ms, modes, 3);
    if (m < 0 && strcmp(ms, "bilinear") == 0) /* Upsample-7 spelling */
        m = KS_RESIZE_LINEAR;
    if (m < 0)
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR,
                            "Resize: mode '%s' is not one of nearest, "
                            "linear, cubic",
                            ms);
    p->mode = (ks_resize_mode)m;

    static const char *const coords[] = {
        "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
        "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
    const char *cs =
        ks__attr_s(nd, "coordinate_transformation_mode", legacy ? "asymmetric" : "half_pixel");
    int c = str_in(cs, coords, 7);
    if (c < 0)
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR,
                            "Resize: coordinate_transformation_mode "
                            "'%s' is not supported",
                            cs);
    p->coord = (ks_resize_coord)c;

    static const char *const nears[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    if (legacy && !ks__attr_find(nd, "nearest_mode")) {
        p->nearest = KS_RESIZE_SIMPLE;
    } else {
        const char *ns = ks__attr_s(nd, "nearest_mode", "round_prefer_floor");
        int k = str_in(ns, nears, 4);
        if (k < 0)
            return ks__op_error(oc, KS_UNSUPPORTED_ATTR,
                                "Resize: nearest_mode '%s' is not one "
                                "of round_prefer_floor, round_prefer_ceil, floor, ceil",
                                ns);
        p->nearest = (ks_resize_nearest)k;
    }
    p->cubic_coeff_a = ks__attr_f(nd, "cubic_coeff_a", -0.75f);
    p->exclude_outside = (int)ks__attr_i(nd, "exclude_outside", 0);
    p->extrapolation_value = ks__attr_f(nd, "extrapolation_value", 0.0f);
    int64_t antialias = ks__attr_i(nd, "antialias", 0);
    if (antialias != 0)
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR,
                            "Resize: antialias = %lld is not supported "
                            "(only 0)",
                            (long long)antialias);
    const char *kar = ks__attr_s(nd, "keep_aspect_ratio_policy", "stretch");
    static const char *const kars[] = {"stretch", "not_larger", "not_smaller"};
    int policy = str_in(kar, kars, 3);
    if (policy < 0)
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR,
                            "Resize: keep_aspect_ratio_policy '%s' is "
                            "not one of stretch, not_larger, not_smaller",
                            kar);

    if (!x || x->ndim < 0) {
        p->ndim = -1;
        return KS_OK;
    }
    int r = x->ndim;
    p->ndim = r;
    if (r > KS_MAX_DIMS)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "Resize: rank %d", r);
    int axes[KS_MAX_DIMS], n_axes = r;
    for (int i = 0; i < r; i++)
        axes[i] = i;
    const int64_t *av;
    int64_t na = ks__attr_ints(nd, "axes", &av);
    if (na >= 0) {
        if (na > r)
            return ks__op_error(oc, KS_INVALID_MODEL, "Resize: %lld axes for rank %d",
                                (long long)na, r);
        int seen[KS_MAX_DIMS] = {0};
        for (int i = 0; i < na; i++) {
            if (!ks__norm_axis(av[i], r, &axes[i]) || seen[axes[i]])
                return ks__op_error(oc, KS_INVALID_MODEL,
                                    "Resize: axes[%d] = %lld invalid or "
                                    "repeated for rank %d",
                                    i, (long long)av[i], r);
            seen[axes[i]] = 1;
        }
        n_axes = (int)na;
    }
    for (int i = 0; i < r; i++) {
        p->in[i] = x->dims[i];
        p->out[i] = x->dims[i];
        p->scale[i] = 1.0;
        p->roi_start[i] = 0.0;
        p->roi_end[i] = 1.0;
    }
    if (roi && p->coord == KS_RESIZE_TF_CROP_AND_RESIZE) {
        if (roi->ndim != 1 || (roi->dims[0] >= 0 && roi->dims[0] != 2 * n_axes))
            return ks__op_error(oc, KS_INVALID_MODEL, "Resize: roi must have %d values",
                                2 * n_axes);
        if (roi->data)
            for (int i = 0; i < n_axes; i++) {
                p->roi_start[axes[i]] = ks__tensor_get_f64(roi, i);
                p->roi_end[axes[i]] = ks__tensor_get_f64(roi, n_axes + i);
            }
    }
    if (sizes && scales)
        return ks__op_error(oc, KS_INVALID_MODEL,
                            "Resize: only one of scales and sizes may be "
                            "given");
    if (!sizes && !scales)
        return ks__op_error(oc, KS_INVALID_MODEL, "Resize: one of scales and sizes is required");
    const ks_tensor *src = sizes ? sizes : scales;
    if (src->ndim != 1 || (src->dims[0] >= 0 && src->dims[0] != n_axes))
        return ks__op_error(oc, KS_INVALID_MODEL, "Resize: %s must be 1-D with %d values",
                            sizes ? "sizes" : "scales", n_axes);
    if (!src->data) { /* not constant: output dims of resized axes unknown */
        for (int i = 0; i < n_axes; i++) {
            p->out[axes[i]] = -1;
            p->scale[axes[i]] = 0.0;
        }
        return KS_OK;
    }
    if (scales) {
        for (int i = 0; i < n_axes; i++) {
            int a = axes[i];
            float s = (float)ks__tensor_get_f64(scales, i);
            if (!(s > 0.0f))
                return ks__op_error(oc, KS_INVALID_MODEL, "Resize: scales[%d] = %g must be > 0", i,
                                    (double)s);
            p->scale[a] = s;
            /* float product as onnxruntime and the reference (roi does not
             * enter the size) */
            if (p->in[a] < 0) {
                p->out[a] = -1;
                continue;
            }
            float o = floorf((float)p->in[a] * s);
            if (!(o < 9.0e15f)) /* also rejects inf; keeps the int64 cast defined */
                return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                                    "Resize: scales[%d] = %g gives an output size out of range", i,
                                    (double)s);
            p->out[a] = (int64_t)o;
        }
    } else {
        int64_t sz[KS_MAX_DIMS];
        for (int i = 0; i < n_axes; i++) {
            sz[i] = ks__tensor_get_i64(sizes, i);
            if (sz[i] < 0)
                return ks__op_error(oc, KS_INVALID_MODEL, "Resize: sizes[%d] = %lld", i,
                                    (long long)sz[i]);
        }
        if (policy != 0) {
            double common = policy == 1 ? INFINITY : 0.0;
            int known = 1;
            for (int i = 0; i < n_axes; i++) {
                if (p->in[axes[i]] <= 0) {
                    known = 0;
                    continue;
                }
                double s = (double)sz[i] / (double)p->in[axes[i]];
                common = policy == 1 ? fmin(common, s) : fmax(common, s);
            }
            for (int i = 0; i < n_axes; i++) {
                int a = axes[i];
                p->scale[a] = known ? common : 0.0;
                p->out[a] = known ? (int64_t)round(common * (double)p->in[a]) : -1;
            }
        } else {
            for (int i = 0; i < n_axes; i++) {
                int a = axes[i];
                p->out[a] = sz[i];
                p->scale[a] = p->in[a] > 0 ? (double)sz[i] / (double)p->in[a] : 0.0;
            }
        }
    }
    return KS_OK;
}

double ks__resize_coord(const ks_resize_params *p, int axis, int64_t x_out) {
    double x = (double)x_out, s = p->scale[axis];
    double len_in = (double)p->in[axis], len_out = (double)p->out[axis];
    /* align_corners and tf_crop_and_resize stretch to the fractional output
     * length in * scale (= out when sizes are given), as ONNX's reference
     * and node tests do; onnxruntime uses the integer output length. */
    double len_frac = s * len_in;
    switch (p->coord) {
    case KS_RESIZE_HALF_PIXEL:
        return (x + 0.5) / s - 0.5;
    case KS_RESIZE_HALF_PIXEL_SYMMETRIC: {
        double adj = len_out / (s * len_in);
        double center = len_in / 2.0;
        double offset = center * (1.0 - adj);
        return offset + (x + 0.5) / s - 0.5;
    }
    case KS_RESIZE_PYTORCH_HALF_PIXEL:
        return len_out > 1.0 ? (x + 0.5) / s - 0.5 : 0.0;
    case KS_RESIZE_ALIGN_CORNERS:
        return len_frac == 1.0 ? 0.0 : x * (len_in - 1.0) / (len_frac - 1.0);
    case KS_RESIZE_ASYMMETRIC:
        return x / s;
    case KS_RESIZE_TF_HALF_PIXEL_FOR_NN:
        return (x + 0.5) / s;
    case KS_RESIZE_TF_CROP_AND_RESIZE: {
        double a = p->roi_start[axis], b = p->roi_end[axis];
        return len_frac != 1.0
                   ? a * (len_in - 1.0) + x * (b - a) * (len_in - 1.0) / (len_frac - 1.0)
                   : 0.5 * (a + b) * (len_in - 1.0);
    }
    }
    return x;
}

int ks__resize_outside(const ks_resize_params *p, int axis, double x) {
    return p->coord == KS_RESIZE_TF_CROP_AND_RESIZE && (x < 0.0 || x > (double)(p->in[axis] - 1));
}

int64_t ks__resize_nearest_index(const ks_resize_params *p, int axis, double x) {
    /* A coordinate within double rounding of a multiple of 1/2 is that
     * multiple: exact arithmetic decides ties (x.5 for round_prefer_*, an
     * integer for floor/ceil). Non-tie coordinates are at least ~1/(2 out)
     * or 2^-25 (float scales) away from one, far above this tolerance. */
    double h = nearbyint(2.0 * x) / 2.0;
    if (fabs(x - h) <= 1e-12 * (fabs(x) > 1.0 ? fabs(x) : 1.0))
        x = h;
    double f;
    switch (p->nearest) {
    case KS_RESIZE_ROUND_PREFER_FLOOR:
        f = (x == floor(x) + 0.5) ? floor(x) : round(x);
        break;
    case KS_RESIZE_ROUND_PREFER_CEIL:
        f = (x == floor(x) + 0.5) ? ceil(x) : round(x);
        break;
    case KS_RESIZE_FLOOR:
        f = floor(x);
        break;
    case KS_RESIZE_CEIL:
        f = ceil(x);
        break;
    default: /* SIMPLE */
        f = p->scale[axis] < 1.0 ? ceil(x) : trunc(x);
        break;
    }
    int64_t n = p->in[axis];
    if (f < 0.0)
        return 0;
    if (f > (double)(n - 1))
        return n - 1;
    return (int64_t)f;
}

void ks__resize_cubic_coeffs(double a, double t, double c[4]) {
    double s1 = t + 1.0, s2 = 1.0 - t, s3 = 2.0 - t;
    c[0] = ((a * s1 - 5.0 * a) * s1 + 8.0 * a) * s1 - 4.0 * a;
    c[1] = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
    c[2] = ((a + 2.0) * s2 - (a + 3.0)) * s2 * s2 + 1.0;
    c[3] = ((a * s3 - 5.0 * a) * s3 + 8.0 * a) * s3 - 4.0 * a;
}

/* ------------------------------------------------------------ pad */

ks_status ks__pad_params(const ks_op_ctx *oc, ks_pad_params *p) {
    memset(p, 0, sizeof *p);
    static const char *const modes[] = {"constant", "reflect", "edge", "wrap"};
    const char *ms = ks__attr_s(oc->node, "mode", "constant");
    int m = str_in(ms, modes, 4);
    if (m < 0)
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR,
                            "Pad: mode '%s' is not one of constant, "
                            "reflect, edge, wrap",
                            ms);
    p->mode = (ks_pad_mode)m;
    const ks_tensor *x = oc->in[0];
    const ks_tensor *pads = oc->n_in > 1 ? oc->in[1] : NULL;
    const ks_tensor *axes = oc->n_in > 3 ? oc->in[3] : NULL;
    p->ndim = x ? x->ndim : -1;
    if (!pads)
        return ks__op_error(oc, KS_INVALID_MODEL, "Pad: input 'pads' is required");
    if (pads->ndim != 1)
        return ks__op_error(oc, KS_INVALID_MODEL, "Pad: pads must be 1-D (has rank %d)",
                            pads->ndim);
    if (p->ndim < 0 || !pads->data || (axes && !axes->data)) {
        p->known = 0;
        return KS_OK;
    }
    int r = p->ndim;
    int ax[KS_MAX_DIMS], n_ax = r;
    for (int i = 0; i < r; i++)
        ax[i] = i;
    if (axes) {
        if (axes->ndim != 1 || axes->dims[0] > r)
            return ks__op_error(oc, KS_INVALID_MODEL,
                                "Pad: axes must be 1-D with at most %d "
                                "values",
                                r);
        n_ax = (int)axes->dims[0];
        int seen[KS_MAX_DIMS] = {0};
        for (int i = 0; i < n_ax; i++) {
            int64_t a = ks__tensor_get_i64(axes, i);
            if (!ks__norm_axis(a, r, &ax[i]) || seen[ax[i]])
                return ks__op_error(oc, KS_INVALID_MODEL,
                                    "Pad: axes[%d] = %lld invalid or "
                                    "repeated for rank %d",
                                    i, (long long)a, r);
            seen[ax[i]] = 1;
        }
    }
    if (pads->dims[0] != 2 * n_ax)
        return ks__op_error(oc, KS_INVALID_MODEL, "Pad: pads has %lld values, expected %d",
                            (long long)pads->dims[0], 2 * n_ax);
    for (int i = 0; i < n_ax; i++) {
        p->begin[ax[i]] = ks__tensor_get_i64(pads, i);
        p->end[ax[i]] = ks__tensor_get_i64(pads, n_ax + i);
    }
    for (int i = 0; i < r; i++) {
        int64_t d = x->dims[i];
        if (d < 0)
            continue;
        if (d + p->begin[i] + p->end[i] < 0)
            return ks__op_error(oc, KS_INVALID_MODEL,
                                "Pad: pads %lld, %lld crop more than the "
                                "%lld elements of axis %d",
                                (long long)p->begin[i], (long long)p->end[i], (long long)d, i);
        int64_t kept = d + (p->begin[i] < 0 ? p->begin[i] : 0) + (p->end[i] < 0 ? p->end[i] : 0);
        if (p->mode != KS_PAD_CONSTANT && kept <= 0 && (p->begin[i] > 0 || p->end[i] > 0))
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                                "Pad: mode '%s' cannot pad axis %d "
                                "with no elements left after cropping",
                                ms, i);
    }
    p->known = 1;
    return KS_OK;
}

int64_t ks__pad_src_index(ks_pad_mode mode, int64_t i, int64_t lo, int64_t hi) {
    if (i >= lo && i < hi)
        return i;
    int64_t n = hi - lo, j = i - lo;
    if (n <= 0)
        return -1;
    switch (mode) {
    case KS_PAD_EDGE:
        return j < 0 ? lo : hi - 1;
    case KS_PAD_REFLECT: {
        if (n == 1)
            return lo;
        int64_t period = 2 * (n - 1);
        int64_t m = j % period;
        if (m < 0)
            m += period;
        return lo + (m < n ? m : period - m);
    }
    case KS_PAD_WRAP: {
        int64_t m = j % n;
        return lo + (m < 0 ? m + n : m);
    }
    default:
        return -1;
    }
}

/* ------------------------------------------------------------ gemm / matmul */

ks_status ks__gemm_params(const ks_op_ctx *oc, const ks_tensor *a, const ks_tensor *b,
                          ks_gemm_params *p) {
    p->alpha = ks__attr_f(oc->node, "alpha", 1.0f);
    p->beta = ks__attr_f(oc->node, "beta", 1.0f);
    p->trans_a = ks__attr_i(oc->node, "transA", 0) != 0;
    p->trans_b = ks__attr_i(oc->node, "transB", 0) != 0;
    p->m = p->n = p->k = -1;
    if ((a && a->ndim >= 0 && a->ndim != 2) || (b && b->ndim >= 0 && b->ndim != 2))
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "Gemm: A and B must be 2-D (ranks %d, %d)",
                            a ? a->ndim : -1, b ? b->ndim : -1);
    int64_t ka = -1, kb = -1;
    if (a && a->ndim == 2) {
        p->m = a->dims[p->trans_a ? 1 : 0];
        ka = a->dims[p->trans_a ? 0 : 1];
    }
    if (b && b->ndim == 2) {
        p->n = b->dims[p->trans_b ? 0 : 1];
        kb = b->dims[p->trans_b ? 1 : 0];
    }
    if (ka >= 0 && kb >= 0 && ka != kb)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                            "Gemm: inner dims differ: A gives K = %lld "
                            "(transA %d), B gives K = %lld (transB %d)",
                            (long long)ka, p->trans_a, (long long)kb, p->trans_b);
    p->k = ka >= 0 ? ka : kb;
    return KS_OK;
}

ks_status ks__matmul_params(const ks_op_ctx *oc, const ks_tensor *a, const ks_tensor *b,
                            ks_matmul_params *p) {
    memset(p, 0, sizeof *p);
    if (!a || !b || a->ndim < 0 || b->ndim < 0) {
        p->out_ndim = -1;
        return KS_OK;
    }
    if (a->ndim == 0 || b->ndim == 0)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "MatMul: scalar operand (ranks %d, %d)",
                            a->ndim, b->ndim);
    int ra = a->ndim, rb = b->ndim;
    p->m = ra == 1 ? 1 : a->dims[ra - 2];
    int64_t ka = a->dims[ra - 1];
    int64_t kb = rb == 1 ? b->dims[0] : b->dims[rb - 2];
    p->n = rb == 1 ? 1 : b->dims[rb - 1];
    if (ka >= 0 && kb >= 0 && ka != kb)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "MatMul: inner dims differ (%lld vs %lld)",
                            (long long)ka, (long long)kb);
    p->k = ka >= 0 ? ka : kb;
    int nba = ra > 2 ? ra - 2 : 0, nbb = rb > 2 ? rb - 2 : 0;
    int nb = 0;
    if (ks__broadcast_shape(a->dims, nba, b->dims, nbb, p->batch, &nb) != KS_OK)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "MatMul: batch dims do not broadcast");
    p->n_batch = nb;
    for (int i = 0; i < nb; i++) {
        int ia = i - (nb - nba), ib = i - (nb - nbb);
        p->a_batch[i] = ia >= 0 ? a->dims[ia] : 1;
        p->b_batch[i] = ib >= 0 ? b->dims[ib] : 1;
    }
    int o = 0;
    for (int i = 0; i < nb; i++)
        p->out_dims[o++] = p->batch[i];
    if (ra > 1)
        p->out_dims[o++] = p->m;
    if (rb > 1)
        p->out_dims[o++] = p->n;
    p->out_ndim = o;
    if (o > KS_MAX_DIMS)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "MatMul: output rank %d", o);
    return KS_OK;
}
