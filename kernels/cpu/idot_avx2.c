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
  /* steps of 16 k an int32 lane takes before widening: (2^31 - 1) / (2 (2^bits - 1)^2), by bits (no division) */
  static const int64_t runs[16] = {0,     1073741823, 119304647, 21913098, 4772185, 1117317, 270532, 66572,
                                   16512, 4112,       1026,      256,      64,      16,      4,      1};
  int64_t run = runs[bits], k16 = k / 16 * 16;
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
  /* the four int64 lanes of each sum: pairs of accumulators folded together, then the halves */
  __m256i r0 = _mm256_add_epi64(_mm256_unpacklo_epi64(w00, w01), _mm256_unpackhi_epi64(w00, w01)); /* 00 01 00 01 */
  __m256i r1 = _mm256_add_epi64(_mm256_unpacklo_epi64(w02, w03), _mm256_unpackhi_epi64(w02, w03));
  __m256i r2 = _mm256_add_epi64(_mm256_unpacklo_epi64(w10, w11), _mm256_unpackhi_epi64(w10, w11));
  __m256i r3 = _mm256_add_epi64(_mm256_unpacklo_epi64(w12, w13), _mm256_unpackhi_epi64(w12, w13));
  __m256i row0 = _mm256_add_epi64(_mm256_permute2x128_si256(r0, r1, 0x20), _mm256_permute2x128_si256(r0, r1, 0x31));
  __m256i row1 = _mm256_add_epi64(_mm256_permute2x128_si256(r2, r3, 0x20), _mm256_permute2x128_si256(r2, r3, 0x31));
  _mm256_storeu_si256((__m256i *)s[0], row0);
  _mm256_storeu_si256((__m256i *)s[1], row1);
  for (int64_t kk = k16; kk < k; kk++)
    for (int r = 0; r < IDOT_MR; r++)
      for (int c = 0; c < IDOT_NR; c++) s[r][c] += (int64_t)a[r][kk] * b[c][kk];
}
