/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* release.h: release one recorded lock: kill its command, unlock, unfreeze, stop its watchdog, clear the record. */
#ifndef MBH_RELEASE_H
#define MBH_RELEASE_H

#include <signal.h>
#include <stdbool.h>

#include "error.h"
#include "lock.h"
#include "log.h"
#include "state.h"

/* Who is releasing, for what the release may skip and how it words things. */
typedef enum mbh_releaser {
	MBH_RELEASER_RUN = 0, /* the run that locked (its own session, its command already stopped) */
	MBH_RELEASER_POST,    /* mongo-postbackup, from the record */
	MBH_RELEASER_WATCHDOG /* the watchdog program, at the deadline */
} mbh_releaser;

/*
 * The one way a recorded lock is released, shared by the run, post and the
 * watchdog.  Under the state directory's unlock claim (mbh_state_claim), the
 * record is read again.  Post knows only the record: when it is gone or no
 * longer the lock `want` describes (another token), someone else released
 * it: *released = false, 0; an unreadable one fails.  The run and the
 * watchdog know want first-hand (member, token, deadline): a record gone,
 * unreadable or naming another lock or member (touched by hand) never
 * strands the lock.  The run then releases want itself before the deadline
 * and leaves it to the watchdog after; the watchdog releases want unless
 * *stopped (its SIGTERM from a releaser that got there first; NULL = never)
 * or another run's record now stands there.  A file it could not use is
 * left as it is, and said so.  Otherwise: kill the recorded command's
 * process group (invariant 8: nothing reads the member once its lock is
 * gone), then on session (LOCKING: only if
 * currentOp shows a lock) one fsyncUnlock with the count checked, unfreeze
 * when frozen, stop the watchdog (unless it is the releaser), remove the
 * record; a record that names a snapshot (snapshot mode) is kept instead, as
 * phase SNAPSHOT, for mongo-postbackup to remove the snapshot.  A SNAPSHOT
 * record has nothing to unlock: 0, *released = false.
 * *released = true once the member is unlocked, even when the record
 * cannot be removed afterwards (then -1, EX_CANTCREAT naming the file and
 * what to do: the unlock never depends on a writable state directory).
 * An unreachable member: -1 (EX_TEMPFAIL), the record stays.
 */
int mbh_release(mbh_logger *lg, mbh_lock_session *session, const char *state_dir, const mbh_state_rec *want,
		mbh_releaser who, const volatile sig_atomic_t *stopped, bool *released, mbh_error *err);

/* Ask the watchdog of rec to stop (SIGTERM), if that pid is still the process we started. */
void mbh_release_stop_watchdog(mbh_logger *lg, const mbh_state_rec *rec);

/*
 * When post cannot show a record is ours (changed by hand): ask the watchdog
 * it names, if that pid is still the watchdog program we started, to
 * release the lock it was handed at once (MBH_WD_RELEASE_NOW): it knows the
 * member and the token first-hand, so it releases only our lock.  true when
 * asked.
 */
bool mbh_release_ask_watchdog(mbh_logger *lg, const mbh_state_rec *rec);

/* "the lock is still held" (or "may be": LOCKING) after an unreachable member, with the deadline; keeps err's cause. */
int mbh_release_still_held(mbh_error *err, const mbh_state_rec *rec, bool may);

#endif
