/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fakefd-template.h: one plugin interface as the fake file daemon speaks it; compiled by fakefd14.c ... fakefd23.c. */

/*
 * The includer first includes one bacula-abiNN.h and defines FAKE_NAME (the
 * fake_iface it exports) and FAKE_RELEASES.  The packets are built as that
 * interface's bacula-fd builds them (fd_plugins.c: zeroed, pkt_size and
 * pkt_end set, then the fields it fills), so the plugin's answers land at
 * that interface's offsets or not at all.
 */

#if !defined(BFD_INTERFACE_VERSION) || !defined(FAKE_NAME) || !defined(FAKE_RELEASES)
#error "include one bacula-abiNN.h and define FAKE_NAME and FAKE_RELEASES first"
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakefd.h"


static const char *const mtype_names[M_MAX + 1] = {
	[M_ABORT] = "M_ABORT",
	[M_DEBUG] = "M_DEBUG",
	[M_FATAL] = "M_FATAL",
	[M_ERROR] = "M_ERROR",
	[M_WARNING] = "M_WARNING",
	[M_INFO] = "M_INFO",
	[M_SAVED] = "M_SAVED",
	[M_NOTSAVED] = "M_NOTSAVED",
	[M_SKIPPED] = "M_SKIPPED",
	[M_MOUNT] = "M_MOUNT",
	[M_ERROR_TERM] = "M_ERROR_TERM",
	[M_TERM] = "M_TERM",
	[M_RESTORED] = "M_RESTORED",
	[M_SECURITY] = "M_SECURITY",
	[M_ALERT] = "M_ALERT",
	[M_VOLMGMT] = "M_VOLMGMT",
#ifdef M_EVENTS
	[M_EVENTS] = "M_EVENTS",
#endif
#ifdef M_VERIFIED
	[M_VERIFIED] = "M_VERIFIED",
#endif
};

static bRC
cb_register_events(bpContext *ctx, ...)
{
	(void)ctx;
	return bRC_OK;
}

static bRC
cb_get_value(bpContext *ctx, int var, void *value)
{
	fake_var v;

	switch (var) {
	case bVarJobId:
		v = FV_JOBID;
		break;
	case bVarJobName:
		v = FV_JOBNAME;
		break;
	case bVarFDName:
		v = FV_FDNAME;
		break;
	case bVarClient:
		v = FV_CLIENT;
		break;
	case bVarLevel:
		v = FV_LEVEL;
		break;
	case bVarWhere:
		v = FV_WHERE;
		break;
	case bVarVersion:
		v = FV_VERSION;
		break;
	default:
		v = FV_OTHER;
		break;
	}
	return fake_get_value(ctx, v, value);
}

static bRC
cb_set_value(bpContext *ctx, int var, void *value)
{
	(void)ctx;
	(void)var;
	(void)value;
	return bRC_OK;
}

static bRC __attribute__((format(printf, 6, 7)))
cb_job_message(bpContext *ctx, const char *file, int line, int type, int64_t mtime, const char *fmt, ...)
{
	char buf[MSG_MAX];
	va_list ap;

	(void)file;
	(void)line;
	(void)mtime;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return fake_job_message(ctx, type, buf);
}

static bRC __attribute__((format(printf, 5, 6)))
cb_debug_message(bpContext *ctx, const char *file, int line, int level, const char *fmt, ...)
{
	char buf[MSG_MAX];
	va_list ap;

	(void)file;
	(void)line;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return fake_debug_message(ctx, level, buf);
}

static void *
cb_malloc(bpContext *ctx, const char *file, int line, size_t size)
{
	(void)ctx;
	(void)file;
	(void)line;
	return malloc(size);
}

static void
cb_free(bpContext *ctx, const char *file, int line, void *mem)
{
	(void)ctx;
	(void)file;
	(void)line;
	free(mem);
}

static bRC
cb_str(bpContext *ctx, const char *s)
{
	(void)ctx;
	(void)s;
	return bRC_OK;
}

static bRC
cb_str_int(bpContext *ctx, const char *s, int type)
{
	(void)ctx;
	(void)s;
	(void)type;
	return bRC_OK;
}

static bRC
cb_void(bpContext *ctx)
{
	(void)ctx;
	return bRC_OK;
}

static bRC
cb_pkt(bpContext *ctx, struct save_pkt *sp)
{
	(void)ctx;
	(void)sp;
	return bRC_OK;
}

#if BFD_INTERFACE_VERSION >= 22
static bRC
cb_accurate(bpContext *ctx, struct accurate_attribs_pkt *att)
{
	(void)ctx;
	(void)att;
	return bRC_Error;
}
#endif

#if BFD_INTERFACE_VERSION >= 23
static bRC
cb_file_event(bpContext *ctx, struct fileevent_pkt *ev)
{
	(void)ctx;
	(void)ev;
	return bRC_OK;
}
#endif

static bFuncs bfuncs = {
	.size = sizeof(bFuncs),
	.version = BFD_INTERFACE_VERSION,
	.registerBaculaEvents = cb_register_events,
	.getBaculaValue = cb_get_value,
	.setBaculaValue = cb_set_value,
	.JobMessage = cb_job_message,
	.DebugMessage = cb_debug_message,
	.baculaMalloc = cb_malloc,
	.baculaFree = cb_free,
	.AddExclude = cb_str,
	.AddInclude = cb_str,
	.AddOptions = cb_str,
	.AddRegex = cb_str_int,
	.AddWild = cb_str_int,
	.NewOptions = cb_void,
	.NewInclude = cb_void,
	.NewPreInclude = cb_void,
	.checkChanges = cb_pkt,
	.AcceptFile = cb_pkt,
#if BFD_INTERFACE_VERSION >= 22
	.getAccurateAttribs = cb_accurate,
#endif
#if BFD_INTERFACE_VERSION >= 23
	.AddPlugin = cb_str,
	.AddFileEvent = cb_file_event,
#endif
};

/* Append name to buf when the slot is set. */
static void
note_set(char *buf, size_t len, const void *slot, const char *name)
{
	size_t n = strlen(buf);

	if (slot != NULL && n < len)
		snprintf(buf + n, len - n, "%s%s", n > 0 ? "," : "", name);
}

static void
optional_set(const void *p, char *buf, size_t len)
{
	const pFuncs *pf = p;

	buf[0] = '\0';
	note_set(buf, len, (const void *)pf->checkFile, "checkFile");
	note_set(buf, len, (const void *)pf->handleXACLdata, "handleXACLdata");
#if BFD_INTERFACE_VERSION >= 21
	note_set(buf, len, (const void *)pf->restoreFileList, "restoreFileList");
#endif
	note_set(buf, len, (const void *)pf->checkStream, "checkStream");
#if BFD_INTERFACE_VERSION >= 21
	note_set(buf, len, (const void *)pf->queryParameter, "queryParameter");
#endif
#if BFD_INTERFACE_VERSION >= 22
	note_set(buf, len, (const void *)pf->metadataRestore, "metadataRestore");
#endif
#if BFD_INTERFACE_VERSION >= 23
	note_set(buf, len, (const void *)pf->startVerifyFile, "startVerifyFile");
	note_set(buf, len, (const void *)pf->endVerifyFile, "endVerifyFile");
#endif
}

/* As plugin_save() does: a zeroed packet with pkt_size, pkt_end, portable and cmd set. */
static bRC
start_backup_file(const void *p, bpContext *ctx, fake_save *s)
{
	const pFuncs *pf = p;
	struct save_pkt sp;
	bRC rc;

	memset(&sp, 0, sizeof(sp));
	sp.pkt_size = sizeof(sp);
	sp.pkt_end = sizeof(sp);
	sp.portable = true;
	sp.cmd = (char *)s->cmd;
	rc = pf->startBackupFile(ctx, &sp);
	if (sp.pkt_size != (int32_t)sizeof(sp) || sp.pkt_end != (int32_t)sizeof(sp)) {
		s->fname = NULL; /* the plugin wrote past what it was given */
		s->type = 0;
		return bRC_Error;
	}
	s->fname = sp.fname;
	s->type = sp.type;
	s->no_read = sp.no_read;
	return rc;
}

static void
restore_packet(struct restore_pkt *rp, const fake_restore *r)
{
	memset(rp, 0, sizeof(*rp));
	rp->pkt_size = sizeof(*rp);
	rp->pkt_end = sizeof(*rp);
	rp->type = FT_REG;
	rp->file_index = 1;
	rp->statp.st_mode = S_IFREG | 0600;
	rp->statp.st_size = r->size;
	rp->ofname = r->ofname;
	rp->where = r->where;
	rp->replace = r->replace;
	rp->create_status = CF_ERROR;
}

static bRC
create_file(const void *p, bpContext *ctx, fake_restore *r)
{
	const pFuncs *pf = p;
	struct restore_pkt rp;
	bRC rc;

	restore_packet(&rp, r);
	rc = pf->createFile(ctx, &rp);
	r->create_status = rp.pkt_end == (int32_t)sizeof(rp) ? rp.create_status : CF_ERROR;
	return rc;
}

static bRC
set_file_attributes(const void *p, bpContext *ctx, const fake_restore *r)
{
	const pFuncs *pf = p;
	struct restore_pkt rp;

	restore_packet(&rp, r);
	rp.create_status = r->create_status;
	return pf->setFileAttributes(ctx, &rp);
}

const fake_iface FAKE_NAME = {
	.version = BFD_INTERFACE_VERSION,
	.releases = FAKE_RELEASES,
	.bfuncs = &bfuncs,
	.bfuncs_version = &bfuncs.version,
	.bfuncs_size = sizeof(bFuncs),
	.pfuncs_size = sizeof(pFuncs),
	.mtype_names = mtype_names,
	.mtype_max = M_MAX,
	.m_fatal = M_FATAL,
	.m_error = M_ERROR,
	.m_warning = M_WARNING,
	.m_info = M_INFO,
	.optional_set = optional_set,
	.start_backup_file = start_backup_file,
	.create_file = create_file,
	.set_file_attributes = set_file_attributes,
};
