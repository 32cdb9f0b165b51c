/* A model component's weights: its safetensors file(s), and the binder that model code uses to claim
 * every tensor it needs by name and shape. One pass checks everything and reports every problem at
 * once; a second uploads to the backend and folds each tensor into the model digest. The same bind
 * code lists the tensors a configuration needs (fractal-mkmodel, tests). Internal to diffusion/. */
#ifndef FRACTAL_WEIGHTS_H
#define FRACTAL_WEIGHTS_H

#include "fractal/backend.h"
#include "fractal/hash.h"
#include "fractal/safetensors.h"

#define FR_WEIGHT_FILES_MAX 64

typedef struct fr_weights {
  char dir[1024];
  fr_st_file *files[FR_WEIGHT_FILES_MAX];
  int nfiles;
} fr_weights;

/* Opens dir/<stem>[.<variant>].safetensors, or the shards listed by
 * dir/<stem>[.<variant>].safetensors.index.json. variant NULL: the plain file if present, else the
 * "fp16" variant. */
fr_status fr_weights_open(const char *dir, const char *stem, const char *variant, fr_weights *out);
void fr_weights_close(fr_weights *w);
const fr_st_entry *fr_weights_find(const fr_weights *w, const char *name);

typedef enum fr_bind_mode {
  FR_BIND_CHECK, /* look every tensor up, record problems */
  FR_BIND_LOAD,  /* upload to the backend and hash */
  FR_BIND_LIST,  /* no file: report names and shapes to on_tensor */
} fr_bind_mode;

typedef struct fr_binder {
  fr_bind_mode mode;
  fr_backend *be;
  const fr_weights *w;
  const char *component;
  fr_hasher *digest; /* LOAD: every bound tensor (name, dtype, shape, bytes) in bind order */
  int quantize_bits; /* LOAD: > 0 also quantizes the GEMM weights for i8x-v1 (fr_bind_quantized) */
  void (*on_tensor)(void *ctx, const char *name, int ndim, const int64_t *shape);
  void *ctx;
  /* results */
  char *problems;
  size_t problems_len;
  int nproblems;
  fr_status failure; /* an allocation or device failure during LOAD */
  int count;
  size_t bytes;
  void **allocs; /* LOAD: device buffers of the bound tensors, owned by the caller afterwards */
  int nallocs, cap_allocs;
} fr_binder;

void fr_binder_init(fr_binder *b, fr_bind_mode mode, fr_backend *be, const fr_weights *w, const char *component);
/* FR_OK, or FR_EFORMAT listing every problem found (missing, wrong shape, unsupported dtype). */
fr_status fr_binder_finish(fr_binder *b);

/* Claims the tensor named by fmt with the given shape. In LOAD mode *dst is the uploaded tensor. */
void fr_bind(fr_binder *b, fr_tensor *dst, int ndim, const int64_t *shape, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
/* The same, trying name then legacy_name (both already formatted); a [o, i, 1, 1] conv weight is
 * accepted where [o, i] is expected when linear_from_conv is set. */
void fr_bind_either(fr_binder *b, fr_tensor *dst, int ndim, const int64_t *shape, const char *name,
                    const char *legacy_name, int linear_from_conv);
/* A GEMM weight's i8x-v1 twin: in LOAD mode with quantize_bits set, w (just bound) quantized row by row
 * (fr_i8x_quantize_weight) into buffers on the backend; otherwise q is left empty (q->bits = 0). */
void fr_bind_quantized(fr_binder *b, const fr_tensor *w, fr_qweight *q);
/* Frees the device buffers a LOAD pass allocated (b->allocs) and the binder's own memory. */
void fr_binder_free(fr_binder *b);

#endif
