/* The exact-integer numerics profile i8x-v1 (docs/numerics.md, "Profile i8x-v1"): the definition of its
 * two roundings, for host C and CUDA device code, in integer and bit operations only.
 *
 * Every dot product of a GEMM-class op (linear, conv2d, frame conv, attention's q·k and p·v) is computed
 * as follows. Each of its two operand vectors a (K values, padding and masked entries as +0) gets the
 * exponent e = the smallest integer with max|a_k| < 2^e (fr_i8x_exponent, from the bits of the largest
 * magnitude), and its values become integers A_k = clamp(round-half-even(a_k * 2^(B - e)), ±(2^B - 1))
 * (fr_i8x_quantize). The result is the binary32 nearest to S * 2^(e_a + e_b - 2B), S = sum_k A_k B_k
 * computed exactly (int64 holds it), ties to even, subnormals kept, overflow to infinity
 * (fr_i8x_dot_result). A vector holding a NaN or an infinity makes the result NaN; an all-zero vector
 * makes it +0. B = FR_I8X_BITS = 14: every A_k fits an int16, and splits exactly into two int8 slices
 * (A = hi * 2^7 + lo, hi in [-128, 127], lo in [0, 127]) for int8 tensor cores.
 *
 * Because the sum is exact, any order, tiling, split of k or mix of integer widths gives the same S. */
#ifndef FRACTAL_I8X_H
#define FRACTAL_I8X_H

#include <stdint.h>

#include "fractal/defs.h"

#define FR_I8X_PROFILE "i8x-v1"
#define FR_I8X_BITS 14
#define FR_I8X_MIN_BITS 2          /* the range the ops accept (other widths only for measuring quality) */
#define FR_I8X_MAX_BITS 15         /* values fit an int16 */
#define FR_I8X_NONFINITE INT32_MIN /* the exponent of a vector that holds a NaN or an infinity */

/* The position of the highest set bit of x > 0. */
FR_HD FR_INLINE int fr_i8x_top_bit(uint64_t x)
{
#ifdef __CUDA_ARCH__
  return 63 - __clzll((long long)x);
#else
  return 63 - __builtin_clzll(x);
#endif
}

#ifndef __CUDACC__
/* The B of a job's numerics: FR_I8X_BITS for "i8x-v1", NN for "i8x-bNN" (2 <= NN <= 15: other widths, only
 * to measure quality, never a protocol profile), 0 for anything else. */
static inline int fr_i8x_numerics_bits(const char *numerics)
{
  if (strcmp(numerics, FR_I8X_PROFILE) == 0) return FR_I8X_BITS;
  if (strncmp(numerics, "i8x-b", 5) != 0) return 0;
  const char *d = numerics + 5;
  int n = 0, len = 0;
  while (d[len] >= '0' && d[len] <= '9' && len < 3) n = n * 10 + (d[len] - '0'), len++;
  return len && !d[len] && d[0] != '0' && n >= FR_I8X_MIN_BITS && n <= FR_I8X_MAX_BITS ? n : 0;
}
#endif

/* |v|'s bits: the largest of these over a vector, compared as integers, is the bits of max|v| (any NaN
 * or infinity compares above every finite value). */
FR_HD FR_INLINE uint32_t fr_i8x_absbits(float v) { return fr_f32_bits(v) & 0x7fffffffu; }

/* The exponent of a vector from the bits of its largest magnitude: FR_I8X_NONFINITE for a NaN or an
 * infinity, 0 for all zeros (any exponent gives A = 0), else floor(log2 max) + 1. */
FR_HD FR_INLINE int32_t fr_i8x_exponent(uint32_t maxabs)
{
  if (maxabs >= 0x7f800000u) return FR_I8X_NONFINITE;
  if (maxabs == 0) return 0;
  if (maxabs >> 23) return (int32_t)(maxabs >> 23) - 126;
  return fr_i8x_top_bit(maxabs) - 148; /* a subnormal f * 2^-149: its highest bit is floor(log2 max) + 149 */
}

/* x / 2^r rounded to the nearest integer, ties to even, for x >= 0 and r >= 1. */
FR_HD FR_INLINE uint64_t fr_i8x_shift_rne(uint64_t x, int r)
{
  if (r > 63) return 0; /* x < 2^63 here, so x / 2^r < 1/2 */
  uint64_t q = x >> r, rem = x & ((1ull << r) - 1), half = 1ull << (r - 1);
  return q + (rem > half || (rem == half && (q & 1)));
}

/* v (finite, |v| < 2^e) as an integer of `bits` bits and a sign: round-half-even(v * 2^(bits - e)),
 * clamped to [-(2^bits - 1), 2^bits - 1]. Exact from the float's bits, whatever e is. */
FR_HD FR_INLINE int32_t fr_i8x_quantize(float v, int32_t e, int bits)
{
  uint32_t u = fr_f32_bits(v), a = u & 0x7fffffffu, bexp = a >> 23;
  if (a == 0) return 0;
  uint64_t mant = bexp ? (a & 0x7fffffu) | 0x800000u : a; /* |v| = mant * 2^e2 */
  int e2 = bexp ? (int)bexp - 150 : -149, sh = e2 + bits - e;
  uint64_t q = sh >= 0 ? mant << sh : fr_i8x_shift_rne(mant, -sh); /* sh >= 0: mant * 2^sh < 2^bits */
  uint64_t top = (1ull << bits) - 1;
  if (q > top) q = top;
  return (u >> 31) ? -(int32_t)q : (int32_t)q;
}

/* The binary32 nearest to s * 2^p (ties to even, subnormals kept, +-inf past the largest float); s = 0
 * gives +0. |s| < 2^63. */
FR_HD FR_INLINE float fr_i8x_round(int64_t s, int32_t p)
{
  if (s == 0) return 0.0f;
  uint32_t sign = s < 0 ? 0x80000000u : 0;
  uint64_t a = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
  int n = fr_i8x_top_bit(a);
  int64_t e = (int64_t)n + p; /* 2^e <= |s| 2^p < 2^(e+1) */
  if (e > 127) return fr_f32_from_bits(sign | 0x7f800000u);
  int64_t qe = e - 23 < -149 ? -149 : e - 23; /* the exponent of the result's last bit */
  int64_t r = qe - p;                         /* m = |s| / 2^r, rounded */
  uint64_t m = r <= 0 ? a << -r : fr_i8x_shift_rne(a, r > 64 ? 64 : (int)r);
  /* normal: bits = (qe + 150) << 23 | (m - 2^23); subnormal (qe = -149, m <= 2^23): bits = m. Both are
   * ((qe + 149) << 23) + m, and a rounding up to 2^24 carries into the exponent (to infinity at the top). */
  uint64_t bits = ((uint64_t)(qe + 149) << 23) + m;
  if (bits >= 0x7f800000u) bits = 0x7f800000u;
  return fr_f32_from_bits(sign | (uint32_t)bits);
}

/* A dot product's result from its exact integer sum and its operands' exponents. */
FR_HD FR_INLINE float fr_i8x_dot_result(int64_t s, int32_t ea, int32_t eb, int bits)
{
  if (ea == FR_I8X_NONFINITE || eb == FR_I8X_NONFINITE) return fr_f32_from_bits(0x7fc00000u);
  return fr_i8x_round(s, ea + eb - 2 * bits);
}

#endif
