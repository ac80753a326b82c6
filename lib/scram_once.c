/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* scram_once.c: one SCRAM key derivation per client: its handshakes go out without speculative authentication. */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "scram_once.h"

#define OP_QUERY 2004
#define OP_MSG 2013
#define HEADER_LEN 16
#define HELLO_MAX 16384 /* a handshake is well under 1 KiB; anything bigger is not one */

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Where the command document starts in an OP_QUERY or OP_MSG; 0 = not such a message. */
static size_t
command_offset(const uint8_t *msg, size_t len)
{
	const uint8_t *nul;

	switch (get_le32(msg + 12)) {
	case OP_QUERY: /* flags, fullCollectionName, numberToSkip, numberToReturn, query */
		if (len < HEADER_LEN + 4 || (nul = memchr(msg + HEADER_LEN + 4, '\0', len - HEADER_LEN - 4)) == NULL)
			return 0;
		return (size_t)(nul - msg) + 1 + 8;
	case OP_MSG: /* flagBits (no checksum), then section kind 0: the body */
		if (len < HEADER_LEN + 5 || (get_le32(msg + HEADER_LEN) & 1) != 0 || msg[HEADER_LEN + 4] != 0)
			return 0;
		return HEADER_LEN + 5;
	default:
		return 0;
	}
}

/* See scram_once.h. */
bool
mbh_hello_strip_speculative(const uint8_t *msg, size_t len, uint8_t **out, size_t *out_len)
{
	bson_t doc, rest;
	bson_iter_t it;
	size_t at, doc_len, new_len;
	const char *name;

	*out = NULL;
	*out_len = 0;
	if (len < HEADER_LEN || len > HELLO_MAX || get_le32(msg) != len || (at = command_offset(msg, len)) == 0 ||
	    at + 5 > len)
		return false;
	doc_len = get_le32(msg + at);
	if (doc_len < 5 || doc_len > len - at || !bson_init_static(&doc, msg + at, doc_len))
		return false;
	if (!bson_iter_init(&it, &doc) || !bson_iter_next(&it))
		return false;
	name = bson_iter_key(&it);
	if ((strcasecmp(name, "hello") != 0 && strcasecmp(name, "isMaster") != 0) ||
	    !bson_has_field(&doc, "speculativeAuthenticate"))
		return false;
	bson_init(&rest);
	bson_copy_to_excluding_noinit(&doc, &rest, "speculativeAuthenticate", NULL);
	new_len = len - doc_len + rest.len;
	*out = bson_malloc(new_len);
	memcpy(*out, msg, at);
	memcpy(*out + at, bson_get_data(&rest), rest.len);
	memcpy(*out + at + rest.len, msg + at + doc_len, len - at - doc_len);
	put_le32(*out, (uint32_t)new_len);
	*out_len = new_len;
	bson_destroy(&rest);
	return true;
}

#if MONGOC_CHECK_VERSION(1, 25, 0) || !defined(HAVE_MONGOC_CLIENT_DEFAULT_STREAM_INITIATOR)

void
mbh_scram_once(mongoc_client_t *client)
{
	(void)client; /* 1.25 and later cache derived keys per process on every path */
}

#else

#define STREAM_TYPE 0x6d6268 /* none of libmongoc's MONGOC_STREAM_* types */
#define PROBE_MS 200           /* the second look at a failed connect (see connect_failure) */

/* Exported by libmongoc 1.x (TCP or TLS as the URI says, the connect timeout), declared only in its private headers. */
mongoc_stream_t *mongoc_client_default_stream_initiator(const mongoc_uri_t *uri, const mongoc_host_list_t *host,
							 void *user_data, bson_error_t *error);

/* libmongoc's own stream, with the handshake's speculativeAuthenticate left out. */
typedef struct plain_stream {
	mongoc_stream_t vtable; /* first: libmongoc calls through it */
	mongoc_stream_t *base;
} plain_stream;

static mongoc_stream_t *
base_of(mongoc_stream_t *s)
{
	return ((plain_stream *)s)->base;
}

static void
plain_destroy(mongoc_stream_t *s)
{
	mongoc_stream_destroy(base_of(s));
	bson_free(s);
}

static void
plain_failed(mongoc_stream_t *s)
{
	mongoc_stream_failed(base_of(s));
	bson_free(s);
}

static int
plain_close(mongoc_stream_t *s)
{
	return mongoc_stream_close(base_of(s));
}

static int
plain_flush(mongoc_stream_t *s)
{
	return mongoc_stream_flush(base_of(s));
}

static ssize_t
plain_readv(mongoc_stream_t *s, mongoc_iovec_t *iov, size_t iovcnt, size_t min_bytes, int32_t timeout_msec)
{
	return mongoc_stream_readv(base_of(s), iov, iovcnt, min_bytes, timeout_msec);
}

static int
plain_setsockopt(mongoc_stream_t *s, int level, int optname, void *optval, mongoc_socklen_t optlen)
{
	return mongoc_stream_setsockopt(base_of(s), level, optname, optval, optlen);
}

static mongoc_stream_t *
plain_get_base(mongoc_stream_t *s)
{
	return base_of(s);
}

static bool
plain_check_closed(mongoc_stream_t *s)
{
	return mongoc_stream_check_closed(base_of(s));
}

static bool
plain_timed_out(mongoc_stream_t *s)
{
	return mongoc_stream_timed_out(base_of(s));
}

static bool
plain_should_retry(mongoc_stream_t *s)
{
	return mongoc_stream_should_retry(base_of(s));
}

/*
 * A handshake is written whole, in one call, to a socket with nothing
 * queued yet; should the kernel take only part of it, the rest goes out
 * with a bounded wait.  The caller is told the length it asked to write.
 */
static ssize_t
plain_writev(mongoc_stream_t *s, mongoc_iovec_t *iov, size_t iovcnt, int32_t timeout_msec)
{
	uint8_t buf[HELLO_MAX], *out = NULL;
	size_t total = 0, i, done = 0, out_len = 0;
	ssize_t n;

	for (i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > sizeof(buf))
		return mongoc_stream_writev(base_of(s), iov, iovcnt, timeout_msec);
	for (i = 0; i < iovcnt; i++) {
		memcpy(buf + done, iov[i].iov_base, iov[i].iov_len);
		done += iov[i].iov_len;
	}
	if (!mbh_hello_strip_speculative(buf, total, &out, &out_len))
		return mongoc_stream_writev(base_of(s), iov, iovcnt, timeout_msec);
	for (done = 0; done < out_len; done += (size_t)n) {
		n = mongoc_stream_write(base_of(s), out + done, out_len - done,
					done == 0 ? timeout_msec : timeout_msec > 1000 ? timeout_msec : 1000);
		if (n <= 0) {
			bson_free(out);
			return done == 0 ? n : -1;
		}
	}
	bson_free(out);
	return (ssize_t)total;
}

/* strerror's words for the usual connect failures, in lower case as libmongoc's own scan says them. */
static const char *
connect_reason(int e, char *buf, size_t len)
{
	switch (e) {
	case ECONNREFUSED:
		return "connection refused";
	case ETIMEDOUT:
		return "timed out";
	case EHOSTUNREACH:
		return "host unreachable";
	case ENETUNREACH:
		return "network unreachable";
	default:
		snprintf(buf, len, "%s", strerror(e));
		return buf;
	}
}

/*
 * Why the connect to host failed: libmongoc's blocking connect (the one a
 * stream initiator uses) only says that it did, where its own parallel scan
 * says why.  One more non-blocking attempt, bounded by timeout_ms, finds
 * out; NULL when it cannot tell (or the member answers now).
 */
static const char *
connect_failure(const mongoc_host_list_t *host, int timeout_ms, char *buf, size_t len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	struct pollfd pfd = { .events = POLLOUT };
	const char *why = NULL;
	char port[16];
	socklen_t elen;
	int fd, e;

	snprintf(port, sizeof(port), "%u", (unsigned)host->port);
	if (host->family == AF_UNIX || getaddrinfo(host->host, port, &hints, &res) != 0)
		return NULL;
	for (ai = res; ai != NULL && why == NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol)) < 0)
			continue;
		e = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
		if (e == EINPROGRESS) {
			pfd.fd = fd;
			elen = sizeof(e);
			if (poll(&pfd, 1, timeout_ms) <= 0)
				e = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0)
				e = 0;
		}
		if (e != 0)
			why = connect_reason(e, buf, len);
		close(fd);
	}
	freeaddrinfo(res);
	return why;
}

static mongoc_stream_t *
plain_initiator(const mongoc_uri_t *uri, const mongoc_host_list_t *host, void *client, bson_error_t *error)
{
	mongoc_stream_t *base = mongoc_client_default_stream_initiator(uri, host, client, error);
	plain_stream *p;
	const char *why;
	char buf[128];
	size_t n;

	if (base == NULL) {
		why = connect_failure(host, PROBE_MS, buf, sizeof(buf));
		n = strlen(error->message);
		if (why != NULL && n < sizeof(error->message))
			snprintf(error->message + n, sizeof(error->message) - n, ": %s", why);
		return NULL;
	}
	p = bson_malloc0(sizeof(*p));
	p->base = base;
	p->vtable.type = STREAM_TYPE;
	p->vtable.destroy = plain_destroy;
	p->vtable.failed = plain_failed;
	p->vtable.close = plain_close;
	p->vtable.flush = plain_flush;
	p->vtable.writev = plain_writev;
	p->vtable.readv = plain_readv;
	p->vtable.setsockopt = plain_setsockopt;
	p->vtable.get_base_stream = plain_get_base;
	p->vtable.check_closed = plain_check_closed;
	p->vtable.timed_out = plain_timed_out;
	p->vtable.should_retry = plain_should_retry;
	return &p->vtable;
}

void
mbh_scram_once(mongoc_client_t *client)
{
	const mongoc_uri_t *uri = mongoc_client_get_uri(client);
	const char *mech = mongoc_uri_get_auth_mechanism(uri);

	/* SCRAM only: what a client without a password (X.509, none) sends stays as libmongoc makes it */
	if (mongoc_uri_get_username(uri) == NULL || (mech != NULL && strncasecmp(mech, "SCRAM-", 6) != 0))
		return;
	mongoc_client_set_stream_initiator(client, plain_initiator, client);
}

#endif
