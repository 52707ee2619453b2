/* Helpers shared by op implementations (declared in graph/ir.h):
 * broadcasting, typed element access, axis normalization, strides. */
#include <math.h>
#include <string.h>

#include "graph/ir.h"

int ks__broadcast_shape(const int64_t *a, int na, const int64_t *b, int nb, int64_t *out,
                        int *nout) {
    if (na < 0 || nb < 0) {
        /* unknown rank on either side: the result rank is unknown */
        *nout = -1;
        return KS_OK;
    }
    if (na > KS_MAX_DIMS || nb > KS_MAX_DIMS)
        return KS_UNSUPPORTED_SHAPE;
    int n = na > nb ? na : nb;
    int64_t tmp[KS_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        /* align from the right */
        int ia = i - (n - na), ib = i - (n - nb);
        int64_t da = ia >= 0 ? a[ia] : 1;
        int64_t db = ib >= 0 ? b[ib] : 1;
        int64_t d;
        if (da == db)
            d = da;
        else if (da == 1)
            d = db;
        else if (db == 1)
            d = da;
        else if (da < 0)
            d = db; /* unknown vs concrete > 1: must be that dim (or 1) */
        else if (db < 0)
            d = da;
        else
            return KS_UNSUPPORTED_SHAPE;
        tmp[i] = d;
    }
    memcpy(out, tmp, (size_t)n * sizeof(int64_t));
    *nout = n;
    return KS_OK;
}

int64_t ks__tensor_get_i64(const ks_tensor *t, int64_t i) {
    switch (t->dtype) {
    case KS_DTYPE_INT64:
        return ((const int64_t *)t->data)[i];
    case KS_DTYPE_INT32:
        return ((const int32_t *)t->data)[i];
    case KS_DTYPE_INT8:
        return ((const int8_t *)t->data)[i];
    case KS_DTYPE_UINT8:
    case KS_DTYPE_BOOL:
        return ((const uint8_t *)t->data)[i];
    case KS_DTYPE_FLOAT32:
    case KS_DTYPE_FLOAT16:
    case KS_DTYPE_FLOAT64: {
        double v = ks__tensor_get_f64(t, i);
        if (v != v)
            return 0;
        if (v >= 9.2233720368547758e18)
            return INT64_MAX;
        if (v <= -9.2233720368547758e18)
            return INT64_MIN;
        return (int64_t)v;
    }
    default:
        return 0;
    }
}

double ks__tensor_get_f64(const ks_tensor *t, int64_t i) {
    switch (t->dtype) {
    case KS_DTYPE_FLOAT32:
        return ((const float *)t->data)[i];
    case KS_DTYPE_FLOAT64:
        return ((const double *)t->data)[i];
    case KS_DTYPE_FLOAT16:
        return ks_half_to_float(((const uint16_t *)t->data)[i]);
    case KS_DTYPE_INT64:
        return (double)((const int64_t *)t->data)[i];
    case KS_DTYPE_INT32:
        return ((const int32_t *)t->data)[i];
    case KS_DTYPE_INT8:
        return ((const int8_t *)t->data)[i];
    case KS_DTYPE_UINT8:
    case KS_DTYPE_BOOL:
        return ((const uint8_t *)t->data)[i];
    default:
        return 0.0;
    }
}

/* double -> integer with saturation (NaN -> 0), avoiding undefined casts */
static int64_t sat_i64(double v, double lo, double hi) {
    if (v != v)
        return 0;
    if (v <= lo)
        return (int64_t)lo;
    if (v >= hi)
        return v >= 9.2233720368547758e18 ? INT64_MAX : (int64_t)hi;
    return (int64_t)v;
}

void ks__tensor_set_f64(ks_tensor *t, int64_t i, double v) {
    switch (t->dtype) {
    case KS_DTYPE_FLOAT32:
        ((float *)t->data)[i] = (float)v;
        break;
    case KS_DTYPE_FLOAT64:
        ((double *)t->data)[i] = v;
        break;
    case KS_DTYPE_FLOAT16:
        ((uint16_t *)t->data)[i] = ks_float_to_half((float)v);
        break;
    case KS_DTYPE_INT64:
        ((int64_t *)t->data)[i] = sat_i64(v, -9.2233720368547758e18, 9.2233720368547758e18);
        break;
    case KS_DTYPE_INT32:
        ((int32_t *)t->data)[i] = (int32_t)sat_i64(v, -2147483648.0, 2147483647.0);
        break;
    case KS_DTYPE_INT8:
        ((int8_t *)t->data)[i] = (int8_t)sat_i64(v, -128.0, 127.0);
        break;
    case KS_DTYPE_UINT8:
        ((uint8_t *)t->data)[i] = (uint8_t)sat_i64(v, 0.0, 255.0);
        break;
    case KS_DTYPE_BOOL:
        ((uint8_t *)t->data)[i] = v != 0.0;
        break;
    default:
        break;
    }
}

int ks__norm_axis(int64_t axis, int rank, int *out) {
    if (rank < 0)
        return 0;
    if (axis < 0)
        axis += rank;
    if (axis < 0 || axis >= rank)
        return 0;
    *out = (int)axis;
    return 1;
}

void ks__strides(const int64_t *dims, int ndim, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i] > 1 ? dims[i] : 1;
    }
}
