/* The verifier's read-only endpoints: /healthz, /v1/info, /v1/provers, /v1/weights, /v1/history,
 * /metrics and the dashboard (an HTML page embedded at build time from dashboard.html). Only /v1/info
 * needs a signature. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fractal/version.h"
#include "verifier.h"

extern const unsigned char dashboard_html[];
extern const size_t dashboard_html_len;

static verifier *V(node *n) { return (verifier *)n->role; }

/* 200 "ok" (or "ok (redis unreachable: journaling)": every record is durable in the journal); 503 when the
 * verifier cannot do its work right: records that nothing durable takes, a Redis holding another state,
 * or a clock off from most provers' (each named in the body), or while it shuts down. */
void api_healthz(node *n, const http_request *req, http_response *resp)
{
  verifier *v = V(n);
  char why[512], text[1200] = "";
  pthread_mutex_lock(&v->mu);
  store_health h = store_get_health(v->db, why, sizeof why);
  clock_view cv = v->clock;
  pthread_mutex_unlock(&v->mu);
  int bad = h == STORE_DOWN || h == STORE_FOREIGN || cv.skewed;
  if (n->draining) snprintf(text, sizeof text, "draining\n");
  else if (!bad) snprintf(text, sizeof text, h == STORE_JOURNALING ? "ok (%s)\n" : "ok\n", why);
  else {
    size_t at = (size_t)snprintf(text, sizeof text, "unhealthy: ");
    if (h == STORE_DOWN || h == STORE_FOREIGN)
      at += (size_t)snprintf(text + at, sizeof text - at, "%s%s", why, cv.skewed ? "; " : "");
    if (cv.skewed)
      snprintf(text + at, sizeof text - at,
               "clock: this node's clock is %.0f s %s the clocks of %d of %d provers (nonce window %d s): "
               "their stale_nonce answers are not judged",
               fabs(cv.median_s), cv.median_s > 0 ? "behind" : "ahead of", cv.off, cv.measured, n->cfg.nonce_window_s);
    snprintf(text + strlen(text), sizeof text - strlen(text), "\n");
  }
  resp->status = n->draining || bad ? 503 : 200, resp->content_type = "text/plain";
  resp->body = strdup(text);
  resp->len = resp->body ? strlen(resp->body) : 0;
}

void api_info(node *n, const http_request *req, http_response *resp)
{
  verifier *v = V(n);
  char *body = (char *)malloc(1024);
  pthread_mutex_lock(&v->mu);
  if (body)
    snprintf(body, 1024,
             "{\"hotkey\":\"%s\",\"role\":\"verifier\",\"model\":\"%s\",\"numerics\":\"%s\",\"verify_mode\":\"%s\","
             "\"step\":%ld,\"version\":\"%s\"}",
             n->key.hotkey, n->info.digest_hex, n->info.numerics, v->chk.full ? "full" : "spot", v->st.step,
             fr_build_info()->version);
  pthread_mutex_unlock(&v->mu);
  http_json(resp, 200, body);
}

static void reply_json(http_response *resp, json_t *o)
{
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!s) return http_error(resp, 503, "out_of_memory", "out of memory");
  http_json(resp, 200, s);
}

static json_t *prover_json(const char *hotkey, const prover_stats *s, const fr_node *reg)
{
  json_t *p = json_object();
  json_object_set_new(p, "hotkey", json_string(hotkey));
  json_object_set_new(p, "endpoint", json_string(reg ? reg->endpoint : ""));
  json_object_set_new(p, "registered", json_boolean(reg != NULL));
  json_object_set_new(p, "tier", json_string(tiers[s->tier].name));
  json_object_set_new(p, "tier_index", json_integer(s->tier));
  json_object_set_new(p, "score", json_real(s->score));
  json_object_set_new(p, "weight", json_real(s->weight));
  json_object_set_new(p, "latency_ewma_ms", json_real(s->latency_ewma_ms));
  json_object_set_new(p, "challenge_attempts", json_integer(s->challenge_attempts));
  json_object_set_new(p, "challenge_successes", json_integer(s->challenge_successes));
  json_object_set_new(p, "success_rate",
                      s->challenge_attempts ? json_real((double)s->challenge_successes / (double)s->challenge_attempts)
                                            : json_null());
  json_object_set_new(p, "inference_attempts", json_integer(s->inference_attempts));
  json_object_set_new(p, "inference_successes", json_integer(s->inference_successes));
  json_object_set_new(p, "interval_successes", json_integer(s->interval_successes));
  json_object_set_new(p, "total_successes", json_integer(s->total_successes));
  json_object_set_new(p, "request_limit", json_integer(s->request_limit));
  json_object_set_new(p, "last_epoch_step", json_integer(s->last_epoch_step));
  return p;
}

/* ---- the dashboard's rings ---- */

/* Keeps a malloc'd string in a ring of `cap` (under v->mu); takes ownership. */
void ring_put(char **ring, int cap, int *at, int *count, char *s)
{
  free(ring[*at]);
  ring[*at] = s;
  *at = (*at + 1) % cap;
  if (*count < cap) (*count)++;
}

char *scores_sample(const vstate *st)
{
  json_t *o = json_object(), *sc = json_object();
  for (int i = 0; i < st->n; i++) json_object_set_new(sc, st->hotkey[i], json_real(st->stats[i].score));
  json_object_set_new(o, "step", json_integer(st->step));
  json_object_set_new(o, "time", json_real((double)fr_now_ns() * 1e-9));
  json_object_set_new(o, "scores", sc);
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}

void keep_recent(void *ctx, const char *json)
{
  verifier *v = (verifier *)ctx;
  char *copy = strdup(json);
  if (copy) ring_put(v->recent, RECENT_CHALLENGES, &v->recent_at, &v->nrecent, copy);
}

/* ---- endpoints ---- */

void api_provers(node *n, const http_request *req, http_response *resp)
{
  verifier *v = V(n);
  json_t *o = json_object(), *list = json_array();
  pthread_mutex_lock(&v->mu); /* lock order: the verifier's, then the registry's */
  pthread_rwlock_rdlock(&n->registry_lock);
  const vstate *st = &v->st;
  for (int i = 0; i < st->n; i++)
    json_array_append_new(list,
                          prover_json(st->hotkey[i], &st->stats[i], fr_registry_find(&n->registry, st->hotkey[i])));
  for (int i = 0; i < n->registry.n; i++) { /* registered provers not challenged yet */
    const fr_node *e = &n->registry.nodes[i];
    if (e->role != FR_ROLE_PROVER || vstate_find(st, e->hotkey) >= 0 || strcmp(e->hotkey, n->key.hotkey) == 0) continue;
    prover_stats fresh;
    stats_init(&fresh);
    json_array_append_new(list, prover_json(e->hotkey, &fresh, e));
  }
  json_object_set_new(o, "verifier", json_string(n->key.hotkey));
  json_object_set_new(o, "model", json_string(n->info.digest_hex));
  json_object_set_new(o, "verify_mode", json_string(v->chk.full ? "full" : "spot"));
  json_object_set_new(o, "step", json_integer(st->step));
  json_object_set_new(o, "next_interval_step", json_integer(st->next_interval_step));
  json_object_set_new(o, "next_epoch_step", json_integer(st->next_epoch_step));
  json_object_set_new(o, "weights_version", json_integer((json_int_t)st->weights_version));
  char why[512];
  store_health h = store_get_health(v->db, why, sizeof why);
  json_object_set_new(o, "redis", json_string(h == STORE_OK ? "ok" : why));
  json_object_set_new(o, "started", json_real(v->started));
  pthread_rwlock_unlock(&n->registry_lock);
  pthread_mutex_unlock(&v->mu);
  json_object_set_new(o, "provers", list);
  reply_json(resp, o);
}

void api_weights(node *n, const http_request *req, http_response *resp)
{
  verifier *v = V(n);
  json_t *o = json_object(), *w = json_object();
  pthread_mutex_lock(&v->mu);
  for (int i = 0; i < v->st.n; i++) json_object_set_new(w, v->st.hotkey[i], json_real(v->st.stats[i].weight));
  json_object_set_new(o, "version", json_integer((json_int_t)v->st.weights_version));
  json_object_set_new(o, "step", json_integer(v->st.step));
  pthread_mutex_unlock(&v->mu);
  json_object_set_new(o, "weights", w);
  reply_json(resp, o);
}

/* Appends ring entries, oldest first (or newest first), as a JSON array to a growing string. */
static char *ring_array(char *const *ring, int cap, int at, int count, int newest_first, char *out, size_t *len,
                        size_t *size)
{
  for (int k = 0; k < count && out; k++) {
    int idx = newest_first ? (at - 1 - k + 2 * cap) % cap : (at - count + k + 2 * cap) % cap;
    size_t add = strlen(ring[idx]) + 2;
    if (*len + add + 64 > *size) {
      *size = (*len + add + 64) * 2;
      char *bigger = (char *)realloc(out, *size);
      if (!bigger) return free(out), NULL;
      out = bigger;
    }
    *len += (size_t)snprintf(out + *len, *size - *len, "%s%s", k ? "," : "", ring[idx]);
  }
  return out;
}

void api_history(node *n, const http_request *req, http_response *resp)
{
  verifier *v = V(n);
  size_t size = 4096, len = 0;
  char *out = (char *)malloc(size);
  if (!out) return http_error(resp, 503, "out_of_memory", "out of memory");
  len = (size_t)snprintf(out, size, "{\"scores\":[");
  pthread_mutex_lock(&v->mu);
  out = ring_array(v->history, SCORE_HISTORY, v->history_at, v->nhistory, 0, out, &len, &size);
  if (out) len += (size_t)snprintf(out + len, size - len, "],\"challenges\":[");
  if (out) out = ring_array(v->recent, RECENT_CHALLENGES, v->recent_at, v->nrecent, 1, out, &len, &size);
  pthread_mutex_unlock(&v->mu);
  /* the key prefix, for the dashboard's fractal-replay commands */
  json_t *pj = json_string(n->cfg.redis_prefix);
  char *prefix = pj ? json_dumps(pj, JSON_ENCODE_ANY) : NULL;
  json_decref(pj);
  size_t need = len + (prefix ? strlen(prefix) : 2) + 32;
  char *grown = out && need > size ? (char *)realloc(out, need) : out;
  if (!grown) free(out);
  out = grown, size = need > size ? need : size;
  if (out) len += (size_t)snprintf(out + len, size - len, "],\"redis_prefix\":%s}", prefix ? prefix : "\"\"");
  free(prefix);
  if (!out) return http_error(resp, 503, "out_of_memory", "out of memory");
  http_json(resp, 200, out);
}

void api_metrics(node *n, const http_request *req, http_response *resp)
{
  verifier *v = V(n);
  pthread_mutex_lock(&v->mu);
  size_t cap = 16384 + (size_t)v->st.n * 400, at = 0;
  char *x = (char *)malloc(cap);
  if (!x) {
    pthread_mutex_unlock(&v->mu);
    return http_error(resp, 503, "out_of_memory", "out of memory");
  }
#define OUT(...) (at += (size_t)snprintf(x + at, at < cap ? cap - at : 0, __VA_ARGS__))
#define METRIC(name, type, help) OUT("# HELP " name " " help "\n# TYPE " name " " type "\n")
  store_counters sc = store_get_counters(v->db);
  char why[512];
  store_health h = store_get_health(v->db, why, sizeof why);
  METRIC("fractal_verifier_step", "gauge", "The verifier's step counter.");
  OUT("fractal_verifier_step %ld\n", v->st.step);
  METRIC("fractal_verifier_steps_total", "counter", "Steps run since start.");
  OUT("fractal_verifier_steps_total %llu\n", v->steps_run);
  METRIC("fractal_verifier_challenges_total", "counter", "Challenges sent to provers since start.");
  OUT("fractal_verifier_challenges_total %llu\n", v->challenges_sent);
  METRIC("fractal_verifier_verdicts_total", "counter", "Challenge verdicts since start.");
  OUT("fractal_verifier_verdicts_total{verdict=\"ok\"} %llu\nfractal_verifier_verdicts_total{verdict=\"fail\"} %llu\n"
      "fractal_verifier_verdicts_total{verdict=\"unjudged\"} %llu\n",
      v->verdicts_ok, v->verdicts_failed, v->unjudged);
  METRIC("fractal_verifier_organic_total", "counter",
         "Organic requests, by outcome (one per prover tried; not_served: no prover's limits allow the job).");
  OUT("fractal_verifier_organic_total{outcome=\"ok\"} %llu\nfractal_verifier_organic_total{outcome=\"failed\"} %llu\n"
      "fractal_verifier_organic_total{outcome=\"unrouted\"} %llu\nfractal_verifier_organic_total{outcome=\"not_served\"} %llu\n"
      "fractal_verifier_organic_total{outcome=\"refused\"} %llu\n",
      v->organic_ok, v->organic_failed, v->organic_unrouted, v->organic_not_served, v->organic_refused);
  METRIC("fractal_verifier_step_seconds_total", "counter", "Wall time spent in steps (fan-out, verdicts, record).");
  OUT("fractal_verifier_step_seconds_total %.6f\n", v->challenge_seconds);
  METRIC("fractal_verifier_compute_seconds_total", "counter",
         "Device time spent recomputing, decoding and generating.");
  OUT("fractal_verifier_compute_seconds_total %.6f\n", v->cc.compute_seconds);
  METRIC("fractal_verifier_recomputations_total", "counter",
         "Spot checks computed (one per group of identical chains).");
  OUT("fractal_verifier_recomputations_total{kind=\"step\"} %llu\nfractal_verifier_recomputations_total{kind=\"decode\"} %llu\n"
      "fractal_verifier_recomputations_total{kind=\"generation\"} %llu\n",
      v->cc.recomputations, v->cc.decodes, v->cc.generations);
  METRIC("fractal_verifier_reveals_total", "counter", "Latents revealed by provers.");
  OUT("fractal_verifier_reveals_total %llu\n", v->cc.reveals);
  METRIC("fractal_verifier_reveal_bytes_total", "counter", "Bytes of revealed latents.");
  OUT("fractal_verifier_reveal_bytes_total %llu\n", v->cc.reveal_bytes);
  METRIC("fractal_verifier_redis_up", "gauge", "1 when Redis answers and the journal is empty.");
  OUT("fractal_verifier_redis_up %d\n", h == STORE_OK);
  METRIC("fractal_verifier_store_state", "gauge",
         "1 for the store's state: ok, journaling, foreign (Redis holds another state) or down.");
  const char *states[] = {"ok", "journaling", "foreign", "down"};
  for (int i = 0; i < 4; i++) OUT("fractal_verifier_store_state{state=\"%s\"} %d\n", states[i], (int)h == i);
  METRIC("fractal_verifier_records_waiting", "gauge",
         "Records durable nowhere yet (neither Redis nor the journal takes them).");
  OUT("fractal_verifier_records_waiting %llu\n", (unsigned long long)sc.waiting);
  METRIC("fractal_verifier_steps_held_total", "counter", "Step slots skipped because records were waiting in memory.");
  OUT("fractal_verifier_steps_held_total %llu\n", v->steps_held);
  METRIC("fractal_verifier_write_backs_total", "counter",
         "Whole-state write-backs after Redis lost records or held none.");
  OUT("fractal_verifier_write_backs_total %llu\n", (unsigned long long)sc.write_backs);
  METRIC("fractal_verifier_write_back_entries_total", "counter", "Challenge log entries written back with them.");
  OUT("fractal_verifier_write_back_entries_total %llu\n", (unsigned long long)sc.write_back_entries);
  METRIC("fractal_verifier_journal_unreadable_total", "counter",
         "Journal stretches that were no readable record (reported, kept in JOURNAL.rejected).");
  OUT("fractal_verifier_journal_unreadable_total %llu\n", (unsigned long long)sc.journal_unreadable);
  METRIC("fractal_verifier_journal_torn_writes_total", "counter",
         "Journal appends cut short (a full disk), cut back to the last good record.");
  OUT("fractal_verifier_journal_torn_writes_total %llu\n", (unsigned long long)sc.journal_torn_writes);
  METRIC("fractal_verifier_redis_invalid_total", "counter",
         "Entries read from Redis that were not valid: skipped (or, for the state, refused).");
  OUT("fractal_verifier_redis_invalid_total{what=\"state\"} %llu\nfractal_verifier_redis_invalid_total{what=\"stats\"} %llu\n"
      "fractal_verifier_redis_invalid_total{what=\"scores\"} %llu\nfractal_verifier_redis_invalid_total{what=\"weights\"} %llu\n"
      "fractal_verifier_redis_invalid_total{what=\"challenge_log\"} %llu\n",
      (unsigned long long)sc.bad_state, (unsigned long long)sc.bad_stats, (unsigned long long)sc.bad_scores,
      (unsigned long long)sc.bad_weights, (unsigned long long)sc.bad_log);
  METRIC("fractal_verifier_clock_offset_seconds", "gauge",
         "Median of the provers' clocks minus this node's (their answers' Date headers).");
  OUT("fractal_verifier_clock_offset_seconds %.1f\n", v->clock.median_s);
  METRIC("fractal_verifier_clock_skewed", "gauge",
         "1 when most provers' clocks are more than nonce_window_s from this node's.");
  OUT("fractal_verifier_clock_skewed %d\n", v->clock.skewed);
  METRIC("fractal_verifier_stale_unjudged_total", "counter",
         "stale_nonce answers not judged while this node's clock was off.");
  OUT("fractal_verifier_stale_unjudged_total %llu\n", v->stale_unjudged);
  METRIC("fractal_verifier_records_total", "counter", "State changes recorded (one Redis transaction each).");
  OUT("fractal_verifier_records_total %llu\n", (unsigned long long)sc.records);
  METRIC("fractal_verifier_redis_commands_total", "counter", "Redis commands sent.");
  OUT("fractal_verifier_redis_commands_total %llu\n", (unsigned long long)sc.commands);
  METRIC("fractal_verifier_redis_round_trips_total", "counter", "Redis round trips (pipelined batches).");
  OUT("fractal_verifier_redis_round_trips_total %llu\n", (unsigned long long)sc.round_trips);
  METRIC("fractal_verifier_journaled_total", "counter", "Records written to the journal while Redis was away.");
  OUT("fractal_verifier_journaled_total %llu\n", (unsigned long long)sc.journaled);
  METRIC("fractal_verifier_replayed_total", "counter", "Journal records replayed into Redis.");
  OUT("fractal_verifier_replayed_total %llu\n", (unsigned long long)sc.replayed);
  METRIC("fractal_prover_score", "gauge", "Each prover's score.");
  for (int i = 0; i < v->st.n; i++)
    OUT("fractal_prover_score{hotkey=\"%s\"} %.9g\n", v->st.hotkey[i], v->st.stats[i].score);
  METRIC("fractal_prover_tier", "gauge", "Each prover's tier (0 Bronze ... 10 Challenger).");
  for (int i = 0; i < v->st.n; i++)
    OUT("fractal_prover_tier{hotkey=\"%s\"} %d\n", v->st.hotkey[i], v->st.stats[i].tier);
#undef METRIC
#undef OUT
  pthread_mutex_unlock(&v->mu);
  if (at < cap) videos_metrics(v->videos, x, cap);
  const char *names[NODE_MAX_DEVICES];
  for (int d = 0; d < n->ndev; d++) names[d] = fr_backend_name(n->dev[d].be);
  resp->status = 200, resp->content_type = "text/plain; version=0.0.4";
  resp->body = metrics_text(&n->metrics, names, n->ndev, x);
  resp->len = resp->body ? strlen(resp->body) : 0;
  free(x);
}

void api_dashboard(node *n, const http_request *req, http_response *resp)
{
  resp->body = (char *)malloc(dashboard_html_len);
  if (!resp->body) return http_error(resp, 503, "out_of_memory", "out of memory");
  memcpy(resp->body, dashboard_html, dashboard_html_len);
  resp->status = 200, resp->content_type = "text/html; charset=utf-8", resp->len = dashboard_html_len;
  http_header(resp, "Cache-Control", "no-store");
  http_header(resp, "Content-Security-Policy",
              "default-src 'self'; img-src 'self' data:; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
}
