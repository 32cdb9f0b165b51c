/* Communicators for sharding one job over several ranks (docs/pipeline.md, "Sharding one job over
 * ranks"): `local` (one rank), `threads` (N ranks as threads of one process, passing messages through
 * host memory) and `nccl` (one rank per GPU). Only data movement: no collective ever adds floats, so
 * the ranks' results cannot depend on how the network reduces. Buffers live in the memory of the
 * rank's backend (fr_comm_bind says which; host memory by default). */
#ifndef FRACTAL_COMM_H
#define FRACTAL_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/backend.h"
#include "fractal/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_comm fr_comm;

/* One rank alone. */
fr_status fr_comm_local(fr_comm **out);
/* n ranks for n threads of this process: ranks[r] belongs to the thread that plays rank r. Messages are
 * copied from the sender into a queue per (sender, receiver) pair and out again by the receiver; no rank
 * reads another's memory. Free each rank's communicator (from its thread or after joining). */
fr_status fr_comm_threads(int n, fr_comm **ranks);
/* NCCL, one rank per GPU (where the build found the CUDA toolkit's NCCL; fr_comm_nccl_available says).
 * Buffers are device memory of the rank's GPU. One process driving n GPUs: fr_comm_nccl_group makes the
 * n communicators together; rank r runs on devices[r] and is used only by the thread that drives it.
 * One process per GPU: one process calls fr_comm_nccl_id and hands the id to the others out of band (a
 * file, the environment, the job's launcher); each then calls fr_comm_nccl_rank with its rank and
 * device. Collectives are NCCL point-to-point sends and receives in one group, never a reduction; the
 * byte counts come from the plan, which every rank computes alike (NCCL cannot check them). */
#define FR_NCCL_ID_BYTES 128
int fr_comm_nccl_available(void);
fr_status fr_comm_nccl_group(int n, const int *devices, fr_comm **ranks);
fr_status fr_comm_nccl_id(unsigned char id[FR_NCCL_ID_BYTES]);
fr_status fr_comm_nccl_rank(const unsigned char id[FR_NCCL_ID_BYTES], int n, int rank, int device, fr_comm **out);
void fr_comm_free(fr_comm *c);
/* The buffers this rank passes to collectives are memory of backend `be` (by default host memory):
 * `local` and `threads` then move them with the backend's copies (device memory of a CUDA backend goes
 * through host messages). NCCL communicators take device memory anyway and ignore it. */
void fr_comm_bind(fr_comm *c, fr_backend *be);

int fr_comm_rank(const fr_comm *c);
int fr_comm_size(const fr_comm *c);
const char *fr_comm_kind(const fr_comm *c); /* "local", "threads", "nccl" */

/* Every rank sends scounts[r] bytes at send + sdispls[r] to rank r and receives rcounts[p] bytes from
 * rank p at recv + rdispls[p] (bytes; its own part is copied). Every rank of the communicator must call
 * it, in the same order as every other collective. With send and recv NULL nothing moves and nobody
 * waits: the bytes are only counted (the planning run that sizes a job also measures its traffic). A count
 * that does not match what the sender sends fails on every rank. */
fr_status fr_comm_alltoallv(fr_comm *c, const void *send, const size_t *scounts, const size_t *sdispls, void *recv,
                            const size_t *rcounts, const size_t *rdispls);
/* Every rank sends the same `bytes` at send to all, and receives rank p's at recv + rdispls[p]
 * (rcounts[p] bytes; rcounts[own rank] must equal bytes). NULL buffers count only, as above. */
fr_status fr_comm_allgatherv(fr_comm *c, const void *send, size_t bytes, void *recv, const size_t *rcounts,
                             const size_t *rdispls);
/* Makes every rank's pending and later collectives fail (a rank that hit an error calls it, so that
 * the others do not wait for it forever). */
void fr_comm_abort(fr_comm *c);

typedef struct fr_comm_stats {
  uint64_t collectives;   /* calls made */
  uint64_t bytes_sent;    /* to other ranks (a rank's copy to itself is not traffic) */
  uint64_t planned_bytes; /* bytes_sent counted by NULL-buffer (planning) calls */
} fr_comm_stats;

fr_comm_stats fr_comm_get_stats(const fr_comm *c);
void fr_comm_reset_stats(fr_comm *c);

#ifdef __cplusplus
}
#endif
#endif
