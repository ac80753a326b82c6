/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* mongo-fd.c: the Bacula file-daemon plugin: lock a secondary, stream the backup command's output, unlock. */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "config.h"
#include "error.h"
#include "fdcommand.h"
#include "fdhost.h"
#include "job.h"
#include "log.h"
#include "run.h"
#include "state.h"
#include "testtime.h"

/*
 * An adapter and nothing more: the file daemon's calls (through the
 * neutral face of fdhost.h: the layer of the daemon's plugin interface maps
 * its numbers and packets) are mapped onto one mbh_job per plugin instance
 * (one instance per Bacula job, and one per console connection).  Threads:
 * bacula-fd drives an instance from its job thread; the cancel event
 * arrives on another thread against the same instance.  The only
 * process-wide state is what mfd_load sets once (the host's calls, the
 * watchdog's path); everything else lives in the instance.
 *
 * Backup: bEventBackupCommand locks (and only it: never JobStart, newPlugin
 * or an estimate) and starts script.backup the instant the lock is verified
 * (its output waits in the pipe while bacula-fd gets to the file: the lock
 * window is the command's run, not the daemon's steps before it);
 * startBackupFile names one file /@mongo/SET/MEMBER/SCRIPT; IO_OPEN hands
 * the command's stdout to IO_READ, which streams it; IO_CLOSE reaps it and
 * unlocks at once.  The unlock also runs, idempotently, on CancelCommand
 * (after killing the command), EndBackupJob and freePlugin.  Every failure
 * sends FDHOST_FATAL: anything less leaves the job "OK".
 *
 * Restore: script.restore gets the stream on its stdin, or, without one, the
 * file is written at where + the saved name.
 */

#ifndef MBH_WATCHDOG_PATH
#error "MBH_WATCHDOG_PATH (the installed mongo-backup-watchdog) must be defined by the build"
#endif

#define PLUGIN_MAGIC 0x6d666431u /* "mfd1": a pContext that is ours */
#define LINE_MAX_LEN 1800        /* JobMessage formats into 2000 bytes */
#define FNAME_PREFIX "/@mongo/"

typedef enum fd_mode { FD_IDLE = 0, FD_BACKUP, FD_ESTIMATE, FD_RESTORE } fd_mode;

/* One plugin instance. */
typedef struct fdjob {
	uint32_t magic;
	fdhost_ctx *ctx;           /* the daemon's handle; valid until freePlugin returns */
	int jobid;
	char *bacula_job;          /* the unique job name (FDHOST_JOBNAME), or NULL */
	mbh_logger *log;
	atomic_int job_level;      /* lines above this level go to DebugMessage only */
	fd_mode mode;
	mbh_fdcommand *cmd;        /* the current plugin string */
	mbh_config *cfg;

	pthread_mutex_t mu;        /* job, users, wake: shared with the cancel thread */
	pthread_cond_t idle;       /* users dropped to 0 */
	mbh_job *job;
	int users;                 /* other threads inside a core call on job */
	int wake[2];               /* written (never drained) on cancel: wakes a blocked IO */
	atomic_bool cancelled;

	/* Owner thread only below. */
	bool locked;               /* this thread's lock is (as far as it knows) held */
	bool failed;               /* an FDHOST_FATAL was sent for the current command */
	bool running;              /* backup: script.backup was started and not yet waited for */
	mbh_child *bchild;         /* backup: script.backup (owned by the job), from the lock until IO_OPEN */
	int rfd;                   /* backup: our copy of the command's stdout */
	char *fname;               /* the virtual file's name */
	const char *script;        /* borrowed from cfg: the basename of the command */
	long long bytes;
	bool snap;                 /* snapshot mode: the member was unlocked at once, the command reads a snapshot */
	struct timespec t_locked, t_started;
	int64_t read_deadline_ms;  /* monotonic; 0 = none */
	mbh_child *rchild;         /* restore: the restore command */
	int wfd;                   /* restore: the file, or the command's stdin (borrowed from rchild) */
	char *ofname;
	char *vset, *vhost, *vport;
} fdjob;

/* Set once by mfd_load, read-only afterwards. */
static const fdhost *host;
static char watchdog_path[PATH_MAX];

/* ---------------------------------------------------------------- messages */

/* f, or NULL when it is not one of ours (what a layer hands back is the daemon's to get wrong). */
static fdjob *
fdjob_of(fdjob *f)
{
	return f != NULL && f->magic == PLUGIN_MAGIC ? f : NULL;
}

/* One line to the job log, secrets masked. */
static void __attribute__((format(printf, 3, 4)))
jmsg(fdjob *f, fdhost_msg type, const char *fmt, ...)
{
	char line[LINE_MAX_LEN], safe[LINE_MAX_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	mbh_logger_redact(f->log, line, safe, sizeof(safe));
	host->message(f->ctx, type, safe);
}

/* A failure of the current command: FDHOST_FATAL (the job fails), once per command. */
static void __attribute__((format(printf, 2, 3)))
fatal(fdjob *f, const char *fmt, ...)
{
	char line[LINE_MAX_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (atomic_load(&f->cancelled)) {
		jmsg(f, FDHOST_INFO, "job cancelled: %s", line);
		return;
	}
	if (!f->failed)
		jmsg(f, FDHOST_FATAL, "%s", line);
	else
		jmsg(f, FDHOST_ERROR, "%s", line);
	f->failed = true;
}

/* The core's log lines: info and up to the job log, debug (and what the config silences) to -d150. */
static void
log_sink(void *arg, mbh_log_level level, const char *line)
{
	fdjob *f = arg;

	if (level == MBH_LOG_DEBUG || (int)level > atomic_load(&f->job_level)) {
		host->debug(f->ctx, line);
		return;
	}
	host->message(f->ctx,
	              level == MBH_LOG_ERROR ? FDHOST_ERROR : level == MBH_LOG_WARNING ? FDHOST_WARNING : FDHOST_INFO, line);
}

/* ---------------------------------------------------------------- small helpers */

/* A CLOCK_MONOTONIC instant in milliseconds. */
static int64_t
ms_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000 + t->tv_nsec / 1000000;
}

/* Monotonic milliseconds now (the clock of t_locked, t_started and read_deadline_ms). */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ms_of(&ts);
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The last path component of a command (what the virtual file is named after). */
static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL && s[1] != '\0' ? s + 1 : path;
}

/* Write all of buf; EPIPE instead of SIGPIPE (bacula-fd must not die of a restore command that quit). */
static ssize_t
write_all(int fd, const char *buf, size_t len, int wake_fd)
{
	sigset_t pipe_set, old;
	struct pollfd pf[2];
	struct timespec zero = { 0, 0 };
	size_t done = 0;
	ssize_t n = 0;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	while (done < len) {
		pf[0].fd = fd;
		pf[0].events = POLLOUT;
		pf[1].fd = wake_fd;
		pf[1].events = POLLIN;
		if (poll(pf, wake_fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			n = -1;
			break;
		}
		if (wake_fd >= 0 && (pf[1].revents & POLLIN)) {
			errno = EINTR;
			n = -1;
			break;
		}
		n = write(fd, buf + done, len - done);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			break;
		done += (size_t)n;
	}
	saved = errno;
	if (n < 0 && saved == EPIPE)
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n < 0 ? -1 : (ssize_t)done;
}

/* mkdir -p of the directories above path (mode 0700 for the ones created). */
static int
make_parents(const char *path)
{
	char *p = strdup(path), *s;
	int rc = -1;

	if (p == NULL)
		goto out;
	for (s = strchr(p + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			goto out;
		*s = '/';
	}
	rc = 0;
out:
	free(p);
	return rc;
}

/* The wake pipe (both ends close-on-exec, non-blocking), created on first use by the owner thread. */
static int
wake_open(fdjob *f)
{
	int rc = 0;

	pthread_mutex_lock(&f->mu);
	if (f->wake[0] < 0 && pipe2(f->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		f->wake[0] = f->wake[1] = -1;
		rc = -1;
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

/* ---------------------------------------------------------------- the job: lock, unlock, cancel */

/*
 * Unlock what this instance holds, if anything (idempotent; a cancel may
 * have done it already).  Logs the bytes and the time locked after a
 * stream.  An unlock that fails is reported with what the core says to do.
 */
static void
unlock_now(fdjob *f, const char *when)
{
	mbh_error err;
	mbh_job *job;
	bool was_locked = f->locked && !atomic_load(&f->cancelled);
	char snapshot[MBH_SNAPSHOT_MAX + 1] = "";

	mbh_error_init(&err);
	pthread_mutex_lock(&f->mu);
	job = f->job;
	if (job != NULL)
		f->users++;
	pthread_mutex_unlock(&f->mu);
	if (job == NULL)
		return;
	f->locked = false;
	snprintf(snapshot, sizeof(snapshot), "%s", mbh_job_snapshot(job));
	if (mbh_job_unlock(job, &err) != 0)
		jmsg(f, atomic_load(&f->cancelled) ? FDHOST_ERROR : FDHOST_FATAL, "%s %s %s failed: %s",
		     snapshot[0] != '\0' ? "removing the snapshot of" : "unlocking",
		     mbh_job_member(job) ? mbh_job_member(job) : "the member", when, err.msg);
	else if (was_locked && snapshot[0] != '\0')
		jmsg(f, FDHOST_INFO, "%lld bytes streamed from the snapshot %s of %s, which is removed", f->bytes, snapshot,
		     mbh_job_member(job));
	else if (was_locked)
		jmsg(f, FDHOST_INFO, "%s was locked for %.3f s; %lld bytes streamed", mbh_job_member(job),
		     seconds_since(&f->t_locked), f->bytes);
	pthread_mutex_lock(&f->mu);
	f->users--;
	pthread_cond_broadcast(&f->idle);
	pthread_mutex_unlock(&f->mu);
}

/* Unlock and forget the job (waits for a cancel still working on it). */
static void
job_drop(fdjob *f)
{
	mbh_job *job;

	unlock_now(f, "at the end of the job");
	pthread_mutex_lock(&f->mu);
	while (f->users > 0)
		pthread_cond_wait(&f->idle, &f->mu);
	job = f->job;
	f->job = NULL;
	pthread_mutex_unlock(&f->mu);
	mbh_job_free(job);
}

/* Forget the current command: its job (unlocked), config, child, descriptors and names. */
static void
command_reset(fdjob *f)
{
	job_drop(f);
	if (f->rfd >= 0)
		close(f->rfd);
	f->rfd = -1;
	if (f->rchild != NULL)
		mbh_child_free(f->rchild); /* kills a restore command still running */
	else if (f->wfd >= 0)
		close(f->wfd);
	f->rchild = NULL;
	f->wfd = -1;
	mbh_config_free(f->cfg);
	f->cfg = NULL;
	mbh_fdcommand_free(f->cmd);
	f->cmd = NULL;
	free(f->fname);
	free(f->ofname);
	free(f->vset);
	free(f->vhost);
	free(f->vport);
	f->fname = f->ofname = f->vset = f->vhost = f->vport = NULL;
	f->script = NULL;
	f->failed = false;
	f->bchild = NULL;
	f->running = false;
	f->locked = false;
	f->snap = false;
	f->bytes = 0;
	f->read_deadline_ms = 0;
	f->mode = FD_IDLE;
}

/* bEventCancelCommand, on the daemon's cancel thread: wake our IO, stop the job, kill its command, unlock. */
static void
job_cancel(fdjob *f)
{
	mbh_error err;
	mbh_job *job;
	ssize_t wrote;

	mbh_error_init(&err);
	pthread_mutex_lock(&f->mu);
	atomic_store(&f->cancelled, true);
	if (f->wake[1] >= 0)
		wrote = write(f->wake[1], "c", 1); /* fails only when a byte is already there */
	job = f->job;
	if (job != NULL)
		f->users++;
	pthread_mutex_unlock(&f->mu);
	(void)wrote;
	jmsg(f, FDHOST_INFO, "cancel received%s", job != NULL ? ": stopping the command and unlocking" : "");
	if (job == NULL)
		return;
	mbh_job_cancel(job);
	if (mbh_job_unlock(job, &err) != 0)
		jmsg(f, FDHOST_ERROR, "unlocking after the cancel failed: %s", err.msg);
	pthread_mutex_lock(&f->mu);
	f->users--;
	pthread_cond_broadcast(&f->idle);
	pthread_mutex_unlock(&f->mu);
}

/* ---------------------------------------------------------------- commands */

/*
 * Parse the plugin string and load the config it names, with the string's
 * member/policy overrides.  On failure an FDHOST_FATAL names what to fix.
 */
static int
command_load(fdjob *f, const char *text, fd_mode mode)
{
	mbh_error err;
	mbh_log_level level;
	unsigned flags = 0;
	size_t i;
	int rc = -1;

	mbh_error_init(&err);
	command_reset(f);
	f->mode = mode;
	if (mbh_fdcommand_parse(&f->cmd, text, &err) != 0) {
		fatal(f, "%s; fix the Plugin line of the FileSet", err.msg);
		goto out;
	}
	if (mbh_config_new(&f->cfg, &err) != 0 || mbh_config_load_file(f->cfg, f->cmd->config, &err) != 0 ||
	    (f->cmd->member != NULL && mbh_config_set(f->cfg, "selection.member", f->cmd->member, &err) != 0) ||
	    (f->cmd->policy != NULL && mbh_config_set(f->cfg, "selection.policy", f->cmd->policy, &err) != 0) ||
	    mbh_config_finish(f->cfg, &err) != 0) {
		fatal(f, "%s; fix it (mongo-prebackup -c %s --dry-run checks it)", err.msg, f->cmd->config);
		goto out;
	}
	level = (mbh_log_level)f->cfg->log.level;
	atomic_store(&f->job_level, (int)level);
	if (f->cfg->log.syslog)
		flags |= MBH_LOG_SYSLOG;
	mbh_logger_configure(f->log, MBH_LOG_DEBUG, flags);
	for (i = 0; f->cfg->secrets != NULL && f->cfg->secrets[i] != NULL; i++)
		mbh_logger_add_secret(f->log, f->cfg->secrets[i]);
	rc = 0;
out:
	return rc;
}

/*
 * When another run holds the set's flock ("another run for SET holds ...",
 * state.h) it may be another job of this very bacula-fd (same pid): name it
 * from the set's record, so the message says which job to wait for.  Returns
 * the text to append ("" when there is nothing to add).
 */
static const char *
holder(fdjob *f, const char *msg, char *buf, size_t len)
{
	static const char prefix[] = "another run for ";
	mbh_state_rec rec;
	char set[128];
	const char *end;
	bool present = false;

	buf[0] = '\0';
	if (strncmp(msg, prefix, sizeof(prefix) - 1) != 0)
		return buf;
	msg += sizeof(prefix) - 1;
	if ((end = strchr(msg, ' ')) == NULL || (size_t)(end - msg) >= sizeof(set))
		return buf;
	memcpy(set, msg, (size_t)(end - msg));
	set[end - msg] = '\0';
	if (mbh_state_peek(f->cfg->state_dir, set, &rec, &present, NULL) == 0 && present)
		snprintf(buf, len, "; it is job %s, which locked %s (%s); run this job again once it has ended",
		         rec.job[0] != '\0' ? rec.job : "-", rec.member,
		         rec.phase == MBH_PHASE_LOCKED ? "LOCKED" : "LOCKING");
	else
		snprintf(buf, len, "; run this job again once that run has ended");
	return buf;
}

/* bEventBackupCommand: load, choose, lock and start script.backup.  The only place anything gets locked. */
static fdhost_rc
backup_command(fdjob *f, const char *text)
{
	mbh_job_params params = { .cancel_fd = -1 };
	mbh_error err;
	mbh_job *job = NULL;
	char *name = NULL, who[700];
	fdhost_rc rc = FDHOST_FAIL;

	mbh_error_init(&err);
	if (command_load(f, text, FD_BACKUP) != 0)
		goto out;
	if (f->cfg->script.backup == NULL || f->cfg->script.backup[0] == NULL) {
		fatal(f, "%s has no script.backup: set script.backup = [ \"/path/to/backup-script\", ... ] there",
		      f->cmd->config);
		goto out;
	}
	f->script = base_name(f->cfg->script.backup[0]);
	params.cfg = f->cfg;
	params.log = f->log;
	params.job_name = f->cmd->job != NULL ? f->cmd->job : f->bacula_job;
	params.mode = "plugin";
	params.watchdog_path = watchdog_path[0] != '\0' ? watchdog_path : NULL;
	if (mbh_job_new(&job, &params, &err) != 0) {
		fatal(f, "%s", err.msg);
		goto out;
	}
	pthread_mutex_lock(&f->mu);
	f->job = job; /* visible to a cancel from now on */
	pthread_mutex_unlock(&f->mu);
	job = NULL;
	if (atomic_load(&f->cancelled))
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &f->t_started);
	if (mbh_job_lock_spawn(f->job, (const char *const *)f->cfg->script.backup, MBH_RUN_PIPE_STDOUT, &f->bchild,
			       &err) != 0) {
		if (atomic_load(&f->cancelled))
			jmsg(f, FDHOST_INFO, "%s", err.msg);
		else if (strncmp(err.msg, MBH_JOB_NOT_STARTED, strlen(MBH_JOB_NOT_STARTED)) == 0)
			fatal(f, "the backup command did not start: %s", err.msg + strlen(MBH_JOB_NOT_STARTED));
		else
			fatal(f, "%s%s%s", mbh_job_lock_count(f->job) > 0 ? "" : "nothing was locked: ", err.msg,
			      holder(f, err.msg, who, sizeof(who)));
		goto out;
	}
	f->locked = true;
	f->snap = mbh_job_snapshot(f->job)[0] != '\0';
	clock_gettime(CLOCK_MONOTONIC, &f->t_locked);
	if (f->snap)
		jmsg(f, FDHOST_INFO, "started %s (pid %ld) reading the snapshot %s", f->cfg->script.backup[0],
		     mbh_child_pid(f->bchild), mbh_job_snapshot(f->job));
	else
		jmsg(f, FDHOST_INFO, "started %s (pid %ld) under the lock", f->cfg->script.backup[0],
		     mbh_child_pid(f->bchild));
	if (atomic_load(&f->cancelled)) {
		unlock_now(f, "after the cancel");
		goto out;
	}
	if (asprintf(&name, FNAME_PREFIX "%s/%s/%s", mbh_job_set(f->job), mbh_job_member(f->job), f->script) < 0) {
		name = NULL;
		fatal(f, "out of memory");
		unlock_now(f, "after a failure");
		goto out;
	}
	f->fname = name;
	name = NULL;
	jmsg(f, FDHOST_INFO, "the output of %s goes into the backup as %s", f->script, f->fname);
	rc = FDHOST_OK;
out:
	mbh_job_free(job);
	free(name);
	return rc;
}

/* The replica set named by the config's URI, for an estimate (no connection is made). */
static char *
estimate_set(const mbh_config *cfg)
{
	mongoc_uri_t *uri = NULL;
	const char *set = NULL;
	char *out = NULL;

	if (cfg->uri != NULL && (uri = mongoc_uri_new_with_error(cfg->uri, NULL)) != NULL)
		set = mongoc_uri_get_replica_set(uri);
	out = strdup(set != NULL ? set : "SET");
	mongoc_uri_destroy(uri);
	return out;
}

/* bEventEstimateCommand: name the file a backup would make; connect to nothing, lock nothing. */
static fdhost_rc
estimate_command(fdjob *f, const char *text)
{
	char *set = NULL;
	fdhost_rc rc = FDHOST_FAIL;

	if (command_load(f, text, FD_ESTIMATE) != 0)
		goto out;
	if (f->cfg->script.backup == NULL || f->cfg->script.backup[0] == NULL) {
		fatal(f, "%s has no script.backup: set script.backup = [ \"/path/to/backup-script\", ... ] there",
		      f->cmd->config);
		goto out;
	}
	if ((set = estimate_set(f->cfg)) == NULL ||
	    asprintf(&f->fname, FNAME_PREFIX "%s/%s/%s", set,
	             f->cfg->selection.member != NULL ? f->cfg->selection.member : "MEMBER",
	             base_name(f->cfg->script.backup[0])) < 0) {
		f->fname = NULL;
		fatal(f, "out of memory");
		goto out;
	}
	rc = FDHOST_OK;
out:
	free(set);
	return rc;
}

/* ---------------------------------------------------------------- backup stream */

/* What a failure before the end of the stream undoes. */
static const char *
undoing(const fdjob *f)
{
	return f->snap ? "the snapshot is being removed" : "the member is being unlocked";
}

/*
 * IO_OPEN: hand the output of script.backup (started by the lock; snapshot
 * mode: reading the snapshot, the member already unlocked) to IO_READ.  On
 * failure the member is unlocked (the snapshot removed) at once.
 */
static void
backup_open(fdjob *f, fdhost_io *io)
{
	int64_t deadline = 0, lock_end, lock_ms;
	bool undo = false;

	io->status = -1;
	io->io_errno = atomic_load(&f->cancelled) ? EINTR : EIO;
	if (f->job == NULL || !f->locked || f->bchild == NULL || atomic_load(&f->cancelled))
		goto out;
	undo = true;
	if (wake_open(f) != 0) {
		fatal(f, "cannot create a pipe: %s; %s", strerror(errno), undoing(f));
		goto out;
	}
	/*
	 * Our own descriptor: a cancel on another thread may end the child's
	 * while IO_READ waits on it.  Non-blocking: IO_READ reads until the
	 * buffer is full and waits (poll) only when the pipe is empty.
	 */
	if ((f->rfd = fcntl(mbh_child_stdout_fd(f->bchild), F_DUPFD_CLOEXEC, 3)) < 0 ||
	    fcntl(f->rfd, F_SETFL, fcntl(f->rfd, F_GETFL) | O_NONBLOCK) != 0) {
		fatal(f, "cannot read the backup command's output: %s; %s", strerror(errno), undoing(f));
		mbh_job_cancel(f->job);
		goto out;
	}
	f->bchild = NULL; /* mbh_job_wait reaps it */
	if (f->cfg->script.timeout > 0)
		deadline = ms_of(&f->t_started) + (int64_t)f->cfg->script.timeout * 1000;
	if (f->cfg->lock.max_seconds > 0 && !f->snap) {
		/* like mbh_job_wait: stop it the kill grace early, so its SIGKILL lands by the lock's deadline */
		lock_ms = mbh_seconds_ms(f->cfg->lock.max_seconds);
		lock_end = ms_of(&f->t_locked) + lock_ms - (lock_ms > 2 * mbh_kill_grace_ms() ? mbh_kill_grace_ms() : 0);
		if (deadline == 0 || lock_end < deadline)
			deadline = lock_end;
	}
	f->read_deadline_ms = deadline;
	f->running = true;
	undo = false;
	io->status = 0;
	io->io_errno = 0;
out:
	if (undo)
		unlock_now(f, "after a failure");
}

/*
 * IO_READ: fill the buffer with the command's stdout (short only at its end,
 * like bpipe's fread): bacula-fd makes one record, one signature update and
 * one network write per IO_READ, so a pipe's partial reads would cost more
 * of each per byte.  0 at the end; -1 on cancel, timeout or error.  The pipe
 * is non-blocking: poll only when it is empty, watching the cancel's wake-up
 * and the deadline.
 */
static void
backup_read(fdjob *f, fdhost_io *io)
{
	struct pollfd pf[2];
	size_t want = (size_t)io->count, got = 0;
	int64_t left = -1;
	bool by_script;
	ssize_t n;
	int r;

	io->status = -1;
	io->io_errno = EIO;
	if (f->rfd < 0) {
		io->io_errno = atomic_load(&f->cancelled) ? EINTR : EBADF;
		return;
	}
	while (got < want) {
		if (atomic_load(&f->cancelled)) {
			io->io_errno = EINTR;
			return;
		}
		if (f->read_deadline_ms > 0 && (left = f->read_deadline_ms - now_ms()) <= 0) {
			by_script = f->cfg->script.timeout > 0 &&
			            f->read_deadline_ms == ms_of(&f->t_started) + (int64_t)f->cfg->script.timeout * 1000;
			fatal(f, "the backup command %s did not finish within %s (%d s): stopping it and unlocking",
			      f->script, by_script ? "script.timeout" : "lock.max_seconds",
			      by_script ? f->cfg->script.timeout : f->cfg->lock.max_seconds);
			mbh_job_cancel(f->job);
			io->io_errno = ETIMEDOUT;
			return;
		}
		n = read(f->rfd, io->buf + got, want - got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			break; /* the end of the stream */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			fatal(f, "reading the backup command's output failed: %s", strerror(errno));
			io->io_errno = errno;
			return;
		}
		/* the pipe is empty: wait for more, the end, a cancel or the deadline */
		pf[0].fd = f->rfd;
		pf[0].events = POLLIN;
		pf[1].fd = f->wake[0];
		pf[1].events = POLLIN;
		r = poll(pf, 2, left < 0 || left > INT_MAX ? -1 : (int)left);
		if (r < 0 && errno != EINTR) {
			fatal(f, "waiting for the backup command's output failed: %s", strerror(errno));
			io->io_errno = errno;
			return;
		}
	}
	f->bytes += (long long)got;
	io->status = (int32_t)got;
	io->io_errno = 0;
}

/* IO_CLOSE: reap the command, unlock at once, report how it ended. */
static void
backup_close(fdjob *f, fdhost_io *io)
{
	mbh_error err;
	int status = -1;
	bool ok = false;

	mbh_error_init(&err);
	if (f->rfd >= 0)
		close(f->rfd);
	f->rfd = -1;
	if (f->job == NULL || !f->running)
		goto out;
	f->running = false;
	if (atomic_load(&f->cancelled))
		mbh_job_wait(f->job, &status, &err); /* the cancel killed it; only this thread may reap it */
	else if (mbh_job_wait(f->job, &status, &err) != 0)
		fatal(f, "the backup command %s: %s; %s", f->script, err.msg, undoing(f));
	else if (status > 128)
		fatal(f, "the backup command %s was killed by signal %d; the backup is incomplete; %s", f->script,
		      status - 128, undoing(f));
	else if (status != 0)
		fatal(f, "the backup command %s exited with status %d; the backup is incomplete; see its error output "
		      "with: mongo-prebackup -c %s --exec >/dev/null", f->script, status, f->cmd->config);
	else
		ok = !f->failed;
	if (ok)
		jmsg(f, FDHOST_INFO, "%s ended (status 0) after %.3f s", f->script, seconds_since(&f->t_started));
out:
	/* the stream has ended, however: unlock now, not at the end of the job */
	unlock_now(f, ok ? "after the stream" : "after a failure");
	if (status != -1 || err.code != 0)
		mbh_job_outcome(f->job, ok,
				atomic_load(&f->cancelled) ? MBH_METRICS_FAIL_CANCELLED
				: f->failed && status == 0 ? MBH_METRICS_FAIL_STREAM
							   : MBH_METRICS_FAIL_COMMAND,
				f->bytes);
	io->status = ok || atomic_load(&f->cancelled) ? 0 : -1;
}

/* ---------------------------------------------------------------- restore */

/* Split ".../@mongo/SET/HOST:PORT/SCRIPT" (the saved name) into the %s %h %p of the restore command. */
static void
restore_vars(fdjob *f, const char *ofname)
{
	const char *p = strstr(ofname, FNAME_PREFIX), *set, *member, *end, *colon;

	free(f->vset);
	free(f->vhost);
	free(f->vport);
	f->vset = f->vhost = f->vport = NULL;
	if (p == NULL)
		return;
	set = p + strlen(FNAME_PREFIX);
	if ((member = strchr(set, '/')) == NULL)
		return;
	f->vset = strndup(set, (size_t)(member - set));
	member++;
	if ((end = strchr(member, '/')) == NULL)
		return;
	if ((colon = memrchr(member, ':', (size_t)(end - member))) == NULL)
		return;
	f->vhost = strndup(member, (size_t)(colon - member));
	f->vport = strndup(colon + 1, (size_t)(end - colon - 1));
}

/* bEventRestoreCommand: the config says where the stream goes.  Nothing is locked for a restore. */
static fdhost_rc
restore_command(fdjob *f, const char *text)
{
	return command_load(f, text, FD_RESTORE) == 0 ? FDHOST_OK : FDHOST_FAIL;
}

/* createFile: always EXTRACT (we take the data), or SKIP for replace=never on an existing file. */
static fdhost_rc
restore_create(fdjob *f, fdhost_restore *rp)
{
	struct stat st;

	rp->create_status = FDHOST_CREATE_ERROR;
	if (f->cfg == NULL || rp->ofname == NULL)
		return FDHOST_FAIL;
	free(f->ofname);
	if ((f->ofname = strdup(rp->ofname)) == NULL) {
		fatal(f, "out of memory");
		return FDHOST_FAIL;
	}
	restore_vars(f, rp->ofname);
	if (f->cfg->script.restore == NULL && rp->replace == 'n' && lstat(rp->ofname, &st) == 0) {
		jmsg(f, FDHOST_INFO, "%s exists and replace=never: skipped", rp->ofname);
		rp->create_status = FDHOST_CREATE_SKIP;
		return FDHOST_OK;
	}
	rp->create_status = FDHOST_CREATE_EXTRACT;
	return FDHOST_OK;
}

/* IO_OPEN for a restore: start script.restore with a pipe on its stdin, or create the file. */
static void
restore_open(fdjob *f, fdhost_io *io)
{
	mbh_run_vars vars = { 0 };
	mbh_error err;
	char **argv = NULL, *env[6] = { NULL };
	const char *job = f->cmd != NULL && f->cmd->job != NULL ? f->cmd->job : f->bacula_job;
	const char *where = NULL;
	int i;

	mbh_error_init(&err);
	io->status = -1;
	io->io_errno = EIO;
	if (f->cfg == NULL || f->ofname == NULL || wake_open(f) != 0)
		goto out;
	if (f->cfg->script.restore == NULL) {
		if (make_parents(f->ofname) != 0 ||
		    (f->wfd = open(f->ofname, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
			io->io_errno = errno;
			fatal(f, "cannot create %s: %s; restore with a where= directory the file daemon can write",
			      f->ofname, strerror(errno));
			goto out;
		}
		jmsg(f, FDHOST_INFO, "writing %s (no script.restore in %s)", f->ofname, f->cmd->config);
		io->status = 0;
		io->io_errno = 0;
		goto out;
	}
	vars.set = f->vset;
	vars.host = f->vhost;
	vars.port = f->vport;
	vars.job = job;
	host->get_str(f->ctx, FDHOST_WHERE, &where);
	if (asprintf(&env[0], "MONGO_BACKUP_SET=%s", f->vset ? f->vset : "") < 0 ||
	    asprintf(&env[1], "MONGO_BACKUP_HOST=%s", f->vhost ? f->vhost : "") < 0 ||
	    asprintf(&env[2], "MONGO_BACKUP_PORT=%s", f->vport ? f->vport : "") < 0 ||
	    asprintf(&env[3], "MONGO_BACKUP_JOB=%s", job ? job : "") < 0 ||
	    asprintf(&env[4], "MONGO_BACKUP_WHERE=%s", where ? where : "") < 0) {
		fatal(f, "out of memory");
		goto out;
	}
	if (mbh_run_expand(&argv, (const char *const *)f->cfg->script.restore, &vars, &err) != 0 ||
	    mbh_child_spawn(&f->rchild, (const char *const *)argv, (const char *const *)env, MBH_RUN_PIPE_STDIN,
	                    &err) != 0) {
		fatal(f, "the restore command did not start: %s", err.msg);
		goto out;
	}
	f->wfd = mbh_child_stdin_fd(f->rchild);
	if (fcntl(f->wfd, F_SETFL, fcntl(f->wfd, F_GETFL) | O_NONBLOCK) != 0) {
		fatal(f, "cannot set up the restore command's input: %s", strerror(errno));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &f->t_started);
	jmsg(f, FDHOST_INFO, "restoring into %s (pid %ld)", f->cfg->script.restore[0], mbh_child_pid(f->rchild));
	io->status = 0;
	io->io_errno = 0;
out:
	for (i = 0; i < 6; i++)
		free(env[i]);
	mbh_strv_free(argv);
}

/* IO_WRITE for a restore. */
static void
restore_write(fdjob *f, fdhost_io *io)
{
	io->status = -1;
	io->io_errno = EBADF;
	if (f->wfd < 0 || io->count < 0)
		return;
	if (atomic_load(&f->cancelled)) {
		io->io_errno = EINTR;
		return;
	}
	if (write_all(f->wfd, io->buf, (size_t)io->count, f->wake[0]) < 0) {
		io->io_errno = errno;
		if (errno == EPIPE)
			fatal(f, "the restore command %s stopped reading its input; the restore is incomplete",
			      base_name(f->cfg->script.restore[0]));
		else if (errno != EINTR)
			fatal(f, "writing %s failed: %s", f->rchild != NULL ? "to the restore command" : f->ofname,
			      strerror(errno));
		return;
	}
	f->bytes += io->count;
	io->status = io->count;
	io->io_errno = 0;
}

/* IO_CLOSE for a restore: end the file, or close the command's input and wait for its verdict. */
static void
restore_close(fdjob *f, fdhost_io *io)
{
	mbh_error err;
	int status = -1;

	mbh_error_init(&err);
	io->status = -1;
	if (f->rchild == NULL) {
		if (f->wfd >= 0 && (fsync(f->wfd) != 0 || close(f->wfd) != 0)) {
			f->wfd = -1;
			fatal(f, "writing %s failed: %s", f->ofname, strerror(errno));
			return;
		}
		f->wfd = -1;
		if (!f->failed)
			jmsg(f, FDHOST_INFO, "wrote %lld bytes to %s", f->bytes, f->ofname);
		io->status = f->failed ? -1 : 0;
		return;
	}
	mbh_child_close_stdin(f->rchild);
	f->wfd = -1;
	if (mbh_child_wait(f->rchild, f->cfg->script.timeout, f->wake[0], &status, &err) != 0)
		fatal(f, "the restore command %s: %s", base_name(f->cfg->script.restore[0]), err.msg);
	else if (status != 0)
		fatal(f, "the restore command %s exited with status %d: the restore failed; see its own output",
		      base_name(f->cfg->script.restore[0]), status);
	else if (!f->failed)
		jmsg(f, FDHOST_INFO, "%s accepted %lld bytes (status 0) after %.3f s", base_name(f->cfg->script.restore[0]),
		     f->bytes, seconds_since(&f->t_started));
	mbh_child_free(f->rchild);
	f->rchild = NULL;
	io->status = f->failed ? -1 : 0;
}

/* ---------------------------------------------------------------- the entry points (fdhost.h) */

/* A new instance: a Bacula job or a console connection.  No I/O, nothing locked. */
fdhost_rc
mfd_new(fdhost_ctx *ctx, fdjob **out)
{
	fdjob *f = NULL;
	const char *name = NULL;
	fdhost_rc rc = FDHOST_FAIL;

	*out = NULL;
	if (ctx == NULL || host == NULL || (f = calloc(1, sizeof(*f))) == NULL)
		goto out;
	f->magic = PLUGIN_MAGIC;
	f->ctx = ctx;
	f->rfd = f->wfd = -1;
	f->wake[0] = f->wake[1] = -1;
	atomic_init(&f->cancelled, false);
	atomic_init(&f->job_level, MBH_LOG_INFO);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->idle, NULL);
	host->get_int(ctx, FDHOST_JOBID, &f->jobid);
	if (host->get_str(ctx, FDHOST_JOBNAME, &name) && (f->bacula_job = strdup(name)) == NULL)
		goto out;
	if (mbh_logger_new(&f->log, "mongo-fd", MBH_LOG_DEBUG, 0, log_sink, f) != 0)
		goto out;
	*out = f;
	f = NULL;
	rc = FDHOST_OK;
out:
	if (f != NULL) {
		pthread_mutex_destroy(&f->mu);
		pthread_cond_destroy(&f->idle);
		free(f->bacula_job);
		free(f);
	}
	return rc;
}

/* The instance ends: unlock whatever is still held, free everything. */
fdhost_rc
mfd_free(fdjob *job)
{
	fdjob *f = fdjob_of(job);

	if (f == NULL)
		return FDHOST_FAIL;
	command_reset(f);
	if (f->wake[0] >= 0)
		close(f->wake[0]);
	if (f->wake[1] >= 0)
		close(f->wake[1]);
	mbh_logger_free(f->log);
	free(f->bacula_job);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->idle);
	f->magic = 0;
	free(f);
	return FDHOST_OK;
}

/* getPluginValue / setPluginValue: never called by the 9.6 file daemon; nothing to say. */
fdhost_rc
mfd_noop(fdjob *job)
{
	return fdjob_of(job) != NULL ? FDHOST_OK : FDHOST_FAIL;
}

/* Events: the commands start work; the ends of jobs and cancels release it. */
fdhost_rc
mfd_event(fdjob *job, fdhost_event event, void *value)
{
	fdjob *f = fdjob_of(job);

	if (f == NULL)
		return FDHOST_FAIL;
	switch (event) {
	case FDHOST_EV_BACKUP_COMMAND:
		return backup_command(f, value);
	case FDHOST_EV_ESTIMATE_COMMAND:
		return estimate_command(f, value);
	case FDHOST_EV_RESTORE_COMMAND:
		return restore_command(f, value);
	case FDHOST_EV_CANCEL:
		job_cancel(f);
		return FDHOST_OK;
	case FDHOST_EV_END_BACKUP_JOB:
		if (f->locked && !atomic_load(&f->cancelled))
			jmsg(f, FDHOST_WARNING, f->snap ? "the job ended with the snapshot of %s still there: removing it now"
			                                : "the job ended with %s still locked: unlocking it now",
			     f->job != NULL && mbh_job_member(f->job) ? mbh_job_member(f->job) : "the member");
		command_reset(f);
		return FDHOST_OK;
	case FDHOST_EV_END_RESTORE_JOB:
		command_reset(f);
		return FDHOST_OK;
	default:
		return FDHOST_OK;
	}
}

/* One virtual file per command, named after the set, the locked member and the script. */
fdhost_rc
mfd_start_backup_file(fdjob *job, fdhost_file *file)
{
	fdjob *f = fdjob_of(job);

	if (f == NULL || file == NULL)
		return FDHOST_FAIL;
	if (f->fname == NULL || (f->mode == FD_BACKUP && !f->locked)) {
		if (!f->failed && !atomic_load(&f->cancelled))
			fatal(f, "no backup command was accepted for this file; see the messages above");
		return FDHOST_FAIL;
	}
	file->fname = f->fname;
	file->mode = S_IFREG | 0600;
	file->size = -1;
	file->mtime = time(NULL);
	return FDHOST_OK;
}

/* One file per command: nothing more to back up. */
fdhost_rc
mfd_end_backup_file(fdjob *job)
{
	return fdjob_of(job) != NULL ? FDHOST_OK : FDHOST_FAIL;
}

fdhost_rc
mfd_start_restore_file(fdjob *job, const char *cmd)
{
	fdjob *f = fdjob_of(job);

	(void)cmd;
	return f != NULL && f->mode == FD_RESTORE && f->cfg != NULL ? FDHOST_OK : FDHOST_FAIL;
}

fdhost_rc
mfd_end_restore_file(fdjob *job)
{
	return fdjob_of(job) != NULL ? FDHOST_OK : FDHOST_FAIL;
}

/* The stream: the daemon looks only at io->status (bytes, 0 = end, < 0 = error with io_errno). */
fdhost_rc
mfd_io(fdjob *job, fdhost_io *io)
{
	fdjob *f = fdjob_of(job);

	if (f == NULL || io == NULL)
		return FDHOST_FAIL;
	io->status = -1;
	io->io_errno = EINVAL;
	switch (io->func) {
	case FDHOST_IO_OPEN:
		if (f->mode == FD_BACKUP)
			backup_open(f, io);
		else if (f->mode == FD_RESTORE)
			restore_open(f, io);
		break;
	case FDHOST_IO_READ:
		if (f->mode == FD_BACKUP && io->buf != NULL && io->count > 0)
			backup_read(f, io);
		break;
	case FDHOST_IO_WRITE:
		if (f->mode == FD_RESTORE && io->buf != NULL)
			restore_write(f, io);
		break;
	case FDHOST_IO_CLOSE:
		if (f->mode == FD_BACKUP)
			backup_close(f, io);
		else if (f->mode == FD_RESTORE)
			restore_close(f, io);
		break;
	default:
		io->io_errno = ESPIPE; /* a stream: no seeking */
		break;
	}
	return io->status < 0 ? FDHOST_FAIL : FDHOST_OK;
}

fdhost_rc
mfd_create_file(fdjob *job, fdhost_restore *r)
{
	fdjob *f = fdjob_of(job);

	if (f == NULL || r == NULL || f->mode != FD_RESTORE)
		return FDHOST_FAIL;
	return restore_create(f, r);
}

/* The restored stream keeps mode 0600 whatever was saved. */
fdhost_rc
mfd_set_file_attributes(fdjob *job)
{
	return fdjob_of(job) != NULL ? FDHOST_OK : FDHOST_FAIL;
}

/* Accurate mode: our virtual files are never "deleted" because no directory holds them. */
fdhost_rc
mfd_check_file(fdjob *job, const char *fname)
{
	if (fdjob_of(job) == NULL || fname == NULL)
		return FDHOST_FAIL;
	return strncmp(fname, FNAME_PREFIX, strlen(FNAME_PREFIX)) == 0 ? FDHOST_SEEN : FDHOST_OK;
}

/*
 * Once, when the daemon loads the plugin (a layer has chosen host): find
 * the watchdog program, start libmongoc (and silence its process-wide log:
 * its lines could belong to any job).
 */
int
mfd_load(const fdhost *h)
{
	const char *wd = getenv("MONGO_BACKUP_WATCHDOG");

	if (h == NULL || h->message == NULL || h->debug == NULL || h->get_int == NULL || h->get_str == NULL)
		return -1;
	host = h;
	snprintf(watchdog_path, sizeof(watchdog_path), "%s", wd != NULL && wd[0] != '\0' ? wd : MBH_WATCHDOG_PATH);
	mongoc_init();
	mongoc_log_set_handler(NULL, NULL);
	return 0;
}

/* Once, when the daemon unloads a plugin mfd_load accepted. */
void
mfd_unload(void)
{
	mongoc_cleanup();
}
