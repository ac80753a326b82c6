/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* crash.h: named crash points, compiled only into a test build (configure --enable-crash-points). */
#ifndef MBH_CRASH_H
#define MBH_CRASH_H

/*
 * MBH_CRASH("pre-locked") sends the process the signal that
 * MBH_CRASH_AT="pre-locked:KILL" names (KILL, TERM or INT) when the names
 * match, so a test can stop a run at every step and check that nothing stays
 * locked.  In a normal build it is nothing at all.
 */
#ifdef MBH_CRASH_POINTS
void mbh_crash_point(const char *name);
#define MBH_CRASH(name) mbh_crash_point(name)
#else
#define MBH_CRASH(name) ((void)0)
#endif

#endif
