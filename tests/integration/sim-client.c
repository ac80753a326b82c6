/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* sim-client.c: the real libmongoc 1.23 against mongo-rs-sim: discovery, hello, status, config, auth, fsync locks, replication. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim-harness.h"

#define PLAN 156

static const char *topology_main =
	"set_name = \"rs0\";\n"
	"max_wire_version = 21;\n"
	"auth = true;\n"
	"noop_interval_ms = 200;\n"
	"members = (\n"
	"  { port = 0; priority = 2.0; state = \"PRIMARY\"; tags = { dc = \"east\"; }; },\n"
	"  { port = 0; },\n"
	"  { port = 0; priority = 0.0; },\n"
	"  { port = 0; priority = 0.0; hidden = true; },\n"
	"  { port = 0; arbiter = true; }\n"
	");\n"
	"users = (\n"
	"  { name = \"backup\"; password = \"s3cret-pw\"; db = \"admin\";\n"
	"    mechanisms = [ \"SCRAM-SHA-256\", \"SCRAM-SHA-1\" ];\n"
	"    roles = [ \"clusterMonitor\", \"hostManager\", \"clusterManager\", \"readWriteAnyDatabase\" ]; },\n"
	"  { name = \"monitor\"; password = \"m0n\"; roles = [ \"clusterMonitor\" ]; }\n"
	");\n";

/* A 4.4 server (wire 9): older error codes and field names. */
static const char *topology_old =
	"set_name = \"old44\";\n"
	"max_wire_version = 9;\n"
	"auth = false;\n"
	"noop_interval_ms = 1000;\n"
	"members = (\n"
	"  { port = 0; state = \"PRIMARY\"; },\n"
	"  { port = 0; }\n"
	");\n";

/* Delayed, buildIndexes:false, RECOVERING, STARTUP2, DOWN and non-voting members. */
static const char *topology_special =
	"set_name = \"rsx\";\n"
	"max_wire_version = 21;\n"
	"auth = false;\n"
	"noop_interval_ms = 100;\n"
	"members = (\n"
	"  { port = 0; state = \"PRIMARY\"; },\n"
	"  { port = 0; secondary_delay_secs = 3600; priority = 0.0; hidden = true; },\n"
	"  { port = 0; build_indexes = false; priority = 0.0; },\n"
	"  { port = 0; state = \"RECOVERING\"; },\n"
	"  { port = 0; state = \"STARTUP2\"; },\n"
	"  { port = 0; state = \"DOWN\"; },\n"
	"  { port = 0; priority = 0.0; votes = 0; }\n"
	");\n";

#define NMEMBERS 5
#define CREDS "backup:s3cret-pw"
#define OPTS "connectTimeoutMS=3000&socketTimeoutMS=10000&serverSelectionTimeoutMS=3000"

static char *host[NMEMBERS];

static void
diag_err(const char *what, const bson_error_t *e)
{
	tap_diag("%s: domain %u code %u: %s", what, e->domain, e->code, e->message);
}

static bool
is_type(const bson_t *doc, const char *path, bson_type_t t, const char *label)
{
	bson_type_t got = th_type(doc, path);
	bool r = tap_ok(got == t, "%s: %s has BSON type 0x%02x", label, path, (unsigned)t);

	if (!r)
		tap_diag("  got type 0x%02x", (unsigned)got);
	return r;
}

static bool
is_number(const bson_t *doc, const char *path)
{
	bson_type_t t = th_type(doc, path);

	return t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE;
}

/* The utf8 strings of an array field, joined by ',' (caller frees); NULL if absent or not all strings. */
static char *
join_array(const bson_t *doc, const char *path)
{
	bson_iter_t root, it, child;
	char buf[2048] = "";
	size_t used = 0;

	if (!bson_iter_init(&root, doc) || !bson_iter_find_descendant(&root, path, &it) ||
	    !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &child))
		return NULL;
	while (bson_iter_next(&child)) {
		if (!BSON_ITER_HOLDS_UTF8(&child))
			return NULL;
		used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", used ? "," : "",
		                         bson_iter_utf8(&child, NULL));
		if (used >= sizeof buf)
			return NULL;
	}
	return strdup(buf);
}

static char *
join2(const char *a, const char *b)
{
	char *r = NULL;

	if (asprintf(&r, "%s,%s", a ? a : "?", b ? b : "?") < 0)
		return NULL;
	return r;
}

static int
array_len(const bson_t *doc, const char *path)
{
	bson_iter_t root, it, child;
	int n = 0;

	if (!bson_iter_init(&root, doc) || !bson_iter_find_descendant(&root, path, &it) ||
	    !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &child))
		return -1;
	while (bson_iter_next(&child))
		n++;
	return n;
}

/* Run a command on a fresh direct client to member id; returns its success. */
static bool
direct_cmd(sim *s, int id, const char *userinfo, const char *opts, bson_t *reply, bson_error_t *err,
           const char *json)
{
	char *uri = sim_direct_uri(s, id, userinfo, opts ? opts : OPTS);
	mongoc_client_t *c = uri ? th_client(uri) : NULL;
	bool r = false;

	if (c == NULL) {
		bson_init(reply);
		memset(err, 0, sizeof *err);
	} else {
		r = th_cmd(c, "admin", reply, err, json);
	}
	mongoc_client_destroy(c);
	free(uri);
	return r;
}

/* Find the server description for a host in a list; NULL when absent. */
static mongoc_server_description_t *
find_sd(mongoc_server_description_t **sds, size_t n, const char *h)
{
	for (size_t i = 0; i < n; i++) {
		const mongoc_host_list_t *hl = mongoc_server_description_host(sds[i]);
		if (h != NULL && strcmp(hl->host_and_port, h) == 0)
			return sds[i];
	}
	return NULL;
}

static const char *
sd_type(mongoc_server_description_t **sds, size_t n, const char *h)
{
	mongoc_server_description_t *sd = find_sd(sds, n, h);

	return sd ? mongoc_server_description_type(sd) : "(absent)";
}

static void
test_startup(sim *s)
{
	const char *u = sim_uri(s);
	int commas = 0;

	tap_is_str(sim_stdout_first_line(s), u, "the first stdout line is the seed URI of the ready file");
	for (int i = 0; i < NMEMBERS; i++)
		host[i] = sim_host(s, i);
	for (const char *p = u; *p; p++)
		commas += *p == ',';
	tap_ok(strncmp(u, "mongodb://", 10) == 0 && strstr(u, "replicaSet=rs0") != NULL,
	       "seed URI is mongodb://... with replicaSet=rs0: %s", u);
	tap_ok(host[0] && host[1] && host[2] && strstr(u, host[0]) && strstr(u, host[1]) && strstr(u, host[2]) &&
	       commas == 2,
	       "seed URI lists the primary, the secondary and the passive member");
	tap_ok(host[3] && host[4] && !strstr(u, host[3]) && !strstr(u, host[4]),
	       "seed URI leaves out the hidden member and the arbiter");
}

static void
check_hello_primary(const bson_t *h)
{
	bool b = false;
	const char *str = NULL;
	int64_t v = 0;
	char *list, *want;

	/* libmongoc's handshake is isMaster, so a real server answers with the legacy name only. */
	tap_ok(th_get_bool(h, "ismaster", &b) && b, "primary hello (to isMaster): ismaster true (bool)");
	tap_ok(th_type(h, "isWritablePrimary") == BSON_TYPE_EOD || (th_get_bool(h, "isWritablePrimary", &b) && b),
	       "primary hello: isWritablePrimary absent (legacy reply) or true");
	tap_ok(th_get_bool(h, "secondary", &b) && !b, "primary hello: secondary false (bool)");
	tap_ok(th_get_str(h, "setName", &str) && strcmp(str, "rs0") == 0, "primary hello: setName rs0");
	list = join_array(h, "hosts");
	want = join2(host[0], host[1]);
	tap_is_str(list, want, "primary hello: hosts are the electable members, as dialled");
	free(list);
	free(want);
	list = join_array(h, "passives");
	tap_is_str(list, host[2], "primary hello: passives is the priority-0 member");
	free(list);
	list = join_array(h, "arbiters");
	tap_is_str(list, host[4], "primary hello: arbiters is the arbiter");
	tap_ok(th_get_str(h, "me", &str) && host[0] && strcmp(str, host[0]) == 0, "primary hello: me");
	tap_ok(th_get_str(h, "primary", &str) && host[0] && strcmp(str, host[0]) == 0, "primary hello: primary");
	free(list);
	is_type(h, "minWireVersion", BSON_TYPE_INT32, "primary hello");
	is_type(h, "maxWireVersion", BSON_TYPE_INT32, "primary hello");
	tap_ok(th_get_int(h, "maxWireVersion", &v) && v == 21, "primary hello: maxWireVersion 21 (7.0)");
	is_type(h, "maxBsonObjectSize", BSON_TYPE_INT32, "primary hello");
	is_type(h, "maxMessageSizeBytes", BSON_TYPE_INT32, "primary hello");
	is_type(h, "maxWriteBatchSize", BSON_TYPE_INT32, "primary hello");
	tap_ok(th_get_int(h, "maxBsonObjectSize", &v) && v == 16777216, "primary hello: maxBsonObjectSize 16 MiB");
	is_type(h, "localTime", BSON_TYPE_DATE_TIME, "primary hello");
	tap_ok(is_number(h, "connectionId"), "primary hello: connectionId is a number");
	tap_ok(is_number(h, "setVersion"), "primary hello: setVersion is a number");
	is_type(h, "electionId", BSON_TYPE_OID, "primary hello");
	tap_ok(th_type(h, "topologyVersion.processId") == BSON_TYPE_OID && th_type(h, "topologyVersion.counter") == BSON_TYPE_INT64,
	       "primary hello: topologyVersion {processId: ObjectId, counter: long} (wire >= 9)");
	tap_ok(th_type(h, "compression") == BSON_TYPE_EOD, "primary hello: no compression");
	tap_ok(th_get_int(h, "ok", &v) && v == 1, "primary hello: ok 1");
}

static void
test_discovery(sim *s)
{
	char *uri = sim_seed_uri(s, CREDS, OPTS);
	mongoc_client_t *c = uri ? th_client(uri) : NULL;
	mongoc_server_description_t **sds = NULL;
	size_t n = 0;
	bson_t reply;
	bson_error_t err;
	bool r;

	r = c && th_cmd_rp(c, "admin", MONGOC_READ_PRIMARY_PREFERRED, &reply, &err, "{\"replSetGetStatus\": 1}");
	if (!tap_ok(r, "replSetGetStatus through the seed URI with SCRAM-SHA-256 (default)"))
		diag_err("replSetGetStatus", &err);
	bson_destroy(&reply);
	if (c)
		sds = mongoc_client_get_server_descriptions(c, &n);
	tap_is_str(sd_type(sds, n, host[0]), "RSPrimary", "discovery: member 0 is RSPrimary");
	tap_is_str(sd_type(sds, n, host[1]), "RSSecondary", "discovery: member 1 is RSSecondary");
	tap_is_str(sd_type(sds, n, host[2]), "RSSecondary", "discovery: passive member 2 is RSSecondary");
	tap_is_str(sd_type(sds, n, host[3]), "(absent)", "discovery: hidden member 3 is not discovered");
	tap_is_str(sd_type(sds, n, host[4]), "RSArbiter", "discovery: arbiter 4 is RSArbiter");
	{
		mongoc_server_description_t *p = find_sd(sds, n, host[0]);
		bson_t empty = BSON_INITIALIZER;
		check_hello_primary(p ? mongoc_server_description_hello_response(p) : &empty);
		bson_destroy(&empty);
	}
	{
		mongoc_server_description_t *sd = find_sd(sds, n, host[1]);
		bson_t empty = BSON_INITIALIZER;
		const bson_t *h = sd ? mongoc_server_description_hello_response(sd) : &empty;
		bool b = true;
		const char *str = NULL;
		tap_ok(th_get_bool(h, "secondary", &b) && b && th_get_bool(h, "ismaster", &b) && !b,
		       "secondary hello: secondary true, ismaster false");
		tap_ok(th_get_str(h, "me", &str) && strcmp(str, host[1]) == 0 && th_get_str(h, "primary", &str) &&
		       strcmp(str, host[0]) == 0,
		       "secondary hello: me is itself, primary is member 0");
		tap_ok(th_type(h, "electionId") == BSON_TYPE_EOD, "secondary hello: no electionId");
		bson_destroy(&empty);
	}
	{
		mongoc_server_description_t *sd = find_sd(sds, n, host[2]);
		bson_t empty = BSON_INITIALIZER;
		bool b = false;
		tap_ok(th_get_bool(sd ? mongoc_server_description_hello_response(sd) : &empty, "passive", &b) && b,
		       "passive member hello: passive true");
		bson_destroy(&empty);
	}
	{
		mongoc_server_description_t *sd = find_sd(sds, n, host[4]);
		bson_t empty = BSON_INITIALIZER;
		bool b = false;
		tap_ok(th_get_bool(sd ? mongoc_server_description_hello_response(sd) : &empty, "arbiterOnly", &b) &&
		       b,
		       "arbiter hello: arbiterOnly true");
		bson_destroy(&empty);
	}
	mongoc_server_descriptions_destroy_all(sds, n);
	mongoc_client_destroy(c);
	free(uri);

	/* The hidden member answers a direct connection and says it is hidden. */
	uri = sim_direct_uri(s, 3, CREDS, OPTS);
	c = uri ? th_client(uri) : NULL;
	r = c && th_cmd(c, "admin", &reply, &err, "{\"ping\": 1}");
	bson_destroy(&reply);
	n = 0;
	sds = c ? mongoc_client_get_server_descriptions(c, &n) : NULL;
	{
		bson_t empty = BSON_INITIALIZER;
		const bson_t *h = n == 1 ? mongoc_server_description_hello_response(sds[0]) : &empty;
		bool hid = false, pas = false;
		tap_ok(r && th_get_bool(h, "hidden", &hid) && hid && th_get_bool(h, "passive", &pas) && pas,
		       "hidden member via directConnection: hello hidden:true passive:true");
		tap_is_str(n == 1 ? mongoc_server_description_type(sds[0]) : "(none)", "RSOther",
		           "hidden member is RSOther to libmongoc");
		bson_destroy(&empty);
	}
	mongoc_server_descriptions_destroy_all(sds, n);
	mongoc_client_destroy(c);
	free(uri);
}

static void
test_status(sim *s)
{
	bson_t r;
	bson_error_t err;
	const char *str = NULL;
	int64_t v = -1;
	bool ok;
	static const char *state_str[NMEMBERS] = { "PRIMARY", "SECONDARY", "SECONDARY", "SECONDARY", "ARBITER" };
	static const int state_num[NMEMBERS] = { 1, 2, 2, 2, 7 };

	ok = direct_cmd(s, 0, CREDS, NULL, &r, &err, "{\"replSetGetStatus\": 1}");
	if (!tap_ok(ok, "replSetGetStatus on the primary"))
		diag_err("replSetGetStatus", &err);
	tap_ok(th_get_str(&r, "set", &str) && strcmp(str, "rs0") == 0, "status: set rs0");
	is_type(&r, "date", BSON_TYPE_DATE_TIME, "status");
	tap_ok(th_get_int(&r, "myState", &v) && v == 1, "status: myState 1 on the primary");
	tap_ok(is_number(&r, "term") && is_number(&r, "heartbeatIntervalMillis"),
	       "status: term and heartbeatIntervalMillis are numbers");
	tap_ok(th_get_int(&r, "votingMembersCount", &v) && v == 5, "status: votingMembersCount 5");
	tap_ok(th_get_int(&r, "writableVotingMembersCount", &v) && v == 4,
	       "status: writableVotingMembersCount 4 (arbiter excluded)");
	tap_ok(th_get_int(&r, "majorityVoteCount", &v) && v == 3 && th_get_int(&r, "writeMajorityCount", &v) &&
	       v == 3,
	       "status: majorityVoteCount 3, writeMajorityCount 3");
	is_type(&r, "optimes.appliedOpTime.ts", BSON_TYPE_TIMESTAMP, "status");
	is_type(&r, "optimes.lastCommittedOpTime.ts", BSON_TYPE_TIMESTAMP, "status");
	tap_is_int(array_len(&r, "members"), NMEMBERS, "status: members lists all 5, hidden and arbiter included");
	for (int i = 0; i < NMEMBERS; i++) {
		char p[64];
		int64_t id = -1, health = -1, st = -1;
		const char *name = NULL, *ss = NULL;
		bool self = false, has_self;
		bool opt_ok;

		snprintf(p, sizeof p, "members.%d._id", i);
		th_get_int(&r, p, &id);
		snprintf(p, sizeof p, "members.%d.name", i);
		th_get_str(&r, p, &name);
		snprintf(p, sizeof p, "members.%d.health", i);
		th_get_int(&r, p, &health);
		snprintf(p, sizeof p, "members.%d.state", i);
		th_get_int(&r, p, &st);
		snprintf(p, sizeof p, "members.%d.stateStr", i);
		th_get_str(&r, p, &ss);
		snprintf(p, sizeof p, "members.%d.self", i);
		has_self = th_get_bool(&r, p, &self);
		snprintf(p, sizeof p, "members.%d.optime.ts", i);
		opt_ok = th_type(&r, p) == BSON_TYPE_TIMESTAMP;
		snprintf(p, sizeof p, "members.%d.optimeDate", i);
		opt_ok = opt_ok && th_type(&r, p) == BSON_TYPE_DATE_TIME;
		if (i == 4)
			opt_ok = true; /* arbiters have no optime */
		snprintf(p, sizeof p, "members.%d.uptime", i);
		opt_ok = opt_ok && is_number(&r, p);
		snprintf(p, sizeof p, "members.%d.configVersion", i);
		opt_ok = opt_ok && is_number(&r, p);
		tap_ok(id == i && name && host[i] && strcmp(name, host[i]) == 0 && health == 1 && st == state_num[i] &&
		       ss && strcmp(ss, state_str[i]) == 0 && (i == 0 ? (has_self && self) : !self) && opt_ok,
		       "status member %d: _id, name, health 1, state %d, stateStr %s, self, optime, uptime, "
		       "configVersion",
		       i, state_num[i], state_str[i]);
	}
	tap_ok(th_get_int(&r, "ok", &v) && v == 1, "status: ok 1");
	bson_destroy(&r);
}

static void
test_config(sim *s, int64_t *config_version)
{
	bson_t r;
	bson_error_t err;
	const char *str = NULL;
	int64_t v = -1;
	bool b = false, ok;

	ok = direct_cmd(s, 1, CREDS, NULL, &r, &err, "{\"replSetGetConfig\": 1}");
	if (!tap_ok(ok, "replSetGetConfig on a secondary"))
		diag_err("replSetGetConfig", &err);
	tap_ok(th_get_str(&r, "config._id", &str) && strcmp(str, "rs0") == 0, "config: _id rs0");
	tap_ok(th_get_int(&r, "config.version", config_version) && *config_version >= 1,
	       "config: version is a number >= 1");
	tap_ok(th_get_int(&r, "config.protocolVersion", &v) && v == 1 && is_number(&r, "config.term"),
	       "config: protocolVersion 1, term");
	tap_is_int(array_len(&r, "config.members"), NMEMBERS, "config: 5 members");
	{
		bool all = array_len(&r, "config.members") == NMEMBERS;
		for (int i = 0; all && i < NMEMBERS; i++) {
			char p[64];
			const char *h = NULL;
			snprintf(p, sizeof p, "config.members.%d.host", i);
			all = th_get_str(&r, p, &h) && host[i] != NULL && strcmp(h, host[i]) == 0;
		}
		tap_ok(all, "config: every member's host is its 127.0.0.1:PORT");
	}
	tap_ok(th_get_int(&r, "config.members.0.priority", &v) && v == 2 &&
	       th_get_str(&r, "config.members.0.tags.dc", &str) && strcmp(str, "east") == 0,
	       "config: member 0 priority 2, tags.dc east");
	tap_ok(th_get_bool(&r, "config.members.3.hidden", &b) && b && th_get_int(&r, "config.members.3.priority", &v) &&
	       v == 0,
	       "config: member 3 hidden, priority 0");
	tap_ok(th_get_bool(&r, "config.members.4.arbiterOnly", &b) && b, "config: member 4 arbiterOnly");
	tap_ok(th_get_bool(&r, "config.members.1.buildIndexes", &b) && b &&
	       th_get_bool(&r, "config.members.1.hidden", &b) && !b &&
	       th_get_bool(&r, "config.members.1.arbiterOnly", &b) && !b &&
	       th_get_int(&r, "config.members.1.votes", &v) && v == 1,
	       "config: member 1 buildIndexes true, hidden false, arbiterOnly false, votes 1");
	tap_ok(th_get_int(&r, "config.members.1.secondaryDelaySecs", &v) && v == 0,
	       "config: secondaryDelaySecs 0 (7.0 name)");
	tap_ok(is_number(&r, "config.settings.heartbeatIntervalMillis") &&
	       is_number(&r, "config.settings.electionTimeoutMillis"),
	       "config: settings.heartbeatIntervalMillis and electionTimeoutMillis");
	bson_destroy(&r);
}

static void
test_auth(sim *s)
{
	bson_t r;
	bson_error_t err;
	const char *str = NULL;
	bool ok;

	ok = direct_cmd(s, 1, CREDS, OPTS "&authMechanism=SCRAM-SHA-1", &r, &err, "{\"replSetGetStatus\": 1}");
	if (!tap_ok(ok, "auth good with authMechanism=SCRAM-SHA-1"))
		diag_err("SCRAM-SHA-1", &err);
	bson_destroy(&r);
	ok = direct_cmd(s, 2, CREDS, OPTS "&authMechanism=SCRAM-SHA-256&authSource=admin", &r, &err,
	                "{\"replSetGetStatus\": 1}");
	if (!tap_ok(ok, "auth good with authMechanism=SCRAM-SHA-256&authSource=admin"))
		diag_err("SCRAM-SHA-256", &err);
	bson_destroy(&r);

	ok = direct_cmd(s, 1, "backup:wrong-pw", NULL, &r, &err, "{\"replSetGetStatus\": 1}");
	tap_ok(!ok && err.domain == MONGOC_ERROR_CLIENT && err.code == MONGOC_ERROR_CLIENT_AUTHENTICATE &&
	       strcmp(err.message, "Authentication failed.") == 0,
	       "bad password (SCRAM-SHA-256): client error 1/11 \"Authentication failed.\"");
	if (ok || err.code != MONGOC_ERROR_CLIENT_AUTHENTICATE)
		diag_err("bad password", &err);
	bson_destroy(&r);
	ok = direct_cmd(s, 0, "backup:wrong-pw", OPTS "&authMechanism=SCRAM-SHA-1", &r, &err,
	                "{\"replSetGetStatus\": 1}");
	tap_ok(!ok && err.domain == MONGOC_ERROR_CLIENT && err.code == MONGOC_ERROR_CLIENT_AUTHENTICATE &&
	       strcmp(err.message, "Authentication failed.") == 0,
	       "bad password (SCRAM-SHA-1): client error 1/11 \"Authentication failed.\"");
	bson_destroy(&r);
	ok = direct_cmd(s, 0, "nobody:x", NULL, &r, &err, "{\"replSetGetStatus\": 1}");
	tap_ok(!ok && err.domain == MONGOC_ERROR_CLIENT && err.code == MONGOC_ERROR_CLIENT_AUTHENTICATE,
	       "unknown user: client error 1/11");
	bson_destroy(&r);

	/* No credentials: the handshake works, commands need auth. */
	ok = direct_cmd(s, 1, NULL, NULL, &r, &err, "{\"ping\": 1}");
	tap_ok(ok, "unauthenticated ping is allowed");
	bson_destroy(&r);
	ok = direct_cmd(s, 1, NULL, NULL, &r, &err, "{\"buildInfo\": 1}");
	tap_ok(ok && th_get_str(&r, "version", &str) && strncmp(str, "7.0", 3) == 0,
	       "unauthenticated buildInfo is allowed and says 7.0.x");
	bson_destroy(&r);
	ok = direct_cmd(s, 1, NULL, NULL, &r, &err, "{\"replSetGetStatus\": 1}");
	tap_ok(!ok && err.domain == MONGOC_ERROR_SERVER && err.code == 13, "unauthenticated replSetGetStatus: code 13");
	bson_destroy(&r);

	/* Authenticated but without the fsync/unlock actions. */
	ok = direct_cmd(s, 1, "monitor:m0n", NULL, &r, &err, "{\"replSetGetStatus\": 1}");
	tap_ok(ok, "clusterMonitor user may run replSetGetStatus");
	bson_destroy(&r);
	ok = direct_cmd(s, 1, "monitor:m0n", NULL, &r, &err, "{\"fsync\": 1, \"lock\": true}");
	tap_ok(!ok && err.domain == MONGOC_ERROR_SERVER && err.code == 13 &&
	       strstr(err.message, "not authorized on admin to execute command") != NULL &&
	       th_get_str(&r, "codeName", &str) && strcmp(str, "Unauthorized") == 0,
	       "clusterMonitor user: fsync lock -> 13 Unauthorized \"not authorized on admin...\"");
	if (ok || err.code != 13)
		diag_err("monitor fsync", &err);
	bson_destroy(&r);
	tap_is_int(sim_status_long(s, 1, "lockCount"), 0, "the refused fsync took no lock");
	ok = direct_cmd(s, 1, "monitor:m0n", NULL, &r, &err, "{\"fsyncUnlock\": 1}");
	tap_ok(!ok && err.code == 13, "clusterMonitor user: fsyncUnlock -> 13");
	bson_destroy(&r);
	/* A real mongod runs these only against admin: Unauthorized "<cmd> may only be run against the admin database." */
	{
		char *uri = sim_direct_uri(s, 1, CREDS, OPTS);
		mongoc_client_t *c = uri ? th_client(uri) : NULL;
		ok = c && th_cmd(c, "test", &r, &err, "{\"fsync\": 1, \"lock\": true}");
		tap_ok(!ok && err.code == 13 && strstr(err.message, "only be run against the admin database") != NULL &&
		       sim_status_long(s, 1, "lockCount") == 0,
		       "fsync lock against a non-admin database: 13 \"...only be run against the admin database\", no lock");
		if (ok)
			tap_diag("  it succeeded: lockCount is now %ld", sim_status_long(s, 1, "lockCount"));
		else if (err.code != 13)
			diag_err("fsync on db test", &err);
		bson_destroy(&r);
		for (int i = 0; i < 4 && sim_status_long(s, 1, "lockCount") > 0; i++)
			sim_ctl(s, NULL, "unlock 1");
		ok = c && th_cmd(c, "test", &r, &err, "{\"replSetGetStatus\": 1}");
		tap_ok(!ok && err.code == 13 && strstr(err.message, "only be run against the admin database") != NULL,
		       "replSetGetStatus against a non-admin database: 13");
		if (ok)
			tap_diag("  it succeeded");
		else if (err.code != 13)
			diag_err("replSetGetStatus on db test", &err);
		bson_destroy(&r);
		mongoc_client_destroy(c);
		free(uri);
	}
	ok = direct_cmd(s, 1, CREDS, NULL, &r, &err, "{\"noSuchCommand\": 1}");
	tap_ok(!ok && err.code == 59 && strcmp(err.message, "no such command: 'noSuchCommand'") == 0,
	       "unknown command: 59 \"no such command: 'noSuchCommand'\"");
	bson_destroy(&r);
}

static void
test_locks(sim *s)
{
	char *uri = sim_direct_uri(s, 1, CREDS, OPTS);
	mongoc_client_t *a = uri ? th_client(uri) : NULL, *b = NULL;
	bson_t r;
	bson_error_t err;
	const char *str = NULL;
	int64_t v = -1;
	bool ok, fl = false;

	ok = a && th_cmd(a, "admin", &r, &err, "{\"fsync\": 1, \"lock\": true}");
	tap_ok(ok && th_type(&r, "lockCount") == BSON_TYPE_INT64 && th_get_int(&r, "lockCount", &v) && v == 1 &&
	       th_get_str(&r, "info", &str) &&
	       strcmp(str, "now locked against writes, use db.fsyncUnlock() to unlock") == 0 &&
	       th_get_str(&r, "seeAlso", &str),
	       "fsync lock: lockCount NumberLong(1), info, seeAlso");
	if (!ok)
		diag_err("fsync lock", &err);
	bson_destroy(&r);
	tap_is_int(sim_status_long(s, 1, "lockCount"), 1, "ctl status shows lockCount=1");
	ok = a && th_cmd(a, "admin", &r, &err, "{\"currentOp\": 1}");
	tap_ok(ok && th_get_bool(&r, "fsyncLock", &fl) && fl && th_get_str(&r, "info", &str),
	       "currentOp while locked: fsyncLock true and info");
	bson_destroy(&r);
	ok = a && th_cmd(a, "admin", &r, &err, "{\"fsync\": 1, \"lock\": true}");
	tap_ok(ok && th_get_int(&r, "lockCount", &v) && v == 2, "second fsync lock nests: lockCount 2");
	bson_destroy(&r);
	ok = a && th_cmd(a, "admin", &r, &err, "{\"fsync\": 1}");
	tap_ok(ok && th_get_int(&r, "numFiles", &v) && th_type(&r, "lockCount") == BSON_TYPE_EOD,
	       "fsync without lock: numFiles, no lockCount");
	bson_destroy(&r);
	tap_is_int(sim_status_long(s, 1, "lockCount"), 2, "fsync without lock leaves lockCount=2");

	/* The lock outlives the client that took it. */
	mongoc_client_destroy(a);
	a = NULL;
	tap_is_int(sim_status_long(s, 1, "lockCount"), 2, "the lock survives the client being destroyed");
	b = uri ? th_client(uri) : NULL;
	ok = b && th_cmd(b, "admin", &r, &err, "{\"currentOp\": 1}");
	tap_ok(ok && th_get_bool(&r, "fsyncLock", &fl) && fl, "another client's currentOp sees fsyncLock true");
	bson_destroy(&r);
	ok = b && th_cmd(b, "admin", &r, &err, "{\"fsyncUnlock\": 1}");
	tap_ok(ok && th_type(&r, "lockCount") == BSON_TYPE_INT64 && th_get_int(&r, "lockCount", &v) && v == 1 &&
	       th_get_str(&r, "info", &str) && strcmp(str, "fsyncUnlock completed") == 0,
	       "fsyncUnlock from another client: lockCount NumberLong(1), \"fsyncUnlock completed\"");
	bson_destroy(&r);
	ok = b && th_cmd(b, "admin", &r, &err, "{\"currentOp\": 1}");
	tap_ok(ok && th_get_bool(&r, "fsyncLock", &fl) && fl, "still locked at lockCount 1");
	bson_destroy(&r);
	ok = b && th_cmd(b, "admin", &r, &err, "{\"fsyncUnlock\": 1}");
	tap_ok(ok && th_get_int(&r, "lockCount", &v) && v == 0, "second fsyncUnlock: lockCount 0");
	bson_destroy(&r);
	ok = b && th_cmd(b, "admin", &r, &err, "{\"currentOp\": 1}");
	tap_ok(ok && th_type(&r, "fsyncLock") == BSON_TYPE_EOD && th_type(&r, "inprog") == BSON_TYPE_ARRAY,
	       "currentOp after unlock: inprog, no fsyncLock field");
	bson_destroy(&r);
	ok = b && th_cmd(b, "admin", &r, &err, "{\"fsyncUnlock\": 1}");
	tap_ok(!ok && err.domain == MONGOC_ERROR_SERVER && err.code == 20 &&
	       strcmp(err.message, "fsyncUnlock called when not locked") == 0 && th_get_str(&r, "codeName", &str) &&
	       strcmp(str, "IllegalOperation") == 0,
	       "fsyncUnlock when not locked (7.0): 20 IllegalOperation \"fsyncUnlock called when not locked\"");
	if (ok || err.code != 20)
		diag_err("fsyncUnlock not locked", &err);
	bson_destroy(&r);

	/* ctl lock and the command share one counter. */
	tap_ok(sim_ctl(s, NULL, "lock 1") == 0, "ctl lock 1");
	ok = b && th_cmd(b, "admin", &r, &err, "{\"fsyncUnlock\": 1}");
	tap_ok(ok && th_get_int(&r, "lockCount", &v) && v == 0, "fsyncUnlock releases a ctl lock: lockCount 0");
	bson_destroy(&r);
	tap_ok(sim_ctl(s, NULL, "lock %s", host[2] ? host[2] : "?") == 0 &&
	       sim_status_long(s, 2, "lockCount") == 1 && sim_ctl(s, NULL, "unlock 2") == 0 &&
	       sim_status_long(s, 2, "lockCount") == 0,
	       "ctl lock/unlock by 127.0.0.1:PORT and by _id");
	{
		char *out = NULL;
		int rc = sim_ctl(s, &out, "unlock 2");
		tap_ok(rc != 0 && out && strncmp(out, "error: ", 7) == 0, "ctl unlock when not locked is an error");
		free(out);
	}
	mongoc_client_destroy(b);
	free(uri);
}

static bool
find_id(mongoc_client_t *c, const char *id)
{
	bson_t r;
	bson_error_t err;
	char json[256];
	bool ok;
	const char *got = NULL;

	snprintf(json, sizeof json, "{\"find\": \"c\", \"filter\": {\"_id\": \"%s\"}}", id);
	ok = th_cmd_rp(c, "mbhtest", MONGOC_READ_PRIMARY_PREFERRED, &r, &err, json);
	ok = ok && th_get_str(&r, "cursor.firstBatch.0._id", &got) && strcmp(got, id) == 0;
	bson_destroy(&r);
	return ok;
}

static bool
wait_find(mongoc_client_t *c, const char *id, int ms)
{
	int64_t deadline = th_now_ms() + ms;

	while (!find_id(c, id)) {
		if (th_now_ms() > deadline)
			return false;
		th_pause_ms(50);
	}
	return true;
}

static void
test_replication(sim *s)
{
	char *uri = sim_seed_uri(s, CREDS, OPTS);
	char *u1 = sim_direct_uri(s, 1, CREDS, OPTS);
	char *u2 = sim_direct_uri(s, 2, CREDS, OPTS);
	mongoc_client_t *c = uri ? th_client(uri) : NULL;
	mongoc_client_t *c1 = u1 ? th_client(u1) : NULL;
	mongoc_client_t *c2 = u2 ? th_client(u2) : NULL;
	mongoc_collection_t *coll = NULL;
	bson_t r;
	bson_error_t err;
	int64_t v = -1;
	const char *str = NULL;
	bool ok;

	ok = c && th_cmd_rp(c, "mbhtest", MONGOC_READ_PRIMARY, &r, &err,
	                    "{\"insert\": \"c\", \"documents\": [{\"_id\": \"r1\", \"v\": 1}]}");
	tap_ok(ok && th_get_int(&r, "n", &v) && v == 1, "insert on the primary: n 1");
	if (!ok)
		diag_err("insert", &err);
	bson_destroy(&r);
	tap_ok(c && find_id(c, "r1"), "find on the primary sees the insert");
	tap_ok(c1 && wait_find(c1, "r1", 10000), "find on secondary 1 sees the insert after replication");
	if (c) {
		bson_t *doc = BCON_NEW("_id", BCON_UTF8("r2"), "v", BCON_INT32(2));
		coll = mongoc_client_get_collection(c, "mbhtest", "c");
		ok = mongoc_collection_insert_one(coll, doc, NULL, NULL, &err);
		if (!ok)
			diag_err("insert_one", &err);
		bson_destroy(doc);
	} else {
		ok = false;
	}
	tap_ok(ok, "insert_one (OP_MSG document sequence) on the primary");
	tap_ok(c2 && wait_find(c2, "r2", 10000), "find on passive member 2 sees it after replication");
	tap_ok(c1 && !find_id(c1, "nothere"), "find of an absent _id returns an empty batch");

	ok = c1 && th_cmd(c1, "mbhtest", &r, &err, "{\"insert\": \"c\", \"documents\": [{\"_id\": \"bad\"}]}");
	tap_ok(!ok && err.domain == MONGOC_ERROR_SERVER && err.code == 10107 && th_get_str(&r, "codeName", &str) &&
	       strcmp(str, "NotWritablePrimary") == 0,
	       "insert on a secondary: 10107 NotWritablePrimary");
	if (ok || err.code != 10107)
		diag_err("insert on secondary", &err);
	bson_destroy(&r);
	tap_ok(c && !find_id(c, "bad"), "the refused insert wrote nothing");

	mongoc_collection_destroy(coll);
	mongoc_client_destroy(c);
	mongoc_client_destroy(c1);
	mongoc_client_destroy(c2);
	free(uri);
	free(u1);
	free(u2);
}

/* One command's reply; false (and a diagnostic) when the command itself failed. */
static bool
cmd_reply(mongoc_client_t *c, const char *db, bson_t *r, bson_error_t *err, const char *json)
{
	bool ok = c && th_cmd_rp(c, db, MONGOC_READ_PRIMARY, r, err, json);

	if (!ok && c)
		diag_err(json, err);
	return ok;
}

/* What another client (mongosh, the Node.js driver) sends beyond the product's commands, and a
 * duplicate _id, answered as a 7.0 mongod answers them. */
static void
test_other_clients(sim *s)
{
	char *uri = sim_seed_uri(s, CREDS, OPTS);
	mongoc_client_t *c = uri ? th_client(uri) : NULL;
	bson_t r;
	bson_error_t err;
	int64_t v = -1;
	const char *str = NULL;
	bool ok;

	ok = cmd_reply(c, "mbhtest", &r, &err, "{\"insert\": \"c\", \"documents\": [{\"_id\": \"r1\", \"v\": 9}]}");
	tap_ok(ok && th_get_int(&r, "n", &v) && v == 0 && th_get_int(&r, "writeErrors.0.code", &v) && v == 11000 &&
	       th_get_int(&r, "writeErrors.0.index", &v) && v == 0,
	       "duplicate _id: ok 1, n 0, writeErrors [{index 0, code 11000}]");
	tap_is_str(th_get_str(&r, "writeErrors.0.errmsg", &str) ? str : "(none)",
	           "E11000 duplicate key error collection: mbhtest.c index: _id_ dup key: { _id: \"r1\" }",
	           "duplicate _id: the server's errmsg");
	tap_ok(th_get_int(&r, "writeErrors.0.keyPattern._id", &v) && v == 1 &&
	       th_get_str(&r, "writeErrors.0.keyValue._id", &str) && strcmp(str, "r1") == 0,
	       "duplicate _id: keyPattern {_id: 1}, keyValue {_id: \"r1\"}");
	bson_destroy(&r);
	ok = cmd_reply(c, "mbhtest", &r, &err,
	               "{\"insert\": \"c\", \"documents\": [{\"_id\": \"d1\"}, {\"_id\": \"d1\"}, {\"_id\": \"d2\"}]}");
	tap_ok(ok && th_get_int(&r, "n", &v) && v == 1 && th_get_int(&r, "writeErrors.0.index", &v) && v == 1,
	       "ordered batch with a duplicate inside: n 1, the error at index 1");
	bson_destroy(&r);
	tap_ok(c && find_id(c, "d1") && !find_id(c, "d2"), "ordered batch: stops at the duplicate");
	ok = cmd_reply(c, "mbhtest", &r, &err,
	               "{\"insert\": \"c\", \"ordered\": false, \"documents\": [{\"_id\": \"d1\"}, {\"_id\": \"d3\"}]}");
	tap_ok(ok && th_get_int(&r, "n", &v) && v == 1 && th_get_int(&r, "writeErrors.0.index", &v) && v == 0 &&
	       c && find_id(c, "d3"),
	       "unordered batch: the duplicate is skipped, the rest is written");
	bson_destroy(&r);

	ok = cmd_reply(c, "admin", &r, &err, "{\"connectionStatus\": 1}");
	tap_ok(ok && th_get_str(&r, "authInfo.authenticatedUsers.0.user", &str) && strcmp(str, "backup") == 0 &&
	       th_get_str(&r, "authInfo.authenticatedUserRoles.0.role", &str),
	       "connectionStatus: the authenticated user and its roles");
	bson_destroy(&r);
	ok = cmd_reply(c, "admin", &r, &err, "{\"getParameter\": 1, \"featureCompatibilityVersion\": 1}");
	tap_ok(ok && th_get_str(&r, "featureCompatibilityVersion.version", &str) && strcmp(str, "7.0") == 0,
	       "getParameter featureCompatibilityVersion: 7.0");
	bson_destroy(&r);
	ok = c && th_cmd(c, "admin", &r, &err, "{\"getParameter\": \"foo\"}");
	tap_ok(!ok && err.code == 72, "getParameter of nothing known: 72 InvalidOptions");
	bson_destroy(&r);
	ok = c && th_cmd(c, "admin", &r, &err, "{\"atlasVersion\": 1}");
	tap_ok(!ok && err.code == 59 && strstr(err.message, "no such command: 'atlasVersion'"),
	       "atlasVersion: 59 no such command");
	bson_destroy(&r);
	ok = cmd_reply(c, "admin", &r, &err, "{\"getLog\": \"startupWarnings\"}");
	tap_ok(ok && th_get_int(&r, "totalLinesWritten", &v) && v == 0, "getLog startupWarnings: an empty log");
	bson_destroy(&r);
	ok = cmd_reply(c, "admin", &r, &err, "{\"listDatabases\": 1, \"nameOnly\": true}");
	tap_ok(ok && th_get_str(&r, "databases.0.name", &str) && strcmp(str, "admin") == 0 &&
	       th_get_str(&r, "databases.3.name", &str) && strcmp(str, "mbhtest") == 0,
	       "listDatabases: admin, config, local and the written database, sorted");
	bson_destroy(&r);
	ok = cmd_reply(c, "admin", &r, &err, "{\"getCmdLineOpts\": 1}");
	tap_ok(ok && th_get_str(&r, "parsed.replication.replSet", &str) && strcmp(str, "rs0") == 0,
	       "getCmdLineOpts: parsed.replication.replSet");
	bson_destroy(&r);
	ok = cmd_reply(c, "admin", &r, &err, "{\"hostInfo\": 1}");
	tap_ok(ok && th_get_str(&r, "os.type", &str) && th_get_int(&r, "system.numCores", &v) && v > 0,
	       "hostInfo: os and system");
	bson_destroy(&r);
	/* what the Node.js driver's countDocuments sends */
	ok = cmd_reply(c, "mbhtest", &r, &err,
	               "{\"aggregate\": \"c\", \"pipeline\": [{\"$match\": {\"_id\": \"d1\"}}, "
	               "{\"$group\": {\"_id\": 1, \"n\": {\"$sum\": 1}}}], \"cursor\": {}}");
	tap_ok(ok && th_get_int(&r, "cursor.firstBatch.0.n", &v) && v == 1, "aggregate $match + $group count: 1");
	bson_destroy(&r);
	ok = cmd_reply(c, "local", &r, &err,
	               "{\"aggregate\": \"system.replset\", \"pipeline\": [{\"$count\": \"n\"}], \"cursor\": {}}");
	tap_ok(ok && th_get_int(&r, "cursor.firstBatch.0.n", &v) && v == 1, "local.system.replset holds the config");
	bson_destroy(&r);
	ok = c && th_cmd(c, "mbhtest", &r, &err, "{\"aggregate\": \"c\", \"pipeline\": [{\"$bogus\": {}}], \"cursor\": {}}");
	tap_ok(!ok && err.code == 40324, "aggregate with an unknown stage: 40324");
	bson_destroy(&r);
	ok = cmd_reply(c, "admin", &r, &err,
	               "{\"aggregate\": 1, \"pipeline\": [{\"$currentOp\": {\"allUsers\": true}}], \"cursor\": {}}");
	tap_ok(ok && th_get_str(&r, "cursor.firstBatch.0.op", &str) && strcmp(str, "command") == 0,
	       "aggregate $currentOp: this operation");
	bson_destroy(&r);

	mongoc_client_destroy(c);
	free(uri);
}

static void
test_old_server(void)
{
	sim *s = sim_start(topology_old, NULL);
	bson_t r;
	bson_error_t err;
	const char *str = NULL;
	int64_t v = -1;
	bool ok;
	char ctl[1024] = "";

	if (!tap_ok(s != NULL, "a 4.4 (wire 9) simulator starts")) {
		for (int i = 0; i < 7; i++)
			tap_ok(false, "skipped: no 4.4 simulator");
		return;
	}
	snprintf(ctl, sizeof ctl, "%s", sim_ctl_path(s));
	ok = direct_cmd(s, 1, NULL, NULL, &r, &err, "{\"buildInfo\": 1}");
	tap_ok(ok && th_get_str(&r, "version", &str) && strncmp(str, "4.4", 3) == 0, "buildInfo says 4.4.x");
	bson_destroy(&r);
	{
		char *uri = sim_direct_uri(s, 1, NULL, OPTS);
		mongoc_client_t *c = uri ? th_client(uri) : NULL;
		mongoc_server_description_t **sds = NULL;
		size_t n = 0;
		ok = c && th_cmd(c, "admin", &r, &err, "{\"ping\": 1}");
		bson_destroy(&r);
		sds = c ? mongoc_client_get_server_descriptions(c, &n) : NULL;
		tap_ok(ok && n == 1 && th_get_int(mongoc_server_description_hello_response(sds[0]), "maxWireVersion", &v) &&
		       v == 9,
		       "hello maxWireVersion 9");
		mongoc_server_descriptions_destroy_all(sds, n);
		mongoc_client_destroy(c);
		free(uri);
	}
	ok = direct_cmd(s, 1, NULL, NULL, &r, &err, "{\"fsyncUnlock\": 1}");
	tap_ok(!ok && err.code == 125 && strcmp(err.message, "fsyncUnlock called when not locked") == 0,
	       "fsyncUnlock when not locked (4.4): 125 \"fsyncUnlock called when not locked\"");
	if (ok || err.code != 125)
		diag_err("old fsyncUnlock", &err);
	bson_destroy(&r);
	ok = direct_cmd(s, 0, NULL, NULL, &r, &err, "{\"replSetGetConfig\": 1}");
	tap_ok(ok && th_type(&r, "config.members.1.slaveDelay") != BSON_TYPE_EOD &&
	       th_type(&r, "config.members.1.secondaryDelaySecs") == BSON_TYPE_EOD,
	       "replSetGetConfig (4.4) names the delay slaveDelay, not secondaryDelaySecs");
	bson_destroy(&r);
	tap_ok(sim_ctl(s, NULL, "shutdown") == 0, "ctl shutdown answers ok");
	{
		int64_t deadline = th_now_ms() + 10000;
		while (sim_alive(s) && th_now_ms() < deadline)
			th_pause_ms(10);
	}
	tap_ok(!sim_alive(s) && access(ctl, F_OK) != 0 && errno == ENOENT,
	       "after ctl shutdown the simulator exits and removes its control socket");
	tap_is_int(sim_stop(s), 0, "and its exit status is 0");
}

/* The hello libmongoc saw from member id of s over a direct connection (empty when unreachable). */
static void
direct_hello(sim *s, int id, bson_t *out, const char **type)
{
	char *uri = sim_direct_uri(s, id, NULL, OPTS);
	mongoc_client_t *c = uri ? th_client(uri) : NULL;
	mongoc_server_description_t **sds = NULL;
	size_t n = 0;
	bson_t r;
	bson_error_t err;
	static char tbuf[32];

	bson_init(out);
	snprintf(tbuf, sizeof tbuf, "(none)");
	*type = tbuf;
	if (c != NULL && th_cmd(c, "admin", &r, &err, "{\"ping\": 1}")) {
		sds = mongoc_client_get_server_descriptions(c, &n);
		if (n == 1) {
			bson_destroy(out);
			bson_copy_to(mongoc_server_description_hello_response(sds[0]), out);
			snprintf(tbuf, sizeof tbuf, "%s", mongoc_server_description_type(sds[0]));
		}
		mongoc_server_descriptions_destroy_all(sds, n);
	}
	if (c != NULL)
		bson_destroy(&r);
	mongoc_client_destroy(c);
	free(uri);
}

static void
test_special_members(void)
{
	sim *s = sim_start(topology_special, NULL);
	char *h[7] = { NULL };
	bson_t r, hello;
	bson_error_t err;
	const char *type = NULL, *str = NULL;
	int64_t v = -1, w = -1;
	bool ok, b = false;
	int64_t deadline;

	if (!tap_ok(s != NULL, "a simulator with delayed/buildIndexes:false/RECOVERING/STARTUP2/DOWN members starts")) {
		for (int i = 0; i < 18; i++)
			tap_ok(false, "skipped: no simulator");
		return;
	}
	for (int i = 0; i < 7; i++)
		h[i] = sim_host(s, i);
	{
		const char *u = sim_uri(s);
		bool in = true;
		for (int i = 0; i < 7; i++)
			if (i != 1)
				in = in && h[i] && strstr(u, h[i]) != NULL;
		tap_ok(in && h[1] && strstr(u, h[1]) == NULL,
		       "seed URI: every member but the delayed one (the DOWN one has a port too)");
	}
	ok = direct_cmd(s, 5, NULL, "connectTimeoutMS=1000", &r, &err, "{\"ping\": 1}");
	tap_ok(!ok && strstr(err.message, "connection refused") != NULL, "a member configured DOWN refuses connections");
	bson_destroy(&r);

	ok = direct_cmd(s, 0, NULL, NULL, &r, &err, "{\"replSetGetStatus\": 1}");
	tap_ok(ok && th_get_int(&r, "members.3.state", &v) && v == 3 && th_get_str(&r, "members.3.stateStr", &str) &&
	       strcmp(str, "RECOVERING") == 0,
	       "status: member 3 state 3 RECOVERING");
	tap_ok(ok && th_get_int(&r, "members.4.state", &v) && v == 5 && th_get_str(&r, "members.4.stateStr", &str) &&
	       strcmp(str, "STARTUP2") == 0,
	       "status: member 4 state 5 STARTUP2");
	tap_ok(ok && th_get_int(&r, "members.5.state", &v) && v == 8 && th_get_int(&r, "members.5.health", &w) &&
	       w == 0 && th_get_str(&r, "members.5.stateStr", &str) && strcmp(str, "(not reachable/healthy)") == 0,
	       "status: member 5 state 8, health 0, \"(not reachable/healthy)\"");
	tap_ok(ok && th_get_int(&r, "votingMembersCount", &v) && v == 6 && th_get_int(&r, "majorityVoteCount", &w) &&
	       w == 4,
	       "status: votingMembersCount 6 (one votes:0), majorityVoteCount 4");
	bson_destroy(&r);

	ok = direct_cmd(s, 0, NULL, NULL, &r, &err, "{\"replSetGetConfig\": 1}");
	tap_ok(ok && th_get_int(&r, "config.members.1.secondaryDelaySecs", &v) && v == 3600 &&
	       th_get_bool(&r, "config.members.1.hidden", &b) && b,
	       "config: member 1 secondaryDelaySecs 3600, hidden");
	tap_ok(ok && th_get_bool(&r, "config.members.2.buildIndexes", &b) && !b, "config: member 2 buildIndexes false");
	tap_ok(ok && th_get_int(&r, "config.members.6.votes", &v) && v == 0, "config: member 6 votes 0");
	bson_destroy(&r);

	direct_hello(s, 1, &hello, &type);
	tap_ok(th_get_int(&hello, "secondaryDelaySecs", &v) && v == 3600 && th_get_bool(&hello, "hidden", &b) && b,
	       "delayed member's hello: secondaryDelaySecs 3600, hidden");
	bson_destroy(&hello);
	direct_hello(s, 2, &hello, &type);
	tap_ok(th_get_bool(&hello, "buildIndexes", &b) && !b, "buildIndexes:false member's hello says so");
	bson_destroy(&hello);
	direct_hello(s, 3, &hello, &type);
	tap_ok(th_get_bool(&hello, "ismaster", &b) && !b && th_get_bool(&hello, "secondary", &b) && !b &&
	       strcmp(type, "RSOther") == 0,
	       "RECOVERING member's hello: neither primary nor secondary (libmongoc: RSOther)");
	bson_destroy(&hello);

	/* The delayed member applies nothing recent; the others do. */
	ok = sim_ctl(s, NULL, "write 5") == 0;
	deadline = th_now_ms() + 10000;
	{
		uint64_t p = 0, d = 0, q = 0;
		bool caught = false;
		while (ok && th_now_ms() < deadline) {
			bson_iter_t it, f;
			uint32_t t, i;
			ok = direct_cmd(s, 0, NULL, NULL, &r, &err, "{\"replSetGetStatus\": 1}");
			if (ok && bson_iter_init(&it, &r) && bson_iter_find_descendant(&it, "members.0.optime.ts", &f)) {
				bson_iter_timestamp(&f, &t, &i);
				p = (uint64_t)t << 32 | i;
			}
			if (ok && bson_iter_init(&it, &r) && bson_iter_find_descendant(&it, "members.1.optime.ts", &f)) {
				bson_iter_timestamp(&f, &t, &i);
				d = (uint64_t)t << 32 | i;
			}
			if (ok && bson_iter_init(&it, &r) && bson_iter_find_descendant(&it, "members.2.optime.ts", &f)) {
				bson_iter_timestamp(&f, &t, &i);
				q = (uint64_t)t << 32 | i;
			}
			bson_destroy(&r);
			if (q > d && p >= q) {
				caught = true;
				break;
			}
			th_pause_ms(50);
		}
		tap_ok(caught, "after ctl write the buildIndexes:false member moves past the 3600 s delayed member");
	}

	{
		char *uri = sim_seed_uri(s, NULL, OPTS);
		mongoc_client_t *c = uri ? th_client(uri) : NULL;
		mongoc_server_description_t **sds = NULL;
		size_t n = 0;
		ok = c && th_cmd_rp(c, "admin", MONGOC_READ_PRIMARY, &r, &err, "{\"ping\": 1}");
		bson_destroy(&r);
		if (c)
			sds = mongoc_client_get_server_descriptions(c, &n);
		tap_ok(ok && strcmp(sd_type(sds, n, h[0]), "RSPrimary") == 0 &&
		       strcmp(sd_type(sds, n, h[2]), "RSSecondary") == 0 &&
		       strcmp(sd_type(sds, n, h[6]), "RSSecondary") == 0,
		       "discovery: primary, and the buildIndexes:false and non-voting members as secondaries");
		tap_ok(strcmp(sd_type(sds, n, h[3]), "RSOther") == 0 && strcmp(sd_type(sds, n, h[4]), "RSOther") == 0 &&
		       strcmp(sd_type(sds, n, h[5]), "(absent)") == 0 && strcmp(sd_type(sds, n, h[1]), "(absent)") == 0,
		       "discovery: RECOVERING and STARTUP2 are RSOther; DOWN and delayed are absent");
		mongoc_server_descriptions_destroy_all(sds, n);
		mongoc_client_destroy(c);
		free(uri);
	}
	tap_ok(sim_ctl(s, NULL, "revive 5") == 0 && sim_wait_status(s, 5, "state", "SECONDARY", 2000),
	       "ctl revive of the DOWN member: SECONDARY");
	ok = direct_cmd(s, 5, NULL, NULL, &r, &err, "{\"ping\": 1}");
	tap_ok(ok, "and it answers");
	bson_destroy(&r);
	tap_is_int(sim_stop(s), 0, "the simulator exits 0 on SIGTERM");
	for (int i = 0; i < 7; i++)
		free(h[i]);
}

int
main(void)
{
	sim *s;
	int64_t cv = 0;
	int rc;

	mongoc_init();
	th_quiet_mongoc_log();
	th_watchdog(240);
	tap_plan(PLAN);
	s = sim_start(topology_main, NULL);
	if (s == NULL) {
		printf("Bail out! the simulator did not start\n");
		return 1;
	}
	test_startup(s);
	test_discovery(s);
	test_status(s);
	test_config(s, &cv);
	test_auth(s);
	test_locks(s);
	test_replication(s);
	test_other_clients(s);
	tap_ok(sim_all_unlocked(s), "no member is left locked");
	tap_is_int(sim_stop(s), 0, "the simulator exits 0 on SIGTERM");
	test_old_server();
	test_special_members();
	for (int i = 0; i < NMEMBERS; i++)
		free(host[i]);
	mongoc_cleanup();
	rc = tap_exit_status();
	return rc;
}
