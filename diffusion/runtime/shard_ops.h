/* Frame-parallel pieces of the UNet's temporal layers (docs/pipeline.md, "Sharding one job
 * over ranks"): a rank holds frames [f0, f1) of every video row. Cross-frame GroupNorm
 * combines per-frame partial sums in frame order; the frame conv borrows one frame from each
 * neighbouring rank; temporal attention switches to a pixel-sharded layout and back. Every result is
 * the unsharded result to the bit. Internal to diffusion/. */
#ifndef FRACTAL_SHARD_H
#define FRACTAL_SHARD_H

#include "runtime/exec.h"
#include "fractal/comm.h"

#define FR_SHARD_MAX 64

typedef struct fr_shard {
  fr_comm *comm;                   /* the ranks splitting these video rows by frames (P of them) */
  int rank, ranks;                 /* in comm */
  int64_t frames;                  /* F, the whole video */
  int64_t start[FR_SHARD_MAX + 1]; /* rank p holds frames [start[p], start[p + 1]) */
} fr_shard;

/* Frames split as evenly as possible, the first F mod P ranks taking one more. */
void fr_shard_split(int64_t frames, int ranks, int64_t *start);
static inline int64_t fr_shard_local(const fr_shard *sh) { return sh->start[sh->rank + 1] - sh->start[sh->rank]; }

/* Cross-frame GroupNorm of x [B*F_local, C, ...] (the videos' local frames, video-major): with sh NULL,
 * fr_group_norm over runs of `frames`; sharded, the same statistics from every rank's partials. */
fr_status fr_shard_group_norm(fr_exec *ex, const fr_shard *sh, const fr_tensor *x, const fr_tensor *gamma,
                              const fr_tensor *beta, int groups, int frames, float eps, fr_act act, fr_tensor *y);

/* x [B*F_local, C, H, W] -> ext [B*(lo + F_local + hi), C, H, W] with the frame before (lo = 1 unless
 * this rank starts the video) and after (hi) borrowed from the neighbouring ranks. ext is allocated. */
fr_status fr_shard_halo(fr_exec *ex, const fr_shard *sh, const fr_tensor *x, fr_tensor *ext, int *lo, int *hi);

/* Tokens [B, HW, F_local, D] (frame-sharded) <-> [B, HW_local, F, D] (pixel-sharded: rank p holds
 * pixels [pstart[p], pstart[p + 1]) of every frame). to_pixels allocates `out`; to_frames fills the
 * caller's (B * HW * F_local * D elements). */
fr_status fr_shard_to_pixels(fr_exec *ex, const fr_shard *sh, const fr_tensor *tok, int64_t videos, int64_t hw,
                             fr_tensor *out);
fr_status fr_shard_to_frames(fr_exec *ex, const fr_shard *sh, const fr_tensor *tok, int64_t videos, int64_t hw,
                             fr_tensor *out);

#endif
