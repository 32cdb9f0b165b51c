// GroupNorm, LayerNorm and softmax on the GPU with the canonical sum of kernels/cpu/cpu.h: 1024
// partial sums, partial t adding x[t], x[t+1024], ... in order from +0.0f, then the halving tree
// p[t] = p[t] + p[t+s] for s = 512 ... 1. Only the placement of the 1024 lanes differs:
//  - GroupNorm (blocks of thousands of values): 256 threads, thread t holding lanes t + 256j (j < 4), so
//    the tree's levels 512 and 256 stay in registers, 128 ... 32 go through shared memory and 16 ... 1
//    are warp shuffles; one block per statistic, the frames of a cross-frame GroupNorm in frame order;
//  - LayerNorm and softmax (rows of a few hundred values): one warp per row, lane l holding lanes
//    l + 32m (m < 32), so levels 512 ... 32 stay in registers and 16 ... 1 are shuffles.
#include "cuda_common.cuh"
#include "fractal/dmath.h"

#define GN_THREADS 256
#define ROWS_PER_BLOCK 8 /* warps of a row-wise block */

// mode 0: the sum of x; mode 1: the sum of (x - mean)^2, each term rounded once. Every thread gets it.
__device__ float block_canonical_sum(const float *x, int64_t n, int mode, float mean, float *p)
{
  int t = (int)threadIdx.x;
  float q[4] = {0.0f, 0.0f, 0.0f, 0.0f}; // lanes t, t + 256, t + 512, t + 768
  for (int64_t i0 = 0; i0 < n; i0 += 1024) {
    FR_UNROLL
    for (int j = 0; j < 4; j++) {
      int64_t i = i0 + t + 256 * j;
      if (i >= n) continue;
      float v = x[i];
      if (mode) {
        float d = v - mean;
        v = d * d;
      }
      q[j] = q[j] + v;
    }
  }
  q[0] = q[0] + q[2], q[1] = q[1] + q[3]; // s = 512
  p[t] = q[0] + q[1];                     // s = 256
  __syncthreads();
  for (int s = 128; s >= 32; s /= 2) {
    if (t < s) p[t] = p[t] + p[t + s];
    __syncthreads();
  }
  if (t < 32) { // warp 0: s = 16 ... 1
    float r = p[t];
    for (int s = 16; s >= 1; s /= 2) {
      float o = __shfl_down_sync(0xffffffffu, r, s);
      if (t < s) r = r + o;
    }
    if (t == 0) p[0] = r;
  }
  __syncthreads();
  float r = p[0];
  __syncthreads(); // p is reused by the next sum
  return r;
}

// The same sum held by one warp (lane l: lanes l + 32m); every lane gets it.
__device__ float warp_canonical_sum(const float *x, int64_t n, int mode, float mean)
{
  int lane = (int)threadIdx.x % 32;
  float p[32];
  FR_UNROLL
  for (int m = 0; m < 32; m++) p[m] = 0.0f;
  for (int64_t i0 = 0; i0 < n; i0 += 1024) {
    FR_UNROLL
    for (int m = 0; m < 32; m++) {
      int64_t i = i0 + lane + 32 * m;
      if (i >= n) continue;
      float v = x[i];
      if (mode) {
        float d = v - mean;
        v = d * d;
      }
      p[m] = p[m] + v;
    }
  }
  FR_UNROLL
  for (int s = 16; s >= 1; s /= 2) { // canonical levels 512 ... 32
    FR_UNROLL
    for (int m = 0; m < s; m++) p[m] = p[m] + p[m + s];
  }
  float r = p[0];
  for (int s = 16; s >= 1; s /= 2) { // levels 16 ... 1
    float o = __shfl_down_sync(0xffffffffu, r, s);
    if (lane < s) r = r + o;
  }
  return __shfl_sync(0xffffffffu, r, 0);
}

__device__ __forceinline__ float affine(float t, const void *g, const void *b, fr_dtype gdt, fr_dtype bdt, int64_t c)
{
  if (g && b) return fmaf(t, load_weight(gdt, g, c), load_weight(bdt, b, c));
  if (g) return t * load_weight(gdt, g, c);
  if (b) return t + load_weight(bdt, b, c);
  return t;
}

__global__ void __launch_bounds__(GN_THREADS)
    group_norm_kernel(fr_norm_dims d, const float *x, float *y, const void *g, fr_dtype gdt, const void *b,
                      fr_dtype bdt, float eps, fr_act act)
{
  __shared__ float p[GN_THREADS];
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
    for (int64_t i = threadIdx.x; i < block; i += GN_THREADS) {
      int64_t idx = first + f * fstride + i;
      float v = affine((x[idx] - mean) * rstd, g, b, gdt, bdt, grp * cpg + i / d.inner);
      y[idx] = act == FR_ACT_SILU ? fr_dsilu(v) : v;
    }
}

// The GroupNorm pieces (backend.h): one block per (sample, group), the same canonical sums and formula.
__global__ void __launch_bounds__(GN_THREADS)
    group_norm_partials_kernel(fr_norm_dims d, const float *x, const float *mean, float *out)
{
  __shared__ float p[GN_THREADS];
  int64_t n = blockIdx.x / d.groups, grp = blockIdx.x % d.groups, block = d.channels / d.groups * d.inner;
  const float *xb = x + n * d.channels * d.inner + grp * block;
  float s = block_canonical_sum(xb, block, mean != NULL, mean ? mean[blockIdx.x] : 0.0f, p);
  if (threadIdx.x == 0) out[blockIdx.x] = s;
}

__global__ void __launch_bounds__(GN_THREADS)
    group_norm_apply_kernel(fr_norm_dims d, const float *x, const float *mean, const float *rstd, float *y,
                            const void *g, fr_dtype gdt, const void *b, fr_dtype bdt, fr_act act)
{
  int64_t n = blockIdx.x / d.groups, grp = blockIdx.x % d.groups, cpg = d.channels / d.groups, block = cpg * d.inner;
  int64_t first = n * d.channels * d.inner + grp * block;
  float m = mean[blockIdx.x], r = rstd[blockIdx.x];
  for (int64_t i = threadIdx.x; i < block; i += GN_THREADS) {
    float v = affine((x[first + i] - m) * r, g, b, gdt, bdt, grp * cpg + i / d.inner);
    y[first + i] = act == FR_ACT_SILU ? fr_dsilu(v) : v;
  }
}

// One warp per row.
__global__ void __launch_bounds__(32 * ROWS_PER_BLOCK)
    layer_norm_kernel(int64_t rows, int64_t dim, const float *x, float *y, const void *g, fr_dtype gdt, const void *b,
                      fr_dtype bdt, float eps)
{
  int64_t row = (int64_t)blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32;
  if (row >= rows) return; // whole warps
  int lane = (int)threadIdx.x % 32;
  const float *xr = x + row * dim;
  float mean = warp_canonical_sum(xr, dim, 0, 0.0f) / (float)dim;
  float rstd = fr_drsqrt(warp_canonical_sum(xr, dim, 1, mean) / (float)dim + eps);
  for (int64_t i = lane; i < dim; i += 32) y[row * dim + i] = affine((xr[i] - mean) * rstd, g, b, gdt, bdt, i);
}

// One warp per row: m = max (NaN skipped), p = exp(x - m) into y, l = canonical sum of p, y = p / l.
// Lane l writes and later reads back exactly the elements l + 32m, so the warp needs no memory fence.
__global__ void __launch_bounds__(32 * ROWS_PER_BLOCK)
    softmax_kernel(int64_t rows, int64_t cols, const float *x, float *y)
{
  int64_t row = (int64_t)blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32;
  if (row >= rows) return;
  int lane = (int)threadIdx.x % 32;
  const float *xr = x + row * cols;
  float *yr = y + row * cols;
  float m = -INFINITY;
  for (int64_t j = lane; j < cols; j += 32)
    if (xr[j] > m) m = xr[j];
  for (int off = 16; off >= 1; off /= 2) { // exact in any order; NaN never wins a comparison
    float o = __shfl_xor_sync(0xffffffffu, m, off);
    if (o > m) m = o;
  }
  for (int64_t j = lane; j < cols; j += 32) yr[j] = fr_dexp(xr[j] - m);
  float l = warp_canonical_sum(yr, cols, 0, 0.0f);
  for (int64_t j = lane; j < cols; j += 32) yr[j] = yr[j] / l;
}

fr_status fr_cuda_group_norm(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                             const fr_tensor *beta, float eps, fr_act act, fr_tensor *y)
{
  int64_t blocks = d->samples / d->frames * d->groups;
  if (blocks == 0) return FR_OK;
  FR_LAUNCH(group_norm_kernel, (unsigned)blocks, GN_THREADS, 0, cuda_of(be)->stream)
  (*d, (const float *)x->data, (float *)y->data, gamma ? gamma->data : NULL, gamma ? gamma->dtype : FR_F32,
   beta ? beta->data : NULL, beta ? beta->dtype : FR_F32, eps, act);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_group_norm_partials(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *mean,
                                      fr_tensor *out)
{
  int64_t blocks = d->samples * d->groups;
  if (blocks == 0) return FR_OK;
  FR_LAUNCH(group_norm_partials_kernel, (unsigned)blocks, GN_THREADS, 0, cuda_of(be)->stream)
  (*d, (const float *)x->data, mean ? (const float *)mean->data : NULL, (float *)out->data);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_group_norm_apply(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                                   const fr_tensor *beta, const fr_tensor *mean, const fr_tensor *rstd, fr_act act,
                                   fr_tensor *y)
{
  int64_t blocks = d->samples * d->groups;
  if (blocks == 0) return FR_OK;
  FR_LAUNCH(group_norm_apply_kernel, (unsigned)blocks, GN_THREADS, 0, cuda_of(be)->stream)
  (*d, (const float *)x->data, (const float *)mean->data, (const float *)rstd->data, (float *)y->data,
   gamma ? gamma->data : NULL, gamma ? gamma->dtype : FR_F32, beta ? beta->data : NULL, beta ? beta->dtype : FR_F32,
   act);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_layer_norm(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                             const fr_tensor *beta, float eps, fr_tensor *y)
{
  if (d->samples == 0) return FR_OK;
  FR_LAUNCH(layer_norm_kernel, (unsigned)((d->samples + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK), 32 * ROWS_PER_BLOCK, 0,
            cuda_of(be)->stream)
  (d->samples, d->channels, (const float *)x->data, (float *)y->data, gamma ? gamma->data : NULL,
   gamma ? gamma->dtype : FR_F32, beta ? beta->data : NULL, beta ? beta->dtype : FR_F32, eps);
  CUDA_LAUNCHED();
  return FR_OK;
}

fr_status fr_cuda_softmax(fr_backend *be, int64_t rows, int64_t cols, const fr_tensor *x, fr_tensor *y)
{
  if (rows == 0) return FR_OK;
  FR_LAUNCH(softmax_kernel, (unsigned)((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK), 32 * ROWS_PER_BLOCK, 0,
            cuda_of(be)->stream)
  (rows, cols, (const float *)x->data, (float *)y->data);
  CUDA_LAUNCHED();
  return FR_OK;
}
