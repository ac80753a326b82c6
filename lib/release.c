/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* release.c: release one recorded lock: kill its command, unlock, unfreeze, stop its watchdog, clear the record. */
#include "autoconfig.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "release.h"
#include "run.h"
#include "timefmt.h"
#include "watchdog.h"

/* How long a release waits for another releaser's claim (it only covers a few commands to one member). */
#define CLAIM_WAIT_MS 30000
#define KILL_WAIT_MS 3000

/* Stop the watchdog. */
void
mbh_release_stop_watchdog(mbh_logger *lg, const mbh_state_rec *rec)
{
	uint64_t start;

	if (rec->watchdog_pid <= 0)
		return;
	start = mbh_proc_starttime(rec->watchdog_pid);
	if (start != 0 && start == rec->watchdog_start) {
		if (kill((pid_t)rec->watchdog_pid, SIGTERM) == 0)
			mbh_logf(lg, MBH_LOG_DEBUG, "stopped the watchdog (pid %ld)", rec->watchdog_pid);
	} else {
		mbh_logf(lg, MBH_LOG_DEBUG, "the watchdog (pid %ld) is no longer running", rec->watchdog_pid);
	}
}

/* Is pid a watchdog program (its name, as /proc/PID/comm keeps its first 15 bytes)? */
static bool
is_watchdog(long pid)
{
	char path[64], comm[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return false;
	comm[n] = '\0';
	return strncmp(comm, "mongo-backup-wa", 15) == 0;
}

/* Ask the watchdog rec names to release the lock it was handed now; see release.h. */
bool
mbh_release_ask_watchdog(mbh_logger *lg, const mbh_state_rec *rec)
{
	if (rec->watchdog_pid <= 0 || !mbh_proc_running(rec->watchdog_pid, rec->watchdog_start) ||
	    !is_watchdog(rec->watchdog_pid) || kill((pid_t)rec->watchdog_pid, MBH_WD_RELEASE_NOW) != 0)
		return false;
	mbh_logf(lg, MBH_LOG_DEBUG, "asked the watchdog (pid %ld) to release its lock now", rec->watchdog_pid);
	return true;
}

/* An unreachable member: say the lock is still held and what happens next. */
int
mbh_release_still_held(mbh_error *err, const mbh_state_rec *rec, bool may)
{
	char deadline[64], why[MBH_ERRMSG_LEN];

	if (err->code != EX_UNAVAILABLE)
		return -1; /* auth or permission: keep that message and code */
	/* the driver's words only (after "cannot reach HOST: "): the message names the member already */
	snprintf(why, sizeof(why), "%s", mbh_error_detail(err));
	if (rec->deadline > 0) {
		mbh_fmt_time(rec->deadline, deadline, sizeof(deadline));
		return mbh_error_set(err, EX_TEMPFAIL,
				     "cannot reach %s; the lock %s still held; run mongo-postbackup again when it is back "
				     "(the watchdog keeps trying from %s) (%s)",
				     rec->member, may ? "may be" : "is", deadline, why);
	}
	return mbh_error_set(err, EX_TEMPFAIL,
			     "cannot reach %s; the lock %s still held; run mongo-postbackup again when it is back (%s)",
			     rec->member, may ? "may be" : "is", why);
}

/* The unlock itself, under the claim, on a record known to be ours. */
static int
unlock_member(mbh_logger *lg, mbh_lock_session *session, const mbh_state_rec *rec, mbh_releaser who,
	      mbh_error *err)
{
	int64_t left = 0;
	bool locked = true, was_locked = true;

	if (rec->phase == MBH_PHASE_LOCKING) {
		/* a run died between the intent and the record of the lock: was it taken? */
		if (mbh_lock_is_fsync_locked(session, &locked, err) != 0)
			return mbh_release_still_held(err, rec, true);
		if (!locked) {
			mbh_logf(lg, MBH_LOG_INFO, "a run (pid %ld) stopped while locking %s; it is not locked", rec->pid,
				 rec->member);
			return 0;
		}
	}
	if (mbh_lock_fsync_unlock(session, &left, &was_locked, err) != 0)
		return mbh_release_still_held(err, rec, rec->phase == MBH_PHASE_LOCKING);
	if (!was_locked)
		mbh_logf(lg, MBH_LOG_WARNING,
			 "%s was no longer locked (restarted, or unlocked by someone else); clearing the record",
			 rec->member);
	else if (rec->phase == MBH_PHASE_LOCKING)
		mbh_logf(lg, MBH_LOG_WARNING, "a run (pid %ld) stopped while locking %s; unlocked it once (lockCount now %lld)",
			 rec->pid, rec->member, (long long)left);
	else if (rec->lock_count > 0 && left != rec->lock_count - 1)
		mbh_logf(lg, MBH_LOG_WARNING,
			 "fsyncUnlock on %s left lockCount %lld, expected %lld (our lock returned %lld): someone else "
			 "locked or unlocked it meanwhile; check with db.currentOp().fsyncLock",
			 rec->member, (long long)left, (long long)(rec->lock_count - 1), (long long)rec->lock_count);
	if (was_locked && who != MBH_RELEASER_WATCHDOG && rec->phase == MBH_PHASE_LOCKED)
		mbh_logf(lg, MBH_LOG_INFO, "unlocked %s (lockCount now %lld)", rec->member, (long long)left);
	return 0;
}

/*
 * A released lock whose record names a snapshot (snapshot mode): the record
 * stays, as phase SNAPSHOT, for whoever removes the snapshot (never the
 * watchdog).  Nothing is locked or frozen any more, and no watchdog guards it.
 */
static int
keep_snapshot_record(const char *state_dir, const mbh_state_rec *rec, mbh_error *err)
{
	mbh_state_rec snap = *rec;

	snap.phase = MBH_PHASE_SNAPSHOT;
	snap.frozen = false;
	snap.watchdog_pid = 0;
	snap.watchdog_start = 0;
	snap.command_pid = 0;
	snap.command_start = 0;
	if (mbh_state_put(state_dir, &snap, err) != 0)
		return mbh_error_prefix(err, "%s is unlocked, but the record of its snapshot %s could not be kept (%s/%s.state "
					"still says LOCKED; mongo-postbackup removes the snapshot)",
					rec->member, rec->snapshot, state_dir, rec->set_name);
	return 0;
}

/* What became of the record a releaser that knows its lock first-hand finds. */
typedef enum rec_fate { REC_OK = 0, REC_GONE, REC_UNREADABLE, REC_OTHER } rec_fate;

/*
 * The record is gone, unreadable or another lock's, but who (the run, the
 * watchdog) knows the lock first-hand: should it release want anyway?  why
 * says what became of the record.  The run holds the set's flock, so before
 * the deadline nobody else may have released it (the watchdog acts only from
 * the deadline on, and then the run leaves it to the watchdog).  The watchdog
 * acts unless whoever released the lock stopped it (*stopped, checked under
 * the claim, which the releaser holds until after its SIGTERM), or the record
 * now names another run's lock (a new run, so ours was released).
 */
static bool
act_on_memory(mbh_logger *lg, const mbh_state_rec *want, mbh_releaser who, const volatile sig_atomic_t *stopped,
	      rec_fate fate, const char *state_dir, const char *why)
{
	char deadline[64];

	if (who == MBH_RELEASER_RUN && mbh_wall_ms() >= mbh_state_deadline_ms(want)) {
		mbh_fmt_time(want->deadline, deadline, sizeof(deadline));
		if (fate == REC_GONE)
			/* what the watchdog leaves once it has released the lock at the deadline */
			mbh_logf(lg, MBH_LOG_DEBUG, "the lock on %s was released at its deadline (%s) by the watchdog",
				 want->member, deadline);
		else
			mbh_logf(lg, MBH_LOG_WARNING, "the record of the lock on %s (%s/%s.state) %s; its deadline (%s) has "
				 "passed, so the watchdog releases it", want->member, state_dir, want->set_name, why, deadline);
		return false;
	}
	if (who == MBH_RELEASER_WATCHDOG && ((stopped != NULL && *stopped) || fate == REC_OTHER))
		return false;
	mbh_logf(lg, MBH_LOG_WARNING, "the record of the lock on %s (%s/%s.state) %s; releasing the lock %s knows "
		 "anyway", want->member, state_dir, want->set_name, why, who == MBH_RELEASER_RUN ? "this run" : "the watchdog");
	return true;
}

/* Release; see release.h. */
int
mbh_release(mbh_logger *lg, mbh_lock_session *session, const char *state_dir, const mbh_state_rec *want,
	    mbh_releaser who, const volatile sig_atomic_t *stopped, bool *released, mbh_error *err)
{
	mbh_state_rec rec;
	mbh_error e, rerr;
	bool present = false, known = who != MBH_RELEASER_POST;
	rec_fate fate = REC_OK;
	const char *why = NULL;
	char whybuf[MBH_ERRMSG_LEN + 32];
	int claim = -1, rc = -1;

	*released = false;
	mbh_error_init(&e);
	mbh_error_init(&rerr);
	if (mbh_state_claim(&claim, state_dir, CLAIM_WAIT_MS, &e) != 0) {
		/* a releaser stuck (stopped) with the claim must not keep the member locked forever */
		mbh_logf(lg, MBH_LOG_WARNING, "%s; going ahead without it", e.msg);
	}
	if (mbh_state_peek(state_dir, want->set_name, &rec, &present, &rerr) != 0) {
		if (!known) {
			*err = rerr;
			goto out;
		}
		snprintf(whybuf, sizeof(whybuf), "cannot be read (%s)", rerr.msg);
		why = whybuf;
		fate = REC_UNREADABLE;
	} else if (present && mbh_state_same_lock(&rec, want) && rec.phase == MBH_PHASE_SNAPSHOT) {
		/* unlocked already; only its snapshot is left, and that is not ours to touch here */
		rc = 0;
		goto out;
	} else if (!present || !mbh_state_same_lock(&rec, want)) {
		if (!known) {
			mbh_logf(lg, MBH_LOG_DEBUG, "the lock on %s was released by someone else", want->member);
			rc = 0;
			goto out;
		}
		fate = present ? REC_OTHER : REC_GONE;
		why = present ? "names another lock" : "is gone (removed by hand?)";
	}
	if (fate != REC_OK) {
		/* the record is no help: release what who knows, and leave the file as it is */
		if (!act_on_memory(lg, want, who, stopped, fate, state_dir, why)) {
			rc = 0;
			goto out;
		}
		rec = *want;
	} else if (known && strcmp(rec.member, want->member) != 0) {
		mbh_logf(lg, MBH_LOG_WARNING, "the record of the lock on %s names %s (changed by hand?); releasing %s",
			 want->member, rec.member, want->member);
		snprintf(rec.member, sizeof(rec.member), "%s", want->member);
	}
	if (rec.command_pid > 0 &&
	    mbh_run_kill_group(rec.command_pid, rec.command_start, mbh_proc_starttime, KILL_WAIT_MS))
		mbh_logf(lg, MBH_LOG_WARNING, "killed the command still running under the lock on %s (pid %ld)",
			 rec.member, rec.command_pid);
	if (unlock_member(lg, session, &rec, who, err) != 0)
		goto out;
	*released = true;
	if (rec.frozen) {
		mbh_error_init(&e);
		if (mbh_lock_freeze(session, 0, &e) != 0)
			mbh_logf(lg, MBH_LOG_WARNING, "could not unfreeze %s (it may stay unelectable for up to %lld s): %s",
				 rec.member, (long long)(rec.deadline > rec.since ? rec.deadline - rec.since : 0), e.msg);
	}
	if (who != MBH_RELEASER_WATCHDOG)
		mbh_release_stop_watchdog(lg, who == MBH_RELEASER_RUN ? want : &rec);
	if (fate != REC_OK && rec.snapshot[0] == '\0') {
		if (fate != REC_GONE)
			mbh_logf(lg, MBH_LOG_WARNING, "%s is unlocked; %s/%s.state, which %s, was left as it is: check it, "
				 "then remove it", rec.member, state_dir, rec.set_name, why);
	} else if (rec.snapshot[0] != '\0') {
		if (keep_snapshot_record(state_dir, &rec, err) != 0)
			goto out;
	} else if (mbh_state_unlink(state_dir, rec.set_name, err) != 0) {
		mbh_error_prefix(err, "%s is unlocked, but its record stays (%s/%s.state): remove that file once the "
				 "state directory is writable",
				 rec.member, state_dir, rec.set_name);
		goto out;
	}
	rc = 0;
out:
	mbh_state_unclaim(claim);
	return rc;
}
