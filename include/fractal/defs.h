/* Common macros shared by host C and CUDA device code: function qualifiers and exact bit casts.
 * Every header that is compiled for both sides (dmath, philox, half) builds on these. */
#ifndef FRACTAL_DEFS_H
#define FRACTAL_DEFS_H

#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define FR_HD __host__ __device__
#else
#define FR_HD
#endif
#define FR_INLINE static inline

#if !defined(__CUDACC__) && defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ != 0
#error "Fractal needs FLT_EVAL_METHOD == 0 (SSE2 floats, no x87 excess precision): build with -msse2 -mfpmath=sse"
#endif

FR_HD FR_INLINE uint32_t fr_f32_bits(float x)
{
#ifdef __CUDA_ARCH__
  return __float_as_uint(x);
#else
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
#endif
}

FR_HD FR_INLINE float fr_f32_from_bits(uint32_t u)
{
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
#endif
}

#endif
