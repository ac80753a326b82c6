/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bacula-layer-template.h: the body of one Bacula layer, compiled once per interface by bacula14.c ... bacula23.c. */

/*
 * The includer first includes one bacula-abiNN.h (its save_pkt,
 * restore_pkt, bVariable, M_*, bFuncs and pFuncs) and defines LAYER_NAME
 * (the bacula_layer it exports) and LAYER_RELEASES.  Written once, so the
 * four layers differ only in the declarations they are compiled with: the
 * same field names land at each interface's offsets, the same M_FATAL is 3
 * or 4, the pFuncs table has that interface's size with every slot this
 * code does not name left NULL (the daemons NULL-check those).
 */

#if !defined(BFD_INTERFACE_VERSION) || !defined(LAYER_NAME) || !defined(LAYER_RELEASES)
#error "include one bacula-abiNN.h and define LAYER_NAME and LAYER_RELEASES first"
#endif

#include <errno.h>
#include <stddef.h>

#include "bacula-layers.h"
#include "fdhost.h"

#define DEBUG_LEVEL 150 /* bacula-fd -d150 shows our debug lines, as it does bpipe's */

/* The daemon's callbacks: set once by layer_bind, before any instance exists. */
static bFuncs *daemon_funcs;

static const int msg_types[FDHOST_MSG_KINDS] = {
	[FDHOST_INFO] = M_INFO,
	[FDHOST_WARNING] = M_WARNING,
	[FDHOST_ERROR] = M_ERROR,
	[FDHOST_FATAL] = M_FATAL,
};

static const int var_ids[FDHOST_VARS] = {
	[FDHOST_JOBID] = bVarJobId,
	[FDHOST_JOBNAME] = bVarJobName,
	[FDHOST_WHERE] = bVarWhere,
};

/* ---------------------------------------------------------------- the logic's calls to the daemon */

static void
host_message(fdhost_ctx *ctx, fdhost_msg kind, const char *line)
{
	daemon_funcs->JobMessage((bpContext *)ctx, __FILE__, __LINE__, msg_types[kind], 0, "mongo-fd: %s\n", line);
}

static void
host_debug(fdhost_ctx *ctx, const char *line)
{
	daemon_funcs->DebugMessage((bpContext *)ctx, __FILE__, __LINE__, DEBUG_LEVEL, "mongo-fd: %s\n", line);
}

static bool
host_get_int(fdhost_ctx *ctx, fdhost_var var, int *out)
{
	return daemon_funcs->getBaculaValue((bpContext *)ctx, var_ids[var], out) == bRC_OK;
}

static bool
host_get_str(fdhost_ctx *ctx, fdhost_var var, const char **out)
{
	*out = NULL;
	return daemon_funcs->getBaculaValue((bpContext *)ctx, var_ids[var], (void *)out) == bRC_OK && *out != NULL;
}

static const fdhost host = {
	.version = BFD_INTERFACE_VERSION,
	.message = host_message,
	.debug = host_debug,
	.get_int = host_get_int,
	.get_str = host_get_str,
};

/* ---------------------------------------------------------------- the daemon's calls to the logic */

static fdjob *
job_of(bpContext *ctx)
{
	return ctx != NULL ? ctx->pContext : NULL;
}

static bRC
rc_of(fdhost_rc rc)
{
	return rc == FDHOST_OK ? bRC_OK : rc == FDHOST_SEEN ? bRC_Seen : rc == FDHOST_MORE ? bRC_More : bRC_Error;
}

static bRC
new_plugin(bpContext *ctx)
{
	fdjob *f = NULL;

	if (ctx == NULL || mfd_new((fdhost_ctx *)ctx, &f) != FDHOST_OK)
		return bRC_Error;
	ctx->pContext = f;
	return bRC_OK;
}

static bRC
free_plugin(bpContext *ctx)
{
	fdhost_rc rc = mfd_free(job_of(ctx));

	if (rc == FDHOST_OK)
		ctx->pContext = NULL;
	return rc_of(rc);
}

static bRC
plugin_value(bpContext *ctx, int var, void *value)
{
	(void)var;
	(void)value;
	return rc_of(mfd_noop(job_of(ctx)));
}

static bRC
handle_event(bpContext *ctx, bEvent *event, void *value)
{
	fdhost_event ev = FDHOST_EV_OTHER;

	if (event == NULL)
		return bRC_Error;
	switch (event->eventType) {
	case bEventBackupCommand:
		ev = FDHOST_EV_BACKUP_COMMAND;
		break;
	case bEventEstimateCommand:
		ev = FDHOST_EV_ESTIMATE_COMMAND;
		break;
	case bEventRestoreCommand:
		ev = FDHOST_EV_RESTORE_COMMAND;
		break;
	case bEventCancelCommand:
		ev = FDHOST_EV_CANCEL;
		break;
	case bEventEndBackupJob:
		ev = FDHOST_EV_END_BACKUP_JOB;
		break;
	case bEventEndRestoreJob:
		ev = FDHOST_EV_END_RESTORE_JOB;
		break;
	default:
		break;
	}
	return rc_of(mfd_event(job_of(ctx), ev, value));
}

/* The daemon has zeroed sp and set pkt_size, portable and cmd; it needs type and fname back. */
static bRC
start_backup_file(bpContext *ctx, struct save_pkt *sp)
{
	fdhost_file file = { .fname = NULL };
	fdhost_rc rc;

	if (sp == NULL)
		return bRC_Error;
	if ((rc = mfd_start_backup_file(job_of(ctx), &file)) != FDHOST_OK)
		return rc_of(rc);
	sp->fname = (char *)file.fname;
	sp->type = FT_REG;
	sp->statp.st_mode = file.mode;
	sp->statp.st_size = file.size;
	sp->statp.st_blksize = 4096;
	sp->statp.st_blocks = 1;
	sp->statp.st_atime = sp->statp.st_mtime = sp->statp.st_ctime = file.mtime;
	return bRC_OK;
}

static bRC
end_backup_file(bpContext *ctx)
{
	return rc_of(mfd_end_backup_file(job_of(ctx)));
}

static bRC
start_restore_file(bpContext *ctx, const char *cmd)
{
	return rc_of(mfd_start_restore_file(job_of(ctx), cmd));
}

static bRC
end_restore_file(bpContext *ctx)
{
	return rc_of(mfd_end_restore_file(job_of(ctx)));
}

/* The daemon looks only at io->status (and io_errno when it is < 0). */
static bRC
plugin_io(bpContext *ctx, struct io_pkt *io)
{
	fdhost_io nio;
	fdhost_rc rc;

	if (io == NULL)
		return bRC_Error;
	nio = (fdhost_io){
		.func = io->func == IO_OPEN    ? FDHOST_IO_OPEN
		        : io->func == IO_READ  ? FDHOST_IO_READ
		        : io->func == IO_WRITE ? FDHOST_IO_WRITE
		        : io->func == IO_CLOSE ? FDHOST_IO_CLOSE
		                               : FDHOST_IO_OTHER,
		.count = io->count,
		.flags = io->flags,
		.mode = io->mode,
		.buf = io->buf,
		.fname = io->fname,
		.status = -1,
		.io_errno = EINVAL,
	};
	rc = mfd_io(job_of(ctx), &nio);
	io->status = nio.status;
	io->io_errno = nio.io_errno;
	return rc_of(rc);
}

static bRC
create_file(bpContext *ctx, struct restore_pkt *rp)
{
	fdhost_restore r = { .create_status = FDHOST_CREATE_ERROR };
	fdhost_rc rc;

	if (rp == NULL)
		return bRC_Error;
	r.ofname = rp->ofname;
	r.replace = rp->replace;
	rc = mfd_create_file(job_of(ctx), &r);
	rp->create_status = r.create_status == FDHOST_CREATE_EXTRACT ? CF_EXTRACT
	                    : r.create_status == FDHOST_CREATE_SKIP  ? CF_SKIP
	                                                             : CF_ERROR;
	return rc_of(rc);
}

static bRC
set_file_attributes(bpContext *ctx, struct restore_pkt *rp)
{
	(void)rp;
	return rc_of(mfd_set_file_attributes(job_of(ctx)));
}

static bRC
check_file(bpContext *ctx, char *fname)
{
	return rc_of(mfd_check_file(job_of(ctx), fname));
}

/* ---------------------------------------------------------------- what the loader sees */

static pInfo info = {
	.size = sizeof(pInfo),
	.version = BFD_INTERFACE_VERSION,
	.plugin_magic = BFD_PLUGIN_MAGIC,
	.plugin_license = BFD_PLUGIN_LICENSE,
	.plugin_author = "mongo-backup-hooks",
	.plugin_date = "2026",
	.plugin_version = PACKAGE_VERSION,
	.plugin_description = "MongoDB replica set: fsync-lock a secondary, stream a backup command, unlock",
};

static pFuncs funcs = {
	.size = sizeof(pFuncs),
	.version = BFD_INTERFACE_VERSION,
	.newPlugin = new_plugin,
	.freePlugin = free_plugin,
	.getPluginValue = plugin_value,
	.setPluginValue = plugin_value,
	.handlePluginEvent = handle_event,
	.startBackupFile = start_backup_file,
	.endBackupFile = end_backup_file,
	.startRestoreFile = start_restore_file,
	.endRestoreFile = end_restore_file,
	.pluginIO = plugin_io,
	.createFile = create_file,
	.setFileAttributes = set_file_attributes,
	.checkFile = check_file,
};

/* The callbacks the logic uses must be inside the table the daemon says it handed over. */
static bool
layer_bind(void *p)
{
	bFuncs *b = p;

	if (b == NULL || b->size < offsetof(bFuncs, baculaMalloc) || b->JobMessage == NULL ||
	    b->DebugMessage == NULL || b->getBaculaValue == NULL)
		return false;
	daemon_funcs = b;
	return true;
}

static void
layer_daemon_message(void *p, fdhost_msg kind, const char *line)
{
	bFuncs *b = p;

	if (b != NULL && b->size >= offsetof(bFuncs, DebugMessage) && b->JobMessage != NULL)
		b->JobMessage(NULL, __FILE__, __LINE__, msg_types[kind], 0, "mongo-fd: %s\n", line);
}

const bacula_layer LAYER_NAME = {
	.version = BFD_INTERFACE_VERSION,
	.releases = LAYER_RELEASES,
	.host = &host,
	.info = &info,
	.funcs = &funcs,
	.bind = layer_bind,
	.daemon_message = layer_daemon_message,
	.msg_types = msg_types,
	.var_ids = var_ids,
};
