/*
 * prefs.h - what a debtor states about being contacted, on the
 * self-service page (docs/selfservice.md):
 *
 *   hard constraints  times not to be contacted (per channel kind, weekday
 *                     and hour range); "I'd rather talk to a person" (no
 *                     bot, no automated message where a person can call)
 *   strong priors     a preferred channel, preferred hours
 *   the language      messages and the page are written in
 *   a due date        moved to payday (while the imported one is unchanged)
 *
 * and the schedule of a payment plan.  The planner reads struct prefs
 * (planner.h); the store keeps the text forms (debtor_prefs, docs/schema.md).
 * Pure: no I/O, no clock, no allocation.
 */
#ifndef CADENZA_PREFS_H
#define CADENZA_PREFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define PREFS_RANGES_MAX 8
/* Channel kinds a person is reached on: what "all" means in a range (letters are not). */
#define PREFS_PERSON_KINDS 0x0fu /* email, sms, chat, call */

/* A weekly range: on these weekdays, [start, end) local minutes, for these kinds. */
struct prefs_range {
    uint8_t kinds;       /* bit per enum chan_kind (ignored for preferred hours) */
    uint8_t days;        /* bit 0 = Monday ... bit 6 = Sunday */
    int16_t start, end;  /* minutes after local midnight, 0 <= start < end <= 1440 */
};

struct prefs {
    int8_t channel;      /* preferred channel kind (enum chan_kind), -1: not stated */
    int8_t human;        /* 1: rather talk to a person, 0: no, -1: not stated */
    char language[8];    /* "es", "en"; "": not stated */
    uint8_t nforbid, nprefer;
    struct prefs_range forbid[PREFS_RANGES_MAX]; /* hard: never contact then */
    struct prefs_range prefer[PREFS_RANGES_MAX]; /* strong prior: the hours they like */
    int32_t due_from, due_to; /* due date moved from due_from to due_to (days since epoch);
                                 0: not moved.  Applies while the imported due date is
                                 due_from (a newer import supersedes it). */
};

/* Nothing stated. */
void prefs_init(struct prefs *p);
bool prefs_empty(const struct prefs *p);

/*
 * Ranges as text, ';'-separated, each "[KINDS ]DAYS HH:MM-HH:MM":
 * KINDS (with_kinds only) "all" or a comma list of email, sms, chat,
 * call; DAYS "daily", "Mon-Fri", "Sat,Sun", "Tue" (ranges and lists of
 * English three-letter days); 24:00 as an end.  "" is no range.  Parse
 * returns 0, or -EINVAL for text that is not this form (nothing written),
 * -E2BIG for more than PREFS_RANGES_MAX ranges.
 */
int prefs_ranges_parse(const char *s, bool with_kinds, struct prefs_range *v, uint8_t *ret_n);
int prefs_ranges_format(const struct prefs_range *v, size_t n, bool with_kinds, struct sbuf *out);
/* "Mon-Fri", "Sat,Sun", "daily" (buf >= 32). */
void prefs_days_format(uint8_t days, char *buf, size_t len);

/* Is kind forbidden at local minute `minute` of weekday `wd` (0 = Monday)? */
bool prefs_forbids(const struct prefs *p, int kind, int wd, int minute);
/* Does the minute fall in a preferred range? */
bool prefs_prefers(const struct prefs *p, int wd, int minute);
/* Add a range (merging nothing); -E2BIG when full, -EINVAL when malformed. */
int prefs_range_add(struct prefs_range *v, uint8_t *n, struct prefs_range r);

/* ---- payment plans ---- */

#define PLAN_INSTALMENTS_MAX 60
struct plan_instalment {
    int32_t day;          /* due date, days since epoch */
    int64_t amount_minor;
};

/*
 * n equal instalments of total (minor units), the first on day `first`,
 * then monthly on the same day of the month (the month's last day when it
 * is shorter); the division's remainder goes on the first.  -EINVAL when
 * n is not 2..PLAN_INSTALMENTS_MAX or total < n.
 */
int prefs_plan_schedule(int64_t total, int n, int32_t first, struct plan_instalment *out);
/*
 * The instalment a plan waits for: the first whose running total is not
 * covered by paid (minor units paid since it was agreed); n when all are.
 */
size_t prefs_plan_next(const struct plan_instalment *v, size_t n, int64_t paid);

#endif
