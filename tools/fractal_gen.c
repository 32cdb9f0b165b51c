/* fractal-gen: prompt in, video out. Loads a diffusers-layout ModelScope text-to-video model, runs one
 * job on the chosen backend and writes an MP4 (and optionally a PNG contact sheet and .npy dumps). */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fractal/comm.h"
#include "fractal/i8x.h"
#include "fractal/modelgen.h"
#include "fractal/npy.h"
#include "fractal/pipeline.h"
#include "fractal/video.h"
#include "fractal/protocol.h"
#include "fractal/version.h"

typedef struct gen_opts {
  const char *model, *output, *backend, *init_latents, *dump, *sheet, *variant;
  int threads, fps, json, quiet, shards, ndevices, random_seed;
  int devices[64];
  fr_job job;
} gen_opts;

static void usage(FILE *f)
{
  fprintf(
      f,
      "usage: fractal-gen [options] \"PROMPT\"\n"
      "Generates a video from a prompt with a ModelScope text-to-video model (diffusers layout).\n"
      "  -m, --model DIR        model folder (default: $FRACTAL_MODEL, else a built-in random-weight demo model)\n"
      "  -o, --output FILE      the video, in the format its name says: .mp4 (H.264), .webm (VP9), .gif, or a\n"
      "                         frame pattern such as frame_%%03d.png (one PNG per frame, from 0); default video.mp4\n"
      "      --negative TEXT    negative prompt (default \"\")\n"
      "      --seed N           64-bit seed (default 0); random: a fresh one from the system, printed\n"
      "      --steps N          denoising steps, 1..200 (default 25)\n"
      "      --guidance G       classifier-free guidance scale, 0..50 (default 9; <= 1 turns it off)\n"
      "      --scheduler S      dpm++2m (default) or ddim\n"
      "      --numerics P       f32-v1 (default) or i8x-v1 (the exact-integer profile: quantized weights and\n"
      "                         activations, exact integer sums; docs/numerics.md); i8x-bNN: the same with\n"
      "                         NN bits (2..15), only to measure quality: not a protocol profile\n"
      "      --frames N         1..64 (default 16)\n"
      "      --height H, --width W   multiples of 8 (default: the model's, 256 for ms-1.7b)\n"
      "      --fps N            frames per second of the video (default 8)\n"
      "      --sheet FILE.png   also write the frames as a PNG contact sheet\n"
      "      --backend B        auto (default), cpu, cuda, cuda:N\n"
      "      --threads N        CPU threads (default: all cores)\n"
      "      --shards N         split the job over N ranks (threads of this process sharing the backend's\n"
      "                         device), 1..64; the result is the same to the bit (default 1)\n"
      "      --devices LIST     split the job over these CUDA devices, e.g. 0,1,2,3 (NCCL)\n"
      "      --variant V        weight files to load: fp16 (default: the full-precision ones if present)\n"
      "      --init-latents F   float32 .npy (1, C, frames, H/8, W/8): start from this noise instead of Philox\n"
      "      --dump DIR         write .npy files: tokens, text embeddings, the latent entering every step,\n"
      "                         each step's guided noise prediction, frames (float and uint8)\n"
      "      --json             print the full result as JSON on stdout\n"
      "  -q, --quiet            no progress line\n"
      "      --version           the version, source commit, build type and CUDA backend\n"
      "  -h, --help             this text\n");
}

static int die(const char *what)
{
  fprintf(stderr, "fractal-gen: %s%s%s\n", what, *fr_last_error() ? ": " : "", fr_last_error());
  return 1;
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

static int bad_option(const char *name, const char *value, const char *want)
{
  fprintf(stderr, "fractal-gen: --%s %s: %s\n", name, value, want);
  return 2;
}

/* "0,1,3": distinct CUDA device numbers. */
static int parse_devices(const char *s, int *dev, int *n)
{
  *n = 0;
  for (const char *p = s;;) {
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || end == p || v < 0 || v > 1023 || *n == 64) return -1;
    for (int k = 0; k < *n; k++)
      if (dev[k] == v) return -1;
    dev[(*n)++] = (int)v;
    if (!*end) return 0;
    if (*end != ',') return -1;
    p = end + 1;
  }
}

/* Parses argv; returns 0 to go on, or an exit code. */
static int parse_args(int argc, char **argv, gen_opts *o)
{
  enum {
    NEG = 256,
    SEED,
    STEPS,
    GUID,
    SCHED,
    FRAMES,
    HEIGHT,
    WIDTH,
    FPS,
    SHEET,
    BACKEND,
    THREADS,
    VARIANT,
    INIT,
    DUMP,
    JSON,
    SHARDS,
    DEVICES,
    NUMERICS
  };
  /* clang-format off */ /* a table: one entry per line */
  static const struct option longopts[] = {
    {"model", required_argument, 0, 'm'},    {"output", required_argument, 0, 'o'}, {"negative", required_argument, 0, NEG},
    {"seed", required_argument, 0, SEED},    {"steps", required_argument, 0, STEPS}, {"guidance", required_argument, 0, GUID},
    {"scheduler", required_argument, 0, SCHED}, {"frames", required_argument, 0, FRAMES},
    {"numerics", required_argument, 0, NUMERICS},
    {"height", required_argument, 0, HEIGHT}, {"width", required_argument, 0, WIDTH}, {"fps", required_argument, 0, FPS},
    {"sheet", required_argument, 0, SHEET},  {"backend", required_argument, 0, BACKEND},
    {"threads", required_argument, 0, THREADS}, {"variant", required_argument, 0, VARIANT},
    {"shards", required_argument, 0, SHARDS}, {"devices", required_argument, 0, DEVICES},
    {"init-latents", required_argument, 0, INIT}, {"dump", required_argument, 0, DUMP}, {"json", no_argument, 0, JSON},
    {"quiet", no_argument, 0, 'q'},          {"version", no_argument, 0, 'V'}, {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  /* clang-format on */
  int ch;
  char *end;
  while ((ch = getopt_long(argc, argv, "m:o:qh", longopts, NULL)) != -1) {
    switch (ch) {
    case 'm': o->model = optarg; break;
    case 'o': o->output = optarg; break;
    case NEG:
      if (strlen(optarg) > FR_JOB_PROMPT_MAX) return bad_option("negative", "...", "at most 2000 bytes");
      snprintf(o->job.negative_prompt, sizeof o->job.negative_prompt, "%s", optarg);
      break;
    case SEED:
      if (strcmp(optarg, "random") == 0) {
        o->random_seed = 1;
        break;
      }
      o->random_seed = 0;
      errno = 0;
      o->job.seed = strtoull(optarg, &end, 10);
      if (errno || end == optarg || *end || optarg[0] == '-')
        return bad_option("seed", optarg, "want 0..18446744073709551615, or random");
      break;
    case STEPS:
      if (parse_int(optarg, 1, FR_JOB_STEPS_MAX, &o->job.steps)) return bad_option("steps", optarg, "want 1..200");
      break;
    case GUID: {
      double g = strtod(optarg, &end);
      if (end == optarg || *end || !(g >= 0 && g <= 50)) return bad_option("guidance", optarg, "want 0..50");
      o->job.guidance = (float)g;
      break;
    }
    case SCHED:
      if (fr_scheduler_parse(optarg) < 0) return bad_option("scheduler", optarg, "want ddim or dpm++2m");
      o->job.scheduler = (fr_scheduler)fr_scheduler_parse(optarg);
      break;
    case NUMERICS:
      if (strcmp(optarg, FR_NUMERICS) != 0 && !fr_i8x_numerics_bits(optarg))
        return bad_option("numerics", optarg, "want f32-v1 or i8x-v1 (or i8x-bNN, 2 <= NN <= 15)");
      snprintf(o->job.numerics, sizeof o->job.numerics, "%s", optarg);
      break;
    case FRAMES:
      if (parse_int(optarg, 1, FR_JOB_FRAMES_MAX, &o->job.frames)) return bad_option("frames", optarg, "want 1..64");
      break;
    case HEIGHT:
      if (parse_int(optarg, 8, 8192, &o->job.height) || o->job.height % 8)
        return bad_option("height", optarg, "want a multiple of 8");
      break;
    case WIDTH:
      if (parse_int(optarg, 8, 8192, &o->job.width) || o->job.width % 8)
        return bad_option("width", optarg, "want a multiple of 8");
      break;
    case FPS:
      if (parse_int(optarg, 1, 240, &o->fps)) return bad_option("fps", optarg, "want 1..240");
      break;
    case SHEET: o->sheet = optarg; break;
    case BACKEND: o->backend = optarg; break;
    case THREADS:
      if (parse_int(optarg, 1, 1024, &o->threads)) return bad_option("threads", optarg, "want 1..1024");
      break;
    case SHARDS:
      if (parse_int(optarg, 1, 64, &o->shards)) return bad_option("shards", optarg, "want 1..64");
      break;
    case DEVICES:
      if (parse_devices(optarg, o->devices, &o->ndevices))
        return bad_option("devices", optarg, "want CUDA device numbers, e.g. 0,1");
      break;
    case VARIANT: o->variant = optarg; break;
    case INIT: o->init_latents = optarg; break;
    case DUMP: o->dump = optarg; break;
    case JSON: o->json = 1; break;
    case 'q': o->quiet = 1; break;
    case 'V': fr_print_version(stdout, "fractal-gen"); return -1;
    case 'h': usage(stdout); return -1;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr,
            optind == argc ? "fractal-gen: no prompt given\n" : "fractal-gen: one prompt expected (quote it)\n");
    usage(stderr);
    return 2;
  }
  if (strlen(argv[optind]) > FR_JOB_PROMPT_MAX) return bad_option("prompt", "...", "at most 2000 bytes");
  fr_video_format format;
  if (fr_video_format_of(o->output, &format) != FR_OK) {
    fprintf(stderr, "fractal-gen: -o %s\n", fr_last_error());
    return 2;
  }
  if (o->random_seed && getentropy(&o->job.seed, sizeof o->job.seed) != 0) {
    fprintf(stderr, "fractal-gen: --seed random: %s\n", strerror(errno));
    return 1;
  }
  if (o->ndevices && o->shards > 1) return bad_option("shards", "with --devices", "give one or the other");
  if (o->ndevices && !fr_comm_nccl_available()) {
    fprintf(stderr,
            "fractal-gen: --devices needs NCCL, which this build does not have (build with the CUDA toolkit's NCCL)\n");
    return 2;
  }
  if ((o->ndevices || o->shards > 1) && o->dump) {
    fprintf(stderr, "fractal-gen: --dump writes the tokens and text embeddings, which a sharded run does not keep; "
                    "dump an unsharded run (its bits are the same)\n");
    return 2;
  }
  snprintf(o->job.prompt, sizeof o->job.prompt, "%s", argv[optind]);
  return 0;
}

/* The built-in demo model: the tiny random-weight model, made once in the user's cache. */
static int demo_model(char *dir, size_t n)
{
  const char *base = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  char root[900], path[1000];
  if (base && *base) snprintf(root, sizeof root, "%s/fractal", base);
  else snprintf(root, sizeof root, "%s/.cache/fractal", home && *home ? home : "/tmp");
  snprintf(dir, n, "%s/demo-tiny", root);
  snprintf(path, sizeof path, "%s/model_index.json", dir);
  fprintf(stderr,
          "fractal-gen: no model given (-m or FRACTAL_MODEL): using the built-in demo model, random weights, "
          "at %s\n",
          dir);
  if (access(path, R_OK) == 0) return 0;
  char parent[1000];
  snprintf(parent, sizeof parent, "%s", root);
  for (char *p = parent + 1; *p; p++)
    if (*p == '/') *p = '\0', mkdir(parent, 0755), *p = '/';
  mkdir(parent, 0755);
  fr_modelgen_options mo = {"tiny", 0, FR_F32, NULL, NULL, NULL};
  return fr_modelgen_write(dir, &mo) == FR_OK ? 0 : -1;
}

typedef struct dumper {
  const char *dir;
  int latent_shape_ok;
  int64_t lshape[5];
  fr_status st;
  double t0;
  int quiet, decoding;
} dumper;

static void dump_write(dumper *d, const char *name, fr_dtype dt, int ndim, const int64_t *shape, const void *data)
{
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", d->dir, name);
  if (d->st == FR_OK) d->st = fr_npy_write(path, dt, ndim, shape, data);
}

static void on_tokens(void *ctx, int job, const int32_t *ids, int rows, int len)
{
  int64_t s[2] = {rows, len};
  dump_write((dumper *)ctx, "tokens.npy", FR_I32, 2, s, ids);
}

static void on_text(void *ctx, int job, const float *emb, int rows, int len, int dim)
{
  int64_t s[3] = {rows, len, dim};
  dump_write((dumper *)ctx, "text_embeddings.npy", FR_F32, 3, s, emb);
}

static void on_latent(void *ctx, int job, int step, const float *x, size_t n)
{
  dumper *d = (dumper *)ctx;
  char name[64];
  snprintf(name, sizeof name, "latents_%03d.npy", step);
  dump_write(d, name, FR_F32, 5, d->lshape, x);
}

static void on_noise(void *ctx, int job, int step, const float *eps, size_t n)
{
  dumper *d = (dumper *)ctx;
  char name[64];
  snprintf(name, sizeof name, "noise_pred_%03d.npy", step);
  dump_write(d, name, FR_F32, 5, d->lshape, eps);
}

static void on_progress(void *ctx, int job, int step, int steps)
{
  dumper *d = (dumper *)ctx;
  if (d->quiet) return;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double el = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec - d->t0, rate = step / el;
  fprintf(stderr, "\rstep %d/%d  %.2f it/s  ETA %.1fs   ", step, steps, rate, (steps - step) / rate);
  if (step == steps) fprintf(stderr, "\ndecoding the frames (VAE)... ");
  d->decoding = step == steps;
}

int main(int argc, char **argv)
{
  gen_opts o;
  memset(&o, 0, sizeof o);
  o.output = "video.mp4", o.backend = "auto", o.fps = 8;
  fr_job_init(&o.job);
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc < 0 ? 0 : rc;
  if (!isatty(2)) o.quiet = 1;

  char demo[1000];
  if (!o.model) o.model = getenv("FRACTAL_MODEL");
  if (!o.model || !*o.model) {
    if (demo_model(demo, sizeof demo) != 0) return die("making the demo model");
    o.model = demo;
  }
  fr_backend *be;
  fr_model *m;
  char first_device[32];
  if (o.ndevices) { /* the model loads once onto the first device; the other devices' ranks load their copies */
    snprintf(first_device, sizeof first_device, "cuda:%d", o.devices[0]);
    o.backend = first_device;
  }
  if (fr_backend_open(o.backend, o.threads, &be) != FR_OK) return die("backend");
  fr_model_options mo = {o.variant, fr_i8x_numerics_bits(o.job.numerics)};
  if (fr_model_load(o.model, be, &mo, &m) != FR_OK) return die("loading the model");
  fr_model_info info;
  fr_model_get_info(m, &info);
  fr_job_fill_size(m, &o.job); /* --height/--width left out: the model's size */
  snprintf(o.job.model, sizeof o.job.model, "%s", info.digest_hex);
  if (fr_job_validate(&o.job, NULL) != FR_OK) return die("job");

  float *init = NULL;
  const float *inits[1] = {NULL};
  int64_t lshape[5] = {1, info.latent_channels, o.job.frames, o.job.height / info.vae_scale,
                       o.job.width / info.vae_scale};
  if (o.init_latents) {
    int nd;
    int64_t sh[FR_MAX_DIMS];
    if (fr_npy_read_f32(o.init_latents, &nd, sh, &init) != FR_OK) return die("--init-latents");
    if (nd != 5 || memcmp(sh, lshape, sizeof lshape) != 0) {
      fprintf(stderr, "fractal-gen: --init-latents %s: shape must be (%lld, %lld, %lld, %lld, %lld)\n", o.init_latents,
              (long long)lshape[0], (long long)lshape[1], (long long)lshape[2], (long long)lshape[3],
              (long long)lshape[4]);
      return 1;
    }
    inits[0] = init;
  }
  if (o.dump && mkdir(o.dump, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "fractal-gen: --dump %s: %s\n", o.dump, strerror(errno));
    return 1;
  }
  dumper d = {o.dump, 1, {0}, FR_OK, 0, o.quiet, 0};
  memcpy(d.lshape, lshape, sizeof lshape);
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  d.t0 = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
  fr_observer obs = {&d,
                     o.dump ? on_tokens : NULL,
                     o.dump ? on_text : NULL,
                     o.dump ? on_latent : NULL,
                     o.dump ? on_noise : NULL,
                     on_progress};
  fr_run_options ro = {.observer = &obs, .init_latents = inits, .keep_float_frames = o.dump != NULL};
  ro.ranks = o.shards, ro.threads = o.threads, ro.devices = o.devices, ro.ndevices = o.ndevices;
  if (o.random_seed) fprintf(stderr, "fractal-gen: seed %llu (random)\n", (unsigned long long)o.job.seed);
  if (!o.quiet)
    fprintf(stderr, "fractal-gen: %s, model %s, %d frames %dx%d, %d %s steps, seed %llu\n", fr_backend_name(be),
            info.digest_hex, o.job.frames, o.job.width, o.job.height, o.job.steps, fr_scheduler_name(o.job.scheduler),
            (unsigned long long)o.job.seed);
  fr_result r;
  if (fr_generate(m, &o.job, 1, &ro, &r) != FR_OK) return die("generation");
  if (d.decoding) fprintf(stderr, "done in %.1f s\n", r.timing.decode_ms / 1e3);
  fr_result_seal(&r);
  const fr_shard_stats *ss = &r.shards;
  if (!o.quiet && ss->ranks > 1)
    fprintf(stderr, "fractal-gen: %d ranks (%d guidance x %d frame), %.2f MiB exchanged in %llu collectives\n",
            ss->ranks, ss->guidance_ranks, ss->frame_ranks, (double)ss->sent_bytes / 1048576.0,
            (unsigned long long)ss->collectives);
  free(init);
  if (d.st != FR_OK) return die("--dump");
  if (o.dump) {
    int64_t fs[4] = {o.job.frames, o.job.height, o.job.width, 3};
    dump_write(&d, "frames.npy", FR_F32, 4, fs, r.frames_f32);
    dump_write(&d, "frames_u8.npy", FR_U8, 4, fs, r.frames);
    if (d.st != FR_OK) return die("--dump");
  }
  const char *codec = "";
  if (fr_video_write(o.output, r.frames, o.job.frames, o.job.height, o.job.width, o.fps, &codec) != FR_OK)
    return die("writing the video");
  if (o.sheet && fr_png_write_sheet(o.sheet, r.frames, o.job.frames, o.job.height, o.job.width, 0) != FR_OK)
    return die("writing the sheet");
  char hex[33];
  fr_hash_hex(r.digest, hex);
  if (o.json) { /* a record fractal-replay reads as it is: the job as run and its result */
    size_t jn = fr_job_to_json(&r.job, NULL, 0) + 1, rn = fr_result_to_json(&r, NULL, 0) + 1;
    char *job = (char *)malloc(jn), *res = (char *)malloc(rn);
    if (!job || !res) return free(job), free(res), die("out of memory");
    fr_job_to_json(&r.job, job, jn), fr_result_to_json(&r, res, rn);
    printf("{\"job\":%s,\"result\":%s}\n", job, res);
    free(job), free(res);
  } else {
    printf("%s\n", hex);
  }
  if (!o.quiet)
    fprintf(stderr, "fractal-gen: wrote %s (%s, %d fps) in %.1f s; job digest %s\n", o.output, codec, o.fps,
            r.timing.total_ms / 1e3, hex);
  fr_result_free(&r);
  fr_model_free(m);
  fr_backend_close(be);
  return 0;
}
