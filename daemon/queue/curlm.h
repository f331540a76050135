/*
 * curlm.h - the one libcurl multi handle of a process, driven by its
 * libevent loop (curl's socket interface: libcurl says which sockets to
 * watch and when to time out; the loop tells it what happened).  Every HTTP
 * and SMTP request of the channel plugins goes through it, so connections
 * are reused and nothing blocks the loop.
 */
#ifndef CADENZA_CURLM_H
#define CADENZA_CURLM_H

#include <curl/curl.h>

struct event_base;
struct curlm;

/* Called once per finished transfer, after it left the multi handle; the
 * callee owns easy again (and usually frees it). */
typedef void (*curlm_done_fn)(void *userdata, CURL *easy, CURLcode result);

int curlm_new(struct event_base *base, struct curlm **ret);
/* Cancels every transfer still running, without their callbacks; NULL is fine. */
void curlm_free(struct curlm *m);

/*
 * Start a transfer the caller set up.  0: done runs exactly once, from the
 * loop (never inside this call).  < 0: not started, done never runs.
 */
int curlm_add(struct curlm *m, CURL *easy, curlm_done_fn done, void *userdata);
/* Stop a transfer started here, without its callback; the caller owns easy again. */
void curlm_cancel(struct curlm *m, CURL *easy);

/* Transfers running now. */
unsigned curlm_running(const struct curlm *m);

#endif
