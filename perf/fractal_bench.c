/* fractal-bench: times each op at the shapes of the ms-1.7b UNet (256x256x16 video, guidance batch) on
 * a backend, and with --check compares the backend's bits against the CPU reference first.
 * Output: a table, or JSON lines with --json. */
#define _GNU_SOURCE /* getopt_long, clock_gettime */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fractal/backend.h"
#include "fractal/half.h"
#include "fractal/pipeline.h"
#include "fractal/verify.h"

typedef struct bench_opts {
  const char *backend, *only, *model;
  int threads, repeat, images, check, json;
  int steps, frames, height, width;
  fr_scheduler scheduler;
  int verify;
  double decode_p;
  const char *shards; /* "1,2,4": rank counts to compare */
  int plan_only;
  double guidance;
} bench_opts;

typedef struct op_case {
  const char *name, *shape;
  double flops, bytes; /* per call: useful work and minimum memory traffic */
} op_case;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what)
{
  fprintf(stderr, "fractal-bench: %s: %s\n", what, fr_last_error());
  exit(1);
}

/* A tensor on the backend filled with deterministic values in [-1, 1). */
static fr_tensor make(fr_backend *be, fr_dtype dt, int ndim, const int64_t *shape, uint32_t seed)
{
  fr_tensor t;
  if (fr_tensor_alloc(be, dt, ndim, shape, &t) != FR_OK) die("alloc");
  size_t n = (size_t)fr_tensor_numel(&t), es = fr_dtype_size(dt);
  unsigned char *h = (unsigned char *)malloc(n * es + 1);
  uint32_t s = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 17, s ^= s << 5;
    float v = (float)(s >> 8) * 0x1p-23f - 1.0f;
    if (dt == FR_F16) {
      uint16_t b = fr_f32_to_f16(v);
      memcpy(h + 2 * i, &b, 2);
    } else {
      memcpy(h + 4 * i, &v, 4);
    }
  }
  if (fr_tensor_upload(be, &t, h) != FR_OK) die("upload");
  free(h);
  return t;
}

typedef enum { OP_LINEAR, OP_GEGLU_PROJ, OP_CONV3, OP_CONV1, OP_FRAMES, OP_GN, OP_GN5D, OP_LN, OP_ATTN, OP_COUNT } op_id;

typedef struct op_args {
  fr_tensor x, w, b, y;
  fr_tensor q, k, v;
  int frames;
} op_args;

static fr_status run_op(fr_backend *be, op_id id, op_args *a)
{
  fr_attn_params p = {5, 0.125f, 0, 1};
  switch (id) {
  case OP_LINEAR:
  case OP_GEGLU_PROJ: return fr_linear(be, &a->x, &a->w, &a->b, FR_ACT_NONE, NULL, &a->y);
  case OP_CONV3: return fr_conv2d(be, &a->x, &a->w, &a->b, 1, 1, NULL, &a->y);
  case OP_CONV1: return fr_conv2d(be, &a->x, &a->w, &a->b, 1, 0, NULL, &a->y);
  case OP_FRAMES: return fr_conv_frames(be, &a->x, &a->w, &a->b, a->frames, NULL, &a->y);
  case OP_GN: return fr_group_norm(be, &a->x, &a->w, &a->b, 32, 1, 1e-5f, FR_ACT_SILU, &a->y);
  case OP_GN5D: return fr_group_norm(be, &a->x, &a->w, &a->b, 32, a->frames, 1e-6f, FR_ACT_NONE, &a->y);
  case OP_LN: return fr_layer_norm(be, &a->x, &a->w, &a->b, 1e-5f, &a->y);
  case OP_ATTN: return fr_attention(be, &a->q, &a->k, &a->v, &p, &a->y);
  default: return FR_EINVAL;
  }
}

/* Builds op id's operands for `images` frame-images of 320 channels at 32x32 (the UNet's first level). */
static op_case setup(fr_backend *be, op_id id, int images, op_args *a)
{
  int64_t n = images, tokens = n * 1024, c = 320;
  memset(a, 0, sizeof *a);
  a->frames = images >= 16 ? 16 : images;
  op_case oc = {"", "", 0, 0};
  static char shape[128];
  int64_t s4[4] = {n, c, 32, 32}, s2[2], s1[1] = {c};
  switch (id) {
  case OP_LINEAR:
  case OP_GEGLU_PROJ: {
    int64_t out = id == OP_LINEAR ? c : 8 * c;
    s2[0] = tokens, s2[1] = c;
    a->x = make(be, FR_F32, 2, s2, 1);
    int64_t ws[2] = {out, c}, bs[1] = {out}, ys[2] = {tokens, out};
    a->w = make(be, FR_F16, 2, ws, 2), a->b = make(be, FR_F16, 1, bs, 3), a->y = make(be, FR_F32, 2, ys, 4);
    oc.name = id == OP_LINEAR ? "linear" : "linear_geglu";
    snprintf(shape, sizeof shape, "[%lld,%lld]x[%lld,%lld]^T f16", (long long)tokens, (long long)c, (long long)out,
             (long long)c);
    oc.flops = 2.0 * tokens * c * out, oc.bytes = 4.0 * tokens * (c + out) + 2.0 * out * c;
    break;
  }
  case OP_CONV3:
  case OP_CONV1: {
    int64_t k = id == OP_CONV3 ? 3 : 1, ws[4] = {c, c, k, k};
    a->x = make(be, FR_F32, 4, s4, 1), a->w = make(be, FR_F16, 4, ws, 2), a->b = make(be, FR_F16, 1, s1, 3);
    a->y = make(be, FR_F32, 4, s4, 4);
    oc.name = id == OP_CONV3 ? "conv2d_3x3" : "conv2d_1x1";
    snprintf(shape, sizeof shape, "[%lld,320,32,32] k%lld f16", (long long)n, (long long)k);
    oc.flops = 2.0 * n * 1024 * c * c * k * k, oc.bytes = 8.0 * n * c * 1024 + 2.0 * c * c * k * k;
    break;
  }
  case OP_FRAMES: {
    int64_t ws[5] = {c, c, 3, 1, 1};
    a->x = make(be, FR_F32, 4, s4, 1), a->w = make(be, FR_F16, 5, ws, 2), a->b = make(be, FR_F16, 1, s1, 3);
    a->y = make(be, FR_F32, 4, s4, 4);
    oc.name = "conv_frames";
    snprintf(shape, sizeof shape, "[%lld,320,32,32] F=%d f16", (long long)n, a->frames);
    oc.flops = 2.0 * n * 1024 * c * c * 3, oc.bytes = 8.0 * n * c * 1024 + 2.0 * c * c * 3;
    break;
  }
  case OP_GN:
  case OP_GN5D:
    a->x = make(be, FR_F32, 4, s4, 1), a->w = make(be, FR_F16, 1, s1, 2), a->b = make(be, FR_F16, 1, s1, 3);
    a->y = make(be, FR_F32, 4, s4, 4);
    oc.name = id == OP_GN ? "group_norm_silu" : "group_norm_5d";
    snprintf(shape, sizeof shape, "[%lld,320,32,32] G=32 F=%d", (long long)n, id == OP_GN ? 1 : a->frames);
    oc.bytes = 12.0 * n * c * 1024; /* read twice for the statistics, once to normalise, write once */
    break;
  case OP_LN:
    s2[0] = tokens, s2[1] = c;
    a->x = make(be, FR_F32, 2, s2, 1), a->w = make(be, FR_F16, 1, s1, 2), a->b = make(be, FR_F16, 1, s1, 3);
    a->y = make(be, FR_F32, 2, s2, 4);
    oc.name = "layer_norm";
    snprintf(shape, sizeof shape, "[%lld,320]", (long long)tokens);
    oc.bytes = 12.0 * tokens * c;
    break;
  case OP_ATTN: {
    int64_t qs[3] = {n, 1024, c};
    a->q = make(be, FR_F32, 3, qs, 1), a->k = make(be, FR_F32, 3, qs, 2), a->v = make(be, FR_F32, 3, qs, 3);
    a->y = make(be, FR_F32, 3, qs, 4);
    oc.name = "attention";
    snprintf(shape, sizeof shape, "[%lld,1024,5x64] self", (long long)n);
    oc.flops = 4.0 * n * 5 * 1024 * 1024 * 64, oc.bytes = 16.0 * n * 1024 * c;
    break;
  }
  default: break;
  }
  oc.shape = shape;
  return oc;
}

static void teardown(fr_backend *be, op_args *a)
{
  fr_tensor *all[] = {&a->x, &a->w, &a->b, &a->y, &a->q, &a->k, &a->v};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) fr_tensor_free(be, all[i]);
}

static void usage(FILE *f)
{
  fprintf(f, "usage: fractal-bench [options]\n"
             "Times the ops at the ms-1.7b UNet's shapes (320 channels, 32x32 latents).\n"
             "  -b, --backend NAME   cpu, cuda, cuda:N or auto (default auto)\n"
             "  -t, --threads N      CPU threads (default: all cores)\n"
             "  -n, --images N       frame-images per call (default 2; the full guidance batch is 32)\n"
             "  -r, --repeat N       timed runs per op, the median is reported (default 5)\n"
             "  -o, --op NAME        only ops whose name contains NAME\n"
             "      --check          first compare the backend's output bits with the CPU reference\n"
             "  -m, --model DIR      instead: time whole jobs on this model (text, denoising, decode), with\n"
             "      --steps N --frames N --height H --width W --scheduler ddim|dpm++2m (defaults 2, 16, the\n"
             "                       model's size, dpm++2m); -r runs, the median is reported\n"
             "      --verify         with -m: also time a verifier's spot check of every step and of the\n"
             "                       decode, and report a spot check's cost as a fraction of the job\n"
             "      --decode-p P     the chance a spot check also checks the decode (default 0.1)\n"
             "      --shards LIST    with -m: one job split over each rank count in LIST (e.g. 1,2,4; CPU threads\n"
             "                       communicator): traffic per step from the plan, time and speed-up, digests\n"
             "      --plan-only      with --shards: only the plan's traffic (any model size, no computation)\n"
             "      --guidance G     with --shards: the job's guidance scale (default 9; <= 1: no guidance halves)\n"
             "      --json           one JSON object per op instead of a table\n"
             "  -h, --help           this text\n");
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Runs op on the CPU reference with the same inputs and compares the outputs bit for bit. */
static int check_op(fr_backend *be, op_id id, int images)
{
  fr_backend *cpu;
  op_args a, r;
  if (fr_backend_open("cpu", 0, &cpu) != FR_OK) die("cpu backend");
  setup(be, id, images, &a);
  setup(cpu, id, images, &r);
  int same = -1;
  if (run_op(be, id, &a) == FR_OK && run_op(cpu, id, &r) == FR_OK) {
    size_t n = fr_tensor_nbytes(&a.y);
    unsigned char *h = (unsigned char *)malloc(n);
    if (fr_tensor_download(be, &a.y, h) != FR_OK) die("download");
    same = memcmp(h, r.y.data, n) == 0;
    free(h);
  }
  teardown(be, &a);
  teardown(cpu, &r);
  fr_backend_close(cpu);
  return same;
}

typedef struct latents {
  float *x[201];
  size_t n;
} latents;

static void keep_latent(void *ctx, int job, int step, const float *x, size_t n)
{
  latents *l = (latents *)ctx;
  l->n = n;
  l->x[step] = (float *)malloc(n * sizeof(float));
  if (!l->x[step]) die("out of memory");
  memcpy(l->x[step], x, n * sizeof(float));
}

/* A verifier's spot check (PROTOCOL.md): one step recomputed from revealed latents, the decode with
 * probability decode_p; timed for every step of the job against the whole job. */
static void bench_verify(const bench_opts *o, fr_model *m, const fr_job *j, double job_ms)
{
  latents l = {{0}, 0};
  fr_observer obs = {&l, NULL, NULL, keep_latent, NULL, NULL};
  fr_run_options ro = {&obs, NULL, 0};
  fr_result res;
  if (fr_generate(m, j, 1, &ro, &res) != FR_OK) die("generation");
  double sum = 0, lo = 1e30, hi = 0, t0;
  for (int k = 0; k < j->steps; k++) {
    fr_check c;
    int prev = fr_step_needs_previous(m, j, k);
    t0 = now_s();
    if (fr_check_step(m, &res, k, prev ? l.x[k - 1] : NULL, l.x[k], &c) != FR_OK || c.verdict != FR_CHECK_OK) die("step check");
    double t = (now_s() - t0) * 1e3;
    sum += t, lo = t < lo ? t : lo, hi = t > hi ? t : hi;
  }
  fr_check c;
  t0 = now_s();
  if (fr_check_decode(m, &res, l.x[j->steps], &c) != FR_OK || c.verdict != FR_CHECK_OK) die("decode check");
  double decode_ms = (now_s() - t0) * 1e3, step_ms = sum / j->steps, spot_ms = step_ms + o->decode_p * decode_ms;
  if (o->json)
    printf("{\"verify\":true,\"job_ms\":%.1f,\"step_check_ms\":%.1f,\"decode_check_ms\":%.1f,\"decode_p\":%.3f,"
           "\"spot_ms\":%.1f,\"spot_fraction\":%.5f}\n",
           job_ms, step_ms, decode_ms, o->decode_p, spot_ms, spot_ms / job_ms);
  else
    printf("spot check (every step checked once)\n  one step check   %10.1f ms   (min %.1f, max %.1f)\n"
           "  decode check     %10.1f ms\n  spot check       %10.1f ms   (step + %.2f x decode) = %.2f%% of the job\n"
           "  full check       %10.1f ms   (the whole job again) = 100%%\n",
           step_ms, lo, hi, decode_ms, spot_ms, o->decode_p, 100 * spot_ms / job_ms, job_ms);
  for (int k = 0; k <= j->steps; k++) free(l.x[k]);
  fr_result_free(&res);
}

/* Whole jobs: the pipeline's own timings, median over runs. */
static int bench_model(const bench_opts *o, fr_backend *be)
{
  fr_model *m;
  double t0 = now_s();
  if (fr_model_load(o->model, be, NULL, &m) != FR_OK) die("loading the model");
  double load_s = now_s() - t0;
  fr_model_info info;
  fr_model_get_info(m, &info);
  fr_job j;
  fr_job_init(&j);
  snprintf(j.prompt, sizeof j.prompt, "a timelapse of clouds over a mountain lake");
  j.steps = o->steps, j.frames = o->frames, j.scheduler = o->scheduler;
  j.height = o->height ? o->height : info.default_height;
  j.width = o->width ? o->width : info.default_width;
  double text[1000], step[1000], decode[1000], total[1000];
  char hex[33] = "";
  for (int r = 0; r < o->repeat; r++) {
    fr_result res;
    if (fr_generate(m, &j, 1, NULL, &res) != FR_OK) die("generation");
    text[r] = res.timing.text_ms, step[r] = res.timing.denoise_ms / j.steps, decode[r] = res.timing.decode_ms;
    total[r] = res.timing.total_ms;
    fr_hash_hex(res.digest, hex);
    fr_result_free(&res);
  }
  qsort(text, (size_t)o->repeat, sizeof(double), cmp_double);
  qsort(step, (size_t)o->repeat, sizeof(double), cmp_double);
  qsort(decode, (size_t)o->repeat, sizeof(double), cmp_double);
  qsort(total, (size_t)o->repeat, sizeof(double), cmp_double);
  int mid = o->repeat / 2;
  if (o->json)
    printf("{\"model\":\"%s\",\"backend\":\"%s\",\"frames\":%d,\"height\":%d,\"width\":%d,\"steps\":%d,"
           "\"load_s\":%.3f,\"text_ms\":%.1f,\"step_ms\":%.1f,\"decode_ms\":%.1f,\"total_ms\":%.1f,\"digest\":\"%s\"}\n",
           info.digest_hex, fr_backend_name(be), j.frames, j.height, j.width, j.steps, load_s, text[mid], step[mid],
           decode[mid], total[mid], hex);
  else
    printf("model %s (%d tensors, %.2f GB) on %s, loaded in %.2f s\n"
           "job: %d frames %dx%d, %d %s steps, guidance 9 (UNet batch 2); median of %d\n"
           "  text encoder     %10.1f ms\n  one step (UNet)  %10.1f ms\n  VAE decode       %10.1f ms\n"
           "  whole job        %10.1f ms   digest %s\n",
           info.digest_hex, info.weight_tensors, info.weight_bytes / 1e9, fr_backend_name(be), load_s, j.frames,
           j.width, j.height, j.steps, fr_scheduler_name(j.scheduler), o->repeat, text[mid], step[mid], decode[mid],
           total[mid], hex);
  if (o->verify) bench_verify(o, m, &j, total[mid]);
  fr_model_free(m);
  return 0;
}

/* Bytes all ranks send each other: per denoising step (the plan for steps + 1 minus the plan for steps)
 * and once per job (the rest: the first latent gathers, the decoded frames). */
static void plan_traffic(fr_model *m, const fr_job *j, int ranks, fr_shard_stats *st, double *per_step, double *once)
{
  fr_job j1 = *j;
  fr_shard_stats s1;
  j1.steps = j->steps + 1;
  if (fr_plan_sharded(m, j, ranks, st) != FR_OK || fr_plan_sharded(m, &j1, ranks, &s1) != FR_OK) die("plan");
  *per_step = (double)(s1.planned_bytes - st->planned_bytes);
  *once = (double)st->planned_bytes - j->steps * *per_step;
}

/* One job over 1..N ranks of the threads communicator: the plan's traffic and, unless plan_only, the
 * time (median of repeat), the speed-up over one rank and the digest (which must not change). */
static int bench_shards(const bench_opts *o, fr_backend *be)
{
  fr_model *m;
  if (fr_model_load(o->model, be, NULL, &m) != FR_OK) die("loading the model");
  fr_model_info info;
  fr_model_get_info(m, &info);
  fr_job j;
  fr_job_init(&j);
  snprintf(j.prompt, sizeof j.prompt, "a timelapse of clouds over a mountain lake");
  j.steps = o->steps, j.frames = o->frames, j.scheduler = o->scheduler, j.guidance = (float)o->guidance;
  j.height = o->height ? o->height : info.default_height;
  j.width = o->width ? o->width : info.default_width;
  if (!o->json)
    printf("model %s on %s (%d threads in all); job: %d frames %dx%d, %d %s steps, guidance %g\n"
           "%6s %12s %14s %12s %12s %10s %9s  %s\n",
           info.digest_hex, fr_backend_name(be), fr_backend_threads(be), j.frames, j.width, j.height, j.steps,
           fr_scheduler_name(j.scheduler), o->guidance, "ranks", "guid x frame", "MiB per step", "MiB once", "colls/step",
           o->plan_only ? "" : "ms", o->plan_only ? "" : "speed-up", o->plan_only ? "" : "digest");
  double base_ms = 0;
  char base_hex[33] = "";
  char list[256];
  snprintf(list, sizeof list, "%s", o->shards);
  for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int ranks = atoi(tok);
    fr_shard_stats st;
    double per_step, once;
    plan_traffic(m, &j, ranks, &st, &per_step, &once);
    fr_job j1 = j;
    fr_shard_stats s1;
    j1.steps = j.steps + 1;
    if (fr_plan_sharded(m, &j1, ranks, &s1) != FR_OK) die("plan");
    double colls = (double)(s1.collectives - st.collectives); /* summed over the ranks */
    double ms = 0;
    char hex[33] = "";
    if (!o->plan_only) {
      double t[1000];
      for (int r = 0; r < o->repeat; r++) {
        fr_result res;
        double t0 = now_s();
        if (fr_generate_sharded(m, &j, ranks, o->threads, NULL, &res, NULL) != FR_OK) die("sharded generation");
        t[r] = (now_s() - t0) * 1e3;
        fr_hash_hex(res.digest, hex);
        fr_result_free(&res);
      }
      qsort(t, (size_t)o->repeat, sizeof(double), cmp_double);
      ms = t[o->repeat / 2];
      if (!base_ms) base_ms = ms, memcpy(base_hex, hex, sizeof hex);
    }
    const char *same = o->plan_only ? "" : strcmp(hex, base_hex) ? "DIFFERENT" : "same";
    if (o->json)
      printf("{\"ranks\":%d,\"guidance_ranks\":%d,\"frame_ranks\":%d,\"bytes_per_step\":%.0f,\"bytes_once\":%.0f,"
             "\"collectives_per_step\":%.0f,\"ms\":%.1f,\"speedup\":%.3f,\"digest\":\"%s\"}\n",
             ranks, st.guidance_ranks, st.frame_ranks, per_step, once, colls, ms, ms > 0 ? base_ms / ms : 0, hex);
    else if (o->plan_only)
      printf("%6d %8d x %-3d %14.2f %12.2f %12.0f\n", ranks, st.guidance_ranks, st.frame_ranks, per_step / 1048576.0,
             once / 1048576.0, colls);
    else
      printf("%6d %8d x %-3d %14.2f %12.2f %12.0f %10.1f %9.2f  %s %s\n", ranks, st.guidance_ranks, st.frame_ranks,
             per_step / 1048576.0, once / 1048576.0, colls, ms, base_ms / ms, hex, same);
  }
  fr_model_free(m);
  return 0;
}

int main(int argc, char **argv)
{
  bench_opts o = {"auto", NULL, NULL, 0, 5, 2, 0, 0, 2, 16, 0, 0, FR_SCHEDULER_DPMPP_2M, 0, 0.1, NULL, 0, 9.0};
  static const struct option longopts[] = {
    {"backend", required_argument, 0, 'b'}, {"threads", required_argument, 0, 't'},
    {"images", required_argument, 0, 'n'},  {"repeat", required_argument, 0, 'r'},
    {"op", required_argument, 0, 'o'},      {"check", no_argument, 0, 'c'},
    {"json", no_argument, 0, 'j'},          {"help", no_argument, 0, 'h'},
    {"model", required_argument, 0, 'm'},   {"steps", required_argument, 0, 1},
    {"frames", required_argument, 0, 2},    {"height", required_argument, 0, 3},
    {"width", required_argument, 0, 4},     {"scheduler", required_argument, 0, 5},
    {"verify", no_argument, 0, 6},          {"decode-p", required_argument, 0, 7},
    {"shards", required_argument, 0, 8},    {"plan-only", no_argument, 0, 9},
    {"guidance", required_argument, 0, 10},
    {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "b:t:n:r:o:m:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'm': o.model = optarg; break;
    case 1: o.steps = atoi(optarg); break;
    case 2: o.frames = atoi(optarg); break;
    case 3: o.height = atoi(optarg); break;
    case 4: o.width = atoi(optarg); break;
    case 5:
      if (fr_scheduler_parse(optarg) < 0) return usage(stderr), 2;
      o.scheduler = (fr_scheduler)fr_scheduler_parse(optarg);
      break;
    case 6: o.verify = 1; break;
    case 7: o.decode_p = atof(optarg); break;
    case 8: o.shards = optarg; break;
    case 9: o.plan_only = 1; break;
    case 10: o.guidance = atof(optarg); break;
    case 'b': o.backend = optarg; break;
    case 't': o.threads = atoi(optarg); break;
    case 'n': o.images = atoi(optarg); break;
    case 'r': o.repeat = atoi(optarg); break;
    case 'o': o.only = optarg; break;
    case 'c': o.check = 1; break;
    case 'j': o.json = 1; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc || o.images < 1 || o.images > 4096 || o.repeat < 1 || o.repeat > 1000 || o.threads < 0 ||
      o.steps < 1 || o.steps > 200 || o.frames < 1 || o.frames > 64 || o.height % 8 || o.width % 8 ||
      !(o.decode_p >= 0 && o.decode_p <= 1) || (o.verify && !o.model) || (o.shards && !o.model) ||
      (o.plan_only && !o.shards) || !(o.guidance >= 0 && o.guidance <= 50)) {
    usage(stderr);
    return 2;
  }
  fr_backend *be;
  if (fr_backend_open(o.backend, o.threads, &be) != FR_OK) die("backend");
  if (o.model) {
    int rc = o.shards ? bench_shards(&o, be) : bench_model(&o, be);
    fr_backend_close(be);
    return rc;
  }
  if (!o.json) printf("backend: %s, %d image%s per call, median of %d\n", fr_backend_name(be), o.images,
                      o.images == 1 ? "" : "s", o.repeat);
  if (!o.json) printf("%-16s %-34s %10s %10s %9s %s\n", "op", "shape", "ms", "GFLOP/s", "GB/s", o.check ? "bits" : "");
  for (int id = 0; id < OP_COUNT; id++) {
    op_args a;
    op_case oc = setup(be, (op_id)id, o.images, &a);
    if (o.only && !strstr(oc.name, o.only)) {
      teardown(be, &a);
      continue;
    }
    double times[1000];
    fr_status st = run_op(be, (op_id)id, &a); /* warm-up */
    if (st == FR_OK) st = fr_backend_sync(be);
    for (int r = 0; st == FR_OK && r < o.repeat; r++) {
      double t0 = now_s();
      st = run_op(be, (op_id)id, &a);
      if (st == FR_OK) st = fr_backend_sync(be);
      times[r] = now_s() - t0;
    }
    if (st != FR_OK) {
      printf(o.json ? "{\"op\":\"%s\",\"error\":\"%s\"}\n" : "%-16s %s\n", oc.name, fr_last_error());
      teardown(be, &a);
      continue;
    }
    qsort(times, (size_t)o.repeat, sizeof times[0], cmp_double);
    double t = times[o.repeat / 2];
    teardown(be, &a);
    const char *bits = "";
    if (o.check) {
      int same = check_op(be, (op_id)id, o.images);
      bits = same == 1 ? "identical" : same == 0 ? "DIFFERENT" : "failed";
    }
    if (o.json)
      printf("{\"op\":\"%s\",\"shape\":\"%s\",\"backend\":\"%s\",\"ms\":%.4f,\"gflops\":%.3f,\"gbs\":%.3f%s%s%s}\n",
             oc.name, oc.shape, fr_backend_name(be), t * 1e3, oc.flops / t * 1e-9, oc.bytes / t * 1e-9,
             o.check ? ",\"bits\":\"" : "", bits, o.check ? "\"" : "");
    else
      printf("%-16s %-34s %10.3f %10.2f %9.2f %s\n", oc.name, oc.shape, t * 1e3, oc.flops / t * 1e-9,
             oc.bytes / t * 1e-9, bits);
  }
  fr_backend_close(be);
  return 0;
}
