/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fakefd.h: the fake file daemon's driver (fakefd.c) and its plugin interfaces (fakefd14.c ... fakefd23.c). */
#ifndef MBH_FAKEFD_H
#define MBH_FAKEFD_H

/*
 * The driver plays bacula-fd's call order once; what differs between
 * interfaces (the callback table handed to the plugin, variable ids,
 * message types, save_pkt and restore_pkt, the size of the plugin's table)
 * is in one fake_iface per interface, compiled from fakefd-template.h with
 * that interface's declarations.  Only interface-neutral types cross here.
 */

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bacula-abi.h"

#define MSG_MAX 2000 /* JobMessage's buffer in bacula-fd */

/* What the fake daemon answers to getBaculaValue, whatever the interface numbers it. */
typedef enum fake_var {
	FV_OTHER = 0,
	FV_JOBID,
	FV_JOBNAME,
	FV_FDNAME,
	FV_CLIENT,
	FV_LEVEL,
	FV_WHERE,
	FV_VERSION
} fake_var;

/* What startBackupFile told the daemon. */
typedef struct fake_save {
	const char *cmd;   /* in: the plugin string */
	const char *fname; /* out */
	int type;          /* out: FT_* */
	bool no_read;      /* out */
} fake_save;

/* One file to restore: in for createFile (create_status out) and setFileAttributes. */
typedef struct fake_restore {
	const char *ofname;
	const char *where;
	int replace;
	off_t size;
	int create_status; /* CF_* */
} fake_restore;

/* The first 14 entry points, at the same offsets in every interface: what the driver calls itself. */
typedef struct fake_pfuncs {
	BFD_PFUNCS_MEMBERS;
} fake_pfuncs;

typedef struct fake_iface {
	uint32_t version;
	const char *releases;
	void *bfuncs;           /* that interface's callback table (its version is set by fake_iface_for) */
	uint32_t *bfuncs_version;
	uint32_t bfuncs_size;
	uint32_t pfuncs_size;   /* sizeof that interface's pFuncs: what the plugin must hand back */
	const char *const *mtype_names; /* M_* name by number, up to mtype_max */
	int mtype_max;
	int m_fatal, m_error, m_warning, m_info;
	/* The entry points after handleXACLdata that the plugin set (the daemon calls them when not NULL). */
	void (*optional_set)(const void *pfuncs, char *buf, size_t len);
	bRC (*start_backup_file)(const void *pfuncs, bpContext *ctx, fake_save *s);
	bRC (*create_file)(const void *pfuncs, bpContext *ctx, fake_restore *r);
	bRC (*set_file_attributes)(const void *pfuncs, bpContext *ctx, const fake_restore *r);
} fake_iface;

extern const fake_iface fake14, fake21, fake22, fake23;

/* The driver's side of the callbacks (fakefd.c), reached through each interface's table. */
bRC fake_get_value(bpContext *ctx, fake_var var, void *value);
bRC fake_job_message(bpContext *ctx, int type, const char *text);
bRC fake_debug_message(bpContext *ctx, int level, const char *text);

#endif
