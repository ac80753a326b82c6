/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* error.h: the one way a failure travels from the core to a front end. */
#ifndef MBH_ERROR_H
#define MBH_ERROR_H

#include <sysexits.h>

#define MBH_ERRMSG_LEN 512

/*
 * A caller-owned error: code is the <sysexits.h> status the front end exits
 * with (EX_USAGE 64, EX_DATAERR 65, EX_UNAVAILABLE 69, EX_CANTCREAT 73,
 * EX_TEMPFAIL 75, EX_NOPERM 77, EX_CONFIG 78, EX_SOFTWARE 70), msg is one
 * line that says what went wrong and what to do next.  Never holds a secret.
 */
typedef struct mbh_error {
	int code;
	char msg[MBH_ERRMSG_LEN];
} mbh_error;

/* Clear an error (code 0, empty message). */
void mbh_error_init(mbh_error *err);

/* Fill err (if not NULL) and return -1, so callers can `return mbh_error_set(...)`. */
int mbh_error_set(mbh_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix an existing message with "context: " keeping its code; returns -1. */
int mbh_error_prefix(mbh_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
