// Tensor-core building blocks shared by the mma.sync kernels (conv_tc.cu, conv_mma.cu): shared-memory
// addresses, ldmatrix, mma.sync m16n8k16 (FP16 in, FP32 accumulate), cp.async, half2 packing, the dynamic
// shared-memory opt-in.
#pragma once
#include "backends/cuda/common.cuh"

namespace {

__device__ __forceinline__ unsigned smem_u32(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void ldsm_x4(unsigned a, unsigned &r0, unsigned &r1, unsigned &r2, unsigned &r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(a)
                 : "memory");
}

__device__ __forceinline__ void ldsm_x4_t(unsigned a, unsigned &r0, unsigned &r1, unsigned &r2, unsigned &r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(a)
                 : "memory");
}

__device__ __forceinline__ void mma16816(float (&d)[4], unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                         unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void cp_async16(unsigned dst, const void *src, int bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

__device__ __forceinline__ unsigned pack2(float a, float b) {
    __half2 h = __floats2half2_rn(a, b);
    unsigned u;
    memcpy(&u, &h, 4);
    return u;
}
__device__ __forceinline__ void unpack2(unsigned u, float &a, float &b) {
    __half2 h;
    memcpy(&h, &u, 4);
    float2 f = __half22float2(h);
    a = f.x;
    b = f.y;
}

// once per kernel: allow up to max_bytes of dynamic shared memory (not again on later launches, nor during a
// graph capture); done is the caller's static flag for that kernel
template <typename K>
int smem_attr(K kern, size_t max_bytes, int &done) {
    if (done) return 0;
    cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)max_bytes);
    if (e != cudaSuccess) return (int)e;
    done = 1;
    return 0;
}

// Grid of a persistent kernel: as many blocks as fit on the GPU at once (blocks per SM for this block size and
// dynamic shared memory, times the SMs), at most n_work; 0 or the cudaError_t as an int
template <typename K>
int persistent_grid(K kern, int threads, size_t smem, int64_t n_work, int64_t *grid) {
    int dev = 0, n_sm = 0, per = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev) ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per, kern, threads, smem) != cudaSuccess)
        return (int)cudaGetLastError();
    if (per < 1) return (int)cudaErrorInvalidConfiguration;
    *grid = (int64_t)n_sm * per < n_work ? (int64_t)n_sm * per : n_work;
    return 0;
}

} // namespace
