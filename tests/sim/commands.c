/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* commands.c: command dispatch and the replies of a replica-set mongod (hello, status, fsync, ...). */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sys/utsname.h>

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

	/* helloOk came with hello (4.4.2, 5.0): older servers never echo it. */
	if (s->max_wire >= 9 && bson_iter_init_find(&it, req, "helloOk") && truthy(&it))
		BSON_APPEND_BOOL(r, "helloOk", true);
	/* 4.4 added topologyVersion to every hello (the awaitable hello's key). */
	if (s->max_wire >= 9) {
		bson_t tv;

		BSON_APPEND_DOCUMENT_BEGIN(r, "topologyVersion", &tv);
		BSON_APPEND_OID(&tv, "processId", &m->tv_process_id);
		BSON_APPEND_INT64(&tv, "counter", m->tv_counter);
		bson_append_document_end(r, &tv);
	}
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
	BSON_APPEND_INT32(&st, "electionTimeoutMillis", s->election_timeout_ms);
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

static bool id_taken(const sim *s, const sim_member *m, const char *ns, const bson_iter_t *id);
static void append_dup_error(bson_t *arr, int32_t index, const char *ns, const bson_iter_t *id);

/* insert: every document gets an _id; a duplicate _id is a write error 11000 (ordered: the batch stops). */
static int cmd_insert(sim *s, sim_conn *c, const bson_t *body, const char *db, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_iter_t it, docs;
	char ns[512];
	int32_t n = 0;
	bool ordered = true;
	bson_t errors;

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
	if (bson_iter_init_find(&it, body, "ordered"))
		ordered = truthy(&it);
	bson_init(&errors);
	for (int32_t index = 0; bson_iter_next(&docs); index++) {
		const uint8_t *data;
		uint32_t len;
		bson_t d, copy;
		bson_iter_t idit;

		if (!BSON_ITER_HOLDS_DOCUMENT(&docs))
			continue;
		bson_iter_document(&docs, &len, &data);
		if (!bson_init_static(&d, data, len))
			continue;
		if (bson_iter_init_find(&idit, &d, "_id") && id_taken(s, m, ns, &idit)) {
			append_dup_error(&errors, index, ns, &idit);
			if (ordered)
				break;
			continue;
		}
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
	if (!bson_empty(&errors))
		BSON_APPEND_ARRAY(r, "writeErrors", &errors);
	bson_destroy(&errors);
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

/* Is there an applied document in ns whose _id equals id's value? */
static bool id_taken(const sim *s, const sim_member *m, const char *ns, const bson_iter_t *id)
{
	for (size_t k = 0; k < m->applied && k < s->n_oplog; k++) {
		const sim_entry *e = &s->oplog[k];
		bson_iter_t other;

		if (e->noop || !e->ns || strcmp(e->ns, ns) != 0)
			continue;
		if (bson_iter_init_find(&other, e->doc, "_id") && value_eq(id, &other))
			return true;
	}
	return false;
}

/* A writeErrors entry for a duplicate _id, worded as the server words it. */
static void append_dup_error(bson_t *arr, int32_t index, const char *ns, const bson_iter_t *id)
{
	bson_t e, kp, kv;
	char key[16], shown[512] = "";

	bson_init(&kv);
	bson_append_iter(&kv, "_id", -1, id);
	shell_doc(&kv, false, shown, sizeof shown);
	snprintf(key, sizeof key, "%u", bson_count_keys(arr));
	BSON_APPEND_DOCUMENT_BEGIN(arr, key, &e);
	BSON_APPEND_INT32(&e, "index", index);
	BSON_APPEND_INT32(&e, "code", 11000);
	BSON_APPEND_DOCUMENT_BEGIN(&e, "keyPattern", &kp);
	BSON_APPEND_INT32(&kp, "_id", 1);
	bson_append_document_end(&e, &kp);
	BSON_APPEND_DOCUMENT(&e, "keyValue", &kv);
	{
		char msg[700];

		snprintf(msg, sizeof msg, "E11000 duplicate key error collection: %s index: _id_ dup key: %s", ns, shown);
		BSON_APPEND_UTF8(&e, "errmsg", msg);
	}
	bson_append_document_end(arr, &e);
	bson_destroy(&kv);
}

/* connectionStatus: who is authenticated on this connection (no authentication needed). */
static void cmd_connection_status(sim *s, sim_conn *c, const bson_t *body, bson_t *r)
{
	bson_t ai, users, roles, privs, u;
	bson_iter_t it;
	bool show_privs = bson_iter_init_find(&it, body, "showPrivileges") && truthy(&it);

	BSON_APPEND_DOCUMENT_BEGIN(r, "authInfo", &ai);
	BSON_APPEND_ARRAY_BEGIN(&ai, "authenticatedUsers", &users);
	if (c->user >= 0) {
		BSON_APPEND_DOCUMENT_BEGIN(&users, "0", &u);
		BSON_APPEND_UTF8(&u, "user", s->users[c->user].name);
		BSON_APPEND_UTF8(&u, "db", s->users[c->user].db);
		bson_append_document_end(&users, &u);
	}
	bson_append_array_end(&ai, &users);
	if (c->user >= 0 && s->users[c->user].roles)
		BSON_APPEND_ARRAY(&ai, "authenticatedUserRoles", s->users[c->user].roles);
	else {
		BSON_APPEND_ARRAY_BEGIN(&ai, "authenticatedUserRoles", &roles);
		bson_append_array_end(&ai, &roles);
	}
	if (show_privs) {
		/* The simulator's actions are not scoped: show them all on the cluster resource. */
		static const char *const names[] = {
			"replSetGetStatus", "replSetGetConfig", "serverStatus", "inprog", "buildInfo", "fsync", "unlock",
			"replSetStateChange", "insert", "find", "getParameter", "getLog", "listDatabases", "hostInfo",
			"getCmdLineOpts"};
		bson_t p, res, acts;
		uint32_t have = c->user >= 0 ? s->users[c->user].actions : 0;
		int n = 0;
		char key[16];

		BSON_APPEND_ARRAY_BEGIN(&ai, "authenticatedUserPrivileges", &privs);
		if (have) {
			BSON_APPEND_DOCUMENT_BEGIN(&privs, "0", &p);
			BSON_APPEND_DOCUMENT_BEGIN(&p, "resource", &res);
			BSON_APPEND_BOOL(&res, "cluster", true);
			bson_append_document_end(&p, &res);
			BSON_APPEND_ARRAY_BEGIN(&p, "actions", &acts);
			for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
				if (have & (1u << i)) {
					snprintf(key, sizeof key, "%d", n++);
					BSON_APPEND_UTF8(&acts, key, names[i]);
				}
			bson_append_array_end(&p, &acts);
			bson_append_document_end(&privs, &p);
		}
		bson_append_array_end(&ai, &privs);
	}
	bson_append_document_end(r, &ai);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

/* getParameter: the few parameters clients ask for; anything else is "no option found to get". */
static void cmd_get_parameter(sim *s, const bson_t *body, bson_t *r)
{
	int32_t v[4];
	char fcv[16];
	bool all = false;
	int found = 0;
	bson_iter_t it;

	server_version(s, v);
	snprintf(fcv, sizeof fcv, "%d.%d", v[0], v[1]);
	if (bson_iter_init(&it, body) && bson_iter_next(&it)) {
		if (BSON_ITER_HOLDS_UTF8(&it))
			all = strcmp(bson_iter_utf8(&it, NULL), "*") == 0;
		else if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
			bson_iter_t o;

			all = bson_iter_recurse(&it, &o) && bson_iter_find(&o, "allParameters") && truthy(&o);
		}
	}
	if (all || bson_has_field(body, "authenticationMechanisms")) {
		bson_t a;

		BSON_APPEND_ARRAY_BEGIN(r, "authenticationMechanisms", &a);
		BSON_APPEND_UTF8(&a, "0", "SCRAM-SHA-1");
		BSON_APPEND_UTF8(&a, "1", "SCRAM-SHA-256");
		bson_append_array_end(r, &a);
		found++;
	}
	if (all || bson_has_field(body, "featureCompatibilityVersion")) {
		bson_t f;

		BSON_APPEND_DOCUMENT_BEGIN(r, "featureCompatibilityVersion", &f);
		BSON_APPEND_UTF8(&f, "version", fcv);
		bson_append_document_end(r, &f);
		found++;
	}
	if (all || bson_has_field(body, "logLevel")) {
		BSON_APPEND_INT32(r, "logLevel", 0);
		found++;
	}
	if (all || bson_has_field(body, "quiet")) {
		BSON_APPEND_BOOL(r, "quiet", false);
		found++;
	}
	if (!found) {
		sim_cmd_error(r, 72, "InvalidOptions", "no option found to get");
		return;
	}
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

/* getLog: the simulator keeps no server log lines, so both logs are empty. */
static void cmd_get_log(const bson_t *body, bson_t *r)
{
	bson_iter_t it;
	const char *name;
	bson_t a;

	if (!bson_iter_init_find(&it, body, "getLog") || !BSON_ITER_HOLDS_UTF8(&it)) {
		sim_cmd_error(r, 14, "TypeMismatch", "Argument to getLog must be of type String");
		return;
	}
	name = bson_iter_utf8(&it, NULL);
	if (strcmp(name, "*") == 0) {
		BSON_APPEND_ARRAY_BEGIN(r, "names", &a);
		BSON_APPEND_UTF8(&a, "0", "global");
		BSON_APPEND_UTF8(&a, "1", "startupWarnings");
		bson_append_array_end(r, &a);
	} else if (strcmp(name, "global") == 0 || strcmp(name, "startupWarnings") == 0) {
		BSON_APPEND_INT64(r, "totalLinesWritten", 0);
		BSON_APPEND_ARRAY_BEGIN(r, "log", &a);
		bson_append_array_end(r, &a);
	} else {
		sim_cmd_error(r, 2, "BadValue", "no RamLog named: %s", name);
		return;
	}
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

/* listDatabases: admin, config, local and every database member m has applied an insert to. */
static void cmd_list_databases(sim *s, sim_conn *c, const bson_t *body, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	char names[64][64];
	int64_t sizes[64];
	size_t n = 0;
	bson_iter_t it;
	bool name_only = bson_iter_init_find(&it, body, "nameOnly") && truthy(&it);
	bool see = sim_auth_has(s, c, SIM_ACT_LIST_DATABASES) || sim_auth_has(s, c, SIM_ACT_FIND);
	bson_t filter, arr, d;
	bool have_filter = false;
	int64_t total = 0;
	int shown = 0;

	if (bson_iter_init_find(&it, body, "filter") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		const uint8_t *data;
		uint32_t len;

		bson_iter_document(&it, &len, &data);
		have_filter = bson_init_static(&filter, data, len);
	}
	snprintf(names[n], sizeof names[n], "admin");
	sizes[n++] = 40960;
	snprintf(names[n], sizeof names[n], "config");
	sizes[n++] = 12288;
	snprintf(names[n], sizeof names[n], "local");
	sizes[n++] = 40960;
	for (size_t k = 0; k < m->applied && k < s->n_oplog; k++) {
		const sim_entry *e = &s->oplog[k];
		const char *dot;
		size_t l, j;

		if (e->noop || !e->ns || !(dot = strchr(e->ns, '.')))
			continue;
		l = (size_t)(dot - e->ns);
		for (j = 0; j < n; j++)
			if (strlen(names[j]) == l && strncmp(names[j], e->ns, l) == 0)
				break;
		if (j == n) {
			if (n == sizeof sizes / sizeof sizes[0] || l >= sizeof names[0])
				continue;
			snprintf(names[n], sizeof names[n], "%.*s", (int)l, e->ns);
			sizes[n++] = 8192;
		}
		sizes[j] += e->doc->len;
	}
	/* sorted by name, as the server lists them */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char t[64];
			int64_t z = sizes[j];

			memcpy(t, names[j], sizeof t);
			memcpy(names[j], names[j - 1], sizeof t);
			memcpy(names[j - 1], t, sizeof t);
			sizes[j] = sizes[j - 1];
			sizes[j - 1] = z;
		}
	BSON_APPEND_ARRAY_BEGIN(r, "databases", &arr);
	for (size_t i = 0; see && i < n; i++) {
		char key[16];

		bson_init(&d);
		BSON_APPEND_UTF8(&d, "name", names[i]);
		if (!name_only) {
			sizes[i] = (sizes[i] + 4095) / 4096 * 4096;
			BSON_APPEND_INT64(&d, "sizeOnDisk", sizes[i]);
			BSON_APPEND_BOOL(&d, "empty", false);
		}
		if (!have_filter || matches(&d, &filter)) {
			snprintf(key, sizeof key, "%d", shown++);
			BSON_APPEND_DOCUMENT(&arr, key, &d);
			total += sizes[i];
		}
		bson_destroy(&d);
	}
	bson_append_array_end(r, &arr);
	if (!name_only) {
		BSON_APPEND_INT64(r, "totalSize", total);
		BSON_APPEND_INT64(r, "totalSizeMb", total / (1024 * 1024));
	}
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

/* getCmdLineOpts: the options a mongod serving this member would have been started with. */
static void cmd_get_cmd_line_opts(sim *s, sim_conn *c, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_t argv, parsed, net, repl, sec, tls;
	char port[16];
	int n = 0;
	char key[16];
	const char *args[12];

	snprintf(port, sizeof port, "%d", m->port);
	args[n++] = "mongod";
	args[n++] = "--replSet";
	args[n++] = s->set_name;
	args[n++] = "--bind_ip";
	args[n++] = "127.0.0.1";
	args[n++] = "--port";
	args[n++] = port;
	if (s->auth)
		args[n++] = "--auth";
	if (s->tls) {
		args[n++] = "--tlsMode";
		args[n++] = "requireTLS";
	}
	BSON_APPEND_ARRAY_BEGIN(r, "argv", &argv);
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof key, "%d", i);
		BSON_APPEND_UTF8(&argv, key, args[i]);
	}
	bson_append_array_end(r, &argv);
	BSON_APPEND_DOCUMENT_BEGIN(r, "parsed", &parsed);
	BSON_APPEND_DOCUMENT_BEGIN(&parsed, "net", &net);
	BSON_APPEND_UTF8(&net, "bindIp", "127.0.0.1");
	BSON_APPEND_INT32(&net, "port", m->port);
	if (s->tls) {
		BSON_APPEND_DOCUMENT_BEGIN(&net, "tls", &tls);
		BSON_APPEND_UTF8(&tls, "mode", "requireTLS");
		bson_append_document_end(&net, &tls);
	}
	bson_append_document_end(&parsed, &net);
	BSON_APPEND_DOCUMENT_BEGIN(&parsed, "replication", &repl);
	BSON_APPEND_UTF8(&repl, "replSet", s->set_name);
	bson_append_document_end(&parsed, &repl);
	if (s->auth) {
		BSON_APPEND_DOCUMENT_BEGIN(&parsed, "security", &sec);
		BSON_APPEND_UTF8(&sec, "authorization", "enabled");
		bson_append_document_end(&parsed, &sec);
	}
	bson_append_document_end(r, &parsed);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

/* hostInfo: the machine the simulator runs on. */
static void cmd_host_info(sim *s, sim_conn *c, bson_t *r)
{
	struct utsname u;
	bson_t sys, os, extra;
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE), cores = sysconf(_SC_NPROCESSORS_ONLN);
	int64_t mem_mb = pages > 0 && psize > 0 ? (int64_t)pages * psize / (1024 * 1024) : 0;

	if (uname(&u) != 0)
		memset(&u, 0, sizeof u);
	BSON_APPEND_DOCUMENT_BEGIN(r, "system", &sys);
	BSON_APPEND_DATE_TIME(&sys, "currentTime", sim_now_ms());
	BSON_APPEND_UTF8(&sys, "hostname", s->members[c->member].host);
	BSON_APPEND_INT32(&sys, "cpuAddrSize", (int32_t)(sizeof(void *) * 8));
	BSON_APPEND_INT64(&sys, "memSizeMB", mem_mb);
	BSON_APPEND_INT64(&sys, "memLimitMB", mem_mb);
	BSON_APPEND_INT32(&sys, "numCores", cores > 0 ? (int32_t)cores : 1);
	BSON_APPEND_UTF8(&sys, "cpuArch", u.machine);
	BSON_APPEND_BOOL(&sys, "numaEnabled", false);
	bson_append_document_end(r, &sys);
	BSON_APPEND_DOCUMENT_BEGIN(r, "os", &os);
	BSON_APPEND_UTF8(&os, "type", u.sysname[0] ? u.sysname : "Linux");
	BSON_APPEND_UTF8(&os, "name", "mongo-rs-sim");
	BSON_APPEND_UTF8(&os, "version", u.release);
	bson_append_document_end(r, &os);
	BSON_APPEND_DOCUMENT_BEGIN(r, "extra", &extra);
	BSON_APPEND_UTF8(&extra, "versionString", u.version);
	BSON_APPEND_INT64(&extra, "pageSize", psize > 0 ? psize : 4096);
	bson_append_document_end(r, &extra);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

/* A growing list of owned documents (an aggregation's stream). */
typedef struct doc_list {
	bson_t **v;
	size_t n, cap;
} doc_list;

static void docs_push(doc_list *l, bson_t *d)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		bson_t **nv = realloc(l->v, cap * sizeof *nv);

		if (!nv) {
			bson_destroy(d);
			return;
		}
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = d;
}

static void docs_clear(doc_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		bson_destroy(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* Keep only the documents for which keep[i] is true (others are freed). */
static void docs_filter(doc_list *l, const bool *keep)
{
	size_t w = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (keep[i])
			l->v[w++] = l->v[i];
		else
			bson_destroy(l->v[i]);
	}
	l->n = w;
}

static bool sub_doc(const bson_iter_t *it, bson_t *out)
{
	const uint8_t *data;
	uint32_t len;

	if (!BSON_ITER_HOLDS_DOCUMENT(it))
		return false;
	bson_iter_document(it, &len, &data);
	return bson_init_static(out, data, len);
}

/* $group with a constant _id and {$sum: NUMBER} accumulators (what countDocuments sends). */
static int stage_group(doc_list *l, const bson_iter_t *spec, bson_t *r)
{
	bson_t g, *out;
	bson_iter_t f, acc;

	if (!sub_doc(spec, &g) || !bson_iter_init(&f, &g)) {
		sim_cmd_error(r, 15947, "Location15947", "a group's fields must be specified in an object");
		return -1;
	}
	out = bson_new();
	while (bson_iter_next(&f)) {
		const char *k = bson_iter_key(&f);

		if (strcmp(k, "_id") == 0) {
			if (BSON_ITER_HOLDS_UTF8(&f) && bson_iter_utf8(&f, NULL)[0] == '$')
				goto unsupported;
			bson_append_iter(out, "_id", -1, &f);
			continue;
		}
		if (!BSON_ITER_HOLDS_DOCUMENT(&f) || !bson_iter_recurse(&f, &acc) || !bson_iter_next(&acc) ||
		    strcmp(bson_iter_key(&acc), "$sum") != 0 || !BSON_ITER_HOLDS_NUMBER(&acc))
			goto unsupported;
		if (BSON_ITER_HOLDS_DOUBLE(&acc)) {
			BSON_APPEND_DOUBLE(out, k, bson_iter_double(&acc) * (double)l->n);
		} else {
			int64_t sum = bson_iter_as_int64(&acc) * (int64_t)l->n;

			if (sum >= INT32_MIN && sum <= INT32_MAX)
				BSON_APPEND_INT32(out, k, (int32_t)sum);
			else
				BSON_APPEND_INT64(out, k, sum);
		}
	}
	if (!bson_has_field(out, "_id")) {
		bson_destroy(out);
		sim_cmd_error(r, 15955, "Location15955", "a group specification must include an _id");
		return -1;
	}
	/* no input documents: no group at all (countDocuments then reads 0) */
	if (l->n > 0) {
		docs_clear(l);
		docs_push(l, out);
	} else
		bson_destroy(out);
	return 0;
unsupported:
	bson_destroy(out);
	sim_cmd_error(r, 2, "BadValue", "mongo-rs-sim: $group supports only a constant _id and {$sum: NUMBER}");
	return -1;
}

/* One operation of connection k as $currentOp shows it: the request it runs (body, on db), a request
 * held by the fsync lock, or nothing (an idle connection). */
static bson_t *op_doc(sim *s, const sim_conn *k, const bson_t *body, const char *db, int64_t since_ms, bool held)
{
	bson_t *d = bson_new(), shown;
	char desc[32], stamp[40], ns[256];
	time_t now = time(NULL);
	struct tm tm;
	int64_t running = sim_now_ms() - since_ms;
	const char *cmd = "";
	bson_iter_t it;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S.000+00:00", &tm);
	snprintf(desc, sizeof desc, "conn%lld", (long long)k->id);
	if (body && bson_iter_init(&it, body) && bson_iter_next(&it))
		cmd = bson_iter_key(&it);
	BSON_APPEND_UTF8(d, "type", "op");
	BSON_APPEND_UTF8(d, "host", s->members[k->member].host);
	BSON_APPEND_UTF8(d, "desc", desc);
	BSON_APPEND_INT64(d, "connectionId", k->id);
	if (k->user >= 0) {
		bson_t users, u;

		BSON_APPEND_ARRAY_BEGIN(d, "effectiveUsers", &users);
		BSON_APPEND_DOCUMENT_BEGIN(&users, "0", &u);
		BSON_APPEND_UTF8(&u, "user", s->users[k->user].name);
		BSON_APPEND_UTF8(&u, "db", s->users[k->user].db);
		bson_append_document_end(&users, &u);
		bson_append_array_end(d, &users);
	}
	BSON_APPEND_BOOL(d, "active", body != NULL);
	BSON_APPEND_UTF8(d, "currentOpTime", stamp);
	if (!body)
		return d;
	BSON_APPEND_INT64(d, "opid", k->id * 1000 + (int64_t)(since_ms % 1000));
	BSON_APPEND_INT64(d, "secs_running", running / 1000);
	BSON_APPEND_INT64(d, "microsecs_running", running * 1000);
	if (strcmp(cmd, "insert") == 0 && bson_iter_init_find(&it, body, "insert") && BSON_ITER_HOLDS_UTF8(&it)) {
		BSON_APPEND_UTF8(d, "op", "insert");
		snprintf(ns, sizeof ns, "%s.%s", db, bson_iter_utf8(&it, NULL));
	} else {
		BSON_APPEND_UTF8(d, "op", "command");
		if (strcmp(cmd, "aggregate") == 0 && bson_iter_init_find(&it, body, "aggregate") && BSON_ITER_HOLDS_UTF8(&it))
			snprintf(ns, sizeof ns, "%s.%s", db, bson_iter_utf8(&it, NULL));
		else
			snprintf(ns, sizeof ns, "%s.$cmd%s", db, strcmp(cmd, "aggregate") == 0 ? ".aggregate" : "");
	}
	BSON_APPEND_UTF8(d, "ns", ns);
	bson_init(&shown);
	bson_copy_to_excluding_noinit(body, &shown, "lsid", "$clusterTime", "documents", NULL);
	BSON_APPEND_DOCUMENT(d, "command", &shown);
	bson_destroy(&shown);
	BSON_APPEND_INT32(d, "numYields", 0);
	if (held) {
		bson_t locks;

		BSON_APPEND_DOCUMENT_BEGIN(d, "locks", &locks);
		BSON_APPEND_UTF8(&locks, "Global", "w");
		bson_append_document_end(d, &locks);
	}
	BSON_APPEND_BOOL(d, "waitingForLock", held);
	return d;
}

/* The operations on c's member: c's own request (body), every held or waiting request of other
 * connections, and (idle) the connections doing nothing.  Without all_users, only c's user's. */
static void collect_ops(sim *s, sim_conn *c, const bson_t *body, const char *db, bool all_users, bool idle,
                        doc_list *l)
{
	for (sim_conn *k = s->conns; k; k = k->next) {
		if (k->kind != SIM_CONN_MEMBER || k->member != c->member || k->dead)
			continue;
		if (!all_users && s->auth && k->user != c->user)
			continue;
		if (k == c)
			docs_push(l, op_doc(s, k, body, db, sim_now_ms(), false));
		else if (k->op_body)
			docs_push(l, op_doc(s, k, k->op_body, k->op_db, k->op_start_ms, k->held && !k->awaiting));
		else if (idle)
			docs_push(l, op_doc(s, k, NULL, NULL, 0, false));
	}
}

/* currentOp: {currentOp: 1, $all, $ownOps, FILTER...}; fsyncLock and info while the member is locked. */
static void cmd_current_op(sim *s, sim_conn *c, const bson_t *body, bson_t *r)
{
	bson_t arr, filter = BSON_INITIALIZER;
	bson_iter_t it;
	bool all = false, own = false, first = true;
	doc_list l = {0};
	char key[16];
	size_t n = 0;

	if (bson_iter_init(&it, body))
		while (bson_iter_next(&it)) {
			const char *k = bson_iter_key(&it);

			if (first) {
				first = false;
				continue;
			}
			if (strcmp(k, "$all") == 0)
				all = truthy(&it);
			else if (strcmp(k, "$ownOps") == 0)
				own = truthy(&it);
			else if (!sim_args_generic(k))
				bson_append_iter(&filter, k, -1, &it);
		}
	collect_ops(s, c, body, "admin", !own, all, &l);
	BSON_APPEND_ARRAY_BEGIN(r, "inprog", &arr);
	for (size_t i = 0; i < l.n; i++) {
		bson_iter_t a;

		if (!all && (!bson_iter_init_find(&a, l.v[i], "active") || !bson_iter_as_bool(&a)))
			continue;
		if (!matches(l.v[i], &filter))
			continue;
		snprintf(key, sizeof key, "%zu", n++);
		BSON_APPEND_DOCUMENT(&arr, key, l.v[i]);
	}
	bson_append_array_end(r, &arr);
	docs_clear(&l);
	bson_destroy(&filter);
	if (s->members[c->member].lock_count > 0) {
		BSON_APPEND_BOOL(r, "fsyncLock", true);
		BSON_APPEND_UTF8(r, "info", "use db.fsyncUnlock() to terminate the fsync write/snapshot lock");
	}
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

static void not_authorized(bson_t *r, const char *db, const bson_t *body)
{
	char shown[768] = "";

	shell_doc(body, false, shown, sizeof shown);
	sim_cmd_error(r, 13, "Unauthorized", "not authorized on %s to execute command %s", db, shown);
}

/* aggregate: $match (equality), $limit, $skip, $count, $group (counting) over a collection's applied
 * inserts or local.system.replset; {aggregate: 1} on admin with a leading $currentOp. */
static void cmd_aggregate(sim *s, sim_conn *c, const sim_msg *req, const bson_t *body, const char *db, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	doc_list l = {0};
	bson_iter_t it, pipe, st;
	bson_t cur, batch;
	char ns[512], key[24];
	const char *coll = NULL;
	bool first = true;
	size_t bytes = 0, n = 0;

	if (!bson_iter_init_find(&it, body, "aggregate"))
		return;
	if (BSON_ITER_HOLDS_UTF8(&it))
		coll = bson_iter_utf8(&it, NULL);
	else if (!BSON_ITER_HOLDS_NUMBER(&it) || bson_iter_as_int64(&it) != 1) {
		sim_cmd_error(r, 73, "InvalidNamespace", "Invalid value for aggregate: must be a collection name or 1");
		return;
	}
	if (!bson_iter_init_find(&pipe, body, "pipeline") || !BSON_ITER_HOLDS_ARRAY(&pipe) ||
	    !bson_iter_recurse(&pipe, &st)) {
		sim_cmd_error(r, 14, "TypeMismatch", "'pipeline' option must be specified as an array");
		return;
	}
	if (!bson_has_field(body, "cursor") && !bson_has_field(body, "explain")) {
		sim_cmd_error(r, 9, "FailedToParse",
		              "The 'cursor' option is required, except for aggregate with the explain argument");
		return;
	}
	if (m->state != SIM_ST_PRIMARY && m->state != SIM_ST_SECONDARY) {
		sim_cmd_error(r, 13436, "NotPrimaryOrSecondary", "node is not in primary or recovering state");
		return;
	}
	if (m->state == SIM_ST_SECONDARY && !secondary_ok(req, body)) {
		sim_cmd_error(r, 13435, "NotPrimaryNoSecondaryOk", "not primary and secondaryOk=false");
		return;
	}
	if (coll)
		snprintf(ns, sizeof ns, "%s.%s", db, coll);
	else
		snprintf(ns, sizeof ns, "%s.$cmd.aggregate", db);
	if (coll && strcmp(ns, "local.system.replset") == 0) {
		bson_t cfg;
		bson_iter_t ci;

		if (!sim_auth_has(s, c, SIM_ACT_RS_CONFIG) && !sim_auth_has(s, c, SIM_ACT_FIND)) {
			not_authorized(r, db, body);
			return;
		}
		bson_init(&cfg);
		build_config(s, &cfg);
		if (bson_iter_init_find(&ci, &cfg, "config") && BSON_ITER_HOLDS_DOCUMENT(&ci)) {
			bson_t sub;

			if (sub_doc(&ci, &sub))
				docs_push(&l, bson_copy(&sub));
		}
		bson_destroy(&cfg);
	} else if (coll) {
		if (!sim_auth_has(s, c, SIM_ACT_FIND)) {
			not_authorized(r, db, body);
			return;
		}
		for (size_t k = 0; k < m->applied && k < s->n_oplog; k++) {
			const sim_entry *e = &s->oplog[k];

			if (!e->noop && e->ns && strcmp(e->ns, ns) == 0)
				docs_push(&l, bson_copy(e->doc));
		}
	}
	while (bson_iter_next(&st)) {
		bson_t stage;
		bson_iter_t si;
		const char *name;

		if (!sub_doc(&st, &stage) || !bson_iter_init(&si, &stage) || !bson_iter_next(&si)) {
			sim_cmd_error(r, 40323, "Location40323",
			              "A pipeline stage specification object must contain exactly one field.");
			goto out;
		}
		name = bson_iter_key(&si);
		if (strcmp(name, "$currentOp") == 0) {
			bson_t opts;
			bson_iter_t o;
			bool all_users = false;

			if (!first || coll || strcmp(db, "admin") != 0) {
				sim_cmd_error(r, 73, "InvalidNamespace",
				              "$currentOp must be run against the 'admin' database with {aggregate: 1}");
				goto out;
			}
			bool idle = false;

			if (sub_doc(&si, &opts) && bson_iter_init_find(&o, &opts, "allUsers"))
				all_users = truthy(&o);
			if (sub_doc(&si, &opts) && bson_iter_init_find(&o, &opts, "idleConnections"))
				idle = truthy(&o);
			if (all_users && !sim_auth_has(s, c, SIM_ACT_INPROG)) {
				not_authorized(r, db, body);
				goto out;
			}
			collect_ops(s, c, body, db, all_users, idle, &l);
		} else if (!coll && first) {
			sim_cmd_error(r, 73, "InvalidNamespace",
			              "{aggregate: 1} is not valid for '%s'; a collection is required.", name);
			goto out;
		} else if (strcmp(name, "$match") == 0) {
			bson_t f;
			bool *keep;

			if (!sub_doc(&si, &f)) {
				sim_cmd_error(r, 15959, "Location15959", "the match filter must be an expression in an object");
				goto out;
			}
			keep = calloc(l.n ? l.n : 1, sizeof *keep);
			if (!keep)
				goto out;
			for (size_t i = 0; i < l.n; i++)
				keep[i] = matches(l.v[i], &f);
			docs_filter(&l, keep);
			free(keep);
		} else if (strcmp(name, "$limit") == 0 || strcmp(name, "$skip") == 0) {
			bool limit = name[1] == 'l';
			int64_t v = BSON_ITER_HOLDS_NUMBER(&si) ? bson_iter_as_int64(&si) : -1;
			bool *keep;

			if (v < (limit ? 1 : 0)) {
				sim_cmd_error(r, limit ? 15958 : 15956, limit ? "Location15958" : "Location15956",
				              limit ? "the limit must be positive" : "the number to skip cannot be negative");
				goto out;
			}
			keep = calloc(l.n ? l.n : 1, sizeof *keep);
			if (!keep)
				goto out;
			for (size_t i = 0; i < l.n; i++)
				keep[i] = limit ? (int64_t)i < v : (int64_t)i >= v;
			docs_filter(&l, keep);
			free(keep);
		} else if (strcmp(name, "$count") == 0) {
			bson_t *d;

			if (!BSON_ITER_HOLDS_UTF8(&si) || !bson_iter_utf8(&si, NULL)[0]) {
				sim_cmd_error(r, 40156, "Location40156", "the count field must be a non-empty string");
				goto out;
			}
			d = bson_new();
			BSON_APPEND_INT32(d, bson_iter_utf8(&si, NULL), (int32_t)l.n);
			if (l.n) {
				docs_clear(&l);
				docs_push(&l, d);
			} else
				bson_destroy(d);
		} else if (strcmp(name, "$group") == 0) {
			if (stage_group(&l, &si, r) != 0)
				goto out;
		} else {
			sim_cmd_error(r, 40324, "Location40324", "Unrecognized pipeline stage name: '%s'", name);
			goto out;
		}
		first = false;
	}
	if (!coll && first) {
		sim_cmd_error(r, 73, "InvalidNamespace", "{aggregate: 1} is not valid for an empty pipeline.");
		goto out;
	}
	BSON_APPEND_DOCUMENT_BEGIN(r, "cursor", &cur);
	BSON_APPEND_ARRAY_BEGIN(&cur, "firstBatch", &batch);
	for (size_t i = 0; i < l.n && bytes + l.v[i]->len <= 8 * 1024 * 1024; i++) {
		snprintf(key, sizeof key, "%zu", n++);
		BSON_APPEND_DOCUMENT(&batch, key, l.v[i]);
		bytes += l.v[i]->len;
	}
	bson_append_array_end(&cur, &batch);
	BSON_APPEND_INT64(&cur, "id", 0);
	BSON_APPEND_UTF8(&cur, "ns", ns);
	bson_append_document_end(r, &cur);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
out:
	docs_clear(&l);
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
	cmd_current_op(s, c, b, r);
	return 0;
}

static int h_insert(sim *s, sim_conn *c, const sim_msg *req, const bson_t *b, const char *db, const char *name,
                    bson_t *r)
{
	UNUSED_ARGS;
	return cmd_insert(s, c, b, db, r);
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
	{"find",              0, 0, false, false, SIM_ACT_FIND,           9,  find_args,          h_find},
	{"aggregate",         0, 0, false, false, 0,                      9,  aggregate_args,     h_aggregate},
};

/* The entry for name at this server's version, or NULL. */
static const sim_cmd_entry *lookup_cmd(const sim *s, const char *name)
{
	for (size_t i = 0; i < sizeof cmd_table / sizeof cmd_table[0]; i++) {
		const sim_cmd_entry *e = &cmd_table[i];

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
