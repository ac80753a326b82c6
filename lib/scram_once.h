/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* scram_once.h: one SCRAM key derivation per client, however many members it authenticates to. */
#ifndef MBH_SCRAM_ONCE_H
#define MBH_SCRAM_ONCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

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
 * Pure, for the above and its test: msg[0..len) is one wire message; when
 * it is a hello (OP_QUERY or OP_MSG, hello or isMaster) that carries
 * speculativeAuthenticate, *out is the same message without that field
 * (bson_malloc'ed, *out_len bytes, the header's length fixed) and the result
 * is true; any other message: false, *out NULL.
 */
bool mbh_hello_strip_speculative(const uint8_t *msg, size_t len, uint8_t **out, size_t *out_len);

#endif
