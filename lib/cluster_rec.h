/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cluster_rec.h: the record of one sharded cluster's backup: what the balancer was, and every component's lock. */
#ifndef MBH_CLUSTER_REC_H
#define MBH_CLUSTER_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "state.h"

/*
 * Files, for a cluster named CLUSTER in state_dir DIR:
 *   DIR/CLUSTER.cluster.lock    flock()ed for the whole of every cluster run (as a set's SET.lock)
 *   DIR/CLUSTER.cluster.state   this record (mbh_state_write_text: atomic, durable, mode 0600)
 *   DIR/CLUSTER.cluster.d/SET/  each component's own state_dir: its record (state.h's SET.state
 *                               with its token, watchdog, phase, lockCount, frozen), written by
 *                               its lock exactly as for one set; a directory each, so that the
 *                               unlock claims (a flock on the directory) let them go in parallel
 * The cluster record is written before the balancer is touched and before any
 * component's intent, so whoever finds it (mongo-postbackup) knows every
 * component that may hold a lock and whether to start the balancer again.
 * Each component's lock is released through its own record (exactly once, as
 * for one set); the cluster record marks it released as it goes, then the
 * balancer is restored, then the record is removed.
 *
 * Text format, one "key=value" per line (values never hold a newline):
 *   mbh-cluster=1
 *   name=CLUSTER  mode=online|exact  phase=LOCKING|LOCKED
 *   balancer=full|off|unknown     the balancer's mode before this run ("unknown": not read yet)
 *   balancer_stopped=0|1          this run stopped it: it must be started again
 *   since=UNIX  deadline=UNIX  pid=N  hostname=H  job=J  skew_ms=N (-1 = not measured)
 *   component=NAME SET HOSTS MEMBER LOCK_COUNT LOCK_MS STATE
 * one component line per shard (NAME its _id) and one for the CSRS (NAME
 * "config"); HOSTS "h:p,h:p"; MEMBER "-" before the choice; LOCK_MS the
 * member's lock time (ms from the cluster's first lock reply to its own), -1
 * before; STATE "pending", "locked" or "released".
 * Exact mode adds (one fsync lock through the mongos holds every primary):
 *   token=HEX                     the lock's token (its watchdog knows it)
 *   watchdog=PID START            the watchdog that unlocks through the mongos at the deadline
 *   snapshot=NAME PATH            component NAME's snapshot (PATH to the end of the line),
 *                                 written as soon as snapshot.create printed it
 * and phase SNAPSHOT: the mongos lock is released, the snapshots remain for post.
 */
#define MBH_CLUSTER_MAX_COMPONENTS 64
#define MBH_CLUSTER_SUFFIX ".cluster"  /* the record's name in state_dir: CLUSTER.cluster */

typedef enum mbh_comp_state {
	MBH_COMP_PENDING = 0,  /* intent: a lock may be taken (its own record says) */
	MBH_COMP_LOCKED,       /* its member is locked */
	MBH_COMP_RELEASED      /* unlocked (or never locked) and its own record gone */
} mbh_comp_state;

typedef struct mbh_cluster_comp {
	char name[128];        /* the shard's _id, or "config" */
	char set[128];         /* its replica set */
	char hosts[1024];      /* "host:port,..." */
	char member[262];      /* "host:port" locked; "" before */
	char snapshot[MBH_SNAPSHOT_MAX + 1]; /* exact mode: its snapshot's path; "" = none */
	int64_t lock_count;
	int64_t lock_ms;       /* -1 = not locked */
	mbh_comp_state state;
} mbh_cluster_comp;

typedef struct mbh_cluster_rec {
	char name[128];
	int mode;              /* mbh_cluster_mode */
	mbh_phase phase;       /* LOCKING until every component is locked, then LOCKED */
	char balancer[16];     /* "full", "off", "unknown" */
	bool balancer_stopped;
	int64_t since, deadline;
	long pid;
	char hostname[256];
	char job[MBH_JOB_NAME_MAX + 1];
	int64_t skew_ms;
	char token[MBH_TOKEN_LEN + 1]; /* exact mode: the mongos lock's token; "" = none */
	long watchdog_pid;     /* exact mode: its watchdog; 0 = none */
	uint64_t watchdog_start;
	size_t ncomps;
	mbh_cluster_comp comps[MBH_CLUSTER_MAX_COMPONENTS];
} mbh_cluster_rec;

/* Pure: the record as text (malloc'ed, caller frees).  A value that cannot be written (a newline, a blank in a name): EX_SOFTWARE. */
int mbh_cluster_rec_format(const mbh_cluster_rec *rec, char **text, mbh_error *err);

/* Pure: parse text; a malformed record fails with EX_DATAERR naming the line. */
int mbh_cluster_rec_parse(mbh_cluster_rec *out, const char *text, mbh_error *err);

/* Pure: the name of a component state ("pending", ...). */
const char *mbh_comp_state_name(mbh_comp_state s);

#endif
