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

/* Options that split one job over `ranks` threads of this process (threads CPU threads in all). */
static inline fr_run_options split_over(int ranks, int threads)
{
  fr_run_options o;
  memset(&o, 0, sizeof o);
  o.ranks = ranks, o.threads = threads;
  return o;
}

#endif
