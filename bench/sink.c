/*
 * sink.c - a loopback HTTP/1.1 server for bench/sms.sh that answers like
 * the SMS provider of plugins/http-sms/profiles/form-basic.yaml: every
 * POST or PUT gets "201 Created" and a JSON message resource whose "sid"
 * is the provider's message id (the profile reads it at /sid).  One
 * thread, epoll, non-blocking sockets.
 *
 *   sink [--port P] [--auth USER:PASS] [--lua FILE]
 *
 *   --port P     listen on 127.0.0.1:P (default 0: any free port); the
 *                port is printed first, as "port N"
 *   --auth U:P   require HTTP basic auth with these credentials; other
 *                requests get 401 and the provider's JSON error (code 20003)
 *   --lua FILE   write a wrk script that repeats the first POST or PUT
 *                received (method, path, headers but Host and
 *                Content-Length, body), so wrk sends what the worker sent
 *
 * Prints "requests N created M" (every answered request; those answered
 * 201) on SIGUSR1, and once more on SIGTERM or SIGINT before exiting 0.
 *
 * The parser (RFC 9112) takes requests in any split across reads, one
 * after another on a connection (keep-alive) and pipelined (answered in
 * order, output held back while the client does not read it).  A body
 * comes with Content-Length or chunked (chunk extensions and trailers
 * skipped); Expect: 100-continue is answered.  Anything it refuses gets
 * its status (400, 405, 413, 431, 501, 505) with "Connection: close".
 *
 * Invariants:
 *  1. A connection buffers at most IN_MAX bytes of unanswered input and
 *     stops reading while OUT_HIGH bytes of answers wait to be written.
 *  2. Answers leave in request order; nothing is read from a connection
 *     after a request that closes it.
 *  3. The counts include exactly the requests whose answer was queued.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_MAX (64 * 1024)               /* request line and headers */
#define BODY_MAX (1024 * 1024)             /* a request body */
#define IN_MAX (HEAD_MAX + 2 * BODY_MAX)   /* chunked framing adds to the body */
#define OUT_HIGH (256 * 1024)              /* stop reading above this much output */
#define READ_CHUNK (64 * 1024)

struct conn {
    int fd;
    char *in;
    size_t in_len, in_cap;
    size_t scan;          /* bytes at the front already searched for the head's end */
    size_t head_len;      /* the front request's head is complete and this long (0: not yet) */
    char *out;
    size_t out_len, out_off, out_cap;
    bool closing;         /* close once out is written (invariant 2) */
    bool keep_alive10;    /* the request answered now is HTTP/1.0 with keep-alive */
    bool continued;       /* "100 Continue" sent for the request at the front */
    bool reading;         /* EPOLLIN wanted */
    bool writing;         /* EPOLLOUT wanted */
};

/* What the head of one request says. */
struct head {
    const char *method, *target;
    size_t method_len, target_len;
    int minor;             /* HTTP/1.minor */
    bool has_length, chunked, close, keep_alive, expect_continue, auth_ok;
    uint64_t length;
    int codings;           /* transfer codings named */
    bool chunked_last;     /* ... and the last one is chunked */
    const char *auth;      /* the Authorization value, for the wrk script */
    size_t auth_len;
};

static int ep = -1;
static uint64_t nrequests, ncreated, next_sid = 1;
static char *want_auth;    /* "Basic <base64>", or NULL */
static const char *lua_path;
static bool lua_written;

static void die(const char *what)
{
    fprintf(stderr, "sink: %s: %s\n", what, strerror(errno));
    exit(1);
}

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void base64(const unsigned char *s, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = tab[(v >> 6) & 63];
        *out++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    *out = 0;
}

/* ---- output ---------------------------------------------------------------- */

static int out_add(struct conn *c, const char *s, size_t n)
{
    if (c->out_off && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        if (cap != c->out_cap) {
            char *p = realloc(c->out, cap);
            if (!p)
                return -ENOMEM;
            c->out = p;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
    return 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

static int answer(struct conn *c, int status, const char *extra, const char *body, size_t n)
{
    char head[512];
    int k = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n",
                     status, reason(status), n, extra ? extra : "",
                     c->closing        ? "Connection: close\r\n"
                     : c->keep_alive10 ? "Connection: keep-alive\r\n"
                                       : "");
    nrequests++; /* invariant 3 */
    if (status == 201)
        ncreated++;
    if (out_add(c, head, (size_t)k) < 0 || out_add(c, body, n) < 0)
        return -ENOMEM;
    return 0;
}

/*
 * A refusal in the provider's error shape.  Except for 405 the connection
 * closes after it: the request's framing can no longer be trusted.
 */
static int refuse(struct conn *c, int status)
{
    char body[160];
    int n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\",\"status\":%d}",
                     status, reason(status), status);
    if (status != 405)
        c->closing = true;
    return answer(c, status, status == 405 ? "Allow: POST, PUT\r\n" : NULL, body, (size_t)n);
}

/* The provider's message resource, with a fresh "SM" + 32 hex digits id. */
static int created(struct conn *c)
{
    static const char hex[] = "0123456789abcdef";
    char sid[35] = "SM";
    uint64_t v = next_sid++;
    memset(sid + 2, '0', 16);
    for (int i = 33; i >= 18; i--, v >>= 4)
        sid[i] = hex[v & 15];
    sid[34] = 0;
    char body[512];
    int n = snprintf(body, sizeof(body),
                     "{\"sid\":\"%s\",\"account_sid\":\"AC0123456789\",\"status\":\"queued\","
                     "\"direction\":\"outbound-api\",\"num_segments\":\"1\","
                     "\"api_version\":\"2010-04-01\",\"price\":null,\"error_code\":null,"
                     "\"error_message\":null,\"uri\":\"/2010-04-01/Accounts/AC0123456789/"
                     "Messages/%s.json\"}",
                     sid, sid);
    return answer(c, 201, NULL, body, (size_t)n);
}

/* ---- the wrk script ---------------------------------------------------------- */

/* s[0..n) as a Lua string literal: printable ASCII as is, the rest \ddd. */
static void lua_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            fputc(ch, f);
        else
            fprintf(f, "\\%03u", ch);
    }
    fputc('"', f);
}

/* Write the first POST/PUT as a wrk script: the lines of the head after the request line. */
static void write_lua(const struct head *h, const char *hd, size_t head_len, const char *body,
                      size_t body_len)
{
    lua_written = true;
    FILE *f = fopen(lua_path, "w");
    if (!f) {
        fprintf(stderr, "sink: cannot write '%s': %s\n", lua_path, strerror(errno));
        return;
    }
    fputs("-- written by bench/sink: the first request the sink received\nwrk.method = ", f);
    lua_str(f, h->method, h->method_len);
    fputs("\nwrk.path = ", f);
    lua_str(f, h->target, h->target_len);
    fputs("\nwrk.headers = {}\n", f);
    const char *p = memchr(hd, '\n', head_len) + 1, *end = hd + head_len - 2;
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        const char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t nl = (size_t)(colon - p);
        if (!(nl == 4 && strncasecmp(p, "Host", 4) == 0) &&
            !(nl == 14 && strncasecmp(p, "Content-Length", 14) == 0)) {
            fputs("wrk.headers[", f);
            lua_str(f, p, nl);
            fputs("] = ", f);
            lua_str(f, v, (size_t)(ve - v));
            fputc('\n', f);
        }
        p = eol + 2;
    }
    fputs("wrk.body = ", f);
    lua_str(f, body, body_len);
    fputc('\n', f);
    if (fclose(f) != 0)
        fprintf(stderr, "sink: cannot write '%s': %s\n", lua_path, strerror(errno));
}

/* ---- the parser ------------------------------------------------------------- */

static bool token_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* Each comma-separated element of a header value, trimmed, to fn. */
static void each_element(const char *v, size_t n, void (*fn)(struct head *, const char *, size_t),
                         struct head *h)
{
    const char *p = v, *e = v + n;
    while (p < e) {
        const char *q = memchr(p, ',', (size_t)(e - p));
        const char *te = q ? q : e, *s = p;
        while (s < te && (*s == ' ' || *s == '\t'))
            s++;
        while (te > s && (te[-1] == ' ' || te[-1] == '\t'))
            te--;
        if (te > s)
            fn(h, s, (size_t)(te - s));
        p = q ? q + 1 : e;
    }
}

static void on_connection(struct head *h, const char *s, size_t n)
{
    if (token_is(s, n, "close"))
        h->close = true;
    else if (token_is(s, n, "keep-alive"))
        h->keep_alive = true;
}

/* Transfer-Encoding: chunked must be the only coding; any other is not implemented. */
static void on_coding(struct head *h, const char *s, size_t n)
{
    h->codings++;
    h->chunked_last = token_is(s, n, "chunked");
}

/*
 * Parse the head c->in[0..head_len) (it ends with CRLF CRLF) into h.
 * 0, or the status to refuse with.
 */
static int parse_head(const char *p, size_t head_len, struct head *h)
{
    const char *end = p + head_len - 2; /* the final empty line's CRLF stays out */
    const char *eol = memchr(p, '\r', head_len);
    if (eol[1] != '\n')
        return 400;
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || sp1 == p || sp2 == sp1 + 1)
        return 400;
    for (const char *q = p; q < sp1; q++)
        if (!tchar((unsigned char)*q))
            return 400;
    for (const char *q = sp1 + 1; q < sp2; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f)
            return 400;
    if (eol - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/", 5) != 0 || sp2[7] != '.' ||
        sp2[6] < '0' || sp2[6] > '9' || sp2[8] < '0' || sp2[8] > '9')
        return 400;
    if (sp2[6] != '1')
        return 505;
    *h = (struct head){ .method = p, .method_len = (size_t)(sp1 - p), .target = sp1 + 1,
                        .target_len = (size_t)(sp2 - sp1 - 1), .minor = sp2[8] - '0',
                        .auth_ok = !want_auth };
    bool has_te = false;
    for (const char *l = eol + 2; l < end;) {
        const char *e = memchr(l, '\r', (size_t)(end - l) + 1);
        if (!e || e[1] != '\n' || memchr(l, '\n', (size_t)(e - l)))
            return 400; /* a bare CR or LF */
        if (*l == ' ' || *l == '\t')
            return 400; /* obsolete line folding */
        const char *colon = memchr(l, ':', (size_t)(e - l));
        if (!colon || colon == l)
            return 400;
        for (const char *q = l; q < colon; q++)
            if (!tchar((unsigned char)*q))
                return 400; /* includes whitespace before the colon */
        const char *v = colon + 1, *ve = e;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *q = v; q < ve; q++)
            if (*q == 0)
                return 400;
        size_t nl = (size_t)(colon - l), vl = (size_t)(ve - v);
        if (token_is(l, nl, "content-length")) {
            /* "5" or a list of identical values ("5, 5"); anything else is an error */
            uint64_t len = 0;
            bool any = false, digits = false;
            for (const char *q = v; q <= ve; q++) {
                if (q < ve && *q >= '0' && *q <= '9') {
                    if (len > BODY_MAX * 10ull)
                        return 413;
                    len = len * 10 + (uint64_t)(*q - '0');
                    digits = true;
                } else if (q == ve || *q == ',') {
                    if (!digits || (any && len != h->length) || (h->has_length && len != h->length))
                        return 400;
                    h->length = len;
                    any = h->has_length = true;
                    len = 0;
                    digits = false;
                } else if (*q != ' ' && *q != '\t')
                    return 400;
            }
        } else if (token_is(l, nl, "transfer-encoding")) {
            has_te = true;
            each_element(v, vl, on_coding, h);
        } else if (token_is(l, nl, "connection")) {
            each_element(v, vl, on_connection, h);
        } else if (token_is(l, nl, "expect")) {
            if (!token_is(v, vl, "100-continue"))
                return 400; /* 417 in RFC 9110 terms; no client of ours sends another */
            h->expect_continue = true;
        } else if (token_is(l, nl, "authorization")) {
            h->auth = v;
            h->auth_len = vl;
            if (want_auth && vl == strlen(want_auth) && strncasecmp(v, "Basic ", 6) == 0 &&
                memcmp(v + 6, want_auth + 6, vl - 6) == 0)
                h->auth_ok = true;
        }
        l = e + 2;
    }
    if (has_te) {
        if (h->minor == 0 || !h->chunked_last || h->codings != 1)
            return 501;
        /* RFC 9112 6.3: with both, chunked wins and the connection closes after */
        if (h->has_length)
            h->close = true;
        h->chunked = true;
        h->has_length = false;
    }
    if (h->has_length && h->length > BODY_MAX)
        return 413;
    return 0;
}

/*
 * The chunked body starting at p[0..n): its decoded length and the bytes
 * it spans (trailers included).  0, -EAGAIN when incomplete, or the
 * status to refuse with.  With move, the decoded data is moved to p[0..)
 * (it only ever moves left); serve() asks for that only once a pass
 * without it found the whole body, so an incomplete body stays as it came.
 */
static int dechunk(char *p, size_t n, bool move, size_t *ret_len, size_t *ret_span)
{
    size_t i = 0, out = 0;
    for (;;) {
        uint64_t size = 0;
        size_t d = i;
        for (; i < n; i++) {
            unsigned x;
            if (p[i] >= '0' && p[i] <= '9')
                x = (unsigned)(p[i] - '0');
            else if ((p[i] | 32) >= 'a' && (p[i] | 32) <= 'f')
                x = (unsigned)((p[i] | 32) - 'a' + 10);
            else
                break;
            if (size > BODY_MAX)
                return 413;
            size = size * 16 + x;
        }
        if (i == n)
            return -EAGAIN;
        if (i == d)
            return 400;
        /* chunk extensions: skipped up to the line's end */
        while (i < n && p[i] != '\r' && p[i] != '\n')
            i++;
        if (i + 1 >= n)
            return -EAGAIN;
        if (p[i] != '\r' || p[i + 1] != '\n')
            return 400;
        i += 2;
        if (size == 0)
            break;
        if (out + size > BODY_MAX)
            return 413;
        if (n - i < size + 2)
            return -EAGAIN;
        if (p[i + size] != '\r' || p[i + size + 1] != '\n')
            return 400;
        if (move)
            memmove(p + out, p + i, size);
        out += size;
        i += size + 2;
    }
    /* trailer fields, up to an empty line */
    for (;;) {
        char *e = memchr(p + i, '\n', n - i);
        if (!e)
            return -EAGAIN;
        size_t len = (size_t)(e - (p + i));
        if (len == 0 || p[i + len - 1] != '\r')
            return 400;
        i += len + 1;
        if (len == 1)
            break;
    }
    *ret_len = out;
    *ret_span = i;
    return 0;
}

/*
 * The front request's head is complete, its body not yet: remember the
 * head, and answer "Expect: 100-continue" once.
 */
static int wait_body(struct conn *c, const struct head *h, size_t head_len)
{
    c->head_len = head_len;
    if (h->expect_continue && !c->continued) {
        c->continued = true;
        return out_add(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    return 0;
}

/*
 * Answer every complete request at the front of c->in, in order
 * (invariant 2).  0, or < 0 to drop the connection at once (out of
 * memory).
 */
static int serve(struct conn *c)
{
    size_t off = 0;
    int r = 0;
    while (!c->closing && off < c->in_len) {
        char *p = c->in + off;
        size_t n = c->in_len - off;
        size_t head_len = c->head_len;
        if (!head_len) {
            /* RFC 9112 2.2: empty lines before a request line are ignored */
            while (n >= 2 && p[0] == '\r' && p[1] == '\n') {
                p += 2;
                n -= 2;
                off += 2;
                c->scan = c->scan > 2 ? c->scan - 2 : 0;
            }
            size_t from = c->scan > 3 ? c->scan - 3 : 0;
            char *hend = n >= 4 && from < n ? memmem(p + from, n - from, "\r\n\r\n", 4) : NULL;
            if (!hend) {
                if (n > HEAD_MAX)
                    r = refuse(c, 431);
                else
                    c->scan = n;
                break;
            }
            head_len = (size_t)(hend - p) + 4;
            if (head_len > HEAD_MAX) {
                r = refuse(c, 431);
                break;
            }
        }
        struct head h;
        int st = parse_head(p, head_len, &h);
        if (st) {
            r = refuse(c, st);
            break;
        }
        size_t body_len = 0, span = 0;
        if (h.chunked) {
            int k = dechunk(p + head_len, n - head_len, false, &body_len, &span);
            if (k == 0)
                k = dechunk(p + head_len, n - head_len, true, &body_len, &span);
            if (k > 0) {
                r = refuse(c, k);
                break;
            }
            if (k == -EAGAIN) {
                r = wait_body(c, &h, head_len);
                break;
            }
        } else if (h.has_length) {
            body_len = span = (size_t)h.length;
            if (n - head_len < span) {
                r = wait_body(c, &h, head_len);
                break;
            }
        }
        if (!(h.keep_alive || h.minor >= 1) || h.close)
            c->closing = true;
        c->keep_alive10 = h.minor == 0 && !c->closing;
        if (!token_is(h.method, h.method_len, "POST") && !token_is(h.method, h.method_len, "PUT"))
            r = refuse(c, 405);
        else if (!h.auth_ok) {
            static const char body[] = "{\"code\":20003,\"message\":\"Authenticate\","
                                       "\"more_info\":\"https://www.example.com/docs/errors/"
                                       "20003\",\"status\":401}";
            r = answer(c, 401, "WWW-Authenticate: Basic realm=\"sms\"\r\n", body,
                       sizeof(body) - 1);
        } else {
            if (lua_path && !lua_written)
                write_lua(&h, p, head_len, p + head_len, body_len);
            r = created(c);
        }
        off += head_len + span;
        c->scan = c->head_len = 0;
        c->continued = false;
        if (r < 0)
            break;
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return r;
}

/* ---- connections -------------------------------------------------------------- */

static void conn_free(struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static int conn_events(struct conn *c)
{
    bool rd = !c->closing && c->out_len - c->out_off < OUT_HIGH; /* invariant 1 */
    bool wr = c->out_len > c->out_off;
    if (rd == c->reading && wr == c->writing)
        return 0;
    struct epoll_event ev = { .events = (rd ? EPOLLIN : 0) | (wr ? EPOLLOUT : 0),
                              .data.ptr = c };
    c->reading = rd;
    c->writing = wr;
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write what is pending.  0, or < 0 when the connection is done with. */
static int conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->out_off += (size_t)k;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->closing)
            return -1;
    }
    return conn_events(c) < 0 ? -1 : 0;
}

static void conn_read(struct conn *c)
{
    if (c->closing)
        return; /* nothing more is read (invariant 2); the pending answer is being written */
    if (c->in_cap - c->in_len < READ_CHUNK && c->in_cap < IN_MAX) {
        size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK;
        while (cap - c->in_len < READ_CHUNK && cap < IN_MAX)
            cap *= 2;
        if (cap > IN_MAX)
            cap = IN_MAX;
        char *p = realloc(c->in, cap);
        if (!p) {
            conn_free(c);
            return;
        }
        c->in = p;
        c->in_cap = cap;
    }
    if (c->in_len == c->in_cap) {
        /* a request bigger than any we accept, still incomplete */
        if (refuse(c, 413) < 0 || conn_flush(c) < 0)
            conn_free(c);
        return;
    }
    ssize_t k = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_free(c); /* the peer closed (an unanswered partial request goes with it) */
        return;
    }
    if (k < 0)
        return;
    c->in_len += (size_t)k;
    if (serve(c) < 0 || conn_flush(c) < 0)
        conn_free(c);
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                fprintf(stderr, "sink: accept: %s\n", strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->reading = true;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
        }
    }
}

static void print_counts(void)
{
    char line[96];
    int n = snprintf(line, sizeof(line), "requests %llu created %llu\n",
                     (unsigned long long)nrequests, (unsigned long long)ncreated);
    if (write(STDOUT_FILENO, line, (size_t)n) < 0)
        fprintf(stderr, "sink: cannot print the counts: %s\n", strerror(errno));
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "port", required_argument, NULL, 'p' },
        { "auth", required_argument, NULL, 'a' },
        { "lua", required_argument, NULL, 'l' },
        {},
    };
    long port = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'p':
            port = strtol(optarg, NULL, 10);
            break;
        case 'a': {
            size_t n = strlen(optarg);
            if (!strchr(optarg, ':')) {
                fprintf(stderr, "sink: --auth wants USER:PASS\n");
                return 2;
            }
            want_auth = malloc(6 + (n + 2) / 3 * 4 + 1);
            if (!want_auth)
                return 1;
            memcpy(want_auth, "Basic ", 6);
            base64((const unsigned char *)optarg, n, want_auth + 6);
            break;
        }
        case 'l':
            lua_path = optarg;
            break;
        default:
            fprintf(stderr, "usage: sink [--port P] [--auth USER:PASS] [--lua FILE]\n");
            return 2;
        }
    }
    if (port < 0 || port > 65535) {
        fprintf(stderr, "sink: bad port\n");
        return 2;
    }

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("bind");
    if (listen(lfd, 4096) < 0)
        die("listen");
    socklen_t sl = sizeof(sa);
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    printf("port %u\n", ntohs(sa.sin_port));
    fflush(stdout);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || ep < 0)
        die("signalfd/epoll");
    /* the listening socket and the signals are told apart from connections by address */
    static int lmark, smark;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &lmark };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll_ctl");
    ev.data.ptr = &smark;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0)
        die("epoll_ctl");

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            void *ptr = evs[i].data.ptr;
            if (ptr == &lmark) {
                accept_all(lfd);
            } else if (ptr == &smark) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                    print_counts();
                    if (si.ssi_signo != SIGUSR1)
                        return 0;
                }
            } else {
                struct conn *c = ptr;
                uint32_t e = evs[i].events;
                if (e & EPOLLOUT) {
                    if (conn_flush(c) < 0) {
                        conn_free(c);
                        continue;
                    }
                }
                if (e & (EPOLLIN | EPOLLHUP | EPOLLERR))
                    conn_read(c);
            }
        }
    }
}
