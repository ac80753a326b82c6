/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cmdenv.h: what a command run for a lock is told: the values of its %-escapes and its MONGO_BACKUP_* environment. */
#ifndef MBH_CMDENV_H
#define MBH_CMDENV_H

#include "run.h"
#include "state.h"

/*
 * The escapes' values (%h %p %s %j %S) and the environment of a command the
 * job starts (the backup command, snapshot.create/remove), from a record:
 * MONGO_BACKUP_HOST, _PORT, _SET, _JOB and, once there is one, _SNAPSHOT.
 * Nothing secret.
 */
typedef struct mbh_cmd_env {
	char hostname[262], portnum[16];
	char host[300], port[40], set[160], job[160], snapshot[MBH_SNAPSHOT_MAX + 32];
	const char *env[6];
	mbh_run_vars vars;
} mbh_cmd_env;

/* Fill x from rec; x borrows rec's strings (keep rec while x is used). */
void mbh_cmd_env_fill(mbh_cmd_env *x, const mbh_state_rec *rec);

#endif
