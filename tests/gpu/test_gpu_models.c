/* Every shared model: GPU engine vs the CPU reference.
 * Inputs: random values in [-1, 1], and (models of a detector family) a real
 * test image preprocessed as the model expects (the family's channel order,
 * mean/std/scale from ../shared/models/MANIFEST.md, stretched to the input size).
 * Bounds (relative L2 per output): FP32 (TF32 off) <= 1e-4 on both inputs.
 * FP16 <= 1e-2 on the real image. For FP16 on random inputs the bound is
 * 1e-2 too, except where a model's input range makes random [-1, 1] data
 * unrepresentative and the measured FP16-storage error is larger (YuNet takes
 * raw 0..255 BGR pixels; RetinaFace BGR minus means ~110; SCRFD-500m): there
 * the random-input FP16 error is printed and must stay under 5e-2, a loose
 * regression bound whose reason is measured in bench/RESULTS.md ("FP16
 * accuracy"). Models with float16 I/O (YOLOv5n) are compared at 1e-2 in both
 * modes: the CPU reference rounds every intermediate to float16, the FP32
 * engine does not.
 * Also: engine serialize/load round trip and CUDA-graph replay give
 * bit-identical outputs. Exit 77 without a GPU. */
#include "gpu/gpu_test.h"
#include "kestrel/vision.h"

typedef struct pspec { /* preprocessing of the real-image input; image NULL = none */
    const char *image;     /* under the images dir */
    int bgr;
    float scale, mean[3], std;
} pspec;

typedef struct mspec {
    const char *file;
    const char *input;
    int64_t dims[4];
    int fp16_io;
    double fp16_random_tol; /* 0 = 1e-2 */
    pspec pre;
} mspec;

#define FACES "ultraface/17.jpg"
#define UF {FACES, 0, 1.f, {127.f, 127.f, 127.f}, 128.f}

static const mspec models[] = {
    {"ultraface/version-RFB-320.onnx", NULL, {0}, 0, 0, UF},
    {"ultraface/version-RFB-640.onnx", NULL, {0}, 0, 0, UF},
    {"ultraface/version-slim-320.onnx", NULL, {0}, 0, 0, UF},
    {"ultraface/version-RFB-320_simplified.onnx", NULL, {0}, 0, 0, UF},
    {"yunet/yunet_n_640_640.onnx", NULL, {0}, 0, 5e-2, {FACES, 1, 1.f, {0.f, 0.f, 0.f}, 1.f}},
    {"yunet/yunet_s_dynamic.onnx", "input", {1, 3, 320, 320}, 0, 5e-2, {FACES, 1, 1.f, {0.f, 0.f, 0.f}, 1.f}},
    {"retinaface/retinaface_mnet025_640_opset17.onnx", NULL, {0}, 0, 5e-2, {FACES, 1, 1.f, {104.f, 117.f, 123.f}, 1.f}},
    {"scrfd/scrfd_500m_bnkps_640.onnx", NULL, {0}, 0, 5e-2, {FACES, 0, 1.f, {127.5f, 127.5f, 127.5f}, 128.f}},
    {"scrfd/scrfd_2.5g_bnkps_dynamic.onnx", "input.1", {1, 3, 640, 640}, 0, 0, {FACES, 0, 1.f, {127.5f, 127.5f, 127.5f}, 128.f}},
    {"yolov5/yolov5n_fp16_dynamic.onnx", "images", {1, 3, 640, 640}, 1, 0, {"coco_samples/bus.jpg", 0, 1.f / 255.f, {0.f, 0.f, 0.f}, 1.f}},
    /* batch 2: the detect head's three levels write their rows into the output 25200 * 85 apart (no concat) */
    {"yolov5/yolov5n_fp16_dynamic.onnx", "images", {2, 3, 640, 640}, 1, 0, {"coco_samples/bus.jpg", 0, 1.f / 255.f, {0.f, 0.f, 0.f}, 1.f}},
    {"mtcnn/onnx_caffe/det1.onnx", NULL, {0}, 0, 0, {NULL, 0, 0, {0, 0, 0}, 0}},
    {"mtcnn/onnx_caffe/optimaizer_pnet.onnx", "input", {1, 3, 648, 1152}, 0, 0, {"mtcnn/test2.jpg", 0, 1.f, {127.5f, 127.5f, 127.5f}, 128.f}},
    {"super_resolution/sub_pixel_cnn_x3_224_opset10_dynbatch.onnx", "input", {2, 1, 224, 224}, 0, 0, {NULL, 0, 0, {0, 0, 0}, 0}},
};

/* The real-image input of m at n x 3 x h x w (every batch item the same image), or NULL. */
static float *real_input(ks_context *ctx, const mspec *m, const int64_t dims[4]) {
    if (!m->pre.image || dims[1] != 3)
        return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", ks_t_images_dir(), m->pre.image);
    ks_image img;
    if (ks_image_load_file(ctx, path, KS_PIXEL_BGR, &img) != KS_OK) {
        printf("  (image %s not found: no real-image check)\n", path);
        return NULL;
    }
    ks_preprocess_config cfg;
    ks_preprocess_config_init(&cfg);
    cfg.width = (int32_t)dims[3];
    cfg.height = (int32_t)dims[2];
    cfg.channel_order = m->pre.bgr ? KS_PIXEL_BGR : KS_PIXEL_RGB;
    cfg.scale = m->pre.scale;
    for (int c = 0; c < 3; c++) {
        cfg.mean[c] = m->pre.mean[c];
        cfg.std[c] = m->pre.std;
    }
    int64_t per = 3 * dims[2] * dims[3];
    float *v = malloc((size_t)(per * dims[0]) * sizeof *v);
    if (v && ks_preprocess_cpu(ctx, &cfg, 1, &img, v, NULL) == KS_OK) {
        for (int64_t b = 1; b < dims[0]; b++)
            memcpy(v + b * per, v, (size_t)per * sizeof *v);
    } else {
        free(v);
        v = NULL;
    }
    ks_image_release(ctx, &img);
    return v;
}

int main(int argc, char **argv) {
    gt_require_gpu();
    ks_context *ctx = NULL;
    ks_context_create(NULL, &ctx);
    const char *only = argc > 1 ? argv[1] : NULL;
    printf("%-60s %-5s %-6s %12s\n", "model", "prec", "input", "rel L2 err");
    for (size_t i = 0; i < GT_LEN(models); i++) {
        const mspec *m = &models[i];
        if (only && !strstr(m->file, only))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", ks_t_models_dir(), m->file);
        FILE *f = fopen(path, "rb");
        if (!f) {
            printf("%-60s missing, skipped\n", m->file);
            continue;
        }
        fclose(f);
        ks_input_shape shp;
        memset(&shp, 0, sizeof shp);
        if (m->input) {
            shp.name = m->input;
            shp.ndim = 4;
            memcpy(shp.dims, m->dims, sizeof m->dims);
        }
        int64_t dims[4] = {0};
        if (m->input) {
            memcpy(dims, m->dims, sizeof dims);
        } else {
            ks_model *mi = NULL;
            ks_dtype dt;
            int nd = 0;
            int64_t d[KS_MAX_DIMS];
            if (ks_model_load_file(ctx, path, NULL, &mi) == KS_OK && ks_model_input_info(mi, 0, &dt, &nd, d, NULL) == KS_OK &&
                nd == 4)
                memcpy(dims, d, sizeof dims);
            ks_model_destroy(mi);
        }
        float *real = real_input(ctx, m, dims);
        /* q: 0 fp32 random, 1 fp16 random, 2 fp32 image, 3 fp16 image, 4 fp16 image with FP16
           I/O bindings (keep_io_dtypes 0, what the detector builds) */
        for (int q = 0; q < (real ? 5 : 2); q++) {
            int p = q & 1 || q == 4, on_image = q >> 1, io16 = q == 4;
            gt_opts o;
            memset(&o, 0, sizeof o);
            o.precision = p ? KS_PRECISION_FP16 : KS_PRECISION_FP32;
            o.tol = p || m->fp16_io ? 1e-2 : 1e-4;
            if (p && !on_image && m->fp16_random_tol > 0)
                o.tol = m->fp16_random_tol;
            o.shapes = m->input ? &shp : NULL;
            o.n_shapes = m->input ? 1 : 0;
            o.lo = -1.f;
            o.hi = 1.f;
            o.input0 = on_image ? real : NULL;
            o.check_roundtrip = p == 0 && !on_image;
            o.check_graph = p == 1 && !on_image;
            o.io_fp16 = io16;
            o.label = m->file;
            double r = gt_compare(ctx, path, NULL, 0, &o);
            printf("%-60s %-5s %-6s %12.3g%s\n", m->file, io16 ? "fp16io" : p ? "fp16" : "fp32", on_image ? "image" : "random", r,
                   r < 0 || r > o.tol ? "  FAIL" : (o.tol > 1e-2 ? "  (over 1e-2: random input, see header)" : ""));
            fflush(stdout);
        }
        free(real);
    }
    ks_context_destroy(ctx);
    return ks_t_done();
}
