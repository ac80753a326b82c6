/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* wdguard.c: the watchdog's guard: read the record, learn from it, fire at the deadline (libc only). */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_rec.h"
#include "crash.h"
#include "testtime.h"
#include "timefmt.h"
#include "wdguard.h"

#define POLL_S 1         /* how often the record is read while the deadline is far */
#define BACKOFF_MAX_S 60 /* the longest wait between two tries at the release */

/* Sleep up to ms milliseconds, waking early on either signal. */
static void
nap(const mbh_wd_guard *g, int64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };

	if (!*g->stop && !*g->release_now && ms > 0)
		nanosleep(&ts, NULL);
}

/*
 * What the record adds to what we were handed (the lockCount, the phase, the
 * command reading the member, the snapshot): the member, the token and the
 * deadline stay the ones we were handed, whatever the file says.
 */
static void
learn(mbh_wd_guard *g, const mbh_state_rec *cur)
{
	mbh_state_rec k = g->rec;

	g->rec = *cur;
	/* a run of an earlier version hands neither: then the first record it wrote tells them, once */
	if (k.member[0] != '\0')
		memcpy(g->rec.member, k.member, sizeof(g->rec.member));
	memcpy(g->rec.token, k.token, sizeof(g->rec.token));
	memcpy(g->rec.set_name, k.set_name, sizeof(g->rec.set_name));
	if (k.deadline_ms > 0) {
		g->rec.deadline = k.deadline;
		g->rec.deadline_ms = k.deadline_ms;
	}
	if (g->rec.command_pid <= 0) {
		g->rec.command_pid = k.command_pid;
		g->rec.command_start = k.command_start;
	}
	g->learned = true;
}

/* See wdguard.h. */
int
mbh_wd_guard_init(mbh_wd_guard *g, const mbh_watchdog_settings *s, mbh_error *err)
{
	mbh_state_rec handed;

	g->s = s;
	g->learned = false;
	g->fired = s->fire;
	/* what we were handed: a lock that may or may not be taken yet (LOCKING) until the record says more */
	memset(&g->rec, 0, sizeof(g->rec));
	snprintf(g->rec.set_name, sizeof(g->rec.set_name), "%s", s->set);
	snprintf(g->rec.member, sizeof(g->rec.member), "%s", s->member != NULL ? s->member : "");
	snprintf(g->rec.token, sizeof(g->rec.token), "%s", s->token);
	snprintf(g->rec.mode, sizeof(g->rec.mode), "hooks");
	g->rec.phase = MBH_PHASE_LOCKING;
	g->rec.deadline_ms = s->deadline_ms;
	g->rec.deadline = (s->deadline_ms + 999) / 1000;
	g->rec.command_pid = s->command_pid;
	g->rec.command_start = s->command_start;
	if (s->record == NULL)
		return 0;
	if (mbh_state_parse(&handed, s->record, err) != 0)
		return mbh_error_prefix(err, "the record the watchdog handed on");
	if (!mbh_state_same_lock(&handed, &g->rec))
		return mbh_error_set(err, EX_DATAERR, "the record the watchdog handed on is of another lock");
	learn(g, &handed);
	return 0;
}

/*
 * One turn of a guard at deadline_ms (wall clock, ms): before it, and
 * unless asked to release now, sleep until it (waking on the deadline
 * itself, to the ms it was handed) or the next poll; from then on fire,
 * and after a failure sleep the backoff, doubled up to BACKOFF_MAX_S.
 * true once a fire succeeded: nothing it guards is locked any more.
 */
static bool
deadline_turn(mbh_wd_guard *g, int64_t deadline_ms, int *attempt, int64_t *backoff)
{
	int64_t poll_ms = mbh_seconds_ms(POLL_S), left = deadline_ms - mbh_wall_ms();

	if (!g->fired && left > 0 && !*g->release_now) {
		nap(g, left < poll_ms ? left : poll_ms);
		return false;
	}
	if (!g->fired)
		MBH_CRASH("watchdog-fired");
	g->fired = true;
	if (g->fire(g, ++*attempt) == 0)
		return true;
	nap(g, *backoff);
	*backoff = *backoff * 2 > mbh_seconds_ms(BACKOFF_MAX_S) ? mbh_seconds_ms(BACKOFF_MAX_S) : *backoff * 2;
	return false;
}

/*
 * Exact mode (cluster_unlock): the lock is the cluster's through the mongos
 * and its record the cluster's (DIR/CLUSTER.cluster.state, read without its
 * flock): SNAPSHOT or another token, the run unlocked; at the deadline (or
 * on release_now), whatever the record says, fire until it succeeds.
 */
static int
guard_cluster(mbh_wd_guard *g)
{
	mbh_cluster_rec *rec = malloc(sizeof(*rec)); /* large for a stack */
	const mbh_watchdog_settings *s = g->s;
	char *text = NULL;
	bool present = false, warned = false;
	int64_t backoff = mbh_seconds_ms(POLL_S);
	mbh_error err;
	int attempt = 0;

	if (rec == NULL)
		g->warn(g, "out of memory reading the cluster's record: only the deadline holds");
	while (!*g->stop) {
		mbh_error_init(&err);
		free(text);
		text = NULL;
		if (rec == NULL) {
			/* nothing to read the record into: the deadline still holds */
		} else if (mbh_state_peek_text(s->state_dir, s->set, &text, &present, &err) != 0 ||
			   (present && mbh_cluster_rec_parse(rec, text, &err) != 0)) {
			if (!warned)
				g->warn(g, err.msg);
			warned = true;
		} else if (present && (strcmp(rec->token, s->token) != 0 || rec->phase == MBH_PHASE_SNAPSHOT)) {
			break; /* released by the run (the snapshots are post's), or another run's record */
		}
		if (deadline_turn(g, s->deadline_ms, &attempt, &backoff))
			break;
	}
	free(text);
	free(rec);
	return 0;
}

/* One set's lock: its record (read without the flock) until released, or the deadline. */
static int
guard_member(mbh_wd_guard *g)
{
	const mbh_watchdog_settings *s = g->s;
	mbh_state_rec cur;
	mbh_error err;
	bool present = false, warned = false;
	int64_t poll_ms = mbh_seconds_ms(POLL_S), backoff = poll_ms;
	int attempt = 0;

	while (!*g->stop) {
		mbh_error_init(&err);
		if (mbh_state_peek(s->state_dir, s->set, &cur, &present, &err) != 0) {
			/* unreadable (being replaced, a full disk, touched by hand): the deadline still holds */
			if (!warned)
				g->warn(g, err.msg);
			warned = true;
		} else if (present && mbh_state_same_lock(&cur, &g->rec)) {
			/* SNAPSHOT: unlocked; the snapshot left is mongo-postbackup's */
			if (cur.phase == MBH_PHASE_SNAPSHOT)
				return 0;
			learn(g, &cur);
		} else if (present) {
			/* another run's record: that run found none, so ours was released */
			return 0;
		} else if (s->member == NULL) {
			/* a run of an earlier version, which hands nothing: its record is all we know */
			return 0;
		}
		/* no record: released (then we get SIGTERM) or removed by hand: the deadline still holds */
		if (mbh_state_deadline_ms(&g->rec) <= 0 || g->rec.member[0] == '\0') {
			nap(g, poll_ms); /* not handed what it guards and no record read yet */
			continue;
		}
		if (deadline_turn(g, mbh_state_deadline_ms(&g->rec), &attempt, &backoff))
			return 0;
	}
	return 0;
}

/* See wdguard.h. */
int
mbh_wd_guard_run(mbh_wd_guard *g)
{
	return g->s->cluster_unlock ? guard_cluster(g) : guard_member(g);
}
