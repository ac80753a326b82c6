/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* watchdog.c: start the watchdog program for one lock and hand it what it needs to unlock. */
#include "autoconfig.h"

#include <sys/random.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "proc.h"
#include "run.h"
#include "state.h"
#include "uri.h"
#include "testtime.h"
#include "watchdog.h"

struct mbh_watchdog {
	pid_t pid;
	uint64_t start;
	int fd; /* write end of its stdin; -1 once closed */
	char *path;
};

/* One "name=value\0" item, in one write when it fits (a few dozen items a lock, not one syscall per part). */
static int
send_item(int fd, const char *name, const char *value)
{
	char buf[1024];
	int n, rc;

	if (value == NULL)
		return 0;
	n = snprintf(buf, sizeof(buf), "%s=%s", name, value);
	if (n > 0 && (size_t)n < sizeof(buf)) {
		rc = mbh_fdio_write_all(fd, buf, (size_t)n + 1);
		explicit_bzero(buf, sizeof(buf)); /* it may hold the password */
		return rc;
	}
	explicit_bzero(buf, sizeof(buf));
	if (mbh_fdio_write_all(fd, name, strlen(name)) != 0 || mbh_fdio_write_all(fd, "=", 1) != 0 ||
	    mbh_fdio_write_all(fd, value, strlen(value) + 1) != 0)
		return -1;
	return 0;
}

/* See watchdog.h. */
const char *
mbh_watchdog_gate_path(const char *watchdog_path, const char *override, char *buf, size_t len)
{
	const char *slash = watchdog_path != NULL ? strrchr(watchdog_path, '/') : NULL;

	if (override != NULL && override[0] != '\0')
		snprintf(buf, len, "%s", override);
	else if (slash != NULL)
		snprintf(buf, len, "%.*s/mongo-backup-gate", (int)(slash - watchdog_path), watchdog_path);
	else
		snprintf(buf, len, "%s", "");
	return buf;
}

/* See watchdog.h. */
const char *
mbh_watchdog_releaser_path(const char *watchdog_path, char *buf, size_t len)
{
	const char *slash = watchdog_path != NULL ? strrchr(watchdog_path, '/') : NULL;

	if (slash != NULL)
		snprintf(buf, len, "%.*s/mongo-backup-watchdog-release", (int)(slash - watchdog_path), watchdog_path);
	else
		snprintf(buf, len, "%s", "");
	return buf;
}

/* Start; see watchdog.h. */
int
mbh_watchdog_spawn(mbh_watchdog **out, const char *path, mbh_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults; /* none: all but MBH_WD_RELEASE_NOW unblocked */
	mbh_watchdog *w = NULL;
	char *const argv[] = { (char *)"mongo-backup-watchdog", NULL };
	/*
	 * No libmongoc counters in /dev/shm: nobody reads a watchdog's, and one
	 * stopped (SIGTERM) while it starts would leave its file behind.
	 */
	char *envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *)"MONGOC_DISABLE_SHM=1", NULL, NULL,
			 NULL };
#ifdef MBH_CRASH_POINTS
	char crash_at[128], second[64];
	const char *at = getenv("MBH_CRASH_AT"), *sec = getenv(MBH_TEST_SECOND_ENV);
	int nenv = 2; /* after PATH and MONGOC_DISABLE_SHM */
#endif
	char releaser[4096];
	int fds[2] = { -1, -1 }, rc = -1, e;
	bool fa_ok = false, attr_ok = false;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL || (w->path = strdup(path)) == NULL) {
		free(w);
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	w->fd = -1;
	w->pid = -1;
	/* its releaser is exec'd only at the deadline: one that is not there is said now */
	mbh_watchdog_releaser_path(path, releaser, sizeof(releaser));
	if (releaser[0] == '\0' || access(releaser, X_OK) != 0) {
		mbh_error_set(err, EX_UNAVAILABLE, "cannot start the watchdog %s: its releaser %s: %s; nothing was locked",
			      path, releaser[0] != '\0' ? releaser : "(no directory)",
			      releaser[0] != '\0' ? strerror(errno) : "not an absolute path");
		goto out;
	}
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
	/*
	 * MBH_WD_RELEASE_NOW blocked until the watchdog has its handler (it
	 * unblocks it then): one sent while it starts is kept for it, never
	 * taken by the default action (death).
	 */
	sigemptyset(&none);
	sigaddset(&none, MBH_WD_RELEASE_NOW);
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

/* The settings. */
int
mbh_watchdog_send(mbh_watchdog *w, const mbh_config *cfg, const char *set, const char *token, mbh_error *err)
{
	char timeout[32], releaser[4096];

	snprintf(timeout, sizeof(timeout), "%d", cfg->connect_timeout_ms);
	mbh_watchdog_releaser_path(w->path, releaser, sizeof(releaser));
	if (w->fd < 0 || send_item(w->fd, MBH_WD_URI, cfg->uri) != 0 ||
	    send_item(w->fd, MBH_WD_USERNAME, cfg->username) != 0 ||
	    send_item(w->fd, MBH_WD_PASSWORD, cfg->password) != 0 ||
	    send_item(w->fd, MBH_WD_CONNECT_TIMEOUT, timeout) != 0 ||
	    send_item(w->fd, MBH_WD_STATE_DIR, cfg->state_dir) != 0 || send_item(w->fd, MBH_WD_SET, set) != 0 ||
	    send_item(w->fd, MBH_WD_TOKEN, token) != 0 || send_item(w->fd, MBH_WD_METRICS, cfg->metrics.textfile) != 0 ||
	    send_item(w->fd, MBH_WD_METRICS_FSYNC, cfg->metrics.fsync > 0 ? "1" : "0") != 0 ||
	    send_item(w->fd, MBH_WD_BALANCER_URI, cfg->cluster.balancer_uri) != 0 ||
	    send_item(w->fd, MBH_WD_RELEASER, releaser[0] != '\0' ? releaser : NULL) != 0)
		return mbh_error_set(err, EX_OSERR, "the watchdog (pid %ld) exited before it was told what to guard; "
				     "nothing was locked", (long)w->pid);
	return 0;
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
	snprintf(deadline, sizeof(deadline), "%lld", (long long)mbh_state_deadline_ms(rec));
	snprintf(cpid, sizeof(cpid), "%ld", rec->command_pid);
	snprintf(cstart, sizeof(cstart), "%llu", (unsigned long long)rec->command_start);
	if (send_item(w->fd, MBH_WD_MEMBER, rec->member) != 0 || send_item(w->fd, MBH_WD_DEADLINE_MS, deadline) != 0 ||
	    send_item(w->fd, MBH_WD_COMMAND_PID, cpid) != 0 || send_item(w->fd, MBH_WD_COMMAND_START, cstart) != 0 ||
	    mbh_fdio_write_all(w->fd, MBH_WD_GO "=1", sizeof(MBH_WD_GO "=1")) != 0)
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
	free(w->path);
	free(w);
}

/* Reap an exited child watchdog: woken by its exit (pidfd), or polling every 5 ms without one. */
bool
mbh_watchdog_reap(long pid, int timeout_ms)
{
	struct timespec tick = { 0, 5 * 1000 * 1000 };
	struct pollfd pfd = { .fd = -1, .events = POLLIN };
	int waited = 0;
	pid_t r;

	if (pid <= 0)
		return true;
	if (timeout_ms > 0 && (pfd.fd = mbh_pidfd_open(pid)) >= 0) {
		while (poll(&pfd, 1, timeout_ms) < 0 && errno == EINTR)
			;
		close(pfd.fd);
		waited = timeout_ms; /* waited already: one look below */
	}
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

/* The items of the settings stream: what each holds and where it goes. */
enum item_kind {
	ITEM_TEXT, ITEM_URI, ITEM_PATH, ITEM_SET, ITEM_TOKEN, ITEM_MEMBER, /* const char * */
	ITEM_MS,     /* int, 1 to MBH_URI_CONNECT_TIMEOUT_MAX_MS */
	ITEM_TIME,   /* int64_t, unix seconds, kept as ms */
	ITEM_TIME_MS, /* int64_t, unix ms */
	ITEM_PID,    /* long, 0 (none) to PID_MAX */
	ITEM_START,  /* uint64_t, a /proc start time */
	ITEM_BIT,    /* bool, "0" or "1" */
	ITEM_GO,     /* bool, "1" */
	ITEM_RECORD  /* const char *, not empty (a record's text, parsed where it is used) */
};

/* The kernel's largest pid_max (2^22). */
#define PID_MAX 4194304

#define SET_OFF(field) offsetof(mbh_watchdog_settings, field)

static const struct {
	const char *name;
	enum item_kind kind;
	bool required;
	size_t off; /* where it goes, of the kind's type */
} items[] = {
	{ MBH_WD_URI, ITEM_URI, true, SET_OFF(uri) },
	{ MBH_WD_USERNAME, ITEM_TEXT, false, SET_OFF(username) },
	{ MBH_WD_PASSWORD, ITEM_TEXT, false, SET_OFF(password) },
	{ MBH_WD_CONNECT_TIMEOUT, ITEM_MS, false, SET_OFF(connect_timeout_ms) },
	{ MBH_WD_STATE_DIR, ITEM_PATH, true, SET_OFF(state_dir) },
	{ MBH_WD_SET, ITEM_SET, true, SET_OFF(set) },
	{ MBH_WD_TOKEN, ITEM_TOKEN, true, SET_OFF(token) },
	{ MBH_WD_MEMBER, ITEM_MEMBER, false, SET_OFF(member) },
	{ MBH_WD_DEADLINE_MS, ITEM_TIME_MS, false, SET_OFF(deadline_ms) },
	{ MBH_WD_DEADLINE, ITEM_TIME, false, SET_OFF(deadline_ms) },
	{ MBH_WD_COMMAND_PID, ITEM_PID, false, SET_OFF(command_pid) },
	{ MBH_WD_COMMAND_START, ITEM_START, false, SET_OFF(command_start) },
	{ MBH_WD_METRICS, ITEM_PATH, false, SET_OFF(metrics) },
	{ MBH_WD_METRICS_FSYNC, ITEM_BIT, false, SET_OFF(metrics_fsync) },
	{ MBH_WD_BALANCER_URI, ITEM_URI, false, SET_OFF(balancer_uri) },
	{ MBH_WD_GO, ITEM_GO, false, SET_OFF(go) },
	{ MBH_WD_RELEASER, ITEM_PATH, false, SET_OFF(releaser) },
	{ MBH_WD_RECORD, ITEM_RECORD, false, SET_OFF(record) },
	{ MBH_WD_FIRE, ITEM_GO, false, SET_OFF(fire) },
};

#define NITEMS (sizeof(items) / sizeof(items[0]))

/* An unsigned decimal of at most 20 digits: *out, true. */
static bool
unsigned_ok(const char *v, unsigned long long *out)
{
	char *end;

	if (v[0] < '0' || v[0] > '9' || strlen(v) > 20)
		return false;
	errno = 0;
	*out = strtoull(v, &end, 10);
	return *end == '\0' && errno == 0;
}

/* Is v a good value for item i?  0, or -1 with what is wrong. */
static int
item_check(size_t i, const char *v, mbh_error *err)
{
	const char *name = items[i].name;
	char *end, why[128];
	unsigned long long u;
	long n;
	size_t k;

	switch (items[i].kind) {
	case ITEM_TEXT:
		return 0;
	case ITEM_URI:
	case ITEM_RECORD:
		if (v[0] == '\0')
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: '%s' is empty", name);
		return 0;
	case ITEM_PATH:
		if (v[0] != '/')
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: '%s' is not an absolute path", name);
		return 0;
	case ITEM_SET:
		if (!mbh_state_set_name_ok(v))
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: '%s' is not a replica set name", name);
		return 0;
	case ITEM_TOKEN:
		for (k = 0; v[k] != '\0' && strchr("0123456789abcdef", v[k]) != NULL; k++)
			;
		if (k != MBH_TOKEN_LEN || v[k] != '\0')
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: '%s' is not %d hex digits", name,
					     MBH_TOKEN_LEN);
		return 0;
	case ITEM_MS:
		errno = 0;
		n = strtol(v, &end, 10);
		if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < 1 || n > MBH_URI_CONNECT_TIMEOUT_MAX_MS)
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: '%s' must be an integer between 1 and %d",
					     name, MBH_URI_CONNECT_TIMEOUT_MAX_MS);
		return 0;
	case ITEM_MEMBER:
		if (mbh_hostport_check(v, why, sizeof(why)) != 0)
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: '%s' is not HOST:PORT (%s)", name, why);
		return 0;
	case ITEM_TIME:
	case ITEM_TIME_MS:
	case ITEM_START:
		if (!unsigned_ok(v, &u) || (items[i].kind == ITEM_TIME_MS && u > INT64_MAX) ||
		    (items[i].kind == ITEM_TIME && u > INT64_MAX / 1000))
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: '%s' is not an unsigned number", name);
		return 0;
	case ITEM_PID:
		if (!unsigned_ok(v, &u) || u > PID_MAX)
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: '%s' is not a pid (0 to %d)", name,
					     PID_MAX);
		return 0;
	case ITEM_BIT:
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: '%s' is neither 0 nor 1", name);
		return 0;
	case ITEM_GO:
		if (strcmp(v, "1") != 0) /* what mbh_watchdog_go sends */
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: '%s' is not 1", name);
		return 0;
	}
	return mbh_error_set(err, EX_SOFTWARE, "watchdog settings: '%s' has no kind", name);
}

/* Parse the settings stream; see watchdog.h. */
int
mbh_watchdog_settings_parse(mbh_watchdog_settings *out, char *buf, size_t len, mbh_error *err)
{
	bool seen[NITEMS] = { false };
	char *p, *next, *eq, *end = buf + len, *field;
	size_t i, k, n = 0;

	memset(out, 0, sizeof(*out));
	for (p = buf; p < end; p = next, n++) {
		if ((next = memchr(p, '\0', (size_t)(end - p))) == NULL)
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: item %zu is cut short", n + 1);
		next++;
		if ((eq = strchr(p, '=')) == NULL)
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: item %zu has no '='", n + 1);
		*eq++ = '\0';
		for (i = 0; i < NITEMS && strcmp(p, items[i].name) != 0; i++)
			;
		if (i == NITEMS)
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: item %zu has an unknown name (a run of "
					     "another version?)", n + 1);
		if (seen[i])
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: '%s' is given twice", items[i].name);
		seen[i] = true;
		/* two names for one field (deadline in seconds from earlier versions, deadline_ms): one only */
		for (k = 0; k < NITEMS; k++)
			if (k != i && seen[k] && items[k].off == items[i].off)
				return mbh_error_set(err, EX_DATAERR, "watchdog settings: '%s' and '%s' are both given",
						     items[k].name, items[i].name);
		if (item_check(i, eq, err) != 0)
			return -1;
		field = (char *)out + items[i].off;
		switch (items[i].kind) {
		case ITEM_MS:
			*(int *)field = (int)strtol(eq, NULL, 10);
			break;
		case ITEM_TIME:
			*(int64_t *)field = (int64_t)strtoull(eq, NULL, 10) * 1000;
			break;
		case ITEM_TIME_MS:
			*(int64_t *)field = (int64_t)strtoull(eq, NULL, 10);
			break;
		case ITEM_PID:
			*(long *)field = (long)strtoul(eq, NULL, 10);
			break;
		case ITEM_START:
			*(uint64_t *)field = (uint64_t)strtoull(eq, NULL, 10);
			break;
		case ITEM_BIT:
		case ITEM_GO:
			*(bool *)field = eq[0] == '1';
			break;
		default:
			*(const char **)field = eq;
			break;
		}
	}
	for (i = 0; i < NITEMS; i++)
		if (items[i].required && !seen[i])
			return mbh_error_set(err, EX_DATAERR, "watchdog settings: '%s' is missing", items[i].name);
	return 0;
}
