/* Inside a backend: the op table each backend fills, and the checked dimensions ops.c hands it.
 * Not a public header: diffusion/ and tools/ see only fractal/backend.h. */
#ifndef FRACTAL_BACKEND_IMPL_H
#define FRACTAL_BACKEND_IMPL_H

#include <stddef.h>

#include "fractal/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Dimensions derived and checked by ops.c before a backend sees an op. */
typedef struct fr_linear_dims {
  int64_t m, n, k;
} fr_linear_dims;

typedef struct fr_conv_dims {
  int64_t n, cin, h, w, cout, kh, kw, ho, wo;
  int stride, pad;
  int64_t frames; /* conv_frames only */
} fr_conv_dims;

typedef struct fr_norm_dims {
  int64_t samples, channels, inner; /* x viewed as [samples, channels, inner] */
  int64_t groups, frames;           /* group_norm */
} fr_norm_dims;

typedef struct fr_attn_dims {
  int64_t bq, bk, lq, lk, heads, dk, dv;
} fr_attn_dims;

typedef struct fr_backend_ops {
  void (*close)(fr_backend *be);
  fr_status (*alloc)(fr_backend *be, size_t nbytes, void **ptr);
  void (*free)(fr_backend *be, void *ptr);
  fr_status (*upload)(fr_backend *be, void *dst, const void *src, size_t nbytes);
  fr_status (*download)(fr_backend *be, void *dst, const void *src, size_t nbytes);
  fr_status (*copy)(fr_backend *be, void *dst, const void *src, size_t nbytes); /* device to device */
  fr_status (*sync)(fr_backend *be);

  fr_status (*linear)(fr_backend *be, const fr_linear_dims *d, const fr_tensor *x, const fr_tensor *w,
                      const fr_tensor *b, fr_act act, const fr_tensor *residual, fr_tensor *y);
  fr_status (*conv2d)(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_tensor *w, const fr_tensor *b,
                      const fr_tensor *residual, fr_tensor *y);
  fr_status (*conv_frames)(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_tensor *w,
                           const fr_tensor *b, const fr_tensor *residual, fr_tensor *y);
  fr_status (*linear_i8x)(fr_backend *be, const fr_linear_dims *d, const fr_tensor *x, const fr_qweight *w,
                          const fr_tensor *b, fr_act act, const fr_tensor *residual, fr_tensor *y);
  fr_status (*conv2d_i8x)(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_qweight *w,
                          const fr_tensor *b, const fr_tensor *residual, fr_tensor *y);
  fr_status (*conv_frames_i8x)(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_qweight *w,
                               const fr_tensor *b, const fr_tensor *residual, fr_tensor *y);
  fr_status (*attention_i8x)(fr_backend *be, const fr_attn_dims *d, const fr_tensor *q, const fr_tensor *k,
                             const fr_tensor *v, const fr_attn_params *p, int bits, fr_tensor *y);
  fr_status (*group_norm)(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                          const fr_tensor *beta, float eps, fr_act act, fr_tensor *y);
  fr_status (*layer_norm)(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                          const fr_tensor *beta, float eps, fr_tensor *y);
  fr_status (*group_norm_partials)(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *mean,
                                   fr_tensor *out);
  fr_status (*group_norm_apply)(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                                const fr_tensor *beta, const fr_tensor *mean, const fr_tensor *rstd, fr_act act,
                                fr_tensor *y);
  fr_status (*copy_region)(fr_backend *be, const fr_tensor *src, int64_t src_off, const int64_t *src_strides,
                           fr_tensor *dst, int64_t dst_off, const int64_t *dst_strides, int ndim, const int64_t *shape);
  fr_status (*attention)(fr_backend *be, const fr_attn_dims *d, const fr_tensor *q, const fr_tensor *k,
                         const fr_tensor *v, const fr_attn_params *p, fr_tensor *y);
  fr_status (*softmax)(fr_backend *be, int64_t rows, int64_t cols, const fr_tensor *x, fr_tensor *y);
  fr_status (*activate)(fr_backend *be, fr_act act, const fr_tensor *x, fr_tensor *y);
  fr_status (*geglu)(fr_backend *be, int64_t rows, int64_t n, const fr_tensor *h, fr_tensor *y);
  fr_status (*upsample_nearest)(fr_backend *be, const fr_tensor *x, fr_tensor *y);
  /* a viewed as [outer, ca, inner], b as [outer, cb, inner] */
  fr_status (*concat)(fr_backend *be, int64_t outer, int64_t ca, int64_t cb, int64_t inner, const fr_tensor *a,
                      const fr_tensor *b, fr_tensor *y);
  /* y[i] = a[i] + b[(i / b_div) % b_mod] */
  fr_status (*add)(fr_backend *be, int64_t b_div, int64_t b_mod, const fr_tensor *a, const fr_tensor *b, fr_tensor *y);
  fr_status (*scale)(fr_backend *be, const fr_tensor *x, float s, fr_tensor *y);
  fr_status (*permute)(fr_backend *be, const fr_tensor *x, const int *perm, fr_tensor *y);
  fr_status (*embedding)(fr_backend *be, const fr_tensor *ids, const fr_tensor *table, fr_tensor *y);
  fr_status (*fill_normal)(fr_backend *be, uint64_t seed, uint64_t stream, fr_tensor *y);
  /* t: n host floats; y [n, dim] */
  fr_status (*timestep_embedding)(fr_backend *be, const float *t, int n, int flip_sin_to_cos, float shift,
                                  float max_period, fr_tensor *y);
  /* x viewed as [n, c, hw]; frames [n, hw, 3] */
  fr_status (*frames_u8)(fr_backend *be, int64_t n, int64_t c, int64_t hw, const fr_tensor *x, fr_tensor *frames,
                         fr_tensor *v01);
  fr_status (*guidance)(fr_backend *be, const fr_tensor *uncond, const fr_tensor *cond, float s, fr_tensor *y);
  /* which: 0 DDIM (a = x, b = eps), 1 DPM x0 (a = x, b = eps), 2 DPM update (a = x, b = m0, c = m1 or NULL) */
  fr_status (*sched)(fr_backend *be, int which, const fr_tensor *a, const fr_tensor *b, const fr_tensor *c,
                     const fr_sched_coeffs *k, fr_tensor *y);
} fr_backend_ops;

struct fr_backend {
  const fr_backend_ops *ops;
  char name[160];
  int device;   /* FR_DEVICE_CPU or the CUDA ordinal */
  int threads;  /* host worker threads */
  int planning; /* a planning twin (fr_backend_open_plan): ops check their arguments, then return */
  void *impl;   /* backend-private state (the CPU backend's worker pool) */
};

/* Backend constructors (kernels/cpu/cpu_backend.c, kernels/cuda/cuda_backend.cu). */
fr_status fr_cpu_backend_open(int threads, fr_backend **out);
fr_status fr_cuda_backend_open(int device, int threads, fr_backend **out);
int fr_cuda_backend_device_count(void);

#ifdef __cplusplus
}
#endif
#endif
