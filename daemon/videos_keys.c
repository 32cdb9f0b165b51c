/* Redis connections and API keys of the videos API (see videos_impl.h and docs/videos.md, "Keys"). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "log.h"
#include "videos_impl.h"

void rconn_init(rconn *r, const fractald_config *cfg, double timeout_s)
{
  memset(r, 0, sizeof *r);
  r->cfg = cfg, r->timeout_s = timeout_s;
  pthread_mutex_init(&r->mu, NULL);
}

void rconn_close(rconn *r)
{
  if (r->c) redisFree(r->c);
  r->c = NULL;
  pthread_mutex_destroy(&r->mu);
}

static int rconnect(rconn *r)
{
  struct timeval tv = {(time_t)r->timeout_s, (suseconds_t)((r->timeout_s - (double)(time_t)r->timeout_s) * 1e6)};
  r->c = redisConnectWithTimeout(r->cfg->redis_host, r->cfg->redis_port, tv);
  if (!r->c || r->c->err) {
    if (r->c) redisFree(r->c);
    r->c = NULL;
    return -1;
  }
  redisSetTimeout(r->c, tv);
  if (r->cfg->redis_password[0]) {
    redisReply *a = (redisReply *)redisCommand(r->c, "AUTH %s", r->cfg->redis_password);
    int ok = a && a->type != REDIS_REPLY_ERROR;
    freeReplyObject(a);
    if (!ok) return redisFree(r->c), r->c = NULL, -1;
  }
  return 0;
}

redisReply *rcmd(rconn *r, const char *fmt, ...)
{
  for (int attempt = 0; attempt < 2; attempt++) {
    if (!r->c && rconnect(r) != 0) return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = (redisReply *)redisvCommand(r->c, fmt, ap);
    va_end(ap);
    if (rep) return rep;
    redisFree(r->c); /* the connection broke: once more on a new one */
    r->c = NULL;
  }
  return NULL;
}

void rkey(const fractald_config *cfg, char *buf, size_t n, const char *name, const char *a)
{
  snprintf(buf, n, "%s%s%s%s", cfg->redis_prefix, name, a ? ":" : "", a ? a : "");
}

/* SHA-256 of a key as 64 hex digits, and its id. */
static void key_hash(const char *key, char hex[65], char id[KEY_ID_LEN + 1])
{
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, (const unsigned char *)key, strlen(key));
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
  snprintf(id, KEY_ID_LEN + 1, "key_%.12s", hex);
}

static int well_formed(const char *key)
{
  if (strncmp(key, "fk_", 3) != 0 || strlen(key) != 43) return 0;
  for (const char *p = key + 3; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
  return 1;
}

static const char *field(const redisReply *h, const char *name)
{
  for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
    if (h->element[i]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, name) == 0)
      return h->element[i + 1]->type == REDIS_REPLY_STRING ? h->element[i + 1]->str : NULL;
  return NULL;
}

int keys_authenticate(rconn *r, const char *authorization, api_key *out, const char **code, char *why, size_t n)
{
  *code = "unauthorized";
  if (!authorization || strncmp(authorization, "Bearer ", 7) != 0)
    return snprintf(why, n, "an API key is needed: Authorization: Bearer <key>"), 401;
  const char *key = authorization + 7;
  if (!well_formed(key)) return snprintf(why, n, "the API key is malformed (want fk_ and 40 hex digits)"), 401;
  char hex[65], k[400];
  key_hash(key, hex, out->id);
  rkey(r->cfg, k, sizeof k, "apikey", hex);
  redisReply *h = rcmd(r, "HGETALL %s", k);
  int st = 0;
  if (!h || h->type == REDIS_REPLY_ERROR)
    *code = "unavailable", snprintf(why, n, "the key store is unreachable"), st = 503;
  else if (h->type != REDIS_REPLY_ARRAY || h->elements == 0) snprintf(why, n, "unknown API key"), st = 401;
  else if (field(h, "revoked") && strcmp(field(h, "revoked"), "0") != 0)
    snprintf(why, n, "the API key %s is revoked", out->id), st = 401;
  else {
    snprintf(out->name, sizeof out->name, "%s", field(h, "name") ? field(h, "name") : "");
    out->rate = field(h, "rate") ? (int)strtol(field(h, "rate"), NULL, 10) : 60;
    out->quota = field(h, "quota") ? (int)strtol(field(h, "quota"), NULL, 10) : 100;
    if (out->rate < 1) out->rate = 1; /* a damaged entry limits, never opens */
    if (out->quota < 0) out->quota = 0;
  }
  freeReplyObject(h);
  return st;
}

int buckets_take(buckets *bs, const api_key *k, double now)
{
  pthread_mutex_lock(&bs->mu);
  int i = 0;
  while (i < bs->n && strcmp(bs->b[i].id, k->id) != 0) i++;
  if (i == bs->n) {
    if (bs->n < BUCKETS) bs->n++;
    else { /* full: the bucket used longest ago makes room */ i = 0;
      for (int j = 1; j < BUCKETS; j++) i = bs->b[j].at < bs->b[i].at ? j : i;
    }
    snprintf(bs->b[i].id, sizeof bs->b[i].id, "%s", k->id);
    bs->b[i].tokens = k->rate, bs->b[i].at = now;
  }
  double per_s = k->rate / 60.0, t = bs->b[i].tokens + (now - bs->b[i].at) * per_s;
  bs->b[i].tokens = t > k->rate ? k->rate : t, bs->b[i].at = now;
  int wait = 0;
  if (bs->b[i].tokens >= 1) bs->b[i].tokens -= 1;
  else wait = (int)((1 - bs->b[i].tokens) / per_s) + 1;
  pthread_mutex_unlock(&bs->mu);
  return wait;
}

/* ---- fractald keys ---- */

static int keys_usage(FILE *err)
{
  fprintf(err, "usage: fractald --config FILE keys create NAME [--rate N] [--quota N]\n"
               "       fractald --config FILE keys list\n"
               "       fractald --config FILE keys revoke KEY_ID\n"
               "API keys of the videos API (docs/videos.md), in the verifier's Redis: --rate is requests a minute\n"
               "(default 60), --quota videos a UTC day (default 100). create prints the key once.\n");
  return 2;
}

static int positive(const char *s, int *out)
{
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < 1 || v > 1000000) return -1;
  *out = (int)v;
  return 0;
}

int videos_keys_main(const fractald_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
  if (argc < 1) return keys_usage(err);
  if (sodium_init() < 0) return fprintf(err, "fractald keys: libsodium failed to start\n"), 1;
  rconn r;
  rconn_init(&r, cfg, 5);
  char idx[400];
  rkey(cfg, idx, sizeof idx, "apikeys", NULL);
  int rc = 0;
  if (strcmp(argv[0], "create") == 0) {
    int rate = 60, quota = 100;
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
      if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc) {
        if (positive(argv[++i], &rate))
          return rconn_close(&r), fprintf(err, "fractald keys: --rate wants 1..1000000\n"), 2;
      } else if (strcmp(argv[i], "--quota") == 0 && i + 1 < argc) {
        if (positive(argv[++i], &quota))
          return rconn_close(&r), fprintf(err, "fractald keys: --quota wants 1..1000000\n"), 2;
      } else if (!name && argv[i][0] != '-' && strlen(argv[i]) < 64) {
        name = argv[i];
      } else {
        return rconn_close(&r), keys_usage(err);
      }
    }
    if (!name) return rconn_close(&r), keys_usage(err);
    unsigned char raw[20];
    randombytes_buf(raw, sizeof raw);
    char key[44] = "fk_", hex[65], id[KEY_ID_LEN + 1], k[400];
    for (int i = 0; i < 20; i++) snprintf(key + 3 + 2 * i, 3, "%02x", raw[i]);
    key_hash(key, hex, id);
    rkey(cfg, k, sizeof k, "apikey", hex);
    redisReply *a = rcmd(&r, "HSET %s id %s name %s rate %d quota %d created %lld revoked 0", k, id, name, rate, quota,
                         (long long)time(NULL));
    redisReply *b = a && a->type != REDIS_REPLY_ERROR ? rcmd(&r, "HSET %s %s %s", idx, id, hex) : NULL;
    if (!b || b->type == REDIS_REPLY_ERROR) {
      fprintf(err, "fractald keys: redis %s:%d: %s\n", cfg->redis_host, cfg->redis_port,
              b                                   ? b->str
              : a && a->type == REDIS_REPLY_ERROR ? a->str
                                                  : "unreachable");
      rc = 1;
    } else {
      fprintf(out, "%s\n", key);
      fprintf(err, "fractald keys: created %s (%s): %d requests a minute, %d videos a day; the key is shown once\n", id,
              name, rate, quota);
    }
    freeReplyObject(a), freeReplyObject(b);
  } else if (strcmp(argv[0], "list") == 0 && argc == 1) {
    redisReply *all = rcmd(&r, "HGETALL %s", idx);
    if (!all || all->type != REDIS_REPLY_ARRAY) {
      fprintf(err, "fractald keys: redis %s:%d: %s\n", cfg->redis_host, cfg->redis_port,
              all && all->type == REDIS_REPLY_ERROR ? all->str : "unreachable");
      rc = 1;
    }
    for (size_t i = 0; rc == 0 && i + 1 < all->elements; i += 2) {
      char k[400];
      rkey(cfg, k, sizeof k, "apikey", all->element[i + 1]->str);
      redisReply *h = rcmd(&r, "HGETALL %s", k);
      fprintf(out, "%s  %-20s rate %s/min  quota %s/day  created %s  %s\n", all->element[i]->str,
              field(h, "name") ? field(h, "name") : "?", field(h, "rate") ? field(h, "rate") : "?",
              field(h, "quota") ? field(h, "quota") : "?", field(h, "created") ? field(h, "created") : "?",
              field(h, "revoked") && strcmp(field(h, "revoked"), "0") != 0 ? "REVOKED" : "active");
      freeReplyObject(h);
    }
    freeReplyObject(all);
  } else if (strcmp(argv[0], "revoke") == 0 && argc == 2) {
    redisReply *h = rcmd(&r, "HGET %s %s", idx, argv[1]);
    if (!h || h->type == REDIS_REPLY_ERROR) {
      fprintf(err, "fractald keys: redis %s:%d: %s\n", cfg->redis_host, cfg->redis_port, h ? h->str : "unreachable");
      rc = 1;
    } else if (h->type != REDIS_REPLY_STRING) {
      fprintf(err, "fractald keys: no key %s (fractald keys list shows them)\n", argv[1]);
      rc = 1;
    } else {
      char k[400];
      rkey(cfg, k, sizeof k, "apikey", h->str);
      redisReply *s = rcmd(&r, "HSET %s revoked %lld", k, (long long)time(NULL));
      if (!s || s->type == REDIS_REPLY_ERROR) rc = 1, fprintf(err, "fractald keys: redis: cannot revoke\n");
      else fprintf(err, "fractald keys: %s revoked\n", argv[1]);
      freeReplyObject(s);
    }
    freeReplyObject(h);
  } else {
    rc = keys_usage(err);
  }
  rconn_close(&r);
  return rc;
}
