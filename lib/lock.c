/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* lock.c: fsync lock / check / unlock on one member (direct connection, or a discovery client's server). */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "lock.h"
#include "mongoerr.h"
#include "uri.h"

struct mbh_lock_session {
	mongoc_client_t *client;
	char *host;
	uint32_t server_id;          /* 0: a direct client of our own; else a server of a borrowed client */
	mongoc_read_prefs_t *prefs;  /* primaryPreferred, for the borrowed client's secondary */
	bool borrowed;               /* client is not ours to destroy */
	mongoc_uri_t *uri;           /* the member's connection string with its credentials, for messages */
	mbh_scram_login *login; /* our SCRAM under the client (scram_once.h), or NULL: libmongoc's */
};

/* A failed command's error: see mbh_mongo_error_as. */
static int
fail(mbh_lock_session *s, const bson_error_t *e, const char *command, mbh_error *err)
{
	return mbh_mongo_error_as(err, e, s->uri, s->login, command, s->host);
}

/* Open a session (no I/O yet). */
int
mbh_lock_session_new(mbh_lock_session **out, const mongoc_uri_t *base, const char *host_port, mbh_scram_login *login,
		     mbh_error *err)
{
	mbh_lock_session *s = NULL;
	mongoc_uri_t *uri = NULL;
	bson_error_t e;
	int rc = -1;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->host = strdup(host_port)) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	if (mbh_uri_for_member(&uri, base, host_port, err) != 0)
		goto out;
	if ((s->client = mbh_scram_client_new(uri, login, &e)) == NULL) {
		mbh_error_set(err, EX_USAGE, "cannot use the connection string for %s: %s", host_port, e.message);
		goto out;
	}
	s->login = login;
	s->uri = uri;
	uri = NULL;
	*out = s;
	s = NULL;
	rc = 0;
out:
	mongoc_uri_destroy(uri);
	mbh_lock_session_free(s);
	return rc;
}

/* A session on a server that a borrowed client already knows (see lock.h). */
int
mbh_lock_session_new_shared(mbh_lock_session **out, mongoc_client_t *client, uint32_t server_id,
			    const char *host_port, const mongoc_uri_t *uri, mbh_scram_login *login, mbh_error *err)
{
	mbh_lock_session *s = NULL;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->host = strdup(host_port)) == NULL ||
	    (s->prefs = mongoc_read_prefs_new(MONGOC_READ_PRIMARY_PREFERRED)) == NULL ||
	    (s->uri = mongoc_uri_copy(uri != NULL ? uri : mongoc_client_get_uri(client))) == NULL) {
		mbh_lock_session_free(s);
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	s->client = client;
	s->login = login;
	s->borrowed = true;
	s->server_id = server_id;
	*out = s;
	return 0;
}

/* The member's host:port. */
const char *
mbh_lock_session_host(const mbh_lock_session *s)
{
	return s->host;
}

/* Run {command: value, extra...} on admin; reply always initialised. */
static bool
run(mbh_lock_session *s, const bson_t *cmd, bson_t *reply, bson_error_t *e)
{
	/*
	 * primaryPreferred on the borrowed client's secondary: the driver then
	 * sends $readPreference, as it does on a direct connection.
	 */
	if (s->server_id != 0)
		return mongoc_client_command_simple_with_server_id(s->client, "admin", cmd, s->prefs, s->server_id,
								   reply, e);
	return mongoc_client_command_simple(s->client, "admin", cmd, NULL, reply, e);
}

static bool
reply_bool(const bson_t *reply, const char *key)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, reply, key) && bson_iter_as_bool(&it);
}

/* lockCount from an fsync/fsyncUnlock reply; 0 if absent. */
static int64_t
reply_lock_count(const bson_t *reply)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, reply, "lockCount") && BSON_ITER_HOLDS_NUMBER(&it))
		return bson_iter_as_int64(&it);
	return 0;
}

/* hello, or isMaster on servers that predate it. */
int
mbh_lock_hello(mbh_lock_session *s, mbh_hello *out, mbh_error *err)
{
	bson_t *cmd = BCON_NEW("hello", BCON_INT32(1));
	bson_t reply;
	bson_error_t e;
	bson_iter_t it;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!run(s, cmd, &reply, &e)) {
		if (!(mbh_mongo_error_is_server(&e) && e.code == 59)) {
			fail(s, &e, "hello", err);
			goto out;
		}
		bson_destroy(&reply);
		bson_destroy(cmd);
		cmd = BCON_NEW("isMaster", BCON_INT32(1));
		if (!run(s, cmd, &reply, &e)) {
			fail(s, &e, "isMaster", err);
			goto out;
		}
	}
	out->writable_primary = reply_bool(&reply, "isWritablePrimary") || reply_bool(&reply, "ismaster");
	out->secondary = reply_bool(&reply, "secondary");
	if (bson_iter_init_find(&it, &reply, "setName") && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(out->set_name, sizeof(out->set_name), "%s", bson_iter_utf8(&it, NULL));
	rc = 0;
out:
	bson_destroy(&reply);
	bson_destroy(cmd);
	return rc;
}

/* currentOp's top-level fsyncLock flag. */
int
mbh_lock_is_fsync_locked(mbh_lock_session *s, bool *locked, mbh_error *err)
{
	bson_t *cmd = BCON_NEW("currentOp", BCON_INT32(1));
	bson_t reply;
	bson_error_t e;
	int rc = -1;

	*locked = false;
	if (!run(s, cmd, &reply, &e)) {
		fail(s, &e, "currentOp", err);
		goto out;
	}
	*locked = reply_bool(&reply, "fsyncLock");
	rc = 0;
out:
	bson_destroy(&reply);
	bson_destroy(cmd);
	return rc;
}

/* replSetFreeze. */
int
mbh_lock_freeze(mbh_lock_session *s, int seconds, mbh_error *err)
{
	bson_t *cmd = BCON_NEW("replSetFreeze", BCON_INT32(seconds));
	bson_t reply;
	bson_error_t e;
	int rc = 0;

	if (!run(s, cmd, &reply, &e))
		rc = fail(s, &e, "replSetFreeze", err);
	bson_destroy(&reply);
	bson_destroy(cmd);
	return rc;
}

/* fsync {lock: true}. */
int
mbh_lock_fsync_lock(mbh_lock_session *s, int64_t *lock_count, bool *definite, mbh_error *err)
{
	bson_t *cmd = BCON_NEW("fsync", BCON_INT32(1), "lock", BCON_BOOL(true));
	bson_t reply;
	bson_error_t e;
	int rc = -1;

	*lock_count = 0;
	*definite = true;
	if (!run(s, cmd, &reply, &e)) {
		*definite = mbh_mongo_error_is_server(&e);
		fail(s, &e, "fsync", err);
		goto out;
	}
	*lock_count = reply_lock_count(&reply);
	rc = 0;
out:
	bson_destroy(&reply);
	bson_destroy(cmd);
	return rc;
}

/* "fsyncUnlock called when not locked": 20 (7.0+), 125 (3.x), or only the text (4.4 era). */
bool
mbh_lock_is_not_locked_error(uint32_t code, const char *errmsg)
{
	return code == 20 || code == 125 || (errmsg != NULL && strstr(errmsg, "not locked") != NULL);
}

/* fsyncUnlock. */
int
mbh_lock_fsync_unlock(mbh_lock_session *s, int64_t *lock_count, bool *was_locked, mbh_error *err)
{
	bson_t *cmd = BCON_NEW("fsyncUnlock", BCON_INT32(1));
	bson_t reply;
	bson_error_t e;
	int rc = -1;

	*lock_count = 0;
	*was_locked = true;
	if (!run(s, cmd, &reply, &e)) {
		if (mbh_mongo_error_is_server(&e) && e.code != 13 && mbh_lock_is_not_locked_error(e.code, e.message)) {
			*was_locked = false;
			rc = 0;
			goto out;
		}
		fail(s, &e, "fsyncUnlock", err);
		goto out;
	}
	*lock_count = reply_lock_count(&reply);
	rc = 0;
out:
	bson_destroy(&reply);
	bson_destroy(cmd);
	return rc;
}

/* Close and free. */
void
mbh_lock_session_free(mbh_lock_session *s)
{
	if (s == NULL)
		return;
	if (s->client != NULL && !s->borrowed)
		mongoc_client_destroy(s->client);
	mongoc_read_prefs_destroy(s->prefs);
	mongoc_uri_destroy(s->uri);
	free(s->host);
	free(s);
}
