/* Minimal rasterizer for drawn detection outputs (see draw.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vision/draw.h"

static void put(ks_image *img, int x, int y, const uint8_t c[3]) {
    if (x < 0 || y < 0 || x >= img->width || y >= img->height || img->memory != KS_MEMORY_HOST)
        return;
    uint8_t *row = img->data + (size_t)y * img->stride;
    switch (img->format) {
    case KS_PIXEL_BGR: row += 3 * x; row[0] = c[2], row[1] = c[1], row[2] = c[0]; break;
    case KS_PIXEL_RGB: row += 3 * x; row[0] = c[0], row[1] = c[1], row[2] = c[2]; break;
    case KS_PIXEL_BGRA: row += 4 * x; row[0] = c[2], row[1] = c[1], row[2] = c[0]; break;
    case KS_PIXEL_RGBA: row += 4 * x; row[0] = c[0], row[1] = c[1], row[2] = c[2]; break;
    case KS_PIXEL_GRAY: row[x] = (uint8_t)((77 * c[0] + 150 * c[1] + 29 * c[2]) >> 8); break;
    default: /* YUV: luma only */ row[x] = (uint8_t)((66 * c[0] + 129 * c[1] + 25 * c[2] + 4224) >> 8); break;
    }
}

void ks__draw_fill(ks_image *img, int x1, int y1, int x2, int y2, const uint8_t rgb[3]) {
    if (x1 < 0) x1 = 0;
    if (y1 < 0) y1 = 0;
    if (x2 > img->width) x2 = img->width;
    if (y2 > img->height) y2 = img->height;
    for (int y = y1; y < y2; y++)
        for (int x = x1; x < x2; x++)
            put(img, x, y, rgb);
}

void ks__draw_rect(ks_image *img, float fx1, float fy1, float fx2, float fy2, int t, const uint8_t rgb[3]) {
    if (!(fx1 == fx1) || !(fy1 == fy1) || !(fx2 == fx2) || !(fy2 == fy2))
        return;
    float lim = 1e6f;
    fx1 = fmaxf(fminf(fx1, lim), -lim), fx2 = fmaxf(fminf(fx2, lim), -lim);
    fy1 = fmaxf(fminf(fy1, lim), -lim), fy2 = fmaxf(fminf(fy2, lim), -lim);
    int x1 = (int)lrintf(fminf(fx1, fx2)), x2 = (int)lrintf(fmaxf(fx1, fx2));
    int y1 = (int)lrintf(fminf(fy1, fy2)), y2 = (int)lrintf(fmaxf(fy1, fy2));
    if (t < 1) t = 1;
    ks__draw_fill(img, x1, y1, x2 + 1, y1 + t, rgb);         /* top */
    ks__draw_fill(img, x1, y2 - t + 1, x2 + 1, y2 + 1, rgb); /* bottom */
    ks__draw_fill(img, x1, y1, x1 + t, y2 + 1, rgb);         /* left */
    ks__draw_fill(img, x2 - t + 1, y1, x2 + 1, y2 + 1, rgb); /* right */
}

void ks__draw_dot(ks_image *img, float cx, float cy, int r, const uint8_t rgb[3]) {
    if (!(cx == cx) || !(cy == cy) || fabsf(cx) > 1e6f || fabsf(cy) > 1e6f)
        return;
    int x0 = (int)lrintf(cx), y0 = (int)lrintf(cy);
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++)
            if (dx * dx + dy * dy <= r * r + r)
                put(img, x0 + dx, y0 + dy, rgb);
}

/* 5x7 glyphs, one byte per row, bit 4 = leftmost column. */
static const uint8_t digits[10][7] = {
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}};
static const uint8_t dot_glyph[7] = {0, 0, 0, 0, 0, 0x0C, 0x0C};
static const uint8_t minus_glyph[7] = {0, 0, 0, 0x1F, 0, 0, 0};

static const uint8_t *glyph(char c) {
    if (c >= '0' && c <= '9')
        return digits[c - '0'];
    if (c == '.')
        return dot_glyph;
    if (c == '-')
        return minus_glyph;
    return NULL;
}

int ks__draw_text_width(const char *text, int scale) {
    int w = 0;
    for (const char *p = text; *p; p++)
        if (glyph(*p) || *p == ' ')
            w += 6 * scale;
    return w > 0 ? w - scale : 0;
}

int ks__draw_text(ks_image *img, int x, int y, const char *text, int scale, const uint8_t rgb[3]) {
    int x0 = x;
    for (const char *p = text; *p; p++) {
        const uint8_t *g = glyph(*p);
        if (!g && *p != ' ')
            continue;
        if (g)
            for (int r = 0; r < 7; r++)
                for (int c = 0; c < 5; c++)
                    if (g[r] & (0x10 >> c))
                        ks__draw_fill(img, x + c * scale, y + r * scale, x + (c + 1) * scale, y + (r + 1) * scale, rgb);
        x += 6 * scale;
    }
    return x - x0;
}

void ks__draw_detections(ks_image *img, const ks_detection *dets, int n) {
    static const uint8_t box_c[3] = {0, 230, 0}, text_c[3] = {0, 0, 0};
    static const uint8_t lm_c[5][3] = {{255, 0, 0}, {0, 128, 255}, {255, 255, 0}, {255, 0, 255}, {0, 255, 255}};
    int side = img->width < img->height ? img->width : img->height;
    int t = side / 500 + 1;
    int scale = side / 700 + 1;
    int r = side / 400 + 1;
    for (int i = 0; i < n; i++) {
        const ks_detection *d = &dets[i];
        ks__draw_rect(img, d->box[0], d->box[1], d->box[2], d->box[3], t, box_c);
        char s[16];
        snprintf(s, sizeof s, "%.2f", (double)d->score);
        int tw = ks__draw_text_width(s, scale), th = 7 * scale;
        int tx = (int)lrintf(fmaxf(fminf(d->box[0], 1e6f), -1e6f));
        int ty = (int)lrintf(fmaxf(fminf(d->box[1], 1e6f), -1e6f)) - th - 2 * scale;
        if (ty < 0)
            ty = (int)lrintf(fmaxf(fminf(d->box[1], 1e6f), -1e6f)) + t;
        ks__draw_fill(img, tx, ty, tx + tw + 2 * scale, ty + th + 2 * scale, box_c);
        ks__draw_text(img, tx + scale, ty + scale, s, scale, text_c);
        for (int k = 0; k < d->n_landmarks && k < KS_MAX_LANDMARKS; k++)
            ks__draw_dot(img, d->landmarks[k][0], d->landmarks[k][1], r, lm_c[k]);
    }
}
