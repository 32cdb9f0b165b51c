/* .npy reading and writing (see fractal/npy.h). */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fractal/npy.h"

/* The product of shape[0..ndim) taken left to right, or -1 when a dimension is negative or a partial
 * product exceeds `limit` (so no multiplication can overflow, in here or in a caller that multiplies the
 * dimensions in the same order). */
static int64_t element_count(int ndim, const int64_t *shape, int64_t limit)
{
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0 || (shape[i] > 0 && n > limit / shape[i])) return -1;
    n *= shape[i];
  }
  return n;
}

fr_status fr_npy_write(const char *path, fr_dtype dtype, int ndim, const int64_t *shape, const void *data)
{
  const char *descr = dtype == FR_F32 ? "<f4" : dtype == FR_I32 ? "<i4" : dtype == FR_U8 ? "|u1" : NULL;
  if (!descr || ndim < 0 || ndim > FR_MAX_DIMS) return fr_fail(FR_EINVAL, "%s: unsupported array", path);
  int64_t n = element_count(ndim, shape, INT64_MAX / (int64_t)fr_dtype_size(dtype));
  if (n < 0) return fr_fail(FR_EINVAL, "%s: a negative dimension, or more than 2^63 bytes", path);
  char dims[256] = "";
  size_t used = 0;
  for (int i = 0; i < ndim; i++) /* at most 6 dims of 19 digits and ", ": no truncation */
    used += (size_t)snprintf(dims + used, sizeof dims - used, "%lld,%s", (long long)shape[i], i + 1 < ndim ? " " : "");
  if (ndim > 1) dims[used - 1] = '\0'; /* (a, b) has no trailing comma; (a,) keeps it */
  char header[512];
  int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
  int total = 10 + len + 1, pad = (64 - total % 64) % 64; /* magic + version + u16 length, then header + '\n' */
  memset(header + len, ' ', (size_t)pad);
  header[len + pad] = '\n';
  int hlen = len + pad + 1;
  unsigned char pre[10] = {
      0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
  FILE *f = fopen(path, "wb");
  if (!f) return fr_fail(FR_EIO, "%s: %s", path, strerror(errno));
  size_t bytes = (size_t)n * fr_dtype_size(dtype);
  int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)hlen, f) == (size_t)hlen &&
           (bytes == 0 || fwrite(data, 1, bytes, f) == bytes);
  if (fclose(f) != 0) ok = 0;
  if (!ok) return fr_fail(FR_EIO, "%s: write failed", path);
  return FR_OK;
}

/* Parses "(a, b, c)" (or "(a,)" / "()") into shape: decimal digits only, each at most INT64_MAX. */
static int parse_shape(const char *s, int *ndim, int64_t *shape)
{
  *ndim = 0;
  if (*s++ != '(') return -1;
  for (;;) {
    while (*s == ' ') s++;
    if (*s == ')') return 0;
    if (*s < '0' || *s > '9' || *ndim == FR_MAX_DIMS) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE) return -1;
    shape[(*ndim)++] = v;
    s = end;
    while (*s == ' ') s++;
    if (*s == ',') s++;
    else if (*s != ')') return -1;
  }
}

fr_status fr_npy_read_f32(const char *path, int *ndim, int64_t *shape, float **data)
{
  *data = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return fr_fail(FR_EIO, "%s: %s", path, strerror(errno));
  unsigned char pre[12];
  fr_status st = FR_OK;
  char *header = NULL;
  size_t hlen = 0;
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0)
    st = fr_fail(FR_EFORMAT, "%s: not a .npy file", path);
  else if (pre[6] == 1) hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
  else if (pre[6] == 2 && fread(pre + 10, 1, 2, f) == 2)
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  else st = fr_fail(FR_EFORMAT, "%s: unsupported .npy version %d", path, pre[6]);
  if (st == FR_OK && (hlen == 0 || hlen > 65536)) st = fr_fail(FR_EFORMAT, "%s: bad header length %zu", path, hlen);
  if (st == FR_OK && !(header = (char *)calloc(hlen + 1, 1))) st = fr_fail(FR_ENOMEM, "out of memory");
  if (st == FR_OK && fread(header, 1, hlen, f) != hlen) st = fr_fail(FR_EFORMAT, "%s: truncated header", path);
  if (st == FR_OK && !strstr(header, "'descr': '<f4'"))
    st = fr_fail(FR_EFORMAT, "%s: not float32 little-endian (descr must be '<f4')", path);
  if (st == FR_OK && !strstr(header, "'fortran_order': False"))
    st = fr_fail(FR_EFORMAT, "%s: Fortran-ordered arrays are not supported", path);
  const char *sh = st == FR_OK ? strstr(header, "'shape': ") : NULL;
  if (st == FR_OK && (!sh || parse_shape(sh + 9, ndim, shape) != 0)) st = fr_fail(FR_EFORMAT, "%s: bad shape", path);
  /* The count's bound keeps every product below 2^63, and the file must hold the data before any of it
   * is allocated: a 100-byte file cannot make us reserve 16 GB. */
  int64_t n = st == FR_OK ? element_count(*ndim, shape, FR_NPY_MAX_ELEMENTS) : 0;
  if (st == FR_OK && n < 0)
    st = fr_fail(FR_EFORMAT, "%s: shape is too large (a product of its dimensions exceeds 2^32 elements)", path);
  struct stat sb;
  long at = st == FR_OK ? ftell(f) : -1; /* a pipe has no size: it is read to its end instead */
  int sized = at >= 0 && fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode);
  if (st == FR_OK && sized && (sb.st_size < at || n * (int64_t)sizeof(float) > sb.st_size - at))
    st = fr_fail(FR_EFORMAT, "%s: the data is shorter than its shape says (%lld bytes needed, %lld left)", path,
                 (long long)n * (long long)sizeof(float), (long long)(sb.st_size > at ? sb.st_size - at : 0));
  float *buf = NULL;
  if (st == FR_OK && !(buf = (float *)malloc(sizeof(float) * (size_t)(n ? n : 1))))
    st = fr_fail(FR_ENOMEM, "out of memory");
  if (st == FR_OK && fread(buf, sizeof(float), (size_t)n, f) != (size_t)n)
    st = fr_fail(FR_EFORMAT, "%s: the data is shorter than its shape says", path);
  if (st == FR_OK && fgetc(f) != EOF) st = fr_fail(FR_EFORMAT, "%s: trailing bytes after the data", path);
  fclose(f);
  free(header);
  if (st != FR_OK) {
    free(buf);
    return st;
  }
  *data = buf;
  return FR_OK;
}
