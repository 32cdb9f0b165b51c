/* The dmath functions the CPU backend runs in vectorised loops (exp, sigmoid, SiLU, GELU, quick GELU) give
 * the scalar functions' bits. A loop over each function compiled for x86-64-v3 (as the backend's hot loops
 * are: the compiler vectorises it with AVX2 and FMA) is compared with the function called one value at a
 * time, compiled for the baseline with vectorisation off (where fmaf is glibc's). By default 2^24 inputs
 * spread over the whole float range plus the edge cases; --all checks every one of the 2^32 (label slow).
 * NaN results compare as a class. x86-64 with GCC only; skips elsewhere. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fractal/act.h"
#include "fractal/dmath.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR __attribute__((target("arch=x86-64-v3"), noinline))
#define SCALAR __attribute__((optimize("no-tree-vectorize"), noinline))

#define PAIR(name, expr)                                                                                               \
  VECTOR static void name##_vector(const float *x, float *y, int64_t n)                                                \
  {                                                                                                                    \
    for (int64_t i = 0; i < n; i++) {                                                                                  \
      float v = x[i];                                                                                                  \
      y[i] = (expr);                                                                                                   \
    }                                                                                                                  \
  }                                                                                                                    \
  SCALAR static float name##_scalar(float v) { return (expr); }

PAIR(exp, fr_dexp(v))
PAIR(sigmoid, fr_dsigmoid(v))
PAIR(silu, fr_dsilu(v))
PAIR(gelu, fr_dgelu(v))
PAIR(quick_gelu, fr_quick_gelu(v))

typedef struct fn {
  const char *name;
  void (*vector)(const float *, float *, int64_t);
  float (*scalar)(float);
} fn;

static const fn fns[] = {{"exp", exp_vector, exp_scalar},
                         {"sigmoid", sigmoid_vector, sigmoid_scalar},
                         {"silu", silu_vector, silu_scalar},
                         {"gelu", gelu_vector, gelu_scalar},
                         {"quick_gelu", quick_gelu_vector, quick_gelu_scalar}};

static int is_nan(uint32_t u) { return (u & 0x7fffffffu) > 0x7f800000u; }

/* Compares fn on n inputs whose bits are bits[i]; returns the number of differences. */
static uint64_t compare(const fn *f, const uint32_t *bits, int64_t n, float *x, float *y)
{
  uint64_t diff = 0;
  memcpy(x, bits, (size_t)n * 4);
  f->vector(x, y, n);
  for (int64_t i = 0; i < n; i++) {
    float want = f->scalar(x[i]);
    uint32_t a, b;
    memcpy(&a, &want, 4), memcpy(&b, &y[i], 4);
    if (a == b || (is_nan(a) && is_nan(b))) continue;
    if (diff++ < 3)
      fprintf(stderr, "%s(0x%08x): scalar 0x%08x (%.9g), vectorised 0x%08x (%.9g)\n", f->name, bits[i], a, (double)want,
              b, (double)y[i]);
  }
  return diff;
}

int main(int argc, char **argv)
{
  int all = argc > 1 && !strcmp(argv[1], "--all");
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    printf("SKIP: this CPU has no AVX2/FMA, so the backend's vectorised loops do not run here\n");
    return CHECK_SKIP;
  }
  const int64_t chunk = 1 << 20;
  uint32_t *bits = (uint32_t *)malloc((size_t)chunk * 4);
  float *x = (float *)malloc((size_t)chunk * 4), *y = (float *)malloc((size_t)chunk * 4);
  if (!bits || !x || !y) return 1;
  static const uint32_t edges[] = {0x00000000u, 0x80000000u, 0x00000001u, 0x80000001u, 0x007fffffu, 0x807fffffu,
                                   0x00800000u, 0x3f800000u, 0xbf800000u, 0x7f7fffffu, 0xff7fffffu, 0x7f800000u,
                                   0xff800000u, 0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x42b17218u, 0xc2aeac50u,
                                   0xc2cff1b5u, 0x41000000u, 0xc165ba8cu, 0x3eb504f3u, 0xbeb504f3u, 0x42f00000u};
  for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
    uint64_t diff = compare(&fns[f], edges, (int64_t)(sizeof edges / sizeof edges[0]), x, y), checked = 0;
    /* every input (--all), or 2^24 inputs with a stride coprime to 2^32 so that every exponent and
     * sign is visited, plus the 2^20 just above 0 (subnormal results and the small-argument routes) */
    uint64_t total = all ? 1ull << 32 : 1ull << 24, stride = all ? 1 : 0x9e3779b1u;
    for (uint64_t start = 0; start < total; start += (uint64_t)chunk) {
      for (int64_t i = 0; i < chunk; i++) bits[i] = (uint32_t)((start + (uint64_t)i) * stride);
      diff += compare(&fns[f], bits, chunk, x, y);
      checked += (uint64_t)chunk;
    }
    if (!all) {
      for (int64_t i = 0; i < chunk; i++) bits[i] = 0x3e800000u + (uint32_t)i; /* [0.25, 0.5): gelu's switch */
      diff += compare(&fns[f], bits, chunk, x, y);
      checked += (uint64_t)chunk;
    }
    CHECK(diff == 0, "%s: %llu of %llu inputs differ between the vectorised loop and the scalar function", fns[f].name,
          (unsigned long long)diff, (unsigned long long)checked);
    printf("%-10s %llu inputs: %s\n", fns[f].name, (unsigned long long)checked, diff ? "DIFFERENT" : "same bits");
  }
  free(bits), free(x), free(y);
  return check_done("dmath_vector");
}
#else
int main(void)
{
  printf("SKIP: the vectorised-loop comparison is for x86-64 builds with GCC\n");
  return CHECK_SKIP;
}
#endif
