/* The nccl communicator on the GPUs of this machine: uneven all-to-all and all-gather move every byte of
 * device memory to the right place on 1..N ranks (N = the device count, one process driving them all),
 * NULL buffers only count; then one job over the devices has the digest of the CPU reference (and of
 * the CUDA backend alone). Skips (exit 77) without NCCL or without a GPU, and says what is unverified. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "fractal/comm.h"
#include "fractal/modelgen.h"
#include "fractal/pipeline.h"
#include "fractal/protocol.h"
#include "sealed.h"
#include "testutil.h"

typedef struct rank_arg {
  fr_comm *c;
  fr_backend *be;
  int wrong;
  fr_status st;
} rank_arg;

/* rank p sends rank r (p + 1) * 1000 + r * 7 bytes (odd sizes), byte i = (p * 31 + r * 7 + i) & 255 */
static size_t count(int p, int r) { return (size_t)(p + 1) * 1000 + (size_t)r * 7; }
static unsigned char byte(int p, int r, size_t i) { return (unsigned char)((p * 31 + r * 7 + (int)i) & 255); }

static void *rank_main(void *arg)
{
  rank_arg *a = (rank_arg *)arg;
  int me = fr_comm_rank(a->c), n = fr_comm_size(a->c);
  size_t sc[16], sd[16], rc[16], rd[16], stot = 0, rtot = 0;
  for (int r = 0; r < n; r++) sc[r] = count(me, r), sd[r] = stot, stot += sc[r];
  for (int p = 0; p < n; p++) rc[p] = count(p, me), rd[p] = rtot, rtot += rc[p];
  unsigned char *hs = (unsigned char *)malloc(stot + 4), *hr = (unsigned char *)calloc(rtot + 4, 1);
  for (int r = 0; r < n; r++)
    for (size_t i = 0; i < sc[r]; i++) hs[sd[r] + i] = byte(me, r, i);
  int64_t ss[1] = {(int64_t)(stot + 3) / 4}, rs[1] = {(int64_t)(rtot + 3) / 4};
  fr_tensor ds, dr;
  a->st = fr_tensor_alloc(a->be, FR_F32, 1, ss, &ds);
  if (a->st == FR_OK) a->st = fr_tensor_alloc(a->be, FR_F32, 1, rs, &dr);
  if (a->st == FR_OK) a->st = fr_tensor_upload(a->be, &ds, hs);
  if (a->st == FR_OK) a->st = fr_comm_alltoallv(a->c, ds.data, sc, sd, dr.data, rc, rd);
  if (a->st == FR_OK) a->st = fr_tensor_download(a->be, &dr, hr);
  for (int p = 0; a->st == FR_OK && p < n; p++)
    for (size_t i = 0; i < rc[p]; i++) a->wrong += hr[rd[p] + i] != byte(p, me, i);
  if (a->st == FR_OK) a->st = fr_comm_alltoallv(a->c, NULL, sc, sd, NULL, rc, rd); /* counts only */
  if (a->st != FR_OK) fr_comm_abort(a->c);
  fr_tensor_free(a->be, &ds), fr_tensor_free(a->be, &dr);
  free(hs), free(hr);
  return NULL;
}

static void test_collectives(int n)
{
  fr_comm *c[16];
  int dev[16];
  for (int r = 0; r < n; r++) dev[r] = r;
  CHECK_OK(fr_comm_nccl_group(n, dev, c));
  rank_arg a[16];
  pthread_t t[16];
  for (int r = 0; r < n; r++) {
    char name[16];
    snprintf(name, sizeof name, "cuda:%d", r);
    a[r] = (rank_arg){c[r], NULL, 0, FR_OK};
    CHECK_OK(fr_backend_open(name, 0, &a[r].be));
    CHECK(!strcmp(fr_comm_kind(c[r]), "nccl") && fr_comm_rank(c[r]) == r && fr_comm_size(c[r]) == n, "rank %d", r);
  }
  for (int r = 0; r < n; r++) pthread_create(&t[r], NULL, rank_main, &a[r]);
  for (int r = 0; r < n; r++) pthread_join(t[r], NULL);
  for (int r = 0; r < n; r++) {
    CHECK(a[r].st == FR_OK, "%d ranks, rank %d: %s", n, r, fr_last_error());
    CHECK(a[r].wrong == 0, "%d ranks, rank %d: %d bytes wrong", n, r, a[r].wrong);
    fr_comm_stats s = fr_comm_get_stats(c[r]);
    uint64_t want = 0;
    for (int q = 0; q < n; q++) want += q == r ? 0 : count(r, q);
    CHECK(s.bytes_sent == 2 * want && s.planned_bytes == want, "rank %d counted %llu/%llu bytes, want %llu", r,
          (unsigned long long)s.bytes_sent, (unsigned long long)s.planned_bytes, (unsigned long long)want);
    fr_comm_free(c[r]);
    fr_backend_close(a[r].be);
  }
}

/* One job: the CPU reference against the CUDA backend alone and against nccl over 1..n devices. */
static int test_job(int n)
{
  char tmpl[] = "/tmp/fractal-nccl-XXXXXX", dir[300];
  if (!mkdtemp(tmpl)) return 1;
  snprintf(dir, sizeof dir, "%s/tiny", tmpl);
  fr_modelgen_options mo = {"tiny", 0, FR_F32, NULL, NULL, NULL};
  CHECK_OK(fr_modelgen_write(dir, &mo));
  fr_backend *cpu, *gpu;
  fr_model *mc = NULL, *mg = NULL;
  CHECK_OK(fr_backend_open("cpu", 0, &cpu));
  CHECK_OK(fr_backend_open("cuda:0", 0, &gpu));
  CHECK_OK(fr_model_load(dir, cpu, NULL, &mc));
  CHECK_OK(fr_model_load(dir, gpu, NULL, &mg));
  fr_job j;
  fr_job_init(&j);
  snprintf(j.prompt, sizeof j.prompt, "a kite over the dunes");
  j.seed = 99, j.steps = 2, j.frames = 5, j.height = j.width = 32;
  fr_result want, alone;
  CHECK_OK(generate_sealed(mc, &j, 1, NULL, &want));
  fr_status st = generate_sealed(mg, &j, 1, NULL, &alone);
  int skip = 0;
  if (st == FR_EUNSUPPORTED) {
    printf("SKIP (job part): the CUDA backend cannot run the pipeline yet (%s); the digest over NCCL ranks is "
           "unverified\n",
           fr_last_error());
    skip = 1;
  } else {
    CHECK(st == FR_OK && fr_hash_equal(alone.digest, want.digest), "the CUDA backend's digest differs from the CPU's");
    for (int k = 1; st == FR_OK && k <= n; k++) {
      int dev[16];
      for (int r = 0; r < k; r++) dev[r] = r;
      fr_result r;
      fr_run_options on_devices;
      memset(&on_devices, 0, sizeof on_devices);
      on_devices.devices = dev, on_devices.ndevices = k;
      CHECK_OK(generate_sealed(mg, &j, 1, &on_devices, &r));
      CHECK(fr_hash_equal(r.digest, want.digest), "nccl over %d devices: the digest differs from the CPU's", k);
      fr_result_free(&r);
    }
    fr_result_free(&alone);
  }
  fr_result_free(&want);
  fr_model_free(mc), fr_model_free(mg);
  fr_backend_close(cpu), fr_backend_close(gpu);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpl);
  return skip;
}

int main(void)
{
  if (!fr_comm_nccl_available() || fr_cuda_device_count() == 0) {
    printf("SKIP: %s; the nccl communicator is unverified here\n",
           fr_comm_nccl_available() ? "no CUDA device" : "this build has no NCCL");
    return CHECK_SKIP;
  }
  int n = fr_cuda_device_count() < 16 ? fr_cuda_device_count() : 16;
  printf("%d CUDA device(s)\n", n);
  for (int k = 1; k <= n; k++) test_collectives(k);
  int partial = test_job(n);
  int rc = check_done("test_comm_nccl");
  return rc == 0 && partial ? CHECK_SKIP : rc;
}
