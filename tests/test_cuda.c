/* The CUDA backend against the CPU reference, bit for bit, on every TEST case of perf/op_table.c and on the
 * i8x-v1 cases below (NaN equals any NaN; -0 and +0 differ); one line per case. An op the GPU does not
 * implement yet fails its cases.
 * Options: --all adds the SLOW cases, --i8x runs only the i8x-v1 cases, --case SUBSTR keeps the cases whose
 * name contains SUBSTR.
 * Skips (exit 77) when the build has no CUDA or the machine has no GPU. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fractal/i8x.h"
#include "op_cases.h"

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sets the case up on be, runs it and downloads its outputs. */
static fr_status run_on(const op_case *c, fr_backend *be, op_result *res)
{
  op_inst r;
  FR_TRY(op_setup(c, be, 0, &r));
  fr_status st = op_run(&r);
  if (st == FR_OK) st = op_fetch(&r, res);
  op_free(&r);
  return st;
}

/* Returns 1 when the case passes, else prints why. */
static int check_case(const op_case *c, fr_backend *cpu, fr_backend *gpu)
{
  char shape[160], msg[320];
  op_inst r;
  op_result want, got;
  double t0 = now_s();
  if (op_setup(c, cpu, 0, &r) != FR_OK) {
    printf("FAIL %-40s %s\n", c->name, fr_last_error());
    return 0;
  }
  op_shape(&r, shape, sizeof shape);
  fr_status st = op_run(&r);
  if (st == FR_OK) st = op_fetch(&r, &want);
  op_free(&r);
  if (st != FR_OK) {
    printf("FAIL %-40s %-36s CPU reference: %s\n", c->name, shape, fr_last_error());
    return 0;
  }
  st = run_on(c, gpu, &got);
  int same = 0;
  if (st == FR_EUNSUPPORTED) snprintf(msg, sizeof msg, "not implemented on the GPU: %s", fr_last_error());
  else if (st != FR_OK) snprintf(msg, sizeof msg, "%s: %s", fr_status_str(st), fr_last_error());
  else same = op_same_bits(&want, &got, msg, sizeof msg);
  if (same) printf("ok   %-40s %-36s %6.2f s\n", c->name, shape, now_s() - t0);
  else printf("FAIL %-40s %-36s %s\n", c->name, shape, msg);
  op_result_free(&want);
  if (st == FR_OK) op_result_free(&got);
  return same;
}

/* ---- i8x-v1: the four exact-integer ops, CUDA against the CPU on the same host bytes ---- */

#define I8X_TOP 0x1.fffffep-1f /* quantizes to 2^14 - 1 with the vector's exponent 0: the largest operand */

enum i8x_fill {
  I8X_RANDOM,  /* magnitudes over 2^-6 .. 2^6 */
  I8X_SPECIAL, /* rows with a NaN, an infinity, all zeros (signed), subnormals, huge values; the rest random */
  I8X_TOP_POS, /* every value +I8X_TOP: every quantized operand 2^14 - 1 */
  I8X_TOP_NEG, /* every value -I8X_TOP */
  I8X_TOP_MIX, /* +-I8X_TOP, random signs */
  I8X_SOFT,    /* magnitudes over 2^-6 .. 2^-1: attention scores that keep several keys in the softmax */
  I8X_FINITE,  /* I8X_SPECIAL without the NaN and infinity rows */
  I8X_MID_MAX  /* every value -16257 / 2^14: hi = -128, lo = 127, the largest |sum hi lo| */
};

static uint64_t i8x_rng = 1;

static uint64_t i8x_next(void)
{
  i8x_rng ^= i8x_rng << 13;
  i8x_rng ^= i8x_rng >> 7;
  i8x_rng ^= i8x_rng << 17;
  return i8x_rng;
}

static float i8x_uniform(void) { return (float)((double)(i8x_next() >> 11) * 0x1p-52 - 1.0); } /* [-1, 1) */

/* n values seen as rows of `row` values; I8X_SPECIAL gives row r the special of r % 8. */
static void i8x_fill(float *v, int64_t n, int64_t row, int mode, uint64_t seed)
{
  i8x_rng = seed * 0x9e3779b97f4a7c15ull + 0x1234567ull;
  for (int64_t i = 0; i < n; i++) {
    float u = i8x_uniform();
    if (mode == I8X_TOP_POS) v[i] = I8X_TOP;
    else if (mode == I8X_TOP_NEG) v[i] = -I8X_TOP;
    else if (mode == I8X_TOP_MIX) v[i] = u < 0 ? -I8X_TOP : I8X_TOP;
    else if (mode == I8X_MID_MAX) v[i] = -16257.0f / 16384.0f;
    else if (mode == I8X_SOFT) v[i] = u * (float)ldexp(1.0, (int)(i8x_next() % 6) - 6);
    else v[i] = u * (float)ldexp(1.0, (int)(i8x_next() % 13) - 6);
  }
  if (mode != I8X_SPECIAL && mode != I8X_FINITE) return;
  for (int64_t r = 0; r * row < n; r++) {
    float *x = v + r * row;
    int64_t len = n - r * row < row ? n - r * row : row, at = (int64_t)(i8x_next() % (uint64_t)len);
    switch (r % 8) {
    case 1:
      if (mode == I8X_SPECIAL) x[at] = NAN;
      break;
    case 2:
      if (mode == I8X_SPECIAL) x[at] = (r / 8) % 2 ? -INFINITY : INFINITY;
      break;
    case 3:
      for (int64_t i = 0; i < len; i++) x[i] = i % 3 ? 0.0f : -0.0f;
      break;
    case 4:
      for (int64_t i = 0; i < len; i++) x[i] = x[i] * 0x1p-140f; /* subnormal and tiny normal values */
      break;
    case 5:
      for (int64_t i = 0; i < len; i++) x[i] = x[i] * 0x1p120f; /* up to 2^126: sums overflow to infinity */
      break;
    case 6: x[at] = 0x1.fffffep127f; break; /* FLT_MAX among small values: they quantize to 0 */
    default: break;
    }
  }
}

typedef struct i8x_op {
  int kind; /* 0 linear, 1 conv2d, 2 frame conv, 3 attention */
  int64_t xs[4], ws[4];
  int xnd, wnd;
  int64_t ks[3], vs[3]; /* attention: k and v shapes (q's is xs) */
  int stride, pad, frames, bits, bias, residual;
  fr_act act;
  fr_attn_params ap;
  int xfill, wfill, vfill; /* x (q for attention) and w (k for attention), v for attention */
  int64_t scratch;         /* attention: FRACTAL_I8X_ATT_SCRATCH for the GPU (0: unset), to force small chunks */
} i8x_op;

static fr_tensor i8x_dev(fr_backend *be, fr_dtype dt, int nd, const int64_t *shape, const void *host, int *ok)
{
  fr_tensor t;
  memset(&t, 0, sizeof t);
  if (fr_tensor_alloc(be, dt, nd, shape, &t) != FR_OK || fr_tensor_upload(be, &t, host) != FR_OK) *ok = 0;
  return t;
}

static int64_t numel_of(const int64_t *s, int nd)
{
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= s[i];
  return n;
}

/* Runs the op on be from the host arrays; y (numel ny) comes back in out. */
static fr_status i8x_run(fr_backend *be, const i8x_op *o, const float *x, const float *k, const float *v,
                         const int16_t *wq, const int32_t *we, const float *b, const float *r, const int64_t *ys,
                         float *out)
{
  int ok = 1;
  fr_tensor tx = i8x_dev(be, FR_F32, o->xnd, o->xs, x, &ok), tk, tv, tb, tr, ty, q, e;
  memset(&tk, 0, sizeof tk), memset(&tv, 0, sizeof tv), memset(&tb, 0, sizeof tb), memset(&tr, 0, sizeof tr);
  memset(&q, 0, sizeof q), memset(&e, 0, sizeof e), memset(&ty, 0, sizeof ty);
  int ynd = o->kind == 3 ? 3 : o->kind == 0 ? o->xnd : 4;
  if (o->kind == 3) {
    tk = i8x_dev(be, FR_F32, 3, o->ks, k, &ok);
    tv = i8x_dev(be, FR_F32, 3, o->vs, v, &ok);
  } else {
    q = i8x_dev(be, FR_I16, o->wnd, o->ws, wq, &ok);
    e = i8x_dev(be, FR_I32, 1, o->ws, we, &ok);
    if (o->bias) tb = i8x_dev(be, FR_F32, 1, o->ws, b, &ok);
    if (o->residual) tr = i8x_dev(be, FR_F32, ynd, ys, r, &ok);
  }
  if (ok && fr_tensor_alloc(be, FR_F32, ynd, ys, &ty) != FR_OK) ok = 0;
  fr_status st = ok ? FR_OK : FR_EDEVICE;
  if (ok) {
    fr_qweight w = {q, e, o->bits};
    const fr_tensor *pb = o->bias ? &tb : NULL, *pr = o->residual ? &tr : NULL;
    if (o->kind == 0) st = fr_linear_i8x(be, &tx, &w, pb, o->act, pr, &ty);
    else if (o->kind == 1) st = fr_conv2d_i8x(be, &tx, &w, pb, o->stride, o->pad, pr, &ty);
    else if (o->kind == 2) st = fr_conv_frames_i8x(be, &tx, &w, pb, o->frames, pr, &ty);
    else st = fr_attention_i8x(be, &tx, &tk, &tv, &o->ap, o->bits, &ty);
    if (st == FR_OK) st = fr_tensor_download(be, &ty, out);
  }
  fr_tensor *all[] = {&tx, &tk, &tv, &tb, &tr, &ty, &q, &e};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (all[i]->data) fr_tensor_free(be, all[i]);
  return st;
}

/* One i8x case: the same inputs on both backends, the outputs bit for bit (NaN as a class; -0 and +0
 * differ). Returns 1 when it passes. */
static int i8x_check(const char *name, const i8x_op *o, fr_backend *cpu, fr_backend *gpu)
{
  double t0 = now_s();
  int64_t ys[4];
  int ynd;
  int64_t nx = numel_of(o->xs, o->xnd), nk = 0, nv = 0, nw = 0, rows = 0;
  if (o->kind == 0) {
    ynd = o->xnd;
    memcpy(ys, o->xs, sizeof ys);
    ys[ynd - 1] = o->ws[0];
  } else if (o->kind == 3) {
    ynd = 3, ys[0] = o->xs[0], ys[1] = o->xs[1], ys[2] = o->vs[2];
    nk = numel_of(o->ks, 3), nv = numel_of(o->vs, 3);
  } else {
    ynd = 4, ys[0] = o->xs[0], ys[1] = o->ws[0];
    ys[2] = o->kind == 2 ? o->xs[2] : (o->xs[2] + 2 * o->pad - o->ws[2]) / o->stride + 1;
    ys[3] = o->kind == 2 ? o->xs[3] : (o->xs[3] + 2 * o->pad - o->ws[3]) / o->stride + 1;
  }
  if (o->kind != 3) nw = numel_of(o->ws, o->wnd), rows = o->ws[0];
  int64_t ny = numel_of(ys, ynd);
  float *x = malloc(sizeof(float) * (size_t)nx), *k = malloc(sizeof(float) * (size_t)(nk + 1));
  float *v = malloc(sizeof(float) * (size_t)(nv + 1)), *w = malloc(sizeof(float) * (size_t)(nw + 1));
  float *b = malloc(sizeof(float) * (size_t)(rows + 1)), *r = malloc(sizeof(float) * (size_t)ny);
  float *want = malloc(sizeof(float) * (size_t)ny), *got = malloc(sizeof(float) * (size_t)ny);
  int16_t *wq = malloc(sizeof(int16_t) * (size_t)(nw + 1));
  int32_t *we = malloc(sizeof(int32_t) * (size_t)(rows + 1));
  if (!x || !k || !v || !w || !b || !r || !want || !got || !wq || !we) {
    printf("FAIL %-40s out of memory\n", name);
    free(x), free(k), free(v), free(w), free(b), free(r), free(want), free(got), free(wq), free(we);
    return 0;
  }
  i8x_fill(x, nx, o->xs[o->xnd - 1], o->xfill, 1);
  if (o->kind == 3) {
    i8x_fill(k, nk, o->ks[2], o->wfill, 2);
    i8x_fill(v, nv, o->vs[2], o->vfill, 3);
  } else {
    i8x_fill(w, nw, nw / rows, o->wfill, 4);
    i8x_fill(b, rows, rows, I8X_RANDOM, 5);
    i8x_fill(r, ny, ny, I8X_RANDOM, 6);
    fr_tensor wt = fr_tensor_make_dims(FR_F32, w, o->wnd, o->ws);
    if (fr_i8x_quantize_weight(&wt, o->bits, wq, we) != FR_OK) {
      printf("FAIL %-40s quantizing the weight: %s\n", name, fr_last_error());
      free(x), free(k), free(v), free(w), free(b), free(r), free(want), free(got), free(wq), free(we);
      return 0;
    }
  }
  char msg[320] = "";
  int same = 0;
  fr_status st = i8x_run(cpu, o, x, k, v, wq, we, b, r, ys, want);
  if (st != FR_OK) snprintf(msg, sizeof msg, "CPU reference: %s", fr_last_error());
  else {
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)o->scratch);
    if (o->scratch) setenv("FRACTAL_I8X_ATT_SCRATCH", num, 1);
    st = i8x_run(gpu, o, x, k, v, wq, we, b, r, ys, got);
    unsetenv("FRACTAL_I8X_ATT_SCRATCH");
    if (st != FR_OK) snprintf(msg, sizeof msg, "%s: %s", fr_status_str(st), fr_last_error());
  }
  if (st == FR_OK && !msg[0]) {
    same = 1;
    for (int64_t i = 0; i < ny && same; i++) {
      uint32_t a, c;
      memcpy(&a, &want[i], 4), memcpy(&c, &got[i], 4);
      if (a != c && !(isnan(want[i]) && isnan(got[i]))) {
        snprintf(msg, sizeof msg, "index %lld: want %.9g (0x%08x), got %.9g (0x%08x)", (long long)i, (double)want[i], a,
                 (double)got[i], c);
        same = 0;
      }
    }
  }
  int nans = 0, infs = 0;
  for (int64_t i = 0; i < ny && st == FR_OK; i++) nans += isnan(want[i]) != 0, infs += isinf(want[i]) != 0;
  if (same)
    printf("ok   %-40s %8lld outputs (%d NaN, %d inf) %6.2f s\n", name, (long long)ny, nans, infs, now_s() - t0);
  else printf("FAIL %-40s %s\n", name, msg);
  free(x), free(k), free(v), free(w), free(b), free(r), free(want), free(got), free(wq), free(we);
  return same;
}

static i8x_op i8x_linear(int64_t m, int64_t n, int64_t k, int bias, fr_act act, int res, int xf, int wf)
{
  i8x_op o;
  memset(&o, 0, sizeof o);
  o.kind = 0, o.xnd = 2, o.xs[0] = m, o.xs[1] = k, o.wnd = 2, o.ws[0] = n, o.ws[1] = k;
  o.bias = bias, o.act = act, o.residual = res, o.bits = FR_I8X_BITS, o.xfill = xf, o.wfill = wf;
  return o;
}

static i8x_op i8x_conv(int64_t n, int64_t cin, int64_t h, int64_t w, int64_t cout, int64_t kh, int64_t kw, int stride,
                       int pad, int xf, int wf)
{
  i8x_op o;
  memset(&o, 0, sizeof o);
  o.kind = 1, o.xnd = 4, o.xs[0] = n, o.xs[1] = cin, o.xs[2] = h, o.xs[3] = w;
  o.wnd = 4, o.ws[0] = cout, o.ws[1] = cin, o.ws[2] = kh, o.ws[3] = kw, o.stride = stride, o.pad = pad;
  o.bias = 1, o.residual = 1, o.bits = FR_I8X_BITS, o.xfill = xf, o.wfill = wf;
  return o;
}

static i8x_op i8x_frames(int64_t n, int frames, int64_t cin, int64_t h, int64_t w, int64_t cout, int xf, int wf)
{
  i8x_op o;
  memset(&o, 0, sizeof o);
  o.kind = 2, o.xnd = 4, o.xs[0] = n, o.xs[1] = cin, o.xs[2] = h, o.xs[3] = w;
  o.wnd = 3, o.ws[0] = cout, o.ws[1] = cin, o.ws[2] = 3, o.frames = frames;
  o.bias = 1, o.residual = 1, o.bits = FR_I8X_BITS, o.xfill = xf, o.wfill = wf;
  return o;
}

static i8x_op i8x_attn(int64_t bq, int group, int64_t lq, int64_t lk, int heads, int64_t dk, int64_t dv, int causal,
                       int xf, int wf, int vf)
{
  i8x_op o;
  memset(&o, 0, sizeof o);
  o.vfill = vf, o.kind = 3, o.xnd = 3, o.xs[0] = bq, o.xs[1] = lq, o.xs[2] = heads * dk;
  o.ks[0] = bq / group, o.ks[1] = lk, o.ks[2] = heads * dk;
  o.vs[0] = bq / group, o.vs[1] = lk, o.vs[2] = heads * dv;
  o.ap.heads = heads, o.ap.scale = (float)(1.0 / sqrt((double)dk)), o.ap.causal = causal, o.ap.kv_group = group;
  o.bits = FR_I8X_BITS, o.xfill = xf, o.wfill = wf;
  return o;
}

/* Every i8x case whose name contains `only` (all when NULL); returns the number that failed, *run counts. */
static int i8x_cases(fr_backend *cpu, fr_backend *gpu, const char *only, int *run)
{
  struct {
    const char *name;
    i8x_op op;
  } c[64];
  int n = 0;
#define CASE(nm, expr) (c[n].name = (nm), c[n].op = (expr), n++)
  CASE("i8x linear 1x1x1", i8x_linear(1, 1, 1, 0, FR_ACT_NONE, 0, I8X_RANDOM, I8X_RANDOM));
  CASE("i8x linear 3x5x7 bias gelu", i8x_linear(3, 5, 7, 1, FR_ACT_GELU, 0, I8X_RANDOM, I8X_RANDOM));
  CASE("i8x linear 65x33x100 silu residual", i8x_linear(65, 33, 100, 1, FR_ACT_SILU, 1, I8X_RANDOM, I8X_RANDOM));
  CASE("i8x linear 77x70x768 quick_gelu", i8x_linear(77, 70, 768, 1, FR_ACT_QUICK_GELU, 1, I8X_RANDOM, I8X_RANDOM));
  CASE("i8x linear 40x48x50 special values", i8x_linear(40, 48, 50, 1, FR_ACT_NONE, 1, I8X_SPECIAL, I8X_SPECIAL));
  CASE("i8x linear K=11520 every operand +top", i8x_linear(3, 5, 11520, 0, FR_ACT_NONE, 0, I8X_TOP_POS, I8X_TOP_POS));
  CASE("i8x linear K=11520 every operand -top", i8x_linear(2, 3, 11520, 1, FR_ACT_NONE, 0, I8X_TOP_NEG, I8X_TOP_POS));
  CASE("i8x linear K=1000 +-top", i8x_linear(17, 19, 1000, 0, FR_ACT_NONE, 0, I8X_TOP_MIX, I8X_TOP_MIX));
  CASE("i8x linear 3-d x 2x9x37", i8x_linear(18, 11, 37, 1, FR_ACT_NONE, 1, I8X_RANDOM, I8X_SPECIAL));
  c[n - 1].op.xnd = 3, c[n - 1].op.xs[0] = 2, c[n - 1].op.xs[1] = 9, c[n - 1].op.xs[2] = 37;
  CASE("i8x linear 8 bits", i8x_linear(20, 21, 45, 1, FR_ACT_NONE, 0, I8X_RANDOM, I8X_RANDOM));
  c[n - 1].op.bits = 8;
  CASE("i8x linear 15 bits (plain loop)", i8x_linear(20, 21, 45, 1, FR_ACT_NONE, 1, I8X_SPECIAL, I8X_RANDOM));
  c[n - 1].op.bits = 15;
  CASE("i8x linear 15 bits +-top", i8x_linear(3, 4, 600, 0, FR_ACT_NONE, 0, I8X_TOP_MIX, I8X_TOP_NEG));
  c[n - 1].op.bits = 15;
  CASE("i8x conv2d 3x3 pad 1, 5x5", i8x_conv(1, 3, 5, 5, 4, 3, 3, 1, 1, I8X_RANDOM, I8X_RANDOM));
  CASE("i8x conv2d 3x3 stride 2, 9x7", i8x_conv(2, 5, 9, 7, 6, 3, 3, 2, 1, I8X_RANDOM, I8X_RANDOM));
  CASE("i8x conv2d 1x1 6x6", i8x_conv(2, 16, 6, 6, 8, 1, 1, 1, 0, I8X_RANDOM, I8X_RANDOM));
  CASE("i8x conv2d 3x1 no pad", i8x_conv(1, 7, 6, 5, 9, 3, 1, 1, 0, I8X_RANDOM, I8X_RANDOM));
  CASE("i8x conv2d K=320*9 4x4", i8x_conv(1, 320, 4, 4, 8, 3, 3, 1, 1, I8X_RANDOM, I8X_RANDOM));
  CASE("i8x conv2d special values", i8x_conv(2, 4, 9, 9, 5, 3, 3, 1, 1, I8X_SPECIAL, I8X_SPECIAL));
  CASE("i8x conv2d K=640*9 every operand top", i8x_conv(1, 640, 2, 2, 3, 3, 3, 1, 1, I8X_TOP_POS, I8X_TOP_POS));
  CASE("i8x conv2d 67 pixels x 70 channels", i8x_conv(1, 3, 67, 1, 70, 1, 1, 1, 0, I8X_RANDOM, I8X_RANDOM));
  CASE("i8x frame conv 4 frames", i8x_frames(8, 4, 6, 3, 3, 5, I8X_RANDOM, I8X_RANDOM));
  CASE("i8x frame conv 16 frames K=3*40", i8x_frames(16, 16, 40, 2, 3, 7, I8X_RANDOM, I8X_RANDOM));
  CASE("i8x frame conv 1 frame, special", i8x_frames(3, 1, 5, 4, 4, 6, I8X_SPECIAL, I8X_SPECIAL));
  CASE("i8x frame conv every operand -top", i8x_frames(4, 2, 64, 2, 2, 3, I8X_TOP_NEG, I8X_TOP_POS));
  CASE("i8x attention self 33, 2 heads", i8x_attn(2, 1, 33, 33, 2, 8, 8, 0, I8X_SOFT, I8X_SOFT, I8X_RANDOM));
  CASE("i8x attention cross Lk=77, dk=40", i8x_attn(2, 1, 16, 77, 2, 40, 40, 0, I8X_SOFT, I8X_SOFT, I8X_RANDOM));
  CASE("i8x attention temporal 16 frames", i8x_attn(6, 1, 16, 16, 2, 32, 32, 0, I8X_SOFT, I8X_SOFT, I8X_RANDOM));
  CASE("i8x attention causal 20", i8x_attn(2, 1, 20, 20, 1, 16, 24, 1, I8X_SOFT, I8X_SOFT, I8X_RANDOM));
  CASE("i8x attention kv_group 2", i8x_attn(4, 2, 5, 9, 2, 12, 20, 0, I8X_SOFT, I8X_SOFT, I8X_RANDOM));
  CASE("i8x attention kv_group 2 causal 7 of 70", i8x_attn(4, 2, 7, 70, 3, 8, 8, 1, I8X_SOFT, I8X_SOFT, I8X_RANDOM));
  CASE("i8x attention special values", i8x_attn(2, 1, 24, 40, 2, 16, 16, 0, I8X_SPECIAL, I8X_FINITE, I8X_SPECIAL));
  CASE("i8x attention causal special values", i8x_attn(1, 1, 17, 17, 2, 8, 8, 1, I8X_SPECIAL, I8X_SOFT, I8X_RANDOM));
  CASE("i8x attention every operand top", i8x_attn(1, 1, 9, 300, 1, 64, 8, 0, I8X_TOP_MIX, I8X_TOP_POS, I8X_TOP_MIX));
  CASE("i8x attention head dim 1, Lk 1", i8x_attn(3, 1, 1, 1, 1, 1, 1, 0, I8X_SOFT, I8X_SOFT, I8X_RANDOM));
  CASE("i8x attention 8 bits", i8x_attn(2, 1, 10, 35, 2, 8, 8, 1, I8X_SOFT, I8X_SOFT, I8X_RANDOM));
  c[n - 1].op.bits = 8;
  CASE("i8x attention 15 bits (plain loop)", i8x_attn(2, 2, 10, 35, 2, 8, 8, 0, I8X_SPECIAL, I8X_SOFT, I8X_RANDOM));
  c[n - 1].op.bits = 15;
  CASE("i8x attention finite specials in k, v", i8x_attn(2, 1, 12, 40, 2, 16, 16, 0, I8X_SOFT, I8X_FINITE, I8X_FINITE));
  CASE("i8x attention sharp scores", i8x_attn(2, 1, 9, 30, 2, 16, 16, 1, I8X_RANDOM, I8X_RANDOM, I8X_RANDOM));
  CASE("i8x attention in chunks of 3 pairs", i8x_attn(4, 2, 6, 11, 3, 8, 8, 1, I8X_SOFT, I8X_SOFT, I8X_RANDOM));
  c[n - 1].op.scratch = 3 * 6 * 11;
  CASE("i8x attention in chunks of 1 pair", i8x_attn(3, 1, 5, 7, 2, 8, 8, 0, I8X_SOFT, I8X_SOFT, I8X_SPECIAL));
  c[n - 1].op.scratch = 1;
  CASE("i8x linear K=65536 mid sums at their bound",
       i8x_linear(1, 2, 65536, 0, FR_ACT_NONE, 0, I8X_MID_MAX, I8X_MID_MAX));
  CASE("i8x linear K=65537 (plain loop)", i8x_linear(1, 2, 65537, 0, FR_ACT_NONE, 0, I8X_MID_MAX, I8X_TOP_MIX));
#undef CASE
  int failed = 0;
  for (int i = 0; i < n; i++) {
    if (only && !strstr(c[i].name, only)) continue;
    (*run)++;
    failed += !i8x_check(c[i].name, &c[i].op, cpu, gpu);
  }
  return failed;
}

int main(int argc, char **argv)
{
  int all = 0, i8x_only = 0;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--all")) all = 1;
    else if (!strcmp(argv[i], "--i8x")) i8x_only = 1;
    else if (!strcmp(argv[i], "--case") && i + 1 < argc) only = argv[++i];
    else {
      fprintf(stderr, "usage: test_cuda [--all] [--i8x] [--case SUBSTR]\n");
      return 2;
    }
  }
  if (fr_cuda_device_count() == 0) {
    printf("SKIP: no CUDA device (this build %s the CUDA backend); GPU parity is unverified here\n",
#ifdef FR_HAVE_CUDA
           "has"
#else
           "lacks"
#endif
    );
    return 77;
  }
  fr_backend *gpu, *cpu;
  if (fr_backend_open("cuda", 0, &gpu) != FR_OK || fr_backend_open("cpu", 0, &cpu) != FR_OK) {
    fprintf(stderr, "test_cuda: cannot open the backends: %s\n", fr_last_error());
    return 1;
  }
  printf("comparing %s with %s\n", fr_backend_name(gpu), fr_backend_name(cpu));
  unsigned tags = TAG_TEST | (all ? TAG_SLOW : 0);
  int run = 0, failed = 0;
  double t0 = now_s();
  for (int i = 0; i < op_case_count && !i8x_only; i++) {
    const op_case *c = &op_cases[i];
    if (!(c->tags & tags) || (only && !strstr(c->name, only))) continue;
    run++;
    failed += !check_case(c, cpu, gpu);
  }
  failed += i8x_cases(cpu, gpu, only, &run);
  fr_backend_close(gpu);
  fr_backend_close(cpu);
  if (!run) {
    fprintf(stderr, "test_cuda: no case matches\n");
    return 1;
  }
  printf("test_cuda: %d of %d cases %s (%.1f s)\n", failed ? failed : run, run, failed ? "FAILED" : "passed",
         now_s() - t0);
  return failed ? 1 : 0;
}
