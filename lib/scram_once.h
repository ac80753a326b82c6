/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* scram_once.h: one SCRAM key derivation per run, however many members and clients it authenticates to. */
#ifndef MBH_SCRAM_ONCE_H
#define MBH_SCRAM_ONCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include "error.h"

/*
 * libmongoc before 1.25 keeps the derived SCRAM secrets per client
 * (cluster->scram_cache) but a single-threaded client never uses them on
 * the speculative path: every member's connection finishes the
 * speculativeAuthenticate conversation its handshake began with a fresh key
 * derivation (15,000 PBKDF2 rounds, ~20 ms).  The explicit saslStart path
 * does use them, and the salt and iteration count are the same on every
 * member of a set (one user document).  So, before the client's first
 * connection, give it connections whose handshake carries no
 * speculativeAuthenticate: the first member authenticated derives the key,
 * every other one reuses it, at the cost of one more round trip each.
 * libmongoc 1.25 and later cache per process on every path: nothing to do.
 * Call it before the client connects; it keeps libmongoc's own streams (TCP,
 * TLS, the connect timeout) underneath.
 */
void mbh_scram_once(mongoc_client_t *client);

/*
 * A run's (or job's) SCRAM login: the user, password, auth source and
 * mechanism of its connection string and one key cache (scram_client.h),
 * shared by every client the run opens, so that the keys are derived once
 * (with OpenSSL's PBKDF2, several times faster than libmongoc 1.23's own).
 * NULL when authentication stays libmongoc's: no user, a mechanism other
 * than SCRAM (X.509...), a SCRAM-SHA-256 password that needs SASLprep (we
 * do not implement SASLprep; libmongoc does), or no memory.  It must
 * outlive the clients made with it; clients in several threads may share
 * it.  Free wipes the password and keys.
 */
typedef struct mbh_scram_login mbh_scram_login;

/*
 * Does this build authenticate with our own SCRAM?  Only under libmongoc
 * 1.23 and 1.24 with its default stream initiator exported; elsewhere every
 * login is NULL and libmongoc authenticates (1.25 and later cache derived
 * keys per process themselves).
 */
bool mbh_scram_own(void);
mbh_scram_login *mbh_scram_login_new(const mongoc_uri_t *uri);
void mbh_scram_login_free(mbh_scram_login *l);

/* How many times l derived SCRAM keys (0 for NULL): once per run is the point. */
unsigned mbh_scram_login_derivations(mbh_scram_login *l);

/* Does l (NULL: no) hold uri's credentials (user, password, auth source, mechanism)? */
bool mbh_scram_login_holds(mbh_scram_login *l, const mongoc_uri_t *uri);

/* true and err filled when a connection made with l failed to authenticate (NULL l: false). */
bool mbh_scram_login_failed(mbh_scram_login *l, mbh_error *err);

/*
 * A client for uri.  With login: libmongoc gets uri without its
 * credentials (mbh_uri_without_credentials) and every connection it opens
 * (TCP/TLS its own), a re-opened one too, is authenticated by login before
 * its first command (a connection that only carries hellos, monitoring,
 * is not, as with libmongoc's own authentication); the server's signature
 * is verified.  A refusal fails that command (a failed send to libmongoc)
 * and is kept in login (mbh_scram_login_failed, mbh_mongo_error_as); a
 * network failure mid-conversation is one to libmongoc too.  Mechanism:
 * the URI's authMechanism, else the one that worked last (SCRAM-SHA-256
 * first) and the other one when the server refuses it.  Without login (or
 * when the URI cannot be rebuilt, e.g. mongodb+srv://): libmongoc
 * authenticates, mbh_scram_once applied.  The client uses error API 2.
 * NULL and *e on failure.
 */
mongoc_client_t *mbh_scram_client_new(const mongoc_uri_t *uri, mbh_scram_login *login, bson_error_t *e);

/*
 * Pure, for the above and its test: msg[0..len) is one wire message; when
 * it is a hello (OP_QUERY or OP_MSG, hello or isMaster) that carries
 * speculativeAuthenticate, *out is the same message without that field
 * (bson_malloc'ed, *out_len bytes, the header's length fixed) and the result
 * is true; any other message: false, *out NULL.
 */
bool mbh_hello_strip_speculative(const uint8_t *msg, size_t len, uint8_t **out, size_t *out_len);

#endif
