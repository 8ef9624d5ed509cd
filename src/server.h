/* server.h — `kabinetd serve`: the process that owns the loop and every runtime module.
 *
 * It builds the modules from the configuration, serves /healthz, /readyz and /metrics, and on SIGTERM or SIGINT
 * drains: it stops accepting, lets in-flight work finish (HTTP answers, Redis and Postgres replies) up to
 * KABINET_SHUTDOWN_TIMEOUT_MS, closes every module, and exits 0. SIGPIPE is ignored. */
#ifndef KB_SERVER_H
#define KB_SERVER_H

#include "config.h"

/* Runs the server until it is told to stop; returns the process exit code. */
int server_run(const cfg_t *cfg);

#endif
