/* DepthToSpace (DCR and CRD) and SpaceToDepth as strided copies over a 6-D
 * view of the output. */
#include <string.h>

#include "backends/cpu/move_common.h"

ks_status ks__cpu_depth_to_space(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    size_t es = ks_dtype_size(x->dtype);
    int64_t b = ks__attr_i(oc->node, "blocksize", 0);
    int crd = strcmp(ks__attr_s(oc->node, "mode", "DCR"), "CRD") == 0;
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (b <= 0 || C % (b * b) != 0)
        return ks__op_error(oc, KS_INVALID_MODEL, "bad blocksize %lld", (long long)b);
    int64_t Co = C / (b * b), hw = H * W;
    /* output viewed as [N, Co, H, b(i), W, b(j)] */
    int64_t dims[6] = {N, Co, H, b, W, b};
    int64_t st[6];
    st[0] = C * hw;
    st[2] = W;
    st[4] = 1;
    if (crd) { /* in channel = c*b*b + i*b + j */
        st[1] = b * b * hw;
        st[3] = b * hw;
        st[5] = hw;
    } else { /* DCR: in channel = (i*b + j)*Co + c */
        st[1] = hw;
        st[3] = b * Co * hw;
        st[5] = Co * hw;
    }
    for (int i = 0; i < 6; i++)
        st[i] *= (int64_t)es;
    if (ks_tensor_numel(o) == 0)
        return KS_OK;
    ks__cpu_strided_copy(x->data, st, o->data, dims, 6, es);
    return KS_OK;
}

ks_status ks__cpu_space_to_depth(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    size_t es = ks_dtype_size(x->dtype);
    int64_t b = ks__attr_i(oc->node, "blocksize", 0);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (b <= 0 || H % b != 0 || W % b != 0)
        return ks__op_error(oc, KS_INVALID_MODEL, "bad blocksize %lld", (long long)b);
    /* out[n, (i*b + j)*C + c, h, w] = in[n, c, h*b + i, w*b + j];
     * output viewed as [N, b(i), b(j), C, H/b, W/b] */
    int64_t dims[6] = {N, b, b, C, H / b, W / b};
    int64_t st[6] = {C * H * W, W, 1, H * W, b * W, b};
    for (int i = 0; i < 6; i++)
        st[i] *= (int64_t)es;
    if (ks_tensor_numel(o) == 0)
        return KS_OK;
    ks__cpu_strided_copy(x->data, st, o->data, dims, 6, es);
    return KS_OK;
}
