/* CPU reference: Pad (constant / reflect / edge / wrap; pads, constant_value
 * and axes inputs; negative pads crop). Moves bytes: every dtype.
 *
 * Each axis gets a map from output index to source index (-1 = the constant
 * value, see ks__pad_src_index); rows of the last axis are then copied with
 * one memcpy for the part inside the input and element copies at the
 * borders. */
#include "backends/cpu/nn_common.h"

ks_status ks__cpu_pad(ks_op_ctx *oc) {
    ks_pad_params p;
    KS_CHECK(ks__pad_params(oc, &p));
    const ks_tensor *x = oc->in[0];
    const ks_tensor *cv = oc->n_in > 2 ? oc->in[2] : NULL;
    ks_tensor *y = oc->out[0];
    if (!p.known)
        return ks__op_error(oc, KS_INTERNAL, "Pad: pads unknown at run time");
    size_t es = ks_dtype_size(x->dtype);
    if (es == 0 || y->dtype != x->dtype)
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "Pad: dtype %s", ks_dtype_name(x->dtype));
    unsigned char cbytes[16] = {0};
    if (cv && ks_tensor_numel(cv) >= 1 && p.mode == KS_PAD_CONSTANT) {
        if (cv->dtype != x->dtype)
            return ks__op_error(oc, KS_INVALID_MODEL, "Pad: constant_value is %s but data is %s",
                                ks_dtype_name(cv->dtype), ks_dtype_name(x->dtype));
        memcpy(cbytes, cv->data, es);
    }
    int r = x->ndim;
    if (r == 0) {
        memcpy(y->data, x->data, es);
        return KS_OK;
    }
    int64_t total = ks_tensor_numel(y);
    if (total == 0)
        return KS_OK;
    int64_t st[KS_MAX_DIMS];
    ks__strides(x->dims, r, st);
    int64_t *map[KS_MAX_DIMS] = {0};
    ks_status s = KS_OK;
    for (int a = 0; a < r && s == KS_OK; a++) {
        s = ks__nn_scratch(oc, y->dims[a], sizeof(int64_t), (void **)&map[a]);
        if (s != KS_OK)
            break;
        int64_t lo = p.begin[a] < 0 ? -p.begin[a] : 0;
        int64_t hi = x->dims[a] - (p.end[a] < 0 ? -p.end[a] : 0);
        for (int64_t o = 0; o < y->dims[a]; o++)
            map[a][o] = ks__pad_src_index(p.mode, o - p.begin[a], lo, hi);
    }
    if (s == KS_OK) {
        const int last = r - 1;
        const int64_t nl = y->dims[last];
        /* output range of the last axis copied straight from the input */
        int64_t c0 = p.begin[last] > 0 ? p.begin[last] : 0;
        int64_t c1 = p.begin[last] + x->dims[last];
        if (c1 > nl)
            c1 = nl;
        if (c1 < c0)
            c1 = c0;
        int64_t n_rows = total / nl;
        int64_t idx[KS_MAX_DIMS] = {0};
        char *dst = (char *)y->data;
        const char *src = (const char *)x->data;
        for (int64_t row = 0; row < n_rows; row++, dst += (size_t)nl * es) {
            int64_t off = 0;
            int constant = 0;
            for (int a = 0; a < last; a++) {
                int64_t m = map[a][idx[a]];
                if (m < 0)
                    constant = 1;
                else
                    off += m * st[a];
            }
            if (constant) {
                for (int64_t o = 0; o < nl; o++)
                    memcpy(dst + (size_t)o * es, cbytes, es);
            } else {
                const char *srow = src + (size_t)off * es;
                for (int64_t o = 0; o < c0; o++) {
                    int64_t m = map[last][o];
                    memcpy(dst + (size_t)o * es, m < 0 ? (const char *)cbytes : srow + m * es, es);
                }
                if (c1 > c0)
                    memcpy(dst + (size_t)c0 * es, srow + (size_t)(c0 - p.begin[last]) * es,
                           (size_t)(c1 - c0) * es);
                for (int64_t o = c1; o < nl; o++) {
                    int64_t m = map[last][o];
                    memcpy(dst + (size_t)o * es, m < 0 ? (const char *)cbytes : srow + m * es, es);
                }
            }
            for (int a = last - 1; a >= 0; a--) {
                if (++idx[a] < y->dims[a])
                    break;
                idx[a] = 0;
            }
        }
    }
    for (int a = 0; a < r; a++)
        ks__free(oc->ctx, map[a]);
    return s;
}
