/* Portable GEMM micro-kernel: plain fmaf over ascending k (the definition, written out). */
#include <math.h>

#include "gemm.h"

void fr_ukernel_generic(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate)
{
  float t[FR_GEMM_MR][FR_GEMM_NR];
  for (int r = 0; r < FR_GEMM_MR; r++)
    for (int j = 0; j < FR_GEMM_NR; j++) t[r][j] = accumulate ? c[r * ldc + j] : 0.0f;
  for (int64_t k = 0; k < kc; k++) {
    const float *ak = a + k * FR_GEMM_MR, *bk = b + k * FR_GEMM_NR;
    for (int r = 0; r < FR_GEMM_MR; r++)
      for (int j = 0; j < FR_GEMM_NR; j++) t[r][j] = fmaf(ak[r], bk[j], t[r][j]);
  }
  for (int r = 0; r < FR_GEMM_MR; r++)
    for (int j = 0; j < FR_GEMM_NR; j++) c[r * ldc + j] = t[r][j];
}
