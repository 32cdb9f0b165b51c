/* Job specs: every field parsed and range-checked, 64-bit seeds exact, malformed JSON and bad values
 * refused with a message naming the field, canonical JSON out and back. */
#include "fractal/job.h"
#include "fractal/protocol.h"
#include "testutil.h"

static fr_status parse(const char *s, fr_job *j) { return fr_job_parse(s, strlen(s), NULL, j); }

int main(void)
{
  fr_job j;
  const char *full = "{\"job_id\": \"abc_1-2,3\", \"model\": \"0123456789abcdef0123456789abcdef\", \"numerics\": "
                     "\"f32-v1\", \"prompt\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\", \"negative_prompt\": \"blurry\","
                     " \"seed\": 18446744073709551615, \"steps\": 50, \"guidance\": 7.5, \"scheduler\": \"ddim\","
                     " \"frames\": 24, \"height\": 320, \"width\": 576}";
  CHECK_OK(parse(full, &j));
  CHECK(strcmp(j.job_id, "abc_1-2,3") == 0 && j.seed == 18446744073709551615ull && j.steps == 50 &&
            j.guidance == 7.5f && j.scheduler == FR_SCHEDULER_DDIM && j.frames == 24 && j.height == 320 &&
            j.width == 576 && strcmp(j.negative_prompt, "blurry") == 0,
        "all fields");
  CHECK(strcmp(j.prompt, "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\"") == 0, "escapes and surrogate pairs decode to UTF-8");

  /* defaults: the original network's settings; the size is left to the model (0, filled where the job arrives) */
  CHECK_OK(parse("{\"prompt\": \"x\", \"seed\": 0}", &j));
  CHECK(j.steps == 25 && j.guidance == 9.0f && j.scheduler == FR_SCHEDULER_DPMPP_2M && j.frames == 16 &&
            j.height == 0 && j.width == 0 && j.negative_prompt[0] == '\0' && strcmp(j.numerics, "f32-v1") == 0,
        "defaults");

  /* canonical JSON round trip */
  CHECK_OK(parse(full, &j));
  char buf[8192];
  size_t n = fr_job_to_json(&j, buf, sizeof buf);
  fr_job back;
  CHECK(n < sizeof buf, "json fits");
  CHECK_OK(fr_job_parse(buf, n, NULL, &back));
  CHECK(memcmp(&back, &j, sizeof j) == 0, "to_json then parse gives the same job: %s", buf);
  CHECK(fr_job_to_json(&j, NULL, 0) == n, "size query");

  /* clang-format off */ /* a table: one entry per line */
  struct {
    const char *json, *want;
  } bad[] = {
    {"", "a job spec is a JSON object"},
    {"[1]", "a job spec is a JSON object"},
    {"{\"prompt\": \"x\"}", "seed is missing"},
    {"{\"seed\": 1}", "prompt is missing"},
    {"{\"prompt\": \"x\", \"seed\": 1, \"color\": 3}", "unknown field \"color\""},
    {"{\"prompt\": \"x\", \"seed\": 1, \"seed\": 2}", "\"seed\" appears twice"},
    {"{\"prompt\": \"x\", \"seed\": 18446744073709551616}", "seed must be an integer"},
    {"{\"prompt\": \"x\", \"seed\": -1}", "seed must be an integer"},
    {"{\"prompt\": \"x\", \"seed\": 1.5}", "seed must be an integer"},
    {"{\"prompt\": \"x\", \"seed\": \"1\"}", "seed must be an integer"},
    {"{\"prompt\": \"x\", \"seed\": 1, \"steps\": 0}", "steps must be in 1..200"},
    {"{\"prompt\": \"x\", \"seed\": 1, \"steps\": 201}", "steps must be in 1..200"},
    {"{\"prompt\": \"x\", \"seed\": 1, \"guidance\": 50.5}", "guidance must be in 0..50"},
    {"{\"prompt\": \"x\", \"seed\": 1, \"guidance\": true}", "guidance must be a number"},
    {"{\"prompt\": \"x\", \"seed\": 1, \"height\": 250}", "height must be a multiple of 8"},
    {"{\"prompt\": \"x\", \"seed\": 1, \"width\": 2048}", "width must be a multiple of 8 in 8..1024"},
    {"{\"prompt\": \"x\", \"seed\": 1, \"frames\": 65}", "frames must be in 1..64"},
    {"{\"prompt\": \"x\", \"seed\": 1, \"scheduler\": \"euler\"}", "scheduler must be"},
    {"{\"prompt\": \"x\", \"seed\": 1, \"job_id\": \"a b\"}", "job_id may hold only"},
    {"{\"prompt\": \"x\", \"seed\": 1, \"model\": \"ABC\"}", "model must be 32 lowercase hex digits"},
    {"{\"prompt\": \"x\", \"seed\": 1,}", "trailing comma"},
    {"{\"prompt\": \"x\", \"seed\": 1} x", "trailing data"},
    {"{\"prompt\": \"x\" \"seed\": 1}", "',' or '}' expected"},
    {"{\"prompt\": {\"a\": 1}, \"seed\": 1}", "not objects or arrays"},
    {"{\"prompt\": \"\\ud800\", \"seed\": 1}", "lone high surrogate"},
    {"{\"prompt\": \"\\u0000\", \"seed\": 1}", "\\u0000 is not allowed"},
    {"{\"prompt\": \"\xc3\x28\", \"seed\": 1}", "invalid UTF-8"},
    {"{\"prompt\": \"\xed\xa0\x80\", \"seed\": 1}", "invalid UTF-8"}, /* an encoded surrogate */
    {"{\"prompt\": \"\xc0\xaf\", \"seed\": 1}", "invalid UTF-8"},     /* overlong */
    {"{\"prompt\": \"a\nb\", \"seed\": 1}", "control character"},
    {"{\"prompt\": \"x\", \"seed\": 01}", "',' or '}' expected"},
    {"{\"prompt\": \"x\", \"seed\": 1", "',' or '}' expected"},
    {"{\"prompt\": \"abc", "unterminated string"},
  };
  /* clang-format on */
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fr_job_init(&j);
    fr_job before = j;
    fr_status st = parse(bad[i].json, &j);
    CHECK(st == FR_EINVAL && strstr(fr_last_error(), bad[i].want), "spec %zu %s: got %s '%s', want '%s'", i,
          bad[i].json, fr_status_str(st), fr_last_error(), bad[i].want);
    CHECK(memcmp(&before, &j, sizeof j) == 0, "a refused spec must not change the output job (%zu)", i);
  }

  /* sizes: a 2000-byte prompt is accepted, 2001 bytes are not */
  char *big = (char *)malloc(2200);
  for (int len = 2000; len <= 2001; len++) {
    int at = snprintf(big, 2200, "{\"prompt\": \"");
    memset(big + at, 'a', (size_t)len);
    snprintf(big + at + len, 2200 - (size_t)(at + len), "\", \"seed\": 3}");
    fr_status st = parse(big, &j);
    CHECK((st == FR_OK) == (len == 2000), "a %d-byte prompt: %s", len, fr_last_error());
  }
  free(big);
  /* limits from the node's configuration */
  fr_job_limits lim = {50, 16, 256, 256};
  const char *s = "{\"prompt\": \"x\", \"seed\": 1, \"frames\": 24}";
  CHECK(fr_job_parse(s, strlen(s), &lim, &j) == FR_EINVAL && strstr(fr_last_error(), "frames must be in 1..16"),
        "node limits: %s", fr_last_error());
  return check_done("test_job");
}
