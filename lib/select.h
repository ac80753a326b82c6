/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* select.h: pure choice of the member to lock, with a reason for every member. */
#ifndef MBH_SELECT_H
#define MBH_SELECT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "error.h"
#include "topology.h"

typedef struct mbh_select_opts {
	mbh_policy policy;
	const char *member;          /* policy MEMBER: "host:port" */
	const char *const *local_hosts; /* policy LOCAL: NULL-terminated host names that are "this host" */
	int max_lag_seconds;
	bool allow_delayed;
	const mbh_tag *tags;         /* required tags (all must match) */
	size_t ntags;
	bool allow_majority_stall;
} mbh_select_opts;

typedef struct mbh_verdict {
	bool eligible;
	int rank;                    /* 1 = chosen, 2.. = next best; 0 when not eligible */
	char reason[192];            /* why (not) — e.g. "hidden, priority 0, lag 0 s" / "primary" */
} mbh_verdict;

typedef struct mbh_selection {
	int chosen;                  /* index into the topology's members, -1 if none */
	mbh_verdict *verdicts;       /* one per member, same order */
	size_t n;
	char summary[256];           /* one line: what was chosen and why, or why nothing */
	char warning[256];           /* e.g. "127.0.0.1:27019 syncs from the chosen member"; "" if none */
} mbh_selection;

/*
 * Apply the filters and order of DESIGN.md "Choosing the member".  *out is
 * always filled (for --dry-run), even when nothing is eligible; then -1 is
 * returned with EX_UNAVAILABLE and the summary as message.
 */
int mbh_select(mbh_selection **out, const mbh_topology *t, const mbh_select_opts *opts, mbh_error *err);

void mbh_selection_free(mbh_selection *s);

#endif
