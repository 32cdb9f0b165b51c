/* The verifier: one step every step_seconds (challenge a sample of provers, judge their answers,
 * score them, move tiers and publish weights at interval ends), and organic requests routed to the
 * best prover. All state changes go through the store under one lock. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "log.h"
#include "prompts.h"
#include "verifier.h"

#define CLOCK_MAX_AGE_S 600.0 /* provers' clock offsets older than this are not counted */

static verifier *V(node *n) { return (verifier *)n->role; }

static long info_timeout_ms(const node *n) { return (long)(1e3 * (n->cfg.timeout_s < 5 ? n->cfg.timeout_s : 5)); }

static double mono_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double wall_s(void) { return (double)fr_now_ns() * 1e-9; }

/* ---- who may be challenged ---- */

/* Serving nodes from the registry: never this node, never verifiers above vpermit_stake_limit. */
static int candidates(node *n, candidate **out)
{
  pthread_rwlock_rdlock(&n->registry_lock);
  candidate *c = (candidate *)calloc((size_t)n->registry.n + 1, sizeof *c);
  int k = 0;
  for (int i = 0; c && i < n->registry.n; i++) {
    const fr_node *e = &n->registry.nodes[i];
    if (strcmp(e->hotkey, n->key.hotkey) == 0 || !e->endpoint[0]) continue;
    if (e->role == FR_ROLE_VERIFIER && e->stake > n->cfg.vpermit_stake_limit) continue;
    snprintf(c[k].hotkey, sizeof c[k].hotkey, "%s", e->hotkey);
    snprintf(c[k].endpoint, sizeof c[k].endpoint, "%s", e->endpoint);
    k++;
  }
  pthread_rwlock_unlock(&n->registry_lock);
  *out = c;
  return c ? k : 0;
}

static int in_registry(node *n, const char *hotkey)
{
  pthread_rwlock_rdlock(&n->registry_lock);
  int yes = fr_registry_find(&n->registry, hotkey) != NULL;
  pthread_rwlock_unlock(&n->registry_lock);
  return yes;
}

/* ---- the challenge log entry ---- */

static const char *verdict_name(verdict v) { return v == VERDICT_OK ? "ok" : v == VERDICT_FAIL ? "fail" : "unjudged"; }

/* {"v":1,"kind","step","time","mode","job":<canonical job>,"provers":[...]} (the job is spliced in as
 * text: its seed may not fit a JSON library's signed integers). */
static char *entry_json(const char *kind, long step, const char *mode, const fr_job *job, const answer *a,
                        const double *reward, int n, const char *client)
{
  json_t *provers = json_array();
  for (int i = 0; i < n; i++) {
    json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:f,s:i,s:b}", "hotkey", a[i].hotkey, "endpoint", a[i].endpoint, "verdict",
                          verdict_name(a[i].verdict), "reason", a[i].reason, "latency_ms", a[i].seconds * 1e3,
                          "checked_step", a[i].checked_step, "decode_checked", a[i].decode_checked);
    if (reward) json_object_set_new(p, "reward", json_real(reward[i]));
    if (a[i].has_result) {
      size_t len = fr_result_to_json(&a[i].res, NULL, 0) + 1;
      char *txt = (char *)malloc(len);
      json_t *r = txt && fr_result_to_json(&a[i].res, txt, len) ? json_loads(txt, 0, NULL) : NULL;
      if (r) json_object_del(r, "timing"); /* the rest, frame_hashes too: fractal-replay names the frames */
      json_object_set_new(p, "result", r ? r : json_null());
      free(txt);
    } else {
      json_object_set_new(p, "result", json_null());
    }
    json_array_append_new(provers, p);
  }
  char *ptext = json_dumps(provers, JSON_COMPACT);
  json_decref(provers);
  size_t jlen = fr_job_to_json(job, NULL, 0) + 1;
  char *jtext = (char *)malloc(jlen), *out = NULL;
  if (ptext && jtext) {
    fr_job_to_json(job, jtext, jlen);
    size_t len = strlen(ptext) + jlen + 512;
    out = (char *)malloc(len);
    if (out)
      snprintf(out, len,
               "{\"v\":1,\"kind\":\"%s\",\"step\":%ld,\"time\":%.3f,\"mode\":\"%s\"%s%s%s,\"job\":%s,\"provers\":%s}",
               kind, step, wall_s(), mode, client ? ",\"client\":\"" : "", client ? client : "", client ? "\"" : "",
               jtext, ptext);
  }
  free(ptext), free(jtext);
  return out;
}

/* ---- one step ---- */

static void make_challenge(node *n, long step, fr_job *job)
{
  fr_job_init(job);
  uint32_t tag = randombytes_random();
  snprintf(job->job_id, sizeof job->job_id, "c%ld-%08x", step, tag);
  snprintf(job->model, sizeof job->model, "%s", n->info.digest_hex);
  prompt_generate(randombytes_uniform, job->prompt, sizeof job->prompt);
  randombytes_buf(&job->seed, sizeof job->seed);
  job->steps = n->cfg.challenge_steps, job->frames = n->cfg.challenge_frames;
  job->height = n->cfg.challenge_height, job->width = n->cfg.challenge_width;
  job->guidance = (float)n->cfg.challenge_guidance;
  job->scheduler = (fr_scheduler)fr_scheduler_parse(n->cfg.challenge_scheduler);
  snprintf(job->numerics, sizeof job->numerics, "%s", n->cfg.challenge_numerics);
}

/* Takes this node's clock against the provers' (takes v->mu), saying so when it turns out off or right. */
static clock_view note_clock(verifier *v)
{
  node *n = v->n;
  clock_view cv = peers_clock(&v->peers, n->cfg.nonce_window_s, CLOCK_MAX_AGE_S);
  pthread_mutex_lock(&v->mu);
  if (cv.skewed && !v->clock.skewed)
    LOG(LOG_ERROR,
        "this node's clock is %.0f s %s the clocks of %d of the %d provers heard from (more than the nonce window, %d s): "
        "they refuse its nonces as stale, and their stale_nonce answers are not judged until the clocks agree. Fix the clock (NTP)",
        fabs(cv.median_s), cv.median_s > 0 ? "behind" : "ahead of", cv.off, cv.measured, n->cfg.nonce_window_s);
  else if (!cv.skewed && v->clock.skewed)
    LOG(LOG_INFO, "this node's clock agrees with the provers' again (median offset %.0f s)", cv.median_s);
  v->clock = cv;
  pthread_mutex_unlock(&v->mu);
  return cv;
}

/* While this node's clock is off, a prover's stale_nonce refusal is this node's fault: not judged.
 * Returns how many answers that made unjudged. */
static int unjudge_stale(verifier *v, answer *a, int k)
{
  clock_view cv = note_clock(v);
  int count = 0;
  for (int i = 0; cv.skewed && i < k; i++)
    if (a[i].stale_nonce && a[i].verdict == VERDICT_FAIL) {
      a[i].verdict = VERDICT_UNJUDGED, count++;
      snprintf(a[i].reason, sizeof a[i].reason,
               "not judged: stale_nonce while this node's clock is %.0f s off most provers' (nonce window %d s)",
               fabs(cv.median_s), v->n->cfg.nonce_window_s);
    }
  return count;
}

/* Applies one step's outcome to the state and commits it (under v->mu). */
static void record_step(verifier *v, long step, const answer *a, int na, const double *reward, char *entry)
{
  node *n = v->n;
  vstate *st = &v->st;
  int *changed = (int *)malloc(sizeof(int) * (size_t)(st->n + na + 1));
  char(*removed)[HOTKEY_LEN + 1] = NULL;
  int nremoved = 0, nchanged = 0, all = 0, publish = 0;
  for (int i = st->n - 1; i >= 0; i--) /* a hotkey that leaves the registry loses its score */
    if (!in_registry(n, st->hotkey[i])) {
      void *r = realloc(removed, sizeof *removed * (size_t)(nremoved + 1));
      if (!r) continue;
      removed = r;
      snprintf(removed[nremoved++], HOTKEY_LEN + 1, "%s", st->hotkey[i]);
      LOG(LOG_INFO, "prover %.16s... left the registry: its stats and score are dropped", st->hotkey[i]);
      vstate_remove(st, i);
    }
  for (int i = 0; i < na; i++) {
    if (a[i].verdict == VERDICT_UNJUDGED) continue;
    int k = vstate_add(st, a[i].hotkey);
    if (k < 0 || !changed) continue;
    record_challenge(&st->stats[k], a[i].verdict == VERDICT_OK, a[i].seconds, reward[i], n->cfg.alpha);
    changed[nchanged++] = k;
  }
  for (int i = 0; i < st->n; i++) st->stats[i].score = decayed(st->stats[i].score, n->cfg.decay);
  st->step = step;
  if (step >= st->next_interval_step) {
    all = publish = 1;
    for (int i = 0; i < st->n; i++) {
      int from = st->stats[i].tier, move = interval_end(&st->stats[i]);
      if (move)
        LOG(LOG_INFO, "prover %.16s...: %s -> %s", st->hotkey[i], tiers[from].name, tiers[st->stats[i].tier].name);
    }
    st->next_interval_step = step + n->cfg.interval;
    double *sc = (double *)malloc(sizeof(double) * (size_t)(st->n + 1)),
           *w = (double *)malloc(sizeof(double) * (size_t)(st->n + 1));
    if (sc && w) {
      for (int i = 0; i < st->n; i++) sc[i] = st->stats[i].score;
      weights_from_scores(st->n, sc, w);
      for (int i = 0; i < st->n; i++) st->stats[i].weight = w[i];
    }
    free(sc), free(w);
    st->weights_version++;
    LOG(LOG_INFO, "step %ld: interval end, weights version %llu published for %d provers", step,
        (unsigned long long)st->weights_version, st->n);
  }
  if (step >= st->next_epoch_step) {
    all = 1;
    for (int i = 0; i < st->n; i++) epoch_end(&st->stats[i], step);
    st->next_epoch_step = step + n->cfg.epoch;
    LOG(LOG_INFO, "step %ld: epoch end: Bronze and Silver restart at Bronze", step);
  }
  if (all && changed)
    for (int i = nchanged = 0; i < st->n; i++) changed[nchanged++] = i;
  update u = {changed, changed ? nchanged : 0, removed, nremoved, publish, entry};
  if (store_commit(v->db, st, &u) != 0)
    LOG(LOG_ERROR, "step %ld: its record waits in memory: neither Redis nor the journal takes it", step);
  if (entry) ring_put(v->recent, RECENT_CHALLENGES, &v->recent_at, &v->nrecent, entry);
  char *sample = scores_sample(st);
  if (sample) ring_put(v->history, SCORE_HISTORY, &v->history_at, &v->nhistory, sample);
  free(changed);
  free(removed);
}

/* Tells each prover that answered the verdict on its answer (docs/protocol.md, "Verdict notices"). Best
 * effort: a prover that does not take it (an older one answers 404) changes nothing here. */
static void send_verdicts(node *n, long step, const fr_job *job, const answer *a, const int *answered,
                          const double *reward, int k)
{
  if (!n->cfg.verdict_notices || k == 0) return;
  fan_req *rq = (fan_req *)calloc((size_t)k, sizeof *rq);
  char **text = (char **)calloc((size_t)k, sizeof *text);
  int m = 0;
  for (int i = 0; rq && text && i < k; i++) {
    if (!answered[i]) continue;
    json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:f}", "job_id", job->job_id, "verdict", verdict_name(a[i].verdict),
                          "reason", a[i].reason, "step", (json_int_t)step, "reward", reward[i]);
    text[m] = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text[m]) continue;
    rq[m] = (fan_req){.base_url = a[i].endpoint,
                      .peer_hotkey = a[i].hotkey,
                      .method = "POST",
                      .path = "/v1/verdict",
                      .body = text[m],
                      .len = strlen(text[m])};
    m++;
  }
  if (m) fanout(&n->key, rq, m, info_timeout_ms(n), 4096);
  for (int j = 0; j < m; j++) {
    if (rq[j].status != 200)
      LOG(LOG_DEBUG, "step %ld: the verdict notice to %.16s... was not taken: %s", step, rq[j].peer_hotkey,
          rq[j].answered ? "refused" : rq[j].error);
    fan_free(&rq[j]), free(text[j]);
  }
  free(rq), free(text);
}

static void run_step(verifier *v)
{
  node *n = v->n;
  double t0 = mono_s();
  pthread_mutex_lock(&v->mu);
  long step = v->st.step + 1;
  pthread_mutex_unlock(&v->mu);
  candidate *cand;
  int nc = candidates(n, &cand), k = nc < n->cfg.sample_size ? nc : n->cfg.sample_size;
  for (int i = 0; i < k; i++) { /* a uniform sample without replacement */
    int j = i + (int)randombytes_uniform((uint32_t)(nc - i));
    candidate t = cand[i];
    cand[i] = cand[j], cand[j] = t;
  }
  if (nc < n->cfg.sample_size)
    LOG(LOG_WARN, "step %ld: only %d provers to challenge (sample_size %d)", step, nc, n->cfg.sample_size);
  fr_job job;
  make_challenge(n, step, &job);
  size_t jlen = fr_job_to_json(&job, NULL, 0) + 1;
  char *body = (char *)malloc(jlen);
  fan_req *rq = (fan_req *)calloc((size_t)k + 1, sizeof *rq);
  answer *a = (answer *)calloc((size_t)k + 1, sizeof *a);
  double *seconds = (double *)calloc((size_t)k + 1, sizeof(double)),
         *reward = (double *)calloc((size_t)k + 1, sizeof(double));
  int *ok = (int *)calloc((size_t)k + 1, sizeof(int)), *tier = (int *)calloc((size_t)k + 1, sizeof(int)),
      *answered = (int *)calloc((size_t)k + 1, sizeof(int));
  if (!body || !rq || !a || !seconds || !reward || !ok || !tier || !answered) {
    LOG(LOG_ERROR, "step %ld: out of memory", step);
    goto out;
  }
  fr_job_to_json(&job, body, jlen);
  for (int i = 0; i < k; i++) {
    rq[i] = (fan_req){.base_url = cand[i].endpoint,
                      .peer_hotkey = cand[i].hotkey,
                      .method = "POST",
                      .path = "/v1/challenge",
                      .body = body,
                      .len = strlen(body)};
    snprintf(a[i].hotkey, sizeof a[i].hotkey, "%s", cand[i].hotkey);
    snprintf(a[i].endpoint, sizeof a[i].endpoint, "%s", cand[i].endpoint);
  }
  fanout(&n->key, rq, k, (long)(n->cfg.timeout_s * 1e3), (size_t)n->cfg.max_response_mb << 20);
  for (int i = 0; i < k; i++) {
    peers_observe(&v->peers, cand[i].hotkey, &rq[i]);
    answered[i] = rq[i].answered;
    answer_from_challenge(&a[i], &rq[i], &job, n->cfg.timeout_s), fan_free(&rq[i]);
  }
  check_counters cc = {0};
  check_answers(&v->chk, &job, a, k, 1.0, &cc);
  int stale = unjudge_stale(v, a, k);
  pthread_mutex_lock(&v->mu);
  v->stale_unjudged += (unsigned long long)stale;
  for (int i = 0; i < k; i++) {
    int idx = vstate_find(&v->st, a[i].hotkey);
    tier[i] = idx >= 0 ? v->st.stats[idx].tier : 0;
    ok[i] = a[i].verdict == VERDICT_OK, seconds[i] = a[i].seconds;
  }
  challenge_rewards(k, ok, seconds, tier, n->cfg.timeout_s, v->speed, reward);
  char *entry = entry_json("challenge", step, v->chk.full ? "full" : "spot", &job, a, reward, k, NULL);
  record_step(v, step, a, k, reward, entry);
  v->steps_run++, v->challenges_sent += (unsigned long long)k;
  for (int i = 0; i < k; i++) {
    if (a[i].verdict == VERDICT_OK) v->verdicts_ok++;
    else if (a[i].verdict == VERDICT_FAIL) v->verdicts_failed++;
    else v->unjudged++;
  }
  v->cc.recomputations += cc.recomputations, v->cc.decodes += cc.decodes, v->cc.generations += cc.generations;
  v->cc.reveals += cc.reveals, v->cc.reveal_bytes += cc.reveal_bytes, v->cc.compute_seconds += cc.compute_seconds;
  v->challenge_seconds += mono_s() - t0;
  pthread_mutex_unlock(&v->mu);
  int nok = 0, nfail = 0;
  for (int i = 0; i < k; i++) nok += a[i].verdict == VERDICT_OK, nfail += a[i].verdict == VERDICT_FAIL;
  LOG(LOG_INFO,
      "step %ld: job %s (%d frames %dx%d, %d steps) to %d provers: %d ok, %d failed, %d unjudged (%s check) in %.3f s",
      step, job.job_id, job.frames, job.width, job.height, job.steps, k, nok, nfail, k - nok - nfail,
      v->chk.full ? "full" : "spot", mono_s() - t0);
  for (int i = 0; i < k; i++)
    LOG(a[i].verdict == VERDICT_OK ? LOG_DEBUG : LOG_INFO, "step %ld: %.16s... %s in %.3f s: %s", step, a[i].hotkey,
        verdict_name(a[i].verdict), a[i].seconds, a[i].reason);
  send_verdicts(n, step, &job, a, answered, reward, k);
out:
  free(body), free(rq), free(a), free(seconds), free(reward), free(ok), free(tier), free(answered), free(cand);
}

/* Whether a step may run: not while records wait in memory that neither Redis nor the journal takes
 * (each would be one more record that a crash loses); then it tries them again (under v->mu). */
static int store_ready(verifier *v, int *held)
{
  char why[512];
  if (store_get_health(v->db, why, sizeof why) != STORE_DOWN || store_flush(v->db, &v->st) == 0) {
    if (*held) LOG(LOG_INFO, "every record is durable again: steps go on");
    return *held = 0, 1;
  }
  store_get_health(v->db, why, sizeof why);
  if (!*held) LOG(LOG_ERROR, "steps wait: %s", why);
  v->steps_held++;
  return *held = 1, 0;
}

static void *loop_main(void *arg)
{
  verifier *v = (verifier *)arg;
  node *n = v->n;
  int held = 0;
  for (;;) {
    double t0 = mono_s();
    pthread_mutex_lock(&v->mu);
    int stop = v->stop, ready = !stop && store_ready(v, &held);
    pthread_mutex_unlock(&v->mu);
    if (stop) break;
    if (ready) run_step(v);
    pthread_mutex_lock(&v->mu);
    if (n->cfg.run_steps && v->steps_run >= (unsigned long long)n->cfg.run_steps && !v->stop) {
      LOG(LOG_INFO, "ran the %d steps asked for (run_steps): stopping", n->cfg.run_steps);
      v->stop = 1;
      kill(getpid(), SIGTERM);
    }
    double period = held && n->cfg.step_seconds < 1 ? 1 : n->cfg.step_seconds, left = period - (mono_s() - t0);
    if (left > 0 && !v->stop) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      double t = (double)until.tv_sec + 1e-9 * (double)until.tv_nsec + left;
      until.tv_sec = (time_t)t, until.tv_nsec = (long)((t - (double)(time_t)t) * 1e9);
      while (!v->stop && pthread_cond_timedwait(&v->wake, &v->mu, &until) == 0) {}
    }
    pthread_mutex_unlock(&v->mu);
  }
  return NULL;
}

/* ---- organic requests ---- */

typedef struct ranked {
  candidate c;
  int tier;
  double latency;
} ranked;

static int by_rank(const void *x, const void *y)
{
  const ranked *a = (const ranked *)x, *b = (const ranked *)y;
  if (a->tier != b->tier) return b->tier - a->tier;
  return (a->latency > b->latency) - (a->latency < b->latency);
}

/* The candidates that may take job: their /v1/info (fetched now for provers never asked) names this
 * model and numerics and limits that allow it, or is unknown. -1 (with fr_last_error) when there are
 * candidates and none may: the job is the client's to change, and no prover's failure. */
static int servable(verifier *v, const fr_job *job, candidate **out)
{
  node *n = v->n;
  int nc = candidates(n, out), nu = 0, ns = 0;
  candidate *c = *out, *unasked = (candidate *)calloc((size_t)nc + 1, sizeof *unasked);
  for (int i = 0; unasked && i < nc; i++)
    if (!peers_tried(&v->peers, c[i].hotkey)) unasked[nu++] = c[i];
  if (nu) peers_refresh(&v->peers, &n->key, unasked, nu, info_timeout_ms(n));
  free(unasked);
  fr_job_limits big = peers_largest(&v->peers, c, nc);
  for (int i = 0; i < nc; i++)
    if (peers_can_serve(&v->peers, c[i].hotkey, job, n->info.digest_hex)) c[ns++] = c[i];
  if (nc && !ns) {
    pthread_mutex_lock(&v->mu);
    v->organic_not_served++;
    pthread_mutex_unlock(&v->mu);
    if (!big.max_steps)
      return fr_fail(FR_EINVAL, "none of the %d provers serves model %s with numerics %s", nc, job->model,
                     job->numerics),
             -1;
    return fr_fail(
               FR_EINVAL,
               "no prover takes this job (%d steps, %d frames, %dx%d): the largest limits the %d provers publish are %d "
               "steps, %d frames, %dx%d",
               job->steps, job->frames, job->height, job->width, nc, big.max_steps, big.max_frames, big.max_height,
               big.max_width),
           -1;
  }
  return ns;
}

/* Checks a job from a client against this verifier's model and limits and fills in its model, size and a
 * fresh job id (the prover's cache key, `prefix` and 16 hex digits); 0, or the HTTP status with code and
 * message. */
int organic_job(node *n, fr_job *job, const char *prefix, const char **code, char *why, size_t whyn)
{
  verifier *v = V(n);
  fr_job_fill_size(v->chk.model, job); /* a size left out: the model's; the provers get it filled in */
  *code = "bad_request";
  if (job->model[0] && strcmp(job->model, n->info.digest_hex) != 0)
    return *code = "model_not_served", snprintf(why, whyn, "this verifier routes model %s", n->info.digest_hex), 422;
  if (!fr_numerics_listed(n->info.numerics, job->numerics))
    return *code = "numerics_not_served", snprintf(why, whyn, "this verifier checks %s", n->info.numerics), 422;
  if (job->height % n->info.vae_scale || job->width % n->info.vae_scale)
    return snprintf(why, whyn, "height and width must be multiples of %d", n->info.vae_scale), 400;
  snprintf(job->model, sizeof job->model, "%s", n->info.digest_hex);
  snprintf(job->job_id, sizeof job->job_id, "%s%08x%08x", prefix, randombytes_random(), randombytes_random());
  return 0;
}

int organic_run(node *n, const fr_job *job, const char *client, double check_p,
                void (*trying)(void *ctx, const char *hotkey, const char *endpoint), void *ctx, organic_result *out)
{
  verifier *v = V(n);
  memset(out, 0, sizeof *out);
  char why[512];
  pthread_mutex_lock(&v->mu);
  int down = store_get_health(v->db, why, sizeof why) == STORE_DOWN;
  if (down) v->organic_refused++;
  pthread_mutex_unlock(&v->mu);
  if (down) {
    snprintf(out->message, sizeof out->message, "this verifier cannot record outcomes now (%s); try again later", why);
    return out->code = "unavailable", out->status = 503;
  }
  candidate *cand;
  int nc = servable(v, job, &cand), nr = 0;
  if (nc < 0) {
    free(cand);
    snprintf(out->message, sizeof out->message, "%s", fr_last_error());
    return out->code = "job_not_served", out->status = 422;
  }
  ranked *r = (ranked *)calloc((size_t)nc + 1, sizeof *r);
  if (!r) return free(cand), out->code = "out_of_memory", out->status = 503;
  pthread_mutex_lock(&v->mu);
  for (int i = 0; i < nc; i++) {
    int idx = vstate_find(&v->st, cand[i].hotkey);
    prover_stats fresh;
    stats_init(&fresh);
    const prover_stats *s = idx >= 0 ? &v->st.stats[idx] : &fresh;
    if (s->inference_attempts >= s->request_limit) continue; /* its tier's limit for this interval */
    r[nr++] = (ranked){cand[i], s->tier, s->latency_ewma_ms > 0 ? s->latency_ewma_ms : INFINITY};
  }
  pthread_mutex_unlock(&v->mu);
  free(cand);
  qsort(r, (size_t)nr, sizeof *r, by_rank);
  if (!nr) {
    free(r);
    pthread_mutex_lock(&v->mu);
    v->organic_unrouted++;
    pthread_mutex_unlock(&v->mu);
    snprintf(out->message, sizeof out->message,
             "no prover can take the request now (none registered, or all at their request limit)");
    return out->code = "no_provers", out->status = 503;
  }
  size_t jlen = fr_job_to_json(job, NULL, 0) + 1;
  char *body = (char *)malloc(jlen);
  if (!body) return free(r), out->code = "out_of_memory", out->status = 503;
  fr_job_to_json(job, body, jlen);
  int tries = nr < n->cfg.organic_tries ? nr : n->cfg.organic_tries;
  char last[400] = "";
  for (int t = 0; t < tries && !out->mp4; t++) {
    fan_req rq = {.base_url = r[t].c.endpoint,
                  .peer_hotkey = r[t].c.hotkey,
                  .method = "POST",
                  .path = "/v1/generate",
                  .body = body,
                  .len = strlen(body)};
    if (trying) trying(ctx, r[t].c.hotkey, r[t].c.endpoint);
    answer *a = &out->a;
    memset(a, 0, sizeof *a);
    snprintf(a->hotkey, sizeof a->hotkey, "%s", r[t].c.hotkey);
    snprintf(a->endpoint, sizeof a->endpoint, "%s", r[t].c.endpoint);
    fanout(&n->key, &rq, 1, (long)(n->cfg.organic_timeout_s * 1e3), (size_t)n->cfg.max_response_mb << 20);
    peers_observe(&v->peers, a->hotkey, &rq);
    answer_from_generate(a, &rq, job, n->cfg.organic_timeout_s);
    check_counters cc = {0};
    check_answers(&v->chk, job, a, 1, check_p, &cc);
    int checked = a->checked_step >= 0 || v->chk.full, stale = unjudge_stale(v, a, 1);
    pthread_mutex_lock(&v->mu);
    v->stale_unjudged += (unsigned long long)stale;
    if (a->verdict != VERDICT_UNJUDGED) {
      int idx = vstate_add(&v->st, a->hotkey);
      if (idx >= 0) {
        record_inference(&v->st.stats[idx], a->verdict == VERDICT_OK, a->seconds);
        char *entry =
            checked ? entry_json("organic", v->st.step, v->chk.full ? "full" : "spot", job, a, NULL, 1, client) : NULL;
        update u = {&idx, 1, NULL, 0, 0, entry};
        store_commit(v->db, &v->st, &u);
        if (entry) ring_put(v->recent, RECENT_CHALLENGES, &v->recent_at, &v->nrecent, entry);
      }
    }
    if (a->verdict == VERDICT_OK) v->organic_ok++;
    else if (a->verdict == VERDICT_FAIL) v->organic_failed++;
    v->cc.recomputations += cc.recomputations, v->cc.decodes += cc.decodes, v->cc.generations += cc.generations;
    v->cc.reveals += cc.reveals, v->cc.reveal_bytes += cc.reveal_bytes, v->cc.compute_seconds += cc.compute_seconds;
    pthread_mutex_unlock(&v->mu);
    if (a->verdict == VERDICT_OK) {
      out->mp4 = rq.response, out->mp4_len = rq.response_len, out->checked = checked, out->full = v->chk.full;
      rq.response = NULL;
    } else {
      LOG(LOG_WARN, "organic request: prover %.16s... %s: %s", a->hotkey, verdict_name(a->verdict), a->reason);
      snprintf(last, sizeof last, "%.16s...: %s", a->hotkey, a->reason);
    }
    fan_free(&rq);
  }
  free(body), free(r);
  if (out->mp4) return out->status = 200;
  snprintf(out->message, sizeof out->message, "%d prover(s) tried, none gave a valid answer; the last: %s", tries,
           last);
  return out->code = "provers_failed", out->status = 502;
}

void organic_result_free(organic_result *r)
{
  free(r->mp4);
  r->mp4 = NULL;
  fr_result_free(&r->a.res);
}

static void generate(node *n, const http_request *req, http_response *resp)
{
  if (n->draining) return http_error(resp, 503, "shutting_down", "this node is shutting down");
  fr_job_limits lim = {n->cfg.max_steps, n->cfg.max_frames, n->cfg.max_height, n->cfg.max_width};
  fr_job job;
  if (fr_job_parse(req->body, req->len, &lim, &job) != FR_OK)
    return http_error(resp, 400, "bad_request", "%s", fr_last_error());
  char client_id[FR_JOB_ID_MAX + 1], why[512];
  const char *code;
  snprintf(client_id, sizeof client_id, "%s", job.job_id);
  int st = organic_job(n, &job, "o-", &code, why, sizeof why);
  if (st) return http_error(resp, st, code, "%s", why);
  organic_result o;
  organic_run(n, &job, req->sender, n->cfg.organic_check_p, NULL, NULL, &o);
  if (o.status != 200) {
    http_error(resp, o.status, o.code, "%s", o.message);
    if (o.status == 503) http_header(resp, "Retry-After", "10");
    return organic_result_free(&o);
  }
  char hex[33];
  resp->status = 200, resp->content_type = "video/mp4", resp->body = o.mp4, resp->len = o.mp4_len;
  o.mp4 = NULL;
  fr_hash_hex(o.a.res.digest, hex);
  http_header(resp, "Fractal-Digest", hex);
  fr_hash_hex(o.a.res.frames_hash, hex);
  http_header(resp, "Fractal-Frames-Hash", hex);
  http_header(resp, "Fractal-Model", job.model);
  http_header(resp, "Fractal-Job-Id", client_id);
  http_header(resp, "Fractal-Prover", o.a.hotkey);
  http_header(resp, "Fractal-Checked", o.checked ? (o.full ? "full" : "spot") : "no");
  organic_result_free(&o);
}

/* clang-format off */ /* a table: one entry per line */
static const http_route routes[] = {
  {"POST", "/v1/videos", HTTP_BEARER, videos_create}, {"GET", "/v1/videos", HTTP_BEARER, videos_list},
  {"GET", "/v1/videos/*", HTTP_BEARER, videos_get},     {"DELETE", "/v1/videos/*", HTTP_BEARER, videos_delete},
  {"GET", "/v1/videos/*/content", HTTP_BEARER, videos_content},
  {"POST", "/v1/generate", HTTP_SIGNED_ANY_KEY, generate},  {"GET", "/v1/info", 1, api_info},     {"GET", "/healthz", 0, api_healthz},
  {"GET", "/metrics", 0, api_metrics},    {"GET", "/v1/provers", 0, api_provers}, {"GET", "/v1/weights", 0, api_weights},
  {"GET", "/v1/history", 0, api_history}, {"GET", "/dashboard", 0, api_dashboard}, {"GET", "/", 0, api_dashboard},
};
/* clang-format on */

const http_route *verifier_routes(int *count)
{
  *count = (int)(sizeof routes / sizeof routes[0]);
  return routes;
}

/* Fetches every candidate's /v1/info every prover_info_s, until the verifier stops. */
static void *info_main(void *arg)
{
  verifier *v = (verifier *)arg;
  node *n = v->n;
  pthread_mutex_lock(&v->mu);
  while (!v->stop) {
    pthread_mutex_unlock(&v->mu);
    candidate *cand;
    int nc = candidates(n, &cand);
    peers_refresh(&v->peers, &n->key, cand, nc, info_timeout_ms(n));
    free(cand);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    double t = (double)until.tv_sec + 1e-9 * (double)until.tv_nsec + n->cfg.prover_info_s;
    until.tv_sec = (time_t)t, until.tv_nsec = (long)((t - (double)(time_t)t) * 1e9);
    pthread_mutex_lock(&v->mu);
    while (!v->stop && pthread_cond_timedwait(&v->wake, &v->mu, &until) == 0) {}
  }
  pthread_mutex_unlock(&v->mu);
  return NULL;
}

int verifier_start(node *n)
{
  if (sodium_init() < 0) return LOG(LOG_ERROR, "libsodium failed to initialise"), -1;
  if (n->cfg.challenge_height % n->info.vae_scale || n->cfg.challenge_width % n->info.vae_scale)
    return LOG(LOG_ERROR, "challenge_height and challenge_width must be multiples of %d for this model",
               n->info.vae_scale),
           -1;
  if (n->ndev > 1) LOG(LOG_WARN, "a verifier computes on its first device only (%s)", fr_backend_name(n->dev[0].be));
  verifier *v = (verifier *)calloc(1, sizeof *v);
  if (!v) return -1;
  v->n = n;
  pthread_mutex_init(&v->mu, NULL);
  pthread_mutex_init(&v->model_mu, NULL);
  pthread_cond_init(&v->wake, NULL);
  int full = strcmp(n->cfg.verify_mode, "full") == 0 ||
             (strcmp(n->cfg.verify_mode, "auto") == 0 && strncmp(fr_backend_name(n->dev[0].be), "cuda", 4) == 0);
  v->chk = (checker){&n->key,
                     n->dev[0].model,
                     &v->model_mu,
                     full,
                     n->cfg.timeout_s,
                     n->cfg.decode_check_p,
                     (size_t)n->cfg.max_response_mb << 20};
  v->speed = strcmp(n->cfg.speed_mode, "minmax") == 0 ? SPEED_MINMAX : SPEED_SIGMOID;
  v->started = wall_s();
  peers_init(&v->peers);
  signal(SIGXFSZ, SIG_IGN); /* a journal past the file size limit must fail its write (EFBIG), not end the process */
  fan_set_clock_offset(n->cfg.fault_clock_offset_s);
  if (n->cfg.fault_clock_offset_s != 0)
    LOG(LOG_WARN, "TESTS ONLY: this node's clock reads %+g s off (fault_clock_offset_s)", n->cfg.fault_clock_offset_s);
  store_opts so = {n->cfg.redis_host,   n->cfg.redis_port, n->cfg.redis_password, n->cfg.redis_insecure_no_password,
                   n->cfg.redis_prefix, n->cfg.journal,    n->cfg.stream_maxlen,  n->key.hotkey};
  char err[512];
  v->db = store_open(&so, n->cfg.redis_wait_s, &v->st, err, sizeof err);
  if (!v->db) {
    LOG(LOG_ERROR, "%s", err);
    peers_free(&v->peers);
    free(v);
    return -1;
  }
  store_recent_entries(v->db, RECENT_CHALLENGES, keep_recent, v);
  if (!v->st.next_interval_step) v->st.next_interval_step = v->st.step + n->cfg.interval;
  if (!v->st.next_epoch_step) v->st.next_epoch_step = v->st.step + n->cfg.epoch;
  n->role = v;
  LOG(LOG_INFO, "verifier: %s mode, step %ld, %d provers known, next interval at step %ld, next epoch at step %ld",
      full ? "full" : "spot", v->st.step, v->st.n, v->st.next_interval_step, v->st.next_epoch_step);
  if (pthread_create(&v->loop, NULL, loop_main, v) != 0) return LOG(LOG_ERROR, "cannot start the step loop"), -1;
  v->loop_running = 1;
  if (pthread_create(&v->info_loop, NULL, info_main, v) != 0)
    return LOG(LOG_ERROR, "cannot start the provers' info thread"), -1;
  v->info_running = 1;
  if (n->cfg.videos_api && !(v->videos = videos_start(n))) return LOG(LOG_ERROR, "cannot start the videos API"), -1;
  return 0;
}

void verifier_stop(node *n)
{
  verifier *v = V(n);
  if (!v) return;
  pthread_mutex_lock(&v->mu);
  v->stop = 1;
  pthread_cond_broadcast(&v->wake);
  pthread_mutex_unlock(&v->mu);
  if (v->loop_running) pthread_join(v->loop, NULL);
  if (v->info_running) pthread_join(v->info_loop, NULL);
  videos_stop(v->videos);
}

void verifier_free(node *n)
{
  verifier *v = V(n);
  if (!v) return;
  videos_free(v->videos);
  store_close(v->db);
  vstate_free(&v->st);
  peers_free(&v->peers);
  for (int i = 0; i < RECENT_CHALLENGES; i++) free(v->recent[i]);
  for (int i = 0; i < SCORE_HISTORY; i++) free(v->history[i]);
  pthread_mutex_destroy(&v->mu);
  pthread_mutex_destroy(&v->model_mu);
  pthread_cond_destroy(&v->wake);
  free(v);
  n->role = NULL;
}
