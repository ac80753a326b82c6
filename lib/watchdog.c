/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* watchdog.c: start the watchdog program for one lock and hand it what it needs to unlock. */
#include "autoconfig.h"

#include <sys/random.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "state.h"
#include "testtime.h"
#include "watchdog.h"

struct mbh_watchdog {
	pid_t pid;
	uint64_t start;
	int fd; /* write end of its stdin; -1 once closed */
};

/* write(2) all of buf. */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t w;

	while (len > 0) {
		w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* One "name=value\0" item. */
static int
send_item(int fd, const char *name, const char *value)
{
	if (value == NULL)
		return 0;
	if (write_all(fd, name, strlen(name)) != 0 || write_all(fd, "=", 1) != 0 ||
	    write_all(fd, value, strlen(value) + 1) != 0)
		return -1;
	return 0;
}

/* Start; see watchdog.h. */
int
mbh_watchdog_start(mbh_watchdog **out, const char *path, const mbh_config *cfg, const char *set,
		   const char *token, mbh_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	mbh_watchdog *w = NULL;
	char *const argv[] = { (char *)"mongo-backup-watchdog", NULL };
	char *envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL, NULL, NULL };
#ifdef MBH_CRASH_POINTS
	char crash_at[128], second[64];
	const char *at = getenv("MBH_CRASH_AT"), *sec = getenv(MBH_TEST_SECOND_ENV);
	int nenv = 1;
#endif
	char timeout[32];
	int fds[2] = { -1, -1 }, rc = -1, e;
	bool fa_ok = false, attr_ok = false;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	w->fd = -1;
	w->pid = -1;
	if (pipe2(fds, O_CLOEXEC) != 0) {
		mbh_error_set(err, EX_OSERR, "cannot start the watchdog: pipe: %s", strerror(errno));
		goto out;
	}
	fa_ok = posix_spawn_file_actions_init(&fa) == 0;
	attr_ok = posix_spawnattr_init(&attr) == 0;
	if (!fa_ok || !attr_ok) {
		mbh_error_set(err, EX_OSERR, "cannot start the watchdog: out of memory");
		goto out;
	}
	/* stdin is the pipe, stdout/stderr /dev/null, nothing else of the host (Bacula's sockets, the flock) */
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGHUP);
	sigaddset(&defaults, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	/* its own session: a Ctrl-C or a kill of the caller's process group must not reach it */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
#ifdef MBH_CRASH_POINTS
	/* test builds: the crash tests reach the watchdog's own points (watchdog-*) through the same variable */
	if (at != NULL && at[0] != '\0' && strlen(at) < sizeof(crash_at) - sizeof("MBH_CRASH_AT=")) {
		snprintf(crash_at, sizeof(crash_at), "MBH_CRASH_AT=%s", at);
		envp[nenv++] = crash_at;
	}
	/* ... and its poll and backoff count the seconds the run counts (testtime.h) */
	if (sec != NULL && sec[0] != '\0' && strlen(sec) < sizeof(second) - sizeof(MBH_TEST_SECOND_ENV "=")) {
		snprintf(second, sizeof(second), MBH_TEST_SECOND_ENV "=%s", sec);
		envp[nenv++] = second;
	}
#endif
	e = posix_spawn(&w->pid, path, &fa, &attr, argv, envp);
	if (e != 0) {
		w->pid = -1;
		mbh_error_set(err, EX_UNAVAILABLE, "cannot start the watchdog %s: %s; nothing was locked", path,
			      strerror(e));
		goto out;
	}
	close(fds[0]);
	fds[0] = -1;
	w->fd = fds[1];
	fds[1] = -1;
	w->start = mbh_proc_starttime(w->pid);
	snprintf(timeout, sizeof(timeout), "%d", cfg->connect_timeout_ms);
	if (send_item(w->fd, MBH_WD_URI, cfg->uri) != 0 || send_item(w->fd, MBH_WD_USERNAME, cfg->username) != 0 ||
	    send_item(w->fd, MBH_WD_PASSWORD, cfg->password) != 0 ||
	    send_item(w->fd, MBH_WD_CONNECT_TIMEOUT, timeout) != 0 ||
	    send_item(w->fd, MBH_WD_STATE_DIR, cfg->state_dir) != 0 || send_item(w->fd, MBH_WD_SET, set) != 0 ||
	    send_item(w->fd, MBH_WD_TOKEN, token) != 0 || send_item(w->fd, MBH_WD_METRICS, cfg->metrics.textfile) != 0 ||
	    send_item(w->fd, MBH_WD_METRICS_FSYNC, cfg->metrics.fsync > 0 ? "1" : "0") != 0) {
		mbh_error_set(err, EX_OSERR, "cannot start the watchdog %s: it exited at once; nothing was locked",
			      path);
		goto out;
	}
	*out = w;
	w = NULL;
	rc = 0;
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (w != NULL && w->pid > 0) {
		kill(w->pid, SIGTERM);
		mbh_watchdog_reap(w->pid, 1000);
	}
	mbh_watchdog_free(w);
	return rc;
}

long
mbh_watchdog_pid(const mbh_watchdog *w)
{
	return w != NULL ? (long)w->pid : 0;
}

uint64_t
mbh_watchdog_starttime(const mbh_watchdog *w)
{
	return w != NULL ? w->start : 0;
}

/* What it guards, then "go". */
int
mbh_watchdog_go(mbh_watchdog *w, const mbh_state_rec *rec, mbh_error *err)
{
	char deadline[32], cpid[32], cstart[32];
	int rc = 0;

	if (w == NULL || w->fd < 0)
		return mbh_error_set(err, EX_SOFTWARE, "the watchdog is not waiting for go");
	snprintf(deadline, sizeof(deadline), "%lld", (long long)rec->deadline);
	snprintf(cpid, sizeof(cpid), "%ld", rec->command_pid);
	snprintf(cstart, sizeof(cstart), "%llu", (unsigned long long)rec->command_start);
	if (send_item(w->fd, MBH_WD_MEMBER, rec->member) != 0 || send_item(w->fd, MBH_WD_DEADLINE, deadline) != 0 ||
	    send_item(w->fd, MBH_WD_COMMAND_PID, cpid) != 0 || send_item(w->fd, MBH_WD_COMMAND_START, cstart) != 0 ||
	    write_all(w->fd, MBH_WD_GO "=1", sizeof(MBH_WD_GO "=1")) != 0)
		rc = mbh_error_set(err, EX_OSERR, "the watchdog (pid %ld) exited before the lock; nothing was locked",
				   (long)w->pid);
	close(w->fd);
	w->fd = -1;
	return rc;
}

/* Close and free. */
void
mbh_watchdog_free(mbh_watchdog *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	free(w);
}

/* Reap an exited child watchdog. */
bool
mbh_watchdog_reap(long pid, int timeout_ms)
{
	struct timespec tick = { 0, 5 * 1000 * 1000 };
	int waited = 0;
	pid_t r;

	if (pid <= 0)
		return true;
	for (;;) {
		r = waitpid((pid_t)pid, NULL, WNOHANG);
		if (r > 0 || (r < 0 && errno != EINTR))
			return true; /* reaped, or not our child (ECHILD) */
		if (waited >= timeout_ms)
			return false; /* still running */
		nanosleep(&tick, NULL);
		waited += 5;
	}
}

/* A random token. */
int
mbh_token_new(char *buf, size_t len)
{
	unsigned char raw[MBH_TOKEN_LEN / 2];
	size_t i, got = 0;
	ssize_t r;

	if (len < MBH_TOKEN_LEN + 1)
		return -1;
	while (got < sizeof(raw)) {
		r = getrandom(raw + got, sizeof(raw) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	for (i = 0; i < sizeof(raw); i++)
		snprintf(buf + 2 * i, 3, "%02x", raw[i]);
	return 0;
}
