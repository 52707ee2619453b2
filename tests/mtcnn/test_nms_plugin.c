/* BatchedNMS plugin (src/plugins/nms): attributes, shape inference,
 * serialize/deserialize (incl. corrupt bytes), and run_cpu against an
 * independent greedy NMS on random batched boxes, class-agnostic and
 * class-aware, with top_k and score thresholds (runs in CI). With a GPU,
 * run_cuda must give the CPU outputs bit for bit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kestrel/plugin.h"
#include "plugins/nms/nms_plugin.h"
#ifdef KS_HAVE_CUDA
#include "kestrel/engine.h"
#include "vision/mtcnn_gpu.h" /* cudaMalloc/cudaMemcpy wrappers */
#endif

static uint32_t rng = 99u;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 16777216.0f;
}

/* reference: rows sorted by (score desc, row asc), top_k, greedy */
static int ref_nms(const float *boxes, const float *scores, int N, int C, float st, float it,
                   int top_k, int M, int aware, int *keep, int *kcls) {
    int *ord = malloc(sizeof(int) * N), *cls = malloc(sizeof(int) * N), n = 0;
    float *best = malloc(sizeof(float) * N);
    for (int r = 0; r < N; r++) {
        int k = 0;
        for (int c = 1; c < C; c++)
            if (scores[r * C + c] > scores[r * C + k])
                k = c;
        cls[r] = k;
        best[r] = scores[r * C + k];
        if (best[r] > st)
            ord[n++] = r;
    }
    for (int i = 1; i < n; i++) /* insertion sort, stable by row */
        for (int j = i; j > 0 && best[ord[j]] > best[ord[j - 1]]; j--) {
            int t = ord[j];
            ord[j] = ord[j - 1], ord[j - 1] = t;
        }
    if (top_k > 0 && n > top_k)
        n = top_k;
    int nk = 0;
    char *sup = calloc((size_t)n, 1);
    for (int i = 0; i < n && nk < M; i++) {
        if (sup[i])
            continue;
        keep[nk] = ord[i];
        kcls[nk++] = cls[ord[i]];
        for (int j = i + 1; j < n; j++)
            if (!sup[j] && (!aware || cls[ord[j]] == cls[ord[i]]) &&
                ks_t_box_iou(&boxes[4 * ord[i]], &boxes[4 * ord[j]]) > it)
                sup[j] = 1;
    }
    free(ord), free(cls), free(best), free(sup);
    return nk;
}

int main(void) {
    ks_context *ctx;
    ks_context_create(NULL, &ctx);
    const ks_plugin_desc *d = ks__nms_plugin_desc();
    KS_T_CHECK_OK(ctx, ks_plugin_register(ctx, d));
    KS_T_CHECK(ks_plugin_find(ctx, "com.kestrel", "BatchedNMS") == d);
    /* bad attributes */
    void *self = NULL;
    ks_plugin_attr bad = {.key = "iou_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = 1.5};
    KS_T_CHECK(d->create(ctx, &bad, 1, &self) == KS_UNSUPPORTED_ATTR);
    ks_plugin_attr bad2 = {.key = "max_output", .type = KS_PLUGIN_ATTR_STRING, .s = "x"};
    KS_T_CHECK(d->create(ctx, &bad2, 1, &self) == KS_UNSUPPORTED_ATTR);
    for (int aware = 0; aware < 2; aware++) {
        enum { B = 3, N = 400, C = 3, M = 200 };
        const float st = 0.3f, it = 0.45f;
        const int top_k = 300;
        ks_plugin_attr at[5] = {
            {.key = "score_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = st},
            {.key = "iou_threshold", .type = KS_PLUGIN_ATTR_FLOAT, .f = it},
            {.key = "top_k", .type = KS_PLUGIN_ATTR_INT, .i = top_k},
            {.key = "max_output", .type = KS_PLUGIN_ATTR_INT, .i = M},
            {.key = "class_aware", .type = KS_PLUGIN_ATTR_INT, .i = aware}};
        KS_T_CHECK_OK(ctx, d->create(ctx, at, 5, &self));
        if (!self)
            break;
        /* serialize round trip + corrupt bytes */
        size_t nb = 0;
        KS_T_CHECK_OK(ctx, d->serialize(self, NULL, 0, &nb));
        unsigned char buf[64];
        KS_T_CHECK(nb <= sizeof buf);
        KS_T_CHECK_OK(ctx, d->serialize(self, buf, sizeof buf, &nb));
        void *copy = NULL;
        KS_T_CHECK_OK(ctx, d->deserialize(ctx, buf, nb, &copy));
        buf[0] ^= 1;
        void *x = NULL;
        KS_T_CHECK(d->deserialize(ctx, buf, nb, &x) == KS_CORRUPT_FILE);
        buf[0] ^= 1;
        KS_T_CHECK(d->deserialize(ctx, buf, nb - 1, &x) == KS_CORRUPT_FILE);
        float f = 2.f; /* iou 2 in the file */
        memcpy(buf + 12, &f, 4);
        KS_T_CHECK(d->deserialize(ctx, buf, nb, &x) == KS_CORRUPT_FILE);
        /* shapes */
        ks_tensor in[2], out[4];
        memset(in, 0, sizeof in);
        memset(out, 0, sizeof out);
        in[0].dtype = in[1].dtype = KS_DTYPE_FLOAT32;
        in[0].ndim = 3, in[0].dims[0] = B, in[0].dims[1] = N, in[0].dims[2] = 4;
        in[1].ndim = 3, in[1].dims[0] = B, in[1].dims[1] = N, in[1].dims[2] = C;
        for (int k = 0; k < 4; k++)
            out[k].ndim = -1;
        KS_T_CHECK_OK(ctx, d->infer_shapes(ctx, copy, 2, in, 4, out));
        KS_T_CHECK(out[0].dtype == KS_DTYPE_INT32 && out[0].ndim == 2 && out[0].dims[0] == B);
        KS_T_CHECK(out[1].ndim == 3 && out[1].dims[1] == M && out[1].dims[2] == 4);
        KS_T_CHECK(out[3].dtype == KS_DTYPE_INT32 && out[3].dims[1] == M);
        ks_tensor wrong = in[0];
        wrong.dims[1] = N + 1;
        ks_tensor w2[2] = {wrong, in[1]};
        KS_T_CHECK(d->infer_shapes(ctx, copy, 2, w2, 4, out) == KS_UNSUPPORTED_SHAPE);
        /* data: clustered boxes so suppression happens */
        float *boxes = malloc(sizeof(float) * B * N * 4), *scores = malloc(sizeof(float) * B * N * C);
        for (int i = 0; i < B * N; i++) {
            float cx = (float)((i * 37) % 5) * 60 + frand() * 10, cy = (float)((i * 11) % 4) * 60 + frand() * 10;
            float s = 20 + frand() * 20;
            boxes[4 * i] = cx, boxes[4 * i + 1] = cy, boxes[4 * i + 2] = cx + s, boxes[4 * i + 3] = cy + s;
            for (int c = 0; c < C; c++)
                scores[i * C + c] = frand();
        }
        in[0].data = boxes;
        in[1].data = scores;
        size_t bytes[4] = {sizeof(int32_t) * B, sizeof(float) * B * M * 4, sizeof(float) * B * M,
                           sizeof(int32_t) * B * M};
        for (int k = 0; k < 4; k++)
            out[k].data = calloc(1, bytes[k]);
        KS_T_CHECK_OK(ctx, d->run_cpu(ctx, copy, 2, in, 4, out));
        const int32_t *cnt = out[0].data, *ocl = out[3].data;
        const float *ob = out[1].data, *os = out[2].data;
        int total = 0;
        for (int b = 0; b < B; b++) {
            int keep[M], kc[M];
            int nk = ref_nms(boxes + (size_t)b * N * 4, scores + (size_t)b * N * C, N, C, st, it,
                             top_k, M, aware, keep, kc);
            KS_T_CHECK_MSG(cnt[b] == nk, "aware %d image %d: %d kept, reference %d", aware, b,
                           cnt[b], nk);
            int same = cnt[b] == nk;
            for (int i = 0; same && i < nk; i++) {
                const float *rb = boxes + ((size_t)b * N + keep[i]) * 4;
                same = !memcmp(rb, ob + ((size_t)b * M + i) * 4, 16) && ocl[b * M + i] == kc[i] &&
                       os[b * M + i] == scores[((size_t)b * N + keep[i]) * C + kc[i]];
            }
            for (int i = nk; same && i < M; i++) /* rows past the count are zero */
                same = os[b * M + i] == 0 && ob[((size_t)b * M + i) * 4 + 2] == 0;
            KS_T_CHECK_MSG(same, "aware %d image %d: kept boxes differ from the reference", aware, b);
            total += nk;
        }
        fprintf(stderr, "BatchedNMS class_aware=%d: %d boxes kept over %d images (max %d)\n",
                aware, total, B, M);
#ifdef KS_HAVE_CUDA
        if (ks_cuda_available()) {
            char err[256];
            ks_tensor din[2], dout[4];
            memcpy(din, in, sizeof in);
            memcpy(dout, out, sizeof out);
            size_t ib[2] = {sizeof(float) * B * N * 4, sizeof(float) * B * N * C};
            int ok = 1;
            for (int k = 0; k < 2; k++) {
                ok &= !ks__mtg_malloc(&din[k].data, ib[k], err, sizeof err);
                ks__mtg_memcpy2d(din[k].data, 0, in[k].data, 0, ib[k], 1, 1, NULL, err, sizeof err);
            }
            for (int k = 0; k < 4; k++)
                ok &= !ks__mtg_malloc(&dout[k].data, bytes[k], err, sizeof err);
            size_t wsb = d->workspace_bytes(copy, 2, in, 4, out);
            void *ws = NULL;
            ok &= !ks__mtg_malloc(&ws, wsb, err, sizeof err);
            KS_T_CHECK(ok);
            ks_status cst = d->run_cuda(ctx, copy, 2, din, 4, dout, ws, NULL);
            KS_T_CHECK_MSG(cst == KS_OK, "run_cuda: %s", ks_context_last_error(ctx));
            int same = cst == KS_OK;
            for (int k = 0; k < 4 && same; k++) {
                void *h = malloc(bytes[k]);
                ks__mtg_memcpy2d(h, 0, dout[k].data, 0, bytes[k], 1, 2, NULL, err, sizeof err);
                ks__mtg_stream_sync(NULL, err, sizeof err);
                same = !memcmp(h, out[k].data, bytes[k]);
                free(h);
            }
            KS_T_CHECK_MSG(same, "aware %d: run_cuda differs from run_cpu", aware);
            fprintf(stderr, "BatchedNMS class_aware=%d: run_cuda %s run_cpu\n", aware,
                    same ? "equals" : "DIFFERS from");
            for (int k = 0; k < 2; k++)
                ks__mtg_free(din[k].data);
            for (int k = 0; k < 4; k++)
                ks__mtg_free(dout[k].data);
            ks__mtg_free(ws);
        }
#endif
        KS_T_CHECK(total > B && total < B * M); /* suppression did something, not everything */
        for (int k = 0; k < 4; k++)
            free(out[k].data);
        free(boxes);
        free(scores);
        d->destroy(copy);
        d->destroy(self);
        self = NULL;
    }
    ks_context_destroy(ctx);
    return ks_t_done();
}
