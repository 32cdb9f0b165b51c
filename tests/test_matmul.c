/* linear, conv2d and conv_frames on the CPU reference: bit-identical to the canonical definition
 * written out literally here (one fp32 accumulator, fmaf over ascending k, +0.0f padding taps), the
 * same bits with 1 and 2 threads and with the portable and the AVX2 micro-kernels, within the
 * classical dot-product error bound of a float64 reference, and hand-checked small cases. */
#include "fractal/dmath.h"
#include "testutil.h"

/* Error bound of an fp32 dot product of K terms plus one bias add (Higham, Thm 3.1 with fma):
 * |fl - exact| <= gamma_{K+1} * (sum |x_k w_k| + |b|), gamma_n = n u / (1 - n u). */
static double gamma_n(int64_t n) { return (double)n * U32 / (1.0 - (double)n * U32); }
static double worst_ratio; /* largest observed error / bound, printed at the end */

static int within_bound(double err, double bound)
{
  if (bound > 0 && err / bound > worst_ratio) worst_ratio = err / bound;
  return err <= bound;
}

static const char *const isas[] = {"generic", "avx2+fma", "avx512f"};

static float apply_act(fr_act act, float v)
{
  return act == FR_ACT_SILU ? fr_dsilu(v) : act == FR_ACT_GELU ? fr_dgelu(v) : v;
}

/* Runs op on both backends (the widest micro-kernels) and on 2 threads with each other micro-kernel set
 * this CPU runs; all must give the same bits. */
typedef fr_status (*run_fn)(fr_backend *be, void *ctx, fr_tensor *y);

static void run_everywhere(const char *what, run_fn fn, void *ctx, fr_tensor *y)
{
  fr_tensor y1 = tensor_new(FR_F32, y->ndim, y->shape), yg = tensor_new(FR_F32, y->ndim, y->shape);
  CHECK_OK(fn(be_2t, ctx, y));
  CHECK_OK(fn(be_1t, ctx, &y1));
  char buf[160];
  snprintf(buf, sizeof buf, "%s: 1 thread vs 2 threads", what);
  check_same_bits(buf, (float *)y->data, (float *)y1.data, (long)fr_tensor_numel(y));
  for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
    if (!fr_cpu_force_isa(isas[i])) continue;
    memset(yg.data, 0xff, sizeof(float) * (size_t)fr_tensor_numel(&yg)); /* NaN: every output must be written */
    CHECK_OK(fn(be_2t, ctx, &yg));
    fr_cpu_force_isa(NULL);
    snprintf(buf, sizeof buf, "%s: %s vs dispatched micro-kernel", what, isas[i]);
    check_same_bits(buf, (float *)y->data, (float *)yg.data, (long)fr_tensor_numel(y));
  }
  tensor_free(&y1);
  tensor_free(&yg);
}

typedef struct linear_case {
  fr_tensor *x, *w, *b, *res;
  fr_act act;
} linear_case;

static fr_status run_linear(fr_backend *be, void *ctx, fr_tensor *y)
{
  linear_case *c = (linear_case *)ctx;
  return fr_linear(be, c->x, c->w, c->b, c->act, c->res, y);
}

static void test_linear_case(int64_t m, int64_t k, int64_t n, fr_dtype wdt, int with_bias, fr_act act, int with_res)
{
  char what[160];
  snprintf(what, sizeof what, "linear M=%lld K=%lld N=%lld w=%s bias=%d act=%d res=%d", (long long)m, (long long)k,
           (long long)n, fr_dtype_name(wdt), with_bias, (int)act, with_res);
  fr_tensor x = tensor_new2(FR_F32, m, k), w = tensor_new2(wdt, n, k), y = tensor_new2(FR_F32, m, n);
  int64_t nb[1] = {n};
  fr_tensor b = tensor_new(wdt, 1, nb), res = tensor_new2(FR_F32, m, n);
  tensor_fill(&x, -2, 2);
  tensor_fill(&w, -1, 1);
  tensor_fill(&b, -1, 1);
  tensor_fill(&res, -1, 1);
  linear_case c = {&x, &w, with_bias ? &b : NULL, with_res ? &res : NULL, act};
  run_everywhere(what, run_linear, &c, &y);

  const float *xd = (const float *)x.data, *yd = (const float *)y.data;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      float acc = 0.0f;
      double exact = 0.0, mag = 0.0;
      for (int64_t kk = 0; kk < k; kk++) {
        float wv = tensor_get(&w, j * k + kk);
        acc = fmaf(xd[i * k + kk], wv, acc);
        exact += (double)xd[i * k + kk] * wv;
        mag += fabs((double)xd[i * k + kk] * wv);
      }
      float v = acc;
      if (with_bias) {
        v = v + tensor_get(&b, j);
        exact += tensor_get(&b, j);
        mag += fabs(tensor_get(&b, j));
      }
      v = apply_act(act, v);
      if (with_res) v = v + ((float *)res.data)[i * n + j];
      uint32_t want, got;
      memcpy(&want, &v, 4);
      memcpy(&got, &yd[i * n + j], 4);
      if (want != got) {
        CHECK(0, "%s: y[%lld][%lld] = %.9g, the definition gives %.9g", what, (long long)i, (long long)j,
              (double)yd[i * n + j], (double)v);
        goto done;
      }
      if (act == FR_ACT_NONE && !with_res) {
        double err = fabs((double)yd[i * n + j] - exact), bound = gamma_n(k + 1) * mag;
        if (!within_bound(err, bound)) {
          CHECK(0, "%s: y[%lld][%lld] error %.3g exceeds the bound %.3g", what, (long long)i, (long long)j, err, bound);
          goto done;
        }
      }
    }
  check_count++;
done:
  tensor_free(&x), tensor_free(&w), tensor_free(&b), tensor_free(&res), tensor_free(&y);
}

static void test_linear(void)
{
  static const int64_t shapes[][3] = {{1, 1, 1},      {7, 13, 5},     {77, 64, 33}, {130, 300, 70},
                                      {103, 257, 53}, {64, 1024, 96}, {6, 16, 16},  {200, 600, 400}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    test_linear_case(shapes[s][0], shapes[s][1], shapes[s][2], FR_F32, 1, FR_ACT_NONE, 0);
  test_linear_case(37, 300, 41, FR_F16, 1, FR_ACT_NONE, 0);
  test_linear_case(37, 300, 41, FR_BF16, 0, FR_ACT_NONE, 0);
  test_linear_case(19, 50, 23, FR_F32, 1, FR_ACT_SILU, 0);
  test_linear_case(19, 50, 23, FR_F16, 1, FR_ACT_GELU, 1);
  test_linear_case(19, 50, 23, FR_F32, 0, FR_ACT_NONE, 1);
  test_linear_case(13, 70, 112, FR_F16, 1, FR_ACT_SILU, 1); /* 7 whole tiles a row (4 + 2 + 1), full epilogue */

  /* Hand-checked: x = [1, 2, 3], w = [[1, 0, -1], [2, 2, 2]], b = [0.5, -1] -> [-1.5, 11]. */
  float xv[3] = {1, 2, 3}, wv[6] = {1, 0, -1, 2, 2, 2}, bv[2] = {0.5f, -1}, yv[2];
  fr_tensor x = fr_tensor_make(FR_F32, xv, 2, (int64_t)1, (int64_t)3);
  fr_tensor w = fr_tensor_make(FR_F32, wv, 2, (int64_t)2, (int64_t)3);
  fr_tensor b = fr_tensor_make(FR_F32, bv, 1, (int64_t)2);
  fr_tensor y = fr_tensor_make(FR_F32, yv, 2, (int64_t)1, (int64_t)2);
  CHECK_OK(fr_linear(be_2t, &x, &w, &b, FR_ACT_NONE, NULL, &y));
  CHECK(yv[0] == -1.5f && yv[1] == 11.0f, "linear hand case: got [%g, %g], want [-1.5, 11]", yv[0], yv[1]);
}

typedef struct conv_case {
  fr_tensor *x, *w, *b, *res;
  int stride, pad, frames;
} conv_case;

static fr_status run_conv2d(fr_backend *be, void *ctx, fr_tensor *y)
{
  conv_case *c = (conv_case *)ctx;
  return fr_conv2d(be, c->x, c->w, c->b, c->stride, c->pad, c->res, y);
}

static void test_conv2d_case(int64_t n, int64_t cin, int64_t h, int64_t w_, int64_t cout, int64_t ks, int stride,
                             int pad, fr_dtype wdt, int with_res)
{
  char what[160];
  snprintf(what, sizeof what, "conv2d N=%lld Cin=%lld %lldx%lld Cout=%lld k=%lld s=%d p=%d w=%s res=%d", (long long)n,
           (long long)cin, (long long)h, (long long)w_, (long long)cout, (long long)ks, stride, pad, fr_dtype_name(wdt),
           with_res);
  int64_t ho = (h + 2 * pad - ks) / stride + 1, wo = (w_ + 2 * pad - ks) / stride + 1;
  int64_t xs[4] = {n, cin, h, w_}, ws[4] = {cout, cin, ks, ks}, ys[4] = {n, cout, ho, wo}, bs[1] = {cout};
  fr_tensor x = tensor_new(FR_F32, 4, xs), w = tensor_new(wdt, 4, ws), b = tensor_new(wdt, 1, bs);
  fr_tensor y = tensor_new(FR_F32, 4, ys), res = tensor_new(FR_F32, 4, ys);
  tensor_fill(&x, -2, 2);
  tensor_fill(&w, -1, 1);
  tensor_fill(&b, -1, 1);
  tensor_fill(&res, -1, 1);
  conv_case c = {&x, &w, &b, with_res ? &res : NULL, stride, pad, 0};
  run_everywhere(what, run_conv2d, &c, &y);

  const float *xd = (const float *)x.data, *yd = (const float *)y.data;
  int64_t k = cin * ks * ks;
  for (int64_t in = 0; in < n; in++)
    for (int64_t co = 0; co < cout; co++)
      for (int64_t oy = 0; oy < ho; oy++)
        for (int64_t ox = 0; ox < wo; ox++) {
          float acc = 0.0f;
          double exact = 0.0, mag = 0.0;
          for (int64_t ci = 0; ci < cin; ci++)
            for (int64_t ky = 0; ky < ks; ky++)
              for (int64_t kx = 0; kx < ks; kx++) {
                int64_t iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
                float xv = (iy >= 0 && iy < h && ix >= 0 && ix < w_) ? xd[((in * cin + ci) * h + iy) * w_ + ix] : 0.0f;
                float wv = tensor_get(&w, ((co * cin + ci) * ks + ky) * ks + kx);
                acc = fmaf(xv, wv, acc);
                exact += (double)xv * wv;
                mag += fabs((double)xv * wv);
              }
          float v = acc + tensor_get(&b, co);
          exact += tensor_get(&b, co);
          mag += fabs(tensor_get(&b, co));
          int64_t yi = ((in * cout + co) * ho + oy) * wo + ox;
          if (with_res) v = v + ((float *)res.data)[yi];
          if (memcmp(&v, &yd[yi], 4) != 0) {
            CHECK(0, "%s: y[%lld] = %.9g, the definition gives %.9g", what, (long long)yi, (double)yd[yi], (double)v);
            goto done;
          }
          if (!with_res && !within_bound(fabs((double)yd[yi] - exact), gamma_n(k + 1) * mag)) {
            CHECK(0, "%s: y[%lld] error exceeds the dot-product bound", what, (long long)yi);
            goto done;
          }
        }
  check_count++;
done:
  tensor_free(&x), tensor_free(&w), tensor_free(&b), tensor_free(&y), tensor_free(&res);
}

static fr_status run_conv_frames(fr_backend *be, void *ctx, fr_tensor *y)
{
  conv_case *c = (conv_case *)ctx;
  return fr_conv_frames(be, c->x, c->w, c->b, c->frames, c->res, y);
}

static void test_conv_frames_case(int64_t videos, int64_t frames, int64_t cin, int64_t h, int64_t w_, int64_t cout,
                                  fr_dtype wdt, int with_res)
{
  char what[160];
  snprintf(what, sizeof what, "conv_frames B=%lld F=%lld Cin=%lld %lldx%lld Cout=%lld w=%s res=%d", (long long)videos,
           (long long)frames, (long long)cin, (long long)h, (long long)w_, (long long)cout, fr_dtype_name(wdt),
           with_res);
  int64_t n = videos * frames, plane = h * w_;
  int64_t xs[4] = {n, cin, h, w_}, ws[5] = {cout, cin, 3, 1, 1}, ys[4] = {n, cout, h, w_}, bs[1] = {cout};
  fr_tensor x = tensor_new(FR_F32, 4, xs), w = tensor_new(wdt, 5, ws), b = tensor_new(wdt, 1, bs);
  fr_tensor y = tensor_new(FR_F32, 4, ys), res = tensor_new(FR_F32, 4, ys);
  tensor_fill(&x, -2, 2);
  tensor_fill(&w, -1, 1);
  tensor_fill(&b, -1, 1);
  tensor_fill(&res, -1, 1);
  conv_case c = {&x, &w, &b, with_res ? &res : NULL, 1, 1, (int)frames};
  run_everywhere(what, run_conv_frames, &c, &y);

  const float *xd = (const float *)x.data, *yd = (const float *)y.data;
  for (int64_t s = 0; s < n; s++)
    for (int64_t co = 0; co < cout; co++)
      for (int64_t p = 0; p < plane; p++) {
        float acc = 0.0f;
        double exact = 0.0, mag = 0.0;
        for (int64_t ci = 0; ci < cin; ci++)
          for (int64_t t = 0; t < 3; t++) {
            int64_t f = s % frames + t - 1;
            float xv = (f >= 0 && f < frames) ? xd[((s + t - 1) * cin + ci) * plane + p] : 0.0f;
            float wv = tensor_get(&w, (co * cin + ci) * 3 + t);
            acc = fmaf(xv, wv, acc);
            exact += (double)xv * wv;
            mag += fabs((double)xv * wv);
          }
        float v = acc + tensor_get(&b, co);
        exact += tensor_get(&b, co);
        mag += fabs(tensor_get(&b, co));
        int64_t yi = (s * cout + co) * plane + p;
        if (with_res) v = v + ((float *)res.data)[yi];
        if (memcmp(&v, &yd[yi], 4) != 0) {
          CHECK(0, "%s: y[%lld] = %.9g, the definition gives %.9g", what, (long long)yi, (double)yd[yi], (double)v);
          goto done;
        }
        if (!with_res && !within_bound(fabs((double)yd[yi] - exact), gamma_n(cin * 3 + 1) * mag)) {
          CHECK(0, "%s: y[%lld] error exceeds the dot-product bound", what, (long long)yi);
          goto done;
        }
      }
  check_count++;
done:
  tensor_free(&x), tensor_free(&w), tensor_free(&b), tensor_free(&y), tensor_free(&res);
}

static void test_conv(void)
{
  test_conv2d_case(1, 1, 5, 5, 1, 3, 1, 1, FR_F32, 0);
  test_conv2d_case(2, 3, 7, 9, 5, 3, 1, 1, FR_F32, 0);
  test_conv2d_case(2, 4, 8, 8, 6, 3, 2, 1, FR_F32, 0);     /* Downsample2D */
  test_conv2d_case(3, 5, 9, 7, 4, 3, 2, 1, FR_F16, 0);     /* odd sizes, stride 2: ceil(h/2) */
  test_conv2d_case(2, 6, 6, 5, 7, 1, 1, 0, FR_BF16, 1);    /* 1x1 shortcut */
  test_conv2d_case(1, 2, 4, 4, 3, 3, 1, 0, FR_F32, 0);     /* no padding */
  test_conv2d_case(2, 40, 12, 12, 20, 3, 1, 1, FR_F32, 1); /* K = 360 spans two k blocks */
  test_conv2d_case(1, 300, 3, 3, 8, 1, 1, 0, FR_F16, 0);   /* 1x1 with K > KC */
  test_conv2d_case(1, 4, 20, 20, 100, 3, 1, 1, FR_F32, 0); /* Cout > MC, pixels > NC */
  test_conv2d_case(2, 3, 13, 11, 7, 9, 1, 4, FR_F16, 1);   /* a 9x9 kernel: over 64 taps, read tap by tap */
  test_conv2d_case(1, 5, 17, 19, 9, 5, 2, 2, FR_F32, 0);   /* 5x5, stride 2: tap runs broken by the stride */
  test_conv2d_case(2, 3, 6, 70, 5, 3, 2, 1, FR_F32, 1);    /* stride 2, rows wider than a tile: whole-vector runs */
  test_conv2d_case(2, 3, 5, 41, 4, 3, 1, 1, FR_BF16, 0);   /* stride 1 runs cut by the padding on either side */
  /* 3x3 row buffers (rows a multiple of 16 wide): k blocks of whole channels (K = 549: 279 + 270), two
   * panels a row, a row panel cut at 13 outputs; one panel a row, 3 images sharing a task */
  test_conv2d_case(2, 61, 5, 32, 13, 3, 1, 1, FR_F16, 1);
  test_conv2d_case(3, 4, 3, 16, 12, 3, 1, 1, FR_BF16, 0);
  test_conv_frames_case(1, 1, 3, 4, 4, 2, FR_F32, 0);
  test_conv_frames_case(2, 5, 6, 3, 5, 7, FR_F32, 1);
  test_conv_frames_case(1, 16, 100, 2, 3, 9, FR_F16, 0); /* K = 300 */
  test_conv_frames_case(3, 2, 8, 4, 4, 8, FR_BF16, 0);

  /* Hand-checked conv2d: all-ones 3x3 kernel on 1..9 with zero padding sums each neighbourhood. */
  float xv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, wv[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, yv[9];
  static const float want[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  fr_tensor x = fr_tensor_make(FR_F32, xv, 4, (int64_t)1, (int64_t)1, (int64_t)3, (int64_t)3);
  fr_tensor w = fr_tensor_make(FR_F32, wv, 4, (int64_t)1, (int64_t)1, (int64_t)3, (int64_t)3);
  fr_tensor y = fr_tensor_make(FR_F32, yv, 4, (int64_t)1, (int64_t)1, (int64_t)3, (int64_t)3);
  CHECK_OK(fr_conv2d(be_2t, &x, &w, NULL, 1, 1, NULL, &y));
  check_same_bits("conv2d hand case", want, yv, 9);

  /* Hand-checked frame conv: w = [1, 10, 100] over frames [1, 2, 3] -> [210, 321, 32]. */
  float fx[3] = {1, 2, 3}, fw[3] = {1, 10, 100}, fy[3];
  static const float fwant[3] = {210, 321, 32};
  fr_tensor tx = fr_tensor_make(FR_F32, fx, 4, (int64_t)3, (int64_t)1, (int64_t)1, (int64_t)1);
  fr_tensor tw = fr_tensor_make(FR_F32, fw, 3, (int64_t)1, (int64_t)1, (int64_t)3);
  fr_tensor ty = fr_tensor_make(FR_F32, fy, 4, (int64_t)3, (int64_t)1, (int64_t)1, (int64_t)1);
  CHECK_OK(fr_conv_frames(be_2t, &tx, &tw, NULL, 3, NULL, &ty));
  check_same_bits("conv_frames hand case", fwant, fy, 3);
}

/* The planning twin (what the pipeline's first run uses): ops check their arguments exactly as on the
 * real backend, then touch nothing; transfers touch nothing; it has no memory. */
static void test_planning_twin(void)
{
  fr_backend *plan = NULL;
  CHECK_OK(fr_backend_open_plan(be_2t, &plan));
  if (!plan) return;
  CHECK(fr_backend_planning(plan) && !fr_backend_planning(be_2t), "planning flags: twin %d, real %d",
        fr_backend_planning(plan), fr_backend_planning(be_2t));
  CHECK(fr_backend_device(plan) == fr_backend_device(be_2t), "the twin is on device %d, the backend on %d",
        fr_backend_device(plan), fr_backend_device(be_2t));
  fr_tensor t;
  int64_t n = 4;
  CHECK(fr_tensor_alloc(plan, FR_F32, 1, &n, &t) == FR_EINVAL, "the planning twin allocated memory");

  float xv[3] = {1, 2, 3}, wv[6] = {1, 0, -1, 2, 2, 2}, yv[2] = {7, 7}, host[2] = {5, 5};
  fr_tensor x = fr_tensor_make(FR_F32, xv, 2, (int64_t)1, (int64_t)3);
  fr_tensor w = fr_tensor_make(FR_F32, wv, 2, (int64_t)2, (int64_t)3);
  fr_tensor y = fr_tensor_make(FR_F32, yv, 2, (int64_t)1, (int64_t)2);
  CHECK_OK(fr_linear(plan, &x, &w, NULL, FR_ACT_NONE, NULL, &y));
  CHECK(yv[0] == 7.0f && yv[1] == 7.0f, "the planning twin computed: y = [%g, %g]", yv[0], yv[1]);
  CHECK_OK(fr_tensor_download(plan, &y, host));
  CHECK(host[0] == 5.0f && host[1] == 5.0f, "the planning twin downloaded: [%g, %g]", host[0], host[1]);
  CHECK_OK(fr_tensor_upload(plan, &y, host));
  CHECK(yv[0] == 7.0f, "the planning twin uploaded");

  /* the same wrong shape fails the same way on both */
  fr_tensor wbad = fr_tensor_make(FR_F32, wv, 2, (int64_t)3, (int64_t)2);
  fr_status on_plan = fr_linear(plan, &x, &wbad, NULL, FR_ACT_NONE, NULL, &y);
  char plan_msg[256];
  snprintf(plan_msg, sizeof plan_msg, "%s", fr_last_error());
  fr_status on_real = fr_linear(be_2t, &x, &wbad, NULL, FR_ACT_NONE, NULL, &y);
  CHECK(on_plan == FR_EINVAL && on_real == FR_EINVAL && strcmp(plan_msg, fr_last_error()) == 0,
        "a wrong shape: twin %s (%s), real %s (%s)", fr_status_str(on_plan), plan_msg, fr_status_str(on_real),
        fr_last_error());
  /* output aliasing an input is refused on both */
  fr_tensor yx = fr_tensor_make(FR_F32, xv, 2, (int64_t)1, (int64_t)2);
  CHECK(fr_linear(plan, &x, &w, NULL, FR_ACT_NONE, NULL, &yx) == FR_EINVAL, "the twin let y overlap x");
  fr_backend_close(plan);
}

int main(void)
{
  backends_open();
  test_planning_twin();
  test_linear();
  test_conv();
  printf("largest error / gamma_{K+1} bound seen: %.4f\n", worst_ratio);
  const char *widest = fr_cpu_microkernel_isa();
  CHECK(!fr_cpu_force_isa("avx1024") && strcmp(fr_cpu_microkernel_isa(), widest) == 0,
        "an unknown instruction set was taken (now %s)", fr_cpu_microkernel_isa());
  printf("micro-kernel sets compared with the dispatched one:");
  for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++)
    if (fr_cpu_force_isa(isas[i])) printf(" %s", isas[i]);
  fr_cpu_force_isa(NULL);
  printf("\n");
  backends_close();
  return check_done("test_matmul");
}
