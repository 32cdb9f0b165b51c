/* Redis persistence with a journal (see store.h): records into Redis or the journal, what waits in
 * memory, reconnects, and writing the whole state back when Redis lost what it had acknowledged. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fractal/auth.h"
#include "log.h"
#include "store_impl.h"

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- Redis ---- */

void store_drop(store *s)
{
  if (s->c) redisFree(s->c);
  s->c = NULL;
}

/* A command from printf-style words separated by spaces (no spaces inside words). */
redisReply *store_cmdf(store *s, const char *fmt, ...)
{
  if (!s->c) return NULL;
  s->n.commands++, s->n.round_trips++;
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = (redisReply *)redisvCommand(s->c, fmt, ap);
  va_end(ap);
  if (!r) {
    LOG(LOG_WARN, "redis: %s", s->c->errstr[0] ? s->c->errstr : "connection lost");
    store_drop(s);
  }
  return r;
}

int store_connect(store *s)
{
  struct timeval tv = {2, 0};
  redisContext *c = redisConnectWithTimeout(s->host, s->o.port, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return -1;
  }
  redisSetTimeout(c, tv);
  s->c = c;
  if (s->password[0]) {
    redisReply *r = store_cmdf(s, "AUTH %s", s->password);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r && !ok) LOG(LOG_ERROR, "redis AUTH failed: %s", r->str);
    freeReplyObject(r);
    if (!ok) return store_drop(s), -1;
  }
  redisReply *r = store_cmdf(s, "PING");
  int ok = r && r->type != REDIS_REPLY_ERROR;
  if (r && !ok) LOG(LOG_ERROR, "redis: %s", r->str); /* e.g. NOAUTH: the server wants a password */
  freeReplyObject(r);
  if (!ok) return store_drop(s), -1;
  s->n.reconnects++;
  return 0;
}

void store_key(const store *s, char *buf, size_t n, const char *name, const char *hotkey)
{
  snprintf(buf, n, "%s%s%s%s", s->prefix, name, hotkey ? ":" : "", hotkey ? hotkey : "");
}

/* A pipelined batch of commands: appended, then sent in one write, replies read in order. */
typedef struct batch {
  store *s;
  int n, failed;
} batch;

static void bput(batch *b, int argc, const char **argv, const size_t *lens)
{
  if (!b->s->c || b->failed) return;
  if (redisAppendCommandArgv(b->s->c, argc, argv, lens) != REDIS_OK) b->failed = 1;
  else b->n++, b->s->n.commands++;
}

/* HSET key field value ... with fields and values given as one JSON object (numbers and strings). */
static void bput_hset_json(batch *b, const char *k, json_t *obj)
{
  size_t count = json_object_size(obj), at = 2;
  if (!count) return;
  const char **argv = (const char **)malloc(sizeof *argv * (2 + 2 * count));
  size_t *lens = (size_t *)malloc(sizeof *lens * (2 + 2 * count));
  char(*num)[32] = (char(*)[32])malloc(sizeof *num * count);
  if (!argv || !lens || !num) {
    b->failed = 1;
    free(argv), free(lens), free(num);
    return;
  }
  argv[0] = "HSET", lens[0] = 4, argv[1] = k, lens[1] = strlen(k);
  const char *f;
  json_t *v;
  size_t i = 0;
  json_object_foreach(obj, f, v)
  {
    argv[at] = f, lens[at] = strlen(f), at++;
    if (json_is_string(v)) argv[at] = json_string_value(v);
    else if (json_is_integer(v)) snprintf(num[i], 32, "%lld", (long long)json_integer_value(v)), argv[at] = num[i];
    else snprintf(num[i], 32, "%.17g", json_number_value(v)), argv[at] = num[i];
    lens[at] = strlen(argv[at]), at++, i++;
  }
  bput(b, (int)at, argv, lens);
  free(argv), free(lens), free(num);
}

static void bputf(batch *b, const char *fmt, ...)
{
  if (!b->s->c || b->failed) return;
  va_list ap;
  va_start(ap, fmt);
  if (redisvAppendCommand(b->s->c, fmt, ap) != REDIS_OK) b->failed = 1;
  else b->n++, b->s->n.commands++;
  va_end(ap);
}

/* A challenge log entry, with the sequence number of its record (what a write-back compares). */
static void bput_entry(batch *b, const char *entry, uint64_t seq)
{
  char k[256], maxlen[32], seqs[32];
  store_key(b->s, k, sizeof k, "challenges", NULL);
  snprintf(maxlen, sizeof maxlen, "%d", b->s->o.stream_maxlen);
  snprintf(seqs, sizeof seqs, "%llu", (unsigned long long)seq);
  const char *argv[] = {"XADD", k, "MAXLEN", "~", maxlen, "*", "data", entry, "seq", seqs};
  size_t lens[] = {4, strlen(k), 6, 1, strlen(maxlen), 1, 4, strlen(entry), 3, strlen(seqs)};
  bput(b, 10, argv, lens);
}

static void bput_state(batch *b, long step, long next_interval, long next_epoch, uint64_t seq)
{
  char k[256];
  store_key(b->s, k, sizeof k, "state", NULL);
  bputf(b,
        "HSET %s step %ld next_interval_step %ld next_epoch_step %ld schema %d applied_seq %llu verifier %s epoch %s",
        k, step, next_interval, next_epoch, STORE_SCHEMA, (unsigned long long)seq, b->s->verifier, b->s->epoch);
}

/* Sends the batch and reads every reply; returns the last one (the caller frees) or NULL if the
 * connection failed (then it is dropped). */
static redisReply *bsend(batch *b)
{
  redisReply *last = NULL;
  if (b->failed || !b->s->c) return store_drop(b->s), NULL;
  b->s->n.round_trips++;
  for (int i = 0; i < b->n; i++) {
    void *r = NULL;
    if (redisGetReply(b->s->c, &r) != REDIS_OK || !r) {
      LOG(LOG_WARN, "redis: %s", b->s->c->errstr[0] ? b->s->c->errstr : "connection lost");
      freeReplyObject(last);
      store_drop(b->s);
      return NULL;
    }
    freeReplyObject(last);
    last = (redisReply *)r;
  }
  return last;
}

/* The state hash's owner (HMGET applied_seq verifier epoch): ours (then *applied), none, another's, or
 * damaged (counted; the whole state is written over it). */
static identity classify(store *s, const redisReply *r, uint64_t *applied, char *why, size_t n)
{
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
    return s->n.bad_state++, snprintf(why, n, "has no readable state"), ID_DAMAGED;
  const redisReply *a = r->element[0], *v = r->element[1], *e = r->element[2];
  int has_a = a->type == REDIS_REPLY_STRING, has_v = v->type == REDIS_REPLY_STRING,
      has_e = e->type == REDIS_REPLY_STRING;
  if (!has_a && !has_v && !has_e) return snprintf(why, n, "holds no state"), ID_EMPTY;
  if (has_v && fr_hotkey_valid(v->str) && strcmp(v->str, s->verifier) != 0)
    return snprintf(why, n, "holds the state of another verifier, %.16s... (epoch %.32s)", v->str,
                    has_e ? e->str : "?"),
           ID_FOREIGN;
  if (!has_v || !has_e || strlen(e->str) != EPOCH_HEX || !has_a || parse_u64(a->str, applied) != 0) {
    s->n.bad_state++;
    LOG(LOG_ERROR, "redis: %sstate is damaged (applied_seq '%.24s', verifier '%.16s', epoch '%.40s')", s->prefix,
        has_a ? a->str : "", has_v ? v->str : "", has_e ? e->str : "");
    return snprintf(why, n, "has a damaged state hash"), ID_DAMAGED;
  }
  if (strcmp(e->str, s->epoch) != 0)
    return snprintf(why, n,
                    "holds this verifier's state of another epoch (%s, not %s): restored from another timeline?",
                    e->str, s->epoch),
           ID_FOREIGN;
  return ID_MINE;
}

static void set_foreign(store *s, const char *why)
{
  if (!s->foreign)
    LOG(LOG_ERROR,
        "redis %s:%d (prefix %s) %s. This verifier does not write over it: its records go to the journal until Redis "
        "holds its state or none (move the other state away, or give each verifier its own redis_prefix)",
        s->host, s->o.port, s->prefix, why);
  s->foreign = 1;
  snprintf(s->foreign_why, sizeof s->foreign_why, "redis %s", why);
  store_drop(s);
}

/* WATCH the state and read its owner and applied sequence (one round trip). */
static identity watch_state(store *s, uint64_t *applied, char *why, size_t n, int *failed)
{
  char k[256];
  batch b = {s, 0, 0};
  store_key(s, k, sizeof k, "state", NULL);
  bputf(&b, "WATCH %s", k);
  bputf(&b, "HMGET %s applied_seq verifier epoch", k);
  redisReply *rp = bsend(&b);
  *failed = !rp, *applied = 0;
  identity id = rp ? classify(s, rp, applied, why, n) : ID_DAMAGED;
  freeReplyObject(rp);
  return id;
}

int store_apply(store *s, json_t *r)
{
  char k[256], why[320];
  uint64_t seq = (uint64_t)json_integer_value(json_object_get(r, "seq")), applied;
  for (int attempt = 0; attempt < 5; attempt++) {
    int failed;
    identity id = watch_state(s, &applied, why, sizeof why, &failed);
    if (failed) return -1;
    if (id != ID_MINE || applied < s->redis_seq) { /* Redis lost records it had acknowledged, or is another's */
      freeReplyObject(store_cmdf(s, "UNWATCH"));
      if (id == ID_FOREIGN) return set_foreign(s, why), -3;
      if (id == ID_MINE)
        snprintf(why, sizeof why, "holds record %llu, it had acknowledged %llu", (unsigned long long)applied,
                 (unsigned long long)s->redis_seq);
      LOG(LOG_ERROR, "redis lost data (it %s): writing the whole state back", why);
      return s->c ? -2 : -1;
    }
    if (applied >= seq) { /* e.g. an EXEC whose answer was lost, journaled too */
      freeReplyObject(store_cmdf(s, "UNWATCH"));
      if (s->c && applied > s->redis_seq) s->redis_seq = applied;
      return s->c ? 0 : -1;
    }
    batch b = {s, 0, 0};
    bputf(&b, "MULTI");
    const char *hk;
    json_t *val;
    json_object_foreach(json_object_get(r, "stats"), hk, val)
    {
      store_key(s, k, sizeof k, "stats", hk);
      bput_hset_json(&b, k, val);
    }
    size_t i;
    json_array_foreach(json_object_get(r, "removed"), i, val)
    {
      const char *h = json_string_value(val);
      store_key(s, k, sizeof k, "stats", h);
      bputf(&b, "DEL %s", k);
      store_key(s, k, sizeof k, "scores", NULL);
      bputf(&b, "HDEL %s %s", k, h);
    }
    store_key(s, k, sizeof k, "scores", NULL);
    bput_hset_json(&b, k, json_object_get(r, "scores"));
    json_t *w = json_object_get(r, "weights");
    if (w) {
      store_key(s, k, sizeof k, "weights", NULL);
      bputf(&b, "DEL %s", k);
      bput_hset_json(&b, k, w);
      bputf(&b, "HSET %s version %lld", k, (long long)json_integer_value(json_object_get(r, "weights_version")));
    }
    const char *ch = json_string_value(json_object_get(r, "challenge"));
    if (ch) bput_entry(&b, ch, seq);
    bput_state(&b, (long)json_integer_value(json_object_get(r, "step")),
               (long)json_integer_value(json_object_get(r, "next_interval_step")),
               (long)json_integer_value(json_object_get(r, "next_epoch_step")), seq);
    bputf(&b, "EXEC");
    redisReply *rp = bsend(&b);
    if (!rp) return -1;
    int done = rp->type == REDIS_REPLY_ARRAY, refused = rp->type == REDIS_REPLY_ERROR;
    if (refused) LOG(LOG_ERROR, "redis refused a transaction: %s", rp->str);
    freeReplyObject(rp);
    if (refused) return -1;
    if (done) {
      if (seq > s->redis_seq) s->redis_seq = seq;
      return 0;
    }
    /* nil: the state changed under the WATCH (another writer); read it again */
  }
  return -1;
}

/* ---- writing the whole state back ---- */

typedef struct restore {
  kept_entry *e;
  int n, cap;
  uint64_t after, before; /* journal entries wanted: after < seq < before */
} restore;

static int restore_add(restore *r, uint64_t seq, const char *json)
{
  if (r->n == r->cap) {
    int cap = r->cap ? 2 * r->cap : 64;
    kept_entry *e = (kept_entry *)realloc(r->e, sizeof *e * (size_t)cap);
    if (!e) return -1;
    r->e = e, r->cap = cap;
  }
  r->e[r->n++] = (kept_entry){seq, (char *)json};
  return 0;
}

static int from_journal(void *ctx, json_t *rec)
{
  restore *r = (restore *)ctx;
  uint64_t seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
  const char *ch = json_string_value(json_object_get(rec, "challenge"));
  char *copy = ch && seq > r->after && seq < r->before ? strdup(ch) : NULL;
  if (copy && restore_add(r, seq, copy) != 0) free(copy);
  return 0;
}

static int by_seq(const void *x, const void *y)
{
  uint64_t a = ((const kept_entry *)x)->seq, b = ((const kept_entry *)y)->seq;
  return (a > b) - (a < b);
}

/* The sequence number of the newest challenge log entry in Redis: 0 when there is none, `fallback` when
 * it has none (written before entries had one) or a damaged one. */
static int newest_logged(store *s, uint64_t fallback, uint64_t *seq)
{
  char k[256];
  store_key(s, k, sizeof k, "challenges", NULL);
  redisReply *r = store_cmdf(s, "XREVRANGE %s + - COUNT 1", k);
  if (!r) return -1;
  *seq = 0;
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
      r->element[0]->elements == 2) {
    const redisReply *f = r->element[0]->element[1];
    *seq = fallback;
    for (size_t i = 0; f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2)
      if (f->element[i]->type == REDIS_REPLY_STRING && strcmp(f->element[i]->str, "seq") == 0 &&
          (f->element[i + 1]->type != REDIS_REPLY_STRING || parse_u64(f->element[i + 1]->str, seq) != 0)) {
        s->n.bad_log++, *seq = fallback;
        LOG(LOG_ERROR,
            "redis: the newest challenge log entry has a damaged seq: entries are written back from record %llu on",
            (unsigned long long)fallback + 1);
      }
  }
  freeReplyObject(r);
  return 0;
}

int store_scan_stats(store *s, int (*fn)(void *ctx, const char *key), void *ctx)
{
  char pattern[300], cursor[32] = "0";
  snprintf(pattern, sizeof pattern, "%sstats:*", s->prefix);
  do {
    redisReply *r = store_cmdf(s, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY)
      return freeReplyObject(r), -1;
    snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
    int stop = 0;
    for (size_t i = 0; !stop && i < r->element[1]->elements; i++)
      if (r->element[1]->element[i]->type == REDIS_REPLY_STRING) stop = fn(ctx, r->element[1]->element[i]->str);
    freeReplyObject(r);
    if (stop) return -1;
  } while (strcmp(cursor, "0") != 0);
  return 0;
}

typedef struct stale_keys {
  const store *s;
  const vstate *st;
  char **key;
  int n, cap;
} stale_keys;

/* A stats key of a prover the state no longer has (Redis came back from an older state). */
static int note_stale(void *ctx, const char *key)
{
  stale_keys *k = (stale_keys *)ctx;
  if (vstate_find(k->st, key + strlen(k->s->prefix) + 6) >= 0) return 0;
  if (k->n == k->cap) {
    int cap = k->cap ? 2 * k->cap : 16;
    char **more = (char **)realloc(k->key, sizeof *more * (size_t)cap);
    if (!more) return -1;
    k->key = more, k->cap = cap;
  }
  return (k->key[k->n] = strdup(key)) ? (k->n++, 0) : -1;
}

/* Writes the whole state (every prover, the scores, the weights, the step, this identity) over what Redis
 * holds, with the challenge log entries it lacks (from memory and the journal), in one transaction;
 * then the journal and what waited in memory are superseded. Refused (-3) over another's state. */
static int write_back(store *s, const vstate *st)
{
  char k[256], why[320];
  uint64_t applied, logged;
  json_t *snap = snapshot(s, st);
  if (!snap) return -1;
  int rc = -1;
  for (int attempt = 0; attempt < 5 && rc == -1 && s->c; attempt++) {
    restore r = {NULL, 0, 0, 0, 0};
    stale_keys stale = {s, st, NULL, 0, 0};
    int failed = store_scan_stats(s, note_stale, &stale) != 0;
    identity id = failed ? ID_DAMAGED : watch_state(s, &applied, why, sizeof why, &failed);
    failed = failed || newest_logged(s, id == ID_MINE ? applied : 0, &logged) != 0;
    if (!failed && id == ID_FOREIGN) {
      freeReplyObject(store_cmdf(s, "UNWATCH"));
      set_foreign(s, why);
      rc = -3;
    }
    if (failed || rc != -1) {
      for (int i = 0; i < stale.n; i++) free(stale.key[i]);
      free(stale.key);
      break;
    }
    uint64_t oldest = st->seq + 1;
    for (int i = 0; i < s->nkept; i++) {
      const kept_entry *e = &s->kept[(s->kept_at - s->nkept + i + LOG_KEEP) % LOG_KEEP];
      if (e->seq < oldest) oldest = e->seq;
      if (e->seq > logged) restore_add(&r, e->seq, e->json);
    }
    r.after = logged, r.before = oldest;
    if (oldest > logged + 1) journal_each(&s->j, from_journal, &r);
    qsort(r.e, (size_t)r.n, sizeof *r.e, by_seq);
    batch b = {s, 0, 0};
    bputf(&b, "MULTI");
    for (int i = 0; i < stale.n; i++) bputf(&b, "DEL %s", stale.key[i]);
    const char *names[] = {"scores", "weights"};
    for (int i = 0; i < 2; i++) store_key(s, k, sizeof k, names[i], NULL), bputf(&b, "DEL %s", k);
    const char *hk;
    json_t *val;
    json_object_foreach(json_object_get(snap, "stats"), hk, val) store_key(s, k, sizeof k, "stats", hk),
        bput_hset_json(&b, k, val);
    store_key(s, k, sizeof k, "scores", NULL);
    bput_hset_json(&b, k, json_object_get(snap, "scores"));
    if (st->weights_version) {
      store_key(s, k, sizeof k, "weights", NULL);
      bput_hset_json(&b, k, json_object_get(snap, "weights"));
      bputf(&b, "HSET %s version %llu", k, (unsigned long long)st->weights_version);
    }
    for (int i = 0; i < r.n; i++) bput_entry(&b, r.e[i].json, r.e[i].seq);
    bput_state(&b, st->step, st->next_interval_step, st->next_epoch_step, st->seq);
    bputf(&b, "EXEC");
    redisReply *rp = bsend(&b);
    if (!rp) failed = 1;
    if (rp && rp->type == REDIS_REPLY_ARRAY) {
      rc = 0;
      s->redis_seq = st->seq, s->n.write_backs++, s->n.write_back_entries += (uint64_t)r.n;
      LOG(LOG_INFO,
          "redis: the whole state written back (record %llu, step %ld, %d provers) with the %d challenge log entries it lacked%s",
          (unsigned long long)st->seq, st->step, st->n, r.n,
          oldest > logged + 1 && s->nkept == LOG_KEEP
              ? "; entries older than the newest kept in memory and not journaled stay lost"
              : "");
    } else if (rp && rp->type == REDIS_REPLY_ERROR) {
      LOG(LOG_ERROR, "redis refused the write-back: %s", rp->str);
      failed = 1;
    }
    freeReplyObject(rp);
    for (int i = 0; i < r.n; i++) /* the journal's copies; the kept ones stay kept */
      if (r.e[i].seq < oldest) free(r.e[i].json);
    free(r.e);
    for (int i = 0; i < stale.n; i++) free(stale.key[i]);
    free(stale.key);
    if (failed) break; /* a nil EXEC (the state changed under the WATCH) tries again */
  }
  json_decref(snap);
  if (rc == 0) {
    journal_clear(&s->j);
    for (int i = 0; i < s->nwait; i++) json_decref(s->wait[i]);
    s->nwait = 0;
  }
  return rc;
}

/* ---- reconnecting ---- */

static int replay_one(void *ctx, json_t *r)
{
  store *s = (store *)ctx;
  int rc = store_apply(s, r);
  if (rc == 0) s->n.replayed++;
  return rc;
}

/* Brings a freshly connected Redis up to date: the whole state if it lost what it had acknowledged (or
 * holds none), else the journal's records in order. -3 if it holds another's state. */
static int catch_up(store *s, const vstate *st)
{
  char why[320];
  uint64_t applied;
  int failed;
  identity id = watch_state(s, &applied, why, sizeof why, &failed);
  if (failed) return -1;
  freeReplyObject(store_cmdf(s, "UNWATCH"));
  if (id == ID_FOREIGN) return set_foreign(s, why), -3;
  s->foreign = 0;
  int rc = 0, records = s->j.records;
  if (id != ID_MINE || applied < s->redis_seq) {
    if (id == ID_MINE)
      snprintf(why, sizeof why, "holds record %llu, it had acknowledged %llu", (unsigned long long)applied,
               (unsigned long long)s->redis_seq);
    LOG(LOG_ERROR, "redis lost data (it %s): writing the whole state back", why);
    rc = -2;
  } else if (records) {
    rc = journal_each(&s->j, replay_one, s);
    if (rc == 0 && journal_clear(&s->j) == 0) LOG(LOG_INFO, "journal: %d records replayed into redis", records);
  }
  return rc == -2 ? write_back(s, st) : rc;
}

static int try_reconnect(store *s, const vstate *st)
{
  if (s->c) return 0;
  double t = now_s();
  if (t < s->next_try) return -1;
  if (store_connect(s) == 0 && catch_up(s, st) == 0) {
    LOG(LOG_INFO, "redis %s:%d is back", s->host, s->o.port);
    s->backoff = 0.5;
    return 0;
  }
  store_drop(s);
  s->next_try = t + s->backoff;
  s->backoff = s->backoff * 2 > 30 ? 30 : s->backoff * 2;
  return -1;
}

/* ---- committing ---- */

static void keep_entry(store *s, uint64_t seq, const char *json)
{
  char *copy = strdup(json);
  if (!copy) return;
  kept_entry *e = &s->kept[s->kept_at];
  free(e->json);
  e->seq = seq, e->json = copy;
  s->kept_at = (s->kept_at + 1) % LOG_KEEP;
  if (s->nkept < LOG_KEEP) s->nkept++;
}

static void pop_wait(store *s)
{
  json_decref(s->wait[0]);
  memmove(s->wait, s->wait + 1, sizeof *s->wait * (size_t)--s->nwait);
}

int store_flush(store *s, vstate *st)
{
  if ((s->c || try_reconnect(s, st) == 0) && (!s->j.records || catch_up(s, st) == 0))
    while (s->nwait) {
      int rc = store_apply(s, s->wait[0]);
      if (rc == -2) rc = write_back(s, st); /* which supersedes everything waiting */
      if (rc != 0) break;
      if (s->nwait) pop_wait(s);
    }
  while (s->nwait) {
    char *line = json_dumps(s->wait[0], JSON_COMPACT);
    int rc = line ? journal_append(&s->j, line) : -1;
    free(line);
    if (rc != 0) break;
    s->n.journaled++;
    pop_wait(s);
  }
  s->n.waiting = (uint64_t)s->nwait;
  return s->nwait ? -1 : 0;
}

int store_commit(store *s, vstate *st, const update *u)
{
  st->seq++;
  s->n.records++;
  if (u->challenge_json) keep_entry(s, st->seq, u->challenge_json);
  json_t *r = make_record(s, st, u);
  if (s->nwait == s->capwait) {
    int cap = s->capwait ? 2 * s->capwait : 8;
    json_t **w = (json_t **)realloc(s->wait, sizeof *w * (size_t)cap);
    if (w) s->wait = w, s->capwait = cap;
  }
  if (!r || s->nwait == s->capwait) {
    LOG(LOG_ERROR, "record %llu: out of memory: it is lost unless a later write-back carries it",
        (unsigned long long)st->seq);
    json_decref(r);
    return -1;
  }
  s->wait[s->nwait++] = r;
  return store_flush(s, st);
}

store_health store_get_health(const store *s, char *why, size_t n)
{
  why[0] = '\0';
  if (s->nwait) {
    snprintf(why, n, "%d record(s) wait in memory: %s, and the journal cannot be written (%s)", s->nwait,
             s->foreign ? s->foreign_why : "redis is unreachable", s->j.error[0] ? s->j.error : "failed");
    return STORE_DOWN;
  }
  if (s->foreign) return snprintf(why, n, "%s: records go to the journal", s->foreign_why), STORE_FOREIGN;
  if (!s->c || s->j.records) return snprintf(why, n, "redis unreachable: journaling"), STORE_JOURNALING;
  return STORE_OK;
}

store_counters store_get_counters(const store *s)
{
  store_counters c = s->n;
  c.journal_unreadable = s->j.unreadable, c.journal_torn_writes = s->j.torn_writes, c.waiting = (uint64_t)s->nwait;
  return c;
}

void store_close(store *s)
{
  if (!s) return;
  store_drop(s);
  for (int i = 0; i < s->nwait; i++) json_decref(s->wait[i]);
  free(s->wait);
  for (int i = 0; i < LOG_KEEP; i++) free(s->kept[i].json);
  free(s);
}
