/* .npy reading and writing (see fractal/npy.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fractal/npy.h"

fr_status fr_npy_write(const char *path, fr_dtype dtype, int ndim, const int64_t *shape, const void *data)
{
  const char *descr = dtype == FR_F32 ? "<f4" : dtype == FR_I32 ? "<i4" : dtype == FR_U8 ? "|u1" : NULL;
  if (!descr || ndim < 0 || ndim > FR_MAX_DIMS) return fr_fail(FR_EINVAL, "%s: unsupported array", path);
  char dims[256] = "";
  size_t used = 0;
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    used += (size_t)snprintf(dims + used, sizeof dims - used, "%lld,%s", (long long)shape[i], i + 1 < ndim ? " " : "");
    n *= shape[i];
  }
  if (ndim > 1) dims[used - 1] = '\0'; /* (a, b) has no trailing comma; (a,) keeps it */
  char header[512];
  int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
  int total = 10 + len + 1, pad = (64 - total % 64) % 64; /* magic + version + u16 length, then header + '\n' */
  memset(header + len, ' ', (size_t)pad);
  header[len + pad] = '\n';
  int hlen = len + pad + 1;
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
  FILE *f = fopen(path, "wb");
  if (!f) return fr_fail(FR_EIO, "%s: %s", path, strerror(errno));
  size_t bytes = (size_t)n * fr_dtype_size(dtype);
  int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)hlen, f) == (size_t)hlen &&
           (bytes == 0 || fwrite(data, 1, bytes, f) == bytes);
  if (fclose(f) != 0) ok = 0;
  if (!ok) return fr_fail(FR_EIO, "%s: write failed", path);
  return FR_OK;
}

/* Parses "(a, b, c)" (or "(a,)" / "()") into shape. */
static int parse_shape(const char *s, int *ndim, int64_t *shape)
{
  *ndim = 0;
  if (*s++ != '(') return -1;
  for (;;) {
    while (*s == ' ') s++;
    if (*s == ')') return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0 || *ndim == FR_MAX_DIMS) return -1;
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
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) st = fr_fail(FR_EFORMAT, "%s: not a .npy file", path);
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
  int64_t n = 1;
  for (int i = 0; st == FR_OK && i < *ndim; i++) n *= shape[i];
  if (st == FR_OK && n > (int64_t)1 << 32) st = fr_fail(FR_EFORMAT, "%s: too large", path);
  float *buf = NULL;
  if (st == FR_OK && !(buf = (float *)malloc(sizeof(float) * (size_t)(n ? n : 1)))) st = fr_fail(FR_ENOMEM, "out of memory");
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
