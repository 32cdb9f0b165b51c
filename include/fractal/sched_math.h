/* The per-element scheduler updates of fractal/backend.h, written once for host C and CUDA device
 * code so both backends run the same sequence of roundings. */
#ifndef FRACTAL_SCHED_MATH_H
#define FRACTAL_SCHED_MATH_H

#include "fractal/backend.h"
#include "fractal/defs.h"

FR_HD FR_INLINE float fr_sched_ddim_one(float x, float e, const fr_sched_coeffs *k)
{
  float x0, dir_e;
  if (k->v_prediction) {
    x0 = k->sa * x - k->sb * e;
    dir_e = k->sa * e + k->sb * x;
  } else {
    x0 = (x - k->sb * e) / k->sa;
    if (k->clip > 0.0f) x0 = x0 < -k->clip ? -k->clip : (x0 > k->clip ? k->clip : x0);
    dir_e = e;
  }
  return k->sap * x0 + k->dir * dir_e;
}

FR_HD FR_INLINE float fr_sched_dpm_x0_one(float x, float e, const fr_sched_coeffs *k)
{
  return k->v_prediction ? k->a * x - k->s * e : (x - k->s * e) / k->a;
}

FR_HD FR_INLINE float fr_sched_dpm_update_one(float x, float m0, const float *m1, const fr_sched_coeffs *k)
{
  float first = k->ratio * x - k->c * m0;
  if (!m1) return first;
  return first - k->c2 * (k->k * (m0 - *m1));
}

#endif
