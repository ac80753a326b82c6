/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* streamname.c: the name a plugin backup is stored under, /@mongo/SET/HOST:PORT/SCRIPT, built and read back. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamname.h"

/* Build the stored name. */
int
mbh_stream_name_build(char **out, const char *set, const char *member, const char *command, mbh_error *err)
{
	const char *base = strrchr(command, '/');

	base = base != NULL && base[1] != '\0' ? base + 1 : command;
	if (asprintf(out, MBH_STREAM_PREFIX "%s/%s/%s", set, member, base) < 0) {
		*out = NULL;
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	return 0;
}

/* Copy [s, s+n) into dst (size cap) as a string; -1 when it does not fit or is empty. */
static int
part(char *dst, size_t cap, const char *s, size_t n)
{
	if (n == 0 || n >= cap)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* Parse from the end of path. */
int
mbh_stream_name_parse(const char *path, mbh_stream_name *out, mbh_error *err)
{
	const char *end = path + strlen(path), *cut[4];
	int k;

	memset(out, 0, sizeof(*out));
	/* cut[0] > cut[1] > cut[2] > cut[3]: the slashes before SCRIPT, MEMBER, SET and "@mongo" */
	for (k = 0; k < 4; k++) {
		const char *p = k == 0 ? end : cut[k - 1];

		while (p > path && p[-1] != '/')
			p--;
		if (p == path)
			goto bad;
		cut[k] = p - 1;
	}
	if (strncmp(cut[3], MBH_STREAM_PREFIX, strlen(MBH_STREAM_PREFIX)) != 0 ||
	    part(out->set, sizeof(out->set), cut[2] + 1, (size_t)(cut[1] - cut[2] - 1)) != 0 ||
	    part(out->member, sizeof(out->member), cut[1] + 1, (size_t)(cut[0] - cut[1] - 1)) != 0 ||
	    part(out->script, sizeof(out->script), cut[0] + 1, (size_t)(end - cut[0] - 1)) != 0 ||
	    strchr(out->member, ':') == NULL)
		goto bad;
	out->base_len = (size_t)(cut[3] - path);
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return mbh_error_set(err, EX_DATAERR, "'%s' does not end in a name mongo-fd stores (" MBH_STREAM_PREFIX
			     "SET/HOST:PORT/SCRIPT): restore a file a mongo-fd backup made", path);
}
