/* A model's own op cases (perf/op_model.h), derived by walking its architecture exactly as the model code
 * calls the ops: clip.c (fr_clip_encode), unet.c (fr_unet_fwd) and layers.c (resnet, temporal convolution,
 * transformer, upsample), vae.c (fr_vae_decode), and the pipeline around them (pipeline/generate.c:
 * encode_text, predict, sched_update, decode). linear, layer_norm and geglu see only rows x the last
 * dimension (kernels/ops.c), so their cases are [rows, dim]: the spatial and the temporal transformers'
 * token layouts ([frame-images, pixels, C] and [videos x pixels, frames, C]) then share one case. Levels
 * count resolutions from the full size: l0 is the latent (the image for the VAE), l1 half of it, ... */
#include "op_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE FR_ACT_NONE
#define SILU FR_ACT_SILU
#define NM(...) (snprintf(nb, sizeof nb, __VA_ARGS__), nb)

typedef struct builder {
  model_cases *m;
  const char *stage;
  int per; /* calls are multiplied by this (the VAE's per-frame ops: frames) */
  fr_status st;
} builder;

static int same_case(const op_case *a, const op_case *b)
{
  return a->op == b->op && memcmp(a->d, b->d, sizeof a->d) == 0 && a->wdt == b->wdt && a->flags == b->flags &&
         a->act == b->act && a->s == b->s && a->arg == b->arg && a->arg2 == b->arg2 &&
         memcmp(a->perm, b->perm, sizeof a->perm) == 0;
}

static int name_taken(const model_cases *m, const char *name)
{
  for (int i = 0; i < m->n; i++)
    if (strcmp(m->v[i].name, name) == 0) return 1;
  return 0;
}

/* Adds calls of c under name, or to the stage's case of the same shape already there (stages keep their own
 * cases, so that calls stay per stage). */
static void put(builder *b, const op_case *c, const char *name, int calls)
{
  model_cases *m = b->m;
  if (b->st != FR_OK) return;
  for (int i = 0; i < m->n; i++)
    if (m->v[i].stage == b->stage && same_case(&m->v[i].c, c)) {
      m->v[i].calls += calls * b->per;
      return;
    }
  if (m->n == m->cap) {
    int cap = m->cap ? 2 * m->cap : 64;
    model_case *v = (model_case *)realloc(m->v, sizeof *v * (size_t)cap);
    if (!v) {
      b->st = fr_fail(FR_ENOMEM, "out of memory");
      return;
    }
    m->v = v, m->cap = cap;
  }
  model_case *mc = &m->v[m->n];
  memset(mc, 0, sizeof *mc);
  mc->c = *c;
  snprintf(mc->name, sizeof mc->name, "%s", name);
  for (int k = 2; name_taken(m, mc->name); k++) snprintf(mc->name, sizeof mc->name, "%.80s_%d", name, k);
  mc->stage = b->stage, mc->calls = calls * b->per;
  m->n++;
}

/* A case of op with dims d (nd of them, the rest 0). */
static op_case mk(op_kind op, int nd, const int64_t *d, fr_dtype wdt, unsigned flags, fr_act act, float s)
{
  op_case c;
  memset(&c, 0, sizeof c);
  c.op = op, c.wdt = wdt, c.flags = flags, c.fill = FILL_UNIFORM, c.act = act, c.s = s;
  memcpy(c.d, d, sizeof *d * (size_t)nd);
  return c;
}

static void linear(builder *b, const char *name, int64_t rows, int64_t n, int64_t k, fr_dtype w, unsigned flags,
                   fr_act act, int calls)
{
  op_case c = mk(OP_LINEAR, 4, (int64_t[]){1, rows, n, k}, w, flags, act, 0);
  put(b, &c, name, calls);
}

static void conv(builder *b, const char *name, int64_t n, int64_t cin, int64_t h, int64_t w, int64_t cout, int k,
                 int stride, fr_dtype wdt, unsigned flags)
{
  op_case c = mk(OP_CONV2D, 8, (int64_t[]){n, cin, h, w, cout, k, stride, k / 2}, wdt, flags, NONE, 0);
  put(b, &c, name, 1);
}

static void gnorm(builder *b, const char *name, int64_t n, int64_t ch, int64_t h, int64_t w, int groups, int64_t frames,
                  float eps, fr_act act, fr_dtype wdt)
{
  op_case c = mk(OP_GROUP_NORM, 6, (int64_t[]){n, ch, h, w, groups, frames}, wdt, F_AFFINE, act, eps);
  put(b, &c, name, 1);
}

static void layer_norm(builder *b, const char *name, int64_t rows, int64_t dim, float eps, fr_dtype wdt, int calls)
{
  op_case c = mk(OP_LAYER_NORM, 2, (int64_t[]){rows, dim}, wdt, F_AFFINE, NONE, eps);
  put(b, &c, name, calls);
}

static void attention(builder *b, const char *name, int64_t bq, int64_t lq, int64_t lk, int64_t heads, int64_t hd,
                      int64_t kv_group, unsigned flags)
{
  op_case c = mk(OP_ATTENTION, 7, (int64_t[]){bq, lq, lk, heads, hd, hd, kv_group}, FR_F32, flags, NONE, 0);
  put(b, &c, name, 1);
}

static void permute(builder *b, const char *name, int nd, const int64_t *shape, const int *perm)
{
  op_case c = mk(OP_PERMUTE, nd, shape, FR_F32, 0, NONE, 0);
  memcpy(c.perm, perm, sizeof *perm * (size_t)nd);
  put(b, &c, name, 1);
}

/* a + b: b is all of a (last 0), its last `last` dims, or its first `first` dims. */
static void add(builder *b, const char *name, int nd, const int64_t *shape, fr_dtype bdt, int first, int last)
{
  op_case c = mk(OP_ADD, nd, shape, bdt, first ? F_PREFIX : 0, NONE, 0);
  c.arg = first ? first : last;
  put(b, &c, name, 1);
}

static void simple(builder *b, op_kind op, const char *name, int nd, const int64_t *d, unsigned flags, fr_act act,
                   float s, int calls)
{
  op_case c = mk(op, nd, d, FR_F32, flags, act, s);
  put(b, &c, name, calls);
}

/* "640", or "320_640" when the width changes. */
static const char *chans(char *buf, size_t n, int64_t cin, int64_t cout)
{
  if (cin == cout) snprintf(buf, n, "%lld", (long long)cout);
  else snprintf(buf, n, "%lld_%lld", (long long)cin, (long long)cout);
  return buf;
}

/* fr_resnet_fwd: GN-SiLU, conv 3x3, (+ the time embedding's projection), GN-SiLU, conv 3x3 + the input
 * (through a 1x1 conv when the width changes). */
static void resnet(builder *b, const char *comp, int lvl, int64_t n, int64_t cin, int64_t cout, int64_t h, int64_t w,
                   int64_t temb, int groups, float eps, fr_dtype wdt)
{
  char nb[96], ch[32];
  gnorm(b, NM("group_norm_%s_l%d_silu_%lld", comp, lvl, (long long)cin), n, cin, h, w, groups, 1, eps, SILU, wdt);
  conv(b, NM("conv2d_%s_l%d_3x3_%s", comp, lvl, chans(ch, sizeof ch, cin, cout)), n, cin, h, w, cout, 3, 1, wdt,
       F_BIAS);
  if (temb) {
    linear(b, NM("linear_%s_l%d_temb_%lld", comp, lvl, (long long)cout), n, cout, temb, wdt, F_BIAS, NONE, 1);
    add(b, NM("add_%s_l%d_temb_%lld", comp, lvl, (long long)cout), 4, (int64_t[]){n, cout, h, w}, FR_F32, 2, 0);
  }
  gnorm(b, NM("group_norm_%s_l%d_silu_%lld", comp, lvl, (long long)cout), n, cout, h, w, groups, 1, eps, SILU, wdt);
  if (cin != cout)
    conv(b, NM("conv2d_%s_l%d_1x1_%lld_%lld", comp, lvl, (long long)cin, (long long)cout), n, cin, h, w, cout, 1, 1,
         wdt, F_BIAS);
  conv(b, NM("conv2d_%s_l%d_3x3_%lld_res", comp, lvl, (long long)cout), n, cout, h, w, cout, 3, 1, wdt,
       F_BIAS | F_RESIDUAL);
}

typedef struct unet_walk {
  builder *b;
  const fr_model_arch *a;
  int64_t videos, frames, n; /* n = videos x frames frame-images */
  fr_dtype w;
} unet_walk;

/* fr_transformer_fwd (layers.c) on [n, c, h, w]: spatial (tokens: the pixels of each frame-image, then
 * cross-attention to the text) or temporal (tokens: the frames of each pixel); tin: transformer_in. */
static void transformer(const unet_walk *u, int lvl, int64_t c, int64_t heads, int64_t hd, int temporal, int tin,
                        int64_t h, int64_t w)
{
  builder *b = u->b;
  char nb[96];
  const char *t = tin ? "tin_" : "", *kind = temporal ? "temporal" : "spatial";
  int64_t inner = heads * hd, hw = h * w, n = u->n, vids = u->videos, f = u->frames, rows = n * hw;
  int64_t seqs = temporal ? vids * hw : n, len = temporal ? f : hw, text = u->a->text_len;
  char self[96];
  snprintf(self, sizeof self, "attention_unet_l%d_%s", lvl, tin ? "tin" : temporal ? "temporal" : "self");
  gnorm(b, NM("group_norm_unet_l%d_%s", lvl, kind), n, c, h, w, u->a->unet.norm_groups, temporal ? f : 1, 1e-6f, NONE,
        u->w);
  if (temporal)
    permute(b, NM("permute_unet_l%d_temporal_tokens", lvl), 4, (int64_t[]){vids, f, c, hw}, (int[]){0, 3, 1, 2});
  else permute(b, NM("permute_unet_l%d_spatial_tokens", lvl), 3, (int64_t[]){n, c, hw}, (int[]){0, 2, 1});
  linear(b, NM("linear_unet_l%d_%sproj_in", lvl, t), rows, inner, c, u->w, F_BIAS, NONE, 1);
  layer_norm(b, NM("layer_norm_unet_l%d%s", lvl, tin ? "_tin" : ""), rows, inner, 1e-5f, u->w, 1);
  linear(b, NM("linear_unet_l%d_%sattn_qkv", lvl, t), rows, inner, inner, u->w, 0, NONE, 3);
  attention(b, self, seqs, len, len, heads, hd, 1, 0);
  linear(b, NM("linear_unet_l%d_%sattn_out", lvl, t), rows, inner, inner, u->w, F_BIAS | F_RESIDUAL, NONE, 1);
  layer_norm(b, NM("layer_norm_unet_l%d%s", lvl, tin ? "_tin" : ""), rows, inner, 1e-5f, u->w, 1);
  if (temporal) { /* attn2 is self-attention again */
    linear(b, NM("linear_unet_l%d_%sattn_qkv", lvl, t), rows, inner, inner, u->w, 0, NONE, 3);
    attention(b, self, seqs, len, len, heads, hd, 1, 0);
  } else { /* queries from the pixels, keys and values from the text of each video (frames per text row) */
    linear(b, NM("linear_unet_l%d_attn_qkv", lvl), rows, inner, inner, u->w, 0, NONE, 1);
    linear(b, NM("linear_unet_l%d_cross_kv", lvl), vids * text, inner, u->a->unet.cross_attention_dim, u->w, 0, NONE,
           2);
    attention(b, NM("attention_unet_l%d_cross", lvl), n, hw, text, heads, hd, f, 0);
  }
  linear(b, NM("linear_unet_l%d_%sattn_out", lvl, t), rows, inner, inner, u->w, F_BIAS | F_RESIDUAL, NONE, 1);
  layer_norm(b, NM("layer_norm_unet_l%d%s", lvl, tin ? "_tin" : ""), rows, inner, 1e-5f, u->w, 1);
  linear(b, NM("linear_unet_l%d_%sgeglu_proj", lvl, t), rows, 8 * inner, inner, u->w, F_BIAS, NONE, 1);
  simple(b, OP_GEGLU, NM("geglu_unet_l%d%s", lvl, tin ? "_tin" : ""), 2, (int64_t[]){rows, 8 * inner}, 0, NONE, 0, 1);
  linear(b, NM("linear_unet_l%d_%sff_out", lvl, t), rows, inner, 4 * inner, u->w, F_BIAS | F_RESIDUAL, NONE, 1);
  linear(b, NM("linear_unet_l%d_%sproj_out", lvl, t), rows, c, inner, u->w, F_BIAS, NONE, 1);
  if (temporal)
    permute(b, NM("permute_unet_l%d_temporal_back", lvl), 4, (int64_t[]){vids, hw, f, c}, (int[]){0, 2, 3, 1});
  else permute(b, NM("permute_unet_l%d_spatial_back", lvl), 3, (int64_t[]){n, hw, c}, (int[]){0, 2, 1});
  add(b, NM("add_unet_l%d_residual", lvl), 4, (int64_t[]){n, c, h, w}, FR_F32, 0, 0);
}

/* layer_fwd (unet.c): resnet, the temporal convolution (four GN(frames, eps 1e-5)-SiLU-conv_frames stages,
 * the last + the input), and with attention the spatial then the temporal transformer. */
static void unet_layer(const unet_walk *u, int lvl, int64_t cin, int64_t cout, int64_t hd, int attn, int64_t h,
                       int64_t w)
{
  builder *b = u->b;
  char nb[96];
  int groups = u->a->unet.norm_groups;
  resnet(b, "unet", lvl, u->n, cin, cout, h, w, 4 * (int64_t)u->a->unet.block_out[0], groups, u->a->unet.norm_eps,
         u->w);
  for (int s = 0; s < 4; s++) {
    gnorm(b, NM("group_norm_unet_l%d_frames", lvl), u->n, cout, h, w, groups, u->frames, 1e-5f, SILU, u->w);
    op_case c = mk(OP_CONV_FRAMES, 6, (int64_t[]){u->n, cout, h, w, cout, u->frames}, u->w,
                   F_BIAS | (s == 3 ? F_RESIDUAL : 0), NONE, 0);
    put(b, &c, NM("conv_frames_unet_l%d%s", lvl, s == 3 ? "_res" : ""), 1);
  }
  if (!attn) return;
  transformer(u, lvl, cout, cout / hd, hd, 0, 0, h, w);
  transformer(u, lvl, cout, cout / hd, hd, 1, 0, h, w);
}

typedef struct skip {
  int64_t c, h, w;
} skip;

/* fr_unet_fwd: one forward at the job's batch. */
static void unet_cases(builder *b, const fr_model_arch *a, const model_job *job, int64_t lh, int64_t lw)
{
  const int nb_ = a->unet.nblocks, c0 = a->unet.block_out[0], groups = a->unet.norm_groups;
  char nb[96];
  unet_walk u = {b, a, job->guidance ? 2 : 1, job->frames, 0, a->unet_dtype};
  u.n = u.videos * u.frames;
  int64_t n = u.n, td = 4 * (int64_t)c0, cin = a->unet.in_channels, h = lh, w = lw, ch = c0;
  skip skips[3 * FR_ARCH_MAX_BLOCKS * 17];
  int nskips = 0;
  simple(b, OP_TIMESTEP, "timestep_embedding_unet_time", 2, (int64_t[]){n, c0}, F_FLIP, NONE, 0.0f, 1);
  linear(b, "linear_unet_time_1", n, td, c0, u.w, F_BIAS, SILU, 1);
  linear(b, "linear_unet_time_2", n, td, td, u.w, F_BIAS, NONE, 1);
  simple(b, OP_ACTIVATE, "activate_unet_time_silu", 2, (int64_t[]){n, td}, 0, SILU, 0, 1);
  permute(b, "permute_unet_in_frames", 5, (int64_t[]){u.videos, cin, u.frames, h, w}, (int[]){0, 2, 1, 3, 4});
  conv(b, "conv2d_unet_conv_in", n, cin, h, w, c0, 3, 1, u.w, F_BIAS);
  transformer(&u, 0, c0, 8, a->unet.head_dim[0], 1, 1, h, w); /* transformer_in: 8 heads */
  skips[nskips++] = (skip){ch, h, w};
  for (int i = 0; i < nb_; i++) {
    int64_t out = a->unet.block_out[i];
    for (int j = 0; j < a->unet.layers_per_block; j++) {
      unet_layer(&u, i, ch, out, a->unet.head_dim[i], a->unet.down_cross[i], h, w);
      ch = out;
      skips[nskips++] = (skip){ch, h, w};
    }
    if (i < nb_ - 1) {
      conv(b, NM("conv2d_unet_l%d_down", i), n, ch, h, w, ch, 3, 2, u.w, F_BIAS);
      h = (h + 1) / 2, w = (w + 1) / 2;
      skips[nskips++] = (skip){ch, h, w};
    }
  }
  unet_layer(&u, nb_ - 1, ch, ch, a->unet.head_dim[nb_ - 1], 1, h, w);
  unet_layer(&u, nb_ - 1, ch, ch, a->unet.head_dim[nb_ - 1], 0, h, w);
  for (int i = 0; i < nb_; i++) {
    int lvl = nb_ - 1 - i;
    int64_t out = a->unet.block_out[lvl];
    for (int j = 0; j < a->unet.layers_per_block + 1; j++) {
      skip s = skips[--nskips];
      op_case c = mk(OP_CONCAT, 4, (int64_t[]){n, ch, h, w}, FR_F32, 0, NONE, 0);
      c.arg = 1, c.arg2 = (int)s.c;
      put(b, &c, NM("concat_unet_l%d_skip_%lld_%lld", lvl, (long long)ch, (long long)s.c), 1);
      unet_layer(&u, lvl, ch + s.c, out, a->unet.head_dim[lvl], a->unet.up_cross[i], h, w);
      ch = out;
    }
    if (i < nb_ - 1) { /* x2, or the next skip's size */
      int64_t oh = 2 * h, ow = 2 * w;
      if (nskips > 0 && (skips[nskips - 1].h != oh || skips[nskips - 1].w != ow))
        oh = skips[nskips - 1].h, ow = skips[nskips - 1].w;
      simple(b, OP_UPSAMPLE, NM("upsample_nearest_unet_l%d", lvl), 6, (int64_t[]){n, ch, h, w, oh, ow}, 0, NONE, 0, 1);
      h = oh, w = ow;
      conv(b, NM("conv2d_unet_l%d_3x3_%lld", lvl - 1, (long long)ch), n, ch, h, w, ch, 3, 1, u.w, F_BIAS);
    }
  }
  gnorm(b, NM("group_norm_unet_l0_silu_%d", c0), n, c0, h, w, groups, 1, a->unet.norm_eps, SILU, u.w);
  conv(b, "conv2d_unet_conv_out", n, c0, h, w, a->unet.out_channels, 3, 1, u.w, F_BIAS);
  permute(b, "permute_unet_out_channels", 5, (int64_t[]){u.videos, u.frames, a->unet.out_channels, h, w},
          (int[]){0, 2, 1, 3, 4});
}

/* After the UNet, each step: the guidance combination and the scheduler's update (generate.c); DPM-Solver++'s
 * of a middle step, second order (the first and the last step are first order). */
static void step_cases(builder *b, const fr_model_arch *a, const model_job *job, int64_t lh, int64_t lw)
{
  int64_t x[5] = {1, a->unet.in_channels, job->frames, lh, lw};
  if (job->guidance) simple(b, OP_GUIDANCE, "guidance_step", 5, x, 0, NONE, job->guidance_scale, 1);
  if (job->ddim) {
    simple(b, OP_DDIM, "sched_ddim_step", 5, x, 0, NONE, 0, 1);
  } else {
    simple(b, OP_DPM_X0, "sched_dpm_x0_step", 5, x, 0, NONE, 0, 1);
    simple(b, OP_DPM_UPDATE, "sched_dpm_update_step", 5, x, F_SECOND, NONE, 0, 1);
  }
}

/* decode (generate.c): the latent scaled and made frame-major once, then fr_vae_decode and the frame's bytes
 * for each frame. */
static void vae_cases(builder *b, const fr_model_arch *a, const model_job *job, int64_t lh, int64_t lw)
{
  const int nb_ = a->vae.nblocks, top = a->vae.block_out[nb_ - 1], groups = a->vae.norm_groups;
  const int64_t lc = a->vae.latent_channels;
  const float eps = 1e-6f;
  const fr_dtype wdt = a->vae_dtype;
  char nb[96];
  int64_t z[5] = {1, a->unet.in_channels, job->frames, lh, lw}, h = lh, w = lw, ch = top;
  int lvl = nb_ - 1;
  simple(b, OP_SCALE, "scale_vae_latent", 5, z, 0, NONE, (float)(1.0 / a->vae.scaling_factor), 1);
  permute(b, "permute_vae_frames", 5, z, (int[]){0, 2, 1, 3, 4});
  b->per = job->frames; /* the rest: once per frame */
  if (a->vae.post_quant_conv) conv(b, NM("conv2d_vae_l%d_post_quant", lvl), 1, lc, h, w, lc, 1, 1, wdt, F_BIAS);
  conv(b, NM("conv2d_vae_l%d_conv_in", lvl), 1, lc, h, w, top, 3, 1, wdt, F_BIAS);
  resnet(b, "vae", lvl, 1, top, top, h, w, 0, groups, eps, wdt);
  if (a->vae.mid_attention) { /* one head over the pixels of the image, no residual in the projection */
    int64_t hw = h * w;
    gnorm(b, NM("group_norm_vae_l%d_attn", lvl), 1, top, h, w, groups, 1, eps, NONE, wdt);
    permute(b, NM("permute_vae_l%d_tokens", lvl), 3, (int64_t[]){1, top, hw}, (int[]){0, 2, 1});
    linear(b, NM("linear_vae_l%d_attn_qkv", lvl), hw, top, top, wdt, F_BIAS, NONE, 3);
    attention(b, NM("attention_vae_l%d_mid", lvl), 1, hw, hw, 1, top, 1, 0);
    linear(b, NM("linear_vae_l%d_attn_out", lvl), hw, top, top, wdt, F_BIAS, NONE, 1);
    permute(b, NM("permute_vae_l%d_back", lvl), 3, (int64_t[]){1, hw, top}, (int[]){0, 2, 1});
    add(b, NM("add_vae_l%d_residual", lvl), 4, (int64_t[]){1, top, h, w}, FR_F32, 0, 0);
  }
  resnet(b, "vae", lvl, 1, top, top, h, w, 0, groups, eps, wdt);
  for (int i = 0; i < nb_; i++) {
    int64_t out = a->vae.block_out[nb_ - 1 - i];
    lvl = nb_ - 1 - i;
    for (int j = 0; j < a->vae.layers_per_block + 1; j++) {
      resnet(b, "vae", lvl, 1, ch, out, h, w, 0, groups, eps, wdt);
      ch = out;
    }
    if (i < nb_ - 1) {
      simple(b, OP_UPSAMPLE, NM("upsample_nearest_vae_l%d", lvl), 6, (int64_t[]){1, ch, h, w, 2 * h, 2 * w}, 0, NONE, 0,
             1);
      h *= 2, w *= 2;
      conv(b, NM("conv2d_vae_l%d_3x3_%lld", lvl - 1, (long long)ch), 1, ch, h, w, ch, 3, 1, wdt, F_BIAS);
    }
  }
  gnorm(b, NM("group_norm_vae_l0_silu_%d", a->vae.block_out[0]), 1, a->vae.block_out[0], h, w, groups, 1, eps, SILU,
        wdt);
  conv(b, "conv2d_vae_conv_out", 1, a->vae.block_out[0], h, w, a->vae.out_channels, 3, 1, wdt, F_BIAS);
  simple(b, OP_FRAMES_U8, "frames_u8_vae_frame", 4, (int64_t[]){1, a->vae.out_channels, h, w}, 0, NONE, 0, 1);
  b->per = 1;
}

/* fr_clip_encode on the job's prompts ([negative, prompt] with guidance), text_len tokens each. */
static void clip_cases(builder *b, const fr_model_arch *a, const model_job *job)
{
  int64_t rows = job->guidance ? 2 : 1, len = a->text_len, d = a->clip.hidden, m = rows * len;
  int64_t hd = d / a->clip.heads;
  int layers = a->clip.layers;
  fr_dtype wdt = a->clip_dtype;
  op_case c = mk(OP_EMBEDDING, 3, (int64_t[]){m, a->clip.vocab_size, d}, wdt, 0, NONE, 0);
  put(b, &c, "embedding_clip_tokens", 1);
  add(b, "add_clip_positions", 3, (int64_t[]){rows, len, d}, wdt, 0, 2);
  layer_norm(b, "layer_norm_clip", m, d, a->clip.ln_eps, wdt, 2 * layers + 1);
  linear(b, "linear_clip_attn_qkv", m, d, d, wdt, F_BIAS, NONE, 3 * layers);
  for (int i = 0; i < layers; i++)
    attention(b, "attention_clip_causal", rows, len, len, a->clip.heads, hd, 1, F_CAUSAL);
  linear(b, "linear_clip_attn_out", m, d, d, wdt, F_BIAS | F_RESIDUAL, NONE, layers);
  linear(b, "linear_clip_fc1", m, a->clip.intermediate, d, wdt, F_BIAS,
         a->clip.quick_gelu ? FR_ACT_QUICK_GELU : FR_ACT_GELU, layers);
  linear(b, "linear_clip_fc2", m, d, a->clip.intermediate, wdt, F_BIAS | F_RESIDUAL, NONE, layers);
}

fr_status model_cases_make(const fr_model_arch *a, const model_job *job, model_cases *out)
{
  memset(out, 0, sizeof *out);
  int scale = 1 << (a->vae.nblocks - 1);
  if (job->height % scale || job->width % scale || job->frames < 1)
    return fr_fail(FR_EINVAL, "%dx%d is not a multiple of the VAE's %d", job->width, job->height, scale);
  int64_t lh = job->height / scale, lw = job->width / scale;
  builder b = {out, "clip", 1, FR_OK};
  clip_cases(&b, a, job);
  b.stage = "unet";
  unet_cases(&b, a, job, lh, lw);
  b.stage = "step";
  step_cases(&b, a, job, lh, lw);
  b.stage = "vae";
  vae_cases(&b, a, job, lh, lw);
  out->images = (job->guidance ? 2 : 1) * job->frames, out->latent_h = (int)lh, out->latent_w = (int)lw;
  for (int i = 0; i < out->n; i++) out->v[i].c.name = out->v[i].name;
  if (b.st != FR_OK) model_cases_free(out);
  return b.st;
}

void model_cases_free(model_cases *m)
{
  free(m->v);
  memset(m, 0, sizeof *m);
}
