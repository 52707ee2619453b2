/* Shape inference for the data-movement and shape ops (dtype-agnostic):
 * Cast, Concat, Reshape, Flatten, Transpose, Slice, Split, Gather,
 * GatherElements, Unsqueeze, Squeeze, Shape, Size, Constant,
 * ConstantOfShape, Identity, Dropout, Expand, Tile, Range, DepthToSpace,
 * SpaceToDepth.
 *
 * Where an input that decides the output shape (Reshape's shape, Slice's
 * starts/ends, ...) has data at inference time, the exact shape is computed
 * from it; this is what lets shape subgraphs fold to constants. Otherwise the
 * dims that depend on it are -1 (or the rank is -1 when even that is
 * unknown). See graph/ir.h for the contract. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/cpu/move_common.h"
#include "graph/ir.h"

/* ------------------------------------------------------------ helpers */

static const ks_tensor *in_at(const ks_op_ctx *oc, int i) {
    return i < oc->n_in ? oc->in[i] : NULL;
}

static ks_status need_inputs(const ks_op_ctx *oc, int n) {
    if (oc->n_in < n)
        return ks__op_error(oc, KS_INVALID_MODEL, "expects at least %d inputs, got %d", n,
                            oc->n_in);
    for (int i = 0; i < n; i++)
        if (!oc->in[i])
            return ks__op_error(oc, KS_INVALID_MODEL, "required input %d is missing", i);
    if (oc->n_out < 1 || !oc->out[0])
        return ks__op_error(oc, KS_INVALID_MODEL, "has no output");
    return KS_OK;
}

static const char *shp(const ks_tensor *t, char *buf, size_t n) {
    if (!t)
        return "(none)";
    if (t->ndim < 0) {
        snprintf(buf, n, "(unknown rank)");
        return buf;
    }
    return ks_shape_str(t->dims, t->ndim, buf, n);
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

/* 1 when every dim is known (rank known too). */
static int dims_known(const ks_tensor *t) {
    if (t->ndim < 0)
        return 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->dims[i] < 0)
            return 0;
    return 1;
}

static int is_int_dtype(ks_dtype dt) {
    return dt == KS_DTYPE_INT64 || dt == KS_DTYPE_INT32 || dt == KS_DTYPE_INT8 ||
           dt == KS_DTYPE_UINT8;
}

int ks__move_dtype_is_float(ks_dtype dt) {
    return dt == KS_DTYPE_FLOAT32 || dt == KS_DTYPE_FLOAT16 || dt == KS_DTYPE_FLOAT64;
}

/* Reads a 1-D (or scalar) integer tensor with data into vals (at most max
 * values). `what` names the input in messages. */
static ks_status read_ints(const ks_op_ctx *oc, const ks_tensor *t, const char *what,
                           int64_t *vals, int max, int *n) {
    if (t->ndim > 1) {
        char b[96];
        return ks__op_error(oc, KS_INVALID_MODEL, "input '%s' must be 1-D, got shape %s", what,
                            shp(t, b, sizeof b));
    }
    if (!is_int_dtype(t->dtype))
        return ks__op_error(oc, KS_INVALID_MODEL, "input '%s' must be an integer tensor, got %s",
                            what, ks_dtype_name(t->dtype));
    int64_t k = ks_tensor_numel(t);
    if (k < 0 || k > max)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                            "input '%s' has %lld values; at most %d are supported", what,
                            (long long)k, max);
    for (int64_t i = 0; i < k; i++)
        vals[i] = ks__tensor_get_i64(t, i);
    *n = (int)k;
    return KS_OK;
}

/* Number of values of a 1-D tensor when its length is statically known,
 * else -1. */
static int64_t len_1d(const ks_tensor *t) {
    if (!t || t->ndim < 0)
        return -1;
    if (t->ndim == 0)
        return 1;
    if (t->ndim != 1)
        return -1;
    return t->dims[0];
}

/* Integer list from input idx (preferred, the latest form) or the attribute
 * `attr` (older opsets, when the importer left it). Returns 1 with values
 * when known, 0 when the input exists without data, -1 when neither exists. */
static int int_list(const ks_op_ctx *oc, int idx, const char *attr, int64_t *vals, int max,
                    int *n, ks_status *st) {
    *st = KS_OK;
    const ks_tensor *t = in_at(oc, idx);
    if (t) {
        if (!t->data)
            return 0;
        *st = read_ints(oc, t, attr, vals, max, n);
        return 1;
    }
    const int64_t *a = NULL;
    int64_t k = attr ? ks__attr_ints(oc->node, attr, &a) : -1;
    if (k < 0)
        return -1;
    if (k > max) {
        *st = ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "attribute '%s' has %lld values (max %d)",
                           attr, (long long)k, max);
        return 1;
    }
    for (int64_t i = 0; i < k; i++)
        vals[i] = a[i];
    *n = (int)k;
    return 1;
}

/* ------------------------------------------------------------ Cast */

static ks_dtype dtype_from_onnx(int64_t t) {
    switch (t) {
    case 1: return KS_DTYPE_FLOAT32;
    case 2: return KS_DTYPE_UINT8;
    case 3: return KS_DTYPE_INT8;
    case 6: return KS_DTYPE_INT32;
    case 7: return KS_DTYPE_INT64;
    case 9: return KS_DTYPE_BOOL;
    case 10: return KS_DTYPE_FLOAT16;
    case 11: return KS_DTYPE_FLOAT64;
    default: return KS_DTYPE_UNDEFINED;
    }
}

ks_status ks__infer_cast(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 1));
    const ks_attr *a = ks__attr_find(oc->node, "to");
    if (!a)
        return ks__op_error(oc, KS_INVALID_MODEL, "missing required attribute 'to'");
    ks_dtype dt = dtype_from_onnx(a->i);
    if (dt == KS_DTYPE_UNDEFINED)
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE,
                            "attribute 'to' = %lld: cast to this ONNX data type is not supported",
                            (long long)a->i);
    if (ks_dtype_size(oc->in[0]->dtype) == 0)
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "cannot cast from %s",
                            ks_dtype_name(oc->in[0]->dtype));
    copy_shape(oc->out[0], oc->in[0]);
    oc->out[0]->dtype = dt;
    return KS_OK;
}

/* ------------------------------------------------------------ Concat */

ks_status ks__infer_concat(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 1));
    const ks_attr *aa = ks__attr_find(oc->node, "axis");
    if (!aa)
        return ks__op_error(oc, KS_INVALID_MODEL, "missing required attribute 'axis'");
    ks_tensor *o = oc->out[0];
    ks_dtype dt = oc->in[0]->dtype;
    int rank = -1;
    for (int i = 0; i < oc->n_in; i++) {
        const ks_tensor *t = oc->in[i];
        if (!t)
            return ks__op_error(oc, KS_INVALID_MODEL, "input %d is missing", i);
        if (t->dtype != dt)
            return ks__op_error(oc, KS_INVALID_MODEL, "input %d is %s but input 0 is %s", i,
                                ks_dtype_name(t->dtype), ks_dtype_name(dt));
        if (t->ndim >= 0) {
            if (rank >= 0 && t->ndim != rank)
                return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                                    "inputs have different ranks (%d and %d, input %d)", rank,
                                    t->ndim, i);
            rank = t->ndim;
        }
    }
    if (rank < 0) {
        set_unknown_rank(o, dt);
        return KS_OK;
    }
    int axis;
    if (!ks__norm_axis(aa->i, rank, &axis))
        return ks__op_error(oc, KS_INVALID_MODEL, "axis %lld is out of range for rank %d",
                            (long long)aa->i, rank);
    o->dtype = dt;
    o->ndim = rank;
    for (int j = 0; j < rank; j++)
        o->dims[j] = -1;
    int64_t sum = 0;
    for (int i = 0; i < oc->n_in; i++) {
        const ks_tensor *t = oc->in[i];
        if (t->ndim < 0) {
            sum = -1;
            continue;
        }
        for (int j = 0; j < rank; j++) {
            if (j == axis)
                continue;
            if (t->dims[j] < 0)
                continue;
            if (o->dims[j] >= 0 && o->dims[j] != t->dims[j]) {
                char b0[96], b1[96];
                return ks__op_error(oc, KS_UNSUPPORTED_SHAPE,
                                    "input %d shape %s does not match %s outside axis %d", i,
                                    shp(t, b0, sizeof b0), shp(oc->in[0], b1, sizeof b1), axis);
            }
            o->dims[j] = t->dims[j];
        }
        if (sum >= 0) {
            if (t->dims[axis] < 0)
                sum = -1;
            else
                sum += t->dims[axis];
        }
    }
    o->dims[axis] = sum;
    return KS_OK;
}

/* ------------------------------------------------------------ Reshape */

ks_status ks__infer_reshape(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 2));
    const ks_tensor *x = oc->in[0], *s = oc->in[1];
    ks_tensor *o = oc->out[0];
    int allowzero = ks__attr_i(oc->node, "allowzero", 0) != 0;
    o->dtype = x->dtype;
    if (s->ndim > 1) {
        char b[96];
        return ks__op_error(oc, KS_INVALID_MODEL, "shape input must be 1-D, got %s",
                            shp(s, b, sizeof b));
    }
    if (!s->data) {
        int64_t k = len_1d(s);
        if (k < 0) {
            o->ndim = -1;
            return KS_OK;
        }
        if (k > KS_MAX_DIMS)
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "target rank %lld exceeds %d",
                                (long long)k, KS_MAX_DIMS);
        o->ndim = (int)k;
        for (int i = 0; i < o->ndim; i++)
            o->dims[i] = -1;
        return KS_OK;
    }
    int64_t v[KS_MAX_DIMS];
    int n;
    KS_CHECK(read_ints(oc, s, "shape", v, KS_MAX_DIMS, &n));
    char req[160];
    {
        size_t off = 0;
        req[0] = '\0';
        for (int i = 0; i < n && off < sizeof req; i++)
            off += v[i] == -1 ? (size_t)snprintf(req + off, sizeof req - off, "%s?", i ? "x" : "")
                              : (size_t)snprintf(req + off, sizeof req - off, "%s%lld",
                                                 i ? "x" : "", (long long)v[i]);
        if (n == 0)
            snprintf(req, sizeof req, "scalar");
    }
    char xb[96];
    int neg = -1;
    o->ndim = n;
    for (int i = 0; i < n; i++) {
        if (v[i] == 0 && !allowzero) {
            if (x->ndim >= 0 && i >= x->ndim)
                return ks__op_error(oc, KS_INVALID_MODEL,
                                    "cannot reshape %s to %s: 0 at position %d copies a dim "
                                    "the input does not have",
                                    shp(x, xb, sizeof xb), req, i);
            o->dims[i] = x->ndim >= 0 ? x->dims[i] : -1;
        } else if (v[i] == -1) {
            if (neg >= 0)
                return ks__op_error(oc, KS_INVALID_MODEL,
                                    "cannot reshape %s to %s: more than one -1",
                                    shp(x, xb, sizeof xb), req);
            neg = i;
            o->dims[i] = -1;
        } else if (v[i] < 0) {
            return ks__op_error(oc, KS_INVALID_MODEL, "cannot reshape %s to %s: invalid dim %lld",
                                shp(x, xb, sizeof xb), req, (long long)v[i]);
        } else {
            o->dims[i] = v[i];
        }
    }
    if (neg >= 0 && allowzero) {
        for (int i = 0; i < n; i++)
            if (v[i] == 0)
                return ks__op_error(oc, KS_INVALID_MODEL,
                                    "cannot reshape to %s: allowzero=1 with both 0 and -1", req);
    }
    int64_t xn = dims_known(x) ? ks_tensor_numel(x) : -1;
    int64_t p = 1;
    int known = 1;
    for (int i = 0; i < n; i++) {
        if (i == neg)
            continue;
        if (o->dims[i] < 0) {
            known = 0;
            break;
        }
        if (!ks__mul_i64(p, o->dims[i], &p))
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "target shape %s overflows", req);
    }
    if (!known || xn < 0)
        return KS_OK; /* -1 stays unknown */
    if (neg >= 0) {
        if (p == 0) {
            if (xn != 0)
                return ks__op_error(oc, KS_INVALID_MODEL,
                                    "cannot reshape %s (%lld elements) to %s",
                                    shp(x, xb, sizeof xb), (long long)xn, req);
            o->dims[neg] = 0;
        } else if (xn % p != 0) {
            return ks__op_error(oc, KS_INVALID_MODEL, "cannot reshape %s (%lld elements) to %s",
                                shp(x, xb, sizeof xb), (long long)xn, req);
        } else {
            o->dims[neg] = xn / p;
        }
    } else if (p != xn) {
        return ks__op_error(oc, KS_INVALID_MODEL, "cannot reshape %s (%lld elements) to %s",
                            shp(x, xb, sizeof xb), (long long)xn, req);
    }
    return KS_OK;
}

/* ------------------------------------------------------------ Flatten */

ks_status ks__infer_flatten(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 1));
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    int64_t axis = ks__attr_i(oc->node, "axis", 1);
    o->dtype = x->dtype;
    o->ndim = 2;
    o->dims[0] = o->dims[1] = -1;
    if (x->ndim < 0)
        return KS_OK;
    int r = x->ndim;
    if (axis < -r || axis > r)
        return ks__op_error(oc, KS_INVALID_MODEL, "axis %lld is out of range for rank %d",
                            (long long)axis, r);
    if (axis < 0)
        axis += r;
    int64_t a = 1, b = 1;
    for (int i = 0; i < r; i++) {
        int64_t *acc = i < axis ? &a : &b;
        if (*acc < 0)
            continue;
        if (x->dims[i] < 0)
            *acc = -1;
        else if (!ks__mul_i64(*acc, x->dims[i], acc))
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "shape overflows");
    }
    /* a known zero dim makes the product zero even if others are unknown */
    for (int i = 0; i < r; i++)
        if (x->dims[i] == 0)
            *(i < axis ? &a : &b) = 0;
    o->dims[0] = a;
    o->dims[1] = b;
    return KS_OK;
}

/* ------------------------------------------------------------ Transpose */

ks_status ks__infer_transpose(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 1));
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    const int64_t *perm = NULL;
    int64_t np = ks__attr_ints(oc->node, "perm", &perm);
    o->dtype = x->dtype;
    int r = x->ndim;
    if (r < 0) {
        if (np < 0) {
            o->ndim = -1;
            return KS_OK;
        }
        r = (int)np;
    }
    if (r > KS_MAX_DIMS)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "rank %d exceeds %d", r, KS_MAX_DIMS);
    if (np >= 0) {
        if (np != r)
            return ks__op_error(oc, KS_INVALID_MODEL, "perm has %lld values for rank %d input",
                                (long long)np, r);
        int seen[KS_MAX_DIMS] = {0};
        for (int i = 0; i < r; i++) {
            if (perm[i] < 0 || perm[i] >= r || seen[perm[i]])
                return ks__op_error(oc, KS_INVALID_MODEL,
                                    "perm is not a permutation of 0..%d (value %lld at %d)", r - 1,
                                    (long long)perm[i], i);
            seen[perm[i]] = 1;
        }
    }
    o->ndim = r;
    for (int i = 0; i < r; i++) {
        int src = np >= 0 ? (int)perm[i] : r - 1 - i;
        o->dims[i] = x->ndim >= 0 ? x->dims[src] : -1;
    }
    return KS_OK;
}

/* ------------------------------------------------------------ Slice */

ks_status ks__slice_plan(ks_op_ctx *oc, ks_slice_plan *p) {
    const ks_tensor *x = oc->in[0];
    const ks_tensor *ts = in_at(oc, 1), *te = in_at(oc, 2), *ta = in_at(oc, 3),
                    *tp = in_at(oc, 4);
    int r = x->ndim;
    if (r < 0 || r > KS_MAX_DIMS)
        return ks__op_error(oc, KS_INTERNAL, "slice plan needs a known rank");
    int64_t st[KS_MAX_DIMS], en[KS_MAX_DIMS], ax[KS_MAX_DIMS], sp[KS_MAX_DIMS];
    int ns, ne, na = -1, nsp = -1;
    KS_CHECK(read_ints(oc, ts, "starts", st, KS_MAX_DIMS, &ns));
    KS_CHECK(read_ints(oc, te, "ends", en, KS_MAX_DIMS, &ne));
    if (ta)
        KS_CHECK(read_ints(oc, ta, "axes", ax, KS_MAX_DIMS, &na));
    if (tp)
        KS_CHECK(read_ints(oc, tp, "steps", sp, KS_MAX_DIMS, &nsp));
    if (ne != ns || (na >= 0 && na != ns) || (nsp >= 0 && nsp != ns))
        return ks__op_error(oc, KS_INVALID_MODEL,
                            "starts (%d), ends (%d), axes (%d) and steps (%d) lengths differ", ns,
                            ne, na, nsp);
    if (ns > r)
        return ks__op_error(oc, KS_INVALID_MODEL, "%d starts for a rank %d input", ns, r);
    p->ndim = r;
    for (int j = 0; j < r; j++) {
        p->start[j] = 0;
        p->step[j] = 1;
        p->len[j] = x->dims[j];
    }
    int seen[KS_MAX_DIMS] = {0};
    for (int i = 0; i < ns; i++) {
        int64_t a64 = na >= 0 ? ax[i] : i;
        int a;
        if (!ks__norm_axis(a64, r, &a))
            return ks__op_error(oc, KS_INVALID_MODEL, "axis %lld is out of range for rank %d",
                                (long long)a64, r);
        if (seen[a])
            return ks__op_error(oc, KS_INVALID_MODEL, "axis %d is repeated in axes", a);
        seen[a] = 1;
        int64_t step = nsp >= 0 ? sp[i] : 1;
        if (step == 0)
            return ks__op_error(oc, KS_INVALID_MODEL, "step on axis %d is 0", a);
        if (step < -INT64_MAX)
            step = -INT64_MAX;
        p->step[a] = step;
        int64_t d = x->dims[a];
        if (d < 0) {
            p->len[a] = -1;
            continue;
        }
        int64_t s = st[i], e = en[i];
        if (s < 0)
            s += d;
        /* INT32_MAX / INT64_MAX ends mean "to the end in the step's direction"
         * (numpy's None), as in onnxruntime: with a negative step that is
         * past index 0, not the clamp to d-1 */
        if (e == INT64_MAX || e == INT32_MAX)
            e = step < 0 ? -1 : d;
        else if (e < 0)
            e += d;
        int64_t len;
        if (step > 0) {
            s = s < 0 ? 0 : (s > d ? d : s);
            e = e < 0 ? 0 : (e > d ? d : e);
            len = e > s ? 1 + (e - s - 1) / step : 0;
        } else if (d == 0) {
            len = 0;
        } else { /* spec: starts clamp to [0, d-1], ends to [-1, d-1] */
            s = s < 0 ? 0 : (s > d - 1 ? d - 1 : s);
            e = e < -1 ? -1 : (e > d - 1 ? d - 1 : e);
            len = s > e ? 1 + (s - e - 1) / (-step) : 0;
        }
        p->start[a] = len > 0 ? s : 0;
        if (len <= 1)
            p->step[a] = 1; /* unused; keeps step * stride from overflowing */
        p->len[a] = len;
    }
    return KS_OK;
}

ks_status ks__infer_slice(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 3));
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    o->dtype = x->dtype;
    if (x->ndim < 0) {
        o->ndim = -1;
        return KS_OK;
    }
    int have = oc->in[1]->data && oc->in[2]->data;
    for (int i = 3; i < 5; i++)
        if (in_at(oc, i) && !in_at(oc, i)->data)
            have = 0;
    if (!have) {
        o->ndim = x->ndim;
        const ks_tensor *ta = in_at(oc, 3);
        if (ta && ta->data) {
            int64_t ax[KS_MAX_DIMS];
            int na;
            memcpy(o->dims, x->dims, sizeof o->dims);
            KS_CHECK(read_ints(oc, ta, "axes", ax, KS_MAX_DIMS, &na));
            for (int i = 0; i < na; i++) {
                int a;
                if (!ks__norm_axis(ax[i], x->ndim, &a))
                    return ks__op_error(oc, KS_INVALID_MODEL,
                                        "axis %lld is out of range for rank %d",
                                        (long long)ax[i], x->ndim);
                o->dims[a] = -1;
            }
        } else {
            for (int j = 0; j < x->ndim; j++)
                o->dims[j] = -1;
        }
        return KS_OK;
    }
    ks_slice_plan p;
    KS_CHECK(ks__slice_plan(oc, &p));
    o->ndim = x->ndim;
    for (int j = 0; j < x->ndim; j++)
        o->dims[j] = p.len[j];
    return KS_OK;
}

/* ------------------------------------------------------------ Split */

ks_status ks__split_sizes(ks_op_ctx *oc, int *axis_out, int64_t *sizes) {
    const ks_tensor *x = oc->in[0];
    int n = oc->n_out;
    int64_t a64 = ks__attr_i(oc->node, "axis", 0);
    int axis;
    if (!ks__norm_axis(a64, x->ndim, &axis))
        return ks__op_error(oc, KS_INVALID_MODEL, "axis %lld is out of range for rank %d",
                            (long long)a64, x->ndim);
    *axis_out = axis;
    int64_t d = x->dims[axis];
    const ks_tensor *ts = in_at(oc, 1);
    const ks_attr *nattr = ks__attr_find(oc->node, "num_outputs");
    if (nattr && nattr->i != n)
        return ks__op_error(oc, KS_INVALID_MODEL, "num_outputs = %lld but the node has %d outputs",
                            (long long)nattr->i, n);
    const int64_t *sattr = NULL;
    int64_t nsattr = ts ? -1 : ks__attr_ints(oc->node, "split", &sattr);
    if (ts || nsattr >= 0) {
        if (ts && !ts->data) {
            for (int i = 0; i < n; i++)
                sizes[i] = -1;
            return KS_OK;
        }
        int64_t k = ts ? ks_tensor_numel(ts) : nsattr;
        if (ts && (ts->ndim > 1 || !is_int_dtype(ts->dtype)))
            return ks__op_error(oc, KS_INVALID_MODEL, "split input must be a 1-D integer tensor");
        if (k != n)
            return ks__op_error(oc, KS_INVALID_MODEL, "split has %lld values for %d outputs",
                                (long long)k, n);
        int64_t sum = 0;
        for (int i = 0; i < n; i++) {
            sizes[i] = ts ? ks__tensor_get_i64(ts, i) : sattr[i];
            if (sizes[i] < 0)
                return ks__op_error(oc, KS_INVALID_MODEL, "split value %lld is negative",
                                    (long long)sizes[i]);
            sum += sizes[i];
        }
        if (d >= 0 && sum != d)
            return ks__op_error(oc, KS_INVALID_MODEL,
                                "split sizes sum to %lld but axis %d has size %lld",
                                (long long)sum, axis, (long long)d);
        return KS_OK;
    }
    if (n < 1)
        return ks__op_error(oc, KS_INVALID_MODEL, "has no outputs");
    if (d < 0) {
        for (int i = 0; i < n; i++)
            sizes[i] = -1;
        return KS_OK;
    }
    if (d % n != 0 && !nattr)
        return ks__op_error(oc, KS_INVALID_MODEL,
                            "axis %d of size %lld cannot be split equally into %d outputs", axis,
                            (long long)d, n);
    int64_t chunk = (d + n - 1) / n, left = d;
    for (int i = 0; i < n; i++) {
        sizes[i] = left < chunk ? left : chunk;
        left -= sizes[i];
    }
    return KS_OK;
}

ks_status ks__infer_split(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 1));
    const ks_tensor *x = oc->in[0];
    if (x->ndim < 0) {
        for (int i = 0; i < oc->n_out; i++)
            if (oc->out[i])
                set_unknown_rank(oc->out[i], x->dtype);
        return KS_OK;
    }
    int64_t *sizes = ks__alloc_array(oc->ctx, (size_t)oc->n_out + 1, sizeof(int64_t));
    if (!sizes)
        return ks__oom(oc->ctx, ((size_t)oc->n_out + 1) * sizeof(int64_t), "split sizes");
    int axis = 0;
    ks_status st = ks__split_sizes(oc, &axis, sizes);
    if (st == KS_OK) {
        for (int i = 0; i < oc->n_out; i++) {
            if (!oc->out[i])
                continue;
            copy_shape(oc->out[i], x);
            oc->out[i]->dims[axis] = sizes[i];
        }
    }
    ks__free(oc->ctx, sizes);
    return st;
}

/* ------------------------------------------------------------ Gather */

ks_status ks__infer_gather(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 2));
    const ks_tensor *x = oc->in[0], *idx = oc->in[1];
    ks_tensor *o = oc->out[0];
    o->dtype = x->dtype;
    if (idx->dtype != KS_DTYPE_INT64 && idx->dtype != KS_DTYPE_INT32)
        return ks__op_error(oc, KS_INVALID_MODEL, "indices must be int32 or int64, got %s",
                            ks_dtype_name(idx->dtype));
    if (x->ndim < 0 || idx->ndim < 0) {
        o->ndim = -1;
        return KS_OK;
    }
    int64_t a64 = ks__attr_i(oc->node, "axis", 0);
    int axis;
    if (!ks__norm_axis(a64, x->ndim, &axis))
        return ks__op_error(oc, KS_INVALID_MODEL, "axis %lld is out of range for rank %d",
                            (long long)a64, x->ndim);
    int r = x->ndim + idx->ndim - 1;
    if (r > KS_MAX_DIMS)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "output rank %d exceeds %d", r, KS_MAX_DIMS);
    int k = 0;
    for (int i = 0; i < axis; i++)
        o->dims[k++] = x->dims[i];
    for (int i = 0; i < idx->ndim; i++)
        o->dims[k++] = idx->dims[i];
    for (int i = axis + 1; i < x->ndim; i++)
        o->dims[k++] = x->dims[i];
    o->ndim = r;
    /* constant indices: report a bad index at build time already */
    int64_t d = x->dims[axis];
    if (idx->data && d >= 0 && dims_known(idx)) {
        int64_t n = ks_tensor_numel(idx);
        for (int64_t i = 0; i < n; i++) {
            int64_t v = ks__tensor_get_i64(idx, i);
            if (v < -d || v >= d)
                return ks__op_error(oc, KS_INVALID_ARGUMENT,
                                    "index %lld (indices element %lld) is out of range for axis "
                                    "%d of size %lld",
                                    (long long)v, (long long)i, axis, (long long)d);
        }
    }
    return KS_OK;
}

ks_status ks__infer_gather_elements(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 2));
    const ks_tensor *x = oc->in[0], *idx = oc->in[1];
    ks_tensor *o = oc->out[0];
    if (idx->dtype != KS_DTYPE_INT64 && idx->dtype != KS_DTYPE_INT32)
        return ks__op_error(oc, KS_INVALID_MODEL, "indices must be int32 or int64, got %s",
                            ks_dtype_name(idx->dtype));
    if (x->ndim >= 0 && idx->ndim >= 0 && x->ndim != idx->ndim)
        return ks__op_error(oc, KS_INVALID_MODEL, "data rank %d differs from indices rank %d",
                            x->ndim, idx->ndim);
    int rank = x->ndim >= 0 ? x->ndim : idx->ndim;
    if (rank >= 0) {
        int64_t a64 = ks__attr_i(oc->node, "axis", 0);
        int axis;
        if (!ks__norm_axis(a64, rank, &axis))
            return ks__op_error(oc, KS_INVALID_MODEL, "axis %lld is out of range for rank %d",
                                (long long)a64, rank);
    }
    copy_shape(o, idx);
    o->dtype = x->dtype;
    return KS_OK;
}

/* ------------------------------------------------------------ Unsqueeze / Squeeze */

ks_status ks__infer_unsqueeze(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 1));
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    o->dtype = x->dtype;
    int64_t ax[KS_MAX_DIMS];
    int na = 0;
    ks_status st;
    int got = int_list(oc, 1, "axes", ax, KS_MAX_DIMS, &na, &st);
    KS_CHECK(st);
    if (got < 0)
        return ks__op_error(oc, KS_INVALID_MODEL, "missing axes");
    if (x->ndim < 0) {
        o->ndim = -1;
        return KS_OK;
    }
    if (got == 0) {
        int64_t k = len_1d(in_at(oc, 1));
        if (k < 0 || x->ndim + k > KS_MAX_DIMS) {
            o->ndim = -1;
            return KS_OK;
        }
        o->ndim = x->ndim + (int)k;
        for (int i = 0; i < o->ndim; i++)
            o->dims[i] = -1;
        return KS_OK;
    }
    int r = x->ndim + na;
    if (r > KS_MAX_DIMS)
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "output rank %d exceeds %d", r, KS_MAX_DIMS);
    int mark[KS_MAX_DIMS] = {0};
    for (int i = 0; i < na; i++) {
        int a;
        if (!ks__norm_axis(ax[i], r, &a))
            return ks__op_error(oc, KS_INVALID_MODEL, "axis %lld is out of range for rank %d",
                                (long long)ax[i], r);
        if (mark[a])
            return ks__op_error(oc, KS_INVALID_MODEL, "axis %d is repeated", a);
        mark[a] = 1;
    }
    int k = 0;
    for (int i = 0; i < r; i++)
        o->dims[i] = mark[i] ? 1 : x->dims[k++];
    o->ndim = r;
    return KS_OK;
}

ks_status ks__infer_squeeze(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 1));
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    o->dtype = x->dtype;
    int64_t ax[KS_MAX_DIMS];
    int na = 0;
    ks_status st;
    int got = int_list(oc, 1, "axes", ax, KS_MAX_DIMS, &na, &st);
    KS_CHECK(st);
    if (x->ndim < 0) {
        o->ndim = -1;
        return KS_OK;
    }
    char b[96];
    if (got == 0) {
        int64_t k = len_1d(in_at(oc, 1));
        if (k <= 0 || k > x->ndim) { /* k == 0 means "all 1-dims": unknown rank */
            o->ndim = -1;
            return KS_OK;
        }
        o->ndim = x->ndim - (int)k;
        for (int i = 0; i < o->ndim; i++)
            o->dims[i] = -1;
        return KS_OK;
    }
    int mark[KS_MAX_DIMS] = {0};
    if (got < 0 || na == 0) {
        for (int i = 0; i < x->ndim; i++) {
            if (x->dims[i] < 0) {
                o->ndim = -1;
                return KS_OK;
            }
            mark[i] = x->dims[i] == 1;
        }
    } else {
        for (int i = 0; i < na; i++) {
            int a;
            if (!ks__norm_axis(ax[i], x->ndim, &a))
                return ks__op_error(oc, KS_INVALID_MODEL, "axis %lld is out of range for rank %d",
                                    (long long)ax[i], x->ndim);
            if (x->dims[a] >= 0 && x->dims[a] != 1)
                return ks__op_error(oc, KS_INVALID_MODEL,
                                    "cannot squeeze axis %d of size %lld (input %s)", a,
                                    (long long)x->dims[a], shp(x, b, sizeof b));
            mark[a] = 1;
        }
    }
    int k = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!mark[i])
            o->dims[k++] = x->dims[i];
    o->ndim = k;
    return KS_OK;
}

/* ------------------------------------------------------------ Shape / Size */

ks_status ks__infer_shape(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 1));
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    o->dtype = KS_DTYPE_INT64;
    o->ndim = 1;
    if (x->ndim < 0) {
        o->dims[0] = -1;
        return KS_OK;
    }
    int64_t r = x->ndim;
    int64_t s = ks__attr_i(oc->node, "start", 0), e = ks__attr_i(oc->node, "end", r);
    if (s < 0)
        s += r;
    if (e < 0)
        e += r;
    s = s < 0 ? 0 : (s > r ? r : s);
    e = e < 0 ? 0 : (e > r ? r : e);
    o->dims[0] = e > s ? e - s : 0;
    return KS_OK;
}

ks_status ks__infer_size(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 1));
    oc->out[0]->dtype = KS_DTYPE_INT64;
    oc->out[0]->ndim = 0;
    return KS_OK;
}

/* ------------------------------------------------------------ Constant(OfShape) */

ks_status ks__infer_constant(ks_op_ctx *oc) {
    if (oc->n_out < 1 || !oc->out[0])
        return ks__op_error(oc, KS_INVALID_MODEL, "has no output");
    ks_tensor *o = oc->out[0];
    const ks_attr *a;
    if ((a = ks__attr_find(oc->node, "value")) != NULL) {
        if (a->type != KS_ATTR_TENSOR)
            return ks__op_error(oc, KS_INVALID_MODEL, "attribute 'value' is not a tensor");
        copy_shape(o, &a->t);
    } else if ((a = ks__attr_find(oc->node, "value_float")) != NULL) {
        o->dtype = KS_DTYPE_FLOAT32;
        o->ndim = 0;
    } else if ((a = ks__attr_find(oc->node, "value_int")) != NULL) {
        o->dtype = KS_DTYPE_INT64;
        o->ndim = 0;
    } else if ((a = ks__attr_find(oc->node, "value_floats")) != NULL) {
        o->dtype = KS_DTYPE_FLOAT32;
        o->ndim = 1;
        o->dims[0] = a->n;
    } else if ((a = ks__attr_find(oc->node, "value_ints")) != NULL) {
        o->dtype = KS_DTYPE_INT64;
        o->ndim = 1;
        o->dims[0] = a->n;
    } else {
        const char *other[] = {"sparse_value", "value_string", "value_strings"};
        for (size_t i = 0; i < KS_ARRAY_LEN(other); i++)
            if (ks__attr_find(oc->node, other[i]))
                return ks__op_error(oc, KS_UNSUPPORTED_ATTR,
                                    "attribute '%s' is not supported", other[i]);
        return ks__op_error(oc, KS_INVALID_MODEL, "has no value attribute");
    }
    return KS_OK;
}

ks_status ks__infer_constant_of_shape(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 1));
    const ks_tensor *s = oc->in[0];
    ks_tensor *o = oc->out[0];
    const ks_tensor *v = ks__attr_t(oc->node, "value");
    o->dtype = KS_DTYPE_FLOAT32;
    if (v) {
        if (ks_tensor_numel(v) != 1)
            return ks__op_error(oc, KS_INVALID_MODEL,
                                "attribute 'value' must hold exactly one element, has %lld",
                                (long long)ks_tensor_numel(v));
        o->dtype = v->dtype;
    }
    if (s->ndim > 1)
        return ks__op_error(oc, KS_INVALID_MODEL, "shape input must be 1-D");
    if (!s->data) {
        int64_t k = len_1d(s);
        if (k < 0 || k > KS_MAX_DIMS) {
            o->ndim = -1;
            return KS_OK;
        }
        o->ndim = (int)k;
        for (int i = 0; i < o->ndim; i++)
            o->dims[i] = -1;
        return KS_OK;
    }
    int64_t d[KS_MAX_DIMS];
    int n;
    KS_CHECK(read_ints(oc, s, "shape", d, KS_MAX_DIMS, &n));
    for (int i = 0; i < n; i++) {
        if (d[i] < 0)
            return ks__op_error(oc, KS_INVALID_MODEL, "shape value %lld at %d is negative",
                                (long long)d[i], i);
        o->dims[i] = d[i];
    }
    o->ndim = n;
    return KS_OK;
}

/* ------------------------------------------------------------ Identity / Dropout */

ks_status ks__infer_identity(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 1));
    copy_shape(oc->out[0], oc->in[0]);
    return KS_OK;
}

ks_status ks__infer_dropout(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 1));
    const ks_tensor *tm = in_at(oc, 2), *tr = in_at(oc, 1);
    if (tm && tm->data && ks_tensor_numel(tm) >= 1 && ks__tensor_get_i64(tm, 0)) {
        double ratio = 0.5;
        if (tr && tr->data && ks_tensor_numel(tr) >= 1)
            ratio = ks__tensor_get_f64(tr, 0);
        if (ratio != 0.0)
            return ks__op_error(oc, KS_UNSUPPORTED_ATTR,
                                "training_mode = true with ratio %g: random dropout is not "
                                "supported by an inference engine",
                                ratio);
    }
    copy_shape(oc->out[0], oc->in[0]);
    if (oc->n_out > 1 && oc->out[1]) {
        copy_shape(oc->out[1], oc->in[0]);
        oc->out[1]->dtype = KS_DTYPE_BOOL;
    }
    return KS_OK;
}

/* ------------------------------------------------------------ Expand / Tile */

ks_status ks__infer_expand(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 2));
    const ks_tensor *x = oc->in[0], *s = oc->in[1];
    ks_tensor *o = oc->out[0];
    o->dtype = x->dtype;
    if (s->ndim > 1)
        return ks__op_error(oc, KS_INVALID_MODEL, "shape input must be 1-D");
    if (!s->data) {
        int64_t k = len_1d(s);
        if (k < 0 || x->ndim < 0) {
            o->ndim = -1;
            return KS_OK;
        }
        int r = x->ndim > k ? x->ndim : (int)k;
        if (r > KS_MAX_DIMS)
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "output rank %d exceeds %d", r,
                                KS_MAX_DIMS);
        o->ndim = r;
        for (int i = 0; i < r; i++) {
            int xi = i - (r - x->ndim);
            o->dims[i] = (xi >= 0 && x->dims[xi] > 1) ? x->dims[xi] : -1;
        }
        return KS_OK;
    }
    int64_t v[KS_MAX_DIMS];
    int n;
    KS_CHECK(read_ints(oc, s, "shape", v, KS_MAX_DIMS, &n));
    for (int i = 0; i < n; i++)
        if (v[i] < 0)
            return ks__op_error(oc, KS_INVALID_MODEL, "shape value %lld at %d is negative",
                                (long long)v[i], i);
    if (x->ndim < 0) {
        o->ndim = -1;
        return KS_OK;
    }
    int nout;
    if (ks__broadcast_shape(x->dims, x->ndim, v, n, o->dims, &nout) != KS_OK) {
        char b0[96], b1[96];
        return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "cannot expand %s to %s",
                            shp(x, b0, sizeof b0), ks_shape_str(v, n, b1, sizeof b1));
    }
    o->ndim = nout;
    return KS_OK;
}

ks_status ks__infer_tile(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 2));
    const ks_tensor *x = oc->in[0], *rp = oc->in[1];
    ks_tensor *o = oc->out[0];
    o->dtype = x->dtype;
    if (x->ndim < 0) {
        o->ndim = -1;
        return KS_OK;
    }
    o->ndim = x->ndim;
    if (!rp->data) {
        for (int i = 0; i < x->ndim; i++)
            o->dims[i] = x->dims[i] == 0 ? 0 : -1;
        return KS_OK;
    }
    int64_t v[KS_MAX_DIMS];
    int n;
    KS_CHECK(read_ints(oc, rp, "repeats", v, KS_MAX_DIMS, &n));
    if (n != x->ndim)
        return ks__op_error(oc, KS_INVALID_MODEL, "repeats has %d values for a rank %d input", n,
                            x->ndim);
    for (int i = 0; i < n; i++) {
        if (v[i] < 0)
            return ks__op_error(oc, KS_INVALID_MODEL, "repeats value %lld at %d is negative",
                                (long long)v[i], i);
        if (x->dims[i] < 0)
            o->dims[i] = v[i] == 0 ? 0 : -1;
        else if (!ks__mul_i64(x->dims[i], v[i], &o->dims[i]))
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "tiled dim %d overflows", i);
    }
    return KS_OK;
}

/* ------------------------------------------------------------ Range */

ks_status ks__infer_range(ks_op_ctx *oc) {
    KS_CHECK(need_inputs(oc, 3));
    const ks_tensor *s = oc->in[0], *l = oc->in[1], *d = oc->in[2];
    ks_tensor *o = oc->out[0];
    if (l->dtype != s->dtype || d->dtype != s->dtype)
        return ks__op_error(oc, KS_INVALID_MODEL, "start, limit and delta types differ (%s, %s, %s)",
                            ks_dtype_name(s->dtype), ks_dtype_name(l->dtype),
                            ks_dtype_name(d->dtype));
    if (!ks__move_dtype_is_float(s->dtype) && s->dtype != KS_DTYPE_INT32 &&
        s->dtype != KS_DTYPE_INT64)
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "Range of %s is not supported",
                            ks_dtype_name(s->dtype));
    o->dtype = s->dtype;
    o->ndim = 1;
    o->dims[0] = -1;
    for (int i = 0; i < 3; i++) {
        const ks_tensor *t = oc->in[i];
        if (t->ndim > 1 || (t->ndim == 1 && t->dims[0] != 1 && t->dims[0] >= 0))
            return ks__op_error(oc, KS_INVALID_MODEL, "input %d must be a scalar", i);
        if (!t->data)
            return KS_OK;
    }
    int64_t n;
    if (ks__move_dtype_is_float(s->dtype)) {
        double a = ks__tensor_get_f64(s, 0), b = ks__tensor_get_f64(l, 0),
               c = ks__tensor_get_f64(d, 0);
        if (c == 0.0 || c != c || a != a || b != b)
            return ks__op_error(oc, KS_INVALID_ARGUMENT,
                                "cannot make a range from %g to %g by %g", a, b, c);
        double q = ceil((b - a) / c);
        if (!(q < 9.0e18))
            return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "range from %g to %g by %g is too long",
                                a, b, c);
        n = q > 0 ? (int64_t)q : 0;
    } else {
        int64_t a = ks__tensor_get_i64(s, 0), b = ks__tensor_get_i64(l, 0),
                c = ks__tensor_get_i64(d, 0);
        if (c == 0)
            return ks__op_error(oc, KS_INVALID_ARGUMENT, "delta is 0");
        if ((c > 0 && b <= a) || (c < 0 && b >= a)) {
            n = 0;
        } else {
            uint64_t diff = c > 0 ? (uint64_t)b - (uint64_t)a : (uint64_t)a - (uint64_t)b;
            uint64_t step = c > 0 ? (uint64_t)c : (uint64_t)0 - (uint64_t)c;
            uint64_t q = (diff - 1) / step + 1;
            if (q > (uint64_t)INT64_MAX)
                return ks__op_error(oc, KS_UNSUPPORTED_SHAPE, "range is too long");
            n = (int64_t)q;
        }
    }
    o->dims[0] = n;
    return KS_OK;
}

/* ------------------------------------------------------------ DepthToSpace / SpaceToDepth */

static ks_status depth_space(ks_op_ctx *oc, int to_space) {
    KS_CHECK(need_inputs(oc, 1));
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    int64_t b = ks__attr_i(oc->node, "blocksize", 0);
    if (b <= 0 || b > (1 << 20))
        return ks__op_error(oc, KS_INVALID_MODEL, "blocksize %lld is invalid", (long long)b);
    if (to_space) {
        const char *mode = ks__attr_s(oc->node, "mode", "DCR");
        if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
            return ks__op_error(oc, KS_UNSUPPORTED_ATTR, "mode '%s' is not DCR or CRD", mode);
    }
    o->dtype = x->dtype;
    o->ndim = 4;
    if (x->ndim < 0) {
        for (int i = 0; i < 4; i++)
            o->dims[i] = -1;
        return KS_OK;
    }
    char sb[96];
    if (x->ndim != 4)
        return ks__op_error(oc, KS_INVALID_MODEL, "input must be 4-D (NCHW), got %s",
                            shp(x, sb, sizeof sb));
    int64_t n = x->dims[0], c = x->dims[1], h = x->dims[2], w = x->dims[3];
    o->dims[0] = n;
    if (to_space) {
        if (c >= 0 && c % (b * b) != 0)
            return ks__op_error(oc, KS_INVALID_MODEL,
                                "channels %lld are not divisible by blocksize^2 = %lld",
                                (long long)c, (long long)(b * b));
        o->dims[1] = c < 0 ? -1 : c / (b * b);
        o->dims[2] = h < 0 ? -1 : h * b;
        o->dims[3] = w < 0 ? -1 : w * b;
    } else {
        if ((h >= 0 && h % b != 0) || (w >= 0 && w % b != 0))
            return ks__op_error(oc, KS_INVALID_MODEL,
                                "height/width of %s are not divisible by blocksize %lld",
                                shp(x, sb, sizeof sb), (long long)b);
        o->dims[1] = c < 0 ? -1 : c * b * b;
        o->dims[2] = h < 0 ? -1 : h / b;
        o->dims[3] = w < 0 ? -1 : w / b;
    }
    return KS_OK;
}

ks_status ks__infer_depth_to_space(ks_op_ctx *oc) { return depth_space(oc, 1); }
ks_status ks__infer_space_to_depth(ks_op_ctx *oc) { return depth_space(oc, 0); }
