/* The verifier's rules on hand-computed cases: rewards with the sigmoid and min-max speed terms,
 * the score EMA and decay, tier promotion, demotion and the limits on both, epoch resets (including
 * the case the original system got wrong), and the weights. */
#include "daemon/scoring.h"
#include "testutil.h"

static int near(double a, double b) { return fabs(a - b) <= 1e-9 * (1 + fabs(b)); }

static void test_rewards(void)
{
  /* timeout 60: k = 7/60, shift 18; times 10, 20, 60 (mean 30) -> speed terms 0.988264516177,
   * 0.963267409328, 0.197816111441; Bronze factor 0.444 */
  int ok3[3] = {1, 1, 1}, bronze[3] = {0, 0, 0};
  double t[3] = {10, 20, 60}, r[3];
  challenge_rewards(3, ok3, t, bronze, 60, SPEED_SIGMOID, r);
  CHECK(near(r[0], 0.882789445183) && near(r[1], 0.871690729742) && near(r[2], 0.531830353480),
        "sigmoid rewards %.12f %.12f %.12f", r[0], r[1], r[2]);
  int mixed[3] = {1, 0, 0}, tier[3] = {10, 4, 0};
  challenge_rewards(3, mixed, t, tier, 60, SPEED_SIGMOID, r);
  CHECK(near(r[0], 1.988264516177) && near(r[1], -0.01963267409328) && near(r[2], -0.011978161114414),
        "a Challenger's success and two failures: %.12f %.12f %.12f", r[0], r[1], r[2]);
  /* min-max: n = (t - max) / (max - min) = -1, -0.8, 0 */
  challenge_rewards(3, ok3, t, bronze, 60, SPEED_MINMAX, r);
  CHECK(near(r[0], 0.0) && near(r[1], 0.444 * 0.2) && near(r[2], 0.444), "minmax %.12f %.12f %.12f", r[0], r[1], r[2]);
  double same[2] = {5, 5};
  challenge_rewards(2, ok3, same, bronze, 60, SPEED_MINMAX, r);
  CHECK(near(r[0], 0.444 * 1.5) && near(r[1], 0.444 * 1.5), "minmax with equal times: 0.5 each");
}

static void test_scores(void)
{
  prover_stats s;
  stats_init(&s);
  CHECK(s.tier == 0 && s.request_limit == 500, "new provers start at Bronze");
  record_challenge(&s, 1, 2.0, 0.8, 0.05); /* 0.05 * 0.8 */
  CHECK(near(s.score, 0.04) && s.challenge_attempts == 1 && s.total_successes == 1 && near(s.latency_ewma_ms, 2000),
        "first challenge: score %.6f", s.score);
  record_challenge(&s, 0, 60.0, -0.01, 0.05); /* 0.05 * -0.01 + 0.95 * 0.04 */
  CHECK(near(s.score, 0.0375) && s.challenge_attempts == 2 && s.challenge_successes == 1 &&
            near(s.latency_ewma_ms, 2000),
        "a failure: score %.6f, latency unchanged", s.score);
  record_challenge(&s, 1, 1.0, 0.5, 0.05);
  CHECK(near(s.latency_ewma_ms, 0.8 * 2000 + 0.2 * 1000), "latency EWMA");
  double score = s.score, lat = s.latency_ewma_ms;
  long total = s.total_successes;
  record_inference(&s, 1, 3.0);
  CHECK(s.inference_attempts == 1 && s.inference_successes == 1 && s.total_successes == total + 1 && s.score == score &&
            near(s.latency_ewma_ms, 0.8 * lat + 0.2 * 3000),
        "an organic success counts and times, but does not score");
  record_inference(&s, 0, 9.0);
  CHECK(s.inference_attempts == 2 && s.inference_successes == 1 && s.total_successes == total + 1 &&
            s.challenge_attempts == 3,
        "an organic failure counts as an attempt only");
  CHECK(near(decayed(0.0375, 0.001), 0.0365) && decayed(0.0005, 0.001) == 0.0, "decay is floored at 0");
}

static void test_tiers(void)
{
  prover_stats s;
  stats_init(&s);
  /* 60% success but only 3 total successes: Silver needs 1000 */
  s.challenge_attempts = 5, s.challenge_successes = 3, s.total_successes = 3;
  CHECK(interval_end(&s) == 0 && s.tier == 0, "rate alone does not promote");
  CHECK(s.challenge_attempts == 0 && s.total_successes == 3, "interval counters roll over, totals carry on");
  s.challenge_attempts = 100, s.challenge_successes = 60, s.total_successes = 1000, s.interval_successes = 60;
  CHECK(interval_end(&s) == 1 && s.tier == 1 && s.request_limit == 1000, "Bronze -> Silver at 60%% and 1000");
  s.challenge_attempts = 100, s.challenge_successes = 100, s.total_successes = 1000000;
  CHECK(interval_end(&s) == 1 && s.tier == 2, "one tier per interval, however good");
  s.challenge_attempts = 10, s.challenge_successes = 6; /* 60% < Gold's 70% */
  CHECK(interval_end(&s) == -1 && s.tier == 1 && s.request_limit == 1000, "Gold -> Silver below 70%%");
  CHECK(interval_end(&s) == 0 && s.tier == 1, "no attempts this interval: no move");
  s.tier = 0, s.challenge_attempts = 10, s.challenge_successes = 0;
  CHECK(interval_end(&s) == 0 && s.tier == 0, "nothing below Bronze");
  s.tier = 10, s.challenge_attempts = 100, s.challenge_successes = 100, s.total_successes = 1 << 30;
  CHECK(interval_end(&s) == 0 && s.tier == 10, "nothing above Challenger");
  s.tier = 5, s.challenge_attempts = 100, s.challenge_successes = 80,
  s.total_successes = 12000; /* 80% >= Ruby's 82%? no */
  CHECK(interval_end(&s) == 0 && s.tier == 5, "80%% keeps Emerald (78%%), not enough for Ruby (82%%)");
}

static void test_epochs(void)
{
  prover_stats s;
  stats_init(&s);
  s.tier = 1, s.total_successes = 4321; /* the original wrote this reset to a wrong key */
  epoch_end(&s, 36000);
  CHECK(s.tier == 0 && s.total_successes == 0 && s.request_limit == 500 && s.last_epoch_step == 36000,
        "Silver restarts at Bronze with no successes");
  s.tier = 0, s.total_successes = 77;
  epoch_end(&s, 72000);
  CHECK(s.tier == 0 && s.total_successes == 0, "Bronze restarts too");
  s.tier = 2, s.total_successes = 123456;
  epoch_end(&s, 72000);
  CHECK(s.tier == 2 && s.total_successes == 5000 && s.request_limit == 5000, "Gold keeps Gold, totals set to 5000");
  s.tier = 10;
  epoch_end(&s, 72000);
  CHECK(s.total_successes == 25000, "Challenger: 25000");
}

static void test_weights(void)
{
  double sc[4] = {0.2, 0.0, 0.6, 0.2}, w[4];
  weights_from_scores(4, sc, w);
  CHECK(near(w[0], 0.2) && w[1] == 0 && near(w[2], 0.6) && near(w[3], 0.2), "L1 weights");
  double zero[3] = {0, 0, 0};
  weights_from_scores(3, zero, w);
  CHECK(w[0] == 0 && w[1] == 0 && w[2] == 0, "no scores, no weights");
  CHECK(tier_by_name("Grandmaster") == 9 && tier_by_name("Wood") == -1, "tier names");
}

int main(void)
{
  test_rewards();
  test_scores();
  test_tiers();
  test_epochs();
  test_weights();
  return check_done("test_scoring");
}
