/* Minimal test helpers: fail loudly with the first difference, count checks, exit 0 / 1 / 77 (skip). */
#ifndef FRACTAL_TESTS_CHECK_H
#define FRACTAL_TESTS_CHECK_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fractal/status.h"

static int check_failures;
static long check_count;

#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    check_count++;                                                                                                     \
    if (!(cond)) {                                                                                                     \
      check_failures++;                                                                                                \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);                                         \
      fprintf(stderr, __VA_ARGS__);                                                                                    \
      fputc('\n', stderr);                                                                                             \
    }                                                                                                                  \
  } while (0)

/* Asserts an fr_status is FR_OK, printing the library's message otherwise. */
#define CHECK_OK(expr)                                                                                                 \
  do {                                                                                                                 \
    fr_status check_s_ = (expr);                                                                                       \
    CHECK(check_s_ == FR_OK, "%s -> %s: %s", #expr, fr_status_str(check_s_), fr_last_error());                         \
  } while (0)

/* Compares two float arrays bit for bit and reports the first difference. Returns 1 if equal. */
static inline int check_same_bits(const char *what, const float *want, const float *got, long n)
{
  check_count++;
  for (long i = 0; i < n; i++) {
    uint32_t a, b;
    memcpy(&a, &want[i], 4);
    memcpy(&b, &got[i], 4);
    if (a != b) {
      check_failures++;
      fprintf(stderr, "%s: first difference at index %ld: want %.9g (0x%08x), got %.9g (0x%08x)\n", what, i,
              (double)want[i], a, (double)got[i], b);
      return 0;
    }
  }
  return 1;
}

static inline int check_done(const char *name)
{
  if (check_failures) {
    fprintf(stderr, "%s: %d of %ld checks FAILED\n", name, check_failures, check_count);
    return 1;
  }
  printf("%s: all %ld checks passed\n", name, check_count);
  return 0;
}

#define CHECK_SKIP 77 /* ctest SKIP_RETURN_CODE */

#endif
