/* fractal-load: a load generator for a prover. C client threads, each with its own key (a sender's
 * nonces must arrive in order), send signed challenges for a while or a number of times; every answer
 * is checked to belong to its request. Prints counts by status, answered jobs per second and latency
 * percentiles. Job specs get the prover's model and numerics (GET /v1/info) unless they name them. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fractal/client.h"
#include "fractal/job.h"
#include "fractal/protocol.h"
#include "fractal/version.h"

typedef struct shared {
  const char *url, *peer, *job;
  char model[33]; /* the prover's, from /v1/info */
  int requests, no_backoff;
  double deadline;
  long timeout_ms;
  pthread_mutex_t mu;
  int next;         /* next request number */
  long status[600]; /* counts by HTTP status */
  long no_answer, mismatched;
  double *lat; /* latencies of 200s */
  long nlat, cap;
} shared;

typedef struct worker {
  shared *s;
  fr_key key;
  pthread_t t;
} worker;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Request i's job spec: the template's, with the model and numerics the protocol requires added unless
 * it names them. */
static void job_body(const shared *s, int i, char *body, size_t n)
{
  char spec[4096], extra[128] = "";
  snprintf(spec, sizeof spec, s->job, i, i);
  if (spec[0] != '{') return (void)snprintf(body, n, "%s", spec);
  if (!strstr(spec, "\"model\"")) snprintf(extra, sizeof extra, "\"model\":\"%s\",", s->model);
  if (!strstr(spec, "\"numerics\"")) strcat(extra, "\"numerics\":\"" FR_NUMERICS "\",");
  snprintf(body, n, "{%s%s", extra, spec + 1);
}

/* The prover's model digest, from its /v1/info; 0 if found. */
static int prover_model(shared *s, const fr_key *key)
{
  fr_response r;
  if (fr_request(key, s->peer, s->url, "GET", "/v1/info", NULL, 0, s->timeout_ms, &r) != FR_OK) return -1;
  const char *m = r.status == 200 ? strstr(r.body, "\"model\":\"") : NULL;
  int ok = m && sscanf(m + 9, "%32[0-9a-f]", s->model) == 1 && strlen(s->model) == 32;
  fr_response_free(&r);
  return ok ? 0 : -1;
}

static void *run(void *arg)
{
  worker *w = (worker *)arg;
  shared *s = w->s;
  char body[4096], want[96];
  for (;;) {
    pthread_mutex_lock(&s->mu);
    int i = s->next++;
    pthread_mutex_unlock(&s->mu);
    if ((s->requests && i >= s->requests) || (s->deadline && now_s() > s->deadline)) break;
    job_body(s, i, body, sizeof body); /* the template's %d (twice) become the request number: job_id and seed */
    snprintf(want, sizeof want, "\"job_id\":\"load-%d\"", i);
    fr_response r;
    double t0 = now_s();
    fr_status st = fr_request(&w->key, s->peer, s->url, "POST", "/v1/challenge", body, strlen(body), s->timeout_ms, &r);
    double dt = now_s() - t0;
    int retry = 0;
    char ra[32];
    if (st == FR_OK && r.status == 429 && fr_response_header(&r, "Retry-After", ra, sizeof ra) == 0)
      retry = (int)strtol(ra, NULL, 10); /* a bad header: 0, no wait */
    pthread_mutex_lock(&s->mu);
    if (st != FR_OK) {
      s->no_answer++;
    } else {
      if (r.status >= 0 && r.status < 600) s->status[r.status]++;
      if (r.status == 200) {
        if (!strstr(r.body, want)) s->mismatched++;
        if (s->nlat == s->cap) {
          s->cap = s->cap ? 2 * s->cap : 1024;
          s->lat = (double *)realloc(s->lat, sizeof(double) * (size_t)s->cap);
        }
        if (s->lat) s->lat[s->nlat++] = dt;
      }
      fr_response_free(&r);
    }
    pthread_mutex_unlock(&s->mu);
    if (retry > 0 && !s->no_backoff) { /* a polite client waits as told */
      struct timespec ts = {retry, 0};
      nanosleep(&ts, NULL);
    }
  }
  return NULL;
}

static int cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* An option's whole number in lo..hi, or exit 2 naming it. */
static long whole(const char *s, long lo, long hi, const char *opt)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "fractal-load: %s wants a whole number in %ld..%ld, not \"%s\"\n", opt, lo, hi, s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv)
{
  shared s;
  memset(&s, 0, sizeof s);
  pthread_mutex_init(&s.mu, NULL);
  s.timeout_ms = 120000;
  s.job = "{\"job_id\":\"load-%d\",\"prompt\":\"a busy street at night\",\"seed\":%d,\"steps\":2,\"frames\":2,"
          "\"height\":32,\"width\":32}";
  const char *keydir = NULL;
  double duration = 0;
  int ch;
  static const struct option longopts[] = {
      {"url", required_argument, 0, 'u'},      {"peer", required_argument, 0, 'p'},
      {"keys", required_argument, 0, 'k'},     {"requests", required_argument, 0, 'n'},
      {"duration", required_argument, 0, 'd'}, {"job", required_argument, 0, 'j'},
      {"no-backoff", no_argument, 0, 'b'},     {"version", no_argument, 0, 'V'},
      {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
  while ((ch = getopt_long(argc, argv, "u:p:k:n:d:j:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'u': s.url = optarg; break;
    case 'p': s.peer = optarg; break;
    case 'k': keydir = optarg; break;
    case 'n': s.requests = (int)whole(optarg, 1, 1 << 30, "--requests"); break;
    case 'd': duration = (double)whole(optarg, 1, 1 << 30, "--duration"); break;
    case 'j': s.job = optarg; break;
    case 'b': s.no_backoff = 1; break;
    case 'V': fr_print_version(stdout, "fractal-load"); return 0;
    default:
      printf("usage: fractal-load --url URL --peer HOTKEY --keys DIR (--requests N | --duration S) [--job TEMPLATE]\n"
             "One client thread per *.key file in DIR. TEMPLATE is a job spec with two %%d (job_id load-%%d, seed).\n"
             "A client told 429 waits Retry-After seconds; --no-backoff retries at once. --version: the build.\n");
      return ch == 'h' ? 0 : 2;
    }
  }
  if (!s.url || !s.peer || !keydir || (!s.requests && duration <= 0))
    return fprintf(stderr, "fractal-load: see --help\n"), 2;
  DIR *d = opendir(keydir);
  if (!d) return fprintf(stderr, "fractal-load: %s: cannot open\n", keydir), 2;
  worker *w = (worker *)calloc(1024, sizeof *w);
  int nw = 0;
  struct dirent *e;
  while ((e = readdir(d)) && nw < 1024) {
    size_t l = strlen(e->d_name);
    if (l < 5 || strcmp(e->d_name + l - 4, ".key") != 0) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", keydir, e->d_name);
    if (fr_key_load(path, &w[nw].key) != FR_OK) return fprintf(stderr, "fractal-load: %s\n", fr_last_error()), 2;
    w[nw++].s = &s;
  }
  closedir(d);
  if (!nw) return fprintf(stderr, "fractal-load: no .key files in %s\n", keydir), 2;
  if (prover_model(&s, &w[0].key) != 0)
    return fprintf(stderr, "fractal-load: no model digest from %s/v1/info\n", s.url), 2;
  double t0 = now_s();
  if (duration > 0) s.deadline = t0 + duration;
  for (int i = 0; i < nw; i++) pthread_create(&w[i].t, NULL, run, &w[i]);
  for (int i = 0; i < nw; i++) pthread_join(w[i].t, NULL);
  double el = now_s() - t0;
  long sent = 0;
  printf("clients %d, %.1f s\n", nw, el);
  for (int c = 0; c < 600; c++)
    if (s.status[c]) printf("  HTTP %d: %ld\n", c, s.status[c]), sent += s.status[c];
  printf("  no answer: %ld\n  answers not matching their request: %ld\n", s.no_answer, s.mismatched);
  qsort(s.lat, (size_t)s.nlat, sizeof(double), cmp);
  if (s.nlat) {
    printf("answered jobs: %.2f/s; latency of 200s: p50 %.3f s, p90 %.3f s, p99 %.3f s, max %.3f s\n", s.nlat / el,
           s.lat[s.nlat / 2], s.lat[s.nlat * 9 / 10], s.lat[s.nlat * 99 / 100], s.lat[s.nlat - 1]);
  }
  printf("requests: %ld sent and answered, %d started\n", sent + s.no_answer, s.requests ? s.requests : s.next - nw);
  free(s.lat);
  free(w);
  return s.no_answer || s.mismatched ? 1 : 0;
}
