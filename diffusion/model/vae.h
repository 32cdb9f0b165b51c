/* The VAE decoder of AutoencoderKL (post_quant_conv + Decoder): latents to images. Internal. */
#ifndef FRACTAL_VAE_H
#define FRACTAL_VAE_H

#include "model/config.h"
#include "model/layers.h"

#define FR_VAE_MAX_LAYERS 17

typedef struct fr_vae_block {
  int nlayers;
  fr_resnet res[FR_VAE_MAX_LAYERS];
  fr_conv up;
  int has_up;
} fr_vae_block;

typedef struct fr_vae {
  fr_vae_config cfg;
  fr_conv post_quant, conv_in, conv_out;
  fr_resnet mid0, mid1;
  fr_norm attn_norm;
  fr_attn attn; /* one head over the whole width, q/k/v with bias */
  fr_vae_block up[FR_MAX_BLOCKS];
  fr_norm norm_out;
} fr_vae;

void fr_vae_bind(fr_binder *b, const fr_vae_config *cfg, fr_vae *v);
/* z [N, latent_channels, h, w], already divided by the scaling factor -> img [N, out_channels, 8h, 8w]
 * (the factor is 2^(blocks - 1)). */
fr_status fr_vae_decode(fr_exec *ex, const fr_vae *v, const fr_tensor *z, fr_tensor *img);
int fr_vae_scale(const fr_vae_config *cfg);
/* Lists the encoder and quant_conv tensors (FR_BIND_LIST only): text-to-video never encodes, but a
 * complete AutoencoderKL file has them (fractal-mkmodel writes them so other tools can load it). */
void fr_vae_encoder_list(fr_binder *b, const fr_vae_config *cfg);

#endif
