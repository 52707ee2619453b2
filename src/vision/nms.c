/* Batched greedy NMS, CPU reference. Same ordering and suppression rule as nms.cu:
 * candidates with score > threshold sorted by (score desc, row asc), the first top_k
 * considered, a kept box suppresses every later box with IoU > iou_threshold (of the same
 * class when class_aware), at most max_output kept per image. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "vision/vision_internal.h"

void ks_nms_params_init(ks_nms_params *p) {
    if (!p)
        return;
    memset(p, 0, sizeof(*p));
    p->batch = 1;
    p->score_threshold = 0.5f;
    p->iou_threshold = 0.45f;
    p->top_k = 5000;
    p->max_output = 300;
}

ks_status ks__nms_check(ks_context *ctx, const ks_nms_params *p, const ks_candidates *in,
                        const ks_nms_outputs *out) {
    if (!p || !in || !out)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "nms: params, candidates or outputs are NULL");
    if (p->batch <= 0 || p->n_rows <= 0 || p->max_output <= 0)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "nms: batch %d, rows %d, max_output %d must be > 0",
                         (int)p->batch, (int)p->n_rows, (int)p->max_output);
    if (!(p->iou_threshold >= 0.0f && p->iou_threshold <= 1.0f))
        return ks__error(ctx, KS_INVALID_ARGUMENT, "nms: IoU threshold %g outside [0, 1]", (double)p->iou_threshold);
    if (p->score_threshold != p->score_threshold)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "nms: score threshold is NaN");
    if (p->n_landmarks != 0 && p->n_landmarks != KS_MAX_LANDMARKS)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "nms: n_landmarks %d (0 or 5)", (int)p->n_landmarks);
    if (!in->boxes || !in->scores || !in->classes)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "nms: candidate boxes, scores and classes are required");
    if (!out->counts || !out->boxes || !out->scores || !out->classes)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "nms: counts, boxes, scores and classes outputs are required");
    return KS_OK;
}

typedef struct cand {
    float score;
    int32_t row;
} cand;

static int cand_cmp(const void *a, const void *b) {
    const cand *x = (const cand *)a, *y = (const cand *)b;
    if (ks_v_before(x->score, x->row, y->score, y->row))
        return -1;
    if (ks_v_before(y->score, y->row, x->score, x->row))
        return 1;
    return 0;
}

ks_status ks_nms_cpu(ks_context *ctx, const ks_nms_params *p, const ks_candidates *in,
                     const ks_nms_outputs *out) {
    if (!ctx)
        return KS_INVALID_ARGUMENT;
    KS_CHECK(ks__nms_check(ctx, p, in, out));
    int32_t N = p->n_rows, M = p->max_output, nl = in->landmarks ? p->n_landmarks : 0;
    int32_t onl = out->landmarks ? p->n_landmarks : 0;
    cand *c = ks__alloc_array(ctx, (size_t)N, sizeof(cand));
    uint8_t *supp = ks__alloc((ks_context *)ctx, (size_t)N);
    if (!c || !supp) {
        ks__free(ctx, c);
        ks__free(ctx, supp);
        return ks__oom(ctx, (size_t)N * (sizeof(cand) + 1), "nms candidates");
    }
    for (int32_t b = 0; b < p->batch; b++) {
        const float *sc = in->scores + (size_t)b * N;
        const float *bx = in->boxes + (size_t)b * N * 4;
        const int32_t *cl = in->classes + (size_t)b * N;
        int32_t n = 0;
        for (int32_t r = 0; r < N; r++)
            if (sc[r] > p->score_threshold)
                c[n].score = sc[r], c[n].row = r, n++;
        qsort(c, (size_t)n, sizeof(cand), cand_cmp);
        if (p->top_k > 0 && n > p->top_k)
            n = p->top_k;
        memset(supp, 0, (size_t)n);
        const float *m = out->transforms ? out->transforms[b].m : NULL;
        float *ob = out->boxes + (size_t)b * M * 4;
        float *os = out->scores + (size_t)b * M;
        int32_t *oc = out->classes + (size_t)b * M;
        float *ol = onl ? out->landmarks + (size_t)b * M * 2 * onl : NULL;
        int32_t *oi = out->indices ? out->indices + (size_t)b * M : NULL;
        memset(ob, 0, sizeof(float) * 4 * M);
        memset(os, 0, sizeof(float) * M);
        memset(oc, 0, sizeof(int32_t) * M);
        if (ol)
            memset(ol, 0, sizeof(float) * 2 * onl * M);
        if (oi)
            memset(oi, 0, sizeof(int32_t) * M);
        int32_t kept = 0;
        for (int32_t i = 0; i < n && kept < M; i++) {
            if (supp[i])
                continue;
            int32_t r = c[i].row;
            const float *bi = bx + (size_t)r * 4;
            float *o = ob + (size_t)kept * 4;
            memcpy(o, bi, 4 * sizeof(float));
            ks_v_map_box(m, o);
            os[kept] = c[i].score;
            oc[kept] = cl[r];
            if (oi)
                oi[kept] = r;
            if (ol) {
                for (int k = 0; k < onl; k++) {
                    float *pt = ol + (size_t)kept * 2 * onl + 2 * k;
                    if (nl) {
                        const float *src = in->landmarks + ((size_t)b * N + r) * 2 * nl + 2 * k;
                        pt[0] = src[0], pt[1] = src[1];
                        ks_v_map_point(m, pt);
                    }
                }
            }
            kept++;
            for (int32_t j = i + 1; j < n; j++) {
                if (supp[j])
                    continue;
                int32_t rj = c[j].row;
                if (p->class_aware && cl[rj] != cl[r])
                    continue;
                if (ks_v_iou(bi, bx + (size_t)rj * 4) > p->iou_threshold)
                    supp[j] = 1;
            }
        }
        out->counts[b] = kept;
    }
    ks__free(ctx, c);
    ks__free(ctx, supp);
    return KS_OK;
}

size_t ks_nms_cuda_workspace_bytes(const ks_nms_params *p) {
#ifdef KS_HAVE_CUDA
    if (!p || p->batch <= 0 || p->n_rows <= 0)
        return 0;
    return ks__nms_cuda_ws_bytes(p->batch, p->n_rows, p->top_k);
#else
    KS_UNUSED(p);
    return 0;
#endif
}

ks_status ks_nms_cuda(ks_context *ctx, const ks_nms_params *p, const ks_candidates *in,
                      const ks_nms_outputs *out, void *workspace, size_t workspace_bytes, void *stream) {
    if (!ctx)
        return KS_INVALID_ARGUMENT;
#ifdef KS_HAVE_CUDA
    KS_CHECK(ks__nms_check(ctx, p, in, out));
    size_t need = ks_nms_cuda_workspace_bytes(p);
    if (!workspace || workspace_bytes < need)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "nms (CUDA): workspace of %zu bytes < %zu needed", workspace_bytes,
                         need);
    const char *msg = "";
    if (ks__nms_cuda_launch(p, in, out, workspace, stream, &msg))
        return ks__error(ctx, KS_DEVICE_ERROR, "nms kernel: %s", msg);
    return KS_OK;
#else
    KS_UNUSED(p), KS_UNUSED(in), KS_UNUSED(out), KS_UNUSED(workspace), KS_UNUSED(workspace_bytes),
        KS_UNUSED(stream);
    return ks__error(ctx, KS_NO_DEVICE, "ks_nms_cuda: built without CUDA");
#endif
}
