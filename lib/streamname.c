/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* streamname.c: the name a plugin backup is stored under, /@mongo/SET/HOST:PORT/SCRIPT (or a cluster's), built and read back. */
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

/* See streamname.h. */
int
mbh_stream_name_build_cluster(char **out, const char *cluster, const char *component, const char *member,
			      const char *command, mbh_error *err)
{
	const char *base = strrchr(command, '/');

	base = base != NULL && base[1] != '\0' ? base + 1 : command;
	if (asprintf(out, MBH_STREAM_PREFIX "%s/%s/%s/%s", cluster, component, member, base) < 0) {
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

/*
 * The last nparts components of path, "@mongo" first: parts[k] gets the
 * k-th after "@mongo" (caps[k] bytes).  -1 when path does not end so.
 */
static int
split_end(const char *path, int nparts, char *const *parts, const size_t *caps, size_t *base_len)
{
	const char *end = path + strlen(path), *cut[6];
	int k;

	/* cut[0] > cut[1] > ...: the slashes before the last component, the one before, ... "@mongo" */
	for (k = 0; k <= nparts; k++) {
		const char *p = k == 0 ? end : cut[k - 1];

		while (p > path && p[-1] != '/')
			p--;
		if (p == path)
			return -1;
		cut[k] = p - 1;
	}
	if (strncmp(cut[nparts], MBH_STREAM_PREFIX, strlen(MBH_STREAM_PREFIX)) != 0)
		return -1;
	for (k = 0; k < nparts; k++) {
		const char *from = cut[nparts - 1 - k] + 1, *to = k == nparts - 1 ? end : cut[nparts - 2 - k];

		if (part(parts[k], caps[k], from, (size_t)(to - from)) != 0)
			return -1;
	}
	*base_len = (size_t)(cut[nparts] - path);
	return 0;
}

/* Parse from the end of path: one set's form, else a cluster's. */
int
mbh_stream_name_parse(const char *path, mbh_stream_name *out, mbh_error *err)
{
	char *set_parts[3] = { out->set, out->member, out->script };
	const size_t set_caps[3] = { sizeof(out->set), sizeof(out->member), sizeof(out->script) };
	char *cl_parts[4] = { out->cluster, out->component, out->member, out->script };
	const size_t cl_caps[4] = { sizeof(out->cluster), sizeof(out->component), sizeof(out->member),
				    sizeof(out->script) };

	memset(out, 0, sizeof(*out));
	if (split_end(path, 3, set_parts, set_caps, &out->base_len) == 0 && strchr(out->member, ':') != NULL)
		return 0;
	memset(out, 0, sizeof(*out));
	if (split_end(path, 4, cl_parts, cl_caps, &out->base_len) == 0 && strchr(out->member, ':') != NULL)
		return 0;
	memset(out, 0, sizeof(*out));
	return mbh_error_set(err, EX_DATAERR, "'%s' does not end in a name mongo-fd stores (" MBH_STREAM_PREFIX
			     "SET/HOST:PORT/SCRIPT, or " MBH_STREAM_PREFIX "CLUSTER/COMPONENT/HOST:PORT/SCRIPT): "
			     "restore a file a mongo-fd backup made", path);
}
