/* libFuzzer: fr_st_open on arbitrary bytes (a downloaded model's weights). An accepted file's entries are
 * all found by name, lie inside the mapping, and the float ones widen to float32. */
#include <string.h>

#include "fractal/safetensors.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fr_st_file *f;
  if (fr_st_open(fuzz_file(0, data, size), &f) != FR_OK) return 0;
  fr_st_metadata(f, "format");
  for (int i = 0; i < fr_st_count(f); i++) {
    const fr_st_entry *e = fr_st_entry_at(f, i);
    if (fr_st_find(f, e->name) != e) abort();
    fr_tensor t = fr_st_tensor(e);
    if (fr_tensor_nbytes(&t) != e->nbytes) abort();
    if ((e->dtype == FR_F32 || e->dtype == FR_F16 || e->dtype == FR_BF16) && e->nbytes <= ((size_t)1 << 20)) {
      size_t n = (size_t)e->nbytes / fr_dtype_size(e->dtype);
      float *x = (float *)malloc(n ? n * sizeof(float) : 1);
      if (!x || fr_st_read_f32(e, x) != FR_OK) abort();
      free(x);
    }
  }
  fr_st_close(f);
  return 0;
}
