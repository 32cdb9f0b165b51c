// Data movement and the small per-element ops that feed or finish a job on the GPU: nearest upsample,
// concat, permute, embedding gather, the timestep embedding and the video bytes. Each output is the
// same function of its inputs as in kernels/cpu/elementwise.c (integer index arithmetic, exact copies,
// the shared formulas of fractal/elementwise.h), so the bits agree.
#include "cuda_common.cuh"
#include "fractal/elementwise.h"

#define BLOCK 256
#define GRID_STRIDE(i, n)                                                                                              \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

// y[p][oy][ox] = x[p][oy * h / ho][ox * w / wo] (PyTorch's legacy nearest, integer arithmetic).
__global__ void upsample_kernel(int64_t n, int64_t h, int64_t w, int64_t ho, int64_t wo, const float *x, float *y)
{
  GRID_STRIDE(i, n)
  {
    int64_t ox = i % wo, oy = i / wo % ho, plane = i / (wo * ho);
    y[i] = x[(plane * h + oy * h / ho) * w + ox * w / wo];
  }
}

fr_status fr_cuda_upsample_nearest(fr_backend *be, const fr_tensor *x, fr_tensor *y)
{
  int64_t n = fr_tensor_numel(y);
  if (n == 0) return FR_OK;
  FR_LAUNCH(upsample_kernel, grid_for(n, BLOCK), BLOCK, 0, cuda_of(be)->stream)
  (n, x->shape[2], x->shape[3], y->shape[2], y->shape[3], (const float *)x->data, (float *)y->data);
  CUDA_LAUNCHED();
  return FR_OK;
}

// Row r of the output is a's row r then b's row r, in units of `unit` bytes (4 when every size allows).
template <typename U> __global__ void concat_kernel(int64_t n, int64_t ra, int64_t rb, const U *a, const U *b, U *y)
{
  GRID_STRIDE(i, n)
  {
    int64_t r = i / (ra + rb), c = i % (ra + rb);
    y[i] = c < ra ? a[r * ra + c] : b[r * rb + c - ra];
  }
}

fr_status fr_cuda_concat(fr_backend *be, int64_t outer, int64_t ca, int64_t cb, int64_t inner, const fr_tensor *a,
                         const fr_tensor *b, fr_tensor *y)
{
  int64_t ra = ca * inner, rb = cb * inner, n = outer * (ra + rb); // bytes
  if (n == 0) return FR_OK;
  if (ra % 4 == 0 && rb % 4 == 0) {
    void (*concat_words)(int64_t, int64_t, int64_t, const uint32_t *, const uint32_t *, uint32_t *) =
        concat_kernel<uint32_t>;
    FR_LAUNCH(concat_words, grid_for(n / 4, BLOCK), BLOCK, 0, cuda_of(be)->stream)
    (n / 4, ra / 4, rb / 4, (const uint32_t *)a->data, (const uint32_t *)b->data, (uint32_t *)y->data);
  } else {
    void (*concat_bytes)(int64_t, int64_t, int64_t, const uint8_t *, const uint8_t *, uint8_t *) =
        concat_kernel<uint8_t>;
    FR_LAUNCH(concat_bytes, grid_for(n, BLOCK), BLOCK, 0, cuda_of(be)->stream)
    (n, ra, rb, (const uint8_t *)a->data, (const uint8_t *)b->data, (uint8_t *)y->data);
  }
  CUDA_LAUNCHED();
  return FR_OK;
}

// Element i of y (row-major in y's shape) comes from x at sum_k idx_k * step_k (x's strides, permuted).
typedef struct perm_map {
  int64_t yshape[FR_MAX_DIMS], step[FR_MAX_DIMS];
  int ndim;
} perm_map;

template <typename E> __global__ void permute_kernel(int64_t n, perm_map p, const E *x, E *y)
{
  GRID_STRIDE(i, n)
  {
    int64_t rest = i, src = 0;
    for (int k = p.ndim - 1; k >= 0; k--) {
      src += rest % p.yshape[k] * p.step[k];
      rest /= p.yshape[k];
    }
    y[i] = x[src];
  }
}

fr_status fr_cuda_permute(fr_backend *be, const fr_tensor *x, const int *perm, fr_tensor *y)
{
  int64_t n = fr_tensor_numel(y);
  size_t es = fr_dtype_size(x->dtype);
  if (n == 0) return FR_OK;
  perm_map p;
  memset(&p, 0, sizeof p);
  p.ndim = x->ndim > 0 ? x->ndim : 1;
  int64_t stride[FR_MAX_DIMS];
  stride[p.ndim - 1] = 1;
  for (int k = p.ndim - 2; k >= 0; k--) stride[k] = stride[k + 1] * x->shape[k + 1];
  for (int k = 0; k < p.ndim; k++) {
    p.yshape[k] = x->ndim > 0 ? y->shape[k] : 1;
    p.step[k] = x->ndim > 0 ? stride[perm[k]] : 0;
  }
  cudaStream_t s = cuda_of(be)->stream;
  unsigned grid = grid_for(n, BLOCK);
  if (es == 1) {
    void (*permute_u8)(int64_t, perm_map, const uint8_t *, uint8_t *) = permute_kernel<uint8_t>;
    FR_LAUNCH(permute_u8, grid, BLOCK, 0, s)(n, p, (const uint8_t *)x->data, (uint8_t *)y->data);
  } else if (es == 2) {
    void (*permute_u16)(int64_t, perm_map, const uint16_t *, uint16_t *) = permute_kernel<uint16_t>;
    FR_LAUNCH(permute_u16, grid, BLOCK, 0, s)(n, p, (const uint16_t *)x->data, (uint16_t *)y->data);
  } else if (es == 4) {
    void (*permute_u32)(int64_t, perm_map, const uint32_t *, uint32_t *) = permute_kernel<uint32_t>;
    FR_LAUNCH(permute_u32, grid, BLOCK, 0, s)(n, p, (const uint32_t *)x->data, (uint32_t *)y->data);
  } else {
    void (*permute_u64)(int64_t, perm_map, const uint64_t *, uint64_t *) = permute_kernel<uint64_t>;
    FR_LAUNCH(permute_u64, grid, BLOCK, 0, s)(n, p, (const uint64_t *)x->data, (uint64_t *)y->data);
  }
  CUDA_LAUNCHED();
  return FR_OK;
}

__global__ void embedding_kernel(int64_t n, int64_t dim, const int32_t *ids, fr_dtype dt, const void *table, float *y)
{
  GRID_STRIDE(i, n) { y[i] = load_weight(dt, table, (int64_t)ids[i / dim] * dim + i % dim); }
}

fr_status fr_cuda_embedding(fr_backend *be, const fr_tensor *ids, const fr_tensor *table, fr_tensor *y)
{
  int64_t rows = ids->shape[0], n = rows * table->shape[1];
  if (n == 0) return FR_OK;
  void *dev_ids;
  FR_TRY(fr_cuda_stage(be, ids->data, (size_t)rows * sizeof(int32_t), &dev_ids)); // the ids are host memory
  FR_LAUNCH(embedding_kernel, grid_for(n, BLOCK), BLOCK, 0, cuda_of(be)->stream)
  (n, table->shape[1], (const int32_t *)dev_ids, table->dtype, table->data, (float *)y->data);
  CUDA_LAUNCHED();
  return FR_OK;
}

__global__ void timestep_kernel(int64_t n, int64_t dim, const float *t, int flip, float shift, float max_period,
                                float *y)
{
  GRID_STRIDE(i, n) { y[i] = fr_timestep_value(t[i / dim], (int)(i % dim), (int)(dim / 2), flip, shift, max_period); }
}

fr_status fr_cuda_timestep_embedding(fr_backend *be, const float *t, int n, int flip_sin_to_cos, float shift,
                                     float max_period, fr_tensor *y)
{
  int64_t dim = y->shape[1], total = (int64_t)n * dim;
  void *dev_steps;
  FR_TRY(fr_cuda_stage(be, t, (size_t)n * sizeof(float), &dev_steps)); // the timesteps are host floats
  FR_LAUNCH(timestep_kernel, grid_for(total, BLOCK), BLOCK, 0, cuda_of(be)->stream)
  (total, dim, (const float *)dev_steps, flip_sin_to_cos, shift, max_period, (float *)y->data);
  CUDA_LAUNCHED();
  return FR_OK;
}

// frames[img][p][ch] = pixel byte of x[img][ch][p] (black for ch >= c); v01 the clamped values.
__global__ void frames_kernel(int64_t n, int64_t c, int64_t hw, const float *x, uint8_t *frames, float *v01)
{
  GRID_STRIDE(i, n)
  {
    int64_t ch = i % 3, p = i / 3 % hw, img = i / (3 * hw);
    float v;
    frames[i] = fr_pixel_u8(ch < c ? x[(img * c + ch) * hw + p] : -1.0f, &v);
    if (v01) v01[i] = v;
  }
}

fr_status fr_cuda_frames_u8(fr_backend *be, int64_t n, int64_t c, int64_t hw, const fr_tensor *x, fr_tensor *frames,
                            fr_tensor *v01)
{
  int64_t total = n * hw * 3;
  if (total == 0) return FR_OK;
  FR_LAUNCH(frames_kernel, grid_for(total, BLOCK), BLOCK, 0, cuda_of(be)->stream)
  (total, c, hw, (const float *)x->data, (uint8_t *)frames->data, v01 ? (float *)v01->data : NULL);
  CUDA_LAUNCHED();
  return FR_OK;
}
