/* The `local` and `threads` communicators (see fractal/comm.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend_impl.h"
#include "comm_impl.h"

typedef struct message {
  struct message *next;
  size_t bytes;
  unsigned char data[];
} message;

typedef struct comm_group {
  int n, refs, aborted;
  pthread_mutex_t mu;
  pthread_cond_t arrived;
  message **head, **tail; /* [receiver * n + sender] */
} group;

fr_status fr_comm_local(fr_comm **out)
{
  fr_comm *c = (fr_comm *)calloc(1, sizeof *c);
  if (!c) return fr_fail(FR_ENOMEM, "out of memory");
  c->kind = "local", c->rank = 0, c->size = 1;
  *out = c;
  return FR_OK;
}

fr_status fr_comm_threads(int n, fr_comm **ranks)
{
  if (n < 1 || n > 1024) return fr_fail(FR_EINVAL, "a threads communicator has 1..1024 ranks, not %d", n);
  group *g = (group *)calloc(1, sizeof *g);
  if (!g) return fr_fail(FR_ENOMEM, "out of memory");
  g->head = (message **)calloc((size_t)n * (size_t)n, sizeof *g->head);
  g->tail = (message **)calloc((size_t)n * (size_t)n, sizeof *g->tail);
  if (!g->head || !g->tail) {
    free(g->head), free(g->tail), free(g);
    return fr_fail(FR_ENOMEM, "out of memory");
  }
  g->n = n, g->refs = n;
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->arrived, NULL);
  for (int r = 0; r < n; r++) {
    ranks[r] = (fr_comm *)calloc(1, sizeof *ranks[r]);
    if (!ranks[r]) {
      while (r-- > 0) free(ranks[r]);
      pthread_mutex_destroy(&g->mu), pthread_cond_destroy(&g->arrived);
      free(g->head), free(g->tail), free(g);
      return fr_fail(FR_ENOMEM, "out of memory");
    }
    ranks[r]->kind = "threads", ranks[r]->rank = r, ranks[r]->size = n, ranks[r]->g = g;
  }
  return FR_OK;
}

void fr_comm_free(fr_comm *c)
{
  if (!c) return;
#ifdef FR_HAVE_NCCL
  if (c->stream) fr_comm_nccl_free(c);
#endif
  group *g = c->g;
  free(c);
  if (!g) return;
  pthread_mutex_lock(&g->mu);
  int last = --g->refs == 0;
  pthread_mutex_unlock(&g->mu);
  if (!last) return;
  for (int i = 0; i < g->n * g->n; i++)
    for (message *m = g->head[i], *next; m; m = next) next = m->next, free(m);
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->arrived);
  free(g->head), free(g->tail), free(g);
}

void fr_comm_bind(fr_comm *c, fr_backend *be) { c->be = be && be->device != FR_DEVICE_CPU ? be : NULL; }

/* Moves n bytes for a collective: between this rank's buffers (own part), from a buffer into a host
 * message, or from a message into a buffer, with the bound backend's copies for device memory. */
enum { OWN, OUT, IN };
static fr_status move(const fr_comm *c, int way, void *dst, const void *src, size_t n)
{
  if (!n) return FR_OK;
  if (!c->be) {
    memmove(dst, src, n);
    return FR_OK;
  }
  if (way == OWN) return c->be->ops->copy(c->be, dst, src, n);
  return way == OUT ? c->be->ops->download(c->be, dst, src, n) : c->be->ops->upload(c->be, dst, src, n);
}

int fr_comm_rank(const fr_comm *c) { return c->rank; }
int fr_comm_size(const fr_comm *c) { return c->size; }
const char *fr_comm_kind(const fr_comm *c) { return c->kind; }
fr_comm_stats fr_comm_get_stats(const fr_comm *c) { return c->stats; }
void fr_comm_reset_stats(fr_comm *c) { memset(&c->stats, 0, sizeof c->stats); }

void fr_comm_abort(fr_comm *c)
{
#ifdef FR_HAVE_NCCL
  if (c->stream) fr_comm_nccl_abort(c);
#endif
  if (!c->g) return;
  pthread_mutex_lock(&c->g->mu);
  c->g->aborted = 1;
  pthread_cond_broadcast(&c->g->arrived);
  pthread_mutex_unlock(&c->g->mu);
}

static fr_status aborted(const fr_comm *c)
{
  return fr_fail(FR_EINTERNAL, "rank %d of %d: the communicator was aborted (another rank failed)", c->rank, c->size);
}

int fr_comm_count(fr_comm *c, const void *send, const size_t *scounts, const void *recv)
{
  int dry = !send && !recv;
  c->stats.collectives++;
  for (int r = 0; r < c->size; r++)
    if (r != c->rank) {
      c->stats.bytes_sent += scounts[r];
      if (dry) c->stats.planned_bytes += scounts[r];
    }
  return dry;
}

fr_status fr_comm_alltoallv(fr_comm *c, const void *send, const size_t *scounts, const size_t *sdispls, void *recv,
                            const size_t *rcounts, const size_t *rdispls)
{
  int me = c->rank, n = c->size;
  if (fr_comm_count(c, send, scounts, recv)) return FR_OK;
  if (!send || !recv) return fr_fail(FR_EINVAL, "fr_comm_alltoallv: send and recv must both be given or both NULL");
  if (scounts[me] != rcounts[me])
    return fr_fail(FR_EINVAL, "fr_comm_alltoallv: rank %d sends itself %zu bytes but expects %zu", me, scounts[me],
                   rcounts[me]);
#ifdef FR_HAVE_NCCL
  if (c->stream) return fr_comm_nccl_alltoallv(c, send, scounts, sdispls, recv, rcounts, rdispls);
#endif
  fr_status moved =
      move(c, OWN, (unsigned char *)recv + rdispls[me], (const unsigned char *)send + sdispls[me], scounts[me]);
  if (moved != FR_OK) return fr_comm_abort(c), moved;
  group *g = c->g;
  if (!g) return FR_OK;
  /* post a message (possibly empty) to every other rank: each collective is one message per pair */
  message **out = (message **)calloc((size_t)n, sizeof *out);
  if (!out) return fr_comm_abort(c), fr_fail(FR_ENOMEM, "out of memory");
  for (int r = 0; r < n; r++) {
    if (r == me) continue;
    out[r] = (message *)malloc(sizeof(message) + scounts[r]);
    if (!out[r]) {
      for (int k = 0; k < r; k++) free(out[k]);
      free(out);
      fr_comm_abort(c);
      return fr_fail(FR_ENOMEM, "out of memory for a %zu-byte message", scounts[r]);
    }
    out[r]->next = NULL, out[r]->bytes = scounts[r];
    moved = move(c, OUT, out[r]->data, (const unsigned char *)send + sdispls[r], scounts[r]);
    if (moved != FR_OK) {
      for (int k = 0; k <= r; k++) free(out[k]);
      free(out);
      fr_comm_abort(c);
      return moved;
    }
  }
  pthread_mutex_lock(&g->mu);
  if (g->aborted) { /* sticky: once a rank failed, the job is over for everyone */
    pthread_mutex_unlock(&g->mu);
    for (int r = 0; r < n; r++) free(out[r]);
    free(out);
    return aborted(c);
  }
  for (int r = 0; r < n; r++) {
    if (r == me) continue;
    int q = r * n + me;
    if (g->tail[q]) g->tail[q]->next = out[r];
    else g->head[q] = out[r];
    g->tail[q] = out[r];
  }
  pthread_cond_broadcast(&g->arrived);
  fr_status st = FR_OK;
  for (int p = 0; p < n && st == FR_OK; p++) {
    if (p == me) continue;
    int q = me * n + p;
    while (!g->head[q] && !g->aborted) pthread_cond_wait(&g->arrived, &g->mu);
    if (!g->head[q]) {
      st = aborted(c);
      break;
    }
    message *m = g->head[q];
    g->head[q] = m->next;
    if (!g->head[q]) g->tail[q] = NULL;
    if (m->bytes != rcounts[p]) {
      st =
          fr_fail(FR_EINTERNAL, "rank %d expected %zu bytes from rank %d, which sent %zu", me, rcounts[p], p, m->bytes);
      g->aborted = 1;
      pthread_cond_broadcast(&g->arrived);
    } else if ((st = move(c, IN, (unsigned char *)recv + rdispls[p], m->data, m->bytes)) != FR_OK) {
      g->aborted = 1;
      pthread_cond_broadcast(&g->arrived);
    }
    free(m);
  }
  pthread_mutex_unlock(&g->mu);
  free(out);
  return st;
}

fr_status fr_comm_allgatherv(fr_comm *c, const void *send, size_t bytes, void *recv, const size_t *rcounts,
                             const size_t *rdispls)
{
  int n = c->size;
  size_t *sc = (size_t *)calloc((size_t)n, sizeof *sc), *sd = (size_t *)calloc((size_t)n, sizeof *sd);
  if (!sc || !sd) return free(sc), free(sd), fr_fail(FR_ENOMEM, "out of memory");
  for (int r = 0; r < n; r++) sc[r] = bytes, sd[r] = 0;
  fr_status st = fr_comm_alltoallv(c, send, sc, sd, recv, rcounts, rdispls);
  free(sc), free(sd);
  return st;
}

#ifndef FR_HAVE_NCCL
int fr_comm_nccl_available(void) { return 0; }

static fr_status no_nccl(void)
{
  return fr_fail(FR_EUNSUPPORTED, "this build has no NCCL (it needs the CUDA toolkit's NCCL at build time)");
}

fr_status fr_comm_nccl_group(int n, const int *devices, fr_comm **ranks)
{
  return (void)n, (void)devices, (void)ranks, no_nccl();
}
fr_status fr_comm_nccl_id(unsigned char id[FR_NCCL_ID_BYTES]) { return (void)id, no_nccl(); }
fr_status fr_comm_nccl_rank(const unsigned char id[FR_NCCL_ID_BYTES], int n, int rank, int device, fr_comm **out)
{
  return (void)id, (void)n, (void)rank, (void)device, (void)out, no_nccl();
}
#endif
