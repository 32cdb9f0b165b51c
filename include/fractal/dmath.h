/* Deterministic binary32 math for host C and CUDA device code: the nonlinear functions of the
 * model (exp, log, sin/cos for embeddings, tanh, erf, sigmoid, SiLU, GELU) with the same bits on
 * every CPU and every NVIDIA GPU.
 *
 * Contract: every function is built only from correctly rounded binary32 + - * /, sqrtf and explicit
 * fmaf, plus integer and bit operations. No libm or CUDA math library function, no double, no
 * constant table (the bits of 2/pi are immediates). Builds keep a*b+c unfused (-ffp-contract=off,
 * nvcc --fmad=false), keep subnormals (-ftz=false) and use IEEE division and square root, so host
 * and device run the same sequence of roundings. Polynomials and split constants come from
 * tools/dev/dmath_fit.py (weighted minimax fits rounded to float; rerun it to reproduce every
 * literal below).
 *
 * Accuracy, measured by tests/dmath_exhaustive.c over all 2^32 float inputs (every finite, inf and
 * NaN bit pattern) against float64 libm; error = |y - ref| / ulp(ref), ulp = spacing of floats at
 * ref rounded to float (2^-149 for subnormals). tests/test_dmath.c and tests/dmath_exhaustive.c
 * assert these maxima, rounded up to 3 decimals, as bounds.
 *
 *   function     max ulp  at x                          normal results only (|ref| >= FLT_MIN)
 *   fr_dexp      0.7579   -87.6980591    (0xc2af6568)    0.5987 at 3.12151718 (0x4047c6f0)
 *   fr_dexpm1    0.8652     0.349046826  (0x3eb2b644)    same
 *   fr_dlog      0.8579     0.704180419  (0x3f34452b)    same
 *   fr_dsin      0.7220     1.67388673e25 (0x695d897d)   same
 *   fr_dcos      0.7207     1.75948788e38 (0x7f045e81)   same
 *   fr_dtanh     0.6395     0.49470371   (0x3efd49ce)    same
 *   fr_derf      0.7510     0.464208722  (0x3eedacc4)    same
 *   fr_derfc     0.8107     6.52863932   (0x40d0ea9d)    same
 *   fr_dsqrt     0.5        (correctly rounded)
 *   fr_drsqrt    1.4904     1.18276583e-38 (0x0080cab3)  same; two roundings (sqrt, then 1/s) by design
 *   fr_dsigmoid  0.7579   -87.6980591    (0xc2af6568)    0.5971 at -28.0684948 (0xc1e08c47)
 *   fr_dsilu     0.7771   -91.8846512    (0xc2b7c4f1)    0.6135 at -89.055809 (0xc2b21c93)
 *   fr_dgelu     0.8362    -8.63165379   (0xc10a1b41)    same
 *   (the larger maxima of exp, sigmoid and silu are subnormal results, rounded twice.)
 *
 * Special values (any NaN input gives a NaN; results at inf are exact):
 *   fr_dexp      exp(-inf) = +0, exp(+inf) = +inf; +inf for x > 88.72283 (0x1.62e42ep6), subnormal
 *                results below -87.34, +0 for x < -103.97208 (-0x1.9fe368p6).
 *   fr_dexpm1    expm1(+-0) = +-0 (returns x for |x| < 2^-25), -1 for x < -17.5 and -inf, +inf as exp.
 *   fr_dlog      log(+-0) = -inf, log(x < 0) = NaN, log(+inf) = +inf, log(1) = +0; subnormal x is
 *                normalised exactly (no loss of accuracy).
 *   fr_dsin      sin(+-0) = +-0 (returns x for |x| < 2^-12), sin(+-inf) = NaN.
 *   fr_dcos      cos(+-0) = 1 (1 for |x| < 2^-12), cos(+-inf) = NaN.
 *   fr_dtanh     tanh(+-0) = +-0 (x for |x| < 2^-12), +-1 for |x| > 9.5 and +-inf.
 *   fr_derf      erf(+-0) = +-0, +-1 for |x| >= 4 and +-inf.
 *   fr_derfc     erfc(-inf) = 2 (2 for x < -4), erfc(+inf) = +0 (+0 for x > 10.0541945).
 *   fr_dsqrt     sqrtf: sqrt(-0) = -0, sqrt(x < 0) = NaN.
 *   fr_drsqrt    1/sqrtf(x): rsqrt(+0) = +inf, rsqrt(-0) = -inf, rsqrt(+inf) = +0, x < 0: NaN.
 *   fr_dsigmoid  sigmoid(-inf) = +0 (+0 for x < -120), sigmoid(+inf) = 1 (1 for x > 120).
 *   fr_dsilu     silu(+-0) = +-0, silu(-inf) = -0 (-0 for x < -120), silu(+inf) = +inf (x for x > 120).
 *   fr_dgelu     gelu(+-0) = +-0, gelu(-inf) = -0 (-0 for x < -14.356068), gelu(+inf) = +inf (x for
 *                x > 8).
 */
#ifndef FRACTAL_DMATH_H
#define FRACTAL_DMATH_H

#include <math.h> /* declarations of fmaf and sqrtf only */

#include "fractal/defs.h"

/* ---- constants, from tools/dev/dmath_fit.py ---- */
#define FR_DM_MAGIC 0x1.8p23f /* (v + MAGIC) - MAGIC rounds v to an integer, |v| < 2^22 */
#define FR_DM_LOG2E 0x1.715476p0f
#define FR_DM_LN2_HI 0x1.62e430p-1f /* ln2 = HI + LO to 2^-52 relative */
#define FR_DM_LN2_LO -0x1.05c610p-29f
#define FR_DM_LN2_HI16 0x1.62e400p-1f /* 16 bits, so that e * HI16 is exact for |e| < 2^8 */
#define FR_DM_LN2_LO16 0x1.7f7d1cp-20f
#define FR_DM_2_OVER_PI 0x1.45f306p-1f
#define FR_DM_PIO2_1 0x1.921fb6p0f /* pi/2 = PIO2_1 + PIO2_2 + PIO2_3 to 1e-23 */
#define FR_DM_PIO2_2 -0x1.777a5cp-25f
#define FR_DM_PIO2_3 -0x1.ee59dap-50f
#define FR_DM_2_OVER_SQRTPI_HI 0x1.20dd76p0f
#define FR_DM_2_OVER_SQRTPI_LO -0x1.f7ac92p-25f
#define FR_DM_SQRT1_2_HI 0x1.6a09e6p-1f
#define FR_DM_SQRT1_2_LO 0x1.9fcef4p-27f

#define FR_DM_EXP_MAX 0x1.62e42ep6f   /* 88.7228317: largest float with finite exp */
#define FR_DM_EXP_MIN -0x1.9fe368p6f  /* -103.972076: smallest float with nonzero exp */
#define FR_DM_ERFC_MAX 0x1.41bbf6p3f  /* 10.0541945: largest float with nonzero erfc */
#define FR_DM_GELU_MIN -0x1.cb64e8p3f /* -14.3560677: most negative float with nonzero gelu */

/* e^r = 1 + r + r^2 Q(r), |r| <= 0.3467; error relative to e^r - 1: 2^-31.0 */
#define FR_DM_EXP_Q0 0x1.000000p-1f
#define FR_DM_EXP_Q1 0x1.555554p-3f
#define FR_DM_EXP_Q2 0x1.5554f0p-5f
#define FR_DM_EXP_Q3 0x1.111306p-7f
#define FR_DM_EXP_Q4 0x1.6d4372p-10f
#define FR_DM_EXP_Q5 0x1.9e0c38p-13f

/* log1p(f) = 2 atanh(s) = 2s + s (T0 z + T1 z^2 + T2 z^3 + T3 z^4), z = s^2 <= 0.0295; 2^-35.0 */
#define FR_DM_LOG_T0 0x1.555554p-1f
#define FR_DM_LOG_T1 0x1.999bd4p-2f
#define FR_DM_LOG_T2 0x1.23f1a4p-2f
#define FR_DM_LOG_T3 0x1.ec1ce4p-3f

/* sin r = r + r^3 S(r^2), r^2 <= 0.6218; error relative to sin: 2^-32.2 */
#define FR_DM_SIN_S0 -0x1.555556p-3f
#define FR_DM_SIN_S1 0x1.111164p-7f
#define FR_DM_SIN_S2 -0x1.a0483cp-13f
#define FR_DM_SIN_S3 0x1.77cd1ep-19f

/* cos r = 1 - r^2/2 + r^4 C(r^2), r^2 <= 0.6218; error relative to cos: 2^-36.7 */
#define FR_DM_COS_C0 0x1.555556p-5f
#define FR_DM_COS_C1 -0x1.6c1750p-10f
#define FR_DM_COS_C2 0x1.a063e2p-16f
#define FR_DM_COS_C3 -0x1.32bd5ap-22f

/* tanh x = x + x^3 T(x^2), |x| <= 0.5; error relative to tanh: 2^-33.5 */
#define FR_DM_TANH_T0 -0x1.555556p-2f
#define FR_DM_TANH_T1 0x1.111144p-3f
#define FR_DM_TANH_T2 -0x1.ba24b4p-5f
#define FR_DM_TANH_T3 0x1.6679f0p-6f
#define FR_DM_TANH_T4 -0x1.1eac6ap-7f
#define FR_DM_TANH_T5 0x1.72f8c2p-9f

/* erf x = x (2/sqrt(pi) + x^2 Q(x^2)), |x| <= 0.5; error relative to erf: 2^-33.6 */
#define FR_DM_ERF_Q0 -0x1.812746p-2f
#define FR_DM_ERF_Q1 0x1.ce2eb8p-4f
#define FR_DM_ERF_Q2 -0x1.b8165cp-6f
#define FR_DM_ERF_Q3 0x1.5423fep-8f
#define FR_DM_ERF_Q4 -0x1.8b1a1cp-11f

/* gelu x = x/2 + x^2 H(x^2), x^2 <= 0.1251; error relative to gelu: 2^-29.7 */
#define FR_DM_GELU_H0 0x1.988454p-2f
#define FR_DM_GELU_H1 -0x1.105918p-4f
#define FR_DM_GELU_H2 0x1.477428p-7f
#define FR_DM_GELU_H3 -0x1.66d73cp-10f
#define FR_DM_GELU_H4 0x1.6e7e66p-11f

/* ---- building blocks ---- */

/* The cores shared by several functions, and the functions the CPU backend runs in loops (exp, sigmoid,
 * SiLU, GELU), are always inlined on the host: a call left inside such a loop stops the compiler from
 * vectorising it. */
#if !defined(__CUDACC__) && defined(__GNUC__)
#define FR_DM_CORE FR_HD FR_INLINE __attribute__((always_inline))
#else
#define FR_DM_CORE FR_HD FR_INLINE
#endif

/* One of five values by index, with masks on their bits: no branch, so loops over the functions that
 * use it vectorise (a chain of conditional expressions becomes one five-way join the compiler's
 * if-conversion gives up on). */
FR_HD FR_INLINE float fr_dm_pick5_(int i, float a, float b, float c, float d, float e)
{
  return fr_f32_from_bits((fr_f32_bits(a) & (0u - (uint32_t)(i == 0))) | (fr_f32_bits(b) & (0u - (uint32_t)(i == 1))) |
                          (fr_f32_bits(c) & (0u - (uint32_t)(i == 2))) | (fr_f32_bits(d) & (0u - (uint32_t)(i == 3))) |
                          (fr_f32_bits(e) & (0u - (uint32_t)(i >= 4))));
}

/* 2^k for -126 <= k <= 127, from its bits. */
FR_HD FR_INLINE float fr_dm_pow2_(int k) { return fr_f32_from_bits((uint32_t)(k + 127) << 23); }

/* v * 2^k for |k| <= 252, in two steps: for 2^-30 <= |v| <= 2^30 and |k| <= 180 the first product
 * is exact and normal, so that a subnormal result is rounded once, by the second. */
FR_DM_CORE float fr_dm_scale_(float v, int k)
{
  const int k1 = k / 2;
  return (v * fr_dm_pow2_(k1)) * fr_dm_pow2_(k - k1);
}

/* |x| and copysign(y, x) by bits. */
FR_HD FR_INLINE float fr_dm_abs_(float x) { return fr_f32_from_bits(fr_f32_bits(x) & 0x7fffffffu); }
FR_HD FR_INLINE float fr_dm_copysign_(float y, float x)
{
  return fr_f32_from_bits((fr_f32_bits(y) & 0x7fffffffu) | (fr_f32_bits(x) & 0x80000000u));
}

/* s = fl(a + b) and the exact error a + b - s (Knuth's TwoSum, any magnitudes). */
FR_DM_CORE float fr_dm_two_sum_(float a, float b, float *err)
{
  const float s = a + b;
  const float bb = s - a;
  *err = (a - (s - bb)) + (b - bb);
  return s;
}

/* e^(a_hi + a_lo) = 2^k (e_hi + e_lo), returning k, for a_hi in [-180, 89] and |a_lo| <= 2^-16.
 * e_hi + e_lo lies in [0.70, 1.42], |e_lo| <= ulp(e_hi)/2, relative error about 2^-28: the
 * callers need more than a rounded e^x (expm1, tanh, sigmoid, erfc all subtract or divide). */
FR_DM_CORE int fr_dm_exp_core_(float a_hi, float a_lo, float *e_hi, float *e_lo)
{
  const float kf = (a_hi * FR_DM_LOG2E + FR_DM_MAGIC) - FR_DM_MAGIC;
  /* a_hi - k ln2: exact, because k * LN2_HI and a_hi are multiples of 2^-25 wherever k != 0 and
   * the difference is below 0.5 in magnitude. */
  const float r_hi = fmaf(-kf, FR_DM_LN2_HI, a_hi);
  const float t = fmaf(-kf, FR_DM_LN2_LO, a_lo);
  const float r = r_hi + t;
  const float c = (r_hi - r) + t; /* r + c = r_hi + t exactly (Fast2Sum; |t| is tiny) */
  float q = fmaf(FR_DM_EXP_Q5, r, FR_DM_EXP_Q4);
  q = fmaf(q, r, FR_DM_EXP_Q3);
  q = fmaf(q, r, FR_DM_EXP_Q2);
  q = fmaf(q, r, FR_DM_EXP_Q1);
  q = fmaf(q, r, FR_DM_EXP_Q0);
  /* e^(r + c) = 1 + r + (r^2 Q(r) + c (1 + r)), summed so that 1 + r loses nothing. */
  const float s = fmaf(r * r, q, fmaf(c, r, c));
  const float h1 = 1.0f + r;
  const float l1 = (1.0f - h1) + r; /* exact: |r| < 1 */
  const float m = l1 + s;
  *e_hi = h1 + m;
  *e_lo = (h1 - *e_hi) + m; /* exact: |m| < 0.1 < |h1| */
  return (int)kf;
}

/* ---- exp, expm1, log ---- */

FR_DM_CORE float fr_dexp(float x)
{
  if (x != x) return x + x;
  if (x > FR_DM_EXP_MAX) return fr_f32_from_bits(0x7f800000u);
  if (x < FR_DM_EXP_MIN) return 0.0f;
  float e_hi, e_lo;
  const int k = fr_dm_exp_core_(x, 0.0f, &e_hi, &e_lo);
  return fr_dm_scale_(e_hi, k); /* e_hi is e_hi + e_lo rounded; subnormal results round again */
}

FR_HD FR_INLINE float fr_dexpm1(float x)
{
  if (x != x) return x + x;
  if (x > FR_DM_EXP_MAX) return fr_f32_from_bits(0x7f800000u);
  if (x < -17.5f) return -1.0f;           /* e^x < 2^-25: e^x - 1 rounds to -1 */
  if (fr_dm_abs_(x) < 0x1p-25f) return x; /* x + x^2/2 rounds to x; keeps -0 */
  float e_hi, e_lo;
  const int k = fr_dm_exp_core_(x, 0.0f, &e_hi, &e_lo);
  if (k <= 24) {
    /* 2^k (e_hi + e_lo) - 1 with the subtraction of 1 done exactly (TwoSum): near x = 0 this is
     * where all the cancellation happens. */
    const float p2 = fr_dm_pow2_(k); /* k >= -26 */
    float l;
    const float h = fr_dm_two_sum_(e_hi * p2, -1.0f, &l);
    return h + (l + e_lo * p2);
  }
  /* k > 24: the 1 only matters below half an ulp of e_hi; fold it into the low part. */
  return fr_dm_scale_(e_hi + (e_lo - fr_dm_scale_(1.0f, -k)), k);
}

FR_HD FR_INLINE float fr_dlog(float x)
{
  uint32_t u = fr_f32_bits(x);
  int e = 0;
  if (u >= 0x7f800000u) { /* +inf, NaN, and everything with the sign bit set */
    if (u == 0x7f800000u) return x;
    if (x != x) return x + x;
    if (x == 0.0f) return fr_f32_from_bits(0xff800000u); /* log(-0) = -inf */
    return fr_f32_from_bits(0x7fc00000u);                /* x < 0 */
  }
  if (u < 0x00800000u) {
    if (u == 0) return fr_f32_from_bits(0xff800000u);
    u = fr_f32_bits(x * 0x1p23f); /* subnormal: normalise exactly */
    e = -23;
  }
  /* x = 2^e m with m in [sqrt(1/2), sqrt(2)], so that f = m - 1 is exact and |f| <= 0.4143 */
  e += (int)(u >> 23) - 127;
  u = (u & 0x007fffffu) | 0x3f800000u;
  if (u > 0x3fb504f3u) { /* m > sqrt(2): halve it */
    u -= 0x00800000u;
    e++;
  }
  const float f = fr_f32_from_bits(u) - 1.0f;
  /* log1p(f) = 2 atanh(s) with s = f / (2 + f), |s| <= 0.1716, rewritten as
   * f - (f^2/2 - s (f^2/2 + T(s^2))) so that the rounded s only touches a term ~f^2/4. */
  const float s = f / (2.0f + f);
  const float z = s * s;
  float t = fmaf(FR_DM_LOG_T3, z, FR_DM_LOG_T2);
  t = fmaf(t, z, FR_DM_LOG_T1);
  t = fmaf(t, z, FR_DM_LOG_T0);
  t = t * z;
  const float hfsq = 0.5f * (f * f);
  const float ef = (float)e;
  const float c = fmaf(ef, FR_DM_LN2_LO16, fmaf(s, hfsq + t, -hfsq));
  /* e ln2 + f + c: e * LN2_HI16 is exact, and e ln2 + f is summed exactly (Fast2Sum: |e ln2| >
   * |f| unless e = 0) so that the result is rounded once. */
  const float a = ef * FR_DM_LN2_HI16;
  const float sum = a + f;
  const float err = (a - sum) + f;
  return sum + (err + c);
}

/* ---- sin, cos ---- */

/* Bits of 2/pi, 32 per word from the binary point: immediates, so that host and device code need
 * no table in memory. */
FR_HD FR_INLINE uint32_t fr_dm_2opi_word_(int i)
{
  switch (i) {
  case 0: return 0xa2f9836eu;
  case 1: return 0x4e441529u;
  case 2: return 0xfc2757d1u;
  case 3: return 0xf534ddc0u;
  case 4: return 0xdb629599u;
  case 5: return 0x3c439041u;
  default: return 0xfe5163abu;
  }
}

/* Leading zero bits of v != 0. */
FR_HD FR_INLINE int fr_dm_clz64_(uint64_t v)
{
  int n = 0;
  if (!(v >> 32)) {
    n += 32;
    v <<= 32;
  }
  if (!(v >> 48)) {
    n += 16;
    v <<= 16;
  }
  if (!(v >> 56)) {
    n += 8;
    v <<= 8;
  }
  if (!(v >> 60)) {
    n += 4;
    v <<= 4;
  }
  if (!(v >> 62)) {
    n += 2;
    v <<= 2;
  }
  if (!(v >> 63)) n += 1;
  return n;
}

/* x = (4j + q) pi/2 + r_hi + r_lo with |r_hi + r_lo| <= pi/4 (+ 0.003), |r_lo| <= ulp(r_hi)/2;
 * returns q. For finite x with |x| >= 2^-12. */
FR_HD FR_INLINE int fr_dm_rem_pio2_(float x, float *r_hi, float *r_lo)
{
  const uint32_t ux = fr_f32_bits(x) & 0x7fffffffu;
  if (ux < 0x47800000u) {
    /* |x| < 2^16: Cody-Waite with pi/2 in three floats. n < 2^16, x - n PIO2_1 is exact (both
     * are multiples of ulp(x) or 2^-23 and the difference is below 1), n PIO2_2 is split exactly
     * with an fma, and n PIO2_3 plus pi/2's remaining 1e-23 only touch the low part. */
    const float nf = (x * FR_DM_2_OVER_PI + FR_DM_MAGIC) - FR_DM_MAGIC;
    const float r1 = fmaf(-nf, FR_DM_PIO2_1, x);
    const float p_hi = nf * FR_DM_PIO2_2;
    const float p_lo = fmaf(nf, FR_DM_PIO2_2, -p_hi);
    float e;
    const float r = fr_dm_two_sum_(r1, -p_hi, &e);
    const float lo = fmaf(-nf, FR_DM_PIO2_3, e - p_lo);
    *r_hi = r + lo;
    *r_lo = (r - *r_hi) + lo;
    return (int)((uint32_t)(int32_t)nf & 3u);
  }
  /* Payne-Hanek: |x| = m 2^ex with a 24-bit integer m. |x| 2/pi mod 4 needs the bits of 2/pi
   * from weight 2^-(ex-1) on (earlier bits only add multiples of 4), 128 of them: m times those
   * 4 words gives the quadrant and 64 fraction bits with at least 94 bits below the binary point,
   * more than the worst cancellation of any float (about 2^-30 of pi/2). */
  const int ex = (int)(ux >> 23) - 150; /* -7 .. 104 */
  const uint32_t m = (ux & 0x007fffffu) | 0x00800000u;
  const int j0 = ex >= 2 ? (ex - 2) >> 5 : 0;
  uint32_t p[6];
  uint64_t acc = (uint64_t)m * fr_dm_2opi_word_(j0 + 3);
  p[0] = (uint32_t)acc;
  acc = (uint64_t)m * fr_dm_2opi_word_(j0 + 2) + (acc >> 32);
  p[1] = (uint32_t)acc;
  acc = (uint64_t)m * fr_dm_2opi_word_(j0 + 1) + (acc >> 32);
  p[2] = (uint32_t)acc;
  acc = (uint64_t)m * fr_dm_2opi_word_(j0) + (acc >> 32);
  p[3] = (uint32_t)acc;
  p[4] = (uint32_t)(acc >> 32);
  p[5] = 0;
  /* product = |x| 2/pi * 2^s (mod 2^(s+2)), s = 95 .. 135 */
  const int s = 32 * (j0 + 4) - ex;
  const int lo = s - 64, wi = lo >> 5, b = lo & 31;
  uint64_t f = ((((uint64_t)p[wi + 2] << 32) | p[wi + 1]) << (32 - b)) | (p[wi] >> b);
  uint32_t q = (uint32_t)(((((uint64_t)p[(s >> 5) + 1]) << 32) | p[s >> 5]) >> (s & 31)) & 3u;
  int neg = 0;
  if (f >> 63) { /* fraction >= 1/2: round the quotient up, the remainder becomes negative */
    f = ~f + 1u;
    q = (q + 1u) & 3u;
    neg = 1;
  }
  float rh = 0.0f, rl = 0.0f;
  if (f != 0) {
    /* fraction f 2^-64 as fh + fl (48 bits), times pi/2 = PIO2_1 + PIO2_2 as a double float */
    const int lz = fr_dm_clz64_(f);
    f <<= lz;
    const float fh = (float)(uint32_t)(f >> 40) * fr_dm_pow2_(-24 - lz);
    const float fl = (float)(uint32_t)((f >> 16) & 0xffffffu) * fr_dm_pow2_(-48 - lz);
    const float ph = fh * FR_DM_PIO2_1;
    const float pl = fmaf(fh, FR_DM_PIO2_1, -ph) + fmaf(fh, FR_DM_PIO2_2, fl * FR_DM_PIO2_1);
    rh = ph + pl;
    rl = (ph - rh) + pl;
  }
  if (neg ^ (x < 0.0f)) { /* sin is odd: x < 0 flips the remainder and negates the quadrant */
    rh = -rh;
    rl = -rl;
  }
  if (x < 0.0f) q = (4u - q) & 3u;
  *r_hi = rh;
  *r_lo = rl;
  return (int)q;
}

/* sin(r_hi + r_lo) for |r_hi| <= 0.7885: r + r^3 S(r^2), with r_lo cos(r_hi) folded in. */
FR_HD FR_INLINE float fr_dm_sin_r_(float rh, float rl)
{
  const float z = rh * rh;
  float p = fmaf(FR_DM_SIN_S3, z, FR_DM_SIN_S2);
  p = fmaf(p, z, FR_DM_SIN_S1);
  p = fmaf(p, z, FR_DM_SIN_S0);
  return rh + fmaf(rh * z, p, fmaf(-0.5f * z, rl, rl));
}

/* cos(r_hi + r_lo) for |r_hi| <= 0.7885: 1 - r^2/2 + r^4 C(r^2), with 1 - r_hi^2/2 computed
 * exactly (fma for r_hi^2, Fast2Sum for the subtraction) and -r_hi r_lo folded in. */
FR_HD FR_INLINE float fr_dm_cos_r_(float rh, float rl)
{
  const float z = rh * rh;
  const float z_lo = fmaf(rh, rh, -z);
  const float hz = 0.5f * z;
  const float w = 1.0f - hz;
  const float w_err = (1.0f - w) - hz;
  float p = fmaf(FR_DM_COS_C3, z, FR_DM_COS_C2);
  p = fmaf(p, z, FR_DM_COS_C1);
  p = fmaf(p, z, FR_DM_COS_C0);
  return w + fmaf(z * z, p, w_err - fmaf(rh, rl, 0.5f * z_lo));
}

FR_HD FR_INLINE float fr_dsin(float x)
{
  const uint32_t ux = fr_f32_bits(x) & 0x7fffffffu;
  if (ux >= 0x7f800000u) return x - x; /* inf, NaN: NaN */
  if (ux < 0x39800000u) return x;      /* |x| < 2^-12: x - x^3/6 rounds to x */
  float rh, rl;
  const int q = fr_dm_rem_pio2_(x, &rh, &rl);
  const float y = (q & 1) ? fr_dm_cos_r_(rh, rl) : fr_dm_sin_r_(rh, rl);
  return (q & 2) ? -y : y;
}

FR_HD FR_INLINE float fr_dcos(float x)
{
  const uint32_t ux = fr_f32_bits(x) & 0x7fffffffu;
  if (ux >= 0x7f800000u) return x - x;
  if (ux < 0x39800000u) return 1.0f; /* 1 - x^2/2 rounds to 1 */
  float rh, rl;
  const int q = fr_dm_rem_pio2_(x, &rh, &rl);
  const float y = (q & 1) ? fr_dm_sin_r_(rh, rl) : fr_dm_cos_r_(rh, rl);
  return ((q + 1) & 2) ? -y : y;
}

/* ---- tanh, sigmoid, silu ---- */

/* (n_hi + n_lo) / (d_hi + d_lo) as q_hi + q_lo: the division's remainder is exact with an fma,
 * so only the final sum q_hi + q_lo needs to round. */
FR_DM_CORE float fr_dm_div2_(float n_hi, float n_lo, float d_hi, float d_lo, float *q_lo)
{
  const float q = n_hi / d_hi;
  const float rem = fmaf(-q, d_lo, fmaf(-q, d_hi, n_hi) + n_lo);
  *q_lo = rem / d_hi;
  return q;
}

FR_HD FR_INLINE float fr_dtanh(float x)
{
  const float ax = fr_dm_abs_(x);
  if (ax != ax) return x + x;
  if (ax > 9.5f) return fr_dm_copysign_(1.0f, x); /* 1 - tanh < 2^-26 */
  if (ax < 0x1p-12f) return x;                    /* x - x^3/3 rounds to x */
  if (ax < 0.5f) {
    const float z = x * x;
    float p = fmaf(FR_DM_TANH_T5, z, FR_DM_TANH_T4);
    p = fmaf(p, z, FR_DM_TANH_T3);
    p = fmaf(p, z, FR_DM_TANH_T2);
    p = fmaf(p, z, FR_DM_TANH_T1);
    p = fmaf(p, z, FR_DM_TANH_T0);
    return fmaf(x, z * p, x);
  }
  /* tanh |x| = (1 - E) / (1 + E), E = e^-2|x| <= 0.37: no cancellation in 1 - E, no overflow,
   * and E as a double float keeps numerator and denominator exact to 2^-28. */
  float e_hi, e_lo, q_lo;
  const int k = fr_dm_exp_core_(-2.0f * ax, 0.0f, &e_hi, &e_lo);
  const float p2 = fr_dm_pow2_(k); /* -28 <= k <= -1 */
  const float eh = e_hi * p2, el = e_lo * p2;
  const float n_hi = 1.0f - eh, n_lo = ((1.0f - n_hi) - eh) - el;
  const float d_hi = 1.0f + eh, d_lo = ((1.0f - d_hi) + eh) + el;
  const float q = fr_dm_div2_(n_hi, n_lo, d_hi, d_lo, &q_lo);
  return fr_dm_copysign_(q + q_lo, x);
}

/* sigmoid(x) = 2^k (q_hi + q_lo) for |x| <= 120: 1 / (1 + E) for x >= 0 and E / (1 + E) for
 * x < 0, E = e^-|x|, so that nothing overflows and small results keep their relative accuracy. */
FR_DM_CORE int fr_dm_sigmoid_core_(float x, float *q_hi, float *q_lo)
{
  float e_hi, e_lo;
  const int k = fr_dm_exp_core_(-fr_dm_abs_(x), 0.0f, &e_hi, &e_lo);
  const float eh = fr_dm_scale_(e_hi, k), el = fr_dm_scale_(e_lo, k);
  const float d_hi = 1.0f + eh, d_lo = ((1.0f - d_hi) + eh) + el;
  if (x >= 0.0f) {
    *q_hi = fr_dm_div2_(1.0f, 0.0f, d_hi, d_lo, q_lo);
    return 0;
  }
  *q_hi = fr_dm_div2_(e_hi, e_lo, d_hi, d_lo, q_lo); /* scaled by 2^-k, so subnormals are fine */
  return k;
}

FR_DM_CORE float fr_dsigmoid(float x)
{
  if (x != x) return x + x;
  if (x > 120.0f) return 1.0f;
  if (x < -120.0f) return 0.0f;
  float q_hi, q_lo;
  const int k = fr_dm_sigmoid_core_(x, &q_hi, &q_lo);
  return fr_dm_scale_(q_hi + q_lo, k);
}

FR_DM_CORE float fr_dsilu(float x)
{
  if (x != x) return x + x;
  if (x > 120.0f) return x;
  if (x < -120.0f) return -0.0f; /* |x| e^x < 2^-150 */
  float q_hi, q_lo;
  const int k = fr_dm_sigmoid_core_(x, &q_hi, &q_lo);
  return fr_dm_scale_(fmaf(x, q_hi, x * q_lo), k); /* x (q_hi + q_lo), one rounding */
}

/* ---- erf, erfc, gelu ---- */

/* erf(x) = h + l for |x| <= 0.5: x 2/sqrt(pi) exactly as h + its fma error, plus the rest. */
FR_DM_CORE float fr_dm_erf_small_(float x, float *l)
{
  const float z = x * x;
  float p = fmaf(FR_DM_ERF_Q4, z, FR_DM_ERF_Q3);
  p = fmaf(p, z, FR_DM_ERF_Q2);
  p = fmaf(p, z, FR_DM_ERF_Q1);
  p = fmaf(p, z, FR_DM_ERF_Q0);
  const float h = x * FR_DM_2_OVER_SQRTPI_HI;
  *l = fmaf(x, FR_DM_2_OVER_SQRTPI_HI, -h) + x * fmaf(z, p, FR_DM_2_OVER_SQRTPI_LO);
  return h;
}

/* erfc(z_hi + z_lo) = 2^k (y_hi + y_lo), returning k, for 0.25 <= z_hi <= 10.5 and
 * |z_lo| <= ulp(z_hi): e^(-z^2) F(z) with F = erfcx piecewise polynomial. The exponent -z^2 is
 * carried as a double float (it is up to 110, so its rounding error alone would be 2^-18
 * relative), and so is z itself for gelu, whose argument x/sqrt(2) is not a float. */
FR_DM_CORE int fr_dm_erfc_core_(float z_hi, float z_lo, float *y_hi, float *y_lo)
{
  /* the interval z lies in: [0.25, 1), [1, 2), [2, 3.5), [3.5, 6), [6, 10.5] (callers never pass NaN);
   * each coefficient is picked by value, so that the function has no branch to vectorise around */
  const int iv = (z_hi >= 1.0f) + (z_hi >= 2.0f) + (z_hi >= 3.5f) + (z_hi >= 6.0f);
  /* generated by tools/dev/dmath_fit.py; max rel err per interval 2^-30.8, 2^-30.7, 2^-31.2, 2^-29.3, 2^-27.7 */
  const float mid = fr_dm_pick5_(iv, 0x1.400000p-1f, 0x1.800000p0f, 0x1.600000p1f, 0x1.300000p2f, 0x1.080000p3f);
  const float c0h = fr_dm_pick5_(iv, 0x1.1d16b6p-1f, 0x1.494db0p-2f, 0x1.8c9eb6p-3f, 0x1.dc603ap-4f, 0x1.1618fcp-4f);
  const float c0l =
      fr_dm_pick5_(iv, -0x1.fb6532p-27f, -0x1.439d18p-32f, 0x1.2459a0p-28f, 0x1.1ca73ep-30f, -0x1.47d534p-31f);
  const float c1 =
      fr_dm_pick5_(iv, -0x1.babd0ep-2f, -0x1.4f1988p-3f, -0x1.030578p-4f, -0x1.81149cp-6f, -0x1.09d8b0p-7f);
  const float c2 = fr_dm_pick5_(iv, 0x1.257740p-2f, 0x1.37ea24p-4f, 0x1.43b986p-6f, 0x1.317c02p-8f, 0x1.f8c336p-11f);
  const float c3 =
      fr_dm_pick5_(iv, -0x1.59c384p-3f, -0x1.0dc544p-5f, -0x1.84e9bep-8f, -0x1.dc1ab8p-11f, -0x1.dbf466p-14f);
  const float c4 = fr_dm_pick5_(iv, 0x1.72d614p-4f, 0x1.b65c26p-7f, 0x1.c2cc66p-10f, 0x1.6ccc8ap-13f, 0x1.bdf038p-17f);
  const float c5 =
      fr_dm_pick5_(iv, -0x1.6fc1f4p-5f, -0x1.513174p-8f, -0x1.f99a8ep-12f, -0x1.12fdf4p-15f, -0x1.9f11bap-20f);
  const float c6 = fr_dm_pick5_(iv, 0x1.54b6e2p-6f, 0x1.ed7fc6p-10f, 0x1.1247bcp-13f, 0x1.9594d6p-18f, 0x1.7b7a94p-23f);
  const float c7 =
      fr_dm_pick5_(iv, -0x1.2bed9cp-7f, -0x1.5cb2dcp-11f, -0x1.22e1d2p-15f, -0x1.28395cp-20f, -0x1.5b73b6p-26f);
  const float c8 = fr_dm_pick5_(iv, 0x1.062684p-8f, 0x1.f4a604p-13f, 0x1.470186p-17f, 0x1.e713b0p-23f, 0x1.7bc00ap-29f);
  const float c9 =
      fr_dm_pick5_(iv, -0x1.74b7c2p-10f, -0x1.2768d0p-14f, -0x1.4045dcp-19f, -0x1.5c9b70p-25f, -0x1.5ec824p-32f);
  /* t = z - mid: z_hi - mid is exact (mid is short and close to z_hi); z_lo is added with its
   * rounding error dt kept, to first order, as dt F'(t) ~ dt q. */
  const float t0 = z_hi - mid;
  const float t = t0 + z_lo;
  const float dt = (t0 - t) + z_lo;
  float q = fmaf(c9, t, c8);
  q = fmaf(q, t, c7);
  q = fmaf(q, t, c6);
  q = fmaf(q, t, c5);
  q = fmaf(q, t, c4);
  q = fmaf(q, t, c3);
  q = fmaf(q, t, c2);
  q = fmaf(q, t, c1);
  /* F = c0 + t q as f_hi + f_lo: the last step of Horner's rule done exactly */
  const float p_hi = t * q;
  const float p_lo = fmaf(t, q, -p_hi);
  float f_lo;
  const float f_hi = fr_dm_two_sum_(c0h, p_hi, &f_lo);
  f_lo += p_lo + fmaf(dt, q, c0l);
  /* -z^2 = -(zz + zz_lo) */
  const float zz = z_hi * z_hi;
  const float zz_lo = fmaf(z_hi, z_hi, -zz) + (z_hi + z_hi) * z_lo;
  float e_hi, e_lo;
  const int k = fr_dm_exp_core_(-zz, -zz_lo, &e_hi, &e_lo);
  *y_hi = e_hi * f_hi;
  *y_lo = fmaf(e_hi, f_hi, -*y_hi) + fmaf(e_hi, f_lo, e_lo * f_hi);
  return k;
}

FR_HD FR_INLINE float fr_derf(float x)
{
  const float ax = fr_dm_abs_(x);
  if (ax != ax) return x + x;
  if (ax < 0x1p-60f) {
    /* erf x = 2/sqrt(pi) x: scaled up first so that a subnormal result is rounded only once */
    if (ax == 0.0f) return x;
    const float xs = x * 0x1p64f;
    return fmaf(xs, FR_DM_2_OVER_SQRTPI_HI, xs * FR_DM_2_OVER_SQRTPI_LO) * 0x1p-64f;
  }
  if (ax < 0.5f) {
    float l;
    const float h = fr_dm_erf_small_(x, &l);
    return h + l;
  }
  if (ax >= 4.0f) return fr_dm_copysign_(1.0f, x); /* erfc(4) < 2^-25 */
  /* 0.5 <= |x| < 4: erf = 1 - erfc with erfc <= 0.48 as an unrounded double float (accurate to
   * about 2^-27), better than the series, whose x^3 Q term grows to a quarter of erf near 1. */
  float y_hi, y_lo;
  const int k = fr_dm_erfc_core_(ax, 0.0f, &y_hi, &y_lo);
  const float p2 = fr_dm_pow2_(k); /* k >= -28 */
  const float u_hi = y_hi * p2, u_lo = y_lo * p2;
  const float w = 1.0f - u_hi;
  const float w_err = (1.0f - w) - u_hi;
  return fr_dm_copysign_(w + (w_err - u_lo), x);
}

FR_HD FR_INLINE float fr_derfc(float x)
{
  if (x != x) return x + x;
  if (x > FR_DM_ERFC_MAX) return 0.0f;
  if (x < -4.0f) return 2.0f; /* 2 - erfc(4) rounds to 2 */
  const float ax = fr_dm_abs_(x);
  if (ax < 0.25f) { /* 1 - erf x in [0.72, 1.28] */
    float l;
    const float h = fr_dm_erf_small_(x, &l);
    const float w = 1.0f - h;
    const float w_err = (1.0f - w) - h;
    return w + (w_err - l);
  }
  float y_hi, y_lo;
  const int k = fr_dm_erfc_core_(ax, 0.0f, &y_hi, &y_lo);
  if (x > 0.0f) return fr_dm_scale_(y_hi + y_lo, k);
  /* x <= -0.25: 2 - erfc|x| in [1.28, 2] */
  const float p2 = fr_dm_pow2_(k); /* k >= -28 */
  const float u_hi = y_hi * p2, u_lo = y_lo * p2;
  const float w = 2.0f - u_hi;
  const float w_err = (2.0f - w) - u_hi;
  return w + (w_err - u_lo);
}

/* sqrt and 1/sqrt: one correctly rounded sqrtf, then one division. */
FR_HD FR_INLINE float fr_dsqrt(float x) { return sqrtf(x); }
FR_HD FR_INLINE float fr_drsqrt(float x) { return 1.0f / sqrtf(x); }

/* gelu x = x/2 (1 + erf(x/sqrt2)) = x/2 erfc(-x/sqrt2), the exact (erf) GELU. Both routes (the series
 * near 0 and erfc) are computed for every x and the result is picked at the end, each pick a two-way
 * selection: with no branch, a loop over gelu vectorises, and each lane still runs exactly the
 * operations of its own route. */
FR_DM_CORE float fr_dgelu(float x)
{
  const float ax = fr_dm_abs_(x);
  /* |x| < sqrt(2)/4: x (1/2 + x H(x^2)), with x H as a double float so that x/2 + x^2 H rounds once
   * (for x < 0 the two terms cancel by up to 1.4x). */
  const float w2 = x * x;
  float p = fmaf(FR_DM_GELU_H4, w2, FR_DM_GELU_H3);
  p = fmaf(p, w2, FR_DM_GELU_H2);
  p = fmaf(p, w2, FR_DM_GELU_H1);
  p = fmaf(p, w2, FR_DM_GELU_H0);
  const float p_hi = x * p;
  const float p_lo = fmaf(x, p, -p_hi);
  const float m_hi = 0.5f + p_hi;
  const float m_lo = ((0.5f - m_hi) + p_hi) + p_lo;
  const float series = fmaf(x, m_hi, x * m_lo);
  /* |x| >= sqrt(2)/4: z = |x|/sqrt2 >= 1/4 as a double float (rounding it to a float would cost up to
   * 2^-24 z relative in z, which e^(-z^2) magnifies 2 z^2 times, 200x at the underflow end). The
   * argument is clamped into the route's domain first, so that the lanes whose result comes from
   * elsewhere compute something finite. */
  float ae = ax > 14.5f ? 14.5f : ax;
  ae = ae < 0x1.6a09e6p-2f ? 0x1.6a09e6p-2f : ae;
  ae = ax != ax ? 1.0f : ae;
  const float z_hi = ae * FR_DM_SQRT1_2_HI;
  const float z_lo = fmaf(ae, FR_DM_SQRT1_2_HI, -z_hi) + ae * FR_DM_SQRT1_2_LO;
  float y_hi, y_lo;
  const int k = fr_dm_erfc_core_(z_hi, z_lo, &y_hi, &y_lo);
  const float neg = fr_dm_scale_(fmaf(x, y_hi, x * y_lo), k - 1); /* x < 0: x/2 erfc(z) */
  /* x > 0: x (1 - erfc(z)/2), erfc(z)/2 <= 0.36 */
  const float p2 = fr_dm_pow2_(k - 1); /* z <= 5.66: k >= -50 */
  const float u_hi = y_hi * p2, u_lo = y_lo * p2;
  const float w = 1.0f - u_hi;
  const float w_err = (1.0f - w) - u_hi;
  const float pos = fmaf(x, w, x * (w_err - u_lo));
  float r = x < 0.0f ? neg : pos;
  r = ax < 0x1.6a09e6p-2f ? series : r;
  r = x < FR_DM_GELU_MIN ? -0.0f : r; /* |gelu| < 2^-150, and gelu(-inf) = -0 */
  r = x > 8.0f ? x : r;               /* erfc(-x/sqrt2)/2 rounds to 1 */
  return x != x ? x + x : r;
}

#endif
