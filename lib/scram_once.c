/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* scram_once.c: one SCRAM key derivation per run: our own SCRAM on each connection, or libmongoc's without speculative authentication. */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "scram_client.h"
#include "scram_once.h"
#include "uri.h"

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

/* Is msg[0..len) a hello (or isMaster) command?  Its document in *doc (static, over msg), where it starts in *at. */
static bool
hello_doc(const uint8_t *msg, size_t len, bson_t *doc, size_t *at)
{
	bson_iter_t it;
	size_t doc_len;
	const char *name;

	if (len < HEADER_LEN || len > HELLO_MAX || get_le32(msg) != len || (*at = command_offset(msg, len)) == 0 ||
	    *at + 5 > len)
		return false;
	doc_len = get_le32(msg + *at);
	if (doc_len < 5 || doc_len > len - *at || !bson_init_static(doc, msg + *at, doc_len))
		return false;
	if (!bson_iter_init(&it, doc) || !bson_iter_next(&it))
		return false;
	name = bson_iter_key(&it);
	return strcasecmp(name, "hello") == 0 || strcasecmp(name, "isMaster") == 0;
}

/* See scram_once.h. */
bool
mbh_hello_strip_speculative(const uint8_t *msg, size_t len, uint8_t **out, size_t *out_len)
{
	bson_t doc, rest;
	size_t at, doc_len, new_len;

	*out = NULL;
	*out_len = 0;
	if (!hello_doc(msg, len, &doc, &at) || !bson_has_field(&doc, "speculativeAuthenticate"))
		return false;
	doc_len = doc.len;
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

bool
mbh_scram_own(void)
{
	return false;
}

/* Without libmongoc's stream initiator our own SCRAM cannot sit under its connections: libmongoc's path. */
mbh_scram_login *
mbh_scram_login_new(const mongoc_uri_t *uri)
{
	(void)uri;
	return NULL;
}

void
mbh_scram_login_free(mbh_scram_login *l)
{
	(void)l;
}

unsigned
mbh_scram_login_derivations(mbh_scram_login *l)
{
	(void)l;
	return 0;
}

bool
mbh_scram_login_holds(mbh_scram_login *l, const mongoc_uri_t *uri)
{
	(void)l;
	(void)uri;
	return false;
}

bool
mbh_scram_login_failed(mbh_scram_login *l, mbh_error *err)
{
	(void)l;
	(void)err;
	return false;
}

mongoc_client_t *
mbh_scram_client_new(const mongoc_uri_t *uri, mbh_scram_login *login, bson_error_t *e)
{
	mongoc_client_t *client = mongoc_client_new_from_uri_with_error(uri, e);

	(void)login;
	if (client != NULL)
		mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
	return client;
}

#else

bool
mbh_scram_own(void)
{
	return true;
}

#define STREAM_TYPE 0x6d6268 /* none of libmongoc's MONGOC_STREAM_* types */
#define PROBE_MS 200           /* the second look at a failed connect (see connect_failure) */

/* Exported by libmongoc 1.x (TCP or TLS as the URI says, the connect timeout), declared only in its private headers. */
mongoc_stream_t *mongoc_client_default_stream_initiator(const mongoc_uri_t *uri, const mongoc_host_list_t *host,
							 void *user_data, bson_error_t *error);

typedef struct login_client login_client;
static int login_stream(login_client *lc, mongoc_stream_t *base, int32_t timeout_ms);

/*
 * libmongoc's own stream, with the handshake's speculativeAuthenticate left
 * out; with lc, authenticated by our own SCRAM before its first command
 * (not before a hello: the monitoring of a member the run does not use
 * stays unauthenticated, as libmongoc's own authentication does).
 */
typedef struct plain_stream {
	mongoc_stream_t vtable; /* first: libmongoc calls through it */
	mongoc_stream_t *base;
	login_client *lc;       /* NULL: libmongoc authenticates */
	bool authed;
	int32_t auth_ms;        /* the bound of each read or write of the conversation */
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

	plain_stream *p = (plain_stream *)s;
	bson_t doc;
	size_t at;

	for (i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total <= sizeof(buf))
		for (i = 0; i < iovcnt; i++) {
			memcpy(buf + done, iov[i].iov_base, iov[i].iov_len);
			done += iov[i].iov_len;
		}
	if (p->lc != NULL && !p->authed && (total > sizeof(buf) || !hello_doc(buf, total, &doc, &at))) {
		if (login_stream(p->lc, p->base, p->auth_ms) != 0)
			return -1; /* libmongoc: a failed send; the run's error: the login's (mbh_scram_login_failed) */
		p->authed = true;
	}
	if (total > sizeof(buf))
		return mongoc_stream_writev(base_of(s), iov, iovcnt, timeout_msec);
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

/* libmongoc's own connection to host (TCP or TLS, its connect timeout); NULL and error saying why not. */
static mongoc_stream_t *
base_connect(const mongoc_uri_t *uri, const mongoc_host_list_t *host, void *client, bson_error_t *error)
{
	mongoc_stream_t *base = mongoc_client_default_stream_initiator(uri, host, client, error);
	const char *why;
	char buf[128];
	size_t n;

	if (base == NULL) {
		why = connect_failure(host, PROBE_MS, buf, sizeof(buf));
		n = strlen(error->message);
		if (why != NULL && n < sizeof(error->message))
			snprintf(error->message + n, sizeof(error->message) - n, ": %s", why);
	}
	return base;
}

/* base wrapped (see plain_stream). */
static mongoc_stream_t *
wrap(mongoc_stream_t *base, login_client *lc, int32_t auth_ms)
{
	plain_stream *p = bson_malloc0(sizeof(*p));

	p->lc = lc;
	p->auth_ms = auth_ms;
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

static mongoc_stream_t *
plain_initiator(const mongoc_uri_t *uri, const mongoc_host_list_t *host, void *client, bson_error_t *error)
{
	mongoc_stream_t *base = base_connect(uri, host, client, error);

	return base != NULL ? wrap(base, NULL, 0) : NULL;
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


/* One client made with a login: what its stream initiator needs (libmongoc's default one wants the client). */
struct login_client {
	struct login_client *next;
	mongoc_client_t *client;
	mbh_scram_login *login;
};

struct mbh_scram_login {
	pthread_mutex_t mu; /* mech, failed, failure, clients: a cluster's components use it from their threads */
	char *user, *password, *source;
	int mech;          /* the URI's mechanism (an mbh_scram_mech), or -1: negotiated (see authenticate) */
	int last;          /* the mechanism that worked last when negotiated, -1 = none yet */
	mbh_scram_cache *cache;
	bool failed;
	mbh_error failure; /* why the server refused (failed) */
	login_client *clients;
};

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* See scram_once.h. */
mbh_scram_login *
mbh_scram_login_new(const mongoc_uri_t *uri)
{
	const char *user = mongoc_uri_get_username(uri), *pw = mongoc_uri_get_password(uri);
	const char *mech = mongoc_uri_get_auth_mechanism(uri), *source = mongoc_uri_get_auth_source(uri);
	mbh_scram_login *l;

	if (user == NULL || pw == NULL)
		return NULL;
	if (mech != NULL && strcasecmp(mech, "SCRAM-SHA-1") != 0 && strcasecmp(mech, "SCRAM-SHA-256") != 0)
		return NULL;
	/* SCRAM-SHA-256 hashes the SASLprep'ed password: libmongoc does SASLprep, we do not */
	if ((mech == NULL || strcasecmp(mech, "SCRAM-SHA-256") == 0) && !mbh_scram_password_is_plain(pw))
		return NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if (pthread_mutex_init(&l->mu, NULL) != 0) {
		free(l);
		return NULL;
	}
	l->mech = mech == NULL ? -1 : strcasecmp(mech, "SCRAM-SHA-1") == 0 ? MBH_SCRAM_SHA1 : MBH_SCRAM_SHA256;
	l->last = -1;
	l->user = strdup(user);
	l->password = strdup(pw);
	l->source = strdup(source != NULL ? source : "admin");
	l->cache = mbh_scram_cache_new();
	if (l->user == NULL || l->password == NULL || l->source == NULL || l->cache == NULL) {
		mbh_scram_login_free(l);
		return NULL;
	}
	return l;
}

/* See scram_once.h. */
void
mbh_scram_login_free(mbh_scram_login *l)
{
	login_client *c, *next;

	if (l == NULL)
		return;
	for (c = l->clients; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(l->user);
	wipe_free(l->password);
	free(l->source);
	mbh_scram_cache_free(l->cache);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* See scram_once.h. */
unsigned
mbh_scram_login_derivations(mbh_scram_login *l)
{
	return l != NULL ? mbh_scram_cache_derivations(l->cache) : 0;
}

/* See scram_once.h. */
bool
mbh_scram_login_holds(mbh_scram_login *l, const mongoc_uri_t *uri)
{
	mbh_scram_login *other;
	bool same;

	if (l == NULL || (other = mbh_scram_login_new(uri)) == NULL)
		return false;
	same = strcmp(l->user, other->user) == 0 && strcmp(l->password, other->password) == 0 &&
	       strcmp(l->source, other->source) == 0 && other->mech == l->mech;
	mbh_scram_login_free(other);
	return same;
}

/* See scram_once.h. */
bool
mbh_scram_login_failed(mbh_scram_login *l, mbh_error *err)
{
	bool failed;

	if (l == NULL)
		return false;
	pthread_mutex_lock(&l->mu);
	if ((failed = l->failed) && err != NULL)
		*err = l->failure;
	pthread_mutex_unlock(&l->mu);
	return failed;
}

/*
 * Authenticate a fresh connection.  With no mechanism in the URI: the one
 * that worked last (SCRAM-SHA-256 first), and the other one when the server
 * refuses it (a user without SHA-256 credentials, or a cluster's shard whose
 * user document differs; libmongoc asks the handshake's saslSupportedMechs
 * instead, but a hello of ours before libmongoc's would make the server
 * refuse the client metadata of libmongoc's).  So a wrong password is
 * refused twice.  A wrong server signature is never retried.
 */
static int
authenticate(mbh_scram_login *l, mongoc_stream_t *s, int32_t timeout_ms, mbh_error *err)
{
	mbh_scram_mech first;
	int last;

	if (l->mech >= 0)
		return mbh_scram_auth_stream(s, timeout_ms, l->cache, (mbh_scram_mech)l->mech, l->source, l->user,
					     l->password, err);
	pthread_mutex_lock(&l->mu);
	last = l->last;
	pthread_mutex_unlock(&l->mu);
	first = last >= 0 ? (mbh_scram_mech)last : MBH_SCRAM_SHA256;
	if (mbh_scram_auth_stream(s, timeout_ms, l->cache, first, l->source, l->user, l->password, err) != 0) {
		if (strcmp(err->msg, MBH_SCRAM_REFUSED) != 0)
			return -1;
		first = first == MBH_SCRAM_SHA256 ? MBH_SCRAM_SHA1 : MBH_SCRAM_SHA256;
		if (mbh_scram_auth_stream(s, timeout_ms, l->cache, first, l->source, l->user, l->password, err) != 0)
			return -1;
	}
	pthread_mutex_lock(&l->mu);
	l->last = (int)first;
	pthread_mutex_unlock(&l->mu);
	return 0;
}

/* Authenticate base, a connection of lc's client; a refusal is kept in the login. */
static int
login_stream(login_client *lc, mongoc_stream_t *base, int32_t timeout_ms)
{
	mbh_error err = { 0 };

	if (authenticate(lc->login, base, timeout_ms, &err) == 0)
		return 0;
	if (err.code == EX_UNAVAILABLE) { /* the connection broke mid-conversation: a network error, as libmongoc's */
		errno = ECONNRESET;
		return -1;
	}
	pthread_mutex_lock(&lc->login->mu);
	lc->login->failed = true;
	lc->login->failure = err;
	pthread_mutex_unlock(&lc->login->mu);
	errno = EACCES;
	return -1;
}

static mongoc_stream_t *
login_initiator(const mongoc_uri_t *uri, const mongoc_host_list_t *host, void *data, bson_error_t *error)
{
	login_client *lc = data;
	mongoc_stream_t *base = base_connect(uri, host, lc->client, error);

	if (base == NULL)
		return NULL;
	return wrap(base, lc, mongoc_uri_get_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 10000));
}

/* See scram_once.h. */
mongoc_client_t *
mbh_scram_client_new(const mongoc_uri_t *uri, mbh_scram_login *login, bson_error_t *e)
{
	mongoc_uri_t *bare = NULL;
	mongoc_client_t *client;
	login_client *lc;
	mbh_error err = { 0 };
	int rc = login != NULL ? mbh_uri_without_credentials(&bare, uri, &err) : 1;

	if (rc < 0) {
		bson_set_error(e, MONGOC_ERROR_COMMAND, MONGOC_ERROR_COMMAND_INVALID_ARG, "%s", err.msg);
		return NULL;
	}
	if (rc > 0) { /* libmongoc authenticates */
		if ((client = mongoc_client_new_from_uri_with_error(uri, e)) == NULL)
			return NULL;
		mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
		mbh_scram_once(client);
		return client;
	}
	client = mongoc_client_new_from_uri_with_error(bare, e);
	mongoc_uri_destroy(bare);
	if (client == NULL)
		return NULL;
	if ((lc = calloc(1, sizeof(*lc))) == NULL) {
		mongoc_client_destroy(client);
		bson_set_error(e, MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_NOT_READY, "out of memory");
		return NULL;
	}
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
	lc->client = client;
	lc->login = login;
	pthread_mutex_lock(&login->mu);
	lc->next = login->clients;
	login->clients = lc;
	pthread_mutex_unlock(&login->mu);
	mongoc_client_set_stream_initiator(client, login_initiator, lc);
	return client;
}

#endif
