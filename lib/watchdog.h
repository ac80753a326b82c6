/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* watchdog.h: start the watchdog program for one lock and hand it what it needs to unlock. */
#ifndef MBH_WATCHDOG_H
#define MBH_WATCHDOG_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "state.h"

/*
 * The watchdog is its own program (libexec/mongo-backup-watchdog), never a
 * fork of the library: a library hosted in bacula-fd must not fork a copy of
 * the daemon that lives for hours.  It is started before the intent record
 * is written, in its own session, with nothing inherited but a pipe on its
 * stdin.  Over that pipe (never argv or environment) it gets the connection
 * settings with the credentials, the state directory, the set and the lock's
 * token, then, once the intent is on disk, what it guards (the member, the
 * deadline, the command under the lock) and "go".  A pipe closed without
 * "go" means there is nothing to guard: it exits at once.
 *
 * From "go" on it re-reads the record (never taking the run's flock) for
 * what it learns (the lockCount, the command), and exits when the record
 * holds another token or says SNAPSHOT (the member is unlocked): see
 * wdguard.h.  That waiting program needs nothing but libc (the driver and
 * its libraries cost a process ~5 ms of CPU to load), so a lock released in
 * time never loads them.  At the deadline it was handed, whatever became of
 * the record (removed, made unreadable, edited by hand), it becomes its
 * releaser (mongo-backup-watchdog-release beside it: an exec, the same pid),
 * handing it the settings, what it learned and "fire"; that one kills the
 * command's process group and releases the member it was handed
 * (mbh_release), retrying with backoff until the member answers, logging
 * each failure to syslog and DIR/SET.events.  SIGTERM (sent by whoever
 * released the lock) makes either exit; MBH_WD_RELEASE_NOW makes it release
 * at once, as at the deadline (sent by mongo-postbackup when the record
 * cannot be shown to be ours: the watchdog knows the lock first-hand).
 */
#define MBH_WD_RELEASE_NOW SIGUSR1
typedef struct mbh_watchdog mbh_watchdog;

/* Stream field names (NUL-terminated "name=value" items). */
#define MBH_WD_URI "uri"
#define MBH_WD_USERNAME "username"
#define MBH_WD_PASSWORD "password"
#define MBH_WD_CONNECT_TIMEOUT "connect_timeout_ms"
#define MBH_WD_STATE_DIR "state_dir"
#define MBH_WD_SET "set"
#define MBH_WD_TOKEN "token"
#define MBH_WD_MEMBER "member"
#define MBH_WD_DEADLINE_MS "deadline_ms" /* unix ms */
#define MBH_WD_DEADLINE "deadline"       /* unix seconds: sent by runs of earlier versions only */
#define MBH_WD_COMMAND_PID "command_pid"
#define MBH_WD_COMMAND_START "command_start"
#define MBH_WD_GO "go"
#define MBH_WD_BALANCER_URI "balancer_uri"   /* a cluster's mongos: balancerStart after a release at the deadline */
#define MBH_WD_METRICS "metrics_textfile"     /* metrics.textfile; absent = off */
#define MBH_WD_METRICS_FSYNC "metrics_fsync"  /* "1" or "0" */
#define MBH_WD_RELEASER "releaser"            /* the release program's path (mbh_watchdog_releaser_path) */
/* From the watchdog to its releaser only: */
#define MBH_WD_RECORD "record"                /* what it learned: a record's text (mbh_state_format) */
#define MBH_WD_FIRE "fire"                    /* "1": release now (the deadline, or MBH_WD_RELEASE_NOW) */

/*
 * Start path, waiting for its settings on the pipe: started before the set
 * is discovered, it costs the run nothing on the way to the lock (it waits
 * with libc alone; a run that fails before the lock closes the pipe and it
 * exits).  Its releaser must be beside it (mbh_watchdog_releaser_path), or
 * nothing starts.  Caller owns *out.
 */
int mbh_watchdog_spawn(mbh_watchdog **out, const char *path, mbh_error *err);

/* Send it the settings (everything but "go"); once, before mbh_watchdog_go. */
int mbh_watchdog_send(mbh_watchdog *w, const mbh_config *cfg, const char *set, const char *token, mbh_error *err);

/*
 * The gate program a command started before the lock waits in (run.h):
 * override when set (MONGO_BACKUP_GATE), else mongo-backup-gate in the
 * watchdog's directory ("" when the path has none).  Returns buf.
 */
const char *mbh_watchdog_gate_path(const char *watchdog_path, const char *override, char *buf, size_t len);

/* The release program for watchdog_path: mongo-backup-watchdog-release in its directory ("" when it has none).  Returns buf. */
const char *mbh_watchdog_releaser_path(const char *watchdog_path, char *buf, size_t len);

/* The watchdog's pid and /proc starttime, for the record. */
long mbh_watchdog_pid(const mbh_watchdog *w);
uint64_t mbh_watchdog_starttime(const mbh_watchdog *w);

/*
 * The intent rec is durable: send what it guards (rec's member, deadline to
 * the ms (mbh_state_deadline_ms), command), "go", and close the pipe.
 */
int mbh_watchdog_go(mbh_watchdog *w, const mbh_state_rec *rec, mbh_error *err);

/* Close the pipe (without "go" the watchdog exits) and free; the process itself lives on.  NULL is fine. */
void mbh_watchdog_free(mbh_watchdog *w);

/*
 * Reap pid if it is our child and has exited within timeout_ms (a stopped
 * watchdog of a long-lived host).  Returns false when it is our child and
 * still running, so the caller can try again later rather than leave a zombie.
 */
bool mbh_watchdog_reap(long pid, int timeout_ms);

/* Fill buf with a fresh random token (MBH_TOKEN_LEN hex digits + NUL).  Returns 0 or -1. */
int mbh_token_new(char *buf, size_t len);

/*
 * What the watchdog program is handed (the items above); the strings point
 * into the buffer mbh_watchdog_settings_parse parsed.
 */
typedef struct mbh_watchdog_settings {
	const char *uri, *username, *password, *state_dir, *set, *token;
	int connect_timeout_ms; /* 0 when not given: the URI's, else the default */
	const char *member;     /* NULL when not given (a run of an earlier version) */
	int64_t deadline_ms;    /* unix ms (deadline_ms, or deadline's seconds); 0 when not given */
	long command_pid;       /* 0: none */
	uint64_t command_start;
	const char *metrics;    /* metrics.textfile; NULL = off */
	const char *balancer_uri; /* a cluster's component: start its balancer after releasing at the deadline; NULL = not one */
	bool metrics_fsync;
	bool go;
	const char *releaser;   /* NULL when not given */
	const char *record;     /* NULL when not given */
	bool fire;
} mbh_watchdog_settings;

/*
 * Pure: parse the NUL-terminated "name=value" items in buf[0..len) in place
 * (every '=' becomes a NUL) into *out, as strictly as a config file: an
 * unknown or repeated name, an item without '=', a value out of range
 * (connect_timeout_ms 1 to MBH_URI_CONNECT_TIMEOUT_MAX_MS, a token of
 * MBH_TOKEN_LEN hex digits, absolute paths for state_dir and
 * metrics_textfile, a set name mbh_state_set_name_ok refuses, a member that is no HOST:PORT,
 * numbers that are no unsigned decimal, a deadline past 2^63 ms, a pid above
 * 2^22, metrics_fsync or go or fire other than the sender's "0"/"1" and "1",
 * a releaser that is no absolute path, an empty record), both deadline and
 * deadline_ms, or no uri, state_dir, set or token fail with EX_DATAERR naming
 * the item, never its value (it may be a password).
 */
int mbh_watchdog_settings_parse(mbh_watchdog_settings *out, char *buf, size_t len, mbh_error *err);

#endif
