/* fractald: a Fractal node. `--role prover` serves jobs from a loaded model over signed HTTP;
 * `--role verifier` challenges provers, scores them in Redis and routes organic requests. */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "node.h"
#include "prover.h"
#include "fractal/i8x.h"
#include "fractal/version.h"
#include "verifier.h"
#include "videos.h"

static void usage(FILE *f)
{
  fprintf(f,
          "usage: fractald [--config FILE] [--check-config] [--NAME=VALUE ...] | --version\n"
          "       fractald --config FILE keys create NAME [--rate N] [--quota N] | list | revoke ID\n"
          "A Fractal node: a prover that generates videos for signed jobs, or a verifier that challenges\n"
          "provers, judges their answers, keeps scores and tiers in Redis and routes organic requests.\n"
          "  --config FILE     read options from FILE (\"name value\" lines); flags override it\n"
          "  --check-config    print the effective configuration, check everything a start uses (key, registry and\n"
          "                    this node's entry, listen port, log file, devices, model) and exit (0 if valid)\n"
          "  --version         print the version, source commit, build type and CUDA backend\n"
          "  keys ...          the videos API's keys in the verifier's Redis (docs/videos.md)\n"
          "  --help            this text\n"
          "Signals: SIGTERM/SIGINT finish the jobs (or the verifier's step) in flight and exit (a prover cancels\n"
          "the jobs still running after shutdown_grace_s); SIGHUP reopens the log file and reloads the registry.\n\n");
  config_help(f);
}

/* --check-config (like `nginx -t`): everything a start would use, checked without starting — the key, the
 * registry and this node's own entry in it, the listen address (resolved and bound once), the log file,
 * every device's backend and the model on it (every weight file read and checked; its digest printed).
 * Each problem is one line naming the file or setting; returns 0 when there is none. */
static int check_config(const fractald_config *c)
{
  config_print(c, stdout);
  int bad = 0;
#define PROBLEM(...) (bad++, fprintf(stderr, "fractald: " __VA_ARGS__), fputc('\n', stderr))
  fr_key k;
  int have_key = fr_key_load(c->key, &k) == FR_OK;
  if (!have_key) PROBLEM("key %s: %s", c->key, fr_last_error());
  fr_registry r = {0};
  if (c->registry[0] && fr_registry_load(c->registry, &r) != FR_OK) {
    PROBLEM("registry %s: %s", c->registry, fr_last_error());
  } else if (c->registry[0] && have_key) {
    const fr_node *me = fr_registry_find(&r, k.hotkey);
    fr_node_role want = strcmp(c->role, "prover") == 0 ? FR_ROLE_PROVER : FR_ROLE_VERIFIER;
    if (!me)
      PROBLEM("registry %s: this node's hotkey %s is not in it (nodes will refuse its requests, verifiers will not "
              "challenge it)",
              c->registry, k.hotkey);
    else if (me->role != want)
      PROBLEM("registry %s: this node's hotkey %s is registered as a %s, but role is %s", c->registry, k.hotkey,
              me->role == FR_ROLE_PROVER ? "prover" : "verifier", c->role);
  } else if (!c->registry[0]) {
    fprintf(stderr, "fractald: note: no registry: only allow_unregistered senders would be answered\n");
  }
  fr_registry_free(&r);
  struct addrinfo *ai = NULL;
  char err[600];
  if (http_resolve_listen(c->listen, &ai, err, sizeof err) != 0) {
    PROBLEM("%s", err);
  } else {
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol), one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) PROBLEM("listen %s: %s", c->listen, strerror(errno));
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
  }
  if (c->log_file[0]) {
    FILE *f = fopen(c->log_file, "a");
    if (!f) PROBLEM("log_file %s: %s", c->log_file, strerror(errno));
    else fclose(f);
  }
  char list[512], *save = NULL;
  snprintf(list, sizeof list, "%s", c->devices[0] ? c->devices : c->backend);
  fr_model_options mo = {c->variant[0] ? c->variant : NULL,
                         fr_numerics_listed(c->numerics, FR_I8X_PROFILE) ? FR_I8X_BITS : 0};
  int loaded = 0;
  for (char *spec = strtok_r(list, ",", &save); spec; spec = strtok_r(NULL, ",", &save)) {
    fr_backend *be;
    if (fr_backend_open(spec, c->threads, &be) != FR_OK) {
      PROBLEM("device %s: %s", spec, fr_last_error());
      continue;
    }
    if (!loaded) { /* the model once: every device loads the same files */
      fr_model *m;
      if (fr_model_load(c->model, be, &mo, &m) != FR_OK) {
        PROBLEM("model %s: %s", c->model, fr_last_error());
      } else {
        fr_model_info info;
        fr_model_get_info(m, &info);
        fprintf(stderr, "fractald: model %s: digest %s, %d tensors, %.1f MB, on %s\n", c->model, info.digest_hex,
                info.weight_tensors, (double)info.weight_bytes / 1e6, fr_backend_name(be));
        fr_model_free(m);
      }
      loaded = 1;
    }
    fr_backend_close(be);
  }
  fr_backend *cpu;
  if (!loaded && fr_backend_open("cpu", c->threads, &cpu) == FR_OK) { /* no device opened: the files still */
    fr_model *m;
    if (fr_model_load(c->model, cpu, &mo, &m) != FR_OK) PROBLEM("model %s: %s", c->model, fr_last_error());
    fr_model_free(m);
    fr_backend_close(cpu);
  }
#undef PROBLEM
  fprintf(stderr, "fractald: configuration %s\n", bad ? "has errors" : "OK");
  return bad ? 1 : 0;
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
  fr_model_options mo = {n->cfg.variant[0] ? n->cfg.variant : NULL,
                         fr_numerics_listed(n->cfg.numerics, FR_I8X_PROFILE) ? FR_I8X_BITS : 0};
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
  int check = 0, nflags = 0, keys_at = 0;
  char **flags = (char **)calloc((size_t)argc, sizeof *flags);
  for (int i = 1; i < argc && !keys_at; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return free(flags), usage(stdout), 0;
    if (strcmp(argv[i], "--version") == 0) return free(flags), fr_print_version(stdout, "fractald"), 0;
    if (strcmp(argv[i], "--check-config") == 0) check = 1;
    else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) file = argv[++i];
    else if (strncmp(argv[i], "--config=", 9) == 0) file = argv[i] + 9;
    else if (strcmp(argv[i], "keys") == 0) keys_at = i + 1; /* the rest is the keys command's */
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
  if (check) return check_config(&n.cfg);
  if (keys_at) return videos_keys_main(&n.cfg, argc - keys_at, argv + keys_at, stdout, stderr);
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
    if (sig == SIGHUP && log_reopen() != 0)
      LOG(LOG_ERROR, "SIGHUP: cannot open the log file %s again; still writing to the old one", n.cfg.log_file);
    if (sig == SIGHUP)
      LOG(LOG_INFO, "SIGHUP: %s",
          n.cfg.log_file[0] ? "log file reopened; reloading the registry" : "reloading the registry");
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
