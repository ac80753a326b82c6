/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* timefmt.c: the wall clock, and a time as messages, --status and the events file show it. */
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

/* See timefmt.h. */
int64_t
mbh_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
