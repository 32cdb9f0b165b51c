/* What a rank of a job split over ranks does differently from a whole job (batch.h; the plan is in
 * docs/pipeline.md, "Sharding one job over ranks"): frame slices of the noise, latent gathers for the
 * hashes and observers, the guidance exchange, and the split decode. */
#include <stdlib.h>

#include "pipeline/batch.h"

fr_status fr_batch_frame_slice(fr_exec *ex, const batch *b, const fr_tensor *full, fr_tensor *part, int64_t f0,
                               int64_t count)
{
  int64_t hw = b->lh * b->lw, shape[2] = {b->ch, count * hw}, fs[2] = {b->frames_total * hw, 1},
          ps[2] = {count * hw, 1};
  return fr_copy_region(ex->be, full, f0 * hw, fs, part, 0, ps, 2, shape);
}

/* Every frame of a sharded latent, gathered from the ranks into `full` (allocated by the caller). */
static fr_status gather_latent(fr_exec *ex, const batch *b, const fr_tensor *x, fr_tensor *full)
{
  const fr_shard *sh = b->shard;
  size_t rc[FR_SHARD_MAX], rd[FR_SHARD_MAX], at = 0, per = (size_t)(b->ch * b->lh * b->lw) * 4;
  for (int p = 0; p < sh->ranks; p++) rc[p] = per * (size_t)(sh->start[p + 1] - sh->start[p]), rd[p] = at, at += rc[p];
  fr_tensor buf;
  FR_TRY(fr_exec_alloc(ex, &buf, 5, full->shape));
  fr_status st =
      fr_comm_allgatherv(sh->comm, fr_exec_comm_data(ex, x), rc[sh->rank], fr_exec_comm_data(ex, &buf), rc, rd);
  for (int p = 0; st == FR_OK && p < sh->ranks; p++) { /* rank p's [C, F_p, h, w] block into place */
    int64_t fp = sh->start[p + 1] - sh->start[p], hw = b->lh * b->lw;
    int64_t shape[2] = {b->ch, fp * hw}, ss[2] = {fp * hw, 1}, ds[2] = {b->frames_total * hw, 1};
    st = fr_copy_region(ex->be, &buf, (int64_t)(rd[p] / 4), ss, full, sh->start[p] * hw, ds, 2, shape);
  }
  fr_exec_free(ex, &buf);
  return st;
}

fr_status fr_batch_to_host(fr_exec *ex, batch *b, const fr_tensor *t, float *host)
{
  if (!fr_batch_sharded(b)) return fr_tensor_download(ex->be, t, host);
  fr_tensor full;
  int64_t fs[5] = {1, b->ch, b->frames_total, b->lh, b->lw};
  FR_TRY(fr_exec_alloc(ex, &full, 5, fs));
  fr_status st = gather_latent(ex, b, t, &full);
  if (st == FR_OK) st = fr_tensor_download(ex->be, &full, host);
  fr_exec_free(ex, &full);
  return st;
}

int fr_batch_result_rank(const batch *b)
{
  return !fr_batch_sharded(b) ? b->half <= 0 : b->shard->rank == 0 && b->half <= 0;
}

/* Moves `bytes` at `send` of this rank to `recv` (at byte `at`) of rank `to` in c, as one all-to-all. */
static fr_status send_to(fr_exec *ex, fr_comm *c, int to, const fr_tensor *send, size_t bytes, fr_tensor *recv,
                         const size_t *rcounts, const size_t *rdispls)
{
  size_t sc[FR_SHARD_MAX] = {0}, sd[FR_SHARD_MAX] = {0};
  sc[to] = bytes;
  return fr_comm_alltoallv(c, fr_exec_comm_data(ex, send), sc, sd, fr_exec_comm_data(ex, recv), rcounts, rdispls);
}

/* Decodes the final latent of a job split over ranks. Each frame rank's frames are decoded by its two
 * guidance halves (the first half of them by half 0, the rest by half 1, which sends them to its
 * partner), or by the rank alone; then the frame ranks send their images to the first, which makes the
 * uint8 frames. */
fr_status fr_batch_decode_split(fr_exec *ex, batch *b, job_state *s, uint8_t *frames, float *frames_f32)
{
  const fr_shard *sh = fr_batch_sharded(b) ? b->shard : NULL;
  fr_model *m = b->m;
  int64_t fl = b->frames, scale = fr_vae_scale(&m->vae.cfg), hh = b->lh * scale, ww = b->lw * scale;
  int64_t oc = m->vae.cfg.out_channels, per = oc * hh * ww, split = b->guide ? (fl + 1) / 2 : fl;
  int64_t f0 = b->half == 1 ? split : 0, f1 = b->half == 1 ? fl : split; /* the frames this rank decodes */
  fr_tensor zf, imgs, all;
  FR_TRY(fr_batch_latent_frames(ex, b, s, &zf));
  int64_t rows = b->half == 1 ? fl - split : fl; /* half 0 keeps room for its partner's frames */
  FR_TRY(fr_exec_alloc4(ex, &imgs, rows > 0 ? rows : 1, oc, hh, ww));
  for (int64_t i = f0; i < f1; i++) {
    fr_tensor zi = fr_view4(&zf, fl, b->ch, b->lh, b->lw), img = fr_rows(&imgs, i - f0, 1);
    zi = fr_rows(&zi, i, 1);
    FR_TRY(fr_vae_decode(ex, &m->vae, &zi, &img));
  }
  fr_exec_free(ex, &zf);
  fr_status st = FR_OK;
  if (b->guide) { /* the second half's frames to the first */
    size_t bytes = (size_t)((fl - split) * per) * 4, rc[2] = {0, b->half == 0 ? bytes : 0},
           rd[2] = {0, (size_t)(split * per) * 4};
    st = send_to(ex, b->guide, 0, &imgs, b->half == 1 ? bytes : 0, &imgs, rc, rd);
  }
  if (st != FR_OK || b->half == 1) return fr_exec_free(ex, &imgs), st;
  all = imgs;
  if (sh) { /* every frame rank's images to the first */
    size_t rc[FR_SHARD_MAX] = {0}, rd[FR_SHARD_MAX] = {0}, at = 0;
    for (int p = 0; sh->rank == 0 && p < sh->ranks; p++)
      rc[p] = (size_t)((sh->start[p + 1] - sh->start[p]) * per) * 4, rd[p] = at, at += rc[p];
    FR_TRY(fr_exec_alloc4(ex, &all, sh->rank == 0 ? b->frames_total : 1, oc, hh, ww));
    st = send_to(ex, sh->comm, 0, &imgs, (size_t)(fl * per) * 4, &all, rc, rd);
  }
  if (st == FR_OK && (!sh || sh->rank == 0)) st = fr_batch_store_frames(ex, &all, 0, frames, frames_f32);
  if (sh) fr_exec_free(ex, &all);
  fr_exec_free(ex, &imgs);
  return st;
}

fr_status fr_batch_guide(fr_exec *ex, batch *b, job_state *s, const fr_tensor *mine)
{
  fr_tensor both;
  int64_t bs[5] = {2, b->ch, b->frames, b->lh, b->lw};
  size_t bytes = (size_t)(b->ch * b->frames * b->lh * b->lw) * 4, rc[2] = {bytes, bytes}, rd[2] = {0, bytes};
  FR_TRY(fr_exec_alloc(ex, &both, 5, bs));
  FR_TRY(fr_comm_allgatherv(b->guide, fr_exec_comm_data(ex, mine), bytes, fr_exec_comm_data(ex, &both), rc, rd));
  fr_tensor un = fr_rows(&both, 0, 1), co = fr_rows(&both, 1, 1);
  FR_TRY(fr_guidance(ex->be, &un, &co, s->job->guidance, &s->eps));
  fr_exec_free(ex, &both);
  return FR_OK;
}
