/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_select.c: the member choice, rule by rule, with the exact reasons (TAP). */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "select.h"
#include "tap.h"

#define BASE_MS 1700000000000LL

/* A table under construction: members are appended in config order. */
static mbh_topology *
topo_new(int write_majority_count)
{
	mbh_topology *t = calloc(1, sizeof(*t));

	t->set_name = strdup("rs0");
	t->write_majority_count = write_majority_count;
	t->primary = -1;
	t->date_ms = BASE_MS;
	return t;
}

/* Append a healthy member in state, data-bearing, lag 0. */
static mbh_member *
add(mbh_topology *t, const char *host, int state, double priority, int votes)
{
	static const char *names[] = { "STARTUP", "PRIMARY", "SECONDARY", "RECOVERING", "FATAL", "STARTUP2",
				       "UNKNOWN", "ARBITER", "DOWN", "ROLLBACK", "REMOVED" };
	mbh_member *m;

	t->members = realloc(t->members, (t->nmembers + 1) * sizeof(*t->members));
	m = &t->members[t->nmembers];
	memset(m, 0, sizeof(*m));
	m->id = (int)t->nmembers;
	m->host = strdup(host);
	m->priority = priority;
	m->votes = votes;
	m->build_indexes = true;
	m->health = state == MBH_RS_DOWN ? 0 : 1;
	m->state = state;
	m->state_str = strdup(names[state]);
	m->optime_ms = state == MBH_RS_ARBITER ? 0 : BASE_MS;
	m->sync_source = strdup("");
	if (state == MBH_RS_ARBITER)
		m->arbiter = true;
	if (state == MBH_RS_PRIMARY)
		t->primary = (int)t->nmembers;
	t->nmembers++;
	return m;
}

static void
add_tag(mbh_member *m, const char *key, const char *value)
{
	m->tags = realloc(m->tags, (m->ntags + 1) * sizeof(*m->tags));
	m->tags[m->ntags].key = strdup(key);
	m->tags[m->ntags].value = strdup(value);
	m->ntags++;
}

static void
set_sync(mbh_member *m, const char *host)
{
	free(m->sync_source);
	m->sync_source = strdup(host);
}

static mbh_select_opts
defaults(void)
{
	mbh_select_opts o;

	memset(&o, 0, sizeof(o));
	o.policy = MBH_POLICY_AUTO;
	o.max_lag_seconds = 30;
	return o;
}

/* Run the selection; returns its rc and leaves the result in *s. */
static int
run(mbh_selection **s, mbh_topology *t, const mbh_select_opts *o, mbh_error *err)
{
	mbh_error_init(err);
	return mbh_select(s, t, o, err);
}

static const char *
chosen_host(const mbh_topology *t, const mbh_selection *s)
{
	return s != NULL && s->chosen >= 0 ? t->members[s->chosen].host : "(none)";
}

static void
test_basic_psh(void)
{
	mbh_topology *t = topo_new(2);
	mbh_select_opts o = defaults();
	mbh_selection *s = NULL;
	mbh_error err;
	mbh_member *h;

	add(t, "db1:27017", MBH_RS_PRIMARY, 1, 1);
	add(t, "db2:27017", MBH_RS_SECONDARY, 1, 1);
	h = add(t, "db3:27017", MBH_RS_SECONDARY, 0, 0);
	h->hidden = true;
	add(t, "db4:27017", MBH_RS_ARBITER, 0, 1);
	is_int(run(&s, t, &o, &err), 0, "P-S-hidden-A: a member is chosen");
	is_str(chosen_host(t, s), "db3:27017", "hidden member chosen");
	is_str(s->verdicts[0].reason, "primary", "primary excluded");
	is_int(s->verdicts[0].eligible, 0, "primary not eligible");
	is_str(s->verdicts[3].reason, "arbiter", "arbiter excluded");
	is_str(s->verdicts[2].reason, "hidden, priority 0, votes 0, lag 0 s", "chosen reason");
	is_int(s->verdicts[2].rank, 1, "chosen rank 1");
	is_int(s->verdicts[1].rank, 0, "the other voter would stall majority writes");
	is_str(s->verdicts[1].reason, "locking it would stall majority writes (1 of 2 needed)", "other secondary reason");
	is_str(s->summary, "db3:27017 (hidden, priority 0, votes 0, lag 0 s), the only eligible member", "summary");
	is_str(s->warning, "", "no warning");
	mbh_selection_free(s);
	mbh_topology_free(t);
}

static void
test_states(void)
{
	mbh_topology *t = topo_new(1);
	mbh_select_opts o = defaults();
	mbh_selection *s = NULL;
	mbh_error err;
	mbh_member *m;
	char host[64];
	size_t i;

	add(t, "a:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "b:1", MBH_RS_DOWN, 1, 1);
	add(t, "c:1", MBH_RS_RECOVERING, 1, 1);
	add(t, "d:1", MBH_RS_STARTUP2, 1, 1);
	m = add(t, "e:1", MBH_RS_SECONDARY, 0, 0);
	m->build_indexes = false;
	m = add(t, "f:1", MBH_RS_SECONDARY, 0, 0);
	m->optime_ms = BASE_MS - 45000;
	m = add(t, "g:1", MBH_RS_SECONDARY, 0, 0);
	m->delay_secs = 3600;
	m->hidden = true;
	m->optime_ms = BASE_MS - 3600000;
	m = add(t, "h:1", MBH_RS_SECONDARY, 1, 1);
	m->health = 0; /* reported SECONDARY but unhealthy */
	is_int(run(&s, t, &o, &err), -1, "nothing eligible fails");
	is_int(err.code, 69, "nothing eligible: EX_UNAVAILABLE");
	ok(s != NULL && s->chosen == -1, "selection still filled for --dry-run");
	is_str(s->verdicts[1].reason, "down (not reachable/healthy)", "down member");
	is_str(s->verdicts[2].reason, "in state RECOVERING, not SECONDARY", "RECOVERING member");
	is_str(s->verdicts[3].reason, "in state STARTUP2, not SECONDARY", "STARTUP2 member");
	is_str(s->verdicts[4].reason, "buildIndexes is false", "buildIndexes false");
	is_str(s->verdicts[5].reason, "lag 45 s exceeds max_lag_seconds 30", "lag over max");
	is_str(s->verdicts[6].reason, "delayed by 3600 s (allow_delayed is off)", "delayed refused by default");
	is_str(s->verdicts[7].reason, "down (not reachable/healthy)", "unhealthy member");
	is_str(err.msg, s->summary, "error message is the summary");
	is_str(s->summary,
	       "no member of rs0 can be locked: a:1 primary; b:1 down (not reachable/healthy); c:1 in state RECOVERING, "
	       "not SECONDARY; d:1 in state STARTUP2, not SECONDARY; e:1 buildIndexes is false; f:1 lag 45 s exceeds "
	       "max_lag_seconds 30; g:1 delayed by 3600 s (allow_delayed is off); h:1 down (not reachable/healthy); see "
	       "--dry-run",
	       "summary lists every reason");
	ok(strstr(s->summary, "; see --dry-run") != NULL, "summary points at --dry-run");
	mbh_selection_free(s);

	/* more reasons than fit: whole ones, then ... */
	for (i = 0; i < 12; i++) {
		snprintf(host, sizeof(host), "down-member-%02zu.example.org:27017", i);
		add(t, host, MBH_RS_DOWN, 1, 1);
	}
	is_int(run(&s, t, &o, &err), -1, "20 members, nothing eligible: fails");
	ok(strstr(s->summary, "; ...; see --dry-run") != NULL, "summary lists whole reasons, then ...");
	ok(strstr(s->summary, "(not reachable/healthy); ...") != NULL, "the last reason listed is whole");
	ok(strlen(s->summary) < sizeof(s->summary) - 1, "summary not cut short");
	mbh_selection_free(s);

	/* the delayed member becomes eligible when allowed, its lag measured beyond its delay */
	o.allow_delayed = true;
	is_int(run(&s, t, &o, &err), 0, "allow_delayed: delayed member eligible");
	is_str(chosen_host(t, s), "g:1", "delayed member chosen");
	is_str(s->verdicts[6].reason, "hidden, delayed, priority 0, votes 0, lag 3600 s", "delayed reason");
	mbh_selection_free(s);
	mbh_topology_free(t);
}

static void
test_tags(void)
{
	mbh_topology *t = topo_new(1);
	mbh_select_opts o = defaults();
	mbh_tag want[] = { { (char *)"dc", (char *)"east" } };
	mbh_selection *s = NULL;
	mbh_error err;

	add(t, "a:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "b:1", MBH_RS_SECONDARY, 0, 0);
	add_tag(add(t, "c:1", MBH_RS_SECONDARY, 0, 0), "dc", "west");
	add_tag(add(t, "d:1", MBH_RS_SECONDARY, 0, 0), "dc", "east");
	o.tags = want;
	o.ntags = 1;
	is_int(run(&s, t, &o, &err), 0, "tags: chosen");
	is_str(chosen_host(t, s), "d:1", "only the matching member");
	is_str(s->verdicts[1].reason, "no tag dc (dc=east required)", "missing tag");
	is_str(s->verdicts[2].reason, "tag dc=west (dc=east required)", "wrong tag value");
	mbh_selection_free(s);
	mbh_topology_free(t);
}

static void
test_order(void)
{
	mbh_topology *t;
	mbh_select_opts o = defaults();
	mbh_selection *s = NULL;
	mbh_error err;
	mbh_member *m;

	/* hidden > passive > others, whatever the config order */
	t = topo_new(1);
	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "other:1", MBH_RS_SECONDARY, 1, 0);
	add(t, "passive:1", MBH_RS_SECONDARY, 0, 0);
	m = add(t, "hidden:1", MBH_RS_SECONDARY, 0, 1);
	m->hidden = true;
	run(&s, t, &o, &err);
	is_str(chosen_host(t, s), "hidden:1", "hidden before passive and others");
	is_int(s->verdicts[2].rank, 2, "passive second");
	is_int(s->verdicts[1].rank, 3, "electable third");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* votes 0 before voting, within one class */
	t = topo_new(1);
	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "voter:1", MBH_RS_SECONDARY, 0, 1);
	add(t, "nonvoter:1", MBH_RS_SECONDARY, 0, 0);
	run(&s, t, &o, &err);
	is_str(chosen_host(t, s), "nonvoter:1", "votes 0 before voting");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* then least lag */
	t = topo_new(1);
	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "slow:1", MBH_RS_SECONDARY, 0, 0)->optime_ms = BASE_MS - 5000;
	add(t, "fast:1", MBH_RS_SECONDARY, 0, 0)->optime_ms = BASE_MS - 1000;
	run(&s, t, &o, &err);
	is_str(chosen_host(t, s), "fast:1", "least lag first");
	is_str(s->verdicts[1].reason, "priority 0, votes 0, lag 5 s", "lag in the reason");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* then lowest priority */
	t = topo_new(1);
	add(t, "p:1", MBH_RS_PRIMARY, 3, 1);
	add(t, "two:1", MBH_RS_SECONDARY, 2, 0);
	add(t, "half:1", MBH_RS_SECONDARY, 0.5, 0);
	run(&s, t, &o, &err);
	is_str(chosen_host(t, s), "half:1", "lowest priority first");
	is_str(s->verdicts[2].reason, "priority 0.5, votes 0, lag 0 s", "fractional priority shown");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* then config order */
	t = topo_new(1);
	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "first:1", MBH_RS_SECONDARY, 0, 0);
	add(t, "second:1", MBH_RS_SECONDARY, 0, 0);
	run(&s, t, &o, &err);
	is_str(chosen_host(t, s), "first:1", "config order last");
	is_str(s->summary, "first:1 (priority 0, votes 0, lag 0 s), best of 2 eligible members", "summary");
	mbh_selection_free(s);
	mbh_topology_free(t);
}

static void
test_policies(void)
{
	mbh_topology *t = topo_new(2);
	mbh_select_opts o = defaults();
	mbh_selection *s = NULL;
	mbh_error err;
	mbh_member *m;
	const char *local[] = { "backuphost", "10.0.0.9", NULL };

	add(t, "db1:27017", MBH_RS_PRIMARY, 1, 1);
	add(t, "db2:27017", MBH_RS_SECONDARY, 1, 1);
	add(t, "BackupHost:27018", MBH_RS_SECONDARY, 1, 1);
	m = add(t, "db4:27017", MBH_RS_SECONDARY, 0, 0);
	m->hidden = true;

	o.policy = MBH_POLICY_MEMBER;
	o.member = "db2:27017";
	is_int(run(&s, t, &o, &err), 0, "policy member: accepted");
	is_str(chosen_host(t, s), "db2:27017", "policy member: the requested one, not the best");
	is_str(s->verdicts[3].reason, "not the requested member", "policy member: others");
	is_str(s->summary, "db2:27017 (priority 1, votes 1, lag 0 s), the only eligible member", "policy member summary");
	mbh_selection_free(s);

	o.member = "db1:27017";
	is_int(run(&s, t, &o, &err), -1, "policy member: primary refused");
	is_int(err.code, 69, "policy member refused: EX_UNAVAILABLE");
	is_str(err.msg, "requested member db1:27017 cannot be locked: primary", "policy member refused: reason");
	mbh_selection_free(s);

	o.member = "db9:27017";
	is_int(run(&s, t, &o, &err), -1, "policy member: unknown member");
	is_str(err.msg, "member db9:27017 is not in the configuration of rs0", "unknown member message");
	mbh_selection_free(s);

	o.policy = MBH_POLICY_LOCAL;
	o.member = NULL;
	o.local_hosts = local;
	is_int(run(&s, t, &o, &err), 0, "policy local: chosen");
	is_str(chosen_host(t, s), "BackupHost:27018", "policy local: the member on this host (case-insensitive)");
	is_str(s->verdicts[3].reason, "not on this host", "policy local: others");
	mbh_selection_free(s);

	local[0] = "elsewhere";
	is_int(run(&s, t, &o, &err), -1, "policy local: nothing here");
	is_str(err.msg, "no member of rs0 runs on this host (policy local); see --dry-run", "policy local message");
	mbh_selection_free(s);
	mbh_topology_free(t);
}

static void
test_majority(void)
{
	mbh_topology *t;
	mbh_select_opts o = defaults();
	mbh_selection *s = NULL;
	mbh_error err;

	/* PSA: the only other data-bearing voter */
	t = topo_new(2);
	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "s:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "a:1", MBH_RS_ARBITER, 0, 1);
	is_int(run(&s, t, &o, &err), -1, "PSA: refused");
	is_str(s->verdicts[1].reason, "locking it would stall majority writes (1 of 2 needed)", "PSA reason");
	is_str(err.msg,
	       "no member of rs0 can be locked: p:1 primary; s:1 locking it would stall majority writes (1 of 2 needed); "
	       "a:1 arbiter; see --dry-run",
	       "PSA summary");
	mbh_selection_free(s);

	o.allow_majority_stall = true;
	is_int(run(&s, t, &o, &err), 0, "PSA with allow_majority_stall: chosen");
	is_str(s->verdicts[1].reason, "priority 1, votes 1, lag 0 s, stalls majority writes (allowed)",
	       "allowed stall is said");
	mbh_selection_free(s);
	o.allow_majority_stall = false;
	mbh_topology_free(t);

	/* P-S-S with one secondary down */
	t = topo_new(2);
	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "s1:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "s2:1", MBH_RS_DOWN, 1, 1);
	is_int(run(&s, t, &o, &err), -1, "P-S-S, one down: refused");
	is_str(s->verdicts[1].reason, "locking it would stall majority writes (1 of 2 needed)", "P-S-S one down reason");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* P-S-S all up: fine */
	t = topo_new(2);
	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "s1:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "s2:1", MBH_RS_SECONDARY, 1, 1);
	is_int(run(&s, t, &o, &err), 0, "P-S-S all up: chosen");
	is_str(chosen_host(t, s), "s1:1", "P-S-S: first secondary");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* a votes-0 member never stalls, even in a thin set */
	t = topo_new(2);
	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "s:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "a:1", MBH_RS_ARBITER, 0, 1);
	add(t, "h:1", MBH_RS_SECONDARY, 0, 0)->hidden = true;
	is_int(run(&s, t, &o, &err), 0, "PSA + hidden votes 0: chosen");
	is_str(chosen_host(t, s), "h:1", "hidden non-voter chosen in PSA");
	mbh_selection_free(s);
	mbh_topology_free(t);
}

/* A fake currentOp: hosts listed in locked[] are fsync-locked, in silent[] do not answer; records who was asked. */
typedef struct fake_asker {
	const char *locked[8];
	const char *silent[8];
	int calls;
	char asked[256];
} fake_asker;

static bool
listed(const char *const *list, const char *host)
{
	size_t i;

	for (i = 0; i < 8 && list[i] != NULL; i++)
		if (strcmp(list[i], host) == 0)
			return true;
	return false;
}

static int
fake_ask(void *ctx, const mbh_member *m, bool *locked, mbh_error *err)
{
	fake_asker *a = ctx;
	size_t used = strlen(a->asked);

	a->calls++;
	snprintf(a->asked + used, sizeof(a->asked) - used, "%s%s", used > 0 ? " " : "", m->host);
	*locked = listed(a->locked, m->host);
	if (listed(a->silent, m->host))
		return mbh_error_set(err, 69, "cannot reach %s: connection refused", m->host);
	return 0;
}

/* P, electable S, passive S (priority 0, votes 1): writeMajorityCount 2, every member counts. */
static mbh_topology *
pss_passive(void)
{
	mbh_topology *t = topo_new(2);

	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "s1:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "s2:1", MBH_RS_SECONDARY, 0, 1);
	return t;
}

/* The table says who is locked (as after asking): the verdicts and their reasons. */
static void
test_fsync_locked_table(void)
{
	mbh_topology *t;
	mbh_select_opts o = defaults();
	mbh_selection *s = NULL;
	mbh_error err;

	/* someone else locked the electable secondary: only the primary applies the oplog */
	t = pss_passive();
	t->members[1].fsync = MBH_FSYNC_LOCKED;
	t->members[2].fsync = MBH_FSYNC_UNLOCKED;
	is_int(run(&s, t, &o, &err), -1, "P-S-S0, S locked by someone else: refused");
	is_int(err.code, 69, "refused: EX_UNAVAILABLE, as any set with no eligible member");
	is_str(s->verdicts[1].reason, "fsync-locked by someone else (currentOp)", "the locked member's reason");
	is_int(s->verdicts[1].eligible, 0, "the locked member is not a candidate (refuse_if_locked)");
	is_str(s->verdicts[2].reason,
	       "locking it would stall majority writes (1 of 2 needed; s1:1 is fsync-locked by someone else)",
	       "the passive member would stall majority writes, and the reason names the locked member");
	is_str(err.msg,
	       "no member of rs0 can be locked: p:1 primary; s1:1 fsync-locked by someone else (currentOp); s2:1 "
	       "locking it would stall majority writes (1 of 2 needed; s1:1 is fsync-locked by someone else); see "
	       "--dry-run",
	       "the refusal names the lock and the stall");
	mbh_selection_free(s);

	o.allow_majority_stall = true;
	is_int(run(&s, t, &o, &err), 0, "allow_majority_stall: still allowed");
	is_str(chosen_host(t, s), "s2:1", "allow_majority_stall: the passive member");
	is_str(s->verdicts[2].reason,
	       "priority 0, votes 1, lag 0 s, stalls majority writes (allowed; s1:1 is fsync-locked by someone else)",
	       "allow_majority_stall: the allowed stall names the locked member");
	is_str(s->verdicts[1].reason, "fsync-locked by someone else (currentOp)", "allow_majority_stall: locked still refused");
	mbh_selection_free(s);
	o.allow_majority_stall = false;

	/* --allow-locked: the locked member may be locked once more; it applies nothing already */
	o.allow_locked = true;
	is_int(run(&s, t, &o, &err), 0, "allow_locked: a member is chosen");
	is_str(chosen_host(t, s), "s1:1", "allow_locked: the member someone else locked (the passive one would stall)");
	is_str(s->verdicts[1].reason, "priority 1, votes 1, lag 0 s, fsync-locked by someone else (allowed)",
	       "allow_locked: said in the reason");
	is_int(s->verdicts[2].eligible, 0, "allow_locked: the passive member still stalls majority writes");
	mbh_selection_free(s);
	o.allow_locked = false;

	/* not locked after all: the passive member, as before */
	t->members[1].fsync = MBH_FSYNC_UNLOCKED;
	is_int(run(&s, t, &o, &err), 0, "P-S-S0, nobody locked: chosen");
	is_str(chosen_host(t, s), "s2:1", "P-S-S0, nobody locked: the passive member");
	is_str(s->verdicts[2].reason, "priority 0, votes 1, lag 0 s", "P-S-S0, nobody locked: plain reason");
	mbh_selection_free(s);

	/* could not ask: counts as not applying (the safe side), with the reason */
	t->members[1].fsync = MBH_FSYNC_NO_ANSWER;
	t->members[1].fsync_error = strdup("cannot reach s1:1: connection refused");
	is_int(run(&s, t, &o, &err), -1, "P-S-S0, S did not answer currentOp: refused");
	is_str(s->verdicts[1].reason, "no answer to currentOp: cannot reach s1:1: connection refused",
	       "the silent member's reason");
	is_str(s->verdicts[2].reason, "locking it would stall majority writes (1 of 2 needed; s1:1 did not answer currentOp)",
	       "a member that did not answer counts as not applying");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* seven voters, two locked, one silent: the remaining margin decides, and the reason lists them */
	t = topo_new(4);
	add(t, "p:1", MBH_RS_PRIMARY, 2, 1);
	add(t, "a:1", MBH_RS_SECONDARY, 1, 1)->fsync = MBH_FSYNC_LOCKED;
	add(t, "b:1", MBH_RS_SECONDARY, 1, 1)->fsync = MBH_FSYNC_LOCKED;
	add(t, "c:1", MBH_RS_SECONDARY, 1, 1)->fsync = MBH_FSYNC_NO_ANSWER;
	t->members[3].fsync_error = strdup("timed out");
	add(t, "d:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "e:1", MBH_RS_SECONDARY, 0, 1);
	add(t, "f:1", MBH_RS_SECONDARY, 0, 0)->fsync = MBH_FSYNC_LOCKED; /* votes 0: does not count */
	is_int(run(&s, t, &o, &err), -1, "7 voters, 2 locked, 1 silent: refused");
	is_str(s->verdicts[5].reason,
	       "locking it would stall majority writes (2 of 4 needed; a:1, b:1 are fsync-locked by someone else; c:1 "
	       "did not answer currentOp)",
	       "7 voters: the reason lists the locked and the silent members");
	is_str(s->verdicts[6].reason, "fsync-locked by someone else (currentOp)", "a votes-0 member locked by someone else");
	mbh_selection_free(s);
	mbh_topology_free(t);
}

/* With an asker: who is asked, and only when the answer can change a verdict that matters. */
static void
test_fsync_asking(void)
{
	mbh_topology *t;
	mbh_select_opts o = defaults();
	mbh_selection *s = NULL;
	mbh_error err;
	fake_asker a;
	mbh_member *m;

	o.ask_fsync = fake_ask;
	o.ask_ctx = &a;

	/* the defect: someone else locked the electable secondary; the passive one must not be locked */
	memset(&a, 0, sizeof(a));
	a.locked[0] = "s1:1";
	t = pss_passive();
	is_int(run(&s, t, &o, &err), -1, "asker, S locked: refused");
	is_str(a.asked, "s1:1", "asker, S locked: the electable secondary was asked, once");
	is_int(t->members[1].fsync, MBH_FSYNC_LOCKED, "asker, S locked: the answer is in the table");
	is_str(s->verdicts[2].reason,
	       "locking it would stall majority writes (1 of 2 needed; s1:1 is fsync-locked by someone else)",
	       "asker, S locked: the stall reason");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* the happy path: only the member whose answer decides the best candidate is asked */
	memset(&a, 0, sizeof(a));
	t = pss_passive();
	is_int(run(&s, t, &o, &err), 0, "asker, nobody locked: chosen");
	is_str(chosen_host(t, s), "s2:1", "asker, nobody locked: the passive member");
	is_str(a.asked, "s1:1", "asker, nobody locked: only s1:1 is asked (the lock itself checks s2:1)");
	is_int(t->members[2].fsync, MBH_FSYNC_NOT_ASKED, "asker, nobody locked: the chosen member not asked here");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* --dry-run settles every verdict */
	memset(&a, 0, sizeof(a));
	o.all_verdicts = true;
	t = pss_passive();
	is_int(run(&s, t, &o, &err), 0, "asker, all verdicts: chosen");
	is_str(a.asked, "s1:1 s2:1", "asker, all verdicts: both secondaries asked, once each");
	mbh_selection_free(s);
	mbh_topology_free(t);

	memset(&a, 0, sizeof(a));
	a.locked[0] = "s1:1";
	t = pss_passive();
	is_int(run(&s, t, &o, &err), -1, "asker, all verdicts, S locked: refused");
	is_str(s->verdicts[1].reason, "fsync-locked by someone else (currentOp)", "asker, all verdicts: the locked row");
	is_str(a.asked, "s1:1", "asker, all verdicts, S locked: nothing left to settle after s1:1");
	mbh_selection_free(s);
	mbh_topology_free(t);
	o.all_verdicts = false;

	/* someone else locked the passive member: the lock step refuses it (75); here it is not asked */
	memset(&a, 0, sizeof(a));
	a.locked[0] = "s2:1";
	t = pss_passive();
	is_int(run(&s, t, &o, &err), 0, "asker, passive locked: chosen (the lock step checks it)");
	is_str(chosen_host(t, s), "s2:1", "asker, passive locked: the passive member");
	is_str(a.asked, "s1:1", "asker, passive locked: only s1:1 asked");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* a member that cannot be asked counts as not applying */
	memset(&a, 0, sizeof(a));
	a.silent[0] = "s1:1";
	t = pss_passive();
	is_int(run(&s, t, &o, &err), -1, "asker, S silent: refused");
	is_str(t->members[1].fsync_error, "cannot reach s1:1: connection refused", "asker, S silent: the error is kept");
	is_str(s->verdicts[2].reason, "locking it would stall majority writes (1 of 2 needed; s1:1 did not answer currentOp)",
	       "asker, S silent: the stall reason says so");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* nobody is asked when no answer can matter */
	memset(&a, 0, sizeof(a));
	t = pss_passive();
	m = add(t, "h:1", MBH_RS_SECONDARY, 0, 0); /* hidden votes 0: the choice, and it never stalls */
	m->hidden = true;
	is_int(run(&s, t, &o, &err), 0, "asker, hidden votes 0: chosen");
	is_str(chosen_host(t, s), "h:1", "asker, hidden votes 0: the hidden member");
	is_int(a.calls, 0, "asker, hidden votes 0: nobody asked");
	mbh_selection_free(s);
	o.allow_majority_stall = true;
	t->members[3].hidden = false;
	t->members[3].votes = 1; /* now the passive voters tie; s2:1 comes first in config order */
	is_int(run(&s, t, &o, &err), 0, "asker, allow_majority_stall: chosen");
	is_int(a.calls, 0, "asker, allow_majority_stall: nobody asked (a stall would not refuse)");
	mbh_selection_free(s);
	o.allow_majority_stall = false;
	mbh_topology_free(t);

	memset(&a, 0, sizeof(a));
	t = topo_new(2);
	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "s:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "a:1", MBH_RS_ARBITER, 0, 1);
	is_int(run(&s, t, &o, &err), -1, "asker, PSA: refused");
	is_int(a.calls, 0, "asker, PSA: nobody asked (the stall does not depend on anyone's lock)");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* five voters, writeMajorityCount 3: asked until the margin is certain, no further */
	memset(&a, 0, sizeof(a));
	t = topo_new(3);
	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "s1:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "s2:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "s3:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "s4:1", MBH_RS_SECONDARY, 0, 1);
	is_int(run(&s, t, &o, &err), 0, "asker, 5 voters: chosen");
	is_str(chosen_host(t, s), "s4:1", "asker, 5 voters: the passive member");
	is_str(a.asked, "s1:1 s2:1", "asker, 5 voters: two answers settle it (3 of 3 needed even if s3:1 were locked)");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* five voters, one locked: the next answers decide, and a stalling best candidate gives way */
	memset(&a, 0, sizeof(a));
	a.locked[0] = "s1:1";
	a.locked[1] = "s2:1";
	t = topo_new(3);
	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "s1:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "s2:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "s3:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "s4:1", MBH_RS_SECONDARY, 0, 1);
	is_int(run(&s, t, &o, &err), -1, "asker, 5 voters, 2 locked: refused");
	is_str(a.asked, "s1:1 s2:1", "asker, 5 voters, 2 locked: asked until certain");
	is_str(s->verdicts[4].reason,
	       "locking it would stall majority writes (2 of 3 needed; s1:1, s2:1 are fsync-locked by someone else)",
	       "asker, 5 voters, 2 locked: the passive member's reason");
	is_str(s->verdicts[3].reason,
	       "locking it would stall majority writes (2 of 3 needed; s1:1, s2:1 are fsync-locked by someone else)",
	       "asker, 5 voters, 2 locked: the last electable member's reason");
	mbh_selection_free(s);
	mbh_topology_free(t);
}

/* After the lock: the members the choice counted on are asked again, as few as settle it. */
static void
test_fsync_recheck(void)
{
	mbh_topology *t;
	mbh_select_opts o = defaults();
	mbh_selection *s = NULL;
	mbh_error err;
	fake_asker a;

	o.ask_fsync = fake_ask;
	o.ask_ctx = &a;

	/* nobody locked anything meanwhile: s1:1 asked again, fine */
	memset(&a, 0, sizeof(a));
	t = pss_passive();
	is_int(run(&s, t, &o, &err), 0, "recheck: chosen");
	memset(&a, 0, sizeof(a));
	mbh_error_init(&err);
	is_int(mbh_select_recheck(t, (size_t)s->chosen, fake_ask, &a, &err), 0, "recheck, nothing new: 0");
	is_str(a.asked, "s1:1", "recheck, nothing new: s1:1 asked again");

	/* another run locked s1:1 after it was asked */
	memset(&a, 0, sizeof(a));
	a.locked[0] = "s1:1";
	mbh_error_init(&err);
	is_int(mbh_select_recheck(t, (size_t)s->chosen, fake_ask, &a, &err), -1, "recheck, s1:1 locked meanwhile: -1");
	is_int(err.code, 75, "recheck, s1:1 locked meanwhile: EX_TEMPFAIL (run again)");
	is_str(err.msg,
	       "with s2:1 locked, majority writes would stall (1 of 2 needed; s1:1 is fsync-locked by someone else): that "
	       "changed since the choice (another run at the same time?); run again",
	       "recheck, s1:1 locked meanwhile: the message");

	/* s1:1 stops answering: the safe side */
	memset(&a, 0, sizeof(a));
	t->members[1].fsync = MBH_FSYNC_UNLOCKED;
	a.silent[0] = "s1:1";
	mbh_error_init(&err);
	is_int(mbh_select_recheck(t, (size_t)s->chosen, fake_ask, &a, &err), -1, "recheck, s1:1 silent: -1");
	mbh_selection_free(s);
	mbh_topology_free(t);

	/* a votes-0 choice never needs it */
	memset(&a, 0, sizeof(a));
	t = pss_passive();
	add(t, "h:1", MBH_RS_SECONDARY, 0, 0)->hidden = true;
	mbh_error_init(&err);
	is_int(mbh_select_recheck(t, 3, fake_ask, &a, &err), 0, "recheck, votes 0: 0");
	is_int(a.calls, 0, "recheck, votes 0: nobody asked");
	mbh_topology_free(t);

	/* five voters: asked until the margin is certain again */
	memset(&a, 0, sizeof(a));
	t = topo_new(3);
	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	add(t, "s1:1", MBH_RS_SECONDARY, 1, 1)->fsync = MBH_FSYNC_UNLOCKED;
	add(t, "s2:1", MBH_RS_SECONDARY, 1, 1)->fsync = MBH_FSYNC_UNLOCKED;
	add(t, "s3:1", MBH_RS_SECONDARY, 1, 1);
	add(t, "s4:1", MBH_RS_SECONDARY, 0, 1);
	a.locked[0] = "s1:1";
	mbh_error_init(&err);
	is_int(mbh_select_recheck(t, 4, fake_ask, &a, &err), 0, "recheck, 5 voters, one locked meanwhile: still fine");
	is_str(a.asked, "s1:1 s2:1 s3:1", "recheck, 5 voters: asked until certain");
	mbh_topology_free(t);
}

static void
test_sync_warning(void)
{
	mbh_topology *t = topo_new(2);
	mbh_select_opts o = defaults();
	mbh_selection *s = NULL;
	mbh_error err;

	add(t, "p:1", MBH_RS_PRIMARY, 1, 1);
	set_sync(add(t, "s1:1", MBH_RS_SECONDARY, 0, 0), "p:1");
	set_sync(add(t, "s2:1", MBH_RS_SECONDARY, 1, 1), "s1:1");
	set_sync(add(t, "s3:1", MBH_RS_SECONDARY, 1, 1), "s1:1");
	is_int(run(&s, t, &o, &err), 0, "sync source: chosen");
	is_str(chosen_host(t, s), "s1:1", "passive chosen");
	is_str(s->warning, "s2:1, s3:1 sync from s1:1; they stop replicating while it is locked", "sync-source warning");
	mbh_selection_free(s);
	mbh_topology_free(t);
}

int
main(void)
{
	tap_init();
	test_basic_psh();
	test_states();
	test_tags();
	test_order();
	test_policies();
	test_majority();
	test_fsync_locked_table();
	test_fsync_asking();
	test_fsync_recheck();
	test_sync_warning();
	return tap_done();
}
