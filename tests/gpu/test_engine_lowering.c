/* Builder lowering without a GPU: every shared model is lowered (FP32 and
 * FP16, all passes on, and all optional passes off) into an engine
 * description that must validate and survive a serialize/parse round trip.
 * Prints the pass report. Needs the CUDA backend compiled (not a GPU). */
#include <string.h>

#include "backends/cuda/multistream.h"
#include "format/engine_format.h"
#include "harness.h"
#include "kestrel/engine.h"
#include "kestrel/kestrel.h"

ks_status ks__engine_build_desc(ks_model *model, const ks_build_config *cfg, int sm, ks_eng_desc **out,
                                char **report) __attribute__((weak));
/* the CUDA backend's (multistream.h): absent from the CPU-only build, where this test skips */
ks_status ks__ms_schedule(ks_context *ctx, const ks_eng_desc *d, int n_aux, ks_ms_plan **out) __attribute__((weak));
void ks__ms_plan_free(ks_context *ctx, ks_ms_plan *p) __attribute__((weak));
int ks__ms_conflict(const ks_eng_desc *d, int a, int b) __attribute__((weak));

typedef struct mspec {
    const char *file, *input;
    int64_t dims[4];
} mspec;

/* The auxiliary-stream schedule of d (multistream.c) with n_aux streams, checked by replaying it: the
 * layers known complete before each layer starts (stream order, event waits; the auxiliary streams start
 * after the fork) must include every earlier layer it conflicts with, and the caller's stream after the
 * join must have every layer behind it. Returns the longest chain of the schedule in layers (n_layers
 * when it is one stream); *n_streams and *n_waits say how it was spread. */
/* orderings the test itself requires on top of ks__ms_conflict's (NULL: none): j (earlier) before i */
static int (*extra_order)(const ks_eng_desc *d, int j, int i);

static int check_schedule(ks_context *ctx, const ks_eng_desc *d, int n_aux, const char *label, int *n_streams,
                          int *n_waits) {
    ks_ms_plan *p = NULL;
    KS_T_CHECK_OK(ctx, ks__ms_schedule(ctx, d, n_aux, &p));
    const int n = d->n_layers;
    *n_streams = p ? p->n_aux + 1 : 1;
    *n_waits = p ? p->wait_off[n] : 0;
    if (!p) { /* one chain: every layer must depend on the one before it or run after it anyway */
        return n;
    }
    KS_T_CHECK(p->n_aux >= 1 && p->n_aux <= n_aux);
    const size_t words = ((size_t)n + 63) / 64;
    uint64_t *hb = calloc((size_t)(n + 1) * words, 8); /* hb[i]: layers complete before i starts; hb[n]: final */
    int *depth = calloc((size_t)n, sizeof(int)), last[KS_MS_NS], deepest = 0;
    for (int s = 0; s < KS_MS_NS; s++) last[s] = -1;
#define HB(i) (hb + (size_t)(i) * words)
#define ADD(dst, j) do { for (size_t w_ = 0; w_ < words; w_++) (dst)[w_] |= HB(j)[w_]; (dst)[(j) / 64] |= 1ull << ((j) % 64); } while (0)
    for (int i = 0; i < n; i++) {
        int s = p->stream[i], dep = 0;
        KS_T_CHECK(s >= 0 && s <= p->n_aux);
        if (last[s] >= 0) { ADD(HB(i), last[s]); dep = depth[last[s]]; }
        for (int k = p->wait_off[i]; k < p->wait_off[i + 1]; k++) {
            int j = p->waits[k];
            KS_T_CHECK_MSG(j >= 0 && j < i && p->rec[j], "%s: layer %d waits on %d", label, i, j);
            if (j < 0 || j >= i) continue;
            ADD(HB(i), j);
            if (depth[j] > dep) dep = depth[j];
        }
        depth[i] = dep + 1;
        if (depth[i] > deepest) deepest = depth[i];
        last[s] = i;
        int missing = 0;
        for (int j = 0; j < i; j++)
            if (!(HB(i)[j / 64] >> (j % 64) & 1) && (ks__ms_conflict(d, j, i) || (extra_order && extra_order(d, j, i))))
                missing++;
        KS_T_CHECK_MSG(missing == 0, "%s: layer %d ('%s') may start before %d layers it depends on", label, i,
                       ks__eng_str(d, d->layers[i].name), missing);
    }
    uint64_t *fin = HB(n);
    if (last[0] >= 0) ADD(fin, last[0]);
    for (int s = 1; s <= p->n_aux; s++)
        if (p->tail[s] >= 0 && p->rec[p->tail[s]]) ADD(fin, p->tail[s]);
    int unjoined = 0;
    for (int j = 0; j < n; j++)
        unjoined += !(fin[j / 64] >> (j % 64) & 1);
    KS_T_CHECK_MSG(unjoined == 0, "%s: %d layers not behind the join", label, unjoined);
#undef ADD
#undef HB
    free(hb);
    free(depth);
    ks__ms_plan_free(ctx, p);
    return deepest;
}

/* the synthetic case below: the barrier layer is ordered against every layer, workspace users among themselves */
static int barrier_layer = -1;
static int barrier_and_workspace(const ks_eng_desc *d, int j, int i) {
    return j == barrier_layer || i == barrier_layer ||
           (d->layers[j].workspace_bytes > 0 && d->layers[i].workspace_bytes > 0);
}

static const mspec models[] = {
    {"ultraface/version-RFB-320.onnx", NULL, {0}},
    {"ultraface/version-RFB-640.onnx", NULL, {0}},
    {"ultraface/version-slim-320.onnx", NULL, {0}},
    {"ultraface/version-RFB-320_simplified.onnx", NULL, {0}},
    {"ultraface/version-RFB-640.onnx", "input", {32, 3, 480, 640}}, /* not batchable: must fail cleanly */
    {"yunet/yunet_n_640_640.onnx", NULL, {0}},
    {"yunet/yunet_s_dynamic.onnx", "input", {4, 3, 320, 320}},
    {"retinaface/retinaface_mnet025_640_opset17.onnx", NULL, {0}},
    {"retinaface/retinaface_mnet025_640_opset14.onnx", NULL, {0}},
    {"scrfd/scrfd_500m_bnkps_640.onnx", NULL, {0}},
    {"scrfd/scrfd_2.5g_bnkps_dynamic.onnx", "input.1", {1, 3, 640, 640}},
    {"yolov5/yolov5n_fp16_dynamic.onnx", "images", {1, 3, 640, 640}},
    {"yolov5/yolov5n_fp16_dynamic.onnx", "images", {32, 3, 640, 640}},
    {"mtcnn/onnx_caffe/det1.onnx", NULL, {0}},
    {"mtcnn/onnx_caffe/optimaizer_pnet.onnx", "input", {1, 3, 648, 1152}},
    {"super_resolution/sub_pixel_cnn_x3_224_opset10_dynbatch.onnx", "input", {2, 1, 224, 224}},
};

int main(int argc, char **argv) {
    if (!ks__engine_build_desc || !ks__ms_schedule || !ks__ms_plan_free || !ks__ms_conflict)
        KS_T_SKIP("CUDA backend not compiled");
    ks_context *ctx = NULL;
    ks_context_create(NULL, &ctx);
    int verbose = argc > 1 && !strcmp(argv[1], "-v");
    for (size_t i = 0; i < KS_ARRAY_LEN(models); i++) {
        const mspec *m = &models[i];
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", ks_t_models_dir(), m->file);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        fclose(f);
        /* variant 3: FP16 with keep_io_dtypes 0 (--io-fp16), only the I/O dtype rule checked */
        for (int variant = 0; variant < 4; variant++) {
            ks_model *mo = NULL;
            ks_status st = ks_model_load_file(ctx, path, NULL, &mo);
            KS_T_CHECK_OK(ctx, st);
            if (st != KS_OK)
                continue;
            ks_build_config cfg;
            ks_build_config_init(&cfg);
            cfg.precision = variant == 1 || variant == 3 ? KS_PRECISION_FP16 : KS_PRECISION_FP32;
            cfg.keep_io_dtypes = variant != 3;
            if (variant == 2)
                cfg.disable_passes = (1u << KS_PASS_BN_FOLD) | (1u << KS_PASS_ACT_FUSE) |
                                     (1u << KS_PASS_RESIDUAL_FUSE) | (1u << KS_PASS_ELTWISE_FUSE) |
                                     (1u << KS_PASS_CONCAT_ELIM) | (1u << KS_PASS_RESHAPE_ELIM) |
                                     (1u << KS_PASS_DEAD_ELIM) | (1u << KS_PASS_SEGMENT_FUSE);
            ks_input_shape shp;
            memset(&shp, 0, sizeof shp);
            if (m->input) {
                shp.name = m->input;
                shp.ndim = 4;
                memcpy(shp.dims, m->dims, sizeof m->dims);
                cfg.input_shapes = &shp;
                cfg.n_input_shapes = 1;
            }
            ks_eng_desc *d = NULL;
            char *report = NULL;
            st = ks__engine_build_desc(mo, &cfg, 90, &d, &report);
            if (m->input && m->dims[0] == 32 && strstr(m->file, "RFB-640")) {
                /* the decode in this graph hard-codes batch 1 (Reshape to 1x-1x2) */
                KS_T_CHECK_MSG(st == KS_UNSUPPORTED_SHAPE, "RFB-640 batch 32: %s", ks_status_name(st));
                ks_model_destroy(mo);
                continue;
            }
            KS_T_CHECK_MSG(st == KS_OK, "%s variant %d: %s: %s", m->file, variant, ks_status_name(st),
                           ks_context_last_error(ctx));
            if (st == KS_OK && (variant == 1 || variant == 3)) {
                /* I/O dtypes of an FP16 build: declared (variant 1: a float32 input is bound float32 and
                   cast inside, float outputs are bound as declared) or FP16 bindings (variant 3: a float32
                   input is bound float16 and nothing casts a binding) */
                for (int k = 0; k < d->n_inputs; k++) {
                    int t = d->bindings[k], nd = 0, cast = 0;
                    ks_dtype decl = KS_DTYPE_FLOAT32;
                    int64_t dims[KS_MAX_DIMS];
                    KS_T_CHECK_OK(ctx, ks_model_input_info(mo, k, &decl, &nd, dims, NULL));
                    for (int li = 0; li < d->n_layers; li++)
                        cast += d->layers[li].kind == KS_LAYER_CAST && d->layers[li].in[0] == t;
                    if (decl != KS_DTYPE_FLOAT32)
                        continue;
                    int want = variant == 3 ? KS_DTYPE_FLOAT16 : KS_DTYPE_FLOAT32;
                    KS_T_CHECK_MSG((int)d->tensors[t].dtype == want && (variant == 3 ? cast == 0 : 1),
                                   "%s variant %d: input %d bound as %d with %d casts reading it", m->file, variant, k,
                                   d->tensors[t].dtype, cast);
                }
                for (int k = 0; k < d->n_outputs && variant == 1; k++) {
                    int t = d->bindings[d->n_inputs + k], nd = 0;
                    ks_dtype decl = KS_DTYPE_FLOAT32;
                    int64_t dims[KS_MAX_DIMS];
                    KS_T_CHECK_OK(ctx, ks_model_output_info(mo, k, &decl, &nd, dims, NULL));
                    KS_T_CHECK_MSG(d->tensors[t].dtype == (int)decl, "%s: output %d bound as %d, declared %d", m->file, k,
                                   d->tensors[t].dtype, decl);
                }
            }
            if (st == KS_OK && variant == 3) {
                ks__eng_desc_free(d);
                ks__free(ctx, d);
                ks__free(ctx, report);
                ks_model_destroy(mo);
                continue;
            }
            if (st == KS_OK) {
                KS_T_CHECK_OK(ctx, ks__eng_validate(d));
                void *buf;
                size_t n;
                KS_T_CHECK_OK(ctx, ks__eng_serialize(d, &buf, &n));
                ks_eng_desc r;
                KS_T_CHECK_OK(ctx, ks__eng_parse(ctx, buf, n, &r));
                KS_T_CHECK_EQ_I(r.n_layers, d->n_layers);
                /* fusion regression guard: RFB-640 lowers 163 nodes to 76 layers
                 * (35 BN folds, 37 conv+act, 3 concats written in place) */
                if (!m->input && strstr(m->file, "RFB-640") && variant < 2)
                    KS_T_CHECK_MSG(d->n_layers <= 80 && d->n_layers >= 60, "RFB-640: %d layers", d->n_layers);
                if (variant < 2)
                    KS_T_CHECK_MSG(d->arena_bytes <= d->naive_bytes, "%s: plan larger than naive", m->file);
                /* segment-fuse: the YOLOv5 detect head is one SEGMAP layer per level (transpose, sigmoid,
                   split, the xy / wh chains and the concat: 8 layers each without it); none when it is off */
                if (strstr(m->file, "yolov5")) {
                    int n_seg = 0;
                    for (int li = 0; li < d->n_layers; li++)
                        n_seg += d->layers[li].kind == KS_LAYER_SEGMAP;
                    KS_T_CHECK_MSG(n_seg == (variant < 2 ? 3 : 0), "%s variant %d: %d segmap layers", m->file,
                                   variant, n_seg);
                    /* concat elimination of the three levels: at batch 1 the rows are one run per level; at
                       batch 32 each segmap writes its rows 25200 * 85 elements apart (its algo) and the concat
                       is gone either way */
                    int64_t batch = m->input ? m->dims[0] : 1;
                    int n_strided = 0, n_cat_out = 0;
                    for (int li = 0; li < d->n_layers; li++) {
                        const ks_eng_layer *l = &d->layers[li];
                        if (l->kind == KS_LAYER_SEGMAP) {
                            KS_T_CHECK_MSG(l->algo == (batch > 1 ? 25200 * 85 : 0), "%s: segmap row stride %d",
                                           m->file, (int)l->algo);
                            n_strided += l->algo != 0;
                        }
                        n_cat_out += l->kind == KS_LAYER_CONCAT &&
                                     ks__eng_root(d, l->out[0], NULL) == ks__eng_root(d, d->bindings[d->n_inputs], NULL);
                    }
                    KS_T_CHECK_MSG(n_cat_out == 0 || variant >= 2, "%s variant %d: the output concat is still there",
                                   m->file, variant);
                    printf("%-55s %s yolov5 head: %d segmap layers writing strided rows\n", m->file,
                           m->input ? "shape" : "     ", n_strided);
                }
                printf("%-55s %s %-9s %3d layers  arena %7.2f MiB (naive %7.2f)  file %6.2f MiB\n", m->file,
                       m->input ? "shape" : "     ", variant == 0 ? "fp32" : variant == 1 ? "fp16" : "fp32-nofuse",
                       d->n_layers, d->arena_bytes / 1048576.0, d->naive_bytes / 1048576.0, n / 1048576.0);
                /* the schedule with the resources no lowered model has without tactics: every fourth conv
                 * using the shared workspace (global split-K, cuDNN) and a barrier (plugin) layer in the middle;
                 * the barrier must run on the caller's stream */
                if (variant == 1 && strstr(m->file, "RFB-640") && !m->input) {
                    int mid = d->n_layers / 2, kind = d->layers[mid].kind, nconv = 0;
                    int64_t *ws = calloc((size_t)d->n_layers, sizeof(int64_t));
                    for (int li = 0; li < d->n_layers && ws; li++) {
                        ws[li] = d->layers[li].workspace_bytes;
                        if (d->layers[li].kind == KS_LAYER_CONV && nconv++ % 4 == 0)
                            d->layers[li].workspace_bytes = 256;
                    }
                    d->layers[mid].kind = KS_LAYER_PLUGIN;
                    int ns = 0, nwt = 0;
                    barrier_layer = mid;
                    extra_order = barrier_and_workspace;
                    check_schedule(ctx, d, KS_MS_MAX_AUX, "RFB-640 with workspace users and a barrier", &ns, &nwt);
                    extra_order = NULL;
                    ks_ms_plan *p = NULL;
                    KS_T_CHECK_OK(ctx, ks__ms_schedule(ctx, d, KS_MS_MAX_AUX, &p));
                    KS_T_CHECK(p && p->stream[mid] == 0);
                    ks__ms_plan_free(ctx, p);
                    d->layers[mid].kind = kind;
                    for (int li = 0; li < d->n_layers && ws; li++)
                        d->layers[li].workspace_bytes = ws[li];
                    free(ws);
                }
                /* the auxiliary-stream schedule is safe with 1 and 4 auxiliary streams */
                for (int na = 1; na <= KS_MS_MAX_AUX; na += KS_MS_MAX_AUX - 1) {
                    int ns = 0, nwt = 0;
                    int depth = check_schedule(ctx, d, na, m->file, &ns, &nwt);
                    if (na == KS_MS_MAX_AUX)
                        printf("%-55s %s %-9s multi-stream: %d streams, %d event waits, longest chain %d of %d layers\n",
                               m->file, m->input ? "shape" : "     ",
                               variant == 0 ? "fp32" : variant == 1 ? "fp16" : "fp32-nofuse", ns, nwt, depth,
                               d->n_layers);
                }
                if (verbose) {
                    printf("%s", report);
                    for (int li = 0; li < d->n_layers; li++)
                        printf("   %3d %-9s %-14s %s\n", li, ks__layer_kind_name(d->layers[li].kind),
                               ks__act_name(d->layers[li].act), ks__eng_str(d, d->layers[li].name));
                }
                ks__eng_desc_free(&r);
                ks__free(ctx, buf);
                ks__eng_desc_free(d);
                ks__free(ctx, d);
            }
            ks__free(ctx, report);
            ks_model_destroy(mo);
        }
    }
    ks_context_destroy(ctx);
    return ks_t_done();
}
