/* Identities and signed requests (docs/protocol.md, "Signed requests"): Ed25519 keys (libsodium), the
 * message every request signs, the node registry, and replay protection. */
#ifndef FRACTAL_AUTH_H
#define FRACTAL_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FR_HOTKEY_HEX 64     /* 32-byte public key, lowercase hex */
#define FR_SIGNATURE_HEX 128 /* 64-byte Ed25519 signature */

typedef struct fr_key {
  unsigned char pk[32];
  unsigned char sk[64];
  char hotkey[FR_HOTKEY_HEX + 1];
} fr_key;

/* A new random key pair. */
fr_status fr_key_generate(fr_key *k);
/* Key files: JSON {"hotkey": hex, "secret_seed": hex of the 32-byte seed}, mode 0600, written
 * atomically; refused if the file already exists unless overwrite. Loading refuses a file readable by
 * group or others, a malformed file, or a hotkey that does not match the seed. */
fr_status fr_key_save(const fr_key *k, const char *path, int overwrite);
fr_status fr_key_load(const char *path, fr_key *k);

/* The message a request signs, malloc'd into *msg (NUL-terminated; *len excludes the NUL):
 * "fractal-v1\n<nonce>\n<sender>\n<receiver>\n<METHOD> <target>\n<xxh3-128 hex of body>", where target is
 * the request target exactly as sent: the path and any query, escapes as they are. */
fr_status fr_sign_message(char **msg, size_t *len, uint64_t nonce, const char *sender, const char *receiver,
                          const char *method, const char *target, const void *body, size_t body_len);
/* Signature as 128 hex digits (+NUL) into sig_hex. */
void fr_sign(const fr_key *k, const char *msg, size_t len, char *sig_hex);
/* 0 if sig_hex (128 hex digits) is the sender's signature of msg, -1 otherwise. */
int fr_verify(const char *sender_hotkey, const char *msg, size_t len, const char *sig_hex);
/* Checks a hotkey's form: 64 lowercase hex digits. */
int fr_hotkey_valid(const char *hotkey);

/* The three signature headers of a request, checked for form. */
typedef struct fr_signed_headers {
  char hotkey[FR_HOTKEY_HEX + 1];
  uint64_t nonce;
  char signature[FR_SIGNATURE_HEX + 1];
} fr_signed_headers;

/* Parses the values of Fractal-Hotkey (64 lowercase hex digits), Fractal-Nonce (canonical decimal: digits
 * only, no sign, spaces or leading zeros, below 2^64) and Fractal-Signature (128 lowercase hex digits);
 * NULL is a missing header. Pure: no signature check, no nonce state. FR_EFORMAT names the bad header. */
fr_status fr_signed_headers_parse(const char *hotkey, const char *nonce, const char *signature, fr_signed_headers *out);
/* Checks that a request target as sent is in the one canonical spelling that gets signed: a path of RFC
 * 3986 characters starting with '/', percent-escapes well formed and only for bytes that need one (never
 * an unreserved character, never %00), and no query string unless allow_query. FR_EFORMAT says why not. */
fr_status fr_target_check(const char *target, int allow_query);

typedef enum fr_node_role { FR_ROLE_PROVER = 0, FR_ROLE_VERIFIER = 1 } fr_node_role;

typedef struct fr_node {
  char hotkey[FR_HOTKEY_HEX + 1];
  fr_node_role role;
  char endpoint[256]; /* "http://host:port" */
  double stake;
} fr_node;

typedef struct fr_registry {
  fr_node *nodes;
  int n;
} fr_registry;

/* Reads {"nodes": [{"hotkey", "role": "prover"|"verifier", "endpoint", "stake"}...]}; strict. */
fr_status fr_registry_load(const char *path, fr_registry *out);
void fr_registry_free(fr_registry *r);
const fr_node *fr_registry_find(const fr_registry *r, const char *hotkey);

/* Replay protection: the last accepted nonce per sender. Thread-safe. */
typedef struct fr_nonces fr_nonces;
fr_nonces *fr_nonces_new(void);
void fr_nonces_free(fr_nonces *n);
/* 0 and records it if nonce is within window_ns of now_ns and greater than the sender's last one;
 * -1 if stale, -2 if not greater (a replay). */
int fr_nonces_accept(fr_nonces *n, const char *sender, uint64_t nonce, uint64_t now_ns, uint64_t window_ns);

uint64_t fr_now_ns(void); /* wall clock, nanoseconds since the Unix epoch */

#ifdef __cplusplus
}
#endif
#endif
