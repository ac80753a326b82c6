/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* select.c: pure choice of the member to lock, with a verdict and a reason for every member. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "select.h"

/* The host part of "host:port" / "[v6]:port" into buf. */
static void
host_part(const char *host_port, char *buf, size_t len)
{
	const char *end;
	size_t n;

	if (host_port[0] == '[') {
		host_port++;
		end = strchr(host_port, ']');
	} else {
		end = strrchr(host_port, ':');
	}
	n = end != NULL ? (size_t)(end - host_port) : strlen(host_port);
	if (n >= len)
		n = len - 1;
	memcpy(buf, host_port, n);
	buf[n] = '\0';
}

static bool
is_local(const mbh_member *m, const char *const *local_hosts)
{
	char host[256];
	size_t i;

	if (local_hosts == NULL)
		return false;
	host_part(m->host, host, sizeof(host));
	for (i = 0; local_hosts[i] != NULL; i++)
		if (strcasecmp(host, local_hosts[i]) == 0)
			return true;
	return false;
}

static const char *
member_tag(const mbh_member *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->ntags; i++)
		if (strcmp(m->tags[i].key, key) == 0)
			return m->tags[i].value;
	return NULL;
}

/* A member whose oplog application counts toward writeMajorityCount: voting, data-bearing, up, PRIMARY or SECONDARY. */
static bool
counts_for_majority(const mbh_member *o)
{
	return o->votes > 0 && !o->arbiter && o->health == 1 &&
	       (o->state == MBH_RS_PRIMARY || o->state == MBH_RS_SECONDARY);
}

/*
 * Applying the oplog as far as we know: someone else's fsync lock stops a
 * member's oplog application, and a member that did not answer currentOp
 * counts as not applying (we cannot tell, so the safe side).  A member not
 * asked counts as applying: it is asked whenever that could matter.
 */
static bool
applying(const mbh_member *o)
{
	return counts_for_majority(o) && (o->fsync == MBH_FSYNC_NOT_ASKED || o->fsync == MBH_FSYNC_UNLOCKED);
}

/*
 * Worth asking currentOp: a voting secondary not asked yet.  The primary is
 * never asked: a lock on it holds every write (a majority one included) with
 * or without ours, and once it is released the primary writes again.
 */
static bool
askable(const mbh_member *o)
{
	return counts_for_majority(o) && o->state == MBH_RS_SECONDARY && o->fsync == MBH_FSYNC_NOT_ASKED;
}

/*
 * Invariant 6: with member i locked, do the other voting, data-bearing, up
 * members still applying the oplog (PRIMARY/SECONDARY, not fsync-locked by
 * someone else) make writeMajorityCount?  *left counts them, *unasked those
 * of them whose lock state is not known yet.  A member with votes 0 never
 * counts toward the majority, so locking it changes nothing.
 */
static bool
stalls_majority(const mbh_topology *t, size_t i, int *left, int *unasked)
{
	size_t j;

	*left = *unasked = 0;
	if (t->members[i].votes == 0)
		return false;
	for (j = 0; j < t->nmembers; j++) {
		if (j == i || !applying(&t->members[j]))
			continue;
		(*left)++;
		if (askable(&t->members[j]))
			(*unasked)++;
	}
	return *left < t->write_majority_count;
}

/* Append ", host" (or "host" first) to list, whole hosts only; "..." once when full. */
static void
list_add(char *list, size_t len, const char *host)
{
	size_t used = strlen(list);

	if (used >= 3 && strcmp(list + used - 3, "...") == 0)
		return;
	if (used + strlen(host) + 2 + 5 < len)
		snprintf(list + used, len - used, "%s%s", used > 0 ? ", " : "", host);
	else if (used + 5 < len)
		snprintf(list + used, len - used, "%s...", used > 0 ? ", " : "");
}

/*
 * "; HOST is fsync-locked by someone else; HOST did not answer currentOp":
 * the members that count for the majority but were not counted as applying
 * for member i's stall verdict; "" when none.
 */
static void
not_applying_note(const mbh_topology *t, size_t i, char *buf, size_t len)
{
	char locked[160] = "", silent[160] = "";
	int nlocked = 0, nsilent = 0;
	size_t j, used;

	for (j = 0; j < t->nmembers; j++) {
		const mbh_member *o = &t->members[j];

		if (j == i || !counts_for_majority(o))
			continue;
		if (o->fsync == MBH_FSYNC_LOCKED) {
			list_add(locked, sizeof(locked), o->host);
			nlocked++;
		} else if (o->fsync == MBH_FSYNC_NO_ANSWER) {
			list_add(silent, sizeof(silent), o->host);
			nsilent++;
		}
	}
	buf[0] = '\0';
	if (nlocked > 0)
		snprintf(buf, len, "; %s %s fsync-locked by someone else", locked, nlocked == 1 ? "is" : "are");
	used = strlen(buf);
	if (nsilent > 0 && used < len)
		snprintf(buf + used, len - used, "; %s did not answer currentOp", silent);
}

/*
 * The filters, in order; fills reason and returns false at the first that
 * fails.  *unsettled: the member reached the majority check, passed it, and
 * members not asked yet could still make it fail (and that matters: it
 * refuses the member, or all_verdicts wants the reason right).
 */
static bool
check_member(const mbh_topology *t, size_t i, const mbh_select_opts *opts, char *reason, size_t len, bool *unsettled)
{
	const mbh_member *m = &t->members[i];
	const char *v;
	char note[200], stall_text[240];
	int64_t lag;
	size_t k;
	int left, unasked;
	bool stall;

	*unsettled = false;
	if (m->state == MBH_RS_PRIMARY && m->health == 1) {
		snprintf(reason, len, "primary");
		return false;
	}
	if (m->arbiter) {
		snprintf(reason, len, "arbiter");
		return false;
	}
	if (m->health != 1) {
		snprintf(reason, len, "down (not reachable/healthy)");
		return false;
	}
	if (m->state != MBH_RS_SECONDARY) {
		snprintf(reason, len, "in state %s, not SECONDARY", m->state_str);
		return false;
	}
	if (!m->build_indexes) {
		snprintf(reason, len, "buildIndexes is false");
		return false;
	}
	if (m->delay_secs > 0 && !opts->allow_delayed) {
		snprintf(reason, len, "delayed by %lld s (allow_delayed is off)", (long long)m->delay_secs);
		return false;
	}
	lag = mbh_topology_lag_seconds(t, i);
	/* a delayed member lags by design: only the lag beyond its delay counts */
	if (m->delay_secs > 0)
		lag = lag > m->delay_secs ? lag - m->delay_secs : 0;
	if (opts->max_lag_seconds >= 0 && lag > opts->max_lag_seconds) {
		snprintf(reason, len, "lag %lld s exceeds max_lag_seconds %d", (long long)lag, opts->max_lag_seconds);
		return false;
	}
	for (k = 0; k < opts->ntags; k++) {
		v = member_tag(m, opts->tags[k].key);
		if (v == NULL) {
			snprintf(reason, len, "no tag %s (%s=%s required)", opts->tags[k].key, opts->tags[k].key,
				 opts->tags[k].value);
			return false;
		}
		if (strcmp(v, opts->tags[k].value) != 0) {
			snprintf(reason, len, "tag %s=%s (%s=%s required)", opts->tags[k].key, v, opts->tags[k].key,
				 opts->tags[k].value);
			return false;
		}
	}
	if (opts->policy == MBH_POLICY_MEMBER && (opts->member == NULL || strcmp(m->host, opts->member) != 0)) {
		snprintf(reason, len, "not the requested member");
		return false;
	}
	if (opts->policy == MBH_POLICY_LOCAL && !is_local(m, opts->local_hosts)) {
		snprintf(reason, len, "not on this host");
		return false;
	}
	if (m->fsync == MBH_FSYNC_LOCKED && !opts->allow_locked) {
		snprintf(reason, len, "fsync-locked by someone else (currentOp)");
		return false;
	}
	if (m->fsync == MBH_FSYNC_NO_ANSWER) {
		/* the lock itself would need this answer (and this member) */
		snprintf(reason, len, "no answer to currentOp: %s", m->fsync_error != NULL ? m->fsync_error : "unknown");
		return false;
	}
	stall = stalls_majority(t, i, &left, &unasked);
	*unsettled = m->votes > 0 && !stall && left - unasked < t->write_majority_count &&
		     (opts->all_verdicts || !opts->allow_majority_stall);
	not_applying_note(t, i, note, sizeof(note));
	if (stall && !opts->allow_majority_stall) {
		snprintf(reason, len, "locking it would stall majority writes (%d of %d needed%s)", left,
			 t->write_majority_count, note);
		return false;
	}
	stall_text[0] = '\0';
	if (stall)
		snprintf(stall_text, sizeof(stall_text), ", stalls majority writes (allowed%s)", note);
	snprintf(reason, len, "%s%spriority %g, votes %d, lag %lld s%s", m->hidden ? "hidden, " : "",
		 m->delay_secs > 0 ? "delayed, " : "", m->priority, m->votes, (long long)mbh_topology_lag_seconds(t, i),
		 m->fsync == MBH_FSYNC_LOCKED ? ", fsync-locked by someone else (allowed)" : "");
	/* appended, cut at len like the rest (gcc -O1 saw the one-call form as a likely truncation) */
	k = strlen(reason);
	if (k + 1 < len)
		snprintf(reason + k, len - k, "%s", stall_text);
	return true;
}

/* Preference class: hidden 0, passive (priority 0) 1, others 2. */
static int
member_class(const mbh_member *m)
{
	if (m->hidden)
		return 0;
	return m->priority == 0 ? 1 : 2;
}

/* Negative if member a is preferred to b (DESIGN.md order). */
static int
compare_members(const mbh_topology *t, size_t a, size_t b)
{
	const mbh_member *ma = &t->members[a], *mb = &t->members[b];
	int64_t la, lb;

	if (member_class(ma) != member_class(mb))
		return member_class(ma) - member_class(mb);
	if ((ma->votes == 0) != (mb->votes == 0))
		return ma->votes == 0 ? -1 : 1;
	la = mbh_topology_lag_seconds(t, a);
	lb = mbh_topology_lag_seconds(t, b);
	if (la != lb)
		return la < lb ? -1 : 1;
	if (ma->priority != mb->priority)
		return ma->priority < mb->priority ? -1 : 1;
	return a < b ? -1 : 1;
}

/* Append "HOST reason" entries of the members considered to buf, whole entries only. */
static void
append_reasons(char *buf, size_t len, const mbh_topology *t, const mbh_selection *s, const mbh_select_opts *opts)
{
	char entry[600];
	size_t i, used;

	for (i = 0; i < t->nmembers; i++) {
		if (opts->policy == MBH_POLICY_LOCAL && !is_local(&t->members[i], opts->local_hosts))
			continue;
		used = strlen(buf);
		snprintf(entry, sizeof(entry), "%s%s %s", used > 0 ? "; " : "", t->members[i].host,
			 s->verdicts[i].reason);
		if (used + strlen(entry) + 5 >= len) {
			snprintf(buf + used, len - used, "; ...");
			return;
		}
		memcpy(buf + used, entry, strlen(entry) + 1);
	}
}

/* Ask member j and record the answer in the table. */
static int
ask_member(mbh_topology *t, size_t j, mbh_fsync_ask_fn ask, void *ctx, mbh_error *err)
{
	mbh_member *m = &t->members[j];
	mbh_error e;
	bool locked = false;

	mbh_error_init(&e);
	if (ask(ctx, m, &locked, &e) == 0) {
		m->fsync = locked ? MBH_FSYNC_LOCKED : MBH_FSYNC_UNLOCKED;
		return 0;
	}
	m->fsync = MBH_FSYNC_NO_ANSWER;
	free(m->fsync_error);
	if ((m->fsync_error = strdup(e.msg[0] != '\0' ? e.msg : "unknown error")) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	return 0;
}

/*
 * One pass of the filters and the order over what the table says now;
 * returns the number of eligible members, in order[] best first.
 */
static size_t
rank_members(const mbh_topology *t, const mbh_select_opts *opts, mbh_selection *s, size_t *order, bool *unsettled)
{
	size_t neligible = 0, i, j, tmp;

	for (i = 0; i < t->nmembers; i++) {
		memset(&s->verdicts[i], 0, sizeof(s->verdicts[i]));
		s->verdicts[i].eligible = check_member(t, i, opts, s->verdicts[i].reason, sizeof(s->verdicts[i].reason),
						       &unsettled[i]);
		if (s->verdicts[i].eligible)
			order[neligible++] = i;
	}
	/* insertion sort: member tables are small and the order must be stable */
	for (i = 1; i < neligible; i++)
		for (j = i; j > 0 && compare_members(t, order[j], order[j - 1]) < 0; j--) {
			tmp = order[j];
			order[j] = order[j - 1];
			order[j - 1] = tmp;
		}
	for (i = 0; i < neligible; i++)
		s->verdicts[order[i]].rank = (int)i + 1;
	return neligible;
}

/* Choose. */
int
mbh_select(mbh_selection **out, mbh_topology *t, const mbh_select_opts *opts, mbh_error *err)
{
	mbh_selection *s = NULL;
	size_t *order = NULL, neligible = 0, i, j, nsync = 0, nlocal = 0;
	bool *unsettled = NULL;
	char list[160] = "", reasons[400] = "";
	const char *chosen_host;
	int rc = -1;
	long target;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->verdicts = calloc(t->nmembers > 0 ? t->nmembers : 1, sizeof(*s->verdicts))) == NULL ||
	    (order = calloc(t->nmembers > 0 ? t->nmembers : 1, sizeof(*order))) == NULL ||
	    (unsettled = calloc(t->nmembers > 0 ? t->nmembers : 1, sizeof(*unsettled))) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	s->n = t->nmembers;
	s->chosen = -1;
	for (i = 0; i < t->nmembers; i++)
		if (opts->policy == MBH_POLICY_LOCAL && is_local(&t->members[i], opts->local_hosts))
			nlocal++;
	/*
	 * Rank, then settle with currentOp the one verdict that matters (the
	 * best candidate's; with all_verdicts every one, best first) while
	 * members not asked yet could still turn it into "would stall majority
	 * writes"; one member asked per round, so at most one round per member.
	 * Asking costs a SCRAM conversation with that member, so nobody is
	 * asked when the margin is wide enough (even if every member not asked
	 * were locked, the majority would still be reached), or the verdict is
	 * already a refusal, or the candidate has votes 0 (it never stalls).
	 */
	for (;;) {
		neligible = rank_members(t, opts, s, order, unsettled);
		if (opts->ask_fsync == NULL)
			break;
		/* best candidate first (only unsettled verdicts are eligible ones), so --dry-run asks as the lock does */
		target = -1;
		for (i = 0; i < neligible && target < 0 && (i == 0 || opts->all_verdicts); i++)
			if (unsettled[order[i]])
				target = (long)order[i];
		if (target < 0)
			break;
		/* an unsettled verdict has a member not asked yet among those counted as applying */
		for (j = 0; j < t->nmembers; j++)
			if ((long)j != target && askable(&t->members[j]))
				break;
		if (j == t->nmembers)
			break; /* cannot happen */
		if (ask_member(t, j, opts->ask_fsync, opts->ask_ctx, err) != 0)
			goto out;
	}

	if (neligible == 0) {
		if (opts->policy == MBH_POLICY_MEMBER) {
			for (i = 0; i < t->nmembers; i++)
				if (opts->member != NULL && strcmp(t->members[i].host, opts->member) == 0)
					break;
			if (i == t->nmembers)
				snprintf(s->summary, sizeof(s->summary), "member %s is not in the configuration of %s",
					 opts->member != NULL ? opts->member : "(none)", t->set_name);
			else
				snprintf(s->summary, sizeof(s->summary), "requested member %s cannot be locked: %s",
					 opts->member, s->verdicts[i].reason);
		} else if (opts->policy == MBH_POLICY_LOCAL && nlocal == 0) {
			snprintf(s->summary, sizeof(s->summary),
				 "no member of %s runs on this host (policy local); see --dry-run", t->set_name);
		} else {
			append_reasons(reasons, sizeof(reasons), t, s, opts);
			snprintf(s->summary, sizeof(s->summary), "no member of %s can be locked: %s; see --dry-run",
				 t->set_name, reasons);
		}
		mbh_error_set(err, EX_UNAVAILABLE, "%s", s->summary);
		*out = s;
		s = NULL;
		goto out;
	}

	s->chosen = (int)order[0];
	chosen_host = t->members[s->chosen].host;
	if (neligible == 1)
		snprintf(s->summary, sizeof(s->summary), "%s (%s), the only eligible member", chosen_host,
			 s->verdicts[s->chosen].reason);
	else
		snprintf(s->summary, sizeof(s->summary), "%s (%s), best of %zu eligible members", chosen_host,
			 s->verdicts[s->chosen].reason, neligible);
	/* chained replication: members syncing from the chosen one stall with it */
	for (i = 0; i < t->nmembers; i++) {
		size_t used = strlen(list);

		if ((int)i == s->chosen || t->members[i].health != 1 || strcmp(t->members[i].sync_source, chosen_host) != 0)
			continue;
		if (used + 1 < sizeof(list))
			snprintf(list + used, sizeof(list) - used, "%s%s", nsync > 0 ? ", " : "", t->members[i].host);
		nsync++;
	}
	if (nsync > 0)
		snprintf(s->warning, sizeof(s->warning), "%s sync%s from %s; %s stop%s replicating while it is locked", list,
			 nsync == 1 ? "s" : "", chosen_host, nsync == 1 ? "it" : "they", nsync == 1 ? "s" : "");
	*out = s;
	s = NULL;
	rc = 0;
out:
	free(order);
	free(unsettled);
	mbh_selection_free(s);
	return rc;
}

/* Invariant 6 after the lock: has someone locked a member the choice counted on? */
int
mbh_select_recheck(mbh_topology *t, size_t chosen, mbh_fsync_ask_fn ask, void *ctx, mbh_error *err)
{
	char note[200];
	int left, unasked;
	size_t j;

	if (chosen >= t->nmembers || t->members[chosen].votes == 0)
		return 0;
	/* what was seen unlocked may be locked now; locked and silent members already count as not applying */
	for (j = 0; j < t->nmembers; j++)
		if (j != chosen && t->members[j].fsync == MBH_FSYNC_UNLOCKED)
			t->members[j].fsync = MBH_FSYNC_NOT_ASKED;
	for (;;) {
		if (stalls_majority(t, chosen, &left, &unasked)) {
			not_applying_note(t, chosen, note, sizeof(note));
			return mbh_error_set(err, EX_TEMPFAIL,
					     "with %s locked, majority writes would stall (%d of %d needed%s): that changed "
					     "since the choice (another run at the same time?); run again",
					     t->members[chosen].host, left, t->write_majority_count, note);
		}
		if (left - unasked >= t->write_majority_count)
			return 0;
		for (j = 0; j < t->nmembers; j++)
			if (j != chosen && askable(&t->members[j]))
				break;
		if (j == t->nmembers)
			return 0; /* cannot happen: unasked > 0 */
		if (ask_member(t, j, ask, ctx, err) != 0)
			return -1;
	}
}

/* Free a selection; NULL is fine. */
void
mbh_selection_free(mbh_selection *s)
{
	if (s == NULL)
		return;
	free(s->verdicts);
	free(s);
}
