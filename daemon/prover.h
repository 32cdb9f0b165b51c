/* fractald's prover role: the job queue and its device worker, the reveal cache, and the endpoints. */
#ifndef FRACTALD_PROVER_H
#define FRACTALD_PROVER_H

#include "node.h"

int prover_start(node *n);
/* Waits until every queued and running job has been answered (SIGTERM), then stops the worker. */
void prover_stop(node *n);
const http_route *prover_routes(int *count);

#endif
