/* CLIP text encoder: token + position embeddings, pre-LayerNorm layers with causal self-attention and
 * an MLP (exact or quick GELU), final LayerNorm. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/clip.h"

#define NAME(buf, ...) (snprintf((buf), sizeof(buf), __VA_ARGS__), (buf))

void fr_clip_bind(fr_binder *b, const fr_clip_config *c, fr_clip *m)
{
  char n[256];
  fr_clip_config cfg = *c; /* c may point into m */
  memset(m, 0, sizeof *m);
  m->cfg = cfg;
  c = &m->cfg;
  int d = c->hidden, head_dim = d / c->heads;
  int64_t te[2] = {c->vocab_size, d}, pe[2] = {c->max_positions, d};
  fr_bind(b, &m->tok_emb, 2, te, "text_model.embeddings.token_embedding.weight");
  fr_bind(b, &m->pos_emb, 2, pe, "text_model.embeddings.position_embedding.weight");
  for (int i = 0; i < c->layers; i++) {
    fr_clip_layer *l = &m->layer[i];
    fr_bind_norm(b, &l->ln1, d, NAME(n, "text_model.encoder.layers.%d.layer_norm1", i));
    fr_bind_lin(b, &l->attn.q, d, d, 1, NAME(n, "text_model.encoder.layers.%d.self_attn.q_proj", i));
    fr_bind_lin(b, &l->attn.k, d, d, 1, NAME(n, "text_model.encoder.layers.%d.self_attn.k_proj", i));
    fr_bind_lin(b, &l->attn.v, d, d, 1, NAME(n, "text_model.encoder.layers.%d.self_attn.v_proj", i));
    fr_bind_lin(b, &l->attn.out, d, d, 1, NAME(n, "text_model.encoder.layers.%d.self_attn.out_proj", i));
    l->attn.heads = c->heads, l->attn.dim = l->attn.inner = d;
    l->attn.scale = (float)(1.0 / sqrt((double)head_dim)); /* head_dim ** -0.5 */
    fr_bind_norm(b, &l->ln2, d, NAME(n, "text_model.encoder.layers.%d.layer_norm2", i));
    fr_bind_lin(b, &l->fc1, d, c->intermediate, 1, NAME(n, "text_model.encoder.layers.%d.mlp.fc1", i));
    fr_bind_lin(b, &l->fc2, c->intermediate, d, 1, NAME(n, "text_model.encoder.layers.%d.mlp.fc2", i));
  }
  fr_bind_norm(b, &m->final_ln, d, "text_model.final_layer_norm");
}

fr_status fr_clip_encode(fr_exec *ex, const fr_clip *m, const int32_t *ids, int64_t batch, int64_t len, fr_tensor *out)
{
  const fr_clip_config *c = &m->cfg;
  if (len > c->max_positions)
    return fr_fail(FR_EINVAL, "text encoder: %lld tokens but only %d positions", (long long)len, c->max_positions);
  int64_t rows = batch * len, d = c->hidden;
  int64_t xs[3] = {batch, len, d}, fs[3] = {batch, len, c->intermediate};
  fr_tensor x, x2, n, f;
  fr_tensor idt = fr_tensor_make(FR_I32, (void *)ids, 1, rows);
  FR_TRY(fr_exec_alloc(ex, &x, 3, xs));
  fr_tensor x2d = fr_view2(&x, rows, d);
  FR_TRY(fr_embedding(ex->be, &idt, &m->tok_emb, &x2d));
  fr_tensor pos = fr_rows(&m->pos_emb, 0, len); /* position ids 0..len-1, the same for every row */
  FR_TRY(fr_add(ex->be, &x, &pos, &x));
  FR_TRY(fr_exec_alloc(ex, &x2, 3, xs));
  FR_TRY(fr_exec_alloc(ex, &n, 3, xs));
  FR_TRY(fr_exec_alloc(ex, &f, 3, fs));
  fr_act act = c->quick_gelu ? FR_ACT_QUICK_GELU : FR_ACT_GELU;
  for (int i = 0; i < c->layers; i++) {
    const fr_clip_layer *l = &m->layer[i];
    FR_TRY(fr_layer_norm(ex->be, &x, &l->ln1.g, &l->ln1.b, c->ln_eps, &n));
    FR_TRY(fr_attn_fwd(ex, &l->attn, &n, &n, 1, 1, &x, &x2));
    FR_TRY(fr_layer_norm(ex->be, &x2, &l->ln2.g, &l->ln2.b, c->ln_eps, &n));
    FR_TRY(fr_lin_fwd(ex, &l->fc1, &n, act, NULL, &f));
    FR_TRY(fr_lin_fwd(ex, &l->fc2, &f, FR_ACT_NONE, &x2, &x));
  }
  FR_TRY(fr_layer_norm(ex->be, &x, &m->final_ln.g, &m->final_ln.b, c->ln_eps, out));
  fr_exec_free(ex, &f), fr_exec_free(ex, &n), fr_exec_free(ex, &x2), fr_exec_free(ex, &x);
  return FR_OK;
}
