/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* hostid.c: the names and addresses this host answers to (for selection.policy = "local"). */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "hostid.h"

#define MAX_LOCAL_HOSTS 64

/* Add name to the list if it is new. */
static void
add_host(char **list, size_t *n, const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || *n + 1 >= MAX_LOCAL_HOSTS)
		return;
	for (i = 0; i < *n; i++)
		if (strcasecmp(list[i], name) == 0)
			return;
	if ((list[*n] = strdup(name)) != NULL)
		(*n)++;
}

/* The names of this host; see hostid.h. */
char **
mbh_host_names(void)
{
	char **list = calloc(MAX_LOCAL_HOSTS, sizeof(*list));
	char name[256], addr[INET6_ADDRSTRLEN], *dot;
	struct addrinfo hints, *ai = NULL;
	struct ifaddrs *ifa = NULL, *p;
	size_t n = 0;

	if (list == NULL)
		return NULL;
	add_host(list, &n, "localhost");
	if (gethostname(name, sizeof(name)) == 0) {
		name[sizeof(name) - 1] = '\0';
		add_host(list, &n, name);
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_CANONNAME;
		if (getaddrinfo(name, NULL, &hints, &ai) == 0 && ai != NULL)
			add_host(list, &n, ai->ai_canonname);
		if (ai != NULL)
			freeaddrinfo(ai);
		if ((dot = strchr(name, '.')) != NULL) {
			*dot = '\0';
			add_host(list, &n, name);
		}
	}
	if (getifaddrs(&ifa) == 0) {
		for (p = ifa; p != NULL; p = p->ifa_next) {
			if (p->ifa_addr == NULL)
				continue;
			if (p->ifa_addr->sa_family == AF_INET &&
			    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)p->ifa_addr)->sin_addr, addr, sizeof(addr)))
				add_host(list, &n, addr);
			else if (p->ifa_addr->sa_family == AF_INET6 &&
				 inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)p->ifa_addr)->sin6_addr, addr,
					   sizeof(addr)))
				add_host(list, &n, addr);
		}
		freeifaddrs(ifa);
	}
	list[n] = NULL;
	return list;
}

