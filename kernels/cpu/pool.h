/* A fixed pool of worker threads that runs numbered tasks. Tasks split an op's outputs, never a
 * reduction, so results do not depend on the number of threads or on which thread runs a task. */
#ifndef FRACTAL_CPU_POOL_H
#define FRACTAL_CPU_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/status.h"

typedef struct fr_pool fr_pool;

/* task: 0..ntasks-1; thread: 0..threads-1 (index into per-thread scratch). */
typedef void (*fr_task_fn)(void *ctx, int64_t task, int thread);

fr_status fr_pool_create(int threads, fr_pool **out);
void fr_pool_free(fr_pool *p);
int fr_pool_threads(const fr_pool *p);
/* Runs fn for every task and returns when all are done; the calling thread works too. */
void fr_pool_run(fr_pool *p, int64_t ntasks, fr_task_fn fn, void *ctx);
/* Per-thread scratch of at least nbytes (64-byte aligned), kept and grown across calls. NULL on OOM.
 * Call it before fr_pool_run for each thread that may need it (see fr_pool_reserve). */
void *fr_pool_scratch(fr_pool *p, int thread);
/* Makes every thread's scratch at least nbytes; fails with FR_ENOMEM. */
fr_status fr_pool_reserve(fr_pool *p, size_t nbytes);
/* One buffer of at least nbytes (64-byte aligned) that every thread of a run may read (an operand
 * packed once per call); kept and grown across calls. Call it from the launching thread only. */
fr_status fr_pool_shared(fr_pool *p, size_t nbytes, void **out);

#endif
