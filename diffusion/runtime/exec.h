/* Running a model graph: the backend, and an arena that serves every activation of a job from one
 * device allocation. fr_exec_run runs a job's body twice: first on the backend's planning twin (every
 * allocation, ops checked but not run), which finds the arena's exact size, then for real in one
 * allocation of that size, so a job allocates once and the denoising loop never does. Model code
 * calls ops on ex->be and never asks which of the two runs it is in. Internal to diffusion/. */
#ifndef FRACTAL_EXEC_H
#define FRACTAL_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/backend.h"

typedef struct fr_arena_block {
  size_t off, size;
} fr_arena_block;

typedef struct fr_arena {
  unsigned char *base;       /* NULL in the planning run */
  size_t capacity;           /* SIZE_MAX in the planning run */
  size_t high_water;         /* largest end offset ever used */
  fr_arena_block *free_list; /* sorted by offset, coalesced */
  int nfree, cap_free;
} fr_arena;

typedef struct fr_exec {
  fr_backend *be; /* the backend, or its planning twin (fr_backend_open_plan) */
  fr_arena arena;
  int i8x_bits; /* the job's numerics: 0 for f32-v1, B for i8x-v1 (the GEMM-class ops of fr_lin_fwd & co.) */
} fr_exec;

#define FR_ARENA_ALIGN 256

/* A job's body: allocates from ex's arena and runs ops on ex->be. It must allocate the same sequence in
 * both runs (first-fit placement depends on the history); only host work (observers, hashes, reading
 * downloaded values, the caller's cancellation) may ask fr_exec_planning. */
typedef fr_status (*fr_exec_body)(fr_exec *ex, void *ctx);

/* Runs body on the planning twin of be, then (unless plan_only) for real in an arena of the size the
 * first run used. */
fr_status fr_exec_run(fr_backend *be, fr_exec_body body, void *ctx, int plan_only);
/* 1 in the planning run, where downloads leave host buffers untouched. */
int fr_exec_planning(const fr_exec *ex);
/* t's device address for a collective (fractal/comm.h): NULL in the planning run, where collectives only
 * count their bytes. */
void *fr_exec_comm_data(const fr_exec *ex, const fr_tensor *t);

/* An F32 tensor from the arena (zeroed contents are not promised). */
fr_status fr_exec_alloc(fr_exec *ex, fr_tensor *t, int ndim, const int64_t *shape);
/* The same for another dtype (the video bytes). */
fr_status fr_exec_alloc_as(fr_exec *ex, fr_tensor *t, fr_dtype dtype, int ndim, const int64_t *shape);
fr_status fr_exec_alloc4(fr_exec *ex, fr_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d);
void fr_exec_free(fr_exec *ex, fr_tensor *t);

/* A view of t with another shape of the same number of elements (no copy). */
fr_tensor fr_view(const fr_tensor *t, int ndim, const int64_t *shape);
fr_tensor fr_view4(const fr_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d);
fr_tensor fr_view3(const fr_tensor *t, int64_t a, int64_t b, int64_t c);
fr_tensor fr_view2(const fr_tensor *t, int64_t a, int64_t b);
/* Rows [first, first + count) of t along dim 0, as a view (with no data, which every op refuses, when out of range). */
fr_tensor fr_rows(const fr_tensor *t, int64_t first, int64_t count);

#endif
