/* AVX2+FMA GEMM micro-kernels (6 x 16, twelve ymm accumulators): on packed panels, on 3x3 row-buffer B
 * panels (conv3) and with A read in place (ar), as the AVX-512 set's one-tile kernels (ukernel_avx512.c
 * says how those layouts are read). vfmadd231ps is a correctly rounded fused multiply-add per lane, so
 * these compute exactly what fr_ukernel_generic computes.
 * Compiled with -mavx2 -mfma (kernels/CMakeLists.txt) and used only when the CPU has both.
 * The accumulators are twelve named variables: as an array of vectors GCC keeps them on the stack
 * and stores every one of them on every k step (3x slower, the same bits). */
#include <immintrin.h>

#include "gemm.h"

#define ZERO_ROW(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
#define LOAD_ROW(r) c##r##0 = _mm256_loadu_ps(c + (r)*ldc), c##r##1 = _mm256_loadu_ps(c + (r)*ldc + 8);
#define FMA_ROW(r) FMA_ROW_FROM(r, ak + (r))
#define FMA_ROW_FROM(r, src)                                                                                           \
  {                                                                                                                    \
    __m256 ar = _mm256_broadcast_ss(src);                                                                              \
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

/* B: per channel 3 rows of 18 elements, tap t of the channel's 16 columns from t / 3 * 18 + t % 3; kc a
 * multiple of 9 */
#define TAP(t)                                                                                                         \
  {                                                                                                                    \
    const float *ak = ac + (t)*FR_GEMM_MR, *bt = bc + (t) / 3 * 18 + (t) % 3;                                          \
    __m256 b0 = _mm256_loadu_ps(bt), b1 = _mm256_loadu_ps(bt + 8);                                                     \
    FMA_ROW(0) FMA_ROW(1) FMA_ROW(2) FMA_ROW(3) FMA_ROW(4) FMA_ROW(5)                                                  \
  }

void fr_ukernel_avx2_conv3(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate)
{
  ZERO_ROW(0) ZERO_ROW(1) ZERO_ROW(2) ZERO_ROW(3) ZERO_ROW(4) ZERO_ROW(5) if (accumulate)
  {
    LOAD_ROW(0) LOAD_ROW(1) LOAD_ROW(2) LOAD_ROW(3) LOAD_ROW(4) LOAD_ROW(5)
  }
  for (int64_t ch = 0; ch < kc / 9; ch++) {
    const float *ac = a + ch * 54, *bc = b + ch * 54;
    TAP(0) TAP(1) TAP(2) TAP(3) TAP(4) TAP(5) TAP(6) TAP(7) TAP(8)
  }
  STORE_ROW(0) STORE_ROW(1) STORE_ROW(2) STORE_ROW(3) STORE_ROW(4) STORE_ROW(5)
}

/* A in place: row r at a + r * lda */
void fr_ukernel_avx2_ar(int64_t kc, const float *a, int64_t lda, const float *b, float *c, int64_t ldc, int accumulate)
{
  ZERO_ROW(0) ZERO_ROW(1) ZERO_ROW(2) ZERO_ROW(3) ZERO_ROW(4) ZERO_ROW(5) if (accumulate)
  {
    LOAD_ROW(0) LOAD_ROW(1) LOAD_ROW(2) LOAD_ROW(3) LOAD_ROW(4) LOAD_ROW(5)
  }
  const float *p0 = a, *p3 = a + 3 * lda;
  for (int64_t k = 0; k < kc; k++, p0++, p3++) {
    __m256 b0 = _mm256_loadu_ps(b + k * FR_GEMM_NR), b1 = _mm256_loadu_ps(b + k * FR_GEMM_NR + 8);
    FMA_ROW_FROM(0, p0)
    FMA_ROW_FROM(1, p0 + lda)
    FMA_ROW_FROM(2, p0 + 2 * lda) FMA_ROW_FROM(3, p3) FMA_ROW_FROM(4, p3 + lda) FMA_ROW_FROM(5, p3 + 2 * lda)
  }
  STORE_ROW(0) STORE_ROW(1) STORE_ROW(2) STORE_ROW(3) STORE_ROW(4) STORE_ROW(5)
}
