/* The loaded model behind fractal/pipeline.h: configs, tokenizer, weights on the backend. Internal. */
#ifndef FRACTAL_MODEL_H
#define FRACTAL_MODEL_H

#include "model/clip.h"
#include "fractal/pipeline.h"
#include "fractal/tokenizer.h"
#include "model/scheduler.h"
#include "runtime/shard_ops.h"
#include "model/unet.h"
#include "model/vae.h"

struct fr_model {
  char dir[1024];
  char variant[32]; /* fr_model_options.variant as loaded ("" for NULL): copies load the same files */
  fr_backend *be;
  fr_tokenizer *tok;
  fr_clip clip;
  fr_unet unet;
  fr_vae vae;
  char *sched_json; /* scheduler/scheduler_config.json (its text is part of the model digest) */
  /* that file read for each scheduler kind, at load; a kind whose reading failed keeps its error for the
   * jobs that ask for it (the file may suit one scheduler class and not the other) */
  fr_sched_config sched[2];
  fr_status sched_status[2];
  char sched_error[2][512];
  fr_binder loaded[3]; /* own the device buffers of the three components */
  fr_hash128 digest;
  char digest_hex[33];
  size_t weight_bytes;
  int weight_tensors;
  int i8x_bits;      /* > 0: the GEMM weights also quantized with this B (fr_model_options.i8x) */
  char numerics[32]; /* fr_model_info.numerics */
};

/* One rank's part of a sharded job (pipeline/generate.c): sh splits the frames (NULL: all of them), guide pairs
 * this rank with the one holding the other guidance half (NULL: both halves here; half is then
 * ignored). The job's result is filled on the rank with frame rank 0 of half 0. plan_only: the planning run
 * only (allocations and traffic counted, nothing computed). */
fr_status fr_run_rank(fr_model *m, fr_backend *be, const fr_job *job, const fr_shard *sh, fr_comm *guide, int half,
                      const fr_run_options *o, int plan_only, fr_result *res);

/* The three ways fr_generate runs (fractal/pipeline.h): a batch on the model's backend (generate.c); one
 * job over o->ranks threads sharing the model, or over o->devices with NCCL (run_sharded.c). */
fr_status fr_run_batch(fr_model *m, const fr_job *jobs, int njobs, const fr_run_options *o, fr_result *res);
fr_status fr_run_sharded(fr_model *m, const fr_job *job, const fr_run_options *o, fr_result *res);
fr_status fr_run_devices(fr_model *m, const fr_job *job, const fr_run_options *o, fr_result *res);

#endif
