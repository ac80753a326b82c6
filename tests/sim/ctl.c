/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* ctl.c: the control socket (faults on demand) and the `mongo-rs-sim ctl` client. */
#include "autoconfig.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "sim.h"

typedef struct outbuf {
	char *data;
	size_t len, cap;
	bool failed;
} outbuf;

static void outf(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void outf(outbuf *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		size_t room = o->cap - o->len;

		va_start(ap, fmt);
		n = vsnprintf(o->data ? o->data + o->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < room) {
			o->len += (size_t)n;
			return;
		}
		{
			size_t nc = (o->cap ? o->cap * 2 : 1024) + (size_t)n;
			char *nd = realloc(o->data, nc);

			if (!nd) {
				o->failed = true;
				return;
			}
			o->data = nd;
			o->cap = nc;
		}
	}
}

/* Create the control socket, mode 0600. */
int sim_ctl_listen(sim *s, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int fd;

	if (strlen(s->ctl_path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "control socket path too long (max %zu bytes): %s", sizeof sa.sun_path - 1,
		         s->ctl_path);
		return -1;
	}
	if (lstat(s->ctl_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(s->ctl_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, s->ctl_path, strlen(s->ctl_path) + 1);
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		umask(old);
		snprintf(err, errlen, "cannot create the control socket %s: %s", s->ctl_path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	chmod(s->ctl_path, 0600);
	if (listen(fd, 16) != 0) {
		snprintf(err, errlen, "listen %s: %s", s->ctl_path, strerror(errno));
		close(fd);
		unlink(s->ctl_path);
		return -1;
	}
	s->ctl_fd = fd;
	return 0;
}

static int parse_long(const char *v, long min, long max, long *out)
{
	char *end;
	long x;

	if (!v || !*v)
		return -1;
	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || *end || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

static int member_arg(sim *s, outbuf *o, const char *spec, char *err, size_t errlen)
{
	int idx = sim_rs_find_member(s, spec);

	(void)o;
	if (idx < 0)
		snprintf(err, errlen, "no member '%s' (use an _id or 127.0.0.1:PORT)", spec ? spec : "");
	return idx;
}

static void status_lines(sim *s, outbuf *o)
{
	int64_t now = sim_now_ms();

	for (size_t i = 0; i < s->n_members; i++) {
		sim_member *m = &s->members[i];
		sim_optime op = sim_rs_optime(s, m);

		outf(o,
		     "id=%d host=%s state=%s up=%d partitioned=%d lockCount=%lld optime=%u:%u lag=%d slow_ms=%d "
		     "frozen=%d priority=%g votes=%d hidden=%d\n",
		     m->id, m->host, sim_state_str(m->up ? m->state : SIM_ST_DOWN), m->up ? 1 : 0,
		     m->partitioned ? 1 : 0, (long long)m->lock_count, op.t, op.i, m->lag_secs, m->slow_ms,
		     m->frozen_until_ms > now ? 1 : 0, m->priority, m->votes, m->hidden ? 1 : 0);
	}
}

static int do_reconfig(sim *s, int idx, char **argv, int argc, char *err, size_t errlen)
{
	sim_member *m = &s->members[idx];
	double prio = m->priority;
	int votes = m->votes;
	bool hidden = m->hidden;

	if (argc < 1) {
		snprintf(err, errlen, "usage: reconfig M priority=X votes=0|1 hidden=0|1");
		return -1;
	}
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '='), *end;
		long v;

		if (!eq) {
			snprintf(err, errlen, "reconfig: KEY=VALUE expected, got '%s'", argv[i]);
			return -1;
		}
		*eq = '\0';
		if (strcmp(argv[i], "priority") == 0) {
			errno = 0;
			prio = strtod(eq + 1, &end);
			if (errno || *end || eq[1] == '\0' || !(prio >= 0 && prio <= 1000)) {
				snprintf(err, errlen, "reconfig: priority must be a number from 0 to 1000");
				return -1;
			}
		} else if (strcmp(argv[i], "votes") == 0) {
			if (parse_long(eq + 1, 0, 1, &v) != 0) {
				snprintf(err, errlen, "reconfig: votes must be 0 or 1");
				return -1;
			}
			votes = (int)v;
		} else if (strcmp(argv[i], "hidden") == 0) {
			if (parse_long(eq + 1, 0, 1, &v) != 0) {
				snprintf(err, errlen, "reconfig: hidden must be 0 or 1");
				return -1;
			}
			hidden = v != 0;
		} else {
			snprintf(err, errlen, "reconfig: unknown key '%s' (priority, votes, hidden)", argv[i]);
			return -1;
		}
	}
	if ((hidden || m->arbiter || m->delay_secs > 0) && prio > 0) {
		snprintf(err, errlen, "reconfig: hidden, delayed and arbiter members must have priority 0");
		return -1;
	}
	if (votes == 0 && prio > 0) {
		snprintf(err, errlen, "reconfig: a member with votes 0 must have priority 0");
		return -1;
	}
	m->priority = prio;
	m->votes = votes;
	m->hidden = hidden;
	s->config_version++;
	if (s->primary == idx && prio <= 0)
		sim_rs_stepdown(s, idx);
	sim_rs_update_commit(s);
	return 0;
}

static int do_write(sim *s, long n, char *err, size_t errlen)
{
	sim_member *p;

	if (s->primary < 0) {
		snprintf(err, errlen, "no primary to write to");
		return -1;
	}
	p = &s->members[s->primary];
	if (p->lock_count > 0) {
		p->held_ctl_writes += (uint64_t)n;
		return 0;
	}
	for (long i = 0; i < n; i++) {
		bson_t d = BSON_INITIALIZER;
		bson_oid_t oid;
		int rc;

		bson_oid_init(&oid, NULL);
		BSON_APPEND_OID(&d, "_id", &oid);
		BSON_APPEND_DATE_TIME(&d, "at", sim_now_ms());
		rc = sim_rs_write(s, "sim.writes", &d, false);
		bson_destroy(&d);
		if (rc != 0) {
			snprintf(err, errlen, "write failed");
			return -1;
		}
	}
	return 0;
}

/* Run one control command; *out = the reply text (malloc'd, ends with "ok" or "error: ..."). */
void sim_ctl_handle_line(sim *s, const char *line, char **out, size_t *outlen)
{
	char *buf = strdup(line), err[512] = "", *argv[32], *p;
	int argc = 0, idx = -1, rc = -1;
	outbuf o = {0};
	long v;

	if (!buf) {
		snprintf(err, sizeof err, "out of memory");
		goto done;
	}
	/* Split on blanks, in place. */
	for (p = buf; *p && argc < 32;) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		argv[argc++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	if (argc == 0) {
		snprintf(err, sizeof err, "empty command");
		goto done;
	}
	sim_logf(s, "ctl: %s", line);
	if (strcmp(argv[0], "status") == 0) {
		status_lines(s, &o);
		rc = 0;
	} else if (strcmp(argv[0], "uri") == 0) {
		outf(&o, "%s\n", s->seed_uri);
		rc = 0;
	} else if (strcmp(argv[0], "shutdown") == 0) {
		s->stop = 1;
		rc = 0;
	} else if (strcmp(argv[0], "write") == 0) {
		v = 1;
		if (argc > 2 || (argc == 2 && parse_long(argv[1], 1, 1000000, &v) != 0))
			snprintf(err, sizeof err, "usage: write [N] (1..1000000)");
		else
			rc = do_write(s, v, err, sizeof err);
	} else if (s->role != SIM_ROLE_MONGOS && strncmp(argv[0], "routed-", 7) == 0) {
		char *text = NULL;

		rc = sim_routed_ctl(s, argc, argv, &text, err, sizeof err);
		if (text)
			outf(&o, "%s", text);
		free(text);
		if (rc == -2)
			snprintf(err, sizeof err, "unknown command '%s'", argv[0]);
	} else {
		static const char *const with_member[] = {"stepdown", "elect", "kill",    "revive",   "partition",
		                                          "heal",     "lag",   "slow",    "lock",     "unlock",
		                                          "reconfig", "arm",   "counters", NULL};
		bool found = false;

		for (const char *const *w = with_member; *w; w++)
			found = found || strcmp(*w, argv[0]) == 0;
		if (!found && s->role == SIM_ROLE_MONGOS) {
			char *text = NULL;

			rc = sim_mongos_ctl(s, argc, argv, &text, err, sizeof err);
			if (text)
				outf(&o, "%s", text);
			free(text);
			if (rc != -2)
				goto done;
			rc = -1;
		}
		if (!found) {
			snprintf(err, sizeof err, "unknown command '%s'", argv[0]);
			goto done;
		}
		if (argc < 2) {
			snprintf(err, sizeof err, "usage: %s M ... (M = _id or 127.0.0.1:PORT)", argv[0]);
			goto done;
		}
		if ((idx = member_arg(s, &o, argv[1], err, sizeof err)) < 0)
			goto done;
		sim_member *m = &s->members[idx];

		if (strcmp(argv[0], "stepdown") == 0) {
			if (s->primary != idx)
				snprintf(err, sizeof err, "member %d is not primary", idx);
			else {
				sim_rs_stepdown(s, idx);
				rc = 0;
			}
		} else if (strcmp(argv[0], "elect") == 0) {
			if (m->arbiter)
				snprintf(err, sizeof err, "member %d is an arbiter and cannot become primary", idx);
			else if (!m->up)
				snprintf(err, sizeof err, "member %d is down", idx);
			else if (m->priority <= 0)
				snprintf(err, sizeof err, "member %d has priority 0 and cannot become primary", idx);
			else if (m->lock_count > 0)
				snprintf(err, sizeof err,
				         "member %d is fsync-locked: a real mongod cannot step up while fsync-locked "
				         "(the state change waits for the global lock and the node aborts)",
				         idx);
			else {
				if (s->primary != idx)
					sim_rs_elect(s, idx);
				rc = 0;
			}
		} else if (strcmp(argv[0], "kill") == 0) {
			if (m->up)
				sim_rs_kill(s, idx);
			rc = 0;
		} else if (strcmp(argv[0], "revive") == 0) {
			rc = sim_rs_revive(s, idx, err, sizeof err);
		} else if (strcmp(argv[0], "partition") == 0 || strcmp(argv[0], "heal") == 0) {
			if (!m->up)
				snprintf(err, sizeof err, "member %d is down", idx);
			else {
				m->partitioned = strcmp(argv[0], "partition") == 0;
				sim_rs_update_commit(s);
				rc = 0;
			}
		} else if (strcmp(argv[0], "lag") == 0 || strcmp(argv[0], "slow") == 0) {
			bool lag = strcmp(argv[0], "lag") == 0;

			if (argc < 3 || argc > (lag ? 3 : 4) ||
			    parse_long(argv[2], 0, lag ? 86400L * 365 : 3600000L, &v) != 0 ||
			    (argc == 4 && strlen(argv[3]) >= sizeof m->slow_cmd))
				snprintf(err, sizeof err, "usage: %s M %s", argv[0], lag ? "SECONDS" : "MS [COMMAND]");
			else {
				if (lag)
					m->lag_secs = (int)v;
				else {
					m->slow_ms = (int)v;
					snprintf(m->slow_cmd, sizeof m->slow_cmd, "%s", argc == 4 ? argv[3] : "");
					sim_loop_retime_replies(s, idx, sim_now_ms() + v);
				}
				rc = 0;
			}
		} else if (strcmp(argv[0], "lock") == 0) {
			if (!m->up)
				snprintf(err, sizeof err, "member %d is down", idx);
			else {
				m->lock_count++;
				outf(&o, "lockCount=%lld\n", (long long)m->lock_count);
				rc = 0;
			}
		} else if (strcmp(argv[0], "unlock") == 0) {
			if (m->lock_count <= 0)
				snprintf(err, sizeof err, "member %d is not locked", idx);
			else {
				m->lock_count--;
				outf(&o, "lockCount=%lld\n", (long long)m->lock_count);
				if (m->lock_count == 0)
					sim_rs_unlock_effects(s, idx);
				rc = 0;
			}
		} else if (strcmp(argv[0], "reconfig") == 0) {
			rc = do_reconfig(s, idx, argv + 2, argc - 2, err, sizeof err);
		} else if (strcmp(argv[0], "arm") == 0) {
			int action = SIM_ARM_NONE;

			if (argc == 4) {
				if (strcmp(argv[3], "elect") == 0)
					action = SIM_ARM_ELECT;
				else if (strcmp(argv[3], "kill") == 0)
					action = SIM_ARM_KILL;
				else if (strcmp(argv[3], "partition") == 0)
					action = SIM_ARM_PARTITION;
			}
			if (action == SIM_ARM_NONE || strlen(argv[2]) >= sizeof m->arm_cmd)
				snprintf(err, sizeof err, "usage: arm M COMMAND elect|kill|partition");
			else {
				snprintf(m->arm_cmd, sizeof m->arm_cmd, "%s", argv[2]);
				m->arm_action = action;
				rc = 0;
			}
		} else if (strcmp(argv[0], "counters") == 0) {
			for (size_t i = 0; i < m->n_counters; i++)
				outf(&o, "%s%s=%llu", i ? " " : "", m->counters[i].name,
				     (unsigned long long)m->counters[i].count);
			outf(&o, "\n");
			rc = 0;
		}
	}
done:
	/* Anything but a look changes what hello says: the waiting hellos answer now. */
	if (rc == 0 && argc > 0 && strcmp(argv[0], "status") != 0 && strcmp(argv[0], "uri") != 0 &&
	    strcmp(argv[0], "counters") != 0 && strcmp(argv[0], "write") != 0 && strncmp(argv[0], "routed-", 7) != 0)
		sim_rs_topology_changed(s);
	if (rc == 0)
		outf(&o, "ok\n");
	else
		outf(&o, "error: %s\n", err[0] ? err : "failed");
	if (o.failed) {
		free(o.data);
		o.data = NULL;
		o.len = 0;
	}
	*out = o.data;
	*outlen = o.len;
	free(buf);
}

/* Send one control line to the simulator at path and read its whole answer (within timeout_ms).
 * Returns 0 when the answer ends with "ok" (*answer = the lines before it, malloc'd), 1 when it ends
 * with "error: ..." (the message in err), -1 when the socket cannot be used (the reason in err). */
int sim_ctl_call(const char *path, const char *line, int timeout_ms, char **answer, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	char *buf = NULL, *last, *p;
	size_t len = 0, cap = 0, used = strlen(line);
	int64_t deadline = sim_now_ms() + timeout_ms;
	int fd = -1, rc = -1;

	*answer = NULL;
	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		snprintf(err, errlen, "cannot connect to %s: %s (is the simulator running?)", path, strerror(errno));
		goto out;
	}
	for (size_t off = 0; off < used;) {
		ssize_t n = send(fd, line + off, used - off, MSG_NOSIGNAL);

		if (n <= 0) {
			snprintf(err, errlen, "send: %s", strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int64_t left = deadline - sim_now_ms();
		ssize_t n;

		if (cap - len < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 8192);

			if (!nb)
				goto out;
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			snprintf(err, errlen, "no answer from %s within %d ms", path, timeout_ms);
			goto out;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (!buf || len == 0 || buf[len - 1] != '\n') {
		snprintf(err, errlen, "no complete answer from the simulator at %s", path);
		goto out;
	}
	buf[len - 1] = '\0';
	last = strrchr(buf, '\n');
	p = last ? last + 1 : buf;
	if (strcmp(p, "ok") == 0) {
		*p = '\0';
		*answer = buf;
		buf = NULL;
		rc = 0;
	} else {
		snprintf(err, errlen, "%s", strncmp(p, "error: ", 7) == 0 ? p + 7 : p);
		rc = 1;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* `mongo-rs-sim ctl SOCKET COMMAND ARGS...`: exit 0 on ok, 1 on error, 69 if unreachable. */
int sim_ctl_client(int argc, char **argv)
{
	char line[4096], err[1024], *answer = NULL;
	size_t used = 0;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: mongo-rs-sim ctl SOCKET COMMAND [ARGS...]\n");
		return EX_USAGE;
	}
	for (int i = 1; i < argc; i++) {
		int n = snprintf(line + used, sizeof line - used, "%s%s", i > 1 ? " " : "", argv[i]);

		if (n < 0 || (size_t)n >= sizeof line - used - 1) {
			fprintf(stderr, "mongo-rs-sim ctl: command too long\n");
			return EX_USAGE;
		}
		used += (size_t)n;
	}
	line[used++] = '\n';
	line[used] = '\0';
	if (strlen(argv[0]) >= sizeof((struct sockaddr_un *)0)->sun_path) {
		fprintf(stderr, "mongo-rs-sim ctl: socket path too long: %s\n", argv[0]);
		return EX_USAGE;
	}
	/* A held balancerStop or a lock timeout never delays the control socket: a minute is plenty. */
	rc = sim_ctl_call(argv[0], line, 60000, &answer, err, sizeof err);
	if (rc == 0) {
		fputs(answer, stdout);
		free(answer);
		return 0;
	}
	fprintf(stderr, "mongo-rs-sim ctl: %s\n", err);
	return rc == 1 ? 1 : EX_UNAVAILABLE;
}
