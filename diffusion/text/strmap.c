/* Open-addressing hash maps for the tokenizer's vocabulary, BPE symbols and merge pairs. */
#include "text/strmap.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: keys are short (BPE symbols), so a simple byte hash is as fast as anything. */
static uint64_t hash_bytes(const char *s, size_t n)
{
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
  return h;
}

/* A strong 64-bit mix (splitmix64's finalizer): pair keys are two small ints side by side. */
static uint64_t hash_u64(uint64_t x)
{
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* Power-of-two slot count that keeps the load at or below one half for n entries. */
static size_t slots_for(size_t n)
{
  size_t s = 16;
  while (s < 2 * n) s *= 2;
  return s;
}

typedef struct str_slot {
  uint32_t off; /* into the arena */
  uint32_t len; /* UINT32_MAX marks an empty slot */
  uint32_t tag; /* the hash's high half: most mismatches are settled without touching the arena */
  int32_t value;
} str_slot;

struct fr_strmap {
  str_slot *slots;
  size_t nslots, count;
  char *arena; /* the keys, back to back */
  size_t arena_len, arena_cap;
};

fr_strmap *fr_strmap_new(size_t expected)
{
  fr_strmap *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->nslots = slots_for(expected);
  m->slots = malloc(m->nslots * sizeof *m->slots);
  if (!m->slots) {
    free(m);
    return NULL;
  }
  for (size_t i = 0; i < m->nslots; i++) m->slots[i].len = UINT32_MAX;
  return m;
}

void fr_strmap_free(fr_strmap *m)
{
  if (!m) return;
  free(m->slots);
  free(m->arena);
  free(m);
}

size_t fr_strmap_count(const fr_strmap *m) { return m->count; }

static size_t str_find(const fr_strmap *m, const char *key, size_t len, uint64_t h)
{
  size_t mask = m->nslots - 1, i = (size_t)h & mask;
  for (uint32_t tag = (uint32_t)(h >> 32);; i = (i + 1) & mask) {
    const str_slot *s = &m->slots[i];
    if (s->len == UINT32_MAX || (s->tag == tag && s->len == len && memcmp(m->arena + s->off, key, len) == 0)) return i;
  }
}

static int str_grow(fr_strmap *m)
{
  size_t n = m->nslots * 2;
  str_slot *old = m->slots, *slots = malloc(n * sizeof *slots);
  if (!slots) return -1;
  for (size_t i = 0; i < n; i++) slots[i].len = UINT32_MAX;
  size_t old_n = m->nslots;
  m->slots = slots;
  m->nslots = n;
  for (size_t i = 0; i < old_n; i++) {
    const str_slot *s = &old[i];
    if (s->len != UINT32_MAX)
      m->slots[str_find(m, m->arena + s->off, s->len, hash_bytes(m->arena + s->off, s->len))] = *s;
  }
  free(old);
  return 0;
}

int fr_strmap_put(fr_strmap *m, const char *key, size_t len, int32_t value)
{
  if (len >= UINT32_MAX || m->arena_len + len > UINT32_MAX) return -1;
  uint64_t h = hash_bytes(key, len);
  size_t i = str_find(m, key, len, h);
  if (m->slots[i].len != UINT32_MAX) {
    m->slots[i].value = value;
    return 0;
  }
  if (m->arena_len + len > m->arena_cap) {
    size_t cap = m->arena_cap ? m->arena_cap : 4096;
    while (cap < m->arena_len + len) cap *= 2;
    char *a = realloc(m->arena, cap);
    if (!a) return -1;
    m->arena = a;
    m->arena_cap = cap;
  }
  if (len) memcpy(m->arena + m->arena_len, key, len);
  m->slots[i] =
      (str_slot){.off = (uint32_t)m->arena_len, .len = (uint32_t)len, .tag = (uint32_t)(h >> 32), .value = value};
  m->arena_len += len;
  m->count++;
  if (2 * m->count > m->nslots) return str_grow(m);
  return 0;
}

int32_t fr_strmap_get(const fr_strmap *m, const char *key, size_t len)
{
  const str_slot *s = &m->slots[str_find(m, key, len, hash_bytes(key, len))];
  return s->len == UINT32_MAX ? -1 : s->value;
}

typedef struct u64_slot {
  uint64_t key;
  int32_t value; /* -1 marks an empty slot: values are never negative */
} u64_slot;

struct fr_u64map {
  u64_slot *slots;
  size_t nslots, count;
};

fr_u64map *fr_u64map_new(size_t expected)
{
  fr_u64map *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->nslots = slots_for(expected);
  m->slots = malloc(m->nslots * sizeof *m->slots);
  if (!m->slots) {
    free(m);
    return NULL;
  }
  for (size_t i = 0; i < m->nslots; i++) m->slots[i].value = -1;
  return m;
}

void fr_u64map_free(fr_u64map *m)
{
  if (!m) return;
  free(m->slots);
  free(m);
}

static size_t u64_find(const fr_u64map *m, uint64_t key)
{
  size_t mask = m->nslots - 1, i = (size_t)hash_u64(key) & mask;
  while (m->slots[i].value >= 0 && m->slots[i].key != key) i = (i + 1) & mask;
  return i;
}

int fr_u64map_put(fr_u64map *m, uint64_t key, int32_t value)
{
  if (value < 0) return -1;
  size_t i = u64_find(m, key);
  if (m->slots[i].value < 0) m->count++;
  m->slots[i] = (u64_slot){.key = key, .value = value};
  if (2 * m->count <= m->nslots) return 0;
  size_t old_n = m->nslots;
  u64_slot *old = m->slots, *slots = malloc(2 * old_n * sizeof *slots);
  if (!slots) return -1;
  m->slots = slots;
  m->nslots = 2 * old_n;
  for (size_t j = 0; j < m->nslots; j++) m->slots[j].value = -1;
  for (size_t j = 0; j < old_n; j++)
    if (old[j].value >= 0) m->slots[u64_find(m, old[j].key)] = old[j];
  free(old);
  return 0;
}

int32_t fr_u64map_get(const fr_u64map *m, uint64_t key) { return m->slots[u64_find(m, key)].value; }
