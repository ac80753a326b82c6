/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* config.c: libconfig file + command line + environment -> one mbh_config, driven by a key table. */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "escape.h"
#include "log.h"
#include "run.h"
#include "state.h"
#include "strv.h"
#include "uri.h"

#define DEFAULT_STATE_DIR "/var/lib/mongo-backup"
#define PASSWORD_MAX 4096

typedef enum key_type {
	KT_GROUP,
	KT_STRING,
	KT_PATH,     /* a string that must be an absolute path */
	KT_HOSTPORT, /* a string "host:port" */
	KT_INT,
	KT_BOOL,
	KT_POLICY,
	KT_LEVEL,
	KT_CMODE,   /* cluster.mode: online or exact */
	KT_STRV,
	KT_TAGS
} key_type;

/* One key of the file (and of mbh_config_set), named with dots for groups. */
typedef struct key_spec {
	const char *name;
	key_type type;
	long min, max;  /* KT_INT */
	size_t off;     /* where the value lives in mbh_config; unused for groups */
	long def;       /* KT_INT, KT_BOOL, KT_LEVEL, KT_CMODE: the default mbh_config_finish fills in */
} key_spec;

#define OFF(field) offsetof(mbh_config, field)

static const key_spec keys[] = {
	{ "uri", KT_STRING, 0, 0, OFF(uri), 0 },
	{ "username", KT_STRING, 0, 0, OFF(username), 0 },
	{ "password_file", KT_STRING, 0, 0, OFF(password_file), 0 },
	{ "connect_timeout_ms", KT_INT, 1, MBH_URI_CONNECT_TIMEOUT_MAX_MS, OFF(connect_timeout_ms),
	  MBH_URI_CONNECT_TIMEOUT_MS },
	{ "selection", KT_GROUP, 0, 0, 0, 0 },
	{ "selection.policy", KT_POLICY, 0, 0, OFF(selection.policy), 0 },
	{ "selection.member", KT_HOSTPORT, 0, 0, OFF(selection.member), 0 },
	{ "selection.max_lag_seconds", KT_INT, 0, 86400, OFF(selection.max_lag_seconds), 30 },
	{ "selection.allow_delayed", KT_BOOL, 0, 0, OFF(selection.allow_delayed), 0 },
	{ "selection.tags", KT_TAGS, 0, 0, 0, 0 },
	{ "lock", KT_GROUP, 0, 0, 0, 0 },
	{ "lock.max_seconds", KT_INT, 1, 604800, OFF(lock.max_seconds), 7200 },
	{ "lock.refuse_if_locked", KT_BOOL, 0, 0, OFF(lock.refuse_if_locked), 1 },
	{ "lock.allow_majority_stall", KT_BOOL, 0, 0, OFF(lock.allow_majority_stall), 0 },
	{ "state_dir", KT_PATH, 0, 0, OFF(state_dir), 0 },
	{ "script", KT_GROUP, 0, 0, 0, 0 },
	{ "script.backup", KT_STRV, 0, 0, OFF(script.backup), 0 },
	{ "script.restore", KT_STRV, 0, 0, OFF(script.restore), 0 },
	{ "script.timeout", KT_INT, 0, 604800, OFF(script.timeout), 7200 },
	{ "script.idle_timeout", KT_INT, 0, 604800, OFF(script.idle_timeout), 600 }, /* still 10 min while locked: Bacula waits for something */
	{ "script.allow_empty", KT_BOOL, 0, 0, OFF(script.allow_empty), 0 },
	{ "snapshot", KT_GROUP, 0, 0, 0, 0 },
	{ "snapshot.create", KT_STRV, 0, 0, OFF(snapshot.create), 0 },
	{ "snapshot.remove", KT_STRV, 0, 0, OFF(snapshot.remove), 0 },
	{ "snapshot.timeout", KT_INT, 1, 86400, OFF(snapshot.timeout), 60 },
	{ "log", KT_GROUP, 0, 0, 0, 0 },
	{ "log.syslog", KT_BOOL, 0, 0, OFF(log.syslog), 0 },
	{ "log.level", KT_LEVEL, 0, 0, OFF(log.level), MBH_LOG_INFO },
	{ "metrics", KT_GROUP, 0, 0, 0, 0 },
	{ "metrics.textfile", KT_PATH, 0, 0, OFF(metrics.textfile), 0 },
	{ "metrics.fsync", KT_BOOL, 0, 0, OFF(metrics.fsync), 1 },
	{ "cluster", KT_GROUP, 0, 0, 0, 0 },
	{ "cluster.mode", KT_CMODE, 0, 0, OFF(cluster.mode), MBH_CLUSTER_ONLINE },
	{ "cluster.name", KT_STRING, 0, 0, OFF(cluster.name), 0 },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const policy_names[] = { "auto", "local", "member" };
static const char *const level_names[] = { "error", "warning", "notice", "info", "debug" };
static const char *const cmode_names[] = { "online", "exact" };

/*
 * What mbh_config_new hands out: the public struct plus where every key was
 * last set ("FILE:LINE" or "command line"), for semantic errors in finish.
 */
typedef struct cfg_impl {
	mbh_config pub;
	char *where[NKEYS];
	const char *incdir; /* during a file load: where @include names are relative to */
} cfg_impl;

static cfg_impl *
impl(mbh_config *cfg)
{
	return (cfg_impl *)((char *)cfg - offsetof(cfg_impl, pub));
}

static const key_spec *
find_key(const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].name, name) == 0) {
			if (idx != NULL)
				*idx = i;
			return &keys[i];
		}
	}
	return NULL;
}

/* "a, b, c": the keys directly inside group prefix ("" for the top level). */
static void
known_keys(const char *prefix, char *buf, size_t len)
{
	size_t i, plen = strlen(prefix), used = 0;
	const char *rest;
	int n;

	buf[0] = '\0';
	for (i = 0; i < NKEYS; i++) {
		if (plen > 0) {
			if (strncmp(keys[i].name, prefix, plen) != 0 || keys[i].name[plen] != '.')
				continue;
			rest = keys[i].name + plen + 1;
		} else {
			rest = keys[i].name;
		}
		if (strchr(rest, '.') != NULL)
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", rest);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

/* The rule a value broke, as "must be ..." text; value (may be NULL) is the string given, for details. */
static void
type_phrase(const key_spec *k, const char *value, char *buf, size_t len)
{
	char why[128];

	switch (k->type) {
	case KT_GROUP:
		snprintf(buf, len, "must be a group: %s = { ... };", k->name);
		break;
	case KT_STRING:
		snprintf(buf, len, "must be a non-empty string");
		break;
	case KT_PATH:
		snprintf(buf, len, "must be an absolute path");
		break;
	case KT_HOSTPORT:
		if (value == NULL || mbh_hostport_check(value, why, sizeof(why)) == 0)
			snprintf(why, sizeof(why), "not a string");
		snprintf(buf, len, "must be \"HOST:PORT\" (%s), as in the replica set config, e.g. "
		         "\"db2.example.net:27017\"", why);
		break;
	case KT_INT:
		snprintf(buf, len, "must be an integer between %ld and %ld", k->min, k->max);
		break;
	case KT_BOOL:
		snprintf(buf, len, "must be true or false");
		break;
	case KT_POLICY:
		snprintf(buf, len, "must be one of " MBH_POLICY_NAMES);
		break;
	case KT_LEVEL:
		snprintf(buf, len, "must be one of error, warning, notice, info, debug");
		break;
	case KT_CMODE:
		snprintf(buf, len, "must be one of " MBH_CLUSTER_MODE_NAMES);
		break;
	case KT_STRV:
		snprintf(buf, len, "must be a non-empty list of strings, e.g. [ \"/path/to/script\", \"%%h\" ]");
		break;
	case KT_TAGS:
		snprintf(buf, len, "must be a group of strings, e.g. tags = { dc = \"east\"; };");
		break;
	}
}

static int
name_index(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

/*
 * Check the %-escapes of one argument of a command template: %h host, %p
 * port, %s set, %j job, %S snapshot path and %% are known (the runner
 * expands them).  Returns 0, or -1 with why filled.
 */
static int
template_check(const char *arg, char *why, size_t len)
{
	char bad[2], q[16];
	const char *p;

	for (p = strchr(arg, '%'); p != NULL; p = strchr(p + 2, '%')) {
		if (p[1] == '\0') {
			snprintf(why, len, "ends in a lone %% (write %%%% for a percent sign)");
			return -1;
		}
		if (strchr("hpsjS%", p[1]) == NULL) {
			bad[0] = p[1];
			bad[1] = '\0';
			snprintf(why, len, "has the unknown escape %%%s (known: %%h %%p %%s %%j %%S, and %%%% for a "
			         "percent sign)", mbh_escape(bad, q, sizeof(q)));
			return -1;
		}
	}
	return 0;
}

/* Is s acceptable for a string-typed key k? */
static bool
string_ok(const key_spec *k, const char *s)
{
	char why[128];

	if (s == NULL || s[0] == '\0')
		return false;
	if (k->type == KT_PATH)
		return s[0] == '/';
	if (k->type == KT_HOSTPORT)
		return mbh_hostport_check(s, why, sizeof(why)) == 0;
	return true;
}

/* Replace a string field with a copy of value. */
static int
set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (copy == NULL)
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

/* Add or replace one tag. */
static int
tag_put(mbh_config *cfg, const char *key, size_t keylen, const char *value)
{
	mbh_tag *nt;
	char *k = NULL, *v = NULL;
	size_t i;

	v = strdup(value);
	if (v == NULL)
		return -1;
	for (i = 0; i < cfg->selection.ntags; i++) {
		if (strlen(cfg->selection.tags[i].key) == keylen &&
		    strncmp(cfg->selection.tags[i].key, key, keylen) == 0) {
			free(cfg->selection.tags[i].value);
			cfg->selection.tags[i].value = v;
			return 0;
		}
	}
	k = strndup(key, keylen);
	nt = k ? realloc(cfg->selection.tags, (cfg->selection.ntags + 1) * sizeof(*nt)) : NULL;
	if (nt == NULL) {
		free(k);
		free(v);
		return -1;
	}
	cfg->selection.tags = nt;
	nt[cfg->selection.ntags].key = k;
	nt[cfg->selection.ntags].value = v;
	cfg->selection.ntags++;
	return 0;
}

static int
set_where(cfg_impl *ci, size_t idx, const char *file, int line)
{
	char buf[PATH_MAX + 32];
	char *copy;

	if (file != NULL)
		snprintf(buf, sizeof(buf), "%s:%d", file, line);
	else
		snprintf(buf, sizeof(buf), "command line (--%s)", keys[idx].name);
	copy = strdup(buf);
	if (copy == NULL)
		return -1;
	free(ci->where[idx]);
	ci->where[idx] = copy;
	return 0;
}

/* Where key name was set, for messages ("the defaults" when nowhere). */
static const char *
where_of(cfg_impl *ci, const char *name)
{
	size_t idx;

	if (find_key(name, &idx) == NULL || ci->where[idx] == NULL)
		return "default";
	return ci->where[idx];
}

/*
 * The file a setting came from, for messages (control characters escaped):
 * @include names are relative to the main file's directory.  Returns buf.
 */
static const char *
source_of(cfg_impl *ci, const config_setting_t *s, const char *src, char *buf, size_t len)
{
	const char *f = config_setting_source_file(s);
	char joined[PATH_MAX];

	if (f == NULL)
		f = src;
	if (f[0] != '/' && ci->incdir != NULL && strcmp(f, src) != 0) {
		snprintf(joined, sizeof(joined), "%s/%s", ci->incdir, f);
		f = joined;
	}
	return mbh_escape(f, buf, len);
}

static int
oom(mbh_error *err)
{
	return mbh_error_set(err, EX_OSERR, "out of memory");
}

/* Apply one libconfig setting (already matched to k). */
static int apply_group(cfg_impl *ci, config_setting_t *grp, const char *prefix, const char *src, mbh_error *err);

static int
apply_setting(cfg_impl *ci, const key_spec *k, size_t idx, config_setting_t *s, const char *file, int line,
              mbh_error *err)
{
	mbh_config *cfg = &ci->pub;
	char *field_base = (char *)cfg + k->off;
	char phrase[320], fbuf[PATH_MAX], quoted[128];
	const char *str;
	char **v = NULL;
	long long iv;
	int n, i, type = config_setting_type(s);
	config_setting_t *e;

	switch (k->type) {
	case KT_GROUP:
		if (type != CONFIG_TYPE_GROUP)
			goto bad;
		if (apply_group(ci, s, k->name, file, err) != 0)
			return -1;
		break;
	case KT_STRING:
	case KT_PATH:
	case KT_HOSTPORT:
		str = config_setting_get_string(s);
		if (type != CONFIG_TYPE_STRING || !string_ok(k, str))
			goto bad;
		if (set_string((char **)field_base, str) != 0)
			return oom(err);
		break;
	case KT_INT:
		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
			goto bad;
		iv = config_setting_get_int64(s);
		if (iv < k->min || iv > k->max)
			goto bad;
		*(int *)field_base = (int)iv;
		break;
	case KT_BOOL:
		if (type != CONFIG_TYPE_BOOL)
			goto bad;
		*(int *)field_base = config_setting_get_bool(s) ? 1 : 0;
		break;
	case KT_POLICY:
	case KT_LEVEL:
	case KT_CMODE:
		str = config_setting_get_string(s);
		if (type != CONFIG_TYPE_STRING || str == NULL)
			goto bad;
		n = k->type == KT_POLICY ? name_index(policy_names, 3, str)
		  : k->type == KT_CMODE ? name_index(cmode_names, 2, str) : name_index(level_names, 5, str);
		if (n < 0)
			goto bad;
		if (k->type == KT_POLICY)
			*(mbh_policy *)field_base = (mbh_policy)n;
		else
			*(int *)field_base = n;
		break;
	case KT_STRV:
		if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
			goto bad;
		n = config_setting_length(s);
		if (n < 1)
			goto bad;
		for (i = 0; i < n; i++) {
			e = config_setting_get_elem(s, (unsigned)i);
			if (config_setting_type(e) != CONFIG_TYPE_STRING || (i == 0 && config_setting_get_string(e)[0] == '\0'))
				goto bad;
		}
		for (i = 0; i < n; i++) {
			e = config_setting_get_elem(s, (unsigned)i);
			if (template_check(config_setting_get_string(e), phrase, sizeof(phrase)) != 0)
				return mbh_error_set(err, EX_CONFIG, "%s:%d: '%s' argument %d \"%s\" %s",
				                     source_of(ci, e, file, fbuf, sizeof(fbuf)),
				                     config_setting_source_line(e) > 0 ? (int)config_setting_source_line(e) : line,
				                     k->name, i + 1,
				                     mbh_escape(config_setting_get_string(e), quoted, sizeof(quoted)), phrase);
		}
		v = calloc((size_t)n + 1, sizeof(*v));
		if (v == NULL)
			return oom(err);
		for (i = 0; i < n; i++) {
			v[i] = strdup(config_setting_get_string(config_setting_get_elem(s, (unsigned)i)));
			if (v[i] == NULL) {
				mbh_strv_free(v);
				return oom(err);
			}
		}
		mbh_strv_free(*(char ***)field_base);
		*(char ***)field_base = v;
		break;
	case KT_TAGS:
		if (type != CONFIG_TYPE_GROUP)
			goto bad;
		n = config_setting_length(s);
		for (i = 0; i < n; i++) {
			e = config_setting_get_elem(s, (unsigned)i);
			str = config_setting_get_string(e);
			if (config_setting_type(e) != CONFIG_TYPE_STRING)
				return mbh_error_set(err, EX_CONFIG, "%s:%d: 'selection.tags.%s' must be a string",
				                     source_of(ci, e, file, fbuf, sizeof(fbuf)),
				                     config_setting_source_line(e), config_setting_name(e));
			if (tag_put(cfg, config_setting_name(e), strlen(config_setting_name(e)), str) != 0)
				return oom(err);
		}
		break;
	}
	if (set_where(ci, idx, file, line) != 0)
		return oom(err);
	return 0;
bad:
	type_phrase(k, type == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL, phrase, sizeof(phrase));
	return mbh_error_set(err, EX_CONFIG, "%s:%d: '%s' %s", file, line, k->name, phrase);
}

/* Walk one group of the file against the key table. */
static int
apply_group(cfg_impl *ci, config_setting_t *grp, const char *prefix, const char *src, mbh_error *err)
{
	char full[256], known[512], fbuf[PATH_MAX];
	config_setting_t *s;
	const key_spec *k;
	const char *file;
	size_t idx;
	int i, n, line;

	n = config_setting_length(grp);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(grp, (unsigned)i);
		file = source_of(ci, s, src, fbuf, sizeof(fbuf));
		line = config_setting_source_line(s);
		snprintf(full, sizeof(full), "%s%s%s", prefix, prefix[0] ? "." : "", config_setting_name(s));
		k = find_key(full, &idx);
		if (k == NULL) {
			known_keys(prefix, known, sizeof(known));
			return mbh_error_set(err, EX_CONFIG, "%s:%d: unknown key '%s' (known: %s)", file, line, full, known);
		}
		if (apply_setting(ci, k, idx, s, file, line, err) != 0)
			return -1;
	}
	return 0;
}

/* What a non-regular file is, for messages. */
static const char *
file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a regular file";
}

/*
 * Open the config file for reading, refusing anything but a regular file (a
 * symbolic link to one is fine): a FIFO would block forever, a device never
 * end.  O_NONBLOCK keeps the open itself from waiting for a FIFO's writer.
 * qpath is the path escaped for messages.  Caller closes *out.
 */
static int
open_config_file(FILE **out, const char *path, const char *qpath, mbh_error *err)
{
	struct stat st;
	int fd, flags;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return mbh_error_set(err, EX_CONFIG, "%s: cannot read the config file: %s", qpath, strerror(errno));
	if (fstat(fd, &st) != 0) {
		mbh_error_set(err, EX_CONFIG, "%s: cannot read the config file: %s", qpath, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		mbh_error_set(err, EX_CONFIG, "%s: the config file is %s, not a regular file: give the path of a "
		              "regular file", qpath, file_kind(st.st_mode));
		close(fd);
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	if ((*out = fdopen(fd, "r")) == NULL) {
		mbh_error_set(err, EX_CONFIG, "%s: cannot read the config file: %s", qpath, strerror(errno));
		close(fd);
		return -1;
	}
	return 0;
}

/*
 * A file that holds a secret must be ours or root's and unreadable by group
 * and others, whether it is a password_file or a config file whose uri
 * carries the password: one rule, one wording.  what names it ("password
 * file", "config file (its uri holds a password)"); qpath is escaped.
 */
static int
secret_file_ok(const struct stat *st, const char *qpath, const char *what, mbh_error *err)
{
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return mbh_error_set(err, EX_CONFIG, "%s: %s must be owned by uid %u or root (chown %u %s)", qpath, what,
				     (unsigned)geteuid(), (unsigned)geteuid(), qpath);
	if ((st->st_mode & 077) != 0)
		return mbh_error_set(err, EX_CONFIG, "%s: %s must not be readable by others (chmod 600 %s)", qpath, what,
				     qpath);
	return 0;
}

/*
 * The file that set a uri holding a password (the main file, or the one it
 * @includes) must keep it from other users, like a password_file.
 */
static int
check_uri_file(config_t *lc, const char *path, mbh_error *err)
{
	config_setting_t *s = config_lookup(lc, "uri");
	const char *f, *incdir = config_get_include_dir(lc), *v;
	char joined[PATH_MAX], q[PATH_MAX];
	struct stat st;

	if (s == NULL || (v = config_setting_get_string(s)) == NULL || !mbh_config_uri_has_password(v))
		return 0;
	if ((f = config_setting_source_file(s)) == NULL)
		f = path;
	if (f[0] != '/' && incdir != NULL && strcmp(f, path) != 0) {
		snprintf(joined, sizeof(joined), "%s/%s", incdir, f);
		f = joined;
	}
	mbh_escape(f, q, sizeof(q));
	if (stat(f, &st) != 0)
		return mbh_error_set(err, EX_CONFIG, "%s: cannot stat the config file: %s", q, strerror(errno));
	return secret_file_ok(&st, q, "config file (its uri holds a password)", err);
}

/*
 * Parse with libconfig and apply; path NULL means text.  The file is read
 * through our own descriptor, so what is parsed is what was checked.
 */
static int
load(mbh_config *cfg, const char *path, const char *text, const char *name, mbh_error *err)
{
	config_t lc;
	char *dir = NULL, *slash, qpath[PATH_MAX], qfile[PATH_MAX], qtext[256];
	FILE *fp = NULL;
	int rc = -1, ok;

	config_init(&lc);
	mbh_escape(path ? path : name, qpath, sizeof(qpath));
	if (path != NULL) {
		if (open_config_file(&fp, path, qpath, err) != 0)
			goto out;
		/* @include "x" is relative to the file's directory. */
		dir = strdup(path);
		if (dir == NULL) {
			oom(err);
			goto out;
		}
		slash = strrchr(dir, '/');
		if (slash != NULL) {
			slash[slash == dir ? 1 : 0] = '\0';
			config_set_include_dir(&lc, dir);
		}
		ok = config_read(&lc, fp);
	} else {
		ok = config_read_string(&lc, text);
	}
	if (ok != CONFIG_TRUE) {
		/* An @include that cannot be read is a file error naming the main file. */
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			mbh_error_set(err, EX_CONFIG, "%s: cannot read the config file", qpath);
		else
			mbh_error_set(err, EX_CONFIG, "%s:%d: %s",
			              config_error_file(&lc) ? mbh_escape(config_error_file(&lc), qfile, sizeof(qfile))
			                                     : qpath,
			              config_error_line(&lc), mbh_escape(config_error_text(&lc), qtext, sizeof(qtext)));
		goto out;
	}
	if (set_string(&cfg->source, path ? path : name) != 0) {
		oom(err);
		goto out;
	}
	/* Every string is copied while walking: libconfig frees its own in config_destroy. */
	impl(cfg)->incdir = config_get_include_dir(&lc);
	rc = apply_group(impl(cfg), config_root_setting(&lc), "", path ? path : name, err);
	impl(cfg)->incdir = NULL;
	if (rc == 0 && path != NULL)
		rc = check_uri_file(&lc, path, err);
out:
	config_destroy(&lc);
	if (fp != NULL)
		fclose(fp);
	free(dir);
	return rc;
}

/* Allocate an all-unset config. */
int
mbh_config_new(mbh_config **out, mbh_error *err)
{
	cfg_impl *ci;
	mbh_config *c;
	size_t i;

	*out = NULL;
	ci = calloc(1, sizeof(*ci));
	if (ci == NULL)
		return oom(err);
	c = &ci->pub;
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].type == KT_INT || keys[i].type == KT_BOOL || keys[i].type == KT_LEVEL ||
		    keys[i].type == KT_CMODE)
			*(int *)((char *)c + keys[i].off) = -1;
		else if (keys[i].type == KT_POLICY)
			*(mbh_policy *)((char *)c + keys[i].off) = (mbh_policy)-1;
	}
	*out = c;
	return 0;
}

/* Read a libconfig file. */
int
mbh_config_load_file(mbh_config *cfg, const char *path, mbh_error *err)
{
	if (path == NULL)
		return mbh_error_set(err, EX_SOFTWARE, "no config file name");
	return load(cfg, path, NULL, path, err);
}

/* Read libconfig text. */
int
mbh_config_load_string(mbh_config *cfg, const char *text, const char *name, mbh_error *err)
{
	return load(cfg, NULL, text ? text : "", name ? name : "<string>", err);
}

/* Parse a boolean the way a command line writes it. */
static int
parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* Command-line override of one key, named in messages as the option that set it. */
int
mbh_config_set_as(mbh_config *cfg, const char *key, const char *value, const char *option, mbh_error *err)
{
	cfg_impl *ci = impl(cfg);
	const key_spec *k;
	char *field_base, phrase[320], quoted[128], *end;
	const char *eq;
	size_t idx, pidx;
	long lv;
	int n;

	k = key ? find_key(key, &idx) : NULL;
	/* a mistyped option may hold a connection string with its password: never repeat one with '@' */
	if ((k == NULL || k->type == KT_GROUP) && key != NULL && strchr(key, '@') != NULL)
		return mbh_error_set(err, EX_USAGE, "an option that is no setting (not repeated: it holds an '@', "
				     "perhaps a password); see --help");
	if (k == NULL || k->type == KT_GROUP)
		return mbh_error_set(err, EX_USAGE, "--%s: no such setting",
				     mbh_escape(option != NULL ? option : key, quoted, sizeof(quoted)));
	if (option == NULL)
		option = k->name;
	if (value == NULL)
		goto bad;
	field_base = (char *)cfg + k->off;
	switch (k->type) {
	case KT_GROUP:
		goto bad;
	case KT_STRING:
	case KT_PATH:
	case KT_HOSTPORT:
		if (!string_ok(k, value))
			goto bad;
		if (set_string((char **)field_base, value) != 0)
			return oom(err);
		/* --member implies policy member. */
		if (k->type == KT_HOSTPORT) {
			cfg->selection.policy = MBH_POLICY_MEMBER;
			if (find_key("selection.policy", &pidx) == NULL || set_where(ci, pidx, NULL, 0) != 0)
				return oom(err);
		}
		break;
	case KT_INT:
		errno = 0;
		lv = strtol(value, &end, 10);
		if (value[0] == '\0' || *end != '\0' || errno != 0 || lv < k->min || lv > k->max)
			goto bad;
		*(int *)field_base = (int)lv;
		break;
	case KT_BOOL:
		if (parse_bool(value, (int *)field_base) != 0)
			goto bad;
		break;
	case KT_POLICY:
	case KT_LEVEL:
	case KT_CMODE:
		n = k->type == KT_POLICY ? name_index(policy_names, 3, value)
		  : k->type == KT_CMODE ? name_index(cmode_names, 2, value) : name_index(level_names, 5, value);
		if (n < 0)
			goto bad;
		if (k->type == KT_POLICY)
			*(mbh_policy *)field_base = (mbh_policy)n;
		else
			*(int *)field_base = n;
		break;
	case KT_STRV:
		return mbh_error_set(err, EX_USAGE, "--%s: set it in the config file", option);
	case KT_TAGS:
		eq = strchr(value, '=');
		if (eq == NULL || eq == value)
			return mbh_error_set(err, EX_USAGE, "--%s: expected KEY=VALUE, got '%s'", option,
			                     mbh_escape(value, quoted, sizeof(quoted)));
		if (tag_put(cfg, value, (size_t)(eq - value), eq + 1) != 0)
			return oom(err);
		break;
	}
	if (set_where(ci, idx, NULL, 0) != 0)
		return oom(err);
	return 0;
bad:
	type_phrase(k, value, phrase, sizeof(phrase));
	return mbh_error_set(err, EX_USAGE, "--%s: %s", option, phrase);
}

/* Command-line override of one key, named in messages as the key. */
int
mbh_config_set(mbh_config *cfg, const char *key, const char *value, mbh_error *err)
{
	return mbh_config_set_as(cfg, key, value, NULL, err);
}

/* A policy by name; see config.h. */
int
mbh_policy_from_name(const char *name)
{
	return name_index(policy_names, sizeof(policy_names) / sizeof(policy_names[0]), name);
}

/*
 * Read the first line of a password file after checking it cannot have been
 * swapped or read by someone else: no symlink, a regular file, ours or
 * root's, no group/other bits.
 */
static int
read_password_file(const char *path, char **out, mbh_error *err)
{
	char buf[PASSWORD_MAX + 1], q[PATH_MAX];
	const char *qpath = mbh_escape(path, q, sizeof(q));
	size_t used = 0, linelen;
	struct stat st;
	ssize_t r;
	int fd, rc = -1;
	char *nl;

	*out = NULL;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP)
			return mbh_error_set(err, EX_CONFIG, "%s: password file must not be a symbolic link", qpath);
		return mbh_error_set(err, EX_CONFIG, "%s: cannot open the password file: %s", qpath, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		mbh_error_set(err, EX_CONFIG, "%s: cannot stat the password file: %s", qpath, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		mbh_error_set(err, EX_CONFIG, "%s: the password file is %s, not a regular file: give the path of a "
		              "regular file (mode 0600)", qpath, file_kind(st.st_mode));
		goto out;
	}
	if (secret_file_ok(&st, qpath, "password file", err) != 0)
		goto out;
	while (used < sizeof(buf) - 1) {
		r = read(fd, buf + used, sizeof(buf) - 1 - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			mbh_error_set(err, EX_CONFIG, "%s: cannot read the password file: %s", qpath, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		used += (size_t)r;
		if (memchr(buf, '\n', used) != NULL)
			break;
	}
	buf[used] = '\0';
	nl = memchr(buf, '\n', used);
	if (nl == NULL && used == sizeof(buf) - 1) {
		mbh_error_set(err, EX_CONFIG, "%s: the password (first line) is longer than %d bytes", qpath, PASSWORD_MAX);
		goto out;
	}
	linelen = nl ? (size_t)(nl - buf) : used;
	if (linelen > 0 && buf[linelen - 1] == '\r')
		linelen--;
	if (memchr(buf, '\0', linelen) != NULL) {
		mbh_error_set(err, EX_CONFIG, "%s: the password contains a NUL byte", qpath);
		goto out;
	}
	if (linelen == 0) {
		mbh_error_set(err, EX_CONFIG, "%s: password file is empty (its first line is the password)", qpath);
		goto out;
	}
	*out = strndup(buf, linelen);
	if (*out == NULL) {
		oom(err);
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

/* Keep a copy of a secret in cfg->secrets (for the loggers of whoever uses cfg). */
static void
add_secret(mbh_config *cfg, const char *secret)
{
	char **nv, *copy;
	size_t n = 0;

	if (secret == NULL || secret[0] == '\0')
		return;
	for (; cfg->secrets != NULL && cfg->secrets[n] != NULL; n++)
		if (strcmp(cfg->secrets[n], secret) == 0)
			return;
	if ((copy = strdup(secret)) == NULL)
		return;
	if ((nv = realloc(cfg->secrets, (n + 2) * sizeof(*nv))) == NULL) {
		explicit_bzero(copy, strlen(copy));
		free(copy);
		return;
	}
	nv[n] = copy;
	nv[n + 1] = NULL;
	cfg->secrets = nv;
}

/* Keep the URI's own password (decoded and as written) as secrets. */
static int
register_uri_password(mbh_config *cfg, const char *uri)
{
	mbh_uri_userinfo ui;
	char *raw, *dec;

	mbh_uri_find_userinfo(uri, strlen(uri), &ui);
	if (!ui.has_password || ui.pw_len == 0)
		return 0;
	raw = strndup(uri + ui.pw_off, ui.pw_len);
	dec = mbh_uri_unescape(uri + ui.pw_off, ui.pw_len);
	add_secret(cfg, raw);
	add_secret(cfg, dec);
	if (raw != NULL)
		explicit_bzero(raw, strlen(raw));
	if (dec != NULL)
		explicit_bzero(dec, strlen(dec));
	free(raw);
	free(dec);
	return 0;
}

/* One command template's escapes; %S only where snapshot allows it (0 never, 1 in snapshot mode, 2 always). */
static int
check_template(cfg_impl *ci, const char *key, char *const *templ, int snapshot, mbh_error *err)
{
	bool uses = false;
	mbh_error e;

	if (templ == NULL)
		return 0;
	mbh_error_init(&e);
	if (mbh_run_check((const char *const *)templ, &uses, &e) != 0)
		return mbh_error_set(err, EX_CONFIG, "%s: '%s': %s", where_of(ci, key), key, e.msg);
	if (!uses || snapshot == 2 || (snapshot == 1 && ci->pub.snapshot.create != NULL))
		return 0;
	if (snapshot == 1)
		return mbh_error_set(err, EX_CONFIG, "%s: '%s' uses %%S, the snapshot's path, but there is no snapshot "
				     "group: add snapshot = { create = [ ... ]; remove = [ ... ]; } or drop the %%S",
				     where_of(ci, key), key);
	if (strcmp(key, "snapshot.create") == 0)
		return mbh_error_set(err, EX_CONFIG, "%s: 'snapshot.create' cannot use %%S: the snapshot's path is what "
				     "it prints", where_of(ci, key));
	return mbh_error_set(err, EX_CONFIG, "%s: '%s' cannot use %%S: no snapshot is involved", where_of(ci, key),
			     key);
}

/* Snapshot mode: create and remove both or neither, a timeout inside the lock's, every escape known. */
static int
check_commands(cfg_impl *ci, mbh_error *err)
{
	mbh_config *cfg = &ci->pub;
	size_t idx;

	if (find_key("snapshot", &idx) != NULL && ci->where[idx] != NULL &&
	    (cfg->snapshot.create == NULL || cfg->snapshot.remove == NULL))
		return mbh_error_set(err, EX_CONFIG, "%s: the snapshot group needs both create = [ ... ] (prints the "
				     "snapshot's path) and remove = [ ... ] (removes %%S)",
				     where_of(ci, "snapshot"));
	if (cfg->snapshot.create != NULL && cfg->snapshot.timeout >= cfg->lock.max_seconds)
		return mbh_error_set(err, EX_CONFIG, "%s: 'snapshot.timeout' (%d s) must be shorter than lock.max_seconds "
				     "(%d s): the member stays locked while snapshot.create runs",
				     where_of(ci, "snapshot.timeout"), cfg->snapshot.timeout, cfg->lock.max_seconds);
	if (check_template(ci, "script.backup", cfg->script.backup, 1, err) != 0 ||
	    check_template(ci, "script.restore", cfg->script.restore, 0, err) != 0 ||
	    check_template(ci, "snapshot.create", cfg->snapshot.create, 0, err) != 0 ||
	    check_template(ci, "snapshot.remove", cfg->snapshot.remove, 2, err) != 0)
		return -1;
	/* it names a file in state_dir, as a set's name does */
	if (cfg->cluster.name != NULL && !mbh_state_set_name_ok(cfg->cluster.name))
		return mbh_error_set(err, EX_CONFIG, "%s: 'cluster.name' must be 1 to 127 letters, digits, '.', '_' or '-' "
				     "(it names the cluster's record in state_dir)", where_of(ci, "cluster.name"));
	return 0;
}

/* Complete and validate. */
int
mbh_config_finish(mbh_config *cfg, mbh_error *err)
{
	cfg_impl *ci = impl(cfg);
	mongoc_uri_t *uri = NULL;
	mbh_uri_userinfo ui;
	mbh_uri_settings us;
	const char *env, *keypw;
	size_t i;
	int rc = -1;

	/* Connection string: the file or --uri, else the environment. */
	if (cfg->uri == NULL) {
		env = getenv("MONGO_BACKUP_URI");
		if (env != NULL && env[0] != '\0' && set_string(&cfg->uri, env) != 0) {
			oom(err);
			goto out;
		}
	}
	if (cfg->uri == NULL) {
		mbh_error_set(err, EX_CONFIG, "no connection string: set uri in the config file or MONGO_BACKUP_URI");
		goto out;
	}
	register_uri_password(cfg, cfg->uri);

	if (cfg->selection.policy == (mbh_policy)-1)
		cfg->selection.policy = cfg->selection.member ? MBH_POLICY_MEMBER : MBH_POLICY_AUTO;
	/* the table's defaults; connect_timeout_ms waits for the URI, which may set it */
	for (i = 0; i < NKEYS; i++) {
		int *v = (int *)((char *)cfg + keys[i].off);

		if ((keys[i].type == KT_INT || keys[i].type == KT_BOOL || keys[i].type == KT_LEVEL ||
		    keys[i].type == KT_CMODE) && *v < 0 &&
		    keys[i].off != OFF(connect_timeout_ms))
			*v = (int)keys[i].def;
	}
	if (cfg->state_dir == NULL && set_string(&cfg->state_dir, DEFAULT_STATE_DIR) != 0) {
		oom(err);
		goto out;
	}

	if (cfg->selection.policy == MBH_POLICY_MEMBER && cfg->selection.member == NULL) {
		mbh_error_set(err, EX_CONFIG, "%s: selection.policy is \"member\" but selection.member is not set",
		              where_of(ci, "selection.policy"));
		goto out;
	}
	if (cfg->selection.policy != MBH_POLICY_MEMBER && cfg->selection.member != NULL) {
		mbh_error_set(err, EX_CONFIG, "%s: selection.member is set but selection.policy is \"%s\" (use \"member\")",
		              where_of(ci, "selection.member"), policy_names[cfg->selection.policy]);
		goto out;
	}
	if (check_commands(ci, err) != 0)
		goto out;

	if (cfg->password_file != NULL) {
		if (cfg->password != NULL) {
			explicit_bzero(cfg->password, strlen(cfg->password));
			free(cfg->password);
			cfg->password = NULL;
		}
		if (read_password_file(cfg->password_file, &cfg->password, err) != 0)
			goto out;
		add_secret(cfg, cfg->password);
		mbh_uri_find_userinfo(cfg->uri, strlen(cfg->uri), &ui);
		if (cfg->username == NULL && (!ui.present || ui.user_len == 0)) {
			mbh_error_set(err, EX_CONFIG, "%s: password_file is set but there is no user name: set username "
			              "or put the user in the URI", where_of(ci, "password_file"));
			goto out;
		}
	}

	/* Validate the connection string now, so --check-config catches it. */
	mbh_config_uri_settings(cfg, &us);
	if (mbh_uri_build(&uri, &us, err) != 0)
		goto out;
	keypw = mongoc_uri_get_option_as_utf8(uri, MONGOC_URI_TLSCERTIFICATEKEYFILEPASSWORD, NULL);
	add_secret(cfg, keypw);
	if (cfg->connect_timeout_ms < 0)
		cfg->connect_timeout_ms = mongoc_uri_get_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS,
									  (int32_t)find_key("connect_timeout_ms", &i)->def);
	rc = 0;
out:
	mongoc_uri_destroy(uri);
	return rc;
}

/* 1 if the URI's userinfo has a password. */
int
mbh_config_uri_has_password(const char *uri)
{
	mbh_uri_userinfo ui;

	if (uri == NULL)
		return 0;
	mbh_uri_find_userinfo(uri, strlen(uri), &ui);
	return ui.has_password ? 1 : 0;
}

/* The connection's settings; see config.h. */
void
mbh_config_uri_settings(const mbh_config *cfg, mbh_uri_settings *out)
{
	out->uri = cfg->uri;
	out->username = cfg->username;
	out->password = cfg->password;
	out->password_file = cfg->password_file;
	out->connect_timeout_ms = cfg->connect_timeout_ms;
}

/* Free everything, wiping the password. */
void
mbh_config_free(mbh_config *cfg)
{
	cfg_impl *ci;
	size_t i;

	if (cfg == NULL)
		return;
	ci = impl(cfg);
	free(cfg->source);
	if (cfg->uri != NULL) {
		explicit_bzero(cfg->uri, strlen(cfg->uri));
		free(cfg->uri);
	}
	free(cfg->username);
	free(cfg->password_file);
	if (cfg->password != NULL) {
		explicit_bzero(cfg->password, strlen(cfg->password));
		free(cfg->password);
	}
	for (i = 0; cfg->secrets != NULL && cfg->secrets[i] != NULL; i++)
		explicit_bzero(cfg->secrets[i], strlen(cfg->secrets[i]));
	mbh_strv_free(cfg->secrets);
	free(cfg->selection.member);
	for (i = 0; i < cfg->selection.ntags; i++) {
		free(cfg->selection.tags[i].key);
		free(cfg->selection.tags[i].value);
	}
	free(cfg->selection.tags);
	free(cfg->state_dir);
	free(cfg->metrics.textfile);
	free(cfg->cluster.name);
	mbh_strv_free(cfg->script.backup);
	mbh_strv_free(cfg->script.restore);
	mbh_strv_free(cfg->snapshot.create);
	mbh_strv_free(cfg->snapshot.remove);
	for (i = 0; i < NKEYS; i++)
		free(ci->where[i]);
	free(ci);
}
