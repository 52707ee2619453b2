// 32-bit division by a runtime-invariant divisor with a precomputed magic
// multiplier (round-up method, as in Granlund-Montgomery): valid for
// 1 <= d < 2^31 and 0 <= n < 2^31. Host code builds the divisors; kernels
// index with uint32 when every index fits in 31 bits.
#pragma once
#include <stdint.h>

struct ks_fdiv {
    uint32_t d, m, s;
};

static inline ks_fdiv ks_fdiv_make(uint32_t d) {
    ks_fdiv f;
    uint32_t s = 0;
    while (s < 31 && (1u << s) < d) s++;
    f.d = d ? d : 1;
    f.s = s;
    f.m = (uint32_t)((((uint64_t)1 << 32) * (((uint64_t)1 << s) - f.d)) / f.d + 1);
    return f;
}

#ifdef __CUDACC__
static __device__ __forceinline__ uint32_t ks_fdiv_q(const ks_fdiv &f, uint32_t n) {
    return (__umulhi(n, f.m) + n) >> f.s;
}
#endif

// KESTREL_FAST_MOVE=0 turns the fast paths of the elementwise, data-movement,
// cast, pool and resize kernels off (the generic 64-bit kernels run): for
// A/B timing in one binary and as an escape hatch.
int ks__cu_fast_off(void);
