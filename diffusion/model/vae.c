/* VAE decoder: diffusers' Decoder (UNetMidBlock2D with one attention, UpDecoderBlock2D blocks). Every
 * GroupNorm here uses eps 1e-6. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/vae.h"

#define NAME(buf, ...) (snprintf((buf), sizeof(buf), __VA_ARGS__), (buf))
#define VAE_EPS 1e-6f

int fr_vae_scale(const fr_vae_config *cfg) { return 1 << (cfg->nblocks - 1); }

/* The mid-block attention may carry the names of diffusers <= 0.15 (query/key/value/proj_attn). */
static void bind_attn_lin(fr_binder *b, fr_lin *l, int ch, const char *new_name, const char *old_name)
{
  char nw[256], ow[256];
  int64_t ws[2] = {ch, ch}, bs[1] = {ch};
  l->has_bias = 1;
  fr_bind_either(b, &l->w, 2, ws, NAME(nw, "decoder.mid_block.attentions.0.%s.weight", new_name),
                 NAME(ow, "decoder.mid_block.attentions.0.%s.weight", old_name), 1);
  fr_bind_quantized(b, &l->w, &l->q);
  fr_bind_either(b, &l->b, 1, bs, NAME(nw, "decoder.mid_block.attentions.0.%s.bias", new_name),
                 NAME(ow, "decoder.mid_block.attentions.0.%s.bias", old_name), 0);
}

void fr_vae_bind(fr_binder *b, const fr_vae_config *c, fr_vae *v)
{
  char n[256];
  fr_vae_config cfg = *c; /* c may point into v */
  memset(v, 0, sizeof *v);
  v->cfg = cfg;
  c = &v->cfg;
  int nb = c->nblocks, top = c->block_out[nb - 1];
  if (c->post_quant_conv) fr_bind_conv(b, &v->post_quant, c->latent_channels, c->latent_channels, 1, "post_quant_conv");
  fr_bind_conv(b, &v->conv_in, c->latent_channels, top, 3, "decoder.conv_in");
  fr_bind_resnet(b, &v->mid0, top, top, 0, c->norm_groups, VAE_EPS, "decoder.mid_block.resnets.0");
  if (c->mid_attention) {
    fr_bind_norm(b, &v->attn_norm, top, "decoder.mid_block.attentions.0.group_norm");
    bind_attn_lin(b, &v->attn.q, top, "to_q", "query");
    bind_attn_lin(b, &v->attn.k, top, "to_k", "key");
    bind_attn_lin(b, &v->attn.v, top, "to_v", "value");
    bind_attn_lin(b, &v->attn.out, top, "to_out.0", "proj_attn");
    v->attn.heads = 1, v->attn.dim = v->attn.inner = top;
    v->attn.scale = (float)(1.0 / sqrt((double)top));
  }
  fr_bind_resnet(b, &v->mid1, top, top, 0, c->norm_groups, VAE_EPS, "decoder.mid_block.resnets.1");
  int out_ch = top;
  for (int i = 0; i < nb; i++) {
    int prev = out_ch;
    out_ch = c->block_out[nb - 1 - i];
    fr_vae_block *blk = &v->up[i];
    blk->nlayers = c->layers_per_block + 1;
    for (int j = 0; j < blk->nlayers; j++)
      fr_bind_resnet(b, &blk->res[j], j == 0 ? prev : out_ch, out_ch, 0, c->norm_groups, VAE_EPS,
                     NAME(n, "decoder.up_blocks.%d.resnets.%d", i, j));
    blk->has_up = i < nb - 1;
    if (blk->has_up) fr_bind_conv(b, &blk->up, out_ch, out_ch, 3, NAME(n, "decoder.up_blocks.%d.upsamplers.0.conv", i));
  }
  fr_bind_norm(b, &v->norm_out, c->block_out[0], "decoder.conv_norm_out");
  fr_bind_conv(b, &v->conv_out, c->block_out[0], c->out_channels, 3, "decoder.conv_out");
}

/* GroupNorm, single-head attention over the h*w tokens of each image, output projection, residual. */
static fr_status mid_attention(fr_exec *ex, const fr_vae *v, const fr_tensor *x, fr_tensor *y)
{
  int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
  fr_tensor g, tok, o, back;
  static const int to_tokens[3] = {0, 2, 1};
  int64_t ts[3] = {n, hw, c};
  FR_TRY(fr_alloc_like(ex, x, c, &g));
  FR_TRY(fr_group_norm(ex->be, x, &v->attn_norm.g, &v->attn_norm.b, v->cfg.norm_groups, 1, VAE_EPS, FR_ACT_NONE, &g));
  FR_TRY(fr_exec_alloc(ex, &tok, 3, ts));
  fr_tensor gv = fr_view3(&g, n, c, hw);
  FR_TRY(fr_permute(ex->be, &gv, to_tokens, &tok));
  fr_exec_free(ex, &g);
  FR_TRY(fr_exec_alloc(ex, &o, 3, ts));
  FR_TRY(fr_attn_fwd(ex, &v->attn, &tok, &tok, 1, 0, NULL, &o));
  fr_exec_free(ex, &tok);
  FR_TRY(fr_alloc_like(ex, x, c, &back));
  fr_tensor bv = fr_view3(&back, n, c, hw);
  FR_TRY(fr_permute(ex->be, &o, to_tokens, &bv));
  fr_exec_free(ex, &o);
  FR_TRY(fr_add(ex->be, &back, x, y));
  fr_exec_free(ex, &back);
  return FR_OK;
}

/* Runs a resnet and frees its input. */
static fr_status resnet_step(fr_exec *ex, const fr_resnet *r, fr_tensor *x)
{
  fr_tensor y;
  FR_TRY(fr_alloc_like(ex, x, r->cout, &y));
  FR_TRY(fr_resnet_fwd(ex, r, x, NULL, &y));
  fr_exec_free(ex, x);
  *x = y;
  return FR_OK;
}

fr_status fr_vae_decode(fr_exec *ex, const fr_vae *v, const fr_tensor *z, fr_tensor *img)
{
  const fr_vae_config *c = &v->cfg;
  int64_t n = z->shape[0], h = z->shape[2], w = z->shape[3];
  fr_tensor p, x, y;
  const fr_tensor *in = z;
  if (c->post_quant_conv) {
    FR_TRY(fr_alloc_like(ex, z, c->latent_channels, &p));
    FR_TRY(fr_conv_fwd(ex, &v->post_quant, z, 1, 0, NULL, &p));
    in = &p;
  }
  FR_TRY(fr_exec_alloc4(ex, &x, n, c->block_out[c->nblocks - 1], h, w));
  FR_TRY(fr_conv_fwd(ex, &v->conv_in, in, 1, 1, NULL, &x));
  if (c->post_quant_conv) fr_exec_free(ex, &p);
  FR_TRY(resnet_step(ex, &v->mid0, &x));
  if (c->mid_attention) {
    FR_TRY(fr_alloc_like(ex, &x, x.shape[1], &y));
    FR_TRY(mid_attention(ex, v, &x, &y));
    fr_exec_free(ex, &x);
    x = y;
  }
  FR_TRY(resnet_step(ex, &v->mid1, &x));
  for (int i = 0; i < c->nblocks; i++) {
    const fr_vae_block *blk = &v->up[i];
    for (int j = 0; j < blk->nlayers; j++) FR_TRY(resnet_step(ex, &blk->res[j], &x));
    if (blk->has_up) {
      FR_TRY(fr_exec_alloc4(ex, &y, n, x.shape[1], 2 * x.shape[2], 2 * x.shape[3]));
      FR_TRY(fr_upsample_fwd(ex, &blk->up, &x, 2 * x.shape[2], 2 * x.shape[3], &y));
      fr_exec_free(ex, &x);
      x = y;
    }
  }
  FR_TRY(fr_group_norm(ex->be, &x, &v->norm_out.g, &v->norm_out.b, c->norm_groups, 1, VAE_EPS, FR_ACT_SILU, &x));
  FR_TRY(fr_conv_fwd(ex, &v->conv_out, &x, 1, 1, NULL, img));
  fr_exec_free(ex, &x);
  return FR_OK;
}

void fr_vae_encoder_list(fr_binder *b, const fr_vae_config *c)
{
  char n[256];
  fr_conv conv;
  fr_resnet res;
  fr_norm norm;
  fr_lin lin;
  int nb = c->nblocks, top = c->block_out[nb - 1], out_ch = c->block_out[0];
  fr_bind_conv(b, &conv, 3, out_ch, 3, "encoder.conv_in");
  for (int i = 0; i < nb; i++) {
    int in_ch = out_ch;
    out_ch = c->block_out[i];
    for (int j = 0; j < c->layers_per_block; j++)
      fr_bind_resnet(b, &res, j == 0 ? in_ch : out_ch, out_ch, 0, c->norm_groups, VAE_EPS,
                     NAME(n, "encoder.down_blocks.%d.resnets.%d", i, j));
    if (i < nb - 1) fr_bind_conv(b, &conv, out_ch, out_ch, 3, NAME(n, "encoder.down_blocks.%d.downsamplers.0.conv", i));
  }
  fr_bind_resnet(b, &res, top, top, 0, c->norm_groups, VAE_EPS, "encoder.mid_block.resnets.0");
  if (c->mid_attention) {
    fr_bind_norm(b, &norm, top, "encoder.mid_block.attentions.0.group_norm");
    static const char *const proj[4] = {"to_q", "to_k", "to_v", "to_out.0"};
    for (int k = 0; k < 4; k++)
      fr_bind_lin(b, &lin, top, top, 1, NAME(n, "encoder.mid_block.attentions.0.%s", proj[k]));
  }
  fr_bind_resnet(b, &res, top, top, 0, c->norm_groups, VAE_EPS, "encoder.mid_block.resnets.1");
  fr_bind_norm(b, &norm, top, "encoder.conv_norm_out");
  fr_bind_conv(b, &conv, top, 2 * c->latent_channels, 3, "encoder.conv_out");
  fr_bind_conv(b, &conv, 2 * c->latent_channels, 2 * c->latent_channels, 1, "quant_conv");
}
