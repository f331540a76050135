/*
 * serve.h - `cadenza serve`: the daemon.  One event loop (loop.c) with
 * the HTTP server (http.c), the libcurl multi handle the channels share
 * (curlm.c) and an in-process worker (worker.c), supervised by the
 * service manager (ready, reloading, stopping, watchdog).
 */
#ifndef CADENZA_SERVE_H
#define CADENZA_SERVE_H

struct config;

struct serve_opts {
    /* how to (re)load the configuration: an EXIT_* code, errors printed */
    int (*load_config)(const void *arg, struct config **ret);
    const void *load_arg;
    const char *listen;        /* overrides http.listen, or NULL */
};

/* Run until SIGTERM/SIGINT.  An EXIT_* code. */
int serve_run(const struct serve_opts *o);

#endif
