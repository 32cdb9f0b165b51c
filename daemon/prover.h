/* fractald's prover role: the job queue and its device worker, the reveal cache, and the endpoints. */
#ifndef FRACTALD_PROVER_H
#define FRACTALD_PROVER_H

#include "node.h"

int prover_start(node *n);
/* SIGTERM: waits up to shutdown_grace_s for the queued and running jobs, cancels what is left (queued
 * jobs at once, running batches at their next step; their clients get 503), then stops the workers. */
void prover_stop(node *n);
/* Frees the prover's state: after http_stop, when no handler can use it any more. */
void prover_free(node *n);
const http_route *prover_routes(int *count);

#endif
