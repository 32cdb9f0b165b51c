/* The verifier's persistent state in Redis (design: PROTOCOL.md "Redis schema") with a local journal:
 * every change is one record of absolute values with a sequence number, applied in one optimistic
 * transaction (WATCH the state, MULTI ... EXEC) that also records the applied sequence, so replaying a
 * record is harmless. While Redis is away records go to an fsync'd append-only journal, replayed in
 * order on reconnect; nothing is lost and nothing is applied twice, across restarts too. */
#ifndef FRACTALD_STORE_H
#define FRACTALD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "scoring.h"

#define HOTKEY_LEN 64

typedef struct store_opts {
  const char *host;
  int port;
  const char *password; /* "" only with insecure_no_password */
  int insecure_no_password;
  const char *prefix;       /* "fractal:" */
  const char *journal_path; /* required */
  int stream_maxlen;        /* the challenge log keeps about this many entries */
} store_opts;

/* The state the verifier keeps, as stored. */
typedef struct vstate {
  long step, next_interval_step, next_epoch_step;
  uint64_t seq; /* the last record's sequence number */
  int n, cap;
  char (*hotkey)[HOTKEY_LEN + 1];
  prover_stats *stats;
  uint64_t weights_version;
} vstate;

int vstate_find(const vstate *st, const char *hotkey);
/* The index of hotkey, adding a fresh Bronze prover if it is new; -1 on allocation failure. */
int vstate_add(vstate *st, const char *hotkey);
void vstate_remove(vstate *st, int i);
void vstate_free(vstate *st);

/* One change: the new step counters, the provers whose stats changed (all scores are written, since
 * every step decays them), removed provers, new weights, and a challenge log entry. */
typedef struct update {
  const int *changed; /* indices into the state */
  int nchanged;
  char (*removed)[HOTKEY_LEN + 1];
  int nremoved;
  int with_weights;           /* publish every prover's weight (st->stats[i].weight), a new version */
  const char *challenge_json; /* or NULL */
} update;

typedef struct store store;

/* Connects to Redis, retrying with backoff until it answers or `give_up_s` passes, then loads the
 * state and replays the journal into both. Returns NULL with a message in err. */
store *store_open(const store_opts *o, double give_up_s, vstate *st, char *err, size_t errn);
void store_close(store *s);
/* Persists the state after a change: st->seq is incremented. Never fails the caller: when Redis is
 * away the record is journaled (0), returns -1 only if even the journal cannot be written. */
int store_commit(store *s, vstate *st, const update *u);
/* Calls fn with each of the newest `max` challenge log entries in Redis, oldest first (the dashboard's
 * recent challenges after a restart). Returns how many, or -1 if Redis did not answer. */
int store_recent_entries(store *s, int max, void (*fn)(void *ctx, const char *json), void *ctx);
/* Redis reachable and the journal empty. */
int store_healthy(const store *s);
/* Counters for /metrics and the docs: records, Redis commands sent, records journaled, replayed. */
typedef struct store_counters {
  uint64_t records, commands, round_trips, journaled, replayed, reconnects;
} store_counters;
store_counters store_get_counters(const store *s);

#endif
