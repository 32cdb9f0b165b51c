/* One job over several ranks (fractal/pipeline.h): the plan (guidance halves x frame shards), one thread
 * per rank with its own backend, the communicators between them (threads on the CPU, NCCL across GPUs),
 * and the result from rank 0. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

typedef struct plan {
  int ranks, halves, parts; /* ranks = halves x parts */
  int64_t start[FR_SHARD_MAX + 1];
} plan;

/* Guidance halves on separate ranks when the job uses guidance (diffusers' rule: > 1) and they pair up. */
static int halves_for(const fr_job *job, int ranks) { return job->guidance > 1.0f && ranks % 2 == 0 ? 2 : 1; }

int fr_shard_fit(const fr_job *job, int ranks)
{
  for (int r = ranks < FR_SHARD_MAX ? ranks : FR_SHARD_MAX; r > 1; r--)
    if (r / halves_for(job, r) <= job->frames) return r;
  return 1;
}

static fr_status make_plan(const fr_job *job, int ranks, plan *p)
{
  if (ranks < 1 || ranks > FR_SHARD_MAX) return fr_fail(FR_EINVAL, "ranks must be 1..%d, not %d", FR_SHARD_MAX, ranks);
  p->ranks = ranks;
  p->halves = halves_for(job, ranks);
  p->parts = ranks / p->halves;
  if (p->parts > job->frames)
    return fr_fail(FR_EINVAL, "%d ranks split the frames %d ways, but the job has %d frames", ranks, p->parts,
                   job->frames);
  fr_shard_split(job->frames, p->parts, p->start);
  return FR_OK;
}

/* Where the ranks run: threads on the model's device (the CPU, or one GPU), or one GPU each. */
typedef struct placement {
  fr_model *m;        /* the model; a rank on another device loads its own copy */
  int threads;        /* CPU threads per rank */
  const int *devices; /* rank r on CUDA device devices[r] (NCCL); NULL: every rank on the model's device */
} placement;

typedef struct rank_ctx {
  const placement *pl;
  const fr_job *job;
  const fr_run_options *o;
  int plan_only, half, device;
  fr_shard shard;
  fr_comm *guide;
  fr_result res;
  fr_status st;
  char err[512];
} rank_ctx;

/* A copy of the model on this rank's device: the same folder and variant, and it must be the same model. */
static fr_status load_copy(const fr_model *m, fr_backend *be, fr_model **own)
{
  fr_model_options mo = {m->variant[0] ? m->variant : NULL, m->i8x_bits};
  FR_TRY(fr_model_load(m->dir, be, &mo, own));
  if (strcmp((*own)->digest_hex, m->digest_hex) != 0)
    return fr_fail(FR_EIO, "%s changed while loading: model %s on %s, %s on %s", m->dir, m->digest_hex,
                   fr_backend_name(m->be), (*own)->digest_hex, fr_backend_name(be));
  return FR_OK;
}

static void *rank_main(void *arg)
{
  rank_ctx *c = (rank_ctx *)arg;
  const placement *pl = c->pl;
  fr_backend *be = NULL;
  fr_model *own = NULL;
  int model_device = fr_backend_device(pl->m->be), device = pl->devices ? c->device : model_device;
  char name[32] = "cpu";
  if (device != FR_DEVICE_CPU) snprintf(name, sizeof name, "cuda:%d", device);
  c->st = fr_backend_open(name, pl->threads, &be);
  if (c->st == FR_OK) { /* the collectives move this backend's memory */
    fr_comm_bind(c->shard.comm, be);
    if (c->guide) fr_comm_bind(c->guide, be);
  }
  if (c->st == FR_OK && device != model_device) c->st = load_copy(pl->m, be, &own);
  if (c->st == FR_OK)
    c->st = fr_run_rank(own ? own : pl->m, be, c->job, &c->shard, c->guide, c->half, c->o, c->plan_only, &c->res);
  if (c->st != FR_OK) { /* release the ranks waiting for this one */
    snprintf(c->err, sizeof c->err, "%s", fr_last_error());
    fr_comm_abort(c->shard.comm);
    if (c->guide) fr_comm_abort(c->guide);
  }
  fr_model_free(own);
  if (be) fr_backend_close(be);
  return NULL;
}

/* n communicators among the ranks listed in `who` (plan order), of the placement's kind. */
static fr_status make_comms(const placement *pl, int n, const int *who, fr_comm **out)
{
  if (!pl->devices) return fr_comm_threads(n, out);
  int dev[FR_SHARD_MAX];
  for (int i = 0; i < n; i++) dev[i] = pl->devices[who[i]];
  return fr_comm_nccl_group(n, dev, out);
}

static void add_stats(fr_shard_stats *stats, fr_comm *c)
{
  if (!c) return;
  fr_comm_stats s = fr_comm_get_stats(c);
  stats->planned_bytes += s.planned_bytes, stats->sent_bytes += s.bytes_sent - s.planned_bytes;
  stats->collectives += s.collectives;
}

static fr_status run(const placement *pl, const fr_job *job, int ranks, const fr_run_options *o, int plan_only,
                     fr_result *res, fr_shard_stats *stats)
{
  plan p;
  FR_TRY(make_plan(job, ranks, &p));
  rank_ctx *ctx = (rank_ctx *)calloc((size_t)ranks, sizeof *ctx);
  fr_comm **fc = (fr_comm **)calloc((size_t)ranks, sizeof *fc), **gc = (fr_comm **)calloc((size_t)ranks, sizeof *gc);
  pthread_t *tid = (pthread_t *)calloc((size_t)ranks, sizeof *tid);
  fr_status st = ctx && fc && gc && tid ? FR_OK : fr_fail(FR_ENOMEM, "out of memory");
  /* rank r = half * parts + part: frame communicators per half, guidance pairs per part */
  int who[FR_SHARD_MAX];
  for (int h = 0; st == FR_OK && h < p.halves; h++) {
    for (int f = 0; f < p.parts; f++) who[f] = h * p.parts + f;
    st = make_comms(pl, p.parts, who, fc + h * p.parts);
  }
  for (int f = 0; st == FR_OK && p.halves == 2 && f < p.parts; f++) {
    fr_comm *pair[2];
    who[0] = f, who[1] = p.parts + f;
    st = make_comms(pl, 2, who, pair);
    if (st == FR_OK) gc[f] = pair[0], gc[p.parts + f] = pair[1];
  }
  int started = 0;
  for (int r = 0; st == FR_OK && r < ranks; r++) {
    rank_ctx *c = &ctx[r];
    c->pl = pl, c->job = job, c->o = o, c->plan_only = plan_only, c->device = pl->devices ? pl->devices[r] : -1;
    c->half = p.halves == 2 ? r / p.parts : 0;
    c->shard.comm = fc[r], c->shard.rank = r % p.parts, c->shard.ranks = p.parts, c->shard.frames = job->frames;
    memcpy(c->shard.start, p.start, sizeof p.start);
    c->guide = gc[r];
    if (plan_only) rank_main(c); /* a planning run never waits for another rank */
    else if (pthread_create(&tid[r], NULL, rank_main, c) != 0)
      st = fr_fail(FR_ENOMEM, "cannot start rank %d's thread", r);
    else started++;
    if (st != FR_OK) fr_comm_abort(fc[r]);
  }
  for (int r = 0; r < started; r++) pthread_join(tid[r], NULL);
  for (int r = 0; st == FR_OK && r < ranks; r++)
    if (ctx[r].st != FR_OK) st = fr_fail(ctx[r].st, "rank %d: %s", r, ctx[r].err);
  if (stats) {
    memset(stats, 0, sizeof *stats);
    stats->ranks = ranks, stats->guidance_ranks = p.halves, stats->frame_ranks = p.parts;
    for (int r = 0; fc && gc && r < ranks; r++) add_stats(stats, fc[r]), add_stats(stats, gc[r]);
  }
  for (int r = 0; ctx && r < ranks; r++) {
    if (r == 0 && st == FR_OK && !plan_only) {
      *res = ctx[r].res;
      if (stats) res->shards = *stats;
    } else {
      fr_result_free(&ctx[r].res);
    }
  }
  for (int r = 0; fc && gc && r < ranks; r++) fr_comm_free(fc[r]), fr_comm_free(gc[r]);
  free(ctx), free(fc), free(gc), free(tid);
  return st;
}

/* Ranks as threads sharing the model on its device (a CUDA device's ranks each open their own stream). */
static placement shared_placement(fr_model *m, int ranks, int threads)
{
  if (threads <= 0) threads = fr_backend_threads(m->be);
  placement pl = {m, ranks > 0 && threads / ranks > 0 ? threads / ranks : 1, NULL};
  return pl;
}

fr_status fr_run_sharded(fr_model *m, const fr_job *job, const fr_run_options *o, fr_result *res)
{
  placement pl = shared_placement(m, o->ranks, o->threads);
  fr_shard_stats stats;
  return run(&pl, job, o->ranks, o, 0, res, &stats);
}

fr_status fr_plan_sharded(fr_model *m, const fr_job *job, int ranks, fr_shard_stats *stats)
{
  placement pl = shared_placement(m, ranks, 1);
  return run(&pl, job, ranks, NULL, 1, NULL, stats);
}

fr_status fr_run_devices(fr_model *m, const fr_job *job, const fr_run_options *o, fr_result *res)
{
  if (!fr_comm_nccl_available())
    return fr_fail(FR_EUNSUPPORTED, "sharding over GPUs needs NCCL, which this build does not have");
  if (o->ndevices > FR_SHARD_MAX) return fr_fail(FR_EINVAL, "1..%d devices, not %d", FR_SHARD_MAX, o->ndevices);
  for (int i = 0; i < o->ndevices; i++)
    for (int k = 0; k < i; k++)
      if (o->devices[i] == o->devices[k]) return fr_fail(FR_EINVAL, "device %d is listed twice", o->devices[i]);
  placement pl = {m, 1, o->devices};
  fr_shard_stats stats;
  return run(&pl, job, o->ndevices, o, 0, res, &stats);
}
