/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* job.h: one job against one replica set: lock, run a command under the lock, unlock, cancel. */
#ifndef MBH_JOB_H
#define MBH_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "scram_once.h"
#include "error.h"
#include "log.h"
#include "metrics.h"
#include "run.h"
#include "state.h"

/*
 * A job holds everything one run needs (no globals), so a long-lived process
 * (the Bacula file daemon) can hold one per Bacula job, several at once.
 * Threads: the owner thread drives lock (with its command) and wait; mbh_job_cancel and
 * mbh_job_unlock may be called from any other thread at any time (Bacula's
 * cancel thread, freePlugin) and serialise with the owner.
 */
typedef struct mbh_job mbh_job;


typedef struct mbh_job_params {
	const mbh_config *cfg;     /* borrowed; finished (mbh_config_finish); must outlive the job */
	mbh_logger *log;           /* borrowed; NULL = silent.  The job adds the config's secrets to it */
	const char *job_name;      /* Bacula job name (%j), recorded; NULL = none; see mbh_state_job_name_check */
	const char *mode;          /* "hooks", "exec" or "plugin", recorded; NULL = "hooks" */
	const char *set_name;      /* post/status: the set when the URI has no replicaSet=; NULL = find it */
	const char *watchdog_path; /* the watchdog program, started before every lock; NULL = no watchdog */
	const char *gate_path;     /* the gate program (mbh_watchdog_gate_path): a command started with the lock
				    * waits in it for the lock (mbh_child_spawn_via); NULL = a fork of this
				    * process waits */
	int cancel_fd;             /* readable = stop (the programs' signal pipe); -1 = none */
	/*
	 * Called on the lock flow's thread right before the fsync lock is sent
	 * (the member checked, frozen, the intent on disk, the watchdog told):
	 * a cluster holds its components there so that their locks go out
	 * together.  Non-zero: the lock is not sent, the flow undoes what it did
	 * and fails with EX_TEMPFAIL.  NULL = none.
	 */
	int (*before_lock)(void *ctx);
	void *before_lock_ctx;
	/*
	 * The SCRAM login (scram_once.h) of a run that makes several jobs (a
	 * cluster's components): borrowed, must outlive the job; used when it
	 * holds the job's own credentials, so the keys are derived once per
	 * run.  NULL = the job makes its own.
	 */
	mbh_scram_login *login;
	/*
	 * Called on the job's helper thread right after the idle rule (see
	 * mbh_job_stream_open) stopped the command and unlocked: a cluster
	 * releases its other components then, while the reader is still away.
	 * NULL = none.
	 */
	void (*after_idle)(void *ctx);
	void *after_idle_ctx;
} mbh_job_params;

/* Copy the parameters (strings too) into a new job.  No I/O.  Bad job name: EX_USAGE.  Caller owns *out. */
int mbh_job_new(mbh_job **out, const mbh_job_params *params, mbh_error *err);

/*
 * Discover the set, take the state flock, refuse when a record exists,
 * choose the member, start the watchdog, write the intent (LOCKING), check
 * the member (secondary; not fsync-locked unless allowed), freeze it if
 * electable, fsync-lock it, re-check it is not primary, write the LOCKED
 * record.  On success the lock is held and recorded, and the job keeps its
 * member session and the flock until mbh_job_unlock.
 * Snapshot mode (the config has a snapshot group): right after the re-check,
 * run snapshot.create (no shell, bounded by snapshot.timeout), record the path
 * it printed (LOCKED), fsyncUnlock at once (count checked), unfreeze and record
 * phase SNAPSHOT; on success the member is unlocked, the snapshot recorded and
 * the job keeps the flock until mbh_job_unlock, which removes the snapshot.  A
 * create that fails, times out or prints no usable path: unlocked again, what
 * it made removed (when it printed a path), EX_TEMPFAIL (EX_CONFIG for a bad
 * path, EX_UNAVAILABLE when it cannot run).  On failure nothing is
 * held (or, when the outcome is unknown, the record says LOCKING and the
 * message says to run mongo-postbackup).  Cancellation (mbh_job_cancel or
 * cancel_fd) is checked between steps; a driver call in progress finishes
 * first (bounded by the connection's timeouts).  A job may lock again after
 * mbh_job_unlock.
 */
int mbh_job_lock(mbh_job *job, mbh_error *err);

/*
 * mbh_job_lock with templ (a config template: %h %p %s %j %S %%) started as
 * part of it: forked before the lock and let exec the instant the lock is
 * verified, so the lock window holds the command's exec and nothing else of
 * ours before its first byte.  Snapshot mode: started against the snapshot,
 * after the unlock.  The command runs with no shell, in its own process
 * group, killed if this thread dies, with MONGO_BACKUP_HOST, _PORT, _SET,
 * _JOB (and _SNAPSHOT in snapshot mode) in its environment and nothing
 * secret; its process group is recorded so that whoever unlocks (or removes
 * the snapshot) kills it first (invariant 8).  flags: MBH_RUN_PIPE_STDOUT /
 * MBH_RUN_PIPE_STDIN.  One command per lock: a job that holds a lock is
 * refused (EX_SOFTWARE).  On success *out is the command, owned by the job,
 * borrowed, valid until the owner's mbh_job_wait (or its next lock, or
 * mbh_job_free); an unlock from another thread kills the command but leaves
 * *out valid: a reader of its stdout sees EOF, never a descriptor closed
 * under it.  A command that cannot run: everything undone (unlocked,
 * snapshot removed), -1 with MBH_ERR_NOT_STARTED (EX_UNAVAILABLE) "the
 * command did not start: WHY; WHAT WAS UNDONE", the words after the colon its
 * detail (mbh_error_detail); any other failure locked nothing.
 */
int mbh_job_lock_spawn(mbh_job *job, const char *const *templ, int flags, mbh_child **out, mbh_error *err);

/*
 * A command started under a lock mbh_job_lock already holds (not snapshot
 * mode): templ expanded (%h %p %s %j) and run at once, no shell, its own
 * process group, with the environment of mbh_job_lock_spawn plus extra_env
 * (NULL-terminated "NAME=VALUE", or NULL), recorded in the set's record so
 * that whoever unlocks stops it first (invariant 8).  The stream and wait
 * calls below then read it under the same deadline rule (script.timeout from
 * its start, the lock's deadline).  For a cluster's components, run one
 * after another while all stay locked.  *out as mbh_job_lock_spawn's.  No
 * lock held, or a command still running: EX_SOFTWARE; cancelled:
 * MBH_ERR_CANCELLED.  The lock stays held whatever happens.
 */
int mbh_job_spawn_held(mbh_job *job, const char *const *templ, const char *const *extra_env, int flags,
		       mbh_child **out, mbh_error *err);

/*
 * A command reading a snapshot that another owner holds and removes (a
 * cluster in exact mode: nothing is locked, this job holds nothing): src's
 * set_name, member, job and snapshot are the command's %s %h %p %j %S and
 * MONGO_BACKUP_* (MONGO_BACKUP_SNAPSHOT too), plus extra_env; no shell, its
 * own process group; the stream and wait calls read it under script.timeout
 * (no lock deadline, no idle watch: nothing is locked).  The snapshot's owner
 * calls mbh_job_stop_command before it removes the snapshot.  A job holding
 * a lock, or a command still running: EX_SOFTWARE; cancelled:
 * MBH_ERR_CANCELLED.
 */
int mbh_job_spawn_snapshot(mbh_job *job, const mbh_state_rec *src, const char *const *templ,
			   const char *const *extra_env, int flags, mbh_child **out, mbh_error *err);

/* Any thread: stop the job's command (SIGTERM, then SIGKILL) and wait for its end; the owner still reaps it. */
void mbh_job_stop_command(mbh_job *job);

/*
 * The set: "" until discovery found it, then its name, also when the lock
 * failed after (another run held the set: MBH_ERR_SET_BUSY).  Borrowed.
 */
const char *mbh_job_set(const mbh_job *job);

/*
 * Is the URI a mongos (its hello says msg: "isdbgrid"), that is a sharded
 * cluster (cluster.h) rather than a replica set?  The job's own discovery
 * client asks (the hello every run sends first, no authentication), so a
 * replica set's run that follows costs nothing more.  Its failures are the
 * ones mbh_job_lock would report (an unreachable URI: EX_UNAVAILABLE).
 */
int mbh_job_is_mongos(mbh_job *job, bool *is_mongos, mbh_error *err);

/*
 * After mbh_job_lock: the member ("host:port") and the lockCount it
 * returned.  Borrowed.  After a failed lock the count tells whether the
 * member was locked (and unlocked again: a re-check, snapshot.create): > 0,
 * or never: 0.
 */
const char *mbh_job_member(const mbh_job *job);
int64_t mbh_job_lock_count(const mbh_job *job);

/* After mbh_job_dry_run: the member it would lock ("host:port"), "" when none.  Borrowed. */
const char *mbh_job_chosen(const mbh_job *j);

/* After mbh_job_lock: when the fsync lock's reply came (CLOCK_MONOTONIC ms, run.h's mbh_now_ms); 0 = never. */
int64_t mbh_job_locked_ms(const mbh_job *j);

/*
 * Snapshot mode, after mbh_job_lock: the path snapshot.create printed (what
 * %S expands to); "" otherwise, or once an unlock (any thread) removed it.
 * Borrowed.
 */
const char *mbh_job_snapshot(mbh_job *job);

/*
 * Wait for the job's command to end: until it exits, script.timeout (when
 * set) or the lock's deadline passes (not in snapshot mode: the member is
 * unlocked already), or the job is cancelled (then its group gets SIGTERM,
 * SIGKILL the kill grace later: run.h).  *status = exit code, or 128+signal.
 * Returns 0 when it ended by itself (whatever its status), else -1
 * (EX_TEMPFAIL "... timed out" / "... cancelled" / "... stopped by the
 * unlock" when another thread's mbh_job_unlock killed it).  The owner thread
 * only; it reaps and frees the child.  Does not unlock.
 */
int mbh_job_wait(mbh_job *job, int *status, mbh_error *err);

/*
 * Undo mbh_job_lock: kill the command's group if it still runs, then (under
 * the state directory's unlock claim) fsyncUnlock checking the count,
 * unfreeze, stop the watchdog, remove the record, release the flock and the
 * member session.  A record removed, made unreadable or changed by hand
 * meanwhile does not keep the job from unlocking the member it locked (before
 * the deadline; after it, the watchdog does), with a warning saying what
 * became of the record.  Exactly one fsyncUnlock per lock, whatever the number of
 * threads calling.  Idempotent: 0 when nothing is held.  An unreachable
 * member keeps the record (EX_TEMPFAIL, the watchdog keeps trying); a record
 * that cannot be removed after a successful unlock is EX_CANTCREAT naming it.
 * Snapshot mode: kill the command, run snapshot.remove (bounded by
 * snapshot.timeout), remove the record, release the flock; a remove that
 * fails keeps the snapshot and its record (EX_TEMPFAIL: mongo-postbackup
 * tries again).
 */
int mbh_job_unlock(mbh_job *job, mbh_error *err);

/* Any thread, any time, async: stop what the job is doing (lock flow, command).  Does not unlock. */
void mbh_job_cancel(mbh_job *job);

/* A descriptor that turns readable at mbh_job_cancel (for other jobs' cancel_fd: a cluster's components).  Borrowed. */
int mbh_job_cancel_fd(const mbh_job *job);

/*
 * Any thread; returns at once: mbh_job_unlock on the job's own helper
 * thread, as soon as the owner lets go of the job (a lock flow in a network
 * call finishes it first, and undoes a lock it took after a cancel).  For a
 * caller that must not wait: a cancel, a daemon shutting down.  Its failure
 * is logged.  EX_OSERR when no thread can be started (nothing was asked).
 */
int mbh_job_unlock_async(mbh_job *job, mbh_error *err);

/* Wait up to timeout_ms for the unlocks asked with mbh_job_unlock_async; true when they are done. */
bool mbh_job_unlock_wait(mbh_job *job, int timeout_ms);

/* True while the job holds a lock or a snapshot (another thread may release it any time). */
bool mbh_job_holds(mbh_job *job);

/*
 * The backup stream: the stdout of the command mbh_job_lock_spawn started
 * (MBH_RUN_PIPE_STDOUT), read by the owner thread as one stream, under the
 * one deadline rule (script.timeout from the command's start; the lock's
 * deadline, not in snapshot mode).  While it is open and the member locked,
 * the job's helper thread watches it: no byte read for script.idle_timeout
 * (the reader stuck somewhere else: Bacula waiting for a volume) stops the
 * command and unlocks at once, saying why and what to use instead; the next
 * read or the close returns that.
 */
int mbh_job_stream_open(mbh_job *job, mbh_error *err);

/*
 * Fill buf (len bytes; fewer only at the end) from the stream.  *got = 0
 * is the end.  -1 on cancel ("cancelled"), on the deadline (EX_TEMPFAIL
 * naming the rule; the command is stopped), on the idle rule, or on an
 * error; the caller then closes the stream.
 */
int mbh_job_stream_read(mbh_job *job, char *buf, size_t len, size_t *got, mbh_error *err);

/*
 * End the stream and the command; the verdict on the backup.  Closed before
 * its end (an error, or the reader gave up: the storage daemon failed):
 * the command's group is killed at once and this fails saying how many
 * bytes were streamed (or the deadline, idle or cancel that ended it).  At
 * the end: wait for the command (the deadline rule); 0 only when it exited
 * 0 and wrote something (or script.allow_empty); else EX_TEMPFAIL /
 * EX_DATAERR naming its status.  *status = its status (-1 unknown).  Does
 * not unlock.
 */
int mbh_job_stream_close(mbh_job *job, int *status, mbh_error *err);

/* Bytes read from the stream so far. */
int64_t mbh_job_stream_bytes(const mbh_job *job);

/* True once mbh_job_cancel was called or cancel_fd became readable. */
bool mbh_job_cancelled(mbh_job *job);

/*
 * --exec: lock, run templ under the lock (verbatim; NULL = script.backup of
 * the config, with its escapes expanded), wait (mbh_job_wait), always unlock.  *status = the command's exit
 * status.  Returns 0 when the lock and unlock worked (whatever the status).
 * Snapshot mode: lock, snapshot, unlock, run templ against the snapshot
 * (MONGO_BACKUP_SNAPSHOT, %S), always remove the snapshot; 0 when the
 * snapshot was taken and removed.
 */
int mbh_job_exec(mbh_job *job, const char *const *templ, int *status, mbh_error *err);

/*
 * --dry-run: discover and choose, lock nothing.  *text = the member table
 * with a verdict and reason per member, a "would lock" line and whether
 * snapshot mode is on with the commands it would run (caller frees), filled
 * even when nothing is eligible (then -1, EX_UNAVAILABLE).
 */
int mbh_job_dry_run(mbh_job *job, char **text, mbh_error *err);

/*
 * The post-backup flow from the state file: no record -> 0 ("nothing to
 * unlock", naming other sets' records in the directory); LOCKED -> kill the
 * recorded command, fsyncUnlock and the rest of mbh_job_unlock; LOCKING (a
 * run died mid-lock) -> currentOp, one fsyncUnlock if locked, clear.  A
 * record that names a snapshot: after the unlock (LOCKED) or straight away
 * (SNAPSHOT), kill the command reading it, run snapshot.remove (bounded by
 * snapshot.timeout), clear; a failing remove keeps both (EX_TEMPFAIL), a
 * config without snapshot.remove is EX_CONFIG.  A
 * record of another job (job_name given and different) is left alone:
 * EX_TEMPFAIL.  Unreachable member: the record stays, EX_TEMPFAIL.  The
 * unlock never needs a writable state directory.
 */
int mbh_job_post(mbh_job *job, mbh_error *err);

/*
 * --forget: discard the record of a member that will never come back.  Only
 * after trying the member: if it answers, refuse (EX_TEMPFAIL: run
 * mongo-postbackup).  Stops the watchdog; logs loudly what was discarded.
 * A SNAPSHOT record (nothing locked) is discarded without trying anything;
 * its snapshot is NOT removed (the warning names it).
 */
int mbh_job_forget(mbh_job *job, mbh_error *err);

/*
 * --status: *text = what is locked (or "nothing is locked for SET"), and in
 * snapshot mode the snapshot, its age and its job; caller frees.  Takes no flock.
 */
int mbh_job_status(mbh_job *job, char **text, mbh_error *err);

/* --status --json: the same facts as one JSON object (fields in mongo-postbackup(1)); same returns. */
int mbh_job_status_json(mbh_job *job, char **text, mbh_error *err);

/*
 * The end of a run, for the metrics (metrics.textfile; off: nothing): ok, or
 * the reason it failed, and the bytes streamed into the job (-1: none).  The
 * run began with the last lock flow.  Pre, post and --exec call it from
 * their flows; the plugin when its stream ends.  Never fails.
 */
void mbh_job_outcome(mbh_job *job, bool ok, mbh_metrics_reason reason, int64_t bytes);

/* Close the sessions, release the flock, free.  Does NOT unlock: a held lock stays for post.  NULL is fine. */
void mbh_job_free(mbh_job *job);

#endif
