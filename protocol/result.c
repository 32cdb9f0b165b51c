/* A prover's result: JSON both ways, the job digest, and challenge records (see fractal/protocol.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fractal/defs.h"
#include "fractal/protocol.h"
#include "wire.h"

fr_hash128 fr_job_digest(const fr_job *job, const fr_hash128 *step_hashes, int steps, fr_hash128 frames_hash)
{
  fr_hasher *h = fr_hasher_new();
  fr_hash128 d = {0, 0};
  if (!h) return d;
  fr_hasher_str(h, "fractal-job-v1");
  fr_hasher_str(h, job->model);
  fr_hasher_str(h, job->numerics);
  fr_hasher_str(h, job->prompt);
  fr_hasher_str(h, job->negative_prompt);
  fr_hasher_u64(h, job->seed);
  fr_hasher_u64(h, (uint64_t)job->steps);
  fr_hasher_u64(h, fr_f32_bits(job->guidance));
  fr_hasher_str(h, fr_scheduler_name(job->scheduler));
  fr_hasher_u64(h, (uint64_t)job->frames);
  fr_hasher_u64(h, (uint64_t)job->height);
  fr_hasher_u64(h, (uint64_t)job->width);
  for (int k = 0; k < steps; k++) fr_hasher_u64(h, step_hashes[k].hi), fr_hasher_u64(h, step_hashes[k].lo);
  fr_hasher_u64(h, frames_hash.hi);
  fr_hasher_u64(h, frames_hash.lo);
  d = fr_hasher_digest(h);
  fr_hasher_free(h);
  return d;
}

void fr_result_seal(fr_result *r) { r->digest = fr_job_digest(&r->job, r->step_hashes, r->steps, r->frames_hash); }

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
  /* the size as run: a job that left it out (0) learns it here; one that gave it must get it back */
  static const char *const dims[2] = {"height", "width"};
  int *mine[2] = {&out->job.height, &out->job.width};
  for (int i = 0; st == FR_OK && i < 2; i++) {
    json_t *v = json_object_get(root, dims[i]);
    if (!v) continue;                                         /* results from before the size was echoed */
    double x = json_is_number(v) ? json_number_value(v) : -1; /* a record's member comes back as a real */
    int d = x >= 8 && x <= 65536 && x == (double)(int)x ? (int)x : -1;
    if (d < 0 || d % 8) st = fr_fail(FR_EINVAL, "result: %s is not a multiple of 8 in 8..65536", dims[i]);
    else if (*mine[i] && *mine[i] != d)
      st = fr_fail(FR_EINVAL, "result: %s %d is not the job's %d", dims[i], d, *mine[i]);
    else *mine[i] = d;
  }
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

size_t fr_result_to_json(const fr_result *r, char *buf, size_t n)
{
  size_t at = 0;
  char hex[33];
#define OUT(...) (at += (size_t)snprintf(at < n ? buf + at : NULL, at < n ? n - at : 0, __VA_ARGS__))
  OUT("{\"job_id\":");
  at = fr_wire_put_string(buf, n, at, r->job.job_id);
  OUT(",\"model\":\"%s\",\"numerics\":", r->job.model);
  at = fr_wire_put_string(buf, n, at, r->job.numerics);
  if (r->job.height && r->job.width) OUT(",\"height\":%d,\"width\":%d", r->job.height, r->job.width); /* as run */
  OUT(",\"step_hashes\":[");
  for (int k = 0; k < r->steps; k++) {
    fr_hash_hex(r->step_hashes[k], hex);
    OUT("%s\"%s\"", k ? "," : "", hex);
  }
  fr_hash_hex(r->frames_hash, hex);
  OUT("],\"frames_hash\":\"%s\",\"frame_hashes\":[", hex);
  for (int f = 0; f < r->job.frames; f++) {
    fr_hash_hex(r->frame_hashes[f], hex);
    OUT("%s\"%s\"", f ? "," : "", hex);
  }
  OUT("],");
  fr_hash_hex(r->digest, hex);
  OUT("\"digest\":\"%s\",\"timing\":{\"queue_ms\":%.3f,\"text_ms\":%.3f,\"denoise_ms\":%.3f,\"decode_ms\":%.3f,"
      "\"total_ms\":%.3f}}",
      hex, r->timing.queue_ms, r->timing.text_ms, r->timing.denoise_ms, r->timing.decode_ms, r->timing.total_ms);
#undef OUT
  return at;
}
