/* linear, conv2d and the frame-axis conv on the CPU: operand packers for the GEMM engine (gemm.h).
 * The reduction index k of each op, in the ascending order the canonical definition uses:
 *   linear:      k = input feature                       (w[n][k])
 *   conv2d:      k = (ci * kh + ky) * kw + kx             (w[co][ci][ky][kx], PyTorch OIHW order)
 *   conv_frames: k = ci * 3 + t, t = 0, 1, 2 = frame f-1, f, f+1   (w[co][ci][t][0][0])
 * Taps that fall in the zero padding take part as +0.0f operands. */
#include <string.h>

#include "cpu.h"
#include "gemm.h"

typedef struct conv_ctx {
  const fr_conv_dims *d;
  const float *x;
  const void *w;
  fr_dtype wdtype;
} conv_ctx;

static fr_gemm gemm_init(fr_backend *be, const fr_tensor *b, fr_act act, const fr_tensor *residual, fr_tensor *y)
{
  fr_gemm g;
  memset(&g, 0, sizeof g);
  g.c = (float *)y->data;
  g.bias = b ? b->data : NULL;
  g.bias_dtype = b ? b->dtype : FR_F32;
  g.act = act;
  g.residual = residual ? (const float *)residual->data : NULL;
  (void)be;
  return g;
}

/* linear: A = x [M][K], B = w^T (w is [N][K]), C = y [M][N]. */
static void linear_pack_a(const fr_gemm *g, int64_t batch, int64_t i0, int64_t k0, int64_t kc, float *dst)
{
  const fr_tensor *x = ((const fr_tensor *const *)g->ctx)[0];
  fr_pack_rows(x->data, FR_F32, g->k, g->m, i0, k0, kc, FR_GEMM_MR, dst);
}

static void linear_pack_b(const fr_gemm *g, int64_t batch, int64_t j0, int64_t k0, int64_t kc, float *dst)
{
  const fr_tensor *w = ((const fr_tensor *const *)g->ctx)[1];
  fr_pack_rows(w->data, w->dtype, g->k, g->n, j0, k0, kc, FR_GEMM_NR, dst);
}

fr_status fr_cpu_linear(fr_backend *be, const fr_linear_dims *d, const fr_tensor *x, const fr_tensor *w,
                        const fr_tensor *b, fr_act act, const fr_tensor *residual, fr_tensor *y)
{
  const fr_tensor *operands[2] = {x, w};
  fr_gemm g = gemm_init(be, b, act, residual, y);
  g.m = d->m, g.n = d->n, g.k = d->k, g.batch = 1;
  g.pack_a = linear_pack_a, g.pack_b = linear_pack_b, g.ctx = operands;
  g.a_rows = (const float *)x->data, g.lda = d->k;
  g.ldc = d->n, g.c_batch_stride = 0, g.bias_per_row = 0;
  return fr_gemm_run(cpu_pool(be), &g);
}

/* conv: A = w as [Cout][K], the same packer for both convs. */
static void conv_pack_a(const fr_gemm *g, int64_t batch, int64_t i0, int64_t k0, int64_t kc, float *dst)
{
  const conv_ctx *c = (const conv_ctx *)g->ctx;
  fr_pack_rows(c->w, c->wdtype, g->k, g->m, i0, k0, kc, FR_GEMM_MR, dst);
}

#define MAX_TAPS 64 /* kernels up to 8 x 8 get the per-tap offset table; larger ones read tap by tap */

/* B rows k0 .. k0 + kc of image `img`'s im2col matrix, element by element (kernels over MAX_TAPS). */
static void conv2d_pack_b_any(const fr_conv_dims *d, const float *img, int64_t n, int64_t j0, int64_t k0, int64_t kc,
                              float *dst)
{
  int64_t taps = d->kh * d->kw, plane = d->h * d->w;
  for (int64_t k = 0; k < kc; k++) {
    int64_t kk = k0 + k, ci = kk / taps, ky = kk % taps / d->kw, kx = kk % d->kw;
    for (int j = 0; j < FR_GEMM_NR; j++) {
      int64_t p = j0 + j, iy = (p / d->wo) * d->stride - d->pad + ky, ix = (p % d->wo) * d->stride - d->pad + kx;
      dst[k * FR_GEMM_NR + j] =
          p < n && iy >= 0 && iy < d->h && ix >= 0 && ix < d->w ? img[ci * plane + iy * d->w + ix] : 0.0f;
    }
  }
}

typedef float v16f __attribute__((vector_size(16 * sizeof(float))));
typedef int32_t v16i __attribute__((vector_size(16 * sizeof(int32_t))));

/* out = the 16 elements from[j * stride] (stride 1 or 2, a constant where inlined), the columns outside
 * the tap's run cleared by `keep_mask` (16 words, -1 or 0: all bits, +0.0f). Reads from[0 .. 16 * stride), which the caller checks
 * lie in the input. Moves bits only. */
static inline void window(float *out, const float *from, const int stride, const int32_t *keep_mask)
{
  v16i keep;
  memcpy(&keep, keep_mask, sizeof keep);
  v16f a, v;
  memcpy(&a, from, sizeof a);
  if (stride == 2) {
    v16f b;
    memcpy(&b, from + FR_GEMM_NR, sizeof b);
    v = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  } else {
    v = a;
  }
  v16i bits;
  memcpy(&bits, &v, sizeof bits);
  bits &= keep;
  memcpy(out, &bits, sizeof bits);
}

/* conv2d: B = the implicit im2col matrix of image `batch`: B[k][p], p = oy * Wo + ox. */
FR_CPU_HOT static void conv2d_pack_b(const fr_gemm *g, int64_t n, int64_t j0, int64_t k0, int64_t kc, float *dst)
{
  const conv_ctx *c = (const conv_ctx *)g->ctx;
  const fr_conv_dims *d = c->d;
  const float *img = c->x + n * d->cin * d->h * d->w;
  int64_t x_len = d->n * d->cin * d->h * d->w;
  int64_t plane = d->h * d->w;
  if (d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0) { /* B is the image itself */
    int64_t cols = g->n - j0 < FR_GEMM_NR ? g->n - j0 : FR_GEMM_NR;
    if (cols == FR_GEMM_NR) /* a copy of constant size: inlined, not a call per row */
      for (int64_t k = 0; k < kc; k++)
        memcpy(dst + k * FR_GEMM_NR, img + (k0 + k) * plane + j0, sizeof(float) * FR_GEMM_NR);
    else
      for (int64_t k = 0; k < kc; k++) {
        memcpy(dst + k * FR_GEMM_NR, img + (k0 + k) * plane + j0, sizeof(float) * (size_t)cols);
        for (int64_t j = cols; j < FR_GEMM_NR; j++) dst[k * FR_GEMM_NR + j] = 0.0f;
      }
    return;
  }
  /* where each tap of each column reads (-1: padding), and whether a tap's valid reads are one run
   * [lo, hi) of elements `stride` apart with padding (+0.0f) around it */
  int64_t taps = d->kh * d->kw;
  if (taps > MAX_TAPS) {
    conv2d_pack_b_any(d, img, g->n, j0, k0, kc, dst);
    return;
  }
  int32_t off[MAX_TAPS][FR_GEMM_NR];
  int lo[MAX_TAPS] = {0}, hi[MAX_TAPS] = {0}, run[MAX_TAPS] = {0};
  int64_t y0[FR_GEMM_NR], x0[FR_GEMM_NR]; /* each column's top-left input tap */
  for (int j = 0; j < FR_GEMM_NR; j++) {
    int64_t p = j0 + j, oy = p / d->wo;
    y0[j] = oy * d->stride - d->pad, x0[j] = (p - oy * d->wo) * d->stride - d->pad;
  }
  for (int64_t t = 0; t < taps; t++) {
    int64_t ky = t / d->kw, kx = t % d->kw;
    lo[t] = FR_GEMM_NR, hi[t] = 0;
    for (int j = 0; j < FR_GEMM_NR; j++) {
      int64_t iy = y0[j] + ky, ix = x0[j] + kx;
      off[t][j] = j0 + j < g->n && iy >= 0 && iy < d->h && ix >= 0 && ix < d->w ? (int32_t)(iy * d->w + ix) : -1;
      if (off[t][j] >= 0) lo[t] = lo[t] < j ? lo[t] : j, hi[t] = j + 1;
    }
    run[t] = 1;
    for (int j = 0; j < FR_GEMM_NR; j++)
      if (j >= lo[t] && j < hi[t] ? off[t][j] != off[t][lo[t]] + (j - lo[t]) * d->stride : off[t][j] >= 0) run[t] = 0;
  }
  /* runs of stride 1 or 2 are read as whole vectors: where column 0 would read (from the channel's
   * start) and which columns to keep */
  int32_t keep[MAX_TAPS][FR_GEMM_NR];
  int64_t start[MAX_TAPS] = {0};
  for (int64_t t = 0; t < taps; t++) {
    start[t] = hi[t] > lo[t] ? off[t][lo[t]] - lo[t] * d->stride : 0;
    for (int j = 0; j < FR_GEMM_NR; j++) keep[t][j] = j >= lo[t] && j < hi[t] ? -1 : 0;
  }
  int vector = d->stride <= 2;
  int64_t ci = k0 / taps, t = k0 % taps;
  for (int64_t k = 0; k < kc; k++) {
    const float *chan = img + ci * plane;
    float *out = dst + k * FR_GEMM_NR;
    int64_t at = (chan - c->x) + start[t]; /* as an element of the whole input */
    if (run[t] && d->stride == 1 && lo[t] == 0 && hi[t] == FR_GEMM_NR) {
      memcpy(out, chan + off[t][0], sizeof(float) * FR_GEMM_NR);
    } else if (run[t] && vector && hi[t] > lo[t] && at >= 0 && at + FR_GEMM_NR * d->stride <= x_len) {
      if (d->stride == 1) window(out, c->x + at, 1, keep[t]);
      else window(out, c->x + at, 2, keep[t]);
    } else if (run[t]) {
      const float *from = hi[t] > lo[t] ? chan + off[t][lo[t]] : chan;
      for (int j = 0; j < lo[t]; j++) out[j] = 0.0f;
      for (int j = lo[t]; j < hi[t]; j++) out[j] = from[(j - lo[t]) * d->stride];
      for (int j = hi[t] > lo[t] ? hi[t] : FR_GEMM_NR; j < FR_GEMM_NR; j++) out[j] = 0.0f;
    } else {
      for (int j = 0; j < FR_GEMM_NR; j++) out[j] = off[t][j] >= 0 ? chan[off[t][j]] : 0.0f;
    }
    if (++t == taps) t = 0, ci++;
  }
}

/* conv2d 3x3, stride 1, padding 1, output rows a multiple of 16 wide (gemm.h fr_gemm.pack_b3): the panel's 16
 * columns lie in one output row oy from column ox0; per channel of the block the input rows oy - 1, oy, oy + 1,
 * each the 18 elements from column ox0 - 1, +0.0f outside the image (the padding taps' operands). */
FR_CPU_HOT static void conv2d_pack_b3(const fr_gemm *g, int64_t n, int64_t j0, int64_t k0, int64_t kc, float *dst)
{
  const conv_ctx *c = (const conv_ctx *)g->ctx;
  const fr_conv_dims *d = c->d;
  int64_t plane = d->h * d->w, oy = j0 / d->wo, x0 = j0 % d->wo - 1;
  const float *img = c->x + n * d->cin * plane;
  for (int64_t ch = k0 / 9; ch < (k0 + kc) / 9; ch++)
    for (int64_t ky = 0; ky < 3; ky++, dst += 18) {
      int64_t iy = oy + ky - 1;
      if (iy < 0 || iy >= d->h) {
        memset(dst, 0, sizeof(float) * 18);
        continue;
      }
      const float *row = img + ch * plane + iy * d->w;
      if (x0 >= 0 && x0 + 18 <= d->w) {
        memcpy(dst, row + x0, sizeof(float) * 18);
      } else {
        for (int64_t x = 0; x < 18; x++) dst[x] = x0 + x >= 0 && x0 + x < d->w ? row[x0 + x] : 0.0f;
      }
    }
}

fr_status fr_cpu_conv2d(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_tensor *w,
                        const fr_tensor *b, const fr_tensor *residual, fr_tensor *y)
{
  conv_ctx c = {d, (const float *)x->data, w->data, w->dtype};
  fr_gemm g = gemm_init(be, b, FR_ACT_NONE, residual, y);
  g.m = d->cout, g.n = d->ho * d->wo, g.k = d->cin * d->kh * d->kw, g.batch = d->n;
  g.pack_a = conv_pack_a, g.pack_b = conv2d_pack_b, g.ctx = &c;
  if (d->kh == 3 && d->kw == 3 && d->stride == 1 && d->pad == 1 && d->wo % FR_GEMM_NR == 0) g.pack_b3 = conv2d_pack_b3;
  g.ldc = g.n, g.c_batch_stride = d->cout * g.n, g.bias_per_row = 1;
  return fr_gemm_run(cpu_pool(be), &g);
}

/* conv_frames: B[k = ci*3 + t][p] = x[sample + t - 1][ci][p], zero past either end of the video. */
FR_CPU_HOT static void frames_pack_b(const fr_gemm *g, int64_t n, int64_t j0, int64_t k0, int64_t kc, float *dst)
{
  const conv_ctx *c = (const conv_ctx *)g->ctx;
  const fr_conv_dims *d = c->d;
  int64_t plane = d->h * d->w, f = n % d->frames;
  int64_t cols = g->n - j0 < FR_GEMM_NR ? g->n - j0 : FR_GEMM_NR;
  for (int64_t k = 0; k < kc; k++) {
    int64_t kk = k0 + k, ci = kk / 3, t = kk % 3, src_f = f + t - 1;
    float *out = dst + k * FR_GEMM_NR;
    int64_t valid = (src_f >= 0 && src_f < d->frames) ? cols : 0;
    const float *from = c->x + ((n + t - 1) * d->cin + ci) * plane + j0;
    if (valid == FR_GEMM_NR) memcpy(out, from, sizeof(float) * FR_GEMM_NR); /* constant size: inlined */
    else if (valid) memcpy(out, from, sizeof(float) * (size_t)valid);
    for (int64_t j = valid; j < FR_GEMM_NR; j++) out[j] = 0.0f;
  }
}

fr_status fr_cpu_conv_frames(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_tensor *w,
                             const fr_tensor *b, const fr_tensor *residual, fr_tensor *y)
{
  conv_ctx c = {d, (const float *)x->data, w->data, w->dtype};
  fr_gemm g = gemm_init(be, b, FR_ACT_NONE, residual, y);
  g.m = d->cout, g.n = d->h * d->w, g.k = d->cin * 3, g.batch = d->n;
  g.pack_a = conv_pack_a, g.pack_b = frames_pack_b, g.ctx = &c;
  g.ldc = g.n, g.c_batch_stride = d->cout * g.n, g.bias_per_row = 1;
  return fr_gemm_run(cpu_pool(be), &g);
}
