/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cmd_admin.c: administration answers: connectionStatus, getParameter, getLog, listDatabases, getCmdLineOpts, hostInfo, getnonce. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sys/random.h>
#include <sys/utsname.h>

#include "sim.h"
#include "cmd.h"

/* connectionStatus: who is authenticated on this connection (no authentication needed). */
void cmd_connection_status(sim *s, sim_conn *c, const bson_t *body, bson_t *r)
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
void cmd_get_parameter(sim *s, const bson_t *body, bson_t *r)
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
void cmd_get_log(const bson_t *body, bson_t *r)
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
void cmd_list_databases(sim *s, sim_conn *c, const bson_t *body, bson_t *r)
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
void cmd_get_cmd_line_opts(sim *s, sim_conn *c, bson_t *r)
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
void cmd_host_info(sim *s, sim_conn *c, bson_t *r)
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

/*
 * getnonce: a random 64-bit number in hex, no authentication needed, on any
 * database.  Servers kept it after MONGODB-CR went (4.0) because old clients
 * (mgo, mongo-tools) send it when they connect; 6.2 removed it.
 */
void cmd_get_nonce(bson_t *r)
{
	uint64_t n = 0;
	char hex[17];

	if (getrandom(&n, sizeof n, 0) != (ssize_t)sizeof n)
		n = (uint64_t)sim_now_ms() * 0x9e3779b97f4a7c15ull;
	snprintf(hex, sizeof hex, "%llx", (unsigned long long)n);
	BSON_APPEND_UTF8(r, "nonce", hex);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}
