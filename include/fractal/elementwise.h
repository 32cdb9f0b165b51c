/* Per-element formulas of fractal/backend.h that are neither activations (fractal/act.h) nor scheduler
 * updates (fractal/sched_math.h), written once for host C and CUDA device code: the sinusoidal timestep
 * embedding and the quantization of decoded pixels to video bytes. */
#ifndef FRACTAL_ELEMENTWISE_H
#define FRACTAL_ELEMENTWISE_H

#include <stdint.h>

#include "fractal/defs.h"
#include "fractal/dmath.h"

/* Element j of the timestep embedding of t (diffusers get_timestep_embedding, operation by operation):
 * half = dim / 2, i = j mod half, freq = exp((-ln(max_period) * i) / (half - shift)), arg = t * freq;
 * the first half is sin(arg) and the second cos(arg), or the other way round with flip_sin_to_cos. */
FR_HD FR_INLINE float fr_timestep_value(float t, int j, int half, int flip_sin_to_cos, float shift, float max_period)
{
  int i = j < half ? j : j - half;
  float neg_log_period = -fr_dlog(max_period);
  float freq = fr_dexp((neg_log_period * (float)i) / ((float)half - shift));
  float arg = t * freq;
  int first = j < half;
  return first != (flip_sin_to_cos != 0) ? fr_dsin(arg) : fr_dcos(arg);
}

/* A decoded value in [-1, 1] to a video byte: v = clamp(x * 0.5 + 0.5, 0, 1) (diffusers' postprocess;
 * NaN stays NaN), then round(v * 255) with ties to even (numpy's rint in numpy_to_pil), NaN to 0.
 * v01 (nullable) receives v. */
FR_HD FR_INLINE uint8_t fr_pixel_u8(float decoded, float *v01)
{
  float v = decoded * 0.5f + 0.5f;
  v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
  if (v01) *v01 = v;
  float q = v * 255.0f;
  if (!(q >= 0.0f)) return 0;
  return (uint8_t)((q + 0x1.8p23f) - 0x1.8p23f); /* round half to even: q < 2^23 */
}

#endif
