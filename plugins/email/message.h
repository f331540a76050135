/*
 * message.h - the pure parts of the e-mail channel: an RFC 5322 message
 * built from a rendered job (headers RFC 2047-encoded and folded, bodies
 * quoted-printable), the Date and Message-ID fields, address checks, and
 * the classification of an SMTP answer.  No I/O, no clock, no globals:
 * tests/unit/test-email.c checks every function with known answers.
 *
 * Included only by plugins/email/email.c and the unit test.
 */
#ifndef CADENZA_EMAIL_MESSAGE_H
#define CADENZA_EMAIL_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cadenza-plugin.h"

/* A growable byte buffer, NUL-terminated once it holds something; max caps it (0: none). */
struct em_buf {
    char *buf;
    size_t len, cap, max;
};

int em_buf_add(struct em_buf *b, const void *p, size_t n);
int em_buf_adds(struct em_buf *b, const char *s);
void em_buf_release(struct em_buf *b);

/*
 * Header lines are folded so that no line exceeds this many characters
 * (RFC 2047 section 2 limits lines holding encoded-words to 76); a line
 * never exceeds 998 (RFC 5322 section 2.1.1).
 */
#define EM_FOLD 76

/*
 * Append "Name: value" CRLF as an unstructured header (Subject, X-...).
 * Control characters in value become spaces (no header injection); a
 * value with non-ASCII bytes, "=?" or a word too long to fold is written
 * as UTF-8 encoded-words (RFC 2047: Q when shorter, else B), never
 * splitting a character, one encoded-word per line of at most EM_FOLD;
 * an ASCII value is folded at its spaces.  0 or -ENOMEM/-E2BIG.
 */
int em_add_unstructured(struct em_buf *b, const char *name, const char *value);

/*
 * Append "Name: display <addr>" CRLF (From, Reply-To).  An ASCII display
 * name is written as a quoted-string, another as encoded-words; without
 * one, "Name: addr".  addr must have passed em_addr_check().
 */
int em_add_mailbox(struct em_buf *b, const char *name, const char *display, const char *addr);

/*
 * Append text as quoted-printable (RFC 2045 section 6.7): line ends (LF or
 * CRLF) become CRLF hard breaks; lines are cut with soft breaks ("=" CRLF)
 * at 76 characters, never inside an =XX; "=", bytes outside printable
 * ASCII (UTF-8 included, byte by byte) and a space or tab before a line
 * end are encoded.  0 or -ENOMEM/-E2BIG.
 */
int em_add_qp(struct em_buf *b, const char *text, size_t n);

/* "Sat, 05 Dec 2026 21:27:04 +0000" (RFC 5322 section 3.3, UTC, C-locale names) into out[32]. */
void em_format_date(int64_t unix_ms, char out[32]);

/*
 * A check of an address used in an envelope and a header: a dot-atom
 * local part (at most 64) "@" a domain of letters, digits, '-' and '.'
 * (or an [address literal]), 254 at most.  0: fine; -EILSEQ: it holds
 * non-ASCII (needs SMTPUTF8, which is not offered); -EINVAL: malformed.
 */
int em_addr_check(const char *addr);

/*
 * Split a configured mailbox, "addr" or "Display Name <addr>" (the name
 * may be "quoted"), into its parts, copied into display[dsize] ("" when
 * none) and addr[asize].  0, or -EINVAL when malformed or too long.
 */
int em_mailbox_parse(const char *s, char *display, size_t dsize, char *addr, size_t asize);

/*
 * True for a URL that may stand in List-Unsubscribe as the RFC 8058
 * one-click link: "https://", printable ASCII without '<', '>' or '"',
 * at most 900 characters.
 */
bool em_unsubscribe_url_ok(const char *url);

/* Everything a message is made of; strings are UTF-8, borrowed. */
struct em_message {
    const char *from_display;     /* "" or NULL: none */
    const char *from_addr;
    const char *reply_to_display; /* with reply_to_addr */
    const char *reply_to_addr;    /* NULL: no Reply-To */
    const char *to;               /* the recipient's address (em_addr_check()ed) */
    const char *subject;          /* NULL: no Subject */
    const char *text;             /* the plain-text part (required) */
    const char *html;             /* NULL: a single text/plain part */
    const char *unsubscribe_url;  /* https one-click link (em_unsubscribe_url_ok), or NULL */
    const char *unsubscribe_mailto; /* an address, or NULL */
    const char *idempotency_key;  /* NULL: no header */
    int64_t attempt_id;
    int64_t date_ms;              /* Unix milliseconds for Date */
    const char *message_id;       /* "<local@domain>" */
    const char *boundary;         /* starts with "=_": cannot occur in quoted-printable */
};

/*
 * Append the whole message, CRLF line ends, no line over 998 characters:
 * Date, From, To, Reply-To, Subject, Message-ID, MIME-Version,
 * List-Unsubscribe (+ List-Unsubscribe-Post with an https link),
 * X-Cadenza-Idempotency-Key, X-Cadenza-Attempt, then a text/plain part or
 * multipart/alternative with text/plain first and text/html second, both
 * UTF-8 quoted-printable.  0 or -ENOMEM/-E2BIG (b->max).
 */
int em_message_build(struct em_buf *b, const struct em_message *m);

/*
 * "<cz.ATTEMPT.TRIES.MS.SEQ@domain>" into out[size], MS the wall
 * milliseconds and SEQ a per-instance sequence, both in base 36: unique per
 * attempt, try and instance.  0 or -E2BIG.
 */
int em_format_message_id(char *out, size_t size, int64_t attempt_id, int tries,
                         int64_t wall_ms, uint64_t seq, const char *domain);

/* What the SMTP answer means for the send (the table in message.c). */
struct em_verdict {
    enum cz_send_status status;
    bool auth;        /* the server refused our credentials: a configuration error */
};

/*
 * Classify a finished SMTP transaction: code is the server's last reply
 * code (0: none), error 0 when the message was accepted or a -errno, text
 * the server's or libcurl's words (may be NULL).
 */
struct em_verdict em_classify(int code, int error, const char *text);

#endif
