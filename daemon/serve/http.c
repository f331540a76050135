/*
 * http.c - the daemon's HTTP server (http.h), on libevent's evhttp.
 *
 * Every request goes through on_request(): the route table is searched
 * in order, a path no route knows gets 404 and a known path with another
 * method 405 (with Allow), both as JSON.  evhttp enforces the limits
 * itself: bodies over max_body get 413, header blocks over max_headers
 * are refused, and a connection idle past the timeout (a client that
 * sends slowly) is closed.
 *
 * Latency: each routed request gets a small context whose completion
 * callback (evhttp calls it once the reply is written, or the connection
 * is gone) observes the time since the request was read into the
 * route's histogram.  Handlers that reply later (after a commit) are
 * measured the same way.
 */
#include "http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "metrics.h"

#define HTTP_ROUTES_MAX 48

static const double latency_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,   0.25,   0.5,   1.0,  1e300 };

struct route {
    char *name, *path;
    size_t path_len;
    unsigned methods;
    bool prefix;
    http_fn fn;
    void *ud;
    uint64_t requests;
    struct histogram latency;
};

struct http_server {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    uint16_t port;
    struct route routes[HTTP_ROUTES_MAX];
    size_t nroutes;
    uint64_t not_found;
};

struct req_ctx {
    struct route *route;
    int64_t start_us;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_complete(struct evhttp_request *req, void *arg)
{
    struct req_ctx *c = arg;
    (void)req;
    histogram_observe(&c->route->latency, (double)(mono_us() - c->start_us) / 1e6);
    free(c);
}

static unsigned method_bit(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return HTTP_GET;
    case EVHTTP_REQ_POST:
        return HTTP_POST;
    case EVHTTP_REQ_HEAD:
        return HTTP_HEAD;
    default:
        return 0;
    }
}

static void allow_header(struct evhttp_request *req, unsigned methods)
{
    char allow[32] = "";
    static const struct {
        unsigned bit;
        const char *name;
    } m[] = { { HTTP_GET, "GET" }, { HTTP_HEAD, "HEAD" }, { HTTP_POST, "POST" } };
    for (size_t i = 0; i < ELEMENTSOF(m); i++)
        if (methods & m[i].bit)
            snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
                     allow[0] ? ", " : "", m[i].name);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct http_server *s = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (isempty(path))
        path = "/";
    unsigned bit = method_bit(evhttp_request_get_command(req));
    unsigned allowed = 0;
    for (size_t i = 0; i < s->nroutes; i++) {
        struct route *rt = &s->routes[i];
        bool match = rt->prefix ? strncmp(path, rt->path, rt->path_len) == 0
                                : strcmp(path, rt->path) == 0;
        if (!match)
            continue;
        if (!(rt->methods & bit)) {
            allowed |= rt->methods;
            continue;
        }
        rt->requests++;
        struct req_ctx *c = malloc(sizeof(*c));
        if (c) {
            c->route = rt;
            c->start_us = mono_us();
            evhttp_request_set_on_complete_cb(req, on_complete, c);
        }
        rt->fn(req, path, rt->ud);
        return;
    }
    if (allowed) {
        allow_header(req, allowed);
        http_reply_error(req, 405, "method not allowed for %s", path);
        return;
    }
    s->not_found++;
    http_reply_error(req, 404, "no such resource");
}

/* "host:port" or "[v6]:port" into host and port. */
static int parse_listen(const char *listen, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        if ((size_t)(close - listen - 1) >= hostlen)
            return -EINVAL;
        memcpy(host, listen + 1, (size_t)(close - listen - 1));
        host[close - listen - 1] = 0;
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= hostlen || colon == listen)
            return -EINVAL;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = 0;
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
        return -EINVAL;
    *port = (uint16_t)p;
    return 0;
}

int http_new(struct event_base *base, const struct http_opts *o, struct http_server **ret)
{
    char host[256];
    uint16_t port;
    if (!o->listen || parse_listen(o->listen, host, sizeof(host), &port) < 0)
        return -EINVAL;
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->http = evhttp_new(base);
    if (!s->http) {
        free(s);
        return -ENOMEM;
    }
    evhttp_set_max_body_size(s->http, (ev_ssize_t)(o->max_body ? o->max_body : 1u << 20));
    evhttp_set_max_headers_size(s->http, (ev_ssize_t)(o->max_headers ? o->max_headers
                                                                     : 16u << 10));
    evhttp_set_timeout(s->http, o->timeout_s > 0 ? o->timeout_s : 10);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    evhttp_set_default_content_type(s->http, "application/json");
    evhttp_set_gencb(s->http, on_request, s);
    errno = 0;
    s->sock = evhttp_bind_socket_with_handle(s->http, host, port);
    if (!s->sock) {
        int r = errno ? -errno : -EADDRNOTAVAIL;
        evhttp_free(s->http);
        free(s);
        return r;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(s->sock), (struct sockaddr *)&ss, &len) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    *ret = s;
    return 0;
}

void http_free(struct http_server *s)
{
    if (!s)
        return;
    evhttp_free(s->http); /* completes the requests in flight: their contexts are freed */
    for (size_t i = 0; i < s->nroutes; i++) {
        free(s->routes[i].name);
        free(s->routes[i].path);
    }
    free(s);
}

uint16_t http_port(const struct http_server *s)
{
    return s->port;
}

int http_route(struct http_server *s, const char *name, unsigned methods, const char *path,
               bool prefix, http_fn fn, void *ud)
{
    if (s->nroutes == HTTP_ROUTES_MAX || !path || path[0] != '/' || !fn)
        return -EINVAL;
    struct route *rt = &s->routes[s->nroutes];
    memset(rt, 0, sizeof(*rt));
    rt->name = strdup(name);
    rt->path = strdup(path);
    if (!rt->name || !rt->path) {
        free(rt->name);
        free(rt->path);
        return -ENOMEM;
    }
    rt->path_len = strlen(path);
    rt->methods = methods;
    rt->prefix = prefix;
    rt->fn = fn;
    rt->ud = ud;
    histogram_init(&rt->latency, latency_bounds, ELEMENTSOF(latency_bounds));
    s->nroutes++;
    return 0;
}

void http_reply(struct evhttp_request *req, int code, const char *content_type, const void *body,
                size_t len)
{
    struct evbuffer *out = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (content_type)
        evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (out && len)
        evbuffer_add(out, body, len);
    const char *reason = NULL;
    switch (code) {
    case 408:
        reason = "Request Timeout";
        break;
    case 413:
        reason = "Payload Too Large";
        break;
    case 422:
        reason = "Unprocessable Entity";
        break;
    case 429:
        reason = "Too Many Requests";
        break;
    default:
        break;
    }
    evhttp_send_reply(req, code, reason, out);
    if (out)
        evbuffer_free(out);
}

void http_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct sbuf b = SBUF_INIT;
    if (sbuf_adds(&b, "{\"error\":") >= 0 && sbuf_add_json_str(&b, msg, strlen(msg)) >= 0 &&
        sbuf_adds(&b, "}\n") >= 0)
        http_reply(req, code, "application/json", b.buf, b.len);
    else
        http_reply(req, code, "application/json", "{}\n", 3);
    sbuf_release(&b);
}

int http_metrics(const struct http_server *s, struct sbuf *b)
{
    int r = prom_family(b, "cadenza_http_requests_total", "counter",
                        "HTTP requests received, per route");
    for (size_t i = 0; i < s->nroutes && r >= 0; i++) {
        struct prom_label l = { "route", s->routes[i].name };
        r = prom_sample(b, "cadenza_http_requests_total", &l, 1, (double)s->routes[i].requests);
    }
    if (r >= 0) {
        struct prom_label l = { "route", "none" };
        r = prom_sample(b, "cadenza_http_requests_total", &l, 1, (double)s->not_found);
    }
    if (r >= 0)
        r = prom_family(b, "cadenza_http_request_duration_seconds", "histogram",
                        "Time from reading a request to its reply, per route");
    for (size_t i = 0; i < s->nroutes && r >= 0; i++) {
        const struct route *rt = &s->routes[i];
        struct prom_label l = { "route", rt->name };
        r = prom_histogram(b, "cadenza_http_request_duration_seconds", &l, 1, rt->latency.bounds,
                           rt->latency.buckets, rt->latency.n, rt->latency.count,
                           rt->latency.sum);
    }
    return r;
}
