/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * mongo-backup-watchdog.c: guard one recorded fsync lock until it is
 * released, and at its deadline become the releaser
 * (mongo-backup-watchdog-release: an exec, the same pid) that unlocks it.
 * Only libc: a lock released in time, as nearly all are, never loads the
 * driver and its libraries (see lib/watchdog.h, lib/wdguard.h).
 */
#include "autoconfig.h"

#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "crash.h"
#include "fdio.h"
#include "state.h"
#include "watchdog.h"
#include "wdguard.h"

#define IDENT "mongo-backup-watchdog"
#define SETTINGS_MAX 65536
#define RECORD_MAX 4096 /* a formatted record (mbh_state_format) is well under this */

static volatile sig_atomic_t stop_requested, release_requested;

static void
on_term(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* SIGUSR1 (MBH_WD_RELEASE_NOW): release the lock we were handed now, as at the deadline. */
static void
on_release(int sig)
{
	(void)sig;
	release_requested = 1;
}

/* What the starting run sent on stdin: as sent (handed on at the deadline), and parsed from a copy. */
typedef struct settings {
	char raw[SETTINGS_MAX];
	size_t len;
	char buf[SETTINGS_MAX + 1];
	mbh_watchdog_settings s;
} settings;

/* Read the items until EOF and parse a copy (mbh_watchdog_settings_parse). */
static int
read_settings(settings *st, mbh_error *err)
{
	ssize_t r;

	memset(st, 0, sizeof(*st));
	while (st->len < SETTINGS_MAX) {
		r = read(0, st->raw + st->len, SETTINGS_MAX - st->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		st->len += (size_t)r;
	}
	if (st->len == SETTINGS_MAX)
		return mbh_error_set(err, EX_DATAERR, "watchdog settings: more than %d bytes", SETTINGS_MAX);
	memcpy(st->buf, st->raw, st->len);
	return mbh_watchdog_settings_parse(&st->s, st->buf, st->len, err);
}

/*
 * The guard's fire: become the releaser, its stdin a memory file holding
 * the settings as sent, what the record taught us and "fire".  Returns only
 * when that fails (the guard tries again after a backoff).
 */
static int
fire(mbh_wd_guard *g, int attempt)
{
	const settings *st = g->ctx;
	char rec[RECORD_MAX];
	char *const argv[] = { (char *)"mongo-backup-watchdog-release", NULL };
	sigset_t keep, old;
	int fd, n = 0, e;

	/*
	 * Held from here to the exec: a SIGTERM (someone released the lock) or a
	 * MBH_WD_RELEASE_NOW sent meanwhile waits for the releaser's handlers
	 * (it unblocks them), rather than being taken here and lost with us.
	 */
	sigemptyset(&keep);
	sigaddset(&keep, SIGTERM);
	sigaddset(&keep, SIGINT);
	sigaddset(&keep, MBH_WD_RELEASE_NOW);
	sigprocmask(SIG_BLOCK, &keep, &old);
	if (stop_requested) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -1; /* released meanwhile: the guard ends */
	}
	if (g->learned && (n = mbh_state_format(&g->rec, rec, sizeof(rec))) < 0)
		n = 0; /* cannot happen for a record we parsed; the releaser reads it again anyway */
	if ((fd = memfd_create(IDENT, MFD_CLOEXEC)) < 0 || mbh_fdio_write_all(fd, st->raw, st->len) != 0 ||
	    mbh_fdio_write_all(fd, MBH_WD_FIRE "=1", sizeof(MBH_WD_FIRE "=1")) != 0 ||
	    (n > 0 && (mbh_fdio_write_all(fd, MBH_WD_RECORD "=", sizeof(MBH_WD_RECORD)) != 0 ||
		       mbh_fdio_write_all(fd, rec, (size_t)n + 1) != 0)) ||
	    lseek(fd, 0, SEEK_SET) != 0 || dup2(fd, 0) != 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		sigprocmask(SIG_SETMASK, &old, NULL);
		syslog(LOG_ERR, "watchdog: cannot hand the lock on %s (set %s) to its releaser, try %d: %s; trying again",
		       g->rec.member, g->rec.set_name, attempt, strerror(e));
		return -1;
	}
	close(fd);
	execv(g->s->releaser, argv);
	e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	syslog(LOG_ERR, "watchdog: cannot start its releaser %s for the lock on %s (set %s), try %d: %s; trying again",
	       g->s->releaser, g->rec.member, g->rec.set_name, attempt, strerror(e));
	return -1;
}

/* The guard's warning: the record cannot be read. */
static void
warn(mbh_wd_guard *g, const char *msg)
{
	(void)g;
	syslog(LOG_WARNING, "watchdog: %s", msg);
}

int
main(void)
{
	static settings st;
	const mbh_watchdog_settings *s = &st.s;
	mbh_wd_guard g = { .stop = &stop_requested, .release_now = &release_requested, .fire = fire, .warn = warn,
			   .ctx = &st };
	struct sigaction sa;
	mbh_error err;
	int rc = 1, fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_release;
	sigaction(MBH_WD_RELEASE_NOW, &sa, NULL);
	/* started with it blocked (lib/watchdog.c): one sent while we were starting was kept for this handler */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, MBH_WD_RELEASE_NOW);
	sigprocmask(SIG_UNBLOCK, &sa.sa_mask, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	openlog(IDENT, LOG_PID, LOG_DAEMON);
	mbh_error_init(&err);
	if (read_settings(&st, &err) != 0 ||
	    (s->go && s->releaser == NULL &&
	     mbh_error_set(&err, EX_DATAERR, "watchdog settings: '%s' is missing", MBH_WD_RELEASER) != 0)) {
		/* named, never quoted (a value may be the password); the record names this dead watchdog for --status */
		syslog(LOG_ERR, "%s; nothing is guarded: run mongo-postbackup --status", err.msg);
		goto out;
	}
	if (!s->go) {
		rc = 0; /* the run stopped before its intent was on disk: nothing to guard */
		goto out;
	}
	/* the pipe is spent: hold nothing of the run that started us */
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	mbh_error_init(&err);
	if (mbh_wd_guard_init(&g, s, &err) != 0)
		syslog(LOG_WARNING, "watchdog: %s", err.msg);
	MBH_CRASH("watchdog-go");
	rc = mbh_wd_guard_run(&g);
out:
	explicit_bzero(&st, sizeof(st));
	closelog();
	return rc;
}
