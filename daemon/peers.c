/* Provers' published limits and clock offsets (see peers.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "log.h"
#include "peers.h"

static double mono_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void peers_init(peers *ps)
{
  memset(ps, 0, sizeof *ps);
  pthread_mutex_init(&ps->mu, NULL);
}

void peers_free(peers *ps)
{
  free(ps->p);
  pthread_mutex_destroy(&ps->mu);
}

/* The entry of hotkey, added if new (under ps->mu); NULL on allocation failure. */
static peer *get(peers *ps, const char *hotkey)
{
  for (int i = 0; i < ps->n; i++)
    if (strcmp(ps->p[i].hotkey, hotkey) == 0) return &ps->p[i];
  if (ps->n == ps->cap) {
    int cap = ps->cap ? 2 * ps->cap : 16;
    peer *p = (peer *)realloc(ps->p, sizeof *p * (size_t)cap);
    if (!p) return NULL;
    ps->p = p, ps->cap = cap;
  }
  peer *p = &ps->p[ps->n++];
  memset(p, 0, sizeof *p);
  snprintf(p->hotkey, sizeof p->hotkey, "%s", hotkey);
  return p;
}

void peers_observe(peers *ps, const char *hotkey, const fan_req *r)
{
  char date[96];
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  if (!r->answered || fan_header(r, "Date", date, sizeof date) != 0) return;
  const char *end = strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end) return;
  /* the header has whole seconds: its middle is the best guess */
  double offset = (double)timegm(&tm) + 0.5 - r->wall_at;
  pthread_mutex_lock(&ps->mu);
  peer *p = get(ps, hotkey);
  if (p) p->offset_s = offset, p->offset_at = mono_s();
  pthread_mutex_unlock(&ps->mu);
}

/* {"model", "numerics", "limits": {"max_steps", "max_frames", "max_height", "max_width"}}; the limits
 * may also stand at the top level. */
static void parse_info(peer *p, const char *body)
{
  json_t *o = json_loads(body, 0, NULL), *lim = json_object_get(o, "limits");
  if (!json_is_object(o)) return json_decref(o);
  if (!json_is_object(lim)) lim = o;
  const char *model = json_string_value(json_object_get(o, "model")),
             *num = json_string_value(json_object_get(o, "numerics"));
  snprintf(p->model, sizeof p->model, "%s", model ? model : "");
  snprintf(p->numerics, sizeof p->numerics, "%s", num ? num : "");
  const char *names[] = {"max_steps", "max_frames", "max_height", "max_width"};
  int *fields[] = {&p->lim.max_steps, &p->lim.max_frames, &p->lim.max_height, &p->lim.max_width}, all = 1;
  fr_job_limits protocol = fr_job_default_limits();
  const int *cap[] = {&protocol.max_steps, &protocol.max_frames, &protocol.max_height, &protocol.max_width};
  for (int i = 0; i < 4; i++) {
    json_t *v = json_object_get(lim, names[i]);
    json_int_t x = json_integer_value(v);
    if (!json_is_integer(v) || x < 1 || x > *cap[i]) all = 0;
    else *fields[i] = (int)x;
  }
  p->has_info = 1, p->has_limits = all;
  json_decref(o);
}

void peers_refresh(peers *ps, const fr_key *key, const candidate *c, int n, long timeout_ms)
{
  fan_req *rq = (fan_req *)calloc((size_t)n + 1, sizeof *rq);
  if (!rq) return;
  for (int i = 0; i < n; i++)
    rq[i] = (fan_req){.base_url = c[i].endpoint, .peer_hotkey = c[i].hotkey, .method = "GET", .path = "/v1/info"};
  fanout(key, rq, n, timeout_ms, 1 << 20);
  for (int i = 0; i < n; i++) {
    peers_observe(ps, c[i].hotkey, &rq[i]);
    pthread_mutex_lock(&ps->mu);
    peer *p = get(ps, c[i].hotkey);
    int ok = p && rq[i].answered && rq[i].status == 200;
    if (p) p->tried = 1;
    if (ok) parse_info(p, rq[i].response);
    ok ? ps->infos++ : ps->info_failures++;
    pthread_mutex_unlock(&ps->mu);
    if (!ok) LOG(LOG_DEBUG, "prover %.16s...: no /v1/info: %s (HTTP %ld)", c[i].hotkey, rq[i].error, rq[i].status);
    fan_free(&rq[i]);
  }
  free(rq);
}

int peers_tried(peers *ps, const char *hotkey)
{
  pthread_mutex_lock(&ps->mu);
  int tried = 0;
  for (int i = 0; i < ps->n && !tried; i++) tried = strcmp(ps->p[i].hotkey, hotkey) == 0 && ps->p[i].tried;
  pthread_mutex_unlock(&ps->mu);
  return tried;
}

int peers_can_serve(peers *ps, const char *hotkey, const fr_job *job, const char *model)
{
  int yes = 1;
  pthread_mutex_lock(&ps->mu);
  for (int i = 0; i < ps->n; i++) {
    const peer *p = &ps->p[i];
    if (strcmp(p->hotkey, hotkey) != 0 || !p->has_info) continue;
    if (strcmp(p->model, model) != 0 || !fr_numerics_listed(p->numerics, job->numerics)) yes = 0;
    else if (p->has_limits) yes = fr_job_validate(job, &p->lim) == FR_OK;
  }
  pthread_mutex_unlock(&ps->mu);
  return yes;
}

fr_job_limits peers_largest(peers *ps, const candidate *c, int n)
{
  fr_job_limits big = {0, 0, 0, 0};
  pthread_mutex_lock(&ps->mu);
  for (int i = 0; i < ps->n; i++) {
    const peer *p = &ps->p[i];
    int listed = 0;
    for (int k = 0; k < n && !listed; k++) listed = strcmp(c[k].hotkey, p->hotkey) == 0;
    if (!listed || !p->has_limits) continue;
    if (p->lim.max_steps > big.max_steps) big.max_steps = p->lim.max_steps;
    if (p->lim.max_frames > big.max_frames) big.max_frames = p->lim.max_frames;
    if (p->lim.max_height > big.max_height) big.max_height = p->lim.max_height;
    if (p->lim.max_width > big.max_width) big.max_width = p->lim.max_width;
  }
  pthread_mutex_unlock(&ps->mu);
  return big;
}

static int by_value(const void *x, const void *y)
{
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

clock_view peers_clock(peers *ps, double window_s, double max_age_s)
{
  clock_view v = {0, 0, 0, 0};
  double now = mono_s();
  pthread_mutex_lock(&ps->mu);
  double *off = (double *)malloc(sizeof(double) * (size_t)(ps->n + 1));
  for (int i = 0; off && i < ps->n; i++) {
    const peer *p = &ps->p[i];
    if (!p->offset_at || now - p->offset_at > max_age_s) continue;
    off[v.measured++] = p->offset_s;
    if (fabs(p->offset_s) > window_s) v.off++;
  }
  pthread_mutex_unlock(&ps->mu);
  if (off && v.measured) {
    qsort(off, (size_t)v.measured, sizeof *off, by_value);
    v.median_s = v.measured % 2 ? off[v.measured / 2] : 0.5 * (off[v.measured / 2 - 1] + off[v.measured / 2]);
  }
  free(off);
  v.skewed = v.off >= 2 && 2 * v.off > v.measured;
  return v;
}
