/* Elementwise ops and data movement on the CPU: activations, GEGLU, add, scale, guidance, noise,
 * upsample, concat, permute, embedding gather. No reductions: each output is a fixed expression of
 * its inputs, one rounding per written operation. */
#include <string.h>

#include "cpu.h"
#include "fractal/act.h"
#include "fractal/elementwise.h"
#include "fractal/philox.h"
#include "fractal/sched_math.h"

#define CHUNK 16384 /* elements per task */

typedef struct ew_job {
  int64_t n;
  const float *a, *c;
  const void *b;
  fr_dtype bdtype;
  float *y;
  float s;
  int64_t b_div, b_mod, inner;
  fr_act act;
  uint64_t seed, stream;
} ew_job;

/* The end of the chunk of n elements that starts at lo. */
static int64_t chunk_end(int64_t lo, int64_t n) { return lo + CHUNK < n ? lo + CHUNK : n; }

static int64_t chunks(int64_t n) { return (n + CHUNK - 1) / CHUNK; }

/* Loops whose choices are constants at each use (the function is always inlined), so that each is a
 * branch-free loop the compiler vectorises; the dmath functions are lane-wise the same operations. */
static inline __attribute__((always_inline)) void activate_run(fr_act act, const float *x, float *y, int64_t n)
{
  for (int64_t i = 0; i < n; i++) y[i] = fr_act_apply(act, x[i]);
}

FR_CPU_HOT static void activate_task(void *ctx, int64_t task, int thread)
{
  const ew_job *job = (const ew_job *)ctx;
  int64_t lo = (int64_t)task * CHUNK, hi = chunk_end(lo, job->n);
  const float *x = job->a + lo;
  float *y = job->y + lo;
  switch (job->act) {
  case FR_ACT_SILU: activate_run(FR_ACT_SILU, x, y, hi - lo); break;
  case FR_ACT_GELU: activate_run(FR_ACT_GELU, x, y, hi - lo); break;
  case FR_ACT_QUICK_GELU: activate_run(FR_ACT_QUICK_GELU, x, y, hi - lo); break;
  default: activate_run(FR_ACT_NONE, x, y, hi - lo); break;
  }
}

fr_status fr_cpu_activate(fr_backend *be, fr_act act, const fr_tensor *x, fr_tensor *y)
{
  ew_job job = {.n = fr_tensor_numel(x), .a = (const float *)x->data, .y = (float *)y->data, .act = act};
  fr_pool_run(cpu_pool(be), chunks(job.n), activate_task, &job);
  return FR_OK;
}

/* y[r][i] = h[r][i] * gelu(h[r][n + i]): the first half is the value, the second the gate.
 * A task is a block of rows. */
FR_CPU_HOT static void geglu_task(void *ctx, int64_t task, int thread)
{
  const ew_job *job = (const ew_job *)ctx;
  int64_t n = job->inner, rows_per = CHUNK / n > 0 ? CHUNK / n : 1, rows = job->n / n;
  for (int64_t r = task * rows_per; r < (task + 1) * rows_per && r < rows; r++) {
    const float *restrict a = job->a + r * 2 * n, *restrict g = a + n;
    float *restrict y = job->y + r * n;
    for (int64_t c = 0; c < n; c++) y[c] = a[c] * fr_dgelu(g[c]);
  }
}

fr_status fr_cpu_geglu(fr_backend *be, int64_t rows, int64_t n, const fr_tensor *h, fr_tensor *y)
{
  ew_job job = {.n = rows * n, .a = (const float *)h->data, .y = (float *)y->data, .inner = n};
  int64_t rows_per = CHUNK / n > 0 ? CHUNK / n : 1;
  fr_pool_run(cpu_pool(be), (rows + rows_per - 1) / rows_per, geglu_task, &job);
  return FR_OK;
}

FR_CPU_HOT static void add_task(void *ctx, int64_t task, int thread)
{
  const ew_job *job = (const ew_job *)ctx;
  int64_t lo = (int64_t)task * CHUNK, hi = chunk_end(lo, job->n);
  const float *a = job->a;
  float *y = job->y;
  if (job->bdtype == FR_F32 && job->b_div == 1 && job->b_mod >= hi - lo) { /* b repeats over rows of a */
    const float *b = (const float *)job->b;
    for (int64_t i = lo; i < hi;) { /* runs of b, each one vector loop */
      int64_t j = i % job->b_mod, run = job->b_mod - j < hi - i ? job->b_mod - j : hi - i;
      for (int64_t t = 0; t < run; t++) y[i + t] = a[i + t] + b[j + t];
      i += run;
    }
    return;
  }
  for (int64_t i = lo; i < hi; i++) y[i] = a[i] + fr_load_f32(job->bdtype, job->b, (i / job->b_div) % job->b_mod);
}

fr_status fr_cpu_add(fr_backend *be, int64_t b_div, int64_t b_mod, const fr_tensor *a, const fr_tensor *b, fr_tensor *y)
{
  ew_job job = {.n = fr_tensor_numel(a),
                .a = (const float *)a->data,
                .b = b->data,
                .bdtype = b->dtype,
                .y = (float *)y->data,
                .b_div = b_div,
                .b_mod = b_mod};
  fr_pool_run(cpu_pool(be), chunks(job.n), add_task, &job);
  return FR_OK;
}

static void scale_task(void *ctx, int64_t task, int thread)
{
  const ew_job *job = (const ew_job *)ctx;
  int64_t lo = (int64_t)task * CHUNK, hi = chunk_end(lo, job->n);
  for (int64_t i = lo; i < hi; i++) job->y[i] = job->a[i] * job->s;
}

fr_status fr_cpu_scale(fr_backend *be, const fr_tensor *x, float s, fr_tensor *y)
{
  ew_job job = {.n = fr_tensor_numel(x), .a = (const float *)x->data, .y = (float *)y->data, .s = s};
  fr_pool_run(cpu_pool(be), chunks(job.n), scale_task, &job);
  return FR_OK;
}

/* uncond + s * (cond - uncond), rounded after each operation (as diffusers writes it). */
FR_CPU_HOT static void guidance_task(void *ctx, int64_t task, int thread)
{
  const ew_job *job = (const ew_job *)ctx;
  int64_t lo = (int64_t)task * CHUNK, hi = chunk_end(lo, job->n);
  for (int64_t i = lo; i < hi; i++) {
    float u = job->a[i], diff = job->c[i] - u;
    job->y[i] = u + job->s * diff;
  }
}

fr_status fr_cpu_guidance(fr_backend *be, const fr_tensor *uncond, const fr_tensor *cond, float s, fr_tensor *y)
{
  ew_job job = {.n = fr_tensor_numel(uncond),
                .a = (const float *)uncond->data,
                .c = (const float *)cond->data,
                .y = (float *)y->data,
                .s = s};
  fr_pool_run(cpu_pool(be), chunks(job.n), guidance_task, &job);
  return FR_OK;
}

FR_CPU_HOT static void normal_task(void *ctx, int64_t task, int thread)
{
  const ew_job *job = (const ew_job *)ctx;
  int64_t lo = (int64_t)task * CHUNK, hi = chunk_end(lo, job->n);
  for (int64_t i = lo; i < hi; i++) job->y[i] = fr_philox_normal(job->seed, job->stream, (uint64_t)i);
}

fr_status fr_cpu_fill_normal(fr_backend *be, uint64_t seed, uint64_t stream, fr_tensor *y)
{
  ew_job job = {.n = fr_tensor_numel(y), .y = (float *)y->data, .seed = seed, .stream = stream};
  fr_pool_run(cpu_pool(be), chunks(job.n), normal_task, &job);
  return FR_OK;
}

/* A few hundred values per call: one task. */
fr_status fr_cpu_timestep_embedding(fr_backend *be, const float *t, int n, int flip_sin_to_cos, float shift,
                                    float max_period, fr_tensor *y)
{
  int64_t dim = y->shape[1];
  int half = (int)(dim / 2);
  float *out = (float *)y->data;
  for (int r = 0; r < n; r++)
    for (int64_t j = 0; j < dim; j++)
      out[r * dim + j] = fr_timestep_value(t[r], (int)j, half, flip_sin_to_cos, shift, max_period);
  return FR_OK;
}

/* Video bytes: one task per image. */
typedef struct frames_job {
  int64_t c, hw;
  const float *x;
  uint8_t *frames;
  float *v01;
} frames_job;

FR_CPU_HOT static void frames_task(void *ctx, int64_t n, int thread)
{
  const frames_job *job = (const frames_job *)ctx;
  const float *img = job->x + n * job->c * job->hw;
  for (int64_t p = 0; p < job->hw; p++)
    for (int64_t c = 0; c < 3; c++) {
      int64_t at = (n * job->hw + p) * 3 + c;
      float v;
      job->frames[at] = fr_pixel_u8(c < job->c ? img[c * job->hw + p] : -1.0f, &v);
      if (job->v01) job->v01[at] = v;
    }
}

fr_status fr_cpu_frames_u8(fr_backend *be, int64_t n, int64_t c, int64_t hw, const fr_tensor *x, fr_tensor *frames,
                           fr_tensor *v01)
{
  frames_job job = {c, hw, (const float *)x->data, (uint8_t *)frames->data, v01 ? (float *)v01->data : NULL};
  fr_pool_run(cpu_pool(be), n, frames_task, &job);
  return FR_OK;
}

typedef struct sched_job {
  int64_t n;
  int which;
  const float *a, *b, *c;
  const fr_sched_coeffs *k;
  float *y;
} sched_job;

FR_CPU_HOT static void sched_task(void *ctx, int64_t task, int thread)
{
  const sched_job *job = (const sched_job *)ctx;
  int64_t lo = (int64_t)task * CHUNK, hi = chunk_end(lo, job->n);
  const fr_sched_coeffs k = *job->k;
  const float *a = job->a, *b = job->b, *c = job->c;
  float *y = job->y;
  if (job->which == 0)
    for (int64_t i = lo; i < hi; i++) y[i] = fr_sched_ddim_one(a[i], b[i], &k);
  else if (job->which == 1)
    for (int64_t i = lo; i < hi; i++) y[i] = fr_sched_dpm_x0_one(a[i], b[i], &k);
  else if (c)
    for (int64_t i = lo; i < hi; i++) y[i] = fr_sched_dpm_update_one(a[i], b[i], &c[i], &k);
  else
    for (int64_t i = lo; i < hi; i++) y[i] = fr_sched_dpm_update_one(a[i], b[i], NULL, &k);
}

fr_status fr_cpu_sched(fr_backend *be, int which, const fr_tensor *a, const fr_tensor *b, const fr_tensor *c,
                       const fr_sched_coeffs *k, fr_tensor *y)
{
  sched_job job = {
      fr_tensor_numel(a), which, (const float *)a->data, (const float *)b->data, c ? (const float *)c->data : NULL, k,
      (float *)y->data};
  fr_pool_run(cpu_pool(be), chunks(job.n), sched_task, &job);
  return FR_OK;
}

typedef struct move_job {
  const fr_tensor *x, *y;
  const void *aux;
  int64_t rows, ca, cb, inner;
  const int *perm;
} move_job;

/* Nearest upsample: one task per (sample, channel) plane; src = floor(dst * in / out) in integers. */
static void upsample_task(void *ctx, int64_t plane, int thread)
{
  const move_job *job = (const move_job *)ctx;
  int64_t h = job->x->shape[2], w = job->x->shape[3], ho = job->y->shape[2], wo = job->y->shape[3];
  const float *src = (const float *)job->x->data + plane * h * w;
  float *dst = (float *)job->y->data + plane * ho * wo;
  for (int64_t oy = 0; oy < ho; oy++) {
    const float *srow = src + (oy * h / ho) * w;
    for (int64_t ox = 0; ox < wo; ox++) dst[oy * wo + ox] = srow[ox * w / wo];
  }
}

fr_status fr_cpu_upsample_nearest(fr_backend *be, const fr_tensor *x, fr_tensor *y)
{
  move_job job = {.x = x, .y = y};
  fr_pool_run(cpu_pool(be), x->shape[0] * x->shape[1], upsample_task, &job);
  return FR_OK;
}

/* Concat: row r of the output is a's row r then b's row r (inner is in bytes). */
static void concat_task(void *ctx, int64_t r, int thread)
{
  const move_job *job = (const move_job *)ctx;
  char *dst = (char *)job->y->data + r * (job->ca + job->cb) * job->inner;
  memcpy(dst, (const char *)job->x->data + r * job->ca * job->inner, (size_t)(job->ca * job->inner));
  memcpy(dst + job->ca * job->inner, (const char *)job->aux + r * job->cb * job->inner, (size_t)(job->cb * job->inner));
}

fr_status fr_cpu_concat(fr_backend *be, int64_t outer, int64_t ca, int64_t cb, int64_t inner, const fr_tensor *a,
                        const fr_tensor *b, fr_tensor *y)
{
  move_job job = {.x = a, .y = y, .aux = b->data, .ca = ca, .cb = cb, .inner = inner};
  fr_pool_run(cpu_pool(be), outer, concat_task, &job);
  return FR_OK;
}

/* Permute: task r writes output rows (all but the last output dim) r*rows .. ; each element is
 * fetched from x through the permuted strides. */
static void permute_task(void *ctx, int64_t task, int thread)
{
  const move_job *job = (const move_job *)ctx;
  const fr_tensor *x = job->x, *y = job->y;
  int nd = x->ndim;
  size_t es = fr_dtype_size(x->dtype);
  int64_t xstride[FR_MAX_DIMS] = {0}, step[FR_MAX_DIMS] = {0}, idx[FR_MAX_DIMS] = {0};
  xstride[nd - 1] = 1;
  for (int i = nd - 2; i >= 0; i--) xstride[i] = xstride[i + 1] * x->shape[i + 1];
  for (int i = 0; i < nd; i++) step[i] = xstride[job->perm[i]];
  int64_t last = y->shape[nd - 1];
  for (int64_t row = task * job->rows; row < (task + 1) * job->rows && row < job->inner; row++) {
    int64_t rem = row, src = 0;
    for (int i = nd - 2; i >= 0; i--) {
      idx[i] = rem % y->shape[i];
      rem /= y->shape[i];
      src += idx[i] * step[i];
    }
    const char *xs = (const char *)x->data;
    char *yd = (char *)y->data + (size_t)(row * last) * es;
    if (step[nd - 1] == 1) {
      memcpy(yd, xs + (size_t)src * es, (size_t)last * es);
    } else {
      for (int64_t j = 0; j < last; j++) memcpy(yd + (size_t)j * es, xs + (size_t)(src + j * step[nd - 1]) * es, es);
    }
  }
}

fr_status fr_cpu_permute(fr_backend *be, const fr_tensor *x, const int *perm, fr_tensor *y)
{
  if (x->ndim == 0 || fr_tensor_numel(x) == 0) {
    if (x->ndim == 0) memcpy(y->data, x->data, fr_dtype_size(x->dtype));
    return FR_OK;
  }
  int64_t rows = fr_tensor_numel(y) / y->shape[y->ndim - 1];
  move_job job = {.x = x, .y = y, .perm = perm, .inner = rows, .rows = 64};
  fr_pool_run(cpu_pool(be), (rows + job.rows - 1) / job.rows, permute_task, &job);
  return FR_OK;
}

static void embedding_task(void *ctx, int64_t l, int thread)
{
  const move_job *job = (const move_job *)ctx;
  const fr_tensor *table = job->x;
  int64_t dim = table->shape[1], id = ((const int32_t *)job->aux)[l];
  float *dst = (float *)job->y->data + l * dim;
  for (int64_t c = 0; c < dim; c++) dst[c] = fr_load_f32(table->dtype, table->data, id * dim + c);
}

fr_status fr_cpu_embedding(fr_backend *be, const fr_tensor *ids, const fr_tensor *table, fr_tensor *y)
{
  move_job job = {.x = table, .y = y, .aux = ids->data};
  fr_pool_run(cpu_pool(be), ids->shape[0], embedding_task, &job);
  return FR_OK;
}

/* copy_region: rows of the innermost dimension, one task per row chunk. */
typedef struct region_job {
  const uint32_t *src;
  uint32_t *dst;
  int64_t src_off, dst_off;
  const int64_t *ss, *ds, *shape;
  int ndim;
  int64_t rows;
} region_job;

static void region_task(void *ctx, int64_t task, int thread)
{
  const region_job *j = (const region_job *)ctx;
  int64_t inner = j->shape[j->ndim - 1];
  for (int64_t r = task * 64; r < (task + 1) * 64 && r < j->rows; r++) {
    int64_t so = j->src_off, dof = j->dst_off, rest = r;
    for (int k = j->ndim - 2; k >= 0; k--) {
      int64_t i = rest % j->shape[k];
      rest /= j->shape[k];
      so += i * j->ss[k], dof += i * j->ds[k];
    }
    const int64_t sst = j->ss[j->ndim - 1], dst = j->ds[j->ndim - 1];
    if (sst == 1 && dst == 1) memcpy(j->dst + dof, j->src + so, (size_t)inner * 4);
    else
      for (int64_t i = 0; i < inner; i++) j->dst[dof + i * dst] = j->src[so + i * sst];
  }
}

fr_status fr_cpu_copy_region(fr_backend *be, const fr_tensor *src, int64_t src_off, const int64_t *src_strides,
                             fr_tensor *dst, int64_t dst_off, const int64_t *dst_strides, int ndim,
                             const int64_t *shape)
{
  int64_t rows = 1;
  for (int k = 0; k < ndim - 1; k++) rows *= shape[k];
  region_job job = {(const uint32_t *)src->data,
                    (uint32_t *)dst->data,
                    src_off,
                    dst_off,
                    src_strides,
                    dst_strides,
                    shape,
                    ndim,
                    rows};
  fr_pool_run(cpu_pool(be), (rows + 63) / 64, region_task, &job);
  return FR_OK;
}
