/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* commands.c: the one table of commands (name, versions, admin-only, action, arguments, handler), its dispatch, and the helpers every command file shares; the handlers live in cmd_*.c by topic. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sys/utsname.h>

#include "sim.h"
#include "cmd.h"

/* Append {ok:0, errmsg, code, codeName} (code is never 0: libmongoc aborts on it). */
void sim_cmd_error(bson_t *reply, int code, const char *code_name, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	bson_reinit(reply);
	BSON_APPEND_DOUBLE(reply, "ok", 0.0);
	BSON_APPEND_UTF8(reply, "errmsg", msg);
	BSON_APPEND_INT32(reply, "code", code ? code : 1);
	BSON_APPEND_UTF8(reply, "codeName", code_name);
}

bool truthy(const bson_iter_t *it)
{
	switch (bson_iter_type(it)) {
	case BSON_TYPE_BOOL: return bson_iter_bool(it);
	case BSON_TYPE_INT32: return bson_iter_int32(it) != 0;
	case BSON_TYPE_INT64: return bson_iter_int64(it) != 0;
	case BSON_TYPE_DOUBLE: return bson_iter_double(it) != 0.0;
	case BSON_TYPE_NULL:
	case BSON_TYPE_UNDEFINED: return false;
	default: return true;
	}
}

bool get_number(const bson_t *b, const char *key, double *out)
{
	bson_iter_t it;

	if (!bson_iter_init_find(&it, b, key) || !BSON_ITER_HOLDS_NUMBER(&it))
		return false;
	*out = bson_iter_as_double(&it);
	return true;
}

/* Append the mongo-shell rendering of a document ({ fsync: 1, lock: true, $db: "admin" }) to buf. */
void shell_doc(const bson_t *b, bool array, char *buf, size_t cap)
{
	bson_iter_t it;
	bool first = true;
	size_t len = strlen(buf);

	snprintf(buf + len, cap - len, "%s", array ? "[ " : "{ ");
	if (!bson_iter_init(&it, b))
		return;
	while (bson_iter_next(&it)) {
		len = strlen(buf);
		if (len + 8 >= cap)
			return;
		if (array)
			snprintf(buf + len, cap - len, "%s", first ? "" : ", ");
		else
			snprintf(buf + len, cap - len, "%s%s: ", first ? "" : ", ", bson_iter_key(&it));
		first = false;
		len = strlen(buf);
		if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
			const uint8_t *data;
			uint32_t dl;
			bson_t sub;

			if (BSON_ITER_HOLDS_DOCUMENT(&it))
				bson_iter_document(&it, &dl, &data);
			else
				bson_iter_array(&it, &dl, &data);
			if (bson_init_static(&sub, data, dl))
				shell_doc(&sub, BSON_ITER_HOLDS_ARRAY(&it), buf, cap);
			continue;
		}
		switch (bson_iter_type(&it)) {
		case BSON_TYPE_UTF8: snprintf(buf + len, cap - len, "\"%s\"", bson_iter_utf8(&it, NULL)); break;
		case BSON_TYPE_INT32: snprintf(buf + len, cap - len, "%d", bson_iter_int32(&it)); break;
		case BSON_TYPE_INT64: snprintf(buf + len, cap - len, "%lld", (long long)bson_iter_int64(&it)); break;
		case BSON_TYPE_DOUBLE: snprintf(buf + len, cap - len, "%g", bson_iter_double(&it)); break;
		case BSON_TYPE_BOOL: snprintf(buf + len, cap - len, "%s", bson_iter_bool(&it) ? "true" : "false"); break;
		case BSON_TYPE_NULL: snprintf(buf + len, cap - len, "null"); break;
		case BSON_TYPE_OID: {
			char hex[25];

			bson_oid_to_string(bson_iter_oid(&it), hex);
			snprintf(buf + len, cap - len, "ObjectId('%s')", hex);
			break;
		}
		case BSON_TYPE_BINARY: {
			bson_subtype_t st;
			uint32_t bl;
			const uint8_t *bd;

			bson_iter_binary(&it, &st, &bl, &bd);
			if (st == BSON_SUBTYPE_UUID && bl == 16)
				snprintf(buf + len, cap - len,
				         "UUID(\"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\")", bd[0],
				         bd[1], bd[2], bd[3], bd[4], bd[5], bd[6], bd[7], bd[8], bd[9], bd[10], bd[11], bd[12],
				         bd[13], bd[14], bd[15]);
			else
				snprintf(buf + len, cap - len, "BinData(%d, ...)", (int)st);
			break;
		}
		default: snprintf(buf + len, cap - len, "..."); break;
		}
	}
	len = strlen(buf);
	snprintf(buf + len, cap - len, "%s", array ? " ]" : " }");
}

/* -vv: the request and the reply as JSON (SCRAM payloads left out; long lines are cut). */
static void log_bodies(sim *s, const bson_t *req, const bson_t *reply)
{
	bson_t shown;
	char *j;

	bson_init(&shown);
	bson_copy_to_excluding_noinit(req, &shown, "payload", "speculativeAuthenticate", NULL);
	j = bson_as_relaxed_extended_json(&shown, NULL);
	sim_logf(s, "  <- %s", j ? j : "(bad BSON)");
	bson_free(j);
	bson_destroy(&shown);
	bson_init(&shown);
	bson_copy_to_excluding_noinit(reply, &shown, "payload", "speculativeAuthenticate", NULL);
	j = bson_as_relaxed_extended_json(&shown, NULL);
	sim_logf(s, "  -> %s", j ? j : "(bad BSON)");
	bson_free(j);
	bson_destroy(&shown);
}

void not_authorized(bson_t *r, const char *db, const bson_t *body)
{
	char shown[768] = "";

	shell_doc(body, false, shown, sizeof shown);
	sim_cmd_error(r, 13, "Unauthorized", "not authorized on %s to execute command %s", db, shown);
}

/* Apply an armed fault; returns 3 if the member died. */
static int fire_arm(sim *s, sim_conn *c, const char *name)
{
	sim_member *m = &s->members[c->member];
	int action = m->arm_action;

	if (action == SIM_ARM_NONE || strcmp(m->arm_cmd, name) != 0)
		return 0;
	m->arm_action = SIM_ARM_NONE;
	m->arm_cmd[0] = '\0';
	sim_logf(s, "member %d: armed fault fires on %s", m->id, name);
	switch (action) {
	case SIM_ARM_ELECT:
		if (s->primary != c->member && !m->arbiter && m->priority > 0 && m->lock_count == 0)
			sim_rs_elect(s, c->member);
		return 0;
	case SIM_ARM_KILL: sim_rs_kill(s, c->member); return 3;
	case SIM_ARM_PARTITION: m->partitioned = true; return 0;
	default: return 0;
	}
}

/* Replies of a replica-set member (3.6 on) carry $clusterTime and operationTime, errors too.
 * The signature is the all-zero one of a server without keys (never checked by drivers). */
static void append_cluster_time(sim *s, sim_conn *c, bson_t *r)
{
	const sim_member *m = &s->members[c->member];
	bson_t ct, sig;
	uint8_t zero[20] = {0};
	sim_optime last, mine;

	if (s->max_wire < 6 || m->arbiter || s->n_oplog == 0 || bson_has_field(r, "$clusterTime"))
		return;
	last = s->oplog[s->n_oplog - 1].op;
	mine = sim_rs_optime(s, m);
	BSON_APPEND_DOCUMENT_BEGIN(r, "$clusterTime", &ct);
	BSON_APPEND_TIMESTAMP(&ct, "clusterTime", last.t, last.i);
	BSON_APPEND_DOCUMENT_BEGIN(&ct, "signature", &sig);
	BSON_APPEND_BINARY(&sig, "hash", BSON_SUBTYPE_BINARY, zero, sizeof zero);
	BSON_APPEND_INT64(&sig, "keyId", 0);
	bson_append_document_end(&ct, &sig);
	bson_append_document_end(r, &ct);
	BSON_APPEND_TIMESTAMP(r, "operationTime", mine.t, mine.i);
}

/* ---- the command table ---- */

/* hello / isMaster; from 4.4 an awaitable one (topologyVersion + maxAwaitTimeMS) waits while the
 * client's topologyVersion is current: until the topology changes or maxAwaitTimeMS runs out. */
static int h_hello(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_iter_t tv, mat, f;
	bool has_tv, has_mat;

	(void)req;
	(void)db;
	has_tv = s->max_wire >= 9 && bson_iter_init_find(&tv, b, "topologyVersion") && BSON_ITER_HOLDS_DOCUMENT(&tv);
	has_mat = s->max_wire >= 9 && bson_iter_init_find(&mat, b, "maxAwaitTimeMS") && BSON_ITER_HOLDS_NUMBER(&mat);
	if (has_tv != has_mat) {
		sim_cmd_error(r, 31368, "Location31368", "%s",
		              has_tv ? "A request with a 'topologyVersion' must include 'maxAwaitTimeMS'"
		                     : "A request with 'maxAwaitTimeMS' must include a 'topologyVersion'");
		return 0;
	}
	if (has_tv && bson_iter_as_int64(&mat) < 0) {
		sim_cmd_error(r, 31373, "Location31373", "maxAwaitTimeMS must be a non-negative integer");
		return 0;
	}
	if (has_tv && !c->await_done) {
		bson_iter_t t = tv;
		bool same_process = bson_iter_recurse(&t, &f) && bson_iter_find(&f, "processId") &&
		                    BSON_ITER_HOLDS_OID(&f) && bson_oid_equal(bson_iter_oid(&f), &m->tv_process_id);
		int64_t counter = -1;

		t = tv;
		if (bson_iter_recurse(&t, &f) && bson_iter_find(&f, "counter") && BSON_ITER_HOLDS_NUMBER(&f))
			counter = bson_iter_as_int64(&f);
		if (same_process && counter == m->tv_counter) {
			if (!c->awaiting) {
				c->awaiting = true;
				c->await_until_ms = sim_now_ms() + bson_iter_as_int64(&mat);
			}
			return 1;
		}
	}
	c->awaiting = false;
	c->await_done = false;
	build_hello(s, c, b, strcmp(name, "hello") == 0, r);
	return 0;
}

static int h_ok(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name, bson_t *r)
{
	(void)s, (void)c, (void)req, (void)b, (void)db, (void)name;
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
	return 0;
}

#define UNUSED_ARGS (void)s, (void)c, (void)req, (void)b, (void)db, (void)name

static int h_buildinfo(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                       bson_t *r)
{
	UNUSED_ARGS;
	build_buildinfo(s, r);
	return 0;
}

static int h_server_status(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                           const char *name, bson_t *r)
{
	UNUSED_ARGS;
	build_server_status(s, c, r);
	return 0;
}

static int h_status(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                    bson_t *r)
{
	UNUSED_ARGS;
	build_status(s, c, r);
	return 0;
}

static int h_config(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                    bson_t *r)
{
	UNUSED_ARGS;
	build_config(s, r);
	return 0;
}

static int h_fsync(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                   bson_t *r)
{
	UNUSED_ARGS;
	cmd_fsync(s, c, b, r);
	return 0;
}

static int h_fsync_unlock(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                          const char *name, bson_t *r)
{
	UNUSED_ARGS;
	cmd_fsync_unlock(s, c, r);
	return 0;
}

static int h_current_op(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                        bson_t *r)
{
	UNUSED_ARGS;
	cmd_current_op(s, c, b, s->members[c->member].lock_count > 0, r);
	return 0;
}

static int h_insert(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                    bson_t *r)
{
	UNUSED_ARGS;
	return cmd_insert(s, c, b, db, r);
}

static int h_update(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                    bson_t *r)
{
	UNUSED_ARGS;
	return cmd_update(s, c, b, db, strcmp(name, "update") == 0, r);
}

static int h_find(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                  bson_t *r)
{
	UNUSED_ARGS;
	cmd_find(s, c, req, b, db, r);
	return 0;
}

static int h_freeze(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                    bson_t *r)
{
	UNUSED_ARGS;
	cmd_freeze(s, c, b, name, r);
	return 0;
}

static int h_stepdown(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                      bson_t *r)
{
	UNUSED_ARGS;
	cmd_stepdown(s, c, b, name, r);
	return 0;
}

static int h_get_nonce(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                       bson_t *r)
{
	UNUSED_ARGS;
	cmd_get_nonce(r);
	return 0;
}

static int h_connection_status(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                               const char *name, bson_t *r)
{
	UNUSED_ARGS;
	cmd_connection_status(s, c, b, r);
	return 0;
}

static int h_get_parameter(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                           const char *name, bson_t *r)
{
	UNUSED_ARGS;
	cmd_get_parameter(s, b, r);
	return 0;
}

static int h_get_log(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                     bson_t *r)
{
	UNUSED_ARGS;
	cmd_get_log(b, r);
	return 0;
}

static int h_list_databases(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                            const char *name, bson_t *r)
{
	UNUSED_ARGS;
	cmd_list_databases(s, c, b, r);
	return 0;
}

static int h_cmd_line_opts(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                           const char *name, bson_t *r)
{
	UNUSED_ARGS;
	cmd_get_cmd_line_opts(s, c, r);
	return 0;
}

static int h_host_info(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                       bson_t *r)
{
	UNUSED_ARGS;
	cmd_host_info(s, c, r);
	return 0;
}

static int h_aggregate(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                       bson_t *r)
{
	UNUSED_ARGS;
	cmd_aggregate(s, c, req, b, db, r);
	return 0;
}

static int h_sasl_start(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                        bson_t *r)
{
	UNUSED_ARGS;
	sim_auth_sasl_start(s, c, b, db, r);
	return 0;
}

static int h_authenticate(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                          const char *name, bson_t *r)
{
	UNUSED_ARGS;
	sim_auth_x509(s, c, b, db, r);
	return 0;
}

static int h_sasl_continue(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                           const char *name, bson_t *r)
{
	UNUSED_ARGS;
	sim_auth_sasl_continue(s, c, b, r);
	return 0;
}

/* Type lists as the server's IDL types spell them (src/mongo/db/basic_types.idl). */
#define T_SAFE_BOOL "bool,long,int,decimal,double"
#define T_SAFE_INT "long,int,decimal,double"

/* hello.idl's fields, their types checked; unknown fields are ignored, because drivers add new
 * handshake fields (the Node.js driver 7's backpressure) that every deployed server accepts. */
static const sim_arg hello_args[] = {
	{"forShell", T_SAFE_BOOL, false, false, 0, 0},
	{"hostInfo", "string", false, false, 0, 0},
	{"hangUpOnStepDown", T_SAFE_BOOL, false, false, 0, 0},
	{"internalClient", "object", false, false, 0, 0},
	{"client", "object", false, true, 0, 0},
	{"topologyVersion", "object", false, true, 9, 0},
	{"maxAwaitTimeMS", T_SAFE_INT, false, true, 9, 0},
	{"helloOk", T_SAFE_BOOL, false, false, 9, 0},
	{"compression", "array", false, true, 0, 0},
	{"saslSupportedMechs", "string", false, false, 7, 0},
	{"speculativeAuthenticate", "object", false, true, 9, 0},
	{"loadBalanced", T_SAFE_BOOL, false, false, 13, 0},
	{NULL, NULL, false, false, 0, 0}};

/* fsync.idl (8.0): strict, lock a safeBool, the timeout an int. */
static const sim_arg fsync_args[] = {
	{"lock", T_SAFE_BOOL, false, false, 0, 0},
	{"fsyncLockAcquisitionTimeoutMillis", "int", false, false, 22, 0},
	{"forBackup", T_SAFE_BOOL, false, false, 22, 0},
	{"allowFsyncFailure", T_SAFE_BOOL, false, false, 25, 0},
	{"async", NULL, false, false, 0, 24},
	{NULL, NULL, false, false, 0, 0}};

/* write_ops.idl insert (strict since 3.6). */
static const sim_arg insert_args[] = {
	{"documents", "array", true, true, 0, 0},
	{"ordered", "bool", false, true, 0, 0},
	{"bypassDocumentValidation", T_SAFE_BOOL, false, false, 0, 0},
	{"stmtIds", "array", false, false, 0, 0},
	{"let", "object", false, false, 13, 0},
	{"collectionUUID", "binData", false, false, 17, 0},
	{"isTimeseriesNamespace", "bool", false, false, 17, 0},
	{"encryptionInformation", "object", false, false, 13, 0},
	{NULL, NULL, false, false, 0, 0}};

/* write_ops.idl update and delete (strict since 3.6). */
static const sim_arg update_args[] = {
	{"updates", "array", true, true, 0, 0},
	{"ordered", "bool", false, true, 0, 0},
	{"bypassDocumentValidation", T_SAFE_BOOL, false, false, 0, 0},
	{"stmtIds", "array", false, false, 0, 0},
	{"let", "object", false, false, 13, 0},
	{"collectionUUID", "binData", false, false, 17, 0},
	{"isTimeseriesNamespace", "bool", false, false, 17, 0},
	{"encryptionInformation", "object", false, false, 13, 0},
	{NULL, NULL, false, false, 0, 0}};
static const sim_arg delete_args[] = {
	{"deletes", "array", true, true, 0, 0},
	{"ordered", "bool", false, true, 0, 0},
	{"stmtIds", "array", false, false, 0, 0},
	{"let", "object", false, false, 13, 0},
	{"collectionUUID", "binData", false, false, 17, 0},
	{"isTimeseriesNamespace", "bool", false, false, 17, 0},
	{"encryptionInformation", "object", false, false, 13, 0},
	{NULL, NULL, false, false, 0, 0}};

/* find_command.idl (strict; 4.4 parsed find by hand and refused unknown fields too). */
static const sim_arg find_args[] = {
	{"filter", "object", false, true, 0, 0},
	{"projection", "object", false, true, 0, 0},
	{"sort", "object", false, true, 0, 0},
	{"hint", "object,string", false, false, 0, 0},
	{"skip", T_SAFE_INT, false, true, 0, 0},
	{"limit", T_SAFE_INT, false, true, 0, 0},
	{"batchSize", T_SAFE_INT, false, true, 0, 0},
	{"ntoreturn", T_SAFE_INT, false, false, 0, 13},
	{"singleBatch", "bool", false, true, 0, 0},
	{"max", "object", false, false, 0, 0},
	{"min", "object", false, false, 0, 0},
	{"returnKey", "bool", false, false, 0, 0},
	{"showRecordId", "bool", false, false, 0, 0},
	{"tailable", "bool", false, false, 0, 0},
	{"oplogReplay", "bool", false, false, 0, 0},
	{"noCursorTimeout", "bool", false, false, 0, 0},
	{"awaitData", "bool", false, false, 0, 0},
	{"allowPartialResults", "bool", false, false, 0, 0},
	{"collation", "object", false, false, 0, 0},
	{"allowDiskUse", "bool", false, false, 9, 0},
	{"let", "object", false, false, 13, 0},
	{"readOnce", "bool", false, false, 0, 0},
	{"allowSpeculativeMajorityRead", "bool", false, false, 8, 0},
	{"term", "long", false, false, 0, 0},
	{"singleBatch", "bool", false, false, 0, 0},
	{"encryptionInformation", "object", false, false, 13, 0},
	{NULL, NULL, false, false, 0, 0}};

/* aggregate_command.idl (strict). */
static const sim_arg aggregate_args[] = {
	{"pipeline", "array", true, true, 0, 0},
	{"explain", "bool", false, true, 0, 0},
	{"allowDiskUse", "bool", false, true, 0, 0},
	{"cursor", "object", false, true, 0, 0},
	{"bypassDocumentValidation", T_SAFE_BOOL, false, false, 0, 0},
	{"collation", "object", false, false, 0, 0},
	{"hint", "object,string", false, false, 0, 0},
	{"let", "object", false, false, 13, 0},
	{"needsMerge", "bool", false, false, 0, 0},
	{"fromMongos", "bool", false, false, 0, 0},
	{"isMapReduceCommand", "bool", false, false, 9, 0},
	{"collectionUUID", "binData", false, false, 17, 0},
	{"exchange", "object", false, false, 0, 0},
	{"encryptionInformation", "object", false, false, 13, 0},
	{NULL, NULL, false, false, 0, 0}};

static const sim_arg sasl_start_args[] = {
	{"mechanism", "string", true, true, 0, 0},
	{"payload", NULL, true, false, 0, 0},
	{"autoAuthorize", NULL, false, false, 0, 0},
	{"options", "object", false, true, 0, 0},
	{NULL, NULL, false, false, 0, 0}};

static const sim_arg sasl_continue_args[] = {
	{"conversationId", "int", true, false, 0, 0},
	{"payload", NULL, true, false, 0, 0},
	{NULL, NULL, false, false, 0, 0}};

/*
 * Every command the members know.  A command a version did not have is "no such command"
 * there; admin_only ones refuse other databases; open ones need no authentication; action is
 * the privilege; strict_wire is the first version whose IDL parser refuses unknown fields.
 */
static const sim_cmd_entry cmd_table[] = {
	/* name              min max admin  open   action                  strict args             handler */
	{"hello",             9, 0, false, true,  0,                      0,  hello_args,         h_hello},
	{"isMaster",          0, 0, false, true,  0,                      0,  hello_args,         h_hello},
	{"ismaster",          0, 0, false, true,  0,                      0,  hello_args,         h_hello},
	{"ping",              0, 0, false, true,  0,                      0,  NULL,               h_ok},
	{"endSessions",       0, 0, false, true,  0,                      0,  NULL,               h_ok},
	{"buildInfo",         0, 0, false, true,  0,                      0,  NULL,               h_buildinfo},
	{"buildinfo",         0, 0, false, true,  0,                      0,  NULL,               h_buildinfo},
	{"connectionStatus",  0, 0, false, true,  0,                      0,  NULL,               h_connection_status},
	{"saslStart",         0, 0, false, true,  0,                      0,  sasl_start_args,    h_sasl_start},
	{"saslContinue",      0, 0, false, true,  0,                      0,  sasl_continue_args, h_sasl_continue},
	{"authenticate",      0, 0, false, true,  0,                      0,  NULL,               h_authenticate},
	/* 4.0 deprecated it, 6.2 (wire 19) removed it: SERVER-71007 */
	{"getnonce",          0, 18, false, true,  0,                     0,  NULL,               h_get_nonce},
	{"serverStatus",      0, 0, false, false, SIM_ACT_SERVER_STATUS,  0,  NULL,               h_server_status},
	{"replSetGetStatus",  0, 0, true,  false, SIM_ACT_RS_STATUS,      0,  NULL,               h_status},
	{"replSetGetConfig",  0, 0, true,  false, SIM_ACT_RS_CONFIG,      0,  NULL,               h_config},
	{"replSetFreeze",     0, 0, true,  false, SIM_ACT_STATE_CHANGE,   0,  NULL,               h_freeze},
	{"replSetStepDown",   0, 0, true,  false, SIM_ACT_STATE_CHANGE,   0,  NULL,               h_stepdown},
	{"fsync",             0, 0, true,  false, SIM_ACT_FSYNC,          25, fsync_args,         h_fsync},
	{"fsyncUnlock",       0, 0, true,  false, SIM_ACT_UNLOCK,         0,  NULL,               h_fsync_unlock},
	{"currentOp",         0, 0, true,  false, SIM_ACT_INPROG,         0,  NULL,               h_current_op},
	{"getParameter",      0, 0, true,  false, SIM_ACT_GET_PARAMETER,  0,  NULL,               h_get_parameter},
	{"getLog",            0, 0, true,  false, SIM_ACT_GET_LOG,        0,  NULL,               h_get_log},
	{"listDatabases",     0, 0, true,  false, 0,                      0,  NULL,               h_list_databases},
	{"getCmdLineOpts",    0, 0, true,  false, SIM_ACT_CMD_LINE_OPTS,  0,  NULL,               h_cmd_line_opts},
	{"hostInfo",          0, 0, true,  false, SIM_ACT_HOST_INFO,      0,  NULL,               h_host_info},
	{"insert",            0, 0, false, false, SIM_ACT_INSERT,         6,  insert_args,        h_insert},
	{"update",            0, 0, false, false, SIM_ACT_UPDATE,         6,  update_args,        h_update},
	{"delete",            0, 0, false, false, SIM_ACT_REMOVE,         6,  delete_args,        h_update},
	{"find",              0, 0, false, false, SIM_ACT_FIND,           9,  find_args,          h_find},
	{"aggregate",         0, 0, false, false, 0,                      9,  aggregate_args,     h_aggregate},
};

static int h_list_shards(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                         bson_t *r)
{
	UNUSED_ARGS;
	cmd_list_shards(s, r);
	return 0;
}

static int h_get_shard_map(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                           const char *name, bson_t *r)
{
	UNUSED_ARGS;
	cmd_get_shard_map(s, r);
	return 0;
}

static int h_balancer_status(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                             const char *name, bson_t *r)
{
	UNUSED_ARGS;
	cmd_balancer_status(s, r);
	return 0;
}

static int h_balancer_start_stop(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                                 const char *name, bson_t *r)
{
	UNUSED_ARGS;
	return cmd_balancer_start_stop(s, strcmp(name, "balancerStart") == 0, r);
}

static int h_mongos_fsync(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                          const char *name, bson_t *r)
{
	UNUSED_ARGS;
	cmd_mongos_fsync(s, c, b, r);
	return 0;
}

static int h_mongos_fsync_unlock(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                                 const char *name, bson_t *r)
{
	UNUSED_ARGS;
	cmd_mongos_fsync_unlock(s, r);
	return 0;
}

static int h_mongos_current_op(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                               const char *name, bson_t *r)
{
	UNUSED_ARGS;
	cmd_mongos_current_op(s, c, b, r);
	return 0;
}

static int h_mongos_write(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                           const char *name, bson_t *r)
{
	UNUSED_ARGS;
	return cmd_mongos_write(s, c, b, db, name, r);
}

static int h_mongos_find(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                         bson_t *r)
{
	UNUSED_ARGS;
	cmd_mongos_find(s, c, b, db, r);
	return 0;
}

static int h_mongos_aggregate(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db,
                              const char *name, bson_t *r)
{
	UNUSED_ARGS;
	cmd_mongos_aggregate(s, c, b, db, r);
	return 0;
}

/* What a mongos answers (role = "mongos"); anything else is 59 as on a router without it (fsyncUnlock
 * too before the cluster lock: cmd_mongos.c). */
static const sim_cmd_entry mongos_table[] = {
	/* name              min max admin  open   action                  strict args             handler */
	{"hello",             9, 0, false, true,  0,                      0,  hello_args,         h_hello},
	{"isMaster",          0, 0, false, true,  0,                      0,  hello_args,         h_hello},
	{"ismaster",          0, 0, false, true,  0,                      0,  hello_args,         h_hello},
	{"ping",              0, 0, false, true,  0,                      0,  NULL,               h_ok},
	{"endSessions",       0, 0, false, true,  0,                      0,  NULL,               h_ok},
	{"buildInfo",         0, 0, false, true,  0,                      0,  NULL,               h_buildinfo},
	{"buildinfo",         0, 0, false, true,  0,                      0,  NULL,               h_buildinfo},
	{"connectionStatus",  0, 0, false, true,  0,                      0,  NULL,               h_connection_status},
	{"saslStart",         0, 0, false, true,  0,                      0,  sasl_start_args,    h_sasl_start},
	{"saslContinue",      0, 0, false, true,  0,                      0,  sasl_continue_args, h_sasl_continue},
	{"getParameter",      0, 0, true,  false, SIM_ACT_GET_PARAMETER,  0,  NULL,               h_get_parameter},
	{"getLog",            0, 0, true,  false, SIM_ACT_GET_LOG,        0,  NULL,               h_get_log},
	{"listShards",        0, 0, true,  false, SIM_ACT_LIST_SHARDS,    0,  NULL,               h_list_shards},
	{"getShardMap",       0, 0, true,  false, SIM_ACT_GET_SHARD_MAP,  0,  NULL,               h_get_shard_map},
	/* balancerStart/Stop/Status: 3.4 (wire 5) */
	{"balancerStatus",    0, 0, true,  false, SIM_ACT_BALANCER_STATUS, 0, NULL,               h_balancer_status},
	{"balancerStart",     0, 0, true,  false, SIM_ACT_BALANCER,       0,  NULL,               h_balancer_start_stop},
	{"balancerStop",      0, 0, true,  false, SIM_ACT_BALANCER,       0,  NULL,               h_balancer_start_stop},
	{"fsync",             0, 0, true,  false, SIM_ACT_FSYNC,          25, fsync_args,         h_mongos_fsync},
	{"fsyncUnlock",       0, 0, true,  false, SIM_ACT_UNLOCK,         0,  NULL,               h_mongos_fsync_unlock},
	{"currentOp",         0, 0, true,  false, SIM_ACT_INPROG,         0,  NULL,               h_mongos_current_op},
	/* routed to the shards (cmd_route.c) */
	{"insert",            0, 0, false, false, SIM_ACT_INSERT,         6,  insert_args,        h_mongos_write},
	{"update",            0, 0, false, false, SIM_ACT_UPDATE,         6,  update_args,        h_mongos_write},
	{"delete",            0, 0, false, false, SIM_ACT_REMOVE,         6,  delete_args,        h_mongos_write},
	{"find",              0, 0, false, false, SIM_ACT_FIND,           9,  find_args,          h_mongos_find},
	{"aggregate",         0, 0, false, false, 0,                      9,  aggregate_args,     h_mongos_aggregate},
};

/* The entry for name at this server's version (and role), or NULL. */
static const sim_cmd_entry *lookup_cmd(const sim *s, const char *name)
{
	const sim_cmd_entry *table = s->role == SIM_ROLE_MONGOS ? mongos_table : cmd_table;
	size_t n = s->role == SIM_ROLE_MONGOS ? sizeof mongos_table / sizeof mongos_table[0]
	                                      : sizeof cmd_table / sizeof cmd_table[0];

	for (size_t i = 0; i < n; i++) {
		const sim_cmd_entry *e = &table[i];

		if (strcmp(e->name, name) == 0 && s->max_wire >= e->min_wire && (!e->max_wire || s->max_wire <= e->max_wire))
			return e;
	}
	return NULL;
}

static bool is_handshake(const char *name)
{
	return strcmp(name, "hello") == 0 || strcmp(name, "isMaster") == 0 || strcmp(name, "ismaster") == 0;
}

/* Answer one request; see sim.h for the return values. */
int sim_cmd_dispatch(sim *s, sim_conn *c, const sim_msg *req, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_t inner;
	const bson_t *b = &req->body;
	bson_iter_t it;
	char name[64], db[64];
	int rc = 0;
	bool redispatch = c->redispatch;
	const sim_cmd_entry *e;

	c->redispatch = false;
	if (!req->has_body) {
		sim_cmd_error(r, 9, "FailedToParse", "empty request");
		return 0;
	}
	/* OP_QUERY may wrap the command in $query. */
	if (req->opcode == SIM_OP_QUERY && bson_iter_init(&it, b) && bson_iter_next(&it) &&
	    (strcmp(bson_iter_key(&it), "$query") == 0 || strcmp(bson_iter_key(&it), "query") == 0) &&
	    BSON_ITER_HOLDS_DOCUMENT(&it)) {
		const uint8_t *data;
		uint32_t len;

		bson_iter_document(&it, &len, &data);
		if (bson_init_static(&inner, data, len))
			b = &inner;
	}
	name[0] = '\0';
	if (bson_iter_init(&it, b) && bson_iter_next(&it))
		snprintf(name, sizeof name, "%s", bson_iter_key(&it));
	if (req->opcode == SIM_OP_QUERY) {
		const char *dot = strchr(req->ns, '.');
		size_t l = dot ? (size_t)(dot - req->ns) : strlen(req->ns);

		/* 5.1 (wire 14) removed OP_QUERY for everything but the handshake. */
		if (!dot || strcmp(dot, ".$cmd") != 0 || (s->max_wire >= 14 && !is_handshake(name))) {
			sim_cmd_error(r, 352, "UnsupportedOpQueryCommand",
			              "Unsupported OP_QUERY command: %s. The client driver may require an upgrade. For more "
			              "details see https://dochub.mongodb.org/core/legacy-opcode-removal",
			              name[0] ? name : "find");
			return 0;
		}
		snprintf(db, sizeof db, "%.*s", (int)(l < 63 ? l : 63), req->ns);
	} else if (bson_iter_init_find(&it, b, "$db") && BSON_ITER_HOLDS_UTF8(&it)) {
		snprintf(db, sizeof db, "%s", bson_iter_utf8(&it, NULL));
	} else {
		sim_cmd_error(r, 40571, "Location40571", "OP_MSG requests require a $db argument");
		return 0;
	}
	if (!redispatch)
		sim_rs_count(m, name[0] ? name : "(empty)");
	if (!(e = lookup_cmd(s, name))) {
		sim_cmd_error(r, 59, "CommandNotFound", "no such command: '%s'", name);
		goto done;
	}
	if (!redispatch && (rc = fire_arm(s, c, name)) != 0)
		return rc;
	if (sim_args_check(s, name, e->args, e->strict_wire, b, r) != 0)
		goto done;
	if (e->admin_only && strcmp(db, "admin") != 0) {
		sim_cmd_error(r, 13, "Unauthorized", "%s may only be run against the admin database.", name);
		goto done;
	}
	if (!sim_auth_allowed(s, c, e)) {
		if (c->user < 0)
			sim_cmd_error(r, 13, "Unauthorized", "command %s requires authentication", name);
		else
			not_authorized(r, db, b);
		goto done;
	}
	if ((rc = e->fn(s, c, req, b, db, name, r)) == 1) {
		c->held = true;
		if (!c->op_body) {
			c->op_body = bson_copy(b);
			snprintf(c->op_db, sizeof c->op_db, "%s", db);
			c->op_start_ms = sim_now_ms();
		}
		return 1;
	}
done:
	append_cluster_time(s, c, r);
	if (c->op_body) {
		bson_destroy(c->op_body);
		c->op_body = NULL;
	}
	if (s->log) {
		bson_iter_t ok, code;
		bool okv = bson_iter_init_find(&ok, r, "ok") && bson_iter_as_double(&ok) == 1.0;
		int codev = bson_iter_init_find(&code, r, "code") ? (int)bson_iter_as_int64(&code) : 0;

		sim_logf(s, "request member=%d conn=%lld cmd=%s db=%s ok=%d code=%d", m->id, (long long)c->id, name,
		         db, okv ? 1 : 0, codev);
	}
	if (s->verbose >= 2)
		log_bodies(s, b, r);
	if (req->opcode == SIM_OP_MSG && (req->flags & SIM_MSG_MORE_TO_COME))
		return 2;
	return 0;
}
