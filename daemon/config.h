/* fractald's configuration: one table of options (name, type, default, bounds, field, help), read from a
 * file and overridden by --name=value flags. */
#ifndef FRACTALD_CONFIG_H
#define FRACTALD_CONFIG_H

#include <stddef.h>

typedef struct fractald_config {
  /* both roles */
  char role[16];
  char listen[128];
  char key[1024];
  char registry[1024];
  char model[1024];
  char backend[32];
  char devices[512];
  int shards;
  char variant[16];
  char numerics[64];           /* the profiles served (prover) or checked (verifier) */
  char challenge_numerics[16]; /* verifier: the profile of challenge jobs */
  int threads;
  int allow_unregistered;
  int force_verifier_permit;
  double min_verifier_stake;
  int nonce_window_s;
  int max_body;
  int max_frames, max_height, max_width, max_steps;
  int connections;
  int idle_timeout_s;
  int request_timeout_s;
  int connections_per_address;
  int connections_reserve;
  int registry_sync_s;
  char log_level[16];
  char log_file[1024];
  /* prover */
  int queue_size;
  int max_batch;
  int reveal_cache_jobs;
  int reveal_cache_mb;
  int shutdown_grace_s;
  int fault_corrupt_step; /* tests only: flip a bit of the latent after this step (-1: off) */
  int fault_delay_ms;     /* tests only: sleep before answering a challenge */
  int fault_oom_batches;  /* tests only: the first N batches fail as if the device ran out of memory */
  /* verifier */
  char redis_host[256];
  int redis_port;
  char redis_password[256];
  int redis_insecure_no_password;
  char redis_prefix[64];
  int redis_wait_s;
  char journal[1024];
  int stream_maxlen;
  double step_seconds;
  int run_steps;
  int sample_size;
  double timeout_s;
  char verify_mode[16];
  double decode_check_p;
  int challenge_steps, challenge_frames, challenge_height, challenge_width;
  double challenge_guidance;
  char challenge_scheduler[16];
  int interval;
  int epoch;
  double alpha;
  double decay;
  char speed_mode[16];
  double vpermit_stake_limit;
  double organic_check_p;
  double organic_timeout_s;
  int organic_tries;
  int organic_any_key;
  int verdict_notices;
  int videos_api, videos_max_mb, videos_retention_s, videos_workers;
  char videos_dir[512];
  int max_response_mb;
  double prover_info_s;        /* how often provers' /v1/info (limits, model) is fetched again */
  double fault_clock_offset_s; /* tests only: the verifier's clock reads this much off */
} fractald_config;

/* Defaults, then the file (if any), then flags. Returns 0, or -1 with a message in err. */
int config_load(fractald_config *c, const char *file, int nflags, char **flags, char *err, size_t errn);
/* The option table as --help text. */
void config_help(FILE *f);
/* Every option and its effective value, one "name value" line each (what --check-config prints). */
void config_print(const fractald_config *c, FILE *f);

#endif
