/* Whole jobs in the exact-integer profile i8x-v1 on the tiny random model: the same digest across runs,
 * thread counts, batch compositions and ranks of a split job; single steps recompute exactly (DDIM and
 * both DPM-Solver++ orders); decoding the final latent gives the job's frames; a model loaded without
 * the quantized weights, an unknown profile and a batch mixing profiles are refused. The golden digests
 * pin the profile's definition; the final frames stay close to f32-v1's (PSNR printed and bounded). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "fractal/i8x.h"
#include "fractal/modelgen.h"
#include "fractal/pipeline.h"
#include "fractal/protocol.h"
#include "sealed.h"
#include "testutil.h"

#define GOLDEN_I8X_A "5f05c0e9e4b05d718e68cdc5b98f4afb"
#define GOLDEN_I8X_B "1802a0d5f8827e1cca0960bf965f4bb4"

static char model_dir[256];

typedef struct capture {
  float *lat[2][8]; /* [job][step] */
  size_t n;
} capture;

static void on_latent(void *ctx, int job, int step, const float *x, size_t n)
{
  capture *c = (capture *)ctx;
  c->n = n;
  if (job >= 2 || step >= 8) return;
  free(c->lat[job][step]);
  c->lat[job][step] = (float *)malloc(n * sizeof(float));
  memcpy(c->lat[job][step], x, n * sizeof(float));
}

static fr_job make_job(const char *id, const char *prompt, uint64_t seed, fr_scheduler s, int steps, float g)
{
  fr_job j;
  fr_job_init(&j);
  snprintf(j.job_id, sizeof j.job_id, "%s", id);
  snprintf(j.prompt, sizeof j.prompt, "%s", prompt);
  snprintf(j.numerics, sizeof j.numerics, "%s", FR_I8X_PROFILE);
  j.seed = seed, j.scheduler = s, j.steps = steps, j.guidance = g, j.frames = 4, j.height = 64, j.width = 48;
  return j;
}

static int same_result(const fr_result *a, const fr_result *b)
{
  if (!fr_hash_equal(a->digest, b->digest) || a->steps != b->steps) return 0;
  for (int k = 0; k < a->steps; k++)
    if (!fr_hash_equal(a->step_hashes[k], b->step_hashes[k])) return 0;
  return fr_hash_equal(a->frames_hash, b->frames_hash);
}

static fr_model *load(int threads, int i8x, fr_backend **be)
{
  fr_model *m = NULL;
  fr_model_options o = {NULL, i8x};
  CHECK_OK(fr_backend_open("cpu", threads, be));
  CHECK_OK(fr_model_load(model_dir, *be, &o, &m));
  if (!m) exit(1);
  return m;
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
  double se = 0;
  for (size_t i = 0; i < n; i++) se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
  return se == 0 ? INFINITY : 10 * log10(255.0 * 255.0 / (se / (double)n));
}

int main(void)
{
  char tmpl[] = "/tmp/fractal-pipeline-i8x-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  snprintf(model_dir, sizeof model_dir, "%s/tiny", tmpl);
  fr_modelgen_options mo = {"tiny", 0, FR_F32, NULL, NULL, NULL};
  CHECK_OK(fr_modelgen_write(model_dir, &mo));

  fr_backend *be2, *be1, *be0;
  fr_model *m2 = load(2, FR_I8X_BITS, &be2), *m1 = load(1, FR_I8X_BITS, &be1), *plain = load(2, 0, &be0);
  fr_model_info info;
  fr_model_get_info(m2, &info);
  CHECK(strcmp(info.numerics, "f32-v1,i8x-v1") == 0, "a model loaded with i8x serves %s", info.numerics);
  fr_model_get_info(plain, &info);
  CHECK(strcmp(info.numerics, "f32-v1") == 0, "a model loaded without i8x serves %s", info.numerics);

  fr_job a = make_job("a", "a red fox running through snow", 7, FR_SCHEDULER_DPMPP_2M, 4, 9.0f);
  fr_job b = make_job("b", "tokyo at night, neon, rain!", 123456789012345ull, FR_SCHEDULER_DDIM, 3, 7.5f);
  capture cap = {0};
  fr_observer obs = {&cap, NULL, NULL, on_latent, NULL, NULL};
  fr_run_options ro = {.observer = &obs};
  fr_result ra, ra2, ra1, rb, batch[3], rsplit[2], rf;
  CHECK_OK(generate_sealed(m2, &a, 1, &ro, &ra));
  CHECK_OK(generate_sealed(m2, &a, 1, NULL, &ra2));
  CHECK_OK(generate_sealed(m1, &a, 1, NULL, &ra1));
  CHECK(same_result(&ra, &ra2), "the same i8x-v1 job twice must give the same hashes");
  CHECK(same_result(&ra, &ra1), "1 thread and 2 threads must give the same hashes");
  CHECK_OK(generate_sealed(m2, &b, 1, NULL, &rb));
  fr_job ab[3] = {b, a, b};
  CHECK_OK(generate_sealed(m2, ab, 3, NULL, batch));
  CHECK(same_result(&batch[0], &rb) && same_result(&batch[1], &ra) && same_result(&batch[2], &rb),
        "each i8x-v1 job of a batch must equal the job run alone");
  for (int ranks = 2; ranks <= 3; ranks++) {
    fr_run_options so = split_over(ranks, 2);
    CHECK_OK(generate_sealed(m2, &a, 1, &so, &rsplit[ranks - 2]));
    CHECK(same_result(&rsplit[ranks - 2], &ra), "job a split over %d ranks must equal it whole", ranks);
  }

  /* the profile is part of the job: f32-v1 gives other bits, and frames close to these */
  fr_job af = a;
  snprintf(af.numerics, sizeof af.numerics, "%s", FR_NUMERICS);
  CHECK_OK(generate_sealed(plain, &af, 1, NULL, &rf));
  CHECK(!fr_hash_equal(rf.digest, ra.digest), "f32-v1 and i8x-v1 must differ");
  size_t fbytes = (size_t)a.frames * a.height * a.width * 3;
  double p = psnr(ra.frames, rf.frames, fbytes);
  printf("job a: i8x-v1 frames against f32-v1's: PSNR %.2f dB\n", p);
  CHECK(p > 30.0, "i8x-v1 frames must stay within 30 dB PSNR of f32-v1's on the tiny model, got %.2f", p);

  /* single steps, as a verifier recomputes them */
  float *out = (float *)malloc(cap.n * sizeof(float));
  for (int k = 0; k < a.steps; k++) {
    int need = fr_step_needs_previous(m1, &a, k);
    CHECK_OK(fr_recompute_step(m1, &a, k, need ? cap.lat[0][k - 1] : NULL, cap.lat[0][k], out));
    CHECK(fr_hash_equal(fr_hash_f32(out, cap.n), ra.step_hashes[k]), "recomputed i8x-v1 DPM++ step %d differs", k);
  }
  uint8_t *frames = (uint8_t *)malloc(fbytes);
  CHECK_OK(fr_decode_latent(m1, &a, cap.lat[0][a.steps], frames));
  CHECK(memcmp(frames, ra.frames, fbytes) == 0, "decoding the final i8x-v1 latent must give the job's frames");
  fr_result rb2;
  CHECK_OK(generate_sealed(m2, &b, 1, &ro, &rb2));
  for (int k = 0; k < b.steps; k++) {
    CHECK_OK(fr_recompute_step(m2, &b, k, NULL, cap.lat[0][k], out));
    CHECK(fr_hash_equal(fr_hash_f32(out, cap.n), rb.step_hashes[k]), "recomputed i8x-v1 DDIM step %d differs", k);
  }

  /* refusals */
  fr_result rbad;
  CHECK(generate_sealed(plain, &a, 1, NULL, &rbad) == FR_EUNSUPPORTED && strstr(fr_last_error(), "quantized weights"),
        "an i8x-v1 job on a model loaded without them: %s", fr_last_error());
  CHECK(fr_job_check(plain, &a) == FR_JOB_OTHER_NUMERICS, "fr_job_check must say other numerics");
  fr_job bad = a;
  snprintf(bad.numerics, sizeof bad.numerics, "i8x-v2");
  CHECK(generate_sealed(m2, &bad, 1, NULL, &rbad) == FR_EUNSUPPORTED && strstr(fr_last_error(), "not a profile"),
        "an unknown profile: %s", fr_last_error());
  fr_job mixed[2] = {a, af};
  CHECK(generate_sealed(m2, mixed, 2, NULL, batch) == FR_EINVAL && strstr(fr_last_error(), "numerics"),
        "a batch mixing profiles: %s", fr_last_error());

  /* golden digests of the profile */
  char ha[33], hb[33];
  fr_hash_hex(ra.digest, ha), fr_hash_hex(rb.digest, hb);
  printf("i8x-v1 job a digest %s\ni8x-v1 job b digest %s\n", ha, hb);
  if (!getenv("FRACTAL_PRINT_GOLDEN")) {
    CHECK(strcmp(ha, GOLDEN_I8X_A) == 0, "i8x-v1 job a digest %s, golden %s", ha, GOLDEN_I8X_A);
    CHECK(strcmp(hb, GOLDEN_I8X_B) == 0, "i8x-v1 job b digest %s, golden %s", hb, GOLDEN_I8X_B);
  }

  free(out), free(frames);
  for (int j = 0; j < 2; j++)
    for (int s = 0; s < 8; s++) free(cap.lat[j][s]);
  fr_result *all[] = {&ra, &ra2, &ra1, &rb, &rb2, &batch[0], &batch[1], &batch[2], &rsplit[0], &rsplit[1], &rf};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) fr_result_free(all[i]);
  fr_model_free(m1), fr_model_free(m2), fr_model_free(plain);
  fr_backend_close(be1), fr_backend_close(be2), fr_backend_close(be0);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpl);
  return check_done("test_pipeline_i8x");
}
