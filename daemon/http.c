/* The HTTP side of fractald (libmicrohttpd, a thread per connection, keep-alive): connection slots kept
 * from slow clients, requests checked (the target as sent, header sizes, Content-Length) and answered in
 * JSON, bodies collected up to max_body, signed requests authenticated (401 bad or missing signature, 403
 * unknown or unpermitted sender, 409 stale or replayed nonce), routed, answered, counted.
 * Threads and a watchdog rather than libmicrohttpd's thread pool with suspended connections: handlers
 * block (a challenge waits for its job, the verifier's organic requests for provers, minutes), which would
 * take a small pool, and a suspended connection is not watched, so a client that leaves would go unseen.
 * What a slow client takes is a slot, so slots are defended (docs/daemon.md, "Connections and slow
 * clients"): a connection still receiving its request is closed after request_timeout_s; receiving ones
 * never fill more than connections - connections_reserve slots, nor a client address more than
 * connections_per_address; a newcomer past a limit closes the oldest receiving connection instead of
 * waiting. A client that sends its request at once is never the oldest for long. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "log.h"
#include "node.h"

#define MAX_TARGET 4096        /* longest request target answered (414 beyond) */
#define MAX_HEADER_BYTES 16384 /* largest request line and header block answered (431 beyond) */
/* libmicrohttpd's memory per connection: requests up to our limits reach the handler, which answers
 * them in JSON; only heads beyond this get libmicrohttpd's own (HTML) 414 or 431 */
#define MHD_MEMORY (64 * 1024)
#define WATCH_MS 100 /* how often request deadlines are checked */
#define DRAIN_S 3.0  /* http_stop: the longest wait for answers being sent */

typedef enum { SLOT_RECEIVING, SLOT_BUSY, SLOT_CLOSING } slot_state;

typedef struct slot { /* one open connection */
  struct slot *prev, *next;
  int fd;
  unsigned char addr[16]; /* the client's IPv4 or IPv6 address */
  double since;           /* when it began receiving its current request */
  slot_state state;
} slot;

struct http_server {
  node *n;
  const http_route *routes;
  int nroutes;
  struct MHD_Daemon *mhd;
  pthread_mutex_t mu;  /* the slots, and stop */
  pthread_cond_t wake; /* the watchdog's sleep, cut short by http_stop */
  slot *slots;
  int stop;
  pthread_t watchdog;
  int receiving_cap;
  /* the log of refused requests: at most LOG_REFUSED_PER_S lines a second, the rest counted (under mu) */
  double log_second;
  int logged_this_second;
  unsigned long suppressed;
};

#define LOG_REFUSED_PER_S 20

typedef struct conn_state { /* one request */
  char *target;             /* as sent; NULL when over MAX_TARGET */
  int checked;              /* the head: 0 not yet checked (first handler call), 1 good, -1 answered */
  char *body;
  size_t len, cap;
  int too_large;
} conn_state;

static double mono_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- connection slots (under s->mu) ---- */

static void count_slots(http_server *s, int *receiving, int *busy, int *total)
{
  *receiving = *busy = *total = 0;
  for (slot *x = s->slots; x; x = x->next) {
    (*total)++;
    if (x->state == SLOT_RECEIVING) (*receiving)++;
    if (x->state == SLOT_BUSY) (*busy)++;
  }
}

static void publish(http_server *s, int timed_out, int evicted, int refused)
{
  int receiving, busy, total;
  count_slots(s, &receiving, &busy, &total);
  metrics_connections(&s->n->metrics, receiving, busy, timed_out, evicted, refused);
}

/* Closes a connection from outside its thread: its read sees the end and libmicrohttpd cleans it up.
 * The socket stays open until the close notification, which takes s->mu, so fd is never another's. */
static void close_slot(slot *x)
{
  shutdown(x->fd, SHUT_RDWR);
  x->state = SLOT_CLOSING;
}

/* The receiving connection that has waited longest (of one address, when addr is given). */
static slot *oldest_receiving(http_server *s, const unsigned char *addr)
{
  slot *best = NULL;
  for (slot *x = s->slots; x; x = x->next)
    if (x->state == SLOT_RECEIVING && (!addr || memcmp(x->addr, addr, 16) == 0) && (!best || x->since < best->since))
      best = x;
  return best;
}

static void addr_key(const struct sockaddr *sa, unsigned char key[16])
{
  memset(key, 0, 16);
  if (sa && sa->sa_family == AF_INET) memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  else if (sa && sa->sa_family == AF_INET6) memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

/* libmicrohttpd asks before it takes a new connection: make room by closing the oldest receiving one
 * (of this address when the address is at its limit; refused if all of those are busy). */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *sa, socklen_t salen)
{
  http_server *s = (http_server *)cls;
  unsigned char key[16];
  addr_key(sa, key);
  pthread_mutex_lock(&s->mu);
  int mine = 0, evicted = 0, receiving, busy, total;
  for (slot *x = s->slots; x; x = x->next) mine += x->state != SLOT_CLOSING && memcmp(x->addr, key, 16) == 0;
  slot *victim = NULL;
  if (mine >= s->n->cfg.connections_per_address && !(victim = oldest_receiving(s, key))) {
    publish(s, 0, 0, 1);
    pthread_mutex_unlock(&s->mu);
    return MHD_NO;
  }
  if (victim) close_slot(victim), evicted++;
  count_slots(s, &receiving, &busy, &total);
  /* the newcomer receives too; and it must not take the last slot, or libmicrohttpd stops accepting */
  if ((receiving >= s->receiving_cap || total + 1 >= s->n->cfg.connections) && (victim = oldest_receiving(s, NULL)))
    close_slot(victim), evicted++;
  publish(s, 0, evicted, 0);
  pthread_mutex_unlock(&s->mu);
  return MHD_YES;
}

static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
  http_server *s = (http_server *)cls;
  pthread_mutex_lock(&s->mu);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    slot *x = (slot *)calloc(1, sizeof *x);
    const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ad = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (x && fd) { /* (out of memory, it goes untracked: never closed early) */
      x->fd = fd->connect_fd, x->since = mono_s(), x->state = SLOT_RECEIVING;
      addr_key(ad ? ad->client_addr : NULL, x->addr);
      x->next = s->slots;
      if (s->slots) s->slots->prev = x;
      s->slots = x;
      *socket_context = x;
    } else {
      free(x);
    }
  } else if (*socket_context) {
    slot *x = (slot *)*socket_context;
    if (x->prev) x->prev->next = x->next;
    else s->slots = x->next;
    if (x->next) x->next->prev = x->prev;
    free(x);
    *socket_context = NULL;
  }
  publish(s, 0, 0, 0);
  pthread_mutex_unlock(&s->mu);
}

static void set_state(http_server *s, struct MHD_Connection *c, slot_state state)
{
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  pthread_mutex_lock(&s->mu);
  slot *x = ci ? (slot *)ci->socket_context : NULL;
  if (x && x->state != SLOT_CLOSING) x->state = state, x->since = mono_s();
  publish(s, 0, 0, 0);
  pthread_mutex_unlock(&s->mu);
}

static void *watchdog_main(void *arg)
{
  http_server *s = (http_server *)arg;
  pthread_mutex_lock(&s->mu);
  while (!s->stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += WATCH_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&s->wake, &s->mu, &until);
    double now = mono_s();
    int late = 0;
    for (slot *x = s->slots; x; x = x->next)
      if (x->state == SLOT_RECEIVING && now - x->since > s->n->cfg.request_timeout_s) close_slot(x), late++;
    if (late) publish(s, late, 0, 0);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

int http_client_gone(const http_request *req)
{
  struct pollfd p = {req->fd, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return 0;
  if (p.revents & (POLLERR | POLLNVAL)) return 1;
  char c;
  ssize_t got = recv(req->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* ---- answers ---- */

void http_json(http_response *r, int status, char *json)
{
  r->status = status;
  r->content_type = "application/json";
  r->body = json;
  r->len = json ? strlen(json) : 0;
}

/* Length of one valid UTF-8 sequence at p (no overlongs, surrogates or code points past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p)
{
  unsigned c = p[0], cp;
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if (n < 2) return n;
  cp = c & (0x7f >> n);
  for (size_t i = 1; i < n; i++) cp = cp << 6 | (p[i] & 0x3fu);
  static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
  return cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : n;
}

/* The contents of a JSON string for s: UTF-8 passes; quotes, backslashes, control characters and bytes
 * that are not UTF-8 are escaped (a byte b as \u00bb), so an error body is valid JSON whatever came in. */
static char *json_escape_dup(const char *s)
{
  char *out = (char *)malloc(6 * strlen(s) + 1), *o = out;
  if (!out) return NULL;
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    size_t n = utf8_len(p);
    if (*p == '"' || *p == '\\') *o++ = '\\', *o++ = (char)*p++;
    else if (n == 0 || *p < 0x20 || *p == 0x7f) o += sprintf(o, "\\u%04x", *p++);
    else memcpy(o, p, n), o += n, p += n;
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

/* The signed-request checks (docs/protocol.md, "Signed requests"); returns 0 with req->sender set, or fills resp and returns -1. */
static int authenticate(node *n, struct MHD_Connection *c, const http_route *route, http_request *req,
                        http_response *resp)
{
  fr_signed_headers h;
  if (fr_signed_headers_parse(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Fractal-Hotkey"),
                              MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Fractal-Nonce"),
                              MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Fractal-Signature"), &h) != FR_OK)
    return http_error(resp, 401, "unauthorized", "%s", fr_last_error()), -1;
  char *msg;
  size_t mlen;
  if (fr_sign_message(&msg, &mlen, h.nonce, h.hotkey, n->key.hotkey, req->method, req->path, req->body, req->len) !=
      FR_OK)
    return http_error(resp, 503, "out_of_memory", "out of memory"), -1;
  int bad = fr_verify(h.hotkey, msg, mlen, h.signature) != 0;
  free(msg);
  if (bad) return http_error(resp, 401, "unauthorized", "bad signature"), -1;
  snprintf(req->sender, sizeof req->sender, "%s", h.hotkey);
  pthread_rwlock_rdlock(&n->registry_lock);
  const fr_node *sender = fr_registry_find(&n->registry, h.hotkey);
  int forbidden = 0;
  int any_key = n->cfg.allow_unregistered || (route->is_signed == HTTP_SIGNED_ANY_KEY && n->cfg.organic_any_key);
  int own = strcmp(h.hotkey, n->key.hotkey) == 0; /* the operator, with this node's own key: always let in */
  if (!own && !sender && !any_key) forbidden = 1;
  else if (!own && n->cfg.force_verifier_permit && route->is_signed != HTTP_SIGNED_ANY_KEY &&
           (!sender || sender->role != FR_ROLE_VERIFIER || sender->stake < n->cfg.min_verifier_stake))
    forbidden = 2;
  pthread_rwlock_unlock(&n->registry_lock);
  if (forbidden == 1) return http_error(resp, 403, "forbidden", "sender %.16s... is not in the registry", h.hotkey), -1;
  if (forbidden == 2)
    return http_error(resp, 403, "forbidden", "sender %.16s... is not a verifier with stake >= %g", h.hotkey,
                      n->cfg.min_verifier_stake),
           -1;
  int rc = fr_nonces_accept(n->nonces, h.hotkey, h.nonce, fr_now_ns(), (uint64_t)n->cfg.nonce_window_s * 1000000000ull);
  if (rc == -1)
    return http_error(resp, 409, "stale_nonce", "the nonce is more than %d s from this node's clock",
                      n->cfg.nonce_window_s),
           -1;
  if (rc == -2)
    return http_error(resp, 409, "replayed_nonce",
                      "the nonce is not greater than the last one accepted from this sender"),
           -1;
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

/* The request line and headers, sized and counted. */
typedef struct head {
  size_t bytes;
  int content_length, transfer_encoding;
} head;

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  head *h = (head *)cls;
  h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
  h->content_length += strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0;
  h->transfer_encoding += strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0;
  return MHD_YES;
}

/* What can be said from the head alone, before the body is read (an answer now closes the connection);
 * 0 if the request may go on. */
static int check_head(http_server *s, struct MHD_Connection *c, const char *method, conn_state *cs, http_response *resp)
{
  head h = {strlen(method) + (cs->target ? strlen(cs->target) : 0) + 12, 0, 0};
  MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, &h);
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (!cs->target) http_error(resp, 414, "uri_too_long", "the request target is over %d bytes", MAX_TARGET);
  else if (h.bytes > MAX_HEADER_BYTES)
    http_error(resp, 431, "header_too_large", "the request line and headers are over %d bytes", MAX_HEADER_BYTES);
  else if (h.content_length > 1) http_error(resp, 400, "bad_request", "Content-Length is given more than once");
  else if (h.content_length && h.transfer_encoding)
    http_error(resp, 400, "bad_request", "Content-Length and Transfer-Encoding together");
  else if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->n->cfg.max_body)
    http_error(resp, 413, "body_too_large", "the body is over max_body (%d bytes)", s->n->cfg.max_body);
  else if (fr_target_check(cs->target, 1) != FR_OK)
    http_error(resp, 400, "bad_request", "request target %s: %s", cs->target, fr_last_error());
  return resp->status ? -1 : 0;
}

/* A flood of refused requests must not flood the log: LOG_REFUSED_PER_S lines a second, then one line
 * saying how many were left out. */
static int log_refused_allowed(http_server *s)
{
  if (!log_enabled(LOG_INFO)) return 0;
  double now = mono_s();
  pthread_mutex_lock(&s->mu);
  unsigned long left_out = 0;
  if (now - s->log_second >= 1.0) {
    left_out = s->suppressed;
    s->log_second = now, s->logged_this_second = 0, s->suppressed = 0;
  }
  int yes = s->logged_this_second < LOG_REFUSED_PER_S;
  if (yes) s->logged_this_second++;
  else s->suppressed++;
  pthread_mutex_unlock(&s->mu);
  if (left_out)
    LOG(LOG_WARN, "%lu more refused requests were not logged (at most %d a second)", left_out, LOG_REFUSED_PER_S);
  return yes;
}

/* Whether a route's path matches path: equal, or equal but for the route's one '*', which takes one
 * non-empty segment (copied into param; a segment longer than param does not match). */
static int route_matches(const char *route, const char *path, char *param, size_t n)
{
  const char *star = strchr(route, '*');
  if (!star) return strcmp(route, path) == 0;
  size_t pre = (size_t)(star - route), post = strlen(star + 1);
  if (strncmp(route, path, pre) != 0) return 0;
  const char *seg = path + pre, *end = strchr(seg, '/');
  size_t len = end ? (size_t)(end - seg) : strlen(seg);
  if (len == 0 || len >= n || strcmp(seg + len, star + 1) != 0 || strlen(seg + len) != post) return 0;
  memcpy(param, seg, len);
  param[len] = '\0';
  return 1;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
  http_server *s = (http_server *)cls;
  node *n = s->n;
  conn_state *cs = (conn_state *)*con_cls;
  http_request req;
  http_response resp;
  memset(&req, 0, sizeof req);
  memset(&resp, 0, sizeof resp);
  (void)url, (void)version; /* the target comes from log_target, as sent */
  if (!cs) return MHD_NO;   /* log_target ran out of memory */
  int head_ok = cs->checked != -1;
  if (!cs->checked) { /* headers only */
    cs->checked = check_head(s, c, method, cs, &resp) == 0 ? 1 : -1;
    if (cs->checked == 1) return MHD_YES;
    head_ok = 0;
  } else if (*upload_size) {
    if (cs->len + *upload_size > (size_t)n->cfg.max_body) cs->too_large = 1;
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
  set_state(s, c, SLOT_BUSY);
  const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  char *query = cs->target ? strchr(cs->target, '?') : NULL;
  if (query) *query++ = '\0'; /* the path is routed, the query goes to HTTP_BEARER routes */
  req.method = method, req.path = cs->target ? cs->target : "", req.body = cs->body ? cs->body : "", req.len = cs->len;
  req.query = query ? query : "";
  req.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  req.range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
  req.fd = fd ? fd->connect_fd : -1;
  const http_route *route = NULL, *known = NULL;
  for (int i = 0; i < s->nroutes; i++) /* a refused head too: for the metrics */
    if (route_matches(s->routes[i].path, req.path, req.param, sizeof req.param)) {
      known = known ? known : &s->routes[i];
      if (strcmp(s->routes[i].method, method) == 0) route = &s->routes[i];
    }
  if (head_ok) {
    if (cs->too_large)
      http_error(&resp, 413, "body_too_large", "the body is over max_body (%d bytes)", n->cfg.max_body);
    else if (!known) http_error(&resp, 404, "not_found", "no endpoint %s", req.path);
    else if (!route) http_error(&resp, 405, "method_not_allowed", "%s does not take %s", req.path, method);
    else if (query && route->is_signed != HTTP_BEARER)
      http_error(&resp, 400, "bad_request", "request target %s?%s: this endpoint takes no query string", req.path,
                 query);
    else if (!route->is_signed || route->is_signed == HTTP_BEARER || authenticate(n, c, route, &req, &resp) == 0)
      route->fn(n, &req, &resp);
  }
  if (!resp.status) http_error(&resp, 500, "internal", "no response");
  metrics_request(&n->metrics, route ? route->path : known ? known->path : "other", resp.status);
  const char *shown = head_ok ? req.path : "-"; /* a refused target may hold any bytes; the answer has it escaped */
  if (resp.status >= 400 && log_refused_allowed(s))
    LOG(LOG_INFO, "%s %s -> %d %.*s", method, shown, resp.status, (int)(resp.len < 200 ? resp.len : 200),
        resp.body ? resp.body : "");
  else if (resp.status < 400) LOG(LOG_DEBUG, "%s %s -> %d", method, shown, resp.status);
  return respond(c, &resp);
}

/* Called with the request line, before libmicrohttpd splits or decodes it: the target as it was sent,
 * which is what a signature covers and what is routed. */
static void *log_target(void *cls, const char *uri, struct MHD_Connection *c)
{
  conn_state *cs = (conn_state *)calloc(1, sizeof *cs);
  if (!cs) return NULL;
  if (!uri) uri = "";
  if (strlen(uri) <= MAX_TARGET && !(cs->target = strdup(uri))) return free(cs), NULL;
  return cs; /* a longer target stays NULL: 414 */
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
  conn_state *cs = (conn_state *)*con_cls;
  if (cs) free(cs->target), free(cs->body);
  free(cs);
  *con_cls = NULL;
  set_state((http_server *)cls, c, SLOT_RECEIVING); /* keep-alive: the next request's clock starts */
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  LOG(LOG_WARN, "http: %s", msg);
}

int http_resolve_listen(const char *listen, struct addrinfo **ai, char *err, size_t errn)
{
  char host[128], port[16];
  const char *colon = strrchr(listen, ':');
  if (!colon || colon == listen || !colon[1]) return snprintf(err, errn, "listen '%s' is not host:port", listen), -1;
  snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
  snprintf(port, sizeof port, "%s", colon + 1);
  char *end;
  long pn = strtol(colon + 1, &end, 10);
  if (*end || end == colon + 1 || pn < 0 || pn > 65535 || colon[1] == '-' || colon[1] == '+')
    return snprintf(err, errn, "listen '%s': the port must be a number in 0..65535", listen), -1;
  if (host[0] == '[') memmove(host, host + 1, strlen(host)), host[strcspn(host, "]")] = '\0';
  struct addrinfo hints = {0};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int gai = getaddrinfo(host, port, &hints, ai);
  if (gai != 0) return snprintf(err, errn, "listen '%s': %s", listen, gai_strerror(gai)), -1;
  return 0;
}

http_server *http_start(node *n, const http_route *routes, int nroutes)
{
  const char *colon = strrchr(n->cfg.listen, ':');
  struct addrinfo *ai = NULL;
  char err[600];
  if (http_resolve_listen(n->cfg.listen, &ai, err, sizeof err) != 0) {
    LOG(LOG_ERROR, "%s", err);
    return NULL;
  }
  http_server *s = (http_server *)calloc(1, sizeof *s);
  if (!s) return freeaddrinfo(ai), NULL;
  s->n = n, s->routes = routes, s->nroutes = nroutes;
  int reserve = n->cfg.connections_reserve;
  if (reserve > n->cfg.connections / 2) {
    reserve = n->cfg.connections / 2;
    LOG(LOG_WARN, "connections_reserve %d is over half of connections (%d): using %d", n->cfg.connections_reserve,
        n->cfg.connections, reserve);
  }
  s->receiving_cap = n->cfg.connections - reserve;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->wake, NULL);
  if (pthread_create(&s->watchdog, NULL, watchdog_main, s) != 0) {
    LOG(LOG_ERROR, "cannot start the request watchdog");
    return freeaddrinfo(ai), pthread_mutex_destroy(&s->mu), pthread_cond_destroy(&s->wake), free(s), NULL;
  }
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
  if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  s->mhd = MHD_start_daemon(flags, 0, accept_policy, s, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)n->cfg.connections, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)n->cfg.idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MHD_MEMORY,
                            MHD_OPTION_URI_LOG_CALLBACK, log_target, s, MHD_OPTION_NOTIFY_CONNECTION, notify_connection,
                            s, MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
  freeaddrinfo(ai);
  if (!s->mhd) {
    LOG(LOG_ERROR, "cannot listen on %s (in use, or no permission)", n->cfg.listen);
    http_stop(s);
    return NULL;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
  if (di && di->port) /* port 0 asks the system for one: say which */
    snprintf(n->cfg.listen + (colon - n->cfg.listen) + 1, sizeof n->cfg.listen - (size_t)(colon - n->cfg.listen) - 1,
             "%u", (unsigned)di->port);
  return s;
}

void http_stop(http_server *s)
{
  if (!s) return;
  pthread_mutex_lock(&s->mu);
  for (double until = mono_s() + DRAIN_S; mono_s() < until;) { /* answers being sent (SIGTERM's 503s too) */
    int receiving, busy, total;
    count_slots(s, &receiving, &busy, &total);
    if (!busy) break;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += WATCH_MS * 1000000L;
    if (t.tv_nsec >= 1000000000L) t.tv_sec++, t.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&s->wake, &s->mu, &t);
  }
  s->stop = 1;
  pthread_cond_broadcast(&s->wake);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->watchdog, NULL);
  if (s->mhd) MHD_stop_daemon(s->mhd); /* closes the rest; their close notifications empty the list */
  while (s->slots) {
    slot *x = s->slots;
    s->slots = x->next;
    free(x);
  }
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->wake);
  free(s);
}
