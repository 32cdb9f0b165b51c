/* A job: everything that decides a video, the pipeline's input. Its wire format (JSON, limits, defaults, the
 * digest) is the protocol's (fractal/protocol.h, docs/protocol.md "Jobs and results"); the largest job the
 * protocol allows is written here because it sizes the pipeline's results. */
#ifndef FRACTAL_JOB_H
#define FRACTAL_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_JOB_ID_MAX 64
#define FR_JOB_STEPS_MAX 200 /* the protocol's largest job; a node may serve less (fr_job_limits) */
#define FR_JOB_FRAMES_MAX 64
#define FR_JOB_PROMPT_MAX 2000
#define FR_NUMERICS "f32-v1"

typedef enum fr_scheduler { FR_SCHEDULER_DDIM = 0, FR_SCHEDULER_DPMPP_2M = 1 } fr_scheduler;

typedef struct fr_job {
  char job_id[FR_JOB_ID_MAX + 1];
  char model[33];    /* model digest, 32 hex digits; "" means the loaded model */
  char numerics[16]; /* numerics profile, "f32-v1" */
  char prompt[FR_JOB_PROMPT_MAX + 1];
  char negative_prompt[FR_JOB_PROMPT_MAX + 1];
  uint64_t seed;
  int steps;
  float guidance;
  fr_scheduler scheduler;
  int frames;
  int height, width; /* 0: the model's native size, filled in by fr_job_fill_size where the job arrives */
} fr_job;

#ifdef __cplusplus
}
#endif
#endif
