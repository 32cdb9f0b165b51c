/* Inside the videos API (videos.c: the endpoints; videos_work.c: the workers and the files; videos_keys.c:
 * Redis connections and API keys). */
#ifndef FRACTALD_VIDEOS_IMPL_H
#define FRACTALD_VIDEOS_IMPL_H

#include <pthread.h>

#include <hiredis/hiredis.h>

#include "videos.h"

#define VIDEO_ID_LEN 22   /* "video_" and 16 hex digits */
#define KEY_ID_LEN 16     /* "key_" and 12 hex digits */
#define VIDEOS_WORKERS 16 /* at most */
#define BUCKETS 256       /* keys with a rate-limit bucket in memory */

/* One Redis connection, reconnected on demand; not shared between threads without its lock. */
typedef struct rconn {
  const fractald_config *cfg;
  redisContext *c;
  pthread_mutex_t mu;
  double timeout_s;
} rconn;

void rconn_init(rconn *r, const fractald_config *cfg, double timeout_s);
void rconn_close(rconn *r);
/* One command (connecting first when needed); NULL when Redis cannot be reached (the reply of an error is
 * a REDIS_REPLY_ERROR reply). Callers hold r->mu when r is shared. */
redisReply *rcmd(rconn *r, const char *fmt, ...);
/* The key `prefix name[:a]`. */
void rkey(const fractald_config *cfg, char *buf, size_t n, const char *name, const char *a);

/* An API key's settings. */
typedef struct api_key {
  char id[KEY_ID_LEN + 1];
  char name[64];
  int rate, quota; /* requests a minute; videos a UTC day */
} api_key;

/* Checks an Authorization header: 0 with the key, or the HTTP status (401; 503 when Redis is away) with
 * the error code and message. */
int keys_authenticate(rconn *r, const char *authorization, api_key *out, const char **code, char *why, size_t n);

/* A token bucket per key: rate a minute. 0 when a request may go; else the seconds until it may. */
typedef struct buckets {
  pthread_mutex_t mu;
  struct {
    char id[KEY_ID_LEN + 1];
    double tokens, at;
  } b[BUCKETS];
  int n;
} buckets;
int buckets_take(buckets *bs, const api_key *k, double now);

typedef struct videos_worker_arg {
  struct videos *vs;
  int index;
} videos_worker_arg;

/* What a worker runs now, for the progress thread (under videos.mu). */
typedef struct videos_running {
  int active;
  char id[VIDEO_ID_LEN + 1];
  char hotkey[FR_HOTKEY_HEX + 1];
  char endpoint[256];
  int last; /* the progress last written */
} videos_running;

struct videos {
  node *n;
  videos_worker_arg args[VIDEOS_WORKERS];
  rconn api;                  /* the endpoints' connection (under api.mu) */
  rconn work[VIDEOS_WORKERS]; /* one per worker */
  pthread_t workers[VIDEOS_WORKERS];
  videos_running now[VIDEOS_WORKERS];
  rconn progress_conn; /* the progress thread's */
  pthread_t progress;
  int nworkers, running, progress_running;
  volatile int stop;
  buckets rate;
  pthread_mutex_t mu; /* the counters */
  unsigned long long created, completed, failed, deleted, expired, rate_limited, quota_exceeded, unauthorized;
};

/* videos_work.c */
int videos_requeue(videos *vs); /* running -> queue at start; the count, or -1 */
void videos_file(const fractald_config *cfg, char *buf, size_t n, const char *id, const char *ext);
/* Removes a video: its Redis keys, its place in the queue and its owner's index, its files. */
void videos_remove(rconn *r, const fractald_config *cfg, const char *id, const char *owner);
/* Expired videos, then the oldest while the files are over videos_max_mb. */
void videos_sweep(videos *vs, rconn *r);
/* The object of video id as JSON text (the meta object with the job spliced in), malloc'd; the owner's key id
 * into owner (nullable). NULL if there is no such video (or Redis is away: *down set). */
char *videos_object(rconn *r, const fractald_config *cfg, const char *id, char *owner, int *down);

double videos_now(void); /* wall clock, seconds */

#endif
