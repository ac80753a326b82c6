/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bacula-abi14.h: our own declarations of what is particular to plugin interface 14 (Bacula 9.0 to 9.6). */
#ifndef MBH_BACULA_ABI_IFACE
#define MBH_BACULA_ABI_IFACE 14
#else
#error "one bacula-abiNN.h per translation unit: the names are Bacula's in each"
#endif

/*
 * Sizes and offsets as measured against Debian 12's bacula-fd 9.6.7
 * (../shared/research/BACULA-9.6-PLUGIN-ABI-AND-TEST-HARNESS.md section
 * 1.5); checked by tests/unit/t_bacula_abi14.c.
 */

#include "bacula-abi.h"

#define BFD_INTERFACE_VERSION 14

/* getBaculaValue ids (renumbered from 14 up in later interfaces). */
typedef enum bVariable {
	bVarJobId = 1,       /* int * */
	bVarFDName = 2,      /* char ** */
	bVarLevel = 3,       /* int * */
	bVarType = 4,        /* int * */
	bVarClient = 5,      /* char ** */
	bVarJobName = 6,     /* char **, the unique job name (%j) */
	bVarJobStatus = 7,   /* int * */
	bVarSinceTime = 8,   /* int * */
	bVarAccurate = 9,    /* int * */
	bVarFileSeen = 10,
	bVarVssObject = 11,
	bVarVssDllHandle = 12,
	bVarWorkingDir = 13, /* char ** */
	bVarWhere = 14,      /* char ** */
	bVarRegexWhere = 15, /* char ** */
	bVarExePath = 16,
	bVarVersion = 17,    /* char ** */
	bVarDistName = 18,
	bVarxxx = 19,
	bVarPrevJobName = 20,
	bVarPrefixLinks = 21,
	bVarInteractiveSession = 22,
	bVarFileIndex = 23,
	bVarReplace = 24     /* int * */
} bVariable;

/* Job message types (JobMessage's `type`).  M_ABORT and M_ERROR_TERM end the daemon: never use them. */
#define M_ABORT 1
#define M_DEBUG 2
#define M_FATAL 3      /* fails the job; the only way a plugin can */
#define M_ERROR 4      /* "OK -- with warnings" */
#define M_WARNING 5
#define M_INFO 6
#define M_SAVED 7
#define M_NOTSAVED 8
#define M_SKIPPED 9
#define M_MOUNT 10
#define M_ERROR_TERM 11
#define M_TERM 12
#define M_RESTORED 13
#define M_SECURITY 14
#define M_ALERT 15
#define M_VOLMGMT 16
#define M_MAX M_VOLMGMT

/* startBackupFile: the daemon zeroes it and sets pkt_size, portable and cmd; the plugin names one file. */
struct save_pkt {
	int32_t pkt_size;
	char *fname;          /* must stay valid until endBackupFile */
	char *link;
	struct stat statp;
	int32_t type;         /* FT_* */
	uint64_t flags;
	bool no_read;
	bool portable;
	bool accurate_found;
	char *cmd;            /* the plugin string */
	uint32_t delta_seq;
	char *object_name;    /* restore objects only */
	char *object;
	int32_t object_len;
	int32_t index;
	int32_t LinkFI;
	int32_t pkt_end;
};

/* createFile / setFileAttributes: one file to restore. */
struct restore_pkt {
	int32_t pkt_size;
	BFD_RESTORE_PKT_MEMBERS;
};

/* The daemon's callbacks (144 bytes; all 17 set by bacula-fd 9.6.7). */
typedef struct bFuncs {
	BFD_BFUNCS_MEMBERS;
} bFuncs;

/* The plugin's entry points (128 bytes; checkFile, handleXACLdata and checkStream may be NULL). */
typedef struct pFuncs {
	BFD_PFUNCS_MEMBERS;
	bRC (*checkStream)(bpContext *ctx, struct stream_pkt *sp);
} pFuncs;
