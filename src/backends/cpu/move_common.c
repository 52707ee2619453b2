/* Strided copy shared by the data-movement kernels (Transpose, Slice, Expand,
 * Tile, DepthToSpace, SpaceToDepth). */
#include <string.h>

#include "backends/cpu/move_common.h"

void ks__cpu_strided_copy(const void *src, const int64_t *src_stride_bytes, void *dst,
                          const int64_t *out_dims, int nd, size_t es) {
    int64_t dims[KS_MOVE_MAX_ND], st[KS_MOVE_MAX_ND];
    int n = 0;
    /* drop size-1 dims, merge dims that are contiguous in the source */
    for (int i = 0; i < nd; i++) {
        if (out_dims[i] == 0)
            return;
        if (out_dims[i] == 1)
            continue;
        if (n > 0 && st[n - 1] == src_stride_bytes[i] * out_dims[i]) {
            dims[n - 1] *= out_dims[i];
            st[n - 1] = src_stride_bytes[i];
            continue;
        }
        dims[n] = out_dims[i];
        st[n] = src_stride_bytes[i];
        n++;
    }
    const char *s = (const char *)src;
    char *d = (char *)dst;
    if (n == 0) {
        memcpy(d, s, es);
        return;
    }
    /* innermost run: contiguous -> one memcpy, else an element loop */
    int64_t run = dims[n - 1], rst = st[n - 1];
    int contiguous = rst == (int64_t)es;
    int64_t idx[KS_MOVE_MAX_ND] = {0};
    int64_t off = 0;
    for (;;) {
        const char *p = s + off;
        if (contiguous) {
            memcpy(d, p, (size_t)run * es);
            d += (size_t)run * es;
        } else {
            switch (es) {
            case 1:
                for (int64_t k = 0; k < run; k++, p += rst)
                    *d++ = *p;
                break;
            case 2:
                for (int64_t k = 0; k < run; k++, p += rst, d += 2)
                    memcpy(d, p, 2);
                break;
            case 4:
                for (int64_t k = 0; k < run; k++, p += rst, d += 4)
                    memcpy(d, p, 4);
                break;
            case 8:
                for (int64_t k = 0; k < run; k++, p += rst, d += 8)
                    memcpy(d, p, 8);
                break;
            default:
                for (int64_t k = 0; k < run; k++, p += rst, d += es)
                    memcpy(d, p, es);
                break;
            }
        }
        int j = n - 2;
        for (; j >= 0; j--) {
            off += st[j];
            if (++idx[j] < dims[j])
                break;
            off -= st[j] * dims[j];
            idx[j] = 0;
        }
        if (j < 0)
            return;
    }
}
