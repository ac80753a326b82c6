/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bacula-abi.h: our own declarations of what Bacula's file-daemon plugin interfaces 14 to 23 share (x86_64). */
#ifndef MBH_BACULA_ABI_H
#define MBH_BACULA_ABI_H

/*
 * Written from the facts in ../shared/research/BACULA-9.6-PLUGIN-ABI-AND-TEST-HARNESS.md
 * (interface 14, measured against Debian 12's bacula-fd 9.6.7) and
 * BACULA-BAREOS-ABI.md section 1 (interfaces 21, 22 and 23: Bacula 11.0,
 * 13.0 and 15.0), not from Bacula's headers: Debian ships none, and from
 * 13.0 on they are C++.  The names are Bacula's, so that the code reads like
 * the interface it speaks.
 *
 * This header holds only what is the same in all four interfaces (return
 * codes, the context, events 1 to 26, bInfo, pInfo, io_pkt and the small
 * packets, the I/O, create-status and file-type numbers).  What differs
 * (save_pkt, restore_pkt, variable ids, message types, both function
 * tables) is in bacula-abi14.h, -21.h, -22.h and -23.h, one of which a
 * translation unit includes after this one.  tests/unit/t_bacula_abi.c and
 * t_bacula_abi14.c ... t_bacula_abi23.c check every size and offset.
 */

#include <sys/stat.h>
#include <sys/types.h>
#include <stdbool.h>
#include <stdint.h>

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

/* Event numbers (handlePluginEvent's bEvent.eventType) and what `value` carries; 15.0 adds 27 and 28. */
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

/* What the daemon tells loadPlugin about itself: {8, its interface version}. */
typedef struct bInfo {
	uint32_t size;
	uint32_t version;
} bInfo;

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

/* What the plugin tells the loader (56 bytes; magic, version (exact), licence and size are checked). */
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

/*
 * Member lists that every interface's tables and restore packet share; each
 * bacula-abiNN.h builds its own struct from them and adds what it inserts
 * or appends (checked per interface by the unit tests).
 */

/* restore_pkt after pkt_size (11.0 inserts an int32 plugin_mode before these). */
#define BFD_RESTORE_PKT_MEMBERS                                                                   \
	int32_t stream;                                                                           \
	int32_t data_stream;                                                                      \
	int32_t type;                                                                             \
	int32_t file_index;                                                                       \
	int32_t LinkFI;                                                                           \
	uid_t uid;                                                                                \
	struct stat statp;           /* st_size and st_mode as saved */                           \
	const char *attrEx;                                                                       \
	const char *ofname;          /* where + the saved name */                                 \
	const char *olname;                                                                       \
	const char *where;           /* "" when restoring to / */                                 \
	const char *RegexWhere;                                                                   \
	int replace;                 /* 'a' always, 'w' ifnewer, 'o' ifolder, 'n' never */       \
	int create_status;           /* set by createFile: CF_* */                                \
	uint32_t delta_seq;                                                                       \
	int32_t pkt_end

struct save_pkt;

/* The daemon's callbacks every interface has, in this order (13.0 and 15.0 append more). */
#define BFD_BFUNCS_MEMBERS                                                                        \
	uint32_t size;                                                                            \
	uint32_t version;                                                                         \
	bRC (*registerBaculaEvents)(bpContext *ctx, ...);                                         \
	bRC (*getBaculaValue)(bpContext *ctx, int var, void *value);                              \
	bRC (*setBaculaValue)(bpContext *ctx, int var, void *value);                              \
	bRC (*JobMessage)(bpContext *ctx, const char *file, int line, int type, int64_t mtime,    \
	                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));            \
	bRC (*DebugMessage)(bpContext *ctx, const char *file, int line, int level, const char *fmt, \
	                    ...) __attribute__((format(printf, 5, 6)));                           \
	void *(*baculaMalloc)(bpContext *ctx, const char *file, int line, size_t size);           \
	void (*baculaFree)(bpContext *ctx, const char *file, int line, void *mem);                \
	bRC (*AddExclude)(bpContext *ctx, const char *file);                                      \
	bRC (*AddInclude)(bpContext *ctx, const char *file);                                      \
	bRC (*AddOptions)(bpContext *ctx, const char *opts);                                      \
	bRC (*AddRegex)(bpContext *ctx, const char *item, int type);                              \
	bRC (*AddWild)(bpContext *ctx, const char *item, int type);                               \
	bRC (*NewOptions)(bpContext *ctx);                                                        \
	bRC (*NewInclude)(bpContext *ctx);                                                        \
	bRC (*NewPreInclude)(bpContext *ctx);                                                     \
	bRC (*checkChanges)(bpContext *ctx, struct save_pkt *sp);                                 \
	bRC (*AcceptFile)(bpContext *ctx, struct save_pkt *sp)

struct restore_pkt;

/* The plugin's first 14 entry points, the same in every interface (what follows handleXACLdata differs). */
#define BFD_PFUNCS_MEMBERS                                                                        \
	uint32_t size;                                                                            \
	uint32_t version;                                                                         \
	bRC (*newPlugin)(bpContext *ctx);                                                         \
	bRC (*freePlugin)(bpContext *ctx);                                                        \
	bRC (*getPluginValue)(bpContext *ctx, int var, void *value);                              \
	bRC (*setPluginValue)(bpContext *ctx, int var, void *value);                              \
	bRC (*handlePluginEvent)(bpContext *ctx, bEvent *event, void *value);                     \
	bRC (*startBackupFile)(bpContext *ctx, struct save_pkt *sp);                              \
	bRC (*endBackupFile)(bpContext *ctx);                                                     \
	bRC (*startRestoreFile)(bpContext *ctx, const char *cmd);                                 \
	bRC (*endRestoreFile)(bpContext *ctx);                                                    \
	bRC (*pluginIO)(bpContext *ctx, struct io_pkt *io);                                       \
	bRC (*createFile)(bpContext *ctx, struct restore_pkt *rp);                                \
	bRC (*setFileAttributes)(bpContext *ctx, struct restore_pkt *rp);                         \
	bRC (*checkFile)(bpContext *ctx, char *fname);                                            \
	bRC (*handleXACLdata)(bpContext *ctx, struct xacl_pkt *xacl)

/*
 * The two exported symbols.  The loader's view is bRC (*)(void *, void *,
 * void **, void **): the callback and entry-point tables are those of the
 * interface bInfo.version names.
 */
typedef bRC (*bfd_load_plugin_fn)(bInfo *binfo, void *bfuncs, pInfo **pinfo, void **pfuncs);
typedef bRC (*bfd_unload_plugin_fn)(void);

#endif
