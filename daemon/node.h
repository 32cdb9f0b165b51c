/* What both roles of fractald share: the configuration, this node's key, the registry (reloadable),
 * replay protection, metrics, the HTTP server with request authentication, and the loaded model. */
#ifndef FRACTALD_NODE_H
#define FRACTALD_NODE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "fractal/auth.h"
#include "fractal/pipeline.h"
#include "fractal/protocol.h"

/* ---- metrics (Prometheus text) ---- */
#define METRIC_PAIRS 128
#define LATENCY_BUCKETS 12

typedef struct metrics {
  pthread_mutex_t mu;
  struct {
    char endpoint[32];
    int status;
    uint64_t count;
  } requests[METRIC_PAIRS];
  int nreq;
  uint64_t latency_bucket[LATENCY_BUCKETS + 1]; /* job seconds, cumulative on output */
  double latency_sum;
  uint64_t latency_count;
  double busy_seconds[16]; /* time each device spent generating */
  uint64_t jobs_ok, jobs_failed, jobs_canceled, batches;
  int conn_receiving, conn_busy; /* HTTP connections still sending a request, and being answered */
  uint64_t conn_timed_out, conn_evicted, conn_refused;
} metrics;

void metrics_init(metrics *m);
void metrics_request(metrics *m, const char *endpoint, int status);
/* A finished job: FR_OK, FR_ECANCELED (its requester left, or shutdown) or a failure. */
void metrics_job(metrics *m, double seconds, fr_status st);
void metrics_busy(metrics *m, int dev, double seconds);
/* The HTTP connection gauges now, and connections to add to the closed/refused counters. */
void metrics_connections(metrics *m, int receiving, int busy, int timed_out, int evicted, int refused);
/* Appends the Prometheus text of m, per-device lines labelled with device_names, plus `extra`. */
char *metrics_text(metrics *m, const char *const *device_names, int ndev, const char *extra);

/* ---- the node ---- */
#define NODE_MAX_DEVICES 16

typedef struct device {
  fr_backend *be;
  fr_model *model;
} device;

typedef struct node {
  fractald_config cfg;
  fr_key key;
  pthread_rwlock_t registry_lock;
  fr_registry registry;
  fr_nonces *nonces;
  metrics metrics;
  device dev[NODE_MAX_DEVICES]; /* each holds its own copy of the model */
  int ndev;
  fr_model_info info;
  volatile int draining; /* SIGTERM: finish what is in flight, accept nothing new */
  void *role;            /* the prover's or verifier's own state */
} node;

/* Loads (or reloads, on SIGHUP) the registry; keeps the old one if the new file is bad. */
int node_reload_registry(node *n);

/* ---- HTTP ---- */
typedef struct http_request {
  const char *method, *path; /* path: the request target as sent (canonical: fr_target_check), without the query */
  const char *query;         /* after the '?' (HTTP_BEARER routes only; "" when none) */
  const char *authorization, *range; /* those headers (NULL when absent) */
  char param[80];                    /* the path segment a route's '*' matched */
  const char *body;
  size_t len;
  char sender[FR_HOTKEY_HEX + 1]; /* the verified sender of a signed request */
  int fd;                         /* the connection's socket, for http_client_gone */
} http_request;

typedef struct http_response {
  int status;
  const char *content_type;
  char *body; /* malloc'd, freed by the server */
  size_t len;
  char *headers[8][2]; /* name, value: malloc'd by http_header, freed by the server */
  int nheaders;
} http_response;

typedef void (*http_handler)(node *n, const http_request *req, http_response *resp);

/* is_signed: 0 open, 1 signed by a registered node, HTTP_SIGNED_ANY_KEY signed by a registered node or,
 * with organic_any_key, by any key (clients of a verifier); HTTP_BEARER: not signed, a query string allowed,
 * the handler checks the Authorization header (the videos API's keys). A route's path may hold one '*',
 * which matches one non-empty segment (req->param). */
#define HTTP_SIGNED_ANY_KEY 2
#define HTTP_BEARER 3
typedef struct http_route {
  const char *method, *path;
  int is_signed;
  http_handler fn;
} http_route;

typedef struct http_server http_server;

http_server *http_start(node *n, const http_route *routes, int nroutes);
/* The address `listen` ("host:port", "[v6]:port") names, for binding; 0, or -1 with the reason in err. */
struct addrinfo;
int http_resolve_listen(const char *listen, struct addrinfo **ai, char *err, size_t errn);
/* Lets answers being sent finish (a few seconds at most), then closes every connection. */
void http_stop(http_server *s);
/* From a handler: 1 once the client has closed its connection (it will not read the answer). */
int http_client_gone(const http_request *req);

/* Response helpers. */
void http_json(http_response *r, int status, char *json); /* takes ownership of json (malloc'd) */
void http_error(http_response *r, int status, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
void http_header(http_response *r, const char *name, const char *value); /* copies both */

#endif
