/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* proc.h: process identity: a pid with its start time, so a reused pid is never taken for the process recorded. */
#ifndef MBH_PROC_H
#define MBH_PROC_H

#include <stdbool.h>
#include <stdint.h>

/* Read /proc/PID/stat's starttime; 0 if the process does not exist.  A zombie still has its starttime. */
uint64_t mbh_proc_starttime(long pid);

/*
 * Is pid still the process that started at start (mbh_proc_starttime), and
 * alive: a dead process its parent has not reaped yet (a zombie) is not.
 */
bool mbh_proc_running(long pid, uint64_t start);

#endif
