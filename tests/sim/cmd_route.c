/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cmd_route.c: a simulated mongos's insert, update, delete, find and aggregate: each document lives on the shard its
   _id hashes to, written on that shard's primary through the shard simulator's control socket (routed.c),
   each oplog entry stamped with this router's id and a sequence number that grows by one with every
   entry that lands. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "cmd.h"

/* A write held by a shard's fsync lock is tried again this often. */
#define ROUTE_RETRY_MS 20
/* The control line carries the document in hex: the simulator's limit for a routed document. */
#define ROUTE_DOC_MAX (256 * 1024)

/* A write in progress across retries: the next statement, the shard it waits for, what the ones
 * before gave (in the client's numbering). */
typedef struct route_state {
	uint32_t next;
	size_t shard;       /* a statement sent to several shards: the next one (0: the first) */
	bool stopped;       /* ordered, and a statement failed */
	sim_write_result w;
} route_state;

void sim_route_free(sim_conn *c)
{
	route_state *st = c->route;

	if (!st)
		return;
	sim_write_result_clear(&st->w);
	free(st);
	c->route = NULL;
}

/* This routers' process stamps its writes with one id, chosen on the first write. */
static void router_init(sim_cluster *cl)
{
	bson_oid_t oid;

	if (cl->router_id[0])
		return;
	bson_oid_init(&oid, NULL);
	bson_oid_to_string(&oid, cl->router_id);
	cl->next_seq = 1;
}

/* The routing rule: FNV-1a 64 of the BSON {"": _id} (a number as a double, so 1, 1.0 and
 * NumberLong(1) agree as equality does), mixed (the 64-bit finaliser of MurmurHash3, so that small
 * integers spread), modulo the number of shards, in listShards order. */
size_t sim_route_shard(const sim_cluster *cl, const bson_iter_t *id)
{
	bson_t one = BSON_INITIALIZER;
	uint64_t h;

	if (BSON_ITER_HOLDS_NUMBER(id))
		BSON_APPEND_DOUBLE(&one, "", bson_iter_as_double(id));
	else
		bson_append_iter(&one, "", 0, id);
	h = sim_fnv1a64(SIM_FNV_OFFSET, bson_get_data(&one), one.len);
	bson_destroy(&one);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)(h % cl->n_shards);
}

/* A write error of the batch, at the client's index. */
static void add_write_error(bson_t *errors, uint32_t index, int code, const char *msg)
{
	bson_t e;
	char key[16];

	snprintf(key, sizeof key, "%u", bson_count_keys(errors));
	BSON_APPEND_DOCUMENT_BEGIN(errors, key, &e);
	BSON_APPEND_INT32(&e, "index", (int32_t)index);
	BSON_APPEND_INT32(&e, "code", code);
	BSON_APPEND_UTF8(&e, "errmsg", msg);
	bson_append_document_end(errors, &e);
}

/* Append the shard's array `field` ({index: 0, ...} each: its one-statement batch) to out, each entry
 * renumbered to the client's index. */
static void copy_renumbered(bson_t *out, const bson_t *result, const char *field, uint32_t index)
{
	bson_iter_t it, arr;

	if (!bson_iter_init_find(&it, result, field) || !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
		return;
	while (bson_iter_next(&arr)) {
		const uint8_t *data;
		uint32_t len;
		bson_t one, e;
		char key[16];

		if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
			continue;
		bson_iter_document(&arr, &len, &data);
		if (!bson_init_static(&one, data, len))
			continue;
		snprintf(key, sizeof key, "%u", bson_count_keys(out));
		BSON_APPEND_DOCUMENT_BEGIN(out, key, &e);
		BSON_APPEND_INT32(&e, "index", (int32_t)index);
		bson_copy_to_excluding_noinit(&one, &e, "index", NULL);
		bson_append_document_end(out, &e);
	}
}

static int32_t result_int(const bson_t *b, const char *key)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, b, key) && BSON_ITER_HOLDS_NUMBER(&it) ? (int32_t)bson_iter_as_int64(&it) : 0;
}

/* Send statement stmt (index i of the client's batch) to shard k.  Returns how many it matched, inserted
 * or deleted (its n), -1 after recording a write error, or -2 when the shard's primary is locked:
 * try again later. */
static int route_stmt(sim *s, const char *kind, const char *ns, const bson_t *stmt, uint32_t i, size_t k,
                      sim_write_result *w)
{
	sim_cluster *cl = &s->cluster;
	bson_t *result = NULL;
	char err[1024], *hex = NULL, *line = NULL, *ans = NULL;
	int rc = -1, crc;

	if (stmt->len > ROUTE_DOC_MAX) {
		add_write_error(&w->errors, i, 10334, "mongo-rs-sim: a statement routed through the mongos is limited to 256 KiB");
		return -1;
	}
	if (!(hex = sim_hex_encode(bson_get_data(stmt), stmt->len)) ||
	    asprintf(&line, "routed-write %s %s %s %lld %s\n", kind, ns, cl->router_id, (long long)cl->next_seq, hex) <
	        0) {
		line = NULL;
		add_write_error(&w->errors, i, 1, "out of memory");
		goto out;
	}
	crc = sim_ctl_call(cl->shard_ctl[k], line, SIM_CTL_TIMEOUT_MS, &ans, err, sizeof err);
	if (crc == 1 && strcmp(err, SIM_ROUTED_LOCKED) == 0) {
		rc = -2;
	} else if (crc == 1 && strncmp(err, SIM_ROUTED_NO_PRIMARY, strlen(SIM_ROUTED_NO_PRIMARY)) == 0) {
		add_write_error(&w->errors, i, 133, err);
	} else if (crc != 0) {
		char msg[1200];

		snprintf(msg, sizeof msg, "the simulated cluster's component is not reachable: %s", err);
		add_write_error(&w->errors, i, 6, msg);
	} else if ((ans[strcspn(ans, "\n")] = '\0', !(result = sim_hex_decode(ans)))) {
		add_write_error(&w->errors, i, 1, "mongo-rs-sim: the shard's answer is not hex BSON");
	} else {
		/* each oplog entry the statement wrote used one number: none is skipped, none used twice */
		cl->next_seq += result_int(result, "seqs");
		w->n += rc = result_int(result, "n");
		w->n_modified += result_int(result, "nModified");
		copy_renumbered(&w->upserted, result, "upserted", i);
		if (bson_has_field(result, "writeErrors")) {
			copy_renumbered(&w->errors, result, "writeErrors", i);
			rc = -1;
		}
	}
out:
	if (result)
		bson_destroy(result);
	free(hex);
	free(line);
	free(ans);
	return rc;
}

/* The collection's namespace for a routed request: "db.coll", which the control line carries as one
 * word.  false with the error in r. */
static bool routed_ns(const char *db, const char *coll, char *ns, size_t len, bson_t *r)
{
	snprintf(ns, len, "%s.%s", db, coll);
	if (strchr(ns, ' ') || strchr(ns, '\n')) {
		sim_cmd_error(r, 73, "InvalidNamespace", "mongo-rs-sim: a namespace routed through the mongos has no blanks");
		return false;
	}
	return true;
}

/* Does the filter name one _id by equality (so one shard holds every match)? */
static bool targets_one(const bson_t *filter, bson_iter_t *id)
{
	bson_iter_t sub;

	if (!filter || !bson_iter_init_find(id, filter, "_id"))
		return false;
	if (BSON_ITER_HOLDS_DOCUMENT(id) && bson_iter_recurse(id, &sub) && bson_iter_next(&sub) &&
	    bson_iter_key(&sub)[0] == '$')
		return false;
	return true;
}

/* insert, update and delete through the mongos, statement by statement in order: an insert to the
 * shard of its document's _id; an update or delete to the shard of the _id its filter names, else to
 * every shard (one that may change one document: until one matched).  A statement whose shard's
 * primary is fsync-locked holds the request (1) until it lands, as a write to that primary waits. */
int cmd_mongos_write(sim *s, sim_conn *c, const bson_t *body, const char *db, const char *kind, bson_t *r)
{
	const char *list = kind[0] == 'i' ? "documents" : kind[0] == 'u' ? "updates" : "deletes";
	route_state *st = c->route;
	bson_iter_t it, stmts;
	bool ordered = true;
	char ns[512];

	if (!bson_iter_init_find(&it, body, kind) || !BSON_ITER_HOLDS_UTF8(&it)) {
		sim_cmd_error(r, 73, "InvalidNamespace", "%s: collection name must be a string", kind);
		return 0;
	}
	if (!routed_ns(db, bson_iter_utf8(&it, NULL), ns, sizeof ns, r))
		return 0;
	if (!bson_iter_init_find(&it, body, list) || !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &stmts)) {
		sim_cmd_error(r, 9, "FailedToParse", "%s: '%s' must be an array", kind, list);
		return 0;
	}
	if (bson_iter_init_find(&it, body, "ordered"))
		ordered = truthy(&it);
	router_init(&s->cluster);
	if (!st) {
		if (!(st = calloc(1, sizeof *st))) {
			sim_cmd_error(r, 1, "InternalError", "out of memory");
			return 0;
		}
		sim_write_result_init(&st->w);
		c->route = st;
	}
	for (uint32_t i = 0; !st->stopped && bson_iter_next(&stmts); i++) {
		const uint8_t *data;
		uint32_t len, errors_before = bson_count_keys(&st->w.errors);
		bson_t raw, stmt = BSON_INITIALIZER, q;
		bson_iter_t id, f;
		size_t first = 0, last = s->cluster.n_shards;
		bool single = false;

		if (i < st->next || !BSON_ITER_HOLDS_DOCUMENT(&stmts))
			continue;
		bson_iter_document(&stmts, &len, &data);
		if (!bson_init_static(&raw, data, len))
			continue;
		if (kind[0] == 'i') {
			/* a document without an _id gets one here (drivers add it before sending) */
			if (!bson_iter_init_find(&id, &raw, "_id")) {
				bson_oid_t oid;

				bson_oid_init(&oid, NULL);
				BSON_APPEND_OID(&stmt, "_id", &oid);
			}
			bson_concat(&stmt, &raw);
			bson_iter_init_find(&id, &stmt, "_id");
			first = sim_route_shard(&s->cluster, &id);
			last = first + 1;
		} else {
			bson_concat(&stmt, &raw);
			if (bson_iter_init_find(&f, &stmt, "q") && BSON_ITER_HOLDS_DOCUMENT(&f)) {
				bson_iter_document(&f, &len, &data);
				if (bson_init_static(&q, data, len) && targets_one(&q, &id)) {
					first = sim_route_shard(&s->cluster, &id);
					last = first + 1;
				}
			}
			if (kind[0] == 'u')
				single = !(bson_iter_init_find(&f, &stmt, "multi") && truthy(&f));
			else
				single = bson_iter_init_find(&f, &stmt, "limit") && BSON_ITER_HOLDS_NUMBER(&f) &&
				         bson_iter_as_int64(&f) == 1;
			if (kind[0] == 'u' && last - first > 1 && bson_iter_init_find(&f, &stmt, "upsert") && truthy(&f)) {
				add_write_error(&st->w.errors, i, 61,
				                "Failed to target upsert by query :: could not extract exact shard key");
				first = last;
			}
		}
		for (size_t k = first + st->shard; k < last; k++) {
			int got = route_stmt(s, kind, ns, &stmt, i, k, &st->w);

			if (got == -2) {
				st->next = i;
				st->shard = k - first;
				c->retry_at_ms = sim_now_ms() + ROUTE_RETRY_MS;
				bson_destroy(&stmt);
				return 1;
			}
			if (got < 0 || (single && got > 0))
				break;
		}
		bson_destroy(&stmt);
		st->next = i + 1;
		st->shard = 0;
		if (ordered && bson_count_keys(&st->w.errors) > errors_before)
			st->stopped = true;
	}
	sim_write_result_reply(&st->w, kind[0] == 'u', r);
	sim_route_free(c);
	return 0;
}

/* The documents of ns matching the filter (hex, NULL: all) on shards [first, last), in order, read on
 * their primaries into l.  0, or -1 with the error in r. */
static int fetch_docs(sim *s, const char *ns, const char *hexf, size_t first, size_t last, doc_list *l, bson_t *r)
{
	sim_cluster *cl = &s->cluster;

	for (size_t k = first; k < last; k++) {
		char err[1024], *line = NULL, *ans = NULL, *save = NULL, *hl;
		int crc;

		if (asprintf(&line, "routed-find %s%s%s\n", ns, hexf ? " " : "", hexf ? hexf : "") < 0) {
			sim_cmd_error(r, 1, "InternalError", "out of memory");
			return -1;
		}
		crc = sim_ctl_call(cl->shard_ctl[k], line, SIM_CTL_TIMEOUT_MS, &ans, err, sizeof err);
		free(line);
		if (crc != 0) {
			if (crc == 1 && strncmp(err, SIM_ROUTED_NO_PRIMARY, strlen(SIM_ROUTED_NO_PRIMARY)) == 0)
				sim_cmd_error(r, 133, "FailedToSatisfyReadPreference", "%s", err);
			else
				sim_cmd_error(r, 6, "HostUnreachable", "the simulated cluster's component is not reachable: %s", err);
			free(ans);
			return -1;
		}
		for (hl = strtok_r(ans, "\n", &save); hl; hl = strtok_r(NULL, "\n", &save)) {
			bson_t *doc = sim_hex_decode(hl);

			if (doc)
				docs_push(l, doc);
		}
		free(ans);
	}
	return 0;
}

/* find through the mongos: the shard the filter's _id names, else every shard in listShards order;
 * read on each shard's primary; one batch (cursor id 0) as the members answer. */
void cmd_mongos_find(sim *s, sim_conn *c, const bson_t *body, const char *db, bson_t *r)
{
	sim_cluster *cl = &s->cluster;
	bson_iter_t it, id;
	bson_t filter, cur, batch;
	bool have_filter = false;
	char ns[512], key[24], *hexf = NULL;
	double limit = 0;
	size_t n = 0, bytes = 0, first = 0, last = cl->n_shards;
	doc_list l = {0};

	(void)c;
	if (!bson_iter_init_find(&it, body, "find") || !BSON_ITER_HOLDS_UTF8(&it)) {
		sim_cmd_error(r, 73, "InvalidNamespace", "find: collection name must be a string");
		return;
	}
	if (!routed_ns(db, bson_iter_utf8(&it, NULL), ns, sizeof ns, r))
		return;
	if (bson_iter_init_find(&it, body, "filter") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		const uint8_t *data;
		uint32_t len;

		bson_iter_document(&it, &len, &data);
		have_filter = bson_init_static(&filter, data, len) && !bson_empty(&filter);
	}
	get_number(body, "limit", &limit);
	if (limit < 0)
		limit = -limit;
	if (have_filter && !(hexf = sim_hex_encode(bson_get_data(&filter), filter.len))) {
		sim_cmd_error(r, 1, "InternalError", "out of memory");
		return;
	}
	if (have_filter && targets_one(&filter, &id)) {
		first = sim_route_shard(cl, &id);
		last = first + 1;
	}
	if (fetch_docs(s, ns, hexf, first, last, &l, r) == 0) {
		BSON_APPEND_DOCUMENT_BEGIN(r, "cursor", &cur);
		BSON_APPEND_ARRAY_BEGIN(&cur, "firstBatch", &batch);
		for (size_t i = 0; i < l.n && (limit <= 0 || n < (size_t)limit) && bytes + l.v[i]->len <= 8 * 1024 * 1024;
		     i++) {
			snprintf(key, sizeof key, "%zu", n++);
			BSON_APPEND_DOCUMENT(&batch, key, l.v[i]);
			bytes += l.v[i]->len;
		}
		bson_append_array_end(&cur, &batch);
		BSON_APPEND_INT64(&cur, "id", 0);
		BSON_APPEND_UTF8(&cur, "ns", ns);
		bson_append_document_end(r, &cur);
		BSON_APPEND_DOUBLE(r, "ok", 1.0);
	}
	docs_clear(&l);
	free(hexf);
}

/* aggregate through the mongos: a collection's documents from every shard's primary, in listShards
 * order, through the stages a member knows, run on the router; {aggregate: 1} with $currentOp lists
 * the routers' operations as currentOp does. */
void cmd_mongos_aggregate(sim *s, sim_conn *c, const bson_t *body, const char *db, bson_t *r)
{
	doc_list l = {0};
	bson_iter_t st;
	const char *coll;
	char ns[512];

	if (sim_aggregate_args(body, &coll, &st, r) != 0)
		return;
	if (coll) {
		if (!sim_auth_has(s, c, SIM_ACT_FIND)) {
			not_authorized(r, db, body);
			return;
		}
		if (!routed_ns(db, coll, ns, sizeof ns, r) || fetch_docs(s, ns, NULL, 0, s->cluster.n_shards, &l, r) != 0) {
			docs_clear(&l);
			return;
		}
	}
	sim_aggregate_run(s, c, body, db, coll, &st, &l, r);
}
