/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* lock.h: fsync lock / check / unlock on one member (direct connection, or a discovery client's server). */
#ifndef MBH_LOCK_H
#define MBH_LOCK_H

#include <stdbool.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include "error.h"
#include "scram_once.h"

/*
 * One session with one member: a libmongoc client on a directConnection=true
 * URI (error API 2).  Keep it open from the lock to the unlock so nothing
 * reconnects or authenticates while the lock is held.  Not thread-safe; one
 * session per flow.  Errors name the member and map to sysexits codes as in
 * mongoerr.h (unreachable: EX_UNAVAILABLE, auth: EX_NOPERM).
 */
typedef struct mbh_lock_session mbh_lock_session;

/* What hello says about the member. */
typedef struct mbh_hello {
	bool writable_primary;
	bool secondary;
	char set_name[128];
} mbh_hello;

/*
 * Open a session to host_port with base's credentials and TLS options (no
 * network I/O yet: the first command connects).  login (NULL: none): the
 * run's SCRAM login (scram_once.h), borrowed: its connection is
 * authenticated with the run's keys.  Caller owns *out.
 */
int mbh_lock_session_new(mbh_lock_session **out, const mongoc_uri_t *base, const char *host_port, mbh_scram_login *login,
			 mbh_error *err);

/*
 * A session on server_id of a client that already discovered the set (a
 * replica-set client whose topology shows host_port as a secondary): no new
 * connection and no second authentication (libmongoc's SCRAM cache is per
 * client).  Commands go to that server only, with a primaryPreferred read
 * preference so $readPreference is sent as on a direct connection.  client
 * is borrowed: it must outlive the session, which never destroys it.  A
 * server the topology has since dropped fails the command (a transport
 * error: the outcome of an fsync lock is then unknown).  uri: the
 * connection string with its credentials, for messages (NULL: the
 * client's); login: the one the client was made with, or NULL.  Caller
 * owns *out.
 */
int mbh_lock_session_new_shared(mbh_lock_session **out, mongoc_client_t *client, uint32_t server_id,
				const char *host_port, const mongoc_uri_t *uri, mbh_scram_login *login,
				mbh_error *err);

/* The member this session talks to ("host:port").  Borrowed. */
const char *mbh_lock_session_host(const mbh_lock_session *s);

/* hello (isMaster on servers without hello). */
int mbh_lock_hello(mbh_lock_session *s, mbh_hello *out, mbh_error *err);

/* currentOp: *locked = the member reports fsyncLock: true (someone holds an fsync lock). */
int mbh_lock_is_fsync_locked(mbh_lock_session *s, bool *locked, mbh_error *err);

/* replSetFreeze seconds (0 unfreezes): the member will not seek election meanwhile. */
int mbh_lock_freeze(mbh_lock_session *s, int seconds, mbh_error *err);

/*
 * fsync {lock: true}; *lock_count = the count the server returned (0 when an
 * old server does not report it).  On failure *definite tells whether the
 * server refused (true: certainly not locked by us) or the outcome is unknown
 * (false: a network error after sending; the lock may be held).
 */
int mbh_lock_fsync_lock(mbh_lock_session *s, int64_t *lock_count, bool *definite, mbh_error *err);

/*
 * fsyncUnlock; *lock_count = the count left.  A member that was not locked
 * (code 20 or 125, or errmsg containing "not locked") is not an error:
 * *was_locked = false and *lock_count = 0.
 */
int mbh_lock_fsync_unlock(mbh_lock_session *s, int64_t *lock_count, bool *was_locked, mbh_error *err);

/* Close the connection and free.  NULL is fine. */
void mbh_lock_session_free(mbh_lock_session *s);

/* Pure: does this fsyncUnlock failure (code, errmsg) mean "was not locked"? */
bool mbh_lock_is_not_locked_error(uint32_t code, const char *errmsg);

#endif
