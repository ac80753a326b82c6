/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* sim-faults.c: every mongo-rs-sim fault, as the real libmongoc 1.23 observes it. */
#include "autoconfig.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim-harness.h"

#define PLAN 90

static const char *topology =
	"set_name = \"rsf\";\n"
	"max_wire_version = 21;\n"
	"auth = false;\n"
	"noop_interval_ms = 100;\n"
	"members = (\n"
	"  { port = 0; priority = 2.0; state = \"PRIMARY\"; },\n"
	"  { port = 0; },\n"
	"  { port = 0; },\n"
	"  { port = 0; priority = 0.0; },\n"
	"  { port = 0; arbiter = true; }\n"
	");\n";

#define NMEMBERS 5
#define OPTS "connectTimeoutMS=2000&socketTimeoutMS=10000"
#define SHORT "connectTimeoutMS=400&socketTimeoutMS=400&serverSelectionTimeoutMS=400"

static sim *S;
static char *host[NMEMBERS];

static void
diag_err(const char *what, const bson_error_t *e)
{
	tap_diag("%s: domain %u code %u: %s", what, e->domain, e->code, e->message);
}

static mongoc_client_t *
direct(int id, const char *opts)
{
	char *uri = sim_direct_uri(S, id, NULL, opts ? opts : OPTS);
	mongoc_client_t *c = uri ? th_client(uri) : NULL;

	free(uri);
	return c;
}

static mongoc_client_t *
seed(const char *opts)
{
	char *uri = sim_seed_uri(S, NULL, opts ? opts : OPTS);
	mongoc_client_t *c = uri ? th_client(uri) : NULL;

	free(uri);
	return c;
}

/* One command on a fresh direct client; reply always initialised. */
static bool
dcmd(int id, const char *opts, bson_t *reply, bson_error_t *err, const char *json)
{
	mongoc_client_t *c = direct(id, opts);
	bool r = false;

	if (c == NULL) {
		bson_init(reply);
		memset(err, 0, sizeof *err);
	} else {
		r = th_cmd(c, "admin", reply, err, json);
	}
	mongoc_client_destroy(c);
	return r;
}

/* The hello a fresh direct client saw from member id, copied into out (empty when unreachable). */
static void
hello_of(int id, bson_t *out)
{
	mongoc_client_t *c = direct(id, NULL);
	mongoc_server_description_t **sds = NULL;
	size_t n = 0;
	bson_t r;
	bson_error_t err;

	bson_init(out);
	if (c == NULL)
		return;
	if (th_cmd(c, "admin", &r, &err, "{\"ping\": 1}")) {
		sds = mongoc_client_get_server_descriptions(c, &n);
		if (n == 1) {
			bson_destroy(out);
			bson_copy_to(mongoc_server_description_hello_response(sds[0]), out);
		}
		mongoc_server_descriptions_destroy_all(sds, n);
	}
	bson_destroy(&r);
	mongoc_client_destroy(c);
}

static const char *
sd_type(mongoc_client_t *c, const char *h, char *buf, size_t len)
{
	mongoc_server_description_t **sds;
	size_t n = 0;

	snprintf(buf, len, "(absent)");
	sds = mongoc_client_get_server_descriptions(c, &n);
	for (size_t i = 0; i < n; i++)
		if (h && strcmp(mongoc_server_description_host(sds[i])->host_and_port, h) == 0)
			snprintf(buf, len, "%s", mongoc_server_description_type(sds[i]));
	mongoc_server_descriptions_destroy_all(sds, n);
	return buf;
}

static bool
insert_doc(mongoc_client_t *c, const char *id, bson_error_t *err)
{
	char json[256];
	bson_t r;
	int64_t n = 0;
	bool ok;

	snprintf(json, sizeof json, "{\"insert\": \"f\", \"documents\": [{\"_id\": \"%s\"}]}", id);
	ok = th_cmd_rp(c, "mbhtest", MONGOC_READ_PRIMARY, &r, err, json);
	ok = ok && th_get_int(&r, "n", &n) && n == 1;
	bson_destroy(&r);
	return ok;
}

static bool
find_on(int id, const char *docid)
{
	mongoc_client_t *c = direct(id, NULL);
	char json[256];
	bson_t r;
	bson_error_t err;
	const char *got = NULL;
	bool ok;

	if (c == NULL)
		return false;
	snprintf(json, sizeof json, "{\"find\": \"f\", \"filter\": {\"_id\": \"%s\"}}", docid);
	ok = th_cmd(c, "mbhtest", &r, &err, json) && th_get_str(&r, "cursor.firstBatch.0._id", &got) &&
	     strcmp(got, docid) == 0;
	bson_destroy(&r);
	mongoc_client_destroy(c);
	return ok;
}

static bool
wait_find(int id, const char *docid, int ms)
{
	int64_t deadline = th_now_ms() + ms;

	while (!find_on(id, docid)) {
		if (th_now_ms() > deadline)
			return false;
		th_pause_ms(50);
	}
	return true;
}

/* Applied optime (Timestamp) of member m as reported by member from's replSetGetStatus. */
static bool
optime_of(int from, int m, uint64_t *ts)
{
	bson_t r;
	bson_error_t err;
	bson_iter_t it, f;
	char p[64];
	uint32_t t = 0, i = 0;
	bool ok = dcmd(from, NULL, &r, &err, "{\"replSetGetStatus\": 1}");

	snprintf(p, sizeof p, "members.%d.optime.ts", m);
	ok = ok && bson_iter_init(&it, &r) && bson_iter_find_descendant(&it, p, &f) && BSON_ITER_HOLDS_TIMESTAMP(&f);
	if (ok) {
		bson_iter_timestamp(&f, &t, &i);
		*ts = ((uint64_t)t << 32) | i;
	}
	bson_destroy(&r);
	return ok;
}

/* Member m's health/stateStr as seen by member from. */
static bool
health_of(int from, int m, int64_t *health, char *state_str, size_t len)
{
	bson_t r;
	bson_error_t err;
	char p[64];
	const char *ss = NULL;
	bool ok = dcmd(from, NULL, &r, &err, "{\"replSetGetStatus\": 1}");

	snprintf(p, sizeof p, "members.%d.health", m);
	ok = ok && th_get_int(&r, p, health);
	snprintf(p, sizeof p, "members.%d.stateStr", m);
	ok = ok && th_get_str(&r, p, &ss);
	snprintf(state_str, len, "%s", ok ? ss : "?");
	bson_destroy(&r);
	return ok;
}

static bool
wait_health(int from, int m, int64_t want, int ms)
{
	int64_t deadline = th_now_ms() + ms;
	int64_t h = -1;
	char ss[64];

	for (;;) {
		if (health_of(from, m, &h, ss, sizeof ss) && h == want)
			return true;
		if (th_now_ms() > deadline) {
			tap_diag("member %d seen by %d: health %lld stateStr %s", m, from, (long long)h, ss);
			return false;
		}
		th_pause_ms(50);
	}
}

static bool
ctl_fails(const char *what, const char *contains)
{
	char *out = NULL;
	int rc = sim_ctl(S, &out, "%s", what);
	bool r = rc != 0 && out != NULL && strncmp(out, "error: ", 7) == 0 &&
	         (contains == NULL || strstr(out, contains) != NULL);

	if (!r)
		tap_diag("ctl %s -> rc %d: %s", what, rc, out ? out : "(null)");
	free(out);
	return r;
}

static bool
ctl_ok(const char *what)
{
	char *out = NULL;
	int rc = sim_ctl(S, &out, "%s", what);

	if (rc != 0)
		tap_diag("ctl %s -> %s", what, out ? out : "(null)");
	free(out);
	return rc == 0;
}

static void
test_locked_secondary_optime(void)
{
	mongoc_client_t *p = seed(NULL), *c1 = direct(1, NULL);
	bson_t r;
	bson_error_t err;
	uint64_t o1 = 0, o1b = 0, prim = 0, o1c = 0;
	char *st1 = NULL, *st1b = NULL;
	bool ok;

	tap_ok(p && insert_doc(p, "f1", &err) && wait_find(1, "f1", 10000), "a write replicates to secondary 1");
	ok = c1 && th_cmd(c1, "admin", &r, &err, "{\"fsync\": 1, \"lock\": true}");
	tap_ok(ok, "fsync lock secondary 1");
	bson_destroy(&r);
	{
		bool fl = false;
		bool cok = c1 && th_cmd(c1, "admin", &r, &err, "{\"currentOp\": 1, \"$ownOps\": true}");
		tap_ok(cok && th_get_bool(&r, "fsyncLock", &fl) && fl, "currentOp with $ownOps still shows fsyncLock");
		bson_destroy(&r);
	}
	ok = optime_of(1, 1, &o1);
	st1 = sim_status(S, 1, "optime");
	tap_ok(p && insert_doc(p, "f2", &err) && wait_find(2, "f2", 10000),
	       "a write while 1 is locked replicates to secondary 2");
	tap_ok(!find_on(1, "f2"), "the locked secondary has not applied it (reads still answered)");
	ok = ok && optime_of(1, 1, &o1b) && optime_of(0, 0, &prim);
	st1b = sim_status(S, 1, "optime");
	tap_ok(ok && o1b == o1 && prim > o1, "replSetGetStatus: the locked member's optime is frozen, the primary's moved");
	tap_ok(st1 && st1b && strcmp(st1, st1b) == 0, "ctl status optime of the locked member did not move");
	ok = c1 && th_cmd(c1, "admin", &r, &err, "{\"fsyncUnlock\": 1}");
	bson_destroy(&r);
	tap_ok(ok && wait_find(1, "f2", 10000), "after fsyncUnlock the member catches up");
	tap_ok(optime_of(1, 1, &o1c) && o1c > o1, "and its optime moves again");
	free(st1);
	free(st1b);
	mongoc_client_destroy(p);
	mongoc_client_destroy(c1);
}

struct held_write {
	atomic_int done;
	bool ok;
	bson_error_t err;
};

static void *
held_writer(void *arg)
{
	struct held_write *h = arg;
	mongoc_client_t *c = direct(0, "connectTimeoutMS=2000&socketTimeoutMS=20000");

	h->ok = c && insert_doc(c, "held", &h->err);
	mongoc_client_destroy(c);
	atomic_store(&h->done, 1);
	return NULL;
}

static long
counter(int id, const char *cmd)
{
	char *out = NULL, *p;
	char key[64];
	long v = -1;

	if (sim_ctl(S, &out, "counters %d", id) != 0 || out == NULL) {
		free(out);
		return -1;
	}
	snprintf(key, sizeof key, "%s=", cmd);
	for (p = out; (p = strstr(p, key)) != NULL; p++) {
		if (p == out || p[-1] == ' ' || p[-1] == '\n') {
			v = strtol(p + strlen(key), NULL, 10);
			break;
		}
	}
	if (v < 0)
		v = 0; /* a command never received may be missing from the line */
	free(out);
	return v;
}

static void
test_held_write(void)
{
	mongoc_client_t *c = direct(0, "connectTimeoutMS=2000&socketTimeoutMS=500");
	struct held_write h;
	pthread_t th;
	bson_error_t err;
	long base;
	int64_t deadline;
	bool started = false, ok;

	memset(&h, 0, sizeof h);
	tap_ok(ctl_ok("lock 0"), "ctl lock on the primary");
	ok = c && insert_doc(c, "held-short", &err);
	tap_ok(!ok && err.domain == MONGOC_ERROR_STREAM,
	       "a write to the locked primary gets no reply (socketTimeoutMS 500 expires)");
	if (ok || err.domain != MONGOC_ERROR_STREAM)
		diag_err("held-short", &err);
	mongoc_client_destroy(c);
	tap_ok(!find_on(0, "held-short") && !find_on(0, "held"), "reads on the locked primary are answered");

	base = counter(0, "insert");
	if (pthread_create(&th, NULL, held_writer, &h) == 0)
		started = true;
	deadline = th_now_ms() + 10000;
	while (started && counter(0, "insert") <= base && th_now_ms() < deadline)
		th_pause_ms(20);
	tap_ok(started && counter(0, "insert") > base, "a second writer's insert reached the primary");
	tap_ok(started && atomic_load(&h.done) == 0 && !find_on(0, "held"), "it is held: no reply, not applied");
	tap_ok(ctl_ok("unlock 0"), "ctl unlock the primary");
	if (started)
		pthread_join(th, NULL);
	tap_ok(started && h.ok, "the held write completes after the unlock");
	if (started && !h.ok)
		diag_err("held", &h.err);
	tap_ok(find_on(0, "held"), "and is applied");
}

static void
test_stepdown_elect(void)
{
	mongoc_client_t *c = seed(NULL);
	bson_t r, hello;
	bson_error_t err;
	char buf[64];
	const char *str = NULL;
	bool ok;

	ok = c && th_cmd_rp(c, "admin", MONGOC_READ_PRIMARY, &r, &err, "{\"replSetGetStatus\": 1}");
	bson_destroy(&r);
	tap_ok(ok && c && strcmp(sd_type(c, host[0], buf, sizeof buf), "RSPrimary") == 0,
	       "before: the client sees member 0 as primary");
	tap_ok(ctl_ok("stepdown 0") && sim_wait_status(S, 1, "state", "PRIMARY", 5000) &&
	       sim_wait_status(S, 0, "state", "SECONDARY", 100),
	       "ctl stepdown 0: member 1 (next priority, lowest _id) becomes primary");
	ok = c && insert_doc(c, "sd1", &err);
	tap_ok(!ok && err.code == 10107, "the client's next write reaches the old primary: 10107");
	ok = c && insert_doc(c, "sd2", &err);
	if (!tap_ok(ok, "after the rescan the write goes to the new primary"))
		diag_err("insert after stepdown", &err);
	tap_is_str(c ? sd_type(c, host[1], buf, sizeof buf) : "?", "RSPrimary", "the client sees member 1 as RSPrimary");
	tap_is_str(c ? sd_type(c, host[0], buf, sizeof buf) : "?", "RSSecondary", "and member 0 as RSSecondary");
	hello_of(0, &hello);
	tap_ok(th_get_str(&hello, "primary", &str) && strcmp(str, host[1]) == 0, "member 0's hello names member 1 primary");
	bson_destroy(&hello);

	tap_ok(ctl_ok("elect 0") && sim_wait_status(S, 0, "state", "PRIMARY", 5000) &&
	       sim_wait_status(S, 1, "state", "SECONDARY", 100),
	       "ctl elect 0: member 0 is primary again");
	ok = c && insert_doc(c, "sd3", &err);
	tap_ok(!ok && err.code == 10107, "the client's next write reaches member 1: 10107");
	ok = c && insert_doc(c, "sd4", &err);
	if (!tap_ok(ok, "after the rescan the client accepts member 0 (newer electionId)"))
		diag_err("insert after elect", &err);
	tap_is_str(c ? sd_type(c, host[0], buf, sizeof buf) : "?", "RSPrimary", "the client sees member 0 as RSPrimary");
	mongoc_client_destroy(c);
}

static void
test_freeze_stepdown_cmds(void)
{
	bson_t r;
	bson_error_t err;
	const char *str = NULL;
	bool ok;

	ok = dcmd(1, NULL, &r, &err, "{\"replSetStepDown\": 60}");
	tap_ok(!ok && err.code == 10107 && th_get_str(&r, "codeName", &str) && strcmp(str, "NotWritablePrimary") == 0,
	       "replSetStepDown on a secondary: 10107 NotWritablePrimary");
	if (ok || err.code != 10107)
		diag_err("replSetStepDown on secondary", &err);
	bson_destroy(&r);
	ok = dcmd(0, NULL, &r, &err, "{\"replSetFreeze\": 30}");
	tap_ok(!ok && err.code == 95 && th_get_str(&r, "codeName", &str) && strcmp(str, "NotSecondary") == 0,
	       "replSetFreeze on the primary: 95 NotSecondary");
	if (ok || err.code != 95)
		diag_err("replSetFreeze on primary", &err);
	bson_destroy(&r);
	ok = dcmd(1, NULL, &r, &err, "{\"replSetFreeze\": 30}");
	bson_destroy(&r);
	tap_ok(ok && sim_status_long(S, 1, "frozen") == 1, "replSetFreeze 30 on secondary 1: ok, ctl status frozen=1");
	tap_ok(ctl_ok("stepdown 0") && sim_wait_status(S, 2, "state", "PRIMARY", 5000),
	       "stepdown skips the frozen member: member 2 becomes primary");
	ok = dcmd(1, NULL, &r, &err, "{\"replSetFreeze\": 0}");
	bson_destroy(&r);
	tap_ok(ok && sim_status_long(S, 1, "frozen") == 0, "replSetFreeze 0 unfreezes: frozen=0");
	ok = dcmd(2, NULL, &r, &err, "{\"replSetStepDown\": 30}");
	if (!tap_ok(ok, "replSetStepDown on the primary (2): ok"))
		diag_err("replSetStepDown on primary", &err);
	bson_destroy(&r);
	tap_ok(sim_wait_status(S, 2, "state", "SECONDARY", 5000) && sim_wait_status(S, 0, "state", "PRIMARY", 5000),
	       "member 2 stepped down and the highest priority member 0 is primary");
	tap_ok(sim_status_long(S, 2, "frozen") == 1, "the stepped-down member is not electable for stepDownSecs (frozen=1)");
	ok = dcmd(2, NULL, &r, &err, "{\"replSetFreeze\": 0}");
	bson_destroy(&r);
	tap_ok(ok && sim_status_long(S, 2, "frozen") == 0, "replSetFreeze 0 on member 2 clears it");
}

static void
test_elect_refused(void)
{
	tap_ok(ctl_fails("elect 4", NULL), "ctl elect of the arbiter is refused");
	tap_ok(ctl_fails("elect 3", NULL), "ctl elect of a priority-0 member is refused");
	tap_ok(ctl_ok("lock 2") && ctl_fails("elect 2", "fsync-locked"),
	       "ctl elect of an fsync-locked member is refused (\"...fsync-locked...\")");
	tap_ok(sim_wait_status(S, 0, "state", "PRIMARY", 100) && ctl_ok("unlock 2") &&
	       sim_status_long(S, 2, "lockCount") == 0,
	       "member 0 is still primary; member 2 unlocked");
}

static void
test_kill_revive(void)
{
	mongoc_client_t *c;
	bson_t r;
	bson_error_t err;
	int64_t health = -1;
	char ss[64], buf[64];
	bool ok;

	tap_ok(ctl_ok("lock 1") && ctl_ok("kill 1") && sim_wait_status(S, 1, "state", "DOWN", 2000) &&
	       sim_status_long(S, 1, "up") == 0,
	       "ctl kill of a locked member: state=DOWN up=0");
	ok = dcmd(1, SHORT, &r, &err, "{\"ping\": 1}");
	bson_destroy(&r);
	tap_ok(!ok && strstr(err.message, "connection refused") != NULL, "a client to the killed member: connection refused");
	if (ok || strstr(err.message, "connection refused") == NULL)
		diag_err("ping killed", &err);
	ok = health_of(0, 1, &health, ss, sizeof ss);
	tap_ok(ok && health == 0 && strcmp(ss, "(not reachable/healthy)") == 0,
	       "replSetGetStatus: health 0, stateStr \"(not reachable/healthy)\"");
	if (!ok || health != 0)
		tap_diag("  health %lld stateStr %s", (long long)health, ss);
	c = seed(SHORT);
	ok = c && th_cmd_rp(c, "admin", MONGOC_READ_PRIMARY, &r, &err, "{\"replSetGetStatus\": 1}");
	bson_destroy(&r);
	tap_ok(ok && strcmp(sd_type(c, host[1], buf, sizeof buf), "(absent)") == 0 &&
	       strcmp(sd_type(c, host[0], buf, sizeof buf), "RSPrimary") == 0,
	       "a replica-set client still works; the killed member is not in its descriptions");
	mongoc_client_destroy(c);
	tap_ok(ctl_ok("revive 1") && sim_wait_status(S, 1, "state", "SECONDARY", 2000) &&
	       sim_status_long(S, 1, "up") == 1 && sim_status_long(S, 1, "lockCount") == 0,
	       "ctl revive: SECONDARY, up=1, lockCount=0 (a restart drops the lock)");
	ok = dcmd(1, NULL, &r, &err, "{\"currentOp\": 1}");
	tap_ok(ok && th_type(&r, "fsyncLock") == BSON_TYPE_EOD, "the revived member answers, currentOp shows no fsyncLock");
	bson_destroy(&r);
	tap_ok(wait_health(0, 1, 1, 10000), "the primary sees it healthy again");
}

static void
test_partition(void)
{
	mongoc_client_t *c;
	bson_t r;
	bson_error_t err;
	int64_t health = -1;
	char ss[64], buf[64];
	bool ok;

	tap_ok(ctl_ok("partition 2") && sim_status_long(S, 2, "partitioned") == 1, "ctl partition 2: partitioned=1");
	ok = dcmd(2, SHORT, &r, &err, "{\"ping\": 1}");
	bson_destroy(&r);
	tap_ok(!ok && strstr(err.message, "refused") == NULL, "a client to the partitioned member times out (not refused)");
	if (ok)
		tap_diag("the partitioned member answered");
	else
		diag_err("partitioned ping", &err);
	ok = health_of(0, 2, &health, ss, sizeof ss);
	tap_ok(ok && health == 0 && strcmp(ss, "(not reachable/healthy)") == 0,
	       "replSetGetStatus on the primary: the partitioned member is unreachable");
	c = seed("connectTimeoutMS=500&socketTimeoutMS=2000");
	ok = c && th_cmd_rp(c, "admin", MONGOC_READ_PRIMARY, &r, &err, "{\"replSetGetStatus\": 1}");
	bson_destroy(&r);
	tap_ok(ok && strcmp(sd_type(c, host[2], buf, sizeof buf), "(absent)") == 0,
	       "a replica-set client works after the scan gives up on the partitioned member");
	mongoc_client_destroy(c);
	tap_ok(ctl_ok("heal 2") && sim_status_long(S, 2, "partitioned") == 0, "ctl heal 2");
	ok = dcmd(2, NULL, &r, &err, "{\"ping\": 1}");
	bson_destroy(&r);
	tap_ok(ok && wait_health(0, 2, 1, 10000), "the healed member answers and is healthy again");
}

static void
test_lag_slow(void)
{
	mongoc_client_t *p = seed(NULL);
	bson_t r;
	bson_error_t err;
	uint64_t o1 = 0, o0 = 0;
	bool ok;

	tap_ok(ctl_ok("lag 1 60") && sim_status_long(S, 1, "lag") == 60, "ctl lag 1 60: lag=60");
	tap_ok(p && insert_doc(p, "lag1", &err) && wait_find(2, "lag1", 10000) && !find_on(1, "lag1"),
	       "a write reaches member 2 but not the lagging member 1");
	ok = optime_of(0, 1, &o1) && optime_of(0, 0, &o0);
	tap_ok(ok && o1 < o0, "replSetGetStatus shows member 1's optime behind the primary's");
	tap_ok(ctl_ok("lag 1 0") && wait_find(1, "lag1", 10000), "ctl lag 1 0: member 1 catches up");
	mongoc_client_destroy(p);

	tap_ok(ctl_ok("slow 2 300") && sim_status_long(S, 2, "slow_ms") == 300, "ctl slow 2 300: slow_ms=300");
	ok = dcmd(2, NULL, &r, &err, "{\"replSetGetStatus\": 1}");
	bson_destroy(&r);
	tap_ok(ok, "a slow member's replies still arrive");
	tap_ok(ctl_ok("slow 2 0") && sim_status_long(S, 2, "slow_ms") == 0, "ctl slow 2 0");
}

static int64_t
config_version(int64_t *prio1, bool *hidden3, int64_t *votes3)
{
	bson_t r;
	bson_error_t err;
	int64_t v = -1;
	bson_iter_t it, f;

	if (dcmd(0, NULL, &r, &err, "{\"replSetGetConfig\": 1}")) {
		th_get_int(&r, "config.version", &v);
		if (prio1 && bson_iter_init(&it, &r) && bson_iter_find_descendant(&it, "config.members.1.priority", &f))
			*prio1 = (int64_t)(bson_iter_as_double(&f) * 10);
		if (hidden3)
			th_get_bool(&r, "config.members.3.hidden", hidden3);
		if (votes3)
			th_get_int(&r, "config.members.3.votes", votes3);
	}
	bson_destroy(&r);
	return v;
}

static void
test_reconfig(void)
{
	int64_t v0, v1, v2, prio = -1, votes = -1, hv = -1, vc = -1;
	bool hidden = false;
	bson_t hello, r;
	bson_error_t err;
	char *pass;
	bool ok;

	v0 = config_version(NULL, NULL, NULL);
	v1 = ctl_ok("reconfig 1 priority=0.5") ? config_version(&prio, NULL, NULL) : -1;
	tap_ok(v0 > 0 && v1 == v0 + 1 && prio == 5, "ctl reconfig priority=0.5: version bumped, priority 0.5");
	hello_of(0, &hello);
	tap_ok(th_get_int(&hello, "setVersion", &hv) && hv == v1, "hello setVersion follows the config version");
	bson_destroy(&hello);
	v2 = ctl_ok("reconfig 3 hidden=1") ? config_version(NULL, &hidden, NULL) : -1;
	hello_of(0, &hello);
	pass = NULL;
	{
		bson_iter_t it, f;
		pass = (bson_iter_init(&it, &hello) && bson_iter_find_descendant(&it, "passives", &f)) ? strdup("present")
		                                                                                      : NULL;
	}
	tap_ok(v2 == v1 + 1 && hidden && pass == NULL, "ctl reconfig hidden=1: hidden in config, gone from hello passives");
	free(pass);
	bson_destroy(&hello);
	tap_ok(ctl_ok("reconfig 3 votes=0") && config_version(NULL, NULL, &votes) == v2 + 1 && votes == 0,
	       "ctl reconfig votes=0");
	ok = dcmd(0, NULL, &r, &err, "{\"replSetGetStatus\": 1}");
	tap_ok(ok && th_get_int(&r, "votingMembersCount", &vc) && vc == 4, "replSetGetStatus votingMembersCount 4");
	bson_destroy(&r);
	tap_ok(ctl_ok("reconfig 3 hidden=0 votes=1") && ctl_ok("reconfig 1 priority=1") &&
	       config_version(&prio, &hidden, &votes) > v2 && prio == 10 && !hidden && votes == 1,
	       "reconfig back: priority 1, not hidden, votes 1");
}

static void
test_arm(void)
{
	mongoc_client_t *c;
	bson_t r, hello;
	bson_error_t err;
	int64_t v = -1;
	bool ok, b = false;

	tap_ok(ctl_ok("arm 1 fsync elect"), "ctl arm 1 fsync elect");
	c = direct(1, NULL);
	ok = c && th_cmd(c, "admin", &r, &err, "{\"fsync\": 1, \"lock\": true}");
	tap_ok(ok && th_get_int(&r, "lockCount", &v) && v == 1, "fsync lock on member 1 succeeds (lockCount 1)");
	bson_destroy(&r);
	hello_of(1, &hello);
	/* libmongoc asks isMaster, so the answer carries the legacy name. */
	tap_ok(th_get_bool(&hello, "ismaster", &b) && b && sim_wait_status(S, 1, "state", "PRIMARY", 100),
	       "after the lock member 1 reports ismaster (isWritablePrimary) true");
	bson_destroy(&hello);
	ok = c && th_cmd(c, "admin", &r, &err, "{\"fsyncUnlock\": 1}");
	bson_destroy(&r);
	mongoc_client_destroy(c);
	tap_ok(ok && ctl_ok("elect 0") && sim_wait_status(S, 0, "state", "PRIMARY", 5000), "unlock, and elect 0 back");

	tap_ok(ctl_ok("arm 2 fsync kill"), "ctl arm 2 fsync kill");
	ok = dcmd(2, SHORT, &r, &err, "{\"fsync\": 1, \"lock\": true}");
	bson_destroy(&r);
	tap_ok(!ok && err.domain == MONGOC_ERROR_STREAM && sim_wait_status(S, 2, "state", "DOWN", 2000),
	       "the fsync meets a closed connection and member 2 is DOWN");
	if (ok || err.domain != MONGOC_ERROR_STREAM)
		diag_err("armed kill", &err);
	tap_ok(ctl_ok("revive 2") && sim_wait_status(S, 2, "state", "SECONDARY", 2000) &&
	       sim_status_long(S, 2, "lockCount") == 0,
	       "revive 2: SECONDARY, unlocked");

	tap_ok(ctl_ok("arm 2 fsync partition"), "ctl arm 2 fsync partition");
	ok = dcmd(2, SHORT, &r, &err, "{\"fsync\": 1, \"lock\": true}");
	bson_destroy(&r);
	tap_ok(!ok && sim_status_long(S, 2, "partitioned") == 1, "the fsync gets no answer and member 2 is partitioned");
	ok = ctl_ok("heal 2");
	for (int i = 0; i < 4 && sim_status_long(S, 2, "lockCount") > 0; i++)
		ctl_ok("unlock 2");
	tap_ok(ok && sim_status_long(S, 2, "lockCount") == 0, "heal 2 (and unlock it if the fsync ran)");
}

static void
test_primary_down(void)
{
	mongoc_client_t *c;
	bson_t r, hello;
	bson_error_t err;
	int64_t health = -1;
	char ss[64];
	bool ok, b = true;

	tap_ok(ctl_ok("kill 0") && sim_wait_status(S, 0, "state", "DOWN", 2000), "ctl kill of the primary");
	hello_of(1, &hello);
	tap_ok(th_type(&hello, "primary") == BSON_TYPE_EOD && th_get_bool(&hello, "ismaster", &b) && !b &&
	       th_get_bool(&hello, "secondary", &b) && b,
	       "a secondary's hello has no primary field any more");
	bson_destroy(&hello);
	ok = health_of(1, 0, &health, ss, sizeof ss);
	tap_ok(ok && health == 0 && strcmp(ss, "(not reachable/healthy)") == 0,
	       "the secondary's replSetGetStatus shows the primary unreachable");
	c = seed(SHORT);
	ok = c && th_cmd_rp(c, "admin", MONGOC_READ_PRIMARY, &r, &err, "{\"ping\": 1}");
	bson_destroy(&r);
	tap_ok(!ok && err.domain == MONGOC_ERROR_SERVER_SELECTION, "a replica-set client finds no primary (server selection error)");
	mongoc_client_destroy(c);
	c = seed(SHORT);
	ok = c && th_cmd_rp(c, "admin", MONGOC_READ_PRIMARY_PREFERRED, &r, &err, "{\"replSetGetStatus\": 1}");
	bson_destroy(&r);
	tap_ok(ok, "primaryPreferred still reaches a secondary");
	mongoc_client_destroy(c);
	tap_ok(ctl_ok("revive 0") && sim_wait_status(S, 0, "state", "SECONDARY", 2000),
	       "the revived old primary comes back as SECONDARY");
	tap_ok(ctl_ok("elect 0") && sim_wait_status(S, 0, "state", "PRIMARY", 2000), "ctl elect 0 makes it primary again");
	c = seed(NULL);
	ok = c && insert_doc(c, "after-down", &err);
	tap_ok(ok, "a replica-set client writes to it again");
	mongoc_client_destroy(c);
}

static void
test_insert_many(void)
{
	mongoc_client_t *c = seed(NULL);
	mongoc_collection_t *coll = c ? mongoc_client_get_collection(c, "mbhtest", "many") : NULL;
	bson_t *docs[1000];
	bson_t reply;
	bson_error_t err;
	int64_t n = -1;
	bool ok = false;

	for (int i = 0; i < 1000; i++) {
		char id[16];
		snprintf(id, sizeof id, "m%d", i);
		docs[i] = BCON_NEW("_id", BCON_UTF8(id), "pad", BCON_UTF8("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
	}
	bson_init(&reply);
	if (coll != NULL) {
		bson_destroy(&reply);
		ok = mongoc_collection_insert_many(coll, (const bson_t **)docs, 1000, NULL, &reply, &err);
	}
	tap_ok(ok && th_get_int(&reply, "insertedCount", &n) && n == 1000,
	       "insert_many of 1000 documents (one OP_MSG document sequence): insertedCount 1000");
	if (!ok)
		diag_err("insert_many", &err);
	bson_destroy(&reply);
	for (int i = 0; i < 1000; i++)
		bson_destroy(docs[i]);
	{
		mongoc_client_t *s2 = direct(2, NULL);
		char json[] = "{\"find\": \"many\", \"filter\": {\"_id\": \"m999\"}}";
		int64_t deadline = th_now_ms() + 10000;
		const char *got = NULL;
		bool found = false;
		while (s2 && !found && th_now_ms() < deadline) {
			bson_t r;
			found = th_cmd(s2, "mbhtest", &r, &err, json) && th_get_str(&r, "cursor.firstBatch.0._id", &got) &&
			        strcmp(got, "m999") == 0;
			bson_destroy(&r);
			if (!found)
				th_pause_ms(50);
		}
		tap_ok(found, "the last of them replicates to a secondary");
		mongoc_client_destroy(s2);
	}
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(c);
}

int
main(void)
{
	int rc;

	mongoc_init();
	th_quiet_mongoc_log();
	th_watchdog(300);
	tap_plan(PLAN);
	S = sim_start(topology, NULL);
	if (S == NULL) {
		printf("Bail out! the simulator did not start\n");
		return 1;
	}
	for (int i = 0; i < NMEMBERS; i++)
		host[i] = sim_host(S, i);
	test_locked_secondary_optime();
	test_held_write();
	test_stepdown_elect();
	test_freeze_stepdown_cmds();
	test_elect_refused();
	test_kill_revive();
	test_partition();
	test_lag_slow();
	test_reconfig();
	test_arm();
	test_primary_down();
	test_insert_many();
	tap_ok(sim_all_unlocked(S), "no member is left locked");
	tap_ok(sim_alive(S), "the simulator is still running");
	tap_is_int(sim_stop(S), 0, "the simulator exits 0 on SIGTERM");
	for (int i = 0; i < NMEMBERS; i++)
		free(host[i]);
	mongoc_cleanup();
	rc = tap_exit_status();
	return rc;
}
