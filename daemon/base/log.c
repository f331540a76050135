/*
 * log.c - stderr logging for the CLI edge.
 *
 * Lines are "cadenza: error: message".  Never called from core modules
 * (invariant 1 of STYLE.md's error rules: the edge logs once).
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>

static enum log_level max_level = LOG_NOTICE;
static const char *log_prefix = "cadenza";

void log_set_level(enum log_level l)
{
    max_level = l;
}

void log_set_prefix(const char *prefix)
{
    log_prefix = prefix;
}

static void log_vmsg(enum log_level l, const char *fmt, va_list ap)
{
    static const char *const names[] = { "error", "warning", "notice", "info", "debug" };
    if (l > max_level)
        return;
    if (l <= LOG_WARNING)
        fprintf(stderr, "%s: %s: ", log_prefix, names[l]);
    else
        fprintf(stderr, "%s: ", log_prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void log_msg(enum log_level l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(l, fmt, ap);
    va_end(ap);
}

int log_msg_errno(enum log_level l, int r, const char *fmt, ...)
{
    va_list ap;
    int saved = errno;
    errno = r < 0 ? -r : r;
    va_start(ap, fmt);
    log_vmsg(l, fmt, ap);
    va_end(ap);
    errno = saved;
    return r;
}
