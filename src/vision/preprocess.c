/* Preprocessing: affine warp (stretch / letterbox / crop) + bilinear sampling + channel
 * order + normalisation + HWC->CHW, FP32 or FP16. CPU reference; the CUDA kernel
 * (preprocess.cu) runs the same per-pixel code (vision_kernels.h). */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "vision/vision_internal.h"

void ks_preprocess_config_init(ks_preprocess_config *cfg) {
    if (!cfg)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->width = 640;
    cfg->height = 640;
    cfg->resize = KS_RESIZE_STRETCH;
    cfg->placement = KS_PLACE_TOP_LEFT;
    cfg->channel_order = KS_PIXEL_RGB;
    cfg->scale = 1.0f;
    cfg->std[0] = cfg->std[1] = cfg->std[2] = 1.0f;
    cfg->dtype = KS_DTYPE_FLOAT32;
}

void ks_affine_apply(const ks_affine *a, float x, float y, float *out_x, float *out_y) {
    float ox = a->m[0] * x + a->m[1] * y + a->m[2];
    float oy = a->m[3] * x + a->m[4] * y + a->m[5];
    if (out_x)
        *out_x = ox;
    if (out_y)
        *out_y = oy;
}

ks_status ks_affine_invert(const ks_affine *a, ks_affine *out) {
    if (!a || !out)
        return KS_INVALID_ARGUMENT;
    double m0 = a->m[0], m1 = a->m[1], m2 = a->m[2], m3 = a->m[3], m4 = a->m[4], m5 = a->m[5];
    double det = m0 * m4 - m1 * m3;
    if (!(fabs(det) > 1e-12) || !isfinite(det))
        return KS_INVALID_ARGUMENT;
    double i0 = m4 / det, i1 = -m1 / det, i3 = -m3 / det, i4 = m0 / det;
    out->m[0] = (float)i0;
    out->m[1] = (float)i1;
    out->m[2] = (float)(-(i0 * m2 + i1 * m5));
    out->m[3] = (float)i3;
    out->m[4] = (float)i4;
    out->m[5] = (float)(-(i3 * m2 + i4 * m5));
    return KS_OK;
}

ks_status ks_preprocess_transform(const ks_preprocess_config *cfg, int32_t sw, int32_t sh,
                                  ks_affine *fwd, ks_affine *inv, int32_t content[4]) {
    if (!cfg || sw <= 0 || sh <= 0 || cfg->width <= 0 || cfg->height <= 0)
        return KS_INVALID_ARGUMENT;
    double W = cfg->width, H = cfg->height;
    double ax, ay, bx, by; /* x' = ax * x + bx */
    int32_t c[4] = {0, 0, cfg->width, cfg->height};
    switch (cfg->resize) {
    case KS_RESIZE_STRETCH:
        ax = W / sw, ay = H / sh, bx = by = 0;
        break;
    case KS_RESIZE_LETTERBOX: {
        double r = fmin(W / sw, H / sh);
        double rnd = cfg->round_content ? 0.5 : 1e-9; /* 1e-9: floor, robust to r*side = n - eps */
        int32_t cw = (int32_t)floor(sw * r + rnd), ch = (int32_t)floor(sh * r + rnd);
        cw = cw < 1 ? 1 : (cw > cfg->width ? cfg->width : cw);
        ch = ch < 1 ? 1 : (ch > cfg->height ? cfg->height : ch);
        int32_t ox = 0, oy = 0;
        if (cfg->placement == KS_PLACE_CENTER) {
            ox = (cfg->width - cw) / 2;
            oy = (cfg->height - ch) / 2;
        } else if (cfg->placement != KS_PLACE_TOP_LEFT) {
            return KS_INVALID_ARGUMENT;
        }
        ax = (double)cw / sw, ay = (double)ch / sh, bx = ox, by = oy;
        c[0] = ox, c[1] = oy, c[2] = ox + cw, c[3] = oy + ch;
        break;
    }
    case KS_RESIZE_CROP: {
        double cx = cfg->crop[0], cy = cfg->crop[1], cw = cfg->crop[2], ch = cfg->crop[3];
        if (!(cw > 0) || !(ch > 0) || !isfinite(cx) || !isfinite(cy))
            return KS_INVALID_ARGUMENT;
        ax = W / cw, ay = H / ch, bx = -cx * ax, by = -cy * ay;
        break;
    }
    default:
        return KS_INVALID_ARGUMENT;
    }
    ks_affine f = {{(float)ax, 0.0f, (float)bx, 0.0f, (float)ay, (float)by}};
    ks_affine i = {{(float)(1.0 / ax), 0.0f, (float)(-bx / ax), 0.0f, (float)(1.0 / ay), (float)(-by / ay)}};
    if (fwd)
        *fwd = f;
    if (inv)
        *inv = i;
    if (content)
        memcpy(content, c, sizeof(c));
    return KS_OK;
}

ks_status ks__vprep_params(ks_context *ctx, const ks_preprocess_config *cfg, ks_vprep_params *p) {
    memset(p, 0, sizeof(*p));
    if (!cfg)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "preprocess: config is NULL");
    if (cfg->width <= 0 || cfg->height <= 0 || cfg->width > 16384 || cfg->height > 16384)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "preprocess: canvas %dx%d out of range", (int)cfg->width,
                         (int)cfg->height);
    if (cfg->channel_order != KS_PIXEL_RGB && cfg->channel_order != KS_PIXEL_BGR &&
        cfg->channel_order != KS_PIXEL_GRAY)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "preprocess: output channel order must be RGB, BGR or GRAY, not %s",
                         ks_pixel_format_name(cfg->channel_order));
    if (cfg->dtype != KS_DTYPE_FLOAT32 && cfg->dtype != KS_DTYPE_FLOAT16)
        return ks__error(ctx, KS_UNSUPPORTED_DTYPE, "preprocess: output dtype %s (float32 or float16)",
                         ks_dtype_name(cfg->dtype));
    if ((unsigned)cfg->resize >= KS_RESIZE_MODE_COUNT || (unsigned)cfg->placement >= KS_PLACEMENT_COUNT)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "preprocess: bad resize mode %d or placement %d",
                         (int)cfg->resize, (int)cfg->placement);
    p->width = cfg->width;
    p->height = cfg->height;
    p->channels = cfg->channel_order == KS_PIXEL_GRAY ? 1 : 3;
    p->order = (int32_t)cfg->channel_order;
    p->fp16 = cfg->dtype == KS_DTYPE_FLOAT16;
    for (int c = 0; c < p->channels; c++) {
        if (!(cfg->std[c] != 0.0f) || !isfinite(cfg->std[c]) || !isfinite(cfg->mean[c]) || !isfinite(cfg->scale))
            return ks__error(ctx, KS_INVALID_ARGUMENT, "preprocess: std[%d] = %g must be finite and non-zero", c,
                             (double)cfg->std[c]);
        p->a[c] = cfg->scale / cfg->std[c];
        p->b[c] = -cfg->mean[c] / cfg->std[c];
        p->pad[c] = cfg->pad_value[c];
    }
    return KS_OK;
}

ks_status ks__vprep_image(ks_context *ctx, const ks_preprocess_config *cfg, const ks_image *img,
                          ks_vprep_image *out, ks_affine *inv) {
    memset(out, 0, sizeof(*out));
    KS_CHECK(ks__vimg_resolve(ctx, img, &out->img));
    ks_affine fwd, iv;
    if (ks_preprocess_transform(cfg, img->width, img->height, &fwd, &iv, out->content) != KS_OK)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "preprocess: cannot map a %dx%d image to %dx%d (resize mode %d)",
                         (int)img->width, (int)img->height, (int)cfg->width, (int)cfg->height, (int)cfg->resize);
    memcpy(out->inv, iv.m, sizeof(out->inv));
    if (inv)
        *inv = iv;
    return KS_OK;
}

ks_status ks_preprocess_cpu(ks_context *ctx, const ks_preprocess_config *cfg, int n,
                            const ks_image *images, void *dst, ks_affine *inv) {
    if (!ctx)
        return KS_INVALID_ARGUMENT;
    if (n < 0 || (n > 0 && (!images || !dst)))
        return ks__error(ctx, KS_INVALID_ARGUMENT, "preprocess: bad batch (%d images, dst %p)", n, dst);
    ks_vprep_params p;
    KS_CHECK(ks__vprep_params(ctx, cfg, &p));
    size_t plane = (size_t)p.width * p.height;
    for (int i = 0; i < n; i++) {
        if (images[i].memory != KS_MEMORY_HOST)
            return ks__error(ctx, KS_INVALID_ARGUMENT, "preprocess (CPU): image %d is in device memory", i);
        ks_vprep_image pi;
        ks_status st = ks__vprep_image(ctx, cfg, &images[i], &pi, inv ? &inv[i] : NULL);
        if (st != KS_OK)
            return ks__error_prefix(ctx, "image %d", i);
        size_t base = (size_t)i * p.channels * plane;
        for (int32_t v = 0; v < p.height; v++)
            for (int32_t u = 0; u < p.width; u++) {
                float px[3];
                ks_v_prep_pixel(&p, &pi, u, v, px);
                size_t o = base + (size_t)v * p.width + u;
                for (int c = 0; c < p.channels; c++) {
                    if (p.fp16)
                        ((uint16_t *)dst)[o + c * plane] = ks_v_float_to_half(px[c]);
                    else
                        ((float *)dst)[o + c * plane] = px[c];
                }
            }
    }
    return KS_OK;
}

ks_status ks_preprocess_cuda(ks_context *ctx, const ks_preprocess_config *cfg, int n,
                             const ks_image *images, void *dst, ks_affine *inv, void *stream) {
    if (!ctx)
        return KS_INVALID_ARGUMENT;
#ifdef KS_HAVE_CUDA
    if (n < 0 || (n > 0 && (!images || !dst)))
        return ks__error(ctx, KS_INVALID_ARGUMENT, "preprocess: bad batch (%d images, dst %p)", n, dst);
    ks_vprep_params p;
    KS_CHECK(ks__vprep_params(ctx, cfg, &p));
    size_t per_image = (size_t)p.channels * p.width * p.height * (p.fp16 ? 2 : 4);
    ks_vprep_image chunk[KS_VPREP_MAX_BATCH];
    for (int i0 = 0; i0 < n; i0 += KS_VPREP_MAX_BATCH) {
        int m = n - i0 < KS_VPREP_MAX_BATCH ? n - i0 : KS_VPREP_MAX_BATCH;
        for (int k = 0; k < m; k++) {
            const ks_image *im = &images[i0 + k];
            if (im->memory != KS_MEMORY_DEVICE)
                return ks__error(ctx, KS_INVALID_ARGUMENT, "preprocess (CUDA): image %d is not in device memory",
                                 i0 + k);
            if (ks__vprep_image(ctx, cfg, im, &chunk[k], inv ? &inv[i0 + k] : NULL) != KS_OK)
                return ks__error_prefix(ctx, "image %d", i0 + k);
        }
        const char *msg = "";
        int rc = ks__vprep_cuda_launch(&p, m, chunk, (char *)dst + (size_t)i0 * per_image, stream, &msg);
        if (rc)
            return ks__error(ctx, KS_DEVICE_ERROR, "preprocess kernel (images %d..%d): %s", i0, i0 + m - 1, msg);
    }
    return KS_OK;
#else
    KS_UNUSED(cfg), KS_UNUSED(n), KS_UNUSED(images), KS_UNUSED(dst), KS_UNUSED(inv), KS_UNUSED(stream);
    return ks__error(ctx, KS_NO_DEVICE, "ks_preprocess_cuda: built without CUDA");
#endif
}
