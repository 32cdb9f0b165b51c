/* The pipeline's batch of jobs and the parts of it that sharded runs replace (generate.c runs batches;
 * pipeline_shard.c holds what a rank of a split job does differently). Internal to diffusion/. */
#ifndef FRACTAL_BATCH_H
#define FRACTAL_BATCH_H

#include "model/model.h"

#define MAX_BATCH 64

typedef struct job_state {
  const fr_job *job;
  fr_sched_config sched;
  fr_sched_plan plan;
  int cfg;      /* classifier-free guidance: rows [uncond, cond] */
  int rows;     /* UNet rows: 2 with guidance, else 1 (1 on a guidance-parallel rank) */
  int text_row; /* first row in the text embeddings */
  fr_tensor x, eps, m_prev, m_cur;
} job_state;

typedef struct batch {
  fr_model *m;
  job_state *js;
  int n, rows;
  int64_t frames, lh, lw, ch; /* latent shape [1, ch, frames, lh, lw] */
  int32_t *ids;
  fr_tensor text;            /* [rows, L, D] */
  fr_tensor sample, out, tb; /* per step, sized for all rows */
  /* sharded runs (one job): frames holds this rank's frames, frames_total the video's */
  const fr_shard *shard; /* the ranks splitting the frames (NULL: not sharded) */
  fr_comm *guide;        /* the two ranks holding the guidance halves of these frames, or NULL */
  int half;              /* with guide: 0 the unconditional row, 1 the conditional; else -1 */
  int64_t frames_total;
} batch;

/* This rank holds some frames of a job split over frame ranks. */
static inline int fr_batch_sharded(const batch *b) { return b->shard && b->shard->ranks > 1; }
/* This rank fills the result: always unsharded; else the first frame rank of the first half. */
int fr_batch_result_rank(const batch *b);

/* The latent [1, C, F, h, w] has frames in the middle: a rank's frames are a strided slice. Copies
 * frames [f0, f0 + count) of `full` into `part`. */
fr_status fr_batch_frame_slice(fr_exec *ex, const batch *b, const fr_tensor *full, fr_tensor *part, int64_t f0,
                               int64_t count);
/* A latent-shaped tensor (x or eps) on the host, all frames (gathered when sharded). */
fr_status fr_batch_to_host(fr_exec *ex, batch *b, const fr_tensor *t, float *host);
/* A guidance-parallel rank's noise prediction: its half's UNet output `mine` and the partner's, combined. */
fr_status fr_batch_guide(fr_exec *ex, batch *b, job_state *s, const fr_tensor *mine);
/* The decode of a split job (batch_rank.c); frames are written on the result rank. */
fr_status fr_batch_decode_split(fr_exec *ex, batch *b, job_state *s, uint8_t *frames, float *frames_f32);

/* Shared by both decodes (generate.c): the final latent scaled for the VAE and frame-major, zf
 * [1, F, C, h, w] (allocated); decoded images imgs [n, oc, H, W] on the device made into video bytes
 * there (fr_frames_u8) and downloaded as the result's frames first .. first + n - 1 (and their floats). */
fr_status fr_batch_latent_frames(fr_exec *ex, batch *b, job_state *s, fr_tensor *zf);
fr_status fr_batch_store_frames(fr_exec *ex, const fr_tensor *imgs, int64_t first, uint8_t *frames, float *frames_f32);

#endif
