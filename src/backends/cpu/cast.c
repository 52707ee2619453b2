/* Cast: every pair among float32, float16, float64, int8, uint8, int32, int64
 * and bool. float -> integer truncates toward zero and saturates to the
 * target range (NaN -> 0); integer -> integer wraps (two's complement, as
 * numpy and onnxruntime do); anything -> bool is (x != 0). */
#include <string.h>

#include "backends/cpu/move_common.h"

static void put_int(ks_tensor *o, int64_t i, int64_t v) {
    switch (o->dtype) {
    case KS_DTYPE_INT64: ((int64_t *)o->data)[i] = v; break;
    case KS_DTYPE_INT32: ((int32_t *)o->data)[i] = (int32_t)(uint32_t)(uint64_t)v; break;
    case KS_DTYPE_INT8: ((int8_t *)o->data)[i] = (int8_t)(uint8_t)(uint64_t)v; break;
    case KS_DTYPE_UINT8: ((uint8_t *)o->data)[i] = (uint8_t)(uint64_t)v; break;
    case KS_DTYPE_BOOL: ((uint8_t *)o->data)[i] = v != 0; break;
    case KS_DTYPE_FLOAT32: ((float *)o->data)[i] = (float)v; break;
    case KS_DTYPE_FLOAT64: ((double *)o->data)[i] = (double)v; break;
    case KS_DTYPE_FLOAT16: ((uint16_t *)o->data)[i] = ks_float_to_half((float)v); break;
    default: break;
    }
}

ks_status ks__cpu_cast(ks_op_ctx *oc) {
    const ks_tensor *x = oc->in[0];
    ks_tensor *o = oc->out[0];
    int64_t n = ks_tensor_numel(x);
    if (n < 0 || n != ks_tensor_numel(o))
        return ks__op_error(oc, KS_INTERNAL, "input and output element counts differ");
    if (x->dtype == o->dtype) {
        if (n)
            memcpy(o->data, x->data, ks_tensor_nbytes(x));
        return KS_OK;
    }
    /* fast paths used by fp16 models */
    if (x->dtype == KS_DTYPE_FLOAT16 && o->dtype == KS_DTYPE_FLOAT32) {
        for (int64_t i = 0; i < n; i++)
            ((float *)o->data)[i] = ks_half_to_float(((const uint16_t *)x->data)[i]);
        return KS_OK;
    }
    if (x->dtype == KS_DTYPE_FLOAT32 && o->dtype == KS_DTYPE_FLOAT16) {
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)o->data)[i] = ks_float_to_half(((const float *)x->data)[i]);
        return KS_OK;
    }
    if (ks__move_dtype_is_float(x->dtype)) {
        if (o->dtype == KS_DTYPE_FLOAT16 && x->dtype == KS_DTYPE_FLOAT64) {
            /* round once, directly from double would need a double->half
             * routine; double -> float -> half differs only in rare
             * double-rounding ties */
            for (int64_t i = 0; i < n; i++)
                ((uint16_t *)o->data)[i] = ks_float_to_half((float)((const double *)x->data)[i]);
            return KS_OK;
        }
        for (int64_t i = 0; i < n; i++)
            ks__tensor_set_f64(o, i, ks__tensor_get_f64(x, i)); /* truncates, saturates */
        return KS_OK;
    }
    switch (x->dtype) {
    case KS_DTYPE_INT64: case KS_DTYPE_INT32: case KS_DTYPE_INT8: case KS_DTYPE_UINT8:
    case KS_DTYPE_BOOL:
        for (int64_t i = 0; i < n; i++)
            put_int(o, i, ks__tensor_get_i64(x, i));
        return KS_OK;
    default:
        return ks__op_error(oc, KS_UNSUPPORTED_DTYPE, "cannot cast %s to %s",
                            ks_dtype_name(x->dtype), ks_dtype_name(o->dtype));
    }
}
