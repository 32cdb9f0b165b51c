/* Fractal for other languages: opaque handles and plain C types only, so that a foreign-function
 * interface (the Python package in python/, through ctypes) needs no struct layouts. A job goes in as
 * its JSON spec (docs/protocol.md, "Jobs and results"); a result comes out as the result JSON, the
 * frames and a video file. Every call that can fail returns an fr_status, and fr_last_error() says why. */
#ifndef FRACTAL_FFI_H
#define FRACTAL_FFI_H

#include <stdint.h>

#include "fractal/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_ffi_model fr_ffi_model;
typedef struct fr_ffi_result fr_ffi_result;

/* Opens backend ("auto", "cpu", "cuda", "cuda:N"; threads 0: all cores) and loads the model folder dir for the
 * numerics profiles listed ("f32-v1", or "f32-v1,i8x-v1", which also quantizes the weights so that jobs may
 * name i8x-v1; NULL is "f32-v1"). */
fr_status fr_ffi_model_open(const char *dir, const char *backend, int threads, const char *numerics,
                            fr_ffi_model **out);
void fr_ffi_model_close(fr_ffi_model *m);
/* The model digest (32 hex digits) and the backend's name; valid while m is open. */
const char *fr_ffi_model_digest(const fr_ffi_model *m);
const char *fr_ffi_model_backend(const fr_ffi_model *m);

/* Runs one job, a JSON job spec as fractal-gen's --json record holds it: prompt and seed required, the rest
 * defaulting as the protocol says; "model" left out (or "") is the loaded model's, "height"/"width" left
 * out (or 0) its native size. progress (nullable) gets (done, total) after every denoising step and once
 * the frames are decoded: total is steps + 1, the decode being the last piece. The result is sealed: its
 * digest is the one fractal-gen prints. */
fr_status fr_ffi_generate(fr_ffi_model *m, const char *job_json, void (*progress)(void *ctx, int step, int steps),
                          void *ctx, fr_ffi_result **out);
/* The result JSON ({job_id, model, numerics, height, width, step_hashes, frames_hash, frame_hashes, digest,
 * timing}) and the job as run (canonical JSON); valid while r lives. */
const char *fr_ffi_result_json(const fr_ffi_result *r);
const char *fr_ffi_result_job_json(const fr_ffi_result *r);
/* The frames, frames x height x width x 3 RGB bytes; valid while r lives. */
const uint8_t *fr_ffi_result_frames(const fr_ffi_result *r, int *frames, int *height, int *width);
/* Writes the frames at fps frames per second in the format the path's name says (fr_video_write: .mp4,
 * .webm, .gif or a frame_%03d.png pattern), each file written aside and renamed. */
fr_status fr_ffi_result_save(const fr_ffi_result *r, const char *path, int fps);
void fr_ffi_result_free(fr_ffi_result *r);

#ifdef __cplusplus
}
#endif
#endif
