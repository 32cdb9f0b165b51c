/* safetensors: a memory-mapped reader that validates the whole header before exposing a tensor, and a writer. */
#define _POSIX_C_SOURCE 200809L /* mmap, fstat, fsync, fileno */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fractal/safetensors.h"

struct fr_st_file {
  char *path;
  const unsigned char *map;
  size_t map_size;
  json_t *header;              /* kept alive: entry names and metadata values point into it */
  json_t *metadata;            /* borrowed from header; NULL if the file has none */
  fr_st_entry *entries;        /* sorted by data offset */
  const fr_st_entry **by_name; /* sorted by name, for O(log n) fr_st_find */
  int count;
};

/* What the validators need to word their messages and bound their offsets. */
typedef struct st_ctx {
  const char *path;
  const char *name; /* the tensor being checked */
  const unsigned char *blob;
  uint64_t blob_size;
} st_ctx;

static const char *json_kind(const json_t *v)
{
  static const char *const kinds[] = {
      [JSON_OBJECT] = "an object",   [JSON_ARRAY] = "an array",     [JSON_STRING] = "a string",
      [JSON_INTEGER] = "an integer", [JSON_REAL] = "a real number", [JSON_TRUE] = "a boolean",
      [JSON_FALSE] = "a boolean",    [JSON_NULL] = "null"};
  return kinds[json_typeof(v)];
}

/* v must be an array of lo..hi JSON integers >= 0 (JSON has no unsigned type; booleans and reals are not
 * sizes). They are stored in out, their count in *n. */
static fr_status parse_counts(const st_ctx *c, const char *field, const json_t *v, size_t lo, size_t hi, uint64_t *out,
                              size_t *n)
{
  if (!json_is_array(v))
    return fr_fail(FR_EFORMAT, "%s: tensor '%s': %s is %s, not an array", c->path, c->name, field, json_kind(v));
  *n = json_array_size(v);
  if (*n < lo || *n > hi)
    return lo == hi
               ? fr_fail(FR_EFORMAT, "%s: tensor '%s': %s has %zu elements, not %zu", c->path, c->name, field, *n, lo)
               : fr_fail(FR_EFORMAT, "%s: tensor '%s': %s has %zu dimensions, more than the %zu supported", c->path,
                         c->name, field, *n, hi);
  for (size_t i = 0; i < *n; i++) {
    const json_t *x = json_array_get(v, i);
    if (!json_is_integer(x))
      return fr_fail(FR_EFORMAT, "%s: tensor '%s': %s[%zu] is %s, not a non-negative integer", c->path, c->name, field,
                     i, json_kind(x));
    if (json_integer_value(x) < 0)
      return fr_fail(FR_EFORMAT, "%s: tensor '%s': %s[%zu] is negative (%lld)", c->path, c->name, field, i,
                     (long long)json_integer_value(x));
    out[i] = (uint64_t)json_integer_value(x); /* <= INT64_MAX: json_int_t is signed */
  }
  return FR_OK;
}

static fr_status parse_dtype(const st_ctx *c, const json_t *v, fr_dtype *out)
{
  if (!json_is_string(v))
    return fr_fail(FR_EFORMAT, "%s: tensor '%s': dtype is %s, not a string", c->path, c->name, json_kind(v));
  const char *s = json_string_value(v);
  for (*out = 0; *out < FR_DTYPE_COUNT; (*out)++)
    if (strcmp(s, fr_dtype_name(*out)) == 0) return FR_OK;
  return fr_fail(FR_EFORMAT, "%s: tensor '%s': unknown dtype '%s'", c->path, c->name, s);
}

/* Bytes for dtype x shape, or 0 with *ok = 0 when it exceeds INT64_MAX. Zero dims are skipped in the
 * product so that no prefix product (as fr_tensor_numel computes it) can overflow either. */
static uint64_t byte_size(fr_dtype dtype, int ndim, const int64_t *shape, int *ok)
{
  uint64_t bytes = fr_dtype_size(dtype), zero = 0;
  *ok = 1;
  for (int i = 0; i < ndim; i++) {
    uint64_t d = (uint64_t)shape[i];
    zero |= d == 0;
    if (d != 0 && bytes > (uint64_t)INT64_MAX / d) return (uint64_t)(*ok = 0);
    bytes *= d ? d : 1;
  }
  return zero ? 0 : bytes;
}

/* The byte count implied by dtype and shape must match the offsets, which must lie inside the blob. */
static fr_status check_extent(const st_ctx *c, const fr_st_entry *e)
{
  char sh[160];
  fr_tensor t = fr_tensor_make_dims(e->dtype, NULL, e->ndim, e->shape);
  int ok;
  unsigned long long need = byte_size(e->dtype, e->ndim, e->shape, &ok);
  unsigned long long begin = e->offset, end = e->offset + e->nbytes, blob = c->blob_size;
  const char *dt = fr_dtype_name(e->dtype);
  fr_shape_str(&t, sh, sizeof sh);
  if (!ok)
    return fr_fail(FR_EFORMAT, "%s: tensor '%s': byte size of %s %s overflows (more than 2^63 - 1 bytes)", c->path,
                   c->name, dt, sh);
  if (need != e->nbytes)
    return fr_fail(FR_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu) hold %llu bytes but %s %s needs %llu",
                   c->path, c->name, begin, end, end - begin, dt, sh, need);
  if (end > blob)
    return fr_fail(FR_EFORMAT,
                   "%s: tensor '%s': data_offsets [%llu, %llu) run past the end of the data blob (%llu "
                   "bytes)",
                   c->path, c->name, begin, end, blob);
  return FR_OK;
}

static fr_status parse_entry(const st_ctx *c, const json_t *v, fr_st_entry *e)
{
  if (c->name[0] == '\0') return fr_fail(FR_EFORMAT, "%s: a tensor has an empty name", c->path);
  if (!json_is_object(v))
    return fr_fail(FR_EFORMAT, "%s: tensor '%s': entry is %s, not an object", c->path, c->name, json_kind(v));
  static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
  for (int i = 0; i < 3; i++)
    if (!json_object_get(v, fields[i]))
      return fr_fail(FR_EFORMAT, "%s: tensor '%s': missing field '%s'", c->path, c->name, fields[i]);
  if (json_object_size(v) != 3) { /* all three are present, so some other key is too */
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
      if (strcmp(key, "dtype") != 0 && strcmp(key, "shape") != 0 && strcmp(key, "data_offsets") != 0)
        return fr_fail(FR_EFORMAT, "%s: tensor '%s': unexpected field '%s'", c->path, c->name, key);
    }
  }
  memset(e, 0, sizeof *e);
  e->name = c->name;
  FR_TRY(parse_dtype(c, json_object_get(v, "dtype"), &e->dtype));
  uint64_t dims[FR_MAX_DIMS], off[2];
  size_t ndim, two;
  FR_TRY(parse_counts(c, "shape", json_object_get(v, "shape"), 0, FR_MAX_DIMS, dims, &ndim));
  FR_TRY(parse_counts(c, "data_offsets", json_object_get(v, "data_offsets"), 2, 2, off, &two));
  if (off[0] > off[1])
    return fr_fail(FR_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu) end before they begin", c->path, c->name,
                   (unsigned long long)off[0], (unsigned long long)off[1]);
  e->ndim = (int)ndim;
  for (size_t i = 0; i < ndim; i++) e->shape[i] = (int64_t)dims[i];
  e->offset = off[0];
  e->nbytes = off[1] - off[0];
  FR_TRY(check_extent(c, e));
  e->data = c->blob + e->offset;
  return FR_OK;
}

static fr_status check_metadata(const char *path, const json_t *m)
{
  if (!json_is_object(m))
    return fr_fail(FR_EFORMAT, "%s: \"__metadata__\" is %s, not an object of strings", path, json_kind(m));
  const char *key;
  const json_t *val;
  json_object_foreach((json_t *)m, key, val) if (!json_is_string(val)) return fr_fail(
      FR_EFORMAT, "%s: \"__metadata__\" value for key '%s' is %s, not a string", path, key, json_kind(val));
  return FR_OK;
}

static int cmp_offset(const void *pa, const void *pb)
{
  const fr_st_entry *a = pa, *b = pb;
  if (a->offset != b->offset) return a->offset < b->offset ? -1 : 1;
  if (a->nbytes != b->nbytes) return a->nbytes < b->nbytes ? -1 : 1; /* empty tensors before their neighbour */
  return strcmp(a->name, b->name);
}

static int cmp_name(const void *pa, const void *pb)
{
  return strcmp((*(const fr_st_entry *const *)pa)->name, (*(const fr_st_entry *const *)pb)->name);
}

/* Tensors sorted by offset must tile the blob exactly: no overlap, no hole, nothing left over. */
static fr_status check_tiling(const char *path, const fr_st_entry *e, int n, uint64_t blob_size)
{
  uint64_t next = 0;
  for (int i = 0; i < n; i++) {
    unsigned long long b = e[i].offset, end = e[i].offset + e[i].nbytes;
    if (b < next)
      return fr_fail(FR_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu) overlap tensor '%s' at [%llu, %llu)", path,
                     e[i].name, b, end, e[i - 1].name, (unsigned long long)e[i - 1].offset, (unsigned long long)next);
    if (b > next)
      return fr_fail(FR_EFORMAT, "%s: bytes [%llu, %llu) of the data blob are not covered by any tensor (before '%s')",
                     path, (unsigned long long)next, b, e[i].name);
    next = end;
  }
  if (next != blob_size)
    return fr_fail(FR_EFORMAT, "%s: bytes [%llu, %llu) of the data blob are not covered by any tensor (%s)", path,
                   (unsigned long long)next, (unsigned long long)blob_size,
                   n ? "after the last tensor" : "the header lists none");
  return FR_OK;
}

/* Parses the JSON text; jansson rejects duplicate keys and bad UTF-8, we reject non-space trailing bytes. */
static fr_status load_json(const char *path, const char *text, size_t n, json_t **out)
{
  json_error_t err;
  json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &err);
  if (!root) {
    enum json_error_code code = json_error_code(&err);
    const char *what = code == json_error_invalid_utf8    ? "is not valid UTF-8"
                       : code == json_error_duplicate_key ? "has a duplicate key"
                                                          : "is not valid JSON";
    return fr_fail(FR_EFORMAT, "%s: header %s: %s (line %d, column %d)", path, what, err.text, err.line, err.column);
  }
  size_t i = (size_t)err.position; /* on success, the bytes consumed */
  while (i < n && text[i] == ' ') i++;
  fr_status s = FR_OK;
  if (i < n)
    s = fr_fail(FR_EFORMAT,
                "%s: header has trailing bytes after the JSON object at header byte %zu (0x%02x); only "
                "space padding is allowed",
                path, i, (unsigned char)text[i]);
  else if (!json_is_object(root)) s = fr_fail(FR_EFORMAT, "%s: header is %s, not a JSON object", path, json_kind(root));
  if (s != FR_OK) json_decref(root);
  else *out = root;
  return s;
}

/* Checks the length prefix against the file and returns the header length. */
static fr_status check_prefix(const char *path, const unsigned char *map, size_t size, uint64_t *hlen)
{
  if (size < 8)
    return fr_fail(FR_EFORMAT, "%s: file is %zu bytes long, shorter than the 8-byte header length field", path, size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | map[i];
  if (n == 0) return fr_fail(FR_EFORMAT, "%s: header length is 0", path);
  if (n > FR_ST_MAX_HEADER) /* before anything is allocated for it */
    return fr_fail(FR_EFORMAT, "%s: header length %llu exceeds the limit of %u bytes", path, (unsigned long long)n,
                   FR_ST_MAX_HEADER);
  if (n > size - 8)
    return fr_fail(FR_EFORMAT,
                   "%s: header length %llu runs past the end of the file (the file has %zu bytes, so "
                   "at most %zu are left for the header)",
                   path, (unsigned long long)n, size, size - 8);
  *hlen = n;
  return FR_OK;
}

static fr_status map_file(const char *path, const unsigned char **map, size_t *size)
{
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* O_NONBLOCK: a FIFO must not hang the open */
  if (fd < 0) return fr_fail(FR_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  void *p = NULL;
  fr_status s = FR_OK;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) s = fr_fail(FR_EIO, "%s: cannot stat, or not a regular file", path);
  /* shorter files are reported by check_prefix (and mmap of 0 bytes is an error) */
  else if ((*size = (size_t)st.st_size) >= 8 && (p = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
    s = fr_fail(FR_EIO, "%s: cannot map %zu bytes: %s", path, *size, strerror(errno));
  close(fd); /* the mapping stays valid without the descriptor */
  *map = s == FR_OK ? p : NULL;
  return s;
}

/* Validates every entry of the parsed header, then sorts and indexes them. */
static fr_status build_entries(fr_st_file *f, uint64_t hlen)
{
  st_ctx c = {f->path, NULL, f->map + 8 + hlen, (uint64_t)f->map_size - 8 - hlen};
  size_t total = json_object_size(f->header);
  f->metadata = json_object_get(f->header, "__metadata__");
  if (f->metadata) FR_TRY(check_metadata(f->path, f->metadata));
  size_t n = total - (f->metadata ? 1 : 0);
  if (n > (size_t)INT32_MAX) return fr_fail(FR_EFORMAT, "%s: header lists %zu tensors, too many", f->path, n);
  f->entries = calloc(n ? n : 1, sizeof *f->entries);
  f->by_name = calloc(n ? n : 1, sizeof *f->by_name);
  if (!f->entries || !f->by_name) return fr_fail(FR_ENOMEM, "%s: no memory for %zu tensor entries", f->path, n);
  const char *key;
  json_t *val;
  json_object_foreach(f->header, key, val)
  {
    if (strcmp(key, "__metadata__") == 0) continue;
    c.name = key;
    FR_TRY(parse_entry(&c, val, &f->entries[f->count]));
    f->count++;
  }
  qsort(f->entries, n, sizeof *f->entries, cmp_offset);
  FR_TRY(check_tiling(f->path, f->entries, f->count, c.blob_size));
  for (int i = 0; i < f->count; i++) f->by_name[i] = &f->entries[i];
  qsort(f->by_name, n, sizeof *f->by_name, cmp_name);
  return FR_OK;
}

fr_status fr_st_open(const char *path, fr_st_file **out)
{
  if (!out) return fr_fail(FR_EINVAL, "fr_st_open: out is NULL");
  *out = NULL;
  if (!path) return fr_fail(FR_EINVAL, "fr_st_open: path is NULL");
  fr_st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = strdup(path))) {
    free(f);
    return fr_fail(FR_ENOMEM, "%s: no memory to open", path);
  }
  uint64_t hlen = 0;
  fr_status s = map_file(path, &f->map, &f->map_size);
  if (s == FR_OK) s = check_prefix(path, f->map, f->map_size, &hlen);
  if (s == FR_OK) s = load_json(path, (const char *)f->map + 8, (size_t)hlen, &f->header);
  if (s == FR_OK) s = build_entries(f, hlen);
  if (s != FR_OK) {
    fr_st_close(f);
    return s;
  }
  *out = f;
  return FR_OK;
}

void fr_st_close(fr_st_file *f)
{
  if (!f) return;
  if (f->map) munmap((void *)f->map, f->map_size);
  json_decref(f->header);
  free(f->entries);
  free(f->by_name);
  free(f->path);
  free(f);
}

int fr_st_count(const fr_st_file *f) { return f ? f->count : 0; }
const char *fr_st_path(const fr_st_file *f) { return f ? f->path : NULL; }

const fr_st_entry *fr_st_entry_at(const fr_st_file *f, int i)
{
  return f && i >= 0 && i < f->count ? &f->entries[i] : NULL;
}

const fr_st_entry *fr_st_find(const fr_st_file *f, const char *name)
{
  if (!f || !name || f->count == 0) return NULL;
  fr_st_entry key = {.name = name};
  const fr_st_entry *kp = &key, **hit = bsearch(&kp, f->by_name, (size_t)f->count, sizeof *f->by_name, cmp_name);
  return hit ? *hit : NULL;
}

const char *fr_st_metadata(const fr_st_file *f, const char *key)
{
  if (!f || !f->metadata || !key) return NULL;
  return json_string_value(json_object_get(f->metadata, key));
}

fr_tensor fr_st_tensor(const fr_st_entry *e)
{
  /* fr_tensor has no const data; the mapping is read-only, so writing through it faults. */
  return fr_tensor_make_dims(e->dtype, (void *)(uintptr_t)e->data, e->ndim, e->shape);
}

fr_status fr_st_read_f32(const fr_st_entry *e, float *dst)
{
  if (!e) return fr_fail(FR_EINVAL, "fr_st_read_f32: entry is NULL");
  if (e->dtype != FR_F32 && e->dtype != FR_F16 && e->dtype != FR_BF16)
    return fr_fail(FR_EINVAL, "tensor '%s' is %s; only F32, F16 and BF16 can be read as float32", e->name,
                   fr_dtype_name(e->dtype));
  int64_t n = (int64_t)(e->nbytes / fr_dtype_size(e->dtype));
  if (n > 0 && !dst) return fr_fail(FR_EINVAL, "fr_st_read_f32: tensor '%s': dst is NULL", e->name);
  if (n > 0) fr_widen_f32(e->dtype, e->data, dst, n);
  return FR_OK;
}

/* ---- writer ---- */

struct fr_st_writer {
  json_t *tensors;     /* name -> header entry, in the order added (jansson keeps insertion order) */
  json_t *metadata;    /* key -> string value, in the order added */
  unsigned char *blob; /* the data of every tensor, contiguous in the order added */
  uint64_t blob_size, blob_cap;
};

fr_st_writer *fr_st_writer_new(void)
{
  fr_st_writer *w = calloc(1, sizeof *w);
  if (w && (w->tensors = json_object()) && (w->metadata = json_object())) return w;
  fr_st_writer_free(w);
  fr_fail(FR_ENOMEM, "fr_st_writer_new: out of memory");
  return NULL;
}

void fr_st_writer_free(fr_st_writer *w)
{
  if (!w) return;
  json_decref(w->tensors);
  json_decref(w->metadata);
  free(w->blob);
  free(w);
}

fr_status fr_st_writer_metadata(fr_st_writer *w, const char *key, const char *value)
{
  if (!w || !key || !value) return fr_fail(FR_EINVAL, "fr_st_writer_metadata: NULL argument");
  json_t *v = json_string(value); /* NULL for invalid UTF-8 */
  if (!v || json_object_set_new(w->metadata, key, v) != 0)
    return fr_fail(FR_EINVAL, "safetensors metadata '%s': key or value is not valid UTF-8", key);
  return FR_OK;
}

/* The checks of fr_st_writer_add that do not involve the data; returns the byte size through *nbytes. */
static fr_status check_add(const fr_st_writer *w, const char *name, fr_dtype dtype, int ndim, const int64_t *shape,
                           uint64_t *nbytes)
{
  if (!w || !name) return fr_fail(FR_EINVAL, "fr_st_writer_add: NULL writer or name");
  if (!name[0] || strcmp(name, "__metadata__") == 0)
    return fr_fail(FR_EINVAL, "safetensors tensor '%s': name is empty or reserved", name);
  if (json_object_get(w->tensors, name)) return fr_fail(FR_EINVAL, "safetensors tensor '%s': name added twice", name);
  if ((unsigned)dtype >= FR_DTYPE_COUNT)
    return fr_fail(FR_EINVAL, "safetensors tensor '%s': bad dtype %d", name, (int)dtype);
  if (ndim < 0 || ndim > FR_MAX_DIMS || (ndim > 0 && !shape))
    return fr_fail(FR_EINVAL, "safetensors tensor '%s': ndim %d is not in 0..%d (or shape is NULL)", name, ndim,
                   FR_MAX_DIMS);
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0) return fr_fail(FR_EINVAL, "safetensors tensor '%s': shape[%d] is negative", name, i);
  int ok;
  *nbytes = byte_size(dtype, ndim, shape, &ok);
  if (!ok || *nbytes > (uint64_t)INT64_MAX - w->blob_size || w->blob_size + *nbytes > SIZE_MAX / 2)
    return fr_fail(FR_EINVAL, "safetensors tensor '%s': byte size overflows", name);
  return FR_OK;
}

static json_t *header_entry(fr_dtype dtype, int ndim, const int64_t *shape, uint64_t begin, uint64_t end)
{
  json_t *dims = json_array();
  for (int i = 0; dims && i < ndim; i++)
    if (json_array_append_new(dims, json_integer(shape[i])) != 0) {
      json_decref(dims);
      return NULL;
    }
  /* "o" takes the reference to dims, and fails cleanly when dims is NULL */
  return json_pack("{s:s, s:o, s:[I, I]}", "dtype", fr_dtype_name(dtype), "shape", dims, "data_offsets",
                   (json_int_t)begin, (json_int_t)end);
}

fr_status fr_st_writer_add(fr_st_writer *w, const char *name, fr_dtype dtype, int ndim, const int64_t *shape,
                           const void *data)
{
  uint64_t nbytes = 0;
  FR_TRY(check_add(w, name, dtype, ndim, shape, &nbytes));
  if (nbytes > 0 && !data) return fr_fail(FR_EINVAL, "safetensors tensor '%s': data is NULL", name);
  uint64_t need = w->blob_size + nbytes;
  if (need > w->blob_cap) { /* grows geometrically: adding n tensors copies O(total) bytes */
    uint64_t cap = w->blob_cap + w->blob_cap / 2 > need ? w->blob_cap + w->blob_cap / 2 : need;
    unsigned char *blob = realloc(w->blob, (size_t)cap);
    if (!blob)
      return fr_fail(FR_ENOMEM, "safetensors tensor '%s': no memory for %llu bytes", name, (unsigned long long)cap);
    w->blob = blob;
    w->blob_cap = cap;
  }
  json_t *entry = header_entry(dtype, ndim, shape, w->blob_size, need);
  if (!entry || json_object_set_new(w->tensors, name, entry) != 0) /* which releases entry */
    return fr_fail(FR_EINVAL, "safetensors tensor '%s': out of memory, or name is not valid UTF-8", name);
  if (nbytes) memcpy(w->blob + w->blob_size, data, (size_t)nbytes);
  w->blob_size = need;
  return FR_OK;
}

/* The compact header JSON, "__metadata__" first, then the tensors in the order added. */
static char *header_text(const fr_st_writer *w)
{
  json_t *root = json_object();
  if (!root) return NULL;
  int bad = json_object_size(w->metadata) && json_object_set(root, "__metadata__", w->metadata) != 0;
  const char *key;
  json_t *val;
  json_object_foreach(w->tensors, key, val) bad |= json_object_set(root, key, val) != 0;
  char *text = bad ? NULL : json_dumps(root, JSON_COMPACT);
  json_decref(root);
  return text;
}

/* Writes prefix, header, space padding (so that the data starts at a multiple of 8) and data. */
static fr_status write_all(const fr_st_writer *w, const char *tmp, const char *text)
{
  size_t n = strlen(text), pad = (8 - (8 + n) % 8) % 8;
  FILE *fp = fopen(tmp, "wb");
  if (!fp) return fr_fail(FR_EIO, "%s: cannot create: %s", tmp, strerror(errno));
  unsigned char prefix[8];
  for (int i = 0; i < 8; i++) prefix[i] = (unsigned char)((uint64_t)(n + pad) >> (8 * i));
  int ok = fwrite(prefix, 1, 8, fp) == 8 && fwrite(text, 1, n, fp) == n && fwrite("        ", 1, pad, fp) == pad &&
           (w->blob_size == 0 || fwrite(w->blob, 1, (size_t)w->blob_size, fp) == w->blob_size);
  ok = ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0; /* durable before the rename makes it visible */
  int err = errno;
  if (fclose(fp) != 0 && ok) {
    ok = 0;
    err = errno;
  }
  return ok ? FR_OK : fr_fail(FR_EIO, "%s: write failed: %s", tmp, strerror(err));
}

fr_status fr_st_writer_save(const fr_st_writer *w, const char *path)
{
  if (!w || !path) return fr_fail(FR_EINVAL, "fr_st_writer_save: NULL writer or path");
  char *text = header_text(w), *tmp = malloc(strlen(path) + 5);
  fr_status s = FR_OK;
  if (!text || !tmp) s = fr_fail(FR_ENOMEM, "%s: out of memory building the header", path);
  else if (strlen(text) + 7 > FR_ST_MAX_HEADER) /* the reader would refuse it */
    s = fr_fail(FR_EINVAL, "%s: header of %zu bytes exceeds the limit of %u", path, strlen(text), FR_ST_MAX_HEADER);
  if (s == FR_OK) {
    sprintf(tmp, "%s.tmp", path);
    s = write_all(w, tmp, text);
    if (s == FR_OK && rename(tmp, path) != 0)
      s = fr_fail(FR_EIO, "%s: cannot rename %s onto it: %s", path, tmp, strerror(errno));
    if (s != FR_OK) remove(tmp); /* leaves no half-written file behind */
  }
  free(text);
  free(tmp);
  return s;
}
