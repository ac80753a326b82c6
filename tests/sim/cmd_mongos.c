/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cmd_mongos.c: a simulated mongos (role = "mongos"): hello as a router, listShards, getShardMap, the
   balancer, and the cluster fsync lock, which it takes on each shard's and the CSRS's primary through
   the component simulators' control sockets (each shard and the CSRS is its own mongo-rs-sim). */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "cmd.h"


/* One component (shard or CSRS) as the mongos sees it now. */
typedef struct component {
	const char *ctl;
	char name[64];      /* the replica set name, which is also the shard's _id */
	char conn[1024];    /* "rsName/host:port,host:port" */
	char primary[32];   /* "host:port", "" = none */
	long long primary_locks;  /* the primary's fsync lock count */
} component;

/* The set's name, connection string and current primary, from its uri and status. */
static int component_read(const char *ctl, component *out, char *err, size_t errlen)
{
	char *uri = NULL, *status = NULL, *hosts, *q, *line;
	int rc = -1;

	memset(out, 0, sizeof *out);
	out->ctl = ctl;
	if (sim_ctl_call(ctl, "uri\n", SIM_CTL_TIMEOUT_MS, &uri, err, errlen) != 0 ||
	    sim_ctl_call(ctl, "status\n", SIM_CTL_TIMEOUT_MS, &status, err, errlen) != 0)
		goto out;
	/* mongodb://H1,H2/?replicaSet=NAME */
	if (strncmp(uri, "mongodb://", 10) != 0 || !(q = strstr(uri, "/?replicaSet=")) ||
	    strlen(q + 13) < 2 || strlen(q + 13) >= sizeof out->name) {
		snprintf(err, errlen, "%s: not a replica set's uri", ctl);
		goto out;
	}
	*q = '\0';
	hosts = uri + 10;
	snprintf(out->name, sizeof out->name, "%.*s", (int)strcspn(q + 13, "\n"), q + 13);
	snprintf(out->conn, sizeof out->conn, "%s/%s", out->name, hosts);
	for (line = strtok_r(status, "\n", &q); line; line = strtok_r(NULL, "\n", &q)) {
		char host[32], *lc;

		if (strstr(line, " state=PRIMARY ") && strstr(line, " up=1 ") && strstr(line, " partitioned=0 ") &&
		    sscanf(line, "id=%*d host=%31s", host) == 1) {
			snprintf(out->primary, sizeof out->primary, "%s", host);
			if ((lc = strstr(line, " lockCount=")))
				out->primary_locks = strtoll(lc + 11, NULL, 10);
		}
	}
	rc = 0;
out:
	free(uri);
	free(status);
	return rc;
}

/* Every component, the CSRS first; n = how many were read. */
static component *components(sim *s, size_t *n, char *err, size_t errlen)
{
	sim_cluster *cl = &s->cluster;
	component *v = calloc(cl->n_shards + 1, sizeof *v);

	*n = 0;
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i <= cl->n_shards; i++) {
		const char *ctl = i == 0 ? cl->config_ctl : cl->shard_ctl[i - 1];

		if (component_read(ctl, &v[i], err, errlen) != 0) {
			free(v);
			return NULL;
		}
	}
	*n = cl->n_shards + 1;
	return v;
}

static void unreachable(bson_t *r, const char *why)
{
	sim_cmd_error(r, 6, "HostUnreachable", "the simulated cluster's component is not reachable: %s", why);
}

void build_mongos_hello(sim *s, sim_conn *c, const bson_t *req, bool hello_name, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_iter_t it;

	if (s->max_wire >= 9 && bson_iter_init_find(&it, req, "helloOk") && truthy(&it))
		BSON_APPEND_BOOL(r, "helloOk", true);
	if (s->max_wire >= 9) {
		bson_t tv;

		BSON_APPEND_DOCUMENT_BEGIN(r, "topologyVersion", &tv);
		BSON_APPEND_OID(&tv, "processId", &m->tv_process_id);
		BSON_APPEND_INT64(&tv, "counter", m->tv_counter);
		bson_append_document_end(r, &tv);
	}
	BSON_APPEND_BOOL(r, hello_name ? "isWritablePrimary" : "ismaster", true);
	BSON_APPEND_UTF8(r, "msg", "isdbgrid");
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

void cmd_list_shards(sim *s, bson_t *r)
{
	char err[512], key[24];
	size_t n;
	component *v = components(s, &n, err, sizeof err);
	bson_t arr, d;

	if (!v) {
		unreachable(r, err);
		return;
	}
	BSON_APPEND_ARRAY_BEGIN(r, "shards", &arr);
	for (size_t i = 1; i < n; i++) {
		snprintf(key, sizeof key, "%zu", i - 1);
		BSON_APPEND_DOCUMENT_BEGIN(&arr, key, &d);
		BSON_APPEND_UTF8(&d, "_id", v[i].name);
		BSON_APPEND_UTF8(&d, "host", v[i].conn);
		BSON_APPEND_INT32(&d, "state", 1);
		/* 5.0 added the time of the shard's addition (the topology time). */
		if (s->max_wire >= 13)
			BSON_APPEND_TIMESTAMP(&d, "topologyTime", (uint32_t)(s->start_ms / 1000), (uint32_t)i);
		bson_append_document_end(&arr, &d);
	}
	bson_append_array_end(r, &arr);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
	free(v);
}

/* The shard registry: each shard's and the CSRS's ("config") connection string, by name, host and
 * connection string. */
void cmd_get_shard_map(sim *s, bson_t *r)
{
	char err[512];
	size_t n;
	component *v = components(s, &n, err, sizeof err);
	bson_t map, hosts, conns;

	if (!v) {
		unreachable(r, err);
		return;
	}
	BSON_APPEND_DOCUMENT_BEGIN(r, "map", &map);
	for (size_t i = 0; i < n; i++)
		BSON_APPEND_UTF8(&map, i == 0 ? "config" : v[i].name, v[i].conn);
	bson_append_document_end(r, &map);
	BSON_APPEND_DOCUMENT_BEGIN(r, "hosts", &hosts);
	for (size_t i = 0; i < n; i++) {
		char list[1024], *h, *save;

		snprintf(list, sizeof list, "%s", strchr(v[i].conn, '/') + 1);
		for (h = strtok_r(list, ",", &save); h; h = strtok_r(NULL, ",", &save))
			BSON_APPEND_UTF8(&hosts, h, i == 0 ? "config" : v[i].name);
	}
	bson_append_document_end(r, &hosts);
	BSON_APPEND_DOCUMENT_BEGIN(r, "connStrings", &conns);
	for (size_t i = 0; i < n; i++)
		BSON_APPEND_UTF8(&conns, v[i].conn, i == 0 ? "config" : v[i].name);
	bson_append_document_end(r, &conns);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
	free(v);
}

void cmd_balancer_status(sim *s, bson_t *r)
{
	BSON_APPEND_UTF8(r, "mode", s->cluster.balancer_off ? "off" : "full");
	BSON_APPEND_BOOL(r, "inBalancerRound", s->cluster.in_round);
	BSON_APPEND_INT64(r, "numBalancerRounds", s->cluster.rounds);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

/* balancerStop waits for the running round (a migration) to end, as the server's joins it: held (1). */
int cmd_balancer_start_stop(sim *s, bool start, bson_t *r)
{
	s->cluster.balancer_off = !start;
	if (!start && s->cluster.in_round)
		return 1;
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
	return 0;
}

/* fsync lock through mongos exists from 7.1 and in 7.0.2, 6.0.11, 5.0.22 and 4.4.25. */
static bool cluster_lock_supported(const sim *s)
{
	int32_t v[4];

	server_version(s, v);
	if (v[0] > 7 || (v[0] == 7 && v[1] >= 1))
		return true;
	return (v[0] == 7 && v[1] == 0 && v[2] >= 2) || (v[0] == 6 && v[1] == 0 && v[2] >= 11) ||
	       (v[0] == 5 && v[1] == 0 && v[2] >= 22) || (v[0] == 4 && v[1] == 4 && v[2] >= 25);
}

/* Release what a failed cluster lock took (the mongos's unlockLockedShards). */
static void unlock_taken(sim *s, component *v, const bool *locked, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char line[64], err[256], *ans = NULL;

		if (!locked[i])
			continue;
		snprintf(line, sizeof line, "unlock %s\n", v[i].primary);
		if (sim_ctl_call(v[i].ctl, line, SIM_CTL_TIMEOUT_MS, &ans, err, sizeof err) != 0)
			sim_logf(s, "mongos: unlocking %s after a failed cluster lock: %s", v[i].conn, err);
		free(ans);
	}
}

void cmd_mongos_fsync(sim *s, sim_conn *c, const bson_t *body, bson_t *r)
{
	char err[512];
	size_t n = 0;
	component *v = NULL;
	bool *locked = NULL;
	bson_t all, raw, one;
	bson_iter_t it;
	int64_t timeout_ms = 90000;

	if (!bson_iter_init_find(&it, body, "lock") || !truthy(&it)) {
		BSON_APPEND_INT32(r, "numFiles", 1);
		BSON_APPEND_DOUBLE(r, "ok", 1.0);
		return;
	}
	if (!cluster_lock_supported(s)) {
		/* An errmsg-style refusal of the router: ok 0 and the message, no code. */
		BSON_APPEND_DOUBLE(r, "ok", 0.0);
		BSON_APPEND_UTF8(r, "errmsg", "can't do lock through mongos");
		return;
	}
	if (bson_iter_init_find(&it, body, "fsyncLockAcquisitionTimeoutMillis") && BSON_ITER_HOLDS_NUMBER(&it))
		timeout_ms = bson_iter_as_int64(&it);
	if (!(v = components(s, &n, err, sizeof err)) || !(locked = calloc(n, sizeof *locked))) {
		unreachable(r, err);
		goto out;
	}
	bson_init(&raw);
	for (size_t i = 0; i < n; i++) {
		char line[64], *ans = NULL;
		long long count = 0;

		if (!v[i].primary[0]) {
			unlock_taken(s, v, locked, i);
			bson_destroy(&raw);
			sim_cmd_error(r, 133, "FailedToSatisfyReadPreference",
			              "Could not find host matching read preference { mode: \"primary\" } for set %s",
			              v[i].name);
			goto out;
		}
		if (strcmp(s->cluster.stall, v[i].name) == 0) {
			/* The member's lock never comes: the reply waits the whole acquisition timeout. */
			unlock_taken(s, v, locked, i);
			bson_destroy(&raw);
			c->reply_delay_ms = timeout_ms;
			sim_cmd_error(r, 24, "LockTimeout", "Fsync lock timed out");
			goto out;
		}
		snprintf(line, sizeof line, "lock %s\n", v[i].primary);
		if (sim_ctl_call(v[i].ctl, line, SIM_CTL_TIMEOUT_MS, &ans, err, sizeof err) != 0 ||
		    sscanf(ans, "lockCount=%lld", &count) != 1) {
			free(ans);
			unlock_taken(s, v, locked, i);
			bson_destroy(&raw);
			unreachable(r, err);
			goto out;
		}
		free(ans);
		locked[i] = true;
		BSON_APPEND_DOCUMENT_BEGIN(&raw, v[i].conn, &one);
		BSON_APPEND_UTF8(&one, "info", "now locked against writes, use db.fsyncUnlock() to unlock");
		BSON_APPEND_INT64(&one, "lockCount", count);
		BSON_APPEND_UTF8(&one, "seeAlso", "http://dochub.mongodb.org/core/fsynccommand");
		BSON_APPEND_DOUBLE(&one, "ok", 1.0);
		bson_append_document_end(&raw, &one);
	}
	/* forBackup: a member that finds a DDL coordinator after locking refuses and lets go. */
	if (s->cluster.ddl_running) {
		unlock_taken(s, v, locked, n);
		bson_destroy(&raw);
		sim_cmd_error(r, 20, "IllegalOperation", "Cannot take lock while DDL operation is in progress");
		goto out;
	}
	BSON_APPEND_INT32(r, "numFiles", 1);
	BSON_APPEND_DOCUMENT_BEGIN(r, "all", &all);
	BSON_APPEND_DOCUMENT(&all, "raw", &raw);
	bson_append_document_end(r, &all);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
	bson_destroy(&raw);
	sim_logf(s, "mongos: cluster fsync lock on %zu components", n);
out:
	free(locked);
	free(v);
}

/* fsyncUnlock goes to every component's current primary; each answers as a member does. */
void cmd_mongos_fsync_unlock(sim *s, bson_t *r)
{
	char err[512], first_err[512] = "";
	size_t n = 0;
	component *v;
	bson_t raw, one;

	if (!cluster_lock_supported(s)) {
		sim_cmd_error(r, 59, "CommandNotFound", "no such command: 'fsyncUnlock'");
		return;
	}
	if (!(v = components(s, &n, err, sizeof err))) {
		unreachable(r, err);
		return;
	}
	bson_init(&raw);
	for (size_t i = 0; i < n; i++) {
		char line[64], *ans = NULL;
		long long count = 0;
		int rc = -1;

		BSON_APPEND_DOCUMENT_BEGIN(&raw, v[i].conn, &one);
		if (v[i].primary[0]) {
			snprintf(line, sizeof line, "unlock %s\n", v[i].primary);
			rc = sim_ctl_call(v[i].ctl, line, SIM_CTL_TIMEOUT_MS, &ans, err, sizeof err);
		}
		if (rc == 0 && sscanf(ans, "lockCount=%lld", &count) == 1) {
			BSON_APPEND_UTF8(&one, "info", "fsyncUnlock completed");
			BSON_APPEND_INT64(&one, "lockCount", count);
			BSON_APPEND_DOUBLE(&one, "ok", 1.0);
		} else {
			const char *msg = !v[i].primary[0] ? "no primary" : rc == 1 ? "fsyncUnlock called when not locked" : err;

			BSON_APPEND_DOUBLE(&one, "ok", 0.0);
			BSON_APPEND_UTF8(&one, "errmsg", msg);
			if (!first_err[0])
				snprintf(first_err, sizeof first_err, "%s: %s", v[i].name, msg);
		}
		free(ans);
		bson_append_document_end(&raw, &one);
	}
	if (first_err[0]) {
		if (s->max_wire >= 21)
			sim_cmd_error(r, 20, "IllegalOperation", "%s", first_err);
		else
			sim_cmd_error(r, 125, "CommandFailed", "%s", first_err);
	} else {
		BSON_APPEND_DOCUMENT(r, "raw", &raw);
		BSON_APPEND_DOUBLE(r, "ok", 1.0);
	}
	bson_destroy(&raw);
	free(v);
}

/* currentOp on a mongos: the operations of this router (a routed write held by a shard's lock shows
 * waitingForLock) and, while any component's primary is fsync-locked (the cluster lock holds them
 * all), fsyncLock: true and info, as a member says them. */
void cmd_mongos_current_op(sim *s, sim_conn *c, const bson_t *body, bson_t *r)
{
	char err[512];
	size_t n = 0;
	component *v = components(s, &n, err, sizeof err);
	bool locked = false;

	if (!v) {
		unreachable(r, err);
		return;
	}
	for (size_t i = 0; i < n; i++)
		locked = locked || v[i].primary_locks > 0;
	free(v);
	cmd_current_op(s, c, body, locked, r);
}

/* The mongos's control commands; -2 = not one of them. */
int sim_mongos_ctl(sim *s, int argc, char **argv, char **text, char *err, size_t errlen)
{
	sim_cluster *cl = &s->cluster;
	bool start = argc == 2 && strcmp(argv[1], "start") == 0, end = argc == 2 && strcmp(argv[1], "end") == 0;

	*text = NULL;
	if (strcmp(argv[0], "migration") == 0) {
		if (!start && !end) {
			snprintf(err, errlen, "usage: migration start|end");
			return -1;
		}
		if (end && cl->in_round)
			cl->rounds++;
		cl->in_round = start;
		if (end)   /* a balancerStop waiting for the round answers now */
			for (size_t i = 0; i < s->n_members; i++)
				sim_loop_release_held(s, (int)i);
		return 0;
	}
	if (strcmp(argv[0], "ddl") == 0) {
		if (!start && !end) {
			snprintf(err, errlen, "usage: ddl start|end");
			return -1;
		}
		cl->ddl_running = start;
		return 0;
	}
	if (strcmp(argv[0], "stall") == 0) {
		if (argc != 2 || strlen(argv[1]) >= sizeof cl->stall) {
			snprintf(err, errlen, "usage: stall SETNAME|none");
			return -1;
		}
		snprintf(cl->stall, sizeof cl->stall, "%s", strcmp(argv[1], "none") == 0 ? "" : argv[1]);
		return 0;
	}
	if (strcmp(argv[0], "routing") == 0) {
		/* The routed writes' stamp: this process's router id and the next sequence number. */
		if (asprintf(text, "router=%s next_seq=%lld shards=%zu\n", cl->router_id[0] ? cl->router_id : "-",
		             (long long)(cl->next_seq ? cl->next_seq : 1), cl->n_shards) < 0)
			*text = NULL;
		return 0;
	}
	if (strcmp(argv[0], "balancer") == 0) {
		if (asprintf(text, "mode=%s inBalancerRound=%d numBalancerRounds=%lld ddl=%d\n",
		             cl->balancer_off ? "off" : "full", cl->in_round ? 1 : 0, (long long)cl->rounds,
		             cl->ddl_running ? 1 : 0) < 0)
			*text = NULL;
		return 0;
	}
	if (strcmp(argv[0], "members") == 0) {
		/* Every member of every component with its lock count: `shard=NAME` + its status line. */
		size_t cap = 0, len = 0;
		char *out = NULL;

		for (size_t i = 0; i <= cl->n_shards; i++) {
			component c;
			char *st = NULL, *line, *save;

			if (component_read(i == 0 ? cl->config_ctl : cl->shard_ctl[i - 1], &c, err, errlen) != 0 ||
			    sim_ctl_call(c.ctl, "status\n", SIM_CTL_TIMEOUT_MS, &st, err, errlen) != 0) {
				free(out);
				free(st);
				return -1;
			}
			for (line = strtok_r(st, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
				size_t need = strlen(line) + strlen(c.name) + 32;

				if (len + need > cap) {
					char *nb = realloc(out, cap + need + 4096);

					if (!nb) {
						free(out);
						free(st);
						snprintf(err, errlen, "out of memory");
						return -1;
					}
					out = nb;
					cap += need + 4096;
				}
				len += (size_t)snprintf(out + len, cap - len, "%s=%s %s\n", i == 0 ? "config" : "shard",
				                        c.name, line);
			}
			free(st);
		}
		*text = out;
		return 0;
	}
	return -2;
}

void sim_cluster_free(sim_cluster *cl)
{
	for (size_t i = 0; i < cl->n_shards; i++)
		free(cl->shard_ctl[i]);
	free(cl->shard_ctl);
	free(cl->config_ctl);
	memset(cl, 0, sizeof *cl);
}
