/* ks_image: formats, wrapping, allocation, host conversion, host<->device copies. */
#include <string.h>

#include "core/core.h"
#include "vision/vision_internal.h"

static const char *const format_names[] = {"BGR", "RGB", "BGRA", "RGBA", "GRAY", "NV12", "I420"};
_Static_assert(KS_ARRAY_LEN(format_names) == KS_PIXEL_FORMAT_COUNT, "pixel format names");
_Static_assert((int)KS_V_I420 == (int)KS_PIXEL_I420 && (int)KS_V_GRAY == (int)KS_PIXEL_GRAY, "pixel format ids");

const char *ks_pixel_format_name(ks_pixel_format f) {
    return (unsigned)f < KS_PIXEL_FORMAT_COUNT ? format_names[f] : "?";
}

int ks_pixel_format_bpp(ks_pixel_format f) {
    switch (f) {
    case KS_PIXEL_BGR:
    case KS_PIXEL_RGB:
        return 3;
    case KS_PIXEL_BGRA:
    case KS_PIXEL_RGBA:
        return 4;
    case KS_PIXEL_GRAY:
    case KS_PIXEL_NV12:
    case KS_PIXEL_I420:
        return 1;
    default:
        return 0;
    }
}

static int is_yuv(ks_pixel_format f) { return f == KS_PIXEL_NV12 || f == KS_PIXEL_I420; }

size_t ks_image_bytes(ks_pixel_format f, int32_t width, int32_t height) {
    if (width <= 0 || height <= 0 || !ks_pixel_format_bpp(f))
        return 0;
    size_t n = (size_t)width * (size_t)height * (size_t)ks_pixel_format_bpp(f);
    if (f == KS_PIXEL_NV12)
        n += (size_t)width * (size_t)((height + 1) / 2) + (size_t)(width & 1) * (size_t)((height + 1) / 2);
    else if (f == KS_PIXEL_I420)
        n += 2 * (size_t)((width + 1) / 2) * (size_t)((height + 1) / 2);
    return n;
}

/* Row bytes of the chroma plane(s) derived from the luma stride. */
static int32_t derived_chroma_stride(const ks_image *img) {
    if (img->format == KS_PIXEL_NV12)
        return img->stride + (img->width & 1 && img->stride == img->width ? 1 : 0);
    return (img->stride + 1) / 2;
}

ks_status ks_image_wrap(ks_image *img, int32_t width, int32_t height, ks_pixel_format f, void *data,
                        int32_t stride, ks_memory_kind memory) {
    if (!img)
        return KS_INVALID_ARGUMENT;
    memset(img, 0, sizeof(*img));
    int bpp = ks_pixel_format_bpp(f);
    if (!bpp || width <= 0 || height <= 0 || (unsigned)memory >= KS_MEMORY_KIND_COUNT || !data)
        return KS_INVALID_ARGUMENT;
    if (stride == 0)
        stride = width * bpp;
    if (stride < width * bpp)
        return KS_INVALID_ARGUMENT;
    img->width = width;
    img->height = height;
    img->format = f;
    img->memory = memory;
    img->data = (uint8_t *)data;
    img->stride = stride;
    return KS_OK;
}

ks_status ks_image_alloc(ks_context *ctx, int32_t width, int32_t height, ks_pixel_format f,
                         ks_image *out) {
    if (!ctx || !out)
        return KS_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    size_t n = ks_image_bytes(f, width, height);
    if (!n || width > 65535 || height > 65535)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks_image_alloc: bad size %dx%d or format %d",
                         (int)width, (int)height, (int)f);
    void *p = ks__alloc(ctx, n);
    if (!p)
        return ks__oom(ctx, n, "image");
    ks_image_wrap(out, width, height, f, p, 0, KS_MEMORY_HOST);
    out->owner_ = p;
    return KS_OK;
}

void ks_image_release(ks_context *ctx, ks_image *img) {
    if (!img)
        return;
    if (img->owner_) {
        if (img->memory == KS_MEMORY_DEVICE) {
#ifdef KS_HAVE_CUDA
            ks__cuda_free(img->owner_);
#endif
        } else if (ctx) {
            ks__free(ctx, img->owner_);
        }
    }
    memset(img, 0, sizeof(*img));
}

ks_status ks__vimg_resolve(ks_context *ctx, const ks_image *img, ks_vimg *out) {
    memset(out, 0, sizeof(*out));
    if (!img || !img->data || img->width <= 0 || img->height <= 0 ||
        !ks_pixel_format_bpp(img->format) ||
        img->stride < img->width * ks_pixel_format_bpp(img->format))
        return ks__error(ctx, KS_INVALID_ARGUMENT, "invalid image (%dx%d, format %s, stride %d)",
                         img ? (int)img->width : 0, img ? (int)img->height : 0,
                         img ? ks_pixel_format_name(img->format) : "-", img ? (int)img->stride : 0);
    out->p0 = img->data;
    out->stride0 = img->stride;
    out->width = img->width;
    out->height = img->height;
    out->format = (int32_t)img->format;
    if (is_yuv(img->format)) {
        int32_t cs = img->chroma_stride ? img->chroma_stride : derived_chroma_stride(img);
        int32_t ch = (img->height + 1) / 2;
        out->stride1 = cs;
        out->p1 = img->chroma[0] ? img->chroma[0] : img->data + (size_t)img->stride * img->height;
        if (img->format == KS_PIXEL_I420)
            out->p2 = img->chroma[1] ? img->chroma[1] : out->p1 + (size_t)cs * ch;
        int32_t need = img->format == KS_PIXEL_NV12 ? 2 * ((img->width + 1) / 2) : (img->width + 1) / 2;
        if (cs < need)
            return ks__error(ctx, KS_INVALID_ARGUMENT, "image chroma stride %d < %d", (int)cs, (int)need);
    }
    return KS_OK;
}

/* --------------------------------------------------------------- conversion */

static void rgb_to_yuv(const float rgb[3], float *y, float *u, float *v) {
    /* BT.601 limited range, the inverse of ks_v_yuv_to_rgb. */
    *y = 16.0f + 0.257f * rgb[0] + 0.504f * rgb[1] + 0.098f * rgb[2];
    *u = 128.0f - 0.148f * rgb[0] - 0.291f * rgb[1] + 0.439f * rgb[2];
    *v = 128.0f + 0.439f * rgb[0] - 0.368f * rgb[1] - 0.071f * rgb[2];
}

static uint8_t u8(float v) {
    v = ks_v_clampf(v + 0.5f, 0.0f, 255.0f);
    return (uint8_t)v;
}

ks_status ks_image_convert(ks_context *ctx, const ks_image *src, ks_pixel_format fmt, ks_image *out) {
    if (!ctx || !src || !out)
        return KS_INVALID_ARGUMENT;
    if (src->memory != KS_MEMORY_HOST)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks_image_convert: host images only");
    ks_vimg s;
    KS_CHECK(ks__vimg_resolve(ctx, src, &s));
    KS_CHECK(ks_image_alloc(ctx, src->width, src->height, fmt, out));
    ks_vimg d;
    ks__vimg_resolve(ctx, out, &d);
    int32_t W = src->width, H = src->height;
    if (fmt == KS_PIXEL_NV12 || fmt == KS_PIXEL_I420) {
        uint8_t *Y = out->data;
        for (int32_t y = 0; y < H; y++)
            for (int32_t x = 0; x < W; x++) {
                float rgb[3], yy, uu, vv;
                ks_v_fetch_rgb(&s, x, y, rgb);
                rgb_to_yuv(rgb, &yy, &uu, &vv);
                Y[(size_t)y * d.stride0 + x] = u8(yy);
            }
        for (int32_t y = 0; y < (H + 1) / 2; y++)
            for (int32_t x = 0; x < (W + 1) / 2; x++) {
                float acc[3] = {0, 0, 0};
                int cnt = 0;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int32_t xx = 2 * x + dx, yy = 2 * y + dy;
                        if (xx >= W || yy >= H)
                            continue;
                        float rgb[3];
                        ks_v_fetch_rgb(&s, xx, yy, rgb);
                        for (int k = 0; k < 3; k++)
                            acc[k] += rgb[k];
                        cnt++;
                    }
                for (int k = 0; k < 3; k++)
                    acc[k] /= (float)cnt;
                float yy, uu, vv;
                rgb_to_yuv(acc, &yy, &uu, &vv);
                if (fmt == KS_PIXEL_NV12) {
                    uint8_t *uv = (uint8_t *)d.p1 + (size_t)y * d.stride1 + 2 * x;
                    uv[0] = u8(uu), uv[1] = u8(vv);
                } else {
                    ((uint8_t *)d.p1)[(size_t)y * d.stride1 + x] = u8(uu);
                    ((uint8_t *)d.p2)[(size_t)y * d.stride1 + x] = u8(vv);
                }
            }
        return KS_OK;
    }
    int bpp = ks_pixel_format_bpp(fmt);
    for (int32_t y = 0; y < H; y++) {
        uint8_t *row = out->data + (size_t)y * out->stride;
        for (int32_t x = 0; x < W; x++) {
            float c[3];
            ks_v_fetch_rgb(&s, x, y, c);
            uint8_t *p = row + (size_t)x * bpp;
            switch (fmt) {
            case KS_PIXEL_BGR:
            case KS_PIXEL_BGRA:
                p[0] = u8(c[2]), p[1] = u8(c[1]), p[2] = u8(c[0]);
                if (bpp == 4)
                    p[3] = 255;
                break;
            case KS_PIXEL_RGB:
            case KS_PIXEL_RGBA:
                p[0] = u8(c[0]), p[1] = u8(c[1]), p[2] = u8(c[2]);
                if (bpp == 4)
                    p[3] = 255;
                break;
            default: /* GRAY */
                p[0] = u8(0.299f * c[0] + 0.587f * c[1] + 0.114f * c[2]);
                break;
            }
        }
    }
    return KS_OK;
}

/* ------------------------------------------------------------- device copies */

ks_status ks_image_to_device(ks_context *ctx, const ks_image *src, ks_image *out) {
    if (!ctx || !src || !out)
        return KS_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
#ifdef KS_HAVE_CUDA
    if (src->memory != KS_MEMORY_HOST)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks_image_to_device: source is not a host image");
    if (ks__cuda_device_count() <= 0)
        return ks__error(ctx, KS_NO_DEVICE, "ks_image_to_device: no CUDA device");
    ks_vimg s;
    KS_CHECK(ks__vimg_resolve(ctx, src, &s));
    size_t n = ks_image_bytes(src->format, src->width, src->height);
    void *p = NULL;
    const char *msg = "";
    if (ks__cuda_malloc(&p, n, &msg))
        return ks__error(ctx, KS_DEVICE_ERROR, "cudaMalloc(%zu) for an image: %s", n, msg);
    ks_image_wrap(out, src->width, src->height, src->format, p, 0, KS_MEMORY_DEVICE);
    out->owner_ = p;
    ks_vimg d;
    ks__vimg_resolve(ctx, out, &d);
    size_t row = (size_t)src->width * ks_pixel_format_bpp(src->format);
    int rc = ks__cuda_memcpy2d(p, (size_t)out->stride, src->data, (size_t)src->stride, row,
                               (size_t)src->height, 1, &msg);
    int32_t ch = (src->height + 1) / 2, cw = (src->width + 1) / 2;
    if (!rc && src->format == KS_PIXEL_NV12)
        rc = ks__cuda_memcpy2d((void *)d.p1, (size_t)d.stride1, s.p1, (size_t)s.stride1, 2 * (size_t)cw,
                               (size_t)ch, 1, &msg);
    if (!rc && src->format == KS_PIXEL_I420) {
        rc = ks__cuda_memcpy2d((void *)d.p1, (size_t)d.stride1, s.p1, (size_t)s.stride1, (size_t)cw,
                               (size_t)ch, 1, &msg);
        if (!rc)
            rc = ks__cuda_memcpy2d((void *)d.p2, (size_t)d.stride1, s.p2, (size_t)s.stride1, (size_t)cw,
                                   (size_t)ch, 1, &msg);
    }
    if (rc) {
        ks_image_release(ctx, out);
        return ks__error(ctx, KS_DEVICE_ERROR, "copying an image to the device: %s", msg);
    }
    return KS_OK;
#else
    KS_UNUSED(src);
    return ks__error(ctx, KS_NO_DEVICE, "ks_image_to_device: built without CUDA");
#endif
}

ks_status ks_image_to_host(ks_context *ctx, const ks_image *src, ks_image *out) {
    if (!ctx || !src || !out)
        return KS_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
#ifdef KS_HAVE_CUDA
    if (src->memory != KS_MEMORY_DEVICE)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "ks_image_to_host: source is not a device image");
    ks_vimg s;
    KS_CHECK(ks__vimg_resolve(ctx, src, &s));
    KS_CHECK(ks_image_alloc(ctx, src->width, src->height, src->format, out));
    ks_vimg d;
    ks__vimg_resolve(ctx, out, &d);
    const char *msg = "";
    size_t row = (size_t)src->width * ks_pixel_format_bpp(src->format);
    int32_t ch = (src->height + 1) / 2, cw = (src->width + 1) / 2;
    int rc = ks__cuda_memcpy2d(out->data, (size_t)out->stride, src->data, (size_t)src->stride, row,
                               (size_t)src->height, 2, &msg);
    if (!rc && src->format == KS_PIXEL_NV12)
        rc = ks__cuda_memcpy2d((void *)d.p1, (size_t)d.stride1, s.p1, (size_t)s.stride1, 2 * (size_t)cw,
                               (size_t)ch, 2, &msg);
    if (!rc && src->format == KS_PIXEL_I420) {
        rc = ks__cuda_memcpy2d((void *)d.p1, (size_t)d.stride1, s.p1, (size_t)s.stride1, (size_t)cw,
                               (size_t)ch, 2, &msg);
        if (!rc)
            rc = ks__cuda_memcpy2d((void *)d.p2, (size_t)d.stride1, s.p2, (size_t)s.stride1, (size_t)cw,
                                   (size_t)ch, 2, &msg);
    }
    if (rc) {
        ks_image_release(ctx, out);
        return ks__error(ctx, KS_DEVICE_ERROR, "copying an image to the host: %s", msg);
    }
    return KS_OK;
#else
    KS_UNUSED(src);
    return ks__error(ctx, KS_NO_DEVICE, "ks_image_to_host: built without CUDA");
#endif
}
