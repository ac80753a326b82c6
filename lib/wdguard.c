/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* wdguard.c: the watchdog's guard: read the record, learn from it, fire at the deadline (libc only). */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* See wdguard.h. */
int
mbh_wd_guard_run(mbh_wd_guard *g)
{
	const mbh_watchdog_settings *s = g->s;
	mbh_state_rec cur;
	mbh_error err;
	bool present = false, warned = false;
	int64_t poll_ms = mbh_seconds_ms(POLL_S), backoff = poll_ms, left;
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
		/* wake on the deadline itself (to the ms it was handed), not up to a poll after it */
		left = mbh_state_deadline_ms(&g->rec) - mbh_wall_ms();
		if (!g->fired && left > 0 && !*g->release_now) {
			nap(g, left < poll_ms ? left : poll_ms);
			continue;
		}
		if (!g->fired)
			MBH_CRASH("watchdog-fired");
		g->fired = true;
		if (g->fire(g, ++attempt) == 0)
			return 0;
		nap(g, backoff);
		backoff = backoff * 2 > mbh_seconds_ms(BACKOFF_MAX_S) ? mbh_seconds_ms(BACKOFF_MAX_S) : backoff * 2;
	}
	return 0;
}
