/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bacula-abi22.h: our own declarations of what is particular to plugin interface 22 (Bacula 13.0). */
#ifndef MBH_BACULA_ABI_IFACE
#define MBH_BACULA_ABI_IFACE 22
#else
#error "one bacula-abiNN.h per translation unit: the names are Bacula's in each"
#endif

/*
 * From ../shared/research/BACULA-BAREOS-ABI.md section 1 (Bacula 13.0.3,
 * src/filed/fd_plugins.h and src/lib/message.h); checked by
 * tests/unit/t_bacula_abi22.c.  Bacula's own header is C++ from 13.0 on
 * (meta_pkt and plugin_metadata are classes): here they are only pointers.
 * Against interface 21: M_EVENTS moved to 3, so M_FATAL is 4 and every type
 * after it is one higher (a fatal sent as 3 would not fail the job); the
 * bVariable ids from 14 up are one higher (bVarPluginDir); save_pkt's
 * restore-object fields move into restore_obj, followed by plugin_obj and
 * plug_meta; bFuncs gains getAccurateAttribs, pFuncs metadataRestore.
 */

#include "bacula-abi.h"

#define BFD_INTERFACE_VERSION 22

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
	bVarPluginDir = 14,  /* new in 13.0: every id after it moved up by one */
	bVarWhere = 15,
	bVarRegexWhere = 16,
	bVarExePath = 17,
	bVarVersion = 18,
	bVarDistName = 19,
	bVarPrevJobName = 20,
	bVarPrefixLinks = 21,
	bVarInteractiveSession = 22,
	bVarFileIndex = 23,
	bVarReplace = 24,
	bVarMaxDedupBlockSize = 25,
	bVarMinDedupBlockSize = 26,
	bVarIsCanceled = 27
} bVariable;

/* Job message types: M_EVENTS was inserted at 3 in 13.0. */
#define M_ABORT 1
#define M_DEBUG 2
#define M_EVENTS 3
#define M_FATAL 4
#define M_ERROR 5
#define M_WARNING 6
#define M_INFO 7
#define M_SAVED 8
#define M_NOTSAVED 9
#define M_SKIPPED 10
#define M_MOUNT 11
#define M_ERROR_TERM 12
#define M_TERM 13
#define M_RESTORED 14
#define M_SECURITY 15
#define M_ALERT 16
#define M_VOLMGMT 17
#define M_VERIFIED 18
#define M_MAX M_VERIFIED

/* save_pkt's restore-object fields, grouped. */
struct restore_object {
	char *object_name;
	char *object;
	int32_t object_len;
	int32_t index;
	int32_t object_compression;
};

/* What a plugin may say about a backed-up object (type FT_PLUGIN_OBJECT); unused here. */
struct plugin_object {
	char *path;
	char *plugin_name;
	char *object_category;
	char *object_type;
	char *object_name;
	char *object_source;
	char *object_uuid;
	uint64_t object_size;
	int32_t status;
	uint32_t count;
};

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
	struct restore_object restore_obj;
	struct plugin_object plugin_obj;
	const void *plug_meta; /* a C++ plugin_metadata object; NULL here */
	uint32_t delta_seq;
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
struct meta_pkt;
struct accurate_attribs_pkt;

typedef struct bFuncs {
	BFD_BFUNCS_MEMBERS;
	bRC (*getAccurateAttribs)(bpContext *ctx, struct accurate_attribs_pkt *att);
} bFuncs;

/* The daemon calls every entry point after handleXACLdata only when it is not NULL. */
typedef struct pFuncs {
	BFD_PFUNCS_MEMBERS;
	bRC (*restoreFileList)(bpContext *ctx, struct restore_filelist_pkt *rp);
	bRC (*checkStream)(bpContext *ctx, struct stream_pkt *sp);
	bRC (*queryParameter)(bpContext *ctx, struct query_pkt *qp);
	bRC (*metadataRestore)(bpContext *ctx, struct meta_pkt *mp);
} pFuncs;
