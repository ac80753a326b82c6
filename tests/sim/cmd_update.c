/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cmd_update.c: documents changed in place: update (a replacement, or $set, $unset and $inc of top-level
   fields; upsert; multi) and delete, each change one oplog entry (the whole new document, or the _id). */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "cmd.h"

void sim_write_result_init(sim_write_result *w)
{
	memset(w, 0, sizeof *w);
	bson_init(&w->upserted);
	bson_init(&w->errors);
}

void sim_write_result_clear(sim_write_result *w)
{
	bson_destroy(&w->upserted);
	bson_destroy(&w->errors);
}

/* {n, [nModified], [upserted], [writeErrors], ok: 1} as a server answers update and delete. */
void sim_write_result_reply(const sim_write_result *w, bool update, bson_t *r)
{
	BSON_APPEND_INT32(r, "n", w->n);
	if (update)
		BSON_APPEND_INT32(r, "nModified", w->n_modified);
	if (!bson_empty(&w->upserted))
		BSON_APPEND_ARRAY(r, "upserted", &w->upserted);
	if (!bson_empty(&w->errors))
		BSON_APPEND_ARRAY(r, "writeErrors", &w->errors);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
}

static void write_error(sim_write_result *w, int32_t index, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void write_error(sim_write_result *w, int32_t index, int code, const char *fmt, ...)
{
	char key[16], msg[1024];
	va_list ap;
	bson_t e;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(key, sizeof key, "%u", bson_count_keys(&w->errors));
	BSON_APPEND_DOCUMENT_BEGIN(&w->errors, key, &e);
	BSON_APPEND_INT32(&e, "index", index);
	BSON_APPEND_INT32(&e, "code", code);
	BSON_APPEND_UTF8(&e, "errmsg", msg);
	bson_append_document_end(&w->errors, &e);
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

/* The operator's argument document of u ($set, $unset, $inc), or an empty one. */
static bool op_arg(const bson_t *u, const char *op, bson_t *out)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, u, op) && sub_doc(&it, out))
		return true;
	bson_init(out);   /* static empty */
	return false;
}

/* field += by; 0, or an error code with msg. */
static int inc_value(bson_t *out, const char *field, const bson_iter_t *cur, const bson_iter_t *by, char *msg,
                     size_t msglen)
{
	if (!BSON_ITER_HOLDS_NUMBER(cur)) {
		snprintf(msg, msglen, "Cannot apply $inc to a value of non-numeric type (the field '%s' is of type %s)",
		         field, sim_bson_type_name(bson_iter_type(cur)));
		return 14;
	}
	if (BSON_ITER_HOLDS_DOUBLE(cur) || BSON_ITER_HOLDS_DOUBLE(by)) {
		BSON_APPEND_DOUBLE(out, field, bson_iter_as_double(cur) + bson_iter_as_double(by));
	} else {
		int64_t v = bson_iter_as_int64(cur) + bson_iter_as_int64(by);

		if (BSON_ITER_HOLDS_INT32(cur) && BSON_ITER_HOLDS_INT32(by) && v >= INT32_MIN && v <= INT32_MAX)
			BSON_APPEND_INT32(out, field, (int32_t)v);
		else
			BSON_APPEND_INT64(out, field, v);
	}
	return 0;
}

/* The operators' arguments are checked: known operators, documents, no dotted paths, numbers for $inc,
 * _id left alone.  0, or an error code with msg. */
static int check_ops(const bson_t *u, char *msg, size_t msglen)
{
	bson_iter_t it, f;

	bson_iter_init(&it, u);
	while (bson_iter_next(&it)) {
		const char *op = bson_iter_key(&it);
		bool inc = strcmp(op, "$inc") == 0;

		if (strcmp(op, "$set") != 0 && strcmp(op, "$unset") != 0 && !inc) {
			snprintf(msg, msglen, "Unknown modifier: %s. Expected a valid update modifier or pipeline-style update "
			         "specified as an array (the simulator knows $set, $unset and $inc)", op);
			return 9;
		}
		if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &f)) {
			snprintf(msg, msglen, "Modifiers operate on fields but we found type %s instead",
			         sim_bson_type_name(bson_iter_type(&it)));
			return 9;
		}
		while (bson_iter_next(&f)) {
			if (strchr(bson_iter_key(&f), '.')) {
				snprintf(msg, msglen, "mongo-rs-sim: updates of dotted paths ('%s') are not simulated",
				         bson_iter_key(&f));
				return 2;
			}
			if (strcmp(bson_iter_key(&f), "_id") == 0) {
				snprintf(msg, msglen, "Performing an update on the path '_id' would modify the immutable field '_id'");
				return 66;
			}
			if (inc && !BSON_ITER_HOLDS_NUMBER(&f)) {
				snprintf(msg, msglen, "Cannot increment with non-numeric argument: {%s: ...}", bson_iter_key(&f));
				return 14;
			}
		}
	}
	return 0;
}

/* out = u applied to doc (an operator update or a replacement; doc keeps its _id first).  0, or an
 * error code with msg. */
static int apply_update(const bson_t *doc, const bson_t *u, bool ops, bson_t *out, char *msg, size_t msglen)
{
	bson_t set, unset, inc;
	bson_iter_t it, id, x;
	int rc;

	bson_init(out);
	if (bson_iter_init_find(&id, doc, "_id") || (!ops && bson_iter_init_find(&id, u, "_id")))
		bson_append_iter(out, "_id", 3, &id);
	if (!ops) {
		if (bson_iter_init_find(&x, u, "_id") && bson_iter_init_find(&id, doc, "_id") && !value_eq(&x, &id)) {
			snprintf(msg, msglen, "After applying the update, the (immutable) field '_id' was found to have been altered");
			return 66;
		}
		bson_copy_to_excluding_noinit(u, out, "_id", NULL);
		return 0;
	}
	if ((rc = check_ops(u, msg, msglen)) != 0)
		return rc;
	op_arg(u, "$set", &set);
	op_arg(u, "$unset", &unset);
	op_arg(u, "$inc", &inc);
	bson_iter_init(&it, doc);
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);

		if (strcmp(k, "_id") == 0 || bson_has_field(&unset, k))
			continue;
		if (bson_iter_init_find(&x, &set, k))
			bson_append_iter(out, k, -1, &x);
		else if (bson_iter_init_find(&x, &inc, k)) {
			if ((rc = inc_value(out, k, &it, &x, msg, msglen)) != 0)
				return rc;
		} else
			bson_append_iter(out, k, -1, &it);
	}
	/* fields the document did not have: $set's value, $inc's amount */
	for (int pass = 0; pass < 2; pass++) {
		bson_iter_init(&it, pass ? &inc : &set);
		while (bson_iter_next(&it))
			if (!bson_has_field(doc, bson_iter_key(&it)) && !bson_has_field(out, bson_iter_key(&it)))
				bson_append_iter(out, bson_iter_key(&it), -1, &it);
	}
	return 0;
}

/* The documents of ns on m matching q, copied (writes may move the oplog): at most one unless all. */
static void targets(sim *s, const sim_member *m, const char *ns, const bson_t *q, bool all, doc_list *l)
{
	const bson_t *doc;

	for (size_t k = 0; (doc = sim_data_next(s, m, ns, q, &k));) {
		docs_push(l, bson_copy(doc));
		if (!all)
			break;
	}
}

/* One update statement {q, u, upsert, multi}: 1 done, 0 a write error (in w). */
int sim_data_update_stmt(sim *s, const sim_member *m, const char *ns, const bson_t *stmt, int32_t index,
                         sim_write_result *w, const char *router, int64_t seq)
{
	bson_iter_t it;
	bson_t q, u;
	bool multi = false, upsert = false, ops;
	doc_list l = {0};
	char msg[512];
	int rc = 1, code;

	if (!bson_iter_init_find(&it, stmt, "q") || !sub_doc(&it, &q)) {
		write_error(w, index, 40414, "BSON field 'update.updates.q' is missing but a required field");
		return 0;
	}
	if (!bson_iter_init_find(&it, stmt, "u") || BSON_ITER_HOLDS_ARRAY(&it) || !sub_doc(&it, &u)) {
		write_error(w, index, 9, "mongo-rs-sim: 'u' must be a document (pipeline-style updates are not simulated)");
		return 0;
	}
	if (bson_iter_init_find(&it, stmt, "multi"))
		multi = truthy(&it);
	if (bson_iter_init_find(&it, stmt, "upsert"))
		upsert = truthy(&it);
	ops = bson_iter_init(&it, &u) && bson_iter_next(&it) && bson_iter_key(&it)[0] == '$';
	if (multi && !ops) {
		write_error(w, index, 9, "multi update is not supported for replacement-style update");
		return 0;
	}
	targets(s, m, ns, &q, multi, &l);
	for (size_t i = 0; i < l.n; i++) {
		bson_t out;

		if ((code = apply_update(l.v[i], &u, ops, &out, msg, sizeof msg)) != 0) {
			bson_destroy(&out);
			write_error(w, index, code, "%s", msg);
			rc = 0;
			goto out;
		}
		w->n++;
		if (!bson_equal(&out, l.v[i])) {
			if (sim_rs_write_kind(s, 'u', ns, &out, router, seq + w->seqs) == 0) {
				w->seqs++;
				w->n_modified++;
			}
		}
		bson_destroy(&out);
	}
	if (l.n == 0 && upsert) {
		/* the new document: q's equality fields (or nothing for a replacement), then u; an _id if none */
		bson_t base = BSON_INITIALIZER, out, doc = BSON_INITIALIZER, upd;
		bson_iter_t f, id;
		char key[16];

		bson_iter_init(&f, &q);
		while (bson_iter_next(&f)) {
			bson_t sub;

			if (bson_iter_key(&f)[0] == '$' || (sub_doc(&f, &sub) && bson_iter_init(&it, &sub) &&
			                                    bson_iter_next(&it) && bson_iter_key(&it)[0] == '$'))
				continue;
			if (ops || strcmp(bson_iter_key(&f), "_id") == 0)
				bson_append_iter(&base, bson_iter_key(&f), -1, &f);
		}
		if ((code = apply_update(&base, &u, ops, &out, msg, sizeof msg)) != 0) {
			write_error(w, index, code, "%s", msg);
			rc = 0;
		} else {
			if (!bson_iter_init_find(&id, &out, "_id")) {
				bson_oid_t oid;

				bson_oid_init(&oid, NULL);
				BSON_APPEND_OID(&doc, "_id", &oid);
			}
			bson_concat(&doc, &out);
			if (sim_rs_write_kind(s, 'i', ns, &doc, router, seq + w->seqs) == 0) {
				w->seqs++;
				w->n++;
				bson_iter_init_find(&id, &doc, "_id");
				snprintf(key, sizeof key, "%u", bson_count_keys(&w->upserted));
				BSON_APPEND_DOCUMENT_BEGIN(&w->upserted, key, &upd);
				BSON_APPEND_INT32(&upd, "index", index);
				bson_append_iter(&upd, "_id", 3, &id);
				bson_append_document_end(&w->upserted, &upd);
			}
		}
		bson_destroy(&out);
		bson_destroy(&doc);
		bson_destroy(&base);
	}
out:
	docs_clear(&l);
	return rc;
}

/* One delete statement {q, limit: 0|1}: 1 done, 0 a write error (in w). */
int sim_data_delete_stmt(sim *s, const sim_member *m, const char *ns, const bson_t *stmt, int32_t index,
                         sim_write_result *w, const char *router, int64_t seq)
{
	bson_iter_t it;
	bson_t q;
	doc_list l = {0};
	int64_t limit = 0;

	if (!bson_iter_init_find(&it, stmt, "q") || !sub_doc(&it, &q)) {
		write_error(w, index, 40414, "BSON field 'delete.deletes.q' is missing but a required field");
		return 0;
	}
	if (!bson_iter_init_find(&it, stmt, "limit") || !BSON_ITER_HOLDS_NUMBER(&it) ||
	    ((limit = bson_iter_as_int64(&it)) != 0 && limit != 1)) {
		write_error(w, index, 9, "The limit field in delete objects must be 0 or 1. Got %lld", (long long)limit);
		return 0;
	}
	targets(s, m, ns, &q, limit == 0, &l);
	for (size_t i = 0; i < l.n; i++) {
		bson_t key = BSON_INITIALIZER;
		bson_iter_t id;

		if (bson_iter_init_find(&id, l.v[i], "_id"))
			bson_append_iter(&key, "_id", 3, &id);
		if (sim_rs_write_kind(s, 'd', ns, &key, router, seq + w->seqs) == 0) {
			w->seqs++;
			w->n++;
		}
		bson_destroy(&key);
	}
	docs_clear(&l);
	return 1;
}

/* update / delete on a member: on the primary only, held while it is fsync-locked (1), statement by
 * statement (ordered: up to the first write error). */
int cmd_update(sim *s, sim_conn *c, const bson_t *body, const char *db, bool update, bson_t *r)
{
	sim_member *m = &s->members[c->member];
	const char *name = update ? "update" : "delete", *list = update ? "updates" : "deletes";
	sim_write_result w;
	bson_iter_t it, stmts;
	bool ordered = true;
	char ns[512];

	if (!bson_iter_init_find(&it, body, name) || !BSON_ITER_HOLDS_UTF8(&it)) {
		sim_cmd_error(r, 73, "InvalidNamespace", "%s: collection name must be a string", name);
		return 0;
	}
	snprintf(ns, sizeof ns, "%s.%s", db, bson_iter_utf8(&it, NULL));
	if (m->state != SIM_ST_PRIMARY || s->primary != c->member) {
		sim_cmd_error(r, 10107, "NotWritablePrimary", "not primary");
		return 0;
	}
	if (m->lock_count > 0)
		return 1;
	if (!bson_iter_init_find(&it, body, list) || !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &stmts)) {
		sim_cmd_error(r, 9, "FailedToParse", "%s: '%s' must be an array", name, list);
		return 0;
	}
	if (bson_iter_init_find(&it, body, "ordered"))
		ordered = truthy(&it);
	sim_write_result_init(&w);
	for (int32_t index = 0; bson_iter_next(&stmts); index++) {
		bson_t stmt;

		if (!sub_doc(&stmts, &stmt))
			continue;
		if ((update ? sim_data_update_stmt : sim_data_delete_stmt)(s, m, ns, &stmt, index, &w, NULL, 0) == 0 &&
		    ordered)
			break;
	}
	sim_write_result_reply(&w, update, r);
	sim_write_result_clear(&w);
	return 0;
}
