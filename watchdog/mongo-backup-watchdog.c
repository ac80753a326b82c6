/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* mongo-backup-watchdog.c: unlock one recorded fsync lock once lock.max_seconds have passed, however long it takes. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "cluster.h"
#include "config.h"
#include "crash.h"
#include "lock.h"
#include "log.h"
#include "metrics.h"
#include "release.h"
#include "state.h"
#include "testtime.h"
#include "timefmt.h"
#include "uri.h"
#include "watchdog.h"

#define IDENT "mongo-backup-watchdog"
#define SETTINGS_MAX 65536
#define POLL_S 1        /* how often the record is read while the deadline is far */
#define BACKOFF_MAX_S 60 /* the longest wait between two tries at the unlock */

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

/* What the starting run sent on stdin: the items, parsed in place into s. */
typedef struct settings {
	char buf[SETTINGS_MAX + 1];
	mbh_watchdog_settings s;
} settings;

/* Read the items until EOF and parse them (mbh_watchdog_settings_parse). */
static int
read_settings(settings *st, mbh_error *err)
{
	size_t used = 0;
	ssize_t r;

	memset(st, 0, sizeof(*st));
	while (used < SETTINGS_MAX) {
		r = read(0, st->buf + used, SETTINGS_MAX - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		used += (size_t)r;
	}
	if (used == SETTINGS_MAX)
		return mbh_error_set(err, EX_DATAERR, "watchdog settings: more than %d bytes", SETTINGS_MAX);
	return mbh_watchdog_settings_parse(&st->s, st->buf, used, err);
}

/* Log a line loudly: syslog (through the logger) and DIR/SET.events (0600, no symlinks). */
static void
event(mbh_logger *lg, mbh_log_level level, const mbh_watchdog_settings *s, const char *line)
{
	char path[4096], buf[2048], now[64];
	int fd, n;

	mbh_logf(lg, level, "%s", line);
	snprintf(path, sizeof(path), "%s/%s.events", s->state_dir, s->set);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return; /* a read-only state directory: syslog has it */
	mbh_fmt_time(time(NULL), now, sizeof(now));
	mbh_logger_redact(lg, line, buf, sizeof(buf) - 100);
	n = snprintf(path, sizeof(path), "%s %s\n", now, buf);
	if (n > 0 && write(fd, path, (size_t)n < sizeof(path) ? (size_t)n : sizeof(path) - 1) < 0)
		n = -1;
	close(fd);
}

/* Sleep up to ms milliseconds, waking early on SIGTERM or SIGUSR1. */
static void
nap(int64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };

	if (!stop_requested && !release_requested && ms > 0)
		nanosleep(&ts, NULL);
}

/* The wall clock in ms (the record's deadline is wall-clock seconds). */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One try at releasing the lock rec describes.  Returns 0 when nothing is locked any more. */
static int
try_release(mbh_logger *lg, const mbh_watchdog_settings *s, const mongoc_uri_t *uri, const mbh_state_rec *rec,
	    int attempt, bool *released_out)
{
	mbh_lock_session *session = NULL;
	mbh_metrics m = { .textfile = s->metrics, .state_dir = s->state_dir, .fsync = s->metrics_fsync, .log = lg };
	char line[MBH_ERRMSG_LEN + MBH_SNAPSHOT_MAX + 1024];
	bool released = false;
	mbh_error err;
	int rc = -1;

	mbh_error_init(&err);
	MBH_CRASH("watchdog-release");
	if (mbh_lock_session_new(&session, uri, rec->member, NULL, &err) == 0 &&
	    mbh_release(lg, session, s->state_dir, rec, MBH_RELEASER_WATCHDOG, &stop_requested, &released, &err) == 0) {
		snprintf(line, sizeof(line), "the fsync lock on %s (set %s, job %s, pid %ld) %s; %s%s%s",
			 rec->member, rec->set_name, rec->job[0] != '\0' ? rec->job : "-", rec->pid,
			 now_ms() < rec->deadline * 1000
				 ? "was to be released at mongo-postbackup's request (its record was changed by hand)"
				 : "outlived lock.max_seconds",
			 released ? "the watchdog unlocked it" : "it was released meanwhile",
			 released && rec->snapshot[0] != '\0' ? "; its snapshot stays for mongo-postbackup: " : "",
			 released ? rec->snapshot : "");
		event(lg, released ? MBH_LOG_ERROR : MBH_LOG_INFO, s, line);
		rc = 0;
	} else if (released) {
		/* unlocked; only the record could not be removed */
		snprintf(line, sizeof(line), "watchdog: %s", err.msg);
		event(lg, MBH_LOG_ERROR, s, line);
		rc = 0;
	} else {
		snprintf(line, sizeof(line),
			 "watchdog: could not unlock %s (set %s) after lock.max_seconds, try %d: %s; trying again",
			 rec->member, rec->set_name, attempt, err.msg);
		event(lg, MBH_LOG_ERROR, s, line);
	}
	if (rc == 0)
		mbh_metrics_note_release(&m, rec, released, true);
	*released_out = released;
	mbh_lock_session_free(session);
	return rc;
}

/*
 * A cluster's component released here at its deadline: the run that stopped
 * the balancer is gone, so start it again (each component's watchdog does:
 * the command is idempotent).  Failures are logged: mongo-postbackup, which
 * the cluster's record still asks for, tries again.
 */
static void
start_balancer(mbh_logger *lg, const mbh_watchdog_settings *s)
{
	mongoc_uri_t *uri = NULL;
	mbh_uri_settings us = { .uri = s->balancer_uri, .username = s->username, .password = s->password,
				.connect_timeout_ms = s->connect_timeout_ms };
	char line[MBH_ERRMSG_LEN + 128];
	mbh_error err;

	mbh_error_init(&err);
	if (mbh_uri_build(&uri, &us, &err) == 0 && mbh_cluster_balancer_start(uri, &err) == 0)
		snprintf(line, sizeof(line), "watchdog: started the balancer of the cluster %s belongs to", s->set);
	else
		snprintf(line, sizeof(line), "watchdog: could not start the balancer again (run mongo-postbackup): %s",
			 err.msg);
	event(lg, err.code == 0 ? MBH_LOG_WARNING : MBH_LOG_ERROR, s, line);
	mongoc_uri_destroy(uri);
}

/*
 * What the record adds to what we were handed (the lockCount, the phase, the
 * command reading the member, the snapshot): the member, the token and the
 * deadline stay the ones we were handed, whatever the file says.
 */
static void
learn(mbh_state_rec *rec, const mbh_state_rec *cur)
{
	mbh_state_rec k = *rec;

	*rec = *cur;
	/* a run of an earlier version hands neither: then the first record it wrote tells them, once */
	if (k.member[0] != '\0')
		memcpy(rec->member, k.member, sizeof(rec->member));
	memcpy(rec->token, k.token, sizeof(rec->token));
	memcpy(rec->set_name, k.set_name, sizeof(rec->set_name));
	if (k.deadline > 0)
		rec->deadline = k.deadline;
	if (rec->command_pid <= 0) {
		rec->command_pid = k.command_pid;
		rec->command_start = k.command_start;
	}
}

/* Guard the lock until it is released, by someone else or by us. */
static int
guard(mbh_logger *lg, const mbh_watchdog_settings *s, const mongoc_uri_t *uri)
{
	mbh_state_rec rec, cur;
	mbh_error err;
	bool present = false, fired = false, warned = false, released = false;
	int64_t poll_ms = mbh_seconds_ms(POLL_S), backoff = poll_ms, left;
	int attempt = 0;

	/* what we were handed: a lock that may or may not be taken yet (LOCKING) until the record says more */
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.set_name, sizeof(rec.set_name), "%s", s->set);
	snprintf(rec.member, sizeof(rec.member), "%s", s->member != NULL ? s->member : "");
	snprintf(rec.token, sizeof(rec.token), "%s", s->token);
	snprintf(rec.mode, sizeof(rec.mode), "hooks");
	rec.phase = MBH_PHASE_LOCKING;
	rec.deadline = s->deadline;
	rec.command_pid = s->command_pid;
	rec.command_start = s->command_start;
	while (!stop_requested) {
		mbh_error_init(&err);
		if (mbh_state_peek(s->state_dir, s->set, &cur, &present, &err) != 0) {
			/* unreadable (being replaced, a full disk, touched by hand): the deadline still holds */
			if (!warned)
				mbh_logf(lg, MBH_LOG_WARNING, "watchdog: %s", err.msg);
			warned = true;
		} else if (present && mbh_release_same_lock(&cur, &rec)) {
			/* SNAPSHOT: unlocked; the snapshot left is mongo-postbackup's */
			if (cur.phase == MBH_PHASE_SNAPSHOT)
				return 0;
			learn(&rec, &cur);
		} else if (present) {
			/* another run's record: that run found none, so ours was released */
			return 0;
		} else if (s->member == NULL) {
			/* a run of an earlier version, which hands nothing: its record is all we know */
			return 0;
		}
		/* no record: released (then we get SIGTERM) or removed by hand: the deadline still holds */
		if (rec.deadline <= 0 || rec.member[0] == '\0') {
			nap(poll_ms); /* not handed what it guards and no record read yet */
			continue;
		}
		/* wake on the deadline itself, not up to a poll after it */
		left = rec.deadline * 1000 - now_ms();
		if (!fired && left > 0 && !release_requested) {
			nap(left < poll_ms ? left : poll_ms);
			continue;
		}
		fired = true;
		MBH_CRASH("watchdog-fired");
		if (try_release(lg, s, uri, &rec, ++attempt, &released) == 0) {
			if (released && s->balancer_uri != NULL)
				start_balancer(lg, s);
			return 0;
		}
		nap(backoff);
		backoff = backoff * 2 > mbh_seconds_ms(BACKOFF_MAX_S) ? mbh_seconds_ms(BACKOFF_MAX_S) : backoff * 2;
	}
	return 0;
}

int
main(void)
{
	static settings st;
	const mbh_watchdog_settings *s = &st.s;
	mongoc_uri_t *uri = NULL;
	mbh_logger *lg = NULL;
	struct sigaction sa;
	mbh_uri_settings us;
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
	if (read_settings(&st, &err) != 0) {
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
	mongoc_init();
	if (mbh_logger_new(&lg, IDENT, MBH_LOG_INFO, MBH_LOG_SYSLOG, NULL, NULL) != 0)
		goto out;
	mbh_logger_add_secret(lg, s->password);
	us.uri = s->uri;
	us.username = s->username;
	us.password = s->password;
	us.password_file = NULL;
	us.connect_timeout_ms = s->connect_timeout_ms;
	mbh_error_init(&err);
	if (mbh_uri_build(&uri, &us, &err) != 0) {
		mbh_logf(lg, MBH_LOG_ERROR, "watchdog: %s", err.msg);
		goto out;
	}
	MBH_CRASH("watchdog-go");
	rc = guard(lg, s, uri);
out:
	mongoc_uri_destroy(uri);
	mbh_logger_free(lg);
	explicit_bzero(&st, sizeof(st));
	if (lg != NULL)
		mongoc_cleanup();
	closelog();
	return rc;
}
