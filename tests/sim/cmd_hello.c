/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cmd_hello.c: the handshake (hello/isMaster) and what a server says about itself (buildInfo, serverStatus). */
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

void append_optime(bson_t *b, const char *key, const sim_optime *op)
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
int visible_primary(const sim *s, int idx)
{
	if (s->primary < 0)
		return -1;
	if (s->primary == idx || sim_rs_reachable(s, s->primary))
		return s->primary;
	return -1;
}

void build_hello(sim *s, sim_conn *c, const bson_t *req, bool hello_name, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_t hosts, passives, arbiters, lw;
	int nh = 0, np = 0, na = 0, pidx = visible_primary(s, c->member);
	char key[24];
	bson_iter_t it;

	if (s->role == SIM_ROLE_MONGOS) {
		build_mongos_hello(s, c, req, hello_name, r);
		return;
	}

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
	/* The members of a config server replica set say so in hello (configsvr: 2). */
	if (s->role == SIM_ROLE_CONFIGSVR)
		BSON_APPEND_INT32(r, "configsvr", 2);
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

const char *server_version(const sim *s, int32_t v[4])
{
	static const struct {
		int wire;
		const char *ver;
		int32_t a[3];
	} tab[] = {{6, "3.6.23", {3, 6, 23}},   {7, "4.0.28", {4, 0, 28}},   {8, "4.2.25", {4, 2, 25}},
	           {9, "4.4.29", {4, 4, 29}},   {13, "5.0.30", {5, 0, 30}},  {17, "6.0.20", {6, 0, 20}},
	           {21, "7.0.16", {7, 0, 16}},  {25, "8.0.4", {8, 0, 4}},    {27, "8.2.1", {8, 2, 1}}};
	size_t best = 0;

	/* The topology's `version` (checked to be in the series) names the patch release. */
	if (s->version[0] && sscanf(s->version, "%d.%d.%d", &v[0], &v[1], &v[2]) == 3) {
		v[3] = 0;
		return s->version;
	}
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		if (tab[i].wire <= s->max_wire)
			best = i;
	v[0] = tab[best].a[0];
	v[1] = tab[best].a[1];
	v[2] = tab[best].a[2];
	v[3] = 0;
	return tab[best].ver;
}

void build_buildinfo(sim *s, bson_t *r)
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

void build_server_status(sim *s, sim_conn *c, bson_t *r)
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
