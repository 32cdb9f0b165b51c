/* The loaded model behind fractal/pipeline.h: configs, tokenizer, weights on the backend. Internal. */
#ifndef FRACTAL_MODEL_H
#define FRACTAL_MODEL_H

#include "clip.h"
#include "fractal/pipeline.h"
#include "fractal/tokenizer.h"
#include "scheduler.h"
#include "unet.h"
#include "vae.h"

struct fr_model {
  char dir[1024];
  fr_backend *be;
  fr_tokenizer *tok;
  fr_clip clip;
  fr_unet unet;
  fr_vae vae;
  char *sched_json; /* scheduler/scheduler_config.json, parsed per job for its scheduler */
  fr_binder loaded[3]; /* own the device buffers of the three components */
  fr_hash128 digest;
  char digest_hex[33];
  size_t weight_bytes;
  int weight_tensors;
};

#endif
