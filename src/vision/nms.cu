// Batched greedy NMS, one thread block per image, same rule and order as ks_nms_cpu:
//  1. stable compaction of rows with score > threshold (block-wide prefix sum);
//  2. bitonic sort of the survivors by (score desc, row asc) -- in shared memory when
//     they fit (<= 4096), else in the image's workspace;
//  3. gather the first K = min(count, top_k) boxes/classes contiguously;
//  4. greedy sweep: for each candidate i not yet suppressed (block-uniform decision after
//     a barrier), thread 0 writes it out and all threads suppress later j with IoU > thr.
// IoU uses non-contracted arithmetic (vision_kernels.h) so decisions equal the CPU's.
#include <cuda_runtime.h>
#include <float.h>
#include <stdint.h>

#include "vision/vision_internal.h"

#define NMS_THREADS 512
#define NMS_SMEM_SORT 4096

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

static int64_t next_pow2(int64_t n) {
    int64_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

// Per-image workspace layout (each part 256-byte aligned).
struct WsLayout {
    size_t keys, idx, boxes, cls, supp, per_image;
};

static WsLayout ws_layout(int32_t n_rows) {
    int64_t P = next_pow2(n_rows);
    WsLayout l;
    size_t o = 0;
    l.keys = o, o += align256(sizeof(float) * P);
    l.idx = o, o += align256(sizeof(int32_t) * P);
    l.boxes = o, o += align256(sizeof(float4) * n_rows);
    l.cls = o, o += align256(sizeof(int32_t) * n_rows);
    l.supp = o, o += align256(n_rows);
    l.per_image = o;
    return l;
}

extern "C" size_t ks__nms_cuda_ws_bytes(int32_t batch, int32_t n_rows, int32_t top_k) {
    (void)top_k;
    return ws_layout(n_rows).per_image * (size_t)batch;
}

// Bitonic sort of P (power of two) entries, descending by (key desc, idx asc).
static __device__ void bitonic(float *key, int32_t *idx, int P) {
    for (int k = 2; k <= P; k <<= 1) {
        for (int j = k >> 1; j > 0; j >>= 1) {
            for (int t = threadIdx.x; t < P; t += blockDim.x) {
                int u = t ^ j;
                if (u > t) {
                    float ka = key[t], kb = key[u];
                    int32_t ia = idx[t], ib = idx[u];
                    bool first_half = (t & k) == 0;
                    bool swap = first_half ? ks_v_before(kb, ib, ka, ia) : ks_v_before(ka, ia, kb, ib);
                    if (swap) {
                        key[t] = kb, key[u] = ka;
                        idx[t] = ib, idx[u] = ia;
                    }
                }
            }
            __syncthreads();
        }
    }
}

struct NmsArgs {
    int32_t n_rows, top_k, max_out, class_aware, n_lm_in, n_lm_out;
    float score_thr, iou_thr;
    const float *boxes, *scores, *landmarks;
    const int32_t *classes;
    int32_t *counts;
    float *oboxes, *oscores, *olandmarks;
    int32_t *oclasses, *oindices;
    const ks_affine *transforms;
    char *ws;
    WsLayout L;
};

static __global__ void __launch_bounds__(NMS_THREADS) nms_kernel(const NmsArgs a) {
    __shared__ float s_key[NMS_SMEM_SORT];
    __shared__ int32_t s_idx[NMS_SMEM_SORT];
    __shared__ int32_t s_warp[NMS_THREADS / 32];
    __shared__ int32_t s_total;
    const int b = blockIdx.x, tid = threadIdx.x, N = a.n_rows;
    char *ws = a.ws + (size_t)b * a.L.per_image;
    float *g_key = (float *)(ws + a.L.keys);
    int32_t *g_idx = (int32_t *)(ws + a.L.idx);
    float4 *sbox = (float4 *)(ws + a.L.boxes);
    int32_t *scls = (int32_t *)(ws + a.L.cls);
    uint8_t *supp = (uint8_t *)(ws + a.L.supp);
    const float *sc = a.scores + (size_t)b * N;
    const float *bx = a.boxes + (size_t)b * N * 4;
    const int32_t *cl = a.classes + (size_t)b * N;
    const int M = a.max_out;

    // zero this image's outputs
    for (int k = tid; k < M; k += blockDim.x) {
        size_t o = (size_t)b * M + k;
        a.oboxes[o * 4] = a.oboxes[o * 4 + 1] = a.oboxes[o * 4 + 2] = a.oboxes[o * 4 + 3] = 0.0f;
        a.oscores[o] = 0.0f;
        a.oclasses[o] = 0;
        if (a.oindices)
            a.oindices[o] = 0;
        for (int q = 0; q < 2 * a.n_lm_out; q++)
            a.olandmarks[o * 2 * a.n_lm_out + q] = 0.0f;
    }
    // 1. compaction (stable) into g_key / g_idx
    if (tid == 0)
        s_total = 0;
    __syncthreads();
    const int lane = tid & 31, warp = tid >> 5, n_warps = blockDim.x >> 5;
    for (int base = 0; base < N; base += blockDim.x) {
        int r = base + tid;
        float s = r < N ? sc[r] : -1.0f;
        int flag = r < N && s > a.score_thr;
        unsigned ballot = __ballot_sync(0xffffffffu, flag);
        int in_warp = __popc(ballot & ((1u << lane) - 1u));
        if (lane == 0)
            s_warp[warp] = __popc(ballot);
        __syncthreads();
        int before = 0, chunk = 0;
        for (int w = 0; w < n_warps; w++) {
            before += w < warp ? s_warp[w] : 0;
            chunk += s_warp[w];
        }
        int pos = s_total + before + in_warp;
        if (flag) {
            g_key[pos] = s;
            g_idx[pos] = r;
        }
        __syncthreads();
        if (tid == 0)
            s_total += chunk;
        __syncthreads();
    }
    const int count = s_total;
    // 2. sort
    int P = 1;
    while (P < count)
        P <<= 1;
    if (count > 1) {
        if (P <= NMS_SMEM_SORT) {
            for (int t = tid; t < P; t += blockDim.x) {
                s_key[t] = t < count ? g_key[t] : -FLT_MAX;
                s_idx[t] = t < count ? g_idx[t] : INT32_MAX;
            }
            __syncthreads();
            bitonic(s_key, s_idx, P);
            for (int t = tid; t < count; t += blockDim.x)
                g_key[t] = s_key[t], g_idx[t] = s_idx[t];
        } else {
            for (int t = count + tid; t < P; t += blockDim.x)
                g_key[t] = -FLT_MAX, g_idx[t] = INT32_MAX;
            __syncthreads();
            bitonic(g_key, g_idx, P);
        }
    }
    __syncthreads();
    // 3. gather the first K candidates
    const int K = (a.top_k > 0 && count > a.top_k) ? a.top_k : count;
    for (int t = tid; t < K; t += blockDim.x) {
        int r = g_idx[t];
        sbox[t] = make_float4(bx[(size_t)r * 4], bx[(size_t)r * 4 + 1], bx[(size_t)r * 4 + 2], bx[(size_t)r * 4 + 3]);
        scls[t] = cl[r];
        supp[t] = 0;
    }
    __syncthreads();
    // 4. greedy sweep
    const float *m = a.transforms ? a.transforms[b].m : NULL;
    int kept = 0;
    for (int i = 0; i < K && kept < M; i++) {
        __syncthreads();
        if (supp[i])
            continue;
        float4 bi = sbox[i];
        int ci = scls[i];
        if (tid == 0) {
            int r = g_idx[i];
            size_t o = (size_t)b * M + kept;
            float box[4] = {bi.x, bi.y, bi.z, bi.w};
            ks_v_map_box(m, box);
            for (int q = 0; q < 4; q++)
                a.oboxes[o * 4 + q] = box[q];
            a.oscores[o] = g_key[i];
            a.oclasses[o] = ci;
            if (a.oindices)
                a.oindices[o] = r;
            if (a.n_lm_out && a.n_lm_in) {
                const float *src = a.landmarks + ((size_t)b * N + r) * 2 * a.n_lm_in;
                for (int k = 0; k < a.n_lm_out; k++) {
                    float pt[2] = {src[2 * k], src[2 * k + 1]};
                    ks_v_map_point(m, pt);
                    a.olandmarks[o * 2 * a.n_lm_out + 2 * k] = pt[0];
                    a.olandmarks[o * 2 * a.n_lm_out + 2 * k + 1] = pt[1];
                }
            }
        }
        kept++;
        float fb[4] = {bi.x, bi.y, bi.z, bi.w};
        for (int j = i + 1 + tid; j < K; j += blockDim.x) {
            if (supp[j] || (a.class_aware && scls[j] != ci))
                continue;
            float4 bj = sbox[j];
            float gb[4] = {bj.x, bj.y, bj.z, bj.w};
            if (ks_v_iou(fb, gb) > a.iou_thr)
                supp[j] = 1;
        }
    }
    if (tid == 0)
        a.counts[b] = kept;
}

extern "C" int ks__nms_cuda_launch(const ks_nms_params *p, const ks_candidates *in, const ks_nms_outputs *out,
                                   void *workspace, void *stream, const char **msg) {
    NmsArgs a;
    a.n_rows = p->n_rows;
    a.top_k = p->top_k;
    a.max_out = p->max_output;
    a.class_aware = p->class_aware;
    a.n_lm_in = in->landmarks ? p->n_landmarks : 0;
    a.n_lm_out = out->landmarks ? p->n_landmarks : 0;
    a.score_thr = p->score_threshold;
    a.iou_thr = p->iou_threshold;
    a.boxes = in->boxes;
    a.scores = in->scores;
    a.landmarks = in->landmarks;
    a.classes = in->classes;
    a.counts = out->counts;
    a.oboxes = out->boxes;
    a.oscores = out->scores;
    a.olandmarks = out->landmarks;
    a.oclasses = out->classes;
    a.oindices = out->indices;
    a.transforms = out->transforms;
    a.ws = (char *)workspace;
    a.L = ws_layout(p->n_rows);
    nms_kernel<<<p->batch, NMS_THREADS, 0, (cudaStream_t)stream>>>(a);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        *msg = cudaGetErrorString(e);
        return (int)e;
    }
    return 0;
}
