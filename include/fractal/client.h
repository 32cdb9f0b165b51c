/* Signed HTTP requests to Fractal nodes (libcurl): the headers docs/protocol.md defines, a response with its
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
  char *headers;  /* raw response header lines */
  double seconds; /* total time */
} fr_response;

/* Sends METHOD base_url+path with body, signed by key for the receiver peer_hotkey (both NULL: an
 * unsigned request); path is the request target as sent and signed (receivers take only the canonical
 * spelling, fr_target_check). Fails only when no HTTP response came (connection refused, timeout...). */
fr_status fr_request(const fr_key *key, const char *peer_hotkey, const char *base_url, const char *method,
                     const char *path, const void *body, size_t len, long timeout_ms, fr_response *out);
/* What a test of the receiving side may change about a signed request; all zero: a correct one. */
typedef struct fr_request_options {
  uint64_t nonce;           /* sign with this nonce (0: the current time) */
  int flip_signature;       /* send a signature that does not verify */
  const char *sign_target;  /* sign this target instead of the one sent (NULL: the one sent) */
  const char *nonce_header; /* send this Fractal-Nonce value instead of the signed nonce's decimal */
} fr_request_options;

/* fr_request with options (NULL: none). */
fr_status fr_request_ex(const fr_key *key, const char *peer_hotkey, const char *base_url, const char *method,
                        const char *path, const void *body, size_t len, long timeout_ms, const fr_request_options *opts,
                        fr_response *out);
void fr_response_free(fr_response *r);
/* A response header's value (case-insensitive name), copied into out; 0 if found, -1 if not. */
int fr_response_header(const fr_response *r, const char *name, char *out, size_t n);

/* The body of a POST /v1/reveal for the latent entering `step` of job job_id: {"job_id":...,"step":N}. */
int fr_reveal_body(const char *job_id, int step, char *out, size_t n);
/* A signed POST /v1/reveal to the prover at base_url (hotkey peer_hotkey): the latent entering `step` of job
 * job_id, which must be n float32 values; *out is malloc'd. Fails (FR_EIO, the message saying what came back:
 * no answer, an HTTP status, a wrong size) when it is not that. */
fr_status fr_reveal(const fr_key *key, const char *peer_hotkey, const char *base_url, const char *job_id, int step,
                    size_t n, long timeout_ms, float **out);

/* For callers that drive libcurl themselves (the verifier's concurrent fan-out): sets up the easy handle
 * `easy` (a CURL *) for METHOD url with body exactly as fr_request does — the signature header lines
 * (each nullable), the JSON content type for a body, no "Expect", the target sent as is, http(s) only,
 * the timeouts, no signals — with `sink` receiving the body (body_ctx) and the header lines (head_ctx).
 * Returns the header list, which must outlive the transfer (curl_slist_free_all), or NULL out of memory. */
struct curl_slist;
struct curl_slist *fr_request_setup(void *easy, const char *url, const char *method, const void *body, size_t len,
                                    const char *hotkey_h, const char *nonce_h, const char *sig_h, long timeout_ms,
                                    size_t (*sink)(char *p, size_t size, size_t n, void *ctx), void *body_ctx,
                                    void *head_ctx);

/* The three signature headers for a request to `target` (the path and any query, exactly as it will be
 * sent), as "Name: value" lines (for other HTTP stacks); nonce 0: now. Fails only out of memory. */
fr_status fr_sign_headers(const fr_key *key, const char *peer_hotkey, const char *method, const char *target,
                          const void *body, size_t len, uint64_t nonce, char hotkey_h[128], char nonce_h[64],
                          char sig_h[192]);

#ifdef __cplusplus
}
#endif
#endif
