/* The machine's fp32 FMA peak as a tight loop reaches it (fractal-bench --peak): twelve independent
 * chains of 8-lane fused multiply-adds per thread, in named registers, on 1 and on N threads. The GEMM
 * micro-kernel's speed is reported as a fraction of this. x86-64 with AVX2 and FMA only. */
#define _POSIX_C_SOURCE 200809L
#include "fma_peak.h"

#include <pthread.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define CHAINS 12
#define STEPS 20000000L

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

__attribute__((target("avx2,fma"))) static void *chains(void *out)
{
  __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  __m256 c0 = _mm256_set1_ps(1.0f), c1 = _mm256_set1_ps(1.1f), c2 = _mm256_set1_ps(1.2f), c3 = _mm256_set1_ps(1.3f);
  __m256 c4 = _mm256_set1_ps(1.4f), c5 = _mm256_set1_ps(1.5f), c6 = _mm256_set1_ps(1.6f), c7 = _mm256_set1_ps(1.7f);
  __m256 c8 = _mm256_set1_ps(1.8f), c9 = _mm256_set1_ps(1.9f), c10 = _mm256_set1_ps(2.0f), c11 = _mm256_set1_ps(2.1f);
  for (long i = 0; i < STEPS; i++) {
    c0 = _mm256_fmadd_ps(c0, m, a), c1 = _mm256_fmadd_ps(c1, m, a), c2 = _mm256_fmadd_ps(c2, m, a);
    c3 = _mm256_fmadd_ps(c3, m, a), c4 = _mm256_fmadd_ps(c4, m, a), c5 = _mm256_fmadd_ps(c5, m, a);
    c6 = _mm256_fmadd_ps(c6, m, a), c7 = _mm256_fmadd_ps(c7, m, a), c8 = _mm256_fmadd_ps(c8, m, a);
    c9 = _mm256_fmadd_ps(c9, m, a), c10 = _mm256_fmadd_ps(c10, m, a), c11 = _mm256_fmadd_ps(c11, m, a);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                           _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  _mm256_storeu_ps((float *)out, s); /* keeps the loop alive */
  return NULL;
}

double fma_peak_gflops(int threads)
{
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || threads < 1 || threads > 256) return 0;
  pthread_t tid[256];
  float sink[256][8];
  double t0 = now_s();
  int started = 0;
  for (int t = 1; t < threads; t++) started += pthread_create(&tid[t], NULL, chains, sink[t]) == 0;
  chains(sink[0]);
  for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);
  double s = now_s() - t0;
  return (double)(started + 1) * STEPS * CHAINS * 8 * 2 / s * 1e-9;
}
#else
double fma_peak_gflops(int threads)
{
  (void)threads;
  return 0;
}
#endif
