/* MTCNN CPU cascade: the Caffe nets, the Caffe nets with PReLU through the
 * plugin, the caffe_relu rewrite and the ONNX (NHWC ipazc) export give the
 * same detections on the MTCNN test images; plus NMS and resize units. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "kestrel/plugin.h"
#include "kestrel/vision.h"
#include "vision/mtcnn.h"

typedef struct variant {
    const char *dir;
    int plugin;
    const char *label;
} variant;

static const variant variants[] = {
    {"mtcnn/caffe", 0, "caffe"},
    {"mtcnn/caffe", 1, "caffe+PRelu plugin"},
    {"mtcnn/caffe_relu", 0, "caffe_relu"},
    {"mtcnn/onnx_ipazc", 0, "onnx ipazc (NHWC)"},
    {"mtcnn/onnx_ipazc", 1, "onnx ipazc+PRelu plugin"},
};
#define N_VAR (sizeof variants / sizeof variants[0])

static const char *images[] = {"mtcnn/test2.jpg", "mtcnn/pkuzhou_4.jpg", "mtcnn/pkuzhou_2.png",
                               "ultraface/13.jpg"};
#define N_IMG (sizeof images / sizeof images[0])

static void test_nms_unit(void) {
    ks_mtcnn_box b[5];
    memset(b, 0, sizeof b);
    float bx[5][5] = {{0, 0, 9, 9, 0.5f},     {1, 1, 10, 10, 0.9f}, {50, 50, 60, 60, 0.7f},
                      {0, 0, 4, 4, 0.95f}, {52, 52, 58, 58, 0.8f}};
    for (int i = 0; i < 5; i++) {
        b[i].x1 = bx[i][0], b[i].y1 = bx[i][1], b[i].x2 = bx[i][2], b[i].y2 = bx[i][3];
        b[i].score = bx[i][4];
    }
    ks_mtcnn_box c[5];
    memcpy(c, b, sizeof b);
    int scratch[10];
    /* Union 0.5: [0,0,4,4] (0.95) vs [1,1,10,10]: inter 16 / (25+100-16) small -> both kept;
     * [0,0,9,9] vs [1,1,10,10]: 81/(100+100-81) = 0.68 -> suppressed;
     * [52..58] (0.8) vs [50..60] (0.7): 49/(121+49-49)=0.40 -> kept */
    int n = ks__mtcnn_nms(b, 5, 0.5f, 0, scratch);
    KS_T_CHECK_EQ_I(n, 4);
    KS_T_CHECK_NEAR(b[0].score, 0.95f, 0);
    KS_T_CHECK_NEAR(b[1].score, 0.9f, 0);
    KS_T_CHECK_NEAR(b[2].score, 0.8f, 0);
    KS_T_CHECK_NEAR(b[3].score, 0.7f, 0);
    /* Min 0.7: [50..60] contains [52..58] fully -> suppressed; [0..4] inside [1..10]? inter
     * 4x4=16 over min(25,100) = 0.64 -> kept; [0..9] vs [1..10]: 81/100 -> suppressed */
    n = ks__mtcnn_nms(c, 5, 0.7f, 1, scratch);
    KS_T_CHECK_EQ_I(n, 3);
    /* large input exercises the permutation path */
    enum { N = 3000 };
    static ks_mtcnn_box big[N];
    static int sc[2 * N];
    for (int i = 0; i < N; i++) {
        memset(&big[i], 0, sizeof big[i]);
        big[i].x1 = (float)(i % 100) * 20, big[i].y1 = (float)(i / 100) * 20;
        big[i].x2 = big[i].x1 + 9, big[i].y2 = big[i].y1 + 9;
        big[i].score = (float)((i * 7919) % N) / N;
    }
    n = ks__mtcnn_nms(big, N, 0.5f, 0, sc);
    KS_T_CHECK_EQ_I(n, N); /* disjoint boxes: all kept, sorted */
    int sorted = 1;
    for (int i = 1; i < N; i++)
        sorted &= big[i - 1].score >= big[i].score;
    KS_T_CHECK(sorted);
}

static void test_resize_unit(void) {
    float src[2 * 2] = {0, 1, 2, 3}, dst[4 * 4];
    ks__mtcnn_resize_bilinear(src, 2, 2, 1, dst, 4, 4);
    KS_T_CHECK_NEAR(dst[0], 0, 1e-6);
    KS_T_CHECK_NEAR(dst[1], 0.25, 1e-6);
    KS_T_CHECK_NEAR(dst[15], 3, 1e-6);
    float one[1] = {5}, big[9];
    ks__mtcnn_resize_bilinear(one, 1, 1, 1, big, 3, 3);
    KS_T_CHECK_NEAR(big[4], 5, 0);
}

int main(void) {
    test_nms_unit();
    test_resize_unit();
    char path[2048];
    snprintf(path, sizeof path, "%s/mtcnn/caffe/det1.prototxt", ks_t_models_dir());
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "models missing: only unit parts ran\n");
        return ks_t_done();
    }
    fclose(f);
    ks_detection *dets[N_VAR][N_IMG];
    int counts[N_VAR][N_IMG];
    memset(dets, 0, sizeof dets);
    memset(counts, 0, sizeof counts);
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    ks_image img[N_IMG];
    int have[N_IMG];
    for (size_t i = 0; i < N_IMG; i++) {
        snprintf(path, sizeof path, "%s/%s", ks_t_images_dir(), images[i]);
        have[i] = ks_image_load_file(ctx, path, KS_PIXEL_RGB, &img[i]) == KS_OK;
        if (!have[i])
            fprintf(stderr, "note: %s not loaded: %s\n", path, ks_context_last_error(ctx));
    }
    for (size_t v = 0; v < N_VAR; v++) {
        ks_context *vc;
        ks_context_create(NULL, &vc);
        ks_mtcnn_options o;
        ks__mtcnn_options_init(&o);
        o.use_plugin_prelu = variants[v].plugin;
        ks_mtcnn *m = NULL;
        snprintf(path, sizeof path, "%s/%s", ks_t_models_dir(), variants[v].dir);
        ks_status st = ks__mtcnn_create(vc, path, &o, &m);
        KS_T_CHECK_MSG(st == KS_OK, "%s: %s", variants[v].label, ks_context_last_error(vc));
        if (variants[v].plugin)
            KS_T_CHECK(ks_plugin_find(vc, NULL, "PRelu") != NULL);
        if (m) /* R-Net (3 PReLU after convs, 1 after the dense layer) + O-Net (5) */
            KS_T_CHECK_MSG(variants[v].plugin ? ks__mtcnn_count_plugin_nodes(m) == 9
                                              : ks__mtcnn_count_plugin_nodes(m) == 0,
                           "%s: %d plugin nodes", variants[v].label,
                           ks__mtcnn_count_plugin_nodes(m));
        for (size_t i = 0; m && i < N_IMG; i++) {
            if (!have[i])
                continue;
            st = ks__mtcnn_detect(m, &img[i], &dets[v][i], &counts[v][i]);
            KS_T_CHECK_MSG(st == KS_OK, "%s on %s: %s", variants[v].label, images[i],
                           ks_context_last_error(vc));
            fprintf(stderr, "%-22s %-22s %d faces", variants[v].label, images[i], counts[v][i]);
            if (counts[v][i])
                fprintf(stderr, " (best %.4f at %.1f,%.1f,%.1f,%.1f)", dets[v][i][0].score,
                        dets[v][i][0].box[0], dets[v][i][0].box[1], dets[v][i][0].box[2],
                        dets[v][i][0].box[3]);
            fputc('\n', stderr);
            /* copy out: dets are allocated on vc, which goes away */
            if (counts[v][i]) {
                ks_detection *c = malloc(sizeof(ks_detection) * (size_t)counts[v][i]);
                memcpy(c, dets[v][i], sizeof(ks_detection) * (size_t)counts[v][i]);
                ks__free(vc, dets[v][i]);
                dets[v][i] = c;
            }
        }
        ks__mtcnn_destroy(m);
        ks_context_destroy(vc);
    }
    /* every image with faces in it gives some; all variants agree */
    for (size_t i = 0; i < N_IMG; i++) {
        if (!have[i])
            continue;
        KS_T_CHECK_MSG(counts[0][i] > 0, "no faces found in %s", images[i]);
        for (size_t v = 1; v < N_VAR; v++) {
            KS_T_CHECK_MSG(counts[v][i] == counts[0][i], "%s: %s found %d, caffe %d", images[i],
                           variants[v].label, counts[v][i], counts[0][i]);
            for (int a = 0; a < counts[0][i]; a++) {
                const ks_detection *d = &dets[0][i][a];
                int found = 0;
                for (int b = 0; b < counts[v][i] && !found; b++) {
                    const ks_detection *e = &dets[v][i][b];
                    if (ks_t_box_iou(d->box, e->box) > 0.98f && fabsf(d->score - e->score) < 1e-3f) {
                        found = 1;
                        for (int k = 0; k < 5; k++)
                            found &= fabsf(d->landmarks[k][0] - e->landmarks[k][0]) < 0.5f &&
                                     fabsf(d->landmarks[k][1] - e->landmarks[k][1]) < 0.5f;
                    }
                }
                KS_T_CHECK_MSG(found, "%s: %s lacks caffe's face %d (%.1f,%.1f,%.1f,%.1f %.4f)",
                               images[i], variants[v].label, a, d->box[0], d->box[1], d->box[2],
                               d->box[3], d->score);
            }
        }
    }
    /* through the public detector API (family MTCNN) */
    {
        ks_detector *det = NULL;
        snprintf(path, sizeof path, "%s/mtcnn/caffe", ks_t_models_dir());
        ks_status st = ks_detector_create(ctx, path, KS_FAMILY_MTCNN, NULL, &det);
        KS_T_CHECK_MSG(st == KS_OK, "ks_detector_create mtcnn: %s", ks_context_last_error(ctx));
        if (det && have[0]) {
            ks_detection_list r;
            st = ks_detector_detect(det, 1, &img[0], &r);
            KS_T_CHECK_MSG(st == KS_OK, "%s", ks_context_last_error(ctx));
            if (st == KS_OK)
                KS_T_CHECK_EQ_I(r.n, counts[0][0]);
        }
        ks_detector_destroy(det);
    }
    for (size_t i = 0; i < N_IMG; i++)
        if (have[i])
            ks_image_release(ctx, &img[i]);
    for (size_t v = 0; v < N_VAR; v++)
        for (size_t i = 0; i < N_IMG; i++)
            free(dets[v][i]);
    ks_context_destroy(ctx);
    return ks_t_done();
}
