/* Random-weight models in the diffusers layout of ModelScope text-to-video, deterministic from a
 * seed, for tests and benchmarks: "tiny" (seconds on two CPU cores), "small" (every block type,
 * narrow channels), "ms-1.7b" (the real shapes). Also a model's architecture, a preset's or a model
 * folder's, without its weights (fractal-bench --shapes derives its op shapes from it). */
#ifndef FRACTAL_MODELGEN_H
#define FRACTAL_MODELGEN_H

#include <stdint.h>

#include "fractal/status.h"
#include "fractal/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_modelgen_options {
  const char *preset; /* "tiny", "small" or "ms-1.7b" */
  uint64_t seed;
  fr_dtype dtype;       /* F32, F16 or BF16 weights */
  const char *bpe_file; /* nullable: CLIP's merges (bpe_simple_vocab_16e6.txt[.gz]) for the real 49408-token
                         * vocabulary; without it the tokenizer is byte-level (514 tokens, no merges) */
  void (*progress)(void *ctx, const char *component, int done, int total);
  void *progress_ctx;
} fr_modelgen_options;

/* The preset names, NULL-terminated. */
const char *const *fr_modelgen_presets(void);

/* Writes a complete model folder (configs, tokenizer, weights) into dir (created if missing). */
fr_status fr_modelgen_write(const char *dir, const fr_modelgen_options *opts);

#define FR_ARCH_MAX_BLOCKS 8 /* the configs' limit on blocks */

/* A model's architecture: the numbers of its three configs that the model code runs with (what
 * diffusion/model/config.c keeps of each config.json), the text length, and its weights' dtypes. */
typedef struct fr_model_arch {
  struct {
    int in_channels, out_channels, nblocks, layers_per_block, norm_groups, cross_attention_dim, sample_size;
    int block_out[FR_ARCH_MAX_BLOCKS];
    int down_cross[FR_ARCH_MAX_BLOCKS], up_cross[FR_ARCH_MAX_BLOCKS]; /* 1: a block with (cross-)attention */
    int head_dim[FR_ARCH_MAX_BLOCKS];                                 /* heads = channels / head_dim */
    float norm_eps;
  } unet;
  struct {
    int latent_channels, out_channels, nblocks, layers_per_block, norm_groups, post_quant_conv, mid_attention;
    int block_out[FR_ARCH_MAX_BLOCKS];
    double scaling_factor;
  } vae;
  struct {
    int vocab_size, hidden, intermediate, layers, heads, max_positions, quick_gelu;
    float ln_eps;
  } clip;
  int text_len;                               /* tokens per prompt: the tokenizer's model_max_length */
  fr_dtype unet_dtype, vae_dtype, clip_dtype; /* of the weights: a folder's as the loader opens them (the plain
                                               * files, else the fp16 variant); a preset's F32, which
                                               * fr_modelgen_write gives any other */
} fr_model_arch;

/* A preset's architecture (as fr_modelgen_write writes it without a bpe_file). FR_EINVAL names an unknown
 * preset. */
fr_status fr_modelgen_arch(const char *preset, fr_model_arch *out);

/* A model folder's architecture: dir/unet, vae and text_encoder/config.json through the loader's parsers,
 * dir/tokenizer's model_max_length, and the dtype of each component's weights (their headers only). Errors
 * name the file. */
fr_status fr_model_arch_read(const char *dir, fr_model_arch *out);

#ifdef __cplusplus
}
#endif
#endif
