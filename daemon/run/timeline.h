/*
 * timeline.h - a debtor's timeline as JSON (GET /v1/debtors/{id},
 * docs/api.md): the debtor with personal data masked, its contact state,
 * its attempts each with what allowed it (the strategy, variant, tier and
 * tier channel that listed it, the slot inside the tier's window and the
 * legal hours, the daily run or re-plan that planned it), its outcomes,
 * its tier transitions and its suppressions, newest first.
 */
#ifndef CADENZA_TIMELINE_H
#define CADENZA_TIMELINE_H

#include <stdint.h>

#include "util.h"

struct store;
struct tz_cache;

#define TIMELINE_LIMIT_DEFAULT 100
#define TIMELINE_LIMIT_MAX 1000

/*
 * The timeline of the debtor with this external id: at most `limit` rows
 * per list, appended to out as one JSON object and a newline.  zones
 * caches the debtors' time zones between calls.  A few indexed reads
 * (store_timeline_get()), no write.  0, -ENOENT (no such debtor), -errno.
 */
int timeline_json(struct store *s, struct tz_cache *zones, const char *external_id, int limit,
                  struct sbuf *out);

/*
 * Mask personal data for an answer or a log line: a name keeps each
 * word's first letter ("J*** D***"), an e-mail the first character of
 * its local part ("a***@example.com"), a phone number its first and last
 * three digits ("+34*****678"), a chat handle its first character.
 * Appends to out; -ENOMEM.
 */
int timeline_mask_name(const char *s, struct sbuf *out);
int timeline_mask_address(int kind, const char *s, struct sbuf *out);

#endif
