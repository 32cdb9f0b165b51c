/* AVX2 kernel of the exact integer dot products (idot.h): vpmaddwd multiplies 16 int16 pairs and adds
 * neighbours into 8 int32 lanes; each lane gains at most 2 (2^bits - 1)^2 per step, so after `run` steps
 * (the most that stay below 2^31) the lanes are widened and added into int64. Compiled with -mavx2 and
 * used only when the CPU has it. */
#include <immintrin.h>

#include "idot.h"

static inline __m256i widen_add(__m256i acc64, __m256i acc32)
{
  __m256i lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(acc32));
  __m256i hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(acc32, 1));
  return _mm256_add_epi64(acc64, _mm256_add_epi64(lo, hi));
}

#if IDOT_MR != 2 || IDOT_NR != 4
#error "fr_idot_avx2 is written for 2 x 4 tiles"
#endif

/* Eight named int32 accumulators (rows 0-1 x columns 0-3) and two of A plus one of B in registers: eleven
 * of the sixteen ymm registers, so nothing spills (a 3 x 4 tile did: GCC moved accumulators through the
 * stack on every step). */
void fr_idot_avx2(int64_t k, const int16_t *const a[IDOT_MR], const int16_t *const b[IDOT_NR], int bits,
                  int64_t s[IDOT_MR][IDOT_NR])
{
  int64_t top = ((int64_t)1 << bits) - 1, per_step = 2 * top * top;
  int64_t run = (((int64_t)1 << 31) - 1) / per_step; /* >= 1 for bits <= 15 */
  int64_t k16 = k / 16 * 16;
  __m256i w00 = _mm256_setzero_si256(), w01 = w00, w02 = w00, w03 = w00, w10 = w00, w11 = w00, w12 = w00, w13 = w00;
  for (int64_t k0 = 0; k0 < k16; k0 += 16 * run) {
    int64_t k1 = k0 + 16 * run < k16 ? k0 + 16 * run : k16;
    __m256i t00 = _mm256_setzero_si256(), t01 = t00, t02 = t00, t03 = t00, t10 = t00, t11 = t00, t12 = t00, t13 = t00;
    for (int64_t kk = k0; kk < k1; kk += 16) {
      __m256i a0 = _mm256_loadu_si256((const __m256i *)(a[0] + kk));
      __m256i a1 = _mm256_loadu_si256((const __m256i *)(a[1] + kk));
      __m256i bv = _mm256_loadu_si256((const __m256i *)(b[0] + kk));
      t00 = _mm256_add_epi32(t00, _mm256_madd_epi16(a0, bv));
      t10 = _mm256_add_epi32(t10, _mm256_madd_epi16(a1, bv));
      bv = _mm256_loadu_si256((const __m256i *)(b[1] + kk));
      t01 = _mm256_add_epi32(t01, _mm256_madd_epi16(a0, bv));
      t11 = _mm256_add_epi32(t11, _mm256_madd_epi16(a1, bv));
      bv = _mm256_loadu_si256((const __m256i *)(b[2] + kk));
      t02 = _mm256_add_epi32(t02, _mm256_madd_epi16(a0, bv));
      t12 = _mm256_add_epi32(t12, _mm256_madd_epi16(a1, bv));
      bv = _mm256_loadu_si256((const __m256i *)(b[3] + kk));
      t03 = _mm256_add_epi32(t03, _mm256_madd_epi16(a0, bv));
      t13 = _mm256_add_epi32(t13, _mm256_madd_epi16(a1, bv));
    }
    w00 = widen_add(w00, t00), w01 = widen_add(w01, t01), w02 = widen_add(w02, t02), w03 = widen_add(w03, t03);
    w10 = widen_add(w10, t10), w11 = widen_add(w11, t11), w12 = widen_add(w12, t12), w13 = widen_add(w13, t13);
  }
  __m256i w[IDOT_MR][IDOT_NR] = {{w00, w01, w02, w03}, {w10, w11, w12, w13}};
  for (int r = 0; r < IDOT_MR; r++)
    for (int c = 0; c < IDOT_NR; c++) {
      int64_t lanes[4];
      _mm256_storeu_si256((__m256i *)lanes, w[r][c]);
      int64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
      for (int64_t kk = k16; kk < k; kk++) sum += (int64_t)a[r][kk] * b[c][kk];
      s[r][c] = sum;
    }
}
