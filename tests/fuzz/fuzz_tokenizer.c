/* libFuzzer: arbitrary bytes as a prompt (fr_tokenize), invalid UTF-8 included, on two tokenizers: the test
 * tokenizer (added tokens, a few merges) and CLIP's 49,408-token vocabulary where ../shared/data/clip has
 * it (else the byte-level one fractal-mkmodel writes). Valid UTF-8 gives [bos] ids [eos] [pad]..., the same
 * ids twice; invalid UTF-8 is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fractal/modelgen.h"
#include "fractal/tokenizer.h"

static fr_tokenizer *toks[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  char dir[] = "/tmp/fractal-fuzz-tokenizer-XXXXXX", tdir[128], cmd[160];
  const char *bpe = FR_SOURCE_DIR "/../shared/data/clip/bpe_simple_vocab_16e6.txt.gz";
  fr_modelgen_options mo = {"tiny", 0, FR_F32, access(bpe, R_OK) == 0 ? bpe : NULL, NULL, NULL};
  if (!mkdtemp(dir) || fr_modelgen_write(dir, &mo) != FR_OK) fprintf(stderr, "%s\n", fr_last_error()), abort();
  snprintf(tdir, sizeof tdir, "%s/tokenizer", dir);
  if (fr_tokenizer_load(FR_SOURCE_DIR "/tests/data/tokenizer", &toks[0]) != FR_OK ||
      fr_tokenizer_load(tdir, &toks[1]) != FR_OK)
    fprintf(stderr, "%s\n", fr_last_error()), abort();
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  fprintf(stderr, "fuzz_tokenizer: %s vocabulary\n", mo.bpe_file ? "CLIP's" : "the byte-level");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  for (int k = 0; k < 2; k++) {
    const fr_tokenizer *t = toks[k];
    int max = fr_tokenizer_max_length(t), used = -1, again = -1;
    int32_t *ids = (int32_t *)malloc((size_t)max * sizeof *ids), *ids2 = (int32_t *)malloc((size_t)max * sizeof *ids);
    if (!ids || !ids2) abort();
    fr_status st = fr_tokenize(t, (const char *)data, size, ids, &used);
    if (st == FR_EINVAL && strstr(fr_last_error(), "invalid UTF-8")) {
      free(ids), free(ids2);
      return 0; /* the same bytes are invalid for the other tokenizer too */
    }
    if (st != FR_OK || used < 2 || used > max || ids[0] != fr_tokenizer_bos(t) || ids[used - 1] != fr_tokenizer_eos(t))
      abort();
    for (int i = 0; i < max; i++)
      if (ids[i] < 0 || (i >= used && ids[i] != fr_tokenizer_pad(t))) abort();
    if (fr_tokenize(t, (const char *)data, size, ids2, &again) != FR_OK || again != used ||
        memcmp(ids, ids2, (size_t)max * sizeof *ids))
      abort();
    free(ids), free(ids2);
  }
  return 0;
}
