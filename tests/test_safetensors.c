/* safetensors reader and writer: round trips, exact widening, every malformed header, and a fuzz loop. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, opendir */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fractal/safetensors.h"

static char tmp_dir[1024];

/* A path inside the temporary directory; each of the NBUF most recent results stays valid. */
static const char *tmp_path(const char *name)
{
  enum { NBUF = 4 };
  static char buf[NBUF][1300];
  static int k;
  k = (k + 1) % NBUF;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir, name);
  return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n)
{
  FILE *fp = fopen(path, "wb");
  if (!fp || fwrite(data, 1, n, fp) != n || fclose(fp) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  fseek(fp, 0, SEEK_END);
  *n = (size_t)ftell(fp);
  fseek(fp, 0, SEEK_SET);
  unsigned char *b = malloc(*n + 1);
  if (fread(b, 1, *n, fp) != *n) *n = 0;
  fclose(fp);
  return b;
}

static void put_u64(unsigned char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

#define AUTO_LEN NULL

/* A file of: length prefix (*hlen, or header_len when hlen is AUTO_LEN), header, blob_len pattern bytes. */
static void raw_file(const char *path, const char *header, size_t header_len, const uint64_t *hlen, size_t blob_len)
{
  unsigned char *b = malloc(8 + header_len + blob_len + 1);
  put_u64(b, hlen ? *hlen : header_len);
  memcpy(b + 8, header, header_len);
  for (size_t i = 0; i < blob_len; i++) b[8 + header_len + i] = (unsigned char)(i * 7 + 1);
  write_bytes(path, b, 8 + header_len + blob_len);
  free(b);
}

/* Opens path, expecting failure with status want and a message that starts with the path and contains sub. */
static void expect_open_fails(const char *what, const char *path, fr_status want, const char *sub)
{
  fr_st_file *f = (fr_st_file *)(uintptr_t)1; /* must be reset to NULL */
  fr_status s = fr_st_open(path, &f);
  const char *msg = fr_last_error();
  CHECK(s == want, "%s: status %s, want %s (%s)", what, fr_status_str(s), fr_status_str(want), msg);
  CHECK(f == NULL, "%s: *out not NULL", what);
  CHECK(strncmp(msg, path, strlen(path)) == 0, "%s: message does not start with the path: %s", what, msg);
  CHECK(strstr(msg, sub) != NULL, "%s: message lacks \"%s\": %s", what, sub, msg);
  if (s == FR_OK) fr_st_close(f);
}

/* Writes header (with an exact length prefix) and a blob, and expects FR_EFORMAT with sub in the message. */
static void expect_bad(const char *header, size_t blob_len, const char *sub)
{
  const char *path = tmp_path("bad.safetensors");
  raw_file(path, header, strlen(header), AUTO_LEN, blob_len);
  expect_open_fails(header, path, FR_EFORMAT, sub);
}

static fr_st_file *expect_good(const char *header, size_t blob_len, int count)
{
  const char *path = tmp_path("good.safetensors");
  fr_st_file *f = NULL;
  raw_file(path, header, strlen(header), AUTO_LEN, blob_len);
  CHECK_OK(fr_st_open(path, &f));
  CHECK(f && fr_st_count(f) == count, "%s: count %d, want %d", header, f ? fr_st_count(f) : -1, count);
  return f;
}

/* ---- independent references for widening: ldexp on the bit fields, as the IEEE formats define them ---- */

static float ref_f16(uint16_t h)
{
  int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float v;
  if (exp == 0x1f) {
    uint32_t bits = (uint32_t)sign << 31 | 0x7f800000u | (uint32_t)man << 13; /* inf, or NaN keeping its payload */
    memcpy(&v, &bits, 4);
    return v;
  }
  v = exp == 0 ? (float)ldexp(man, -24) : (float)ldexp(1024 + man, exp - 25);
  return sign ? -v : v;
}

static float ref_bf16(uint16_t b)
{
  int sign = b >> 15, exp = (b >> 7) & 0xff, man = b & 0x7f;
  float v;
  if (exp == 0xff) {
    uint32_t bits = (uint32_t)b << 16;
    memcpy(&v, &bits, 4);
    return v;
  }
  v = exp == 0 ? (float)ldexp(man, -133) : (float)ldexp(128 + man, exp - 134);
  return sign ? -v : v;
}

static float bits_f32(uint32_t u)
{
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* ---- round trip ---- */

typedef struct tcase {
  const char *name;
  fr_dtype dtype;
  int ndim;
  int64_t shape[FR_MAX_DIMS];
  const void *data;
  size_t nbytes;
} tcase;

static void check_entry(const fr_st_file *f, const tcase *t)
{
  const fr_st_entry *e = fr_st_find(f, t->name);
  CHECK(e != NULL, "fr_st_find('%s') is NULL", t->name);
  if (!e) return;
  CHECK(strcmp(e->name, t->name) == 0 && e->dtype == t->dtype && e->ndim == t->ndim, "'%s': name/dtype/ndim", t->name);
  CHECK(memcmp(e->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim) == 0, "'%s': shape differs", t->name);
  CHECK(e->nbytes == t->nbytes, "'%s': nbytes %llu, want %zu", t->name, (unsigned long long)e->nbytes, t->nbytes);
  CHECK(t->nbytes == 0 || memcmp(e->data, t->data, t->nbytes) == 0, "'%s': bytes differ", t->name);
  fr_tensor v = fr_st_tensor(e);
  CHECK(v.dtype == t->dtype && v.ndim == t->ndim && v.data == e->data && v.device == FR_DEVICE_CPU,
        "'%s': fr_st_tensor", t->name);
  CHECK(fr_tensor_nbytes(&v) == t->nbytes, "'%s': fr_tensor_nbytes", t->name);
}

static void test_round_trip(void)
{
  static const float f32[6] = {1.0f, -2.5f, 3.25f, 1e-40f, -0.0f, 65504.0f};
  /* F16: smallest and largest subnormal, -0, 1, max, inf, -inf, NaN with payload, -subnormal */
  static const uint16_t f16[9] = {0x0001, 0x03ff, 0x8000, 0x3c00, 0x7bff, 0x7c00, 0xfc00, 0x7e01, 0x8201};
  static const float f16_want_in[9] = {0x1p-24f, 0x3ffp-24f, -0.0f,       1.0f,       65504.0f,
                                       INFINITY, -INFINITY,  0 /* NaN */, -0x201p-24f};
  /* BF16: 1, subnormal, -inf, NaN with payload, -0, 3.140625 */
  static const uint16_t bf16[6] = {0x3f80, 0x0001, 0xff80, 0x7fc1, 0x8000, 0x4049};
  static const int64_t i64[4] = {INT64_MIN, -1, 0, INT64_MAX};
  static const uint8_t u8[5] = {0, 1, 127, 128, 255};
  static const float scalar = 42.0f;
  /* clang-format off */ /* a table: one entry per line */
  const tcase cases[] = {
    {"weights.f32", FR_F32, 2, {2, 3}, f32, sizeof f32},    {"half", FR_F16, 1, {9}, f16, sizeof f16},
    {"brain.bf16", FR_BF16, 3, {1, 2, 3}, bf16, sizeof bf16}, {"ids", FR_I64, 2, {2, 2}, i64, sizeof i64},
    {"bytes", FR_U8, 1, {5}, u8, sizeof u8},                  {"empty", FR_F32, 2, {0, 3}, NULL, 0},
    {"scalar", FR_F32, 0, {0}, &scalar, 4},
  };
  /* clang-format on */
  const int n = (int)(sizeof cases / sizeof cases[0]);
  const char *path = tmp_path("round.safetensors");
  fr_st_writer *w = fr_st_writer_new();
  CHECK_OK(fr_st_writer_metadata(w, "format", "pt"));
  for (int i = 0; i < n; i++)
    CHECK_OK(fr_st_writer_add(w, cases[i].name, cases[i].dtype, cases[i].ndim, cases[i].shape, cases[i].data));
  CHECK_OK(fr_st_writer_metadata(w, "note",
                                 "\xc3\xbcnic\xc3\xb6"
                                 "de"));
  CHECK_OK(fr_st_writer_save(w, path));
  fr_st_writer_free(w);
  CHECK(access(tmp_path("round.safetensors.tmp"), F_OK) != 0, "temporary file left behind");

  /* The layout: header padded with spaces to 8, "__metadata__" first, tensors in the order added. */
  size_t len = 0;
  unsigned char *raw = read_bytes(path, &len);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
  CHECK((8 + hlen) % 8 == 0 && 8 + hlen + 6 * 4 + 9 * 2 + 6 * 2 + 32 + 5 + 4 == len, "layout: hlen %llu, len %zu",
        (unsigned long long)hlen, len);
  raw[8 + hlen] = '\0';
  const char *hdr = (const char *)raw + 8;
  CHECK(strncmp(hdr, "{\"__metadata__\":{\"format\":\"pt\",\"note\":", 38) == 0, "header starts: %.60s", hdr);
  for (int i = 1; i < n; i++) {
    char a[64], b[64];
    snprintf(a, sizeof a, "\"%s\":", cases[i - 1].name);
    snprintf(b, sizeof b, "\"%s\":", cases[i].name);
    CHECK(strstr(hdr, a) && strstr(hdr, b) && strstr(hdr, a) < strstr(hdr, b), "order of %s, %s", a, b);
  }
  CHECK(strstr(hdr, "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[91,91]}") != NULL, "%s", hdr);
  free(raw);

  fr_st_file *f = NULL;
  CHECK_OK(fr_st_open(path, &f));
  if (!f) return;
  CHECK(fr_st_count(f) == n, "count %d", fr_st_count(f));
  CHECK(strcmp(fr_st_path(f), path) == 0, "path");
  CHECK(fr_st_metadata(f, "format") && strcmp(fr_st_metadata(f, "format"), "pt") == 0, "metadata format");
  CHECK(fr_st_metadata(f, "note") && strcmp(fr_st_metadata(f, "note"), "\xc3\xbcnic\xc3\xb6"
                                                                       "de") == 0,
        "note");
  CHECK(fr_st_metadata(f, "missing") == NULL, "missing metadata key");
  CHECK(fr_st_find(f, "nope") == NULL && fr_st_find(f, "") == NULL && fr_st_find(f, "__metadata__") == NULL, "find");
  for (int i = 0; i < n; i++) check_entry(f, &cases[i]);
  uint64_t next = 0;
  for (int i = 0; i < n; i++) { /* in data-offset order, contiguous, the order they were added */
    const fr_st_entry *e = fr_st_entry_at(f, i);
    CHECK(e->offset == next && strcmp(e->name, cases[i].name) == 0, "entry %d: '%s' at %llu", i, e->name,
          (unsigned long long)e->offset);
    next = e->offset + e->nbytes;
  }
  CHECK(fr_st_entry_at(f, -1) == NULL && fr_st_entry_at(f, n) == NULL, "entry_at out of range");

  float got[9], want[9];
  CHECK_OK(fr_st_read_f32(fr_st_find(f, "weights.f32"), got));
  check_same_bits("F32", f32, got, 6);
  memcpy(want, f16_want_in, sizeof want);
  want[7] = bits_f32(0x7fc02000u); /* quiet NaN, payload 1 shifted into place */
  CHECK_OK(fr_st_read_f32(fr_st_find(f, "half"), got));
  check_same_bits("F16 specials", want, got, 9);
  const float bf_want[6] = {1.0f, bits_f32(0x00010000u), -INFINITY, bits_f32(0x7fc10000u), -0.0f, 3.140625f};
  CHECK_OK(fr_st_read_f32(fr_st_find(f, "brain.bf16"), got));
  check_same_bits("BF16 specials", bf_want, got, 6);
  CHECK_OK(fr_st_read_f32(fr_st_find(f, "empty"), NULL));
  CHECK_OK(fr_st_read_f32(fr_st_find(f, "scalar"), got));
  CHECK(got[0] == 42.0f, "scalar %g", (double)got[0]);
  CHECK(fr_st_read_f32(fr_st_find(f, "ids"), got) == FR_EINVAL && strstr(fr_last_error(), "'ids' is I64"),
        "read_f32 of I64: %s", fr_last_error());
  fr_st_close(f);
}

/* Unaligned data: an F32 tensor at an odd offset still reads exactly. */
static void test_unaligned(void)
{
  const char *h = "{\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                  "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[3,11]}}";
  fr_st_file *f = expect_good(h, 11, 2);
  if (!f) return;
  const fr_st_entry *e = fr_st_find(f, "x");
  unsigned char blob[11];
  float got[2], want[2];
  for (int i = 0; i < 11; i++) blob[i] = (unsigned char)(i * 7 + 1); /* as raw_file fills it */
  memcpy(want, blob + 3, 8);
  CHECK(e->offset == 3, "offset %llu", (unsigned long long)e->offset);
  CHECK_OK(fr_st_read_f32(e, got));
  check_same_bits("unaligned F32", want, got, 2);
  fr_st_close(f);
}

/* All 65536 F16 and BF16 patterns through a file, against the ldexp reference. */
static void test_widen_exhaustive(void)
{
  uint16_t *bits = malloc(65536 * sizeof *bits);
  float *got = malloc(65536 * sizeof *got), *want = malloc(65536 * sizeof *want);
  for (int i = 0; i < 65536; i++) bits[i] = (uint16_t)i;
  const int64_t shape[1] = {65536};
  fr_st_writer *w = fr_st_writer_new();
  CHECK_OK(fr_st_writer_add(w, "f16", FR_F16, 1, shape, bits));
  CHECK_OK(fr_st_writer_add(w, "bf16", FR_BF16, 1, shape, bits));
  CHECK_OK(fr_st_writer_save(w, tmp_path("all.safetensors")));
  fr_st_writer_free(w);
  fr_st_file *f = NULL;
  CHECK_OK(fr_st_open(tmp_path("all.safetensors"), &f));
  if (f) {
    for (int i = 0; i < 65536; i++) want[i] = ref_f16((uint16_t)i);
    CHECK_OK(fr_st_read_f32(fr_st_find(f, "f16"), got));
    check_same_bits("all F16 patterns", want, got, 65536);
    for (int i = 0; i < 65536; i++) want[i] = ref_bf16((uint16_t)i);
    CHECK_OK(fr_st_read_f32(fr_st_find(f, "bf16"), got));
    check_same_bits("all BF16 patterns", want, got, 65536);
    fr_st_close(f);
  }
  /* and directly, without the file */
  fr_widen_f32(FR_F16, bits, got, 65536);
  for (int i = 0; i < 65536; i++) want[i] = ref_f16((uint16_t)i);
  check_same_bits("fr_widen_f32 F16", want, got, 65536);
  free(bits);
  free(got);
  free(want);
}

/* ~1500 tensors, as a real model has: every name is found, in any order. */
static void test_many(void)
{
  enum { N = 1500 };
  fr_st_writer *w = fr_st_writer_new();
  float data[8];
  char name[64];
  for (int i = 0; i < 8; i++) data[i] = (float)i;
  for (int i = 0; i < N; i++) {
    int64_t shape[2] = {1 + i % 2, 1 + i % 4};
    snprintf(name, sizeof name, "model.blocks.%d.weight", (i * 7919) % N);
    CHECK_OK(fr_st_writer_add(w, name, FR_F32, 2, shape, data));
  }
  CHECK_OK(fr_st_writer_save(w, tmp_path("many.safetensors")));
  fr_st_writer_free(w);
  fr_st_file *f = NULL;
  CHECK_OK(fr_st_open(tmp_path("many.safetensors"), &f));
  if (!f) return;
  int found = 0;
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "model.blocks.%d.weight", i);
    const fr_st_entry *e = fr_st_find(f, name);
    found += e && strcmp(e->name, name) == 0;
  }
  CHECK(found == N && fr_st_count(f) == N, "found %d of %d", found, N);
  CHECK(fr_st_find(f, "model.blocks.1500.weight") == NULL && fr_st_find(f, "a") == NULL, "absent names");
  fr_st_close(f);
}

static void test_writer_errors(void)
{
  fr_st_writer *w = fr_st_writer_new();
  const int64_t s2[2] = {2, 2}, neg[1] = {-1}, big[2] = {INT64_MAX, 2}, zero[1] = {0};
  const int64_t s7[7] = {1, 1, 1, 1, 1, 1, 1};
  float d[4] = {0};
  CHECK_OK(fr_st_writer_add(w, "a", FR_F32, 2, s2, d));
  CHECK(fr_st_writer_add(w, "a", FR_F32, 2, s2, d) == FR_EINVAL && strstr(fr_last_error(), "twice"), "dup name");
  CHECK(fr_st_writer_add(w, "b", FR_DTYPE_COUNT, 2, s2, d) == FR_EINVAL, "bad dtype");
  CHECK(fr_st_writer_add(w, "b", (fr_dtype)-1, 2, s2, d) == FR_EINVAL, "negative dtype");
  CHECK(fr_st_writer_add(w, "b", FR_F32, 7, s7, d) == FR_EINVAL && strstr(fr_last_error(), "ndim 7"), "ndim 7");
  CHECK(fr_st_writer_add(w, "b", FR_F32, -1, s2, d) == FR_EINVAL, "ndim -1");
  CHECK(fr_st_writer_add(w, "b", FR_F32, 2, s2, NULL) == FR_EINVAL && strstr(fr_last_error(), "NULL"), "NULL data");
  CHECK(fr_st_writer_add(w, "b", FR_F32, 1, neg, d) == FR_EINVAL, "negative dim");
  CHECK(fr_st_writer_add(w, "b", FR_F32, 2, big, d) == FR_EINVAL, "overflowing size");
  CHECK(fr_st_writer_add(w, "", FR_F32, 2, s2, d) == FR_EINVAL, "empty name");
  CHECK(fr_st_writer_add(w, "__metadata__", FR_F32, 2, s2, d) == FR_EINVAL, "reserved name");
  CHECK(fr_st_writer_add(w, "bad\xff", FR_F32, 2, s2, d) == FR_EINVAL, "name not UTF-8");
  CHECK(fr_st_writer_metadata(w, "k", "bad\xff") == FR_EINVAL, "metadata not UTF-8");
  CHECK_OK(fr_st_writer_add(w, "z", FR_F32, 1, zero, NULL)); /* no bytes: NULL data is fine */
  /* A failed save reports the path and strerror and leaves nothing behind. */
  const char *bad = tmp_path("no/such/dir/x.safetensors");
  CHECK(fr_st_writer_save(w, bad) == FR_EIO && strstr(fr_last_error(), "x.safetensors.tmp") &&
            strstr(fr_last_error(), "No such file"),
        "save into a missing directory: %s", fr_last_error());
  /* Saving over an existing file replaces it. */
  const char *p = tmp_path("replace.safetensors");
  write_bytes(p, "junk", 4);
  CHECK_OK(fr_st_writer_save(w, p));
  fr_st_file *f = NULL;
  CHECK_OK(fr_st_open(p, &f));
  CHECK(f && fr_st_count(f) == 2, "replaced file");
  fr_st_close(f);
  fr_st_writer_free(w);
  /* An empty writer saves an empty, valid file. */
  w = fr_st_writer_new();
  CHECK_OK(fr_st_writer_save(w, p));
  fr_st_writer_free(w);
  CHECK_OK(fr_st_open(p, &f));
  CHECK(f && fr_st_count(f) == 0, "empty file");
  fr_st_close(f);
}

#define T(name, dt, shape, off) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" off "}"

static void test_file_level(void)
{
  const char *p = tmp_path("bad.safetensors");
  expect_open_fails("missing", tmp_path("missing.safetensors"), FR_EIO, "cannot open");
  expect_open_fails("directory", tmp_dir, FR_EIO, "not a regular file");
  write_bytes(p, "", 0);
  expect_open_fails("empty file", p, FR_EFORMAT, "0 bytes long, shorter than the 8-byte");
  write_bytes(p, "\x02\0\0\0\0", 5);
  expect_open_fails("5 bytes", p, FR_EFORMAT, "5 bytes long, shorter than the 8-byte");
  raw_file(p, "{}", 2, &(uint64_t){0}, 0);
  expect_open_fails("length 0", p, FR_EFORMAT, "header length is 0");
  raw_file(p, "{}", 2, &(uint64_t){(uint64_t)1 << 63}, 0); /* refused before anything is allocated for it */
  expect_open_fails("2^63", p, FR_EFORMAT, "header length 9223372036854775808 exceeds the limit");
  raw_file(p, "{}", 2, &(uint64_t){~(uint64_t)0}, 0);
  expect_open_fails("2^64-1", p, FR_EFORMAT, "exceeds the limit");
  raw_file(p, "{}", 2, &(uint64_t){FR_ST_MAX_HEADER + 1ull}, 0);
  expect_open_fails("limit + 1", p, FR_EFORMAT, "exceeds the limit of 104857600 bytes");
  raw_file(p, "{}", 2, &(uint64_t){100}, 10);
  expect_open_fails("past eof", p, FR_EFORMAT,
                    "header length 100 runs past the end of the file (the file has 20 bytes");
  raw_file(p, "{}", 2, &(uint64_t){3}, 0);
  expect_open_fails("past eof by 1", p, FR_EFORMAT, "past the end of the file");
}

static void test_bad_json(void)
{
  expect_bad("{\"a\":", 0, "header is not valid JSON: ");
  expect_bad("{\"a\" 1}", 0, "(line 1, column");
  expect_bad("\"str\"", 0, "not valid JSON");
  expect_bad("{\"a\":\"\xff\"}", 0, "header is not valid UTF-8");
  expect_bad("{\"\xc3\x28\":1}", 0, "not valid UTF-8");
  expect_bad("{\"\xed\xa0\x80\":1}", 0, "not valid UTF-8"); /* an encoded surrogate */
  expect_bad("{\"\xc0\xaf\":1}", 0, "not valid UTF-8");     /* overlong */
  expect_bad("[1,2]", 0, "header is an array, not a JSON object");
  expect_bad("{" T("a", "U8", "[1]", "[0,1]") "," T("a", "U8", "[1]", "[1,2]") "}", 2, "duplicate key");
  expect_bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate key");
  expect_bad("{} x", 0, "trailing bytes after the JSON object at header byte 3");
  expect_bad("{}\n", 0, "trailing bytes");
  expect_bad("{}  {}", 0, "trailing bytes");
  expect_bad("{\"a\":[0,99999999999999999999]}", 0, "too big integer");
  char nul[8] = "{}  \0  "; /* a NUL in the padding */
  const char *p = tmp_path("bad.safetensors");
  raw_file(p, nul, 7, AUTO_LEN, 0);
  expect_open_fails("NUL padding", p, FR_EFORMAT, "trailing bytes");
}

static void test_bad_entries(void)
{
  expect_bad("{\"a\":5}", 0, "tensor 'a': entry is an integer, not an object");
  expect_bad("{\"a\":[]}", 0, "tensor 'a': entry is an array, not an object");
  expect_bad("{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "tensor 'a': missing field 'dtype'");
  expect_bad("{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1, "tensor 'a': missing field 'shape'");
  expect_bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "tensor 'a': missing field 'data_offsets'");
  expect_bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"extra\":1}}", 1,
             "tensor 'a': unexpected field 'extra'");
  expect_bad("{" T("a", "U8", "[1]", "[0,1]") "," T("", "U8", "[1]", "[1,2]") "}", 2, "a tensor has an empty name");
  expect_bad("{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "tensor 'a': dtype is an integer");
  expect_bad("{" T("a", "F8_E4M3", "[1]", "[0,1]") "}", 1, "tensor 'a': unknown dtype 'F8_E4M3'");
  expect_bad("{" T("a", "f32", "[1]", "[0,4]") "}", 4, "unknown dtype 'f32'");
  expect_bad("{" T("a", "", "[1]", "[0,4]") "}", 4, "unknown dtype ''");
  expect_bad("{" T("a", "U8", "\"1\"", "[0,1]") "}", 1, "tensor 'a': shape is a string, not an array");
  expect_bad("{" T("a", "U8", "{}", "[0,1]") "}", 1, "shape is an object");
  expect_bad("{" T("a", "U8", "[1.0]", "[0,1]") "}", 1, "tensor 'a': shape[0] is a real number");
  expect_bad("{" T("a", "U8", "[1,1e0]", "[0,1]") "}", 1, "shape[1] is a real number");
  expect_bad("{" T("a", "U8", "[2,-1]", "[0,1]") "}", 1, "tensor 'a': shape[1] is negative (-1)");
  expect_bad("{" T("a", "U8", "[true]", "[0,1]") "}", 1, "shape[0] is a boolean");
  expect_bad("{" T("a", "U8", "[null]", "[0,1]") "}", 1, "shape[0] is null");
  expect_bad("{" T("a", "U8", "[\"1\"]", "[0,1]") "}", 1, "shape[0] is a string");
  expect_bad("{" T("a", "U8", "[1,1,1,1,1,1,1]", "[0,1]") "}", 1, "shape has 7 dimensions, more than the 6 supported");
  expect_bad("{" T("a", "U8", "[1]", "{}") "}", 1, "tensor 'a': data_offsets is an object, not an array");
  expect_bad("{" T("a", "U8", "[1]", "[0]") "}", 1, "data_offsets has 1 elements, not 2");
  expect_bad("{" T("a", "U8", "[1]", "[0,1,2]") "}", 1, "data_offsets has 3 elements, not 2");
  expect_bad("{" T("a", "U8", "[1]", "[-1,0]") "}", 1, "tensor 'a': data_offsets[0] is negative (-1)");
  expect_bad("{" T("a", "U8", "[1]", "[0,1.0]") "}", 1, "data_offsets[1] is a real number");
  expect_bad("{" T("a", "U8", "[1]", "[0,false]") "}", 1, "data_offsets[1] is a boolean");
  expect_bad("{" T("a", "U8", "[0]", "[4,2]") "}", 4, "tensor 'a': data_offsets [4, 2) end before they begin");
}

static void test_bad_extents(void)
{
  expect_bad("{" T("a.weight", "F32", "[2,2]", "[0,12]") "}", 12,
             "tensor 'a.weight': data_offsets [0, 12) hold 12 bytes but F32 [2, 2] needs 16");
  expect_bad("{" T("a", "F16", "[3]", "[0,8]") "}", 8, "hold 8 bytes but F16 [3] needs 6");
  expect_bad("{" T("a", "F32", "[4294967296,4294967296]", "[0,0]") "}", 0,
             "tensor 'a': byte size of F32 [4294967296, 4294967296] overflows");
  expect_bad("{" T("a", "I64", "[2305843009213693952]", "[0,0]") "}", 0, "overflows"); /* 2^61 x 8 = 2^64 */
  expect_bad("{" T("a", "F32", "[4]", "[0,16]") "}", 8,
             "tensor 'a': data_offsets [0, 16) run past the end of the data blob (8 bytes)");
  expect_bad("{" T("a", "U8", "[0]", "[9,9]") "}", 8, "past the end of the data blob");
  expect_bad("{" T("a", "F32", "[4]", "[0,16]") "," T("b", "F32", "[4]", "[8,24]") "}", 24,
             "tensor 'b': data_offsets [8, 24) overlap tensor 'a' at [0, 16)");
  expect_bad("{" T("a", "F32", "[4]", "[0,16]") "," T("b", "U8", "[16]", "[0,16]") "}", 16, "overlap");
  expect_bad("{" T("a", "F32", "[4]", "[0,16]") "," T("z", "F32", "[0]", "[8,8]") "}", 16,
             "tensor 'z': data_offsets [8, 8) overlap tensor 'a'");
  expect_bad("{" T("a", "F32", "[4]", "[0,16]") "," T("b", "F32", "[4]", "[24,40]") "}", 40,
             "bytes [16, 24) of the data blob are not covered by any tensor (before 'b')");
  expect_bad("{" T("a", "F32", "[4]", "[8,24]") "}", 24, "bytes [0, 8) of the data blob are not covered");
  expect_bad("{" T("a", "F32", "[4]", "[0,16]") "}", 24,
             "bytes [16, 24) of the data blob are not covered by any "
             "tensor (after the last tensor)");
  expect_bad("{}", 8, "bytes [0, 8) of the data blob are not covered by any tensor (the header lists none)");
  expect_bad("{\"__metadata__\":\"x\"}", 0, "\"__metadata__\" is a string, not an object of strings");
  expect_bad("{\"__metadata__\":[]}", 0, "\"__metadata__\" is an array");
  expect_bad("{\"__metadata__\":{\"a\":\"b\",\"k\":1}}", 0, "\"__metadata__\" value for key 'k' is an integer");
  expect_bad("{\"__metadata__\":{\"k\":{}}}", 0, "value for key 'k' is an object");
}

static void test_good_edges(void)
{
  fr_st_file *f = expect_good("{}", 0, 0);
  fr_st_close(f);
  f = expect_good("{\"__metadata__\":{}}                                   ", 0, 0); /* space padding */
  fr_st_close(f);
  /* zero-element tensors at the start, in the middle and at the very end of the file */
  f = expect_good("{" T("c", "F16", "[0]", "[3,3]") "," T("b", "U8", "[3]", "[0,3]") "," T(
                      "a", "F32", "[0,3]", "[0,0]") "," T("d", "BOOL", "[2,0,5]", "[3,3]") "}  ",
                  3, 4);
  if (f) {
    const char *order[4] = {"a", "b", "c", "d"}; /* by offset, then size, then name */
    for (int i = 0; i < 4; i++)
      CHECK(strcmp(fr_st_entry_at(f, i)->name, order[i]) == 0, "entry %d is '%s'", i, fr_st_entry_at(f, i)->name);
    const fr_st_entry *d = fr_st_find(f, "d");
    CHECK(d && d->ndim == 3 && d->shape[1] == 0 && d->nbytes == 0, "zero-element BOOL");
    fr_st_close(f);
  }
  f = expect_good("{" T("s", "F64", "[]", "[0,8]") "}", 8, 1); /* a scalar */
  if (f) CHECK(fr_st_find(f, "s")->ndim == 0 && fr_st_find(f, "s")->nbytes == 8, "scalar");
  fr_st_close(f);
  fr_st_close(NULL);
}

/* ---- fuzz: random single-byte mutations and truncations of a valid file never crash the reader ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t xorshift(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* After a successful open of buf[0..len): every entry lies inside the blob, tiles it, and reads back. */
static int fuzz_accepts_consistently(fr_st_file *f, const unsigned char *buf, size_t len)
{
  uint64_t hlen = 0, next = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
  if (hlen > len - 8) return 0;
  uint64_t blob = len - 8 - hlen;
  float tmp[64];
  for (int i = 0; i < fr_st_count(f); i++) {
    const fr_st_entry *e = fr_st_entry_at(f, i);
    fr_tensor t = fr_st_tensor(e);
    if (e->offset != next || e->nbytes > blob - e->offset || fr_tensor_nbytes(&t) != e->nbytes) return 0;
    if (memcmp(e->data, buf + 8 + hlen + e->offset, (size_t)e->nbytes) != 0 || fr_st_find(f, e->name) != e) return 0;
    if (fr_dtype_is_float(e->dtype) && e->dtype != FR_F64 && e->nbytes / fr_dtype_size(e->dtype) <= 64 &&
        fr_st_read_f32(e, tmp) != FR_OK)
      return 0;
    next = e->offset + e->nbytes;
  }
  return next == blob;
}

static void test_fuzz(void)
{
  static const char interesting[] = "{}[],:\"0123456789-. e\\";
  const char *base_path = tmp_path("fuzz-base.safetensors"), *p = tmp_path("fuzz.safetensors");
  fr_st_writer *w = fr_st_writer_new();
  const int64_t s1[1] = {3}, s2[2] = {2, 2}, s0[2] = {0, 4};
  const unsigned char data[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  CHECK_OK(fr_st_writer_metadata(w, "format", "pt"));
  CHECK_OK(fr_st_writer_add(w, "u", FR_U8, 1, s1, data));
  CHECK_OK(fr_st_writer_add(w, "w", FR_F32, 2, s2, data));
  CHECK_OK(fr_st_writer_add(w, "e", FR_BF16, 2, s0, NULL));
  CHECK_OK(fr_st_writer_add(w, "h", FR_F16, 2, s2, data));
  CHECK_OK(fr_st_writer_add(w, "i", FR_I16, 1, s1, data));
  CHECK_OK(fr_st_writer_save(w, base_path));
  fr_st_writer_free(w);
  size_t base_len = 0;
  unsigned char *base = read_bytes(base_path, &base_len), *buf = malloc(base_len);
  long ok = 0, failed = 0, bad = 0;
  for (int it = 0; it < 20000; it++) {
    size_t len = base_len;
    memcpy(buf, base, base_len);
    uint64_t r = xorshift(), kind = r % 8, pos = (r >> 8) % base_len;
    unsigned char byte = (unsigned char)(r >> 40);
    if (kind <= 3) buf[pos] = byte;
    else if (kind <= 5) buf[pos] = (unsigned char)interesting[byte % (sizeof interesting - 1)];
    else if (kind == 6) len = (size_t)pos; /* truncation */
    else buf[pos % 8] = byte;              /* the length prefix */
    write_bytes(p, buf, len);
    fr_st_file *f = (fr_st_file *)(uintptr_t)1;
    fr_status s = fr_st_open(p, &f);
    if (s == FR_OK) {
      ok++;
      bad += !fuzz_accepts_consistently(f, buf, len);
      fr_st_close(f);
    } else {
      failed++;
      bad += s != FR_EFORMAT || f != NULL || strncmp(fr_last_error(), p, strlen(p)) != 0;
    }
  }
  CHECK(bad == 0, "fuzz: %ld inconsistent results", bad);
  CHECK(ok > 100 && failed > 1000, "fuzz: %ld accepted, %ld rejected", ok, failed);
  printf("fuzz: 20000 mutations, %ld accepted, %ld rejected cleanly\n", ok, failed);
  free(base);
  free(buf);
}

static void remove_tmp_dir(void)
{
  DIR *d = opendir(tmp_dir);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) unlink(tmp_path(de->d_name));
  if (d) closedir(d);
  CHECK(rmdir(tmp_dir) == 0, "cannot remove %s", tmp_dir);
}

int main(void)
{
  const char *base = getenv("TMPDIR");
  snprintf(tmp_dir, sizeof tmp_dir, "%s/fr_st_XXXXXX", base && base[0] ? base : "/tmp");
  if (!mkdtemp(tmp_dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_round_trip();
  test_unaligned();
  test_widen_exhaustive();
  test_many();
  test_writer_errors();
  test_file_level();
  test_bad_json();
  test_bad_entries();
  test_bad_extents();
  test_good_edges();
  test_fuzz();
  remove_tmp_dir();
  return check_done("test_safetensors");
}
