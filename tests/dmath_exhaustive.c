/* Exhaustive accuracy check of include/fractal/dmath.h: every one of the 2^32 float inputs of each
 * function (or of the one named in argv[1]) against a float64 reference, on 2 threads. Prints the
 * max ulp error and where it occurs, over all results and over normal ones (|ref| >= FLT_MIN);
 * fails if a special value (NaN, inf, zero sign) is wrong or an error exceeds the bound that
 * dmath.h's table states. Up to a few minutes per function (about 12 minutes for all).
 *   usage: dmath_exhaustive [function]     e.g. dmath_exhaustive fr_dsin */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fractal/dmath.h"

#define NTHREADS 2

/* ---- float64 references (same definitions as tests/test_dmath.c) ---- */
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

/* ---- scan ---- */
typedef struct {
  uint64_t lo, hi;          /* bit patterns [lo, hi) */
  double max_err, max_norm; /* over all results, over results with |ref| >= FLT_MIN */
  uint32_t max_at, norm_at;
  uint64_t bad; /* wrong special results */
  uint32_t bad_at;
} scan_part;

#define DEF_SCAN(fn, ref)                                                                                              \
  static void *scan_##fn(void *arg)                                                                                    \
  {                                                                                                                    \
    scan_part *sp = arg;                                                                                               \
    for (uint64_t i = sp->lo; i < sp->hi; i++) {                                                                       \
      float x = fr_f32_from_bits((uint32_t)i);                                                                         \
      double r = ref((double)x);                                                                                       \
      double e = ulp_err(fn(x), r);                                                                                    \
      if (e < 0) {                                                                                                     \
        if (!sp->bad++) sp->bad_at = (uint32_t)i;                                                                      \
        continue;                                                                                                      \
      }                                                                                                                \
      if (e > sp->max_err) {                                                                                           \
        sp->max_err = e;                                                                                               \
        sp->max_at = (uint32_t)i;                                                                                      \
      }                                                                                                                \
      if (e > sp->max_norm && fabs(r) >= FLT_MIN) {                                                                    \
        sp->max_norm = e;                                                                                              \
        sp->norm_at = (uint32_t)i;                                                                                     \
      }                                                                                                                \
    }                                                                                                                  \
    return NULL;                                                                                                       \
  }

DEF_SCAN(fr_dexp, exp)
DEF_SCAN(fr_dexpm1, expm1)
DEF_SCAN(fr_dlog, log)
DEF_SCAN(fr_dsin, sin)
DEF_SCAN(fr_dcos, cos)
DEF_SCAN(fr_dtanh, tanh)
DEF_SCAN(fr_derf, erf)
DEF_SCAN(fr_derfc, erfc)
DEF_SCAN(fr_dsqrt, sqrt)
DEF_SCAN(fr_drsqrt, ref_rsqrt)
DEF_SCAN(fr_dsigmoid, ref_sigmoid)
DEF_SCAN(fr_dsilu, ref_silu)
DEF_SCAN(fr_dgelu, ref_gelu)

/* bound: the max ulp error that dmath.h's table states for the function */
/* clang-format off */ /* a table: one entry per line */
static const struct {
  const char *name;
  void *(*scan)(void *);
  double bound;
} funcs[] = {
  {"fr_dexp", scan_fr_dexp, 0.758},       {"fr_dexpm1", scan_fr_dexpm1, 0.866},
  {"fr_dlog", scan_fr_dlog, 0.858},       {"fr_dsin", scan_fr_dsin, 0.722},
  {"fr_dcos", scan_fr_dcos, 0.721},       {"fr_dtanh", scan_fr_dtanh, 0.640},
  {"fr_derf", scan_fr_derf, 0.751},       {"fr_derfc", scan_fr_derfc, 0.811},
  {"fr_dsqrt", scan_fr_dsqrt, 0.5},     {"fr_drsqrt", scan_fr_drsqrt, 1.491},
  {"fr_dsigmoid", scan_fr_dsigmoid, 0.758}, {"fr_dsilu", scan_fr_dsilu, 0.778},
  {"fr_dgelu", scan_fr_dgelu, 0.837},
};
/* clang-format on */

int main(int argc, char **argv)
{
  int failures = 0, ran = 0;
  printf("%-12s %9s  %-16s %-12s %9s  %-16s %-12s %s\n", "function", "max ulp", "at x", "(bits)", "normal", "at x",
         "(bits)", "time");
  for (size_t f = 0; f < sizeof funcs / sizeof funcs[0]; f++) {
    if (argc > 1 && strcmp(argv[1], funcs[f].name) != 0) continue;
    ran++;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    scan_part parts[NTHREADS];
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
      memset(&parts[t], 0, sizeof parts[t]);
      parts[t].lo = (uint64_t)t << 32 >> 1;
      parts[t].hi = (uint64_t)(t + 1) << 32 >> 1;
      if (pthread_create(&th[t], NULL, funcs[f].scan, &parts[t]) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        return 1;
      }
    }
    double max_err = 0, max_norm = 0;
    uint32_t max_at = 0, norm_at = 0, bad_at = 0;
    uint64_t bad = 0;
    for (int t = 0; t < NTHREADS; t++) {
      pthread_join(th[t], NULL);
      if (parts[t].max_err > max_err) {
        max_err = parts[t].max_err;
        max_at = parts[t].max_at;
      }
      if (parts[t].max_norm > max_norm) {
        max_norm = parts[t].max_norm;
        norm_at = parts[t].norm_at;
      }
      if (parts[t].bad && !bad) bad_at = parts[t].bad_at;
      bad += parts[t].bad;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    float xm = fr_f32_from_bits(max_at), xn = fr_f32_from_bits(norm_at);
    printf("%-12s %9.6f  %-16.9g (0x%08" PRIx32 ") %9.6f  %-16.9g (0x%08" PRIx32 ")  %.0f s\n", funcs[f].name, max_err,
           (double)xm, max_at, max_norm, (double)xn, norm_at,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    fflush(stdout);
    if (bad) {
      float xb = fr_f32_from_bits(bad_at);
      printf("  FAIL: %" PRIu64 " wrong special results, first at x = %.9g (0x%08" PRIx32 ")\n", bad, (double)xb,
             bad_at);
      failures++;
    }
    if (max_err > funcs[f].bound) {
      printf("  FAIL: max error %.6f ulp above the stated bound %.3f\n", max_err, funcs[f].bound);
      failures++;
    }
  }
  if (!ran) {
    fprintf(stderr, "unknown function %s\n", argv[1]);
    return 2;
  }
  return failures ? 1 : 0;
}
