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

/*
 * Invariant 6: with m locked, do the other voting, data-bearing, healthy
 * members that apply the oplog (PRIMARY/SECONDARY) still make writeMajorityCount?
 * A member with votes 0 never counts toward the majority, so locking it changes nothing.
 */
static bool
stalls_majority(const mbh_topology *t, size_t i, int *left)
{
	size_t j;

	*left = 0;
	if (t->members[i].votes == 0)
		return false;
	for (j = 0; j < t->nmembers; j++) {
		const mbh_member *o = &t->members[j];

		if (j == i || o->votes == 0 || o->arbiter || o->health != 1)
			continue;
		if (o->state == MBH_RS_PRIMARY || o->state == MBH_RS_SECONDARY)
			(*left)++;
	}
	return *left < t->write_majority_count;
}

/* The filters, in order; fills reason and returns false at the first that fails. */
static bool
check_member(const mbh_topology *t, size_t i, const mbh_select_opts *opts, char *reason, size_t len)
{
	const mbh_member *m = &t->members[i];
	const char *v;
	int64_t lag;
	size_t k;
	int left;

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
	if (stalls_majority(t, i, &left) && !opts->allow_majority_stall) {
		snprintf(reason, len, "locking it would stall majority writes (%d of %d needed)", left,
			 t->write_majority_count);
		return false;
	}
	snprintf(reason, len, "%s%spriority %g, votes %d, lag %lld s%s", m->hidden ? "hidden, " : "",
		 m->delay_secs > 0 ? "delayed, " : "", m->priority, m->votes, (long long)mbh_topology_lag_seconds(t, i),
		 stalls_majority(t, i, &left) ? ", stalls majority writes (allowed)" : "");
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
	char entry[300];
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

/* Choose. */
int
mbh_select(mbh_selection **out, const mbh_topology *t, const mbh_select_opts *opts, mbh_error *err)
{
	mbh_selection *s = NULL;
	size_t *order = NULL, neligible = 0, i, j, tmp, nsync = 0, nlocal = 0;
	char list[160] = "", reasons[210] = "";
	const char *chosen_host;
	int rc = -1;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->verdicts = calloc(t->nmembers > 0 ? t->nmembers : 1, sizeof(*s->verdicts))) == NULL ||
	    (order = calloc(t->nmembers > 0 ? t->nmembers : 1, sizeof(*order))) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	s->n = t->nmembers;
	s->chosen = -1;
	for (i = 0; i < t->nmembers; i++) {
		s->verdicts[i].eligible =
			check_member(t, i, opts, s->verdicts[i].reason, sizeof(s->verdicts[i].reason));
		if (s->verdicts[i].eligible)
			order[neligible++] = i;
		if (opts->policy == MBH_POLICY_LOCAL && is_local(&t->members[i], opts->local_hosts))
			nlocal++;
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
	mbh_selection_free(s);
	return rc;
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
