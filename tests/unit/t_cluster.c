/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_cluster.c: a sharded cluster's pure parts: its record, mongos's connection strings, each set's URI, the fsync-through-mongos gate, the cluster keys (TAP). */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "cluster.h"
#include "cluster_rec.h"
#include "config.h"
#include "uri.h"
#include "tap.h"

static void
fill(mbh_cluster_rec *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "csrs");
	r->mode = MBH_CLUSTER_ONLINE;
	r->phase = MBH_PHASE_LOCKED;
	snprintf(r->balancer, sizeof(r->balancer), "full");
	r->balancer_stopped = true;
	r->since = 1796505906;
	r->deadline = 1796513106;
	r->pid = 4242;
	snprintf(r->hostname, sizeof(r->hostname), "backup-host");
	snprintf(r->job, sizeof(r->job), "Cluster Backup.2026-12-05");
	r->skew_ms = 6;
	r->ncomps = 3;
	snprintf(r->comps[0].name, sizeof(r->comps[0].name), "config");
	snprintf(r->comps[0].set, sizeof(r->comps[0].set), "csrs");
	snprintf(r->comps[0].hosts, sizeof(r->comps[0].hosts), "h1:27019,h2:27019");
	snprintf(r->comps[0].member, sizeof(r->comps[0].member), "h2:27019");
	r->comps[0].lock_count = 1;
	r->comps[0].lock_ms = 0;
	r->comps[0].state = MBH_COMP_LOCKED;
	snprintf(r->comps[1].name, sizeof(r->comps[1].name), "shA");
	snprintf(r->comps[1].set, sizeof(r->comps[1].set), "rsA");
	snprintf(r->comps[1].hosts, sizeof(r->comps[1].hosts), "a1:27018");
	r->comps[1].lock_ms = -1;
	r->comps[1].state = MBH_COMP_PENDING;
	snprintf(r->comps[2].name, sizeof(r->comps[2].name), "shB");
	snprintf(r->comps[2].set, sizeof(r->comps[2].set), "rsB");
	snprintf(r->comps[2].hosts, sizeof(r->comps[2].hosts), "[::1]:27018,b2:27018");
	snprintf(r->comps[2].member, sizeof(r->comps[2].member), "[::1]:27018");
	r->comps[2].lock_count = 2;
	r->comps[2].lock_ms = 6;
	r->comps[2].state = MBH_COMP_RELEASED;
}

static void
test_record(void)
{
	mbh_cluster_rec *r = calloc(1, sizeof(*r)), *back = calloc(1, sizeof(*back));
	mbh_error err;
	char *text = NULL, *text2 = NULL, *bad;
	size_t i;
	static const char *const corrupt[] = {
		"name=x\nphase=LOCKED\nbalancer=full\n",                                   /* no version */
		"mbh-cluster=2\nname=x\nphase=LOCKED\nbalancer=full\n",                    /* unknown version */
		"mbh-cluster=1\nname=x\nphase=LOCKED\n",                                   /* no balancer */
		"mbh-cluster=1\nname=x\nphase=FROZEN\nbalancer=full\n",                    /* no such phase */
		"mbh-cluster=1\nname=x\nphase=LOCKED\nbalancer=half\n",                    /* no such mode */
		"mbh-cluster=1\nname=x\nphase=LOCKED\nbalancer=full\nwhat=1\n",            /* unknown key */
		"mbh-cluster=1\nname=x\nphase=LOCKED\nbalancer=full\ncomponent=a b c\n",   /* short component */
		"mbh-cluster=1\nname=x\nphase=LOCKED\nbalancer=full\ncomponent=a b h:1 - 0 -1 gone\n",
		"mbh-cluster=1\nname=x\nphase=LOCKED\nbalancer=full\ncomponent=a b h:1 - x -1 pending\n",
		"mbh-cluster=1\nname=x\nphase=LOCKED\nbalancer=full\nskew_ms=fast\n",
		"mbh-cluster=1\nname=x\nphase=LOCKED\nbalancer=full\nno equals sign\n",
	};

	fill(r);
	mbh_error_init(&err);
	ok(mbh_cluster_rec_format(r, &text, &err) == 0 && text != NULL, "format: a full record");
	ok(text != NULL && strstr(text, "component=config csrs h1:27019,h2:27019 h2:27019 1 0 locked\n") != NULL,
	   "format: the CSRS line (name set hosts member lockCount lock_ms state)");
	ok(text != NULL && strstr(text, "component=shA rsA a1:27018 - 0 -1 pending\n") != NULL,
	   "format: a component not chosen yet has member '-' and lock_ms -1");
	ok(text != NULL && strstr(text, "balancer=full\nbalancer_stopped=1\n") != NULL,
	   "format: the balancer's prior mode and that this run stopped it");
	ok(mbh_cluster_rec_parse(back, text, &err) == 0, "parse: what format wrote (%s)", err.msg);
	is_str(back->name, "csrs", "parse: name");
	is_int(back->phase, MBH_PHASE_LOCKED, "parse: phase");
	is_str(back->balancer, "full", "parse: balancer");
	ok(back->balancer_stopped, "parse: balancer_stopped");
	is_int(back->skew_ms, 6, "parse: skew_ms");
	is_str(back->job, "Cluster Backup.2026-12-05", "parse: a job name with blanks");
	is_int((long long)back->ncomps, 3, "parse: three components");
	is_str(back->comps[1].member, "", "parse: '-' is no member");
	is_int(back->comps[1].state, MBH_COMP_PENDING, "parse: pending");
	is_str(back->comps[2].member, "[::1]:27018", "parse: an IPv6 member");
	is_int(back->comps[2].lock_count, 2, "parse: lockCount");
	is_int(back->comps[2].state, MBH_COMP_RELEASED, "parse: released");
	ok(mbh_cluster_rec_format(back, &text2, &err) == 0 && text2 != NULL && strcmp(text, text2) == 0,
	   "format(parse(text)) is text");
	for (i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		mbh_error_init(&err);
		ok(mbh_cluster_rec_parse(back, corrupt[i], &err) != 0 && err.code == EX_DATAERR,
		   "parse refuses a corrupt record (%zu): EX_DATAERR '%s'", i, err.msg);
	}
	fill(r);
	snprintf(r->comps[1].set, sizeof(r->comps[1].set), "rs A");
	ok(mbh_cluster_rec_format(r, &bad, &err) != 0 && err.code == EX_SOFTWARE, "format refuses a blank in a set name");
	fill(r);
	snprintf(r->hostname, sizeof(r->hostname), "a\nb=c");
	ok(mbh_cluster_rec_format(r, &bad, &err) != 0, "format refuses a newline in a value");
	is_str(mbh_comp_state_name(MBH_COMP_LOCKED), "locked", "state names");
	free(text);
	free(text2);
	free(r);
	free(back);
}

/* Exact mode's lines: the token, the watchdog, a snapshot per component, phase SNAPSHOT. */
static void
test_record_exact(void)
{
	mbh_cluster_rec *r = calloc(1, sizeof(*r)), *back = calloc(1, sizeof(*back));
	mbh_error err;
	char *text = NULL, *text2 = NULL, *bad = NULL;
	size_t i;
	static const char head[] = "mbh-cluster=1\nname=x\nmode=exact\nphase=SNAPSHOT\nbalancer=full\n"
				   "component=a b h:1 h:1 1 0 released\n";
	static const char *const corrupt[] = {
		"snapshot=zz /snap/zz\n",                             /* no such component */
		"snapshot=a relative/path\n",                         /* not a path a record may hold */
		"snapshot=a /s/1\nsnapshot=a /s/2\n",                 /* twice */
		"snapshot=a\n",                                       /* no path */
		"token=0123\n",                                       /* short */
		"token=0123456789ABCDEF0123456789abcdef\n",           /* upper case */
		"watchdog=-5 1\n",
		"watchdog=12\n",
		"watchdog=12 1 2\n",
	};

	fill(r);
	r->mode = MBH_CLUSTER_EXACT;
	r->phase = MBH_PHASE_SNAPSHOT;
	snprintf(r->token, sizeof(r->token), "0123456789abcdef0123456789abcdef");
	r->watchdog_pid = 4242;
	r->watchdog_start = 987654321;
	snprintf(r->comps[0].snapshot, sizeof(r->comps[0].snapshot), "/snap/config with blank");
	snprintf(r->comps[2].snapshot, sizeof(r->comps[2].snapshot), "/snap/shB");
	mbh_error_init(&err);
	ok(mbh_cluster_rec_format(r, &text, &err) == 0 && text != NULL, "exact: format (%s)", err.msg);
	ok(text != NULL && strstr(text, "mode=exact\nphase=SNAPSHOT\n") != NULL, "exact: mode and phase SNAPSHOT");
	ok(text != NULL && strstr(text, "token=0123456789abcdef0123456789abcdef\nwatchdog=4242 987654321\n") != NULL,
	   "exact: the token and the watchdog");
	ok(text != NULL && strstr(text, "snapshot=config /snap/config with blank\n") != NULL &&
	   strstr(text, "snapshot=shB /snap/shB\n") != NULL && strstr(text, "snapshot=shA") == NULL,
	   "exact: a snapshot line per component that has one (the path to the end of the line)");
	ok(mbh_cluster_rec_parse(back, text, &err) == 0, "exact: parse (%s)", err.msg);
	is_int(back->mode, MBH_CLUSTER_EXACT, "exact: parse: mode");
	is_int(back->phase, MBH_PHASE_SNAPSHOT, "exact: parse: phase");
	is_str(back->token, r->token, "exact: parse: token");
	is_int(back->watchdog_pid, 4242, "exact: parse: watchdog pid");
	ok(back->watchdog_start == 987654321, "exact: parse: watchdog start");
	is_str(back->comps[0].snapshot, "/snap/config with blank", "exact: parse: a snapshot with a blank");
	is_str(back->comps[1].snapshot, "", "exact: parse: none");
	ok(mbh_cluster_rec_format(back, &text2, &err) == 0 && text2 != NULL && strcmp(text, text2) == 0,
	   "exact: format(parse(text)) is text");
	for (i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		char buf[512];

		snprintf(buf, sizeof(buf), "%s%s", head, corrupt[i]);
		mbh_error_init(&err);
		ok(mbh_cluster_rec_parse(back, buf, &err) != 0 && err.code == EX_DATAERR,
		   "exact: parse refuses a corrupt line (%zu): '%s'", i, err.msg);
	}
	mbh_error_init(&err);
	ok(mbh_cluster_rec_parse(back, head, &err) == 0 && back->token[0] == '\0' && back->watchdog_pid == 0,
	   "exact: no token, no watchdog (an online record): fine");
	snprintf(r->comps[1].snapshot, sizeof(r->comps[1].snapshot), "relative");
	ok(mbh_cluster_rec_format(r, &bad, &err) != 0 && err.code == EX_SOFTWARE, "exact: format refuses a relative snapshot");
	free(bad);
	free(text);
	free(text2);
	free(r);
	free(back);
}

static void
test_conn(void)
{
	char set[128], hosts[1024], small[4];
	mbh_error err;

	mbh_error_init(&err);
	ok(mbh_uri_parse_set_conn("sh0/127.0.0.1:1001,127.0.0.1:1002", set, sizeof(set), hosts, sizeof(hosts), &err) == 0,
	   "listShards host: SET/HOST:PORT,...");
	is_str(set, "sh0", "the set");
	is_str(hosts, "127.0.0.1:1001,127.0.0.1:1002", "the hosts");
	ok(mbh_uri_parse_set_conn("csrs/[::1]:27019", set, sizeof(set), hosts, sizeof(hosts), &err) == 0 &&
	   strcmp(hosts, "[::1]:27019") == 0, "an IPv6 host");
	mbh_error_init(&err);
	ok(mbh_uri_parse_set_conn("127.0.0.1:27018", set, sizeof(set), hosts, sizeof(hosts), &err) != 0 &&
	   err.code == EX_PROTOCOL && strstr(err.msg, "not a replica set") != NULL,
	   "a shard that is a lone mongod: refused, EX_PROTOCOL (%s)", err.msg);
	ok(mbh_uri_parse_set_conn("/h:1", set, sizeof(set), hosts, sizeof(hosts), &err) != 0, "no set name: refused");
	ok(mbh_uri_parse_set_conn("rs/", set, sizeof(set), hosts, sizeof(hosts), &err) != 0, "no hosts: refused");
	ok(mbh_uri_parse_set_conn("rs/h:1,,h:2", set, sizeof(set), hosts, sizeof(hosts), &err) != 0, "an empty host: refused");
	ok(mbh_uri_parse_set_conn("rs/h", set, sizeof(set), hosts, sizeof(hosts), &err) != 0, "a host without port: refused");
	ok(mbh_uri_parse_set_conn("rs/h:0", set, sizeof(set), hosts, sizeof(hosts), &err) != 0, "port 0: refused");
	ok(mbh_uri_parse_set_conn("longname/h:1", small, sizeof(small), hosts, sizeof(hosts), &err) != 0,
	   "a set name longer than the buffer: refused, never cut");
	ok(mbh_uri_parse_set_conn(NULL, set, sizeof(set), hosts, sizeof(hosts), &err) != 0, "NULL: refused");
}

static void
test_uri_for_set(void)
{
	static const struct {
		const char *base, *want;
	} cases[] = {
		{ "mongodb://127.0.0.1:1,127.0.0.1:2/", "mongodb://h1:1,h2:2/?replicaSet=rs0" },
		{ "mongodb://127.0.0.1:1", "mongodb://h1:1,h2:2/?replicaSet=rs0" },
		{ "mongodb://u:p%40w@m1:1/admin?authSource=admin&tls=true",
		  "mongodb://u:p%40w@h1:1,h2:2/admin?authSource=admin&tls=true&replicaSet=rs0" },
		{ "mongodb://m1:1/?directConnection=true&appname=x&replicaSet=other&loadBalanced=false",
		  "mongodb://h1:1,h2:2/?appname=x&replicaSet=rs0" },
		{ "mongodb+srv://u@cluster.example.com/?authSource=admin",
		  "mongodb://u@h1:1,h2:2/?authSource=admin&tls=true&replicaSet=rs0" },
		{ "mongodb+srv://cluster.example.com/?ssl=false&srvMaxHosts=2",
		  "mongodb://h1:1,h2:2/?ssl=false&replicaSet=rs0" },
	};
	mongoc_uri_t *u;
	mbh_error err;
	char *out;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mbh_error_init(&err);
		out = NULL;
		ok(mbh_uri_for_set(&out, cases[i].base, "rs0", "h1:1,h2:2", &err) == 0, "for_set(%s)", cases[i].base);
		is_str(out != NULL ? out : "(null)", cases[i].want, "... is the set's URI");
		u = out != NULL ? mongoc_uri_new(out) : NULL;
		ok(u != NULL && strcmp(mongoc_uri_get_replica_set(u), "rs0") == 0, "... which libmongoc reads as set rs0");
		mongoc_uri_destroy(u);
		free(out);
	}
	ok(mbh_uri_for_set(&out, "localhost:1", "rs0", "h:1", &err) != 0 && err.code == EX_USAGE, "no scheme: EX_USAGE");
}

static void
test_gate(void)
{
	static const struct {
		const char *v;
		bool want;
	} cases[] = {
		{ "7.1.0", true }, { "8.0.4", true }, { "7.0.2", true }, { "7.0.1", false }, { "7.0.16", true },
		{ "6.0.11", true }, { "6.0.10", false }, { "5.0.22", true }, { "5.0.21", false }, { "4.4.25", true },
		{ "4.4.24", false }, { "4.2.99", false }, { "6.3.0", false }, { "7.0", false }, { "", false },
		{ "x", false }, { NULL, false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(mbh_cluster_fsync_gate(cases[i].v) == cases[i].want, "fsync through mongos on %s: %s",
		   cases[i].v != NULL ? cases[i].v : "NULL", cases[i].want ? "yes" : "no");
}

static void
test_config(void)
{
	mbh_config *c = NULL;
	mbh_error err;

	mbh_error_init(&err);
	mbh_config_new(&c, &err);
	ok(mbh_config_load_string(c, "uri = \"mongodb://m:1/\";\n", "t", &err) == 0 && mbh_config_finish(c, &err) == 0,
	   "a config without a cluster group");
	is_int(c->cluster.mode, MBH_CLUSTER_ONLINE, "cluster.mode defaults to online");
	ok(c->cluster.name == NULL, "cluster.name defaults to none (the CSRS's set name)");
	mbh_config_free(c);
	mbh_config_new(&c, &err);
	ok(mbh_config_load_string(c, "uri = \"mongodb://m:1/\";\ncluster = { mode = \"exact\"; name = \"prod-1\"; };\n",
				  "t", &err) == 0 && mbh_config_finish(c, &err) == 0, "cluster = { mode; name; }");
	is_int(c->cluster.mode, MBH_CLUSTER_EXACT, "cluster.mode exact");
	is_str(c->cluster.name, "prod-1", "cluster.name");
	mbh_config_free(c);
	mbh_config_new(&c, &err);
	mbh_error_init(&err);
	ok(mbh_config_load_string(c, "cluster = { mode = \"fast\"; };\n", "t", &err) != 0 && err.code == EX_CONFIG &&
	   strstr(err.msg, "online, exact") != NULL, "an unknown mode: EX_CONFIG naming the modes (%s)", err.msg);
	mbh_config_free(c);
	mbh_config_new(&c, &err);
	mbh_error_init(&err);
	ok(mbh_config_set(c, "cluster.mode", "online", &err) == 0, "--cluster.mode online on the command line");
	ok(mbh_config_set(c, "cluster.mode", "both", &err) != 0 && err.code == EX_USAGE, "a bad one: EX_USAGE");
	mbh_config_free(c);
	mbh_config_new(&c, &err);
	mbh_error_init(&err);
	ok(mbh_config_load_string(c, "uri = \"mongodb://m:1/\";\ncluster = { name = \"../x\"; };\n", "t", &err) == 0 &&
	   mbh_config_finish(c, &err) != 0 && err.code == EX_CONFIG && strstr(err.msg, "cluster.name") != NULL,
	   "a cluster name that cannot name a file: EX_CONFIG (%s)", err.msg);
	mbh_config_free(c);
}

int
main(void)
{
	tap_init();
	mongoc_init();
	test_record();
	test_record_exact();
	test_conn();
	test_uri_for_set();
	test_gate();
	test_config();
	mongoc_cleanup();
	return tap_done();
}
