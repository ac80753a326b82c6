/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* error.c: the reasons' table, and filling and prefixing the caller-owned error struct. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

/* Every reason's text and status, in the enum's order (t_error checks both). */
static const struct {
	mbh_reason reason;
	int status;
	const char *text;
} reasons[] = {
	{ MBH_OK, 0, "success" },
	{ MBH_ERR_USAGE, EX_USAGE, "bad usage" },
	{ MBH_ERR_DATA, EX_DATAERR, "bad data" },
	{ MBH_ERR_NOINPUT, EX_NOINPUT, "input missing" },
	{ MBH_ERR_NOUSER, EX_NOUSER, "no such user" },
	{ MBH_ERR_NOHOST, EX_NOHOST, "no such host" },
	{ MBH_ERR_UNAVAILABLE, EX_UNAVAILABLE, "unavailable" },
	{ MBH_ERR_SOFTWARE, EX_SOFTWARE, "internal error" },
	{ MBH_ERR_SYSTEM, EX_OSERR, "system error" },
	{ MBH_ERR_OSFILE, EX_OSFILE, "system file missing" },
	{ MBH_ERR_CANTCREAT, EX_CANTCREAT, "cannot create" },
	{ MBH_ERR_IO, EX_IOERR, "input/output error" },
	{ MBH_ERR_TEMPORARY, EX_TEMPFAIL, "temporary failure" },
	{ MBH_ERR_PROTOCOL, EX_PROTOCOL, "protocol error" },
	{ MBH_ERR_PERMISSION, EX_NOPERM, "permission denied" },
	{ MBH_ERR_CONFIG, EX_CONFIG, "configuration error" },
	{ MBH_ERR_SET_BUSY, EX_TEMPFAIL, "another run holds the replica set" },
	{ MBH_ERR_UNREACHABLE, EX_UNAVAILABLE, "server unreachable" },
	{ MBH_ERR_TIMED_OUT, EX_TEMPFAIL, "timed out" },
	{ MBH_ERR_CANCELLED, EX_TEMPFAIL, "cancelled" },
	{ MBH_ERR_NOT_STARTED, EX_UNAVAILABLE, "command did not start" },
	{ MBH_ERR_RECORD_EDITED, EX_DATAERR, "record changed by hand" },
};

_Static_assert(sizeof(reasons) / sizeof(reasons[0]) == MBH_REASON_MAX, "a reason without a row in reasons[]");

/* A reason's text. */
const char *
mbh_reason_text(mbh_reason reason)
{
	if ((int)reason < 0 || reason >= MBH_REASON_MAX)
		return "unknown reason";
	return reasons[reason].text;
}

/* A reason's status. */
int
mbh_reason_status(mbh_reason reason)
{
	if ((int)reason < 0 || reason >= MBH_REASON_MAX)
		return EX_SOFTWARE;
	return reasons[reason].status;
}

/* The first reason of the table with that status: the general one. */
mbh_reason
mbh_reason_of_status(int status)
{
	size_t i;

	for (i = MBH_ERR_USAGE; i <= MBH_ERR_CONFIG; i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return MBH_ERR_SOFTWARE;
}

/* Clear an error. */
void
mbh_error_init(mbh_error *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->reason = MBH_OK;
	err->detail = 0;
	err->msg[0] = '\0';
}

/* Reason and status together, so they never disagree. */
static void
set_reason(mbh_error *err, mbh_reason reason)
{
	err->reason = reason >= MBH_REASON_MAX ? MBH_ERR_SOFTWARE : reason;
	err->code = mbh_reason_status(err->reason);
}

/* The whole message from fmt, no detail part; nothing when err is NULL. */
static void
fill(mbh_error *err, mbh_reason reason, const char *fmt, va_list ap)
{
	if (err == NULL)
		return;
	set_reason(err, reason);
	err->detail = 0;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

/* Fill err and return -1. */
int
mbh_error_fail(mbh_error *err, mbh_reason reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fill(err, reason, fmt, ap);
	va_end(ap);
	return -1;
}

/* Lead-in, then the detail; -1. */
int
mbh_error_fail_detail(mbh_error *err, mbh_reason reason, const char *lead, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	if (err == NULL)
		return -1;
	set_reason(err, reason);
	n = (size_t)snprintf(err->msg, sizeof(err->msg), "%s", lead);
	if (n >= sizeof(err->msg) - 1) {
		err->detail = 0; /* no room left for any detail */
		return -1;
	}
	err->detail = n;
	va_start(ap, fmt);
	vsnprintf(err->msg + n, sizeof(err->msg) - n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Fill err with the general reason of code and return -1. */
int
mbh_error_set(mbh_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fill(err, mbh_reason_of_status(code), fmt, ap);
	va_end(ap);
	return -1;
}

/* Put "context: " in front of the message already in err (truncating the end). */
int
mbh_error_prefix(mbh_error *err, const char *fmt, ...)
{
	char old[MBH_ERRMSG_LEN];
	size_t used, len = 0;
	va_list ap;

	if (err == NULL)
		return -1;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	used = strlen(err->msg);
	if (used + 2 < sizeof(err->msg)) {
		size_t room = sizeof(err->msg) - used - 3;

		len = strnlen(old, sizeof(old));
		memcpy(err->msg + used, ": ", 2);
		used += 2;
		if (len > room)
			len = room;
		memcpy(err->msg + used, old, len);
		err->msg[used + len] = '\0';
	}
	/* the detail moves with the old message; cut off, there is none */
	err->detail = err->detail > 0 && err->detail < len ? used + err->detail : 0;
	return -1;
}

/* Another reason, the same message. */
void
mbh_error_recast(mbh_error *err, mbh_reason reason)
{
	if (err != NULL)
		set_reason(err, reason);
}

/* Did err fail for reason? */
bool
mbh_error_is(const mbh_error *err, mbh_reason reason)
{
	return err != NULL && err->reason == reason;
}

/* The detail, or the whole message. */
const char *
mbh_error_detail(const mbh_error *err)
{
	if (err->detail == 0 || err->detail >= sizeof(err->msg) || err->detail > strnlen(err->msg, sizeof(err->msg)))
		return err->msg;
	return err->msg + err->detail;
}
