/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_bacula_abi14.c: plugin/bacula-abi14.h against the research notes' tables of its interface (TAP). */
#include "autoconfig.h"

#include "bacula-abi14.h"
#include "t_bacula_abi.h"

/*
 * Every number below is copied from the tables of
 * ../shared/research/BACULA-9.6-PLUGIN-ABI-AND-TEST-HARNESS.md sections
 * 1.2, 1.4 and 1.5 (measured against bacula-fd 9.6.7; x86_64).  What all
 * interfaces share: t_bacula_abi.c.
 */

static void
test_messages(void)
{
	VAL(BFD_INTERFACE_VERSION, 14);
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
test_pfuncs(void)
{
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
