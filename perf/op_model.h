/* The op cases of one model's own job (fractal-bench --shapes): every distinct (op, shape) that the text
 * encoder, one UNet forward and the VAE decode of the job's frames call, derived from the model's
 * architecture the way diffusion/model/ (clip.c, unet.c, vae.c, layers.c) and the pipeline call the ops. */
#ifndef FRACTAL_PERF_OP_MODEL_H
#define FRACTAL_PERF_OP_MODEL_H

#include "fractal/modelgen.h"
#include "op_cases.h"

/* What a job is run at. */
typedef struct model_job {
  int frames, height, width; /* height, width: the image's (multiples of the VAE's 2^(blocks-1)) */
  int guidance;              /* 1: classifier-free guidance, the UNet and the text encoder run on 2 rows */
  float guidance_scale;
  int ddim; /* the scheduler: 1 DDIM, 0 DPM-Solver++ 2M */
} model_job;

typedef struct model_case {
  op_case c;         /* c.name points at name */
  char name[96];     /* op_component_level_role, e.g. conv2d_unet_l1_3x3_320_640 */
  const char *stage; /* "clip" (once a job), "unet" (one forward), "step" (once a step), "vae" (the whole decode) */
  int calls;         /* how often the stage calls it with this shape */
} model_case;

typedef struct model_cases {
  model_case *v;
  int n, cap;
  int images, latent_h, latent_w; /* the UNet's batch of frame-images and its latent size */
} model_cases;

/* The cases, in the order the job first calls them. Weights in a's dtypes, data F32. */
fr_status model_cases_make(const fr_model_arch *a, const model_job *job, model_cases *out);
void model_cases_free(model_cases *m);

#endif
