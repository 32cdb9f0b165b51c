/* Redis persistence with a journal (see store.h). */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "log.h"
#include "store.h"

#define STORE_SCHEMA 1

struct store {
  store_opts o;
  char host[256], password[256], prefix[64], journal[1024];
  redisContext *c;
  int journal_lines;  /* records waiting in the journal */
  uint64_t redis_seq; /* the newest record Redis is known to hold */
  double next_try, backoff;
  store_counters n;
};

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- vstate ---- */

int vstate_find(const vstate *st, const char *hotkey)
{
  for (int i = 0; i < st->n; i++)
    if (strcmp(st->hotkey[i], hotkey) == 0) return i;
  return -1;
}

int vstate_add(vstate *st, const char *hotkey)
{
  int i = vstate_find(st, hotkey);
  if (i >= 0) return i;
  if (st->n == st->cap) {
    int cap = st->cap ? 2 * st->cap : 16;
    void *h = realloc(st->hotkey, sizeof *st->hotkey * (size_t)cap), *s = realloc(st->stats, sizeof *st->stats * (size_t)cap);
    if (h) st->hotkey = h;
    if (s) st->stats = s;
    if (!h || !s) return -1;
    st->cap = cap;
  }
  snprintf(st->hotkey[st->n], sizeof st->hotkey[st->n], "%s", hotkey);
  stats_init(&st->stats[st->n]);
  return st->n++;
}

void vstate_remove(vstate *st, int i)
{
  memmove(st->hotkey + i, st->hotkey + i + 1, sizeof *st->hotkey * (size_t)(st->n - i - 1));
  memmove(st->stats + i, st->stats + i + 1, sizeof *st->stats * (size_t)(st->n - i - 1));
  st->n--;
}

void vstate_free(vstate *st)
{
  free(st->hotkey);
  free(st->stats);
  memset(st, 0, sizeof *st);
}

/* ---- records ---- */

static const char *const long_fields[] = {"challenge_attempts", "challenge_successes", "inference_attempts",
                                          "inference_successes", "total_successes", "interval_successes",
                                          "request_limit", "last_epoch_step"};

static long *long_field(prover_stats *s, int i)
{
  long *f[] = {&s->challenge_attempts, &s->challenge_successes, &s->inference_attempts, &s->inference_successes,
               &s->total_successes,    &s->interval_successes,  &s->request_limit,      &s->last_epoch_step};
  return f[i];
}

static json_t *stats_json(const prover_stats *s)
{
  json_t *o = json_object();
  for (int i = 0; i < 8; i++) json_object_set_new(o, long_fields[i], json_integer(*long_field((prover_stats *)s, i)));
  json_object_set_new(o, "tier", json_string(tiers[s->tier].name));
  json_object_set_new(o, "latency_ewma_ms", json_real(s->latency_ewma_ms));
  return o;
}

/* A record of the change u; with u NULL, a snapshot of the whole state (every prover and the weights). */
static json_t *make_record(const vstate *st, const update *u)
{
  update all = {0};
  if (!u) {
    int *idx = (int *)malloc(sizeof(int) * (size_t)(st->n ? st->n : 1));
    if (!idx) return NULL;
    for (int i = 0; i < st->n; i++) idx[i] = i;
    all.changed = idx, all.nchanged = st->n, all.with_weights = 1;
    json_t *r = make_record(st, &all);
    free(idx);
    return r;
  }
  json_t *r = json_object(), *stats = json_object(), *scores = json_object(), *removed = json_array();
  json_object_set_new(r, "seq", json_integer((json_int_t)st->seq));
  json_object_set_new(r, "step", json_integer(st->step));
  json_object_set_new(r, "next_interval_step", json_integer(st->next_interval_step));
  json_object_set_new(r, "next_epoch_step", json_integer(st->next_epoch_step));
  for (int k = 0; k < u->nchanged; k++)
    json_object_set_new(stats, st->hotkey[u->changed[k]], stats_json(&st->stats[u->changed[k]]));
  for (int i = 0; i < st->n; i++) json_object_set_new(scores, st->hotkey[i], json_real(st->stats[i].score));
  for (int k = 0; k < u->nremoved; k++) json_array_append_new(removed, json_string(u->removed[k]));
  json_object_set_new(r, "stats", stats);
  json_object_set_new(r, "scores", scores);
  json_object_set_new(r, "removed", removed);
  if (u->with_weights) {
    json_t *w = json_object();
    for (int i = 0; i < st->n; i++) json_object_set_new(w, st->hotkey[i], json_real(st->stats[i].weight));
    json_object_set_new(r, "weights", w);
    json_object_set_new(r, "weights_version", json_integer((json_int_t)st->weights_version));
  }
  if (u->challenge_json) json_object_set_new(r, "challenge", json_string(u->challenge_json));
  return r;
}

/* Applies a record's absolute values to the in-memory state (journal replay at start). */
static void record_to_state(json_t *r, vstate *st)
{
  const char *hk;
  json_t *v;
  st->seq = (uint64_t)json_integer_value(json_object_get(r, "seq"));
  st->step = (long)json_integer_value(json_object_get(r, "step"));
  st->next_interval_step = (long)json_integer_value(json_object_get(r, "next_interval_step"));
  st->next_epoch_step = (long)json_integer_value(json_object_get(r, "next_epoch_step"));
  json_object_foreach(json_object_get(r, "stats"), hk, v)
  {
    int i = vstate_add(st, hk);
    if (i < 0) continue;
    for (int f = 0; f < 8; f++) *long_field(&st->stats[i], f) = (long)json_integer_value(json_object_get(v, long_fields[f]));
    int t = tier_by_name(json_string_value(json_object_get(v, "tier")) ? json_string_value(json_object_get(v, "tier")) : "");
    st->stats[i].tier = t < 0 ? 0 : t;
    st->stats[i].latency_ewma_ms = json_number_value(json_object_get(v, "latency_ewma_ms"));
  }
  json_object_foreach(json_object_get(r, "scores"), hk, v)
  {
    int i = vstate_add(st, hk);
    if (i >= 0) st->stats[i].score = json_number_value(v);
  }
  size_t k;
  json_array_foreach(json_object_get(r, "removed"), k, v)
  {
    int i = vstate_find(st, json_string_value(v) ? json_string_value(v) : "");
    if (i >= 0) vstate_remove(st, i);
  }
  json_object_foreach(json_object_get(r, "weights"), hk, v)
  {
    int i = vstate_find(st, hk);
    if (i >= 0) st->stats[i].weight = json_number_value(v);
  }
  if (json_object_get(r, "weights_version")) st->weights_version = (uint64_t)json_integer_value(json_object_get(r, "weights_version"));
}

/* ---- Redis ---- */

static void drop(store *s)
{
  if (s->c) redisFree(s->c);
  s->c = NULL;
}

/* A command from printf-style words separated by spaces (no spaces inside words). */
static redisReply *cmdf(store *s, const char *fmt, ...)
{
  if (!s->c) return NULL;
  s->n.commands++, s->n.round_trips++;
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = (redisReply *)redisvCommand(s->c, fmt, ap);
  va_end(ap);
  if (!r) {
    LOG(LOG_WARN, "redis: %s", s->c->errstr[0] ? s->c->errstr : "connection lost");
    drop(s);
  }
  return r;
}

static int connect_redis(store *s)
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
    redisReply *r = cmdf(s, "AUTH %s", s->password);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r && !ok) LOG(LOG_ERROR, "redis AUTH failed: %s", r->str);
    freeReplyObject(r);
    if (!ok) return drop(s), -1;
  }
  redisReply *r = cmdf(s, "PING");
  int ok = r && r->type != REDIS_REPLY_ERROR;
  if (r && !ok) LOG(LOG_ERROR, "redis: %s", r->str); /* e.g. NOAUTH: the server wants a password */
  freeReplyObject(r);
  if (!ok) return drop(s), -1;
  s->n.reconnects++;
  return 0;
}

static void key(const store *s, char *buf, size_t n, const char *name, const char *hotkey)
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
  char (*num)[32] = (char (*)[32])malloc(sizeof *num * count);
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

/* Sends the batch and reads every reply; returns the last one (the caller frees) or NULL if the
 * connection failed (then it is dropped). */
static redisReply *bsend(batch *b)
{
  redisReply *last = NULL;
  if (b->failed || !b->s->c) return drop(b->s), NULL;
  b->s->n.round_trips++;
  for (int i = 0; i < b->n; i++) {
    void *r = NULL;
    if (redisGetReply(b->s->c, &r) != REDIS_OK || !r) {
      LOG(LOG_WARN, "redis: %s", b->s->c->errstr[0] ? b->s->c->errstr : "connection lost");
      freeReplyObject(last);
      drop(b->s);
      return NULL;
    }
    freeReplyObject(last);
    last = (redisReply *)r;
  }
  return last;
}

/* One record in one optimistic transaction: WATCH the state and read its applied sequence (one round
 * trip), then MULTI, the writes, the new applied sequence, EXEC (a second). 0 applied (or already
 * applied before; `force` applies it anyway), -1 Redis failed, -2 Redis holds less than it had
 * acknowledged (the caller writes the whole state back). */
static int apply_record(store *s, json_t *r, int force)
{
  char k[256];
  uint64_t seq = (uint64_t)json_integer_value(json_object_get(r, "seq"));
  for (int attempt = 0; attempt < 5; attempt++) {
    batch b = {s, 0, 0};
    key(s, k, sizeof k, "state", NULL);
    bputf(&b, "WATCH %s", k);
    bputf(&b, "HGET %s applied_seq", k);
    redisReply *rp = bsend(&b);
    if (!rp) return -1;
    uint64_t applied = rp->type == REDIS_REPLY_STRING ? strtoull(rp->str, NULL, 10) : 0;
    freeReplyObject(rp);
    if (applied < s->redis_seq && !force) { /* Redis lost records it had acknowledged */
      freeReplyObject(cmdf(s, "UNWATCH"));
      LOG(LOG_ERROR, "redis lost data (it holds record %llu, it had acknowledged %llu): writing the whole state back",
          (unsigned long long)applied, (unsigned long long)s->redis_seq);
      s->redis_seq = applied;
      return s->c ? -2 : -1;
    }
    if (applied >= seq && !force) {
      freeReplyObject(cmdf(s, "UNWATCH"));
      if (s->c && applied > s->redis_seq) s->redis_seq = applied;
      return s->c ? 0 : -1;
    }
    b = (batch){s, 0, 0};
    bputf(&b, "MULTI");
    const char *hk;
    json_t *val;
    json_object_foreach(json_object_get(r, "stats"), hk, val)
    {
      key(s, k, sizeof k, "stats", hk);
      bput_hset_json(&b, k, val);
    }
    size_t i;
    json_array_foreach(json_object_get(r, "removed"), i, val)
    {
      const char *h = json_string_value(val);
      key(s, k, sizeof k, "stats", h);
      bputf(&b, "DEL %s", k);
      key(s, k, sizeof k, "scores", NULL);
      bputf(&b, "HDEL %s %s", k, h);
    }
    key(s, k, sizeof k, "scores", NULL);
    bput_hset_json(&b, k, json_object_get(r, "scores"));
    json_t *w = json_object_get(r, "weights");
    if (w) {
      key(s, k, sizeof k, "weights", NULL);
      bputf(&b, "DEL %s", k);
      bput_hset_json(&b, k, w);
      bputf(&b, "HSET %s version %lld", k, (long long)json_integer_value(json_object_get(r, "weights_version")));
    }
    const char *ch = json_string_value(json_object_get(r, "challenge"));
    if (ch) {
      key(s, k, sizeof k, "challenges", NULL);
      char maxlen[32];
      snprintf(maxlen, sizeof maxlen, "%d", s->o.stream_maxlen);
      const char *argv[] = {"XADD", k, "MAXLEN", "~", maxlen, "*", "data", ch};
      size_t lens[] = {4, strlen(k), 6, 1, strlen(maxlen), 1, 4, strlen(ch)};
      bput(&b, 8, argv, lens);
    }
    key(s, k, sizeof k, "state", NULL);
    bputf(&b, "HSET %s step %lld next_interval_step %lld next_epoch_step %lld schema %d applied_seq %llu", k,
          (long long)json_integer_value(json_object_get(r, "step")),
          (long long)json_integer_value(json_object_get(r, "next_interval_step")),
          (long long)json_integer_value(json_object_get(r, "next_epoch_step")), STORE_SCHEMA, (unsigned long long)seq);
    bputf(&b, "EXEC");
    rp = bsend(&b);
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

/* ---- the journal ---- */

static int journal_append(store *s, json_t *r)
{
  char *line = json_dumps(r, JSON_COMPACT);
  if (!line) return -1;
  int fd = open(s->journal, O_WRONLY | O_CREAT | O_APPEND, 0600);
  size_t len = strlen(line);
  int ok = fd >= 0 && write(fd, line, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
  if (fd >= 0) close(fd);
  free(line);
  if (!ok) {
    LOG(LOG_ERROR, "journal %s: %s", s->journal, strerror(errno));
    return -1;
  }
  s->journal_lines++;
  s->n.journaled++;
  return 0;
}

/* Applies every complete journal record in order (to Redis, and to st when given); empties the journal
 * when all are in. A torn last line (a crash mid-write) is ignored. */
static int journal_replay(store *s, vstate *st)
{
  FILE *f = fopen(s->journal, "r");
  if (!f) return errno == ENOENT ? (s->journal_lines = 0, 0) : -1;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int rc = 0, count = 0;
  while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] != '\n') break; /* torn */
    json_t *r = json_loads(line, 0, NULL);
    if (!r) continue;
    if (st && (uint64_t)json_integer_value(json_object_get(r, "seq")) > st->seq) record_to_state(r, st);
    rc = apply_record(s, r, 0);
    if (rc == 0) count++, s->n.replayed++;
    json_decref(r);
  }
  free(line);
  fclose(f);
  if (rc != 0) return -1;
  int fd = open(s->journal, O_WRONLY | O_TRUNC);
  if (fd >= 0) fsync(fd), close(fd);
  if (count) LOG(LOG_INFO, "journal: %d records replayed into redis", count);
  s->journal_lines = 0;
  return 0;
}

/* Writes the whole state (every prover, the weights, the step) over whatever Redis holds, labelled as
 * the record before the one being committed, which then applies as usual. */
static int write_back(store *s, const vstate *st)
{
  json_t *snap = make_record(st, NULL);
  if (!snap) return -1;
  json_object_set_new(snap, "seq", json_integer((json_int_t)(st->seq - 1)));
  int rc = apply_record(s, snap, 1);
  json_decref(snap);
  return rc;
}

/* Reconnects (with backoff) and brings Redis up to date: the journal in order, and, if Redis lost
 * records it had acknowledged (restarted without persistence, flushed), a snapshot of the whole state. */
static int try_reconnect(store *s, const vstate *st)
{
  if (s->c) return 0;
  double t = now_s();
  if (t < s->next_try) return -1;
  int ok = connect_redis(s) == 0;
  if (ok) {
    redisReply *r = cmdf(s, "HGET %sstate applied_seq", s->prefix);
    uint64_t applied = r && r->type == REDIS_REPLY_STRING ? strtoull(r->str, NULL, 10) : 0;
    ok = r != NULL;
    freeReplyObject(r);
    int lost = ok && applied < s->redis_seq;
    if (lost) {
      LOG(LOG_ERROR, "redis lost data (it holds record %llu, it had acknowledged %llu): writing the whole state back",
          (unsigned long long)applied, (unsigned long long)s->redis_seq);
      s->redis_seq = applied;
    }
    ok = ok && journal_replay(s, NULL) == 0 && (!lost || write_back(s, st) == 0);
  }
  if (ok) {
    LOG(LOG_INFO, "redis %s:%d is back", s->host, s->o.port);
    s->backoff = 0.5;
    return 0;
  }
  drop(s);
  s->next_try = t + s->backoff;
  s->backoff = s->backoff * 2 > 30 ? 30 : s->backoff * 2;
  return -1;
}

/* ---- loading ---- */

static int load_state(store *s, vstate *st)
{
  char k[256];
  key(s, k, sizeof k, "state", NULL);
  redisReply *r = cmdf(s, "HGETALL %s", k);
  if (!r) return -1;
  for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
    const char *f = r->element[i]->str, *v = r->element[i + 1]->str;
    if (strcmp(f, "step") == 0) st->step = atol(v);
    else if (strcmp(f, "next_interval_step") == 0) st->next_interval_step = atol(v);
    else if (strcmp(f, "next_epoch_step") == 0) st->next_epoch_step = atol(v);
    else if (strcmp(f, "applied_seq") == 0) st->seq = strtoull(v, NULL, 10);
  }
  freeReplyObject(r);
  char pattern[300], cursor[32] = "0";
  snprintf(pattern, sizeof pattern, "%sstats:*", s->prefix);
  do { /* every prover's stats */
    r = cmdf(s, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return freeReplyObject(r), -1;
    snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
    for (size_t i = 0; i < r->element[1]->elements; i++) {
      const char *full = r->element[1]->element[i]->str, *hk = full + strlen(s->prefix) + 6;
      int idx = vstate_add(st, hk);
      redisReply *h = cmdf(s, "HGETALL %s", full);
      if (!h || idx < 0) return freeReplyObject(h), freeReplyObject(r), -1;
      prover_stats *ps = &st->stats[idx];
      for (size_t j = 0; h->type == REDIS_REPLY_ARRAY && j + 1 < h->elements; j += 2) {
        const char *f = h->element[j]->str, *v = h->element[j + 1]->str;
        for (int x = 0; x < 8; x++)
          if (strcmp(f, long_fields[x]) == 0) *long_field(ps, x) = atol(v);
        if (strcmp(f, "tier") == 0) ps->tier = tier_by_name(v) < 0 ? 0 : tier_by_name(v);
        if (strcmp(f, "latency_ewma_ms") == 0) ps->latency_ewma_ms = atof(v);
      }
      freeReplyObject(h);
    }
    freeReplyObject(r);
  } while (strcmp(cursor, "0") != 0);
  key(s, k, sizeof k, "scores", NULL);
  r = cmdf(s, "HGETALL %s", k);
  if (!r) return -1;
  for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
    int idx = vstate_find(st, r->element[i]->str);
    if (idx >= 0) st->stats[idx].score = atof(r->element[i + 1]->str);
  }
  freeReplyObject(r);
  key(s, k, sizeof k, "weights", NULL);
  r = cmdf(s, "HGETALL %s", k);
  if (!r) return -1;
  for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
    int idx = vstate_find(st, r->element[i]->str);
    if (idx >= 0) st->stats[idx].weight = atof(r->element[i + 1]->str);
    else if (strcmp(r->element[i]->str, "version") == 0) st->weights_version = strtoull(r->element[i + 1]->str, NULL, 10);
  }
  freeReplyObject(r);
  s->redis_seq = st->seq;
  return s->c ? 0 : -1;
}

store *store_open(const store_opts *o, double give_up_s, vstate *st, char *err, size_t errn)
{
  if (!o->password[0] && !o->insecure_no_password) {
    snprintf(err, errn, "redis_password is required (or redis_insecure_no_password, for a private socket)");
    return NULL;
  }
  store *s = (store *)calloc(1, sizeof *s);
  if (!s) return snprintf(err, errn, "out of memory"), NULL;
  s->o = *o;
  snprintf(s->host, sizeof s->host, "%s", o->host);
  snprintf(s->password, sizeof s->password, "%s", o->password);
  snprintf(s->prefix, sizeof s->prefix, "%s", o->prefix);
  snprintf(s->journal, sizeof s->journal, "%s", o->journal_path);
  s->backoff = 0.5;
  s->o.host = s->host, s->o.password = s->password, s->o.prefix = s->prefix, s->o.journal_path = s->journal;
  double deadline = now_s() + give_up_s, wait = 0.25;
  while (connect_redis(s) != 0) {
    if (now_s() > deadline) {
      snprintf(err, errn, "redis %s:%d does not answer (or refuses the password)", s->host, o->port);
      free(s);
      return NULL;
    }
    LOG(LOG_WARN, "waiting for redis %s:%d", s->host, o->port);
    struct timespec ts = {(time_t)wait, (long)((wait - (long)wait) * 1e9)};
    nanosleep(&ts, NULL);
    wait = wait * 2 > 5 ? 5 : wait * 2;
  }
  memset(st, 0, sizeof *st);
  if (load_state(s, st) != 0 || journal_replay(s, st) != 0) {
    snprintf(err, errn, "redis: loading the state failed");
    drop(s);
    free(s);
    vstate_free(st);
    return NULL;
  }
  LOG(LOG_INFO, "state: step %ld, %d provers, record %llu", st->step, st->n, (unsigned long long)st->seq);
  return s;
}

void store_close(store *s)
{
  if (!s) return;
  drop(s);
  free(s);
}

int store_commit(store *s, vstate *st, const update *u)
{
  st->seq++;
  json_t *r = make_record(st, u);
  if (!r) return -1;
  s->n.records++;
  int rc = -1;
  if ((s->c || try_reconnect(s, st) == 0) && s->journal_lines == 0) {
    rc = apply_record(s, r, 0);
    if (rc == -2) rc = write_back(s, st) == 0 ? apply_record(s, r, 0) : -1;
  }
  if (rc != 0) rc = journal_append(s, r);
  json_decref(r);
  return rc;
}

int store_recent_entries(store *s, int max, void (*fn)(void *ctx, const char *json), void *ctx)
{
  redisReply *r = cmdf(s, "XREVRANGE %schallenges + - COUNT %d", s->prefix, max);
  if (!r || r->type != REDIS_REPLY_ARRAY) return freeReplyObject(r), -1;
  int count = 0;
  for (size_t i = r->elements; i-- > 0;) {
    redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->type != REDIS_REPLY_ARRAY) continue;
    redisReply *f = e->element[1];
    for (size_t k = 0; k + 1 < f->elements; k += 2)
      if (f->element[k]->type == REDIS_REPLY_STRING && strcmp(f->element[k]->str, "data") == 0 &&
          f->element[k + 1]->type == REDIS_REPLY_STRING)
        fn(ctx, f->element[k + 1]->str), count++;
  }
  freeReplyObject(r);
  return count;
}

int store_healthy(const store *s) { return s->c && s->journal_lines == 0; }
store_counters store_get_counters(const store *s) { return s->n; }
