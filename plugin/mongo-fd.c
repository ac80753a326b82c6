/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* mongo-fd.c: the Bacula file-daemon plugin: lock a secondary, stream the backup command's output, unlock. */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "cluster.h"
#include "config.h"
#include "error.h"
#include "fdcommand.h"
#include "fdhost.h"
#include "job.h"
#include "log.h"
#include "restore.h"
#include "run.h"
#include "state.h"
#include "streamname.h"
#include "strv.h"
#include "watchdog.h"

/*
 * An adapter and nothing more: the file daemon's calls (through the
 * neutral face of fdhost.h: the layer of the daemon's plugin interface maps
 * its numbers and packets) are mapped onto the core's: one mbh_job per
 * backup command, one mbh_restore per restore (one instance per Bacula job,
 * and one per console connection).  Threads: bacula-fd drives an instance
 * from its job thread; the cancel event arrives on another thread against
 * the same instance.  Process-wide: what mfd_load sets once (the host's
 * calls, the watchdog's path) and the list of live instances, which
 * mfd_unload releases (bacula-fd's SIGTERM unloads with jobs running).
 *
 * Backup: the backup command event locks (and only it: never JobStart,
 * newPlugin or an estimate) and starts script.backup the instant the lock
 * is verified (mbh_job_lock_spawn); startBackupFile names one file
 * /@mongo/SET/MEMBER/SCRIPT; IO_OPEN, IO_READ and IO_CLOSE are the core's
 * stream (mbh_job_stream_*: its deadlines, its idle watch, a close before
 * the end that stops the command); the unlock follows IO_CLOSE at once.  It
 * also runs, idempotently, on the cancel (on the job's own thread, so the
 * cancel returns at once), EndBackupJob, freePlugin and mfd_unload.  Every
 * failure sends FDHOST_FATAL: anything less leaves the job "OK".
 *
 * A sharded cluster (the config's URI is a mongos): the backup command
 * event locks the whole cluster (mbh_cluster_lock: one secondary per shard
 * and of the config servers, the balancer stopped); then one file per
 * component, /@mongo/CLUSTER/COMPONENT/MEMBER/SCRIPT, each the output of
 * script.backup started for that component's locked member at its IO_OPEN
 * (mbh_cluster_comp_spawn) and read as that component's job's stream (the
 * same deadline and idle rules); endBackupFile answers "more" until the
 * last; every lock is released (mbh_cluster_unlock, the balancer started
 * again) after the last file, at the first failure, or on the same paths as
 * one set's (a cancel: mbh_cluster_unlock_async at once, the rest on the
 * job's thread).  Exact mode: the lock ends inside mbh_cluster_lock; each
 * file is script.backup read from the component's snapshot of its primary
 * (MEMBER), and mbh_cluster_unlock removes every snapshot on those paths.
 *
 * Restore: mbh_restore: script.restore gets the stream on its stdin, or,
 * without one, the file is created anew below where (one restore command
 * event per file, so one shard or all).
 */

#ifndef MBH_WATCHDOG_PATH
#error "MBH_WATCHDOG_PATH (the installed mongo-backup-watchdog) must be defined by the build"
#endif

#define PLUGIN_MAGIC 0x6d666431u /* "mfd1": a pContext that is ours */
#define LINE_MAX_LEN 1800        /* JobMessage formats into 2000 bytes */
#define UNLOAD_WAIT_MS 10000   /* mfd_unload waits this long for the unlocks, then bacula-fd exits */

typedef enum fd_mode { FD_IDLE = 0, FD_BACKUP, FD_ESTIMATE, FD_RESTORE } fd_mode;

/* One plugin instance. */
typedef struct fdjob {
	uint32_t magic;
	fdhost_ctx *ctx;           /* the daemon's handle; valid until freePlugin returns */
	struct fdjob *next;        /* the list of live instances (mfd_unload releases what they hold) */
	int jobid;
	char *bacula_job;          /* the unique job name (bVarJobName), or NULL */
	mbh_logger *log;
	atomic_int job_level;      /* lines above this level go to DebugMessage only */
	fd_mode mode;
	mbh_fdcommand *cmd;        /* the current plugin string */
	mbh_config *cfg;

	pthread_mutex_t mu;        /* job, restore, users: shared with the cancel thread and mfd_unload */
	pthread_cond_t idle;       /* users dropped to 0 */
	mbh_job *job;
	mbh_restore *restore;
	mbh_cluster *cluster;      /* a mongos URI's backup: the cluster run, instead of job's lock */
	bool cluster_held;         /* cluster's lock succeeded: a cancel may unlock its components */
	int users;                 /* other threads inside a core call on job or cluster */
	atomic_bool cancelled;

	/* Owner thread only below. */
	bool locked;               /* this thread's lock is (as far as it knows) held */
	bool failed;               /* an FDHOST_FATAL was sent for the current command */
	bool streaming;            /* backup: the stream is open (IO_OPEN to IO_CLOSE) */
	mbh_child *bchild;         /* backup: script.backup (owned by the job), from the lock until IO_OPEN */
	char *fname;               /* the virtual file's name */
	const char *script;        /* borrowed from cfg: the basename of the command */
	bool snap;                 /* snapshot mode: the member was unlocked at once, the command reads a snapshot */
	struct timespec t_locked;
	int cancel_pipe[2];        /* a cluster's cancel_fd: a cancel writes [1]; -1 when none */
	size_t comp;               /* a cluster: the component whose file is the current one */
	bool comp_read;            /* a cluster: the current file's stream was closed (read, or cut) */
	int64_t cluster_bytes;     /* a cluster: bytes streamed, all components */
} fdjob;

/* Set once by mfd_load, read-only afterwards. */
static const fdhost *host;
static char watchdog_path[PATH_MAX];
static char gate_path[PATH_MAX];

/* The live instances, for mfd_unload (bacula-fd's SIGTERM calls it with jobs still running). */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static fdjob *live;

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

/* ---------------------------------------------------------------- the job: lock, unlock, cancel */

/*
 * Unlock what this instance holds, if anything (idempotent; a cancel may
 * have done it already).  Logs the bytes and the time locked after a
 * stream.  An unlock that fails is reported with what the core says to do.
 */
static void
cluster_unlock_now(fdjob *f, const char *when);

static void
unlock_now(fdjob *f, const char *when)
{
	mbh_error err;
	mbh_job *job;
	bool was_locked = f->locked && !atomic_load(&f->cancelled);
	char snapshot[MBH_SNAPSHOT_MAX + 1] = "";
	long long bytes;

	if (f->cluster != NULL) {
		cluster_unlock_now(f, when);
		return;
	}
	mbh_error_init(&err);
	pthread_mutex_lock(&f->mu);
	job = f->job;
	if (job != NULL)
		f->users++;
	pthread_mutex_unlock(&f->mu);
	if (job == NULL)
		return;
	f->locked = false;
	was_locked = was_locked && mbh_job_holds(job); /* the idle rule may have released it already, and said so */
	bytes = (long long)mbh_job_stream_bytes(job);
	snprintf(snapshot, sizeof(snapshot), "%s", mbh_job_snapshot(job));
	if (mbh_job_unlock(job, &err) != 0)
		jmsg(f, atomic_load(&f->cancelled) ? FDHOST_ERROR : FDHOST_FATAL, "%s %s %s failed: %s",
		     snapshot[0] != '\0' ? "removing the snapshot of" : "unlocking",
		     mbh_job_member(job) ? mbh_job_member(job) : "the member", when, err.msg);
	else if (was_locked && snapshot[0] != '\0')
		jmsg(f, FDHOST_INFO, "%lld bytes streamed from the snapshot %s of %s, which is removed", bytes, snapshot,
		     mbh_job_member(job));
	else if (was_locked)
		jmsg(f, FDHOST_INFO, "%s was locked for %.3f s; %lld bytes streamed", mbh_job_member(job),
		     seconds_since(&f->t_locked), bytes);
	pthread_mutex_lock(&f->mu);
	f->users--;
	pthread_cond_broadcast(&f->idle);
	pthread_mutex_unlock(&f->mu);
}

/*
 * A cluster: release every lock and start the balancer again, on the job's
 * own thread (a cancel's mbh_cluster_unlock_async may have unlocked the
 * components already; an unload's finisher may be at it too: the core
 * serialises them and the second finds nothing held).
 */
static void
cluster_unlock_now(fdjob *f, const char *when)
{
	mbh_error err;
	bool was_locked = f->locked && !atomic_load(&f->cancelled);
	char name[128];

	mbh_error_init(&err);
	if (f->cluster == NULL || !f->locked)
		return;
	f->locked = false;
	snprintf(name, sizeof(name), "%s", mbh_cluster_name(f->cluster));
	if (mbh_cluster_unlock(f->cluster, &err) != 0)
		jmsg(f, atomic_load(&f->cancelled) ? FDHOST_ERROR : FDHOST_FATAL, "unlocking cluster %s %s failed: %s",
		     name, when, err.msg);
	else if (was_locked)
		jmsg(f, FDHOST_INFO, f->snap ? "cluster %s: snapshots held for %.3f s; %lld bytes streamed; every "
					       "snapshot removed %s"
					     : "cluster %s was locked for %.3f s; %lld bytes streamed; every lock released %s",
		     name, seconds_since(&f->t_locked), (long long)f->cluster_bytes, when);
	else
		jmsg(f, FDHOST_INFO, f->snap ? "cluster %s: every snapshot removed %s" : "cluster %s: every lock released %s",
		     name, when);
}

/* Unlock and forget the cluster run (waits for a cancel still working on it). */
static void
cluster_drop(fdjob *f)
{
	mbh_cluster *cl;

	cluster_unlock_now(f, "at the end of the job");
	pthread_mutex_lock(&f->mu);
	while (f->users > 0)
		pthread_cond_wait(&f->idle, &f->mu);
	cl = f->cluster;
	f->cluster = NULL;
	f->cluster_held = false;
	pthread_mutex_unlock(&f->mu);
	mbh_cluster_free(cl);
	for (int i = 0; i < 2; i++) {
		if (f->cancel_pipe[i] >= 0)
			close(f->cancel_pipe[i]);
		f->cancel_pipe[i] = -1;
	}
	f->comp = 0;
	f->cluster_bytes = 0;
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

/* Forget the current command: its job (unlocked), restore, config and names. */
static void
command_reset(fdjob *f)
{
	mbh_restore *r;

	cluster_drop(f);
	job_drop(f);
	pthread_mutex_lock(&f->mu);
	while (f->users > 0)
		pthread_cond_wait(&f->idle, &f->mu);
	r = f->restore;
	f->restore = NULL;
	pthread_mutex_unlock(&f->mu);
	mbh_restore_free(r); /* kills a restore command still running */
	mbh_config_free(f->cfg);
	f->cfg = NULL;
	mbh_fdcommand_free(f->cmd);
	f->cmd = NULL;
	free(f->fname);
	f->fname = NULL;
	f->script = NULL;
	f->failed = false;
	f->bchild = NULL;
	f->streaming = false;
	f->locked = false;
	f->snap = false;
	f->mode = FD_IDLE;
}

/*
 * The cancel event, on the daemon's cancel thread: stop the job (its
 * command is killed) and have it unlocked on the job's own thread, so that
 * this returns at once even while the lock flow waits on a member that does
 * not answer; the unlock follows as soon as that call ends.
 */
static void
job_cancel(fdjob *f)
{
	mbh_error err;
	mbh_job *job;
	mbh_restore *r;
	mbh_cluster *cl;
	char b = 1;

	mbh_error_init(&err);
	pthread_mutex_lock(&f->mu);
	atomic_store(&f->cancelled, true);
	job = f->job;
	r = f->restore;
	cl = f->cluster_held ? f->cluster : NULL;
	if (job != NULL || r != NULL || cl != NULL)
		f->users++;
	/* a cluster's lock flow and streams watch this descriptor */
	if (f->cancel_pipe[1] >= 0 && write(f->cancel_pipe[1], &b, 1) < 0)
		b = 0;
	pthread_mutex_unlock(&f->mu);
	jmsg(f, FDHOST_INFO, "cancel received%s",
	     job != NULL ? ": stopping the command and unlocking"
	     : cl != NULL ? ": stopping the commands and unlocking the cluster" : "");
	if (cl != NULL && mbh_cluster_unlock_async(cl, &err) != 0)
		jmsg(f, FDHOST_ERROR, "unlocking the cluster after the cancel failed: %s (the job's end tries again)",
		     err.msg);
	if (r != NULL)
		mbh_restore_cancel(r);
	if (job != NULL) {
		mbh_job_cancel(job);
		if (mbh_job_unlock_async(job, &err) != 0 && mbh_job_unlock(job, &err) != 0)
			jmsg(f, FDHOST_ERROR, "unlocking after the cancel failed: %s", err.msg);
	}
	if (job == NULL && r == NULL && cl == NULL)
		return;
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
 * When another run holds the set's flock (MBH_ERR_SET_BUSY) it may be
 * another job of this very bacula-fd (same pid): name it from the set's
 * record, so the message says which job to wait for.  Returns the text to
 * append ("" when there is nothing to add).
 */
static const char *
holder(fdjob *f, const mbh_error *err, char *buf, size_t len)
{
	mbh_state_rec rec;
	const char *set = mbh_job_set(f->job);
	bool present = false;

	buf[0] = '\0';
	if (!mbh_error_is(err, MBH_ERR_SET_BUSY) || set[0] == '\0')
		return buf;
	if (mbh_state_peek(f->cfg->state_dir, set, &rec, &present, NULL) == 0 && present)
		snprintf(buf, len, "; it is job %s, which locked %s (%s); run this job again once it has ended",
		         rec.job[0] != '\0' ? rec.job : "-", rec.member,
		         rec.phase == MBH_PHASE_LOCKED ? "LOCKED" : "LOCKING");
	else
		snprintf(buf, len, "; run this job again once that run has ended");
	return buf;
}

/*
 * holder() for a cluster: when another run holds the cluster's flock, name
 * its job from the cluster's record (another job of this bacula-fd,
 * perhaps).  Returns the text to append ("" when there is nothing to add).
 */
static const char *
cluster_holder(fdjob *f, const mbh_error *err, char *buf, size_t len)
{
	char rname[sizeof(((mbh_cluster_rec *)0)->name) + sizeof(MBH_CLUSTER_SUFFIX)], *text = NULL;
	mbh_cluster_rec *rec = NULL;
	mbh_error e;
	bool present = false;

	mbh_error_init(&e);
	buf[0] = '\0';
	if (!mbh_error_is(err, MBH_ERR_SET_BUSY) || mbh_cluster_name(f->cluster)[0] == '\0')
		return buf;
	snprintf(rname, sizeof(rname), "%s%s", mbh_cluster_name(f->cluster), MBH_CLUSTER_SUFFIX);
	if (mbh_state_peek_text(f->cfg->state_dir, rname, &text, &present, &e) == 0 && present &&
	    (rec = calloc(1, sizeof(*rec))) != NULL && mbh_cluster_rec_parse(rec, text, &e) == 0)
		snprintf(buf, len, "; it is job %s, which locks cluster %s (%s); run this job again once it has ended",
			 rec->job[0] != '\0' ? rec->job : "-", rec->name,
			 rec->phase == MBH_PHASE_LOCKED ? "LOCKED" : "LOCKING");
	else
		snprintf(buf, len, "; run this job again once that run has ended");
	free(rec);
	free(text);
	return buf;
}

/*
 * A mongos URI: lock the whole cluster; the files (one per component) and
 * their commands follow, startBackupFile after startBackupFile.
 */
static fdhost_rc
cluster_command(fdjob *f)
{
	mbh_cluster_params params = { .cancel_fd = -1 };
	mbh_cluster *cl = NULL;
	mbh_error err;
	char who[700];

	mbh_error_init(&err);
	if (pipe2(f->cancel_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		f->cancel_pipe[0] = f->cancel_pipe[1] = -1;
		fatal(f, "cannot make a pipe: %s", strerror(errno));
		return FDHOST_FAIL;
	}
	params.cfg = f->cfg;
	params.log = f->log;
	params.job_name = f->cmd->job != NULL ? f->cmd->job : f->bacula_job;
	params.mode = "plugin";
	params.watchdog_path = watchdog_path[0] != '\0' ? watchdog_path : NULL;
	params.gate_path = gate_path[0] != '\0' ? gate_path : NULL;
	params.cancel_fd = f->cancel_pipe[0];
	if (mbh_cluster_new(&cl, &params, &err) != 0) {
		fatal(f, "%s", err.msg);
		return FDHOST_FAIL;
	}
	pthread_mutex_lock(&f->mu);
	f->cluster = cl; /* the cancel reaches its lock flow through cancel_pipe from now on */
	pthread_mutex_unlock(&f->mu);
	if (atomic_load(&f->cancelled))
		return FDHOST_FAIL;
	if (mbh_cluster_lock(cl, &err) != 0) {
		if (atomic_load(&f->cancelled))
			jmsg(f, FDHOST_INFO, "%s", err.msg);
		else
			fatal(f, "the cluster was not locked: %s%s", err.msg, cluster_holder(f, &err, who, sizeof(who)));
		return FDHOST_FAIL;
	}
	f->locked = true;
	clock_gettime(CLOCK_MONOTONIC, &f->t_locked);
	pthread_mutex_lock(&f->mu);
	f->cluster_held = true; /* a cancel from now on unlocks the components at once */
	pthread_mutex_unlock(&f->mu);
	if (atomic_load(&f->cancelled)) {
		unlock_now(f, "after the cancel");
		return FDHOST_FAIL;
	}
	f->comp = 0;
	/* exact mode: the lock is over already, each component's snapshot of its primary is read instead */
	f->snap = mbh_cluster_comp_at(cl, 0) != NULL && mbh_cluster_comp_at(cl, 0)->snapshot[0] != '\0';
	jmsg(f, FDHOST_INFO, "cluster %s %s: the output of %s for each of its %zu components follows, one file each",
	     mbh_cluster_name(cl), f->snap ? "snapshotted (exact mode, nothing locked)" : "locked", f->script,
	     mbh_cluster_ncomps(cl));
	return FDHOST_OK;
}

/* A cluster's current file: name it after its component and that component's locked member. */
static int
cluster_file_name(fdjob *f)
{
	const mbh_cluster_comp *c = mbh_cluster_comp_at(f->cluster, f->comp);
	mbh_error err;

	mbh_error_init(&err);
	free(f->fname);
	f->fname = NULL;
	if (c == NULL)
		return -1;
	if (mbh_stream_name_build_cluster(&f->fname, mbh_cluster_name(f->cluster), c->name, c->member, f->script,
					  &err) != 0) {
		fatal(f, "%s", err.msg);
		return -1;
	}
	return 0;
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
	bool is_mongos = false;

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
	params.gate_path = gate_path[0] != '\0' ? gate_path : NULL;
	if (mbh_job_new(&job, &params, &err) != 0) {
		fatal(f, "%s", err.msg);
		goto out;
	}
	if (mbh_job_is_mongos(job, &is_mongos, &err) != 0) {
		fatal(f, "nothing was locked: %s", err.msg);
		goto out;
	}
	if (is_mongos) {
		mbh_job_free(job); /* its only use: the hello that said "mongos" */
		job = NULL;
		rc = cluster_command(f);
		goto out;
	}
	pthread_mutex_lock(&f->mu);
	f->job = job; /* visible to a cancel from now on */
	pthread_mutex_unlock(&f->mu);
	job = NULL;
	if (atomic_load(&f->cancelled))
		goto out;
	if (mbh_job_lock_spawn(f->job, (const char *const *)f->cfg->script.backup, MBH_RUN_PIPE_STDOUT, &f->bchild,
			       &err) != 0) {
		if (atomic_load(&f->cancelled))
			jmsg(f, FDHOST_INFO, "%s", err.msg);
		else if (mbh_error_is(&err, MBH_ERR_NOT_STARTED))
			fatal(f, "the backup command did not start: %s", mbh_error_detail(&err));
		else
			fatal(f, "%s%s%s", mbh_job_lock_count(f->job) > 0 ? "" : "nothing was locked: ", err.msg,
			      holder(f, &err, who, sizeof(who)));
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
	if (mbh_stream_name_build(&name, mbh_job_set(f->job), mbh_job_member(f->job), f->script, &err) != 0) {
		fatal(f, "%s", err.msg);
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
	    mbh_stream_name_build(&f->fname, set, f->cfg->selection.member != NULL ? f->cfg->selection.member : "MEMBER",
	                          f->cfg->script.backup[0], NULL) != 0) {
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
	return f->cluster != NULL ? (f->snap ? "every snapshot of the cluster is being removed"
					     : "every lock of the cluster is being released")
	       : f->snap          ? "the snapshot is being removed"
				  : "the member is being unlocked";
}

/* The job whose command's output the current file is: one set's, or the cluster's current component's. */
static mbh_job *
stream_job(fdjob *f)
{
	return f->cluster != NULL ? mbh_cluster_comp_job(f->cluster, f->comp) : f->job;
}

/* IO_OPEN of a cluster's file: start script.backup for the component's locked member (its snapshot) and read its output. */
static void
cluster_open(fdjob *f, fdhost_io *io)
{
	const mbh_cluster_comp *c = mbh_cluster_comp_at(f->cluster, f->comp);
	mbh_child *child = NULL;
	mbh_error err;

	mbh_error_init(&err);
	io->status = -1;
	io->io_errno = atomic_load(&f->cancelled) ? EINTR : EIO;
	if (c == NULL || !f->locked || atomic_load(&f->cancelled))
		goto out;
	if (mbh_cluster_comp_spawn(f->cluster, f->comp, (const char *const *)f->cfg->script.backup, MBH_RUN_PIPE_STDOUT,
				   &child, &err) != 0) {
		if (!atomic_load(&f->cancelled))
			fatal(f, "%s; %s", err.msg, undoing(f));
		goto out;
	}
	if (mbh_job_stream_open(stream_job(f), &err) != 0) {
		fatal(f, "%s; %s", err.msg, undoing(f));
		goto out;
	}
	if (c->snapshot[0] != '\0')
		jmsg(f, FDHOST_INFO, "started %s (pid %ld) for component %s reading the snapshot %s of %s",
		     f->cfg->script.backup[0], mbh_child_pid(child), c->name, c->snapshot, c->member);
	else
		jmsg(f, FDHOST_INFO, "started %s (pid %ld) for component %s under the lock on %s",
		     f->cfg->script.backup[0], mbh_child_pid(child), c->name, c->member);
	f->streaming = true;
	io->status = 0;
	io->io_errno = 0;
out:
	if (io->status != 0 && f->locked)
		unlock_now(f, "after a failure");
}

/* IO_CLOSE of a cluster's file: the component's command's verdict; every lock released after the last or a failure. */
static void
cluster_close(fdjob *f, fdhost_io *io)
{
	const mbh_cluster_comp *c = mbh_cluster_comp_at(f->cluster, f->comp);
	mbh_job *job = stream_job(f);
	mbh_error err;
	int status = -1;
	bool ok = false;

	mbh_error_init(&err);
	if (job == NULL || c == NULL || !f->streaming)
		goto out;
	f->streaming = false;
	if (mbh_job_stream_close(job, &status, &err) != 0)
		fatal(f, "component %s: %s", c->name, err.msg);
	else
		ok = !f->failed;
	f->cluster_bytes += mbh_job_stream_bytes(job);
	if (ok)
		jmsg(f, FDHOST_INFO, "%s ended (status 0) for component %s: %lld bytes", f->script, c->name,
		     (long long)mbh_job_stream_bytes(job));
out:
	f->comp++;
	f->comp_read = true;
	if (!ok || f->comp >= mbh_cluster_ncomps(f->cluster))
		unlock_now(f, ok ? "after the last component's stream" : "after a failure");
	io->status = ok || atomic_load(&f->cancelled) ? 0 : -1;
}

/*
 * IO_OPEN: hand the output of script.backup (started by the lock; snapshot
 * mode: reading the snapshot, the member already unlocked) to IO_READ.  On
 * failure the member is unlocked (the snapshot removed) at once.
 */
static void
backup_open(fdjob *f, fdhost_io *io)
{
	mbh_error err;

	if (f->cluster != NULL) {
		cluster_open(f, io);
		return;
	}
	mbh_error_init(&err);
	io->status = -1;
	io->io_errno = atomic_load(&f->cancelled) ? EINTR : EIO;
	if (f->job == NULL || !f->locked || f->bchild == NULL || atomic_load(&f->cancelled))
		goto out;
	if (mbh_job_stream_open(f->job, &err) != 0) {
		fatal(f, "%s; %s", err.msg, undoing(f));
		goto out;
	}
	f->bchild = NULL; /* the stream's close reaps it */
	f->streaming = true;
	io->status = 0;
	io->io_errno = 0;
out:
	if (io->status != 0 && f->locked)
		unlock_now(f, "after a failure");
}

/*
 * IO_READ: a full buffer (short only at the end, like bpipe's fread:
 * bacula-fd makes one record, one signature update and one network write
 * per IO_READ).  0 at the end; -1 on cancel, a deadline, the idle rule or an
 * error (then IO_CLOSE ends it).
 */
static void
backup_read(fdjob *f, fdhost_io *io)
{
	mbh_job *job = stream_job(f);
	mbh_error err;
	size_t got = 0;

	mbh_error_init(&err);
	io->status = -1;
	io->io_errno = atomic_load(&f->cancelled) ? EINTR : EBADF;
	if (!f->streaming || job == NULL)
		return;
	if (mbh_job_stream_read(job, io->buf, (size_t)io->count, &got, &err) != 0) {
		io->io_errno = atomic_load(&f->cancelled) || mbh_job_cancelled(job) ? EINTR : EIO;
		if (io->io_errno != EINTR && mbh_job_holds(job))
			fatal(f, "%s; %s", err.msg, undoing(f));
		else if (io->io_errno != EINTR)
			fatal(f, "%s", err.msg); /* the idle rule released it already, and said so */
		return;
	}
	io->status = (int32_t)got;
	io->io_errno = 0;
}

/*
 * IO_CLOSE: the stream is over, at its end or not (a storage daemon that
 * failed closes it early): the core stops a command still running and gives
 * its verdict; unlock at once.
 */
static void
backup_close(fdjob *f, fdhost_io *io)
{
	mbh_error err;
	int status = -1;
	bool ok = false;

	if (f->cluster != NULL) {
		cluster_close(f, io);
		return;
	}
	mbh_error_init(&err);
	if (f->job == NULL || !f->streaming)
		goto out;
	f->streaming = false;
	if (mbh_job_stream_close(f->job, &status, &err) != 0)
		fatal(f, "%s", err.msg);
	else
		ok = !f->failed;
	if (ok)
		jmsg(f, FDHOST_INFO, "%s ended (status 0) after %.3f s", f->script, seconds_since(&f->t_locked));
out:
	/* the stream has ended, however: unlock now, not at the end of the job */
	unlock_now(f, ok ? "after the stream" : "after a failure");
	if (status != -1 || err.code != 0)
		mbh_job_outcome(f->job, ok,
				atomic_load(&f->cancelled) ? MBH_METRICS_FAIL_CANCELLED
				: f->failed && status == 0 ? MBH_METRICS_FAIL_STREAM
							   : MBH_METRICS_FAIL_COMMAND,
				mbh_job_stream_bytes(f->job));
	io->status = ok || atomic_load(&f->cancelled) ? 0 : -1;
}

/* ---------------------------------------------------------------- restore */

/* bEventRestoreCommand: the config says where the stream goes.  Nothing is locked for a restore. */
static fdhost_rc
restore_command(fdjob *f, const char *text)
{
	mbh_restore_params params = { 0 };
	mbh_restore *r = NULL;
	mbh_error err;
	const char *where = NULL;

	mbh_error_init(&err);
	if (command_load(f, text, FD_RESTORE) != 0)
		return FDHOST_FAIL;
	host->get_str(f->ctx, FDHOST_WHERE, &where);
	params.cfg = f->cfg;
	params.log = f->log;
	params.job_name = f->cmd->job != NULL ? f->cmd->job : f->bacula_job;
	params.where = where;
	if (mbh_restore_new(&r, &params, &err) != 0) {
		fatal(f, "%s", err.msg);
		return FDHOST_FAIL;
	}
	pthread_mutex_lock(&f->mu);
	f->restore = r; /* visible to a cancel from now on */
	pthread_mutex_unlock(&f->mu);
	return FDHOST_OK;
}

/* createFile: always FDHOST_CREATE_EXTRACT (we take the data), or FDHOST_CREATE_SKIP for replace=never on an existing file. */
static fdhost_rc
restore_create(fdjob *f, fdhost_restore *rp)
{
	struct stat st;

	rp->create_status = FDHOST_CREATE_ERROR;
	if (f->cfg == NULL || f->restore == NULL || rp->ofname == NULL)
		return FDHOST_FAIL;
	free(f->fname);
	if ((f->fname = strdup(rp->ofname)) == NULL) {
		fatal(f, "out of memory");
		return FDHOST_FAIL;
	}
	if (f->cfg->script.restore == NULL && rp->replace == 'n' && lstat(rp->ofname, &st) == 0) {
		jmsg(f, FDHOST_INFO, "%s exists and replace=never: skipped", rp->ofname);
		rp->create_status = FDHOST_CREATE_SKIP;
		return FDHOST_OK;
	}
	rp->create_status = FDHOST_CREATE_EXTRACT;
	return FDHOST_OK;
}

/* IO_OPEN for a restore: the core starts script.restore, or creates the file safely under where. */
static void
restore_open(fdjob *f, fdhost_io *io)
{
	mbh_error err;

	mbh_error_init(&err);
	io->status = -1;
	io->io_errno = EIO;
	if (f->restore == NULL || f->fname == NULL)
		return;
	if (mbh_restore_open(f->restore, f->fname, &err) != 0) {
		fatal(f, "%s", err.msg);
		return;
	}
	io->status = 0;
	io->io_errno = 0;
}

/* IO_WRITE for a restore. */
static void
restore_write(fdjob *f, fdhost_io *io)
{
	mbh_error err;

	mbh_error_init(&err);
	io->status = -1;
	io->io_errno = EBADF;
	if (f->restore == NULL || io->count < 0)
		return;
	if (atomic_load(&f->cancelled)) {
		io->io_errno = EINTR;
		return;
	}
	if (mbh_restore_write(f->restore, io->buf, (size_t)io->count, &err) != 0) {
		io->io_errno = atomic_load(&f->cancelled) ? EINTR : EIO;
		fatal(f, "%s", err.msg);
		return;
	}
	io->status = io->count;
	io->io_errno = 0;
}

/* IO_CLOSE for a restore: the core's verdict (the command read everything and exited 0; the file is synced). */
static void
restore_close(fdjob *f, fdhost_io *io)
{
	mbh_error err;

	mbh_error_init(&err);
	io->status = -1;
	if (f->restore == NULL)
		return;
	if (f->failed) {
		/* the failure was said; a command still running is stopped by the reset */
		return;
	}
	if (mbh_restore_close(f->restore, &err) != 0) {
		fatal(f, "%s", err.msg);
		return;
	}
	io->status = 0;
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
	f->cancel_pipe[0] = f->cancel_pipe[1] = -1;
	atomic_init(&f->cancelled, false);
	atomic_init(&f->job_level, MBH_LOG_INFO);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->idle, NULL);
	host->get_int(ctx, FDHOST_JOBID, &f->jobid);
	if (host->get_str(ctx, FDHOST_JOBNAME, &name) && (f->bacula_job = strdup(name)) == NULL)
		goto out;
	if (mbh_logger_new(&f->log, "mongo-fd", MBH_LOG_DEBUG, 0, log_sink, f) != 0)
		goto out;
	pthread_mutex_lock(&live_mu);
	f->next = live;
	live = f;
	pthread_mutex_unlock(&live_mu);
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
	pthread_mutex_lock(&live_mu);
	for (fdjob **pp = &live; *pp != NULL; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	pthread_mutex_unlock(&live_mu);
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
	if (f->cluster != NULL && f->locked && cluster_file_name(f) != 0)
		return FDHOST_FAIL;
	f->comp_read = false;
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

/* One file per command; a cluster's: one per component, while they all stay locked. */
fdhost_rc
mfd_end_backup_file(fdjob *job)
{
	fdjob *f = fdjob_of(job);

	if (f == NULL)
		return FDHOST_FAIL;
	if (f->cluster != NULL && f->locked && !f->comp_read && !atomic_load(&f->cancelled)) {
		/* the daemon gave up on the file before reading it (the storage daemon went away) */
		fatal(f, "the file of component %s was not read by the file daemon; the backup is incomplete",
		      mbh_cluster_comp_at(f->cluster, f->comp) != NULL ? mbh_cluster_comp_at(f->cluster, f->comp)->name
									 : "?");
		unlock_now(f, "after a failure");
		return FDHOST_OK;
	}
	if (f->cluster != NULL && f->locked && !f->failed && !atomic_load(&f->cancelled) &&
	    f->comp < mbh_cluster_ncomps(f->cluster))
		return FDHOST_MORE;
	return FDHOST_OK;
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
	return strncmp(fname, MBH_STREAM_PREFIX, strlen(MBH_STREAM_PREFIX)) == 0 ? FDHOST_SEEN : FDHOST_OK;
}

/*
 * Once, when the daemon loads the plugin (a layer has chosen host): find
 * the watchdog program and the gate program (where the backup command waits
 * for the lock: its exec after the lock then starts from that small process,
 * not from a copy of bacula-fd; beside the watchdog unless
 * MONGO_BACKUP_GATE says), start libmongoc (and silence its process-wide
 * log: its lines could belong to any job).
 */
int
mfd_load(const fdhost *h)
{
	const char *wd = getenv("MONGO_BACKUP_WATCHDOG");

	if (h == NULL || h->message == NULL || h->debug == NULL || h->get_int == NULL || h->get_str == NULL)
		return -1;
	host = h;
	snprintf(watchdog_path, sizeof(watchdog_path), "%s", wd != NULL && wd[0] != '\0' ? wd : MBH_WATCHDOG_PATH);
	mbh_watchdog_gate_path(watchdog_path, getenv("MONGO_BACKUP_GATE"), gate_path, sizeof(gate_path));
	mongoc_init();
	mongoc_log_set_handler(NULL, NULL);
	return 0;
}

/* The CLOCK_REALTIME instant ms from now (what the timed waits take). */
static struct timespec
realtime_in(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Lock m within ms; false when someone holds it that long (a thread the signal interrupted, perhaps). */
static bool
lock_within(pthread_mutex_t *m, int ms)
{
	struct timespec ts = realtime_in(ms);

	return pthread_mutex_timedlock(m, &ts) == 0;
}

/* mbh_cluster_unlock on a thread of its own, for cluster_finish_within. */
typedef struct finisher {
	mbh_cluster *cl;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done, abandoned;
} finisher;

static void
finisher_free(finisher *fin)
{
	pthread_mutex_destroy(&fin->mu);
	pthread_cond_destroy(&fin->cv);
	free(fin);
}

static void *
finish_thread(void *arg)
{
	finisher *fin = arg;
	mbh_error err;
	bool abandoned;

	mbh_error_init(&err);
	mbh_cluster_unlock(fin->cl, &err); /* its failure keeps the record: mongo-postbackup finishes it */
	pthread_mutex_lock(&fin->mu);
	fin->done = true;
	abandoned = fin->abandoned;
	pthread_cond_broadcast(&fin->cv);
	pthread_mutex_unlock(&fin->mu);
	if (abandoned)
		finisher_free(fin);
	return NULL;
}

/*
 * After a cluster's components were unlocked at unload: start the balancer
 * again and remove the record (mbh_cluster_unlock: the job's own thread may
 * call it too, serialised), waiting up to ms (the mongos may not answer).
 * True when it is done.
 */
static bool
cluster_finish_within(mbh_cluster *cl, int ms)
{
	finisher *fin = calloc(1, sizeof(*fin));
	struct timespec ts;
	pthread_t th;
	bool done;

	if (fin == NULL)
		return false;
	fin->cl = cl;
	pthread_mutex_init(&fin->mu, NULL);
	pthread_cond_init(&fin->cv, NULL);
	if (pthread_create(&th, NULL, finish_thread, fin) != 0) {
		finisher_free(fin);
		return false;
	}
	pthread_detach(th);
	ts = realtime_in(ms);
	pthread_mutex_lock(&fin->mu);
	while (!fin->done && pthread_cond_timedwait(&fin->cv, &fin->mu, &ts) == 0)
		;
	done = fin->done;
	fin->abandoned = !done; /* the thread frees it when it ends */
	pthread_mutex_unlock(&fin->mu);
	if (done)
		finisher_free(fin);
	return done;
}

/*
 * bacula-fd stops (SIGTERM: a package upgrade, a shutdown) with jobs still
 * running: it unloads the plugins and exits, sending the jobs nothing more.
 * Stop every job's command and unlock what it holds, on the jobs' own
 * helper threads (the thread the signal interrupted may be one of ours),
 * waiting a bounded time.  Returns how many instances are still alive.
 */
static int
release_all(void)
{
	mbh_error err;
	fdjob *held[64];
	fdjob *f;
	int n = 0, alive = 0, i;

	if (!lock_within(&live_mu, 2000))
		return 1;
	for (f = live; f != NULL; f = f->next) {
		alive++;
		if (n < (int)(sizeof(held) / sizeof(held[0])) && lock_within(&f->mu, 1000)) {
			if (f->job != NULL || (f->cluster != NULL && f->cluster_held)) {
				f->users++; /* the job stays while we use it */
				held[n++] = f;
			}
			pthread_mutex_unlock(&f->mu);
		}
	}
	pthread_mutex_unlock(&live_mu);
	for (i = 0; i < n; i++) {
		mbh_error_init(&err);
		if (held[i]->job == NULL) {
			/* a cluster: its components at once, in parallel; the balancer and the record below */
			mbh_cluster_unlock_async(held[i]->cluster, &err);
			continue;
		}
		mbh_job_cancel(held[i]->job);
		mbh_job_unlock_async(held[i]->job, &err);
	}
	for (i = 0; i < n; i++) {
		if (held[i]->job == NULL ? !mbh_cluster_unlock_wait(held[i]->cluster, UNLOAD_WAIT_MS / n) ||
						   !cluster_finish_within(held[i]->cluster, UNLOAD_WAIT_MS / n)
					 : !mbh_job_unlock_wait(held[i]->job, UNLOAD_WAIT_MS / n))
			continue; /* still at it: the job stays in use, the process is ending anyway */
		pthread_mutex_lock(&held[i]->mu);
		held[i]->users--;
		pthread_cond_broadcast(&held[i]->idle);
		pthread_mutex_unlock(&held[i]->mu);
	}
	return alive;
}

/*
 * Once, when the daemon unloads a plugin mfd_load accepted (also from
 * bacula-fd's SIGTERM handler with jobs still running: see release_all).
 */
void
mfd_unload(void)
{
	if (release_all() == 0)
		mongoc_cleanup(); /* not under jobs still using the driver: the process is exiting anyway */
}
