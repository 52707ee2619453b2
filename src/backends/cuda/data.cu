// Data movement: strided N-d copy (transpose, slice, pad), concat, gather,
// dtype casts, random fill for timing buffers.
#include <stdlib.h>
#include <type_traits>
#include "backends/cuda/common.cuh"
#include "backends/cuda/fastdiv.cuh"

namespace {

template <int B> struct Elem;
template <> struct Elem<1> { typedef uint8_t t; };
template <> struct Elem<2> { typedef uint16_t t; };
template <> struct Elem<4> { typedef uint32_t t; };
template <> struct Elem<8> { typedef uint64_t t; };
template <> struct Elem<16> { typedef uint4 t; };

template <int B>
__global__ void nd_copy_k(const __grid_constant__ ks_nd_args p, int64_t total) {
    ks_pdl_wait();
    typedef typename Elem<B>::t E;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int64_t t = i, off = p.in_offset;
    bool inside = true;
    for (int d = p.rank - 1; d >= 0; d--) {
        int64_t c = t % p.odims[d];
        t /= p.odims[d];
        if (p.pad_mode >= 0) {
            int64_t s = c - p.pad_before[d], n = p.idims[d];
            if (s < 0 || s >= n) {
                if (p.pad_mode == KS_ENG_PAD_CONSTANT) inside = false;
                else if (p.pad_mode == KS_ENG_PAD_EDGE) s = s < 0 ? 0 : n - 1;
                else { /* reflect */
                    if (n == 1) s = 0;
                    else {
                        int64_t per = 2 * (n - 1);
                        s = s % per; if (s < 0) s += per;
                        if (s >= n) s = per - s;
                    }
                }
            }
            c = s;
        }
        off += c * p.in_strides[d];
    }
    E v;
    if (inside) v = ((const E *)p.x)[off];
    else v = (E)p.pad_value;
    ((E *)p.y)[i] = v;
}

template <int B>
__global__ void concat_k(const __grid_constant__ ks_concat_args p, int64_t total_elems) {
    ks_pdl_wait();
    typedef typename Elem<B>::t E;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total_elems) return;
    int64_t row_e = p.total / B;
    int64_t o = i / row_e, c = (i - o * row_e) * B;
    int k = 0;
    while (k < p.n_in - 1 && c >= p.extent[k]) { c -= p.extent[k]; k++; }
    const E *src = (const E *)p.in[k] + (o * p.extent[k] + c) / B;
    ((E *)p.y)[i] = *src;
}

template <int B>
__global__ void gather_k(const uint8_t *x, const int32_t *idx, uint8_t *y, int64_t outer,
                         int64_t axis, int64_t inner_e, int64_t n_idx) {
    ks_pdl_wait();
    typedef typename Elem<B>::t E;
    int64_t total = outer * n_idx * inner_e;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int64_t in = i % inner_e, t = i / inner_e;
    int64_t j = t % n_idx, o = t / n_idx;
    ((E *)y)[i] = ((const E *)x)[(o * axis + idx[j]) * inner_e + in];
}

template <typename D> __device__ __forceinline__ D from_f(double v) { return (D)v; }
template <> __device__ __forceinline__ __half from_f<__half>(double v) { return __float2half_rn((float)v); }
template <> __device__ __forceinline__ uint8_t from_f<uint8_t>(double v) { return v != v ? 0 : (uint8_t)fmin(fmax(v, 0.0), 255.0); }
template <> __device__ __forceinline__ int8_t from_f<int8_t>(double v) { return v != v ? 0 : (int8_t)fmin(fmax(v, -128.0), 127.0); }
template <> __device__ __forceinline__ int32_t from_f<int32_t>(double v) { return v != v ? 0 : (int32_t)fmin(fmax(v, -2147483648.0), 2147483647.0); }
template <> __device__ __forceinline__ int64_t from_f<int64_t>(double v) { return v != v ? 0 : (int64_t)fmin(fmax(v, -9.2e18), 9.2e18); }

template <typename S> __device__ __forceinline__ double to_d(S v) { return (double)v; }
template <> __device__ __forceinline__ double to_d<__half>(__half v) { return (double)__half2float(v); }

template <typename S, typename D>
__global__ void cast_k(const S *x, D *y, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = from_f<D>(to_d<S>(x[i]));
}
template <typename S>
__global__ void cast_bool_k(const S *x, uint8_t *y, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = to_d<S>(x[i]) != 0.0;
}

__global__ void fill_k(void *p, int64_t n, int half, float lo, float hi, uint32_t seed) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    uint32_t h = (uint32_t)i * 2654435761u ^ seed;
    h ^= h >> 16; h *= 0x7feb352du; h ^= h >> 15; h *= 0x846ca68bu; h ^= h >> 16;
    float v = lo + (hi - lo) * (h >> 8) * (1.f / 16777216.f);
    if (half) ((__half *)p)[i] = __float2half_rn(v);
    else ((float *)p)[i] = v;
}

template <typename S>
int cast_from(const S *x, void *y, int dst, int64_t n, cudaStream_t s) {
    unsigned b = ks_blocks(n, 256);
    switch (dst) {
    case KS_DTYPE_FLOAT32: cast_k<S, float><<<b, 256, 0, s>>>(x, (float *)y, n); break;
    case KS_DTYPE_FLOAT16: cast_k<S, __half><<<b, 256, 0, s>>>(x, (__half *)y, n); break;
    case KS_DTYPE_INT32: cast_k<S, int32_t><<<b, 256, 0, s>>>(x, (int32_t *)y, n); break;
    case KS_DTYPE_INT64: cast_k<S, int64_t><<<b, 256, 0, s>>>(x, (int64_t *)y, n); break;
    case KS_DTYPE_INT8: cast_k<S, int8_t><<<b, 256, 0, s>>>(x, (int8_t *)y, n); break;
    case KS_DTYPE_UINT8: cast_k<S, uint8_t><<<b, 256, 0, s>>>(x, (uint8_t *)y, n); break;
    case KS_DTYPE_BOOL: cast_bool_k<S><<<b, 256, 0, s>>>(x, (uint8_t *)y, n); break;
    default: return (int)cudaErrorInvalidValue;
    }
    return 0;
}

// ---- 32-bit fast paths (every index and offset below 2^31) ----

struct Nd32 {
    const void *x; void *y;
    int rank;
    ks_fdiv od[6];
    int32_t st[6];
    int32_t in_offset;
    int32_t idims[6], pad_before[6];
    int pad_mode;
    uint64_t pad_value;
};

// One element of B bytes per thread (B up to 16 after widening the innermost run).
template <int B, bool PAD>
__device__ __forceinline__ typename Elem<B>::t nd32_load(const Nd32 &p, uint32_t i) {
    typedef typename Elem<B>::t E;
    uint32_t t = i;
    int32_t off = p.in_offset;
    bool inside = true;
#pragma unroll
    for (int d = 5; d >= 0; d--) {
        if (d >= p.rank) continue;
        uint32_t q = ks_fdiv_q(p.od[d], t);
        int32_t c = (int32_t)(t - q * p.od[d].d);
        t = q;
        if (PAD) {
            int32_t sc = c - p.pad_before[d], n = p.idims[d];
            if (sc < 0 || sc >= n) {
                if (p.pad_mode == KS_ENG_PAD_CONSTANT) inside = false;
                else if (p.pad_mode == KS_ENG_PAD_EDGE) sc = sc < 0 ? 0 : n - 1;
                else {
                    if (n == 1) sc = 0;
                    else {
                        int32_t per = 2 * (n - 1);
                        sc %= per; if (sc < 0) sc += per;
                        if (sc >= n) sc = per - sc;
                    }
                }
            }
            c = sc;
        }
        off += c * p.st[d];
    }
    E v;
    if (!PAD || inside) v = ((const E *)p.x)[off];
    else if constexpr (B <= 8) v = (E)p.pad_value;
    return v;
}

// ND32_ILP elements per thread (blockDim apart, loads issued before stores:
// more bytes in flight for 1- and 2-byte elements).
#define ND32_ILP 4
template <int B, bool PAD>
__global__ void __launch_bounds__(256) nd32_k(const __grid_constant__ Nd32 p, uint32_t total) {
    ks_pdl_wait();
    typedef typename Elem<B>::t E;
    uint32_t i0 = blockIdx.x * blockDim.x * ND32_ILP + threadIdx.x;
    E v[ND32_ILP];
#pragma unroll
    for (int j = 0; j < ND32_ILP; j++) {
        uint32_t i = i0 + j * blockDim.x;
        if (i < total) v[j] = nd32_load<B, PAD>(p, i);
    }
#pragma unroll
    for (int j = 0; j < ND32_ILP; j++) {
        uint32_t i = i0 + j * blockDim.x;
        if (i < total) ((E *)p.y)[i] = v[j];
    }
}

// Batched 2-d transpose through a 32x33 shared tile: output dim Q (the
// innermost, input stride sq) and output dim P (input stride 1, output stride
// op); the other dims are batch dims decoded once per thread.
struct TrP {
    const void *x; void *y;
    uint32_t Q, P, sq, op, ntq, ntp;
    int nb;
    ks_fdiv bd[4];
    uint32_t bst_in[4], bst_out[4];
};

template <int B>
__global__ void __launch_bounds__(256) transpose_tile_k(const __grid_constant__ TrP p) {
    ks_pdl_wait();
    typedef typename Elem<B>::t E;
    typedef typename std::conditional<B == 8, uint64_t, typename std::conditional<B == 2, uint16_t, uint32_t>::type>::type S;
    __shared__ S tile[32][33];
    uint32_t bid = blockIdx.x;
    uint32_t tq = bid % p.ntq; bid /= p.ntq;
    uint32_t tp = bid % p.ntp; bid /= p.ntp;
    uint32_t ib = 0, ob = 0;
    for (int d = p.nb - 1; d >= 0; d--) {
        uint32_t q = ks_fdiv_q(p.bd[d], bid), c = bid - q * p.bd[d].d;
        bid = q;
        ib += c * p.bst_in[d];
        ob += c * p.bst_out[d];
    }
    const E *x = (const E *)p.x + ib;
    E *y = (E *)p.y + ob;
    uint32_t q0 = tq * 32, p0 = tp * 32, tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
#pragma unroll
    for (uint32_t j = ty; j < 32; j += 8) {
        uint32_t q = q0 + j, pp = p0 + tx;
        if (q < p.Q && pp < p.P) tile[j][tx] = (S)x[q * p.sq + pp];
    }
    __syncthreads();
#pragma unroll
    for (uint32_t j = ty; j < 32; j += 8) {
        uint32_t pp = p0 + j, q = q0 + tx;
        if (q < p.Q && pp < p.P) y[pp * p.op + q] = (E)tile[tx][j];
    }
}

// Concat in output order (coalesced stores): output element i is row
// i / row, column c = i % row, taken from the input whose column range holds c.
struct Cat32 {
    const void *in[8];
    void *y;
    uint32_t ext[8], dst_off[8];
    int n_in;
    ks_fdiv row;
};

template <int B>
__global__ void __launch_bounds__(256) concat32_k(const __grid_constant__ Cat32 p, uint32_t total) {
    ks_pdl_wait();
    typedef typename Elem<B>::t E;
    uint32_t i0 = blockIdx.x * blockDim.x * ND32_ILP + threadIdx.x;
    E v[ND32_ILP];
#pragma unroll
    for (int j = 0; j < ND32_ILP; j++) {
        uint32_t i = i0 + j * blockDim.x;
        if (i >= total) continue;
        uint32_t o = ks_fdiv_q(p.row, i), c = i - o * p.row.d;
        int k = 0;
#pragma unroll
        for (int q = 1; q < 8; q++)
            if (q < p.n_in && c >= p.dst_off[q]) k = q;
        v[j] = ((const E *)p.in[k])[o * p.ext[k] + c - p.dst_off[k]];
    }
#pragma unroll
    for (int j = 0; j < ND32_ILP; j++) {
        uint32_t i = i0 + j * blockDim.x;
        if (i < total) ((E *)p.y)[i] = v[j];
    }
}

// float <-> half casts, 4 elements per thread (16- and 8-byte accesses).
__global__ void __launch_bounds__(256) cast_f2h_k(const float *x, __half *y, int64_t n) {
    int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 4;
    if (i + 4 <= n) {
        float4 v = __ldg((const float4 *)(x + i));
        __half2 a = __floats2half2_rn(v.x, v.y), b = __floats2half2_rn(v.z, v.w);
        uint2 u;
        u.x = *(uint32_t *)&a;
        u.y = *(uint32_t *)&b;
        *(uint2 *)(y + i) = u;
    } else {
        for (; i < n; i++) y[i] = __float2half_rn(x[i]);
    }
}
__global__ void __launch_bounds__(256) cast_h2f_k(const __half *x, float *y, int64_t n) {
    int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 4;
    if (i + 4 <= n) {
        uint2 u = __ldg((const uint2 *)(x + i));
        float2 a = __half22float2(*(__half2 *)&u.x), b = __half22float2(*(__half2 *)&u.y);
        *(float4 *)(y + i) = make_float4(a.x, a.y, b.x, b.y);
    } else {
        for (; i < n; i++) y[i] = __half2float(x[i]);
    }
}

static int nd_fast(const ks_nd_args *a, int eb, int64_t total, cudaStream_t s) {
    const int64_t LIM = (int64_t)1 << 31;
    if (total >= LIM || a->rank < 1 || a->rank > 6) return 1;
    Nd32 p;
    memset(&p, 0, sizeof p);
    p.x = a->x; p.y = a->y;
    p.pad_mode = a->pad_mode;
    p.pad_value = a->pad_value;
    if (a->pad_mode >= 0) {
        int64_t in_n = 1;
        for (int d = 0; d < a->rank; d++) {
            in_n *= a->idims[d];
            if (a->pad_before[d] > LIM / 2 || a->pad_before[d] < -LIM / 2) return 1;
        }
        if (in_n >= LIM || a->in_offset != 0) return 1;
        p.rank = a->rank;
        for (int d = 0; d < a->rank; d++) {
            p.od[d] = ks_fdiv_make((uint32_t)a->odims[d]);
            p.st[d] = (int32_t)a->in_strides[d];
            p.idims[d] = (int32_t)a->idims[d];
            p.pad_before[d] = (int32_t)a->pad_before[d];
        }
        unsigned g = ks_blocks((total + ND32_ILP - 1) / ND32_ILP, 256);
        switch (eb) {
        case 1: return ks_launch(nd32_k<1, true>, dim3(g), dim3(256), s, p, (uint32_t)total), 0;
        case 2: return ks_launch(nd32_k<2, true>, dim3(g), dim3(256), s, p, (uint32_t)total), 0;
        case 4: return ks_launch(nd32_k<4, true>, dim3(g), dim3(256), s, p, (uint32_t)total), 0;
        case 8: return ks_launch(nd32_k<8, true>, dim3(g), dim3(256), s, p, (uint32_t)total), 0;
        default: return 1;
        }
    }
    // transpose / slice: drop size-1 dims, merge dims contiguous in the input
    int64_t od[6], st[6], off = a->in_offset;
    int r = 0;
    for (int d = 0; d < a->rank; d++) {
        if (a->odims[d] == 1) continue;
        if (r > 0 && st[r - 1] == a->in_strides[d] * a->odims[d]) {
            od[r - 1] *= a->odims[d];
            st[r - 1] = a->in_strides[d];
            continue;
        }
        od[r] = a->odims[d];
        st[r] = a->in_strides[d];
        r++;
    }
    if (r == 0) { od[0] = 1; st[0] = 1; r = 1; }
    // largest input offset reached (|.| bound) must fit in int32
    int64_t hi = off, lo = off;
    for (int d = 0; d < r; d++) {
        int64_t e = st[d] * (od[d] - 1);
        if (e > 0) hi += e; else lo += e;
    }
    if (hi >= LIM || lo < 0) return 1;
    // transpose: innermost output dim strided, some other dim contiguous in the input
    // (innermost under 16: the generic kernel reads few interleaved streams, coalesced enough)
    int pd = -1;
    for (int d = 0; d < r - 1; d++)
        if (st[d] == 1) pd = d;
    if (st[r - 1] != 1 && pd >= 0 && r - 2 <= 4 && eb <= 8 && od[r - 1] >= 16) {
        TrP t;
        memset(&t, 0, sizeof t);
        int64_t ost[6], c = 1;
        for (int d = r - 1; d >= 0; d--) { ost[d] = c; c *= od[d]; }
        t.x = (const uint8_t *)a->x + off * eb;
        t.y = a->y;
        t.Q = (uint32_t)od[r - 1]; t.sq = (uint32_t)st[r - 1];
        t.P = (uint32_t)od[pd]; t.op = (uint32_t)ost[pd];
        t.ntq = (t.Q + 31) / 32; t.ntp = (t.P + 31) / 32;
        int64_t nbk = 1;
        for (int d = 0; d < r - 1; d++) {
            if (d == pd) continue;
            if (st[d] < 0) return 1;
            t.bd[t.nb] = ks_fdiv_make((uint32_t)od[d]);
            t.bst_in[t.nb] = (uint32_t)st[d];
            t.bst_out[t.nb] = (uint32_t)ost[d];
            t.nb++;
            nbk *= od[d];
        }
        if (st[r - 1] < 0) return 1;
        int64_t blocks = nbk * t.ntq * t.ntp;
        if (blocks < LIM) {
            dim3 g((unsigned)blocks);
            switch (eb) {
            case 1: ks_launch(transpose_tile_k<1>, g, dim3(256), s, t); return 0;
            case 2: ks_launch(transpose_tile_k<2>, g, dim3(256), s, t); return 0;
            case 4: ks_launch(transpose_tile_k<4>, g, dim3(256), s, t); return 0;
            case 8: ks_launch(transpose_tile_k<8>, g, dim3(256), s, t); return 0;
            default: break;
            }
        }
    }
    // contiguous innermost run: widen the element to up to 16 bytes
    int B = eb;
    if (st[r - 1] == 1) {
        int V = 16 / eb;
        for (; V > 1; V >>= 1) {
            int ok = od[r - 1] % V == 0 && off % V == 0 && ((uintptr_t)a->x % (V * eb)) == 0 &&
                     ((uintptr_t)a->y % (V * eb)) == 0;
            for (int d = 0; d < r - 1 && ok; d++)
                if (st[d] % V) ok = 0;
            if (ok) break;
        }
        if (V > 1) {
            od[r - 1] /= V;
            for (int d = 0; d < r - 1; d++) st[d] /= V;
            off /= V;
            total /= V;
            B = eb * V;
        }
    }
    p.rank = r;
    p.in_offset = (int32_t)off;
    for (int d = 0; d < r; d++) {
        p.od[d] = ks_fdiv_make((uint32_t)od[d]);
        p.st[d] = (int32_t)st[d];
    }
    dim3 g(ks_blocks((total + ND32_ILP - 1) / ND32_ILP, 256));
    switch (B) {
    case 1: ks_launch(nd32_k<1, false>, g, dim3(256), s, p, (uint32_t)total); return 0;
    case 2: ks_launch(nd32_k<2, false>, g, dim3(256), s, p, (uint32_t)total); return 0;
    case 4: ks_launch(nd32_k<4, false>, g, dim3(256), s, p, (uint32_t)total); return 0;
    case 8: ks_launch(nd32_k<8, false>, g, dim3(256), s, p, (uint32_t)total); return 0;
    case 16: ks_launch(nd32_k<16, false>, g, dim3(256), s, p, (uint32_t)total); return 0;
    default: return 1;
    }
}

static int concat_fast(const ks_concat_args *a, int B, cudaStream_t s) {
    const int64_t LIM = (int64_t)1 << 31;
    int64_t total = a->outer * a->total / B;
    if (a->n_in < 1 || a->n_in > 8 || total >= LIM || a->total / B < 1) return 1;
    Cat32 p;
    memset(&p, 0, sizeof p);
    p.y = a->y;
    p.n_in = a->n_in;
    p.row = ks_fdiv_make((uint32_t)(a->total / B));
    uint32_t off = 0;
    for (int k = 0; k < a->n_in; k++) {
        uint32_t e = (uint32_t)(a->extent[k] / B);
        p.in[k] = a->in[k];
        p.ext[k] = e;
        p.dst_off[k] = off;
        off += e;
    }
    /* empty inputs: their range [off, off) never matches a later one's start
     * strictly before it, but equal starts pick the last; give empty inputs
     * an unreachable start */
    for (int k = 0; k < a->n_in; k++)
        if (p.ext[k] == 0) p.dst_off[k] = 0xffffffffu;
    if (total <= 0) return 0;
    dim3 g(ks_blocks((total + ND32_ILP - 1) / ND32_ILP, 256));
    switch (B) {
    case 16: ks_launch(concat32_k<16>, g, dim3(256), s, p, (uint32_t)total); break;
    case 8: ks_launch(concat32_k<8>, g, dim3(256), s, p, (uint32_t)total); break;
    case 4: ks_launch(concat32_k<4>, g, dim3(256), s, p, (uint32_t)total); break;
    case 2: ks_launch(concat32_k<2>, g, dim3(256), s, p, (uint32_t)total); break;
    default: ks_launch(concat32_k<1>, g, dim3(256), s, p, (uint32_t)total); break;
    }
    return 0;
}

} // namespace

static int fast_off_state = -1;
int ks__cu_fast_off(void) {
    if (fast_off_state < 0) { /* benign race, as for pdl_state */
        const char *e = getenv("KESTREL_FAST_MOVE");
        fast_off_state = e && *e == '0';
    }
    return fast_off_state;
}

static int pdl_state = -1;
int ks__pdl_enabled(void) {
    if (pdl_state < 0) { /* benign race: every thread computes the same value */
        /* measured on H200 (bench/RESULTS.md): 2-4% slower with the early
         * trigger inside CUDA graphs, so opt-in */
        const char *e = getenv("KESTREL_PDL");
        pdl_state = e && *e && *e != '0';
    }
    return pdl_state;
}

extern "C" int ks__cu_nd_copy(const ks_nd_args *a, int elem_bytes, void *stream) {
    int64_t total = 1;
    for (int d = 0; d < a->rank; d++) total *= a->odims[d];
    if (total <= 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    if (!ks__cu_fast_off() && nd_fast(a, elem_bytes, total, s) == 0) KS_CU_RET();
    unsigned b = ks_blocks(total, 256);
    switch (elem_bytes) {
    case 1: ks_launch(nd_copy_k<1>, dim3(b), dim3(256), s, *a, total); break;
    case 2: ks_launch(nd_copy_k<2>, dim3(b), dim3(256), s, *a, total); break;
    case 4: ks_launch(nd_copy_k<4>, dim3(b), dim3(256), s, *a, total); break;
    case 8: ks_launch(nd_copy_k<8>, dim3(b), dim3(256), s, *a, total); break;
    default: return (int)cudaErrorInvalidValue;
    }
    KS_CU_RET();
}

extern "C" int ks__cu_concat(const ks_concat_args *a, void *stream) {
    // widest element that divides every extent and pointer alignment
    int B = 16;
    uintptr_t al = (uintptr_t)a->y;
    for (int k = 0; k < a->n_in; k++) al |= (uintptr_t)a->in[k] | (uintptr_t)a->extent[k];
    al |= (uintptr_t)a->total;
    while (B > 1 && (al & (uintptr_t)(B - 1))) B >>= 1;
    int64_t total = a->outer * a->total / B;
    if (total <= 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    if (!ks__cu_fast_off() && concat_fast(a, B, s) == 0) KS_CU_RET();
    unsigned b = ks_blocks(total, 256);
    switch (B) {
    case 16: ks_launch(concat_k<16>, dim3(b), dim3(256), s, *a, total); break;
    case 8: ks_launch(concat_k<8>, dim3(b), dim3(256), s, *a, total); break;
    case 4: ks_launch(concat_k<4>, dim3(b), dim3(256), s, *a, total); break;
    case 2: ks_launch(concat_k<2>, dim3(b), dim3(256), s, *a, total); break;
    default: ks_launch(concat_k<1>, dim3(b), dim3(256), s, *a, total); break;
    }
    KS_CU_RET();
}

extern "C" int ks__cu_gather(const void *x, const int32_t *idx, void *y, int64_t outer, int64_t axis,
                             int64_t inner_bytes, int64_t n_idx, void *stream) {
    int B = 8;
    uintptr_t al = (uintptr_t)x | (uintptr_t)y | (uintptr_t)inner_bytes;
    while (B > 1 && (al & (uintptr_t)(B - 1))) B >>= 1;
    int64_t inner_e = inner_bytes / B, total = outer * n_idx * inner_e;
    if (total <= 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    unsigned b = ks_blocks(total, 256);
    const uint8_t *xs = (const uint8_t *)x;
    uint8_t *ys = (uint8_t *)y;
    switch (B) {
    case 8: ks_launch(gather_k<8>, dim3(b), dim3(256), s, xs, idx, ys, outer, axis, inner_e, n_idx); break;
    case 4: ks_launch(gather_k<4>, dim3(b), dim3(256), s, xs, idx, ys, outer, axis, inner_e, n_idx); break;
    case 2: ks_launch(gather_k<2>, dim3(b), dim3(256), s, xs, idx, ys, outer, axis, inner_e, n_idx); break;
    default: ks_launch(gather_k<1>, dim3(b), dim3(256), s, xs, idx, ys, outer, axis, inner_e, n_idx); break;
    }
    KS_CU_RET();
}

extern "C" int ks__cu_cast(const void *x, int src, void *y, int dst, int64_t n, void *stream) {
    if (n <= 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    int r;
    if (!ks__cu_fast_off() && ((uintptr_t)x % 16) == 0 && ((uintptr_t)y % 16) == 0) {
        unsigned b4 = ks_blocks((n + 3) / 4, 256);
        if (src == KS_DTYPE_FLOAT32 && dst == KS_DTYPE_FLOAT16) {
            cast_f2h_k<<<b4, 256, 0, s>>>((const float *)x, (__half *)y, n);
            KS_CU_RET();
        }
        if (src == KS_DTYPE_FLOAT16 && dst == KS_DTYPE_FLOAT32) {
            cast_h2f_k<<<b4, 256, 0, s>>>((const __half *)x, (float *)y, n);
            KS_CU_RET();
        }
    }
    switch (src) {
    case KS_DTYPE_FLOAT32: r = cast_from((const float *)x, y, dst, n, s); break;
    case KS_DTYPE_FLOAT16: r = cast_from((const __half *)x, y, dst, n, s); break;
    case KS_DTYPE_INT32: r = cast_from((const int32_t *)x, y, dst, n, s); break;
    case KS_DTYPE_INT64: r = cast_from((const int64_t *)x, y, dst, n, s); break;
    case KS_DTYPE_INT8: r = cast_from((const int8_t *)x, y, dst, n, s); break;
    case KS_DTYPE_UINT8:
    case KS_DTYPE_BOOL: r = cast_from((const uint8_t *)x, y, dst, n, s); break;
    default: return (int)cudaErrorInvalidValue;
    }
    if (r) return r;
    KS_CU_RET();
}

extern "C" int ks__cu_fill_random(void *p, int64_t n, int half, float lo, float hi, uint32_t seed,
                                  void *stream) {
    if (n <= 0) return 0;
    fill_k<<<ks_blocks(n, 256), 256, 0, (cudaStream_t)stream>>>(p, n, half, lo, hi, seed);
    KS_CU_RET();
}
