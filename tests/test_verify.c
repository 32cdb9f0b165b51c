/* Checking a prover's answer on the tiny model: a result's JSON parses back exactly and every way it
 * can be malformed is refused; latents are recognised in their chain (the initial noise bit for bit);
 * every step of an honest chain checks out (DPM-Solver++ first and second order, DDIM), a wrong latent
 * or a wrong hash is caught as such; the decode check passes honest frames and catches others. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "fractal/modelgen.h"
#include "fractal/verify.h"
#include "fractal/protocol.h"
#include "sealed.h"
#include "testutil.h"

typedef struct capture {
  float *lat[8];
  size_t n;
} capture;

static void on_latent(void *ctx, int job, int step, const float *x, size_t n)
{
  capture *c = (capture *)ctx;
  c->n = n;
  c->lat[step] = (float *)malloc(n * sizeof(float));
  memcpy(c->lat[step], x, n * sizeof(float));
}

static char *to_json(const fr_result *r)
{
  size_t n = fr_result_to_json(r, NULL, 0) + 1;
  char *s = (char *)malloc(n);
  fr_result_to_json(r, s, n);
  return s;
}

/* json with the first occurrence of `from` replaced by `to` */
static char *edit(const char *json, const char *from, const char *to)
{
  const char *at = strstr(json, from);
  if (!at) return NULL;
  size_t n = strlen(json) - strlen(from) + strlen(to) + 1;
  char *s = (char *)malloc(n);
  snprintf(s, n, "%.*s%s%s", (int)(at - json), json, to, at + strlen(from));
  return s;
}

static void refuse(const char *json, const fr_job *job, const char *want, const char *what)
{
  fr_result r;
  fr_status st = json ? fr_result_parse(json, strlen(json), job, &r) : FR_EINVAL;
  CHECK(json && st == FR_EINVAL && strstr(fr_last_error(), want), "%s: %s", what,
        !json         ? "edit failed"
        : st == FR_OK ? "accepted"
                      : fr_last_error());
}

static void check_chain(fr_model *m, const fr_job *job)
{
  capture cap = {0};
  fr_observer obs = {&cap, NULL, NULL, on_latent, NULL, NULL};
  fr_run_options ro = {.observer = &obs};
  fr_result res, parsed;
  CHECK_OK(generate_sealed(m, job, 1, &ro, &res));
  CHECK(cap.n == fr_latent_count(m, job), "latent count %zu vs %zu", cap.n, fr_latent_count(m, job));

  char *json = to_json(&res);
  CHECK_OK(fr_result_parse(json, strlen(json), job, &parsed));
  CHECK(fr_hash_equal(parsed.digest, res.digest) && fr_hash_equal(parsed.frames_hash, res.frames_hash) &&
            strcmp(parsed.job.model, res.job.model) == 0 && parsed.steps == job->steps,
        "the result parses back");
  for (int k = 0; k < job->steps; k++)
    CHECK(fr_hash_equal(parsed.step_hashes[k], res.step_hashes[k]), "step hash %d", k);
  for (int f = 0; f < job->frames; f++)
    CHECK(fr_hash_equal(parsed.frame_hashes[f], res.frame_hashes[f]), "frame hash %d", f);
  CHECK(fr_result_digest_ok(&parsed), "an honest digest is the digest of its content");

  float *noise = (float *)malloc(cap.n * sizeof(float));
  fr_initial_noise(job->seed, noise, cap.n);
  CHECK(memcmp(noise, cap.lat[0], cap.n * sizeof(float)) == 0, "fr_initial_noise is the job's initial latent");
  for (int k = 0; k <= job->steps; k++)
    CHECK(fr_latent_in_chain(&parsed, k, cap.lat[k], cap.n), "latent %d is in the chain", k);
  CHECK(!fr_latent_in_chain(&parsed, 1, cap.lat[2], cap.n) && !fr_latent_in_chain(&parsed, 0, cap.lat[1], cap.n) &&
            !fr_latent_in_chain(&parsed, job->steps + 1, cap.lat[1], cap.n),
        "latents of other steps are not");

  fr_check c;
  for (int k = 0; k < job->steps; k++) {
    int prev = fr_step_needs_previous(m, job, k);
    CHECK_OK(fr_check_step(m, &parsed, k, prev ? cap.lat[k - 1] : NULL, cap.lat[k], &c));
    CHECK(c.verdict == FR_CHECK_OK, "%s step %d: %s", fr_scheduler_name(job->scheduler), k, c.message);
  }
  int last = job->steps - 1, p = fr_step_needs_previous(m, job, last);
  CHECK_OK(fr_check_step(m, &parsed, last, p ? cap.lat[last - 1] : NULL, cap.lat[last - 1], &c));
  CHECK(c.verdict == FR_CHECK_BAD_LATENT && strstr(c.message, "entering step"), "a latent of another step: %s",
        c.message);
  if (job->steps > 2 && fr_step_needs_previous(m, job, 1)) {
    CHECK_OK(fr_check_step(m, &parsed, 1, cap.lat[1], cap.lat[1], &c));
    CHECK(c.verdict == FR_CHECK_BAD_LATENT && strstr(c.message, "step 0"), "a wrong previous latent: %s", c.message);
  }
  fr_result lie = parsed;
  lie.step_hashes[last].lo ^= 1;
  CHECK_OK(fr_check_step(m, &lie, last, p ? cap.lat[last - 1] : NULL, cap.lat[last], &c));
  CHECK(c.verdict == FR_CHECK_MISMATCH, "a wrong hash after the last step: %s", c.message);
  CHECK(!fr_result_digest_ok(&lie), "a changed hash no longer fits the digest");
  CHECK(fr_check_step(m, &parsed, job->steps, NULL, cap.lat[0], &c) == FR_EINVAL, "a step past the end is an error");

  CHECK_OK(fr_check_decode(m, &parsed, cap.lat[job->steps], &c));
  CHECK(c.verdict == FR_CHECK_OK, "decode: %s", c.message);
  lie = parsed;
  lie.frames_hash.hi ^= 1;
  CHECK_OK(fr_check_decode(m, &lie, cap.lat[job->steps], &c));
  CHECK(c.verdict == FR_CHECK_MISMATCH, "decode to other frames: %s", c.message);
  CHECK_OK(fr_check_decode(m, &parsed, cap.lat[0], &c));
  CHECK(c.verdict == FR_CHECK_BAD_LATENT, "decode of a latent not in the chain: %s", c.message);

  free(json), free(noise);
  for (int k = 0; k < 8; k++) free(cap.lat[k]);
  fr_result_free(&res);
}

static void check_parse_errors(fr_model *m, const fr_job *job)
{
  fr_result res;
  CHECK_OK(generate_sealed(m, job, 1, NULL, &res));
  char *json = to_json(&res), hex[33], *s;
  fr_hash_hex(res.step_hashes[0], hex);
  refuse("{\"job_id\": ", job, "invalid JSON", "truncated");
  refuse("[1, 2]", job, "not a JSON object", "an array");
  refuse(s = edit(json, "\"job_id\":\"", "\"job_id\":\"x"), job, "job_id", "another job"), free(s);
  refuse(s = edit(json, "\"model\":\"", "\"model\":\"0"), job, "model", "a model digest of 33 digits"), free(s);
  refuse(s = edit(json, "\"numerics\":\"f32-v1\"", "\"numerics\":\"f16\""), job, "numerics", "other numerics"), free(s);
  char one_more[80];
  snprintf(one_more, sizeof one_more, "[\"%s\",", hex);
  refuse(s = edit(json, "[", one_more), job, "step_hashes must hold", "one step hash too many"), free(s);
  refuse(s = edit(json, hex, "zz"), job, "step_hashes[0]", "a short hash"), free(s);
  refuse(s = edit(json, "\"frames_hash\":\"", "\"frames_hash\":\"g"), job, "frames_hash", "a bad frames hash"), free(s);
  refuse(s = edit(json, "\"digest\":\"", "\"digest\":1,\"x\":\""), job, "digest", "a number for the digest"), free(s);
  refuse(s = edit(json, "{", "{\"job_id\":\"dup\","), job, "duplicate", "a duplicate key"), free(s);
  refuse(s = edit(json, "\"frame_hashes\":[", "\"frame_hashes\":[\"00\","), job, "frame_hashes", "bad frame hashes"),
      free(s);

  /* the protocol writes lowercase hex: one value has one spelling */
  const fr_hash128 *hashes[4] = {&res.step_hashes[0], &res.frames_hash, &res.frame_hashes[0], &res.digest};
  static const char *const names[4] = {"step_hashes[0]", "frames_hash", "frame_hashes[0]", "digest"};
  for (int i = 0; i < 4; i++) {
    char lower[33], upper[33];
    fr_hash_hex(*hashes[i], lower);
    for (int k = 0; k < 33; k++) upper[k] = lower[k] >= 'a' ? (char)(lower[k] - 'a' + 'A') : lower[k];
    CHECK(strcmp(lower, upper) != 0, "%s has hex letters to change", names[i]);
    refuse(s = edit(json, lower, upper), job, "lowercase hex", names[i]), free(s);
  }
  char model[33], upper_model[33];
  snprintf(model, sizeof model, "%s", res.job.model);
  for (int k = 0; k < 33; k++) upper_model[k] = model[k] >= 'a' ? (char)(model[k] - 'a' + 'A') : model[k];
  CHECK(strcmp(model, upper_model) != 0, "the model digest has hex letters to change");
  refuse(s = edit(json, model, upper_model), job, "model is not a digest of 32 lowercase hex digits",
         "an uppercase model"),
      free(s);
  refuse(s = edit(json, model, "gggggggggggggggggggggggggggggggg"), job, "model is not",
         "a model of 32 non-hex letters"),
      free(s);
  free(json);
  fr_result_free(&res);
}

/* fr_record_parse: fractal-replay's {"job": ..., "result": ...} */
static void check_record(fr_model *m, const fr_job *job)
{
  fr_result res, rec;
  CHECK_OK(generate_sealed(m, job, 1, NULL, &res));
  char *json = to_json(&res), spec[4096 + 2 * FR_JOB_PROMPT_MAX], text[16384];
  fr_job_to_json(job, spec, sizeof spec);
  snprintf(text, sizeof text, "{\"job\": %s, \"result\": %s}", spec, json);
  CHECK_OK(fr_record_parse(text, strlen(text), &rec));
  CHECK(rec.job.seed == job->seed && rec.steps == job->steps && fr_hash_equal(rec.digest, res.digest) &&
            strcmp(rec.job.model, res.job.model) == 0,
        "a record parses to its job and result");
  char *s = edit(text, "\"seed\":99", "\"seed\":18446744073709551615");
  CHECK(s && fr_record_parse(s, strlen(s), &rec) == FR_OK && rec.job.seed == UINT64_MAX,
        "a 64-bit seed is read exactly: %s", fr_last_error());
  free(s);
  /* clang-format off */ /* a table: one entry per line */
  static const struct {
    const char *from, *to, *want;
  } bad[] = {
    {"\"result\": {", "\"result\": [{", "invalid JSON"},
    {"\"result\"", "\"outcome\"", "record: no \"result\" object"},
    {"\"job\": {", "\"job\": 1, \"x\": {", "record: the job"},
    {"{\"job\": ", "{\"result\": {}, \"job\": ", "record"}, /* "result" twice */
    {"\"job_id\":\"v-1\"", "\"job_id\":\"v-2\"", "record: result: job_id is not \"v-2\""},
  };
  /* clang-format on */
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    s = edit(text, bad[i].from, bad[i].to);
    fr_status st = s ? fr_record_parse(s, strlen(s), &rec) : FR_OK;
    CHECK(st == FR_EINVAL && strstr(fr_last_error(), bad[i].want), "record with %s: %s", bad[i].to, fr_last_error());
    free(s);
  }
  free(json);
  fr_result_free(&res);
}

/* The check plan: which latents a spot check reveals, by the step they enter (0, the noise, never). */
static void plan_is(fr_model *m, const fr_job *job, int step, int decode, int prev, int n, int r0, int r1, int r2)
{
  fr_check_plan p;
  CHECK_OK(fr_check_plan_make(m, job, step, decode, &p));
  int want[3] = {r0, r1, r2}, same = p.nreveal == n && p.needs_previous == prev && p.decode == decode && p.step == step;
  for (int i = 0; same && i < n; i++) same = p.reveal[i] == want[i];
  CHECK(same, "%s step %d decode %d: needs_previous %d, %d reveals [%d %d %d]; want %d, %d [%d %d %d]",
        fr_scheduler_name(job->scheduler), step, decode, p.needs_previous, p.nreveal, p.reveal[0], p.reveal[1],
        p.reveal[2], prev, n, r0, r1, r2);
}

static void check_plans(fr_model *m, const fr_job *dpm, const fr_job *ddim)
{
  /* DPM-Solver++ 2M, 4 steps: first, second, second, first order */
  plan_is(m, dpm, 0, 0, 0, 0, 0, 0, 0);
  plan_is(m, dpm, 0, 1, 0, 1, 4, 0, 0);
  plan_is(m, dpm, 1, 0, 1, 1, 1, 0, 0); /* the latent entering step 0 is the noise: not revealed */
  plan_is(m, dpm, 2, 1, 1, 3, 2, 1, 4);
  plan_is(m, dpm, 3, 0, 0, 1, 3, 0, 0);
  plan_is(m, ddim, 2, 1, 0, 2, 2, 3, 0);
  fr_check_plan p;
  CHECK(fr_check_plan_make(m, dpm, 4, 0, &p) == FR_EINVAL && fr_check_plan_make(m, dpm, -1, 0, &p) == FR_EINVAL,
        "a step outside 0..steps-1 has no plan");
}

/* fractal-replay's element report: bits decide what differs, NaN and Inf give an infinite |delta|. */
static void check_diffs(void)
{
  const float nan = __builtin_nanf(""), inf = __builtin_inff();
  float a[8] = {1.0f, 0.0f, 2.0f, nan, 5.0f, 1e-45f, inf, 3.0f};
  float b[8] = {1.0f, -0.0f, 2.5f, nan, 5.0f, 0.0f, inf, 3.0f};
  fr_diff d;
  fr_diff_f32(a, b, 8, &d);
  CHECK(d.differing == 3 && d.first == 1 && d.max_at == 2 && d.max_abs == 0.5,
        "-0 against +0 differs with |delta| 0; the same NaN and the same Inf do not differ (%zu, %zu, %zu, %g)",
        d.differing, d.first, d.max_at, d.max_abs);
  b[4] = nan, b[7] = -inf;
  fr_diff_f32(a, b, 8, &d);
  CHECK(d.differing == 5 && d.first == 1 && d.max_at == 4 && d.max_abs == INFINITY,
        "a NaN against a number, and Inf against -Inf: |delta| is +Inf, the first one counts (%zu, %zu, %g)",
        d.differing, d.max_at, d.max_abs);
  fr_diff_f32(a, a, 8, &d);
  CHECK(d.differing == 0 && d.first == 8 && d.max_at == 8 && d.max_abs == 0, "equal arrays: nothing differs");
  fr_diff_f32(a + 5, b + 5, 1, &d);
  CHECK(d.differing == 1 && d.max_abs == 1e-45f, "a subnormal against zero: |delta| is the subnormal (%g)", d.max_abs);
  uint8_t u[5] = {0, 255, 7, 7, 9}, v[5] = {0, 0, 8, 7, 0};
  fr_diff_u8(u, v, 5, &d);
  CHECK(d.differing == 3 && d.first == 1 && d.max_at == 1 && d.max_abs == 255, "bytes: 255 against 0 is the largest");
}

int main(void)
{
  check_diffs();
  char tmpl[] = "/tmp/fractal-verify-XXXXXX", dir[300];
  if (!mkdtemp(tmpl)) return 1;
  snprintf(dir, sizeof dir, "%s/tiny", tmpl);
  fr_modelgen_options mo = {"tiny", 0, FR_F32, NULL, NULL, NULL};
  CHECK_OK(fr_modelgen_write(dir, &mo));
  fr_backend *be;
  fr_model *m = NULL;
  CHECK_OK(fr_backend_open("cpu", 2, &be));
  CHECK_OK(fr_model_load(dir, be, NULL, &m));
  if (!m) return 1;

  fr_job j;
  fr_job_init(&j);
  snprintf(j.job_id, sizeof j.job_id, "v-1");
  snprintf(j.prompt, sizeof j.prompt, "a lighthouse in a storm");
  j.seed = 99, j.steps = 4, j.frames = 2, j.height = 32, j.width = 24;
  check_chain(m, &j); /* DPM-Solver++ 2M: first, second, second, first order */
  fr_job dpm = j;
  j.scheduler = FR_SCHEDULER_DDIM, j.steps = 3, j.guidance = 1.0f;
  check_chain(m, &j);
  check_plans(m, &dpm, &j);
  check_parse_errors(m, &j);
  check_record(m, &j);

  fr_model_free(m);
  fr_backend_close(be);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpl);
  return check_done("test_verify");
}
