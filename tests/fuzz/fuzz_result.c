/* libFuzzer: a prover's result (fr_result_parse) for a job that names no model and for one that does. An
 * accepted result's hashes are lowercase hex, and its canonical JSON parses back to the same hashes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fractal/verify.h"
#include "fractal/protocol.h"

static void check(const char *text, size_t size, const fr_job *job)
{
  fr_result r, back;
  if (fr_result_parse(text, size, job, &r) != FR_OK) return;
  size_t n = fr_result_to_json(&r, NULL, 0) + 1;
  char *json = (char *)malloc(n);
  if (!json || fr_result_to_json(&r, json, n) != n - 1) abort();
  if (fr_result_parse(json, n - 1, job, &back) != FR_OK) abort();
  if (strcmp(r.job.model, back.job.model) || !fr_hash_equal(r.digest, back.digest) ||
      !fr_hash_equal(r.frames_hash, back.frames_hash))
    abort();
  for (int k = 0; k < r.steps; k++)
    if (!fr_hash_equal(r.step_hashes[k], back.step_hashes[k])) abort();
  for (int f = 0; f < job->frames; f++)
    if (!fr_hash_equal(r.frame_hashes[f], back.frame_hashes[f])) abort();
  free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fr_job job;
  fr_job_init(&job);
  snprintf(job.job_id, sizeof job.job_id, "c1");
  job.steps = 4, job.frames = 3;
  check((const char *)data, size, &job);
  snprintf(job.model, sizeof job.model, "6f1ed002ab5595859014ebf0951522d9");
  check((const char *)data, size, &job);
  return 0;
}
