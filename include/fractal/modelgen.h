/* Random-weight models in the diffusers layout of ModelScope text-to-video, deterministic from a
 * seed, for tests and benchmarks: "tiny" (seconds on two CPU cores), "small" (every block type,
 * narrow channels), "ms-1.7b" (the real shapes). */
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

#ifdef __cplusplus
}
#endif
#endif
