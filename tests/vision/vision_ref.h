/* Set-up shared by the tests that walk ../shared/models/reference_outputs_ort.json:
 * the parsed file, its "detections" object, and the KESTREL_VISION_FULL /
 * KESTREL_VISION_MODELS switches. Skips (77) when the file cannot be read. */
#ifndef KS_TESTS_VISION_REF_H
#define KS_TESTS_VISION_REF_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "json_mini.h"

typedef struct vt_ref {
    jm_node *root;          /* the whole file; jm_free(root) at the end */
    jm_node *dets;          /* root["detections"]: per model key, per image */
    int run_all;            /* KESTREL_VISION_FULL=1: every image for every model */
    const char *only;       /* KESTREL_VISION_MODELS=substring, or NULL */
    char shared_dir[4096];  /* the folder image paths in the file are relative to */
} vt_ref;

/* 1 when model file f is selected by KESTREL_VISION_MODELS. */
static inline int vt_selected(const vt_ref *r, const char *f) {
    return !r->only || !*r->only || strstr(f, r->only) != NULL;
}

/* The images used by default for slow models (all of them with KESTREL_VISION_FULL): the
 * dense crowd, a mid-size group, a small photo and, for YOLOv5, two COCO samples. */
static inline int vt_in_subset(const char *img) {
    static const char *const subset[] = {"images/ultraface/17.jpg", "images/faces_misc/tensorrtpro_group.jpg",
                                         "images/libfacedetection/android_test2.jpg", "images/coco_samples/bus.jpg",
                                         "images/coco_samples/zidane.jpg"};
    for (size_t i = 0; i < sizeof(subset) / sizeof(subset[0]); i++)
        if (!strcmp(subset[i], img))
            return 1;
    return 0;
}

static inline void vt_ref_open(vt_ref *r) {
    char path[4096];
    snprintf(path, sizeof path, "%s/reference_outputs_ort.json", ks_t_models_dir());
    r->root = jm_read_file(path);
    if (!r->root)
        KS_T_SKIP("cannot read %s", path);
    r->dets = jm_get(r->root, "detections");
    KS_T_CHECK(r->dets != NULL);
    const char *full = getenv("KESTREL_VISION_FULL");
    r->run_all = full && atoi(full) > 0;
    r->only = getenv("KESTREL_VISION_MODELS");
    snprintf(r->shared_dir, sizeof r->shared_dir, "%s/..", ks_t_models_dir());
}
#endif
