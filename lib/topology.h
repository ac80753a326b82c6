/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* topology.h: replSetGetConfig + replSetGetStatus -> the member table. */
#ifndef MBH_TOPOLOGY_H
#define MBH_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include "config.h"
#include "error.h"
#include "lock.h"

/* Member states as replSetGetStatus reports them (member_state.h). */
enum {
	MBH_RS_STARTUP = 0, MBH_RS_PRIMARY = 1, MBH_RS_SECONDARY = 2, MBH_RS_RECOVERING = 3,
	MBH_RS_STARTUP2 = 5, MBH_RS_UNKNOWN = 6, MBH_RS_ARBITER = 7, MBH_RS_DOWN = 8,
	MBH_RS_ROLLBACK = 9, MBH_RS_REMOVED = 10
};

/*
 * Whether someone holds an fsync lock on a member.  replSetGetStatus has no
 * such field: only currentOp on the member itself says so (fsyncLock: true),
 * and asking costs a connection and a SCRAM conversation with that member,
 * so members are asked only when the answer can change a verdict (select.c).
 * A locked member applies nothing from the oplog (DESIGN.md invariant 6).
 */
typedef enum mbh_fsync_state {
	MBH_FSYNC_NOT_ASKED = 0, /* unknown, not asked: counts as applying (its answer changed nothing) */
	MBH_FSYNC_UNLOCKED,      /* currentOp: no fsyncLock */
	MBH_FSYNC_LOCKED,        /* currentOp: fsyncLock: true (someone else's lock): applies nothing */
	MBH_FSYNC_NO_ANSWER      /* unknown, asked but currentOp failed (fsync_error): counts as not applying */
} mbh_fsync_state;

typedef struct mbh_member {
	int id;                   /* config _id */
	char *host;               /* "host:port" exactly as configured */
	double priority;
	int votes;
	bool hidden;
	bool arbiter;
	bool build_indexes;
	int64_t delay_secs;       /* secondaryDelaySecs (or slaveDelay) */
	mbh_tag *tags;
	size_t ntags;
	/* from replSetGetStatus; a member missing there is health 0, state UNKNOWN */
	int health;               /* 1 up, 0 down */
	int state;
	char *state_str;
	int64_t optime_ms;        /* optimeDate in ms; 0 for arbiters/unknown */
	char *sync_source;        /* "" when none */
	/* from currentOp on the member, when select.c asked (mbh_topology_ask_fsync) */
	mbh_fsync_state fsync;
	char *fsync_error;        /* MBH_FSYNC_NO_ANSWER: why; else NULL */
} mbh_member;

typedef struct mbh_topology {
	char *set_name;
	int64_t config_version;
	int write_majority_count; /* from replSetGetStatus; computed from votes if absent */
	mbh_member *members;      /* config order */
	size_t nmembers;
	int primary;              /* index of the PRIMARY, -1 if none */
	int64_t date_ms;          /* replSetGetStatus date */
} mbh_topology;

/*
 * Pure: build the table from the two command replies (the whole reply
 * documents).  Malformed replies fail with EX_PROTOCOL naming the field.
 */
int mbh_topology_from_replies(mbh_topology **out, const bson_t *config_reply, const bson_t *status_reply, mbh_error *err);

/*
 * Run replSetGetConfig and replSetGetStatus (primaryPreferred) on client
 * (uri and login: see mbh_mongo_error_as; NULL uri: the client's).
 * Unreachable set: EX_UNAVAILABLE; auth failure: EX_NOPERM; command refused
 * as unauthorized: EX_NOPERM naming the missing privilege.
 */
int mbh_topology_fetch(mbh_topology **out, mongoc_client_t *client, const mongoc_uri_t *uri, mbh_scram_login *login,
		       mbh_error *err);

/*
 * The same, asking one member: server_id is a server of client's topology
 * (0 = primaryPreferred, as mbh_topology_fetch).  A secondary answers from
 * its own view (other members' optimes as of the last heartbeat, <= 2 s old).
 */
int mbh_topology_fetch_from(mbh_topology **out, mongoc_client_t *client, const mongoc_uri_t *uri,
			    mbh_scram_login *login, uint32_t server_id, mbh_error *err);

/* Lag of member i behind the primary (or the newest member when there is no primary), seconds, >= 0. */
int64_t mbh_topology_lag_seconds(const mbh_topology *t, size_t i);

/*
 * Ask member m with currentOp whether someone holds an fsync lock on it:
 * over the discovery client's own connection when its topology knows m as a
 * secondary (no new connection), else (hidden and delayed members, which are
 * never in hello) over a direct connection with the URI's credentials.
 * With the asker's login (scram_once.h) that connection reuses the run's
 * SCRAM keys (one SCRAM conversation, no derivation); without it,
 * libmongoc 1.23 derives them again (~15-20 ms).  Matches mbh_fsync_ask_fn
 * (select.h) with ctx a mbh_fsync_asker.  Errors name the member.
 */
/*
 * A session to host_port: on client's connection when its topology shows the
 * member as a secondary (no new connection, no second SCRAM conversation),
 * else a direct connection built from uri (hidden and delayed members never
 * appear in hello).  *shared says which.  login: the one client was made
 * with (scram_once.h), or NULL.  Caller owns *out.
 */
int mbh_topology_session(mbh_lock_session **out, mongoc_client_t *client, const mongoc_uri_t *uri,
			 mbh_scram_login *login, const char *host_port, bool *shared, mbh_error *err);

typedef struct mbh_fsync_asker {
	mongoc_client_t *client;    /* the discovery client (borrowed) */
	const mongoc_uri_t *uri;    /* its URI, for direct connections (borrowed) */
	mbh_scram_login *login;     /* the run's SCRAM login (borrowed), or NULL */
} mbh_fsync_asker;

int mbh_topology_ask_fsync(void *asker, const mbh_member *m, bool *locked, mbh_error *err);

void mbh_topology_free(mbh_topology *t);

#endif
