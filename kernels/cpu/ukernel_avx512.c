/* AVX-512F GEMM micro-kernels: one or two 6 x 16 tiles side by side (6 x 16, 6 x 32), and two row panels
 * by two tiles (12 x 32), each row of a tile one zmm accumulator. Tile p reads its B panel at
 * b + p * kc * NR (the driver packs the panels of a column block one after the other) and writes C at
 * c + p * NR; the second row panel reads A at a + kc * MR and writes C rows 6-11. vfmadd231ps is a
 * correctly rounded fused multiply-add per lane, so every output is the same ascending fmaf chain as in
 * fr_ukernel_generic: the same bits. The 12 x 32 call does 24 FMAs per k step for 2 B loads (the
 * operand streamed from L2) and 12 broadcasts from the two A panels (in L1); alone, on the model's k
 * blocks, it ran 12-15% faster than four tiles of one row panel (6 x 64: 4 B loads; in the convolutions
 * the two were within noise). One tile alone has 6 chains for the 8 that 2 FMA units of latency 4 need
 * to stay busy.
 * The accumulators are named variables (macros below), not an array: GCC would keep an array of vectors
 * on the stack. Compiled with -mavx512f (kernels/CMakeLists.txt), used only when the CPU has it. */
#include <immintrin.h>

#include "gemm.h"

#if FR_GEMM_MR != 6 || FR_GEMM_NR != 16
#error "the AVX-512 micro-kernels are written for 6 x 16 tiles"
#endif

/* X(r, p) for every row r of tiles 0 .. P-1 */
#define TILES1(X, r) X(r, 0)
#define TILES2(X, r) X(r, 0) X(r, 1)
#define ROWS(TILES, X) TILES(X, 0) TILES(X, 1) TILES(X, 2) TILES(X, 3) TILES(X, 4) TILES(X, 5)

#define ZERO(r, p) __m512 c##r##p = _mm512_setzero_ps();
#define LOAD(r, p) c##r##p = _mm512_loadu_ps(c + (r)*ldc + (p)*FR_GEMM_NR);
#define STORE(r, p) _mm512_storeu_ps(c + (r)*ldc + (p)*FR_GEMM_NR, c##r##p);
#define LOAD_B(r, p) __m512 b##p = _mm512_loadu_ps(b + (p)*kc * FR_GEMM_NR + k * FR_GEMM_NR);
#define FMA(r, p) c##r##p = _mm512_fmadd_ps(ar, b##p, c##r##p);
#define STEP_ROW(TILES, r)                                                                                             \
  {                                                                                                                    \
    __m512 ar = _mm512_set1_ps(ak[r]);                                                                                 \
    TILES(FMA, r)                                                                                                      \
  }

/* the six rows of one A panel (ak), and twelve: two panels (ak, ak1) */
#define STEPS6(TILES)                                                                                                  \
  STEP_ROW(TILES, 0) STEP_ROW(TILES, 1) STEP_ROW(TILES, 2) STEP_ROW(TILES, 3) STEP_ROW(TILES, 4) STEP_ROW(TILES, 5)
#define STEP_ROW2(TILES, r, i)                                                                                         \
  {                                                                                                                    \
    __m512 ar = _mm512_set1_ps(ak1[i]);                                                                                \
    TILES(FMA, r)                                                                                                      \
  }
#define STEPS12(TILES)                                                                                                 \
  STEPS6(TILES)                                                                                                        \
  STEP_ROW2(TILES, 6, 0)                                                                                               \
  STEP_ROW2(TILES, 7, 1) STEP_ROW2(TILES, 8, 2) STEP_ROW2(TILES, 9, 3) STEP_ROW2(TILES, 10, 4) STEP_ROW2(TILES, 11, 5)
#define ROWS12(TILES, X) ROWS(TILES, X) TILES(X, 6) TILES(X, 7) TILES(X, 8) TILES(X, 9) TILES(X, 10) TILES(X, 11)

#define DEFINE_KERNEL(name, TILES)                                                                                     \
  void name(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate)                         \
  {                                                                                                                    \
    ROWS(TILES, ZERO)                                                                                                  \
    if (accumulate) { ROWS(TILES, LOAD) }                                                                              \
    for (int64_t k = 0; k < kc; k++) {                                                                                 \
      const float *ak = a + k * FR_GEMM_MR;                                                                            \
      TILES(LOAD_B, 0)                                                                                                 \
      STEPS6(TILES)                                                                                                    \
    }                                                                                                                  \
    ROWS(TILES, STORE)                                                                                                 \
  }

DEFINE_KERNEL(fr_ukernel_avx512, TILES1)
DEFINE_KERNEL(fr_ukernel_avx512_x2, TILES2)

/* Two row panels (A panels at a and a + kc * MR, C rows 0-5 and 6-11) by two tiles: 12 x 32. */
void fr_ukernel_avx512_2x2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate)
{
  ROWS12(TILES2, ZERO)
  if (accumulate) { ROWS12(TILES2, LOAD) }
  const float *a1 = a + kc * FR_GEMM_MR;
  for (int64_t k = 0; k < kc; k++) {
    const float *ak = a + k * FR_GEMM_MR, *ak1 = a1 + k * FR_GEMM_MR;
    TILES2(LOAD_B, 0)
    STEPS12(TILES2)
  }
  ROWS12(TILES2, STORE)
}

/* The same tiles for a 3x3 convolution of stride 1 whose B panels are row buffers (conv2d's packer, gemm.h
 * fr_gemm.pack_b3): per input channel 3 rows of 18 elements, tap (ky, kx) of the channel's 16 columns
 * the 16 elements from ky * 18 + kx; a panel of kc / 9 channels holds kc * MR floats, as an A panel does
 * (9 taps x 6 rows a channel). k = channel * 9 + tap ascends as before: the same bits as the other
 * kernels on im2col panels, with a third of the packing and of the B footprint. kc is a multiple of 9. */
#define LOAD_B3(r, p) __m512 b##p = _mm512_loadu_ps(bc + (p)*ps + (t) / 3 * 18 + (t) % 3);
#define TAP(TILES, STEPS, tap)                                                                                         \
  {                                                                                                                    \
    enum { t = (tap) };                                                                                                \
    const float *ak = ac + t * FR_GEMM_MR, *ak1 = ac1 + t * FR_GEMM_MR;                                                \
    (void)ak1;                                                                                                         \
    TILES(LOAD_B3, 0)                                                                                                  \
    STEPS(TILES)                                                                                                       \
  }
#define TAPS(TILES, STEPS)                                                                                             \
  TAP(TILES, STEPS, 0)                                                                                                 \
  TAP(TILES, STEPS, 1)                                                                                                 \
  TAP(TILES, STEPS, 2)                                                                                                 \
  TAP(TILES, STEPS, 3)                                                                                                 \
  TAP(TILES, STEPS, 4)                                                                                                 \
  TAP(TILES, STEPS, 5)                                                                                                 \
  TAP(TILES, STEPS, 6)                                                                                                 \
  TAP(TILES, STEPS, 7)                                                                                                 \
  TAP(TILES, STEPS, 8)
#define DEFINE_CONV3(name, TILES, ROWSX, STEPS, PANELS)                                                                \
  void name(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int accumulate)                         \
  {                                                                                                                    \
    ROWSX(TILES, ZERO)                                                                                                 \
    if (accumulate) { ROWSX(TILES, LOAD) }                                                                             \
    const int64_t ps = kc * FR_GEMM_MR, channels = kc / 9, a1 = (PANELS)-1; /* a1: the second A panel's offset */      \
    (void)ps;                                                                                                          \
    for (int64_t ch = 0; ch < channels; ch++) {                                                                        \
      const float *bc = b + ch * 54, *ac = a + ch * 54, *ac1 = ac + a1 * kc * FR_GEMM_MR;                              \
      TAPS(TILES, STEPS)                                                                                               \
    }                                                                                                                  \
    ROWSX(TILES, STORE)                                                                                                \
  }

DEFINE_CONV3(fr_ukernel_avx512_conv3, TILES1, ROWS, STEPS6, 1)
DEFINE_CONV3(fr_ukernel_avx512_conv3_x2, TILES2, ROWS, STEPS6, 1)
DEFINE_CONV3(fr_ukernel_avx512_conv3_2x2, TILES2, ROWS12, STEPS12, 2)

/* The same three shapes with A read in place from a row-major fp32 matrix (row r of the tile at
 * a + r * lda, k ascending along it): a linear's x needs no packing. Rows come in threes from one base
 * pointer each (p0[0], p0[lda], p0[2 * lda]), which x86 addresses directly. */
#define STEP_AR(TILES, r, base, m)                                                                                     \
  {                                                                                                                    \
    __m512 ar = _mm512_set1_ps((base)[(m)*lda]);                                                                       \
    TILES(FMA, r)                                                                                                      \
  }
#define STEPS_AR6(TILES)                                                                                               \
  STEP_AR(TILES, 0, p0, 0)                                                                                             \
  STEP_AR(TILES, 1, p0, 1)                                                                                             \
  STEP_AR(TILES, 2, p0, 2) STEP_AR(TILES, 3, p3, 0) STEP_AR(TILES, 4, p3, 1) STEP_AR(TILES, 5, p3, 2)
#define STEPS_AR12(TILES)                                                                                              \
  STEPS_AR6(TILES)                                                                                                     \
  STEP_AR(TILES, 6, p6, 0)                                                                                             \
  STEP_AR(TILES, 7, p6, 1)                                                                                             \
  STEP_AR(TILES, 8, p6, 2) STEP_AR(TILES, 9, p9, 0) STEP_AR(TILES, 10, p9, 1) STEP_AR(TILES, 11, p9, 2)
#define DEFINE_AR(name, TILES, ROWSX, STEPS, PANELS)                                                                   \
  void name(int64_t kc, const float *a, int64_t lda, const float *b, float *c, int64_t ldc, int accumulate)            \
  {                                                                                                                    \
    ROWSX(TILES, ZERO)                                                                                                 \
    if (accumulate) { ROWSX(TILES, LOAD) }                                                                             \
    const float *p0 = a, *p3 = a + 3 * lda, *p6 = (PANELS) > 1 ? a + 6 * lda : a,                                      \
                *p9 = (PANELS) > 1 ? a + 9 * lda : a;                                                                  \
    (void)p6, (void)p9;                                                                                                \
    for (int64_t k = 0; k < kc; k++, p0++, p3++, p6++, p9++) {                                                         \
      TILES(LOAD_B, 0)                                                                                                 \
      STEPS(TILES)                                                                                                     \
    }                                                                                                                  \
    ROWSX(TILES, STORE)                                                                                                \
  }

DEFINE_AR(fr_ukernel_avx512_ar, TILES1, ROWS, STEPS_AR6, 1)
DEFINE_AR(fr_ukernel_avx512_ar_x2, TILES2, ROWS, STEPS_AR6, 1)
DEFINE_AR(fr_ukernel_avx512_ar_2x2, TILES2, ROWS12, STEPS_AR12, 2)
