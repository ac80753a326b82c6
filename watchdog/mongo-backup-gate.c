/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * mongo-backup-gate.c: where a command started before a lock waits for it.
 *
 * The core's gated spawn (lib/run.c, mbh_child_spawn_via) forks, sets the
 * command's process up (its own process group, the parent-death signal,
 * signals, descriptors, environment) and execs this small program before the
 * lock is taken: the host's copy (a fork of bacula-fd) is torn down then.
 * It waits for one byte on descriptor 3, the gate, and execs the command:
 * the exec after the lock starts from this process, not from a copy of the
 * host.  The gate closing without the byte means never: it exits 127 and
 * nothing runs.  Why the command could not be executed goes to descriptor 4
 * as an int errno (the core reads it); descriptor 4 closes on the command's
 * exec, which tells the core it ran.  The same process throughout: the pid
 * recorded, killed and reaped is the command's.
 *
 * usage (by lib/run.c only): mongo-backup-gate PATH... -- ARGV0 [ARG...]
 *   PATH...  where ARGV0 may be, in order (the core's PATH search)
 * Its argv and environment are the command's own: nothing secret.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define GATE_FD 3
#define ERR_FD 4

static void __attribute__((noreturn))
fail(int e)
{
	if (write(ERR_FD, &e, sizeof(e)) < 0)
		e = 0;
	_exit(127);
}

int
main(int argc, char **argv)
{
	int sep, i, first_err = 0;
	ssize_t r;
	char go;

	for (sep = 1; sep < argc && strcmp(argv[sep], "--") != 0; sep++)
		;
	if (sep < 2 || sep + 1 >= argc)
		fail(EINVAL);
	do {
		r = read(GATE_FD, &go, 1);
	} while (r < 0 && errno == EINTR);
	if (r != 1)
		_exit(127);
	close(GATE_FD);
	if (fcntl(ERR_FD, F_SETFD, FD_CLOEXEC) != 0)
		fail(errno);
	/* as the core's own exec: a file without #! is an error, never handed to /bin/sh */
	for (i = 1; i < sep; i++) {
		execv(argv[i], argv + sep + 1);
		if (errno != ENOENT && errno != ENOTDIR && errno != EACCES)
			fail(errno);
		if (first_err == 0 || first_err == ENOENT || first_err == ENOTDIR)
			first_err = errno;
	}
	fail(first_err != 0 ? first_err : ENOENT);
}
