/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* log.h: log lines to stderr, syslog and one extra sink, with secrets redacted. */
#ifndef MBH_LOG_H
#define MBH_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum mbh_log_level {
	MBH_LOG_ERROR = 0,
	MBH_LOG_WARNING,
	MBH_LOG_NOTICE,
	MBH_LOG_INFO,
	MBH_LOG_DEBUG
} mbh_log_level;

/* An extra destination (the Bacula plugin's JobMessage, a test's recorder). */
typedef void (*mbh_log_sink)(void *ctx, mbh_log_level level, const char *line);

/*
 * Configure the process-wide logger.  ident prefixes stderr lines
 * ("mongo-prebackup: warning: ...") and names the syslog ident.  Lines above
 * max_level are dropped.  Also routes libmongoc's own log through mbh_log at
 * debug level (warnings from the driver at warning level).
 */
void mbh_log_setup(const char *ident, mbh_log_level max_level, bool to_stderr, bool to_syslog);

/* Install (or with fn NULL remove) the extra sink. */
void mbh_log_set_sink(mbh_log_sink fn, void *ctx);

/* Register a string that must never appear in a log line; each occurrence is replaced by "*****". Copied. */
void mbh_log_add_secret(const char *secret);

/* Forget every registered secret (wiping the copies). */
void mbh_log_clear_secrets(void);

/* Log one line (no trailing newline needed). */
void mbh_log(mbh_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Copy in to out (NUL-terminated, truncated to outlen) with every registered
 * secret and every password of a connection string replaced by "*****", and
 * line breaks turned into spaces.  For messages that do not go through
 * mbh_log (mbh_error texts built from driver errors).
 */
void mbh_log_redact(const char *in, char *out, size_t outlen);

/* Parse "error", "warning", "notice", "info", "debug"; returns 0 or -1. */
int mbh_log_level_parse(const char *name, mbh_log_level *out);

#endif
