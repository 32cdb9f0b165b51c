/* The text-to-video pipeline: load a diffusers-layout model once, run jobs (alone or as a batch, each
 * job's result identical either way), and recompute single steps for verification. */
#ifndef FRACTAL_PIPELINE_H
#define FRACTAL_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/backend.h"
#include "fractal/hash.h"
#include "fractal/job.h"
#include "fractal/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_model fr_model;

typedef struct fr_model_options {
  const char *variant; /* weight files: NULL = the plain file if present, else "fp16"; or "fp16" */
  /* > 0: also quantize the GEMM weights, with B = i8x bits, to run i8x jobs: FR_I8X_BITS (fractal/i8x.h) for
   * the i8x-v1 profile; another width serves only jobs named "i8x-bNN", which measure quality */
  int i8x;
} fr_model_options;

/* Loads dir (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/). Every config and
 * tensor is checked before anything is uploaded; one error lists every problem. */
fr_status fr_model_load(const char *dir, fr_backend *be, const fr_model_options *opts, fr_model **out);
void fr_model_free(fr_model *m);

typedef struct fr_model_info {
  fr_hash128 digest;
  char digest_hex[33];
  int default_height, default_width; /* unet sample_size * VAE scale factor */
  int latent_channels, vae_scale;
  int text_len, text_dim;
  size_t weight_bytes;
  int weight_tensors;
  const char *dir;
  const char *numerics; /* the profiles its jobs may use: "f32-v1", or "f32-v1,i8x-v1" when loaded with i8x */
  int i8x_bits;         /* the B its weights were quantized with, 0 for none */
} fr_model_info;

void fr_model_get_info(const fr_model *m, fr_model_info *info);
fr_backend *fr_model_backend(const fr_model *m);

/* Where a job's intermediate values can be observed (fractal-gen --dump, the prover's reveal cache).
 * Host pointers valid during the call only. */
typedef struct fr_observer {
  void *ctx;
  /* ids [rows, len]: rows are [uncond, cond] with guidance, [cond] without */
  void (*tokens)(void *ctx, int job, const int32_t *ids, int rows, int len);
  void (*text)(void *ctx, int job, const float *emb, int rows, int len, int dim);
  /* the latent [1, C, F, h, w] entering step `step` (0: the initial noise; steps: the final one) */
  void (*latent)(void *ctx, int job, int step, const float *x, size_t n);
  /* the guided noise prediction of step `step` (0-based), [1, C, F, h, w] */
  void (*noise)(void *ctx, int job, int step, const float *eps, size_t n);
  void (*progress)(void *ctx, int job, int step, int steps);
} fr_observer;

/* Traffic between the ranks of a job split over several (zero for a whole job). */
typedef struct fr_shard_stats {
  int ranks, guidance_ranks, frame_ranks; /* ranks = guidance_ranks x frame_ranks */
  uint64_t planned_bytes;                 /* what all ranks send each other in the job, counted by the planning run */
  uint64_t sent_bytes;                    /* what they sent while running */
  uint64_t collectives;                   /* calls, summed over ranks */
} fr_shard_stats;

typedef struct fr_run_options {
  const fr_observer *observer;      /* nullable */
  const float *const *init_latents; /* nullable; per job nullable: [1, C, F, h, w] instead of Philox noise */
  int keep_float_frames;            /* also return the frames as float in [0, 1] */
  /* nullable: asked before every denoising step and before the decode (never in the planning run that sizes
   * the arena); nonzero stops the run, which then returns FR_ECANCELED. A sharded run asks on every rank's
   * thread, possibly at once; once it has said stop it must keep saying so. */
  int (*cancel)(void *ctx);
  void *cancel_ctx;
  /* Where the job runs (docs/pipeline.md, "Sharding one job over ranks"); zero: the whole batch on the
   * model's backend. A job split over ranks runs alone (a batch of one), and its result equals the whole
   * job's to the bit. Observers of a split job get the latent, noise and progress calls (not tokens or
   * text). */
  int ranks;   /* > 1: ranks as threads of this process, each with its own backend on the model's device */
  int threads; /* CPU threads for all ranks together (0: the model backend's count) */
  /* ndevices > 0: one rank per CUDA device devices[0..ndevices) with the NCCL communicator (ranks is
   * then ignored); a rank on the model's device reads the model, the others load its folder (FR_EUNSUPPORTED
   * where the build has no NCCL) */
  const int *devices;
  int ndevices;
} fr_run_options;

typedef struct fr_timing {
  double queue_ms, text_ms, denoise_ms, decode_ms, total_ms;
} fr_timing;

typedef struct fr_result {
  fr_job job; /* the job as run (model filled in) */
  int steps;
  fr_hash128 step_hashes[FR_JOB_STEPS_MAX];   /* [k]: the latent after step k + 1 */
  fr_hash128 frames_hash;                     /* XXH3-128 of frames (F x H x W x 3 uint8) */
  fr_hash128 frame_hashes[FR_JOB_FRAMES_MAX]; /* each frame's own (H x W x 3), to say which frames differ */
  fr_hash128 digest; /* the job digest: zero from the pipeline; the protocol's fr_result_seal fills it */
  uint8_t *frames;   /* F * H * W * 3, RGB (malloc'd; fr_result_free) */
  float *frames_f32; /* same layout, in [0, 1]; only with keep_float_frames */
  fr_timing timing;
  fr_shard_stats shards; /* how a split job's ranks talked */
} fr_result;

void fr_result_free(fr_result *r);

/* A job's size left out (0) becomes the model's native size (fr_model_info's default_height and
 * default_width): called where a job arrives (the prover, the verifier's organic requests, the tools), so
 * the job that runs, and its digest, always name the size. */
void fr_job_fill_size(const fr_model *m, fr_job *job);

/* What the pipeline can run at all, whatever the model: steps 1..FR_JOB_STEPS_MAX, frames
 * 1..FR_JOB_FRAMES_MAX, height and width at least 8 (or 0, to be filled in), a known scheduler, guidance in 0..50 (not NaN). The
 * protocol's fr_job_validate ends with this check, after the (lower) limits a node sets. */
fr_status fr_job_runnable(const fr_job *job);

/* Whether model m can run a job, and if not why (the message is in fr_last_error()): the check fr_generate
 * makes before it starts, for callers that answer before they queue (the prover maps each reason to its
 * HTTP status in one place). The protocol's limits, which a node may lower, are checked where jobs arrive. */
typedef enum fr_job_fit {
  FR_JOB_FITS = 0,
  FR_JOB_BAD_SHAPE,      /* steps, frames, size, scheduler or guidance out of what the pipeline runs */
  FR_JOB_OTHER_MODEL,    /* the job names another model digest */
  FR_JOB_OTHER_NUMERICS, /* the job asks for a numerics profile this build does not compute */
  FR_JOB_NO_SCHEDULER,   /* the model's scheduler config cannot drive the job's scheduler */
} fr_job_fit;
fr_job_fit fr_job_check(const fr_model *m, const fr_job *job);

/* The one entry for running jobs: njobs jobs as one batch (they must share frames, height and width), or
 * one job split over ranks or devices as opts says (opts nullable). results[i] belongs to jobs[i] and
 * equals what running jobs[i] alone, whole, gives. On an error the call frees what it allocated, and a
 * job refused before it starts leaves the results as they were. FR_ECANCELED (no results) when opts->cancel stopped
 * it. */
fr_status fr_generate(fr_model *m, const fr_job *jobs, int njobs, const fr_run_options *opts, fr_result *results);

/* Splitting one job over ranks: guidance-parallel (the unconditional and conditional halves on different
 * ranks) when the job uses guidance and the rank count is even, frame-parallel within each half (uneven
 * splits allowed, at most one rank per frame). The most ranks, up to `ranks`, that a plan for this job can
 * use: */
int fr_shard_fit(const fr_job *job, int ranks);
/* The plan alone: the planning run of every rank (no computation, any model size), counting the traffic. */
fr_status fr_plan_sharded(fr_model *m, const fr_job *job, int ranks, fr_shard_stats *stats);

/* Recomputes step `step` (0-based) of a job from the latent entering it, x_in ([1, C, F, h, w], host).
 * A DPM-Solver++ step of second order also needs the latent entering the previous step (x_prev);
 * fr_step_needs_previous says when. Writes the latent after the step into x_out (host). */
int fr_step_needs_previous(const fr_model *m, const fr_job *job, int step);
fr_status fr_recompute_step(fr_model *m, const fr_job *job, int step, const float *x_prev, const float *x_in,
                            float *x_out);

/* Decodes a final latent to uint8 frames exactly as fr_generate does (frames: F * H * W * 3). */
fr_status fr_decode_latent(fr_model *m, const fr_job *job, const float *latent, uint8_t *frames);

#ifdef __cplusplus
}
#endif
#endif
