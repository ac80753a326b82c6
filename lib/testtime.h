/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* testtime.h: how long a second of the product's own waits lasts (a test build may shorten it). */
#ifndef MBH_TESTTIME_H
#define MBH_TESTTIME_H

#include <stdint.h>

/*
 * The product's own waits count whole seconds: lock.max_seconds (the
 * lock's deadline), script.timeout, script.idle_timeout, snapshot.timeout,
 * the kill grace, the watchdog's poll and its backoff.
 * A test build (configure --enable-crash-points) honours the environment
 * variable MBH_TEST_SECOND_MS=N (1 to 1000): each of those seconds lasts
 * N ms, so that a test checks a rule about them in milliseconds.  The
 * record's deadline keeps its unit (whole seconds, rounded up); the run and
 * its watchdog act on it to the ms (mbh_state_deadline_ms).  In any
 * other build, and without the variable, a second is 1000 ms.
 */
#ifdef MBH_CRASH_POINTS
#define MBH_TEST_SECOND_ENV "MBH_TEST_SECOND_MS"
int64_t mbh_seconds_ms(int64_t seconds);
#else
#define mbh_seconds_ms(seconds) ((int64_t)(seconds) * 1000)
#endif

#endif
