/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* error.c: fill and prefix the caller-owned error struct. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

/* Clear an error. */
void
mbh_error_init(mbh_error *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

/* Fill err and return -1. */
int
mbh_error_set(mbh_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Put "context: " in front of the message already in err (truncating the end). */
int
mbh_error_prefix(mbh_error *err, const char *fmt, ...)
{
	char old[MBH_ERRMSG_LEN];
	size_t used;
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
		size_t len = strnlen(old, sizeof(old));

		memcpy(err->msg + used, ": ", 2);
		used += 2;
		if (len > room)
			len = room;
		memcpy(err->msg + used, old, len);
		err->msg[used + len] = '\0';
	}
	return -1;
}
