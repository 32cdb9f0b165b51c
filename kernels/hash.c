/* XXH3-128 over canonical bytes (see fractal/hash.h). */
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fractal/defs.h"
#include "fractal/hash.h"

struct fr_hasher {
  XXH3_state_t state;
};

static fr_hash128 from_xxh(XXH128_hash_t h)
{
  fr_hash128 r = {h.high64, h.low64};
  return r;
}

static void put_u32_le(unsigned char *p, uint32_t v)
{
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

static uint32_t canonical_f32_bits(float x)
{
  uint32_t u = fr_f32_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc00000u; /* every NaN as one quiet NaN */
  if (u == 0x80000000u) return 0u;                         /* -0 as +0 */
  return u;
}

/* Canonical floats go through a small buffer so the hash never depends on host byte order. */
static void update_f32(XXH3_state_t *s, const float *x, size_t n)
{
  unsigned char buf[4096];
  while (n > 0) {
    size_t m = n < sizeof buf / 4 ? n : sizeof buf / 4;
    for (size_t i = 0; i < m; i++) put_u32_le(buf + 4 * i, canonical_f32_bits(x[i]));
    XXH3_128bits_update(s, buf, m * 4);
    x += m;
    n -= m;
  }
}

fr_hash128 fr_hash_bytes(const void *data, size_t n) { return from_xxh(XXH3_128bits(data, n)); }

fr_hash128 fr_hash_f32(const float *x, size_t n)
{
  fr_hasher h;
  XXH3_128bits_reset(&h.state);
  update_f32(&h.state, x, n);
  return fr_hasher_digest(&h);
}

static int host_is_little_endian(void)
{
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

fr_hash128 fr_hash_tensor(const fr_tensor *t)
{
  size_t n = (size_t)fr_tensor_numel(t);
  if (t->dtype == FR_F32) return fr_hash_f32((const float *)t->data, n);
  size_t es = fr_dtype_size(t->dtype);
  if (es == 1 || host_is_little_endian()) return fr_hash_bytes(t->data, n * es);
  /* Big-endian hosts: byte-swap each element into little-endian order. */
  fr_hasher h;
  XXH3_128bits_reset(&h.state);
  const unsigned char *p = (const unsigned char *)t->data;
  for (size_t i = 0; i < n; i++) {
    unsigned char e[8];
    for (size_t b = 0; b < es; b++) e[b] = p[i * es + es - 1 - b];
    XXH3_128bits_update(&h.state, e, es);
  }
  return fr_hasher_digest(&h);
}

int fr_hash_equal(fr_hash128 a, fr_hash128 b) { return a.hi == b.hi && a.lo == b.lo; }

void fr_hash_hex(fr_hash128 h, char *out)
{
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++) {
    out[i] = digits[(h.hi >> (60 - 4 * i)) & 0xf];
    out[16 + i] = digits[(h.lo >> (60 - 4 * i)) & 0xf];
  }
  out[32] = '\0';
}

static int hex_value(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int fr_hash_parse(const char *hex, fr_hash128 *out)
{
  uint64_t w[2] = {0, 0};
  if (!hex) return -1;
  for (int i = 0; i < 32; i++) {
    int v = hex_value(hex[i]);
    if (v < 0) return -1;
    w[i / 16] = (w[i / 16] << 4) | (uint64_t)v;
  }
  if (hex[32] != '\0') return -1;
  out->hi = w[0];
  out->lo = w[1];
  return 0;
}

fr_hasher *fr_hasher_new(void)
{
  /* XXH3_state_t wants 64-byte alignment, which plain malloc does not promise. */
  size_t size = (sizeof(fr_hasher) + 63) / 64 * 64;
  fr_hasher *h = (fr_hasher *)aligned_alloc(64, size);
  if (h) XXH3_128bits_reset(&h->state);
  return h;
}

void fr_hasher_free(fr_hasher *h) { free(h); }
void fr_hasher_bytes(fr_hasher *h, const void *data, size_t n) { XXH3_128bits_update(&h->state, data, n); }
void fr_hasher_f32(fr_hasher *h, const float *x, size_t n) { update_f32(&h->state, x, n); }

void fr_hasher_u64(fr_hasher *h, uint64_t v)
{
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
  XXH3_128bits_update(&h->state, b, 8);
}

void fr_hasher_str(fr_hasher *h, const char *s)
{
  size_t n = strlen(s);
  fr_hasher_u64(h, (uint64_t)n);
  XXH3_128bits_update(&h->state, s, n);
}

fr_hash128 fr_hasher_digest(const fr_hasher *h) { return from_xxh(XXH3_128bits_digest(&h->state)); }
