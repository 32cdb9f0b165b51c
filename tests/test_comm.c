/* The communicators: all-to-all and all-gather with uneven sizes move every byte to the right place on
 * 1..5 thread ranks, many collectives in a row stay matched, NULL buffers only count, a size mismatch
 * fails every rank instead of hanging, and an aborted rank releases the others. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "fractal/comm.h"
#include "testutil.h"

typedef struct rank_arg {
  fr_comm *c;
  int rounds, bad; /* bad: this rank lies about a count in round 1 */
  int errors, wrong;
  fr_comm_stats stats;
} rank_arg;

/* rank p sends rank r (p + 1) * (r + 2) + round bytes, each byte = (p * 31 + r * 7 + i + round) & 255 */
static size_t count(int p, int r, int round) { return (size_t)(p + 1) * (size_t)(r + 2) + (size_t)round; }
static unsigned char byte(int p, int r, size_t i, int round)
{
  return (unsigned char)((p * 31 + r * 7 + (int)i + round) & 255);
}

static void *rank_main(void *arg)
{
  rank_arg *a = (rank_arg *)arg;
  int me = fr_comm_rank(a->c), n = fr_comm_size(a->c);
  for (int round = 0; round < a->rounds; round++) {
    size_t sc[8], sd[8], rc[8], rd[8], stot = 0, rtot = 0;
    for (int r = 0; r < n; r++) sc[r] = count(me, r, round), sd[r] = stot, stot += sc[r];
    for (int p = 0; p < n; p++) rc[p] = count(p, me, round), rd[p] = rtot, rtot += rc[p];
    if (a->bad && round == 1) rc[(me + 1) % n] += 1; /* expects a byte more than is sent */
    unsigned char *send = (unsigned char *)malloc(stot + 1), *recv = (unsigned char *)calloc(rtot + 1, 1);
    for (int r = 0; r < n; r++)
      for (size_t i = 0; i < sc[r]; i++) send[sd[r] + i] = byte(me, r, i, round);
    if (fr_comm_alltoallv(a->c, send, sc, sd, recv, rc, rd) != FR_OK) {
      a->errors++;
    } else {
      for (int p = 0; p < n; p++)
        for (size_t i = 0; i < rc[p]; i++) a->wrong += recv[rd[p] + i] != byte(p, me, i, round);
      /* all-gather: every rank sends me + 1 + round bytes of value me */
      size_t gc[8], gd[8], gt = 0;
      for (int p = 0; p < n; p++) gc[p] = (size_t)p + 1 + (size_t)round, gd[p] = gt, gt += gc[p];
      unsigned char mine[64], all[256];
      memset(mine, me, sizeof mine);
      if (fr_comm_allgatherv(a->c, mine, (size_t)me + 1 + (size_t)round, all, gc, gd) != FR_OK) a->errors++;
      else
        for (int p = 0; p < n; p++)
          for (size_t i = 0; i < gc[p]; i++) a->wrong += all[gd[p] + i] != p;
    }
    free(send), free(recv);
  }
  size_t z[8] = {0}, ones[8];
  for (int r = 0; r < n; r++) ones[r] = 100;
  fr_comm_alltoallv(a->c, NULL, ones, z, NULL, ones, z); /* counted, not sent */
  a->stats = fr_comm_get_stats(a->c);
  return NULL;
}

static void run(int n, int rounds, int bad_rank)
{
  fr_comm *c[8];
  rank_arg a[8];
  pthread_t t[8];
  CHECK_OK(fr_comm_threads(n, c));
  for (int r = 0; r < n; r++) {
    a[r] = (rank_arg){c[r], rounds, r == bad_rank, 0, 0, {0, 0, 0}};
    pthread_create(&t[r], NULL, rank_main, &a[r]);
  }
  for (int r = 0; r < n; r++) pthread_join(t[r], NULL);
  int errors = 0, wrong = 0;
  for (int r = 0; r < n; r++) errors += a[r].errors, wrong += a[r].wrong;
  if (bad_rank < 0) {
    CHECK(errors == 0 && wrong == 0, "%d ranks, %d rounds: %d errors, %d wrong bytes", n, rounds, errors, wrong);
    uint64_t want = 0;
    for (int round = 0; round < rounds; round++)
      for (int r = 1; r < n; r++) want += count(0, r, round) + (uint64_t)(1 + round);
    want += 100u * (uint64_t)(n - 1);
    CHECK(a[0].stats.bytes_sent == want && a[0].stats.planned_bytes == 100u * (uint64_t)(n - 1) &&
              a[0].stats.collectives == (uint64_t)(2 * rounds + 1),
          "%d ranks: rank 0 counted %llu bytes in %llu collectives (want %llu)", n,
          (unsigned long long)a[0].stats.bytes_sent, (unsigned long long)a[0].stats.collectives,
          (unsigned long long)want);
  } else {
    int failed = 0;
    for (int r = 0; r < n; r++) failed += a[r].errors > 0;
    CHECK(failed == n && wrong == 0, "a count mismatch on rank %d: %d of %d ranks fail (none may hang)", bad_rank,
          failed, n);
  }
  for (int r = 0; r < n; r++) fr_comm_free(c[r]);
}

static void *abort_main(void *arg)
{
  fr_comm *c = (fr_comm *)arg;
  size_t z[2] = {0, 0};
  char buf[1];
  if (fr_comm_rank(c) == 1) {
    fr_comm_abort(c);
    return NULL;
  }
  return (void *)(intptr_t)(fr_comm_alltoallv(c, buf, z, z, buf, z, z) != FR_OK);
}

int main(void)
{
  for (int n = 1; n <= 5; n++) run(n, 20, -1);
  run(3, 3, 2);
  run(2, 3, 0);
  fr_comm *loc;
  CHECK_OK(fr_comm_local(&loc));
  size_t c1[1] = {5}, d1[1] = {0};
  char in[5] = "abcd", out[5] = {0};
  CHECK_OK(fr_comm_alltoallv(loc, in, c1, d1, out, c1, d1));
  CHECK(memcmp(in, out, 5) == 0 && fr_comm_size(loc) == 1 && strcmp(fr_comm_kind(loc), "local") == 0 &&
            fr_comm_get_stats(loc).bytes_sent == 0,
        "local: a copy to itself, no traffic");
  fr_comm_free(loc);
  fr_comm *c[2];
  CHECK_OK(fr_comm_threads(2, c));
  pthread_t t[2];
  void *rv[2];
  for (int r = 0; r < 2; r++) pthread_create(&t[r], NULL, abort_main, c[r]);
  for (int r = 0; r < 2; r++) pthread_join(t[r], &rv[r]);
  CHECK(rv[0] == (void *)1, "a rank waiting for an aborted one returns an error");
  fr_comm_free(c[0]), fr_comm_free(c[1]);
  CHECK(fr_comm_threads(0, c) == FR_EINVAL, "0 ranks");
  return check_done("test_comm");
}
