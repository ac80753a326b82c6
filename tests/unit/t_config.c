/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_config.c: the config module: every key, every type error with file:line, overrides, env, password files (TAP). */
#include "autoconfig.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "tap.h"

static char tmpdir[256];

/* A config loaded from text; NULL (and err filled) on failure. */
static mbh_config *
from_text(const char *text, mbh_error *err)
{
	mbh_config *c = NULL;

	mbh_error_init(err);
	if (mbh_config_new(&c, err) != 0)
		return NULL;
	if (mbh_config_load_string(c, text, "t.conf", err) != 0) {
		mbh_config_free(c);
		return NULL;
	}
	return c;
}

/* Load text, expect failure with exactly this code and message. */
/* in through a logger that knows cfg's secrets, as a job's does */
static void
redact_with(const mbh_config *cfg, const char *in, char *out, size_t len)
{
	mbh_logger *lg = NULL;
	size_t i;

	snprintf(out, len, "(no logger)");
	if (mbh_logger_new(&lg, "t", MBH_LOG_ERROR, 0, NULL, NULL) != 0)
		return;
	for (i = 0; cfg != NULL && cfg->secrets != NULL && cfg->secrets[i] != NULL; i++)
		mbh_logger_add_secret(lg, cfg->secrets[i]);
	mbh_logger_redact(lg, in, out, len);
	mbh_logger_free(lg);
}

static void
load_fails(const char *text, int code, const char *want)
{
	mbh_config *c;
	mbh_error err;

	c = from_text(text, &err);
	ok(c == NULL && err.code == code, "load fails with %d: %.60s", code, want);
	is_str(err.msg, want, "  message");
	mbh_config_free(c);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	close(fd);
	chmod(path, mode);
}

static const char *
fixture(const char *name)
{
	static char path[PATH_MAX];
	const char *src = getenv("top_srcdir");

	snprintf(path, sizeof(path), "%s/tests/fixtures/config/%s", src ? src : ".", name);
	return path;
}

static void
test_full_file(void)
{
	mbh_config *c = NULL;
	mbh_error err;
	int r;

	mbh_error_init(&err);
	mbh_config_new(&c, &err);
	r = mbh_config_load_file(c, fixture("full.conf"), &err);
	if (!ok(r == 0, "full.conf loads")) {
		diag("%s", err.msg);
		mbh_config_free(c);
		return;
	}
	is_str(c->uri, "mongodb://h1:27017,h2:27017,h3:27017/admin?replicaSet=rs0", "uri");
	is_str(c->username, "backup", "username");
	is_int(c->connect_timeout_ms, 2500, "connect_timeout_ms");
	is_int(c->selection.policy, MBH_POLICY_MEMBER, "selection.policy");
	is_str(c->selection.member, "h3:27017", "selection.member");
	is_int(c->selection.max_lag_seconds, 45, "selection.max_lag_seconds");
	is_int(c->selection.allow_delayed, 1, "selection.allow_delayed");
	is_int((long long)c->selection.ntags, 2, "two tags");
	if (c->selection.ntags == 2) {
		is_str(c->selection.tags[0].key, "dc", "tag 0 key");
		is_str(c->selection.tags[0].value, "east", "tag 0 value");
		is_str(c->selection.tags[1].key, "rack", "tag 1 key");
		is_str(c->selection.tags[1].value, "r2", "tag 1 value");
	}
	is_int(c->lock.max_seconds, 600, "lock.max_seconds");
	is_int(c->lock.refuse_if_locked, 0, "lock.refuse_if_locked");
	is_int(c->lock.allow_majority_stall, 1, "lock.allow_majority_stall");
	is_str(c->state_dir, "/tmp/mbh-state", "state_dir");
	ok(c->script.backup && c->script.backup[0] && c->script.backup[1] && c->script.backup[2] &&
	   !c->script.backup[3], "script.backup has 3 words");
	if (c->script.backup && c->script.backup[0] && c->script.backup[1] && c->script.backup[2]) {
		is_str(c->script.backup[0], "/usr/local/lib/mongo-backup/dump.sh", "script.backup[0]");
		is_str(c->script.backup[1], "%h", "script.backup[1]");
	}
	ok(c->script.restore && c->script.restore[0] && !c->script.restore[1], "script.restore (a list) has 1 word");
	is_int(c->script.timeout, 900, "script.timeout");
	is_int(c->script.idle_timeout, 120, "script.idle_timeout");
	is_int(c->script.allow_empty, 1, "script.allow_empty");
	is_int(c->log.syslog, 1, "log.syslog");
	is_int(c->log.level, MBH_LOG_DEBUG, "log.level");
	is_str(c->metrics.textfile, "/var/lib/prometheus/node-exporter/mongo-backup-%s.prom", "metrics.textfile");
	is_int(c->metrics.fsync, 0, "metrics.fsync");
	is_int(c->cluster.mode, MBH_CLUSTER_EXACT, "cluster.mode");
	is_str(c->cluster.name, "prod-cluster", "cluster.name");
	is_str(c->source, fixture("full.conf"), "source is the path");
	mbh_config_free(c);
}

/* The shipped example must stay valid: it documents every key. */
static void
test_example(void)
{
	char path[PATH_MAX];
	const char *src = getenv("top_srcdir");
	mbh_config *c = NULL;
	mbh_error err;
	int r;

	snprintf(path, sizeof(path), "%s/conf/mongo-backup.conf.example", src ? src : ".");
	mbh_error_init(&err);
	mbh_config_new(&c, &err);
	r = mbh_config_load_file(c, path, &err);
	ok(r == 0, "conf/mongo-backup.conf.example loads");
	if (r != 0)
		diag("%s", err.msg);
	ok(c->uri && c->username && c->password_file && c->selection.policy == MBH_POLICY_AUTO &&
	   c->lock.max_seconds == 7200 && c->script.backup && c->log.level == MBH_LOG_INFO,
	   "  and sets the documented values");
	mbh_config_free(c);
}

/* The shipped plugin-mode cluster example (conf/mongo-backup-plugin-cluster.conf.example) must stay valid too. */
static void
test_cluster_example(void)
{
	char path[PATH_MAX];
	const char *src = getenv("top_srcdir");
	mbh_config *c = NULL;
	mbh_error err;
	int r;

	snprintf(path, sizeof(path), "%s/conf/mongo-backup-plugin-cluster.conf.example", src ? src : ".");
	mbh_error_init(&err);
	mbh_config_new(&c, &err);
	r = mbh_config_load_file(c, path, &err);
	ok(r == 0, "conf/mongo-backup-plugin-cluster.conf.example loads");
	if (r != 0)
		diag("%s", err.msg);
	ok(c->uri && strstr(c->uri, "mongos1") != NULL && c->cluster.mode == MBH_CLUSTER_ONLINE &&
	   c->selection.policy == MBH_POLICY_AUTO && c->lock.max_seconds == 14400 && c->script.backup &&
	   c->script.idle_timeout == 600,
	   "  and sets the documented values");
	mbh_config_free(c);
}

/* Every setting left out gets its documented default (mongo-backup.conf(5)). */
static void
test_defaults(void)
{
	mbh_config *c;
	mbh_error err;

	unsetenv("MONGO_BACKUP_URI");
	c = from_text("uri = \"mongodb://h1,h2/?replicaSet=rs0\";\n", &err);
	if (!ok(c != NULL && mbh_config_finish(c, &err) == 0, "a config with only a uri finishes")) {
		diag("%s", err.msg);
		mbh_config_free(c);
		return;
	}
	is_int(c->connect_timeout_ms, 5000, "default connect_timeout_ms 5000");
	is_int(c->selection.policy, MBH_POLICY_AUTO, "default selection.policy auto");
	is_int(c->selection.max_lag_seconds, 30, "default selection.max_lag_seconds 30");
	is_int(c->selection.allow_delayed, 0, "default selection.allow_delayed false");
	is_int(c->lock.max_seconds, 7200, "default lock.max_seconds 7200");
	is_int(c->lock.refuse_if_locked, 1, "default lock.refuse_if_locked true");
	is_int(c->lock.allow_majority_stall, 0, "default lock.allow_majority_stall false");
	is_str(c->state_dir, "/var/lib/mongo-backup", "default state_dir");
	is_int(c->script.timeout, 7200, "default script.timeout 7200");
	is_int(c->snapshot.timeout, 60, "default snapshot.timeout 60");
	is_int(c->log.syslog, 0, "default log.syslog false");
	is_int(c->log.level, MBH_LOG_INFO, "default log.level info");
	mbh_config_free(c);
	c = from_text("uri = \"mongodb://h1,h2/?replicaSet=rs0&connectTimeoutMS=1500\";\n", &err);
	ok(c != NULL && mbh_config_finish(c, &err) == 0 && c->connect_timeout_ms == 1500,
	   "connect_timeout_ms defaults to the uri's connectTimeoutMS");
	mbh_config_free(c);
}

static void
test_file_errors(void)
{
	mbh_config *c = NULL;
	mbh_error err;
	char want[PATH_MAX + 128];
	int r;

	mbh_error_init(&err);
	mbh_config_new(&c, &err);
	r = mbh_config_load_file(c, "/nonexistent/rs0.conf", &err);
	ok(r != 0 && err.code == EX_CONFIG, "missing file: EX_CONFIG");
	is_str(err.msg, "/nonexistent/rs0.conf: cannot read the config file: No such file or directory",
	       "missing file: message");
	mbh_config_free(c);

	mbh_config_new(&c, &err);
	r = mbh_config_load_file(c, fixture("include-main.conf"), &err);
	snprintf(want, sizeof(want), "%s:3: 'lock.max_seconds' must be an integer between 1 and 604800",
	         fixture("include-part.conf"));
	ok(r != 0 && err.code == EX_CONFIG, "error in an @include file: EX_CONFIG");
	is_str(err.msg, want, "error in an @include file names that file and line");
	mbh_config_free(c);
}

static void
test_key_errors(void)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "uri = \"mongodb://h/\";\nbogus = 1;\n",
		  "t.conf:2: unknown key 'bogus' (known: uri, username, password_file, connect_timeout_ms, "
		  "selection, lock, state_dir, script, snapshot, log, metrics, cluster)" },
		{ "password = \"x\";\n",
		  "t.conf:1: unknown key 'password' (known: uri, username, password_file, connect_timeout_ms, "
		  "selection, lock, state_dir, script, snapshot, log, metrics, cluster)" },
		{ "selection = {\n  polcy = \"auto\";\n};\n",
		  "t.conf:2: unknown key 'selection.polcy' (known: policy, member, max_lag_seconds, allow_delayed, tags)" },
		{ "lock = { max_second = 5; };\n",
		  "t.conf:1: unknown key 'lock.max_second' (known: max_seconds, refuse_if_locked, allow_majority_stall)" },
		{ "\nscript = { backups = [\"x\"]; };\n",
		  "t.conf:2: unknown key 'script.backups' (known: backup, restore, timeout, idle_timeout, allow_empty)" },
		{ "log = { facility = \"daemon\"; };\n", "t.conf:1: unknown key 'log.facility' (known: syslog, level)" },
		{ "metrics = { file = \"/x.prom\"; };\n", "t.conf:1: unknown key 'metrics.file' (known: textfile, fsync)" },
		{ "snapshot = { make = [ \"x\" ]; };\n", "t.conf:1: unknown key 'snapshot.make' (known: create, remove, timeout)" },
		{ "snapshot = [ \"x\" ];\n", "t.conf:1: 'snapshot' must be a group: snapshot = { ... };" },
		{ "snapshot = {\n  create = \"/bin/snap\";\n};\n",
		  "t.conf:2: 'snapshot.create' must be a non-empty list of strings, e.g. [ \"/path/to/script\", \"%h\" ]" },
		{ "snapshot = { remove = [ ]; };\n",
		  "t.conf:1: 'snapshot.remove' must be a non-empty list of strings, e.g. [ \"/path/to/script\", \"%h\" ]" },
		{ "snapshot = { timeout = 0; };\n", "t.conf:1: 'snapshot.timeout' must be an integer between 1 and 86400" },
		{ "snapshot = { timeout = 86401; };\n", "t.conf:1: 'snapshot.timeout' must be an integer between 1 and 86400" },
		{ "uri = 5;\n", "t.conf:1: 'uri' must be a non-empty string" },
		{ "uri = \"\";\n", "t.conf:1: 'uri' must be a non-empty string" },
		{ "username = true;\n", "t.conf:1: 'username' must be a non-empty string" },
		{ "password_file = [\"a\"];\n", "t.conf:1: 'password_file' must be a non-empty string" },
		{ "connect_timeout_ms = \"5000\";\n", "t.conf:1: 'connect_timeout_ms' must be an integer between 1 and 600000" },
		{ "connect_timeout_ms = 0;\n", "t.conf:1: 'connect_timeout_ms' must be an integer between 1 and 600000" },
		{ "connect_timeout_ms = 5.5;\n", "t.conf:1: 'connect_timeout_ms' must be an integer between 1 and 600000" },
		{ "selection = \"auto\";\n", "t.conf:1: 'selection' must be a group: selection = { ... };" },
		{ "selection = { policy = \"best\"; };\n", "t.conf:1: 'selection.policy' must be one of auto, local, member" },
		{ "selection = { policy = 1; };\n", "t.conf:1: 'selection.policy' must be one of auto, local, member" },
		{ "selection = { member = \"h:notaport\"; };\n",
		  "t.conf:1: 'selection.member' must be \"HOST:PORT\" (the port is not a number), as in the replica set "
		  "config, e.g. \"db2.example.net:27017\"" },
		{ "selection = { member = \"db2\"; };\n",
		  "t.conf:1: 'selection.member' must be \"HOST:PORT\" (no :PORT), as in the replica set config, e.g. "
		  "\"db2.example.net:27017\"" },
		{ "selection = { member = \"db2:65536\"; };\n",
		  "t.conf:1: 'selection.member' must be \"HOST:PORT\" (the port is not between 1 and 65535), as in the "
		  "replica set config, e.g. \"db2.example.net:27017\"" },
		{ "selection = { max_lag_seconds = -1; };\n",
		  "t.conf:1: 'selection.max_lag_seconds' must be an integer between 0 and 86400" },
		{ "selection = { max_lag_seconds = 86401; };\n",
		  "t.conf:1: 'selection.max_lag_seconds' must be an integer between 0 and 86400" },
		{ "selection = { allow_delayed = \"yes\"; };\n", "t.conf:1: 'selection.allow_delayed' must be true or false" },
		{ "selection = { tags = \"dc=east\"; };\n",
		  "t.conf:1: 'selection.tags' must be a group of strings, e.g. tags = { dc = \"east\"; };" },
		{ "selection = {\n tags = {\n  dc = 1;\n };\n};\n", "t.conf:3: 'selection.tags.dc' must be a string" },
		{ "lock = 7200;\n", "t.conf:1: 'lock' must be a group: lock = { ... };" },
		{ "lock = {\n  max_seconds = 604801;\n};\n",
		  "t.conf:2: 'lock.max_seconds' must be an integer between 1 and 604800" },
		{ "lock = { max_seconds = 0; };\n", "t.conf:1: 'lock.max_seconds' must be an integer between 1 and 604800" },
		{ "lock = { max_seconds = 10000000000L; };\n",
		  "t.conf:1: 'lock.max_seconds' must be an integer between 1 and 604800" },
		{ "lock = { refuse_if_locked = 1; };\n", "t.conf:1: 'lock.refuse_if_locked' must be true or false" },
		{ "lock = { allow_majority_stall = \"no\"; };\n",
		  "t.conf:1: 'lock.allow_majority_stall' must be true or false" },
		{ "state_dir = \"relative/dir\";\n", "t.conf:1: 'state_dir' must be an absolute path" },
		{ "state_dir = 1;\n", "t.conf:1: 'state_dir' must be an absolute path" },
		{ "metrics = { textfile = \"rs0.prom\"; };\n", "t.conf:1: 'metrics.textfile' must be an absolute path" },
		{ "metrics = { fsync = 1; };\n", "t.conf:1: 'metrics.fsync' must be true or false" },
		{ "script = { backup = \"/bin/dump.sh\"; };\n",
		  "t.conf:1: 'script.backup' must be a non-empty list of strings, e.g. [ \"/path/to/script\", \"%h\" ]" },
		{ "script = { backup = [ ]; };\n",
		  "t.conf:1: 'script.backup' must be a non-empty list of strings, e.g. [ \"/path/to/script\", \"%h\" ]" },
		{ "script = { restore = ( \"/bin/restore\", 1 ); };\n",
		  "t.conf:1: 'script.restore' must be a non-empty list of strings, e.g. [ \"/path/to/script\", \"%h\" ]" },
		{ "script = { backup = [ \"\" ]; };\n",
		  "t.conf:1: 'script.backup' must be a non-empty list of strings, e.g. [ \"/path/to/script\", \"%h\" ]" },
		{ "script = { timeout = -1; };\n", "t.conf:1: 'script.timeout' must be an integer between 0 and 604800" },
		{ "script = { timeout = 604801; };\n", "t.conf:1: 'script.timeout' must be an integer between 0 and 604800" },
		{ "script = { timeout = \"1h\"; };\n", "t.conf:1: 'script.timeout' must be an integer between 0 and 604800" },
		{ "script = { idle_timeout = -1; };\n",
		  "t.conf:1: 'script.idle_timeout' must be an integer between 0 and 604800" },
		{ "script = { allow_empty = 2; };\n", "t.conf:1: 'script.allow_empty' must be true or false" },
		{ "script = {\n  backup = [ \"/bin/dump\",\n    \"%h\",\n    \"--at=%t\" ];\n};\n",
		  "t.conf:4: 'script.backup' argument 3 \"--at=%t\" has the unknown escape %t (known: %h %p %s %j %S, "
		  "and %% for a percent sign)" },
		{ "script = { restore = ( \"/bin/restore\", \"100%\" ); };\n",
		  "t.conf:1: 'script.restore' argument 2 \"100%\" ends in a lone % (write %% for a percent sign)" },
		{ "script = { backup = [ \"/bin/dump%\\x1b\" ]; };\n",
		  "t.conf:1: 'script.backup' argument 1 \"/bin/dump%\\x1b\" has the unknown escape %\\x1b (known: %h %p "
		  "%s %j %S, and %% for a percent sign)" },
		{ "log = { syslog = \"true\"; };\n", "t.conf:1: 'log.syslog' must be true or false" },
		{ "log = { level = \"verbose\"; };\n",
		  "t.conf:1: 'log.level' must be one of error, warning, notice, info, debug" },
		{ "log = \"info\";\n", "t.conf:1: 'log' must be a group: log = { ... };" },
		{ "uri = \"mongodb://h/\";\nlock = { max_seconds = ; };\n", "t.conf:2: syntax error" },
		{ "uri = \"mongodb://h/\";\nuri = \"mongodb://other/\";\n", "t.conf:2: duplicate setting name" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		load_fails(cases[i].text, EX_CONFIG, cases[i].msg);
}

static void
test_set(void)
{
	static const struct {
		const char *key, *value, *msg;
	} bad[] = {
		{ "lock.max_seconds", "0", "--lock.max_seconds: must be an integer between 1 and 604800" },
		{ "lock.max_seconds", "12x", "--lock.max_seconds: must be an integer between 1 and 604800" },
		{ "lock.max_seconds", "", "--lock.max_seconds: must be an integer between 1 and 604800" },
		{ "selection.max_lag_seconds", "99999999999999999999",
		  "--selection.max_lag_seconds: must be an integer between 0 and 86400" },
		{ "selection.policy", "best", "--selection.policy: must be one of auto, local, member" },
		{ "selection.allow_delayed", "maybe", "--selection.allow_delayed: must be true or false" },
		{ "selection.member", "a:b:c",
		  "--selection.member: must be \"HOST:PORT\" (an IPv6 address needs brackets: [ADDRESS]:PORT), as in the "
		  "replica set config, e.g. \"db2.example.net:27017\"" },
		{ "selection.member", "db2",
		  "--selection.member: must be \"HOST:PORT\" (no :PORT), as in the replica set config, e.g. "
		  "\"db2.example.net:27017\"" },
		{ "selection.member", "db2:0",
		  "--selection.member: must be \"HOST:PORT\" (the port is not between 1 and 65535), as in the replica set "
		  "config, e.g. \"db2.example.net:27017\"" },
		{ "selection.member", "db\x1b:1",
		  "--selection.member: must be \"HOST:PORT\" (the host holds a control character), as in the replica set "
		  "config, e.g. \"db2.example.net:27017\"" },
		{ "selection.tags", "\x1b[2J", "--selection.tags: expected KEY=VALUE, got '\\x1b[2J'" },
		{ "bo\x1bgus", "1", "--bo\\x1bgus: no such setting" },
		{ "selection.tags", "novalue", "--selection.tags: expected KEY=VALUE, got 'novalue'" },
		{ "selection.tags", "=v", "--selection.tags: expected KEY=VALUE, got '=v'" },
		{ "state_dir", "rel", "--state_dir: must be an absolute path" },
		{ "log.level", "loud", "--log.level: must be one of error, warning, notice, info, debug" },
		{ "script.backup", "/bin/true", "--script.backup: set it in the config file" },
		{ "bogus", "1", "--bogus: no such setting" },
		{ "lock", "1", "--lock: no such setting" },
	};
	mbh_config *c;
	mbh_error err;
	char want[MBH_ERRMSG_LEN + 16];
	size_t i;
	int r;

	c = from_text("uri = \"mongodb://h/?replicaSet=rs0\";\nlock = { max_seconds = 100; };\n"
	              "selection = { tags = { dc = \"east\"; }; };\n", &err);
	if (!ok(c != NULL, "base config for overrides loads"))
		return;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mbh_error_init(&err);
		r = mbh_config_set(c, bad[i].key, bad[i].value, &err);
		ok(r != 0 && err.code == EX_USAGE, "set %s=%s fails with EX_USAGE", bad[i].key, bad[i].value);
		is_str(err.msg, bad[i].msg, "  message");
	}
	mbh_error_init(&err);
	ok(mbh_config_set(c, "selection.member", "nocolon", &err) != 0 &&
	   strncmp(err.msg, "--selection.member: ", 20) == 0, "set: a bad value names the key");
	snprintf(want, sizeof(want), "--member: %s", err.msg + 20);
	mbh_error_init(&err);
	ok(mbh_config_set_as(c, "selection.member", "nocolon", "member", &err) != 0 && err.code == EX_USAGE,
	   "set_as a bad value fails with EX_USAGE");
	is_str(err.msg, want, "  naming the option typed, not the key");
	mbh_error_init(&err);
	ok(mbh_config_set_as(c, "selection.tags", "x", "tag", &err) != 0, "set_as: a tag without '='");
	is_str(err.msg, "--tag: expected KEY=VALUE, got 'x'", "  naming the option typed");
	ok(mbh_config_set(c, "lock.max_seconds", "300", &err) == 0 && c->lock.max_seconds == 300,
	   "command line overrides the file (lock.max_seconds)");
	ok(mbh_config_set(c, "uri", "mongodb://x/?replicaSet=rs1", &err) == 0 &&
	   strcmp(c->uri, "mongodb://x/?replicaSet=rs1") == 0, "--uri overrides the file");
	ok(mbh_config_set(c, "lock.refuse_if_locked", "false", &err) == 0 && c->lock.refuse_if_locked == 0,
	   "boolean false");
	ok(mbh_config_set(c, "selection.allow_delayed", "yes", &err) == 0 && c->selection.allow_delayed == 1,
	   "boolean yes");
	ok(mbh_config_set(c, "selection.tags", "rack=r1", &err) == 0 && c->selection.ntags == 2 &&
	   strcmp(c->selection.tags[1].key, "rack") == 0 && strcmp(c->selection.tags[1].value, "r1") == 0,
	   "--tag appends");
	ok(mbh_config_set(c, "selection.tags", "dc=west", &err) == 0 && c->selection.ntags == 2 &&
	   strcmp(c->selection.tags[0].value, "west") == 0, "--tag with a known key replaces its value");
	ok(mbh_config_set(c, "selection.tags", "k=a=b", &err) == 0 && c->selection.ntags == 3 &&
	   strcmp(c->selection.tags[2].value, "a=b") == 0, "--tag splits at the first '='");
	ok(mbh_config_set(c, "selection.member", "[::1]:27018", &err) == 0 &&
	   c->selection.policy == MBH_POLICY_MEMBER, "--member implies policy member");
	ok(mbh_config_set(c, "log.level", "warning", &err) == 0 && c->log.level == MBH_LOG_WARNING, "log level");
	ok(mbh_config_set(c, "state_dir", "/tmp/x", &err) == 0 && strcmp(c->state_dir, "/tmp/x") == 0, "state_dir");
	mbh_config_free(c);
}

/* finish() on text with MONGO_BACKUP_URI set or not; returns the config or NULL with err. */
static mbh_config *
finished(const char *text, const char *env_uri, mbh_error *err)
{
	mbh_config *c = from_text(text, err);

	if (c == NULL)
		return NULL;
	if (env_uri)
		setenv("MONGO_BACKUP_URI", env_uri, 1);
	else
		unsetenv("MONGO_BACKUP_URI");
	if (mbh_config_finish(c, err) != 0) {
		mbh_config_free(c);
		c = NULL;
	}
	unsetenv("MONGO_BACKUP_URI");
	return c;
}

/* Snapshot mode: both commands, a timeout inside the lock's, escapes checked where they are used. */
static void
test_finish_snapshot(void)
{
	static const struct {
		const char *text;
		const char *msg;
	} bad[] = {
		{ "\nsnapshot = {\n  create = [ \"/s\", \"create\" ];\n};\n",
		  "t.conf:2: the snapshot group needs both create = [ ... ] (prints the snapshot's path) and remove = "
		  "[ ... ] (removes %S)" },
		{ "snapshot = { };\n",
		  "t.conf:1: the snapshot group needs both create = [ ... ] (prints the snapshot's path) and remove = "
		  "[ ... ] (removes %S)" },
		{ "snapshot = { create = [ \"/s\" ];\n remove = [ \"/s\", \"%S\" ];\n timeout = 7200; };\n",
		  "t.conf:3: 'snapshot.timeout' (7200 s) must be shorter than lock.max_seconds (7200 s): the member "
		  "stays locked while snapshot.create runs" },
		{ "snapshot = { create = [ \"/s\", \"%S\" ];\n remove = [ \"/s\", \"%S\" ]; };\n",
		  "t.conf:1: 'snapshot.create' cannot use %S: the snapshot's path is what it prints" },
		{ "snapshot = { create = [ \"/s\", \"%x\" ];\n remove = [ \"/s\", \"%S\" ]; };\n",
		  "t.conf:1: 'snapshot.create' argument 2 \"%x\" has the unknown escape %x (known: %h %p %s %j %S, and %% for a percent sign)" },
		{ "snapshot = { create = [ \"/s\" ];\n remove = [ \"/s\", \"50%\" ]; };\n",
		  "t.conf:2: 'snapshot.remove' argument 2 \"50%\" ends in a lone % (write %% for a percent sign)" },
		{ "script = {\n  backup = [ \"/b\", \"%S\" ];\n};\n",
		  "t.conf:2: 'script.backup' uses %S, the snapshot's path, but there is no snapshot group: add snapshot "
		  "= { create = [ ... ]; remove = [ ... ]; } or drop the %S" },
		{ "script = { backup = [ \"/b\", \"%q\" ]; };\n",
		  "t.conf:1: 'script.backup' argument 2 \"%q\" has the unknown escape %q (known: %h %p %s %j %S, and %% for a percent sign)" },
		{ "script = { restore = [ \"/r\", \"%S\" ]; };\nsnapshot = { create = [ \"/s\" ]; remove = [ \"/s\" ]; };\n",
		  "t.conf:1: 'script.restore' cannot use %S: no snapshot is involved" },
	};
	mbh_config *c;
	mbh_error err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = finished(bad[i].text, "mongodb://h/", &err);
		ok(c == NULL && err.code == EX_CONFIG, "snapshot: finish fails with 78: %.50s", bad[i].msg);
		is_str(err.msg, bad[i].msg, "  message");
		mbh_config_free(c);
	}

	c = finished("", "mongodb://h/", &err);
	ok(c != NULL && c->snapshot.create == NULL && c->snapshot.remove == NULL && c->snapshot.timeout == 60,
	   "no snapshot group: snapshot mode off, default snapshot.timeout 60");
	mbh_config_free(c);

	c = finished("snapshot = { create = [ \"/s\", \"create\", \"%s-%j\" ];\n remove = [ \"/s\", \"remove\", \"%S\" ];"
		     "\n timeout = 20; };\nscript = { backup = [ \"/b\", \"%S/db\", \"100%%\" ]; };\n",
		     "mongodb://h/", &err);
	ok(c != NULL && c->snapshot.create != NULL && c->snapshot.remove != NULL && c->snapshot.timeout == 20 &&
	   strcmp(c->snapshot.remove[2], "%S") == 0 && strcmp(c->script.backup[1], "%S/db") == 0,
	   "a snapshot group with %%S in remove and script.backup is accepted");
	if (c == NULL)
		diag("%s", err.msg);
	mbh_config_free(c);

	c = finished("snapshot = { create = [ \"/s\" ]; remove = [ \"/s\", \"%S\" ]; timeout = 5; };\n"
		     "lock = { max_seconds = 5; };\n", "mongodb://h/", &err);
	ok(c == NULL && err.code == EX_CONFIG, "snapshot.timeout equal to lock.max_seconds: EX_CONFIG");
	mbh_config_free(c);

	mbh_config_new(&c, &err);
	ok(mbh_config_load_string(c, "snapshot = { create = [ \"/s\" ]; remove = [ \"/s\", \"%S\" ]; timeout = 30; };\n",
				  "t.conf", &err) == 0 && mbh_config_set(c, "lock.max_seconds", "20", &err) == 0 &&
	   mbh_config_set(c, "uri", "mongodb://h/", &err) == 0 && mbh_config_finish(c, &err) != 0 &&
	   err.code == EX_CONFIG, "--max-lock-seconds below snapshot.timeout: EX_CONFIG");
	is_str(err.msg, "t.conf:1: 'snapshot.timeout' (30 s) must be shorter than lock.max_seconds (20 s): the member "
	       "stays locked while snapshot.create runs", "  message");
	mbh_config_free(c);
	mbh_config_new(&c, &err);
	ok(mbh_config_set(c, "snapshot.create", "/s", &err) != 0 && err.code == EX_USAGE,
	   "snapshot.create cannot be set on the command line");
	ok(mbh_config_set(c, "snapshot.timeout", "9", &err) == 0 && c->snapshot.timeout == 9,
	   "snapshot.timeout can");
	mbh_config_free(c);
}

static void
test_finish(void)
{
	mbh_config *c;
	mbh_error err;

	c = finished("", NULL, &err);
	ok(c == NULL && err.code == EX_CONFIG, "no URI anywhere: EX_CONFIG");
	is_str(err.msg, "no connection string: set uri in the config file or MONGO_BACKUP_URI", "no URI: message");
	mbh_config_free(c);

	c = finished("", "mongodb://envhost/?replicaSet=rs0", &err);
	ok(c != NULL && strcmp(c->uri, "mongodb://envhost/?replicaSet=rs0") == 0, "URI from MONGO_BACKUP_URI");
	if (c != NULL) {
		is_int(c->connect_timeout_ms, 5000, "default connect_timeout_ms");
		is_int(c->selection.policy, MBH_POLICY_AUTO, "default policy auto");
		is_int(c->selection.max_lag_seconds, 30, "default max_lag_seconds");
		is_int(c->selection.allow_delayed, 0, "default allow_delayed");
		is_int(c->lock.max_seconds, 7200, "default lock.max_seconds");
		is_int(c->lock.refuse_if_locked, 1, "default refuse_if_locked");
		is_int(c->lock.allow_majority_stall, 0, "default allow_majority_stall");
		is_str(c->state_dir, "/var/lib/mongo-backup", "default state_dir");
		is_int(c->script.timeout, 7200, "default script.timeout");
		is_int(c->script.idle_timeout, 600, "default script.idle_timeout");
		is_int(c->script.allow_empty, 0, "default script.allow_empty: an empty stream fails");
		is_int(c->log.syslog, 0, "default log.syslog");
		is_int(c->log.level, MBH_LOG_INFO, "default log.level");
		ok(c->metrics.textfile == NULL, "default: metrics off (no metrics.textfile)");
		is_int(c->metrics.fsync, 1, "default metrics.fsync");
		ok(c->script.backup == NULL && c->password == NULL, "no script, no password");
	}
	mbh_config_free(c);

	c = finished("uri = \"mongodb://filehost/\";\n", "mongodb://envhost/", &err);
	ok(c != NULL && strcmp(c->uri, "mongodb://filehost/") == 0, "the file's URI beats MONGO_BACKUP_URI");
	mbh_config_free(c);

	c = finished("uri = \"mongodb://h/?connectTimeoutMS=1234\";\n", NULL, &err);
	ok(c != NULL && c->connect_timeout_ms == 1234, "connectTimeoutMS from the URI when the file has none");
	mbh_config_free(c);

	c = finished("uri = \"mongodb://h/?connectTimeoutMS=1234\";\nconnect_timeout_ms = 999;\n", NULL, &err);
	ok(c != NULL && c->connect_timeout_ms == 999, "connect_timeout_ms from the file beats the URI");
	mbh_config_free(c);

	c = finished("uri = \"mongodb://h/\";\nselection = {\n  policy = \"member\";\n};\n", NULL, &err);
	ok(c == NULL && err.code == EX_CONFIG, "policy member without member: EX_CONFIG");
	is_str(err.msg, "t.conf:3: selection.policy is \"member\" but selection.member is not set",
	       "policy member without member: message");
	mbh_config_free(c);

	c = finished("uri = \"mongodb://h/\";\nselection = { member = \"h2:27017\"; };\n", NULL, &err);
	ok(c != NULL && c->selection.policy == MBH_POLICY_MEMBER, "member alone implies policy member");
	mbh_config_free(c);

	c = finished("uri = \"mongodb://h/\";\nselection = { policy = \"local\";\n member = \"h2:27017\"; };\n",
	             NULL, &err);
	ok(c == NULL && err.code == EX_CONFIG, "member with policy local: EX_CONFIG");
	is_str(err.msg, "t.conf:3: selection.member is set but selection.policy is \"local\" (use \"member\")",
	       "member with policy local: message");
	mbh_config_free(c);

	c = finished("uri = \"mongodb://u:in:pw@h/\";\n", NULL, &err);
	ok(c == NULL && err.code == EX_USAGE, "a bad URI fails finish with EX_USAGE");
	ok(strstr(err.msg, "in:pw") == NULL && strstr(err.msg, "invalid connection string mongodb://u:*****@h/") == err.msg,
	   "a bad URI: redacted message");
	diag("%s", err.msg);
	mbh_config_free(c);

	test_finish_snapshot();

	c = finished("uri = \"mongodb://bob:p%40ss%3Aw@h/\";\n", NULL, &err);
	ok(c != NULL, "a URI with a password is accepted in the file");
	{
		char out[128];

		redact_with(c, "decoded p@ss:w and raw p%40ss%3Aw", out, sizeof(out));
		is_str(out, "decoded ***** and raw *****", "the URI's password (decoded and raw) is a log secret");
	}
	mbh_config_free(c);
}

static void
test_password_file(void)
{
	char pwpath[PATH_MAX], link[PATH_MAX], text[PATH_MAX * 2], want[PATH_MAX * 3], out[128];
	mbh_config *c;
	mbh_error err;

	snprintf(pwpath, sizeof(pwpath), "%s/rs0.secret", tmpdir);
	snprintf(link, sizeof(link), "%s/link.secret", tmpdir);
	snprintf(text, sizeof(text), "uri = \"mongodb://h/?replicaSet=rs0\";\nusername = \"backup\";\n"
	         "password_file = \"%s\";\n", pwpath);

	write_file(pwpath, "Sekr3t pass\nsecond line\n", 0600);
	c = finished(text, NULL, &err);
	ok(c != NULL, "password file 0600 accepted");
	if (c == NULL)
		diag("%s", err.msg);
	is_str(c ? c->password : NULL, "Sekr3t pass", "password is the first line without its newline");
	redact_with(c, "login with Sekr3t pass failed", out, sizeof(out));
	is_str(out, "login with ***** failed", "the file's password is a log secret");
	mbh_config_free(c);

	write_file(pwpath, "nonl", 0400);
	c = finished(text, NULL, &err);
	is_str(c ? c->password : NULL, "nonl", "mode 0400, no trailing newline");
	mbh_config_free(c);

	write_file(pwpath, "crlf\r\n", 0600);
	c = finished(text, NULL, &err);
	is_str(c ? c->password : NULL, "crlf", "a CRLF line ending is stripped");
	mbh_config_free(c);

	write_file(pwpath, "pw\n", 0640);
	c = finished(text, NULL, &err);
	snprintf(want, sizeof(want), "%s: password file must not be readable by others (chmod 600 %s)", pwpath, pwpath);
	ok(c == NULL && err.code == EX_CONFIG, "password file 0640 refused with EX_CONFIG");
	is_str(err.msg, want, "0640: message");
	mbh_config_free(c);

	write_file(pwpath, "pw\n", 0644);
	c = finished(text, NULL, &err);
	ok(c == NULL && err.code == EX_CONFIG, "password file 0644 refused with EX_CONFIG");
	is_str(err.msg, want, "0644: message");
	mbh_config_free(c);

	write_file(pwpath, "pw\n", 0602);
	c = finished(text, NULL, &err);
	ok(c == NULL && err.code == EX_CONFIG, "password file 0602 (other-writable) refused");
	mbh_config_free(c);

	write_file(pwpath, "pw\n", 0600);
	unlink(link);
	if (symlink(pwpath, link) != 0)
		diag("symlink: %s", strerror(errno));
	snprintf(text, sizeof(text), "uri = \"mongodb://h/\";\nusername = \"backup\";\npassword_file = \"%s\";\n", link);
	c = finished(text, NULL, &err);
	snprintf(want, sizeof(want), "%s: password file must not be a symbolic link", link);
	ok(c == NULL && err.code == EX_CONFIG, "symlinked password file refused with EX_CONFIG");
	is_str(err.msg, want, "symlink: message");
	mbh_config_free(c);

	snprintf(text, sizeof(text), "uri = \"mongodb://h/\";\nusername = \"backup\";\npassword_file = \"%s\";\n", pwpath);
	write_file(pwpath, "\nsecond\n", 0600);
	c = finished(text, NULL, &err);
	snprintf(want, sizeof(want), "%s: password file is empty (its first line is the password)", pwpath);
	ok(c == NULL && err.code == EX_CONFIG, "empty first line refused");
	is_str(err.msg, want, "empty: message");
	mbh_config_free(c);

	snprintf(text, sizeof(text), "uri = \"mongodb://h/\";\nusername = \"backup\";\npassword_file = \"%s\";\n", tmpdir);
	c = finished(text, NULL, &err);
	snprintf(want, sizeof(want), "%s: the password file is a directory, not a regular file: give the path of a "
	         "regular file (mode 0600)", tmpdir);
	ok(c == NULL && err.code == EX_CONFIG, "a directory as password file refused");
	is_str(err.msg, want, "directory: message");
	mbh_config_free(c);

	snprintf(text, sizeof(text), "uri = \"mongodb://h/\";\nusername = \"backup\";\npassword_file = \"%s/none\";\n",
	         tmpdir);
	c = finished(text, NULL, &err);
	snprintf(want, sizeof(want), "%s/none: cannot open the password file: No such file or directory", tmpdir);
	ok(c == NULL && err.code == EX_CONFIG, "a missing password file: EX_CONFIG");
	is_str(err.msg, want, "missing: message");
	mbh_config_free(c);

	write_file(pwpath, "pw\n", 0600);
	snprintf(text, sizeof(text), "uri = \"mongodb://h/\";\n\npassword_file = \"%s\";\n", pwpath);
	c = finished(text, NULL, &err);
	ok(c == NULL && err.code == EX_CONFIG, "a password file but no user name: EX_CONFIG");
	is_str(err.msg, "t.conf:3: password_file is set but there is no user name: set username or put the user in the URI",
	       "no user name: message");
	mbh_config_free(c);

	snprintf(text, sizeof(text), "uri = \"mongodb://bob:uripw@h/\";\npassword_file = \"%s\";\n", pwpath);
	c = finished(text, NULL, &err);
	ok(c != NULL && strcmp(c->password, "pw") == 0, "user from the URI, password from the file (no error)");
	mbh_config_free(c);
	unlink(link);
	unlink(pwpath);
}

/* A config file whose uri holds the password is held to the password file's rule. */
static void
test_uri_password_file_mode(void)
{
	char conf[PATH_MAX], part[PATH_MAX], want[PATH_MAX * 3];
	mbh_config *c = NULL;
	mbh_error err;

	snprintf(conf, sizeof(conf), "%s/pw.conf", tmpdir);
	snprintf(part, sizeof(part), "%s/part.conf", tmpdir);
	snprintf(want, sizeof(want), "%s: config file (its uri holds a password) must not be readable by others (chmod 600 %s)",
	         conf, conf);
	write_file(conf, "uri = \"mongodb://bob:pw@h/?replicaSet=rs0\";\n", 0644);
	mbh_config_new(&c, &err);
	mbh_error_init(&err);
	ok(mbh_config_load_file(c, conf, &err) != 0 && err.code == EX_CONFIG, "uri with a password, file 0644: EX_CONFIG");
	is_str(err.msg, want, "  message names the chmod");
	mbh_config_free(c);
	write_file(conf, "uri = \"mongodb://bob:pw@h/?replicaSet=rs0\";\n", 0640);
	mbh_config_new(&c, &err);
	ok(mbh_config_load_file(c, conf, &err) != 0 && strcmp(err.msg, want) == 0, "0640 (group-readable): refused too");
	mbh_config_free(c);
	write_file(conf, "uri = \"mongodb://bob:pw@h/?replicaSet=rs0\";\n", 0600);
	mbh_config_new(&c, &err);
	ok(mbh_config_load_file(c, conf, &err) == 0, "0600: accepted");
	mbh_config_free(c);
	write_file(conf, "uri = \"mongodb://bob@h/?replicaSet=rs0\";\n", 0644);
	mbh_config_new(&c, &err);
	ok(mbh_config_load_file(c, conf, &err) == 0, "0644 without a password in the uri: accepted");
	mbh_config_free(c);
	/* the uri in an @include'd file: that file is the one checked */
	write_file(part, "uri = \"mongodb://bob:pw@h/?replicaSet=rs0\";\n", 0644);
	write_file(conf, "@include \"part.conf\"\n", 0600);
	snprintf(want, sizeof(want), "%s: config file (its uri holds a password) must not be readable by others (chmod 600 %s)",
	         part, part);
	mbh_config_new(&c, &err);
	mbh_error_init(&err);
	ok(mbh_config_load_file(c, conf, &err) != 0 && err.code == EX_CONFIG, "the uri in an @include'd file of mode 0644: refused");
	is_str(err.msg, want, "  message names that file");
	mbh_config_free(c);
	unlink(part);
	unlink(conf);
}

/* Load path; expect EX_CONFIG with exactly want. */
static void
load_file_fails(const char *path, const char *want, const char *name)
{
	mbh_config *c = NULL;
	mbh_error err;
	int r;

	mbh_error_init(&err);
	mbh_config_new(&c, &err);
	r = mbh_config_load_file(c, path, &err);
	ok(r != 0 && err.code == EX_CONFIG, "%s: EX_CONFIG", name);
	is_str(err.msg, want, "  message");
	mbh_config_free(c);
}

/* Only a regular file is a config file: a FIFO would block for ever, a device never end. */
static void
test_special_files(void)
{
	char fifo[PATH_MAX], conf[PATH_MAX], link[PATH_MAX], odd[PATH_MAX], want[PATH_MAX * 2], text[PATH_MAX * 2];
	mbh_config *c = NULL;
	mbh_error err;

	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	snprintf(conf, sizeof(conf), "%s/rs0.conf", tmpdir);
	snprintf(link, sizeof(link), "%s/link.conf", tmpdir);
	snprintf(odd, sizeof(odd), "%s/no\x1b[2Jfile.conf", tmpdir);
	unlink(fifo);
	if (mkfifo(fifo, 0600) != 0)
		diag("mkfifo: %s", strerror(errno));
	snprintf(want, sizeof(want), "%s: the config file is a FIFO, not a regular file: give the path of a regular file",
	         fifo);
	load_file_fails(fifo, want, "a FIFO as the config file (no writer: it would block)");
	snprintf(want, sizeof(want), "%s: the config file is a directory, not a regular file: give the path of a "
	         "regular file", tmpdir);
	load_file_fails(tmpdir, want, "a directory as the config file");
	load_file_fails("/dev/null", "/dev/null: the config file is a character device, not a regular file: give the "
	                "path of a regular file", "/dev/null as the config file");
	snprintf(want, sizeof(want), "%s/no\\x1b[2Jfile.conf: cannot read the config file: No such file or directory",
	         tmpdir);
	load_file_fails(odd, want, "a path with a control character is quoted escaped");

	write_file(conf, "uri = \"mongodb://h/?replicaSet=rs0\";\n", 0600);
	unlink(link);
	if (symlink(conf, link) != 0)
		diag("symlink: %s", strerror(errno));
	mbh_error_init(&err);
	mbh_config_new(&c, &err);
	ok(mbh_config_load_file(c, link, &err) == 0 && strcmp(c->uri, "mongodb://h/?replicaSet=rs0") == 0,
	   "a symbolic link to a regular config file is fine");
	mbh_config_free(c);

	snprintf(text, sizeof(text), "uri = \"mongodb://h/\";\nusername = \"backup\";\npassword_file = \"%s\";\n", fifo);
	c = finished(text, NULL, &err);
	snprintf(want, sizeof(want), "%s: the password file is a FIFO, not a regular file: give the path of a regular "
	         "file (mode 0600)", fifo);
	ok(c == NULL && err.code == EX_CONFIG, "a FIFO as the password file: EX_CONFIG (no wait for a writer)");
	is_str(err.msg, want, "  message");
	mbh_config_free(c);
	unlink(link);
	unlink(conf);
	unlink(fifo);
}

static void
test_uri_has_password(void)
{
	static const struct {
		const char *uri;
		int want;
	} cases[] = {
		{ "mongodb://u:p@h/", 1 },
		{ "mongodb://u:@h/", 1 },
		{ "mongodb://u@h/", 0 },
		{ "mongodb://h:27017/", 0 },
		{ "mongodb+srv://u:p%40x@cluster.example.com/", 1 },
		{ "mongodb://u:p@ss@h1,h2/?replicaSet=rs0", 1 },
		{ "mongodb://h/?tlsCertificateKeyFilePassword=x", 0 },
		{ "", 0 },
		{ "garbage:with@colon", 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(mbh_config_uri_has_password(cases[i].uri), cases[i].want, cases[i].uri[0] ? cases[i].uri : "(empty)");
	is_int(mbh_config_uri_has_password(NULL), 0, "NULL");
}

int
main(void)
{
	char tmpl[] = "/tmp/t_config.XXXXXX";

	tap_init();
	if (mkdtemp(tmpl) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
	test_full_file();
	test_file_errors();
	test_defaults();
	test_example();
	test_cluster_example();
	test_key_errors();
	test_set();
	test_finish();
	test_password_file();
	test_uri_password_file_mode();
	test_special_files();
	test_uri_has_password();
	ok(mbh_policy_from_name("auto") == MBH_POLICY_AUTO && mbh_policy_from_name("local") == MBH_POLICY_LOCAL &&
	   mbh_policy_from_name("member") == MBH_POLICY_MEMBER, "policy names: auto, local, member");
	ok(mbh_policy_from_name("best") < 0 && mbh_policy_from_name("Auto") < 0 && mbh_policy_from_name("") < 0,
	   "policy names: anything else is none");
	rmdir(tmpdir);
	mbh_config_free(NULL);
	return tap_done();
}
