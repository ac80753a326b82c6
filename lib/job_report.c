/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* job_report.c: the text of --dry-run (every member, a verdict, a reason) and of --status (text or JSON). */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <bson/bson.h>

#include "escape.h"
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
		running = mbh_state_guarded(rec);
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

/* A string member of the --status JSON (escaped as in messages: always valid UTF-8); NULL or "" is null. */
static void
json_str(bson_t *b, const char *key, const char *value)
{
	char buf[MBH_SNAPSHOT_MAX * 4 + 8];

	if (value == NULL || value[0] == '\0')
		BSON_APPEND_NULL(b, key);
	else
		BSON_APPEND_UTF8(b, key, mbh_escape(value, buf, sizeof(buf)));
}

/* An integer member, null when absent (0). */
static void
json_int(bson_t *b, const char *key, bool present, int64_t value)
{
	if (present)
		BSON_APPEND_INT64(b, key, value);
	else
		BSON_APPEND_NULL(b, key);
}

/* A boolean member, null when absent. */
static void
json_bool(bson_t *b, const char *key, bool present, bool value)
{
	if (present)
		BSON_APPEND_BOOL(b, key, value);
	else
		BSON_APPEND_NULL(b, key);
}

/* The --status JSON (fields in mongo-postbackup(1)); every key is always there. */
int
mbh_job_render_status_json(char **text, const char *set, const char *state_dir, const mbh_state_rec *rec,
			   bool present, bool *stale, mbh_error *err)
{
	bool locked = present && rec->phase != MBH_PHASE_SNAPSHOT;
	bool wd_running = false, cmd_running = false, snap = present && rec->snapshot[0] != '\0';
	char *json = NULL;
	bson_t b;
	int rc = -1;

	*text = NULL;
	*stale = false;
	if (locked) {
		wd_running = mbh_state_guarded(rec);
		*stale = !wd_running;
	}
	if (present && rec->command_pid > 0)
		cmd_running = mbh_proc_starttime(rec->command_pid) == rec->command_start;
	bson_init(&b);
	json_str(&b, "set", set);
	json_str(&b, "state_dir", state_dir);
	BSON_APPEND_BOOL(&b, "locked", locked);
	json_str(&b, "phase", present ? mbh_state_phase_name(rec->phase) : NULL);
	json_str(&b, "member", present ? rec->member : NULL);
	json_int(&b, "lock_count", present, present ? rec->lock_count : 0);
	json_str(&b, "job", present ? rec->job : NULL);
	json_str(&b, "mode", present ? rec->mode : NULL);
	json_int(&b, "pid", present, present ? rec->pid : 0);
	json_str(&b, "host", present ? rec->hostname : NULL);
	json_int(&b, "since", present, present ? rec->since : 0);
	json_int(&b, "deadline", locked && rec->deadline > 0, locked ? rec->deadline : 0);
	json_bool(&b, "frozen", locked, locked && rec->frozen);
	json_str(&b, "snapshot", snap ? rec->snapshot : NULL);
	json_int(&b, "snapshot_since", snap, snap ? rec->snapshot_since : 0);
	json_int(&b, "command_pid", present && rec->command_pid > 0, present ? rec->command_pid : 0);
	json_bool(&b, "command_running", present && rec->command_pid > 0, cmd_running);
	json_int(&b, "watchdog_pid", locked && rec->watchdog_pid > 0, locked ? rec->watchdog_pid : 0);
	json_bool(&b, "watchdog_running", locked && rec->watchdog_pid > 0, wd_running);
	BSON_APPEND_BOOL(&b, "stale", *stale);
	if ((json = bson_as_relaxed_extended_json(&b, NULL)) == NULL) {
		mbh_error_set(err, EX_SOFTWARE, "cannot render the status as JSON");
		goto out;
	}
	if (asprintf(text, "%s\n", json) < 0) {
		*text = NULL;
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	rc = 0;
out:
	bson_free(json);
	bson_destroy(&b);
	return rc;
}
