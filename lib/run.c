/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* run.c: run the backup/restore command: argv (no shell), scrubbed environment, timeout, cancel. */
#include "autoconfig.h"

#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_PIDFD_OPEN
#include <sys/pidfd.h>
#endif

#include "run.h"
#include "strv.h"
#include "testtime.h"

#define ENV_PREFIX "MONGO_BACKUP_"

extern char **environ;

struct mbh_child {
	pid_t pid;
	int pidfd;      /* -1 when the kernel has no pidfd_open */
	int out_fd;
	int in_fd;
	int in_peek_fd; /* MBH_RUN_PIPE_STDIN: our copy of the read end, to count what the child left unread; -1 */
	int gate_fd;    /* MBH_RUN_GATED, until mbh_child_open_gate: one byte here lets it exec; -1 */
	int err_fd;     /* MBH_RUN_GATED, until mbh_child_open_gate: the exec's errno comes here; -1 */
	bool reaped;
	char *name;     /* argv[0], for messages */
	char *via;      /* the gate program it waits in (mbh_child_spawn_via); NULL */
};

/* The gate program's descriptors (watchdog/mongo-backup-gate.c): the gate, and where an exec's errno goes. */
#define VIA_GATE_FD 3
#define VIA_ERR_FD 4

/* Grow-as-needed string for one expanded argument. */
typedef struct abuf {
	char *p;
	size_t len, cap;
} abuf;

static int
ab_add(abuf *b, const char *s, size_t n)
{
	char *np;
	size_t ncap;

	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap * 2 : 64;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (np == NULL)
			return -1;
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* Expand one template argument. */
static int
expand_one(char **out, const char *templ, const mbh_run_vars *vars, mbh_error *err)
{
	abuf b = { 0 };
	const char *t, *v;
	int rc = -1;

	*out = NULL;
	if (ab_add(&b, "", 0) != 0)
		goto nomem;
	for (t = templ; *t != '\0'; t++) {
		if (*t != '%') {
			if (ab_add(&b, t, 1) != 0)
				goto nomem;
			continue;
		}
		switch (t[1]) {
		case 'h':
			v = vars ? vars->host : NULL;
			break;
		case 'p':
			v = vars ? vars->port : NULL;
			break;
		case 's':
			v = vars ? vars->set : NULL;
			break;
		case 'j':
			v = vars ? vars->job : NULL;
			break;
		case 'S':
			v = vars ? vars->snapshot : NULL;
			if (v == NULL) {
				mbh_error_set(err, EX_CONFIG, "%%S in '%s': no snapshot was taken (snapshot mode is off)",
					      templ);
				goto out;
			}
			break;
		case '%':
			v = "%";
			break;
		case '\0':
			mbh_error_set(err, EX_CONFIG, "unknown escape %% at the end of '%s' (write %%%% for a %%)", templ);
			goto out;
		default:
			mbh_error_set(err, EX_CONFIG, "unknown escape %%%c in '%s' (known: %%h %%p %%s %%j %%S %%%%)", t[1],
				      templ);
			goto out;
		}
		if (v != NULL && ab_add(&b, v, strlen(v)) != 0)
			goto nomem;
		t++;
	}
	*out = b.p;
	b.p = NULL;
	rc = 0;
	goto out;
nomem:
	mbh_error_set(err, EX_OSERR, "out of memory");
out:
	free(b.p);
	return rc;
}

/* Expand an argv template. */
int
mbh_run_expand(char ***out, const char *const *templ, const mbh_run_vars *vars, mbh_error *err)
{
	char **v = NULL;
	size_t n = 0, i;
	int rc = -1;

	*out = NULL;
	if (templ == NULL || templ[0] == NULL)
		return mbh_error_set(err, EX_CONFIG, "empty command");
	while (templ[n] != NULL)
		n++;
	v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	for (i = 0; i < n; i++)
		if (expand_one(&v[i], templ[i], vars, err) != 0)
			goto out;
	*out = v;
	v = NULL;
	rc = 0;
out:
	mbh_strv_free(v);
	return rc;
}

/* Check the escapes of a template. */
int
mbh_run_check(const char *const *templ, bool *uses_snapshot, mbh_error *err)
{
	mbh_run_vars probe = { .snapshot = "" };
	char **v = NULL;
	const char *t;
	size_t i;

	if (uses_snapshot != NULL)
		*uses_snapshot = false;
	if (mbh_run_expand(&v, templ, &probe, err) != 0)
		return -1;
	mbh_strv_free(v);
	for (i = 0; uses_snapshot != NULL && templ[i] != NULL; i++)
		for (t = templ[i]; *t != '\0'; t++)
			if (*t == '%') {
				if (t[1] == 'S')
					*uses_snapshot = true;
				t++;
			}
	return 0;
}

/* Does env entry e set the variable named by s ("NAME=..." or "NAME")? */
static bool
same_name(const char *e, const char *s)
{
	size_t n = strcspn(s, "=");

	return strncmp(e, s, n) == 0 && e[n] == '=';
}

/* Our environment minus MONGO_BACKUP_* and anything set_env replaces, plus set_env.  Strings are borrowed. */
static char **
child_env(const char *const *set_env)
{
	size_t n = 0, m = 0, i, j, o = 0;
	char **env;
	bool drop;

	while (environ && environ[n])
		n++;
	while (set_env && set_env[m])
		m++;
	env = calloc(n + m + 1, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		drop = strncmp(environ[i], ENV_PREFIX, strlen(ENV_PREFIX)) == 0;
		for (j = 0; !drop && j < m; j++)
			drop = same_name(environ[i], set_env[j]);
		if (!drop)
			env[o++] = environ[i];
	}
	for (j = 0; j < m; j++)
		if (strchr(set_env[j], '=') != NULL)
			env[o++] = (char *)set_env[j];
	env[o] = NULL;
	return env;
}

/* The PATH of the child's environment (what a shell would use), or a safe default. */
static const char *
env_path(char **env)
{
	size_t i;

	for (i = 0; env[i] != NULL; i++)
		if (strncmp(env[i], "PATH=", 5) == 0)
			return env[i] + 5;
	return "/usr/local/bin:/usr/bin:/bin";
}

/* Full paths to try for cmd: itself when it has a '/', else one per PATH entry. */
static char **
exec_candidates(const char *cmd, const char *path)
{
	size_t n = 1, o = 0, len;
	const char *p, *colon;
	char **v;

	for (p = path; *p; p++)
		if (*p == ':')
			n++;
	v = calloc(n + 2, sizeof(*v));
	if (v == NULL)
		return NULL;
	if (strchr(cmd, '/') != NULL) {
		v[0] = strdup(cmd);
		if (v[0] == NULL)
			goto nomem;
		return v;
	}
	for (p = path;; p = colon + 1) {
		colon = strchr(p, ':');
		len = colon ? (size_t)(colon - p) : strlen(p);
		/* An empty entry means the current directory, as in execvp. */
		if (asprintf(&v[o], "%.*s%s%s", (int)len, p, len ? "/" : "./", cmd) < 0) {
			v[o] = NULL;
			goto nomem;
		}
		o++;
		if (colon == NULL)
			break;
	}
	return v;
nomem:
	mbh_strv_free(v);
	return NULL;
}

/* See run.h. */
int
mbh_pidfd_open(long pid)
{
#ifdef HAVE_PIDFD_OPEN
	return pidfd_open((pid_t)pid, 0);
#elif defined(SYS_pidfd_open)
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * The gate program's argv: VIA PATH... -- ARGV..., built before fork (the
 * child may not allocate).  Borrows the strings; caller frees the array.
 */
static char **
via_argv(const char *via, char **paths, const char *const *argv)
{
	size_t np = 0, na = 0, n = 0;
	char **v;

	while (paths[np] != NULL)
		np++;
	while (argv[na] != NULL)
		na++;
	if ((v = calloc(np + na + 3, sizeof(*v))) == NULL)
		return NULL;
	v[n++] = (char *)via;
	memcpy(v + n, paths, np * sizeof(*v));
	n += np;
	v[n++] = (char *)"--";
	memcpy(v + n, argv, na * sizeof(*v));
	return v;
}

/*
 * In the child, with a gate program: its gate on VIA_GATE_FD and the error
 * pipe on VIA_ERR_FD, open across its exec; it waits and execs the command.
 * Returns (errno set) only when it could not be started.
 */
static void
exec_via(const char *via, char **via_args, char **env, int errfd, int gatefd)
{
	int g, e;

	/* above both targets first, so that neither dup2 closes the other's source */
	if ((g = fcntl(gatefd, F_DUPFD_CLOEXEC, VIA_ERR_FD + 1)) < 0 ||
	    (e = fcntl(errfd, F_DUPFD_CLOEXEC, VIA_ERR_FD + 1)) < 0 || dup2(g, VIA_GATE_FD) < 0 ||
	    dup2(e, VIA_ERR_FD) < 0)
		return;
	execve(via, via_args, env);
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
child_exec(const char *const *argv, char **paths, char **env, int in_fd, int out_fd, int errfd, int gatefd,
	   pid_t parent, const char *via, char **via_args)
{
	size_t i;
	int first_err = 0;

	struct sigaction sa;
	sigset_t empty;
	int sig, e;

	setpgid(0, 0);
	/*
	 * Die with the thread that started us: a command must never go on
	 * reading a member after whoever holds its lock is gone (invariant 8).
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		goto fail;
	/* Handlers and ignores of the parent (Bacula ignores SIGPIPE) must not leak into the script. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	if (in_fd >= 0 && in_fd != 0) {
		if (dup2(in_fd, 0) < 0)
			goto fail;
	}
	if (out_fd >= 0 && out_fd != 1) {
		if (dup2(out_fd, 1) < 0)
			goto fail;
	}
	/* Nothing of ours (sockets to mongod, the state file) reaches the script. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
		for (e = 3; e < 65536; e++)
			if (e != errfd)
				fcntl(e, F_SETFD, FD_CLOEXEC);
	}
	sigemptyset(&empty);
	pthread_sigmask(SIG_SETMASK, &empty, NULL);
	/* Gated in a gate program: it waits, so the exec after the gate starts from it, not from our copy. */
	if (via != NULL) {
		exec_via(via, via_args, env, errfd, gatefd);
		e = -errno; /* negative: the gate program, not the command, could not run */
		if (write(errfd, &e, sizeof(e)) < 0)
			e = 0;
		_exit(127);
	}
	/* Gated: wait for the byte that says "go"; the gate closing without it means "never" (the parent is gone). */
	if (gatefd >= 0) {
		char go;
		ssize_t r;

		do {
			r = read(gatefd, &go, 1);
		} while (r < 0 && errno == EINTR);
		if (r != 1)
			_exit(127);
	}
	/*
	 * execve over the candidates computed before fork: unlike execvp, a file
	 * without a #! line is an error, never handed to /bin/sh.  The first
	 * candidate found but not runnable (EACCES) is what gets reported.
	 */
	for (i = 0; paths[i] != NULL; i++) {
		execve(paths[i], (char *const *)argv, env);
		if (errno != ENOENT && errno != ENOTDIR && errno != EACCES)
			goto fail;
		if (first_err == 0 || first_err == ENOENT || first_err == ENOTDIR)
			first_err = errno;
	}
	errno = first_err ? first_err : ENOENT;
fail:
	e = errno;
	if (write(errfd, &e, sizeof(e)) < 0)
		e = 0;
	_exit(127);
}

/*
 * Read the exec's outcome from err_fd (EOF: it ran; an errno: it did not,
 * and the child is reaped).  Closes err_fd.
 */
static int
exec_result(mbh_child *c, mbh_error *err)
{
	int child_errno = 0, status;
	ssize_t r;

	do {
		r = read(c->err_fd, &child_errno, sizeof(child_errno));
	} while (r < 0 && errno == EINTR);
	close(c->err_fd);
	c->err_fd = -1;
	if (r != (ssize_t)sizeof(child_errno))
		return 0;
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->reaped = true;
	if (child_errno < 0)
		return mbh_error_set(err, EX_UNAVAILABLE, "cannot run %s: its gate program %s cannot run: %s", c->name,
				     c->via != NULL ? c->via : "?", strerror(-child_errno));
	return mbh_error_set(err, EX_UNAVAILABLE, "cannot run %s: %s", c->name, strerror(child_errno));
}

/* Start the command; see run.h. */
int
mbh_child_spawn(mbh_child **out, const char *const *argv, const char *const *set_env, int flags, mbh_error *err)
{
	return mbh_child_spawn_via(out, NULL, argv, set_env, flags, err);
}

/* Start the command, gated in a gate program; see run.h. */
int
mbh_child_spawn_via(mbh_child **out, const char *via, const char *const *argv, const char *const *set_env, int flags,
		    mbh_error *err)
{
	int outp[2] = { -1, -1 }, inp[2] = { -1, -1 }, errp[2] = { -1, -1 }, gatep[2] = { -1, -1 };
	sigset_t all, old;
	mbh_child *c = NULL;
	char **env = NULL, **paths = NULL, **via_args = NULL;
	int rc = -1;
	pid_t pid, parent;

	*out = NULL;
	if (argv == NULL || argv[0] == NULL || argv[0][0] == '\0')
		return mbh_error_set(err, EX_CONFIG, "empty command");
	if (via != NULL && !(flags & MBH_RUN_GATED))
		return mbh_error_set(err, EX_SOFTWARE, "a gate program is for a gated command only");
	/* said now, before any lock, rather than at the gate */
	if (via != NULL && access(via, X_OK) != 0)
		return mbh_error_set(err, EX_UNAVAILABLE, "cannot run %s: its gate program %s: %s", argv[0], via,
				     strerror(errno));
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	c->pid = -1;
	c->pidfd = c->out_fd = c->in_fd = c->in_peek_fd = c->gate_fd = c->err_fd = -1;
	c->name = strdup(argv[0]);
	c->via = via != NULL ? strdup(via) : NULL;
	env = child_env(set_env);
	paths = env ? exec_candidates(argv[0], env_path(env)) : NULL;
	via_args = via != NULL && paths != NULL ? via_argv(via, paths, argv) : NULL;
	if (c->name == NULL || env == NULL || paths == NULL || (via != NULL && (c->via == NULL || via_args == NULL))) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	if (((flags & MBH_RUN_PIPE_STDOUT) && pipe2(outp, O_CLOEXEC) != 0) ||
	    ((flags & MBH_RUN_PIPE_STDIN) && pipe2(inp, O_CLOEXEC) != 0) || pipe2(errp, O_CLOEXEC) != 0 ||
	    ((flags & MBH_RUN_GATED) && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, gatep) != 0)) {
		mbh_error_set(err, EX_OSERR, "cannot run %s: pipe: %s", argv[0], strerror(errno));
		goto out;
	}
	/* No handler of ours may run in the child before it resets them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	parent = getpid();
	pid = fork();
	if (pid == 0) {
		if (gatep[1] >= 0)
			close(gatep[1]); /* so that our parent's end closing reads as EOF */
		child_exec(argv, paths, env, inp[0], outp[1], errp[1], gatep[0], parent, via, via_args);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		mbh_error_set(err, EX_OSERR, "cannot run %s: fork: %s", argv[0], strerror(errno));
		goto out;
	}
	c->pid = pid;
	/* Also here, so a kill right after spawn reaches the group. */
	setpgid(pid, pid);
	close(errp[1]);
	errp[1] = -1;
	c->err_fd = errp[0];
	errp[0] = -1;
	if (flags & MBH_RUN_GATED) {
		c->gate_fd = gatep[1];
		gatep[1] = -1;
	} else if (exec_result(c, err) != 0) {
		goto out;
	}
	c->pidfd = mbh_pidfd_open(pid);
	if (flags & MBH_RUN_PIPE_STDOUT) {
		c->out_fd = outp[0];
		outp[0] = -1;
	}
	if (flags & MBH_RUN_PIPE_STDIN) {
		c->in_fd = inp[1];
		inp[1] = -1;
		c->in_peek_fd = inp[0];
		inp[0] = -1;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (inp[i] >= 0)
			close(inp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (gatep[i] >= 0)
			close(gatep[i]);
	}
	free(env);
	free(via_args);
	mbh_strv_free(paths);
	mbh_child_free(c);
	return rc;
}

/* Let a gated child exec and wait for the outcome; see run.h. */
int
mbh_child_open_gate(mbh_child *c, mbh_error *err)
{
	if (mbh_child_release(c, err) != 0)
		return -1;
	return mbh_child_exec_result(c, err);
}

/* Let a gated child exec, not waiting; see run.h. */
int
mbh_child_release(mbh_child *c, mbh_error *err)
{
	ssize_t w;

	if (c->gate_fd < 0)
		return 0;
	/* a socket, not a pipe: a child killed meanwhile (a cancel) gives EPIPE here, never SIGPIPE */
	do {
		w = send(c->gate_fd, "g", 1, MSG_NOSIGNAL);
	} while (w < 0 && errno == EINTR);
	close(c->gate_fd);
	c->gate_fd = -1;
	if (w != 1) {
		mbh_child_kill(c, SIGKILL);
		return mbh_error_set(err, EX_OSERR, "cannot start %s: %s", c->name, strerror(errno));
	}
	return 0;
}

/* The exec's outcome of a released child; see run.h. */
int
mbh_child_exec_result(mbh_child *c, mbh_error *err)
{
	if (c->gate_fd >= 0 || c->err_fd < 0)
		return 0;
	return exec_result(c, err);
}

int
mbh_child_stdout_fd(const mbh_child *c)
{
	return c ? c->out_fd : -1;
}

int
mbh_child_stdin_fd(const mbh_child *c)
{
	return c ? c->in_fd : -1;
}

/* Close our end of the child's stdin (it sees EOF). */
void
mbh_child_close_stdin(mbh_child *c)
{
	if (c != NULL && c->in_fd >= 0) {
		close(c->in_fd);
		c->in_fd = -1;
	}
}

/* Bytes written to the child's stdin that it has not read (yet). */
long long
mbh_child_stdin_unread(const mbh_child *c)
{
	int n = 0;

	if (c == NULL || c->in_peek_fd < 0 || ioctl(c->in_peek_fd, FIONREAD, &n) != 0)
		return -1;
	return n;
}

long
mbh_child_pid(const mbh_child *c)
{
	return c ? (long)c->pid : -1;
}

/* See run.h. */
int64_t
mbh_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
now_ms(void)
{
	return mbh_now_ms();
}

/* Has the child exited (without reaping it, so its group id stays reserved)? */
static bool
child_exited(mbh_child *c)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		return errno == ECHILD;
	return si.si_pid == c->pid;
}

/* Read what is in fd now into buf (keeping len-1 bytes at most); false at EOF or on an error. */
static bool
drain(int fd, char *buf, size_t len, size_t *used)
{
	char scratch[4096];
	ssize_t r;
	size_t keep;

	for (;;) {
		r = read(fd, scratch, sizeof(scratch));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		if (r == 0)
			return false;
		keep = len > *used + 1 ? len - 1 - *used : 0;
		if (keep > (size_t)r)
			keep = (size_t)r;
		memcpy(buf + *used, scratch, keep);
		*used += keep;
		buf[*used] = '\0';
	}
}

/* The kill grace in ms; see run.h. */
int64_t
mbh_kill_grace_ms(void)
{
	return mbh_seconds_ms(MBH_KILL_GRACE_S);
}

/*
 * The wait of mbh_child_await and mbh_child_capture: until the child ends;
 * SIGTERM at timeout_ms or when a cancel fd turns readable, SIGKILL
 * the kill grace later.  With buf, its stdout is drained into buf meanwhile
 * (*open_out: not at EOF yet), and on_line(ctx, buf) is called once, as soon
 * as buf holds a whole first line.  Returns NONE, TIMEOUT or CANCEL (why it
 * was stopped), or -1 when poll fails (err set).
 */
enum { NONE, TIMEOUT, CANCEL };

static int
wait_loop(mbh_child *c, int64_t timeout_ms, int cancel_fd, int cancel_fd2, char *buf, size_t len, size_t *used,
	  bool *open_out, mbh_run_line_fn on_line, void *ctx, mbh_error *err)
{
	enum { RUNNING, TERMINATING, KILLED } phase = RUNNING;
	int64_t deadline = -1, left;
	struct pollfd pfd[4];
	int why = NONE, nfds, k, tmo, pr, out_idx, first_cancel;

	if (timeout_ms > 0)
		deadline = now_ms() + timeout_ms;
	while (!child_exited(c)) {
		nfds = 0;
		out_idx = -1;
		if (buf != NULL && *open_out) {
			out_idx = nfds;
			pfd[nfds].fd = c->out_fd;
			pfd[nfds++].events = POLLIN;
		}
		if (c->pidfd >= 0) {
			pfd[nfds].fd = c->pidfd;
			pfd[nfds++].events = POLLIN;
		}
		first_cancel = nfds;
		if (phase == RUNNING && cancel_fd >= 0) {
			pfd[nfds].fd = cancel_fd;
			pfd[nfds++].events = POLLIN;
		}
		if (phase == RUNNING && cancel_fd2 >= 0) {
			pfd[nfds].fd = cancel_fd2;
			pfd[nfds++].events = POLLIN;
		}
		tmo = -1;
		if (deadline >= 0) {
			left = deadline - now_ms();
			tmo = left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
		}
		/* Without a pidfd (old kernel) fall back to a coarse tick. */
		if (c->pidfd < 0 && (tmo < 0 || tmo > 100))
			tmo = 100;
		pr = poll(pfd, (nfds_t)nfds, tmo);
		if (pr < 0 && errno != EINTR)
			return mbh_error_set(err, EX_OSERR, "waiting for %s: poll: %s", c->name, strerror(errno));
		if (pr > 0 && out_idx >= 0 && pfd[out_idx].revents != 0) {
			*open_out = drain(c->out_fd, buf, len, used);
			if (on_line != NULL && memchr(buf, '\n', *used) != NULL) {
				on_line(ctx, buf);
				on_line = NULL;
			}
		}
		for (k = first_cancel; pr > 0 && k < nfds; k++) {
			if (pfd[k].revents != 0 && phase == RUNNING) {
				why = CANCEL;
				mbh_child_kill(c, SIGTERM);
				phase = TERMINATING;
				deadline = now_ms() + mbh_kill_grace_ms();
			}
		}
		if (deadline >= 0 && now_ms() >= deadline) {
			if (phase == RUNNING) {
				why = TIMEOUT;
				mbh_child_kill(c, SIGTERM);
				phase = TERMINATING;
				deadline = now_ms() + mbh_kill_grace_ms();
			} else if (phase == TERMINATING) {
				mbh_child_kill(c, SIGKILL);
				phase = KILLED;
				deadline = -1;
			}
		}
	}
	/* Stopped by us: take the rest of its group down with it. */
	if (why != NONE)
		mbh_child_kill(c, SIGKILL);
	return why;
}

/* Why wait_loop stopped the child, as an error (0 when it ended by itself). */
static int
stop_error(const mbh_child *c, int why, int64_t timeout_ms, mbh_error *err)
{
	if (why == TIMEOUT && timeout_ms % 1000 == 0)
		return mbh_error_fail(err, MBH_ERR_TIMED_OUT, "%s timed out after %lld s", c->name,
				      (long long)(timeout_ms / 1000));
	if (why == TIMEOUT)
		return mbh_error_fail(err, MBH_ERR_TIMED_OUT, "%s timed out after %lld ms", c->name, (long long)timeout_ms);
	if (why == CANCEL)
		return mbh_error_fail(err, MBH_ERR_CANCELLED, "%s cancelled", c->name);
	return 0;
}

/* Wait for the child to end, without reaping it; see run.h. */
int
mbh_child_await(mbh_child *c, int64_t timeout_ms, int cancel_fd, int cancel_fd2, mbh_error *err)
{
	int why;

	if (c == NULL || c->reaped)
		return mbh_error_set(err, EX_SOFTWARE, "no child to wait for");
	if ((why = wait_loop(c, timeout_ms, cancel_fd, cancel_fd2, NULL, 0, NULL, NULL, NULL, NULL, err)) < 0)
		return -1;
	return stop_error(c, why, timeout_ms, err);
}

/* Capture stdout while waiting; see run.h. */
int
mbh_child_capture(mbh_child *c, int64_t timeout_ms, int cancel_fd, int cancel_fd2, char *buf, size_t len, int *status,
		  mbh_error *err)
{
	return mbh_child_capture_line(c, timeout_ms, cancel_fd, cancel_fd2, buf, len, NULL, NULL, status, err);
}

/* The same, telling on_line about the first line as soon as it is there; see run.h. */
int
mbh_child_capture_line(mbh_child *c, int64_t timeout_ms, int cancel_fd, int cancel_fd2, char *buf, size_t len,
		       mbh_run_line_fn on_line, void *ctx, int *status, mbh_error *err)
{
	size_t used = 0;
	bool open_out = true;
	int fl, why;

	if (status != NULL)
		*status = -1;
	if (len > 0)
		buf[0] = '\0';
	if (c == NULL || c->reaped || c->out_fd < 0 || len == 0)
		return mbh_error_set(err, EX_SOFTWARE, "no child output to capture");
	fl = fcntl(c->out_fd, F_GETFL);
	if (fl < 0 || fcntl(c->out_fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return mbh_error_set(err, EX_OSERR, "reading %s: fcntl: %s", c->name, strerror(errno));
	if ((why = wait_loop(c, timeout_ms, cancel_fd, cancel_fd2, buf, len, &used, &open_out, on_line, ctx, err)) < 0)
		return -1;
	/* what it wrote before it ended; a descendant that kept the pipe open is not waited for */
	if (open_out)
		drain(c->out_fd, buf, len, &used);
	if (mbh_child_reap(c, status, err) != 0)
		return -1;
	return stop_error(c, why, timeout_ms, err);
}

/* Write all of buf to the child's stdin; see run.h. */
int
mbh_child_feed(mbh_child *c, const char *buf, size_t len, size_t *written, int64_t deadline_ms, int cancel_fd,
	       mbh_error *err)
{
	struct pollfd pfd[3];
	size_t done = 0;
	ssize_t w;
	int64_t left;
	int nfds, tmo, fl;

	*written = 0;
	if (c == NULL || c->reaped || c->in_fd < 0)
		return mbh_error_set(err, EX_SOFTWARE, "no child input to write");
	fl = fcntl(c->in_fd, F_GETFL);
	if (fl < 0 || ((fl & O_NONBLOCK) == 0 && fcntl(c->in_fd, F_SETFL, fl | O_NONBLOCK) != 0))
		return mbh_error_set(err, EX_OSERR, "writing to %s: fcntl: %s", c->name, strerror(errno));
	while (done < len) {
		/* we hold a reader too (in_peek_fd): a child that is gone gives no EPIPE, so watch it */
		if (child_exited(c))
			return MBH_FEED_GONE;
		w = write(c->in_fd, buf + done, len - done);
		if (w > 0) {
			done += (size_t)w;
			*written = done;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return mbh_error_set(err, EX_IOERR, "writing to %s: %s", c->name, strerror(errno));
		tmo = -1;
		if (deadline_ms > 0) {
			if ((left = deadline_ms - now_ms()) <= 0)
				return MBH_FEED_TIMEOUT;
			tmo = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		nfds = 0;
		pfd[nfds].fd = c->in_fd;
		pfd[nfds++].events = POLLOUT;
		if (c->pidfd >= 0) {
			pfd[nfds].fd = c->pidfd;
			pfd[nfds++].events = POLLIN;
		} else if (tmo < 0 || tmo > 100) {
			tmo = 100;
		}
		if (cancel_fd >= 0) {
			pfd[nfds].fd = cancel_fd;
			pfd[nfds++].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)nfds, tmo) < 0 && errno != EINTR)
			return mbh_error_set(err, EX_OSERR, "writing to %s: poll: %s", c->name, strerror(errno));
		if (cancel_fd >= 0 && pfd[nfds - 1].revents != 0)
			return MBH_FEED_CANCELLED;
	}
	return 0;
}

/* Reap an ended child; see run.h. */
int
mbh_child_reap(mbh_child *c, int *status, mbh_error *err)
{
	int wst;
	pid_t w;

	if (status != NULL)
		*status = -1;
	if (c == NULL || c->reaped)
		return mbh_error_set(err, EX_SOFTWARE, "no child to reap");
	do {
		w = waitpid(c->pid, &wst, 0);
	} while (w < 0 && errno == EINTR);
	c->reaped = true;
	if (w < 0)
		return mbh_error_set(err, EX_OSERR, "waiting for %s: %s", c->name, strerror(errno));
	if (status != NULL)
		*status = WIFEXITED(wst) ? WEXITSTATUS(wst) : WIFSIGNALED(wst) ? 128 + WTERMSIG(wst) : 255;
	return 0;
}

/* Await, then reap; see run.h. */
int
mbh_child_wait(mbh_child *c, int64_t timeout_ms, int cancel_fd, int *status, mbh_error *err)
{
	mbh_error e;
	int rc;

	mbh_error_init(&e);
	rc = mbh_child_await(c, timeout_ms, cancel_fd, -1, &e);
	if (c != NULL && !c->reaped && mbh_child_reap(c, status, err) != 0)
		return -1;
	if (rc != 0 && err != NULL)
		*err = e;
	return rc;
}

/* SIGKILL the group and wait (no reaping) until the leader is gone; see run.h. */
void
mbh_child_kill_wait(mbh_child *c, int timeout_ms)
{
	struct timespec tick = { 0, 5 * 1000 * 1000 };
	int waited = 0;

	if (c == NULL || c->reaped)
		return;
	killpg(c->pid, SIGKILL);
	while (!child_exited(c) && waited < timeout_ms) {
		nanosleep(&tick, NULL);
		waited += 5;
	}
}

/* Does a process of group pgid still run (zombies do not count)? */
static bool
group_alive(long pgid)
{
	char path[300], buf[512], *p, state;
	struct dirent *e;
	long pgrp;
	bool alive = false;
	ssize_t n;
	DIR *d;
	int fd;

	if ((d = opendir("/proc")) == NULL)
		return false;
	while (!alive && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* after the comm: state, ppid, pgrp */
		if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %c %*d %ld", &state, &pgrp) != 2)
			continue;
		alive = pgrp == pgid && state != 'Z' && state != 'X';
	}
	closedir(d);
	return alive;
}

/* Kill a recorded group whose leader is not our child; see run.h. */
bool
mbh_run_kill_group(long pgid, uint64_t start, uint64_t (*starttime)(long), int timeout_ms)
{
	struct timespec tick = { 0, 5 * 1000 * 1000 };
	uint64_t now;
	int waited = 0;

	if (pgid <= 1 || start == 0)
		return false;
	now = starttime(pgid);
	if (now != 0 && now != start)
		return false; /* the pid names another process now: our group ended before the pid was reused */
	/*
	 * The leader may be gone (killed with its parent, reaped) while the rest
	 * of its group (a pipeline, a copy in the background) goes on reading the
	 * member.  The kernel does not reuse a pid while a process group of that
	 * number exists, so whatever is still in group pgid is the command's.
	 */
	if (killpg((pid_t)pgid, SIGKILL) != 0)
		return false; /* nothing is left in the group */
	while (group_alive(pgid) && waited < timeout_ms) {
		nanosleep(&tick, NULL);
		waited += 5;
	}
	return true;
}

/* Signal the child's process group. */
void
mbh_child_kill(mbh_child *c, int sig)
{
	/* The group id stays ours until the leader is reaped. */
	if (c != NULL && c->pid > 0 && !c->reaped)
		killpg(c->pid, sig);
}

/* Kill, reap, close, free. */
void
mbh_child_free(mbh_child *c)
{
	if (c == NULL)
		return;
	if (c->pid > 0 && !c->reaped) {
		killpg(c->pid, SIGKILL);
		while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->out_fd >= 0)
		close(c->out_fd);
	if (c->in_fd >= 0)
		close(c->in_fd);
	if (c->in_peek_fd >= 0)
		close(c->in_peek_fd);
	if (c->gate_fd >= 0)
		close(c->gate_fd);
	if (c->err_fd >= 0)
		close(c->err_fd);
	free(c->name);
	free(c->via);
	free(c);
}
