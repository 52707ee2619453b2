// Tensor-core first-layer convolution for FP16 (own:direct:2, batch
// throughput, issue 3): groups 1, c <= 4, k <= 64, kernel <= 7x7, stride
// 1..4, dilation 1.
//
// Implicit GEMM with mma.sync m16n8k16 (FP16 in, FP32 accumulate):
// M = output channels (16 per m-tile), N = output pixels (8 consecutive
// columns of one output row per n-tile), K = taps x 4 channels. A block owns
// an output tile of TH (8 | 16) rows x 64 columns of one image:
//  - the input patch the tile needs is staged in shared memory once, with
//    coalesced 4-byte global reads, as "HWC4": every patch pixel is 8 bytes
//    holding channels 0..3 (zero above c). K is ordered so that the four
//    FP16 values one thread holds of a B fragment (k = 2q, 2q+1, 2q+8,
//    2q+9 at pixel n = lane / 4) are the four channels of ONE tap
//    (tap 4 * kstep + q): one 8-byte shared load per fragment, through a
//    per-thread table of tap offsets (KST registers) - no im2col tile.
//  - A (weights, zero padded to 4 channels and to 4 taps per k-step) is
//    staged in shared memory in fragment order (one 16-byte load per lane,
//    conflict free); with one m-tile (k <= 16) it lives in registers.
//  - the patch pitch (8-byte pixels per row) is picked on the host by
//    simulating the bank conflicts of the gather.
//  - epilogue as conv_p.cuh's epi (bias, PReLU / any activation,
//    residual before or after it) in fragment layout, then the FP16 results
//    go through a per-warp shared buffer so that global stores are 16 bytes
//    per lane and whole sectors per channel row.
#include <stdlib.h>
#include <atomic>
#include "backends/cuda/common.cuh"

namespace {

constexpr int TD_THREADS = 256; // 8 warps
constexpr int TD_W = 64;        // output columns per tile

struct TcP {
    const __half *x, *w, *bias, *res;
    const float *prelu;
    __half *y;
    int n, c, ih, iw, k, oh, ow, kh, kw, sh, sw, pt, pl;
    int act;
    float act_a, act_b;
    int res_after_act;
    int th, tiles_x;     // output rows per tile, tiles per row of tiles
    int ph, pwa, pws;    // patch rows, loaded columns (even), pitch (even, 8-byte pixels)
    int a_bytes, patch_bytes;
    int vec_in, vec_out; // 4-byte input reads (iw even, aligned), 16-byte output stores
};

__host__ __device__ constexpr int td_nt(int mt) { return mt == 1 ? 4 : 2; }          // n-tiles per pass
__host__ __device__ constexpr int td_op(int mt) { return td_nt(mt) * 4 + 4; }       // out-buffer pitch (words)

__device__ __forceinline__ void mma16816(float *d, const uint4 &a, const uint2 &b) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b.x), "r"(b.y));
}

// the rarer activations: one out-of-line copy of the whole switch
__device__ __noinline__ float td_act_generic(int act, float x, float a, float b) { return ks_apply_act(act, x, a, b); }

// activation of N values (channel g for the first N / 2, g + 8 for the rest):
// one switch per pass, not per value
template <int N>
__device__ __forceinline__ void td_act(const TcP &p, float (&o)[N], float slope0, float slope1) {
    switch (p.act) {
    case KS_ACT_NONE: break;
    case KS_ACT_RELU:
#pragma unroll
        for (int i = 0; i < N; i++) o[i] = fmaxf(o[i], 0.f);
        break;
    case KS_ACT_SILU:
#pragma unroll
        for (int i = 0; i < N; i++) o[i] = __fdividef(o[i], 1.f + __expf(-o[i]));
        break;
    case KS_ACT_CLIP:
#pragma unroll
        for (int i = 0; i < N; i++) o[i] = fminf(fmaxf(o[i], p.act_a), p.act_b);
        break;
    case KS_ACT_LEAKY:
#pragma unroll
        for (int i = 0; i < N; i++) o[i] = o[i] >= 0.f ? o[i] : o[i] * p.act_a;
        break;
    case KS_ACT_PRELU:
#pragma unroll
        for (int i = 0; i < N; i++) {
            const float sl = i < N / 2 ? slope0 : slope1;
            o[i] = o[i] >= 0.f ? o[i] : o[i] * sl;
        }
        break;
    default:
#pragma unroll
        for (int i = 0; i < N; i++) o[i] = td_act_generic(p.act, o[i], p.act_a, p.act_b);
    }
}

// MT: m-tiles of 16 output channels; KST: k-steps (4 taps x 4 channels each)
template <int MT, int KST>
__global__ void __launch_bounds__(TD_THREADS, MT == 1 && KST <= 9 ? 3 : 2) conv_tc_direct_k(TcP p) {
    ks_pdl_wait();
    constexpr int NT = td_nt(MT), OP = td_op(MT);
    extern __shared__ uint4 smem4[];
    uint4 *as = smem4;                                             // [MT][KST][32 lanes]
    char *patch = (char *)smem4 + p.a_bytes;                       // [ph][pws] x 4 halves
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, q = lane & 3;
    unsigned *ob = (unsigned *)(patch + p.patch_bytes) + warp * 16 * OP; // per warp [16][OP]
    const int b = blockIdx.y;
    const int tyi = blockIdx.x / p.tiles_x, txi = blockIdx.x - tyi * p.tiles_x;
    const int oy0 = tyi * p.th, ox0 = txi * TD_W;
    const int iy0 = oy0 * p.sh - p.pt, ix0 = ox0 * p.sw - p.pl;
    const int shift = ix0 & 1, gx0 = ix0 - shift; // patch column 0 at an even input column
    const int khw = p.kh * p.kw, c = p.c;

    // A in fragment order: half e = ((mt * KST + ks) * 32 + lane) * 8 + reg * 2 + hi
    {
        __half *ah = (__half *)as;
#pragma unroll 4
        for (int e = tid; e < MT * KST * 256; e += TD_THREADS) {
            int j8 = e & 7, ln = (e >> 3) & 31, r2 = e >> 8;
            int ks = r2 % KST, mt = r2 / KST;
            int m = mt * 16 + (ln >> 2) + ((j8 >> 1) & 1) * 8;
            int ch = (j8 >> 2) * 2 + (j8 & 1);
            int tap = ks * 4 + (ln & 3);
            ah[e] = m < p.k && ch < c && tap < khw ? p.w[(m * c + ch) * khw + tap] : __float2half(0.f);
        }
    }
    // input patch, HWC4: one task = 2 adjacent input columns (an aligned
    // 4-byte word per channel) of one patch row; SB tasks per thread have
    // their global loads in flight together before the shared stores
    {
        constexpr int SB = 4;
        const int ihw = p.ih * p.iw;
        const __half *xb = p.x + (int64_t)b * c * ihw;
        const int nw = p.pwa >> 1, ntask = p.ph * nw;
        for (int e0 = tid; e0 < ntask; e0 += SB * TD_THREADS) {
            unsigned v[SB][4];
#pragma unroll
            for (int t = 0; t < SB; t++) {
                const int e = e0 + t * TD_THREADS;
                const int ry = e / nw, wx = e - ry * nw;
                const int iy = iy0 + ry, gx = gx0 + 2 * wx;
                const bool rok = e < ntask && (unsigned)iy < (unsigned)p.ih;
                const __half *rc = xb + iy * p.iw + gx;
#pragma unroll
                for (int ci = 0; ci < 4; ci++) {
                    v[t][ci] = 0u;
                    if (ci < c && rok) {
                        if (p.vec_in) {
                            if ((unsigned)gx < (unsigned)p.iw) // iw even: gx + 1 < iw too
                                v[t][ci] = __ldg((const unsigned *)(rc + ci * ihw));
                        } else {
                            unsigned lo = 0u, hi = 0u;
                            if ((unsigned)gx < (unsigned)p.iw)
                                lo = __half_as_ushort(__ldg(rc + ci * ihw));
                            if ((unsigned)(gx + 1) < (unsigned)p.iw)
                                hi = __half_as_ushort(__ldg(rc + ci * ihw + 1));
                            v[t][ci] = lo | hi << 16;
                        }
                    }
                }
            }
#pragma unroll
            for (int t = 0; t < SB; t++) {
                const int e = e0 + t * TD_THREADS;
                if (e >= ntask) break;
                const int ry = e / nw, wx = e - ry * nw;
                uint4 o; // pixel 0: channels 0..3, pixel 1: channels 0..3
                o.x = __byte_perm(v[t][0], v[t][1], 0x5410);
                o.y = __byte_perm(v[t][2], v[t][3], 0x5410);
                o.z = __byte_perm(v[t][0], v[t][1], 0x7632);
                o.w = __byte_perm(v[t][2], v[t][3], 0x7632);
                *(uint4 *)(patch + ((size_t)ry * p.pws + 2 * wx) * 8) = o;
            }
        }
    }
    __syncthreads();

    // per-thread byte offsets of its tap in every k-step
    int offk[KST];
#pragma unroll
    for (int ks = 0; ks < KST; ks++) {
        int tap = ks * 4 + q;
        int ky = tap / p.kw, kx = tap - ky * p.kw;
        offk[ks] = tap < khw ? (ky * p.pws + kx) * 8 : 0;
    }
    uint4 areg[MT == 1 ? KST : 1];
    if (MT == 1) {
#pragma unroll
        for (int ks = 0; ks < KST; ks++) areg[ks] = as[ks * 32 + lane];
    }
    const int hw = p.oh * p.ow;
    const int ntstep = 8 * p.sw * 8; // bytes between n-tiles
    for (int oyl = warp; oyl < p.th; oyl += 8) {
        const int oy = oy0 + oyl;
        if (oy >= p.oh) break;
        const char *rowp = patch + ((size_t)oyl * p.sh * p.pws + shift + g * p.sw) * 8;
        for (int grp = 0; grp < TD_W / (8 * NT); grp++) {
            const int oxb = ox0 + grp * 8 * NT;
            if (oxb >= p.ow) break;
            const char *bp = rowp + grp * NT * ntstep;
            float acc[MT][NT][4] = {};
#pragma unroll
            for (int ks = 0; ks < KST; ks++) {
                uint2 bv[NT];
#pragma unroll
                for (int nt = 0; nt < NT; nt++) bv[nt] = *(const uint2 *)(bp + nt * ntstep + offk[ks]);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    uint4 a = MT == 1 ? areg[MT == 1 ? ks : 0] : as[(mt * KST + ks) * 32 + lane];
#pragma unroll
                    for (int nt = 0; nt < NT; nt++) mma16816(acc[mt][nt], a, bv[nt]);
                }
            }
            // epilogue: fragment (channel g | g + 8, pixels 2q, 2q + 1 of each n-tile)
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                if (mt * 16 >= p.k) break;
                const int co0 = mt * 16 + g, co1 = co0 + 8;
                const bool ok0 = co0 < p.k, ok1 = co1 < p.k;
                const float b0 = p.bias && ok0 ? __half2float(p.bias[co0]) : 0.f;
                const float b1 = p.bias && ok1 ? __half2float(p.bias[co1]) : 0.f;
                const float s0 = p.act == KS_ACT_PRELU && ok0 ? __ldg(p.prelu + co0) : 0.f;
                const float s1 = p.act == KS_ACT_PRELU && ok1 ? __ldg(p.prelu + co1) : 0.f;
                const int64_t yb0 = ((int64_t)b * p.k + co0) * hw + (int64_t)oy * p.ow;
                const int64_t yb1 = yb0 + (int64_t)8 * hw;
                float o[4 * NT]; // [hh][nt][j]
#pragma unroll
                for (int hh = 0; hh < 2; hh++)
#pragma unroll
                    for (int nt = 0; nt < NT; nt++)
#pragma unroll
                        for (int j = 0; j < 2; j++) o[(hh * NT + nt) * 2 + j] = acc[mt][nt][2 * hh + j] + (hh ? b1 : b0);
#pragma unroll
                for (int pass = 0; pass < 2; pass++) { // residual before (pass 0) or after (pass 1) the activation
                    if (pass == 1) td_act(p, o, s0, s1);
                    if (p.res && p.res_after_act == pass) {
#pragma unroll
                        for (int hh = 0; hh < 2; hh++)
#pragma unroll
                            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                                for (int j = 0; j < 2; j++) {
                                    const int ox = oxb + nt * 8 + 2 * q + j;
                                    if ((hh ? ok1 : ok0) && ox < p.ow)
                                        o[(hh * NT + nt) * 2 + j] += __half2float(p.res[(hh ? yb1 : yb0) + ox]);
                                }
                    }
                }
#pragma unroll
                for (int hh = 0; hh < 2; hh++)
#pragma unroll
                    for (int nt = 0; nt < NT; nt++) {
                        __half2 h2 = __floats2half2_rn(o[(hh * NT + nt) * 2], o[(hh * NT + nt) * 2 + 1]);
                        ob[(hh * 8 + g) * OP + nt * 4 + q] = *(unsigned *)&h2;
                    }
                __syncwarp();
                // 16 channels x NT chunks of 8 pixels (16 bytes)
#pragma unroll
                for (int i = lane; i < 16 * NT; i += 32) {
                    const int chl = i / NT, cb = i - chl * NT;
                    const int co = mt * 16 + chl;
                    const int ox = oxb + cb * 8;
                    if (co < p.k && ox < p.ow) {
                        uint4 v = *(const uint4 *)(ob + chl * OP + cb * 4);
                        __half *yr = p.y + ((int64_t)b * p.k + co) * hw + (int64_t)oy * p.ow + ox;
                        if (p.vec_out && ox + 8 <= p.ow) {
                            *(uint4 *)yr = v;
                        } else {
                            const unsigned wv[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                            for (int j = 0; j < 8; j++)
                                if (ox + j < p.ow)
                                    yr[j] = __ushort_as_half((unsigned short)(wv[j >> 1] >> (16 * (j & 1))));
                        }
                    }
                }
                __syncwarp();
            }
        }
    }
}

int td_mt(int k) { return k <= 16 ? 1 : k <= 32 ? 2 : 4; }
int td_kst(int khw) {
    int s = (khw + 3) / 4;
    return s <= 1 ? 1 : s <= 3 ? 3 : s <= 7 ? 7 : s <= 9 ? 9 : 13;
}

// bank-conflict cost (max distinct 4-byte words per bank, summed over the
// k-steps) of one warp's B gather for patch pitch pws
int td_gather_cost(int pws, int kh, int kw, int sw, int shift, int kst) {
    int cost = 0;
    for (int ks = 0; ks < kst; ks++) {
        int words[64], nwd = 0;
        for (int lane = 0; lane < 32; lane++) {
            int g = lane >> 2, q = lane & 3, tap = ks * 4 + q;
            int off = tap < kh * kw ? (tap / kw) * pws + tap % kw : 0;
            int px = g * sw + shift + off;
            for (int h = 0; h < 2; h++) {
                int wd = 2 * px + h, seen = 0;
                for (int i = 0; i < nwd; i++) seen |= words[i] == wd;
                if (!seen) words[nwd++] = wd;
            }
        }
        int per[32] = {0}, mx = 2;
        for (int i = 0; i < nwd; i++) {
            int bk = words[i] & 31;
            if (++per[bk] > mx) mx = per[bk];
        }
        cost += mx;
    }
    return cost;
}

// the pitch with the fewest conflicts among pwa .. pwa + 30, memoized (the
// search costs ~0.1 ms of host time per launch otherwise): a 64-bit entry
// (pitch << 32 | valid | key) per geometry, published with a CAS
std::atomic<unsigned long long> td_memo[64];
int td_pitch(int pwa, int kh, int kw, int sw, int shift, int kst) {
    const unsigned long long key = 0x80000000ull | (unsigned long long)pwa << 20 | kh << 16 | kw << 12 | sw << 8 |
                                   shift << 4 | kst;
    for (int i = 0; i < 64; i++) {
        unsigned long long v = td_memo[i].load(std::memory_order_relaxed);
        if (!v) break;
        if ((v & 0xffffffffull) == key) return (int)(v >> 32);
    }
    int best = pwa, bc = 1 << 30;
    for (int pws = pwa; pws < pwa + 32; pws += 2) {
        int cst = td_gather_cost(pws, kh, kw, sw, shift, kst);
        if (cst < bc) {
            bc = cst;
            best = pws;
        }
    }
    const unsigned long long ent = (unsigned long long)best << 32 | key;
    for (int i = 0; i < 64; i++) {
        unsigned long long exp = 0;
        if (td_memo[i].compare_exchange_strong(exp, ent) || exp == ent) break;
    }
    return best;
}

// geometry of a launch; 0 if it does not fit
int td_plan(const ks_conv_args *a, TcP *p) {
    memset(p, 0, sizeof *p);
    int mt = td_mt(a->k), kst = td_kst(a->kh * a->kw);
    int shift = a->pl & 1; // ix0 = 64 * tile * sw - pl
    int pw = (TD_W - 1) * a->sw + a->kw + shift;
    p->pwa = (pw + 1) & ~1;
    p->pws = td_pitch(p->pwa, a->kh, a->kw, a->sw, shift, kst);
    p->a_bytes = mt * kst * 32 * 16;
    int th = 16;
    const char *ev = getenv("KESTREL_TC_DIRECT_ROWS");
    if (ev && atoi(ev) == 8) th = 8;
    for (;; th = 8) {
        p->th = th;
        p->ph = (th - 1) * a->sh + a->kh;
        p->patch_bytes = p->ph * p->pws * 8;
        size_t sm = (size_t)p->a_bytes + p->patch_bytes + 8 * 16 * td_op(mt) * 4;
        if (sm <= 100 * 1024 || th == 8) break;
    }
    p->tiles_x = (a->ow + TD_W - 1) / TD_W;
    return 1;
}

size_t td_smem(const TcP &p, int mt) { return (size_t)p.a_bytes + p.patch_bytes + 8 * 16 * td_op(mt) * 4; }

template <int MT, int KST>
int td_launch(const TcP &p, cudaStream_t s) {
    size_t sm = td_smem(p, MT);
    // several blocks per SM: the largest shared-memory carveout
    cudaError_t e = cudaFuncSetAttribute(conv_tc_direct_k<MT, KST>, cudaFuncAttributePreferredSharedMemoryCarveout,
                                         (int)cudaSharedmemCarveoutMaxShared);
    if (e == cudaSuccess && sm > 48 * 1024)
        e = cudaFuncSetAttribute(conv_tc_direct_k<MT, KST>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm);
    if (e != cudaSuccess) return (int)e;
    int tiles_y = (p.oh + p.th - 1) / p.th;
    dim3 grid((unsigned)(p.tiles_x * tiles_y), (unsigned)p.n);
    return ks_launch_smem(conv_tc_direct_k<MT, KST>, grid, dim3(TD_THREADS), sm, s, p);
}

template <int MT>
int td_launch_k(const TcP &p, int kst, cudaStream_t s) {
    switch (kst) {
    case 1: return td_launch<MT, 1>(p, s);
    case 3: return td_launch<MT, 3>(p, s);
    case 7: return td_launch<MT, 7>(p, s);
    case 9: return td_launch<MT, 9>(p, s);
    default: return td_launch<MT, 13>(p, s);
    }
}
} // namespace

extern "C" int ks__cu_conv_tc_direct_fits(const ks_conv_args *a) {
    if (a->groups != 1 || a->c < 1 || a->c > 4 || a->k < 1 || a->k > 64 || a->n < 1 || a->n > 65535 ||
        a->kh < 1 || a->kw < 1 || a->kh > 7 || a->kw > 7 || a->sh < 1 || a->sw < 1 || a->sh > 4 || a->sw > 4 ||
        a->dh != 1 || a->dw != 1 || a->oh < 1 || a->ow < 1 || a->ih < 1 || a->iw < 1)
        return 0;
    TcP p;
    if (!td_plan(a, &p)) return 0;
    int64_t tiles = (int64_t)p.tiles_x * ((a->oh + p.th - 1) / p.th);
    if (tiles > 0x7fffffff || (int64_t)a->c * a->ih * a->iw > 0x7fffffff ||
        (int64_t)a->oh * a->ow > 0x7fffffff)
        return 0;
    return td_smem(p, td_mt(a->k)) <= 200 * 1024;
}

extern "C" int ks__cu_conv_tc_direct(const ks_conv_args *a, int half, void *stream) {
    if (!half || !ks__cu_conv_tc_direct_fits(a)) return (int)cudaErrorInvalidValue;
    TcP p;
    td_plan(a, &p);
    p.x = (const __half *)a->x; p.w = (const __half *)a->w; p.bias = (const __half *)a->bias;
    p.res = (const __half *)a->res; p.prelu = a->prelu; p.y = (__half *)a->y;
    p.n = a->n; p.c = a->c; p.ih = a->ih; p.iw = a->iw; p.k = a->k; p.oh = a->oh; p.ow = a->ow;
    p.kh = a->kh; p.kw = a->kw; p.sh = a->sh; p.sw = a->sw; p.pt = a->pt; p.pl = a->pl;
    p.act = a->act; p.act_a = a->act_a; p.act_b = a->act_b; p.res_after_act = a->res_after_act ? 1 : 0;
    p.vec_in = a->iw % 2 == 0 && ((uintptr_t)a->x & 3) == 0;
    p.vec_out = a->ow % 8 == 0 && ((uintptr_t)a->y & 15) == 0;
    cudaStream_t s = (cudaStream_t)stream;
    int kst = td_kst(a->kh * a->kw), mt = td_mt(a->k);
    int rc = mt == 1 ? td_launch_k<1>(p, kst, s) : mt == 2 ? td_launch_k<2>(p, kst, s) : td_launch_k<4>(p, kst, s);
    if (rc) return rc;
    KS_CU_RET();
}
