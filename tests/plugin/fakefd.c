/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fakefd.c: a fake Bacula file daemon (interface 14, 21, 22 or 23) that dlopens a plugin and drives it. */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bacula-abi.h"
#include "fakefd.h"

/*
 * Usage:
 *   fakefd [-v] [-i INTERFACE] PLUGIN.so info
 *   fakefd [-v] [-i INTERFACE] PLUGIN.so JOB [-- JOB]...
 * where JOB is one of
 *   backup   --cmd STRING [--cmd STRING]... [--out FILE] [--out-dir DIR] [--cancel-after BYTES] [--cancel-at-ms MS]
 *            [--skip-io] [--skip-endjob] [--close-after BYTES] [--pause-after BYTES --pause-ms MS]
 *   restore  --cmd STRING --in FILE --fname NAME [--where DIR]
 *   estimate --cmd STRING
 *   console
 * plus, for any job: --jobid N, --name NAME, --wait-for FILE (start once it
 * exists), --touch-done FILE (create it when the job has ended).  --skip-io
 * plays a daemon that fails between startBackupFile and IO_OPEN (the storage
 * daemon went away); --skip-endjob one that never sends EndBackupJob (so
 * only freePlugin is left to clean up); --close-after one whose storage
 * daemon fails mid-stream (it stops reading and closes the file, as
 * bacula-fd does after "Network send error to SD"); --pause-after one that
 * stops calling IO_READ for a while (waiting for a volume to be mounted).
 * --out-dir writes each file of a backup to a file of its own in DIR, named
 * after the stored name with its slashes made '_' (a plugin command making
 * several files: endBackupFile's bRC_More).
 * SIGTERM is handled as bacula-fd 9.6 does (terminate_filed): on whichever
 * thread gets it, unloadPlugin, then exit, with the jobs still running.
 *
 * INTERFACE is the plugin interface the fake daemon speaks (bInfo.version,
 * its callback table, variable ids, message types and packet layouts): 14
 * (Bacula 9.6, the default), 21 (11.0), 22 (13.0) or 23 (15.0).  Any other
 * number is announced as such with the layout of the nearest interface not
 * above it (else 14's), as a daemon of another release would: the plugin
 * must refuse it.
 *
 * Every job runs in its own thread, all at once, each with its own plugin
 * instance, in the order of calls bacula-fd 9.6.7 makes (the research note's
 * section 1.6; 11.0 to 15.0 make the same ones).  A cancel runs handlePluginEvent(CancelCommand) on yet
 * another thread, against the running job's context, as the daemon's cancel
 * connection does.  Output on stdout, one line each:
 *   fakefd: interface N (Bacula R) bInfo {8, N} bFuncs {SIZE, N}
 *   daemon: M_TYPE: TEXT           a JobMessage without a job (a daemon message)
 *   job N: M_TYPE: TEXT            every JobMessage the plugin sent, named by
 *                                  the interface's numbers (3 is M_EVENTS on 22)
 *   job N: ODD message type T ...  a type a plugin must never send
 *   job N: file NAME bytes=B       (backups) each file read whole, at its IO_CLOSE
 *   job N: status=S files=F bytes=B errors=E fname=NAME
 *   job N: reads=R short=S         (backups that read data) IO_READs that returned
 *                                  data, and how many of them less than asked
 *   job N: cancel returned after MS ms   how long handlePluginEvent(CancelCommand) took
 * S is what the Director would record: A cancelled, f an M_FATAL (of the
 * interface spoken) was sent, else T (errors counts M_ERROR messages and failed reads/writes).  -v
 * traces every call on stderr.  Exit status: 0 when every job could be
 * driven (whatever its outcome), 2 on a usage or loading problem.
 */

#define IO_COUNT 65536       /* what bacula-fd asks per IO_READ */
#define WAIT_FOR_MS 60000    /* --wait-for gives up after this */

typedef enum kind { K_BACKUP, K_RESTORE, K_ESTIMATE, K_CONSOLE } kind;

typedef struct job {
	kind kind;
	int jobid;
	char name[128];
	char unique[192];
	const char *cmd;         /* the (first) plugin string */
	const char *cmds[8];     /* backup: one per Plugin= line, run in turn */
	int ncmds;
	const char *out;
	const char *out_dir;
	const char *in;
	const char *where;
	const char *fname;
	const char *wait_for;
	const char *touch_done;
	long long cancel_after;  /* bytes; -1 = never */
	long cancel_at_ms;       /* ms after the command event; -1 = never */
	bool skip_io;
	bool skip_endjob;
	long long close_after;   /* bytes; -1 = never */
	long long pause_after;   /* bytes; -1 = never */
	long pause_ms;
	bpContext ctx;
	pthread_t thread;
	pthread_t self;          /* the job's thread, as seen by itself */
	pthread_t canceller;
	bool canceller_started;
	atomic_bool cancelled;
	atomic_int fatals;
	atomic_int errors;
	long long bytes;
	long long reads, short_reads;
	int files;
	char saved_fname[2048];
} job;

static bool verbose;
static bfd_unload_plugin_fn unload_fn; /* for the SIGTERM handler */
static const fake_iface *iface; /* the interface spoken, chosen by -i */
static fake_pfuncs *pf;         /* the plugin's table (only its shared first 14 entries called directly) */
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

/* One whole line on stdout (jobs print from several threads). */
static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_mu);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	pthread_mutex_unlock(&out_mu);
}

/* A trace line on stderr with -v. */
static void __attribute__((format(printf, 2, 3)))
trace(const job *j, const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	pthread_mutex_lock(&out_mu);
	fprintf(stderr, "fakefd: job %d: ", j != NULL ? j->jobid : 0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&out_mu);
}

static job *
job_of(bpContext *ctx)
{
	return ctx != NULL ? (job *)ctx->bContext : NULL;
}

/* ---------------------------------------------------------------- the daemon's callbacks */

/* The daemon's callbacks, in neutral terms: each interface's table (fakefd-template.h) maps onto these. */

bRC
fake_get_value(bpContext *ctx, fake_var var, void *value)
{
	job *j = job_of(ctx);

	if (j == NULL || value == NULL)
		return bRC_Error;
	switch (var) {
	case FV_JOBID:
		*(int *)value = j->jobid;
		return bRC_OK;
	case FV_JOBNAME:
		*(const char **)value = j->unique;
		return bRC_OK;
	case FV_FDNAME:
	case FV_CLIENT:
		*(const char **)value = "fake-fd";
		return bRC_OK;
	case FV_LEVEL:
		*(int *)value = ' ';
		return bRC_OK;
	case FV_WHERE:
		*(const char **)value = j->where != NULL ? j->where : "";
		return bRC_OK;
	case FV_VERSION:
		*(const char **)value = iface->releases;
		return bRC_OK;
	default:
		return bRC_Error;
	}
}

/* The interface's name of a message type (3 is M_FATAL on 14 and 21, M_EVENTS on 22 and 23). */
static const char *
mtype_name(int type)
{
	return type >= 0 && type <= iface->mtype_max && iface->mtype_names[type] != NULL ? iface->mtype_names[type]
	                                                                                 : "M_?";
}

bRC
fake_job_message(bpContext *ctx, int type, const char *text)
{
	job *j = job_of(ctx);
	char buf[MSG_MAX];
	size_t n;

	snprintf(buf, sizeof(buf), "%s", text);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (j == NULL) {
		say("daemon: %s: %s", mtype_name(type), buf);
		return bRC_OK;
	}
	if (type == iface->m_fatal)
		atomic_fetch_add(&j->fatals, 1);
	if (type == iface->m_error)
		atomic_fetch_add(&j->errors, 1);
	say("job %d: %s: %s", j->jobid, mtype_name(type), buf);
	if (type != iface->m_fatal && type != iface->m_error && type != iface->m_warning && type != iface->m_info)
		say("job %d: ODD message type %d (%s on interface %u): a plugin sends only fatal, error, warning "
		    "and info", j->jobid, type, mtype_name(type), (unsigned)iface->version);
	return bRC_OK;
}

bRC
fake_debug_message(bpContext *ctx, int level, const char *text)
{
	if (verbose)
		trace(job_of(ctx), "debug %d: %s", level, text);
	return bRC_OK;
}

/* ---------------------------------------------------------------- driving one job */

static void
fd_error(job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An error the daemon itself reports (read errors, bad packets): M_ERROR in the job log. */
static void
fd_error(job *j, const char *fmt, ...)
{
	char buf[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	atomic_fetch_add(&j->errors, 1);
	say("job %d: M_ERROR: fakefd: %s", j->jobid, buf);
}

static bRC
event(job *j, uint32_t type, void *value)
{
	bEvent ev = { .eventType = type };
	bRC rc;

	rc = pf->handlePluginEvent(&j->ctx, &ev, value);
	trace(j, "event %u -> %d", type, (int)rc);
	return rc;
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * The daemon's cancel connection (filed/job.c cancel_cmd): the plugin event
 * on this thread, then the job is marked cancelled and its thread gets a
 * signal that interrupts a blocking system call (EINTR), as bacula-fd's
 * TIMEOUT_SIGNAL does.
 */
static void *
canceller(void *arg)
{
	job *j = arg;
	struct timespec t0, ts = { 0, 0 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (j->cancel_at_ms > 0) {
		ts.tv_sec = j->cancel_at_ms / 1000;
		ts.tv_nsec = (j->cancel_at_ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
	}
	trace(j, "cancel");
	event(j, bEventCancelCommand, NULL);
	say("job %d: cancel returned after %ld ms", j->jobid, ms_since(&t0));
	atomic_store(&j->cancelled, true);
	pthread_kill(j->self, SIGUSR2);
	return NULL;
}

static void
start_canceller(job *j)
{
	if (j->canceller_started)
		return;
	if (pthread_create(&j->canceller, NULL, canceller, j) == 0)
		j->canceller_started = true;
}

/* Wait (bounded) until a file exists. */
static void
wait_for(job *j)
{
	struct timespec ts = { 0, 10 * 1000000L }, t0;

	if (j->wait_for == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (access(j->wait_for, F_OK) != 0 && ms_since(&t0) < WAIT_FOR_MS)
		nanosleep(&ts, NULL);
	trace(j, "%s appeared after %ld ms", j->wait_for, ms_since(&t0));
}

/* --out-dir: the file one backup file goes to (DIR/the stored name with '/' made '_'), or NULL. */
static FILE *
open_out_file(job *j, const char *fname)
{
	char path[4096], *p;
	FILE *f;
	int n;

	if (j->out_dir == NULL)
		return NULL;
	n = snprintf(path, sizeof(path), "%s/", j->out_dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return NULL;
	snprintf(path + n, sizeof(path) - (size_t)n, "%s", fname[0] == '/' ? fname + 1 : fname);
	for (p = path + n; *p != '\0'; p++)
		if (*p == '/')
			*p = '_';
	if ((f = fopen(path, "w")) == NULL)
		fd_error(j, "cannot write %s: %s", path, strerror(errno));
	return f;
}

/* One Plugin= line of a backup: BackupCommand, startBackupFile, pluginIO, endBackupFile (again on bRC_More). */
static void
backup_command(job *j, const char *cmd, FILE *out)
{
	fake_save sp;
	struct io_pkt io;
	char *buf = NULL;
	FILE *fout = NULL;
	long long file_bytes = 0;
	bRC rc;

	if (j->cancel_at_ms >= 0)
		start_canceller(j);
	if ((rc = event(j, bEventBackupCommand, (void *)cmd)) != bRC_OK)
		return; /* bacula-fd stops this command silently: only an M_FATAL fails the job */
	if ((buf = malloc(IO_COUNT)) == NULL)
		return;
	do {
		memset(&sp, 0, sizeof(sp));
		sp.cmd = cmd;
		rc = iface->start_backup_file(pf, &j->ctx, &sp);
		trace(j, "startBackupFile -> %d fname=%s type=%d", (int)rc, sp.fname ? sp.fname : "(null)", sp.type);
		if (rc != bRC_OK)
			break;
		if (sp.type == 0 || sp.fname == NULL) {
			atomic_fetch_add(&j->fatals, 1);
			say("job %d: M_FATAL: fakefd: no type or fname in startBackupFile packet", j->jobid);
			break;
		}
		snprintf(j->saved_fname, sizeof(j->saved_fname), "%s", sp.fname);
		file_bytes = j->bytes;
		if (fout != NULL)
			fclose(fout);
		fout = open_out_file(j, sp.fname);
		if (sp.type == FT_REG && !sp.no_read && j->skip_io) {
			atomic_fetch_add(&j->fatals, 1);
			say("job %d: M_FATAL: fakefd: the storage daemon went away before %s was opened", j->jobid,
			    sp.fname);
		} else if (sp.type == FT_REG && !sp.no_read) {
			memset(&io, 0, sizeof(io));
			io.pkt_size = sizeof(io);
			io.pkt_end = sizeof(io);
			io.func = IO_OPEN;
			io.fname = sp.fname;
			io.flags = O_RDONLY;
			pf->pluginIO(&j->ctx, &io);
			trace(j, "IO_OPEN -> status %d errno %d", io.status, io.io_errno);
			if (io.status < 0) {
				fd_error(j, "Cannot open \"%s\": ERR=%s", sp.fname, strerror(io.io_errno));
			} else {
				/* like bacula-fd: read until EOF, an error, or the job is seen cancelled */
				while (!atomic_load(&j->cancelled)) {
					memset(&io, 0, sizeof(io));
					io.pkt_size = sizeof(io);
					io.pkt_end = sizeof(io);
					io.func = IO_READ;
					io.buf = buf;
					io.count = IO_COUNT;
					pf->pluginIO(&j->ctx, &io);
					if (io.status < 0) {
						if (!atomic_load(&j->cancelled))
							fd_error(j, "Read error on file %s. ERR=%s", sp.fname,
							         strerror(io.io_errno));
						break;
					}
					if (io.status == 0)
						break;
					if (io.status > IO_COUNT) {
						fd_error(j, "IO_READ returned %d bytes for a %d-byte buffer", io.status,
						         IO_COUNT);
						break;
					}
					j->reads++;
					if (io.status < IO_COUNT)
						j->short_reads++;
					if (out != NULL)
						fwrite(buf, 1, (size_t)io.status, out);
					if (fout != NULL)
						fwrite(buf, 1, (size_t)io.status, fout);
					j->bytes += io.status;
					if (j->cancel_after >= 0 && j->bytes >= j->cancel_after)
						start_canceller(j);
					if (j->close_after >= 0 && j->bytes >= j->close_after) {
						atomic_fetch_add(&j->fatals, 1);
						say("job %d: M_FATAL: fakefd: Network send error to SD. ERR=Broken pipe",
						    j->jobid);
						break;
					}
					if (j->pause_after >= 0 && j->bytes >= j->pause_after) {
						struct timespec ts = { j->pause_ms / 1000, (j->pause_ms % 1000) * 1000000L };

						trace(j, "pausing %ld ms", j->pause_ms);
						j->pause_after = -1;
						nanosleep(&ts, NULL);
					}
				}
				trace(j, "read %lld bytes", j->bytes);
				memset(&io, 0, sizeof(io));
				io.pkt_size = sizeof(io);
				io.pkt_end = sizeof(io);
				io.func = IO_CLOSE;
				pf->pluginIO(&j->ctx, &io);
				trace(j, "IO_CLOSE -> status %d", io.status);
				if (io.status < 0 && !atomic_load(&j->cancelled))
					fd_error(j, "Close error on file %s", sp.fname);
				if (!atomic_load(&j->cancelled))
					j->files++;
				say("job %d: file %s bytes=%lld", j->jobid, sp.fname, j->bytes - file_bytes);
			}
		} else if (sp.type == FT_REG) {
			j->files++;
		}
		rc = pf->endBackupFile(&j->ctx);
		trace(j, "endBackupFile -> %d", (int)rc);
	} while (rc == bRC_More && !atomic_load(&j->cancelled));
	if (fout != NULL)
		fclose(fout);
	free(buf);
}

static void
run_backup(job *j)
{
	FILE *out = NULL;
	int i;

	if (j->out != NULL && (out = fopen(j->out, "w")) == NULL) {
		fd_error(j, "cannot write %s: %s", j->out, strerror(errno));
		return;
	}
	event(j, bEventLevel, (void *)(intptr_t)'F');
	for (i = 0; i < j->ncmds; i++)
		event(j, bEventPluginCommand, (void *)j->cmds[i]);
	event(j, bEventEndFileSet, NULL);
	event(j, bEventStartBackupJob, NULL);
	for (i = 0; i < j->ncmds && !atomic_load(&j->cancelled); i++)
		backup_command(j, j->cmds[i], out);
	if (out != NULL)
		fclose(out);
	if (!j->skip_endjob)
		event(j, bEventEndBackupJob, NULL);
}

static void
run_estimate(job *j)
{
	fake_save sp;
	bRC rc;

	event(j, bEventPluginCommand, (void *)j->cmd);
	if (event(j, bEventEstimateCommand, (void *)j->cmd) != bRC_OK)
		return;
	do {
		memset(&sp, 0, sizeof(sp));
		sp.cmd = j->cmd;
		if ((rc = iface->start_backup_file(pf, &j->ctx, &sp)) != bRC_OK)
			break;
		if (sp.fname != NULL) {
			snprintf(j->saved_fname, sizeof(j->saved_fname), "%s", sp.fname);
			j->files++;
		}
		rc = pf->endBackupFile(&j->ctx);
	} while (rc == bRC_More);
}

static void
run_restore(job *j)
{
	fake_restore rp;
	struct io_pkt io;
	char ofname[2048], *buf = NULL;
	FILE *in = NULL;
	size_t n;
	bRC rc;

	if ((in = fopen(j->in, "r")) == NULL || (buf = malloc(IO_COUNT)) == NULL) {
		fd_error(j, "cannot read %s: %s", j->in, strerror(errno));
		goto out;
	}
	snprintf(ofname, sizeof(ofname), "%s%s", j->where != NULL ? j->where : "", j->fname);
	event(j, bEventStartRestoreJob, NULL);
	if (event(j, bEventRestoreCommand, (void *)j->cmd) != bRC_OK)
		goto end;
	if ((rc = pf->startRestoreFile(&j->ctx, j->cmd)) != bRC_OK) {
		trace(j, "startRestoreFile -> %d", (int)rc);
		goto end;
	}
	memset(&rp, 0, sizeof(rp));
	fseeko(in, 0, SEEK_END);
	rp.size = ftello(in);
	rewind(in);
	rp.ofname = ofname;
	rp.where = j->where != NULL ? j->where : "";
	rp.replace = 'a';
	rc = iface->create_file(pf, &j->ctx, &rp);
	trace(j, "createFile -> %d create_status %d", (int)rc, rp.create_status);
	snprintf(j->saved_fname, sizeof(j->saved_fname), "%s", ofname);
	if (rc != bRC_OK || rp.create_status == CF_ERROR) {
		fd_error(j, "createFile failed for %s", ofname);
		goto endfile;
	}
	if (rp.create_status != CF_EXTRACT)
		goto endfile;
	memset(&io, 0, sizeof(io));
	io.pkt_size = sizeof(io);
	io.pkt_end = sizeof(io);
	io.func = IO_OPEN;
	io.fname = ofname;
	io.flags = O_WRONLY | O_CREAT | O_TRUNC;
	io.mode = 0600;
	pf->pluginIO(&j->ctx, &io);
	trace(j, "IO_OPEN -> status %d", io.status);
	if (io.status < 0) {
		fd_error(j, "Cannot open %s: ERR=%s", ofname, strerror(io.io_errno));
		goto endfile;
	}
	while ((n = fread(buf, 1, IO_COUNT, in)) > 0) {
		memset(&io, 0, sizeof(io));
		io.pkt_size = sizeof(io);
		io.pkt_end = sizeof(io);
		io.func = IO_WRITE;
		io.buf = buf;
		io.count = (int32_t)n;
		pf->pluginIO(&j->ctx, &io);
		if (io.status != (int32_t)n) {
			fd_error(j, "Write error on %s: ERR=%s", ofname, strerror(io.io_errno));
			break;
		}
		j->bytes += io.status;
	}
	iface->set_file_attributes(pf, &j->ctx, &rp);
	memset(&io, 0, sizeof(io));
	io.pkt_size = sizeof(io);
	io.pkt_end = sizeof(io);
	io.func = IO_CLOSE;
	pf->pluginIO(&j->ctx, &io);
	trace(j, "IO_CLOSE -> status %d", io.status);
	if (io.status < 0)
		fd_error(j, "Close error on %s", ofname);
	else
		j->files++;
endfile:
	pf->endRestoreFile(&j->ctx);
end:
	event(j, bEventEndRestoreJob, NULL);
out:
	if (in != NULL)
		fclose(in);
	free(buf);
}

static void *
run_job(void *arg)
{
	job *j = arg;
	char start[256];
	char status;
	bRC rc;

	j->self = pthread_self();
	wait_for(j);
	j->ctx.bContext = j;
	j->ctx.pContext = NULL;
	rc = pf->newPlugin(&j->ctx);
	trace(j, "newPlugin -> %d", (int)rc);
	snprintf(start, sizeof(start), "JobId=%d Job=%s", j->jobid, j->unique);
	event(j, bEventJobStart, start);
	switch (j->kind) {
	case K_BACKUP:
		run_backup(j);
		break;
	case K_RESTORE:
		run_restore(j);
		break;
	case K_ESTIMATE:
		run_estimate(j);
		break;
	case K_CONSOLE:
		break;
	}
	if (j->canceller_started) {
		pthread_join(j->canceller, NULL);
		j->canceller_started = false;
	}
	status = atomic_load(&j->cancelled) ? 'A' : atomic_load(&j->fatals) > 0 ? 'f' : 'T';
	if (status == 'T')
		event(j, bEventJobEnd, NULL); /* not sent for failed or cancelled jobs */
	rc = pf->freePlugin(&j->ctx);
	trace(j, "freePlugin -> %d", (int)rc);
	say("job %d: status=%c files=%d bytes=%lld errors=%d fname=%s", j->jobid, status, j->files, j->bytes,
	    atomic_load(&j->errors), j->saved_fname[0] ? j->saved_fname : "-");
	if (j->reads > 0)
		say("job %d: reads=%lld short=%lld", j->jobid, j->reads, j->short_reads);
	if (j->touch_done != NULL)
		close(open(j->touch_done, O_WRONLY | O_CREAT, 0600));
	return NULL;
}

/* ---------------------------------------------------------------- loading, like lib/plugins.c checks */

/* The interface -i names; for another number, the layout of the nearest one not above it (else 14's). */
static const fake_iface *
iface_for(uint32_t version)
{
	static const fake_iface *const all[] = { &fake14, &fake21, &fake22, &fake23 };
	const fake_iface *best = all[0];
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i]->version <= version)
			best = all[i];
	return best;
}

/*
 * dlopen, loadPlugin with this interface's bInfo and callbacks, then the
 * checks of is_plugin_compatible() (lib/plugins.c calls unloadPlugin on a
 * plugin it refuses: *called says whether loadPlugin ran), plus the size of
 * the entry-point table the daemon will index.
 */
static int
load(const char *path, uint32_t version, void **handle, bool *called)
{
	static bInfo binfo;
	bfd_load_plugin_fn loadp;
	pInfo *pi = NULL;
	void *funcs = NULL;
	char set[256];

	binfo.size = sizeof(bInfo);
	binfo.version = version;
	*iface->bfuncs_version = version;
	if (version == iface->version)
		say("fakefd: interface %u (Bacula %s) bInfo {%u, %u} bFuncs {%u, %u}", (unsigned)version,
		    iface->releases, binfo.size, binfo.version, iface->bfuncs_size, (unsigned)version);
	else
		say("fakefd: interface %u (no Bacula this host knows; the layout of %u) bInfo {%u, %u} bFuncs {%u, %u}",
		    (unsigned)version, (unsigned)iface->version, binfo.size, binfo.version, iface->bfuncs_size,
		    (unsigned)version);
	if ((*handle = dlopen(path, RTLD_NOW)) == NULL) {
		fprintf(stderr, "fakefd: dlopen %s: %s\n", path, dlerror());
		return -1;
	}
	*(void **)&loadp = dlsym(*handle, "loadPlugin");
	if (loadp == NULL || dlsym(*handle, "unloadPlugin") == NULL) {
		fprintf(stderr, "fakefd: %s does not export loadPlugin and unloadPlugin\n", path);
		return -1;
	}
	*called = true;
	if (loadp(&binfo, iface->bfuncs, &pi, &funcs) != bRC_OK || pi == NULL || funcs == NULL) {
		say("fakefd: loadPlugin refused interface %u: not loaded", (unsigned)version);
		fprintf(stderr, "fakefd: loadPlugin failed\n");
		return -1;
	}
	pf = funcs;
	if (strcmp(pi->plugin_magic, BFD_PLUGIN_MAGIC) != 0 || pi->version != version ||
	    (strcmp(pi->plugin_license, "AGPLv3") != 0 && strcmp(pi->plugin_license, "Bacula AGPLv3") != 0) ||
	    pi->size != sizeof(pInfo)) {
		fprintf(stderr, "fakefd: bacula-fd would reject this plugin (magic, version %u, licence, size %u)\n",
		        pi->version, pi->size);
		return -1;
	}
	if (pf->size != iface->pfuncs_size || pf->version != version) {
		fprintf(stderr, "fakefd: the plugin's entry points are %u bytes for interface %u; interface %u's are %u\n",
		        pf->size, pf->version, (unsigned)version, iface->pfuncs_size);
		return -1;
	}
	if (pf->newPlugin == NULL || pf->freePlugin == NULL || pf->handlePluginEvent == NULL ||
	    pf->startBackupFile == NULL || pf->endBackupFile == NULL || pf->startRestoreFile == NULL ||
	    pf->endRestoreFile == NULL || pf->pluginIO == NULL || pf->createFile == NULL ||
	    pf->setFileAttributes == NULL) {
		fprintf(stderr, "fakefd: a callback bacula-fd always calls is NULL\n");
		return -1;
	}
	iface->optional_set(pf, set, sizeof(set));
	say("plugin: magic=%s version=%u size=%u license=%s author=%s date=%s plugin_version=%s", pi->plugin_magic,
	    pi->version, pi->size, pi->plugin_license, pi->plugin_author, pi->plugin_date, pi->plugin_version);
	say("plugin: description=%s", pi->plugin_description);
	say("plugin: pfuncs size=%u version=%u optional=%s", pf->size, pf->version, set[0] != '\0' ? set : "-");
	return 0;
}

/* SIGUSR2 only interrupts (no SA_RESTART), like the daemon's timeout signal. */
static void
on_sigusr2(int sig)
{
	(void)sig;
}

/* bacula-fd's terminate_filed: unload the plugins with the jobs still running, then exit. */
static void
on_sigterm(int sig)
{
	if (unload_fn != NULL)
		unload_fn();
	_exit(128 + sig);
}

static int
usage(void)
{
	fprintf(stderr, "usage: fakefd [-v] [-i INTERFACE] PLUGIN.so info\n"
	                "       fakefd [-v] [-i INTERFACE] PLUGIN.so backup|restore|estimate|console [OPTIONS] "
	                "[-- JOB]...\n");
	return 2;
}

/* Parse one JOB's words (argv[*i] up to "--" or the end). */
static int
parse_job(job *j, int n, char **argv, int *i)
{
	const char *w = argv[*i];

	j->kind = strcmp(w, "backup") == 0 ? K_BACKUP : strcmp(w, "restore") == 0 ? K_RESTORE :
		  strcmp(w, "estimate") == 0 ? K_ESTIMATE : strcmp(w, "console") == 0 ? K_CONSOLE : (kind)-1;
	if ((int)j->kind < 0)
		return -1;
	j->cancel_after = -1;
	j->cancel_at_ms = -1;
	j->close_after = -1;
	j->pause_after = -1;
	for ((*i)++; *i < n && strcmp(argv[*i], "--") != 0; (*i)++) {
		const char *o = argv[*i], *v = *i + 1 < n ? argv[*i + 1] : NULL;

		if (strcmp(o, "--skip-io") == 0 || strcmp(o, "--skip-endjob") == 0) {
			*(strcmp(o, "--skip-io") == 0 ? &j->skip_io : &j->skip_endjob) = true;
			continue;
		}

		if (v == NULL)
			return -1;
		(*i)++;
		if (strcmp(o, "--cmd") == 0) {
			if (j->ncmds == 8)
				return -1;
			j->cmds[j->ncmds++] = v;
			if (j->cmd == NULL)
				j->cmd = v;
		}
		else if (strcmp(o, "--out") == 0)
			j->out = v;
		else if (strcmp(o, "--out-dir") == 0)
			j->out_dir = v;
		else if (strcmp(o, "--in") == 0)
			j->in = v;
		else if (strcmp(o, "--where") == 0)
			j->where = v;
		else if (strcmp(o, "--fname") == 0)
			j->fname = v;
		else if (strcmp(o, "--jobid") == 0)
			j->jobid = atoi(v);
		else if (strcmp(o, "--name") == 0)
			snprintf(j->name, sizeof(j->name), "%s", v);
		else if (strcmp(o, "--cancel-after") == 0)
			j->cancel_after = atoll(v);
		else if (strcmp(o, "--cancel-at-ms") == 0)
			j->cancel_at_ms = atol(v);
		else if (strcmp(o, "--close-after") == 0)
			j->close_after = atoll(v);
		else if (strcmp(o, "--pause-after") == 0)
			j->pause_after = atoll(v);
		else if (strcmp(o, "--pause-ms") == 0)
			j->pause_ms = atol(v);
		else if (strcmp(o, "--wait-for") == 0)
			j->wait_for = v;
		else if (strcmp(o, "--touch-done") == 0)
			j->touch_done = v;
		else
			return -1;
	}
	if (j->kind != K_CONSOLE && j->cmd == NULL)
		return -1;
	if (j->kind == K_RESTORE && (j->in == NULL || j->fname == NULL))
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	job *jobs = NULL;
	void *handle = NULL;
	bfd_unload_plugin_fn unloadp;
	struct sigaction sa;
	unsigned long version = 14;
	char *end = NULL;
	bool called = false;
	int a = 1, i, njobs = 0, rc = 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr2;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	if (a < argc && strcmp(argv[a], "-v") == 0) {
		verbose = true;
		a++;
	}
	if (a + 1 < argc && strcmp(argv[a], "-i") == 0) {
		errno = 0;
		version = strtoul(argv[a + 1], &end, 10);
		if (errno != 0 || end == argv[a + 1] || *end != '\0' || version == 0 || version > 999)
			return usage();
		a += 2;
	}
	iface = iface_for((uint32_t)version);
	if (argc - a < 2)
		return usage();
	if ((jobs = calloc((size_t)argc, sizeof(*jobs))) == NULL)
		return 2;
	if (strcmp(argv[a + 1], "info") != 0) {
		for (i = a + 1; i < argc; i++) {
			job *j = &jobs[njobs];

			if (parse_job(j, argc, argv, &i) != 0) {
				rc = usage();
				goto out;
			}
			njobs++;
			if (j->jobid == 0)
				j->jobid = j->kind == K_CONSOLE || j->kind == K_ESTIMATE ? 0 : njobs;
			if (j->name[0] == '\0')
				snprintf(j->name, sizeof(j->name), "%s", j->kind == K_CONSOLE || j->kind == K_ESTIMATE ?
				         "-Console-" : "fake-job");
			snprintf(j->unique, sizeof(j->unique), "%s.2026-01-01_00.00.00_%02d", j->name, njobs);
		}
	}
	if (load(argv[a], (uint32_t)version, &handle, &called) != 0)
		goto out;
	if (called)
		*(void **)&unload_fn = dlsym(handle, "unloadPlugin");
	sa.sa_handler = on_sigterm;
	sigaction(SIGTERM, &sa, NULL);
	for (i = 0; i < njobs; i++)
		if (pthread_create(&jobs[i].thread, NULL, run_job, &jobs[i]) != 0) {
			fprintf(stderr, "fakefd: pthread_create failed\n");
			njobs = i;
			break;
		}
	for (i = 0; i < njobs; i++)
		pthread_join(jobs[i].thread, NULL);
	rc = 0;
out:
	if (handle != NULL) {
		signal(SIGTERM, SIG_DFL);
		*(void **)&unloadp = dlsym(handle, "unloadPlugin");
		if (unloadp != NULL && called)
			unloadp();
		dlclose(handle);
	}
	free(jobs);
	return rc;
}
