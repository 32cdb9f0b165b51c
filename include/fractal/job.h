/* Job specs (docs/protocol.md, "Jobs and results"): everything that decides a video, parsed strictly from JSON
 * and written back canonically. A job's digest covers every field but job_id. */
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
  int frames, height, width;
} fr_job;

typedef struct fr_job_limits {
  int max_steps;             /* at most FR_JOB_STEPS_MAX */
  int max_frames;            /* at most FR_JOB_FRAMES_MAX */
  int max_height, max_width; /* multiples of 8 */
} fr_job_limits;

/* The default limits: FR_JOB_STEPS_MAX steps, FR_JOB_FRAMES_MAX frames, 1024 x 1024. */
fr_job_limits fr_job_default_limits(void);

/* Defaults (the original network's): DPM-Solver++ 2M, 25 steps, guidance 9, 16 frames, 256 x 256,
 * empty negative prompt, seed 0, numerics f32-v1. */
void fr_job_init(fr_job *job);

/* Parses a job spec object. Required: prompt, seed; the rest default as fr_job_init. Unknown fields,
 * duplicates, wrong types, out-of-range values, invalid UTF-8 and oversize strings are errors
 * (FR_EINVAL, the message names the field). limits NULL: fr_job_default_limits(). */
fr_status fr_job_parse(const char *json, size_t len, const fr_job_limits *limits, fr_job *out);
/* fr_job_parse for a job sent over the network (/v1/challenge, /v1/generate): job_id (not empty), model
 * and numerics are required too, as docs/protocol.md says; local tools may leave them out. */
fr_status fr_job_parse_request(const char *json, size_t len, const fr_job_limits *limits, fr_job *out);
/* Parses the job spec stored as the object under a top-level `key` of a JSON document (a challenge
 * record), exactly (64-bit seeds included). The whole document must be strict JSON in which no object
 * holds a key twice (compared decoded), at any depth. */
fr_status fr_job_parse_member(const char *json, size_t len, const char *key, const fr_job_limits *limits, fr_job *out);
/* Checks a job built in code against limits (the same rules as parsing). */
fr_status fr_job_validate(const fr_job *job, const fr_job_limits *limits);

/* Canonical JSON (fixed field order, no spaces); returns the length written or needed. */
size_t fr_job_to_json(const fr_job *job, char *buf, size_t n);

const char *fr_scheduler_name(fr_scheduler s); /* "ddim", "dpm++2m" */
/* Parses "ddim" or "dpm++2m"; -1 otherwise. */
int fr_scheduler_parse(const char *name);

#ifdef __cplusplus
}
#endif
#endif
