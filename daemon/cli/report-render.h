/*
 * report-render.h - the contact report (report.h) as a text table, JSON,
 * CSV or one self-contained HTML page.  Formats in docs/report.md.
 */
#ifndef CADENZA_REPORT_RENDER_H
#define CADENZA_REPORT_RENDER_H

#include <stdio.h>

struct report;

enum report_format {
    REPORT_FORMAT_TABLE,
    REPORT_FORMAT_JSON,
    REPORT_FORMAT_CSV,
    REPORT_FORMAT_HTML,
    _REPORT_FORMAT_MAX,
    _REPORT_FORMAT_INVALID = -22,
};

enum report_format report_format_from_string(const char *s);

/*
 * Write a finished report to f.  Returns 0, -ENOMEM, or -EIO when f
 * reports a write error.  Blocks on f.
 */
int report_render(const struct report *r, enum report_format fmt, FILE *f);

#endif
