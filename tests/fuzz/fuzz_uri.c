/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fuzz_uri.c: libFuzzer target for connection strings: userinfo, redaction, validation, member URIs. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "config.h"
#include "error.h"
#include "escape.h"
#include "log.h"
#include "uri.h"
#include "fuzz.h"

/* The userinfo spans stay inside the string and in order, whatever the bytes. */
static void
check_userinfo(const char *data, size_t size)
{
	mbh_uri_userinfo ui;
	char *dec;

	mbh_uri_find_userinfo(data, size, &ui);
	if (!ui.present) {
		FUZZ_ASSERT(!ui.has_password, "no '@', no password");
		return;
	}
	FUZZ_ASSERT(ui.at_off < size && data[ui.at_off] == '@', "at_off is an '@'");
	FUZZ_ASSERT(ui.user_off + ui.user_len <= ui.at_off, "the user ends before the '@'");
	if (ui.has_password) {
		FUZZ_ASSERT(ui.pw_off == ui.user_off + ui.user_len + 1 && data[ui.pw_off - 1] == ':',
			    "the password follows the user's ':'");
		FUZZ_ASSERT(ui.pw_off + ui.pw_len == ui.at_off, "the password runs to the '@'");
		dec = mbh_uri_unescape(data + ui.pw_off, ui.pw_len);
		FUZZ_ASSERT(dec != NULL, "unescape allocates");
		FUZZ_ASSERT(strlen(dec) <= ui.pw_len, "decoding never lengthens");
		free(dec);
	}
}

/* Redaction: no password, no control character, NUL-terminated in any buffer size. */
static void
check_redact(const char *uri, const char *password, size_t small)
{
	mbh_uri_userinfo ui;
	char buf[64], *red;

	red = mbh_uri_redact_dup(uri, strlen(uri));
	FUZZ_ASSERT(red != NULL, "redact_dup allocates");
	FUZZ_ASSERT(!mbh_escape_needed(red, strlen(red)), "a redacted URI holds no control character");
	FUZZ_ASSERT(password == NULL || strstr(red, password) == NULL, "a redacted URI holds no password");
	mbh_uri_find_userinfo(uri, strlen(uri), &ui);
	FUZZ_ASSERT(!ui.has_password || strstr(red, ":*****@") != NULL, "a password is replaced by *****");
	mbh_uri_redact(uri, buf, small);
	FUZZ_ASSERT(strlen(buf) < small && strncmp(buf, red, strlen(buf)) == 0, "redact into a small buffer: a prefix");
	free(red);
	FUZZ_ASSERT(mbh_config_uri_has_password(uri) == (ui.has_password ? 1 : 0), "has_password agrees");
}

/* "host:port" splits the same way after it is written back. */
static void
check_hostport(const char *s)
{
	char host[256], again[300], host2[256];
	int port = -1, port2 = -1;

	if (mbh_hostport_split(s, host, sizeof(host), &port) != 0)
		return;
	FUZZ_ASSERT(host[0] != '\0' && port >= 1 && port <= 65535, "a split gives a host and a port");
	snprintf(again, sizeof(again), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	FUZZ_ASSERT(mbh_hostport_split(again, host2, sizeof(host2), &port2) == 0 && strcmp(host, host2) == 0 &&
		    port == port2, "host:port round trip");
}

/* Build: a refusal is a clean message; a success gives member URIs with direct connections. */
static void
check_build(const char *uri, const char *password)
{
	mbh_uri_settings us;
	mongoc_uri_t *u = NULL, *m = NULL;
	const mongoc_host_list_t *hosts;
	mbh_error err;

	memset(&us, 0, sizeof(us));
	us.uri = uri;
	us.connect_timeout_ms = -1;
	mbh_error_init(&err);
	if (mbh_uri_build(&u, &us, &err) != 0) {
		FUZZ_ASSERT(u == NULL, "no URI on failure");
		FUZZ_ASSERT(err.code == EX_USAGE || err.code == EX_CONFIG, "a bad URI is a usage or config error");
		fuzz_check_message(err.msg, password);
		return;
	}
	hosts = mongoc_uri_get_hosts(u);
	if (hosts != NULL) {
		mbh_error_init(&err);
		if (mbh_uri_for_member(&m, u, hosts->host_and_port, &err) == 0) {
			FUZZ_ASSERT(mongoc_uri_get_option_as_bool(m, MONGOC_URI_DIRECTCONNECTION, false),
				    "a member URI connects directly");
			FUZZ_ASSERT(mongoc_uri_get_replica_set(m) == NULL, "a member URI names no replica set");
			FUZZ_ASSERT(password == NULL || strstr(mongoc_uri_get_string(m), password) == NULL ||
					    mongoc_uri_get_password(m) != NULL,
				    "a member URI carries the password only as the password");
		} else {
			fuzz_check_message(err.msg, password);
		}
		mongoc_uri_destroy(m);
	}
	mongoc_uri_destroy(u);
}

/* Quiet libmongoc: its warnings about odd options are not findings. */
static void
no_log(mongoc_log_level_t level, const char *domain, const char *message, void *ctx)
{
	(void)level;
	(void)domain;
	(void)message;
	(void)ctx;
}

/* Once per process. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	mongoc_init();
	mongoc_log_set_handler(no_log, NULL);
	return 0;
}

/* One input: the bytes are a connection string (up to a NUL) and, whole, a userinfo scan. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *password;

	check_userinfo((const char *)data, size);
	if ((s = strndup((const char *)data, size)) == NULL)
		return 0;
	password = fuzz_telltale_password(s, s);
	check_redact(s, password, 1 + (size % 64));
	check_hostport(s);
	check_build(s, password);
	free(password);
	free(s);
	return 0;
}
