/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cmd_data.c: documents: insert, find, aggregate (the stages the simulator knows). */
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

/* Does the request allow reads on a secondary ($readPreference not primary, or OP_QUERY secondaryOk)? */
static bool secondary_ok(const sim_msg *req, const bson_t *body)
{
	bson_iter_t it, mode;

	if (req->opcode == SIM_OP_QUERY && (req->flags & 0x4))
		return true;
	if (bson_iter_init_find(&it, body, "$readPreference") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
	    bson_iter_recurse(&it, &mode) && bson_iter_find(&mode, "mode") && BSON_ITER_HOLDS_UTF8(&mode))
		return strcmp(bson_iter_utf8(&mode, NULL), "primary") != 0;
	return false;
}

static bool id_taken(const sim *s, const sim_member *m, const char *ns, const bson_iter_t *id);
static void append_dup_error(bson_t *arr, int32_t index, const char *ns, const bson_iter_t *id);

/* insert: every document gets an _id; a duplicate _id is a write error 11000 (ordered: the batch stops). */
int cmd_insert(sim *s, sim_conn *c, const bson_t *body, const char *db, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_iter_t it, docs;
	char ns[512];
	int32_t n = 0;
	bool ordered = true;
	bson_t errors;

	if (!bson_iter_init_find(&it, body, "insert") || !BSON_ITER_HOLDS_UTF8(&it)) {
		sim_cmd_error(r, 73, "InvalidNamespace", "insert: collection name must be a string");
		return 0;
	}
	snprintf(ns, sizeof ns, "%s.%s", db, bson_iter_utf8(&it, NULL));
	if (m->state != SIM_ST_PRIMARY || s->primary != c->member) {
		sim_cmd_error(r, 10107, "NotWritablePrimary", "not primary");
		return 0;
	}
	if (m->lock_count > 0)
		return 1;
	if (!bson_iter_init_find(&it, body, "documents") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &docs)) {
		sim_cmd_error(r, 9, "FailedToParse", "insert: 'documents' must be an array");
		return 0;
	}
	if (bson_iter_init_find(&it, body, "ordered"))
		ordered = truthy(&it);
	bson_init(&errors);
	for (int32_t index = 0; bson_iter_next(&docs); index++) {
		const uint8_t *data;
		uint32_t len;
		bson_t d;
		int rc;

		if (!BSON_ITER_HOLDS_DOCUMENT(&docs))
			continue;
		bson_iter_document(&docs, &len, &data);
		if (!bson_init_static(&d, data, len))
			continue;
		rc = sim_data_insert_one(s, m, ns, &d, index, &errors, NULL, 0);
		if (rc > 0)
			n++;
		else if (rc == 0 && ordered)
			break;
	}
	BSON_APPEND_INT32(r, "n", n);
	if (!bson_empty(&errors))
		BSON_APPEND_ARRAY(r, "writeErrors", &errors);
	bson_destroy(&errors);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
	return 0;
}

/* Insert one document d (an _id is added when it has none) on the primary m: 1 = inserted, 0 = a
 * duplicate _id (the write error, at index, appended to errors), -1 = failed.  router/seq: a write a
 * mongos routed here, stamped with them (NULL: a client's own). */
int sim_data_insert_one(sim *s, const sim_member *m, const char *ns, const bson_t *d, int32_t index, bson_t *errors,
                        const char *router, int64_t seq)
{
	bson_iter_t idit;
	bson_t copy;
	int rc;

	if (bson_iter_init_find(&idit, d, "_id") && id_taken(s, m, ns, &idit)) {
		append_dup_error(errors, index, ns, &idit);
		return 0;
	}
	bson_init(&copy);
	if (!bson_iter_init_find(&idit, d, "_id")) {
		bson_oid_t oid;

		bson_oid_init(&oid, NULL);
		BSON_APPEND_OID(&copy, "_id", &oid);
	}
	bson_concat(&copy, d);
	rc = sim_rs_write_kind(s, 'i', ns, &copy, router, seq) == 0 ? 1 : -1;
	bson_destroy(&copy);
	return rc;
}

/* Is the document of oplog entry k (of ns) replaced or deleted by a later entry m has applied? */
static bool superseded(const sim *s, const sim_member *m, size_t k)
{
	const sim_entry *e = &s->oplog[k];
	bson_iter_t id, other;

	if (s->n_mutations == 0 || !bson_iter_init_find(&id, e->doc, "_id"))
		return false;
	for (size_t j = s->n_mutations; j > 0; j--) {
		size_t pos = s->mutations[j - 1];
		const sim_entry *u = &s->oplog[pos];

		if (pos <= k)
			break;
		if (pos < m->applied && strcmp(u->ns, e->ns) == 0 && bson_iter_init_find(&other, u->doc, "_id") &&
		    value_eq(&id, &other))
			return true;
	}
	return false;
}

/* The next live document of ns on m (inserted or updated, and not replaced or deleted since, in what
 * m has applied) matching filter (NULL: all), from oplog position *k on; NULL at the end. */
const bson_t *sim_data_next(const sim *s, const sim_member *m, const char *ns, const bson_t *filter, size_t *k)
{
	for (; *k < m->applied && *k < s->n_oplog; (*k)++) {
		const sim_entry *e = &s->oplog[*k];

		if (!e->noop && e->kind != 'd' && e->ns && strcmp(e->ns, ns) == 0 && matches(e->doc, filter) &&
		    !superseded(s, m, *k)) {
			(*k)++;
			return e->doc;
		}
	}
	return NULL;
}

/* Equality of two BSON values (numbers compare by value). */
bool value_eq(const bson_iter_t *a, const bson_iter_t *b)
{
	const bson_value_t *va, *vb;

	if (BSON_ITER_HOLDS_NUMBER(a) && BSON_ITER_HOLDS_NUMBER(b))
		return bson_iter_as_double(a) == bson_iter_as_double(b);
	if (bson_iter_type(a) != bson_iter_type(b))
		return false;
	va = bson_iter_value((bson_iter_t *)a);
	vb = bson_iter_value((bson_iter_t *)b);
	switch (va->value_type) {
	case BSON_TYPE_UTF8:
		return va->value.v_utf8.len == vb->value.v_utf8.len &&
		       memcmp(va->value.v_utf8.str, vb->value.v_utf8.str, va->value.v_utf8.len) == 0;
	case BSON_TYPE_OID: return bson_oid_equal(&va->value.v_oid, &vb->value.v_oid);
	case BSON_TYPE_BOOL: return va->value.v_bool == vb->value.v_bool;
	case BSON_TYPE_DATE_TIME: return va->value.v_datetime == vb->value.v_datetime;
	case BSON_TYPE_NULL: return true;
	default: return false;
	}
}

bool matches(const bson_t *doc, const bson_t *filter)
{
	bson_iter_t f, d;

	if (!filter || !bson_iter_init(&f, filter))
		return true;
	while (bson_iter_next(&f)) {
		if (!bson_iter_init_find(&d, doc, bson_iter_key(&f)) || !value_eq(&f, &d))
			return false;
	}
	return true;
}

void cmd_find(sim *s, sim_conn *c, const sim_msg *req, const bson_t *body, const char *db, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	bson_iter_t it;
	bson_t cur, batch, filter;
	const bson_t *doc;
	bool have_filter = false;
	char ns[512], key[16];
	double limit = 0;
	size_t n = 0, bytes = 0;

	if (!bson_iter_init_find(&it, body, "find") || !BSON_ITER_HOLDS_UTF8(&it)) {
		sim_cmd_error(r, 73, "InvalidNamespace", "find: collection name must be a string");
		return;
	}
	snprintf(ns, sizeof ns, "%s.%s", db, bson_iter_utf8(&it, NULL));
	if (m->state != SIM_ST_PRIMARY && m->state != SIM_ST_SECONDARY) {
		sim_cmd_error(r, 13436, "NotPrimaryOrSecondary", "node is not in primary or recovering state");
		return;
	}
	if (m->state == SIM_ST_SECONDARY && !secondary_ok(req, body)) {
		sim_cmd_error(r, 13435, "NotPrimaryNoSecondaryOk", "not primary and secondaryOk=false");
		return;
	}
	if (bson_iter_init_find(&it, body, "filter") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		const uint8_t *data;
		uint32_t len;

		bson_iter_document(&it, &len, &data);
		have_filter = bson_init_static(&filter, data, len);
	}
	get_number(body, "limit", &limit);
	BSON_APPEND_DOCUMENT_BEGIN(r, "cursor", &cur);
	BSON_APPEND_ARRAY_BEGIN(&cur, "firstBatch", &batch);
	for (size_t k = 0; (doc = sim_data_next(s, m, ns, have_filter ? &filter : NULL, &k));) {
		if ((limit > 0 && n >= (size_t)limit) || bytes + doc->len > 8 * 1024 * 1024)
			break;
		snprintf(key, sizeof key, "%zu", n++);
		BSON_APPEND_DOCUMENT(&batch, key, doc);
		bytes += doc->len;
	}
	bson_append_array_end(&cur, &batch);
	BSON_APPEND_INT64(&cur, "id", 0);
	BSON_APPEND_UTF8(&cur, "ns", ns);
	bson_append_document_end(r, &cur);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

/* Is there a live document in ns whose _id equals id's value? */
static bool id_taken(const sim *s, const sim_member *m, const char *ns, const bson_iter_t *id)
{
	bson_t filter = BSON_INITIALIZER;
	size_t k = 0;
	bool taken;

	bson_append_iter(&filter, "_id", 3, id);
	taken = sim_data_next(s, m, ns, &filter, &k) != NULL;
	bson_destroy(&filter);
	return taken;
}

/* A writeErrors entry for a duplicate _id, worded as the server words it. */
static void append_dup_error(bson_t *arr, int32_t index, const char *ns, const bson_iter_t *id)
{
	bson_t e, kp, kv;
	char key[16], shown[512] = "";

	bson_init(&kv);
	bson_append_iter(&kv, "_id", -1, id);
	shell_doc(&kv, false, shown, sizeof shown);
	snprintf(key, sizeof key, "%u", bson_count_keys(arr));
	BSON_APPEND_DOCUMENT_BEGIN(arr, key, &e);
	BSON_APPEND_INT32(&e, "index", index);
	BSON_APPEND_INT32(&e, "code", 11000);
	BSON_APPEND_DOCUMENT_BEGIN(&e, "keyPattern", &kp);
	BSON_APPEND_INT32(&kp, "_id", 1);
	bson_append_document_end(&e, &kp);
	BSON_APPEND_DOCUMENT(&e, "keyValue", &kv);
	{
		char msg[1200];

		snprintf(msg, sizeof msg, "E11000 duplicate key error collection: %s index: _id_ dup key: %s", ns, shown);
		BSON_APPEND_UTF8(&e, "errmsg", msg);
	}
	bson_append_document_end(arr, &e);
	bson_destroy(&kv);
}

void docs_push(doc_list *l, bson_t *d)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		bson_t **nv = realloc(l->v, cap * sizeof *nv);

		if (!nv) {
			bson_destroy(d);
			return;
		}
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = d;
}

void docs_clear(doc_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		bson_destroy(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* Keep only the documents for which keep[i] is true (others are freed). */
static void docs_filter(doc_list *l, const bool *keep)
{
	size_t w = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (keep[i])
			l->v[w++] = l->v[i];
		else
			bson_destroy(l->v[i]);
	}
	l->n = w;
}

static bool sub_doc(const bson_iter_t *it, bson_t *out)
{
	const uint8_t *data;
	uint32_t len;

	if (!BSON_ITER_HOLDS_DOCUMENT(it))
		return false;
	bson_iter_document(it, &len, &data);
	return bson_init_static(out, data, len);
}

/* $group with a constant _id and {$sum: NUMBER} accumulators (what countDocuments sends). */
static int stage_group(doc_list *l, const bson_iter_t *spec, bson_t *r)
{
	bson_t g, *out;
	bson_iter_t f, acc;

	if (!sub_doc(spec, &g) || !bson_iter_init(&f, &g)) {
		sim_cmd_error(r, 15947, "Location15947", "a group's fields must be specified in an object");
		return -1;
	}
	out = bson_new();
	while (bson_iter_next(&f)) {
		const char *k = bson_iter_key(&f);

		if (strcmp(k, "_id") == 0) {
			if (BSON_ITER_HOLDS_UTF8(&f) && bson_iter_utf8(&f, NULL)[0] == '$')
				goto unsupported;
			bson_append_iter(out, "_id", -1, &f);
			continue;
		}
		if (!BSON_ITER_HOLDS_DOCUMENT(&f) || !bson_iter_recurse(&f, &acc) || !bson_iter_next(&acc) ||
		    strcmp(bson_iter_key(&acc), "$sum") != 0 || !BSON_ITER_HOLDS_NUMBER(&acc))
			goto unsupported;
		if (BSON_ITER_HOLDS_DOUBLE(&acc)) {
			BSON_APPEND_DOUBLE(out, k, bson_iter_double(&acc) * (double)l->n);
		} else {
			int64_t sum = bson_iter_as_int64(&acc) * (int64_t)l->n;

			if (sum >= INT32_MIN && sum <= INT32_MAX)
				BSON_APPEND_INT32(out, k, (int32_t)sum);
			else
				BSON_APPEND_INT64(out, k, sum);
		}
	}
	if (!bson_has_field(out, "_id")) {
		bson_destroy(out);
		sim_cmd_error(r, 15955, "Location15955", "a group specification must include an _id");
		return -1;
	}
	/* no input documents: no group at all (countDocuments then reads 0) */
	if (l->n > 0) {
		docs_clear(l);
		docs_push(l, out);
	} else
		bson_destroy(out);
	return 0;
unsupported:
	bson_destroy(out);
	sim_cmd_error(r, 2, "BadValue", "mongo-rs-sim: $group supports only a constant _id and {$sum: NUMBER}");
	return -1;
}

/* aggregate's arguments, as both a member and a mongos check them: *coll the collection (NULL for
 * {aggregate: 1}), *st the stages.  0, or -1 with the error in r. */
int sim_aggregate_args(const bson_t *body, const char **coll, bson_iter_t *st, bson_t *r)
{
	bson_iter_t it, pipe;

	*coll = NULL;
	if (!bson_iter_init_find(&it, body, "aggregate"))
		return -1;
	if (BSON_ITER_HOLDS_UTF8(&it))
		*coll = bson_iter_utf8(&it, NULL);
	else if (!BSON_ITER_HOLDS_NUMBER(&it) || bson_iter_as_int64(&it) != 1) {
		sim_cmd_error(r, 73, "InvalidNamespace", "Invalid value for aggregate: must be a collection name or 1");
		return -1;
	}
	if (!bson_iter_init_find(&pipe, body, "pipeline") || !BSON_ITER_HOLDS_ARRAY(&pipe) ||
	    !bson_iter_recurse(&pipe, st)) {
		sim_cmd_error(r, 14, "TypeMismatch", "'pipeline' option must be specified as an array");
		return -1;
	}
	if (!bson_has_field(body, "cursor") && !bson_has_field(body, "explain")) {
		sim_cmd_error(r, 9, "FailedToParse",
		              "The 'cursor' option is required, except for aggregate with the explain argument");
		return -1;
	}
	return 0;
}

/* aggregate: $match (equality), $limit, $skip, $count, $group (counting) over a collection's live
 * documents or local.system.replset; {aggregate: 1} on admin with a leading $currentOp. */
void cmd_aggregate(sim *s, sim_conn *c, const sim_msg *req, const bson_t *body, const char *db, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	doc_list l = {0};
	bson_iter_t st;
	char ns[512];
	const char *coll;

	if (sim_aggregate_args(body, &coll, &st, r) != 0)
		return;
	if (m->state != SIM_ST_PRIMARY && m->state != SIM_ST_SECONDARY) {
		sim_cmd_error(r, 13436, "NotPrimaryOrSecondary", "node is not in primary or recovering state");
		return;
	}
	if (m->state == SIM_ST_SECONDARY && !secondary_ok(req, body)) {
		sim_cmd_error(r, 13435, "NotPrimaryNoSecondaryOk", "not primary and secondaryOk=false");
		return;
	}
	snprintf(ns, sizeof ns, "%s.%s", db, coll ? coll : "");
	if (coll && strcmp(ns, "local.system.replset") == 0) {
		bson_t cfg;
		bson_iter_t ci;

		if (!sim_auth_has(s, c, SIM_ACT_RS_CONFIG) && !sim_auth_has(s, c, SIM_ACT_FIND)) {
			not_authorized(r, db, body);
			return;
		}
		bson_init(&cfg);
		build_config(s, &cfg);
		if (bson_iter_init_find(&ci, &cfg, "config") && BSON_ITER_HOLDS_DOCUMENT(&ci)) {
			bson_t sub;

			if (sub_doc(&ci, &sub))
				docs_push(&l, bson_copy(&sub));
		}
		bson_destroy(&cfg);
	} else if (coll) {
		const bson_t *doc;

		if (!sim_auth_has(s, c, SIM_ACT_FIND)) {
			not_authorized(r, db, body);
			return;
		}
		for (size_t k = 0; (doc = sim_data_next(s, m, ns, NULL, &k));)
			docs_push(&l, bson_copy(doc));
	}
	sim_aggregate_run(s, c, body, db, coll, &st, &l, r);
}

/* Run the stages st over l (the source's documents; freed here) and answer: one batch, cursor id 0. */
void sim_aggregate_run(sim *s, sim_conn *c, const bson_t *body, const char *db, const char *coll, bson_iter_t *stages,
                       doc_list *src, bson_t *r)
{
	doc_list l = *src;
	bson_iter_t st = *stages;
	bson_t cur, batch;
	char ns[512], key[24];
	bool first = true;
	size_t bytes = 0, n = 0;

	*src = (doc_list){0};
	if (coll)
		snprintf(ns, sizeof ns, "%s.%s", db, coll);
	else
		snprintf(ns, sizeof ns, "%s.$cmd.aggregate", db);
	while (bson_iter_next(&st)) {
		bson_t stage;
		bson_iter_t si;
		const char *name;

		if (!sub_doc(&st, &stage) || !bson_iter_init(&si, &stage) || !bson_iter_next(&si)) {
			sim_cmd_error(r, 40323, "Location40323",
			              "A pipeline stage specification object must contain exactly one field.");
			goto out;
		}
		name = bson_iter_key(&si);
		if (strcmp(name, "$currentOp") == 0) {
			bson_t opts;
			bson_iter_t o;
			bool all_users = false;

			if (!first || coll || strcmp(db, "admin") != 0) {
				sim_cmd_error(r, 73, "InvalidNamespace",
				              "$currentOp must be run against the 'admin' database with {aggregate: 1}");
				goto out;
			}
			bool idle = false;

			if (sub_doc(&si, &opts) && bson_iter_init_find(&o, &opts, "allUsers"))
				all_users = truthy(&o);
			if (sub_doc(&si, &opts) && bson_iter_init_find(&o, &opts, "idleConnections"))
				idle = truthy(&o);
			if (all_users && !sim_auth_has(s, c, SIM_ACT_INPROG)) {
				not_authorized(r, db, body);
				goto out;
			}
			collect_ops(s, c, body, db, all_users, idle, &l);
		} else if (!coll && first) {
			sim_cmd_error(r, 73, "InvalidNamespace",
			              "{aggregate: 1} is not valid for '%s'; a collection is required.", name);
			goto out;
		} else if (strcmp(name, "$match") == 0) {
			bson_t f;
			bool *keep;

			if (!sub_doc(&si, &f)) {
				sim_cmd_error(r, 15959, "Location15959", "the match filter must be an expression in an object");
				goto out;
			}
			keep = calloc(l.n ? l.n : 1, sizeof *keep);
			if (!keep)
				goto out;
			for (size_t i = 0; i < l.n; i++)
				keep[i] = matches(l.v[i], &f);
			docs_filter(&l, keep);
			free(keep);
		} else if (strcmp(name, "$limit") == 0 || strcmp(name, "$skip") == 0) {
			bool limit = name[1] == 'l';
			int64_t v = BSON_ITER_HOLDS_NUMBER(&si) ? bson_iter_as_int64(&si) : -1;
			bool *keep;

			if (v < (limit ? 1 : 0)) {
				sim_cmd_error(r, limit ? 15958 : 15956, limit ? "Location15958" : "Location15956",
				              limit ? "the limit must be positive" : "the number to skip cannot be negative");
				goto out;
			}
			keep = calloc(l.n ? l.n : 1, sizeof *keep);
			if (!keep)
				goto out;
			for (size_t i = 0; i < l.n; i++)
				keep[i] = limit ? (int64_t)i < v : (int64_t)i >= v;
			docs_filter(&l, keep);
			free(keep);
		} else if (strcmp(name, "$count") == 0) {
			bson_t *d;

			if (!BSON_ITER_HOLDS_UTF8(&si) || !bson_iter_utf8(&si, NULL)[0]) {
				sim_cmd_error(r, 40156, "Location40156", "the count field must be a non-empty string");
				goto out;
			}
			d = bson_new();
			BSON_APPEND_INT32(d, bson_iter_utf8(&si, NULL), (int32_t)l.n);
			if (l.n) {
				docs_clear(&l);
				docs_push(&l, d);
			} else
				bson_destroy(d);
		} else if (strcmp(name, "$group") == 0) {
			if (stage_group(&l, &si, r) != 0)
				goto out;
		} else {
			sim_cmd_error(r, 40324, "Location40324", "Unrecognized pipeline stage name: '%s'", name);
			goto out;
		}
		first = false;
	}
	if (!coll && first) {
		sim_cmd_error(r, 73, "InvalidNamespace", "{aggregate: 1} is not valid for an empty pipeline.");
		goto out;
	}
	BSON_APPEND_DOCUMENT_BEGIN(r, "cursor", &cur);
	BSON_APPEND_ARRAY_BEGIN(&cur, "firstBatch", &batch);
	for (size_t i = 0; i < l.n && bytes + l.v[i]->len <= 8 * 1024 * 1024; i++) {
		snprintf(key, sizeof key, "%zu", n++);
		BSON_APPEND_DOCUMENT(&batch, key, l.v[i]);
		bytes += l.v[i]->len;
	}
	bson_append_array_end(&cur, &batch);
	BSON_APPEND_INT64(&cur, "id", 0);
	BSON_APPEND_UTF8(&cur, "ns", ns);
	bson_append_document_end(r, &cur);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
out:
	docs_clear(&l);
}
