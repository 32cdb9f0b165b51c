/* Elementwise and data-movement ops on the CPU reference: exact where the op is exact (add, scale,
 * concat, permute, upsample, embedding), bit-identical to the definition and within float64 bounds
 * elsewhere, the same bits with 1 and 2 threads; argument checking; the timestep embedding's check
 * values from the model spec. */
#include "fractal/act.h"
#include "fractal/philox.h"
#include "testutil.h"

static void same_on_both(const char *what, fr_status (*fn)(fr_backend *, void *, fr_tensor *), void *ctx, fr_tensor *y)
{
  fr_tensor y1 = tensor_new(y->dtype, y->ndim, y->shape);
  CHECK_OK(fn(be_2t, ctx, y));
  CHECK_OK(fn(be_1t, ctx, &y1));
  check_count++;
  if (memcmp(y->data, y1.data, fr_tensor_nbytes(y)) != 0) {
    check_failures++;
    fprintf(stderr, "%s: 1 thread and 2 threads differ\n", what);
  }
  tensor_free(&y1);
}

typedef struct ew_ctx {
  fr_tensor *a, *b;
  fr_act act;
  float s;
  int dim;
  const int *perm;
} ew_ctx;

static fr_status run_act(fr_backend *be, void *c, fr_tensor *y)
{
  return fr_activate(be, ((ew_ctx *)c)->act, ((ew_ctx *)c)->a, y);
}

static void test_activations(void)
{
  int64_t n = 200003;
  fr_tensor x = tensor_new2(FR_F32, 1, n), y = tensor_new2(FR_F32, 1, n);
  tensor_fill(&x, -12, 12);
  const float *xd = (const float *)x.data, *yd = (const float *)y.data;
  for (int a = FR_ACT_SILU; a < FR_ACT_COUNT; a++) {
    static const char *names[] = {"none", "silu", "gelu", "quick_gelu"};
    ew_ctx c = {&x, NULL, (fr_act)a, 0, 0, NULL};
    same_on_both(names[a], run_act, &c, &y);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
      float want = fr_act_apply((fr_act)a, xd[i]);
      if (memcmp(&want, &yd[i], 4) != 0) {
        CHECK(0, "act %d: y[%lld] differs from the dmath function", a, (long long)i);
        break;
      }
      double x64 = xd[i];
      double ref = a == FR_ACT_SILU   ? x64 / (1.0 + exp(-x64))
                   : a == FR_ACT_GELU ? 0.5 * x64 * erfc(-x64 / sqrt(2.0))
                                      : x64 / (1.0 + exp(-(double)(1.702f * xd[i]))); /* of the rounded 1.702x */
      double e = ulp_error(yd[i], ref);
      worst = e > worst ? e : worst;
    }
    CHECK(worst <= 4.0, "act %d: max error %.2f ulp against float64, want <= 4", a, worst);
  }
  /* GEGLU: value half times gelu of the gate half. */
  fr_tensor h = tensor_new2(FR_F32, 37, 2 * 45), g = tensor_new2(FR_F32, 37, 45);
  tensor_fill(&h, -4, 4);
  CHECK_OK(fr_geglu(be_2t, &h, &g));
  const float *hd = (const float *)h.data, *gd = (const float *)g.data;
  int ok = 1;
  for (int r = 0; r < 37 && ok; r++)
    for (int c = 0; c < 45 && ok; c++) {
      float want = hd[r * 90 + c] * fr_dgelu(hd[r * 90 + 45 + c]);
      ok = memcmp(&want, &gd[r * 45 + c], 4) == 0;
      CHECK(ok, "geglu y[%d][%d] = %.9g, want %.9g", r, c, gd[r * 45 + c], want);
    }
  tensor_free(&x), tensor_free(&y), tensor_free(&h), tensor_free(&g);
}

static fr_status run_add(fr_backend *be, void *c, fr_tensor *y)
{
  return fr_add(be, ((ew_ctx *)c)->a, ((ew_ctx *)c)->b, y);
}

/* Addition is one correctly rounded operation: y must equal the float64 sum rounded to float. */
static void check_add(const char *what, const fr_tensor *a, const fr_tensor *b, const fr_tensor *y, int64_t div,
                      int64_t mod)
{
  const float *ad = (const float *)a->data, *yd = (const float *)y->data;
  for (int64_t i = 0; i < fr_tensor_numel(a); i++) {
    float want = (float)((double)ad[i] + (double)tensor_get(b, (i / div) % mod));
    if (memcmp(&want, &yd[i], 4) != 0) {
      CHECK(0, "%s: y[%lld] = %.9g, want %.9g", what, (long long)i, yd[i], want);
      return;
    }
  }
  check_count++;
}

static void test_add_scale_guidance(void)
{
  int64_t as[4] = {3, 5, 4, 6}, suf[2] = {4, 6}, pre[2] = {3, 5};
  fr_tensor a = tensor_new(FR_F32, 4, as), y = tensor_new(FR_F32, 4, as), same = tensor_new(FR_F32, 4, as);
  fr_tensor bs = tensor_new(FR_F16, 2, suf), bp = tensor_new(FR_BF16, 2, pre);
  tensor_fill(&a, -3, 3), tensor_fill(&same, -3, 3), tensor_fill(&bs, -1, 1), tensor_fill(&bp, -1, 1);
  ew_ctx c = {&a, &same, 0, 0, 0, NULL};
  same_on_both("add same shape", run_add, &c, &y);
  check_add("add same shape", &a, &same, &y, 1, fr_tensor_numel(&a));
  c.b = &bs;
  same_on_both("add suffix", run_add, &c, &y);
  check_add("add suffix (position-embedding style)", &a, &bs, &y, 1, 24);
  c.b = &bp;
  same_on_both("add prefix", run_add, &c, &y);
  check_add("add prefix (per-channel style)", &a, &bp, &y, 24, 15);
  /* in place: y aliases a */
  fr_tensor a2 = tensor_new(FR_F32, 4, as);
  memcpy(a2.data, a.data, fr_tensor_nbytes(&a));
  CHECK_OK(fr_add(be_2t, &a2, &bp, &a2));
  check_add("add in place", &a, &bp, &a2, 24, 15);
  /* mismatched broadcast is refused and y is untouched */
  int64_t bad[2] = {5, 5};
  fr_tensor bb = tensor_new(FR_F32, 2, bad);
  memset(y.data, 0x5a, fr_tensor_nbytes(&y));
  CHECK(fr_add(be_2t, &a, &bb, &y) == FR_EINVAL && strstr(fr_last_error(), "neither a suffix nor a prefix"),
        "add with a bad broadcast: %s", fr_last_error());
  CHECK(((unsigned char *)y.data)[0] == 0x5a, "a refused add wrote to y");

  CHECK_OK(fr_scale(be_2t, &a, 1.0f / 0.18215f, &y));
  const float *ad = (const float *)a.data, *yd = (const float *)y.data, *sd = (const float *)same.data;
  int ok = 1;
  for (int64_t i = 0; i < 360 && ok; i++) {
    float want = (float)((double)ad[i] * (double)(1.0f / 0.18215f));
    ok = memcmp(&want, &yd[i], 4) == 0;
    CHECK(ok, "scale y[%lld] not the correctly rounded product", (long long)i);
  }
  CHECK_OK(fr_guidance(be_2t, &a, &same, 9.0f, &y));
  for (int64_t i = 0; i < 360 && ok; i++) {
    float diff = sd[i] - ad[i], want = ad[i] + 9.0f * diff;
    ok = memcmp(&want, &yd[i], 4) == 0;
    CHECK(ok, "guidance y[%lld] = %.9g, want %.9g", (long long)i, yd[i], want);
    double exact = ad[i] + 9.0 * ((double)sd[i] - ad[i]);
    CHECK(fabs(yd[i] - exact) <= 3 * U32 * (fabs(ad[i]) + 9.0 * fabs((double)sd[i] - ad[i])) + 1e-30,
          "guidance y[%lld] beyond three roundings of float64", (long long)i);
  }
  tensor_free(&a), tensor_free(&a2), tensor_free(&y), tensor_free(&same), tensor_free(&bs), tensor_free(&bp),
      tensor_free(&bb);
}

static void test_upsample_case(int64_t n, int64_t c, int64_t h, int64_t w, int64_t ho, int64_t wo)
{
  int64_t xs[4] = {n, c, h, w}, ys[4] = {n, c, ho, wo};
  fr_tensor x = tensor_new(FR_F32, 4, xs), y = tensor_new(FR_F32, 4, ys);
  tensor_fill(&x, -1, 1);
  CHECK_OK(fr_upsample_nearest(be_2t, &x, &y));
  const float *xd = (const float *)x.data, *yd = (const float *)y.data;
  for (int64_t p = 0; p < n * c; p++)
    for (int64_t oy = 0; oy < ho; oy++)
      for (int64_t ox = 0; ox < wo; ox++) {
        /* PyTorch legacy nearest: src = floor(dst * (in / out)) */
        int64_t sy = (int64_t)floor((double)oy * (double)h / (double)ho),
                sx = (int64_t)floor((double)ox * (double)w / (double)wo);
        float want = xd[(p * h + sy) * w + sx], got = yd[(p * ho + oy) * wo + ox];
        if (want != got) {
          CHECK(0, "upsample %lldx%lld->%lldx%lld: y(%lld,%lld) wrong", (long long)h, (long long)w, (long long)ho,
                (long long)wo, (long long)oy, (long long)ox);
          goto done;
        }
      }
  check_count++;
done:
  tensor_free(&x), tensor_free(&y);
}

static void test_movement(void)
{
  test_upsample_case(2, 3, 4, 5, 8, 10);
  test_upsample_case(1, 2, 5, 9, 9, 18); /* forced sizes (non-multiple-of-8 latents) */
  test_upsample_case(1, 1, 3, 3, 5, 7);
  float hv[4] = {1, 2, 3, 4}, hy[16];
  static const float hwant[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
  fr_tensor hx = fr_tensor_make(FR_F32, hv, 4, (int64_t)1, (int64_t)1, (int64_t)2, (int64_t)2);
  fr_tensor hyt = fr_tensor_make(FR_F32, hy, 4, (int64_t)1, (int64_t)1, (int64_t)4, (int64_t)4);
  CHECK_OK(fr_upsample_nearest(be_2t, &hx, &hyt));
  check_same_bits("upsample hand case", hwant, hy, 16);

  /* concat along each dim of a [3, 4, 5] pair */
  for (int dim = 0; dim < 3; dim++) {
    int64_t as[3] = {3, 4, 5}, bs[3] = {3, 4, 5}, ys[3] = {3, 4, 5};
    bs[dim] = 2, ys[dim] = as[dim] + 2;
    fr_tensor a = tensor_new(FR_F32, 3, as), b = tensor_new(FR_F32, 3, bs), y = tensor_new(FR_F32, 3, ys);
    tensor_fill(&a, -1, 1), tensor_fill(&b, -1, 1);
    CHECK_OK(fr_concat(be_2t, dim, &a, &b, &y));
    int ok = 1;
    for (int64_t i = 0; i < ys[0] && ok; i++)
      for (int64_t j = 0; j < ys[1] && ok; j++)
        for (int64_t k = 0; k < ys[2] && ok; k++) {
          int64_t idx[3] = {i, j, k};
          const fr_tensor *src = idx[dim] < as[dim] ? &a : &b;
          if (src == &b) idx[dim] -= as[dim];
          float want = tensor_get(src, (idx[0] * src->shape[1] + idx[1]) * src->shape[2] + idx[2]);
          ok = want == ((float *)y.data)[(i * ys[1] + j) * ys[2] + k];
          CHECK(ok, "concat dim %d: y[%lld][%lld][%lld] wrong", dim, (long long)i, (long long)j, (long long)k);
        }
    tensor_free(&a), tensor_free(&b), tensor_free(&y);
  }

  /* permute: every permutation of a [2, 3, 4, 5] tensor, checked by index arithmetic */
  int64_t xs[4] = {2, 3, 4, 5};
  fr_tensor x = tensor_new(FR_F32, 4, xs);
  for (int64_t i = 0; i < 120; i++) ((float *)x.data)[i] = (float)i;
  int perm[4], count = 0;
  for (perm[0] = 0; perm[0] < 4; perm[0]++)
    for (perm[1] = 0; perm[1] < 4; perm[1]++)
      for (perm[2] = 0; perm[2] < 4; perm[2]++)
        for (perm[3] = 0; perm[3] < 4; perm[3]++) {
          if (perm[0] == perm[1] || perm[0] == perm[2] || perm[0] == perm[3] || perm[1] == perm[2] ||
              perm[1] == perm[3] || perm[2] == perm[3])
            continue;
          int64_t ys[4];
          for (int d = 0; d < 4; d++) ys[d] = xs[perm[d]];
          fr_tensor y = tensor_new(FR_F32, 4, ys);
          CHECK_OK(fr_permute(be_2t, &x, perm, &y));
          int64_t xstride[4] = {60, 20, 5, 1}, yi = 0;
          int ok = 1;
          for (int64_t a = 0; a < ys[0]; a++)
            for (int64_t b = 0; b < ys[1]; b++)
              for (int64_t c = 0; c < ys[2]; c++)
                for (int64_t d = 0; d < ys[3]; d++, yi++) {
                  int64_t src =
                      a * xstride[perm[0]] + b * xstride[perm[1]] + c * xstride[perm[2]] + d * xstride[perm[3]];
                  if (((float *)y.data)[yi] != (float)src) ok = 0;
                }
          CHECK(ok, "permute (%d %d %d %d) wrong", perm[0], perm[1], perm[2], perm[3]);
          count++;
          tensor_free(&y);
        }
  CHECK(count == 24, "tried %d permutations", count);
  int bad_perm[4] = {0, 1, 1, 3};
  fr_tensor y = tensor_new(FR_F32, 4, xs);
  CHECK(fr_permute(be_2t, &x, bad_perm, &y) == FR_EINVAL, "a repeated axis must be refused");
  tensor_free(&x), tensor_free(&y);
}

static void test_embedding(void)
{
  fr_tensor table = tensor_new2(FR_F16, 50, 7), y = tensor_new2(FR_F32, 4, 7);
  tensor_fill(&table, -1, 1);
  int32_t idv[4] = {49, 0, 7, 7};
  fr_tensor ids = fr_tensor_make(FR_I32, idv, 1, (int64_t)4);
  CHECK_OK(fr_embedding(be_2t, &ids, &table, &y));
  int ok = 1;
  for (int l = 0; l < 4; l++)
    for (int c = 0; c < 7; c++) ok &= tensor_get(&table, idv[l] * 7 + c) == ((float *)y.data)[l * 7 + c];
  CHECK(ok, "embedding rows are not the table's rows");
  idv[2] = 50;
  CHECK(fr_embedding(be_2t, &ids, &table, &y) == FR_EINVAL && strstr(fr_last_error(), "id 50 at position 2"),
        "an out-of-range id must be refused: %s", fr_last_error());
  tensor_free(&table), tensor_free(&y);
}

/* The model spec's check values (diffusers Timesteps(320, flip_sin_to_cos=True, shift=0), fp32). */
static void test_timestep_embedding(void)
{
  float t[2] = {981.0f, 1.0f}, e[640];
  fr_tensor y = fr_tensor_make(FR_F32, e, 2, (int64_t)2, (int64_t)320);
  CHECK_OK(fr_timestep_embedding(be_2t, t, 2, 1, 0.0f, 10000.0f, &y));
  struct {
    int idx;
    double want;
  } checks[] = {{0, 0.6799572},   {1, -0.7984292}, {2, 0.578114},     {159, 0.9946059}, {160, 0.7332518},
                {161, 0.6020887}, {162, 0.815956}, {319, 0.10372589}, {320, 0.5403023}, {480, 0.841471}};
  for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
    CHECK(fabs(e[checks[i].idx] - checks[i].want) <= 2e-6, "timestep embedding [%d] = %.8f, spec says %.8f",
          checks[i].idx, e[checks[i].idx], checks[i].want);
  /* Against float64 sin/cos of the same float argument: only dmath's error remains. */
  double worst = 0;
  for (int r = 0; r < 2; r++)
    for (int i = 0; i < 160; i++) {
      float freq = fr_dexp((-fr_dlog(10000.0f) * (float)i) / 160.0f), arg = t[r] * freq;
      worst = fmax(worst, ulp_error(e[r * 320 + i], cos((double)arg)));
      worst = fmax(worst, ulp_error(e[r * 320 + 160 + i], sin((double)arg)));
    }
  CHECK(worst <= 2.0, "timestep embedding: %.2f ulp from float64 sin/cos of the same argument", worst);
  float e2[320];
  fr_tensor y2 = fr_tensor_make(FR_F32, e2, 2, (int64_t)1, (int64_t)320);
  CHECK_OK(fr_timestep_embedding(be_2t, t, 1, 0, 0.0f, 10000.0f, &y2));
  CHECK(memcmp(e2, e + 160, 160 * 4) == 0 && memcmp(e2 + 160, e, 160 * 4) == 0, "without flip: [sin, cos]");
}

static void test_fill_normal(void)
{
  int64_t n = 1 << 20;
  fr_tensor y = tensor_new2(FR_F32, 1, n), y1 = tensor_new2(FR_F32, 1, n);
  CHECK_OK(fr_fill_normal(be_2t, 42, 0, &y));
  CHECK_OK(fr_fill_normal(be_1t, 42, 0, &y1));
  check_same_bits("fill_normal 1 vs 2 threads", (float *)y.data, (float *)y1.data, (long)n);
  const float *yd = (const float *)y.data;
  double s = 0, s2 = 0;
  int ok = 1;
  for (int64_t i = 0; i < n; i++) {
    s += yd[i], s2 += (double)yd[i] * yd[i];
    if (ok && i % 4099 == 0) {
      float want = fr_philox_normal(42, 0, (uint64_t)i);
      ok = memcmp(&want, &yd[i], 4) == 0;
    }
  }
  CHECK(ok, "fill_normal element i must be fr_philox_normal(seed, stream, i)");
  double mean = s / n, var = s2 / n - mean * mean;
  /* 2^20 samples: the mean's standard error is 0.001, the variance's about 0.0014; allow 5 sigma */
  CHECK(fabs(mean) < 0.005 && fabs(var - 1.0) < 0.007, "normal noise: mean %.5f, variance %.5f", mean, var);
  CHECK_OK(fr_fill_normal(be_2t, 43, 0, &y1));
  CHECK(memcmp(y.data, y1.data, 4096) != 0, "another seed must give other noise");
  tensor_free(&y), tensor_free(&y1);
}

static void test_argument_checks(void)
{
  fr_tensor x = tensor_new2(FR_F32, 4, 8), w = tensor_new2(FR_F32, 3, 7), y = tensor_new2(FR_F32, 4, 3);
  memset(y.data, 0x5a, fr_tensor_nbytes(&y));
  CHECK(fr_linear(be_2t, &x, &w, NULL, FR_ACT_NONE, NULL, &y) == FR_EINVAL &&
            strstr(fr_last_error(), "does not match w [3, 7]"),
        "linear with mismatched K: %s", fr_last_error());
  CHECK(((unsigned char *)y.data)[0] == 0x5a, "a refused linear wrote to y");
  fr_tensor xi = tensor_new2(FR_I32, 4, 8);
  CHECK(fr_activate(be_2t, FR_ACT_SILU, &xi, &x) == FR_EINVAL && strstr(fr_last_error(), "must be F32"),
        "activate on I32: %s", fr_last_error());
  fr_tensor gn = tensor_new2(FR_F32, 4, 6);
  CHECK(fr_group_norm(be_2t, &gn, NULL, NULL, 4, 1, 1e-5f, FR_ACT_NONE, &gn) == FR_EINVAL &&
            strstr(fr_last_error(), "6 channels do not split into 4 groups"),
        "group_norm with bad groups: %s", fr_last_error());
  CHECK(fr_group_norm(be_2t, &gn, NULL, NULL, 2, 3, 1e-5f, FR_ACT_NONE, &gn) == FR_EINVAL &&
            strstr(fr_last_error(), "3-frame"),
        "group_norm with frames not dividing N: %s", fr_last_error());
  fr_tensor gpu = x;
  gpu.device = 0;
  CHECK(fr_activate(be_2t, FR_ACT_SILU, &gpu, &x) == FR_EINVAL && strstr(fr_last_error(), "on device 0"),
        "a tensor on another device: %s", fr_last_error());
  fr_backend *be = NULL;
  CHECK(fr_backend_open("tpu", 0, &be) == FR_EINVAL && be == NULL, "unknown backend name");
  CHECK(fr_backend_open("cuda:x", 0, &be) != FR_OK && be == NULL, "bad cuda ordinal");
  tensor_free(&x), tensor_free(&w), tensor_free(&y), tensor_free(&xi), tensor_free(&gn);
}

/* fr_copy_region against a plain loop: a strided 4-D block of a [3, 5, 7, 9] tensor into a transposed
 * place in another; bounds are checked. */
static void test_copy_region(void)
{
  int64_t as[4] = {3, 5, 7, 9}, bs[1] = {3 * 5 * 7 * 9 + 11};
  fr_tensor a = tensor_new(FR_F32, 4, as), b = tensor_new(FR_F32, 1, bs), want = tensor_new(FR_F32, 1, bs);
  tensor_fill(&a, -5.0f, 5.0f);
  int64_t shape[4] = {2, 3, 4, 6}, ss[4] = {5 * 7 * 9, 7 * 9, 9, 1}, off = 1 * 5 * 7 * 9 + 1 * 7 * 9 + 2 * 9 + 3;
  int64_t ds[4] = {1, 2, 6, 24}, doff = 7; /* innermost source dim lands with stride 24 */
  const float *src = (const float *)a.data;
  float *w = (float *)want.data;
  for (int64_t i = 0; i < 2; i++)
    for (int64_t j = 0; j < 3; j++)
      for (int64_t k = 0; k < 4; k++)
        for (int64_t l = 0; l < 6; l++)
          w[doff + i * ds[0] + j * ds[1] + k * ds[2] + l * ds[3]] =
              src[off + i * ss[0] + j * ss[1] + k * ss[2] + l * ss[3]];
  CHECK_OK(fr_copy_region(be_2t, &a, off, ss, &b, doff, ds, 4, shape));
  check_same_bits("copy_region (strided destination)", w, (const float *)b.data, (long)bs[0]);
  int64_t flat[2] = {3, 5 * 7 * 9}, fs[2] = {5 * 7 * 9, 1}, fd[2] = {5 * 7 * 9, 1};
  memset(b.data, 0, (size_t)bs[0] * 4);
  CHECK_OK(fr_copy_region(be_1t, &a, 0, fs, &b, 0, fd, 2, flat));
  check_same_bits("copy_region (contiguous rows)", (const float *)a.data, (const float *)b.data, 3 * 5 * 7 * 9);
  int64_t big[4] = {3, 3, 4, 6};
  CHECK(fr_copy_region(be_1t, &a, off, ss, &b, doff, ds, 4, big) == FR_EINVAL &&
            strstr(fr_last_error(), "source region"),
        "a region past the end of src: %s", fr_last_error());
  int64_t far[4] = {2, 3, 4, 60};
  CHECK(fr_copy_region(be_1t, &a, 0, ss, &b, 0, ds, 4, far) == FR_EINVAL, "a region past the end: %s", fr_last_error());
  CHECK(fr_copy_region(be_1t, &a, 0, ss, &a, 5, ds, 4, shape) == FR_EINVAL, "overlapping src and dst: %s",
        fr_last_error());
  tensor_free(&a), tensor_free(&b), tensor_free(&want);
}

int main(void)
{
  backends_open();
  test_copy_region();
  test_activations();
  test_add_scale_guidance();
  test_movement();
  test_embedding();
  test_timestep_embedding();
  test_fill_normal();
  test_argument_checks();
  backends_close();
  return check_done("test_elementwise");
}
