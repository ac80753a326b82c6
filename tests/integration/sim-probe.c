/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* sim-probe.c: run one command with the real libmongoc for shell tests: sim-probe URI [JSON [DB]]. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

static void
quiet(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
	(void)data;
	if (getenv("MBH_TEST_VERBOSE") != NULL)
		fprintf(stderr, "mongoc %s %s: %s\n", mongoc_log_level_str(level), domain, message);
}

/*
 * Prints the reply as relaxed extended JSON on stdout and exits 0, or prints
 * "error: domain D code C: message" on stderr and exits 1 (2 for usage/URI).
 */
int
main(int argc, char **argv)
{
	const char *json = argc > 2 ? argv[2] : "{\"ping\": 1}";
	const char *db = argc > 3 ? argv[3] : "admin";
	mongoc_uri_t *uri = NULL;
	mongoc_client_t *client = NULL;
	bson_t *cmd = NULL;
	bson_t reply;
	bson_error_t err;
	char *out;
	int rc = 2;

	bson_init(&reply);
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: sim-probe URI [JSON-COMMAND [DB]]\n");
		return 2;
	}
	mongoc_init();
	mongoc_log_set_handler(quiet, NULL);
	uri = mongoc_uri_new_with_error(argv[1], &err);
	if (uri == NULL) {
		fprintf(stderr, "error: domain %u code %u: %s\n", err.domain, err.code, err.message);
		goto out;
	}
	cmd = bson_new_from_json((const uint8_t *)json, -1, &err);
	if (cmd == NULL) {
		fprintf(stderr, "error: bad JSON: %s\n", err.message);
		goto out;
	}
	client = mongoc_client_new_from_uri(uri);
	if (client == NULL) {
		fprintf(stderr, "error: cannot create a client (TLS options?)\n");
		goto out;
	}
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
	if (!mongoc_client_command_simple(client, db, cmd, NULL, &reply, &err)) {
		fprintf(stderr, "error: domain %u code %u: %s\n", err.domain, err.code, err.message);
		rc = 1;
		goto out;
	}
	out = bson_as_relaxed_extended_json(&reply, NULL);
	printf("%s\n", out ? out : "{}");
	bson_free(out);
	rc = 0;
out:
	bson_destroy(&reply);
	bson_destroy(cmd);
	mongoc_client_destroy(client);
	mongoc_uri_destroy(uri);
	mongoc_cleanup();
	return rc;
}
