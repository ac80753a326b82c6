/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* log.h: one job's logger: stderr, syslog and one extra sink, with that job's secrets masked. */
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

/* An extra destination (the Bacula plugin's JobMessage, a test's recorder).  line is masked already. */
typedef void (*mbh_log_sink)(void *ctx, mbh_log_level level, const char *line);

#define MBH_LOG_STDERR 0x1 /* "IDENT: warning: text" on stderr (the programs only) */
#define MBH_LOG_SYSLOG 0x2 /* syslog(3); openlog is the caller's business (the core never calls it) */

/*
 * A logger belongs to one job (or one program run): nothing is shared
 * between two loggers, so two jobs in one process never write into each
 * other's sink or see each other's secrets.  It may be used from several
 * threads at once (the plugin's job thread and Bacula's cancel thread).
 */
typedef struct mbh_logger mbh_logger;

/* ident prefixes stderr lines; lines above max_level are dropped; sink may be NULL.  Caller owns *out. */
int mbh_logger_new(mbh_logger **out, const char *ident, mbh_log_level max_level, unsigned flags, mbh_log_sink sink,
		   void *sink_ctx);

/* Change the level and destinations (a program learns them from its config after the logger exists). */
void mbh_logger_configure(mbh_logger *lg, mbh_log_level max_level, unsigned flags);

/* Register a string that must never appear in this logger's lines ("*****" instead).  Copied; NULL/"" ignored. */
void mbh_logger_add_secret(mbh_logger *lg, const char *secret);

/* Log one line (no trailing newline needed).  lg NULL: nothing happens. */
void mbh_logf(mbh_logger *lg, mbh_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Copy in to out (NUL-terminated, truncated to outlen) with this logger's
 * secrets and every connection-string password replaced by "*****", line
 * breaks turned into spaces and other control characters escaped.  lg may be
 * NULL (connection strings only).  For text that does not go through mbh_logf.
 */
void mbh_logger_redact(mbh_logger *lg, const char *in, char *out, size_t outlen);

/* Wipe the secrets and free.  NULL is fine. */
void mbh_logger_free(mbh_logger *lg);

/* Parse "error", "warning", "notice", "info", "debug"; returns 0 or -1. */
int mbh_log_level_parse(const char *name, mbh_log_level *out);

#endif
