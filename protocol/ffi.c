/* Fractal for other languages (see fractal/ffi.h): handles over the model, the job parser and the result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fractal/ffi.h"
#include "fractal/i8x.h"
#include "fractal/pipeline.h"
#include "fractal/protocol.h"
#include "fractal/video.h"

struct fr_ffi_model {
  fr_backend *be;
  fr_model *m;
  fr_model_info info;
};

struct fr_ffi_result {
  fr_result r;
  char *json, *job_json;
};

fr_status fr_ffi_model_open(const char *dir, const char *backend, int threads, const char *numerics, fr_ffi_model **out)
{
  *out = NULL;
  if (!dir || !backend) return fr_fail(FR_EINVAL, "the model folder and the backend must be given");
  if (!numerics) numerics = FR_NUMERICS;
  for (const char *at = numerics; *at;) { /* every listed profile must be one */
    size_t len = strcspn(at, ",");
    if (!((len == strlen(FR_NUMERICS) && !strncmp(at, FR_NUMERICS, len)) ||
          (len == strlen(FR_I8X_PROFILE) && !strncmp(at, FR_I8X_PROFILE, len))))
      return fr_fail(FR_EINVAL, "numerics \"%s\": profiles are %s and %s", numerics, FR_NUMERICS, FR_I8X_PROFILE);
    at += len + (at[len] == ',');
  }
  fr_model_options mo = {NULL, fr_numerics_listed(numerics, FR_I8X_PROFILE) ? FR_I8X_BITS : 0};
  fr_ffi_model *h = (fr_ffi_model *)calloc(1, sizeof *h);
  if (!h) return fr_fail(FR_ENOMEM, "out of memory");
  fr_status st = fr_backend_open(backend, threads, &h->be);
  if (st == FR_OK) st = fr_model_load(dir, h->be, &mo, &h->m);
  if (st != FR_OK) {
    if (h->be) fr_backend_close(h->be);
    free(h);
    return st;
  }
  fr_model_get_info(h->m, &h->info);
  *out = h;
  return FR_OK;
}

void fr_ffi_model_close(fr_ffi_model *m)
{
  if (!m) return;
  fr_model_free(m->m);
  fr_backend_close(m->be);
  free(m);
}

const char *fr_ffi_model_digest(const fr_ffi_model *m) { return m->info.digest_hex; }
const char *fr_ffi_model_backend(const fr_ffi_model *m) { return fr_backend_name(m->be); }

typedef struct progress_ctx {
  void (*fn)(void *ctx, int step, int steps);
  void *ctx;
} progress_ctx;

static void on_progress(void *ctx, int job, int step, int steps)
{
  const progress_ctx *p = (const progress_ctx *)ctx;
  p->fn(p->ctx, step, steps + 1); /* the decode is the last piece of work */
}

static char *json_of(size_t (*to_json)(const void *, char *, size_t), const void *x)
{
  size_t n = to_json(x, NULL, 0) + 1;
  char *s = (char *)malloc(n);
  if (s) to_json(x, s, n);
  return s;
}

static size_t job_json(const void *j, char *buf, size_t n) { return fr_job_to_json((const fr_job *)j, buf, n); }
static size_t result_json(const void *r, char *buf, size_t n)
{
  return fr_result_to_json((const fr_result *)r, buf, n);
}

fr_status fr_ffi_generate(fr_ffi_model *m, const char *job_spec, void (*progress)(void *ctx, int step, int steps),
                          void *ctx, fr_ffi_result **out)
{
  *out = NULL;
  if (!m || !job_spec) return fr_fail(FR_EINVAL, "the model and the job spec must be given");
  fr_job job;
  FR_TRY(fr_job_parse(job_spec, strlen(job_spec), NULL, &job));
  if (!job.model[0]) snprintf(job.model, sizeof job.model, "%s", m->info.digest_hex);
  fr_job_fill_size(m->m, &job);
  fr_ffi_result *h = (fr_ffi_result *)calloc(1, sizeof *h);
  if (!h) return fr_fail(FR_ENOMEM, "out of memory");
  progress_ctx pc = {progress, ctx};
  fr_observer obs = {.ctx = &pc, .progress = on_progress};
  fr_run_options ro = {.observer = progress ? &obs : NULL};
  fr_status st = fr_generate(m->m, &job, 1, &ro, &h->r);
  if (st != FR_OK) return free(h), st;
  if (progress) progress(ctx, job.steps + 1, job.steps + 1); /* the decode is done too */
  fr_result_seal(&h->r);
  h->json = json_of(result_json, &h->r), h->job_json = json_of(job_json, &h->r.job);
  if (!h->json || !h->job_json) return fr_ffi_result_free(h), fr_fail(FR_ENOMEM, "out of memory");
  *out = h;
  return FR_OK;
}

const char *fr_ffi_result_json(const fr_ffi_result *r) { return r->json; }
const char *fr_ffi_result_job_json(const fr_ffi_result *r) { return r->job_json; }

const uint8_t *fr_ffi_result_frames(const fr_ffi_result *r, int *frames, int *height, int *width)
{
  *frames = r->r.job.frames, *height = r->r.job.height, *width = r->r.job.width;
  return r->r.frames;
}

fr_status fr_ffi_result_save(const fr_ffi_result *r, const char *path, int fps)
{
  if (!path || fps < 1 || fps > 240) return fr_fail(FR_EINVAL, "want a path and fps in 1..240");
  return fr_video_write(path, r->r.frames, r->r.job.frames, r->r.job.height, r->r.job.width, fps, NULL);
}

void fr_ffi_result_free(fr_ffi_result *r)
{
  if (!r) return;
  fr_result_free(&r->r);
  free(r->json), free(r->job_json);
  free(r);
}
