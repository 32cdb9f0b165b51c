/* Portable GEMM micro-kernel: plain fmaf over ascending k (the definition, written out). */
#include <math.h>

#include "gemm.h"

void fr_ukernel_generic(int64_t kc, const float *a, const float *b, float *acc)
{
  float c[FR_GEMM_MR][FR_GEMM_NR];
  for (int r = 0; r < FR_GEMM_MR; r++)
    for (int j = 0; j < FR_GEMM_NR; j++) c[r][j] = acc[r * FR_GEMM_NR + j];
  for (int64_t k = 0; k < kc; k++) {
    const float *ak = a + k * FR_GEMM_MR, *bk = b + k * FR_GEMM_NR;
    for (int r = 0; r < FR_GEMM_MR; r++)
      for (int j = 0; j < FR_GEMM_NR; j++) c[r][j] = fmaf(ak[r], bk[j], c[r][j]);
  }
  for (int r = 0; r < FR_GEMM_MR; r++)
    for (int j = 0; j < FR_GEMM_NR; j++) acc[r * FR_GEMM_NR + j] = c[r][j];
}
