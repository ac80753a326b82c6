/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_run.c: running the backup command: expansion, status, signals, timeout, cancel, environment, fds (TAP). */
#include "autoconfig.h"

#include <sys/wait.h>

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "run.h"
#include "strv.h"
#include "tap.h"
#include "testtime.h"

/* A CLOCK_MONOTONIC instant in ms. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The kill grace has one value, 2 s; a test build counts its seconds in
 * MBH_TEST_SECOND_MS ms (only values from 1 to 1000), and the rest of this
 * test runs with 100 ms seconds.  The SIGKILL of a child that ignores SIGTERM
 * comes one grace after the timeout's SIGTERM: not before, not much after.
 */
static void
test_kill_grace(void)
{
	const char *stubborn[] = { "/bin/sh", "-c", "trap '' TERM; sleep 30", NULL };
	mbh_child *c = NULL;
	mbh_error err;
	int64_t t0, took;
	int status = -1;

	unsetenv("MBH_TEST_SECOND_MS");
	is_int((int)mbh_kill_grace_ms(), MBH_KILL_GRACE_S * 1000, "the kill grace is 2 s");
#ifdef MBH_CRASH_POINTS
	setenv("MBH_TEST_SECOND_MS", "5000", 1);
	is_int((int)mbh_kill_grace_ms(), 2000, "a test build: MBH_TEST_SECOND_MS=5000 is ignored (1 to 1000 ms)");
	setenv("MBH_TEST_SECOND_MS", "0", 1);
	is_int((int)mbh_kill_grace_ms(), 2000, "  0 is ignored");
	setenv("MBH_TEST_SECOND_MS", "100ms", 1);
	is_int((int)mbh_kill_grace_ms(), 2000, "  100ms is ignored");
	setenv("MBH_TEST_SECOND_MS", "100", 1);
	is_int((int)mbh_kill_grace_ms(), 200, "  100: the grace is 200 ms");
	is_int((int)mbh_seconds_ms(7200), 720000, "  and 7200 s of a lock are 720 s");
#else
	for (int i = 0; i < 5; i++)
		skip("MBH_TEST_SECOND_MS: not a test build (configure --enable-crash-points)");
#endif
	mbh_error_init(&err);
	t0 = mono_ms();
	ok(mbh_child_spawn(&c, stubborn, NULL, 0, &err) == 0 && mbh_child_wait(c, 200, -1, &status, &err) != 0 &&
	   status == 128 + SIGKILL, "a child ignoring SIGTERM is killed");
	took = mono_ms() - t0;
	ok(took >= 200 + mbh_kill_grace_ms() && took < 200 + mbh_kill_grace_ms() + 1500,
	   "  one grace after the timeout's SIGTERM (%lld ms for 200 ms + %lld ms)", (long long)took,
	   (long long)mbh_kill_grace_ms());
	mbh_child_free(c);
}

static void
test_expand(void)
{
	const char *t1[] = { "/usr/local/bin/dump.sh", "--host=%h", "%p", "%s/%j", "100%%", "%h%p%%%s", NULL };
	const char *t2[] = { "dump", "a%xb", NULL };
	const char *t3[] = { "dump", "50%", NULL };
	const char *t4[] = { NULL };
	mbh_run_vars vars = { .host = "db3", .port = "27019", .set = "rs0", .job = "Nightly.1" };
	char **out = NULL;
	mbh_error err;

	mbh_error_init(&err);
	ok(mbh_run_expand(&out, t1, &vars, &err) == 0 && out != NULL, "expand a template");
	if (out != NULL) {
		is_str(out[0], "/usr/local/bin/dump.sh", "plain word kept");
		is_str(out[1], "--host=db3", "%h");
		is_str(out[2], "27019", "%p");
		is_str(out[3], "rs0/Nightly.1", "%s and %j");
		is_str(out[4], "100%", "%% is one %");
		is_str(out[5], "db327019%rs0", "escapes side by side");
		ok(out[6] == NULL, "NULL-terminated");
	}
	mbh_strv_free(out);
	out = NULL;
	ok(mbh_run_expand(&out, t2, &vars, &err) != 0 && out == NULL && err.code == EX_CONFIG, "unknown escape: EX_CONFIG");
	is_str(err.msg, "unknown escape %x in 'a%xb' (known: %h %p %s %j %S %%)", "  message");
	ok(mbh_run_expand(&out, t3, &vars, &err) != 0 && err.code == EX_CONFIG, "a trailing %% is EX_CONFIG");
	is_str(err.msg, "unknown escape % at the end of '50%' (write %% for a %)", "  message");
	ok(mbh_run_expand(&out, t4, &vars, &err) != 0 && err.code == EX_CONFIG, "empty template refused");
	vars.job = NULL;
	{
		const char *t5[] = { "x", "[%j]", NULL };

		ok(mbh_run_expand(&out, t5, &vars, &err) == 0 && strcmp(out[1], "[]") == 0, "an unset value is empty");
		mbh_strv_free(out);
	}
}

/* %S: the snapshot's path, only where there is one; the config's check of a template. */
static void
test_expand_snapshot(void)
{
	const char *t[] = { "/x/snapshot", "remove", "%S", "--dir=%S/db", NULL };
	const char *plain[] = { "/x/dump", "%h:%p", "100%%", NULL };
	const char *bad[] = { "/x/dump", "%Z", NULL };
	mbh_run_vars vars = { .host = "db3", .port = "27019", .set = "rs0", .job = "j", .snapshot = "/snap/rs0-1" };
	char **out = NULL;
	mbh_error err;
	bool uses = true;

	mbh_error_init(&err);
	ok(mbh_run_expand(&out, t, &vars, &err) == 0 && out != NULL && strcmp(out[2], "/snap/rs0-1") == 0 &&
	   strcmp(out[3], "--dir=/snap/rs0-1/db") == 0, "%%S expands to the snapshot's path");
	mbh_strv_free(out);
	out = NULL;
	vars.snapshot = NULL;
	ok(mbh_run_expand(&out, t, &vars, &err) != 0 && out == NULL && err.code == EX_CONFIG,
	   "%%S without a snapshot: EX_CONFIG (never an empty path handed to remove)");
	is_str(err.msg, "%S in '%S': no snapshot was taken (snapshot mode is off)", "  message");
	ok(mbh_run_check(t, &uses, &err) == 0 && uses, "check: a template with %%S is fine and says so");
	ok(mbh_run_check(plain, &uses, &err) == 0 && !uses, "check: a template without %%S");
	ok(mbh_run_check(bad, NULL, &err) != 0 && err.code == EX_CONFIG, "check: an unknown escape");
	is_str(err.msg, "unknown escape %Z in '%Z' (known: %h %p %s %j %S %%)", "  message");
}

/* Capture: stdout kept (first bytes), the status, a timeout, a cancel, a descendant holding the pipe. */
static void
test_capture(void)
{
	const char *two[] = { "/bin/sh", "-c", "echo /snap/one; echo second line; exit 2", NULL };
	const char *big[] = { "/bin/sh", "-c", "echo /snap/big; head -c 300000 /dev/zero | tr '\\0' x; exit 0", NULL };
	const char *hang[] = { "/bin/sh", "-c", "echo /snap/partial; exec sleep 30", NULL };
	const char *orphan[] = { "/bin/sh", "-c", "echo /snap/orphan; sleep 30 & exit 0", NULL };
	const char *ignore[] = { "/bin/sh", "-c", "trap '' TERM; echo started; while :; do sleep 0.05; done", NULL };
	mbh_child *c = NULL;
	mbh_error err;
	char buf[64];
	int status, pipefd[2];
	time_t t0;

	mbh_error_init(&err);
	ok(mbh_child_spawn(&c, two, NULL, MBH_RUN_PIPE_STDOUT, &err) == 0 &&
	   mbh_child_capture(c, 10000, -1, -1, buf, sizeof(buf), &status, &err) == 0 && status == 2,
	   "capture: runs to the end, status 2");
	is_str(buf, "/snap/one\nsecond line\n", "  the output");
	mbh_child_free(c);
	c = NULL;
	ok(mbh_child_spawn(&c, big, NULL, MBH_RUN_PIPE_STDOUT, &err) == 0 &&
	   mbh_child_capture(c, 10000, -1, -1, buf, sizeof(buf), &status, &err) == 0 && status == 0,
	   "capture: 300 kB of output are read (the child never blocks) and status 0");
	ok(strlen(buf) == sizeof(buf) - 1 && strncmp(buf, "/snap/big\n", 10) == 0, "  only the first 63 bytes kept");
	mbh_child_free(c);
	c = NULL;
	t0 = time(NULL);
	ok(mbh_child_spawn(&c, hang, NULL, MBH_RUN_PIPE_STDOUT, &err) == 0 &&
	   mbh_child_capture(c, 250, -1, -1, buf, sizeof(buf), &status, &err) != 0 && err.code == EX_TEMPFAIL &&
	   status == 128 + SIGTERM, "capture: timed out after 250 ms, SIGTERM");
	is_str(err.msg, "/bin/sh timed out after 250 ms", "  message");
	ok(mbh_error_is(&err, MBH_ERR_TIMED_OUT), "  the reason: timed out");
	is_str(buf, "/snap/partial\n", "  what it printed before is kept");
	ok(time(NULL) - t0 <= 4, "  within the timeout and the grace");
	mbh_child_free(c);
	c = NULL;
	t0 = time(NULL);
	ok(mbh_child_spawn(&c, orphan, NULL, MBH_RUN_PIPE_STDOUT, &err) == 0 &&
	   mbh_child_capture(c, 20000, -1, -1, buf, sizeof(buf), &status, &err) == 0 && status == 0 &&
	   time(NULL) - t0 <= 3, "capture: a descendant holding stdout open is not waited for");
	is_str(buf, "/snap/orphan\n", "  the output");
	kill(-(pid_t)mbh_child_pid(c), SIGKILL); /* the orphaned sleep, still in the group */
	mbh_child_free(c);
	c = NULL;
	t0 = time(NULL);
	ok(mbh_child_spawn(&c, ignore, NULL, MBH_RUN_PIPE_STDOUT, &err) == 0 &&
	   mbh_child_capture(c, 250, -1, -1, buf, sizeof(buf), &status, &err) != 0 && err.code == EX_TEMPFAIL &&
	   status == 128 + SIGKILL && time(NULL) - t0 <= 5,
	   "capture: a child that ignores SIGTERM gets SIGKILL after the grace");
	mbh_child_free(c);
	c = NULL;
	if (pipe(pipefd) != 0)
		diag("pipe: %s", strerror(errno));
	if (write(pipefd[1], "x", 1) != 1)
		diag("write: %s", strerror(errno));
	ok(mbh_child_spawn(&c, hang, NULL, MBH_RUN_PIPE_STDOUT, &err) == 0 &&
	   mbh_child_capture(c, 0, -1, pipefd[0], buf, sizeof(buf), &status, &err) != 0 && err.code == EX_TEMPFAIL,
	   "capture: cancelled through the second cancel fd");
	is_str(err.msg, "/bin/sh cancelled", "  message");
	mbh_child_free(c);
	close(pipefd[0]);
	close(pipefd[1]);
	ok(mbh_child_capture(NULL, 1000, -1, -1, buf, sizeof(buf), &status, &err) != 0 && err.code == EX_SOFTWARE,
	   "capture without a child: EX_SOFTWARE");
}

/* Gated: nothing runs before mbh_child_open_gate, nothing ever when freed before it; exec errors at the gate. */
static void
test_gated(void)
{
	char dir[] = "/tmp/t_run_gate.XXXXXX", f1[64], f2[64], buf[64];
	const char *missing[] = { "/nonexistent/mbh-no-such-command", NULL };
	const char *touch1[] = { "/bin/sh", "-c", "echo out; : >\"$0\"", f1, NULL };
	const char *touch2[] = { "/bin/sh", "-c", ": >\"$0\"", f2, NULL };
	mbh_child *c = NULL;
	mbh_error err;
	struct stat st;
	int status = -1;

	mbh_error_init(&err);
	if (mkdtemp(dir) == NULL)
		diag("mkdtemp: %s", strerror(errno));
	snprintf(f1, sizeof(f1), "%s/ran1", dir);
	snprintf(f2, sizeof(f2), "%s/ran2", dir);
	ok(mbh_child_spawn(&c, touch1, NULL, MBH_RUN_PIPE_STDOUT | MBH_RUN_GATED, &err) == 0 && c != NULL &&
	   mbh_child_pid(c) > 0, "gated: forked, a pid at once");
	usleep(200000);
	ok(stat(f1, &st) != 0 && errno == ENOENT, "gated: nothing runs before the gate opens (200 ms later)");
	ok(c != NULL && mbh_child_open_gate(c, &err) == 0, "gated: the gate opens (the exec worked)");
	ok(c != NULL && mbh_child_capture(c, 10000, -1, -1, buf, sizeof(buf), &status, &err) == 0 && status == 0,
	   "gated: then it runs to its end, status 0");
	is_str(buf, "out\n", "  its stdout is the pipe");
	ok(stat(f1, &st) == 0, "  and it did its work");
	ok(c != NULL && mbh_child_open_gate(c, &err) == 0, "gated: opening again is a no-op");
	mbh_child_free(c);
	c = NULL;

	ok(mbh_child_spawn(&c, touch2, NULL, MBH_RUN_GATED, &err) == 0, "gated, then freed before the gate");
	mbh_child_free(c);
	c = NULL;
	usleep(200000);
	ok(stat(f2, &st) != 0 && errno == ENOENT, "  it never ran");

	/* a cancel may kill it while it waits: opening the gate then fails, and must not raise SIGPIPE here */
	signal(SIGPIPE, SIG_DFL);
	ok(mbh_child_spawn(&c, touch2, NULL, MBH_RUN_GATED, &err) == 0, "gated, then killed before the gate");
	mbh_child_kill(c, SIGKILL);
	usleep(200000);
	ok(c != NULL && mbh_child_open_gate(c, &err) != 0 && err.code == EX_OSERR,
	   "  opening the gate fails (EX_OSERR), and this process is still here (no SIGPIPE)");
	mbh_child_free(c);
	c = NULL;
	ok(stat(f2, &st) != 0 && errno == ENOENT, "  it never ran");

	ok(mbh_child_spawn(&c, missing, NULL, MBH_RUN_GATED, &err) == 0,
	   "gated: a missing command still forks (its exec comes later)");
	mbh_error_init(&err);
	ok(c != NULL && mbh_child_open_gate(c, &err) != 0 && err.code == EX_UNAVAILABLE &&
	   strstr(err.msg, "cannot run /nonexistent/mbh-no-such-command") != NULL,
	   "  the gate says it cannot run: EX_UNAVAILABLE naming it");
	mbh_child_free(c);
	unlink(f1);
	rmdir(dir);
}

#ifndef MBH_TEST_GATE
#error "MBH_TEST_GATE (the build tree's mongo-backup-gate) must be defined by the build"
#endif

/* The program /proc shows for pid ("" when gone). */
static void
exe_of(long pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
	n = readlink(path, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
}

/* The same in the gate program (mbh_child_spawn_via): it, not a fork of ours, waits; the rest is unchanged. */
static void
test_gated_via(void)
{
	char dir[] = "/tmp/t_run_via.XXXXXX", f1[64], f2[64], buf[64], exe[4096], gate[4096];
	const char *missing[] = { "mbh-no-such-command-anywhere", NULL };
	const char *touch1[] = { "/bin/sh", "-c", "echo out; : >\"$0\"", f1, NULL };
	const char *touch2[] = { "/bin/sh", "-c", ": >\"$0\"", f2, NULL };
	const char *env[] = { "MBH_T_VIA=seen", NULL };
	const char *show[] = { "/bin/sh", "-c", "printf '%s %s' \"$MBH_T_VIA\" \"$(cut -d' ' -f5 /proc/$$/stat)\"", NULL };
	mbh_child *c = NULL;
	mbh_error err;
	struct stat st;
	int status = -1;

	mbh_error_init(&err);
	if (mkdtemp(dir) == NULL || realpath(MBH_TEST_GATE, gate) == NULL)
		diag("mkdtemp or realpath: %s", strerror(errno));
	snprintf(f1, sizeof(f1), "%s/ran1", dir);
	snprintf(f2, sizeof(f2), "%s/ran2", dir);
	ok(mbh_child_spawn_via(&c, MBH_TEST_GATE, touch1, NULL, MBH_RUN_PIPE_STDOUT | MBH_RUN_GATED, &err) == 0 &&
	   c != NULL && mbh_child_pid(c) > 0, "via the gate program: a pid at once");
	usleep(200000);
	exe_of(mbh_child_pid(c), exe, sizeof(exe));
	is_str(exe, gate, "  what waits at the gate is the gate program (the fork of this process has exec'd it)");
	ok(stat(f1, &st) != 0 && errno == ENOENT, "  nothing runs before the gate opens (200 ms later)");
	ok(getpgid((pid_t)mbh_child_pid(c)) == (pid_t)mbh_child_pid(c), "  in a process group of its own");
	ok(c != NULL && mbh_child_open_gate(c, &err) == 0, "  the gate opens (the command's exec worked)");
	ok(c != NULL && mbh_child_capture(c, 10000, -1, -1, buf, sizeof(buf), &status, &err) == 0 && status == 0,
	   "  then it runs to its end, status 0");
	is_str(buf, "out\n", "  its stdout is the pipe");
	ok(stat(f1, &st) == 0, "  and it did its work");
	mbh_child_free(c);
	c = NULL;

	ok(mbh_child_spawn_via(&c, MBH_TEST_GATE, show, env, MBH_RUN_PIPE_STDOUT | MBH_RUN_GATED, &err) == 0 &&
	   mbh_child_open_gate(c, &err) == 0 && mbh_child_capture(c, 10000, -1, -1, buf, sizeof(buf), &status, &err) == 0,
	   "via the gate program: a command that shows its environment and group");
	snprintf(exe, sizeof(exe), "seen %ld", mbh_child_pid(c));
	is_str(buf, exe, "  it has the environment it was given and its pid is its group (the same process throughout)");
	mbh_child_free(c);
	c = NULL;

	ok(mbh_child_spawn_via(&c, MBH_TEST_GATE, touch2, NULL, MBH_RUN_GATED, &err) == 0,
	   "via the gate program, then freed before the gate");
	usleep(100000);
	mbh_child_free(c);
	c = NULL;
	usleep(200000);
	ok(stat(f2, &st) != 0 && errno == ENOENT, "  it never ran");

	signal(SIGPIPE, SIG_DFL);
	ok(mbh_child_spawn_via(&c, MBH_TEST_GATE, touch2, NULL, MBH_RUN_GATED, &err) == 0,
	   "via the gate program, then killed before the gate");
	mbh_child_kill(c, SIGKILL);
	usleep(200000);
	ok(c != NULL && mbh_child_open_gate(c, &err) != 0 && err.code == EX_OSERR,
	   "  opening the gate fails (EX_OSERR), and this process is still here (no SIGPIPE)");
	mbh_child_free(c);
	c = NULL;
	ok(stat(f2, &st) != 0 && errno == ENOENT, "  it never ran");

	mbh_error_init(&err);
	ok(mbh_child_spawn_via(&c, MBH_TEST_GATE, missing, NULL, MBH_RUN_GATED, &err) == 0 &&
	   mbh_child_open_gate(c, &err) != 0 && err.code == EX_UNAVAILABLE &&
	   strcmp(err.msg, "cannot run mbh-no-such-command-anywhere: No such file or directory") == 0,
	   "via the gate program, a command not found: the gate says it cannot run, EX_UNAVAILABLE naming it");
	diag("%s", err.msg);
	mbh_child_free(c);
	c = NULL;

	mbh_error_init(&err);
	ok(mbh_child_spawn_via(&c, "/nonexistent/mongo-backup-gate", touch2, NULL, MBH_RUN_GATED, &err) != 0 &&
	   c == NULL && err.code == EX_UNAVAILABLE && strstr(err.msg, "/nonexistent/mongo-backup-gate") != NULL,
	   "a gate program that is not there: said at the spawn (before any lock), EX_UNAVAILABLE naming it");
	mbh_error_init(&err);
	ok(mbh_child_spawn_via(&c, MBH_TEST_GATE, touch2, NULL, 0, &err) != 0 && err.code == EX_SOFTWARE,
	   "a gate program for a command that is not gated: refused");
	unlink(f1);
	rmdir(dir);
}

/* Run argv to the end; returns wait's result, status in *status, err filled. */
static int
run(const char *const *argv, const char *const *env, int64_t timeout_ms, int cancel_fd, int *status, mbh_error *err)
{
	mbh_child *c = NULL;
	int r;

	mbh_error_init(err);
	*status = -1;
	if (mbh_child_spawn(&c, argv, env, 0, err) != 0)
		return -2;
	r = mbh_child_wait(c, timeout_ms, cancel_fd, status, err);
	mbh_child_free(c);
	return r;
}

/* Run argv with a stdout pipe and collect the output. */
static int
capture(const char *const *argv, const char *const *env, char *buf, size_t len, int *status)
{
	mbh_child *c = NULL;
	mbh_error err;
	size_t used = 0;
	ssize_t n;
	int r;

	buf[0] = '\0';
	if (mbh_child_spawn(&c, argv, env, MBH_RUN_PIPE_STDOUT, &err) != 0)
		return -1;
	while (used + 1 < len) {
		n = read(mbh_child_stdout_fd(c), buf + used, len - 1 - used);
		if (n < 0 && errno == EINTR)
			continue; /* a signal must not cut the output short */
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	r = mbh_child_wait(c, 30000, -1, status, &err);
	mbh_child_free(c);
	return r;
}

static void
test_status(void)
{
	const char *exit3[] = { "/bin/sh", "-c", "exit 3", NULL };
	const char *exit0[] = { "true", NULL };
	const char *killself[] = { "/bin/sh", "-c", "kill -TERM $$", NULL };
	const char *segv[] = { "/bin/sh", "-c", "kill -SEGV $$", NULL };
	const char *missing[] = { "/nonexistent/dump.sh", NULL };
	const char *notinpath[] = { "mbh-no-such-command", "x", NULL };
	char script[] = "/tmp/t_run.XXXXXX", want[128];
	const char *noexec[] = { script, NULL };
	mbh_child *c = NULL;
	mbh_error err;
	int status, fd;

	fd = mkstemp(script);
	if (fd < 0 || write(fd, "touch /tmp/t_run.ran\n", 20) != 20)
		diag("mkstemp: %s", strerror(errno));
	close(fd);
	chmod(script, 0644);

	ok(run(exit0, NULL, 0, -1, &status, &err) == 0 && status == 0, "true: status 0 (PATH search)");
	ok(run(exit3, NULL, 0, -1, &status, &err) == 0 && status == 3, "exit 3: status 3");
	ok(run(killself, NULL, 0, -1, &status, &err) == 0 && status == 128 + SIGTERM, "killed by SIGTERM: 143");
	ok(run(segv, NULL, 0, -1, &status, &err) == 0 && status == 128 + SIGSEGV, "killed by SIGSEGV: 139");

	mbh_error_init(&err);
	ok(mbh_child_spawn(&c, missing, NULL, 0, &err) != 0 && c == NULL && err.code == EX_UNAVAILABLE,
	   "a missing command fails in spawn with EX_UNAVAILABLE");
	is_str(err.msg, "cannot run /nonexistent/dump.sh: No such file or directory", "  message");
	mbh_error_init(&err);
	ok(mbh_child_spawn(&c, notinpath, NULL, 0, &err) != 0 && err.code == EX_UNAVAILABLE, "not in PATH");
	is_str(err.msg, "cannot run mbh-no-such-command: No such file or directory", "  message");
	mbh_error_init(&err);
	ok(mbh_child_spawn(&c, noexec, NULL, 0, &err) != 0 && err.code == EX_UNAVAILABLE, "not executable (0644)");
	snprintf(want, sizeof(want), "cannot run %s: Permission denied", script);
	is_str(err.msg, want, "  message");
	chmod(script, 0755);
	mbh_error_init(&err);
	ok(mbh_child_spawn(&c, noexec, NULL, 0, &err) != 0 && err.code == EX_UNAVAILABLE,
	   "a script without #! is not handed to /bin/sh");
	snprintf(want, sizeof(want), "cannot run %s: Exec format error", script);
	is_str(err.msg, want, "  message");
	unlink(script);
}

static void
test_timeout_cancel(void)
{
	const char *sleeper[] = { "/bin/sh", "-c", "sleep 30", NULL };
	const char *stubborn[] = { "/bin/sh", "-c", "trap '' TERM; sleep 30", NULL };
	mbh_child *c = NULL;
	mbh_error err;
	int status, p[2];

	ok(run(sleeper, NULL, 1000, -1, &status, &err) != 0 && err.code == EX_TEMPFAIL, "timeout: EX_TEMPFAIL");
	is_str(err.msg, "/bin/sh timed out after 1 s", "  message");
	ok(mbh_error_is(&err, MBH_ERR_TIMED_OUT), "  the reason: timed out");
	is_int(status, 128 + SIGTERM, "  stopped by SIGTERM");
	ok(run(stubborn, NULL, 250, -1, &status, &err) != 0 && err.code == EX_TEMPFAIL, "a child ignoring SIGTERM");
	is_int(status, 128 + SIGKILL, "  is killed with SIGKILL after the grace period");

	if (pipe(p) != 0)
		return;
	if (write(p[1], "x", 1) != 1)
		diag("write: %s", strerror(errno));
	ok(run(sleeper, NULL, 0, p[0], &status, &err) != 0 && err.code == EX_TEMPFAIL, "cancel_fd readable: EX_TEMPFAIL");
	is_str(err.msg, "/bin/sh cancelled", "  message");
	ok(mbh_error_is(&err, MBH_ERR_CANCELLED), "  the reason: cancelled");
	is_int(status, 128 + SIGTERM, "  stopped by SIGTERM");
	close(p[0]);
	close(p[1]);

	/* The whole group goes: a grandchild holding the pipe open must not keep it open. */
	{
		const char *tree[] = { "/bin/sh", "-c", "sleep 60 & sleep 60", NULL };
		char b;

		mbh_error_init(&err);
		if (mbh_child_spawn(&c, tree, NULL, MBH_RUN_PIPE_STDOUT, &err) == 0) {
			ok(getpgid((pid_t)mbh_child_pid(c)) == (pid_t)mbh_child_pid(c), "the child leads its own process group");
			mbh_child_wait(c, 250, -1, &status, &err);
			ok(read(mbh_child_stdout_fd(c), &b, 1) == 0, "after a timeout the whole group is gone (EOF on stdout)");
			mbh_child_free(c);
			c = NULL;
		} else {
			ok(0, "spawn a process tree: %s", err.msg);
			ok(0, "spawn a process tree");
		}
	}
}

static void
test_env_fds(void)
{
	const char *envcmd[] = { "env", NULL };
	const char *setenv_[] = { "MONGO_BACKUP_HOST=db3", "MONGO_BACKUP_PORT=27019", "MBH_T_REPLACED=new", NULL };
	const char *fds[] = { "/bin/sh", "-c", "ls /proc/$$/fd", NULL };
	const char *cat[] = { "cat", NULL };
	static char out[1 << 20]; /* the whole environment: under make, MAKEFLAGS alone can hold a long TESTS list */
	mbh_child *c = NULL;
	mbh_error err;
	int status, leak;
	ssize_t n;

	setenv("MONGO_BACKUP_URI", "mongodb://u:Qv7-t-run-pw@h/", 1);
	setenv("MONGO_BACKUP_PASSWORD", "Qv7-t-run-pw", 1);
	setenv("MBH_T_KEEP", "kept", 1);
	setenv("MBH_T_REPLACED", "old", 1);
	ok(capture(envcmd, setenv_, out, sizeof(out), &status) == 0 && status == 0, "run env with a stdout pipe");
	ok(strstr(out, "MONGO_BACKUP_URI") == NULL, "the child does not see MONGO_BACKUP_URI");
	ok(strstr(out, "Qv7-t-run-pw") == NULL, "  nor any MONGO_BACKUP_* secret");
	ok(strstr(out, "MONGO_BACKUP_HOST=db3\n") != NULL && strstr(out, "MONGO_BACKUP_PORT=27019\n") != NULL,
	   "it sees MONGO_BACKUP_HOST/PORT from set_env");
	ok(strstr(out, "MBH_T_KEEP=kept\n") != NULL, "other variables pass through");
	ok(strstr(out, "MBH_T_REPLACED=new\n") != NULL && strstr(out, "MBH_T_REPLACED=old") == NULL,
	   "set_env replaces a variable of ours");
	unsetenv("MONGO_BACKUP_URI");
	unsetenv("MONGO_BACKUP_PASSWORD");

	/* A descriptor we opened without O_CLOEXEC must not reach the script. */
	leak = dup2(STDERR_FILENO, 57);
	ok(capture(fds, NULL, out, sizeof(out), &status) == 0, "list the child's descriptors");
	ok(leak == 57 && strstr(out, "57\n") == NULL, "no descriptor of ours leaks into the child");
	close(57);

	mbh_error_init(&err);
	if (mbh_child_spawn(&c, cat, NULL, MBH_RUN_PIPE_STDIN | MBH_RUN_PIPE_STDOUT, &err) == 0) {
		ok(write(mbh_child_stdin_fd(c), "restore-bytes", 13) == 13, "write to the child's stdin");
		mbh_child_close_stdin(c);
		ok(mbh_child_stdin_fd(c) == -1, "stdin closed");
		n = read(mbh_child_stdout_fd(c), out, sizeof(out) - 1);
		out[n > 0 ? n : 0] = '\0';
		is_str(out, "restore-bytes", "the bytes come back through stdout");
		ok(mbh_child_wait(c, 10000, -1, &status, &err) == 0 && status == 0, "cat exits 0 on EOF");
		mbh_child_free(c);
	} else {
		ok(0, "spawn cat: %s", err.msg);
	}
	ok(mbh_child_stdout_fd(NULL) == -1 && mbh_child_stdin_fd(NULL) == -1, "NULL child has no fds");
	mbh_child_free(NULL);
}

/* A command dies with the thread that started it (invariant 8: never a reader without its lock holder). */
static mbh_child *volatile left_behind;

static mbh_child *volatile left_at_gate, *volatile left_through;

static void *
spawn_and_leave(void *arg)
{
	const char *sleeper[] = { "/bin/sleep", "30", NULL };
	mbh_child *c = NULL;
	mbh_error err;

	mbh_error_init(&err);
	if (mbh_child_spawn(&c, sleeper, NULL, 0, &err) == 0)
		*(long *)arg = mbh_child_pid(c);
	/* keep c on purpose (never freed, but reachable for valgrind): the thread ends with the child unreaped */
	left_behind = c;
	return NULL;
}

/* The same for a command waiting in the gate program, and for one the gate program has exec'd. */
static void *
spawn_via_and_leave(void *arg)
{
	const char *sleeper[] = { "/bin/sleep", "30", NULL };
	long *pids = arg;
	mbh_child *c = NULL, *c2 = NULL;
	mbh_error err;

	mbh_error_init(&err);
	if (mbh_child_spawn_via(&c, MBH_TEST_GATE, sleeper, NULL, MBH_RUN_GATED, &err) == 0)
		pids[0] = mbh_child_pid(c);
	if (mbh_child_spawn_via(&c2, MBH_TEST_GATE, sleeper, NULL, MBH_RUN_GATED, &err) == 0 &&
	    mbh_child_open_gate(c2, &err) == 0)
		pids[1] = mbh_child_pid(c2);
	usleep(100000); /* the first has exec'd the gate program by now */
	/* kept on purpose, as above: reachable for valgrind */
	left_through = c2;
	left_at_gate = c;
	return NULL;
}

/* Does a process of group pgid still run (not a zombie)? */
static bool
group_runs(long pgid)
{
	char path[300], buf[512], *p, state;
	struct dirent *e;
	bool runs = false;
	long pgrp;
	FILE *f;
	DIR *d;

	if ((d = opendir("/proc")) == NULL)
		return false;
	while (!runs && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 1, " %c %*d %ld", &state, &pgrp) == 2)
			runs = pgrp == pgid && state != 'Z' && state != 'X';
		fclose(f);
	}
	closedir(d);
	return runs;
}

static void
test_dies_with_parent(void)
{
	pthread_t t;
	long pid = 0;
	int status = -1, i;
	uint64_t start;

	pthread_create(&t, NULL, spawn_and_leave, &pid);
	pthread_join(t, NULL);
	ok(pid > 0, "a thread started a command");
	for (i = 0; i < 200 && waitpid((pid_t)pid, &status, WNOHANG) == 0; i++)
		usleep(10000);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "it got SIGKILL when that thread ended (status %d)",
	   status);
	{
		long pids[2] = { 0, 0 };
		int j;

		pthread_create(&t, NULL, spawn_via_and_leave, pids);
		pthread_join(t, NULL);
		ok(pids[0] > 0 && pids[1] > 0, "a thread started two commands via the gate program, let one through");
		for (j = 0; j < 2; j++) {
			status = -1;
			for (i = 0; i < 200 && waitpid((pid_t)pids[j], &status, WNOHANG) == 0; i++)
				usleep(10000);
			ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			   "  %s got SIGKILL when that thread ended (status %d)",
			   j == 0 ? "the one waiting in the gate program" : "the one the gate program exec'd", status);
		}
	}

	{
		const char *sleeper[] = { "/bin/sh", "-c", "sleep 30 & sleep 30", NULL };
		mbh_child *c = NULL;
		mbh_error err;

		mbh_error_init(&err);
		ok(mbh_child_spawn(&c, sleeper, NULL, 0, &err) == 0, "a command with a child of its own");
		start = mbh_proc_starttime(mbh_child_pid(c));
		ok(!mbh_run_kill_group(mbh_child_pid(c), start + 1, mbh_proc_starttime, 1000),
		   "kill_group spares a pid whose start time differs (pid reuse)");
		ok(mbh_run_kill_group(mbh_child_pid(c), start, mbh_proc_starttime, 3000),
		   "kill_group kills the recorded group");
		ok(mbh_child_reap(c, &status, &err) == 0 && status == 128 + SIGKILL, "  its leader died of SIGKILL");
		ok(!group_runs(mbh_child_pid(c)), "  and nothing of its group runs (zombies its init reaps late aside)");
		mbh_child_free(c);
	}
	{
		/* the leader is gone (killed with its parent, reaped), a copy in the background goes on */
		const char *orphan[] = { "/bin/sh", "-c", "sleep 30 & echo $!", NULL };
		mbh_child *c = NULL;
		mbh_error err;
		char line[32] = "";
		long leader = 0, bg = 0;
		uint64_t bg_start = 0;
		ssize_t n;

		mbh_error_init(&err);
		ok(mbh_child_spawn(&c, orphan, NULL, MBH_RUN_PIPE_STDOUT, &err) == 0, "a command that leaves a child behind");
		leader = mbh_child_pid(c);
		start = mbh_proc_starttime(leader);
		n = read(mbh_child_stdout_fd(c), line, sizeof(line) - 1);
		bg = n > 0 ? strtol(line, NULL, 10) : 0;
		bg_start = mbh_proc_starttime(bg);
		ok(mbh_child_wait(c, 10000, -1, &status, &err) == 0 && status == 0 && mbh_proc_starttime(leader) == 0,
		   "  its leader exited and was reaped");
		ok(bg > 0 && mbh_proc_running(bg, bg_start), "  its background child (%ld) runs on", bg);
		ok(mbh_run_kill_group(leader, start, mbh_proc_starttime, 3000),
		   "kill_group kills what is left of a group whose leader is gone");
		ok(!mbh_proc_running(bg, bg_start), "  the background child is dead when it returns");
		if (mbh_proc_running(bg, bg_start))
			kill((pid_t)bg, SIGKILL);
		mbh_child_free(c);
	}
}

/* Feeding a child's stdin: all of it, a child gone early (how much it read), a deadline, a cancel. */
static void
test_feed(void)
{
	const char *reader[] = { "/bin/sh", "-c", "cat >/dev/null", NULL };
	const char *quitter[] = { "/bin/sh", "-c", "exit 0", NULL };
	const char *part[] = { "/bin/sh", "-c", "dd bs=1 count=100 of=/dev/null 2>/dev/null", NULL };
	const char *stuck[] = { "/bin/sh", "-c", "exec sleep 30", NULL };
	static char big[1 << 20];
	mbh_child *c = NULL;
	mbh_error err;
	size_t in = 0;
	int64_t t0;
	int status = -1, p[2], rc;

	memset(big, 'x', sizeof(big));
	mbh_error_init(&err);
	ok(mbh_child_spawn(&c, reader, NULL, MBH_RUN_PIPE_STDIN, &err) == 0, "feed: spawn a reader");
	ok(mbh_child_feed(c, big, sizeof(big), &in, 0, -1, &err) == 0 && in == sizeof(big), "feed: 1 MiB written");
	mbh_child_close_stdin(c);
	ok(mbh_child_wait(c, 10000, -1, &status, &err) == 0 && status == 0, "  it read to the end and exited 0");
	is_int(mbh_child_stdin_unread(c), 0, "  nothing left unread");
	mbh_child_free(c);

	ok(mbh_child_spawn(&c, quitter, NULL, MBH_RUN_PIPE_STDIN, &err) == 0, "feed: a child that exits at once");
	ok(mbh_child_await(c, 10000, -1, -1, &err) == 0, "  has exited");
	rc = mbh_child_feed(c, big, sizeof(big), &in, 0, -1, &err);
	ok(rc == MBH_FEED_GONE && in == 0, "  MBH_FEED_GONE (no EPIPE, no SIGPIPE), nothing written (%zu)", in);
	mbh_child_free(c);

	ok(mbh_child_spawn(&c, part, NULL, MBH_RUN_PIPE_STDIN, &err) == 0, "feed: a child that reads 100 bytes");
	ok(mbh_child_feed(c, big, 5000, &in, 0, -1, &err) == 0 && in == 5000, "  5000 bytes fit in the pipe");
	mbh_child_close_stdin(c);
	ok(mbh_child_wait(c, 10000, -1, &status, &err) == 0 && status == 0, "  it exited 0");
	is_int(mbh_child_stdin_unread(c), 4900, "  4900 bytes left unread: it read 100");
	mbh_child_free(c);

	ok(mbh_child_spawn(&c, stuck, NULL, MBH_RUN_PIPE_STDIN, &err) == 0, "feed: a child that never reads");
	t0 = mbh_now_ms();
	rc = mbh_child_feed(c, big, sizeof(big), &in, t0 + 300, -1, &err);
	ok(rc == MBH_FEED_TIMEOUT && in < sizeof(big), "  MBH_FEED_TIMEOUT at the deadline (%zu bytes in)", in);
	ok(mbh_now_ms() - t0 < 2000, "  ... and not long after it (%lld ms)", (long long)(mbh_now_ms() - t0));
	if (pipe(p) == 0) {
		if (write(p[1], "x", 1) != 1)
			diag("write: %s", strerror(errno));
		rc = mbh_child_feed(c, big, sizeof(big), &in, 0, p[0], &err);
		ok(rc == MBH_FEED_CANCELLED, "  MBH_FEED_CANCELLED when the cancel fd is readable");
		close(p[0]);
		close(p[1]);
	}
	mbh_child_free(c);
}

int
main(void)
{
	tap_init();
	test_kill_grace();
	test_expand();
	test_expand_snapshot();
	test_capture();
	test_gated();
	test_gated_via();
	test_status();
	test_timeout_cancel();
	test_env_fds();
	test_dies_with_parent();
	test_feed();
	return tap_done();
}
