/* libFuzzer: fr_registry_load (protocol/auth.c) on arbitrary bytes: the registry fractald reloads on SIGHUP
 * and every registry_sync_s. Every node of an accepted registry has a valid hotkey and is found by it. */
#include <string.h>

#include "fractal/auth.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fr_registry r;
  if (fr_registry_load(fuzz_file(0, data, size), &r) != FR_OK) return 0;
  for (int i = 0; i < r.n; i++)
    if (!fr_hotkey_valid(r.nodes[i].hotkey) || fr_registry_find(&r, r.nodes[i].hotkey) != &r.nodes[i] ||
        strncmp(r.nodes[i].endpoint, "http://", 7) != 0 || !(r.nodes[i].stake >= 0))
      abort();
  fr_registry_free(&r);
  return 0;
}
