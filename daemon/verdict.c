/* Verdicts on provers' answers (see verdict.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "fractal/verify.h"
#include "fractal/protocol.h"
#include "log.h"
#include "fractal/client.h"
#include "verdict.h"

double random_unit(void)
{
  uint64_t r;
  randombytes_buf(&r, sizeof r);
  return (double)(r >> 11) * 0x1p-53;
}

static double mono_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Common to both kinds of reply: was there an answer, and a 200? */
static int answered_200(answer *a, const fan_req *r, double timeout_s)
{
  a->has_result = 0, a->verdict = VERDICT_FAIL, a->checked_step = -1, a->decode_checked = 0;
  a->stale_nonce = r->answered && r->status == 409 && r->response && strstr(r->response, "\"stale_nonce\"");
  if (!r->answered) {
    a->seconds = timeout_s;
    snprintf(a->reason, sizeof a->reason, "no answer: %s", r->error);
    return 0;
  }
  a->seconds = r->seconds;
  if (r->status != 200) {
    size_t len = r->response_len < 160 ? r->response_len : 160;
    snprintf(a->reason, sizeof a->reason, "HTTP %ld: %.*s", r->status, (int)len, r->response ? r->response : "");
    for (char *p = a->reason; *p; p++)
      if ((unsigned char)*p < 0x20) *p = ' ';
    return 0;
  }
  return 1;
}

static void self_consistent(answer *a)
{
  if (!fr_result_digest_ok(&a->res)) {
    a->has_result = 0;
    snprintf(a->reason, sizeof a->reason, "the digest is not the digest of the claimed hashes");
  }
}

void answer_from_challenge(answer *a, const fan_req *r, const fr_job *job, double timeout_s)
{
  if (!answered_200(a, r, timeout_s)) return;
  if (fr_result_parse(r->response, r->response_len, job, &a->res) != FR_OK) {
    snprintf(a->reason, sizeof a->reason, "malformed: %s", fr_last_error());
    return;
  }
  a->has_result = 1;
  self_consistent(a);
}

void answer_from_generate(answer *a, const fan_req *r, const fr_job *job, double timeout_s)
{
  if (!answered_200(a, r, timeout_s)) return;
  size_t cap = (size_t)job->steps * 33 + 64;
  char *chain = (char *)malloc(cap), digest[80], frames[80], model[80], type[80];
  if (!chain) return (void)snprintf(a->reason, sizeof a->reason, "out of memory");
  memset(&a->res, 0, sizeof a->res);
  a->res.job = *job, a->res.steps = job->steps;
  const char *bad = NULL;
  if (fan_header(r, "Content-Type", type, sizeof type) || strcmp(type, "video/mp4") != 0) bad = "not video/mp4";
  else if (fan_header(r, "Fractal-Model", model, sizeof model) || strcmp(model, job->model) != 0)
    bad = "Fractal-Model is not the job's model";
  else if (fan_header(r, "Fractal-Digest", digest, sizeof digest) || fr_hash_parse(digest, &a->res.digest))
    bad = "no valid Fractal-Digest";
  else if (fan_header(r, "Fractal-Frames-Hash", frames, sizeof frames) || fr_hash_parse(frames, &a->res.frames_hash))
    bad = "no valid Fractal-Frames-Hash";
  else if (fan_header(r, "Fractal-Step-Hashes", chain, cap) || strlen(chain) != (size_t)job->steps * 33 - 1)
    bad = "Fractal-Step-Hashes is not the job's chain";
  else if (r->response_len == 0) bad = "an empty video";
  for (int k = 0; !bad && k < job->steps; k++) {
    char h[33];
    memcpy(h, chain + 33 * k, 32), h[32] = '\0';
    if (fr_hash_parse(h, &a->res.step_hashes[k]) || (k + 1 < job->steps && chain[33 * k + 32] != ','))
      bad = "Fractal-Step-Hashes is not the job's chain";
  }
  free(chain);
  if (bad) return (void)snprintf(a->reason, sizeof a->reason, "malformed: %s", bad);
  a->has_result = 1;
  self_consistent(a);
}

static int same_chain(const fr_result *x, const fr_result *y)
{
  return fr_hash_equal(x->digest, y->digest) && fr_hash_equal(x->frames_hash, y->frames_hash) &&
         memcmp(x->step_hashes, y->step_hashes, sizeof x->step_hashes[0] * (size_t)x->steps) == 0;
}

static void check_full(const checker *c, const fr_job *job, answer *a, int n, check_counters *cnt)
{
  fr_result mine;
  double t0 = mono_s();
  pthread_mutex_lock(c->model_mu);
  fr_status st = fr_generate(c->model, job, 1, NULL, &mine);
  pthread_mutex_unlock(c->model_mu);
  if (st == FR_OK) fr_result_seal(&mine);
  cnt->generations++, cnt->compute_seconds += mono_s() - t0;
  for (int i = 0; i < n; i++) {
    if (!a[i].has_result) continue;
    if (st != FR_OK) {
      snprintf(a[i].reason, sizeof a[i].reason, "not judged: the verifier's own generation failed: %s",
               fr_last_error());
      a[i].has_result = 0, a[i].verdict = VERDICT_UNJUDGED;
      continue;
    }
    a[i].verdict = fr_hash_equal(mine.digest, a[i].res.digest) ? VERDICT_OK : VERDICT_FAIL;
    if (a[i].verdict == VERDICT_OK) {
      snprintf(a[i].reason, sizeof a[i].reason, "the digest matches the verifier's generation");
      continue;
    }
    int k = 0;
    while (k < job->steps && fr_hash_equal(mine.step_hashes[k], a[i].res.step_hashes[k])) k++;
    if (k < job->steps) snprintf(a[i].reason, sizeof a[i].reason, "the chain diverges at step %d", k);
    else snprintf(a[i].reason, sizeof a[i].reason, "the frames differ");
  }
  if (st == FR_OK) fr_result_free(&mine);
}

/* Spot-checks one group of identical chains: every member reveals the latents, one recomputation. */
static void check_group(const checker *c, const fr_job *job, answer *a, const int *mem, int m, check_counters *cnt)
{
  int steps = job->steps, s = (int)randombytes_uniform((uint32_t)steps);
  fr_check_plan plan; /* s is in range: the plan cannot fail */
  (void)fr_check_plan_make(c->model, job, s, random_unit() < c->decode_check_p, &plan);
  int prev = plan.needs_previous, decode = plan.decode, nw = plan.nreveal;
  const int *want = plan.reveal; /* latents entering these steps; 0 is the job's noise, which needs no reveal */
  size_t nl = fr_latent_count(c->model, job);
  fan_req *rq = (fan_req *)calloc((size_t)m * (size_t)nw + 1, sizeof *rq);
  char(*body)[160] = (char(*)[160])calloc((size_t)m * (size_t)nw + 1, sizeof *body);
  float *noise = (float *)malloc(nl * sizeof(float));
  int *ok = (int *)calloc((size_t)m, sizeof(int));
  if (!rq || !body || !noise || !ok) {
    for (int j = 0; j < m; j++)
      a[mem[j]].verdict = VERDICT_UNJUDGED,
      snprintf(a[mem[j]].reason, sizeof a[mem[j]].reason, "not judged: out of memory");
    free(rq), free(body), free(noise), free(ok);
    return;
  }
  for (int j = 0; j < m; j++)
    for (int w = 0; w < nw; w++) {
      fan_req *r = &rq[j * nw + w];
      fr_reveal_body(job->job_id, want[w], body[j * nw + w], sizeof body[0]);
      r->base_url = a[mem[j]].endpoint, r->peer_hotkey = a[mem[j]].hotkey, r->method = "POST", r->path = "/v1/reveal";
      r->body = body[j * nw + w], r->len = strlen(body[j * nw + w]);
    }
  if (nw) fanout(c->key, rq, m * nw, (long)(c->timeout_s * 1e3), nl * sizeof(float) + 4096);
  int first = -1;
  for (int j = 0; j < m; j++) {
    answer *aj = &a[mem[j]];
    ok[j] = 1;
    for (int w = 0; w < nw && ok[j]; w++) {
      fan_req *r = &rq[j * nw + w];
      cnt->reveals++, cnt->reveal_bytes += r->response_len;
      const char *why = !r->answered                            ? r->error
                        : r->status != 200                      ? "refused"
                        : r->response_len != nl * sizeof(float) ? "wrong size"
                                                                : NULL;
      /* cppcheck-suppress invalidPointerCast ; the body is malloc'd (aligned) fp32 little-endian, checked for size */
      if (!why && !fr_latent_in_chain(&aj->res, want[w], (const float *)r->response, nl))
        why = "not the latent the chain claims";
      if (why) {
        char http[32] = "";
        if (r->answered && r->status != 200) snprintf(http, sizeof http, " (HTTP %ld)", r->status);
        ok[j] = 0, aj->verdict = VERDICT_FAIL;
        snprintf(aj->reason, sizeof aj->reason, "reveal of the latent entering step %d: %s%s", want[w], why, http);
      }
    }
    if (ok[j] && first < 0) first = j;
  }
  if (first >= 0) {
    fr_initial_noise(job->seed, noise, nl);
    const float *lat[FR_JOB_STEPS_MAX + 1] = {0};
    lat[0] = noise;
    /* cppcheck-suppress invalidPointerCast ; as above: malloc'd fp32 bodies of the checked size */
    for (int w = 0; w < nw; w++) lat[want[w]] = (const float *)rq[first * nw + w].response;
    fr_check step_check, dec_check = {FR_CHECK_OK, ""};
    double t0 = mono_s();
    pthread_mutex_lock(c->model_mu);
    fr_status st = fr_check_step(c->model, &a[mem[first]].res, s, prev ? lat[s - 1] : NULL, lat[s], &step_check);
    if (st == FR_OK && step_check.verdict == FR_CHECK_OK && decode)
      st = fr_check_decode(c->model, &a[mem[first]].res, lat[steps], &dec_check);
    pthread_mutex_unlock(c->model_mu);
    cnt->recomputations++, cnt->decodes += decode, cnt->compute_seconds += mono_s() - t0;
    if (st != FR_OK) LOG(LOG_ERROR, "spot check of job %s: %s", job->job_id, fr_last_error());
    for (int j = 0; j < m; j++) {
      if (!ok[j]) continue;
      answer *aj = &a[mem[j]];
      aj->checked_step = s, aj->decode_checked = decode;
      if (st != FR_OK) {
        aj->verdict = VERDICT_UNJUDGED;
        snprintf(aj->reason, sizeof aj->reason, "not judged: the verifier's recomputation failed: %s", fr_last_error());
      } else if (step_check.verdict != FR_CHECK_OK) {
        aj->verdict = VERDICT_FAIL;
        snprintf(aj->reason, sizeof aj->reason, "%s", step_check.message);
      } else {
        aj->verdict = dec_check.verdict == FR_CHECK_OK ? VERDICT_OK : VERDICT_FAIL;
        snprintf(aj->reason, sizeof aj->reason, "%s%s%s", step_check.message, decode ? "; " : "",
                 decode ? dec_check.message : "");
      }
    }
  }
  for (int i = 0; i < m * nw; i++) fan_free(&rq[i]);
  free(rq), free(body), free(noise), free(ok);
}

void check_answers(const checker *c, const fr_job *job, answer *a, int n, double spot_p, check_counters *cnt)
{
  int any = 0;
  for (int i = 0; i < n; i++) {
    a[i].verdict = VERDICT_FAIL, a[i].checked_step = -1, a[i].decode_checked = 0;
    any |= a[i].has_result;
  }
  if (!any) return;
  if (c->full) return check_full(c, job, a, n, cnt);
  int *mem = (int *)malloc(sizeof(int) * (size_t)n), *done = (int *)calloc((size_t)n, sizeof(int));
  if (!mem || !done) {
    for (int i = 0; i < n; i++)
      a[i].verdict = VERDICT_UNJUDGED, snprintf(a[i].reason, sizeof a[i].reason, "not judged: out of memory");
    free(mem), free(done);
    return;
  }
  for (int i = 0; i < n; i++) {
    if (!a[i].has_result || done[i]) continue;
    int m = 0;
    for (int j = i; j < n; j++)
      if (a[j].has_result && !done[j] && same_chain(&a[i].res, &a[j].res)) mem[m++] = j, done[j] = 1;
    if (spot_p < 1 && random_unit() >= spot_p) {
      for (int j = 0; j < m; j++)
        a[mem[j]].verdict = VERDICT_OK, snprintf(a[mem[j]].reason, sizeof a[mem[j]].reason, "not spot-checked");
      continue;
    }
    check_group(c, job, a, mem, m, cnt);
  }
  free(mem), free(done);
}
