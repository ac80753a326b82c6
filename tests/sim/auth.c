/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* auth.c: users and privileges, SCRAM conversations per connection, speculative auth, saslSupportedMechs. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim.h"

typedef struct lookup_ctx {
	const sim *s;
	const char *db;
} lookup_ctx;

static int find_user(const sim *s, const char *name, const char *db)
{
	for (size_t i = 0; i < s->n_users; i++)
		if (strcmp(s->users[i].name, name) == 0 && strcmp(s->users[i].db, db) == 0)
			return (int)i;
	return -1;
}

static const sim_scram_creds *lookup(void *ctx, const char *user, sim_scram_mech mech)
{
	lookup_ctx *l = ctx;
	int u = find_user(l->s, user, l->db);

	if (u < 0)
		return NULL;
	if (mech == SIM_SCRAM_SHA256)
		return l->s->users[u].has_sha256 ? &l->s->users[u].sha256 : NULL;
	return l->s->users[u].has_sha1 ? &l->s->users[u].sha1 : NULL;
}

/* May connection c run command e?  (Its privilege and openness are in the command table.) */
bool sim_auth_allowed(const sim *s, const sim_conn *c, const sim_cmd_entry *e)
{
	if (e->open || !s->auth)
		return true;
	if (c->user < 0)
		return false;
	return (s->users[c->user].actions & e->action) == e->action;
}

/* Does connection c hold every one of these actions (everything without auth)? */
bool sim_auth_has(const sim *s, const sim_conn *c, uint32_t actions)
{
	if (!s->auth)
		return true;
	if (c->user < 0)
		return false;
	return (s->users[c->user].actions & actions) == actions;
}

/* authenticate {mechanism: "MONGODB-X509", [user]} on $external: the user named by the connection's
 * verified client certificate.  0 = authenticated, -1 = error in reply. */
int sim_auth_x509(sim *s, sim_conn *c, const bson_t *body, const char *db, bson_t *reply)
{
	bson_iter_t it;
	int u;

	if (!bson_iter_init_find(&it, body, "mechanism") || !BSON_ITER_HOLDS_UTF8(&it) ||
	    strcmp(bson_iter_utf8(&it, NULL), "MONGODB-X509") != 0) {
		sim_cmd_error(reply, 2, "BadValue", "Unsupported mechanism: only MONGODB-X509 uses the authenticate command");
		return -1;
	}
	if (strcmp(db, "$external") != 0) {
		sim_cmd_error(reply, 2, "BadValue", "X.509 authentication must always use the $external database.");
		return -1;
	}
	if (!c->cert_subject) {
		sim_cmd_error(reply, 18, "AuthenticationFailed", "No verified subject name available from client");
		return -1;
	}
	if (bson_iter_init_find(&it, body, "user") && BSON_ITER_HOLDS_UTF8(&it) &&
	    strcmp(bson_iter_utf8(&it, NULL), c->cert_subject) != 0) {
		sim_cmd_error(reply, 11, "UserNotFound", "There is no x.509 client certificate matching the user.");
		return -1;
	}
	if ((u = find_user(s, c->cert_subject, "$external")) < 0 || !s->users[u].x509) {
		sim_logf(s, "conn %lld: no $external user for certificate subject %s", (long long)c->id, c->cert_subject);
		sim_cmd_error(reply, 18, "AuthenticationFailed", "Authentication failed.");
		return -1;
	}
	c->user = u;
	BSON_APPEND_UTF8(reply, "dbname", "$external");
	BSON_APPEND_UTF8(reply, "user", c->cert_subject);
	BSON_APPEND_DOUBLE(reply, "ok", 1.0);
	return 0;
}

/* Forget the connection's SCRAM conversation. */
void sim_auth_conn_reset(sim_conn *c)
{
	sim_scram_conv_free(c->conv);
	c->conv = NULL;
	c->conv_step = 0;
	c->conv_skip_empty = false;
	c->conv_db[0] = '\0';
}

static bool get_payload(const bson_t *b, const uint8_t **data, uint32_t *len)
{
	bson_iter_t it;
	bson_subtype_t st;

	if (!bson_iter_init_find(&it, b, "payload"))
		return false;
	if (BSON_ITER_HOLDS_BINARY(&it)) {
		bson_iter_binary(&it, &st, len, data);
		return true;
	}
	if (BSON_ITER_HOLDS_UTF8(&it)) {
		*data = (const uint8_t *)bson_iter_utf8(&it, len);
		return true;
	}
	return false;
}

static void auth_failed(sim_conn *c, bson_t *r)
{
	sim_auth_conn_reset(c);
	sim_cmd_error(r, 18, "AuthenticationFailed", "Authentication failed.");
}

/* Start a conversation: reply {conversationId, done:false, payload}; 0 ok, -1 error reply. */
int sim_auth_sasl_start(sim *s, sim_conn *c, const bson_t *body, const char *db, bson_t *r)
{
	bson_iter_t it, opt;
	sim_scram_mech mech;
	const uint8_t *data = NULL;
	uint32_t len = 0;
	char *server_first = NULL, errbuf[256];
	lookup_ctx ctx = {s, db};
	char *client_first = NULL;
	int rc = -1;

	sim_auth_conn_reset(c);
	if (!bson_iter_init_find(&it, body, "mechanism") || !BSON_ITER_HOLDS_UTF8(&it)) {
		sim_cmd_error(r, 9, "FailedToParse", "saslStart: 'mechanism' must be a string");
		goto out;
	}
	if (sim_scram_mech_parse(bson_iter_utf8(&it, NULL), &mech) != 0) {
		sim_cmd_error(r, 334, "MechanismUnavailable",
		              "Received authentication for mechanism %.64s which is not enabled",
		              bson_iter_utf8(&it, NULL));
		goto out;
	}
	if (!get_payload(body, &data, &len)) {
		sim_cmd_error(r, 9, "FailedToParse", "saslStart: 'payload' must be binary");
		goto out;
	}
	if (bson_iter_init_find(&it, body, "options") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
	    bson_iter_recurse(&it, &opt) && bson_iter_find(&opt, "skipEmptyExchange"))
		c->conv_skip_empty = bson_iter_as_bool(&opt);
	/* The SCRAM parser gets its own NUL-terminated copy. */
	if (!(client_first = malloc((size_t)len + 1)))
		goto out;
	memcpy(client_first, data, len);
	client_first[len] = '\0';
	if (sim_scram_start(&c->conv, mech, client_first, len, lookup, &ctx, NULL, &server_first, errbuf,
	                    sizeof errbuf) != 0) {
		auth_failed(c, r);
		goto out;
	}
	snprintf(c->conv_db, sizeof c->conv_db, "%s", db);
	c->conv_step = 1;
	BSON_APPEND_INT32(r, "conversationId", 1);
	BSON_APPEND_BOOL(r, "done", false);
	bson_append_binary(r, "payload", -1, BSON_SUBTYPE_BINARY, (const uint8_t *)server_first,
	                   (uint32_t)strlen(server_first));
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
	rc = 0;
out:
	free(client_first);
	free(server_first);
	return rc;
}

/* The next step of the conversation. */
int sim_auth_sasl_continue(sim *s, sim_conn *c, const bson_t *body, bson_t *r)
{
	bson_iter_t it;
	const uint8_t *data = NULL;
	uint32_t len = 0;
	char *server_final = NULL, *client_final = NULL, errbuf[256];
	int rc = -1, ok;

	if (!c->conv || !bson_iter_init_find(&it, body, "conversationId") || !BSON_ITER_HOLDS_NUMBER(&it) ||
	    bson_iter_as_int64(&it) != 1) {
		sim_auth_conn_reset(c);
		sim_cmd_error(r, 17, "ProtocolError", "No SASL session state found");
		goto out;
	}
	if (!get_payload(body, &data, &len)) {
		auth_failed(c, r);
		goto out;
	}
	if (c->conv_step == 2) {
		/* The client's empty message after our server-final (no skipEmptyExchange). */
		sim_auth_conn_reset(c);
		BSON_APPEND_INT32(r, "conversationId", 1);
		BSON_APPEND_BOOL(r, "done", true);
		bson_append_binary(r, "payload", -1, BSON_SUBTYPE_BINARY, (const uint8_t *)"", 0);
		BSON_APPEND_DOUBLE(r, "ok", 1.0);
		rc = 0;
		goto out;
	}
	if (!(client_final = malloc((size_t)len + 1)))
		goto out;
	memcpy(client_final, data, len);
	client_final[len] = '\0';
	ok = sim_scram_finish(c->conv, client_final, len, &server_final, errbuf, sizeof errbuf);
	if (ok != 1 || !sim_scram_user(c->conv)) {
		auth_failed(c, r);
		goto out;
	}
	c->user = find_user(s, sim_scram_user(c->conv), c->conv_db);
	if (c->user < 0) {
		auth_failed(c, r);
		goto out;
	}
	BSON_APPEND_INT32(r, "conversationId", 1);
	BSON_APPEND_BOOL(r, "done", c->conv_skip_empty);
	bson_append_binary(r, "payload", -1, BSON_SUBTYPE_BINARY, (const uint8_t *)server_final,
	                   (uint32_t)strlen(server_final));
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
	if (c->conv_skip_empty)
		sim_auth_conn_reset(c);
	else
		c->conv_step = 2;
	rc = 0;
out:
	free(client_final);
	free(server_final);
	return rc;
}

/* saslSupportedMechs and speculativeAuthenticate in a hello reply. */
void sim_auth_hello_extras(sim *s, sim_conn *c, const bson_t *req, bson_t *r)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, req, "saslSupportedMechs") && BSON_ITER_HOLDS_UTF8(&it)) {
		const char *v = bson_iter_utf8(&it, NULL), *dot = strchr(v, '.');

		if (dot) {
			char db[64];
			int u;

			snprintf(db, sizeof db, "%.*s", (int)((dot - v) < 63 ? (dot - v) : 63), v);
			if ((u = find_user(s, dot + 1, db)) >= 0) {
				bson_t arr;
				int n = 0;

				BSON_APPEND_ARRAY_BEGIN(r, "saslSupportedMechs", &arr);
				if (s->users[u].has_sha1) {
					BSON_APPEND_UTF8(&arr, n ? "1" : "0", "SCRAM-SHA-1");
					n++;
				}
				if (s->users[u].has_sha256)
					BSON_APPEND_UTF8(&arr, n ? "1" : "0", "SCRAM-SHA-256");
				bson_append_array_end(r, &arr);
			}
		}
	}
	if (bson_iter_init_find(&it, req, "speculativeAuthenticate") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		const uint8_t *data;
		uint32_t len;
		bson_t spec, sr = BSON_INITIALIZER;
		bson_iter_t dbit;
		char db[64] = "admin";

		bson_iter_document(&it, &len, &data);
		if (bson_init_static(&spec, data, len)) {
			if (bson_iter_init_find(&dbit, &spec, "db") && BSON_ITER_HOLDS_UTF8(&dbit))
				snprintf(db, sizeof db, "%s", bson_iter_utf8(&dbit, NULL));
			/* Only the start is speculative; a failure just leaves the field out. */
			if (bson_iter_init_find(&dbit, &spec, "authenticate") &&
			    sim_auth_x509(s, c, &spec, db, &sr) == 0) {
				bson_t out;

				bson_init(&out);
				bson_copy_to_excluding_noinit(&sr, &out, "ok", NULL);
				BSON_APPEND_DOCUMENT(r, "speculativeAuthenticate", &out);
				bson_destroy(&out);
			} else if (bson_iter_init_find(&dbit, &spec, "saslStart") &&
			    sim_auth_sasl_start(s, c, &spec, db, &sr) == 0) {
				bson_t out;
				bson_iter_t f;

				BSON_APPEND_DOCUMENT_BEGIN(r, "speculativeAuthenticate", &out);
				if (bson_iter_init(&f, &sr))
					while (bson_iter_next(&f))
						if (strcmp(bson_iter_key(&f), "ok") != 0)
							bson_append_iter(&out, NULL, 0, &f);
				bson_append_document_end(r, &out);
			} else {
				sim_auth_conn_reset(c);
			}
		}
		bson_destroy(&sr);
	}
}
