/*
 * test-email.c - the pure parts of the e-mail channel (plugins/email/
 * message.c): quoted-printable and RFC 2047 with known answers and with
 * decoders of their own that check every line and round trip, the Date
 * field under a foreign locale, addresses, a whole message byte for byte,
 * and the table that classifies SMTP answers.
 */
#include <errno.h>
#include <locale.h>
#include <stdbool.h>
#include <string.h>

#include "../../plugins/email/message.h"
#include "testlib.h"

/*
 * The allocator fails its Nth call from here on (-1: never).  The test is
 * linked with --wrap for realloc and strdup, the only allocations in
 * message.c, so only its calls (and this file's) come through here.
 */
static long alloc_fail_at = -1, alloc_calls;
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

void *__wrap_realloc(void *p, size_t n)
{
    if (alloc_fail_at >= 0 && alloc_calls++ >= alloc_fail_at)
        return NULL;
    return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    if (alloc_fail_at >= 0 && alloc_calls++ >= alloc_fail_at)
        return NULL;
    return __real_strdup(s);
}

/* ---- small decoders, written from the RFCs, to check round trips ---- */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * Decode quoted-printable into out (CRLF kept as LF), checking what an
 * encoder must never write: a line over 76, a bare CR or LF, lowercase
 * hex, a raw '=' or byte outside printable ASCII, trailing whitespace.
 * false on any of those.
 */
static bool qp_decode_strict(const char *in, char *out, size_t osize)
{
    size_t o = 0;
    const char *p = in;
    while (*p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            eol = p + strlen(p); /* the last line without a line end */
        size_t len = (size_t)(eol - p);
        if (len > 76 || memchr(p, '\n', len) || memchr(p, '\r', len))
            return false;
        bool soft = len && p[len - 1] == '=';
        size_t body = soft ? len - 1 : len;
        if (!soft && body && (p[body - 1] == ' ' || p[body - 1] == '\t'))
            return false;
        for (size_t i = 0; i < body; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c == '=') {
                if (i + 2 >= body + (soft ? 0 : 1) || hexval(p[i + 1]) < 0 || hexval(p[i + 2]) < 0)
                    return false;
                c = (unsigned char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
                i += 2;
            } else if (!(c == ' ' || c == '\t' || (c >= 33 && c <= 126))) {
                return false;
            }
            if (o + 1 >= osize)
                return false;
            out[o++] = (char)c;
        }
        if (!*eol)
            break;
        if (!soft) {
            if (o + 1 >= osize)
                return false;
            out[o++] = '\n';
        }
        p = eol + 2;
    }
    out[o] = 0;
    return true;
}

static int b64val(char c)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *f = c ? strchr(a, c) : NULL;
    return f ? (int)(f - a) : -1;
}

/* Is s[0..n) whole UTF-8 characters (invariant 3)? */
static bool utf8_whole(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = s[i] < 0x80 ? 1 : (s[i] & 0xe0) == 0xc0 ? 2 : (s[i] & 0xf0) == 0xe0 ? 3 : 4;
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

/*
 * Decode one header line group "Name: value" CRLF (folded) written by
 * em_add_unstructured(): unfold, decode encoded-words (whitespace between
 * two of them dropped), check every physical line <= 76 when it holds an
 * encoded-word, and that each word is whole characters.  The value goes
 * to out; false on a violation.
 */
static bool header_decode_strict(const char *h, const char *name, char *out, size_t osize)
{
    size_t nl = strlen(name);
    if (strncmp(h, name, nl) != 0 || strncmp(h + nl, ": ", 2) != 0)
        return false;
    size_t hl = strlen(h);
    if (hl < 2 || strcmp(h + hl - 2, "\r\n") != 0)
        return false;
    /* physical lines */
    for (const char *p = h; p < h + hl;) {
        const char *e = strstr(p, "\r\n");
        if ((size_t)(e - p) > 998 || memchr(p, '\n', (size_t)(e - p)) ||
            memchr(p, '\r', (size_t)(e - p)))
            return false;
        if (memmem(p, (size_t)(e - p), "=?", 2) && e - p > 76)
            return false;
        p = e + 2;
        if (p < h + hl && *p != ' ' && *p != '\t')
            return false; /* a continuation must start with whitespace */
    }
    /* unfold: drop CRLF before whitespace */
    char un[4096];
    size_t u = 0;
    for (const char *p = h + nl + 2; p < h + hl - 2; p++) {
        if (p[0] == '\r' && p[1] == '\n') {
            p++;
            continue;
        }
        if (u + 1 >= sizeof(un))
            return false;
        un[u++] = *p;
    }
    un[u] = 0;
    size_t o = 0;
    bool prev_word = false;
    for (const char *p = un; *p;) {
        if (strncmp(p, "=?UTF-8?", 8) == 0 && (p[8] == 'B' || p[8] == 'Q') && p[9] == '?') {
            char enc = p[8];
            const char *s = p + 10, *e = strstr(s, "?=");
            if (!e || e - p > 75)
                return false;
            size_t start = o;
            if (enc == 'B') {
                if ((e - s) % 4)
                    return false;
                for (const char *q = s; q < e; q += 4) {
                    int v[4];
                    for (int k = 0; k < 4; k++)
                        v[k] = q[k] == '=' ? 0 : b64val(q[k]);
                    if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
                        return false;
                    unsigned w = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
                    int nb = q[2] == '=' ? 1 : q[3] == '=' ? 2 : 3;
                    for (int k = 0; k < nb; k++) {
                        if (o + 1 >= osize)
                            return false;
                        out[o++] = (char)((w >> (16 - 8 * k)) & 0xff);
                    }
                }
            } else {
                for (const char *q = s; q < e; q++) {
                    char c = *q;
                    if (c == '_')
                        c = ' ';
                    else if (c == '=') {
                        if (hexval(q[1]) < 0 || hexval(q[2]) < 0)
                            return false;
                        c = (char)(hexval(q[1]) * 16 + hexval(q[2]));
                        q += 2;
                    } else if (c == ' ' || c == '?' || (unsigned char)c >= 0x7f)
                        return false;
                    if (o + 1 >= osize)
                        return false;
                    out[o++] = c;
                }
            }
            if (!utf8_whole((const unsigned char *)out + start, o - start))
                return false;
            p = e + 2;
            prev_word = true;
            continue;
        }
        if (prev_word && (*p == ' ' || *p == '\t')) {
            const char *q = p;
            while (*q == ' ' || *q == '\t')
                q++;
            if (strncmp(q, "=?UTF-8?", 8) == 0) {
                p = q; /* whitespace between encoded-words is not text */
                continue;
            }
        }
        prev_word = false;
        if (o + 1 >= osize)
            return false;
        out[o++] = *p++;
    }
    out[o] = 0;
    return true;
}

/* ---- quoted-printable ---- */

static const char *qp(const char *in)
{
    static struct em_buf b;
    em_buf_release(&b);
    if (em_add_qp(&b, in, strlen(in)) < 0)
        return NULL;
    return b.buf ? b.buf : "";
}

static void test_qp_known(void)
{
    CHECK_STR(qp("plain ascii"), "plain ascii");
    CHECK_STR(qp("a = b"), "a =3D b");
    CHECK_STR(qp("trailing space \nand tab\t\nlast "),
              "trailing space=20\r\nand tab=09\r\nlast=20");
    CHECK_STR(qp("inner  spaces\tkept"), "inner  spaces\tkept");
    CHECK_STR(qp("Débora 1.234,56 €"), "D=C3=A9bora 1.234,56 =E2=82=AC");
    CHECK_STR(qp("crlf\r\nlf\nend\n"), "crlf\r\nlf\r\nend\r\n");
    CHECK_STR(qp("bare\rcr"), "bare=0Dcr");
    CHECK_STR(qp("\x01\x7f"), "=01=7F");
    /* 75 characters and a soft break fill a line of 76 */
    CHECK_STR(qp("0123456789012345678901234567890123456789012345678901234567890123456789"
                 "0123456789"),
              "0123456789012345678901234567890123456789012345678901234567890123456789"
              "01234=\r\n56789");
    /* exactly 76 on a line that ends there: no soft break */
    CHECK_STR(qp("0123456789012345678901234567890123456789012345678901234567890123456789"
                 "012345\nx"),
              "0123456789012345678901234567890123456789012345678901234567890123456789"
              "012345\r\nx");
    /* an =XX is never split: it moves to the next line whole */
    CHECK_STR(qp("012345678901234567890123456789012345678901234567890123456789012345678901"
                 "23é"),
              "012345678901234567890123456789012345678901234567890123456789012345678901"
              "23=\r\n=C3=A9");
    /* a trailing space at a soft break stays a space, the last one is encoded */
    CHECK_STR(qp("01234567890123456789012345678901234567890123456789012345678901234567890123"
                 "4 6 "),
              "01234567890123456789012345678901234567890123456789012345678901234567890123"
              "4=\r\n 6=20");
}

static void test_qp_roundtrip(void)
{
    static const char *const cases[] = {
        "",
        "=",
        "==============================================================================",
        "ñññññññññññññññññññññññññññññññññññññññññññññññññññññññññññññññññññññññññ",
        "word word word word word word word word word word word word word word word ",
        "tabs\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t",
        ".\n..\nFrom here\n\n\n",
        "emoji 😀 at col 74 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx😀😀😀 ",
        "https://pay.example.com/s/v1.k2026.AZWa7zqA2dvZBkQwOTEyMTc5NjE1ODYy.lPaR5fb0KHDmRXzIRk"
        "tAXbeS7YSKKgTCCrha4_tffqw",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t cut = 0; cut < 80; cut++) {
            /* shift every case across the 76-column boundary */
            char in[512], want[512], dec[512];
            memset(in, 'p', cut);
            snprintf(in + cut, sizeof(in) - cut, "%s", cases[i]);
            const char *enc = qp(in);
            CHECK(enc != NULL);
            if (!enc)
                continue;
            bool ok = qp_decode_strict(enc, dec, sizeof(dec));
            /* the decoder turns line ends into LF; so does the expectation */
            size_t w = 0;
            for (const char *p = in; *p; p++)
                if (!(p[0] == '\r' && p[1] == '\n'))
                    want[w++] = *p;
            want[w] = 0;
            if (!ok || strcmp(dec, want) != 0) {
                fprintf(stderr, "case %zu cut %zu: %s\n", i, cut, enc);
                CHECK(ok);
                CHECK_STR(dec, want);
            }
        }
    }
}

/* ---- RFC 2047 headers ---- */

static const char *unstructured(const char *name, const char *value)
{
    static struct em_buf b;
    em_buf_release(&b);
    if (em_add_unstructured(&b, name, value) < 0)
        return NULL;
    return b.buf;
}

static void test_rfc2047_known(void)
{
    CHECK_STR(unstructured("Subject", "Your payment is overdue"),
              "Subject: Your payment is overdue\r\n");
    /* mostly ASCII: Q is shorter */
    CHECK_STR(unstructured("Subject", "Your payment of €1,234.56 is overdue"),
              "Subject: =?UTF-8?Q?Your_payment_of_=E2=82=AC1=2C234=2E56_is_overdue?=\r\n");
    /* much non-ASCII: B is shorter; folded, no character split */
    CHECK_STR(unstructured("Subject", "日本語のテキストです。お支払いをお願いします。"),
              "Subject: =?UTF-8?B?5pel5pys6Kqe44Gu44OG44Kt44K544OI44Gn44GZ44CC44GK5pSv?=\r\n"
              " =?UTF-8?B?5omV44GE44KS44GK6aGY44GE44GX44G+44GZ44CC?=\r\n");
    CHECK_STR(unstructured("Subject", "Débora, tu pago de 1.234,56 € está pendiente"),
              "Subject: =?UTF-8?B?RMOpYm9yYSwgdHUgcGFnbyBkZSAxLjIzNCw1NiDigqwgZXN0w6Eg?=\r\n"
              " =?UTF-8?B?cGVuZGllbnRl?=\r\n");
    /* long ASCII: folded at a space */
    CHECK_STR(unstructured("Subject", "Reminder: your balance is due on 31/12/2026, please pay "
                                      "now or call us at the number below"),
              "Subject: Reminder: your balance is due on 31/12/2026, please pay now or call\r\n"
              " us at the number below\r\n");
    /* "=?" in ASCII text would read as an encoded-word: encode it (B is shorter here) */
    CHECK_STR(unstructured("Subject", "a =?b?="), "Subject: =?UTF-8?B?YSA9P2I/PQ==?=\r\n");
    /* invariant 2: no header injection */
    CHECK_STR(unstructured("Subject", "Hi\r\nBcc: all@example.com"),
              "Subject: Hi  Bcc: all@example.com\r\n");
    CHECK_STR(unstructured("Subject", "¡Hola!\nBcc: x"),
              "Subject: =?UTF-8?Q?=C2=A1Hola!_Bcc=3A_x?=\r\n");
}

static void test_rfc2047_roundtrip(void)
{
    static const char *const cases[] = {
        "Débora, tu pago de 1.234,56 € está pendiente desde el 31/12/2026: págalo hoy mismo",
        "Ñandú ñandú ñandú ñandú ñandú ñandú ñandú ñandú ñandú ñandú ñandú ñandú ñandú",
        "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
        "€", "a€", "ab€", "abc€",
        "mixed ascii and ü at the end of a long line that needs folding somewhere ü",
        "Ελληνικά κείμενα για τη δοκιμή της κωδικοποίησης των επικεφαλίδων μηνυμάτων",
    };
    const char *names[] = { "Subject", "X-Cadenza-Idempotency-Key" };
    for (size_t n = 0; n < 2; n++)
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            for (size_t pre = 0; pre < 8; pre++) {
                char in[512], out[1024];
                memset(in, 'x', pre);
                snprintf(in + pre, sizeof(in) - pre, "%s", cases[i]);
                const char *h = unstructured(names[n], in);
                CHECK(h != NULL);
                if (!h)
                    continue;
                bool ok = header_decode_strict(h, names[n], out, sizeof(out));
                if (!ok || strcmp(out, in) != 0) {
                    fprintf(stderr, "%s: %s", in, h);
                    CHECK(ok);
                    CHECK_STR(out, in);
                }
            }
        }
}

static void test_mailbox(void)
{
    struct em_buf b = { 0 };
    CHECK_INT(em_add_mailbox(&b, "From", "Cobros Acme", "cobros@acme.example"), 0);
    CHECK_INT(em_add_mailbox(&b, "From", "Acme \"Billing\" \\ Dept", "b@acme.example"), 0);
    CHECK_INT(em_add_mailbox(&b, "Reply-To", "Atención al cliente", "ayuda@acme.example"), 0);
    CHECK_INT(em_add_mailbox(&b, "From", "", "bare@acme.example"), 0);
    CHECK_STR(b.buf, "From: \"Cobros Acme\" <cobros@acme.example>\r\n"
                     "From: \"Acme \\\"Billing\\\" \\\\ Dept\" <b@acme.example>\r\n"
                     "Reply-To: =?UTF-8?Q?Atenci=C3=B3n_al_cliente?= <ayuda@acme.example>\r\n"
                     "From: bare@acme.example\r\n");
    em_buf_release(&b);

    char d[64], a[64];
    CHECK_INT(em_mailbox_parse("billing@acme.example", d, sizeof(d), a, sizeof(a)), 0);
    CHECK_STR(d, "");
    CHECK_STR(a, "billing@acme.example");
    CHECK_INT(em_mailbox_parse("  Cobros Acme  <cobros@acme.example> ", d, sizeof(d), a,
                               sizeof(a)), 0);
    CHECK_STR(d, "Cobros Acme");
    CHECK_STR(a, "cobros@acme.example");
    CHECK_INT(em_mailbox_parse("\"Acme, \\\"Billing\\\"\" <b@acme.example>", d, sizeof(d), a,
                               sizeof(a)), 0);
    CHECK_STR(d, "Acme, \"Billing\"");
    CHECK_INT(em_mailbox_parse("Señora <s@acme.example>", d, sizeof(d), a, sizeof(a)), 0);
    CHECK_STR(d, "Señora");
    CHECK_INT(em_mailbox_parse("Name <nope>", d, sizeof(d), a, sizeof(a)), -EINVAL);
    CHECK_INT(em_mailbox_parse("Name <a@b.example", d, sizeof(d), a, sizeof(a)), -EINVAL);
    CHECK_INT(em_mailbox_parse("Name <a@b.example> x", d, sizeof(d), a, sizeof(a)), -EINVAL);
    CHECK_INT(em_mailbox_parse("", d, sizeof(d), a, sizeof(a)), -EINVAL);
    CHECK_INT(em_mailbox_parse("x@a.example", d, sizeof(d), a, 5), -EINVAL);
}

static void test_addr_check(void)
{
    static const struct {
        const char *addr;
        int want;
    } t[] = {
        { "debtor1@example.com", 0 },
        { "first.last+tag@sub.example.co.uk", 0 },
        { "o'brien@example.ie", 0 },
        { "x@localhost", 0 },
        { "x@[127.0.0.1]", 0 },
        { "müller@example.de", -EILSEQ },
        { "x@bücher.example", -EILSEQ },
        { "", -EINVAL },
        { "no-at.example.com", -EINVAL },
        { "@example.com", -EINVAL },
        { "x@", -EINVAL },
        { ".x@example.com", -EINVAL },
        { "x.@example.com", -EINVAL },
        { "x..y@example.com", -EINVAL },
        { "x y@example.com", -EINVAL },
        { "x@exa mple.com", -EINVAL },
        { "x@example..com", -EINVAL },
        { "x@-example.com", -EINVAL },
        { "x@example.com\r\nBcc: y@example.com", -EINVAL },
        { "<x@example.com>", -EINVAL },
        { "x@example.com>", -EINVAL },
        { "a@b@example.com", -EINVAL },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int r = em_addr_check(t[i].addr);
        if (r != t[i].want)
            fprintf(stderr, "address '%s'\n", t[i].addr);
        CHECK_INT(r, t[i].want);
    }
    char local[80];
    memset(local, 'a', 65);
    strcpy(local + 65, "@x.example");
    CHECK_INT(em_addr_check(local), -EINVAL); /* local part over 64 */
    local[1] = '@';
    local[2] = 0;
    CHECK_INT(em_addr_check(local), -EINVAL);

    CHECK(em_unsubscribe_url_ok("https://pay.example.com/s/v1.k1.abc.def"));
    CHECK(!em_unsubscribe_url_ok("http://pay.example.com/s/x"));
    CHECK(!em_unsubscribe_url_ok("https://"));
    CHECK(!em_unsubscribe_url_ok("https://x.example/a>b"));
    CHECK(!em_unsubscribe_url_ok("https://x.example/a b"));
    CHECK(!em_unsubscribe_url_ok("https://x.example/\r\nBcc: y"));
}

/* ---- Date and Message-ID ---- */

static void test_date(void)
{
    /* the names stay English whatever the locale (invariant 5) */
    const char *locales[] = { "C", "es_ES.UTF-8", "de_DE.UTF-8", "" };
    for (size_t i = 0; i < sizeof(locales) / sizeof(locales[0]); i++) {
        setlocale(LC_ALL, locales[i]);
        char d[32];
        em_format_date(1796505600123LL, d);
        CHECK_STR(d, "Sat, 05 Dec 2026 21:20:00 +0000");
        em_format_date(0, d);
        CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 +0000");
        em_format_date(1709251199999LL, d);
        CHECK_STR(d, "Thu, 29 Feb 2024 23:59:59 +0000");
        em_format_date(1719835200000LL, d);
        CHECK_STR(d, "Mon, 01 Jul 2024 12:00:00 +0000");
        em_format_date(-1, d); /* a millisecond before the epoch */
        CHECK_STR(d, "Wed, 31 Dec 1969 23:59:59 +0000");
    }
    setlocale(LC_ALL, "C");
}

static void test_message_id(void)
{
    char id[128];
    CHECK_INT(em_format_message_id(id, sizeof(id), 42, 0, 1796505600123LL, 0, "acme.example"),
              0);
    CHECK_STR(id, "<cz.42.0.mxax1sor.0@acme.example>");
    char id2[128];
    CHECK_INT(em_format_message_id(id2, sizeof(id2), 42, 0, 1796505600123LL, 1, "acme.example"),
              0);
    CHECK(strcmp(id, id2) != 0);
    CHECK_INT(em_format_message_id(id2, sizeof(id2), 42, 1, 1796505600123LL, 0, "acme.example"),
              0);
    CHECK_STR(id2, "<cz.42.1.mxax1sor.0@acme.example>");
    CHECK_INT(em_format_message_id(id, 20, 42, 0, 1, 0, "acme.example"), -E2BIG);
}

/* ---- the whole message ---- */

#define LINK "https://pay.example.com/s/v1.k1.AZWa7zqA2dvZBkQwOTEyMTc5NjE1ODYy." \
             "lPaR5fb0KHDmRXzIRktAXbeS7YSKKgTCCrha4_tffqw"

static struct em_message known_message(void)
{
    return (struct em_message){
        .from_display = "Cobros Acme",
        .from_addr = "cobros@acme.example",
        .reply_to_display = "Atención al cliente",
        .reply_to_addr = "ayuda@acme.example",
        .to = "debtor1@example.com",
        .subject = "Débora, tu pago de 1.234,56 € está pendiente",
        .text = "Hola Débora,\n\nTu saldo de 1.234,56 € vence el 31/12/2026. Paga aquí: " LINK
                " \nGracias = 100%\n",
        .html = "<p>Hola D&eacute;bora,</p>\n<p>Tu saldo de <b>1.234,56 €</b> vence el "
                "31/12/2026.</p>\n",
        .unsubscribe_url = LINK,
        .unsubscribe_mailto = "baja@acme.example",
        .idempotency_key = "ik-42",
        .attempt_id = 42,
        .date_ms = 1796505600123LL,
        .message_id = "<cz.42.0.abc@acme.example>",
        .boundary = "=_cz.42.0.abc",
    };
}

#define KNOWN_HEADERS                                                                   \
    "Date: Sat, 05 Dec 2026 21:20:00 +0000\r\n"                                         \
    "From: \"Cobros Acme\" <cobros@acme.example>\r\n"                                   \
    "To: debtor1@example.com\r\n"                                                       \
    "Reply-To: =?UTF-8?Q?Atenci=C3=B3n_al_cliente?= <ayuda@acme.example>\r\n"           \
    "Subject: =?UTF-8?B?RMOpYm9yYSwgdHUgcGFnbyBkZSAxLjIzNCw1NiDigqwgZXN0w6Eg?=\r\n"     \
    " =?UTF-8?B?cGVuZGllbnRl?=\r\n"                                                     \
    "Message-ID: <cz.42.0.abc@acme.example>\r\n"                                        \
    "MIME-Version: 1.0\r\n"                                                             \
    "List-Unsubscribe: <" LINK ">,\r\n"                                                 \
    " <mailto:baja@acme.example?subject=unsubscribe>\r\n"                               \
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"                             \
    "X-Cadenza-Idempotency-Key: ik-42\r\n"                                              \
    "X-Cadenza-Attempt: 42\r\n"

#define KNOWN_TEXT_PART                                                                   \
    "Content-Type: text/plain; charset=UTF-8\r\n"                                         \
    "Content-Transfer-Encoding: quoted-printable\r\n"                                     \
    "\r\n"                                                                                \
    "Hola D=C3=A9bora,\r\n"                                                               \
    "\r\n"                                                                                \
    "Tu saldo de 1.234,56 =E2=82=AC vence el 31/12/2026. Paga aqu=C3=AD: https:/=\r\n"    \
    "/pay.example.com/s/v1.k1.AZWa7zqA2dvZBkQwOTEyMTc5NjE1ODYy.lPaR5fb0KHDmRXzIR=\r\n"    \
    "ktAXbeS7YSKKgTCCrha4_tffqw=20\r\n"                                                   \
    "Gracias =3D 100%\r\n"

static void check_lines(const char *msg)
{
    /* invariant 1: CRLF only, lines of at most 998 */
    for (const char *p = msg; *p;) {
        const char *e = strstr(p, "\r\n");
        CHECK(e != NULL);
        if (!e)
            break;
        CHECK(e - p <= 998);
        CHECK(!memchr(p, '\n', (size_t)(e - p)) && !memchr(p, '\r', (size_t)(e - p)));
        p = e + 2;
    }
}

static void test_message_golden(void)
{
    struct em_message m = known_message();
    struct em_buf b = { 0 };
    CHECK_INT(em_message_build(&b, &m), 0);
    CHECK_STR(b.buf, KNOWN_HEADERS
              "Content-Type: multipart/alternative; boundary=\"=_cz.42.0.abc\"\r\n"
              "\r\n"
              "This is a multi-part message in MIME format.\r\n"
              "\r\n"
              "--=_cz.42.0.abc\r\n" KNOWN_TEXT_PART
              "\r\n"
              "--=_cz.42.0.abc\r\n"
              "Content-Type: text/html; charset=UTF-8\r\n"
              "Content-Transfer-Encoding: quoted-printable\r\n"
              "\r\n"
              "<p>Hola D&eacute;bora,</p>\r\n"
              "<p>Tu saldo de <b>1.234,56 =E2=82=AC</b> vence el 31/12/2026.</p>\r\n"
              "\r\n"
              "--=_cz.42.0.abc--\r\n");
    check_lines(b.buf);
    em_buf_release(&b);

    /* no html: one text/plain part */
    m.html = NULL;
    CHECK_INT(em_message_build(&b, &m), 0);
    CHECK_STR(b.buf, KNOWN_HEADERS KNOWN_TEXT_PART);
    em_buf_release(&b);

    /* a text without a final line end still ends the message with one */
    m.text = "Hola";
    CHECK_INT(em_message_build(&b, &m), 0);
    CHECK(b.len > 6 && strcmp(b.buf + b.len - 6, "Hola\r\n") == 0);
    em_buf_release(&b);
}

static void test_message_variants(void)
{
    struct em_message m = known_message();
    struct em_buf b = { 0 };

    /* no self-service link: a mailto alone, and no one-click (RFC 8058 needs https) */
    m.unsubscribe_url = NULL;
    CHECK_INT(em_message_build(&b, &m), 0);
    CHECK(strstr(b.buf, "\r\nList-Unsubscribe: <mailto:baja@acme.example?subject=unsubscribe>"
                        "\r\nX-Cadenza-Idempotency-Key: ik-42\r\n") != NULL);
    CHECK(strstr(b.buf, "List-Unsubscribe-Post") == NULL);
    em_buf_release(&b);

    /* neither: no List-Unsubscribe at all */
    m.unsubscribe_mailto = NULL;
    CHECK_INT(em_message_build(&b, &m), 0);
    CHECK(strstr(b.buf, "List-Unsubscribe") == NULL);
    em_buf_release(&b);

    /* a link alone, no Reply-To, an ASCII subject */
    m = known_message();
    m.unsubscribe_mailto = NULL;
    m.reply_to_addr = NULL;
    m.subject = "Payment reminder";
    CHECK_INT(em_message_build(&b, &m), 0);
    CHECK(strstr(b.buf, "\r\nList-Unsubscribe: <" LINK ">\r\n"
                        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") != NULL);
    CHECK(strstr(b.buf, "Reply-To") == NULL);
    CHECK(strstr(b.buf, "\r\nSubject: Payment reminder\r\n") != NULL);
    check_lines(b.buf);
    em_buf_release(&b);

    /* a 5,000-character line and a long subject still respect 76/998 */
    static char big[6000];
    memset(big, 'w', 5000);
    big[5000] = 0;
    m.text = big;
    m.html = big;
    m.subject = big;
    CHECK_INT(em_message_build(&b, &m), 0);
    check_lines(b.buf);
    em_buf_release(&b);

    /* the cap: -E2BIG, nothing else */
    b.max = 1000;
    CHECK_INT(em_message_build(&b, &m), -E2BIG);
    em_buf_release(&b);
}

/* Every allocation of a whole message failed in turn: -ENOMEM, nothing leaked. */
static void test_message_oom(void)
{
    struct em_message m = known_message();
    struct em_buf ok = { 0 };
    CHECK_INT(em_message_build(&ok, &m), 0);
    long n;
    for (n = 0; n < 1000; n++) {
        struct em_buf b = { 0 };
        alloc_calls = 0;
        alloc_fail_at = n;
        int r = em_message_build(&b, &m);
        alloc_fail_at = -1;
        if (r == 0) {
            /* past the last allocation: the same message as without faults */
            CHECK_STR(b.buf, ok.buf);
            em_buf_release(&b);
            break;
        }
        CHECK_INT(r, -ENOMEM);
        em_buf_release(&b); /* what was built so far is the caller's to free */
    }
    CHECK(n > 3 && n < 1000);
    em_buf_release(&ok);
}

/* ---- classification ---- */

static void test_classify(void)
{
    static const struct {
        int code, error;
        const char *text;
        enum cz_send_status want;
        bool auth;
    } t[] = {
        { 250, 0, NULL, CZ_SEND_OK, false },
        { 0, 0, NULL, CZ_SEND_OK, false },
        { 421, -EIO, "421 4.3.2 shutting down", CZ_SEND_RETRY, false },
        { 450, -EIO, "450 mailbox busy", CZ_SEND_RETRY, false },
        { 451, -EIO, "451 4.7.1 greylisted", CZ_SEND_RETRY, false },
        { 452, -EIO, "452 insufficient storage", CZ_SEND_RETRY, false },
        { 454, -EACCES, "454 4.7.0 temporary authentication failure", CZ_SEND_RETRY, false },
        { 0, -ETIMEDOUT, "timeout", CZ_SEND_RETRY, false },
        { 0, -ECONNREFUSED, "connection refused", CZ_SEND_RETRY, false },
        { 0, -ECONNRESET, "connection reset", CZ_SEND_RETRY, false },
        { 0, -EHOSTUNREACH, NULL, CZ_SEND_RETRY, false },
        { 550, -EIO, "550 5.1.1 no such user", CZ_SEND_INVALID_ADDRESS, false },
        { 550, -EIO, "550 mailbox unavailable", CZ_SEND_INVALID_ADDRESS, false },
        { 551, -EIO, "551 user not local", CZ_SEND_INVALID_ADDRESS, false },
        { 553, -EIO, "553 mailbox name not allowed", CZ_SEND_INVALID_ADDRESS, false },
        { 550, -EIO, "550 5.7.1 message refused as spam", CZ_SEND_FAILED, false },
        { 552, -EIO, "552 message too big", CZ_SEND_FAILED, false },
        { 554, -EIO, "554 transaction failed", CZ_SEND_FAILED, false },
        { 500, -EIO, "500 syntax error", CZ_SEND_FAILED, false },
        { 535, -EACCES, "535 5.7.8 authentication credentials invalid", CZ_SEND_FAILED, true },
        { 535, -EIO, NULL, CZ_SEND_FAILED, true },
        { 530, -EIO, "530 authentication required", CZ_SEND_FAILED, true },
        { 0, -EACCES, "login denied", CZ_SEND_FAILED, true },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct em_verdict v = em_classify(t[i].code, t[i].error, t[i].text);
        if (v.status != t[i].want || v.auth != t[i].auth)
            fprintf(stderr, "row %zu: %d %d %s\n", i, t[i].code, t[i].error,
                    t[i].text ? t[i].text : "");
        CHECK_INT(v.status, t[i].want);
        CHECK_INT(v.auth, t[i].auth);
    }
}

TEST_MAIN({ "qp_known", test_qp_known }, { "qp_roundtrip", test_qp_roundtrip },
          { "rfc2047_known", test_rfc2047_known }, { "rfc2047_roundtrip", test_rfc2047_roundtrip },
          { "mailbox", test_mailbox }, { "addr_check", test_addr_check }, { "date", test_date },
          { "message_id", test_message_id }, { "message_golden", test_message_golden },
          { "message_variants", test_message_variants }, { "message_oom", test_message_oom },
          { "classify", test_classify })
