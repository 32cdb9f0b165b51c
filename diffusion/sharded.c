/* One job over several ranks with the threads communicator (fractal/pipeline.h): the plan (guidance
 * halves x frame shards), one CPU backend and thread per rank, and the result from rank 0. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

typedef struct plan {
  int ranks, halves, parts; /* ranks = halves x parts */
  int64_t start[FR_SHARD_MAX + 1];
} plan;

static fr_status make_plan(const fr_job *job, int ranks, plan *p)
{
  if (ranks < 1 || ranks > FR_SHARD_MAX) return fr_fail(FR_EINVAL, "ranks must be 1..%d, not %d", FR_SHARD_MAX, ranks);
  p->ranks = ranks;
  p->halves = job->guidance > 1.0f && ranks % 2 == 0 ? 2 : 1; /* guidance on: diffusers' rule */
  p->parts = ranks / p->halves;
  if (p->parts > job->frames)
    return fr_fail(FR_EINVAL, "%d ranks split the frames %d ways, but the job has %d frames", ranks, p->parts, job->frames);
  fr_shard_split(job->frames, p->parts, p->start);
  return FR_OK;
}

typedef struct rank_ctx {
  fr_model *m;
  const fr_job *job;
  const fr_run_options *o;
  int threads, plan_only, half;
  fr_shard shard;
  fr_comm *guide;
  fr_result res;
  fr_status st;
  char err[512];
} rank_ctx;

static void *rank_main(void *arg)
{
  rank_ctx *c = (rank_ctx *)arg;
  fr_backend *be = NULL;
  c->st = fr_backend_open("cpu", c->threads, &be);
  if (c->st == FR_OK) c->st = fr_run_rank(c->m, be, c->job, &c->shard, c->guide, c->half, c->o, c->plan_only, &c->res);
  if (c->st != FR_OK) { /* release the ranks waiting for this one */
    snprintf(c->err, sizeof c->err, "%s", fr_last_error());
    fr_comm_abort(c->shard.comm);
    if (c->guide) fr_comm_abort(c->guide);
  }
  if (be) fr_backend_close(be);
  return NULL;
}

static fr_status run(fr_model *m, const fr_job *job, int ranks, int threads, const fr_run_options *o, int plan_only,
                     fr_result *res, fr_shard_stats *stats)
{
  plan p;
  FR_TRY(make_plan(job, ranks, &p));
  if (fr_backend_device(m->be) != FR_DEVICE_CPU)
    return fr_fail(FR_EUNSUPPORTED, "sharding with the threads communicator needs the model on the CPU backend");
  if (threads <= 0) threads = fr_backend_threads(m->be);
  int per = threads / ranks > 0 ? threads / ranks : 1;
  rank_ctx *ctx = (rank_ctx *)calloc((size_t)ranks, sizeof *ctx);
  fr_comm **fc = (fr_comm **)calloc((size_t)ranks, sizeof *fc), **gc = (fr_comm **)calloc((size_t)ranks, sizeof *gc);
  pthread_t *tid = (pthread_t *)calloc((size_t)ranks, sizeof *tid);
  fr_status st = ctx && fc && gc && tid ? FR_OK : fr_fail(FR_ENOMEM, "out of memory");
  /* rank r = half * parts + part: frame communicators per half, guidance pairs per part */
  for (int h = 0; st == FR_OK && h < p.halves; h++) st = fr_comm_threads(p.parts, fc + h * p.parts);
  for (int f = 0; st == FR_OK && p.halves == 2 && f < p.parts; f++) {
    fr_comm *pair[2];
    st = fr_comm_threads(2, pair);
    if (st == FR_OK) gc[f] = pair[0], gc[p.parts + f] = pair[1];
  }
  int started = 0;
  for (int r = 0; st == FR_OK && r < ranks; r++) {
    rank_ctx *c = &ctx[r];
    c->m = m, c->job = job, c->o = o, c->threads = per, c->plan_only = plan_only;
    c->half = p.halves == 2 ? r / p.parts : 0;
    c->shard.comm = fc[r], c->shard.rank = r % p.parts, c->shard.ranks = p.parts, c->shard.frames = job->frames;
    memcpy(c->shard.start, p.start, sizeof p.start);
    c->guide = gc[r];
    if (plan_only) rank_main(c); /* a dry run never waits for another rank */
    else if (pthread_create(&tid[r], NULL, rank_main, c) != 0) st = fr_fail(FR_ENOMEM, "cannot start rank %d's thread", r);
    else started++;
    if (st != FR_OK) fr_comm_abort(fc[r]);
  }
  for (int r = 0; r < started; r++) pthread_join(tid[r], NULL);
  for (int r = 0; st == FR_OK && r < ranks; r++)
    if (ctx[r].st != FR_OK) st = fr_fail(ctx[r].st, "rank %d: %s", r, ctx[r].err);
  if (stats) {
    memset(stats, 0, sizeof *stats);
    stats->ranks = ranks, stats->guidance_ranks = p.halves, stats->frame_ranks = p.parts;
    for (int r = 0; fc && gc && r < ranks; r++) {
      fr_comm *cs[2] = {fc[r], gc[r]};
      for (int k = 0; k < 2; k++) {
        if (!cs[k]) continue;
        fr_comm_stats s = fr_comm_get_stats(cs[k]);
        stats->planned_bytes += s.planned_bytes, stats->sent_bytes += s.bytes_sent - s.planned_bytes;
        stats->collectives += s.collectives;
      }
    }
  }
  for (int r = 0; ctx && r < ranks; r++) {
    if (r == 0 && st == FR_OK && !plan_only) *res = ctx[r].res;
    else fr_result_free(&ctx[r].res);
  }
  for (int r = 0; fc && gc && r < ranks; r++) fr_comm_free(fc[r]), fr_comm_free(gc[r]);
  free(ctx), free(fc), free(gc), free(tid);
  return st;
}

fr_status fr_generate_sharded(fr_model *m, const fr_job *job, int ranks, int threads, const fr_run_options *o,
                              fr_result *res, fr_shard_stats *stats)
{
  return run(m, job, ranks, threads, o, 0, res, stats);
}

fr_status fr_plan_sharded(fr_model *m, const fr_job *job, int ranks, fr_shard_stats *stats)
{
  return run(m, job, ranks, 1, NULL, 1, NULL, stats);
}
