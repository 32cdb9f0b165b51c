/* fractald's verifier role: the step loop (challenge, verdicts, scores, tiers, weights), organic
 * request routing, and the read-only endpoints and dashboard (verifier_api.c). */
#ifndef FRACTALD_VERIFIER_H
#define FRACTALD_VERIFIER_H

#include "node.h"
#include "peers.h"
#include "scoring.h"
#include "store.h"
#include "verdict.h"
#include "videos.h"

#define RECENT_CHALLENGES 50 /* kept in memory for the dashboard */
#define SCORE_HISTORY 720    /* score samples kept for the dashboard's plot */

typedef struct verifier {
  node *n;
  pthread_mutex_t mu; /* everything below, and the store */
  pthread_cond_t wake;
  vstate st;
  store *db;
  pthread_mutex_t model_mu;
  checker chk;
  speed_mode speed;
  pthread_t loop, info_loop;
  int stop, loop_running, info_running;
  peers peers;                     /* provers' published limits and clocks (its own lock) */
  clock_view clock;                /* as of the last step */
  char *recent[RECENT_CHALLENGES]; /* challenge log entries (JSON), ring */
  int recent_at, nrecent;
  char *history[SCORE_HISTORY]; /* {"step":N,"scores":{...}}, ring */
  int history_at, nhistory;
  double started; /* wall clock, for the dashboard */
  /* counters for /metrics */
  check_counters cc;
  unsigned long long steps_run, challenges_sent, verdicts_ok, verdicts_failed, unjudged;
  unsigned long long organic_ok, organic_failed, organic_unrouted, organic_not_served, organic_refused;
  unsigned long long stale_unjudged,
      steps_held;           /* stale_nonce answers not judged (clock off); steps not run (store down) */
  double challenge_seconds; /* wall time of steps (fan-out, verdicts, record) */
  videos *videos;           /* the videos API (videos_api), else NULL */
} verifier;

/* Organic requests (POST /v1/generate, and the videos API's workers). organic_job checks a client's job
 * against this verifier and fills in the model, the size and a fresh job id starting with prefix; 0, or
 * the HTTP status, with its error code and message. organic_run routes the job to the best provers (by
 * tier, then latency), up to organic_tries of them, checks each answer (a spot check with probability
 * check_p, or the full check), records the outcome, and keeps the first valid answer. */
typedef struct organic_result {
  int status; /* 200: an answer was kept; else the HTTP status of the failure, with code and message */
  const char *code;
  char message[512];
  answer a;  /* the kept answer: the prover, its result (hashes, digest), how it was checked */
  char *mp4; /* the prover's MP4 (malloc'd) */
  size_t mp4_len;
  int checked, full; /* checked: a step or the whole job was recomputed; full: the whole job */
} organic_result;
int organic_job(node *n, fr_job *job, const char *prefix, const char **code, char *why, size_t whyn);
/* trying (nullable) is told each prover before it is tried. */
int organic_run(node *n, const fr_job *job, const char *client, double check_p,
                void (*trying)(void *ctx, const char *hotkey, const char *endpoint), void *ctx, organic_result *out);
void organic_result_free(organic_result *r);

int verifier_start(node *n);
/* Finishes the step in progress, then stops the loop. */
void verifier_stop(node *n);
/* Closes the store and frees the state (after the HTTP server has stopped). */
void verifier_free(node *n);
const http_route *verifier_routes(int *count);

/* verifier_api.c: the dashboard's rings (under v->mu): a malloc'd string kept in a ring of `cap` (taking
 * ownership), a score sample of the state, a challenge log entry kept (a store_recent_entries callback). */
void ring_put(char **ring, int cap, int *at, int *count, char *s);
char *scores_sample(const vstate *st);
void keep_recent(void *ctx, const char *json);

/* verifier_api.c: the read-only endpoints. */
void api_healthz(node *n, const http_request *req, http_response *resp);
void api_info(node *n, const http_request *req, http_response *resp);
void api_provers(node *n, const http_request *req, http_response *resp);
void api_weights(node *n, const http_request *req, http_response *resp);
void api_history(node *n, const http_request *req, http_response *resp);
void api_metrics(node *n, const http_request *req, http_response *resp);
void api_dashboard(node *n, const http_request *req, http_response *resp);

#endif
