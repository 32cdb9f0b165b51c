/* Hashes of canonical bytes: XXH3-128 over tensors (fp32 with -0 as +0 and every NaN as 0x7fc00000,
 * little-endian), and the 32-hex-digit canonical (big-endian) form used on the wire. Host only. */
#ifndef FRACTAL_HASH_H
#define FRACTAL_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_hash128 {
  uint64_t hi, lo;
} fr_hash128;

#define FR_HASH_HEX_LEN 32

fr_hash128 fr_hash_bytes(const void *data, size_t n);
/* Hash of n floats in canonical form. */
fr_hash128 fr_hash_f32(const float *x, size_t n);
/* Hash of a host tensor's elements: F32 canonical, other dtypes as little-endian bytes. */
fr_hash128 fr_hash_tensor(const fr_tensor *t);

int fr_hash_equal(fr_hash128 a, fr_hash128 b);
/* Writes 32 lowercase hex digits and a NUL into out (33 bytes). */
void fr_hash_hex(fr_hash128 h, char *out);
/* Parses exactly 32 hex digits (either case); returns 0 on success, -1 otherwise. */
int fr_hash_parse(const char *hex, fr_hash128 *out);

/* Streaming hash for digests made of several fields. */
typedef struct fr_hasher fr_hasher;
fr_hasher *fr_hasher_new(void);
void fr_hasher_free(fr_hasher *h);
void fr_hasher_bytes(fr_hasher *h, const void *data, size_t n);
void fr_hasher_f32(fr_hasher *h, const float *x, size_t n);
void fr_hasher_u64(fr_hasher *h, uint64_t v); /* 8 bytes little-endian */
/* A length-prefixed string (u64 length, then bytes), so field boundaries cannot be forged. */
void fr_hasher_str(fr_hasher *h, const char *s);
fr_hash128 fr_hasher_digest(const fr_hasher *h);

#ifdef __cplusplus
}
#endif
#endif
