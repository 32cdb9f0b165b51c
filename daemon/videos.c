/* The videos API's endpoints (docs/videos.md): authentication and limits, the request, the video object,
 * its content, the list and deletion. The workers are in videos_work.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "fractal/protocol.h"
#include "log.h"
#include "verifier.h"
#include "videos_impl.h"

static videos *VS(node *n) { return n->role ? ((verifier *)n->role)->videos : NULL; }

static void count(videos *vs, unsigned long long *c)
{
  pthread_mutex_lock(&vs->mu);
  (*c)++;
  pthread_mutex_unlock(&vs->mu);
}

/* The API on, the key, the rate: 0 with the key, or the answer is made (-1). */
static int admit(node *n, const http_request *req, http_response *resp, api_key *k)
{
  videos *vs = VS(n);
  if (!n->cfg.videos_api || !vs)
    return http_error(resp, 404, "not_found", "the videos API is off on this verifier"), -1;
  if (n->draining) return http_error(resp, 503, "shutting_down", "this node is shutting down"), -1;
  const char *code;
  char why[256];
  pthread_mutex_lock(&vs->api.mu);
  int st = keys_authenticate(&vs->api, req->authorization, k, &code, why, sizeof why);
  pthread_mutex_unlock(&vs->api.mu);
  if (st) {
    if (st == 401) count(vs, &vs->unauthorized), http_header(resp, "WWW-Authenticate", "Bearer");
    else http_header(resp, "Retry-After", "10");
    return http_error(resp, st, code, "%s", why), -1;
  }
  int wait = buckets_take(&vs->rate, k, videos_now());
  if (wait) {
    char s[16];
    snprintf(s, sizeof s, "%d", wait);
    count(vs, &vs->rate_limited);
    http_error(resp, 429, "rate_limited", "over this key's %d requests a minute; retry in %d s", k->rate, wait);
    return http_header(resp, "Retry-After", s), -1;
  }
  return 0;
}

static void unavailable(http_response *resp)
{
  http_error(resp, 503, "unavailable", "this verifier's Redis is unreachable; try again later");
  http_header(resp, "Retry-After", "10");
}

/* Decimal digits at *s (at least one, at most 18: no overflow) into *v; advances *s. 0, or -1. */
static int digits(const char **s, unsigned long long *v)
{
  const char *p = *s;
  *v = 0;
  while (*p >= '0' && *p <= '9' && p - *s < 18) *v = *v * 10 + (unsigned long long)(*p++ - '0');
  if (p == *s || (*p >= '0' && *p <= '9')) return -1;
  *s = p;
  return 0;
}

/* ---- the request ---- */

static const char *const request_fields[] = {"prompt", "negative_prompt", "seed",     "size",      "frames", "seconds",
                                             "fps",    "steps",           "guidance", "scheduler", "model"};

static int bad(char *why, size_t n, const char *fmt, const char *field)
{
  snprintf(why, n, fmt, field);
  return -1;
}

static int whole(const json_t *v, long long lo, long long hi, long long *out)
{
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) return -1;
  *out = json_integer_value(v);
  return 0;
}

/* The job and fps a request asks for; 0, or -1 with the reason. */
static int parse_request(node *n, const char *body, size_t len, fr_job *job, int *fps, char *why, size_t wn)
{
  json_error_t e;
  json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
  if (!root) return snprintf(why, wn, "invalid JSON: %s", e.text), -1;
  int rc = 0;
  const char *key;
  json_t *v;
  if (!json_is_object(root)) rc = bad(why, wn, "the request must be a JSON object%s", "");
  json_object_foreach(root, key, v)
  {
    int known = 0;
    for (size_t i = 0; i < sizeof request_fields / sizeof request_fields[0]; i++)
      known |= !strcmp(key, request_fields[i]);
    if (!known && rc == 0) rc = bad(why, wn, "unknown field \"%s\"", key);
  }
  fr_job_init(job);
  job->height = job->width = 0; /* the model's size unless `size` says */
  *fps = 8;
  long long x;
  json_t *f;
  if (rc == 0) {
    f = json_object_get(root, "prompt");
    if (!json_is_string(f)) rc = bad(why, wn, "%s is required: a string", "prompt");
    else if (json_string_length(f) > FR_JOB_PROMPT_MAX || strlen(json_string_value(f)) != json_string_length(f))
      rc = bad(why, wn, "%s: at most 2000 bytes of UTF-8 text, no NUL", "prompt");
    else snprintf(job->prompt, sizeof job->prompt, "%s", json_string_value(f));
  }
  if (rc == 0 && (f = json_object_get(root, "negative_prompt"))) {
    if (!json_is_string(f) || json_string_length(f) > FR_JOB_PROMPT_MAX ||
        strlen(json_string_value(f)) != json_string_length(f))
      rc = bad(why, wn, "%s: at most 2000 bytes of UTF-8 text, no NUL", "negative_prompt");
    else snprintf(job->negative_prompt, sizeof job->negative_prompt, "%s", json_string_value(f));
  }
  if (rc == 0) {
    if ((f = json_object_get(root, "seed"))) {
      if (whole(f, 0, 0x7fffffffffffffffLL, &x)) rc = bad(why, wn, "%s: a whole number in 0..2^63-1", "seed");
      else job->seed = (uint64_t)x;
    } else {
      randombytes_buf(&job->seed, sizeof job->seed);
      job->seed &= 0x7fffffffffffffffULL;
    }
  }
  if (rc == 0 && (f = json_object_get(root, "size"))) {
    unsigned long long w = 0, h = 0;
    const char *s = json_string_value(f);
    int ok = s && digits(&s, &w) == 0 && *s++ == 'x' && digits(&s, &h) == 0 && !*s;
    if (!ok || !w || !h || w > 65536 || h > 65536) rc = bad(why, wn, "%s: \"WxH\", e.g. \"256x256\"", "size");
    else job->width = (int)w, job->height = (int)h;
  }
  if (rc == 0 && (f = json_object_get(root, "fps"))) {
    if (whole(f, 1, 60, &x)) rc = bad(why, wn, "%s: a whole number in 1..60", "fps");
    else *fps = (int)x;
  }
  json_t *fr = json_object_get(root, "frames"), *sec = json_object_get(root, "seconds");
  if (rc == 0 && fr && sec) rc = bad(why, wn, "give frames or seconds, not both%s", "");
  if (rc == 0 && fr) {
    if (whole(fr, 1, FR_JOB_FRAMES_MAX, &x)) rc = bad(why, wn, "%s: a whole number in 1..64", "frames");
    else job->frames = (int)x;
  }
  if (rc == 0 && sec) {
    double s = json_number_value(sec), frames = s * *fps;
    if (!json_is_number(sec) || !(s > 0) || !(frames < FR_JOB_FRAMES_MAX + 0.5))
      rc = bad(why, wn, "%s: a positive number, at most 64 frames at the fps", "seconds");
    else job->frames = frames < 1 ? 1 : (int)lround(frames);
  }
  if (rc == 0 && (f = json_object_get(root, "steps"))) {
    if (whole(f, 1, FR_JOB_STEPS_MAX, &x)) rc = bad(why, wn, "%s: a whole number in 1..200", "steps");
    else job->steps = (int)x;
  }
  if (rc == 0 && (f = json_object_get(root, "guidance"))) {
    if (!json_is_number(f) || !(json_number_value(f) >= 0 && json_number_value(f) <= 50))
      rc = bad(why, wn, "%s: a number in 0..50", "guidance");
    else job->guidance = (float)json_number_value(f);
  }
  if (rc == 0 && (f = json_object_get(root, "scheduler"))) {
    int sch = json_is_string(f) ? fr_scheduler_parse(json_string_value(f)) : -1;
    if (sch < 0) rc = bad(why, wn, "%s: \"dpm++2m\" or \"ddim\"", "scheduler");
    else job->scheduler = (fr_scheduler)sch;
  }
  if (rc == 0 && (f = json_object_get(root, "model"))) {
    if (!json_is_string(f) || json_string_length(f) >= sizeof job->model)
      rc = bad(why, wn, "%s: a model digest", "model");
    else snprintf(job->model, sizeof job->model, "%s", json_string_value(f));
  }
  json_decref(root);
  fr_job_limits lim = {n->cfg.max_steps, n->cfg.max_frames, n->cfg.max_height, n->cfg.max_width};
  if (rc == 0 && fr_job_validate(job, &lim) != FR_OK) rc = bad(why, wn, "%s", fr_last_error());
  return rc;
}

/* ---- the object ---- */

char *videos_object(rconn *r, const fractald_config *cfg, const char *id, char *owner, int *down)
{
  char k[400];
  rkey(cfg, k, sizeof k, "video", id);
  redisReply *h = rcmd(r, "HMGET %s meta job owner", k);
  *down = !h || h->type == REDIS_REPLY_ERROR;
  char *out = NULL;
  if (!*down && h->type == REDIS_REPLY_ARRAY && h->elements == 3 && h->element[0]->type == REDIS_REPLY_STRING &&
      h->element[1]->type == REDIS_REPLY_STRING && h->element[2]->type == REDIS_REPLY_STRING) {
    const char *meta = h->element[0]->str, *job = h->element[1]->str;
    size_t ml = strlen(meta), n = ml + strlen(job) + 16;
    if (ml > 2 && meta[ml - 1] == '}' && (out = (char *)malloc(n)))
      snprintf(out, n, "%.*s,\"job\":%s}", (int)(ml - 1), meta, job);
    if (owner) snprintf(owner, KEY_ID_LEN + 1, "%s", h->element[2]->str);
  }
  freeReplyObject(h);
  return out;
}

/* The video `req->param` of key k, or the answer is made (NULL). */
static char *own_video(videos *vs, const api_key *k, const http_request *req, http_response *resp)
{
  char owner[KEY_ID_LEN + 1] = "";
  int down = 0;
  char *obj = NULL;
  if (strncmp(req->param, "video_", 6) == 0 && strlen(req->param) <= VIDEO_ID_LEN) {
    pthread_mutex_lock(&vs->api.mu);
    obj = videos_object(&vs->api, &vs->n->cfg, req->param, owner, &down);
    pthread_mutex_unlock(&vs->api.mu);
  }
  if (down) return unavailable(resp), NULL;
  if (!obj || strcmp(owner, k->id) != 0) {
    free(obj);
    return http_error(resp, 404, "not_found", "no video %s", req->param), NULL;
  }
  return obj;
}

/* Seconds to the next midnight UTC, and today's date as yyyymmdd. */
static long to_midnight(char day[16])
{
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(day, 16, "%Y%m%d", &tm);
  return 86400 - (tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
}

void videos_create(node *n, const http_request *req, http_response *resp)
{
  api_key k;
  if (admit(n, req, resp, &k)) return;
  videos *vs = VS(n);
  fr_job job;
  int fps;
  char why[512];
  const char *code;
  if (parse_request(n, req->body, req->len, &job, &fps, why, sizeof why) != 0)
    return http_error(resp, 400, "bad_request", "%s", why);
  int st = organic_job(n, &job, "video_", &code, why, sizeof why);
  if (st) return http_error(resp, st, code, "%s", why);
  char day[16], qkey[400], vkey[400], ikey[400], queue[400];
  long left = to_midnight(day);
  rkey(&n->cfg, qkey, sizeof qkey, "quota", k.id);
  snprintf(qkey + strlen(qkey), sizeof qkey - strlen(qkey), ":%s", day);
  rkey(&n->cfg, vkey, sizeof vkey, "video", job.job_id);
  rkey(&n->cfg, ikey, sizeof ikey, "videos", k.id);
  rkey(&n->cfg, queue, sizeof queue, "video_queue", NULL);
  double now = videos_now();
  json_t *meta =
      json_pack("{s:s,s:s,s:s,s:i,s:I,s:s,s:s,s:s,s:i,s:i,s:f}", "id", job.job_id, "object", "video", "status",
                "queued", "progress", 0, "created_at", (json_int_t)now, "model", job.model, "prompt", job.prompt,
                "size", "", "frames", job.frames, "fps", fps, "seconds", (double)job.frames / fps);
  char size[32];
  snprintf(size, sizeof size, "%dx%d", job.width, job.height);
  if (meta) json_object_set_new(meta, "size", json_string(size));
  char *mtext = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
  json_decref(meta);
  size_t jn = fr_job_to_json(&job, NULL, 0) + 1;
  char *jtext = (char *)malloc(jn);
  if (!mtext || !jtext) return free(mtext), free(jtext), http_error(resp, 503, "out_of_memory", "out of memory");
  fr_job_to_json(&job, jtext, jn);
  pthread_mutex_lock(&vs->api.mu);
  redisReply *q = rcmd(&vs->api, "INCR %s", qkey);
  int over = q && q->type == REDIS_REPLY_INTEGER && q->integer > k.quota, down = !q || q->type != REDIS_REPLY_INTEGER;
  if (q && q->type == REDIS_REPLY_INTEGER && q->integer == 1) freeReplyObject(rcmd(&vs->api, "EXPIRE %s 172800", qkey));
  if (over) freeReplyObject(rcmd(&vs->api, "DECR %s", qkey));
  redisReply *x = NULL;
  if (!over && !down) {
    freeReplyObject(rcmd(&vs->api, "MULTI"));
    freeReplyObject(rcmd(&vs->api, "HSET %s meta %s job %s owner %s", vkey, mtext, jtext, k.id));
    freeReplyObject(rcmd(&vs->api, "ZADD %s %.0f %s", ikey, now * 1e3, job.job_id));
    freeReplyObject(rcmd(&vs->api, "RPUSH %s %s", queue, job.job_id));
    x = rcmd(&vs->api, "EXEC");
    down = !x || x->type != REDIS_REPLY_ARRAY;
  }
  pthread_mutex_unlock(&vs->api.mu);
  freeReplyObject(q), freeReplyObject(x);
  if (over) {
    char s[16];
    snprintf(s, sizeof s, "%ld", left);
    count(vs, &vs->quota_exceeded);
    http_error(resp, 429, "quota_exceeded", "this key's %d videos for today (UTC) are used; more in %ld s", k.quota,
               left);
    free(mtext), free(jtext);
    return http_header(resp, "Retry-After", s);
  }
  if (down) return free(mtext), free(jtext), unavailable(resp);
  count(vs, &vs->created);
  LOG(LOG_INFO, "videos: %s queued for %s (%s): %d frames %dx%d, %d steps", job.job_id, k.id, k.name, job.frames,
      job.width, job.height, job.steps);
  size_t ml = strlen(mtext), nb = ml + strlen(jtext) + 16;
  char *body = (char *)malloc(nb);
  if (body) snprintf(body, nb, "%.*s,\"job\":%s}", (int)(ml - 1), mtext, jtext);
  free(mtext), free(jtext);
  http_json(resp, body ? 201 : 503, body);
}

void videos_get(node *n, const http_request *req, http_response *resp)
{
  api_key k;
  if (admit(n, req, resp, &k)) return;
  char *obj = own_video(VS(n), &k, req, resp);
  if (obj) http_json(resp, 200, obj);
}

/* A single "bytes=a-b", "bytes=a-" or "bytes=-n" range of a size-byte file: 1 with [*from, *to], 0 for none or
 * a form not taken (the whole file is sent), -1 when unsatisfiable. */
static int byte_range(const char *h, size_t size, size_t *from, size_t *to)
{
  unsigned long long a, b;
  if (!h || strncmp(h, "bytes=", 6) != 0) return 0;
  h += 6;
  if (*h == '-') { /* the last b bytes */
    h++;
    if (digits(&h, &b) != 0 || *h) return 0;
    if (b == 0) return -1;
    *from = b >= size ? 0 : size - (size_t)b, *to = size - 1;
    return 1;
  }
  if (digits(&h, &a) != 0 || *h++ != '-') return 0;
  if (!*h) b = size - 1; /* from a to the end */
  else if (digits(&h, &b) != 0 || *h || b < a) return 0;
  if (a >= size) return -1;
  *from = (size_t)a, *to = b < size ? (size_t)b : size - 1;
  return 1;
}

void videos_content(node *n, const http_request *req, http_response *resp)
{
  api_key k;
  if (admit(n, req, resp, &k)) return;
  int thumb = 0;
  if (strcmp(req->query, "variant=thumbnail") == 0) thumb = 1;
  else if (req->query[0] && strcmp(req->query, "variant=video") != 0)
    return http_error(resp, 400, "bad_request", "the query takes variant=video or variant=thumbnail");
  char *obj = own_video(VS(n), &k, req, resp);
  if (!obj) return;
  json_t *o = json_loads(obj, JSON_DECODE_INT_AS_REAL, NULL);
  const char *status = json_string_value(json_object_get(o, "status"));
  int done = status && strcmp(status, "completed") == 0;
  char st[16];
  snprintf(st, sizeof st, "%s", status ? status : "?");
  json_decref(o), free(obj);
  if (!done) return http_error(resp, 409, "not_ready", "video %s is %s, not completed", req->param, st);
  char path[1200];
  videos_file(&n->cfg, path, sizeof path, req->param, thumb ? ".png" : ".mp4");
  FILE *f = fopen(path, "rb");
  if (!f) return http_error(resp, 404, "not_found", "video %s has expired", req->param);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  size_t from = 0, to = size > 0 ? (size_t)size - 1 : 0;
  int ranged = size > 0 ? byte_range(req->range, (size_t)size, &from, &to) : 0;
  char cr[96];
  if (ranged < 0) {
    fclose(f);
    snprintf(cr, sizeof cr, "bytes */%ld", size);
    http_error(resp, 416, "range_not_satisfiable", "the file has %ld bytes", size);
    return http_header(resp, "Content-Range", cr);
  }
  size_t len = size > 0 ? to - from + 1 : 0;
  char *body = (char *)malloc(len ? len : 1);
  fseek(f, (long)from, SEEK_SET);
  int ok = body && fread(body, 1, len, f) == len;
  fclose(f);
  if (!ok) return free(body), http_error(resp, 500, "internal", "reading %s failed", path);
  resp->status = ranged ? 206 : 200, resp->content_type = thumb ? "image/png" : "video/mp4";
  resp->body = body, resp->len = len;
  http_header(resp, "Accept-Ranges", "bytes");
  if (ranged) {
    snprintf(cr, sizeof cr, "bytes %zu-%zu/%ld", from, to, size);
    http_header(resp, "Content-Range", cr);
  }
}

/* A query's `name=value` into out (""), 0; -1 when the query holds another parameter. */
static int query_params(const char *q, char *limit, char *after, size_t n)
{
  limit[0] = after[0] = '\0';
  while (*q) {
    const char *amp = strchr(q, '&'), *end = amp ? amp : q + strlen(q);
    size_t len = (size_t)(end - q);
    if (len > 6 && strncmp(q, "limit=", 6) == 0 && len - 6 < n) snprintf(limit, n, "%.*s", (int)(len - 6), q + 6);
    else if (len > 6 && strncmp(q, "after=", 6) == 0 && len - 6 < n) snprintf(after, n, "%.*s", (int)(len - 6), q + 6);
    else return -1;
    q = amp ? amp + 1 : end;
  }
  return 0;
}

void videos_list(node *n, const http_request *req, http_response *resp)
{
  api_key k;
  if (admit(n, req, resp, &k)) return;
  videos *vs = VS(n);
  char limit_s[64], after[64], ikey[400];
  if (query_params(req->query, limit_s, after, sizeof limit_s) != 0)
    return http_error(resp, 400, "bad_request", "the query takes limit=N and after=ID");
  unsigned long long limit = 20;
  const char *ls = limit_s;
  if (limit_s[0] && (digits(&ls, &limit) != 0 || *ls || limit < 1 || limit > 100))
    return http_error(resp, 400, "bad_request", "limit must be in 1..100");
  rkey(&n->cfg, ikey, sizeof ikey, "videos", k.id);
  pthread_mutex_lock(&vs->api.mu);
  redisReply *ids = rcmd(&vs->api, "ZREVRANGE %s 0 9999", ikey);
  if (!ids || ids->type != REDIS_REPLY_ARRAY) {
    pthread_mutex_unlock(&vs->api.mu);
    freeReplyObject(ids);
    return unavailable(resp);
  }
  size_t start = 0;
  if (after[0]) {
    while (start < ids->elements && strcmp(ids->element[start]->str, after) != 0) start++;
    if (start == ids->elements) {
      pthread_mutex_unlock(&vs->api.mu);
      freeReplyObject(ids);
      return http_error(resp, 400, "bad_request", "after=%s: no such video of this key", after);
    }
    start++;
  }
  size_t cap = 64, len = 0;
  char *data = (char *)malloc(cap), first[64] = "", last[64] = "";
  int taken = 0, more = 0, down = 0;
  for (size_t i = start; data && i < ids->elements && !down; i++) {
    if ((unsigned long long)taken == limit) {
      more = 1;
      break;
    }
    char *obj = videos_object(&vs->api, &n->cfg, ids->element[i]->str, NULL, &down);
    if (!obj) continue; /* removed since: expired or deleted */
    size_t ol = strlen(obj);
    while (data && len + ol + 2 > cap) {
      char *grown = (char *)realloc(data, cap *= 2);
      if (!grown) free(data);
      data = grown;
    }
    if (data) len += (size_t)snprintf(data + len, cap - len, "%s%s", taken ? "," : "", obj);
    if (!taken) snprintf(first, sizeof first, "%s", ids->element[i]->str);
    snprintf(last, sizeof last, "%s", ids->element[i]->str);
    taken++;
    free(obj);
  }
  pthread_mutex_unlock(&vs->api.mu);
  freeReplyObject(ids);
  if (down) return free(data), unavailable(resp);
  if (!data) return http_error(resp, 503, "out_of_memory", "out of memory");
  size_t nb = len + 256;
  char *body = (char *)malloc(nb);
  if (body)
    snprintf(body, nb, "{\"object\":\"list\",\"data\":[%.*s],\"has_more\":%s,\"first_id\":%s%s%s,\"last_id\":%s%s%s}",
             (int)len, data, more ? "true" : "false", first[0] ? "\"" : "", first[0] ? first : "null",
             first[0] ? "\"" : "", last[0] ? "\"" : "", last[0] ? last : "null", last[0] ? "\"" : "");
  free(data);
  http_json(resp, body ? 200 : 503, body);
}

void videos_delete(node *n, const http_request *req, http_response *resp)
{
  api_key k;
  if (admit(n, req, resp, &k)) return;
  videos *vs = VS(n);
  char *obj = own_video(vs, &k, req, resp);
  if (!obj) return;
  free(obj);
  pthread_mutex_lock(&vs->api.mu);
  videos_remove(&vs->api, &n->cfg, req->param, k.id);
  pthread_mutex_unlock(&vs->api.mu);
  count(vs, &vs->deleted);
  LOG(LOG_INFO, "videos: %s deleted by %s", req->param, k.id);
  size_t nb = strlen(req->param) + 64;
  char *body = (char *)malloc(nb);
  if (body) snprintf(body, nb, "{\"id\":\"%s\",\"object\":\"video.deleted\",\"deleted\":true}", req->param);
  http_json(resp, body ? 200 : 503, body);
}

void videos_metrics(videos *vs, char *out, size_t n)
{
  size_t at = strlen(out);
  if (!vs || at >= n) return;
  pthread_mutex_lock(&vs->mu);
  snprintf(out + at, n - at,
           "# HELP fractal_videos_total Videos of the videos API by what became of them.\n"
           "# TYPE fractal_videos_total counter\n"
           "fractal_videos_total{outcome=\"created\"} %llu\nfractal_videos_total{outcome=\"completed\"} %llu\n"
           "fractal_videos_total{outcome=\"failed\"} %llu\nfractal_videos_total{outcome=\"deleted\"} %llu\n"
           "fractal_videos_total{outcome=\"expired\"} %llu\n"
           "# HELP fractal_videos_refused_total Videos API requests refused, by reason.\n"
           "# TYPE fractal_videos_refused_total counter\n"
           "fractal_videos_refused_total{reason=\"unauthorized\"} %llu\n"
           "fractal_videos_refused_total{reason=\"rate_limited\"} %llu\n"
           "fractal_videos_refused_total{reason=\"quota_exceeded\"} %llu\n",
           vs->created, vs->completed, vs->failed, vs->deleted, vs->expired, vs->unauthorized, vs->rate_limited,
           vs->quota_exceeded);
  pthread_mutex_unlock(&vs->mu);
}
