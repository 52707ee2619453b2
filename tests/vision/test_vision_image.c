/* Images: JPEG/PNG decode into every format, corrupt / truncated / hostile files give a
 * clear KS_CORRUPT_FILE naming the file, encode round trips, host format conversion. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kestrel/vision.h"

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static void write_all(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(d, 1, n, f);
        fclose(f);
    }
}

/* Expects loading `path` to fail with `want` and a message mentioning `needle`. */
static void expect_fail(ks_context *ctx, const char *path, ks_status want, const char *needle) {
    ks_image img;
    ks_status st = ks_image_load_file(ctx, path, KS_PIXEL_BGR, &img);
    const char *msg = ks_context_last_error(ctx);
    KS_T_CHECK_MSG(st == want, "%s: got %s (%s), want %s", path, ks_status_name(st), msg, ks_status_name(want));
    KS_T_CHECK_MSG(strstr(msg, path) != NULL, "message does not name the file: %s", msg);
    if (needle)
        KS_T_CHECK_MSG(strstr(msg, needle) != NULL, "message '%s' lacks '%s'", msg, needle);
    KS_T_CHECK(img.data == NULL);
    fprintf(stderr, "  ok: %s -> %s: %s\n", path, ks_status_name(st), msg);
}

static double mean_abs_diff(const ks_image *a, const ks_image *b) {
    double s = 0;
    int bpp = ks_pixel_format_bpp(a->format);
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width * bpp; x++)
            s += abs((int)a->data[(size_t)y * a->stride + x] - (int)b->data[(size_t)y * b->stride + x]);
    return s / ((double)a->width * a->height * bpp);
}

int main(void) {
    ks_context *ctx = NULL;
    KS_T_CHECK(ks_context_create(NULL, &ctx) == KS_OK);
    char path[4096], tmp[4096];
    snprintf(path, sizeof path, "%s/ultraface/17.jpg", ks_t_images_dir());
    size_t n = 0;
    unsigned char *jpg = read_all(path, &n);
    if (!jpg)
        KS_T_SKIP("no test images at %s", ks_t_images_dir());

    /* --- decode into each format; all agree with BGR --- */
    ks_image bgr, rgb, bgra, gray;
    KS_T_CHECK_OK(ctx, ks_image_load_file(ctx, path, KS_PIXEL_BGR, &bgr));
    KS_T_CHECK_EQ_I(bgr.width, 1600);
    KS_T_CHECK_EQ_I(bgr.height, 898);
    KS_T_CHECK_OK(ctx, ks_image_decode(ctx, jpg, n, KS_PIXEL_RGB, &rgb));
    KS_T_CHECK_OK(ctx, ks_image_decode(ctx, jpg, n, KS_PIXEL_BGRA, &bgra));
    KS_T_CHECK_OK(ctx, ks_image_decode(ctx, jpg, n, KS_PIXEL_GRAY, &gray));
    int bad = 0;
    for (int y = 0; y < bgr.height; y += 7)
        for (int x = 0; x < bgr.width; x += 5) {
            const uint8_t *p = bgr.data + (size_t)y * bgr.stride + 3 * x;
            const uint8_t *q = rgb.data + (size_t)y * rgb.stride + 3 * x;
            const uint8_t *r = bgra.data + (size_t)y * bgra.stride + 4 * x;
            bad += p[0] != q[2] || p[1] != q[1] || p[2] != q[0];
            bad += p[0] != r[0] || p[1] != r[1] || p[2] != r[2] || r[3] != 255;
        }
    KS_T_CHECK_EQ_I(bad, 0);

    /* PNG */
    snprintf(tmp, sizeof tmp, "%s/mtcnn/pkuzhou_2.png", ks_t_images_dir());
    ks_image png;
    KS_T_CHECK_OK(ctx, ks_image_load_file(ctx, tmp, KS_PIXEL_BGR, &png));
    KS_T_CHECK(png.width > 0 && png.height > 0);

    /* --- round trips --- */
    snprintf(tmp, sizeof tmp, "%s/vision_rt.png", KS_BINARY_DIR);
    KS_T_CHECK_OK(ctx, ks_image_save_png(ctx, tmp, &bgr));
    ks_image back;
    KS_T_CHECK_OK(ctx, ks_image_load_file(ctx, tmp, KS_PIXEL_BGR, &back));
    KS_T_CHECK(back.width == bgr.width && back.height == bgr.height && mean_abs_diff(&bgr, &back) == 0.0);
    ks_image_release(ctx, &back);
    snprintf(tmp, sizeof tmp, "%s/vision_rt.jpg", KS_BINARY_DIR);
    KS_T_CHECK_OK(ctx, ks_image_save_jpeg(ctx, tmp, &bgr, 95));
    KS_T_CHECK_OK(ctx, ks_image_load_file(ctx, tmp, KS_PIXEL_BGR, &back));
    double d = mean_abs_diff(&bgr, &back);
    KS_T_CHECK_MSG(d < 3.0, "JPEG q95 round trip mean abs diff %.3f", d);
    ks_image_release(ctx, &back);

    /* --- host conversions --- */
    ks_image conv, conv2;
    KS_T_CHECK_OK(ctx, ks_image_convert(ctx, &bgr, KS_PIXEL_RGB, &conv));
    KS_T_CHECK_OK(ctx, ks_image_convert(ctx, &conv, KS_PIXEL_BGR, &conv2));
    KS_T_CHECK(mean_abs_diff(&bgr, &conv2) == 0.0);
    ks_image_release(ctx, &conv);
    ks_image_release(ctx, &conv2);
    ks_pixel_format yuv[2] = {KS_PIXEL_NV12, KS_PIXEL_I420};
    for (int k = 0; k < 2; k++) {
        KS_T_CHECK_OK(ctx, ks_image_convert(ctx, &bgr, yuv[k], &conv));
        KS_T_CHECK_OK(ctx, ks_image_convert(ctx, &conv, KS_PIXEL_BGR, &conv2));
        d = mean_abs_diff(&bgr, &conv2);
        KS_T_CHECK_MSG(d < 6.0, "%s round trip mean abs diff %.3f", ks_pixel_format_name(yuv[k]), d);
        fprintf(stderr, "  BGR -> %s -> BGR: mean abs diff %.2f\n", ks_pixel_format_name(yuv[k]), d);
        ks_image_release(ctx, &conv);
        ks_image_release(ctx, &conv2);
    }
    KS_T_CHECK_EQ_I(ks_image_bytes(KS_PIXEL_NV12, 5, 3), 5 * 3 + 6 * 2);
    KS_T_CHECK_EQ_I(ks_image_bytes(KS_PIXEL_I420, 5, 3), 5 * 3 + 2 * 3 * 2);
    /* odd sizes */
    ks_image odd;
    KS_T_CHECK_OK(ctx, ks_image_alloc(ctx, 5, 3, KS_PIXEL_BGR, &odd));
    for (int i = 0; i < 45; i++)
        odd.data[i] = (uint8_t)(i * 5);
    for (int k = 0; k < 2; k++) {
        KS_T_CHECK_OK(ctx, ks_image_convert(ctx, &odd, yuv[k], &conv));
        KS_T_CHECK_OK(ctx, ks_image_convert(ctx, &conv, KS_PIXEL_GRAY, &conv2));
        ks_image_release(ctx, &conv);
        ks_image_release(ctx, &conv2);
    }
    ks_image_release(ctx, &odd);

    /* --- corrupt inputs --- */
    snprintf(tmp, sizeof tmp, "%s/vision_trunc.jpg", KS_BINARY_DIR);
    write_all(tmp, jpg, n / 2);
    expect_fail(ctx, tmp, KS_CORRUPT_FILE, "JPEG");
    snprintf(tmp, sizeof tmp, "%s/vision_hdr.jpg", KS_BINARY_DIR);
    write_all(tmp, jpg, 200);
    expect_fail(ctx, tmp, KS_CORRUPT_FILE, "JPEG");
    snprintf(tmp, sizeof tmp, "%s/vision_soi.jpg", KS_BINARY_DIR);
    write_all(tmp, jpg, 3);
    expect_fail(ctx, tmp, KS_CORRUPT_FILE, "JPEG");
    /* scrambled entropy data in the middle */
    unsigned char *bad_jpg = malloc(n);
    memcpy(bad_jpg, jpg, n);
    for (size_t i = n / 3; i < n / 3 + 4000 && i < n; i++)
        bad_jpg[i] = (unsigned char)(i * 131 + 7);
    snprintf(tmp, sizeof tmp, "%s/vision_scrambled.jpg", KS_BINARY_DIR);
    write_all(tmp, bad_jpg, n);
    expect_fail(ctx, tmp, KS_CORRUPT_FILE, "JPEG");
    free(bad_jpg);
    snprintf(tmp, sizeof tmp, "%s/vision_empty.jpg", KS_BINARY_DIR);
    write_all(tmp, "", 0);
    expect_fail(ctx, tmp, KS_CORRUPT_FILE, "not a JPEG or PNG");
    snprintf(tmp, sizeof tmp, "%s/vision_text.jpg", KS_BINARY_DIR);
    write_all(tmp, "hello, not an image at all\n", 27);
    expect_fail(ctx, tmp, KS_CORRUPT_FILE, "not a JPEG or PNG");
    snprintf(tmp, sizeof tmp, "%s/vision_missing_dir/none.jpg", KS_BINARY_DIR);
    expect_fail(ctx, tmp, KS_IO_ERROR, NULL);

    snprintf(path, sizeof path, "%s/mtcnn/pkuzhou_2.png", ks_t_images_dir());
    size_t pn = 0;
    unsigned char *pngd = read_all(path, &pn);
    KS_T_CHECK(pngd != NULL);
    if (pngd) {
        snprintf(tmp, sizeof tmp, "%s/vision_trunc.png", KS_BINARY_DIR);
        write_all(tmp, pngd, pn / 2);
        expect_fail(ctx, tmp, KS_CORRUPT_FILE, "PNG");
        snprintf(tmp, sizeof tmp, "%s/vision_sig.png", KS_BINARY_DIR);
        write_all(tmp, pngd, 12);
        expect_fail(ctx, tmp, KS_CORRUPT_FILE, "PNG");
        /* flip bytes inside the first IDAT chunk: CRC / zlib error */
        unsigned char *bp = malloc(pn);
        memcpy(bp, pngd, pn);
        for (size_t i = 8; i + 8 < pn; i++)
            if (!memcmp(bp + i, "IDAT", 4)) {
                bp[i + 40] ^= 0x55;
                bp[i + 41] ^= 0xaa;
                break;
            }
        snprintf(tmp, sizeof tmp, "%s/vision_crc.png", KS_BINARY_DIR);
        write_all(tmp, bp, pn);
        expect_fail(ctx, tmp, KS_CORRUPT_FILE, "PNG");
        /* absurd dimensions in IHDR */
        memcpy(bp, pngd, pn);
        bp[16] = 0x7f;
        snprintf(tmp, sizeof tmp, "%s/vision_huge.png", KS_BINARY_DIR);
        write_all(tmp, bp, pn);
        expect_fail(ctx, tmp, KS_CORRUPT_FILE, "PNG");
        free(bp);
        free(pngd);
    }
    /* decode into a format the decoder cannot produce */
    ks_image none;
    KS_T_CHECK(ks_image_decode(ctx, jpg, n, KS_PIXEL_NV12, &none) == KS_INVALID_ARGUMENT);

    /* bad wraps */
    uint8_t px[12];
    ks_image w;
    KS_T_CHECK(ks_image_wrap(&w, 2, 2, KS_PIXEL_BGR, px, 5, KS_MEMORY_HOST) == KS_INVALID_ARGUMENT);
    KS_T_CHECK(ks_image_wrap(&w, 2, 2, KS_PIXEL_BGR, px, 0, KS_MEMORY_HOST) == KS_OK && w.stride == 6);
    KS_T_CHECK(ks_image_wrap(&w, 0, 2, KS_PIXEL_BGR, px, 0, KS_MEMORY_HOST) == KS_INVALID_ARGUMENT);

    ks_image_release(ctx, &bgr);
    ks_image_release(ctx, &rgb);
    ks_image_release(ctx, &bgra);
    ks_image_release(ctx, &gray);
    ks_image_release(ctx, &png);
    free(jpg);
    ks_context_destroy(ctx);
    return ks_t_done();
}
