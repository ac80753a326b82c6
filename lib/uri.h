/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* uri.h: connection-string validation, credentials, per-member URIs and redaction. */
#ifndef MBH_URI_H
#define MBH_URI_H

#include <stdbool.h>
#include <stddef.h>

#include <mongoc/mongoc.h>

#include "error.h"
#include "hostport.h"

/*
 * Copy uri into out with any password in the userinfo replaced by "*****"
 * (user names stay) and control characters written \xNN (escape.h).  Works on
 * invalid strings too, so error messages can quote them.  Always
 * NUL-terminates; truncates to outlen at a whole character.
 */
void mbh_uri_redact(const char *uri, char *out, size_t outlen);

/* Same as mbh_uri_redact for uri[0..len), into a new string the caller frees (free()); NULL on no memory. */
char *mbh_uri_redact_dup(const char *uri, size_t len);

/* The connect timeout when neither the URI nor the settings give one (ms); config's default too. */
#define MBH_URI_CONNECT_TIMEOUT_MS 5000
/* The longest connect timeout a config or the watchdog's settings may give (ms). */
#define MBH_URI_CONNECT_TIMEOUT_MAX_MS 600000

/*
 * What a connection string is built from: a config's settings
 * (mbh_config_uri_settings), or what the watchdog was handed.  Borrowed.
 */
typedef struct mbh_uri_settings {
	const char *uri;           /* required */
	const char *username;      /* NULL: the URI's */
	const char *password;      /* NULL: the URI's */
	const char *password_file; /* where the password came from, for messages; NULL = none */
	int connect_timeout_ms;    /* > 0: set on the URI */
} mbh_uri_settings;

/*
 * Parse and validate in->uri (mongodb:// or mongodb+srv://), apply
 * in->username / in->password, connect_timeout_ms and a short
 * serverSelection/socket timeout, appname "mongo-backup-hooks".  No uri
 * fails with EX_CONFIG; a bad string (or one holding a control character)
 * with EX_USAGE and the redacted, escaped URI in the message.  Caller owns
 * *out.
 */
int mbh_uri_build(mongoc_uri_t **out, const mbh_uri_settings *in, mbh_error *err);

/*
 * A URI for one member "host:port": directConnection=true, no replicaSet,
 * same credentials, auth source/mechanism and TLS options as base.  Caller
 * owns *out.
 */
int mbh_uri_for_member(mongoc_uri_t **out, const mongoc_uri_t *base, const char *host_port, mbh_error *err);

/*
 * base with the same hosts, options (TLS, replicaSet, timeouts, appname...),
 * read and write concerns, but no user, password nor auth options: for a
 * client whose connections we authenticate ourselves (scram_once.h).  1 and
 * *out NULL when that cannot be done faithfully (mongodb+srv://, a Unix
 * socket): keep base.  -1 and err on failure.  Caller owns *out.
 */
int mbh_uri_without_credentials(mongoc_uri_t **out, const mongoc_uri_t *base, mbh_error *err);

/*
 * Pure: where the userinfo of uri is.  The userinfo runs from after "://" (or
 * the start when there is none) to the LAST '@' before the query; the user is
 * what comes before its first ':', the password what comes after.  Offsets
 * index uri; the bytes are still percent-encoded.  Works on invalid strings.
 */
typedef struct mbh_uri_userinfo {
	bool present;      /* an '@' was found */
	bool has_password; /* the userinfo has a ':' (an empty password counts) */
	size_t user_off, user_len;
	size_t pw_off, pw_len;
	size_t at_off;     /* the '@' */
} mbh_uri_userinfo;
void mbh_uri_find_userinfo(const char *uri, size_t len, mbh_uri_userinfo *out);

/* Percent-decode src[0..len) into a new string (invalid escapes are kept as they are).  NULL on no memory. */
char *mbh_uri_unescape(const char *src, size_t len);

/*
 * Pure: split a replica set's connection string as mongos gives it
 * ("SET/HOST:PORT,HOST:PORT", listShards' host, getShardMap's map) into SET
 * and the hosts ("HOST:PORT,..."), each host checked.  Anything else (a
 * shard that is a lone mongod: "HOST:PORT") fails with EX_PROTOCOL.
 */
int mbh_uri_parse_set_conn(const char *conn, char *set, size_t setlen, char *hosts, size_t hostslen, mbh_error *err);

/*
 * Pure: the connection string of one replica set behind a mongos, from the
 * mongos's (base): the same scheme-less userinfo, database and options, the
 * set's hosts in place of the routers, replicaSet=SET, and none of
 * replicaSet, directConnection, loadBalanced or the SRV options
 * (mongodb+srv:// becomes mongodb:// with tls=true unless tls/ssl is given).
 * It holds base's password if base does: treat it as base.  Caller frees *out.
 */
int mbh_uri_for_set(char **out, const char *base, const char *set, const char *hosts, mbh_error *err);

#endif
