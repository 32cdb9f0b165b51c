/* UNet3DConditionModel (diffusers), the denoiser of ModelScope text-to-video: weights and forward.
 * Internal to diffusion/. */
#ifndef FRACTAL_UNET_H
#define FRACTAL_UNET_H

#include "model/config.h"
#include "model/layers.h"

#define FR_UNET_MAX_LAYERS 17 /* layers_per_block + 1 */

typedef struct fr_unet_layer {
  fr_resnet res;
  fr_tconv tconv;
  fr_transformer attn, tattn;
  int has_attn;
} fr_unet_layer;

typedef struct fr_unet_block {
  int nlayers;
  fr_unet_layer layer[FR_UNET_MAX_LAYERS];
  fr_conv resample; /* downsamplers.0.conv / upsamplers.0.conv */
  int has_resample;
} fr_unet_block;

typedef struct fr_unet {
  fr_unet_config cfg;
  fr_conv conv_in, conv_out;
  fr_lin time1, time2;
  fr_transformer transformer_in;
  fr_unet_block down[FR_MAX_BLOCKS], up[FR_MAX_BLOCKS];
  fr_unet_layer mid0, mid1; /* resnets[0]+temp_convs[0]+attentions[0]+temp_attentions[0]; resnets[1]+temp_convs[1] */
  fr_norm norm_out;
} fr_unet;

void fr_unet_bind(fr_binder *b, const fr_unet_config *cfg, fr_unet *u);

/* sample [B, C_in, F, h, w] (diffusers layout), per-row timesteps t[B], text [B, L, cross_dim]
 * -> out [B, C_out, F, h, w]. Sharded (sh not NULL): F is this rank's frames of the video. */
fr_status fr_unet_fwd(fr_exec *ex, const fr_unet *u, const fr_tensor *sample, const float *t, const fr_tensor *text,
                      const fr_shard *sh, fr_tensor *out);

#endif
