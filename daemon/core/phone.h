/*
 * phone.h - phone number checks over libphonenumber, callable from C.
 *
 * Thread-safe.  phone_init() loads the metadata up front (otherwise the
 * first call does); each region's patterns are compiled on first use.
 *
 * International input ("+", then digits with any of " -.()" between)
 * is checked against libphonenumber's metadata directly, about ten
 * times faster than its parser, with the same answers; anything else
 * goes through the parser.
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

/*
 * The region (ISO 3166 alpha-2) an E.164 number (as phone_check() wrote
 * it) belongs to, resolved from its digits where a calling code is shared
 * (+1 876... is JM).  -ENOENT for a non-geographic number.  Slower than
 * phone_check() (libphonenumber's parser): for rows that need it only.
 */
int phone_region(const char *e164, char out_region[3]);

/*
 * For tests.  phone_check_reference() is phone_check() through
 * libphonenumber's Parse alone.  phone_check_fast() is the metadata fast
 * path alone: -EAGAIN when it leaves the input to the slow path.
 * phone_examples() writes "+<cc> <nsn>" for each example number in the
 * metadata into out[0..max) and returns how many there are.
 */
int phone_check_reference(const char *input, size_t len, const char *region, char out_e164[20],
                          int *ret_type);
int phone_check_fast(const char *input, size_t len, char out_e164[20], int *ret_type);
size_t phone_examples(char (*out)[PHONE_E164_MAX + 4], size_t max);

#ifdef __cplusplus
}
#endif

#endif
