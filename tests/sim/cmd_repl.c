/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cmd_repl.c: the replica-set commands: replSetGetStatus, replSetGetConfig, replSetFreeze, replSetStepDown. */
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

void build_status(sim *s, sim_conn *c, bson_t *r)
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

void build_config(sim *s, bson_t *r)
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

void cmd_freeze(sim *s, sim_conn *c, const bson_t *body, const char *name, bson_t *r)
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

void cmd_stepdown(sim *s, sim_conn *c, const bson_t *body, const char *name, bson_t *r)
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
