/* Hash maps for the tokenizer (internal): byte string -> int32 (vocabulary, BPE symbols) and uint64 -> int32
 * (BPE merge pairs). Open addressing with linear probing; they only grow, nothing is ever removed. */
#ifndef FRACTAL_STRMAP_H
#define FRACTAL_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct fr_strmap fr_strmap;

/* NULL when out of memory. */
fr_strmap *fr_strmap_new(size_t expected);
void fr_strmap_free(fr_strmap *m);
/* Sets key -> value, copying the key (which may hold NUL bytes); 0 on success, -1 when out of memory. */
int fr_strmap_put(fr_strmap *m, const char *key, size_t len, int32_t value);
/* The value of key, or -1 if it is absent. */
int32_t fr_strmap_get(const fr_strmap *m, const char *key, size_t len);
size_t fr_strmap_count(const fr_strmap *m);

typedef struct fr_u64map fr_u64map;

fr_u64map *fr_u64map_new(size_t expected);
void fr_u64map_free(fr_u64map *m);
int fr_u64map_put(fr_u64map *m, uint64_t key, int32_t value);
int32_t fr_u64map_get(const fr_u64map *m, uint64_t key);

#endif
