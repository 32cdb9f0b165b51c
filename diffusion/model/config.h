/* Model component configurations, parsed from diffusers/transformers config.json files. Only what
 * the forward passes use is kept; settings the model code does not implement are refused by name.
 * Internal to diffusion/. */
#ifndef FRACTAL_CONFIG_H
#define FRACTAL_CONFIG_H

#include "fractal/status.h"

#define FR_MAX_BLOCKS 8

typedef struct fr_unet_config {
  int in_channels, out_channels;
  int nblocks;
  int block_out[FR_MAX_BLOCKS];
  int down_cross[FR_MAX_BLOCKS]; /* 1: CrossAttnDownBlock3D, 0: DownBlock3D */
  int up_cross[FR_MAX_BLOCKS];   /* 1: CrossAttnUpBlock3D, 0: UpBlock3D */
  int head_dim[FR_MAX_BLOCKS];   /* "attention_head_dim": the head width; heads = C / head_dim */
  int layers_per_block;
  int norm_groups;
  float norm_eps;
  int cross_attention_dim;
  int sample_size;
} fr_unet_config;

typedef struct fr_vae_config {
  int latent_channels, out_channels;
  int nblocks;
  int block_out[FR_MAX_BLOCKS];
  int layers_per_block;
  int norm_groups;
  int post_quant_conv;
  int mid_attention;
  double scaling_factor;
} fr_vae_config;

typedef struct fr_clip_config {
  int vocab_size, hidden, intermediate, layers, heads, max_positions;
  int quick_gelu; /* hidden_act "quick_gelu" (else exact "gelu") */
  float ln_eps;
} fr_clip_config;

/* Each parses the text of a config.json; `origin` (the path) starts every error message. */
fr_status fr_unet_config_parse(const char *json_text, const char *origin, fr_unet_config *out);
fr_status fr_vae_config_parse(const char *json_text, const char *origin, fr_vae_config *out);
fr_status fr_clip_config_parse(const char *json_text, const char *origin, fr_clip_config *out);

/* Reads a whole (small) file; *out is malloc'd and NUL-terminated. */
fr_status fr_read_text_file(const char *path, size_t max_bytes, char **out);

#endif
