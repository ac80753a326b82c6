/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* hostport.h: member addresses, "HOST:PORT" or "[IPV6]:PORT": split and checked. */
#ifndef MBH_HOSTPORT_H
#define MBH_HOSTPORT_H

#include <stddef.h>

/* Split "host:port" (or "[v6]:port") into host (NUL-terminated) and port. Returns 0 or -1. */
int mbh_hostport_split(const char *host_port, char *host, size_t hostlen, int *port);

/*
 * Pure: is host_port a member address as a user must write it, "HOST:PORT"
 * or "[IPV6]:PORT" with the port written out (1 to 65535)?  Returns 0, or -1
 * with why set to what is wrong ("no :PORT", "port 0 is not between 1 and
 * 65535", ...), never quoting the string itself.
 */
int mbh_hostport_check(const char *host_port, char *why, size_t whylen);

#endif
