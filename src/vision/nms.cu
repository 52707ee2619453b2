// Batched greedy NMS on the GPU, same decisions and output order as ks_nms_cpu.
//
// Bitmask path (the default: when the candidates considered, K <= min(top_k, n_rows), fit
// NMS_MASK_MAX), two launches on the caller's stream, no host synchronisation, no allocation
// (CUDA-graph capturable):
//  1. sort_kernel, one 1024-thread block per image: stable compaction of rows with
//     score > threshold (warp ballots, one block prefix sum) straight into shared memory when
//     the survivors fit (<= 4096), a sort by (score desc, row asc) -- by rank counting when
//     <= 2048 survivors (the candidates before each one are counted: no barriers; with <= 512
//     survivors 1024 / count threads share a candidate, so the whole block works), else
//     bitonic -- and a gather of the first K = min(count, top_k) boxes/classes;
//  2. mwe_kernel ("mask, walk, emit"), a grid of 256-thread blocks per image:
//     - every block computes 64x64 tiles of the upper-triangular matrix of "IoU(i, j) > thr
//       (and same class when class-aware)" bits over the sorted candidates, j > i, 64-bit
//       words, stored triangular (row i keeps words i/64 .. nb-1);
//     - the last block of an image to finish (a per-image ticket, threadfence pattern: no
//       block waits for another) walks the rows in order: per 64-candidate column block one
//       warp picks the kept rows from the diagonal words, then all threads OR the kept rows'
//       later words into the "removed" words (shared atomics); the whole mask is first copied
//       to shared memory when it fits (K <= 640), else the diagonal words (K <= 4096) and the
//       OR reads L2 (one parallel round per column block); stops at max_output kept;
//     - the same block writes the kept boxes (mapped through the transform), scores,
//       classes, row indices and landmarks, and zeros the rest.
// (The four-launch form it replaced -- 512-thread bitonic sort, mask, a one-warp walk reading
// the mask from global memory, emit -- measured slower: bench/VISION_RESULTS.md, fifth session.)
// Larger K (top_k <= 0 or > NMS_MASK_MAX) use the one-block-per-image kernel whose greedy
// sweep has a barrier per candidate (sweep_kernel). All share step 1.
// IoU uses non-contracted arithmetic (vision_kernels.h) and the same operand order as the CPU
// (kept box first), so decisions equal the CPU's bit for bit.
#include <cuda_runtime.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vision/vision_internal.h"

#define NMS_THREADS 1024   /* sort_kernel block */
#define NMS_RANK_MAX 2048  /* survivors sorted by rank counting (two per thread) */
#define NMS_MWE_THREADS 256 /* mwe_kernel block: four 64x64 mask tiles at a time */
#define NMS_SMEM_MASK 4096 /* 64-bit words: the whole mask in shared memory for the walk when it fits
                              (K <= 640), else the diagonal words (K <= 4096) */
#define NMS_SMEM_SORT 4096
#define NMS_MASK_MAX 8192 /* K above this: the sweep kernel (mask would be > 4 MiB per image) */
#define NMS_MASK_BLOCKS (NMS_MASK_MAX / 64)

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

static int64_t next_pow2(int64_t n) {
    int64_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

// Per-image workspace layout (each part 256-byte aligned).
struct WsLayout {
    size_t keys, idx, boxes, cls, supp, misc, keep, mask, per_image;
    int32_t kmax; // most candidates considered (min(top_k, n_rows))
    int use_mask;
};

static int32_t kmax_of(int32_t n_rows, int32_t top_k) { return (top_k > 0 && top_k < n_rows) ? top_k : n_rows; }

// 64-bit words of the triangular mask for nb column blocks: 64 rows per block, row block rb
// keeps nb - rb words.
static __host__ __device__ __forceinline__ int64_t tri_words(int64_t nb) { return 64 * (nb * (nb + 1) / 2); }

// First word of row i (block rb = i / 64) in the triangular mask of nb blocks.
static __device__ __forceinline__ int64_t row_off(int32_t i, int32_t nb) {
    int64_t rb = i >> 6;
    return 64 * (rb * nb - rb * (rb - 1) / 2) + (int64_t)(i & 63) * (nb - rb);
}

static WsLayout ws_layout(int32_t n_rows, int32_t top_k) {
    int64_t P = next_pow2(n_rows);
    WsLayout l;
    l.kmax = kmax_of(n_rows, top_k);
    l.use_mask = l.kmax <= NMS_MASK_MAX;
    int64_t nb = ((int64_t)l.kmax + 63) / 64;
    size_t o = 0;
    l.keys = o, o += align256(sizeof(float) * P);
    l.idx = o, o += align256(sizeof(int32_t) * P);
    l.boxes = o, o += align256(sizeof(float4) * n_rows);
    l.cls = o, o += align256(sizeof(int32_t) * n_rows);
    l.supp = o, o += l.use_mask ? 0 : align256(n_rows);
    l.misc = o, o += align256(sizeof(int32_t) * 4); // [0] K, [1] kept, [2] mwe blocks done
    l.keep = o, o += l.use_mask ? align256(sizeof(int32_t) * l.kmax) : 0;
    l.mask = o, o += l.use_mask ? align256(sizeof(uint64_t) * (size_t)tri_words(nb)) : 0;
    l.per_image = o;
    return l;
}

extern "C" size_t ks__nms_cuda_ws_bytes(int32_t batch, int32_t n_rows, int32_t top_k) {
    return ws_layout(n_rows, top_k).per_image * (size_t)batch;
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
    int32_t sort_mode; // 0: rank counting spread over the block; 1: bitonic in shared memory; 2: rank counting,
                       // one or two candidates per thread (the fifth session's form). KESTREL_NMS_SORT (A/B)
    const float *boxes, *scores, *landmarks;
    const int32_t *classes;
    int32_t *counts;
    float *oboxes, *oscores, *olandmarks;
    int32_t *oclasses, *oindices;
    const ks_affine *transforms;
    char *ws;
    WsLayout L;
};

struct NmsSmem {
    float key[NMS_SMEM_SORT];
    int32_t idx[NMS_SMEM_SORT];
    int32_t warp[NMS_THREADS / 32];
    int32_t total;
};

// Sorted position t of image b's candidates: score key, row r, its box and class.
static __device__ __forceinline__ void put_sorted(float *g_key, int32_t *g_idx, float4 *sbox, int32_t *scls,
                                                  const float *bx, const int32_t *cl, int t, float key, int32_t r) {
    g_key[t] = key, g_idx[t] = r;
    sbox[t] = make_float4(bx[(size_t)r * 4], bx[(size_t)r * 4 + 1], bx[(size_t)r * 4 + 2], bx[(size_t)r * 4 + 3]);
    scls[t] = cl[r];
}

// Step 1 of one image (one block): compaction, sort, gather. Returns K (block-uniform).
// Survivors <= NMS_RANK_MAX (and <= 2 * blockDim) are sorted by rank counting, more by bitonic sort.
static __device__ int compact_sort_gather(const NmsArgs &a, int b, NmsSmem &s) {
    const int tid = threadIdx.x, N = a.n_rows, T = blockDim.x;
    char *ws = a.ws + (size_t)b * a.L.per_image;
    float *g_key = (float *)(ws + a.L.keys);
    int32_t *g_idx = (int32_t *)(ws + a.L.idx);
    float4 *sbox = (float4 *)(ws + a.L.boxes);
    int32_t *scls = (int32_t *)(ws + a.L.cls);
    const float *sc = a.scores + (size_t)b * N;
    const float *bx = a.boxes + (size_t)b * N * 4;
    const int32_t *cl = a.classes + (size_t)b * N;

    // Compaction in row order: each warp owns a contiguous chunk of rows; it counts its passing
    // rows, the counts are prefix-summed once, then each warp writes its rows from its offset
    // (to shared memory when they all fit there). Two reads of the scores, two block barriers.
    const int lane = tid & 31, warp = tid >> 5, n_warps = T >> 5;
    const int per = (N + n_warps - 1) / n_warps;
    const int r0 = min(N, warp * per), r1 = min(N, r0 + per);
    // up to 32 iterations per warp: the pass flags stay in a register (bit `it` of `flags`),
    // so the second pass loads only the passing rows' scores
    const bool keep_flags = per <= 32 * 32;
    uint32_t flags = 0;
    int cnt = 0;
#pragma unroll 8
    for (int base = r0, it = 0; base < r1; base += 32, it++) {
        int r = base + lane;
        int flag = r < r1 && sc[r] > a.score_thr;
        flags |= (uint32_t)flag << (it & 31);
        cnt += __popc(__ballot_sync(0xffffffffu, flag));
    }
    if (lane == 0)
        s.warp[warp] = cnt;
    __syncthreads();
    if (tid == 0) {
        int acc = 0;
        for (int w = 0; w < n_warps; w++) {
            int c = s.warp[w];
            s.warp[w] = acc;
            acc += c;
        }
        s.total = acc;
    }
    __syncthreads();
    const int count = s.total;
    const bool in_smem = count <= NMS_SMEM_SORT;
    float *c_key = in_smem ? s.key : g_key;
    int32_t *c_idx = in_smem ? s.idx : g_idx;
    int pos = s.warp[warp];
    for (int base = r0, it = 0; base < r1; base += 32, it++) {
        int r = base + lane;
        int flag;
        if (keep_flags) {
            flag = (flags >> it) & 1u;
        } else {
            flag = r < r1 && sc[r] > a.score_thr;
        }
        unsigned ballot = __ballot_sync(0xffffffffu, flag);
        if (flag) {
            int at = pos + __popc(ballot & ((1u << lane) - 1u));
            c_key[at] = sc[r];
            c_idx[at] = r;
        }
        pos += __popc(ballot);
    }
    __syncthreads();
    const int K = (a.top_k > 0 && count > a.top_k) ? a.top_k : count;
    if (a.sort_mode == 0 && count <= T / 2) {
        // rank counting with G = T / count (a power of two, <= 32) threads per candidate: thread part p of
        // candidate t counts the candidates j = p, p + G, ... that sort before t, and the group's lanes (one
        // warp) sum their counts. Every thread of the block works, instead of `count` threads scanning all
        // `count` keys each (n^2 comparisons either way; here spread over the whole block).
        int G = 1;
        while (G < 32 && count * (G * 2) <= T)
            G *= 2;
        const int t = tid / G, part = tid & (G - 1);
        const bool v = t < count;
        const float kt = v ? s.key[t] : 0.0f;
        const int32_t it = v ? s.idx[t] : 0;
        int rk = 0;
        if (v)
            for (int j = part; j < count; j += G)
                rk += ks_v_before(s.key[j], s.idx[j], kt, it);
        for (int o = G >> 1; o > 0; o >>= 1)
            rk += __shfl_xor_sync(0xffffffffu, rk, o);
        if (v && part == 0 && rk < K)
            put_sorted(g_key, g_idx, sbox, scls, bx, cl, rk, kt, it);
        __syncthreads();
        return K;
    }
    if (a.sort_mode != 1 && count <= NMS_RANK_MAX && count <= 2 * T) {
        // rank of candidate t = how many candidates sort before it (keys in shared memory,
        // read by every thread at the same address: broadcasts); it lands at its rank directly
        const int t0 = tid, t1 = tid + T;
        const bool v0 = t0 < count, v1 = t1 < count;
        const float k0 = v0 ? s.key[t0] : 0.0f, k1 = v1 ? s.key[t1] : 0.0f;
        const int32_t i0 = v0 ? s.idx[t0] : 0, i1 = v1 ? s.idx[t1] : 0;
        int rk0 = 0, rk1 = 0;
        if (v0) {
            for (int j = 0; j < count; j++) {
                float kj = s.key[j];
                int32_t ij = s.idx[j];
                rk0 += ks_v_before(kj, ij, k0, i0);
                rk1 += v1 && ks_v_before(kj, ij, k1, i1);
            }
        }
        if (v0 && rk0 < K)
            put_sorted(g_key, g_idx, sbox, scls, bx, cl, rk0, k0, i0);
        if (v1 && rk1 < K)
            put_sorted(g_key, g_idx, sbox, scls, bx, cl, rk1, k1, i1);
        __syncthreads();
        return K;
    }
    int P = 1;
    while (P < count)
        P <<= 1;
    if (count > 1) {
        if (in_smem) {
            for (int t = count + tid; t < P; t += T)
                s.key[t] = -FLT_MAX, s.idx[t] = INT32_MAX;
            __syncthreads();
            bitonic(s.key, s.idx, P);
        } else {
            for (int t = count + tid; t < P; t += T)
                g_key[t] = -FLT_MAX, g_idx[t] = INT32_MAX;
            __syncthreads();
            bitonic(g_key, g_idx, P);
        }
    }
    __syncthreads();
    for (int t = tid; t < K; t += T)
        put_sorted(g_key, g_idx, sbox, scls, bx, cl, t, c_key[t], c_idx[t]);
    __syncthreads();
    return K;
}

// Writes kept candidate `pos` (sorted position) of image b as output slot k.
static __device__ void emit_one(const NmsArgs &a, int b, int k, int pos) {
    const char *ws = a.ws + (size_t)b * a.L.per_image;
    const float *g_key = (const float *)(ws + a.L.keys);
    const int32_t *g_idx = (const int32_t *)(ws + a.L.idx);
    const float4 *sbox = (const float4 *)(ws + a.L.boxes);
    const int32_t *scls = (const int32_t *)(ws + a.L.cls);
    const float *m = a.transforms ? a.transforms[b].m : NULL;
    const int M = a.max_out, N = a.n_rows;
    int r = g_idx[pos];
    float4 bi = sbox[pos];
    size_t o = (size_t)b * M + k;
    float box[4] = {bi.x, bi.y, bi.z, bi.w};
    ks_v_map_box(m, box);
    for (int q = 0; q < 4; q++)
        a.oboxes[o * 4 + q] = box[q];
    a.oscores[o] = g_key[pos];
    a.oclasses[o] = scls[pos];
    if (a.oindices)
        a.oindices[o] = r;
    if (a.n_lm_out && a.n_lm_in) {
        const float *src = a.landmarks + ((size_t)b * N + r) * 2 * a.n_lm_in;
        for (int q = 0; q < a.n_lm_out; q++) {
            float pt[2] = {src[2 * q], src[2 * q + 1]};
            ks_v_map_point(m, pt);
            a.olandmarks[o * 2 * a.n_lm_out + 2 * q] = pt[0];
            a.olandmarks[o * 2 * a.n_lm_out + 2 * q + 1] = pt[1];
        }
    }
}

static __device__ void zero_one(const NmsArgs &a, int b, int k) {
    size_t o = (size_t)b * a.max_out + k;
    a.oboxes[o * 4] = a.oboxes[o * 4 + 1] = a.oboxes[o * 4 + 2] = a.oboxes[o * 4 + 3] = 0.0f;
    a.oscores[o] = 0.0f;
    a.oclasses[o] = 0;
    if (a.oindices)
        a.oindices[o] = 0;
    for (int q = 0; q < 2 * a.n_lm_out; q++)
        a.olandmarks[o * 2 * a.n_lm_out + q] = 0.0f;
}

// ------------------------------------------------------------------ bitmask path

static __global__ void __launch_bounds__(NMS_THREADS) sort_kernel(const NmsArgs a) {
    __shared__ NmsSmem s;
    const int b = blockIdx.x;
    int K = compact_sort_gather(a, b, s);
    if (threadIdx.x == 0) {
        int32_t *misc = (int32_t *)(a.ws + (size_t)b * a.L.per_image + a.L.misc);
        misc[0] = K;
        misc[2] = 0; // mwe_kernel's ticket for this image, zeroed before every run
    }
}

// Tile t (row block rb <= column block cb, row-block-major) of nb blocks.
static __device__ __forceinline__ void tile_of(int t, int nb, int &rb, int &cb) {
    // off(r) = r * nb - r * (r - 1) / 2 tiles before row block r
    float h = (float)nb + 0.5f;
    int r = (int)(h - sqrtf(fmaxf(h * h - 2.0f * (float)t, 0.0f)));
    if (r < 0)
        r = 0;
    if (r > nb - 1)
        r = nb - 1;
    while (r > 0 && r * nb - r * (r - 1) / 2 > t)
        r--;
    while (r + 1 < nb && (r + 1) * nb - (r + 1) * r / 2 <= t)
        r++;
    rb = r;
    cb = r + (t - (r * nb - r * (r - 1) / 2));
}


// ------------------------------------------------------------------ mask + walk + emit (one launch)

// L2 read (the mask words come from other blocks of the same launch)
static __device__ __forceinline__ uint64_t ldcg64(const uint64_t *p) {
    return (uint64_t)__ldcg((const unsigned long long *)p);
}

// IoU bits of candidate rows i (this thread: rb * 64 + r) against the 64 columns of block cb.
static __device__ __forceinline__ uint64_t mask_word(const NmsArgs &a, const float4 *col_box, const int32_t *col_cls,
                                                      float4 bi4, int ci, int r, int rb, int cb, int K) {
    float bi[4] = {bi4.x, bi4.y, bi4.z, bi4.w};
    int n_col = min(64, K - cb * 64);
    uint64_t bits = 0;
    for (int c = rb == cb ? r + 1 : 0; c < n_col; c++) {
        if (a.class_aware && col_cls[c] != ci)
            continue;
        float4 g = col_box[c];
        float bj[4] = {g.x, g.y, g.z, g.w};
        if (ks_v_iou(bi, bj) > a.iou_thr)
            bits |= 1ull << c;
    }
    return bits;
}

static __global__ void __launch_bounds__(NMS_MWE_THREADS) mwe_kernel(const NmsArgs a) {
    __shared__ float4 s_box[NMS_MWE_THREADS / 64][64];
    __shared__ int32_t s_cls[NMS_MWE_THREADS / 64][64];
    __shared__ uint64_t remv[NMS_MASK_BLOCKS];
    __shared__ uint64_t s_m[NMS_SMEM_MASK];
    __shared__ int32_t s_rows[64];
    __shared__ int s_last, s_nk, s_kept;
    const int b = blockIdx.y, tid = threadIdx.x, g = tid >> 6, r = tid & 63;
    const int G = NMS_MWE_THREADS / 64;
    char *ws = a.ws + (size_t)b * a.L.per_image;
    const float4 *sbox = (const float4 *)(ws + a.L.boxes);
    const int32_t *scls = (const int32_t *)(ws + a.L.cls);
    uint64_t *mask = (uint64_t *)(ws + a.L.mask);
    int32_t *misc = (int32_t *)(ws + a.L.misc);
    int32_t *keep = (int32_t *)(ws + a.L.keep);
    const int K = misc[0], nb = (K + 63) >> 6, tiles = nb * (nb + 1) / 2;

    // 1. mask tiles, G at a time per block (64 threads each: one row per thread)
    for (int t0 = blockIdx.x * G; t0 < tiles; t0 += gridDim.x * G) {
        int t = t0 + g, rb = 0, cb = 0;
        if (t < tiles) {
            tile_of(t, nb, rb, cb);
            int j = cb * 64 + r;
            if (j < K)
                s_box[g][r] = sbox[j], s_cls[g][r] = scls[j];
        }
        __syncthreads();
        int i = rb * 64 + r;
        if (t < tiles && i < K)
            mask[row_off(i, nb) + (cb - rb)] = mask_word(a, s_box[g], s_cls[g], sbox[i], scls[i], r, rb, cb, K);
        __syncthreads();
    }

    // 2. the last block of this image to get here walks and emits
    __threadfence();
    __syncthreads();
    if (tid == 0)
        s_last = atomicAdd(&misc[2], 1) == (int)(gridDim.x - 1);
    __syncthreads();
    if (!s_last)
        return;
    __threadfence();
    const int M = a.max_out;
    // the walk reads the mask from shared memory: all of it when it fits, else the diagonal words
    const bool full = tri_words(nb) <= NMS_SMEM_MASK, diag_smem = !full && K <= NMS_SMEM_MASK;
    for (int w = tid; w < nb; w += blockDim.x)
        remv[w] = 0;
    if (full)
        for (int i = tid; i < (int)tri_words(nb); i += blockDim.x)
            s_m[i] = ldcg64(mask + i);
    else if (diag_smem)
        for (int i = tid; i < K; i += blockDim.x)
            s_m[i] = ldcg64(mask + row_off(i, nb));
    __syncthreads();
    int kept = 0;
    for (int cb = 0; cb < nb && kept < M; cb++) {
        if (tid < 32) {
            const int lane = tid, r0 = cb * 64 + lane, r1 = r0 + 32;
            uint64_t d0 = 0ull, d1 = 0ull;
            if (full) {
                d0 = r0 < K ? s_m[row_off(r0, nb)] : 0ull;
                d1 = r1 < K ? s_m[row_off(r1, nb)] : 0ull;
            } else {
                d0 = r0 < K ? (diag_smem ? s_m[r0] : ldcg64(mask + row_off(r0, nb))) : 0ull;
                d1 = r1 < K ? (diag_smem ? s_m[r1] : ldcg64(mask + row_off(r1, nb))) : 0ull;
            }
            uint64_t cur = remv[cb];
            int n_valid = min(64, K - cb * 64);
            uint64_t valid = n_valid == 64 ? ~0ull : ((1ull << n_valid) - 1ull);
            uint64_t avail = ~cur & valid, kmask = 0;
            int nk = 0;
            while (avail && kept + nk < M) { // warp-uniform
                int i = __ffsll((long long)avail) - 1;
                kmask |= 1ull << i;
                nk++;
                uint64_t di = __shfl_sync(0xffffffffu, i < 32 ? d0 : d1, i & 31);
                cur |= di;
                avail = i == 63 ? 0ull : (~cur & valid & (~0ull << (i + 1)));
            }
            if ((kmask >> lane) & 1ull) {
                int at = __popcll(kmask & ((1ull << lane) - 1ull));
                keep[kept + at] = cb * 64 + lane;
                s_rows[at] = lane;
            }
            if ((kmask >> (lane + 32)) & 1ull) {
                int at = __popcll(kmask & ((1ull << (lane + 32)) - 1ull));
                keep[kept + at] = cb * 64 + 32 + lane;
                s_rows[at] = lane + 32;
            }
            if (lane == 0)
                s_nk = nk;
        }
        __syncthreads();
        const int nk = s_nk;
        kept += nk;
        // the kept rows' words for the later column blocks, all in one parallel round
        const int nw = nb - cb - 1;
        if (nk && kept < M && nw > 0) {
            for (int e = tid; e < nk * nw; e += blockDim.x) {
                int q = e / nw, w = e - q * nw;
                int64_t o = row_off(cb * 64 + s_rows[q], nb) + 1 + w;
                uint64_t x = full ? s_m[o] : ldcg64(mask + o);
                if (x)
                    atomicOr((unsigned long long *)&remv[cb + 1 + w], (unsigned long long)x);
            }
        }
        __syncthreads();
    }
    if (tid == 0) {
        s_kept = kept;
        misc[1] = kept;
        a.counts[b] = kept;
    }
    __syncthreads();
    for (int k = tid; k < M; k += blockDim.x) {
        if (k < s_kept)
            emit_one(a, b, k, keep[k]);
        else
            zero_one(a, b, k);
    }
}

// ------------------------------------------------------------------ sweep path (large K)

static __global__ void __launch_bounds__(NMS_THREADS) sweep_kernel(const NmsArgs a) {
    __shared__ NmsSmem s;
    const int b = blockIdx.x, tid = threadIdx.x;
    char *ws = a.ws + (size_t)b * a.L.per_image;
    const float4 *sbox = (const float4 *)(ws + a.L.boxes);
    const int32_t *scls = (const int32_t *)(ws + a.L.cls);
    uint8_t *supp = (uint8_t *)(ws + a.L.supp);
    const int M = a.max_out;
    for (int k = tid; k < M; k += blockDim.x)
        zero_one(a, b, k);
    const int K = compact_sort_gather(a, b, s);
    for (int t = tid; t < K; t += blockDim.x)
        supp[t] = 0;
    __syncthreads();
    int kept = 0;
    for (int i = 0; i < K && kept < M; i++) {
        __syncthreads();
        if (supp[i])
            continue;
        float4 bi = sbox[i];
        int ci = scls[i];
        if (tid == 0)
            emit_one(a, b, kept, i);
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

// KESTREL_NMS_SORT: rank (default) | bitonic | rank1, read once (same-binary A/B across processes), as the
// backend's other launch-time knobs (ks__cu_fast_off)
static int nms_sort_state = -1;
static int nms_sort_mode(void) {
    if (nms_sort_state < 0) { /* benign race: every thread computes the same value */
        const char *sm = getenv("KESTREL_NMS_SORT");
        nms_sort_state = sm && !strcmp(sm, "bitonic") ? 1 : sm && !strcmp(sm, "rank1") ? 2 : 0;
    }
    return nms_sort_state;
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
    a.sort_mode = nms_sort_mode();
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
    a.L = ws_layout(p->n_rows, p->top_k);
    cudaStream_t st = (cudaStream_t)stream;
    const int B = p->batch;
    if (a.L.use_mask) {
        sort_kernel<<<B, NMS_THREADS, 0, st>>>(a);
        // a fixed grid (tiles are walked grid-stride): K is only known on the device
        int nb = (a.L.kmax + 63) / 64, tiles = nb * (nb + 1) / 2;
        int gx = (tiles + 3) / 4, cap = B >= 64 ? 2 : 128 / B;
        if (gx > cap)
            gx = cap;
        if (gx < 1)
            gx = 1;
        mwe_kernel<<<dim3((unsigned)gx, (unsigned)B), NMS_MWE_THREADS, 0, st>>>(a);
    } else {
        sweep_kernel<<<B, NMS_THREADS, 0, st>>>(a);
    }
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        *msg = cudaGetErrorString(e);
        return (int)e;
    }
    return 0;
}
