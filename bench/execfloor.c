/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * execfloor: `execfloor RUNS CMD [ARG...]` measures what starting CMD costs
 * on this machine at the least: the core's own gated spawn (lib/run.c,
 * MBH_RUN_GATED, as every mode uses at the lock) from a small one-thread
 * process, timed from the gate's opening to the first byte on CMD's stdout.
 * No lock, no network, no Bacula.  Prints "median=M min=m max=x" (ms).
 * bench/plugin-bench.sh prints it beside the lock window: a command started
 * after the lock (invariant 8) cannot give its first byte sooner than this.
 * Not installed; built by `make bench-plugin`.
 */
#include "autoconfig.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

#define MAX_RUNS 1000

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	static double ms[MAX_RUNS];
	struct pollfd pf;
	mbh_child *c = NULL;
	mbh_error err;
	char byte;
	double t0;
	int runs, i, status, rc = 1;

	if (argc < 3 || (runs = atoi(argv[1])) < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "usage: execfloor RUNS(1-%d) CMD [ARG...]\n", MAX_RUNS);
		return 64;
	}
	for (i = 0; i < runs; i++) {
		mbh_error_init(&err);
		if (mbh_child_spawn(&c, (const char *const *)argv + 2, NULL, MBH_RUN_PIPE_STDOUT | MBH_RUN_GATED,
				    &err) != 0) {
			fprintf(stderr, "execfloor: %s\n", err.msg);
			goto out;
		}
		usleep(20000); /* the fork's own work is over, as at a lock */
		t0 = now_ms();
		pf.fd = mbh_child_stdout_fd(c);
		pf.events = POLLIN;
		if (mbh_child_open_gate(c, &err) != 0 || poll(&pf, 1, 10000) != 1 || read(pf.fd, &byte, 1) != 1) {
			fprintf(stderr, "execfloor: %s gave no first byte: %s\n", argv[2],
				err.code != 0 ? err.msg : "nothing within 10 s");
			goto out;
		}
		ms[i] = now_ms() - t0;
		mbh_child_kill(c, SIGKILL);
		mbh_child_wait(c, 0, -1, &status, &err);
		mbh_child_free(c);
		c = NULL;
	}
	qsort(ms, (size_t)runs, sizeof(ms[0]), by_value);
	printf("median=%.2f min=%.2f max=%.2f\n", runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2,
	       ms[0], ms[runs - 1]);
	rc = 0;
out:
	mbh_child_free(c);
	return rc;
}
