/* The text-to-video pipeline (diffusers TextToVideoSDPipeline): tokens, text embeddings, Philox noise,
 * the denoising loop (UNet3D, classifier-free guidance, scheduler) for a batch of jobs, VAE decode,
 * uint8 frames, hashes. Each job keeps its own rows, so batching never changes a job's bits. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fractal/defs.h"
#include "fractal/elementwise.h"
#include "fractal/i8x.h"
#include "pipeline/batch.h"

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int64_t latent_numel_full(const batch *b) { return b->ch * b->frames_total * b->lh * b->lw; }

void fr_job_fill_size(const fr_model *m, fr_job *job)
{
  int native = m->unet.cfg.sample_size * fr_vae_scale(&m->vae.cfg);
  if (!job->height) job->height = native;
  if (!job->width) job->width = native;
}

fr_status fr_job_runnable(const fr_job *job)
{
  char who[80] = "job spec";
  if (job->job_id[0]) snprintf(who, sizeof who, "job %s", job->job_id);
  if (job->steps < 1 || job->steps > FR_JOB_STEPS_MAX)
    return fr_fail(FR_EINVAL, "%s: steps must be in 1..%d", who, FR_JOB_STEPS_MAX);
  if (job->frames < 1 || job->frames > FR_JOB_FRAMES_MAX)
    return fr_fail(FR_EINVAL, "%s: frames must be in 1..%d", who, FR_JOB_FRAMES_MAX);
  if ((job->height && job->height < 8) || (job->width && job->width < 8)) /* 0: the model's size, filled later */
    return fr_fail(FR_EINVAL, "%s: height and width must be at least 8", who);
  if (job->scheduler != FR_SCHEDULER_DDIM && job->scheduler != FR_SCHEDULER_DPMPP_2M)
    return fr_fail(FR_EINVAL, "%s: unknown scheduler", who);
  if (!(job->guidance >= 0.0f && job->guidance <= 50.0f)) /* also refuses NaN */
    return fr_fail(FR_EINVAL, "%s: guidance must be in 0..50", who);
  return FR_OK;
}

/* The job's numerics as the exec runs it: 0 for f32-v1, B for i8x-v1 (and the quality studies' i8x-bNN). */
static int job_i8x_bits(const fr_job *job) { return fr_i8x_numerics_bits(job->numerics); }

fr_job_fit fr_job_check(const fr_model *m, const fr_job *job)
{
  if (fr_job_runnable(job) != FR_OK) return FR_JOB_BAD_SHAPE;
  if (!job->height || !job->width) /* a caller's bug: sizes are filled in where jobs arrive */
    return fr_fail(FR_EINVAL, "job %s: height and width are not filled in (fr_job_fill_size)", job->job_id),
           FR_JOB_BAD_SHAPE;
  if (strcmp(job->numerics, FR_NUMERICS) != 0 && !job_i8x_bits(job))
    return fr_fail(FR_EUNSUPPORTED, "job %s: numerics \"%s\" is not a profile (%s or %s)", job->job_id, job->numerics,
                   FR_NUMERICS, FR_I8X_PROFILE),
           FR_JOB_OTHER_NUMERICS;
  if (job_i8x_bits(job) && job_i8x_bits(job) != m->i8x_bits)
    return fr_fail(FR_EUNSUPPORTED, "job %s: numerics %s needs the model loaded with %d-bit quantized weights (i8x %d)",
                   job->job_id, job->numerics, job_i8x_bits(job), m->i8x_bits),
           FR_JOB_OTHER_NUMERICS;
  if (job->model[0] && strcmp(job->model, m->digest_hex) != 0)
    return fr_fail(FR_EINVAL, "job %s is for model %s, but the loaded model is %s", job->job_id, job->model,
                   m->digest_hex),
           FR_JOB_OTHER_MODEL;
  int scale = fr_vae_scale(&m->vae.cfg);
  if (job->height % scale || job->width % scale)
    return fr_fail(FR_EINVAL, "job %s: height and width must be multiples of %d", job->job_id, scale), FR_JOB_BAD_SHAPE;
  if (m->sched_status[job->scheduler] != FR_OK)
    return fr_fail(m->sched_status[job->scheduler], "%s", m->sched_error[job->scheduler]), FR_JOB_NO_SCHEDULER;
  return FR_JOB_FITS;
}

/* Checks a job against the model and prepares its scheduler. */
static fr_status job_setup(const fr_model *m, const fr_job *job, job_state *s)
{
  memset(s, 0, sizeof *s);
  s->job = job;
  switch (fr_job_check(m, job)) {
  case FR_JOB_FITS: break;
  case FR_JOB_OTHER_NUMERICS: return FR_EUNSUPPORTED;
  case FR_JOB_NO_SCHEDULER: return m->sched_status[job->scheduler];
  default: return FR_EINVAL;
  }
  s->sched = m->sched[job->scheduler];
  FR_TRY(fr_sched_plan_make(&s->sched, job->steps, &s->plan));
  s->cfg = job->guidance > 1.0f; /* diffusers: do_classifier_free_guidance = guidance_scale > 1 */
  s->rows = s->cfg ? 2 : 1;
  return FR_OK;
}

static fr_status batch_alloc_latents(fr_exec *ex, batch *b)
{
  int64_t ls[5] = {1, b->ch, b->frames, b->lh, b->lw};
  for (int i = 0; i < b->n; i++) {
    job_state *s = &b->js[i];
    FR_TRY(fr_exec_alloc(ex, &s->x, 5, ls));
    FR_TRY(fr_exec_alloc(ex, &s->eps, 5, ls));
    if (s->job->scheduler == FR_SCHEDULER_DPMPP_2M) {
      FR_TRY(fr_exec_alloc(ex, &s->m_prev, 5, ls));
      FR_TRY(fr_exec_alloc(ex, &s->m_cur, 5, ls));
    }
  }
  int64_t ss[5] = {b->rows, b->ch, b->frames, b->lh, b->lw};
  int64_t ts[3] = {b->rows, b->text.shape[1], b->text.shape[2]};
  FR_TRY(fr_exec_alloc(ex, &b->sample, 5, ss));
  FR_TRY(fr_exec_alloc(ex, &b->out, 5, ss));
  return fr_exec_alloc(ex, &b->tb, 3, ts);
}

/* Tokenizes every job's prompts ([negative, prompt] with guidance) and runs the text encoder. */
static fr_status encode_text(fr_exec *ex, batch *b, const fr_observer *obs)
{
  fr_model *m = b->m;
  int len = fr_tokenizer_max_length(m->tok), row = 0;
  free(b->ids); /* the planning run's */
  b->ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)(b->rows * len));
  if (!b->ids) return fr_fail(FR_ENOMEM, "out of memory");
  for (int i = 0; i < b->n; i++) {
    job_state *s = &b->js[i];
    s->text_row = row;
    if (s->cfg && b->half != 1) { /* a guidance-parallel rank encodes only its half's prompt */
      const char *neg = s->job->negative_prompt;
      FR_TRY(fr_tokenize(m->tok, neg, strlen(neg), b->ids + (size_t)row * (size_t)len, NULL));
      row++;
    }
    if (!s->cfg || b->half != 0) {
      FR_TRY(fr_tokenize(m->tok, s->job->prompt, strlen(s->job->prompt), b->ids + (size_t)row * (size_t)len, NULL));
      row++;
    }
    if (obs && obs->tokens && !fr_exec_planning(ex))
      obs->tokens(obs->ctx, i, b->ids + (size_t)s->text_row * (size_t)len, s->rows, len);
  }
  int64_t ts[3] = {b->rows, len, m->clip.cfg.hidden};
  FR_TRY(fr_exec_alloc(ex, &b->text, 3, ts));
  FR_TRY(fr_clip_encode(ex, &m->clip, b->ids, b->rows, len, &b->text));
  if (obs && obs->text && !fr_exec_planning(ex)) {
    size_t per = (size_t)len * (size_t)m->clip.cfg.hidden;
    float *host = (float *)malloc(sizeof(float) * per * (size_t)b->rows);
    if (!host) return fr_fail(FR_ENOMEM, "out of memory");
    fr_status st = fr_tensor_download(ex->be, &b->text, host);
    for (int i = 0; st == FR_OK && i < b->n; i++)
      obs->text(obs->ctx, i, host + per * (size_t)b->js[i].text_row, b->js[i].rows, len, m->clip.cfg.hidden);
    free(host);
    FR_TRY(st);
  }
  return FR_OK;
}

/* One UNet call for the given jobs (each at its own step) and the noise prediction per job:
 * with guidance eps = uncond + s (cond - uncond), else the cond output. */
static fr_status predict(fr_exec *ex, batch *b, job_state *const *act, const int *step, int nact)
{
  float t[2 * MAX_BATCH];
  int r = 0;
  for (int i = 0; i < nact; i++) {
    job_state *s = act[i];
    for (int k = 0; k < s->rows; k++, r++) {
      fr_tensor dst = fr_rows(&b->sample, r, 1), tdst = fr_rows(&b->tb, r, 1),
                tsrc = fr_rows(&b->text, s->text_row + k, 1);
      FR_TRY(fr_tensor_copy(ex->be, &s->x, &dst));
      FR_TRY(fr_tensor_copy(ex->be, &tsrc, &tdst));
      t[r] = (float)s->plan.step[step[i]].timestep;
    }
  }
  fr_tensor sample = fr_rows(&b->sample, 0, r), out = fr_rows(&b->out, 0, r), tb = fr_rows(&b->tb, 0, r);
  FR_TRY(fr_unet_fwd(ex, &b->m->unet, &sample, t, &tb, b->shard, &out));
  r = 0;
  for (int i = 0; i < nact; i++) {
    job_state *s = act[i];
    fr_tensor first = fr_rows(&out, r, 1);
    if (s->cfg && b->guide) {
      FR_TRY(fr_batch_guide(ex, b, s, &first));
    } else if (s->cfg) {
      fr_tensor cond = fr_rows(&out, r + 1, 1);
      FR_TRY(fr_guidance(ex->be, &first, &cond, s->job->guidance, &s->eps));
    } else {
      FR_TRY(fr_tensor_copy(ex->be, &first, &s->eps));
    }
    r += s->rows;
  }
  return FR_OK;
}

/* The scheduler's update of x for step k (x is updated in place). */
static fr_status sched_update(fr_exec *ex, job_state *s, int k)
{
  const fr_sched_step *st = &s->plan.step[k];
  if (s->job->scheduler == FR_SCHEDULER_DDIM) return fr_sched_ddim(ex->be, &s->x, &s->eps, &st->c, &s->x);
  FR_TRY(fr_sched_dpm_x0(ex->be, &s->x, &s->eps, &st->c, &s->m_cur));
  FR_TRY(fr_sched_dpm_update(ex->be, &s->x, &s->m_cur, st->order == 2 ? &s->m_prev : NULL, &st->c, &s->x));
  fr_tensor tmp = s->m_prev; /* the x0 history shifts */
  s->m_prev = s->m_cur, s->m_cur = tmp;
  return FR_OK;
}

static fr_status init_noise(fr_exec *ex, batch *b, const fr_run_options *o)
{
  for (int i = 0; i < b->n; i++) {
    job_state *s = &b->js[i];
    const float *given = o && o->init_latents ? o->init_latents[i] : NULL;
    fr_tensor full = s->x;
    int64_t fs[5] = {1, b->ch, b->frames_total, b->lh, b->lw};
    if (fr_batch_sharded(b))
      FR_TRY(fr_exec_alloc(ex, &full, 5, fs)); /* the whole video's noise, then this rank's frames */
    if (given) FR_TRY(fr_tensor_upload(ex->be, &full, given));
    else FR_TRY(fr_fill_normal(ex->be, s->job->seed, 0, &full)); /* init_noise_sigma is 1 */
    if (fr_batch_sharded(b)) {
      FR_TRY(fr_batch_frame_slice(ex, b, &full, &s->x, b->shard->start[b->shard->rank], b->frames));
      fr_exec_free(ex, &full);
    }
  }
  return FR_OK;
}

fr_status fr_batch_latent_frames(fr_exec *ex, batch *b, job_state *s, fr_tensor *zf)
{
  fr_model *m = b->m;
  fr_tensor z;
  static const int to_frames[5] = {0, 2, 1, 3, 4};
  FR_TRY(fr_alloc_like(ex, &s->x, b->ch, &z));
  FR_TRY(fr_scale(ex->be, &s->x, (float)(1.0 / m->vae.cfg.scaling_factor), &z));
  int64_t zs[5] = {1, b->frames, b->ch, b->lh, b->lw};
  FR_TRY(fr_exec_alloc(ex, zf, 5, zs));
  FR_TRY(fr_permute(ex->be, &z, to_frames, zf));
  fr_exec_free(ex, &z);
  return FR_OK;
}

fr_status fr_batch_store_frames(fr_exec *ex, const fr_tensor *imgs, int64_t first, uint8_t *frames, float *frames_f32)
{
  int64_t n = imgs->shape[0], fs[4] = {n, imgs->shape[2], imgs->shape[3], 3};
  size_t bytes = (size_t)(fs[1] * fs[2] * 3);
  fr_tensor u8, v01;
  FR_TRY(fr_exec_alloc_as(ex, &u8, FR_U8, 4, fs));
  if (frames_f32) FR_TRY(fr_exec_alloc(ex, &v01, 4, fs));
  fr_status st = fr_frames_u8(ex->be, imgs, &u8, frames_f32 ? &v01 : NULL);
  if (st == FR_OK) st = fr_tensor_download(ex->be, &u8, frames + (size_t)first * bytes);
  if (st == FR_OK && frames_f32) st = fr_tensor_download(ex->be, &v01, frames_f32 + (size_t)first * bytes);
  if (frames_f32) fr_exec_free(ex, &v01);
  fr_exec_free(ex, &u8);
  return st;
}

/* Decodes job s's final latent frame by frame into uint8 (and float) frames, [F, H, W, 3]. */
static fr_status decode(fr_exec *ex, batch *b, job_state *s, uint8_t *frames, float *frames_f32)
{
  fr_model *m = b->m;
  int64_t f = b->frames, scale = fr_vae_scale(&m->vae.cfg), hh = b->lh * scale, ww = b->lw * scale;
  fr_tensor zf, img;
  FR_TRY(fr_batch_latent_frames(ex, b, s, &zf));
  FR_TRY(fr_exec_alloc4(ex, &img, 1, m->vae.cfg.out_channels, hh, ww));
  fr_status st = FR_OK;
  for (int64_t i = 0; st == FR_OK && i < f; i++) {
    fr_tensor zi = fr_view4(&zf, f, b->ch, b->lh, b->lw);
    zi = fr_rows(&zi, i, 1);
    st = fr_vae_decode(ex, &m->vae, &zi, &img);
    if (st == FR_OK) st = fr_batch_store_frames(ex, &img, i, frames, frames_f32);
  }
  fr_exec_free(ex, &img);
  fr_exec_free(ex, &zf);
  return st;
}

/* The caller's request to stop (fr_run_options.cancel), asked only in the real run: the planning run must
 * allocate exactly what the real one will. */
static int stop_requested(const fr_exec *ex, const fr_run_options *o)
{
  return !fr_exec_planning(ex) && o && o->cancel && o->cancel(o->cancel_ctx);
}

/* The whole batch (run twice by fr_exec_run: planning, then for real). */
static fr_status run_batch_once(fr_exec *ex, batch *b, const fr_run_options *o, fr_result *res)
{
  /* every frame rank takes part in the gathers an observer needs; only the result rank calls it */
  const fr_observer *want = o ? o->observer : NULL, *obs = fr_batch_result_rank(b) ? want : NULL;
  double t0 = now_ms();
  FR_TRY(
      encode_text(ex, b, fr_batch_sharded(b) || b->guide ? NULL : obs)); /* a sharded rank has only its half's rows */
  FR_TRY(batch_alloc_latents(ex, b));
  FR_TRY(init_noise(ex, b, o));
  double t1 = now_ms();
  int max_steps = 0;
  for (int i = 0; i < b->n; i++) max_steps = b->js[i].plan.steps > max_steps ? b->js[i].plan.steps : max_steps;
  size_t per = (size_t)latent_numel_full(b);
  float *host = (float *)malloc(sizeof(float) * per);
  if (!host) return fr_fail(FR_ENOMEM, "out of memory");
  fr_status st = FR_OK;
  for (int i = 0; st == FR_OK && i < b->n; i++) { /* the latent entering step 0 */
    if (!(want && want->latent)) continue;
    st = fr_batch_to_host(ex, b, &b->js[i].x, host);
    if (st == FR_OK && !fr_exec_planning(ex) && obs) obs->latent(obs->ctx, i, 0, host, per);
  }
  for (int k = 0; st == FR_OK && k < max_steps; k++) {
    if (stop_requested(ex, o)) {
      st = fr_fail(FR_ECANCELED, "canceled before step %d of %d", k + 1, max_steps);
      break;
    }
    job_state *act[MAX_BATCH];
    int steps[MAX_BATCH], nact = 0;
    for (int i = 0; i < b->n; i++)
      if (k < b->js[i].plan.steps) act[nact] = &b->js[i], steps[nact++] = k;
    st = predict(ex, b, act, steps, nact);
    for (int i = 0; st == FR_OK && i < b->n; i++) {
      if (k >= b->js[i].plan.steps) continue;
      if (want && want->noise) {
        st = fr_batch_to_host(ex, b, &b->js[i].eps, host);
        if (st != FR_OK) break;
        if (!fr_exec_planning(ex) && obs) obs->noise(obs->ctx, i, k, host, per);
      }
      st = sched_update(ex, &b->js[i], k);
      if (st == FR_OK) st = fr_batch_to_host(ex, b, &b->js[i].x, host); /* every frame rank takes part */
      if (st != FR_OK || fr_exec_planning(ex)) continue;
      res[i].step_hashes[k] = fr_hash_f32(host, per);
      if (obs && obs->latent) obs->latent(obs->ctx, i, k + 1, host, per);
      if (obs && obs->progress) obs->progress(obs->ctx, i, k + 1, b->js[i].plan.steps);
    }
  }
  free(host);
  FR_TRY(st);
  if (stop_requested(ex, o)) return fr_fail(FR_ECANCELED, "canceled before decoding");
  fr_exec_free(ex, &b->sample), fr_exec_free(ex, &b->out), fr_exec_free(ex, &b->tb);
  double t2 = now_ms();
  for (int i = 0; i < b->n; i++) {
    fr_result *r = &res[i];
    double d0 = now_ms();
    FR_TRY(fr_batch_sharded(b) || b->guide ? fr_batch_decode_split(ex, b, &b->js[i], r->frames, r->frames_f32)
                                           : decode(ex, b, &b->js[i], r->frames, r->frames_f32));
    r->timing.decode_ms = now_ms() - d0;
    if (fr_exec_planning(ex) || !fr_batch_result_rank(b)) continue;
    size_t frame_bytes = (size_t)r->job.height * (size_t)r->job.width * 3;
    r->frames_hash = fr_hash_bytes(r->frames, (size_t)b->frames_total * frame_bytes);
    for (int64_t f = 0; f < b->frames_total; f++)
      r->frame_hashes[f] = fr_hash_bytes(r->frames + (size_t)f * frame_bytes, frame_bytes);
    r->steps = b->js[i].plan.steps;
    r->timing.text_ms = t1 - t0;
    r->timing.denoise_ms = t2 - t1;
    r->timing.total_ms = now_ms() - t0;
  }
  return FR_OK;
}

typedef struct batch_run {
  batch *b;
  const fr_run_options *o;
  fr_result *res;
} batch_run;

/* A rank of a sharded run that another rank's stop left failing in a collective reports the stop too,
 * so that every rank, and the run, says FR_ECANCELED. */
static fr_status run_batch(fr_exec *ex, void *ctx)
{
  batch_run *r = (batch_run *)ctx;
  ex->i8x_bits = job_i8x_bits(r->b->js[0].job);
  fr_status st = run_batch_once(ex, r->b, r->o, r->res);
  if (st != FR_OK && st != FR_ECANCELED && stop_requested(ex, r->o)) return fr_fail_context(FR_ECANCELED, "canceled");
  return st;
}

void fr_result_free(fr_result *r)
{
  free(r->frames);
  free(r->frames_f32);
  r->frames = NULL, r->frames_f32 = NULL;
}

/* A result with the job (bound to the model) and, on the rank that fills it, room for the frames. */
static fr_status result_open(const fr_model *m, const fr_job *job, int frames, const fr_run_options *o, fr_result *r)
{
  memset(r, 0, sizeof *r);
  r->job = *job;
  memcpy(r->job.model, m->digest_hex, sizeof r->job.model);
  if (!frames) return FR_OK;
  size_t bytes = (size_t)job->frames * (size_t)job->height * (size_t)job->width * 3;
  r->frames = (uint8_t *)malloc(bytes);
  if (o && o->keep_float_frames) r->frames_f32 = (float *)malloc(bytes * sizeof(float));
  if (!r->frames || (o && o->keep_float_frames && !r->frames_f32)) {
    fr_result_free(r);
    return fr_fail(FR_ENOMEM, "out of memory");
  }
  return FR_OK;
}

fr_status fr_generate(fr_model *m, const fr_job *jobs, int njobs, const fr_run_options *o, fr_result *res)
{
  int split = o && (o->ndevices > 0 || o->ranks > 1);
  if (split && njobs != 1)
    return fr_fail(FR_EINVAL, "a job split over ranks or devices runs alone, not in a batch of %d", njobs);
  if (o && o->ndevices > 0) return fr_run_devices(m, jobs, o, res);
  if (split) return fr_run_sharded(m, jobs, o, res);
  return fr_run_batch(m, jobs, njobs, o, res);
}

fr_status fr_run_batch(fr_model *m, const fr_job *jobs, int njobs, const fr_run_options *o, fr_result *res)
{
  if (njobs < 1 || njobs > MAX_BATCH) return fr_fail(FR_EINVAL, "a batch holds 1..%d jobs, not %d", MAX_BATCH, njobs);
  /* on the heap: a job's state holds its scheduler plan (~80 KB), too much for a thread's stack times 64 */
  job_state *js = (job_state *)calloc((size_t)njobs, sizeof *js);
  if (!js) return fr_fail(FR_ENOMEM, "out of memory");
  batch b;
  memset(&b, 0, sizeof b);
  b.m = m, b.js = js, b.n = njobs, b.half = -1;
  b.ch = m->unet.cfg.in_channels, b.frames = b.frames_total = jobs[0].frames;
  int scale = fr_vae_scale(&m->vae.cfg);
  b.lh = jobs[0].height / scale, b.lw = jobs[0].width / scale;
  fr_status st = FR_OK;
  for (int i = 0; st == FR_OK && i < njobs; i++) {
    st = job_setup(m, &jobs[i], &js[i]);
    if (st == FR_OK && (jobs[i].frames != jobs[0].frames || jobs[i].height != jobs[0].height ||
                        jobs[i].width != jobs[0].width || strcmp(jobs[i].numerics, jobs[0].numerics) != 0))
      st = fr_fail(FR_EINVAL, "jobs in one batch must share frames, height, width and numerics (job %d differs)", i);
    b.rows += js[i].rows;
  }
  if (st != FR_OK) return free(js), st; /* the results are not touched */
  for (int i = 0; i < njobs; i++) memset(&res[i], 0, sizeof res[i]);
  for (int i = 0; st == FR_OK && i < njobs; i++) st = result_open(m, &jobs[i], 1, o, &res[i]);
  batch_run r = {&b, o, res};
  if (st == FR_OK) st = fr_exec_run(m->be, run_batch, &r, 0);
  free(b.ids);
  free(js);
  if (st != FR_OK)
    for (int i = 0; i < njobs; i++) fr_result_free(&res[i]);
  return st;
}

fr_status fr_run_rank(fr_model *m, fr_backend *be, const fr_job *job, const fr_shard *sh, fr_comm *guide, int half,
                      const fr_run_options *o, int plan_only, fr_result *res)
{
  job_state js;
  batch b;
  memset(&b, 0, sizeof b);
  memset(res, 0, sizeof *res);
  FR_TRY(job_setup(m, job, &js));
  int scale = fr_vae_scale(&m->vae.cfg);
  if (guide) js.rows = 1; /* this rank's half only */
  b.m = m, b.js = &js, b.n = 1, b.rows = js.rows, b.half = guide ? half : -1;
  b.ch = m->unet.cfg.in_channels, b.frames_total = job->frames, b.lh = job->height / scale, b.lw = job->width / scale;
  b.shard = sh, b.guide = guide;
  b.frames = sh ? fr_shard_local(sh) : job->frames;
  FR_TRY(result_open(m, job, !plan_only && fr_batch_result_rank(&b), o, res));
  batch_run r = {&b, o, res};
  fr_status st = fr_exec_run(be, run_batch, &r, plan_only);
  free(b.ids);
  if (st != FR_OK) fr_result_free(res);
  return st;
}

/* Sets up a one-job batch for the verification entry points. */
static fr_status single(fr_model *m, const fr_job *job, job_state *js, batch *b)
{
  memset(b, 0, sizeof *b);
  FR_TRY(job_setup(m, job, js));
  int scale = fr_vae_scale(&m->vae.cfg);
  b->m = m, b->js = js, b->n = 1, b->rows = js->rows, b->half = -1;
  b->ch = m->unet.cfg.in_channels, b->frames = b->frames_total = job->frames, b->lh = job->height / scale,
  b->lw = job->width / scale;
  return FR_OK;
}

int fr_step_needs_previous(const fr_model *m, const fr_job *job, int step)
{
  job_state s;
  if (job_setup(m, job, &s) != FR_OK || step < 0 || step >= s.plan.steps) return 0;
  return job->scheduler == FR_SCHEDULER_DPMPP_2M && s.plan.step[step].order == 2;
}

typedef struct recompute_run {
  batch *b;
  int step;
  const float *x_prev, *x_in;
  float *x_out;
} recompute_run;

static fr_status recompute(fr_exec *ex, void *ctx)
{
  recompute_run *r = (recompute_run *)ctx;
  batch *b = r->b;
  ex->i8x_bits = job_i8x_bits(b->js[0].job);
  job_state *s = &b->js[0];
  int step = r->step;
  FR_TRY(encode_text(ex, b, NULL));
  FR_TRY(batch_alloc_latents(ex, b));
  if (s->plan.step[step].order == 2 && s->job->scheduler == FR_SCHEDULER_DPMPP_2M) {
    /* x0 of the previous step: the UNet on the latent entering it, then the x0 conversion */
    int prev = step - 1;
    FR_TRY(fr_tensor_upload(ex->be, &s->x, r->x_prev));
    FR_TRY(predict(ex, b, &s, &prev, 1));
    FR_TRY(fr_sched_dpm_x0(ex->be, &s->x, &s->eps, &s->plan.step[prev].c, &s->m_prev));
  }
  FR_TRY(fr_tensor_upload(ex->be, &s->x, r->x_in));
  FR_TRY(predict(ex, b, &s, &step, 1));
  FR_TRY(sched_update(ex, s, step));
  return fr_tensor_download(ex->be, &s->x, r->x_out);
}

fr_status fr_recompute_step(fr_model *m, const fr_job *job, int step, const float *x_prev, const float *x_in,
                            float *x_out)
{
  job_state js;
  batch b;
  FR_TRY(single(m, job, &js, &b));
  if (step < 0 || step >= js.plan.steps)
    return fr_fail(FR_EINVAL, "step %d is outside the job's 0..%d", step, js.plan.steps - 1);
  if (fr_step_needs_previous(m, job, step) && !x_prev)
    return fr_fail(FR_EINVAL, "step %d is a second-order DPM-Solver++ step: the latent entering step %d is needed",
                   step, step - 1);
  recompute_run r = {&b, step, x_prev, x_in, x_out};
  fr_status st = fr_exec_run(m->be, recompute, &r, 0);
  free(b.ids);
  return st;
}

typedef struct decode_run {
  batch *b;
  const float *latent;
  uint8_t *frames;
} decode_run;

static fr_status decode_only(fr_exec *ex, void *ctx)
{
  decode_run *r = (decode_run *)ctx;
  batch *b = r->b;
  ex->i8x_bits = job_i8x_bits(b->js[0].job);
  int64_t ls[5] = {1, b->ch, b->frames, b->lh, b->lw};
  FR_TRY(fr_exec_alloc(ex, &b->js[0].x, 5, ls));
  FR_TRY(fr_tensor_upload(ex->be, &b->js[0].x, r->latent));
  return decode(ex, b, &b->js[0], r->frames, NULL);
}

fr_status fr_decode_latent(fr_model *m, const fr_job *job, const float *latent, uint8_t *frames)
{
  job_state js;
  batch b;
  FR_TRY(single(m, job, &js, &b));
  decode_run r = {&b, latent, frames};
  return fr_exec_run(m->be, decode_only, &r, 0);
}
