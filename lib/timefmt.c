/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* timefmt.c: a time as messages, --status and the events file show it. */
#include "autoconfig.h"

#include <stdio.h>
#include <time.h>

#include "timefmt.h"

/* Format a time for messages. */
void
mbh_fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(buf, len, "@%lld", (long long)t);
}
