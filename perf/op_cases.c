/* Setting up, running and measuring the cases of op_table.c on a backend (perf/op_cases.h): inputs come
 * from one deterministic host generator per case and tensor, so every backend gets the same bytes. */
#include "op_cases.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fractal/i8x.h"
#include "fractal/half.h"

enum role { DATA, WEIGHT, POSITIVE }; /* POSITIVE: a weight drawn as |v| + 1/2 (given rstd) */

/* clang-format off */ /* a table: one entry per line */
static const char *const kind_names[OP_KIND_COUNT] = {
  "linear", "conv2d", "conv_frames", "group_norm", "group_norm_partials", "group_norm_apply", "copy_region",
  "layer_norm", "softmax", "attention", "activate", "geglu", "upsample_nearest", "concat", "add", "scale",
  "permute", "embedding", "timestep_embedding", "fill_normal", "guidance", "sched_ddim", "sched_dpm_x0",
  "sched_dpm_update", "frames_u8"};
/* clang-format on */

const char *op_kind_name(op_kind k) { return (unsigned)k < OP_KIND_COUNT ? kind_names[k] : "?"; }

static uint64_t next(uint64_t *s) /* splitmix64 */
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t name_hash(const char *s) /* FNV-1a */
{
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

static float from_bits(uint32_t u)
{
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static float draw(op_fill fill, enum role role, uint64_t *s)
{
  uint64_t r = next(s);
  float u = (float)((int64_t)(r >> 40) - (1 << 23)) * 0x1p-23f; /* exact, in [-1, 1) */
  if (role == POSITIVE) return fabsf(u) + 0.5f;
  switch (fill) {
  case FILL_WIDE: return role == DATA ? 40.0f * u : u;
  case FILL_OFFSET: return role == DATA ? 300.0f + u : u;
  case FILL_TINY: return r & 1 ? -1e-30f : 1e-30f;
  case FILL_SUBNORMAL:
    if (role != DATA) return u;
    return from_bits((uint32_t)(r & 0x80000000u) | (((uint32_t)(r >> 9) & 0x7fffffu) >> ((r >> 58) % 23)));
  default: return u;
  }
}

static int shape_of(const int64_t *d, int64_t *shape)
{
  int n = 0;
  while (n < FR_MAX_DIMS && d[n] > 0) shape[n] = d[n], n++;
  return n;
}

static int64_t gcd(int64_t a, int64_t b) { return b ? gcd(b, a % b) : a; }

/* Element i of a host buffer of dtype dt (F32, F16 or BF16) = v, rounded to the dtype. */
static void store(fr_dtype dt, unsigned char *h, size_t i, float v)
{
  uint16_t b = dt == FR_F16 ? fr_f32_to_f16(v) : fr_f32_to_bf16(v);
  if (dt == FR_F32) memcpy(h + 4 * i, &v, 4);
  else memcpy(h + 2 * i, &b, 2);
}

/* Allocates r->in[slot] (or r->out[slot - OP_MAX_IN]) on the backend and uploads its host bytes: drawn
 * values for an input, the byte 0xa5 everywhere for an output (which must then be overwritten). */
static fr_status make(op_inst *r, int slot, fr_dtype dt, int ndim, const int64_t *shape, enum role role)
{
  static const float special[7] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 0x1p-140f, FLT_MAX};
  int output = slot >= OP_MAX_IN;
  fr_tensor *t = output ? &r->out[slot - OP_MAX_IN] : &r->in[slot];
  if (!r->be) { /* described only: the shape, no memory */
    *t = fr_tensor_make_dims(dt, NULL, ndim, shape);
    return FR_OK;
  }
  FR_TRY(fr_tensor_alloc(r->be, dt, ndim, shape, t));
  size_t n = (size_t)fr_tensor_numel(t), es = fr_dtype_size(dt);
  unsigned char *h = (unsigned char *)malloc(n * es + 1);
  if (!h) return fr_fail(FR_ENOMEM, "op case %s: out of host memory", r->c->name);
  uint64_t s = name_hash(r->c->name) + 0x632be59bd9b4e019ull * (uint64_t)(slot + 1);
  if (output) memset(h, 0xa5, n * es);
  for (size_t i = 0; !output && i < n; i++) store(dt, h, i, draw(r->c->fill, role, &s));
  for (int j = 0; !output && r->c->fill == FILL_SPECIAL && n && j < 7; j++) store(dt, h, next(&s) % n, special[j]);
  fr_status st = fr_tensor_upload(r->be, t, h);
  free(h);
  return st;
}

#define OUT(i) (OP_MAX_IN + (i))

static fr_status setup_gemm_class(op_inst *r)
{
  const op_case *c = r->c;
  const int64_t *d = r->d;
  int bias = c->flags & F_BIAS, res = c->flags & F_RESIDUAL;
  if (c->op == OP_LINEAR) {
    int64_t xs[3] = {d[0], d[1], d[3]}, ws[2] = {d[2], d[3]}, ys[3] = {d[0], d[1], d[2]};
    FR_TRY(make(r, 0, FR_F32, 3, xs, DATA));
    FR_TRY(make(r, 1, c->wdt, 2, ws, WEIGHT));
    if (bias) FR_TRY(make(r, 2, c->wdt, 1, &d[2], WEIGHT));
    if (res) FR_TRY(make(r, 3, FR_F32, 3, ys, DATA));
    return make(r, OUT(0), FR_F32, 3, ys, DATA);
  }
  if (c->op == OP_CONV2D) {
    int64_t k = d[5], ho = (d[2] + 2 * d[7] - k) / d[6] + 1, wo = (d[3] + 2 * d[7] - k) / d[6] + 1;
    int64_t ws[4] = {d[4], d[1], k, k}, ys[4] = {d[0], d[4], ho, wo};
    FR_TRY(make(r, 0, FR_F32, 4, d, DATA));
    FR_TRY(make(r, 1, c->wdt, 4, ws, WEIGHT));
    if (bias) FR_TRY(make(r, 2, c->wdt, 1, &d[4], WEIGHT));
    if (res) FR_TRY(make(r, 3, FR_F32, 4, ys, DATA));
    return make(r, OUT(0), FR_F32, 4, ys, DATA);
  }
  if (c->op == OP_CONV_FRAMES) {
    int64_t ws[5] = {d[4], d[1], 3, 1, 1}, ys[4] = {d[0], d[4], d[2], d[3]};
    r->frames = (int)gcd(d[0], d[5]);
    FR_TRY(make(r, 0, FR_F32, 4, d, DATA));
    FR_TRY(make(r, 1, c->wdt, c->flags & F_W3 ? 3 : 5, ws, WEIGHT));
    if (bias) FR_TRY(make(r, 2, c->wdt, 1, &d[4], WEIGHT));
    if (res) FR_TRY(make(r, 3, FR_F32, 4, ys, DATA));
    return make(r, OUT(0), FR_F32, 4, ys, DATA);
  }
  /* attention */
  r->kv_group = (int)gcd(d[0], d[6]);
  int64_t qs[3] = {d[0], d[1], d[3] * d[4]}, ks[3] = {d[0] / r->kv_group, d[2], d[3] * d[4]};
  int64_t vs[3] = {ks[0], d[2], d[3] * d[5]}, ys[3] = {d[0], d[1], d[3] * d[5]};
  FR_TRY(make(r, 0, FR_F32, 3, qs, DATA));
  FR_TRY(make(r, 1, FR_F32, 3, ks, DATA));
  FR_TRY(make(r, 2, FR_F32, 3, vs, DATA));
  return make(r, OUT(0), FR_F32, 3, ys, DATA);
}

static fr_status setup_norm(op_inst *r)
{
  const op_case *c = r->c;
  const int64_t *d = r->d;
  int64_t shape[FR_MAX_DIMS], stats[2] = {d[0], d[4]};
  int nd = c->op == OP_LAYER_NORM ? shape_of(d, shape) : 4;
  if (c->op != OP_LAYER_NORM) memcpy(shape, d, 4 * sizeof *d);
  int64_t channels = c->op == OP_LAYER_NORM ? shape[nd - 1] : d[1];
  r->frames = c->op == OP_GROUP_NORM ? (int)gcd(d[0], d[5]) : 1;
  FR_TRY(make(r, 0, FR_F32, nd, shape, DATA));
  if (c->op == OP_GN_PARTIALS) {
    if (c->flags & F_MEAN) FR_TRY(make(r, 1, FR_F32, 2, stats, WEIGHT));
    return make(r, OUT(0), FR_F32, 2, stats, DATA);
  }
  if (c->flags & F_AFFINE) {
    FR_TRY(make(r, 1, c->wdt, 1, &channels, WEIGHT));
    FR_TRY(make(r, 2, c->wdt, 1, &channels, WEIGHT));
  }
  if (c->op == OP_GN_APPLY) {
    FR_TRY(make(r, 3, FR_F32, 2, stats, WEIGHT));
    FR_TRY(make(r, 4, FR_F32, 2, stats, POSITIVE));
  }
  return make(r, OUT(0), FR_F32, nd, shape, DATA);
}

static fr_status setup_copy_region(op_inst *r)
{
  const int64_t *d = r->d;
  int64_t p = d[3], src = (d[0] + p) * (d[1] + p) * (d[2] + p), dst = d[0] * d[1] * d[2] + 3;
  r->src_strides[0] = (d[1] + p) * (d[2] + p), r->src_strides[1] = d[2] + p, r->src_strides[2] = 1;
  r->src_off = p * (r->src_strides[0] + r->src_strides[1] + 1) / 2;
  int64_t plain[3] = {d[1] * d[2], d[2], 1}, transposed[3] = {1, d[0], d[0] * d[1]};
  memcpy(r->dst_strides, r->c->flags & F_TRANSPOSE ? transposed : plain, sizeof plain);
  r->dst_off = 3;
  FR_TRY(make(r, 0, FR_F32, 1, &src, DATA));
  return make(r, OUT(0), FR_F32, 1, &dst, DATA);
}

/* The elementwise, data movement and generator ops. */
static fr_status setup_other(op_inst *r)
{
  const op_case *c = r->c;
  const int64_t *d = r->d;
  int64_t s[FR_MAX_DIMS], t[FR_MAX_DIMS];
  int nd = shape_of(d, s);
  memcpy(t, s, sizeof s);
  switch (c->op) {
  case OP_SOFTMAX:
  case OP_ACTIVATE:
  case OP_SCALE: FR_TRY(make(r, 0, FR_F32, nd, s, DATA)); return make(r, OUT(0), FR_F32, nd, s, DATA);
  case OP_FILL_NORMAL: return make(r, OUT(0), FR_F32, nd, s, DATA);
  case OP_GUIDANCE:
  case OP_DDIM:
  case OP_DPM_X0:
  case OP_DPM_UPDATE:
    FR_TRY(make(r, 0, FR_F32, nd, s, DATA));
    FR_TRY(make(r, 1, FR_F32, nd, s, DATA));
    if (c->flags & F_SECOND) FR_TRY(make(r, 2, FR_F32, nd, s, DATA));
    return make(r, OUT(0), FR_F32, nd, s, DATA);
  case OP_GEGLU:
    t[nd - 1] /= 2;
    FR_TRY(make(r, 0, FR_F32, nd, s, DATA));
    return make(r, OUT(0), FR_F32, nd, t, DATA);
  case OP_UPSAMPLE:
    t[2] = d[4], t[3] = d[5];
    FR_TRY(make(r, 0, FR_F32, 4, s, DATA));
    return make(r, OUT(0), FR_F32, 4, t, DATA);
  case OP_CONCAT:
    t[c->arg] = c->arg2;
    FR_TRY(make(r, 0, c->wdt, nd, s, DATA));
    FR_TRY(make(r, 1, c->wdt, nd, t, DATA));
    t[c->arg] = s[c->arg] + c->arg2;
    return make(r, OUT(0), c->wdt, nd, t, DATA);
  case OP_ADD: {
    int bn = c->arg ? c->arg : nd;
    FR_TRY(make(r, 0, FR_F32, nd, s, DATA));
    FR_TRY(make(r, 1, c->wdt, bn, c->flags & F_PREFIX ? s : s + nd - bn, DATA));
    return make(r, OUT(0), FR_F32, nd, s, DATA);
  }
  case OP_PERMUTE:
    for (int i = 0; i < nd; i++) t[i] = s[c->perm[i]];
    FR_TRY(make(r, 0, c->wdt, nd, s, DATA));
    return make(r, OUT(0), c->wdt, nd, t, DATA);
  case OP_EMBEDDING: {
    int64_t ts[2] = {d[1], d[2]}, ys[2] = {d[0], d[2]};
    r->ids = fr_tensor_make_dims(FR_I32, calloc((size_t)d[0], sizeof(int32_t)), 1, d);
    if (!r->ids.data) return fr_fail(FR_ENOMEM, "op case %s: out of host memory", c->name);
    int32_t *ids = (int32_t *)r->ids.data;
    for (int64_t i = 0; i < d[0]; i++) ids[i] = (int32_t)(i == 1 ? d[1] - 1 : (i * 7919) % d[1]);
    FR_TRY(make(r, 1, c->wdt, 2, ts, WEIGHT));
    return make(r, OUT(0), FR_F32, 2, ys, DATA);
  }
  case OP_TIMESTEP:
    r->t = (float *)malloc((size_t)d[0] * sizeof(float));
    if (!r->t) return fr_fail(FR_ENOMEM, "op case %s: out of host memory", c->name);
    for (int64_t i = 0; i < d[0]; i++) r->t[i] = i == 0 ? 999.0f : (float)((i * 379) % 1000) + 0.25f * (float)(i % 3);
    return make(r, OUT(0), FR_F32, 2, d, DATA);
  case OP_FRAMES_U8: {
    int64_t fs[4] = {d[0], d[2], d[3], 3};
    FR_TRY(make(r, 0, FR_F32, 4, d, DATA));
    FR_TRY(make(r, OUT(0), FR_U8, 4, fs, DATA));
    return c->flags & F_V01 ? make(r, OUT(1), FR_F32, 4, fs, DATA) : FR_OK;
  }
  default: return fr_fail(FR_EINTERNAL, "op case %s: unknown op %d", c->name, (int)c->op);
  }
}

fr_status op_setup(const op_case *c, fr_backend *be, int images, op_inst *r)
{
  memset(r, 0, sizeof *r);
  r->c = c, r->be = be, r->frames = 1, r->kv_group = 1;
  memcpy(r->d, c->d, sizeof r->d);
  if (images > 0 && (c->flags & F_IMAGES)) {
    if (c->d[0] % OP_BENCH_IMAGES)
      return fr_fail(FR_EINVAL, "op case %s: batch %lld is not a multiple of %d images", c->name, (long long)c->d[0],
                     OP_BENCH_IMAGES);
    r->d[0] = c->d[0] / OP_BENCH_IMAGES * images;
  }
  fr_status st;
  switch (c->op) {
  case OP_LINEAR:
  case OP_CONV2D:
  case OP_CONV_FRAMES:
  case OP_ATTENTION: st = setup_gemm_class(r); break;
  case OP_GROUP_NORM:
  case OP_GN_PARTIALS:
  case OP_GN_APPLY:
  case OP_LAYER_NORM: st = setup_norm(r); break;
  case OP_COPY_REGION: st = setup_copy_region(r); break;
  default: st = setup_other(r); break;
  }
  if (st != FR_OK) {
    fr_fail_context(st, "setting up op case %s on %s", c->name, be ? fr_backend_name(be) : "no backend");
    op_free(r);
  }
  return st;
}

static const fr_tensor *opt(const fr_tensor *t) { return t->data ? t : NULL; }

fr_status op_use_i8x(op_inst *r, int bits)
{
  op_kind k = r->c->op;
  r->i8x_bits = bits;
  if (k != OP_LINEAR && k != OP_CONV2D && k != OP_CONV_FRAMES) return FR_OK;
  const fr_tensor *w = &r->in[1];
  int64_t rows = w->shape[0];
  int16_t *q;
  int32_t *e;
  fr_status st = fr_i8x_quantize_device_weight(r->be, w, bits, &q, &e);
  if (st == FR_OK) st = fr_tensor_alloc(r->be, FR_I16, w->ndim, w->shape, &r->qw.q);
  if (st == FR_OK) st = fr_tensor_upload(r->be, &r->qw.q, q);
  if (st == FR_OK) st = fr_tensor_alloc(r->be, FR_I32, 1, &rows, &r->qw.e);
  if (st == FR_OK) st = fr_tensor_upload(r->be, &r->qw.e, e);
  r->qw.bits = bits;
  free(q), free(e);
  return st;
}

fr_status op_run(op_inst *r)
{
  const op_case *c = r->c;
  fr_backend *be = r->be;
  fr_tensor *in = r->in, *y = &r->out[0];
  static const fr_sched_coeffs k = {.sb = 0.8660254f,
                                    .sa = 0.5f,
                                    .sap = 0.6f,
                                    .dir = 0.8f,
                                    .s = 0.8660254f,
                                    .a = 0.5f,
                                    .ratio = 0.9f,
                                    .c = 0.3f,
                                    .k = 0.5f,
                                    .c2 = 0.25f};
  fr_sched_coeffs kc = k;
  kc.clip = c->flags & F_CLIP ? 1.0f : 0.0f, kc.v_prediction = (c->flags & F_VPRED) != 0;
  if (r->i8x_bits) switch (c->op) {
    case OP_LINEAR: return fr_linear_i8x(be, &in[0], &r->qw, opt(&in[2]), c->act, opt(&in[3]), y);
    case OP_CONV2D: return fr_conv2d_i8x(be, &in[0], &r->qw, opt(&in[2]), (int)r->d[6], (int)r->d[7], opt(&in[3]), y);
    case OP_CONV_FRAMES: return fr_conv_frames_i8x(be, &in[0], &r->qw, opt(&in[2]), r->frames, opt(&in[3]), y);
    case OP_ATTENTION: {
      fr_attn_params p = {(int)r->d[3], (float)(1.0 / sqrt((double)r->d[4])), (c->flags & F_CAUSAL) != 0, r->kv_group};
      return fr_attention_i8x(be, &in[0], &in[1], &in[2], &p, r->i8x_bits, y);
    }
    default: break;
    }
  switch (c->op) {
  case OP_LINEAR: return fr_linear(be, &in[0], &in[1], opt(&in[2]), c->act, opt(&in[3]), y);
  case OP_CONV2D: return fr_conv2d(be, &in[0], &in[1], opt(&in[2]), (int)r->d[6], (int)r->d[7], opt(&in[3]), y);
  case OP_CONV_FRAMES: return fr_conv_frames(be, &in[0], &in[1], opt(&in[2]), r->frames, opt(&in[3]), y);
  case OP_GROUP_NORM:
    return fr_group_norm(be, &in[0], opt(&in[1]), opt(&in[2]), (int)r->d[4], r->frames, c->s, c->act, y);
  case OP_GN_PARTIALS: return fr_group_norm_partials(be, &in[0], (int)r->d[4], opt(&in[1]), y);
  case OP_GN_APPLY:
    return fr_group_norm_apply(be, &in[0], opt(&in[1]), opt(&in[2]), (int)r->d[4], &in[3], &in[4], c->act, y);
  case OP_COPY_REGION:
    return fr_copy_region(be, &in[0], r->src_off, r->src_strides, y, r->dst_off, r->dst_strides, 3, r->d);
  case OP_LAYER_NORM: return fr_layer_norm(be, &in[0], opt(&in[1]), opt(&in[2]), c->s, y);
  case OP_SOFTMAX: return fr_softmax(be, &in[0], y);
  case OP_ATTENTION: {
    fr_attn_params p = {(int)r->d[3], (float)(1.0 / sqrt((double)r->d[4])), (c->flags & F_CAUSAL) != 0, r->kv_group};
    return fr_attention(be, &in[0], &in[1], &in[2], &p, y);
  }
  case OP_ACTIVATE: return fr_activate(be, c->act, &in[0], y);
  case OP_GEGLU: return fr_geglu(be, &in[0], y);
  case OP_UPSAMPLE: return fr_upsample_nearest(be, &in[0], y);
  case OP_CONCAT: return fr_concat(be, c->arg, &in[0], &in[1], y);
  case OP_ADD: return fr_add(be, &in[0], &in[1], y);
  case OP_SCALE: return fr_scale(be, &in[0], c->s, y);
  case OP_PERMUTE: return fr_permute(be, &in[0], c->perm, y);
  case OP_EMBEDDING: return fr_embedding(be, &r->ids, &in[1], y);
  case OP_TIMESTEP: return fr_timestep_embedding(be, r->t, (int)r->d[0], (c->flags & F_FLIP) != 0, c->s, 10000.0f, y);
  case OP_FILL_NORMAL: return fr_fill_normal(be, name_hash(c->name), (uint64_t)c->arg, y);
  case OP_GUIDANCE: return fr_guidance(be, &in[0], &in[1], c->s, y);
  case OP_DDIM: return fr_sched_ddim(be, &in[0], &in[1], &kc, y);
  case OP_DPM_X0: return fr_sched_dpm_x0(be, &in[0], &in[1], &kc, y);
  case OP_DPM_UPDATE: return fr_sched_dpm_update(be, &in[0], &in[1], opt(&in[2]), &kc, y);
  case OP_FRAMES_U8: return fr_frames_u8(be, &in[0], y, r->out[1].data ? &r->out[1] : NULL);
  default: return fr_fail(FR_EINTERNAL, "op case %s: unknown op %d", c->name, (int)c->op);
  }
}

fr_status op_fetch(const op_inst *r, op_result *res)
{
  memset(res, 0, sizeof *res);
  for (int i = 0; i < OP_MAX_OUT && r->out[i].data; i++, res->n++) {
    size_t nbytes = fr_tensor_nbytes(&r->out[i]);
    res->dtype[i] = r->out[i].dtype, res->count[i] = fr_tensor_numel(&r->out[i]);
    res->data[i] = malloc(nbytes + 1);
    if (!res->data[i]) {
      op_result_free(res);
      return fr_fail(FR_ENOMEM, "op case %s: out of host memory", r->c->name);
    }
    fr_status st = fr_tensor_download(r->be, &r->out[i], res->data[i]);
    if (st != FR_OK) {
      op_result_free(res);
      return fr_fail_context(st, "op case %s: downloading output %d", r->c->name, i);
    }
  }
  return FR_OK;
}

void op_result_free(op_result *res)
{
  for (int i = 0; i < OP_MAX_OUT; i++) free(res->data[i]), res->data[i] = NULL;
  res->n = 0;
}

void op_free(op_inst *r)
{
  for (int i = 0; i < OP_MAX_IN && r->be; i++) fr_tensor_free(r->be, &r->in[i]);
  for (int i = 0; i < OP_MAX_OUT && r->be; i++) fr_tensor_free(r->be, &r->out[i]);
  if (r->be && r->qw.q.data) fr_tensor_free(r->be, &r->qw.q);
  if (r->be && r->qw.e.data) fr_tensor_free(r->be, &r->qw.e);
  free(r->ids.data), r->ids.data = NULL;
  free(r->t), r->t = NULL;
}

/* Element i's bits, and whether they are a NaN of the dtype. */
static uint32_t bits_at(fr_dtype dt, const void *p, int64_t i, int *nan)
{
  uint32_t u = 0;
  memcpy(&u, (const char *)p + (size_t)i * fr_dtype_size(dt), fr_dtype_size(dt));
  if (dt == FR_F32) *nan = (u & 0x7fffffffu) > 0x7f800000u;
  else if (dt == FR_F16) *nan = (u & 0x7fffu) > 0x7c00u;
  else if (dt == FR_BF16) *nan = (u & 0x7fffu) > 0x7f80u;
  else *nan = 0;
  return u;
}

static double value_of(fr_dtype dt, uint32_t u)
{
  if (dt == FR_F32) return (double)from_bits(u);
  if (dt == FR_F16) return (double)fr_f16_to_f32((uint16_t)u);
  if (dt == FR_BF16) return (double)fr_bf16_to_f32((uint16_t)u);
  return (double)u;
}

int op_same_bits(const op_result *want, const op_result *got, char *msg, size_t n)
{
  if (want->n != got->n) return snprintf(msg, n, "%d outputs, want %d", got->n, want->n), 0;
  for (int o = 0; o < want->n; o++) {
    fr_dtype dt = want->dtype[o];
    if (got->dtype[o] != dt || got->count[o] != want->count[o])
      return snprintf(msg, n, "output %d has another dtype or size", o), 0;
    int digits = 2 * (int)fr_dtype_size(dt);
    for (int64_t i = 0; i < want->count[o]; i++) {
      int wn, gn;
      uint32_t w = bits_at(dt, want->data[o], i, &wn), g = bits_at(dt, got->data[o], i, &gn);
      if (w == g || (wn && gn)) continue;
      snprintf(msg, n, "output %d index %lld: want %.9g (0x%0*x), got %.9g (0x%0*x)", o, (long long)i, value_of(dt, w),
               digits, w, value_of(dt, g), digits, g);
      return 0;
    }
  }
  return 1;
}

static double elems(const fr_tensor *t) { return t->data ? (double)fr_tensor_numel(t) : 0.0; }
static double nbytes(const fr_tensor *t) { return t->data ? (double)fr_tensor_nbytes(t) : 0.0; }

/* Attention: the (query, key) pairs one head of one batch item scores. */
static double attn_pairs(const int64_t *d, int causal)
{
  return causal ? (double)d[1] * (double)(d[1] + 1) / 2 : (double)d[1] * (double)d[2];
}

double op_flops(const op_inst *r)
{
  if (r->c->op == OP_ATTENTION) /* causal attention skips the masked pairs */
    return 2.0 * (double)(r->d[0] * r->d[3]) * attn_pairs(r->d, r->c->flags & F_CAUSAL) * (double)(r->d[4] + r->d[5]);
  op_gemm g[2];
  int n = op_gemms(r, g);
  double f = 0;
  for (int i = 0; i < n; i++) f += 2.0 * (double)g[i].m * (double)g[i].n * (double)g[i].k * (double)g[i].batch;
  return f;
}

double op_bytes(const op_inst *r)
{
  double b = 0;
  for (int i = 0; i < OP_MAX_IN; i++) b += nbytes(&r->in[i]);
  for (int i = 0; i < OP_MAX_OUT; i++) b += nbytes(&r->out[i]);
  switch (r->c->op) {
  case OP_COPY_REGION: return 8.0 * (double)(r->d[0] * r->d[1] * r->d[2]); /* only the region moves */
  case OP_EMBEDDING:                                                       /* the rows read, not the whole table */
    return nbytes(&r->out[0]) + elems(&r->out[0]) * (double)fr_dtype_size(r->c->wdt) + 4.0 * elems(&r->ids);
  case OP_TIMESTEP:
  case OP_FILL_NORMAL: return nbytes(&r->out[0]);
  default: return b;
  }
}

static const char *dt_tag(fr_dtype dt) { return dt == FR_F32 ? "" : dt == FR_F16 ? " f16" : " bf16"; }

static const char *act_tag(fr_act a)
{
  static const char *const names[FR_ACT_COUNT] = {"", " silu", " gelu", " quick_gelu"};
  return (unsigned)a < FR_ACT_COUNT ? names[a] : " ?";
}

const char *op_shape(const op_inst *r, char *buf, size_t n)
{
  const op_case *c = r->c;
  const int64_t *d = r->d;
  char dims[96];
  const char *extra = c->flags & F_RESIDUAL ? (c->flags & F_BIAS ? " +b+r" : " +r") : c->flags & F_BIAS ? " +b" : "";
  fr_shape_str(&r->in[0], dims, sizeof dims);
  switch (c->op) {
  case OP_LINEAR:
    snprintf(buf, n, "%lldx%lld->%lld%s%s%s", (long long)d[0] * d[1], (long long)d[3], (long long)d[2], dt_tag(c->wdt),
             extra, act_tag(c->act));
    break;
  case OP_CONV2D:
    snprintf(buf, n, "%s->%lld k%lld s%lld p%lld%s%s", dims, (long long)d[4], (long long)d[5], (long long)d[6],
             (long long)d[7], dt_tag(c->wdt), extra);
    break;
  case OP_CONV_FRAMES:
    snprintf(buf, n, "%s->%lld F=%d%s%s", dims, (long long)d[4], r->frames, dt_tag(c->wdt), extra);
    break;
  case OP_GROUP_NORM:
  case OP_GN_APPLY:
    snprintf(buf, n, "%s G=%lld F=%d%s%s", dims, (long long)d[4], r->frames,
             c->flags & F_AFFINE ? dt_tag(c->wdt) : " no affine", act_tag(c->act));
    break;
  case OP_GN_PARTIALS:
    snprintf(buf, n, "%s G=%lld %s", dims, (long long)d[4], c->flags & F_MEAN ? "squares" : "sums");
    break;
  case OP_LAYER_NORM: snprintf(buf, n, "%s%s", dims, c->flags & F_AFFINE ? dt_tag(c->wdt) : " no affine"); break;
  case OP_ATTENTION:
    snprintf(buf, n, "%lldx%lldx%lld H=%lld dk=%lld dv=%lld%s%s", (long long)d[0], (long long)d[1], (long long)d[2],
             (long long)d[3], (long long)d[4], (long long)d[5], r->kv_group > 1 ? " grouped" : "",
             c->flags & F_CAUSAL ? " causal" : "");
    break;
  case OP_COPY_REGION:
    snprintf(buf, n, "[%lld, %lld, %lld]%s", (long long)d[0], (long long)d[1], (long long)d[2],
             c->flags & F_TRANSPOSE ? " transposed" : "");
    break;
  case OP_CONCAT: snprintf(buf, n, "%s + %d on dim %d%s", dims, c->arg2, c->arg, dt_tag(c->wdt)); break;
  case OP_PERMUTE: {
    char perm[FR_MAX_DIMS + 1] = "";
    for (int i = 0; i < r->in[0].ndim; i++) perm[i] = (char)('0' + c->perm[i]);
    snprintf(buf, n, "%s perm %s%s", dims, perm, dt_tag(c->wdt));
    break;
  }
  case OP_TIMESTEP:
  case OP_FILL_NORMAL:
  case OP_EMBEDDING: fr_shape_str(&r->out[0], buf, n); break;
  default: snprintf(buf, n, "%s%s%s", dims, dt_tag(r->in[0].dtype), act_tag(c->act)); break;
  }
  return buf;
}

int op_gemms(const op_inst *r, op_gemm g[2])
{
  const int64_t *d = r->d;
  switch (r->c->op) {
  case OP_LINEAR: g[0] = (op_gemm){d[0] * d[1], d[2], d[3], 1, 1, 0}; return 1;
  case OP_CONV2D:
    g[0] = (op_gemm){d[4], r->out[0].shape[2] * r->out[0].shape[3], d[1] * d[5] * d[5], d[0], 0, 1};
    return 1;
  case OP_CONV_FRAMES: g[0] = (op_gemm){d[4], d[2] * d[3], d[1] * 3, d[0], 0, 1}; return 1;
  case OP_ATTENTION:
    g[0] = (op_gemm){d[1], d[2], d[4], d[0] * d[3], 1, 0};
    g[1] = (op_gemm){d[1], d[5], d[2], d[0] * d[3], 0, 0};
    return 2;
  default: return 0;
  }
}
