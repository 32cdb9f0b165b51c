/* AVX2+FMA GEMM micro-kernel (6 x 16, twelve ymm accumulators). vfmadd231ps is a correctly rounded
 * fused multiply-add per lane, so this computes exactly what fr_ukernel_generic computes.
 * Compiled with -mavx2 -mfma (kernels/CMakeLists.txt) and used only when the CPU has both.
 * The accumulators are twelve named variables: as an array of vectors GCC keeps them on the stack
 * and stores every one of them on every k step (3x slower, the same bits). */
#include <immintrin.h>

#include "gemm.h"

#define ZERO_ROW(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
#define LOAD_ROW(r) c##r##0 = _mm256_loadu_ps(c + (r)*ldc), c##r##1 = _mm256_loadu_ps(c + (r)*ldc + 8);
#define FMA_ROW(r)                                                                                                     \
  {                                                                                                                    \
    __m256 ar = _mm256_broadcast_ss(ak + (r));                                                                         \
    c##r##0 = _mm256_fmadd_ps(ar, b0, c##r##0);                                                                        \
    c##r##1 = _mm256_fmadd_ps(ar, b1, c##r##1);                                                                        \
  }
#define STORE_ROW(r) _mm256_storeu_ps(c + (r)*ldc, c##r##0), _mm256_storeu_ps(c + (r)*ldc + 8, c##r##1);

#if FR_GEMM_MR != 6 || FR_GEMM_NR != 16
#error "fr_ukernel_avx2 is written for 6 x 16 tiles"
#endif

void fr_ukernel_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate)
{
  ZERO_ROW(0) ZERO_ROW(1) ZERO_ROW(2) ZERO_ROW(3) ZERO_ROW(4) ZERO_ROW(5) if (accumulate)
  {
    LOAD_ROW(0) LOAD_ROW(1) LOAD_ROW(2) LOAD_ROW(3) LOAD_ROW(4) LOAD_ROW(5)
  }
  for (int64_t k = 0; k < kc; k++) {
    const float *ak = a + k * FR_GEMM_MR;
    __m256 b0 = _mm256_loadu_ps(b + k * FR_GEMM_NR), b1 = _mm256_loadu_ps(b + k * FR_GEMM_NR + 8);
    FMA_ROW(0) FMA_ROW(1) FMA_ROW(2) FMA_ROW(3) FMA_ROW(4) FMA_ROW(5)
  }
  STORE_ROW(0) STORE_ROW(1) STORE_ROW(2) STORE_ROW(3) STORE_ROW(4) STORE_ROW(5)
}
