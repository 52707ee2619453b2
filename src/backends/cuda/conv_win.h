/* own:direct:3..8 (conv_win.cu): tensor-core direct convolution with the input window staged in shared
 * memory, float16 only. cfg = algo - 3: 16 / 32 / 64 output channels per block (cfg / 2) x a pixel tile of
 * 4 x 32 (even cfg) or 8 x 16 (odd cfg). Kept out of kernels.h, which every kernel file includes. */
#ifndef KS_CUDA_CONV_WIN_H
#define KS_CUDA_CONV_WIN_H
#include "backends/cuda/kernels.h"

#define KS_DIRECT_WIN_FIRST 3 /* own:direct algos 3 .. 3 + KS_DIRECT_WIN_N - 1 */
#define KS_DIRECT_WIN_N 6

#ifdef __cplusplus
extern "C" {
#endif
/* 1 when config cfg runs this geometry: groups 1, stride 1 or 2 on both axes, kernel up to 7 x 7, any
 * padding and dilation, iw a multiple of 8, 32-bit indices, the two window stages within 96 KB. */
int ks__cu_conv_win_fits(const ks_conv_args *a, int cfg);
/* Enqueues the conv (float16). An input that is not 16-byte aligned runs own:igemm tile 11 instead. */
int ks__cu_conv_win(const ks_conv_args *a, int cfg, void *stream);
#ifdef __cplusplus
}
#endif
#endif
