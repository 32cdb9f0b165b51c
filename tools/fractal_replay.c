/* fractal-replay: a verifier's check of a prover's answer. Regenerates a job from its challenge record
 * and reports a match, or the first diverging step and the frames that differ; or checks one step
 * from a revealed latent. Exit 0 match, 1 mismatch, 2 error. */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fractal/npy.h"
#include "fractal/philox.h"
#include "fractal/pipeline.h"

static void usage(FILE *f)
{
  fprintf(f, "usage: fractal-replay -m MODEL [options] RECORD.json\n"
             "RECORD is {\"job\": <job spec>, \"result\": <a prover's result>} (the result as /v1/challenge\n"
             "and fractal-gen --json give it).\n"
             "  -m, --model DIR     the model the job names\n"
             "      --step N        check only step N (0-based): recompute it from --latent, the latent\n"
             "                      entering it (raw little-endian float32 as /v1/reveal sends, or .npy)\n"
             "      --latent FILE   the latent entering step N\n"
             "      --prev FILE     the latent entering step N-1 (second-order DPM-Solver++ steps need it)\n"
             "      --backend B     auto (default), cpu, cuda, cuda:N\n"
             "      --threads N     CPU threads\n"
             "Exit status: 0 when everything matches, 1 on a mismatch, 2 on an error.\n");
}

static int err(const char *what)
{
  fprintf(stderr, "fractal-replay: %s%s%s\n", what, *fr_last_error() ? ": " : "", fr_last_error());
  return 2;
}

typedef struct record {
  fr_job job;
  int steps;
  fr_hash128 step[200], frames, frame[64], digest;
  int have_frames, nframes, have_digest;
} record;

static int hash_field(json_t *v, fr_hash128 *out) { return json_is_string(v) && fr_hash_parse(json_string_value(v), out) == 0; }

static int load_record(const char *path, record *rec)
{
  char *text;
  size_t len;
  FILE *f = fopen(path, "rb");
  if (!f) return fprintf(stderr, "fractal-replay: %s: %s\n", path, strerror(errno)), 2;
  fseek(f, 0, SEEK_END);
  len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  text = (char *)malloc(len + 1);
  if (!text || fread(text, 1, len, f) != len) return fclose(f), free(text), fprintf(stderr, "fractal-replay: %s: read failed\n", path), 2;
  fclose(f);
  text[len] = '\0';
  memset(rec, 0, sizeof *rec);
  if (fr_job_parse_member(text, len, "job", NULL, &rec->job) != FR_OK) return free(text), err("the record's job");
  json_error_t e;
  json_t *root = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &e); /* seeds over 2^63 are read above */
  free(text);
  json_t *res = root ? json_object_get(root, "result") : NULL, *steps = res ? json_object_get(res, "step_hashes") : NULL;
  if (!json_is_array(steps) || (int)json_array_size(steps) != rec->job.steps) {
    json_decref(root);
    fprintf(stderr, "fractal-replay: %s: want result.step_hashes with %d hashes\n", path, rec->job.steps);
    return 2;
  }
  rec->steps = rec->job.steps;
  for (int k = 0; k < rec->steps; k++)
    if (!hash_field(json_array_get(steps, (size_t)k), &rec->step[k])) {
      json_decref(root);
      return fprintf(stderr, "fractal-replay: %s: step_hashes[%d] is not 32 hex digits\n", path, k), 2;
    }
  rec->have_frames = hash_field(json_object_get(res, "frames_hash"), &rec->frames);
  rec->have_digest = hash_field(json_object_get(res, "digest"), &rec->digest);
  json_t *fh = json_object_get(res, "frame_hashes");
  for (size_t i = 0; json_is_array(fh) && i < json_array_size(fh) && i < 64; i++)
    if (hash_field(json_array_get(fh, i), &rec->frame[i])) rec->nframes = (int)i + 1;
  json_decref(root);
  return 0;
}

/* Reads a latent: .npy (float32) or raw little-endian float32 of exactly n values. */
static float *load_latent(const char *path, size_t n)
{
  size_t len = strlen(path);
  if (len > 4 && strcmp(path + len - 4, ".npy") == 0) {
    int nd;
    int64_t sh[FR_MAX_DIMS], count = 1;
    float *x;
    if (fr_npy_read_f32(path, &nd, sh, &x) != FR_OK) return err(path), NULL;
    for (int i = 0; i < nd; i++) count *= sh[i];
    if ((size_t)count != n) return fprintf(stderr, "fractal-replay: %s has %lld values, the job's latent %zu\n", path, (long long)count, n), free(x), NULL;
    return x;
  }
  FILE *f = fopen(path, "rb");
  if (!f) return fprintf(stderr, "fractal-replay: %s: %s\n", path, strerror(errno)), NULL;
  float *x = (float *)malloc(n * sizeof(float));
  size_t got = x ? fread(x, sizeof(float), n, f) : 0;
  int extra = fgetc(f) != EOF;
  fclose(f);
  if (got != n || extra) return fprintf(stderr, "fractal-replay: %s is not %zu float32 values\n", path, n), free(x), NULL;
  return x;
}

static void hex(fr_hash128 h, char *out) { fr_hash_hex(h, out); }

/* Checks that a latent is the one the chain (or, entering step 0, the job's Philox noise) says. */
static int latent_ok(const record *rec, int entering, const float *x, size_t n, const char *name)
{
  char a[33], b[33];
  if (entering == 0) {
    for (size_t i = 0; i < n; i++)
      if (fr_f32_bits(x[i]) != fr_f32_bits(fr_philox_normal(rec->job.seed, 0, i))) {
        printf("MISMATCH: %s is not the job's initial noise (first difference at element %zu)\n", name, i);
        return 0;
      }
    return 1;
  }
  fr_hash128 h = fr_hash_f32(x, n);
  if (!fr_hash_equal(h, rec->step[entering - 1])) {
    hex(h, a), hex(rec->step[entering - 1], b);
    printf("MISMATCH: %s hashes to %s, but the chain says %s for the latent after step %d\n", name, a, b, entering);
    return 0;
  }
  return 1;
}

static int check_step(fr_model *m, const record *rec, int step, const char *latent_file, const char *prev_file)
{
  fr_model_info info;
  fr_model_get_info(m, &info);
  size_t n = (size_t)info.latent_channels * rec->job.frames * (rec->job.height / info.vae_scale) * (rec->job.width / info.vae_scale);
  if (step < 0 || step >= rec->steps) return fprintf(stderr, "fractal-replay: --step must be in 0..%d\n", rec->steps - 1), 2;
  int need_prev = fr_step_needs_previous(m, &rec->job, step);
  if (need_prev && !prev_file)
    return fprintf(stderr, "fractal-replay: step %d is a second-order DPM-Solver++ step: give --prev (the latent entering step %d)\n", step, step - 1), 2;
  float *x = load_latent(latent_file, n), *prev = need_prev ? load_latent(prev_file, n) : NULL, *out = (float *)malloc(n * sizeof(float));
  int rc = 2;
  if (x && out && (!need_prev || prev)) {
    rc = 1;
    if (latent_ok(rec, step, x, n, "--latent") && (!need_prev || latent_ok(rec, step - 1, prev, n, "--prev"))) {
      if (fr_recompute_step(m, &rec->job, step, prev, x, out) != FR_OK) {
        rc = err("recomputing the step");
      } else {
        char a[33], b[33];
        fr_hash128 h = fr_hash_f32(out, n);
        hex(h, a), hex(rec->step[step], b);
        if (fr_hash_equal(h, rec->step[step])) printf("match: step %d recomputes to %s\n", step, a), rc = 0;
        else printf("MISMATCH at step %d: the chain says %s, recomputing gives %s\n", step, b, a);
      }
    }
  }
  free(x), free(prev), free(out);
  return rc;
}

static int check_all(fr_model *m, const record *rec)
{
  fr_result r;
  char a[33], b[33];
  if (fr_generate(m, &rec->job, 1, NULL, &r) != FR_OK) return err("regenerating the job");
  int rc = 0;
  for (int k = 0; k < rec->steps; k++)
    if (!fr_hash_equal(r.step_hashes[k], rec->step[k])) {
      hex(rec->step[k], a), hex(r.step_hashes[k], b);
      printf("MISMATCH: the first diverging step is %d of %d (0-based): the record says %s, the job gives %s\n", k,
             rec->steps, a, b);
      rc = 1;
      break;
    }
  if (rec->have_frames && !fr_hash_equal(r.frames_hash, rec->frames)) {
    rc = 1;
    if (rec->nframes == rec->job.frames) {
      printf("frames that differ:");
      for (int f = 0; f < rec->job.frames; f++)
        if (!fr_hash_equal(r.frame_hashes[f], rec->frame[f])) printf(" %d", f);
      printf("\n");
    } else {
      printf("MISMATCH: the frames differ (the record has no per-frame hashes to say which)\n");
    }
  }
  if (rec->have_digest && !fr_hash_equal(r.digest, rec->digest)) {
    hex(rec->digest, a), hex(r.digest, b);
    printf("%s: the record's digest is %s, the job's is %s\n", rc ? "digest" : "MISMATCH", a, b);
    rc = 1;
  }
  if (!rc) hex(r.digest, a), printf("match: %d steps, frames and digest %s\n", rec->steps, a);
  fr_result_free(&r);
  return rc;
}

int main(int argc, char **argv)
{
  const char *model = NULL, *backend = "auto", *latent = NULL, *prev = NULL;
  int step = -1, threads = 0, ch;
  static const struct option longopts[] = {{"model", required_argument, 0, 'm'}, {"step", required_argument, 0, 's'},
                                           {"latent", required_argument, 0, 'l'}, {"prev", required_argument, 0, 'p'},
                                           {"backend", required_argument, 0, 'b'}, {"threads", required_argument, 0, 't'},
                                           {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  while ((ch = getopt_long(argc, argv, "m:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'm': model = optarg; break;
    case 's': step = atoi(optarg); break;
    case 'l': latent = optarg; break;
    case 'p': prev = optarg; break;
    case 'b': backend = optarg; break;
    case 't': threads = atoi(optarg); break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc - 1 || !model || (step >= 0) != (latent != NULL)) return usage(stderr), 2;
  record rec;
  int rc = load_record(argv[optind], &rec);
  if (rc) return rc;
  fr_backend *be;
  fr_model *m;
  if (fr_backend_open(backend, threads, &be) != FR_OK) return err("backend");
  if (fr_model_load(model, be, NULL, &m) != FR_OK) return err("loading the model");
  fr_model_info info;
  fr_model_get_info(m, &info);
  if (rec.job.model[0] && strcmp(rec.job.model, info.digest_hex) != 0) {
    fprintf(stderr, "fractal-replay: the job is for model %s but %s is %s\n", rec.job.model, model, info.digest_hex);
    return 2;
  }
  rc = step >= 0 ? check_step(m, &rec, step, latent, prev) : check_all(m, &rec);
  fr_model_free(m);
  fr_backend_close(be);
  return rc;
}
