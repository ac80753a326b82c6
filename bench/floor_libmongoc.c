/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * floor_libmongoc: the least a pre-backup can cost with this libmongoc, for
 * `make bench`: one direct connection to one member, authenticated (one SCRAM
 * key derivation), fsync lock, fsyncUnlock, exit.  No discovery, no choice,
 * no record, no watchdog, no command.  Not installed.
 *
 * usage: floor_libmongoc URI PASSWORD-FILE
 *   URI names the member with directConnection=true and the user, no password;
 *   the password is read from PASSWORD-FILE (its first line).
 */
#include <stdio.h>
#include <string.h>

#include <mongoc/mongoc.h>

static int
run(mongoc_client_t *client, const char *name, bson_t *cmd)
{
	bson_error_t e;
	bson_t reply;
	bool ok = mongoc_client_command_simple(client, "admin", cmd, NULL, &reply, &e);

	if (!ok)
		fprintf(stderr, "floor_libmongoc: %s: %s\n", name, e.message);
	bson_destroy(&reply);
	bson_destroy(cmd);
	return ok ? 0 : 1;
}

int
main(int argc, char **argv)
{
	char password[256] = "";
	mongoc_uri_t *uri;
	mongoc_client_t *client;
	bson_error_t e;
	FILE *f;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: floor_libmongoc URI PASSWORD-FILE\n");
		return 64;
	}
	if ((f = fopen(argv[2], "r")) == NULL || fgets(password, sizeof(password), f) == NULL) {
		fprintf(stderr, "floor_libmongoc: cannot read %s\n", argv[2]);
		return 66;
	}
	fclose(f);
	password[strcspn(password, "\n")] = '\0';
	mongoc_init();
	if ((uri = mongoc_uri_new_with_error(argv[1], &e)) == NULL || !mongoc_uri_set_password(uri, password)) {
		fprintf(stderr, "floor_libmongoc: bad URI: %s\n", e.message);
		return 64;
	}
	client = mongoc_client_new_from_uri(uri);
	rc = run(client, "fsync lock", BCON_NEW("fsync", BCON_INT32(1), "lock", BCON_BOOL(true)));
	if (rc == 0)
		rc = run(client, "fsyncUnlock", BCON_NEW("fsyncUnlock", BCON_INT32(1)));
	mongoc_client_destroy(client);
	mongoc_uri_destroy(uri);
	mongoc_cleanup();
	return rc;
}
