/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* jobint.h: the job's insides, shared by the job*.c files (not part of the library's contract). */
#ifndef MBH_JOBINT_H
#define MBH_JOBINT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <mongoc/mongoc.h>

#include "cmdenv.h"
#include "job.h"
#include "lock.h"
#include "metrics.h"
#include "proc.h"
#include "run.h"
#include "select.h"
#include "state.h"
#include "strv.h"
#include "timefmt.h"
#include "topology.h"

/* mbh_job_cancel stores from a signal handler: only a lock-free atomic may be stored there */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_int must be lock-free");

struct mbh_job {
	const mbh_config *cfg;
	mbh_logger *log;
	char *job_name;          /* "" when none */
	char *mode;
	char *set_override;      /* NULL when none */
	char *watchdog_path;     /* NULL: no watchdog */
	char *gate_path;         /* NULL: a gated command waits in a fork of this process */
	int cancel_fd;           /* the caller's; -1 */
	int (*before_lock)(void *ctx); /* mbh_job_params */
	void *before_lock_ctx;
	void (*after_idle)(void *ctx); /* mbh_job_params */
	void *after_idle_ctx;
	int cancel_pipe[2];      /* mbh_job_cancel writes [1]; waits poll [0] */
	atomic_int cancelled;    /* atomics, not volatile sig_atomic_t: set by a signal handler or by another thread */
	atomic_int child_pgid;   /* the running command's group, for mbh_job_cancel; 0 = none */
	pthread_mutex_t mu;      /* the lock flow, the unlock and the reaping of the command run under it */
	mongoc_uri_t *uri;       /* built once, holds the credentials */
	mongoc_client_t *client; /* discovery */
	mbh_scram_login *login;  /* with uri: the run's SCRAM keys, shared by its clients; NULL: libmongoc's auth */
	mbh_scram_login *shared_login; /* mbh_job_params.login, borrowed; NULL = none */
	mbh_state *state;        /* flock held while not NULL */
	mbh_lock_session *session;
	mbh_state_rec rec;       /* what is recorded */
	bool held;               /* rec describes a lock we hold */
	bool snap;               /* snapshot mode: rec describes a snapshot we made (phase SNAPSHOT), the member is unlocked */
	_Atomic int64_t lock_deadline_ms; /* mbh_state_deadline_ms(&rec) while held && !snap, else 0
					   (mbh_job_publish_deadline): for readers without mu */
	mbh_child *child;        /* the command under the lock, until the owner thread reaps it (child_pgid 0: an unlock stopped it) */
	long stray_watchdog;     /* a watchdog we stopped that was slow to exit: reaped later, never left a zombie */
	char set[128];
	char chosen[262];        /* the member the last --dry-run would lock; "" = none */
	int64_t locked_ms;       /* CLOCK_MONOTONIC ms when the last fsync lock's reply came; 0 = none */
	int64_t cmd_started_ms;  /* CLOCK_MONOTONIC ms when the command under the lock was let run; 0 = none */
	char cmd_name[64];       /* its base name, for messages */
	struct {                 /* job_stream.c: the command's stdout as one stream; the owner thread only */
		int fd;              /* our non-blocking copy of it; -1 = not open */
		bool at_end;         /* the command closed it */
		int64_t bytes;
		mbh_error failed;    /* why the stream was stopped (a deadline); code 0 = it was not */
	} stream;
	struct {                 /* job_async.c: the job's helper thread */
		pthread_mutex_t mu;  /* everything below */
		pthread_cond_t cv;
		pthread_t thread;
		bool started, stop;
		int releases;        /* unlocks asked for and not done yet */
		int64_t idle_ms;     /* the stream's idle limit being watched; 0 = none */
		int64_t last_ms;     /* the stream's last progress (CLOCK_MONOTONIC ms) */
		bool idle_fired;
		mbh_error idle_err;  /* what the idle rule said */
	} async;
	mbh_metrics metrics;     /* the textfile this job keeps current (metrics.textfile) */
	double t_begin;          /* unix seconds when the last lock flow began, for the run's duration */
};

/*
 * The one deadline rule of the command under the lock (CLOCK_MONOTONIC ms;
 * 0 = none): script.timeout from its start, or the lock's deadline
 * (lock.max_seconds) with the kill grace taken off so that even a command
 * ignoring SIGTERM is gone by then (not in snapshot mode: nothing is
 * locked), whichever comes first.  *rule says which (MBH_RULE_*).
 */
#define MBH_RULE_NONE 0
#define MBH_RULE_SCRIPT 1
#define MBH_RULE_LOCK 2
int64_t mbh_job_deadline_ms(const mbh_job *j, int *rule);

/*
 * Hand the lock's deadline to the threads that read it without j->mu (the
 * stream's reader, mbh_job_wait: another thread may be unlocking under mu
 * meanwhile, across a network call they must not wait for).  Caller holds
 * j->mu and has just changed held, snap or rec.deadline.
 */
void mbh_job_publish_deadline(mbh_job *j);

/* "did not finish within script.timeout (N s)" or "... lock.max_seconds (N s) ...": what rule did, for what. */
int mbh_job_deadline_error(const mbh_job *j, int rule, const char *what, mbh_error *err);

/* job_async.c: the helper thread's state, set up by mbh_job_new and ended (joined) by mbh_job_free. */
void mbh_job_async_init(mbh_job *j);
void mbh_job_async_fini(mbh_job *j);

/* Watch the stream for no progress for idle_ms (starting now), or stop watching (0).  EX_OSERR: no thread. */
int mbh_job_async_watch(mbh_job *j, int64_t idle_ms, mbh_error *err);

/* The stream moved (a read returned bytes). */
void mbh_job_async_progress(mbh_job *j);

/* True (err filled with what it said) when the idle rule stopped the stream. */
bool mbh_job_async_idle(mbh_job *j, mbh_error *err);

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

/* mbh_topology_ask_fsync over the job's discovery client (mbh_fsync_ask_fn, ctx the job), with a debug line. */
int mbh_job_ask_fsync(void *job, const mbh_member *m, bool *locked, mbh_error *err);

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

/* Metrics: the set to file them under (the record's, --set, the URI's replicaSet=), or NULL. */
const char *mbh_job_metrics_set(mbh_job *j);

/* Metrics: a run ended (see mbh_job_outcome) that began at since (unix seconds). */
void mbh_job_outcome_since(mbh_job *j, bool ok, mbh_metrics_reason reason, double since, int64_t bytes);

#endif
