/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* sim-route-client.c: libmongoc's collection API through a (simulated) mongos, for sim-sharded-data.sh:
 *   sim-route-client URI DB COLL PREFIX N
 * inserts N (>= 2) documents {_id: "PREFIX<i>", i} with insert_many (one OP_MSG document sequence),
 * reads one back by _id with find_with_opts, updates PREFIX0 ($inc i by 100) with update_one, deletes
 * PREFIX1 with delete_one, then counts the whole collection; prints key=value lines. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

static void quiet(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
	(void)level, (void)domain, (void)message, (void)data;
}

/* How many documents the filter finds. */
static long count(mongoc_collection_t *coll, const bson_t *filter, bson_error_t *err)
{
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
	const bson_t *doc;
	long n = 0;

	while (mongoc_cursor_next(cur, &doc))
		n++;
	if (mongoc_cursor_error(cur, err))
		n = -1;
	mongoc_cursor_destroy(cur);
	return n;
}

int main(int argc, char **argv)
{
	mongoc_client_t *client = NULL;
	mongoc_collection_t *coll = NULL;
	bson_t **docs = NULL, reply = BSON_INITIALIZER, *all = bson_new(), *one = bson_new();
	bson_error_t err;
	bson_iter_t it;
	int n, rc = 1;

	if (argc != 6 || (n = atoi(argv[5])) < 2 || n > 10000) {
		fprintf(stderr, "usage: sim-route-client URI DB COLL PREFIX N (2..10000)\n");
		return 2;
	}
	mongoc_init();
	mongoc_log_set_handler(quiet, NULL);
	if (!(client = mongoc_client_new(argv[1]))) {
		fprintf(stderr, "error: bad URI\n");
		goto out;
	}
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
	coll = mongoc_client_get_collection(client, argv[2], argv[3]);
	docs = calloc((size_t)n, sizeof *docs);
	for (int i = 0; docs && i < n; i++) {
		char id[64];

		snprintf(id, sizeof id, "%s%d", argv[4], i);
		docs[i] = BCON_NEW("_id", BCON_UTF8(id), "i", BCON_INT32(i));
	}
	if (!docs || !mongoc_collection_insert_many(coll, (const bson_t **)docs, (size_t)n, NULL, &reply, &err)) {
		fprintf(stderr, "error: insert_many: %s\n", docs ? err.message : "out of memory");
		goto out;
	}
	if (bson_iter_init_find(&it, &reply, "insertedCount"))
		printf("inserted=%lld\n", (long long)bson_iter_as_int64(&it));
	{
		char id[64];

		snprintf(id, sizeof id, "%s%d", argv[4], n - 1);
		BSON_APPEND_UTF8(one, "_id", id);
	}
	printf("found_one=%ld\n", count(coll, one, &err));
	{
		char id0[64], id1[64];
		bson_t *f0, *f1, *inc = BCON_NEW("$inc", "{", "i", BCON_INT32(100), "}"), ur = BSON_INITIALIZER, dr = BSON_INITIALIZER;
		bool ok;

		snprintf(id0, sizeof id0, "%s0", argv[4]);
		snprintf(id1, sizeof id1, "%s1", argv[4]);
		f0 = BCON_NEW("_id", BCON_UTF8(id0), "i", BCON_INT32(0));
		f1 = BCON_NEW("_id", BCON_UTF8(id1));
		ok = mongoc_collection_update_one(coll, f0, inc, NULL, &ur, &err);
		if (ok && bson_iter_init_find(&it, &ur, "modifiedCount"))
			printf("modified=%lld\n", (long long)bson_iter_as_int64(&it));
		if (ok)
			ok = mongoc_collection_delete_one(coll, f1, NULL, &dr, &err);
		if (ok && bson_iter_init_find(&it, &dr, "deletedCount"))
			printf("deleted=%lld\n", (long long)bson_iter_as_int64(&it));
		bson_destroy(&ur);
		bson_destroy(&dr);
		bson_destroy(f0);
		bson_destroy(f1);
		bson_destroy(inc);
		if (!ok) {
			fprintf(stderr, "error: update_one/delete_one: %s\n", err.message);
			goto out;
		}
	}
	printf("found_all=%ld\n", count(coll, all, &err));
	rc = 0;
out:
	for (int i = 0; docs && i < n; i++)
		bson_destroy(docs[i]);
	free(docs);
	bson_destroy(&reply);
	bson_destroy(all);
	bson_destroy(one);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	mongoc_cleanup();
	return rc;
}
