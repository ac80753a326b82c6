/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cmdenv.c: what a command run for a lock is told: the values of its %-escapes and its MONGO_BACKUP_* environment. */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "cmdenv.h"
#include "uri.h"

/* See cmdenv.h. */
void
mbh_cmd_env_fill(mbh_cmd_env *x, const mbh_state_rec *rec)
{
	int port = 0, n = 0;

	if (mbh_hostport_split(rec->member, x->hostname, sizeof(x->hostname), &port) != 0)
		snprintf(x->hostname, sizeof(x->hostname), "%s", rec->member);
	snprintf(x->portnum, sizeof(x->portnum), "%d", port);
	snprintf(x->host, sizeof(x->host), "MONGO_BACKUP_HOST=%s", x->hostname);
	snprintf(x->port, sizeof(x->port), "MONGO_BACKUP_PORT=%d", port);
	snprintf(x->set, sizeof(x->set), "MONGO_BACKUP_SET=%s", rec->set_name);
	snprintf(x->job, sizeof(x->job), "MONGO_BACKUP_JOB=%s", rec->job);
	x->env[n++] = x->host;
	x->env[n++] = x->port;
	x->env[n++] = x->set;
	x->env[n++] = x->job;
	if (rec->snapshot[0] != '\0') {
		snprintf(x->snapshot, sizeof(x->snapshot), "MONGO_BACKUP_SNAPSHOT=%s", rec->snapshot);
		x->env[n++] = x->snapshot;
	}
	x->env[n] = NULL;
	memset(&x->vars, 0, sizeof(x->vars));
	x->vars.host = x->hostname;
	x->vars.port = x->portnum;
	x->vars.set = rec->set_name;
	x->vars.job = rec->job;
	x->vars.snapshot = rec->snapshot[0] != '\0' ? rec->snapshot : NULL;
}
