/* The GEMM driver: tiles C over threads, blocks k through packed panels, applies the epilogue.
 * The canonical order it implements is stated in gemm.h. */
#include <string.h>

#include "fractal/act.h"
#include "cpu.h"
#include "gemm.h"

static int force_generic;

void fr_gemm_force_generic(int on) { force_generic = on; }

static fr_ukernel_fn pick_ukernel(void)
{
#if defined(__x86_64__) || defined(_M_X64)
  if (!force_generic && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return fr_ukernel_avx2;
#endif
  return fr_ukernel_generic;
}

const char *fr_gemm_isa(void) { return pick_ukernel() == fr_ukernel_generic ? "generic" : "avx2+fma"; }

void fr_pack_rows(const void *src, fr_dtype dtype, int64_t ld, int64_t rows_valid, int64_t row0, int64_t k0,
                  int64_t kc, int width, float *dst)
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
    } else {
      for (int64_t k = 0; k < kc; k++) dst[k * width + r] = fr_load_f32(dtype, src, base + k);
    }
  }
}

size_t fr_gemm_scratch_bytes(void)
{
  return sizeof(float) * ((size_t)FR_GEMM_MC * FR_GEMM_KC + (size_t)FR_GEMM_KC * FR_GEMM_NC +
                          (size_t)FR_GEMM_MR * FR_GEMM_NR);
}

typedef struct tile_job {
  const fr_gemm *g;
  fr_pool *pool;
  fr_ukernel_fn ukernel;
  int64_t tiles_m, tiles_n;
} tile_job;

/* One micro-tile: bring the accumulators in (zero at k0 == 0), run the kernel, store them back,
 * applying the epilogue after the last k block. */
FR_CPU_HOT static void micro_tile(const tile_job *job, int64_t batch, int64_t i0, int64_t j0, int rows, int cols,
                                  int64_t k0, int64_t kc, const float *ap, const float *bp, float *acc)
{
  const fr_gemm *g = job->g;
  float *c = g->c + batch * g->c_batch_stride;
  if (k0 == 0) {
    memset(acc, 0, sizeof(float) * FR_GEMM_MR * FR_GEMM_NR);
  } else {
    for (int r = 0; r < rows; r++) memcpy(acc + r * FR_GEMM_NR, c + (i0 + r) * g->ldc + j0, sizeof(float) * cols);
  }
  job->ukernel(kc, ap, bp, acc);
  if (k0 + kc < g->k) {
    for (int r = 0; r < rows; r++) memcpy(c + (i0 + r) * g->ldc + j0, acc + r * FR_GEMM_NR, sizeof(float) * cols);
    return;
  }
  /* epilogue: v = acc + bias; v = act(v); v = v + residual */
  const float *res = g->residual ? g->residual + batch * g->c_batch_stride : NULL;
  float bias[FR_GEMM_MR > FR_GEMM_NR ? FR_GEMM_MR : FR_GEMM_NR];
  int nb = g->bias_per_row ? rows : cols;
  for (int t = 0; g->bias && t < nb; t++)
    bias[t] = fr_load_f32(g->bias_dtype, g->bias, g->bias_per_row ? i0 + t : j0 + t);
  for (int r = 0; r < rows; r++) {
    float *crow = c + (i0 + r) * g->ldc + j0, *a = acc + r * FR_GEMM_NR;
    const float *rrow = res ? res + (i0 + r) * g->ldc + j0 : NULL;
    for (int j = 0; j < cols; j++) {
      float v = a[j];
      if (g->bias) v = v + bias[g->bias_per_row ? r : j];
      if (g->act != FR_ACT_NONE) v = fr_act_apply(g->act, v);
      if (rrow) v = v + rrow[j];
      crow[j] = v;
    }
  }
}

static void run_tile(void *ctx, int64_t task, int thread)
{
  const tile_job *job = (const tile_job *)ctx;
  const fr_gemm *g = job->g;
  int64_t per_batch = job->tiles_m * job->tiles_n;
  int64_t batch = task / per_batch, rem = task % per_batch;
  int64_t i0 = (rem / job->tiles_n) * FR_GEMM_MC, j0 = (rem % job->tiles_n) * FR_GEMM_NC;
  int64_t mc = g->m - i0 < FR_GEMM_MC ? g->m - i0 : FR_GEMM_MC;
  int64_t nc = g->n - j0 < FR_GEMM_NC ? g->n - j0 : FR_GEMM_NC;
  float *ap = (float *)fr_pool_scratch(job->pool, thread);
  float *bp = ap + (size_t)FR_GEMM_MC * FR_GEMM_KC;
  float *acc = bp + (size_t)FR_GEMM_KC * FR_GEMM_NC;
  int64_t panels_m = (mc + FR_GEMM_MR - 1) / FR_GEMM_MR, panels_n = (nc + FR_GEMM_NR - 1) / FR_GEMM_NR;

  for (int64_t k0 = 0; k0 < g->k; k0 += FR_GEMM_KC) {
    int64_t kc = g->k - k0 < FR_GEMM_KC ? g->k - k0 : FR_GEMM_KC;
    for (int64_t p = 0; p < panels_n; p++) g->pack_b(g, batch, j0 + p * FR_GEMM_NR, k0, kc, bp + p * kc * FR_GEMM_NR);
    for (int64_t q = 0; q < panels_m; q++) g->pack_a(g, batch, i0 + q * FR_GEMM_MR, k0, kc, ap + q * kc * FR_GEMM_MR);
    for (int64_t p = 0; p < panels_n; p++) {
      int cols = (int)(nc - p * FR_GEMM_NR < FR_GEMM_NR ? nc - p * FR_GEMM_NR : FR_GEMM_NR);
      for (int64_t q = 0; q < panels_m; q++) {
        int rows = (int)(mc - q * FR_GEMM_MR < FR_GEMM_MR ? mc - q * FR_GEMM_MR : FR_GEMM_MR);
        micro_tile(job, batch, i0 + q * FR_GEMM_MR, j0 + p * FR_GEMM_NR, rows, cols, k0, kc,
                   ap + q * kc * FR_GEMM_MR, bp + p * kc * FR_GEMM_NR, acc);
      }
    }
  }
}

void fr_gemm_run(fr_pool *pool, const fr_gemm *g)
{
  if (g->m == 0 || g->n == 0 || g->batch == 0) return;
  tile_job job = {g, pool, pick_ukernel(), (g->m + FR_GEMM_MC - 1) / FR_GEMM_MC, (g->n + FR_GEMM_NC - 1) / FR_GEMM_NC};
  fr_pool_run(pool, g->batch * job.tiles_m * job.tiles_n, run_tile, &job);
}
