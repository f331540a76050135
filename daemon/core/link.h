/*
 * link.h - signed self-service links (docs/links.md).
 *
 * A token names one attempt, one debtor and one action until an expiry:
 *
 *     v1.<key id>.<payload>.<signature>
 *
 * payload and signature are base64url without padding (RFC 4648 section
 * 5); the signature is HMAC-SHA256 over "v1.<key id>.<payload>" with the
 * key of that id.  Keys come from the `links:` section of cadenza.yaml, so
 * a new key can sign while the old ones still verify until their links
 * expire.  Pure functions: no clock (now is an argument), no I/O except
 * link_conf_load() reading the secret files it is told about.
 */
#ifndef CADENZA_LINK_H
#define CADENZA_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "util.h"
#include "ynode.h"

/* What a link lets the debtor do.  Codes are in tokens: append-only. */
enum link_action {
    LINK_PAY = 0,         /* pay the balance now */
    LINK_PLAN = 1,        /* set up a payment plan */
    LINK_PROMISE = 2,     /* promise to pay on a date */
    LINK_OPT_OUT = 3,     /* stop this channel (the page asks to confirm) */
    LINK_PREFERENCES = 4, /* the self-service page: channels, hours, due date */
    LINK_UNSUBSCRIBE = 5, /* e-mail List-Unsubscribe one-click (RFC 8058 POST) */
    _LINK_ACTION_MAX,
    _LINK_ACTION_INVALID = -22,
};
const char *link_action_to_string(enum link_action a);
enum link_action link_action_from_string(const char *s);

#define LINK_KEY_ID_MAX 16      /* [A-Za-z0-9_-], 1 to 16 characters */
#define LINK_SECRET_MIN 32      /* bytes: HMAC-SHA256's output size (RFC 2104) */
#define LINK_SECRET_MAX 1024
#define LINK_DEBTOR_MAX 64      /* bytes, as debtor ids (docs/import.md) */
#define LINK_TTL_MAX (5 * 366 * 86400LL)
#define LINK_TOKEN_MAX 256      /* the longest token link_make() can write, NUL included */
#define LINK_BASE_URL_MAX 512

/* The claims of a verified token. */
struct link_claims {
    char key_id[LINK_KEY_ID_MAX + 1];
    enum link_action action;
    int64_t attempt_id;                 /* > 0 */
    char debtor_id[LINK_DEBTOR_MAX + 1]; /* "" when the token names none */
    int64_t expires;                    /* Unix seconds: invalid from this second on */
};

struct link_key {
    char *id;
    unsigned char *secret;
    size_t secret_len;
    int line, col; /* where it was configured (0 for keys added by code) */
    void *hmac;    /* the HMAC state prepared for the secret (link.c); read-only after add */
};

/* The `links:` section: base URL, keys by id, the signing key, TTLs. */
struct link_conf {
    char *base_url;      /* "https://pay.example.com" (no trailing '/') */
    struct link_key *keys;
    size_t nkeys;
    char *current_key;   /* id of the key new links are signed with */
    int64_t ttl[_LINK_ACTION_MAX]; /* seconds, per action */
};

/* An empty set with the default TTLs; NULL on OOM. */
struct link_conf *link_conf_new(void);
void link_conf_free(struct link_conf *c);
/*
 * Add a key (copies id and secret); the first key added becomes the
 * current one unless one is set.  -EINVAL for a bad id or a secret
 * shorter than LINK_SECRET_MIN, -EEXIST for a repeated id, -ENOMEM.
 */
int link_conf_add_key(struct link_conf *c, const char *id, const void *secret, size_t len);
/* Set base_url ("https://host[:port][/path]"); -EINVAL when it is not one. */
int link_conf_set_base_url(struct link_conf *c, const char *url);
const struct link_key *link_conf_key(const struct link_conf *c, const char *id);

/*
 * Load the `links:` mapping n of a configuration file.  Relative
 * secret_file paths are resolved against dir.  Every problem goes to d
 * (file:line:col); -EINVAL when there was one, -ENOMEM.  *ret is written
 * only on success.  Reads secret files and the environment.
 */
int link_conf_load(const struct ynode *n, const char *dir, struct link_conf **ret,
                   struct diags *d);

/* Parse a duration: "3600", "90s", "45m", "12h", "30d"; -EINVAL / -ERANGE. */
int link_parse_duration(const char *s, int64_t *ret);

/*
 * Make a token for attempt_id (> 0), debtor_id (NULL or "": none; at most
 * LINK_DEBTOR_MAX bytes, no control characters) and action, valid until
 * expires (Unix seconds, > 0), signed with key_id (NULL: the current key).
 * Writes the NUL-terminated token to buf (LINK_TOKEN_MAX is always
 * enough).  -EINVAL bad argument, -ENOKEY no such key, -ENOBUFS buf too
 * small, -EIO the crypto library failed.
 */
int link_make(const struct link_conf *c, const char *key_id, int64_t attempt_id,
              const char *debtor_id, enum link_action action, int64_t expires, char *buf,
              size_t len);

/*
 * The full URL for an attempt and action: base_url + "/s/" + token, with
 * the action's TTL from now.  Appended to out.  Errors as link_make(),
 * -ENOENT when no base_url is configured.
 */
int link_url(const struct link_conf *c, int64_t attempt_id, const char *debtor_id,
             enum link_action action, int64_t now, struct sbuf *out);

/*
 * Verify token[0..len) at time now (a URL is not a token: pass what
 * follows its last '/').  0 and *ret_claims on success, else one of
 *   -EBADMSG          malformed: wrong length, shape, alphabet or payload
 *   -EPROTONOSUPPORT  a version other than v1
 *   -ENOKEY           the key id is not configured
 *   -EKEYREJECTED     bad signature (tampered, or signed with another secret)
 *   -EKEYEXPIRED      authentic but expired (*ret_claims is still written)
 * Lengths are checked before anything is decoded; the signature is
 * compared in constant time, before the payload is read.
 */
int link_verify(const struct link_conf *c, const char *token, size_t len, int64_t now,
                struct link_claims *ret_claims);
/* "malformed token", "bad signature", ... for the codes above. */
const char *link_strerror(int r);

/* base64url without padding (exposed for tests and for the plugins' host). */
size_t link_b64_encode(const void *src, size_t n, char *dst /* [4*ceil(n/3)+1] */);
/* Strict: the alphabet only, no padding, canonical trailing bits; -EBADMSG. */
int link_b64_decode(const char *src, size_t n, void *dst, size_t dstlen, size_t *ret_len);

/* HMAC-SHA256 (RFC 2104 / FIPS 198-1) through libcrypto; -EIO on failure. */
int link_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
                     unsigned char out[32]);

#endif
