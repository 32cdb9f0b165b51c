/* The GEMM-class ops of the exact-integer profile i8x-v1 on the CPU (fractal/i8x.h, docs/numerics.md).
 *
 * Every op is the same three steps: gather each dot product's activation vector (a token, a conv
 * patch, a frame window, a row of q, k or p, a column of v), quantize it with its own exponent, then
 * take exact int64 sums against quantized rows (the weights, quantized once at load) and round each
 * once, followed by the f32-v1 epilogue. Tasks split the outputs (blocks of activation vectors and of
 * weight rows); an integer sum has no order, so nothing depends on the tiling or on the threads. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "fractal/act.h"
#include "fractal/dmath.h"
#include "fractal/i8x.h"
#include "idot.h"

#define ROWS 48  /* activation vectors per task, a multiple of IDOT_MR */
#define COLS 256 /* weight rows per task, a multiple of IDOT_NR */

static int force_generic;

void fr_idot_force_generic(int on) { force_generic = on; }

void fr_idot_generic(int64_t k, const int16_t *const a[IDOT_MR], const int16_t *const b[IDOT_NR], int bits,
                     int64_t s[IDOT_MR][IDOT_NR])
{
  (void)bits;
  for (int r = 0; r < IDOT_MR; r++)
    for (int c = 0; c < IDOT_NR; c++) {
      int64_t sum = 0;
      for (int64_t kk = 0; kk < k; kk++) sum += (int64_t)a[r][kk] * b[c][kk];
      s[r][c] = sum;
    }
}

fr_idot_fn fr_idot_kernel(void)
{
#if defined(__x86_64__) || defined(_M_X64)
  if (!force_generic && __builtin_cpu_supports("avx2")) return fr_idot_avx2;
#endif
  return fr_idot_generic;
}

/* Quantizes v[0..n) (stride apart) into q with one exponent, which it returns: FR_I8X_NONFINITE (q all
 * zero) when v holds a NaN or an infinity. The same numbers as fr_i8x_quantize, in float arithmetic that
 * vectorises: v * 2^(bits - e) is exact (a power-of-two scale of |v| < 2^e stays below 2^bits; a product
 * that lands among the subnormals is below 2^-126 and rounds to 0 either way), taken in two factors when
 * 2^(bits - e) is past the largest float; then round-half-even to an integer by adding and subtracting
 * 1.5 * 2^23 (exact for |x| < 2^22), and the clamp. */
FR_CPU_HOT static int32_t quantize_vector(const float *v, int64_t stride, int64_t n, int bits, int16_t *q)
{
  uint32_t max = 0;
  if (stride == 1)
    for (int64_t i = 0; i < n; i++) {
      uint32_t a = fr_i8x_absbits(v[i]);
      max = a > max ? a : max;
    }
  else
    for (int64_t i = 0; i < n; i++) {
      uint32_t a = fr_i8x_absbits(v[i * stride]);
      max = a > max ? a : max;
    }
  int32_t e = fr_i8x_exponent(max);
  if (e == FR_I8X_NONFINITE) {
    memset(q, 0, sizeof(int16_t) * (size_t)n);
    return e;
  }
  int s = bits - e; /* -114 <= s <= 162 */
  float s1 = fr_f32_from_bits((uint32_t)((s > 127 ? 127 : s) + 127) << 23);
  float s2 = fr_f32_from_bits((uint32_t)((s > 127 ? s - 127 : 0) + 127) << 23);
  const float magic = 0x1.8p23f, top = (float)((1 << bits) - 1);
  for (int64_t i = 0; i < n; i++) {
    float t = v[i * stride] * s1 * s2;
    t = (t + magic) - magic;
    t = t > top ? top : t < -top ? -top : t;
    q[i] = (int16_t)(int32_t)t;
  }
  return e;
}

fr_status fr_i8x_quantize_weight(const fr_tensor *w, int bits, int16_t *q, int32_t *e)
{
  if (!w || w->ndim < 2 || !fr_dtype_is_float(w->dtype) || w->dtype == FR_F64)
    return fr_fail(FR_EINVAL, "fr_i8x_quantize_weight: want an F32, F16 or BF16 weight of 2 or more dims");
  if (w->device != FR_DEVICE_CPU) return fr_fail(FR_EINVAL, "fr_i8x_quantize_weight: the weight must be on the host");
  if (bits < FR_I8X_MIN_BITS || bits > FR_I8X_MAX_BITS)
    return fr_fail(FR_EINVAL, "fr_i8x_quantize_weight: %d bits (want %d..%d)", bits, FR_I8X_MIN_BITS, FR_I8X_MAX_BITS);
  int64_t rows = w->shape[0], k = rows ? fr_tensor_numel(w) / rows : 0;
  float *row = (float *)malloc(sizeof(float) * (size_t)(k ? k : 1));
  if (!row) return fr_fail(FR_ENOMEM, "fr_i8x_quantize_weight: out of memory");
  for (int64_t r = 0; r < rows; r++) {
    fr_widen_f32(w->dtype, (const char *)w->data + (size_t)(r * k) * fr_dtype_size(w->dtype), row, k);
    e[r] = quantize_vector(row, 1, k, bits, q + r * k);
  }
  free(row);
  return FR_OK;
}

fr_status fr_i8x_quantize_device_weight(fr_backend *be, const fr_tensor *w, int bits, int16_t **q, int32_t **e)
{
  *q = NULL, *e = NULL;
  int64_t rows = w->ndim ? w->shape[0] : 0, n = fr_tensor_numel(w);
  fr_tensor host = *w;
  host.device = FR_DEVICE_CPU;
  host.data = malloc(fr_tensor_nbytes(w) + 1);
  int16_t *qv = (int16_t *)malloc(sizeof(int16_t) * (size_t)n + 1);
  int32_t *ev = (int32_t *)malloc(sizeof(int32_t) * (size_t)rows + 1);
  fr_status st = host.data && qv && ev ? FR_OK : fr_fail(FR_ENOMEM, "fr_i8x_quantize_device_weight: out of memory");
  if (st == FR_OK) st = fr_tensor_download(be, w, host.data);
  if (st == FR_OK) st = fr_i8x_quantize_weight(&host, bits, qv, ev);
  free(host.data);
  if (st != FR_OK) return free(qv), free(ev), st;
  *q = qv, *e = ev;
  return FR_OK;
}

/* fr_i8x_dot_result in double arithmetic: |s| < 2^53 converts exactly, the power-of-two scale stays exact
 * (s * 2^p is at least 2^-324, far inside double's normal range), and the conversion to float is the one
 * rounding, ties to even, subnormals kept, infinity past the largest float. The tests hold it to the
 * integer definition. */
static inline float finish(int64_t s, int32_t ea, int32_t eb, int bits)
{
  if (ea == FR_I8X_NONFINITE || eb == FR_I8X_NONFINITE) return fr_f32_from_bits(0x7fc00000u);
  int64_t p = (int64_t)ea + eb - 2 * bits; /* -352 <= p <= 256 */
  uint64_t u = (uint64_t)(p + 1023) << 52;
  double scale;
  memcpy(&scale, &u, sizeof scale);
  return (float)((double)s * scale);
}

/* ---- the shared product: a task's quantized vectors against a range of weight rows ---- */

/* Where output (vector i, weight row j) goes: y[off[i] + j * col_stride], with bias[j] and the
 * residual at the same place. */
typedef struct product {
  const int16_t *a; /* [ROWS][k]: the task's vectors (rows past `rows` are zero) */
  const int32_t *ea;
  int64_t rows;
  const fr_qweight *w;
  int64_t k, j0, j1;
  const int64_t *off;
  int64_t col_stride;
  const fr_tensor *bias, *residual;
  fr_act act;
  float *y;
} product;

FR_CPU_HOT static void run_product(const product *p, fr_idot_fn idot)
{
  const int16_t *wq = (const int16_t *)p->w->q.data;
  const int32_t *we = (const int32_t *)p->w->e.data;
  const float *res = p->residual ? (const float *)p->residual->data : NULL;
  int bits = p->w->bits;
  for (int64_t j = p->j0; j < p->j1; j += IDOT_NR) {
    const int16_t *b[IDOT_NR];
    int cols = p->j1 - j < IDOT_NR ? (int)(p->j1 - j) : IDOT_NR;
    for (int c = 0; c < IDOT_NR; c++) b[c] = wq + (j + (c < cols ? c : 0)) * p->k; /* edge: repeat, discard */
    float bias[IDOT_NR] = {0};
    if (p->bias)
      for (int c = 0; c < cols; c++) bias[c] = fr_load_f32(p->bias->dtype, p->bias->data, j + c);
    for (int64_t i = 0; i < p->rows; i += IDOT_MR) {
      const int16_t *a[IDOT_MR];
      int64_t s[IDOT_MR][IDOT_NR];
      for (int r = 0; r < IDOT_MR; r++) a[r] = p->a + (i + r) * p->k;
      idot(p->k, a, b, bits, s);
      for (int r = 0; r < IDOT_MR && i + r < p->rows; r++)
        for (int c = 0; c < cols; c++) {
          int64_t at = p->off[i + r] + (j + c) * p->col_stride;
          float v = finish(s[r][c], p->ea[i + r], we[j + c], bits);
          if (p->bias) v = v + bias[c];
          if (p->act != FR_ACT_NONE) v = fr_act_apply(p->act, v);
          if (res) v = v + res[at];
          p->y[at] = v;
        }
    }
  }
}

/* Per-thread scratch of a product task: the vectors, their exponents and output offsets, and a float
 * row to gather into. */
static size_t product_scratch(int64_t k)
{
  return (sizeof(int16_t) * (size_t)k + sizeof(int32_t) + sizeof(int64_t)) * ROWS + sizeof(float) * (size_t)k + 256;
}

typedef struct task_mem {
  int16_t *a;
  int32_t *ea;
  int64_t *off;
  float *row;
} task_mem;

static task_mem task_scratch(fr_pool *pool, int thread, int64_t k)
{
  task_mem m;
  char *base = (char *)fr_pool_scratch(pool, thread); /* int64 offsets, int32 exponents, a float row, int16 */
  m.off = (int64_t *)(void *)base;
  m.ea = (int32_t *)(void *)(base + sizeof(int64_t) * ROWS);
  m.row = (float *)(void *)(base + (sizeof(int64_t) + sizeof(int32_t)) * ROWS);
  m.a = (int16_t *)(void *)(base + (sizeof(int64_t) + sizeof(int32_t)) * ROWS + sizeof(float) * (size_t)k);
  memset(m.a, 0, sizeof(int16_t) * (size_t)(ROWS * k));
  return m;
}

/* ---- linear: the vectors are x's rows ---- */

typedef struct linear_job {
  const fr_linear_dims *d;
  const float *x;
  const fr_qweight *w;
  const fr_tensor *b, *residual;
  fr_act act;
  float *y;
  fr_pool *pool;
  fr_idot_fn idot;
  int64_t col_tasks;
} linear_job;

static void linear_task(void *ctx, int64_t task, int thread)
{
  const linear_job *job = (const linear_job *)ctx;
  const fr_linear_dims *d = job->d;
  int64_t i0 = task / job->col_tasks * ROWS, j0 = task % job->col_tasks * COLS;
  task_mem m = task_scratch(job->pool, thread, d->k);
  product p = {m.a,
               m.ea,
               d->m - i0 < ROWS ? d->m - i0 : ROWS,
               job->w,
               d->k,
               j0,
               d->n - j0 < COLS ? d->n : j0 + COLS,
               m.off,
               1,
               job->b,
               job->residual,
               job->act,
               job->y};
  for (int64_t i = 0; i < p.rows; i++) {
    m.ea[i] = quantize_vector(job->x + (i0 + i) * d->k, 1, d->k, job->w->bits, m.a + i * d->k);
    m.off[i] = (i0 + i) * d->n;
  }
  run_product(&p, job->idot);
}

fr_status fr_cpu_linear_i8x(fr_backend *be, const fr_linear_dims *d, const fr_tensor *x, const fr_qweight *w,
                            const fr_tensor *b, fr_act act, const fr_tensor *residual, fr_tensor *y)
{
  FR_TRY(fr_pool_reserve(cpu_pool(be), product_scratch(d->k)));
  linear_job job = {d,
                    (const float *)x->data,
                    w,
                    b,
                    residual,
                    act,
                    (float *)y->data,
                    cpu_pool(be),
                    fr_idot_kernel(),
                    (d->n + COLS - 1) / COLS};
  fr_pool_run(cpu_pool(be), (d->m + ROWS - 1) / ROWS * job.col_tasks, linear_task, &job);
  return FR_OK;
}

/* ---- conv2d and the frame conv: the vectors are patches ---- */

typedef struct conv_job {
  const fr_conv_dims *d;
  const float *x;
  const fr_qweight *w;
  const fr_tensor *b, *residual;
  float *y;
  fr_pool *pool;
  fr_idot_fn idot;
  int64_t k, row_tasks, col_tasks; /* row tasks per sample */
} conv_job;

/* The patch of output pixel p of sample n, in the weight's k order: (ci * kh + ky) * kw + kx for conv2d,
 * ci * 3 + t (frame f + t - 1) for the frame conv; +0 outside the image or the video. */
FR_CPU_HOT static void gather_patch(const conv_job *job, int64_t n, int64_t p, float *row)
{
  const fr_conv_dims *d = job->d;
  if (d->frames) {
    int64_t hw = d->h * d->w, f = n % d->frames;
    for (int t = 0; t < 3; t++) {
      if (f + t - 1 < 0 || f + t - 1 >= d->frames) {
        for (int64_t ci = 0; ci < d->cin; ci++) row[ci * 3 + t] = 0.0f;
        continue;
      }
      const float *src = job->x + (n + t - 1) * d->cin * hw + p; /* frame f + t - 1 of this video */
      for (int64_t ci = 0; ci < d->cin; ci++) row[ci * 3 + t] = src[ci * hw];
    }
    return;
  }
  int64_t ho = p / d->wo, wo = p % d->wo, x0 = wo * d->stride - d->pad, kw = d->kw;
  int inside = x0 >= 0 && x0 + kw <= d->w; /* every column of the patch inside the image */
  for (int64_t ci = 0; ci < d->cin; ci++) {
    const float *xc = job->x + (n * d->cin + ci) * d->h * d->w;
    for (int64_t ky = 0; ky < d->kh; ky++) {
      int64_t yy = ho * d->stride + ky - d->pad;
      float *dst = row + (ci * d->kh + ky) * kw;
      if (yy < 0 || yy >= d->h) {
        for (int64_t kx = 0; kx < kw; kx++) dst[kx] = 0.0f;
        continue;
      }
      const float *src = xc + yy * d->w; /* the image row; columns x0 + kx */
      if (inside)
        for (int64_t kx = 0; kx < kw; kx++) dst[kx] = src[x0 + kx];
      else
        for (int64_t kx = 0; kx < kw; kx++) dst[kx] = x0 + kx < 0 || x0 + kx >= d->w ? 0.0f : src[x0 + kx];
    }
  }
}

FR_CPU_HOT static void conv_task(void *ctx, int64_t task, int thread)
{
  const conv_job *job = (const conv_job *)ctx;
  const fr_conv_dims *d = job->d;
  int64_t pixels = d->ho * d->wo, per_sample = job->row_tasks * job->col_tasks;
  int64_t n = task / per_sample, rem = task % per_sample;
  int64_t p0 = rem / job->col_tasks * ROWS, j0 = rem % job->col_tasks * COLS;
  task_mem m = task_scratch(job->pool, thread, job->k);
  product pr = {m.a,
                m.ea,
                pixels - p0 < ROWS ? pixels - p0 : ROWS,
                job->w,
                job->k,
                j0,
                d->cout - j0 < COLS ? d->cout : j0 + COLS,
                m.off,
                pixels,
                job->b,
                job->residual,
                FR_ACT_NONE,
                job->y};
  for (int64_t i = 0; i < pr.rows; i++) {
    gather_patch(job, n, p0 + i, m.row);
    m.ea[i] = quantize_vector(m.row, 1, job->k, job->w->bits, m.a + i * job->k);
    m.off[i] = n * d->cout * pixels + p0 + i;
  }
  run_product(&pr, job->idot);
}

static fr_status conv_run(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_qweight *w,
                          const fr_tensor *b, const fr_tensor *residual, fr_tensor *y)
{
  int64_t k = d->frames ? 3 * d->cin : d->cin * d->kh * d->kw;
  FR_TRY(fr_pool_reserve(cpu_pool(be), product_scratch(k)));
  conv_job job = {d,
                  (const float *)x->data,
                  w,
                  b,
                  residual,
                  (float *)y->data,
                  cpu_pool(be),
                  fr_idot_kernel(),
                  k,
                  (d->ho * d->wo + ROWS - 1) / ROWS,
                  (d->cout + COLS - 1) / COLS};
  fr_pool_run(cpu_pool(be), d->n * job.row_tasks * job.col_tasks, conv_task, &job);
  return FR_OK;
}

fr_status fr_cpu_conv2d_i8x(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_qweight *w,
                            const fr_tensor *b, const fr_tensor *residual, fr_tensor *y)
{
  return conv_run(be, d, x, w, b, residual, y);
}

fr_status fr_cpu_conv_frames_i8x(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_qweight *w,
                                 const fr_tensor *b, const fr_tensor *residual, fr_tensor *y)
{
  return conv_run(be, d, x, w, b, residual, y);
}

/* ---- attention ---- */

typedef struct attn_job {
  const fr_attn_dims *d;
  const fr_attn_params *p;
  const float *q, *k, *v;
  float *y;
  int bits;
  fr_pool *pool;
  fr_idot_fn idot;
  int64_t row_blocks;
} attn_job;

/* Scratch: k rows [lk][dk], v columns [dv][lk], q rows [ROWS][dk], p rows [ROWS][lk] (int16); their
 * exponents; scores [ROWS][lk] and sums [ROWS] (float); a gather row. */
static size_t attn_scratch(const fr_attn_dims *d)
{
  size_t ints = (size_t)(d->lk * d->dk + d->dv * d->lk + ROWS * d->dk + ROWS * d->lk);
  size_t exps = (size_t)(d->lk + d->dv + 2 * ROWS);
  return sizeof(int16_t) * ints + sizeof(int32_t) * exps + sizeof(float) * (size_t)(ROWS * d->lk + ROWS) + 256;
}

/* One dot-product tile through the kernel, rows past the end pointing at row 0 (results discarded). */
static void tile(fr_idot_fn idot, int64_t k, const int16_t *a, int64_t arows, int64_t i, const int16_t *b,
                 int64_t brows, int64_t j, int bits, int64_t s[IDOT_MR][IDOT_NR])
{
  const int16_t *ap[IDOT_MR], *bp[IDOT_NR];
  for (int r = 0; r < IDOT_MR; r++) ap[r] = a + (i + r < arows ? i + r : 0) * k;
  for (int c = 0; c < IDOT_NR; c++) bp[c] = b + (j + c < brows ? j + c : 0) * k;
  idot(k, ap, bp, bits, s);
}

FR_CPU_HOT static void attn_task(void *ctx, int64_t task, int thread)
{
  const attn_job *job = (const attn_job *)ctx;
  const fr_attn_dims *d = job->d;
  const int64_t H = d->heads, dk = d->dk, dv = d->dv, lk = d->lk;
  const int bits = job->bits;
  int64_t qb = task / (H * job->row_blocks), rem = task % (H * job->row_blocks);
  int64_t h = rem / job->row_blocks, i0 = (rem % job->row_blocks) * ROWS;
  int64_t rows = d->lq - i0 < ROWS ? d->lq - i0 : ROWS, kb = qb / job->p->kv_group;
  char *base = (char *)fr_pool_scratch(job->pool, thread); /* int16 vectors, then int32 exponents, then floats */
  size_t ints = (size_t)(lk * dk + dv * lk + ROWS * dk + ROWS * lk), exps = (size_t)(lk + dv + 2 * ROWS);
  size_t at_exps = (sizeof(int16_t) * ints + 7) / 8 * 8, at_floats = at_exps + sizeof(int32_t) * exps;
  int16_t *kq = (int16_t *)(void *)base;
  int16_t *vq = kq + lk * dk, *qq = vq + dv * lk, *pq = qq + ROWS * dk;
  int32_t *ek = (int32_t *)(void *)(base + at_exps), *ev = ek + lk, *eq = ev + dv, *ep = eq + ROWS;
  float *sc = (float *)(void *)(base + at_floats), *l = sc + ROWS * lk;
  const float *kh = job->k + kb * lk * H * dk + h * dk, *vh = job->v + kb * lk * H * dv + h * dv;
  for (int64_t j = 0; j < lk; j++) ek[j] = quantize_vector(kh + j * H * dk, 1, dk, bits, kq + j * dk);
  for (int64_t c = 0; c < dv; c++) ev[c] = quantize_vector(vh + c, H * dv, lk, bits, vq + c * lk);
  for (int64_t i = 0; i < rows; i++)
    eq[i] = quantize_vector(job->q + ((qb * d->lq + i0 + i) * H + h) * dk, 1, dk, bits, qq + i * dk);
  /* scores: s_ij = result(q_i . k_j) * scale */
  for (int64_t i = 0; i < rows; i += IDOT_MR)
    for (int64_t j = 0; j < lk; j += IDOT_NR) {
      int64_t s[IDOT_MR][IDOT_NR];
      tile(job->idot, dk, qq, rows, i, kq, lk, j, bits, s);
      for (int r = 0; r < IDOT_MR && i + r < rows; r++)
        for (int c = 0; c < IDOT_NR && j + c < lk; c++)
          sc[(i + r) * lk + j + c] = finish(s[r][c], eq[i + r], ek[j + c], bits) * job->p->scale;
    }
  /* per row, as f32-v1: the maximum, the exponentials, their running sum; then p quantized over all keys */
  for (int64_t i = 0; i < rows; i++) {
    float *s = sc + i * lk, m = -INFINITY, sum = 0.0f;
    int64_t keys = job->p->causal ? i0 + i + 1 : lk;
    for (int64_t j = 0; j < keys; j++)
      if (s[j] > m) m = s[j];
    for (int64_t j = 0; j < keys; j++) {
      s[j] = fr_dexp(s[j] - m);
      sum = sum + s[j];
    }
    for (int64_t j = keys; j < lk; j++) s[j] = 0.0f;
    l[i] = sum;
    ep[i] = quantize_vector(s, 1, lk, bits, pq + i * lk);
  }
  /* o_ic = result(p_i . v_c) / l_i */
  float *yq = job->y + (qb * d->lq + i0) * H * dv + h * dv;
  for (int64_t i = 0; i < rows; i += IDOT_MR)
    for (int64_t c = 0; c < dv; c += IDOT_NR) {
      int64_t s[IDOT_MR][IDOT_NR];
      tile(job->idot, lk, pq, rows, i, vq, dv, c, bits, s);
      for (int r = 0; r < IDOT_MR && i + r < rows; r++)
        for (int cc = 0; cc < IDOT_NR && c + cc < dv; cc++)
          yq[(i + r) * H * dv + c + cc] = finish(s[r][cc], ep[i + r], ev[c + cc], bits) / l[i + r];
    }
}

fr_status fr_cpu_attention_i8x(fr_backend *be, const fr_attn_dims *d, const fr_tensor *q, const fr_tensor *k,
                               const fr_tensor *v, const fr_attn_params *p, int bits, fr_tensor *y)
{
  FR_TRY(fr_pool_reserve(cpu_pool(be), attn_scratch(d)));
  attn_job job = {d,
                  p,
                  (const float *)q->data,
                  (const float *)k->data,
                  (const float *)v->data,
                  (float *)y->data,
                  bits,
                  cpu_pool(be),
                  fr_idot_kernel(),
                  (d->lq + ROWS - 1) / ROWS};
  fr_pool_run(cpu_pool(be), d->bq * d->heads * job.row_blocks, attn_task, &job);
  return FR_OK;
}
