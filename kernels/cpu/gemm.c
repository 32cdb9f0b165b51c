/* The GEMM driver: tiles C over threads, blocks k through packed panels, applies the epilogue.
 * The canonical order it implements is stated in gemm.h. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fractal/act.h"
#include "cpu.h"
#include "gemm.h"

static int force_generic;

void fr_gemm_force_generic(int on) { force_generic = on; }

fr_ukernel_fn fr_gemm_ukernel(void)
{
#if defined(__x86_64__) || defined(_M_X64)
  if (!force_generic && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return fr_ukernel_avx2;
#endif
  return fr_ukernel_generic;
}

const char *fr_gemm_isa(void) { return fr_gemm_ukernel() == fr_ukernel_generic ? "generic" : "avx2+fma"; }
const char *fr_cpu_microkernel_isa(void) { return fr_gemm_isa(); }

/* ---- the micro-kernel alone (fractal-bench --peak) ---- */

typedef struct ukernel_run {
  int kc;
  double seconds, gflops; /* gflops: the best window's (a shared machine's other work only slows some) */
} ukernel_run;

static double mono_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One thread: whole tiles from packed panels that stay in L1/L2, accumulating in C, as the driver runs
 * every k block after the first. */
static void *ukernel_loop(void *arg)
{
  ukernel_run *u = (ukernel_run *)arg;
  size_t kc = (size_t)u->kc;
  float *a = (float *)calloc(kc * FR_GEMM_MR, sizeof(float)), *b = (float *)calloc(kc * FR_GEMM_NR, sizeof(float));
  float c[FR_GEMM_MR * FR_GEMM_NR] = {0};
  if (!a || !b) return free(a), free(b), NULL;
  for (size_t i = 0; i < kc * FR_GEMM_MR; i++) a[i] = 1e-3f * (float)(i % 7);
  for (size_t i = 0; i < kc * FR_GEMM_NR; i++) b[i] = 1e-3f * (float)(i % 5);
  fr_ukernel_fn k = fr_gemm_ukernel();
  double t0 = mono_s(), best = 0;
  while (mono_s() - t0 < u->seconds) {
    double w0 = mono_s();
    for (int r = 0; r < 4096; r++) k((int64_t)kc, a, b, c, FR_GEMM_NR, 1);
    double rate = 2.0 * FR_GEMM_MR * FR_GEMM_NR * (double)kc * 4096.0 / (mono_s() - w0) * 1e-9;
    best = rate > best ? rate : best;
  }
  u->gflops = best;
  free(a), free(b);
  return NULL;
}

double fr_cpu_microkernel_gflops(int kc, int threads, double seconds)
{
  if (kc < 1 || threads < 1 || threads > 256) return 0;
  ukernel_run runs[256];
  pthread_t tid[256];
  int started = 0;
  for (int t = 0; t < threads; t++) runs[t] = (ukernel_run){kc, seconds, 0};
  for (int t = 1; t < threads; t++) started += pthread_create(&tid[started + 1], NULL, ukernel_loop, &runs[t]) == 0;
  ukernel_loop(&runs[0]);
  double sum = 0;
  for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);
  for (int t = 0; t <= started; t++) sum += runs[t].gflops;
  return sum;
}

void fr_pack_rows(const void *src, fr_dtype dtype, int64_t ld, int64_t rows_valid, int64_t row0, int64_t k0, int64_t kc,
                  int width, float *dst)
{
  for (int r = 0; r < width; r++) {
    int64_t row = row0 + r;
    if (row >= rows_valid) {
      for (int64_t k = 0; k < kc; k++) dst[k * width + r] = 0.0f;
      continue;
    }
    int64_t base = row * ld + k0;
    if (dtype == FR_F32) {
      const float *s = (const float *)src + base;
      for (int64_t k = 0; k < kc; k++) dst[k * width + r] = s[k];
    } else { /* widened a run at a time (a vector loop), then transposed */
      float run[FR_GEMM_KC];
      for (int64_t k1 = 0; k1 < kc; k1 += FR_GEMM_KC) {
        int64_t n = kc - k1 < FR_GEMM_KC ? kc - k1 : FR_GEMM_KC;
        fr_widen_f32(dtype, (const uint16_t *)src + base + k1, run, n);
        for (int64_t k = 0; k < n; k++) dst[(k1 + k) * width + r] = run[k];
      }
    }
  }
}

size_t fr_gemm_scratch_bytes(void)
{
  return sizeof(float) * ((size_t)FR_GEMM_B_FLOATS + (size_t)FR_GEMM_MR * FR_GEMM_NR);
}

typedef struct tile_job {
  const fr_gemm *g;
  fr_pool *pool;
  fr_ukernel_fn ukernel;
  int64_t kc, nc;   /* block sizes: k per block, columns per tile */
  float *a_packed;  /* k block k0: panels of MR rows at a_packed + k0 * panels_m * MR, kc x MR each */
  int64_t panels_m; /* ceil(M / MR) */
  int64_t tiles_n;  /* column tiles of NC per batch item */
  int64_t chunks_m; /* row chunks per column tile */
  int64_t panels_per_chunk;
  int64_t a_chunk; /* A packing: panels per task */
} tile_job;

/* One micro-tile for k block [k0, k0 + kc): a whole tile accumulates in C itself, an edge tile in acc
 * (copied in and out); after the last k block the epilogue runs over it. */
FR_CPU_HOT static void micro_tile(const tile_job *job, int64_t batch, int64_t i0, int64_t j0, int rows, int cols,
                                  int64_t k0, int64_t kc, const float *ap, const float *bp, float *acc)
{
  const fr_gemm *g = job->g;
  float *c = g->c + batch * g->c_batch_stride + i0 * g->ldc + j0;
  int whole = rows == FR_GEMM_MR && cols == FR_GEMM_NR, last = k0 + kc >= g->k;
  float *t = whole ? c : acc;
  int64_t ldt = whole ? g->ldc : FR_GEMM_NR;
  if (!whole && k0 > 0)
    for (int r = 0; r < rows; r++) memcpy(acc + r * FR_GEMM_NR, c + r * g->ldc, sizeof(float) * (size_t)cols);
  job->ukernel(kc, ap, bp, t, ldt, k0 > 0);
  if (!last) {
    if (!whole)
      for (int r = 0; r < rows; r++) memcpy(c + r * g->ldc, acc + r * FR_GEMM_NR, sizeof(float) * (size_t)cols);
    return;
  }
  /* epilogue: v = acc + bias; v = act(v); v = v + residual, one pass each (the same roundings per
   * element, in loops that vectorise) */
  if (!g->bias && g->act == FR_ACT_NONE && !g->residual) {
    if (!whole)
      for (int r = 0; r < rows; r++) memcpy(c + r * g->ldc, acc + r * FR_GEMM_NR, sizeof(float) * (size_t)cols);
    return;
  }
  const float *res = g->residual ? g->residual + batch * g->c_batch_stride + i0 * g->ldc + j0 : NULL;
  float bias[FR_GEMM_NR];
  if (g->bias && !g->bias_per_row)
    for (int j = 0; j < cols; j++) bias[j] = fr_load_f32(g->bias_dtype, g->bias, j0 + j);
  for (int r = 0; r < rows; r++) {
    float *v = t + r * ldt;
    if (g->bias && g->bias_per_row) {
      float br = fr_load_f32(g->bias_dtype, g->bias, i0 + r);
      for (int j = 0; j < cols; j++) v[j] = v[j] + br;
    } else if (g->bias) {
      for (int j = 0; j < cols; j++) v[j] = v[j] + bias[j];
    }
    if (g->act != FR_ACT_NONE)
      for (int j = 0; j < cols; j++) v[j] = fr_act_apply(g->act, v[j]);
    if (res) {
      const float *rrow = res + r * g->ldc;
      for (int j = 0; j < cols; j++) v[j] = v[j] + rrow[j];
    }
    if (!whole) memcpy(c + r * g->ldc, v, sizeof(float) * (size_t)cols);
  }
}

/* Packs A's panels [q0, q0 + a_chunk) of one k block. */
static void pack_a_task(void *ctx, int64_t task, int thread)
{
  const tile_job *job = (const tile_job *)ctx;
  const fr_gemm *g = job->g;
  int64_t chunks = (job->panels_m + job->a_chunk - 1) / job->a_chunk;
  int64_t k0 = task / chunks * job->kc, q0 = task % chunks * job->a_chunk;
  int64_t kc = g->k - k0 < job->kc ? g->k - k0 : job->kc;
  float *block = job->a_packed + k0 * job->panels_m * FR_GEMM_MR;
  for (int64_t q = q0; q < q0 + job->a_chunk && q < job->panels_m; q++)
    g->pack_a(g, 0, q * FR_GEMM_MR, k0, kc, block + q * kc * FR_GEMM_MR);
}

/* One task: a batch item's column tile (nc wide) against a chunk of A's row panels. Per k block the
 * tile's B panels are packed once and every row panel of the chunk runs against them. */
static void run_tile(void *ctx, int64_t task, int thread)
{
  const tile_job *job = (const tile_job *)ctx;
  const fr_gemm *g = job->g;
  int64_t per_batch = job->tiles_n * job->chunks_m;
  int64_t batch = task / per_batch, rem = task % per_batch;
  int64_t j0 = rem / job->chunks_m * job->nc, q0 = rem % job->chunks_m * job->panels_per_chunk;
  int64_t q1 = q0 + job->panels_per_chunk < job->panels_m ? q0 + job->panels_per_chunk : job->panels_m;
  int64_t nc = g->n - j0 < job->nc ? g->n - j0 : job->nc, panels_n = (nc + FR_GEMM_NR - 1) / FR_GEMM_NR;
  float *bp = (float *)fr_pool_scratch(job->pool, thread);
  float *acc = bp + (size_t)FR_GEMM_B_FLOATS;
  for (int64_t k0 = 0; k0 < g->k; k0 += job->kc) {
    int64_t kc = g->k - k0 < job->kc ? g->k - k0 : job->kc;
    const float *ap = job->a_packed + k0 * job->panels_m * FR_GEMM_MR;
    for (int64_t p = 0; p < panels_n; p++) g->pack_b(g, batch, j0 + p * FR_GEMM_NR, k0, kc, bp + p * kc * FR_GEMM_NR);
    for (int64_t q = q0; q < q1; q++) {
      int rows = (int)(g->m - q * FR_GEMM_MR < FR_GEMM_MR ? g->m - q * FR_GEMM_MR : FR_GEMM_MR);
      for (int64_t p = 0; p < panels_n; p++) {
        int cols = (int)(nc - p * FR_GEMM_NR < FR_GEMM_NR ? nc - p * FR_GEMM_NR : FR_GEMM_NR);
        micro_tile(job, batch, q * FR_GEMM_MR, j0 + p * FR_GEMM_NR, rows, cols, k0, kc, ap + q * kc * FR_GEMM_MR,
                   bp + p * kc * FR_GEMM_NR, acc);
      }
    }
  }
}

fr_status fr_gemm_run(fr_pool *pool, const fr_gemm *g)
{
  if (g->m == 0 || g->n == 0 || g->batch == 0) return FR_OK;
  tile_job job;
  memset(&job, 0, sizeof job);
  job.g = g, job.pool = pool, job.ukernel = fr_gemm_ukernel(), job.panels_m = (g->m + FR_GEMM_MR - 1) / FR_GEMM_MR;
  /* even k blocks of at most KC; tiles of at most NC columns whose packed B fits B_FLOATS, evened out */
  int64_t kblocks = g->k > 0 ? (g->k + FR_GEMM_KC - 1) / FR_GEMM_KC : 1, threads = fr_pool_threads(pool);
  job.kc = g->k > 0 ? (g->k + kblocks - 1) / kblocks : 1;
  int64_t nc_max = FR_GEMM_B_FLOATS / job.kc / FR_GEMM_NR * FR_GEMM_NR;
  if (nc_max > FR_GEMM_NC) nc_max = FR_GEMM_NC;
  job.tiles_n = (g->n + nc_max - 1) / nc_max;
  job.nc = ((g->n + job.tiles_n - 1) / job.tiles_n + FR_GEMM_NR - 1) / FR_GEMM_NR * FR_GEMM_NR;
  job.tiles_n = (g->n + job.nc - 1) / job.nc;
  void *shared;
  FR_TRY(fr_pool_shared(pool, sizeof(float) * (size_t)(job.panels_m * FR_GEMM_MR * g->k), &shared));
  job.a_packed = (float *)shared;
  job.a_chunk = 16;
  fr_pool_run(pool, kblocks * ((job.panels_m + job.a_chunk - 1) / job.a_chunk), pack_a_task, &job);
  /* enough tasks to keep every thread busy, but as few row chunks as that allows: each repacks B */
  int64_t tiles = g->batch * job.tiles_n, want = 4 * threads;
  job.chunks_m = tiles >= want ? 1 : (want + tiles - 1) / tiles;
  if (job.chunks_m > job.panels_m) job.chunks_m = job.panels_m;
  job.panels_per_chunk = (job.panels_m + job.chunks_m - 1) / job.chunks_m;
  job.chunks_m = (job.panels_m + job.panels_per_chunk - 1) / job.panels_per_chunk;
  fr_pool_run(pool, tiles * job.chunks_m, run_tile, &job);
  return FR_OK;
}
