/* Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11; Random123) keyed by a 64-bit
 * seed. Every value is a pure function of (seed, stream, index), so the same noise comes out on any
 * device, in any order, with any number of threads. Compiled for host C and CUDA device code. */
#ifndef FRACTAL_PHILOX_H
#define FRACTAL_PHILOX_H

#include "fractal/defs.h"
#include "fractal/dmath.h"

typedef struct fr_philox4 {
  uint32_t v[4];
} fr_philox4;

FR_HD FR_INLINE void fr_philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
  uint64_t p = (uint64_t)a * (uint64_t)b;
  *hi = (uint32_t)(p >> 32);
  *lo = (uint32_t)p;
}

/* Philox4x32 with 10 rounds: the key is bumped by the Weyl constants before rounds 2..10. */
FR_HD FR_INLINE fr_philox4 fr_philox4x32_10(fr_philox4 ctr, uint32_t k0, uint32_t k1)
{
  for (int round = 0; round < 10; round++) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    uint32_t hi0, lo0, hi1, lo1;
    fr_philox_mulhilo(0xD2511F53u, ctr.v[0], &hi0, &lo0);
    fr_philox_mulhilo(0xCD9E8D57u, ctr.v[2], &hi1, &lo1);
    fr_philox4 next = {{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    ctr = next;
  }
  return ctr;
}

/* The four words for (seed, stream, index): key = seed (low word first), counter = (index low,
 * index high, stream low, stream high). */
FR_HD FR_INLINE fr_philox4 fr_philox_draw(uint64_t seed, uint64_t stream, uint64_t index)
{
  fr_philox4 ctr = {{(uint32_t)index, (uint32_t)(index >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)}};
  return fr_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* A uniform float in [0, 1) on the 2^-24 grid, from the top 24 bits of a word: exact. */
FR_HD FR_INLINE float fr_u32_to_unit(uint32_t r) { return (float)(r >> 8) * 0x1p-24f; }

/* A uniform float in (0, 1): (k + 1/2) * 2^-23 for the top 23 bits k; exact, never 0 or 1. */
FR_HD FR_INLINE float fr_u32_to_open_unit(uint32_t r) { return ((float)(r >> 9) + 0.5f) * 0x1p-23f; }

FR_HD FR_INLINE float fr_philox_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
  return fr_u32_to_unit(fr_philox_draw(seed, stream, index).v[0]);
}

/* A standard normal by Box-Muller on dmath: sqrt(-2 ln u1) * cos(2 pi u2), u1 in (0,1) from word 0,
 * u2 in [0,1) from word 1. Each index uses its own counter; words 2 and 3 are unused. */
FR_HD FR_INLINE float fr_philox_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
  fr_philox4 r = fr_philox_draw(seed, stream, index);
  float u1 = fr_u32_to_open_unit(r.v[0]);
  float u2 = fr_u32_to_unit(r.v[1]);
  float radius = fr_dsqrt(-2.0f * fr_dlog(u1));
  float theta = 6.28318548f * u2; /* 2*pi rounded to float */
  return radius * fr_dcos(theta);
}

#endif
