/* Tensors: a dtype, a row-major contiguous shape and a pointer to data on one device.
 * A tensor never owns its memory; backends and loaders do. */
#ifndef FRACTAL_TENSOR_H
#define FRACTAL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fr_dtype {
  FR_F32 = 0,
  FR_F16,
  FR_BF16,
  FR_F64,
  FR_I8,
  FR_U8,
  FR_I16,
  FR_I32,
  FR_I64,
  FR_BOOL,
  FR_DTYPE_COUNT
} fr_dtype;

#define FR_MAX_DIMS 6
#define FR_DEVICE_CPU (-1) /* fr_tensor.device: -1 is host memory, 0.. is a CUDA device ordinal */

typedef struct fr_tensor {
  fr_dtype dtype;
  int ndim;
  int64_t shape[FR_MAX_DIMS];
  void *data;
  int device;
} fr_tensor;

size_t fr_dtype_size(fr_dtype t);
const char *fr_dtype_name(fr_dtype t); /* "F32", "F16", ... as in safetensors headers */
int fr_dtype_is_float(fr_dtype t);     /* F32, F16, BF16, F64 */

/* A host tensor view; ndim dims follow. */
fr_tensor fr_tensor_make(fr_dtype dtype, void *data, int ndim, ...);
fr_tensor fr_tensor_make_dims(fr_dtype dtype, void *data, int ndim, const int64_t *shape);
int64_t fr_tensor_numel(const fr_tensor *t);
size_t fr_tensor_nbytes(const fr_tensor *t);
int fr_tensor_same_shape(const fr_tensor *a, const fr_tensor *b);
/* Writes "[2, 4, 16, 32, 32]" into buf (always terminated). */
const char *fr_shape_str(const fr_tensor *t, char *buf, size_t n);

/* Exact widening of one element of a float tensor's storage to float (F32, F16, BF16). */
float fr_load_f32(fr_dtype dtype, const void *data, int64_t index);
/* Widens n elements of F32/F16/BF16 storage to float; exact. */
void fr_widen_f32(fr_dtype dtype, const void *src, float *dst, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
