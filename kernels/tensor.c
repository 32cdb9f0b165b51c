/* Tensor shapes, dtype facts and exact widening of stored weights to float. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fractal/half.h"
#include "fractal/tensor.h"

/* clang-format off */ /* a table: one entry per line */
static const struct {
  const char *name;
  size_t size;
  int is_float;
} dtype_info[FR_DTYPE_COUNT] = {
  [FR_F32] = {"F32", 4, 1}, [FR_F16] = {"F16", 2, 1}, [FR_BF16] = {"BF16", 2, 1},
  [FR_F64] = {"F64", 8, 1}, [FR_I8] = {"I8", 1, 0},   [FR_U8] = {"U8", 1, 0},
  [FR_I16] = {"I16", 2, 0}, [FR_I32] = {"I32", 4, 0}, [FR_I64] = {"I64", 8, 0},
  [FR_BOOL] = {"BOOL", 1, 0},
};
/* clang-format on */

size_t fr_dtype_size(fr_dtype t) { return (unsigned)t < FR_DTYPE_COUNT ? dtype_info[t].size : 0; }
const char *fr_dtype_name(fr_dtype t) { return (unsigned)t < FR_DTYPE_COUNT ? dtype_info[t].name : "?"; }
int fr_dtype_is_float(fr_dtype t) { return (unsigned)t < FR_DTYPE_COUNT && dtype_info[t].is_float; }

fr_tensor fr_tensor_make_dims(fr_dtype dtype, void *data, int ndim, const int64_t *shape)
{
  fr_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = dtype;
  t.ndim = ndim < 0 ? 0 : (ndim > FR_MAX_DIMS ? FR_MAX_DIMS : ndim);
  for (int i = 0; i < t.ndim; i++) t.shape[i] = shape[i];
  t.data = data;
  t.device = FR_DEVICE_CPU;
  return t;
}

fr_tensor fr_tensor_make(fr_dtype dtype, void *data, int ndim, ...)
{
  int64_t shape[FR_MAX_DIMS] = {0};
  va_list ap;
  va_start(ap, ndim);
  for (int i = 0; i < ndim && i < FR_MAX_DIMS; i++) shape[i] = va_arg(ap, int64_t);
  va_end(ap);
  return fr_tensor_make_dims(dtype, data, ndim, shape);
}

int64_t fr_tensor_numel(const fr_tensor *t)
{
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

size_t fr_tensor_nbytes(const fr_tensor *t) { return (size_t)fr_tensor_numel(t) * fr_dtype_size(t->dtype); }

int fr_tensor_same_shape(const fr_tensor *a, const fr_tensor *b)
{
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

const char *fr_shape_str(const fr_tensor *t, char *buf, size_t n)
{
  size_t used = 0;
  if (n == 0) return buf;
  buf[0] = '\0';
  used += (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < t->ndim && used < n; i++)
    used += (size_t)snprintf(buf + used, n - used, i ? ", %lld" : "%lld", (long long)t->shape[i]);
  if (used < n) snprintf(buf + used, n - used, "]");
  return buf;
}

float fr_load_f32(fr_dtype dtype, const void *data, int64_t i)
{
  const unsigned char *p = (const unsigned char *)data;
  uint16_t h;
  float f;
  switch (dtype) {
  case FR_F32: memcpy(&f, p + 4 * i, 4); return f;
  case FR_F16: memcpy(&h, p + 2 * i, 2); return fr_f16_to_f32(h);
  case FR_BF16: memcpy(&h, p + 2 * i, 2); return fr_bf16_to_f32(h);
  default: return 0.0f;
  }
}

void fr_widen_f32(fr_dtype dtype, const void *src, float *dst, int64_t n)
{
  const unsigned char *p = (const unsigned char *)src;
  if (dtype == FR_F32) {
    memcpy(dst, src, (size_t)n * 4);
    return;
  }
  uint16_t h;
  if (dtype == FR_F16) /* one loop per dtype: branch-free conversions, so each vectorises */
    for (int64_t i = 0; i < n; i++) memcpy(&h, p + 2 * i, 2), dst[i] = fr_f16_to_f32(h);
  else
    for (int64_t i = 0; i < n; i++) memcpy(&h, p + 2 * i, 2), dst[i] = fr_bf16_to_f32(h);
}
