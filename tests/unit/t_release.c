/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_release.c: the parts of a release that need no server: same lock, "still held", stopping the watchdog (TAP). */
#include "autoconfig.h"

#include <sys/types.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "proc.h"
#include "release.h"
#include "state.h"
#include "tap.h"
#include "timefmt.h"

/* A LOCKED record of rs0 on h2:27017. */
static void
sample(mbh_state_rec *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->set_name, sizeof(r->set_name), "rs0");
	snprintf(r->member, sizeof(r->member), "h2:27017");
	r->phase = MBH_PHASE_LOCKED;
	r->lock_count = 1;
	r->since = 1700000000;
	r->pid = 4242;
	snprintf(r->token, sizeof(r->token), "00112233445566778899aabbccddeeff");
}

/* One lock is another only by its token; records without one by member, since and pid. */
static void
test_same_lock(void)
{
	mbh_state_rec a, b;

	sample(&a);
	b = a;
	ok(mbh_state_same_lock(&a, &b), "same token: the same lock");
	b.lock_count = 7;
	b.phase = MBH_PHASE_SNAPSHOT;
	ok(mbh_state_same_lock(&a, &b), "  whatever else the record says now");
	b.token[0] = 'f';
	ok(!mbh_state_same_lock(&a, &b), "another token: another lock");
	b.token[0] = '\0';
	ok(!mbh_state_same_lock(&a, &b), "a token on one side only: another lock");
	a.token[0] = '\0';
	ok(mbh_state_same_lock(&a, &b), "no tokens (an old record): member, since and pid agree");
	b.since++;
	ok(!mbh_state_same_lock(&a, &b), "  another since: another lock");
	b = a;
	b.pid++;
	ok(!mbh_state_same_lock(&a, &b), "  another pid: another lock");
	b = a;
	snprintf(b.member, sizeof(b.member), "h3:27017");
	ok(!mbh_state_same_lock(&a, &b), "  another member: another lock");
}

/* An unreachable member: the lock is still held, the driver's words kept, the deadline named. */
static void
test_still_held(void)
{
	mbh_state_rec r;
	mbh_error err;
	char want[MBH_ERRMSG_LEN], when[64];

	sample(&r);
	mbh_error_fail_detail(&err, MBH_ERR_UNREACHABLE, "cannot reach h2:27017: ", "%s", "connection refused");
	is_int(mbh_release_still_held(&err, &r, false), -1, "still held: -1");
	is_int(err.code, EX_TEMPFAIL, "  EX_TEMPFAIL: run post again later");
	is_str(err.msg, "cannot reach h2:27017; the lock is still held; run mongo-postbackup again when it is back "
	       "(connection refused)", "  the message quotes the driver's words once");

	r.deadline = 1700007200;
	mbh_fmt_time(r.deadline, when, sizeof(when));
	mbh_error_fail_detail(&err, MBH_ERR_UNREACHABLE, "cannot reach h2:27017: ", "%s", "timed out");
	mbh_release_still_held(&err, &r, true);
	snprintf(want, sizeof(want), "cannot reach h2:27017; the lock may be still held; run mongo-postbackup again "
		 "when it is back (the watchdog keeps trying from %s) (timed out)", when);
	is_str(err.msg, want, "LOCKING with a deadline: 'may be', and when the watchdog takes over");

	mbh_error_set(&err, EX_UNAVAILABLE, "fsyncUnlock on h2:27017 failed: boom (code 8)");
	mbh_release_still_held(&err, &r, false);
	ok(strstr(err.msg, "the lock is still held") != NULL && strstr(err.msg, "(fsyncUnlock on h2:27017 failed: "
	   "boom (code 8))") != NULL, "a server's refusal is quoted whole");

	mbh_error_set(&err, EX_NOPERM, "user backup is not authorized to run fsyncUnlock");
	is_int(mbh_release_still_held(&err, &r, false), -1, "a permission error: -1");
	ok(err.code == EX_NOPERM && strcmp(err.msg, "user backup is not authorized to run fsyncUnlock") == 0,
	   "  kept as it is (code and message)");
}

/* stop_watchdog sends SIGTERM only to the process the record names, by pid and start time. */
static void
test_stop_watchdog(void)
{
	mbh_logger *lg = NULL;
	mbh_state_rec r;
	pid_t child;
	int status = 0, i;

	mbh_logger_new(&lg, "t_release", MBH_LOG_ERROR, 0, NULL, NULL);
	sample(&r);
	child = fork();
	if (child == 0) {
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	if (!ok(child > 0, "a process standing in for the watchdog"))
		return;
	for (i = 0; i < 100 && mbh_proc_starttime(child) == 0; i++)
		usleep(10000);
	r.watchdog_pid = child;
	r.watchdog_start = mbh_proc_starttime(child) + 1; /* another process that had the same pid */
	mbh_release_stop_watchdog(lg, &r);
	usleep(100000);
	ok(waitpid(child, &status, WNOHANG) == 0, "another start time: not signalled (pid reuse)");
	r.watchdog_pid = 0;
	mbh_release_stop_watchdog(lg, &r);
	ok(waitpid(child, &status, WNOHANG) == 0, "no watchdog recorded: nothing signalled");
	r.watchdog_pid = child;
	r.watchdog_start = mbh_proc_starttime(child);
	mbh_release_stop_watchdog(lg, &r);
	ok(waitpid(child, &status, 0) == child && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
	   "the recorded watchdog gets SIGTERM");
	mbh_release_stop_watchdog(lg, &r); /* gone: harmless */
	ok(1, "a watchdog that is gone: harmless");
	mbh_logger_free(lg);
}

int
main(void)
{
	tap_init();
	test_same_lock();
	test_still_held();
	test_stop_watchdog();
	return tap_done();
}
