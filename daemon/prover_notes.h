/* What a prover knows of how it is judged: the verdicts verifiers send it after each challenge
 * (POST /v1/verdict, docs/protocol.md "Verdict notices"), kept as counters and the most recent few, for
 * its operator's /v1/info and /metrics. A notice is what one verifier says; it changes nothing else. */
#ifndef FRACTALD_PROVER_NOTES_H
#define FRACTALD_PROVER_NOTES_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "fractal/auth.h"
#include "fractal/job.h"

#define NOTES_KEPT 16

typedef struct verdict_note {
  double time; /* this node's wall clock when the notice came (Unix seconds) */
  char verifier[FR_HOTKEY_HEX + 1];
  char job_id[FR_JOB_ID_MAX + 1];
  char verdict[12]; /* "ok", "fail" or "unjudged" */
  char reason[320];
  long step;     /* the verifier's step */
  double reward; /* NaN when the notice has none */
} verdict_note;

typedef struct prover_notes {
  pthread_mutex_t mu;
  verdict_note last[NOTES_KEPT]; /* a ring: last[(next - 1) % NOTES_KEPT] is the newest */
  int next, count;
  uint64_t ok, fail, unjudged;
  double last_ok_time, last_fail_time;
} prover_notes;

void notes_init(prover_notes *s);
void notes_free(prover_notes *s);
/* Parses a notice body ({"job_id", "verdict", "reason"?, "step"?, "reward"?}) from verifier `sender`
 * and keeps it (a copy in *kept, nullable); 0, or -1 with the reason in err. */
int notes_add(prover_notes *s, const char *sender, const char *body, size_t len, verdict_note *kept, char *err,
              size_t errn);
/* {"ok": n, "fail": n, "unjudged": n, "last": [newest first]} */
json_t *notes_json(prover_notes *s);
/* The Prometheus lines (counters by verdict, the time of the last ok and the last fail) appended to out. */
void notes_metrics(prover_notes *s, char *out, size_t n);

#endif
