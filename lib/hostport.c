/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* hostport.c: member addresses, "HOST:PORT" or "[IPV6]:PORT": split and checked (libc only: the watchdog uses it too). */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostport.h"

/* Split "host:port" / "[v6]:port" / "host" (port 27017); see hostport.h. */
int
mbh_hostport_split(const char *host_port, char *host, size_t hostlen, int *port)
{
	const char *h, *portstr = NULL, *close;
	size_t hlen;
	char *end;
	long p = 27017;

	if (host_port == NULL || host_port[0] == '\0' || host == NULL || hostlen == 0 || port == NULL)
		return -1;
	if (host_port[0] == '[') {
		close = strchr(host_port, ']');
		if (close == NULL)
			return -1;
		h = host_port + 1;
		hlen = (size_t)(close - h);
		if (close[1] == ':')
			portstr = close + 2;
		else if (close[1] != '\0')
			return -1;
	} else {
		h = host_port;
		close = strchr(host_port, ':');
		if (close != NULL && strchr(close + 1, ':') != NULL)
			return -1; /* an IPv6 address needs brackets */
		hlen = close ? (size_t)(close - h) : strlen(h);
		if (close != NULL)
			portstr = close + 1;
	}
	if (hlen == 0 || hlen >= hostlen || strcspn(h, "/@?,#[] \t\r\n") < hlen)
		return -1;
	if (portstr != NULL) {
		if (*portstr < '0' || *portstr > '9')
			return -1;
		errno = 0;
		p = strtol(portstr, &end, 10);
		if (errno != 0 || *end != '\0' || p < 1 || p > 65535)
			return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return 0;
}

/* Check a member address as written by a user; see hostport.h. */
int
mbh_hostport_check(const char *host_port, char *why, size_t whylen)
{
	const char *close, *colon, *p;
	char host[256];
	int port;

	/* Only digits and at most five of them reach strtol: no overflow, no sign. */
	if (host_port == NULL || host_port[0] == '\0') {
		snprintf(why, whylen, "it is empty");
		return -1;
	}
	if (host_port[0] == '[') {
		close = strchr(host_port, ']');
		if (close == NULL) {
			snprintf(why, whylen, "the '[' of an IPv6 address is not closed");
			return -1;
		}
		colon = close[1] == ':' ? close + 1 : NULL;
		if (colon == NULL && close[1] != '\0') {
			snprintf(why, whylen, "']' must be followed by :PORT");
			return -1;
		}
	} else {
		colon = strrchr(host_port, ':');
		if (colon != NULL && memchr(host_port, ':', (size_t)(colon - host_port)) != NULL) {
			snprintf(why, whylen, "an IPv6 address needs brackets: [ADDRESS]:PORT");
			return -1;
		}
	}
	if (colon == NULL) {
		snprintf(why, whylen, "no :PORT");
		return -1;
	}
	if (colon == host_port || (host_port[0] == '[' && colon == host_port + 2)) {
		snprintf(why, whylen, "no host before the ':'");
		return -1;
	}
	if (colon[1] == '\0') {
		snprintf(why, whylen, "no port after the ':'");
		return -1;
	}
	for (p = colon + 1; *p != '\0'; p++)
		if (*p < '0' || *p > '9') {
			snprintf(why, whylen, "the port is not a number");
			return -1;
		}
	if (strlen(colon + 1) > 5 || strtol(colon + 1, NULL, 10) < 1 || strtol(colon + 1, NULL, 10) > 65535) {
		snprintf(why, whylen, "the port is not between 1 and 65535");
		return -1;
	}
	for (p = host_port; p < colon; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(why, whylen, "the host holds a control character");
			return -1;
		}
	if (mbh_hostport_split(host_port, host, sizeof(host), &port) != 0) {
		snprintf(why, whylen, "the host is longer than 255 bytes or holds one of / @ ? , # [ ] or a blank");
		return -1;
	}
	return 0;
}
