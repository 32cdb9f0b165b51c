/* The GEMM driver: tiles C over threads, blocks k through packed panels, applies the epilogue.
 * The canonical order it implements is stated in gemm.h. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fractal/act.h"
#include "fractal/half.h"
#include "cpu.h"
#include "gemm.h"

static const fr_ukernels generic = {"generic", fr_ukernel_generic, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
#if defined(__x86_64__) || defined(_M_X64)
static const fr_ukernels avx2 = {"avx2+fma", fr_ukernel_avx2,    NULL, NULL, fr_ukernel_avx2_conv3, NULL,
                                 NULL,       fr_ukernel_avx2_ar, NULL, NULL};
static const fr_ukernels avx512 = {"avx512f",
                                   fr_ukernel_avx512,
                                   fr_ukernel_avx512_x2,
                                   fr_ukernel_avx512_2x2,
                                   fr_ukernel_avx512_conv3,
                                   fr_ukernel_avx512_conv3_x2,
                                   fr_ukernel_avx512_conv3_2x2,
                                   fr_ukernel_avx512_ar,
                                   fr_ukernel_avx512_ar_x2,
                                   fr_ukernel_avx512_ar_2x2};
#endif
static const fr_ukernels *forced;

/* The sets this CPU runs, widest first. */
static int supported(const fr_ukernels **out)
{
  int n = 0;
#if defined(__x86_64__) || defined(_M_X64)
  if (__builtin_cpu_supports("avx512f")) out[n++] = &avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) out[n++] = &avx2;
#endif
  out[n++] = &generic;
  return n;
}

const fr_ukernels *fr_gemm_ukernels(void)
{
  if (forced) return forced;
  const fr_ukernels *sets[3];
  supported(sets);
  return sets[0];
}

int fr_cpu_force_isa(const char *isa)
{
  const fr_ukernels *sets[3];
  int n = supported(sets);
  for (int i = 0; isa && i < n; i++)
    if (strcmp(sets[i]->isa, isa) == 0) return forced = sets[i], 1;
  if (isa) return 0;
  forced = NULL;
  return 1;
}

const char *fr_gemm_isa(void) { return fr_gemm_ukernels()->isa; }
const char *fr_cpu_microkernel_isa(void) { return fr_gemm_isa(); }

int fr_ukernel_span(const fr_ukernels *u, int64_t left) { return left >= 2 && u->two ? 2 : 1; }

void fr_ukernel_row(const fr_ukernels *u, int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                    int64_t tiles, int accumulate)
{
  for (int64_t p = 0; p < tiles;) {
    int span = fr_ukernel_span(u, tiles - p);
    (span == 2 ? u->two : u->one)(kc, a, b + p * kc * FR_GEMM_NR, c + p * FR_GEMM_NR, ldc, accumulate);
    p += span;
  }
}

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
  /* the driver's widest call: two row panels by two tiles where the set has it, else a row of two */
  const fr_ukernels *k = fr_gemm_ukernels();
  size_t kc = (size_t)u->kc, panels = k->tall ? 2 : 1, rows = panels * FR_GEMM_MR, cols = 2 * FR_GEMM_NR;
  float *a = (float *)calloc(kc * rows, sizeof(float)), *b = (float *)calloc(kc * cols, sizeof(float));
  float c[2 * FR_GEMM_MR * 2 * FR_GEMM_NR] = {0};
  if (!a || !b) return free(a), free(b), NULL;
  for (size_t i = 0; i < kc * rows; i++) a[i] = 1e-3f * (float)(i % 7);
  for (size_t i = 0; i < kc * cols; i++) b[i] = 1e-3f * (float)(i % 5);
  double t0 = mono_s(), best = 0;
  while (mono_s() - t0 < u->seconds) {
    double w0 = mono_s();
    for (int r = 0; r < 1024; r++)
      if (k->tall) k->tall((int64_t)kc, a, b, c, (int64_t)cols, 1);
      else fr_ukernel_row(k, (int64_t)kc, a, b, c, (int64_t)cols, 2, 1);
    double rate = 2.0 * (double)(rows * cols * kc) * 1024.0 / (mono_s() - w0) * 1e-9;
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

/* Rows widened CHUNK k at a time into run[r][k] (loops per dtype that vectorise), then written out k-major;
 * `width` is a constant in each caller below, so the interleaving loop unrolls. */
#define CHUNK 64
static inline __attribute__((always_inline)) void pack_rows_w(const void *src, fr_dtype dtype, int64_t ld,
                                                              int64_t rows_valid, int64_t row0, int64_t k0, int64_t kc,
                                                              const int width, float *dst)
{
  float run[FR_GEMM_NR][CHUNK];
  for (int64_t k1 = 0; k1 < kc; k1 += CHUNK) {
    int n = (int)(kc - k1 < CHUNK ? kc - k1 : CHUNK);
    for (int r = 0; r < width; r++) {
      int64_t row = row0 + r, base = row * ld + k0 + k1;
      float *out = run[r];
      if (row >= rows_valid) {
        for (int k = 0; k < n; k++) out[k] = 0.0f;
      } else if (dtype == FR_F32 && n == CHUNK) { /* constant size: inlined, not a call */
        memcpy(out, (const float *)src + base, sizeof(float) * CHUNK);
      } else if (dtype == FR_F32) {
        memcpy(out, (const float *)src + base, sizeof(float) * (size_t)n);
      } else if (dtype == FR_F16) {
        const uint16_t *in = (const uint16_t *)src + base;
        for (int k = 0; k < n; k++) out[k] = fr_f16_to_f32(in[k]);
      } else {
        const uint16_t *in = (const uint16_t *)src + base;
        for (int k = 0; k < n; k++) out[k] = fr_bf16_to_f32(in[k]);
      }
    }
    for (int k = 0; k < n; k++)
      for (int r = 0; r < width; r++) dst[(k1 + k) * width + r] = run[r][k];
  }
}

/* A plain wrapper around a static FR_CPU_HOT function: clang cannot link a call from another file to a
 * target_clones function. */
FR_CPU_HOT static void pack_rows(const void *src, fr_dtype dtype, int64_t ld, int64_t rows_valid, int64_t row0,
                                 int64_t k0, int64_t kc, int width, float *dst)
{
  if (width == FR_GEMM_MR) pack_rows_w(src, dtype, ld, rows_valid, row0, k0, kc, FR_GEMM_MR, dst);
  else pack_rows_w(src, dtype, ld, rows_valid, row0, k0, kc, FR_GEMM_NR, dst);
}

void fr_pack_rows(const void *src, fr_dtype dtype, int64_t ld, int64_t rows_valid, int64_t row0, int64_t k0, int64_t kc,
                  int width, float *dst)
{
  pack_rows(src, dtype, ld, rows_valid, row0, k0, kc, width, dst);
}

size_t fr_gemm_scratch_bytes(void)
{
  /* packed B, an edge tile's accumulators, an edge row panel of A read in place otherwise */
  return sizeof(float) * ((size_t)FR_GEMM_B_FLOATS + (size_t)FR_GEMM_MR * FR_GEMM_NR + (size_t)FR_GEMM_MR * FR_GEMM_KC);
}

/* Column tiles are multiples of two panels: the widest micro-kernel calls cover two. */
#define NC_STEP (2 * FR_GEMM_NR)

typedef struct tile_job {
  const fr_gemm *g;
  fr_pool *pool;
  const fr_ukernels *ukernels;
  int64_t kc, nc;   /* block sizes: k per block, columns per tile */
  float *a_packed;  /* k block k0: panels of MR rows at a_packed + k0 * panels_m * MR, kc x MR each */
  int64_t panels_m; /* ceil(M / MR) */
  int64_t tiles_n;  /* column tiles of NC per batch item */
  int64_t items;    /* batch items per task (one column tile covers a whole small item) */
  int64_t chunks_m; /* row chunks per column tile */
  int64_t panels_per_chunk;
  int64_t a_chunk;   /* A packing: panels per task */
  const float *bias; /* g->bias widened to float once (NULL: none) */
  int rows3;         /* B packed as 3x3 row buffers (g->pack_b3) for the conv3 kernels */
  int a_rows;        /* A read in place (g->a_rows) by the ar kernels, not packed */
} tile_job;

/* After the last k block: v = acc + bias; v = act(v); v = v + residual over one tile t (ldt), one pass
 * each (the same roundings per element, in loops that vectorise); an edge tile is then copied to C. */
FR_CPU_HOT static void epilogue(const tile_job *job, int64_t batch, int64_t i0, int64_t j0, int rows, int cols,
                                float *t, int64_t ldt, int whole)
{
  const fr_gemm *g = job->g;
  float *c = g->c + batch * g->c_batch_stride + i0 * g->ldc + j0;
  if (!job->bias && g->act == FR_ACT_NONE && !g->residual) {
    if (!whole)
      for (int r = 0; r < rows; r++) memcpy(c + r * g->ldc, t + r * ldt, sizeof(float) * (size_t)cols);
    return;
  }
  const float *res = g->residual ? g->residual + batch * g->c_batch_stride + i0 * g->ldc + j0 : NULL;
  for (int r = 0; r < rows; r++) {
    float *v = t + r * ldt;
    if (job->bias && g->bias_per_row) {
      float br = job->bias[i0 + r];
      for (int j = 0; j < cols; j++) v[j] = v[j] + br;
    } else if (job->bias) {
      const float *bias = job->bias + j0;
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

/* `panels` row panels (1, or 2 with span 2: the tall kernel) by `span` micro-tiles side by side for k
 * block [k0, k0 + kc) (more than one: whole tiles only): whole tiles accumulate in C itself, an edge tile
 * in acc (copied in and out); after the last k block the epilogue runs over each. A is a packed panel
 * (lda 0) or rows read in place (lda: their leading dimension). */
FR_CPU_HOT static void micro_tiles(const tile_job *job, int64_t batch, int64_t i0, int64_t j0, int rows, int cols,
                                   int panels, int span, int64_t k0, int64_t kc, const float *ap, int64_t lda,
                                   const float *bp, float *acc)
{
  const fr_gemm *g = job->g;
  float *c = g->c + batch * g->c_batch_stride + i0 * g->ldc + j0;
  int whole = rows == FR_GEMM_MR && cols == FR_GEMM_NR, last = k0 + kc >= g->k;
  float *t = whole ? c : acc;
  int64_t ldt = whole ? g->ldc : FR_GEMM_NR;
  if (!whole && k0 > 0)
    for (int r = 0; r < rows; r++) memcpy(acc + r * FR_GEMM_NR, c + r * g->ldc, sizeof(float) * (size_t)cols);
  /* Lines fetched while the kernel runs: in the first k block C's for writing (the kernel's stores come
   * last), after it the next tile's to the right (the next call loads it first), in the last the
   * residual's (the epilogue reads it). */
  if (whole) {
    const float *res = last && g->residual ? g->residual + (c - g->c) : NULL;
    for (int r = 0; r < panels * FR_GEMM_MR; r++)
      for (int s = 0; s < span; s++) {
        int64_t at = r * g->ldc + s * FR_GEMM_NR;
        if (k0 == 0) __builtin_prefetch(c + at, 1);
        else __builtin_prefetch(c + at + span * FR_GEMM_NR, 1);
        if (res) __builtin_prefetch(res + at, 0);
      }
  }
  const fr_ukernels *u = job->ukernels;
  if (lda) (panels == 2 ? u->ar_tall : span == 2 ? u->ar_two : u->ar_one)(kc, ap, lda, bp, t, ldt, k0 > 0);
  else if (job->rows3)
    (panels == 2 ? u->conv3_tall : span == 2 ? u->conv3_two : u->conv3_one)(kc, ap, bp, t, ldt, k0 > 0);
  else (panels == 2 ? u->tall : span == 2 ? u->two : u->one)(kc, ap, bp, t, ldt, k0 > 0);
  if (last)
    for (int h = 0; h < panels; h++)
      for (int s = 0; s < span; s++)
        epilogue(job, batch, i0 + h * FR_GEMM_MR, j0 + s * FR_GEMM_NR, rows, cols,
                 t + h * FR_GEMM_MR * ldt + s * FR_GEMM_NR, ldt, whole);
  else if (!whole)
    for (int r = 0; r < rows; r++) memcpy(c + r * g->ldc, acc + r * FR_GEMM_NR, sizeof(float) * (size_t)cols);
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

/* One task: a column tile (nc wide) of `items` consecutive batch items against a chunk of A's row panels.
 * Per k block the items' B panels are packed once and every row panel of the chunk runs against them
 * (several items per task: small images read the packed A once for all of them). */
static void run_tile(void *ctx, int64_t task, int thread)
{
  const tile_job *job = (const tile_job *)ctx;
  const fr_gemm *g = job->g;
  int64_t per_group = job->tiles_n * job->chunks_m;
  int64_t b0 = task / per_group * job->items, rem = task % per_group;
  int64_t items = g->batch - b0 < job->items ? g->batch - b0 : job->items;
  int64_t j0 = rem / job->chunks_m * job->nc, q0 = rem % job->chunks_m * job->panels_per_chunk;
  int64_t q1 = q0 + job->panels_per_chunk < job->panels_m ? q0 + job->panels_per_chunk : job->panels_m;
  int64_t nc = g->n - j0 < job->nc ? g->n - j0 : job->nc, panels_n = (nc + FR_GEMM_NR - 1) / FR_GEMM_NR;
  int64_t whole_n = nc / FR_GEMM_NR; /* panels with NR columns */
  float *bp = (float *)fr_pool_scratch(job->pool, thread);
  float *acc = bp + (size_t)FR_GEMM_B_FLOATS, *a_edge = acc + FR_GEMM_MR * FR_GEMM_NR;
  for (int64_t k0 = 0; k0 < g->k; k0 += job->kc) {
    int64_t kc = g->k - k0 < job->kc ? g->k - k0 : job->kc;
    const float *ap = job->a_packed + k0 * job->panels_m * FR_GEMM_MR;
    int64_t ps = kc * (job->rows3 ? FR_GEMM_MR : FR_GEMM_NR); /* floats per B panel */
    for (int64_t b = 0; b < items; b++)
      for (int64_t p = 0; p < panels_n; p++)
        (job->rows3 ? g->pack_b3 : g->pack_b)(g, b0 + b, j0 + p * FR_GEMM_NR, k0, kc, bp + (b * panels_n + p) * ps);
    for (int64_t q = q0; q < q1;) {
      int rows = (int)(g->m - q * FR_GEMM_MR < FR_GEMM_MR ? g->m - q * FR_GEMM_MR : FR_GEMM_MR);
      /* two whole row panels go through the tall kernel together where the set has one */
      int pair = job->ukernels->tall && q + 1 < q1 && (q + 2) * FR_GEMM_MR <= g->m;
      /* A in place (whole panels), or packed: in the shared buffer, or here for a panel past row M */
      int64_t lda = job->a_rows && rows == FR_GEMM_MR ? g->lda : 0;
      const float *aq = lda ? g->a_rows + q * FR_GEMM_MR * lda + k0 : ap + q * kc * FR_GEMM_MR;
      if (job->a_rows && !lda) g->pack_a(g, 0, q * FR_GEMM_MR, k0, kc, a_edge), aq = a_edge;
      int64_t next = lda ? FR_GEMM_MR * lda : kc * FR_GEMM_MR; /* to the next row panel */
      for (int64_t b = 0; b < items; b++)
        for (int64_t p = 0; p < panels_n;) {
          int cols = (int)(nc - p * FR_GEMM_NR < FR_GEMM_NR ? nc - p * FR_GEMM_NR : FR_GEMM_NR);
          int span = rows == FR_GEMM_MR && p < whole_n ? fr_ukernel_span(job->ukernels, whole_n - p) : 1;
          const float *bq = bp + (b * panels_n + p) * ps;
          if (pair && span == 2)
            micro_tiles(job, b0 + b, q * FR_GEMM_MR, j0 + p * FR_GEMM_NR, rows, cols, 2, 2, k0, kc, aq, lda, bq, acc);
          else
            for (int h = 0; h <= pair; h++)
              micro_tiles(job, b0 + b, (q + h) * FR_GEMM_MR, j0 + p * FR_GEMM_NR, rows, cols, 1, span, k0, kc,
                          aq + h * next, lda, bq, acc);
          p += span;
        }
      q += pair ? 2 : 1;
    }
  }
}

fr_status fr_gemm_run(fr_pool *pool, const fr_gemm *g)
{
  if (g->m == 0 || g->n == 0 || g->batch == 0) return FR_OK;
  tile_job job;
  memset(&job, 0, sizeof job);
  job.g = g, job.pool = pool, job.ukernels = fr_gemm_ukernels(), job.panels_m = (g->m + FR_GEMM_MR - 1) / FR_GEMM_MR;
  /* even k blocks of at most KC; tiles of at most NC columns whose packed B fits B_FLOATS, evened out */
  int64_t kblocks = g->k > 0 ? (g->k + FR_GEMM_KC - 1) / FR_GEMM_KC : 1, threads = fr_pool_threads(pool);
  job.kc = g->k > 0 ? (g->k + kblocks - 1) / kblocks : 1;
  job.rows3 = g->pack_b3 && job.ukernels->conv3_one;
  job.a_rows = g->a_rows && job.ukernels->ar_one;
  if (job.rows3) { /* whole channels (the last block may be smaller) */
    job.kc = (job.kc + 8) / 9 * 9;
    kblocks = (g->k + job.kc - 1) / job.kc;
  }
  int64_t nc_max = FR_GEMM_B_FLOATS / job.kc / NC_STEP * NC_STEP;
  if (nc_max > FR_GEMM_NC) nc_max = FR_GEMM_NC;
  job.tiles_n = (g->n + nc_max - 1) / nc_max;
  job.nc = ((g->n + job.tiles_n - 1) / job.tiles_n + NC_STEP - 1) / NC_STEP * NC_STEP;
  job.tiles_n = (g->n + job.nc - 1) / job.nc;
  /* the shared buffer: packed A, then the bias widened to float */
  void *shared;
  int64_t a_floats = job.a_rows ? 0 : job.panels_m * FR_GEMM_MR * g->k, bias_n = !g->bias          ? 0
                                                                                 : g->bias_per_row ? g->m
                                                                                                   : g->n;
  FR_TRY(fr_pool_shared(pool, sizeof(float) * (size_t)(a_floats + bias_n), &shared));
  job.a_packed = (float *)shared;
  if (g->bias) {
    fr_widen_f32(g->bias_dtype, g->bias, job.a_packed + a_floats, bias_n);
    job.bias = job.a_packed + a_floats;
  }
  job.a_chunk = 16;
  if (!job.a_rows) fr_pool_run(pool, kblocks * ((job.panels_m + job.a_chunk - 1) / job.a_chunk), pack_a_task, &job);
  /* items whose columns fit one tile share tasks, as many as the tile's packed B holds while every
   * thread still gets a task */
  job.items = 1;
  if (job.tiles_n == 1) {
    job.items = nc_max / job.nc < g->batch ? nc_max / job.nc : g->batch;
    while (job.items > 1 && (g->batch + job.items - 1) / job.items < threads) job.items--;
    if (job.items < 1) job.items = 1;
  }
  /* enough tasks to keep every thread busy, but as few row chunks as that allows: each repacks B */
  int64_t tiles = (g->batch + job.items - 1) / job.items * job.tiles_n, want = 4 * threads;
  job.chunks_m = tiles >= want ? 1 : (want + tiles - 1) / tiles;
  if (job.chunks_m > job.panels_m) job.chunks_m = job.panels_m;
  job.panels_per_chunk = (job.panels_m + job.chunks_m - 1) / job.chunks_m;
  job.chunks_m = (job.panels_m + job.panels_per_chunk - 1) / job.panels_per_chunk;
  fr_pool_run(pool, tiles * job.chunks_m, run_tile, &job);
  return FR_OK;
}
