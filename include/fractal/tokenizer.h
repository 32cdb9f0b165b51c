/* The CLIP tokenizer: byte-level BPE from a diffusers-layout tokenizer/ folder (vocab.json, merges.txt,
 * special_tokens_map.json, tokenizer_config.json), giving exactly what transformers' CLIPTokenizer
 * (the slow one, without ftfy) gives for tokenizer(text, padding="max_length", max_length=77,
 * truncation=True). See docs/tokenizer.md for the text clean-up this implies. */
#ifndef FRACTAL_TOKENIZER_H
#define FRACTAL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_tokenizer fr_tokenizer;

/* Loads dir/vocab.json and dir/merges.txt, and the special tokens (bos, eos, unk, pad) and
 * model_max_length from dir/special_tokens_map.json and dir/tokenizer_config.json where present
 * (pad: special_tokens_map, else tokenizer_config, else "<|endoftext|>" as CLIPTokenizer does).
 * Every problem is a clear error. */
fr_status fr_tokenizer_load(const char *dir, fr_tokenizer **out);
void fr_tokenizer_free(fr_tokenizer *t);

int fr_tokenizer_max_length(const fr_tokenizer *t); /* model_max_length, 77 for CLIP */
int32_t fr_tokenizer_bos(const fr_tokenizer *t);
int32_t fr_tokenizer_eos(const fr_tokenizer *t);
int32_t fr_tokenizer_pad(const fr_tokenizer *t);
int32_t fr_tokenizer_vocab_size(const fr_tokenizer *t);

/* Tokenizes len bytes of UTF-8 text into exactly fr_tokenizer_max_length() ids:
 * [bos] + the first (max_length - 2) BPE ids + [eos] + [pad]...  *used (nullable) receives the number
 * of ids before padding. Invalid UTF-8 fails with FR_EINVAL and names the byte offset.
 * Thread-safe for concurrent calls on one tokenizer. */
fr_status fr_tokenize(const fr_tokenizer *t, const char *text, size_t len, int32_t *ids, int *used);

#ifdef __cplusplus
}
#endif
#endif
