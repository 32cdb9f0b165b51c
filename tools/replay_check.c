/* fractal-replay's checks (see replay.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fractal/client.h"
#include "fractal/npy.h"
#include "replay.h"

static int fail(const char *what)
{
  fprintf(stderr, "fractal-replay: %s%s%s\n", what, *fr_last_error() ? ": " : "", fr_last_error());
  return 2;
}

/* Reads a latent: .npy (float32) or raw little-endian float32 of exactly n values. */
static float *load_latent(const char *path, size_t n)
{
  size_t len = strlen(path);
  if (len > 4 && strcmp(path + len - 4, ".npy") == 0) {
    int nd;
    int64_t sh[FR_MAX_DIMS], count = 1;
    float *x;
    if (fr_npy_read_f32(path, &nd, sh, &x) != FR_OK) return fail(path), NULL;
    for (int i = 0; i < nd; i++) count *= sh[i];
    if ((size_t)count != n)
      return fprintf(stderr, "fractal-replay: %s has %lld values, the job's latent %zu\n", path, (long long)count, n),
             free(x), NULL;
    return x;
  }
  FILE *f = fopen(path, "rb");
  if (!f) return fprintf(stderr, "fractal-replay: %s: %s\n", path, strerror(errno)), NULL;
  float *x = (float *)malloc(n * sizeof(float));
  size_t got = x ? fread(x, sizeof(float), n, f) : 0;
  int extra = fgetc(f) != EOF;
  fclose(f);
  if (got != n || extra)
    return fprintf(stderr, "fractal-replay: %s is not %zu float32 values\n", path, n), free(x), NULL;
  return x;
}

/* The latent entering step k (steps: the final one) as the prover reveals it, or NULL with the reason on
 * stderr. */
static float *fetch_latent(const replay_source *src, const fr_job *job, int k, size_t n)
{
  float *x;
  if (fr_reveal(src->key, src->hotkey, src->url, job->job_id, k, n, 60000, &x) != FR_OK)
    return fprintf(stderr, "fractal-replay: %s\n", fr_last_error()), NULL;
  return x;
}

/* "[c, f, y, x]" of element i of a latent [1, C, F, h, w]. */
static void latent_index(const fr_model *m, const fr_job *job, size_t i, char *out, size_t n)
{
  fr_model_info info;
  fr_model_get_info(m, &info);
  size_t w = (size_t)(job->width / info.vae_scale), h = (size_t)(job->height / info.vae_scale), f = (size_t)job->frames;
  snprintf(out, n, "[c %zu, frame %zu, y %zu, x %zu]", i / (f * h * w), i / (h * w) % f, i / w % h, i % w);
}

/* One line: how the prover's latent `theirs` differs from this job's `ours`. */
static void report_latent(const fr_model *m, const fr_job *job, const char *what, const float *theirs,
                          const float *ours, size_t n)
{
  fr_diff d;
  fr_diff_f32(theirs, ours, n, &d);
  if (!d.differing) return (void)printf("  %s: all %zu values equal\n", what, n);
  char at[96], first[96];
  latent_index(m, job, d.max_at, at, sizeof at), latent_index(m, job, d.first, first, sizeof first);
  printf("  %s: %zu of %zu values differ; max |delta| %.9g at index %zu %s (prover %.9g, here %.9g); the first at "
         "index %zu %s (prover %.9g, here %.9g)\n",
         what, d.differing, n, d.max_abs, d.max_at, at, (double)theirs[d.max_at], (double)ours[d.max_at], d.first,
         first, (double)theirs[d.first], (double)ours[d.first]);
}

static void report_frames(const fr_job *job, const uint8_t *theirs, const uint8_t *ours)
{
  size_t hw3 = (size_t)job->height * (size_t)job->width * 3, n = hw3 * (size_t)job->frames;
  fr_diff d;
  fr_diff_u8(theirs, ours, n, &d);
  if (!d.differing) {
    printf("  frames: the prover's final latent decodes to this job's frames, byte for byte: its frames hash is "
           "not of its own final latent (its decode or its report diverged)\n");
    return;
  }
  size_t i = d.max_at, j = d.first, W = (size_t)job->width;
  printf("  frames decoded from the prover's final latent: %zu of %zu bytes differ; max |delta| %.0f at frame %zu "
         "(y %zu, x %zu, channel %zu: prover %u, here %u); the first at frame %zu (y %zu, x %zu, channel %zu)\n",
         d.differing, n, d.max_abs, i / hw3, i % hw3 / 3 / W, i % hw3 / 3 % W, i % 3, theirs[i], ours[i], j / hw3,
         j % hw3 / 3 / W, j % hw3 / 3 % W, j % 3);
}

/* The prover's latent entering step k, fetched and checked against its own chain; NULL when it cannot
 * be had or is not what the chain claims (said on stdout or stderr). */
static float *revealed(const fr_result *rec, const replay_source *src, int k, size_t n)
{
  float *x = fetch_latent(src, &rec->job, k, n);
  if (x && !fr_latent_in_chain(rec, k, x, n)) {
    printf("  the latent entering step %d that the prover reveals is not the one its own chain claims\n", k);
    free(x), x = NULL;
  }
  return x;
}

typedef struct latents {
  float *x; /* (steps + 1) x n: the latent entering every step, then the final one */
  size_t n;
  int steps;
} latents;

static void keep_latent(void *ctx, int job, int step, const float *x, size_t n)
{
  latents *l = (latents *)ctx;
  if (!l->x) l->x = (float *)malloc(sizeof(float) * n * (size_t)(l->steps + 1)), l->n = n;
  if (l->x) memcpy(l->x + (size_t)step * n, x, n * sizeof(float));
}

/* Regenerates the job and compares every field of the record with it: the step count, every step hash
 * (the first diverging step, and how many differ), the frames hash, each frame's hash, the digest, and
 * whether the record's digest is the digest of the record's own fields. Each difference is one line; with
 * a source to fetch from, a diverging step and differing frames are explained element by element. */
int replay_check_all(fr_model *m, const fr_result *rec, const replay_source *src)
{
  fr_result r;
  char a[33], b[33];
  latents kept = {NULL, 0, rec->job.steps};
  fr_observer obs = {&kept, NULL, NULL, keep_latent, NULL, NULL};
  fr_run_options ro = {.observer = &obs};
  if (fr_generate(m, &rec->job, 1, src->key ? &ro : NULL, &r) != FR_OK)
    return free(kept.x), fail("regenerating the job");
  fr_result_seal(&r);
  int bad = 0;
  if (rec->steps != r.steps) {
    printf("MISMATCH: steps: the record has %d step hashes, the job has %d steps\n", rec->steps, r.steps);
    bad++;
  }
  int first = -1, differing = 0, steps = rec->steps < r.steps ? rec->steps : r.steps;
  for (int k = 0; k < steps; k++)
    if (!fr_hash_equal(r.step_hashes[k], rec->step_hashes[k])) differing++, first = first < 0 ? k : first;
  if (first >= 0) {
    fr_hash_hex(rec->step_hashes[first], a), fr_hash_hex(r.step_hashes[first], b);
    printf("MISMATCH: step_hashes: the first diverging step is %d of %d (0-based): the record says %s, the job "
           "gives %s; %d of the %d step hashes differ\n",
           first, r.steps, a, b, differing, steps);
    bad++;
    float *x = src->key && kept.x ? revealed(rec, src, first + 1, kept.n) : NULL;
    char what[64];
    snprintf(what, sizeof what, "latent after step %d", first);
    if (x) report_latent(m, &rec->job, what, x, kept.x + (size_t)(first + 1) * kept.n, kept.n);
    free(x);
  }
  int frames_differ = !fr_hash_equal(r.frames_hash, rec->frames_hash);
  if (frames_differ) {
    fr_hash_hex(rec->frames_hash, a), fr_hash_hex(r.frames_hash, b);
    printf("MISMATCH: frames_hash: the record says %s, the frames give %s\n", a, b);
    bad++;
  }
  int have_per_frame = 0;
  for (int f = 0; f < rec->job.frames; f++) have_per_frame |= rec->frame_hashes[f].hi || rec->frame_hashes[f].lo;
  if (have_per_frame) {
    int nf = 0;
    for (int f = 0; f < rec->job.frames; f++) nf += !fr_hash_equal(r.frame_hashes[f], rec->frame_hashes[f]);
    if (nf) {
      printf("MISMATCH: frame_hashes: %d of %d frames differ:", nf, rec->job.frames);
      for (int f = 0; f < rec->job.frames; f++)
        if (!fr_hash_equal(r.frame_hashes[f], rec->frame_hashes[f])) printf(" %d", f);
      printf("\n");
      bad++;
    }
  } else if (frames_differ) {
    printf("(the record has no per-frame hashes to say which frames differ)\n");
  }
  if (frames_differ && src->key && kept.x && rec->steps == r.steps) {
    float *x = revealed(rec, src, rec->steps, kept.n);
    size_t nb = (size_t)r.job.frames * (size_t)r.job.height * (size_t)r.job.width * 3;
    uint8_t *theirs = x ? (uint8_t *)malloc(nb) : NULL;
    if (theirs && fr_decode_latent(m, &rec->job, x, theirs) == FR_OK) report_frames(&rec->job, theirs, r.frames);
    else if (x) fail("decoding the prover's final latent");
    free(theirs), free(x);
  }
  if (!fr_hash_equal(r.digest, rec->digest)) {
    fr_hash_hex(rec->digest, a), fr_hash_hex(r.digest, b);
    printf("MISMATCH: digest: the record says %s, the job's is %s\n", a, b);
    bad++;
  }
  if (!fr_result_digest_ok(rec)) {
    printf("MISMATCH: the record's digest is not the digest of its own job, step hashes and frames hash\n");
    bad++;
  }
  if (!bad) fr_hash_hex(r.digest, a), printf("match: %d steps, %d frames and digest %s\n", r.steps, r.job.frames, a);
  fr_result_free(&r);
  free(kept.x);
  return bad ? 1 : 0;
}

/* The latent entering step k for --step: a file, the job's noise (k = 0), or the prover's reveal. */
static float *step_input(const fr_result *rec, const replay_source *src, const char *file, int k, size_t n)
{
  if (file) return load_latent(file, n);
  if (k == 0) {
    float *x = (float *)malloc(n * sizeof(float));
    if (x) fr_initial_noise(rec->job.seed, x, n);
    return x;
  }
  if (!src->key)
    return fprintf(stderr, "fractal-replay: give the latent entering step %d (--latent/--prev) or --key\n", k), NULL;
  return fetch_latent(src, &rec->job, k, n);
}

int replay_check_step(fr_model *m, const fr_result *rec, int step, const replay_source *src)
{
  size_t n = fr_latent_count(m, &rec->job);
  fr_check_plan plan;
  if (fr_check_plan_make(m, &rec->job, step, 0, &plan) != FR_OK)
    return fprintf(stderr, "fractal-replay: --step must be in 0..%d\n", rec->steps - 1), 2;
  int need_prev = plan.needs_previous;
  if (need_prev && src->latent_file && !src->prev_file)
    return fprintf(
               stderr,
               "fractal-replay: step %d is a second-order DPM-Solver++ step: give --prev (the latent entering step %d)\n",
               step, step - 1),
           2;
  float *x = step_input(rec, src, src->latent_file, step, n);
  float *prev = x && need_prev ? step_input(rec, src, src->prev_file, step - 1, n) : NULL;
  int rc = 2;
  fr_check c;
  if (x && (!need_prev || prev)) {
    if (fr_check_step(m, rec, step, prev, x, &c) != FR_OK) {
      rc = fail("recomputing the step");
    } else if (c.verdict == FR_CHECK_OK) {
      printf("match: %s\n", c.message), rc = 0;
    } else {
      printf("MISMATCH: %s\n", c.message), rc = 1;
      float *ours = c.verdict == FR_CHECK_MISMATCH && src->key ? (float *)malloc(n * sizeof(float)) : NULL;
      float *theirs = ours ? revealed(rec, src, step + 1, n) : NULL;
      char what[64];
      snprintf(what, sizeof what, "latent after step %d", step);
      if (theirs && fr_recompute_step(m, &rec->job, step, prev, x, ours) == FR_OK)
        report_latent(m, &rec->job, what, theirs, ours, n);
      free(ours), free(theirs);
    }
  }
  free(x), free(prev);
  return rc;
}
