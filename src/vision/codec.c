/* JPEG / PNG decode (libjpeg-turbo, libpng) and JPEG encode on the CPU.
 *
 * Both libraries report errors by longjmp; every decode runs inside its own setjmp frame,
 * frees what it allocated and returns KS_CORRUPT_FILE with the library's message. libjpeg
 * warnings (e.g. "Premature end of JPEG file": truncated data that libjpeg would silently
 * fill with grey) are treated as errors, so a truncated file never yields an image. */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "core/core.h"
#include "vision/vision_internal.h"

/* Output formats the decoders produce directly. */
static int decodable(ks_pixel_format f) {
    return f == KS_PIXEL_BGR || f == KS_PIXEL_RGB || f == KS_PIXEL_BGRA || f == KS_PIXEL_RGBA ||
           f == KS_PIXEL_GRAY;
}

/* ---------------------------------------------------------------------- JPEG */

typedef struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_error_exit_cb(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jb, 1);
}

static void jpeg_emit_cb(j_common_ptr cinfo, int level) {
    if (level < 0) { /* warning: corrupt or truncated data */
        jpeg_err *e = (jpeg_err *)cinfo->err;
        (*cinfo->err->format_message)(cinfo, e->msg);
        longjmp(e->jb, 1);
    }
}

static void jpeg_output_cb(j_common_ptr cinfo) { KS_UNUSED(cinfo); }

static ks_status decode_jpeg(ks_context *ctx, const uint8_t *data, size_t n, ks_pixel_format fmt,
                             const char *what, ks_image *out) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    memset(&cinfo, 0, sizeof(cinfo));
    memset(&err, 0, sizeof(err));
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_error_exit_cb;
    err.mgr.emit_message = jpeg_emit_cb;
    err.mgr.output_message = jpeg_output_cb;
    volatile int created = 0;
    ks_image *volatile img = out;
    memset(out, 0, sizeof(*out));
    if (setjmp(err.jb)) {
        if (created)
            jpeg_destroy_decompress(&cinfo);
        ks_image_release(ctx, img);
        return ks__error(ctx, KS_CORRUPT_FILE, "%s: corrupt or truncated JPEG: %s", what, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    created = 1;
    jpeg_mem_src(&cinfo, (const unsigned char *)data, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        return ks__error(ctx, KS_CORRUPT_FILE, "%s: CMYK/YCCK JPEG is not supported", what);
    }
    switch (fmt) {
    case KS_PIXEL_BGR: cinfo.out_color_space = JCS_EXT_BGR; break;
    case KS_PIXEL_RGB: cinfo.out_color_space = JCS_EXT_RGB; break;
    case KS_PIXEL_BGRA: cinfo.out_color_space = JCS_EXT_BGRA; break;
    case KS_PIXEL_RGBA: cinfo.out_color_space = JCS_EXT_RGBA; break;
    default: cinfo.out_color_space = JCS_GRAYSCALE; break;
    }
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_width == 0 || cinfo.output_height == 0 || cinfo.output_width > 65535 ||
        cinfo.output_height > 65535) {
        jpeg_destroy_decompress(&cinfo);
        return ks__error(ctx, KS_CORRUPT_FILE, "%s: JPEG size %ux%u out of range", what,
                         (unsigned)cinfo.output_width, (unsigned)cinfo.output_height);
    }
    ks_status st = ks_image_alloc(ctx, (int32_t)cinfo.output_width, (int32_t)cinfo.output_height, fmt, img);
    if (st != KS_OK) {
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = img->data + (size_t)cinfo.output_scanline * img->stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return KS_OK;
}

/* ----------------------------------------------------------------------- PNG */

typedef struct png_src {
    const uint8_t *data;
    size_t n, pos;
    char msg[256];
} png_src;

static void png_read_cb(png_structp png, png_bytep out, png_size_t n) {
    png_src *s = (png_src *)png_get_io_ptr(png);
    if (s->n - s->pos < n) {
        snprintf(s->msg, sizeof(s->msg), "unexpected end of data (truncated file)");
        png_longjmp(png, 1);
    }
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static void png_error_cb(png_structp png, png_const_charp msg) {
    png_src *s = (png_src *)png_get_error_ptr(png);
    if (s && !s->msg[0])
        snprintf(s->msg, sizeof(s->msg), "%s", msg);
    png_longjmp(png, 1);
}

static void png_warning_cb(png_structp png, png_const_charp msg) {
    KS_UNUSED(png);
    KS_UNUSED(msg);
}

static ks_status decode_png(ks_context *ctx, const uint8_t *data, size_t n, ks_pixel_format fmt,
                            const char *what, ks_image *out) {
    png_src src = {data, n, 0, {0}};
    memset(out, 0, sizeof(*out));
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_error_cb, png_warning_cb);
    if (!png)
        return ks__oom(ctx, sizeof(png_src), "libpng read struct");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ks__oom(ctx, 0, "libpng info struct");
    }
    ks_image *volatile img = out;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        ks__free(ctx, rows);
        ks_image_release(ctx, img);
        return ks__error(ctx, KS_CORRUPT_FILE, "%s: corrupt or truncated PNG: %s", what,
                         src.msg[0] ? src.msg : "libpng error");
    }
    png_set_read_fn(png, &src, png_read_cb);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (w == 0 || h == 0 || w > 65535 || h > 65535) {
        snprintf(src.msg, sizeof(src.msg), "size %ux%u out of range", (unsigned)w, (unsigned)h);
        png_longjmp(png, 1);
    }
    if (depth == 16)
        png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    int want_alpha = fmt == KS_PIXEL_BGRA || fmt == KS_PIXEL_RGBA;
    if (png_get_valid(png, info, PNG_INFO_tRNS)) {
        if (want_alpha)
            png_set_tRNS_to_alpha(png);
    }
    int has_alpha = (color & PNG_COLOR_MASK_ALPHA) || (want_alpha && png_get_valid(png, info, PNG_INFO_tRNS));
    if (fmt == KS_PIXEL_GRAY) {
        if (color & PNG_COLOR_MASK_COLOR || color == PNG_COLOR_TYPE_PALETTE)
            png_set_rgb_to_gray_fixed(png, 1, -1, -1);
        if (has_alpha)
            png_set_strip_alpha(png);
    } else {
        if (!(color & PNG_COLOR_MASK_COLOR) && color != PNG_COLOR_TYPE_PALETTE)
            png_set_gray_to_rgb(png);
        if (fmt == KS_PIXEL_BGR || fmt == KS_PIXEL_BGRA)
            png_set_bgr(png);
        if (want_alpha && !has_alpha)
            png_set_filler(png, 0xff, PNG_FILLER_AFTER);
        if (!want_alpha && has_alpha)
            png_set_strip_alpha(png);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rb = png_get_rowbytes(png, info);
    if (rb != (size_t)w * (size_t)ks_pixel_format_bpp(fmt)) {
        snprintf(src.msg, sizeof(src.msg), "unexpected row size %zu after conversion", rb);
        png_longjmp(png, 1);
    }
    if (ks_image_alloc(ctx, (int32_t)w, (int32_t)h, fmt, img) != KS_OK) {
        png_destroy_read_struct(&png, &info, NULL);
        return ks_context_last_status(ctx);
    }
    rows = ks__alloc_array(ctx, h, sizeof(png_bytep));
    if (!rows) {
        png_destroy_read_struct(&png, &info, NULL);
        ks_image_release(ctx, img);
        return ks__oom(ctx, h * sizeof(png_bytep), "PNG row pointers");
    }
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = img->data + (size_t)y * img->stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    ks__free(ctx, rows);
    return KS_OK;
}

/* -------------------------------------------------------------------- public */

static ks_status decode_any(ks_context *ctx, const void *data, size_t n, ks_pixel_format fmt,
                            const char *what, ks_image *out) {
    if (!ctx || !out || (!data && n))
        return KS_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    if (!decodable(fmt))
        return ks__error(ctx, KS_INVALID_ARGUMENT, "%s: cannot decode into %s (BGR, RGB, BGRA, RGBA or GRAY)",
                         what, ks_pixel_format_name(fmt));
    const uint8_t *p = (const uint8_t *)data;
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return decode_jpeg(ctx, p, n, fmt, what, out);
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && !memcmp(p, png_sig, 8))
        return decode_png(ctx, p, n, fmt, what, out);
    return ks__error(ctx, KS_CORRUPT_FILE, "%s: not a JPEG or PNG file (%zu bytes%s)", what, n,
                     n == 0 ? ", empty" : "");
}

ks_status ks_image_decode(ks_context *ctx, const void *data, size_t n_bytes, ks_pixel_format fmt,
                          ks_image *out) {
    return decode_any(ctx, data, n_bytes, fmt, "image data", out);
}

ks_status ks_image_load_file(ks_context *ctx, const char *path, ks_pixel_format fmt, ks_image *out) {
    if (!ctx || !path || !out)
        return KS_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    void *buf = NULL;
    size_t n = 0;
    ks_status st = ks__read_file(ctx, path, &buf, &n);
    if (st != KS_OK)
        return st;
    st = decode_any(ctx, buf, n, fmt, path, out);
    ks__free(ctx, buf);
    return st;
}

ks_status ks_image_save_jpeg(ks_context *ctx, const char *path, const ks_image *img, int quality) {
    if (!ctx || !path || !img)
        return KS_INVALID_ARGUMENT;
    if (img->memory != KS_MEMORY_HOST ||
        !(img->format == KS_PIXEL_BGR || img->format == KS_PIXEL_RGB || img->format == KS_PIXEL_GRAY))
        return ks__error(ctx, KS_INVALID_ARGUMENT, "%s: JPEG writer takes host BGR, RGB or GRAY images", path);
    ks_vimg v;
    KS_CHECK(ks__vimg_resolve(ctx, img, &v));
    FILE *f = fopen(path, "wb");
    if (!f)
        return ks__error(ctx, KS_IO_ERROR, "%s: cannot open for writing", path);
    struct jpeg_compress_struct cinfo;
    jpeg_err err;
    memset(&cinfo, 0, sizeof(cinfo));
    memset(&err, 0, sizeof(err));
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_error_exit_cb;
    err.mgr.output_message = jpeg_output_cb;
    if (setjmp(err.jb)) {
        jpeg_destroy_compress(&cinfo);
        fclose(f);
        return ks__error(ctx, KS_IO_ERROR, "%s: JPEG encode failed: %s", path, err.msg);
    }
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = (JDIMENSION)img->width;
    cinfo.image_height = (JDIMENSION)img->height;
    cinfo.input_components = img->format == KS_PIXEL_GRAY ? 1 : 3;
    cinfo.in_color_space = img->format == KS_PIXEL_GRAY ? JCS_GRAYSCALE
                           : img->format == KS_PIXEL_BGR ? JCS_EXT_BGR
                                                         : JCS_EXT_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality < 1 ? 1 : quality > 100 ? 100 : quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = img->data + (size_t)cinfo.next_scanline * img->stride;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    if (fclose(f) != 0)
        return ks__error(ctx, KS_IO_ERROR, "%s: write failed", path);
    return KS_OK;
}

ks_status ks_image_save_png(ks_context *ctx, const char *path, const ks_image *img) {
    if (!ctx || !path || !img)
        return KS_INVALID_ARGUMENT;
    if (img->memory != KS_MEMORY_HOST || img->format == KS_PIXEL_NV12 || img->format == KS_PIXEL_I420)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "%s: PNG writer takes host packed or GRAY images", path);
    ks_vimg v;
    KS_CHECK(ks__vimg_resolve(ctx, img, &v));
    FILE *f = fopen(path, "wb");
    if (!f)
        return ks__error(ctx, KS_IO_ERROR, "%s: cannot open for writing", path);
    png_src src = {NULL, 0, 0, {0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &src, png_error_cb, png_warning_cb);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        fclose(f);
        return ks__oom(ctx, 0, "libpng write struct");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return ks__error(ctx, KS_IO_ERROR, "%s: PNG encode failed: %s", path, src.msg);
    }
    png_init_io(png, f);
    int color = img->format == KS_PIXEL_GRAY ? PNG_COLOR_TYPE_GRAY
                : (img->format == KS_PIXEL_BGRA || img->format == KS_PIXEL_RGBA) ? PNG_COLOR_TYPE_RGBA
                                                                                 : PNG_COLOR_TYPE_RGB;
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, color, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    if (img->format == KS_PIXEL_BGR || img->format == KS_PIXEL_BGRA)
        png_set_bgr(png);
    for (int32_t y = 0; y < img->height; y++)
        png_write_row(png, img->data + (size_t)y * img->stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0)
        return ks__error(ctx, KS_IO_ERROR, "%s: write failed", path);
    return KS_OK;
}
