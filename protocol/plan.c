/* The check plan of a spot check (see fractal/protocol.h): the verifier, fractal-replay and fractal-bench
 * all ask here which latents checking one step needs. */
#include "fractal/protocol.h"

fr_status fr_check_plan_make(const fr_model *m, const fr_job *job, int step, int decode, fr_check_plan *out)
{
  if (step < 0 || step >= job->steps) return fr_fail(FR_EINVAL, "step %d is not in 0..%d", step, job->steps - 1);
  out->step = step;
  out->needs_previous = fr_step_needs_previous(m, job, step);
  out->decode = decode != 0;
  out->nreveal = 0;
  if (step >= 1) out->reveal[out->nreveal++] = step;
  if (out->needs_previous && step - 1 >= 1) out->reveal[out->nreveal++] = step - 1;
  if (out->decode) out->reveal[out->nreveal++] = job->steps;
  return FR_OK;
}
