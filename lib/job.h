/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* job.h: the flows: lock (pre), unlock (post), exec, status, dry run, and the watchdog. */
#ifndef MBH_JOB_H
#define MBH_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

/*
 * One run against one replica set.  Everything a flow needs lives in the
 * mbh_job (no globals), so a long-lived process (the Bacula file daemon
 * plugin) can hold one per job.  Messages go through mbh_log (lib/log.h):
 * the caller chooses the sink.  The job never prints.
 */
typedef struct mbh_job mbh_job;

typedef struct mbh_job_params {
	const mbh_config *cfg;  /* borrowed; finished (mbh_config_finish); must outlive the job */
	const char *job_name;   /* Bacula job name (%j), recorded; NULL = none */
	const char *mode;       /* "hooks", "exec" or "plugin", recorded; NULL = "hooks" */
	const char *set_name;   /* post/status: the set when the URI has no replicaSet=; NULL = find it */
	int cancel_fd;          /* readable = stop (exec child, plugin cancel); -1 = none */
	bool watchdog;          /* start the detached watchdog after locking.  It is forked: only for
				   single-threaded callers (the programs), not inside bacula-fd */
	const char *watchdog_ident; /* syslog ident of the watchdog; NULL = "mongo-backup-watchdog" */
} mbh_job_params;

/* Copy the parameters (strings too) into a new job.  No I/O.  Caller owns *out. */
int mbh_job_new(mbh_job **out, const mbh_job_params *params, mbh_error *err);

/*
 * The pre-backup flow: discover the set, take the state flock, refuse when a
 * record exists, choose the member, write the intent (LOCKING), check the
 * member (hello: secondary; currentOp: not fsync-locked unless allowed),
 * freeze it if electable, fsync-lock it, check it is still not primary,
 * start the watchdog (if asked), write the LOCKED record.  On success the
 * lock is held and recorded, and the job keeps its member session and the
 * flock until mbh_job_unlock or mbh_job_free.  On failure nothing is held
 * (or, when the outcome is unknown, the record says LOCKING and the message
 * says to run mongo-postbackup).
 */
int mbh_job_lock(mbh_job *job, mbh_error *err);

/* After mbh_job_lock: the set, the member ("host:port") and the lockCount it returned.  Borrowed. */
const char *mbh_job_set(const mbh_job *job);
const char *mbh_job_member(const mbh_job *job);
int64_t mbh_job_lock_count(const mbh_job *job);

/*
 * Undo mbh_job_lock on the same session: fsyncUnlock (checking the count),
 * unfreeze, stop the watchdog, remove the record.  Idempotent: 0 when
 * nothing is held.  An unreachable member keeps the record (EX_TEMPFAIL).
 */
int mbh_job_unlock(mbh_job *job, mbh_error *err);

/*
 * --exec: mbh_job_lock, run argv (no shell) with MONGO_BACKUP_HOST,
 * MONGO_BACKUP_PORT and MONGO_BACKUP_SET in its environment until it ends,
 * lock.max_seconds pass or cancel_fd becomes readable, then mbh_job_unlock on
 * every path.  *status = the command's exit status (128+N for signal N).
 * Returns 0 when the lock and unlock worked (whatever the status), else -1.
 */
int mbh_job_exec(mbh_job *job, const char *const *argv, int *status, mbh_error *err);

/*
 * --dry-run: discover and choose, lock nothing.  *text = the member table
 * with a verdict and reason per member and a "would lock" line (caller
 * frees), filled even when nothing is eligible (then -1, EX_UNAVAILABLE).
 */
int mbh_job_dry_run(mbh_job *job, char **text, mbh_error *err);

/*
 * The post-backup flow from the state file: no record -> 0 ("nothing to
 * unlock"); LOCKED -> fsyncUnlock and the rest of mbh_job_unlock; LOCKING (a
 * run died mid-lock) -> currentOp, one fsyncUnlock if locked, clear.  A
 * record of another job (params job_name given and different) is left
 * alone: EX_TEMPFAIL.  Unreachable member: the record stays, EX_TEMPFAIL.
 */
int mbh_job_post(mbh_job *job, mbh_error *err);

/* --status: *text = what is locked (or "nothing is locked for SET"); caller frees.  Takes no flock. */
int mbh_job_status(mbh_job *job, char **text, mbh_error *err);

/* Close the sessions, release the flock, free.  Does NOT unlock: a held lock stays for post.  NULL is fine. */
void mbh_job_free(mbh_job *job);

#endif
