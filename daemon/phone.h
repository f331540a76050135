/*
 * phone.h - phone number checks over libphonenumber, callable from C.
 *
 * Thread-safe once phone_init() has run (call it before starting threads).
 */
#ifndef CADENZA_PHONE_H
#define CADENZA_PHONE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PHONE_E164_MAX 20 /* "+" + at most 15 digits + NUL, with room */

/* Load the metadata once.  Idempotent; returns 0. */
int phone_init(void);

/*
 * Check one number.  input[0..len) is either international ("+34 612
 * 345 678", "+34612345678") or national for region (ISO 3166 alpha-2,
 * may be NULL/"" when unknown: then only international input can pass).
 * On success writes the E.164 form into out_e164 and the enum phone_type
 * (debtor.h) into *ret_type and returns 0; returns -EINVAL when the
 * number is not valid.  Never blocks, never throws.
 */
int phone_check(const char *input, size_t len, const char *region, char out_e164[20],
                int *ret_type);

#ifdef __cplusplus
}
#endif

#endif
