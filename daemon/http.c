/* The HTTP side of fractald (libmicrohttpd, a thread per connection, keep-alive): bodies collected up to
 * max_body, signed requests authenticated (401 bad or missing signature, 403 unknown or unpermitted
 * sender, 409 stale or replayed nonce), routed, answered, counted. A bad request is answered and
 * forgotten. */
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "log.h"
#include "node.h"

struct http_server {
  node *n;
  const http_route *routes;
  int nroutes;
  struct MHD_Daemon *mhd;
};

typedef struct conn_state {
  char *body;
  size_t len, cap;
  int too_large;
} conn_state;

void http_json(http_response *r, int status, char *json)
{
  r->status = status;
  r->content_type = "application/json";
  r->body = json;
  r->len = json ? strlen(json) : 0;
}

static char *json_escape_dup(const char *s)
{
  size_t n = strlen(s);
  char *out = (char *)malloc(6 * n + 1), *o = out;
  if (!out) return NULL;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') *o++ = '\\', *o++ = (char)c;
    else if (c < 0x20) o += sprintf(o, "\\u%04x", c);
    else *o++ = (char)c;
  }
  *o = '\0';
  return out;
}

void http_error(http_response *r, int status, const char *code, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char *esc = json_escape_dup(msg);
  size_t n = strlen(code) + (esc ? strlen(esc) : 0) + 64;
  char *body = (char *)malloc(n);
  if (body) snprintf(body, n, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, esc ? esc : "");
  free(esc);
  http_json(r, status, body);
}

void http_header(http_response *r, const char *name, const char *value)
{
  if (r->nheaders >= 8) return;
  r->headers[r->nheaders][0] = strdup(name);
  r->headers[r->nheaders][1] = strdup(value);
  if (r->headers[r->nheaders][0] && r->headers[r->nheaders][1]) r->nheaders++;
  else free(r->headers[r->nheaders][0]), free(r->headers[r->nheaders][1]);
}

/* The PROTOCOL.md checks; returns 0 with req->sender set, or fills resp and returns -1. */
static int authenticate(node *n, struct MHD_Connection *c, const http_route *route, http_request *req, http_response *resp)
{
  const char *hot = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Fractal-Hotkey");
  const char *nonce_s = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Fractal-Nonce");
  const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Fractal-Signature");
  if (!hot || !nonce_s || !sig)
    return http_error(resp, 401, "unauthorized", "Fractal-Hotkey, Fractal-Nonce and Fractal-Signature are required"), -1;
  char *end;
  unsigned long long nonce = strtoull(nonce_s, &end, 10);
  if (!fr_hotkey_valid(hot) || end == nonce_s || *end)
    return http_error(resp, 401, "unauthorized", "malformed Fractal-Hotkey or Fractal-Nonce"), -1;
  char msg[1024];
  size_t mlen = fr_sign_message(msg, sizeof msg, nonce, hot, n->key.hotkey, req->method, req->path, req->body, req->len);
  if (fr_verify(hot, msg, mlen, sig) != 0) return http_error(resp, 401, "unauthorized", "bad signature"), -1;
  snprintf(req->sender, sizeof req->sender, "%s", hot);
  pthread_rwlock_rdlock(&n->registry_lock);
  const fr_node *sender = fr_registry_find(&n->registry, hot);
  int forbidden = 0;
  int any_key = n->cfg.allow_unregistered || (route->is_signed == HTTP_SIGNED_ANY_KEY && n->cfg.organic_any_key);
  if (!sender && !any_key) forbidden = 1;
  else if (n->cfg.force_verifier_permit && route->is_signed != HTTP_SIGNED_ANY_KEY &&
           (!sender || sender->role != FR_ROLE_VERIFIER || sender->stake < n->cfg.min_verifier_stake))
    forbidden = 2;
  pthread_rwlock_unlock(&n->registry_lock);
  if (forbidden == 1) return http_error(resp, 403, "forbidden", "sender %.16s... is not in the registry", hot), -1;
  if (forbidden == 2)
    return http_error(resp, 403, "forbidden", "sender %.16s... is not a verifier with stake >= %g", hot,
                      n->cfg.min_verifier_stake), -1;
  int rc = fr_nonces_accept(n->nonces, hot, nonce, fr_now_ns(), (uint64_t)n->cfg.nonce_window_s * 1000000000ull);
  if (rc == -1) return http_error(resp, 409, "stale_nonce", "the nonce is more than %d s from this node's clock", n->cfg.nonce_window_s), -1;
  if (rc == -2) return http_error(resp, 409, "replayed_nonce", "the nonce is not greater than the last one accepted from this sender"), -1;
  return 0;
}

static enum MHD_Result respond(struct MHD_Connection *c, http_response *r)
{
  struct MHD_Response *mr = MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *)"",
                                                            r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (mr) MHD_add_response_header(mr, "Content-Type", r->content_type ? r->content_type : "application/json");
  for (int i = 0; i < r->nheaders; i++) {
    if (mr) MHD_add_response_header(mr, r->headers[i][0], r->headers[i][1]);
    free(r->headers[i][0]), free(r->headers[i][1]);
  }
  if (!mr) {
    free(r->body);
    return MHD_NO;
  }
  enum MHD_Result rc = MHD_queue_response(c, (unsigned)r->status, mr);
  MHD_destroy_response(mr);
  return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
  http_server *s = (http_server *)cls;
  node *n = s->n;
  conn_state *cs = (conn_state *)*con_cls;
  if (!cs) { /* headers only: refuse an announced oversize body before reading it */
    cs = (conn_state *)calloc(1, sizeof *cs);
    if (!cs) return MHD_NO;
    *con_cls = cs;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)n->cfg.max_body) cs->too_large = 1;
    if (!cs->too_large) return MHD_YES;
  }
  if (*upload_size) {
    if (!cs->too_large && cs->len + *upload_size > (size_t)n->cfg.max_body) cs->too_large = 1;
    if (!cs->too_large) {
      if (cs->len + *upload_size + 1 > cs->cap) {
        size_t cap = cs->cap ? cs->cap : 4096;
        while (cap < cs->len + *upload_size + 1) cap *= 2;
        char *b = (char *)realloc(cs->body, cap);
        if (!b) return MHD_NO;
        cs->body = b, cs->cap = cap;
      }
      memcpy(cs->body + cs->len, upload, *upload_size);
      cs->len += *upload_size;
      cs->body[cs->len] = '\0';
    }
    *upload_size = 0;
    return MHD_YES;
  }
  http_request req;
  http_response resp;
  memset(&req, 0, sizeof req);
  memset(&resp, 0, sizeof resp);
  req.method = method, req.path = url, req.body = cs->body ? cs->body : "", req.len = cs->len;
  const http_route *route = NULL;
  int path_known = 0;
  for (int i = 0; i < s->nroutes; i++)
    if (strcmp(s->routes[i].path, url) == 0) {
      path_known = 1;
      if (strcmp(s->routes[i].method, method) == 0) route = &s->routes[i];
    }
  if (cs->too_large) http_error(&resp, 413, "body_too_large", "the body is over max_body (%d bytes)", n->cfg.max_body);
  else if (!path_known) http_error(&resp, 404, "not_found", "no endpoint %s", url);
  else if (!route) http_error(&resp, 405, "method_not_allowed", "%s does not take %s", url, method);
  else if (!route->is_signed || authenticate(n, c, route, &req, &resp) == 0) route->fn(n, &req, &resp);
  if (!resp.status) http_error(&resp, 500, "internal", "no response");
  metrics_request(&n->metrics, route ? route->path : path_known ? url : "other", resp.status);
  if (resp.status >= 400) LOG(LOG_INFO, "%s %s -> %d %.*s", method, url, resp.status, (int)(resp.len < 200 ? resp.len : 200), resp.body ? resp.body : "");
  else LOG(LOG_DEBUG, "%s %s -> %d", method, url, resp.status);
  (void)version;
  return respond(c, &resp);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
  conn_state *cs = (conn_state *)*con_cls;
  if (cs) free(cs->body);
  free(cs);
  *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  LOG(LOG_WARN, "http: %s", msg);
}

http_server *http_start(node *n, const http_route *routes, int nroutes)
{
  char host[128], port[16];
  const char *colon = strrchr(n->cfg.listen, ':');
  if (!colon || colon == n->cfg.listen || !colon[1]) {
    LOG(LOG_ERROR, "listen '%s' is not host:port", n->cfg.listen);
    return NULL;
  }
  snprintf(host, sizeof host, "%.*s", (int)(colon - n->cfg.listen), n->cfg.listen);
  snprintf(port, sizeof port, "%s", colon + 1);
  if (host[0] == '[') memmove(host, host + 1, strlen(host)), host[strcspn(host, "]")] = '\0';
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int gai = getaddrinfo(host, port, &hints, &ai);
  if (gai != 0) {
    LOG(LOG_ERROR, "listen '%s': %s", n->cfg.listen, gai_strerror(gai));
    return NULL;
  }
  http_server *s = (http_server *)calloc(1, sizeof *s);
  if (!s) return freeaddrinfo(ai), NULL;
  s->n = n, s->routes = routes, s->nroutes = nroutes;
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)n->cfg.connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)n->cfg.idle_timeout_s, MHD_OPTION_NOTIFY_COMPLETED,
                            completed, NULL, MHD_OPTION_END);
  freeaddrinfo(ai);
  if (!s->mhd) {
    LOG(LOG_ERROR, "cannot listen on %s (in use, or no permission)", n->cfg.listen);
    free(s);
    return NULL;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
  if (di && di->port) /* port 0 asks the system for one: say which */
    snprintf(n->cfg.listen + (colon - n->cfg.listen) + 1, sizeof n->cfg.listen - (size_t)(colon - n->cfg.listen) - 1, "%u",
             (unsigned)di->port);
  return s;
}

void http_stop(http_server *s)
{
  if (!s) return;
  MHD_stop_daemon(s->mhd);
  free(s);
}
