/*
 * debtor.h - the debtor record as imported, its documented columns, and
 * the validation that turns one raw input row into a record.
 *
 * The column list is a public interface (docs/import.md): `cadenza sample`
 * writes it, `cadenza import debtors` reads it.  Append-only.
 */
#ifndef CADENZA_DEBTOR_H
#define CADENZA_DEBTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Input columns, in the order `cadenza sample` writes them. */
enum debtor_col {
    DCOL_ID,
    DCOL_NAME,
    DCOL_LOCALE,
    DCOL_TIME_ZONE,
    DCOL_COUNTRY,
    DCOL_REGION,
    DCOL_EMAIL,
    DCOL_PHONE,
    DCOL_CHAT_HANDLE,
    DCOL_BALANCE,        /* decimal in major units: "1234.56" */
    DCOL_CURRENCY,       /* ISO 4217 */
    DCOL_DUE_DATE,       /* YYYY-MM-DD */
    DCOL_PAYDAY,         /* 1..31, "last", or empty */
    DCOL_RISK_BAND,      /* A..E or empty */
    DCOL_SEGMENT,
    DCOL_TAGS,           /* ';'-separated */
    DCOL_FLAGS,          /* ';'-separated: hardship;dispute;cease;deceased;bankrupt;vulnerable */
    DCOL_CONSENT_EMAIL,  /* yes | no | empty (unknown) */
    DCOL_CONSENT_SMS,
    DCOL_CONSENT_CHAT,
    DCOL_CONSENT_CALL,
    DCOL_DO_NOT_CONTACT, /* "Mon-Fri 09:00-17:00; Sat 00:00-12:00" (times not to be contacted) */
    DCOL_PREFERRED_CHANNEL, /* email | sms | chat | call or empty */
    DCOL_PREFERS_HUMAN,  /* yes | no | empty */
    DCOL_AGE_BAND,       /* text up to 32 bytes ("18-24", "65+"): a model level */
    DCOL_EMPLOYMENT_TYPE, /* text up to 50 bytes ("employed", "self-employed"): a model level */
    _DCOL_MAX,
    _DCOL_INVALID = -1,  /* makes the enum signed: "from_name(...) < 0" works */
};
extern const char *const debtor_col_names[_DCOL_MAX];
enum debtor_col debtor_col_from_name(const char *s, size_t n); /* -1 when unknown */

/* Debtor flags: bits stored in the database, append-only. */
enum {
    DEBTOR_HARDSHIP = 1u << 0,
    DEBTOR_DISPUTE = 1u << 1,
    DEBTOR_CEASE = 1u << 2,
    DEBTOR_DECEASED = 1u << 3,
    DEBTOR_BANKRUPT = 1u << 4,
    DEBTOR_VULNERABLE = 1u << 5,
};

enum consent { CONSENT_UNKNOWN = 0, CONSENT_YES = 1, CONSENT_NO = 2 };

/* Phone number type as libphonenumber reports it; stored, append-only. */
enum phone_type {
    PHONE_NONE = 0,
    PHONE_MOBILE = 1,
    PHONE_FIXED_LINE = 2,
    PHONE_FIXED_OR_MOBILE = 3, /* e.g. US numbers: SMS-capable */
    PHONE_VOIP = 4,
    PHONE_OTHER = 5,           /* toll free, premium, pager, ... */
};
const char *phone_type_to_string(enum phone_type t);

/* Minor-unit digits of an ISO 4217 currency (EUR 2, JPY 0, KWD 3); -1 unknown. */
int currency_exponent(const char *code);

/* One weekday range the debtor asked not to be contacted in. */
struct dnc_range {
    uint8_t weekday_mask; /* bit 0 = Monday */
    int16_t start, end;   /* minutes, [start, end) */
};
#define DNC_MAX 8

/*
 * A validated debtor.  String pointers borrow from the raw row they were
 * validated from (or from the record's own small buffers) and live as long
 * as that row does.  Empty optional fields are NULL.
 */
struct debtor_rec {
    const char *external_id, *name, *locale, *time_zone, *country, *region;
    const char *email, *chat_handle, *currency, *risk_band, *segment, *tags;
    const char *do_not_contact;   /* normalised text as stored */
    const char *age_band, *employment_type; /* free text (model covariates) */
    char phone[20];               /* E.164, "" when none */
    uint8_t phone_type;           /* enum phone_type */
    int64_t balance_minor;
    int32_t due_date;             /* days since epoch */
    int8_t payday;                /* 0 unknown, 1..31, -1 = last day of month */
    uint32_t flags;
    uint8_t consent[_CHAN_KIND_MAX]; /* enum consent, indexed by chan_kind */
    int8_t preferred_channel;     /* enum chan_kind or -1 */
    int8_t prefers_human;         /* -1 unknown, 0 no, 1 yes */
    struct dnc_range dnc[DNC_MAX];
    uint8_t ndnc;
    uint64_t row_hash;            /* hash of the raw fields: unchanged rows skip */
    char dnc_buf[256];            /* holds the text do_not_contact points at */
};

/*
 * A raw row: field values by column (NULL/0 when the column is absent),
 * and the 1-based input line it started on.  debtor_validate() needs each
 * present field NUL-terminated at f[i][flen[i]] and, for the strings it
 * hands out in debtor_rec, trimmed (row_reader_next delivers both).
 */
struct raw_row {
    const char *f[_DCOL_MAX];
    size_t flen[_DCOL_MAX];
    long line;
};

/* Hash of the raw fields that define a debtor (stable, order-aware). */
uint64_t raw_row_hash(const struct raw_row *row);

/*
 * What a row leaves out (config `defaults:`; each may be NULL).  A missing
 * country is the phone number's region, else `country`; a missing zone is
 * the country's only zone, else `time_zone` where the country has that
 * zone (or the country is unknown to the tz database); a missing currency
 * is `currency`.  A row that still lacks one is rejected saying how to fix
 * it: a wrong zone would move every contact window.
 */
struct debtor_defaults {
    const char *time_zone, *currency, *country;
};

/*
 * Validate one raw row.  With def, complete it from def as above, so that
 * a valid row can be stored; def NULL checks the values given and nothing
 * else (a row may then lack its country or zone).  On failure returns
 * -EINVAL and writes a message naming the field and the reason into err
 * ("phone: '+1555' is not a valid number for US").  Strings in *ret borrow
 * from row and def.  May be called from several threads at once.
 */
int debtor_validate(const struct raw_row *row, const struct debtor_defaults *def,
                    struct debtor_rec *ret, char *err, size_t errlen);

#endif
