/* Checking a prover's answer (see fractal/verify.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fractal/philox.h"
#include "fractal/verify.h"

/* 1 if s is n lowercase hex digits: the protocol writes hashes and digests so, and one value must have
 * one spelling (fr_hash_parse alone also takes uppercase). */
static int is_lower_hex(const char *s, size_t n)
{
  size_t i = 0;
  while (i < n && ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) i++;
  return i == n && s[n] == '\0';
}

static int hash_value(json_t *v, fr_hash128 *out)
{
  return json_is_string(v) && is_lower_hex(json_string_value(v), 32) && fr_hash_parse(json_string_value(v), out) == 0;
}

static int hash_member(json_t *obj, const char *key, fr_hash128 *out)
{
  return hash_value(json_object_get(obj, key), out);
}

static int string_member_is(json_t *obj, const char *key, const char *want)
{
  json_t *v = json_object_get(obj, key);
  return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

fr_status fr_result_parse(const char *json, size_t len, const fr_job *job, fr_result *out)
{
  memset(out, 0, sizeof *out);
  json_error_t e;
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
  if (!root) return fr_fail(FR_EINVAL, "result: invalid JSON: %s", e.text);
  fr_status st = FR_OK;
  json_t *steps = json_object_get(root, "step_hashes"), *frames = json_object_get(root, "frame_hashes");
  out->job = *job;
  out->steps = job->steps;
  if (!json_is_object(root)) st = fr_fail(FR_EINVAL, "result: not a JSON object");
  else if (!string_member_is(root, "job_id", job->job_id))
    st = fr_fail(FR_EINVAL, "result: job_id is not \"%s\"", job->job_id);
  else if (!json_is_string(json_object_get(root, "model")) ||
           !is_lower_hex(json_string_value(json_object_get(root, "model")), 32) ||
           (job->model[0] && !string_member_is(root, "model", job->model)))
    st = fr_fail(FR_EINVAL, "result: model is not %s",
                 job->model[0] ? job->model : "a digest of 32 lowercase hex digits");
  else if (!string_member_is(root, "numerics", job->numerics))
    st = fr_fail(FR_EINVAL, "result: numerics is not \"%s\"", job->numerics);
  else if (!json_is_array(steps) || (int)json_array_size(steps) != job->steps)
    st = fr_fail(FR_EINVAL, "result: step_hashes must hold %d hashes", job->steps);
  else if (!hash_member(root, "frames_hash", &out->frames_hash))
    st = fr_fail(FR_EINVAL, "result: frames_hash is not 32 lowercase hex digits");
  else if (!hash_member(root, "digest", &out->digest))
    st = fr_fail(FR_EINVAL, "result: digest is not 32 lowercase hex digits");
  else if (frames && (!json_is_array(frames) || (int)json_array_size(frames) != job->frames))
    st = fr_fail(FR_EINVAL, "result: frame_hashes must hold %d hashes", job->frames);
  for (int k = 0; st == FR_OK && k < job->steps; k++) {
    if (!hash_value(json_array_get(steps, (size_t)k), &out->step_hashes[k]))
      st = fr_fail(FR_EINVAL, "result: step_hashes[%d] is not 32 lowercase hex digits", k);
  }
  for (int f = 0; st == FR_OK && frames && f < job->frames; f++) {
    if (!hash_value(json_array_get(frames, (size_t)f), &out->frame_hashes[f]))
      st = fr_fail(FR_EINVAL, "result: frame_hashes[%d] is not 32 lowercase hex digits", f);
  }
  if (st == FR_OK) {
    snprintf(out->job.model, sizeof out->job.model, "%s", json_string_value(json_object_get(root, "model")));
    json_t *t = json_object_get(root, "timing");
    out->timing.queue_ms = json_number_value(json_object_get(t, "queue_ms"));
    out->timing.text_ms = json_number_value(json_object_get(t, "text_ms"));
    out->timing.denoise_ms = json_number_value(json_object_get(t, "denoise_ms"));
    out->timing.decode_ms = json_number_value(json_object_get(t, "decode_ms"));
    out->timing.total_ms = json_number_value(json_object_get(t, "total_ms"));
  }
  json_decref(root);
  return st;
}

fr_status fr_record_parse(const char *json, size_t len, fr_result *out)
{
  memset(out, 0, sizeof *out);
  fr_job job;
  fr_status st = fr_job_parse_member(json, len, "job", NULL, &job);
  if (st != FR_OK) return fr_fail_context(st, "record: the job");
  json_error_t e;
  json_t *root =
      json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &e); /* seeds over 2^63 were read above */
  json_t *res = root ? json_object_get(root, "result") : NULL;
  char *text = json_is_object(res) ? json_dumps(res, JSON_COMPACT) : NULL;
  json_decref(root);
  if (!root) return fr_fail(FR_EINVAL, "record: invalid JSON: %s", e.text);
  if (!text) return fr_fail(FR_EINVAL, "record: no \"result\" object");
  st = fr_result_parse(text, strlen(text), &job, out);
  free(text);
  return st == FR_OK ? FR_OK : fr_fail_context(st, "record");
}

int fr_result_digest_ok(const fr_result *claimed)
{
  return fr_hash_equal(fr_job_digest(&claimed->job, claimed->step_hashes, claimed->steps, claimed->frames_hash),
                       claimed->digest);
}

size_t fr_latent_count(const fr_model *m, const fr_job *job)
{
  fr_model_info info;
  fr_model_get_info(m, &info);
  return (size_t)info.latent_channels * (size_t)job->frames * (size_t)(job->height / info.vae_scale) *
         (size_t)(job->width / info.vae_scale);
}

void fr_initial_noise(uint64_t seed, float *x, size_t n)
{
  for (size_t i = 0; i < n; i++) x[i] = fr_philox_normal(seed, 0, i);
}

int fr_latent_in_chain(const fr_result *claimed, int entering, const float *x, size_t n)
{
  if (entering < 0 || entering > claimed->steps) return 0;
  if (entering == 0) {
    for (size_t i = 0; i < n; i++)
      if (fr_f32_bits(x[i]) != fr_f32_bits(fr_philox_normal(claimed->job.seed, 0, i))) return 0;
    return 1;
  }
  return fr_hash_equal(fr_hash_f32(x, n), claimed->step_hashes[entering - 1]);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
verdict(fr_check *out, fr_check_verdict v, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  out->verdict = v;
  vsnprintf(out->message, sizeof out->message, fmt, ap);
  va_end(ap);
}

fr_status fr_check_step(fr_model *m, const fr_result *claimed, int step, const float *x_prev, const float *x_in,
                        fr_check *out)
{
  if (step < 0 || step >= claimed->steps)
    return fr_fail(FR_EINVAL, "step %d is not in 0..%d", step, claimed->steps - 1);
  size_t n = fr_latent_count(m, &claimed->job);
  int need_prev = fr_step_needs_previous(m, &claimed->job, step);
  if (need_prev && !x_prev) return fr_fail(FR_EINVAL, "step %d needs the latent entering step %d", step, step - 1);
  if (!fr_latent_in_chain(claimed, step, x_in, n))
    return verdict(out, FR_CHECK_BAD_LATENT, "the latent entering step %d is not the one the chain claims", step),
           FR_OK;
  if (need_prev && !fr_latent_in_chain(claimed, step - 1, x_prev, n))
    return verdict(out, FR_CHECK_BAD_LATENT, "the latent entering step %d is not the one the chain claims", step - 1),
           FR_OK;
  float *x_out = (float *)malloc(n * sizeof(float));
  if (!x_out) return fr_fail(FR_ENOMEM, "%zu floats", n);
  fr_status st = fr_recompute_step(m, &claimed->job, step, need_prev ? x_prev : NULL, x_in, x_out);
  if (st == FR_OK) {
    if (fr_hash_equal(fr_hash_f32(x_out, n), claimed->step_hashes[step]))
      verdict(out, FR_CHECK_OK, "step %d recomputes to the claimed hash", step);
    else verdict(out, FR_CHECK_MISMATCH, "step %d recomputes to another hash than the chain claims", step);
  }
  free(x_out);
  return st;
}

fr_status fr_check_decode(fr_model *m, const fr_result *claimed, const float *final_latent, fr_check *out)
{
  size_t n = fr_latent_count(m, &claimed->job);
  const fr_job *j = &claimed->job;
  if (!fr_latent_in_chain(claimed, claimed->steps, final_latent, n))
    return verdict(out, FR_CHECK_BAD_LATENT, "the final latent (after step %d) is not the one the chain claims",
                   claimed->steps),
           FR_OK;
  size_t bytes = (size_t)j->frames * (size_t)j->height * (size_t)j->width * 3;
  uint8_t *frames = (uint8_t *)malloc(bytes);
  if (!frames) return fr_fail(FR_ENOMEM, "%zu bytes of frames", bytes);
  fr_status st = fr_decode_latent(m, j, final_latent, frames);
  if (st == FR_OK) {
    if (fr_hash_equal(fr_hash_bytes(frames, bytes), claimed->frames_hash))
      verdict(out, FR_CHECK_OK, "the final latent decodes to the claimed frames");
    else verdict(out, FR_CHECK_MISMATCH, "the final latent decodes to other frames than claimed");
  }
  free(frames);
  return st;
}
