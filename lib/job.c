/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* job.c: one job's life: lock, run a command under the lock, wait, unlock, cancel. */
#include "autoconfig.h"

#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "crash.h"
#include "jobint.h"
#include "release.h"
#include "run.h"
#include "testtime.h"
#include "uri.h"
#include "watchdog.h"

#define WATCHDOG_REAP_MS 1000
#define WATCHDOG_STRAY_MS 3000 /* mbh_job_free: a watchdog stopped a while ago has had time to go */

static char *
dup_or_empty(const char *s)
{
	return strdup(s != NULL ? s : "");
}

/* A job name that the record can hold whole and that prints on one line. */
static int
check_job_name(const char *name, mbh_error *err)
{
	char why[160];

	if (name == NULL || mbh_state_job_name_check(name, why, sizeof(why)) == 0)
		return 0;
	return mbh_error_set(err, EX_USAGE, "the job name %s", why);
}

/* Copy params. */
int
mbh_job_new(mbh_job **out, const mbh_job_params *p, mbh_error *err)
{
	mbh_job *j;
	size_t i;

	*out = NULL;
	if (check_job_name(p->job_name, err) != 0)
		return -1;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	j->cancel_pipe[0] = j->cancel_pipe[1] = -1;
	j->stream.fd = -1;
	pthread_mutex_init(&j->mu, NULL);
	mbh_job_async_init(j);
	j->cfg = p->cfg;
	j->log = p->log;
	j->cancel_fd = p->cancel_fd;
	j->before_lock = p->before_lock;
	j->before_lock_ctx = p->before_lock_ctx;
	j->shared_login = p->login;
	j->after_idle = p->after_idle;
	j->after_idle_ctx = p->after_idle_ctx;
	j->job_name = dup_or_empty(p->job_name);
	j->mode = strdup(p->mode != NULL ? p->mode : "hooks");
	j->set_override = p->set_name != NULL ? strdup(p->set_name) : NULL;
	j->watchdog_path = p->watchdog_path != NULL ? strdup(p->watchdog_path) : NULL;
	j->gate_path = p->gate_path != NULL ? strdup(p->gate_path) : NULL;
	if (j->job_name == NULL || j->mode == NULL || (p->set_name != NULL && j->set_override == NULL) ||
	    (p->watchdog_path != NULL && j->watchdog_path == NULL) || (p->gate_path != NULL && j->gate_path == NULL) ||
	    pipe2(j->cancel_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		mbh_job_free(j);
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	for (i = 0; j->cfg->secrets != NULL && j->cfg->secrets[i] != NULL; i++)
		mbh_logger_add_secret(j->log, j->cfg->secrets[i]);
	mbh_metrics_init(&j->metrics, j->cfg, j->log);
	*out = j;
	return 0;
}

/* Async-signal-safe: a flag, a byte in a pipe, a signal to the command's group. */
void
mbh_job_cancel(mbh_job *j)
{
	char b = 1;
	pid_t pg = (pid_t)j->child_pgid;

	j->cancelled = 1;
	if (write(j->cancel_pipe[1], &b, 1) < 0)
		b = 0;
	if (pg > 0)
		killpg(pg, SIGTERM);
}

/* See job.h. */
int
mbh_job_cancel_fd(const mbh_job *j)
{
	return j->cancel_pipe[0];
}

/* Cancelled by mbh_job_cancel or through the caller's fd? */
bool
mbh_job_cancelled(mbh_job *j)
{
	struct pollfd pfd = { .fd = j->cancel_fd, .events = POLLIN };

	if (j->cancelled)
		return true;
	if (j->cancel_fd >= 0 && poll(&pfd, 1, 0) > 0 && pfd.revents != 0)
		j->cancelled = 1;
	return j->cancelled != 0;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cancelled_error(mbh_error *err, const char *what)
{
	return mbh_error_fail(err, MBH_ERR_CANCELLED, "cancelled %s; nothing is locked", what);
}

/*
 * Start templ (MBH_RUN_GATED: fork it, to exec at release_command, waiting
 * in the job's gate program when it has one); the caller holds j->mu and
 * writes the record afterwards.  expand: a config
 * template (%h %p %s %j); a command line given by hand runs verbatim.
 */
static int
start_command(mbh_job *j, const char *const *templ, bool expand, int flags, const char *const *extra_env,
	      mbh_error *err)
{
	mbh_cmd_env x;
	const char *env[16];
	char **argv = NULL;
	size_t n = 0, i;
	int rc = -1;

	mbh_cmd_env_fill(&x, &j->rec);
	for (i = 0; x.env[i] != NULL && n < sizeof(env) / sizeof(env[0]) - 1; i++)
		env[n++] = x.env[i];
	for (i = 0; extra_env != NULL && extra_env[i] != NULL && n < sizeof(env) / sizeof(env[0]) - 1; i++)
		env[n++] = extra_env[i];
	env[n] = NULL;
	if (expand && mbh_run_expand(&argv, templ, &x.vars, err) != 0)
		goto out;
	if (mbh_child_spawn_via(&j->child, (flags & MBH_RUN_GATED) ? j->gate_path : NULL,
				expand ? (const char *const *)argv : templ, env, flags, err) != 0)
		goto out;
	j->child_pgid = (int)mbh_child_pid(j->child);
	j->cmd_started_ms = mbh_now_ms();
	snprintf(j->cmd_name, sizeof(j->cmd_name), "%s",
		 strrchr(templ[0], '/') != NULL && strrchr(templ[0], '/')[1] != '\0' ? strrchr(templ[0], '/') + 1 : templ[0]);
	j->rec.command_pid = mbh_child_pid(j->child);
	j->rec.command_start = mbh_proc_starttime(j->rec.command_pid);
	mbh_logf(j->log, MBH_LOG_DEBUG, "running %s (pid %ld)", templ[0], j->rec.command_pid);
	rc = 0;
out:
	mbh_strv_free(argv);
	return rc;
}

/*
 * Kill the command (if any) and wait until it has ended; caller holds j->mu.
 * Any thread: the child is not reaped or freed here, because the owner thread
 * may be in mbh_job_wait on it or reading its stdout (freeing it would close
 * that descriptor under the reader).  child_pgid 0 marks it stopped; only the
 * owner reaps and frees it (forget_stopped_command, mbh_job_wait).
 */
static void
stop_command(mbh_job *j)
{
	if (j->child == NULL || j->child_pgid == 0)
		return;
	j->child_pgid = 0;
	mbh_child_kill_wait(j->child, 3000);
	j->rec.command_pid = 0;
	j->rec.command_start = 0;
}

/* Reap and free a command an unlock stopped; the owner thread only (it is not waiting for it). */
static void
forget_stopped_command(mbh_job *j)
{
	if (j->child == NULL || j->child_pgid != 0)
		return;
	mbh_child_free(j->child);
	j->child = NULL;
}

/*
 * Reap the watchdog pid we just stopped, waiting up to ms; one slower than
 * that is remembered and reaped at the next lock or at mbh_job_free, so a
 * long-lived host (bacula-fd) is never left with a zombie per job.  Caller
 * holds j->mu (or owns j).  pid 0: only try the remembered one again.
 */
static void
reap_watchdog(mbh_job *j, long pid, int ms)
{
	if (j->stray_watchdog > 0 && mbh_watchdog_reap(j->stray_watchdog, 0))
		j->stray_watchdog = 0;
	if (pid <= 0 || mbh_watchdog_reap(pid, ms))
		return;
	if (j->stray_watchdog > 0)
		mbh_watchdog_reap(j->stray_watchdog, ms); /* one slot: the older one gets one last bounded wait */
	j->stray_watchdog = pid;
}

/*
 * Let the command forked before the lock exec, now that the lock is
 * verified (wait false), then (wait true) take its exec's outcome: one that
 * cannot run is freed and run_err says why.  Caller holds j->mu.
 */
static void
release_command(mbh_job *j, bool wait, mbh_error *run_err)
{
	if (!wait)
		j->cmd_started_ms = mbh_now_ms(); /* it runs from now */
	if (j->child == NULL ||
	    (wait ? mbh_child_exec_result(j->child, run_err) : mbh_child_release(j->child, run_err)) == 0)
		return;
	mbh_logf(j->log, MBH_LOG_DEBUG, "the command did not start: %s", run_err->msg);
	j->child_pgid = 0;
	mbh_child_free(j->child);
	j->child = NULL;
	j->rec.command_pid = 0;
	j->rec.command_start = 0;
}

/* Release what j holds (caller holds j->mu): the command, the lock, the record, the flock. */
static int
release_held(mbh_job *j, mbh_error *err)
{
	bool released = false;
	long wd = j->rec.watchdog_pid;
	int rc;

	stop_command(j);
	MBH_CRASH("unlock-before");
	rc = mbh_release(j->log, j->session, j->cfg->state_dir, &j->rec, MBH_RELEASER_RUN, NULL, &released, err);
	mbh_metrics_note_release(&j->metrics, &j->rec, released, false);
	if (rc == 0 || released) {
		j->held = false;
		mbh_job_publish_deadline(j);
		reap_watchdog(j, wd, WATCHDOG_REAP_MS);
		mbh_lock_session_free(j->session);
		j->session = NULL;
		mbh_state_free(j->state);
		j->state = NULL;
	}
	return rc;
}

/*
 * Snapshot mode, under the lock just taken (caller holds j->mu): snapshot,
 * unlock, then (--exec) start templ against the snapshot and record it.  A
 * command that cannot start leaves the snapshot held (run_err says why); one
 * that cannot be recorded is stopped (err).
 */
static int
snapshot_then_command(mbh_job *j, const char *const *templ, bool expand, int flags, mbh_error *run_err,
		      mbh_error *err)
{
	if (mbh_job_snapshot_take(j, err) != 0)
		return -1;
	if (templ == NULL)
		return 0;
	if (start_command(j, templ, expand, flags, NULL, run_err) != 0) {
		mbh_logf(j->log, MBH_LOG_DEBUG, "the command did not start: %s", run_err->msg);
		return 0;
	}
	if (mbh_state_write(j->state, &j->rec, err) != 0) {
		stop_command(j);
		return mbh_error_prefix(err, "cannot record the command reading the snapshot %s, so it was stopped",
					j->rec.snapshot);
	}
	return 0;
}

/*
 * The lock flow; with templ (--exec, the plugin) it also starts the command
 * (flags: its pipes) under the lock, before the LOCKED record is written:
 * forked before the lock and let exec right after the re-check, so the lock
 * window holds only its exec, no fork and no disk I/O of ours.  A command
 * that cannot run leaves the lock held and run_err set.  Caller holds j->mu.
 *
 * Order, and why it is safe (invariant 2: never a lock without a durable
 * record, and never a record without a watchdog):
 *   watchdog  started before discovery, waiting with libc alone (it loads
 *             the driver only to release at the deadline), told what to
 *             guard once the member is chosen, nothing until "go";
 *   command   forked, waiting at its gate (it dies with this thread);
 *   LOCKING   the intent, naming the watchdog, durable before the lock;
 *   go        the watchdog guards the record from now on;
 *   lock      hello, currentOp, freeze, fsync lock, hello again;
 *   command   let exec right after that re-check;
 *   stall     the re-check of invariant 6 while it starts (a failure kills it);
 *   outcome   the command's exec;
 *   LOCKED    written while it runs, not fsynced: should a crash of the
 *             machine lose it, the durable intent covers the lock (post and
 *             the watchdog check currentOp).
 * Snapshot mode: the command starts after the snapshot and the unlock.
 */
static int
lock_flow(mbh_job *j, const char *const *templ, bool expand, int flags, mbh_error *run_err, mbh_error *err)
{
	mbh_topology *t = NULL;
	mbh_selection *sel = NULL;
	mbh_watchdog *wd = NULL;
	mbh_state_rec old;
	const mbh_member *m;
	mbh_hello hello;
	mbh_error e;
	struct timespec now;
	int64_t end_ms;
	bool present = false, fsync_locked = false, definite = true, intent = false, froze = false;
	char since[64], deadline[64];
	int64_t count = 0;
	long idle_wd = 0; /* a watchdog started that has nothing to guard yet: reaped on failure */
	int rc = -1;

	if (j->held)
		return mbh_error_set(err, EX_SOFTWARE, "this job already holds a lock on %s", j->rec.member);
	if (j->snap)
		return mbh_error_set(err, EX_SOFTWARE, "this job still holds the snapshot %s", j->rec.snapshot);
	forget_stopped_command(j); /* the command of the previous lock, stopped by its unlock */
	reap_watchdog(j, 0, 0);    /* and its watchdog, if it was slow to exit */
	memset(&j->rec, 0, sizeof(j->rec)); /* lock_count stays 0 unless this lock is taken */
	j->t_begin = now_seconds();
	if (mbh_job_cancelled(j))
		return cancelled_error(err, "before discovery");
	/* started now, the watchdog's exec and start-up overlap the discovery: off the way to the lock */
	if (j->watchdog_path != NULL) {
		if (mbh_watchdog_spawn(&wd, j->watchdog_path, err) != 0)
			goto out;
		idle_wd = mbh_watchdog_pid(wd);
	}
	if (mbh_job_discover(j, &t, err) != 0)
		goto out;
	MBH_CRASH("pre-discovered");
	if (mbh_job_cancelled(j)) {
		cancelled_error(err, "during discovery");
		goto out;
	}
	if (mbh_state_open(&j->state, j->cfg->state_dir, t->set_name, false, err) != 0)
		goto out;
	if (mbh_state_read(j->state, &old, &present, err) != 0)
		goto out;
	if (present && old.phase == MBH_PHASE_SNAPSHOT) {
		mbh_fmt_time(old.snapshot_since, since, sizeof(since));
		mbh_error_set(err, EX_TEMPFAIL,
			      "%s still has the snapshot %s of job %s (pid %ld on %s, member %s, taken %s); run "
			      "mongo-postbackup first to remove it",
			      old.set_name, old.snapshot, old.job[0] != '\0' ? old.job : "-", old.pid, old.hostname,
			      old.member, since);
		goto out;
	}
	if (present) {
		mbh_fmt_time(old.since, since, sizeof(since));
		mbh_error_set(err, EX_TEMPFAIL,
			      "%s is already locked by job %s (pid %ld on %s) on %s since %s (%s); run mongo-postbackup "
			      "first",
			      old.set_name, old.job[0] != '\0' ? old.job : "-", old.pid, old.hostname, old.member, since,
			      old.phase == MBH_PHASE_LOCKED ? "LOCKED" : "LOCKING");
		goto out;
	}
	if (mbh_job_choose(j, t, false, &sel, err) != 0)
		goto out;
	m = &t->members[sel->chosen];
	mbh_logf(j->log, MBH_LOG_INFO, "chose %s", sel->summary);
	if (sel->warning[0] != '\0')
		mbh_logf(j->log, MBH_LOG_WARNING, "%s", sel->warning);

	memset(&j->rec, 0, sizeof(j->rec));
	snprintf(j->rec.set_name, sizeof(j->rec.set_name), "%s", t->set_name);
	snprintf(j->rec.member, sizeof(j->rec.member), "%s", m->host);
	j->rec.phase = MBH_PHASE_LOCKING;
	clock_gettime(CLOCK_REALTIME, &now);
	j->rec.since = (int64_t)now.tv_sec;
	/*
	 * the run and its watchdog (handed it) act on the ms; the record keeps
	 * it rounded up to whole seconds, for post, --status and the metrics
	 */
	end_ms = (int64_t)now.tv_sec * 1000 + (now.tv_nsec + 999999) / 1000000 +
	         mbh_seconds_ms(j->cfg->lock.max_seconds);
	j->rec.deadline_ms = end_ms;
	j->rec.deadline = (end_ms + 999) / 1000;
	j->rec.pid = (long)getpid();
	if (gethostname(j->rec.hostname, sizeof(j->rec.hostname)) != 0)
		snprintf(j->rec.hostname, sizeof(j->rec.hostname), "unknown");
	j->rec.hostname[sizeof(j->rec.hostname) - 1] = '\0';
	snprintf(j->rec.job, sizeof(j->rec.job), "%s", j->job_name);
	snprintf(j->rec.mode, sizeof(j->rec.mode), "%s", j->mode);
	j->rec.frozen = m->priority > 0;
	if (mbh_token_new(j->rec.token, sizeof(j->rec.token)) != 0) {
		mbh_error_set(err, EX_OSERR, "cannot draw a random lock token: %s", strerror(errno));
		goto out;
	}

	if (templ != NULL && j->cfg->snapshot.create == NULL &&
	    start_command(j, templ, expand, flags | MBH_RUN_GATED, NULL, err) != 0)
		goto out;
	if (wd != NULL) {
		if (mbh_watchdog_send(wd, j->cfg, j->rec.set_name, j->rec.token, err) != 0)
			goto out;
		j->rec.watchdog_pid = mbh_watchdog_pid(wd);
		j->rec.watchdog_start = mbh_watchdog_starttime(wd);
		mbh_logf(j->log, MBH_LOG_DEBUG, "told the watchdog (pid %ld) what to guard", j->rec.watchdog_pid);
	}
	MBH_CRASH("pre-watchdog");
	/* invariant 2: the intent is durable before the lock command is sent */
	if (mbh_state_write(j->state, &j->rec, err) != 0)
		goto out;
	intent = true;
	idle_wd = 0; /* from here the intent's cleanup stops and reaps it */
	/* the textfile says "locked" before the lock is sent: it is rendered from this record */
	mbh_metrics_note(&j->metrics, j->rec.set_name, &(mbh_metrics_event){ .kind = MBH_METRICS_CHANGED });
	MBH_CRASH("pre-intent");
	mbh_logf(j->log, MBH_LOG_DEBUG, "recorded the intent to lock %s", m->host);
	if (wd != NULL && mbh_watchdog_go(wd, &j->rec, err) != 0)
		goto out;
	if (mbh_job_cancelled(j)) {
		cancelled_error(err, "before the lock");
		goto out;
	}

	if (mbh_job_open_session(j, m->host, err) != 0 || mbh_lock_hello(j->session, &hello, err) != 0)
		goto out;
	if (hello.writable_primary || !hello.secondary) {
		mbh_error_set(err, EX_TEMPFAIL, "%s is no longer a secondary (%s); nothing was locked; run again",
			      m->host, hello.writable_primary ? "it is primary now" : "hello says not secondary");
		goto out;
	}
	if (mbh_lock_is_fsync_locked(j->session, &fsync_locked, err) != 0)
		goto out;
	if (fsync_locked) {
		if (j->cfg->lock.refuse_if_locked != 0) {
			mbh_error_set(err, EX_TEMPFAIL,
				      "%s is already fsync-locked by someone else (currentOp shows fsyncLock); find who "
				      "holds it, or run with --allow-locked to lock it once more",
				      m->host);
			goto out;
		}
		mbh_logf(j->log, MBH_LOG_WARNING, "%s is already fsync-locked by someone else; locking it once more",
			 m->host);
	}
	if (j->rec.frozen) {
		/* invariant 1: an electable member must not seek election while locked */
		if (mbh_lock_freeze(j->session, j->cfg->lock.max_seconds, err) != 0) {
			/* it was elected meanwhile (a primary refuses replSetFreeze): temporary, run again */
			if (err->code == EX_UNAVAILABLE)
				mbh_error_recast(err, MBH_ERR_TEMPORARY);
			mbh_error_prefix(err, "cannot freeze %s (priority %g) before locking it", m->host, m->priority);
			goto out;
		}
		froze = true;
	}
	MBH_CRASH("pre-frozen");
	if (mbh_job_cancelled(j)) {
		cancelled_error(err, "before the lock");
		goto out;
	}
	if (j->before_lock != NULL && j->before_lock(j->before_lock_ctx) != 0) {
		mbh_error_set(err, EX_TEMPFAIL, "%s was not locked: the run stopped before its lock", m->host);
		goto out;
	}
	if (mbh_lock_fsync_lock(j->session, &count, &definite, err) != 0) {
		if (!definite) {
			char why[MBH_ERRMSG_LEN];

			/* keep the intent and the watchdog: post (or the watchdog) finds out with currentOp */
			intent = froze = false;
			memcpy(why, err->msg, sizeof(why));
			mbh_error_set(err, EX_TEMPFAIL,
				      "the fsync lock may or may not have been taken (%s); run mongo-postbackup to "
				      "check and clear it",
				      why);
		}
		goto out;
	}
	j->locked_ms = mbh_now_ms(); /* a cluster's skew is measured between its members' replies */
	j->rec.lock_count = count;
	j->held = true;
	mbh_job_publish_deadline(j);
	intent = froze = false; /* from here release_held cleans up */
	MBH_CRASH("pre-locked");

	/* invariant 1: re-check after locking */
	if (mbh_lock_hello(j->session, &hello, err) != 0 || hello.writable_primary || !hello.secondary) {
		if (err->code == 0)
			mbh_error_set(err, EX_TEMPFAIL, "%s became primary right after the lock; unlocked it again; run again",
				      m->host);
		goto out;
	}
	mbh_logf(j->log, MBH_LOG_DEBUG, "fsync-locked %s, still a secondary", m->host);
	if (mbh_job_cancelled(j)) {
		mbh_error_set(err, EX_TEMPFAIL, "cancelled right after locking %s; unlocked it again", m->host);
		goto out;
	}
	release_command(j, false, run_err);
	/* invariant 6: re-check after locking (a run choosing at the same instant may have locked a member we counted) */
	if (j->cfg->lock.allow_majority_stall <= 0 &&
	    mbh_select_recheck(t, (size_t)sel->chosen, mbh_job_ask_fsync, j, err) != 0)
		goto out;
	/* meanwhile the command exec'd: its outcome */
	release_command(j, true, run_err);
	/* a stop asked for meanwhile: unlock (the command is stopped first), and no snapshot */
	if (mbh_job_cancelled(j)) {
		mbh_error_set(err, EX_TEMPFAIL, "cancelled right after locking %s; unlocked it again", m->host);
		goto out;
	}
	if (j->cfg->snapshot.create != NULL) {
		rc = snapshot_then_command(j, templ, expand, flags, run_err, err);
		goto out;
	}
	MBH_CRASH("pre-command");
	j->rec.phase = MBH_PHASE_LOCKED;
	/*
	 * Not fsynced (the run waits for no disk here): the durable intent
	 * already covers the lock (invariant 2).  A crash of the machine that
	 * loses this record brings back the intent, which post and the watchdog
	 * release the same way (currentOp, one fsyncUnlock); the death of this
	 * process loses nothing.
	 */
	if (mbh_state_write_volatile(j->state, &j->rec, err) != 0) {
		mbh_error_prefix(err, "cannot record the lock on %s, so %s", m->host,
				 j->child != NULL ? "the command was stopped and the lock released" : "it was released");
		goto out;
	}
	MBH_CRASH("pre-recorded");
	mbh_logf(j->log, MBH_LOG_DEBUG, "fsync lock on %s returned lockCount %lld", m->host, (long long)count);
	mbh_fmt_time(j->rec.deadline, deadline, sizeof(deadline));
	if (j->job_name[0] != '\0')
		mbh_logf(j->log, MBH_LOG_INFO, "locked %s (lockCount %lld) for job %s; %s at %s", m->host,
			 (long long)count, j->job_name, wd != NULL ? "the watchdog unlocks" : "lock.max_seconds ends",
			 deadline);
	else
		mbh_logf(j->log, MBH_LOG_INFO, "locked %s (lockCount %lld); %s at %s", m->host, (long long)count,
			 wd != NULL ? "the watchdog unlocks" : "lock.max_seconds ends", deadline);
	rc = 0;
out:
	if (rc != 0 && j->held) {
		mbh_error_init(&e);
		if (release_held(j, &e) != 0)
			mbh_logf(j->log, MBH_LOG_ERROR, "could not unlock %s again: %s", j->rec.member, e.msg);
	}
	if (rc != 0 && !j->held)
		stop_command(j); /* one still at its gate: nothing was locked */
	if (rc != 0)
		forget_stopped_command(j); /* a command started under a lock that failed */
	if (froze) {
		mbh_error_init(&e);
		mbh_lock_freeze(j->session, 0, &e);
	}
	if (intent) {
		/* nothing locked: the record goes, and with it the watchdog's reason to live */
		mbh_error_init(&e);
		if (mbh_state_remove(j->state, &e) != 0)
			mbh_logf(j->log, MBH_LOG_WARNING, "%s", e.msg);
		mbh_release_stop_watchdog(j->log, &j->rec);
		reap_watchdog(j, j->rec.watchdog_pid, WATCHDOG_REAP_MS);
	}
	/* a watchdog that never got "go" exits when its pipe closes */
	mbh_watchdog_free(wd);
	if (idle_wd > 0)
		reap_watchdog(j, idle_wd, WATCHDOG_REAP_MS);
	if (rc != 0 && !j->held && !j->snap) {
		mbh_lock_session_free(j->session);
		j->session = NULL;
		mbh_state_free(j->state);
		j->state = NULL;
	}
	mbh_selection_free(sel);
	mbh_topology_free(t);
	if (rc != 0)
		mbh_job_outcome(j, false, mbh_job_cancelled(j) ? MBH_METRICS_FAIL_CANCELLED : MBH_METRICS_FAIL_LOCK, -1);
	return rc;
}

/* The pre-backup flow. */
int
mbh_job_lock(mbh_job *j, mbh_error *err)
{
	int rc;

	pthread_mutex_lock(&j->mu);
	rc = lock_flow(j, NULL, false, 0, NULL, err);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

const char *
mbh_job_set(const mbh_job *j)
{
	return j->set;
}

const char *
mbh_job_member(const mbh_job *j)
{
	return j->rec.member;
}

int64_t
mbh_job_lock_count(const mbh_job *j)
{
	return j->rec.lock_count;
}

const char *
mbh_job_chosen(const mbh_job *j)
{
	return j->chosen;
}

int64_t
mbh_job_locked_ms(const mbh_job *j)
{
	return j->locked_ms;
}

const char *
mbh_job_snapshot(mbh_job *j)
{
	bool snap;

	/* snap under mu: another thread may be removing the snapshot (rec.snapshot itself stays as it is) */
	pthread_mutex_lock(&j->mu);
	snap = j->snap;
	pthread_mutex_unlock(&j->mu);
	return snap ? j->rec.snapshot : "";
}

/* Lock with the command started as part of it; see job.h. */
int
mbh_job_lock_spawn(mbh_job *j, const char *const *templ, int flags, mbh_child **out, mbh_error *err)
{
	mbh_error run_err, e;
	int rc;

	*out = NULL;
	mbh_error_init(&run_err);
	pthread_mutex_lock(&j->mu);
	rc = lock_flow(j, templ, true, flags, &run_err, err);
	if (rc == 0 && j->child != NULL)
		*out = j->child;
	pthread_mutex_unlock(&j->mu);
	if (rc != 0 || *out != NULL)
		return rc;
	/* it could not run: nothing may stay locked (or taken) for it */
	mbh_error_init(&e);
	rc = mbh_job_unlock(j, &e);
	mbh_job_outcome(j, false, MBH_METRICS_FAIL_COMMAND, -1);
	mbh_error_fail_detail(err, MBH_ERR_NOT_STARTED, "the command did not start: ", "%s; %s",
			      run_err.code != 0 ? run_err.msg : "unknown reason",
			      rc != 0 ? e.msg : j->snap ? "the snapshot was removed" : "the member was unlocked again");
	return -1;
}

/* A command under a lock already held (a cluster's component, one after another); see job.h. */
int
mbh_job_spawn_held(mbh_job *j, const char *const *templ, const char *const *extra_env, int flags, mbh_child **out,
		   mbh_error *err)
{
	int rc = -1;

	*out = NULL;
	pthread_mutex_lock(&j->mu);
	if (!j->held || j->snap) {
		mbh_error_set(err, EX_SOFTWARE, "no lock is held to run %s under", templ[0]);
		goto out;
	}
	forget_stopped_command(j);
	if (j->child != NULL) {
		mbh_error_set(err, EX_SOFTWARE, "a command already runs under the lock on %s", j->rec.member);
		goto out;
	}
	if (mbh_job_cancelled(j)) {
		mbh_error_fail(err, MBH_ERR_CANCELLED, "cancelled before %s started", templ[0]);
		goto out;
	}
	if (start_command(j, templ, true, flags & ~MBH_RUN_GATED, extra_env, err) != 0)
		goto out;
	/* the record names the command, so that whoever unlocks (the watchdog too) stops it first */
	if (mbh_state_write_volatile(j->state, &j->rec, err) != 0) {
		stop_command(j);
		forget_stopped_command(j);
		mbh_error_prefix(err, "cannot record the command under the lock on %s, so it was stopped", j->rec.member);
		goto out;
	}
	*out = j->child;
	rc = 0;
out:
	pthread_mutex_unlock(&j->mu);
	return rc;
}

/* A command reading a snapshot that another owner holds (a cluster in exact mode); see job.h. */
int
mbh_job_spawn_snapshot(mbh_job *j, const mbh_state_rec *src, const char *const *templ, const char *const *extra_env,
		       int flags, mbh_child **out, mbh_error *err)
{
	int rc = -1;

	*out = NULL;
	pthread_mutex_lock(&j->mu);
	if (j->held || j->snap || src->snapshot[0] == '\0') {
		mbh_error_set(err, EX_SOFTWARE, "no snapshot to run %s against", templ[0]);
		goto out;
	}
	forget_stopped_command(j);
	if (j->child != NULL) {
		mbh_error_set(err, EX_SOFTWARE, "a command already reads the snapshot %s", j->rec.snapshot);
		goto out;
	}
	if (mbh_job_cancelled(j)) {
		mbh_error_fail(err, MBH_ERR_CANCELLED, "cancelled before %s started", templ[0]);
		goto out;
	}
	/* the record's fields are what start_command gives the command (%h %p %s %j %S, MONGO_BACKUP_*) */
	snprintf(j->rec.set_name, sizeof(j->rec.set_name), "%s", src->set_name);
	snprintf(j->rec.member, sizeof(j->rec.member), "%s", src->member);
	snprintf(j->rec.job, sizeof(j->rec.job), "%s", src->job);
	snprintf(j->rec.snapshot, sizeof(j->rec.snapshot), "%s", src->snapshot);
	if (start_command(j, templ, true, flags & ~MBH_RUN_GATED, extra_env, err) != 0)
		goto out;
	*out = j->child;
	rc = 0;
out:
	pthread_mutex_unlock(&j->mu);
	return rc;
}

/* See job.h. */
void
mbh_job_stop_command(mbh_job *j)
{
	pthread_mutex_lock(&j->mu);
	stop_command(j);
	pthread_mutex_unlock(&j->mu);
}

/* See jobint.h. */
void
mbh_job_publish_deadline(mbh_job *j)
{
	atomic_store(&j->lock_deadline_ms, j->held && !j->snap ? mbh_state_deadline_ms(&j->rec) : 0);
}

/* See jobint.h. */
int64_t
mbh_job_deadline_ms(const mbh_job *j, int *rule)
{
	int64_t d = 0, lock_end, lock_ms = mbh_seconds_ms(j->cfg->lock.max_seconds), grace = mbh_kill_grace_ms();
	int64_t held_until = atomic_load(&j->lock_deadline_ms); /* not held/snap/rec: another thread may be unlocking under mu */

	*rule = MBH_RULE_NONE;
	if (j->cfg->script.timeout > 0 && j->cmd_started_ms > 0) {
		d = j->cmd_started_ms + mbh_seconds_ms(j->cfg->script.timeout);
		*rule = MBH_RULE_SCRIPT;
	}
	if (held_until > 0) {
		/*
		 * the SIGTERM goes out the kill grace early (when the lock lasts more
		 * than two of them), so the SIGKILL lands on the deadline itself
		 */
		lock_end = mbh_now_ms() + (held_until - mbh_wall_ms()) - (lock_ms > 2 * grace ? grace : 0);
		if (d == 0 || lock_end < d) {
			d = lock_end;
			*rule = MBH_RULE_LOCK;
		}
	}
	return d;
}

/* See jobint.h. */
int
mbh_job_deadline_error(const mbh_job *j, int rule, const char *what, mbh_error *err)
{
	if (rule == MBH_RULE_LOCK)
		return mbh_error_set(err, EX_TEMPFAIL, "%s did not finish within lock.max_seconds (%d s): the lock's time "
				     "ran out", what, j->cfg->lock.max_seconds);
	return mbh_error_set(err, EX_TEMPFAIL, "%s did not finish within script.timeout (%d s)", what,
			     j->cfg->script.timeout);
}

/* Ms until the command gets SIGTERM by the deadline rule (0 = none; 1 when due); *by_deadline: the lock's. */
static int64_t
command_timeout(const mbh_job *j, bool *by_deadline)
{
	int rule;
	int64_t d = mbh_job_deadline_ms(j, &rule), left;

	*by_deadline = rule == MBH_RULE_LOCK;
	if (d == 0)
		return 0;
	left = d - mbh_now_ms();
	return left < 1 ? 1 : left;
}

/*
 * Wait for the command.  The owner thread: only it sets or clears j->child,
 * so the child stays valid here even when another thread unlocks meanwhile
 * (that unlock kills it and marks it stopped; this reaps and frees it).
 */
int
mbh_job_wait(mbh_job *j, int *status, mbh_error *err)
{
	mbh_error e;
	bool by_deadline = false;
	int64_t held_until;
	int rc;

	*status = -1;
	if (j->child == NULL)
		return mbh_error_set(err, EX_SOFTWARE, "no command runs under this lock");
	mbh_error_init(&e);
	/* only this thread reaps and frees the child; an unlock elsewhere only kills it */
	rc = mbh_child_await(j->child, command_timeout(j, &by_deadline), j->cancel_pipe[0], j->cancel_fd, &e);
	if (rc != 0 && e.code == EX_TEMPFAIL && !mbh_job_cancelled(j))
		mbh_job_deadline_error(j, by_deadline ? MBH_RULE_LOCK : MBH_RULE_SCRIPT, "the command", &e);
	else if (rc == 0 && (held_until = atomic_load(&j->lock_deadline_ms)) > 0 && mbh_wall_ms() >= held_until)
		rc = mbh_error_set(&e, EX_TEMPFAIL, "the command ended as the lock's time (lock.max_seconds = %d s) ran out",
				   j->cfg->lock.max_seconds);
	pthread_mutex_lock(&j->mu);
	mbh_child_reap(j->child, status, NULL);
	if (rc == 0 && j->child_pgid == 0)
		rc = mbh_error_set(&e, EX_TEMPFAIL, "the command was stopped by the unlock");
	else if (rc == 0 && *status > 128 && mbh_job_cancelled(j))
		/* mbh_job_cancel's own SIGTERM ended it before the await began: that is a cancel too */
		rc = mbh_error_set(&e, EX_TEMPFAIL, "the command was cancelled");
	j->child_pgid = 0;
	mbh_child_free(j->child);
	j->child = NULL;
	pthread_mutex_unlock(&j->mu);
	if (rc != 0)
		*err = e;
	return rc;
}

/* Snapshot mode's undo (caller holds j->mu): stop the command reading the snapshot, remove it, its record, the flock. */
static int
release_snapshot(mbh_job *j, mbh_error *err)
{
	stop_command(j);
	MBH_CRASH("unlock-before");
	if (mbh_job_snapshot_remove(j, &j->rec, err) != 0)
		return -1;
	j->snap = false;
	mbh_job_publish_deadline(j);
	mbh_lock_session_free(j->session);
	j->session = NULL;
	mbh_state_free(j->state);
	j->state = NULL;
	return 0;
}

/* Unlock what mbh_job_lock took; any thread. */
int
mbh_job_unlock(mbh_job *j, mbh_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&j->mu);
	if (j->held)
		rc = release_held(j, err);
	else if (j->snap)
		rc = release_snapshot(j, err);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

/* See job.h. */
bool
mbh_job_holds(mbh_job *j)
{
	bool h;

	pthread_mutex_lock(&j->mu);
	h = j->held || j->snap;
	pthread_mutex_unlock(&j->mu);
	return h;
}

/* Lock, run, unlock. */
int
mbh_job_exec(mbh_job *j, const char *const *templ, int *status, mbh_error *err)
{
	mbh_error run_err, unlock_err;
	bool expand = templ == NULL;
	int rc = -1, lrc;

	*status = EX_SOFTWARE;
	if (templ == NULL)
		templ = (const char *const *)j->cfg->script.backup;
	if (templ == NULL || templ[0] == NULL)
		return mbh_error_set(err, EX_USAGE, "no command to run: give --exec -- CMD [ARGS...] or set "
				     "script.backup in the config");
	mbh_error_init(&run_err);
	pthread_mutex_lock(&j->mu);
	lrc = lock_flow(j, templ, expand, 0, &run_err, err);
	pthread_mutex_unlock(&j->mu);
	if (lrc != 0) {
		/* snapshot mode: a snapshot made before the failure is removed like after a run */
		mbh_error_init(&unlock_err);
		if (j->snap && mbh_job_unlock(j, &unlock_err) != 0)
			mbh_logf(j->log, MBH_LOG_ERROR, "%s", unlock_err.msg);
		return -1;
	}
	if (j->child == NULL) {
		*status = run_err.code != 0 ? run_err.code : EX_SOFTWARE;
	} else if (mbh_job_wait(j, status, &run_err) != 0) {
		/* stopped (cancel, script.timeout or lock.max_seconds): its status is what we exit with */
		mbh_logf(j->log, MBH_LOG_WARNING, "%s", run_err.msg);
		if (*status < 0)
			*status = EX_TEMPFAIL;
		mbh_error_init(&run_err);
	} else if (*status == 128 + SIGKILL && mbh_wall_ms() >= mbh_state_deadline_ms(&j->rec)) {
		/* the watchdog reached the deadline first: it killed the command's group, then unlocked */
		mbh_logf(j->log, MBH_LOG_WARNING,
			 "the command was still running at the lock's deadline (lock.max_seconds %d): the watchdog "
			 "killed it and released %s",
			 j->cfg->lock.max_seconds, j->rec.member);
	}
	MBH_CRASH("exec-ended");
	/* always unlock, whatever happened to the command */
	mbh_error_init(&unlock_err);
	if (mbh_job_unlock(j, &unlock_err) != 0) {
		*err = unlock_err;
		goto out;
	}
	if (run_err.code != 0) {
		*err = run_err;
		goto out;
	}
	rc = 0;
out:
	mbh_job_outcome(j, rc == 0 && *status == 0,
			rc != 0 && run_err.code == 0 ? MBH_METRICS_FAIL_UNLOCK
			: mbh_job_cancelled(j)       ? MBH_METRICS_FAIL_CANCELLED
						     : MBH_METRICS_FAIL_COMMAND,
			-1);
	return rc;
}

/* --dry-run's lines about snapshot mode after the member table (*text grows). */
static int
append_snapshot_plan(mbh_job *j, const mbh_topology *t, const mbh_selection *sel, char **text, mbh_error *err)
{
	char *plan = NULL, *both = NULL;
	int rc = -1;

	if (mbh_job_render_snapshot(&plan, j, sel->chosen >= 0 ? t->members[sel->chosen].host : NULL, t->set_name,
				    err) != 0)
		return -1;
	if (asprintf(&both, "%s%s", *text, plan) < 0) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	free(*text);
	*text = both;
	rc = 0;
out:
	free(plan);
	return rc;
}

/* --dry-run. */
int
mbh_job_dry_run(mbh_job *j, char **text, mbh_error *err)
{
	mbh_topology *t = NULL;
	mbh_selection *sel = NULL;
	mbh_error sel_err;
	int rc = -1, sel_rc;

	*text = NULL;
	mbh_error_init(&sel_err);
	if (mbh_job_discover(j, &t, err) != 0)
		goto out;
	sel_rc = mbh_job_choose(j, t, true, &sel, &sel_err);
	if (sel == NULL) {
		*err = sel_err;
		goto out;
	}
	snprintf(j->chosen, sizeof(j->chosen), "%s", sel->chosen >= 0 ? t->members[sel->chosen].host : "");
	if (mbh_job_render_choice(text, t, sel, err) != 0)
		goto out;
	if (append_snapshot_plan(j, t, sel, text, err) != 0)
		goto out;
	if (sel_rc != 0) {
		*err = sel_err;
		goto out;
	}
	rc = 0;
out:
	mbh_selection_free(sel);
	mbh_topology_free(t);
	return rc;
}

/* See jobint.h. */
const char *
mbh_job_metrics_set(mbh_job *j)
{
	const char *rs;

	if (j->rec.set_name[0] != '\0')
		return j->rec.set_name;
	if (j->set[0] != '\0')
		return j->set;
	if (j->set_override != NULL)
		return j->set_override;
	if (j->uri == NULL && mbh_job_uri(j, NULL) != 0)
		return NULL;
	rs = mongoc_uri_get_replica_set(j->uri);
	return rs != NULL && rs[0] != '\0' ? rs : NULL;
}

/* See jobint.h. */
void
mbh_job_outcome_since(mbh_job *j, bool ok, mbh_metrics_reason reason, double since, int64_t bytes)
{
	mbh_metrics_event ev = { .kind = ok ? MBH_METRICS_SUCCESS : MBH_METRICS_FAILURE, .reason = reason,
				 .since = since, .bytes = bytes };

	if (j->metrics.textfile != NULL)
		mbh_metrics_note(&j->metrics, mbh_job_metrics_set(j), &ev);
}

/* See job.h. */
void
mbh_job_outcome(mbh_job *j, bool ok, mbh_metrics_reason reason, int64_t bytes)
{
	mbh_job_outcome_since(j, ok, reason, j->t_begin, bytes);
}

/* Free without unlocking. */
void
mbh_job_free(mbh_job *j)
{
	if (j == NULL)
		return;
	mbh_job_async_fini(j); /* first: its thread may be using the job */
	if (j->stray_watchdog > 0)
		mbh_watchdog_reap(j->stray_watchdog, WATCHDOG_STRAY_MS);
	if (j->stream.fd >= 0)
		close(j->stream.fd);
	mbh_child_free(j->child);
	mbh_lock_session_free(j->session);
	mbh_state_free(j->state);
	if (j->client != NULL) {
		/*
		 * Drop the one implicit session without endSessions: the driver would
		 * send it to the primary, whose connection may not be authenticated
		 * yet (discovery and the lock went to the member), costing a SCRAM
		 * conversation (with libmongoc's own, a whole key derivation) just to
		 * end a session the server expires anyway.
		 */
		mongoc_client_reset(j->client);
		mongoc_client_destroy(j->client);
	}
	mongoc_uri_destroy(j->uri);
	if (j->login != j->shared_login)
		mbh_scram_login_free(j->login); /* after every client made with it */
	if (j->cancel_pipe[0] >= 0)
		close(j->cancel_pipe[0]);
	if (j->cancel_pipe[1] >= 0)
		close(j->cancel_pipe[1]);
	pthread_mutex_destroy(&j->mu);
	free(j->job_name);
	free(j->mode);
	free(j->set_override);
	free(j->watchdog_path);
	free(j->gate_path);
	free(j);
}
