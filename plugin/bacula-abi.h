/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bacula-abi.h: our own declarations of Bacula 9.6's file-daemon plugin interface 14 (x86_64 layouts). */
#ifndef MBH_BACULA_ABI_H
#define MBH_BACULA_ABI_H

/*
 * Written from the facts in ../shared/research/BACULA-9.6-PLUGIN-ABI-AND-TEST-HARNESS.md
 * (sizes and offsets measured against Debian 12's bacula-fd 9.6.7), not from
 * Bacula's headers, which Debian does not ship.  tests/unit/t_bacula_abi.c
 * checks every size and offset below against that note.  The names are
 * Bacula's, so that the code reads like the interface it speaks.
 *
 * Interface 14 only.  Interfaces 21/22/23 (Bacula 11/13/15) move fields of
 * save_pkt and restore_pkt and renumber the bVariable ids from 14 up: they
 * would need their own declarations, chosen from binfo->version.
 */

#include <sys/stat.h>
#include <sys/types.h>
#include <stdbool.h>
#include <stdint.h>

#define BFD_INTERFACE_VERSION 14
#define BFD_PLUGIN_MAGIC "*FDPluginData*"
#define BFD_PLUGIN_LICENSE "AGPLv3" /* the loader compares exactly (case-sensitive) */

/* What every callback returns.  The file daemon ignores it for pluginIO (only io_pkt.status counts). */
typedef enum bRC {
	bRC_OK = 0,
	bRC_Stop = 1,
	bRC_Error = 2,
	bRC_More = 3, /* endBackupFile: call startBackupFile again */
	bRC_Term = 4,
	bRC_Seen = 5,
	bRC_Core = 6,
	bRC_Skip = 7,
	bRC_Cancel = 8,
	bRC_Max = 9999
} bRC;

/* One plugin instance: bContext is the daemon's, pContext ours (set in newPlugin). */
typedef struct bpContext {
	void *bContext;
	void *pContext;
} bpContext;

/* Event numbers (handlePluginEvent's bEvent.eventType) and what `value` carries. */
typedef enum bEventType {
	bEventJobStart = 1,            /* char *"JobId=N Job=NAME" */
	bEventJobEnd = 2,              /* NULL; not sent when the job failed or was cancelled */
	bEventStartBackupJob = 3,
	bEventEndBackupJob = 4,        /* always sent, also on failure and cancel */
	bEventStartRestoreJob = 5,
	bEventEndRestoreJob = 6,       /* always sent */
	bEventStartVerifyJob = 7,
	bEventEndVerifyJob = 8,
	bEventBackupCommand = 9,       /* char *plugin string; right before startBackupFile */
	bEventRestoreCommand = 10,     /* char *plugin string saved at backup time */
	bEventEstimateCommand = 11,    /* char *plugin string; no pluginIO follows */
	bEventLevel = 12,              /* (intptr_t) 'F', 'I' or 'D' */
	bEventSince = 13,              /* (time_t) */
	bEventCancelCommand = 14,      /* NULL; runs on another thread */
	bEventVssBackupAddComponents = 15,
	bEventVssRestoreLoadComponentMetadata = 16,
	bEventVssRestoreSetComponentsSelected = 17,
	bEventRestoreObject = 18,
	bEventEndFileSet = 19,
	bEventPluginCommand = 20,      /* char *plugin string, while the FileSet is received */
	bEventVssBeforeCloseRestore = 21,
	bEventVssPrepareSnapshot = 22,
	bEventOptionPlugin = 23,
	bEventHandleBackupFile = 24,
	bEventComponentInfo = 25,
	bEventFeatures = 26
} bEventType;

typedef struct bEvent {
	uint32_t eventType;
} bEvent;

/* What the daemon tells loadPlugin about itself: {8, 14}. */
typedef struct bInfo {
	uint32_t size;
	uint32_t version;
} bInfo;

/* getBaculaValue ids of interface 14 (from 14 up they differ in later interfaces). */
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

/* io_pkt.func */
#define IO_OPEN 1
#define IO_READ 2
#define IO_WRITE 3
#define IO_CLOSE 4
#define IO_SEEK 5

/* restore_pkt.create_status */
#define CF_SKIP 1
#define CF_ERROR 2
#define CF_EXTRACT 3 /* the plugin takes the data through pluginIO */
#define CF_CREATED 4
#define CF_CORE 5    /* the daemon writes the file itself */

/* save_pkt.type / restore_pkt.type */
#define FT_REG 3
#define FT_LNK 4
#define FT_DIREND 5
#define FT_RESTORE_FIRST 25

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
	int32_t stream;
	int32_t data_stream;
	int32_t type;
	int32_t file_index;
	int32_t LinkFI;
	uid_t uid;
	struct stat statp;    /* st_size and st_mode as saved */
	const char *attrEx;
	const char *ofname;   /* where + the saved name */
	const char *olname;
	const char *where;    /* "" when restoring to / */
	const char *RegexWhere;
	int replace;          /* 'a' always, 'w' ifnewer, 'o' ifolder, 'n' never */
	int create_status;    /* set by createFile: CF_* */
	uint32_t delta_seq;
	int32_t pkt_end;
};

/* pluginIO: status is the result (bytes, 0 = EOF, < 0 = error with io_errno). */
struct io_pkt {
	int32_t pkt_size;
	int32_t func;         /* IO_* */
	int32_t count;
	int32_t flags;        /* open(2) flags */
	mode_t mode;
	char *buf;
	const char *fname;
	int32_t status;
	int32_t io_errno;
	int32_t lerror;
	int32_t whence;
	off_t offset;
	bool win32;
	int32_t pkt_end;
};

struct xacl_pkt {
	int32_t pkt_size;
	int32_t func;
	int32_t count;
	char *content;
	int32_t pkt_end;
};

struct stream_pkt {
	int32_t pkt_size;
	int32_t stream;
	int32_t pkt_end;
};

struct restore_object_pkt {
	int32_t pkt_size;
	char *object_name;
	char *object;
	char *plugin_name;
	int32_t object_type;
	int32_t object_len;
	int32_t object_full_len;
	int32_t object_index;
	int32_t object_compression;
	int32_t stream;
	uint32_t JobId;
	int32_t pkt_end;
};

/* The daemon's callbacks (144 bytes; all 17 set by bacula-fd 9.6.7). */
typedef struct bFuncs {
	uint32_t size;
	uint32_t version;
	bRC (*registerBaculaEvents)(bpContext *ctx, ...);
	bRC (*getBaculaValue)(bpContext *ctx, int var, void *value);
	bRC (*setBaculaValue)(bpContext *ctx, int var, void *value);
	bRC (*JobMessage)(bpContext *ctx, const char *file, int line, int type, int64_t mtime, const char *fmt, ...)
		__attribute__((format(printf, 6, 7)));
	bRC (*DebugMessage)(bpContext *ctx, const char *file, int line, int level, const char *fmt, ...)
		__attribute__((format(printf, 5, 6)));
	void *(*baculaMalloc)(bpContext *ctx, const char *file, int line, size_t size);
	void (*baculaFree)(bpContext *ctx, const char *file, int line, void *mem);
	bRC (*AddExclude)(bpContext *ctx, const char *file);
	bRC (*AddInclude)(bpContext *ctx, const char *file);
	bRC (*AddOptions)(bpContext *ctx, const char *opts);
	bRC (*AddRegex)(bpContext *ctx, const char *item, int type);
	bRC (*AddWild)(bpContext *ctx, const char *item, int type);
	bRC (*NewOptions)(bpContext *ctx);
	bRC (*NewInclude)(bpContext *ctx);
	bRC (*NewPreInclude)(bpContext *ctx);
	bRC (*checkChanges)(bpContext *ctx, struct save_pkt *sp);
	bRC (*AcceptFile)(bpContext *ctx, struct save_pkt *sp);
} bFuncs;

/* What the plugin tells the loader (56 bytes; magic, version 14, licence and size are checked). */
typedef struct pInfo {
	uint32_t size;
	uint32_t version;
	const char *plugin_magic;
	const char *plugin_license;
	const char *plugin_author;
	const char *plugin_date;
	const char *plugin_version;     /* shown by `status client` */
	const char *plugin_description;
} pInfo;

/* The plugin's entry points (128 bytes; the last three may be NULL). */
typedef struct pFuncs {
	uint32_t size;
	uint32_t version;
	bRC (*newPlugin)(bpContext *ctx);
	bRC (*freePlugin)(bpContext *ctx);
	bRC (*getPluginValue)(bpContext *ctx, int var, void *value);
	bRC (*setPluginValue)(bpContext *ctx, int var, void *value);
	bRC (*handlePluginEvent)(bpContext *ctx, bEvent *event, void *value);
	bRC (*startBackupFile)(bpContext *ctx, struct save_pkt *sp);
	bRC (*endBackupFile)(bpContext *ctx);
	bRC (*startRestoreFile)(bpContext *ctx, const char *cmd);
	bRC (*endRestoreFile)(bpContext *ctx);
	bRC (*pluginIO)(bpContext *ctx, struct io_pkt *io);
	bRC (*createFile)(bpContext *ctx, struct restore_pkt *rp);
	bRC (*setFileAttributes)(bpContext *ctx, struct restore_pkt *rp);
	bRC (*checkFile)(bpContext *ctx, char *fname);
	bRC (*handleXACLdata)(bpContext *ctx, struct xacl_pkt *xacl);
	bRC (*checkStream)(bpContext *ctx, struct stream_pkt *sp);
} pFuncs;

/* The two exported symbols (the loader's view: bRC (*)(void *, void *, void **, void **)). */
typedef bRC (*bfd_load_plugin_fn)(bInfo *binfo, bFuncs *bfuncs, pInfo **pinfo, pFuncs **pfuncs);
typedef bRC (*bfd_unload_plugin_fn)(void);

#endif
