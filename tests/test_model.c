/* Model loading: the tensors the model code expects for the ms-1.7b configuration are exactly the
 * design's lists (tests/data/ms17b, derived from the diffusers module tree); broken folders give one
 * clear error listing every problem; legacy VAE attention names and fp16 variants load. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <unistd.h>

#include "diffusion/model/clip.h"
#include "diffusion/model/unet.h"
#include "diffusion/model/vae.h"
#include "fractal/modelgen.h"
#include "fractal/pipeline.h"
#include "fractal/safetensors.h"
#include "fractal/protocol.h"
#include "testutil.h"

typedef struct listed {
  char lines[2000][160];
  int n;
} listed;

static void on_tensor(void *ctx, const char *name, int ndim, const int64_t *shape)
{
  listed *l = (listed *)ctx;
  fr_tensor t = fr_tensor_make_dims(FR_F32, NULL, ndim, shape);
  char s[96];
  if (l->n < 2000) snprintf(l->lines[l->n++], 160, "%s\t%s", name, fr_shape_str(&t, s, sizeof s));
}

static int cmp_lines(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

/* Compares the bound names and shapes with a TSV (lines "name<TAB>[shape]", '#' comments). */
static void compare_tsv(const char *what, listed *l, const char *tsv)
{
  char path[1024], line[512];
  snprintf(path, sizeof path, "%s/tests/data/ms17b/%s", getenv("FRACTAL_SOURCE_DIR"), tsv);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL, "%s: cannot open", path);
  if (!f) return;
  static listed want;
  want.n = 0;
  while (fgets(line, sizeof line, f) && want.n < 2000) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '#' || !line[0]) continue;
    snprintf(want.lines[want.n++], 160, "%s", line);
  }
  fclose(f);
  qsort(want.lines, (size_t)want.n, 160, cmp_lines);
  qsort(l->lines, (size_t)l->n, 160, cmp_lines);
  CHECK(want.n == l->n, "%s: the model binds %d tensors, the list has %d", what, l->n, want.n);
  for (int i = 0; i < want.n && i < l->n; i++)
    if (strcmp(want.lines[i], l->lines[i]) != 0) {
      CHECK(0, "%s: first difference: list '%s', model '%s'", what, want.lines[i], l->lines[i]);
      break;
    }
}

static void test_ms17b_names(void)
{
  static fr_unet u;
  static fr_vae v;
  static fr_clip c;
  static listed l;
  fr_unet_config uc = {4,     4,    4, {320, 640, 1280, 1280}, {1, 1, 1, 0}, {0, 1, 1, 1}, {64, 64, 64, 64}, 2, 32,
                       1e-5f, 1024, 32};
  fr_vae_config vc = {4, 3, 4, {128, 256, 512, 512}, 2, 32, 1, 1, 0.18215};
  fr_clip_config cc = {49408, 1024, 4096, 23, 16, 77, 0, 1e-5f};
  fr_binder b;
  fr_binder_init(&b, FR_BIND_LIST, NULL, NULL, "unet");
  b.on_tensor = on_tensor, b.ctx = &l;
  l.n = 0;
  fr_unet_bind(&b, &uc, &u);
  compare_tsv("unet", &l, "t2v_unet_weights.tsv");
  l.n = 0;
  fr_vae_encoder_list(&b, &vc);
  fr_vae_bind(&b, &vc, &v);
  compare_tsv("vae", &l, "t2v_vae_weights.tsv");
  l.n = 0;
  fr_clip_bind(&b, &cc, &c);
  compare_tsv("text encoder", &l, "t2v_text_encoder_weights.tsv");
}

/* Rewrites a safetensors file: drop, rename or reshape tensors. */
typedef struct edit {
  const char *name, *rename_to;
  int drop, reshape;
} edit;

static void rewrite(const char *path, const edit *edits, int nedits)
{
  fr_st_file *f;
  CHECK_OK(fr_st_open(path, &f));
  fr_st_writer *w = fr_st_writer_new();
  for (int i = 0; i < fr_st_count(f); i++) {
    const fr_st_entry *e = fr_st_entry_at(f, i);
    const char *name = e->name;
    int64_t shape[FR_MAX_DIMS];
    int ndim = e->ndim, drop = 0;
    memcpy(shape, e->shape, sizeof shape);
    for (int k = 0; k < nedits; k++) {
      if (edits[k].name && strcmp(edits[k].name, e->name) != 0) continue;
      if (!edits[k].name && !strstr(e->name, edits[k].rename_to ? "mid_block.attentions.0.to_" : "")) continue;
      drop |= edits[k].drop;
      if (edits[k].reshape && ndim == 2) shape[0] = shape[1], shape[1] = e->shape[0];
      if (edits[k].rename_to && edits[k].name) name = edits[k].rename_to;
    }
    if (!drop) CHECK_OK(fr_st_writer_add(w, name, e->dtype, ndim, shape, e->data));
  }
  fr_st_close(f);
  CHECK_OK(fr_st_writer_save(w, path));
  fr_st_writer_free(w);
}

static void sh(const char *cmd)
{
  if (system(cmd) != 0) fprintf(stderr, "command failed: %s\n", cmd);
}

static void test_loading(const char *tmp)
{
  char dir[512], p[700], cmd[1600];
  fr_backend *be;
  fr_model *m = NULL;
  fr_model_info info;
  CHECK_OK(fr_backend_open("cpu", 2, &be));
  snprintf(dir, sizeof dir, "%s/m", tmp);
  fr_modelgen_options mo = {"tiny", 3, FR_F32, NULL, NULL, NULL};
  CHECK_OK(fr_modelgen_write(dir, &mo));
  CHECK_OK(fr_model_load(dir, be, NULL, &m));
  fr_model_get_info(m, &info);
  char digest[33];
  memcpy(digest, info.digest_hex, 33);
  CHECK(info.default_height == 64 && info.vae_scale == 8 && info.weight_tensors > 500, "tiny model info");
  fr_model_free(m);

  /* legacy VAE attention names load, with the same digest */
  snprintf(p, sizeof p, "%s/vae/diffusion_pytorch_model.safetensors", dir);
  static const char *const pairs[4][2] = {
      {"to_q", "query"}, {"to_k", "key"}, {"to_v", "value"}, {"to_out.0", "proj_attn"}};
  edit ed[8];
  char names[8][128], renamed[8][128];
  for (int i = 0; i < 8; i++) {
    snprintf(names[i], 128, "decoder.mid_block.attentions.0.%s.%s", pairs[i / 2][0], i % 2 ? "bias" : "weight");
    snprintf(renamed[i], 128, "decoder.mid_block.attentions.0.%s.%s", pairs[i / 2][1], i % 2 ? "bias" : "weight");
    ed[i] = (edit){names[i], renamed[i], 0, 0};
  }
  rewrite(p, ed, 8);
  CHECK_OK(fr_model_load(dir, be, NULL, &m));
  if (m) {
    fr_model_get_info(m, &info);
    CHECK(strcmp(info.digest_hex, digest) == 0, "legacy VAE names must give the same model digest");
    fr_model_free(m);
  }

  /* every problem in one message: two missing tensors, one wrong shape, in two components */
  snprintf(p, sizeof p, "%s/unet/diffusion_pytorch_model.safetensors", dir);
  edit broken[3] = {{"conv_in.bias", NULL, 1, 0},
                    {"down_blocks.0.attentions.0.proj_in.weight", NULL, 0, 0},
                    {"time_embedding.linear_1.weight", NULL, 0, 1}};
  broken[1].drop = 1;
  rewrite(p, broken, 3);
  snprintf(p, sizeof p, "%s/text_encoder/model.safetensors", dir);
  edit tb[1] = {{"text_model.final_layer_norm.bias", NULL, 1, 0}};
  rewrite(p, tb, 1);
  m = (fr_model *)1;
  fr_status st = fr_model_load(dir, be, NULL, &m);
  const char *msg = fr_last_error();
  CHECK(st == FR_EFORMAT && m == NULL, "a broken model must fail to load");
  CHECK(strstr(msg, "conv_in.bias: missing") && strstr(msg, "down_blocks.0.attentions.0.proj_in.weight: missing") &&
            strstr(msg, "time_embedding.linear_1.weight: shape [32, 128] in the file, the config needs [128, 32]") &&
            strstr(msg, "text_model.final_layer_norm.bias: missing"),
        "the error must list every problem: %s", msg);

  /* a config that does not fit, a missing tokenizer, a truncated weight file */
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
  sh(cmd);
  CHECK_OK(fr_modelgen_write(dir, &mo));
  snprintf(cmd, sizeof cmd, "sed -i 's/\"norm_num_groups\": 8/\"norm_num_groups\": 7/' '%s/unet/config.json'", dir);
  sh(cmd);
  CHECK(fr_model_load(dir, be, NULL, &m) == FR_EFORMAT && strstr(fr_last_error(), "unet/config.json") &&
            strstr(fr_last_error(), "norm_num_groups 7"),
        "bad unet config: %s", fr_last_error());
  snprintf(
      cmd, sizeof cmd,
      "sed -i 's/\"norm_num_groups\": 7/\"norm_num_groups\": 8/' '%s/unet/config.json' && rm '%s/tokenizer/vocab.json'",
      dir, dir);
  sh(cmd);
  CHECK(fr_model_load(dir, be, NULL, &m) != FR_OK && strstr(fr_last_error(), "vocab.json"), "no vocab: %s",
        fr_last_error());
  CHECK_OK(fr_modelgen_write(dir, &mo));
  snprintf(cmd, sizeof cmd, "truncate -s 100000 '%s/unet/diffusion_pytorch_model.safetensors'", dir);
  sh(cmd);
  CHECK(fr_model_load(dir, be, NULL, &m) == FR_EFORMAT &&
            strstr(fr_last_error(), "diffusion_pytorch_model.safetensors"),
        "truncated weights: %s", fr_last_error());
  snprintf(cmd, sizeof cmd, "rm '%s/vae/diffusion_pytorch_model.safetensors'", dir);
  sh(cmd);
  CHECK_OK(fr_modelgen_write(dir, &mo));
  CHECK(fr_model_load("/nonexistent/model", be, NULL, &m) == FR_EIO && strstr(fr_last_error(), "/nonexistent/model"),
        "missing folder: %s", fr_last_error());

  /* fp16 and bf16 variant files load (fp16 found without being asked for) and change the digest */
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  sh(cmd);
  for (int k = 0; k < 2; k++) {
    mo.dtype = k ? FR_BF16 : FR_F16;
    CHECK_OK(fr_modelgen_write(dir, &mo));
    CHECK_OK(fr_model_load(dir, be, NULL, &m));
    if (m) {
      fr_model_get_info(m, &info);
      CHECK(strcmp(info.digest_hex, digest) != 0, "half-precision weights are another model");
      fr_job j;
      fr_job_init(&j);
      snprintf(j.prompt, sizeof j.prompt, "a test");
      j.steps = 2, j.frames = 2, j.height = j.width = 32;
      fr_result r;
      CHECK_OK(fr_generate(m, &j, 1, NULL, &r));
      fr_result_free(&r);
      fr_model_free(m);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    sh(cmd);
  }
  fr_backend_close(be);
}

int main(void)
{
  test_ms17b_names();
  char tmpl[] = "/tmp/fractal-model-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  test_loading(tmpl);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
  sh(cmd);
  return check_done("test_model");
}
