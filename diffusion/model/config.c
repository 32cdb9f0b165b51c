/* config.json parsing for the UNet3D, the VAE and the CLIP text encoder. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model/config.h"

typedef struct cfg {
  json_t *root;
  const char *origin;
} cfg;

static fr_status open_cfg(const char *text, const char *origin, cfg *c)
{
  json_error_t e;
  c->origin = origin;
  c->root = json_loads(text, JSON_REJECT_DUPLICATES, &e);
  if (!c->root) return fr_fail(FR_EFORMAT, "%s: line %d column %d: %s", origin, e.line, e.column, e.text);
  if (!json_is_object(c->root)) {
    json_decref(c->root);
    return fr_fail(FR_EFORMAT, "%s: not a JSON object", origin);
  }
  return FR_OK;
}

/* Present and non-null, or NULL. */
static json_t *field(const cfg *c, const char *key)
{
  json_t *v = json_object_get(c->root, key);
  return json_is_null(v) ? NULL : v;
}

static fr_status int_field(const cfg *c, const char *key, int def, int lo, int hi, int *out)
{
  json_t *v = field(c, key);
  if (!v) {
    if (def < lo) return fr_fail(FR_EFORMAT, "%s: %s is missing", c->origin, key);
    *out = def;
    return FR_OK;
  }
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return fr_fail(FR_EFORMAT, "%s: %s must be an integer in %d..%d", c->origin, key, lo, hi);
  *out = (int)json_integer_value(v);
  return FR_OK;
}

static fr_status num_field(const cfg *c, const char *key, double def, double *out)
{
  json_t *v = field(c, key);
  if (!v) {
    *out = def;
    return FR_OK;
  }
  if (!json_is_number(v)) return fr_fail(FR_EFORMAT, "%s: %s must be a number", c->origin, key);
  *out = json_number_value(v);
  return FR_OK;
}

static fr_status str_is(const cfg *c, const char *key, const char *def, const char *want)
{
  json_t *v = field(c, key);
  const char *s = v ? json_string_value(v) : def;
  if (v && !json_is_string(v)) return fr_fail(FR_EFORMAT, "%s: %s must be a string", c->origin, key);
  if (strcmp(s, want) != 0)
    return fr_fail(FR_EUNSUPPORTED, "%s: %s \"%s\" is not supported (Fractal implements \"%s\")", c->origin, key, s,
                   want);
  return FR_OK;
}

static fr_status must_be_null(const cfg *c, const char *key)
{
  if (field(c, key)) return fr_fail(FR_EUNSUPPORTED, "%s: %s must be null (it is not supported)", c->origin, key);
  return FR_OK;
}

/* An int list of length n (or, if scalar_ok, one int repeated). */
static fr_status int_list(const cfg *c, const char *key, int n, int scalar_ok, int def, int *out)
{
  json_t *v = field(c, key);
  if (!v && def > 0) {
    for (int i = 0; i < n; i++) out[i] = def;
    return FR_OK;
  }
  if (scalar_ok && json_is_integer(v)) {
    for (int i = 0; i < n; i++) out[i] = (int)json_integer_value(v);
  } else {
    if (!json_is_array(v) || (int)json_array_size(v) != n)
      return fr_fail(FR_EFORMAT, "%s: %s must be a list of %d integers", c->origin, key, n);
    for (int i = 0; i < n; i++) {
      json_t *e = json_array_get(v, (size_t)i);
      if (!json_is_integer(e)) return fr_fail(FR_EFORMAT, "%s: %s[%d] is not an integer", c->origin, key, i);
      out[i] = (int)json_integer_value(e);
    }
  }
  for (int i = 0; i < n; i++)
    if (out[i] < 1 || out[i] > 65536)
      return fr_fail(FR_EFORMAT, "%s: %s[%d] = %d is out of range", c->origin, key, i, out[i]);
  return FR_OK;
}

/* Block type names: sets flags[i] to 1 for `cross`, 0 for `plain`; anything else is unsupported. */
static fr_status block_types(const cfg *c, const char *key, const char *cross, const char *plain, int *n, int *flags)
{
  json_t *v = field(c, key);
  if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > FR_MAX_BLOCKS)
    return fr_fail(FR_EFORMAT, "%s: %s must be a list of 1..%d block names", c->origin, key, FR_MAX_BLOCKS);
  *n = (int)json_array_size(v);
  for (int i = 0; i < *n; i++) {
    const char *s = json_string_value(json_array_get(v, (size_t)i));
    if (s && cross && strcmp(s, cross) == 0) flags[i] = 1;
    else if (s && strcmp(s, plain) == 0) flags[i] = 0;
    else return fr_fail(FR_EUNSUPPORTED, "%s: %s[%d] \"%s\" is not supported", c->origin, key, i, s ? s : "?");
  }
  return FR_OK;
}

static fr_status parse_unet(const cfg *c, fr_unet_config *u)
{
  int nup;
  double eps = 1e-5, mid_scale = 1.0;
  FR_TRY(int_field(c, "in_channels", 4, 1, 64, &u->in_channels));
  FR_TRY(int_field(c, "out_channels", 4, 1, 64, &u->out_channels));
  FR_TRY(block_types(c, "down_block_types", "CrossAttnDownBlock3D", "DownBlock3D", &u->nblocks, u->down_cross));
  FR_TRY(block_types(c, "up_block_types", "CrossAttnUpBlock3D", "UpBlock3D", &nup, u->up_cross));
  if (nup != u->nblocks) return fr_fail(FR_EFORMAT, "%s: %d down blocks but %d up blocks", c->origin, u->nblocks, nup);
  FR_TRY(int_list(c, "block_out_channels", u->nblocks, 0, 0, u->block_out));
  FR_TRY(int_list(c, "attention_head_dim", u->nblocks, 1, 64, u->head_dim));
  FR_TRY(int_field(c, "layers_per_block", 2, 1, 16, &u->layers_per_block));
  FR_TRY(int_field(c, "norm_num_groups", 32, 1, 1024, &u->norm_groups));
  FR_TRY(int_field(c, "cross_attention_dim", 1024, 1, 65536, &u->cross_attention_dim));
  FR_TRY(int_field(c, "sample_size", 32, 1, 4096, &u->sample_size));
  FR_TRY(num_field(c, "norm_eps", 1e-5, &eps));
  FR_TRY(num_field(c, "mid_block_scale_factor", 1.0, &mid_scale));
  u->norm_eps = (float)eps;
  int pad = 1;
  FR_TRY(int_field(c, "downsample_padding", 1, 0, 8, &pad));
  if (pad != 1) return fr_fail(FR_EUNSUPPORTED, "%s: downsample_padding %d is not supported (1)", c->origin, pad);
  if (mid_scale != 1.0) return fr_fail(FR_EUNSUPPORTED, "%s: mid_block_scale_factor must be 1", c->origin);
  FR_TRY(str_is(c, "act_fn", "silu", "silu"));
  FR_TRY(must_be_null(c, "num_attention_heads"));
  FR_TRY(must_be_null(c, "time_cond_proj_dim"));
  for (int i = 0; i < u->nblocks; i++) {
    int ch = u->block_out[i];
    if (ch % u->norm_groups || ch % u->head_dim[i])
      return fr_fail(FR_EFORMAT,
                     "%s: block %d has %d channels, not divisible by norm_num_groups %d and "
                     "attention_head_dim %d",
                     c->origin, i, ch, u->norm_groups, u->head_dim[i]);
  }
  return FR_OK;
}

fr_status fr_unet_config_parse(const char *text, const char *origin, fr_unet_config *out)
{
  cfg c;
  memset(out, 0, sizeof *out);
  FR_TRY(open_cfg(text, origin, &c));
  fr_status st = parse_unet(&c, out);
  json_decref(c.root);
  return st;
}

static fr_status parse_vae(const cfg *c, fr_vae_config *v)
{
  int n, flags[FR_MAX_BLOCKS];
  FR_TRY(int_field(c, "latent_channels", 4, 1, 64, &v->latent_channels));
  FR_TRY(int_field(c, "out_channels", 3, 1, 64, &v->out_channels));
  FR_TRY(block_types(c, "up_block_types", NULL, "UpDecoderBlock2D", &v->nblocks, flags));
  FR_TRY(block_types(c, "down_block_types", NULL, "DownEncoderBlock2D", &n, flags));
  FR_TRY(int_list(c, "block_out_channels", v->nblocks, 0, 0, v->block_out));
  FR_TRY(int_field(c, "layers_per_block", 1, 1, 16, &v->layers_per_block));
  FR_TRY(int_field(c, "norm_num_groups", 32, 1, 1024, &v->norm_groups));
  FR_TRY(num_field(c, "scaling_factor", 0.18215, &v->scaling_factor));
  FR_TRY(str_is(c, "act_fn", "silu", "silu"));
  FR_TRY(must_be_null(c, "shift_factor"));
  json_t *pq = field(c, "use_post_quant_conv"), *ma = field(c, "mid_block_add_attention");
  v->post_quant_conv = pq ? json_is_true(pq) : 1;
  v->mid_attention = ma ? json_is_true(ma) : 1;
  if (!(v->scaling_factor > 0)) return fr_fail(FR_EFORMAT, "%s: scaling_factor must be > 0", c->origin);
  for (int i = 0; i < v->nblocks; i++)
    if (v->block_out[i] % v->norm_groups)
      return fr_fail(FR_EFORMAT, "%s: block %d's %d channels do not split into %d groups", c->origin, i,
                     v->block_out[i], v->norm_groups);
  return FR_OK;
}

fr_status fr_vae_config_parse(const char *text, const char *origin, fr_vae_config *out)
{
  cfg c;
  memset(out, 0, sizeof *out);
  FR_TRY(open_cfg(text, origin, &c));
  fr_status st = parse_vae(&c, out);
  json_decref(c.root);
  return st;
}

static fr_status parse_clip(const cfg *c, fr_clip_config *k)
{
  double eps = 1e-5;
  FR_TRY(int_field(c, "vocab_size", 49408, 1, 1 << 24, &k->vocab_size));
  FR_TRY(int_field(c, "hidden_size", 512, 1, 65536, &k->hidden));
  FR_TRY(int_field(c, "intermediate_size", 2048, 1, 1 << 20, &k->intermediate));
  FR_TRY(int_field(c, "num_hidden_layers", 12, 1, 64, &k->layers));
  FR_TRY(int_field(c, "num_attention_heads", 8, 1, 1024, &k->heads));
  FR_TRY(int_field(c, "max_position_embeddings", 77, 2, 65536, &k->max_positions));
  FR_TRY(num_field(c, "layer_norm_eps", 1e-5, &eps));
  k->ln_eps = (float)eps;
  json_t *act = field(c, "hidden_act");
  const char *a = act ? json_string_value(act) : "quick_gelu";
  if (!a || (strcmp(a, "gelu") != 0 && strcmp(a, "quick_gelu") != 0))
    return fr_fail(FR_EUNSUPPORTED, "%s: hidden_act \"%s\" is not supported (gelu or quick_gelu)", c->origin,
                   a ? a : "?");
  k->quick_gelu = strcmp(a, "quick_gelu") == 0;
  if (k->hidden % k->heads)
    return fr_fail(FR_EFORMAT, "%s: hidden_size %d does not split into %d heads", c->origin, k->hidden, k->heads);
  return FR_OK;
}

fr_status fr_clip_config_parse(const char *text, const char *origin, fr_clip_config *out)
{
  cfg c;
  memset(out, 0, sizeof *out);
  FR_TRY(open_cfg(text, origin, &c));
  fr_status st = parse_clip(&c, out);
  json_decref(c.root);
  return st;
}

fr_status fr_read_text_file(const char *path, size_t max_bytes, char **out)
{
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return fr_fail(FR_EIO, "%s: %s", path, strerror(errno));
  char *buf = (char *)malloc(max_bytes + 1);
  size_t n = buf ? fread(buf, 1, max_bytes + 1, f) : 0;
  int err = ferror(f);
  fclose(f);
  if (!buf) return fr_fail(FR_ENOMEM, "%s: out of memory", path);
  if (err || n > max_bytes) {
    free(buf);
    return fr_fail(err ? FR_EIO : FR_EFORMAT, err ? "%s: read error" : "%s: larger than %zu bytes", path, max_bytes);
  }
  buf[n] = '\0';
  *out = buf;
  return FR_OK;
}
