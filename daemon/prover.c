/* The prover: challenges and organic jobs go through a bounded queue to one worker that owns the
 * device; it runs queued jobs of the same size and numerics as one batch (each job's bits are what it gets alone).
 * A job whose client has gone is dropped from the queue, and a batch none of whose clients waits any
 * more stops at the next step. The latents of recent jobs stay in a bounded cache for /v1/reveal. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fractal/version.h"
#include "fractal/video.h"
#include "log.h"
#include "prover.h"
#include "prover_notes.h"

typedef struct pjob {
  fr_job job;
  char sender[FR_HOTKEY_HEX + 1];
  double t_queued;
  int abandoned; /* its client closed the connection */
  int done;
  fr_status st;
  char err[512];
  fr_result res;
  float *latents; /* (steps + 1) x n: the latent entering every step, then the final one */
  size_t n;
  int running, step;        /* taken by a worker; steps done (POST /v1/progress) */
  struct pjob *prev, *next; /* the live jobs: queued or running, while their request waits */
} pjob;

typedef struct reveal_entry {
  char sender[FR_HOTKEY_HEX + 1];
  char job_id[FR_JOB_ID_MAX + 1];
  int steps;
  size_t n;
  float *latents;
} reveal_entry;

typedef struct prover {
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  pjob **queue;
  int count, cap;
  int busy, stop; /* busy: workers running a batch */
  int cancel_all; /* shutdown_grace_s is over: running batches stop at the next step */
  pthread_t workers[NODE_MAX_DEVICES];
  int fault_oom_left;
  reveal_entry *cache; /* oldest first */
  int ncache;
  size_t cache_bytes;
  double avg_job_s;
  prover_notes notes; /* the verdicts verifiers sent (its own lock) */
  pjob *live;         /* queued and running jobs, for POST /v1/progress */
} prover;

static double mono_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static prover *P(node *n) { return (prover *)n->role; }

/* ---- reveal cache (under P->mu) ---- */

static void cache_remove(prover *p, int i)
{
  p->cache_bytes -= (size_t)(p->cache[i].steps + 1) * p->cache[i].n * sizeof(float);
  free(p->cache[i].latents);
  memmove(p->cache + i, p->cache + i + 1, sizeof *p->cache * (size_t)(p->ncache - i - 1));
  p->ncache--;
}

/* Takes ownership of j->latents. A job id sent again by the same sender replaces the old entry. */
static void cache_put(node *n, pjob *j)
{
  prover *p = P(n);
  size_t bytes = (size_t)(j->job.steps + 1) * j->n * sizeof(float), limit = (size_t)n->cfg.reveal_cache_mb << 20;
  for (int i = 0; i < p->ncache; i++)
    if (strcmp(p->cache[i].sender, j->sender) == 0 && strcmp(p->cache[i].job_id, j->job.job_id) == 0) {
      cache_remove(p, i);
      break;
    }
  if (bytes > limit) {
    free(j->latents);
    j->latents = NULL;
    return;
  }
  while (p->ncache > 0 && (p->ncache >= n->cfg.reveal_cache_jobs || p->cache_bytes + bytes > limit)) cache_remove(p, 0);
  reveal_entry *e = &p->cache[p->ncache++];
  snprintf(e->sender, sizeof e->sender, "%s", j->sender);
  snprintf(e->job_id, sizeof e->job_id, "%s", j->job.job_id);
  e->steps = j->job.steps, e->n = j->n, e->latents = j->latents;
  p->cache_bytes += bytes;
  j->latents = NULL;
}

/* ---- the worker ---- */

typedef struct capture {
  prover *p;
  pjob **jobs;
  int n;
} capture;

/* fr_run_options.cancel: a batch stops when no client waits for any of its jobs, or at shutdown. */
static int batch_canceled(void *ctx)
{
  capture *c = (capture *)ctx;
  pthread_mutex_lock(&c->p->mu);
  int stop = 1;
  for (int i = 0; i < c->n; i++) stop &= c->jobs[i]->abandoned;
  stop |= c->p->cancel_all;
  pthread_mutex_unlock(&c->p->mu);
  return stop;
}

static void on_step(void *ctx, int job, int step, int steps)
{
  capture *c = (capture *)ctx;
  pthread_mutex_lock(&c->p->mu);
  c->jobs[job]->step = step;
  pthread_mutex_unlock(&c->p->mu);
}

static void on_latent(void *ctx, int job, int step, const float *x, size_t n)
{
  pjob *j = ((capture *)ctx)->jobs[job];
  if (!j->latents) {
    j->latents = (float *)malloc(sizeof(float) * n * (size_t)(j->job.steps + 1));
    j->n = n;
  }
  if (j->latents) memcpy(j->latents + (size_t)step * n, x, n * sizeof(float));
}

/* TESTS ONLY (fault_corrupt_step): a dishonest prover that flips one bit of the latent after step k and
 * reports that latent's hash in its chain. */
static void corrupt(pjob *j, int k)
{
  if (!j->latents || k < 1 || k > j->job.steps) return;
  uint32_t bits;
  float *x = j->latents + (size_t)k * j->n;
  memcpy(&bits, &x[j->n / 2], 4);
  bits ^= 1u << 3;
  memcpy(&x[j->n / 2], &bits, 4);
  j->res.step_hashes[k - 1] = fr_hash_f32(x, j->n);
  fr_result_seal(&j->res);
}

static int compatible(const fr_job *a, const fr_job *b)
{
  return a->frames == b->frames && a->height == b->height && a->width == b->width &&
         strcmp(a->numerics, b->numerics) == 0;
}

/* Sharded provers run jobs one at a time (one job already uses every rank). */
static int max_batch(const node *n) { return n->cfg.shards > 1 ? 1 : n->cfg.max_batch; }

static fr_status run_jobs(node *n, device *dev, const fr_job *jobs, int nb, fr_run_options *ro, fr_result *res)
{
  ro->ranks = nb == 1 ? fr_shard_fit(&jobs[0], n->cfg.shards) : 1; /* a job with few frames uses fewer ranks */
  ro->threads = n->cfg.threads;
  fr_status st = fr_generate(dev->model, jobs, nb, ro, res);
  for (int i = 0; st == FR_OK && i < nb; i++) fr_result_seal(&res[i]);
  return st;
}

typedef struct worker_arg {
  node *n;
  int dev;
  fr_job *jobs; /* max_batch of each, on the heap: 64 are ~800 KB, too much for a thread's stack */
  fr_result *res;
} worker_arg;

static void *worker_main(void *arg)
{
  worker_arg wa = *(worker_arg *)arg;
  free(arg);
  node *n = wa.n;
  device *dev = &n->dev[wa.dev];
  prover *p = P(n);
  fr_job *jobs = wa.jobs;
  fr_result *res = wa.res;
  pjob *batch[64];
  for (;;) {
    pthread_mutex_lock(&p->mu);
    while (!p->count && !p->stop) pthread_cond_wait(&p->work, &p->mu);
    if (!p->count) {
      pthread_mutex_unlock(&p->mu);
      break;
    }
    int nb = 0;
    batch[nb++] = p->queue[0];
    int keep = 0;
    for (int i = 1; i < p->count; i++) { /* the oldest job, and younger ones of its size */
      if (nb < max_batch(n) && compatible(&p->queue[i]->job, &batch[0]->job)) batch[nb++] = p->queue[i];
      else p->queue[keep++] = p->queue[i];
    }
    p->count = keep;
    p->busy++;
    for (int i = 0; i < nb; i++) batch[i]->running = 1;
    int simulate_oom = p->fault_oom_left > 0;
    if (simulate_oom) p->fault_oom_left--;
    pthread_mutex_unlock(&p->mu);

    for (int i = 0; i < nb; i++) jobs[i] = batch[i]->job;
    capture cap = {p, batch, nb};
    fr_observer obs = {&cap, NULL, NULL, on_latent, NULL, on_step};
    fr_run_options ro = {.observer = &obs, .cancel = batch_canceled, .cancel_ctx = &cap};
    double t0 = mono_s();
    fr_status st =
        simulate_oom ? fr_fail(FR_ENOMEM, "simulated (fault_oom_batches)") : run_jobs(n, dev, jobs, nb, &ro, res);
    double busy = mono_s() - t0;
    const char *err = st == FR_OK ? "" : fr_last_error();
    metrics_busy(&n->metrics, wa.dev, busy);
    if (st == FR_ECANCELED)
      LOG(LOG_INFO, "batch of %d canceled (%s)", nb, p->cancel_all ? "shutdown" : "no client waits");
    else if (st != FR_OK) LOG(LOG_ERROR, "batch of %d failed: %s", nb, err);

    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < nb; i++) {
      pjob *j = batch[i];
      j->st = st;
      snprintf(j->err, sizeof j->err, "%s", err);
      if (st == FR_OK) {
        j->res = res[i];
        j->res.timing.queue_ms = (t0 - j->t_queued) * 1e3;
        if (n->cfg.fault_corrupt_step >= 0) corrupt(j, n->cfg.fault_corrupt_step);
        if (j->latents) cache_put(n, j);
      }
      free(j->latents);
      j->latents = NULL;
      j->done = 1;
      metrics_job(&n->metrics, mono_s() - j->t_queued, st);
      char digest[33] = "-";
      if (st == FR_OK) fr_hash_hex(j->res.digest, digest);
      LOG(LOG_INFO, "job %s from %.16s...: %d frames %dx%d, %d steps, %s in %.3f s (%.3f s queued), digest %s",
          j->job.job_id, j->sender, j->job.frames, j->job.width, j->job.height, j->job.steps,
          st == FR_OK          ? "done"
          : st == FR_ECANCELED ? "canceled"
                               : "failed",
          mono_s() - j->t_queued, t0 - j->t_queued, digest);
    }
    p->avg_job_s = p->avg_job_s ? 0.8 * p->avg_job_s + 0.2 * busy / nb : busy / nb;
    p->busy--;
    pthread_cond_broadcast(&p->done);
    pthread_mutex_unlock(&p->mu);
  }
  free(jobs);
  free(res);
  return NULL;
}

/* ---- endpoints ---- */

static fr_job_limits limits(const node *n)
{
  fr_job_limits l = {n->cfg.max_steps, n->cfg.max_frames, n->cfg.max_height, n->cfg.max_width};
  return l;
}

/* Parses, checks and runs a job; on success the result is in j->res (caller frees). */
static int run_job(node *n, const http_request *req, http_response *resp, pjob *j)
{
  prover *p = P(n);
  if (n->draining) return http_error(resp, 503, "shutting_down", "this node is shutting down"), -1;
  fr_job_limits lim = limits(n);
  if (fr_job_parse_request(req->body, req->len, &lim, &j->job) != FR_OK)
    return http_error(resp, 400, "bad_request", "%s", fr_last_error()), -1;
  fr_job_fill_size(n->dev[0].model, &j->job);       /* a size left out: the model's */
  switch (fr_job_check(n->dev[0].model, &j->job)) { /* every device holds the same model */
  case FR_JOB_FITS: break;
  case FR_JOB_OTHER_MODEL:
    return http_error(resp, 422, "model_not_served", "this node serves model %s", n->info.digest_hex), -1;
  case FR_JOB_OTHER_NUMERICS:
    return http_error(resp, 422, "numerics_not_served", "this node computes %s", n->info.numerics), -1;
  case FR_JOB_NO_SCHEDULER: return http_error(resp, 422, "scheduler_not_served", "%s", fr_last_error()), -1;
  case FR_JOB_BAD_SHAPE: return http_error(resp, 400, "bad_request", "%s", fr_last_error()), -1;
  }
  snprintf(j->sender, sizeof j->sender, "%s", req->sender);
  j->t_queued = mono_s();
  pthread_mutex_lock(&p->mu);
  if (p->stop || p->cancel_all) { /* SIGTERM came after the check above: no worker will take it */
    pthread_mutex_unlock(&p->mu);
    return http_error(resp, 503, "shutting_down", "this node is shutting down"), -1;
  }
  if (p->count >= p->cap) {
    int wait = (int)ceil((p->avg_job_s > 0 ? p->avg_job_s : 1.0) * (p->count + 1) / (max_batch(n) * n->ndev));
    pthread_mutex_unlock(&p->mu);
    char retry[32];
    snprintf(retry, sizeof retry, "%d", wait < 1 ? 1 : wait);
    http_error(resp, 429, "queue_full", "the job queue is full (%d jobs)", n->cfg.queue_size);
    http_header(resp, "Retry-After", retry);
    return -1;
  }
  p->queue[p->count++] = j;
  j->next = p->live, j->prev = NULL;
  if (p->live) p->live->prev = j;
  p->live = j;
  pthread_cond_signal(&p->work);
  while (!j->done) { /* looking every 0.2 s whether the client is still there */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 200000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&p->done, &p->mu, &until);
    if (j->done || j->abandoned) continue;
    pthread_mutex_unlock(&p->mu);
    int gone = http_client_gone(req);
    pthread_mutex_lock(&p->mu);
    if (!gone || j->done) continue;
    j->abandoned = 1;
    for (int i = 0; i < p->count; i++)
      if (p->queue[i] == j) { /* not started: it leaves the queue now; a running one is the batch's concern */
        memmove(p->queue + i, p->queue + i + 1, sizeof *p->queue * (size_t)(p->count - i - 1));
        p->count--;
        j->done = 1, j->st = FR_ECANCELED;
        metrics_job(&n->metrics, mono_s() - j->t_queued, FR_ECANCELED);
        break;
      }
  }
  int shutdown_cancel = p->cancel_all;
  if (j->prev) j->prev->next = j->next;
  else p->live = j->next;
  if (j->next) j->next->prev = j->prev;
  pthread_mutex_unlock(&p->mu);
  if (j->st == FR_ECANCELED && j->abandoned)
    return http_error(resp, 503, "canceled", "the client went away; the job was canceled"), -1;
  if (j->st == FR_ECANCELED && shutdown_cancel)
    return http_error(resp, 503, "shutting_down", "this node is shutting down: the job was canceled"), -1;
  if (j->st == FR_ENOMEM) return http_error(resp, 503, "out_of_memory", "the device ran out of memory: %s", j->err), -1;
  if (j->st != FR_OK) return http_error(resp, 500, "internal", "generation failed: %s", j->err), -1;
  if (n->cfg.fault_delay_ms > 0) usleep((useconds_t)n->cfg.fault_delay_ms * 1000);
  return 0;
}

static void challenge(node *n, const http_request *req, http_response *resp)
{
  pjob *j = (pjob *)calloc(1, sizeof *j);
  if (!j) return http_error(resp, 503, "out_of_memory", "out of memory");
  if (run_job(n, req, resp, j) == 0) {
    size_t len = fr_result_to_json(&j->res, NULL, 0) + 1;
    char *body = (char *)malloc(len);
    if (body) fr_result_to_json(&j->res, body, len);
    http_json(resp, body ? 200 : 503, body);
  }
  fr_result_free(&j->res);
  free(j);
}

static void generate(node *n, const http_request *req, http_response *resp)
{
  pjob *j = (pjob *)calloc(1, sizeof *j);
  if (!j) return http_error(resp, 503, "out_of_memory", "out of memory");
  if (run_job(n, req, resp, j) == 0) {
    uint8_t *mp4;
    size_t len;
    if (fr_video_encode(FR_VIDEO_MP4, j->res.frames, j->job.frames, j->job.height, j->job.width, 8, &mp4, &len, NULL) !=
        FR_OK) {
      http_error(resp, 500, "internal", "encoding the video: %s", fr_last_error());
    } else {
      char hex[33];
      resp->status = 200, resp->content_type = "video/mp4", resp->body = (char *)mp4, resp->len = len;
      fr_hash_hex(j->res.digest, hex);
      http_header(resp, "Fractal-Digest", hex);
      fr_hash_hex(j->res.frames_hash, hex);
      http_header(resp, "Fractal-Frames-Hash", hex);
      http_header(resp, "Fractal-Model", j->res.job.model);
      http_header(resp, "Fractal-Job-Id", j->res.job.job_id);
      char *chain = (char *)malloc((size_t)j->res.steps * 33 + 1);
      if (chain) { /* the step hashes, comma-separated: what a verifier spot-checks */
        chain[0] = '\0';
        for (int k = 0; k < j->res.steps; k++) {
          fr_hash_hex(j->res.step_hashes[k], hex);
          memcpy(chain + 33 * k, hex, 32);
          chain[33 * k + 32] = k + 1 < j->res.steps ? ',' : '\0';
        }
        http_header(resp, "Fractal-Step-Hashes", chain);
        free(chain);
      }
    }
  }
  fr_result_free(&j->res);
  free(j);
}

static void reveal(node *n, const http_request *req, http_response *resp)
{
  json_error_t e;
  json_t *root = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, &e);
  json_t *id = root ? json_object_get(root, "job_id") : NULL, *step = root ? json_object_get(root, "step") : NULL;
  if (!root) return http_error(resp, 400, "bad_request", "invalid JSON: %s", e.text);
  if (!json_is_object(root) || json_object_size(root) != 2 || !json_is_string(id) || !json_is_integer(step)) {
    json_decref(root);
    return http_error(resp, 400, "bad_request", "want exactly {\"job_id\": string, \"step\": integer}");
  }
  if (json_string_length(id) > FR_JOB_ID_MAX) { /* cut short, it would name another job */
    json_decref(root);
    return http_error(resp, 400, "bad_request", "job_id is over %d bytes", FR_JOB_ID_MAX);
  }
  char job_id[FR_JOB_ID_MAX + 1];
  snprintf(job_id, sizeof job_id, "%s", json_string_value(id));
  long long k = json_integer_value(step);
  json_decref(root);
  prover *p = P(n);
  pthread_mutex_lock(&p->mu);
  reveal_entry *hit = NULL;
  for (int i = 0; i < p->ncache; i++)
    if (strcmp(p->cache[i].sender, req->sender) == 0 && strcmp(p->cache[i].job_id, job_id) == 0) hit = &p->cache[i];
  if (!hit) {
    pthread_mutex_unlock(&p->mu);
    return http_error(resp, 404, "not_found", "no latents for job \"%s\" from this sender (unknown or evicted)",
                      job_id);
  }
  if (k < 0 || k > hit->steps) {
    int steps = hit->steps;
    pthread_mutex_unlock(&p->mu);
    return http_error(resp, 400, "bad_request", "step must be in 0..%d", steps);
  }
  size_t bytes = hit->n * sizeof(float);
  char *body = (char *)malloc(bytes);
  if (body) memcpy(body, hit->latents + (size_t)k * hit->n, bytes); /* little-endian fp32, as stored */
  pthread_mutex_unlock(&p->mu);
  if (!body) return http_error(resp, 503, "out_of_memory", "out of memory");
  resp->status = 200, resp->content_type = "application/octet-stream", resp->body = body, resp->len = bytes;
}

/* Verifiers send it, after each challenge, the verdict on this prover's answer (docs/protocol.md, "Verdict
 * notices"); kept for the operator's /v1/info and /metrics. */
static void verdict_notice(node *n, const http_request *req, http_response *resp)
{
  pthread_rwlock_rdlock(&n->registry_lock);
  const fr_node *sender = fr_registry_find(&n->registry, req->sender);
  int verifier = (sender && sender->role == FR_ROLE_VERIFIER) || strcmp(req->sender, n->key.hotkey) == 0;
  pthread_rwlock_unlock(&n->registry_lock);
  if (!verifier) return http_error(resp, 403, "forbidden", "only a verifier of the registry sends verdicts");
  char err[256];
  verdict_note nt;
  if (notes_add(&P(n)->notes, req->sender, req->body, req->len, &nt, err, sizeof err) != 0)
    return http_error(resp, 400, "bad_request", "%s", err);
  LOG(strcmp(nt.verdict, "fail") == 0 ? LOG_WARN : LOG_INFO, "verdict from verifier %.16s...: job %s %s%s%s",
      req->sender, nt.job_id, nt.verdict, nt.reason[0] ? ": " : "", nt.reason);
  http_json(resp, 200, strdup("{\"recorded\":true}"));
}

/* Where a job of this sender stands: {"job_id", "state": "queued"|"running", "step", "steps"} (the videos
 * API's progress). */
static void progress(node *n, const http_request *req, http_response *resp)
{
  json_error_t e;
  json_t *root = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, &e);
  json_t *id = root ? json_object_get(root, "job_id") : NULL;
  if (!root) return http_error(resp, 400, "bad_request", "invalid JSON: %s", e.text);
  if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_string(id) ||
      json_string_length(id) > FR_JOB_ID_MAX) {
    json_decref(root);
    return http_error(resp, 400, "bad_request", "want exactly {\"job_id\": string}");
  }
  char job_id[FR_JOB_ID_MAX + 1];
  snprintf(job_id, sizeof job_id, "%s", json_string_value(id));
  json_decref(root);
  prover *p = P(n);
  json_t *out = NULL;
  pthread_mutex_lock(&p->mu);
  for (const pjob *j = p->live; j && !out; j = j->next)
    if (strcmp(j->sender, req->sender) == 0 && strcmp(j->job.job_id, job_id) == 0)
      out = json_pack("{s:s,s:s,s:i,s:i}", "job_id", job_id, "state", j->running ? "running" : "queued", "step",
                      j->step, "steps", j->job.steps);
  pthread_mutex_unlock(&p->mu);
  if (!out) return http_error(resp, 404, "not_found", "no job \"%s\" from this sender is queued or running", job_id);
  char *body = json_dumps(out, JSON_COMPACT);
  json_decref(out);
  http_json(resp, body ? 200 : 503, body);
}

static void info(node *n, const http_request *req, http_response *resp)
{
  prover *p = P(n);
  pthread_mutex_lock(&p->mu);
  int depth = p->count + p->busy;
  pthread_mutex_unlock(&p->mu);
  json_t *devs = json_array();
  for (int d = 0; d < n->ndev; d++) json_array_append_new(devs, json_string(fr_backend_name(n->dev[d].be)));
  pthread_mutex_lock(&n->metrics.mu);
  json_t *jobs = json_pack("{s:I,s:I,s:I}", "ok", (json_int_t)n->metrics.jobs_ok, "failed",
                           (json_int_t)n->metrics.jobs_failed, "canceled", (json_int_t)n->metrics.jobs_canceled);
  pthread_mutex_unlock(&n->metrics.mu);
  json_t *root =
      json_pack("{s:s,s:s,s:s,s:s,s:o,s:i,s:i,s:i,s:i,s:i,s:{s:i,s:i,s:i,s:i},s:s,s:o,s:o}", "hotkey", n->key.hotkey,
                "role", "prover", "model", n->info.digest_hex, "numerics", n->info.numerics, "devices", devs,
                "device_count", n->ndev, "shards", n->cfg.shards, "queue_depth", depth, "queue_capacity",
                n->cfg.queue_size, "max_batch", max_batch(n), "limits", "max_steps", n->cfg.max_steps, "max_frames",
                n->cfg.max_frames, "max_height", n->cfg.max_height, "max_width", n->cfg.max_width, "version",
                fr_build_info()->version, "jobs", jobs, "verdicts", notes_json(&p->notes));
  char *body = root ? json_dumps(root, JSON_COMPACT) : NULL;
  json_decref(root);
  if (!body) return http_error(resp, 503, "out_of_memory", "out of memory");
  http_json(resp, 200, body);
}

static void healthz(node *n, const http_request *req, http_response *resp)
{
  resp->status = n->draining ? 503 : 200, resp->content_type = "text/plain";
  resp->body = strdup(n->draining ? "draining\n" : "ok\n");
  resp->len = resp->body ? strlen(resp->body) : 0;
}

static void metrics_ep(node *n, const http_request *req, http_response *resp)
{
  prover *p = P(n);
  char extra[2048];
  pthread_mutex_lock(&p->mu);
  snprintf(
      extra, sizeof extra,
      "# HELP fractal_queue_depth Jobs queued or running.\n# TYPE fractal_queue_depth gauge\nfractal_queue_depth %d\n"
      "# HELP fractal_reveal_cache_jobs Jobs whose latents /v1/reveal can return.\n"
      "# TYPE fractal_reveal_cache_jobs gauge\nfractal_reveal_cache_jobs %d\n",
      p->count + p->busy, p->ncache);
  pthread_mutex_unlock(&p->mu);
  notes_metrics(&p->notes, extra, sizeof extra);
  resp->status = 200, resp->content_type = "text/plain; version=0.0.4";
  const char *names[NODE_MAX_DEVICES];
  for (int d = 0; d < n->ndev; d++) names[d] = fr_backend_name(n->dev[d].be);
  resp->body = metrics_text(&n->metrics, names, n->ndev, extra);
  resp->len = resp->body ? strlen(resp->body) : 0;
}

/* clang-format off */ /* a table: one entry per line */
static const http_route routes[] = {
  {"POST", "/v1/challenge", 1, challenge}, {"POST", "/v1/reveal", 1, reveal}, {"POST", "/v1/generate", 1, generate},
  {"GET", "/v1/info", 1, info},           {"GET", "/healthz", 0, healthz},   {"GET", "/metrics", 0, metrics_ep},
  {"POST", "/v1/verdict", 1, verdict_notice}, {"POST", "/v1/progress", 1, progress},
};
/* clang-format on */

const http_route *prover_routes(int *count)
{
  *count = (int)(sizeof routes / sizeof routes[0]);
  return routes;
}

int prover_start(node *n)
{
  prover *p = (prover *)calloc(1, sizeof *p);
  if (!p) return -1;
  p->cap = n->cfg.queue_size;
  p->queue = (pjob **)calloc((size_t)p->cap, sizeof *p->queue);
  p->cache = (reveal_entry *)calloc((size_t)n->cfg.reveal_cache_jobs, sizeof *p->cache);
  if (!p->queue || !p->cache) return free(p->queue), free(p->cache), free(p), -1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work, NULL);
  pthread_cond_init(&p->done, NULL);
  p->fault_oom_left = n->cfg.fault_oom_batches;
  notes_init(&p->notes);
  n->role = p;
  for (int d = 0; d < n->ndev; d++) {
    worker_arg *wa = (worker_arg *)malloc(sizeof *wa);
    if (!wa) return -1;
    *wa = (worker_arg){n, d, (fr_job *)calloc((size_t)max_batch(n), sizeof(fr_job)),
                       (fr_result *)calloc((size_t)max_batch(n), sizeof(fr_result))};
    if (!wa->jobs || !wa->res || pthread_create(&p->workers[d], NULL, worker_main, wa) != 0)
      return free(wa->jobs), free(wa->res), free(wa), -1;
  }
  if (n->cfg.fault_corrupt_step >= 0 || n->cfg.fault_delay_ms > 0 || n->cfg.fault_oom_batches > 0)
    LOG(LOG_WARN,
        "TEST FAULTS ARE ON: corrupt step %d, delay %d ms, %d simulated out-of-memory batches; this node "
        "gives wrong, slow or failed answers",
        n->cfg.fault_corrupt_step, n->cfg.fault_delay_ms, n->cfg.fault_oom_batches);
  return 0;
}

void prover_stop(node *n)
{
  prover *p = P(n);
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += n->cfg.shutdown_grace_s;
  while ((p->count || p->busy) && pthread_cond_timedwait(&p->done, &p->mu, &until) != ETIMEDOUT) {}
  if (p->count || p->busy) {
    LOG(LOG_WARN,
        "shutdown_grace_s (%d s) is over: canceling %d queued jobs and the running batches at their next step",
        n->cfg.shutdown_grace_s, p->count);
    p->cancel_all = 1;
    for (int i = 0; i < p->count; i++) {
      p->queue[i]->done = 1, p->queue[i]->st = FR_ECANCELED;
      metrics_job(&n->metrics, mono_s() - p->queue[i]->t_queued, FR_ECANCELED);
    }
    p->count = 0;
    pthread_cond_broadcast(&p->done);
  }
  while (p->busy) pthread_cond_wait(&p->done, &p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  for (int d = 0; d < n->ndev; d++) pthread_join(p->workers[d], NULL);
}

void prover_free(node *n)
{
  prover *p = P(n);
  if (!p) return;
  for (int i = 0; i < p->ncache; i++) free(p->cache[i].latents);
  free(p->cache);
  free(p->queue);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  notes_free(&p->notes);
  free(p);
  n->role = NULL;
}
