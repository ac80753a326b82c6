/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* crash.c: named crash points for the crash tests (test builds only). */
#include "autoconfig.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash.h"

#ifdef MBH_CRASH_POINTS
/* Signal ourselves when MBH_CRASH_AT names this point. */
void
mbh_crash_point(const char *name)
{
	const char *at = getenv("MBH_CRASH_AT"), *colon;
	size_t n = strlen(name);
	int sig = SIGKILL;

	if (at == NULL || strncmp(at, name, n) != 0 || (at[n] != '\0' && at[n] != ':'))
		return;
	colon = at + n;
	if (*colon == ':' && strcmp(colon + 1, "TERM") == 0)
		sig = SIGTERM;
	else if (*colon == ':' && strcmp(colon + 1, "INT") == 0)
		sig = SIGINT;
	kill(getpid(), sig);
}
#endif
