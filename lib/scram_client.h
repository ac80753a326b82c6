/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* scram_client.h: the client side of a SCRAM-SHA-1 / SCRAM-SHA-256 conversation, its keys derived once per run. */
#ifndef MBH_SCRAM_CLIENT_H
#define MBH_SCRAM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include "error.h"

#define MBH_SCRAM_HASH_MAX 32   /* SHA-256's size; SHA-1's is 20 */
#define MBH_SCRAM_REFUSED "Authentication failed." /* err.msg when the server refused the credentials */
#define MBH_SCRAM_NONCE_LEN 24  /* random bytes in the client nonce, before base64 */

typedef enum { MBH_SCRAM_SHA1, MBH_SCRAM_SHA256 } mbh_scram_mech;

/*
 * Derived keys (ClientKey, ServerKey) of one run or job, keyed by
 * (mechanism, user, salt, iterations): the members of a set, and every
 * component of a cluster with the same user document, share one salt, so
 * the 10,000-15,000 PBKDF2 rounds are paid once.  The salted password is
 * never kept, nor the password: a cache holds ONE password's keys (the
 * run's), a lookup with another password under the same key gets them.
 * Thread-safe: a cluster's components share one from their own threads
 * (a thread wanting keys being derived waits for them).
 */
typedef struct mbh_scram_cache mbh_scram_cache;

/* A new, empty cache; NULL on no memory. */
mbh_scram_cache *mbh_scram_cache_new(void);

/* Wipe every key and free the cache; NULL is a no-op. */
void mbh_scram_cache_free(mbh_scram_cache *c);

/* How many derivations the cache has done (what it saved is the rest of the lookups). */
unsigned mbh_scram_cache_derivations(mbh_scram_cache *c);

/*
 * client_key and server_key (*hlen bytes each: 20 or 32) of password under
 * (mech, user, salt, iterations): from the cache when it holds them, else
 * PBKDF2 then HMAC, and stored.  password is the SCRAM password proper (for
 * SCRAM-SHA-1 MongoDB's hashed one: see mbh_scram_sha1_password).  -1 and
 * err on no memory or an OpenSSL failure.
 */
int mbh_scram_keys(mbh_scram_cache *c, mbh_scram_mech mech, const char *user, const char *password,
		   const uint8_t *salt, size_t salt_len, uint32_t iterations, uint8_t *client_key, uint8_t *server_key,
		   size_t *hlen, mbh_error *err);

/*
 * MongoDB's SCRAM-SHA-1 password: the lower-case hex MD5 of
 * "user:mongo:password" into out (33 bytes with its NUL).
 */
void mbh_scram_sha1_password(const char *user, const char *password, char out[33]);

/* True when password needs no SASLprep (every byte printable ASCII, 0x20-0x7e): SCRAM-SHA-256 can use it as is. */
bool mbh_scram_password_is_plain(const char *password);

/* One conversation's state, between its client-first and the server-final. */
typedef struct mbh_scram_conv {
	mbh_scram_mech mech;
	char *client_first;       /* "n,,n=user,r=nonce": the bare message is from its 4th byte */
	char *client_final;       /* "c=biws,r=...,p=proof", after mbh_scram_client_final */
	uint8_t server_sig[MBH_SCRAM_HASH_MAX]; /* the ServerSignature the server must send */
	size_t hlen;
} mbh_scram_conv;

/*
 * Begin a conversation for user with nonce (printable, no ','; the caller's
 * CSPRNG output in base64, or a test vector's): *client_first is
 * "n,,n=user,r=nonce" (user escaped as RFC 5802 says), owned by conv.
 * -1 and err on no memory.
 */
int mbh_scram_client_first(mbh_scram_conv *conv, mbh_scram_mech mech, const char *user, const char *nonce,
			   const char **client_first, mbh_error *err);

/*
 * Answer server_first[0..len) ("r=...,s=...,i=..."): checks that the server
 * nonce extends ours, gets the keys from cache (see mbh_scram_keys), and
 * sets conv->client_final and the expected ServerSignature.  -1 and err
 * (EX_PROTOCOL) on a malformed or hostile message (iterations below 4096).
 */
int mbh_scram_client_final(mbh_scram_conv *conv, mbh_scram_cache *cache, const char *user, const char *password,
			   const char *server_first, size_t len, mbh_error *err);

/*
 * Check server_final[0..len) ("v=signature"): 0 when the signature is the
 * one the password implies (the server knows the user's keys); -1 and err
 * (EX_NOPERM) when the server sent an error ("e=...") or another signature.
 */
int mbh_scram_verify_server(const mbh_scram_conv *conv, const char *server_final, size_t len, mbh_error *err);

/* Wipe and free what conv holds (it can be begun again). */
void mbh_scram_conv_clear(mbh_scram_conv *conv);

/*
 * Authenticate stream (a fresh connection, before or after its hello) as
 * user on source (the auth database) with mech: saslStart (with
 * skipEmptyExchange) and saslContinue as OP_MSG, each read bounded by
 * timeout_ms, the server's signature verified.  password: the URI's, as
 * given (SCRAM-SHA-1's hashing is done here); for SCRAM-SHA-256 it must be
 * plain (mbh_scram_password_is_plain: no SASLprep here, EX_SOFTWARE
 * otherwise; the caller leaves such a password to libmongoc, which does
 * it).  Needs OP_MSG (MongoDB 3.6 and later).  0 on success; -1 and err:
 * EX_NOPERM when the server refused the credentials (err.msg is then
 * MBH_SCRAM_REFUSED, libmongoc's words) or its signature is wrong, EX_UNAVAILABLE on I/O, EX_PROTOCOL on a malformed reply.
 */
int mbh_scram_auth_stream(mongoc_stream_t *stream, int32_t timeout_ms, mbh_scram_cache *cache, mbh_scram_mech mech,
			  const char *source, const char *user, const char *password, mbh_error *err);

#endif
