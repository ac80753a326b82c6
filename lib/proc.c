/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* proc.c: process identity: a pid with its start time, so a reused pid is never taken for the process recorded. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

/* Field 22 of /proc/PID/stat (0: no such process); *state = field 3 ('R', 'S', 'Z', ...). */
static uint64_t
proc_stat(long pid, char *state)
{
	char path[64], buf[4096];
	unsigned long long v;
	const char *p;
	ssize_t n;
	char *end;
	int fd, field;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm (field 2) may hold spaces and ')': fields 3.. start after the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ')
		return 0;
	*state = p[2];
	p++;
	for (field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return 0;
		if (field == 22)
			break;
		p = strchr(p, ' ');
		if (p == NULL)
			return 0;
	}
	if (*p < '0' || *p > '9')
		return 0;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno != 0 || (*end != ' ' && *end != '\0' && *end != '\n'))
		return 0;
	return (uint64_t)v;
}

/* Field 22 of /proc/PID/stat. */
uint64_t
mbh_proc_starttime(long pid)
{
	char state = '?';

	return proc_stat(pid, &state);
}

/* Still the process that started at start, and not a zombie (dead, waiting for its parent to reap it)? */
bool
mbh_proc_running(long pid, uint64_t start)
{
	char state = '?';

	return start != 0 && proc_stat(pid, &state) == start && state != 'Z' && state != 'X';
}
