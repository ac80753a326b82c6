/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* streamname.h: the name a plugin backup is stored under, /@mongo/SET/HOST:PORT/SCRIPT (a cluster's: /@mongo/CLUSTER/COMPONENT/HOST:PORT/SCRIPT), built and read back. */
#ifndef MBH_STREAMNAME_H
#define MBH_STREAMNAME_H

#include <stddef.h>

#include "error.h"

#define MBH_STREAM_PREFIX "/@mongo/"

/* Caller frees *out: "/@mongo/SET/MEMBER/" and the last component of command.  EX_OSERR on no memory. */
int mbh_stream_name_build(char **out, const char *set, const char *member, const char *command, mbh_error *err);

/*
 * A sharded cluster's component (one file per component of one backup):
 * "/@mongo/CLUSTER/COMPONENT/MEMBER/" and the last component of command;
 * COMPONENT is a shard's _id or "config".  EX_OSERR on no memory.
 */
int mbh_stream_name_build_cluster(char **out, const char *cluster, const char *component, const char *member,
				  const char *command, mbh_error *err);

/* The parts of a stored name found at the end of a path (where + the stored name). */
typedef struct mbh_stream_name {
	size_t base_len;   /* bytes of the path before "/@mongo/": the directory it was restored under */
	char cluster[128]; /* a cluster's name: "" for one replica set's name */
	char component[128]; /* a cluster's component (shard _id or "config"); "" for one set's */
	char set[128];     /* one set's name; "" for a cluster's */
	char member[262];  /* "HOST:PORT", as a record holds it */
	char script[256];
} mbh_stream_name;

/*
 * Pure: read the stored name from the END of path (its last four
 * components must be "@mongo", SET, HOST:PORT, SCRIPT; else its last five
 * "@mongo", CLUSTER, COMPONENT, HOST:PORT, SCRIPT, a cluster's), so that a
 * where holding "/@mongo/" itself changes nothing.  The set's form is tried
 * first: a cluster named "@mongo" reads as one set's.  EX_DATAERR when path
 * does not end in a stored name.
 */
int mbh_stream_name_parse(const char *path, mbh_stream_name *out, mbh_error *err);

#endif
