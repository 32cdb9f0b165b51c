/* Keys, request signatures, the registry and nonces (see fractal/auth.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "fractal/auth.h"
#include "fractal/hash.h"

static fr_status sodium_ready(void)
{
  if (sodium_init() < 0) return fr_fail(FR_EINTERNAL, "libsodium failed to initialise");
  return FR_OK;
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) out[2 * i] = d[b[i] >> 4], out[2 * i + 1] = d[b[i] & 15];
  out[2 * n] = '\0';
}

static int from_hex(const char *s, unsigned char *out, size_t n)
{
  if (!s || strlen(s) != 2 * n) return -1;
  for (size_t i = 0; i < 2 * n; i++) {
    char c = s[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return -1;
    if (i % 2 == 0) out[i / 2] = (unsigned char)(v << 4);
    else out[i / 2] |= (unsigned char)v;
  }
  return 0;
}

int fr_hotkey_valid(const char *hotkey)
{
  unsigned char b[32];
  return from_hex(hotkey, b, 32) == 0;
}

fr_status fr_key_generate(fr_key *k)
{
  FR_TRY(sodium_ready());
  crypto_sign_keypair(k->pk, k->sk);
  to_hex(k->pk, 32, k->hotkey);
  return FR_OK;
}

fr_status fr_key_save(const fr_key *k, const char *path, int overwrite)
{
  char tmp[4200], seed_hex[65];
  to_hex(k->sk, 32, seed_hex); /* libsodium's secret key starts with the 32-byte seed */
  if (!overwrite && access(path, F_OK) == 0)
    return fr_fail(FR_EIO, "%s already exists (refusing to overwrite a key)", path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return fr_fail(FR_EIO, "%s: %s", tmp, strerror(errno));
  char text[256];
  int len = snprintf(text, sizeof text, "{\"hotkey\": \"%s\", \"secret_seed\": \"%s\"}\n", k->hotkey, seed_hex);
  sodium_memzero(seed_hex, sizeof seed_hex);
  int ok = write(fd, text, (size_t)len) == len && fsync(fd) == 0;
  sodium_memzero(text, sizeof text);
  if (close(fd) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return fr_fail(FR_EIO, "%s: %s", path, strerror(errno));
  }
  return FR_OK;
}

fr_status fr_key_load(const char *path, fr_key *k)
{
  FR_TRY(sodium_ready());
  struct stat st;
  if (stat(path, &st) != 0) return fr_fail(FR_EIO, "%s: %s", path, strerror(errno));
  if (st.st_mode & 077)
    return fr_fail(FR_EINVAL, "%s: a key file must be readable by its owner only (mode %03o; chmod 600)", path,
                   (unsigned)(st.st_mode & 0777));
  json_error_t e;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
  if (!root) return fr_fail(FR_EFORMAT, "%s: %s", path, e.text);
  const char *hot = json_string_value(json_object_get(root, "hotkey"));
  const char *seed_hex = json_string_value(json_object_get(root, "secret_seed"));
  unsigned char seed[32];
  fr_status s = FR_OK;
  if (!hot || !seed_hex || from_hex(seed_hex, seed, 32) != 0)
    s = fr_fail(FR_EFORMAT, "%s: want {\"hotkey\": hex, \"secret_seed\": 64 hex digits}", path);
  if (s == FR_OK) {
    crypto_sign_seed_keypair(k->pk, k->sk, seed);
    to_hex(k->pk, 32, k->hotkey);
    if (strcmp(k->hotkey, hot) != 0) s = fr_fail(FR_EFORMAT, "%s: the hotkey does not match the secret seed", path);
  }
  sodium_memzero(seed, sizeof seed);
  json_decref(root);
  return s;
}

fr_status fr_sign_message(char **msg, size_t *len, uint64_t nonce, const char *sender, const char *receiver,
                          const char *method, const char *target, const void *body, size_t body_len)
{
  char body_hex[33];
  fr_hash_hex(fr_hash_bytes(body_len ? body : "", body_len), body_hex);
  const char *fmt = "fractal-v1\n%llu\n%s\n%s\n%s %s\n%s";
  int n = snprintf(NULL, 0, fmt, (unsigned long long)nonce, sender, receiver, method, target, body_hex);
  *msg = n < 0 ? NULL : (char *)malloc((size_t)n + 1);
  if (!*msg) return fr_fail(FR_ENOMEM, "out of memory");
  *len =
      (size_t)snprintf(*msg, (size_t)n + 1, fmt, (unsigned long long)nonce, sender, receiver, method, target, body_hex);
  return FR_OK;
}

/* Digits only, no sign, no space, no leading zero, at most 2^64 - 1: one spelling per nonce. */
static int nonce_parse(const char *s, uint64_t *out)
{
  size_t n = strlen(s);
  if (n == 0 || n > 20 || (n > 1 && s[0] == '0')) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

fr_status fr_signed_headers_parse(const char *hotkey, const char *nonce, const char *signature, fr_signed_headers *out)
{
  unsigned char sig[64];
  if (!hotkey || !nonce || !signature)
    return fr_fail(FR_EFORMAT, "Fractal-Hotkey, Fractal-Nonce and Fractal-Signature are required");
  if (!fr_hotkey_valid(hotkey)) return fr_fail(FR_EFORMAT, "Fractal-Hotkey must be 64 lowercase hex digits");
  if (nonce_parse(nonce, &out->nonce) != 0)
    return fr_fail(FR_EFORMAT,
                   "Fractal-Nonce must be a decimal number below 2^64, without sign, spaces or leading zeros");
  if (from_hex(signature, sig, 64) != 0)
    return fr_fail(FR_EFORMAT, "Fractal-Signature must be 128 lowercase hex digits");
  memcpy(out->hotkey, hotkey, FR_HOTKEY_HEX + 1);
  memcpy(out->signature, signature, FR_SIGNATURE_HEX + 1);
  return FR_OK;
}

static int hex_value(char c)
{
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

fr_status fr_target_check(const char *target, int allow_query)
{
  static const char unreserved[] = "-._~", others[] = "!$&'()*+,;=:@/"; /* RFC 3986 sub-delims, ':', '@', '/' */
  if (target[0] != '/') return fr_fail(FR_EFORMAT, "the request target must be a path starting with '/'");
  int in_query = 0;
  for (const char *p = target; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '?' && !in_query) {
      if (!allow_query) return fr_fail(FR_EFORMAT, "this endpoint takes no query string");
      in_query = 1;
    } else if (c == '%') {
      int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
      if (lo < 0) return fr_fail(FR_EFORMAT, "a malformed percent-escape in the request target");
      int v = hi << 4 | lo;
      if (v == 0) return fr_fail(FR_EFORMAT, "%%00 in the request target");
      if ((v >= 'a' && v <= 'z') || (v >= 'A' && v <= 'Z') || (v >= '0' && v <= '9') || strchr(unreserved, v))
        return fr_fail(FR_EFORMAT, "the request target escapes '%c', which must be sent as is", v);
      p += 2;
    } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(unreserved, c) ||
                 strchr(others, c) || (in_query && c == '?'))) {
      return fr_fail(FR_EFORMAT, "byte 0x%02x must be percent-escaped in the request target", c);
    }
  }
  return FR_OK;
}

void fr_sign(const fr_key *k, const char *msg, size_t len, char *sig_hex)
{
  unsigned char sig[64];
  crypto_sign_detached(sig, NULL, (const unsigned char *)msg, len, k->sk);
  to_hex(sig, 64, sig_hex);
}

int fr_verify(const char *sender_hotkey, const char *msg, size_t len, const char *sig_hex)
{
  unsigned char pk[32], sig[64];
  if (sodium_ready() != FR_OK || from_hex(sender_hotkey, pk, 32) != 0 || from_hex(sig_hex, sig, 64) != 0) return -1;
  return crypto_sign_verify_detached(sig, (const unsigned char *)msg, len, pk) == 0 ? 0 : -1;
}

fr_status fr_registry_load(const char *path, fr_registry *out)
{
  memset(out, 0, sizeof *out);
  json_error_t e;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
  if (!root) return fr_fail(FR_EFORMAT, "%s: line %d: %s", path, e.line, e.text);
  json_t *nodes = json_object_get(root, "nodes");
  fr_status s = FR_OK;
  if (!json_is_array(nodes)) s = fr_fail(FR_EFORMAT, "%s: want {\"nodes\": [...]}", path);
  size_t n = s == FR_OK ? json_array_size(nodes) : 0;
  if (s == FR_OK && n > 100000) s = fr_fail(FR_EFORMAT, "%s: too many nodes", path);
  if (s == FR_OK && n) out->nodes = (fr_node *)calloc(n, sizeof *out->nodes);
  if (s == FR_OK && n && !out->nodes) s = fr_fail(FR_ENOMEM, "out of memory");
  for (size_t i = 0; s == FR_OK && i < n; i++) {
    json_t *o = json_array_get(nodes, i), *stake = json_object_get(o, "stake");
    const char *hot = json_string_value(json_object_get(o, "hotkey"));
    const char *role = json_string_value(json_object_get(o, "role"));
    const char *ep = json_string_value(json_object_get(o, "endpoint"));
    fr_node *nd = &out->nodes[i];
    if (!json_is_object(o) || !hot || !fr_hotkey_valid(hot))
      s = fr_fail(FR_EFORMAT, "%s: node %zu: bad hotkey", path, i);
    else if (!role || (strcmp(role, "prover") != 0 && strcmp(role, "verifier") != 0))
      s = fr_fail(FR_EFORMAT, "%s: node %zu: role must be prover or verifier", path, i);
    else if (!ep || strlen(ep) >= sizeof nd->endpoint || strncmp(ep, "http://", 7) != 0)
      s = fr_fail(FR_EFORMAT, "%s: node %zu: endpoint must be http://host:port", path, i);
    else if (stake && !(json_is_number(stake) && json_number_value(stake) >= 0))
      s = fr_fail(FR_EFORMAT, "%s: node %zu: stake must be a number >= 0", path, i);
    else if (fr_registry_find(out, hot)) s = fr_fail(FR_EFORMAT, "%s: node %zu: hotkey listed twice", path, i);
    if (s != FR_OK) break;
    snprintf(nd->hotkey, sizeof nd->hotkey, "%s", hot);
    /* cppcheck-suppress nullPointerRedundantCheck ; every NULL case above set s and broke out */
    snprintf(nd->endpoint, sizeof nd->endpoint, "%s", ep);
    /* cppcheck-suppress nullPointerRedundantCheck ; as above */
    nd->role = strcmp(role, "verifier") == 0 ? FR_ROLE_VERIFIER : FR_ROLE_PROVER;
    nd->stake = stake ? json_number_value(stake) : 0.0;
    out->n++;
  }
  json_decref(root);
  if (s != FR_OK) fr_registry_free(out);
  return s;
}

void fr_registry_free(fr_registry *r)
{
  free(r->nodes);
  r->nodes = NULL;
  r->n = 0;
}

const fr_node *fr_registry_find(const fr_registry *r, const char *hotkey)
{
  for (int i = 0; i < r->n; i++)
    if (strcmp(r->nodes[i].hotkey, hotkey) == 0) return &r->nodes[i];
  return NULL;
}

#define NONCE_SENDERS_MAX 65536

typedef struct nonce_entry {
  char hotkey[FR_HOTKEY_HEX + 1];
  uint64_t last;
} nonce_entry;

struct fr_nonces {
  pthread_mutex_t mu;
  nonce_entry *e;
  int n, cap;
};

fr_nonces *fr_nonces_new(void)
{
  fr_nonces *n = (fr_nonces *)calloc(1, sizeof *n);
  if (n) pthread_mutex_init(&n->mu, NULL);
  return n;
}

void fr_nonces_free(fr_nonces *n)
{
  if (!n) return;
  pthread_mutex_destroy(&n->mu);
  free(n->e);
  free(n);
}

int fr_nonces_accept(fr_nonces *n, const char *sender, uint64_t nonce, uint64_t now_ns, uint64_t window_ns)
{
  uint64_t diff = nonce > now_ns ? nonce - now_ns : now_ns - nonce;
  if (diff > window_ns) return -1;
  pthread_mutex_lock(&n->mu);
  int rc = 0, i;
  for (i = 0; i < n->n && strcmp(n->e[i].hotkey, sender) != 0; i++) {}
  if (i < n->n) {
    if (nonce <= n->e[i].last) rc = -2;
    else n->e[i].last = nonce;
  } else {
    if (n->n == n->cap && n->cap < NONCE_SENDERS_MAX) {
      int cap = n->cap ? 2 * n->cap : 64;
      nonce_entry *e = (nonce_entry *)realloc(n->e, sizeof *e * (size_t)cap);
      if (e) n->e = e, n->cap = cap;
    }
    if (n->n < n->cap) {
      snprintf(n->e[n->n].hotkey, sizeof n->e[n->n].hotkey, "%s", sender);
      n->e[n->n++].last = nonce;
    } else {
      rc = -2; /* cannot remember this sender, so cannot rule out a replay */
    }
  }
  pthread_mutex_unlock(&n->mu);
  return rc;
}

uint64_t fr_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
