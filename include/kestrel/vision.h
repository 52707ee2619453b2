/* kestrel — vision: images, preprocessing, detectors. (Owned by the vision
 * subsystem; see src/vision/.) */
#ifndef KESTREL_VISION_H
#define KESTREL_VISION_H
#include "kestrel/kestrel.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KS_MAX_LANDMARKS 5

/* One detection in original-image pixel coordinates. */
typedef struct ks_detection {
    float box[4];                       /* x1, y1, x2, y2 */
    float score;
    int32_t class_id;                   /* 0 for single-class face detectors */
    int32_t n_landmarks;                /* 0 or 5 */
    float landmarks[KS_MAX_LANDMARKS][2];
} ks_detection;

#ifdef __cplusplus
}
#endif
#endif
