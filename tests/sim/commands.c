/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* commands.c: command dispatch and the replies of a replica-set mongod (hello, status, fsync, ...). */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sim.h"

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

static void append_optime(bson_t *b, const char *key, const sim_optime *op)
{
	bson_t d;

	BSON_APPEND_DOCUMENT_BEGIN(b, key, &d);
	BSON_APPEND_TIMESTAMP(&d, "ts", op->t, op->i);
	BSON_APPEND_INT64(&d, "t", op->term);
	bson_append_document_end(b, &d);
}

static void election_id(const sim *s, bson_oid_t *oid)
{
	uint8_t *b = oid->bytes;
	uint64_t t = (uint64_t)s->term;

	/* As the server builds it: max int32 then the term, so it grows with every term. */
	b[0] = 0x7f;
	b[1] = b[2] = b[3] = 0xff;
	for (int i = 0; i < 8; i++)
		b[4 + i] = (uint8_t)(t >> (56 - 8 * i));
}

/* The primary as member idx sees it, or -1. */
static int visible_primary(const sim *s, int idx)
{
	if (s->primary < 0)
		return -1;
	if (s->primary == idx || sim_rs_reachable(s, s->primary))
		return s->primary;
	return -1;
}

static bool truthy(const bson_iter_t *it)
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

static bool get_number(const bson_t *b, const char *key, double *out)
{
	bson_iter_t it;

	if (!bson_iter_init_find(&it, b, key) || !BSON_ITER_HOLDS_NUMBER(&it))
		return false;
	*out = bson_iter_as_double(&it);
	return true;
}

static void build_hello(sim *s, sim_conn *c, const bson_t *req, bool hello_name, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_t hosts, passives, arbiters, lw;
	int nh = 0, np = 0, na = 0, pidx = visible_primary(s, c->member);
	char key[24];
	bson_iter_t it;

	if (bson_iter_init_find(&it, req, "helloOk") && truthy(&it))
		BSON_APPEND_BOOL(r, "helloOk", true);
	BSON_APPEND_ARRAY_BEGIN(r, "hosts", &hosts);
	for (size_t i = 0; i < s->n_members; i++) {
		const sim_member *o = &s->members[i];

		if (o->hidden || o->delay_secs > 0 || o->arbiter || o->priority <= 0)
			continue;
		snprintf(key, sizeof key, "%d", nh++);
		BSON_APPEND_UTF8(&hosts, key, o->host);
	}
	bson_append_array_end(r, &hosts);
	for (size_t i = 0; i < s->n_members; i++) {
		const sim_member *o = &s->members[i];

		if (!o->hidden && o->delay_secs == 0 && !o->arbiter && o->priority <= 0)
			np++;
		if (!o->hidden && o->delay_secs == 0 && o->arbiter)
			na++;
	}
	if (np) {
		np = 0;
		BSON_APPEND_ARRAY_BEGIN(r, "passives", &passives);
		for (size_t i = 0; i < s->n_members; i++) {
			const sim_member *o = &s->members[i];

			if (o->hidden || o->delay_secs > 0 || o->arbiter || o->priority > 0)
				continue;
			snprintf(key, sizeof key, "%d", np++);
			BSON_APPEND_UTF8(&passives, key, o->host);
		}
		bson_append_array_end(r, &passives);
	}
	if (na) {
		na = 0;
		BSON_APPEND_ARRAY_BEGIN(r, "arbiters", &arbiters);
		for (size_t i = 0; i < s->n_members; i++) {
			const sim_member *o = &s->members[i];

			if (o->hidden || o->delay_secs > 0 || !o->arbiter)
				continue;
			snprintf(key, sizeof key, "%d", na++);
			BSON_APPEND_UTF8(&arbiters, key, o->host);
		}
		bson_append_array_end(r, &arbiters);
	}
	BSON_APPEND_UTF8(r, "setName", s->set_name);
	BSON_APPEND_INT32(r, "setVersion", s->config_version);
	BSON_APPEND_BOOL(r, hello_name ? "isWritablePrimary" : "ismaster", m->state == SIM_ST_PRIMARY);
	BSON_APPEND_BOOL(r, "secondary", m->state == SIM_ST_SECONDARY);
	if (pidx >= 0)
		BSON_APPEND_UTF8(r, "primary", s->members[pidx].host);
	if (m->arbiter)
		BSON_APPEND_BOOL(r, "arbiterOnly", true);
	if (!m->arbiter && m->priority <= 0)
		BSON_APPEND_BOOL(r, "passive", true);
	if (m->hidden)
		BSON_APPEND_BOOL(r, "hidden", true);
	if (!m->build_indexes)
		BSON_APPEND_BOOL(r, "buildIndexes", false);
	if (m->delay_secs > 0) {
		if (s->max_wire >= 13)
			BSON_APPEND_INT64(r, "secondaryDelaySecs", m->delay_secs);
		else
			BSON_APPEND_INT64(r, "slaveDelay", m->delay_secs);
	}
	if (!bson_empty(&m->tags))
		BSON_APPEND_DOCUMENT(r, "tags", &m->tags);
	BSON_APPEND_UTF8(r, "me", m->host);
	if (m->state == SIM_ST_PRIMARY) {
		bson_oid_t oid;

		election_id(s, &oid);
		BSON_APPEND_OID(r, "electionId", &oid);
	}
	if (!m->arbiter) {
		sim_optime op = sim_rs_optime(s, m);

		BSON_APPEND_DOCUMENT_BEGIN(r, "lastWrite", &lw);
		append_optime(&lw, "opTime", &op);
		BSON_APPEND_DATE_TIME(&lw, "lastWriteDate", (int64_t)op.t * 1000);
		append_optime(&lw, "majorityOpTime", &s->committed);
		BSON_APPEND_DATE_TIME(&lw, "majorityWriteDate", (int64_t)s->committed.t * 1000);
		bson_append_document_end(r, &lw);
	}
	BSON_APPEND_INT32(r, "maxBsonObjectSize", 16777216);
	BSON_APPEND_INT32(r, "maxMessageSizeBytes", SIM_MAX_MESSAGE);
	BSON_APPEND_INT32(r, "maxWriteBatchSize", 100000);
	BSON_APPEND_DATE_TIME(r, "localTime", sim_now_ms());
	BSON_APPEND_INT32(r, "logicalSessionTimeoutMinutes", 30);
	BSON_APPEND_INT32(r, "connectionId", (int32_t)c->id);
	BSON_APPEND_INT32(r, "minWireVersion", 0);
	BSON_APPEND_INT32(r, "maxWireVersion", s->max_wire);
	BSON_APPEND_BOOL(r, "readOnly", false);
	sim_auth_hello_extras(s, c, req, r);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

static const char *server_version(const sim *s, int32_t v[4])
{
	static const struct {
		int wire;
		const char *ver;
		int32_t a[3];
	} tab[] = {{6, "3.6.23", {3, 6, 23}},   {7, "4.0.28", {4, 0, 28}},   {8, "4.2.25", {4, 2, 25}},
	           {9, "4.4.29", {4, 4, 29}},   {13, "5.0.30", {5, 0, 30}},  {17, "6.0.20", {6, 0, 20}},
	           {21, "7.0.16", {7, 0, 16}},  {25, "8.0.4", {8, 0, 4}},    {27, "8.2.1", {8, 2, 1}}};
	size_t best = 0;

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		if (tab[i].wire <= s->max_wire)
			best = i;
	v[0] = tab[best].a[0];
	v[1] = tab[best].a[1];
	v[2] = tab[best].a[2];
	v[3] = 0;
	return tab[best].ver;
}

static void build_buildinfo(sim *s, bson_t *r)
{
	int32_t v[4];
	const char *ver = server_version(s, v);
	bson_t arr, eng;

	BSON_APPEND_UTF8(r, "version", ver);
	BSON_APPEND_UTF8(r, "gitVersion", "0000000000000000000000000000000000000000");
	BSON_APPEND_ARRAY_BEGIN(r, "versionArray", &arr);
	BSON_APPEND_INT32(&arr, "0", v[0]);
	BSON_APPEND_INT32(&arr, "1", v[1]);
	BSON_APPEND_INT32(&arr, "2", v[2]);
	BSON_APPEND_INT32(&arr, "3", v[3]);
	bson_append_array_end(r, &arr);
	BSON_APPEND_INT32(r, "bits", 64);
	BSON_APPEND_BOOL(r, "debug", false);
	BSON_APPEND_INT32(r, "maxBsonObjectSize", 16777216);
	BSON_APPEND_ARRAY_BEGIN(r, "storageEngines", &eng);
	BSON_APPEND_UTF8(&eng, "0", "wiredTiger");
	bson_append_array_end(r, &eng);
	BSON_APPEND_UTF8(r, "simulator", "mongo-rs-sim");
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

static void build_server_status(sim *s, sim_conn *c, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	int32_t v[4];
	int64_t now = sim_now_ms();
	bson_t d;
	int cur = 0;

	for (sim_conn *k = s->conns; k; k = k->next)
		cur += k->kind == SIM_CONN_MEMBER && k->member == c->member && !k->dead;
	BSON_APPEND_UTF8(r, "host", m->host);
	BSON_APPEND_UTF8(r, "version", server_version(s, v));
	BSON_APPEND_UTF8(r, "process", "mongod");
	BSON_APPEND_INT64(r, "pid", (int64_t)getpid());
	BSON_APPEND_DOUBLE(r, "uptime", (double)((now - m->start_ms) / 1000));
	BSON_APPEND_INT64(r, "uptimeMillis", now - m->start_ms);
	BSON_APPEND_DATE_TIME(r, "localTime", now);
	BSON_APPEND_DOCUMENT_BEGIN(r, "connections", &d);
	BSON_APPEND_INT32(&d, "current", cur);
	BSON_APPEND_INT32(&d, "available", 51200 - cur);
	bson_append_document_end(r, &d);
	BSON_APPEND_DOCUMENT_BEGIN(r, "repl", &d);
	BSON_APPEND_UTF8(&d, "setName", s->set_name);
	BSON_APPEND_INT32(&d, "setVersion", s->config_version);
	BSON_APPEND_BOOL(&d, "isWritablePrimary", m->state == SIM_ST_PRIMARY);
	BSON_APPEND_BOOL(&d, "secondary", m->state == SIM_ST_SECONDARY);
	BSON_APPEND_UTF8(&d, "me", m->host);
	bson_append_document_end(r, &d);
	BSON_APPEND_DOCUMENT_BEGIN(r, "storageEngine", &d);
	BSON_APPEND_UTF8(&d, "name", "wiredTiger");
	BSON_APPEND_BOOL(&d, "supportsCommittedReads", true);
	BSON_APPEND_BOOL(&d, "persistent", true);
	BSON_APPEND_BOOL(&d, "backupCursorOpen", false);
	bson_append_document_end(r, &d);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

static void append_member_optimes(bson_t *d, const sim_optime *op, bool durable_too)
{
	append_optime(d, "optime", op);
	if (durable_too)
		append_optime(d, "optimeDurable", op);
	BSON_APPEND_DATE_TIME(d, "optimeDate", (int64_t)op->t * 1000);
	if (durable_too)
		BSON_APPEND_DATE_TIME(d, "optimeDurableDate", (int64_t)op->t * 1000);
	BSON_APPEND_DATE_TIME(d, "lastAppliedWallTime", op->wall_ms);
	BSON_APPEND_DATE_TIME(d, "lastDurableWallTime", op->wall_ms);
}

static void build_status(sim *s, sim_conn *c, bson_t *r)
{
	sim_member *me = &s->members[c->member];
	int64_t now = sim_now_ms();
	sim_optime myop = sim_rs_optime(s, me);
	int pidx = visible_primary(s, c->member);
	bool syncs = me->state == SIM_ST_SECONDARY && pidx >= 0 && pidx != c->member;
	bson_t d, arr;
	char key[24];

	BSON_APPEND_UTF8(r, "set", s->set_name);
	BSON_APPEND_DATE_TIME(r, "date", now);
	BSON_APPEND_INT32(r, "myState", me->state);
	BSON_APPEND_INT64(r, "term", s->term);
	BSON_APPEND_UTF8(r, "syncSourceHost", syncs ? s->members[pidx].host : "");
	BSON_APPEND_INT32(r, "syncSourceId", syncs ? s->members[pidx].id : -1);
	BSON_APPEND_INT32(r, "heartbeatIntervalMillis", 2000);
	BSON_APPEND_INT32(r, "majorityVoteCount", sim_rs_majority_vote_count(s));
	BSON_APPEND_INT32(r, "writeMajorityCount", sim_rs_write_majority_count(s));
	BSON_APPEND_INT32(r, "votingMembersCount", sim_rs_voting_count(s));
	BSON_APPEND_INT32(r, "writableVotingMembersCount", sim_rs_writable_voting_count(s));
	BSON_APPEND_DOCUMENT_BEGIN(r, "optimes", &d);
	append_optime(&d, "lastCommittedOpTime", &s->committed);
	BSON_APPEND_DATE_TIME(&d, "lastCommittedWallTime", s->committed.wall_ms);
	append_optime(&d, "readConcernMajorityOpTime", &s->committed);
	append_optime(&d, "appliedOpTime", &myop);
	append_optime(&d, "durableOpTime", &myop);
	BSON_APPEND_DATE_TIME(&d, "lastAppliedWallTime", myop.wall_ms);
	BSON_APPEND_DATE_TIME(&d, "lastDurableWallTime", myop.wall_ms);
	bson_append_document_end(r, &d);
	BSON_APPEND_TIMESTAMP(r, "lastStableRecoveryTimestamp", s->committed.t, s->committed.i);
	BSON_APPEND_ARRAY_BEGIN(r, "members", &arr);
	for (size_t i = 0; i < s->n_members; i++) {
		sim_member *o = &s->members[i];
		bool self = (int)i == c->member;
		bool healthy = self || sim_rs_reachable(s, (int)i);
		int st = healthy ? o->state : SIM_ST_DOWN;
		sim_optime op = sim_rs_optime(s, o);
		sim_optime zero = {0, 0, -1, 0};
		bool osyncs = st == SIM_ST_SECONDARY && pidx >= 0 && pidx != (int)i && !o->arbiter;

		snprintf(key, sizeof key, "%zu", i);
		BSON_APPEND_DOCUMENT_BEGIN(&arr, key, &d);
		BSON_APPEND_INT32(&d, "_id", o->id);
		BSON_APPEND_UTF8(&d, "name", o->host);
		BSON_APPEND_DOUBLE(&d, "health", healthy ? 1.0 : 0.0);
		BSON_APPEND_INT32(&d, "state", st);
		BSON_APPEND_UTF8(&d, "stateStr", healthy ? sim_state_str(st) : "(not reachable/healthy)");
		BSON_APPEND_INT32(&d, "uptime", healthy ? (int32_t)((now - o->start_ms) / 1000) : 0);
		if (!o->arbiter)
			append_member_optimes(&d, healthy ? &op : &zero, !self);
		if (!self) {
			BSON_APPEND_DATE_TIME(&d, "lastHeartbeat", now);
			BSON_APPEND_DATE_TIME(&d, "lastHeartbeatRecv", healthy ? now : 0);
			BSON_APPEND_INT64(&d, "pingMs", 0);
			BSON_APPEND_UTF8(&d, "lastHeartbeatMessage", "");
			if (!healthy)
				BSON_APPEND_BOOL(&d, "authenticated", false);
		}
		BSON_APPEND_UTF8(&d, "syncSourceHost", osyncs ? s->members[pidx].host : "");
		BSON_APPEND_INT32(&d, "syncSourceId", osyncs ? s->members[pidx].id : -1);
		BSON_APPEND_UTF8(&d, "infoMessage", "");
		if (st == SIM_ST_PRIMARY) {
			BSON_APPEND_TIMESTAMP(&d, "electionTime", o->election_op.t, o->election_op.i);
			BSON_APPEND_DATE_TIME(&d, "electionDate", o->election_ms);
		}
		BSON_APPEND_INT32(&d, "configVersion", s->config_version);
		BSON_APPEND_INT64(&d, "configTerm", s->term);
		if (self) {
			BSON_APPEND_BOOL(&d, "self", true);
			BSON_APPEND_UTF8(&d, "lastHeartbeatMessage", "");
		}
		bson_append_document_end(&arr, &d);
	}
	bson_append_array_end(r, &arr);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

static void build_config(sim *s, bson_t *r)
{
	bson_t cfg, arr, d, st, gle;
	char key[24];

	BSON_APPEND_DOCUMENT_BEGIN(r, "config", &cfg);
	BSON_APPEND_UTF8(&cfg, "_id", s->set_name);
	BSON_APPEND_INT32(&cfg, "version", s->config_version);
	BSON_APPEND_INT64(&cfg, "term", s->term);
	BSON_APPEND_INT64(&cfg, "protocolVersion", 1);
	BSON_APPEND_BOOL(&cfg, "writeConcernMajorityJournalDefault", true);
	BSON_APPEND_ARRAY_BEGIN(&cfg, "members", &arr);
	for (size_t i = 0; i < s->n_members; i++) {
		const sim_member *o = &s->members[i];

		snprintf(key, sizeof key, "%zu", i);
		BSON_APPEND_DOCUMENT_BEGIN(&arr, key, &d);
		BSON_APPEND_INT32(&d, "_id", o->id);
		BSON_APPEND_UTF8(&d, "host", o->host);
		BSON_APPEND_BOOL(&d, "arbiterOnly", o->arbiter);
		BSON_APPEND_BOOL(&d, "buildIndexes", o->build_indexes);
		BSON_APPEND_BOOL(&d, "hidden", o->hidden);
		BSON_APPEND_DOUBLE(&d, "priority", o->priority);
		BSON_APPEND_DOCUMENT(&d, "tags", &o->tags);
		BSON_APPEND_INT64(&d, s->max_wire >= 13 ? "secondaryDelaySecs" : "slaveDelay", o->delay_secs);
		BSON_APPEND_INT32(&d, "votes", o->votes);
		bson_append_document_end(&arr, &d);
	}
	bson_append_array_end(&cfg, &arr);
	BSON_APPEND_DOCUMENT_BEGIN(&cfg, "settings", &st);
	BSON_APPEND_BOOL(&st, "chainingAllowed", true);
	BSON_APPEND_INT32(&st, "heartbeatIntervalMillis", 2000);
	BSON_APPEND_INT32(&st, "heartbeatTimeoutSecs", 10);
	BSON_APPEND_INT32(&st, "electionTimeoutMillis", 10000);
	BSON_APPEND_INT32(&st, "catchUpTimeoutMillis", -1);
	BSON_APPEND_INT32(&st, "catchUpTakeoverDelayMillis", 30000);
	BSON_APPEND_DOCUMENT_BEGIN(&st, "getLastErrorModes", &gle);
	bson_append_document_end(&st, &gle);
	BSON_APPEND_OID(&st, "replicaSetId", &s->replica_set_id);
	bson_append_document_end(&cfg, &st);
	bson_append_document_end(r, &cfg);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

static void cmd_fsync(sim *s, sim_conn *c, const bson_t *body, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_iter_t it;

	if (bson_iter_init_find(&it, body, "lock") && truthy(&it)) {
		m->lock_count++;
		BSON_APPEND_UTF8(r, "info", "now locked against writes, use db.fsyncUnlock() to unlock");
		BSON_APPEND_INT64(r, "lockCount", m->lock_count);
		BSON_APPEND_UTF8(r, "seeAlso", "http://dochub.mongodb.org/core/fsynccommand");
		BSON_APPEND_DOUBLE(r, "ok", 1.0);
		sim_logf(s, "member %d: fsync lock, lockCount %lld", m->id, (long long)m->lock_count);
		return;
	}
	BSON_APPEND_INT32(r, "numFiles", 1);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

static void cmd_fsync_unlock(sim *s, sim_conn *c, bson_t *r)
{
	sim_member *m = &s->members[c->member];

	if (m->lock_count <= 0) {
		if (s->max_wire >= 21)
			sim_cmd_error(r, 20, "IllegalOperation", "fsyncUnlock called when not locked");
		else
			sim_cmd_error(r, 125, "CommandFailed", "fsyncUnlock called when not locked");
		return;
	}
	m->lock_count--;
	BSON_APPEND_UTF8(r, "info", "fsyncUnlock completed");
	BSON_APPEND_INT64(r, "lockCount", m->lock_count);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
	sim_logf(s, "member %d: fsyncUnlock, lockCount %lld", m->id, (long long)m->lock_count);
	if (m->lock_count == 0)
		sim_rs_unlock_effects(s, c->member);
}

static void cmd_current_op(sim *s, sim_conn *c, bson_t *r)
{
	bson_t arr;

	BSON_APPEND_ARRAY_BEGIN(r, "inprog", &arr);
	bson_append_array_end(r, &arr);
	if (s->members[c->member].lock_count > 0) {
		BSON_APPEND_BOOL(r, "fsyncLock", true);
		BSON_APPEND_UTF8(r, "info", "use db.fsyncUnlock() to terminate the fsync write/snapshot lock");
	}
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

static void cmd_freeze(sim *s, sim_conn *c, const bson_t *body, const char *name, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	double secs;

	if (!get_number(body, name, &secs)) {
		sim_cmd_error(r, 14, "TypeMismatch", "replSetFreeze: the argument must be a number of seconds");
		return;
	}
	if (m->state == SIM_ST_PRIMARY) {
		sim_cmd_error(r, 95, "NotSecondary",
		              "cannot freeze node when primary or running for election. state: Primary");
		return;
	}
	if (secs <= 0) {
		m->frozen_until_ms = 0;
		BSON_APPEND_UTF8(r, "info", "unfreezing");
	} else {
		if (secs > 1e7)
			secs = 1e7;
		m->frozen_until_ms = sim_now_ms() + (int64_t)(secs * 1000);
	}
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

static void cmd_stepdown(sim *s, sim_conn *c, const bson_t *body, const char *name, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	double secs = 60, catchup = 10;
	bson_iter_t it;
	bool force = false;
	int next;
	int64_t now = sim_now_ms();

	if (m->state != SIM_ST_PRIMARY) {
		sim_cmd_error(r, 10107, "NotWritablePrimary", "not primary so can't step down");
		return;
	}
	get_number(body, name, &secs);
	get_number(body, "secondaryCatchUpPeriodSecs", &catchup);
	if (bson_iter_init_find(&it, body, "force"))
		force = truthy(&it);
	if (secs < catchup) {
		sim_cmd_error(r, 2, "BadValue",
		              "stepdown period must be longer than secondaryCatchUpPeriodSecs");
		return;
	}
	next = sim_rs_best_electable(s, c->member, now);
	if (next < 0 && !force) {
		sim_cmd_error(r, 262, "ExceededTimeLimit",
		              "No electable secondaries caught up as of %lld. Please use the replSetStepDown "
		              "command with the argument {force: true} to force node to step down.",
		              (long long)now);
		return;
	}
	sim_rs_stepdown(s, c->member);
	m->frozen_until_ms = now + (int64_t)(secs * 1000);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

/* Does the request allow reads on a secondary ($readPreference not primary, or OP_QUERY secondaryOk)? */
static bool secondary_ok(const sim_msg *req, const bson_t *body)
{
	bson_iter_t it, mode;

	if (req->opcode == SIM_OP_QUERY && (req->flags & 0x4))
		return true;
	if (bson_iter_init_find(&it, body, "$readPreference") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
	    bson_iter_recurse(&it, &mode) && bson_iter_find(&mode, "mode") && BSON_ITER_HOLDS_UTF8(&mode))
		return strcmp(bson_iter_utf8(&mode, NULL), "primary") != 0;
	return false;
}

static int cmd_insert(sim *s, sim_conn *c, const bson_t *body, const char *db, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_iter_t it, docs;
	char ns[512];
	int32_t n = 0;

	if (!bson_iter_init_find(&it, body, "insert") || !BSON_ITER_HOLDS_UTF8(&it)) {
		sim_cmd_error(r, 73, "InvalidNamespace", "insert: collection name must be a string");
		return 0;
	}
	snprintf(ns, sizeof ns, "%s.%s", db, bson_iter_utf8(&it, NULL));
	if (m->state != SIM_ST_PRIMARY || s->primary != c->member) {
		sim_cmd_error(r, 10107, "NotWritablePrimary", "not primary");
		return 0;
	}
	if (m->lock_count > 0)
		return 1;
	if (!bson_iter_init_find(&it, body, "documents") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &docs)) {
		sim_cmd_error(r, 9, "FailedToParse", "insert: 'documents' must be an array");
		return 0;
	}
	while (bson_iter_next(&docs)) {
		const uint8_t *data;
		uint32_t len;
		bson_t d, copy;
		bson_iter_t idit;

		if (!BSON_ITER_HOLDS_DOCUMENT(&docs))
			continue;
		bson_iter_document(&docs, &len, &data);
		if (!bson_init_static(&d, data, len))
			continue;
		bson_init(&copy);
		if (!bson_iter_init_find(&idit, &d, "_id")) {
			bson_oid_t oid;

			bson_oid_init(&oid, NULL);
			BSON_APPEND_OID(&copy, "_id", &oid);
		}
		bson_concat(&copy, &d);
		if (sim_rs_write(s, ns, &copy, false) == 0)
			n++;
		bson_destroy(&copy);
	}
	BSON_APPEND_INT32(r, "n", n);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
	return 0;
}

/* Equality of two BSON values (numbers compare by value). */
static bool value_eq(const bson_iter_t *a, const bson_iter_t *b)
{
	const bson_value_t *va, *vb;

	if (BSON_ITER_HOLDS_NUMBER(a) && BSON_ITER_HOLDS_NUMBER(b))
		return bson_iter_as_double(a) == bson_iter_as_double(b);
	if (bson_iter_type(a) != bson_iter_type(b))
		return false;
	va = bson_iter_value((bson_iter_t *)a);
	vb = bson_iter_value((bson_iter_t *)b);
	switch (va->value_type) {
	case BSON_TYPE_UTF8:
		return va->value.v_utf8.len == vb->value.v_utf8.len &&
		       memcmp(va->value.v_utf8.str, vb->value.v_utf8.str, va->value.v_utf8.len) == 0;
	case BSON_TYPE_OID: return bson_oid_equal(&va->value.v_oid, &vb->value.v_oid);
	case BSON_TYPE_BOOL: return va->value.v_bool == vb->value.v_bool;
	case BSON_TYPE_DATE_TIME: return va->value.v_datetime == vb->value.v_datetime;
	case BSON_TYPE_NULL: return true;
	default: return false;
	}
}

static bool matches(const bson_t *doc, const bson_t *filter)
{
	bson_iter_t f, d;

	if (!filter || !bson_iter_init(&f, filter))
		return true;
	while (bson_iter_next(&f)) {
		if (!bson_iter_init_find(&d, doc, bson_iter_key(&f)) || !value_eq(&f, &d))
			return false;
	}
	return true;
}

static void cmd_find(sim *s, sim_conn *c, const sim_msg *req, const bson_t *body, const char *db, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_iter_t it;
	bson_t cur, batch, filter;
	bool have_filter = false;
	char ns[512], key[16];
	double limit = 0;
	size_t n = 0, bytes = 0;

	if (!bson_iter_init_find(&it, body, "find") || !BSON_ITER_HOLDS_UTF8(&it)) {
		sim_cmd_error(r, 73, "InvalidNamespace", "find: collection name must be a string");
		return;
	}
	snprintf(ns, sizeof ns, "%s.%s", db, bson_iter_utf8(&it, NULL));
	if (m->state != SIM_ST_PRIMARY && m->state != SIM_ST_SECONDARY) {
		sim_cmd_error(r, 13436, "NotPrimaryOrSecondary", "node is not in primary or recovering state");
		return;
	}
	if (m->state == SIM_ST_SECONDARY && !secondary_ok(req, body)) {
		sim_cmd_error(r, 13435, "NotPrimaryNoSecondaryOk", "not primary and secondaryOk=false");
		return;
	}
	if (bson_iter_init_find(&it, body, "filter") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		const uint8_t *data;
		uint32_t len;

		bson_iter_document(&it, &len, &data);
		have_filter = bson_init_static(&filter, data, len);
	}
	get_number(body, "limit", &limit);
	BSON_APPEND_DOCUMENT_BEGIN(r, "cursor", &cur);
	BSON_APPEND_ARRAY_BEGIN(&cur, "firstBatch", &batch);
	for (size_t k = 0; k < m->applied && k < s->n_oplog; k++) {
		const sim_entry *e = &s->oplog[k];

		if (e->noop || !e->ns || strcmp(e->ns, ns) != 0 || !matches(e->doc, have_filter ? &filter : NULL))
			continue;
		if ((limit > 0 && n >= (size_t)limit) || bytes + e->doc->len > 8 * 1024 * 1024)
			break;
		snprintf(key, sizeof key, "%zu", n++);
		BSON_APPEND_DOCUMENT(&batch, key, e->doc);
		bytes += e->doc->len;
	}
	bson_append_array_end(&cur, &batch);
	BSON_APPEND_INT64(&cur, "id", 0);
	BSON_APPEND_UTF8(&cur, "ns", ns);
	bson_append_document_end(r, &cur);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

static const char *const known_cmds[] = {
	"hello",         "isMaster",        "ismaster",    "ping",           "buildInfo",
	"buildinfo",     "serverStatus",    "endSessions", "replSetGetStatus", "replSetGetConfig",
	"fsync",         "fsyncUnlock",     "currentOp",   "insert",         "find",
	"replSetFreeze", "replSetStepDown", "saslStart",   "saslContinue",   NULL};

/* Commands a real mongod runs only against the admin database. */
static bool admin_only(const char *name)
{
	static const char *const admin_cmds[] = {"fsync",         "fsyncUnlock",     "replSetGetStatus",
	                                         "replSetGetConfig", "replSetFreeze", "replSetStepDown",
	                                         "currentOp",     NULL};

	for (const char *const *a = admin_cmds; *a; a++)
		if (strcmp(*a, name) == 0)
			return true;
	return false;
}

static bool is_hello(const char *name)
{
	return strcasecmp(name, "hello") == 0 || strcasecmp(name, "ismaster") == 0;
}

static bool known(const char *name)
{
	if (is_hello(name))
		return true;
	for (const char *const *k = known_cmds; *k; k++)
		if (strcmp(*k, name) == 0)
			return true;
	return false;
}

/* Append the mongo-shell rendering of a document ({ fsync: 1, lock: true, $db: "admin" }) to buf. */
static void shell_doc(const bson_t *b, bool array, char *buf, size_t cap)
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

/* Answer one request; see sim.h for the return values. */
int sim_cmd_dispatch(sim *s, sim_conn *c, const sim_msg *req, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_t inner;
	const bson_t *b = &req->body;
	bson_iter_t it;
	char name[64], db[64];
	uint32_t need = 0;
	int rc = 0;
	bool redispatch = c->redispatch;

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

		if (!dot || strcmp(dot, ".$cmd") != 0) {
			sim_cmd_error(r, 352, "UnsupportedOpQueryCommand",
			              "Unsupported OP_QUERY command: %s. The client driver may require an upgrade.",
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
	if (!known(name)) {
		sim_cmd_error(r, 59, "CommandNotFound", "no such command: '%s'", name);
		goto done;
	}
	if (!redispatch && (rc = fire_arm(s, c, name)) != 0)
		return rc;
	if (admin_only(name) && strcmp(db, "admin") != 0) {
		sim_cmd_error(r, 13, "Unauthorized", "%s may only be run against the admin database.", name);
		goto done;
	}
	if (!sim_auth_allowed(s, c, name, &need)) {
		if (c->user < 0)
			sim_cmd_error(r, 13, "Unauthorized", "command %s requires authentication", name);
		else {
			char shown[768] = "";

			shell_doc(b, false, shown, sizeof shown);
			sim_cmd_error(r, 13, "Unauthorized", "not authorized on %s to execute command %s", db, shown);
		}
		goto done;
	}
	if (is_hello(name))
		build_hello(s, c, b, strcasecmp(name, "hello") == 0, r);
	else if (strcmp(name, "ping") == 0 || strcmp(name, "endSessions") == 0)
		BSON_APPEND_DOUBLE(r, "ok", 1.0);
	else if (strcmp(name, "buildInfo") == 0 || strcmp(name, "buildinfo") == 0)
		build_buildinfo(s, r);
	else if (strcmp(name, "serverStatus") == 0)
		build_server_status(s, c, r);
	else if (strcmp(name, "replSetGetStatus") == 0)
		build_status(s, c, r);
	else if (strcmp(name, "replSetGetConfig") == 0)
		build_config(s, r);
	else if (strcmp(name, "fsync") == 0)
		cmd_fsync(s, c, b, r);
	else if (strcmp(name, "fsyncUnlock") == 0)
		cmd_fsync_unlock(s, c, r);
	else if (strcmp(name, "currentOp") == 0)
		cmd_current_op(s, c, r);
	else if (strcmp(name, "insert") == 0) {
		if ((rc = cmd_insert(s, c, b, db, r)) == 1) {
			c->held = true;
			return 1;
		}
	} else if (strcmp(name, "find") == 0)
		cmd_find(s, c, req, b, db, r);
	else if (strcmp(name, "replSetFreeze") == 0)
		cmd_freeze(s, c, b, name, r);
	else if (strcmp(name, "replSetStepDown") == 0)
		cmd_stepdown(s, c, b, name, r);
	else if (strcmp(name, "saslStart") == 0)
		sim_auth_sasl_start(s, c, b, db, r);
	else if (strcmp(name, "saslContinue") == 0)
		sim_auth_sasl_continue(s, c, b, r);
done:
	if (s->log) {
		bson_iter_t ok, code;
		bool okv = bson_iter_init_find(&ok, r, "ok") && bson_iter_as_double(&ok) == 1.0;
		int codev = bson_iter_init_find(&code, r, "code") ? (int)bson_iter_as_int64(&code) : 0;

		sim_logf(s, "request member=%d conn=%lld cmd=%s db=%s ok=%d code=%d", m->id, (long long)c->id, name,
		         db, okv ? 1 : 0, codev);
	}
	if (req->opcode == SIM_OP_MSG && (req->flags & SIM_MSG_MORE_TO_COME))
		return 2;
	return 0;
}
