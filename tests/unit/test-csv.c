/* test-csv.c - the streaming CSV reader and the row reader on top of it. */
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "csv.h"
#include "rowreader.h"
#include "testlib.h"
#include "util.h"

static int memfd_with(const char *s, size_t n)
{
    int fd = memfd_create("csv", 0);
    if (fd < 0 || write(fd, s, n) != (ssize_t)n)
        abort();
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/*
 * Read everything and describe it: one line per record,
 * "L<line>:a|b|c" for a record, "L<line>!<error>" for a bad one.
 */
static char *dump_fd(int fd, size_t chunk, size_t max_field, size_t expected, bool raw)
{
    struct csv_reader *r;
    struct sbuf out = SBUF_INIT;
    if (csv_reader_new(fd, &r) < 0)
        abort();
    if (chunk)
        csv_reader_set_chunk(r, chunk);
    csv_reader_set_limits(r, max_field, 0, 0);
    csv_reader_set_expected_fields(r, expected);
    for (int guard = 0; guard < 10000; guard++) {
        const struct csv_field *f;
        size_t nf;
        long line = -1;
        char err[256];
        int k = csv_reader_next(r, &f, &nf, &line, err, sizeof(err));
        if (k == 0)
            break;
        if (k == -EINVAL)
            sbuf_addf(&out, "L%ld!%s\n", line, err);
        else if (k < 0) {
            sbuf_addf(&out, "FATAL %d\n", k);
            break;
        } else {
            sbuf_addf(&out, "L%ld:", line);
            for (size_t i = 0; i < nf; i++) {
                CHECK(f[i].p[f[i].len] == 0);
                sbuf_addf(&out, "%s%.*s", i ? "|" : "", (int)f[i].len, f[i].p);
            }
            sbuf_addc(&out, '\n');
        }
        if (raw) {
            const char *p;
            size_t n;
            csv_reader_raw(r, &p, &n);
            sbuf_addf(&out, "  raw<%.*s>\n", (int)n, p);
        }
    }
    csv_reader_free(r);
    sbuf_cstr(&out);
    return out.buf ? out.buf : strdup("");
}

static char *dump_ex(const char *s, size_t n, size_t chunk, size_t max_field, size_t expected,
                     bool raw)
{
    int fd = memfd_with(s, n);
    char *d = dump_fd(fd, chunk, max_field, expected, raw);
    close(fd);
    return d;
}

static char *dump(const char *s) { return dump_ex(s, strlen(s), 0, 0, 0, false); }

#define CHECK_DUMP(input, expect)        \
    do {                                 \
        char *_d = dump(input);          \
        CHECK_STR(_d, expect);           \
        free(_d);                        \
    } while (0)

static void test_basic(void)
{
    CHECK_DUMP("a,b,c\n1,2,3\n", "L1:a|b|c\nL2:1|2|3\n");
    CHECK_DUMP("a,b,c\n1,2,3", "L1:a|b|c\nL2:1|2|3\n");            /* no final newline */
    CHECK_DUMP("a,b\r\n1,2\r\n", "L1:a|b\nL2:1|2\n");              /* CRLF */
    CHECK_DUMP("\xef\xbb\xbfid,x\n1,2\n", "L1:id|x\nL2:1|2\n");    /* BOM */
    CHECK_DUMP("a,b\n\n1,2\n\r\n\n3,4\n\n", "L1:a|b\nL3:1|2\nL6:3|4\n"); /* blank lines */
    CHECK_DUMP(",,\n", "L1:||\n");
    CHECK_DUMP("a,\"\",b\n", "L1:a||b\n");
    CHECK_DUMP("a,b,\n", "L1:a|b|\n");
    CHECK_DUMP("", "");
    CHECK_DUMP("\xef\xbb\xbf", "");
    CHECK_DUMP("x\ry,z\n", "L1:x\ry|z\n"); /* a bare CR is data */
    CHECK_DUMP(" a , b \n", "L1: a | b \n"); /* no trimming unless asked */
}

static void test_quoted(void)
{
    CHECK_DUMP("id,name\n1,\"Smith, \"\"Bob\"\"\nJr\"\n2,x\n",
               "L1:id|name\nL2:1|Smith, \"Bob\"\nJr\nL4:2|x\n");
    CHECK_DUMP("\"a\r\nb\",\"\"\"\"\r\n\"c\",d", "L1:a\r\nb|\"\nL3:c|d\n");
    CHECK_DUMP("\"\",\"\"\n", "L1:|\n");
    CHECK_DUMP("\"a\"", "L1:a\n");
}

static void test_errors(void)
{
    /* stray quote: error on its line, the next record read */
    CHECK_DUMP("a,b,c\n1,ab\"c,3\n2,x,y\n",
               "L1:a|b|c\nL2!field 2: stray '\"' in an unquoted field\nL3:2|x|y\n");
    /* character after a closing quote */
    CHECK_DUMP("1,\"ab\"c,3\n2,x,y\n",
               "L1!field 2: unexpected 'c' after a closing quote\nL2:2|x|y\n");
    /* ... also after a multi-line quoted field: line numbers stay right */
    CHECK_DUMP("1,\"a\nb\"x,\"p\nq\"\n2,ok\n3,ok\n",
               "L1!field 2: unexpected 'x' after a closing quote\nL4:2|ok\nL5:3|ok\n");
    /* NUL bytes, quoted and not */
    {
        static const char in[] = "1,a\0b,3\n2,\"x\0\ny\",3\n4,5,6\n";
        char *d = dump_ex(in, sizeof(in) - 1, 0, 0, 0, false);
        CHECK_STR(d, "L1!field 2: NUL byte\nL2!field 2: NUL byte\nL4:4|5|6\n");
        free(d);
    }
    /* invalid UTF-8 */
    CHECK_DUMP("1,caf\xc3\xa9\n2,\xc3\x28\n3,\xed\xa0\x80\n4,ok\n",
               "L1:1|caf\xc3\xa9\nL2!field 2: invalid UTF-8\nL3!field 2: invalid UTF-8\n"
               "L4:4|ok\n");
    /* unterminated quote: reported where it opened, swallows the rest */
    CHECK_DUMP("1,ok\n2,x\n3,\"abc\n4,def\n", "L1:1|ok\nL2:2|x\nL3!field 2: unterminated quoted field\n");
    CHECK_DUMP("1,\"a\nb\n\"c\n", "L1!field 2: unexpected 'c' after a closing quote\n");
    CHECK_DUMP("1,2,\"x\ny\nz", "L1!field 3: unterminated quoted field\n");
    /* wrong field count */
    {
        static const char in[] = "a,b,c\n1,2\n1,2,3,4\n1,2,3\n";
        char *d = dump_ex(in, sizeof(in) - 1, 0, 0, 3, true);
        CHECK_STR(d, "L1:a|b|c\n  raw<a,b,c>\nL2!expected 3 fields, got 2\n  raw<1,2>\n"
                     "L3!expected 3 fields, got 4\n  raw<1,2,3,4>\nL4:1|2|3\n  raw<1,2,3>\n");
        free(d);
    }
    /* field limit: quoted and unquoted, the next record read */
    {
        static const char in[] = "1,0123456789A,2\n3,\"0123456789\"\"\",4\n5,\"x\ny\"\"\"\"zzzzzzz\",6\n7,8,9\n";
        char *d = dump_ex(in, sizeof(in) - 1, 0, 10, 0, true);
        CHECK_STR(d, "L1!field 2: longer than 10 bytes\n  raw<1,0123456789A,2>\n"
                     "L2!field 2: longer than 10 bytes\n  raw<3,\"0123456789\"\"\",4>\n"
                     "L3!field 2: longer than 10 bytes\n  raw<5,\"x\ny\"\"\"\"zzzzzzz\",6>\n"
                     "L5:7|8|9\n  raw<7,8,9>\n");
        free(d);
    }
}

static void test_big_field(void)
{
    /* default limit 1 MiB: a field of 1 MiB + 1 is rejected, 1 MiB is fine */
    size_t big = CSV_MAX_FIELD_DEFAULT;
    struct sbuf in = SBUF_INIT;
    sbuf_adds(&in, "1,");
    for (size_t i = 0; i <= big; i++)
        sbuf_addc(&in, 'x');
    sbuf_adds(&in, ",2\n3,\"");
    for (size_t i = 0; i < big; i++)
        sbuf_addc(&in, 'y');
    sbuf_adds(&in, "\",4\n5,6,7\n");
    int fd = memfd_with(in.buf, in.len);
    struct csv_reader *r;
    CHECK_INT(csv_reader_new(fd, &r), 0);
    const struct csv_field *f;
    size_t nf;
    long line;
    char err[200];
    CHECK_INT(csv_reader_next(r, &f, &nf, &line, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "field 2: longer than 1048576 bytes");
    CHECK_INT(line, 1);
    CHECK_INT(csv_reader_next(r, &f, &nf, &line, err, sizeof(err)), 1);
    CHECK_INT(nf, 3);
    CHECK_INT(f[1].len, big);
    CHECK_INT(line, 2);
    CHECK_INT(csv_reader_next(r, &f, &nf, &line, err, sizeof(err)), 1);
    CHECK_STR(f[0].p, "5");
    CHECK_INT(line, 3);
    CHECK_INT(csv_reader_next(r, &f, &nf, &line, err, sizeof(err)), 0);
    csv_reader_free(r);
    close(fd);
    sbuf_release(&in);
}

static void test_record_limit(void)
{
    /* an endless quote in a large input: bounded memory, one error */
    struct sbuf in = SBUF_INIT;
    sbuf_adds(&in, "1,\"");
    for (int i = 0; i < 100000; i++)
        sbuf_adds(&in, "abcdefgh,\n");
    int fd = memfd_with(in.buf, in.len);
    struct csv_reader *r;
    CHECK_INT(csv_reader_new(fd, &r), 0);
    csv_reader_set_limits(r, 1 << 20, 4, 1 << 16);
    csv_reader_set_chunk(r, 4000); /* small reads: the limit is hit before EOF */
    const struct csv_field *f;
    size_t nf;
    long line;
    char err[200];
    CHECK_INT(csv_reader_next(r, &f, &nf, &line, err, sizeof(err)), -EINVAL);
    /* too long to keep: the message says the rejects file cannot hold it */
    CHECK_STR(err, "record longer than 65536 bytes (too long to copy into the rejects file)");
    CHECK_INT(line, 1);
    const char *raw;
    size_t rawlen;
    csv_reader_raw(r, &raw, &rawlen);
    CHECK_INT(rawlen, 0);
    CHECK_INT(csv_reader_next(r, &f, &nf, &line, err, sizeof(err)), 0);
    csv_reader_free(r);
    close(fd);
    /* read in one go, the same input is an unterminated quote */
    char *u = dump_ex(in.buf, in.len, 0, 0, 0, false);
    CHECK_STR(u, "L1!field 2: unterminated quoted field\n");
    free(u);
    sbuf_release(&in);

    /* too many fields */
    char *d = dump_ex("1,2,3,4,5,6\n7\n", 14, 0, 0, 0, false);
    CHECK_STR(d, "L1:1|2|3|4|5|6\nL2:7\n");
    free(d);
    fd = memfd_with("1,2,3,4,5,6\n7\n", 14);
    CHECK_INT(csv_reader_new(fd, &r), 0);
    csv_reader_set_limits(r, 0, 4, 0);
    CHECK_INT(csv_reader_next(r, &f, &nf, &line, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "more than 4 fields");
    CHECK_INT(csv_reader_next(r, &f, &nf, &line, err, sizeof(err)), 1);
    CHECK_INT(line, 2);
    csv_reader_free(r);
    close(fd);
}

static const char tricky[] =
    "\xef\xbb\xbfid,name,note\r\n"
    "1,\"Smith, \"\"Bob\"\"\",\"multi\r\nline\"\r\n"
    "2,plain,\"\"\r\n"
    "3,bad\"quote,x\r\n"
    "4,\"after\"x,y\r\n"
    "5,\"ok\",\"a\"\"\r\n\"\"b\"\r\n"
    "\r\n"
    "6,caf\xc3\xa9,\xc3\x28\r\n"
    "7,x\ry,end";

static void test_chunks(void)
{
    char *want = dump_ex(tricky, sizeof(tricky) - 1, 0, 0, 3, true);
    /* raw texts are exact: the bytes straddling reads must not matter */
    CHECK(strstr(want, "  raw<5,\"ok\",\"a\"\"\r\n\"\"b\">\n") != NULL);
    for (size_t chunk = 1; chunk <= 9; chunk++) {
        char *got = dump_ex(tricky, sizeof(tricky) - 1, chunk, 0, 3, true);
        CHECK_STR(got, want);
        free(got);
    }
    free(want);
}

static void test_expected_output(void)
{
    char *d = dump_ex(tricky, sizeof(tricky) - 1, 0, 0, 3, false);
    CHECK_STR(d, "L1:id|name|note\n"
                 "L2:1|Smith, \"Bob\"|multi\r\nline\n"
                 "L4:2|plain|\n"
                 "L5!field 2: stray '\"' in an unquoted field\n"
                 "L6!field 2: unexpected 'x' after a closing quote\n"
                 "L7:5|ok|a\"\r\n\"b\n"
                 "L10!field 3: invalid UTF-8\n"
                 "L11:7|x\ry|end\n");
    free(d);
}

struct writer {
    int fd;
    const char *s;
    size_t n;
};

static void *write_bytewise(void *arg)
{
    struct writer *w = arg;
    for (size_t i = 0; i < w->n; i++)
        if (write(w->fd, w->s + i, 1) != 1)
            break;
    close(w->fd);
    return NULL;
}

static void test_pipe(void)
{
    int p[2];
    CHECK_INT(pipe(p), 0);
    struct writer w = { p[1], tricky, sizeof(tricky) - 1 };
    pthread_t t;
    pthread_create(&t, NULL, write_bytewise, &w);
    char *got = dump_fd(p[0], 0, 0, 3, false);
    pthread_join(t, NULL);
    close(p[0]);
    char *want = dump_ex(tricky, sizeof(tricky) - 1, 0, 0, 3, false);
    CHECK_STR(got, want);
    free(got);
    free(want);
}

static void test_lines(void)
{
    static const char in[] = "\xef\xbb\xbf  \n{\"a\":1}\r\n\n  {\"b\":2}\nx\0y\nlast";
    int fd = memfd_with(in, sizeof(in) - 1);
    struct csv_reader *r;
    CHECK_INT(csv_reader_new(fd, &r), 0);
    const char *p;
    size_t n;
    long line;
    char err[100];
    CHECK_INT(csv_reader_peek(r, &p, &n), 0);
    CHECK(n >= 3 && p[2] == '\n');
    CHECK_INT(csv_reader_next_line(r, &p, &n, &line, err, sizeof(err)), 1);
    CHECK_STR(p, "{\"a\":1}");
    CHECK_INT(line, 2);
    CHECK_INT(csv_reader_next_line(r, &p, &n, &line, err, sizeof(err)), 1);
    CHECK_STR(p, "  {\"b\":2}");
    CHECK_INT(line, 4);
    CHECK_INT(csv_reader_next_line(r, &p, &n, &line, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "NUL byte");
    CHECK_INT(line, 5);
    CHECK_INT(csv_reader_next_line(r, &p, &n, &line, err, sizeof(err)), 1);
    CHECK_STR(p, "last");
    CHECK_INT(line, 6);
    csv_reader_raw(r, &p, &n);
    CHECK_INT(n, 4);
    CHECK_INT(csv_reader_next_line(r, &p, &n, &line, err, sizeof(err)), 0);
    csv_reader_free(r);
    close(fd);
}

/* ---- row reader ---- */

static int rr_open(const char *s, const char *name, enum row_format fmt, struct row_reader **r,
                   char *err, size_t errlen)
{
    int fd = memfd_with(s, strlen(s));
    int k = row_reader_new(fd, name, fmt, r, err, errlen);
    close(fd); /* CSV headers are read by _new; only header tests use this */
    return k;
}

static void test_rowreader_header(void)
{
    struct row_reader *r = NULL;
    char err[512];
    CHECK_INT(rr_open("id,emial,phone,Foo\n", NULL, ROW_FORMAT_CSV, &r, err, sizeof(err)),
              -EINVAL);
    CHECK_STR(err, "header: unknown column 'emial' (did you mean 'email'?); "
                   "unknown column 'foo'");
    CHECK_INT(rr_open("name,email\n", NULL, ROW_FORMAT_AUTO, &r, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "header: required column 'id' is missing");
    CHECK_INT(rr_open("id,email,EMAIL\n", NULL, ROW_FORMAT_AUTO, &r, err, sizeof(err)),
              -EINVAL);
    CHECK_STR(err, "header: column 'email' appears twice");
    CHECK_INT(rr_open("", NULL, ROW_FORMAT_CSV, &r, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "no header row (the input is empty)");
    CHECK_INT(rr_open("id,\"na\"me\n", NULL, ROW_FORMAT_CSV, &r, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "header (line 1): field 2: unexpected 'm' after a closing quote");
}

static void test_rowreader_csv(void)
{
    static const char in[] = "\xef\xbb\xbf Id , Email ,phone\r\n"
                             "D1, a@b.es ,\"+34 612\"\r\n"
                             "D2,x\r\n"
                             "D3,\"q\"\"\",\r\n";
    int fd = memfd_with(in, sizeof(in) - 1);
    struct row_reader *r;
    char err[256];
    CHECK_INT(row_reader_new(fd, "debtors.txt", ROW_FORMAT_AUTO, &r, err, sizeof(err)), 0);
    CHECK_INT(row_reader_format(r), ROW_FORMAT_CSV);
    const char *p;
    size_t n;
    row_reader_header(r, &p, &n);
    CHECK(n == 18 && memcmp(p, " Id , Email ,phone", 18) == 0);
    struct raw_row row;
    CHECK_INT(row_reader_next(r, &row, err, sizeof(err)), 1);
    CHECK_INT(row.line, 2);
    CHECK_STR(row.f[DCOL_ID], "D1");
    CHECK_STR(row.f[DCOL_EMAIL], "a@b.es");
    CHECK_INT(row.flen[DCOL_EMAIL], 6);
    CHECK_STR(row.f[DCOL_PHONE], "+34 612");
    CHECK(row.f[DCOL_NAME] == NULL);
    row_reader_raw(r, &p, &n);
    CHECK(n == 21 && memcmp(p, "D1, a@b.es ,\"+34 612\"", 21) == 0);
    CHECK_INT(row_reader_next(r, &row, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "expected 3 fields, got 2");
    CHECK_INT(row.line, 3);
    row_reader_raw(r, &p, &n);
    CHECK(n == 4 && memcmp(p, "D2,x", 4) == 0);
    CHECK_INT(row_reader_next(r, &row, err, sizeof(err)), 1);
    CHECK_STR(row.f[DCOL_EMAIL], "q\"");
    CHECK_STR(row.f[DCOL_PHONE], "");
    CHECK_INT(row_reader_next(r, &row, err, sizeof(err)), 0);
    row_reader_free(r);
    close(fd);

    /* field names in CSV errors once the header is known */
    fd = memfd_with("id,email\n1,a\"b\n", 15);
    CHECK_INT(row_reader_new(fd, "-", ROW_FORMAT_AUTO, &r, err, sizeof(err)), 0);
    CHECK_INT(row_reader_next(r, &row, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "email: stray '\"' in an unquoted field");
    row_reader_free(r);
    close(fd);
}

static void test_rowreader_jsonl(void)
{
    static const char in[] =
        "\n  {\"id\":\"D1\",\"balance\":12.5,\"payday\":15,\"consent_sms\":true,"
        "\"tags\":[\"a\",\"b\"],\"email\":null,\"name\":\" Ann \"}\n"
        "{\"id\":\"D2\",\"emial\":\"x\"}\n"
        "[1,2]\n"
        "{\"id\":\"D3\",\n"
        "{\"id\":\"D4\",\"name\":{\"x\":1}}\n"
        "{\"id\":\"D5\",\"balance\":0.1}";
    int fd = memfd_with(in, sizeof(in) - 1);
    struct row_reader *r;
    char err[256];
    CHECK_INT(row_reader_new(fd, NULL, ROW_FORMAT_AUTO, &r, err, sizeof(err)), 0);
    CHECK_INT(row_reader_format(r), ROW_FORMAT_JSONL);
    const char *p;
    size_t n;
    row_reader_header(r, &p, &n);
    CHECK_INT(n, 0);
    struct raw_row row;
    CHECK_INT(row_reader_next(r, &row, err, sizeof(err)), 1);
    CHECK_INT(row.line, 2);
    CHECK_STR(row.f[DCOL_ID], "D1");
    CHECK_STR(row.f[DCOL_BALANCE], "12.5");
    CHECK_STR(row.f[DCOL_PAYDAY], "15");
    CHECK_STR(row.f[DCOL_CONSENT_SMS], "true");
    CHECK_STR(row.f[DCOL_TAGS], "a;b");
    CHECK_STR(row.f[DCOL_NAME], "Ann");
    CHECK(row.f[DCOL_EMAIL] == NULL);
    CHECK_INT(row_reader_next(r, &row, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "unknown key 'emial' (did you mean 'email'?)");
    CHECK_INT(row.line, 3);
    row_reader_raw(r, &p, &n);
    CHECK(n == 23 && memcmp(p, "{\"id\":\"D2\",\"emial\":\"x\"}", 23) == 0);
    CHECK_INT(row_reader_next(r, &row, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "expected a JSON object, got an array");
    CHECK_INT(row_reader_next(r, &row, err, sizeof(err)), -EINVAL);
    CHECK(strncmp(err, "invalid JSON at column ", 23) == 0);
    CHECK_INT(row.line, 5);
    CHECK_INT(row_reader_next(r, &row, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "name: expected a string, number, boolean or null");
    CHECK_INT(row_reader_next(r, &row, err, sizeof(err)), 1);
    CHECK_STR(row.f[DCOL_BALANCE], "0.1");
    CHECK_INT(row.line, 7);
    CHECK_INT(row_reader_next(r, &row, err, sizeof(err)), 0);
    row_reader_free(r);
    close(fd);

    /* by extension */
    fd = memfd_with("id\n", 3);
    CHECK_INT(row_reader_new(fd, "x.NDJSON", ROW_FORMAT_AUTO, &r, err, sizeof(err)), 0);
    CHECK_INT(row_reader_format(r), ROW_FORMAT_JSONL);
    row_reader_free(r);
    close(fd);
    CHECK_INT(row_format_from_string("JSONL"), ROW_FORMAT_JSONL);
    CHECK_INT(row_format_from_string("xml"), _ROW_FORMAT_INVALID);
}

TEST_MAIN({ "basic", test_basic }, { "quoted", test_quoted }, { "errors", test_errors },
          { "big_field", test_big_field }, { "record_limit", test_record_limit },
          { "chunks", test_chunks }, { "expected_output", test_expected_output },
          { "pipe", test_pipe }, { "lines", test_lines },
          { "rowreader_header", test_rowreader_header }, { "rowreader_csv", test_rowreader_csv },
          { "rowreader_jsonl", test_rowreader_jsonl })
