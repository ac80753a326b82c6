/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* mongoerr.c: map libmongoc errors to sysexits codes and messages that say what to do. */
#include "autoconfig.h"

#include <string.h>
#include <strings.h>

#include "escape.h"
#include "mongoerr.h"
#include "scram_client.h"
#include "uri.h"

/* The privilege (action) each command needs, and a built-in role that has it. */
static const struct {
	const char *command;
	const char *action;
	const char *role;
} privileges[] = {
	{ "replSetGetConfig", "replSetGetConfig", "clusterMonitor" },
	{ "replSetGetStatus", "replSetGetStatus", "clusterMonitor" },
	{ "currentOp", "inprog", "clusterMonitor" },
	{ "fsync", "fsync", "hostManager" },
	{ "fsyncUnlock", "unlock", "hostManager" },
	{ "replSetFreeze", "replSetStateChange", "clusterManager" },
};

/* A client the driver would not create; see mongoerr.h. */
int
mbh_mongo_client_error(mbh_error *err, const bson_error_t *e)
{
	char msg[sizeof(e->message) * 4];

	mbh_escape(e->message, msg, sizeof(msg));
	if (e->domain == MONGOC_ERROR_STREAM && e->code == MONGOC_ERROR_STREAM_NAME_RESOLUTION)
		return mbh_error_set(err, EX_TEMPFAIL, "cannot resolve the connection string's DNS records (check DNS, "
				     "then try again): %s", msg);
	return mbh_error_set(err, EX_USAGE, "cannot use the connection string: %s", msg);
}

/* Is e a server's reply? */
bool
mbh_mongo_error_is_server(const bson_error_t *e)
{
	return e->domain == MONGOC_ERROR_SERVER || e->domain == MONGOC_ERROR_QUERY ||
	       e->domain == MONGOC_ERROR_WRITE_CONCERN;
}

/* Map e to err; always returns -1. */
int
mbh_mongo_error(mbh_error *err, const bson_error_t *e, mongoc_client_t *client, const char *command,
		const char *target)
{
	return mbh_mongo_error_as(err, e, client != NULL ? mongoc_client_get_uri(client) : NULL, NULL, command, target);
}

/* See mongoerr.h. */
int
mbh_mongo_error_as(mbh_error *err, const bson_error_t *e, const mongoc_uri_t *uri, mbh_scram_login *login,
		   const char *command, const char *target)
{
	mbh_error refused;
	const char *user = uri != NULL ? mongoc_uri_get_username(uri) : NULL;
	char where[512], lead[sizeof(where) + 16];
	size_t i;

	if (target != NULL)
		snprintf(where, sizeof(where), "%s", target);
	else if (uri != NULL)
		mbh_uri_redact(mongoc_uri_get_string(uri), where, sizeof(where));
	else
		snprintf(where, sizeof(where), "the replica set");

	/* our own SCRAM refused (scram_once.h): libmongoc only saw an unreachable member */
	if (mbh_scram_login_failed(login, &refused)) {
		if (strcmp(refused.msg, MBH_SCRAM_REFUSED) == 0)
			return mbh_error_set(err, EX_NOPERM,
					     "authentication failed for user %s: check username/password_file",
					     user != NULL ? user : "(none)");
		return mbh_error_set(err, refused.code, "authentication to %s failed: %s", where, refused.msg);
	}
	if (e->domain == MONGOC_ERROR_CLIENT && e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE) {
		const char *mech = uri != NULL ? mongoc_uri_get_auth_mechanism(uri) : NULL;

		/* MONGODB-X509: no password; the user is the client certificate's subject. */
		if (mech != NULL && strcasecmp(mech, "MONGODB-X509") == 0)
			return mbh_error_set(err, EX_NOPERM,
					     "X.509 authentication failed: check the client certificate "
					     "(tlsCertificateKeyFile) and that a user in $external is named by its subject "
					     "(%s)", e->message);
		return mbh_error_set(err, EX_NOPERM, "authentication failed for user %s: check username/password_file",
				     user != NULL ? user : "(none)");
	}
	if (mbh_mongo_error_is_server(e) && e->code == 13) {
		for (i = 0; i < sizeof(privileges) / sizeof(privileges[0]); i++) {
			if (strcmp(privileges[i].command, command) == 0)
				return mbh_error_set(err, EX_NOPERM,
						     "user %s is not authorized to run %s on %s: grant it the "
						     "\"%s\" privilege on the cluster (built-in role %s)",
						     user != NULL ? user : "(none)", command, where, privileges[i].action,
						     privileges[i].role);
		}
		return mbh_error_set(err, EX_NOPERM, "user %s is not authorized to run %s on %s: %s",
				     user != NULL ? user : "(none)", command, where, e->message);
	}
	if (e->domain == MONGOC_ERROR_SERVER_SELECTION || e->domain == MONGOC_ERROR_STREAM ||
	    (e->domain == MONGOC_ERROR_CLIENT && e->code != MONGOC_ERROR_CLIENT_AUTHENTICATE)) {
		/* the driver's words apart: a caller that says "cannot reach" its own way quotes them alone */
		snprintf(lead, sizeof(lead), "cannot reach %s: ", where);
		return mbh_error_fail_detail(err, MBH_ERR_UNREACHABLE, lead, "%s", e->message);
	}
	if (mbh_mongo_error_is_server(e))
		return mbh_error_set(err, EX_UNAVAILABLE, "%s on %s failed: %s (code %u)", command, where, e->message,
				     e->code);
	return mbh_error_set(err, EX_UNAVAILABLE, "%s on %s failed: %s", command, where, e->message);
}

/* libmongoc's own messages: its warnings and errors are ours, the rest is debug. */
void
mbh_log_driver(mongoc_log_level_t dlevel, const char *domain, const char *message, void *logger)
{
	mbh_log_level level;

	if (dlevel == MONGOC_LOG_LEVEL_TRACE)
		return;
	if (dlevel == MONGOC_LOG_LEVEL_ERROR || dlevel == MONGOC_LOG_LEVEL_CRITICAL ||
	    dlevel == MONGOC_LOG_LEVEL_WARNING)
		level = MBH_LOG_WARNING;
	else
		level = MBH_LOG_DEBUG;
	mbh_logf(logger, level, "driver: %s: %s", domain ? domain : "mongoc", message ? message : "");
}
