/*
 * selfservice.h - the self-service page behind every signed link
 * (docs/selfservice.md): GET /s/{token} shows the debt and what the
 * debtor may do; POST /s/{token} does it (promise a date, a payment plan,
 * move the due date to payday, dispute, stop a channel, state contact
 * preferences), each action an outcome stored through the outcome API's
 * path (serve.h: the store writer, then stop markers), so the planner
 * and the workers react at once.  POST /webhooks/payment takes the
 * creditor's payment notice for a link ("pay now") as a `paid` outcome.
 *
 * Rate limits per client address and per link, in memory and bounded.
 * Runs on the loop; reads the store through the loop's connection (a few
 * indexed lookups), never writes it but through the store writer.
 */
#ifndef CADENZA_SELFSERVICE_H
#define CADENZA_SELFSERVICE_H

#include "util.h"

struct serve;
struct selfservice;
struct evhttp_request;

int selfservice_new(struct serve *sv, struct selfservice **ret);
/* After the store writer is gone (its requests point at the page's state). */
void selfservice_free(struct selfservice *ss);

/* GET, HEAD or POST /s/<token> (token: what follows /s/), every link but the unsubscribe one. */
void selfservice_route(struct selfservice *ss, struct evhttp_request *req, const char *token);
/* POST /webhooks/payment (an http_fn; ud is the selfservice). */
void selfservice_route_payment(struct evhttp_request *req, const char *path, void *ud);

/* cadenza_selfservice_requests_total{result}, cadenza_selfservice_actions_total{action}. */
int selfservice_metrics(struct selfservice *ss, struct sbuf *b);

#endif
