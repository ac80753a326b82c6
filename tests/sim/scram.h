/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* scram.h: the server side of SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802/7677, MongoDB variant). */
#ifndef SIM_SCRAM_H
#define SIM_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sim_scram_mech { SIM_SCRAM_SHA1 = 1, SIM_SCRAM_SHA256 = 2 } sim_scram_mech;

/* Parse "SCRAM-SHA-1" / "SCRAM-SHA-256"; returns 0 or -1. */
int sim_scram_mech_parse(const char *name, sim_scram_mech *out);
const char *sim_scram_mech_name(sim_scram_mech mech);

/* What a server stores for one user and mechanism (never the password). */
typedef struct sim_scram_creds {
	sim_scram_mech mech;
	uint8_t salt[28];         /* 16 bytes for SHA-1, 28 for SHA-256 (libmongoc checks) */
	size_t salt_len;
	int iterations;           /* >= 4096 */
	uint8_t stored_key[32];
	uint8_t server_key[32];
	size_t key_len;           /* 20 or 32 */
} sim_scram_creds;

/*
 * Derive credentials.  SHA-1 hashes HEX(MD5(user ":mongo:" password)) as
 * MongoDB does; SHA-256 uses the password as is (ASCII only; SASLprep of
 * non-ASCII is not done and is documented).  salt NULL = random of the
 * right length.  Returns 0 or -1.
 */
int sim_scram_derive(sim_scram_creds *out, sim_scram_mech mech, const char *user, const char *password,
                     const uint8_t *salt, size_t salt_len, int iterations);

/* One conversation (one per connection). */
typedef struct sim_scram_conv sim_scram_conv;

/* Looks up the creds of a user for mech; returns NULL for an unknown user. */
typedef const sim_scram_creds *(*sim_scram_lookup)(void *ctx, const char *user, sim_scram_mech mech);

/*
 * First step: client-first ("n,,n=user,r=nonce").  On success *out holds the
 * conversation, *server_first (malloc'd, caller frees) the reply
 * "r=...,s=...,i=...".  server_nonce NULL = random (tests pass a fixed one).
 * An unknown user still gets a plausible server-first with a fake salt and
 * fails at the proof, like a real server.  Returns 0 or -1 (malformed
 * message; errbuf says why).
 */
int sim_scram_start(sim_scram_conv **out, sim_scram_mech mech, const char *client_first, size_t len,
                    sim_scram_lookup lookup, void *ctx, const char *server_nonce,
                    char **server_first, char *errbuf, size_t errlen);

/*
 * Second step: client-final ("c=biws,r=...,p=...").  Returns 1 and
 * *server_final = "v=..." (malloc'd) when the proof is right, 0 when it is
 * wrong (authentication failed), -1 when malformed.
 */
int sim_scram_finish(sim_scram_conv *c, const char *client_final, size_t len,
                     char **server_final, char *errbuf, size_t errlen);

/* The authenticated user name after a successful finish (borrowed), else NULL. */
const char *sim_scram_user(const sim_scram_conv *c);

void sim_scram_conv_free(sim_scram_conv *c);

#endif
