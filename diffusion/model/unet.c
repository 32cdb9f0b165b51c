/* UNet3DConditionModel: the block structure of diffusers' constructor and forward, on layers.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/unet.h"

#define NAME(buf, ...) (snprintf((buf), sizeof(buf), __VA_ARGS__), (buf))

static void bind_layer(fr_binder *b, fr_unet_layer *l, const fr_unet_config *c, int cin, int cout, int head_dim,
                       int with_attn, const char *block, int j)
{
  char n[512];
  int temb = 4 * c->block_out[0];
  fr_bind_resnet(b, &l->res, cin, cout, temb, c->norm_groups, c->norm_eps, NAME(n, "%s.resnets.%d", block, j));
  fr_bind_tconv(b, &l->tconv, cout, c->norm_groups, NAME(n, "%s.temp_convs.%d", block, j));
  l->has_attn = with_attn;
  if (!with_attn) return;
  int heads = cout / head_dim;
  fr_bind_transformer(b, &l->attn, cout, heads, head_dim, c->cross_attention_dim, c->norm_groups, 0,
                      NAME(n, "%s.attentions.%d", block, j));
  fr_bind_transformer(b, &l->tattn, cout, heads, head_dim, 0, c->norm_groups, 1,
                      NAME(n, "%s.temp_attentions.%d", block, j));
}

void fr_unet_bind(fr_binder *b, const fr_unet_config *c, fr_unet *u)
{
  char n[512];
  fr_unet_config cfg = *c; /* c may point into u */
  memset(u, 0, sizeof *u);
  u->cfg = cfg;
  c = &u->cfg;
  int nb = c->nblocks, c0 = c->block_out[0], temb = 4 * c0;
  fr_bind_conv(b, &u->conv_in, c->in_channels, c0, 3, "conv_in");
  fr_bind_lin(b, &u->time1, c0, temb, 1, "time_embedding.linear_1");
  fr_bind_lin(b, &u->time2, temb, temb, 1, "time_embedding.linear_2");
  /* transformer_in: 8 heads of attention_head_dim, so its inner width may exceed its channels */
  fr_bind_transformer(b, &u->transformer_in, c0, 8, c->head_dim[0], 0, c->norm_groups, 1, "transformer_in");

  int out_ch = c0;
  for (int i = 0; i < nb; i++) {
    int in_ch = out_ch;
    out_ch = c->block_out[i];
    fr_unet_block *blk = &u->down[i];
    blk->nlayers = c->layers_per_block;
    for (int j = 0; j < blk->nlayers; j++)
      bind_layer(b, &blk->layer[j], c, j == 0 ? in_ch : out_ch, out_ch, c->head_dim[i], c->down_cross[i],
                 NAME(n, "down_blocks.%d", i), j);
    blk->has_resample = i < nb - 1;
    if (blk->has_resample)
      fr_bind_conv(b, &blk->resample, out_ch, out_ch, 3, NAME(n, "down_blocks.%d.downsamplers.0.conv", i));
  }

  int mid = c->block_out[nb - 1];
  bind_layer(b, &u->mid0, c, mid, mid, c->head_dim[nb - 1], 1, "mid_block", 0);
  bind_layer(b, &u->mid1, c, mid, mid, c->head_dim[nb - 1], 0, "mid_block", 1);

  out_ch = c->block_out[nb - 1];
  for (int i = 0; i < nb; i++) {
    int prev = out_ch;
    out_ch = c->block_out[nb - 1 - i];
    int in_ch = c->block_out[nb - 1 - (i + 1 < nb ? i + 1 : nb - 1)];
    fr_unet_block *blk = &u->up[i];
    blk->nlayers = c->layers_per_block + 1;
    for (int j = 0; j < blk->nlayers; j++) {
      int skip = j == blk->nlayers - 1 ? in_ch : out_ch;
      int res_in = j == 0 ? prev : out_ch;
      bind_layer(b, &blk->layer[j], c, res_in + skip, out_ch, c->head_dim[nb - 1 - i], c->up_cross[i],
                 NAME(n, "up_blocks.%d", i), j);
    }
    blk->has_resample = i < nb - 1;
    if (blk->has_resample)
      fr_bind_conv(b, &blk->resample, out_ch, out_ch, 3, NAME(n, "up_blocks.%d.upsamplers.0.conv", i));
  }
  fr_bind_norm(b, &u->norm_out, c0, "conv_norm_out");
  fr_bind_conv(b, &u->conv_out, c0, c->out_channels, 3, "conv_out");
}

/* resnet, temporal conv and (when the block has them) the spatial and temporal transformers. The
 * input is freed when `consume` is set (up blocks); down-block inputs are skips and stay. */
static fr_status layer_fwd(fr_exec *ex, const fr_unet_layer *l, fr_tensor *x, int consume, const fr_tensor *temb_silu,
                           const fr_tensor *text, int frames, const fr_shard *sh, fr_tensor *y)
{
  fr_tensor a, b;
  FR_TRY(fr_alloc_like(ex, x, l->res.cout, &a));
  FR_TRY(fr_resnet_fwd(ex, &l->res, x, temb_silu, &a));
  if (consume) fr_exec_free(ex, x);
  FR_TRY(fr_alloc_like(ex, &a, l->res.cout, &b));
  FR_TRY(fr_tconv_fwd(ex, &l->tconv, &a, frames, sh, &b));
  if (l->has_attn) {
    FR_TRY(fr_transformer_fwd(ex, &l->attn, &b, text, frames, NULL, &a));
    FR_TRY(fr_transformer_fwd(ex, &l->tattn, &a, NULL, frames, sh, &b));
  }
  fr_exec_free(ex, &a);
  *y = b;
  return FR_OK;
}

/* The time embedding for every frame-image row: sinusoid of t, linear_1, SiLU, linear_2, then the
 * SiLU every resnet applies first (computed once here). */
static fr_status time_embedding(fr_exec *ex, const fr_unet *u, const float *t, int64_t videos, int frames,
                                fr_tensor *temb_silu)
{
  int64_t n = videos * frames, c0 = u->cfg.block_out[0], td = 4 * c0;
  float *rows = (float *)malloc(sizeof(float) * (size_t)n);
  if (!rows) return fr_fail(FR_ENOMEM, "out of memory");
  for (int64_t i = 0; i < n; i++) rows[i] = t[i / frames]; /* repeat_interleave over frames */
  fr_tensor e, h;
  int64_t es[2] = {n, c0}, hs[2] = {n, td};
  fr_status st = fr_exec_alloc(ex, &e, 2, es);
  if (st == FR_OK) st = fr_timestep_embedding(ex->be, rows, (int)n, 1, 0.0f, 10000.0f, &e);
  free(rows);
  FR_TRY(st);
  FR_TRY(fr_exec_alloc(ex, &h, 2, hs));
  FR_TRY(fr_lin_fwd(ex, &u->time1, &e, FR_ACT_SILU, NULL, &h));
  fr_exec_free(ex, &e);
  FR_TRY(fr_exec_alloc(ex, temb_silu, 2, hs));
  FR_TRY(fr_lin_fwd(ex, &u->time2, &h, FR_ACT_NONE, NULL, temb_silu));
  fr_exec_free(ex, &h);
  return fr_activate(ex->be, FR_ACT_SILU, temb_silu, temb_silu);
}

fr_status fr_unet_fwd(fr_exec *ex, const fr_unet *u, const fr_tensor *sample, const float *t, const fr_tensor *text,
                      const fr_shard *sh, fr_tensor *out)
{
  const fr_unet_config *c = &u->cfg;
  int64_t videos = sample->shape[0], cin = sample->shape[1], frames = sample->shape[2];
  int64_t h = sample->shape[3], w = sample->shape[4], n = videos * frames;
  int fr = (int)frames;
  fr_tensor temb, x, y, skips[3 * FR_MAX_BLOCKS * FR_UNET_MAX_LAYERS];
  int nskips = 0;
  FR_TRY(time_embedding(ex, u, t, videos, fr, &temb));

  /* [B, C, F, h, w] -> frame-batched [B*F, C, h, w] */
  fr_tensor in;
  static const int to_frames[5] = {0, 2, 1, 3, 4}, to_channels[5] = {0, 2, 1, 3, 4};
  FR_TRY(fr_exec_alloc4(ex, &in, n, cin, h, w));
  {
    fr_tensor iv = fr_view(&in, 5, (int64_t[]){videos, frames, cin, h, w});
    FR_TRY(fr_permute(ex->be, sample, to_frames, &iv));
  }
  FR_TRY(fr_exec_alloc4(ex, &x, n, c->block_out[0], h, w));
  FR_TRY(fr_conv_fwd(ex, &u->conv_in, &in, 1, 1, NULL, &x));
  fr_exec_free(ex, &in);
  FR_TRY(fr_alloc_like(ex, &x, c->block_out[0], &y));
  FR_TRY(fr_transformer_fwd(ex, &u->transformer_in, &x, NULL, fr, sh, &y));
  fr_exec_free(ex, &x);
  x = y;
  skips[nskips++] = x;

  for (int i = 0; i < c->nblocks; i++) { /* every output is a skip for the up blocks */
    const fr_unet_block *blk = &u->down[i];
    for (int j = 0; j < blk->nlayers; j++) {
      FR_TRY(layer_fwd(ex, &blk->layer[j], &x, 0, &temb, text, fr, sh, &y));
      x = skips[nskips++] = y;
    }
    if (blk->has_resample) {
      int64_t oh = (x.shape[2] + 1) / 2, ow = (x.shape[3] + 1) / 2;
      FR_TRY(fr_exec_alloc4(ex, &y, n, x.shape[1], oh, ow));
      FR_TRY(fr_conv_fwd(ex, &blk->resample, &x, 2, 1, NULL, &y));
      x = skips[nskips++] = y;
    }
  }

  FR_TRY(layer_fwd(ex, &u->mid0, &x, 0, &temb, text, fr, sh, &y)); /* x is the last skip */
  FR_TRY(layer_fwd(ex, &u->mid1, &y, 1, &temb, text, fr, sh, &x));

  for (int i = 0; i < c->nblocks; i++) {
    const fr_unet_block *blk = &u->up[i];
    for (int j = 0; j < blk->nlayers; j++) {
      fr_tensor skip = skips[--nskips], cat;
      FR_TRY(fr_exec_alloc4(ex, &cat, n, x.shape[1] + skip.shape[1], x.shape[2], x.shape[3]));
      FR_TRY(fr_concat(ex->be, 1, &x, &skip, &cat));
      fr_exec_free(ex, &x);
      fr_exec_free(ex, &skip);
      FR_TRY(layer_fwd(ex, &blk->layer[j], &cat, 1, &temb, text, fr, sh, &x));
    }
    if (blk->has_resample) {
      /* x2, or the size of the next skip when the latent is not a multiple of 2^upsamplers (4.8) */
      int64_t oh = 2 * x.shape[2], ow = 2 * x.shape[3];
      if (nskips > 0 && (skips[nskips - 1].shape[2] != oh || skips[nskips - 1].shape[3] != ow))
        oh = skips[nskips - 1].shape[2], ow = skips[nskips - 1].shape[3];
      FR_TRY(fr_exec_alloc4(ex, &y, n, x.shape[1], oh, ow));
      FR_TRY(fr_upsample_fwd(ex, &blk->resample, &x, oh, ow, &y));
      fr_exec_free(ex, &x);
      x = y;
    }
  }
  fr_exec_free(ex, &temb);

  FR_TRY(fr_group_norm(ex->be, &x, &u->norm_out.g, &u->norm_out.b, c->norm_groups, 1, c->norm_eps, FR_ACT_SILU, &x));
  FR_TRY(fr_exec_alloc4(ex, &y, n, c->out_channels, h, w));
  FR_TRY(fr_conv_fwd(ex, &u->conv_out, &x, 1, 1, NULL, &y));
  fr_exec_free(ex, &x);
  fr_tensor yv = fr_view(&y, 5, (int64_t[]){videos, frames, c->out_channels, h, w});
  FR_TRY(fr_permute(ex->be, &yv, to_channels, out));
  fr_exec_free(ex, &y);
  return FR_OK;
}
