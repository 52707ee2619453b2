/* Every shared model: GPU engine vs the CPU reference on random inputs.
 * FP32 (TF32 off) <= 1e-4 relative L2, FP16 <= 1e-2. Models with float16
 * I/O (YOLOv5n) are compared at 1e-2 in both modes: the CPU reference
 * rounds every intermediate to float16, the FP32 engine does not.
 * Also: engine serialize/load round trip and CUDA-graph replay give
 * bit-identical outputs. Exit 77 without a GPU. */
#include "gpu/gpu_test.h"

typedef struct mspec {
    const char *file;
    const char *input;
    int64_t dims[4];
    int fp16_io;
} mspec;

static const mspec models[] = {
    {"ultraface/version-RFB-320.onnx", NULL, {0}, 0},
    {"ultraface/version-RFB-640.onnx", NULL, {0}, 0},
    {"ultraface/version-slim-320.onnx", NULL, {0}, 0},
    {"ultraface/version-RFB-320_simplified.onnx", NULL, {0}, 0},
    {"yunet/yunet_n_640_640.onnx", NULL, {0}, 0},
    {"yunet/yunet_s_dynamic.onnx", "input", {1, 3, 320, 320}, 0},
    {"retinaface/retinaface_mnet025_640_opset17.onnx", NULL, {0}, 0},
    {"scrfd/scrfd_500m_bnkps_640.onnx", NULL, {0}, 0},
    {"scrfd/scrfd_2.5g_bnkps_dynamic.onnx", "input.1", {1, 3, 640, 640}, 0},
    {"yolov5/yolov5n_fp16_dynamic.onnx", "images", {1, 3, 640, 640}, 1},
    {"mtcnn/onnx_caffe/det1.onnx", NULL, {0}, 0},
    {"mtcnn/onnx_caffe/optimaizer_pnet.onnx", "input", {1, 3, 648, 1152}, 0},
    {"super_resolution/sub_pixel_cnn_x3_224_opset10_dynbatch.onnx", "input", {2, 1, 224, 224}, 0},
};

int main(int argc, char **argv) {
    gt_require_gpu();
    ks_context *ctx = NULL;
    ks_context_create(NULL, &ctx);
    const char *only = argc > 1 ? argv[1] : NULL;
    printf("%-60s %-5s %12s\n", "model", "prec", "rel L2 err");
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
        for (int p = 0; p < 2; p++) {
            gt_opts o;
            memset(&o, 0, sizeof o);
            o.precision = p ? KS_PRECISION_FP16 : KS_PRECISION_FP32;
            o.tol = p || m->fp16_io ? 1e-2 : 1e-4;
            o.shapes = m->input ? &shp : NULL;
            o.n_shapes = m->input ? 1 : 0;
            o.lo = -1.f;
            o.hi = 1.f;
            o.check_roundtrip = p == 0;
            o.check_graph = p == 1;
            o.label = m->file;
            double r = gt_compare(ctx, path, NULL, 0, &o);
            printf("%-60s %-5s %12.3g%s\n", m->file, p ? "fp16" : "fp32", r, r < 0 || r > o.tol ? "  FAIL" : "");
            fflush(stdout);
        }
    }
    ks_context_destroy(ctx);
    return ks_t_done();
}
