/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* rs.c: the replica-set model: states, elections, the oplog, replication with lag, locks and freezes. */
#include "autoconfig.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* Name of a member state as replSetGetStatus spells it. */
const char *sim_state_str(int state)
{
	switch (state) {
	case SIM_ST_PRIMARY: return "PRIMARY";
	case SIM_ST_SECONDARY: return "SECONDARY";
	case SIM_ST_RECOVERING: return "RECOVERING";
	case SIM_ST_STARTUP2: return "STARTUP2";
	case SIM_ST_ARBITER: return "ARBITER";
	case SIM_ST_DOWN: return "DOWN";
	default: return "STARTUP";
	}
}

/* The last applied optime of m (arbiters: zero). */
sim_optime sim_rs_optime(const sim *s, const sim_member *m)
{
	sim_optime z = {0, 0, -1, 0};

	if (m->arbiter || m->applied == 0 || m->applied > s->n_oplog)
		return z;
	return s->oplog[m->applied - 1].op;
}

/* Others can talk to member idx. */
bool sim_rs_reachable(const sim *s, int idx)
{
	return idx >= 0 && (size_t)idx < s->n_members && s->members[idx].up && !s->members[idx].partitioned;
}

/* Could idx win an election now? */
bool sim_rs_electable(const sim *s, int idx, int64_t now)
{
	const sim_member *m = &s->members[idx];

	return !m->arbiter && m->priority > 0 && sim_rs_reachable(s, idx) && m->lock_count == 0 &&
	       m->frozen_until_ms <= now && (m->state == SIM_ST_SECONDARY || m->state == SIM_ST_PRIMARY);
}

static int optime_cmp(const sim_optime *a, const sim_optime *b)
{
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	if (a->i != b->i)
		return a->i < b->i ? -1 : 1;
	return 0;
}

/* Apply entries [m->applied, to) to m and persist them. */
static void apply_upto(sim *s, sim_member *m, size_t to)
{
	size_t from = m->applied;

	if (to <= from || m->arbiter)
		return;
	m->applied = to;
	if (sim_datadir_append(s, m, from, to) != 0)
		sim_logf(s, "member %d: cannot write its data directory", m->id);
}

static sim_optime next_optime(sim *s, int64_t now)
{
	sim_optime op = {0, 0, s->term, now};
	uint32_t secs = (uint32_t)(now / 1000);

	if (s->n_oplog) {
		const sim_optime *last = &s->oplog[s->n_oplog - 1].op;

		op.t = secs > last->t ? secs : last->t;
		op.i = op.t == last->t ? last->i + 1 : 1;
	} else {
		op.t = secs;
		op.i = 1;
	}
	return op;
}

static int append_entry(sim *s, char kind, const char *ns, const bson_t *doc, bool noop, int64_t now,
                        const char *router, int64_t seq)
{
	sim_entry *e;

	if (kind != 'i' && s->n_mutations == s->cap_mutations) {
		size_t cap = s->cap_mutations ? s->cap_mutations * 2 : 64;
		size_t *n = realloc(s->mutations, cap * sizeof *n);

		if (!n)
			return -1;
		s->mutations = n;
		s->cap_mutations = cap;
	}
	if (s->n_oplog == s->cap_oplog) {
		size_t cap = s->cap_oplog ? s->cap_oplog * 2 : 1024;
		sim_entry *n = realloc(s->oplog, cap * sizeof *n);

		if (!n)
			return -1;
		s->oplog = n;
		s->cap_oplog = cap;
	}
	e = &s->oplog[s->n_oplog];
	memset(e, 0, sizeof *e);
	e->op = next_optime(s, now);
	e->noop = noop;
	e->kind = kind;
	e->ns = ns ? strdup(ns) : NULL;
	e->doc = doc ? bson_copy(doc) : bson_new();
	e->router = router ? strdup(router) : NULL;
	e->seq = seq;
	if ((ns && !e->ns) || !e->doc || (router && !e->router)) {
		free(e->ns);
		free(e->router);
		bson_destroy(e->doc);
		return -1;
	}
	if (kind != 'i')
		s->mutations[s->n_mutations++] = s->n_oplog;
	s->n_oplog++;
	return 0;
}

/* The primary takes one entry and applies it; 0 or -1 (no primary / no memory). */
static int primary_write(sim *s, char kind, const char *ns, const bson_t *doc, bool noop, const char *router,
                         int64_t seq)
{
	sim_member *p;

	if (s->primary < 0)
		return -1;
	p = &s->members[s->primary];
	if (append_entry(s, kind, ns, doc, noop, sim_now_ms(), router, seq) != 0)
		return -1;
	apply_upto(s, p, s->n_oplog);
	sim_rs_update_commit(s);
	return 0;
}

/* The primary takes one write (or no-op) and applies it; 0 or -1 (no primary / no memory). */
int sim_rs_write(sim *s, const char *ns, const bson_t *doc, bool noop)
{
	return primary_write(s, 'i', ns, doc, noop, NULL, 0);
}

/* The primary takes one insert, update or delete (kind 'i', 'u', 'd'); router/seq: a write a mongos
 * routed here is stamped with the router's id and sequence number (router NULL: a client's own). */
int sim_rs_write_kind(sim *s, char kind, const char *ns, const bson_t *doc, const char *router, int64_t seq)
{
	return primary_write(s, kind, ns, doc, false, router, seq);
}

static void write_noop(sim *s, const char *msg)
{
	bson_t o = BSON_INITIALIZER;

	BSON_APPEND_UTF8(&o, "msg", msg);
	sim_rs_write(s, NULL, &o, true);
	bson_destroy(&o);
}

/* Make idx primary (term + 1, catch-up, "new primary" no-op). */
void sim_rs_elect(sim *s, int idx)
{
	sim_member *m = &s->members[idx];

	if (s->primary >= 0 && s->primary != idx)
		s->members[s->primary].state = SIM_ST_SECONDARY;
	s->term++;
	/* catchUpTimeoutMillis -1: a new primary first catches up with the newest member. */
	apply_upto(s, m, s->n_oplog);
	m->state = SIM_ST_PRIMARY;
	m->frozen_until_ms = 0;
	s->primary = idx;
	m->election_ms = sim_now_ms();
	write_noop(s, "new primary");
	m->election_op = sim_rs_optime(s, m);
	sim_logf(s, "member %d is primary (term %lld)", idx, (long long)s->term);
	sim_rs_topology_changed(s);
}

/* What hello says changed: every member's topologyVersion counter grows and waiting hellos answer. */
void sim_rs_topology_changed(sim *s)
{
	for (size_t i = 0; i < s->n_members; i++)
		s->members[i].tv_counter++;
	sim_loop_wake_hellos(s);
}

/* The best electable member other than exclude, or -1. */
int sim_rs_best_electable(const sim *s, int exclude, int64_t now)
{
	int best = -1;

	for (size_t i = 0; i < s->n_members; i++) {
		if ((int)i == exclude || !sim_rs_electable(s, (int)i, now))
			continue;
		if (best < 0 || s->members[i].priority > s->members[best].priority)
			best = (int)i;
	}
	return best;
}

/* idx (the primary) steps down; the best electable member takes over, if any. */
void sim_rs_stepdown(sim *s, int idx)
{
	int next;

	if (s->primary != idx)
		return;
	s->members[idx].state = SIM_ST_SECONDARY;
	s->primary = -1;
	next = sim_rs_best_electable(s, idx, sim_now_ms());
	if (next >= 0)
		sim_rs_elect(s, next);
	else {
		sim_logf(s, "member %d stepped down; no electable member, no primary", idx);
		sim_rs_topology_changed(s);
	}
}

/* Like a crashed mongod: no port, no connections, the lock is gone. */
void sim_rs_kill(sim *s, int idx)
{
	sim_member *m = &s->members[idx];
	char err[256];

	sim_loop_close_member_conns(s, idx);
	if (s->primary == idx)
		s->primary = -1;
	m->up = false;
	m->partitioned = false;
	m->state = SIM_ST_DOWN;
	m->lock_count = 0;
	m->held_ctl_writes = 0;
	/* Keep the port reserved but refusing connections. */
	if (sim_loop_listen_member(s, idx, false, m->port, err, sizeof err) != 0)
		sim_logf(s, "member %d: %s", idx, err);
	sim_rs_topology_changed(s);
}

/* Listen again, as a restarted mongod: SECONDARY (or ARBITER), unlocked. */
int sim_rs_revive(sim *s, int idx, char *err, size_t errlen)
{
	sim_member *m = &s->members[idx];

	if (m->up)
		return 0;
	if (sim_loop_listen_member(s, idx, true, m->port, err, errlen) != 0)
		return -1;
	m->up = true;
	m->state = m->arbiter ? SIM_ST_ARBITER : SIM_ST_SECONDARY;
	m->lock_count = 0;
	m->frozen_until_ms = 0;
	m->start_ms = sim_now_ms();
	bson_oid_init(&m->tv_process_id, NULL);   /* a new process */
	m->tv_counter = 0;
	sim_rs_topology_changed(s);
	return 0;
}

/* The fsync lock of idx went to 0: held writes proceed. */
void sim_rs_unlock_effects(sim *s, int idx)
{
	sim_member *m = &s->members[idx];

	if (s->primary == idx) {
		for (; m->held_ctl_writes > 0; m->held_ctl_writes--) {
			bson_t d = BSON_INITIALIZER;
			bson_oid_t oid;

			bson_oid_init(&oid, NULL);
			BSON_APPEND_OID(&d, "_id", &oid);
			BSON_APPEND_DATE_TIME(&d, "at", sim_now_ms());
			sim_rs_write(s, "sim.writes", &d, false);
			bson_destroy(&d);
		}
	}
	m->held_ctl_writes = 0;
	sim_loop_release_held(s, idx);
}

/* How many entries m can get: the most any other reachable data-bearing member has. */
static size_t available_for(const sim *s, int idx)
{
	size_t best = 0;

	if (s->primary >= 0 && s->primary != idx && !sim_rs_reachable(s, s->primary))
		return 0;   /* the primary is cut off: nothing new flows */
	for (size_t i = 0; i < s->n_members; i++) {
		const sim_member *o = &s->members[i];

		if ((int)i == idx || o->arbiter || !sim_rs_reachable(s, (int)i))
			continue;
		if (o->applied > best)
			best = o->applied;
	}
	return best;
}

static bool applies(const sim *s, int idx)
{
	const sim_member *m = &s->members[idx];

	return !m->arbiter && sim_rs_reachable(s, idx) && m->lock_count == 0 && m->state == SIM_ST_SECONDARY;
}

static int64_t due_ms(const sim *s, const sim_member *m, size_t k)
{
	return s->oplog[k].op.wall_ms + ((int64_t)m->lag_secs + m->delay_secs) * 1000;
}

static bool noop_due_possible(const sim *s)
{
	return s->primary >= 0 && s->members[s->primary].up && s->members[s->primary].lock_count == 0;
}

/* Voting members the others can reach (arbiters included). */
static int reachable_votes(const sim *s)
{
	int n = 0;

	for (size_t i = 0; i < s->n_members; i++)
		n += s->members[i].votes > 0 && sim_rs_reachable(s, (int)i);
	return n;
}

/* The member an election now would pick: electable, caught up (a majority of reachable voters has
 * nothing newer), highest priority, then newest optime, then lowest _id; -1 when none can win. */
static int election_winner(const sim *s, int64_t now)
{
	int best = -1, majority = sim_rs_majority_vote_count(s);
	sim_optime bop = {0, 0, 0, 0};

	for (size_t i = 0; i < s->n_members; i++) {
		const sim_member *m = &s->members[i];
		sim_optime op;
		int votes = 0;

		if (!sim_rs_electable(s, (int)i, now))
			continue;
		op = sim_rs_optime(s, m);
		for (size_t j = 0; j < s->n_members; j++) {
			sim_optime theirs = sim_rs_optime(s, &s->members[j]);

			if (s->members[j].votes > 0 && sim_rs_reachable(s, (int)j) && optime_cmp(&theirs, &op) <= 0)
				votes++;
		}
		if (votes < majority)
			continue;
		if (best < 0 || m->priority > s->members[best].priority ||
		    (m->priority == s->members[best].priority && optime_cmp(&op, &bop) > 0)) {
			best = (int)i;
			bop = op;
		}
	}
	return best;
}

/* Automatic elections: a primary that is gone, or cut off from a majority of voters, is replaced
 * electionTimeoutMillis later (it steps down itself); without a reachable majority, no primary. */
static bool primary_healthy(const sim *s)
{
	return s->primary >= 0 && sim_rs_reachable(s, s->primary) && reachable_votes(s) >= sim_rs_majority_vote_count(s);
}

static void election_tick(sim *s, int64_t now)
{
	bool healthy = primary_healthy(s);
	int winner;

	if (healthy) {
		s->no_primary_since_ms = 0;
		return;
	}
	if (s->no_primary_since_ms == 0) {
		s->no_primary_since_ms = now;
		return;
	}
	if (now - s->no_primary_since_ms < s->election_timeout_ms)
		return;
	s->no_primary_since_ms = now;   /* the next attempt, one timeout later */
	if (s->primary >= 0) {
		sim_logf(s, "member %d cannot see a majority: steps down", s->primary);
		s->members[s->primary].state = SIM_ST_SECONDARY;
		s->primary = -1;
		sim_rs_topology_changed(s);
	}
	if (reachable_votes(s) < sim_rs_majority_vote_count(s))
		return;
	if ((winner = election_winner(s, now)) >= 0) {
		sim_logf(s, "election: member %d wins after %d ms without a primary", winner, s->election_timeout_ms);
		sim_rs_elect(s, winner);
		s->no_primary_since_ms = 0;
	}
}

/* Run what is due: the periodic no-op, elections and every secondary's replication. */
void sim_rs_tick(sim *s, int64_t now)
{
	if (s->role == SIM_ROLE_MONGOS)
		return;   /* a router has no oplog and holds no elections */
	election_tick(s, now);
	if (noop_due_possible(s) && now >= s->next_noop_ms) {
		write_noop(s, "periodic noop");
		s->next_noop_ms = now + s->noop_interval_ms;
	} else if (!noop_due_possible(s)) {
		s->next_noop_ms = now + s->noop_interval_ms;
	}
	for (size_t i = 0; i < s->n_members; i++) {
		sim_member *m = &s->members[i];
		size_t avail, to;

		if (!applies(s, (int)i))
			continue;
		avail = available_for(s, (int)i);
		to = m->applied;
		while (to < avail && due_ms(s, m, to) <= now)
			to++;
		apply_upto(s, m, to);
	}
	sim_rs_update_commit(s);
}

/* The next instant something in the model is due (INT64_MAX = nothing). */
int64_t sim_rs_next_deadline(const sim *s, int64_t now)
{
	int64_t next = INT64_MAX;

	if (s->role == SIM_ROLE_MONGOS)
		return next;
	if (noop_due_possible(s))
		next = s->next_noop_ms;
	if (s->no_primary_since_ms > 0 && s->no_primary_since_ms + s->election_timeout_ms < next)
		next = s->no_primary_since_ms + s->election_timeout_ms;
	else if (s->no_primary_since_ms == 0 && !primary_healthy(s))
		next = now;   /* start the election timer at once */
	for (size_t i = 0; i < s->n_members; i++) {
		const sim_member *m = &s->members[i];

		if (!applies(s, (int)i) || m->applied >= available_for(s, (int)i))
			continue;
		if (due_ms(s, m, m->applied) < next)
			next = due_ms(s, m, m->applied);
	}
	return next;
}

int sim_rs_voting_count(const sim *s)
{
	int n = 0;

	for (size_t i = 0; i < s->n_members; i++)
		n += s->members[i].votes > 0;
	return n;
}

int sim_rs_writable_voting_count(const sim *s)
{
	int n = 0;

	for (size_t i = 0; i < s->n_members; i++)
		n += s->members[i].votes > 0 && !s->members[i].arbiter;
	return n;
}

int sim_rs_majority_vote_count(const sim *s)
{
	return sim_rs_voting_count(s) / 2 + 1;
}

int sim_rs_write_majority_count(const sim *s)
{
	int a = sim_rs_majority_vote_count(s), b = sim_rs_writable_voting_count(s);

	return a < b ? a : b;
}

static int cmp_desc(const void *a, const void *b)
{
	return -optime_cmp(a, b);
}

/* The majority commit point: the newest optime a write majority of voters has applied. */
void sim_rs_update_commit(sim *s)
{
	sim_optime ops[128];
	size_t n = 0;
	int k = sim_rs_write_majority_count(s);

	for (size_t i = 0; i < s->n_members && n < 128; i++) {
		const sim_member *m = &s->members[i];

		if (m->votes > 0 && !m->arbiter && sim_rs_reachable(s, (int)i))
			ops[n++] = sim_rs_optime(s, m);
	}
	if (k <= 0 || n < (size_t)k)
		return;
	qsort(ops, n, sizeof ops[0], cmp_desc);
	if (optime_cmp(&ops[k - 1], &s->committed) > 0)
		s->committed = ops[k - 1];
}

/* A member by _id or "127.0.0.1:PORT"; -1 when there is none. */
int sim_rs_find_member(const sim *s, const char *spec)
{
	char *end;
	long v;

	if (!spec || !*spec)
		return -1;
	for (size_t i = 0; i < s->n_members; i++)
		if (strcmp(s->members[i].host, spec) == 0)
			return (int)i;
	v = strtol(spec, &end, 10);
	if (*end != '\0' || v < 0 || (size_t)v >= s->n_members)
		return -1;
	return (int)v;
}

/* Count one received command for `ctl counters`. */
void sim_rs_count(sim_member *m, const char *cmd)
{
	sim_counter *n;
	char name[48];

	snprintf(name, sizeof name, "%s", cmd);
	for (size_t i = 0; i < m->n_counters; i++)
		if (strcmp(m->counters[i].name, name) == 0) {
			m->counters[i].count++;
			return;
		}
	if (m->n_counters >= 64)
		snprintf(name, sizeof name, "%s", "other");
	for (size_t i = 0; i < m->n_counters; i++)
		if (strcmp(m->counters[i].name, name) == 0) {
			m->counters[i].count++;
			return;
		}
	n = realloc(m->counters, (m->n_counters + 1) * sizeof *n);
	if (!n)
		return;
	m->counters = n;
	snprintf(n[m->n_counters].name, sizeof n[m->n_counters].name, "%s", name);
	n[m->n_counters].count = 1;
	m->n_counters++;
}

/* The initial state: one "initiating set" entry every data-bearing member has applied. */
void sim_rs_init(sim *s)
{
	int64_t now = sim_now_ms();
	bson_t o = BSON_INITIALIZER;

	s->config_version = 1;
	s->term = 0;
	s->primary = -1;
	s->start_ms = now;
	bson_oid_init(&s->replica_set_id, NULL);
	BSON_APPEND_UTF8(&o, "msg", "initiating set");
	append_entry(s, 'i', NULL, &o, true, now, NULL, 0);
	bson_destroy(&o);
	for (size_t i = 0; i < s->n_members; i++) {
		sim_member *m = &s->members[i];

		m->start_ms = now;
		bson_oid_init(&m->tv_process_id, NULL);
		if (!m->arbiter)
			apply_upto(s, m, s->n_oplog);
	}
	for (size_t i = 0; i < s->n_members; i++)
		if (s->members[i].state == SIM_ST_PRIMARY) {
			s->members[i].state = SIM_ST_SECONDARY;
			sim_rs_elect(s, (int)i);
		}
	s->next_noop_ms = now + s->noop_interval_ms;
	sim_rs_update_commit(s);
}

/* Free the oplog. */
void sim_rs_free(sim *s)
{
	for (size_t i = 0; i < s->n_oplog; i++) {
		free(s->oplog[i].ns);
		free(s->oplog[i].router);
		bson_destroy(s->oplog[i].doc);
	}
	free(s->oplog);
	s->oplog = NULL;
	s->n_oplog = 0;
	free(s->mutations);
	s->mutations = NULL;
	s->n_mutations = s->cap_mutations = 0;
}
