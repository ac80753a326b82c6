/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* select.h: pure choice of the member to lock, with a reason for every member. */
#ifndef MBH_SELECT_H
#define MBH_SELECT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "error.h"
#include "topology.h"

/*
 * Ask member m (currentOp) whether someone holds an fsync lock on it: 0 and
 * *locked, or -1 with err (the member then counts as not applying the oplog).
 * mbh_topology_ask_fsync is the real one; tests pass their own.
 */
typedef int (*mbh_fsync_ask_fn)(void *ctx, const mbh_member *m, bool *locked, mbh_error *err);

typedef struct mbh_select_opts {
	mbh_policy policy;
	const char *member;          /* policy MEMBER: "host:port" */
	const char *const *local_hosts; /* policy LOCAL: NULL-terminated host names that are "this host" */
	int max_lag_seconds;
	bool allow_delayed;
	const mbh_tag *tags;         /* required tags (all must match) */
	size_t ntags;
	bool allow_majority_stall;
	bool allow_locked;           /* !lock.refuse_if_locked: a member someone else fsync-locked stays a candidate */
	/*
	 * Invariant 6 counts a member that someone else fsync-locked as not
	 * applying, and only currentOp on that member tells.  With ask_fsync,
	 * voting secondaries are asked one at a time, and only while their
	 * answer can still change a verdict that matters: the best candidate's
	 * (all_verdicts false: the lock itself), or every member's (all_verdicts
	 * true: --dry-run).  Without it, or for members never asked, the lock
	 * state is what the table says (MBH_FSYNC_NOT_ASKED counts as applying).
	 */
	mbh_fsync_ask_fn ask_fsync;
	void *ask_ctx;
	bool all_verdicts;
} mbh_select_opts;

typedef struct mbh_verdict {
	bool eligible;
	int rank;                    /* 1 = chosen, 2.. = next best; 0 when not eligible */
	char reason[256];            /* why (not) — e.g. "hidden, priority 0, lag 0 s" / "primary" */
} mbh_verdict;

typedef struct mbh_selection {
	int chosen;                  /* index into the topology's members, -1 if none */
	mbh_verdict *verdicts;       /* one per member, same order */
	size_t n;
	char summary[480];           /* one line: what was chosen and why, or why nothing */
	char warning[256];           /* e.g. "127.0.0.1:27019 syncs from the chosen member"; "" if none */
} mbh_selection;

/*
 * Apply the filters and order of DESIGN.md "Choosing the member".  *out is
 * always filled (for --dry-run), even when nothing is eligible; then -1 is
 * returned with EX_UNAVAILABLE and the summary as message.  The answers of
 * opts->ask_fsync are recorded in t (fsync, fsync_error); nothing else in t
 * changes.
 */
int mbh_select(mbh_selection **out, mbh_topology *t, const mbh_select_opts *opts, mbh_error *err);

/*
 * Invariant 6 again, right after the chosen member was locked: another run
 * choosing at the same instant (two hosts' policy-local jobs) may have
 * locked a member this choice counted as applying, after it was asked.  The
 * members seen unlocked are asked again (as few as settle it, as in
 * mbh_select); a member with votes 0 needs nothing.  0: the majority is
 * still reached; -1 with EX_TEMPFAIL naming the members (the caller then
 * releases its lock: when both runs see the other's lock, both back off,
 * which is the safe side).  Skip it when the stall is allowed.
 */
int mbh_select_recheck(mbh_topology *t, size_t chosen, mbh_fsync_ask_fn ask, void *ctx, mbh_error *err);

void mbh_selection_free(mbh_selection *s);

#endif
