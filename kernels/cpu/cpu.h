/* The CPU reference backend's op implementations (wired into the op table in cpu_backend.c), and
 * the canonical reductions they share. */
#ifndef FRACTAL_CPU_H
#define FRACTAL_CPU_H

#include "../backend_impl.h"
#include "pool.h"

/* The CPU backend's worker pool, its private state (be->impl). */
static inline fr_pool *cpu_pool(const fr_backend *be) { return (fr_pool *)be->impl; }

/* Hot loops are compiled three times on x86-64: for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA, where
 * fmaf is one instruction and vectorises) and for the baseline (where fmaf is glibc's correctly rounded
 * function); the loader picks one per CPU. fmaf is exact in all, and every operation is rounded per
 * element whatever the vector width, so the bits are the same. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && !defined(__SANITIZE_THREAD__)
/* (ThreadSanitizer builds go without: their ifunc resolvers would run before TSan is set up) */
#define FR_CPU_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FR_CPU_HOT
#endif

/* Canonical sum of n floats (norm statistics, softmax denominators): 1024 partial sums, partial t
 * adding x[t], x[t + 1024], x[t + 2048], ... in ascending order, each starting at +0.0f; then a
 * halving tree, p[t] = p[t] + p[t + s] for s = 512, 256, ..., 1; the result is p[0]. When n < 1024
 * the unused partials are +0.0f and adding them changes nothing, so a tree of width next_pow2(n)
 * gives the same bits (that is how it is computed). */
#define FR_SUM_LANES 1024
float fr_canonical_sum(const float *x, int64_t n);
/* The same order over the terms (x[i] - mean) * (x[i] - mean), each rounded once. */
float fr_canonical_sqdev(const float *x, int64_t n, float mean);

fr_status fr_cpu_linear(fr_backend *be, const fr_linear_dims *d, const fr_tensor *x, const fr_tensor *w,
                        const fr_tensor *b, fr_act act, const fr_tensor *residual, fr_tensor *y);
fr_status fr_cpu_conv2d(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_tensor *w,
                        const fr_tensor *b, const fr_tensor *residual, fr_tensor *y);
fr_status fr_cpu_conv_frames(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_tensor *w,
                             const fr_tensor *b, const fr_tensor *residual, fr_tensor *y);
fr_status fr_cpu_linear_i8x(fr_backend *be, const fr_linear_dims *d, const fr_tensor *x, const fr_qweight *w,
                            const fr_tensor *b, fr_act act, const fr_tensor *residual, fr_tensor *y);
fr_status fr_cpu_conv2d_i8x(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_qweight *w,
                            const fr_tensor *b, const fr_tensor *residual, fr_tensor *y);
fr_status fr_cpu_conv_frames_i8x(fr_backend *be, const fr_conv_dims *d, const fr_tensor *x, const fr_qweight *w,
                                 const fr_tensor *b, const fr_tensor *residual, fr_tensor *y);
fr_status fr_cpu_attention_i8x(fr_backend *be, const fr_attn_dims *d, const fr_tensor *q, const fr_tensor *k,
                               const fr_tensor *v, const fr_attn_params *p, int bits, fr_tensor *y);
fr_status fr_cpu_group_norm(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                            const fr_tensor *beta, float eps, fr_act act, fr_tensor *y);
fr_status fr_cpu_layer_norm(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                            const fr_tensor *beta, float eps, fr_tensor *y);
fr_status fr_cpu_softmax(fr_backend *be, int64_t rows, int64_t cols, const fr_tensor *x, fr_tensor *y);
fr_status fr_cpu_attention(fr_backend *be, const fr_attn_dims *d, const fr_tensor *q, const fr_tensor *k,
                           const fr_tensor *v, const fr_attn_params *p, fr_tensor *y);
fr_status fr_cpu_activate(fr_backend *be, fr_act act, const fr_tensor *x, fr_tensor *y);
fr_status fr_cpu_geglu(fr_backend *be, int64_t rows, int64_t n, const fr_tensor *h, fr_tensor *y);
fr_status fr_cpu_upsample_nearest(fr_backend *be, const fr_tensor *x, fr_tensor *y);
fr_status fr_cpu_concat(fr_backend *be, int64_t outer, int64_t ca, int64_t cb, int64_t inner, const fr_tensor *a,
                        const fr_tensor *b, fr_tensor *y);
fr_status fr_cpu_add(fr_backend *be, int64_t b_div, int64_t b_mod, const fr_tensor *a, const fr_tensor *b,
                     fr_tensor *y);
fr_status fr_cpu_scale(fr_backend *be, const fr_tensor *x, float s, fr_tensor *y);
fr_status fr_cpu_permute(fr_backend *be, const fr_tensor *x, const int *perm, fr_tensor *y);
fr_status fr_cpu_group_norm_partials(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *mean,
                                     fr_tensor *out);
fr_status fr_cpu_group_norm_apply(fr_backend *be, const fr_norm_dims *d, const fr_tensor *x, const fr_tensor *gamma,
                                  const fr_tensor *beta, const fr_tensor *mean, const fr_tensor *rstd, fr_act act,
                                  fr_tensor *y);
fr_status fr_cpu_copy_region(fr_backend *be, const fr_tensor *src, int64_t src_off, const int64_t *src_strides,
                             fr_tensor *dst, int64_t dst_off, const int64_t *dst_strides, int ndim,
                             const int64_t *shape);
fr_status fr_cpu_embedding(fr_backend *be, const fr_tensor *ids, const fr_tensor *table, fr_tensor *y);
fr_status fr_cpu_timestep_embedding(fr_backend *be, const float *t, int n, int flip_sin_to_cos, float shift,
                                    float max_period, fr_tensor *y);
fr_status fr_cpu_frames_u8(fr_backend *be, int64_t n, int64_t c, int64_t hw, const fr_tensor *x, fr_tensor *frames,
                           fr_tensor *v01);
fr_status fr_cpu_fill_normal(fr_backend *be, uint64_t seed, uint64_t stream, fr_tensor *y);
fr_status fr_cpu_sched(fr_backend *be, int which, const fr_tensor *a, const fr_tensor *b, const fr_tensor *c,
                       const fr_sched_coeffs *k, fr_tensor *y);
fr_status fr_cpu_guidance(fr_backend *be, const fr_tensor *uncond, const fr_tensor *cond, float s, fr_tensor *y);

#endif
