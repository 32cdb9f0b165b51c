/* Checking a prover's answer without regenerating it (docs/daemon.md, "One step"): revealed latents
 * checked against the claimed chain, one step recomputed, the final decode recomputed. The claimed result
 * itself is parsed by the protocol (fractal/protocol.h). Used by fractald's verifier and fractal-replay. */
#ifndef FRACTAL_VERIFY_H
#define FRACTAL_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* How two arrays differ, element by element (fractal-replay's report of a mismatch). An element differs
 * when its bits differ (so -0 against +0 differs, with |delta| 0; NaN against the same NaN does not).
 * |delta| is |a - b| in double precision, +Inf where it is not a number (a NaN on either side, Inf - Inf). */
typedef struct fr_diff {
  size_t differing; /* elements whose bits differ */
  size_t first;     /* the first of them (n when none) */
  size_t max_at;    /* the first element with the largest |delta| (n when none differ) */
  double max_abs;   /* that |delta| */
} fr_diff;
void fr_diff_f32(const float *a, const float *b, size_t n, fr_diff *out);
void fr_diff_u8(const uint8_t *a, const uint8_t *b, size_t n, fr_diff *out);

#ifdef __cplusplus
}
#endif
#endif
