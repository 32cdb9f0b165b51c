/* Shared node pieces: registry reloads and metrics (see node.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fractal/version.h"
#include "log.h"
#include "node.h"

int node_reload_registry(node *n)
{
  if (!n->cfg.registry[0]) return 0;
  fr_registry fresh;
  if (fr_registry_load(n->cfg.registry, &fresh) != FR_OK) {
    LOG(LOG_ERROR, "registry not reloaded, keeping the old one: %s", fr_last_error());
    return -1;
  }
  pthread_rwlock_wrlock(&n->registry_lock);
  fr_registry old = n->registry;
  n->registry = fresh;
  pthread_rwlock_unlock(&n->registry_lock);
  fr_registry_free(&old);
  LOG(LOG_INFO, "registry %s: %d nodes", n->cfg.registry, fresh.n);
  return 0;
}

static const double bucket_le[LATENCY_BUCKETS] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};

void metrics_init(metrics *m)
{
  memset(m, 0, sizeof *m);
  pthread_mutex_init(&m->mu, NULL);
}

void metrics_request(metrics *m, const char *endpoint, int status)
{
  pthread_mutex_lock(&m->mu);
  int i;
  for (i = 0; i < m->nreq; i++)
    if (m->requests[i].status == status && strcmp(m->requests[i].endpoint, endpoint) == 0) break;
  if (i == m->nreq && m->nreq < METRIC_PAIRS) {
    snprintf(m->requests[i].endpoint, sizeof m->requests[i].endpoint, "%s", endpoint);
    m->requests[i].status = status;
    m->nreq++;
  }
  if (i < m->nreq) m->requests[i].count++;
  pthread_mutex_unlock(&m->mu);
}

void metrics_job(metrics *m, double seconds, fr_status st)
{
  pthread_mutex_lock(&m->mu);
  int b = 0;
  while (b < LATENCY_BUCKETS && seconds > bucket_le[b]) b++;
  m->latency_bucket[b]++;
  m->latency_sum += seconds;
  m->latency_count++;
  if (st == FR_OK) m->jobs_ok++;
  else if (st == FR_ECANCELED) m->jobs_canceled++;
  else m->jobs_failed++;
  pthread_mutex_unlock(&m->mu);
}

void metrics_busy(metrics *m, int dev, double seconds)
{
  pthread_mutex_lock(&m->mu);
  if (dev >= 0 && dev < 16) m->busy_seconds[dev] += seconds;
  m->batches++;
  pthread_mutex_unlock(&m->mu);
}

void metrics_connections(metrics *m, int receiving, int busy, int timed_out, int evicted, int refused)
{
  pthread_mutex_lock(&m->mu);
  m->conn_receiving = receiving, m->conn_busy = busy;
  m->conn_timed_out += (uint64_t)timed_out, m->conn_evicted += (uint64_t)evicted, m->conn_refused += (uint64_t)refused;
  pthread_mutex_unlock(&m->mu);
}

char *metrics_text(metrics *m, const char *const *device_names, int ndev, const char *extra)
{
  size_t cap = 24576 + (extra ? strlen(extra) : 0), at = 0;
  char *out = (char *)malloc(cap);
  if (!out) return NULL;
#define OUT(...) (at += (size_t)snprintf(out + at, at < cap ? cap - at : 0, __VA_ARGS__))
  const fr_build *bi = fr_build_info();
  OUT("# HELP fractal_build_info The build this node runs (the value is always 1).\n");
  OUT("# TYPE fractal_build_info gauge\n");
  OUT("fractal_build_info{version=\"%s\",commit=\"%s\",build_type=\"%s\",cuda=\"%s\",cuda_archs=\"%s\"} 1\n",
      bi->version, bi->commit, bi->build_type, bi->cuda, bi->cuda_archs);
  pthread_mutex_lock(&m->mu);
  OUT("# HELP fractal_http_requests_total HTTP requests by endpoint and status.\n");
  OUT("# TYPE fractal_http_requests_total counter\n");
  for (int i = 0; i < m->nreq; i++)
    OUT("fractal_http_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", m->requests[i].endpoint,
        m->requests[i].status, (unsigned long long)m->requests[i].count);
  OUT("# HELP fractal_job_seconds Time from queueing a job to its result.\n# TYPE fractal_job_seconds histogram\n");
  uint64_t cum = 0;
  for (int b = 0; b < LATENCY_BUCKETS; b++) {
    cum += m->latency_bucket[b];
    OUT("fractal_job_seconds_bucket{le=\"%g\"} %llu\n", bucket_le[b], (unsigned long long)cum);
  }
  cum += m->latency_bucket[LATENCY_BUCKETS];
  OUT("fractal_job_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
  OUT("fractal_job_seconds_sum %.6f\nfractal_job_seconds_count %llu\n", m->latency_sum,
      (unsigned long long)m->latency_count);
  OUT("# HELP fractal_jobs_total Jobs finished, by outcome.\n# TYPE fractal_jobs_total counter\n");
  OUT("fractal_jobs_total{outcome=\"ok\"} %llu\nfractal_jobs_total{outcome=\"failed\"} %llu\n"
      "fractal_jobs_total{outcome=\"canceled\"} %llu\n",
      (unsigned long long)m->jobs_ok, (unsigned long long)m->jobs_failed, (unsigned long long)m->jobs_canceled);
  OUT("# HELP fractal_device_busy_seconds_total Time the device spent generating.\n");
  OUT("# TYPE fractal_device_busy_seconds_total counter\n");
  for (int d = 0; d < ndev && d < 16; d++)
    OUT("fractal_device_busy_seconds_total{device=\"%d\",name=\"%s\"} %.6f\n", d, device_names[d], m->busy_seconds[d]);
  OUT("# HELP fractal_batches_total Device batches run.\n# TYPE fractal_batches_total counter\n");
  OUT("fractal_batches_total %llu\n", (unsigned long long)m->batches);
  OUT("# HELP fractal_http_connections Open HTTP connections: receiving (a request still arriving) or busy.\n");
  OUT("# TYPE fractal_http_connections gauge\nfractal_http_connections{state=\"receiving\"} %d\n", m->conn_receiving);
  OUT("fractal_http_connections{state=\"busy\"} %d\n", m->conn_busy);
  OUT("# HELP fractal_http_connections_closed_total Connections closed or refused to keep slots free, by reason.\n");
  OUT("# TYPE fractal_http_connections_closed_total counter\n");
  OUT("fractal_http_connections_closed_total{reason=\"request_timeout\"} %llu\n",
      (unsigned long long)m->conn_timed_out);
  OUT("fractal_http_connections_closed_total{reason=\"evicted\"} %llu\n", (unsigned long long)m->conn_evicted);
  OUT("fractal_http_connections_closed_total{reason=\"refused\"} %llu\n", (unsigned long long)m->conn_refused);
  pthread_mutex_unlock(&m->mu);
  if (extra) OUT("%s", extra);
#undef OUT
  return out;
}
