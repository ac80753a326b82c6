/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_bacula_layers.c: loadPlugin's choice of layer and each layer's message types and variable ids (TAP). */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bacula-abi.h"
#include "bacula-layers.h"
#include "fdhost.h"
#include "tap.h"

/*
 * The four layers and bacula-load.c, linked against a recording double of
 * the logic's entry points (below: what loadPlugin hands to mfd_load) and a
 * recording callback table.  The expected numbers are the research note's
 * (BACULA-BAREOS-ABI.md 1.7 and 1.9): a FATAL job message is type 3 on 14
 * and 21 and 4 on 22 and 23, where 3 is M_EVENTS and would not fail the job.
 */

bRC loadPlugin(bInfo *binfo, void *bfuncs, pInfo **pinfo, void **pfuncs);
bRC unloadPlugin(void);

/* ---------------------------------------------------------------- the logic, recorded */

static const fdhost *loaded_host;
static int loads, unloads;

int
mfd_load(const fdhost *host)
{
	loaded_host = host;
	loads++;
	return 0;
}

void
mfd_unload(void)
{
	unloads++;
}

fdhost_rc mfd_new(fdhost_ctx *ctx, fdjob **out) { (void)ctx; *out = NULL; return FDHOST_FAIL; }
fdhost_rc mfd_free(fdjob *f) { (void)f; return FDHOST_FAIL; }
fdhost_rc mfd_event(fdjob *f, fdhost_event e, void *v) { (void)f; (void)e; (void)v; return FDHOST_FAIL; }
fdhost_rc mfd_start_backup_file(fdjob *f, fdhost_file *x) { (void)f; (void)x; return FDHOST_FAIL; }
fdhost_rc mfd_end_backup_file(fdjob *f) { (void)f; return FDHOST_FAIL; }
fdhost_rc mfd_start_restore_file(fdjob *f, const char *c) { (void)f; (void)c; return FDHOST_FAIL; }
fdhost_rc mfd_end_restore_file(fdjob *f) { (void)f; return FDHOST_FAIL; }
fdhost_rc mfd_io(fdjob *f, fdhost_io *io) { (void)f; (void)io; return FDHOST_FAIL; }
fdhost_rc mfd_create_file(fdjob *f, fdhost_restore *r) { (void)f; (void)r; return FDHOST_FAIL; }
fdhost_rc mfd_set_file_attributes(fdjob *f) { (void)f; return FDHOST_FAIL; }
fdhost_rc mfd_check_file(fdjob *f, const char *n) { (void)f; (void)n; return FDHOST_FAIL; }
fdhost_rc mfd_noop(fdjob *f) { (void)f; return FDHOST_FAIL; }

/* ---------------------------------------------------------------- the daemon's callbacks, recorded */

/* Every interface's table starts with the same 17 callbacks; room after them for the longest (15.0's). */
typedef struct daemon_funcs {
	BFD_BFUNCS_MEMBERS;
	void *appended[3];
} daemon_funcs;

static int last_type = -1, last_var = -1, job_messages;
static char last_text[2048];

static bRC __attribute__((format(printf, 6, 7)))
rec_job_message(bpContext *ctx, const char *file, int line, int type, int64_t mtime, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	(void)file;
	(void)line;
	(void)mtime;
	va_start(ap, fmt);
	vsnprintf(last_text, sizeof(last_text), fmt, ap);
	va_end(ap);
	last_type = type;
	job_messages++;
	return bRC_OK;
}

static bRC __attribute__((format(printf, 5, 6)))
rec_debug_message(bpContext *ctx, const char *file, int line, int level, const char *fmt, ...)
{
	(void)ctx;
	(void)file;
	(void)line;
	(void)level;
	(void)fmt;
	return bRC_OK;
}

static bRC
rec_get_value(bpContext *ctx, int var, void *value)
{
	(void)ctx;
	last_var = var;
	if (var == 1) /* bVarJobId in every interface */
		*(int *)value = 42;
	else
		*(const char **)value = "x";
	return bRC_OK;
}

static daemon_funcs
daemon_of(uint32_t version, uint32_t size)
{
	daemon_funcs d;

	memset(&d, 0, sizeof(d));
	d.size = size;
	d.version = version;
	d.getBaculaValue = rec_get_value;
	d.JobMessage = rec_job_message;
	d.DebugMessage = rec_debug_message;
	return d;
}

/* ---------------------------------------------------------------- cases */

/* A test name with values in it (is_int and is_str take a plain name). */
static const char * __attribute__((format(printf, 1, 2)))
nm(const char *fmt, ...)
{
	static char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

typedef struct iface_case {
	uint32_t version;
	uint32_t bfuncs_size, pfuncs_size;
	int info, warning, error, fatal; /* M_INFO, M_WARNING, M_ERROR, M_FATAL */
	int where;                       /* bVarWhere */
} iface_case;

static const iface_case cases[] = {
	{ 14, 144, 128, 6, 5, 4, 3, 14 },
	{ 21, 144, 144, 6, 5, 4, 3, 14 },
	{ 22, 152, 152, 7, 6, 5, 4, 15 },
	{ 23, 168, 168, 7, 6, 5, 4, 15 },
};

/* The layer's own tables, as the loader and the unit see them. */
static void
test_tables(const bacula_layer *l, const iface_case *c)
{
	is_int(l->version, c->version, nm("layer %u: speaks interface %u", c->version, c->version));
	is_int(l->msg_types[FDHOST_INFO], c->info, nm("layer %u: info is type %d", c->version, c->info));
	is_int(l->msg_types[FDHOST_WARNING], c->warning, nm("layer %u: warning is type %d", c->version, c->warning));
	is_int(l->msg_types[FDHOST_ERROR], c->error, nm("layer %u: error is type %d", c->version, c->error));
	is_int(l->msg_types[FDHOST_FATAL], c->fatal, nm("layer %u: fatal is type %d", c->version, c->fatal));
	is_int(l->var_ids[FDHOST_JOBID], 1, nm("layer %u: the job id is variable 1", c->version));
	is_int(l->var_ids[FDHOST_JOBNAME], 6, nm("layer %u: the job name is variable 6", c->version));
	is_int(l->var_ids[FDHOST_WHERE], c->where, nm("layer %u: where is variable %d", c->version, c->where));
}

/* loadPlugin with a daemon of that interface: its pInfo, its pFuncs, and messages of its numbers. */
static void
test_load(const iface_case *c)
{
	daemon_funcs d = daemon_of(c->version, c->bfuncs_size);
	bInfo binfo = { sizeof(bInfo), c->version };
	pInfo *pi = NULL;
	void *pf = NULL;
	const uint32_t *pfhead;
	bpContext ctx = { NULL, NULL };
	const char *s = NULL;
	int id = 0;

	loaded_host = NULL;
	ok(loadPlugin(&binfo, &d, &pi, &pf) == bRC_OK, "interface %u: loadPlugin accepts it", c->version);
	if (pi == NULL || pf == NULL || loaded_host == NULL) {
		skip("interface %u: nothing loaded", c->version);
		return;
	}
	is_int(pi->version, c->version, nm("interface %u: pInfo.version is %u", c->version, c->version));
	is_int(pi->size, 56, nm("interface %u: pInfo is 56 bytes", c->version));
	is_str(pi->plugin_license, "AGPLv3", nm("interface %u: licence AGPLv3", c->version));
	pfhead = pf;
	is_int(pfhead[0], c->pfuncs_size, nm("interface %u: pFuncs.size is %u", c->version, c->pfuncs_size));
	is_int(pfhead[1], c->version, nm("interface %u: pFuncs.version is %u", c->version, c->version));
	is_int(loaded_host->version, c->version, nm("interface %u: the logic gets that interface's host", c->version));
	loaded_host->message((fdhost_ctx *)&ctx, FDHOST_FATAL, "boom");
	is_int(last_type, c->fatal, nm("interface %u: a fatal message goes out as type %d", c->version, c->fatal));
	is_str(last_text, "mongo-fd: boom\n", nm("interface %u: the line, named and ended", c->version));
	loaded_host->message((fdhost_ctx *)&ctx, FDHOST_INFO, "fine");
	is_int(last_type, c->info, nm("interface %u: an info message goes out as type %d", c->version, c->info));
	ok(loaded_host->get_str((fdhost_ctx *)&ctx, FDHOST_WHERE, &s) && last_var == c->where,
	   "interface %u: where is read as variable %d", c->version, c->where);
	ok(loaded_host->get_int((fdhost_ctx *)&ctx, FDHOST_JOBID, &id) && id == 42 && last_var == 1,
	   "interface %u: the job id is read as variable 1", c->version);
	unloads = 0;
	unloadPlugin();
	is_int(unloads, 1, nm("interface %u: unloadPlugin stops the logic once", c->version));
}

/* A refused version: bRC_Error, nothing handed back, the logic never started, unloadPlugin harmless. */
static void
test_refused(uint32_t version, uint32_t size, bool daemon_message)
{
	daemon_funcs d = daemon_of(version, size);
	bInfo binfo = { sizeof(bInfo), version };
	pInfo *pi = NULL;
	void *pf = NULL;
	int before = loads;

	job_messages = 0;
	last_text[0] = '\0';
	ok(loadPlugin(&binfo, &d, &pi, &pf) == bRC_Error, "interface %u: loadPlugin refuses it", version);
	ok(pi == NULL && pf == NULL, "interface %u: no pInfo or pFuncs handed back", version);
	is_int(loads, before, nm("interface %u: the logic is not started", version));
	if (daemon_message) {
		is_int(job_messages, 1, nm("interface %u: one daemon message", version));
		ok(strstr(last_text, "plugin interface ") != NULL &&
		   strstr(last_text, "speaks 14 (Bacula 9.0 to 9.6), 21 (Bacula 11.0), 22 (Bacula 13.0) and 23 "
		                     "(Bacula 15.0)") != NULL,
		   "interface %u: it names the version seen and the ones spoken: %s", version, last_text);
	} else {
		is_int(job_messages, 0, nm("interface %u: no call into the daemon's table", version));
	}
	unloads = 0;
	unloadPlugin();
	is_int(unloads, 0, nm("interface %u: unloadPlugin after the refusal stops nothing", version));
}

int
main(void)
{
	static const bacula_layer *const layers[] = { &bacula14, &bacula21, &bacula22, &bacula23 };
	daemon_funcs d = daemon_of(22, 152);
	bInfo binfo = { sizeof(bInfo), 22 };
	pInfo *pi = NULL;
	void *pf = NULL;
	size_t i;

	tap_init();
	/* the refusals write a line on stderr: keep TAP's output readable */
	if (freopen("/dev/null", "w", stderr) == NULL)
		return 1;
	for (i = 0; i < 4; i++)
		test_tables(layers[i], &cases[i]);
	for (i = 0; i < 4; i++)
		test_load(&cases[i]);
	test_refused(99, 168, true);
	test_refused(15, 144, true);
	test_refused(13, 144, true);
	test_refused(10, 144, false);
	test_refused(0, 144, false);
	d.JobMessage = NULL;
	ok(loadPlugin(&binfo, &d, &pi, &pf) == bRC_Error && pi == NULL,
	   "interface 22 without JobMessage: refused, not half loaded");
	d = daemon_of(22, 40);
	ok(loadPlugin(&binfo, &d, &pi, &pf) == bRC_Error && pi == NULL,
	   "interface 22 with a 40-byte callback table: refused");
	ok(loadPlugin(NULL, &d, &pi, &pf) == bRC_Error, "no bInfo: refused");
	unloadPlugin();
	return tap_done();
}
