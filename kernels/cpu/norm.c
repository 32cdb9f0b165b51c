/* GroupNorm, LayerNorm and softmax on the CPU, with the canonical sum (cpu.h) as their only reduction.
 *
 * Statistics (both norms): mean = S / n with S the canonical sum of the values; var = Q / n with Q the
 * canonical sum of (x - mean)^2 (two passes, biased variance); rstd = 1 / sqrt(var + eps), one sqrt and
 * one division. Output y = fmaf((x - mean) * rstd, gamma, beta) (y = t * gamma or t + beta when only one
 * is given), then SiLU if asked.
 * GroupNorm over a run of F frames (the cross-frame 5-D case): S is the sum over frames, in frame
 * order starting from +0.0f, of each frame's canonical sum over its group block (C/G channels x H x W,
 * contiguous); Q likewise. F = 1 is the per-frame GroupNorm. This lets frame-sharded ranks combine
 * per-frame partial sums in frame order and get the same bits.
 * Softmax: m = max (exact), p = exp(x - m), l = canonical sum of p, y = p / l. */
#include <math.h>

#include "cpu.h"
#include "fractal/dmath.h"

static int64_t sum_width(int64_t n)
{
  int64_t w = 1;
  while (w < n && w < FR_SUM_LANES) w *= 2;
  return w;
}

static float tree(float *p, int64_t width)
{
  for (int64_t s = width / 2; s >= 1; s /= 2)
    for (int64_t t = 0; t < s; t++) p[t] = p[t] + p[t + s];
  return p[0];
}

FR_CPU_HOT float fr_canonical_sum(const float *x, int64_t n)
{
  float p[FR_SUM_LANES];
  int64_t width = sum_width(n);
  for (int64_t t = 0; t < width; t++) p[t] = 0.0f;
  int64_t i = 0;
  for (; i + FR_SUM_LANES <= n; i += FR_SUM_LANES)
    for (int64_t t = 0; t < FR_SUM_LANES; t++) p[t] = p[t] + x[i + t];
  for (int64_t t = 0; i + t < n; t++) p[t] = p[t] + x[i + t];
  return tree(p, width);
}

FR_CPU_HOT float fr_canonical_sqdev(const float *x, int64_t n, float mean)
{
  float p[FR_SUM_LANES];
  int64_t width = sum_width(n);
  for (int64_t t = 0; t < width; t++) p[t] = 0.0f;
  int64_t i = 0;
  for (; i + FR_SUM_LANES <= n; i += FR_SUM_LANES)
    for (int64_t t = 0; t < FR_SUM_LANES; t++) {
      float dev = x[i + t] - mean;
      p[t] = p[t] + dev * dev;
    }
  for (int64_t t = 0; i + t < n; t++) {
    float dev = x[i + t] - mean;
    p[t] = p[t] + dev * dev;
  }
  return tree(p, width);
}

typedef struct norm_job {
  const fr_norm_dims *d;
  const float *x;
  float *y;
  const fr_tensor *gamma, *beta;
  float eps;
  fr_act act;
  fr_pool *pool; /* layer norm: scratch for the widened gamma and beta */
} norm_job;

/* The element formula; called with constant flags, so that each use is a branch-free loop the
 * compiler vectorises (SiLU included: the dmath functions are lane-wise the same operations). */
static inline __attribute__((always_inline)) void normalize_run(const float *x, float *y, int64_t n, float mean,
                                                                float rstd, float g, float b, int has_g, int has_b,
                                                                int silu)
{
  for (int64_t i = 0; i < n; i++) {
    float t = (x[i] - mean) * rstd;
    float v = has_g && has_b ? fmaf(t, g, b) : has_g ? t * g : has_b ? t + b : t;
    y[i] = silu ? fr_dsilu(v) : v;
  }
}

/* Normalises n values whose channel is c (one channel's run inside a block). */
FR_CPU_HOT static void normalize(const norm_job *job, const float *x, float *y, int64_t n, int64_t c, float mean,
                                 float rstd)
{
  const float g = job->gamma ? fr_load_f32(job->gamma->dtype, job->gamma->data, c) : 1.0f;
  const float b = job->beta ? fr_load_f32(job->beta->dtype, job->beta->data, c) : 0.0f;
  const int has_g = job->gamma != NULL, has_b = job->beta != NULL;
  if (job->act == FR_ACT_SILU) {
    if (has_g && has_b) normalize_run(x, y, n, mean, rstd, g, b, 1, 1, 1);
    else if (has_g) normalize_run(x, y, n, mean, rstd, g, b, 1, 0, 1);
    else if (has_b) normalize_run(x, y, n, mean, rstd, g, b, 0, 1, 1);
    else normalize_run(x, y, n, mean, rstd, g, b, 0, 0, 1);
  } else {
    if (has_g && has_b) normalize_run(x, y, n, mean, rstd, g, b, 1, 1, 0);
    else if (has_g) normalize_run(x, y, n, mean, rstd, g, b, 1, 0, 0);
    else if (has_b) normalize_run(x, y, n, mean, rstd, g, b, 0, 1, 0);
    else normalize_run(x, y, n, mean, rstd, g, b, 0, 0, 0);
  }
}

FR_CPU_HOT static void group_norm_task(void *ctx, int64_t task, int thread)
{
  const norm_job *job = (const norm_job *)ctx;
  const fr_norm_dims *d = job->d;
  int64_t run = task / d->groups, g = task % d->groups;
  int64_t cpg = d->channels / d->groups, block = cpg * d->inner;
  int64_t first = run * d->frames * d->channels * d->inner + g * block; /* frame 0 of the run */
  int64_t frame_stride = d->channels * d->inner;
  float s = 0.0f, q = 0.0f;
  for (int64_t f = 0; f < d->frames; f++) s = s + fr_canonical_sum(job->x + first + f * frame_stride, block);
  float count = (float)(d->frames * block);
  float mean = s / count;
  for (int64_t f = 0; f < d->frames; f++) q = q + fr_canonical_sqdev(job->x + first + f * frame_stride, block, mean);
  float rstd = fr_drsqrt(q / count + job->eps);
  for (int64_t f = 0; f < d->frames; f++)
    for (int64_t c = 0; c < cpg; c++) {
      int64_t off = first + f * frame_stride + c * d->inner;
      normalize(job, job->x + off, job->y + off, d->inner, g * cpg + c, mean, rstd);
    }
}

fr_status fr_cpu_group_norm(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                            const fr_tensor *beta, float eps, fr_act act, fr_tensor *y)
{
  norm_job job = {d, (const float *)x->data, (float *)y->data, gamma, beta, eps, act, NULL};
  fr_pool_run(cpu_pool(be), d->samples / d->frames * d->groups, group_norm_task, &job);
  return FR_OK;
}

/* The GroupNorm pieces (backend.h): one task per (sample, group). */
typedef struct piece_job {
  const fr_norm_dims *d;
  const float *x, *mean, *rstd;
  float *out;
  const fr_tensor *gamma, *beta;
  fr_act act;
} piece_job;

FR_CPU_HOT static void partials_task(void *ctx, int64_t task, int thread)
{
  const piece_job *job = (const piece_job *)ctx;
  const fr_norm_dims *d = job->d;
  int64_t n = task / d->groups, g = task % d->groups, block = d->channels / d->groups * d->inner;
  const float *x = job->x + n * d->channels * d->inner + g * block;
  job->out[task] = job->mean ? fr_canonical_sqdev(x, block, job->mean[task]) : fr_canonical_sum(x, block);
}

fr_status fr_cpu_group_norm_partials(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *mean,
                                     fr_tensor *out)
{
  piece_job job = {
      d,          (const float *)x->data, mean ? (const float *)mean->data : NULL, NULL, (float *)out->data, NULL, NULL,
      FR_ACT_NONE};
  fr_pool_run(cpu_pool(be), d->samples * d->groups, partials_task, &job);
  return FR_OK;
}

FR_CPU_HOT static void apply_task(void *ctx, int64_t task, int thread)
{
  const piece_job *job = (const piece_job *)ctx;
  const fr_norm_dims *d = job->d;
  int64_t n = task / d->groups, g = task % d->groups, cpg = d->channels / d->groups;
  norm_job nj = {d, NULL, NULL, job->gamma, job->beta, 0.0f, job->act, NULL};
  for (int64_t c = 0; c < cpg; c++) {
    int64_t off = n * d->channels * d->inner + (g * cpg + c) * d->inner;
    normalize(&nj, job->x + off, job->out + off, d->inner, g * cpg + c, job->mean[task], job->rstd[task]);
  }
}

fr_status fr_cpu_group_norm_apply(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                                  const fr_tensor *beta, const fr_tensor *mean, const fr_tensor *rstd, fr_act act,
                                  fr_tensor *y)
{
  piece_job job = {
      d,  (const float *)x->data, (const float *)mean->data, (const float *)rstd->data, (float *)y->data, gamma, beta,
      act};
  fr_pool_run(cpu_pool(be), d->samples * d->groups, apply_task, &job);
  return FR_OK;
}

/* Rows are handed out in chunks so small rows do not cost one task each. */
#define ROWS_PER_TASK 16

FR_CPU_HOT static void layer_norm_task(void *ctx, int64_t task, int thread)
{
  const norm_job *job = (const norm_job *)ctx;
  int64_t dim = job->d->channels;
  /* gamma and beta widened once per task into this thread's scratch: the row loop then vectorises */
  float *g = (float *)fr_pool_scratch(job->pool, thread), *b = g + dim;
  if (job->gamma) fr_widen_f32(job->gamma->dtype, job->gamma->data, g, dim);
  if (job->beta) fr_widen_f32(job->beta->dtype, job->beta->data, b, dim);
  for (int64_t r = task * ROWS_PER_TASK; r < (task + 1) * ROWS_PER_TASK && r < job->d->samples; r++) {
    const float *x = job->x + r * dim;
    float *y = job->y + r * dim;
    float mean = fr_canonical_sum(x, dim) / (float)dim;
    float rstd = fr_drsqrt(fr_canonical_sqdev(x, dim, mean) / (float)dim + job->eps);
    if (job->gamma && job->beta)
      for (int64_t i = 0; i < dim; i++) y[i] = fmaf((x[i] - mean) * rstd, g[i], b[i]);
    else if (job->gamma)
      for (int64_t i = 0; i < dim; i++) y[i] = (x[i] - mean) * rstd * g[i];
    else if (job->beta)
      for (int64_t i = 0; i < dim; i++) y[i] = (x[i] - mean) * rstd + b[i];
    else
      for (int64_t i = 0; i < dim; i++) y[i] = (x[i] - mean) * rstd;
  }
}

fr_status fr_cpu_layer_norm(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                            const fr_tensor *beta, float eps, fr_tensor *y)
{
  norm_job job = {d, (const float *)x->data, (float *)y->data, gamma, beta, eps, FR_ACT_NONE, cpu_pool(be)};
  FR_TRY(fr_pool_reserve(cpu_pool(be), sizeof(float) * 2 * (size_t)d->channels));
  fr_pool_run(cpu_pool(be), (d->samples + ROWS_PER_TASK - 1) / ROWS_PER_TASK, layer_norm_task, &job);
  return FR_OK;
}

typedef struct softmax_job {
  int64_t rows, cols;
  const float *x;
  float *y;
} softmax_job;

FR_CPU_HOT static void softmax_task(void *ctx, int64_t task, int thread)
{
  const softmax_job *job = (const softmax_job *)ctx;
  for (int64_t r = task * ROWS_PER_TASK; r < (task + 1) * ROWS_PER_TASK && r < job->rows; r++) {
    const float *x = job->x + r * job->cols;
    float *y = job->y + r * job->cols;
    float m = -INFINITY;
    for (int64_t j = 0; j < job->cols; j++)
      if (x[j] > m) m = x[j];
    for (int64_t j = 0; j < job->cols; j++) y[j] = fr_dexp(x[j] - m);
    float l = fr_canonical_sum(y, job->cols);
    for (int64_t j = 0; j < job->cols; j++) y[j] = y[j] / l;
  }
}

fr_status fr_cpu_softmax(fr_backend *be, int64_t rows, int64_t cols, const fr_tensor *x, fr_tensor *y)
{
  softmax_job job = {rows, cols, (const float *)x->data, (float *)y->data};
  fr_pool_run(cpu_pool(be), (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK, softmax_task, &job);
  return FR_OK;
}
