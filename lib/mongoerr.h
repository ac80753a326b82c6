/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* mongoerr.h: turn a libmongoc command failure into a one-line mbh_error with a sysexits code. */
#ifndef MBH_MONGOERR_H
#define MBH_MONGOERR_H

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include "error.h"
#include "log.h"
#include "scram_once.h"

/*
 * Fill err from the driver error e of command `command` sent through client
 * to `target` (a host:port, or NULL for the client's redacted URI) and
 * return -1.  The client should use error API 2.  Mapping:
 *   authentication failure              EX_NOPERM  "authentication failed for user X: check username/password_file"
 *                                                  (MONGODB-X509: "X.509 authentication failed: check the client certificate ...")
 *   server code 13 (Unauthorized)       EX_NOPERM  naming the missing privilege and a built-in role granting it
 *   server selection / network          MBH_ERR_UNREACHABLE (EX_UNAVAILABLE) "cannot reach TARGET: ...",
 *                                                  the driver's words its detail (mbh_error_detail)
 *   any other server error              EX_UNAVAILABLE "COMMAND on TARGET failed: ... (code N)"
 */
int mbh_mongo_error(mbh_error *err, const bson_error_t *e, mongoc_client_t *client, const char *command,
		    const char *target);

/*
 * The same for a client made with login (scram_once.h; NULL: none): uri is
 * the connection string with its credentials (the client's has none), and a
 * refusal of our own SCRAM comes first: EX_NOPERM as above, or (a wrong
 * server signature) the reason it kept.
 */
int mbh_mongo_error_as(mbh_error *err, const bson_error_t *e, const mongoc_uri_t *uri, mbh_scram_login *login,
		       const char *command, const char *target);

/*
 * Fill err from the error of mongoc_client_new_from_uri_with_error (or a pool's)
 * and return -1.  A connection string the driver cannot use is EX_USAGE
 * "cannot use the connection string: ..."; a DNS failure (the SRV or TXT
 * record of a mongodb+srv:// string cannot be resolved) is temporary,
 * EX_TEMPFAIL "cannot resolve the connection string's DNS records (check DNS,
 * then try again): ...".  The driver's text is quoted with its control characters
 * escaped.
 */
int mbh_mongo_client_error(mbh_error *err, const bson_error_t *e);

/* True if e is a server's reply (the command reached the server and was refused), not a transport failure. */
bool mbh_mongo_error_is_server(const bson_error_t *e);

/*
 * A libmongoc log handler for mongoc_log_set_handler(mbh_log_driver, logger):
 * driver warnings and errors at warning level, the rest at debug.  The
 * handler is process-wide, so only a program installs it (never the plugin).
 */
void mbh_log_driver(mongoc_log_level_t level, const char *domain, const char *message, void *logger);

#endif
