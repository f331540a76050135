/*
 * log.h - diagnostics from the edge (CLI verbs, later the daemon loop).
 * Core modules return errors; only the edge logs, once, where it decides.
 */
#ifndef CADENZA_LOG_H
#define CADENZA_LOG_H

#include "util.h"

enum log_level { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level l);
void log_set_prefix(const char *prefix); /* "cadenza" by default */
void log_msg(enum log_level l, const char *fmt, ...) _printf_(2, 3);
/* Log with errno = -r (for %m) and return r. */
int log_msg_errno(enum log_level l, int r, const char *fmt, ...) _printf_(3, 4);

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_error_errno(r, ...) log_msg_errno(LOG_ERR, r, __VA_ARGS__)
#define log_warning_errno(r, ...) log_msg_errno(LOG_WARNING, r, __VA_ARGS__)

#endif
