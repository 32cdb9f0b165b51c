/* The CLIP tokenizer: transformers' slow CLIPTokenizer without ftfy (added-token split, BasicTokenizer
 * clean-up, regex pre-tokenizer, byte-level BPE), step for step. docs/tokenizer.md has the details. */
#define _POSIX_C_SOURCE 200809L /* stat */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "fractal/tokenizer.h"
#include "text/strmap.h"
#include "text/unicode.h"

#define MERGES_MAX (49152 - 256 - 2) /* CLIPTokenizer reads lines[1 : 49152-256-2+1] of merges.txt */
#define DEFAULT_MAX_LENGTH 77        /* CLIP's context; used when tokenizer_config.json has none */
#define MAX_LENGTH_LIMIT 65536
#define ADDED_MAX 64
#define NONE UINT32_MAX

typedef struct added_token {
  char *text; /* UTF-8 content */
  size_t len;
  uint32_t *cps; /* the same as code points, for matching */
  size_t ncps;
  int32_t id;
} added_token;

struct fr_tokenizer {
  int max_length;
  int32_t bos, eos, unk, pad, vocab_size;
  int32_t sot_literal, eot_literal; /* ids of the pre-tokens "<|startoftext|>"/"<|endoftext|>" (HF's BPE cache) */
  uint32_t base_sym[512];           /* symbol of byte b, and of byte b + "</w>" at 256 + b */
  /* Symbols: every vocab string and every string a merge names, interned to an index; sym_id[index] is
   * its id as convert_tokens_to_ids gives it: added token, else vocab, else unk. */
  int32_t *sym_id;
  uint32_t nsyms, sym_cap;
  uint32_t *merge_res; /* by rank: the symbol a merge produces */
  fr_u64map *pairs;    /* (a << 32 | b) -> rank */
  added_token added[ADDED_MAX];
  int nadded;
};

/* ---- UTF-8 ---- */

/* Decodes one code point strictly (as Python's decoder: no overlongs, surrogates or values past U+10FFFF).
 * Returns its length, or 0 if s[0..n) does not start with a valid sequence. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
  static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
  size_t k = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
  if (k == 0 || k > n) return 0;
  uint32_t c = k == 1 ? s[0] : s[0] & (0x7f >> k);
  for (size_t i = 1; i < k; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    c = c << 6 | (s[i] & 0x3f);
  }
  if (c < min[k] || c > 0x10ffff || (c >= 0xd800 && c < 0xe000)) return 0;
  *cp = c;
  return k;
}

static int utf8_encode(uint32_t c, unsigned char *b)
{
  if (c < 0x80) return b[0] = (unsigned char)c, 1;
  if (c < 0x800) return b[0] = (unsigned char)(0xc0 | c >> 6), b[1] = (unsigned char)(0x80 | (c & 0x3f)), 2;
  if (c < 0x10000) {
    b[0] = (unsigned char)(0xe0 | c >> 12), b[1] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
    return b[2] = (unsigned char)(0x80 | (c & 0x3f)), 3;
  }
  b[0] = (unsigned char)(0xf0 | c >> 18), b[1] = (unsigned char)(0x80 | (c >> 12 & 0x3f));
  b[2] = (unsigned char)(0x80 | (c >> 6 & 0x3f)), b[3] = (unsigned char)(0x80 | (c & 0x3f));
  return 4;
}

/* Decodes all of s into *out (malloc'ed; with out NULL it only validates). Returns 1, or 0 on invalid UTF-8
 * with the byte offset in *bad, or -1 when out of memory. */
static int utf8_decode_all(const char *s, size_t n, uint32_t **out, size_t *count, size_t *bad)
{
  uint32_t c, *v = out ? malloc((n ? n : 1) * sizeof *v) : NULL;
  if (out && !v) return -1;
  size_t i = 0, k = 0;
  while (i < n) {
    size_t len = utf8_decode((const unsigned char *)s + i, n - i, &c);
    if (!len) {
      free(v);
      *bad = i;
      return 0;
    }
    if (v) v[k] = c;
    i += len, k++;
  }
  if (out) *out = v, *count = k;
  return 1;
}

/* ---- loading ---- */

static fr_status read_file(const char *dir, const char *name, int optional, char **data, size_t *len)
{
  char path[4096];
  *data = NULL;
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
    return fr_fail(FR_EINVAL, "tokenizer folder path too long: %s", dir);
  FILE *f = fopen(path, "rb");
  if (!f) return optional && errno == ENOENT ? FR_OK : fr_fail(FR_EIO, "cannot open %s: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0, got;
  char *buf = malloc(cap);
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *b = realloc(buf, cap *= 2);
      if (!b) free(buf);
      buf = b;
    }
  }
  int err = ferror(f);
  fclose(f);
  if (!buf) return fr_fail(FR_ENOMEM, "out of memory reading %s", path);
  if (err) {
    free(buf);
    return fr_fail(FR_EIO, "error reading %s", path);
  }
  *data = buf;
  *len = n;
  return FR_OK;
}

/* Parses dir/name into *out; a missing optional file gives *out = NULL. */
static fr_status load_json(const char *dir, const char *name, int optional, size_t flags, json_t **out)
{
  char *data;
  size_t len;
  json_error_t e;
  *out = NULL;
  FR_TRY(read_file(dir, name, optional, &data, &len));
  if (!data) return FR_OK;
  *out = json_loadb(data, len, flags, &e);
  free(data);
  if (!*out)
    return fr_fail(FR_EFORMAT, "%s/%s: invalid JSON at line %d column %d: %s", dir, name, e.line, e.column, e.text);
  if (!json_is_object(*out)) {
    json_decref(*out);
    *out = NULL;
    return fr_fail(FR_EFORMAT, "%s/%s: not a JSON object", dir, name);
  }
  return FR_OK;
}

/* A string's symbol, interned with id `id` the first time it is seen. */
static fr_status intern(fr_tokenizer *t, fr_strmap *syms, const char *str, size_t n, int32_t id, uint32_t *out)
{
  int32_t v = fr_strmap_get(syms, str, n);
  if (v >= 0) return *out = (uint32_t)v, FR_OK;
  if (t->nsyms == t->sym_cap) {
    int32_t *p = realloc(t->sym_id, (t->sym_cap = t->sym_cap ? 2 * t->sym_cap : 65536) * sizeof *p);
    if (!p) return fr_fail(FR_ENOMEM, "out of memory loading the tokenizer");
    t->sym_id = p;
  }
  t->sym_id[t->nsyms] = id;
  if (fr_strmap_put(syms, str, n, (int32_t)t->nsyms)) return fr_fail(FR_ENOMEM, "out of memory loading the tokenizer");
  *out = t->nsyms++;
  return FR_OK;
}

/* The vocab id of a string, or -1 (before the added tokens are applied to sym_id). */
static int32_t vocab_id(const fr_tokenizer *t, const fr_strmap *syms, const char *str, size_t n)
{
  int32_t v = fr_strmap_get(syms, str, n);
  return v >= 0 ? t->sym_id[v] : -1;
}

static fr_status load_vocab(fr_tokenizer *t, const char *dir, fr_strmap *syms)
{
  json_t *v, *val;
  const char *key;
  uint32_t sym;
  FR_TRY(load_json(dir, "vocab.json", 0, 0, &v));
  fr_status s = FR_OK;
  if (json_object_size(v) == 0) s = fr_fail(FR_EFORMAT, "%s/vocab.json: the vocabulary is empty", dir);
  json_object_foreach(v, key, val)
  {
    if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) > INT32_MAX)
      s = fr_fail(FR_EFORMAT, "%s/vocab.json: the value of \"%.100s\" is not an id (an integer in 0..2^31-1)", dir,
                  key);
    if (!s) s = intern(t, syms, key, strlen(key), (int32_t)json_integer_value(val), &sym);
    if (s) break;
  }
  t->vocab_size = (int32_t)json_object_size(v);
  json_decref(v);
  return s;
}

/* An AddedToken as tokenizer_config.json / special_tokens_map.json hold it: a string or {"content": ...}.
 * lstrip / rstrip are ignored on purpose: whitespace at the edge of a text piece never yields an id. */
static fr_status parse_added(const char *file, const char *key, const json_t *v, added_token *a)
{
  const json_t *c = json_is_object(v) ? json_object_get(v, "content") : v;
  if (!json_is_string(c))
    return fr_fail(FR_EFORMAT, "%s: %s is neither a string nor an AddedToken object with a string \"content\"", file,
                   key);
  if (json_is_object(v) && json_is_true(json_object_get(v, "single_word")))
    return fr_fail(FR_EUNSUPPORTED, "%s: %s has single_word=true, which this tokenizer does not implement", file, key);
  a->text = (char *)json_string_value(c); /* borrowed until add_token copies it */
  a->len = json_string_length(c);
  return FR_OK;
}

static int find_added(const fr_tokenizer *t, const char *text, size_t len)
{
  for (int i = 0; i < t->nadded; i++)
    if (t->added[i].len == len && memcmp(t->added[i].text, text, len) == 0) return i;
  return -1;
}

/* Adds a to the tokens split out before BPE, unless its content is there already; returns the id in use. */
static fr_status add_token(fr_tokenizer *t, const added_token *a, int32_t *id)
{
  int known = find_added(t, a->text, a->len);
  if (known >= 0) return *id = t->added[known].id, FR_OK;
  size_t bad = 0;
  if (a->len == 0) return fr_fail(FR_EFORMAT, "an added or special token is the empty string");
  if (t->nadded == ADDED_MAX) return fr_fail(FR_EUNSUPPORTED, "more than %d added tokens", ADDED_MAX);
  added_token *d = &t->added[t->nadded];
  *d = *a;
  d->text = malloc(a->len);
  int ok = d->text ? utf8_decode_all(a->text, a->len, &d->cps, &d->ncps, &bad) : -1;
  if (ok < 0) return free(d->text), fr_fail(FR_ENOMEM, "out of memory");
  if (!ok) return free(d->text), fr_fail(FR_EFORMAT, "added token has invalid UTF-8");
  memcpy(d->text, a->text, a->len);
  t->nadded++;
  *id = d->id;
  return FR_OK;
}

static fr_status load_specials(fr_tokenizer *t, const char *dir, const fr_strmap *syms)
{
  static const char *const keys[4] = {"bos_token", "eos_token", "unk_token", "pad_token"};
  static const char *const defaults[4] = {"<|startoftext|>", "<|endoftext|>", "<|endoftext|>", "<|endoftext|>"};
  int32_t *ids[4] = {&t->bos, &t->eos, &t->unk, &t->pad};
  json_t *map = NULL, *cfg = NULL;
  fr_status s = load_json(dir, "special_tokens_map.json", 1, JSON_DECODE_INT_AS_REAL, &map);
  if (!s) s = load_json(dir, "tokenizer_config.json", 1, JSON_DECODE_INT_AS_REAL, &cfg);
  t->max_length = DEFAULT_MAX_LENGTH;
  const json_t *ml = cfg ? json_object_get(cfg, "model_max_length") : NULL;
  if (!s && ml && !json_is_null(ml)) {
    double v = json_is_number(ml) ? json_number_value(ml) : -1;
    if (v >= 2 && v <= MAX_LENGTH_LIMIT && v == (double)(int)v) t->max_length = (int)v;
    else
      s = fr_fail(FR_EFORMAT, "%s/tokenizer_config.json: model_max_length is not an integer in 2..%d", dir,
                  MAX_LENGTH_LIMIT);
  }
  /* Tokens saved with their ids (newer transformers) keep those ids. */
  const json_t *dec = cfg ? json_object_get(cfg, "added_tokens_decoder") : NULL;
  const char *key;
  json_t *val;
  if (!s && dec && !json_is_object(dec))
    s = fr_fail(FR_EFORMAT, "%s/tokenizer_config.json: added_tokens_decoder is not an object", dir);
  if (!s && dec) json_object_foreach((json_t *)dec, key, val)
    {
      added_token a = {0};
      char *end;
      long id = strtol(key, &end, 10);
      if (*end || end == key || id < 0 || id > INT32_MAX)
        s = fr_fail(FR_EFORMAT, "%s/tokenizer_config.json: added_tokens_decoder key \"%.50s\" is not an id", dir, key);
      if (!s) s = parse_added("tokenizer_config.json", "an added_tokens_decoder entry", val, &a);
      a.id = (int32_t)id;
      int32_t ignored;
      if (!s) s = add_token(t, &a, &ignored);
      if (s) break;
    }
  /* The special tokens: special_tokens_map.json overrides tokenizer_config.json, as in from_pretrained. */
  for (int k = 0; k < 4 && !s; k++) {
    const json_t *v = map ? json_object_get(map, keys[k]) : NULL;
    const char *file = "special_tokens_map.json";
    if (!v || json_is_null(v)) v = cfg ? json_object_get(cfg, keys[k]) : NULL, file = "tokenizer_config.json";
    added_token a = {.text = (char *)defaults[k], .len = strlen(defaults[k])};
    if (v && !json_is_null(v)) s = parse_added(file, keys[k], v, &a);
    if (s) break;
    a.id = vocab_id(t, syms, a.text, a.len);
    if (a.id < 0 && find_added(t, a.text, a.len) < 0)
      s = fr_fail(FR_EFORMAT, "%s/%s: %s \"%.100s\" is not in vocab.json", dir, file, keys[k], a.text);
    else s = add_token(t, &a, ids[k]);
  }
  json_decref(map);
  json_decref(cfg);
  return s;
}

/* merges.txt as CLIPTokenizer reads it: text.strip().split("\n")[1 : 1 + MERGES_MAX], "a b" per line. */
static fr_status load_merges(fr_tokenizer *t, const char *dir, fr_strmap *syms)
{
  char *data, tmp[16];
  size_t len, bad;
  uint32_t c;
  FR_TRY(read_file(dir, "merges.txt", 0, &data, &len));
  fr_status s = FR_OK;
  if (!utf8_decode_all(data, len, NULL, NULL, &bad))
    s = fr_fail(FR_EFORMAT, "%s/merges.txt: invalid UTF-8 at byte %zu", dir, bad);
  t->pairs = fr_u64map_new(MERGES_MAX);
  t->merge_res = malloc(MERGES_MAX * sizeof *t->merge_res);
  if (!s && (!t->pairs || !t->merge_res)) s = fr_fail(FR_ENOMEM, "out of memory loading merges");
  /* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for U+0100 upward. */
  for (int b = 0, n = 0; b < 256 && !s; b++) {
    c = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174 ? (uint32_t)b : (uint32_t)(256 + n++);
    int k = utf8_encode(c, (unsigned char *)tmp);
    s = intern(t, syms, tmp, (size_t)k, t->unk, &t->base_sym[b]);
    memcpy(tmp + k, "</w>", 4); /* NOLINT(bugprone-not-null-terminated-result): a counted symbol, not a C string */
    if (!s) s = intern(t, syms, tmp, (size_t)k + 4, t->unk, &t->base_sym[256 + b]);
  }
  size_t end = len;
  while (end > 0 && strchr(" \t\n\v\f\r\x1c\x1d\x1e\x1f", data[end - 1])) end--; /* str.strip(), ASCII part */
  size_t pos = 0, line = 1;
  while (pos < end && strchr(" \t\n\v\f\r\x1c\x1d\x1e\x1f", data[pos])) pos++;
  uint32_t rank = 0;
  char *buf = NULL;
  size_t buf_cap = 0;
  for (; pos < end && rank < MERGES_MAX && !s; line++) {
    size_t eol = pos; /* universal newlines: \n, \r\n and \r all end a line */
    while (eol < end && data[eol] != '\n' && data[eol] != '\r') eol++;
    size_t next = eol + (eol < end && data[eol] == '\r' && eol + 1 < end && data[eol + 1] == '\n' ? 2 : 1);
    if (line > 1) { /* the first line is the "#version" header */
      size_t f[4], nf = 0, i = pos;
      while (i < eol && nf < 4) { /* str.split(): fields between runs of whitespace */
        while (i < eol && strchr(" \t\v\f\x1c\x1d\x1e\x1f", data[i])) i++;
        if (i == eol) break;
        f[nf++] = i;
        while (i < eol && !strchr(" \t\v\f\x1c\x1d\x1e\x1f", data[i])) i++;
        f[nf++] = i;
      }
      if (nf != 4 || i < eol) {
        s = fr_fail(FR_EFORMAT, "%s/merges.txt line %zu: expected two symbols separated by a space, got \"%.*s\"", dir,
                    line, (int)(eol - pos < 60 ? eol - pos : 60), data + pos);
        break;
      }
      size_t la = f[1] - f[0], lb = f[3] - f[2];
      if (la + lb > buf_cap) {
        char *nb = (char *)realloc(buf, buf_cap = 2 * (la + lb));
        if (!nb) {
          s = fr_fail(FR_ENOMEM, "out of memory loading merges");
          break;
        }
        buf = nb;
      }
      uint32_t a = 0, b = 0;
      memcpy(buf, data + f[0], la);
      memcpy(buf + la, data + f[2], lb);
      s = intern(t, syms, data + f[0], la, t->unk, &a);
      if (!s) s = intern(t, syms, data + f[2], lb, t->unk, &b);
      if (!s) s = intern(t, syms, buf, la + lb, t->unk, &t->merge_res[rank]);
      /* a repeated pair keeps its last rank, like dict(zip(merges, range(n))) */
      if (!s && fr_u64map_put(t->pairs, (uint64_t)a << 32 | b, (int32_t)rank++))
        s = fr_fail(FR_ENOMEM, "out of memory loading merges");
    }
    pos = next;
  }
  free(buf);
  free(data);
  return s;
}

fr_status fr_tokenizer_load(const char *dir, fr_tokenizer **out)
{
  struct stat st;
  if (!out || !dir) return fr_fail(FR_EINVAL, "fr_tokenizer_load: NULL argument");
  *out = NULL;
  if (stat(dir, &st) != 0) return fr_fail(FR_EIO, "tokenizer folder %s: %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return fr_fail(FR_EIO, "tokenizer folder %s: not a directory", dir);
  fr_tokenizer *t = calloc(1, sizeof *t);
  if (!t) return fr_fail(FR_ENOMEM, "out of memory");
  fr_strmap *syms = fr_strmap_new(2 * MERGES_MAX);
  fr_status s = syms ? load_vocab(t, dir, syms) : fr_fail(FR_ENOMEM, "out of memory");
  if (!s) s = load_specials(t, dir, syms);
  if (!s) s = load_merges(t, dir, syms);
  uint32_t sot = 0, eot = 0, sym;
  if (!s) s = intern(t, syms, "<|startoftext|>", 15, t->unk, &sot); /* HF's BPE cache passes these through */
  if (!s) s = intern(t, syms, "<|endoftext|>", 13, t->unk, &eot);
  for (int i = 0; i < t->nadded && !s; i++) /* convert_tokens_to_ids: added tokens before the vocab */
    if (!(s = intern(t, syms, t->added[i].text, t->added[i].len, t->added[i].id, &sym)))
      t->sym_id[sym] = t->added[i].id;
  if (!s) t->sot_literal = t->sym_id[sot], t->eot_literal = t->sym_id[eot];
  fr_strmap_free(syms);
  if (s) {
    fr_tokenizer_free(t);
    return fr_fail_context(s, "loading tokenizer");
  }
  *out = t;
  return FR_OK;
}

void fr_tokenizer_free(fr_tokenizer *t)
{
  if (!t) return;
  for (int i = 0; i < t->nadded; i++) free(t->added[i].text), free(t->added[i].cps);
  free(t->sym_id);
  free(t->merge_res);
  fr_u64map_free(t->pairs);
  free(t);
}

int fr_tokenizer_max_length(const fr_tokenizer *t) { return t->max_length; }
int32_t fr_tokenizer_bos(const fr_tokenizer *t) { return t->bos; }
int32_t fr_tokenizer_eos(const fr_tokenizer *t) { return t->eos; }
int32_t fr_tokenizer_pad(const fr_tokenizer *t) { return t->pad; }
int32_t fr_tokenizer_vocab_size(const fr_tokenizer *t) { return t->vocab_size; }

/* ---- tokenizing ---- */

/* A growable array; a failed allocation sets oom and turns later pushes into no-ops. */
typedef struct vec {
  uint32_t *v;
  size_t n, cap;
  int oom;
} vec;

static void push(vec *x, uint32_t c)
{
  if (x->n == x->cap) {
    size_t cap = x->cap ? 2 * x->cap : 256;
    uint32_t *p = x->oom ? NULL : realloc(x->v, cap * sizeof *p);
    if (!p) {
      x->oom = 1;
      return;
    }
    x->v = p, x->cap = cap;
  }
  x->v[x->n++] = c;
}

/* One call's state: nothing is shared, so concurrent calls on one tokenizer are safe. */
typedef struct run {
  const fr_tokenizer *t;
  int32_t *ids; /* BPE ids, at most cap of them */
  int n, cap;
  vec text, nfc, word, sym, rank, src;
} run;

static int full(const run *r) { return r->n >= r->cap; }

/* BERT's CJK ideograph ranges (BasicTokenizer._is_chinese_char). */
static int is_cjk(uint32_t c)
{
  return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x20000 && c <= 0x2a6df) ||
         (c >= 0x2a700 && c <= 0x2b73f) || (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b820 && c <= 0x2ceaf) ||
         (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

/* unicodedata.normalize("NFC"): full canonical decomposition, canonical ordering, canonical composition. */
static void nfc(const vec *in, vec *out)
{
  uint32_t d[FR_UC_DECOMP_MAX];
  size_t below = 0;
  out->n = 0;
  while (below < in->n && in->v[below] < 0x300) below++;
  for (size_t i = 0; i < in->n; i++) { /* below U+0300 nothing changes, so text without such is NFC already */
    int k = below == in->n ? (d[0] = in->v[i], 1) : fr_uc_decompose(in->v[i], d);
    for (int j = 0; j < k; j++) push(out, d[j]);
  }
  if (below == in->n || out->oom) return;
  uint32_t *v = out->v;
  for (size_t i = 1; i < out->n; i++) { /* stable insertion sort of each run of non-starters */
    uint32_t c = v[i];
    int cc = fr_uc_ccc(c);
    size_t j = i;
    for (; cc && j > 0 && fr_uc_ccc(v[j - 1]) > cc; j--) v[j] = v[j - 1];
    v[j] = c;
  }
  size_t starter = 0, n = out->n ? 1 : 0;
  int last = out->n && fr_uc_ccc(v[0]) ? 256 : 0; /* a leading non-starter composes with nothing */
  for (size_t i = 1; i < out->n; i++) {
    uint32_t c = v[i], comp;
    int cc = fr_uc_ccc(c);
    if ((last < cc || last == 0) && (comp = fr_uc_compose(v[starter], c)) != 0) { /* not blocked */
      v[starter] = comp;
      continue;
    }
    if (cc == 0) starter = n;
    last = cc;
    v[n++] = c;
  }
  out->n = n;
}

/* CPython's final-sigma rule for U+03A3 at w[i]: a cased letter before it and none after, skipping
 * case-ignorable characters. */
static int final_sigma(const uint32_t *w, size_t n, size_t i)
{
  size_t j = i;
  while (j > 0 && (fr_uc_props(w[j - 1]) & FR_UC_CASE_IGNORABLE)) j--;
  if (j == 0 || !(fr_uc_props(w[j - 1]) & FR_UC_CASED)) return 0;
  for (j = i + 1; j < n && (fr_uc_props(w[j]) & FR_UC_CASE_IGNORABLE); j++) {}
  return j == n || !(fr_uc_props(w[j]) & FR_UC_CASED);
}

/* Merges the pre-token's byte symbols (HF's CLIPTokenizer.bpe) and appends their ids. */
static void bpe(run *r, const uint32_t *s, size_t n)
{
  const fr_tokenizer *t = r->t;
  unsigned char b[4];
  r->sym.n = r->rank.n = r->src.n = 0;
  for (size_t i = 0; i < n; i++) {
    int k = utf8_encode(s[i], b);
    for (int j = 0; j < k; j++) push(&r->sym, t->base_sym[(i + 1 == n && j + 1 == k ? 256 : 0) + b[j]]);
  }
  for (size_t i = 0; i < r->sym.n; i++) push(&r->src, 0), push(&r->rank, NONE);
  if (r->sym.oom || r->src.oom || r->rank.oom) return;
  uint32_t *w = r->sym.v, *rank = r->rank.v, *src = r->src.v;
  size_t m = r->sym.n;
  for (size_t i = 0; i + 1 < m; i++) rank[i] = (uint32_t)fr_u64map_get(t->pairs, (uint64_t)w[i] << 32 | w[i + 1]);
  while (m > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < m; i++)
      if (rank[i] < rank[best]) best = i;
    if (rank[best] == NONE) break;
    /* merge every occurrence of the lowest-ranked pair, left to right */
    uint32_t first = w[best], second = w[best + 1], merged = t->merge_res[rank[best]];
    size_t j = 0;
    for (size_t i = 0; i < m; j++) {
      int hit = i + 1 < m && w[i] == first && w[i + 1] == second;
      w[j] = hit ? merged : w[i];
      src[j] = hit ? NONE : (uint32_t)i;
      i += hit ? 2 : 1;
    }
    m = j;
    /* a pair of two untouched neighbours keeps its rank; src[k] >= k, so this can run in place */
    for (size_t k = 0; k + 1 < m; k++)
      rank[k] = src[k] != NONE && src[k + 1] == src[k] + 1
                    ? rank[src[k]]
                    : (uint32_t)fr_u64map_get(t->pairs, (uint64_t)w[k] << 32 | w[k + 1]);
  }
  for (size_t i = 0; i < m && !full(r); i++) r->ids[r->n++] = t->sym_id[w[i]];
}

/* Length of the literal alternative lit at s (regex IGNORECASE), or 0. */
static size_t match_literal(const uint32_t *s, size_t n, const char *lit)
{
  size_t k = strlen(lit);
  if (k > n) return 0;
  for (size_t i = 0; i < k; i++)
    if (fr_uc_literal_fold(s[i]) != (unsigned char)lit[i]) return 0;
  return k;
}

static int is_exactly(const uint32_t *s, size_t n, const char *lit)
{
  size_t i = 0;
  while (i < n && lit[i] && s[i] == (unsigned char)lit[i]) i++;
  return i == n && !lit[i];
}

/* re.findall(<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+) on a
 * word (alternatives in order, first match wins; characters no alternative takes are skipped), then BPE. */
static void pretokenize(run *r, const uint32_t *s, size_t n)
{
  static const char *const lits[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  for (size_t i = 0; i < n && !full(r);) {
    size_t len = 0, lit = fr_uc_literal_fold(s[i]) == '<' || fr_uc_literal_fold(s[i]) == '\'';
    for (size_t k = 0; lit && k < sizeof lits / sizeof *lits && !len; k++) len = match_literal(s + i, n - i, lits[k]);
    if (!len) {
      unsigned p = fr_uc_props(s[i]), cls = p & (FR_UC_RX_LETTER | FR_UC_RX_NUMBER | FR_UC_RX_OTHER);
      if (!cls) {
        i++;
        continue;
      }
      len = 1;
      if (cls != FR_UC_RX_NUMBER)
        while (i + len < n && (fr_uc_props(s[i + len]) & cls)) len++;
    }
    if (is_exactly(s + i, len, "<|startoftext|>")) r->ids[r->n++] = r->t->sot_literal;
    else if (is_exactly(s + i, len, "<|endoftext|>")) r->ids[r->n++] = r->t->eot_literal;
    else bpe(r, s + i, len);
    i += len;
  }
}

/* CLIPTokenizer._tokenize on text between added tokens: BasicTokenizer(strip_accents=False,
 * do_split_on_punc=False), words re-joined by spaces, then the pre-tokenizer and BPE. */
static void tokenize_text(run *r, const uint32_t *s, size_t n)
{
  r->text.n = 0;
  for (size_t i = 0; i < n; i++) { /* _clean_text, then _tokenize_chinese_chars */
    unsigned p = fr_uc_props(s[i]);
    if (s[i] == 0 || s[i] == 0xfffd || (p & FR_UC_CONTROL)) continue;
    if (p & FR_UC_BLANK) push(&r->text, ' ');
    else if (is_cjk(s[i])) push(&r->text, ' '), push(&r->text, s[i]), push(&r->text, ' ');
    else push(&r->text, s[i]);
  }
  nfc(&r->text, &r->nfc);
  const uint32_t *v = r->nfc.v;
  size_t m = r->nfc.n;
  for (size_t i = 0; i < m && !full(r);) { /* str.split(), then str.lower() of each word */
    if (fr_uc_props(v[i]) & FR_UC_PYSPACE) {
      i++;
      continue;
    }
    size_t e = i;
    while (e < m && !(fr_uc_props(v[e]) & FR_UC_PYSPACE)) e++;
    r->word.n = 0;
    for (size_t k = i; k < e; k++) {
      uint32_t low[FR_UC_LOWER_MAX];
      int c = v[k] == 0x3a3 ? (low[0] = final_sigma(v + i, e - i, k - i) ? 0x3c2 : 0x3c3, 1) : fr_uc_lower(v[k], low);
      for (int j = 0; j < c; j++) push(&r->word, low[j]);
    }
    if (r->word.oom) return;
    pretokenize(r, r->word.v, r->word.n);
    i = e;
  }
}

/* A piece of the input: text, or an added token (tok >= 0), as PreTrainedTokenizer.tokenize splits it. */
typedef struct piece {
  size_t a, b;
  int tok;
} piece;

/* tokens_trie.split: leftmost-longest matches of the added tokens; empty pieces are dropped. */
static piece *split_added(const fr_tokenizer *t, const uint32_t *s, size_t n, size_t *count)
{
  size_t np = 0, cap = 16, start = 0;
  piece *p = malloc(cap * sizeof *p);
  *count = 0;
  if (!p) return NULL;
  for (size_t i = 0; i <= n;) {
    int best = -1;
    for (int k = 0; k < t->nadded && i < n; k++) {
      const added_token *a = &t->added[k];
      if (a->ncps <= n - i && (best < 0 || a->ncps > t->added[best].ncps) &&
          memcmp(s + i, a->cps, a->ncps * sizeof *s) == 0)
        best = k;
    }
    if (best < 0 && i < n) {
      i++;
      continue;
    }
    if (np + 2 > cap) {
      piece *q = realloc(p, (cap *= 2) * sizeof *p);
      if (!q) {
        free(p);
        return NULL;
      }
      p = q;
    }
    if (i > start) p[np++] = (piece){start, i, -1};
    if (best < 0) break;
    p[np++] = (piece){i, i + t->added[best].ncps, best};
    start = i += t->added[best].ncps;
  }
  *count = np;
  return p;
}

fr_status fr_tokenize(const fr_tokenizer *t, const char *text, size_t len, int32_t *ids, int *used)
{
  if (!t || !ids || (!text && len)) return fr_fail(FR_EINVAL, "fr_tokenize: NULL argument");
  uint32_t *cps;
  size_t n = 0, bad = 0, np = 0;
  int ok = utf8_decode_all(text, len, &cps, &n, &bad);
  if (ok < 0) return fr_fail(FR_ENOMEM, "fr_tokenize: out of memory");
  if (!ok)
    return fr_fail(FR_EINVAL, "fr_tokenize: invalid UTF-8 at byte offset %zu (byte 0x%02x)", bad,
                   (unsigned char)text[bad]);
  piece *p = split_added(t, cps, n, &np);
  run r = {.t = t, .ids = ids + 1, .cap = t->max_length - 2};
  for (size_t i = 0; p && i < np && !full(&r); i++) {
    if (p[i].tok >= 0) r.ids[r.n++] = t->added[p[i].tok].id;
    else tokenize_text(&r, cps + p[i].a, p[i].b - p[i].a);
  }
  int oom = !p || r.text.oom || r.nfc.oom || r.word.oom || r.sym.oom || r.rank.oom || r.src.oom;
  free(p);
  free(cps);
  free(r.text.v), free(r.nfc.v), free(r.word.v), free(r.sym.v), free(r.rank.v), free(r.src.v);
  if (oom) return fr_fail(FR_ENOMEM, "fr_tokenize: out of memory");
  ids[0] = t->bos;
  ids[r.n + 1] = t->eos;
  for (int i = r.n + 2; i < t->max_length; i++) ids[i] = t->pad;
  if (used) *used = r.n + 2;
  return FR_OK;
}
