// Device helpers shared by mtcnn.cu and mtcnn_gpu.cu (bilinear sampling as
// the CPU references in mtcnn.c, operation by operation). Products that
// feed a sum use __fmul_rn/__fadd_rn so nvcc cannot contract them into FMAs
// (the host C11 build does not): the GPU then rounds exactly as the CPU.
#ifndef KS_VISION_MTCNN_DEV_CUH
#define KS_VISION_MTCNN_DEV_CUH
#include <stddef.h>
#include <stdint.h>

/* Layout of ks_mtg_bufs.cand (plain C, also included by mtcnn_gpu.c and the
 * test): cand_cap int cell indices, then (8-byte aligned) the per-level NMS
 * neighbour masks, KS_MTG_MASK_WORDS uint64 words per candidate slot, word w
 * of slot i at [w * cand_cap + i]. */
#define KS_MTG_MASK_WORDS 3 /* 13 x 13 window = 169 bits */
#define KS_MTG_MASK_OFF(cap) (((size_t)(cap) + 1) & ~(size_t)1) /* in ints */
#define KS_MTG_CAND_BYTES(cap)                                                                 \
    (KS_MTG_MASK_OFF(cap) * sizeof(int) + (size_t)KS_MTG_MASK_WORDS * (size_t)(cap) * 8)

#ifdef __CUDACC__

// Bilinear sample of channel c at output (x, y) of a dw x dh resize of a
// sw x sh HWC image (half-pixel centres, edge clamp), as the CPU reference.
static __device__ __forceinline__ float sample(const float *src, int sw, int sh, int dw, int dh,
                                               int x, int y, int c) {
    float sx = (float)sw / (float)dw, sy = (float)sh / (float)dh;
    float fy = __fsub_rn(__fmul_rn((float)y + 0.5f, sy), 0.5f);
    if (fy < 0)
        fy = 0;
    int y0 = (int)fy;
    if (y0 > sh - 1)
        y0 = sh - 1;
    int y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
    float wy = fy - (float)y0;
    float fx = __fsub_rn(__fmul_rn((float)x + 0.5f, sx), 0.5f);
    if (fx < 0)
        fx = 0;
    int x0 = (int)fx;
    if (x0 > sw - 1)
        x0 = sw - 1;
    int x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
    float wx = fx - (float)x0;
    float a = src[((size_t)y0 * sw + x0) * 3 + c], b = src[((size_t)y0 * sw + x1) * 3 + c];
    float d = src[((size_t)y1 * sw + x0) * 3 + c], e = src[((size_t)y1 * sw + x1) * 3 + c];
    float top = __fadd_rn(a, __fmul_rn(b - a, wx)), bot = __fadd_rn(d, __fmul_rn(e - d, wx));
    return __fadd_rn(top, __fmul_rn(bot - top, wy));
}

static __device__ __forceinline__ size_t pack_index(int x, int y, int c, int w, int h, int nhwc,
                                                    int transposed) {
    int A = transposed ? w : h, B = transposed ? h : w;
    int a = transposed ? x : y, b = transposed ? y : x;
    return nhwc ? ((size_t)a * B + b) * 3 + c : ((size_t)c * A + a) * B + b;
}

// MTCNN crop of box (1-based inclusive ints) resized to size x size, zero
// (normalised -127.5/128) padding outside the image; 0 for an invalid box.
static __device__ __forceinline__ float ks_mtg_crop_sample(const float *img, int w, int h,
                                                          const int *bx, int size, int x, int y,
                                                          int c) {
    const float padv = -127.5f * 0.0078125f;
    int x1 = bx[0], y1 = bx[1];
    int tw = bx[2] - x1 + 1, th = bx[3] - y1 + 1;
        float v = 0.f;
        if (tw > 0 && th > 0 && tw <= 8 * (w + h) && th <= 8 * (w + h)) {
            float sx = (float)tw / (float)size, sy = (float)th / (float)size;
            float fy = __fsub_rn(__fmul_rn((float)y + 0.5f, sy), 0.5f);
            if (fy < 0)
                fy = 0;
            int y0 = (int)fy;
            if (y0 > th - 1)
                y0 = th - 1;
            int y1i = y0 + 1 < th ? y0 + 1 : th - 1;
            float wy = fy - (float)y0;
            float fx = __fsub_rn(__fmul_rn((float)x + 0.5f, sx), 0.5f);
            if (fx < 0)
                fx = 0;
            int x0 = (int)fx;
            if (x0 > tw - 1)
                x0 = tw - 1;
            int x1i = x0 + 1 < tw ? x0 + 1 : tw - 1;
            float wx = fx - (float)x0;
            float q[4];
            int xs[2] = {x1 - 1 + x0, x1 - 1 + x1i}, ys[2] = {y1 - 1 + y0, y1 - 1 + y1i};
            for (int t = 0; t < 4; t++) {
                int px = xs[t & 1], py = ys[t >> 1];
                q[t] = px >= 0 && px < w && py >= 0 && py < h ? img[((size_t)py * w + px) * 3 + c]
                                                              : padv;
            }
            float top = __fadd_rn(q[0], __fmul_rn(q[1] - q[0], wx));
            float bot = __fadd_rn(q[2], __fmul_rn(q[3] - q[2], wx));
            v = __fadd_rn(top, __fmul_rn(bot - top, wy));
        }
    return v;
}
#endif /* __CUDACC__ */
#endif
