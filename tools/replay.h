/* fractal-replay's checks of one prover's result (replay_check.c): the whole job regenerated and every
 * field compared, or one step recomputed; a mismatch is explained element by element from the latents the
 * prover reveals. Each returns the exit status: 0 match, 1 mismatch, 2 error. */
#ifndef FRACTAL_TOOLS_REPLAY_H
#define FRACTAL_TOOLS_REPLAY_H

#include "fractal/auth.h"
#include "fractal/protocol.h"
#include "fractal/verify.h"

typedef struct replay_source {
  /* fetching from the prover (POST /v1/reveal): key NULL for none. A prover reveals a job's latents only
   * to the job's sender, so key is the key that sent the challenge (the verifier's). */
  const fr_key *key;
  const char *url;    /* the prover, "http://host:port" */
  const char *hotkey; /* the prover's hotkey (the signature names it) */
  /* --step: the latents entering the step and the one before, from files (NULL: fetched, or made from
   * the seed for step 0) */
  const char *latent_file, *prev_file;
} replay_source;

int replay_check_all(fr_model *m, const fr_result *rec, const replay_source *src);
int replay_check_step(fr_model *m, const fr_result *rec, int step, const replay_source *src);

#endif
