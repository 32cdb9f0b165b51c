/* The store's insides, shared by store.c (records into Redis, write-back, reconnects) and store_load.c
 * (start: loading and checking the state and the journal; reading the challenge log). */
#ifndef FRACTALD_STORE_IMPL_H
#define FRACTALD_STORE_IMPL_H

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "journal.h"
#include "store.h"

#define STORE_SCHEMA 2
#define EPOCH_HEX 32
#define LOG_KEEP 1024 /* the newest challenge log entries kept in memory, to write back what Redis loses */

typedef struct kept_entry {
  uint64_t seq;
  char *json;
} kept_entry;

struct store {
  store_opts o;
  char host[256], password[256], prefix[64], journal_path[1024], verifier[HOTKEY_LEN + 1], epoch[EPOCH_HEX + 1];
  redisContext *c;
  journal j;
  json_t **wait; /* records durable nowhere yet, oldest first */
  int nwait, capwait;
  kept_entry kept[LOG_KEEP]; /* a ring */
  int kept_at, nkept;
  uint64_t redis_seq; /* the newest record Redis is known to hold */
  int foreign;        /* Redis holds a state not ours: not written until it holds ours or none */
  char foreign_why[320];
  double next_try, backoff;
  store_counters n;
};

/* What a state hash's applied_seq, verifier and epoch say. */
typedef enum identity { ID_MINE, ID_EMPTY, ID_FOREIGN, ID_DAMAGED } identity;

redisReply *store_cmdf(store *s, const char *fmt, ...);
void store_drop(store *s);
int store_connect(store *s);
void store_key(const store *s, char *buf, size_t n, const char *name, const char *hotkey);
/* One record into Redis: 0 applied (or held already), -1 Redis failed, -2 Redis lost records it had
 * acknowledged or holds no state (write the whole state back), -3 Redis holds another state. */
int store_apply(store *s, json_t *r);
/* Calls fn with every stats:<hotkey> key Redis holds (SCAN) until it returns nonzero. 0, or -1 if Redis
 * failed or fn stopped. */
int store_scan_stats(store *s, int (*fn)(void *ctx, const char *key), void *ctx);
/* A record of the change u, marked with this state's owner and epoch; with snapshot, the whole state
 * (every prover and the weights). */
json_t *make_record(const store *s, const vstate *st, const update *u);
json_t *snapshot(const store *s, const vstate *st);
/* A record's absolute values into the in-memory state (journal replay at start). */
void record_to_state(json_t *r, vstate *st);

/* Strict reads of Redis' answers: the whole string, in range. 0, or -1 if it is not one. */
int parse_long(const char *v, long lo, long *out);
int parse_u64(const char *v, uint64_t *out);

#endif
