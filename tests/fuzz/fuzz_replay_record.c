/* libFuzzer: fractal-replay's record, {"job": ..., "result": ...} (fr_record_parse: the job member parser and
 * the result parser together). What an accepted record's job says must be what a general JSON parser reads
 * in the same text: no parser differential lets a record show one job to a reader and replay another. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fractal/verify.h"
#include "fractal/protocol.h"

/* key as jansson reads it is what the record gave (absent: empty) */
static void same_string(json_t *job, const char *key, const char *got)
{
  json_t *v = json_object_get(job, key);
  if (strcmp(v ? json_string_value(v) ? json_string_value(v) : "(not a string)" : "", got) != 0) abort();
}

static void same_int(json_t *job, const char *key, int got)
{
  json_t *v = json_object_get(job, key);
  if (v && json_number_value(v) != (double)got) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fr_result r;
  if (fr_record_parse((const char *)data, size, &r) != FR_OK) return 0;
  json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, NULL);
  json_t *job = json_object_get(root, "job");
  if (!json_is_object(job) || !json_is_object(json_object_get(root, "result"))) abort();
  same_string(job, "job_id", r.job.job_id);
  same_string(job, "prompt", r.job.prompt);
  same_string(job, "negative_prompt", r.job.negative_prompt);
  same_int(job, "steps", r.job.steps);
  same_int(job, "frames", r.job.frames);
  same_int(job, "height", r.job.height);
  same_int(job, "width", r.job.width);
  json_t *seed = json_object_get(job, "seed");
  if (r.job.seed < ((uint64_t)1 << 53) && json_number_value(seed) != (double)r.job.seed) abort();
  json_decref(root);
  return 0;
}
