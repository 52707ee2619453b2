/* CPU reference: TopK(X, K) -> (Values, Indices int64).
 *
 * For each slice along `axis` the K largest (largest=1) or smallest
 * elements, in sorted order (also when sorted=0: any order is allowed
 * then, and sorted is the deterministic choice). Ties keep the lower index
 * first, as the ONNX tests expect. NaN counts as larger than every number
 * (numpy's sort order). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/elementwise.h"

typedef struct topk_item {
    double v;      /* float dtypes */
    int64_t iv;    /* integer dtypes (exact) */
    int64_t idx;
} topk_item;

/* a before b? ascending value, NaN last, then index */
static int cmp_f_asc(const void *pa, const void *pb) {
    const topk_item *a = (const topk_item *)pa, *b = (const topk_item *)pb;
    int an = a->v != a->v, bn = b->v != b->v;
    if (an != bn)
        return an ? 1 : -1;
    if (!an && a->v != b->v)
        return a->v < b->v ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}
static int cmp_f_desc(const void *pa, const void *pb) {
    const topk_item *a = (const topk_item *)pa, *b = (const topk_item *)pb;
    int an = a->v != a->v, bn = b->v != b->v;
    if (an != bn)
        return an ? -1 : 1;
    if (!an && a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}
static int cmp_i_asc(const void *pa, const void *pb) {
    const topk_item *a = (const topk_item *)pa, *b = (const topk_item *)pb;
    if (a->iv != b->iv)
        return a->iv < b->iv ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}
static int cmp_i_desc(const void *pa, const void *pb) {
    const topk_item *a = (const topk_item *)pa, *b = (const topk_item *)pb;
    if (a->iv != b->iv)
        return a->iv > b->iv ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Max-heap on `cmp` (the root is the item that sorts last) of h[0..n). */
static void sift_down(topk_item *h, int64_t n, int64_t i, int (*cmp)(const void *, const void *)) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && cmp(&h[l], &h[w]) > 0)
            w = l;
        if (r < n && cmp(&h[r], &h[w]) > 0)
            w = r;
        if (w == i)
            return;
        topk_item t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Moves the k items that sort first to it[0..k) in sorted order. The
 * comparator is a total order (index breaks ties), so the result equals
 * the first k of a full sort whichever way it is computed. */
static void select_k(topk_item *it, int64_t len, int64_t k, int (*cmp)(const void *, const void *)) {
    if (k * 8 < len) { /* heap selection: O(len log k) */
        for (int64_t i = k / 2 - 1; i >= 0; i--)
            sift_down(it, k, i, cmp);
        for (int64_t j = k; j < len; j++) {
            if (cmp(&it[j], &it[0]) < 0) {
                it[0] = it[j];
                sift_down(it, k, 0, cmp);
            }
        }
        qsort(it, (size_t)k, sizeof(topk_item), cmp);
    } else {
        qsort(it, (size_t)len, sizeof(topk_item), cmp);
    }
}

ks_status ks__cpu_top_k(ks_op_ctx *oc) {
    if (oc->n_in < 2 || !oc->in[0] || !oc->in[1])
        return ks__op_error(oc, KS_INVALID_MODEL, "TopK needs X and K");
    const ks_tensor *x = oc->in[0], *tk = oc->in[1];
    ks_tensor *vals = oc->out[0];
    ks_tensor *idxs = oc->n_out > 1 ? oc->out[1] : NULL;
    int64_t axis_attr = ks__attr_i(oc->node, "axis", -1);
    int largest = ks__attr_i(oc->node, "largest", 1) != 0;
    int axis;
    if (!ks__norm_axis(axis_attr, x->ndim, &axis))
        return ks__op_error(oc, KS_UNSUPPORTED_ATTR, "axis %lld out of range for rank %d",
                            (long long)axis_attr, x->ndim);
    if (ks_tensor_numel(tk) != 1 || !ks__dtype_is_int(tk->dtype))
        return ks__op_error(oc, KS_INVALID_MODEL, "K must be a single integer");
    int64_t k = ks__tensor_get_i64(tk, 0), len = x->dims[axis];
    if (k < 0 || k > len)
        return ks__op_error(oc, KS_INVALID_MODEL, "K = %lld out of range for axis of size %lld",
                            (long long)k, (long long)len);
    int is_f = ks__dtype_is_float(x->dtype);
    if (!is_f && !ks__dtype_is_int(x->dtype))
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "dtype %s is not supported",
                            ks_dtype_name(x->dtype));
    if (!vals || vals->dtype != x->dtype || (idxs && idxs->dtype != KS_DTYPE_INT64))
        return ks__op_error(oc, KS_INTERNAL, "unexpected output dtypes");
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= x->dims[i];
    for (int i = axis + 1; i < x->ndim; i++)
        inner *= x->dims[i];
    if (k == 0 || outer * inner == 0)
        return KS_OK;
    topk_item *it = (topk_item *)ks__alloc_array(oc->ctx, (size_t)len, sizeof(topk_item));
    if (!it)
        return ks__oom(oc->ctx, (size_t)len * sizeof(topk_item), "TopK scratch");
    int (*cmp)(const void *, const void *) =
        is_f ? (largest ? cmp_f_desc : cmp_f_asc) : (largest ? cmp_i_desc : cmp_i_asc);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t in = 0; in < inner; in++) {
            int64_t base = o * len * inner + in;
            for (int64_t j = 0; j < len; j++) {
                it[j].idx = j;
                if (is_f)
                    it[j].v = ks__tensor_get_f64(x, base + j * inner);
                else
                    it[j].iv = ks__tensor_get_i64(x, base + j * inner);
            }
            select_k(it, len, k, cmp);
            int64_t obase = o * k * inner + in;
            for (int64_t j = 0; j < k; j++) {
                int64_t src = base + it[j].idx * inner, dst = obase + j * inner;
                size_t es = ks_dtype_size(x->dtype);
                memcpy((char *)vals->data + (size_t)dst * es,
                       (const char *)x->data + (size_t)src * es, es);
                if (idxs)
                    ((int64_t *)idxs->data)[dst] = it[j].idx;
            }
        }
    }
    ks__free(oc->ctx, it);
    return KS_OK;
}
