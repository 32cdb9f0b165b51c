/* The public op entry points: check devices, dtypes and shapes once, here, then dispatch to the
 * backend. Backends may assume everything checked here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_impl.h"
#include "fractal/i8x.h"

#define SHAPE(t, buf) fr_shape_str((t), (buf), sizeof(buf))

static fr_status no_overlap(const char *op, const char *name, const fr_tensor *in, const fr_tensor *y);

/* A planning twin stops here, its arguments checked. A backend may not have every op yet (the CUDA twin
 * grows op by op): say so instead of crashing. */
#define DISPATCH(be, opname, ...)                                                                                      \
  ((be)->planning      ? FR_OK                                                                                         \
   : (be)->ops->opname ? (be)->ops->opname((be), __VA_ARGS__)                                                          \
                       : fr_fail(FR_EUNSUPPORTED, "the %s backend does not implement " #opname " yet", (be)->name))

static fr_status check_tensor(const fr_backend *be, const char *op, const char *name, const fr_tensor *t)
{
  if (!t) return fr_fail(FR_EINVAL, "%s: %s is NULL", op, name);
  if (t->ndim < 0 || t->ndim > FR_MAX_DIMS) return fr_fail(FR_EINVAL, "%s: %s has %d dims", op, name, t->ndim);
  for (int i = 0; i < t->ndim; i++)
    if (t->shape[i] < 0) return fr_fail(FR_EINVAL, "%s: %s has a negative dimension", op, name);
  if (!t->data && fr_tensor_numel(t) > 0) return fr_fail(FR_EINVAL, "%s: %s has no data", op, name);
  if (t->device != be->device)
    return fr_fail(FR_EINVAL, "%s: %s is on device %d but the backend %s is on %d", op, name, t->device, be->name,
                   be->device);
  return FR_OK;
}

static fr_status check_f32(const fr_backend *be, const char *op, const char *name, const fr_tensor *t)
{
  FR_TRY(check_tensor(be, op, name, t));
  if (t->dtype != FR_F32) return fr_fail(FR_EINVAL, "%s: %s must be F32, got %s", op, name, fr_dtype_name(t->dtype));
  return FR_OK;
}

static fr_status check_weight(const fr_backend *be, const char *op, const char *name, const fr_tensor *t)
{
  FR_TRY(check_tensor(be, op, name, t));
  if (t->dtype != FR_F32 && t->dtype != FR_F16 && t->dtype != FR_BF16)
    return fr_fail(FR_EINVAL, "%s: %s must be F32, F16 or BF16, got %s", op, name, fr_dtype_name(t->dtype));
  return FR_OK;
}

/* A per-channel vector (bias, gamma, beta): a weight of shape [n]. */
static fr_status check_vector(const fr_backend *be, const char *op, const char *name, const fr_tensor *t, int64_t n)
{
  char buf[96];
  FR_TRY(check_weight(be, op, name, t));
  if (t->ndim != 1 || t->shape[0] != n)
    return fr_fail(FR_EINVAL, "%s: %s is %s, want [%lld]", op, name, SHAPE(t, buf), (long long)n);
  return FR_OK;
}

/* y may be the very same buffer as an input of an elementwise op, but never a partial overlap. */
static fr_status alias_or_apart(const char *op, const char *name, const fr_tensor *in, const fr_tensor *y)
{
  return in->data == y->data ? FR_OK : no_overlap(op, name, in, y);
}

static fr_status check_shape(const char *op, const char *name, const fr_tensor *t, int ndim, const int64_t *want)
{
  char got[96], exp[96];
  fr_tensor w = fr_tensor_make_dims(FR_F32, NULL, ndim, want);
  if (!fr_tensor_same_shape(t, &w))
    return fr_fail(FR_EINVAL, "%s: %s is %s, want %s", op, name, SHAPE(t, got), SHAPE(&w, exp));
  return FR_OK;
}

static fr_status check_same(const char *op, const char *name, const fr_tensor *t, const fr_tensor *like)
{
  return check_shape(op, name, t, like->ndim, like->shape);
}

static fr_status check_ndim(const char *op, const char *name, const fr_tensor *t, int ndim)
{
  char buf[96];
  if (t->ndim != ndim) return fr_fail(FR_EINVAL, "%s: %s is %s, want %d dims", op, name, SHAPE(t, buf), ndim);
  return FR_OK;
}

static fr_status no_overlap(const char *op, const char *name, const fr_tensor *in, const fr_tensor *y)
{
  const char *a = (const char *)in->data, *b = (const char *)y->data;
  size_t na = fr_tensor_nbytes(in), nb = fr_tensor_nbytes(y);
  if (na && nb && a < b + nb && b < a + na) return fr_fail(FR_EINVAL, "%s: y must not overlap %s", op, name);
  return FR_OK;
}

/* i8x-v1's quantized weights: q I16 of the float weight's shape, e I32 [rows], 2 <= bits <= 15. */
static fr_status check_qweight(const fr_backend *be, const char *op, const fr_qweight *w)
{
  char bq[96], be_[96];
  if (!w) return fr_fail(FR_EINVAL, "%s: w is NULL", op);
  FR_TRY(check_tensor(be, op, "w.q", &w->q));
  FR_TRY(check_tensor(be, op, "w.e", &w->e));
  if (w->q.dtype != FR_I16 || w->e.dtype != FR_I32)
    return fr_fail(FR_EINVAL, "%s: a quantized weight is I16 values and I32 exponents, got %s and %s", op,
                   fr_dtype_name(w->q.dtype), fr_dtype_name(w->e.dtype));
  if (w->q.ndim < 2 || w->e.ndim != 1 || w->e.shape[0] != w->q.shape[0])
    return fr_fail(FR_EINVAL, "%s: w.q %s and w.e %s do not fit (one exponent per row)", op, SHAPE(&w->q, bq),
                   SHAPE(&w->e, be_));
  if (w->bits < FR_I8X_MIN_BITS || w->bits > FR_I8X_MAX_BITS)
    return fr_fail(FR_EINVAL, "%s: %d quantization bits (want %d..%d)", op, w->bits, FR_I8X_MIN_BITS, FR_I8X_MAX_BITS);
  return FR_OK;
}

/* The checks and dimensions of a linear with weight shape w (F32 [N, K] or its I16 quantized twin). */
static fr_status linear_dims(fr_backend *be, const char *op, const fr_tensor *x, const fr_tensor *w, const fr_tensor *b,
                             fr_act act, const fr_tensor *residual, fr_tensor *y, fr_linear_dims *out)
{
  char bx[96], bw[96];
  FR_TRY(check_f32(be, op, "x", x));
  FR_TRY(check_f32(be, op, "y", y));
  FR_TRY(check_ndim(op, "w", w, 2));
  if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1] || w->shape[1] == 0)
    return fr_fail(FR_EINVAL, "%s: x %s does not match w %s (want x[..., %lld])", op, SHAPE(x, bx), SHAPE(w, bw),
                   (long long)w->shape[1]);
  fr_linear_dims d = {fr_tensor_numel(x) / w->shape[1], w->shape[0], w->shape[1]};
  int64_t ys[FR_MAX_DIMS];
  memcpy(ys, x->shape, sizeof ys);
  ys[x->ndim - 1] = d.n;
  FR_TRY(check_shape(op, "y", y, x->ndim, ys));
  if (b) FR_TRY(check_vector(be, op, "b", b, d.n));
  if (residual) {
    FR_TRY(check_f32(be, op, "residual", residual));
    FR_TRY(check_same(op, "residual", residual, y));
    FR_TRY(no_overlap(op, "residual", residual, y)); /* y holds partial sums until the epilogue */
  }
  if ((unsigned)act >= FR_ACT_COUNT) return fr_fail(FR_EINVAL, "%s: unknown activation %d", op, (int)act);
  FR_TRY(no_overlap(op, "x", x, y));
  *out = d;
  return FR_OK;
}

fr_status fr_linear(fr_backend *be, const fr_tensor *x, const fr_tensor *w, const fr_tensor *b, fr_act act,
                    const fr_tensor *residual, fr_tensor *y)
{
  fr_linear_dims d;
  FR_TRY(check_weight(be, "fr_linear", "w", w));
  FR_TRY(linear_dims(be, "fr_linear", x, w, b, act, residual, y, &d));
  return DISPATCH(be, linear, &d, x, w, b, act, residual, y);
}

fr_status fr_linear_i8x(fr_backend *be, const fr_tensor *x, const fr_qweight *w, const fr_tensor *b, fr_act act,
                        const fr_tensor *residual, fr_tensor *y)
{
  fr_linear_dims d;
  FR_TRY(check_qweight(be, "fr_linear_i8x", w));
  FR_TRY(linear_dims(be, "fr_linear_i8x", x, &w->q, b, act, residual, y, &d));
  return DISPATCH(be, linear_i8x, &d, x, w, b, act, residual, y);
}

static fr_status conv_common(fr_backend *be, const char *op, const fr_tensor *x, const fr_tensor *w, const fr_tensor *b,
                             const fr_tensor *residual, const fr_tensor *y)
{
  FR_TRY(check_f32(be, op, "x", x));
  FR_TRY(check_f32(be, op, "y", y));
  FR_TRY(check_ndim(op, "x", x, 4));
  if (b) FR_TRY(check_vector(be, op, "b", b, w->shape[0]));
  if (residual) {
    FR_TRY(check_f32(be, op, "residual", residual));
    FR_TRY(check_same(op, "residual", residual, y));
    FR_TRY(no_overlap(op, "residual", residual, y)); /* y holds partial sums until the epilogue */
  }
  return no_overlap(op, "x", x, y);
}

static fr_status conv2d_dims(fr_backend *be, const char *op, const fr_tensor *x, const fr_tensor *w, const fr_tensor *b,
                             int stride, int pad, const fr_tensor *residual, fr_tensor *y, fr_conv_dims *out)
{
  char bx[96], bw[96];
  FR_TRY(check_ndim(op, "w", w, 4));
  FR_TRY(conv_common(be, op, x, w, b, residual, y));
  if (w->shape[1] != x->shape[1] || w->shape[1] == 0)
    return fr_fail(FR_EINVAL, "%s: x %s has %lld channels but w %s wants %lld", op, SHAPE(x, bx),
                   (long long)x->shape[1], SHAPE(w, bw), (long long)w->shape[1]);
  if (stride < 1 || pad < 0 || w->shape[2] < 1 || w->shape[3] < 1)
    return fr_fail(FR_EINVAL, "%s: stride %d, pad %d, kernel %s are invalid", op, stride, pad, SHAPE(w, bw));
  fr_conv_dims d = {0};
  d.n = x->shape[0], d.cin = x->shape[1], d.h = x->shape[2], d.w = x->shape[3];
  d.cout = w->shape[0], d.kh = w->shape[2], d.kw = w->shape[3], d.stride = stride, d.pad = pad;
  if (d.h + 2 * pad < d.kh || d.w + 2 * pad < d.kw)
    return fr_fail(FR_EINVAL, "%s: input %s is smaller than kernel %s with pad %d", op, SHAPE(x, bx), SHAPE(w, bw),
                   pad);
  d.ho = (d.h + 2 * pad - d.kh) / stride + 1;
  d.wo = (d.w + 2 * pad - d.kw) / stride + 1;
  int64_t ys[4] = {d.n, d.cout, d.ho, d.wo};
  FR_TRY(check_shape(op, "y", y, 4, ys));
  *out = d;
  return FR_OK;
}

fr_status fr_conv2d(fr_backend *be, const fr_tensor *x, const fr_tensor *w, const fr_tensor *b, int stride, int pad,
                    const fr_tensor *residual, fr_tensor *y)
{
  fr_conv_dims d;
  FR_TRY(check_weight(be, "fr_conv2d", "w", w));
  FR_TRY(conv2d_dims(be, "fr_conv2d", x, w, b, stride, pad, residual, y, &d));
  return DISPATCH(be, conv2d, &d, x, w, b, residual, y);
}

fr_status fr_conv2d_i8x(fr_backend *be, const fr_tensor *x, const fr_qweight *w, const fr_tensor *b, int stride,
                        int pad, const fr_tensor *residual, fr_tensor *y)
{
  fr_conv_dims d;
  FR_TRY(check_qweight(be, "fr_conv2d_i8x", w));
  FR_TRY(conv2d_dims(be, "fr_conv2d_i8x", x, &w->q, b, stride, pad, residual, y, &d));
  return DISPATCH(be, conv2d_i8x, &d, x, w, b, residual, y);
}

static fr_status conv_frames_dims(fr_backend *be, const char *op, const fr_tensor *x, const fr_tensor *w,
                                  const fr_tensor *b, int frames, const fr_tensor *residual, fr_tensor *y,
                                  fr_conv_dims *out)
{
  char bx[96], bw[96];
  int w_ok =
      (w->ndim == 3 && w->shape[2] == 3) || (w->ndim == 5 && w->shape[2] == 3 && w->shape[3] == 1 && w->shape[4] == 1);
  if (!w_ok) return fr_fail(FR_EINVAL, "%s: w is %s, want [Cout, Cin, 3, 1, 1] or [Cout, Cin, 3]", op, SHAPE(w, bw));
  FR_TRY(conv_common(be, op, x, w, b, residual, y));
  if (w->shape[1] != x->shape[1] || w->shape[1] == 0)
    return fr_fail(FR_EINVAL, "%s: x %s has %lld channels but w %s wants %lld", op, SHAPE(x, bx),
                   (long long)x->shape[1], SHAPE(w, bw), (long long)w->shape[1]);
  if (frames < 1 || x->shape[0] % frames != 0)
    return fr_fail(FR_EINVAL, "%s: %lld samples are not a whole number of %d-frame videos", op, (long long)x->shape[0],
                   frames);
  fr_conv_dims d = {0};
  d.n = x->shape[0], d.cin = x->shape[1], d.h = d.ho = x->shape[2], d.w = d.wo = x->shape[3];
  d.cout = w->shape[0], d.kh = 3, d.kw = 1, d.stride = 1, d.pad = 1, d.frames = frames;
  int64_t ys[4] = {d.n, d.cout, d.h, d.w};
  FR_TRY(check_shape(op, "y", y, 4, ys));
  *out = d;
  return FR_OK;
}

fr_status fr_conv_frames(fr_backend *be, const fr_tensor *x, const fr_tensor *w, const fr_tensor *b, int frames,
                         const fr_tensor *residual, fr_tensor *y)
{
  fr_conv_dims d;
  FR_TRY(check_weight(be, "fr_conv_frames", "w", w));
  FR_TRY(conv_frames_dims(be, "fr_conv_frames", x, w, b, frames, residual, y, &d));
  return DISPATCH(be, conv_frames, &d, x, w, b, residual, y);
}

fr_status fr_conv_frames_i8x(fr_backend *be, const fr_tensor *x, const fr_qweight *w, const fr_tensor *b, int frames,
                             const fr_tensor *residual, fr_tensor *y)
{
  fr_conv_dims d;
  FR_TRY(check_qweight(be, "fr_conv_frames_i8x", w));
  FR_TRY(conv_frames_dims(be, "fr_conv_frames_i8x", x, &w->q, b, frames, residual, y, &d));
  return DISPATCH(be, conv_frames_i8x, &d, x, w, b, residual, y);
}

fr_status fr_group_norm(fr_backend *be, const fr_tensor *x, const fr_tensor *gamma, const fr_tensor *beta, int groups,
                        int frames, float eps, fr_act act, fr_tensor *y)
{
  const char *op = "fr_group_norm";
  char bx[96];
  FR_TRY(check_f32(be, op, "x", x));
  FR_TRY(check_f32(be, op, "y", y));
  FR_TRY(check_same(op, "y", y, x));
  FR_TRY(alias_or_apart(op, "x", x, y));
  if (x->ndim < 2) return fr_fail(FR_EINVAL, "%s: x is %s, want [N, C, ...]", op, SHAPE(x, bx));
  fr_norm_dims d = {x->shape[0], x->shape[1], 1, groups, frames};
  for (int i = 2; i < x->ndim; i++) d.inner *= x->shape[i];
  if (groups < 1 || d.channels % groups != 0)
    return fr_fail(FR_EINVAL, "%s: %lld channels do not split into %d groups", op, (long long)d.channels, groups);
  if (frames < 1 || d.samples % frames != 0)
    return fr_fail(FR_EINVAL, "%s: %lld samples are not a whole number of %d-frame runs", op, (long long)d.samples,
                   frames);
  if (gamma) FR_TRY(check_vector(be, op, "gamma", gamma, d.channels));
  if (beta) FR_TRY(check_vector(be, op, "beta", beta, d.channels));
  if (!(eps >= 0.0f)) return fr_fail(FR_EINVAL, "%s: eps must be >= 0", op);
  if (act != FR_ACT_NONE && act != FR_ACT_SILU) return fr_fail(FR_EINVAL, "%s: act must be none or silu", op);
  return DISPATCH(be, group_norm, &d, x, gamma, beta, eps, act, y);
}

/* x [N, C, ...] viewed as [samples, channels, inner] for the GroupNorm pieces, with [N, groups] stats. */
static fr_status gn_piece_dims(const fr_backend *be, const char *op, const fr_tensor *x, int groups, fr_norm_dims *d)
{
  char bx[96];
  FR_TRY(check_f32(be, op, "x", x));
  if (x->ndim < 2) return fr_fail(FR_EINVAL, "%s: x is %s, want [N, C, ...]", op, SHAPE(x, bx));
  *d = (fr_norm_dims){x->shape[0], x->shape[1], 1, groups, 1};
  for (int i = 2; i < x->ndim; i++) d->inner *= x->shape[i];
  if (groups < 1 || d->channels % groups != 0)
    return fr_fail(FR_EINVAL, "%s: %lld channels do not split into %d groups", op, (long long)d->channels, groups);
  return FR_OK;
}

static fr_status check_stats(const fr_backend *be, const char *op, const char *name, const fr_tensor *t,
                             const fr_norm_dims *d)
{
  int64_t want[2] = {d->samples, d->groups};
  FR_TRY(check_f32(be, op, name, t));
  return check_shape(op, name, t, 2, want);
}

fr_status fr_group_norm_partials(fr_backend *be, const fr_tensor *x, int groups, const fr_tensor *mean, fr_tensor *out)
{
  const char *op = "fr_group_norm_partials";
  fr_norm_dims d;
  FR_TRY(gn_piece_dims(be, op, x, groups, &d));
  if (mean) FR_TRY(check_stats(be, op, "mean", mean, &d));
  FR_TRY(check_stats(be, op, "out", out, &d));
  FR_TRY(no_overlap(op, "x", x, out));
  if (mean) FR_TRY(alias_or_apart(op, "mean", mean, out));
  return DISPATCH(be, group_norm_partials, &d, x, mean, out);
}

fr_status fr_group_norm_apply(fr_backend *be, const fr_tensor *x, const fr_tensor *gamma, const fr_tensor *beta,
                              int groups, const fr_tensor *mean, const fr_tensor *rstd, fr_act act, fr_tensor *y)
{
  const char *op = "fr_group_norm_apply";
  fr_norm_dims d;
  FR_TRY(gn_piece_dims(be, op, x, groups, &d));
  FR_TRY(check_stats(be, op, "mean", mean, &d));
  FR_TRY(check_stats(be, op, "rstd", rstd, &d));
  FR_TRY(check_f32(be, op, "y", y));
  FR_TRY(check_same(op, "y", y, x));
  FR_TRY(alias_or_apart(op, "x", x, y));
  FR_TRY(no_overlap(op, "mean", mean, y));
  FR_TRY(no_overlap(op, "rstd", rstd, y));
  if (gamma) FR_TRY(check_vector(be, op, "gamma", gamma, d.channels));
  if (beta) FR_TRY(check_vector(be, op, "beta", beta, d.channels));
  if (act != FR_ACT_NONE && act != FR_ACT_SILU) return fr_fail(FR_EINVAL, "%s: act must be none or silu", op);
  return DISPATCH(be, group_norm_apply, &d, x, gamma, beta, mean, rstd, act, y);
}

/* The largest element index a region reaches, or -1 if an index is negative. */
static int64_t region_end(int64_t off, const int64_t *strides, int ndim, const int64_t *shape)
{
  int64_t last = off;
  if (off < 0) return -1;
  for (int k = 0; k < ndim; k++) {
    if (strides[k] < 0) return -1;
    if (shape[k] == 0) return off; /* empty */
    last += (shape[k] - 1) * strides[k];
  }
  return last;
}

fr_status fr_copy_region(fr_backend *be, const fr_tensor *src, int64_t src_off, const int64_t *src_strides,
                         fr_tensor *dst, int64_t dst_off, const int64_t *dst_strides, int ndim, const int64_t *shape)
{
  const char *op = "fr_copy_region";
  FR_TRY(check_tensor(be, op, "src", src));
  FR_TRY(check_tensor(be, op, "dst", dst));
  if (fr_dtype_size(src->dtype) != 4 || fr_dtype_size(dst->dtype) != 4)
    return fr_fail(FR_EINVAL, "%s: src and dst must have 4-byte elements", op);
  if (ndim < 1 || ndim > FR_MAX_DIMS) return fr_fail(FR_EINVAL, "%s: ndim %d is not 1..%d", op, ndim, FR_MAX_DIMS);
  int64_t count = 1;
  for (int k = 0; k < ndim; k++) {
    if (shape[k] < 0) return fr_fail(FR_EINVAL, "%s: a negative extent", op);
    count *= shape[k];
  }
  if (!count) return FR_OK;
  int64_t se = region_end(src_off, src_strides, ndim, shape), de = region_end(dst_off, dst_strides, ndim, shape);
  if (se < 0 || se >= fr_tensor_numel(src)) return fr_fail(FR_EINVAL, "%s: the source region leaves src", op);
  if (de < 0 || de >= fr_tensor_numel(dst)) return fr_fail(FR_EINVAL, "%s: the destination region leaves dst", op);
  FR_TRY(no_overlap(op, "src", src, dst));
  return DISPATCH(be, copy_region, src, src_off, src_strides, dst, dst_off, dst_strides, ndim, shape);
}

fr_status fr_layer_norm(fr_backend *be, const fr_tensor *x, const fr_tensor *gamma, const fr_tensor *beta, float eps,
                        fr_tensor *y)
{
  const char *op = "fr_layer_norm";
  FR_TRY(check_f32(be, op, "x", x));
  FR_TRY(check_f32(be, op, "y", y));
  FR_TRY(check_same(op, "y", y, x));
  if (x->ndim < 1 || x->shape[x->ndim - 1] == 0) return fr_fail(FR_EINVAL, "%s: x has no last dimension", op);
  FR_TRY(alias_or_apart(op, "x", x, y));
  int64_t dim = x->shape[x->ndim - 1];
  fr_norm_dims d = {fr_tensor_numel(x) / dim, dim, 1, 1, 1};
  if (gamma) FR_TRY(check_vector(be, op, "gamma", gamma, dim));
  if (beta) FR_TRY(check_vector(be, op, "beta", beta, dim));
  if (!(eps >= 0.0f)) return fr_fail(FR_EINVAL, "%s: eps must be >= 0", op);
  return DISPATCH(be, layer_norm, &d, x, gamma, beta, eps, y);
}

static fr_status attention_dims(fr_backend *be, const char *op, const fr_tensor *q, const fr_tensor *k,
                                const fr_tensor *v, const fr_attn_params *p, fr_tensor *y, fr_attn_dims *out)
{
  char bq[96], bk[96], bv[96];
  FR_TRY(check_f32(be, op, "q", q));
  FR_TRY(check_f32(be, op, "k", k));
  FR_TRY(check_f32(be, op, "v", v));
  FR_TRY(check_f32(be, op, "y", y));
  FR_TRY(check_ndim(op, "q", q, 3));
  FR_TRY(check_ndim(op, "k", k, 3));
  FR_TRY(check_ndim(op, "v", v, 3));
  if (!p || p->heads < 1 || p->kv_group < 1) return fr_fail(FR_EINVAL, "%s: heads and kv_group must be >= 1", op);
  fr_attn_dims d = {q->shape[0], k->shape[0], q->shape[1], k->shape[1], p->heads, 0, 0};
  if (q->shape[2] % p->heads || v->shape[2] % p->heads || q->shape[2] == 0 || v->shape[2] == 0)
    return fr_fail(FR_EINVAL, "%s: channels of q %s / v %s do not split into %d heads", op, SHAPE(q, bq), SHAPE(v, bv),
                   p->heads);
  d.dk = q->shape[2] / p->heads, d.dv = v->shape[2] / p->heads;
  if (k->shape[2] != q->shape[2] || v->shape[0] != k->shape[0] || v->shape[1] != k->shape[1] || d.lk == 0)
    return fr_fail(FR_EINVAL, "%s: q %s, k %s, v %s do not fit together", op, SHAPE(q, bq), SHAPE(k, bk), SHAPE(v, bv));
  if (d.bq != d.bk * p->kv_group)
    return fr_fail(FR_EINVAL, "%s: %lld query batches != %lld key batches x kv_group %d", op, (long long)d.bq,
                   (long long)d.bk, p->kv_group);
  if (p->causal && d.lk < d.lq)
    return fr_fail(FR_EINVAL, "%s: causal attention needs at least as many keys as queries", op);
  int64_t ys[3] = {d.bq, d.lq, d.heads * d.dv};
  FR_TRY(check_shape(op, "y", y, 3, ys));
  FR_TRY(no_overlap(op, "q", q, y));
  FR_TRY(no_overlap(op, "k", k, y));
  FR_TRY(no_overlap(op, "v", v, y));
  *out = d;
  return FR_OK;
}

fr_status fr_attention(fr_backend *be, const fr_tensor *q, const fr_tensor *k, const fr_tensor *v,
                       const fr_attn_params *p, fr_tensor *y)
{
  fr_attn_dims d;
  FR_TRY(attention_dims(be, "fr_attention", q, k, v, p, y, &d));
  return DISPATCH(be, attention, &d, q, k, v, p, y);
}

fr_status fr_attention_i8x(fr_backend *be, const fr_tensor *q, const fr_tensor *k, const fr_tensor *v,
                           const fr_attn_params *p, int bits, fr_tensor *y)
{
  fr_attn_dims d;
  FR_TRY(attention_dims(be, "fr_attention_i8x", q, k, v, p, y, &d));
  if (bits < FR_I8X_MIN_BITS || bits > FR_I8X_MAX_BITS)
    return fr_fail(FR_EINVAL, "fr_attention_i8x: %d quantization bits (want %d..%d)", bits, FR_I8X_MIN_BITS,
                   FR_I8X_MAX_BITS);
  return DISPATCH(be, attention_i8x, &d, q, k, v, p, bits, y);
}

fr_status fr_softmax(fr_backend *be, const fr_tensor *x, fr_tensor *y)
{
  const char *op = "fr_softmax";
  FR_TRY(check_f32(be, op, "x", x));
  FR_TRY(check_f32(be, op, "y", y));
  FR_TRY(check_same(op, "y", y, x));
  if (x->ndim < 1 || x->shape[x->ndim - 1] == 0) return fr_fail(FR_EINVAL, "%s: x has no last dimension", op);
  FR_TRY(alias_or_apart(op, "x", x, y));
  int64_t cols = x->shape[x->ndim - 1];
  return DISPATCH(be, softmax, fr_tensor_numel(x) / cols, cols, x, y);
}

fr_status fr_activate(fr_backend *be, fr_act act, const fr_tensor *x, fr_tensor *y)
{
  const char *op = "fr_activate";
  FR_TRY(check_f32(be, op, "x", x));
  FR_TRY(check_f32(be, op, "y", y));
  FR_TRY(check_same(op, "y", y, x));
  if ((unsigned)act >= FR_ACT_COUNT) return fr_fail(FR_EINVAL, "%s: unknown activation %d", op, (int)act);
  FR_TRY(alias_or_apart(op, "x", x, y));
  return DISPATCH(be, activate, act, x, y);
}

fr_status fr_geglu(fr_backend *be, const fr_tensor *h, fr_tensor *y)
{
  const char *op = "fr_geglu";
  char bh[96];
  FR_TRY(check_f32(be, op, "h", h));
  FR_TRY(check_f32(be, op, "y", y));
  if (h->ndim < 1 || h->shape[h->ndim - 1] % 2 || h->shape[h->ndim - 1] == 0)
    return fr_fail(FR_EINVAL, "%s: h is %s, its last dimension must be even", op, SHAPE(h, bh));
  int64_t ys[FR_MAX_DIMS];
  memcpy(ys, h->shape, sizeof ys);
  ys[h->ndim - 1] /= 2;
  FR_TRY(check_shape(op, "y", y, h->ndim, ys));
  FR_TRY(no_overlap(op, "h", h, y));
  return DISPATCH(be, geglu, fr_tensor_numel(y) / ys[h->ndim - 1], ys[h->ndim - 1], h, y);
}

fr_status fr_upsample_nearest(fr_backend *be, const fr_tensor *x, fr_tensor *y)
{
  const char *op = "fr_upsample_nearest";
  char bx[96], by[96];
  FR_TRY(check_f32(be, op, "x", x));
  FR_TRY(check_f32(be, op, "y", y));
  FR_TRY(check_ndim(op, "x", x, 4));
  FR_TRY(check_ndim(op, "y", y, 4));
  if (y->shape[0] != x->shape[0] || y->shape[1] != x->shape[1] || (fr_tensor_numel(y) > 0 && fr_tensor_numel(x) == 0))
    return fr_fail(FR_EINVAL, "%s: y %s does not match x %s", op, SHAPE(y, by), SHAPE(x, bx));
  FR_TRY(no_overlap(op, "x", x, y));
  return DISPATCH(be, upsample_nearest, x, y);
}

fr_status fr_concat(fr_backend *be, int dim, const fr_tensor *a, const fr_tensor *b, fr_tensor *y)
{
  const char *op = "fr_concat";
  char ba[96], bb[96];
  FR_TRY(check_tensor(be, op, "a", a));
  FR_TRY(check_tensor(be, op, "b", b));
  FR_TRY(check_tensor(be, op, "y", y));
  if (a->dtype != b->dtype || a->dtype != y->dtype) return fr_fail(FR_EINVAL, "%s: dtypes differ", op);
  if (dim < 0 || dim >= a->ndim || a->ndim != b->ndim)
    return fr_fail(FR_EINVAL, "%s: cannot join %s and %s on dim %d", op, SHAPE(a, ba), SHAPE(b, bb), dim);
  int64_t ys[FR_MAX_DIMS], outer = 1, inner = 1;
  for (int i = 0; i < a->ndim; i++) {
    if (i != dim && a->shape[i] != b->shape[i])
      return fr_fail(FR_EINVAL, "%s: %s and %s differ outside dim %d", op, SHAPE(a, ba), SHAPE(b, bb), dim);
    ys[i] = i == dim ? a->shape[i] + b->shape[i] : a->shape[i];
    if (i < dim) outer *= a->shape[i];
    if (i > dim) inner *= a->shape[i];
  }
  FR_TRY(check_shape(op, "y", y, a->ndim, ys));
  FR_TRY(no_overlap(op, "a", a, y));
  FR_TRY(no_overlap(op, "b", b, y));
  return DISPATCH(be, concat, outer, a->shape[dim], b->shape[dim], inner * (int64_t)fr_dtype_size(a->dtype), a, b, y);
}

fr_status fr_add(fr_backend *be, const fr_tensor *a, const fr_tensor *b, fr_tensor *y)
{
  const char *op = "fr_add";
  char ba[96], bb[96];
  FR_TRY(check_f32(be, op, "a", a));
  FR_TRY(check_weight(be, op, "b", b));
  FR_TRY(check_f32(be, op, "y", y));
  FR_TRY(check_same(op, "y", y, a));
  int64_t bn = fr_tensor_numel(b), an = fr_tensor_numel(a);
  int suffix = b->ndim <= a->ndim, prefix = b->ndim <= a->ndim;
  for (int i = 0; i < b->ndim && (suffix || prefix); i++) {
    if (b->shape[i] != a->shape[a->ndim - b->ndim + i]) suffix = 0;
    if (b->shape[i] != a->shape[i]) prefix = 0;
  }
  FR_TRY(alias_or_apart(op, "a", a, y));
  if (an == bn) FR_TRY(alias_or_apart(op, "b", b, y));
  else FR_TRY(no_overlap(op, "b", b, y));
  if (suffix) return DISPATCH(be, add, 1, bn ? bn : 1, a, b, y);                /* b repeats over a's leading dims */
  if (prefix) return DISPATCH(be, add, bn ? an / bn : 1, bn ? bn : 1, a, b, y); /* b spans trailing dims */
  return fr_fail(FR_EINVAL, "%s: b %s is neither a suffix nor a prefix of a %s", op, SHAPE(b, bb), SHAPE(a, ba));
}

fr_status fr_scale(fr_backend *be, const fr_tensor *x, float s, fr_tensor *y)
{
  const char *op = "fr_scale";
  FR_TRY(check_f32(be, op, "x", x));
  FR_TRY(check_f32(be, op, "y", y));
  FR_TRY(check_same(op, "y", y, x));
  FR_TRY(alias_or_apart(op, "x", x, y));
  return DISPATCH(be, scale, x, s, y);
}

fr_status fr_permute(fr_backend *be, const fr_tensor *x, const int *perm, fr_tensor *y)
{
  const char *op = "fr_permute";
  char bx[96];
  FR_TRY(check_tensor(be, op, "x", x));
  FR_TRY(check_tensor(be, op, "y", y));
  if (x->dtype != y->dtype) return fr_fail(FR_EINVAL, "%s: x and y dtypes differ", op);
  int seen[FR_MAX_DIMS] = {0};
  int64_t ys[FR_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) {
    if (perm[i] < 0 || perm[i] >= x->ndim || seen[perm[i]]++)
      return fr_fail(FR_EINVAL, "%s: perm is not a permutation of %d dims", op, x->ndim);
    ys[i] = x->shape[perm[i]];
  }
  (void)bx;
  FR_TRY(check_shape(op, "y", y, x->ndim, ys));
  FR_TRY(no_overlap(op, "x", x, y));
  return DISPATCH(be, permute, x, perm, y);
}

fr_status fr_embedding(fr_backend *be, const fr_tensor *ids, const fr_tensor *table, fr_tensor *y)
{
  const char *op = "fr_embedding";
  if (!ids || ids->dtype != FR_I32 || ids->ndim != 1 || ids->device != FR_DEVICE_CPU || (!ids->data && ids->shape[0]))
    return fr_fail(FR_EINVAL, "%s: ids must be a host I32 vector", op);
  FR_TRY(check_weight(be, op, "table", table));
  FR_TRY(check_ndim(op, "table", table, 2));
  FR_TRY(check_f32(be, op, "y", y));
  int64_t ys[2] = {ids->shape[0], table->shape[1]};
  FR_TRY(check_shape(op, "y", y, 2, ys));
  const int32_t *id = (const int32_t *)ids->data;
  for (int64_t i = 0; i < ids->shape[0]; i++)
    if (id[i] < 0 || id[i] >= table->shape[0])
      return fr_fail(FR_EINVAL, "%s: id %d at position %lld is outside the table's %lld rows", op, (int)id[i],
                     (long long)i, (long long)table->shape[0]);
  return DISPATCH(be, embedding, ids, table, y);
}

fr_status fr_timestep_embedding(fr_backend *be, const float *t, int n, int flip_sin_to_cos, float shift,
                                float max_period, fr_tensor *y)
{
  const char *op = "fr_timestep_embedding";
  FR_TRY(check_f32(be, op, "y", y));
  if (n < 1 || !t || y->ndim != 2 || y->shape[0] != n || y->shape[1] < 2 || y->shape[1] % 2)
    return fr_fail(FR_EINVAL, "%s: y must be [n, even dim] with n = %d timesteps", op, n);
  if (!(max_period > 0.0f)) return fr_fail(FR_EINVAL, "%s: max_period must be > 0", op);
  if (y->shape[1] / 2 > INT32_MAX) return fr_fail(FR_EINVAL, "%s: dim is too large", op);
  return DISPATCH(be, timestep_embedding, t, n, flip_sin_to_cos, shift, max_period, y);
}

fr_status fr_frames_u8(fr_backend *be, const fr_tensor *x, fr_tensor *frames, fr_tensor *v01)
{
  const char *op = "fr_frames_u8";
  char bx[96];
  FR_TRY(check_f32(be, op, "x", x));
  FR_TRY(check_tensor(be, op, "frames", frames));
  FR_TRY(check_ndim(op, "x", x, 4));
  if (frames->dtype != FR_U8)
    return fr_fail(FR_EINVAL, "%s: frames must be U8, got %s", op, fr_dtype_name(frames->dtype));
  if (x->shape[1] < 1) return fr_fail(FR_EINVAL, "%s: x %s has no channels", op, SHAPE(x, bx));
  int64_t fs[4] = {x->shape[0], x->shape[2], x->shape[3], 3};
  FR_TRY(check_shape(op, "frames", frames, 4, fs));
  FR_TRY(no_overlap(op, "x", x, frames));
  if (v01) {
    FR_TRY(check_f32(be, op, "v01", v01));
    FR_TRY(check_shape(op, "v01", v01, 4, fs));
    FR_TRY(no_overlap(op, "x", x, v01));
    FR_TRY(no_overlap(op, "frames", frames, v01));
  }
  return DISPATCH(be, frames_u8, x->shape[0], x->shape[1], x->shape[2] * x->shape[3], x, frames, v01);
}

fr_status fr_fill_normal(fr_backend *be, uint64_t seed, uint64_t stream, fr_tensor *y)
{
  FR_TRY(check_f32(be, "fr_fill_normal", "y", y));
  return DISPATCH(be, fill_normal, seed, stream, y);
}

fr_status fr_guidance(fr_backend *be, const fr_tensor *uncond, const fr_tensor *cond, float s, fr_tensor *y)
{
  const char *op = "fr_guidance";
  FR_TRY(check_f32(be, op, "uncond", uncond));
  FR_TRY(check_f32(be, op, "cond", cond));
  FR_TRY(check_f32(be, op, "y", y));
  FR_TRY(check_same(op, "cond", cond, uncond));
  FR_TRY(check_same(op, "y", y, uncond));
  FR_TRY(alias_or_apart(op, "uncond", uncond, y));
  FR_TRY(alias_or_apart(op, "cond", cond, y));
  return DISPATCH(be, guidance, uncond, cond, s, y);
}

static fr_status sched_common(fr_backend *be, const char *op, int which, const fr_tensor *a, const fr_tensor *b,
                              const fr_tensor *c, const fr_sched_coeffs *k, fr_tensor *y)
{
  FR_TRY(check_f32(be, op, "x", a));
  FR_TRY(check_f32(be, op, which == 2 ? "m0" : "eps", b));
  FR_TRY(check_f32(be, op, "y", y));
  FR_TRY(check_same(op, which == 2 ? "m0" : "eps", b, a));
  FR_TRY(check_same(op, "y", y, a));
  if (c) {
    FR_TRY(check_f32(be, op, "m1", c));
    FR_TRY(check_same(op, "m1", c, a));
    FR_TRY(alias_or_apart(op, "m1", c, y));
  }
  if (!k) return fr_fail(FR_EINVAL, "%s: no coefficients", op);
  FR_TRY(alias_or_apart(op, "x", a, y));
  FR_TRY(alias_or_apart(op, which == 2 ? "m0" : "eps", b, y));
  return DISPATCH(be, sched, which, a, b, c, k, y);
}

fr_status fr_sched_ddim(fr_backend *be, const fr_tensor *x, const fr_tensor *eps, const fr_sched_coeffs *c,
                        fr_tensor *y)
{
  return sched_common(be, "fr_sched_ddim", 0, x, eps, NULL, c, y);
}

fr_status fr_sched_dpm_x0(fr_backend *be, const fr_tensor *x, const fr_tensor *eps, const fr_sched_coeffs *c,
                          fr_tensor *m)
{
  return sched_common(be, "fr_sched_dpm_x0", 1, x, eps, NULL, c, m);
}

fr_status fr_sched_dpm_update(fr_backend *be, const fr_tensor *x, const fr_tensor *m0, const fr_tensor *m1,
                              const fr_sched_coeffs *c, fr_tensor *y)
{
  return sched_common(be, "fr_sched_dpm_update", 2, x, m0, m1, c, y);
}
