/* The verifier's rules (docs/daemon.md, "Rules"), in one place and free of
 * I/O: challenge rewards with the speed bonus, the score EMA and decay, tier moves at interval ends,
 * epoch resets, and the weights. */
#ifndef FRACTALD_SCORING_H
#define FRACTALD_SCORING_H

#define TIER_COUNT 11
#define FAILURE_REWARD (-0.01)

typedef struct tier_def {
  const char *name;
  double success_rate;
  long request_limit;
  double reward_factor;
} tier_def;

extern const tier_def tiers[TIER_COUNT]; /* lowest first: Bronze ... Challenger */
int tier_by_name(const char *name);      /* -1 if unknown */

typedef struct prover_stats {
  long challenge_attempts, challenge_successes; /* this interval */
  long inference_attempts, inference_successes; /* this interval (organic requests) */
  long interval_successes;                      /* this interval, challenges and organic */
  long total_successes;                         /* carries over intervals; reset at epochs */
  int tier;
  long request_limit;
  long last_epoch_step;
  double latency_ewma_ms; /* 0: no sample yet */
  double score;
  double weight; /* as last published */
} prover_stats;

void stats_init(prover_stats *s); /* a new prover: Bronze, nothing counted */

typedef enum speed_mode { SPEED_SIGMOID = 0, SPEED_MINMAX = 1 } speed_mode;

/* Rewards of one challenge for n queried provers: the tier's reward factor on success, FAILURE_REWARD
 * otherwise, times (1 + n_i) with the speed term n_i of `mode` over the response times (the timeout for
 * provers that did not answer). */
void challenge_rewards(int n, const int *success, const double *seconds, const int *tier, double timeout,
                       speed_mode mode, double *reward);

/* One challenge's bookkeeping for one prover: counters, latency EWMA (weight 0.2) and score EMA. */
void record_challenge(prover_stats *s, int success, double seconds, double reward, double alpha);
/* One organic request's bookkeeping: counters and latency EWMA; scores come from challenges only. */
void record_inference(prover_stats *s, int success, double seconds);
/* After every step, every score: max(0, score - decay). */
double decayed(double score, double decay);

/* The interval's end for one prover: one tier up if its success rate reaches the next tier's and its
 * total successes the next tier's request limit, else one tier down if it is below its own tier's
 * rate; only provers with challenge attempts this interval move. Then the interval counters reset.
 * Returns the tier move (+1, 0, -1). */
int interval_end(prover_stats *s);
/* The epoch's end: Bronze and Silver restart at Bronze with no successes; the others keep their tier
 * with total successes set to its request limit. */
void epoch_end(prover_stats *s, long step);

/* L1-normalised scores (all zero when the scores sum to zero). */
void weights_from_scores(int n, const double *scores, double *weights);

#endif
