/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* sim-harness.c: TAP output, starting/stopping mongo-rs-sim and its control socket, for integration tests. */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim-harness.h"

#define SIM_MAX_STARTED 8
#define SIM_READY_WAIT_MS 20000
#define SIM_CTL_WAIT_MS 15000

struct sim {
	pid_t pid;
	char dir[256];
	char ready[512];
	char ctl[1024];
	char uri[1024];
	char first_line[1024];
	int reaped;
	int status;
};

static int tap_planned = -1;
static int tap_count;
static int tap_failed;

/* Pids of running simulators, for the exit/signal cleanup. */
static volatile pid_t started[SIM_MAX_STARTED];

void
tap_plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

void
tap_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	fflush(stdout);
	exit(0);
}

static bool
tap_vok(bool cond, const char *fmt, va_list ap)
{
	tap_count++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

bool
tap_ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vok(cond, fmt, ap);
	va_end(ap);
	return cond;
}

void
tap_skip(const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	printf("ok %d # SKIP ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void
tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

bool
tap_is_int(int64_t got, int64_t want, const char *fmt, ...)
{
	va_list ap;
	bool r;

	va_start(ap, fmt);
	r = tap_vok(got == want, fmt, ap);
	va_end(ap);
	if (!r)
		tap_diag("  got %lld, want %lld", (long long)got, (long long)want);
	return r;
}

bool
tap_is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	bool r;

	va_start(ap, fmt);
	r = tap_vok(got != NULL && want != NULL && strcmp(got, want) == 0, fmt, ap);
	va_end(ap);
	if (!r)
		tap_diag("  got \"%s\", want \"%s\"", got ? got : "(null)", want ? want : "(null)");
	return r;
}

int
tap_exit_status(void)
{
	if (tap_planned >= 0 && tap_count != tap_planned) {
		tap_diag("planned %d tests but ran %d", tap_planned, tap_count);
		return 1;
	}
	return tap_failed ? 1 : 0;
}

/* Kill every simulator still registered; async-signal-safe. */
static void
kill_started(void)
{
	for (int i = 0; i < SIM_MAX_STARTED; i++) {
		pid_t p = started[i];
		if (p > 0) {
			kill(p, SIGKILL);
			started[i] = 0;
		}
	}
}

static void
on_fatal_signal(int sig)
{
	static const char msg[] = "# killed by a signal or the watchdog: stopping the simulators\n";

	kill_started();
	if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0) {
		/* nothing to do */
	}
	_exit(sig == SIGALRM ? 1 : 128 + sig);
}

static void
install_cleanup(void)
{
	static int done;
	struct sigaction sa;

	if (done)
		return;
	done = 1;
	atexit(kill_started);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	/* A member closing a socket under us must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
}

void
th_watchdog(unsigned secs)
{
	install_cleanup();
	alarm(secs);
}

int64_t
th_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
th_pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void
register_pid(pid_t pid)
{
	for (int i = 0; i < SIM_MAX_STARTED; i++) {
		if (started[i] == 0) {
			started[i] = pid;
			return;
		}
	}
}

static void
unregister_pid(pid_t pid)
{
	for (int i = 0; i < SIM_MAX_STARTED; i++)
		if (started[i] == pid)
			started[i] = 0;
}

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (f == NULL)
		return -1;
	if (fputs(text, f) == EOF)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/* Print a file's last lines as diagnostics (the simulator's stderr/log on a failure). */
static void
diag_file(const char *label, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	char ring[20][512];
	int n = 0;

	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		snprintf(ring[n % 20], sizeof ring[0], "%s", line);
		n++;
	}
	fclose(f);
	for (int i = n > 20 ? n - 20 : 0; i < n; i++)
		tap_diag("%s: %s", label, ring[i % 20]);
}

/* Read the ready file: exactly 3 lines pid/uri/ctl; 0 when complete. */
static int
read_ready(sim *s)
{
	FILE *f = fopen(s->ready, "r");
	char line[3][1024];
	int n = 0;

	if (f == NULL)
		return -1;
	while (n < 3 && fgets(line[n], sizeof line[n], f) != NULL) {
		line[n][strcspn(line[n], "\n")] = '\0';
		n++;
	}
	fclose(f);
	if (n < 3)
		return -1;
	snprintf(s->uri, sizeof s->uri, "%s", line[1]);
	snprintf(s->ctl, sizeof s->ctl, "%s", line[2]);
	if (strtol(line[0], NULL, 10) != (long)s->pid)
		tap_diag("ready file pid %s differs from the started pid %ld", line[0], (long)s->pid);
	return 0;
}

static void
reap(sim *s, int block)
{
	int st;
	pid_t r;

	if (s->reaped)
		return;
	r = waitpid(s->pid, &st, block ? 0 : WNOHANG);
	if (r == s->pid) {
		s->reaped = 1;
		s->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		unregister_pid(s->pid);
	}
}

bool
sim_alive(sim *s)
{
	reap(s, 0);
	return !s->reaped;
}

static void
remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[PATH_MAX];
	struct stat st;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			remove_tree(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

sim *
sim_start(const char *topology, const char *const *extra)
{
	const char *bin = getenv("MBH_SIM");
	const char *tmp = getenv("TMPDIR");
	char topo[PATH_MAX], logp[PATH_MAX], outp[PATH_MAX], errp[PATH_MAX];
	const char *argv[32];
	int argc = 0;
	int64_t deadline;
	sim *s = NULL;

	install_cleanup();
	if (bin == NULL || *bin == '\0') {
		tap_diag("MBH_SIM is not set (run through make check)");
		return NULL;
	}
	if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 60)
		tmp = "/tmp";   /* Unix socket paths are limited to 108 bytes */
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	snprintf(s->dir, sizeof s->dir, "%s/mbh-sim.XXXXXX", tmp);
	if (mkdtemp(s->dir) == NULL) {
		tap_diag("mkdtemp %s: %s", s->dir, strerror(errno));
		free(s);
		return NULL;
	}
	snprintf(topo, sizeof topo, "%s/topology.conf", s->dir);
	snprintf(s->ready, sizeof s->ready, "%s/ready", s->dir);
	snprintf(s->ctl, sizeof s->ctl, "%s/ctl", s->dir);
	snprintf(logp, sizeof logp, "%s/sim.log", s->dir);
	snprintf(outp, sizeof outp, "%s/stdout", s->dir);
	snprintf(errp, sizeof errp, "%s/stderr", s->dir);
	if (write_file(topo, topology) != 0) {
		tap_diag("cannot write %s", topo);
		remove_tree(s->dir);
		free(s);
		return NULL;
	}
	argv[argc++] = bin;
	argv[argc++] = "--topology";
	argv[argc++] = topo;
	argv[argc++] = "--ready-file";
	argv[argc++] = s->ready;
	argv[argc++] = "--ctl";
	argv[argc++] = s->ctl;
	argv[argc++] = "--log";
	argv[argc++] = logp;
	for (int i = 0; extra != NULL && extra[i] != NULL && argc < 30; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;

	fflush(stdout);
	s->pid = fork();
	if (s->pid < 0) {
		tap_diag("fork: %s", strerror(errno));
		remove_tree(s->dir);
		free(s);
		return NULL;
	}
	if (s->pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (o < 0 || e < 0 || dup2(o, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
			_exit(127);
		close(o);
		close(e);
		alarm(0);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	register_pid(s->pid);

	/* Bounded wait for the ready file; give up at once if the simulator died. */
	deadline = th_now_ms() + SIM_READY_WAIT_MS;
	for (;;) {
		if (read_ready(s) == 0)
			break;
		if (!sim_alive(s)) {
			tap_diag("the simulator exited with status %d before it was ready", s->status);
			diag_file("sim stderr", errp);
			goto fail;
		}
		if (th_now_ms() > deadline) {
			tap_diag("no ready file after %d ms", SIM_READY_WAIT_MS);
			diag_file("sim stderr", errp);
			goto fail;
		}
		th_pause_ms(10);
	}
	return s;
fail:
	sim_stop(s);
	return NULL;
}

const char *
sim_stdout_first_line(sim *s)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof path, "%s/stdout", s->dir);
	s->first_line[0] = '\0';
	f = fopen(path, "r");
	if (f == NULL)
		return s->first_line;
	if (fgets(s->first_line, sizeof s->first_line, f) != NULL)
		s->first_line[strcspn(s->first_line, "\n")] = '\0';
	fclose(f);
	return s->first_line;
}

int
sim_stop(sim *s)
{
	int64_t deadline;
	int rc;

	if (s == NULL)
		return -1;
	if (s->pid > 0 && sim_alive(s)) {
		kill(s->pid, SIGTERM);
		deadline = th_now_ms() + 10000;
		while (sim_alive(s) && th_now_ms() < deadline)
			th_pause_ms(10);
		if (!s->reaped) {
			tap_diag("the simulator ignored SIGTERM for 10 s; SIGKILL");
			kill(s->pid, SIGKILL);
			reap(s, 1);
		}
	}
	rc = s->reaped ? s->status : -1;
	if (rc != 0) {
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/stderr", s->dir);
		diag_file("sim stderr", p);
		if (getenv("MBH_TEST_VERBOSE") != NULL) {
			snprintf(p, sizeof p, "%s/sim.log", s->dir);
			diag_file("sim log", p);
		}
	}
	if (getenv("MBH_TEST_KEEP") == NULL)
		remove_tree(s->dir);
	else
		tap_diag("kept %s", s->dir);
	free(s);
	return rc;
}

const char *
sim_uri(const sim *s)
{
	return s->uri;
}

const char *
sim_ctl_path(const sim *s)
{
	return s->ctl;
}

const char *
sim_dir(const sim *s)
{
	return s->dir;
}

int
sim_ctl(sim *s, char **out, const char *fmt, ...)
{
	struct sockaddr_un sa;
	char line[1024];
	char *buf = NULL;
	size_t len = 0, cap = 0;
	va_list ap;
	int fd = -1, rc = -1;
	int64_t deadline;
	char *last, *end;

	if (out != NULL)
		*out = NULL;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	line[strcspn(line, "\n")] = '\0';
	snprintf(line + strlen(line), sizeof line - strlen(line), "\n");

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(s->ctl) >= sizeof sa.sun_path) {
		tap_diag("ctl path too long: %s", s->ctl);
		return -1;
	}
	memcpy(sa.sun_path, s->ctl, strlen(s->ctl) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		tap_diag("ctl connect %s: %s", s->ctl, strerror(errno));
		goto out;
	}
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		tap_diag("ctl write: %s", strerror(errno));
		goto out;
	}
	deadline = th_now_ms() + SIM_CTL_WAIT_MS;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;
		int left = (int)(deadline - th_now_ms());

		if (left <= 0) {
			tap_diag("ctl '%.*s': no answer in %d ms", (int)strlen(line) - 1, line, SIM_CTL_WAIT_MS);
			goto out;
		}
		if (poll(&p, 1, left) <= 0)
			continue;
		if (len + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap + 8192);
			if (nb == NULL)
				goto out;
			buf = nb;
			cap += 8192;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (buf == NULL) {
		tap_diag("ctl '%.*s': empty answer", (int)strlen(line) - 1, line);
		goto out;
	}
	buf[len] = '\0';
	/* The final line is "ok" or "error: ..."; everything before it is output. */
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	last = strrchr(buf, '\n');
	end = last ? last + 1 : buf;
	if (strcmp(end, "ok") == 0) {
		rc = 0;
		*end = '\0';
		if (out != NULL) {
			*out = strdup(buf);
		}
	} else {
		if (out != NULL)
			*out = strdup(end);
		if (strncmp(end, "error: ", 7) != 0)
			tap_diag("ctl '%.*s': final line is neither ok nor error: \"%s\"", (int)strlen(line) - 1,
			         line, end);
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

char *
sim_status(sim *s, int id, const char *key)
{
	char *out = NULL, *line, *rest, *res = NULL;
	char want[32];
	size_t klen = strlen(key);

	if (sim_ctl(s, &out, "status") != 0)
		goto done;
	snprintf(want, sizeof want, "id=%d ", id);
	rest = out;
	while ((line = strsep(&rest, "\n")) != NULL) {
		char *tok, *rest2 = line;
		if (strncmp(line, want, strlen(want)) != 0)
			continue;
		while ((tok = strsep(&rest2, " ")) != NULL) {
			if (strncmp(tok, key, klen) == 0 && tok[klen] == '=') {
				res = strdup(tok + klen + 1);
				goto done;
			}
		}
	}
done:
	free(out);
	return res;
}

long
sim_status_long(sim *s, int id, const char *key)
{
	char *v = sim_status(s, id, key);
	char *end = NULL;
	long r = -1;

	if (v != NULL) {
		errno = 0;
		r = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0')
			r = -1;
	}
	free(v);
	return r;
}

bool
sim_wait_status(sim *s, int id, const char *key, const char *want, int ms)
{
	int64_t deadline = th_now_ms() + ms;

	for (;;) {
		char *v = sim_status(s, id, key);
		bool eq = v != NULL && strcmp(v, want) == 0;
		free(v);
		if (eq)
			return true;
		if (th_now_ms() > deadline)
			return false;
		th_pause_ms(20);
	}
}

char *
sim_host(sim *s, int id)
{
	return sim_status(s, id, "host");
}

char *
sim_direct_uri(sim *s, int id, const char *userinfo, const char *opts)
{
	char *host = sim_host(s, id);
	char *r = NULL;

	if (host == NULL)
		return NULL;
	if (asprintf(&r, "mongodb://%s%s%s/?directConnection=true%s%s", userinfo ? userinfo : "",
	             userinfo ? "@" : "", host, opts ? "&" : "", opts ? opts : "") < 0)
		r = NULL;
	free(host);
	return r;
}

char *
sim_seed_uri(sim *s, const char *userinfo, const char *opts)
{
	const char *u = s->uri;
	const char *rest;
	char *r = NULL;

	if (strncmp(u, "mongodb://", 10) != 0)
		return NULL;
	rest = u + 10;
	if (asprintf(&r, "mongodb://%s%s%s%s%s", userinfo ? userinfo : "", userinfo ? "@" : "", rest,
	             opts ? (strchr(rest, '?') ? "&" : "/?") : "", opts ? opts : "") < 0)
		r = NULL;
	return r;
}

bool
sim_all_unlocked(sim *s)
{
	char *out = NULL, *line, *rest;
	bool all = true;

	if (sim_ctl(s, &out, "status") != 0)
		return false;
	rest = out;
	while ((line = strsep(&rest, "\n")) != NULL) {
		char *p = strstr(line, " lockCount=");
		if (*line == '\0')
			continue;
		if (p == NULL || strncmp(p + 11, "0 ", 2) != 0) {
			tap_diag("still locked or unreadable: %s", line);
			all = false;
		}
	}
	free(out);
	return all;
}

static void
quiet_log(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
	(void)level;
	(void)domain;
	(void)message;
	(void)data;
}

void
th_quiet_mongoc_log(void)
{
	if (getenv("MBH_TEST_VERBOSE") == NULL)
		mongoc_log_set_handler(quiet_log, NULL);
}

mongoc_client_t *
th_client(const char *uri)
{
	bson_error_t err;
	mongoc_uri_t *u = mongoc_uri_new_with_error(uri, &err);
	mongoc_client_t *c;

	if (u == NULL) {
		tap_diag("bad URI %s: %s", uri, err.message);
		return NULL;
	}
	c = mongoc_client_new_from_uri(u);
	mongoc_uri_destroy(u);
	if (c != NULL)
		mongoc_client_set_error_api(c, MONGOC_ERROR_API_VERSION_2);
	return c;
}

bool
th_cmd_rp(mongoc_client_t *c, const char *db, mongoc_read_mode_t mode, bson_t *reply, bson_error_t *err,
          const char *json)
{
	bson_error_t perr;
	bson_t *cmd = bson_new_from_json((const uint8_t *)json, -1, &perr);
	mongoc_read_prefs_t *rp = mongoc_read_prefs_new(mode);
	bool r;

	if (cmd == NULL) {
		tap_diag("bad JSON %s: %s", json, perr.message);
		bson_init(reply);
		memset(err, 0, sizeof *err);
		mongoc_read_prefs_destroy(rp);
		return false;
	}
	r = mongoc_client_command_simple(c, db ? db : "admin", cmd, rp, reply, err);
	if (!r && getenv("MBH_TEST_VERBOSE") != NULL)
		tap_diag("%s -> domain %u code %u: %s", json, err->domain, err->code, err->message);
	bson_destroy(cmd);
	mongoc_read_prefs_destroy(rp);
	return r;
}

bool
th_cmd(mongoc_client_t *c, const char *db, bson_t *reply, bson_error_t *err, const char *json)
{
	bson_error_t perr;
	bson_t *cmd = bson_new_from_json((const uint8_t *)json, -1, &perr);
	bool r;

	if (cmd == NULL) {
		tap_diag("bad JSON %s: %s", json, perr.message);
		bson_init(reply);
		memset(err, 0, sizeof *err);
		return false;
	}
	r = mongoc_client_command_simple(c, db ? db : "admin", cmd, NULL, reply, err);
	if (!r && getenv("MBH_TEST_VERBOSE") != NULL)
		tap_diag("%s -> domain %u code %u: %s", json, err->domain, err->code, err->message);
	bson_destroy(cmd);
	return r;
}

static bool
find_path(const bson_t *doc, const char *path, bson_iter_t *it)
{
	bson_iter_t root;

	if (doc == NULL || !bson_iter_init(&root, doc))
		return false;
	return bson_iter_find_descendant(&root, path, it);
}

bool
th_get_int(const bson_t *doc, const char *path, int64_t *out)
{
	bson_iter_t it;

	if (!find_path(doc, path, &it))
		return false;
	switch (bson_iter_type(&it)) {
	case BSON_TYPE_INT32:
		*out = bson_iter_int32(&it);
		return true;
	case BSON_TYPE_INT64:
		*out = bson_iter_int64(&it);
		return true;
	case BSON_TYPE_DOUBLE:
		*out = (int64_t)bson_iter_double(&it);
		return true;
	default:
		return false;
	}
}

bool
th_get_str(const bson_t *doc, const char *path, const char **out)
{
	bson_iter_t it;

	if (!find_path(doc, path, &it) || !BSON_ITER_HOLDS_UTF8(&it))
		return false;
	*out = bson_iter_utf8(&it, NULL);
	return true;
}

bool
th_get_bool(const bson_t *doc, const char *path, bool *out)
{
	bson_iter_t it;

	if (!find_path(doc, path, &it) || !BSON_ITER_HOLDS_BOOL(&it))
		return false;
	*out = bson_iter_bool(&it);
	return true;
}

bson_type_t
th_type(const bson_t *doc, const char *path)
{
	bson_iter_t it;

	if (!find_path(doc, path, &it))
		return BSON_TYPE_EOD;
	return bson_iter_type(&it);
}
