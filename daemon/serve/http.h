/*
 * http.h - the daemon's HTTP server: one evhttp on the loop, one route
 * table, request limits, JSON error replies, and per-route request counts
 * and latency for /metrics.  The only socket server of the project.
 */
#ifndef CADENZA_HTTP_H
#define CADENZA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct event_base;
struct evhttp_request;
struct http_server;

struct http_opts {
    const char *listen;   /* "127.0.0.1:8470", "[::1]:8470", "0.0.0.0:0" (any free port) */
    size_t max_body;      /* larger bodies get 413 (0: 1 MiB) */
    size_t max_headers;   /* larger header blocks get 431/400 (0: 16 KiB) */
    int timeout_s;        /* a request not read (or a reply not taken) by then is dropped (0: 10) */
};

/* A handler replies (at once or later) exactly once with http_reply*(). */
typedef void (*http_fn)(struct evhttp_request *req, const char *path, void *ud);

enum http_method {
    HTTP_GET = 1 << 0,
    HTTP_POST = 1 << 1,
    HTTP_HEAD = 1 << 2,
};

/* 0, -EADDRINUSE & co. (the listen address is named in the log by the caller), -EINVAL. */
int http_new(struct event_base *base, const struct http_opts *o, struct http_server **ret);
void http_free(struct http_server *s);
/* The port bound (useful with port 0). */
uint16_t http_port(const struct http_server *s);

/*
 * Route requests for path (exactly, or every path below it when prefix,
 * e.g. "/v1/debtors/") and methods (a mask) to fn.  name labels the
 * route in /metrics.  Routes are tried in the order added.
 */
int http_route(struct http_server *s, const char *name, unsigned methods, const char *path,
               bool prefix, http_fn fn, void *ud);

void http_reply(struct evhttp_request *req, int code, const char *content_type, const void *body,
                size_t len);
/* {"error":"<message>"} with code. */
void http_reply_error(struct evhttp_request *req, int code, const char *fmt, ...) _printf_(3, 4);

/* The request counts and latency histograms, per route, for /metrics. */
int http_metrics(const struct http_server *s, struct sbuf *b);

#endif
