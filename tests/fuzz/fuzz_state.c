/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fuzz_state.c: libFuzzer target for the state record: parse, format, parse again, same record. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "state.h"
#include "fuzz.h"

/* Two records hold the same values. */
static int
same_record(const mbh_state_rec *a, const mbh_state_rec *b)
{
	return strcmp(a->set_name, b->set_name) == 0 && strcmp(a->member, b->member) == 0 && a->phase == b->phase &&
	       a->lock_count == b->lock_count && a->since == b->since && a->deadline == b->deadline &&
	       a->pid == b->pid && strcmp(a->hostname, b->hostname) == 0 && strcmp(a->job, b->job) == 0 &&
	       strcmp(a->mode, b->mode) == 0 && a->watchdog_pid == b->watchdog_pid &&
	       a->watchdog_start == b->watchdog_start && a->frozen == b->frozen;
}

/* Nothing to set up. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* One input: a state file's text (up to a NUL). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mbh_state_rec rec, again;
	char buf[4096], buf2[4096], *text;
	mbh_error err;
	int n, n2;

	if ((text = strndup((const char *)data, size)) == NULL)
		return 0;
	mbh_error_init(&err);
	if (mbh_state_parse(&rec, text, &err) != 0) {
		FUZZ_ASSERT(err.code == EX_DATAERR, "a bad record is a data error");
		FUZZ_ASSERT(strncmp(err.msg, "line ", 5) == 0, "a parse error names the line");
		goto out;
	}
	FUZZ_ASSERT(rec.phase == MBH_PHASE_LOCKING || rec.phase == MBH_PHASE_LOCKED, "a parsed record has a phase");
	FUZZ_ASSERT(rec.member[0] != '\0' && rec.set_name[0] != '\0', "a parsed record names a set and a member");
	n = mbh_state_format(&rec, buf, sizeof(buf));
	FUZZ_ASSERT(n > 0 && (size_t)n < sizeof(buf) && strlen(buf) == (size_t)n, "a parsed record formats");
	mbh_error_init(&err);
	FUZZ_ASSERT(mbh_state_parse(&again, buf, &err) == 0, "a formatted record parses");
	FUZZ_ASSERT(same_record(&rec, &again), "parse(format(parse(x))) == parse(x)");
	n2 = mbh_state_format(&again, buf2, sizeof(buf2));
	FUZZ_ASSERT(n2 == n && memcmp(buf, buf2, (size_t)n) == 0, "formatting is stable");
	FUZZ_ASSERT(mbh_state_format(&rec, buf2, (size_t)n) == -1, "a buffer one byte short is refused, not overrun");
out:
	free(text);
	return 0;
}
