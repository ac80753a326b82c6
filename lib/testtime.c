/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* testtime.c: how long a second of the product's own waits lasts (a test build may shorten it). */
#include "autoconfig.h"

#include <stdlib.h>

#include "testtime.h"

#ifdef MBH_CRASH_POINTS
/* Seconds in ms, at MBH_TEST_SECOND_MS ms each when it is set (test builds only). */
int64_t
mbh_seconds_ms(int64_t seconds)
{
	const char *v = getenv(MBH_TEST_SECOND_ENV);
	char *end;
	long ms;

	if (v == NULL || v[0] == '\0')
		return seconds * 1000;
	ms = strtol(v, &end, 10);
	if (*end != '\0' || ms < 1 || ms > 1000)
		return seconds * 1000; /* a test's typo must not shorten anything */
	return seconds * ms;
}
#endif
