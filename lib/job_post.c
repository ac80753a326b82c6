/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* job_post.c: the flows that start from the state file: post-backup, --forget, --status. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "crash.h"
#include "jobint.h"
#include "release.h"

/* Say which other sets have a record here: a wrong replicaSet= must not look like "all clear". */
static void
name_other_records(mbh_job *j)
{
	char **sets = NULL;
	mbh_state_rec rec;
	mbh_error e;
	bool present;
	size_t i;

	mbh_error_init(&e);
	if (mbh_state_list(&sets, j->cfg->state_dir, &e) != 0)
		return;
	for (i = 0; sets[i] != NULL; i++) {
		if (strcmp(sets[i], j->set) == 0)
			continue;
		mbh_error_init(&e);
		if (mbh_state_peek(j->cfg->state_dir, sets[i], &rec, &present, &e) == 0 && present)
			mbh_logf(j->log, MBH_LOG_WARNING,
				 "but %s holds a lock record of replica set %s (member %s, job %s): if that is the set "
				 "you meant, check replicaSet= in the URI or use --set %s",
				 j->cfg->state_dir, rec.set_name, rec.member, rec.job[0] != '\0' ? rec.job : "-",
				 rec.set_name);
	}
	mbh_strv_free(sets);
}

/*
 * The record was changed by hand: the lock it names cannot be shown to be
 * ours, so nothing here unlocks it, but the watchdog it names (if that is
 * still our watchdog) knows the lock first-hand: ask it to release the lock
 * now instead of at its deadline, and wait a while for it to finish.  rec is
 * what the file says (untrusted).  Always -1: the file needs a look.
 */
static int
ask_watchdog(mbh_job *j, const mbh_state_rec *rec, mbh_error *err)
{
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	int waited = 0, limit = 2 * (j->cfg->connect_timeout_ms > 0 ? j->cfg->connect_timeout_ms : 5000) + 2000;

	if (!mbh_release_ask_watchdog(j->log, rec))
			return -1; /* no watchdog of ours to ask */
	while (mbh_proc_running(rec->watchdog_pid, rec->watchdog_start) && waited < limit) {
		nanosleep(&tick, NULL);
		waited += 50;
	}
	return mbh_error_set(err, EX_DATAERR,
			     "%s: " MBH_STATE_EDITED ", so the lock it names cannot be shown to be ours and nothing was "
			     "unlocked from it; its watchdog (pid %ld), which was handed the lock, was asked to release it "
			     "now: it %s (see %s/%s.events); check the file, then remove it",
			     mbh_state_path(j->state), rec->watchdog_pid,
			     mbh_proc_running(rec->watchdog_pid, rec->watchdog_start) ? "is still at it" : "has finished",
			     j->cfg->state_dir, j->set);
}

/*
 * The record of the set post acts on, under the run's flock.  *present false:
 * nothing to do (logged).  A read-only state directory still works: the flock
 * needs no write access.
 */
static int
open_record(mbh_job *j, mbh_state_rec *rec, bool *present, mbh_error *err)
{
	bool found = false;

	*present = false;
	if (mbh_job_resolve_set(j, &found, err) != 0)
		return -1;
	if (!found) {
		mbh_logf(j->log, MBH_LOG_INFO, "nothing to unlock in %s", j->cfg->state_dir);
		return 0;
	}
	if (mbh_state_open(&j->state, j->cfg->state_dir, j->set, false, err) != 0)
		return -1;
	if (mbh_state_read(j->state, rec, present, err) != 0) {
		/* touched by hand: act on nothing it says; the watchdog has what it needs */
		if (mbh_error_is(err, MBH_ERR_RECORD_EDITED))
			return ask_watchdog(j, rec, err);
		if (err->code == EX_DATAERR || err->code == EX_NOPERM) {
			char was[MBH_ERRMSG_LEN];

			memcpy(was, err->msg, sizeof(was));
			mbh_error_set(err, err->code, "%.380s; nothing was unlocked (the watchdog started with the lock "
				      "still unlocks its member at its deadline)", was);
		}
		return -1;
	}
	if (!*present) {
		mbh_logf(j->log, MBH_LOG_INFO, "nothing to unlock for %s", j->set);
		name_other_records(j);
	}
	return 0;
}

/*
 * Snapshot mode, after the unlock of a LOCKED record that names a snapshot:
 * the record now says SNAPSHOT (or is gone when someone else cleared it).
 */
static int
remove_left_snapshot(mbh_job *j, const mbh_state_rec *was, mbh_error *err)
{
	mbh_state_rec now;
	bool present = false;

	if (mbh_state_read(j->state, &now, &present, err) != 0)
		return -1;
	if (!present || !mbh_state_same_lock(&now, was) || now.phase != MBH_PHASE_SNAPSHOT) {
		mbh_logf(j->log, MBH_LOG_WARNING, "the record of the snapshot %s is gone; it was not removed here",
			 was->snapshot);
		return 0;
	}
	return mbh_job_snapshot_remove(j, &now, err);
}

/* The post-backup flow. */
int
mbh_job_post(mbh_job *j, mbh_error *err)
{
	mbh_state_rec rec;
	bool present = false, released = false;
	char since[64];
	int rc = -1;

	if (open_record(j, &rec, &present, err) != 0)
		goto out;
	if (!present) {
		rc = 0;
		goto out;
	}
	if (j->job_name[0] != '\0' && rec.job[0] != '\0' && strcmp(j->job_name, rec.job) != 0) {
		mbh_fmt_time(rec.since, since, sizeof(since));
		mbh_error_set(err, EX_TEMPFAIL,
			      "the lock on %s belongs to job %s (pid %ld on %s, since %s), not to job %s: left alone; "
			      "run mongo-postbackup without --job to release it anyway",
			      rec.member, rec.job, rec.pid, rec.hostname, since, j->job_name);
		goto out;
	}
	if (rec.phase == MBH_PHASE_SNAPSHOT) {
		/* snapshot mode: the member was unlocked right after the snapshot; only the snapshot is left */
		rc = mbh_job_snapshot_remove(j, &rec, err);
		goto out;
	}
	if (mbh_job_uri(j, err) != 0 || mbh_lock_session_new(&j->session, j->uri, rec.member, j->login, err) != 0)
		goto out;
	MBH_CRASH("unlock-before");
	rc = mbh_release(j->log, j->session, j->cfg->state_dir, &rec, MBH_RELEASER_POST, NULL, &released, err);
	mbh_metrics_note_release(&j->metrics, &rec, released, false);
	if (rc == 0 && rec.snapshot[0] != '\0')
		rc = remove_left_snapshot(j, &rec, err);
out:
	if (present)
		mbh_job_outcome_since(j, rc == 0, MBH_METRICS_FAIL_UNLOCK, (double)rec.since, -1);
	mbh_lock_session_free(j->session);
	j->session = NULL;
	mbh_state_free(j->state);
	j->state = NULL;
	return rc;
}

/* --forget. */
int
mbh_job_forget(mbh_job *j, mbh_error *err)
{
	mbh_state_rec rec;
	mbh_hello hello;
	mbh_error e;
	bool present = false;
	int rc = -1;

	if (open_record(j, &rec, &present, err) != 0)
		goto out;
	if (!present) {
		rc = 0;
		goto out;
	}
	if (rec.phase == MBH_PHASE_SNAPSHOT) {
		/* nothing is locked: only the record of a snapshot that will not be removed by us */
		if (mbh_state_remove(j->state, err) != 0)
			goto out;
		mbh_logf(j->log, MBH_LOG_WARNING,
			 "FORGOT the record of the snapshot %s of %s (set %s, job %s) without removing the snapshot: "
			 "remove it by hand",
			 rec.snapshot, rec.member, rec.set_name, rec.job[0] != '\0' ? rec.job : "-");
		rc = 0;
		goto out;
	}
	if (mbh_job_uri(j, err) != 0 || mbh_lock_session_new(&j->session, j->uri, rec.member, j->login, err) != 0)
		goto out;
	mbh_error_init(&e);
	if (mbh_lock_hello(j->session, &hello, &e) == 0 || !mbh_error_is(&e, MBH_ERR_UNREACHABLE)) {
		mbh_error_set(err, EX_TEMPFAIL,
			      "%s answers, so its lock can still be released: run mongo-postbackup (without --forget)",
			      rec.member);
		goto out;
	}
	mbh_release_stop_watchdog(j->log, &rec);
	if (mbh_state_remove(j->state, err) != 0)
		goto out;
	mbh_metrics_note(&j->metrics, rec.set_name, &(mbh_metrics_event){ .kind = MBH_METRICS_CHANGED });
	mbh_logf(j->log, MBH_LOG_WARNING,
		 "FORGOT the %s record of %s (set %s, lockCount %lld, job %s) without unlocking it: %s does not "
		 "answer (%s); if it comes back still fsync-locked, run db.fsyncUnlock() on it by hand",
		 rec.phase == MBH_PHASE_LOCKED ? "LOCKED" : "LOCKING", rec.member, rec.set_name,
		 (long long)rec.lock_count, rec.job[0] != '\0' ? rec.job : "-", rec.member, e.msg);
	if (rec.snapshot[0] != '\0')
		mbh_logf(j->log, MBH_LOG_WARNING, "the snapshot %s it names was not removed either: remove it by hand",
			 rec.snapshot);
	rc = 0;
out:
	mbh_lock_session_free(j->session);
	j->session = NULL;
	mbh_state_free(j->state);
	j->state = NULL;
	return rc;
}

/* --status, as text or JSON. */
static int
status(mbh_job *j, bool json, char **text, mbh_error *err)
{
	mbh_state_rec rec;
	bool present = false, found = false, stale = false;

	*text = NULL;
	memset(&rec, 0, sizeof(rec));
	if (mbh_job_resolve_set(j, &found, err) != 0)
		return -1;
	if (found && mbh_state_peek(j->cfg->state_dir, j->set, &rec, &present, err) != 0)
		return -1;
	if ((json ? mbh_job_render_status_json : mbh_job_render_status)(text, found ? j->set : NULL, j->cfg->state_dir,
									 &rec, present, &stale, err) != 0)
		return -1;
	if (stale)
		return mbh_error_set(err, EX_UNAVAILABLE,
				     "no watchdog guards the lock on %s (it is not running): run mongo-postbackup to "
				     "release it",
				     rec.member);
	return 0;
}

/* --status. */
int
mbh_job_status(mbh_job *j, char **text, mbh_error *err)
{
	return status(j, false, text, err);
}

/* --status --json. */
int
mbh_job_status_json(mbh_job *j, char **text, mbh_error *err)
{
	return status(j, true, text, err);
}
