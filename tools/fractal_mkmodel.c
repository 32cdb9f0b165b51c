#define _GNU_SOURCE /* getopt_long */
/* fractal-mkmodel: writes a random-weight ModelScope-layout model (diffusers folders) for tests and
 * benchmarks, deterministic from a seed. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fractal/modelgen.h"
#include "fractal/version.h"

static void usage(FILE *f)
{
  fprintf(f, "usage: fractal-mkmodel [options] DIR\n"
             "Writes a random-weight text-to-video model in diffusers layout into DIR.\n"
             "  -p, --preset NAME   tiny (default), small or ms-1.7b\n"
             "  -s, --seed N        weight seed (default 0)\n"
             "  -d, --dtype T       f32 (default), f16 or bf16\n"
             "  -b, --bpe FILE      CLIP's merges (bpe_simple_vocab_16e6.txt or .gz) for the real 49408-token\n"
             "                      vocabulary; without it the tokenizer is byte-level (514 tokens)\n"
             "  -q, --quiet         no progress\n"
             "      --version        the version, source commit, build type and CUDA backend\n"
             "  -h, --help          this text\n");
}

static void progress(void *ctx, const char *component, int done, int total)
{
  if (done == total || done % 64 == 0)
    fprintf(stderr, "\r%-13s %5d/%d tensors%s", component, done, total, done == total ? "\n" : "");
}

int main(int argc, char **argv)
{
  fr_modelgen_options o = {"tiny", 0, FR_F32, NULL, progress, NULL};
  static const struct option longopts[] = {{"preset", required_argument, 0, 'p'}, {"seed", required_argument, 0, 's'},
                                           {"dtype", required_argument, 0, 'd'},  {"bpe", required_argument, 0, 'b'},
                                           {"quiet", no_argument, 0, 'q'},        {"version", no_argument, 0, 'V'},
                                           {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  int ch;
  char *end;
  while ((ch = getopt_long(argc, argv, "p:s:d:b:qh", longopts, NULL)) != -1) {
    switch (ch) {
    case 'p': o.preset = optarg; break;
    case 's':
      o.seed = strtoull(optarg, &end, 10);
      if (*end || !*optarg) return fprintf(stderr, "fractal-mkmodel: bad seed '%s'\n", optarg), 2;
      break;
    case 'd':
      if (strcmp(optarg, "f32") == 0) o.dtype = FR_F32;
      else if (strcmp(optarg, "f16") == 0) o.dtype = FR_F16;
      else if (strcmp(optarg, "bf16") == 0) o.dtype = FR_BF16;
      else return fprintf(stderr, "fractal-mkmodel: dtype must be f32, f16 or bf16\n"), 2;
      break;
    case 'b': o.bpe_file = optarg; break;
    case 'q': o.progress = NULL; break;
    case 'V': fr_print_version(stdout, "fractal-mkmodel"); return 0;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc - 1) {
    usage(stderr);
    return 2;
  }
  if (!isatty(2)) o.progress = NULL;
  if (fr_modelgen_write(argv[optind], &o) != FR_OK) {
    fprintf(stderr, "fractal-mkmodel: %s\n", fr_last_error());
    return 1;
  }
  fprintf(stderr, "fractal-mkmodel: wrote the %s model (seed %llu) to %s\n", o.preset, (unsigned long long)o.seed,
          argv[optind]);
  return 0;
}
