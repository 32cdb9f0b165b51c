/* fractald: a Fractal node. `--role prover` serves jobs from a loaded model over signed HTTP;
 * `--role verifier` challenges provers, scores them in Redis and routes organic requests. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "node.h"
#include "prover.h"
#include "fractal/version.h"
#include "verifier.h"

static void usage(FILE *f)
{
  fprintf(f, "usage: fractald [--config FILE] [--check-config] [--NAME=VALUE ...] | --version\n"
             "A Fractal node: a prover that generates videos for signed jobs, or a verifier that challenges\n"
             "provers, judges their answers, keeps scores and tiers in Redis and routes organic requests.\n"
             "  --config FILE     read options from FILE (\"name value\" lines); flags override it\n"
             "  --check-config    print the effective configuration and exit (0 if valid)\n"
             "  --version         print the version, source commit, build type and CUDA backend\n"
             "  --help            this text\n"
             "Signals: SIGTERM/SIGINT finish the jobs (or the verifier's step) in flight and exit (a prover cancels\n"
             "the jobs still running after shutdown_grace_s); SIGHUP reloads the registry.\n\n");
  config_help(f);
}

static double mono_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int start(node *n)
{
  if (fr_key_load(n->cfg.key, &n->key) != FR_OK) return LOG(LOG_ERROR, "key: %s", fr_last_error()), -1;
  pthread_rwlock_init(&n->registry_lock, NULL);
  n->nonces = fr_nonces_new();
  metrics_init(&n->metrics);
  if (n->cfg.registry[0] && node_reload_registry(n) != 0) return -1;
  if (n->cfg.allow_unregistered)
    LOG(LOG_WARN, "allow_unregistered is ON: any key may send signed requests to this node (testing only)");
  char list[512], *save = NULL;
  snprintf(list, sizeof list, "%s", n->cfg.devices[0] ? n->cfg.devices : n->cfg.backend);
  fr_model_options mo = {n->cfg.variant[0] ? n->cfg.variant : NULL};
  for (char *spec = strtok_r(list, ",", &save); spec; spec = strtok_r(NULL, ",", &save)) {
    if (n->ndev == NODE_MAX_DEVICES) return LOG(LOG_ERROR, "at most %d devices", NODE_MAX_DEVICES), -1;
    device *d = &n->dev[n->ndev];
    if (fr_backend_open(spec, n->cfg.threads, &d->be) != FR_OK)
      return LOG(LOG_ERROR, "device %s: %s", spec, fr_last_error()), -1;
    double t0 = mono_s();
    if (fr_model_load(n->cfg.model, d->be, &mo, &d->model) != FR_OK)
      return LOG(LOG_ERROR, "model: %s", fr_last_error()), -1;
    n->ndev++;
    fr_model_get_info(d->model, &n->info);
    LOG(LOG_INFO, "model %s (%s, %d tensors) loaded on %s in %.1f s", n->info.digest_hex, n->cfg.model,
        n->info.weight_tensors, fr_backend_name(d->be), mono_s() - t0);
  }
  if (!n->ndev) return LOG(LOG_ERROR, "no device"), -1;
  for (int d = 0; n->cfg.shards > 1 && d < n->ndev; d++)
    if (fr_backend_device(n->dev[d].be) != FR_DEVICE_CPU)
      return LOG(LOG_ERROR,
                 "shards = %d splits jobs over CPU ranks, but device %s is a GPU (the prover does not yet "
                 "split jobs over GPUs; see README, \"Sharding\")",
                 n->cfg.shards, fr_backend_name(n->dev[d].be)),
             -1;
  return 0;
}

int main(int argc, char **argv)
{
  const char *file = NULL;
  int check = 0, nflags = 0;
  char **flags = (char **)calloc((size_t)argc, sizeof *flags);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return free(flags), usage(stdout), 0;
    if (strcmp(argv[i], "--version") == 0) return free(flags), fr_print_version(stdout, "fractald"), 0;
    if (strcmp(argv[i], "--check-config") == 0) check = 1;
    else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) file = argv[++i];
    else if (strncmp(argv[i], "--config=", 9) == 0) file = argv[i] + 9;
    else flags[nflags++] = argv[i];
  }
  static node n;
  char err[1400];
  int loaded = config_load(&n.cfg, file, nflags, flags, err, sizeof err);
  free(flags);
  if (loaded != 0) {
    fprintf(stderr, "fractald: %s\n", err);
    return 2;
  }
  if (check) { /* like `nginx -t`: the files the options name must be usable too */
    config_print(&n.cfg, stdout);
    fr_key k;
    fr_registry r = {0};
    char path[1100];
    snprintf(path, sizeof path, "%s/model_index.json", n.cfg.model);
    int bad = 0;
    if (fr_key_load(n.cfg.key, &k) != FR_OK) bad = 1, fprintf(stderr, "fractald: key: %s\n", fr_last_error());
    if (n.cfg.registry[0] && fr_registry_load(n.cfg.registry, &r) != FR_OK)
      bad = 1, fprintf(stderr, "fractald: registry: %s\n", fr_last_error());
    fr_registry_free(&r);
    if (access(path, R_OK) != 0) bad = 1, fprintf(stderr, "fractald: model: %s is missing\n", path);
    fprintf(stderr, "fractald: configuration %s\n", bad ? "has errors" : "OK");
    return bad;
  }
  if (log_open(n.cfg.log_level, n.cfg.log_file) != 0) {
    fprintf(stderr, "fractald: cannot log at level %s to %s\n", n.cfg.log_level,
            n.cfg.log_file[0] ? n.cfg.log_file : "stderr");
    return 2;
  }
  int is_prover = strcmp(n.cfg.role, "prover") == 0;
  /* every thread inherits these blocked; the main thread takes them with sigwait */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM), sigaddset(&sigs, SIGINT), sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (start(&n) != 0) return 1;
  if (is_prover && prover_start(&n) != 0) return LOG(LOG_ERROR, "cannot start the job worker"), 1;
  if (!is_prover && verifier_start(&n) != 0) return LOG(LOG_ERROR, "cannot start the verifier"), 1;
  int nroutes;
  const http_route *routes = is_prover ? prover_routes(&nroutes) : verifier_routes(&nroutes);
  http_server *http = http_start(&n, routes, nroutes);
  if (!http) {
    if (!is_prover) verifier_stop(&n), verifier_free(&n);
    return 1;
  }
  LOG(LOG_INFO, "%s %s listening on %s", n.cfg.role, n.key.hotkey, n.cfg.listen);
  for (;;) {
    struct timespec wait = {n.cfg.registry_sync_s > 0 ? n.cfg.registry_sync_s : 3600, 0};
    int sig = sigtimedwait(&sigs, NULL, &wait);
    if (sig == SIGHUP || (sig < 0 && n.cfg.registry_sync_s > 0)) {
      node_reload_registry(&n);
      continue;
    }
    if (sig == SIGTERM || sig == SIGINT) break;
  }
  if (is_prover) LOG(LOG_INFO, "shutting down: finishing the jobs in flight (at most %d s)", n.cfg.shutdown_grace_s);
  else LOG(LOG_INFO, "shutting down: finishing the step in flight");
  n.draining = 1;
  if (is_prover) prover_stop(&n);
  else verifier_stop(&n);
  http_stop(http);
  if (is_prover) prover_free(&n);
  else verifier_free(&n);
  for (int d = 0; d < n.ndev; d++) fr_model_free(n.dev[d].model), fr_backend_close(n.dev[d].be);
  fr_nonces_free(n.nonces);
  fr_registry_free(&n.registry);
  LOG(LOG_INFO, "stopped");
  log_close();
  return 0;
}
