/* Shared layers (see layers.h): bind by name, run on an fr_exec. Every temporary comes from the job
 * arena and is released as soon as it is consumed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/layers.h"

#define NAME(buf, ...) (snprintf((buf), sizeof(buf), __VA_ARGS__), (buf))

void fr_bind_lin(fr_binder *b, fr_lin *l, int in, int out, int bias, const char *prefix)
{
  int64_t ws[2] = {out, in}, bs[1] = {out};
  fr_bind(b, &l->w, 2, ws, "%s.weight", prefix);
  fr_bind_quantized(b, &l->w, &l->q);
  l->has_bias = bias;
  if (bias) fr_bind(b, &l->b, 1, bs, "%s.bias", prefix);
}

void fr_bind_conv(fr_binder *b, fr_conv *c, int cin, int cout, int k, const char *prefix)
{
  int64_t ws[4] = {cout, cin, k, k}, bs[1] = {cout};
  fr_bind(b, &c->w, 4, ws, "%s.weight", prefix);
  fr_bind_quantized(b, &c->w, &c->q);
  fr_bind(b, &c->b, 1, bs, "%s.bias", prefix);
}

void fr_bind_conv_frames(fr_binder *b, fr_conv *c, int cin, int cout, const char *prefix)
{
  int64_t ws[5] = {cout, cin, 3, 1, 1}, bs[1] = {cout};
  fr_bind(b, &c->w, 5, ws, "%s.weight", prefix);
  fr_bind_quantized(b, &c->w, &c->q);
  fr_bind(b, &c->b, 1, bs, "%s.bias", prefix);
}

void fr_bind_norm(fr_binder *b, fr_norm *n, int ch, const char *prefix)
{
  int64_t s[1] = {ch};
  fr_bind(b, &n->g, 1, s, "%s.weight", prefix);
  fr_bind(b, &n->b, 1, s, "%s.bias", prefix);
}

/* The layer's i8x-v1 weight, or a clear error when the model was loaded without it. */
static fr_status quantized(const fr_exec *ex, const fr_qweight *q)
{
  if (q->bits == ex->i8x_bits) return FR_OK;
  return fr_fail(FR_EUNSUPPORTED,
                 "the model's weights were not quantized for i8x-v1 at load (%d bits, the job needs %d)", q->bits,
                 ex->i8x_bits);
}

fr_status fr_lin_fwd(fr_exec *ex, const fr_lin *l, const fr_tensor *x, fr_act act, const fr_tensor *res, fr_tensor *y)
{
  const fr_tensor *b = l->has_bias ? &l->b : NULL;
  if (!ex->i8x_bits) return fr_linear(ex->be, x, &l->w, b, act, res, y);
  FR_TRY(quantized(ex, &l->q));
  return fr_linear_i8x(ex->be, x, &l->q, b, act, res, y);
}

fr_status fr_conv_fwd(fr_exec *ex, const fr_conv *c, const fr_tensor *x, int stride, int pad, const fr_tensor *res,
                      fr_tensor *y)
{
  if (!ex->i8x_bits) return fr_conv2d(ex->be, x, &c->w, &c->b, stride, pad, res, y);
  FR_TRY(quantized(ex, &c->q));
  return fr_conv2d_i8x(ex->be, x, &c->q, &c->b, stride, pad, res, y);
}

fr_status fr_conv_frames_fwd(fr_exec *ex, const fr_conv *c, const fr_tensor *x, int frames, const fr_tensor *res,
                             fr_tensor *y)
{
  if (!ex->i8x_bits) return fr_conv_frames(ex->be, x, &c->w, &c->b, frames, res, y);
  FR_TRY(quantized(ex, &c->q));
  return fr_conv_frames_i8x(ex->be, x, &c->q, &c->b, frames, res, y);
}

fr_status fr_alloc_like(fr_exec *ex, const fr_tensor *x, int64_t channels, fr_tensor *y)
{
  int64_t s[FR_MAX_DIMS];
  memcpy(s, x->shape, sizeof s);
  if (x->ndim > 1) s[1] = channels;
  return fr_exec_alloc(ex, y, x->ndim, s);
}

void fr_bind_attn(fr_binder *b, fr_attn *a, int dim, int kv_dim, int heads, int head_dim, int qkv_bias,
                  const char *prefix)
{
  char n[512];
  a->heads = heads, a->dim = dim, a->inner = heads * head_dim;
  a->scale = (float)(1.0 / sqrt((double)head_dim)); /* SDPA's default scale, rounded once */
  fr_bind_lin(b, &a->q, dim, a->inner, qkv_bias, NAME(n, "%s.to_q", prefix));
  fr_bind_lin(b, &a->k, kv_dim, a->inner, qkv_bias, NAME(n, "%s.to_k", prefix));
  fr_bind_lin(b, &a->v, kv_dim, a->inner, qkv_bias, NAME(n, "%s.to_v", prefix));
  fr_bind_lin(b, &a->out, a->inner, dim, 1, NAME(n, "%s.to_out.0", prefix));
}

fr_status fr_attn_fwd(fr_exec *ex, const fr_attn *a, const fr_tensor *x, const fr_tensor *kv, int kv_group, int causal,
                      const fr_tensor *residual, fr_tensor *y)
{
  fr_tensor q, k, v, o;
  int64_t qs[3] = {x->shape[0], x->shape[1], a->inner}, ks[3] = {kv->shape[0], kv->shape[1], a->inner};
  fr_attn_params p = {a->heads, a->scale, causal, kv_group};
  FR_TRY(fr_exec_alloc(ex, &q, 3, qs));
  FR_TRY(fr_exec_alloc(ex, &k, 3, ks));
  FR_TRY(fr_exec_alloc(ex, &v, 3, ks));
  FR_TRY(fr_exec_alloc(ex, &o, 3, qs));
  FR_TRY(fr_lin_fwd(ex, &a->q, x, FR_ACT_NONE, NULL, &q));
  FR_TRY(fr_lin_fwd(ex, &a->k, kv, FR_ACT_NONE, NULL, &k));
  FR_TRY(fr_lin_fwd(ex, &a->v, kv, FR_ACT_NONE, NULL, &v));
  FR_TRY(ex->i8x_bits ? fr_attention_i8x(ex->be, &q, &k, &v, &p, ex->i8x_bits, &o)
                      : fr_attention(ex->be, &q, &k, &v, &p, &o));
  fr_exec_free(ex, &q), fr_exec_free(ex, &k), fr_exec_free(ex, &v);
  FR_TRY(fr_lin_fwd(ex, &a->out, &o, FR_ACT_NONE, residual, y));
  fr_exec_free(ex, &o);
  return FR_OK;
}

static void bind_tblock(fr_binder *b, fr_tblock *t, int dim, int heads, int head_dim, int cross_dim, const char *prefix)
{
  char n[512];
  t->dim = dim;
  fr_bind_norm(b, &t->n1, dim, NAME(n, "%s.norm1", prefix));
  fr_bind_attn(b, &t->a1, dim, dim, heads, head_dim, 0, NAME(n, "%s.attn1", prefix));
  fr_bind_norm(b, &t->n2, dim, NAME(n, "%s.norm2", prefix));
  fr_bind_attn(b, &t->a2, dim, cross_dim ? cross_dim : dim, heads, head_dim, 0, NAME(n, "%s.attn2", prefix));
  fr_bind_norm(b, &t->n3, dim, NAME(n, "%s.norm3", prefix));
  fr_bind_lin(b, &t->ff_in, dim, 8 * dim, 1, NAME(n, "%s.ff.net.0.proj", prefix));
  fr_bind_lin(b, &t->ff_out, 4 * dim, dim, 1, NAME(n, "%s.ff.net.2", prefix));
}

/* h [S, L, dim] -> out. h is used as scratch (overwritten). text NULL: attn2 is self-attention. */
static fr_status tblock_fwd(fr_exec *ex, const fr_tblock *t, fr_tensor *h, const fr_tensor *text, fr_tensor *out)
{
  fr_tensor n, ff, g;
  int64_t s = h->shape[0], l = h->shape[1];
  int64_t ns[3] = {s, l, t->dim}, fs[3] = {s, l, 8 * (int64_t)t->dim}, gs[3] = {s, l, 4 * (int64_t)t->dim};
  const float eps = 1e-5f;
  FR_TRY(fr_exec_alloc(ex, &n, 3, ns));
  FR_TRY(fr_layer_norm(ex->be, h, &t->n1.g, &t->n1.b, eps, &n));
  FR_TRY(fr_attn_fwd(ex, &t->a1, &n, &n, 1, 0, h, out));
  FR_TRY(fr_layer_norm(ex->be, out, &t->n2.g, &t->n2.b, eps, &n));
  if (text) FR_TRY(fr_attn_fwd(ex, &t->a2, &n, text, (int)(s / text->shape[0]), 0, out, h));
  else FR_TRY(fr_attn_fwd(ex, &t->a2, &n, &n, 1, 0, out, h));
  FR_TRY(fr_layer_norm(ex->be, h, &t->n3.g, &t->n3.b, eps, &n));
  FR_TRY(fr_exec_alloc(ex, &ff, 3, fs));
  FR_TRY(fr_lin_fwd(ex, &t->ff_in, &n, FR_ACT_NONE, NULL, &ff));
  fr_exec_free(ex, &n);
  FR_TRY(fr_exec_alloc(ex, &g, 3, gs));
  FR_TRY(fr_geglu(ex->be, &ff, &g));
  fr_exec_free(ex, &ff);
  FR_TRY(fr_lin_fwd(ex, &t->ff_out, &g, FR_ACT_NONE, h, out));
  fr_exec_free(ex, &g);
  return FR_OK;
}

void fr_bind_transformer(fr_binder *b, fr_transformer *t, int channels, int heads, int head_dim, int cross_dim,
                         int groups, int temporal, const char *prefix)
{
  char n[512];
  t->channels = channels, t->inner = heads * head_dim, t->groups = groups, t->temporal = temporal;
  fr_bind_norm(b, &t->gn, channels, NAME(n, "%s.norm", prefix));
  fr_bind_lin(b, &t->proj_in, channels, t->inner, 1, NAME(n, "%s.proj_in", prefix));
  bind_tblock(b, &t->blk, t->inner, heads, head_dim, temporal ? 0 : cross_dim,
              NAME(n, "%s.transformer_blocks.0", prefix));
  fr_bind_lin(b, &t->proj_out, t->inner, channels, 1, NAME(n, "%s.proj_out", prefix));
}

/* The transformer's token part, [S, L, C] -> [S, L, C]: proj_in, the block, proj_out. */
static fr_status token_block(fr_exec *ex, const fr_transformer *t, const fr_tensor *tok, const fr_tensor *text,
                             fr_tensor *p)
{
  fr_tensor h, out;
  int64_t hs[3] = {tok->shape[0], tok->shape[1], t->inner};
  FR_TRY(fr_exec_alloc(ex, &h, 3, hs));
  FR_TRY(fr_lin_fwd(ex, &t->proj_in, tok, FR_ACT_NONE, NULL, &h));
  FR_TRY(fr_exec_alloc(ex, &out, 3, hs));
  FR_TRY(tblock_fwd(ex, &t->blk, &h, text, &out));
  fr_exec_free(ex, &h);
  FR_TRY(fr_lin_fwd(ex, &t->proj_out, &out, FR_ACT_NONE, NULL, p));
  fr_exec_free(ex, &out);
  return FR_OK;
}

/* The temporal token part on a frame rank, [B*hw, F_local, C] -> [B*hw, F_local, C]: proj_in on its
 * frames, then the block and proj_out on every frame of the rank's pixels (the attention needs all frames
 * of a pixel; per-token ops do not care about the layout), and back. */
static fr_status temporal_tokens_sharded(fr_exec *ex, const fr_transformer *t, const fr_tensor *tok, int64_t videos,
                                         int64_t hw, const fr_shard *sh, fr_tensor *p)
{
  int64_t c = tok->shape[2], hs[3] = {tok->shape[0], tok->shape[1], t->inner};
  fr_tensor h, hp, op, pp;
  FR_TRY(fr_exec_alloc(ex, &h, 3, hs));
  FR_TRY(fr_lin_fwd(ex, &t->proj_in, tok, FR_ACT_NONE, NULL, &h));
  FR_TRY(fr_shard_to_pixels(ex, sh, &h, videos, hw, &hp)); /* [B, hw_mine, F, inner] */
  fr_exec_free(ex, &h);
  int64_t mine = hp.shape[1], F = sh->frames, ps[3] = {videos * mine, F, c};
  FR_TRY(fr_exec_alloc(ex, &pp, 3, ps));
  if (mine > 0) { /* a rank can hold no pixel of the smallest latents */
    fr_tensor hv = fr_view3(&hp, videos * mine, F, t->inner);
    int64_t os[3] = {videos * mine, F, t->inner};
    FR_TRY(fr_exec_alloc(ex, &op, 3, os));
    FR_TRY(tblock_fwd(ex, &t->blk, &hv, NULL, &op));
    FR_TRY(fr_lin_fwd(ex, &t->proj_out, &op, FR_ACT_NONE, NULL, &pp));
    fr_exec_free(ex, &op);
  }
  fr_exec_free(ex, &hp);
  fr_tensor pv = fr_view4(&pp, videos, mine, F, c);
  FR_TRY(fr_shard_to_frames(ex, sh, &pv, videos, hw, p)); /* [B, hw, F_local, C] */
  fr_exec_free(ex, &pp);
  return FR_OK;
}

fr_status fr_transformer_fwd(fr_exec *ex, const fr_transformer *t, const fr_tensor *x, const fr_tensor *text,
                             int frames, const fr_shard *sh, fr_tensor *y)
{
  int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
  int64_t videos = n / frames;
  /* spatial: tokens are [N, hw, C] (one sequence per frame); temporal: [B*hw, F, C] (one per pixel) */
  int64_t seqs = t->temporal ? videos * hw : n, len = t->temporal ? frames : hw;
  fr_tensor g, tok, p, back;
  int64_t ts[3] = {seqs, len, c};
  FR_TRY(fr_alloc_like(ex, x, c, &g));
  if (t->temporal)
    FR_TRY(fr_shard_group_norm(ex, sh, x, &t->gn.g, &t->gn.b, t->groups, frames, 1e-6f, FR_ACT_NONE, &g));
  else FR_TRY(fr_group_norm(ex->be, x, &t->gn.g, &t->gn.b, t->groups, 1, 1e-6f, FR_ACT_NONE, &g));
  FR_TRY(fr_exec_alloc(ex, &tok, 3, ts));
  if (t->temporal) {
    static const int perm[4] = {0, 3, 1, 2}; /* [B, F, C, hw] -> [B, hw, F, C] */
    fr_tensor gv = fr_view4(&g, videos, frames, c, hw), tv = fr_view4(&tok, videos, hw, frames, c);
    FR_TRY(fr_permute(ex->be, &gv, perm, &tv));
  } else {
    static const int perm[3] = {0, 2, 1}; /* [N, C, hw] -> [N, hw, C] */
    fr_tensor gv = fr_view3(&g, n, c, hw);
    FR_TRY(fr_permute(ex->be, &gv, perm, &tok));
  }
  fr_exec_free(ex, &g);
  FR_TRY(fr_exec_alloc(ex, &p, 3, ts));
  if (t->temporal && sh && sh->ranks > 1) FR_TRY(temporal_tokens_sharded(ex, t, &tok, videos, hw, sh, &p));
  else FR_TRY(token_block(ex, t, &tok, t->temporal ? NULL : text, &p));
  fr_exec_free(ex, &tok);
  FR_TRY(fr_alloc_like(ex, x, c, &back));
  if (t->temporal) {
    static const int perm[4] = {0, 2, 3, 1}; /* [B, hw, F, C] -> [B, F, C, hw] */
    fr_tensor pv = fr_view4(&p, videos, hw, frames, c), bv = fr_view4(&back, videos, frames, c, hw);
    FR_TRY(fr_permute(ex->be, &pv, perm, &bv));
  } else {
    static const int perm[3] = {0, 2, 1};
    fr_tensor bv = fr_view3(&back, n, c, hw);
    FR_TRY(fr_permute(ex->be, &p, perm, &bv));
  }
  fr_exec_free(ex, &p);
  FR_TRY(fr_add(ex->be, &back, x, y));
  fr_exec_free(ex, &back);
  return FR_OK;
}

void fr_bind_resnet(fr_binder *b, fr_resnet *r, int cin, int cout, int temb_dim, int groups, float eps,
                    const char *prefix)
{
  char n[512];
  r->cin = cin, r->cout = cout, r->groups = groups, r->eps = eps, r->has_temb = temb_dim > 0;
  fr_bind_norm(b, &r->n1, cin, NAME(n, "%s.norm1", prefix));
  fr_bind_conv(b, &r->c1, cin, cout, 3, NAME(n, "%s.conv1", prefix));
  if (r->has_temb) fr_bind_lin(b, &r->temb, temb_dim, cout, 1, NAME(n, "%s.time_emb_proj", prefix));
  fr_bind_norm(b, &r->n2, cout, NAME(n, "%s.norm2", prefix));
  fr_bind_conv(b, &r->c2, cout, cout, 3, NAME(n, "%s.conv2", prefix));
  if (cin != cout) fr_bind_conv(b, &r->shortcut, cin, cout, 1, NAME(n, "%s.conv_shortcut", prefix));
}

fr_status fr_resnet_fwd(fr_exec *ex, const fr_resnet *r, const fr_tensor *x, const fr_tensor *temb_silu, fr_tensor *y)
{
  fr_tensor a, h, tp, sc;
  FR_TRY(fr_alloc_like(ex, x, r->cin, &a));
  FR_TRY(fr_group_norm(ex->be, x, &r->n1.g, &r->n1.b, r->groups, 1, r->eps, FR_ACT_SILU, &a));
  FR_TRY(fr_alloc_like(ex, x, r->cout, &h));
  FR_TRY(fr_conv_fwd(ex, &r->c1, &a, 1, 1, NULL, &h));
  fr_exec_free(ex, &a);
  if (r->has_temb) {
    int64_t ts[2] = {x->shape[0], r->cout};
    FR_TRY(fr_exec_alloc(ex, &tp, 2, ts));
    FR_TRY(fr_lin_fwd(ex, &r->temb, temb_silu, FR_ACT_NONE, NULL, &tp));
    FR_TRY(fr_add(ex->be, &h, &tp, &h)); /* broadcast over H x W */
    fr_exec_free(ex, &tp);
  }
  FR_TRY(fr_group_norm(ex->be, &h, &r->n2.g, &r->n2.b, r->groups, 1, r->eps, FR_ACT_SILU, &h));
  const fr_tensor *res = x;
  if (r->cin != r->cout) {
    FR_TRY(fr_alloc_like(ex, x, r->cout, &sc));
    FR_TRY(fr_conv_fwd(ex, &r->shortcut, x, 1, 0, NULL, &sc));
    res = &sc;
  }
  FR_TRY(fr_conv_fwd(ex, &r->c2, &h, 1, 1, res, y));
  if (r->cin != r->cout) fr_exec_free(ex, &sc);
  fr_exec_free(ex, &h);
  return FR_OK;
}

void fr_bind_tconv(fr_binder *b, fr_tconv *t, int channels, int groups, const char *prefix)
{
  char n[512];
  t->channels = channels, t->groups = groups;
  /* stage 1 is nn.Sequential(GroupNorm, SiLU, Conv3d); stages 2-4 have a Dropout before the conv */
  for (int s = 0; s < 4; s++) {
    fr_bind_norm(b, &t->n[s], channels, NAME(n, "%s.conv%d.0", prefix, s + 1));
    fr_bind_conv_frames(b, &t->c[s], channels, channels, NAME(n, "%s.conv%d.%d", prefix, s + 1, s == 0 ? 2 : 3));
  }
}

fr_status fr_tconv_fwd(fr_exec *ex, const fr_tconv *t, const fr_tensor *x, int frames, const fr_shard *sh, fr_tensor *y)
{
  fr_tensor a, h;
  FR_TRY(fr_alloc_like(ex, x, t->channels, &a));
  FR_TRY(fr_alloc_like(ex, x, t->channels, &h));
  const fr_tensor *in = x;
  int sharded = sh && sh->ranks > 1;
  for (int s = 0; s < 4; s++) {
    /* TemporalConvLayer's GroupNorms use PyTorch's default eps, 1e-5, whatever the UNet config says */
    FR_TRY(fr_shard_group_norm(ex, sh, in, &t->n[s].g, &t->n[s].b, t->groups, frames, 1e-5f, FR_ACT_SILU, &a));
    fr_tensor *out = s == 3 ? y : &h;
    if (!sharded) {
      FR_TRY(fr_conv_frames_fwd(ex, &t->c[s], &a, frames, s == 3 ? x : NULL, out));
    } else { /* the conv over [frame before] + local frames + [frame after]; the borrowed ends are dropped */
      fr_tensor ext, res, oe;
      int lo, hi;
      FR_TRY(fr_shard_halo(ex, sh, &a, &ext, &lo, &hi));
      int64_t videos = x->shape[0] / frames, fe = frames + lo + hi, per = fr_tensor_numel(x) / x->shape[0];
      FR_TRY(fr_alloc_like(ex, &ext, t->channels, &oe));
      if (s == 3) { /* the identity, placed where the local frames sit */
        FR_TRY(fr_alloc_like(ex, &ext, t->channels, &res));
        int64_t shape[2] = {videos, frames * per}, ss[2] = {frames * per, 1}, ds[2] = {fe * per, 1};
        FR_TRY(fr_copy_region(ex->be, x, 0, ss, &res, lo * per, ds, 2, shape));
      }
      FR_TRY(fr_conv_frames_fwd(ex, &t->c[s], &ext, (int)fe, s == 3 ? &res : NULL, &oe));
      int64_t shape[2] = {videos, frames * per}, ss[2] = {fe * per, 1}, ds[2] = {frames * per, 1};
      FR_TRY(fr_copy_region(ex->be, &oe, lo * per, ss, out, 0, ds, 2, shape));
      if (s == 3) fr_exec_free(ex, &res);
      fr_exec_free(ex, &oe), fr_exec_free(ex, &ext);
    }
    in = &h;
  }
  fr_exec_free(ex, &a), fr_exec_free(ex, &h);
  return FR_OK;
}

fr_status fr_upsample_fwd(fr_exec *ex, const fr_conv *c, const fr_tensor *x, int64_t out_h, int64_t out_w, fr_tensor *y)
{
  fr_tensor u;
  FR_TRY(fr_exec_alloc4(ex, &u, x->shape[0], x->shape[1], out_h, out_w));
  FR_TRY(fr_upsample_nearest(ex->be, x, &u));
  FR_TRY(fr_conv_fwd(ex, c, &u, 1, 1, NULL, y));
  fr_exec_free(ex, &u);
  return FR_OK;
}
