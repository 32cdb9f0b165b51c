/* Loading a diffusers-layout text-to-video model: configs, tokenizer, then the weights of the text
 * encoder, UNet and VAE, checked all together before any is uploaded, and the model digest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fractal/defs.h"
#include "fractal/i8x.h"
#include "model/model.h"

#define CONFIG_MAX (1u << 20)

static fr_status read_config(const char *dir, const char *file, char **text, char *path, size_t path_size)
{
  snprintf(path, path_size, "%s/%s", dir, file);
  return fr_read_text_file(path, CONFIG_MAX, text);
}

/* The parts of the configs that decide outputs, in a fixed text form, for the digest. */
static void digest_configs(fr_hasher *h, const fr_model *m)
{
  char buf[2048];
  const fr_unet_config *u = &m->unet.cfg;
  const fr_vae_config *v = &m->vae.cfg;
  const fr_clip_config *c = &m->clip.cfg;
  int n =
      snprintf(buf, sizeof buf, "unet in=%d out=%d layers=%d groups=%d eps=%08x cross=%d blocks=", u->in_channels,
               u->out_channels, u->layers_per_block, u->norm_groups, fr_f32_bits(u->norm_eps), u->cross_attention_dim);
  for (int i = 0; i < u->nblocks; i++)
    n += snprintf(buf + n, sizeof buf - (size_t)n, "%d/%d/%d/%d,", u->block_out[i], u->down_cross[i], u->up_cross[i],
                  u->head_dim[i]);
  fr_hasher_str(h, buf);
  n = snprintf(
      buf, sizeof buf, "vae latent=%d out=%d layers=%d groups=%d pq=%d attn=%d scale=%.17g blocks=", v->latent_channels,
      v->out_channels, v->layers_per_block, v->norm_groups, v->post_quant_conv, v->mid_attention, v->scaling_factor);
  for (int i = 0; i < v->nblocks; i++) n += snprintf(buf + n, sizeof buf - (size_t)n, "%d,", v->block_out[i]);
  fr_hasher_str(h, buf);
  snprintf(buf, sizeof buf, "clip vocab=%d hidden=%d inter=%d layers=%d heads=%d pos=%d quick=%d eps=%08x",
           c->vocab_size, c->hidden, c->intermediate, c->layers, c->heads, c->max_positions, c->quick_gelu,
           fr_f32_bits(c->ln_eps));
  fr_hasher_str(h, buf);
}

/* The scheduler file without metadata keys ("_class_name", "_diffusers_version"), keys sorted. */
static fr_status digest_scheduler(fr_hasher *h, const char *text, const char *path)
{
  json_error_t e;
  json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &e);
  if (!json_is_object(root)) {
    json_decref(root);
    return fr_fail(FR_EFORMAT, "%s: not a JSON object%s%s", path, root ? "" : ": ", root ? "" : e.text);
  }
  const char *key;
  json_t *val;
  void *tmp;
  json_object_foreach_safe(root, tmp, key, val)
  {
    if (key[0] == '_') json_object_del(root, key);
  }
  char *canon = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
  json_decref(root);
  if (!canon) return fr_fail(FR_ENOMEM, "out of memory");
  fr_hasher_str(h, canon);
  free(canon);
  return FR_OK;
}

static fr_status digest_tokenizer(fr_hasher *h, const char *dir)
{
  static const char *const files[] = {"vocab.json", "merges.txt"};
  char path[1200];
  for (int i = 0; i < 2; i++) {
    char *text;
    snprintf(path, sizeof path, "%s/tokenizer/%s", dir, files[i]);
    FR_TRY(fr_read_text_file(path, 64u << 20, &text));
    fr_hasher_str(h, text);
    free(text);
  }
  return FR_OK;
}

typedef struct component {
  const char *name, *sub, *stem;
  fr_weights w;
} component;

static void bind_all(fr_model *m, fr_binder *b, int which)
{
  if (which == 0) fr_clip_bind(b, &m->clip.cfg, &m->clip);
  else if (which == 1) fr_unet_bind(b, &m->unet.cfg, &m->unet);
  else fr_vae_bind(b, &m->vae.cfg, &m->vae);
}

/* Opens the three weight sets, checks every tensor, then uploads them and folds them into h. */
static fr_status load_weights(fr_model *m, const fr_model_options *opts, fr_hasher *h)
{
  static const char *const names[3][3] = {{"text encoder", "text_encoder", "model"},
                                          {"unet", "unet", "diffusion_pytorch_model"},
                                          {"vae", "vae", "diffusion_pytorch_model"}};
  component comp[3];
  memset(comp, 0, sizeof comp);
  for (int i = 0; i < 3; i++) comp[i].name = names[i][0], comp[i].sub = names[i][1], comp[i].stem = names[i][2];
  char path[1200];
  fr_status st = FR_OK;
  int opened = 0;
  for (; opened < 3 && st == FR_OK; opened++) {
    snprintf(path, sizeof path, "%s/%s", m->dir, comp[opened].sub);
    st = fr_weights_open(path, comp[opened].stem, opts ? opts->variant : NULL, &comp[opened].w);
    if (st != FR_OK) opened--;
  }
  /* check pass: every problem of every component in one message */
  char *report = NULL;
  size_t report_len = 0;
  int bad = 0;
  for (int i = 0; i < 3 && st == FR_OK; i++) {
    fr_binder b;
    fr_binder_init(&b, FR_BIND_CHECK, m->be, &comp[i].w, comp[i].name);
    bind_all(m, &b, i);
    if (fr_binder_finish(&b) != FR_OK) {
      const char *msg = fr_last_error();
      char *r = (char *)realloc(report, report_len + strlen(msg) + 2);
      if (r) {
        report = r;
        report_len += (size_t)sprintf(report + report_len, "%s%s", bad ? "\n" : "", msg);
      }
      bad++;
    }
    fr_binder_free(&b);
  }
  if (st == FR_OK && bad)
    st = fr_fail(FR_EFORMAT, "%s: the weights do not fit the configs:\n%s", m->dir, report ? report : "");
  free(report);
  for (int i = 0; i < 3 && st == FR_OK; i++) {
    fr_binder *b = &m->loaded[i];
    fr_binder_init(b, FR_BIND_LOAD, m->be, &comp[i].w, comp[i].name);
    b->digest = h;
    b->quantize_bits = m->i8x_bits;
    fr_hasher_str(h, comp[i].sub);
    bind_all(m, b, i);
    st = fr_binder_finish(b);
    m->weight_bytes += b->bytes;
    m->weight_tensors += b->count;
  }
  for (int i = 0; i < opened; i++) fr_weights_close(&comp[i].w);
  return st;
}

static fr_status load(fr_model *m, const fr_model_options *opts)
{
  char path[1200];
  char *text = NULL;
  fr_status st;
  FR_TRY(read_config(m->dir, "unet/config.json", &text, path, sizeof path));
  st = fr_unet_config_parse(text, path, &m->unet.cfg);
  free(text);
  FR_TRY(st);
  FR_TRY(read_config(m->dir, "vae/config.json", &text, path, sizeof path));
  st = fr_vae_config_parse(text, path, &m->vae.cfg);
  free(text);
  FR_TRY(st);
  FR_TRY(read_config(m->dir, "text_encoder/config.json", &text, path, sizeof path));
  st = fr_clip_config_parse(text, path, &m->clip.cfg);
  free(text);
  FR_TRY(st);
  if (m->clip.cfg.hidden != m->unet.cfg.cross_attention_dim)
    return fr_fail(FR_EFORMAT, "%s: the text encoder's hidden_size %d is not the UNet's cross_attention_dim %d", m->dir,
                   m->clip.cfg.hidden, m->unet.cfg.cross_attention_dim);
  if (m->vae.cfg.latent_channels != m->unet.cfg.in_channels || m->unet.cfg.in_channels != m->unet.cfg.out_channels)
    return fr_fail(FR_EFORMAT, "%s: the UNet's in/out channels (%d/%d) and the VAE's latent_channels (%d) disagree",
                   m->dir, m->unet.cfg.in_channels, m->unet.cfg.out_channels, m->vae.cfg.latent_channels);
  FR_TRY(read_config(m->dir, "scheduler/scheduler_config.json", &m->sched_json, path, sizeof path));
  for (int k = FR_SCHEDULER_DDIM; k <= FR_SCHEDULER_DPMPP_2M; k++) {
    m->sched_status[k] = fr_sched_config_parse(m->sched_json, path, (fr_scheduler)k, &m->sched[k]);
    snprintf(m->sched_error[k], sizeof m->sched_error[k], "%s", m->sched_status[k] == FR_OK ? "" : fr_last_error());
  }
  if (m->sched_status[FR_SCHEDULER_DDIM] != FR_OK && m->sched_status[FR_SCHEDULER_DPMPP_2M] != FR_OK)
    return fr_fail(m->sched_status[FR_SCHEDULER_DDIM], "%s", m->sched_error[FR_SCHEDULER_DDIM]);
  snprintf(path, sizeof path, "%s/tokenizer", m->dir);
  FR_TRY(fr_tokenizer_load(path, &m->tok));
  if (fr_tokenizer_max_length(m->tok) > m->clip.cfg.max_positions ||
      fr_tokenizer_vocab_size(m->tok) > m->clip.cfg.vocab_size)
    return fr_fail(FR_EFORMAT,
                   "%s: the tokenizer (%d tokens of %d ids) does not fit the text encoder (%d positions, "
                   "vocab %d)",
                   m->dir, fr_tokenizer_max_length(m->tok), fr_tokenizer_vocab_size(m->tok), m->clip.cfg.max_positions,
                   m->clip.cfg.vocab_size);

  fr_hasher *h = fr_hasher_new();
  if (!h) return fr_fail(FR_ENOMEM, "out of memory");
  fr_hasher_str(h, "fractal-model-v1");
  digest_configs(h, m);
  snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", m->dir);
  st = digest_scheduler(h, m->sched_json, path);
  if (st == FR_OK) st = digest_tokenizer(h, m->dir);
  if (st == FR_OK) st = load_weights(m, opts, h);
  if (st == FR_OK) {
    m->digest = fr_hasher_digest(h);
    fr_hash_hex(m->digest, m->digest_hex);
  }
  fr_hasher_free(h);
  return st;
}

fr_status fr_model_load(const char *dir, fr_backend *be, const fr_model_options *opts, fr_model **out)
{
  *out = NULL;
  fr_model *m = (fr_model *)calloc(1, sizeof *m);
  if (!m) return fr_fail(FR_ENOMEM, "out of memory loading a model");
  snprintf(m->dir, sizeof m->dir, "%s", dir);
  if (opts && opts->variant) snprintf(m->variant, sizeof m->variant, "%s", opts->variant);
  m->i8x_bits = opts ? opts->i8x : 0;
  if (m->i8x_bits && (m->i8x_bits < FR_I8X_MIN_BITS || m->i8x_bits > FR_I8X_MAX_BITS)) {
    free(m);
    return fr_fail(FR_EINVAL, "i8x: %d quantization bits (want %d..%d)", opts->i8x, FR_I8X_MIN_BITS, FR_I8X_MAX_BITS);
  }
  if (m->i8x_bits == FR_I8X_BITS) snprintf(m->numerics, sizeof m->numerics, "%s,%s", FR_NUMERICS, FR_I8X_PROFILE);
  else if (m->i8x_bits) snprintf(m->numerics, sizeof m->numerics, "%s,i8x-b%d", FR_NUMERICS, m->i8x_bits);
  else snprintf(m->numerics, sizeof m->numerics, "%s", FR_NUMERICS);
  m->be = be;
  fr_status st = load(m, opts);
  if (st != FR_OK) {
    fr_model_free(m);
    return st;
  }
  *out = m;
  return FR_OK;
}

void fr_model_free(fr_model *m)
{
  if (!m) return;
  for (int i = 0; i < 3; i++) fr_binder_free(&m->loaded[i]);
  fr_tokenizer_free(m->tok);
  free(m->sched_json);
  free(m);
}

void fr_model_get_info(const fr_model *m, fr_model_info *info)
{
  memset(info, 0, sizeof *info);
  info->digest = m->digest;
  memcpy(info->digest_hex, m->digest_hex, sizeof info->digest_hex);
  info->vae_scale = fr_vae_scale(&m->vae.cfg);
  info->default_height = info->default_width = m->unet.cfg.sample_size * info->vae_scale;
  info->latent_channels = m->unet.cfg.in_channels;
  info->text_len = fr_tokenizer_max_length(m->tok);
  info->text_dim = m->clip.cfg.hidden;
  info->weight_bytes = m->weight_bytes;
  info->weight_tensors = m->weight_tensors;
  info->dir = m->dir;
  info->numerics = m->numerics;
  info->i8x_bits = m->i8x_bits;
}

fr_backend *fr_model_backend(const fr_model *m) { return m->be; }
