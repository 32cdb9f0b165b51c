/* Sharding one job: the digest (every step hash and the frames) is identical for 1, 2, 3 and 4 ranks of
 * the threads communicator, on the tiny and small models, for both schedulers, with frame counts that
 * split evenly and that do not; the plan refuses more frame shards than frames and says how many ranks a
 * job can use; the traffic is counted. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <unistd.h>

#include "fractal/modelgen.h"
#include "fractal/pipeline.h"
#include "fractal/protocol.h"
#include "sealed.h"
#include "testutil.h"

static int same(const fr_result *a, const fr_result *b, int *first_step)
{
  *first_step = -1;
  for (int k = 0; k < a->steps; k++)
    if (!fr_hash_equal(a->step_hashes[k], b->step_hashes[k])) return *first_step = k, 0;
  return fr_hash_equal(a->frames_hash, b->frames_hash) && fr_hash_equal(a->digest, b->digest);
}

static void check_model(const char *preset, const char *dir, int frames_list_n, const int *frames_list, int max_ranks)
{
  fr_modelgen_options mo = {preset, 0, FR_F32, NULL, NULL, NULL};
  CHECK_OK(fr_modelgen_write(dir, &mo));
  fr_backend *be;
  fr_model *m = NULL;
  CHECK_OK(fr_backend_open("cpu", 2, &be));
  CHECK_OK(fr_model_load(dir, be, NULL, &m));
  if (!m) return;
  fr_model_info info;
  fr_model_get_info(m, &info);
  for (int sc = 0; sc < 2; sc++)
    for (int fi = 0; fi < frames_list_n; fi++) {
      fr_job j;
      fr_job_init(&j);
      snprintf(j.job_id, sizeof j.job_id, "shard");
      snprintf(j.prompt, sizeof j.prompt, "a kite over the dunes");
      j.seed = 4242 + (uint64_t)fi, j.steps = 3, j.scheduler = sc ? FR_SCHEDULER_DDIM : FR_SCHEDULER_DPMPP_2M;
      j.frames = frames_list[fi], j.height = j.width = info.default_height / 2;
      j.guidance = fi % 2 ? 1.0f : 9.0f; /* with and without guidance */
      fr_result one;
      CHECK_OK(generate_sealed(m, &j, 1, NULL, &one));
      for (int ranks = 1; ranks <= max_ranks; ranks++) {
        fr_result r;
        fr_run_options so = split_over(ranks, 2);
        fr_status s = generate_sealed(m, &j, 1, &so, &r);
        fr_shard_stats st = r.shards;
        CHECK(s == FR_OK, "%s %s %d frames, %d ranks: %s", preset, fr_scheduler_name(j.scheduler), j.frames, ranks,
              fr_last_error());
        if (s != FR_OK) continue;
        int k;
        CHECK(same(&one, &r, &k), "%s %s %d frames guidance %g, %d ranks (%d x %d): differs (first step %d)", preset,
              fr_scheduler_name(j.scheduler), j.frames, (double)j.guidance, ranks, st.guidance_ranks, st.frame_ranks,
              k);
        CHECK(ranks == 1 || (st.sent_bytes > 0 && st.sent_bytes == st.planned_bytes),
              "%d ranks: sent %llu bytes, the plan said %llu", ranks, (unsigned long long)st.sent_bytes,
              (unsigned long long)st.planned_bytes);
        fr_result_free(&r);
      }
      fr_result_free(&one);
    }
  /* one frame with guidance: the second half decodes nothing and sends nothing */
  fr_job j;
  fr_job_init(&j);
  snprintf(j.prompt, sizeof j.prompt, "one frame");
  j.frames = 1, j.steps = 2, j.height = j.width = info.default_height / 2, j.guidance = 9.0f;
  fr_result one, two;
  fr_run_options two_ranks = split_over(2, 2);
  CHECK_OK(generate_sealed(m, &j, 1, NULL, &one));
  CHECK_OK(generate_sealed(m, &j, 1, &two_ranks, &two));
  int k = -1;
  CHECK(two.shards.guidance_ranks == 2 && same(&one, &two, &k),
        "%s: 1 frame on 2 guidance ranks differs (first step %d)", preset, k);
  fr_result_free(&one), fr_result_free(&two);
  fr_job_init(&j);
  snprintf(j.prompt, sizeof j.prompt, "x");
  j.frames = 2, j.steps = 1, j.height = j.width = info.default_height / 2, j.guidance = 1.0f;
  fr_result r, rb[2];
  fr_run_options three = split_over(3, 2);
  CHECK(generate_sealed(m, &j, 1, &three, &r) == FR_EINVAL && strstr(fr_last_error(), "2 frames"),
        "3 frame shards of 2 frames: %s", fr_last_error());
  fr_job two_jobs[2] = {j, j};
  CHECK(generate_sealed(m, two_jobs, 2, &two_ranks, rb) == FR_EINVAL && strstr(fr_last_error(), "runs alone"),
        "a batch split over ranks: %s", fr_last_error());
  CHECK(one.shards.ranks == 0, "a whole job reports %d ranks", one.shards.ranks);
  fr_model_free(m);
  fr_backend_close(be);
}

/* The most ranks a job's plan can use: guidance halves pair up, each frame rank needs a frame. */
static void check_fit(void)
{
  /* clang-format off */ /* a table: one entry per line */
  static const struct { int frames; float guidance; int ranks, want; } cases[] = {
    {1, 9.0f, 3, 2}, {1, 9.0f, 2, 2}, {1, 1.0f, 4, 1}, {5, 1.0f, 8, 5}, {2, 9.0f, 5, 4}, {3, 9.0f, 7, 6}, {16, 9.0f, 1, 1}};
  /* clang-format on */
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fr_job j;
    fr_job_init(&j);
    j.frames = cases[i].frames, j.guidance = cases[i].guidance;
    int got = fr_shard_fit(&j, cases[i].ranks);
    CHECK(got == cases[i].want, "fit: %d frames, guidance %g, %d ranks: got %d, want %d", j.frames, (double)j.guidance,
          cases[i].ranks, got, cases[i].want);
  }
}

int main(void)
{
  check_fit();
  char tmpl[] = "/tmp/fractal-shard-XXXXXX", dir[300];
  if (!mkdtemp(tmpl)) return 1;
  int tiny_frames[4] = {8, 7, 5, 4}, small_frames[2] = {6, 5};
  snprintf(dir, sizeof dir, "%s/tiny", tmpl);
  check_model("tiny", dir, 4, tiny_frames, 4);
  snprintf(dir, sizeof dir, "%s/small", tmpl);
  check_model("small", dir, 2, small_frames, 4);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpl);
  return check_done("test_shard");
}
