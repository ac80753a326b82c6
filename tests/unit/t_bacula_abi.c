/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_bacula_abi.c: plugin/bacula-abi.h against the measured interface-14 layouts of Bacula 9.6.7 (TAP). */
#include "autoconfig.h"

#include <stddef.h>

#include "bacula-abi.h"
#include "tap.h"

/*
 * Every number below is copied from the tables of
 * ../shared/research/BACULA-9.6-PLUGIN-ABI-AND-TEST-HARNESS.md (x86_64,
 * checked there against the pkt_size values bacula-fd 9.6.7 sends and the
 * sizes its loader accepts).  A change to the header that moves a field
 * fails here, not inside a running file daemon.
 */
#define SIZE(type, want) is_int((long long)sizeof(type), want, "sizeof(" #type ") == " #want)
#define OFF(type, field, want) is_int((long long)offsetof(type, field), want, "offsetof(" #type ", " #field ") == " #want)
#define VAL(name, want) is_int((long long)(name), want, #name " == " #want)

static void
test_scalars(void)
{
	SIZE(bRC, 4);
	SIZE(bpContext, 16);
	OFF(bpContext, bContext, 0);
	OFF(bpContext, pContext, 8);
	SIZE(bEvent, 4);
	SIZE(bInfo, 8);
	OFF(bInfo, version, 4);
	SIZE(off_t, 8);
	SIZE(mode_t, 4);
	SIZE(uid_t, 4);
	SIZE(bool, 1);
	SIZE(struct stat, 144);
}

static void
test_constants(void)
{
	VAL(BFD_INTERFACE_VERSION, 14);
	is_str(BFD_PLUGIN_MAGIC, "*FDPluginData*", "the magic string");
	is_str(BFD_PLUGIN_LICENSE, "AGPLv3", "the licence string");
	VAL(bRC_OK, 0);
	VAL(bRC_Stop, 1);
	VAL(bRC_Error, 2);
	VAL(bRC_More, 3);
	VAL(bRC_Term, 4);
	VAL(bRC_Seen, 5);
	VAL(bRC_Core, 6);
	VAL(bRC_Skip, 7);
	VAL(bRC_Cancel, 8);
	VAL(bRC_Max, 9999);
	VAL(IO_OPEN, 1);
	VAL(IO_READ, 2);
	VAL(IO_WRITE, 3);
	VAL(IO_CLOSE, 4);
	VAL(IO_SEEK, 5);
	VAL(CF_SKIP, 1);
	VAL(CF_ERROR, 2);
	VAL(CF_EXTRACT, 3);
	VAL(CF_CREATED, 4);
	VAL(CF_CORE, 5);
	VAL(FT_REG, 3);
	VAL(FT_LNK, 4);
	VAL(FT_DIREND, 5);
	VAL(FT_RESTORE_FIRST, 25);
	VAL(M_ABORT, 1);
	VAL(M_DEBUG, 2);
	VAL(M_FATAL, 3);
	VAL(M_ERROR, 4);
	VAL(M_WARNING, 5);
	VAL(M_INFO, 6);
	VAL(M_SAVED, 7);
	VAL(M_NOTSAVED, 8);
	VAL(M_SKIPPED, 9);
	VAL(M_MOUNT, 10);
	VAL(M_ERROR_TERM, 11);
	VAL(M_TERM, 12);
	VAL(M_RESTORED, 13);
	VAL(M_SECURITY, 14);
	VAL(M_ALERT, 15);
	VAL(M_VOLMGMT, 16);
}

static void
test_events(void)
{
	VAL(bEventJobStart, 1);
	VAL(bEventJobEnd, 2);
	VAL(bEventStartBackupJob, 3);
	VAL(bEventEndBackupJob, 4);
	VAL(bEventStartRestoreJob, 5);
	VAL(bEventEndRestoreJob, 6);
	VAL(bEventStartVerifyJob, 7);
	VAL(bEventEndVerifyJob, 8);
	VAL(bEventBackupCommand, 9);
	VAL(bEventRestoreCommand, 10);
	VAL(bEventEstimateCommand, 11);
	VAL(bEventLevel, 12);
	VAL(bEventSince, 13);
	VAL(bEventCancelCommand, 14);
	VAL(bEventVssBackupAddComponents, 15);
	VAL(bEventVssRestoreLoadComponentMetadata, 16);
	VAL(bEventVssRestoreSetComponentsSelected, 17);
	VAL(bEventRestoreObject, 18);
	VAL(bEventEndFileSet, 19);
	VAL(bEventPluginCommand, 20);
	VAL(bEventVssBeforeCloseRestore, 21);
	VAL(bEventVssPrepareSnapshot, 22);
	VAL(bEventOptionPlugin, 23);
	VAL(bEventHandleBackupFile, 24);
	VAL(bEventComponentInfo, 25);
	VAL(bEventFeatures, 26);
}

static void
test_variables(void)
{
	VAL(bVarJobId, 1);
	VAL(bVarFDName, 2);
	VAL(bVarLevel, 3);
	VAL(bVarType, 4);
	VAL(bVarClient, 5);
	VAL(bVarJobName, 6);
	VAL(bVarJobStatus, 7);
	VAL(bVarSinceTime, 8);
	VAL(bVarAccurate, 9);
	VAL(bVarFileSeen, 10);
	VAL(bVarVssObject, 11);
	VAL(bVarVssDllHandle, 12);
	VAL(bVarWorkingDir, 13);
	VAL(bVarWhere, 14);
	VAL(bVarRegexWhere, 15);
	VAL(bVarExePath, 16);
	VAL(bVarVersion, 17);
	VAL(bVarDistName, 18);
	VAL(bVarxxx, 19);
	VAL(bVarPrevJobName, 20);
	VAL(bVarPrefixLinks, 21);
	VAL(bVarInteractiveSession, 22);
	VAL(bVarFileIndex, 23);
	VAL(bVarReplace, 24);
}

static void
test_bfuncs(void)
{
	SIZE(bFuncs, 144);
	OFF(bFuncs, size, 0);
	OFF(bFuncs, version, 4);
	OFF(bFuncs, registerBaculaEvents, 8);
	OFF(bFuncs, getBaculaValue, 16);
	OFF(bFuncs, setBaculaValue, 24);
	OFF(bFuncs, JobMessage, 32);
	OFF(bFuncs, DebugMessage, 40);
	OFF(bFuncs, baculaMalloc, 48);
	OFF(bFuncs, baculaFree, 56);
	OFF(bFuncs, AddExclude, 64);
	OFF(bFuncs, AddInclude, 72);
	OFF(bFuncs, AddOptions, 80);
	OFF(bFuncs, AddRegex, 88);
	OFF(bFuncs, AddWild, 96);
	OFF(bFuncs, NewOptions, 104);
	OFF(bFuncs, NewInclude, 112);
	OFF(bFuncs, NewPreInclude, 120);
	OFF(bFuncs, checkChanges, 128);
	OFF(bFuncs, AcceptFile, 136);
}

static void
test_pinfo_pfuncs(void)
{
	SIZE(pInfo, 56);
	OFF(pInfo, size, 0);
	OFF(pInfo, version, 4);
	OFF(pInfo, plugin_magic, 8);
	OFF(pInfo, plugin_license, 16);
	OFF(pInfo, plugin_author, 24);
	OFF(pInfo, plugin_date, 32);
	OFF(pInfo, plugin_version, 40);
	OFF(pInfo, plugin_description, 48);
	SIZE(pFuncs, 128);
	OFF(pFuncs, size, 0);
	OFF(pFuncs, version, 4);
	OFF(pFuncs, newPlugin, 8);
	OFF(pFuncs, freePlugin, 16);
	OFF(pFuncs, getPluginValue, 24);
	OFF(pFuncs, setPluginValue, 32);
	OFF(pFuncs, handlePluginEvent, 40);
	OFF(pFuncs, startBackupFile, 48);
	OFF(pFuncs, endBackupFile, 56);
	OFF(pFuncs, startRestoreFile, 64);
	OFF(pFuncs, endRestoreFile, 72);
	OFF(pFuncs, pluginIO, 80);
	OFF(pFuncs, createFile, 88);
	OFF(pFuncs, setFileAttributes, 96);
	OFF(pFuncs, checkFile, 104);
	OFF(pFuncs, handleXACLdata, 112);
	OFF(pFuncs, checkStream, 120);
}

static void
test_save_pkt(void)
{
	SIZE(struct save_pkt, 240);
	OFF(struct save_pkt, pkt_size, 0);
	OFF(struct save_pkt, fname, 8);
	OFF(struct save_pkt, link, 16);
	OFF(struct save_pkt, statp, 24);
	OFF(struct save_pkt, type, 168);
	OFF(struct save_pkt, flags, 176);
	OFF(struct save_pkt, no_read, 184);
	OFF(struct save_pkt, portable, 185);
	OFF(struct save_pkt, accurate_found, 186);
	OFF(struct save_pkt, cmd, 192);
	OFF(struct save_pkt, delta_seq, 200);
	OFF(struct save_pkt, object_name, 208);
	OFF(struct save_pkt, object, 216);
	OFF(struct save_pkt, object_len, 224);
	OFF(struct save_pkt, index, 228);
	OFF(struct save_pkt, LinkFI, 232);
	OFF(struct save_pkt, pkt_end, 236);
}

static void
test_restore_pkt(void)
{
	SIZE(struct restore_pkt, 232);
	OFF(struct restore_pkt, pkt_size, 0);
	OFF(struct restore_pkt, stream, 4);
	OFF(struct restore_pkt, data_stream, 8);
	OFF(struct restore_pkt, type, 12);
	OFF(struct restore_pkt, file_index, 16);
	OFF(struct restore_pkt, LinkFI, 20);
	OFF(struct restore_pkt, uid, 24);
	OFF(struct restore_pkt, statp, 32);
	OFF(struct restore_pkt, attrEx, 176);
	OFF(struct restore_pkt, ofname, 184);
	OFF(struct restore_pkt, olname, 192);
	OFF(struct restore_pkt, where, 200);
	OFF(struct restore_pkt, RegexWhere, 208);
	OFF(struct restore_pkt, replace, 216);
	OFF(struct restore_pkt, create_status, 220);
	OFF(struct restore_pkt, delta_seq, 224);
	OFF(struct restore_pkt, pkt_end, 228);
}

static void
test_io_pkt(void)
{
	SIZE(struct io_pkt, 72);
	OFF(struct io_pkt, pkt_size, 0);
	OFF(struct io_pkt, func, 4);
	OFF(struct io_pkt, count, 8);
	OFF(struct io_pkt, flags, 12);
	OFF(struct io_pkt, mode, 16);
	OFF(struct io_pkt, buf, 24);
	OFF(struct io_pkt, fname, 32);
	OFF(struct io_pkt, status, 40);
	OFF(struct io_pkt, io_errno, 44);
	OFF(struct io_pkt, lerror, 48);
	OFF(struct io_pkt, whence, 52);
	OFF(struct io_pkt, offset, 56);
	OFF(struct io_pkt, win32, 64);
	OFF(struct io_pkt, pkt_end, 68);
}

static void
test_small_pkts(void)
{
	SIZE(struct xacl_pkt, 32);
	OFF(struct xacl_pkt, func, 4);
	OFF(struct xacl_pkt, count, 8);
	OFF(struct xacl_pkt, content, 16);
	OFF(struct xacl_pkt, pkt_end, 24);
	SIZE(struct stream_pkt, 12);
	OFF(struct stream_pkt, stream, 4);
	OFF(struct stream_pkt, pkt_end, 8);
	OFF(struct restore_object_pkt, object_name, 8);
	OFF(struct restore_object_pkt, object, 16);
	OFF(struct restore_object_pkt, plugin_name, 24);
	OFF(struct restore_object_pkt, object_type, 32);
	OFF(struct restore_object_pkt, stream, 52);
	OFF(struct restore_object_pkt, JobId, 56);
	OFF(struct restore_object_pkt, pkt_end, 60);
}

int
main(void)
{
	tap_init();
#if defined(__x86_64__) && defined(__linux__)
	test_scalars();
	test_constants();
	test_events();
	test_variables();
	test_bfuncs();
	test_pinfo_pfuncs();
	test_save_pkt();
	test_restore_pkt();
	test_io_pkt();
	test_small_pkts();
#else
	skip("the layouts were measured on x86_64 Linux only");
#endif
	return tap_done();
}
