/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_mongoerr.c: driver errors to exit statuses: a client the driver would not create (TAP). */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "error.h"
#include "mongoerr.h"
#include "tap.h"

/* A bson_error_t as libmongoc fills it. */
static bson_error_t
driver_error(uint32_t domain, uint32_t code, const char *msg)
{
	bson_error_t e;

	memset(&e, 0, sizeof(e));
	e.domain = domain;
	e.code = code;
	snprintf(e.message, sizeof(e.message), "%s", msg);
	return e;
}

static void
test_client_error(void)
{
	bson_error_t e;
	mbh_error err;

	/* What libmongoc 1.23 returns when a mongodb+srv:// name does not resolve (seen with a dead resolver). */
	e = driver_error(MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_NAME_RESOLUTION,
			 "Failed to look up SRV record \"_mongodb._tcp.c0.example.invalid\": A temporary error occurred "
			 "on an authoritative name server. Try again later.");
	mbh_error_init(&err);
	is_int(mbh_mongo_client_error(&err, &e), -1, "SRV lookup failure: returns -1");
	is_int(err.code, EX_TEMPFAIL, "SRV lookup failure: EX_TEMPFAIL (75), try again later");
	is_str(err.msg,
	       "cannot resolve the connection string's DNS records (check DNS, then try again): Failed to look up "
	       "SRV record \"_mongodb._tcp.c0.example.invalid\": A temporary error occurred on an authoritative name "
	       "server. Try again later.",
	       "SRV lookup failure: message");

	e = driver_error(MONGOC_ERROR_COMMAND, MONGOC_ERROR_COMMAND_INVALID_ARG, "Invalid URI option \x1b[2J");
	mbh_error_init(&err);
	mbh_mongo_client_error(&err, &e);
	is_int(err.code, EX_USAGE, "any other refusal: EX_USAGE (64)");
	is_str(err.msg, "cannot use the connection string: Invalid URI option \\x1b[2J",
	       "  message, control characters escaped");
}

/* A command that got no answer: unreachable, the driver's words its detail. */
static void
test_unreachable(void)
{
	bson_error_t e;
	mbh_error err;

	e = driver_error(MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_CONNECT,
			 "Failed to connect to target host: 127.0.0.1:1");
	mbh_error_init(&err);
	is_int(mbh_mongo_error(&err, &e, NULL, "fsyncUnlock", "127.0.0.1:1"), -1, "no answer: returns -1");
	ok(mbh_error_is(&err, MBH_ERR_UNREACHABLE) && err.code == EX_UNAVAILABLE, "  unreachable, EX_UNAVAILABLE (69)");
	is_str(err.msg, "cannot reach 127.0.0.1:1: Failed to connect to target host: 127.0.0.1:1", "  message");
	is_str(mbh_error_detail(&err), "Failed to connect to target host: 127.0.0.1:1", "  the driver's words apart");
	e = driver_error(MONGOC_ERROR_SERVER, 96, "fsync failed");
	mbh_error_init(&err);
	mbh_mongo_error(&err, &e, NULL, "fsync", "127.0.0.1:1");
	ok(mbh_error_is(&err, MBH_ERR_UNAVAILABLE) && err.code == EX_UNAVAILABLE,
	   "a server's refusal: unavailable, not unreachable");
	is_str(err.msg, "fsync on 127.0.0.1:1 failed: fsync failed (code 96)", "  message");
}

int
main(void)
{
	tap_init();
	test_client_error();
	test_unreachable();
	return tap_done();
}
