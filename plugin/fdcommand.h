/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fdcommand.h: the FileSet's plugin string ("mongo: config=PATH[:key=value]...") -> the plugin's options. */
#ifndef MBH_FDCOMMAND_H
#define MBH_FDCOMMAND_H

#include "error.h"

/*
 * mongo: config=PATH[:member=HOST:PORT][:policy=auto|local|member][:job=NAME]
 *
 * Fields are separated by ':'.  A field that does not start with a word
 * followed by '=' continues the value before it, so "member=db2:27017" and
 * a path with a ':' in it need no quoting.  Blanks around a field are
 * ignored.  Pure: no I/O, no allocation outside *out.
 */
typedef struct mbh_fdcommand {
	char *config;  /* required: the product's configuration file */
	char *member;  /* "host:port" or NULL (the config decides) */
	char *policy;  /* "auto", "local", "member" or NULL (the config decides) */
	char *job;     /* the job name recorded in the state file, or NULL (Bacula's unique job name) */
} mbh_fdcommand;

#define MBH_FDCOMMAND_PLUGIN "mongo"

/*
 * Parse a plugin string.  On failure *out is NULL and err holds one line
 * (EX_CONFIG) naming the key or the problem: an unknown key, a key given
 * twice, an empty or bad value, a missing config=, a string that is not for
 * this plugin.  Caller owns *out (mbh_fdcommand_free).
 */
int mbh_fdcommand_parse(mbh_fdcommand **out, const char *text, mbh_error *err);

/* Free.  NULL is fine. */
void mbh_fdcommand_free(mbh_fdcommand *cmd);

#endif
