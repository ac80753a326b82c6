/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* job.c: the pre/post/exec/status/dry-run flows and the watchdog, on the core modules. */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "lock.h"
#include "log.h"
#include "mongoerr.h"
#include "run.h"
#include "select.h"
#include "state.h"
#include "topology.h"
#include "uri.h"

#define MAX_LOCAL_HOSTS 64

struct mbh_job {
	const mbh_config *cfg;
	char *job_name;          /* "" when none */
	char *mode;
	char *set_override;      /* NULL when none */
	int cancel_fd;
	bool watchdog;
	char *watchdog_ident;
	mongoc_uri_t *uri;       /* built once, holds the credentials */
	mongoc_client_t *client; /* discovery */
	mbh_state *state;        /* flock held while not NULL */
	mbh_lock_session *session;
	mbh_state_rec rec;       /* what is recorded */
	bool held;               /* rec describes a lock we hold */
	char set[128];
};

/* "2024-05-01 12:00:00 +0200" */
static void
fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(buf, len, "@%lld", (long long)t);
}

static char *
dup_or_empty(const char *s)
{
	return strdup(s != NULL ? s : "");
}

/* Build the URI once (it validates and applies the credentials). */
static int
job_uri(mbh_job *j, mbh_error *err)
{
	if (j->uri != NULL)
		return 0;
	return mbh_uri_build(&j->uri, j->cfg, err);
}

/* Every required tag is in the member's hello "tags". */
static bool
hello_has_tags(const bson_t *hello, const mbh_config *cfg)
{
	bson_iter_t it, tag;
	size_t k;

	for (k = 0; k < cfg->selection.ntags; k++) {
		if (!bson_iter_init_find(&it, hello, "tags") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
		    !bson_iter_recurse(&it, &tag) || !bson_iter_find(&tag, cfg->selection.tags[k].key) ||
		    !BSON_ITER_HOLDS_UTF8(&tag) || strcmp(bson_iter_utf8(&tag, NULL), cfg->selection.tags[k].value) != 0)
			return false;
	}
	return true;
}

/*
 * The visible secondary that will probably be locked, guessed from the
 * unauthenticated hello of each member: the forced member, else a passive
 * (priority 0) secondary before the others, with the required tags, the
 * freshest lastWrite first.  Discovery then asks that member, and the lock
 * reuses its authenticated connection: libmongoc 1.23 derives the SCRAM key
 * once per member connection, ~20 ms each.  0 = no guess.  A wrong guess
 * (say a hidden member is chosen) only costs that second derivation.
 */
static uint32_t
likely_member(mbh_job *j)
{
	mongoc_server_description_t **sds = NULL;
	const mongoc_host_list_t *h;
	const bson_t *hello;
	bson_iter_t it, lw;
	size_t n = 0, i;
	uint32_t best = 0;
	int64_t best_write = -1, write;
	int best_score = -1, score;

	if ((sds = mongoc_client_get_server_descriptions(j->client, &n)) == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		if (strcmp(mongoc_server_description_type(sds[i]), "RSSecondary") != 0 ||
		    (h = mongoc_server_description_host(sds[i])) == NULL)
			continue;
		if (j->cfg->selection.policy == MBH_POLICY_MEMBER) {
			if (j->cfg->selection.member != NULL && strcasecmp(h->host_and_port, j->cfg->selection.member) == 0)
				best = mongoc_server_description_id(sds[i]);
			continue;
		}
		hello = mongoc_server_description_hello_response(sds[i]);
		if (!hello_has_tags(hello, j->cfg))
			continue;
		score = bson_iter_init_find(&it, hello, "passive") && bson_iter_as_bool(&it) ? 1 : 0;
		write = bson_iter_init_find(&it, hello, "lastWrite") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
				bson_iter_recurse(&it, &lw) && bson_iter_find(&lw, "lastWriteDate") &&
				BSON_ITER_HOLDS_DATE_TIME(&lw)
			? bson_iter_date_time(&lw)
			: 0;
		if (score > best_score || (score == best_score && write > best_write)) {
			best = mongoc_server_description_id(sds[i]);
			best_score = score;
			best_write = write;
		}
	}
	mongoc_server_descriptions_destroy_all(sds, n);
	return best;
}

/* Connect for discovery and read the member table. */
static int
discover(mbh_job *j, mbh_topology **out, mbh_error *err)
{
	mongoc_read_prefs_t *prefs;
	mongoc_server_description_t *sd;
	bson_error_t e;
	mbh_error e2;
	uint32_t id;

	*out = NULL;
	if (job_uri(j, err) != 0)
		return -1;
	if (j->client == NULL) {
		if ((j->client = mongoc_client_new_from_uri_with_error(j->uri, &e)) == NULL)
			return mbh_error_set(err, EX_USAGE, "cannot use the connection string: %s", e.message);
		mongoc_client_set_error_api(j->client, MONGOC_ERROR_API_VERSION_2);
	}
	/*
	 * The first scan (every member's hello, no authentication yet).  Its
	 * failure is the one to report: a second try inside libmongoc's 5 s
	 * cooldown would only say "No servers yet eligible for rescan".
	 */
	prefs = mongoc_read_prefs_new(MONGOC_READ_PRIMARY_PREFERRED);
	sd = mongoc_client_select_server(j->client, false, prefs, &e);
	mongoc_read_prefs_destroy(prefs);
	if (sd == NULL)
		return mbh_mongo_error(err, &e, j->client, "hello", NULL);
	mongoc_server_description_destroy(sd);
	id = likely_member(j);
	if (id != 0) {
		mbh_error_init(&e2);
		if (mbh_topology_fetch_from(out, j->client, id, &e2) != 0)
			mbh_log(MBH_LOG_DEBUG, "asking the likely member failed (%s); asking the primary", e2.msg);
	}
	if (*out == NULL && mbh_topology_fetch(out, j->client, err) != 0)
		return -1;
	snprintf(j->set, sizeof(j->set), "%s", (*out)->set_name);
	mbh_log(MBH_LOG_DEBUG, "replica set %s: %zu members, config version %lld", (*out)->set_name,
		(*out)->nmembers, (long long)(*out)->config_version);
	return 0;
}

/* Add name to the list if it is new. */
static void
add_host(char **list, size_t *n, const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || *n + 1 >= MAX_LOCAL_HOSTS)
		return;
	for (i = 0; i < *n; i++)
		if (strcasecmp(list[i], name) == 0)
			return;
	if ((list[*n] = strdup(name)) != NULL)
		(*n)++;
}

/* The names and addresses of this host, for policy local.  NULL-terminated; free with mbh_strv_free. */
static char **
local_hosts(void)
{
	char **list = calloc(MAX_LOCAL_HOSTS, sizeof(*list));
	char name[256], addr[INET6_ADDRSTRLEN], *dot;
	struct addrinfo hints, *ai = NULL;
	struct ifaddrs *ifa = NULL, *p;
	size_t n = 0;

	if (list == NULL)
		return NULL;
	add_host(list, &n, "localhost");
	if (gethostname(name, sizeof(name)) == 0) {
		name[sizeof(name) - 1] = '\0';
		add_host(list, &n, name);
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_CANONNAME;
		if (getaddrinfo(name, NULL, &hints, &ai) == 0 && ai != NULL)
			add_host(list, &n, ai->ai_canonname);
		if (ai != NULL)
			freeaddrinfo(ai);
		if ((dot = strchr(name, '.')) != NULL) {
			*dot = '\0';
			add_host(list, &n, name);
		}
	}
	if (getifaddrs(&ifa) == 0) {
		for (p = ifa; p != NULL; p = p->ifa_next) {
			if (p->ifa_addr == NULL)
				continue;
			if (p->ifa_addr->sa_family == AF_INET &&
			    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)p->ifa_addr)->sin_addr, addr, sizeof(addr)))
				add_host(list, &n, addr);
			else if (p->ifa_addr->sa_family == AF_INET6 &&
				 inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)p->ifa_addr)->sin6_addr, addr,
					   sizeof(addr)))
				add_host(list, &n, addr);
		}
		freeifaddrs(ifa);
	}
	list[n] = NULL;
	return list;
}

/* Choose the member with the options of the config; all: settle every verdict (--dry-run). */
static int
choose(mbh_job *j, mbh_topology *t, bool all, mbh_selection **out, mbh_error *err)
{
	mbh_select_opts o;
	mbh_fsync_asker asker = { j->client, j->uri };
	char **local = NULL;
	int rc;

	memset(&o, 0, sizeof(o));
	o.policy = j->cfg->selection.policy;
	o.member = j->cfg->selection.member;
	o.max_lag_seconds = j->cfg->selection.max_lag_seconds;
	o.allow_delayed = j->cfg->selection.allow_delayed > 0;
	o.tags = j->cfg->selection.tags;
	o.ntags = j->cfg->selection.ntags;
	o.allow_majority_stall = j->cfg->lock.allow_majority_stall > 0;
	o.allow_locked = j->cfg->lock.refuse_if_locked == 0;
	o.ask_fsync = mbh_topology_ask_fsync;
	o.ask_ctx = &asker;
	o.all_verdicts = all;
	if (o.policy == MBH_POLICY_LOCAL) {
		if ((local = local_hosts()) == NULL)
			return mbh_error_set(err, EX_OSERR, "out of memory");
		o.local_hosts = (const char *const *)local;
	}
	rc = mbh_select(out, t, &o, err);
	mbh_strv_free(local);
	return rc;
}

/* Stop the watchdog of rec, if that pid is still the process we started. */
static void
stop_watchdog(const mbh_state_rec *rec)
{
	uint64_t start;

	if (rec->watchdog_pid <= 0)
		return;
	start = mbh_proc_starttime(rec->watchdog_pid);
	if (start != 0 && start == rec->watchdog_start) {
		if (kill((pid_t)rec->watchdog_pid, SIGTERM) == 0)
			mbh_log(MBH_LOG_DEBUG, "stopped the watchdog (pid %ld)", rec->watchdog_pid);
	} else {
		mbh_log(MBH_LOG_DEBUG, "the watchdog (pid %ld) is no longer running", rec->watchdog_pid);
	}
}

/* Remove the record; a failure is only logged, the lock is already gone. */
static void
clear_record(mbh_state *st)
{
	mbh_error e;

	mbh_error_init(&e);
	if (mbh_state_remove(st, &e) != 0)
		mbh_log(MBH_LOG_WARNING, "%s", e.msg);
}

/* An unreachable member after locking: say the lock is still held and what happens next. */
static int
still_held(mbh_error *err, const mbh_state_rec *rec, bool may)
{
	char deadline[64], why[MBH_ERRMSG_LEN];

	if (err->code != EX_UNAVAILABLE)
		return -1; /* auth or permission: keep that message and code */
	/* the driver's words only: the message names the member already */
	snprintf(why, sizeof(why), "%s",
		 strncmp(err->msg, "cannot reach ", 13) == 0 && strstr(err->msg, ": ") != NULL ? strstr(err->msg, ": ") + 2
											   : err->msg);
	if (rec->deadline > 0) {
		fmt_time(rec->deadline, deadline, sizeof(deadline));
		return mbh_error_set(err, EX_TEMPFAIL,
				     "cannot reach %s; the lock %s still held; run mongo-postbackup again when it is back "
				     "(the watchdog unlocks at %s) (%s)",
				     rec->member, may ? "may be" : "is", deadline, why);
	}
	return mbh_error_set(err, EX_TEMPFAIL,
			     "cannot reach %s; the lock %s still held; run mongo-postbackup again when it is back (%s)",
			     rec->member, may ? "may be" : "is", why);
}

/* After the member is unlocked: unfreeze it if we froze it, stop the watchdog, remove the record. */
static void
release_record(mbh_lock_session *session, mbh_state *st, const mbh_state_rec *rec)
{
	mbh_error e;

	if (rec->frozen) {
		mbh_error_init(&e);
		if (mbh_lock_freeze(session, 0, &e) != 0)
			mbh_log(MBH_LOG_WARNING, "could not unfreeze %s (it may stay unelectable for up to %d s): %s",
				rec->member, (int)(rec->deadline > rec->since ? rec->deadline - rec->since : 0), e.msg);
	}
	stop_watchdog(rec);
	clear_record(st);
}

/*
 * Unlock the lock rec describes over session: fsyncUnlock (count checked),
 * unfreeze, stop the watchdog, remove the record.  On an unlock failure the
 * record stays.
 */
static int
unlock_recorded(mbh_lock_session *session, mbh_state *st, const mbh_state_rec *rec, mbh_error *err)
{
	int64_t left = 0;
	bool was_locked = true;

	if (mbh_lock_fsync_unlock(session, &left, &was_locked, err) != 0)
		return still_held(err, rec, false);
	if (!was_locked)
		mbh_log(MBH_LOG_WARNING,
			"%s was no longer locked (restarted, or unlocked by someone else); clearing the record",
			rec->member);
	else if (rec->lock_count > 0 && left != rec->lock_count - 1)
		mbh_log(MBH_LOG_WARNING,
			"fsyncUnlock on %s left lockCount %lld, expected %lld (our lock returned %lld): someone else "
			"locked or unlocked it meanwhile; check with db.currentOp().fsyncLock",
			rec->member, (long long)left, (long long)(rec->lock_count - 1), (long long)rec->lock_count);
	release_record(session, st, rec);
	if (was_locked)
		mbh_log(MBH_LOG_INFO, "unlocked %s (lockCount now %lld)", rec->member, (long long)left);
	return 0;
}

/* A record that another run left: is it the same lock as `want`? */
static bool
same_lock(const mbh_state_rec *a, const mbh_state_rec *want)
{
	return strcmp(a->member, want->member) == 0 && a->since == want->since && a->pid == want->pid;
}

/* Append one line to DIR/SET.events (0600, no symlinks). */
static void
append_event(const char *dir, const char *set, const char *line)
{
	char path[4096], buf[2048], now[64];
	int fd, n;

	snprintf(path, sizeof(path), "%s/%s.events", dir, set);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	fmt_time(time(NULL), now, sizeof(now));
	n = snprintf(buf, sizeof(buf), "%s %s\n", now, line);
	if (n > 0 && write(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1) < 0)
		n = -1;
	close(fd);
}

/*
 * The watchdog's life (in the detached grandchild): sleep until the deadline,
 * then unlock if the record still describes our lock.  Never returns.
 */
static void __attribute__((noreturn))
watchdog_main(mbh_job *j, mbh_state_rec want, int ready_fd)
{
	struct timespec ts = { .tv_sec = (time_t)want.deadline, .tv_nsec = 0 };
	mbh_state *st = NULL;
	mbh_lock_session *session = NULL;
	mbh_state_rec rec;
	mbh_error err;
	sigset_t all;
	bool present = false, locked = true;
	char line[MBH_ERRMSG_LEN + 1024];
	int64_t left = 0;
	int r, fd, keep;

	/*
	 * Nothing of the parent's: no driver sockets, no Bacula pipes, and above
	 * all no copy of the state flock's descriptor, or the set would stay
	 * "held by another run" after the parent exits.  Closing ready_fd last
	 * tells the parent that this is done.
	 */
	keep = ready_fd >= 3 ? ready_fd : fcntl(ready_fd, F_DUPFD, 3);
	if (keep > 3)
		close_range(3, (unsigned int)keep - 1, 0);
	close_range((unsigned int)keep + 1, ~0U, 0);
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	close(keep);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	mbh_log_set_sink(NULL, NULL);
	mbh_log_setup(j->watchdog_ident, MBH_LOG_INFO, false, true);

	while ((r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL)) == EINTR)
		;
	mbh_error_init(&err);
	if (mbh_state_open(&st, j->cfg->state_dir, want.set_name, true, &err) != 0 ||
	    mbh_state_read(st, &rec, &present, &err) != 0) {
		mbh_log(MBH_LOG_ERROR, "watchdog: %s", err.msg);
		goto out;
	}
	if (!present || !same_lock(&rec, &want))
		goto out; /* unlocked in time */
	if (mbh_lock_session_new(&session, j->uri, rec.member, &err) != 0 ||
	    (rec.phase == MBH_PHASE_LOCKING && mbh_lock_is_fsync_locked(session, &locked, &err) != 0) ||
	    (locked && mbh_lock_fsync_unlock(session, &left, &locked, &err) != 0)) {
		snprintf(line, sizeof(line),
			 "watchdog: could not unlock %s (set %s) after lock.max_seconds: %s; run mongo-postbackup",
			 rec.member, rec.set_name, err.msg);
		mbh_log(MBH_LOG_ERROR, "%s", line);
		append_event(j->cfg->state_dir, rec.set_name, line);
		goto out;
	}
	if (rec.frozen) {
		mbh_error_init(&err);
		mbh_lock_freeze(session, 0, &err);
	}
	clear_record(st);
	snprintf(line, sizeof(line),
		 "watchdog: the fsync lock on %s (set %s, job %s, pid %ld) outlived lock.max_seconds; %s "
		 "(lockCount now %lld)",
		 rec.member, rec.set_name, rec.job[0] != '\0' ? rec.job : "-", rec.pid,
		 locked ? "unlocked it" : "it was no longer locked", (long long)left);
	mbh_log(MBH_LOG_ERROR, "%s", line);
	append_event(j->cfg->state_dir, rec.set_name, line);
out:
	/* _exit: the parent's driver state must not be torn down from here */
	_exit(0);
}

/*
 * Fork the detached watchdog (double fork, setsid): *pid and *start identify
 * it for a later SIGTERM.  want is the record as it will be written.
 */
static int
start_watchdog(mbh_job *j, const mbh_state_rec *want, long *pid, uint64_t *start, mbh_error *err)
{
	int fds[2] = { -1, -1 };
	pid_t child, grandchild = -1;
	sigset_t stop, saved;
	ssize_t r, eof;
	char c;
	int status, rc = -1;

	*pid = 0;
	*start = 0;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return mbh_error_set(err, EX_OSERR, "cannot start the watchdog: pipe: %s", strerror(errno));
	fflush(NULL);
	/*
	 * Block the stop signals across the fork: until watchdog_main restores
	 * their default action, our handlers would swallow the SIGTERM that
	 * post (or a quick --exec) sends, and the watchdog would sleep on.
	 */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, &saved);
	child = fork();
	if (child != 0)
		sigprocmask(SIG_SETMASK, &saved, NULL);
	if (child < 0) {
		mbh_error_set(err, EX_OSERR, "cannot start the watchdog: fork: %s", strerror(errno));
		goto out;
	}
	if (child == 0) {
		close(fds[0]);
		setsid();
		grandchild = fork();
		if (grandchild == 0)
			watchdog_main(j, *want, fds[1]);
		r = write(fds[1], &grandchild, sizeof(grandchild));
		_exit(r == (ssize_t)sizeof(grandchild) ? 0 : 1);
	}
	close(fds[1]);
	fds[1] = -1;
	do
		r = read(fds[0], &grandchild, sizeof(grandchild));
	while (r < 0 && errno == EINTR);
	/* EOF once the watchdog has closed what it inherited (the flock's descriptor among them) */
	do
		eof = read(fds[0], &c, 1);
	while (eof < 0 && errno == EINTR);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (r != (ssize_t)sizeof(grandchild) || grandchild <= 0) {
		mbh_error_set(err, EX_OSERR, "cannot start the watchdog: fork failed");
		goto out;
	}
	*pid = grandchild;
	*start = mbh_proc_starttime(grandchild);
	rc = 0;
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return rc;
}

/*
 * The discovery client's server id for host_port if its topology shows it as
 * a secondary, else 0.  Hidden and delayed members never appear in hello, so
 * the topology does not know them: they get a direct connection.
 */
static uint32_t
known_secondary(mongoc_client_t *client, const char *host_port)
{
	mongoc_server_description_t **sds;
	const mongoc_host_list_t *h;
	size_t n = 0, i;
	uint32_t id = 0;

	if (client == NULL || (sds = mongoc_client_get_server_descriptions(client, &n)) == NULL)
		return 0;
	for (i = 0; i < n && id == 0; i++) {
		h = mongoc_server_description_host(sds[i]);
		if (h != NULL && strcasecmp(h->host_and_port, host_port) == 0 &&
		    strcmp(mongoc_server_description_type(sds[i]), "RSSecondary") == 0)
			id = mongoc_server_description_id(sds[i]);
	}
	mongoc_server_descriptions_destroy_all(sds, n);
	return id;
}

/*
 * The member session for the lock: on the discovery client when it already
 * talks to the member (one connection, one SCRAM conversation: libmongoc
 * caches the salted password per client), else a direct connection.
 */
static int
open_session(mbh_job *j, const char *host_port, mbh_error *err)
{
	uint32_t id = known_secondary(j->client, host_port);

	if (id != 0) {
		mbh_log(MBH_LOG_DEBUG, "locking %s over the discovery connection", host_port);
		return mbh_lock_session_new_shared(&j->session, j->client, id, host_port, err);
	}
	mbh_log(MBH_LOG_DEBUG, "locking %s over a direct connection", host_port);
	return mbh_lock_session_new(&j->session, j->uri, host_port, err);
}

/* Undo a fresh lock that must not stay (became primary, record write failed). */
static void
undo_lock(mbh_job *j)
{
	int64_t left;
	bool was;
	mbh_error e;

	mbh_error_init(&e);
	if (mbh_lock_fsync_unlock(j->session, &left, &was, &e) != 0) {
		/* keep the intent: post will find the lock with currentOp */
		mbh_log(MBH_LOG_ERROR, "could not unlock %s again: %s; run mongo-postbackup", j->rec.member, e.msg);
		j->rec.phase = MBH_PHASE_LOCKING;
		mbh_error_init(&e);
		mbh_state_write(j->state, &j->rec, &e);
		return;
	}
	release_record(j->session, j->state, &j->rec);
}

/* Copy params. */
int
mbh_job_new(mbh_job **out, const mbh_job_params *p, mbh_error *err)
{
	mbh_job *j;

	*out = NULL;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	j->cfg = p->cfg;
	j->cancel_fd = p->cancel_fd;
	j->watchdog = p->watchdog;
	j->job_name = dup_or_empty(p->job_name);
	j->mode = strdup(p->mode != NULL ? p->mode : "hooks");
	j->watchdog_ident = strdup(p->watchdog_ident != NULL ? p->watchdog_ident : "mongo-backup-watchdog");
	j->set_override = p->set_name != NULL ? strdup(p->set_name) : NULL;
	if (j->job_name == NULL || j->mode == NULL || j->watchdog_ident == NULL ||
	    (p->set_name != NULL && j->set_override == NULL)) {
		mbh_job_free(j);
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	*out = j;
	return 0;
}

/* The MONGO_BACKUP_* environment of an --exec command (the member, the set). */
typedef struct exec_env {
	char host[300], port[40], set[160];
	const char *env[4];
} exec_env;

static void
exec_env_fill(exec_env *x, const mbh_state_rec *rec)
{
	char host[262];
	int port = 0;

	if (mbh_hostport_split(rec->member, host, sizeof(host), &port) != 0)
		snprintf(host, sizeof(host), "%s", rec->member);
	snprintf(x->host, sizeof(x->host), "MONGO_BACKUP_HOST=%s", host);
	snprintf(x->port, sizeof(x->port), "MONGO_BACKUP_PORT=%d", port);
	snprintf(x->set, sizeof(x->set), "MONGO_BACKUP_SET=%s", rec->set_name);
	x->env[0] = x->host;
	x->env[1] = x->port;
	x->env[2] = x->set;
	x->env[3] = NULL;
}

/*
 * The pre-backup flow; with argv (--exec) it also starts the command under
 * the lock: *child is the running command, or NULL with *run_err saying why
 * it could not start (the lock is then held and recorded all the same, and
 * the caller unlocks).
 *
 * Order, and why it is safe (invariant 2: never a lock without a durable
 * record):
 *   watchdog  forked first, outside the lock window, with the deadline of
 *             the record; a watchdog that wakes to a LOCKING record checks
 *             currentOp, one that finds no record (or another lock) exits;
 *   LOCKING   the intent, with the watchdog's pid, written durably before
 *             the fsync lock is sent: a crash at any later instant leaves a
 *             record that post and the watchdog act on;
 *   lock      hello, currentOp, freeze, fsync lock, hello again;
 *   command   (--exec) started right after that re-check, so the lock
 *             window holds no disk I/O of ours before it;
 *   LOCKED    written (durably) while the command runs and before anyone
 *             can unlock: the caller waits for the command and unlocks only
 *             after this returns, so the unlock's count is checked against
 *             the recorded lockCount.  Until it is on disk the LOCKING
 *             intent already covers a crash.
 * Every failure path that removes the record also stops the watchdog.
 */
static int
lock_flow(mbh_job *j, const char *const *argv, mbh_child **child, mbh_error *run_err, mbh_error *err)
{
	mbh_topology *t = NULL;
	mbh_selection *sel = NULL;
	mbh_state_rec old;
	const mbh_member *m;
	mbh_hello hello;
	mbh_error e;
	exec_env xenv;
	bool present = false, fsync_locked = false, definite = true, intent = false, froze = false;
	bool watchdog = false;
	char since[64], deadline[64];
	int64_t count = 0;
	int rc = -1;

	if (child != NULL)
		*child = NULL;
	if (j->held)
		return mbh_error_set(err, EX_SOFTWARE, "this job already holds a lock on %s", j->rec.member);
	if (discover(j, &t, err) != 0)
		goto out;
	if (mbh_state_open(&j->state, j->cfg->state_dir, t->set_name, false, err) != 0)
		goto out;
	if (mbh_state_read(j->state, &old, &present, err) != 0)
		goto out;
	if (present) {
		fmt_time(old.since, since, sizeof(since));
		mbh_error_set(err, EX_TEMPFAIL,
			      "%s is already locked by job %s (pid %ld on %s) on %s since %s (%s); run mongo-postbackup "
			      "first",
			      old.set_name, old.job[0] != '\0' ? old.job : "-", old.pid, old.hostname, old.member, since,
			      old.phase == MBH_PHASE_LOCKED ? "LOCKED" : "LOCKING");
		goto out;
	}
	if (choose(j, t, false, &sel, err) != 0)
		goto out;
	m = &t->members[sel->chosen];
	mbh_log(MBH_LOG_INFO, "chose %s", sel->summary);
	if (sel->warning[0] != '\0')
		mbh_log(MBH_LOG_WARNING, "%s", sel->warning);

	memset(&j->rec, 0, sizeof(j->rec));
	snprintf(j->rec.set_name, sizeof(j->rec.set_name), "%s", t->set_name);
	snprintf(j->rec.member, sizeof(j->rec.member), "%s", m->host);
	j->rec.phase = MBH_PHASE_LOCKING;
	j->rec.since = (int64_t)time(NULL);
	j->rec.deadline = j->rec.since + j->cfg->lock.max_seconds;
	j->rec.pid = (long)getpid();
	if (gethostname(j->rec.hostname, sizeof(j->rec.hostname)) != 0)
		snprintf(j->rec.hostname, sizeof(j->rec.hostname), "unknown");
	j->rec.hostname[sizeof(j->rec.hostname) - 1] = '\0';
	snprintf(j->rec.job, sizeof(j->rec.job), "%s", j->job_name);
	snprintf(j->rec.mode, sizeof(j->rec.mode), "%s", j->mode);
	j->rec.frozen = m->priority > 0;
	if (argv != NULL)
		exec_env_fill(&xenv, &j->rec);

	/* the watchdog before the lock (see above); it identifies the lock by member, since and pid */
	if (j->watchdog) {
		if (start_watchdog(j, &j->rec, &j->rec.watchdog_pid, &j->rec.watchdog_start, err) != 0)
			goto out;
		watchdog = true;
	}
	/* invariant 2: the intent is durable before the lock command is sent */
	if (mbh_state_write(j->state, &j->rec, err) != 0)
		goto out;
	intent = true;

	if (open_session(j, m->host, err) != 0 || mbh_lock_hello(j->session, &hello, err) != 0)
		goto out;
	if (hello.writable_primary || !hello.secondary) {
		mbh_error_set(err, EX_TEMPFAIL, "%s is no longer a secondary (%s); nothing was locked; run again",
			      m->host, hello.writable_primary ? "it is primary now" : "hello says not secondary");
		goto out;
	}
	if (mbh_lock_is_fsync_locked(j->session, &fsync_locked, err) != 0)
		goto out;
	if (fsync_locked) {
		if (j->cfg->lock.refuse_if_locked != 0) {
			mbh_error_set(err, EX_TEMPFAIL,
				      "%s is already fsync-locked by someone else (currentOp shows fsyncLock); find who "
				      "holds it, or run with --allow-locked to lock it once more",
				      m->host);
			goto out;
		}
		mbh_log(MBH_LOG_WARNING, "%s is already fsync-locked by someone else; locking it once more", m->host);
	}
	if (j->rec.frozen) {
		/* invariant 1: an electable member must not seek election while locked */
		if (mbh_lock_freeze(j->session, j->cfg->lock.max_seconds, err) != 0) {
			mbh_error_prefix(err, "cannot freeze %s (priority %g) before locking it", m->host, m->priority);
			goto out;
		}
		froze = true;
	}
	if (mbh_lock_fsync_lock(j->session, &count, &definite, err) != 0) {
		if (!definite) {
			char why[MBH_ERRMSG_LEN];

			/* keep the intent and the watchdog: post (or the watchdog) finds out with currentOp */
			intent = froze = watchdog = false;
			memcpy(why, err->msg, sizeof(why));
			/* why names the member already */
			mbh_error_set(err, EX_TEMPFAIL,
				      "the fsync lock may or may not have been taken (%s); run mongo-postbackup to "
				      "check and clear it",
				      why);
		}
		goto out;
	}
	j->rec.lock_count = count;
	j->held = true;
	intent = froze = watchdog = false; /* from here undo_lock cleans up */

	/* invariant 1: re-check after locking */
	if (mbh_lock_hello(j->session, &hello, err) != 0 || hello.writable_primary || !hello.secondary) {
		if (err->code == 0)
			mbh_error_set(err, EX_TEMPFAIL, "%s became primary right after the lock; unlocked it again; run again",
				      m->host);
		goto out;
	}
	/* invariant 6: re-check after locking (a run choosing at the same instant may have locked a member we counted) */
	if (j->cfg->lock.allow_majority_stall <= 0) {
		mbh_fsync_asker asker = { j->client, j->uri };

		if (mbh_select_recheck(t, (size_t)sel->chosen, mbh_topology_ask_fsync, &asker, err) != 0)
			goto out;
	}
	/* --exec: the command starts now; the LOCKED record is written while it runs */
	if (argv != NULL && mbh_child_spawn(child, argv, xenv.env, 0, run_err) != 0)
		*child = NULL;
	j->rec.phase = MBH_PHASE_LOCKED;
	if (mbh_state_write(j->state, &j->rec, err) != 0) {
		if (child != NULL && *child != NULL) {
			/* no record of the lock, so no command under it */
			mbh_child_free(*child);
			*child = NULL;
			mbh_error_prefix(err, "cannot record the lock on %s, so %s was stopped and the lock released",
					 m->host, argv[0]);
		} else {
			mbh_error_prefix(err, "cannot record the lock on %s, so it was released", m->host);
		}
		goto out;
	}
	mbh_log(MBH_LOG_DEBUG, "fsync lock on %s returned lockCount %lld", m->host, (long long)count);
	fmt_time(j->rec.deadline, deadline, sizeof(deadline));
	if (j->job_name[0] != '\0')
		mbh_log(MBH_LOG_INFO, "locked %s (lockCount %lld) for job %s; %s at %s", m->host, (long long)count,
			j->job_name, j->watchdog ? "watchdog unlocks" : "lock.max_seconds ends", deadline);
	else
		mbh_log(MBH_LOG_INFO, "locked %s (lockCount %lld); %s at %s", m->host, (long long)count,
			j->watchdog ? "watchdog unlocks" : "lock.max_seconds ends", deadline);
	rc = 0;
out:
	if (rc != 0 && j->held) {
		undo_lock(j); /* stops the watchdog when it removes the record */
		j->held = false;
	}
	if (froze) {
		mbh_error_init(&e);
		mbh_lock_freeze(j->session, 0, &e);
	}
	if (intent)
		clear_record(j->state);
	if (watchdog) /* no record (never written, or just removed): the watchdog has nothing to guard */
		stop_watchdog(&j->rec);
	if (rc != 0) {
		mbh_lock_session_free(j->session);
		j->session = NULL;
	}
	mbh_selection_free(sel);
	mbh_topology_free(t);
	return rc;
}

/* The pre-backup flow. */
int
mbh_job_lock(mbh_job *j, mbh_error *err)
{
	return lock_flow(j, NULL, NULL, NULL, err);
}

const char *
mbh_job_set(const mbh_job *j)
{
	return j->rec.set_name;
}

const char *
mbh_job_member(const mbh_job *j)
{
	return j->rec.member;
}

int64_t
mbh_job_lock_count(const mbh_job *j)
{
	return j->rec.lock_count;
}

/* Unlock what mbh_job_lock took. */
int
mbh_job_unlock(mbh_job *j, mbh_error *err)
{
	if (!j->held)
		return 0;
	if (unlock_recorded(j->session, j->state, &j->rec, err) != 0)
		return -1;
	j->held = false;
	return 0;
}

/* Lock, run, unlock. */
int
mbh_job_exec(mbh_job *j, const char *const *argv, int *status, mbh_error *err)
{
	mbh_child *child = NULL;
	mbh_error run_err;
	int timeout, rc = -1;

	*status = EX_SOFTWARE;
	mbh_error_init(&run_err);
	if (lock_flow(j, argv, &child, &run_err, err) != 0)
		return -1;
	timeout = (int)(j->rec.deadline - (int64_t)time(NULL));
	if (timeout < 1)
		timeout = 1;
	if (child == NULL) {
		*status = run_err.code;
	} else {
		mbh_log(MBH_LOG_DEBUG, "running %s (pid %ld)", argv[0], mbh_child_pid(child));
		*status = -1;
		if (mbh_child_wait(child, timeout, j->cancel_fd, status, &run_err) != 0) {
			/* stopped (cancel or lock.max_seconds): its status is still what we exit with */
			mbh_log(MBH_LOG_WARNING, "%s", run_err.msg);
			if (*status < 0)
				*status = mbh_signal_received() > 0 ? 128 + mbh_signal_received() : EX_TEMPFAIL;
		}
	}
	/* always unlock, whatever happened to the command */
	if (mbh_job_unlock(j, err) != 0)
		goto out;
	if (run_err.code != 0 && child == NULL) {
		*err = run_err;
		goto out;
	}
	rc = 0;
out:
	mbh_child_free(child);
	return rc;
}

/* The LAG column: "-" where lag means nothing. */
static const char *
lag_text(const mbh_topology *t, size_t i, char *buf, size_t len)
{
	const mbh_member *m = &t->members[i];

	if (m->arbiter || m->health != 1 || m->state == MBH_RS_PRIMARY || m->optime_ms == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%llds", (long long)mbh_topology_lag_seconds(t, i));
	return buf;
}

/* --dry-run. */
int
mbh_job_dry_run(mbh_job *j, char **text, mbh_error *err)
{
	mbh_topology *t = NULL;
	mbh_selection *sel = NULL;
	char *buf = NULL, lag[32], pri[32];
	size_t len = 0, i, width = 16;
	FILE *f = NULL;
	int rc = -1, sel_rc;
	mbh_error sel_err;

	*text = NULL;
	mbh_error_init(&sel_err);
	if (discover(j, &t, err) != 0)
		goto out;
	sel_rc = choose(j, t, true, &sel, &sel_err);
	if (sel == NULL) {
		*err = sel_err;
		goto out;
	}
	if ((f = open_memstream(&buf, &len)) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	for (i = 0; i < t->nmembers; i++)
		if (strlen(t->members[i].host) > width)
			width = strlen(t->members[i].host);
	fprintf(f, "%-*s  %-10s %-3s %-5s %-4s %-9s %s\n", (int)width, "MEMBER", "STATE", "PRI", "VOTES", "LAG",
		"VERDICT", "REASON");
	for (i = 0; i < t->nmembers; i++) {
		const mbh_member *m = &t->members[i];
		const mbh_verdict *v = &sel->verdicts[i];

		snprintf(pri, sizeof(pri), "%g", m->priority);
		fprintf(f, "%-*s  %-10s %-3s %-5d %-4s %-9s %s\n", (int)width, m->host,
			m->health == 1 ? m->state_str : "DOWN", pri, m->votes, lag_text(t, i, lag, sizeof(lag)),
			v->rank == 1 ? "CHOSEN" : v->eligible ? "eligible" : "no", v->reason);
	}
	if (sel->chosen >= 0)
		fprintf(f, "would lock %s: %s\n", t->members[sel->chosen].host, sel->verdicts[sel->chosen].reason);
	else
		fprintf(f, "nothing would be locked: %s\n", sel->summary);
	if (sel->warning[0] != '\0')
		fprintf(f, "warning: %s\n", sel->warning);
	if (fclose(f) != 0) {
		f = NULL;
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	f = NULL;
	*text = buf;
	buf = NULL;
	if (sel_rc != 0) {
		*err = sel_err;
		goto out;
	}
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	mbh_selection_free(sel);
	mbh_topology_free(t);
	return rc;
}

/*
 * Which set post/status act on: --set, else the URI's replicaSet=, else the
 * only *.state file in the state directory.  *found=false when none.
 */
static int
resolve_set(mbh_job *j, bool *found, mbh_error *err)
{
	const char *rs;
	DIR *d = NULL;
	struct dirent *de;
	size_t n = 0, len;
	char first[128] = "", second[128] = "";

	*found = false;
	if (j->set_override != NULL) {
		snprintf(j->set, sizeof(j->set), "%s", j->set_override);
		*found = true;
		return 0;
	}
	if (j->cfg->uri != NULL) {
		if (job_uri(j, err) != 0)
			return -1;
		rs = mongoc_uri_get_replica_set(j->uri);
		if (rs != NULL && rs[0] != '\0') {
			snprintf(j->set, sizeof(j->set), "%s", rs);
			*found = true;
			return 0;
		}
	}
	if ((d = opendir(j->cfg->state_dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		return mbh_error_set(err, EX_NOPERM, "cannot read the state directory %s: %s", j->cfg->state_dir,
				     strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 6 || strcmp(de->d_name + len - 6, ".state") != 0 || de->d_name[0] == '.')
			continue;
		if (n == 0)
			snprintf(first, sizeof(first), "%.*s", (int)(len - 6), de->d_name);
		else if (n == 1)
			snprintf(second, sizeof(second), "%.*s", (int)(len - 6), de->d_name);
		n++;
	}
	closedir(d);
	if (n > 1)
		return mbh_error_set(err, EX_USAGE,
				     "%s holds the state of several replica sets (%s, %s%s): name one with --set or "
				     "replicaSet= in the URI",
				     j->cfg->state_dir, first, second, n > 2 ? ", ..." : "");
	if (n == 1) {
		snprintf(j->set, sizeof(j->set), "%s", first);
		*found = true;
	}
	return 0;
}

/* The post-backup flow. */
int
mbh_job_post(mbh_job *j, mbh_error *err)
{
	mbh_state_rec rec;
	bool present = false, found = false, locked = false, was = true;
	char since[64];
	int64_t left = 0;
	int rc = -1;

	if (resolve_set(j, &found, err) != 0)
		return -1;
	if (!found) {
		mbh_log(MBH_LOG_INFO, "nothing to unlock in %s", j->cfg->state_dir);
		return 0;
	}
	if (mbh_state_open(&j->state, j->cfg->state_dir, j->set, false, err) != 0)
		goto out;
	if (mbh_state_read(j->state, &rec, &present, err) != 0)
		goto out;
	if (!present) {
		mbh_log(MBH_LOG_INFO, "nothing to unlock for %s", j->set);
		rc = 0;
		goto out;
	}
	if (j->job_name[0] != '\0' && rec.job[0] != '\0' && strcmp(j->job_name, rec.job) != 0) {
		fmt_time(rec.since, since, sizeof(since));
		mbh_error_set(err, EX_TEMPFAIL,
			      "the lock on %s belongs to job %s (pid %ld on %s, since %s), not to job %s: left alone; "
			      "run mongo-postbackup without --job to release it anyway",
			      rec.member, rec.job, rec.pid, rec.hostname, since, j->job_name);
		goto out;
	}
	if (job_uri(j, err) != 0 || mbh_lock_session_new(&j->session, j->uri, rec.member, err) != 0)
		goto out;
	if (rec.phase == MBH_PHASE_LOCKED) {
		rc = unlock_recorded(j->session, j->state, &rec, err);
		goto out;
	}
	/* LOCKING: a run died between the intent and the record of the lock */
	if (mbh_lock_is_fsync_locked(j->session, &locked, err) != 0) {
		still_held(err, &rec, true);
		goto out;
	}
	if (locked) {
		if (mbh_lock_fsync_unlock(j->session, &left, &was, err) != 0) {
			still_held(err, &rec, true);
			goto out;
		}
		mbh_log(MBH_LOG_WARNING,
			"a run (pid %ld) died while locking %s; unlocked it once (lockCount now %lld)", rec.pid,
			rec.member, (long long)left);
	} else {
		mbh_log(MBH_LOG_INFO, "a run (pid %ld) died while locking %s; it is not locked; clearing the record",
			rec.pid, rec.member);
	}
	release_record(j->session, j->state, &rec);
	rc = 0;
out:
	mbh_lock_session_free(j->session);
	j->session = NULL;
	mbh_state_free(j->state);
	j->state = NULL;
	return rc;
}

/* --status. */
int
mbh_job_status(mbh_job *j, char **text, mbh_error *err)
{
	mbh_state_rec rec;
	bool present = false, found = false;
	char *buf = NULL, since[64], deadline[64];
	size_t len = 0;
	FILE *f = NULL;
	uint64_t start;
	int rc = -1;

	*text = NULL;
	if (resolve_set(j, &found, err) != 0)
		return -1;
	if (found && mbh_state_peek(j->cfg->state_dir, j->set, &rec, &present, err) != 0)
		return -1;
	if ((f = open_memstream(&buf, &len)) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	if (!found) {
		fprintf(f, "nothing is locked (no state in %s)\n", j->cfg->state_dir);
	} else if (!present) {
		fprintf(f, "nothing is locked for %s\n", j->set);
	} else {
		fmt_time(rec.since, since, sizeof(since));
		fprintf(f, "set:       %s\n", rec.set_name);
		fprintf(f, "member:    %s\n", rec.member);
		fprintf(f, "phase:     %s\n", rec.phase == MBH_PHASE_LOCKED ? "LOCKED" : "LOCKING");
		fprintf(f, "lockCount: %lld\n", (long long)rec.lock_count);
		fprintf(f, "job:       %s\n", rec.job[0] != '\0' ? rec.job : "-");
		fprintf(f, "mode:      %s\n", rec.mode);
		fprintf(f, "pid:       %ld\n", rec.pid);
		fprintf(f, "host:      %s\n", rec.hostname);
		fprintf(f, "since:     %s (%lld s ago)\n", since, (long long)(time(NULL) - rec.since));
		fprintf(f, "frozen:    %s\n", rec.frozen ? "yes" : "no");
		if (rec.deadline > 0) {
			fmt_time(rec.deadline, deadline, sizeof(deadline));
			start = rec.watchdog_pid > 0 ? mbh_proc_starttime(rec.watchdog_pid) : 0;
			if (rec.watchdog_pid > 0)
				fprintf(f, "watchdog:  pid %ld (%s), unlocks at %s\n", rec.watchdog_pid,
					start != 0 && start == rec.watchdog_start ? "running" : "not running", deadline);
			else
				fprintf(f, "watchdog:  none; deadline %s\n", deadline);
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	*text = buf;
	rc = 0;
	return rc;
}

/* Free without unlocking. */
void
mbh_job_free(mbh_job *j)
{
	if (j == NULL)
		return;
	mbh_lock_session_free(j->session);
	mbh_state_free(j->state);
	if (j->client != NULL) {
		/*
		 * Drop the one implicit session without endSessions: the driver would
		 * send it to the primary, whose connection may not be authenticated
		 * yet (discovery and the lock went to the member), costing a whole
		 * SCRAM key derivation just to end a session the server expires anyway.
		 */
		mongoc_client_reset(j->client);
		mongoc_client_destroy(j->client);
	}
	mongoc_uri_destroy(j->uri);
	free(j->job_name);
	free(j->mode);
	free(j->set_override);
	free(j->watchdog_ident);
	free(j);
}
