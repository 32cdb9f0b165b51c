/* AVX2+FMA GEMM micro-kernel (6 x 16, twelve ymm accumulators). vfmadd231ps is a correctly rounded
 * fused multiply-add per lane, so this computes exactly what fr_ukernel_generic computes.
 * Compiled with -mavx2 -mfma (kernels/CMakeLists.txt) and used only when the CPU has both. */
#include <immintrin.h>

#include "gemm.h"

void fr_ukernel_avx2(int64_t kc, const float *a, const float *b, float *acc)
{
  __m256 c[FR_GEMM_MR][2];
  for (int r = 0; r < FR_GEMM_MR; r++) {
    c[r][0] = _mm256_loadu_ps(acc + r * FR_GEMM_NR);
    c[r][1] = _mm256_loadu_ps(acc + r * FR_GEMM_NR + 8);
  }
  for (int64_t k = 0; k < kc; k++) {
    __m256 b0 = _mm256_loadu_ps(b + k * FR_GEMM_NR);
    __m256 b1 = _mm256_loadu_ps(b + k * FR_GEMM_NR + 8);
    for (int r = 0; r < FR_GEMM_MR; r++) {
      __m256 ar = _mm256_broadcast_ss(a + k * FR_GEMM_MR + r);
      c[r][0] = _mm256_fmadd_ps(ar, b0, c[r][0]);
      c[r][1] = _mm256_fmadd_ps(ar, b1, c[r][1]);
    }
  }
  for (int r = 0; r < FR_GEMM_MR; r++) {
    _mm256_storeu_ps(acc + r * FR_GEMM_NR, c[r][0]);
    _mm256_storeu_ps(acc + r * FR_GEMM_NR + 8, c[r][1]);
  }
}
