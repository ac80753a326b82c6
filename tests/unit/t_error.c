/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_error.c: every reason has a text and a status; errors keep reason, status and detail together (TAP). */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "error.h"
#include "tap.h"

/* Every reason: a text of its own, a sysexits status, and the general reason of that status has it too. */
static void
test_table(void)
{
	int r, q, missing = 0, dup = 0, bad = 0;

	is_int(mbh_reason_status(MBH_OK), 0, "MBH_OK: status 0");
	for (r = MBH_OK + 1; r < MBH_REASON_MAX; r++) {
		const char *t = mbh_reason_text((mbh_reason)r);
		int st = mbh_reason_status((mbh_reason)r);

		if (t == NULL || t[0] == '\0' || strcmp(t, "unknown reason") == 0) {
			missing++;
			diag("reason %d has no text", r);
		}
		for (q = MBH_OK; q < r; q++)
			if (t != NULL && strcmp(t, mbh_reason_text((mbh_reason)q)) == 0) {
				dup++;
				diag("reasons %d and %d share the text '%s'", q, r, t);
			}
		if (st < EX__BASE || st > EX__MAX || mbh_reason_status(mbh_reason_of_status(st)) != st) {
			bad++;
			diag("reason %d has status %d", r, st);
		}
	}
	is_int(missing, 0, "every reason has a text");
	is_int(dup, 0, "no two reasons share a text");
	is_int(bad, 0, "every reason has a sysexits status, which a general reason has too");
	for (r = EX__BASE; r <= EX__MAX; r++)
		if (mbh_reason_status(mbh_reason_of_status(r)) != r)
			bad++;
	is_int(bad, 0, "every sysexits status 64-78 has a general reason");
	is_int(mbh_reason_of_status(1), MBH_ERR_SOFTWARE, "a status that is none of sysexits': internal error");
	is_str(mbh_reason_text(MBH_REASON_MAX), "unknown reason", "a reason out of range has a text");
	is_int(mbh_reason_status(MBH_REASON_MAX), EX_SOFTWARE, "and the status of an internal error");
	is_int(mbh_reason_status(MBH_ERR_SET_BUSY), EX_TEMPFAIL, "another run holds the set: try again later (75)");
	is_int(mbh_reason_status(MBH_ERR_UNREACHABLE), EX_UNAVAILABLE, "unreachable: 69");
	is_int(mbh_reason_status(MBH_ERR_TIMED_OUT), EX_TEMPFAIL, "timed out: 75");
	is_int(mbh_reason_status(MBH_ERR_NOT_STARTED), EX_UNAVAILABLE, "did not start: 69");
}

/* Filling, prefixing, recasting. */
static void
test_error(void)
{
	mbh_error e;

	mbh_error_init(&e);
	ok(e.code == 0 && e.reason == MBH_OK && e.msg[0] == '\0' && !mbh_error_is(&e, MBH_ERR_SOFTWARE),
	   "init: no error");
	is_int(mbh_error_set(&e, EX_CONFIG, "bad %s", "key"), -1, "set returns -1");
	ok(e.code == EX_CONFIG && mbh_error_is(&e, MBH_ERR_CONFIG), "set: the general reason of the status");
	is_str(e.msg, "bad key", "  and the message");
	is_str(mbh_error_detail(&e), "bad key", "  no lead-in: the detail is the whole message");
	mbh_error_set(&e, 3, "odd");
	ok(e.code == EX_SOFTWARE && mbh_error_is(&e, MBH_ERR_SOFTWARE), "set with a status of no reason: internal error");

	is_int(mbh_error_fail(&e, MBH_ERR_SET_BUSY, "another run for %s", "rs0"), -1, "fail returns -1");
	ok(e.code == EX_TEMPFAIL && mbh_error_is(&e, MBH_ERR_SET_BUSY) && !mbh_error_is(&e, MBH_ERR_TEMPORARY),
	   "fail: the reason, and the status from the table");

	mbh_error_fail_detail(&e, MBH_ERR_UNREACHABLE, "cannot reach h:1: ", "%s", "connection refused");
	is_str(e.msg, "cannot reach h:1: connection refused", "fail_detail: lead-in and detail");
	is_str(mbh_error_detail(&e), "connection refused", "  the detail alone");
	ok(e.code == EX_UNAVAILABLE, "  status 69");
	mbh_error_prefix(&e, "unlocking %s", "h:1");
	is_str(e.msg, "unlocking h:1: cannot reach h:1: connection refused", "prefix");
	is_str(mbh_error_detail(&e), "connection refused", "  the detail moves with the message");
	ok(mbh_error_is(&e, MBH_ERR_UNREACHABLE), "  the reason stays");
	mbh_error_recast(&e, MBH_ERR_TEMPORARY);
	ok(mbh_error_is(&e, MBH_ERR_TEMPORARY) && e.code == EX_TEMPFAIL, "recast: another reason and its status");
	is_str(e.msg, "unlocking h:1: cannot reach h:1: connection refused", "  the same message");

	{
		char lead[MBH_ERRMSG_LEN + 8];

		memset(lead, 'x', sizeof(lead) - 1);
		lead[sizeof(lead) - 1] = '\0';
		mbh_error_fail_detail(&e, MBH_ERR_UNREACHABLE, lead, "%s", "words");
		ok(strlen(e.msg) == MBH_ERRMSG_LEN - 1 && mbh_error_detail(&e) == e.msg,
		   "a lead-in that fills the message: cut, no detail");
		mbh_error_fail_detail(&e, MBH_ERR_UNREACHABLE, "lead: ", "%s", "words");
		mbh_error_prefix(&e, "%s", lead);
		ok(strlen(e.msg) == MBH_ERRMSG_LEN - 1 && mbh_error_detail(&e) == e.msg,
		   "a prefix that pushes the detail out: no detail");
	}
	ok(mbh_error_fail(NULL, MBH_ERR_CONFIG, "x") == -1 && mbh_error_set(NULL, EX_CONFIG, "x") == -1 &&
	   !mbh_error_is(NULL, MBH_OK), "a NULL error is fine");
}

int
main(void)
{
	tap_init();
	test_table();
	test_error();
	return tap_done();
}
