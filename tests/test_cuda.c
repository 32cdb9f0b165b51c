/* The CUDA backend against the CPU reference, bit for bit, for every op the GPU implements, on random
 * inputs over several shapes (odd sizes included); ops it does not implement yet must say so.
 * Skips (exit 77) with a message when the build has no CUDA or the machine has no GPU. */
#include "testutil.h"

static fr_backend *gpu, *cpu;

/* A host tensor and its device copy with the same contents. */
typedef struct pair {
  fr_tensor h, d;
} pair;

static pair pair_new(fr_dtype dt, int ndim, const int64_t *shape, float lo, float hi)
{
  pair p;
  p.h = tensor_new(dt, ndim, shape);
  tensor_fill(&p.h, lo, hi);
  if (fr_tensor_alloc(gpu, dt, ndim, shape, &p.d) != FR_OK || fr_tensor_upload(gpu, &p.d, p.h.data) != FR_OK) {
    fprintf(stderr, "device allocation failed: %s\n", fr_last_error());
    exit(1);
  }
  return p;
}

static void pair_free(pair *p)
{
  tensor_free(&p->h);
  fr_tensor_free(gpu, &p->d);
}

/* Downloads y.d and compares it with y.h bit for bit. */
static void compare(const char *what, pair *y)
{
  fr_tensor got = tensor_new(y->h.dtype, y->h.ndim, y->h.shape);
  CHECK_OK(fr_tensor_download(gpu, &y->d, got.data));
  check_same_bits(what, (const float *)y->h.data, (const float *)got.data, (long)fr_tensor_numel(&got));
  tensor_free(&got);
}

static void test_elementwise(void)
{
  static const int64_t sizes[] = {1, 7, 1000, 65537};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    int64_t shape[2] = {3, sizes[s]}, half[2] = {3, sizes[s] / 2 + 1}, whole[2] = {3, 2 * (sizes[s] / 2 + 1)};
    pair x = pair_new(FR_F32, 2, shape, -12, 12), c = pair_new(FR_F32, 2, shape, -3, 3);
    pair y = pair_new(FR_F32, 2, shape, 0, 0), b = pair_new(FR_F16, 1, shape + 1, -1, 1);
    char what[96];
    for (int a = FR_ACT_SILU; a <= FR_ACT_GELU; a++) {
      CHECK_OK(fr_activate(cpu, (fr_act)a, &x.h, &y.h));
      CHECK_OK(fr_activate(gpu, (fr_act)a, &x.d, &y.d));
      snprintf(what, sizeof what, "activate %d n=%lld", a, (long long)sizes[s]);
      compare(what, &y);
    }
    CHECK_OK(fr_add(cpu, &x.h, &b.h, &y.h));
    CHECK_OK(fr_add(gpu, &x.d, &b.d, &y.d));
    compare("add with an F16 row", &y);
    CHECK_OK(fr_scale(cpu, &x.h, 5.4899807f, &y.h));
    CHECK_OK(fr_scale(gpu, &x.d, 5.4899807f, &y.d));
    compare("scale", &y);
    CHECK_OK(fr_guidance(cpu, &x.h, &c.h, 9.0f, &y.h));
    CHECK_OK(fr_guidance(gpu, &x.d, &c.d, 9.0f, &y.d));
    compare("guidance", &y);
    CHECK_OK(fr_fill_normal(cpu, 1234567, 5, &y.h));
    CHECK_OK(fr_fill_normal(gpu, 1234567, 5, &y.d));
    compare("fill_normal", &y);
    pair h = pair_new(FR_F32, 2, whole, -5, 5), g = pair_new(FR_F32, 2, half, 0, 0);
    CHECK_OK(fr_geglu(cpu, &h.h, &g.h));
    CHECK_OK(fr_geglu(gpu, &h.d, &g.d));
    compare("geglu", &g);
    pair_free(&x), pair_free(&c), pair_free(&y), pair_free(&b), pair_free(&h), pair_free(&g);
  }
}

static void test_norms(void)
{
  static const int64_t gn[][6] = {{2, 32, 3, 5, 32, 1}, {4, 64, 16, 16, 32, 1}, {6, 32, 4, 4, 8, 3},
                                  {16, 320, 8, 8, 32, 16}, {2, 64, 40, 72, 32, 1}};
  for (size_t i = 0; i < sizeof gn / sizeof gn[0]; i++) {
    int64_t xs[4] = {gn[i][0], gn[i][1], gn[i][2], gn[i][3]}, cs[1] = {gn[i][1]};
    pair x = pair_new(FR_F32, 4, xs, -1, 3), y = pair_new(FR_F32, 4, xs, 0, 0);
    pair g = pair_new(FR_F16, 1, cs, 0.5f, 1.5f), b = pair_new(FR_BF16, 1, cs, -1, 1);
    for (int act = 0; act < 2; act++) {
      CHECK_OK(fr_group_norm(cpu, &x.h, &g.h, &b.h, (int)gn[i][4], (int)gn[i][5], 1e-6f, (fr_act)act, &y.h));
      CHECK_OK(fr_group_norm(gpu, &x.d, &g.d, &b.d, (int)gn[i][4], (int)gn[i][5], 1e-6f, (fr_act)act, &y.d));
      char what[96];
      snprintf(what, sizeof what, "group_norm case %zu act %d", i, act);
      compare(what, &y);
    }
    pair_free(&x), pair_free(&y), pair_free(&g), pair_free(&b);
  }
  static const int64_t ln[][2] = {{1, 1}, {77, 1024}, {300, 320}, {5, 3000}};
  for (size_t i = 0; i < sizeof ln / sizeof ln[0]; i++) {
    int64_t ds[1] = {ln[i][1]};
    pair x = pair_new(FR_F32, 2, ln[i], -2, 2), y = pair_new(FR_F32, 2, ln[i], 0, 0);
    pair g = pair_new(FR_F32, 1, ds, 0.5f, 1.5f), b = pair_new(FR_F16, 1, ds, -1, 1);
    CHECK_OK(fr_layer_norm(cpu, &x.h, &g.h, &b.h, 1e-5f, &y.h));
    CHECK_OK(fr_layer_norm(gpu, &x.d, &g.d, &b.d, 1e-5f, &y.d));
    compare("layer_norm", &y);
    CHECK_OK(fr_softmax(cpu, &x.h, &y.h));
    CHECK_OK(fr_softmax(gpu, &x.d, &y.d));
    compare("softmax", &y);
    pair_free(&x), pair_free(&y), pair_free(&g), pair_free(&b);
  }
}

/* The sharding ops: GroupNorm in pieces (sums, squared deviations, apply) and strided region copies. */
static void test_shard_ops(void)
{
  static const int64_t gn[][5] = {{6, 32, 3, 5, 32}, {4, 320, 16, 16, 32}, {3, 64, 7, 9, 8}};
  for (size_t i = 0; i < sizeof gn / sizeof gn[0]; i++) {
    int64_t xs[4] = {gn[i][0], gn[i][1], gn[i][2], gn[i][3]}, cs[1] = {gn[i][1]}, ss[2] = {gn[i][0], gn[i][4]};
    int groups = (int)gn[i][4];
    pair x = pair_new(FR_F32, 4, xs, -1, 3), y = pair_new(FR_F32, 4, xs, 0, 0);
    pair g = pair_new(FR_F16, 1, cs, 0.5f, 1.5f), b = pair_new(FR_F32, 1, cs, -1, 1);
    pair mean = pair_new(FR_F32, 2, ss, -0.5f, 0.5f), rstd = pair_new(FR_F32, 2, ss, 0.5f, 2), out = pair_new(FR_F32, 2, ss, 0, 0);
    CHECK_OK(fr_group_norm_partials(cpu, &x.h, groups, NULL, &out.h));
    CHECK_OK(fr_group_norm_partials(gpu, &x.d, groups, NULL, &out.d));
    compare("group_norm_partials (sums)", &out);
    CHECK_OK(fr_group_norm_partials(cpu, &x.h, groups, &mean.h, &out.h));
    CHECK_OK(fr_group_norm_partials(gpu, &x.d, groups, &mean.d, &out.d));
    compare("group_norm_partials (squared deviations)", &out);
    for (int act = 0; act < 2; act++) {
      CHECK_OK(fr_group_norm_apply(cpu, &x.h, &g.h, &b.h, groups, &mean.h, &rstd.h, (fr_act)act, &y.h));
      CHECK_OK(fr_group_norm_apply(gpu, &x.d, &g.d, &b.d, groups, &mean.d, &rstd.d, (fr_act)act, &y.d));
      compare("group_norm_apply", &y);
    }
    pair_free(&x), pair_free(&y), pair_free(&g), pair_free(&b), pair_free(&mean), pair_free(&rstd), pair_free(&out);
  }
  int64_t n[1] = {5000};
  pair src = pair_new(FR_F32, 1, n, -1, 1), dst = pair_new(FR_F32, 1, n, 0, 0);
  int64_t shape[3] = {3, 7, 11}, ss[3] = {1000, 13, 1}, ds[3] = {880, 11, 1};
  CHECK_OK(fr_copy_region(cpu, &src.h, 17, ss, &dst.h, 5, ds, 3, shape));
  CHECK_OK(fr_copy_region(gpu, &src.d, 17, ss, &dst.d, 5, ds, 3, shape));
  compare("copy_region", &dst);
  pair_free(&src), pair_free(&dst);
}

/* Ops the GPU does not have yet must fail cleanly with FR_EUNSUPPORTED, never run on the CPU. */
static void test_missing_ops_say_so(void)
{
  int64_t s[2] = {4, 4};
  pair x = pair_new(FR_F32, 2, s, -1, 1), w = pair_new(FR_F32, 2, s, -1, 1), y = pair_new(FR_F32, 2, s, 0, 0);
  fr_status st = fr_linear(gpu, &x.d, &w.d, NULL, FR_ACT_NONE, NULL, &y.d);
  if (st != FR_OK)
    CHECK(st == FR_EUNSUPPORTED && strstr(fr_last_error(), "does not implement linear"), "linear: %s",
          fr_last_error());
  pair_free(&x), pair_free(&w), pair_free(&y);
}

int main(void)
{
  if (fr_cuda_device_count() == 0) {
    printf("SKIP: no CUDA device (this build %s the CUDA backend); GPU parity is unverified here\n",
#ifdef FR_HAVE_CUDA
           "has"
#else
           "lacks"
#endif
    );
    return CHECK_SKIP;
  }
  if (fr_backend_open("cuda", 0, &gpu) != FR_OK || fr_backend_open("cpu", 0, &cpu) != FR_OK) {
    fprintf(stderr, "cannot open backends: %s\n", fr_last_error());
    return 1;
  }
  printf("comparing %s with %s\n", fr_backend_name(gpu), fr_backend_name(cpu));
  test_elementwise();
  test_norms();
  test_shard_ops();
  test_missing_ops_say_so();
  fr_backend_close(gpu);
  fr_backend_close(cpu);
  return check_done("test_cuda");
}
