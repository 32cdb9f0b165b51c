/* Signed HTTP requests with libcurl (see fractal/client.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "fractal/client.h"
#include "wire.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_start(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct buffer {
  char *data;
  size_t len, cap;
} buffer;

static size_t append(buffer *b, const char *p, size_t n)
{
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = (char *)realloc(b->data, cap);
    if (!d) return 0;
    b->data = d, b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return n;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx) { return append((buffer *)ctx, p, size * n); }

fr_status fr_sign_headers(const fr_key *key, const char *peer_hotkey, const char *method, const char *target,
                          const void *body, size_t len, uint64_t nonce, char hotkey_h[128], char nonce_h[64],
                          char sig_h[192])
{
  if (!nonce) nonce = fr_now_ns();
  char *msg, sig[FR_SIGNATURE_HEX + 1];
  size_t mlen;
  FR_TRY(fr_sign_message(&msg, &mlen, nonce, key->hotkey, peer_hotkey, method, target, body, len));
  fr_sign(key, msg, mlen, sig);
  free(msg);
  snprintf(hotkey_h, 128, "Fractal-Hotkey: %s", key->hotkey);
  snprintf(nonce_h, 64, "Fractal-Nonce: %llu", (unsigned long long)nonce);
  snprintf(sig_h, 192, "Fractal-Signature: %s", sig);
  return FR_OK;
}

struct curl_slist *fr_request_setup(void *easy, const char *url, const char *method, const void *body, size_t len,
                                    const char *hotkey_h, const char *nonce_h, const char *sig_h, long timeout_ms,
                                    size_t (*sink)(char *p, size_t size, size_t n, void *ctx), void *body_ctx,
                                    void *head_ctx)
{
  CURL *c = (CURL *)easy;
  struct curl_slist *hdr = curl_slist_append(NULL, "Expect:"), *next;
  const char *lines[4] = {body && len ? "Content-Type: application/json" : NULL, hotkey_h, nonce_h, sig_h};
  for (int i = 0; hdr && i < 4; i++) {
    if (!lines[i]) continue;
    if (!(next = curl_slist_append(hdr, lines[i]))) {
      curl_slist_free_all(hdr);
      return NULL;
    }
    hdr = next;
  }
  if (!hdr) return NULL;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
  if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, body_ctx);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, head_ctx);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* the target goes out exactly as signed (no dot-segment removal) */
  return hdr;
}

fr_status fr_request(const fr_key *key, const char *peer_hotkey, const char *base_url, const char *method,
                     const char *path, const void *body, size_t len, long timeout_ms, fr_response *out)
{
  return fr_request_ex(key, peer_hotkey, base_url, method, path, body, len, timeout_ms, NULL, out);
}

fr_status fr_request_ex(const fr_key *key, const char *peer_hotkey, const char *base_url, const char *method,
                        const char *path, const void *body, size_t len, long timeout_ms, const fr_request_options *opts,
                        fr_response *out)
{
  static const fr_request_options none;
  if (!opts) opts = &none;
  memset(out, 0, sizeof *out);
  pthread_once(&curl_once, curl_start);
  char hk[128], nh[64], sh[192];
  if (key && peer_hotkey)
    FR_TRY(fr_sign_headers(key, peer_hotkey, method, opts->sign_target ? opts->sign_target : path, body, len,
                           opts->nonce, hk, nh, sh));
  if (opts->nonce_header) snprintf(nh, sizeof nh, "Fractal-Nonce: %s", opts->nonce_header);
  size_t ulen = strlen(base_url) + strlen(path) + 1;
  char *url = (char *)malloc(ulen);
  CURL *c = url ? curl_easy_init() : NULL;
  if (!c) return free(url), fr_fail(FR_ENOMEM, "out of memory");
  snprintf(url, ulen, "%s%s", base_url, path);
  int signed_ = key && peer_hotkey;
  if (signed_ && opts->flip_signature) sh[strlen(sh) - 1] = sh[strlen(sh) - 1] == '0' ? '1' : '0';
  buffer b = {0}, h = {0};
  struct curl_slist *hdr = fr_request_setup(c, url, method, body, len, signed_ ? hk : NULL, signed_ ? nh : NULL,
                                            signed_ ? sh : NULL, timeout_ms, on_body, &b, &h);
  if (!hdr) return curl_easy_cleanup(c), free(url), fr_fail(FR_ENOMEM, "out of memory");
  CURLcode rc = curl_easy_perform(c);
  fr_status st = FR_OK;
  if (rc != CURLE_OK) {
    st = fr_fail(FR_EIO, "%s %s: %s", method, url, curl_easy_strerror(rc));
    free(b.data), free(h.data);
  } else {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &out->seconds);
    if (!b.data) append(&b, "", 0);
    out->body = b.data, out->len = b.len, out->headers = h.data;
  }
  curl_slist_free_all(hdr);
  curl_easy_cleanup(c);
  free(url);
  return st;
}

void fr_response_free(fr_response *r)
{
  free(r->body);
  free(r->headers);
  memset(r, 0, sizeof *r);
}

int fr_response_header(const fr_response *r, const char *name, char *out, size_t n)
{
  size_t nl = strlen(name);
  for (const char *p = r->headers; p && *p;) {
    const char *end = strchr(p, '\n');
    size_t ll = end ? (size_t)(end - p) : strlen(p);
    if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1;
      while (*v == ' ') v++;
      size_t vl = (size_t)(p + ll - v);
      while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' ')) vl--;
      snprintf(out, n, "%.*s", (int)vl, v);
      return 0;
    }
    p = end ? end + 1 : p + ll;
  }
  return -1;
}

int fr_reveal_body(const char *job_id, int step, char *out, size_t n)
{
  size_t at = (size_t)snprintf(out, n, "{\"job_id\":");
  at = fr_wire_put_string(out, n, at, job_id);
  at += (size_t)snprintf(at < n ? out + at : NULL, at < n ? n - at : 0, ",\"step\":%d}", step);
  return (int)at;
}

fr_status fr_reveal(const fr_key *key, const char *peer_hotkey, const char *base_url, const char *job_id, int step,
                    size_t n, long timeout_ms, float **out)
{
  char body[256];
  *out = NULL;
  if ((size_t)fr_reveal_body(job_id, step, body, sizeof body) >= sizeof body)
    return fr_fail(FR_EINVAL, "reveal: the job id is too long");
  fr_response r;
  if (fr_request(key, peer_hotkey, base_url, "POST", "/v1/reveal", body, strlen(body), timeout_ms, &r) != FR_OK)
    return fr_fail_context(FR_EIO, "reveal of the latent entering step %d from %s", step, base_url);
  fr_status st = FR_OK;
  if (r.status != 200)
    st = fr_fail(FR_EIO, "reveal of the latent entering step %d from %s: HTTP %ld %.200s", step, base_url, r.status,
                 r.body ? r.body : "");
  else if (r.len != n * sizeof(float))
    st = fr_fail(FR_EIO, "reveal of the latent entering step %d from %s: %zu bytes, the job's latent is %zu", step,
                 base_url, r.len, n * sizeof(float));
  else if (!(*out = (float *)malloc(r.len ? r.len : 1))) st = fr_fail(FR_ENOMEM, "out of memory");
  else memcpy(*out, r.body, r.len); /* little-endian fp32, as this host's */
  fr_response_free(&r);
  return st;
}
