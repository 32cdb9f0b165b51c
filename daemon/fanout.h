/* Signed requests to several nodes at once (libcurl multi), each with its own outcome, under one
 * deadline; responses are capped in size. Nonces are unique and increasing across the process. */
#ifndef FRACTALD_FANOUT_H
#define FRACTALD_FANOUT_H

#include <stddef.h>

#include "fractal/auth.h"

typedef struct fan_req {
  /* in */
  const char *base_url;    /* "http://host:port" */
  const char *peer_hotkey; /* the receiver, whose hotkey the signature names */
  const char *method, *path;
  const void *body;
  size_t len;
  /* out */
  int answered; /* an HTTP response came back (any status) */
  long status;
  char *response; /* NUL-terminated; malloc'd (fan_free) */
  size_t response_len;
  char *headers;   /* raw header lines */
  double seconds;  /* until the response, or until it failed */
  double wall_at;  /* this node's wall clock (s) when the response came: against its Date header */
  char error[256]; /* why no response came */
} fan_req;

/* Sends the requests concurrently, one at a time to any one receiver (its nonces must arrive in order),
 * and waits for all of them, at most timeout_ms each; a response over max_response bytes is cut off and
 * counts as failed. A 409 "replayed_nonce" (overtaken by another thread's request to the same node) is
 * retried, twice at most, with a fresh nonce. */
void fanout(const fr_key *key, fan_req *reqs, int n, long timeout_ms, size_t max_response);
void fan_free(fan_req *r);
/* A response header's value (case-insensitive name) into out; 0 if found. */
int fan_header(const fan_req *r, const char *name, char *out, size_t n);
/* A fresh nonce: the wall clock in ns, but always greater than any nonce this process gave before. */
unsigned long long fan_nonce(void);
/* Tests only (fault_clock_offset_s): this node's clock reads this many seconds off, for nonces and
 * wall_at alike, as a wrong system clock would. */
void fan_set_clock_offset(double seconds);

#endif
