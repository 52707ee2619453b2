/* Per-pixel and per-row math shared by the CPU reference (.c) and the CUDA kernels (.cu)
 * of src/vision, so the two cannot drift apart. Plain C types only; every function is
 * KS_VHD (static inline on the host, __host__ __device__ under nvcc).
 *
 * Floating-point: products that decide NMS suppression are written with KS_VMUL/KS_VADD
 * (round-to-nearest, never contracted into FMA) so the CPU and GPU take the same
 * decisions on the same inputs. Internal header. */
#ifndef KS_VISION_KERNELS_H
#define KS_VISION_KERNELS_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define KS_VHD static __host__ __device__ __forceinline__
#if defined(__CUDA_ARCH__)
#define KS_VMUL(a, b) __fmul_rn((a), (b))
#define KS_VADD(a, b) __fadd_rn((a), (b))
#define KS_VSUB(a, b) __fsub_rn((a), (b))
#else
#define KS_VMUL(a, b) ((a) * (b))
#define KS_VADD(a, b) ((a) + (b))
#define KS_VSUB(a, b) ((a) - (b))
#endif
#else
#define KS_VHD static inline
#define KS_VMUL(a, b) ((a) * (b))
#define KS_VADD(a, b) ((a) + (b))
#define KS_VSUB(a, b) ((a) - (b))
#endif

/* Pixel formats: the values of ks_pixel_format (vision.h), repeated for device code. */
enum {
    KS_V_BGR = 0,
    KS_V_RGB,
    KS_V_BGRA,
    KS_V_RGBA,
    KS_V_GRAY,
    KS_V_NV12,
    KS_V_I420
};

/* A resolved image: every plane pointer filled in. */
typedef struct ks_vimg {
    const uint8_t *p0, *p1, *p2; /* luma/packed, UV or U, V */
    int32_t stride0, stride1;    /* bytes per row: plane 0, chroma planes */
    int32_t width, height;
    int32_t format;
} ks_vimg;

/* Preprocessing of one image: canvas pixel -> source sample. */
typedef struct ks_vprep_image {
    ks_vimg img;
    float inv[6];        /* canvas -> source (continuous coordinates) */
    int32_t content[4];  /* canvas rect x0, y0, x1, y1 that samples the image */
} ks_vprep_image;

typedef struct ks_vprep_params {
    int32_t width, height;  /* canvas */
    int32_t channels;       /* 1 or 3 */
    int32_t order;          /* output order: KS_V_RGB, KS_V_BGR or KS_V_GRAY */
    float a[3], b[3];       /* out = value * a[c] + b[c] */
    float pad[3];           /* per output channel, before normalisation */
    int32_t fp16;
} ks_vprep_params;

KS_VHD float ks_v_clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* BT.601 limited range YUV -> RGB (as OpenCV's COLOR_YUV2RGB_NV12 / _I420). */
KS_VHD void ks_v_yuv_to_rgb(float y, float u, float v, float rgb[3]) {
    float c = 1.164f * (y - 16.0f);
    float d = u - 128.0f, e = v - 128.0f;
    rgb[0] = ks_v_clampf(c + 1.596f * e, 0.0f, 255.0f);
    rgb[1] = ks_v_clampf(c - 0.813f * e - 0.391f * d, 0.0f, 255.0f);
    rgb[2] = ks_v_clampf(c + 2.018f * d, 0.0f, 255.0f);
}

/* Pixel (x, y), in range, as R, G, B floats 0..255. */
KS_VHD void ks_v_fetch_rgb(const ks_vimg *im, int32_t x, int32_t y, float rgb[3]) {
    const uint8_t *row = im->p0 + (int64_t)y * im->stride0;
    switch (im->format) {
    case KS_V_BGR:
        rgb[0] = row[3 * x + 2], rgb[1] = row[3 * x + 1], rgb[2] = row[3 * x];
        break;
    case KS_V_RGB:
        rgb[0] = row[3 * x], rgb[1] = row[3 * x + 1], rgb[2] = row[3 * x + 2];
        break;
    case KS_V_BGRA:
        rgb[0] = row[4 * x + 2], rgb[1] = row[4 * x + 1], rgb[2] = row[4 * x];
        break;
    case KS_V_RGBA:
        rgb[0] = row[4 * x], rgb[1] = row[4 * x + 1], rgb[2] = row[4 * x + 2];
        break;
    case KS_V_GRAY:
        rgb[0] = rgb[1] = rgb[2] = row[x];
        break;
    case KS_V_NV12: {
        const uint8_t *uv = im->p1 + (int64_t)(y >> 1) * im->stride1 + 2 * (x >> 1);
        ks_v_yuv_to_rgb(row[x], uv[0], uv[1], rgb);
        break;
    }
    default: { /* I420 */
        int64_t off = (int64_t)(y >> 1) * im->stride1 + (x >> 1);
        ks_v_yuv_to_rgb(row[x], im->p1[off], im->p2[off], rgb);
        break;
    }
    }
}

/* Bilinear sample at continuous source position (sx, sy) in pixel-index units
 * (pixel centres at integers), clamped to the image (replicated border, as OpenCV's
 * resize). */
KS_VHD void ks_v_sample_rgb(const ks_vimg *im, float sx, float sy, float rgb[3]) {
    sx = ks_v_clampf(sx, 0.0f, (float)(im->width - 1));
    sy = ks_v_clampf(sy, 0.0f, (float)(im->height - 1));
    int32_t x0 = (int32_t)sx, y0 = (int32_t)sy; /* >= 0: floor */
    float fx = sx - (float)x0, fy = sy - (float)y0;
    int32_t x1 = x0 + 1 < im->width ? x0 + 1 : x0;
    int32_t y1 = y0 + 1 < im->height ? y0 + 1 : y0;
    float a[3], b[3], c[3], d[3];
    ks_v_fetch_rgb(im, x0, y0, a);
    ks_v_fetch_rgb(im, x1, y0, b);
    ks_v_fetch_rgb(im, x0, y1, c);
    ks_v_fetch_rgb(im, x1, y1, d);
    for (int k = 0; k < 3; k++) {
        float top = a[k] + (b[k] - a[k]) * fx;
        float bot = c[k] + (d[k] - c[k]) * fx;
        rgb[k] = top + (bot - top) * fy;
    }
}

/* Value of output channel ch at canvas pixel (u, v), normalised. */
KS_VHD void ks_v_prep_pixel(const ks_vprep_params *p, const ks_vprep_image *pi, int32_t u,
                            int32_t v, float out[3]) {
    if (u < pi->content[0] || u >= pi->content[2] || v < pi->content[1] || v >= pi->content[3]) {
        for (int c = 0; c < p->channels; c++)
            out[c] = p->pad[c] * p->a[c] + p->b[c];
        return;
    }
    float cu = (float)u + 0.5f, cv = (float)v + 0.5f;
    float sx = pi->inv[0] * cu + pi->inv[1] * cv + pi->inv[2] - 0.5f;
    float sy = pi->inv[3] * cu + pi->inv[4] * cv + pi->inv[5] - 0.5f;
    float rgb[3];
    ks_v_sample_rgb(&pi->img, sx, sy, rgb);
    if (p->order == KS_V_GRAY) {
        out[0] = (0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2]) * p->a[0] + p->b[0];
    } else if (p->order == KS_V_BGR) {
        for (int c = 0; c < 3; c++)
            out[c] = rgb[2 - c] * p->a[c] + p->b[c];
    } else {
        for (int c = 0; c < 3; c++)
            out[c] = rgb[c] * p->a[c] + p->b[c];
    }
}

/* IEEE half -> float, bit exact, same code on host and device. */
KS_VHD float ks_v_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    union {
        uint32_t u;
        float f;
    } cv;
    cv.u = bits;
    return cv.f;
}

/* float -> IEEE half, round to nearest even (same as ks_float_to_half / __float2half_rn). */
KS_VHD uint16_t ks_v_float_to_half(float f) {
    union {
        uint32_t u;
        float f;
    } cv;
    cv.f = f;
    uint32_t x = cv.u;
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0u));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10)
            return sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1u), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u)))
        half++; /* may carry into the exponent: correct, and overflow gives inf */
    return (uint16_t)(sign | half);
}

KS_VHD float ks_v_load(const void *p, int64_t i, int fp16) {
    return fp16 ? ks_v_half_to_float(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

/* ------------------------------------------------------------------ decoders */

enum { KS_V_DEC_SSD = 0, KS_V_DEC_CORNERS, KS_V_DEC_YUNET, KS_V_DEC_SCRFD, KS_V_DEC_YOLO, KS_V_DEC_YOLO_GRID };

typedef struct ks_vdec_level {
    const void *boxes, *scores, *obj, *kps;
    int32_t stride, grid_w, grid_h, n_anchors, n_rows, row_offset;
    float anchors[4][2]; /* YOLO_GRID */
} ks_vdec_level;

typedef struct ks_vdec {
    int32_t kind, batch, n_rows, input_w, input_h, n_classes, first_class;
    float threshold;
    int32_t sqrt_score, n_landmarks, n_levels, fp16, channels_first;
    float var0, var1;
    const void *boxes, *scores, *landmarks; /* SSD / CORNERS / YOLO */
    const float *priors;
    ks_vdec_level lv[5];
    float *out_boxes, *out_scores, *out_landmarks;
    int32_t *out_classes;
} ks_vdec;

/* Decodes row r of image b into the candidate arrays. */
KS_VHD void ks_v_decode_row(const ks_vdec *d, int32_t b, int32_t r) {
    int64_t o = (int64_t)b * d->n_rows + r;
    float *ob = d->out_boxes + o * 4;
    int fp16 = d->fp16;
    float score = -1.0f, x1 = 0, y1 = 0, x2 = 0, y2 = 0;
    int32_t cls = 0;
    int nl = d->n_landmarks;
    float lm[10];
    int has_lm = 0;
    float W = (float)d->input_w, H = (float)d->input_h;

    if (d->kind == KS_V_DEC_SSD || d->kind == KS_V_DEC_CORNERS) {
        int64_t srow = ((int64_t)b * d->n_rows + r) * d->n_classes;
        for (int c = d->first_class; c < d->n_classes; c++) {
            float s = ks_v_load(d->scores, srow + c, fp16);
            if (c == d->first_class || s > score) {
                score = s;
                cls = c - d->first_class;
            }
        }
        if (score > d->threshold) {
            int64_t brow = ((int64_t)b * d->n_rows + r) * 4;
            float l0 = ks_v_load(d->boxes, brow, fp16), l1 = ks_v_load(d->boxes, brow + 1, fp16);
            float l2 = ks_v_load(d->boxes, brow + 2, fp16), l3 = ks_v_load(d->boxes, brow + 3, fp16);
            if (d->kind == KS_V_DEC_CORNERS) {
                x1 = l0 * W, y1 = l1 * H, x2 = l2 * W, y2 = l3 * H;
            } else {
                const float *p = d->priors + (int64_t)r * 4;
                float cx = p[0] + l0 * d->var0 * p[2];
                float cy = p[1] + l1 * d->var0 * p[3];
                float w = p[2] * expf(l2 * d->var1);
                float h = p[3] * expf(l3 * d->var1);
                x1 = (cx - 0.5f * w) * W, y1 = (cy - 0.5f * h) * H;
                x2 = (cx + 0.5f * w) * W, y2 = (cy + 0.5f * h) * H;
                if (nl && d->landmarks) {
                    int64_t lrow = ((int64_t)b * d->n_rows + r) * 2 * nl;
                    for (int k = 0; k < nl; k++) {
                        lm[2 * k] = (p[0] + ks_v_load(d->landmarks, lrow + 2 * k, fp16) * d->var0 * p[2]) * W;
                        lm[2 * k + 1] =
                            (p[1] + ks_v_load(d->landmarks, lrow + 2 * k + 1, fp16) * d->var0 * p[3]) * H;
                    }
                    has_lm = 1;
                }
            }
        }
    } else if (d->kind == KS_V_DEC_YOLO) {
        int64_t row = ((int64_t)b * d->n_rows + r) * (5 + d->n_classes);
        float obj = ks_v_load(d->boxes, row + 4, fp16);
        if (obj > d->threshold) {
            float best = ks_v_load(d->boxes, row + 5, fp16);
            for (int c = 1; c < d->n_classes; c++) {
                float s = ks_v_load(d->boxes, row + 5 + c, fp16);
                if (s > best) {
                    best = s;
                    cls = c;
                }
            }
            score = obj * best;
            float cx = ks_v_load(d->boxes, row, fp16), cy = ks_v_load(d->boxes, row + 1, fp16);
            float w = ks_v_load(d->boxes, row + 2, fp16), h = ks_v_load(d->boxes, row + 3, fp16);
            x1 = cx - 0.5f * w, y1 = cy - 0.5f * h, x2 = cx + 0.5f * w, y2 = cy + 0.5f * h;
        }
    } else if (d->kind == KS_V_DEC_YOLO_GRID) {
        int l = 0;
        while (l + 1 < d->n_levels && r >= d->lv[l + 1].row_offset)
            l++;
        const ks_vdec_level *L = &d->lv[l];
        int32_t local = r - L->row_offset, hw = L->grid_w * L->grid_h;
        int32_t a = local / hw, cell = local % hw, no = 5 + d->n_classes;
        /* element k of this row: [B,A,H,W,NO] or [B,A*NO,H,W] */
        int64_t base, step;
        if (d->channels_first)
            base = ((int64_t)b * L->n_anchors + a) * no * hw + cell, step = hw;
        else
            base = (((int64_t)b * L->n_anchors + a) * hw + cell) * no, step = 1;
        float obj = 1.0f / (1.0f + expf(-ks_v_load(L->boxes, base + 4 * step, fp16)));
        if (obj > d->threshold) {
            float best = 0.0f;
            for (int c = 0; c < d->n_classes; c++) {
                float s = 1.0f / (1.0f + expf(-ks_v_load(L->boxes, base + (5 + c) * step, fp16)));
                if (c == 0 || s > best) {
                    best = s;
                    cls = c;
                }
            }
            score = obj * best;
            float sx = 1.0f / (1.0f + expf(-ks_v_load(L->boxes, base, fp16)));
            float sy = 1.0f / (1.0f + expf(-ks_v_load(L->boxes, base + step, fp16)));
            float sw = 1.0f / (1.0f + expf(-ks_v_load(L->boxes, base + 2 * step, fp16)));
            float sh = 1.0f / (1.0f + expf(-ks_v_load(L->boxes, base + 3 * step, fp16)));
            float st = (float)L->stride;
            float cx = (sx * 2.0f - 0.5f + (float)(cell % L->grid_w)) * st;
            float cy = (sy * 2.0f - 0.5f + (float)(cell / L->grid_w)) * st;
            float w = (sw * 2.0f) * (sw * 2.0f) * L->anchors[a & 3][0];
            float h = (sh * 2.0f) * (sh * 2.0f) * L->anchors[a & 3][1];
            x1 = cx - 0.5f * w, y1 = cy - 0.5f * h, x2 = cx + 0.5f * w, y2 = cy + 0.5f * h;
        }
    } else { /* YUNET / SCRFD: find the level */
        int l = 0;
        while (l + 1 < d->n_levels && r >= d->lv[l + 1].row_offset)
            l++;
        const ks_vdec_level *L = &d->lv[l];
        int64_t i = (int64_t)b * L->n_rows + (r - L->row_offset);
        int32_t cell = (r - L->row_offset) / L->n_anchors;
        float s = (float)L->stride;
        float ax = (float)(cell % L->grid_w) * s, ay = (float)(cell / L->grid_w) * s;
        if (d->kind == KS_V_DEC_YUNET) {
            float c = ks_v_load(L->scores, i, fp16), ob = ks_v_load(L->obj, i, fp16);
            if (d->sqrt_score)
                score = sqrtf(ks_v_clampf(c, 0.0f, 1.0f) * ks_v_clampf(ob, 0.0f, 1.0f));
            else
                score = c * ob;
        } else {
            score = ks_v_load(L->scores, i, fp16);
        }
        if (score > d->threshold) {
            float v0 = ks_v_load(L->boxes, i * 4, fp16), v1 = ks_v_load(L->boxes, i * 4 + 1, fp16);
            float v2 = ks_v_load(L->boxes, i * 4 + 2, fp16), v3 = ks_v_load(L->boxes, i * 4 + 3, fp16);
            if (d->kind == KS_V_DEC_YUNET) {
                float cx = v0 * s + ax, cy = v1 * s + ay;
                float w = expf(v2) * s, h = expf(v3) * s;
                x1 = cx - 0.5f * w, y1 = cy - 0.5f * h, x2 = cx + 0.5f * w, y2 = cy + 0.5f * h;
            } else {
                x1 = ax - v0 * s, y1 = ay - v1 * s, x2 = ax + v2 * s, y2 = ay + v3 * s;
            }
            if (nl && L->kps) {
                for (int k = 0; k < nl; k++) {
                    lm[2 * k] = ks_v_load(L->kps, i * 2 * nl + 2 * k, fp16) * s + ax;
                    lm[2 * k + 1] = ks_v_load(L->kps, i * 2 * nl + 2 * k + 1, fp16) * s + ay;
                }
                has_lm = 1;
            }
        }
    }
    if (!(score > d->threshold)) { /* also catches NaN */
        score = -1.0f;
        x1 = y1 = x2 = y2 = 0.0f;
        cls = 0;
        has_lm = 0;
    }
    ob[0] = x1, ob[1] = y1, ob[2] = x2, ob[3] = y2;
    d->out_scores[o] = score;
    d->out_classes[o] = cls;
    if (d->out_landmarks && nl) {
        float *ol = d->out_landmarks + o * 2 * nl;
        for (int k = 0; k < 2 * nl; k++)
            ol[k] = has_lm ? lm[k] : 0.0f;
    }
}

/* ---------------------------------------------------------------------- NMS */

/* IoU of two x1,y1,x2,y2 boxes, no +1 convention; 0 when the union is empty. */
KS_VHD float ks_v_iou(const float *a, const float *b) {
    float iw = KS_VSUB(fminf(a[2], b[2]), fmaxf(a[0], b[0]));
    float ih = KS_VSUB(fminf(a[3], b[3]), fmaxf(a[1], b[1]));
    if (!(iw > 0.0f) || !(ih > 0.0f))
        return 0.0f;
    float inter = KS_VMUL(iw, ih);
    float aa = KS_VMUL(fmaxf(KS_VSUB(a[2], a[0]), 0.0f), fmaxf(KS_VSUB(a[3], a[1]), 0.0f));
    float ab = KS_VMUL(fmaxf(KS_VSUB(b[2], b[0]), 0.0f), fmaxf(KS_VSUB(b[3], b[1]), 0.0f));
    float uni = KS_VSUB(KS_VADD(aa, ab), inter);
    return uni > 0.0f ? inter / uni : 0.0f;
}

/* Sort order of candidates: higher score first, then lower row. */
KS_VHD int ks_v_before(float sa, int32_t ia, float sb, int32_t ib) {
    return sa > sb || (sa == sb && ia < ib);
}

/* Maps a kept box / landmarks through an affine transform (m may be NULL). */
KS_VHD void ks_v_map_box(const float *m, float *box) {
    if (!m)
        return;
    float ax = m[0] * box[0] + m[1] * box[1] + m[2], ay = m[3] * box[0] + m[4] * box[1] + m[5];
    float bx = m[0] * box[2] + m[1] * box[3] + m[2], by = m[3] * box[2] + m[4] * box[3] + m[5];
    box[0] = fminf(ax, bx), box[1] = fminf(ay, by);
    box[2] = fmaxf(ax, bx), box[3] = fmaxf(ay, by);
}

KS_VHD void ks_v_map_point(const float *m, float *pt) {
    if (!m)
        return;
    float x = m[0] * pt[0] + m[1] * pt[1] + m[2], y = m[3] * pt[0] + m[4] * pt[1] + m[5];
    pt[0] = x, pt[1] = y;
}

#endif
