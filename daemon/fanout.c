/* Concurrent signed requests (see fanout.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "fanout.h"
#include "fractal/client.h"

static pthread_mutex_t nonce_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long last_nonce;
static long long clock_offset_ns; /* set once at start, before any request */

void fan_set_clock_offset(double seconds) { clock_offset_ns = (long long)(seconds * 1e9); }

static unsigned long long now_ns(void) { return (unsigned long long)((long long)fr_now_ns() + clock_offset_ns); }

unsigned long long fan_nonce(void)
{
  unsigned long long now = now_ns();
  pthread_mutex_lock(&nonce_mu);
  if (now <= last_nonce) now = last_nonce + 1;
  last_nonce = now;
  pthread_mutex_unlock(&nonce_mu);
  return now;
}

typedef struct sink {
  char *data;
  size_t len, cap, limit;
  int over;
} sink;

static size_t take(char *p, size_t size, size_t count, void *ctx)
{
  sink *s = (sink *)ctx;
  size_t n = size * count;
  if (s->len + n > s->limit) return s->over = 1, 0; /* aborts the transfer */
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->len + n + 1) cap *= 2;
    char *d = (char *)realloc(s->data, cap);
    if (!d) return 0;
    s->data = d, s->cap = cap;
  }
  memcpy(s->data + s->len, p, n);
  s->len += n;
  s->data[s->len] = '\0';
  return n;
}

typedef struct xfer {
  CURL *easy;
  struct curl_slist *hdr;
  sink body, head;
  char url[1024];
} xfer;

static void start_one(const fr_key *key, fan_req *r, xfer *x, long timeout_ms, size_t max_response)
{
  memset(x, 0, sizeof *x);
  x->body.limit = max_response, x->head.limit = 1 << 20;
  x->easy = curl_easy_init();
  if (!x->easy) return;
  char hk[128], nh[64], sh[192];
  snprintf(x->url, sizeof x->url, "%s%s", r->base_url, r->path);
  if (fr_sign_headers(key, r->peer_hotkey, r->method, r->path, r->body, r->len, fan_nonce(), hk, nh, sh) == FR_OK)
    x->hdr =
        fr_request_setup(x->easy, x->url, r->method, r->body, r->len, hk, nh, sh, timeout_ms, take, &x->body, &x->head);
  if (!x->hdr) { /* out of memory: finish_one says so */
    curl_easy_cleanup(x->easy);
    x->easy = NULL;
    return;
  }
  curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
}

static void finish_one(fan_req *r, xfer *x, CURLcode rc)
{
  free(r->response), free(r->headers);
  r->response = NULL, r->headers = NULL, r->response_len = 0, r->answered = 0, r->status = 0;
  if (!x->easy) {
    snprintf(r->error, sizeof r->error, "out of memory");
  } else {
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &r->seconds);
    r->wall_at = (double)now_ns() * 1e-9;
    if (rc == CURLE_OK) {
      r->answered = 1;
      curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r->status);
      if (!x->body.data) take("", 1, 0, &x->body);
      r->response = x->body.data, r->response_len = x->body.len, r->headers = x->head.data;
      x->body.data = x->head.data = NULL;
      r->error[0] = '\0';
    } else if (x->body.over) {
      snprintf(r->error, sizeof r->error, "the response is over %zu bytes", x->body.limit);
    } else {
      snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(rc));
    }
  }
  free(x->body.data), free(x->head.data);
  curl_slist_free_all(x->hdr);
  if (x->easy) curl_easy_cleanup(x->easy);
  x->easy = NULL;
}

static void run(const fr_key *key, fan_req *reqs, const int *which, int n, long timeout_ms, size_t max_response)
{
  CURLM *m = curl_multi_init();
  xfer *x = (xfer *)calloc((size_t)(n ? n : 1), sizeof *x);
  if (!m || !x) {
    for (int i = 0; i < n; i++) snprintf(reqs[which[i]].error, sizeof reqs[which[i]].error, "out of memory");
    if (m) curl_multi_cleanup(m);
    free(x);
    return;
  }
  for (int i = 0; i < n; i++) {
    start_one(key, &reqs[which[i]], &x[i], timeout_ms, max_response);
    if (x[i].easy) curl_multi_add_handle(m, x[i].easy);
    else finish_one(&reqs[which[i]], &x[i], CURLE_OUT_OF_MEMORY);
  }
  int running = 1;
  while (running) {
    if (curl_multi_perform(m, &running) != CURLM_OK) break;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)))
      if (msg->msg == CURLMSG_DONE) {
        xfer *xp;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&xp);
        CURLcode rc = msg->data.result;
        curl_multi_remove_handle(m, xp->easy);
        finish_one(&reqs[which[xp - x]], xp, rc);
      }
    if (running) curl_multi_poll(m, NULL, 0, 100, NULL);
  }
  for (int i = 0; i < n; i++)
    if (x[i].easy) { /* not finished: the multi handle failed */
      curl_multi_remove_handle(m, x[i].easy);
      finish_one(&reqs[which[i]], &x[i], CURLE_FAILED_INIT);
    }
  curl_multi_cleanup(m);
  free(x);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_start(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Runs the requests listed in `which` in rounds holding at most one request per receiver: a receiver
 * takes a sender's nonces only in increasing order, and two requests in flight to it could overtake. */
static void run_rounds(const fr_key *key, fan_req *reqs, const int *which, int n, long timeout_ms, size_t max_response)
{
  int *left = (int *)malloc(sizeof(int) * (size_t)n), *round = (int *)malloc(sizeof(int) * (size_t)n), nleft = n;
  if (!left || !round) {
    for (int i = 0; i < n; i++) snprintf(reqs[which[i]].error, sizeof reqs[which[i]].error, "out of memory");
    free(left), free(round);
    return;
  }
  memcpy(left, which, sizeof(int) * (size_t)n);
  while (nleft) {
    int nr = 0, keep = 0;
    for (int i = 0; i < nleft; i++) {
      int busy = 0;
      for (int j = 0; j < nr && !busy; j++) busy = strcmp(reqs[round[j]].peer_hotkey, reqs[left[i]].peer_hotkey) == 0;
      if (busy) left[keep++] = left[i];
      else round[nr++] = left[i];
    }
    run(key, reqs, round, nr, timeout_ms, max_response);
    nleft = keep;
  }
  free(left), free(round);
}

void fanout(const fr_key *key, fan_req *reqs, int n, long timeout_ms, size_t max_response)
{
  if (n <= 0) return;
  pthread_once(&curl_once, curl_start);
  int *which = (int *)malloc(sizeof(int) * (size_t)n);
  if (!which) {
    for (int i = 0; i < n; i++) snprintf(reqs[i].error, sizeof reqs[i].error, "out of memory");
    return;
  }
  for (int i = 0; i < n; i++) which[i] = i, reqs[i].answered = 0, reqs[i].response = reqs[i].headers = NULL;
  int count = n;
  for (int attempt = 0; attempt < 3 && count; attempt++) { /* then again for nonces overtaken by another thread's */
    run_rounds(key, reqs, which, count, timeout_ms, max_response);
    int again = 0;
    for (int i = 0; i < count; i++) {
      fan_req *r = &reqs[which[i]];
      if (r->answered && r->status == 409 && r->response && strstr(r->response, "replayed_nonce"))
        which[again++] = which[i];
    }
    count = again;
  }
  free(which);
}

void fan_free(fan_req *r)
{
  free(r->response), free(r->headers);
  r->response = r->headers = NULL;
}

int fan_header(const fan_req *r, const char *name, char *out, size_t n)
{
  fr_response tmp = {0};
  tmp.headers = r->headers;
  return fr_response_header(&tmp, name, out, n);
}
