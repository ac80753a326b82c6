/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* error.h: the one way a failure travels from the core to a front end. */
#ifndef MBH_ERROR_H
#define MBH_ERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <sysexits.h>

#define MBH_ERRMSG_LEN 512

/*
 * Why something failed, as a value: a caller that acts on a failure tests the
 * reason (mbh_error_is), never the message.  Each reason has a short text and
 * the <sysexits.h> status a program exits with, both from one table
 * (mbh_reason_text, mbh_reason_status).  The general reasons, one per status,
 * are what mbh_error_set gives; the ones after them are told apart by
 * callers.  New reasons go before MBH_REASON_MAX.
 */
typedef enum mbh_reason {
	MBH_OK = 0,
	/* general: one per status */
	MBH_ERR_USAGE,       /* EX_USAGE 64: a bad command line */
	MBH_ERR_DATA,        /* EX_DATAERR 65: bad input data (a corrupt record) */
	MBH_ERR_NOINPUT,     /* EX_NOINPUT 66 */
	MBH_ERR_NOUSER,      /* EX_NOUSER 67 */
	MBH_ERR_NOHOST,      /* EX_NOHOST 68 */
	MBH_ERR_UNAVAILABLE, /* EX_UNAVAILABLE 69: a server or command refused */
	MBH_ERR_SOFTWARE,    /* EX_SOFTWARE 70: a bug of ours */
	MBH_ERR_SYSTEM,      /* EX_OSERR 71: the system failed us (memory, fork, poll) */
	MBH_ERR_OSFILE,      /* EX_OSFILE 72 */
	MBH_ERR_CANTCREAT,   /* EX_CANTCREAT 73: cannot create or lock a file */
	MBH_ERR_IO,          /* EX_IOERR 74 */
	MBH_ERR_TEMPORARY,   /* EX_TEMPFAIL 75: try again later */
	MBH_ERR_PROTOCOL,    /* EX_PROTOCOL 76: a reply that makes no sense */
	MBH_ERR_PERMISSION,  /* EX_NOPERM 77: not allowed (file modes, server privileges) */
	MBH_ERR_CONFIG,      /* EX_CONFIG 78: the configuration is wrong */
	/* particular: callers act on these */
	MBH_ERR_SET_BUSY,    /* EX_TEMPFAIL: another run holds the replica set's flock */
	MBH_ERR_UNREACHABLE, /* EX_UNAVAILABLE: no answer from a server (network, server selection) */
	MBH_ERR_TIMED_OUT,   /* EX_TEMPFAIL: a command ran out of its time and was killed */
	MBH_ERR_CANCELLED,   /* EX_TEMPFAIL: stopped by a cancel */
	MBH_ERR_NOT_STARTED, /* EX_UNAVAILABLE: the command to run under a lock could not start; all undone */
	MBH_ERR_RECORD_EDITED, /* EX_DATAERR: a state record changed by hand (its seal does not match) */
	MBH_REASON_MAX
} mbh_reason;

/*
 * A caller-owned error: reason says why (see above), code is the
 * <sysexits.h> status the front end exits with, always the reason's
 * (mbh_reason_status); msg is one line that says what went wrong and what to
 * do next.  detail is where in msg the words after the message's lead-in
 * start (mbh_error_detail), 0 when the message has none.  Never holds a
 * secret.
 */
typedef struct mbh_error {
	int code;
	mbh_reason reason;
	size_t detail;
	char msg[MBH_ERRMSG_LEN];
} mbh_error;

/* The reason's short text ("another run holds the replica set"); never NULL, also for a value out of range. */
const char *mbh_reason_text(mbh_reason reason);

/* The reason's <sysexits.h> status (0 for MBH_OK, EX_SOFTWARE for a value out of range). */
int mbh_reason_status(mbh_reason reason);

/* The general reason of a status (mbh_error_set); MBH_ERR_SOFTWARE for one that is no sysexits status. */
mbh_reason mbh_reason_of_status(int status);

/* Clear an error (MBH_OK, code 0, empty message). */
void mbh_error_init(mbh_error *err);

/* Fill err (if not NULL) with reason and message and return -1, so callers can `return mbh_error_fail(...)`. */
int mbh_error_fail(mbh_error *err, mbh_reason reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * mbh_error_fail with msg = lead followed by the formatted detail, which a
 * caller that words its own lead-in quotes alone (mbh_error_detail): e.g.
 * lead "cannot reach h:27017: ", detail the driver's words.  Returns -1.
 */
int mbh_error_fail_detail(mbh_error *err, mbh_reason reason, const char *lead, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Fill err (if not NULL) with the general reason of code (a <sysexits.h> status) and return -1. */
int mbh_error_set(mbh_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix an existing message with "context: " keeping its reason and detail; returns -1. */
int mbh_error_prefix(mbh_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Give err another reason (and so status), keeping its message. */
void mbh_error_recast(mbh_error *err, mbh_reason reason);

/* True if err failed for reason.  NULL is no error. */
bool mbh_error_is(const mbh_error *err, mbh_reason reason);

/* The message's detail (see mbh_error_fail_detail), or the whole message when it has none.  Borrowed. */
const char *mbh_error_detail(const mbh_error *err);

#endif
