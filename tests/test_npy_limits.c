/* .npy limits: shapes whose element count overflows or exceeds the reader's bound, shapes the file's data
 * does not fill, and malformed shapes are refused with clear errors; the writer refuses shapes it cannot
 * size; ordinary arrays (0-d, empty, 2-d) round-trip exactly. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "fractal/npy.h"

static char dir[64];

/* Writes a version 1.0 .npy whose header dictionary is `dict`, followed by `nbytes` bytes of data. */
static const char *craft(const char *name, const char *dict, const void *data, size_t nbytes)
{
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char header[256];
  int len = snprintf(header, sizeof header, "%s\n", dict);
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)len, 0};
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(pre, 1, 10, f) != 10 || fwrite(header, 1, (size_t)len, f) != (size_t)len ||
      (nbytes && fwrite(data, 1, nbytes, f) != nbytes) || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
  return path;
}

/* Reading `dict` followed by nbytes of data must fail with FR_EFORMAT and a message holding `want`. */
static void refuse(const char *what, const char *dict, size_t nbytes, const char *want)
{
  static float data[64];
  int nd = -1;
  int64_t sh[FR_MAX_DIMS];
  float *x = NULL;
  fr_status st = fr_npy_read_f32(craft("bad.npy", dict, data, nbytes), &nd, sh, &x);
  CHECK(st == FR_EFORMAT && strstr(fr_last_error(), want) && !x, "%s: want an error naming \"%s\", got %s (%s)", what,
        want, fr_status_str(st), st ? fr_last_error() : "accepted");
  free(x);
}

static void round_trip(const char *what, int ndim, const int64_t *shape, int64_t n)
{
  float want[8], *got = NULL;
  for (int i = 0; i < 8; i++) want[i] = (float)i * -1.5f;
  char path[128];
  snprintf(path, sizeof path, "%s/ok.npy", dir);
  CHECK_OK(fr_npy_write(path, FR_F32, ndim, shape, want));
  int nd = -1;
  int64_t sh[FR_MAX_DIMS];
  CHECK_OK(fr_npy_read_f32(path, &nd, sh, &got));
  CHECK(nd == ndim && memcmp(sh, shape, (size_t)ndim * sizeof *sh) == 0, "%s: shape read back", what);
  if (got) check_same_bits(what, want, got, (long)n);
  free(got);
}

int main(void)
{
  snprintf(dir, sizeof dir, "/tmp/fractal-npy-XXXXXX");
  if (!mkdtemp(dir)) return 1;

  int64_t s23[2] = {2, 3}, s0[1] = {0}, s8[1] = {8};
  round_trip("a 2x3 array", 2, s23, 6);
  round_trip("an empty array", 1, s0, 0);
  round_trip("a 0-d array", 0, s8, 1);
  round_trip("a vector", 1, s8, 8);

  /* 4 * 4611686018427387912 is 2^64 + 32: wrapped, it is 32 elements, and a 128-byte file "fits" */
  refuse("a shape whose count wraps to 32",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4611686018427387912), }", 128, "shape is too large");
  refuse("a partial product that overflows before a zero",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904, 0), }", 0,
         "shape is too large");
  refuse("INT64_MAX elements", "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807,), }", 0,
         "shape is too large");
  refuse("2^32 + 65536 elements", "{'descr': '<f4', 'fortran_order': False, 'shape': (65537, 65536), }", 0,
         "shape is too large");
  refuse("a dimension past INT64_MAX", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
         0, "bad shape");
  refuse("a negative dimension", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }", 0, "bad shape");
  refuse("a signed dimension", "{'descr': '<f4', 'fortran_order': False, 'shape': (+4,), }", 16, "bad shape");
  refuse("seven dimensions", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1), }", 4,
         "bad shape");
  /* 2^32 floats in a tiny file: refused before 16 GiB are allocated for them */
  refuse("2^32 elements in 16 bytes", "{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536), }", 16,
         "17179869184 bytes needed, 16 left");
  refuse("one value short", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3), }", 32,
         "36 bytes needed, 32 left");
  refuse("one value over", "{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }", 32, "trailing bytes");
  refuse("float64", "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", 32, "descr must be '<f4'");

  char path[128];
  snprintf(path, sizeof path, "%s/w.npy", dir);
  float one = 1.0f;
  int64_t neg[2] = {2, -3}, huge[3] = {(int64_t)1 << 62, (int64_t)1 << 62, 0}, wide[2] = {(int64_t)1 << 61, 4};
  CHECK(fr_npy_write(path, FR_F32, 2, neg, &one) == FR_EINVAL, "a negative dimension is not written");
  CHECK(fr_npy_write(path, FR_F32, 3, huge, &one) == FR_EINVAL,
        "a shape whose partial product overflows is not written");
  CHECK(fr_npy_write(path, FR_F32, 2, wide, &one) == FR_EINVAL, "2^63 elements of 4 bytes are not written");

  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return check_done("test_npy_limits");
}
