/* Worker pool: persistent pthreads, tasks handed out by an atomic counter. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

struct fr_pool {
  int threads;
  pthread_t *workers;
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  uint64_t generation; /* bumped for every run */
  int busy;            /* workers still in the current run */
  int quit;
  fr_task_fn fn;
  void *ctx;
  int64_t ntasks;
  atomic_llong next;
  void **scratch;
  size_t scratch_size;
  void *shared;
  size_t shared_size;
};

typedef struct worker_arg {
  fr_pool *pool;
  int index;
} worker_arg;

static void run_tasks(fr_pool *p, int thread)
{
  for (;;) {
    int64_t t = atomic_fetch_add(&p->next, 1);
    if (t >= p->ntasks) break;
    p->fn(p->ctx, t, thread);
  }
}

static void *worker_main(void *arg)
{
  worker_arg a = *(worker_arg *)arg;
  free(arg);
  fr_pool *p = a.pool;
  uint64_t seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->quit && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
    if (p->quit) break;
    seen = p->generation;
    pthread_mutex_unlock(&p->mu);
    run_tasks(p, a.index);
    pthread_mutex_lock(&p->mu);
    if (--p->busy == 0) pthread_cond_signal(&p->done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

fr_status fr_pool_create(int threads, fr_pool **out)
{
  *out = NULL;
  if (threads < 1 || threads > 1024) return fr_fail(FR_EINVAL, "thread count %d is out of range 1..1024", threads);
  fr_pool *p = (fr_pool *)calloc(1, sizeof *p);
  if (!p) return fr_fail(FR_ENOMEM, "out of memory creating a thread pool");
  p->threads = threads;
  p->workers = (pthread_t *)calloc((size_t)threads, sizeof *p->workers);
  p->scratch = (void **)calloc((size_t)threads, sizeof *p->scratch);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  if (!p->workers || !p->scratch) {
    fr_pool_free(p);
    return fr_fail(FR_ENOMEM, "out of memory creating a thread pool");
  }
  for (int i = 1; i < threads; i++) {
    worker_arg *a = (worker_arg *)malloc(sizeof *a);
    if (a) *a = (worker_arg){p, i};
    if (!a || pthread_create(&p->workers[i], NULL, worker_main, a) != 0) {
      free(a);
      p->threads = i; /* only join what started */
      fr_pool_free(p);
      return fr_fail(FR_ENOMEM, "could not start worker thread %d of %d", i, threads);
    }
  }
  *out = p;
  return FR_OK;
}

void fr_pool_free(fr_pool *p)
{
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->quit = 1;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->threads; i++) pthread_join(p->workers[i], NULL);
  for (int i = 0; p->scratch && i < p->threads; i++) free(p->scratch[i]);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  free(p->scratch);
  free(p->shared);
  free(p->workers);
  free(p);
}

int fr_pool_threads(const fr_pool *p) { return p->threads; }

void fr_pool_run(fr_pool *p, int64_t ntasks, fr_task_fn fn, void *ctx)
{
  if (ntasks <= 0) return;
  if (p->threads == 1 || ntasks == 1) {
    for (int64_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->ctx = ctx;
  p->ntasks = ntasks;
  atomic_store(&p->next, 0);
  p->busy = p->threads - 1;
  p->generation++;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  run_tasks(p, 0);
  pthread_mutex_lock(&p->mu);
  while (p->busy > 0) pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

void *fr_pool_scratch(fr_pool *p, int thread) { return p->scratch[thread]; }

fr_status fr_pool_reserve(fr_pool *p, size_t nbytes)
{
  if (nbytes <= p->scratch_size) return FR_OK;
  size_t size = (nbytes + 63) / 64 * 64;
  for (int i = 0; i < p->threads; i++) {
    void *m = aligned_alloc(64, size);
    if (!m) return fr_fail(FR_ENOMEM, "out of memory: %zu bytes of scratch per thread", size);
    free(p->scratch[i]);
    p->scratch[i] = m;
  }
  p->scratch_size = size;
  return FR_OK;
}

fr_status fr_pool_shared(fr_pool *p, size_t nbytes, void **out)
{
  if (nbytes > p->shared_size) {
    size_t size = (nbytes + 63) / 64 * 64;
    void *m = aligned_alloc(64, size);
    if (!m) return fr_fail(FR_ENOMEM, "out of memory: %zu bytes for a packed operand", size);
    free(p->shared);
    p->shared = m, p->shared_size = size;
  }
  *out = p->shared;
  return FR_OK;
}
