/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tap.h: a tiny TAP producer for the unit tests (plan first, output buffered until the end). */
#ifndef MBH_TAP_H
#define MBH_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Results are collected in memory and printed after the plan by tap_done(),
 * so the plan can come first without counting cases by hand.  Forked
 * children must leave with _exit() so they never print the buffer.
 */
static FILE *tap_buf;
static char *tap_text;
static size_t tap_len;
static int tap_num;
static int tap_failed;

static void
tap_init(void)
{
	tap_buf = open_memstream(&tap_text, &tap_len);
	if (tap_buf == NULL) {
		printf("Bail out! open_memstream failed\n");
		exit(1);
	}
}

static int __attribute__((unused))
tap_done(void)
{
	fclose(tap_buf);
	printf("1..%d\n%s", tap_num, tap_text ? tap_text : "");
	fflush(stdout);
	free(tap_text);
	return tap_failed ? 1 : 0;
}

static void __attribute__((format(printf, 1, 2), unused))
diag(const char *fmt, ...)
{
	va_list ap;

	fprintf(tap_buf, "# ");
	va_start(ap, fmt);
	vfprintf(tap_buf, fmt, ap);
	va_end(ap);
	fprintf(tap_buf, "\n");
}

static int __attribute__((format(printf, 2, 3), unused))
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(tap_buf, "%sok %d - ", cond ? "" : "not ", ++tap_num);
	va_start(ap, fmt);
	vfprintf(tap_buf, fmt, ap);
	va_end(ap);
	fprintf(tap_buf, "\n");
	if (!cond)
		tap_failed++;
	return cond;
}

static void __attribute__((format(printf, 1, 2), unused))
skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(tap_buf, "ok %d # SKIP ", ++tap_num);
	va_start(ap, fmt);
	vfprintf(tap_buf, fmt, ap);
	va_end(ap);
	fprintf(tap_buf, "\n");
}

static int __attribute__((unused))
is_str(const char *got, const char *want, const char *name)
{
	int same = got != NULL && want != NULL ? strcmp(got, want) == 0 : got == want;

	ok(same, "%s", name);
	if (!same)
		fprintf(tap_buf, "#   got:  \"%s\"\n#   want: \"%s\"\n", got ? got : "(null)", want ? want : "(null)");
	return same;
}

static int __attribute__((unused))
is_int(long long got, long long want, const char *name)
{
	ok(got == want, "%s", name);
	if (got != want)
		fprintf(tap_buf, "#   got:  %lld\n#   want: %lld\n", got, want);
	return got == want;
}

#endif
