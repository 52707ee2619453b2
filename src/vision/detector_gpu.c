/* ks_detector GPU path: engine run -> decode -> NMS on one stream. */
#include <string.h>

#include "core/core.h"
#include "vision/detector_internal.h"

ks_status ks__detector_gpu_create(ks_detector *d) {
    return ks__error(d->ctx, KS_NO_DEVICE, "GPU detector path not available yet");
}
ks_status ks__detector_gpu_create_from_engine(ks_detector *d) {
    return ks__error(d->ctx, KS_NO_DEVICE, "engine files need the GPU detector path");
}
ks_status ks__detector_gpu_detect(ks_detector *d, int n, const ks_image *images, ks_detection_list *results) {
    KS_UNUSED(n), KS_UNUSED(images), KS_UNUSED(results);
    return ks__error(d->ctx, KS_NO_DEVICE, "GPU detector path not available");
}
void ks__detector_gpu_destroy(ks_detector *d) { KS_UNUSED(d); }
