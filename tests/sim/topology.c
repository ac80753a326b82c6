/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* topology.c: read the simulator's libconfig topology file into the model, with FILE:LINE errors. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "sim.h"
#include "cmd.h"

static const struct {
	const char *role;
	uint32_t actions;
} role_table[] = {
	{"root", SIM_ACT_ALL},
	{"clusterMonitor", SIM_ACT_RS_STATUS | SIM_ACT_RS_CONFIG | SIM_ACT_SERVER_STATUS | SIM_ACT_INPROG |
	                       SIM_ACT_BUILDINFO | SIM_ACT_GET_PARAMETER | SIM_ACT_GET_LOG |
	                       SIM_ACT_LIST_DATABASES | SIM_ACT_HOST_INFO | SIM_ACT_CMD_LINE_OPTS |
	                       SIM_ACT_LIST_SHARDS | SIM_ACT_GET_SHARD_MAP | SIM_ACT_BALANCER_STATUS},
	{"hostManager", SIM_ACT_FSYNC | SIM_ACT_UNLOCK | SIM_ACT_SERVER_STATUS},
	{"clusterManager", SIM_ACT_STATE_CHANGE | SIM_ACT_BALANCER},
	{"readWrite", SIM_ACT_INSERT | SIM_ACT_FIND | SIM_ACT_UPDATE | SIM_ACT_REMOVE},
	{"readWriteAnyDatabase", SIM_ACT_INSERT | SIM_ACT_FIND | SIM_ACT_UPDATE | SIM_ACT_REMOVE | SIM_ACT_LIST_DATABASES},
	{"read", SIM_ACT_FIND},
	{"readAnyDatabase", SIM_ACT_FIND | SIM_ACT_LIST_DATABASES},
};

static const struct {
	const char *name;
	uint32_t bit;
} action_table[] = {
	{"replSetGetStatus", SIM_ACT_RS_STATUS}, {"replSetGetConfig", SIM_ACT_RS_CONFIG},
	{"serverStatus", SIM_ACT_SERVER_STATUS}, {"inprog", SIM_ACT_INPROG},
	{"buildInfo", SIM_ACT_BUILDINFO},        {"fsync", SIM_ACT_FSYNC},
	{"unlock", SIM_ACT_UNLOCK},              {"replSetStateChange", SIM_ACT_STATE_CHANGE},
	{"insert", SIM_ACT_INSERT},              {"find", SIM_ACT_FIND},
	{"update", SIM_ACT_UPDATE},              {"remove", SIM_ACT_REMOVE},
	{"getParameter", SIM_ACT_GET_PARAMETER}, {"getLog", SIM_ACT_GET_LOG},
	{"listDatabases", SIM_ACT_LIST_DATABASES}, {"hostInfo", SIM_ACT_HOST_INFO},
	{"getCmdLineOpts", SIM_ACT_CMD_LINE_OPTS},
	{"listShards", SIM_ACT_LIST_SHARDS},       {"getShardMap", SIM_ACT_GET_SHARD_MAP},
	{"balancerStatus", SIM_ACT_BALANCER_STATUS}, {"balancer", SIM_ACT_BALANCER},
};

/* The actions a built-in role grants; *known false for an unknown role. */
uint32_t sim_role_actions(const char *role, bool *known)
{
	for (size_t i = 0; i < sizeof role_table / sizeof role_table[0]; i++)
		if (strcmp(role_table[i].role, role) == 0) {
			*known = true;
			return role_table[i].actions;
		}
	*known = false;
	return 0;
}

/* Parse one action name; returns 0 or -1. */
int sim_action_parse(const char *name, uint32_t *out)
{
	for (size_t i = 0; i < sizeof action_table / sizeof action_table[0]; i++)
		if (strcmp(action_table[i].name, name) == 0) {
			*out = action_table[i].bit;
			return 0;
		}
	return -1;
}

typedef struct tctx {
	const char *file;
	char *err;
	size_t errlen;
} tctx;

static int fail(tctx *t, const config_setting_t *st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(tctx *t, const config_setting_t *st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(t->err, t->errlen, "%s:%d: %s", t->file, st ? (int)config_setting_source_line(st) : 0, msg);
	return -1;
}

static bool in_list(const char *name, const char *const *names)
{
	for (; *names; names++)
		if (strcmp(*names, name) == 0)
			return true;
	return false;
}

/* Every child of group g must be a known key. */
static int check_keys(tctx *t, const config_setting_t *g, const char *const *names, const char *where)
{
	int n = config_setting_length(g);

	for (int i = 0; i < n; i++) {
		config_setting_t *c = config_setting_get_elem(g, (unsigned)i);
		const char *nm = config_setting_name(c);

		if (nm && !in_list(nm, names))
			return fail(t, c, "unknown key '%s' in %s", nm, where);
	}
	return 0;
}

static int get_bool(tctx *t, const config_setting_t *g, const char *key, bool *out)
{
	config_setting_t *c = config_setting_get_member(g, key);

	if (!c)
		return 0;
	if (config_setting_type(c) != CONFIG_TYPE_BOOL)
		return fail(t, c, "'%s' must be true or false", key);
	*out = config_setting_get_bool(c) != 0;
	return 0;
}

static int get_int(tctx *t, const config_setting_t *g, const char *key, long min, long max, int *out)
{
	config_setting_t *c = config_setting_get_member(g, key);
	long long v;

	if (!c)
		return 0;
	if (config_setting_type(c) == CONFIG_TYPE_INT)
		v = config_setting_get_int(c);
	else if (config_setting_type(c) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(c);
	else
		return fail(t, c, "'%s' must be an integer", key);
	if (v < min || v > max)
		return fail(t, c, "'%s' must be between %ld and %ld", key, min, max);
	*out = (int)v;
	return 0;
}

static int get_double(tctx *t, const config_setting_t *g, const char *key, double min, double max,
                      double *out)
{
	config_setting_t *c = config_setting_get_member(g, key);
	double v;

	if (!c)
		return 0;
	if (config_setting_type(c) == CONFIG_TYPE_FLOAT)
		v = config_setting_get_float(c);
	else if (config_setting_type(c) == CONFIG_TYPE_INT)
		v = config_setting_get_int(c);
	else
		return fail(t, c, "'%s' must be a number", key);
	if (!(v >= min && v <= max))
		return fail(t, c, "'%s' must be between %g and %g", key, min, max);
	*out = v;
	return 0;
}

/* Copies the string; *out untouched when the key is absent. */
static int get_str(tctx *t, const config_setting_t *g, const char *key, char **out)
{
	config_setting_t *c = config_setting_get_member(g, key);

	if (!c)
		return 0;
	if (config_setting_type(c) != CONFIG_TYPE_STRING)
		return fail(t, c, "'%s' must be a string", key);
	free(*out);
	*out = strdup(config_setting_get_string(c));
	return *out ? 0 : fail(t, c, "out of memory");
}

static const char *const member_keys[] = {"host", "port",   "priority",  "votes",    "state",
                                          "tags",   "hidden",    "arbiter",  "secondary_delay_secs",
                                          "build_indexes", NULL};

static int parse_member(tctx *t, sim *s, config_setting_t *g, int idx)
{
	sim_member *m = &s->members[idx];
	char *state = NULL, *host = NULL;
	config_setting_t *tags;
	int rc = -1;

	m->id = idx;
	m->votes = 1;
	m->build_indexes = true;
	m->listen_fd = -1;
	m->dd.data_fd = -1;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		fail(t, g, "each member must be a group { ... }");
		goto out;
	}
	if (check_keys(t, g, member_keys, "a member") != 0 || get_int(t, g, "port", 0, 65535, &m->port) != 0 ||
	    get_bool(t, g, "hidden", &m->hidden) != 0 || get_bool(t, g, "arbiter", &m->arbiter) != 0 ||
	    get_int(t, g, "secondary_delay_secs", 0, 365 * 86400, &m->delay_secs) != 0 ||
	    get_bool(t, g, "build_indexes", &m->build_indexes) != 0 || get_int(t, g, "votes", 0, 1, &m->votes) != 0 ||
	    get_str(t, g, "state", &state) != 0)
		goto out;
	m->priority = (m->arbiter || m->hidden || m->delay_secs > 0) ? 0.0 : 1.0;
	if (get_double(t, g, "priority", 0.0, 1000.0, &m->priority) != 0)
		goto out;
	if ((m->hidden || m->delay_secs > 0 || m->arbiter) && m->priority > 0) {
		fail(t, g, "member %d: hidden, delayed and arbiter members must have priority 0", idx);
		goto out;
	}
	if (m->votes == 0 && m->priority > 0) {
		fail(t, g, "member %d: a member with votes 0 must have priority 0", idx);
		goto out;
	}
	/* any address of 127.0.0.0/8, so members can look like different hosts; never anything else */
	snprintf(m->addr, sizeof m->addr, "127.0.0.1");
	if (get_str(t, g, "host", &host) != 0)
		goto out;
	if (host != NULL) {
		struct in_addr a;

		if (inet_pton(AF_INET, host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
			fail(t, config_setting_get_member(g, "host"),
			     "member %d: host '%s' must be a loopback address (127.0.0.0/8), e.g. \"127.0.0.2\"", idx,
			     host);
			goto out;
		}
		inet_ntop(AF_INET, &a, m->addr, sizeof m->addr);
	}
	m->state = m->arbiter ? SIM_ST_ARBITER : SIM_ST_SECONDARY;
	m->up = true;
	if (state) {
		if (strcmp(state, "PRIMARY") == 0 && !m->arbiter && m->priority > 0)
			m->state = SIM_ST_PRIMARY;
		else if (strcmp(state, "SECONDARY") == 0 && !m->arbiter)
			m->state = SIM_ST_SECONDARY;
		else if (strcmp(state, "ARBITER") == 0 && m->arbiter)
			m->state = SIM_ST_ARBITER;
		else if (strcmp(state, "DOWN") == 0) {
			m->state = SIM_ST_DOWN;
			m->up = false;
		} else if (strcmp(state, "RECOVERING") == 0 && !m->arbiter)
			m->state = SIM_ST_RECOVERING;
		else if (strcmp(state, "STARTUP2") == 0 && !m->arbiter)
			m->state = SIM_ST_STARTUP2;
		else {
			fail(t, config_setting_get_member(g, "state"),
			     "member %d: state '%s' is not possible here (PRIMARY needs priority > 0; "
			     "SECONDARY|ARBITER|DOWN|RECOVERING|STARTUP2)",
			     idx, state);
			goto out;
		}
	}
	tags = config_setting_get_member(g, "tags");
	if (tags) {
		if (config_setting_type(tags) != CONFIG_TYPE_GROUP) {
			fail(t, tags, "'tags' must be a group { key = \"value\"; }");
			goto out;
		}
		for (int i = 0; i < config_setting_length(tags); i++) {
			config_setting_t *c = config_setting_get_elem(tags, (unsigned)i);

			if (config_setting_type(c) != CONFIG_TYPE_STRING) {
				fail(t, c, "tag values must be strings");
				goto out;
			}
			BSON_APPEND_UTF8(&m->tags, config_setting_name(c), config_setting_get_string(c));
		}
	}
	rc = 0;
out:
	free(state);
	free(host);
	return rc;
}

static const char *const user_keys[] = {"name", "password", "db", "mechanisms", "roles", "actions", NULL};

/* Users: derive the SCRAM credentials here so the password is never kept. */
static int parse_user(tctx *t, sim *s, config_setting_t *g, sim_user *u)
{
	char *password = NULL;
	config_setting_t *l;
	bool sha1 = true, sha256 = true, x509 = false;
	int rc = -1;

	memset(u, 0, sizeof *u);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		fail(t, g, "each user must be a group { ... }");
		goto out;
	}
	if (check_keys(t, g, user_keys, "a user") != 0 || get_str(t, g, "name", &u->name) != 0 ||
	    get_str(t, g, "password", &password) != 0 || get_str(t, g, "db", &u->db) != 0)
		goto out;
	if (!u->name) {
		fail(t, g, "a user needs 'name'");
		goto out;
	}
	if (!u->db && !(u->db = strdup("admin")))
		goto out;
	if ((l = config_setting_get_member(g, "mechanisms"))) {
		sha1 = sha256 = false;
		if (!config_setting_is_aggregate(l)) {
			fail(t, l, "'mechanisms' must be a list of strings");
			goto out;
		}
		for (int i = 0; i < config_setting_length(l); i++) {
			const char *v = config_setting_get_string_elem(l, i);
			sim_scram_mech mech;

			if (v && strcmp(v, "MONGODB-X509") == 0) {
				x509 = true;
				continue;
			}
			if (!v || sim_scram_mech_parse(v, &mech) != 0) {
				fail(t, l, "mechanisms: SCRAM-SHA-1, SCRAM-SHA-256 or MONGODB-X509 expected");
				goto out;
			}
			if (mech == SIM_SCRAM_SHA1)
				sha1 = true;
			else
				sha256 = true;
		}
	}
	if (x509 && (strcmp(u->db, "$external") != 0 || sha1 || sha256 || password)) {
		fail(t, g, "a MONGODB-X509 user is in db \"$external\", named by its certificate's subject "
		           "(RFC 2253), with no password and no other mechanism");
		goto out;
	}
	u->x509 = x509;
	if (!x509 && !password) {
		fail(t, g, "a user needs 'name' and 'password'");
		goto out;
	}
	if ((l = config_setting_get_member(g, "roles"))) {
		if (!config_setting_is_aggregate(l)) {
			fail(t, l, "'roles' must be a list of strings");
			goto out;
		}
		for (int i = 0; i < config_setting_length(l); i++) {
			const char *v = config_setting_get_string_elem(l, i);
			bool known = false;
			uint32_t a = v ? sim_role_actions(v, &known) : 0;

			if (!known) {
				fail(t, l, "unknown role '%s' (root clusterMonitor hostManager clusterManager "
				           "readWrite readWriteAnyDatabase read readAnyDatabase)",
				     v ? v : "?");
				goto out;
			}
			u->actions |= a;
			if (!u->roles)
				u->roles = bson_new();
			{
				char key[16];
				bson_t r;

				snprintf(key, sizeof key, "%d", i);
				BSON_APPEND_DOCUMENT_BEGIN(u->roles, key, &r);
				BSON_APPEND_UTF8(&r, "role", v);
				BSON_APPEND_UTF8(&r, "db", u->db ? u->db : "admin");
				bson_append_document_end(u->roles, &r);
			}
		}
	}
	if ((l = config_setting_get_member(g, "actions"))) {
		if (!config_setting_is_aggregate(l)) {
			fail(t, l, "'actions' must be a list of strings");
			goto out;
		}
		for (int i = 0; i < config_setting_length(l); i++) {
			const char *v = config_setting_get_string_elem(l, i);
			uint32_t a;

			if (!v || sim_action_parse(v, &a) != 0) {
				fail(t, l, "unknown action '%s'", v ? v : "?");
				goto out;
			}
			u->actions |= a;
		}
	}
	if (sha256) {
		/* The server keeps SCRAM-SHA-256 keys of the SASLprep'd password (RFC 7677); clients prep too. */
		char *prepped = sim_saslprep(password);
		int drc;

		if (!prepped) {
			fail(t, g, "the password is not valid UTF-8 or SASLprep (RFC 4013) prohibits one of its characters");
			goto out;
		}
		drc = sim_scram_derive(&u->sha256, SIM_SCRAM_SHA256, u->name, prepped, NULL, 0, 15000);
		OPENSSL_cleanse(prepped, strlen(prepped));
		free(prepped);
		if (drc != 0) {
			fail(t, g, "cannot derive SCRAM-SHA-256 credentials");
			goto out;
		}
		u->has_sha256 = true;
	}
	if (sha1) {
		if (sim_scram_derive(&u->sha1, SIM_SCRAM_SHA1, u->name, password, NULL, 0, 10000) != 0) {
			fail(t, g, "cannot derive SCRAM-SHA-1 credentials");
			goto out;
		}
		u->has_sha1 = true;
	}
	rc = 0;
out:
	if (password) {
		OPENSSL_cleanse(password, strlen(password));
		free(password);
	}
	return rc;
}

static const char *const root_keys[] = {"set_name", "max_wire_version", "auth",    "noop_interval_ms",
                                        "data_dir", "tls",              "members", "users",
                                        "settings", "role",             "version", NULL};

/* role = "replset" | "configsvr" | "mongos"; version = "A.B.C" within max_wire_version's series. */
static int load_role_version(tctx *t, config_setting_t *root, sim *s)
{
	char *role = NULL, *ver = NULL;
	int rc = -1;

	if (get_str(t, root, "role", &role) != 0 || get_str(t, root, "version", &ver) != 0)
		goto out;
	if (!role || strcmp(role, "replset") == 0)
		s->role = SIM_ROLE_REPLSET;
	else if (strcmp(role, "configsvr") == 0)
		s->role = SIM_ROLE_CONFIGSVR;
	else if (strcmp(role, "mongos") == 0)
		s->role = SIM_ROLE_MONGOS;
	else {
		fail(t, config_setting_get_member(root, "role"), "role must be \"replset\", \"configsvr\" or \"mongos\"");
		goto out;
	}
	if (ver) {
		int32_t def[4];
		int a, b, c, n = 0;

		server_version(s, def);
		if (sscanf(ver, "%d.%d.%d%n", &a, &b, &c, &n) != 3 || ver[n] != '\0' || c < 0 || c > 99 ||
		    a != def[0] || b != def[1]) {
			fail(t, config_setting_get_member(root, "version"),
			     "version must be %d.%d.N (the series of max_wire_version %d), not '%s'", def[0], def[1],
			     s->max_wire, ver);
			goto out;
		}
		snprintf(s->version, sizeof s->version, "%d.%d.%d", a, b, c);
	}
	rc = 0;
out:
	free(role);
	free(ver);
	return rc;
}
static const char *const settings_keys[] = {"electionTimeoutMillis", NULL};
static const char *const tls_keys[] = {"enabled", "cert", "key", "ca", "require_client_cert", NULL};

/* Parse the topology file into s; see sim.h. */
int sim_topology_load(sim *s, const char *path, char *err, size_t errlen)
{
	config_t cfg;
	config_setting_t *root, *members, *users, *tls, *settings;
	tctx t = {path, err, errlen};
	int primaries = 0, rc = -1;

	config_init(&cfg);
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s:0: cannot read the topology file", path);
		else
			snprintf(err, errlen, "%s:%d: %s", config_error_file(&cfg) ? config_error_file(&cfg) : path,
			         config_error_line(&cfg), config_error_text(&cfg));
		goto out;
	}
	root = config_root_setting(&cfg);
	s->max_wire = 21;
	s->noop_interval_ms = 1000;
	if (check_keys(&t, root, root_keys, "the topology") != 0 || get_str(&t, root, "set_name", &s->set_name) != 0 ||
	    get_int(&t, root, "max_wire_version", 6, 27, &s->max_wire) != 0 || get_bool(&t, root, "auth", &s->auth) != 0 ||
	    get_int(&t, root, "noop_interval_ms", 10, 3600000, &s->noop_interval_ms) != 0 ||
	    get_str(&t, root, "data_dir", &s->data_dir) != 0 || load_role_version(&t, root, s) != 0)
		goto out;
	if (!s->set_name && !(s->set_name = strdup("rs0")))
		goto out;
	if ((tls = config_setting_get_member(root, "tls"))) {
		if (config_setting_type(tls) != CONFIG_TYPE_GROUP) {
			fail(&t, tls, "'tls' must be a group { ... }");
			goto out;
		}
		if (check_keys(&t, tls, tls_keys, "tls") != 0 || get_bool(&t, tls, "enabled", &s->tls) != 0 ||
		    get_str(&t, tls, "cert", &s->tls_cert) != 0 || get_str(&t, tls, "key", &s->tls_key) != 0 ||
		    get_str(&t, tls, "ca", &s->tls_ca) != 0 ||
		    get_bool(&t, tls, "require_client_cert", &s->tls_require_client_cert) != 0)
			goto out;
	}
	s->election_timeout_ms = 10000;
	if ((settings = config_setting_get_member(root, "settings"))) {
		if (config_setting_type(settings) != CONFIG_TYPE_GROUP) {
			fail(&t, settings, "'settings' must be a group { ... }");
			goto out;
		}
		if (check_keys(&t, settings, settings_keys, "settings") != 0 ||
		    get_int(&t, settings, "electionTimeoutMillis", 1, 86400000, &s->election_timeout_ms) != 0)
			goto out;
	}
	members = config_setting_get_member(root, "members");
	if (!members || !config_setting_is_aggregate(members) || config_setting_length(members) < 1) {
		fail(&t, members ? members : root, "'members' must be a non-empty list ( { port = 0; }, ... )");
		goto out;
	}
	s->n_members = (size_t)config_setting_length(members);
	if (s->n_members > 100) {
		fail(&t, members, "at most 100 members");
		goto out;
	}
	if (!(s->members = calloc(s->n_members, sizeof *s->members)))
		goto out;
	for (size_t i = 0; i < s->n_members; i++)
		bson_init(&s->members[i].tags);
	for (size_t i = 0; i < s->n_members; i++) {
		config_setting_t *g = config_setting_get_elem(members, (unsigned)i);

		if (parse_member(&t, s, g, (int)i) != 0)
			goto out;
		if (s->members[i].state == SIM_ST_PRIMARY && ++primaries > 1) {
			fail(&t, g, "at most one member may start as PRIMARY");
			goto out;
		}
	}
	if ((users = config_setting_get_member(root, "users"))) {
		if (!config_setting_is_aggregate(users)) {
			fail(&t, users, "'users' must be a list ( { name = ...; }, ... )");
			goto out;
		}
		s->n_users = (size_t)config_setting_length(users);
		if (s->n_users && !(s->users = calloc(s->n_users, sizeof *s->users)))
			goto out;
		for (size_t i = 0; i < s->n_users; i++)
			if (parse_user(&t, s, config_setting_get_elem(users, (unsigned)i), &s->users[i]) != 0)
				goto out;
	}
	rc = 0;
out:
	config_destroy(&cfg);
	return rc;
}

/* Free what sim_topology_load allocated. */
void sim_topology_free(sim *s)
{
	for (size_t i = 0; s->members && i < s->n_members; i++) {
		bson_destroy(&s->members[i].tags);
		free(s->members[i].counters);
	}
	free(s->members);
	for (size_t i = 0; s->users && i < s->n_users; i++) {
		free(s->users[i].name);
		free(s->users[i].db);
		bson_destroy(s->users[i].roles);
		OPENSSL_cleanse(&s->users[i].sha1, sizeof s->users[i].sha1);
		OPENSSL_cleanse(&s->users[i].sha256, sizeof s->users[i].sha256);
	}
	free(s->users);
	free(s->set_name);
	free(s->data_dir);
	free(s->tls_cert);
	free(s->tls_key);
	free(s->tls_ca);
	s->members = NULL;
	s->users = NULL;
}
