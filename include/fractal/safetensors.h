/* safetensors files: a validating, memory-mapped reader and a small writer.
 * Format: u64 little-endian header length N, N bytes of JSON header, then the data blob. The reader
 * trusts nothing: every length, dtype, shape and offset is checked before a tensor is exposed. */
#ifndef FRACTAL_SAFETENSORS_H
#define FRACTAL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/status.h"
#include "fractal/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_ST_MAX_HEADER (100u * 1024u * 1024u) /* header JSON larger than this is refused */

typedef struct fr_st_entry {
  const char *name;
  fr_dtype dtype;
  int ndim;
  int64_t shape[FR_MAX_DIMS];
  const void *data; /* inside the mapping; not necessarily aligned */
  uint64_t offset;  /* from the start of the data blob */
  uint64_t nbytes;
} fr_st_entry;

typedef struct fr_st_file fr_st_file;

/* Maps and validates a file. On failure *out is NULL and fr_last_error() names the file and the
 * first problem found (e.g. "model.safetensors: tensor 'a.weight': data_offsets [0, 12) hold 12
 * bytes but F32 [2, 2] needs 16"). */
fr_status fr_st_open(const char *path, fr_st_file **out);
void fr_st_close(fr_st_file *f);

int fr_st_count(const fr_st_file *f);
const fr_st_entry *fr_st_entry_at(const fr_st_file *f, int i); /* in data-offset order */
const fr_st_entry *fr_st_find(const fr_st_file *f, const char *name);
const char *fr_st_path(const fr_st_file *f);
/* A "__metadata__" string value, or NULL. */
const char *fr_st_metadata(const fr_st_file *f, const char *key);

/* A host tensor view of an entry (dtype and shape as stored). */
fr_tensor fr_st_tensor(const fr_st_entry *e);
/* Widens an F32/F16/BF16 entry to float32 into dst (numel floats); exact. */
fr_status fr_st_read_f32(const fr_st_entry *e, float *dst);

/* Writing: collect tensors, then write them in the order added, data contiguous, header padded with
 * spaces to a multiple of 8 bytes. Data is copied when added. */
typedef struct fr_st_writer fr_st_writer;
fr_st_writer *fr_st_writer_new(void);
void fr_st_writer_free(fr_st_writer *w);
fr_status fr_st_writer_metadata(fr_st_writer *w, const char *key, const char *value);
fr_status fr_st_writer_add(fr_st_writer *w, const char *name, fr_dtype dtype, int ndim, const int64_t *shape,
                           const void *data);
fr_status fr_st_writer_save(const fr_st_writer *w, const char *path);

#ifdef __cplusplus
}
#endif
#endif
