/* Range: out[i] = start + i * delta (float32/float64/float16/int32/int64). */
#include "backends/cpu/move_common.h"

ks_status ks__cpu_range(ks_op_ctx *oc) {
    const ks_tensor *s = oc->in[0], *d = oc->in[2];
    ks_tensor *o = oc->out[0];
    int64_t n = ks_tensor_numel(o);
    switch (o->dtype) {
    case KS_DTYPE_INT64: {
        int64_t a = ks__tensor_get_i64(s, 0), c = ks__tensor_get_i64(d, 0);
        for (int64_t i = 0; i < n; i++)
            ((int64_t *)o->data)[i] = (int64_t)((uint64_t)a + (uint64_t)i * (uint64_t)c);
        break;
    }
    case KS_DTYPE_INT32: {
        int64_t a = ks__tensor_get_i64(s, 0), c = ks__tensor_get_i64(d, 0);
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)o->data)[i] = (int32_t)(uint32_t)((uint64_t)a + (uint64_t)i * (uint64_t)c);
        break;
    }
    case KS_DTYPE_FLOAT32:
    case KS_DTYPE_FLOAT64:
    case KS_DTYPE_FLOAT16: {
        double a = ks__tensor_get_f64(s, 0), c = ks__tensor_get_f64(d, 0);
        for (int64_t i = 0; i < n; i++)
            ks__tensor_set_f64(o, i, a + (double)i * c);
        break;
    }
    default:
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "Range of %s is not supported",
                            ks_dtype_name(o->dtype));
    }
    return KS_OK;
}
