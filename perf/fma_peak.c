/* The machine's fp32 FMA peak as a tight loop reaches it (fractal-bench --peak): twelve independent
 * chains of fused multiply-adds per thread, in named registers, on the widest vectors the CPU has
 * (16 lanes with AVX-512F, else 8 with AVX2+FMA), on 1 and on N threads. The GEMM micro-kernel's speed
 * is reported as a fraction of this. x86-64 only. */
#define _POSIX_C_SOURCE 200809L
#include "fma_peak.h"

#include <pthread.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define STEPS 20000000L
#define CHAINS 12

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* V: the vector type, SET/FMA/ADD/STORE its intrinsics; out receives the sum (keeps the loop alive). */
#define CHAINS_BODY(V, SET, FMA, ADD, STORE)                                                                           \
  V m = SET(0.999999f), a = SET(1e-7f);                                                                                \
  V c0 = SET(1.0f), c1 = SET(1.1f), c2 = SET(1.2f), c3 = SET(1.3f), c4 = SET(1.4f), c5 = SET(1.5f);                    \
  V c6 = SET(1.6f), c7 = SET(1.7f), c8 = SET(1.8f), c9 = SET(1.9f), c10 = SET(2.0f), c11 = SET(2.1f);                  \
  for (long i = 0; i < STEPS; i++) {                                                                                   \
    c0 = FMA(c0, m, a), c1 = FMA(c1, m, a), c2 = FMA(c2, m, a), c3 = FMA(c3, m, a);                                    \
    c4 = FMA(c4, m, a), c5 = FMA(c5, m, a), c6 = FMA(c6, m, a), c7 = FMA(c7, m, a);                                    \
    c8 = FMA(c8, m, a), c9 = FMA(c9, m, a), c10 = FMA(c10, m, a), c11 = FMA(c11, m, a);                                \
  }                                                                                                                    \
  V s = ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7)));                                             \
  STORE((float *)out, ADD(s, ADD(ADD(c8, c9), ADD(c10, c11))));                                                        \
  return NULL;

__attribute__((target("avx2,fma"))) static void *chains8(void *out)
{
  CHAINS_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps)
}

__attribute__((target("avx512f"))) static void *chains16(void *out)
{
  CHAINS_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps)
}

static int lanes(void)
{
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return 16;
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 8 : 0;
}

const char *fma_peak_isa(void) { return lanes() == 16 ? "AVX-512F" : lanes() == 8 ? "AVX2" : "none"; }

double fma_peak_gflops(int threads)
{
  int n = lanes();
  if (!n || threads < 1 || threads > 256) return 0;
  void *(*chains)(void *) = n == 16 ? chains16 : chains8;
  pthread_t tid[256];
  float sink[256][16];
  double t0 = now_s();
  int started = 0;
  for (int t = 1; t < threads; t++) started += pthread_create(&tid[started + 1], NULL, chains, sink[t]) == 0;
  chains(sink[0]);
  for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);
  double s = now_s() - t0;
  return (double)(started + 1) * STEPS * CHAINS * n * 2 / s * 1e-9;
}
#else
const char *fma_peak_isa(void) { return "none"; }

double fma_peak_gflops(int threads)
{
  (void)threads;
  return 0;
}
#endif
