/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_bacula_abi22.c: plugin/bacula-abi22.h against the research notes' tables of its interface (TAP). */
#include "autoconfig.h"

#include "bacula-abi22.h"
#include "t_bacula_abi.h"

/*
 * Every number below is copied from the tables of
 * ../shared/research/BACULA-BAREOS-ABI.md sections 1.4 to 1.9 (Bacula
 * 13.0.3; Ubuntu 24.04 ships 13.0.4; x86_64).  What all interfaces share:
 * t_bacula_abi.c.
 */

static void
test_messages(void)
{
	VAL(BFD_INTERFACE_VERSION, 22);
	VAL(M_ABORT, 1);
	VAL(M_DEBUG, 2);
	VAL(M_EVENTS, 3);
	VAL(M_FATAL, 4);
	VAL(M_ERROR, 5);
	VAL(M_WARNING, 6);
	VAL(M_INFO, 7);
	VAL(M_SAVED, 8);
	VAL(M_NOTSAVED, 9);
	VAL(M_SKIPPED, 10);
	VAL(M_MOUNT, 11);
	VAL(M_ERROR_TERM, 12);
	VAL(M_TERM, 13);
	VAL(M_RESTORED, 14);
	VAL(M_SECURITY, 15);
	VAL(M_ALERT, 16);
	VAL(M_VOLMGMT, 17);
	VAL(M_VERIFIED, 18);
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
	VAL(bVarPluginDir, 14);
	VAL(bVarWhere, 15);
	VAL(bVarRegexWhere, 16);
	VAL(bVarExePath, 17);
	VAL(bVarVersion, 18);
	VAL(bVarDistName, 19);
	VAL(bVarPrevJobName, 20);
	VAL(bVarPrefixLinks, 21);
	VAL(bVarInteractiveSession, 22);
	VAL(bVarFileIndex, 23);
	VAL(bVarReplace, 24);
	VAL(bVarMaxDedupBlockSize, 25);
	VAL(bVarMinDedupBlockSize, 26);
	VAL(bVarIsCanceled, 27);
}

static void
test_bfuncs(void)
{
	SIZE(bFuncs, 152);
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
	OFF(bFuncs, getAccurateAttribs, 144);
}

static void
test_pfuncs(void)
{
	SIZE(pFuncs, 152);
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
	OFF(pFuncs, restoreFileList, 120);
	OFF(pFuncs, checkStream, 128);
	OFF(pFuncs, queryParameter, 136);
	OFF(pFuncs, metadataRestore, 144);
}

static void
test_save_pkt(void)
{
	SIZE(struct save_pkt, 344);
	OFF(struct save_pkt, pkt_size, 0);
	OFF(struct save_pkt, fname, 8);
	OFF(struct save_pkt, snap_fname, 16);
	OFF(struct save_pkt, plugin_mode, 24);
	OFF(struct save_pkt, link, 32);
	OFF(struct save_pkt, statp, 40);
	OFF(struct save_pkt, type, 184);
	OFF(struct save_pkt, flags, 192);
	OFF(struct save_pkt, no_read, 200);
	OFF(struct save_pkt, portable, 201);
	OFF(struct save_pkt, accurate_found, 202);
	OFF(struct save_pkt, do_dedup, 203);
	OFF(struct save_pkt, cmd, 208);
	OFF(struct save_pkt, restore_obj, 216);
	OFF(struct save_pkt, plugin_obj, 248);
	OFF(struct save_pkt, plug_meta, 320);
	OFF(struct save_pkt, delta_seq, 328);
	OFF(struct save_pkt, LinkFI, 332);
	OFF(struct save_pkt, pkt_end, 336);
	SIZE(struct restore_object, 32);
	OFF(struct restore_object, object_name, 0);
	OFF(struct restore_object, object, 8);
	OFF(struct restore_object, object_len, 16);
	OFF(struct restore_object, index, 20);
	OFF(struct restore_object, object_compression, 24);
	SIZE(struct plugin_object, 72);
	OFF(struct plugin_object, path, 0);
	OFF(struct plugin_object, plugin_name, 8);
	OFF(struct plugin_object, object_category, 16);
	OFF(struct plugin_object, object_type, 24);
	OFF(struct plugin_object, object_name, 32);
	OFF(struct plugin_object, object_source, 40);
	OFF(struct plugin_object, object_uuid, 48);
	OFF(struct plugin_object, object_size, 56);
	OFF(struct plugin_object, status, 64);
	OFF(struct plugin_object, count, 68);
}

static void
test_restore_pkt(void)
{
	SIZE(struct restore_pkt, 232);
	OFF(struct restore_pkt, pkt_size, 0);
	OFF(struct restore_pkt, plugin_mode, 4);
	OFF(struct restore_pkt, stream, 8);
	OFF(struct restore_pkt, data_stream, 12);
	OFF(struct restore_pkt, type, 16);
	OFF(struct restore_pkt, file_index, 20);
	OFF(struct restore_pkt, LinkFI, 24);
	OFF(struct restore_pkt, uid, 28);
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

int
main(void)
{
	tap_init();
#if defined(__x86_64__) && defined(__linux__)
	test_messages();
	test_variables();
	test_bfuncs();
	test_pfuncs();
	test_save_pkt();
	test_restore_pkt();
#else
	skip("the layouts were measured on x86_64 Linux only");
#endif
	return tap_done();
}
