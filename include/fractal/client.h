/* Signed HTTP requests to Fractal nodes (libcurl): the headers PROTOCOL.md defines, a response with its
 * status, body and headers. Used by the verifier, fractal-client and the tests. */
#ifndef FRACTAL_CLIENT_H
#define FRACTAL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/auth.h"
#include "fractal/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_response {
  long status;
  char *body; /* NUL-terminated for convenience; len excludes the NUL */
  size_t len;
  char *headers; /* raw response header lines */
  double seconds; /* total time */
} fr_response;

/* Sends METHOD base_url+path with body, signed by key for the receiver peer_hotkey (both NULL: an
 * unsigned request). Fails only when no HTTP response came (connection refused, timeout...). */
fr_status fr_request(const fr_key *key, const char *peer_hotkey, const char *base_url, const char *method,
                     const char *path, const void *body, size_t len, long timeout_ms, fr_response *out);
/* The same with a chosen nonce (0: now) and, for tests of the receiving side, a deliberately wrong
 * signature (flip_signature). */
fr_status fr_request_ex(const fr_key *key, const char *peer_hotkey, const char *base_url, const char *method,
                        const char *path, const void *body, size_t len, long timeout_ms, uint64_t nonce,
                        int flip_signature, fr_response *out);
void fr_response_free(fr_response *r);
/* A response header's value (case-insensitive name), copied into out; 0 if found, -1 if not. */
int fr_response_header(const fr_response *r, const char *name, char *out, size_t n);

/* The three signature headers for a request, as "Name: value" lines (for other HTTP stacks). */
void fr_sign_headers(const fr_key *key, const char *peer_hotkey, const char *method, const char *path,
                     const void *body, size_t len, uint64_t nonce, char hotkey_h[128], char nonce_h[64], char sig_h[192]);

#ifdef __cplusplus
}
#endif
#endif
