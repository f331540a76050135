/*
 * serve.h - `cadenza serve`: the daemon.  One event loop (loop.c) with
 * the HTTP server (http.c), the libcurl multi handle the channels share
 * (curlm.c) and an in-process worker (worker.c), supervised by the
 * service manager (ready, reloading, stopping, watchdog).
 */
#ifndef CADENZA_SERVE_H
#define CADENZA_SERVE_H

struct cli_ctx;

struct serve_opts {
    const struct cli_ctx *ctx; /* how to (re)load the configuration */
    const char *listen;        /* overrides http.listen, or NULL */
};

/* Run until SIGTERM/SIGINT.  An EXIT_* code. */
int serve_run(const struct serve_opts *o);

#endif
