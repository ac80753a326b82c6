/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_topology.c: the member table from canned replSetGetConfig / replSetGetStatus replies (TAP). */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topology.h"
#include "tap.h"

static bson_t *
json(const char *text)
{
	bson_error_t e;
	bson_t *b = bson_new_from_json((const uint8_t *)text, -1, &e);

	if (b == NULL) {
		printf("Bail out! bad JSON in the test: %s\n", e.message);
		exit(1);
	}
	return b;
}

/* Parse a pair of JSON replies; returns the rc, the table in *t, the error in err. */
static int
parse(mbh_topology **t, const char *config, const char *status, mbh_error *err)
{
	bson_t *c = json(config), *s = json(status);
	int rc;

	mbh_error_init(err);
	rc = mbh_topology_from_replies(t, c, s, err);
	bson_destroy(c);
	bson_destroy(s);
	return rc;
}

/* A 4.4-era config: slaveDelay, int32 numbers, a hidden member, an arbiter. */
static const char *config_44 =
	"{\"config\": {\"_id\": \"rs0\", \"version\": 7, \"protocolVersion\": {\"$numberLong\": \"1\"},"
	" \"members\": ["
	"  {\"_id\": 0, \"host\": \"db1:27017\", \"arbiterOnly\": false, \"buildIndexes\": true, \"hidden\": false,"
	"   \"priority\": 2.0, \"tags\": {\"dc\": \"east\"}, \"slaveDelay\": {\"$numberLong\": \"0\"}, \"votes\": 1},"
	"  {\"_id\": 1, \"host\": \"db2:27017\", \"priority\": 1, \"votes\": 1, \"tags\": {}},"
	"  {\"_id\": 2, \"host\": \"db3:27017\", \"hidden\": true, \"priority\": 0, \"votes\": 0,"
	"   \"slaveDelay\": 3600, \"buildIndexes\": false},"
	"  {\"_id\": 5, \"host\": \"arb:27017\", \"arbiterOnly\": true, \"votes\": {\"$numberLong\": \"1\"}},"
	"  {\"_id\": 6, \"host\": \"gone:27017\", \"priority\": 0.0, \"votes\": 1.0}"
	" ]}, \"ok\": 1.0}";

static const char *status_44 =
	"{\"set\": \"rs0\", \"date\": {\"$date\": 1700000100000}, \"myState\": 1,"
	" \"writeMajorityCount\": {\"$numberLong\": \"3\"},"
	" \"members\": ["
	"  {\"_id\": 0, \"name\": \"db1:27017\", \"health\": 1.0, \"state\": 1, \"stateStr\": \"PRIMARY\","
	"   \"optime\": {\"ts\": {\"$timestamp\": {\"t\": 1700000100, \"i\": 1}}, \"t\": 1},"
	"   \"optimeDate\": {\"$date\": 1700000100000}, \"syncSourceHost\": \"\", \"self\": true},"
	"  {\"_id\": 1, \"name\": \"db2:27017\", \"health\": 1, \"state\": {\"$numberLong\": \"2\"},"
	"   \"stateStr\": \"SECONDARY\", \"optimeDate\": {\"$date\": 1700000088000}, \"syncingTo\": \"db1:27017\"},"
	"  {\"_id\": 2, \"name\": \"db3:27017\", \"health\": 1, \"state\": 2.0, \"stateStr\": \"SECONDARY\","
	"   \"optime\": {\"ts\": {\"$timestamp\": {\"t\": 1699996500, \"i\": 3}}, \"t\": 1},"
	"   \"syncSourceHost\": \"db2:27017\"},"
	"  {\"_id\": 5, \"name\": \"arb:27017\", \"health\": 1, \"state\": 7, \"stateStr\": \"ARBITER\"}"
	" ], \"ok\": 1}";

static void
test_44(void)
{
	mbh_topology *t = NULL;
	mbh_error err;

	is_int(parse(&t, config_44, status_44, &err), 0, "4.4 replies parse");
	if (t == NULL) {
		diag("%s", err.msg);
		return;
	}
	is_str(t->set_name, "rs0", "set name");
	is_int(t->config_version, 7, "config version");
	is_int((long long)t->nmembers, 5, "every configured member, hidden ones too");
	is_int(t->write_majority_count, 3, "writeMajorityCount as int64");
	is_int(t->primary, 0, "primary index");
	is_int(t->date_ms, 1700000100000LL, "status date");
	is_str(t->members[0].host, "db1:27017", "host");
	ok(t->members[0].priority == 2.0, "priority as double");
	is_int((long long)t->members[0].ntags, 1, "tags");
	is_str(t->members[0].tags[0].value, "east", "tag value");
	is_int(t->members[1].votes, 1, "default fields");
	ok(t->members[1].build_indexes && !t->members[1].hidden && !t->members[1].arbiter, "defaults: buildIndexes, not hidden");
	is_str(t->members[1].sync_source, "db1:27017", "syncingTo is the old name of syncSourceHost");
	is_int(t->members[1].state, MBH_RS_SECONDARY, "state as int64");
	is_int(mbh_topology_lag_seconds(t, 1), 12, "lag from optimeDate");
	ok(t->members[2].hidden, "hidden member present");
	is_int(t->members[2].delay_secs, 3600, "slaveDelay read as the delay");
	ok(!t->members[2].build_indexes, "buildIndexes false");
	is_int(t->members[2].votes, 0, "votes 0");
	is_int(t->members[2].state, MBH_RS_SECONDARY, "state as double");
	is_int(t->members[2].optime_ms, 1699996500000LL, "optime.ts when there is no optimeDate");
	is_int(mbh_topology_lag_seconds(t, 2), 3600, "lag of the delayed member");
	ok(t->members[3].arbiter, "arbiter");
	ok(t->members[3].priority == 0, "arbiter priority defaults to 0");
	is_int(t->members[3].id, 5, "config _id kept");
	is_int(t->members[4].health, 0, "member missing from replSetGetStatus: down");
	is_int(t->members[4].state, MBH_RS_UNKNOWN, "member missing from replSetGetStatus: UNKNOWN");
	is_int(t->members[4].votes, 1, "votes as double");
	/* replSetGetStatus says nothing about fsync locks: only currentOp on the member does (select.c asks) */
	ok(t->members[1].fsync == MBH_FSYNC_NOT_ASKED && t->members[1].fsync_error == NULL,
	   "fsync lock state: not asked");
	mbh_topology_free(t);
}

static void
test_70(void)
{
	mbh_topology *t = NULL;
	mbh_error err;
	const char *config =
		"{\"config\": {\"_id\": \"rs1\", \"version\": {\"$numberLong\": \"3\"}, \"term\": 2, \"members\": ["
		" {\"_id\": 0, \"host\": \"a:1\", \"secondaryDelaySecs\": {\"$numberLong\": \"0\"}},"
		" {\"_id\": 1, \"host\": \"b:1\", \"secondaryDelaySecs\": {\"$numberLong\": \"120\"}, \"priority\": 0,"
		"  \"hidden\": true},"
		" {\"_id\": 2, \"host\": \"c:1\"}]}, \"ok\": 1}";
	const char *status =
		"{\"set\": \"rs1\", \"date\": {\"$date\": 1700000000000}, \"members\": ["
		" {\"_id\": 0, \"name\": \"a:1\", \"health\": 1, \"state\": 2, \"stateStr\": \"SECONDARY\","
		"  \"optimeDate\": {\"$date\": 1700000000000}},"
		" {\"_id\": 1, \"name\": \"b:1\", \"health\": 1, \"state\": 2, \"stateStr\": \"SECONDARY\","
		"  \"optimeDate\": {\"$date\": 1699999990000}},"
		" {\"_id\": 2, \"name\": \"c:1\", \"health\": 0, \"state\": 8, \"stateStr\": \"(not reachable/healthy)\"}"
		"], \"ok\": 1}";

	is_int(parse(&t, config, status, &err), 0, "7.0 replies parse");
	if (t == NULL) {
		diag("%s", err.msg);
		return;
	}
	is_int(t->members[1].delay_secs, 120, "secondaryDelaySecs");
	is_int(t->primary, -1, "no primary");
	is_int(t->write_majority_count, 2, "writeMajorityCount computed from the votes when absent");
	is_int(mbh_topology_lag_seconds(t, 1), 10, "lag behind the newest member when there is no primary");
	is_int(t->members[2].health, 0, "health 0");
	is_str(t->members[2].state_str, "(not reachable/healthy)", "stateStr kept");
	mbh_topology_free(t);
}

static void
bad(const char *config, const char *status, const char *want, const char *name)
{
	mbh_topology *t = NULL;
	mbh_error err;
	int rc = parse(&t, config, status, &err);

	ok(rc == -1 && t == NULL && err.code == 76, "%s: EX_PROTOCOL", name);
	is_str(err.msg, want, name);
	mbh_topology_free(t);
}

static void
test_malformed(void)
{
	const char *good_status = "{\"set\": \"rs0\", \"members\": [], \"ok\": 1}";
	const char *good_config = "{\"config\": {\"_id\": \"rs0\", \"members\": [{\"_id\": 0, \"host\": \"a:1\"}]}}";

	bad("{\"ok\": 1}", good_status, "replSetGetConfig: the reply has no config document", "no config");
	bad("{\"config\": {\"_id\": \"rs0\", \"members\": {}}}", good_status,
	    "replSetGetConfig: config.members is not an array", "members not an array");
	bad("{\"config\": {\"_id\": \"rs0\", \"members\": []}}", good_status, "replSetGetConfig: config has no members",
	    "no members");
	bad("{\"config\": {\"members\": [{\"_id\": 0, \"host\": \"a:1\"}]}}", good_status,
	    "replSetGetConfig: config has no _id (set name)", "no set name");
	bad("{\"config\": {\"_id\": \"rs0\", \"members\": [{\"_id\": 0}]}}", good_status,
	    "replSetGetConfig: config.members[0] has no host", "member without host");
	bad("{\"config\": {\"_id\": \"rs0\", \"members\": [{\"_id\": 0, \"host\": \"a:1\", \"priority\": \"high\"}]}}",
	    good_status, "replSetGetConfig: config.members[0].priority has a bad value or type", "priority a string");
	bad("{\"config\": {\"_id\": \"rs0\", \"members\": [{\"_id\": 0, \"host\": \"a:1\", \"votes\": 1.5}]}}",
	    good_status, "replSetGetConfig: config.members[0].votes has a bad value or type", "fractional votes");
	bad("{\"config\": {\"_id\": \"rs0\", \"members\": [{\"_id\": 0, \"host\": \"a:1\", \"tags\": {\"dc\": 1}}]}}",
	    good_status, "replSetGetConfig: config.members[0].tags.dc is not a string", "tag not a string");
	bad(good_config, "{\"members\": [], \"ok\": 1}", "replSetGetStatus: the reply has no set name", "status without set");
	bad(good_config, "{\"set\": \"other\", \"members\": []}",
	    "replSetGetStatus names set other but replSetGetConfig names rs0", "set names differ");
	bad(good_config, "{\"set\": \"rs0\", \"members\": [{\"name\": \"a:1\"}]}",
	    "replSetGetStatus: members[0] has no state", "status member without state");
	bad(good_config, "{\"set\": \"rs0\", \"members\": [{\"name\": \"a:1\", \"state\": \"PRIMARY\"}]}",
	    "replSetGetStatus: members[0].state has a bad value or type", "state a string");
	bad(good_config, "{\"set\": \"rs0\", \"writeMajorityCount\": \"2\", \"members\": []}",
	    "replSetGetStatus: writeMajorityCount is not a count", "writeMajorityCount a string");
}

int
main(void)
{
	tap_init();
	test_44();
	test_70();
	test_malformed();
	return tap_done();
}
