/* fractal-bench: times the op cases of perf/op_table.c tagged BENCH (the ms-1.7b UNet's shapes at its batch
 * of 32 frame-images, and the VAE's), or with --shapes those of one model's own job (perf/op_model.c), on a
 * backend, optionally against the CPU reference's bits and against cuBLAS and the device's copy bandwidth;
 * or whole jobs on a model. Output: a table, or JSON lines. */
#define _GNU_SOURCE /* getopt_long, clock_gettime */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fractal/i8x.h"
#include "fractal/backend.h"
#include "fractal/pipeline.h"
#include "fractal/verify.h"
#include "fractal/protocol.h"
#include "fractal/version.h"
#include "fma_peak.h"
#include "op_cases.h"
#include "op_model.h"

#if defined(FR_HAVE_CUDA) && !defined(FR_CUDA_EMU)
#include "cublas_ref.h"
#define HAVE_REFS 1
#else
#define HAVE_REFS 0
#endif

typedef struct bench_opts {
  const char *backend, *only, *model;
  int threads, repeat, images, check, json, cublas, bandwidth, peak;
  int steps, frames, height, width;
  fr_scheduler scheduler;
  int verify;
  double decode_p;
  const char *shards; /* "1,2,4": rank counts to compare */
  int plan_only;
  double guidance;
  const char *baseline; /* JSON lines of an earlier --json run */
  const char *shapes;   /* a preset or a model folder: its own op cases */
  int list;             /* the cases' names and shapes, not timed */
  int dtype;            /* --dtype: every weight's (-1: the model's) */
  const char *numerics; /* --numerics: f32-v1, i8x-v1 (or a quality width i8x-bNN) */
} bench_opts;

/* One case of a baseline run. */
typedef struct base_case {
  char name[128];
  double ms, ms_min, ms_max;
} base_case;

static base_case *baseline;
static int nbaseline;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define PROG "fractal-bench"
/* An option's number, whole and in range, or exit 2 naming the option (no silent 0 from atoi). */
static long opt_long(const char *opt, const char *s, long lo, long hi)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "%s: %s wants a whole number in %ld..%ld, not \"%s\"\n", PROG, opt, lo, hi, s);
    exit(2);
  }
  return v;
}

static double opt_double(const char *opt, const char *s)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v == v)) {
    fprintf(stderr, "%s: %s wants a number, not \"%s\"\n", PROG, opt, s);
    exit(2);
  }
  return v;
}

static void die(const char *what)
{
  fprintf(stderr, "fractal-bench: %s: %s\n", what, fr_last_error());
  exit(1);
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void json_member(const char *key, const char *s);

/* The cases of an earlier `fractal-bench --json` run (one object a line; lines without "case" and "ms", such as
 * errors, are skipped). */
static void load_baseline(const char *path)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "fractal-bench: --baseline %s: %s\n", path, strerror(errno));
    exit(2);
  }
  char line[8192];
  int at = 0;
  while (fgets(line, sizeof line, f)) {
    at++;
    if (strspn(line, " \t\r\n") == strlen(line)) continue;
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    if (!json_is_object(j)) {
      fprintf(stderr, "fractal-bench: --baseline %s:%d: not a JSON object (%s)\n", path, at, e.text);
      exit(2);
    }
    const char *name = json_string_value(json_object_get(j, "case"));
    json_t *ms = json_object_get(j, "ms"), *lo = json_object_get(j, "ms_min"), *hi = json_object_get(j, "ms_max");
    base_case *grown =
        name && json_is_number(ms) ? (base_case *)realloc(baseline, sizeof *baseline * (size_t)(nbaseline + 1)) : NULL;
    if (grown) {
      baseline = grown;
      base_case *b = &baseline[nbaseline++];
      snprintf(b->name, sizeof b->name, "%s", name);
      b->ms = json_number_value(ms);
      b->ms_min = json_is_number(lo) ? json_number_value(lo) : b->ms;
      b->ms_max = json_is_number(hi) ? json_number_value(hi) : b->ms;
    }
    json_decref(j);
  }
  fclose(f);
  if (!nbaseline) {
    fprintf(stderr, "fractal-bench: --baseline %s: no cases (write one with --json)\n", path);
    exit(2);
  }
}

static const base_case *baseline_of(const char *name)
{
  for (int i = 0; i < nbaseline; i++)
    if (strcmp(baseline[i].name, name) == 0) return &baseline[i];
  return NULL;
}

/* What a JSON line says about where it was measured: the build's commit, the UTC date, the machine (host
 * name and CPU model) and the thread count. */
static void json_provenance(fr_backend *be)
{
  static char host[256], cpu[256]; /* read once: they do not change during a run */
  char date[32];
  if (!host[0]) {
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    snprintf(cpu, sizeof cpu, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
      if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
        snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
        cpu[strcspn(cpu, "\n")] = '\0';
        break;
      }
    if (f) fclose(f);
  }
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
  json_member("commit", fr_build_info()->commit);
  json_member("date", date);
  json_member("machine", host);
  json_member("cpu", cpu);
  printf(",\"threads\":%d", fr_backend_threads(be));
}

/* One case's measurements. */
typedef struct report {
  char shape[160], check[400];
  double ms, ms_min, ms_max, flops, bytes;
  double cublas_ms;                     /* 0: not measured */
  double cublas_f16_ms, cublas_bf16_ms; /* the tensor-core references, 0: not measured */
  int gemm_class;
} report;

/* --check: runs the case on be (already set up as r) and on the CPU reference, and compares the bits. */
static int check_bits(op_inst *r, fr_backend *cpu, int images, char *msg, size_t n)
{
  op_inst ref;
  op_result want, got;
  if (op_run(r) != FR_OK || op_fetch(r, &got) != FR_OK) return snprintf(msg, n, "failed: %s", fr_last_error()), 0;
  fr_status st = op_setup(r->c, cpu, images, &ref);
  if (st == FR_OK && r->i8x_bits) st = op_use_i8x(&ref, r->i8x_bits);
  if (st == FR_OK) {
    st = op_run(&ref);
    if (st == FR_OK) st = op_fetch(&ref, &want);
    op_free(&ref);
  }
  int same = 0;
  if (st != FR_OK) snprintf(msg, n, "failed on the CPU reference: %s", fr_last_error());
  else if ((same = op_same_bits(&want, &got, msg, n))) snprintf(msg, n, "same bits");
  if (st == FR_OK) op_result_free(&want);
  op_result_free(&got);
  return same;
}

/* One warm-up, then repeat timed runs, each waited for with fr_backend_sync. */
static fr_status time_case(op_inst *r, int repeat, report *rep)
{
  double t[1000];
  FR_TRY(op_run(r));
  FR_TRY(fr_backend_sync(r->be));
  for (int i = 0; i < repeat; i++) {
    double t0 = now_s();
    FR_TRY(op_run(r));
    FR_TRY(fr_backend_sync(r->be));
    t[i] = (now_s() - t0) * 1e3;
  }
  qsort(t, (size_t)repeat, sizeof t[0], cmp_double);
  rep->ms = t[repeat / 2], rep->ms_min = t[0], rep->ms_max = t[repeat - 1];
  return FR_OK;
}

/* A JSON string member: ,"key":"value" with quotes, backslashes and control characters escaped. */
static void json_member(const char *key, const char *s)
{
  printf(",\"%s\":\"", key);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20) printf("\\u%04x", (unsigned char)*s);
    else putchar(*s);
  }
  putchar('"');
}

/* Returns 1 when the case is slower than its baseline beyond both runs' spread (this run's fastest is slower
 * than the baseline's slowest). */
static int print_report(const bench_opts *o, fr_backend *be, const model_case *mc, const model_cases *set,
                        const report *rep, double copy_gbps)
{
  const op_case *c = &mc->c;
  double gflops = rep->flops / rep->ms * 1e-6, gbps = rep->bytes / rep->ms * 1e-6;
  int bw = copy_gbps > 0 && !rep->gemm_class;
  const base_case *base = baseline_of(c->name);
  int regression = base && rep->ms_min > base->ms_max, faster = base && rep->ms_max < base->ms_min;
  if (o->json) {
    printf("{\"op\":\"%s\"", op_kind_name(c->op));
    json_member("case", c->name);
    json_member("shape", rep->shape);
    json_member("backend", fr_backend_name(be));
    json_member("numerics", o->numerics);
    json_provenance(be);
    int images = o->images ? o->images : OP_BENCH_IMAGES;
    printf(",\"images\":%d,\"repeat\":%d", o->shapes ? set->images : images, o->repeat);
    if (o->shapes) {
      json_member("model", o->shapes);
      json_member("stage", mc->stage);
      printf(",\"calls\":%d", mc->calls);
    }
    printf(",\"ms\":%.4f,\"ms_min\":%.4f,\"ms_max\":%.4f,\"gflops\":%.3f,\"gbps\":%.3f", rep->ms, rep->ms_min,
           rep->ms_max, gflops, gbps);
    if (base)
      printf(",\"baseline_ms\":%.4f,\"vs_baseline\":%.3f,\"regression\":%s", base->ms, base->ms / rep->ms,
             regression ? "true" : "false");
    if (o->check) json_member("check", rep->check);
    if (rep->cublas_ms > 0)
      printf(",\"cublas_ms\":%.4f,\"vs_cublas\":%.3f,\"cublas_fraction\":%.3f", rep->cublas_ms,
             rep->ms / rep->cublas_ms, rep->cublas_ms / rep->ms);
    if (rep->cublas_f16_ms > 0 && rep->cublas_bf16_ms > 0)
      printf(",\"cublas_f16_ms\":%.4f,\"cublas_bf16_ms\":%.4f,\"vs_cublas_f16\":%.3f,\"vs_cublas_bf16\":%.3f",
             rep->cublas_f16_ms, rep->cublas_bf16_ms, rep->ms / rep->cublas_f16_ms, rep->ms / rep->cublas_bf16_ms);
    if (bw) printf(",\"copy_gbps\":%.1f,\"bandwidth_fraction\":%.3f", copy_gbps, gbps / copy_gbps);
    printf("}\n");
    return regression;
  }
  printf("%-34s %-44s %10.3f %10.3f %10.3f ", c->name, rep->shape, rep->ms_min, rep->ms, rep->ms_max);
  if (o->shapes) printf("%6d ", mc->calls);
  if (rep->flops > 0) printf("%9.1f %8.1f", gflops, gbps);
  else printf("%9s %8.1f", "-", gbps);
  if (rep->cublas_ms > 0)
    printf("  cuBLAS %.3f ms: ours at %.1f%% of its speed", rep->cublas_ms, 100 * rep->cublas_ms / rep->ms);
  if (rep->cublas_f16_ms > 0 && rep->cublas_bf16_ms > 0)
    printf("; fp16 tensor cores %.3f ms (%.1f%%), bf16 %.3f ms (%.1f%%)", rep->cublas_f16_ms,
           100 * rep->cublas_f16_ms / rep->ms, rep->cublas_bf16_ms, 100 * rep->cublas_bf16_ms / rep->ms);
  if (bw) printf("  %5.1f%% of copy", 100 * gbps / copy_gbps);
  if (o->check) printf("  %s", rep->check);
  if (base)
    printf("  %.2fx the baseline (%.3f ms)%s", base->ms / rep->ms, base->ms,
           regression ? "  REGRESSION"
           : faster   ? "  faster"
                      : "");
  putchar('\n');
  return regression;
}

static int matches(const bench_opts *o, const op_case *c) { return !o->only || strstr(c->name, o->only); }

/* --list: each case's name and shape (and with --shapes its stage and calls), nothing run. */
static int list_cases(const bench_opts *o, const model_cases *set)
{
  for (int i = 0; i < set->n; i++) {
    const model_case *mc = &set->v[i];
    op_inst r;
    char shape[160];
    if (!matches(o, &mc->c)) continue;
    if (op_setup(&mc->c, NULL, o->images, &r) != FR_OK) die("describing a case");
    op_shape(&r, shape, sizeof shape);
    op_free(&r);
    if (o->json) {
      printf("{\"op\":\"%s\"", op_kind_name(mc->c.op));
      json_member("case", mc->c.name);
      json_member("shape", shape);
      if (o->shapes) {
        json_member("model", o->shapes);
        json_member("stage", mc->stage);
        printf(",\"calls\":%d", mc->calls);
      }
      printf("}\n");
    } else if (o->shapes) {
      printf("%-34s %-44s %-5s %6d\n", mc->c.name, shape, mc->stage, mc->calls);
    } else {
      printf("%-34s %s\n", mc->c.name, shape);
    }
  }
  return 0;
}

/* The cases of set whose name contains o->only. Returns the exit status: 1 if a case failed or its bits
 * differ from the CPU reference's. */
static int bench_ops(const bench_opts *o, fr_backend *be, const model_cases *set)
{
  int matching = 0;
  for (int i = 0; i < set->n; i++) matching += matches(o, &set->v[i].c);
  if (!matching) {
    fprintf(stderr, "fractal-bench: no %s case matches \"%s\" (%s)\n", o->shapes ? "--shapes" : "benchmark",
            o->only ? o->only : "", o->shapes ? "--list lists them" : "the case names are in perf/op_table.c");
    return 1;
  }
  if (o->list) return list_cases(o, set);
  fr_backend *cpu = NULL;
  double copy_gbps = 0;
  if (o->check && fr_backend_open("cpu", o->threads, &cpu) != FR_OK) die("CPU reference backend");
#if HAVE_REFS
  cublas_ref *refs = NULL; /* --cublas, --bandwidth */
  if ((o->cublas || o->bandwidth) &&
      (cublas_ref_open(fr_backend_device(be) >= 0 ? fr_backend_device(be) : 0, &refs) != FR_OK ||
       cublas_ref_copy_gbps(refs, o->repeat, &copy_gbps) != FR_OK))
    die(o->cublas ? "--cublas" : "--bandwidth");
#endif
  if (!o->json) {
    int images = o->images ? o->images : OP_BENCH_IMAGES;
    if (o->shapes)
      printf("backend: %s; model %s, %d frames of %dx%d (latent %dx%d), guidance %s: UNet batch of %d frame-images, "
             "the VAE one frame a call; median of %d run%s",
             fr_backend_name(be), o->shapes, o->frames, o->width, o->height, set->latent_w, set->latent_h,
             o->guidance > 1 ? "on" : "off", set->images, o->repeat, o->repeat == 1 ? "" : "s");
    else
      printf("backend: %s; image-batched cases at %d frame-image%s; median of %d run%s", fr_backend_name(be), images,
             images == 1 ? "" : "s", o->repeat, o->repeat == 1 ? "" : "s");
    if (copy_gbps > 0) printf("; device copy %.1f GB/s (read + write)", copy_gbps);
    printf("; numerics %s", o->numerics);
    printf("\n%-34s %-44s %10s %10s %10s %s%9s %8s\n", "case", "shape", "ms min", "median", "max",
           o->shapes ? " calls " : "", "GFLOP/s", "GB/s");
  }
  int failed = 0, regressions = 0;
  double stage_ms[3] = {0}; /* --shapes: clip, unet + step, vae */
  for (int i = 0; i < set->n; i++) {
    const model_case *mc = &set->v[i];
    const op_case *c = &mc->c;
    if (!matches(o, c)) continue;
    report rep = {0};
    op_inst r;
    op_gemm g[2];
    fr_status st = op_setup(c, be, o->images, &r);
    if (st == FR_OK && fr_i8x_numerics_bits(o->numerics)) st = op_use_i8x(&r, fr_i8x_numerics_bits(o->numerics));
    if (st == FR_OK) {
      op_shape(&r, rep.shape, sizeof rep.shape);
      int same = o->check ? check_bits(&r, cpu, o->images, rep.check, sizeof rep.check) : 1;
      failed += !same;
      st = time_case(&r, o->repeat, &rep);
      rep.flops = op_flops(&r), rep.bytes = op_bytes(&r);
      int ng = op_gemms(&r, g);
      rep.gemm_class = ng > 0;
      op_free(&r);
#if HAVE_REFS
      if (st == FR_OK && o->cublas && ng) st = cublas_ref_gemm_ms(refs, g, ng, o->repeat, &rep.cublas_ms);
      if (st == FR_OK && o->cublas && ng)
        st = cublas_ref_gemm_half_ms(refs, g, ng, FR_F16, o->repeat, &rep.cublas_f16_ms);
      if (st == FR_OK && o->cublas && ng)
        st = cublas_ref_gemm_half_ms(refs, g, ng, FR_BF16, o->repeat, &rep.cublas_bf16_ms);
#endif
    }
    if (st == FR_OK) {
      regressions += print_report(o, be, mc, set, &rep, copy_gbps);
      if (o->shapes) stage_ms[mc->stage[0] == 'c' ? 0 : mc->stage[0] == 'v' ? 2 : 1] += rep.ms * mc->calls;
      continue;
    }
    failed++;
    if (o->json) {
      printf("{\"op\":\"%s\"", op_kind_name(c->op));
      json_member("case", c->name);
      json_member("error", fr_last_error());
      printf("}\n");
    } else {
      printf("%-34s error: %s\n", c->name, fr_last_error());
    }
  }
  if (o->shapes && !o->json)
    printf("the cases run, median x calls: text encoder %.1f ms, one step (UNet, guidance, scheduler) %.1f ms, "
           "VAE decode of %d frames %.1f ms%s\n",
           stage_ms[0], stage_ms[1], o->frames, stage_ms[2], o->only ? " (only the cases --op chose)" : "");
#if HAVE_REFS
  cublas_ref_close(refs);
#endif
  if (cpu) fr_backend_close(cpu);
  if (regressions)
    fprintf(stderr, "fractal-bench: %d case%s slower than the baseline beyond both runs' spread\n", regressions,
            regressions == 1 ? "" : "s");
  return failed ? 1 : regressions ? 3 : 0;
}

/* The BENCH cases of perf/op_table.c as a set (no stages, no calls). */
static void bench_table(model_cases *set)
{
  memset(set, 0, sizeof *set);
  set->v = (model_case *)calloc((size_t)op_case_count, sizeof *set->v);
  if (!set->v) die("out of memory");
  for (int i = 0; i < op_case_count; i++)
    if (op_cases[i].tags & TAG_BENCH) set->v[set->n++].c = op_cases[i];
}

/* --shapes: the preset's or the folder's architecture (exit 2 naming it when it is neither), then its cases at
 * the job's size. A preset's weights are F16 for the UNet and the text encoder and F32 for the VAE, as the
 * BENCH table has them; a folder's are its files' own. */
static void shape_table(bench_opts *o, model_cases *set)
{
  fr_model_arch a;
  const char *const *p = fr_modelgen_presets();
  while (*p && strcmp(*p, o->shapes) != 0) p++;
  struct stat sb;
  if (*p) {
    if (fr_modelgen_arch(o->shapes, &a) != FR_OK) die("--shapes");
    a.unet_dtype = a.clip_dtype = FR_F16, a.vae_dtype = FR_F32;
  } else if (stat(o->shapes, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    fprintf(stderr, "fractal-bench: --shapes %s: neither a preset (tiny, small, ms-1.7b) nor a model folder (%s)\n",
            o->shapes, stat(o->shapes, &sb) != 0 ? strerror(errno) : "not a directory");
    exit(2);
  } else if (fr_model_arch_read(o->shapes, &a) != FR_OK) {
    fprintf(stderr, "fractal-bench: --shapes %s: %s\n", o->shapes, fr_last_error());
    exit(2);
  }
  if (o->dtype >= 0) a.unet_dtype = a.vae_dtype = a.clip_dtype = (fr_dtype)o->dtype;
  int scale = 1 << (a.vae.nblocks - 1);
  if (!o->height) o->height = a.unet.sample_size * scale;
  if (!o->width) o->width = a.unet.sample_size * scale;
  if (o->height % scale || o->width % scale) {
    fprintf(stderr, "fractal-bench: --shapes %s: --height and --width must be multiples of %d, not %dx%d\n", o->shapes,
            scale, o->height, o->width);
    exit(2);
  }
  model_job job = {.frames = o->frames, .height = o->height, .width = o->width};
  job.guidance = o->guidance > 1, job.guidance_scale = (float)o->guidance, job.ddim = o->scheduler == FR_SCHEDULER_DDIM;
  if (model_cases_make(&a, &job, set) != FR_OK) die("--shapes");
}

static void usage(FILE *f)
{
  fprintf(f, "usage: fractal-bench [options]\n"
             "Times the op cases tagged BENCH in perf/op_table.c: the ms-1.7b UNet's ops at its batch of 32\n"
             "frame-images (guidance halves x 16 frames; 320 channels at 32x32, 640 and 1280 deeper), and the VAE's;\n"
             "or with --shapes every op and shape one model's own job runs.\n"
             "  -b, --backend NAME   cpu, cuda, cuda:N or auto (default auto)\n"
             "  -t, --threads N      CPU threads (default: all cores)\n"
             "  -n, --images N       frame-images per call of the image-batched cases (default 32)\n"
             "  -r, --repeat N       timed runs per case after one warm-up, the median is reported (default 5)\n"
             "  -o, --op SUBSTR      only cases whose name contains SUBSTR (names start with the op: conv2d_, ...)\n"
             "      --check          first compare the backend's output bits with the CPU reference's\n"
             "      --cublas         also time cuBLAS (fp32, TF32 off; and fp16, bf16 tensor cores with fp32\n"
             "                       accumulation) on each GEMM-class case's GEMMs: linear,\n"
             "                       conv (one GEMM per image, without im2col), attention (QK^T and P.V per head\n"
             "                       and batch); implies --bandwidth. Real CUDA builds only\n"
             "      --bandwidth      also measure the device's copy bandwidth (cudaMemcpy of 1 GiB, read + write)\n"
             "                       and give the memory-bound cases' GB/s as a fraction of it. Real CUDA builds only\n"
             "      --json           one JSON object per case (op, case, shape, backend, commit, date, machine, cpu,\n"
             "                       threads, images, repeat, ms, ms_min, ms_max, gflops, gbps, check, cublas_ms,\n"
             "                       vs_cublas, cublas_fraction, copy_gbps, bandwidth_fraction, baseline_ms,\n"
             "                       vs_baseline, regression) instead of a table\n"
             "      --baseline FILE  compare with an earlier --json run: each case's speed against it, and\n"
             "                       REGRESSION where this run's fastest is slower than the baseline's slowest\n"
             "      --list           only list the cases (name, shape; with --shapes stage and calls), nothing run\n"
             "      --shapes MODEL   instead of the BENCH table, the cases of one job on MODEL (tiny, small, ms-1.7b,\n"
             "                       or a model folder): each distinct op and shape of the text encoder, one UNet\n"
             "                       forward (batch: 2 guidance halves x frames), the guidance and scheduler update,\n"
             "                       and the VAE decode of every frame (one at a time), named op_component_level_role\n"
             "                       (l0 the full latent or image, l1 half, ...); calls: how often the text encoder,\n"
             "                       one UNet step or the whole decode runs it. The table ends with their sums.\n"
             "                       With --frames N (default 16), --height H --width W (default the model's size),\n"
             "                       --guidance G (<= 1: one half), --scheduler; JSON adds model, stage, calls\n"
             "      --dtype T        with --shapes: every weight f32, f16 or bf16 (default: a folder's own; a\n"
             "                       preset's F16 for the UNet and the text encoder, F32 for the VAE, as BENCH has)\n"
             "      --numerics P     f32-v1 (default) or i8x-v1: the GEMM-class cases (linear, convs, attention)\n"
             "                       run the exact-integer profile's ops (weights quantized before timing), and\n"
             "                       -m/--shards jobs run in it (the model loaded with its quantized weights)\n"
             "  -m, --model DIR      instead: time whole jobs on this model (text, denoising, decode), with\n"
             "      --steps N --frames N --height H --width W --scheduler ddim|dpm++2m (defaults 2, 16, the\n"
             "                       model's size, dpm++2m); -r runs, the median is reported\n"
             "      --verify         with -m: also time a verifier's spot check of every step and of the\n"
             "                       decode, and report a spot check's cost as a fraction of the job\n"
             "      --decode-p P     the chance a spot check also checks the decode (default 0.1)\n"
             "      --shards LIST    with -m: one job split over each rank count in LIST (e.g. 1,2,4; threads sharing\n"
             "                       the backend's device): traffic per step, time and speed-up, digests\n"
             "      --plan-only      with --shards: only the plan's traffic (any model size, no computation)\n"
             "      --guidance G     with --shards or --shapes: the job's guidance scale (default 9; <= 1: no halves)\n"
             "      --cpu-isa NAME   the CPU backend's GEMM micro-kernels for generic, avx2+fma or avx512f instead of\n"
             "                       the widest this CPU runs (the same bits; to compare them)\n"
             "      --peak           instead: the CPU's fp32 FMA peak (AVX-512 or AVX2 loop) on 1 and on all threads,\n"
             "                       and the GEMM micro-kernel alone at the model's k blocks, as a fraction of it\n"
             "      --version         the version, source commit, build type and CUDA backend\n"
             "  -h, --help           this text\n"
             "Exit status 1 if a case fails or its bits differ from the CPU reference's, or no case matches --op;\n"
             "2 for a usage error (also an unknown --shapes model); 3 if a case regressed against --baseline.\n");
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

/* A verifier's spot check (docs/daemon.md, "One step"): one step recomputed from revealed latents, the decode with
 * probability decode_p; timed for every step of the job against the whole job. */
static void bench_verify(const bench_opts *o, fr_model *m, const fr_job *j, double job_ms)
{
  latents l = {{0}, 0};
  fr_observer obs = {&l, NULL, NULL, keep_latent, NULL, NULL};
  fr_run_options ro = {.observer = &obs};
  fr_result res;
  if (fr_generate(m, j, 1, &ro, &res) != FR_OK) die("generation");
  fr_result_seal(&res);
  double sum = 0, lo = 1e30, hi = 0, t0;
  for (int k = 0; k < j->steps; k++) {
    fr_check c;
    fr_check_plan plan;
    if (fr_check_plan_make(m, j, k, 0, &plan) != FR_OK) die("check plan");
    t0 = now_s();
    if (fr_check_step(m, &res, k, plan.needs_previous ? l.x[k - 1] : NULL, l.x[k], &c) != FR_OK ||
        c.verdict != FR_CHECK_OK)
      die("step check");
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
  fr_model_options mopt = {NULL, fr_i8x_numerics_bits(o->numerics)};
  if (fr_model_load(o->model, be, &mopt, &m) != FR_OK) die("loading the model");
  double load_s = now_s() - t0;
  fr_model_info info;
  fr_model_get_info(m, &info);
  fr_job j;
  fr_job_init(&j);
  snprintf(j.numerics, sizeof j.numerics, "%s", o->numerics);
  snprintf(j.prompt, sizeof j.prompt, "a timelapse of clouds over a mountain lake");
  j.steps = o->steps, j.frames = o->frames, j.scheduler = o->scheduler;
  j.height = o->height ? o->height : info.default_height;
  j.width = o->width ? o->width : info.default_width;
  double text[1000] = {0}, step[1000] = {0}, decode[1000] = {0}, total[1000] = {0};
  char hex[33] = "";
  for (int r = 0; r < o->repeat; r++) {
    fr_result res;
    if (fr_generate(m, &j, 1, NULL, &res) != FR_OK) die("generation");
    fr_result_seal(&res);
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
    printf(
        "{\"model\":\"%s\",\"backend\":\"%s\",\"frames\":%d,\"height\":%d,\"width\":%d,\"steps\":%d,"
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
 * time (median of repeat), the speed-up over one rank and the digest (which must not change: exit 1 if
 * it does). */
static int bench_shards(const bench_opts *o, fr_backend *be)
{
  fr_model *m;
  fr_model_options mopt = {NULL, fr_i8x_numerics_bits(o->numerics)};
  if (fr_model_load(o->model, be, &mopt, &m) != FR_OK) die("loading the model");
  fr_model_info info;
  fr_model_get_info(m, &info);
  fr_job j;
  fr_job_init(&j);
  snprintf(j.numerics, sizeof j.numerics, "%s", o->numerics);
  snprintf(j.prompt, sizeof j.prompt, "a timelapse of clouds over a mountain lake");
  j.steps = o->steps, j.frames = o->frames, j.scheduler = o->scheduler, j.guidance = (float)o->guidance;
  j.height = o->height ? o->height : info.default_height;
  j.width = o->width ? o->width : info.default_width;
  if (!o->json)
    printf("model %s on %s (%d threads in all); job: %d frames %dx%d, %d %s steps, guidance %g\n"
           "%6s %12s %14s %12s %12s %10s %9s  %s\n",
           info.digest_hex, fr_backend_name(be), fr_backend_threads(be), j.frames, j.width, j.height, j.steps,
           fr_scheduler_name(j.scheduler), o->guidance, "ranks", "guid x frame", "MiB per step", "MiB once",
           "colls/step", o->plan_only ? "" : "ms", o->plan_only ? "" : "speed-up", o->plan_only ? "" : "digest");
  double base_ms = 0;
  char base_hex[33] = "";
  char list[256];
  int differs = 0;
  snprintf(list, sizeof list, "%s", o->shards);
  for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int ranks = (int)opt_long("--shards", tok, 1, 1024);
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
      double t[1000] = {0};
      for (int r = 0; r < o->repeat; r++) {
        fr_result res;
        double t0 = now_s();
        fr_run_options split = {.ranks = ranks, .threads = o->threads};
        if (fr_generate(m, &j, 1, &split, &res) != FR_OK) die("sharded generation");
        fr_result_seal(&res);
        t[r] = (now_s() - t0) * 1e3;
        fr_hash_hex(res.digest, hex);
        fr_result_free(&res);
      }
      qsort(t, (size_t)o->repeat, sizeof(double), cmp_double);
      ms = t[o->repeat / 2];
      if (!base_ms) base_ms = ms, memcpy(base_hex, hex, sizeof hex);
    }
    const char *same = o->plan_only ? "" : strcmp(hex, base_hex) ? "DIFFERENT" : "same";
    differs += !o->plan_only && strcmp(hex, base_hex) != 0;
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
  return differs ? 1 : 0;
}

int main(int argc, char **argv)
{
  bench_opts o = {"auto", NULL, NULL, 0, 5,   0,    0,    0, 0,  0,          0, 2, 16, 0, 0, FR_SCHEDULER_DPMPP_2M,
                  0,      0.1,  NULL, 0, 9.0, NULL, NULL, 0, -1, FR_NUMERICS};
  /* clang-format off */ /* a table: one entry per line */
  static const struct option longopts[] = {
    {"backend", required_argument, 0, 'b'}, {"threads", required_argument, 0, 't'},
    {"images", required_argument, 0, 'n'},  {"repeat", required_argument, 0, 'r'},
    {"op", required_argument, 0, 'o'},      {"check", no_argument, 0, 'c'},
    {"json", no_argument, 0, 'j'},          {"version", no_argument, 0, 'V'}, {"help", no_argument, 0, 'h'},
    {"model", required_argument, 0, 'm'},   {"steps", required_argument, 0, 1},
    {"frames", required_argument, 0, 2},    {"height", required_argument, 0, 3},
    {"width", required_argument, 0, 4},     {"scheduler", required_argument, 0, 5},
    {"verify", no_argument, 0, 6},          {"decode-p", required_argument, 0, 7},
    {"shards", required_argument, 0, 8},    {"plan-only", no_argument, 0, 9},
    {"guidance", required_argument, 0, 10}, {"cublas", no_argument, 0, 11},
    {"bandwidth", no_argument, 0, 12},      {"peak", no_argument, 0, 13},
    {"baseline", required_argument, 0, 14}, {"shapes", required_argument, 0, 15},
    {"list", no_argument, 0, 16},           {"dtype", required_argument, 0, 17},
    {"numerics", required_argument, 0, 18}, {"cpu-isa", required_argument, 0, 19},
    {0, 0, 0, 0}};
  /* clang-format on */
  int ch;
  while ((ch = getopt_long(argc, argv, "b:t:n:r:o:m:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'm': o.model = optarg; break;
    case 1: o.steps = (int)opt_long("--steps", optarg, 1, FR_JOB_STEPS_MAX); break;
    case 2: o.frames = (int)opt_long("--frames", optarg, 1, FR_JOB_FRAMES_MAX); break;
    case 3: o.height = (int)opt_long("--height", optarg, 8, 8192); break;
    case 4: o.width = (int)opt_long("--width", optarg, 8, 8192); break;
    case 5:
      if (fr_scheduler_parse(optarg) < 0) return usage(stderr), 2;
      o.scheduler = (fr_scheduler)fr_scheduler_parse(optarg);
      break;
    case 6: o.verify = 1; break;
    case 7: o.decode_p = opt_double("--decode-p", optarg); break;
    case 8: o.shards = optarg; break;
    case 9: o.plan_only = 1; break;
    case 10: o.guidance = opt_double("--guidance", optarg); break;
    case 11: o.cublas = o.bandwidth = 1; break;
    case 12: o.bandwidth = 1; break;
    case 13: o.peak = 1; break;
    case 14: o.baseline = optarg; break;
    case 15: o.shapes = optarg; break;
    case 16: o.list = 1; break;
    case 17:
      o.dtype = strcmp(optarg, "f32") == 0 ? FR_F32 : strcmp(optarg, "f16") == 0 ? FR_F16 : -1;
      if (strcmp(optarg, "bf16") == 0) o.dtype = FR_BF16;
      if (o.dtype < 0) {
        fprintf(stderr, "fractal-bench: --dtype wants f32, f16 or bf16, not \"%s\"\n", optarg);
        return 2;
      }
      break;
    case 18:
      if (strcmp(optarg, FR_NUMERICS) != 0 && !fr_i8x_numerics_bits(optarg)) {
        fprintf(stderr, "fractal-bench: --numerics wants f32-v1 or i8x-v1 (or i8x-bNN), not \"%s\"\n", optarg);
        return 2;
      }
      o.numerics = optarg;
      break;
    case 19:
      if (!fr_cpu_force_isa(optarg)) {
        fprintf(stderr, "fractal-bench: --cpu-isa: this CPU cannot run \"%s\" (generic, avx2+fma, avx512f)\n", optarg);
        return 2;
      }
      break;
    case 'b': o.backend = optarg; break;
    case 't': o.threads = (int)opt_long("-t", optarg, 0, 1024); break;
    case 'n': o.images = (int)opt_long("-n", optarg, 1, 1 << 20); break;
    case 'r': o.repeat = (int)opt_long("-r", optarg, 1, 1000); break;
    case 'o': o.only = optarg; break;
    case 'c': o.check = 1; break;
    case 'j': o.json = 1; break;
    case 'V': fr_print_version(stdout, "fractal-bench"); return 0;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc || o.images > 4096 || o.repeat < 1 || o.repeat > 1000 || o.threads < 0 || o.steps < 1 ||
      o.steps > FR_JOB_STEPS_MAX || o.frames < 1 || o.frames > FR_JOB_FRAMES_MAX || o.height % 8 || o.width % 8 ||
      !(o.decode_p >= 0 && o.decode_p <= 1) || (o.verify && !o.model) || (o.shards && !o.model) ||
      (o.plan_only && !o.shards) || !(o.guidance >= 0 && o.guidance <= 50) || (o.bandwidth && o.model)) {
    usage(stderr);
    return 2;
  }
  if (o.bandwidth && !HAVE_REFS) {
    fprintf(stderr, "fractal-bench: --%s is unavailable: this build has %s (it needs real CUDA and cuBLAS)\n",
            o.cublas ? "cublas" : "bandwidth", fr_cuda_emulated() ? "emulated CUDA" : "no CUDA");
    return 2;
  }
  if (o.baseline && o.model) return usage(stderr), 2;
  if ((o.shapes && (o.model || o.peak)) || (o.list && (o.model || o.peak)) || (o.dtype >= 0 && !o.shapes) ||
      (o.shapes && o.images)) {
    fprintf(stderr, "fractal-bench: %s\n",
            o.shapes && o.images ? "-n sets the BENCH table's batch; --shapes runs the model's (2 x --frames)"
                                 : "these options do not go together (--help)");
    return 2;
  }
  if (o.baseline) load_baseline(o.baseline);
  model_cases set;
  memset(&set, 0, sizeof set);
  if (!o.model && !o.peak) {
    if (o.shapes) shape_table(&o, &set);
    else bench_table(&set);
  }
  if (o.list) { /* no backend needed */
    int rc = bench_ops(&o, NULL, &set);
    model_cases_free(&set);
    return rc;
  }
  fr_backend *be;
  if (fr_backend_open(o.backend, o.threads, &be) != FR_OK) die("backend");
  if (o.peak) { /* the fp32 FMA peak this CPU reaches, which the op cases' GFLOP/s can be read against */
    int n = fr_backend_threads(be);
    double one = 0, all = 0; /* the best of three: a shared machine's other work only slows a run */
    for (int r = 0; r < 3; r++) {
      double o1 = fma_peak_gflops(1), on = fma_peak_gflops(n);
      one = o1 > one ? o1 : one, all = on > all ? on : all;
    }
    if (o.json) printf("{\"fma_peak_gflops_1\":%.1f,\"fma_peak_gflops_all\":%.1f,\"threads\":%d}\n", one, all, n);
    else
      printf("fp32 FMA peak (a tight %s loop, best of 3): %.1f GFLOP/s on 1 thread, %.1f on %d\n", fma_peak_isa(), one,
             all, n);
    if (one <= 0) fprintf(stderr, "fractal-bench: --peak needs x86-64 with AVX2 and FMA or AVX-512F\n");
    /* the GEMM micro-kernel alone, at the k blocks the model's reductions are split into (the driver's
     * rule: even blocks of at most 512) */
    static const int ks[] = {320, 640, 1280, 2880, 5760, 11520};
    if (!o.json)
      printf("micro-kernel (%s, its widest call, panels in cache; the best 1024-call window of 0.3 s), per reduction "
             "length K of the model's GEMMs:\n",
             fr_cpu_microkernel_isa());
    for (size_t i = 0; one > 0 && i < sizeof ks / sizeof ks[0]; i++) {
      int blocks = (ks[i] + 511) / 512, kc = (ks[i] + blocks - 1) / blocks;
      double g1 = fr_cpu_microkernel_gflops(kc, 1, 0.3), gn = fr_cpu_microkernel_gflops(kc, n, 0.3);
      if (o.json)
        printf("{\"microkernel_k\":%d,\"kc\":%d,\"gflops_1\":%.1f,\"gflops_all\":%.1f,\"fraction_1\":%.3f,"
               "\"fraction_all\":%.3f,\"threads\":%d}\n",
               ks[i], kc, g1, gn, g1 / one, gn / all, n);
      else
        printf("  K %5d (k blocks of %d): %6.1f GFLOP/s on 1 thread (%4.1f%% of its peak), %6.1f on %d (%4.1f%%)\n",
               ks[i], kc, g1, 100 * g1 / one, gn, n, 100 * gn / all);
    }
    fr_backend_close(be);
    return one > 0 ? 0 : 1;
  }
  int rc = o.model ? (o.shards ? bench_shards(&o, be) : bench_model(&o, be)) : bench_ops(&o, be, &set);
  if (!o.model) model_cases_free(&set);
  fr_backend_close(be);
  return rc;
}
