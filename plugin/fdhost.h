/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fdhost.h: the file daemon as the plugin's logic sees it, whatever its plugin interface: calls both ways. */
#ifndef MBH_FDHOST_H
#define MBH_FDHOST_H

/*
 * mongo-fd.c (the logic) is written once against this face.  One thin
 * layer per plugin interface (bacula14.c ... bacula23.c, one chosen by
 * loadPlugin in bacula-load.c) maps it onto that interface's message
 * numbers, variable ids, event numbers, packet layouts and entry-point
 * table.  Nothing here is a Bacula number or layout, so a layer for another
 * daemon (Bareos) would map this same face.
 *
 * Threads: the daemon calls an instance from its job thread, and
 * FDHOST_EV_CANCEL from another thread; the host calls below may be made
 * from either.
 */

#include <sys/types.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef struct fdhost_ctx fdhost_ctx; /* the daemon's handle of one plugin instance (only layers look inside) */
typedef struct fdjob fdjob;           /* the logic's instance (only the logic looks inside) */

/* What an entry point answers; a layer maps it onto its daemon's return codes. */
typedef enum fdhost_rc {
	FDHOST_OK = 0,
	FDHOST_FAIL, /* this step failed (the logic has sent an FDHOST_FATAL message when the job must fail) */
	FDHOST_SEEN, /* checkFile: the file is one of ours, not a deleted one */
	FDHOST_MORE  /* endBackupFile: another file of this command follows (startBackupFile again) */
} fdhost_rc;

/* The kinds of job message.  Only FDHOST_FATAL fails the job; FDHOST_ERROR makes it "OK -- with warnings". */
typedef enum fdhost_msg {
	FDHOST_INFO = 0,
	FDHOST_WARNING,
	FDHOST_ERROR,
	FDHOST_FATAL,
	FDHOST_MSG_KINDS
} fdhost_msg;

/* What the logic reads from the daemon. */
typedef enum fdhost_var {
	FDHOST_JOBID = 0, /* int */
	FDHOST_JOBNAME,   /* string: the unique job name (%j) */
	FDHOST_WHERE,     /* string: the restore's where ("" for /) */
	FDHOST_VARS
} fdhost_var;

/* The events the logic acts on; the daemon's other events arrive as FDHOST_EV_OTHER. */
typedef enum fdhost_event {
	FDHOST_EV_OTHER = 0,
	FDHOST_EV_BACKUP_COMMAND,   /* value: the plugin string; right before startBackupFile */
	FDHOST_EV_ESTIMATE_COMMAND, /* value: the plugin string; no I/O follows */
	FDHOST_EV_RESTORE_COMMAND,  /* value: the plugin string saved at backup time */
	FDHOST_EV_CANCEL,           /* on another thread, against the running instance */
	FDHOST_EV_END_BACKUP_JOB,   /* always sent, also on failure and cancel */
	FDHOST_EV_END_RESTORE_JOB   /* always sent */
} fdhost_event;

/* A file a backup command makes (startBackupFile; one per component for a cluster): filled by the logic. */
typedef struct fdhost_file {
	const char *fname; /* stays valid until the next command */
	mode_t mode;       /* type and permission bits */
	off_t size;        /* -1: not known (a stream) */
	time_t mtime;
} fdhost_file;

/* What createFile decides for one file to restore. */
typedef enum fdhost_create {
	FDHOST_CREATE_ERROR = 0,
	FDHOST_CREATE_SKIP,   /* nothing to write (replace=never on an existing file) */
	FDHOST_CREATE_EXTRACT /* the data comes through the plugin's I/O */
} fdhost_create;

/* One file to restore (createFile): ofname and replace from the daemon, create_status set by the logic. */
typedef struct fdhost_restore {
	const char *ofname; /* where + the saved name */
	int replace;        /* 'a' always, 'w' ifnewer, 'o' ifolder, 'n' never */
	fdhost_create create_status;
} fdhost_restore;

typedef enum fdhost_io_func {
	FDHOST_IO_OTHER = 0, /* seek and anything else: refused (a stream) */
	FDHOST_IO_OPEN,
	FDHOST_IO_READ,
	FDHOST_IO_WRITE,
	FDHOST_IO_CLOSE
} fdhost_io_func;

/* One plugin I/O call.  The logic sets status (bytes, 0 = the end or done, < 0 = error with io_errno). */
typedef struct fdhost_io {
	fdhost_io_func func;
	int32_t count; /* bytes to read, or in buf to write */
	int32_t flags; /* open(2) flags of an open */
	mode_t mode;
	char *buf;
	const char *fname;
	int32_t status;
	int32_t io_errno;
} fdhost_io;

/*
 * What the logic may ask of the daemon: one set per interface, chosen at
 * load time and constant afterwards.  A line carries no newline; the layer
 * adds the plugin's name and whatever its daemon needs around it.
 */
typedef struct fdhost {
	unsigned version; /* the interface spoken */
	void (*message)(fdhost_ctx *ctx, fdhost_msg kind, const char *line); /* to the job log */
	void (*debug)(fdhost_ctx *ctx, const char *line);                    /* to the daemon's debug output */
	bool (*get_int)(fdhost_ctx *ctx, fdhost_var var, int *out);
	bool (*get_str)(fdhost_ctx *ctx, fdhost_var var, const char **out); /* the daemon's string: copy it */
} fdhost;

/*
 * The logic's entry points, called by the layers (mongo-fd.c).  Every
 * fdjob argument may be NULL or not one of ours (a daemon's bug): the
 * answer is then FDHOST_FAIL and nothing is touched.
 */

/* Once, when the daemon loads the plugin: keep host (static storage) and start the libraries. */
int mfd_load(const fdhost *host);
/* Once, when the daemon unloads a plugin that mfd_load accepted. */
void mfd_unload(void);

/* A new instance (a job or a console connection); *out is what the layer hands back on every call. */
fdhost_rc mfd_new(fdhost_ctx *ctx, fdjob **out);
/* The instance ends: whatever it still holds is released, f is freed. */
fdhost_rc mfd_free(fdjob *f);
fdhost_rc mfd_event(fdjob *f, fdhost_event event, void *value);
fdhost_rc mfd_start_backup_file(fdjob *f, fdhost_file *file);
fdhost_rc mfd_end_backup_file(fdjob *f);
fdhost_rc mfd_start_restore_file(fdjob *f, const char *cmd);
fdhost_rc mfd_end_restore_file(fdjob *f);
fdhost_rc mfd_io(fdjob *f, fdhost_io *io);
fdhost_rc mfd_create_file(fdjob *f, fdhost_restore *r);
fdhost_rc mfd_set_file_attributes(fdjob *f);
fdhost_rc mfd_check_file(fdjob *f, const char *fname);
/* Entry points with nothing to do (plugin values): FDHOST_OK for one of ours. */
fdhost_rc mfd_noop(fdjob *f);

#endif
