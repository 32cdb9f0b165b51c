/* Schedulers: DDIM and DPM-Solver++ (2M), following diffusers exactly, including how a pipeline's
 * scheduler_config.json is reused for another scheduler class (from_config). Every scalar is computed
 * on the host in binary32 in the order diffusers' torch code uses; the per-element updates are ops
 * (fr_sched_* in fractal/backend.h). Internal to diffusion/. */
#ifndef FRACTAL_SCHEDULER_H
#define FRACTAL_SCHEDULER_H

#include <stdint.h>

#include "fractal/backend.h"
#include "fractal/job.h"
#include "fractal/status.h"

typedef enum fr_spacing { FR_SPACING_LEADING, FR_SPACING_LINSPACE, FR_SPACING_TRAILING } fr_spacing;

#define FR_SCHED_MAX_TRAIN 4000
#define FR_SCHED_MAX_STEPS 1000

/* A scheduler configuration after diffusers' from_config rules for the chosen kind. */
typedef struct fr_sched_config {
  fr_scheduler kind;
  int num_train_timesteps;
  int steps_offset;
  fr_spacing spacing;
  int v_prediction; /* 0: epsilon */
  /* DDIM */
  int clip_sample;
  float clip_sample_range;
  int set_alpha_to_one;
  /* DPM-Solver++ */
  int solver_order; /* 1 or 2 */
  int lower_order_final;
  int final_sigmas_zero; /* final_sigmas_type "zero" (else "sigma_min") */
  /* the noise schedule, float32 as torch builds it */
  float alphas_cumprod[FR_SCHED_MAX_TRAIN];
} fr_sched_config;

/* Parses scheduler_config.json text for `kind`: keys the file has are kept, the others take kind's own
 * defaults (so a DDIM file gives DPM-Solver its linspace spacing). Unsupported settings (karras sigmas,
 * thresholding, "sample" prediction, ...) are errors naming the key. `origin` names the file. */
fr_status fr_sched_config_parse(const char *json_text, const char *origin, fr_scheduler kind, fr_sched_config *out);

/* One step's update, everything precomputed. */
typedef struct fr_sched_step {
  int64_t timestep;  /* fed to the UNet */
  int order;         /* DPM: 1 or 2 */
  fr_sched_coeffs c; /* for fr_sched_ddim, or fr_sched_dpm_x0 (s, a) and fr_sched_dpm_update */
} fr_sched_step;

typedef struct fr_sched_plan {
  fr_scheduler kind;
  int steps;
  fr_sched_step step[FR_SCHED_MAX_STEPS];
} fr_sched_plan;

/* Timesteps and coefficients for `steps` inference steps. */
fr_status fr_sched_plan_make(const fr_sched_config *cfg, int steps, fr_sched_plan *out);

#endif
