/* The videos API's workers (docs/videos.md): each takes a queued video, routes its job to the provers
 * (organic_run: the best ones first, a step of the answer recomputed), checks the decode itself — the
 * prover's final latent, revealed and checked against its chain, decoded here, the frames' hash compared
 * with the claimed one — and encodes the MP4 and thumbnail from those frames into videos_dir. Also the
 * start (videos running at a stop are queued again), retention and the size cap. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fractal/client.h"
#include "fractal/verify.h"
#include "fractal/video.h"
#include "log.h"
#include "verifier.h"
#include "videos_impl.h"

double videos_now(void) { return (double)fr_now_ns() * 1e-9; }

void videos_file(const fractald_config *cfg, char *buf, size_t n, const char *id, const char *ext)
{
  snprintf(buf, n, "%s/%s%s", cfg->videos_dir, id, ext);
}

static void unlink_files(const fractald_config *cfg, const char *id)
{
  char path[1200];
  videos_file(cfg, path, sizeof path, id, ".mp4");
  unlink(path);
  videos_file(cfg, path, sizeof path, id, ".png");
  unlink(path);
}

void videos_remove(rconn *r, const fractald_config *cfg, const char *id, const char *owner)
{
  char vkey[400], ikey[400], queue[400], expiry[400];
  rkey(cfg, vkey, sizeof vkey, "video", id);
  rkey(cfg, ikey, sizeof ikey, "videos", owner);
  rkey(cfg, queue, sizeof queue, "video_queue", NULL);
  rkey(cfg, expiry, sizeof expiry, "video_expiry", NULL);
  freeReplyObject(rcmd(r, "DEL %s", vkey));
  freeReplyObject(rcmd(r, "ZREM %s %s", ikey, id));
  freeReplyObject(rcmd(r, "LREM %s 0 %s", queue, id));
  freeReplyObject(rcmd(r, "ZREM %s %s", expiry, id));
  unlink_files(cfg, id);
}

/* Writes meta only while the video exists (a deletion wins); 1 written, 0 deleted, -1 Redis away. */
static int save_meta(rconn *r, const fractald_config *cfg, const char *id, json_t *meta)
{
  char vkey[400];
  rkey(cfg, vkey, sizeof vkey, "video", id);
  char *text = json_dumps(meta, JSON_COMPACT);
  if (!text) return -1;
  redisReply *x = rcmd(r, "EVAL %s 1 %s %s",
                       "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'meta', ARGV[1]) "
                       "return 1 else return 0 end",
                       vkey, text);
  free(text);
  int rc = x && x->type == REDIS_REPLY_INTEGER ? (int)x->integer : -1;
  freeReplyObject(x);
  return rc;
}

/* The prover's final latent, revealed to this verifier (it sent the job), checked against the prover's
 * chain, decoded here; 0 with the frames (malloc'd) when their hash is the one the prover claimed. */
static int checked_frames(node *n, const fr_job *job, const answer *a, uint8_t **frames, char *why, size_t wn)
{
  verifier *v = (verifier *)n->role;
  size_t count = fr_latent_count(v->chk.model, job), bytes = (size_t)job->frames * job->height * job->width * 3;
  float *x = NULL;
  *frames = NULL;
  if (fr_reveal(&n->key, a->hotkey, a->endpoint, job->job_id, job->steps, count, (long)(n->cfg.timeout_s * 1e3), &x) !=
      FR_OK)
    return snprintf(why, wn, "revealing the final latent: %s", fr_last_error()), -1;
  int rc = -1;
  if (!(*frames = (uint8_t *)malloc(bytes))) snprintf(why, wn, "out of memory");
  else {
    if (!fr_latent_in_chain(&a->res, job->steps, x, count)) {
      snprintf(why, wn, "the revealed final latent is not the one the prover's chain claims");
    } else {
      pthread_mutex_lock(&v->model_mu);
      fr_status st = fr_decode_latent(v->chk.model, job, x, *frames);
      pthread_mutex_unlock(&v->model_mu);
      if (st != FR_OK) snprintf(why, wn, "decoding: %s", fr_last_error());
      else if (!fr_hash_equal(fr_hash_bytes(*frames, bytes), a->res.frames_hash))
        snprintf(why, wn, "the final latent decodes to other frames than the prover's frames hash says");
      else rc = 0;
    }
  }
  free(x);
  if (rc) free(*frames), *frames = NULL;
  return rc;
}

static void fail_video(videos *vs, rconn *r, const char *id, json_t *meta, const char *code, const char *msg)
{
  double now = videos_now();
  json_object_set_new(meta, "status", json_string("failed"));
  json_object_set_new(meta, "completed_at", json_integer((json_int_t)now));
  json_object_set_new(meta, "error", json_pack("{s:s,s:s}", "code", code, "message", msg));
  save_meta(r, &vs->n->cfg, id, meta);
  pthread_mutex_lock(&vs->mu);
  vs->failed++;
  pthread_mutex_unlock(&vs->mu);
  LOG(LOG_WARN, "videos: %s failed: %s: %s", id, code, msg);
}

typedef struct trying_ctx {
  videos *vs;
  int index;
} trying_ctx;

/* organic_run's hook: the prover now tried, for the progress thread. */
static void on_trying(void *ctx, const char *hotkey, const char *endpoint)
{
  trying_ctx *t = (trying_ctx *)ctx;
  pthread_mutex_lock(&t->vs->mu);
  videos_running *w = &t->vs->now[t->index];
  snprintf(w->hotkey, sizeof w->hotkey, "%s", hotkey);
  snprintf(w->endpoint, sizeof w->endpoint, "%s", endpoint);
  w->active = 1;
  pthread_mutex_unlock(&t->vs->mu);
}

static void run_video(videos *vs, int index, rconn *r, const char *id)
{
  node *n = vs->n;
  const fractald_config *cfg = &n->cfg;
  char vkey[400];
  rkey(cfg, vkey, sizeof vkey, "video", id);
  redisReply *h = rcmd(r, "HMGET %s meta job owner", vkey);
  if (!h || h->type != REDIS_REPLY_ARRAY || h->elements != 3 || h->element[0]->type != REDIS_REPLY_STRING ||
      h->element[1]->type != REDIS_REPLY_STRING || h->element[2]->type != REDIS_REPLY_STRING)
    return freeReplyObject(h); /* deleted while queued */
  json_t *meta = json_loads(h->element[0]->str, 0, NULL);
  fr_job job;
  int parsed = fr_job_parse(h->element[1]->str, strlen(h->element[1]->str), NULL, &job) == FR_OK;
  char owner[KEY_ID_LEN + 1];
  snprintf(owner, sizeof owner, "%s", h->element[2]->str);
  freeReplyObject(h);
  if (!meta || !parsed) {
    LOG(LOG_ERROR, "videos: %s is damaged in Redis (meta or job unreadable): removed", id);
    json_decref(meta);
    return videos_remove(r, cfg, id, owner);
  }
  int fps = (int)json_integer_value(json_object_get(meta, "fps"));
  json_object_set_new(meta, "status", json_string("in_progress"));
  json_object_set_new(meta, "progress", json_integer(10));
  json_object_set_new(meta, "started_at", json_integer((json_int_t)videos_now()));
  if (save_meta(r, cfg, id, meta) != 1) return json_decref(meta);
  organic_result o;
  char client[64];
  snprintf(client, sizeof client, "videos:%s", owner);
  pthread_mutex_lock(&vs->mu);
  vs->now[index] = (videos_running){0};
  snprintf(vs->now[index].id, sizeof vs->now[index].id, "%s", id);
  vs->now[index].last = 10;
  pthread_mutex_unlock(&vs->mu);
  trying_ctx tc = {vs, index};
  organic_run(n, &job, client, 1.0, on_trying, &tc, &o); /* every answer kept is checked */
  pthread_mutex_lock(&vs->mu);
  vs->now[index].active = 0;
  pthread_mutex_unlock(&vs->mu);
  if (o.status != 200) {
    fail_video(vs, r, id, meta, o.code, o.message);
    organic_result_free(&o);
    return json_decref(meta);
  }
  json_object_set_new(meta, "progress", json_integer(95));
  save_meta(r, cfg, id, meta);
  uint8_t *frames;
  char why[400], mp4[1200], png[1200];
  if (checked_frames(n, &job, &o.a, &frames, why, sizeof why) != 0) {
    fail_video(vs, r, id, meta, "check_failed", why);
    organic_result_free(&o);
    return json_decref(meta);
  }
  videos_file(cfg, mp4, sizeof mp4, id, ".mp4");
  videos_file(cfg, png, sizeof png, id, ".png");
  if (fr_video_write(mp4, frames, job.frames, job.height, job.width, fps, NULL) != FR_OK ||
      fr_png_write_sheet(png, frames, job.frames, job.height, job.width, 0) != FR_OK) {
    snprintf(why, sizeof why, "writing the files: %s", fr_last_error());
    unlink_files(cfg, id);
    fail_video(vs, r, id, meta, "storage", why);
  } else {
    double now = videos_now();
    char digest[33], expiry[400];
    fr_hash_hex(o.a.res.digest, digest);
    json_object_set_new(meta, "status", json_string("completed"));
    json_object_set_new(meta, "progress", json_integer(100));
    json_object_set_new(meta, "completed_at", json_integer((json_int_t)now));
    json_object_set_new(meta, "expires_at", json_integer((json_int_t)(now + cfg->videos_retention_s)));
    json_object_set_new(meta, "digest", json_string(digest));
    json_object_set_new(meta, "prover", json_string(o.a.hotkey));
    json_t *check = json_pack("{s:s,s:b}", "mode", o.full ? "full" : "spot", "decode", 1);
    if (!o.full && o.a.checked_step >= 0) json_object_set_new(check, "step", json_integer(o.a.checked_step));
    json_object_set_new(meta, "check", check);
    int saved = save_meta(r, cfg, id, meta);
    rkey(cfg, expiry, sizeof expiry, "video_expiry", NULL);
    if (saved == 1) /* by expiry time in ms: the oldest first, also within a second */
      freeReplyObject(rcmd(r, "ZADD %s %.0f %s", expiry, (now + cfg->videos_retention_s) * 1e3, id));
    else unlink_files(cfg, id); /* deleted while it ran (or Redis went away: it runs again) */
    if (saved == 1) {
      pthread_mutex_lock(&vs->mu);
      vs->completed++;
      pthread_mutex_unlock(&vs->mu);
      LOG(LOG_INFO, "videos: %s completed by prover %.16s... (digest %s, step %d and the decode checked)", id,
          o.a.hotkey, digest, o.a.checked_step);
    }
  }
  free(frames);
  organic_result_free(&o);
  json_decref(meta);
}

/* The bytes of the files in videos_dir. */
static unsigned long long dir_bytes(const char *dir)
{
  DIR *d = opendir(dir);
  unsigned long long sum = 0;
  struct dirent *e;
  char path[1200];
  while (d && (e = readdir(d))) {
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (e->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) sum += (unsigned long long)st.st_size;
  }
  if (d) closedir(d);
  return sum;
}

static void expire(videos *vs, rconn *r, const char *id)
{
  char vkey[400], owner[KEY_ID_LEN + 1] = "";
  rkey(&vs->n->cfg, vkey, sizeof vkey, "video", id);
  redisReply *o = rcmd(r, "HGET %s owner", vkey);
  if (o && o->type == REDIS_REPLY_STRING) snprintf(owner, sizeof owner, "%s", o->str);
  freeReplyObject(o);
  videos_remove(r, &vs->n->cfg, id, owner);
  pthread_mutex_lock(&vs->mu);
  vs->expired++;
  pthread_mutex_unlock(&vs->mu);
  LOG(LOG_INFO, "videos: %s expired", id);
}

void videos_sweep(videos *vs, rconn *r)
{
  const fractald_config *cfg = &vs->n->cfg;
  char expiry[400];
  rkey(cfg, expiry, sizeof expiry, "video_expiry", NULL);
  redisReply *old = rcmd(r, "ZRANGEBYSCORE %s -inf %.0f", expiry, videos_now() * 1e3);
  for (size_t i = 0; old && old->type == REDIS_REPLY_ARRAY && i < old->elements; i++)
    expire(vs, r, old->element[i]->str);
  freeReplyObject(old);
  unsigned long long cap = (unsigned long long)cfg->videos_max_mb << 20;
  for (int guard = 0; guard < 100000 && dir_bytes(cfg->videos_dir) > cap; guard++) {
    redisReply *oldest = rcmd(r, "ZRANGE %s 0 0", expiry);
    int any = oldest && oldest->type == REDIS_REPLY_ARRAY && oldest->elements == 1;
    if (any) expire(vs, r, oldest->element[0]->str);
    freeReplyObject(oldest);
    if (!any) break;
  }
}

int videos_requeue(videos *vs)
{
  char queue[400], running[400];
  rkey(&vs->n->cfg, queue, sizeof queue, "video_queue", NULL);
  rkey(&vs->n->cfg, running, sizeof running, "video_running", NULL);
  int moved = 0;
  for (;;) {
    redisReply *x = rcmd(&vs->api, "LMOVE %s %s RIGHT LEFT", running, queue);
    if (!x || x->type == REDIS_REPLY_ERROR) return freeReplyObject(x), -1;
    int got = x->type == REDIS_REPLY_STRING;
    freeReplyObject(x);
    if (!got) return moved;
    moved++;
  }
}

/* Every second, each running video's progress from its prover's step count (POST /v1/progress: the steps
 * map to 10..90). */
static void *progress_main(void *arg)
{
  videos *vs = (videos *)arg;
  node *n = vs->n;
  while (!vs->stop) {
    for (int i = 0; i < vs->nworkers && !vs->stop; i++) {
      pthread_mutex_lock(&vs->mu);
      videos_running w = vs->now[i];
      pthread_mutex_unlock(&vs->mu);
      if (!w.active) continue;
      char body[128];
      snprintf(body, sizeof body, "{\"job_id\":\"%s\"}", w.id);
      fr_response resp;
      if (fr_request(&n->key, w.hotkey, w.endpoint, "POST", "/v1/progress", body, strlen(body), 2000, &resp) != FR_OK)
        continue;
      json_t *o = resp.status == 200 ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
      int step = (int)json_integer_value(json_object_get(o, "step")),
          steps = (int)json_integer_value(json_object_get(o, "steps"));
      json_decref(o);
      fr_response_free(&resp);
      int pct = steps > 0 ? 10 + 80 * step / steps : 10;
      if (pct <= w.last) continue;
      /* under vs->mu: the worker writes the video again only after it has cleared `active` (under vs->mu),
       * so this write never lands on a newer state */
      pthread_mutex_lock(&vs->mu);
      if (vs->now[i].active && strcmp(vs->now[i].id, w.id) == 0) {
        char vkey[400];
        rkey(&n->cfg, vkey, sizeof vkey, "video", w.id);
        redisReply *h = rcmd(&vs->progress_conn, "HGET %s meta", vkey);
        json_t *meta = h && h->type == REDIS_REPLY_STRING ? json_loads(h->str, 0, NULL) : NULL;
        freeReplyObject(h);
        const char *status = json_string_value(json_object_get(meta, "status"));
        if (meta && status && strcmp(status, "in_progress") == 0) {
          json_object_set_new(meta, "progress", json_integer(pct));
          if (save_meta(&vs->progress_conn, &n->cfg, w.id, meta) == 1) vs->now[i].last = pct;
        }
        json_decref(meta);
      }
      pthread_mutex_unlock(&vs->mu);
    }
    for (int t = 0; t < 10 && !vs->stop; t++) usleep(100000);
  }
  return NULL;
}

static void *worker_main(void *arg)
{
  videos_worker_arg *wa = (videos_worker_arg *)arg;
  videos *vs = wa->vs;
  rconn *r = &vs->work[wa->index];
  char queue[400], running[400];
  rkey(&vs->n->cfg, queue, sizeof queue, "video_queue", NULL);
  rkey(&vs->n->cfg, running, sizeof running, "video_running", NULL);
  double last_sweep = 0;
  while (!vs->stop) {
    if (wa->index == 0 && videos_now() - last_sweep >= 30) videos_sweep(vs, r), last_sweep = videos_now();
    redisReply *x = rcmd(r, "BLMOVE %s %s LEFT RIGHT 1", queue, running);
    if (!x || x->type == REDIS_REPLY_ERROR) { /* Redis away: the queue waits there */
      freeReplyObject(x);
      sleep(1);
      continue;
    }
    if (x->type == REDIS_REPLY_STRING) {
      char id[VIDEO_ID_LEN + 1];
      snprintf(id, sizeof id, "%s", x->str);
      run_video(vs, wa->index, r, id);
      freeReplyObject(rcmd(r, "LREM %s 1 %s", running, id));
      if (wa->index == 0) videos_sweep(vs, r), last_sweep = videos_now();
    }
    freeReplyObject(x);
  }
  return NULL;
}

videos *videos_start(node *n)
{
  const fractald_config *cfg = &n->cfg;
  if (mkdir(cfg->videos_dir, 0750) != 0 && errno != EEXIST) {
    LOG(LOG_ERROR, "videos_dir %s: %s", cfg->videos_dir, strerror(errno));
    return NULL;
  }
  videos *vs = (videos *)calloc(1, sizeof *vs);
  if (!vs) return NULL;
  vs->n = n;
  pthread_mutex_init(&vs->mu, NULL);
  pthread_mutex_init(&vs->rate.mu, NULL);
  rconn_init(&vs->api, cfg, 2);
  vs->nworkers = cfg->videos_workers < VIDEOS_WORKERS ? cfg->videos_workers : VIDEOS_WORKERS;
  int moved = videos_requeue(vs);
  if (moved < 0) LOG(LOG_WARN, "videos: Redis unreachable at start; videos that were running wait for it");
  else if (moved) LOG(LOG_INFO, "videos: %d videos that were running at the last stop are queued again", moved);
  for (int i = 0; i < vs->nworkers; i++) {
    rconn_init(&vs->work[i], cfg, 5); /* a worker waits up to 1 s for the queue */
    vs->args[i] = (videos_worker_arg){vs, i};
    if (pthread_create(&vs->workers[i], NULL, worker_main, &vs->args[i]) != 0) {
      LOG(LOG_ERROR, "videos: cannot start worker %d", i);
      vs->nworkers = i;
      break;
    }
  }
  vs->running = 1;
  rconn_init(&vs->progress_conn, cfg, 2);
  vs->progress_running = pthread_create(&vs->progress, NULL, progress_main, vs) == 0;
  LOG(LOG_INFO, "videos API on: %d workers, files in %s (at most %d MB, kept %d s)", vs->nworkers, cfg->videos_dir,
      cfg->videos_max_mb, cfg->videos_retention_s);
  return vs;
}

void videos_stop(videos *vs)
{
  if (!vs || !vs->running) return;
  vs->stop = 1;
  for (int i = 0; i < vs->nworkers; i++) pthread_join(vs->workers[i], NULL);
  if (vs->progress_running) pthread_join(vs->progress, NULL), vs->progress_running = 0;
  vs->running = 0;
}

void videos_free(videos *vs)
{
  if (!vs) return;
  videos_stop(vs);
  for (int i = 0; i < vs->nworkers; i++) rconn_close(&vs->work[i]);
  rconn_close(&vs->api);
  rconn_close(&vs->progress_conn);
  pthread_mutex_destroy(&vs->mu);
  pthread_mutex_destroy(&vs->rate.mu);
  free(vs);
}
