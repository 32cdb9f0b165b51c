/* libFuzzer: job specs as the network sends them (fr_job_parse, fr_job_parse_request) and as records hold
 * them (fr_job_parse_member). An accepted job passes fr_job_validate, and its canonical JSON parses back
 * to the same job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fractal/job.h"
#include "fractal/protocol.h"

static int same_job(const fr_job *a, const fr_job *b)
{
  return !strcmp(a->job_id, b->job_id) && !strcmp(a->model, b->model) && !strcmp(a->numerics, b->numerics) &&
         !strcmp(a->prompt, b->prompt) && !strcmp(a->negative_prompt, b->negative_prompt) && a->seed == b->seed &&
         a->steps == b->steps && !memcmp(&a->guidance, &b->guidance, sizeof a->guidance) &&
         a->scheduler == b->scheduler && a->frames == b->frames && a->height == b->height && a->width == b->width;
}

static void round_trip(const fr_job *j)
{
  if (fr_job_validate(j, NULL) != FR_OK) abort();
  size_t n = fr_job_to_json(j, NULL, 0) + 1;
  char *text = (char *)malloc(n);
  fr_job back;
  if (!text || fr_job_to_json(j, text, n) != n - 1) abort();
  if (fr_job_parse(text, n - 1, NULL, &back) != FR_OK || !same_job(j, &back)) abort();
  free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  fr_job j;
  if (fr_job_parse(text, size, NULL, &j) == FR_OK) round_trip(&j);
  if (fr_job_parse_request(text, size, NULL, &j) == FR_OK) round_trip(&j);
  if (fr_job_parse_member(text, size, "job", NULL, &j) == FR_OK) round_trip(&j);
  return 0;
}
