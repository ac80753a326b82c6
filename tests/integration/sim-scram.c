/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* sim-scram.c: lib/scram's conversation on a real libmongoc stream to mongo-rs-sim: both mechanisms, the key cache, refusals. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../lib/mongoerr.h"
#include "../../lib/scram_client.h"
#include "../../lib/scram_once.h"
#include "../../lib/uri.h"
#include "sim-harness.h"

/* A point about our own SCRAM under the product's clients: skipped where libmongoc authenticates (mbh_scram_own). */
#define OWN_WHY "libmongoc authenticates in this build (libmongoc 1.25 or later, or no stream initiator to sit under)"
#define own_ok(cond, ...) (mbh_scram_own() ? tap_ok((cond), __VA_ARGS__) : (tap_skip(OWN_WHY), true))
#define own_is_int(got, want, ...) (mbh_scram_own() ? tap_is_int((got), (want), __VA_ARGS__) : (tap_skip(OWN_WHY), true))

#define PLAN 26

static const char *topology =
	"set_name = \"rs0\";\n"
	"max_wire_version = 21;\n"
	"auth = true;\n"
	"members = ( { port = 0; state = \"PRIMARY\"; }, { port = 0; } );\n"
	"users = (\n"
	"  { name = \"backup\"; password = \"s3cret-pw\"; db = \"admin\";\n"
	"    mechanisms = [ \"SCRAM-SHA-256\", \"SCRAM-SHA-1\" ]; roles = [ \"clusterMonitor\" ]; },\n"
	"  { name = \"old\"; password = \"0ld-pw\"; db = \"admin\";\n"
	"    mechanisms = [ \"SCRAM-SHA-1\" ]; roles = [ \"clusterMonitor\" ]; }\n"
	");\n";

/* replSetGetStatus (clusterMonitor) through client: true when it ran; else e. */
static bool
status_cmd(mongoc_client_t *client, bson_error_t *e)
{
	bson_t cmd = BSON_INITIALIZER, reply;
	bool ok;

	BSON_APPEND_INT32(&cmd, "replSetGetStatus", 1);
	ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, &reply, e);
	bson_destroy(&reply);
	bson_destroy(&cmd);
	return ok;
}

/*
 * The product's clients (scram_once.h): libmongoc holds no password, our
 * SCRAM authenticates each connection before its first command, a
 * connection libmongoc re-opens too; refusals keep today's words.
 */
static void
test_product_client(sim *s)
{
	char *uri_str = sim_direct_uri(s, 1, "backup:s3cret-pw", "serverSelectionTimeoutMS=3000");
	mongoc_uri_t *uri = mongoc_uri_new(uri_str);
	mbh_scram_login *login = mbh_scram_login_new(uri);
	mongoc_client_t *c;
	bson_error_t e;
	mbh_error err = { 0 };
	bool ok;

	own_ok(login != NULL, "a SCRAM URI with a plain password gets our login");
	c = mbh_scram_client_new(uri, login, &e);
	own_ok(c != NULL && mongoc_uri_get_password(mongoc_client_get_uri(c)) == NULL &&
	       mongoc_uri_get_username(mongoc_client_get_uri(c)) == NULL,
	       "the client libmongoc holds has no user nor password");
	{ /* the control: the same command without our login is refused */
		mongoc_uri_t *bare = NULL;
		mongoc_client_t *plain;

		mbh_uri_without_credentials(&bare, uri, &err);
		plain = mongoc_client_new_from_uri(bare);
		ok = status_cmd(plain, &e);
		tap_ok(!ok && e.code == 13, "without our SCRAM, replSetGetStatus is refused (13 Unauthorized)");
		mongoc_client_destroy(plain);
		mongoc_uri_destroy(bare);
	}
	ok = status_cmd(c, &e);
	if (!tap_ok(ok, "replSetGetStatus (clusterMonitor) runs: the connection is authenticated"))
		tap_diag("%s", e.message);
	sim_ctl(s, NULL, "kill 1");
	ok = status_cmd(c, &e);
	tap_ok(!ok, "member killed: the command fails (%s)", e.message);
	tap_ok(!mbh_scram_login_failed(login, NULL), "a network failure is not an authentication failure");
	sim_ctl(s, NULL, "revive 1");
	ok = status_cmd(c, &e);
	if (!tap_ok(ok, "member revived: libmongoc's new connection is authenticated again (no 13 Unauthorized)"))
		tap_diag("%d/%d %s", e.domain, e.code, e.message);
	sim_ctl(s, NULL, "arm 1 replSetGetStatus kill");
	ok = status_cmd(c, &e);
	tap_ok(!ok, "member killed mid-command: no reply (%s)", e.message);
	sim_ctl(s, NULL, "revive 1");
	ok = status_cmd(c, &e);
	if (!tap_ok(ok, "revived: the next command re-authenticates and runs"))
		tap_diag("%d/%d %s", e.domain, e.code, e.message);
	own_is_int(mbh_scram_login_derivations(login), 1, "one key derivation for three connections");
	mongoc_client_destroy(c);
	mbh_scram_login_free(login);
	mongoc_uri_destroy(uri);
	free(uri_str);

	uri_str = sim_direct_uri(s, 1, "backup:wrong-pw", "serverSelectionTimeoutMS=3000");
	uri = mongoc_uri_new(uri_str);
	login = mbh_scram_login_new(uri);
	c = mbh_scram_client_new(uri, login, &e);
	ok = status_cmd(c, &e);
	mbh_mongo_error_as(&err, &e, uri, login, "replSetGetStatus", NULL);
	own_ok(!ok && mbh_scram_login_failed(login, NULL), "wrong password: refused, kept in the login");
	tap_ok(err.code == EX_NOPERM && strstr(err.msg, "authentication failed for user backup") != NULL &&
	       strstr(err.msg, "wrong-pw") == NULL, "and reported as today: %s", err.msg);
	mongoc_client_destroy(c);
	mbh_scram_login_free(login);
	mongoc_uri_destroy(uri);
	free(uri_str);
}

/* A user with SCRAM-SHA-1 credentials only: named by the URI, or found by the login (SCRAM-SHA-256 refused). */
static void
test_sha1_user(sim *s)
{
	static const char *const opts[] = { "authMechanism=SCRAM-SHA-1", "serverSelectionTimeoutMS=3000" };
	bson_error_t e;
	size_t i;

	for (i = 0; i < 2; i++) {
		char *uri_str = sim_direct_uri(s, 0, "old:0ld-pw", opts[i]);
		mongoc_uri_t *uri = mongoc_uri_new(uri_str);
		mbh_scram_login *login = mbh_scram_login_new(uri);
		mongoc_client_t *c = mbh_scram_client_new(uri, login, &e);
		bool ok = status_cmd(c, &e) && status_cmd(c, &e);

		if (!tap_ok(ok && (!mbh_scram_own() || (login != NULL && !mbh_scram_login_failed(login, NULL))),
			    "SCRAM-SHA-1-only user, %s: authenticated by %s", i == 0 ? "authMechanism=SCRAM-SHA-1" :
			    "no authMechanism (SCRAM-SHA-256 refused, then SCRAM-SHA-1)",
			    mbh_scram_own() ? "our SCRAM" : "libmongoc (this build)"))
			tap_diag("%s", e.message);
		mongoc_client_destroy(c);
		mbh_scram_login_free(login);
		mongoc_uri_destroy(uri);
		free(uri_str);
	}
}

/* A plain TCP stream to member id of s (libmongoc's socket stream); NULL on failure. */
static mongoc_stream_t *
connect_member(sim *s, int id)
{
	char *hp = sim_host(s, id), *colon = strrchr(hp, ':');
	struct sockaddr_in sa = { .sin_family = AF_INET };
	mongoc_socket_t *sock;

	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	sa.sin_addr.s_addr = htonl(0x7f000001);
	free(hp);
	if ((sock = mongoc_socket_new(AF_INET, SOCK_STREAM, 0)) == NULL)
		return NULL;
	if (mongoc_socket_connect(sock, (struct sockaddr *)&sa, sizeof(sa), 2000) != 0) {
		mongoc_socket_destroy(sock);
		return NULL;
	}
	return mongoc_stream_socket_new(sock);
}

/* {connectionStatus: 1} on admin over stream: the first authenticated user's name into user (or ""). */
static bool
authenticated_user(mongoc_stream_t *stream, char *user, size_t len)
{
	bson_t cmd = BSON_INITIALIZER, reply;
	uint8_t head[21], buf[4096];
	uint32_t rlen;
	bson_iter_t it;
	bool ok = false;

	user[0] = '\0';
	BSON_APPEND_INT32(&cmd, "connectionStatus", 1);
	BSON_APPEND_UTF8(&cmd, "$db", "admin");
	memset(head, 0, sizeof(head));
	rlen = (uint32_t)(sizeof(head) + cmd.len);
	memcpy(head, &rlen, 4); /* little-endian host (x86, arm) */
	head[4] = 9;
	head[12] = 2013 & 0xff;
	head[13] = 2013 >> 8;
	mongoc_iovec_t iov[2] = { { .iov_base = head, .iov_len = sizeof(head) },
				  { .iov_base = (void *)bson_get_data(&cmd), .iov_len = cmd.len } };
	if (mongoc_stream_writev(stream, iov, 2, 2000) == (ssize_t)rlen &&
	    mongoc_stream_read(stream, buf, 16, 16, 2000) == 16 && (memcpy(&rlen, buf, 4), rlen < sizeof(buf)) &&
	    mongoc_stream_read(stream, buf + 16, rlen - 16, rlen - 16, 2000) == (ssize_t)(rlen - 16) &&
	    bson_init_static(&reply, buf + 21, rlen - 21)) {
		ok = true;
		if (bson_iter_init(&it, &reply) &&
		    bson_iter_find_descendant(&it, "authInfo.authenticatedUsers.0.user", &it) && BSON_ITER_HOLDS_UTF8(&it))
			snprintf(user, len, "%s", bson_iter_utf8(&it, NULL));
	}
	bson_destroy(&cmd);
	return ok;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int
main(void)
{
	mbh_scram_cache *cache = mbh_scram_cache_new();
	mongoc_stream_t *st;
	mbh_error err = { 0 };
	char who[64];
	double t0, t1;
	sim *s;
	int rc;

	mongoc_init();
	tap_plan(PLAN);
	if ((s = sim_start(topology, NULL)) == NULL) {
		printf("Bail out! the simulator did not start\n");
		return 1;
	}
	st = connect_member(s, 0);
	t0 = now_ms();
	rc = mbh_scram_auth_stream(st, 5000, cache, MBH_SCRAM_SHA256, "admin", "backup", "s3cret-pw", &err);
	t1 = now_ms();
	if (!tap_ok(rc == 0, "SCRAM-SHA-256 with the right password: authenticated, server signature verified"))
		tap_diag("%s", err.msg);
	tap_diag("first SCRAM-SHA-256 authentication (one derivation): %.1f ms", t1 - t0);
	tap_ok(authenticated_user(st, who, sizeof(who)) && strcmp(who, "backup") == 0,
	       "the server counts the connection as user backup's (connectionStatus: %s)", who);
	mongoc_stream_destroy(st);

	st = connect_member(s, 1);
	t0 = now_ms();
	rc = mbh_scram_auth_stream(st, 5000, cache, MBH_SCRAM_SHA256, "admin", "backup", "s3cret-pw", &err);
	t1 = now_ms();
	tap_ok(rc == 0, "the other member: authenticated");
	tap_diag("second member's authentication (keys from the cache): %.1f ms", t1 - t0);
	tap_is_int(mbh_scram_cache_derivations(cache), 1, "one derivation for two members (the cache)");
	tap_ok(authenticated_user(st, who, sizeof(who)) && strcmp(who, "backup") == 0, "and it is user backup's");
	mongoc_stream_destroy(st);

	st = connect_member(s, 0);
	rc = mbh_scram_auth_stream(st, 5000, cache, MBH_SCRAM_SHA1, "admin", "backup", "s3cret-pw", &err);
	if (!tap_ok(rc == 0, "SCRAM-SHA-1 (MongoDB's hashed password): authenticated"))
		tap_diag("%s", err.msg);
	tap_is_int(mbh_scram_cache_derivations(cache), 2, "SCRAM-SHA-1 has its own keys: a second derivation");
	mongoc_stream_destroy(st);

	/* a cache holds one password's keys (see scram_client.h): a wrong password needs its own */
	mbh_scram_cache_free(cache);
	cache = mbh_scram_cache_new();
	st = connect_member(s, 0);
	rc = mbh_scram_auth_stream(st, 5000, cache, MBH_SCRAM_SHA256, "admin", "backup", "wrong-pw", &err);
	tap_ok(rc != 0 && err.code == EX_NOPERM, "a wrong password is refused with EX_NOPERM (%s)", err.msg);
	tap_ok(authenticated_user(st, who, sizeof(who)) && who[0] == '\0', "and the connection stays unauthenticated");
	mongoc_stream_destroy(st);

	st = connect_member(s, 0);
	rc = mbh_scram_auth_stream(st, 5000, cache, MBH_SCRAM_SHA256, "admin", "nobody", "s3cret-pw", &err);
	tap_ok(rc != 0 && err.code == EX_NOPERM, "an unknown user is refused with EX_NOPERM (%s)", err.msg);
	mongoc_stream_destroy(st);

	{ /* libmongoc's own SCRAM-SHA-256 on the same member, for the figure */
		char *uri = sim_direct_uri(s, 0, "backup:s3cret-pw", "authMechanism=SCRAM-SHA-256");
		mongoc_client_t *c = mongoc_client_new(uri);
		bson_t ping = BSON_INITIALIZER, reply;
		bson_error_t e;

		BSON_APPEND_INT32(&ping, "ping", 1);
		t0 = now_ms();
		rc = mongoc_client_command_simple(c, "admin", &ping, NULL, &reply, &e) ? 0 : -1;
		t1 = now_ms();
		tap_ok(rc == 0, "libmongoc's own authentication works on the same member (%s)", rc == 0 ? "ok" : e.message);
		tap_diag("libmongoc 1.x connect + SCRAM-SHA-256 + ping (its own derivation): %.1f ms", t1 - t0);
		bson_destroy(&reply);
		bson_destroy(&ping);
		mongoc_client_destroy(c);
		free(uri);
	}

	test_product_client(s);
	test_sha1_user(s);

	sim_ctl(s, NULL, "kill 0");
	st = connect_member(s, 0);
	rc = st == NULL ? -1 : mbh_scram_auth_stream(st, 2000, cache, MBH_SCRAM_SHA256, "admin", "backup", "s3cret-pw", &err);
	tap_ok(rc != 0, "a killed member: no authentication (%s)", st == NULL ? "connect refused" : err.msg);
	if (st != NULL)
		mongoc_stream_destroy(st);

	mbh_scram_cache_free(cache);
	sim_stop(s);
	mongoc_cleanup();
	return tap_exit_status();
}
