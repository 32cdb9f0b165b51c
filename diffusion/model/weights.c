/* Weight files and the binder (see weights.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "model/config.h"
#include "model/weights.h"

#define PROBLEMS_SHOWN 40

static int file_exists(const char *path) { return access(path, R_OK) == 0; }

/* Opens the shards named in an index.json's weight_map (each file once, in first-seen order). */
static fr_status open_index(fr_weights *w, const char *index_path)
{
  char *text;
  FR_TRY(fr_read_text_file(index_path, 64u << 20, &text));
  json_error_t e;
  json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &e);
  free(text);
  json_t *map = root ? json_object_get(root, "weight_map") : NULL;
  if (!json_is_object(map)) {
    json_decref(root);
    return fr_fail(FR_EFORMAT, "%s: no weight_map object%s%s", index_path, root ? "" : ": ", root ? "" : e.text);
  }
  const char *name;
  json_t *file;
  fr_status st = FR_OK;
  const char *seen[FR_WEIGHT_FILES_MAX] = {0};
  json_object_foreach(map, name, file)
  {
    const char *f = json_string_value(file);
    if (!f || strchr(f, '/') || strcmp(f, "..") == 0) {
      st = fr_fail(FR_EFORMAT, "%s: weight_map[\"%s\"] is not a file name in the same folder", index_path, name);
      break;
    }
    int known = 0;
    for (int i = 0; i < w->nfiles; i++) known |= strcmp(seen[i], f) == 0;
    if (known) continue;
    if (w->nfiles == FR_WEIGHT_FILES_MAX) {
      st = fr_fail(FR_EFORMAT, "%s: more than %d shards", index_path, FR_WEIGHT_FILES_MAX);
      break;
    }
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", w->dir, f);
    st = fr_st_open(path, &w->files[w->nfiles]);
    if (st != FR_OK) break;
    seen[w->nfiles++] = f;
  }
  json_decref(root);
  return st;
}

fr_status fr_weights_open(const char *dir, const char *stem, const char *variant, fr_weights *w)
{
  memset(w, 0, sizeof *w);
  snprintf(w->dir, sizeof w->dir, "%s", dir);
  const char *variants[2] = {variant, variant ? NULL : "fp16"};
  char path[2048], index[2048];
  for (int v = 0; v < 2; v++) {
    if (v == 1 && !variants[1]) break;
    const char *var = variants[v];
    snprintf(path, sizeof path, "%s/%s%s%s.safetensors", dir, stem, var ? "." : "", var ? var : "");
    snprintf(index, sizeof index, "%s.index.json", path);
    if (file_exists(path)) {
      fr_status st = fr_st_open(path, &w->files[0]);
      if (st == FR_OK) w->nfiles = 1;
      return st;
    }
    if (file_exists(index)) {
      fr_status st = open_index(w, index);
      if (st != FR_OK) fr_weights_close(w);
      return st;
    }
  }
  return fr_fail(FR_EIO, "%s: no %s%s%s.safetensors (or .index.json) weights found%s", dir, stem, variant ? "." : "",
                 variant ? variant : "", variant ? "" : " (also tried the fp16 variant)");
}

void fr_weights_close(fr_weights *w)
{
  for (int i = 0; i < w->nfiles; i++) fr_st_close(w->files[i]);
  w->nfiles = 0;
}

const fr_st_entry *fr_weights_find(const fr_weights *w, const char *name)
{
  for (int i = 0; i < w->nfiles; i++) {
    const fr_st_entry *e = fr_st_find(w->files[i], name);
    if (e) return e;
  }
  return NULL;
}

void fr_binder_init(fr_binder *b, fr_bind_mode mode, fr_backend *be, const fr_weights *w, const char *component)
{
  memset(b, 0, sizeof *b);
  b->mode = mode;
  b->be = be;
  b->w = w;
  b->component = component;
}

static void problem(fr_binder *b, const char *fmt, ...)
{
  b->nproblems++;
  if (b->nproblems > PROBLEMS_SHOWN) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  size_t n = strlen(line);
  char *p = (char *)realloc(b->problems, b->problems_len + n + 6);
  if (!p) return;
  b->problems = p;
  b->problems_len += (size_t)snprintf(p + b->problems_len, n + 6, "\n  - %s", line);
}

fr_status fr_binder_finish(fr_binder *b)
{
  if (b->failure != FR_OK) return b->failure;
  if (b->nproblems == 0) return FR_OK;
  return fr_fail(FR_EFORMAT, "%s weights (%s): %d problem%s%s%s", b->component, b->w ? b->w->dir : "-", b->nproblems,
                 b->nproblems == 1 ? "" : "s", b->problems ? b->problems : "",
                 b->nproblems > PROBLEMS_SHOWN ? "\n  - ... (more not shown)" : "");
}

void fr_binder_free(fr_binder *b)
{
  for (int i = 0; i < b->nallocs; i++) {
    fr_tensor t = fr_tensor_make(FR_U8, b->allocs[i], 0);
    t.device = fr_backend_device(b->be);
    fr_tensor_free(b->be, &t);
  }
  free(b->allocs);
  free(b->problems);
  b->allocs = NULL, b->problems = NULL;
  b->nallocs = b->cap_allocs = 0;
}

static const char *shape_text(int ndim, const int64_t *shape, char *buf, size_t n)
{
  fr_tensor t = fr_tensor_make_dims(FR_F32, NULL, ndim, shape);
  return fr_shape_str(&t, buf, n);
}

/* Does the stored shape match? A [o, i, 1, 1] conv weight may stand for a [o, i] linear one. */
static int shape_ok(const fr_st_entry *e, int ndim, const int64_t *shape, int linear_from_conv)
{
  if (e->ndim == ndim) {
    for (int i = 0; i < ndim; i++)
      if (e->shape[i] != shape[i]) return 0;
    return 1;
  }
  return linear_from_conv && ndim == 2 && e->ndim == 4 && e->shape[0] == shape[0] && e->shape[1] == shape[1] &&
         e->shape[2] == 1 && e->shape[3] == 1;
}

/* A device tensor holding host bytes, owned by the binder (b->allocs); on failure the binder records it. */
static fr_status upload_owned(fr_binder *b, fr_tensor *dst, fr_dtype dtype, int ndim, const int64_t *shape,
                              const void *host, const char *name)
{
  fr_status st = fr_tensor_alloc(b->be, dtype, ndim, shape, dst);
  if (st == FR_OK) st = fr_tensor_upload(b->be, dst, host);
  if (st == FR_OK && b->nallocs == b->cap_allocs) {
    int cap = b->cap_allocs ? 2 * b->cap_allocs : 256;
    void **a = (void **)realloc(b->allocs, sizeof *a * (size_t)cap);
    if (!a) st = fr_fail(FR_ENOMEM, "out of memory");
    else b->allocs = a, b->cap_allocs = cap;
  }
  if (st != FR_OK) {
    if (dst->data) fr_tensor_free(b->be, dst);
    dst->data = NULL;
    if (b->failure == FR_OK) b->failure = fr_fail_context(st, "%s: loading %s", b->component, name);
    return st;
  }
  b->allocs[b->nallocs++] = dst->data;
  return FR_OK;
}

static void load(fr_binder *b, fr_tensor *dst, const char *name, const fr_st_entry *e, int ndim, const int64_t *shape)
{
  if (upload_owned(b, dst, e->dtype, ndim, shape, e->data, name) != FR_OK) return;
  if (b->digest) {
    fr_hasher_str(b->digest, name);
    fr_hasher_str(b->digest, fr_dtype_name(e->dtype));
    fr_hasher_u64(b->digest, (uint64_t)ndim);
    for (int i = 0; i < ndim; i++) fr_hasher_u64(b->digest, (uint64_t)shape[i]);
    fr_hasher_bytes(b->digest, e->data, (size_t)e->nbytes);
  }
}

void fr_bind_either(fr_binder *b, fr_tensor *dst, int ndim, const int64_t *shape, const char *name,
                    const char *legacy_name, int linear_from_conv)
{
  char want[96], got[96];
  *dst = fr_tensor_make_dims(FR_F32, NULL, ndim, shape);
  b->count++;
  if (b->mode == FR_BIND_LIST) {
    if (b->on_tensor) b->on_tensor(b->ctx, name, ndim, shape);
    return;
  }
  if (b->failure != FR_OK) return;
  const char *used = name;
  const fr_st_entry *e = fr_weights_find(b->w, name);
  if (!e && legacy_name) e = fr_weights_find(b->w, used = legacy_name);
  if (!e) {
    problem(b, legacy_name ? "%s (or %s): missing" : "%s: missing", name, legacy_name);
    return;
  }
  if (e->dtype != FR_F32 && e->dtype != FR_F16 && e->dtype != FR_BF16) {
    problem(b, "%s: dtype %s is not supported (F32, F16 or BF16)", used, fr_dtype_name(e->dtype));
    return;
  }
  if (!shape_ok(e, ndim, shape, linear_from_conv)) {
    fr_tensor et = fr_tensor_make_dims(e->dtype, NULL, e->ndim, e->shape);
    problem(b, "%s: shape %s in the file, the config needs %s", used, fr_shape_str(&et, got, sizeof got),
            shape_text(ndim, shape, want, sizeof want));
    return;
  }
  b->bytes += (size_t)e->nbytes;
  if (b->mode == FR_BIND_LOAD) load(b, dst, name, e, ndim, shape);
}

void fr_bind_quantized(fr_binder *b, const fr_tensor *w, fr_qweight *q)
{
  memset(q, 0, sizeof *q);
  if (b->mode != FR_BIND_LOAD || b->quantize_bits <= 0 || b->failure != FR_OK || !w->data) return;
  int64_t rows = w->shape[0];
  int16_t *qv;
  int32_t *ev;
  fr_status st = fr_i8x_quantize_device_weight(b->be, w, b->quantize_bits, &qv, &ev);
  if (st != FR_OK && b->failure == FR_OK) b->failure = fr_fail_context(st, "%s: quantizing a weight", b->component);
  if (st == FR_OK && upload_owned(b, &q->q, FR_I16, w->ndim, w->shape, qv, "a quantized weight") == FR_OK &&
      upload_owned(b, &q->e, FR_I32, 1, &rows, ev, "a quantized weight's exponents") == FR_OK)
    q->bits = b->quantize_bits;
  free(qv), free(ev);
}

void fr_bind(fr_binder *b, fr_tensor *dst, int ndim, const int64_t *shape, const char *fmt, ...)
{
  char name[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  fr_bind_either(b, dst, ndim, shape, name, NULL, 0);
}
