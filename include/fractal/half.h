/* IEEE binary16 and bfloat16 conversions to and from binary32, for host C and CUDA.
 * Widening is exact; narrowing rounds to nearest even (for writers and test inputs only). */
#ifndef FRACTAL_HALF_H
#define FRACTAL_HALF_H

#include "fractal/defs.h"

/* Branch-free, so that loops widening weights vectorise. */
FR_HD FR_INLINE float fr_f16_to_f32(uint16_t h)
{
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  const uint32_t special = sign | 0x7f800000u | (man << 13); /* inf, or NaN keeping its payload */
  const uint32_t normal = sign | ((exp + 112u) << 23) | (man << 13);
  /* zero and subnormal halves: man * 2^-24 exactly (man < 2^10), a normal f32 or zero */
  const uint32_t small = sign | fr_f32_bits((float)man * 0x1p-24f);
  return fr_f32_from_bits(exp == 0x1fu ? special : exp != 0 ? normal : small);
}

FR_HD FR_INLINE float fr_bf16_to_f32(uint16_t b) { return fr_f32_from_bits((uint32_t)b << 16); }

FR_HD FR_INLINE uint16_t fr_f32_to_bf16(float f)
{
  uint32_t u = fr_f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

FR_HD FR_INLINE uint16_t fr_f32_to_f16(float f)
{
  uint32_t u = fr_f32_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
  if (a < 0x38800000u) {                                   /* below 2^-14: subnormal or zero */
    if (a < 0x33000000u) return (uint16_t)sign;            /* below 2^-25: rounds to zero */
    uint32_t e = a >> 23;
    uint32_t m = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e; /* 14..24 */
    uint32_t r = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (uint16_t)(sign | r);
  }
  uint32_t r = a - 0x38000000u; /* rebias exponent 127 -> 15 */
  r += 0xfffu + ((r >> 13) & 1u);
  return (uint16_t)(sign | (r >> 13));
}

#endif
