/* The layers shared by the UNet3D, the VAE decoder and the CLIP text encoder: their weights (bound
 * by name through weights.h) and their forward passes on an fr_exec. Shapes follow diffusers:
 * activations are frame-batched [N = B*F, C, H, W], tokens are [sequences, length, channels].
 * Internal to diffusion/. */
#ifndef FRACTAL_LAYERS_H
#define FRACTAL_LAYERS_H

#include "runtime/exec.h"
#include "runtime/shard_ops.h"
#include "model/weights.h"

/* A linear or conv layer: its weight, bias, and the weight's i8x-v1 twin (q.bits 0 when the model was
 * loaded without it). */
typedef struct fr_lin {
  fr_tensor w, b;
  fr_qweight q;
  int has_bias;
} fr_lin;

typedef struct fr_conv {
  fr_tensor w, b;
  fr_qweight q;
} fr_conv;

typedef struct fr_norm {
  fr_tensor g, b;
} fr_norm;

/* Binding: the prefix names the module ("down_blocks.0.resnets.1.conv1"); ".weight"/".bias" are added. */
void fr_bind_lin(fr_binder *b, fr_lin *l, int in, int out, int bias, const char *prefix);
void fr_bind_conv(fr_binder *b, fr_conv *c, int cin, int cout, int k, const char *prefix);
void fr_bind_conv_frames(fr_binder *b, fr_conv *c, int cin, int cout, const char *prefix);
void fr_bind_norm(fr_binder *b, fr_norm *n, int ch, const char *prefix);

/* The layers' forward passes in the job's numerics (ex->i8x_bits): y = act(x w^T + b) + res; the conv2d;
 * the frame conv over runs of `frames` samples. res nullable. */
fr_status fr_lin_fwd(fr_exec *ex, const fr_lin *l, const fr_tensor *x, fr_act act, const fr_tensor *res, fr_tensor *y);
fr_status fr_conv_fwd(fr_exec *ex, const fr_conv *c, const fr_tensor *x, int stride, int pad, const fr_tensor *res,
                      fr_tensor *y);
fr_status fr_conv_frames_fwd(fr_exec *ex, const fr_conv *c, const fr_tensor *x, int frames, const fr_tensor *res,
                             fr_tensor *y);

/* Attention module (diffusers Attention / CLIPAttention): q, k, v and the output projection. */
typedef struct fr_attn {
  fr_lin q, k, v, out;
  int heads, dim, inner;
  float scale;
} fr_attn;

/* kv_dim: width of the key/value source (the text for cross-attention). */
void fr_bind_attn(fr_binder *b, fr_attn *a, int dim, int kv_dim, int heads, int head_dim, int qkv_bias,
                  const char *prefix);
/* y = out(attention(q(x), k(kv), v(kv))) + residual. x [S, L, dim]; kv [S / kv_group, Lk, kv_dim]
 * (kv = x for self-attention); y must not overlap residual. */
fr_status fr_attn_fwd(fr_exec *ex, const fr_attn *a, const fr_tensor *x, const fr_tensor *kv, int kv_group, int causal,
                      const fr_tensor *residual, fr_tensor *y);

/* diffusers BasicTransformerBlock with GEGLU feed-forward, pre-LayerNorm (eps 1e-5). */
typedef struct fr_tblock {
  fr_norm n1, n2, n3;
  fr_attn a1, a2;
  fr_lin ff_in, ff_out;
  int dim;
} fr_tblock;

/* Transformer2DModel (spatial, cross-attention to the text) or TransformerTemporalModel (over frames,
 * both attentions self), with GroupNorm (eps 1e-6), linear proj_in/proj_out and one block. */
typedef struct fr_transformer {
  fr_norm gn;
  fr_lin proj_in, proj_out;
  fr_tblock blk;
  int channels, inner, groups, temporal;
} fr_transformer;

void fr_bind_transformer(fr_binder *b, fr_transformer *t, int channels, int heads, int head_dim, int cross_dim,
                         int groups, int temporal, const char *prefix);
/* x [B*F, C, H, W] -> y (same shape, not overlapping x). Spatial: text [B_text, L, cross_dim] with
 * frames per text row; temporal: text NULL. Sharded (sh, temporal only): x holds this rank's F local
 * frames of every video. */
fr_status fr_transformer_fwd(fr_exec *ex, const fr_transformer *t, const fr_tensor *x, const fr_tensor *text,
                             int frames, const fr_shard *sh, fr_tensor *y);

/* ResnetBlock2D: GN-SiLU-conv3x3 (+ time embedding projection) GN-SiLU-conv3x3, plus the input
 * (through a 1x1 conv when the width changes). */
typedef struct fr_resnet {
  fr_norm n1, n2;
  fr_conv c1, c2, shortcut;
  fr_lin temb;
  int cin, cout, groups, has_temb;
  float eps;
} fr_resnet;

void fr_bind_resnet(fr_binder *b, fr_resnet *r, int cin, int cout, int temb_dim, int groups, float eps,
                    const char *prefix);
/* temb_silu: SiLU of the time embedding, [N, temb_dim] (NULL when the block has none). */
fr_status fr_resnet_fwd(fr_exec *ex, const fr_resnet *r, const fr_tensor *x, const fr_tensor *temb_silu, fr_tensor *y);

/* TemporalConvLayer: four GN(cross-frame)-SiLU-Conv3d(3,1,1) stages and the identity. */
typedef struct fr_tconv {
  fr_norm n[4];
  fr_conv c[4];
  int channels, groups;
} fr_tconv;

void fr_bind_tconv(fr_binder *b, fr_tconv *t, int channels, int groups, const char *prefix);
/* Sharded (sh): x holds this rank's `frames` local frames of every video. */
fr_status fr_tconv_fwd(fr_exec *ex, const fr_tconv *t, const fr_tensor *x, int frames, const fr_shard *sh,
                       fr_tensor *y);

/* Upsample2D: nearest to [out_h, out_w] (x2 normally), then conv3x3. x [N, C, h, w]. */
fr_status fr_upsample_fwd(fr_exec *ex, const fr_conv *c, const fr_tensor *x, int64_t out_h, int64_t out_w,
                          fr_tensor *y);

/* Allocates y with x's shape but `channels` channels. */
fr_status fr_alloc_like(fr_exec *ex, const fr_tensor *x, int64_t channels, fr_tensor *y);

#endif
