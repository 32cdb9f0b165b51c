/* Schedulers: the noise schedule and timesteps against the model spec's check values, diffusers'
 * from_config rules, refusal of unsupported settings, and the per-element updates against their
 * written-out definitions. */
#include "diffusion/model/scheduler.h"
#include "fractal/sched_math.h"
#include "testutil.h"

static const char *ms_config =
    "{\"_class_name\": \"DDIMScheduler\", \"_diffusers_version\": \"0.15.0\", \"beta_end\": 0.012,"
    " \"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085, \"clip_sample\": false,"
    " \"num_train_timesteps\": 1000, \"prediction_type\": \"epsilon\", \"set_alpha_to_one\": false,"
    " \"skip_prk_steps\": true, \"steps_offset\": 1, \"trained_betas\": null}";

static fr_sched_config cfg;
static fr_sched_plan plan;

static void test_schedule_values(void)
{
  CHECK_OK(fr_sched_config_parse(ms_config, "ms", FR_SCHEDULER_DDIM, &cfg));
  /* The bits torch 2.15 / diffusers 0.33.1 produce on an x86-64 CPU (linspace with fma, cumprod
   * accumulated in double). A float cumprod would differ in the last digits at 21, 500, 961, 981 and
   * 999. */
  static const struct {
    int t;
    uint32_t bits;
  } acp[] = {{0, 1065338955u},   {1, 1065324628u},   {21, 1065024058u}, {500, 1049459571u},
             {961, 1005493123u}, {981, 1002258527u}, {999, 999863222u}};
  for (size_t i = 0; i < sizeof acp / sizeof acp[0]; i++)
    CHECK(fr_f32_bits(cfg.alphas_cumprod[acp[i].t]) == acp[i].bits, "alphas_cumprod[%d] = %.9g (0x%08x), torch 0x%08x",
          acp[i].t, cfg.alphas_cumprod[acp[i].t], fr_f32_bits(cfg.alphas_cumprod[acp[i].t]), acp[i].bits);
  double sigma999 = sqrt((1.0 - cfg.alphas_cumprod[999]) / cfg.alphas_cumprod[999]);
  CHECK(fabs(sigma999 - 14.6147) < 1e-4, "sigma[999] = %.6f", sigma999);
  CHECK(cfg.clip_sample == 0 && cfg.set_alpha_to_one == 0 && cfg.steps_offset == 1 && cfg.spacing == FR_SPACING_LEADING,
        "DDIM keeps the file's clip_sample/set_alpha_to_one/steps_offset and its own leading spacing");
}

static void check_timesteps(fr_scheduler kind, int steps, const int64_t *want, int n, const char *what)
{
  CHECK_OK(fr_sched_config_parse(ms_config, "ms", kind, &cfg));
  CHECK_OK(fr_sched_plan_make(&cfg, steps, &plan));
  for (int i = 0; i < n; i++) {
    int idx = want[2 * i] < 0 ? steps + (int)want[2 * i] : (int)want[2 * i];
    CHECK(plan.step[idx].timestep == want[2 * i + 1], "%s: timestep[%d] = %lld, want %lld", what, idx,
          (long long)plan.step[idx].timestep, (long long)want[2 * i + 1]);
  }
}

static void test_timesteps(void)
{
  int64_t ddim50[] = {0, 981, 1, 961, -2, 21, -1, 1};
  check_timesteps(FR_SCHEDULER_DDIM, 50, ddim50, 4, "DDIM 50");
  int64_t ddim25[] = {0, 961, 1, 921, -1, 1};
  check_timesteps(FR_SCHEDULER_DDIM, 25, ddim25, 3, "DDIM 25");
  int64_t ddim2[] = {0, 501, 1, 1};
  check_timesteps(FR_SCHEDULER_DDIM, 2, ddim2, 2, "DDIM 2");
  static const int64_t dpm25_all[25] = {999, 959, 919, 879, 839, 799, 759, 719, 679, 639, 599, 559, 519,
                                        480, 440, 400, 360, 320, 280, 240, 200, 160, 120, 80,  40};
  int64_t dpm25[50];
  for (int i = 0; i < 25; i++) dpm25[2 * i] = i, dpm25[2 * i + 1] = dpm25_all[i];
  check_timesteps(FR_SCHEDULER_DPMPP_2M, 25, dpm25, 25, "DPM++ 25 (linspace: the file has no spacing key)");
  /* orders: first at the start and at the end (final sigma zero), second in between */
  CHECK(plan.step[0].order == 1 && plan.step[1].order == 2 && plan.step[23].order == 2 && plan.step[24].order == 1,
        "DPM++ orders");
  CHECK(plan.step[24].c.ratio == 0.0f && plan.step[24].c.c == -1.0f, "the last DPM step returns x0 exactly");

  /* with an explicit leading spacing the DPM timesteps change (diffusers' DPMSolverMultistepScheduler, timestep_spacing "leading") */
  static const char *leading = "{\"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085, \"beta_end\": 0.012,"
                               " \"steps_offset\": 1, \"timestep_spacing\": \"leading\"}";
  CHECK_OK(fr_sched_config_parse(leading, "leading", FR_SCHEDULER_DPMPP_2M, &cfg));
  CHECK_OK(fr_sched_plan_make(&cfg, 25, &plan));
  CHECK(plan.step[0].timestep == 951 && plan.step[1].timestep == 913 && plan.step[23].timestep == 77 &&
            plan.step[24].timestep == 39,
        "DPM++ leading: %lld %lld ... %lld %lld", (long long)plan.step[0].timestep, (long long)plan.step[1].timestep,
        (long long)plan.step[23].timestep, (long long)plan.step[24].timestep);
  static const char *trailing = "{\"timestep_spacing\": \"trailing\"}";
  CHECK_OK(fr_sched_config_parse(trailing, "trailing", FR_SCHEDULER_DDIM, &cfg));
  CHECK_OK(fr_sched_plan_make(&cfg, 3, &plan));
  CHECK(plan.step[0].timestep == 999 && plan.step[1].timestep == 666 && plan.step[2].timestep == 332,
        "DDIM trailing 3: %lld %lld %lld", (long long)plan.step[0].timestep, (long long)plan.step[1].timestep,
        (long long)plan.step[2].timestep);
  /* class defaults apply for absent keys: DDIM clips and uses alpha 1 at the end */
  CHECK(cfg.clip_sample == 1 && cfg.set_alpha_to_one == 1, "DDIM defaults");
}

static void test_refusals(void)
{
  /* clang-format off */ /* a table: one entry per line */
  struct {
    const char *json, *want;
    fr_scheduler kind;
  } bad[] = {
    {"{\"use_karras_sigmas\": true}", "use_karras_sigmas is not supported", FR_SCHEDULER_DPMPP_2M},
    {"{\"prediction_type\": \"sample\"}", "prediction_type \"sample\"", FR_SCHEDULER_DDIM},
    {"{\"beta_schedule\": \"squaredcos_cap_v2\"}", "beta_schedule \"squaredcos_cap_v2\"", FR_SCHEDULER_DDIM},
    {"{\"solver_type\": \"heun\"}", "solver_type is not supported", FR_SCHEDULER_DPMPP_2M},
    {"{\"thresholding\": true}", "thresholding is not supported", FR_SCHEDULER_DDIM},
    {"{\"num_train_timesteps\": \"1000\"}", "num_train_timesteps must be an integer", FR_SCHEDULER_DDIM},
    {"{\"timestep_spacing\": \"sideways\"}", "timestep_spacing \"sideways\"", FR_SCHEDULER_DDIM},
    {"[1, 2]", "not a JSON object", FR_SCHEDULER_DDIM},
    {"{\"a\": 1,}", "line 1", FR_SCHEDULER_DDIM},
  };
  /* clang-format on */
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fr_status st = fr_sched_config_parse(bad[i].json, "cfg.json", bad[i].kind, &cfg);
    CHECK(st != FR_OK && strstr(fr_last_error(), bad[i].want) && strstr(fr_last_error(), "cfg.json"),
          "config %s: got '%s', want '%s'", bad[i].json, fr_last_error(), bad[i].want);
  }
  /* a key DDIM does not accept is ignored, as from_config drops it */
  CHECK_OK(fr_sched_config_parse("{\"use_karras_sigmas\": true, \"solver_order\": 3}", "x", FR_SCHEDULER_DDIM, &cfg));
  CHECK_OK(fr_sched_config_parse(ms_config, "ms", FR_SCHEDULER_DDIM, &cfg));
  CHECK(fr_sched_plan_make(&cfg, 0, &plan) == FR_EINVAL, "0 steps refused");
  CHECK(fr_sched_plan_make(&cfg, 1001, &plan) == FR_EINVAL, "more steps than train timesteps refused");
}

/* The elementwise updates on the backend are the sched_math formulas, element by element. */
static void test_updates(void)
{
  fr_backend *be;
  CHECK_OK(fr_backend_open("cpu", 2, &be));
  int64_t n = 4 * 3 * 8 * 8 * 2 + 5;
  fr_tensor x = tensor_new2(FR_F32, 1, n), e = tensor_new2(FR_F32, 1, n), m1 = tensor_new2(FR_F32, 1, n);
  fr_tensor y = tensor_new2(FR_F32, 1, n);
  tensor_fill(&x, -3, 3), tensor_fill(&e, -3, 3), tensor_fill(&m1, -3, 3);
  const float *xd = (const float *)x.data, *ed = (const float *)e.data, *md = (const float *)m1.data;
  for (int kind = 0; kind < 2; kind++) {
    CHECK_OK(fr_sched_config_parse(ms_config, "ms", (fr_scheduler)kind, &cfg));
    CHECK_OK(fr_sched_plan_make(&cfg, 10, &plan));
    for (int s = 0; s < 10; s++) {
      const fr_sched_coeffs *k = &plan.step[s].c;
      int ok = 1;
      if (kind == FR_SCHEDULER_DDIM) {
        CHECK_OK(fr_sched_ddim(be, &x, &e, k, &y));
        for (int64_t i = 0; i < n && ok; i++) {
          float x0 = (xd[i] - k->sb * ed[i]) / k->sa, want = k->sap * x0 + k->dir * ed[i];
          ok = memcmp(&want, &((float *)y.data)[i], 4) == 0;
        }
      } else {
        CHECK_OK(fr_sched_dpm_x0(be, &x, &e, k, &y));
        for (int64_t i = 0; i < n && ok; i++) {
          float want = (xd[i] - k->s * ed[i]) / k->a;
          ok = memcmp(&want, &((float *)y.data)[i], 4) == 0;
        }
        CHECK_OK(fr_sched_dpm_update(be, &x, &e, plan.step[s].order == 2 ? &m1 : NULL, k, &y));
        for (int64_t i = 0; i < n && ok; i++) {
          float first = k->ratio * xd[i] - k->c * ed[i];
          float want = plan.step[s].order == 2 ? first - k->c2 * (k->k * (ed[i] - md[i])) : first;
          ok = memcmp(&want, &((float *)y.data)[i], 4) == 0;
        }
      }
      CHECK(ok, "scheduler %d step %d: the op differs from the written-out update", kind, s);
    }
  }
  /* in place: y may be x */
  CHECK_OK(fr_sched_ddim(be, &x, &e, &plan.step[0].c, &x));
  tensor_free(&x), tensor_free(&e), tensor_free(&m1), tensor_free(&y);
  fr_backend_close(be);
}

int main(void)
{
  test_schedule_values();
  test_timesteps();
  test_refusals();
  test_updates();
  return check_done("test_scheduler");
}
