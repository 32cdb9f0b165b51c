/* The exact integer dot products of the i8x-v1 profile on the CPU (kernels/cpu/i8x.c): a tile of
 * IDOT_MR rows of A against IDOT_NR rows of B, int16 values, each sum exact in int64. Integer sums do not
 * depend on their order, so the vector kernel and the plain loops agree by construction; the tests check
 * it anyway. */
#ifndef FRACTAL_CPU_IDOT_H
#define FRACTAL_CPU_IDOT_H

#include <stdint.h>

#define IDOT_MR 2
#define IDOT_NR 4

/* s[r][c] = sum_{k < K} a[r][k] * b[c][k]. bits: the operands' width (|value| <= 2^bits - 1), which
 * bounds how long a vector kernel may sum in int32 before widening. */
typedef void (*fr_idot_fn)(int64_t k, const int16_t *const a[IDOT_MR], const int16_t *const b[IDOT_NR], int bits,
                           int64_t s[IDOT_MR][IDOT_NR]);
void fr_idot_generic(int64_t k, const int16_t *const a[IDOT_MR], const int16_t *const b[IDOT_NR], int bits,
                     int64_t s[IDOT_MR][IDOT_NR]);
#if defined(__x86_64__) || defined(_M_X64)
void fr_idot_avx2(int64_t k, const int16_t *const a[IDOT_MR], const int16_t *const b[IDOT_NR], int bits,
                  int64_t s[IDOT_MR][IDOT_NR]);
#endif
/* The kernel in use ("avx2" or "generic"); tests may force the generic one. */
fr_idot_fn fr_idot_kernel(void);
void fr_idot_force_generic(int on);

#endif
