/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* job-snapshot.c: the job API in snapshot mode as the Bacula plugin drives it (lock, spawn with %S, wait, unlock; cancel and unlock from another thread). */
#include "autoconfig.h"

#include <sys/stat.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "config.h"
#include "job.h"
#include "log.h"
#include "run.h"
#include "sim-harness.h"
#include "state.h"

#define PLAN 37

static const char *topology =
	"set_name = \"rs0\";\n"
	"max_wire_version = 21;\n"
	"auth = false;\n"
	"noop_interval_ms = 200;\n"
	"members = (\n"
	"  { port = 0; state = \"PRIMARY\"; },\n"
	"  { port = 0; },\n"
	"  { port = 0; priority = 0.0; }\n"
	");\n";

static char dir[256], state_dir[300], data_dir[300], snaps[300];

/* A finished config for the simulator: snapshot mode (snap) or not, and script.backup. */
static mbh_config *
make_config(sim *s, bool snap)
{
	char text[4096], helper[1024];
	const char *src = getenv("top_srcdir");
	mbh_config *cfg = NULL;
	mbh_error err;

	snprintf(helper, sizeof(helper), "%s/tests/integration/snapshot-cp.sh", src != NULL ? src : ".");
	snprintf(text, sizeof(text),
		 "uri = \"%s\";\nstate_dir = \"%s\";\nlock = { max_seconds = 60; };\n"
		 "script = { backup = [ \"/bin/sh\", \"-c\", \"echo \\\"$0\\\"; cat \\\"$0/MANIFEST\\\"\", %s ]; };\n"
		 "%s%s%s%s%s%s%s",
		 sim_uri(s), state_dir, snap ? "\"%S\"" : "\"%h\"",
		 snap ? "snapshot = { create = [ \"" : "", snap ? helper : "",
		 snap ? "\", \"create\", \"" : "", snap ? data_dir : "",
		 snap ? "/2\", \"" : "", snap ? snaps : "",
		 snap ? "\", \"%s-%j\" ]; remove = [ \"/bin/rm\", \"-rf\", \"%S\" ]; timeout = 10; };\n" : "");
	mbh_error_init(&err);
	if (mbh_config_new(&cfg, &err) != 0 || mbh_config_load_string(cfg, text, "job-snapshot.conf", &err) != 0 ||
	    mbh_config_finish(cfg, &err) != 0) {
		tap_diag("config: %s", err.msg);
		mbh_config_free(cfg);
		return NULL;
	}
	return cfg;
}

static mbh_job *
make_job(mbh_config *cfg, const char *name)
{
	mbh_job_params p = { .cfg = cfg, .job_name = name, .mode = "plugin", .cancel_fd = -1 };
	mbh_job *job = NULL;
	mbh_error err;

	p.watchdog_path = getenv("MONGO_BACKUP_WATCHDOG");
	mbh_error_init(&err);
	if (mbh_job_new(&job, &p, &err) != 0)
		tap_diag("job: %s", err.msg);
	return job;
}

/* The state file's phase, or "" without one. */
static const char *
phase_now(void)
{
	static char phase[16];
	mbh_state_rec rec;
	mbh_error err;
	bool present = false;

	mbh_error_init(&err);
	phase[0] = '\0';
	if (mbh_state_peek(state_dir, "rs0", &rec, &present, &err) == 0 && present)
		snprintf(phase, sizeof(phase), "%s", mbh_state_phase_name(rec.phase));
	return phase;
}

static bool
exists(const char *path)
{
	struct stat st;

	return path[0] != '\0' && stat(path, &st) == 0;
}

/* Read all of fd into buf. */
static void
read_all(int fd, char *buf, size_t len)
{
	size_t used = 0;
	ssize_t n;

	while (used + 1 < len && (n = read(fd, buf + used, len - 1 - used)) > 0)
		used += (size_t)n;
	buf[used] = '\0';
}

typedef struct later {
	mbh_job *job;
	int what; /* 0 cancel, 1 unlock */
	int rc;
	mbh_error err;
} later;

/* From another thread, 300 ms later: what Bacula's cancel thread does. */
static void *
act_later(void *arg)
{
	struct timespec ts = { 0, 300 * 1000 * 1000 };
	later *l = arg;

	nanosleep(&ts, NULL);
	mbh_error_init(&l->err);
	if (l->what == 0)
		mbh_job_cancel(l->job);
	else
		l->rc = mbh_job_unlock(l->job, &l->err);
	return NULL;
}

/* Lock with script.backup (%S) started after the snapshot, read its stream, wait, unlock. */
static void
test_stream(sim *s, mbh_config *cfg)
{
	mbh_child *child = NULL;
	mbh_job *job = make_job(cfg, "plugin-1");
	char out[4096], snap[MBH_SNAPSHOT_MAX + 1], want[MBH_SNAPSHOT_MAX + 8];
	mbh_error err;
	int status = -1;

	mbh_error_init(&err);
	tap_ok(job != NULL && mbh_job_lock_spawn(job, (const char *const *)cfg->script.backup, MBH_RUN_PIPE_STDOUT,
						 &child, &err) == 0 && child != NULL,
	       "lock in snapshot mode with script.backup: 0, the command started (%s)", err.msg);
	snprintf(snap, sizeof(snap), "%s", job != NULL ? mbh_job_snapshot(job) : "");
	tap_ok(snap[0] == '/' && exists(snap), "mbh_job_snapshot: the snapshot's path (%s), which exists", snap);
	tap_is_int(sim_status_long(s, 2, "lockCount"), 0, "the member is unlocked once mbh_job_lock_spawn returns");
	tap_is_str(phase_now(), "SNAPSHOT", "the record says SNAPSHOT");
	if (child != NULL)
		read_all(mbh_child_stdout_fd(child), out, sizeof(out));
	else
		out[0] = '\0';
	snprintf(want, sizeof(want), "%s\n", snap);
	tap_ok(strncmp(out, want, strlen(want)) == 0, "script.backup got %%S = the snapshot's path");
	tap_ok(strstr(out, "mongo-rs-sim-manifest 1\n") != NULL, "and streamed the snapshot's MANIFEST");
	tap_ok(job != NULL && mbh_job_wait(job, &status, &err) == 0 && status == 0, "wait: the command ended with 0");
	tap_ok(job != NULL && mbh_job_unlock(job, &err) == 0, "unlock: removes the snapshot (%s)", err.msg);
	tap_ok(!exists(snap), "the snapshot is gone");
	tap_is_str(phase_now(), "", "no record");
	tap_ok(job != NULL && mbh_job_unlock(job, &err) == 0, "a second unlock is a no-op");
	tap_is_str(job != NULL ? mbh_job_snapshot(job) : "x", "", "mbh_job_snapshot after the unlock: \"\"");
	mbh_job_free(job);
}

/* Cancel (another thread) during the command; unlock (another thread) during the command. */
static void
test_threads(sim *s, mbh_config *cfg)
{
	const char *sleeper[] = { "/bin/sh", "-c", "exec sleep 30", NULL };
	mbh_child *child = NULL;
	pthread_t th;
	later l;
	mbh_job *job;
	char snap[MBH_SNAPSHOT_MAX + 1];
	mbh_error err;
	time_t t0;
	int status = -1, w;

	for (l.what = 0; l.what < 2; l.what++) {
		const char *what = l.what == 0 ? "cancel" : "unlock";

		job = make_job(cfg, what);
		mbh_error_init(&err);
		tap_ok(job != NULL && mbh_job_lock_spawn(job, sleeper, 0, &child, &err) == 0,
		       "%s: lock with a long command (%s)", what, err.msg);
		snprintf(snap, sizeof(snap), "%s", job != NULL ? mbh_job_snapshot(job) : "");
		tap_ok(snap[0] == '/' && exists(snap), "%s: the command reads the snapshot %s", what, snap);
		l.job = job;
		l.rc = -1;
		t0 = time(NULL);
		pthread_create(&th, NULL, act_later, &l);
		w = job != NULL ? mbh_job_wait(job, &status, &err) : 0;
		pthread_join(th, NULL);
		tap_ok(w != 0 && time(NULL) - t0 <= 5, "%s from another thread: the wait ends at once, as a failure (%s)",
		       what, err.msg);
		if (l.what == 1) {
			tap_ok(l.rc == 0, "unlock from another thread: 0 (%s)", l.err.msg);
			tap_ok(!exists(snap), "unlock from another thread: the snapshot is gone");
		} else {
			tap_ok(exists(snap), "cancel: the snapshot stays until the unlock");
			tap_ok(job != NULL && mbh_job_unlock(job, &err) == 0 && !exists(snap), "cancel: unlock removes it");
		}
		tap_is_str(phase_now(), "", "%s: no record", what);
		tap_ok(sim_all_unlocked(s), "%s: nothing locked", what);
		mbh_job_free(job);
	}
}

/* A job freed without its unlock leaves the snapshot for mongo-postbackup; post removes it. */
static void
test_left_for_post(mbh_config *cfg)
{
	mbh_job *job = make_job(cfg, "left");
	char snap[MBH_SNAPSHOT_MAX + 1];
	mbh_error err;

	mbh_error_init(&err);
	tap_ok(job != NULL && mbh_job_lock(job, &err) == 0, "left: lock");
	snprintf(snap, sizeof(snap), "%s", job != NULL ? mbh_job_snapshot(job) : "");
	mbh_job_free(job);
	tap_ok(exists(snap) && strcmp(phase_now(), "SNAPSHOT") == 0, "left: freed without unlock, SNAPSHOT stays");
	job = make_job(cfg, NULL);
	tap_ok(job != NULL && mbh_job_lock(job, &err) != 0 && err.code == 75,
	       "left: another lock is refused while the snapshot is recorded");
	tap_ok(job != NULL && mbh_job_post(job, &err) == 0, "left: post removes it (%s)", err.msg);
	tap_ok(!exists(snap) && strcmp(phase_now(), "") == 0, "left: snapshot and record gone");
	mbh_job_free(job);
}

int
main(void)
{
	char tmpl[] = "/tmp/job-snapshot.XXXXXX";
	const char *extra[3] = { "--data-dir", NULL, NULL };
	mbh_config *cfg = NULL, *plain = NULL;
	mbh_job *job = NULL;
	mbh_error err;
	sim *s;
	int rc;

	tap_plan(PLAN);
	if (mkdtemp(tmpl) == NULL)
		tap_skip_all("mkdtemp failed");
	snprintf(dir, sizeof(dir), "%s", tmpl);
	snprintf(state_dir, sizeof(state_dir), "%s/state", dir);
	snprintf(data_dir, sizeof(data_dir), "%s/data", dir);
	snprintf(snaps, sizeof(snaps), "%s/snaps", dir);
	mkdir(snaps, 0700);
	extra[1] = data_dir;
	mongoc_init();
	s = sim_start(topology, extra);
	tap_ok(s != NULL, "the simulator starts with a data directory");
	if (s == NULL)
		goto out;
	sim_ctl(s, NULL, "write 20");
	cfg = make_config(s, true);
	plain = make_config(s, false);
	tap_ok(cfg != NULL && plain != NULL, "configs with and without a snapshot group");
	if (cfg == NULL || plain == NULL)
		goto out;
	test_stream(s, cfg);
	test_threads(s, cfg);
	test_left_for_post(cfg);
	job = make_job(plain, "plain");
	mbh_error_init(&err);
	tap_ok(job != NULL && mbh_job_lock(job, &err) == 0 && mbh_job_snapshot(job)[0] == '\0' &&
	       sim_status_long(s, 2, "lockCount") == 1,
	       "without a snapshot group: locked for the whole job, mbh_job_snapshot is \"\"");
	tap_ok(job != NULL && mbh_job_unlock(job, &err) == 0 && sim_all_unlocked(s), "  and unlock unlocks");
	mbh_job_free(job);
	tap_ok(sim_all_unlocked(s), "nothing is left locked");
	tap_is_int(sim_stop(s), 0, "the simulator exits 0");
	s = NULL;
out:
	sim_stop(s);
	mbh_config_free(cfg);
	mbh_config_free(plain);
	mongoc_cleanup();
	rc = tap_exit_status();
	{
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", dir);
	}
	return rc;
}
