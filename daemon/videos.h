/* The videos API (docs/videos.md): creators' requests with API keys, a queue and an index in Redis, workers
 * that route each video to the provers, check the answer and encode the MP4 from the checked frames, and
 * the files in videos_dir. Part of the verifier role, on with videos_api. */
#ifndef FRACTALD_VIDEOS_H
#define FRACTALD_VIDEOS_H

#include <stdio.h>

#include "node.h"

typedef struct videos videos;

/* Starts the workers (videos running when the verifier stopped are queued again first); NULL with the
 * reason logged. videos_stop finishes the videos in flight; videos_free after the HTTP server stopped. */
videos *videos_start(node *n);
void videos_stop(videos *vs);
void videos_free(videos *vs);
/* The endpoints (404 when videos_api is off). */
void videos_create(node *n, const http_request *req, http_response *resp);
void videos_list(node *n, const http_request *req, http_response *resp);
void videos_get(node *n, const http_request *req, http_response *resp);
void videos_content(node *n, const http_request *req, http_response *resp);
void videos_delete(node *n, const http_request *req, http_response *resp);
/* The Prometheus lines of the videos API, appended to out. */
void videos_metrics(videos *vs, char *out, size_t n);

/* `fractald --config FILE keys create NAME [--rate N] [--quota N] | list | revoke ID`: the API keys in the
 * verifier's Redis. Returns the exit status. */
int videos_keys_main(const fractald_config *cfg, int argc, char **argv, FILE *out, FILE *err);

#endif
