/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_bacula_abi.c: plugin/bacula-abi.h (what Bacula's interfaces 14 to 23 share) against the research notes (TAP). */
#include "autoconfig.h"

#include "bacula-abi.h"
#include "t_bacula_abi.h"

/*
 * Every number below is copied from the tables of
 * ../shared/research/BACULA-9.6-PLUGIN-ABI-AND-TEST-HARNESS.md (x86_64,
 * checked there against the pkt_size values bacula-fd 9.6.7 sends and the
 * sizes its loader accepts) and BACULA-BAREOS-ABI.md section 1 (which
 * finds them unchanged in 11.0, 13.0 and 15.0).  A change to the header
 * that moves a field fails here, not inside a running file daemon.  What
 * differs per interface: t_bacula_abi14.c ... t_bacula_abi23.c.
 */
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
test_pinfo(void)
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
	test_pinfo();
	test_io_pkt();
	test_small_pkts();
#else
	skip("the layouts were measured on x86_64 Linux only");
#endif
	return tap_done();
}
