/* Unit test of include/fractal/dmath.h: each function against float64 libm over ~1.4e7 inputs
 * (every 409th float bit pattern, uniform random values in the ranges that matter, and the edge
 * cases: special values, thresholds and branch switch points with their neighbours), asserting the
 * max ulp errors stated in dmath.h and exact special results; then golden bit patterns that pin
 * the definition of every function, so that any change to it is caught.
 * tests/dmath_exhaustive.c checks all 2^32 inputs (label slow).
 * Run with --print-golden to print the golden table for the current implementation. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "fractal/dmath.h"

#define NTHREADS 2
#define STRIDE 409u /* every 409th bit pattern: 10.5 million, all exponents and mantissa patterns */

/* ---- float64 references (same definitions as tests/dmath_exhaustive.c) ---- */
static double ref_rsqrt(double x) { return 1.0 / sqrt(x); }
static double ref_sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }
static double ref_silu(double x) { return isinf(x) && x < 0 ? -0.0 : x * ref_sigmoid(x); }
static double ref_gelu(double x) { return isinf(x) && x < 0 ? -0.0 : 0.5 * x * erfc(-x / sqrt(2.0)); }

/* Spacing of floats at v rounded to float: 2^(e-23) for v in [2^e, 2^(e+1)), 2^-149 below FLT_MIN. */
static double ulp_at(double v)
{
  double a = fabs((double)(float)v);
  if (a < FLT_MIN) return 0x1p-149;
  int e;
  frexp(a, &e);
  return ldexp(1.0, e - 24);
}

/* Error of y against the reference r in ulps; -1 when a special result is wrong: NaN, inf and
 * exact zeros must match exactly (zeros with their sign), and a zero result must have the sign
 * of the reference. */
static double ulp_err(float y, double r)
{
  if (isnan(r)) return isnan(y) ? 0.0 : -1.0;
  float rf = (float)r;
  if (isinf(rf)) return (isinf(y) && !signbit(y) == !signbit(rf)) ? 0.0 : -1.0;
  if (r == 0.0) return (y == 0.0f && !signbit(y) == !signbit(r)) ? 0.0 : -1.0;
  if (isnan(y) || isinf(y)) return -1.0;
  if (y == 0.0f && !signbit(y) != !signbit(r)) return -1.0;
  return fabs((double)y - r) / ulp_at(r);
}

/* ---- functions under test ---- */
static float t_exp(float x) { return fr_dexp(x); }
static float t_expm1(float x) { return fr_dexpm1(x); }
static float t_log(float x) { return fr_dlog(x); }
static float t_sin(float x) { return fr_dsin(x); }
static float t_cos(float x) { return fr_dcos(x); }
static float t_tanh(float x) { return fr_dtanh(x); }
static float t_erf(float x) { return fr_derf(x); }
static float t_erfc(float x) { return fr_derfc(x); }
static float t_sqrt(float x) { return fr_dsqrt(x); }
static float t_rsqrt(float x) { return fr_drsqrt(x); }
static float t_sigmoid(float x) { return fr_dsigmoid(x); }
static float t_silu(float x) { return fr_dsilu(x); }
static float t_gelu(float x) { return fr_dgelu(x); }

typedef struct {
  float lo, hi; /* uniform in [lo, hi]; lo > hi means uniform over the bit patterns of [hi, lo] */
  long n;
} range;

#define NFUNC 13
/* clang-format off */ /* a table: one entry per line */
static const struct {
  const char *name;
  float (*f)(float);
  double (*ref)(double);
  double bound; /* the max ulp error that dmath.h's table states */
  range r[3];
} funcs[NFUNC] = {
  {"fr_dexp", t_exp, exp, 0.758, {{-104.0f, 89.0f, 3000000}, {-1.0f, 1.0f, 1000000}}},
  {"fr_dexpm1", t_expm1, expm1, 0.866, {{-18.0f, 89.0f, 2000000}, {-1.0f, 1.0f, 1000000}, {-1e-3f, 1e-3f, 1000000}}},
  {"fr_dlog", t_log, log, 0.858, {{FLT_MAX, 0x1p-149f, 2000000}, {0.5f, 2.0f, 2000000}}},
  {"fr_dsin", t_sin, sin, 0.722, {{-1e4f, 1e4f, 3000000}, {-4.0f, 4.0f, 1000000}}},
  {"fr_dcos", t_cos, cos, 0.721, {{-1e4f, 1e4f, 3000000}, {-4.0f, 4.0f, 1000000}}},
  {"fr_dtanh", t_tanh, tanh, 0.640, {{-10.0f, 10.0f, 3000000}, {-1.0f, 1.0f, 1000000}}},
  {"fr_derf", t_erf, erf, 0.751, {{-10.0f, 10.0f, 3000000}, {-1.0f, 1.0f, 1000000}}},
  {"fr_derfc", t_erfc, erfc, 0.811, {{-5.0f, 11.0f, 3000000}, {-1.0f, 1.0f, 1000000}}},
  {"fr_dsqrt", t_sqrt, sqrt, 0.5, {{FLT_MAX, 0x1p-149f, 3000000}, {0.0f, 4.0f, 1000000}}},
  {"fr_drsqrt", t_rsqrt, ref_rsqrt, 1.491, {{FLT_MAX, 0x1p-149f, 3000000}, {0.0f, 4.0f, 1000000}}},
  {"fr_dsigmoid", t_sigmoid, ref_sigmoid, 0.758, {{-125.0f, 125.0f, 2000000}, {-20.0f, 20.0f, 2000000}}},
  {"fr_dsilu", t_silu, ref_silu, 0.778, {{-125.0f, 125.0f, 2000000}, {-20.0f, 20.0f, 2000000}}},
  {"fr_dgelu", t_gelu, ref_gelu, 0.837, {{-15.0f, 9.0f, 2000000}, {-3.0f, 3.0f, 2000000}}},
};
/* clang-format on */

/* Edge cases, tested for every function with their neighbours at +-1 and +-2 ulps, both signs:
 * special values, the range limits, and every point where some implementation switches branch. */
/* clang-format off */ /* a table: one entry per line */
static const float edges[] = {
  0.0f, 0x1p-149f, 0x1.fffffcp-127f, FLT_MIN, FLT_MAX, 1.0f, 2.0f, 0.5f, 0.25f,
  0x1p-60f, 0x1p-25f, 0x1p-12f,                               /* tiny-argument shortcuts */
  FR_DM_EXP_MAX, -FR_DM_EXP_MIN, 87.33654f, 17.5f, 16.98f,     /* exp / expm1 ranges and paths */
  0x1.6a09e6p0f, 0x1.6a09e6p-1f, 0x1.6a09e8p0f,               /* log: m around sqrt 2 */
  0x1p16f, 0.785398163f, 1.57079633f, 3.14159265f, 0x1.921fb6p15f, /* sin/cos: Cody-Waite */
  0x1p24f, 0x1p57f, 0x1p89f, 0x1p121f,                        /* Payne-Hanek word offsets */
  9.5f, 9.0109f, 4.0f, 3.92f, 3.5f, 6.0f, 10.5f,              /* tanh/erf caps, erfc intervals */
  FR_DM_ERFC_MAX, -FR_DM_GELU_MIN, 0x1.6a09e6p-2f, 8.0f, 5.657f, /* erfc / gelu */
  1.41421354f, 2.82842708f, 4.94974747f, 8.48528137f,         /* gelu: erfc intervals in x */
  120.0f, 108.6603f, 103.972f, 16.6355f,                       /* sigmoid / silu */
};
/* clang-format on */

/* ---- deterministic inputs: input i of function f ---- */
static uint64_t mix64(uint64_t z)
{
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

#define NSTRIDED ((long)(0x100000000ull / STRIDE))
#define NEDGE ((long)(sizeof edges / sizeof edges[0]) * 10 + 4)

static long n_inputs(int f)
{
  long n = NSTRIDED + NEDGE;
  for (int k = 0; k < 3; k++) n += funcs[f].r[k].n;
  return n;
}

static float input(int f, long i)
{
  if (i < NSTRIDED) return fr_f32_from_bits((uint32_t)((uint64_t)i * STRIDE + (uint32_t)f * 37u));
  i -= NSTRIDED;
  if (i < NEDGE) {
    static const uint32_t nans[4] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fffffffu};
    static const int off[5] = {0, 1, -1, 2, -2};
    if (i >= NEDGE - 4) return fr_f32_from_bits(nans[i - (NEDGE - 4)]);
    long e = i / 10, k = i % 10;
    uint32_t b = fr_f32_bits(edges[e]);
    int d = off[k % 5];
    if (b == 0 && d < 0) d = -d; /* 0's lower neighbours are the negated upper ones */
    float x = fr_f32_from_bits(b + (uint32_t)d);
    if (isnan(x)) x = (float)INFINITY; /* above FLT_MAX */
    return k >= 5 ? -x : x;
  }
  i -= NEDGE;
  for (int k = 0; k < 3; k++) {
    const range *r = &funcs[f].r[k];
    if (i >= r->n) {
      i -= r->n;
      continue;
    }
    uint64_t z = mix64(((uint64_t)f << 40) ^ ((uint64_t)k << 36) ^ (uint64_t)i);
    if (r->lo > r->hi) { /* uniform over bit patterns */
      uint32_t a = fr_f32_bits(r->hi), b = fr_f32_bits(r->lo);
      return fr_f32_from_bits(a + (uint32_t)(z % (uint64_t)(b - a + 1)));
    }
    double u = (double)(z >> 11) * 0x1p-53;
    return (float)((double)r->lo + ((double)r->hi - (double)r->lo) * u);
  }
  return 0.0f;
}

typedef struct {
  int f;
  long first, n; /* inputs first, first + NTHREADS, ... below n: cheap and costly ones interleave */
  double max_err;
  float max_at;
  long bad;
  float bad_at;
} part;

static void *run_part(void *arg)
{
  part *p = arg;
  for (long i = p->first; i < p->n; i += NTHREADS) {
    float x = input(p->f, i);
    float y = funcs[p->f].f(x);
    double e = ulp_err(y, funcs[p->f].ref((double)x));
    if (e < 0) {
      if (!p->bad++) p->bad_at = x;
    } else if (e > p->max_err) {
      p->max_err = e;
      p->max_at = x;
    }
  }
  return NULL;
}

static void accuracy(void)
{
  printf("%-12s %10s %10s  %s\n", "function", "inputs", "max ulp", "at x");
  for (int f = 0; f < NFUNC; f++) {
    long n = n_inputs(f);
    part parts[NTHREADS];
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
      memset(&parts[t], 0, sizeof parts[t]);
      parts[t].f = f;
      parts[t].first = t;
      parts[t].n = n;
      if (pthread_create(&th[t], NULL, run_part, &parts[t]) != 0) run_part(&parts[t]);
    }
    double max_err = 0;
    float max_at = 0, bad_at = 0;
    long bad = 0;
    for (int t = 0; t < NTHREADS; t++) {
      pthread_join(th[t], NULL);
      if (parts[t].max_err > max_err) {
        max_err = parts[t].max_err;
        max_at = parts[t].max_at;
      }
      if (parts[t].bad && !bad) bad_at = parts[t].bad_at;
      bad += parts[t].bad;
    }
    printf("%-12s %10ld %10.6f  %.9g (0x%08" PRIx32 ")\n", funcs[f].name, n, max_err, (double)max_at,
           fr_f32_bits(max_at));
    CHECK(bad == 0, "%s: %ld wrong special results, first at x = %a -> %a", funcs[f].name, bad, (double)bad_at,
          (double)funcs[f].f(bad_at));
    CHECK(max_err <= funcs[f].bound, "%s: max error %.6f ulp at x = %a, above the stated bound %.2f", funcs[f].name,
          max_err, (double)max_at, funcs[f].bound);
  }
}

/* ---- golden bit patterns ---- */
#define NGOLD 32
/* clang-format off */ /* a table: one entry per line */
static const float gold_in[NGOLD] = {
  0.1f, -0.1f, 0.3f, -0.3f, 0.45f, -0.6f, 0.7f, -0.9f, 1.5f, -1.5f, 2.5f, -2.7f, 3.7f, -4.2f, 5.0f, -7.0f,
  9.3f, -12.0f, 14.0f, -50.0f, 95.0f, -100.0f, 1e-5f, -3e-7f, 1e-20f, 3e-39f, 123456.7f, -3e8f, 1e30f, -2e38f,
  0x1p-140f, 33.3f,
};
/* clang-format on */

/* gold_out[f][i] = bits of funcs[f].f(gold_in[i]), printed by --print-golden */
/* clang-format off */ /* a table: one entry per line */
static const uint32_t gold_out[NFUNC][NGOLD] = {
  {/* fr_dexp */
   0x3f8d763eu, 0x3f67a36du, 0x3facc82cu, 0x3f3da643u, 0x3fc8be74u, 0x3f0c7eebu, 0x4000e153u, 0x3ed029e6u,
   0x408f69ffu, 0x3e647c3cu, 0x4142eb7fu, 0x3d89a30bu, 0x4221ca0bu, 0x3c75b005u, 0x431469c5u, 0x3a6f0b5du,
   0x462ae816u, 0x36ce2a62u, 0x4992cd62u, 0x1b692bebu, 0x7f800000u, 0x0000001bu, 0x3f800054u, 0x3f7ffffbu,
   0x3f800000u, 0x3f800000u, 0x7f800000u, 0x00000000u, 0x7f800000u, 0x00000000u, 0x3f800000u, 0x5783c1fau,
  },
  {/* fr_dexpm1 */
   0x3dd763dau, 0xbdc2e49au, 0x3eb320b2u, 0xbe84b37au, 0x3f117ce8u, 0xbee7022au, 0x3f81c2a6u, 0xbf17eb0du,
   0x405ed3feu, 0xbf46e0f1u, 0x4132eb7fu, 0xbf6ecb9fu, 0x421dca0bu, 0xbf7c2940u, 0x431369c5u, 0xbf7fc43du,
   0x462ae416u, 0xbf7fff99u, 0x4992cd5au, 0xbf800000u, 0x7f800000u, 0xbf800000u, 0x3727c5e3u, 0xb4a10faeu,
   0x1e3ce508u, 0x0020aac8u, 0x7f800000u, 0xbf800000u, 0x7f800000u, 0xbf800000u, 0x00000200u, 0x5783c1fau,
  },
  {/* fr_dlog */
   0xc0135d8eu, 0x7fc00000u, 0xbf9a1bc8u, 0x7fc00000u, 0xbf4c6b01u, 0x7fc00000u, 0xbeb69e1au, 0x7fc00000u,
   0x3ecf991fu, 0x7fc00000u, 0x3f6a9208u, 0x7fc00000u, 0x3fa77773u, 0x7fc00000u, 0x3fce0210u, 0x7fc00000u,
   0x400eb88eu, 0x7fc00000u, 0x4028e651u, 0x7fc00000u, 0x4091b95cu, 0x7fc00000u, 0xc13834f1u, 0x7fc00000u,
   0xc23834f1u, 0xc2b16788u, 0x413b940eu, 0x7fc00000u, 0x428a27b5u, 0x7fc00000u, 0xc2c214cau, 0x40605b0du,
  },
  {/* fr_dsin */
   0x3dcc7577u, 0xbdcc7577u, 0x3e974e6du, 0xbe974e6du, 0x3edeb3cdu, 0xbf108c69u, 0x3f24eb73u, 0xbf48881cu,
   0x3f7f5bd5u, 0xbf7f5bd5u, 0x3f193578u, 0xbedad188u, 0xbf07a358u, 0x3f5f1f95u, 0xbf757c10u, 0xbf283046u,
   0x3dfee1ddu, 0x3f095cd8u, 0x3f7d9872u, 0x3e8655ffu, 0x3f2eea3du, 0x3f01a12eu, 0x3727c5acu, 0xb4a10fb0u,
   0x1e3ce508u, 0x0020aac8u, 0xbf7fd9b9u, 0x3ee10cf7u, 0xbf4a89b0u, 0xbe94b4cau, 0x00000200u, 0x3f738a4cu,
  },
  {/* fr_dcos */
   0x3f7eb898u, 0x3f7eb898u, 0x3f7490efu, 0x3f7490efu, 0x3f6683b4u, 0x3f534932u, 0x3f43ccb3u, 0x3f1f21d5u,
   0x3d90deaau, 0x3d90deaau, 0xbf4d17c0u, 0xbf677146u, 0xbf591d15u, 0xbefb037du, 0x3e913c2cu, 0x3f40ffbdu,
   0xbf7e027bu, 0x3f5806d0u, 0x3e0c04d7u, 0x3f770803u, 0x3f3aeca8u, 0x3f5cc0eeu, 0x3f800000u, 0x3f800000u,
   0x3f800000u, 0x3f800000u, 0xbd0bf8c5u, 0x3f65f18fu, 0xbf1c9222u, 0xbf74f6ebu, 0x3f800000u, 0xbe9dc967u,
  },
  {/* fr_dtanh */
   0x3dcc1ebcu, 0xbdcc1ebcu, 0x3e9526eeu, 0xbe9526eeu, 0x3ed80325u, 0xbf097c15u, 0x3f1ab7d9u, 0xbf375f4cu,
   0x3f67b7ccu, 0xbf67b7ccu, 0x3f7c92c1u, 0xbf7db2aau, 0x3f7fafeeu, 0xbf7fe288u, 0x3f7ffa0du, 0xbf7fffe4u,
   0x3f800000u, 0xbf800000u, 0x3f800000u, 0xbf800000u, 0x3f800000u, 0xbf800000u, 0x3727c5acu, 0xb4a10fb0u,
   0x1e3ce508u, 0x0020aac8u, 0x3f800000u, 0xbf800000u, 0x3f800000u, 0xbf800000u, 0x00000200u, 0x3f800000u,
  },
  {/* fr_derf */
   0x3de652f5u, 0xbde652f5u, 0x3ea841c5u, 0xbea841c5u, 0x3ef37257u, 0xbf1a9650u, 0x3f2d8461u, 0xbf4c022du,
   0x3f7752abu, 0xbf7752abu, 0x3f7fe554u, 0xbf7ff732u, 0x3f7ffffdu, 0xbf800000u, 0x3f800000u, 0xbf800000u,
   0x3f800000u, 0xbf800000u, 0x3f800000u, 0xbf800000u, 0x3f800000u, 0xbf800000u, 0x373d4f84u, 0xb4b5bcfau,
   0x1e552511u, 0x0024dc63u, 0x3f800000u, 0xbf800000u, 0x3f800000u, 0xbf800000u, 0x00000242u, 0x3f800000u,
  },
  {/* fr_derfc */
   0x3f6335a1u, 0x3f8e652fu, 0x3f2bdf1eu, 0x3faa1071u, 0x3f0646d5u, 0x3fcd4b28u, 0x3ea4f73eu, 0x3fe60116u,
   0x3d0ad554u, 0x3ffba955u, 0x39d55c2du, 0x3ffffb99u, 0x34337a1eu, 0x40000000u, 0x2bd860d4u, 0x40000000u,
   0x0012008eu, 0x40000000u, 0x00000000u, 0x40000000u, 0x00000000u, 0x40000000u, 0x3f7fff43u, 0x3f800003u,
   0x3f800000u, 0x3f800000u, 0x00000000u, 0x40000000u, 0x00000000u, 0x40000000u, 0x3f800000u, 0x00000000u,
  },
  {/* fr_dsqrt */
   0x3ea1e89bu, 0xffc00000u, 0x3f0c378cu, 0xffc00000u, 0x3f2bbae2u, 0xffc00000u, 0x3f562f5au, 0xffc00000u,
   0x3f9cc471u, 0xffc00000u, 0x3fca62c2u, 0xffc00000u, 0x3ff63682u, 0xffc00000u, 0x400f1bbdu, 0xffc00000u,
   0x40432c7cu, 0xffc00000u, 0x406f7751u, 0xffc00000u, 0x411bf2dfu, 0xffc00000u, 0x3b4f3e37u, 0xffc00000u,
   0x2edbe6ffu, 0x1f8153cdu, 0x43afae9au, 0xffc00000u, 0x58635fa9u, 0xffc00000u, 0x1c800000u, 0x40b8a8e1u,
  },
  {/* fr_drsqrt */
   0x404a62c2u, 0xffc00000u, 0x3fe9b1e8u, 0xffc00000u, 0x3fbecfa7u, 0xffc00000u, 0x3f98fd40u, 0xffc00000u,
   0x3f5105ebu, 0xffc00000u, 0x3f21e89bu, 0xffc00000u, 0x3f05168bu, 0xffc00000u, 0x3ee4f92eu, 0xffc00000u,
   0x3ea7e434u, 0xffc00000u, 0x3e88d677u, 0xffc00000u, 0x3dd21ed0u, 0xffc00000u, 0x439e1d28u, 0xffc00000u,
   0x501502f9u, 0x5f7d5f60u, 0x3b3a84cfu, 0xffc00000u, 0x26901d7du, 0xffc00000u, 0x62800000u, 0x3e317365u,
  },
  {/* fr_dsigmoid */
   0x3f066509u, 0x3ef335eeu, 0x3f130eaau, 0x3ed9e2acu, 0x3f1c52dau, 0x3eb56c89u, 0x3f2b0e5bu, 0x3e93fe6du,
   0x3f514c90u, 0x3e3acdc2u, 0x3f6c948fu, 0x3d80f82cu, 0x3f79d2d0u, 0x3c720ecbu, 0x3f7e4961u, 0x3a6ed39cu,
   0x3f7ffa02u, 0x36ce2a0fu, 0x3f7ffff2u, 0x1b692bebu, 0x3f800000u, 0x0000001bu, 0x3f00002au, 0x3efffffdu,
   0x3f000000u, 0x3f000000u, 0x3f800000u, 0x00000000u, 0x3f800000u, 0x00000000u, 0x3f000000u, 0x3f800000u,
  },
  {/* fr_dsilu */
   0x3d57080fu, 0xbd42918bu, 0x3e307800u, 0xbe02bb34u, 0x3e8cb0f7u, 0xbe59b572u, 0x3eef7a7eu, 0xbe8531c9u,
   0x3f9cf96cu, 0xbe8c1a51u, 0x4013dcd9u, 0xbe2e1bd6u, 0x40671634u, 0xbd7e2921u, 0x409eeddcu, 0xbbd0f929u,
   0x4114c952u, 0xb89a9f8bu, 0x415ffff4u, 0x9e362a4fu, 0x42be0000u, 0x80000a5fu, 0x36a7c5e3u, 0xb4210faeu,
   0x1dbce508u, 0x00105564u, 0x47f1205au, 0x80000000u, 0x7149f2cau, 0x80000000u, 0x00000100u, 0x42053333u,
  },
  {/* fr_dgelu */
   0x3d5d1d0du, 0xbd3c7c8du, 0x3e3dd289u, 0xbdeac157u, 0x3e9b352fu, 0xbe288049u, 0x3f07d711u, 0xbe29a13bu,
   0x3fb32c4bu, 0xbdcd3b52u, 0x401f01a7u, 0xbc195e29u, 0x406cc644u, 0xb86b1995u, 0x409ffffdu, 0xad1d9a58u,
   0x4114cccdu, 0x8add6065u, 0x41600000u, 0x80000000u, 0x42be0000u, 0x80000000u, 0x36a7c604u, 0xb4210fadu,
   0x1dbce508u, 0x00105564u, 0x47f1205au, 0x80000000u, 0x7149f2cau, 0x80000000u, 0x00000100u, 0x42053333u,
  },
};
/* clang-format on */

static void print_golden(void)
{
  for (int f = 0; f < NFUNC; f++) {
    printf("  {/* %s */\n", funcs[f].name);
    for (int i = 0; i < NGOLD; i++)
      printf("%s0x%08" PRIx32 "u,%s", i % 8 == 0 ? "   " : " ", fr_f32_bits(funcs[f].f(gold_in[i])),
             i % 8 == 7 ? "\n" : "");
    printf("  },\n");
  }
}

static void golden(void)
{
  for (int f = 0; f < NFUNC; f++)
    for (int i = 0; i < NGOLD; i++) {
      uint32_t got = fr_f32_bits(funcs[f].f(gold_in[i]));
      CHECK(got == gold_out[f][i], "%s(%a) = %a (0x%08" PRIx32 "), golden 0x%08" PRIx32, funcs[f].name,
            (double)gold_in[i], (double)fr_f32_from_bits(got), got, gold_out[f][i]);
    }
}

int main(int argc, char **argv)
{
  if (argc > 1 && strcmp(argv[1], "--print-golden") == 0) {
    print_golden();
    return 0;
  }
  golden();
  accuracy();
  return check_done("test_dmath");
}
