/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* wdguard.h: the watchdog's guard: read the record, learn from it, fire at the deadline (libc only). */
#ifndef MBH_WDGUARD_H
#define MBH_WDGUARD_H

#include <signal.h>
#include <stdbool.h>

#include "error.h"
#include "state.h"
#include "watchdog.h"

typedef struct mbh_wd_guard mbh_wd_guard;

/*
 * One lock guarded, by the watchdog program and by its releaser (see
 * watchdog.h), each with its own fire: the first becomes the second, which
 * releases.  The flags are the program's signal handlers'.
 */
struct mbh_wd_guard {
	const mbh_watchdog_settings *s;
	mbh_state_rec rec;                  /* the lock: what it was handed, then what the record adds */
	bool learned;                       /* rec holds what a record of this lock said */
	bool fired;                         /* the deadline (or MBH_WD_RELEASE_NOW) has come */
	volatile sig_atomic_t *stop;        /* SIGTERM: the lock was released by whoever sent it */
	volatile sig_atomic_t *release_now; /* MBH_WD_RELEASE_NOW */
	/* Release (try attempt, from 1): 0 when nothing is locked any more, else -1 and a backoff. */
	int (*fire)(mbh_wd_guard *g, int attempt);
	/* The record cannot be read (said once): msg holds no secret. */
	void (*warn)(mbh_wd_guard *g, const char *msg);
	void *ctx;
};

/*
 * Fill g from s: the lock it was handed (the member, the token, the
 * deadline, the command) and, when s holds a record (MBH_WD_RECORD), what
 * that adds; s->fire: fired already.  -1 with why when that record does not
 * parse (g then holds what it was handed).
 */
int mbh_wd_guard_init(mbh_wd_guard *g, const mbh_watchdog_settings *s, mbh_error *err);

/*
 * Guard until the lock is released: the record read each second (the
 * watchdog's poll), learned from while it names this lock; return when it
 * names another lock or says SNAPSHOT (someone released ours), on *stop, or
 * when fire says nothing is locked.  At the deadline it was handed, whatever
 * the record says (removed, unreadable, edited), or on *release_now: fire,
 * again after a backoff doubling up to a minute until it succeeds.
 */
int mbh_wd_guard_run(mbh_wd_guard *g);

#endif
