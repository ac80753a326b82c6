/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * lock-release.c: the modules under the job API called directly against a
 * simulated set: a lock session (lock.c: hello, currentOp, fsync lock and
 * unlock with their counts, replSetFreeze, an unreachable member's reason),
 * a release from the record (release.c: unlock and remove, a lock released
 * by someone else, an unreachable member keeps its record, a snapshot's
 * record kept as SNAPSHOT) and the watchdog program (watchdog.c: it unlocks
 * at the deadline and says so in SET.events, a release stops it, a pipe
 * closed without "go" ends it).
 */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "lock.h"
#include "log.h"
#include "proc.h"
#include "release.h"
#include "sim-harness.h"
#include "state.h"
#include "timefmt.h"
#include "uri.h"
#include "watchdog.h"

#define PLAN 48
#define SET "lr-rs"
#define SECONDARY 1

static const char *topology = "set_name = \"" SET "\";\n"
			      "max_wire_version = 21;\n"
			      "noop_interval_ms = 200;\n"
			      "members = (\n"
			      "  { port = 0; state = \"PRIMARY\"; },\n"
			      "  { port = 0; },\n"
			      "  { port = 0; }\n"
			      ");\n";

static sim *S;
static char tmpdir[256], state_dir[300];
static mongoc_uri_t *BASE;
static mbh_logger *LG;

/* A session to host_port (NULL: the secondary). */
static mbh_lock_session *
session_to(const char *host_port)
{
	mbh_lock_session *s = NULL;
	char *h = host_port == NULL ? sim_host(S, SECONDARY) : NULL;
	mbh_error err;

	mbh_error_init(&err);
	if (mbh_lock_session_new(&s, BASE, host_port != NULL ? host_port : h, NULL, &err) != 0)
		tap_diag("session: %s", err.msg);
	free(h);
	return s;
}

/* A LOCKED record of our lock on member (count), with a fresh token. */
static void
record_of(mbh_state_rec *r, const char *member, int64_t count)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->set_name, sizeof(r->set_name), "%s", SET);
	snprintf(r->member, sizeof(r->member), "%s", member);
	r->phase = MBH_PHASE_LOCKED;
	r->lock_count = count;
	r->since = (int64_t)time(NULL);
	r->deadline = r->since + 3600;
	r->pid = (long)getpid();
	snprintf(r->hostname, sizeof(r->hostname), "localhost");
	snprintf(r->mode, sizeof(r->mode), "hooks");
	mbh_token_new(r->token, sizeof(r->token));
}

/* Write r as the set's record (under the set's flock, as a run does). */
static bool
write_record(const mbh_state_rec *r)
{
	mbh_state *st = NULL;
	mbh_error err;
	bool ok;

	mbh_error_init(&err);
	ok = mbh_state_open(&st, state_dir, SET, false, &err) == 0 && mbh_state_write(st, r, &err) == 0;
	if (!ok)
		tap_diag("record: %s", err.msg);
	mbh_state_free(st);
	return ok;
}

static bool
read_record(mbh_state_rec *r)
{
	bool present = false;

	return mbh_state_peek(state_dir, SET, r, &present, NULL) == 0 && present;
}

static void
drop_record(void)
{
	char p[400];

	snprintf(p, sizeof(p), "%s/%s.state", state_dir, SET);
	unlink(p);
}

/* lock.c on a live secondary, and on nobody. */
static void
test_session(void)
{
	mbh_lock_session *s = session_to(NULL);
	mbh_hello hello;
	mbh_error err;
	int64_t count = -1;
	bool locked = true, definite = false, was = false;

	mbh_error_init(&err);
	tap_ok(s != NULL && mbh_lock_hello(s, &hello, &err) == 0 && hello.secondary && !hello.writable_primary &&
	       strcmp(hello.set_name, SET) == 0, "session: hello says secondary of " SET);
	tap_ok(mbh_lock_is_fsync_locked(s, &locked, &err) == 0 && !locked, "session: currentOp shows no fsync lock");
	tap_ok(mbh_lock_fsync_lock(s, &count, &definite, &err) == 0 && count == 1, "session: fsync lock, lockCount 1");
	tap_is_int(sim_status_long(S, SECONDARY, "lockCount"), 1, "  the member counts 1");
	tap_ok(mbh_lock_is_fsync_locked(s, &locked, &err) == 0 && locked, "  currentOp shows the fsync lock");
	tap_ok(mbh_lock_fsync_lock(s, &count, &definite, &err) == 0 && count == 2, "session: a second lock counts 2");
	tap_ok(mbh_lock_fsync_unlock(s, &count, &was, &err) == 0 && was && count == 1, "session: unlock leaves 1");
	tap_ok(mbh_lock_fsync_unlock(s, &count, &was, &err) == 0 && was && count == 0, "session: unlock leaves 0");
	tap_ok(mbh_lock_fsync_unlock(s, &count, &was, &err) == 0 && !was && count == 0,
	       "session: unlocking a member not locked is no error (was_locked false)");
	tap_ok(mbh_lock_freeze(s, 30, &err) == 0 && mbh_lock_freeze(s, 0, &err) == 0,
	       "session: replSetFreeze and unfreeze");
	tap_ok(mbh_lock_is_not_locked_error(20, NULL) && mbh_lock_is_not_locked_error(125, "x") &&
	       mbh_lock_is_not_locked_error(8, "fsyncUnlock called when not locked") &&
	       !mbh_lock_is_not_locked_error(8, "something else"), "not-locked replies: codes 20, 125, or its words");
	mbh_lock_session_free(s);

	s = session_to("127.0.0.1:1");
	mbh_error_init(&err);
	tap_ok(s != NULL && mbh_lock_hello(s, &hello, &err) != 0, "nobody at 127.0.0.1:1: hello fails");
	tap_ok(mbh_error_is(&err, MBH_ERR_UNREACHABLE) && err.code == EX_UNAVAILABLE,
	       "  reason: unreachable (EX_UNAVAILABLE)");
	tap_ok(strncmp(err.msg, "cannot reach 127.0.0.1:1: ", 26) == 0 && mbh_error_detail(&err) == err.msg + 26,
	       "  'cannot reach 127.0.0.1:1: ' then the driver's words, apart");
	mbh_lock_session_free(s);
}

/* release.c from a record. */
static void
test_release(void)
{
	char *member = sim_host(S, SECONDARY);
	mbh_lock_session *s = session_to(NULL);
	mbh_state_rec r, got;
	mbh_error err;
	int64_t count = 0;
	bool definite, released = false;

	mbh_error_init(&err);
	tap_ok(mbh_lock_fsync_lock(s, &count, &definite, &err) == 0 && count == 1, "release: locked once");
	record_of(&r, member, count);
	tap_ok(write_record(&r), "release: its record written");
	tap_ok(mbh_release(LG, s, state_dir, &r, MBH_RELEASER_POST, NULL, &released, &err) == 0 && released,
	       "release: 0, released");
	tap_is_int(sim_status_long(S, SECONDARY, "lockCount"), 0, "  the member is unlocked");
	tap_ok(!read_record(&got), "  the record is gone");
	released = true;
	tap_ok(mbh_release(LG, s, state_dir, &r, MBH_RELEASER_POST, NULL, &released, &err) == 0 && !released,
	       "release again: someone else released it (0, not released)");

	/* a record that names another lock is not ours to release */
	tap_ok(mbh_lock_fsync_lock(s, &count, &definite, &err) == 0, "release: locked again");
	record_of(&r, member, count);
	write_record(&r);
	got = r;
	got.token[0] = got.token[0] == 'a' ? 'b' : 'a';
	released = true;
	tap_ok(mbh_release(LG, s, state_dir, &got, MBH_RELEASER_POST, NULL, &released, &err) == 0 && !released,
	       "release of another token: nothing done");
	tap_ok(sim_status_long(S, SECONDARY, "lockCount") == 1 && read_record(&got), "  the lock and its record stay");

	/* snapshot mode: the member is unlocked, the record kept for the snapshot */
	snprintf(r.snapshot, sizeof(r.snapshot), "%s/snap-1", tmpdir);
	r.snapshot_since = (int64_t)time(NULL);
	write_record(&r);
	tap_ok(mbh_release(LG, s, state_dir, &r, MBH_RELEASER_RUN, NULL, &released, &err) == 0 && released,
	       "release of a lock with a snapshot: released");
	tap_ok(sim_status_long(S, SECONDARY, "lockCount") == 0 && read_record(&got) && got.phase == MBH_PHASE_SNAPSHOT &&
	       strcmp(got.snapshot, r.snapshot) == 0, "  unlocked, the record kept as SNAPSHOT naming the snapshot");
	released = true;
	tap_ok(mbh_release(LG, s, state_dir, &got, MBH_RELEASER_POST, NULL, &released, &err) == 0 && !released,
	       "  a SNAPSHOT record has nothing to unlock");
	drop_record();
	mbh_lock_session_free(s);

	/* an unreachable member: still held, the record stays */
	s = session_to("127.0.0.1:1");
	record_of(&r, "127.0.0.1:1", 1);
	write_record(&r);
	mbh_error_init(&err);
	tap_ok(mbh_release(LG, s, state_dir, &r, MBH_RELEASER_POST, NULL, &released, &err) != 0 && !released &&
	       err.code == EX_TEMPFAIL, "release, member unreachable: -1, EX_TEMPFAIL, not released");
	tap_ok(strncmp(err.msg, "cannot reach 127.0.0.1:1; the lock is still held; run mongo-postbackup again when it "
		       "is back", 85) == 0 && strstr(err.msg, "cannot reach 127.0.0.1:1: ") == NULL,
	       "  says the lock is still held, naming the member once");
	tap_ok(read_record(&got) && mbh_state_same_lock(&got, &r), "  the record stays for the next try");
	drop_record();
	mbh_lock_session_free(s);
	free(member);
}

/* A config for the watchdog: the simulator's set, our state directory. */
static mbh_config *
watchdog_config(void)
{
	mbh_config *cfg = NULL;
	mbh_error err;
	char text[1024];

	snprintf(text, sizeof(text), "uri = \"%s\";\nstate_dir = \"%s\";\n", sim_uri(S), state_dir);
	mbh_error_init(&err);
	if (mbh_config_new(&cfg, &err) != 0 || mbh_config_load_string(cfg, text, "<lock-release>", &err) != 0 ||
	    mbh_config_finish(cfg, &err) != 0) {
		tap_diag("config: %s", err.msg);
		mbh_config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* Wait (bounded) until the record is gone and the secondary unlocked. */
static bool
wait_released(int ms)
{
	mbh_state_rec got;
	int64_t until = th_now_ms() + ms;

	while (th_now_ms() < until) {
		if (!read_record(&got) && sim_status_long(S, SECONDARY, "lockCount") == 0)
			return true;
		th_pause_ms(50);
	}
	return false;
}

/*
 * Start the watchdog as a run does (mbh_watchdog_spawn, then
 * mbh_watchdog_send): *w, its pid; false when it failed.
 */
static bool
wd_start(mbh_watchdog **w, const char *path, const mbh_config *cfg, const char *token)
{
	mbh_error err;

	mbh_error_init(&err);
	if (mbh_watchdog_spawn(w, path, &err) != 0 || mbh_watchdog_send(*w, cfg, SET, token, &err) != 0) {
		tap_diag("watchdog: %s", err.msg);
		return false;
	}
	return true;
}

/* "go" with what r guards. */
static bool
wd_go(mbh_watchdog *w, const mbh_state_rec *r)
{
	mbh_error err;

	mbh_error_init(&err);
	if (mbh_watchdog_go(w, r, &err) != 0) {
		tap_diag("watchdog: %s", err.msg);
		return false;
	}
	return true;
}

/* watchdog.c and the watchdog program. */
static void
test_watchdog(const char *path)
{
	char *member = sim_host(S, SECONDARY), events[400], line[2048];
	mbh_config *cfg = watchdog_config();
	mbh_lock_session *s = session_to(NULL);
	mbh_watchdog *w = NULL;
	mbh_state_rec r;
	mbh_error err;
	int64_t count = 0, released_at;
	bool definite, released = false, said = false;
	long pid;
	FILE *f;

	mbh_error_init(&err);
	/* a pipe closed without "go": nothing to guard */
	record_of(&r, member, 0);
	tap_ok(cfg != NULL && wd_start(&w, path, cfg, r.token) && mbh_watchdog_pid(w) > 0, "watchdog: started");
	pid = mbh_watchdog_pid(w);
	tap_ok(mbh_watchdog_starttime(w) == mbh_proc_starttime(pid), "  its start time is its /proc start time");
	mbh_watchdog_free(w);
	w = NULL;
	tap_ok(mbh_watchdog_reap(pid, 5000), "watchdog: without \"go\" it exits at once");

	/*
	 * at the deadline it was handed, to the ms (300 ms from now), it unlocks,
	 * removes the record and says so; the record's own deadline (whole
	 * seconds, a minute later here) is not what it acts on
	 */
	tap_ok(mbh_lock_fsync_lock(s, &count, &definite, &err) == 0 && count == 1, "watchdog: the member locked");
	record_of(&r, member, count);
	tap_ok(wd_start(&w, path, cfg, r.token), "watchdog: started for that lock");
	r.watchdog_pid = mbh_watchdog_pid(w);
	r.watchdog_start = mbh_watchdog_starttime(w);
	r.deadline_ms = mbh_wall_ms() + 300;
	r.deadline = r.deadline_ms / 1000 + 60;
	write_record(&r);
	tap_ok(wd_go(w, &r), "  told to go once the record is on disk");
	pid = mbh_watchdog_pid(w);
	mbh_watchdog_free(w);
	w = NULL;
	tap_ok(wait_released(15000), "watchdog: after the deadline the member is unlocked and the record gone");
	released_at = mbh_wall_ms();
	tap_ok(released_at >= r.deadline_ms, "  not before the deadline it was handed");
	tap_ok(released_at < r.deadline * 1000, "  at the deadline it was handed, to the ms (%lld ms after it), not "
	       "the record's", (long long)(released_at - r.deadline_ms));
	tap_ok(mbh_watchdog_reap(pid, 5000), "  and it exits");
	snprintf(events, sizeof(events), "%s/%s.events", state_dir, SET);
	if ((f = fopen(events, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (strstr(line, "outlived lock.max_seconds; the watchdog unlocked it") != NULL &&
			    strstr(line, member) != NULL)
				said = true;
		fclose(f);
	}
	tap_ok(said, "  SET.events says it outlived lock.max_seconds and the watchdog unlocked it");
	unlink(events);

	/* a release before the deadline stops it */
	tap_ok(mbh_lock_fsync_lock(s, &count, &definite, &err) == 0, "watchdog: the member locked again");
	record_of(&r, member, count);
	tap_ok(wd_start(&w, path, cfg, r.token), "  a watchdog started for it");
	r.watchdog_pid = mbh_watchdog_pid(w);
	r.watchdog_start = mbh_watchdog_starttime(w);
	write_record(&r);
	wd_go(w, &r);
	mbh_watchdog_free(w);
	w = NULL;
	tap_ok(mbh_proc_running(r.watchdog_pid, r.watchdog_start), "  it guards the lock (deadline in an hour)");
	tap_ok(mbh_release(LG, s, state_dir, &r, MBH_RELEASER_POST, NULL, &released, &err) == 0 && released,
	       "  released by post");
	tap_ok(mbh_watchdog_reap(r.watchdog_pid, 5000), "  the release stopped the watchdog");
	tap_ok(wait_released(1000), "  nothing locked, no record");
	mbh_lock_session_free(s);
	mbh_config_free(cfg);
	free(member);
}

int
main(void)
{
	const char *wd;
	char p[400];

	mongoc_init();
	th_quiet_mongoc_log();
	th_watchdog(300);
	wd = getenv("MONGO_BACKUP_WATCHDOG");
	if (wd == NULL || access(wd, X_OK) != 0)
		tap_skip_all("MONGO_BACKUP_WATCHDOG is not set to the built watchdog (run through make check)");
	tap_plan(PLAN);
	snprintf(tmpdir, sizeof(tmpdir), "%s/mbh-lock-release.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
	mkdir(state_dir, 0700);
	S = sim_start(topology, NULL);
	if (S == NULL) {
		printf("Bail out! the simulator did not start\n");
		return 1;
	}
	{
		mbh_uri_settings us = { .uri = sim_uri(S), .connect_timeout_ms = 2000 };
		mbh_error err;

		mbh_error_init(&err);
		if (mbh_uri_build(&BASE, &us, &err) != 0) {
			printf("Bail out! %s\n", err.msg);
			return 1;
		}
	}
	mbh_logger_new(&LG, "lock-release", MBH_LOG_ERROR, 0, NULL, NULL);

	test_session();
	test_release();
	test_watchdog(wd);

	tap_ok(sim_all_unlocked(S), "at the end no member is locked");
	tap_is_int(sim_stop(S), 0, "the simulator exits 0");
	mbh_logger_free(LG);
	mongoc_uri_destroy(BASE);
	snprintf(p, sizeof(p), "%s/%s.lock", state_dir, SET);
	unlink(p);
	snprintf(p, sizeof(p), "%s/.claim", state_dir);
	unlink(p);
	if (rmdir(state_dir) != 0)
		tap_diag("state directory %s not empty", state_dir);
	rmdir(tmpdir);
	mongoc_cleanup();
	return tap_exit_status();
}
