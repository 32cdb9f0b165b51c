/* Backends and ops. A backend (the CPU reference, or a CUDA device) owns memory and runs ops; every
 * op has one public entry point here that checks devices, dtypes and shapes, then dispatches.
 * The numbers an op produces are defined by the CPU reference (kernels/cpu, docs/numerics.md): a
 * backend is correct only if it returns the same bits.
 *
 * Conventions: activations are F32 and contiguous; weights (w, b, gamma, beta, embedding tables) may
 * be F32, F16 or BF16 and are widened exactly; "nullable" arguments may be NULL. */
#ifndef FRACTAL_BACKEND_H
#define FRACTAL_BACKEND_H

#include <stdint.h>

#include "fractal/status.h"
#include "fractal/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_backend fr_backend;

/* spec: "cpu", "cuda" (device 0), "cuda:N", or "auto" (CUDA when a real device is present, else CPU; in
 * the emulated CUDA build "auto" is the CPU and the emulated device is opened only by name).
 * threads: CPU worker threads, 0 = one per online core (also used by the CUDA backend's host work). */
fr_status fr_backend_open(const char *spec, int threads, fr_backend **out);
void fr_backend_close(fr_backend *be);
const char *fr_backend_name(const fr_backend *be); /* e.g. "cpu (2 threads)" */
int fr_backend_device(const fr_backend *be);       /* FR_DEVICE_CPU or the CUDA ordinal */
int fr_backend_threads(const fr_backend *be);
/* A planning twin of `real` (same device and name): every op and transfer checks its arguments as
 * on `real` and returns without doing anything, and it has no memory (fr_tensor_alloc fails; tensors
 * given to it may carry placeholder addresses, never dereferenced). The pipeline runs a job on it first
 * to find the job's memory plan. Closed with fr_backend_close. */
fr_status fr_backend_open_plan(const fr_backend *real, fr_backend **out);
int fr_backend_planning(const fr_backend *be);
/* fractal-bench --peak: GFLOP/s of the CPU's GEMM micro-kernels alone, its packed panels in cache, for k
 * blocks of kc, on `threads` threads at once (each its own row of four tiles, the driver's widest call),
 * over about `seconds`: each thread's best window of 1024 calls (another tenant of a shared machine only
 * slows some windows), summed; and the name of the micro-kernel set in use ("avx512f", "avx2+fma" or
 * "generic"). */
double fr_cpu_microkernel_gflops(int kc, int threads, double seconds);
const char *fr_cpu_microkernel_isa(void);
/* The CPU backend's GEMM micro-kernels for instruction set `isa` ("generic", "avx2+fma", "avx512f")
 * instead of the widest this CPU runs, for every CPU backend of the process (NULL: back to the widest).
 * Returns 0, changing nothing, if the CPU cannot run it. Every set computes the same bits; this is for
 * comparing their speed (fractal-bench --cpu-isa) and for tests. */
int fr_cpu_force_isa(const char *isa);
/* Waits for all queued work on the backend. */
fr_status fr_backend_sync(fr_backend *be);
/* Number of CUDA devices usable by this build (0 when built without CUDA or none present; the emulated
 * build has one emulated device, or FRACTAL_EMU_DEVICES). */
int fr_cuda_device_count(void);
/* 1 in the emulated CUDA build (-DFRACTAL_CUDA=emu: kernels run on the CPU's SIMT emulator). */
int fr_cuda_emulated(void);

/* Memory on the backend's device. */
fr_status fr_tensor_alloc(fr_backend *be, fr_dtype dtype, int ndim, const int64_t *shape, fr_tensor *out);
void fr_tensor_free(fr_backend *be, fr_tensor *t);
fr_status fr_tensor_upload(fr_backend *be, fr_tensor *dst, const void *host);
fr_status fr_tensor_download(fr_backend *be, const fr_tensor *src, void *host);
/* Copies src into dst on the device (same dtype and number of elements; shapes may differ). */
fr_status fr_tensor_copy(fr_backend *be, const fr_tensor *src, fr_tensor *dst);

/* Activations: SiLU x*sigmoid(x), exact GELU, and CLIP's quick GELU x*sigmoid(1.702x) (fractal/act.h). */
typedef enum fr_act { FR_ACT_NONE = 0, FR_ACT_SILU, FR_ACT_GELU, FR_ACT_QUICK_GELU, FR_ACT_COUNT } fr_act;

/* y[..., N] = act(x[..., K] w[N, K]^T + b) + residual.                 b, residual nullable;
 * residual must not overlap y (y holds the partial sums until the epilogue). */
fr_status fr_linear(fr_backend *be, const fr_tensor *x, const fr_tensor *w, const fr_tensor *b, fr_act act,
                    const fr_tensor *residual, fr_tensor *y);

/* y[N, Cout, Ho, Wo] = conv(x[N, Cin, H, W], w[Cout, Cin, kh, kw]) + b + residual, zero padding.
 * Ho = (H + 2 pad - kh) / stride + 1.                                   b, residual nullable */
fr_status fr_conv2d(fr_backend *be, const fr_tensor *x, const fr_tensor *w, const fr_tensor *b, int stride, int pad,
                    const fr_tensor *residual, fr_tensor *y);

/* The frame-axis conv (Conv3d with kernel (3,1,1), padding (1,0,0)) on frame-batched x[B*F, Cin, H, W]:
 * y[b*F+f, co] = b[co] + sum_{ci,k} w[co, ci, k] x[b*F+f+k-1, ci] (zero outside 0..F-1) + residual.
 * w is [Cout, Cin, 3, 1, 1] or [Cout, Cin, 3].                          b, residual nullable */
fr_status fr_conv_frames(fr_backend *be, const fr_tensor *x, const fr_tensor *w, const fr_tensor *b, int frames,
                         const fr_tensor *residual, fr_tensor *y);

/* GroupNorm over x[N, C, ...]: statistics per (group, run of `frames` consecutive samples), so
 * frames = 1 is per-sample (per-frame) GroupNorm and frames = F is the cross-frame 5-D GroupNorm of
 * the temporal layers on frame-batched tensors. act is FR_ACT_NONE or FR_ACT_SILU (applied after). */
fr_status fr_group_norm(fr_backend *be, const fr_tensor *x, const fr_tensor *gamma, const fr_tensor *beta, int groups,
                        int frames, float eps, fr_act act, fr_tensor *y);

/* GroupNorm in pieces, for ranks that hold some frames each and combine statistics across ranks
 * (docs/pipeline.md, "Sharding one job over ranks"): out[n, g] is the canonical sum over sample n's
 * group-g block of x when mean is NULL, else of (x - mean[n, g])^2. x [N, C, ...], mean and out [N, groups]. */
fr_status fr_group_norm_partials(fr_backend *be, const fr_tensor *x, int groups, const fr_tensor *mean, fr_tensor *out);
/* y = GroupNorm of x with given statistics mean[n, g] and rstd[n, g] ([N, groups]), the same element
 * formula as fr_group_norm, then act (none or SiLU). */
fr_status fr_group_norm_apply(fr_backend *be, const fr_tensor *x, const fr_tensor *gamma, const fr_tensor *beta,
                              int groups, const fr_tensor *mean, const fr_tensor *rstd, fr_act act, fr_tensor *y);

/* Copies an ndim-dimensional strided region of 4-byte elements: for every index i < shape,
 * dst[dst_off + sum i_k dst_strides_k] = src[src_off + sum i_k src_strides_k] (strides in elements,
 * non-negative; the regions must lie inside the tensors and src and dst must not overlap). */
fr_status fr_copy_region(fr_backend *be, const fr_tensor *src, int64_t src_off, const int64_t *src_strides,
                         fr_tensor *dst, int64_t dst_off, const int64_t *dst_strides, int ndim, const int64_t *shape);

/* LayerNorm over the last dimension. */
fr_status fr_layer_norm(fr_backend *be, const fr_tensor *x, const fr_tensor *gamma, const fr_tensor *beta, float eps,
                        fr_tensor *y);

typedef struct fr_attn_params {
  int heads;    /* channels split into heads: head h owns [h*d, (h+1)*d) */
  float scale;  /* scores are dot(q, k) * scale */
  int causal;   /* query i sees keys j <= i */
  int kv_group; /* query batch n uses key/value batch n / kv_group (1 = one to one) */
} fr_attn_params;

/* y[Bq, Lq, H*dv] = softmax(q k^T * scale) v per head, q[Bq, Lq, H*dk], k[Bk, Lk, H*dk], v[Bk, Lk, H*dv],
 * Bq = Bk * kv_group. */
fr_status fr_attention(fr_backend *be, const fr_tensor *q, const fr_tensor *k, const fr_tensor *v,
                       const fr_attn_params *p, fr_tensor *y);

/* ---- The GEMM-class ops of the exact-integer profile i8x-v1 (fractal/i8x.h, docs/numerics.md) ----
 * Same shapes, epilogues and checks as the f32-v1 ops above; each dot product is quantized and summed
 * exactly as i8x.h defines. Weights come quantized once, row by row (fr_i8x_quantize_weight). */
typedef struct fr_qweight {
  fr_tensor q; /* I16, the float weight's shape; row r (an output channel) quantized with exponent e[r] */
  fr_tensor e; /* I32 [rows] */
  int bits;    /* B: FR_I8X_BITS in the profile */
} fr_qweight;

/* Host: quantizes the host weight w [rows, ...] (F32/F16/BF16) row by row into q (numel int16) and e
 * (rows int32). */
fr_status fr_i8x_quantize_weight(const fr_tensor *w, int bits, int16_t *q, int32_t *e);
/* The same for a weight on be's device: downloads it and quantizes it on the host; *q and *e are then
 * malloc'd host arrays (numel int16, rows int32) the caller frees, NULL on failure. */
fr_status fr_i8x_quantize_device_weight(fr_backend *be, const fr_tensor *w, int bits, int16_t **q, int32_t **e);

fr_status fr_linear_i8x(fr_backend *be, const fr_tensor *x, const fr_qweight *w, const fr_tensor *b, fr_act act,
                        const fr_tensor *residual, fr_tensor *y);
/* Each output pixel's patch (Cin x kh x kw, padding as +0) is one operand vector with its own exponent. */
fr_status fr_conv2d_i8x(fr_backend *be, const fr_tensor *x, const fr_qweight *w, const fr_tensor *b, int stride,
                        int pad, const fr_tensor *residual, fr_tensor *y);
/* Each output (frame, pixel)'s window (Cin x 3 frames, zero outside the video) is one operand vector. */
fr_status fr_conv_frames_i8x(fr_backend *be, const fr_tensor *x, const fr_qweight *w, const fr_tensor *b, int frames,
                             const fr_tensor *residual, fr_tensor *y);
/* Scores from quantized q and k rows (per head); the softmax as f32-v1; P·V from each row of p over all Lk
 * keys (masked keys as +0) and each column of v over all Lk keys; then o / l. */
fr_status fr_attention_i8x(fr_backend *be, const fr_tensor *q, const fr_tensor *k, const fr_tensor *v,
                           const fr_attn_params *p, int bits, fr_tensor *y);

/* Softmax over the last dimension. */
fr_status fr_softmax(fr_backend *be, const fr_tensor *x, fr_tensor *y);

/* Elementwise y = act(x); y may alias x. */
fr_status fr_activate(fr_backend *be, fr_act act, const fr_tensor *x, fr_tensor *y);

/* GEGLU: h[..., 2N] -> y[..., N] = h[..., :N] * gelu(h[..., N:]). */
fr_status fr_geglu(fr_backend *be, const fr_tensor *h, fr_tensor *y);

/* Nearest upsample x[N, C, H, W] -> y[N, C, Ho, Wo]: src = floor(dst * in / out) (PyTorch's legacy
 * "nearest"; integer arithmetic), so Ho = 2H is the usual x2. */
fr_status fr_upsample_nearest(fr_backend *be, const fr_tensor *x, fr_tensor *y);

/* y = concat(a, b) along dimension dim. */
fr_status fr_concat(fr_backend *be, int dim, const fr_tensor *a, const fr_tensor *b, fr_tensor *y);

/* y = a + b, one rounding per element. b has a's shape, or a suffix of it (repeated over the leading
 * dims: position embeddings), or a prefix of it (broadcast over the trailing dims: per-channel time
 * embeddings). b may be F32/F16/BF16. y may alias a. */
fr_status fr_add(fr_backend *be, const fr_tensor *a, const fr_tensor *b, fr_tensor *y);

/* y = x * s; y may alias x. */
fr_status fr_scale(fr_backend *be, const fr_tensor *x, float s, fr_tensor *y);

/* y = x permuted: y's dim i is x's dim perm[i] (like torch.permute). Any dtype. */
fr_status fr_permute(fr_backend *be, const fr_tensor *x, const int *perm, fr_tensor *y);

/* y[L, D] = table[ids[l]]; ids is a host I32 tensor [L] (checked against V), table [V, D]. */
fr_status fr_embedding(fr_backend *be, const fr_tensor *ids, const fr_tensor *table, fr_tensor *y);

/* Sinusoidal timestep embedding (diffusers Timesteps): half = dim/2,
 * freq_i = exp((-ln(max_period) * i) / (half - shift)), arg = t * freq_i,
 * y[n] = [sin(arg), cos(arg)], or [cos, sin] with flip_sin_to_cos (fractal/elementwise.h). t is n host
 * floats; dim even. Computed on the backend's device. */
fr_status fr_timestep_embedding(fr_backend *be, const float *t, int n, int flip_sin_to_cos, float shift,
                                float max_period, fr_tensor *y);

/* Video bytes from decoded images: x [N, C, H, W] -> frames U8 [N, H, W, 3], channel c of pixel (h, w)
 * = fr_pixel_u8(x[n, c, h, w]) (fractal/elementwise.h: clamp(x/2 + 1/2, 0, 1), x255, ties to even) for
 * c < C, and 0 (black) for c >= C. v01 (nullable, F32 [N, H, W, 3]) receives the clamped values. */
fr_status fr_frames_u8(fr_backend *be, const fr_tensor *x, fr_tensor *frames, fr_tensor *v01);

/* Initial noise: y[i] = fr_philox_normal(seed, stream, i) for every element i of the F32 tensor y. */
fr_status fr_fill_normal(fr_backend *be, uint64_t seed, uint64_t stream, fr_tensor *y);

/* Classifier-free guidance: y = uncond + s * (cond - uncond), three roundings per element. */
fr_status fr_guidance(fr_backend *be, const fr_tensor *uncond, const fr_tensor *cond, float s, fr_tensor *y);

/* Scheduler updates, elementwise, with the coefficients the host computed (diffusion/model/scheduler.c).
 * Each line is one rounding per operation, in this order:
 *   DDIM, epsilon:   x0 = (x - sb*e) / sa, clamped to [-clip, clip] when clip > 0; y = sap*x0 + dir*e
 *   DDIM, v:         x0 = sa*x - sb*e;  e' = sa*e + sb*x;                         y = sap*x0 + dir*e'
 *   DPM x0, epsilon: m = (x - s*e) / a          DPM x0, v: m = a*x - s*e
 *   DPM 1st order:   y = ratio*x - c*m0
 *   DPM 2nd order:   y = (ratio*x - c*m0) - c2*(k*(m0 - m1)) */
typedef struct fr_sched_coeffs {
  float sb, sa, sap, dir, clip; /* DDIM */
  float s, a;                   /* DPM model output -> x0 */
  float ratio, c, k, c2;        /* DPM update */
  int v_prediction;
} fr_sched_coeffs;

fr_status fr_sched_ddim(fr_backend *be, const fr_tensor *x, const fr_tensor *eps, const fr_sched_coeffs *c,
                        fr_tensor *y);
fr_status fr_sched_dpm_x0(fr_backend *be, const fr_tensor *x, const fr_tensor *eps, const fr_sched_coeffs *c,
                          fr_tensor *m);
/* m1 NULL: first order. */
fr_status fr_sched_dpm_update(fr_backend *be, const fr_tensor *x, const fr_tensor *m0, const fr_tensor *m1,
                              const fr_sched_coeffs *c, fr_tensor *y);

#ifdef __cplusplus
}
#endif
#endif
