/* The CLIP text encoder (transformers CLIPTextModel, last_hidden_state after the final LayerNorm).
 * Internal to diffusion/. */
#ifndef FRACTAL_CLIP_H
#define FRACTAL_CLIP_H

#include "model/config.h"
#include "model/layers.h"

#define FR_CLIP_MAX_LAYERS 64 /* config.c refuses more */

typedef struct fr_clip_layer {
  fr_norm ln1, ln2;
  fr_attn attn;
  fr_lin fc1, fc2;
} fr_clip_layer;

typedef struct fr_clip {
  fr_clip_config cfg;
  fr_tensor tok_emb, pos_emb;
  fr_clip_layer layer[FR_CLIP_MAX_LAYERS];
  fr_norm final_ln;
} fr_clip;

void fr_clip_bind(fr_binder *b, const fr_clip_config *cfg, fr_clip *m);
/* ids: host I32 [B * L] (L <= max positions) -> out [B, L, hidden]. */
fr_status fr_clip_encode(fr_exec *ex, const fr_clip *m, const int32_t *ids, int64_t batch, int64_t len, fr_tensor *out);

#endif
