/* The CPU reference's matrix-product engine, shared by linear, conv2d and the frame-axis conv.
 *
 * Canonical order (the definition every backend reproduces): each output C[i][j] has ONE fp32
 * accumulator that starts at +0.0f and takes acc = fmaf(A[i][k], B[k][j], acc) for k = 0, 1, ..., K-1
 * in ascending order, every term included (zero padding enters as +0.0f operands). The epilogue then
 * rounds, in this order: v = acc + bias; v = act(v); v = v + residual.
 *
 * Blocking over k keeps the accumulator in C between blocks (an exact fp32 store and reload), and
 * threads split C into tiles, so neither changes a bit. Operands arrive through packers so that the
 * same engine reads fp16/bf16 weights, implicit im2col columns and frame-shifted views.
 *
 * Each operand is packed once: A (the same for every batch item: the weights of a convolution, the x of
 * a linear) whole, before the tiles run, into a buffer all threads read, unless the micro-kernels read it
 * in place (a_rows); B by each task for its columns, once per block of k, then reused across every row
 * of A the task covers (a 3x3 convolution's B as row buffers where the kernels read those, pack_b3). k is
 * split into even blocks of at most KC (K = 320 is one block), and a task's columns into tiles whose
 * packed B (kc x nc) fits B_FLOATS. A whole 6 x 16 micro-tile accumulates in C itself (the kernel loads
 * it, or starts from +0.0f in registers for the first block, and stores it); an edge tile goes through a
 * small buffer. docs/architecture.md ("The CPU GEMM") walks through it. */
#ifndef FRACTAL_CPU_GEMM_H
#define FRACTAL_CPU_GEMM_H

#include <stdint.h>

#include "fractal/backend.h"
#include "pool.h"

#define FR_GEMM_MR 6   /* rows of C per micro-tile */
#define FR_GEMM_NR 16  /* columns of C per micro-tile */
#define FR_GEMM_KC 512 /* the most k per block (blocks are split evenly: K = 320 is one block, 1280 three) */
#define FR_GEMM_NC 384 /* the most columns per tile, a multiple of 2 NR */
#define FR_GEMM_B_FLOATS (256 * 384) /* a task's packed B block (kc x nc) stays within half the L2 */

typedef struct fr_gemm fr_gemm;

/* Fill dst[k][r] (k < kc, r < MR) with A[i0 + r][k0 + k], zero for rows >= M (batch is always 0: A
 * does not depend on the batch item). */
typedef void (*fr_pack_a_fn)(const fr_gemm *g, int64_t batch, int64_t i0, int64_t k0, int64_t kc, float *dst);
/* Fill dst[k][c] (k < kc, c < NR) with B[k0 + k][j0 + c], zero for columns >= N. */
typedef void (*fr_pack_b_fn)(const fr_gemm *g, int64_t batch, int64_t j0, int64_t k0, int64_t kc, float *dst);

struct fr_gemm {
  int64_t m, n, k, batch;
  fr_pack_a_fn pack_a;
  fr_pack_b_fn pack_b;
  /* Nullable: B of a 3x3 convolution of stride 1 as row buffers, used where the micro-kernel set has
   * conv3 kernels: dst holds, for each input channel of the k block (k0 and kc multiples of 9), the 3
   * input rows of the panel's 16 columns, 18 elements each (+0.0f outside the image), tap (ky, kx) of
   * column j at ky * 18 + kx + j. A panel is kc * MR floats. */
  fr_pack_b_fn pack_b3;
  /* Nullable: A is this row-major fp32 matrix (leading dimension lda), read in place where the set has
   * ar kernels (whole row panels; a panel past row M is packed by pack_a). */
  const float *a_rows;
  int64_t lda;
  const void *ctx; /* for the packers */
  float *c;        /* C of batch b at c + b * c_batch_stride, row-major with leading dimension ldc */
  int64_t ldc, c_batch_stride;
  const void *bias; /* nullable; F32/F16/BF16 */
  fr_dtype bias_dtype;
  int bias_per_row; /* 1: bias[i] (conv: per output channel), 0: bias[j] (linear: per output feature) */
  fr_act act;
  const float *residual; /* nullable; same layout as C */
};

/* Packs rows [row0, row0 + width) x [k0, k0 + kc) of a row-major [rows][ld] matrix of dtype into
 * dst[k][width], transposed and widened to float; rows >= rows_valid are zero. width: MR or NR. */
void fr_pack_rows(const void *src, fr_dtype dtype, int64_t ld, int64_t rows_valid, int64_t row0, int64_t k0, int64_t kc,
                  int width, float *dst);

/* Scratch bytes each thread needs for fr_gemm_run. */
size_t fr_gemm_scratch_bytes(void);
/* Runs the product on the pool. Each thread's scratch must hold fr_gemm_scratch_bytes(); A is packed
 * into the pool's shared buffer (FR_ENOMEM if it cannot grow). */
fr_status fr_gemm_run(fr_pool *pool, const fr_gemm *g);

/* Micro-kernel: for the MR x NR tile c[r * ldc + j], t = c (accumulate) or +0.0f, then
 * t = fmaf(a[k*MR + r], b[k*NR + j], t) for k = 0..kc-1, stored back to c.
 * Variants for instruction sets compute identical bits. */
typedef void (*fr_ukernel_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate);
void fr_ukernel_generic(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate);
#if defined(__x86_64__) || defined(_M_X64)
void fr_ukernel_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate);
void fr_ukernel_avx2_conv3(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate);
/* One tile, two tiles side by side, two row panels by two tiles (the fr_ukernels convention below). */
void fr_ukernel_avx512(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate);
void fr_ukernel_avx512_x2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate);
void fr_ukernel_avx512_2x2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate);
/* The same three shapes on 3x3 row-buffer B panels (fr_gemm.pack_b3). */
void fr_ukernel_avx512_conv3(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate);
void fr_ukernel_avx512_conv3_x2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate);
void fr_ukernel_avx512_conv3_2x2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate);
#endif
/* A micro-kernel reading A in place: row r of the tile at a + r * lda (fp32, k ascending along the row). */
typedef void (*fr_ukernel_ar_fn)(int64_t kc, const float *a, int64_t lda, const float *b, float *c, int64_t ldc,
                                 int accumulate);
#if defined(__x86_64__) || defined(_M_X64)
void fr_ukernel_avx2_ar(int64_t kc, const float *a, int64_t lda, const float *b, float *c, int64_t ldc, int accumulate);
void fr_ukernel_avx512_ar(int64_t kc, const float *a, int64_t lda, const float *b, float *c, int64_t ldc,
                          int accumulate);
void fr_ukernel_avx512_ar_x2(int64_t kc, const float *a, int64_t lda, const float *b, float *c, int64_t ldc,
                             int accumulate);
void fr_ukernel_avx512_ar_2x2(int64_t kc, const float *a, int64_t lda, const float *b, float *c, int64_t ldc,
                              int accumulate);
#endif

/* One instruction set's micro-kernels. `two` (NULL where the set has none) computes two whole tiles side
 * by side, each as `one` would: tile p reads its B panel at b + p * kc * NR and its C at c + p * NR.
 * `tall` (NULL where none) computes two row panels by two tiles: the second row panel's A at a + kc * MR,
 * its C rows MR later (c + MR * ldc). */
typedef struct fr_ukernels {
  const char *isa; /* "generic", "avx2+fma", "avx512f" */
  fr_ukernel_fn one, two, tall;
  /* one, two and tall on 3x3 row-buffer B panels (fr_gemm.pack_b3); NULL where the set has none, and
   * then a 3x3 convolution packs im2col panels */
  fr_ukernel_fn conv3_one, conv3_two, conv3_tall;
  /* one, two and tall reading A in place (fr_gemm.a_rows); NULL where none, and then A is packed */
  fr_ukernel_ar_fn ar_one, ar_two, ar_tall;
} fr_ukernels;

/* The widest set this CPU runs (or the one a test forced). */
const fr_ukernels *fr_gemm_ukernels(void);
const char *fr_gemm_isa(void);
/* How many whole tiles (2 or 1) the next call covers when `left` (>= 1) whole tiles remain in a row. */
int fr_ukernel_span(const fr_ukernels *u, int64_t left);
/* `tiles` whole tiles side by side (B panels kc * NR apart, C tiles NR apart), the widest kernels first. */
void fr_ukernel_row(const fr_ukernels *u, int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                    int64_t tiles, int accumulate);

#endif
