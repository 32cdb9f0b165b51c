/* The verifier's verdicts on provers' answers to one job (docs/daemon.md, "One step",
 * step 4): `full` generates the job once and compares digests; `spot` asks each prover to reveal the
 * latents around one random step, checks them against its chain and recomputes that step (sometimes
 * the final decode too), once per group of identical chains. */
#ifndef FRACTALD_VERDICT_H
#define FRACTALD_VERDICT_H

#include <pthread.h>

#include "fanout.h"
#include "fractal/pipeline.h"
#include "fractal/protocol.h"

/* A verdict on one answer. UNJUDGED is the verifier's own failure (its generation or memory, or its clock
 * making provers refuse its nonces): it is not recorded against the prover. */
typedef enum verdict { VERDICT_FAIL, VERDICT_OK, VERDICT_UNJUDGED } verdict;

typedef struct answer {
  char hotkey[FR_HOTKEY_HEX + 1];
  char endpoint[256];
  int has_result; /* a well-formed result came back */
  fr_result res;  /* its hashes (no frames) */
  double seconds; /* until the answer (the timeout when none came) */
  verdict verdict;
  char reason[320]; /* why not, or what was checked */
  int checked_step; /* spot: the step recomputed; -1 none */
  int decode_checked;
  int stale_nonce; /* the prover refused the request as a stale nonce (its clock and this node's disagree) */
} answer;

typedef struct checker {
  const fr_key *key;
  fr_model *model;
  pthread_mutex_t *model_mu; /* one computation on the model at a time */
  int full;                  /* full mode, else spot */
  double timeout_s, decode_check_p;
  size_t max_response;
} checker;

typedef struct check_counters {
  unsigned long long recomputations, decodes, generations, reveals, reveal_bytes;
  double compute_seconds; /* on the verifier's device */
} check_counters;

/* Fills a->has_result/res from a prover's /v1/challenge reply (or a->reason). */
void answer_from_challenge(answer *a, const fan_req *r, const fr_job *job, double timeout_s);
/* The same from a /v1/generate reply: the chain and digest come in its headers. */
void answer_from_generate(answer *a, const fan_req *r, const fr_job *job, double timeout_s);

/* Decides every answer's verdict (a->verdict, reason, checked_step, decode_checked). spot_p is the
 * chance each group of identical chains is checked at all (1 for challenges); unchecked answers with a
 * well-formed result succeed. */
void check_answers(const checker *c, const fr_job *job, answer *a, int n, double spot_p, check_counters *cnt);

/* A uniformly random double in [0, 1) from the CSPRNG. */
double random_unit(void);

#endif
