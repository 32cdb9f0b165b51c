/* The option table and the config file / flag parser (see config.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fractal/i8x.h"
#include "fractal/job.h"
#include "fractal/protocol.h"

typedef enum { T_STR, T_INT, T_BOOL, T_DBL } opt_type;

typedef struct option_def {
  const char *name;
  opt_type type;
  const char *def;
  double lo, hi;
  size_t offset, size;
  const char *help;
} option_def;

#define S(field) offsetof(fractald_config, field), sizeof(((fractald_config *)0)->field)
/* clang-format off */ /* a table: one entry per line */
static const option_def options[] = {
  {"role", T_STR, "prover", 0, 0, S(role), "prover or verifier"},
  {"listen", T_STR, "127.0.0.1:8091", 0, 0, S(listen), "address:port the HTTP server listens on"},
  {"key", T_STR, "", 0, 0, S(key), "this node's key file (fractal-keygen); required"},
  {"registry", T_STR, "", 0, 0, S(registry), "registry JSON of nodes; reloaded on SIGHUP and every registry_sync_s"},
  {"model", T_STR, "", 0, 0, S(model), "diffusers-layout model folder to serve; required"},
  {"backend", T_STR, "auto", 0, 0, S(backend), "auto, cpu, cuda or cuda:N"},
  {"devices", T_STR, "", 0, 0, S(devices), "prover: comma-separated backends, a worker and a model copy each (default: backend)"},
  {"shards", T_INT, "1", 1, 64, S(shards), "prover: CPU ranks one job is split over (same bits, lower latency; jobs then run unbatched)"},
  {"variant", T_STR, "", 0, 0, S(variant), "weight files to load: \"\" (full precision if present) or fp16"},
  {"numerics", T_STR, "f32-v1", 0, 0, S(numerics), "numerics profiles served (prover) or checked (verifier): f32-v1, or f32-v1,i8x-v1 (also quantizes the weights at load)"},
  {"threads", T_INT, "0", 0, 1024, S(threads), "CPU threads for the backend (0: all cores)"},
  {"allow_unregistered", T_BOOL, "false", 0, 1, S(allow_unregistered), "accept senders not in the registry (logged loudly)"},
  {"force_verifier_permit", T_BOOL, "false", 0, 1, S(force_verifier_permit), "only verifiers with stake >= min_verifier_stake may call"},
  {"min_verifier_stake", T_DBL, "0", 0, 1e18, S(min_verifier_stake), "stake needed when force_verifier_permit is on"},
  {"nonce_window_s", T_INT, "60", 1, 3600, S(nonce_window_s), "largest accepted clock difference of a request's nonce"},
  {"max_body", T_INT, "65536", 256, 16777216, S(max_body), "largest request body in bytes"},
  {"max_frames", T_INT, "64", 1, FR_JOB_FRAMES_MAX, S(max_frames), "largest job: frames"},
  {"max_height", T_INT, "1024", 8, 8192, S(max_height), "largest job: height (multiple of 8)"},
  {"max_width", T_INT, "1024", 8, 8192, S(max_width), "largest job: width (multiple of 8)"},
  {"max_steps", T_INT, "200", 1, FR_JOB_STEPS_MAX, S(max_steps), "largest job: steps"},
  {"connections", T_INT, "128", 4, 65536, S(connections), "most simultaneous HTTP connections"},
  {"idle_timeout_s", T_INT, "120", 1, 86400, S(idle_timeout_s), "idle HTTP connections are closed after this"},
  {"request_timeout_s", T_INT, "10", 1, 3600, S(request_timeout_s), "a request (line, headers, body) must arrive within this long of the connection's start or previous answer"},
  {"connections_per_address", T_INT, "32", 1, 65536, S(connections_per_address), "most connections from one client address (its oldest one still sending a request makes room)"},
  {"connections_reserve", T_INT, "16", 0, 32768, S(connections_reserve), "connections still sending a request leave this many slots free (at most half of connections)"},
  {"registry_sync_s", T_INT, "60", 0, 86400, S(registry_sync_s), "reload the registry this often (0: only on SIGHUP)"},
  {"log_level", T_STR, "info", 0, 0, S(log_level), "debug, info, warn or error"},
  {"log_file", T_STR, "", 0, 0, S(log_file), "log to this file (default: stderr)"},
  {"queue_size", T_INT, "8", 1, 4096, S(queue_size), "prover: jobs waiting for the device; more get 429"},
  {"max_batch", T_INT, "4", 1, 64, S(max_batch), "prover: most queued jobs of one size run as one batch"},
  {"reveal_cache_jobs", T_INT, "64", 1, 100000, S(reveal_cache_jobs), "prover: recent jobs whose latents /v1/reveal can return"},
  {"reveal_cache_mb", T_INT, "1024", 1, 1048576, S(reveal_cache_mb), "prover: memory for the reveal cache"},
  {"shutdown_grace_s", T_INT, "30", 0, 86400, S(shutdown_grace_s), "prover: on SIGTERM, jobs get this long to finish before they are canceled"},
  {"fault_corrupt_step", T_INT, "-1", -1, FR_JOB_STEPS_MAX, S(fault_corrupt_step), "TESTS ONLY: flip one bit of the latent after this step (-1: off)"},
  {"fault_delay_ms", T_INT, "0", 0, 3600000, S(fault_delay_ms), "TESTS ONLY: delay every challenge answer"},
  {"fault_oom_batches", T_INT, "0", 0, 1000000, S(fault_oom_batches), "TESTS ONLY: fail the first N batches as out of memory"},
  {"redis_host", T_STR, "127.0.0.1", 0, 0, S(redis_host), "verifier: Redis host"},
  {"redis_port", T_INT, "6379", 1, 65535, S(redis_port), "verifier: Redis port"},
  {"redis_password", T_STR, "", 0, 0, S(redis_password), "verifier: Redis password (default: $FRACTAL_REDIS_PASSWORD); required"},
  {"redis_insecure_no_password", T_BOOL, "false", 0, 1, S(redis_insecure_no_password), "verifier: allow a Redis without a password (a private socket only)"},
  {"redis_prefix", T_STR, "fractal:", 0, 0, S(redis_prefix), "verifier: prefix of every Redis key"},
  {"redis_wait_s", T_INT, "60", 0, 86400, S(redis_wait_s), "verifier: at start, wait this long for Redis before giving up"},
  {"journal", T_STR, "fractald-verifier.journal", 0, 0, S(journal), "verifier: fsync'd journal of updates made while Redis is away"},
  {"stream_maxlen", T_INT, "10000", 10, 100000000, S(stream_maxlen), "verifier: challenge log entries kept in Redis (about)"},
  {"step_seconds", T_DBL, "12", 0, 86400, S(step_seconds), "verifier: one challenge every this many seconds (0: back to back)"},
  {"run_steps", T_INT, "0", 0, 2000000000, S(run_steps), "verifier: stop after this many steps (0: run until SIGTERM)"},
  {"sample_size", T_INT, "3", 1, 256, S(sample_size), "verifier: provers challenged per step"},
  {"timeout_s", T_DBL, "60", 0.01, 86400, S(timeout_s), "verifier: how long a prover has to answer a challenge"},
  {"verify_mode", T_STR, "auto", 0, 0, S(verify_mode), "verifier: full (generate and compare), spot (one step), auto (full on a GPU, else spot)"},
  {"decode_check_p", T_DBL, "0.1", 0, 1, S(decode_check_p), "verifier: spot mode, chance of also recomputing the final decode"},
  {"challenge_steps", T_INT, "25", 1, FR_JOB_STEPS_MAX, S(challenge_steps), "verifier: challenge jobs: steps"},
  {"challenge_frames", T_INT, "16", 1, FR_JOB_FRAMES_MAX, S(challenge_frames), "verifier: challenge jobs: frames"},
  {"challenge_height", T_INT, "256", 8, 8192, S(challenge_height), "verifier: challenge jobs: height"},
  {"challenge_width", T_INT, "256", 8, 8192, S(challenge_width), "verifier: challenge jobs: width"},
  {"challenge_guidance", T_DBL, "9", 0, 50, S(challenge_guidance), "verifier: challenge jobs: guidance"},
  {"challenge_numerics", T_STR, "f32-v1", 0, 0, S(challenge_numerics), "verifier: challenge jobs: numerics profile, one of numerics"},
  {"challenge_scheduler", T_STR, "dpm++2m", 0, 0, S(challenge_scheduler), "verifier: challenge jobs: ddim or dpm++2m"},
  {"interval", T_INT, "360", 1, 100000000, S(interval), "verifier: steps between tier moves and weight publications"},
  {"epoch", T_INT, "36000", 1, 2000000000, S(epoch), "verifier: steps between epoch resets of the lower tiers"},
  {"alpha", T_DBL, "0.05", 0, 1, S(alpha), "verifier: score moving-average weight of a new reward"},
  {"decay", T_DBL, "0.001", 0, 1, S(decay), "verifier: every score decays by this much every step"},
  {"speed_mode", T_STR, "sigmoid", 0, 0, S(speed_mode), "verifier: speed bonus, sigmoid or minmax"},
  {"vpermit_stake_limit", T_DBL, "4096", 0, 1e18, S(vpermit_stake_limit), "verifier: verifiers with more stake are never challenged"},
  {"organic_check_p", T_DBL, "0.1", 0, 1, S(organic_check_p), "verifier: chance an organic result is spot-checked before it is returned"},
  {"organic_timeout_s", T_DBL, "600", 0.01, 86400, S(organic_timeout_s), "verifier: how long a prover has for an organic request"},
  {"organic_tries", T_INT, "3", 1, 100, S(organic_tries), "verifier: provers tried for one organic request"},
  {"organic_any_key", T_BOOL, "false", 0, 1, S(organic_any_key), "verifier: /v1/generate takes requests signed by any key, not only registered ones"},
  {"max_response_mb", T_INT, "256", 1, 65536, S(max_response_mb), "verifier: the largest response taken from a prover"},
  {"videos_api", T_BOOL, "false", 0, 1, S(videos_api), "verifier: serve the videos API to creators with API keys (docs/videos.md)"},
  {"videos_dir", T_STR, "videos", 0, 0, S(videos_dir), "verifier: where the videos API keeps its MP4s and thumbnails"},
  {"videos_max_mb", T_INT, "10240", 1, 100000000, S(videos_max_mb), "verifier: the videos' files at most (the oldest go first)"},
  {"videos_retention_s", T_INT, "604800", 1, 2000000000, S(videos_retention_s), "verifier: a completed video is kept this long"},
  {"videos_workers", T_INT, "2", 1, 16, S(videos_workers), "verifier: videos made at a time"},
  {"verdict_notices", T_BOOL, "true", 0, 1, S(verdict_notices), "verifier: tell each prover that answered the verdict on its answer (POST /v1/verdict)"},
  {"prover_info_s", T_DBL, "60", 0.1, 86400, S(prover_info_s), "verifier: fetch every prover's /v1/info (its limits) again this often"},
  {"fault_clock_offset_s", T_DBL, "0", -1e9, 1e9, S(fault_clock_offset_s), "TESTS ONLY: verifier: its clock reads this many seconds off"},
};
/* clang-format on */
#define NOPTIONS (sizeof options / sizeof options[0])

static const option_def *find(const char *name)
{
  for (size_t i = 0; i < NOPTIONS; i++)
    if (strcmp(options[i].name, name) == 0) return &options[i];
  return NULL;
}

static int set(fractald_config *c, const option_def *o, const char *value, char *err, size_t errn, const char *where)
{
  void *field = (char *)c + o->offset;
  char *end;
  switch (o->type) {
  case T_STR:
    if (strlen(value) >= o->size) return snprintf(err, errn, "%s%s: value too long", where, o->name), -1;
    memcpy(field, value, strlen(value) + 1);
    return 0;
  case T_BOOL:
    if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0) *(int *)field = 1;
    else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 || strcmp(value, "0") == 0) *(int *)field = 0;
    else return snprintf(err, errn, "%s%s: '%s' is not true or false", where, o->name, value), -1;
    return 0;
  case T_INT: {
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < o->lo || v > o->hi)
      return snprintf(err, errn, "%s%s: '%s' is not an integer in %.0f..%.0f", where, o->name, value, o->lo, o->hi), -1;
    *(int *)field = (int)v;
    return 0;
  }
  case T_DBL: {
    double v = strtod(value, &end);
    if (end == value || *end || !(v >= o->lo && v <= o->hi))
      return snprintf(err, errn, "%s%s: '%s' is not a number in %g..%g", where, o->name, value, o->lo, o->hi), -1;
    *(double *)field = v;
    return 0;
  }
  }
  return -1;
}

/* Lines "name value" or "name = value"; '#' starts a comment; values may be double-quoted. */
static int read_file(fractald_config *c, const char *path, char *err, size_t errn)
{
  FILE *f = fopen(path, "r");
  if (!f) return snprintf(err, errn, "%s: %s", path, strerror(errno)), -1;
  char line[2048], where[1200];
  int lineno = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    lineno++;
    char *p = line, *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    while (*p == ' ' || *p == '\t') p++;
    char *e = p + strlen(p);
    while (e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
    if (!*p) continue;
    char *name = p;
    while (*p && *p != ' ' && *p != '\t' && *p != '=') p++;
    if (*p) *p++ = '\0';
    while (*p == ' ' || *p == '\t' || *p == '=') p++;
    if (*p == '"' && e > p + 1 && e[-1] == '"') *--e = '\0', p++;
    snprintf(where, sizeof where, "%s:%d: ", path, lineno);
    const option_def *o = find(name);
    if (!o) rc = -1, snprintf(err, errn, "%sunknown option '%s'", where, name);
    else rc = set(c, o, p, err, errn, where);
  }
  fclose(f);
  return rc;
}

int config_load(fractald_config *c, const char *file, int nflags, char **flags, char *err, size_t errn)
{
  memset(c, 0, sizeof *c);
  for (size_t i = 0; i < NOPTIONS; i++)
    if (set(c, &options[i], options[i].def, err, errn, "default ") != 0) return -1;
  if (file && read_file(c, file, err, errn) != 0) return -1;
  for (int i = 0; i < nflags; i++) {
    const char *a = flags[i];
    if (strncmp(a, "--", 2) != 0) return snprintf(err, errn, "unexpected argument '%s'", a), -1;
    char name[128];
    const char *eq = strchr(a, '='), *value;
    if (eq) {
      snprintf(name, sizeof name, "%.*s", (int)(eq - a - 2), a + 2);
      value = eq + 1;
    } else {
      snprintf(name, sizeof name, "%s", a + 2);
      if (i + 1 >= nflags) return snprintf(err, errn, "--%s needs a value", name), -1;
      value = flags[++i];
    }
    for (char *p = name; *p; p++)
      if (*p == '-') *p = '_';
    const option_def *o = find(name);
    if (!o) return snprintf(err, errn, "unknown option --%s (see --help)", name), -1;
    if (set(c, o, value, err, errn, "--") != 0) return -1;
  }
  if (strcmp(c->role, "prover") != 0 && strcmp(c->role, "verifier") != 0)
    return snprintf(err, errn, "role must be prover or verifier, not '%s'", c->role), -1;
  if (c->max_height % 8 || c->max_width % 8)
    return snprintf(err, errn, "max_height and max_width must be multiples of 8"), -1;
  if (!c->key[0]) return snprintf(err, errn, "key is required (make one with fractal-keygen)"), -1;
  if (!c->model[0]) return snprintf(err, errn, "model is required (a diffusers-layout model folder)"), -1;
  if (!c->registry[0] && !c->allow_unregistered)
    return snprintf(err, errn, "registry is required (or allow_unregistered, for testing)"), -1;
  if (strcmp(c->numerics, FR_NUMERICS) != 0 && strcmp(c->numerics, FR_NUMERICS "," FR_I8X_PROFILE) != 0)
    return snprintf(err, errn, "numerics must be f32-v1 or f32-v1,i8x-v1, not '%s'", c->numerics), -1;
  if (strcmp(c->role, "verifier") == 0) {
    if (!fr_numerics_listed(c->numerics, c->challenge_numerics))
      return snprintf(err, errn, "challenge_numerics '%s' is not one of numerics (%s)", c->challenge_numerics,
                      c->numerics),
             -1;
    if (!c->redis_password[0] && getenv("FRACTAL_REDIS_PASSWORD"))
      snprintf(c->redis_password, sizeof c->redis_password, "%s", getenv("FRACTAL_REDIS_PASSWORD"));
    if (!c->redis_password[0] && !c->redis_insecure_no_password)
      return snprintf(
                 err, errn,
                 "redis_password is required (or $FRACTAL_REDIS_PASSWORD; redis_insecure_no_password only for a private socket)"),
             -1;
    if (!c->registry[0]) return snprintf(err, errn, "a verifier needs a registry of provers to challenge"), -1;
    if (strcmp(c->verify_mode, "auto") != 0 && strcmp(c->verify_mode, "full") != 0 &&
        strcmp(c->verify_mode, "spot") != 0)
      return snprintf(err, errn, "verify_mode must be auto, full or spot, not '%s'", c->verify_mode), -1;
    if (strcmp(c->speed_mode, "sigmoid") != 0 && strcmp(c->speed_mode, "minmax") != 0)
      return snprintf(err, errn, "speed_mode must be sigmoid or minmax, not '%s'", c->speed_mode), -1;
    if (strcmp(c->challenge_scheduler, "ddim") != 0 && strcmp(c->challenge_scheduler, "dpm++2m") != 0)
      return snprintf(err, errn, "challenge_scheduler must be ddim or dpm++2m, not '%s'", c->challenge_scheduler), -1;
    if (c->challenge_height % 8 || c->challenge_width % 8)
      return snprintf(err, errn, "challenge_height and challenge_width must be multiples of 8"), -1;
    if (c->epoch % c->interval)
      return snprintf(err, errn, "epoch (%d) must be a multiple of interval (%d)", c->epoch, c->interval), -1;
    if (!c->journal[0]) return snprintf(err, errn, "journal is required"), -1;
  }
  return 0;
}

void config_help(FILE *f)
{
  fprintf(f, "Options (config file lines \"name value\", or flags --name=value; flags win):\n");
  for (size_t i = 0; i < NOPTIONS; i++) {
    const option_def *o = &options[i];
    char range[64] = "";
    if (o->type == T_INT) snprintf(range, sizeof range, " [%.0f..%.0f]", o->lo, o->hi);
    fprintf(f, "  %-26s %-7s default %-16s %s%s\n", o->name,
            o->type == T_STR    ? "string"
            : o->type == T_INT  ? "integer"
            : o->type == T_BOOL ? "bool"
                                : "number",
            *o->def ? o->def : "\"\"", o->help, range);
  }
}

void config_print(const fractald_config *c, FILE *f)
{
  for (size_t i = 0; i < NOPTIONS; i++) {
    const option_def *o = &options[i];
    const void *field = (const char *)c + o->offset;
    if (o->type == T_STR && strcmp(o->name, "redis_password") == 0)
      fprintf(f, "%s \"%s\"\n", o->name, *(const char *)field ? "(set)" : "");
    else if (o->type == T_STR) fprintf(f, "%s \"%s\"\n", o->name, (const char *)field);
    else if (o->type == T_INT) fprintf(f, "%s %d\n", o->name, *(const int *)field);
    else if (o->type == T_BOOL) fprintf(f, "%s %s\n", o->name, *(const int *)field ? "true" : "false");
    else fprintf(f, "%s %g\n", o->name, *(const double *)field);
  }
}
