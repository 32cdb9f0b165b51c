/* The verifier's persistent state in Redis (the schema in docs/daemon.md, "Redis") with a local journal
 * (journal.h): every change is one record of absolute values with a sequence number, applied in one
 * optimistic transaction (WATCH the state, MULTI ... EXEC) that also records the applied sequence, so
 * replaying a record is harmless. The state belongs to one verifier (its hotkey) and one epoch (a random
 * id made with the state): records go only into a Redis state of the same identity, or into an empty one
 * (then as the whole state). While Redis cannot take them, records go to the fsync'd journal; while the
 * journal cannot either, they wait in memory and the store says it is down. */
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
  const char *verifier;     /* this verifier's hotkey: the state's owner */
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

/* Connects to Redis, retrying with backoff until it answers or `give_up_s` passes, loads the state
 * (skipping and counting entries that are not valid), checks that it and the journal belong to this
 * verifier and to one epoch, then replays the journal into both. Returns NULL with a message in err
 * (one line saying why and what to do). */
store *store_open(const store_opts *o, double give_up_s, vstate *st, char *err, size_t errn);
void store_close(store *s);
/* Persists the state after a change: st->seq is incremented. 0 once the record is durable (in Redis
 * or the journal); -1 when it could be written nowhere: it waits in memory, and store_flush writes it
 * (before any later record) once Redis or the journal takes writes again. */
int store_commit(store *s, vstate *st, const update *u);
/* Tries again to persist what waits in memory (Redis first, then the journal). 0 when nothing waits. */
int store_flush(store *s, vstate *st);
/* Calls fn with each of the newest `max` valid challenge log entries in Redis, oldest first (the
 * dashboard's recent challenges after a restart); invalid ones are skipped, logged and counted.
 * Returns how many, or -1 if Redis did not answer. */
int store_recent_entries(store *s, int max, void (*fn)(void *ctx, const char *json), void *ctx);

typedef enum store_health {
  STORE_OK,         /* Redis has every record */
  STORE_JOURNALING, /* Redis is away: every record is in the journal */
  STORE_FOREIGN,    /* Redis holds another verifier's or another epoch's state: not written; journaling */
  STORE_DOWN,       /* records wait in memory: neither Redis nor the journal takes them */
} store_health;
/* The health and, in why, what is wrong (empty when STORE_OK). */
store_health store_get_health(const store *s, char *why, size_t n);

/* Counters for /metrics and the docs. */
typedef struct store_counters {
  uint64_t records, commands, round_trips, journaled, replayed, reconnects, write_backs;
  uint64_t journal_unreadable, journal_torn_writes, waiting;       /* waiting: records durable nowhere now */
  uint64_t bad_state, bad_stats, bad_scores, bad_weights, bad_log; /* invalid entries read from Redis */
  uint64_t write_back_entries; /* challenge log entries written back after Redis lost them */
} store_counters;
store_counters store_get_counters(const store *s);

#endif
