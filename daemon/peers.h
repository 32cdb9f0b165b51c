/* What the verifier learns of each prover besides verdicts: what it serves (its /v1/info: model,
 * numerics and published job limits, fetched again every prover_info_s) and how far its clock is from
 * this node's (the Date header of its answers), from which a clock of this node's that is off is told. */
#ifndef FRACTALD_PEERS_H
#define FRACTALD_PEERS_H

#include <pthread.h>

#include "fanout.h"
#include "fractal/job.h"
#include "fractal/protocol.h"

typedef struct candidate {
  char hotkey[FR_HOTKEY_HEX + 1];
  char endpoint[256];
} candidate;

typedef struct peer {
  char hotkey[FR_HOTKEY_HEX + 1];
  int tried, has_info, has_limits; /* its /v1/info was asked for; read; it published limits */
  fr_job_limits lim;
  char model[33], numerics[64]; /* numerics: the profiles it serves, comma-separated */
  double offset_s, offset_at;   /* its clock minus this node's, and when (monotonic s; 0: never) */
} peer;

typedef struct peers {
  pthread_mutex_t mu;
  peer *p;
  int n, cap;
  unsigned long long infos, info_failures;
} peers;

void peers_init(peers *ps);
void peers_free(peers *ps);

/* The clock offset of an answer from hotkey, from its Date header (none: nothing recorded). */
void peers_observe(peers *ps, const char *hotkey, const fan_req *r);
/* Fetches /v1/info from the n candidates at once (and notes their clocks). */
void peers_refresh(peers *ps, const fr_key *key, const candidate *c, int n, long timeout_ms);
/* Whether hotkey's /v1/info was asked for (answered or not). */
int peers_tried(peers *ps, const char *hotkey);

/* Whether the prover may take job for this model: 1 if its info is unknown (it is tried), else its
 * model and numerics must be the job's and the job within its published limits. */
int peers_can_serve(peers *ps, const char *hotkey, const fr_job *job, const char *model);
/* The largest of the published limits among the n candidates (for the client's error). */
fr_job_limits peers_largest(peers *ps, const candidate *c, int n);

/* This node's clock against the provers heard from in the last max_age_s: `off` of `measured` are more
 * than window_s away; `skewed` when they are at least two and more than half (then the provers' clocks
 * agree with each other, not with this node's); median_s is the median offset. */
typedef struct clock_view {
  int measured, off, skewed;
  double median_s;
} clock_view;
clock_view peers_clock(peers *ps, double window_s, double max_age_s);

#endif
