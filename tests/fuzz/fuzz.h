/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fuzz.h: what every libFuzzer target here shares: its entry points and the checks they assert. */
#ifndef MBH_FUZZ_H
#define MBH_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "uri.h"

/* libFuzzer calls these; so does tests/fuzz/replay.c, which runs a corpus without libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken property: say which (libFuzzer keeps the input) and crash. */
#define FUZZ_ASSERT(cond, what)                                                              \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz: property broken: %s (%s:%d)\n", what, __FILE__, \
				__LINE__);                                                   \
			abort();                                                             \
		}                                                                            \
	} while (0)

/* How many times needle[0..nlen) occurs in hay. */
static size_t __attribute__((unused))
fuzz_count(const char *hay, const char *needle, size_t nlen)
{
	const char *p = hay;
	size_t n = 0;

	if (nlen == 0)
		return 0;
	while ((p = memmem(p, strlen(p), needle, nlen)) != NULL) {
		n++;
		p++;
	}
	return n;
}

/*
 * The password of the connection string uri when it is a telltale one: 8 or
 * more letters and digits (with both), written nowhere else in all (the whole
 * input).  Then no message may contain it, whatever fixed text the message
 * has.  Returns a new string or NULL when there is no such password.
 */
static __attribute__((unused)) char *
fuzz_telltale_password(const char *uri, const char *all)
{
	mbh_uri_userinfo ui;
	bool digit = false, alpha = false;
	size_t i;
	char c;

	if (uri == NULL)
		return NULL;
	mbh_uri_find_userinfo(uri, strlen(uri), &ui);
	if (!ui.has_password || ui.pw_len < 8)
		return NULL;
	for (i = 0; i < ui.pw_len; i++) {
		c = uri[ui.pw_off + i];
		if (c >= '0' && c <= '9')
			digit = true;
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			alpha = true;
		else
			return NULL;
	}
	if (!digit || !alpha || fuzz_count(all, uri + ui.pw_off, ui.pw_len) != 1)
		return NULL;
	return strndup(uri + ui.pw_off, ui.pw_len);
}

/*
 * The length of msg without a UTF-8 sequence cut short at its very end: a
 * message is cut to its buffer's size by a plain snprintf.
 */
static size_t __attribute__((unused))
fuzz_whole_len(const char *msg)
{
	size_t len = strlen(msg), back, need;
	unsigned char c;

	for (back = 1; back <= 3 && back <= len; back++) {
		c = (unsigned char)msg[len - back];
		if (c >= 0x80 && c <= 0xbf)
			continue;
		need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 1;
		return need > back ? len - back : len;
	}
	return len;
}

/* A message for a user: one line, no control character, no telltale password. */
static void __attribute__((unused))
fuzz_check_message(const char *msg, const char *password)
{
	FUZZ_ASSERT(msg != NULL && msg[0] != '\0', "an error has a message");
	FUZZ_ASSERT(!mbh_escape_needed(msg, fuzz_whole_len(msg)),
		    "a message holds no control character or invalid UTF-8");
	FUZZ_ASSERT(password == NULL || strstr(msg, password) == NULL, "a message never holds the password");
}

#endif
