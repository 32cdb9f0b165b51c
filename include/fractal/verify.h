/* Checking a prover's answer without regenerating it (docs/daemon.md, "One step"): a
 * claimed result parsed strictly against its job, revealed latents checked against the claimed chain,
 * one step recomputed, the final decode recomputed. Used by fractald's verifier and fractal-replay. */
#ifndef FRACTAL_VERIFY_H
#define FRACTAL_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parses a prover's result JSON (docs/protocol.md, "Jobs and results": job_id, model, numerics, step_hashes, frames_hash,
 * digest, timing; frame_hashes optional) for `job`. FR_EINVAL with a message when it is malformed, names
 * another job, model or numerics, or has the wrong number of hashes; the model and every hash must be 32
 * lowercase hex digits, as the protocol writes them (one value, one spelling: uppercase is refused).
 * out->job is *job with the model filled in; out->frames is NULL. Whether the digest is that of the content is the caller's check
 * (fr_result_digest_ok). */
fr_status fr_result_parse(const char *json, size_t len, const fr_job *job, fr_result *out);

/* Parses a challenge record, {"job": <job spec>, "result": <a prover's result>} (what fractal-replay reads):
 * the job as fr_job_parse_member reads it (64-bit seeds exactly), the result as fr_result_parse for it.
 * FR_EINVAL with a message ("record: ...") otherwise. */
fr_status fr_record_parse(const char *json, size_t len, fr_result *out);

/* 1 if claimed->digest is fr_job_digest of the claimed job, step hashes and frames hash. */
int fr_result_digest_ok(const fr_result *claimed);

/* Values in a job's latent [1, C, F, h, w] for model m. */
size_t fr_latent_count(const fr_model *m, const fr_job *job);
/* The latent entering step 0: element i is fr_philox_normal(seed, 0, i). */
void fr_initial_noise(uint64_t seed, float *x, size_t n);

/* 1 if x is the latent the chain says enters step `entering` (0: the job's initial noise, bit for bit;
 * k >= 1: hashes to claimed->step_hashes[k - 1]), else 0. */
int fr_latent_in_chain(const fr_result *claimed, int entering, const float *x, size_t n);

typedef enum fr_check_verdict {
  FR_CHECK_OK = 0,
  FR_CHECK_BAD_LATENT = 1, /* a revealed latent is not the one the chain claims */
  FR_CHECK_MISMATCH = 2,   /* recomputing gives another hash than the chain claims */
} fr_check_verdict;

typedef struct fr_check {
  fr_check_verdict verdict;
  char message[256];
} fr_check;

/* Checks step `step` (0-based) of a claimed chain: x_in (and x_prev where fr_step_needs_previous)
 * must be the latents the chain claims, and recomputing the step must give step_hashes[step].
 * Returns an error only when the recomputation itself fails. */
fr_status fr_check_step(fr_model *m, const fr_result *claimed, int step, const float *x_prev, const float *x_in,
                        fr_check *out);
/* Checks the decode: the final latent must hash to the last step hash and decode to frames_hash. */
fr_status fr_check_decode(fr_model *m, const fr_result *claimed, const float *final_latent, fr_check *out);

#ifdef __cplusplus
}
#endif
#endif
