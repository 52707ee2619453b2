// MTCNN GPU cascade kernels (see mtcnn_gpu.h): normalisation, pyramid into
// the P-Net input(s), P-Net cell selection + exact per-level NMS on the cell
// grid, block NMS (bitonic sort + greedy suppression in shared memory), the
// R-Net / O-Net stage glue. Counts stay on the device: kernels read them
// and are launched for the fixed capacities. Arithmetic mirrors mtcnn.c.
#include <cuda_runtime.h>
#include <float.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vision/mtcnn_dev.cuh"
#include "vision/mtcnn_gpu.h"

enum { ST_NONE = 0, ST_UNKNOWN = 1, ST_KEPT = 2, ST_SUPP = 3 };
#define NMS_THREADS 1024
#define RESOLVE_ITERS 3
#define NEIGH 6 /* same-level P-Net boxes more than 6 cells apart never overlap */
#define WIN (2 * NEIGH + 1)
#if WIN * WIN > 64 * KS_MTG_MASK_WORDS
#error "neighbour window does not fit the mask"
#endif

static int check(const char *what, char *err, size_t err_bytes) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        snprintf(err, err_bytes, "%s: %s", what, cudaGetErrorString(e));
        return (int)e;
    }
    return 0;
}

static int rt(cudaError_t e, const char *what, char *err, size_t err_bytes) {
    if (e != cudaSuccess) {
        cudaGetLastError();
        snprintf(err, err_bytes, "%s: %s", what, cudaGetErrorString(e));
        return (int)e;
    }
    return 0;
}

static unsigned blocks_for(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1)
        b = 1;
    if (b > 65535LL * 16)
        b = 65535LL * 16;
    return (unsigned)b;
}

// ------------------------------------------------------------ normalise + pyramid

static __global__ void normalize_kernel(const uint8_t *__restrict__ src, int w, int h,
                                        size_t stride, uint32_t bgr_mask,
                                        float *__restrict__ dst) {
    int64_t total = 3LL * w * h;
    int f = blockIdx.y, bgr = (bgr_mask >> f) & 1;
    src += (size_t)f * stride * h;
    dst += (size_t)f * total;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int c = (int)(i % 3);
        int64_t pix = i / 3;
        int x = (int)(pix % w), y = (int)(pix / w);
        int sc = bgr ? 2 - c : c;
        dst[i] = ((float)src[(size_t)y * stride + (size_t)x * 3 + sc] - 127.5f) * 0.0078125f;
    }
}

extern "C" int ks__mtg_normalize(const uint8_t *src, int w, int h, size_t stride, int nf,
                                 uint32_t bgr_mask, float *dst, void *stream, char *err,
                                 size_t err_bytes) {
    dim3 grid(blocks_for(3LL * w * h, 256), nf < 1 ? 1 : nf);
    normalize_kernel<<<grid, 256, 0, (cudaStream_t)stream>>>(src, w, h, stride, bgr_mask, dst);
    return check("mtcnn normalize", err, err_bytes);
}

// Threads walk (level, c, a, b) with b fastest: coalesced writes.
static __global__ void pyramid_kernel(const float *__restrict__ img, int w, int h,
                                      ks_mtg_pyramid p, float *__restrict__ dst) {
    int f = blockIdx.y;
    img += (int64_t)f * p.img_fstride;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < p.total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int l = 0;
        while (l < p.n - 1 && i >= p.l[l + 1].first)
            l++;
        const ks_mtg_pyr_level *L = &p.l[l];
        int64_t k = i - L->first;
        int A = p.transposed ? L->w : L->h, B = p.transposed ? L->h : L->w;
        int64_t plane = (int64_t)A * B;
        int c = (int)(k / plane);
        int64_t r = k % plane;
        int a = (int)(r / B), b = (int)(r % B);
        int x = p.transposed ? a : b, y = p.transposed ? b : a;
        dst[L->base + f * L->fstride + c * L->cs + a * L->rp + b * L->ps] =
            sample(img, w, h, L->w, L->h, x, y, c);
    }
}

extern "C" int ks__mtg_pyramid(const float *img, int w, int h, const ks_mtg_pyramid *p,
                               float *dst, void *stream, char *err, size_t err_bytes) {
    if (p->n <= 0 || p->n > KS_MTG_MAX_LEVELS) {
        snprintf(err, err_bytes, "invalid pyramid (%d levels)", p->n);
        return -1;
    }
    dim3 grid(blocks_for(p->total, 256), p->nf < 1 ? 1 : p->nf);
    pyramid_kernel<<<grid, 256, 0, (cudaStream_t)stream>>>(img, w, h, *p, dst);
    return check("mtcnn pyramid", err, err_bytes);
}

// ------------------------------------------------------------ P-Net cells

static __device__ __forceinline__ int level_of(const ks_mtg_levels &L, int cell) {
    int l = 0;
    while (l < L.n - 1 && cell >= L.l[l + 1].cell_base)
        l++;
    return l;
}

static __device__ __forceinline__ float map_at(const ks_mtg_levels &L, const ks_mtg_level &v,
                                               const float *m, int C, int c, int a, int b,
                                               int f) {
    int64_t ma = v.off_a + a, mb = v.off_b + b;
    m += (int64_t)f * C * v.map_a * v.map_b;
    if (L.nhwc)
        return m[(ma * v.map_b + mb) * C + c];
    return m[((int64_t)c * v.map_a + ma) * v.map_b + mb];
}

static __device__ __forceinline__ void cell_box(const ks_mtg_levels &L, const ks_mtg_level &v,
                                                int a, int b, float *bx) {
    int cx = L.transposed ? a : b, cy = L.transposed ? b : a;
    // small integers: exact with or without FMA
    bx[0] = truncf((2.f * (float)cx + 1.f) / v.scale);
    bx[1] = truncf((2.f * (float)cy + 1.f) / v.scale);
    bx[2] = truncf((2.f * (float)cx + 12.f) / v.scale);
    bx[3] = truncf((2.f * (float)cy + 12.f) / v.scale);
}

static __device__ __forceinline__ float overlap(const float *a, const float *c, int min_mode) {
    float area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1);
    float xx1 = fmaxf(a[0], c[0]), yy1 = fmaxf(a[1], c[1]);
    float xx2 = fminf(a[2], c[2]), yy2 = fminf(a[3], c[3]);
    float w = fmaxf(0.f, xx2 - xx1 + 1), h = fmaxf(0.f, yy2 - yy1 + 1);
    float inter = w * h;
    float area_c = (c[2] - c[0] + 1) * (c[3] - c[1] + 1);
    return min_mode ? inter / fminf(area_a, area_c) : inter / (area_a + area_c - inter);
}

// Frame f's blocks of the per-frame arrays (mtcnn_gpu.h).
static __device__ __forceinline__ int *frame_cand(int *cand, int cap, int f) {
    return cand + (size_t)f * (KS_MTG_CAND_BYTES(cap) / sizeof(int));
}

static __global__ void cells_kernel(ks_mtg_levels L, float t1, uint8_t *status, int *cand,
                                    int cap, ks_mtg_state *s) {
    int f = blockIdx.y;
    status += (size_t)f * L.total_cells;
    cand = frame_cand(cand, cap, f);
    s += f;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < L.total_cells;
         i += gridDim.x * blockDim.x) {
        int l = level_of(L, i);
        const ks_mtg_level &v = L.l[l];
        int k = i - v.cell_base, a = k / v.mb, b = k % v.mb;
        float p = map_at(L, v, v.prob, 2, 1, a, b, f);
        if (p >= t1) {
            int slot = atomicAdd(&s->n_cand, 1);
            if (slot < cap) {
                status[i] = ST_UNKNOWN;
                cand[slot] = i;
            } else { // over capacity: dropped (counts as suppressed, never pending)
                status[i] = ST_SUPP;
                atomicOr(&s->truncated, 1);
            }
        } else {
            status[i] = ST_NONE;
        }
    }
}

// Greedy NMS (score descending, ties by cell index) as a fixed point: a cell
// is kept when every better overlapping cell is suppressed, suppressed when
// one of them is kept. Statuses only go UNKNOWN -> final, so racing reads of
// a stale UNKNOWN just postpone a decision.
//
// The (2*NEIGH+1)^2 window around each candidate is scanned once
// (neighbours_kernel): the better candidates whose IoU with it exceeds the
// threshold become bits of a KS_MTG_MASK_WORDS x 64-bit mask (bit q = window
// offset (q / WIN - NEIGH, q % WIN - NEIGH)), stored after cand[] (see
// ks_mtg_masks). The resolve passes then only load the statuses of those
// few cells and drop suppressed ones from the mask.
static __device__ __forceinline__ uint64_t *ks_mtg_masks(int *cand, int cap) {
    return (uint64_t *)(cand + KS_MTG_MASK_OFF(cap));
}

static __global__ void neighbours_kernel(ks_mtg_levels L, uint8_t *status, int *cand, int cap,
                                         const ks_mtg_state *s, float thr) {
    int f = blockIdx.y;
    status += (size_t)f * L.total_cells;
    cand = frame_cand(cand, cap, f);
    s += f;
    int n = min(s->n_cand, cap);
    uint64_t *masks = ks_mtg_masks(cand, cap);
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        int cell = cand[i];
        int l = level_of(L, cell);
        const ks_mtg_level &v = L.l[l];
        int k = cell - v.cell_base, a = k / v.mb, b = k % v.mb;
        float si = map_at(L, v, v.prob, 2, 1, a, b, f);
        float bi[4], bj[4];
        cell_box(L, v, a, b, bi);
        uint64_t m[KS_MTG_MASK_WORDS] = {0, 0, 0};
        for (int a2 = max(0, a - NEIGH); a2 <= min(v.ma - 1, a + NEIGH); a2++)
            for (int b2 = max(0, b - NEIGH); b2 <= min(v.mb - 1, b + NEIGH); b2++) {
                int j = v.cell_base + a2 * v.mb + b2;
                if (j == cell)
                    continue;
                // NONE and over-capacity SUPP never change here; UNKNOWN and
                // KEPT (set below by other threads) are both candidates
                int sj_st = ((volatile uint8_t *)status)[j];
                if (sj_st == ST_NONE || sj_st == ST_SUPP)
                    continue;
                float sj = map_at(L, v, v.prob, 2, 1, a2, b2, f);
                if (!(sj > si || (sj == si && j < cell)))
                    continue;
                cell_box(L, v, a2, b2, bj);
                if (!(overlap(bj, bi, 0) > thr))
                    continue;
                int q = (a2 - a + NEIGH) * WIN + (b2 - b + NEIGH);
                m[q >> 6] |= 1ull << (q & 63);
            }
        for (int w = 0; w < KS_MTG_MASK_WORDS; w++)
            masks[(size_t)w * cap + i] = m[w];
        if (!(m[0] | m[1] | m[2]))
            status[cell] = ST_KEPT; // no better overlapping candidate
    }
}

// Candidate slot i; returns 1 while undecided.
static __device__ int resolve_cell(const ks_mtg_levels &L, uint8_t *status, const int *cand,
                                   uint64_t *masks, int cap, int i) {
    int cell = cand[i];
    if (((volatile uint8_t *)status)[cell] != ST_UNKNOWN)
        return 0;
    int mb = L.l[level_of(L, cell)].mb;
    int pending = 0;
    for (int w = 0; w < KS_MTG_MASK_WORDS; w++) {
        uint64_t m = masks[(size_t)w * cap + i], keep = m;
        while (m) {
            int bit = __ffsll((long long)m) - 1;
            m &= m - 1;
            int q = w * 64 + bit;
            int j = cell + (q / WIN - NEIGH) * mb + (q % WIN - NEIGH);
            int sj_st = ((volatile uint8_t *)status)[j];
            if (sj_st == ST_KEPT) {
                status[cell] = ST_SUPP;
                return 0;
            }
            if (sj_st == ST_SUPP)
                keep &= ~(1ull << bit);
            else
                pending = 1;
        }
        if (keep != masks[(size_t)w * cap + i])
            masks[(size_t)w * cap + i] = keep;
    }
    if (!pending) {
        status[cell] = ST_KEPT;
        return 0;
    }
    return 1;
}

static __global__ void resolve_kernel(ks_mtg_levels L, uint8_t *status, int *cand, int cap,
                                      const ks_mtg_state *s) {
    int f = blockIdx.y;
    status += (size_t)f * L.total_cells;
    cand = frame_cand(cand, cap, f);
    s += f;
    int n = min(s->n_cand, cap);
    uint64_t *masks = ks_mtg_masks(cand, cap);
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        resolve_cell(L, status, cand, masks, cap, i);
}

// One block finishes whatever the parallel passes left undecided.
static __global__ void resolve_finish_kernel(ks_mtg_levels L, uint8_t *status, int *cand, int cap,
                                             const ks_mtg_state *s) {
    int f = blockIdx.x;
    status += (size_t)f * L.total_cells;
    cand = frame_cand(cand, cap, f);
    s += f;
    int n = min(s->n_cand, cap);
    uint64_t *masks = ks_mtg_masks(cand, cap);
    for (;;) {
        int undecided = 0;
        for (int i = threadIdx.x; i < n; i += blockDim.x)
            undecided |= resolve_cell(L, status, cand, masks, cap, i);
        if (!__syncthreads_or(undecided))
            break;
    }
}

// Kept cells -> boxes for the cross-scale NMS (tie key = cell index, i.e.
// level then cell order, as the CPU list).
static __global__ void compact_kernel(ks_mtg_levels L, const uint8_t *status, int *cand,
                                      int cap, ks_mtg_state *s, ks_mtcnn_box *out, int *key) {
    int f = blockIdx.y;
    status += (size_t)f * L.total_cells;
    cand = frame_cand(cand, cap, f);
    s += f;
    out += (size_t)f * KS_MTG_NMS_CAP;
    key += (size_t)f * KS_MTG_NMS_CAP;
    int n = min(s->n_cand, cap);
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        int cell = cand[i];
        if (status[cell] != ST_KEPT)
            continue;
        atomicAdd(&s->n_pkept, 1);
        int slot = atomicAdd(&s->n_global, 1);
        if (slot >= KS_MTG_NMS_CAP) {
            atomicOr(&s->truncated, 2);
            continue;
        }
        int l = level_of(L, cell);
        const ks_mtg_level &v = L.l[l];
        int k = cell - v.cell_base, a = k / v.mb, b = k % v.mb;
        ks_mtcnn_box bx;
        memset(&bx, 0, sizeof bx);
        float c4[4];
        cell_box(L, v, a, b, c4);
        bx.x1 = c4[0], bx.y1 = c4[1], bx.x2 = c4[2], bx.y2 = c4[3];
        bx.score = map_at(L, v, v.prob, 2, 1, a, b, f);
        for (int q = 0; q < 4; q++)
            bx.reg[q] = map_at(L, v, v.reg, 4, q, a, b, f);
        out[slot] = bx;
        key[slot] = cell;
    }
}

// ------------------------------------------------------------ block NMS

// Shared memory: score[P], key[P], idx[P], box[P] (float4), sup[P].
static __global__ void __launch_bounds__(NMS_THREADS)
    nms_kernel(const ks_mtcnn_box *__restrict__ in, const int *__restrict__ in_key,
               const int *count, int *count_clamped, float thr, int min_mode,
               ks_mtcnn_box *__restrict__ out, int *out_count, int64_t stride, int cstride) {
    // block f: frame f's lists (stride boxes apart) and counters (cstride ints apart)
    {
        int64_t f = blockIdx.x;
        in += f * stride;
        if (in_key)
            in_key += f * stride;
        out += f * stride;
        count += f * cstride;
        if (count_clamped)
            count_clamped += f * cstride;
        out_count += f * cstride;
    }
    extern __shared__ float4 smem4[];
    const int P = KS_MTG_NMS_CAP;
    float4 *box = smem4;
    float *score = (float *)(box + P);
    int *key = (int *)(score + P);
    int *idx = key + P;
    uint8_t *sup = (uint8_t *)(idx + P);
    __shared__ int wsum[33];
    int tid = threadIdx.x, bs = blockDim.x;
    int n = *count;
    if (n > P)
        n = P;
    if (n < 0)
        n = 0;
    if (count_clamped && tid == 0)
        *count_clamped = n;
    int S = 1;
    while (S < n)
        S <<= 1;
    for (int i = tid; i < S; i += bs) {
        if (i < n) {
            score[i] = in[i].score;
            key[i] = in_key ? in_key[i] : i;
            idx[i] = i;
        } else {
            score[i] = -FLT_MAX;
            key[i] = INT_MAX;
            idx[i] = -1;
        }
    }
    __syncthreads();
    // bitonic sort: "before" = higher score, then lower key
    for (int k = 2; k <= S; k <<= 1)
        for (int j = k >> 1; j > 0; j >>= 1) {
            for (int i = tid; i < S; i += bs) {
                int ixj = i ^ j;
                if (ixj <= i)
                    continue;
                float si = score[i], sj = score[ixj];
                int ki = key[i], kj = key[ixj];
                int j_before_i = sj > si || (sj == si && kj < ki);
                int i_before_j = si > sj || (si == sj && ki < kj);
                int swap = (i & k) == 0 ? j_before_i : i_before_j;
                if (swap) {
                    score[i] = sj, score[ixj] = si;
                    key[i] = kj, key[ixj] = ki;
                    int t = idx[i];
                    idx[i] = idx[ixj], idx[ixj] = t;
                }
            }
            __syncthreads();
        }
    for (int i = tid; i < n; i += bs) {
        const ks_mtcnn_box *b = &in[idx[i]];
        box[i] = make_float4(b->x1, b->y1, b->x2, b->y2);
        sup[i] = 0;
    }
    __syncthreads();
    // greedy suppression: every thread walks the sorted list; kept boxes
    // suppress later ones in parallel (one barrier per kept box)
    for (int i = 0; i < n; i++) {
        if (sup[i])
            continue;
        float4 a4 = box[i];
        float a[4] = {a4.x, a4.y, a4.z, a4.w};
        for (int j = i + 1 + tid; j < n; j += bs) {
            if (sup[j])
                continue;
            float4 c4 = box[j];
            float c[4] = {c4.x, c4.y, c4.z, c4.w};
            if (overlap(a, c, min_mode) > thr)
                sup[j] = 1;
        }
        __syncthreads();
    }
    // stable compaction of the kept boxes (sorted order)
    int base = 0, lane = tid & 31, w = tid >> 5, nw = (bs + 31) >> 5;
    for (int c0 = 0; c0 < n; c0 += bs) {
        int r = c0 + tid;
        int f = r < n && !sup[r];
        unsigned m = __ballot_sync(0xffffffffu, f);
        if (lane == 0)
            wsum[w] = __popc(m);
        __syncthreads();
        if (tid == 0) {
            int s = 0;
            for (int q = 0; q < nw; q++) {
                int t = wsum[q];
                wsum[q] = s;
                s += t;
            }
            wsum[32] = s;
        }
        __syncthreads();
        if (f)
            out[base + wsum[w] + __popc(m & ((1u << lane) - 1u))] = in[idx[r]];
        base += wsum[32];
        __syncthreads();
    }
    if (tid == 0)
        *out_count = base;
}

static size_t nms_smem(void) {
    return (size_t)KS_MTG_NMS_CAP * (sizeof(float4) + 3 * sizeof(int) + 1);
}

static int nms_launch(const ks_mtcnn_box *in, const int *key, const int *count, int *clamped,
                      float thr, int min_mode, ks_mtcnn_box *out, int *out_count, int nf,
                      cudaStream_t stream, char *err, size_t err_bytes) {
    static int attr_set = 0;
    if (!attr_set) {
        cudaError_t e = cudaFuncSetAttribute(nms_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)nms_smem());
        if (e != cudaSuccess)
            return rt(e, "mtcnn nms smem", err, err_bytes);
        attr_set = 1;
    }
    nms_kernel<<<nf < 1 ? 1 : nf, NMS_THREADS, nms_smem(), stream>>>(
        in, key, count, clamped, thr, min_mode, out, out_count, KS_MTG_NMS_CAP, KS_MTG_STATE_INTS);
    return check("mtcnn nms", err, err_bytes);
}

extern "C" int ks__mtg_nms(const ks_mtcnn_box *in, const int *key, const int *count, float thr,
                           int min_mode, ks_mtcnn_box *out, int *out_count, void *stream,
                           char *err, size_t err_bytes) {
    return nms_launch(in, key, count, NULL, thr, min_mode, out, out_count, 1,
                      (cudaStream_t)stream, err, err_bytes);
}

extern "C" int ks__mtg_pnet_post(const ks_mtg_levels *L, const ks_mtg_bufs *b,
                                 const ks_mtg_thresholds *t, void *const *ev, void *stream_,
                                 char *err, size_t err_bytes) {
    cudaStream_t stream = (cudaStream_t)stream_;
    int nf = b->nf < 1 ? 1 : b->nf;
    int rc = rt(cudaMemsetAsync(b->state, 0, sizeof(ks_mtg_state) * nf, stream), "mtcnn state",
                err, err_bytes);
    if (rc)
        return rc;
    cells_kernel<<<dim3(blocks_for(L->total_cells, 256), nf), 256, 0, stream>>>(
        *L, t->t[0], b->status, b->cand, b->cand_cap, b->state);
    if ((rc = check("mtcnn cells", err, err_bytes)))
        return rc;
    if (ev && (rc = rt(cudaEventRecord((cudaEvent_t)ev[0], stream), "event", err, err_bytes)))
        return rc;
    unsigned cb = blocks_for(b->cand_cap, 256);
    if (cb > 1024)
        cb = 1024;
    neighbours_kernel<<<dim3(cb, nf), 256, 0, stream>>>(*L, b->status, b->cand, b->cand_cap, b->state,
                                              t->nms[0]);
    if ((rc = check("mtcnn neighbours", err, err_bytes)))
        return rc;
    for (int it = 0; it < RESOLVE_ITERS; it++) {
        resolve_kernel<<<dim3(cb, nf), 256, 0, stream>>>(*L, b->status, b->cand, b->cand_cap, b->state);
        if ((rc = check("mtcnn resolve", err, err_bytes)))
            return rc;
    }
    resolve_finish_kernel<<<nf, 1024, 0, stream>>>(*L, b->status, b->cand, b->cand_cap, b->state);
    if ((rc = check("mtcnn resolve finish", err, err_bytes)))
        return rc;
    if (ev && (rc = rt(cudaEventRecord((cudaEvent_t)ev[1], stream), "event", err, err_bytes)))
        return rc;
    compact_kernel<<<dim3(cb, nf), 256, 0, stream>>>(*L, b->status, b->cand, b->cand_cap, b->state,
                                           b->g_in, b->g_key);
    if ((rc = check("mtcnn compact", err, err_bytes)))
        return rc;
    if (ev && (rc = rt(cudaEventRecord((cudaEvent_t)ev[2], stream), "event", err, err_bytes)))
        return rc;
    // cross-scale NMS (always 0.7, union)
    return nms_launch(b->g_in, b->g_key, &b->state->n_global, &b->state->n_global, 0.7f, 0,
                      b->r_list, &b->state->n_r, nf, stream, err, err_bytes);
}

// ------------------------------------------------------------ R-Net / O-Net glue

static __device__ __forceinline__ void rerec(ks_mtcnn_box *b) {
    float w = b->x2 - b->x1, h = b->y2 - b->y1, l = fmaxf(w, h);
    b->x1 = __fsub_rn(__fadd_rn(b->x1, __fmul_rn(w, 0.5f)), __fmul_rn(l, 0.5f));
    b->y1 = __fsub_rn(__fadd_rn(b->y1, __fmul_rn(h, 0.5f)), __fmul_rn(l, 0.5f));
    b->x2 = b->x1 + l;
    b->y2 = b->y1 + l;
}

static __device__ __forceinline__ void bbreg(ks_mtcnn_box *b) {
    float w = b->x2 - b->x1 + 1, h = b->y2 - b->y1 + 1;
    float x1 = __fadd_rn(b->x1, __fmul_rn(b->reg[0], w)), y1 = __fadd_rn(b->y1, __fmul_rn(b->reg[1], h));
    float x2 = __fadd_rn(b->x2, __fmul_rn(b->reg[2], w)), y2 = __fadd_rn(b->y2, __fmul_rn(b->reg[3], h));
    b->x1 = x1, b->y1 = y1, b->x2 = x2, b->y2 = y2;
}

static __device__ __forceinline__ int crop_valid(const int *box, int w, int h) {
    int tw = box[2] - box[0] + 1, th = box[3] - box[1] + 1;
    return tw > 0 && th > 0 && tw <= 8 * (w + h) && th <= 8 * (w + h);
}

// Item i of a span (mtcnn_gpu.h): its frame and list entry; 0 when the
// frame's list has no entry for it.
struct span_item {
    int f, j;
};
static __device__ __forceinline__ int span_at(const ks_mtg_span &sp, int64_t i, const int *count,
                                              span_item *it) {
    int fl = (int)(i / sp.per), k = (int)(i % sp.per);
    int f = sp.frame0 + fl;
    int n = count[(size_t)f * KS_MTG_STATE_INTS] - sp.first;
    if (k >= n)
        return 0;
    it->f = f;
    it->j = sp.first + k;
    return 1;
}

// Stage 1: P-Net regression (box size without +1) + squaring; stage 2:
// bbreg (+1) + squaring. Then fix() as the CPU refine stage does.
static __global__ void prep_kernel(int stage, ks_mtg_span sp, ks_mtcnn_box *list, const int *count,
                                   int *boxes) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    span_item it;
    if (i >= (int64_t)sp.n_frames * sp.per || !span_at(sp, i, count, &it))
        return;
    ks_mtcnn_box *bp = list + (size_t)it.f * KS_MTG_NMS_CAP + it.j;
    ks_mtcnn_box b = *bp;
    if (stage == 1) {
        float rw = b.x2 - b.x1, rh = b.y2 - b.y1;
        float q1 = __fadd_rn(b.x1, __fmul_rn(b.reg[0], rw)), q2 = __fadd_rn(b.y1, __fmul_rn(b.reg[1], rh));
        float q3 = __fadd_rn(b.x2, __fmul_rn(b.reg[2], rw)), q4 = __fadd_rn(b.y2, __fmul_rn(b.reg[3], rh));
        b.x1 = q1, b.y1 = q2, b.x2 = q3, b.y2 = q4;
    } else {
        bbreg(&b);
    }
    rerec(&b);
    b.x1 = truncf(b.x1), b.y1 = truncf(b.y1), b.x2 = truncf(b.x2), b.y2 = truncf(b.y2);
    *bp = b;
    boxes[4 * i + 0] = (int)b.x1;
    boxes[4 * i + 1] = (int)b.y1;
    boxes[4 * i + 2] = (int)b.x2;
    boxes[4 * i + 3] = (int)b.y2;
}

static __global__ void crop_kernel(ks_mtg_span sp, const float *__restrict__ img, int w, int h,
                                   const int *__restrict__ boxes, const int *count, int size,
                                   int nhwc, int transposed, float *__restrict__ dst) {
    int64_t per = 3LL * size * size, total = per * sp.n_frames * sp.per;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t item = i / per;
        span_item it;
        if (!span_at(sp, item, count, &it))
            continue;
        int k = (int)(i % per);
        int c = k / (size * size), pix = k % (size * size);
        // walk in output order (c, a, b) for coalesced writes
        int a = pix / size, b = pix % size;
        int x = transposed ? a : b, y = transposed ? b : a;
        float v = ks_mtg_crop_sample(img + (size_t)it.f * 3 * w * h, w, h, boxes + 4 * item, size,
                                     x, y, c);
        dst[item * per + (int64_t)pack_index(x, y, c, size, size, nhwc, transposed)] = v;
    }
}

static int span_ok(const ks_mtg_span *sp, char *err, size_t err_bytes) {
    if (sp->n_frames < 1 || sp->per < 1 || sp->first < 0 || sp->frame0 < 0) {
        snprintf(err, err_bytes, "invalid span (%d frames from %d, %d items from %d)",
                 sp->n_frames, sp->frame0, sp->per, sp->first);
        return -1;
    }
    return 0;
}

extern "C" int ks__mtg_prepare_stage(int stage, const ks_mtg_span *sp, const float *img, int w,
                                     int h, const ks_mtg_bufs *b, int nhwc, int transposed,
                                     float *net_in, void *stream_, char *err, size_t err_bytes) {
    cudaStream_t stream = (cudaStream_t)stream_;
    if (span_ok(sp, err, err_bytes))
        return -1;
    ks_mtcnn_box *list = stage == 1 ? b->r_list : b->o_list;
    const int *count = stage == 1 ? &b->state->n_r : &b->state->n_o;
    int *boxes = stage == 1 ? b->r_boxes : b->o_boxes;
    int size = stage == 1 ? 24 : 48;
    int64_t items = (int64_t)sp->n_frames * sp->per;
    prep_kernel<<<blocks_for(items, 128), 128, 0, stream>>>(stage, *sp, list, count, boxes);
    int rc = check("mtcnn stage prep", err, err_bytes);
    if (rc)
        return rc;
    crop_kernel<<<blocks_for(3LL * size * size * items, 256), 256, 0, stream>>>(
        *sp, img, w, h, boxes, count, size, nhwc, transposed, net_in);
    return check("mtcnn stage crop", err, err_bytes);
}

static __global__ void filter_kernel(int stage, ks_mtg_span sp, const ks_mtcnn_box *list,
                                     const int *count, const int *boxes, int w, int h,
                                     const float *prob, const float *reg, const float *pts,
                                     float thr, ks_mtcnn_box *out, int *key, int *n_out) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    span_item it;
    if (i >= (int64_t)sp.n_frames * sp.per || !span_at(sp, i, count, &it) ||
        !crop_valid(boxes + 4 * i, w, h))
        return;
    float p = prob[2 * i + 1];
    if (!(p > thr))
        return;
    ks_mtcnn_box b = list[(size_t)it.f * KS_MTG_NMS_CAP + it.j];
    b.score = p;
    for (int k = 0; k < 4; k++)
        b.reg[k] = reg[4 * i + k];
    if (stage == 2) {
        float bw = b.x2 - b.x1 + 1, bh = b.y2 - b.y1 + 1;
        for (int k = 0; k < 5; k++) {
            b.landmarks[k] = __fsub_rn(__fadd_rn(__fmul_rn(bw, pts[10 * i + k]), b.x1), 1.f);
            b.landmarks[5 + k] = __fsub_rn(__fadd_rn(__fmul_rn(bh, pts[10 * i + 5 + k]), b.y1), 1.f);
        }
        bbreg(&b);
    }
    // at most one pass per list entry, and lists hold <= KS_MTG_NMS_CAP entries
    int slot = atomicAdd(n_out + (size_t)it.f * KS_MTG_STATE_INTS, 1);
    out[(size_t)it.f * KS_MTG_NMS_CAP + slot] = b;
    key[(size_t)it.f * KS_MTG_NMS_CAP + slot] = it.j;
}

extern "C" int ks__mtg_filter_stage(int stage, const ks_mtg_span *sp, int w, int h,
                                    const ks_mtg_bufs *b, const float *prob, const float *reg,
                                    const float *pts, const ks_mtg_thresholds *t, void *stream_,
                                    char *err, size_t err_bytes) {
    cudaStream_t stream = (cudaStream_t)stream_;
    if (span_ok(sp, err, err_bytes))
        return -1;
    ks_mtg_state *s = b->state;
    int64_t items = (int64_t)sp->n_frames * sp->per;
    filter_kernel<<<blocks_for(items, 128), 128, 0, stream>>>(
        stage, *sp, stage == 1 ? b->r_list : b->o_list, stage == 1 ? &s->n_r : &s->n_o,
        stage == 1 ? b->r_boxes : b->o_boxes, w, h, prob, reg, pts, t->t[stage],
        stage == 1 ? b->r_pass : b->o_pass, stage == 1 ? b->r_key : b->o_key,
        stage == 1 ? &s->n_rpass : &s->n_opass);
    return check("mtcnn stage filter", err, err_bytes);
}

extern "C" int ks__mtg_nms_stage(int stage, int frame0, int n_frames, const ks_mtg_bufs *b,
                                 const ks_mtg_thresholds *t, void *stream_, char *err,
                                 size_t err_bytes) {
    cudaStream_t stream = (cudaStream_t)stream_;
    ks_mtg_state *s = b->state + frame0;
    size_t o = (size_t)frame0 * KS_MTG_NMS_CAP;
    if (stage == 1)
        return nms_launch(b->r_pass + o, b->r_key + o, &s->n_rpass, NULL, t->nms[1], 0,
                          b->o_list + o, &s->n_o, n_frames, stream, err, err_bytes);
    return nms_launch(b->o_pass + o, b->o_key + o, &s->n_opass, NULL, t->nms[2], 1, b->final + o,
                      &s->n_final, n_frames, stream, err, err_bytes);
}

// ------------------------------------------------------------ runtime helpers

extern "C" int ks__mtg_malloc(void **p, size_t n, char *err, size_t err_bytes) {
    *p = NULL;
    return rt(cudaMalloc(p, n ? n : 1), "cudaMalloc", err, err_bytes);
}
extern "C" int ks__mtg_malloc_host(void **p, size_t n, char *err, size_t err_bytes) {
    *p = NULL;
    return rt(cudaMallocHost(p, n ? n : 1), "cudaMallocHost", err, err_bytes);
}
extern "C" void ks__mtg_free(void *p) {
    if (p)
        cudaFree(p);
}
extern "C" void ks__mtg_free_host(void *p) {
    if (p)
        cudaFreeHost(p);
}
extern "C" int ks__mtg_memset(void *p, int v, size_t n, void *stream, char *err,
                              size_t err_bytes) {
    return rt(cudaMemsetAsync(p, v, n, (cudaStream_t)stream), "cudaMemsetAsync", err, err_bytes);
}
extern "C" int ks__mtg_memcpy2d(void *dst, size_t dpitch, const void *src, size_t spitch,
                                size_t width, size_t rows, int kind, void *stream, char *err,
                                size_t err_bytes) {
    cudaMemcpyKind k = kind == 1   ? cudaMemcpyHostToDevice
                       : kind == 2 ? cudaMemcpyDeviceToHost
                                   : cudaMemcpyDeviceToDevice;
    if (rows <= 1 || (dpitch == width && spitch == width))
        return rt(cudaMemcpyAsync(dst, src, width * (rows ? rows : 1), k, (cudaStream_t)stream),
                  "cudaMemcpyAsync", err, err_bytes);
    return rt(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, rows, k, (cudaStream_t)stream),
              "cudaMemcpy2DAsync", err, err_bytes);
}
extern "C" int ks__mtg_stream_create(void **s, char *err, size_t err_bytes) {
    cudaStream_t st = NULL;
    int rc = rt(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreate", err,
                err_bytes);
    *s = st;
    return rc;
}
extern "C" void ks__mtg_stream_destroy(void *s) {
    if (s)
        cudaStreamDestroy((cudaStream_t)s);
}
extern "C" int ks__mtg_stream_sync(void *s, char *err, size_t err_bytes) {
    return rt(cudaStreamSynchronize((cudaStream_t)s), "cudaStreamSynchronize", err, err_bytes);
}
extern "C" int ks__mtg_event_create(void **e, int timing, char *err, size_t err_bytes) {
    cudaEvent_t ev = NULL;
    int rc = rt(cudaEventCreateWithFlags(&ev, timing ? cudaEventDefault : cudaEventDisableTiming),
                "cudaEventCreate", err, err_bytes);
    *e = ev;
    return rc;
}
extern "C" void ks__mtg_event_destroy(void *e) {
    if (e)
        cudaEventDestroy((cudaEvent_t)e);
}
extern "C" int ks__mtg_event_record(void *e, void *stream, char *err, size_t err_bytes) {
    return rt(cudaEventRecord((cudaEvent_t)e, (cudaStream_t)stream), "cudaEventRecord", err,
              err_bytes);
}
extern "C" int ks__mtg_stream_wait(void *stream, void *e, char *err, size_t err_bytes) {
    return rt(cudaStreamWaitEvent((cudaStream_t)stream, (cudaEvent_t)e, 0), "cudaStreamWaitEvent",
              err, err_bytes);
}
extern "C" float ks__mtg_event_ms(void *a, void *b) {
    float ms = -1.f;
    if (cudaEventElapsedTime(&ms, (cudaEvent_t)a, (cudaEvent_t)b) != cudaSuccess) {
        cudaGetLastError();
        return -1.f;
    }
    return ms;
}
extern "C" int ks__mtg_capture_begin(void *stream, char *err, size_t err_bytes) {
    return rt(cudaStreamBeginCapture((cudaStream_t)stream, cudaStreamCaptureModeThreadLocal),
              "cudaStreamBeginCapture", err, err_bytes);
}
extern "C" int ks__mtg_capture_end(void *stream, void **exec, char *err, size_t err_bytes) {
    *exec = NULL;
    cudaGraph_t g = NULL;
    int rc = rt(cudaStreamEndCapture((cudaStream_t)stream, &g), "cudaStreamEndCapture", err,
                err_bytes);
    if (rc) {
        if (g)
            cudaGraphDestroy(g);
        return rc;
    }
    cudaGraphExec_t ex = NULL;
    rc = rt(cudaGraphInstantiate(&ex, g, 0), "cudaGraphInstantiate", err, err_bytes);
    cudaGraphDestroy(g);
    if (!rc)
        *exec = ex;
    return rc;
}
extern "C" int ks__mtg_graph_launch(void *exec, void *stream, char *err, size_t err_bytes) {
    return rt(cudaGraphLaunch((cudaGraphExec_t)exec, (cudaStream_t)stream), "cudaGraphLaunch",
              err, err_bytes);
}
extern "C" void ks__mtg_graph_destroy(void *exec) {
    if (exec)
        cudaGraphExecDestroy((cudaGraphExec_t)exec);
}
extern "C" int ks__mtg_pointer_is_device(const void *p) {
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}
