/* fractal-keygen: makes a node's Ed25519 key file (mode 0600) and prints its hotkey. */
#include <stdio.h>
#include <string.h>

#include "fractal/auth.h"
#include "fractal/version.h"

int main(int argc, char **argv)
{
  const char *path = "fractal.key";
  int force = 0, show = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      printf("usage: fractal-keygen [-o FILE] [--force] | --show FILE | --version\n"
             "Writes a new Ed25519 key file (default fractal.key, mode 0600; an existing file is kept unless\n"
             "--force) and prints the node's hotkey. --show prints the hotkey of an existing key file.\n");
      return 0;
    }
    if (strcmp(argv[i], "--version") == 0) return fr_print_version(stdout, "fractal-keygen"), 0;
    if (strcmp(argv[i], "--force") == 0) force = 1;
    else if (strcmp(argv[i], "--show") == 0 && i + 1 < argc) show = 1, path = argv[++i];
    else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) path = argv[++i];
    else return fprintf(stderr, "fractal-keygen: unexpected argument '%s' (see --help)\n", argv[i]), 2;
  }
  fr_key k;
  if (show) {
    if (fr_key_load(path, &k) != FR_OK) return fprintf(stderr, "fractal-keygen: %s\n", fr_last_error()), 1;
  } else if (fr_key_generate(&k) != FR_OK || fr_key_save(&k, path, force) != FR_OK) {
    return fprintf(stderr, "fractal-keygen: %s\n", fr_last_error()), 1;
  }
  printf("%s\n", k.hotkey);
  return 0;
}
