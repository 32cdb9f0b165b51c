/* The verifier's rules (see scoring.h). */
#include <math.h>
#include <string.h>

#include "scoring.h"

/* clang-format off */ /* a table: one entry per line */
const tier_def tiers[TIER_COUNT] = {
  {"Bronze", 0.50, 500, 0.444},        {"Silver", 0.60, 1000, 0.555},       {"Gold", 0.70, 5000, 0.666},
  {"Platinum", 0.72, 7500, 0.777},     {"Diamond", 0.74, 10000, 0.888},     {"Emerald", 0.78, 12500, 0.900},
  {"Ruby", 0.82, 15000, 0.920},        {"Jade", 0.88, 17500, 0.940},        {"Master", 0.92, 20000, 0.960},
  {"Grandmaster", 0.96, 22500, 0.980}, {"Challenger", 0.99, 25000, 1.000},
};
/* clang-format on */

int tier_by_name(const char *name)
{
  for (int i = 0; i < TIER_COUNT; i++)
    if (strcmp(tiers[i].name, name) == 0) return i;
  return -1;
}

void stats_init(prover_stats *s)
{
  memset(s, 0, sizeof *s);
  s->tier = 0;
  s->request_limit = tiers[0].request_limit;
}

void challenge_rewards(int n, const int *success, const double *seconds, const int *tier, double timeout,
                       speed_mode mode, double *reward)
{
  double mean = 0, lo = 0, hi = 0;
  for (int i = 0; i < n; i++) {
    mean += seconds[i];
    lo = i == 0 || seconds[i] < lo ? seconds[i] : lo;
    hi = i == 0 || seconds[i] > hi ? seconds[i] : hi;
  }
  mean /= n > 0 ? n : 1;
  double k = 7.0 / timeout, shift = 0.3 * timeout;
  for (int i = 0; i < n; i++) {
    double base = success[i] ? tiers[tier[i]].reward_factor : FAILURE_REWARD, speed;
    if (mode == SPEED_SIGMOID) speed = 1.0 / (1.0 + exp(k * ((seconds[i] - mean) - shift)));
    else speed = hi > lo ? (seconds[i] - hi) / (hi - lo) : 0.5;
    reward[i] = base * (1.0 + speed);
  }
}

static void success(prover_stats *s, double seconds)
{
  s->interval_successes++;
  s->total_successes++;
  double ms = seconds * 1e3;
  s->latency_ewma_ms = s->latency_ewma_ms > 0 ? 0.8 * s->latency_ewma_ms + 0.2 * ms : ms;
}

void record_challenge(prover_stats *s, int ok, double seconds, double reward, double alpha)
{
  s->challenge_attempts++;
  if (ok) s->challenge_successes++, success(s, seconds);
  s->score = alpha * reward + (1.0 - alpha) * s->score;
}

void record_inference(prover_stats *s, int ok, double seconds)
{
  s->inference_attempts++;
  if (ok) s->inference_successes++, success(s, seconds);
}

double decayed(double score, double decay) { return score - decay > 0 ? score - decay : 0.0; }

int interval_end(prover_stats *s)
{
  int move = 0;
  if (s->challenge_attempts > 0) {
    double rate = (double)s->challenge_successes / (double)s->challenge_attempts;
    if (s->tier + 1 < TIER_COUNT && rate >= tiers[s->tier + 1].success_rate &&
        s->total_successes >= tiers[s->tier + 1].request_limit)
      move = 1;
    else if (s->tier > 0 && rate < tiers[s->tier].success_rate) move = -1;
  }
  s->tier += move;
  s->request_limit = tiers[s->tier].request_limit;
  s->challenge_attempts = s->challenge_successes = 0;
  s->inference_attempts = s->inference_successes = 0;
  s->interval_successes = 0;
  return move;
}

void epoch_end(prover_stats *s, long step)
{
  if (s->tier <= 1) { /* the original meant this and wrote it to a wrong key */
    s->tier = 0;
    s->total_successes = 0;
  } else {
    s->total_successes = tiers[s->tier].request_limit;
  }
  s->request_limit = tiers[s->tier].request_limit;
  s->last_epoch_step = step;
}

void weights_from_scores(int n, const double *scores, double *weights)
{
  double sum = 0;
  for (int i = 0; i < n; i++) sum += scores[i] > 0 ? scores[i] : 0;
  for (int i = 0; i < n; i++) weights[i] = sum > 0 && scores[i] > 0 ? scores[i] / sum : 0.0;
}
