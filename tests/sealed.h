/* Whole jobs as a node runs them: the pipeline leaves the job digest zero, the protocol fills it
 * (fr_result_seal). These wrappers check the first and do the second, so tests compare real digests. */
#ifndef FRACTAL_TESTS_SEALED_H
#define FRACTAL_TESTS_SEALED_H

#include "check.h"
#include "fractal/pipeline.h"
#include "fractal/protocol.h"

static inline void seal_all(fr_result *r, int n)
{
  for (int i = 0; i < n; i++) {
    CHECK(r[i].digest.hi == 0 && r[i].digest.lo == 0, "the pipeline must leave the digest to the protocol");
    fr_result_seal(&r[i]);
  }
}

static inline fr_status generate_sealed(fr_model *m, const fr_job *jobs, int n, const fr_run_options *o, fr_result *r)
{
  fr_status st = fr_generate(m, jobs, n, o, r);
  if (st == FR_OK) seal_all(r, n);
  return st;
}

static inline fr_status generate_sharded_sealed(fr_model *m, const fr_job *job, int ranks, int threads,
                                                const fr_run_options *o, fr_result *r, fr_shard_stats *stats)
{
  fr_status st = fr_generate_sharded(m, job, ranks, threads, o, r, stats);
  if (st == FR_OK) seal_all(r, 1);
  return st;
}

static inline fr_status generate_devices_sealed(const char *dir, const fr_model_options *mo, const int *devices, int n,
                                                const fr_job *job, const fr_run_options *o, fr_result *r,
                                                fr_shard_stats *stats)
{
  fr_status st = fr_generate_devices(dir, mo, devices, n, job, o, r, stats);
  if (st == FR_OK) seal_all(r, 1);
  return st;
}

#endif
