/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* jobint.h: the job's insides, shared by the job*.c files (not part of the library's contract). */
#ifndef MBH_JOBINT_H
#define MBH_JOBINT_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include <mongoc/mongoc.h>

#include "job.h"
#include "lock.h"
#include "metrics.h"
#include "run.h"
#include "select.h"
#include "state.h"
#include "topology.h"

struct mbh_job {
	const mbh_config *cfg;
	mbh_logger *log;
	char *job_name;          /* "" when none */
	char *mode;
	char *set_override;      /* NULL when none */
	char *watchdog_path;     /* NULL: no watchdog */
	int cancel_fd;           /* the caller's; -1 */
	int cancel_pipe[2];      /* mbh_job_cancel writes [1]; waits poll [0] */
	volatile sig_atomic_t cancelled;
	volatile sig_atomic_t child_pgid; /* the running command's group, for mbh_job_cancel; 0 = none */
	pthread_mutex_t mu;      /* the lock flow, the unlock and the reaping of the command run under it */
	mongoc_uri_t *uri;       /* built once, holds the credentials */
	mongoc_client_t *client; /* discovery */
	mbh_state *state;        /* flock held while not NULL */
	mbh_lock_session *session;
	mbh_state_rec rec;       /* what is recorded */
	bool held;               /* rec describes a lock we hold */
	bool snap;               /* snapshot mode: rec describes a snapshot we made (phase SNAPSHOT), the member is unlocked */
	mbh_child *child;        /* the command under the lock, until the owner thread reaps it (child_pgid 0: an unlock stopped it) */
	long stray_watchdog;     /* a watchdog we stopped that was slow to exit: reaped later, never left a zombie */
	char set[128];
	mbh_metrics metrics;     /* the textfile this job keeps current (metrics.textfile) */
	double t_begin;          /* unix seconds when the last lock flow began, for the run's duration */
};

/* Build the URI once (it validates and applies the credentials). */
int mbh_job_uri(mbh_job *j, mbh_error *err);

/* Connect for discovery and read the member table.  Caller owns *out. */
int mbh_job_discover(mbh_job *j, mbh_topology **out, mbh_error *err);

/*
 * Choose the member with the options of the config (asking members whose
 * fsync lock matters, recorded in t); all: settle every verdict (--dry-run).
 * *out is filled even on failure.
 */
int mbh_job_choose(mbh_job *j, mbh_topology *t, bool all, mbh_selection **out, mbh_error *err);

/* Open j->session to host_port: over the discovery client when it already talks to it, else directly. */
int mbh_job_open_session(mbh_job *j, const char *host_port, mbh_error *err);

/* Which set post/status act on: --set, the URI's replicaSet=, else the only record in the state directory. */
int mbh_job_resolve_set(mbh_job *j, bool *found, mbh_error *err);

/* The --dry-run table for t and sel.  Caller frees *text. */
int mbh_job_render_choice(char **text, const mbh_topology *t, const mbh_selection *sel, mbh_error *err);

/* The --status text of rec (present or not).  *stale = its watchdog is gone or its deadline passed.  Caller frees. */
int mbh_job_render_status(char **text, const char *set, const char *state_dir, const mbh_state_rec *rec,
			  bool present, bool *stale, mbh_error *err);

/* The same facts as one JSON object (--status --json; fields in mongo-postbackup(1)).  Caller frees. */
int mbh_job_render_status_json(char **text, const char *set, const char *state_dir, const mbh_state_rec *rec,
			       bool present, bool *stale, mbh_error *err);

/*
 * Snapshot mode (job_snapshot.c).  Under the lock just taken and re-checked
 * (caller holds j->mu, j->held, the flock, and the intent is on disk): run
 * snapshot.create, record its path (LOCKED, durable before the unlock), unlock
 * at once (mbh_release: the record becomes SNAPSHOT), and leave j->snap set
 * with the flock still held.  On failure the member is unlocked again and what
 * create made (if it printed a path) removed; j->held stays set only when the
 * unlock itself failed.
 */
int mbh_job_snapshot_take(mbh_job *j, mbh_error *err);

/*
 * Remove the snapshot rec names: kill the command recorded as reading it,
 * run snapshot.remove (bounded by snapshot.timeout, not cancellable), then
 * remove the record (the caller holds the flock, j->state).  On failure the
 * snapshot and its record stay (EX_TEMPFAIL, or the spawn's code).
 */
int mbh_job_snapshot_remove(mbh_job *j, const mbh_state_rec *rec, mbh_error *err);

/* --dry-run: whether snapshot mode is on and the commands it would run for member host_port.  Caller frees. */
int mbh_job_render_snapshot(char **text, const mbh_job *j, const char *host_port, const char *set, mbh_error *err);

/*
 * The escapes' values (%h %p %s %j %S) and the environment of a command the
 * job starts (the backup command, snapshot.create/remove), from a record:
 * MONGO_BACKUP_HOST, _PORT, _SET, _JOB and, once there is one, _SNAPSHOT.
 * Nothing secret.
 */
typedef struct mbh_cmd_env {
	char hostname[262], portnum[16];
	char host[300], port[40], set[160], job[160], snapshot[MBH_SNAPSHOT_MAX + 32];
	const char *env[6];
	mbh_run_vars vars;
} mbh_cmd_env;

/* Metrics: the set to file them under (the record's, --set, the URI's replicaSet=), or NULL. */
const char *mbh_job_metrics_set(mbh_job *j);

/* Metrics: a run ended (see mbh_job_outcome) that began at since (unix seconds). */
void mbh_job_outcome_since(mbh_job *j, bool ok, mbh_metrics_reason reason, double since, int64_t bytes);

void mbh_cmd_env_fill(mbh_cmd_env *x, const mbh_state_rec *rec);

#endif
