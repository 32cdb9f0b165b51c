/* The communicator object, shared by the host implementations (comm.c) and the NCCL one (comm_nccl.c).
 * Internal to kernels/. */
#ifndef FRACTAL_COMM_IMPL_H
#define FRACTAL_COMM_IMPL_H

#include "fractal/backend.h"
#include "fractal/comm.h"

typedef struct comm_group comm_group; /* the threads communicator's mailboxes (comm.c) */

struct fr_comm {
  const char *kind;
  int rank, size;
  comm_group *g;  /* threads; NULL otherwise */
  void *nccl;     /* ncclComm_t (NULL once aborted) */
  void *stream;   /* nccl: the cudaStream_t the collectives run on; NULL for every other kind */
  int device;     /* nccl: the CUDA device of this rank */
  fr_backend *be; /* local, threads: the backend whose memory the buffers are (NULL: host memory) */
  fr_comm_stats stats;
};

/* Traffic accounting common to every kind: returns 1 for a dry (count-only) call. */
int fr_comm_count(fr_comm *c, const void *send, const size_t *scounts, const void *recv);

#ifdef FR_HAVE_NCCL
fr_status fr_comm_nccl_alltoallv(fr_comm *c, const void *send, const size_t *scounts, const size_t *sdispls, void *recv,
                                 const size_t *rcounts, const size_t *rdispls);
void fr_comm_nccl_free(fr_comm *c);
void fr_comm_nccl_abort(fr_comm *c);
#endif

#endif
