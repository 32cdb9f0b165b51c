/* NumPy .npy files: write float32/int32/uint8 arrays, read float32 ones (version 1.0 and 2.0,
 * little-endian, C order), for --dump and --init-latents and comparisons with other implementations. */
#ifndef FRACTAL_NPY_H
#define FRACTAL_NPY_H

#include <stdint.h>

#include "fractal/status.h"
#include "fractal/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_NPY_MAX_ELEMENTS ((int64_t)1 << 32) /* larger arrays are refused when read */

/* dtype: FR_F32, FR_I32 or FR_U8. A negative dimension or a byte size past 2^63 is FR_EINVAL. */
fr_status fr_npy_write(const char *path, fr_dtype dtype, int ndim, const int64_t *shape, const void *data);
/* Reads a float32 array into shape[FR_MAX_DIMS]; *data is malloc'd. The product of the dimensions, and
 * every partial product from the left, is at most FR_NPY_MAX_ELEMENTS, so callers may multiply them; a
 * shape past that, one the file's data does not fill, and everything else is refused with a clear error. */
fr_status fr_npy_read_f32(const char *path, int *ndim, int64_t *shape, float **data);

#ifdef __cplusplus
}
#endif
#endif
