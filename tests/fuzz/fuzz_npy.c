/* libFuzzer: fr_npy_read_f32 on arbitrary bytes (fractal-gen --init-latents, fractal-replay --latent). An
 * accepted array's shape multiplies out without overflow to what was read, and writes back and reads
 * again to the same shape and bits. */
#include <string.h>

#include "fractal/npy.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  int nd, nd2;
  int64_t shape[FR_MAX_DIMS], shape2[FR_MAX_DIMS];
  float *x = NULL, *y = NULL;
  if (fr_npy_read_f32(fuzz_file(0, data, size), &nd, shape, &x) != FR_OK) return 0;
  int64_t n = 1;
  for (int i = 0; i < nd; i++) {
    if (shape[i] < 0 || (shape[i] && n > FR_NPY_MAX_ELEMENTS / shape[i])) abort(); /* the reader's promise */
    n *= shape[i];
  }
  const char *out = fuzz_file(1, NULL, 0);
  if (fr_npy_write(out, FR_F32, nd, shape, x) != FR_OK || fr_npy_read_f32(out, &nd2, shape2, &y) != FR_OK) abort();
  if (nd2 != nd || memcmp(shape, shape2, (size_t)nd * sizeof *shape) || memcmp(x, y, (size_t)n * sizeof *x)) abort();
  free(x);
  free(y);
  return 0;
}
