/* The protocol's wire format in one place (docs/protocol.md): job specs, a prover's result, the job digest,
 * challenge records, and the check plan of a spot check. When the protocol changes, this module
 * (protocol/job.c, result.c, plan.c) is what changes. Signed requests are in fractal/auth.h. */
#ifndef FRACTAL_PROTOCOL_H
#define FRACTAL_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/job.h"
#include "fractal/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- job specs ---- */

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
/* 1 when profile is one of a comma-separated list of numerics profiles ("f32-v1,i8x-v1"). */
int fr_numerics_listed(const char *list, const char *profile);

/* ---- results and the digest ---- */

/* The job digest from its content and hashes (docs/protocol.md, "The digest"): every output-deciding field
 * but job_id, the model, numerics, every step hash and the frames hash. */
fr_hash128 fr_job_digest(const fr_job *job, const fr_hash128 *step_hashes, int steps, fr_hash128 frames_hash);
/* Fills r->digest from the rest of the result: what a node does to a result the pipeline made before it
 * is written, compared or sent. */
void fr_result_seal(fr_result *r);
/* 1 if claimed->digest is fr_job_digest of the claimed job, step hashes and frames hash. */
int fr_result_digest_ok(const fr_result *claimed);

/* The result as the protocol's JSON object (hashes and timing, no video); returns the length written or
 * needed. */
size_t fr_result_to_json(const fr_result *r, char *buf, size_t n);

/* Parses a prover's result JSON (job_id, model, numerics, step_hashes, frames_hash, digest, timing;
 * frame_hashes optional) for `job`. FR_EINVAL with a message when it is malformed, names another job, model
 * or numerics, or has the wrong number of hashes; the model and every hash must be 32 lowercase hex digits,
 * as the protocol writes them (one value, one spelling: uppercase is refused). out->job is *job with the
 * model filled in; out->frames is NULL. Whether the digest is that of the content is the caller's check
 * (fr_result_digest_ok). */
fr_status fr_result_parse(const char *json, size_t len, const fr_job *job, fr_result *out);

/* Parses a challenge record, {"job": <job spec>, "result": <a prover's result>} (what fractal-replay reads
 * and fractal-gen --json writes): the job as fr_job_parse_member reads it (64-bit seeds exactly), the result
 * as fr_result_parse for it. FR_EINVAL with a message ("record: ...") otherwise. */
fr_status fr_record_parse(const char *json, size_t len, fr_result *out);

/* ---- the check plan ---- */

/* What a spot check of step `step` needs (docs/protocol.md, "Spot checks"): the latents to reveal, named by
 * the step they enter (1..steps; the latent entering step 0 is the job's noise and is never revealed). */
typedef struct fr_check_plan {
  int step;           /* the step recomputed, 0-based */
  int needs_previous; /* a second-order DPM-Solver++ step: the latent entering step - 1 is read too */
  int decode;         /* the final latent is decoded and its frames hashed too */
  int nreveal;
  int reveal[3]; /* in this order: entering `step`, entering `step - 1`, the final latent (`steps`) */
} fr_check_plan;

/* The plan for checking step `step` of `job` on model m (decode: whether the decode is checked too).
 * FR_EINVAL when step is not in 0..steps-1. */
fr_status fr_check_plan_make(const fr_model *m, const fr_job *job, int step, int decode, fr_check_plan *out);

#ifdef __cplusplus
}
#endif
#endif
