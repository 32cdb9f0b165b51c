/* The activation functions of fr_act, on dmath, for host C and CUDA device code. */
#ifndef FRACTAL_ACT_H
#define FRACTAL_ACT_H

#include "fractal/backend.h"
#include "fractal/dmath.h"

/* CLIP's quick GELU as transformers writes it: x * sigmoid(1.702 * x). */
FR_DM_CORE float fr_quick_gelu(float x) { return x * fr_dsigmoid(1.702f * x); }

FR_DM_CORE float fr_act_apply(fr_act act, float v)
{
  switch (act) {
  case FR_ACT_SILU: return fr_dsilu(v);
  case FR_ACT_GELU: return fr_dgelu(v);
  case FR_ACT_QUICK_GELU: return fr_quick_gelu(v);
  default: return v;
  }
}

#endif
