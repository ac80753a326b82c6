/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * job-api.c: the job API (lib/job.h) called directly, as the Bacula plugin
 * will call it from several threads of one process, against two simulated
 * replica sets: two jobs at once, cancel from another thread (before and
 * during discovery, during the lock, while the command streams), three
 * threads unlocking one lock, lock -> unlock -> lock, a refused lock that
 * holds nothing, a second lock with a command refused while one is held,
 * and a wait whose command an unlock from another thread kills.
 */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "job.h"
#include "log.h"
#include "run.h"
#include "sim-harness.h"

#define PLAN 146

/* Two sets, each with its own password: nothing of one may reach the other's logger. */
#define SET_A "alpha-rs"
#define SET_B "bravo-rs"
#define PW_A "Alpha-Pw-7c1eQx"
#define PW_B "Bravo-Pw-93fdKz"
#define JOB_A "job-alpha"
#define JOB_B "job-bravo"
/* Set A: P, S, S(passive): the passive member 2 is the one locked (no freeze).  Set B: P, S, S (frozen). */
#define PASSIVE_A 2

#define USERS(pw)                                                                                              \
	"users = ( { name = \"backup\"; password = \"" pw "\"; db = \"admin\";\n"                               \
	"            roles = [ \"clusterMonitor\", \"hostManager\", \"clusterManager\" ]; } );\n"

static const char *topology_a = "set_name = \"" SET_A "\";\n"
				"max_wire_version = 21;\n"
				"auth = true;\n"
				"noop_interval_ms = 200;\n"
				"members = (\n"
				"  { port = 0; state = \"PRIMARY\"; },\n"
				"  { port = 0; },\n"
				"  { port = 0; priority = 0.0; }\n"
				");\n" USERS(PW_A);

static const char *topology_b = "set_name = \"" SET_B "\";\n"
				"max_wire_version = 21;\n"
				"auth = true;\n"
				"noop_interval_ms = 200;\n"
				"members = (\n"
				"  { port = 0; state = \"PRIMARY\"; },\n"
				"  { port = 0; },\n"
				"  { port = 0; }\n"
				");\n" USERS(PW_B);

static sim *SA, *SB;
static int slow_factor = 1;   /* time bounds are multiplied by this under valgrind (10x slower) */
static char tmpdir[256];      /* password files and the state directory */
static char state_dir[300];   /* shared by every job, as in one bacula-fd */
static const char *watchdog_path;

/* ---------------------------------------------------------------- a recording sink */

typedef struct recorder {
	pthread_mutex_t mu;
	char *text;
	size_t len, cap;
} recorder;

static void
recorder_init(recorder *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
}

static void
recorder_done(recorder *r)
{
	pthread_mutex_destroy(&r->mu);
	free(r->text);
}

/* The sink: called from whichever thread logs, outside the logger's lock. */
static void
record_line(void *ctx, mbh_log_level level, const char *line)
{
	recorder *r = ctx;
	size_t n = strlen(line) + 4;
	char *np;

	pthread_mutex_lock(&r->mu);
	if (r->len + n + 1 > r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 4096;

		while (ncap < r->len + n + 1)
			ncap *= 2;
		if ((np = realloc(r->text, ncap)) == NULL) {
			pthread_mutex_unlock(&r->mu);
			return;
		}
		r->text = np;
		r->cap = ncap;
	}
	r->len += (size_t)snprintf(r->text + r->len, r->cap - r->len, "%d %s\n", (int)level, line);
	pthread_mutex_unlock(&r->mu);
	if (getenv("MBH_TEST_VERBOSE") != NULL)
		fprintf(stderr, "[%p] %s\n", ctx, line);
}

static bool
recorder_has(recorder *r, const char *s)
{
	bool has;

	pthread_mutex_lock(&r->mu);
	has = r->text != NULL && strstr(r->text, s) != NULL;
	pthread_mutex_unlock(&r->mu);
	return has;
}

static void
recorder_diag(recorder *r, const char *label)
{
	char *copy, *line, *rest;

	pthread_mutex_lock(&r->mu);
	copy = strdup(r->text ? r->text : "");
	pthread_mutex_unlock(&r->mu);
	tap_diag("--- %s", label);
	for (rest = copy; copy != NULL && (line = strsep(&rest, "\n")) != NULL;)
		if (*line != '\0')
			tap_diag("  %s", line);
	free(copy);
}

/* ---------------------------------------------------------------- jobs */

/* One job with its own logger and recorder. */
typedef struct tjob {
	recorder rec;
	mbh_logger *log;
	mbh_job *job;
} tjob;

static void
write_password(const char *path, const char *pw)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, pw, strlen(pw)) != (ssize_t)strlen(pw) || write(fd, "\n", 1) != 1) {
		printf("Bail out! cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	close(fd);
}

/* A finished config for set s (seed URI, user backup, the password in a 0600 file). */
static mbh_config *
make_config(sim *s, const char *pwfile)
{
	mbh_config *cfg = NULL;
	mbh_error err;
	char *text = NULL;

	mbh_error_init(&err);
	if (asprintf(&text,
		     "uri = \"%s\";\n"
		     "username = \"backup\";\n"
		     "password_file = \"%s\";\n"
		     "connect_timeout_ms = 3000;\n"
		     "state_dir = \"%s\";\n"
		     "lock = { max_seconds = 120; };\n"
		     "script = { timeout = 60; };\n",
		     sim_uri(s), pwfile, state_dir) < 0)
		text = NULL;
	if (text == NULL || mbh_config_new(&cfg, &err) != 0 || mbh_config_load_string(cfg, text, "<job-api>", &err) != 0 ||
	    mbh_config_set(cfg, "log.level", "debug", &err) != 0 || mbh_config_finish(cfg, &err) != 0) {
		printf("Bail out! config: %s\n", err.msg);
		exit(1);
	}
	free(text);
	return cfg;
}

static mbh_config *CFG_A, *CFG_B;

static void
tjob_open(tjob *t, const mbh_config *cfg, const char *name)
{
	mbh_job_params p;
	mbh_error err;

	memset(t, 0, sizeof(*t));
	recorder_init(&t->rec);
	mbh_error_init(&err);
	if (mbh_logger_new(&t->log, "job-api", MBH_LOG_DEBUG, 0, record_line, &t->rec) != 0) {
		printf("Bail out! mbh_logger_new\n");
		exit(1);
	}
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.log = t->log;
	p.job_name = name;
	p.mode = "plugin";
	p.watchdog_path = watchdog_path;
	p.cancel_fd = -1;
	if (mbh_job_new(&t->job, &p, &err) != 0) {
		printf("Bail out! mbh_job_new: %s\n", err.msg);
		exit(1);
	}
}

static void
tjob_close(tjob *t)
{
	mbh_job_free(t->job);
	mbh_logger_free(t->log);
	recorder_done(&t->rec);
	memset(t, 0, sizeof(*t));
}

/* ---------------------------------------------------------------- what is left behind */

static bool
record_exists(const char *set)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s.state", state_dir, set);
	return access(path, F_OK) == 0;
}

/* /proc/PID/stat: state and process group; false when the process is gone. */
static bool
proc_stat(long pid, char *state, long *pgrp, long *ppid, char *comm, size_t commlen)
{
	char path[64], buf[1024], *open_paren, *close_paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	open_paren = strchr(buf, '(');
	close_paren = strrchr(buf, ')');
	if (open_paren == NULL || close_paren == NULL || close_paren < open_paren)
		return false;
	if (comm != NULL)
		snprintf(comm, commlen, "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
	return sscanf(close_paren + 2, "%c %ld %ld", state, ppid, pgrp) == 3;
}

/* Processes of group pgid that are still alive (not zombies). */
static int
group_alive(long pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	long pid, pgrp, ppid;
	char st;
	int n = 0;

	while (d != NULL && (de = readdir(d)) != NULL) {
		if ((pid = strtol(de->d_name, NULL, 10)) <= 0)
			continue;
		if (proc_stat(pid, &st, &pgrp, &ppid, NULL, 0) && pgrp == pgid && st != 'Z' && st != 'X')
			n++;
	}
	if (d != NULL)
		closedir(d);
	return n;
}

/* Our children other than the simulators (watchdogs, commands), zombies included when want_zombies. */
static int
children_left(bool want_zombies)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	long pid, pgrp, ppid;
	char st, comm[64];
	int n = 0;

	while (d != NULL && (de = readdir(d)) != NULL) {
		if ((pid = strtol(de->d_name, NULL, 10)) <= 0)
			continue;
		if (!proc_stat(pid, &st, &pgrp, &ppid, comm, sizeof(comm)) || ppid != (long)getpid() ||
		    strcmp(comm, "mongo-rs-sim") == 0)
			continue;
		if (st == 'Z' && !want_zombies)
			continue;
		tap_diag("child left: pid %ld (%s) state %c", pid, comm, st);
		n++;
	}
	if (d != NULL)
		closedir(d);
	return n;
}

/* Bounded wait until no child of ours (watchdog, command) is alive any more. */
static bool
no_children_alive(int ms)
{
	int64_t deadline = th_now_ms() + ms;

	for (;;) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		long pid, pgrp, ppid;
		char st, comm[64];
		int n = 0;

		while (d != NULL && (de = readdir(d)) != NULL) {
			if ((pid = strtol(de->d_name, NULL, 10)) <= 0)
				continue;
			if (proc_stat(pid, &st, &pgrp, &ppid, comm, sizeof(comm)) && ppid == (long)getpid() &&
			    strcmp(comm, "mongo-rs-sim") != 0 && st != 'Z' && st != 'X')
				n++;
		}
		if (d != NULL)
			closedir(d);
		if (n == 0)
			return true;
		if (th_now_ms() > deadline)
			return children_left(false) == 0;
		th_pause_ms(20);
	}
}

/* COMMAND=N from `ctl counters id` (0 when the member never got it, -1 on a ctl failure). */
static long
counter(sim *s, int id, const char *command)
{
	char *out = NULL, *tok, *rest;
	size_t len = strlen(command);
	long n = -1;

	if (sim_ctl(s, &out, "counters %d", id) != 0)
		return -1;
	n = 0;
	for (rest = out; (tok = strsep(&rest, " \n")) != NULL;)
		if (strncmp(tok, command, len) == 0 && tok[len] == '=')
			n = strtol(tok + len + 1, NULL, 10);
	free(out);
	return n;
}

/* The _id of the member "host:port" in s, -1 if none. */
static int
member_id(sim *s, const char *host_port)
{
	for (int id = 0; id < 3; id++) {
		char *h = sim_host(s, id);
		bool same = h != NULL && host_port != NULL && strcmp(h, host_port) == 0;

		free(h);
		if (same)
			return id;
	}
	return -1;
}

/* Nothing locked, no record, no watchdog or command of ours alive: what every case must end with. */
static void
nothing_left(sim *s, const char *set, const char *what)
{
	tap_ok(sim_all_unlocked(s), "%s: every member of %s has lockCount 0", what, set);
	tap_ok(!record_exists(set), "%s: no record of %s is left", what, set);
	tap_ok(no_children_alive(3000 * slow_factor), "%s: no watchdog or command of ours is left running", what);
}

static void
diag_err(const char *what, const mbh_error *e)
{
	tap_diag("%s: code %d: %s", what, e->code, e->msg);
}

/* ---------------------------------------------------------------- 1. two jobs, two sets, two threads */

typedef struct two_ctx {
	tjob t;
	const char *set;
	pthread_barrier_t *go;
	int lock_rc, wait_rc, unlock_rc, status;
	int64_t lock_count;
	mbh_error lock_err, wait_err, unlock_err;
	size_t bytes;
	char first_line[64];
	long pid;
} two_ctx;

/* Read fd to EOF: the first line and the byte count. */
static size_t
drain(int fd, char *first_line, size_t fllen)
{
	char buf[65536];
	size_t total = 0, fl = 0;
	bool in_first = true;
	ssize_t n;

	first_line[0] = '\0';
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; in_first && i < n; i++) {
			if (buf[i] == '\n') {
				in_first = false;
			} else if (fl + 1 < fllen) {
				first_line[fl++] = buf[i];
				first_line[fl] = '\0';
			}
		}
		total += (size_t)n;
	}
	return total;
}

static void *
two_thread(void *arg)
{
	two_ctx *c = arg;
	const char *const templ[] = { "/bin/sh", "-c", "echo %s; head -c 100000 /dev/zero", NULL };
	mbh_child *child = NULL;

	mbh_error_init(&c->lock_err);
	mbh_error_init(&c->wait_err);
	mbh_error_init(&c->unlock_err);
	c->wait_rc = c->unlock_rc = -2;
	pthread_barrier_wait(c->go);
	c->lock_rc = mbh_job_lock_spawn(c->t.job, templ, MBH_RUN_PIPE_STDOUT, &child, &c->lock_err);
	if (c->lock_rc != 0)
		return NULL;
	c->lock_count = mbh_job_lock_count(c->t.job);
	c->pid = mbh_child_pid(child);
	/* both hold their lock, their command started, before either reads its output */
	pthread_barrier_wait(c->go);
	c->bytes = drain(mbh_child_stdout_fd(child), c->first_line, sizeof(c->first_line));
	c->wait_rc = mbh_job_wait(c->t.job, &c->status, &c->wait_err);
	c->unlock_rc = mbh_job_unlock(c->t.job, &c->unlock_err);
	return NULL;
}

static void
test_two_jobs(void)
{
	pthread_barrier_t go;
	pthread_t th[2];
	two_ctx c[2];
	recorder *ra, *rb;
	int64_t t0 = th_now_ms();

	memset(c, 0, sizeof(c));
	pthread_barrier_init(&go, NULL, 2);
	tjob_open(&c[0].t, CFG_A, JOB_A);
	tjob_open(&c[1].t, CFG_B, JOB_B);
	c[0].set = SET_A;
	c[1].set = SET_B;
	c[0].go = c[1].go = &go;
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, two_thread, &c[i]);
	/* a lock that failed leaves the other thread at the second barrier: let it through */
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	tap_diag("two jobs at once: %lld ms", (long long)(th_now_ms() - t0));
	for (int i = 0; i < 2; i++) {
		const char *set = c[i].set;

		if (!tap_is_int(c[i].lock_rc, 0, "two jobs: %s locked", set))
			diag_err("lock", &c[i].lock_err);
		tap_is_int(c[i].lock_count, 1, "two jobs: %s lockCount 1", set);
		tap_ok(c[i].pid > 0, "two jobs: %s command started", set);
		tap_is_str(c[i].first_line, set, "two jobs: %s command saw its own set (%%s)", set);
		tap_is_int((int64_t)c[i].bytes, (int64_t)(strlen(set) + 1 + 100000), "two jobs: %s stdout read whole",
			   set);
		if (!tap_ok(c[i].wait_rc == 0 && c[i].status == 0, "two jobs: %s wait: exit 0", set))
			diag_err("wait", &c[i].wait_err);
		if (!tap_is_int(c[i].unlock_rc, 0, "two jobs: %s unlocked", set))
			diag_err("unlock", &c[i].unlock_err);
		tap_ok(c[i].pid > 0 && group_alive(c[i].pid) == 0, "two jobs: %s command gone", set);
	}
	ra = &c[0].t.rec;
	rb = &c[1].t.rec;
	tap_ok(recorder_has(ra, SET_A) && recorder_has(ra, JOB_A) && recorder_has(ra, "unlocked "),
	       "two jobs: A's sink has A's lines (set, job, unlock)");
	tap_ok(recorder_has(rb, SET_B) && recorder_has(rb, JOB_B) && recorder_has(rb, "unlocked "),
	       "two jobs: B's sink has B's lines (set, job, unlock)");
	tap_ok(!recorder_has(ra, SET_B) && !recorder_has(ra, JOB_B), "two jobs: A's sink has nothing of B");
	tap_ok(!recorder_has(rb, SET_A) && !recorder_has(rb, JOB_A), "two jobs: B's sink has nothing of A");
	{
		bool clean = true;

		for (int id = 0; id < 3; id++) {
			char *ha = sim_host(SA, id), *hb = sim_host(SB, id);

			clean = clean && ha != NULL && hb != NULL && !recorder_has(rb, ha) && !recorder_has(ra, hb);
			free(ha);
			free(hb);
		}
		tap_ok(clean, "two jobs: no member of one set appears in the other's sink");
	}
	tap_ok(!recorder_has(ra, PW_A) && !recorder_has(ra, PW_B) && !recorder_has(rb, PW_A) &&
		       !recorder_has(rb, PW_B),
	       "two jobs: neither password appears in either sink");
	if (c[0].lock_rc != 0 || c[1].lock_rc != 0 || getenv("MBH_TEST_VERBOSE") != NULL) {
		recorder_diag(ra, "A");
		recorder_diag(rb, "B");
	}
	nothing_left(SA, SET_A, "two jobs");
	tap_ok(sim_all_unlocked(SB) && !record_exists(SET_B), "two jobs: %s unlocked, no record", SET_B);
	tjob_close(&c[0].t);
	tjob_close(&c[1].t);
	pthread_barrier_destroy(&go);
}

/* ---------------------------------------------------------------- 2. cancel from another thread */

/* Member id answers ms late: every command, or only cmd (NULL: every one). */
static void
set_slow(sim *s, int id, int ms, const char *cmd)
{
	if (sim_ctl(s, NULL, "slow %d %d %s", id, ms, cmd != NULL ? cmd : "") != 0)
		tap_diag("ctl slow %d %d %s failed", id, ms, cmd != NULL ? cmd : "");
}

enum cancel_when { AFTER_DELAY, WHEN_LOCKED, WHEN_STREAMING };

typedef struct canceller {
	mbh_job *job;
	enum cancel_when when;
	int delay_ms;
	atomic_size_t *streamed;  /* WHEN_STREAMING: bytes the owner has read */
	bool unlock;              /* then mbh_job_unlock from this thread too */
	bool fired;
	int64_t at;               /* th_now_ms() of the cancel */
	int unlock_rc;
	mbh_error unlock_err;
} canceller;

static void *
cancel_thread(void *arg)
{
	canceller *c = arg;
	int64_t deadline = th_now_ms() + 30000;

	switch (c->when) {
	case AFTER_DELAY:
		th_pause_ms(c->delay_ms);
		break;
	case WHEN_LOCKED:
		/* the simulator takes the lock at once and sends the reply slow_ms later: cancel meanwhile */
		while (sim_status_long(SA, PASSIVE_A, "lockCount") != 1 && th_now_ms() < deadline)
			th_pause_ms(5);
		break;
	case WHEN_STREAMING:
		while (atomic_load(c->streamed) < 1024 * 1024 && th_now_ms() < deadline)
			th_pause_ms(5);
		break;
	}
	c->fired = th_now_ms() < deadline;
	c->at = th_now_ms();
	mbh_job_cancel(c->job);
	mbh_error_init(&c->unlock_err);
	if (c->unlock)
		c->unlock_rc = mbh_job_unlock(c->job, &c->unlock_err);
	return NULL;
}

/* mbh_job_lock on a job cancelled by c (started first); returns the lock's rc. */
static int
lock_under_cancel(tjob *t, canceller *c, mbh_error *err, int64_t *elapsed_after_cancel)
{
	pthread_t th;
	int rc;

	c->job = t->job;
	mbh_error_init(err);
	pthread_create(&th, NULL, cancel_thread, c);
	rc = mbh_job_lock(t->job, err);
	pthread_join(th, NULL);
	*elapsed_after_cancel = th_now_ms() - c->at;
	return rc;
}

static void
test_cancel(void)
{
	tjob t;
	canceller c;
	mbh_error err;
	int64_t t0, after;
	long unlocks;
	int rc;

	/* before the start: nothing is even tried */
	tjob_open(&t, CFG_A, "job-cancel-0");
	mbh_job_cancel(t.job);
	mbh_error_init(&err);
	t0 = th_now_ms();
	rc = mbh_job_lock(t.job, &err);
	tap_ok(rc != 0 && err.code == EX_TEMPFAIL && strstr(err.msg, "cancelled") != NULL,
	       "cancel before the start: the lock fails at once with EX_TEMPFAIL (%s)", err.msg);
	tap_ok(th_now_ms() - t0 < 1000 * slow_factor, "cancel before the start: within 1 s (%lld ms)", (long long)(th_now_ms() - t0));
	tap_ok(mbh_job_cancelled(t.job), "mbh_job_cancelled says so");
	tjob_close(&t);
	nothing_left(SA, SET_A, "cancel before the start");

	/* during discovery: every member answers 300 ms late, the cancel comes 150 ms in */
	for (int id = 0; id < 3; id++)
		set_slow(SA, id, 300, NULL);
	tjob_open(&t, CFG_A, "job-cancel-1");
	memset(&c, 0, sizeof(c));
	c.when = AFTER_DELAY;
	c.delay_ms = 150;
	rc = lock_under_cancel(&t, &c, &err, &after);
	for (int id = 0; id < 3; id++)
		set_slow(SA, id, 0, NULL);
	if (!tap_ok(rc != 0 && err.code == EX_TEMPFAIL && strstr(err.msg, "cancelled") != NULL,
		    "cancel during discovery: EX_TEMPFAIL, cancelled (%s)", err.msg))
		recorder_diag(&t.rec, "cancel during discovery");
	tap_ok(after < 5000 * slow_factor, "cancel during discovery: the lock returned %lld ms after the cancel (bound %d s)",
	       (long long)after, 5 * slow_factor);
	tap_ok(!recorder_has(&t.rec, "chose "), "cancel during discovery: no member was chosen");
	tjob_close(&t);
	nothing_left(SA, SET_A, "cancel during discovery");

	/* during the lock: member 2 answers fsync 600 ms late; cancel once it is locked, before the reply */
	unlocks = counter(SA, PASSIVE_A, "fsyncUnlock");
	set_slow(SA, PASSIVE_A, 600, "fsync");
	tjob_open(&t, CFG_A, "job-cancel-2");
	memset(&c, 0, sizeof(c));
	c.when = WHEN_LOCKED;
	rc = lock_under_cancel(&t, &c, &err, &after);
	set_slow(SA, PASSIVE_A, 0, NULL);
	tap_ok(c.fired, "cancel during the lock: the member was seen locked before the reply");
	if (!tap_ok(rc != 0 && err.code == EX_TEMPFAIL && strstr(err.msg, "cancelled") != NULL,
		    "cancel during the lock: EX_TEMPFAIL, cancelled (%s)", err.msg))
		recorder_diag(&t.rec, "cancel during the lock");
	tap_ok(after < 8000 * slow_factor, "cancel during the lock: the lock returned %lld ms after the cancel (bound %d s)",
	       (long long)after, 8 * slow_factor);
	tap_is_int(counter(SA, PASSIVE_A, "fsyncUnlock") - unlocks, 1,
		   "cancel during the lock: exactly one fsyncUnlock reached the member");
	tap_is_int(mbh_job_unlock(t.job, &err), 0, "cancel during the lock: a later unlock is a no-op");
	tjob_close(&t);
	nothing_left(SA, SET_A, "cancel during the lock");
}

/* The owner of a streaming command; the canceller cancels and unlocks meanwhile. */
typedef struct streamer {
	tjob *t;
	atomic_size_t streamed;
	int lock_rc, wait_rc, status;
	mbh_error lock_err, wait_err;
	long pid;
	int64_t read_done, wait_done;
} streamer;

static void *
stream_thread(void *arg)
{
	streamer *s = arg;
	const char *const templ[] = { "/bin/sh", "-c", "echo %s; exec cat /dev/zero", NULL };
	mbh_child *child = NULL;
	char buf[65536];
	ssize_t n;
	int fd;

	mbh_error_init(&s->lock_err);
	mbh_error_init(&s->wait_err);
	s->wait_rc = -2;
	s->lock_rc = mbh_job_lock_spawn(s->t->job, templ, MBH_RUN_PIPE_STDOUT, &child, &s->lock_err);
	if (s->lock_rc != 0) {
		atomic_store(&s->streamed, (size_t)-1);
		return NULL;
	}
	s->pid = mbh_child_pid(child);
	fd = mbh_child_stdout_fd(child);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		atomic_fetch_add(&s->streamed, (size_t)n);
	}
	s->read_done = th_now_ms();
	s->wait_rc = mbh_job_wait(s->t->job, &s->status, &s->wait_err);
	s->wait_done = th_now_ms();
	return NULL;
}

static void
test_cancel_streaming(void)
{
	tjob t;
	canceller c;
	streamer s;
	pthread_t owner, other;

	tjob_open(&t, CFG_A, "job-cancel-3");
	memset(&s, 0, sizeof(s));
	s.t = &t;
	atomic_init(&s.streamed, 0);
	memset(&c, 0, sizeof(c));
	c.job = t.job;
	c.when = WHEN_STREAMING;
	c.streamed = &s.streamed;
	c.unlock = true;
	pthread_create(&owner, NULL, stream_thread, &s);
	pthread_create(&other, NULL, cancel_thread, &c);
	pthread_join(other, NULL);
	pthread_join(owner, NULL);
	if (!tap_is_int(s.lock_rc, 0, "cancel while streaming: locked, the command started"))
		diag_err("lock", &s.lock_err);
	tap_ok(c.fired, "cancel while streaming: cancelled after %zu bytes", (size_t)atomic_load(&s.streamed));
	if (!tap_is_int(c.unlock_rc, 0, "cancel while streaming: the canceller's unlock returns 0"))
		diag_err("unlock", &c.unlock_err);
	tap_ok(s.read_done - c.at < 5000 * slow_factor, "cancel while streaming: the owner's read ended %lld ms after the cancel",
	       (long long)(s.read_done - c.at));
	if (!tap_ok(s.wait_rc == -1 && s.wait_err.code == EX_TEMPFAIL,
		    "cancel while streaming: mbh_job_wait says the command was stopped (EX_TEMPFAIL)"))
		diag_err("wait", &s.wait_err);
	tap_ok(s.wait_done - s.read_done < 3000 * slow_factor, "cancel while streaming: the wait returned in %lld ms",
	       (long long)(s.wait_done - s.read_done));
	tap_ok(s.pid > 0 && group_alive(s.pid) == 0, "cancel while streaming: the command's group is gone");
	tap_ok(!recorder_has(&t.rec, PW_A), "cancel while streaming: no password in the sink");
	tjob_close(&t);
	nothing_left(SA, SET_A, "cancel while streaming");
}

/* ---------------------------------------------------------------- 3. three threads unlock one lock */

typedef struct unlocker {
	mbh_job *job;
	pthread_barrier_t *go;
	int rc;
	mbh_error err;
} unlocker;

static void *
unlock_thread(void *arg)
{
	unlocker *u = arg;

	mbh_error_init(&u->err);
	pthread_barrier_wait(u->go);
	u->rc = mbh_job_unlock(u->job, &u->err);
	return NULL;
}

static void
test_three_unlockers(void)
{
	pthread_barrier_t go;
	pthread_t th[3];
	unlocker u[3];
	tjob t;
	mbh_error err;
	long before, locks;
	int id, rc;

	tjob_open(&t, CFG_A, "job-three");
	mbh_error_init(&err);
	locks = counter(SA, PASSIVE_A, "fsync");
	rc = mbh_job_lock(t.job, &err);
	if (!tap_is_int(rc, 0, "three unlockers: locked"))
		diag_err("lock", &err);
	id = member_id(SA, mbh_job_member(t.job));
	tap_is_int(id, PASSIVE_A, "three unlockers: the passive member was chosen");
	tap_is_int(counter(SA, PASSIVE_A, "fsync") - locks, 1, "three unlockers: one fsync lock was sent");
	before = counter(SA, PASSIVE_A, "fsyncUnlock");
	pthread_barrier_init(&go, NULL, 3);
	for (int i = 0; i < 3; i++) {
		u[i].job = t.job;
		u[i].go = &go;
		pthread_create(&th[i], NULL, unlock_thread, &u[i]);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < 3; i++)
		if (!tap_is_int(u[i].rc, 0, "three unlockers: unlock %d returns 0", i + 1))
			diag_err("unlock", &u[i].err);
	tap_is_int(counter(SA, PASSIVE_A, "fsyncUnlock") - before, 1,
		   "three unlockers: exactly one fsyncUnlock reached the member");
	tap_is_int(sim_status_long(SA, PASSIVE_A, "lockCount"), 0, "three unlockers: lockCount 0");
	tjob_close(&t);
	nothing_left(SA, SET_A, "three unlockers");
}

/* ---------------------------------------------------------------- 4. lock, unlock, lock, unlock */

static void
test_relock(void)
{
	tjob t;
	mbh_error err;
	long locks, unlocks;
	int rc;

	tjob_open(&t, CFG_B, "job-relock");
	locks = counter(SB, 1, "fsync") + counter(SB, 2, "fsync");
	unlocks = counter(SB, 1, "fsyncUnlock") + counter(SB, 2, "fsyncUnlock");
	for (int round = 1; round <= 2; round++) {
		mbh_error_init(&err);
		rc = mbh_job_lock(t.job, &err);
		if (!tap_is_int(rc, 0, "relock: lock %d works", round))
			diag_err("lock", &err);
		tap_is_int(mbh_job_lock_count(t.job), 1, "relock: lock %d returned lockCount 1", round);
		tap_ok(record_exists(SET_B), "relock: lock %d is recorded", round);
		mbh_error_init(&err);
		rc = mbh_job_unlock(t.job, &err);
		if (!tap_is_int(rc, 0, "relock: unlock %d works", round))
			diag_err("unlock", &err);
		tap_ok(sim_all_unlocked(SB) && !record_exists(SET_B), "relock: after unlock %d nothing is held", round);
	}
	tap_is_int(counter(SB, 1, "fsync") + counter(SB, 2, "fsync") - locks, 2, "relock: two fsync locks sent");
	tap_is_int(counter(SB, 1, "fsyncUnlock") + counter(SB, 2, "fsyncUnlock") - unlocks, 2,
		   "relock: two fsyncUnlocks sent");
	tap_ok(sim_status_long(SB, 1, "frozen") == 0 && sim_status_long(SB, 2, "frozen") == 0,
	       "relock: no member is left frozen");
	tjob_close(&t);
	nothing_left(SB, SET_B, "relock");
}

/* ---------------------------------------------------------------- 5. a refused lock holds nothing */

static void
test_refused(void)
{
	tjob first, second;
	mbh_error err;
	char *member = NULL;
	int rc;

	tjob_open(&first, CFG_A, "job-first");
	tjob_open(&second, CFG_A, "job-second");
	mbh_error_init(&err);
	rc = mbh_job_lock(first.job, &err);
	if (!tap_is_int(rc, 0, "refused: the first job locks"))
		diag_err("lock", &err);
	member = strdup(mbh_job_member(first.job));
	mbh_error_init(&err);
	rc = mbh_job_lock(second.job, &err);
	tap_ok(rc != 0 && err.code == EX_TEMPFAIL, "refused: the second job's lock fails with EX_TEMPFAIL");
	tap_ok(strstr(err.msg, "job-first") != NULL, "refused: the message names the first job (%s)", err.msg);
	tap_is_int(sim_status_long(SA, PASSIVE_A, "lockCount"), 1, "refused: the first job's lock is still the only one");
	tap_ok(record_exists(SET_A), "refused: the first job's record is still there");
	mbh_error_init(&err);
	tap_is_int(mbh_job_unlock(second.job, &err), 0, "refused: the second job's unlock is a no-op");
	tap_is_int(sim_status_long(SA, PASSIVE_A, "lockCount"), 1, "refused: ... and unlocks nothing");
	mbh_error_init(&err);
	rc = mbh_job_unlock(first.job, &err);
	if (!tap_is_int(rc, 0, "refused: the first job unlocks"))
		diag_err("unlock", &err);
	mbh_error_init(&err);
	rc = mbh_job_lock(second.job, &err);
	if (!tap_is_int(rc, 0, "refused: then the second job locks"))
		diag_err("lock", &err);
	tap_is_str(mbh_job_member(second.job), member, "refused: ... the same member");
	mbh_error_init(&err);
	rc = mbh_job_unlock(second.job, &err);
	if (!tap_is_int(rc, 0, "refused: and unlocks"))
		diag_err("unlock", &err);
	free(member);
	tjob_close(&first);
	tjob_close(&second);
	nothing_left(SA, SET_A, "refused");
}

/* ---------------------------------------------------------------- 6. a second lock refused; wait vs unlock */

typedef struct late_unlock {
	mbh_job *job;
	int delay_ms;
	int64_t at;
	int rc;
	mbh_error err;
} late_unlock;

static void *
late_unlock_thread(void *arg)
{
	late_unlock *l = arg;

	th_pause_ms(l->delay_ms);
	l->at = th_now_ms();
	mbh_error_init(&l->err);
	l->rc = mbh_job_unlock(l->job, &l->err);
	return NULL;
}

static void
test_spawn_and_wait(void)
{
	const char *const sleeper[] = { "sleep", "30", NULL };
	const char *const quick[] = { "true", NULL };
	mbh_child *child = NULL, *second = NULL;
	late_unlock l;
	pthread_t th;
	tjob t;
	mbh_error err;
	int rc, status = 0;
	long pid;
	int64_t done;

	tjob_open(&t, CFG_A, "job-spawn");
	mbh_error_init(&err);
	tap_ok(mbh_job_wait(t.job, &status, &err) != 0 && err.code == EX_SOFTWARE,
	       "wait before any lock fails: no command (EX_SOFTWARE: %s)", err.msg);

	mbh_error_init(&err);
	rc = mbh_job_lock_spawn(t.job, sleeper, 0, &child, &err);
	if (!tap_is_int(rc, 0, "wait vs unlock: locked, sleep 30 started"))
		diag_err("lock", &err);
	pid = mbh_child_pid(child);
	/* one lock, one command: a second lock with its command, while the first holds, starts nothing */
	mbh_error_init(&err);
	rc = mbh_job_lock_spawn(t.job, quick, 0, &second, &err);
	tap_ok(rc != 0 && second == NULL && err.code == EX_SOFTWARE,
	       "a second lock with a command while one is held is refused (EX_SOFTWARE: %s)", err.msg);
	tap_ok(group_alive(pid) > 0, "... and the first command still runs");
	memset(&l, 0, sizeof(l));
	l.job = t.job;
	l.delay_ms = 300;
	pthread_create(&th, NULL, late_unlock_thread, &l);
	mbh_error_init(&err);
	rc = mbh_job_wait(t.job, &status, &err);
	done = th_now_ms();
	pthread_join(th, NULL);
	tap_ok(rc != 0 && err.code == EX_TEMPFAIL, "wait vs unlock: the wait reports the command stopped (%s)", err.msg);
	tap_ok(done - l.at < 4000 * slow_factor, "wait vs unlock: the wait returned %lld ms after the unlock started",
	       (long long)(done - l.at));
	if (!tap_is_int(l.rc, 0, "wait vs unlock: the other thread's unlock returns 0"))
		diag_err("unlock", &l.err);
	tap_ok(pid > 0 && group_alive(pid) == 0, "wait vs unlock: sleep is gone");

	mbh_error_init(&err);
	tap_ok(mbh_job_wait(t.job, &status, &err) != 0 && err.code == EX_SOFTWARE,
	       "wait after the unlock fails: the stopped command was reaped (%s)", err.msg);

	/* an unlock from another thread kills a command nobody waits for; the next lock runs a new one */
	mbh_error_init(&err);
	rc = mbh_job_lock_spawn(t.job, sleeper, 0, &child, &err);
	if (!tap_is_int(rc, 0, "unwaited command: locked, sleep 30 started"))
		diag_err("lock/spawn", &err);
	pid = mbh_child_pid(child);
	memset(&l, 0, sizeof(l));
	l.job = t.job;
	pthread_create(&th, NULL, late_unlock_thread, &l);
	pthread_join(th, NULL);
	if (!tap_is_int(l.rc, 0, "unwaited command: the other thread's unlock returns 0"))
		diag_err("unlock", &l.err);
	tap_ok(pid > 0 && group_alive(pid) == 0, "unwaited command: sleep is gone");
	mbh_error_init(&err);
	rc = mbh_job_lock_spawn(t.job, quick, 0, &child, &err);
	if (!tap_is_int(rc, 0, "unwaited command: the next lock runs a new command"))
		diag_err("lock/spawn", &err);
	mbh_error_init(&err);
	tap_ok(rc == 0 && mbh_job_wait(t.job, &status, &err) == 0 && status == 0, "unwaited command: it ends with 0");
	mbh_error_init(&err);
	tap_is_int(mbh_job_unlock(t.job, &err), 0, "unwaited command: unlocked");
	tjob_close(&t);
	nothing_left(SA, SET_A, "spawn and wait");
}

/*
 * The owner's wait and another thread's unlock, started together, many
 * times with the unlock a few milliseconds earlier or later: however they
 * interleave, the wait reports the command stopped, the unlock returns 0 and
 * nothing is left (under ASan: no use of the freed command).
 */
static void
test_wait_unlock_race(void)
{
	const char *const sleeper[] = { "sleep", "30", NULL };
	mbh_child *child = NULL;
	late_unlock l;
	pthread_t th;
	tjob t;
	mbh_error err;
	int rounds = 12, bad = 0, status, rc;
	bool late;
	long pid;

	tjob_open(&t, CFG_A, "job-race");
	for (int i = 0; i < rounds; i++) {
		mbh_error_init(&err);
		rc = mbh_job_lock_spawn(t.job, sleeper, 0, &child, &err);
		if (rc != 0) {
			diag_err("race: lock/spawn", &err);
			bad++;
			mbh_job_unlock(t.job, &err);
			continue;
		}
		pid = mbh_child_pid(child);
		memset(&l, 0, sizeof(l));
		l.job = t.job;
		l.delay_ms = i % 4; /* 0..3 ms: the unlock lands before, at and after the wait's start */
		pthread_create(&th, NULL, late_unlock_thread, &l);
		/* and twice the owner comes only once the unlock is over (its thread joined) */
		late = i % 6 == 5;
		if (late)
			pthread_join(th, NULL);
		else
			th_pause_ms(i % 3);
		mbh_error_init(&err);
		rc = mbh_job_wait(t.job, &status, &err);
		if (!late)
			pthread_join(th, NULL);
		if (rc != -1 || err.code != EX_TEMPFAIL || l.rc != 0 || group_alive(pid) != 0) {
			tap_diag("race round %d: wait %d (code %d: %s), unlock %d (%s), group alive %d", i, rc, err.code,
				 err.msg, l.rc, l.err.msg, group_alive(pid));
			bad++;
		}
	}
	tap_is_int(bad, 0, "wait vs unlock, %d rounds: every wait says stopped, every unlock returns 0", rounds);
	tjob_close(&t);
	nothing_left(SA, SET_A, "wait vs unlock race");
}

/* ---------------------------------------------------------------- main */

/* ---------------------------------------------------------------- the stream (job_stream.c) and the async unlock */

/* A lock with templ started under it as a stream; false (and a failed check) when it did not work. */
static bool
stream_start(tjob *t, const char *name, const char *script, const char *what)
{
	const char *const templ[] = { "/bin/sh", "-c", script, NULL };
	mbh_child *child = NULL;
	mbh_error err;

	tjob_open(t, CFG_A, name);
	mbh_error_init(&err);
	if (!tap_ok(mbh_job_lock_spawn(t->job, templ, MBH_RUN_PIPE_STDOUT, &child, &err) == 0 &&
		    mbh_job_stream_open(t->job, &err) == 0, "%s: locked, the command's output open as a stream", what)) {
		diag_err(what, &err);
		return false;
	}
	return true;
}

/* The async unlock's caller: cancel, ask, and time how long that took. */
typedef struct asker {
	mbh_job *job;
	int delay_ms;
	int64_t took_ms;
	int rc;
	bool unslow; /* then PASSIVE_A answers at once again (the undo is not what is measured) */
} asker;

static void *
ask_thread(void *arg)
{
	asker *a = arg;
	mbh_error err;
	int64_t t0;

	{
		struct timespec ts = { a->delay_ms / 1000, (a->delay_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	mbh_error_init(&err);
	t0 = th_now_ms();
	mbh_job_cancel(a->job);
	a->rc = mbh_job_unlock_async(a->job, &err);
	a->took_ms = th_now_ms() - t0;
	if (a->unslow)
		set_slow(SA, PASSIVE_A, 0, NULL);
	return NULL;
}

static void
test_stream(void)
{
	static char buf[65536];
	mbh_error err;
	size_t got = 0;
	int64_t t0;
	asker a;
	pthread_t th;
	int status = -1, rc;
	tjob t;

	/* closed before its end: the command is stopped at once and the close says how far it went */
	if (stream_start(&t, "job-stream-1", "head -c 300000 /dev/zero; exec sleep 30", "closed early")) {
		mbh_error_init(&err);
		rc = mbh_job_stream_read(t.job, buf, sizeof(buf), &got, &err);
		tap_ok(rc == 0 && got == sizeof(buf), "closed early: one full read (%zu bytes)", got);
		t0 = th_now_ms();
		rc = mbh_job_stream_close(t.job, &status, &err);
		tap_ok(rc != 0 && strstr(err.msg, "was closed after 65536 bytes, before its end") != NULL,
		       "closed early: the close fails, saying after how many bytes (%s)", err.msg);
		tap_ok(th_now_ms() - t0 < 3000 * slow_factor, "closed early: at once (%lld ms; script.timeout 60 s)",
		       (long long)(th_now_ms() - t0));
		tap_is_int(mbh_job_unlock(t.job, &err), 0, "closed early: unlocked");
	}
	tjob_close(&t);
	nothing_left(SA, SET_A, "closed early");

	/* a command that writes nothing and exits 0 */
	if (stream_start(&t, "job-stream-2", "exit 0", "empty")) {
		mbh_error_init(&err);
		tap_ok(mbh_job_stream_read(t.job, buf, sizeof(buf), &got, &err) == 0 && got == 0, "empty: the end at once");
		rc = mbh_job_stream_close(t.job, &status, &err);
		tap_ok(rc != 0 && err.code == EX_DATAERR && status == 0 && strstr(err.msg, "wrote nothing") != NULL &&
		       strstr(err.msg, "script.allow_empty") != NULL, "empty: EX_DATAERR, naming script.allow_empty (%s)",
		       err.msg);
		tap_is_int(mbh_job_unlock(t.job, &err), 0, "empty: unlocked");
	}
	tjob_close(&t);
	nothing_left(SA, SET_A, "empty");

	/* an unlock asked while the lock flow waits on a slow member returns at once; the flow undoes its lock */
	set_slow(SA, PASSIVE_A, 1500, NULL);
	tjob_open(&t, CFG_A, "job-stream-3");
	memset(&a, 0, sizeof(a));
	a.job = t.job;
	a.delay_ms = 300;
	a.unslow = true; /* at 1.5 s a command the undo took 7.5 s of the 10 s bound */
	pthread_create(&th, NULL, ask_thread, &a);
	mbh_error_init(&err);
	rc = mbh_job_lock(t.job, &err);
	pthread_join(th, NULL);
	set_slow(SA, PASSIVE_A, 0, NULL);
	tap_ok(a.rc == 0 && a.took_ms < 200 * slow_factor,
	       "async unlock during a slow lock: asked and returned in %lld ms (the member answers in 1.5 s)",
	       (long long)a.took_ms);
	tap_ok(rc != 0 && strstr(err.msg, "cancelled") != NULL, "async unlock during a slow lock: the lock gives up (%s)",
	       err.msg);
	tap_ok(mbh_job_unlock_wait(t.job, 10000 * slow_factor), "async unlock during a slow lock: done");
	tap_ok(!mbh_job_holds(t.job), "async unlock during a slow lock: nothing held");
	tjob_close(&t);
	nothing_left(SA, SET_A, "async unlock during a slow lock");
}

int
main(void)
{
	char pw_a[512], pw_b[512];
	int64_t t0 = th_now_ms();
	int rc;

	mongoc_init();
	th_quiet_mongoc_log();
	th_watchdog(900);
	if (getenv("LD_PRELOAD") != NULL && strstr(getenv("LD_PRELOAD"), "vgpreload") != NULL)
		slow_factor = 10;
	watchdog_path = getenv("MONGO_BACKUP_WATCHDOG");
	if (watchdog_path == NULL || access(watchdog_path, X_OK) != 0)
		tap_skip_all("MONGO_BACKUP_WATCHDOG is not set to the built watchdog (run through make check)");
	tap_plan(PLAN);
	snprintf(tmpdir, sizeof(tmpdir), "%s/mbh-job-api.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
	snprintf(pw_a, sizeof(pw_a), "%s/a.secret", tmpdir);
	snprintf(pw_b, sizeof(pw_b), "%s/b.secret", tmpdir);
	write_password(pw_a, PW_A);
	write_password(pw_b, PW_B);
	SA = sim_start(topology_a, NULL);
	SB = sim_start(topology_b, NULL);
	if (SA == NULL || SB == NULL) {
		printf("Bail out! the simulators did not start\n");
		return 1;
	}
	CFG_A = make_config(SA, pw_a);
	CFG_B = make_config(SB, pw_b);

	test_two_jobs();
	test_cancel();
	test_cancel_streaming();
	test_three_unlockers();
	test_relock();
	test_refused();
	test_spawn_and_wait();
	test_wait_unlock_race();
	test_stream();

	tap_ok(sim_all_unlocked(SA) && sim_all_unlocked(SB), "at the end no member of either set is locked");
	tap_ok(children_left(true) == 0, "at the end no child of ours is left, not even a zombie");
	tap_is_int(sim_stop(SA), 0, "simulator A exits 0");
	tap_is_int(sim_stop(SB), 0, "simulator B exits 0");
	mbh_config_free(CFG_A);
	mbh_config_free(CFG_B);
	unlink(pw_a);
	unlink(pw_b);
	{
		char p[600];

		snprintf(p, sizeof(p), "%s/%s.lock", state_dir, SET_A);
		unlink(p);
		snprintf(p, sizeof(p), "%s/%s.lock", state_dir, SET_B);
		unlink(p);
		snprintf(p, sizeof(p), "%s/%s.events", state_dir, SET_A);
		unlink(p);
		snprintf(p, sizeof(p), "%s/%s.events", state_dir, SET_B);
		unlink(p);
		if (rmdir(state_dir) != 0)
			tap_diag("state directory %s not empty", state_dir);
		rmdir(tmpdir);
	}
	mongoc_cleanup();
	tap_diag("job-api: %lld ms", (long long)(th_now_ms() - t0));
	rc = tap_exit_status();
	return rc;
}
