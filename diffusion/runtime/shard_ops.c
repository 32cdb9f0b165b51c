/* Frame-parallel temporal layers (see shard.h). Data moves only: statistics are combined on the host
 * in frame order with the same float operations as the fused kernel (kernels/cpu/norm.c). */
#include <stdlib.h>
#include <string.h>

#include "fractal/dmath.h"
#include "runtime/shard_ops.h"

void fr_shard_split(int64_t frames, int ranks, int64_t *start)
{
  int64_t base = frames / ranks, extra = frames % ranks;
  start[0] = 0;
  for (int p = 0; p < ranks; p++) start[p + 1] = start[p] + base + (p < extra);
}

/* All-to-all of f32 elements between arena tensors (element counts, packed in rank order at both ends);
 * the planning run only counts. */
static fr_status exchange(fr_exec *ex, const fr_shard *sh, const fr_tensor *send, const int64_t *scount,
                          fr_tensor *recv, const int64_t *rcount)
{
  size_t sc[FR_SHARD_MAX], sd[FR_SHARD_MAX], rc[FR_SHARD_MAX], rd[FR_SHARD_MAX], so = 0, ro = 0;
  for (int p = 0; p < sh->ranks; p++) {
    sc[p] = (size_t)scount[p] * 4, sd[p] = so, so += sc[p];
    rc[p] = (size_t)rcount[p] * 4, rd[p] = ro, ro += rc[p];
  }
  return fr_comm_alltoallv(sh->comm, fr_exec_comm_data(ex, send), sc, sd, fr_exec_comm_data(ex, recv), rc, rd);
}

static fr_status copy2(fr_exec *ex, const fr_tensor *src, int64_t soff, int64_t sstride, fr_tensor *dst, int64_t doff,
                       int64_t dstride, int64_t rows, int64_t len)
{
  int64_t shape[2] = {rows, len}, ss[2] = {sstride, 1}, ds[2] = {dstride, 1};
  return fr_copy_region(ex->be, src, soff, ss, dst, doff, ds, 2, shape);
}

static fr_status copy3(fr_exec *ex, const fr_tensor *src, int64_t soff, const int64_t *ss, fr_tensor *dst, int64_t doff,
                       const int64_t *ds, const int64_t *shape)
{
  return fr_copy_region(ex->be, src, soff, ss, dst, doff, ds, 3, shape);
}

static fr_status alloc1(fr_exec *ex, fr_tensor *t, int64_t n)
{
  int64_t s[1] = {n > 0 ? n : 1};
  return fr_exec_alloc(ex, t, 1, s);
}

/* One pass of the statistics: every rank's partials [B*F_p, G] gathered, then per (video, group) the
 * frame-ordered sum from +0. out[b * G + g]. */
static fr_status gather_sums(fr_exec *ex, const fr_shard *sh, const fr_tensor *part, int64_t videos, int64_t groups,
                             float *out)
{
  size_t rc[FR_SHARD_MAX], rd[FR_SHARD_MAX], at = 0;
  for (int p = 0; p < sh->ranks; p++)
    rc[p] = (size_t)(videos * (sh->start[p + 1] - sh->start[p]) * groups) * 4, rd[p] = at, at += rc[p];
  fr_tensor all;
  FR_TRY(alloc1(ex, &all, videos * sh->frames * groups));
  size_t bytes = (size_t)fr_tensor_numel(part) * 4;
  fr_status st = fr_comm_allgatherv(sh->comm, fr_exec_comm_data(ex, part), bytes, fr_exec_comm_data(ex, &all), rc, rd);
  float *host = NULL;
  if (st == FR_OK && !fr_exec_planning(ex)) {
    host = (float *)malloc(sizeof(float) * (size_t)(videos * sh->frames * groups));
    st = host ? fr_tensor_download(ex->be, &all, host) : fr_fail(FR_ENOMEM, "out of memory");
  }
  if (st == FR_OK && !fr_exec_planning(ex))
    for (int64_t b = 0; b < videos; b++)
      for (int64_t g = 0; g < groups; g++) {
        float s = 0.0f;
        for (int p = 0; p < sh->ranks; p++) {
          int64_t fp = sh->start[p + 1] - sh->start[p];
          const float *from = host + rd[p] / 4;
          for (int64_t f = 0; f < fp; f++) s = s + from[(b * fp + f) * groups + g];
        }
        out[b * groups + g] = s;
      }
  free(host);
  fr_exec_free(ex, &all);
  return st;
}

fr_status fr_shard_group_norm(fr_exec *ex, const fr_shard *sh, const fr_tensor *x, const fr_tensor *gamma,
                              const fr_tensor *beta, int groups, int frames, float eps, fr_act act, fr_tensor *y)
{
  if (!sh || sh->ranks == 1) return fr_group_norm(ex->be, x, gamma, beta, groups, frames, eps, act, y);
  int64_t n = x->shape[0], fl = fr_shard_local(sh), videos = n / fl, inner = 1;
  for (int i = 2; i < x->ndim; i++) inner *= x->shape[i];
  int64_t block = sh->frames * (x->shape[1] / groups) * inner; /* as the fused kernel: F * block */
  float count = (float)block;
  fr_tensor part, mean, rstd;
  int64_t ss[2] = {n, groups};
  FR_TRY(fr_exec_alloc(ex, &part, 2, ss));
  FR_TRY(fr_exec_alloc(ex, &mean, 2, ss));
  FR_TRY(fr_exec_alloc(ex, &rstd, 2, ss));
  float *tot = (float *)malloc(sizeof(float) * (size_t)(videos * groups)),
        *rows = (float *)malloc(sizeof(float) * (size_t)(n * groups));
  fr_status st = tot && rows ? FR_OK : fr_fail(FR_ENOMEM, "out of memory");
  for (int pass = 0; pass < 2 && st == FR_OK; pass++) {
    st = fr_group_norm_partials(ex->be, x, groups, pass ? &mean : NULL, &part);
    if (st == FR_OK) st = gather_sums(ex, sh, &part, videos, groups, tot);
    if (st != FR_OK || fr_exec_planning(ex)) continue;
    for (int64_t r = 0; r < n; r++) /* local row r is frame r % fl of video r / fl */
      for (int64_t g = 0; g < groups; g++) {
        float t = tot[(r / fl) * groups + g];
        rows[r * groups + g] = pass ? fr_drsqrt(t / count + eps) : t / count;
      }
    st = fr_tensor_upload(ex->be, pass ? &rstd : &mean, rows);
  }
  free(tot), free(rows);
  FR_TRY(st);
  FR_TRY(fr_group_norm_apply(ex->be, x, gamma, beta, groups, &mean, &rstd, act, y));
  fr_exec_free(ex, &rstd), fr_exec_free(ex, &mean), fr_exec_free(ex, &part);
  return FR_OK;
}

fr_status fr_shard_halo(fr_exec *ex, const fr_shard *sh, const fr_tensor *x, fr_tensor *ext, int *lo, int *hi)
{
  int64_t n = x->shape[0], fl = fr_shard_local(sh), videos = n / fl, per = fr_tensor_numel(x) / n;
  *lo = sh->rank > 0, *hi = sh->rank < sh->ranks - 1;
  int64_t fe = fl + *lo + *hi, es[FR_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) es[i] = x->shape[i];
  es[0] = videos * fe;
  FR_TRY(fr_exec_alloc(ex, ext, x->ndim, es));
  FR_TRY(copy2(ex, x, 0, fl * per, ext, *lo * per, fe * per, videos, fl * per));
  fr_tensor sbuf, rbuf;
  FR_TRY(alloc1(ex, &sbuf, 2 * videos * per));
  FR_TRY(alloc1(ex, &rbuf, 2 * videos * per));
  /* to the previous rank my first frame of every video, to the next my last; packed in rank order as
   * exchange() reads them, and received the same way */
  if (*lo) FR_TRY(copy2(ex, x, 0, fl * per, &sbuf, 0, per, videos, per));
  if (*hi) FR_TRY(copy2(ex, x, (fl - 1) * per, fl * per, &sbuf, *lo ? videos * per : 0, per, videos, per));
  int64_t sc[FR_SHARD_MAX] = {0}, rc[FR_SHARD_MAX] = {0};
  if (*lo) sc[sh->rank - 1] = rc[sh->rank - 1] = videos * per;
  if (*hi) sc[sh->rank + 1] = rc[sh->rank + 1] = videos * per;
  FR_TRY(exchange(ex, sh, &sbuf, sc, &rbuf, rc));
  if (*lo) FR_TRY(copy2(ex, &rbuf, 0, per, ext, 0, fe * per, videos, per));
  if (*hi) FR_TRY(copy2(ex, &rbuf, *lo ? videos * per : 0, per, ext, (fe - 1) * per, fe * per, videos, per));
  fr_exec_free(ex, &rbuf), fr_exec_free(ex, &sbuf);
  return FR_OK;
}

fr_status fr_shard_to_pixels(fr_exec *ex, const fr_shard *sh, const fr_tensor *tok, int64_t videos, int64_t hw,
                             fr_tensor *out)
{
  int64_t ps[FR_SHARD_MAX + 1], fl = fr_shard_local(sh), d = tok->shape[tok->ndim - 1], F = sh->frames;
  fr_shard_split(hw, sh->ranks, ps);
  int64_t mine = ps[sh->rank + 1] - ps[sh->rank], os[4] = {videos, mine, F, d};
  FR_TRY(fr_exec_alloc(ex, out, 4, os));
  fr_tensor sbuf, rbuf;
  int64_t sc[FR_SHARD_MAX], rc[FR_SHARD_MAX], at = 0;
  FR_TRY(alloc1(ex, &sbuf, fr_tensor_numel(tok)));
  FR_TRY(alloc1(ex, &rbuf, videos * mine * F * d));
  for (int r = 0; r < sh->ranks; r++) { /* rank r's pixels of my frames: [B, hw_r, F_local, D] */
    int64_t hr = ps[r + 1] - ps[r];
    sc[r] = videos * hr * fl * d;
    if (sc[r]) FR_TRY(copy2(ex, tok, ps[r] * fl * d, hw * fl * d, &sbuf, at, hr * fl * d, videos, hr * fl * d));
    at += sc[r];
  }
  for (int p = 0; p < sh->ranks; p++) rc[p] = videos * mine * (sh->start[p + 1] - sh->start[p]) * d;
  FR_TRY(exchange(ex, sh, &sbuf, sc, &rbuf, rc));
  at = 0;
  for (int p = 0; p < sh->ranks; p++) { /* rank p's frames of my pixels into frames [start_p, start_p+1) */
    int64_t fp = sh->start[p + 1] - sh->start[p], shape[3] = {videos, mine, fp * d};
    int64_t ss[3] = {mine * fp * d, fp * d, 1}, ds[3] = {mine * F * d, F * d, 1};
    if (rc[p]) FR_TRY(copy3(ex, &rbuf, at, ss, out, sh->start[p] * d, ds, shape));
    at += rc[p];
  }
  fr_exec_free(ex, &rbuf), fr_exec_free(ex, &sbuf);
  return FR_OK;
}

fr_status fr_shard_to_frames(fr_exec *ex, const fr_shard *sh, const fr_tensor *tok, int64_t videos, int64_t hw,
                             fr_tensor *out)
{
  int64_t ps[FR_SHARD_MAX + 1], fl = fr_shard_local(sh), d = tok->shape[tok->ndim - 1], F = sh->frames;
  fr_shard_split(hw, sh->ranks, ps);
  int64_t mine = ps[sh->rank + 1] - ps[sh->rank];
  if (fr_tensor_numel(out) != videos * hw * fl * d)
    return fr_fail(FR_EINTERNAL, "fr_shard_to_frames: out holds %lld elements, want %lld",
                   (long long)fr_tensor_numel(out), (long long)videos * hw * fl * d);
  fr_tensor sbuf, rbuf;
  int64_t sc[FR_SHARD_MAX], rc[FR_SHARD_MAX], at = 0;
  FR_TRY(alloc1(ex, &sbuf, videos * mine * F * d));
  FR_TRY(alloc1(ex, &rbuf, videos * hw * fl * d));
  for (int r = 0; r < sh->ranks; r++) { /* rank r's frames of my pixels: [B, hw_mine, F_r, D] */
    int64_t fr = sh->start[r + 1] - sh->start[r], shape[3] = {videos, mine, fr * d};
    int64_t ss[3] = {mine * F * d, F * d, 1}, ds[3] = {mine * fr * d, fr * d, 1};
    sc[r] = videos * mine * fr * d;
    if (sc[r]) FR_TRY(copy3(ex, tok, sh->start[r] * d, ss, &sbuf, at, ds, shape));
    at += sc[r];
  }
  for (int p = 0; p < sh->ranks; p++) rc[p] = videos * (ps[p + 1] - ps[p]) * fl * d;
  FR_TRY(exchange(ex, sh, &sbuf, sc, &rbuf, rc));
  at = 0;
  for (int p = 0; p < sh->ranks; p++) { /* rank p's pixels of my frames into pixels [ps_p, ps_p+1) */
    int64_t hp = ps[p + 1] - ps[p];
    if (rc[p]) FR_TRY(copy2(ex, &rbuf, at, hp * fl * d, out, ps[p] * fl * d, hw * fl * d, videos, hp * fl * d));
    at += rc[p];
  }
  fr_exec_free(ex, &rbuf), fr_exec_free(ex, &sbuf);
  return FR_OK;
}
