// Elementwise ops on the GPU: each output is the same expression of its inputs as in
// kernels/cpu/elementwise.c, with the same dmath functions, so the bits agree.
#include "cuda_common.cuh"
#include "fractal/act.h"
#include "fractal/philox.h"
#include "fractal/sched_math.h"

#define BLOCK 256
#define GRID_STRIDE(i, n)                                                                                              \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

__global__ void activate_kernel(int64_t n, fr_act act, const float *x, float *y)
{
  GRID_STRIDE(i, n) { y[i] = fr_act_apply(act, x[i]); }
}

__global__ void geglu_kernel(int64_t n, int64_t inner, const float *h, float *y)
{
  GRID_STRIDE(i, n)
  {
    int64_t r = i / inner, c = i % inner;
    const float *row = h + r * 2 * inner;
    y[i] = row[c] * fr_dgelu(row[inner + c]);
  }
}

__global__ void add_kernel(int64_t n, int64_t b_div, int64_t b_mod, const float *a, fr_dtype bdt, const void *b,
                           float *y)
{
  GRID_STRIDE(i, n) { y[i] = a[i] + load_weight(bdt, b, (i / b_div) % b_mod); }
}

__global__ void scale_kernel(int64_t n, float s, const float *x, float *y)
{
  GRID_STRIDE(i, n) { y[i] = x[i] * s; }
}

__global__ void guidance_kernel(int64_t n, float s, const float *u, const float *c, float *y)
{
  GRID_STRIDE(i, n)
  {
    float ui = u[i], diff = c[i] - ui;
    y[i] = ui + s * diff;
  }
}

__global__ void normal_kernel(int64_t n, uint64_t seed, uint64_t stream, float *y)
{
  GRID_STRIDE(i, n) { y[i] = fr_philox_normal(seed, stream, (uint64_t)i); }
}

__global__ void sched_kernel(int64_t n, int which, const float *a, const float *b, const float *c, fr_sched_coeffs k,
                             float *y)
{
  GRID_STRIDE(i, n)
  {
    if (which == 0) y[i] = fr_sched_ddim_one(a[i], b[i], &k);
    else if (which == 1) y[i] = fr_sched_dpm_x0_one(a[i], b[i], &k);
    else y[i] = fr_sched_dpm_update_one(a[i], b[i], c ? &c[i] : NULL, &k);
  }
}

fr_status fr_cuda_sched(fr_backend *be, int which, const fr_tensor *a, const fr_tensor *b, const fr_tensor *c,
                        const fr_sched_coeffs *k, fr_tensor *y)
{
  int64_t n = fr_tensor_numel(a);
  FR_LAUNCH(sched_kernel, grid_for(n, BLOCK), BLOCK, 0, cuda_of(be)->stream)
  (n, which, (const float *)a->data, (const float *)b->data, c ? (const float *)c->data : NULL, *k, (float *)y->data);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_activate(fr_backend *be, fr_act act, const fr_tensor *x, fr_tensor *y)
{
  int64_t n = fr_tensor_numel(x);
  FR_LAUNCH(activate_kernel, grid_for(n, BLOCK), BLOCK, 0, cuda_of(be)->stream)
  (n, act, (const float *)x->data, (float *)y->data);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_geglu(fr_backend *be, int64_t rows, int64_t n, const fr_tensor *h, fr_tensor *y)
{
  FR_LAUNCH(geglu_kernel, grid_for(rows * n, BLOCK), BLOCK, 0, cuda_of(be)->stream)
  (rows * n, n, (const float *)h->data, (float *)y->data);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_add(fr_backend *be, int64_t b_div, int64_t b_mod, const fr_tensor *a, const fr_tensor *b,
                      fr_tensor *y)
{
  int64_t n = fr_tensor_numel(a);
  FR_LAUNCH(add_kernel, grid_for(n, BLOCK), BLOCK, 0, cuda_of(be)->stream)
  (n, b_div, b_mod, (const float *)a->data, b->dtype, b->data, (float *)y->data);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_scale(fr_backend *be, const fr_tensor *x, float s, fr_tensor *y)
{
  int64_t n = fr_tensor_numel(x);
  FR_LAUNCH(scale_kernel, grid_for(n, BLOCK), BLOCK, 0, cuda_of(be)->stream)
  (n, s, (const float *)x->data, (float *)y->data);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_guidance(fr_backend *be, const fr_tensor *uncond, const fr_tensor *cond, float s, fr_tensor *y)
{
  int64_t n = fr_tensor_numel(uncond);
  FR_LAUNCH(guidance_kernel, grid_for(n, BLOCK), BLOCK, 0, cuda_of(be)->stream)
  (n, s, (const float *)uncond->data, (const float *)cond->data, (float *)y->data);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_fill_normal(fr_backend *be, uint64_t seed, uint64_t stream, fr_tensor *y)
{
  int64_t n = fr_tensor_numel(y);
  FR_LAUNCH(normal_kernel, grid_for(n, BLOCK), BLOCK, 0, cuda_of(be)->stream)(n, seed, stream, (float *)y->data);
  CUDA_LAUNCHED();
  return FR_OK;
}

// A strided region copy (backend.h): element i of the region, in row-major order of `shape`, goes from
// its source offset to its destination offset; 4-byte elements move as bits.
typedef struct region {
  int64_t shape[FR_MAX_DIMS], ss[FR_MAX_DIMS], ds[FR_MAX_DIMS], soff, doff;
  int ndim;
} region;

__global__ void copy_region_kernel(int64_t n, region r, const uint32_t *src, uint32_t *dst)
{
  GRID_STRIDE(i, n)
  {
    int64_t rest = i, so = r.soff, dof = r.doff;
    for (int k = r.ndim - 1; k >= 0; k--) {
      int64_t ik = rest % r.shape[k];
      rest /= r.shape[k];
      so += ik * r.ss[k], dof += ik * r.ds[k];
    }
    dst[dof] = src[so];
  }
}

fr_status fr_cuda_copy_region(fr_backend *be, const fr_tensor *src, int64_t src_off, const int64_t *src_strides,
                              fr_tensor *dst, int64_t dst_off, const int64_t *dst_strides, int ndim,
                              const int64_t *shape)
{
  region r;
  int64_t n = 1;
  r.ndim = ndim, r.soff = src_off, r.doff = dst_off;
  for (int k = 0; k < ndim; k++)
    r.shape[k] = shape[k], r.ss[k] = src_strides[k], r.ds[k] = dst_strides[k], n *= shape[k];
  if (n == 0) return FR_OK;
  FR_LAUNCH(copy_region_kernel, grid_for(n, BLOCK), BLOCK, 0, cuda_of(be)->stream)
  (n, r, (const uint32_t *)src->data, (uint32_t *)dst->data);
  CUDA_LAUNCHED();
  return FR_OK;
}
