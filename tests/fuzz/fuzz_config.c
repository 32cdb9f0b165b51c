/* libFuzzer: fractald's config file parser (config_load in daemon/config.c, which reads a path) on arbitrary
 * bytes. A refusal says why; an accepted configuration prints. */
#include <stdio.h> /* config.h uses FILE */
#include <string.h>

#include "config.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static FILE *null_out;
  if (!null_out && !(null_out = fopen("/dev/null", "w"))) abort();
  fractald_config c;
  char err[1024] = "";
  if (config_load(&c, fuzz_file(0, data, size), 0, NULL, err, sizeof err) != 0) {
    if (!err[0] || !memchr(err, '\0', sizeof err)) abort();
    return 0;
  }
  config_print(&c, null_out);
  return 0;
}
