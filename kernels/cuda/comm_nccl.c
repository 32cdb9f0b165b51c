/* The `nccl` communicator (fractal/comm.h): one rank per GPU; an all-to-all is one NCCL group of
 * point-to-point sends and receives of bytes, so nothing is ever reduced. Collectives wait for all work
 * queued on the rank's device (the backend's stream included) before they start, and return when the
 * data has arrived. */
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>

#include "../comm_impl.h"

#define NCCL_TRY(call, what)                                                                                           \
  do {                                                                                                                 \
    ncclResult_t e_ = (call);                                                                                          \
    if (e_ != ncclSuccess) return fr_fail(FR_EDEVICE, "%s: %s", (what), ncclGetErrorString(e_));                       \
  } while (0)
#define CUDA_TRY(call, what)                                                                                           \
  do {                                                                                                                 \
    cudaError_t e_ = (call);                                                                                           \
    if (e_ != cudaSuccess) return fr_fail(FR_EDEVICE, "%s: %s", (what), cudaGetErrorString(e_));                       \
  } while (0)

int fr_comm_nccl_available(void) { return 1; }

/* Wraps an initialised NCCL communicator of `device` as rank `rank` of n. */
static fr_status wrap(ncclComm_t nc, int n, int rank, int device, fr_comm **out)
{
  fr_comm *c = (fr_comm *)calloc(1, sizeof *c);
  if (!c) return ncclCommDestroy(nc), fr_fail(FR_ENOMEM, "out of memory");
  cudaStream_t s;
  if (cudaSetDevice(device) != cudaSuccess || cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess) {
    ncclCommDestroy(nc), free(c);
    return fr_fail(FR_EDEVICE, "nccl rank %d: cannot make a stream on CUDA device %d", rank, device);
  }
  c->kind = "nccl", c->rank = rank, c->size = n, c->nccl = nc, c->stream = s, c->device = device;
  *out = c;
  return FR_OK;
}

fr_status fr_comm_nccl_group(int n, const int *devices, fr_comm **ranks)
{
  if (n < 1 || n > 1024) return fr_fail(FR_EINVAL, "an nccl communicator has 1..1024 ranks, not %d", n);
  ncclComm_t *nc = (ncclComm_t *)calloc((size_t)n, sizeof *nc);
  if (!nc) return fr_fail(FR_ENOMEM, "out of memory");
  ncclResult_t e = ncclCommInitAll(nc, n, devices);
  if (e != ncclSuccess) {
    free(nc);
    return fr_fail(FR_EDEVICE, "ncclCommInitAll over %d devices: %s", n, ncclGetErrorString(e));
  }
  fr_status st = FR_OK;
  for (int r = 0; r < n; r++) {
    if (st == FR_OK) st = wrap(nc[r], n, r, devices[r], &ranks[r]);
    else ncclCommDestroy(nc[r]), ranks[r] = NULL;
    if (st != FR_OK) ranks[r] = NULL;
  }
  for (int r = 0; st != FR_OK && r < n; r++) fr_comm_free(ranks[r]), ranks[r] = NULL;
  free(nc);
  return st;
}

fr_status fr_comm_nccl_id(unsigned char id[FR_NCCL_ID_BYTES])
{
  ncclUniqueId u;
  NCCL_TRY(ncclGetUniqueId(&u), "ncclGetUniqueId");
  memcpy(id, u.internal, FR_NCCL_ID_BYTES);
  return FR_OK;
}

fr_status fr_comm_nccl_rank(const unsigned char id[FR_NCCL_ID_BYTES], int n, int rank, int device, fr_comm **out)
{
  if (n < 1 || rank < 0 || rank >= n) return fr_fail(FR_EINVAL, "nccl rank %d of %d is out of range", rank, n);
  ncclUniqueId u;
  memcpy(u.internal, id, FR_NCCL_ID_BYTES);
  CUDA_TRY(cudaSetDevice(device), "cudaSetDevice");
  ncclComm_t nc;
  NCCL_TRY(ncclCommInitRank(&nc, n, u, rank), "ncclCommInitRank");
  return wrap(nc, n, rank, device, out);
}

fr_status fr_comm_nccl_alltoallv(fr_comm *c, const void *send, const size_t *scounts, const size_t *sdispls, void *recv,
                                 const size_t *rcounts, const size_t *rdispls)
{
  ncclComm_t nc = (ncclComm_t)c->nccl;
  cudaStream_t s = (cudaStream_t)c->stream;
  if (!nc)
    return fr_fail(FR_EINTERNAL, "rank %d of %d: the communicator was aborted (another rank failed)", c->rank, c->size);
  const char *sb = (const char *)send;
  char *rb = (char *)recv;
  CUDA_TRY(cudaSetDevice(c->device), "cudaSetDevice");
  CUDA_TRY(cudaDeviceSynchronize(), "waiting for the device before a collective");
  if (scounts[c->rank])
    CUDA_TRY(
        cudaMemcpyAsync(rb + rdispls[c->rank], sb + sdispls[c->rank], scounts[c->rank], cudaMemcpyDeviceToDevice, s),
        "a rank's copy to itself");
  NCCL_TRY(ncclGroupStart(), "ncclGroupStart");
  for (int r = 0; r < c->size; r++) {
    if (r == c->rank) continue;
    if (scounts[r]) NCCL_TRY(ncclSend(sb + sdispls[r], scounts[r], ncclUint8, r, nc, s), "ncclSend");
    if (rcounts[r]) NCCL_TRY(ncclRecv(rb + rdispls[r], rcounts[r], ncclUint8, r, nc, s), "ncclRecv");
  }
  NCCL_TRY(ncclGroupEnd(), "ncclGroupEnd");
  CUDA_TRY(cudaStreamSynchronize(s), "waiting for a collective");
  return FR_OK;
}

void fr_comm_nccl_free(fr_comm *c)
{
  cudaSetDevice(c->device);
  cudaStreamDestroy((cudaStream_t)c->stream);
  if (c->nccl) ncclCommDestroy((ncclComm_t)c->nccl);
}

void fr_comm_nccl_abort(fr_comm *c)
{
  if (c->nccl) ncclCommAbort((ncclComm_t)c->nccl);
  c->nccl = NULL;
}
