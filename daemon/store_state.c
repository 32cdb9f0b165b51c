/* The verifier's state: in memory (vstate), as records (absolute values of one change), and as loaded at
 * start, where everything read from Redis is checked (invalid entries are skipped, logged and counted,
 * a damaged step counter stops the start) and the state and the journal must belong to this verifier and
 * one epoch. Also reads the challenge log back for the dashboard. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "fractal/auth.h"
#include "log.h"
#include "store_impl.h"

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
    void *h = realloc(st->hotkey, sizeof *st->hotkey * (size_t)cap),
         *s = realloc(st->stats, sizeof *st->stats * (size_t)cap);
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

static const char *const long_fields[] = {"challenge_attempts",  "challenge_successes", "inference_attempts",
                                          "inference_successes", "total_successes",     "interval_successes",
                                          "request_limit",       "last_epoch_step"};

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

/* A record of the change u, marked with this state's owner and epoch. */
json_t *make_record(const store *s, const vstate *st, const update *u)
{
  json_t *r = json_object(), *stats = json_object(), *scores = json_object(), *removed = json_array();
  json_object_set_new(r, "verifier", json_string(s->verifier));
  json_object_set_new(r, "epoch", json_string(s->epoch));
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

void record_to_state(json_t *r, vstate *st)
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
    for (int f = 0; f < 8; f++)
      *long_field(&st->stats[i], f) = (long)json_integer_value(json_object_get(v, long_fields[f]));
    int t = tier_by_name(json_string_value(json_object_get(v, "tier")) ? json_string_value(json_object_get(v, "tier"))
                                                                       : "");
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
  if (json_object_get(r, "weights_version"))
    st->weights_version = (uint64_t)json_integer_value(json_object_get(r, "weights_version"));
}

/* The whole state as one record: every prover, the weights. */
json_t *snapshot(const store *s, const vstate *st)
{
  int *idx = (int *)malloc(sizeof(int) * (size_t)(st->n ? st->n : 1));
  if (!idx) return NULL;
  for (int i = 0; i < st->n; i++) idx[i] = i;
  update all = {idx, st->n, NULL, 0, 1, NULL};
  json_t *r = make_record(s, st, &all);
  free(idx);
  return r;
}

/* ---- strict reads ---- */

int parse_long(const char *v, long lo, long *out)
{
  if (!v) return -1;
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (errno || end == v || *end || x < lo) return -1;
  *out = x;
  return 0;
}

int parse_u64(const char *v, uint64_t *out)
{
  if (!v || *v < '0' || *v > '9') return -1;
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || *end) return -1;
  *out = (uint64_t)x;
  return 0;
}

static int parse_real(const char *v, double lo, double hi, double *out)
{
  if (!v) return -1;
  char *end;
  double x = strtod(v, &end);
  if (end == v || *end || !isfinite(x) || x < lo || x > hi) return -1;
  *out = x;
  return 0;
}

static const char *str_of(const redisReply *r) { return r && r->type == REDIS_REPLY_STRING ? r->str : NULL; }

static int is_epoch(const char *e) { return e && strlen(e) == EPOCH_HEX && strspn(e, "0123456789abcdef") == EPOCH_HEX; }

/* ---- loading ---- */

/* The state hash: the step counters, the applied sequence and the owner. *claimed when it has no owner
 * (new, or written before states had one): it becomes this verifier's, with a new epoch. */
static int load_state_hash(store *s, vstate *st, int *claimed, char *err, size_t errn)
{
  char k[256];
  store_key(s, k, sizeof k, "state", NULL);
  redisReply *r = store_cmdf(s, "HGETALL %s", k);
  if (!r) return snprintf(err, errn, "redis: reading %s failed", k), -1;
  const char *verifier = NULL, *epoch = NULL, *bad = NULL, *badv = "";
  for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements && !bad; i += 2) {
    const char *f = str_of(r->element[i]), *v = str_of(r->element[i + 1]);
    if (!f || !v) {
      bad = "(not a string)";
      break;
    }
    long *lf = !strcmp(f, "step")                 ? &st->step
               : !strcmp(f, "next_interval_step") ? &st->next_interval_step
               : !strcmp(f, "next_epoch_step")    ? &st->next_epoch_step
                                                  : NULL;
    if ((lf && parse_long(v, 0, lf) != 0) || (!strcmp(f, "applied_seq") && parse_u64(v, &st->seq) != 0))
      bad = f, badv = v;
    else if (!strcmp(f, "verifier")) verifier = v;
    else if (!strcmp(f, "epoch")) epoch = v;
  }
  int rc = -1;
  if (bad) {
    s->n.bad_state++;
    snprintf(
        err, errn,
        "redis: %s field %s is '%.40s', not a whole number: the step counter is damaged, so this verifier does not "
        "start (restore %s from a backup, or delete it to start from step 0)",
        k, bad, badv, k);
  } else if (verifier && fr_hotkey_valid(verifier) && strcmp(verifier, s->verifier) != 0) {
    snprintf(err, errn,
             "redis prefix '%s' holds the state of verifier %.16s... (epoch %.32s), not this verifier's (%.16s...): "
             "another verifier uses this prefix; give each verifier its own redis_prefix",
             s->prefix, verifier, epoch ? epoch : "?", s->verifier);
  } else if (verifier && (!fr_hotkey_valid(verifier) || !is_epoch(epoch))) {
    s->n.bad_state++;
    snprintf(err, errn,
             "redis: %s names no valid owner (verifier '%.64s', epoch '%.40s'): the state is damaged, so this verifier "
             "does not start (restore %s from a backup, or delete it to start from step 0)",
             k, verifier, epoch ? epoch : "", k);
  } else {
    rc = 0;
    *claimed = !verifier;
    if (verifier) snprintf(s->epoch, sizeof s->epoch, "%s", epoch);
    unsigned char b[EPOCH_HEX / 2];
    randombytes_buf(b, sizeof b);
    for (size_t i = 0; !verifier && i < sizeof b; i++) snprintf(s->epoch + 2 * i, 3, "%02x", b[i]);
  }
  freeReplyObject(r);
  return rc;
}

typedef struct loader {
  store *s;
  vstate *st;
  int count;
} loader;

/* One prover's stats hash; one that is not valid is skipped whole (the prover starts afresh). */
static int load_stats(void *ctx, const char *key)
{
  loader *l = (loader *)ctx;
  store *s = l->s;
  const char *hk = key + strlen(s->prefix) + 6;
  if (!fr_hotkey_valid(hk)) {
    s->n.bad_stats++;
    LOG(LOG_ERROR, "redis: %s is not a prover's stats key (no hotkey): skipped", key);
    return 0;
  }
  redisReply *h = store_cmdf(s, "HGETALL %s", key);
  if (!h) return 1;
  prover_stats ps;
  stats_init(&ps);
  const char *bad = NULL, *badv = "";
  for (size_t j = 0; h->type == REDIS_REPLY_ARRAY && j + 1 < h->elements && !bad; j += 2) {
    const char *f = str_of(h->element[j]), *v = str_of(h->element[j + 1]);
    if (!f || !v) {
      bad = "(not a string)";
      break;
    }
    for (int x = 0; x < 8; x++)
      if (!strcmp(f, long_fields[x]) && parse_long(v, 0, long_field(&ps, x)) != 0) bad = f, badv = v;
    if ((!strcmp(f, "tier") && (ps.tier = tier_by_name(v)) < 0) ||
        (!strcmp(f, "latency_ewma_ms") && parse_real(v, 0, 1e12, &ps.latency_ewma_ms) != 0))
      bad = f, badv = v;
  }
  if (bad) {
    s->n.bad_stats++;
    LOG(LOG_ERROR,
        "redis: %s field %.40s is '%.40s', not valid: these stats are skipped (the prover starts afresh at Bronze)",
        key, bad, badv);
  }
  freeReplyObject(h);
  if (bad) return 0;
  int idx = vstate_add(l->st, hk);
  if (idx < 0) return 1;
  l->st->stats[idx] = ps;
  return 0;
}

/* The scores (0..1e6) of the provers loaded, or the weights (0..1, and a version). */
static int load_numbers(store *s, vstate *st, const char *name)
{
  char k[256];
  store_key(s, k, sizeof k, name, NULL);
  redisReply *r = store_cmdf(s, "HGETALL %s", k);
  if (!r) return -1;
  int weights = strcmp(name, "weights") == 0;
  for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
    const char *f = str_of(r->element[i]), *v = str_of(r->element[i + 1]);
    double x;
    if (weights && f && strcmp(f, "version") == 0) {
      if (parse_u64(v, &st->weights_version) == 0) continue;
    } else if (f && fr_hotkey_valid(f) && parse_real(v, 0, weights ? 1 : 1e6, &x) == 0) {
      int idx = vstate_find(st, f);
      if (idx >= 0 && weights) st->stats[idx].weight = x;
      else if (idx >= 0) st->stats[idx].score = x;
      continue;
    }
    weights ? s->n.bad_weights++ : s->n.bad_scores++;
    LOG(LOG_ERROR, "redis: %s field '%.64s' is '%.40s', not valid: skipped", k, f ? f : "", v ? v : "");
  }
  freeReplyObject(r);
  return 0;
}

/* What the journal holds, checked before anything is replayed. */
typedef struct jcheck {
  const store *s;
  uint64_t applied, first, last, first_after;
  int mismatched;
  char epoch[48];
} jcheck;

static int check_record(void *ctx, json_t *r)
{
  jcheck *c = (jcheck *)ctx;
  const char *v = json_string_value(json_object_get(r, "verifier")),
             *e = json_string_value(json_object_get(r, "epoch"));
  uint64_t seq = (uint64_t)json_integer_value(json_object_get(r, "seq"));
  if (!c->first) c->first = seq;
  c->last = seq;
  if ((!v || !e || strcmp(v, c->s->verifier) != 0 || strcmp(e, c->s->epoch) != 0) && !c->mismatched++)
    snprintf(c->epoch, sizeof c->epoch, "%.32s%s", e ? e : "?",
             v && strcmp(v, c->s->verifier) != 0 ? " of another verifier" : "");
  if (seq > c->applied && !c->first_after) c->first_after = seq;
  return 0;
}

static int replay_start(void *ctx, json_t *r)
{
  loader *l = (loader *)ctx;
  if ((uint64_t)json_integer_value(json_object_get(r, "seq")) <= l->st->seq) return 0; /* in Redis already */
  record_to_state(r, l->st);
  int rc = store_apply(l->s, r);
  if (rc == 0) l->s->n.replayed++, l->count++;
  return rc;
}

static int open_state(store *s, vstate *st, char *err, size_t errn)
{
  int claimed = 0;
  if (load_state_hash(s, st, &claimed, err, errn) != 0) return -1;
  loader l = {s, st, 0};
  if (store_scan_stats(s, load_stats, &l) != 0 || load_numbers(s, st, "scores") != 0 ||
      load_numbers(s, st, "weights") != 0)
    return snprintf(err, errn, "redis: loading the provers' stats, scores and weights failed"), -1;
  s->redis_seq = st->seq;
  if (journal_open(&s->j, s->o.journal_path, err, errn) != 0) return -1;
  jcheck c = {s, st->seq, 0, 0, 0, 0, ""};
  if (s->j.records && journal_each(&s->j, check_record, &c) != 0)
    return snprintf(err, errn, "journal %s cannot be read", s->o.journal_path), -1;
  if (c.mismatched && claimed)
    return snprintf(
               err, errn,
               "redis holds no state of this verifier under '%s', but its journal %s holds %d records (%llu..%llu, epoch %s) "
               "that continue one: Redis lost that state. Restore Redis' data (its AOF or RDB), or move the journal away to start "
               "from what Redis holds",
               s->prefix, s->o.journal_path, s->j.records, (unsigned long long)c.first, (unsigned long long)c.last,
               c.epoch),
           -1;
  if (c.mismatched)
    return snprintf(
               err, errn,
               "the journal %s holds %d records (%llu..%llu) of epoch %s, but redis holds this verifier's state of "
               "epoch %s (step %ld, record %llu): they are of different timelines (Redis restored from another?). Nothing was "
               "changed: restore the Redis data the journal continues, or move the journal away to keep what Redis holds",
               s->o.journal_path, s->j.records, (unsigned long long)c.first, (unsigned long long)c.last, c.epoch,
               s->epoch, st->step, (unsigned long long)st->seq),
           -1;
  if (c.first_after && c.first_after != st->seq + 1)
    return snprintf(
               err, errn,
               "redis is behind the journal %s: it holds record %llu of epoch %s, the journal continues from record "
               "%llu, so Redis lost records it had acknowledged. Restore Redis' newest data, or move the journal away to keep what "
               "Redis holds",
               s->o.journal_path, (unsigned long long)st->seq, s->epoch, (unsigned long long)c.first_after),
           -1;
  if (claimed) {
    char k[256];
    store_key(s, k, sizeof k, "state", NULL);
    redisReply *r = store_cmdf(s, "HSET %s verifier %s epoch %s schema %d applied_seq %llu", k, s->verifier, s->epoch,
                               STORE_SCHEMA, (unsigned long long)st->seq);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (!ok) return snprintf(err, errn, "redis: writing this verifier's identity into %s failed", k), -1;
    LOG(LOG_INFO, "redis prefix '%s' held no verifier's state: it is this verifier's from now on (epoch %s)", s->prefix,
        s->epoch);
  }
  if (s->j.records) {
    int records = s->j.records;
    if (journal_each(&s->j, replay_start, &l) != 0 || journal_clear(&s->j) != 0)
      return snprintf(err, errn, "redis: replaying the journal %s failed", s->o.journal_path), -1;
    LOG(LOG_INFO, "journal: %d records replayed into redis (%d it held already)", l.count, records - l.count);
  }
  return 0;
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
  snprintf(s->journal_path, sizeof s->journal_path, "%s", o->journal_path);
  snprintf(s->verifier, sizeof s->verifier, "%s", o->verifier);
  s->backoff = 0.5;
  s->o.host = s->host, s->o.password = s->password, s->o.prefix = s->prefix, s->o.journal_path = s->journal_path;
  s->o.verifier = s->verifier;
  double deadline = now_s() + give_up_s, wait = 0.25;
  while (store_connect(s) != 0) {
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
  if (open_state(s, st, err, errn) != 0) {
    store_close(s);
    vstate_free(st);
    return NULL;
  }
  LOG(LOG_INFO, "state: step %ld, %d provers, record %llu, epoch %s", st->step, st->n, (unsigned long long)st->seq,
      s->epoch);
  return s;
}

/* A challenge log entry as the verifier writes it: {"v":1, "kind", "step", "job": {...}, "provers": [...]}
 * (numbers read as reals: a job's 64-bit seed does not fit a signed integer). */
static int valid_entry(const char *text)
{
  json_t *e = text ? json_loads(text, JSON_DECODE_INT_AS_REAL, NULL) : NULL;
  int ok = json_is_object(e) && json_number_value(json_object_get(e, "v")) == 1 &&
           json_is_string(json_object_get(e, "kind")) && json_is_number(json_object_get(e, "step")) &&
           json_is_object(json_object_get(e, "job")) && json_is_array(json_object_get(e, "provers"));
  json_decref(e);
  return ok;
}

int store_recent_entries(store *s, int max, void (*fn)(void *ctx, const char *json), void *ctx)
{
  char k[256];
  store_key(s, k, sizeof k, "challenges", NULL);
  redisReply *r = store_cmdf(s, "XREVRANGE %s + - COUNT %d", k, max);
  if (!r || r->type != REDIS_REPLY_ARRAY) return freeReplyObject(r), -1;
  int count = 0;
  for (size_t i = r->elements; i-- > 0;) {
    const redisReply *e = r->element[i], *f = NULL, *id = NULL;
    const char *data = NULL;
    if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 && e->element[1]->type == REDIS_REPLY_ARRAY)
      id = e->element[0], f = e->element[1];
    for (size_t j = 0; f && j + 1 < f->elements; j += 2)
      if (str_of(f->element[j]) && strcmp(f->element[j]->str, "data") == 0) data = str_of(f->element[j + 1]);
    if (!valid_entry(data)) {
      s->n.bad_log++;
      LOG(LOG_ERROR, "redis: challenge log entry %s of %s is not a valid entry: skipped", str_of(id) ? id->str : "?",
          k);
      continue;
    }
    fn(ctx, data), count++;
  }
  freeReplyObject(r);
  return count;
}
