/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* job_report.c: the text of --dry-run (every member, a verdict, a reason) and of --status. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "jobint.h"
#include "release.h"

/* The LAG column: "-" where lag means nothing. */
static const char *
lag_text(const mbh_topology *t, size_t i, char *buf, size_t len)
{
	const mbh_member *m = &t->members[i];

	if (m->arbiter || m->health != 1 || m->state == MBH_RS_PRIMARY || m->optime_ms == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%llds", (long long)mbh_topology_lag_seconds(t, i));
	return buf;
}

/* Close a memstream into *text. */
static int
finish_text(FILE *f, char **buf, char **text, mbh_error *err)
{
	if (fclose(f) != 0) {
		free(*buf);
		*buf = NULL;
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	*text = *buf;
	*buf = NULL;
	return 0;
}

/* The --dry-run table. */
int
mbh_job_render_choice(char **text, const mbh_topology *t, const mbh_selection *sel, mbh_error *err)
{
	char *buf = NULL, lag[32], pri[32];
	size_t len = 0, i, width = 16;
	FILE *f;

	*text = NULL;
	if ((f = open_memstream(&buf, &len)) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	for (i = 0; i < t->nmembers; i++)
		if (strlen(t->members[i].host) > width)
			width = strlen(t->members[i].host);
	fprintf(f, "%-*s  %-10s %-3s %-5s %-4s %-9s %s\n", (int)width, "MEMBER", "STATE", "PRI", "VOTES", "LAG",
		"VERDICT", "REASON");
	for (i = 0; i < t->nmembers; i++) {
		const mbh_member *m = &t->members[i];
		const mbh_verdict *v = &sel->verdicts[i];

		snprintf(pri, sizeof(pri), "%g", m->priority);
		fprintf(f, "%-*s  %-10s %-3s %-5d %-4s %-9s %s\n", (int)width, m->host,
			m->health == 1 ? m->state_str : "DOWN", pri, m->votes, lag_text(t, i, lag, sizeof(lag)),
			v->rank == 1 ? "CHOSEN" : v->eligible ? "eligible" : "no", v->reason);
	}
	if (sel->chosen >= 0)
		fprintf(f, "would lock %s: %s\n", t->members[sel->chosen].host, sel->verdicts[sel->chosen].reason);
	else
		fprintf(f, "nothing would be locked: %s\n", sel->summary);
	if (sel->warning[0] != '\0')
		fprintf(f, "warning: %s\n", sel->warning);
	return finish_text(f, &buf, text, err);
}

/* --status of a SNAPSHOT record: nothing is locked, a snapshot waits for mongo-postbackup. */
static void
render_snapshot(FILE *f, const mbh_state_rec *rec)
{
	char taken[64], since[64];
	int64_t now = (int64_t)time(NULL);

	mbh_fmt_time(rec->snapshot_since, taken, sizeof(taken));
	mbh_fmt_time(rec->since, since, sizeof(since));
	fprintf(f, "set:       %s\n", rec->set_name);
	fprintf(f, "member:    %s (unlocked right after the snapshot)\n", rec->member);
	fprintf(f, "phase:     SNAPSHOT\n");
	fprintf(f, "snapshot:  %s\n", rec->snapshot);
	fprintf(f, "taken:     %s (%lld s ago)\n", taken, (long long)(now - rec->snapshot_since));
	fprintf(f, "job:       %s\n", rec->job[0] != '\0' ? rec->job : "-");
	fprintf(f, "mode:      %s\n", rec->mode);
	fprintf(f, "pid:       %ld\n", rec->pid);
	fprintf(f, "host:      %s\n", rec->hostname);
	fprintf(f, "locked:    %s, lockCount %lld, released\n", since, (long long)rec->lock_count);
	if (rec->command_pid > 0)
		fprintf(f, "command:   pid %ld (%s)\n", rec->command_pid,
			mbh_proc_starttime(rec->command_pid) == rec->command_start ? "running" : "gone");
	fprintf(f, "watchdog:  none needed (nothing is locked); mongo-postbackup removes the snapshot\n");
}

/* The --status text. */
int
mbh_job_render_status(char **text, const char *set, const char *state_dir, const mbh_state_rec *rec,
		      bool present, bool *stale, mbh_error *err)
{
	char *buf = NULL, since[64], deadline[64];
	size_t len = 0;
	bool running;
	FILE *f;

	*text = NULL;
	*stale = false;
	if ((f = open_memstream(&buf, &len)) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	if (set == NULL) {
		fprintf(f, "nothing is locked (no state in %s)\n", state_dir);
	} else if (!present) {
		fprintf(f, "nothing is locked for %s\n", set);
	} else if (rec->phase == MBH_PHASE_SNAPSHOT) {
		render_snapshot(f, rec);
	} else {
		mbh_fmt_time(rec->since, since, sizeof(since));
		fprintf(f, "set:       %s\n", rec->set_name);
		fprintf(f, "member:    %s\n", rec->member);
		fprintf(f, "phase:     %s\n", rec->phase == MBH_PHASE_LOCKED ? "LOCKED" : "LOCKING");
		fprintf(f, "lockCount: %lld\n", (long long)rec->lock_count);
		if (rec->snapshot[0] != '\0')
			fprintf(f, "snapshot:  %s (taken, still locked: the unlock comes next)\n", rec->snapshot);
		fprintf(f, "job:       %s\n", rec->job[0] != '\0' ? rec->job : "-");
		fprintf(f, "mode:      %s\n", rec->mode);
		fprintf(f, "pid:       %ld\n", rec->pid);
		fprintf(f, "host:      %s\n", rec->hostname);
		fprintf(f, "since:     %s (%lld s ago)\n", since, (long long)(time(NULL) - rec->since));
		fprintf(f, "frozen:    %s\n", rec->frozen ? "yes" : "no");
		if (rec->command_pid > 0)
			fprintf(f, "command:   pid %ld (%s)\n", rec->command_pid,
				mbh_proc_starttime(rec->command_pid) == rec->command_start ? "running" : "gone");
		mbh_fmt_time(rec->deadline, deadline, sizeof(deadline));
		/* a dead watchdog may be a zombie for a while (its parent, bacula-fd or init, reaps it late) */
		running = rec->watchdog_pid > 0 && mbh_proc_running(rec->watchdog_pid, rec->watchdog_start);
		if (rec->watchdog_pid > 0 && running)
			fprintf(f, "watchdog:  pid %ld (running), unlocks at %s%s\n", rec->watchdog_pid, deadline,
				rec->deadline < (int64_t)time(NULL) ? " (passed: it keeps trying)" : "");
		else if (rec->watchdog_pid > 0)
			fprintf(f, "watchdog:  pid %ld NOT RUNNING: nothing unlocks this at %s\n", rec->watchdog_pid,
				deadline);
		else
			fprintf(f, "watchdog:  none; deadline %s\n", deadline);
		*stale = !running;
	}
	return finish_text(f, &buf, text, err);
}
