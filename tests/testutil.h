/* Shared helpers for op tests: deterministic random data, host tensors, ulp distances, and the
 * backends under test (the CPU reference with 1 and with 2 threads). */
#ifndef FRACTAL_TESTS_TESTUTIL_H
#define FRACTAL_TESTS_TESTUTIL_H

#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "fractal/backend.h"
#include "fractal/half.h"
#include "fractal/tensor.h"

#define U32 (0x1p-24) /* unit roundoff of binary32 */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static inline void rng_seed(uint64_t s) { rng_state = s * 0x9e3779b97f4a7c15ull + 1; }

static inline uint64_t rng_next(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Uniform in [lo, hi), a float. */
static inline float rng_uniform(float lo, float hi)
{
  double u = (double)(rng_next() >> 11) * 0x1p-53;
  return (float)(lo + (hi - lo) * u);
}

static inline int rng_int(int lo, int hi) { return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1)); }

/* A host tensor with its own zeroed buffer; free with tensor_free. */
static inline fr_tensor tensor_new(fr_dtype dt, int ndim, const int64_t *shape)
{
  fr_tensor t = fr_tensor_make_dims(dt, NULL, ndim, shape);
  size_t n = fr_tensor_nbytes(&t);
  t.data = calloc(n ? n : 1, 1);
  if (!t.data) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  return t;
}

static inline fr_tensor tensor_new2(fr_dtype dt, int64_t a, int64_t b)
{
  int64_t s[2] = {a, b};
  return tensor_new(dt, 2, s);
}

static inline void tensor_free(fr_tensor *t)
{
  free(t->data);
  t->data = NULL;
}

/* Fills an F32/F16/BF16 tensor with uniform values in [lo, hi) (rounded to the dtype). */
static inline void tensor_fill(fr_tensor *t, float lo, float hi)
{
  int64_t n = fr_tensor_numel(t);
  for (int64_t i = 0; i < n; i++) {
    float v = rng_uniform(lo, hi);
    if (t->dtype == FR_F32) ((float *)t->data)[i] = v;
    else if (t->dtype == FR_F16) ((uint16_t *)t->data)[i] = fr_f32_to_f16(v);
    else if (t->dtype == FR_BF16) ((uint16_t *)t->data)[i] = fr_f32_to_bf16(v);
  }
}

static inline float tensor_get(const fr_tensor *t, int64_t i) { return fr_load_f32(t->dtype, t->data, i); }

/* Two CPU backends: one thread and two threads. Results must be identical. */
static fr_backend *be_1t, *be_2t;

static inline void backends_open(void)
{
  if (fr_backend_open("cpu", 1, &be_1t) != FR_OK || fr_backend_open("cpu", 2, &be_2t) != FR_OK) {
    fprintf(stderr, "cannot open the CPU backend: %s\n", fr_last_error());
    exit(1);
  }
}

static inline void backends_close(void)
{
  fr_backend_close(be_1t);
  fr_backend_close(be_2t);
}

/* Distance in units of the last place of the double reference rounded to float. */
static inline double ulp_error(float got, double want)
{
  if (isnan(want)) return isnan(got) ? 0.0 : INFINITY;
  if (isinf(want)) return (double)got == want ? 0.0 : INFINITY;
  double aw = fabs(want);
  int e;
  frexp(aw < FLT_MIN ? FLT_MIN : aw, &e);
  double ulp = ldexp(1.0, e - 24);
  return fabs((double)got - want) / ulp;
}

#endif
