/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * mongo-backup-watchdog-release.c: the watchdog's releaser: unlock one
 * recorded fsync lock once lock.max_seconds have passed, however long it
 * takes.  The watchdog (mongo-backup-watchdog.c) becomes it by an exec at the
 * deadline, handing on its settings with what it learned and "fire"; it
 * loads the driver, which the watchdog never does.  Started without "fire",
 * it guards the lock itself first, as the watchdog does.
 */
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
#include "wdguard.h"

#define IDENT "mongo-backup-watchdog"
#define SETTINGS_MAX 65536

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
			 mbh_wall_ms() < mbh_state_deadline_ms(rec)
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

/* Exact mode: one try at fsyncUnlock through the mongos (every primary), then the balancer.  0: nothing locked. */
static int
release_cluster(mbh_logger *lg, const mbh_watchdog_settings *s, const mongoc_uri_t *uri, int attempt)
{
	char line[MBH_ERRMSG_LEN + 256];
	bool was_locked = false;
	mbh_error err;

	mbh_error_init(&err);
	MBH_CRASH("watchdog-release");
	if (mbh_cluster_fsync_unlock(uri, &was_locked, &err) != 0) {
		snprintf(line, sizeof(line), "watchdog: could not unlock %s through the mongos, try %d: %s; trying again",
			 s->set, attempt, err.msg);
		event(lg, MBH_LOG_ERROR, s, line);
		return -1;
	}
	snprintf(line, sizeof(line), "the fsync lock through the mongos (%s) %s; %s", s->set,
		 mbh_wall_ms() < s->deadline_ms ? "was to be released at mongo-postbackup's request"
						: "outlived lock.max_seconds",
		 was_locked ? "the watchdog unlocked every primary" : "it was released meanwhile");
	event(lg, was_locked ? MBH_LOG_ERROR : MBH_LOG_INFO, s, line);
	if (s->balancer_uri != NULL)
		start_balancer(lg, s);
	return 0;
}

/* What the guard's callbacks use. */
typedef struct releaser {
	mbh_logger *lg;
	const mongoc_uri_t *uri;
} releaser;

/* The guard's fire: one try at the release (then, for a cluster's component, the balancer). */
static int
fire(mbh_wd_guard *g, int attempt)
{
	const releaser *x = g->ctx;
	bool released = false;

	if (g->s->cluster_unlock)
		return release_cluster(x->lg, g->s, x->uri, attempt);
	if (try_release(x->lg, g->s, x->uri, &g->rec, attempt, &released) != 0)
		return -1;
	if (released && g->s->balancer_uri != NULL)
		start_balancer(x->lg, g->s);
	return 0;
}

/* The guard's warning: the record cannot be read. */
static void
warn(mbh_wd_guard *g, const char *msg)
{
	const releaser *x = g->ctx;

	mbh_logf(x->lg, MBH_LOG_WARNING, "watchdog: %s", msg);
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
	releaser x = { NULL, NULL };
	mbh_wd_guard g = { .stop = &stop_requested, .release_now = &release_requested, .fire = fire, .warn = warn,
			   .ctx = &x };
	mbh_error err;
	int rc = 1, fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_release;
	sigaction(MBH_WD_RELEASE_NOW, &sa, NULL);
	/*
	 * Started with it blocked (lib/watchdog.c), and by the watchdog with
	 * SIGTERM and SIGINT blocked too: one sent while we were starting was
	 * kept for these handlers.
	 */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, MBH_WD_RELEASE_NOW);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGINT);
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
	x.lg = lg;
	x.uri = uri;
	mbh_error_init(&err);
	/* handed on by the watchdog: what it learned; a record that does not parse leaves what it was handed */
	if (mbh_wd_guard_init(&g, s, &err) != 0)
		mbh_logf(lg, MBH_LOG_WARNING, "watchdog: %s", err.msg);
	if (!s->fire)
		MBH_CRASH("watchdog-go");
	rc = mbh_wd_guard_run(&g);
out:
	mongoc_uri_destroy(uri);
	mbh_logger_free(lg);
	explicit_bzero(&st, sizeof(st));
	if (lg != NULL)
		mongoc_cleanup();
	closelog();
	return rc;
}
