/* The pipeline's promises on the tiny random model: the same job gives the same digest across runs,
 * thread counts and batch compositions; single steps recompute exactly (DDIM, and DPM-Solver++ first
 * and second order); decoding a final latent gives the job's frames; wrong jobs are refused. The
 * golden digests at the bottom pin the numeric definition: any change to any op's bits shows here. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <unistd.h>

#include "fractal/modelgen.h"
#include "fractal/pipeline.h"
#include "fractal/protocol.h"
#include "sealed.h"
#include "testutil.h"

#define GOLDEN_MODEL "497416f9343a405f16230199bacc422c"
#define GOLDEN_JOB_A "93337dd45584399d33fd15884f9f452a"
#define GOLDEN_JOB_B "373278559404a852d6bb57586c312585"
#define GOLDEN_JOB_C "688ce05f1508c0ff5941731c1846e13f"

static char model_dir[256];

typedef struct capture {
  float *lat[8][16]; /* [job][step] */
  size_t n;
} capture;

static void on_latent(void *ctx, int job, int step, const float *x, size_t n)
{
  capture *c = (capture *)ctx;
  c->n = n;
  c->lat[job][step] = (float *)malloc(n * sizeof(float));
  memcpy(c->lat[job][step], x, n * sizeof(float));
}

static void capture_free(capture *c)
{
  for (int j = 0; j < 8; j++)
    for (int s = 0; s < 16; s++) free(c->lat[j][s]);
  memset(c, 0, sizeof *c);
}

static fr_job make_job(const char *id, const char *prompt, uint64_t seed, fr_scheduler s, int steps, float g)
{
  fr_job j;
  fr_job_init(&j);
  snprintf(j.job_id, sizeof j.job_id, "%s", id);
  snprintf(j.prompt, sizeof j.prompt, "%s", prompt);
  j.seed = seed, j.scheduler = s, j.steps = steps, j.guidance = g, j.frames = 3, j.height = 64, j.width = 48;
  return j;
}

static void hex_of(fr_hash128 h, char *out) { fr_hash_hex(h, out); }

static int same_result(const fr_result *a, const fr_result *b)
{
  if (!fr_hash_equal(a->digest, b->digest) || a->steps != b->steps) return 0;
  for (int k = 0; k < a->steps; k++)
    if (!fr_hash_equal(a->step_hashes[k], b->step_hashes[k])) return 0;
  return fr_hash_equal(a->frames_hash, b->frames_hash);
}

static fr_model *load(int threads, fr_backend **be)
{
  fr_model *m = NULL;
  CHECK_OK(fr_backend_open("cpu", threads, be));
  CHECK_OK(fr_model_load(model_dir, *be, NULL, &m));
  if (!m) exit(1);
  return m;
}

int main(void)
{
  char tmpl[] = "/tmp/fractal-pipeline-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  snprintf(model_dir, sizeof model_dir, "%s/tiny", tmpl);
  fr_modelgen_options mo = {"tiny", 0, FR_F32, NULL, NULL, NULL};
  CHECK_OK(fr_modelgen_write(model_dir, &mo));

  fr_backend *be2, *be1;
  fr_model *m2 = load(2, &be2), *m1 = load(1, &be1);
  fr_job a = make_job("a", "a red fox running through snow", 7, FR_SCHEDULER_DPMPP_2M, 4, 9.0f);
  fr_job b = make_job("b", "tokyo at night, neon, rain!", 123456789012345ull, FR_SCHEDULER_DDIM, 3, 7.5f);
  fr_job c = make_job("c", "an empty beach", 18446744073709551615ull, FR_SCHEDULER_DPMPP_2M, 2, 1.0f); /* no guidance */

  capture cap = {0};
  fr_observer obs = {&cap, NULL, NULL, on_latent, NULL, NULL};
  fr_run_options ro = {.observer = &obs};
  fr_result ra, ra2, ra1, rb, rc, batch[3];
  CHECK_OK(generate_sealed(m2, &a, 1, &ro, &ra));
  CHECK_OK(generate_sealed(m2, &a, 1, NULL, &ra2));
  CHECK_OK(generate_sealed(m1, &a, 1, NULL, &ra1));
  CHECK(same_result(&ra, &ra2), "the same job twice must give the same hashes");
  CHECK(same_result(&ra, &ra1), "1 thread and 2 threads must give the same hashes");
  CHECK_OK(generate_sealed(m2, &b, 1, NULL, &rb));
  CHECK_OK(generate_sealed(m2, &c, 1, NULL, &rc));
  fr_job abc[3] = {c, a, b};
  CHECK_OK(generate_sealed(m2, abc, 3, NULL, batch));
  CHECK(same_result(&batch[1], &ra) && same_result(&batch[2], &rb) && same_result(&batch[0], &rc),
        "each job of a batch (mixed schedulers, step counts and guidance) must equal the job run alone");
  fr_job twice[2] = {a, a};
  fr_result rt[2];
  CHECK_OK(generate_sealed(m2, twice, 2, NULL, rt));
  CHECK(same_result(&rt[0], &ra) && same_result(&rt[1], &ra), "a job batched with itself");
  CHECK(!fr_hash_equal(ra.digest, rb.digest), "different jobs, different digests");

  /* a size left out (0) is the model's native size, filled in where the job arrives; unfilled, it is refused */
  fr_job unsized = a;
  unsized.height = unsized.width = 0;
  CHECK(fr_job_check(m2, &unsized) == FR_JOB_BAD_SHAPE && strstr(fr_last_error(), "fr_job_fill_size"),
        "an unfilled size: %s", fr_last_error());
  fr_model_info mi;
  fr_model_get_info(m2, &mi);
  fr_job_fill_size(m2, &unsized);
  CHECK(unsized.height == mi.default_height && unsized.width == mi.default_width && mi.default_height == 64,
        "fr_job_fill_size: %dx%d, the tiny model's size is %dx%d", unsized.width, unsized.height, mi.default_width,
        mi.default_height);
  fr_job half = a;
  half.height = 0, half.width = 32;
  fr_job_fill_size(m2, &half);
  CHECK(half.height == 64 && half.width == 32, "only the size left out is filled: %dx%d", half.width, half.height);

  /* job_id is not part of the digest; everything else is */
  fr_job a_id = a;
  snprintf(a_id.job_id, sizeof a_id.job_id, "another-id");
  fr_result rid;
  CHECK_OK(generate_sealed(m2, &a_id, 1, NULL, &rid));
  CHECK(fr_hash_equal(rid.digest, ra.digest), "job_id must not change the digest");
  fr_job a_seed = a;
  a_seed.seed++;
  fr_result rs;
  CHECK_OK(generate_sealed(m2, &a_seed, 1, NULL, &rs));
  CHECK(!fr_hash_equal(rs.digest, ra.digest) && !fr_hash_equal(rs.step_hashes[0], ra.step_hashes[0]),
        "the seed changes the noise");

  /* single-step recomputation, as a verifier does it: x_{k+1} hashes to step_hashes[k] */
  float *out = (float *)malloc(cap.n * sizeof(float));
  for (int k = 0; k < a.steps; k++) {
    int need = fr_step_needs_previous(m2, &a, k);
    CHECK(need == (k >= 1 && k < a.steps - 1), "DPM++ step %d: needs the previous latent = %d", k, need);
    CHECK_OK(fr_recompute_step(m1, &a, k, need ? cap.lat[0][k - 1] : NULL, cap.lat[0][k], out));
    CHECK(fr_hash_equal(fr_hash_f32(out, cap.n), ra.step_hashes[k]), "recomputed DPM++ step %d differs", k);
  }
  CHECK(fr_recompute_step(m1, &a, 1, NULL, cap.lat[0][1], out) == FR_EINVAL && strstr(fr_last_error(), "second-order"),
        "a second-order step without the previous latent: %s", fr_last_error());
  capture_free(&cap);
  fr_result_free(&rb); /* run b again, capturing its latents */
  CHECK_OK(generate_sealed(m2, &b, 1, &ro, &rb));
  for (int k = 0; k < b.steps; k++) {
    CHECK(!fr_step_needs_previous(m2, &b, k), "DDIM never needs the previous latent");
    CHECK_OK(fr_recompute_step(m2, &b, k, NULL, cap.lat[0][k], out));
    CHECK(fr_hash_equal(fr_hash_f32(out, cap.n), rb.step_hashes[k]), "recomputed DDIM step %d differs", k);
  }
  size_t fbytes = (size_t)b.frames * b.height * b.width * 3;
  uint8_t *frames = (uint8_t *)malloc(fbytes);
  CHECK_OK(fr_decode_latent(m2, &b, cap.lat[0][b.steps], frames));
  CHECK(memcmp(frames, rb.frames, fbytes) == 0, "decoding the final latent must give the job's frames");
  capture_free(&cap);

  /* refusals */
  fr_job bad = a;
  snprintf(bad.model, sizeof bad.model, "%s", "0123456789abcdef0123456789abcdef");
  fr_result rbad;
  CHECK(generate_sealed(m2, &bad, 1, NULL, &rbad) == FR_EINVAL && strstr(fr_last_error(), "the loaded model is"),
        "a job for another model: %s", fr_last_error());
  bad = a;
  snprintf(bad.numerics, sizeof bad.numerics, "i8-v1");
  CHECK(generate_sealed(m2, &bad, 1, NULL, &rbad) == FR_EUNSUPPORTED, "unknown numerics must be refused");
  fr_job mixed[2] = {a, b};
  mixed[1].frames = 4;
  CHECK(generate_sealed(m2, mixed, 2, NULL, batch) == FR_EINVAL && strstr(fr_last_error(), "share frames"),
        "a batch of different sizes: %s", fr_last_error());

  /* the scheduler config is read at load for both schedulers: a file one scheduler cannot use still serves
   * the other, and jobs for the first get the reason; a file neither can use stops the load */
  char path[512];
  snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", model_dir);
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL, "open %s", path);
  char text[8192];
  size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
  if (f) fclose(f);
  text[len] = 0;
  char *brace = strchr(text, '{');
  CHECK(brace != NULL, "scheduler_config.json is an object");
  for (int pass = 0; pass < 2 && brace; pass++) {
    const char *extra = pass == 0 ? "\"algorithm_type\": \"sde-dpmsolver++\", " : "\"prediction_type\": \"sample\", ";
    f = fopen(path, "wb");
    if (f) fprintf(f, "{%s%s", extra, brace + 1), fclose(f);
    fr_model *m3 = NULL;
    fr_status st = fr_model_load(model_dir, be1, NULL, &m3);
    if (pass == 0) {
      CHECK(st == FR_OK, "a config only DPM-Solver++ cannot use must load: %s", fr_last_error());
      fr_result r3;
      if (m3) {
        CHECK(generate_sealed(m3, &b, 1, NULL, &r3) == FR_OK, "a DDIM job on it: %s", fr_last_error());
        fr_result_free(&r3);
        CHECK(generate_sealed(m3, &a, 1, NULL, &r3) != FR_OK && strstr(fr_last_error(), "algorithm_type"),
              "a DPM-Solver++ job on it must fail naming algorithm_type: %s", fr_last_error());
      }
    } else {
      CHECK(st != FR_OK && strstr(fr_last_error(), "prediction_type"),
            "a config neither scheduler can use must stop the load, naming prediction_type: %s", fr_last_error());
    }
    fr_model_free(m3);
  }

  /* golden digests: the numeric definition, pinned (see the file comment) */
  char hex[33];
  fr_model_info info;
  fr_model_get_info(m2, &info);
  printf("tiny model digest %s\n", info.digest_hex);
  hex_of(ra.digest, hex);
  printf("job a digest %s\n", hex);
  char hb[33], hc[33];
  hex_of(rb.digest, hb), hex_of(rc.digest, hc);
  printf("job b digest %s\njob c digest %s\n", hb, hc);
  const char *golden_model = getenv("FRACTAL_PRINT_GOLDEN") ? NULL : GOLDEN_MODEL;
  if (golden_model) {
    CHECK(strcmp(info.digest_hex, GOLDEN_MODEL) == 0, "tiny model digest %s, golden %s", info.digest_hex, GOLDEN_MODEL);
    CHECK(strcmp(hex, GOLDEN_JOB_A) == 0, "job a digest %s, golden %s", hex, GOLDEN_JOB_A);
    hex_of(rb.digest, hex);
    CHECK(strcmp(hex, GOLDEN_JOB_B) == 0, "job b digest %s, golden %s", hex, GOLDEN_JOB_B);
    hex_of(rc.digest, hex);
    CHECK(strcmp(hex, GOLDEN_JOB_C) == 0, "job c digest %s, golden %s", hex, GOLDEN_JOB_C);
  }

  free(out), free(frames);
  fr_result *all[] = {&ra, &ra2, &ra1, &rb, &rc, &batch[0], &batch[1], &batch[2], &rt[0], &rt[1], &rid, &rs};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) fr_result_free(all[i]);
  fr_model_free(m1), fr_model_free(m2);
  fr_backend_close(be1), fr_backend_close(be2);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpl);
  return check_done("test_pipeline");
}
