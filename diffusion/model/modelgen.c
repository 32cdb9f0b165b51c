/* fractal-mkmodel's library side: preset configs, a tokenizer, and Philox-random weights for every
 * tensor the model code binds, written as a diffusers-layout folder; and the architecture of a preset or
 * of a model folder (fr_model_arch), without weights. */
#define _POSIX_C_SOURCE 200809L /* popen, strdup */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "model/clip.h"
#include "fractal/backend.h"
#include "fractal/half.h"
#include "fractal/modelgen.h"
#include "fractal/safetensors.h"
#include "fractal/tokenizer.h"
#include "model/unet.h"
#include "model/vae.h"

static const char *const presets[] = {"tiny", "small", "ms-1.7b", NULL};

const char *const *fr_modelgen_presets(void) { return presets; }

typedef struct preset {
  fr_unet_config unet;
  fr_vae_config vae;
  fr_clip_config clip;
  int vae_sample;
} preset;

static int get_preset(const char *name, int vocab, preset *p)
{
  memset(p, 0, sizeof *p);
  fr_unet_config *u = &p->unet;
  fr_vae_config *v = &p->vae;
  fr_clip_config *c = &p->clip;
  u->in_channels = u->out_channels = 4;
  v->latent_channels = 4, v->out_channels = 3, v->post_quant_conv = 1, v->mid_attention = 1,
  v->scaling_factor = 0.18215;
  v->nblocks = 4;
  u->norm_eps = 1e-5f;
  c->vocab_size = vocab, c->max_positions = 77, c->ln_eps = 1e-5f, c->quick_gelu = 0;
  if (strcmp(name, "tiny") == 0) {
    static const int bo[2] = {32, 64}, dc[2] = {1, 0}, uc[2] = {0, 1};
    u->nblocks = 2, u->layers_per_block = 1, u->norm_groups = 8, u->cross_attention_dim = 32, u->sample_size = 8;
    for (int i = 0; i < 2; i++)
      u->block_out[i] = bo[i], u->down_cross[i] = dc[i], u->up_cross[i] = uc[i], u->head_dim[i] = 8;
    static const int vb[4] = {16, 16, 32, 32};
    memcpy(v->block_out, vb, sizeof vb);
    v->layers_per_block = 1, v->norm_groups = 8, p->vae_sample = 64;
    c->hidden = 32, c->intermediate = 64, c->layers = 2, c->heads = 2;
  } else if (strcmp(name, "small") == 0) {
    static const int bo[4] = {32, 64, 64, 64};
    u->nblocks = 4, u->layers_per_block = 2, u->norm_groups = 8, u->cross_attention_dim = 64, u->sample_size = 16;
    for (int i = 0; i < 4; i++)
      u->block_out[i] = bo[i], u->down_cross[i] = i<3, u->up_cross[i] = i> 0, u->head_dim[i] = 8;
    static const int vb[4] = {16, 32, 64, 64};
    memcpy(v->block_out, vb, sizeof vb);
    v->layers_per_block = 2, v->norm_groups = 8, p->vae_sample = 128;
    c->hidden = 64, c->intermediate = 128, c->layers = 3, c->heads = 4;
  } else if (strcmp(name, "ms-1.7b") == 0) {
    static const int bo[4] = {320, 640, 1280, 1280};
    u->nblocks = 4, u->layers_per_block = 2, u->norm_groups = 32, u->cross_attention_dim = 1024, u->sample_size = 32;
    for (int i = 0; i < 4; i++)
      u->block_out[i] = bo[i], u->down_cross[i] = i<3, u->up_cross[i] = i> 0, u->head_dim[i] = 64;
    static const int vb[4] = {128, 256, 512, 512};
    memcpy(v->block_out, vb, sizeof vb);
    v->layers_per_block = 2, v->norm_groups = 32, p->vae_sample = 256;
    c->hidden = 1024, c->intermediate = 4096, c->layers = 23, c->heads = 16, c->vocab_size = 49408;
  } else {
    return -1;
  }
  return 0;
}

static json_t *int_list(const int *v, int n)
{
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
  return a;
}

static json_t *name_list(int n, const int *flags, const char *yes, const char *no)
{
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, json_string(flags && flags[i] ? yes : no));
  return a;
}

static fr_status write_json(const char *dir, const char *file, json_t *obj)
{
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  int rc = json_dump_file(obj, path, JSON_INDENT(2) | JSON_SORT_KEYS);
  json_decref(obj);
  if (rc != 0) return fr_fail(FR_EIO, "%s: cannot write", path);
  return FR_OK;
}

static fr_status make_dir(const char *path)
{
  if (mkdir(path, 0755) != 0 && errno != EEXIST) return fr_fail(FR_EIO, "%s: %s", path, strerror(errno));
  return FR_OK;
}

static fr_status write_configs(const char *dir, const preset *p)
{
  const fr_unet_config *u = &p->unet;
  const fr_vae_config *v = &p->vae;
  const fr_clip_config *c = &p->clip;
  json_t *mi =
      json_pack("{s:s, s:s, s:[s,s], s:[s,s], s:[s,s], s:[s,s], s:[s,s]}", "_class_name", "TextToVideoSDPipeline",
                "_diffusers_version", "0.33.1", "scheduler", "diffusers", "DDIMScheduler", "text_encoder",
                "transformers", "CLIPTextModel", "tokenizer", "transformers", "CLIPTokenizer", "unet", "diffusers",
                "UNet3DConditionModel", "vae", "diffusers", "AutoencoderKL");
  FR_TRY(write_json(dir, "model_index.json", mi));
  int down[FR_MAX_BLOCKS], up[FR_MAX_BLOCKS];
  for (int i = 0; i < u->nblocks; i++) down[i] = u->down_cross[i], up[i] = u->up_cross[i];
  json_t *uj = json_pack(
      "{s:s, s:s, s:s, s:i, s:o, s:i, s:o, s:i, s:i, s:i, s:i, s:f, s:i, s:i, s:i, s:o}", "_class_name",
      "UNet3DConditionModel", "_diffusers_version", "0.33.1", "act_fn", "silu", "attention_head_dim", u->head_dim[0],
      "block_out_channels", int_list(u->block_out, u->nblocks), "cross_attention_dim", u->cross_attention_dim,
      "down_block_types", name_list(u->nblocks, down, "CrossAttnDownBlock3D", "DownBlock3D"), "downsample_padding", 1,
      "in_channels", u->in_channels, "layers_per_block", u->layers_per_block, "mid_block_scale_factor", 1, "norm_eps",
      1e-5, "norm_num_groups", u->norm_groups, "out_channels", u->out_channels, "sample_size", u->sample_size,
      "up_block_types", name_list(u->nblocks, up, "CrossAttnUpBlock3D", "UpBlock3D"));
  FR_TRY(write_json(dir, "unet/config.json", uj));
  json_t *vj = json_pack("{s:s, s:s, s:s, s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:i, s:o}", "_class_name", "AutoencoderKL",
                         "_diffusers_version", "0.33.1", "act_fn", "silu", "block_out_channels",
                         int_list(v->block_out, v->nblocks), "down_block_types",
                         name_list(v->nblocks, NULL, "", "DownEncoderBlock2D"), "in_channels", 3, "latent_channels",
                         v->latent_channels, "layers_per_block", v->layers_per_block, "norm_num_groups", v->norm_groups,
                         "out_channels", v->out_channels, "sample_size", p->vae_sample, "up_block_types",
                         name_list(v->nblocks, NULL, "", "UpDecoderBlock2D"));
  FR_TRY(write_json(dir, "vae/config.json", vj));
  json_t *cj =
      json_pack("{s:[s], s:i, s:i, s:i, s:s, s:i, s:f, s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:s}", "architectures",
                "CLIPTextModel", "bos_token_id", 0, "eos_token_id", 2, "hidden_size", c->hidden, "hidden_act",
                c->quick_gelu ? "quick_gelu" : "gelu", "intermediate_size", c->intermediate, "layer_norm_eps", 1e-5,
                "max_position_embeddings", c->max_positions, "model_type", "clip_text_model", "num_attention_heads",
                c->heads, "num_hidden_layers", c->layers, "pad_token_id", 1, "projection_dim", 512, "vocab_size",
                c->vocab_size, "torch_dtype", "float32");
  FR_TRY(write_json(dir, "text_encoder/config.json", cj));
  json_t *sj = json_pack("{s:s, s:s, s:f, s:s, s:f, s:b, s:i, s:s, s:b, s:b, s:i, s:n}", "_class_name", "DDIMScheduler",
                         "_diffusers_version", "0.33.1", "beta_end", 0.012, "beta_schedule", "scaled_linear",
                         "beta_start", 0.00085, "clip_sample", 0, "num_train_timesteps", 1000, "prediction_type",
                         "epsilon", "set_alpha_to_one", 0, "skip_prk_steps", 1, "steps_offset", 1, "trained_betas");
  return write_json(dir, "scheduler/scheduler_config.json", sj);
}

/* GPT-2's byte-to-unicode table: printable bytes map to themselves, the rest to U+0100 upward. */
static void byte_char(int b, char *out)
{
  static int map[256], ready;
  if (!ready) {
    int n = 0;
    for (int i = 0; i < 256; i++) {
      int printable = (i >= '!' && i <= '~') || (i >= 0xa1 && i <= 0xac) || (i >= 0xae && i <= 0xff);
      map[i] = printable ? i : 256 + n++;
    }
    ready = 1;
  }
  int cp = map[b];
  if (cp < 0x80) out[0] = (char)cp, out[1] = '\0';
  else out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), out[2] = '\0';
}

/* Reads the merges (lines 2.. of CLIP's bpe file, plain or gzip through `gzip -dc`). */
static fr_status read_merges(const char *path, char **text)
{
  size_t n = strlen(path);
  if (n > 3 && strcmp(path + n - 3, ".gz") == 0) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s'", path);
    FILE *f = popen(cmd, "r");
    if (!f) return fr_fail(FR_EIO, "%s: cannot run gzip", path);
    size_t cap = 1 << 22, len = 0;
    char *buf = (char *)malloc(cap);
    for (size_t got = 1; buf != NULL && got > 0; len += got) {
      if (len + 65536 > cap) {
        char *nb = (char *)realloc(buf, cap *= 2);
        if (!nb) free(buf);
        buf = nb;
      }
      got = buf ? fread(buf + len, 1, 65536, f) : 0;
    }
    int rc = pclose(f);
    if (!buf) return fr_fail(FR_ENOMEM, "out of memory");
    if (rc != 0 || len == 0) {
      free(buf);
      return fr_fail(FR_EIO, "%s: gzip failed", path);
    }
    buf[len] = '\0';
    *text = buf;
    return FR_OK;
  }
  return fr_read_text_file(path, 64u << 20, text);
}

/* vocab.json + merges.txt the way CLIP builds them: 256 byte chars, the same with </w>, one token per
 * merge (at most 48894), then <|startoftext|> and <|endoftext|>. */
static fr_status write_tokenizer(const char *dir, const char *bpe_file, int *vocab_size)
{
  char path[1200], ch[4], buf[64];
  char *merges = NULL;
  if (bpe_file) FR_TRY(read_merges(bpe_file, &merges));
  json_t *vocab = json_object();
  int id = 0;
  for (int b = 0; b < 256; b++) byte_char(b, ch), json_object_set_new(vocab, ch, json_integer(id++));
  for (int b = 0; b < 256; b++)
    byte_char(b, ch), snprintf(buf, sizeof buf, "%s</w>", ch), json_object_set_new(vocab, buf, json_integer(id++));
  snprintf(path, sizeof path, "%s/tokenizer/merges.txt", dir);
  FILE *mf = fopen(path, "w");
  if (!mf) {
    free(merges), json_decref(vocab);
    return fr_fail(FR_EIO, "%s: %s", path, strerror(errno));
  }
  fprintf(mf, "#version: 0.2\n");
  if (merges) {
    char *line = strchr(merges, '\n'); /* skip the header line */
    for (int count = 0; line && count < 48894; count++) {
      char *start = line + 1, *end = strchr(start, '\n');
      if (end) *end = '\0';
      char *sp = strchr(start, ' ');
      if (!*start || !sp) break;
      fprintf(mf, "%s\n", start);
      *sp = '\0';
      char joined[512];
      snprintf(joined, sizeof joined, "%s%s", start, sp + 1);
      json_object_set_new(vocab, joined, json_integer(id++));
      line = end;
    }
  }
  int werr = fclose(mf) != 0;
  free(merges);
  json_object_set_new(vocab, "<|startoftext|>", json_integer(id++));
  json_object_set_new(vocab, "<|endoftext|>", json_integer(id++));
  *vocab_size = id;
  if (werr) {
    json_decref(vocab);
    return fr_fail(FR_EIO, "%s: write error", path);
  }
  snprintf(path, sizeof path, "%s/tokenizer/vocab.json", dir);
  int rc = json_dump_file(vocab, path, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(vocab);
  if (rc) return fr_fail(FR_EIO, "%s: cannot write", path);
  json_t *stm = json_pack("{s:s, s:s, s:s, s:s}", "bos_token", "<|startoftext|>", "eos_token", "<|endoftext|>",
                          "pad_token", "!", "unk_token", "<|endoftext|>");
  FR_TRY(write_json(dir, "tokenizer/special_tokens_map.json", stm));
  json_t *tc =
      json_pack("{s:b, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:b}", "add_prefix_space", 0, "bos_token", "<|startoftext|>",
                "eos_token", "<|endoftext|>", "errors", "replace", "model_max_length", 77, "pad_token", "!",
                "tokenizer_class", "CLIPTokenizer", "unk_token", "<|endoftext|>", "do_lower_case", 1);
  return write_json(dir, "tokenizer/tokenizer_config.json", tc);
}

typedef struct tensor_list {
  char **names;
  int64_t (*shapes)[FR_MAX_DIMS];
  int *ndims;
  int n, cap;
} tensor_list;

static void collect(void *ctx, const char *name, int ndim, const int64_t *shape)
{
  tensor_list *l = (tensor_list *)ctx;
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 512;
    l->names = (char **)realloc(l->names, sizeof *l->names * (size_t)cap);
    l->shapes = realloc(l->shapes, sizeof *l->shapes * (size_t)cap);
    l->ndims = (int *)realloc(l->ndims, sizeof *l->ndims * (size_t)cap);
    l->cap = cap;
  }
  l->names[l->n] = strdup(name);
  for (int i = 0; i < ndim; i++) l->shapes[l->n][i] = shape[i];
  l->ndims[l->n++] = ndim;
}

static void list_free(tensor_list *l)
{
  for (int i = 0; i < l->n; i++) free(l->names[i]);
  free(l->names), free(l->shapes), free(l->ndims);
}

/* Philox normals, threaded on the CPU backend, scaled by kind: matrices N(0, 1/fan_in), norm gains
 * 1 + 0.1 N, biases and other vectors 0.05 N. Each tensor's stream is the hash of its name. */
static fr_status make_tensor(fr_backend *cpu, const fr_modelgen_options *o, const char *name, int ndim,
                             const int64_t *shape, fr_st_writer *w)
{
  fr_tensor t;
  FR_TRY(fr_tensor_alloc(cpu, FR_F32, ndim, shape, &t));
  int64_t n = fr_tensor_numel(&t);
  fr_status st = fr_fill_normal(cpu, o->seed, XXH3_64bits(name, strlen(name)), &t);
  float *v = (float *)t.data;
  size_t len = strlen(name);
  int is_weight = len > 7 && strcmp(name + len - 7, ".weight") == 0;
  int64_t fan_in = ndim >= 2 ? n / shape[0] : 1;
  float scale = ndim >= 2 ? (float)(1.0 / sqrt((double)fan_in)) : (is_weight ? 0.1f : 0.05f);
  float shift = ndim == 1 && is_weight ? 1.0f : 0.0f;
  for (int64_t i = 0; st == FR_OK && i < n; i++) v[i] = shift + scale * v[i];
  if (st == FR_OK && o->dtype != FR_F32) {
    uint16_t *h = (uint16_t *)t.data; /* narrowing in place, front to back */
    for (int64_t i = 0; i < n; i++) h[i] = o->dtype == FR_F16 ? fr_f32_to_f16(v[i]) : fr_f32_to_bf16(v[i]);
  }
  if (st == FR_OK) st = fr_st_writer_add(w, name, o->dtype, ndim, shape, t.data);
  fr_tensor_free(cpu, &t);
  return st;
}

static fr_status write_component(const char *dir, const char *file, const char *what, const preset *p, int which,
                                 fr_backend *cpu, const fr_modelgen_options *o)
{
  tensor_list list = {0};
  fr_binder b;
  fr_binder_init(&b, FR_BIND_LIST, NULL, NULL, what);
  b.on_tensor = collect, b.ctx = &list;
  if (which == 0) {
    fr_clip m;
    fr_clip_bind(&b, &p->clip, &m);
  } else if (which == 1) {
    static fr_unet u; /* large: keep it off the stack */
    fr_unet_bind(&b, &p->unet, &u);
  } else {
    static fr_vae v;
    fr_vae_encoder_list(&b, &p->vae);
    fr_vae_bind(&b, &p->vae, &v);
  }
  fr_st_writer *w = fr_st_writer_new();
  fr_status st = w ? FR_OK : fr_fail(FR_ENOMEM, "out of memory");
  if (st == FR_OK) st = fr_st_writer_metadata(w, "format", "pt");
  for (int i = 0; st == FR_OK && i < list.n; i++) {
    st = make_tensor(cpu, o, list.names[i], list.ndims[i], list.shapes[i], w);
    if (o->progress) o->progress(o->progress_ctx, what, i + 1, list.n);
  }
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  if (st == FR_OK) st = fr_st_writer_save(w, path);
  fr_st_writer_free(w);
  list_free(&list);
  return st;
}

fr_status fr_modelgen_write(const char *dir, const fr_modelgen_options *o)
{
  if (!o || !o->preset) return fr_fail(FR_EINVAL, "fr_modelgen_write: no preset");
  if (o->dtype != FR_F32 && o->dtype != FR_F16 && o->dtype != FR_BF16)
    return fr_fail(FR_EINVAL, "weights must be F32, F16 or BF16");
  preset p;
  if (get_preset(o->preset, 514, &p) != 0)
    return fr_fail(FR_EINVAL, "unknown preset \"%s\" (tiny, small, ms-1.7b)", o->preset);
  static const char *const subs[] = {"", "/unet", "/vae", "/text_encoder", "/tokenizer", "/scheduler"};
  char path[1200];
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
    snprintf(path, sizeof path, "%s%s", dir, subs[i]);
    FR_TRY(make_dir(path));
  }
  int vocab = 0;
  FR_TRY(write_tokenizer(dir, o->bpe_file, &vocab));
  if (p.clip.vocab_size < vocab) p.clip.vocab_size = vocab;
  FR_TRY(write_configs(dir, &p));
  fr_backend *cpu;
  FR_TRY(fr_backend_open("cpu", 0, &cpu));
  const char *suffix = o->dtype == FR_F32 ? "" : ".fp16";
  char f0[128], f1[128], f2[128];
  snprintf(f0, sizeof f0, "text_encoder/model%s.safetensors", o->dtype == FR_F32 ? "" : ".fp16");
  snprintf(f1, sizeof f1, "unet/diffusion_pytorch_model%s.safetensors", suffix);
  snprintf(f2, sizeof f2, "vae/diffusion_pytorch_model%s.safetensors", suffix);
  fr_status st = write_component(dir, f0, "text encoder", &p, 0, cpu, o);
  if (st == FR_OK) st = write_component(dir, f1, "unet", &p, 1, cpu, o);
  if (st == FR_OK) st = write_component(dir, f2, "vae", &p, 2, cpu, o);
  fr_backend_close(cpu);
  return st;
}

_Static_assert(FR_ARCH_MAX_BLOCKS == FR_MAX_BLOCKS, "fr_model_arch holds every block of a config");

static void to_arch(const fr_unet_config *u, const fr_vae_config *v, const fr_clip_config *c, fr_model_arch *a)
{
  memset(a, 0, sizeof *a);
  a->unet.in_channels = u->in_channels, a->unet.out_channels = u->out_channels, a->unet.nblocks = u->nblocks;
  a->unet.layers_per_block = u->layers_per_block, a->unet.norm_groups = u->norm_groups;
  a->unet.cross_attention_dim = u->cross_attention_dim, a->unet.sample_size = u->sample_size;
  a->unet.norm_eps = u->norm_eps;
  memcpy(a->unet.block_out, u->block_out, sizeof u->block_out);
  memcpy(a->unet.down_cross, u->down_cross, sizeof u->down_cross);
  memcpy(a->unet.up_cross, u->up_cross, sizeof u->up_cross);
  memcpy(a->unet.head_dim, u->head_dim, sizeof u->head_dim);
  a->vae.latent_channels = v->latent_channels, a->vae.out_channels = v->out_channels, a->vae.nblocks = v->nblocks;
  a->vae.layers_per_block = v->layers_per_block, a->vae.norm_groups = v->norm_groups;
  a->vae.post_quant_conv = v->post_quant_conv, a->vae.mid_attention = v->mid_attention;
  a->vae.scaling_factor = v->scaling_factor;
  memcpy(a->vae.block_out, v->block_out, sizeof v->block_out);
  a->clip.vocab_size = c->vocab_size, a->clip.hidden = c->hidden, a->clip.intermediate = c->intermediate;
  a->clip.layers = c->layers, a->clip.heads = c->heads, a->clip.max_positions = c->max_positions;
  a->clip.quick_gelu = c->quick_gelu, a->clip.ln_eps = c->ln_eps;
  a->unet_dtype = a->vae_dtype = a->clip_dtype = FR_F32;
}

fr_status fr_modelgen_arch(const char *name, fr_model_arch *out)
{
  preset p;
  if (!name || get_preset(name, 514, &p) != 0) /* 514: the byte-level tokenizer's ids (no bpe_file) */
    return fr_fail(FR_EINVAL, "unknown preset \"%s\" (tiny, small, ms-1.7b)", name ? name : "");
  to_arch(&p.unet, &p.vae, &p.clip, out);
  out->text_len = 77; /* write_tokenizer's model_max_length */
  return FR_OK;
}

/* The dtype of a component's weights as fr_model_load opens them: of the named tensor, else of the file's first. */
static fr_status weights_dtype(const char *dir, const char *sub, const char *stem, const char *name, fr_dtype *dt)
{
  char path[1200];
  fr_weights w;
  snprintf(path, sizeof path, "%s/%s", dir, sub);
  FR_TRY(fr_weights_open(path, stem, NULL, &w));
  const fr_st_entry *e = fr_weights_find(&w, name);
  if (!e && w.nfiles > 0 && fr_st_count(w.files[0]) > 0) e = fr_st_entry_at(w.files[0], 0);
  if (e) *dt = e->dtype;
  fr_weights_close(&w);
  return e ? FR_OK : fr_fail(FR_EFORMAT, "%s: no tensors in the %s weights", path, stem);
}

fr_status fr_model_arch_read(const char *dir, fr_model_arch *out)
{
  static const char *const files[3] = {"unet/config.json", "vae/config.json", "text_encoder/config.json"};
  fr_unet_config u;
  fr_vae_config v;
  fr_clip_config c;
  char path[1200];
  for (int i = 0; i < 3; i++) {
    char *text;
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    FR_TRY(fr_read_text_file(path, 1u << 20, &text));
    fr_status st = i == 0   ? fr_unet_config_parse(text, path, &u)
                   : i == 1 ? fr_vae_config_parse(text, path, &v)
                            : fr_clip_config_parse(text, path, &c);
    free(text);
    FR_TRY(st);
  }
  to_arch(&u, &v, &c, out);
  fr_tokenizer *tok;
  snprintf(path, sizeof path, "%s/tokenizer", dir);
  FR_TRY(fr_tokenizer_load(path, &tok));
  out->text_len = fr_tokenizer_max_length(tok);
  fr_tokenizer_free(tok);
  FR_TRY(weights_dtype(dir, "unet", "diffusion_pytorch_model", "conv_in.weight", &out->unet_dtype));
  FR_TRY(weights_dtype(dir, "vae", "diffusion_pytorch_model", "decoder.conv_in.weight", &out->vae_dtype));
  return weights_dtype(dir, "text_encoder", "model", "text_model.encoder.layers.0.self_attn.q_proj.weight",
                       &out->clip_dtype);
}
