/* Whole jobs on the CUDA backend against the CPU reference: every step hash, the frame hash and the digest
 * must be the same bits, for the tiny random model (F32 and F16 weights), with and without guidance, both
 * schedulers, a batch of jobs, a job split over two ranks of the threads communicator on the one device,
 * and a verifier's single-step recomputation and decode, in f32-v1 and in the exact-integer profile i8x-v1.
 * `--small` runs the small model instead (slow); `--i8x` only the i8x-v1 jobs.
 * Skips (exit 77) when the build has no CUDA or the machine has no GPU. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <unistd.h>

#include "fractal/i8x.h"
#include "fractal/modelgen.h"
#include "fractal/pipeline.h"
#include "fractal/protocol.h"
#include "sealed.h"
#include "testutil.h"

typedef struct side {
  fr_backend *be;
  fr_model *m;
} side;

static side open_side(const char *spec, const char *dir)
{
  side s = {NULL, NULL};
  fr_model_options mo = {NULL, FR_I8X_BITS}; /* both profiles */
  CHECK_OK(fr_backend_open(spec, 0, &s.be));
  if (s.be) CHECK_OK(fr_model_load(dir, s.be, &mo, &s.m));
  if (!s.m) exit(1);
  return s;
}

static void close_side(side *s)
{
  fr_model_free(s->m);
  fr_backend_close(s->be);
}

static fr_job make_job(const char *prompt, uint64_t seed, fr_scheduler sched, int steps, float guidance, int frames,
                       int height, int width)
{
  fr_job j;
  fr_job_init(&j);
  snprintf(j.prompt, sizeof j.prompt, "%s", prompt);
  j.seed = seed, j.scheduler = sched, j.steps = steps, j.guidance = guidance;
  j.frames = frames, j.height = height, j.width = width;
  return j;
}

/* Compares two results hash by hash; names the first difference. */
static void check_same(const char *what, const fr_result *want, const fr_result *got)
{
  char a[33], b[33];
  CHECK(want->steps == got->steps, "%s: %d steps vs %d", what, want->steps, got->steps);
  for (int k = 0; k < want->steps && k < got->steps; k++)
    if (!fr_hash_equal(want->step_hashes[k], got->step_hashes[k])) {
      fr_hash_hex(want->step_hashes[k], a), fr_hash_hex(got->step_hashes[k], b);
      CHECK(0, "%s: step %d differs first: CPU %s, CUDA %s", what, k, a, b);
      return;
    }
  fr_hash_hex(want->frames_hash, a), fr_hash_hex(got->frames_hash, b);
  CHECK(fr_hash_equal(want->frames_hash, got->frames_hash), "%s: frames differ: CPU %s, CUDA %s", what, a, b);
  fr_hash_hex(want->digest, a), fr_hash_hex(got->digest, b);
  CHECK(fr_hash_equal(want->digest, got->digest), "%s: digest CPU %s, CUDA %s", what, a, b);
  if (fr_hash_equal(want->digest, got->digest)) printf("ok   %-44s digest %s\n", what, a);
}

/* One job on both sides. */
static void compare_job(const char *what, side *cpu, side *gpu, const fr_job *job)
{
  fr_result rc, rg;
  CHECK_OK(generate_sealed(cpu->m, job, 1, NULL, &rc));
  CHECK_OK(generate_sealed(gpu->m, job, 1, NULL, &rg));
  check_same(what, &rc, &rg);
  fr_result_free(&rc), fr_result_free(&rg);
}

typedef struct capture {
  float *lat[8];
  size_t n;
} capture;

static void on_latent(void *ctx, int job, int step, const float *x, size_t n)
{
  capture *c = (capture *)ctx;
  if (job != 0 || step >= 8) return;
  c->n = n;
  free(c->lat[step]);
  c->lat[step] = (float *)malloc(n * sizeof(float));
  memcpy(c->lat[step], x, n * sizeof(float));
}

/* A verifier on the GPU: every step of a CPU-made DPM-Solver++ job recomputed from its latents, and the
 * final latent decoded, must give the job's hashes. */
static void check_verifier_path(side *cpu, side *gpu, const fr_job *job)
{
  capture cap = {{NULL}, 0};
  fr_observer obs = {&cap, NULL, NULL, on_latent, NULL, NULL};
  fr_run_options ro = {.observer = &obs};
  fr_result r;
  CHECK_OK(generate_sealed(cpu->m, job, 1, &ro, &r));
  float *out = (float *)malloc(cap.n * sizeof(float));
  int bad = 0;
  for (int k = 0; k < job->steps && k + 1 < 8; k++) {
    const float *prev = fr_step_needs_previous(gpu->m, job, k) ? cap.lat[k - 1] : NULL;
    CHECK_OK(fr_recompute_step(gpu->m, job, k, prev, cap.lat[k], out));
    if (!fr_hash_equal(fr_hash_f32(out, cap.n), r.step_hashes[k])) bad++;
  }
  CHECK(bad == 0, "%d steps recomputed on the GPU differ from the CPU job", bad);
  size_t bytes = (size_t)job->frames * (size_t)job->height * (size_t)job->width * 3;
  uint8_t *frames = (uint8_t *)malloc(bytes);
  CHECK_OK(fr_decode_latent(gpu->m, job, cap.lat[job->steps], frames));
  CHECK(memcmp(frames, r.frames, bytes) == 0, "the GPU's decode of the final latent differs from the CPU's frames");
  if (!bad && memcmp(frames, r.frames, bytes) == 0)
    printf("ok   %-44s every step and the decode\n", "verifier spot checks on the GPU");
  free(frames), free(out);
  for (int k = 0; k < 8; k++) free(cap.lat[k]);
  fr_result_free(&r);
}

static char *make_model(const char *root, const char *preset, fr_dtype dt)
{
  char *dir = (char *)malloc(512);
  snprintf(dir, 512, "%s/%s-%s", root, preset, fr_dtype_name(dt));
  fr_modelgen_options mo = {preset, 0, dt, NULL, NULL, NULL};
  CHECK_OK(fr_modelgen_write(dir, &mo));
  return dir;
}

int main(int argc, char **argv)
{
  int small = argc > 1 && !strcmp(argv[1], "--small"), i8x = argc > 1 && !strcmp(argv[1], "--i8x");
  if (fr_cuda_device_count() == 0) {
    printf("SKIP: no CUDA device: the pipeline's GPU parity is unverified here\n");
    return CHECK_SKIP;
  }
  char root[] = "/tmp/fractal-cuda-pipeline-XXXXXX";
  if (!mkdtemp(root)) return 1;
  char *dir = make_model(root, small ? "small" : "tiny", FR_F32);
  side cpu = open_side("cpu", dir), gpu = open_side("cuda", dir);
  printf("comparing %s with %s on the %s model\n", fr_backend_name(gpu.be), fr_backend_name(cpu.be),
         small ? "small" : "tiny");
  int h = small ? 128 : 64, w = small ? 96 : 48;
  fr_job a = make_job("a red fox running through snow", 7, FR_SCHEDULER_DPMPP_2M, 3, 9.0f, 3, h, w);
  fr_job b = make_job("tokyo at night, neon, rain!", 123456789012345ull, FR_SCHEDULER_DDIM, 2, 7.5f, 2, h, w);
  fr_job c = make_job("an empty beach", 18446744073709551615ull, FR_SCHEDULER_DPMPP_2M, 2, 1.0f, 3, h, w);
  if (i8x) { /* the exact-integer profile: the GPU's int8 tensor-core kernels against the CPU's int16 ones */
    fr_job ai = a;
    snprintf(ai.numerics, sizeof ai.numerics, "%s", FR_I8X_PROFILE);
    compare_job("i8x-v1, DPM-Solver++, guidance 9", &cpu, &gpu, &ai);
    fr_result ri, rci;
    fr_run_options four_i = split_over(4, 0);
    fr_job ai4 = ai;
    ai4.frames = 4, ai4.steps = 2;
    CHECK_OK(generate_sealed(gpu.m, &ai4, 1, &four_i, &ri));
    CHECK_OK(generate_sealed(cpu.m, &ai4, 1, NULL, &rci));
    check_same("i8x-v1, 4 ranks (halves x frames) on one device", &rci, &ri);
    fr_result_free(&ri), fr_result_free(&rci);
    check_verifier_path(&cpu, &gpu, &ai);
  } else {
    compare_job("DPM-Solver++, guidance 9", &cpu, &gpu, &a);
  }
  if (!small && !i8x) {
    compare_job("DDIM, guidance 7.5", &cpu, &gpu, &b);
    compare_job("DPM-Solver++, no guidance", &cpu, &gpu, &c);

    /* a batch of two jobs (different schedulers, steps and guidance) on the GPU, each against the CPU alone */
    fr_job ab[2] = {a, c};
    fr_result rg[2], rc;
    CHECK_OK(generate_sealed(gpu.m, ab, 2, NULL, rg));
    CHECK_OK(generate_sealed(cpu.m, &a, 1, NULL, &rc));
    check_same("batched job 1 of 2", &rc, &rg[0]);
    fr_result_free(&rc);
    CHECK_OK(generate_sealed(cpu.m, &c, 1, NULL, &rc));
    check_same("batched job 2 of 2", &rc, &rg[1]);
    fr_result_free(&rc), fr_result_free(&rg[0]), fr_result_free(&rg[1]);

    /* two ranks of the threads communicator, each with its own stream on the one device */
    fr_result rs;
    fr_run_options two = split_over(2, 0), four = split_over(4, 0);
    CHECK_OK(generate_sealed(gpu.m, &a, 1, &two, &rs));
    CHECK_OK(generate_sealed(cpu.m, &a, 1, NULL, &rc));
    CHECK(rs.shards.ranks == 2 && rs.shards.guidance_ranks == 2,
          "a 2-rank plan of a guided job splits the guidance halves");
    check_same("2 ranks (guidance halves) on one device", &rc, &rs);
    fr_result_free(&rs);
    fr_job a4 = a;
    a4.frames = 4;
    fr_result rc4;
    CHECK_OK(generate_sealed(gpu.m, &a4, 1, &four, &rs));
    CHECK_OK(generate_sealed(cpu.m, &a4, 1, NULL, &rc4));
    CHECK(rs.shards.frame_ranks == 2, "a 4-rank plan of a guided job has 2 frame ranks");
    check_same("4 ranks (halves x frames) on one device", &rc4, &rs);
    fr_result_free(&rs), fr_result_free(&rc4), fr_result_free(&rc);

    check_verifier_path(&cpu, &gpu, &a);

    /* half-precision weights, widened in the kernels */
    char *dir16 = make_model(root, "tiny", FR_F16);
    side cpu16 = open_side("cpu", dir16), gpu16 = open_side("cuda", dir16);
    compare_job("F16 weights, DDIM", &cpu16, &gpu16, &b);
    close_side(&cpu16), close_side(&gpu16);
    free(dir16);
  }
  close_side(&cpu), close_side(&gpu);
  free(dir);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
  return check_done(small ? "test_cuda_pipeline --small" : i8x ? "test_cuda_pipeline --i8x" : "test_cuda_pipeline");
}
