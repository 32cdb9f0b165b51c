// GroupNorm, LayerNorm and softmax on the GPU with the canonical sum of kernels/cpu/cpu.h:
// thread t of a 1024-thread block owns partial t (x[t], x[t+1024], ... added in order from +0),
// then the block halves the partials in shared memory, p[t] += p[t+s] for s = 512 ... 1.
// One block per statistic; frames of a cross-frame GroupNorm are combined in frame order.
#include "cuda_common.cuh"
#include "fractal/dmath.h"

#define LANES 1024

// mode 0: sum of x; mode 1: sum of (x - mean)^2, each term rounded once.
__device__ float block_canonical_sum(const float *x, int64_t n, int mode, float mean, float *p)
{
  int t = threadIdx.x;
  float acc = 0.0f;
  for (int64_t i = t; i < n; i += LANES) {
    float v = x[i];
    if (mode) {
      float d = v - mean;
      v = d * d;
    }
    acc = acc + v;
  }
  p[t] = acc;
  __syncthreads();
  for (int s = LANES / 2; s >= 1; s /= 2) {
    if (t < s) p[t] = p[t] + p[t + s];
    __syncthreads();
  }
  float r = p[0];
  __syncthreads(); // p is reused by the next sum
  return r;
}

__device__ __forceinline__ float affine(float t, const void *g, const void *b, fr_dtype gdt, fr_dtype bdt, int64_t c)
{
  if (g && b) return fmaf(t, load_weight(gdt, g, c), load_weight(bdt, b, c));
  if (g) return t * load_weight(gdt, g, c);
  if (b) return t + load_weight(bdt, b, c);
  return t;
}

__global__ void __launch_bounds__(LANES) group_norm_kernel(fr_norm_dims d, const float *x, float *y, const void *g,
                                                           fr_dtype gdt, const void *b, fr_dtype bdt, float eps,
                                                           fr_act act)
{
  __shared__ float p[LANES];
  int64_t run = blockIdx.x / d.groups, grp = blockIdx.x % d.groups;
  int64_t cpg = d.channels / d.groups, block = cpg * d.inner, fstride = d.channels * d.inner;
  int64_t first = run * d.frames * fstride + grp * block;
  float s = 0.0f, q = 0.0f;
  for (int64_t f = 0; f < d.frames; f++) s = s + block_canonical_sum(x + first + f * fstride, block, 0, 0.0f, p);
  float count = (float)(d.frames * block);
  float mean = s / count;
  for (int64_t f = 0; f < d.frames; f++) q = q + block_canonical_sum(x + first + f * fstride, block, 1, mean, p);
  float rstd = fr_drsqrt(q / count + eps);
  for (int64_t f = 0; f < d.frames; f++)
    for (int64_t i = threadIdx.x; i < block; i += LANES) {
      int64_t idx = first + f * fstride + i;
      float v = affine((x[idx] - mean) * rstd, g, b, gdt, bdt, grp * cpg + i / d.inner);
      y[idx] = act == FR_ACT_SILU ? fr_dsilu(v) : v;
    }
}

// The GroupNorm pieces (backend.h): one block per (sample, group), the same canonical sums and formula.
__global__ void __launch_bounds__(LANES) group_norm_partials_kernel(fr_norm_dims d, const float *x, const float *mean,
                                                                    float *out)
{
  __shared__ float p[LANES];
  int64_t n = blockIdx.x / d.groups, grp = blockIdx.x % d.groups, block = d.channels / d.groups * d.inner;
  const float *xb = x + n * d.channels * d.inner + grp * block;
  float s = block_canonical_sum(xb, block, mean != NULL, mean ? mean[blockIdx.x] : 0.0f, p);
  if (threadIdx.x == 0) out[blockIdx.x] = s;
}

__global__ void __launch_bounds__(LANES) group_norm_apply_kernel(fr_norm_dims d, const float *x, const float *mean,
                                                                 const float *rstd, float *y, const void *g,
                                                                 fr_dtype gdt, const void *b, fr_dtype bdt, fr_act act)
{
  int64_t n = blockIdx.x / d.groups, grp = blockIdx.x % d.groups, cpg = d.channels / d.groups, block = cpg * d.inner;
  int64_t first = n * d.channels * d.inner + grp * block;
  float m = mean[blockIdx.x], r = rstd[blockIdx.x];
  for (int64_t i = threadIdx.x; i < block; i += LANES) {
    float v = affine((x[first + i] - m) * r, g, b, gdt, bdt, grp * cpg + i / d.inner);
    y[first + i] = act == FR_ACT_SILU ? fr_dsilu(v) : v;
  }
}

__global__ void __launch_bounds__(LANES) layer_norm_kernel(int64_t dim, const float *x, float *y, const void *g,
                                                           fr_dtype gdt, const void *b, fr_dtype bdt, float eps)
{
  __shared__ float p[LANES];
  const float *xr = x + blockIdx.x * dim;
  float mean = block_canonical_sum(xr, dim, 0, 0.0f, p) / (float)dim;
  float rstd = fr_drsqrt(block_canonical_sum(xr, dim, 1, mean, p) / (float)dim + eps);
  for (int64_t i = threadIdx.x; i < dim; i += LANES)
    y[blockIdx.x * dim + i] = affine((xr[i] - mean) * rstd, g, b, gdt, bdt, i);
}

__global__ void __launch_bounds__(LANES) softmax_kernel(int64_t cols, const float *x, float *y)
{
  __shared__ float p[LANES];
  __shared__ float row_max;
  const float *xr = x + blockIdx.x * cols;
  float *yr = y + blockIdx.x * cols;
  if (threadIdx.x == 0) { // the max is exact in any order; one thread keeps the NaN rule of the CPU loop
    float m = -INFINITY;
    for (int64_t j = 0; j < cols; j++)
      if (xr[j] > m) m = xr[j];
    row_max = m;
  }
  __syncthreads();
  float m = row_max;
  for (int64_t j = threadIdx.x; j < cols; j += LANES) yr[j] = fr_dexp(xr[j] - m);
  __syncthreads();
  float l = block_canonical_sum(yr, cols, 0, 0.0f, p);
  for (int64_t j = threadIdx.x; j < cols; j += LANES) yr[j] = yr[j] / l;
}

fr_status fr_cuda_group_norm(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                             const fr_tensor *beta, float eps, fr_act act, fr_tensor *y)
{
  int64_t blocks = d->samples / d->frames * d->groups;
  if (blocks == 0) return FR_OK;
  FR_LAUNCH(group_norm_kernel, (unsigned)blocks, LANES, 0, cuda_of(be)->stream)(
    *d, (const float *)x->data, (float *)y->data, gamma ? gamma->data : NULL, gamma ? gamma->dtype : FR_F32,
    beta ? beta->data : NULL, beta ? beta->dtype : FR_F32, eps, act);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_group_norm_partials(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *mean,
                                      fr_tensor *out)
{
  int64_t blocks = d->samples * d->groups;
  if (blocks == 0) return FR_OK;
  FR_LAUNCH(group_norm_partials_kernel, (unsigned)blocks, LANES, 0, cuda_of(be)->stream)(
    *d, (const float *)x->data, mean ? (const float *)mean->data : NULL, (float *)out->data);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_group_norm_apply(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                                   const fr_tensor *beta, const fr_tensor *mean, const fr_tensor *rstd, fr_act act,
                                   fr_tensor *y)
{
  int64_t blocks = d->samples * d->groups;
  if (blocks == 0) return FR_OK;
  FR_LAUNCH(group_norm_apply_kernel, (unsigned)blocks, LANES, 0, cuda_of(be)->stream)(
    *d, (const float *)x->data, (const float *)mean->data, (const float *)rstd->data, (float *)y->data,
    gamma ? gamma->data : NULL, gamma ? gamma->dtype : FR_F32, beta ? beta->data : NULL, beta ? beta->dtype : FR_F32, act);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_layer_norm(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                             const fr_tensor *beta, float eps, fr_tensor *y)
{
  if (d->samples == 0) return FR_OK;
  FR_LAUNCH(layer_norm_kernel, (unsigned)d->samples, LANES, 0, cuda_of(be)->stream)(
    d->channels, (const float *)x->data, (float *)y->data, gamma ? gamma->data : NULL, gamma ? gamma->dtype : FR_F32,
    beta ? beta->data : NULL, beta ? beta->dtype : FR_F32, eps);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_softmax(fr_backend *be, int64_t rows, int64_t cols, const fr_tensor *x, fr_tensor *y)
{
  if (rows == 0) return FR_OK;
  FR_LAUNCH(softmax_kernel, (unsigned)rows, LANES, 0, cuda_of(be)->stream)(cols, (const float *)x->data, (float *)y->data);
  CUDA_LAUNCHED();
  return FR_OK;
}
