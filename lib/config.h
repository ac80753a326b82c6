/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* config.h: libconfig file + command line + environment -> one options struct. */
#ifndef MBH_CONFIG_H
#define MBH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "log.h"

typedef enum mbh_policy {
	MBH_POLICY_AUTO = 0,   /* best secondary by the design's order */
	MBH_POLICY_LOCAL,      /* the member on this host */
	MBH_POLICY_MEMBER      /* exactly selection.member (still checked) */
} mbh_policy;

/* The policies' names, as messages list them. */
#define MBH_POLICY_NAMES "auto, local, member"

/* Pure: the policy named name ("auto", "local" or "member"), or -1. */
int mbh_policy_from_name(const char *name);

/* cluster.mode: how a sharded cluster (a mongos URI) is backed up (cluster.h). */
typedef enum mbh_cluster_mode {
	MBH_CLUSTER_ONLINE = 0, /* balancer stopped, one secondary per component locked in parallel */
	MBH_CLUSTER_EXACT       /* fsync lock through mongos + snapshot mode on every primary */
} mbh_cluster_mode;

/* The modes' names, as messages list them. */
#define MBH_CLUSTER_MODE_NAMES "online, exact"

typedef struct mbh_tag {
	char *key;
	char *value;
} mbh_tag;

/*
 * Every option of the product.  Fields start "unset" (NULL / -1) after
 * mbh_config_new; mbh_config_finish fills the defaults.  Booleans are ints
 * so that -1 can mean unset.  All strings are owned by the struct.
 */
typedef struct mbh_config {
	char *source;            /* config file path or "<string>", for messages */
	char *uri;               /* connection string; may hold a password: never log it */
	char *username;
	char *password_file;
	char *password;          /* read from password_file by finish(); wiped on free */
	int connect_timeout_ms;  /* default 5000 */
	struct {
		mbh_policy policy;   /* default auto; -1 unset */
		char *member;        /* "host:port" when policy is member */
		int max_lag_seconds; /* default 30 */
		int allow_delayed;   /* default 0 */
		mbh_tag *tags;
		size_t ntags;
	} selection;
	struct {
		int max_seconds;          /* default 7200; watchdog deadline */
		int refuse_if_locked;     /* default 1 */
		int allow_majority_stall; /* default 0 */
	} lock;
	char *state_dir;         /* default /var/lib/mongo-backup */
	struct {
		char **backup;       /* NULL-terminated argv template, or NULL */
		char **restore;
		int timeout;         /* seconds, default 7200; 0 = none */
		int idle_timeout;    /* plugin: seconds the stream may make no progress while locked, default 600; 0 = none */
		int allow_empty;     /* plugin: an empty stream (0 bytes, status 0) is a good backup; default 0 */
	} script;
	struct {
		char **create;       /* argv template printing the snapshot's path; NULL = snapshot mode off */
		char **remove;       /* argv template removing it (%S); set whenever create is */
		int timeout;         /* seconds create (and remove) may take, default 60; below lock.max_seconds */
	} snapshot;
	struct {
		int syslog;          /* default 0 */
		int level;           /* an mbh_log_level, default info */
	} log;
	struct {
		char *textfile;      /* Prometheus textfile ("%s" = the set); NULL = metrics off (the default) */
		int fsync;           /* default 1: the file is on disk before the lock is taken */
	} metrics;
	struct {
		int mode;            /* an mbh_cluster_mode, default online */
		char *name;          /* names the cluster's record; NULL = the CSRS's set name */
		const char *balancer_uri; /* not a key, NULL in every loaded config: cluster.c sets it
					   * (borrowed) on its components' configs when it stopped the
					   * balancer, so their watchdogs start it again at the deadline */
	} cluster;
	char **secrets;          /* NULL-terminated: every password and key passphrase met, for loggers; wiped on free */
} mbh_config;

/*
 * Allocate an all-unset config.  Returns 0, or -1 (EX_OSERR) on no memory.
 * load/set/finish/free need a config from here (it carries hidden
 * bookkeeping: where each key was set); mbh_uri_build accepts any struct.
 */
int mbh_config_new(mbh_config **out, mbh_error *err);

/*
 * Read a libconfig file into cfg; only keys set in the file are touched.
 * Unknown keys, wrong types and out-of-range values fail with EX_CONFIG and
 * "FILE:LINE: ..." ; a missing/unreadable file fails with EX_CONFIG (EX_NOINPUT
 * is not used) naming the path.
 */
int mbh_config_load_file(mbh_config *cfg, const char *path, mbh_error *err);

/* Same, from memory; name is used in messages in place of the file name. */
int mbh_config_load_string(mbh_config *cfg, const char *text, const char *name, mbh_error *err);

/*
 * Command-line override of one key, named as in the file with dots for groups
 * ("uri", "selection.max_lag_seconds", "lock.max_seconds", "state_dir", ...).
 * Bad values fail with EX_USAGE: "--KEY: ...".
 */
int mbh_config_set(mbh_config *cfg, const char *key, const char *value, mbh_error *err);

/* mbh_config_set naming option, the one the user typed ("member" for selection.member): "--OPTION: ...". */
int mbh_config_set_as(mbh_config *cfg, const char *key, const char *value, const char *option, mbh_error *err);

/*
 * Complete the config: the URI falls back to $MONGO_BACKUP_URI, defaults are
 * filled, the password file is checked (regular file, mode 0600 or stricter,
 * else EX_CONFIG) and read, and the whole is validated.  After success the
 * password (wherever it came from, file or URI) is in cfg->secrets, for
 * every logger that may see text about this config.
 */
int mbh_config_finish(mbh_config *cfg, mbh_error *err);

/* What mbh_uri_build needs of cfg (a finished one: the password read), borrowed from cfg. */
struct mbh_uri_settings;
void mbh_config_uri_settings(const mbh_config *cfg, struct mbh_uri_settings *out);

/* Free cfg and everything it owns; the password is wiped.  NULL is fine. */
void mbh_config_free(mbh_config *cfg);

/*
 * Pure, no parsing by the driver: 1 if the userinfo of uri (mongodb:// or
 * mongodb+srv://) carries a password ("user:pw@"; an empty password after
 * ':' counts too), else 0.  Works on invalid strings.  The programs use it
 * to refuse a password on the command line.
 */
int mbh_config_uri_has_password(const char *uri);

#endif
