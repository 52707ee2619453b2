/* A tiny rasterizer for looking at detections: rectangles, filled dots and a 5x7 digit
 * font, drawn in place on host BGR/RGB/BGRA/RGBA/GRAY images (clipped to the image).
 * Colours are given as R, G, B. Internal (used by `kestrel detect --draw`). */
#ifndef KS_VISION_DRAW_H
#define KS_VISION_DRAW_H
#include "kestrel/vision.h"

#ifdef __cplusplus
extern "C" {
#endif

void ks__draw_rect(ks_image *img, float x1, float y1, float x2, float y2, int thickness, const uint8_t rgb[3]);
void ks__draw_fill(ks_image *img, int x1, int y1, int x2, int y2, const uint8_t rgb[3]);
void ks__draw_dot(ks_image *img, float cx, float cy, int radius, const uint8_t rgb[3]);
/* Digits, '.', '-' and ' ' (others are skipped); top-left at (x, y); each font pixel is
 * scale x scale image pixels. Returns the width drawn. */
int ks__draw_text(ks_image *img, int x, int y, const char *text, int scale, const uint8_t rgb[3]);
int ks__draw_text_width(const char *text, int scale);
/* Draws detections: box, score above it, landmarks as dots (one colour per point). */
void ks__draw_detections(ks_image *img, const ks_detection *dets, int n);

#ifdef __cplusplus
}
#endif
#endif
