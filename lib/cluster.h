/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cluster.h: a sharded cluster behind a mongos: discovery, the balancer, and one secondary per component locked at once. */
#ifndef MBH_CLUSTER_H
#define MBH_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include "cluster_rec.h"
#include "config.h"
#include "error.h"
#include "job.h"
#include "log.h"

/*
 * A cluster run (online mode, cluster.mode in the config): from the mongos
 * URI, listShards (every shard's "SET/HOST,...") and getShardMap (the CSRS:
 * map.config) give the components; each is then a replica set handled by
 * its own mbh_job (job.h), with the run's config but the component's
 * connection string (mbh_uri_for_set: same credentials and options) and its
 * records under DIR/CLUSTER.cluster.d/SET (cluster_rec.h): the same discovery,
 * the same choice (passive first, lag, tags, never a primary, never a
 * majority stall), the same lock (intent, watchdog, freeze, currentOp check,
 * re-check), the same release.  The cluster adds the balancer (stopped only
 * if it ran, started again only then), the parallel lock (a thread per
 * component, after every component's choice succeeded) with its skew, and
 * one record that says which components and what the balancer was.  No
 * process-wide state: everything is in the mbh_cluster.
 */
typedef struct mbh_cluster mbh_cluster;

typedef struct mbh_cluster_params {
	const mbh_config *cfg;     /* borrowed, finished; must outlive the cluster */
	mbh_logger *log;           /* borrowed; NULL = silent */
	const char *job_name;      /* recorded; NULL = none */
	const char *mode;          /* "hooks" or "exec", recorded in the components' records */
	const char *watchdog_path; /* as mbh_job_params: every component's lock has its watchdog */
	const char *gate_path;
	int cancel_fd;             /* readable = stop; -1 = none */
} mbh_cluster_params;

/* Copy the parameters.  No I/O.  Caller owns *out. */
int mbh_cluster_new(mbh_cluster **out, const mbh_cluster_params *params, mbh_error *err);

/*
 * --dry-run: the cluster's name, mode and balancer, then every component
 * with its member table (verdict and reason per member, as one set's
 * --dry-run) and the member that would be locked, and a last line saying
 * what would be locked or why the run would be refused.  *text is filled
 * even when a component has no eligible member (then -1, EX_UNAVAILABLE
 * naming it), or when exact mode would be refused (EX_CONFIG /
 * EX_UNAVAILABLE).  Caller frees *text.
 */
int mbh_cluster_dry_run(mbh_cluster *cl, char **text, mbh_error *err);

/*
 * The pre-backup flow: discover; refuse exact mode (before anything is
 * touched); take the cluster's flock; refuse when its record exists; write
 * the record (LOCKING: every component pending, the balancer's mode); run
 * every component's lock flow in parallel up to its fsync lock (discovery,
 * choice, intent, watchdog, checks, freeze) and hold it there: a component
 * that fails on its way (no eligible member) sends the others back, nothing
 * is locked and the balancer is untouched; when all are there, stop the
 * balancer if it ran (recorded first; waits for a running round) and let the
 * locks go out together; record each member's lock time and the skew (first
 * to last lock reply), phase LOCKED.  A
 * component that fails after others were locked: those are unlocked at once,
 * the balancer started again if it ran, the record removed, and the first
 * failure returned as "component NAME (set SET): WHY; ...".  On success the
 * locks are held (each guarded by its watchdog) until mbh_cluster_unlock or
 * mongo-postbackup (mbh_cluster_post).
 *
 * Exact mode (cluster.mode "exact", snapshot mode): after the refusals
 * (mongos version, no snapshot group: nothing touched) the record's intent
 * names every component's primary and the lock's token, a watchdog that
 * unlocks through the mongos at the deadline is started, the balancer
 * stopped if it ran, fsync {lock: true} sent to the mongos (every primary's
 * lockCount recorded from all.raw), the primaries re-checked, snapshot.create
 * run for every primary in parallel (each path on record as soon as
 * printed), fsyncUnlock sent to the mongos at once (the write pause is the
 * slowest snapshot), the balancer started again if it ran: phase SNAPSHOT,
 * nothing locked, the snapshots held until mbh_cluster_unlock or
 * mongo-postbackup removes each (snapshot.remove) exactly once.  A failed
 * snapshot.create: unlocked at once, the snapshots made removed, the
 * component named.
 */
int mbh_cluster_lock(mbh_cluster *cl, mbh_error *err);

/*
 * Release what mbh_cluster_lock holds: every component (each exactly once,
 * marked released in the record as it goes), then the balancer, then the
 * record.  A component that cannot be unlocked keeps its record and the
 * cluster's (EX_TEMPFAIL: run mongo-postbackup; its watchdog unlocks it at
 * the deadline).  0 when nothing is held.  Two threads may call it (the
 * plugin's unload beside the job's own thread): the second finds nothing held.
 */
int mbh_cluster_unlock(mbh_cluster *cl, mbh_error *err);

/*
 * --exec: mbh_cluster_lock, run templ (NULL = script.backup) with the
 * environment below, wait (script.timeout, and the lock's deadline), always
 * mbh_cluster_unlock.  The command gets MONGO_BACKUP_CLUSTER (the name),
 * MONGO_BACKUP_MEMBERS ("NAME=HOST:PORT ..." in record order: "config"
 * first, then the shards in listShards order), MONGO_BACKUP_SKEW_MS and
 * MONGO_BACKUP_JOB, and in exact mode MONGO_BACKUP_SNAPSHOTS ("NAME=PATH ..."
 * in the same order: each component's snapshot of its primary) and
 * MONGO_BACKUP_PAUSE_MS (the writes' pause: lock reply to unlock reply); %s expands to the cluster's name, %j to the job, %h and
 * %p to nothing.  *status = its exit status; 0 when the lock and the unlock
 * worked.
 */
int mbh_cluster_exec(mbh_cluster *cl, const char *const *templ, int *status, mbh_error *err);

/*
 * Which cluster record mongo-postbackup acts on: cluster.name's (whether or
 * not it exists: *found says), else the only DIR/\*.cluster.state; none:
 * *found false; several: EX_USAGE naming them (set cluster.name).  name
 * gets the cluster's name.  Reads nothing else; connects to nothing.
 */
int mbh_cluster_find(const mbh_config *cfg, char *name, size_t namelen, bool *found, mbh_error *err);

/*
 * mongo-postbackup for the cluster `name` (mbh_cluster_find): under its
 * flock, release every component not yet released through its own record
 * (the single-set post: LOCKED or LOCKING, exactly one fsyncUnlock), marking
 * each released in the cluster's record as it goes; then start the balancer
 * again if the record says this backup stopped it; then remove the record.
 * Any failure keeps the record (EX_TEMPFAIL, or the failure's code) and says
 * which component; running it again finishes the rest.
 */
int mbh_cluster_post(mbh_cluster *cl, const char *name, mbh_error *err);

/*
 * --status for the cluster `name`: the balancer's prior state, the skew,
 * and every component's lock (member, lock time, and its own record's
 * status); json: one object {"cluster", "mode", "phase", "balancer",
 * "balancer_stopped", "skew_ms", "since", "deadline", "job",
 * "components": [{"name", "set", "member", "lock_ms", "lock_count",
 * "state", "status": <the component's mongo-postbackup --status --json>}]}
 * ("locked": false and "components": [] when there is no record).  Caller
 * frees *text.  A component whose lock no watchdog guards: EX_UNAVAILABLE
 * with the text filled.
 */
int mbh_cluster_status(mbh_cluster *cl, const char *name, bool json, char **text, mbh_error *err);

/*
 * --check-held ARG, ARG "COMPONENT=HOST:PORT": may a backup of COMPONENT
 * (a shard's _id, or "config") read HOST:PORT's files now?  name is the
 * cluster mbh_cluster_find found (NULL: none).  Reads the cluster's record
 * and the component's own record (its directory under NAME.cluster.d)
 * without their flocks: connects to nothing, changes nothing.  0 when the
 * record is job's (job NULL: any job's), its phase LOCKED, COMPONENT's
 * member HOST:PORT in state "locked", and the component's own record
 * LOCKED on that member with its watchdog running (mbh_state_guarded, as
 * --status judges it); *held then says so in one line ("... is locked for
 * job J (lockCount N)").  Otherwise EX_UNAVAILABLE with one line "COMPONENT
 * HOST:PORT is not locked for job J: WHY" (no record, another job's, the
 * phase, no such component, another member, not locked, no watchdog); a
 * malformed ARG: EX_USAGE; a record that cannot be read: its error.
 * Exact mode (nothing stays locked): 0 when the record (phase SNAPSHOT)
 * holds COMPONENT's snapshot of HOST:PORT (its primary); *held then says
 * "... is snapshotted for job J: read PATH".
 */
int mbh_cluster_check_held(const mbh_config *cfg, const char *name, const char *job, const char *arg, char *held,
			   size_t heldlen, mbh_error *err);

/*
 * Pure: can a server of this version (buildInfo's "version", "A.B.C...")
 * take an fsync lock through mongos?  7.1 and later, and 7.0.2, 6.0.11,
 * 5.0.22, 4.4.25 and later within their series.
 */
bool mbh_cluster_fsync_gate(const char *version);

/*
 * balancerStart through the mongos at uri (built with mbh_uri_build: the
 * run's credentials): for a component's watchdog that released its lock at
 * the deadline (mbh_watchdog_settings.balancer_uri).  Errors as mongoerr.h.
 */
int mbh_cluster_balancer_start(const mongoc_uri_t *uri, mbh_error *err);

/*
 * The plugin (one Bacula job streams every component's backup command as
 * one file each while the whole cluster stays locked; exact mode: while
 * every component's snapshot stays).  After a successful
 * mbh_cluster_lock, until mbh_cluster_unlock: the cluster's name, the
 * number of components (0 when nothing is held), component i's record line
 * (name, set, member; "config" first, then the shards in listShards order)
 * and its job (for job.h's stream calls on the command below).  Borrowed.
 */
const char *mbh_cluster_name(const mbh_cluster *cl);
size_t mbh_cluster_ncomps(const mbh_cluster *cl);
const mbh_cluster_comp *mbh_cluster_comp_at(const mbh_cluster *cl, size_t i);
mbh_job *mbh_cluster_comp_job(mbh_cluster *cl, size_t i);

/*
 * Start templ (a config template: %h %p %s %j are component i's locked
 * member, its set and the job) under component i's lock (mbh_job_spawn_held),
 * with MONGO_BACKUP_CLUSTER and MONGO_BACKUP_COMPONENT added to the
 * environment.  Exact mode: against component i's snapshot instead
 * (mbh_job_spawn_snapshot: %S and MONGO_BACKUP_SNAPSHOT its path, %h %p the
 * primary snapshotted), nothing locked; mbh_cluster_unlock stops it before
 * it removes that snapshot.  Errors name the component.  The locks (the
 * snapshots) stay held whatever happens: mbh_cluster_unlock releases them.
 */
int mbh_cluster_comp_spawn(mbh_cluster *cl, size_t i, const char *const *templ, int flags, mbh_child **out,
			   mbh_error *err);

/*
 * Any thread, returns at once, between a successful mbh_cluster_lock and
 * mbh_cluster_unlock (the components stay allocated meanwhile): cancel every
 * component (its command is stopped) and unlock it on its job's helper
 * thread (mbh_job_unlock_async).  The owner's mbh_cluster_unlock still
 * follows: it waits for those, starts the balancer again and removes the
 * record.  mbh_cluster_unlock_wait: wait up to timeout_ms for them.
 */
int mbh_cluster_unlock_async(mbh_cluster *cl, mbh_error *err);
bool mbh_cluster_unlock_wait(mbh_cluster *cl, int timeout_ms);

/*
 * Exact mode's release: fsyncUnlock through the mongos at uri (every
 * component's primary, once).  *was_locked false when the mongos answers
 * that a component was not locked (released already: by the run, post or
 * the watchdog); 0 then too.  Errors as mongoerr.h.
 */
int mbh_cluster_fsync_unlock(const mongoc_uri_t *uri, bool *was_locked, mbh_error *err);

/* Free; held locks stay held (for mongo-postbackup).  NULL is fine. */
void mbh_cluster_free(mbh_cluster *cl);

#endif
