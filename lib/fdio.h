/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fdio.h: plain descriptor I/O that a short write or a signal must not cut short. */
#ifndef MBH_FDIO_H
#define MBH_FDIO_H

#include <stddef.h>

/*
 * write(2) all len bytes of buf to fd, again after EINTR and a short write.
 * 0, or -1 with errno set (EIO when the kernel took nothing); what was
 * written before a failure stays written.
 */
int mbh_fdio_write_all(int fd, const void *buf, size_t len);

#endif
