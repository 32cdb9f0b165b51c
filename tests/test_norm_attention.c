/* GroupNorm, LayerNorm, softmax and attention on the CPU reference: bit-identical to the canonical
 * definitions written out literally here (the full 1024-lane sum tree, no width shortcut), the same
 * bits with 1 and 2 threads, within stated error bounds of float64 references, hand-checked cases. */
#include "fractal/dmath.h"
#include "testutil.h"

/* The canonical sum, literally: 1024 lanes from +0, strided ascending adds, halving tree. */
static float lit_sum(const float *x, int64_t n, int sq, float mean)
{
  float p[1024];
  for (int t = 0; t < 1024; t++) p[t] = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    if (sq) {
      float d = v - mean;
      v = d * d;
    }
    p[i % 1024] = p[i % 1024] + v;
  }
  for (int s = 512; s >= 1; s /= 2)
    for (int t = 0; t < s; t++) p[t] = p[t] + p[t + s];
  return p[0];
}

static float affine(float t, const fr_tensor *g, const fr_tensor *b, int64_t c)
{
  if (g && b) return fmaf(t, tensor_get(g, c), tensor_get(b, c));
  if (g) return t * tensor_get(g, c);
  if (b) return t + tensor_get(b, c);
  return t;
}

static double worst_norm, worst_softmax, worst_attn; /* observed error / bound */

static int bounded(double *worst, double err, double bound)
{
  if (bound > 0 && err / bound > *worst) *worst = err / bound;
  return err <= bound;
}

/* GroupNorm on x[N, C, H, W] with runs of `frames` samples. Bound versus float64 statistics:
 * |y - y64| <= 4 (n/1024 + 16) u (|gamma| (|t64| + mean|x - mu| / sigma + 1) + |beta|), n = values per
 * statistic; it covers the sums' error (tree depth 10 plus n/1024 strided adds per lane), the two
 * divisions, the sqrt and the affine step. */
static void test_group_norm_case(int64_t n, int64_t c, int64_t h, int64_t w, int groups, int frames, fr_dtype pdt,
                                 int affine_mode, fr_act act, float lo, float hi)
{
  char what[192];
  snprintf(what, sizeof what, "group_norm N=%lld C=%lld %lldx%lld G=%d F=%d %s affine=%d act=%d", (long long)n,
           (long long)c, (long long)h, (long long)w, groups, frames, fr_dtype_name(pdt), affine_mode, (int)act);
  int64_t xs[4] = {n, c, h, w}, cs[1] = {c};
  fr_tensor x = tensor_new(FR_F32, 4, xs), y = tensor_new(FR_F32, 4, xs), y1 = tensor_new(FR_F32, 4, xs);
  fr_tensor g = tensor_new(pdt, 1, cs), b = tensor_new(pdt, 1, cs);
  tensor_fill(&x, lo, hi);
  tensor_fill(&g, 0.5f, 1.5f);
  tensor_fill(&b, -0.5f, 0.5f);
  const fr_tensor *gp = affine_mode & 1 ? &g : NULL, *bp = affine_mode & 2 ? &b : NULL;
  float eps = 1e-5f;
  CHECK_OK(fr_group_norm(be_2t, &x, gp, bp, groups, frames, eps, act, &y));
  CHECK_OK(fr_group_norm(be_1t, &x, gp, bp, groups, frames, eps, act, &y1));
  check_same_bits(what, (float *)y.data, (float *)y1.data, (long)fr_tensor_numel(&x));

  const float *xd = (const float *)x.data, *yd = (const float *)y.data;
  int64_t cpg = c / groups, block = cpg * h * w, fstride = c * h * w;
  for (int64_t run = 0; run < n / frames; run++)
    for (int64_t gi = 0; gi < groups; gi++) {
      int64_t first = run * frames * fstride + gi * block;
      float s = 0.0f, q = 0.0f;
      double s64 = 0.0, q64 = 0.0, cnt = (double)(frames * block);
      for (int64_t f = 0; f < frames; f++) s = s + lit_sum(xd + first + f * fstride, block, 0, 0.0f);
      float mean = s / (float)(frames * block);
      for (int64_t f = 0; f < frames; f++) q = q + lit_sum(xd + first + f * fstride, block, 1, mean);
      float rstd = fr_drsqrt(q / (float)(frames * block) + eps);
      for (int64_t f = 0; f < frames; f++)
        for (int64_t i = 0; i < block; i++) s64 += xd[first + f * fstride + i];
      double mu = s64 / cnt, mad = 0.0;
      for (int64_t f = 0; f < frames; f++)
        for (int64_t i = 0; i < block; i++) {
          double dv = xd[first + f * fstride + i] - mu;
          q64 += dv * dv;
          mad += fabs(dv);
        }
      double sigma = sqrt(q64 / cnt + eps);
      mad /= cnt;
      for (int64_t f = 0; f < frames; f++)
        for (int64_t i = 0; i < block; i++) {
          int64_t idx = first + f * fstride + i, ch = gi * cpg + i / (h * w);
          float v = affine((xd[idx] - mean) * rstd, gp, bp, ch);
          if (act == FR_ACT_SILU) v = fr_dsilu(v);
          if (memcmp(&v, &yd[idx], 4) != 0) {
            CHECK(0, "%s: y[%lld] = %.9g, the definition gives %.9g", what, (long long)idx, (double)yd[idx], (double)v);
            goto done;
          }
          if (act != FR_ACT_NONE) continue;
          double t64 = (xd[idx] - mu) / sigma, gv = gp ? tensor_get(gp, ch) : 1.0, bv = bp ? tensor_get(bp, ch) : 0.0;
          double y64 = t64 * gv + bv;
          double bound = 4.0 * ((double)(frames * block) / 1024.0 + 16.0) * U32 *
                         (fabs(gv) * (fabs(t64) + mad / sigma + 1.0) + fabs(bv));
          if (!bounded(&worst_norm, fabs(yd[idx] - y64), bound)) {
            CHECK(0, "%s: y[%lld] = %.9g, float64 gives %.9g, beyond the bound %.3g", what, (long long)idx,
                  (double)yd[idx], y64, bound);
            goto done;
          }
        }
    }
  check_count++;
done:
  tensor_free(&x), tensor_free(&y), tensor_free(&y1), tensor_free(&g), tensor_free(&b);
}

static void test_layer_norm_case(int64_t rows, int64_t dim, fr_dtype pdt, float lo, float hi)
{
  char what[128];
  snprintf(what, sizeof what, "layer_norm rows=%lld dim=%lld %s", (long long)rows, (long long)dim, fr_dtype_name(pdt));
  int64_t ds[1] = {dim};
  fr_tensor x = tensor_new2(FR_F32, rows, dim), y = tensor_new2(FR_F32, rows, dim), y1 = tensor_new2(FR_F32, rows, dim);
  fr_tensor g = tensor_new(pdt, 1, ds), b = tensor_new(pdt, 1, ds);
  tensor_fill(&x, lo, hi);
  tensor_fill(&g, 0.5f, 1.5f);
  tensor_fill(&b, -0.5f, 0.5f);
  float eps = 1e-5f;
  CHECK_OK(fr_layer_norm(be_2t, &x, &g, &b, eps, &y));
  CHECK_OK(fr_layer_norm(be_1t, &x, &g, &b, eps, &y1));
  check_same_bits(what, (float *)y.data, (float *)y1.data, (long)(rows * dim));
  const float *xd = (const float *)x.data, *yd = (const float *)y.data;
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = xd + r * dim;
    float mean = lit_sum(xr, dim, 0, 0.0f) / (float)dim;
    float rstd = fr_drsqrt(lit_sum(xr, dim, 1, mean) / (float)dim + eps);
    double mu = 0.0, var = 0.0, mad = 0.0;
    for (int64_t i = 0; i < dim; i++) mu += xr[i];
    mu /= (double)dim;
    for (int64_t i = 0; i < dim; i++) {
      var += (xr[i] - mu) * (xr[i] - mu);
      mad += fabs(xr[i] - mu);
    }
    double sigma = sqrt(var / (double)dim + eps);
    mad /= (double)dim;
    for (int64_t i = 0; i < dim; i++) {
      float v = fmaf((xr[i] - mean) * rstd, tensor_get(&g, i), tensor_get(&b, i));
      float got = yd[r * dim + i];
      if (memcmp(&v, &got, 4) != 0) {
        CHECK(0, "%s: y[%lld][%lld] = %.9g, the definition gives %.9g", what, (long long)r, (long long)i, (double)got,
              (double)v);
        goto done;
      }
      double t64 = (xr[i] - mu) / sigma, gv = tensor_get(&g, i), bv = tensor_get(&b, i);
      double bound =
          4.0 * ((double)dim / 1024.0 + 16.0) * U32 * (fabs(gv) * (fabs(t64) + mad / sigma + 1.0) + fabs(bv));
      if (!bounded(&worst_norm, fabs(got - (t64 * gv + bv)), bound)) {
        CHECK(0, "%s: y[%lld][%lld] beyond the float64 bound", what, (long long)r, (long long)i);
        goto done;
      }
    }
  }
  check_count++;
done:
  tensor_free(&x), tensor_free(&y), tensor_free(&y1), tensor_free(&g), tensor_free(&b);
}

static void test_norms(void)
{
  test_group_norm_case(2, 8, 3, 5, 4, 1, FR_F32, 3, FR_ACT_NONE, -2, 2);
  test_group_norm_case(4, 64, 16, 16, 4, 1, FR_F32, 3, FR_ACT_NONE, -1, 3); /* 4096 values per group */
  test_group_norm_case(6, 32, 4, 4, 32, 3, FR_F16, 3, FR_ACT_SILU, -2, 2);  /* cross-frame, 2 videos */
  test_group_norm_case(8, 64, 9, 7, 32, 8, FR_BF16, 3, FR_ACT_NONE, 0, 4);  /* cross-frame, one video */
  test_group_norm_case(3, 6, 2, 2, 3, 1, FR_F32, 1, FR_ACT_NONE, -2, 2);    /* gamma only */
  test_group_norm_case(3, 6, 2, 2, 3, 1, FR_F32, 2, FR_ACT_NONE, -2, 2);    /* beta only */
  test_group_norm_case(3, 6, 2, 2, 3, 3, FR_F32, 0, FR_ACT_SILU, -2, 2);    /* neither */
  test_layer_norm_case(7, 1, FR_F32, -1, 1);
  test_layer_norm_case(77, 320, FR_F32, -2, 2);
  test_layer_norm_case(33, 1024, FR_F16, -1, 3);
  test_layer_norm_case(5, 1500, FR_BF16, -2, 2);

  /* Hand-checked: [1, 2, 3, 4], one group, eps 0: mean 2.5, var 1.25 -> t = (x - 2.5) / sqrt(1.25). */
  float xv[4] = {1, 2, 3, 4}, yv[4];
  static const double want[4] = {-1.3416407864998738, -0.4472135954999579, 0.4472135954999579, 1.3416407864998738};
  fr_tensor x = fr_tensor_make(FR_F32, xv, 3, (int64_t)1, (int64_t)1, (int64_t)4);
  fr_tensor y = fr_tensor_make(FR_F32, yv, 3, (int64_t)1, (int64_t)1, (int64_t)4);
  CHECK_OK(fr_group_norm(be_2t, &x, NULL, NULL, 1, 1, 0.0f, FR_ACT_NONE, &y));
  for (int i = 0; i < 4; i++) CHECK(ulp_error(yv[i], want[i]) <= 1.0, "group_norm hand case [%d]: %.9g", i, yv[i]);
  fr_tensor xl = fr_tensor_make(FR_F32, xv, 2, (int64_t)1, (int64_t)4);
  fr_tensor yl = fr_tensor_make(FR_F32, yv, 2, (int64_t)1, (int64_t)4);
  CHECK_OK(fr_layer_norm(be_2t, &xl, NULL, NULL, 0.0f, &yl));
  for (int i = 0; i < 4; i++) CHECK(ulp_error(yv[i], want[i]) <= 1.0, "layer_norm hand case [%d]: %.9g", i, yv[i]);
}

/* Softmax bound: relative error <= (n/1024 + 24 + |x - max|) u per element: the sum, exp, the division,
 * and the rounding of the argument x - max (an absolute error of |x - max| u in the exponent). */
static void test_softmax_case(int64_t rows, int64_t cols, float lo, float hi)
{
  char what[96];
  snprintf(what, sizeof what, "softmax rows=%lld cols=%lld", (long long)rows, (long long)cols);
  fr_tensor x = tensor_new2(FR_F32, rows, cols), y = tensor_new2(FR_F32, rows, cols),
            y1 = tensor_new2(FR_F32, rows, cols);
  tensor_fill(&x, lo, hi);
  CHECK_OK(fr_softmax(be_2t, &x, &y));
  CHECK_OK(fr_softmax(be_1t, &x, &y1));
  check_same_bits(what, (float *)y.data, (float *)y1.data, (long)(rows * cols));
  const float *xd = (const float *)x.data, *yd = (const float *)y.data;
  float *p = (float *)malloc(sizeof(float) * (size_t)cols);
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = xd + r * cols;
    float m = -INFINITY;
    double m64 = -INFINITY, l64 = 0.0;
    for (int64_t j = 0; j < cols; j++) m = xr[j] > m ? xr[j] : m;
    for (int64_t j = 0; j < cols; j++) p[j] = fr_dexp(xr[j] - m);
    float l = lit_sum(p, cols, 0, 0.0f);
    m64 = m;
    for (int64_t j = 0; j < cols; j++) l64 += exp(xr[j] - m64);
    for (int64_t j = 0; j < cols; j++) {
      float v = p[j] / l, got = yd[r * cols + j];
      if (memcmp(&v, &got, 4) != 0) {
        CHECK(0, "%s: y[%lld][%lld] = %.9g, the definition gives %.9g", what, (long long)r, (long long)j, got, v);
        goto done;
      }
      double y64 = exp(xr[j] - m64) / l64, bound = ((double)cols / 1024.0 + 24.0 + fabs(xr[j] - m64)) * U32 * y64;
      if (!bounded(&worst_softmax, fabs(got - y64), bound)) {
        CHECK(0, "%s: y[%lld][%lld] = %.9g, float64 %.9g, beyond %.3g", what, (long long)r, (long long)j, got, y64,
              bound);
        goto done;
      }
    }
  }
  check_count++;
done:
  free(p);
  tensor_free(&x), tensor_free(&y), tensor_free(&y1);
}

static void test_softmax(void)
{
  test_softmax_case(3, 1, -1, 1);
  test_softmax_case(20, 5, -3, 3);
  test_softmax_case(17, 1024, -8, 8);
  test_softmax_case(4, 3000, -20, 20);
  float xv[3] = {1, 2, 3}, yv[3];
  static const double want[3] = {0.09003057317038046, 0.24472847105479767, 0.6652409557748219};
  fr_tensor x = fr_tensor_make(FR_F32, xv, 1, (int64_t)3), y = fr_tensor_make(FR_F32, yv, 1, (int64_t)3);
  CHECK_OK(fr_softmax(be_2t, &x, &y));
  for (int i = 0; i < 3; i++) CHECK(ulp_error(yv[i], want[i]) <= 4.0, "softmax hand case [%d]: %.9g", i, yv[i]);
}

/* Attention bound versus float64: each score's dot-product error moves its weight by at most
 * delta = gamma_dk * scale * max_j sum_d |q_d k_jd| (relative), so |y - y64| <=
 * (4 delta + (Lk + 40) u) * max|v|, which also covers exp, the running sum, the weighted sum and the
 * final division. */
static void test_attention_case(int64_t bk, int kv_group, int64_t lq, int64_t lk, int heads, int64_t dk, int64_t dv,
                                int causal)
{
  char what[160];
  snprintf(what, sizeof what, "attention Bk=%lld group=%d Lq=%lld Lk=%lld H=%d dk=%lld dv=%lld causal=%d",
           (long long)bk, kv_group, (long long)lq, (long long)lk, heads, (long long)dk, (long long)dv, causal);
  int64_t bq = bk * kv_group;
  int64_t qs[3] = {bq, lq, heads * dk}, ks[3] = {bk, lk, heads * dk}, vs[3] = {bk, lk, heads * dv},
          ys[3] = {bq, lq, heads * dv};
  fr_tensor q = tensor_new(FR_F32, 3, qs), k = tensor_new(FR_F32, 3, ks), v = tensor_new(FR_F32, 3, vs);
  fr_tensor y = tensor_new(FR_F32, 3, ys), y1 = tensor_new(FR_F32, 3, ys);
  tensor_fill(&q, -1, 1);
  tensor_fill(&k, -1, 1);
  tensor_fill(&v, -2, 2);
  fr_attn_params p = {heads, 1.0f / fr_dsqrt((float)dk), causal, kv_group};
  CHECK_OK(fr_attention(be_2t, &q, &k, &v, &p, &y));
  CHECK_OK(fr_attention(be_1t, &q, &k, &v, &p, &y1));
  check_same_bits(what, (float *)y.data, (float *)y1.data, (long)fr_tensor_numel(&y));
  const float *qd = (const float *)q.data, *kd = (const float *)k.data, *vd = (const float *)v.data;
  const float *yd = (const float *)y.data;
  float *s = (float *)malloc(sizeof(float) * (size_t)lk);
  double *s64 = (double *)malloc(sizeof(double) * (size_t)lk);
  for (int64_t b = 0; b < bq; b++)
    for (int h = 0; h < heads; h++)
      for (int64_t i = 0; i < lq; i++) {
        const float *qi = qd + (b * lq + i) * heads * dk + h * dk;
        int64_t keys = causal ? i + 1 : lk, kb = b / kv_group;
        float m = -INFINITY, l = 0.0f;
        double m64 = -INFINITY, l64 = 0.0, qkmax = 0.0, vmax = 0.0;
        for (int64_t j = 0; j < keys; j++) {
          const float *kj = kd + (kb * lk + j) * heads * dk + h * dk;
          float acc = 0.0f;
          double a64 = 0.0, mag = 0.0;
          for (int64_t c = 0; c < dk; c++) {
            acc = fmaf(qi[c], kj[c], acc);
            a64 += (double)qi[c] * kj[c];
            mag += fabs((double)qi[c] * kj[c]);
          }
          s[j] = acc * p.scale;
          s64[j] = a64 * p.scale;
          m = s[j] > m ? s[j] : m;
          m64 = s64[j] > m64 ? s64[j] : m64;
          qkmax = mag > qkmax ? mag : qkmax;
        }
        for (int64_t j = 0; j < keys; j++) {
          s[j] = fr_dexp(s[j] - m);
          l = l + s[j];
          s64[j] = exp(s64[j] - m64);
          l64 += s64[j];
        }
        double delta = (double)dk * U32 / (1.0 - (double)dk * U32) * p.scale * qkmax;
        for (int64_t c = 0; c < dv; c++) {
          float o = 0.0f;
          double o64 = 0.0;
          for (int64_t j = 0; j < keys; j++) {
            float vv = vd[(kb * lk + j) * heads * dv + h * dv + c];
            o = fmaf(s[j], vv, o);
            o64 += s64[j] * vv;
            vmax = fabs(vv) > vmax ? fabs(vv) : vmax;
          }
          float want = o / l, got = yd[(b * lq + i) * heads * dv + h * dv + c];
          if (memcmp(&want, &got, 4) != 0) {
            CHECK(0, "%s: y[%lld][%lld][%lld] = %.9g, the definition gives %.9g", what, (long long)b, (long long)i,
                  (long long)(h * dv + c), got, want);
            goto done;
          }
          double bound = (4.0 * delta + ((double)keys + 40.0) * U32) * vmax;
          if (!bounded(&worst_attn, fabs(got - o64 / l64), bound)) {
            CHECK(0, "%s: y[%lld][%lld] = %.9g, float64 %.9g, beyond %.3g", what, (long long)b, (long long)i, got,
                  o64 / l64, bound);
            goto done;
          }
        }
      }
  check_count++;
done:
  free(s), free(s64);
  tensor_free(&q), tensor_free(&k), tensor_free(&v), tensor_free(&y), tensor_free(&y1);
}

static void test_attention(void)
{
  test_attention_case(2, 1, 16, 16, 2, 64, 64, 0);   /* temporal: F tokens */
  test_attention_case(2, 3, 9, 77, 3, 8, 8, 0);      /* cross-attention: text rows shared by frames */
  test_attention_case(2, 1, 77, 77, 4, 16, 16, 1);   /* CLIP: causal */
  test_attention_case(1, 1, 40, 40, 1, 512, 512, 0); /* VAE mid-block: one head of 512 */
  test_attention_case(1, 2, 100, 300, 2, 64, 32, 0); /* long keys, dk != dv */
  test_attention_case(1, 1, 1, 1, 1, 1, 1, 0);

  /* Hand-checked: equal scores average the values; causal row 0 sees only key 0. */
  float qv[4] = {1, 0, 1, 0}, kv[4] = {0, 1, 0, 1}, vv[4] = {1, 2, 3, 4}, yv[4];
  fr_tensor q = fr_tensor_make(FR_F32, qv, 3, (int64_t)1, (int64_t)2, (int64_t)2);
  fr_tensor k = fr_tensor_make(FR_F32, kv, 3, (int64_t)1, (int64_t)2, (int64_t)2);
  fr_tensor v = fr_tensor_make(FR_F32, vv, 3, (int64_t)1, (int64_t)2, (int64_t)2);
  fr_tensor y = fr_tensor_make(FR_F32, yv, 3, (int64_t)1, (int64_t)2, (int64_t)2);
  fr_attn_params p = {1, 0.5f, 0, 1};
  CHECK_OK(fr_attention(be_2t, &q, &k, &v, &p, &y));
  static const float avg[4] = {2, 3, 2, 3}, causal[4] = {1, 2, 2, 3};
  check_same_bits("attention hand case", avg, yv, 4);
  p.causal = 1;
  CHECK_OK(fr_attention(be_2t, &q, &k, &v, &p, &y));
  check_same_bits("causal attention hand case", causal, yv, 4);
}

/* Frame-sharded GroupNorm: each "rank" holds some frames of every video, computes per-frame partial
 * sums, the partials are combined in frame order, and every rank applies the statistics to its frames;
 * the result must be the fused cross-frame GroupNorm to the bit, for even and uneven splits. */
static void test_group_norm_pieces(int videos, int frames, const int *split, int nsplit, int groups, fr_act act)
{
  int64_t c = 8, h = 3, w = 5, n = (int64_t)videos * frames, xs[4] = {n, c, h, w}, cs[1] = {c};
  fr_tensor x = tensor_new(FR_F32, 4, xs), want = tensor_new(FR_F32, 4, xs), got = tensor_new(FR_F32, 4, xs);
  fr_tensor g = tensor_new(FR_F32, 1, cs), b = tensor_new(FR_F32, 1, cs);
  tensor_fill(&x, -1.0f, 3.0f), tensor_fill(&g, 0.5f, 1.5f), tensor_fill(&b, -0.5f, 0.5f);
  float eps = 1e-5f;
  CHECK_OK(fr_group_norm(be_2t, &x, &g, &b, groups, frames, eps, act, &want));
  int64_t per = c * h * w, block = c / groups * h * w;
  float *sums = (float *)calloc((size_t)(n * groups), sizeof(float)),
        *mean = (float *)calloc((size_t)(n * groups), sizeof(float));
  float *rstd = (float *)calloc((size_t)(n * groups), sizeof(float));
  /* a piece: rank r's frames of video v, gathered contiguously as its own [frames_r, C, H, W] tensor */
  for (int pass = 0; pass < 3; pass++) {
    int f0 = 0;
    for (int r = 0; r < nsplit; f0 += split[r++])
      for (int v = 0; v < videos; v++) {
        int64_t ps[4] = {split[r], c, h, w}, ss[2] = {split[r], groups};
        fr_tensor piece = fr_tensor_make_dims(FR_F32, (float *)x.data + ((int64_t)v * frames + f0) * per, 4, ps);
        fr_tensor out = fr_tensor_make_dims(FR_F32, (float *)got.data + ((int64_t)v * frames + f0) * per, 4, ps);
        fr_tensor st = fr_tensor_make_dims(FR_F32, sums + ((int64_t)v * frames + f0) * groups, 2, ss);
        fr_tensor mu = fr_tensor_make_dims(FR_F32, mean + ((int64_t)v * frames + f0) * groups, 2, ss);
        fr_tensor rs = fr_tensor_make_dims(FR_F32, rstd + ((int64_t)v * frames + f0) * groups, 2, ss);
        if (pass == 0) CHECK_OK(fr_group_norm_partials(be_1t, &piece, groups, NULL, &st));
        if (pass == 1) CHECK_OK(fr_group_norm_partials(be_2t, &piece, groups, &mu, &st));
        if (pass == 2) CHECK_OK(fr_group_norm_apply(be_2t, &piece, &g, &b, groups, &mu, &rs, act, &out));
      }
    if (pass == 2) break;
    for (int v = 0; v < videos; v++) /* combine in frame order, as the fused kernel does */
      for (int gi = 0; gi < groups; gi++) {
        float acc = 0.0f, count = (float)((int64_t)frames * block);
        for (int f = 0; f < frames; f++) acc = acc + sums[((int64_t)v * frames + f) * groups + gi];
        for (int f = 0; f < frames; f++) {
          int64_t at = ((int64_t)v * frames + f) * groups + gi;
          if (pass == 0) mean[at] = acc / count;
          else rstd[at] = fr_drsqrt(acc / count + eps);
        }
      }
  }
  char what[128];
  snprintf(what, sizeof what, "group_norm pieces: %d videos, %d frames in %d pieces, act %d", videos, frames, nsplit,
           (int)act);
  check_same_bits(what, (const float *)want.data, (const float *)got.data, (long)fr_tensor_numel(&x));
  free(sums), free(mean), free(rstd);
  tensor_free(&x), tensor_free(&want), tensor_free(&got), tensor_free(&g), tensor_free(&b);
}

static void test_group_norm_piece_errors(void)
{
  int64_t xs[4] = {2, 8, 2, 2}, bad[2] = {2, 3}, good[2] = {2, 4};
  fr_tensor x = tensor_new(FR_F32, 4, xs), s3 = tensor_new(FR_F32, 2, bad), s4 = tensor_new(FR_F32, 2, good);
  CHECK(fr_group_norm_partials(be_1t, &x, 4, NULL, &s3) == FR_EINVAL && strstr(fr_last_error(), "out"),
        "partials into a [2, 3] for 4 groups: %s", fr_last_error());
  CHECK(fr_group_norm_partials(be_1t, &x, 3, NULL, &s4) == FR_EINVAL, "8 channels in 3 groups: %s", fr_last_error());
  CHECK(fr_group_norm_apply(be_1t, &x, NULL, NULL, 4, &s4, &s3, FR_ACT_NONE, &x) == FR_EINVAL &&
            strstr(fr_last_error(), "rstd"),
        "apply with a wrong rstd shape: %s", fr_last_error());
  CHECK(fr_group_norm_apply(be_1t, &x, NULL, NULL, 4, &s4, &s4, FR_ACT_GELU, &x) == FR_EINVAL, "apply with GELU");
  tensor_free(&x), tensor_free(&s3), tensor_free(&s4);
}

int main(void)
{
  backends_open();
  test_norms();
  int even[2] = {4, 4}, uneven[3] = {3, 3, 2}, one[1] = {8}, singles[4] = {1, 2, 4, 1};
  test_group_norm_pieces(2, 8, even, 2, 4, FR_ACT_SILU);
  test_group_norm_pieces(2, 8, uneven, 3, 2, FR_ACT_NONE);
  test_group_norm_pieces(1, 8, one, 1, 8, FR_ACT_SILU);
  test_group_norm_pieces(3, 8, singles, 4, 1, FR_ACT_NONE);
  test_group_norm_piece_errors();
  test_softmax();
  test_attention();
  printf("largest error / bound seen: norms %.4f, softmax %.4f, attention %.4f\n", worst_norm, worst_softmax,
         worst_attn);
  backends_close();
  return check_done("test_norm_attention");
}
