/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* restore.h: a plugin restore: the stored stream into script.restore, or into a file under where. */
#ifndef MBH_RESTORE_H
#define MBH_RESTORE_H

#include <stdint.h>

#include "config.h"
#include "error.h"
#include "log.h"

/*
 * One restore of one stored stream (no lock, no member contacted).  Owner
 * thread: open, write, close; mbh_restore_cancel from any thread.  Every
 * failure is a value with a line saying what to do; the info lines (what
 * was started, how it ended) go to the logger.
 */
typedef struct mbh_restore mbh_restore;

typedef struct mbh_restore_params {
	const mbh_config *cfg;  /* borrowed, finished; must outlive the restore */
	mbh_logger *log;        /* borrowed; NULL = silent */
	const char *job_name;   /* %j and MONGO_BACKUP_JOB; NULL = "" */
	const char *where;      /* Bacula's where, for MONGO_BACKUP_WHERE; NULL = "" */
} mbh_restore_params;

/* Copy the parameters.  No I/O.  Caller owns *out. */
int mbh_restore_new(mbh_restore **out, const mbh_restore_params *p, mbh_error *err);

/*
 * path: where Bacula would write the file (where + the stored name
 * /@mongo/SET/HOST:PORT/SCRIPT, read from its end).  With script.restore:
 * start it (no shell, its own group) with the stream on its stdin, %s %h %p
 * %j and MONGO_BACKUP_SET, _HOST, _PORT, _JOB, _WHERE from the stored name
 * (the core's command environment; a cluster's component's name
 * /@mongo/CLUSTER/COMPONENT/HOST:PORT/SCRIPT: %s and MONGO_BACKUP_SET are the
 * COMPONENT, plus MONGO_BACKUP_CLUSTER and MONGO_BACKUP_COMPONENT); without: create the file anew below
 * the directory before "/@mongo/" (mbh_safefile_create: no link followed,
 * no one else's directory, mode 0600).
 */
int mbh_restore_open(mbh_restore *r, const char *path, mbh_error *err);

/*
 * Write all of buf.  The command: bounded by script.timeout from its start
 * (then it is stopped: EX_TEMPFAIL naming the rule); one that exits before
 * reading everything fails (EX_DATAERR, saying how much it read and its
 * status).  EX_TEMPFAIL "cancelled" after mbh_restore_cancel.
 */
int mbh_restore_write(mbh_restore *r, const char *buf, size_t len, mbh_error *err);

/*
 * End the stream: the file is fsynced and closed; the command's stdin is
 * closed and it must exit 0 within script.timeout having read all of it
 * (else EX_DATAERR "... after reading N of M bytes" / its status).
 */
int mbh_restore_close(mbh_restore *r, mbh_error *err);

/* Any thread, async-signal-safe: stop a write or a wait in progress (the command is killed by its owner). */
void mbh_restore_cancel(mbh_restore *r);

/* Bytes accepted by mbh_restore_write so far. */
int64_t mbh_restore_bytes(const mbh_restore *r);

/* Kill a command still running, close, free.  NULL is fine. */
void mbh_restore_free(mbh_restore *r);

#endif
