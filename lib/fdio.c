/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fdio.c: plain descriptor I/O that a short write or a signal must not cut short. */
#include "autoconfig.h"

#include <sys/types.h>
#include <errno.h>
#include <unistd.h>

#include "fdio.h"

/* See fdio.h. */
int
mbh_fdio_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0)
			errno = EIO; /* a write that takes nothing would spin: a failure with a reason */
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}
