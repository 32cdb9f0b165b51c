/* The exact-integer profile i8x-v1 on the CPU: its two roundings (fractal/i8x.h) against float64 /
 * long double evaluations, and the four GEMM-class ops against the definition written out again here
 * (the test's own quantizer in double arithmetic, int64 sums, one long double rounding), bit for bit, with
 * 1 and 2 threads and with the AVX2 and the plain integer kernels; special values (NaN, infinities,
 * zeros, subnormals); the error against a float64 product of the unquantized operands within the
 * quantization bound. */
#include <math.h>
#include <string.h>

#include "fractal/act.h"
#include "fractal/dmath.h"
#include "fractal/i8x.h"
#include "testutil.h"

void fr_idot_force_generic(int on); /* kernels/cpu/idot.h */

#define B FR_I8X_BITS

/* ---- the definition, a second time: doubles and long doubles instead of bits ---- */

static int ref_exponent(const float *v, int64_t n, int64_t stride)
{
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(v[i * stride])) return FR_I8X_NONFINITE;
    m = fmax(m, fabs((double)v[i * stride]));
  }
  if (m == 0) return 0;
  int e = -160;
  while (!(m < ldexp(1.0, e))) e++;
  return e;
}

static int32_t ref_quantize(float v, int e, int bits)
{
  double s = nearbyint(ldexp((double)v, bits - e)), top = ldexp(1.0, bits) - 1;
  return (int32_t)(s > top ? top : s < -top ? -top : s);
}

static float ref_round(int64_t s, int p) { return (float)ldexpl((long double)s, p); }

static float ref_dot(const float *a, int64_t as, const float *b, int64_t bs, int64_t k, int bits)
{
  int ea = ref_exponent(a, k, as), eb = ref_exponent(b, k, bs);
  if (ea == FR_I8X_NONFINITE || eb == FR_I8X_NONFINITE) return NAN;
  int64_t s = 0;
  for (int64_t i = 0; i < k; i++) s += (int64_t)ref_quantize(a[i * as], ea, bits) * ref_quantize(b[i * bs], eb, bits);
  return ref_round(s, ea + eb - 2 * bits);
}

/* ---- the primitives ---- */

static void test_primitives(void)
{
  struct {
    uint32_t bits;
    int32_t e;
  } ex[] = {{0, 0},
            {0x3f800000u, 1},
            {0x3f7fffffu, 0},
            {0x3f400000u, 0},
            {1, -148},
            {0x007fffffu, -126},
            {0x00800000u, -125},
            {0x7f7fffffu, 128},
            {0x7f800000u, FR_I8X_NONFINITE},
            {0x7fc00000u, FR_I8X_NONFINITE}};
  for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++)
    CHECK(fr_i8x_exponent(ex[i].bits) == ex[i].e, "exponent of 0x%08x: %d, want %d", ex[i].bits,
          fr_i8x_exponent(ex[i].bits), ex[i].e);
  /* ties to even, the clamp, signs, subnormal scales */
  CHECK(fr_i8x_quantize(2.5f, B, B) == 2 && fr_i8x_quantize(3.5f, B, B) == 4 && fr_i8x_quantize(-2.5f, B, B) == -2,
        "ties must round to even");
  CHECK(fr_i8x_quantize(0x1.fffffep-1f, 0, B) == (1 << B) - 1 && fr_i8x_quantize(-0x1.fffffep-1f, 0, B) == 1 - (1 << B),
        "a value that rounds up to 2^B must clamp to 2^B - 1");
  CHECK(fr_i8x_quantize(-0.0f, 3, B) == 0 && fr_i8x_quantize(0x1p-149f, -148, B) == 1 << (B - 1),
        "zero and the smallest subnormal");
  CHECK(fr_i8x_round(3, -151) == 0x1p-149f && fr_i8x_round(1, -150) == 0.0f && fr_i8x_round(-1, 200) == -INFINITY,
        "subnormal ties and overflow");
  CHECK(isnan(fr_i8x_dot_result(5, FR_I8X_NONFINITE, 0, B)) && fr_i8x_dot_result(0, 3, 4, B) == 0.0f &&
            !signbit(fr_i8x_dot_result(0, 3, 4, B)),
        "a non-finite operand gives NaN, a zero sum +0");
  /* random floats of every magnitude against the double evaluation */
  long bad_q = 0, bad_r = 0;
  rng_seed(17);
  for (int t = 0; t < 2000000; t++) {
    uint32_t u = (uint32_t)rng_next();
    float v = fr_f32_from_bits(u & 0xff7fffffu); /* finite: the top exponent bit cleared */
    int e = fr_i8x_exponent(fr_i8x_absbits(v)) + rng_int(0, 3);
    int bits = rng_int(FR_I8X_MIN_BITS, FR_I8X_MAX_BITS);
    if (fr_i8x_quantize(v, e, bits) != ref_quantize(v, e, bits)) bad_q++;
    int64_t s = (int64_t)(rng_next() >> rng_int(1, 63)) * (rng_next() & 1 ? 1 : -1);
    int p = rng_int(-340, 100);
    uint32_t got = fr_f32_bits(fr_i8x_round(s, p)), want = fr_f32_bits(ref_round(s, p));
    if (got != want) bad_r++;
  }
  /* exact ties of the final rounding at every exponent: s = odd * 2^j + 2^(j-1) patterns */
  for (int j = 1; j < 39; j++) /* (2^24 + 2) 2^38 stays below 2^63 */
    for (int64_t m = (1 << 24) - 3; m < (1 << 24) + 3; m++) {
      int64_t s = (m << j) + ((int64_t)1 << (j - 1));
      for (int p = -200; p <= 110; p += 7)
        if (fr_f32_bits(fr_i8x_round(s, p)) != fr_f32_bits(ref_round(s, p))) bad_r++;
    }
  CHECK(bad_q == 0, "%ld quantized values differ from round-half-even in double", bad_q);
  CHECK(bad_r == 0, "%ld roundings of s * 2^p differ from the long double rounding", bad_r);
}

/* ---- the ops ---- */

static void check_everywhere(const char *what, fr_status (*fn)(fr_backend *, void *, fr_tensor *), void *ctx,
                             const float *want, fr_tensor *y)
{
  int64_t n = fr_tensor_numel(y);
  fr_tensor y1 = tensor_new(FR_F32, y->ndim, y->shape);
  char buf[200];
  CHECK_OK(fn(be_2t, ctx, y));
  snprintf(buf, sizeof buf, "%s: against the definition", what);
  check_same_bits(buf, want, (const float *)y->data, (long)n);
  CHECK_OK(fn(be_1t, ctx, &y1));
  snprintf(buf, sizeof buf, "%s: 1 thread vs 2", what);
  check_same_bits(buf, (const float *)y->data, (const float *)y1.data, (long)n);
  fr_idot_force_generic(1);
  CHECK_OK(fn(be_2t, ctx, &y1));
  fr_idot_force_generic(0);
  snprintf(buf, sizeof buf, "%s: plain integer kernel vs dispatched", what);
  check_same_bits(buf, (const float *)y->data, (const float *)y1.data, (long)n);
  tensor_free(&y1);
}

/* A quantized weight on the host, owning its buffers. */
static fr_qweight qweight_of(const fr_tensor *w, int bits)
{
  fr_qweight q = {tensor_new(FR_I16, w->ndim, w->shape), tensor_new(FR_I32, 1, w->shape), bits};
  CHECK_OK(fr_i8x_quantize_weight(w, bits, (int16_t *)q.q.data, (int32_t *)q.e.data));
  return q;
}

static void qweight_free(fr_qweight *q)
{
  tensor_free(&q->q);
  tensor_free(&q->e);
}

static void widen(const fr_tensor *t, float *out) { fr_widen_f32(t->dtype, t->data, out, fr_tensor_numel(t)); }

/* Plants special values: a NaN, an infinity, a zero row, subnormals, and -0 in a row of zeros and -0. */
static void plant_specials(float *x, int64_t rows, int64_t k)
{
  if (rows < 6) return;
  x[0 * k + k / 2] = NAN;
  x[1 * k] = -INFINITY;
  for (int64_t i = 0; i < k; i++) x[2 * k + i] = 0.0f;
  for (int64_t i = 0; i < k; i++) x[3 * k + i] = (i % 3 ? 1.0f : -1.0f) * 0x1p-140f * (float)(i + 1);
  for (int64_t i = 0; i < k; i++) x[4 * k + i] = i % 2 ? -0.0f : 0.0f;
  if (rows > 6)
    for (int64_t i = 0; i < k; i++) x[6 * k + i] = (i % 2 ? -0x1.fffffep127f : 0x1.8p126f) / (float)(i + 1);
}

typedef struct lin_case {
  fr_tensor *x, *b, *r;
  fr_qweight *w;
  fr_act act;
} lin_case;

static fr_status run_lin(fr_backend *be, void *ctx, fr_tensor *y)
{
  lin_case *c = (lin_case *)ctx;
  return fr_linear_i8x(be, c->x, c->w, c->b, c->act, c->r, y);
}

static double worst_ratio; /* largest |i8x - float64| / quantization bound */

static void test_linear(int64_t m, int64_t k, int64_t n, fr_dtype wdt, fr_act act, int specials)
{
  char what[160];
  snprintf(what, sizeof what, "linear_i8x M=%lld K=%lld N=%lld w=%s act=%d specials=%d", (long long)m, (long long)k,
           (long long)n, fr_dtype_name(wdt), (int)act, specials);
  fr_tensor x = tensor_new2(FR_F32, m, k), w = tensor_new2(wdt, n, k), y = tensor_new2(FR_F32, m, n);
  int64_t bn[1] = {n};
  fr_tensor b = tensor_new(FR_F16, 1, bn), r = tensor_new2(FR_F32, m, n);
  tensor_fill(&x, -3, 3);
  tensor_fill(&w, -0.2f, 0.2f);
  tensor_fill(&b, -1, 1);
  tensor_fill(&r, -1, 1);
  float *xv = (float *)x.data, *wv = (float *)malloc(sizeof(float) * (size_t)(n * k));
  if (specials) plant_specials(xv, m, k);
  widen(&w, wv);
  fr_qweight q = qweight_of(&w, B);
  float *want = (float *)malloc(sizeof(float) * (size_t)(m * n));
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      float v = ref_dot(xv + i * k, 1, wv + j * k, 1, k, B) + tensor_get(&b, j);
      v = fr_act_apply(act, v);
      want[i * n + j] = v + ((float *)r.data)[i * n + j];
      if (!specials) { /* against the float64 product of the unquantized operands, before the epilogue */
        double exact = 0, bound = 0;
        int ex = ref_exponent(xv + i * k, k, 1), ew = ref_exponent(wv + j * k, k, 1);
        for (int64_t kk = 0; kk < k; kk++) exact += (double)xv[i * k + kk] * wv[j * k + kk];
        /* each quantized value is within half a step, 2^(e - B - 1), of its float; plus the final rounding */
        for (int64_t kk = 0; kk < k; kk++)
          bound += ldexp(1.0, ex - B - 1) * (fabs(wv[j * k + kk]) + ldexp(1.0, ew - B - 1)) +
                   ldexp(1.0, ew - B - 1) * fabs(xv[i * k + kk]);
        double got = ref_dot(xv + i * k, 1, wv + j * k, 1, k, B);
        bound += fabs(exact) * U32 + 1e-300;
        double err = fabs(got - exact);
        if (err / bound > worst_ratio) worst_ratio = err / bound;
        CHECK(err <= bound, "%s: (%lld, %lld) error %g above the bound %g", what, (long long)i, (long long)j, err,
              bound);
      }
    }
  lin_case c = {&x, &b, &r, &q, act};
  check_everywhere(what, run_lin, &c, want, &y);
  if (specials) {
    const float *yv = (const float *)y.data;
    CHECK(isnan(yv[0]) && isnan(yv[n - 1]) && isnan(yv[n]) && !isnan(yv[5 * n]), "%s: NaN and inf rows give NaN", what);
  }
  free(want), free(wv);
  qweight_free(&q);
  tensor_free(&x), tensor_free(&w), tensor_free(&y), tensor_free(&b), tensor_free(&r);
}

typedef struct conv_case {
  fr_tensor *x, *b, *r;
  fr_qweight *w;
  int stride, pad, frames;
} conv_case;

static fr_status run_conv(fr_backend *be, void *ctx, fr_tensor *y)
{
  conv_case *c = (conv_case *)ctx;
  if (c->frames) return fr_conv_frames_i8x(be, c->x, c->w, c->b, c->frames, c->r, y);
  return fr_conv2d_i8x(be, c->x, c->w, c->b, c->stride, c->pad, c->r, y);
}

/* conv2d (frames = 0) or the frame conv (frames > 0, kernel 3 x 1 x 1). */
static void test_conv(int64_t n, int64_t cin, int64_t h, int64_t wd, int64_t cout, int kh, int stride, int pad,
                      int frames)
{
  char what[200];
  snprintf(what, sizeof what, "%s N=%lld Cin=%lld %lldx%lld Cout=%lld k=%d s=%d p=%d",
           frames ? "conv_frames_i8x" : "conv2d_i8x", (long long)n, (long long)cin, (long long)h, (long long)wd,
           (long long)cout, kh, stride, pad);
  int64_t xs[4] = {n, cin, h, wd}, ws[5] = {cout, cin, kh, kh, 1}, bs[1] = {cout};
  if (frames) ws[2] = 3, ws[3] = 1, kh = 3, stride = 1, pad = 0;
  int64_t ho = frames ? h : (h + 2 * pad - kh) / stride + 1, wo = frames ? wd : (wd + 2 * pad - kh) / stride + 1;
  int64_t ys[4] = {n, cout, ho, wo}, kk = frames ? 3 * cin : cin * kh * kh;
  fr_tensor x = tensor_new(FR_F32, 4, xs), w = tensor_new(FR_BF16, frames ? 5 : 4, ws), b = tensor_new(FR_F32, 1, bs);
  fr_tensor y = tensor_new(FR_F32, 4, ys), r = tensor_new(FR_F32, 4, ys);
  tensor_fill(&x, -2, 2), tensor_fill(&w, -0.3f, 0.3f), tensor_fill(&b, -1, 1), tensor_fill(&r, -1, 1);
  float *xv = (float *)x.data, *wv = (float *)malloc(sizeof(float) * (size_t)(cout * kk));
  xv[3] = -0.0f, xv[7] = 0x1p-130f; /* a signed zero and a subnormal in the first patches */
  widen(&w, wv);
  fr_qweight q = qweight_of(&w, B);
  float *want = (float *)malloc(sizeof(float) * (size_t)(n * cout * ho * wo)),
        *patch = (float *)malloc(sizeof(float) * (size_t)kk);
  for (int64_t s = 0; s < n; s++)
    for (int64_t oy = 0; oy < ho; oy++)
      for (int64_t ox = 0; ox < wo; ox++) {
        for (int64_t ci = 0; ci < cin; ci++)
          if (frames) {
            for (int t = 0; t < 3; t++) {
              int64_t f = s % frames + t - 1;
              patch[ci * 3 + t] = f < 0 || f >= frames ? 0.0f : xv[(((s + t - 1) * cin + ci) * h + oy) * wd + ox];
            }
          } else {
            for (int ky = 0; ky < kh; ky++)
              for (int kx = 0; kx < kh; kx++) {
                int64_t iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
                patch[(ci * kh + ky) * kh + kx] =
                    iy < 0 || iy >= h || ix < 0 || ix >= wd ? 0.0f : xv[((s * cin + ci) * h + iy) * wd + ix];
              }
          }
        for (int64_t co = 0; co < cout; co++) {
          int64_t at = ((s * cout + co) * ho + oy) * wo + ox;
          float v = ref_dot(patch, 1, wv + co * kk, 1, kk, B) + ((float *)b.data)[co];
          want[at] = v + ((float *)r.data)[at];
        }
      }
  conv_case c = {&x, &b, &r, &q, stride, pad, frames};
  check_everywhere(what, run_conv, &c, want, &y);
  free(want), free(wv), free(patch);
  qweight_free(&q);
  tensor_free(&x), tensor_free(&w), tensor_free(&y), tensor_free(&b), tensor_free(&r);
}

typedef struct attn_case {
  fr_tensor *q, *k, *v;
  fr_attn_params p;
} attn_case;

static fr_status run_attn(fr_backend *be, void *ctx, fr_tensor *y)
{
  attn_case *c = (attn_case *)ctx;
  return fr_attention_i8x(be, c->q, c->k, c->v, &c->p, B, y);
}

static void test_attention(int64_t bk, int group, int64_t lq, int64_t lk, int heads, int64_t dk, int64_t dv, int causal)
{
  char what[200];
  snprintf(what, sizeof what, "attention_i8x Bk=%lld group=%d Lq=%lld Lk=%lld H=%d dk=%lld dv=%lld causal=%d",
           (long long)bk, group, (long long)lq, (long long)lk, heads, (long long)dk, (long long)dv, causal);
  int64_t bq = bk * group, qs[3] = {bq, lq, heads * dk}, ks[3] = {bk, lk, heads * dk}, vs[3] = {bk, lk, heads * dv},
          ys[3] = {bq, lq, heads * dv};
  fr_tensor q = tensor_new(FR_F32, 3, qs), k = tensor_new(FR_F32, 3, ks), v = tensor_new(FR_F32, 3, vs),
            y = tensor_new(FR_F32, 3, ys);
  tensor_fill(&q, -2, 2), tensor_fill(&k, -2, 2), tensor_fill(&v, -1, 1);
  float scale = 1.0f / fr_dsqrt((float)dk);
  float *qv = (float *)q.data, *kv = (float *)k.data, *vv = (float *)v.data;
  float *want = (float *)malloc(sizeof(float) * (size_t)(bq * lq * heads * dv)),
        *s = (float *)malloc(sizeof(float) * (size_t)lk);
  for (int64_t n = 0; n < bq; n++)
    for (int hh = 0; hh < heads; hh++)
      for (int64_t i = 0; i < lq; i++) {
        int64_t kb = n / group, keys = causal ? i + 1 : lk;
        const float *qi = qv + (n * lq + i) * heads * dk + hh * dk;
        float m = -INFINITY, l = 0.0f;
        for (int64_t j = 0; j < lk; j++) s[j] = 0.0f;
        for (int64_t j = 0; j < keys; j++) {
          s[j] = ref_dot(qi, 1, kv + (kb * lk + j) * heads * dk + hh * dk, 1, dk, B) * scale;
          if (s[j] > m) m = s[j];
        }
        for (int64_t j = 0; j < keys; j++) {
          s[j] = fr_dexp(s[j] - m);
          l = l + s[j];
        }
        for (int64_t c = 0; c < dv; c++)
          want[(n * lq + i) * heads * dv + hh * dv + c] =
              ref_dot(s, 1, vv + kb * lk * heads * dv + hh * dv + c, heads * dv, lk, B) / l;
      }
  attn_case c = {&q, &k, &v, {heads, scale, causal, group}};
  check_everywhere(what, run_attn, &c, want, &y);
  free(want), free(s);
  tensor_free(&q), tensor_free(&k), tensor_free(&v), tensor_free(&y);
}

/* Every operand at the largest magnitude, 2^B - 1 after quantization: the integer sums reach their bound
 * (a kernel that sums too long in int32 before widening overflows here, not on random data). */
static void test_extreme_sums(void)
{
  const int64_t m = 6, k = 11520, n = 8;
  fr_tensor x = tensor_new2(FR_F32, m, k), w = tensor_new2(FR_F32, n, k), y = tensor_new2(FR_F32, m, n);
  float top = (float)((1 << B) - 1) / (float)(1 << B), *xv = (float *)x.data, *wv = (float *)w.data;
  for (int64_t i = 0; i < m * k; i++) xv[i] = i / k % 2 ? -top : top;
  for (int64_t i = 0; i < n * k; i++) wv[i] = top;
  fr_qweight q = qweight_of(&w, B);
  float *want = (float *)malloc(sizeof(float) * (size_t)(m * n));
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) want[i * n + j] = ref_dot(xv + i * k, 1, wv + j * k, 1, k, B);
  CHECK(want[0] == (float)((double)k * top * top) && want[n] == -want[0], "the extreme sum is %g", (double)want[0]);
  lin_case c = {&x, NULL, NULL, &q, FR_ACT_NONE};
  check_everywhere("linear_i8x at the largest sums", run_lin, &c, want, &y);
  free(want);
  qweight_free(&q);
  tensor_free(&x), tensor_free(&w), tensor_free(&y);
}

static void test_refusals(void)
{
  fr_tensor x = tensor_new2(FR_F32, 2, 8), w = tensor_new2(FR_F32, 4, 8), y = tensor_new2(FR_F32, 2, 4);
  fr_qweight q = qweight_of(&w, B);
  fr_qweight bad = q;
  bad.bits = 16;
  CHECK(fr_linear_i8x(be_1t, &x, &bad, NULL, FR_ACT_NONE, NULL, &y) == FR_EINVAL, "16 bits must be refused");
  bad = q, bad.q.dtype = FR_F32;
  CHECK(fr_linear_i8x(be_1t, &x, &bad, NULL, FR_ACT_NONE, NULL, &y) == FR_EINVAL, "F32 values must be refused");
  bad = q, bad.e.shape[0] = 3;
  CHECK(fr_linear_i8x(be_1t, &x, &bad, NULL, FR_ACT_NONE, NULL, &y) == FR_EINVAL &&
            strstr(fr_last_error(), "one exponent per row"),
        "mismatched exponents must be refused: %s", fr_last_error());
  fr_tensor y2 = tensor_new2(FR_F32, 2, 5);
  CHECK(fr_linear_i8x(be_1t, &x, &q, NULL, FR_ACT_NONE, NULL, &y2) == FR_EINVAL, "a wrong y shape must be refused");
  CHECK(fr_i8x_quantize_weight(&x, 1, (int16_t *)q.q.data, (int32_t *)q.e.data) == FR_EINVAL, "1 bit must be refused");
  qweight_free(&q);
  tensor_free(&x), tensor_free(&w), tensor_free(&y), tensor_free(&y2);
}

int main(void)
{
  backends_open();
  test_primitives();
  test_refusals();
  test_extreme_sums();
  rng_seed(1);
  test_linear(7, 37, 9, FR_F32, FR_ACT_NONE, 1);
  test_linear(50, 320, 260, FR_F16, FR_ACT_GELU, 0); /* more rows and columns than a task holds */
  test_linear(13, 77, 5, FR_BF16, FR_ACT_SILU, 1);
  test_linear(4, 1280, 64, FR_F32, FR_ACT_NONE, 0);
  test_conv(2, 5, 9, 7, 6, 3, 1, 1, 0);
  test_conv(1, 4, 11, 10, 3, 3, 2, 1, 0);
  test_conv(2, 32, 8, 8, 20, 1, 1, 0, 0);
  test_conv(1, 3, 5, 5, 2, 3, 1, 0, 0);
  test_conv(6, 7, 3, 5, 4, 1, 1, 0, 3); /* two 3-frame videos */
  test_conv(5, 16, 2, 2, 9, 1, 1, 0, 5);
  test_attention(2, 1, 10, 10, 2, 8, 8, 0);
  test_attention(1, 2, 50, 77, 3, 64, 64, 0); /* cross-attention: 77 text keys, two query batches per key batch */
  test_attention(1, 1, 17, 17, 2, 40, 24, 1);
  test_attention(3, 1, 16, 16, 5, 64, 64, 0); /* temporal: 16 frames */
  printf("largest |i8x - float64| / quantization bound seen: %.4f\n", worst_ratio);
  backends_close();
  return check_done("test_i8x");
}
