/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* timefmt.h: the wall clock, and a time as messages, --status and the events file show it. */
#ifndef MBH_TIMEFMT_H
#define MBH_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/*
 * CLOCK_REALTIME now in ms: the clock of the record's deadline, as both the
 * run and its watchdog read it (time() may lag it by a few ms).
 */
int64_t mbh_wall_ms(void);

/* Unix seconds t as local time, "2024-05-01 12:00:00 +0200" ("@T" if it cannot be shown), into buf. */
void mbh_fmt_time(int64_t t, char *buf, size_t len);

#endif
