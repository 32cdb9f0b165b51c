/* Checking a prover's answer (see fractal/verify.h). */
#include <math.h> /* INFINITY */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fractal/philox.h"
#include "fractal/verify.h"

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

void fr_diff_f32(const float *a, const float *b, size_t n, fr_diff *out)
{
  *out = (fr_diff){0, n, n, 0.0};
  for (size_t i = 0; i < n; i++) {
    if (fr_f32_bits(a[i]) == fr_f32_bits(b[i])) continue;
    double d = (double)a[i] - (double)b[i];
    d = d < 0 ? -d : d;
    if (d != d) d = INFINITY; /* a NaN on either side, or Inf - Inf */
    if (out->differing++ == 0) out->first = i;
    if (out->max_at == n || d > out->max_abs) out->max_abs = d, out->max_at = i;
  }
}

void fr_diff_u8(const uint8_t *a, const uint8_t *b, size_t n, fr_diff *out)
{
  *out = (fr_diff){0, n, n, 0.0};
  for (size_t i = 0; i < n; i++) {
    if (a[i] == b[i]) continue;
    double d = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
    if (out->differing++ == 0) out->first = i;
    if (out->max_at == n || d > out->max_abs) out->max_abs = d, out->max_at = i;
  }
}
