/*
 * webhooks.h - the providers' callbacks to `cadenza serve`: delivery
 * reports, status callbacks and dispositions of the channels the plugins
 * talk to (docs/daemon.md, "HTTP endpoints").
 */
#ifndef CADENZA_WEBHOOKS_H
#define CADENZA_WEBHOOKS_H

struct http_server;
struct serve;

/* Add the callbacks' routes to the server.  0, or -ENOMEM. */
int webhooks_routes(struct serve *sv, struct http_server *http);

#endif
