/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bacula-abi21.h: our own declarations of what is particular to plugin interface 21 (Bacula 11.0). */
#ifndef MBH_BACULA_ABI_IFACE
#define MBH_BACULA_ABI_IFACE 21
#else
#error "one bacula-abiNN.h per translation unit: the names are Bacula's in each"
#endif

/*
 * From ../shared/research/BACULA-BAREOS-ABI.md section 1 (Bacula 11.0.6,
 * src/filed/fd_plugins.h and src/lib/message.h); checked by
 * tests/unit/t_bacula_abi21.c.  Against interface 14: save_pkt gains
 * snap_fname, plugin_mode and do_dedup; restore_pkt gains plugin_mode after
 * pkt_size; bVarxxx (19) is gone, so the ids after it move down by one;
 * pFuncs gains restoreFileList *before* checkStream, and queryParameter.
 * The message types are 9.6's, with M_EVENTS appended.
 */

#include "bacula-abi.h"

#define BFD_INTERFACE_VERSION 21

typedef enum bVariable {
	bVarJobId = 1,
	bVarFDName = 2,
	bVarLevel = 3,
	bVarType = 4,
	bVarClient = 5,
	bVarJobName = 6,
	bVarJobStatus = 7,
	bVarSinceTime = 8,
	bVarAccurate = 9,
	bVarFileSeen = 10,
	bVarVssObject = 11,
	bVarVssDllHandle = 12,
	bVarWorkingDir = 13,
	bVarWhere = 14,
	bVarRegexWhere = 15,
	bVarExePath = 16,
	bVarVersion = 17,
	bVarDistName = 18,
	bVarPrevJobName = 19,
	bVarPrefixLinks = 20,
	bVarInteractiveSession = 21,
	bVarFileIndex = 22,
	bVarReplace = 23,
	bVarMaxDedupBlockSize = 24,
	bVarMinDedupBlockSize = 25,
	bVarIsCanceled = 26
} bVariable;

#define M_ABORT 1
#define M_DEBUG 2
#define M_FATAL 3
#define M_ERROR 4
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
#define M_EVENTS 17
#define M_MAX M_EVENTS

struct save_pkt {
	int32_t pkt_size;
	char *fname;
	char *snap_fname;
	int32_t plugin_mode; /* "not used anymore" */
	char *link;
	struct stat statp;
	int32_t type;
	uint64_t flags;
	bool no_read;
	bool portable;
	bool accurate_found;
	bool do_dedup;
	char *cmd;
	uint32_t delta_seq;
	char *object_name;
	char *object;
	int32_t object_len;
	int32_t index;
	int32_t LinkFI;
	int32_t pkt_end;
};

struct restore_pkt {
	int32_t pkt_size;
	int32_t plugin_mode;
	BFD_RESTORE_PKT_MEMBERS;
};

struct restore_filelist_pkt;
struct query_pkt;

typedef struct bFuncs {
	BFD_BFUNCS_MEMBERS;
} bFuncs;

/* The daemon calls restoreFileList, checkStream and queryParameter only when they are not NULL. */
typedef struct pFuncs {
	BFD_PFUNCS_MEMBERS;
	bRC (*restoreFileList)(bpContext *ctx, struct restore_filelist_pkt *rp);
	bRC (*checkStream)(bpContext *ctx, struct stream_pkt *sp);
	bRC (*queryParameter)(bpContext *ctx, struct query_pkt *qp);
} pFuncs;
