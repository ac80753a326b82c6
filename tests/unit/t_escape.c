/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_escape.c: control characters and invalid UTF-8 in quoted strings become \xNN (TAP). */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "tap.h"

static void
test_escape(void)
{
	static const struct {
		const char *in, *out, *name;
	} cases[] = {
		{ "plain text: /etc/mongo-backup/rs0.conf", "plain text: /etc/mongo-backup/rs0.conf", "printable ASCII" },
		{ "", "", "empty" },
		{ "a\x1b[31mred\x1b[0m", "a\\x1b[31mred\\x1b[0m", "ESC (a colour sequence)" },
		{ "line\nbreak\r\ttab", "line\\x0abreak\\x0d\\x09tab", "newline, carriage return, tab" },
		{ "del\x7f", "del\\x7f", "DEL" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "valid UTF-8 kept" },
		{ "csi\xc2\x9b" "2J", "csi\\xc2\\x9b2J", "a C1 control (U+009B, CSI) in UTF-8" },
		{ "nbsp\xc2\xa0", "nbsp\xc2\xa0", "U+00A0 is not a control" },
		{ "latin1 \xe9t\xe9", "latin1 \\xe9t\\xe9", "Latin-1 bytes (not UTF-8)" },
		{ "\x9b" "2J", "\\x9b2J", "a lone 8-bit CSI" },
		{ "over\xc0\xaf", "over\\xc0\\xaf", "an overlong form" },
		{ "surr\xed\xa0\x80", "surr\\xed\\xa0\\x80", "a surrogate" },
		{ "cut\xe2\x82", "cut\\xe2\\x82", "a sequence cut short" },
		{ "back\\slash \\x1b", "back\\slash \\x1b", "backslashes and escaped text are left alone" },
	};
	char out[128], small[8];
	char *dup;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		is_str(mbh_escape(cases[i].in, out, sizeof(out)), cases[i].out, cases[i].name);
		ok(mbh_escape_needed(cases[i].in, strlen(cases[i].in)) == (strcmp(cases[i].in, cases[i].out) != 0),
		   "  escape_needed agrees");
		is_str(mbh_escape(out, out + 64, 64), out, "  escaping twice changes nothing");
	}
	is_str(mbh_escape(NULL, out, sizeof(out)), "", "NULL is empty");
	is_str(mbh_escape("abc\x1b", small, 7), "abc", "cut before an escape that does not fit");
	is_str(mbh_escape("ab\xe2\x82\xac", small, 5), "ab", "cut before a UTF-8 sequence that does not fit");
	is_str(mbh_escape("abcdefghij", small, sizeof(small)), "abcdefg", "cut to the buffer, NUL-terminated");
	dup = mbh_escape_dup("n\0ul\x1b", 5);
	is_str(dup, "n\\x00ul\\x1b", "escape_dup takes a length and escapes NUL bytes");
	free(dup);
	ok(!mbh_escape_needed("a\x1b", 1), "escape_needed looks at len bytes only");
}

int
main(void)
{
	tap_init();
	test_escape();
	return tap_done();
}
