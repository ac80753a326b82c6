/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cmd_fsync.c: the fsync lock (fsync, fsyncUnlock) and the operations it holds, as currentOp lists them. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sys/utsname.h>

#include "sim.h"
#include "cmd.h"

void cmd_fsync(sim *s, sim_conn *c, const bson_t *body, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_iter_t it;

	if (bson_iter_init_find(&it, body, "lock") && truthy(&it)) {
		m->lock_count++;
		BSON_APPEND_UTF8(r, "info", "now locked against writes, use db.fsyncUnlock() to unlock");
		BSON_APPEND_INT64(r, "lockCount", m->lock_count);
		BSON_APPEND_UTF8(r, "seeAlso", "http://dochub.mongodb.org/core/fsynccommand");
		BSON_APPEND_DOUBLE(r, "ok", 1.0);
		sim_logf(s, "member %d: fsync lock, lockCount %lld", m->id, (long long)m->lock_count);
		return;
	}
	BSON_APPEND_INT32(r, "numFiles", 1);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

void cmd_fsync_unlock(sim *s, sim_conn *c, bson_t *r)
{
	sim_member *m = &s->members[c->member];

	if (m->lock_count <= 0) {
		if (s->max_wire >= 21)
			sim_cmd_error(r, 20, "IllegalOperation", "fsyncUnlock called when not locked");
		else
			sim_cmd_error(r, 125, "CommandFailed", "fsyncUnlock called when not locked");
		return;
	}
	m->lock_count--;
	BSON_APPEND_UTF8(r, "info", "fsyncUnlock completed");
	BSON_APPEND_INT64(r, "lockCount", m->lock_count);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
	sim_logf(s, "member %d: fsyncUnlock, lockCount %lld", m->id, (long long)m->lock_count);
	if (m->lock_count == 0)
		sim_rs_unlock_effects(s, c->member);
}

/* One operation of connection k as $currentOp shows it: the request it runs (body, on db), a request
 * held by the fsync lock, or nothing (an idle connection). */
static bson_t *op_doc(sim *s, const sim_conn *k, const bson_t *body, const char *db, int64_t since_ms, bool held)
{
	bson_t *d = bson_new(), shown;
	char desc[32], stamp[40], ns[256];
	time_t now = time(NULL);
	struct tm tm;
	int64_t running = sim_now_ms() - since_ms;
	const char *cmd = "";
	bson_iter_t it;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S.000+00:00", &tm);
	snprintf(desc, sizeof desc, "conn%lld", (long long)k->id);
	if (body && bson_iter_init(&it, body) && bson_iter_next(&it))
		cmd = bson_iter_key(&it);
	BSON_APPEND_UTF8(d, "type", "op");
	BSON_APPEND_UTF8(d, "host", s->members[k->member].host);
	BSON_APPEND_UTF8(d, "desc", desc);
	BSON_APPEND_INT64(d, "connectionId", k->id);
	if (k->user >= 0) {
		bson_t users, u;

		BSON_APPEND_ARRAY_BEGIN(d, "effectiveUsers", &users);
		BSON_APPEND_DOCUMENT_BEGIN(&users, "0", &u);
		BSON_APPEND_UTF8(&u, "user", s->users[k->user].name);
		BSON_APPEND_UTF8(&u, "db", s->users[k->user].db);
		bson_append_document_end(&users, &u);
		bson_append_array_end(d, &users);
	}
	BSON_APPEND_BOOL(d, "active", body != NULL);
	BSON_APPEND_UTF8(d, "currentOpTime", stamp);
	if (!body)
		return d;
	BSON_APPEND_INT64(d, "opid", k->id * 1000 + (int64_t)(since_ms % 1000));
	BSON_APPEND_INT64(d, "secs_running", running / 1000);
	BSON_APPEND_INT64(d, "microsecs_running", running * 1000);
	if ((strcmp(cmd, "insert") == 0 || strcmp(cmd, "update") == 0 || strcmp(cmd, "delete") == 0) &&
	    bson_iter_init_find(&it, body, cmd) && BSON_ITER_HOLDS_UTF8(&it)) {
		/* the server names a delete's operation "remove" */
		BSON_APPEND_UTF8(d, "op", strcmp(cmd, "delete") == 0 ? "remove" : cmd);
		snprintf(ns, sizeof ns, "%s.%s", db, bson_iter_utf8(&it, NULL));
	} else {
		BSON_APPEND_UTF8(d, "op", "command");
		if (strcmp(cmd, "aggregate") == 0 && bson_iter_init_find(&it, body, "aggregate") && BSON_ITER_HOLDS_UTF8(&it))
			snprintf(ns, sizeof ns, "%s.%s", db, bson_iter_utf8(&it, NULL));
		else
			snprintf(ns, sizeof ns, "%s.$cmd%s", db, strcmp(cmd, "aggregate") == 0 ? ".aggregate" : "");
	}
	BSON_APPEND_UTF8(d, "ns", ns);
	bson_init(&shown);
	bson_copy_to_excluding_noinit(body, &shown, "lsid", "$clusterTime", "documents", NULL);
	BSON_APPEND_DOCUMENT(d, "command", &shown);
	bson_destroy(&shown);
	BSON_APPEND_INT32(d, "numYields", 0);
	if (held) {
		bson_t locks;

		BSON_APPEND_DOCUMENT_BEGIN(d, "locks", &locks);
		BSON_APPEND_UTF8(&locks, "Global", "w");
		bson_append_document_end(d, &locks);
	}
	BSON_APPEND_BOOL(d, "waitingForLock", held);
	return d;
}

/* The operations on c's member: c's own request (body), every held or waiting request of other
 * connections, and (idle) the connections doing nothing.  Without all_users, only c's user's. */
void collect_ops(sim *s, sim_conn *c, const bson_t *body, const char *db, bool all_users, bool idle,
                        doc_list *l)
{
	for (sim_conn *k = s->conns; k; k = k->next) {
		/* A mongos's operations reach the shards from every router: on a mongos, every router's. */
		if (k->kind != SIM_CONN_MEMBER || (k->member != c->member && s->role != SIM_ROLE_MONGOS) || k->dead)
			continue;
		if (!all_users && s->auth && k->user != c->user)
			continue;
		if (k == c)
			docs_push(l, op_doc(s, k, body, db, sim_now_ms(), false));
		else if (k->op_body)
			docs_push(l, op_doc(s, k, k->op_body, k->op_db, k->op_start_ms, k->held && !k->awaiting));
		else if (idle)
			docs_push(l, op_doc(s, k, NULL, NULL, 0, false));
	}
}

/* currentOp: {currentOp: 1, $all, $ownOps, FILTER...}; fsyncLock and info while locked (the member's
 * lock; on a mongos, a lock of the cluster's). */
void cmd_current_op(sim *s, sim_conn *c, const bson_t *body, bool locked, bson_t *r)
{
	bson_t arr, filter = BSON_INITIALIZER;
	bson_iter_t it;
	bool all = false, own = false, first = true;
	doc_list l = {0};
	char key[16];
	size_t n = 0;

	if (bson_iter_init(&it, body))
		while (bson_iter_next(&it)) {
			const char *k = bson_iter_key(&it);

			if (first) {
				first = false;
				continue;
			}
			if (strcmp(k, "$all") == 0)
				all = truthy(&it);
			else if (strcmp(k, "$ownOps") == 0)
				own = truthy(&it);
			else if (!sim_args_generic(k))
				bson_append_iter(&filter, k, -1, &it);
		}
	collect_ops(s, c, body, "admin", !own, all, &l);
	BSON_APPEND_ARRAY_BEGIN(r, "inprog", &arr);
	for (size_t i = 0; i < l.n; i++) {
		bson_iter_t a;

		if (!all && (!bson_iter_init_find(&a, l.v[i], "active") || !bson_iter_as_bool(&a)))
			continue;
		if (!matches(l.v[i], &filter))
			continue;
		snprintf(key, sizeof key, "%zu", n++);
		BSON_APPEND_DOCUMENT(&arr, key, l.v[i]);
	}
	bson_append_array_end(r, &arr);
	docs_clear(&l);
	bson_destroy(&filter);
	if (locked) {
		BSON_APPEND_BOOL(r, "fsyncLock", true);
		BSON_APPEND_UTF8(r, "info", "use db.fsyncUnlock() to terminate the fsync write/snapshot lock");
	}
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}
