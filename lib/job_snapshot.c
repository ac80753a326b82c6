/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* job_snapshot.c: snapshot mode: take a snapshot under the lock, unlock at once, remove it afterwards. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "crash.h"
#include "jobint.h"
#include "release.h"
#include "run.h"
#include "testtime.h"
#include "uri.h"
#include "watchdog.h"

#define CREATE_OUT_MAX 4096 /* bytes of create's stdout kept: its first line is the path */
#define WATCHDOG_REAP_MS 1000
#define KILL_WAIT_MS 3000

static int64_t
elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return ((int64_t)t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}


/* What record_printed needs: the job, and create itself. */
typedef struct create_run {
	mbh_job *j;
	mbh_child *c;
} create_run;

/*
 * snapshot.create printed its first line and still runs: put that path on
 * record at once (LOCKED, create as the command to kill first), so that the
 * death of this process from here on, even before create ends, leaves a
 * record naming the snapshot for mongo-postbackup (or the next run) to
 * remove.  Not fsynced, like the record written when create ends.
 */
static void
record_printed(void *ctx, const char *printed)
{
	create_run *cr = ctx;
	mbh_job *j = cr->j;
	char line[CREATE_OUT_MAX];
	size_t n = strcspn(printed, "\n");
	mbh_error e;

	if (n >= sizeof(line))
		return;
	memcpy(line, printed, n);
	line[n] = '\0';
	if (mbh_state_snapshot_printed(line) == NULL) /* at most MBH_SNAPSHOT_MAX bytes: mbh_state_snapshot_printed checked */
		return;
	j->rec.phase = MBH_PHASE_LOCKED;
	snprintf(j->rec.snapshot, sizeof(j->rec.snapshot), "%.*s", MBH_SNAPSHOT_MAX, line);
	j->rec.snapshot_since = (int64_t)time(NULL);
	j->rec.command_pid = mbh_child_pid(cr->c);
	j->rec.command_start = mbh_proc_starttime(j->rec.command_pid);
	mbh_error_init(&e);
	if (mbh_state_write_volatile(j->state, &j->rec, &e) != 0) {
		mbh_logf(j->log, MBH_LOG_WARNING, "%s", e.msg);
		j->rec.snapshot[0] = '\0';
		j->rec.snapshot_since = 0;
	}
	MBH_CRASH("snapshot-printed");
}

/*
 * Run snapshot.create for j->rec (no %S yet) and capture its stdout into
 * out; the path it prints is recorded as soon as it is printed.  0 when it
 * ran to its end (*status is its exit status); -1 when it could not start,
 * timed out or was cancelled (err says which).
 */
static int
run_create(mbh_job *j, char *out, size_t len, int *status, mbh_error *err)
{
	mbh_child *c = NULL;
	char **argv = NULL;
	mbh_cmd_env x;
	create_run cr;
	int rc = -1;

	*status = -1;
	out[0] = '\0';
	mbh_cmd_env_fill(&x, &j->rec);
	if (mbh_run_expand(&argv, (const char *const *)j->cfg->snapshot.create, &x.vars, err) != 0)
		goto out;
	if (mbh_child_spawn(&c, (const char *const *)argv, x.env, MBH_RUN_PIPE_STDOUT, err) != 0)
		goto out;
	mbh_logf(j->log, MBH_LOG_DEBUG, "running snapshot.create %s (pid %ld)", argv[0], mbh_child_pid(c));
	cr.j = j;
	cr.c = c;
	rc = mbh_child_capture_line(c, mbh_seconds_ms(j->cfg->snapshot.timeout), j->cancel_pipe[0], j->cancel_fd, out, len,
				    record_printed, &cr, status, err);
	/* it has ended: nothing of it is left to kill */
	j->rec.command_pid = 0;
	j->rec.command_start = 0;
out:
	mbh_child_free(c);
	mbh_strv_free(argv);
	return rc;
}

/* The record of a snapshot whose member is unlocked, as mbh_release leaves it. */
static void
as_snapshot_record(mbh_state_rec *rec, const char *path)
{
	snprintf(rec->snapshot, sizeof(rec->snapshot), "%s", path);
	rec->phase = MBH_PHASE_SNAPSHOT;
	rec->frozen = false;
	rec->watchdog_pid = 0;
	rec->watchdog_start = 0;
	rec->command_pid = 0;
	rec->command_start = 0;
}

/* Take the snapshot; see jobint.h. */
int
mbh_job_snapshot_take(mbh_job *j, mbh_error *err)
{
	char out[CREATE_OUT_MAX], path[MBH_SNAPSHOT_MAX + 1], member[sizeof(j->rec.member)];
	const char *create = j->cfg->snapshot.create[0];
	mbh_error cause, e;
	mbh_state_rec left;
	struct timespec t0;
	bool released = false, recorded = false;
	long wd = j->rec.watchdog_pid;
	int64_t count = j->rec.lock_count, create_ms;
	int status = -1, rrc, rc = -1;

	mbh_error_init(&cause);
	mbh_error_init(&e);
	path[0] = '\0';
	snprintf(member, sizeof(member), "%s", j->rec.member);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (run_create(j, out, sizeof(out), &status, &cause) != 0) {
		if (mbh_error_is(&cause, MBH_ERR_TIMED_OUT))
			mbh_error_fail(&cause, MBH_ERR_TIMED_OUT, "snapshot.create (%s) timed out after %d s (snapshot.timeout) "
				       "and was killed", create, j->cfg->snapshot.timeout);
		else
			mbh_error_prefix(&cause, "snapshot.create");
	}
	/* whatever it printed, even when it failed: what it made must go */
	if (mbh_state_snapshot_printed(out) != NULL) /* at most MBH_SNAPSHOT_MAX bytes: mbh_state_snapshot_printed checked */
		snprintf(path, sizeof(path), "%.*s", MBH_SNAPSHOT_MAX, out);
	if (cause.code == 0 && status != 0)
		mbh_error_set(&cause, EX_TEMPFAIL, "snapshot.create (%s) failed (exit %d)", create, status);
	else if (cause.code == 0 && path[0] == '\0')
		mbh_error_set(&cause, EX_CONFIG, "snapshot.create (%s) printed no usable path (its first line, '%.200s', "
			      "must be an absolute path without control characters, '.' or '..')", create, out);
	create_ms = elapsed_ms(&t0);
	MBH_CRASH("pre-snapshot-created");

	/*
	 * The path is on record before the unlock: from here on the death of this
	 * process leaves a record that names the snapshot.  Not fsynced: the lock
	 * would wait for the disk, and the durable intent already covers the lock;
	 * only a crash of this machine in the next milliseconds forgets the snapshot
	 * (the release writes the SNAPSHOT record durably right after the unlock).
	 */
	j->rec.phase = MBH_PHASE_LOCKED;
	if (path[0] != '\0') {
		snprintf(j->rec.snapshot, sizeof(j->rec.snapshot), "%s", path);
		j->rec.snapshot_since = (int64_t)time(NULL);
	}
	if (mbh_state_write_volatile(j->state, &j->rec, &e) == 0) {
		recorded = path[0] != '\0';
	} else {
		j->rec.snapshot[0] = '\0';
		j->rec.snapshot_since = 0;
		if (cause.code == 0) {
			cause = e;
			mbh_error_prefix(&cause, "cannot record the snapshot %s", path);
		} else {
			mbh_logf(j->log, MBH_LOG_WARNING, "%s", e.msg);
		}
	}
	MBH_CRASH("pre-snapshot-recorded");

	/* unlock at once: the record becomes SNAPSHOT (mbh_release keeps a record that names a snapshot) */
	mbh_error_init(&e);
	rrc = mbh_release(j->log, j->session, j->cfg->state_dir, &j->rec, MBH_RELEASER_RUN, NULL, &released, &e);
	mbh_metrics_note_release(&j->metrics, &j->rec, released, false);
	if (rrc != 0 && !released) {
		/* still locked (the member went away): the watchdog and mongo-postbackup take it from here */
		*err = e;
		if (recorded)
			mbh_error_prefix(err, "the snapshot %s was taken and recorded, but", path);
		goto out;
	}
	j->held = false;
	mbh_job_publish_deadline(j);
	mbh_watchdog_reap(wd, WATCHDOG_REAP_MS);
	mbh_lock_session_free(j->session);
	j->session = NULL;
	MBH_CRASH("pre-snapshot-unlocked");
	if (rrc != 0 && cause.code == 0)
		cause = e;
	if (cause.code == 0) {
		as_snapshot_record(&j->rec, path);
		j->snap = true;
		mbh_logf(j->log, MBH_LOG_INFO, "snapshot %s of %s taken in %lld ms, then unlocked at once (lockCount %lld)%s%s",
			 path, member, (long long)create_ms, (long long)count, j->job_name[0] != '\0' ? "; job " : "",
			 j->job_name);
		rc = 0;
		goto out;
	}

	/* create failed: what it made (when it said) goes, then the error */
	if (path[0] != '\0') {
		left = j->rec;
		as_snapshot_record(&left, path);
		mbh_error_init(&e);
		if (mbh_job_snapshot_remove(j, &left, &e) == 0)
			mbh_logf(j->log, MBH_LOG_INFO, "removed %s, which snapshot.create printed before it failed", path);
		else if (recorded)
			mbh_logf(j->log, MBH_LOG_ERROR, "%s", e.msg);
		else
			mbh_logf(j->log, MBH_LOG_ERROR, "%s (it is not recorded: remove it by hand)", e.msg);
	}
	*err = cause;
	mbh_error_prefix(err, "unlocked %s again", member);
out:
	return rc;
}

/* Remove a snapshot and its record; see jobint.h. */
int
mbh_job_snapshot_remove(mbh_job *j, const mbh_state_rec *rec, mbh_error *err)
{
	mbh_child *c = NULL;
	char **argv = NULL;
	mbh_error e;
	mbh_cmd_env x;
	int status = -1, rc = -1;

	if (rec->command_pid > 0 &&
	    mbh_run_kill_group(rec->command_pid, rec->command_start, mbh_proc_starttime, KILL_WAIT_MS))
		mbh_logf(j->log, MBH_LOG_WARNING, "killed the command still reading the snapshot %s (pid %ld)",
			 rec->snapshot, rec->command_pid);
	if (j->cfg->snapshot.remove == NULL)
		return mbh_error_set(err, EX_CONFIG,
				     "the record of %s names the snapshot %s, but %s has no snapshot.remove: use the config "
				     "that made it (with its snapshot group), then run mongo-postbackup again",
				     rec->set_name, rec->snapshot, j->cfg->source != NULL ? j->cfg->source : "the config");
	mbh_cmd_env_fill(&x, rec);
	if (mbh_run_expand(&argv, (const char *const *)j->cfg->snapshot.remove, &x.vars, err) != 0)
		goto out;
	if (mbh_child_spawn(&c, (const char *const *)argv, x.env, 0, err) != 0) {
		mbh_error_prefix(err, "snapshot.remove of %s: the snapshot and its record stay", rec->snapshot);
		goto out;
	}
	mbh_error_init(&e);
	if (mbh_child_wait(c, mbh_seconds_ms(j->cfg->snapshot.timeout), -1, &status, &e) != 0) {
		mbh_error_set(err, EX_TEMPFAIL,
			      "snapshot.remove (%s) of %s timed out after %d s (snapshot.timeout) and was killed; the "
			      "snapshot and its record stay: run mongo-postbackup again",
			      argv[0], rec->snapshot, j->cfg->snapshot.timeout);
		goto out;
	}
	if (status != 0) {
		mbh_error_set(err, EX_TEMPFAIL,
			      "snapshot.remove (%s) of %s failed (exit %d); the snapshot and its record stay: fix the "
			      "cause, then run mongo-postbackup again",
			      argv[0], rec->snapshot, status);
		goto out;
	}
	if (mbh_state_remove(j->state, err) != 0) {
		mbh_error_prefix(err, "removed the snapshot %s, but its record stays", rec->snapshot);
		goto out;
	}
	mbh_logf(j->log, MBH_LOG_INFO, "removed the snapshot %s", rec->snapshot);
	mbh_metrics_note(&j->metrics, rec->set_name, &(mbh_metrics_event){ .kind = MBH_METRICS_CHANGED });
	rc = 0;
out:
	mbh_child_free(c);
	mbh_strv_free(argv);
	return rc;
}

/* argv as one line, each word quoted for a shell when it needs it. */
static void
print_argv(FILE *f, char *const *argv)
{
	const char *p;
	size_t i;

	for (i = 0; argv[i] != NULL; i++) {
		fputs(i > 0 ? " " : "", f);
		if (argv[i][0] != '\0' && strspn(argv[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
							"0123456789%+,-./:=@_") == strlen(argv[i])) {
			fputs(argv[i], f);
			continue;
		}
		fputc('\'', f);
		for (p = argv[i]; *p != '\0'; p++) {
			if (*p == '\'')
				fputs("'\\''", f);
			else
				fputc(*p, f);
		}
		fputc('\'', f);
	}
}

/* One command of the plan, expanded for the member when there is one. */
static int
plan_line(FILE *f, const char *label, char *const *templ, const mbh_state_rec *rec, mbh_error *err)
{
	char **argv = NULL;
	mbh_cmd_env x;

	fprintf(f, "  %s: ", label);
	if (rec == NULL) {
		print_argv(f, templ);
	} else {
		mbh_cmd_env_fill(&x, rec);
		if (mbh_run_expand(&argv, (const char *const *)templ, &x.vars, err) != 0)
			return -1;
		print_argv(f, argv);
		mbh_strv_free(argv);
	}
	fputc('\n', f);
	return 0;
}

/* --dry-run's snapshot lines; see jobint.h. */
int
mbh_job_render_snapshot(char **text, const mbh_job *j, const char *host_port, const char *set, mbh_error *err)
{
	mbh_state_rec rec;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc = -1;

	*text = NULL;
	if ((f = open_memstream(&buf, &len)) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	if (j->cfg->snapshot.create == NULL) {
		fprintf(f, "snapshot mode: off (no snapshot group): the member stays locked for the whole backup\n");
	} else {
		memset(&rec, 0, sizeof(rec));
		if (host_port != NULL) {
			snprintf(rec.member, sizeof(rec.member), "%s", host_port);
			snprintf(rec.set_name, sizeof(rec.set_name), "%s", set);
			snprintf(rec.job, sizeof(rec.job), "%s", j->job_name);
		}
		fprintf(f, "snapshot mode: on: the member is locked only while this runs (at most %d s, "
			   "snapshot.timeout):\n",
			j->cfg->snapshot.timeout);
		if (plan_line(f, "create", j->cfg->snapshot.create, host_port != NULL ? &rec : NULL, err) != 0)
			goto out;
		fprintf(f, "then it is unlocked, the backup reads the snapshot (%%S, MONGO_BACKUP_SNAPSHOT: the path "
			   "create prints), and at the end:\n");
		/* %S stays as it is: its value exists only once create has printed it */
		snprintf(rec.snapshot, sizeof(rec.snapshot), "%%S");
		if (plan_line(f, "remove", j->cfg->snapshot.remove, host_port != NULL ? &rec : NULL, err) != 0)
			goto out;
	}
	rc = 0;
out:
	if (fclose(f) != 0 && rc == 0)
		rc = mbh_error_set(err, EX_OSERR, "out of memory");
	if (rc == 0)
		*text = buf;
	else
		free(buf);
	return rc;
}
