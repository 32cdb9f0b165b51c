/* DDIM and DPM-Solver++ 2M schedules and step coefficients, computed as diffusers computes them. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "fractal/dmath.h"
#include "model/scheduler.h"

/* Keys each class accepts; others in the file are ignored, as diffusers' from_config drops them. */
static const char *const ddim_keys[] = {"num_train_timesteps",
                                        "beta_start",
                                        "beta_end",
                                        "beta_schedule",
                                        "trained_betas",
                                        "clip_sample",
                                        "set_alpha_to_one",
                                        "steps_offset",
                                        "prediction_type",
                                        "thresholding",
                                        "dynamic_thresholding_ratio",
                                        "clip_sample_range",
                                        "sample_max_value",
                                        "timestep_spacing",
                                        "rescale_betas_zero_snr",
                                        NULL};
static const char *const dpm_keys[] = {"num_train_timesteps",
                                       "beta_start",
                                       "beta_end",
                                       "beta_schedule",
                                       "trained_betas",
                                       "solver_order",
                                       "prediction_type",
                                       "thresholding",
                                       "dynamic_thresholding_ratio",
                                       "sample_max_value",
                                       "algorithm_type",
                                       "solver_type",
                                       "lower_order_final",
                                       "euler_at_final",
                                       "use_karras_sigmas",
                                       "use_exponential_sigmas",
                                       "use_beta_sigmas",
                                       "use_lu_lambdas",
                                       "use_flow_sigmas",
                                       "flow_shift",
                                       "final_sigmas_type",
                                       "lambda_min_clipped",
                                       "variance_type",
                                       "timestep_spacing",
                                       "steps_offset",
                                       "rescale_betas_zero_snr",
                                       "use_dynamic_shifting",
                                       "time_shift_type",
                                       NULL};

typedef struct reader {
  json_t *root;
  const char *origin;
  const char *const *accepted;
} reader;

/* The value of key if the file has it and the target class accepts it, else NULL (use the default). */
static json_t *get(const reader *r, const char *key)
{
  for (const char *const *k = r->accepted; *k; k++)
    if (strcmp(*k, key) == 0) {
      json_t *v = json_object_get(r->root, key);
      return json_is_null(v) ? NULL : v;
    }
  return NULL;
}

static fr_status get_int(const reader *r, const char *key, int lo, int hi, int *out)
{
  json_t *v = get(r, key);
  if (!v) return FR_OK;
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return fr_fail(FR_EFORMAT, "%s: %s must be an integer in %d..%d", r->origin, key, lo, hi);
  *out = (int)json_integer_value(v);
  return FR_OK;
}

static fr_status get_num(const reader *r, const char *key, double *out)
{
  json_t *v = get(r, key);
  if (!v) return FR_OK;
  if (!json_is_number(v)) return fr_fail(FR_EFORMAT, "%s: %s must be a number", r->origin, key);
  *out = json_number_value(v);
  return FR_OK;
}

static fr_status get_bool(const reader *r, const char *key, int *out)
{
  json_t *v = get(r, key);
  if (!v) return FR_OK;
  if (!json_is_boolean(v)) return fr_fail(FR_EFORMAT, "%s: %s must be true or false", r->origin, key);
  *out = json_is_true(v);
  return FR_OK;
}

static fr_status get_str(const reader *r, const char *key, const char **out)
{
  json_t *v = get(r, key);
  if (!v) return FR_OK;
  if (!json_is_string(v)) return fr_fail(FR_EFORMAT, "%s: %s must be a string", r->origin, key);
  *out = json_string_value(v);
  return FR_OK;
}

/* Settings diffusers has that Fractal does not implement: refuse them by name. */
static fr_status require(const reader *r, const char *key, int ok, const char *want)
{
  if (!ok) return fr_fail(FR_EUNSUPPORTED, "%s: %s is not supported (Fractal implements %s)", r->origin, key, want);
  return FR_OK;
}

/* torch.linspace(start, end, n, dtype=float32) as torch 2.x computes it on an x86-64 CPU: the step in
 * float, the first half counted up from start and the second half down from end, each with one fused
 * multiply-add (its vectorised kernel). */
static void linspace_f32(float start, float end, int n, float *out)
{
  float step = (end - start) / (float)(n - 1);
  for (int i = 0; i < n; i++) out[i] = i < n / 2 ? fmaf(step, (float)i, start) : fmaf(-step, (float)(n - 1 - i), end);
}

static fr_status make_alphas(const reader *r, fr_sched_config *c, double beta_start, double beta_end,
                             const char *schedule)
{
  float betas[FR_SCHED_MAX_TRAIN];
  int n = c->num_train_timesteps;
  json_t *trained = get(r, "trained_betas");
  if (trained) {
    if (!json_is_array(trained) || (int)json_array_size(trained) != n)
      return fr_fail(FR_EFORMAT, "%s: trained_betas must be an array of num_train_timesteps (%d) numbers", r->origin,
                     n);
    for (int i = 0; i < n; i++) {
      json_t *b = json_array_get(trained, (size_t)i);
      if (!json_is_number(b)) return fr_fail(FR_EFORMAT, "%s: trained_betas[%d] is not a number", r->origin, i);
      betas[i] = (float)json_number_value(b);
    }
  } else if (strcmp(schedule, "linear") == 0) {
    linspace_f32((float)beta_start, (float)beta_end, n, betas);
  } else if (strcmp(schedule, "scaled_linear") == 0) {
    linspace_f32((float)sqrt(beta_start), (float)sqrt(beta_end), n, betas);
    for (int i = 0; i < n; i++) betas[i] = betas[i] * betas[i];
  } else {
    return fr_fail(FR_EUNSUPPORTED, "%s: beta_schedule \"%s\" is not supported (linear or scaled_linear)", r->origin,
                   schedule);
  }
  /* torch.cumprod of float32 on the CPU accumulates in double and rounds each prefix to float. */
  double acc = 1.0;
  for (int i = 0; i < n; i++) {
    acc = acc * (double)(1.0f - betas[i]);
    c->alphas_cumprod[i] = (float)acc;
  }
  return FR_OK;
}

static fr_status parse_spacing(const reader *r, const char *s, fr_spacing *out)
{
  if (strcmp(s, "leading") == 0) *out = FR_SPACING_LEADING;
  else if (strcmp(s, "linspace") == 0) *out = FR_SPACING_LINSPACE;
  else if (strcmp(s, "trailing") == 0) *out = FR_SPACING_TRAILING;
  else return fr_fail(FR_EFORMAT, "%s: timestep_spacing \"%s\" is not leading, linspace or trailing", r->origin, s);
  return FR_OK;
}

static fr_status parse_kind_specific(const reader *r, fr_sched_config *c)
{
  int flag;
  const char *s;
  if (c->kind == FR_SCHEDULER_DDIM) {
    double range = 1.0;
    FR_TRY(get_bool(r, "clip_sample", &c->clip_sample));
    FR_TRY(get_bool(r, "set_alpha_to_one", &c->set_alpha_to_one));
    FR_TRY(get_num(r, "clip_sample_range", &range));
    c->clip_sample_range = (float)range;
    if (c->clip_sample && !(c->clip_sample_range > 0.0f))
      return fr_fail(FR_EFORMAT, "%s: clip_sample_range must be > 0", r->origin);
    return FR_OK;
  }
  FR_TRY(get_int(r, "solver_order", 1, 3, &c->solver_order));
  FR_TRY(require(r, "solver_order 3", c->solver_order <= 2, "orders 1 and 2"));
  FR_TRY(get_bool(r, "lower_order_final", &c->lower_order_final));
  s = "dpmsolver++";
  FR_TRY(get_str(r, "algorithm_type", &s));
  FR_TRY(require(r, "algorithm_type", strcmp(s, "dpmsolver++") == 0, "dpmsolver++"));
  s = "midpoint";
  FR_TRY(get_str(r, "solver_type", &s));
  FR_TRY(require(r, "solver_type", strcmp(s, "midpoint") == 0, "midpoint"));
  s = "zero";
  FR_TRY(get_str(r, "final_sigmas_type", &s));
  if (strcmp(s, "zero") != 0 && strcmp(s, "sigma_min") != 0)
    return fr_fail(FR_EFORMAT, "%s: final_sigmas_type \"%s\" is not zero or sigma_min", r->origin, s);
  c->final_sigmas_zero = strcmp(s, "zero") == 0;
  static const char *const off[] = {"euler_at_final", "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
                                    "use_lu_lambdas", "use_flow_sigmas",   "use_dynamic_shifting"};
  for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
    flag = 0;
    FR_TRY(get_bool(r, off[i], &flag));
    FR_TRY(require(r, off[i], !flag, "false"));
  }
  double lmc = -INFINITY;
  FR_TRY(get_num(r, "lambda_min_clipped", &lmc));
  FR_TRY(require(r, "lambda_min_clipped", isinf(lmc) && lmc < 0, "-inf"));
  FR_TRY(require(r, "variance_type", get(r, "variance_type") == NULL, "null"));
  return FR_OK;
}

fr_status fr_sched_config_parse(const char *json_text, const char *origin, fr_scheduler kind, fr_sched_config *out)
{
  json_error_t jerr;
  json_t *root = json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) return fr_fail(FR_EFORMAT, "%s: line %d: %s", origin, jerr.line, jerr.text);
  if (!json_is_object(root)) {
    json_decref(root);
    return fr_fail(FR_EFORMAT, "%s: not a JSON object", origin);
  }
  reader r = {root, origin, kind == FR_SCHEDULER_DDIM ? ddim_keys : dpm_keys};
  fr_sched_config *c = out;
  memset(c, 0, sizeof *c);
  c->kind = kind;
  /* each class's own defaults */
  c->num_train_timesteps = 1000;
  c->spacing = kind == FR_SCHEDULER_DDIM ? FR_SPACING_LEADING : FR_SPACING_LINSPACE;
  c->clip_sample = 1, c->clip_sample_range = 1.0f, c->set_alpha_to_one = 1;
  c->solver_order = 2, c->lower_order_final = 1, c->final_sigmas_zero = 1;
  double beta_start = 0.0001, beta_end = 0.02;
  const char *schedule = "linear", *prediction = "epsilon", *spacing = NULL;
  int flag = 0;
  fr_status st = FR_OK;
  if (st == FR_OK) st = get_int(&r, "num_train_timesteps", 2, FR_SCHED_MAX_TRAIN, &c->num_train_timesteps);
  if (st == FR_OK) st = get_num(&r, "beta_start", &beta_start);
  if (st == FR_OK) st = get_num(&r, "beta_end", &beta_end);
  if (st == FR_OK) st = get_str(&r, "beta_schedule", &schedule);
  if (st == FR_OK) st = get_int(&r, "steps_offset", 0, FR_SCHED_MAX_TRAIN, &c->steps_offset);
  if (st == FR_OK) st = get_str(&r, "prediction_type", &prediction);
  if (st == FR_OK) st = get_str(&r, "timestep_spacing", &spacing);
  if (st == FR_OK && spacing) st = parse_spacing(&r, spacing, &c->spacing);
  if (st == FR_OK) st = get_bool(&r, "thresholding", &flag);
  if (st == FR_OK) st = require(&r, "thresholding", !flag, "false");
  if (st == FR_OK) st = get_bool(&r, "rescale_betas_zero_snr", &flag);
  if (st == FR_OK) st = require(&r, "rescale_betas_zero_snr", !flag, "false");
  if (st == FR_OK && strcmp(prediction, "epsilon") != 0 && strcmp(prediction, "v_prediction") != 0)
    st = fr_fail(FR_EUNSUPPORTED, "%s: prediction_type \"%s\" is not supported (epsilon or v_prediction)", origin,
                 prediction);
  c->v_prediction = strcmp(prediction, "v_prediction") == 0;
  if (st == FR_OK && !(beta_start > 0 && beta_end > 0 && beta_start < 1 && beta_end < 1))
    st = fr_fail(FR_EFORMAT, "%s: beta_start and beta_end must lie in (0, 1)", origin);
  if (st == FR_OK) st = parse_kind_specific(&r, c);
  if (st == FR_OK) st = make_alphas(&r, c, beta_start, beta_end, schedule);
  json_decref(root);
  return st;
}

/* numpy's round-half-to-even of a double, exact for |v| < 2^51. */
static double round_even(double v) { return (v + 0x1.8p52) - 0x1.8p52; }

/* The inference timesteps, largest first. DDIM takes `steps` points; DPM takes steps + 1 and drops the
 * last (zero). */
static fr_status make_timesteps(const fr_sched_config *c, int steps, int64_t *t)
{
  int n_train = c->num_train_timesteps, extra = c->kind == FR_SCHEDULER_DPMPP_2M;
  int points = steps + extra;
  switch (c->spacing) {
  case FR_SPACING_LEADING: {
    int ratio = n_train / points;
    for (int i = 0; i < steps; i++) t[i] = (int64_t)(points - 1 - i) * ratio + c->steps_offset;
    break;
  }
  case FR_SPACING_LINSPACE: {
    /* np.linspace(0, n_train - 1, points): k * ((n_train - 1) / (points - 1)), last point exact */
    double stop = n_train - 1, step = points > 1 ? stop / (double)(points - 1) : 0.0;
    for (int i = 0; i < steps; i++) {
      int k = points - 1 - i;
      double v = k == points - 1 ? stop : (double)k * step;
      t[i] = (int64_t)round_even(v);
    }
    break;
  }
  case FR_SPACING_TRAILING: {
    /* np.arange(n_train, 0, -n_train / steps).round() - 1 */
    double ratio = (double)n_train / (double)steps;
    for (int i = 0; i < steps; i++) t[i] = (int64_t)round_even((double)n_train - (double)i * ratio) - 1;
    break;
  }
  }
  for (int i = 0; i < steps; i++)
    if (t[i] < 0 || t[i] >= n_train)
      return fr_fail(FR_EINVAL, "%d steps give timestep %lld outside 0..%d with this scheduler config", steps,
                     (long long)t[i], n_train - 1);
  return FR_OK;
}

static void ddim_coeffs(const fr_sched_config *c, int steps, int64_t t, fr_sched_coeffs *k)
{
  int64_t prev = t - c->num_train_timesteps / steps;
  float a_t = c->alphas_cumprod[t];
  float a_prev = prev >= 0 ? c->alphas_cumprod[prev] : (c->set_alpha_to_one ? 1.0f : c->alphas_cumprod[0]);
  float beta_t = 1.0f - a_t;
  k->sb = fr_dsqrt(beta_t);
  k->sa = fr_dsqrt(a_t);
  k->sap = fr_dsqrt(a_prev);
  k->dir = fr_dsqrt((1.0f - a_prev) - 0.0f); /* eta = 0: the std_dev_t^2 term is zero */
  k->clip = c->clip_sample ? c->clip_sample_range : 0.0f;
  k->v_prediction = c->v_prediction;
}

/* diffusers' _sigma_to_alpha_sigma_t and lambda = log(alpha) - log(sigma). */
static void sigma_terms(float sigma, float *alpha, float *s, float *lambda)
{
  *alpha = 1.0f / fr_dsqrt(sigma * sigma + 1.0f);
  *s = sigma * *alpha;
  *lambda = fr_dlog(*alpha) - fr_dlog(*s);
}

fr_status fr_sched_plan_make(const fr_sched_config *c, int steps, fr_sched_plan *out)
{
  if (steps < 1 || steps > FR_SCHED_MAX_STEPS || steps > c->num_train_timesteps)
    return fr_fail(FR_EINVAL, "steps must be 1..%d (and at most num_train_timesteps %d), got %d", FR_SCHED_MAX_STEPS,
                   c->num_train_timesteps, steps);
  int64_t t[FR_SCHED_MAX_STEPS];
  FR_TRY(make_timesteps(c, steps, t));
  memset(out, 0, sizeof *out);
  out->kind = c->kind;
  out->steps = steps;
  if (c->kind == FR_SCHEDULER_DDIM) {
    for (int i = 0; i < steps; i++) {
      out->step[i].timestep = t[i];
      out->step[i].order = 1;
      ddim_coeffs(c, steps, t[i], &out->step[i].c);
    }
    return FR_OK;
  }
  /* DPM-Solver++: sigma_i = sqrt((1 - acp) / acp) at each timestep, then the final sigma. */
  float sig[FR_SCHED_MAX_STEPS + 1];
  for (int i = 0; i < steps; i++) {
    float a = c->alphas_cumprod[t[i]];
    sig[i] = fr_dsqrt((1.0f - a) / a);
  }
  float a0 = c->alphas_cumprod[0];
  sig[steps] = c->final_sigmas_zero ? 0.0f : fr_dsqrt((1.0f - a0) / a0);
  for (int i = 0; i < steps; i++) {
    fr_sched_step *st = &out->step[i];
    float alpha_s, s_s, lambda_s, alpha_t, s_t, lambda_t;
    st->timestep = t[i];
    sigma_terms(sig[i], &alpha_s, &s_s, &lambda_s);
    sigma_terms(sig[i + 1], &alpha_t, &s_t, &lambda_t);
    float h = lambda_t - lambda_s;
    int last = i == steps - 1;
    int lower_final = last && (c->final_sigmas_zero || (c->lower_order_final && steps < 15));
    st->order = (c->solver_order == 1 || i == 0 || lower_final) ? 1 : 2;
    fr_sched_coeffs *k = &st->c;
    k->s = s_s, k->a = alpha_s, k->v_prediction = c->v_prediction;
    k->ratio = s_t / s_s;
    k->c = alpha_t * (fr_dexp(-h) - 1.0f);
    if (st->order == 2) {
      float alpha_s1, s_s1, lambda_s1;
      sigma_terms(sig[i - 1], &alpha_s1, &s_s1, &lambda_s1);
      float h0 = lambda_s - lambda_s1, r0 = h0 / h;
      k->k = 1.0f / r0;
      k->c2 = 0.5f * k->c;
    }
  }
  return FR_OK;
}
