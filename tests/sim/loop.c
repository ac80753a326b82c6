/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* loop.c: the single-threaded poll loop: listeners, connections, delayed replies, timers, TLS. */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "sim.h"

#define READ_CHUNK 65536
#define IN_LIMIT ((size_t)SIM_MAX_MESSAGE + READ_CHUNK)
/* A control line carries at most one routed document (hex) or a fault command. */
#define CTL_LINE_MAX (1024 * 1024 + 4096)

/* Wall-clock milliseconds (optimes are wall-clock based, like a server's). */
int64_t sim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line to the log file (and stderr with -v). */
void sim_logf(sim *s, const char *fmt, ...)
{
	char msg[4096], stamp[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;

	if (!s->log && !s->verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	if (s->log) {
		fprintf(s->log, "%s.%03dZ %s\n", stamp, (int)(tv.tv_usec / 1000), msg);
		fflush(s->log);
	}
	if (s->verbose)
		fprintf(stderr, "mongo-rs-sim: %s\n", msg);
}

/* (Re)create member idx's socket on port; listening only when listen_now. */
int sim_loop_listen_member(sim *s, int idx, bool listen_now, int port, char *err, size_t errlen)
{
	sim_member *m = &s->members[idx];
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int fd, one = 1;

	if (m->listen_fd >= 0) {
		close(m->listen_fd);
		m->listen_fd = -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, m->addr, &sa.sin_addr) != 1)
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || (listen_now && listen(fd, 128) != 0) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		snprintf(err, errlen, "member %d: cannot listen on %s:%d: %s", idx, m->addr, port, strerror(errno));
		close(fd);
		return -1;
	}
	m->listen_fd = fd;
	m->port = ntohs(sa.sin_port);
	snprintf(m->host, sizeof m->host, "%s:%d", m->addr, m->port);
	return 0;
}

/* The server TLS context from the configured PEM files. */
int sim_tls_init(sim *s, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	unsigned long e;

	if (!s->tls)
		return 0;
	if (!s->tls_cert || !s->tls_key) {
		snprintf(err, errlen, "TLS is on but the certificate or key file is not set (tls.cert, tls.key)");
		return -1;
	}
	if (s->tls_require_client_cert && !s->tls_ca) {
		snprintf(err, errlen, "tls.require_client_cert needs tls.ca");
		return -1;
	}
	if (!(ctx = SSL_CTX_new(TLS_server_method())))
		goto ssl_fail;
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, s->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, s->tls_key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)
		goto ssl_fail;
	if (s->tls_ca && SSL_CTX_load_verify_locations(ctx, s->tls_ca, NULL) != 1)
		goto ssl_fail;
	if (s->tls_ca) {
		/* Like mongod with a CA file: a client certificate is asked for (MONGODB-X509), required
		 * only with require_client_cert. */
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->tls_ca);

		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (s->tls_require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
		                   NULL);
	}
	s->ssl_ctx = ctx;
	return 0;
ssl_fail:
	e = ERR_get_error();
	snprintf(err, errlen, "TLS setup failed (%s, %s): %s", s->tls_cert ? s->tls_cert : "-",
	         s->tls_key ? s->tls_key : "-", e ? ERR_reason_error_string(e) : "unknown error");
	SSL_CTX_free(ctx);
	return -1;
}

static void conn_kill(sim_conn *c)
{
	c->dead = true;
}

static void conn_free(sim_conn *c)
{
	sim_out *o, *n;

	if (!c)
		return;
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	for (o = c->out_head; o; o = n) {
		n = o->next;
		free(o->data);
		free(o);
	}
	sim_auth_conn_reset(c);
	sim_route_free(c);
	if (c->op_body)
		bson_destroy(c->op_body);
	free(c->cert_subject);
	free(c->in);
	free(c);
}

static sim_conn *conn_new(sim *s, int kind, int fd, int member)
{
	sim_conn *c = calloc(1, sizeof *c);

	if (!c) {
		close(fd);
		return NULL;
	}
	c->kind = kind;
	c->fd = fd;
	c->member = member;
	c->user = -1;
	c->id = ++s->next_conn_id;
	c->tls_done = true;
	if (kind == SIM_CONN_MEMBER && s->ssl_ctx) {
		if (!(c->ssl = SSL_new(s->ssl_ctx)) || SSL_set_fd(c->ssl, fd) != 1) {
			conn_free(c);
			return NULL;
		}
		SSL_set_accept_state(c->ssl);
		c->tls_done = false;
	}
	c->next = s->conns;
	s->conns = c;
	return c;
}

/* Queue bytes (takes ownership of data) to be sent no earlier than release_ms. */
static void conn_queue(sim_conn *c, uint8_t *data, size_t len, int64_t release_ms)
{
	sim_out *o = calloc(1, sizeof *o);

	if (!o) {
		free(data);
		conn_kill(c);
		return;
	}
	o->data = data;
	o->len = len;
	o->release_ms = release_ms;
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
}

/* Close every connection of member idx (kill). */
void sim_loop_close_member_conns(sim *s, int idx)
{
	for (sim_conn *c = s->conns; c; c = c->next)
		if (c->kind == SIM_CONN_MEMBER && c->member == idx)
			conn_kill(c);
}

/* The member's lock is gone: its held requests run again. */
void sim_loop_release_held(sim *s, int idx)
{
	for (sim_conn *c = s->conns; c; c = c->next)
		if (c->kind == SIM_CONN_MEMBER && c->member == idx && c->held) {
			c->held = false;
			c->redispatch = true;
		}
}

/* A new `slow` for member idx: no reply already held back waits past latest_ms. */
void sim_loop_retime_replies(sim *s, int idx, int64_t latest_ms)
{
	for (sim_conn *c = s->conns; c; c = c->next)
		if (c->kind == SIM_CONN_MEMBER && c->member == idx)
			for (sim_out *o = c->out_head; o; o = o->next)
				if (o->release_ms > latest_ms)
					o->release_ms = latest_ms;
}

/* The topology changed: every awaitable hello answers now. */
void sim_loop_wake_hellos(sim *s)
{
	for (sim_conn *c = s->conns; c; c = c->next)
		if (c->kind == SIM_CONN_MEMBER && c->awaiting && c->held) {
			c->held = false;
			c->redispatch = true;
			c->await_done = true;
		}
}

static bool member_silent(const sim *s, const sim_conn *c)
{
	return c->kind == SIM_CONN_MEMBER && s->members[c->member].partitioned;
}

/* How late the reply to req goes out: `slow M MS [COMMAND]`. */
static int reply_delay_ms(const sim_member *m, const sim_msg *req)
{
	bson_iter_t it;

	if (m->slow_ms == 0 || m->slow_cmd[0] == '\0')
		return m->slow_ms;
	if (req->has_body && bson_iter_init(&it, &req->body) && bson_iter_next(&it) &&
	    strcmp(bson_iter_key(&it), m->slow_cmd) == 0)
		return m->slow_ms;
	return 0;
}

/* Run every complete request in c's input buffer. */
static void process_member_input(sim *s, sim_conn *c)
{
	while (!c->dead && !c->held && c->in_len > 0 && !member_silent(s, c)) {
		int64_t flen = sim_wire_frame_len(c->in, c->in_len);
		sim_msg req;
		bson_t reply = BSON_INITIALIZER;
		char errbuf[256];
		int rc;

		if (flen < 0) {
			sim_logf(s, "conn %lld: bad message length; closing", (long long)c->id);
			conn_kill(c);
			break;
		}
		if (flen == 0 || (size_t)flen > c->in_len)
			break;
		memset(&req, 0, sizeof req);
		if (sim_wire_decode(&req, c->in, (size_t)flen, errbuf, sizeof errbuf) != 0) {
			sim_logf(s, "conn %lld: malformed message (%s); closing", (long long)c->id, errbuf);
			conn_kill(c);
			break;
		}
		rc = sim_cmd_dispatch(s, c, &req, &reply);
		if (rc == 0) {
			size_t outlen = 0;
			uint8_t *out = sim_wire_encode_reply(&req, ++s->next_request_id, &reply, &outlen);

			if (!out)
				conn_kill(c);
			else
				conn_queue(c, out, outlen,
				           sim_now_ms() + reply_delay_ms(&s->members[c->member], &req) + c->reply_delay_ms);
			c->reply_delay_ms = 0;
		} else if (rc == 3) {
			conn_kill(c);
		}
		sim_msg_clean(&req);
		bson_destroy(&reply);
		if (rc == 1 || c->dead)
			break;   /* held: the frame stays in the buffer until the lock goes */
		memmove(c->in, c->in + flen, c->in_len - (size_t)flen);
		c->in_len -= (size_t)flen;
	}
}

static void process_ctl_input(sim *s, sim_conn *c)
{
	uint8_t *nl;
	char *out = NULL;
	size_t outlen = 0;

	if (c->close_after_flush || c->dead || !(nl = memchr(c->in, '\n', c->in_len))) {
		if (!c->close_after_flush && c->in_len >= CTL_LINE_MAX)
			conn_kill(c);
		return;
	}
	*nl = '\0';
	if (nl > c->in && nl[-1] == '\r')
		nl[-1] = '\0';
	sim_ctl_handle_line(s, (const char *)c->in, &out, &outlen);
	if (out)
		conn_queue(c, (uint8_t *)out, outlen, 0);
	c->close_after_flush = true;
	c->in_len = 0;
}

static bool ensure_in(sim_conn *c, size_t limit)
{
	size_t want;
	uint8_t *n;

	if (c->in_cap - c->in_len >= READ_CHUNK || c->in_cap >= limit)
		return c->in_cap > c->in_len;
	want = c->in_cap ? c->in_cap * 2 : READ_CHUNK;
	while (want < c->in_len + READ_CHUNK)
		want *= 2;
	if (want > limit)
		want = limit;
	if (!(n = realloc(c->in, want)))
		return false;
	c->in = n;
	c->in_cap = want;
	return c->in_cap > c->in_len;
}

/* Read what is there; false = closed or failed. */
static bool conn_read(sim *s, sim_conn *c)
{
	size_t limit = c->kind == SIM_CONN_CTL ? CTL_LINE_MAX + 1 : IN_LIMIT;

	for (int rounds = 0; rounds < 64; rounds++) {
		ssize_t n;

		if (!ensure_in(c, limit))
			return true;   /* full: wait until it drains */
		if (c->ssl) {
			int r;

			ERR_clear_error();
			r = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);

				if (e == SSL_ERROR_WANT_READ)
					return true;
				if (e == SSL_ERROR_WANT_WRITE) {
					c->want_write = true;
					return true;
				}
				return false;
			}
			n = r;
		} else {
			n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				return true;
			if (n <= 0)
				return false;
		}
		if (member_silent(s, c))
			continue;  /* a partitioned member reads and drops */
		c->in_len += (size_t)n;
	}
	return true;
}

/* Write released output; false = failed. */
static bool conn_write(sim *s, sim_conn *c, int64_t now)
{
	if (member_silent(s, c))
		return true;
	while (c->out_head && c->out_head->release_ms <= now) {
		sim_out *o = c->out_head;
		ssize_t n;

		if (c->ssl) {
			int r;

			ERR_clear_error();
			r = SSL_write(c->ssl, o->data + o->off, (int)(o->len - o->off));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);

				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
					c->want_write = e == SSL_ERROR_WANT_WRITE;
					return true;
				}
				return false;
			}
			n = r;
		} else {
			n = send(c->fd, o->data + o->off, o->len - o->off, MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				return true;
			if (n < 0)
				return false;
		}
		o->off += (size_t)n;
		if (o->off < o->len)
			return true;
		c->out_head = o->next;
		if (!c->out_head)
			c->out_tail = NULL;
		free(o->data);
		free(o);
	}
	if (!c->out_head && c->close_after_flush)
		return false;
	return true;
}

static void tls_step(sim *s, sim_conn *c)
{
	int r, e;

	ERR_clear_error();
	r = SSL_accept(c->ssl);
	if (r == 1) {
		X509 *peer = SSL_get1_peer_certificate(c->ssl);

		c->tls_done = true;
		c->want_write = false;
		/* MONGODB-X509 names the user by the verified client certificate's subject, RFC 2253. */
		if (peer && SSL_get_verify_result(c->ssl) == X509_V_OK) {
			BIO *b = BIO_new(BIO_s_mem());
			char *data = NULL;
			long n;

			if (b && X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0 &&
			    (n = BIO_get_mem_data(b, &data)) > 0)
				c->cert_subject = strndup(data, (size_t)n);
			BIO_free(b);
		}
		X509_free(peer);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		c->want_write = false;
		return;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		c->want_write = true;
		return;
	}
	sim_logf(s, "conn %lld: TLS handshake failed: %s", (long long)c->id,
	         ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error())
	                                                         : "closed");
	conn_kill(c);
}

static void accept_all(sim *s, int lfd, int kind, int member)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		sim_conn *c;

		if (fd < 0) {
			/* Out of descriptors: stop accepting for a while instead of spinning on a readable listener. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				s->accept_paused_until_ms = sim_now_ms() + 100;
			return;
		}
		if (kind == SIM_CONN_MEMBER)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c = conn_new(s, kind, fd, member);
		if (c && kind == SIM_CONN_MEMBER)
			sim_logf(s, "member %d: accepted conn %lld", member, (long long)c->id);
	}
}

static void reap(sim *s)
{
	sim_conn **pp = &s->conns;

	while (*pp) {
		sim_conn *c = *pp;

		if (c->dead) {
			*pp = c->next;
			conn_free(c);
		} else {
			pp = &c->next;
		}
	}
}

static void handle_conn_event(sim *s, sim_conn *c, short rev, int64_t now)
{
	if (c->dead)
		return;
	if (c->ssl && !c->tls_done) {
		if (rev & (POLLIN | POLLOUT | POLLHUP | POLLERR))
			tls_step(s, c);
		if (!c->tls_done)
			return;
	}
	if (rev & (POLLIN | POLLHUP | POLLERR)) {
		if (!conn_read(s, c)) {
			conn_kill(c);
			return;
		}
	}
	if (c->kind == SIM_CONN_CTL)
		process_ctl_input(s, c);
	else
		process_member_input(s, c);
	if (!c->dead && !conn_write(s, c, now))
		conn_kill(c);
}

/* Flush the control replies before exiting (ctl shutdown answers "ok"). */
static void flush_ctl_blocking(sim *s)
{
	for (sim_conn *c = s->conns; c; c = c->next) {
		if (c->kind != SIM_CONN_CTL || c->dead)
			continue;
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
		conn_write(s, c, INT64_MAX);
	}
}

enum { PF_MEMBER_LISTEN = 1, PF_CTL_LISTEN, PF_CONN };

/* Run until stopped; returns 0. */
int sim_loop_run(sim *s)
{
	struct pollfd *pfd = NULL;
	void **ptr = NULL;
	int *kind = NULL;
	size_t cap = 0;
	sigset_t empty;

	sigemptyset(&empty);
	while (!s->stop) {
		int64_t now = sim_now_ms(), next;
		size_t n = 0, need = s->n_members + 1;
		struct timespec ts;
		int r;

		sim_rs_tick(s, now);
		/* Requests released by an unlock and replies whose delay ran out. */
		for (sim_conn *c = s->conns; c; c = c->next) {
			if (c->dead || !c->tls_done)
				continue;
			/* TLS may hold decrypted bytes the socket will never signal again. */
			if (c->ssl && !c->held && SSL_pending(c->ssl) > 0 && !conn_read(s, c)) {
				conn_kill(c);
				continue;
			}
			/* An awaitable hello whose maxAwaitTimeMS ran out answers as it is. */
			if (c->kind == SIM_CONN_MEMBER && c->awaiting && c->held && c->await_until_ms <= now) {
				c->held = false;
				c->redispatch = true;
				c->await_done = true;
			}
			/* A request held for a retry (a routed write waiting for a shard's lock) runs again. */
			if (c->held && c->retry_at_ms && c->retry_at_ms <= now) {
				c->held = false;
				c->redispatch = true;
				c->retry_at_ms = 0;
			}
			if (c->kind == SIM_CONN_MEMBER)
				process_member_input(s, c);
			if (!c->dead && c->out_head && !conn_write(s, c, now))
				conn_kill(c);
		}
		reap(s);
		if (s->stop)
			break;
		for (sim_conn *c = s->conns; c; c = c->next)
			need++;
		if (need > cap) {
			size_t nc = need * 2;
			struct pollfd *np = realloc(pfd, nc * sizeof *np);
			void **nptr;
			int *nk;

			if (!np)
				break;
			pfd = np;
			if (!(nptr = realloc(ptr, nc * sizeof *nptr)))
				break;
			ptr = nptr;
			if (!(nk = realloc(kind, nc * sizeof *nk)))
				break;
			kind = nk;
			cap = nc;
		}
		next = sim_rs_next_deadline(s, now);
		if (s->accept_paused_until_ms > now && s->accept_paused_until_ms < next)
			next = s->accept_paused_until_ms;
		for (size_t i = 0; i < s->n_members; i++) {
			sim_member *m = &s->members[i];

			if (!m->up || m->listen_fd < 0 || s->accept_paused_until_ms > now)
				continue;
			pfd[n] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
			ptr[n] = m;
			kind[n++] = PF_MEMBER_LISTEN;
		}
		if (s->ctl_fd >= 0 && s->accept_paused_until_ms <= now) {
			pfd[n] = (struct pollfd){.fd = s->ctl_fd, .events = POLLIN};
			ptr[n] = NULL;
			kind[n++] = PF_CTL_LISTEN;
		}
		for (sim_conn *c = s->conns; c; c = c->next) {
			short ev = 0;

			if (!c->held && !c->close_after_flush)
				ev |= POLLIN;
			if (c->want_write)
				ev |= POLLOUT;
			if (c->out_head && !member_silent(s, c)) {
				if (c->out_head->release_ms <= now)
					ev |= POLLOUT;
				else if (c->out_head->release_ms < next)
					next = c->out_head->release_ms;
			}
			if (c->ssl && !c->tls_done)
				ev |= POLLIN;
			if (c->awaiting && c->held && c->await_until_ms < next)
				next = c->await_until_ms;
			if (c->held && c->retry_at_ms && c->retry_at_ms < next)
				next = c->retry_at_ms;
			pfd[n] = (struct pollfd){.fd = c->fd, .events = ev};
			ptr[n] = c;
			kind[n++] = PF_CONN;
		}
		if (next == INT64_MAX || next - now > 60000)
			next = now + 60000;
		if (next < now)
			next = now;
		ts.tv_sec = (time_t)((next - now) / 1000);
		ts.tv_nsec = (long)((next - now) % 1000) * 1000000L;
		r = ppoll(pfd, n, &ts, &empty);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			sim_logf(s, "poll: %s", strerror(errno));
			break;
		}
		now = sim_now_ms();
		for (size_t i = 0; i < n && r > 0; i++) {
			if (!pfd[i].revents)
				continue;
			if (kind[i] == PF_MEMBER_LISTEN) {
				sim_member *m = ptr[i];

				if (m->up && m->listen_fd == pfd[i].fd)
					accept_all(s, m->listen_fd, SIM_CONN_MEMBER, (int)(m - s->members));
			} else if (kind[i] == PF_CTL_LISTEN) {
				accept_all(s, s->ctl_fd, SIM_CONN_CTL, -1);
			} else {
				handle_conn_event(s, ptr[i], pfd[i].revents, now);
			}
		}
		reap(s);
	}
	flush_ctl_blocking(s);
	for (sim_conn *c = s->conns; c; c = c->next)
		conn_kill(c);
	reap(s);
	free(pfd);
	free(ptr);
	free(kind);
	return 0;
}
