// Shared pieces of the CUDA backend: error checks, the backend's private state, launch helpers.
// The same sources build for NVIDIA GPUs with nvcc and, with -DFRACTAL_CUDA=emu, as host C++ for the
// SIMT emulator (emu/emu.h); the two macros below are the only places where the builds differ.
#ifndef FRACTAL_CUDA_COMMON_CUH
#define FRACTAL_CUDA_COMMON_CUH

#ifdef FR_CUDA_EMU
#include "emu/emu.h"
// FR_LAUNCH(kernel, grid, block, smem, stream)(args...) is kernel<<<grid, block, smem, stream>>>(args...).
#define FR_LAUNCH(kernel, grid, block, smem, stream)                                                                   \
  ::fr_emu::make_launcher((kernel), (grid), (block), (smem), (stream), #kernel, __FILE__, __LINE__)
// Dynamic shared memory as a pointer named `name`, at the top of a kernel.
#define FR_DYNAMIC_SHARED(type, name) FR_EMU_DYNAMIC_SHARED(type, name)
#else
#include <cuda_runtime.h>
#define FR_LAUNCH(kernel, grid, block, smem, stream) (kernel)<<<(grid), (block), (smem), (stream)>>>
#define FR_DYNAMIC_SHARED(type, name)                                                                                  \
  extern __shared__ __align__(16) unsigned char fr_dynamic_smem_[];                                                    \
  type *name = reinterpret_cast<type *>(fr_dynamic_smem_)
#endif

#include "../backend_impl.h"
#include "fractal/half.h"

#define CUDA_TRY(expr)                                                                                                 \
  do {                                                                                                                 \
    cudaError_t cuda_try_e_ = (expr);                                                                                  \
    if (cuda_try_e_ != cudaSuccess)                                                                                    \
      return fr_fail(FR_EDEVICE, "%s:%d: %s: %s", __FILE__, __LINE__, #expr, cudaGetErrorString(cuda_try_e_));         \
  } while (0)

// Checks the launch that was just queued (configuration errors surface here, faults at sync).
#define CUDA_LAUNCHED() CUDA_TRY(cudaGetLastError())

struct fr_cuda {
  cudaStream_t stream;
  cudaDeviceProp prop;
  void *stage; // device copy of small host arguments (token ids, timesteps), reused in stream order
  size_t stage_bytes;
  void *work; // scratch of the ops that need it (i8x.cu), grown on demand, reused in stream order
  size_t work_bytes;
};

static inline fr_cuda *cuda_of(fr_backend *be) { return (fr_cuda *)be->impl; }

static inline unsigned grid_for(int64_t n, int block)
{
  int64_t g = (n + block - 1) / block;
  return (unsigned)(g < 65535 * 16 ? (g > 0 ? g : 1) : 65535 * 16);
}

// Full unrolling of a loop with a constant trip count.
#ifdef FR_CUDA_EMU
#define FR_UNROLL _Pragma("GCC unroll 16")
#else
#define FR_UNROLL _Pragma("unroll")
#endif

// COUNT (1, 2 or 4) consecutive values from an address aligned to their size, as one vector load.
template <int COUNT> __device__ __forceinline__ void fr_load_f32s(const float *p, float *out)
{
#ifdef FR_CUDA_EMU
  memcpy(out, p, sizeof(float) * COUNT);
#else
  if (COUNT == 4) {
    float4 v = *reinterpret_cast<const float4 *>(p);
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
  } else if (COUNT == 2) {
    float2 v = *reinterpret_cast<const float2 *>(p);
    out[0] = v.x, out[1] = v.y;
  } else {
    for (int e = 0; e < COUNT; e++) out[e] = p[e];
  }
#endif
}

template <int COUNT> __device__ __forceinline__ void fr_load_u16s(const uint16_t *p, uint16_t *out)
{
#ifdef FR_CUDA_EMU
  memcpy(out, p, sizeof(uint16_t) * COUNT);
#else
  if (COUNT == 4) {
    uint2 v = *reinterpret_cast<const uint2 *>(p);
    out[0] = (uint16_t)v.x, out[1] = (uint16_t)(v.x >> 16), out[2] = (uint16_t)v.y, out[3] = (uint16_t)(v.y >> 16);
  } else if (COUNT == 2) {
    unsigned v = *reinterpret_cast<const unsigned *>(p);
    out[0] = (uint16_t)v, out[1] = (uint16_t)(v >> 16);
  } else {
    for (int e = 0; e < COUNT; e++) out[e] = p[e];
  }
#endif
}

// Exact widening of one stored weight (F32, F16, BF16) on the device.
__device__ __forceinline__ float load_weight(fr_dtype dt, const void *p, int64_t i)
{
  if (dt == FR_F32) return ((const float *)p)[i];
  uint16_t h = ((const uint16_t *)p)[i];
  return dt == FR_F16 ? fr_f16_to_f32(h) : fr_bf16_to_f32(h);
}

// Copies a few host bytes (token ids, timesteps) to a device buffer that stays valid for the kernels
// queued next on the backend's stream.
fr_status fr_cuda_stage(fr_backend *be, const void *host, size_t bytes, void **dev);
// Device scratch of at least `bytes` for the kernels queued next on the backend's stream (its contents
// are undefined; the next call may reuse it, which stream order makes safe).
fr_status fr_cuda_workspace(fr_backend *be, size_t bytes, void **dev);

// Op entry points of the CUDA backend, one file per family.
fr_status fr_cuda_activate(fr_backend *be, fr_act act, const fr_tensor *x, fr_tensor *y);
fr_status fr_cuda_geglu(fr_backend *be, int64_t rows, int64_t n, const fr_tensor *h, fr_tensor *y);
fr_status fr_cuda_add(fr_backend *be, int64_t b_div, int64_t b_mod, const fr_tensor *a, const fr_tensor *b,
                      fr_tensor *y);
fr_status fr_cuda_scale(fr_backend *be, const fr_tensor *x, float s, fr_tensor *y);
fr_status fr_cuda_guidance(fr_backend *be, const fr_tensor *uncond, const fr_tensor *cond, float s, fr_tensor *y);
fr_status fr_cuda_sched(fr_backend *be, int which, const fr_tensor *a, const fr_tensor *b, const fr_tensor *c,
                        const fr_sched_coeffs *k, fr_tensor *y);
fr_status fr_cuda_fill_normal(fr_backend *be, uint64_t seed, uint64_t stream, fr_tensor *y);
fr_status fr_cuda_group_norm(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                             const fr_tensor *beta, float eps, fr_act act, fr_tensor *y);
fr_status fr_cuda_group_norm_partials(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *mean,
                                      fr_tensor *out);
fr_status fr_cuda_group_norm_apply(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                                   const fr_tensor *beta, const fr_tensor *mean, const fr_tensor *rstd, fr_act act,
                                   fr_tensor *y);
fr_status fr_cuda_copy_region(fr_backend *be, const fr_tensor *src, int64_t src_off, const int64_t *src_strides,
                              fr_tensor *dst, int64_t dst_off, const int64_t *dst_strides, int ndim,
                              const int64_t *shape);
fr_status fr_cuda_layer_norm(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                             const fr_tensor *beta, float eps, fr_tensor *y);
fr_status fr_cuda_softmax(fr_backend *be, int64_t rows, int64_t cols, const fr_tensor *x, fr_tensor *y);
fr_status fr_cuda_linear(fr_backend *be, const fr_linear_dims *d, const fr_tensor *x, const fr_tensor *w,
                         const fr_tensor *b, fr_act act, const fr_tensor *residual, fr_tensor *y);
fr_status fr_cuda_conv2d(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_tensor *w,
                         const fr_tensor *b, const fr_tensor *residual, fr_tensor *y);
fr_status fr_cuda_conv_frames(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_tensor *w,
                              const fr_tensor *b, const fr_tensor *residual, fr_tensor *y);
fr_status fr_cuda_attention(fr_backend *be, const fr_attn_dims *d, const fr_tensor *q, const fr_tensor *k,
                            const fr_tensor *v, const fr_attn_params *p, fr_tensor *y);
fr_status fr_cuda_upsample_nearest(fr_backend *be, const fr_tensor *x, fr_tensor *y);
fr_status fr_cuda_concat(fr_backend *be, int64_t outer, int64_t ca, int64_t cb, int64_t inner, const fr_tensor *a,
                         const fr_tensor *b, fr_tensor *y);
fr_status fr_cuda_permute(fr_backend *be, const fr_tensor *x, const int *perm, fr_tensor *y);
fr_status fr_cuda_embedding(fr_backend *be, const fr_tensor *ids, const fr_tensor *table, fr_tensor *y);
fr_status fr_cuda_timestep_embedding(fr_backend *be, const float *t, int n, int flip_sin_to_cos, float shift,
                                     float max_period, fr_tensor *y);
fr_status fr_cuda_linear_i8x(fr_backend *be, const fr_linear_dims *d, const fr_tensor *x, const fr_qweight *w,
                             const fr_tensor *b, fr_act act, const fr_tensor *residual, fr_tensor *y);
fr_status fr_cuda_conv2d_i8x(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_qweight *w,
                             const fr_tensor *b, const fr_tensor *residual, fr_tensor *y);
fr_status fr_cuda_conv_frames_i8x(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_qweight *w,
                                  const fr_tensor *b, const fr_tensor *residual, fr_tensor *y);
fr_status fr_cuda_attention_i8x(fr_backend *be, const fr_attn_dims *d, const fr_tensor *q, const fr_tensor *k,
                                const fr_tensor *v, const fr_attn_params *p, int bits, fr_tensor *y);
fr_status fr_cuda_frames_u8(fr_backend *be, int64_t n, int64_t c, int64_t hw, const fr_tensor *x, fr_tensor *frames,
                            fr_tensor *v01);

#endif
