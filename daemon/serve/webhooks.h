/*
 * webhooks.h - the providers' callbacks to `cadenza serve`: delivery
 * reports, status callbacks and dispositions of the channels the plugins
 * talk to, WhatsApp's webhooks, and the messages debtors send (STOP
 * words) (docs/daemon.md, "HTTP endpoints").
 */
#ifndef CADENZA_WEBHOOKS_H
#define CADENZA_WEBHOOKS_H

struct http_server;
struct sbuf;
struct serve;

/* Add the callbacks' routes to the server.  0, or -ENOMEM. */
int webhooks_routes(struct serve *sv, struct http_server *http);
/* Their figures, in Prometheus text (docs/daemon.md, "Metrics"). */
int webhooks_metrics(struct serve *sv, struct sbuf *b);

#endif
