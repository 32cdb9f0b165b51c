/* Running a model graph: the backend, and an arena that serves every activation of a job from one
 * device allocation. A dry run (no backend memory, no ops) replays the job's whole sequence of
 * allocations to find the arena's size, so a job allocates once and the denoising loop never does.
 * Internal to diffusion/. */
#ifndef FRACTAL_EXEC_H
#define FRACTAL_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/backend.h"

typedef struct fr_arena_block {
  size_t off, size;
} fr_arena_block;

typedef struct fr_arena {
  unsigned char *base;       /* NULL in a dry run */
  size_t capacity;           /* SIZE_MAX in a dry run */
  size_t high_water;         /* largest end offset ever used */
  fr_arena_block *free_list; /* sorted by offset, coalesced */
  int nfree, cap_free;
} fr_arena;

typedef struct fr_exec {
  fr_backend *be;
  fr_arena arena;
  int dry;
} fr_exec;

#define FR_ARENA_ALIGN 256

/* A dry-run context: allocations are counted, ops are skipped. */
void fr_exec_dry(fr_exec *ex, fr_backend *be);
/* A real context with `bytes` of backend memory (the dry run's fr_exec_peak). */
fr_status fr_exec_open(fr_exec *ex, fr_backend *be, size_t bytes);
void fr_exec_close(fr_exec *ex);
size_t fr_exec_peak(const fr_exec *ex);

/* An F32 tensor from the arena (zeroed contents are not promised). */
fr_status fr_exec_alloc(fr_exec *ex, fr_tensor *t, int ndim, const int64_t *shape);
/* The same for another dtype (the video bytes). */
fr_status fr_exec_alloc_as(fr_exec *ex, fr_tensor *t, fr_dtype dtype, int ndim, const int64_t *shape);
fr_status fr_exec_alloc4(fr_exec *ex, fr_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d);
void fr_exec_free(fr_exec *ex, fr_tensor *t);

/* Runs an op, or skips it in a dry run. */
#define FR_RUN(ex, call) ((ex)->dry ? FR_OK : (call))

/* A view of t with another shape of the same number of elements (no copy). */
fr_tensor fr_view(const fr_tensor *t, int ndim, const int64_t *shape);
fr_tensor fr_view4(const fr_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d);
fr_tensor fr_view3(const fr_tensor *t, int64_t a, int64_t b, int64_t c);
fr_tensor fr_view2(const fr_tensor *t, int64_t a, int64_t b);
/* Rows [first, first + count) of t along dim 0, as a view (with no data, which every op refuses, when out of range). */
fr_tensor fr_rows(const fr_tensor *t, int64_t first, int64_t count);

#endif
