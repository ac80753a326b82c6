/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* restore.c: a plugin restore: the stored stream into script.restore, or into a file under where. */
#include "autoconfig.h"

#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "jobint.h"
#include "restore.h"
#include "run.h"
#include "safefile.h"
#include "streamname.h"
#include "testtime.h"

struct mbh_restore {
	const mbh_config *cfg;
	mbh_logger *log;
	char *job_name;
	char *where;
	int cancel_pipe[2];     /* mbh_restore_cancel writes [1] */
	mbh_child *child;       /* script.restore, or NULL */
	int fd;                 /* the file, or -1 */
	char *target;           /* the file's path, or the command's base name, for messages */
	int64_t started_ms;
	int64_t bytes;
};

static char *
dup_or_empty(const char *s)
{
	return strdup(s != NULL ? s : "");
}

/* See restore.h. */
int
mbh_restore_new(mbh_restore **out, const mbh_restore_params *p, mbh_error *err)
{
	mbh_restore *r;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	r->cfg = p->cfg;
	r->log = p->log;
	r->fd = -1;
	r->cancel_pipe[0] = r->cancel_pipe[1] = -1;
	r->job_name = dup_or_empty(p->job_name);
	r->where = dup_or_empty(p->where);
	if (r->job_name == NULL || r->where == NULL || pipe2(r->cancel_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		mbh_restore_free(r);
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	*out = r;
	return 0;
}

/* The command's base name, for messages. */
static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL && s[1] != '\0' ? s + 1 : path;
}

/* Start script.restore with the stored name's set and member and the core's command environment. */
static int
open_command(mbh_restore *r, const mbh_stream_name *sn, mbh_error *err)
{
	mbh_state_rec rec;
	mbh_cmd_env x;
	const char *env[10];
	char *where_env = NULL, **argv = NULL, env_cluster[200], env_comp[200];
	int n = 0, rc = -1;

	memset(&rec, 0, sizeof(rec));
	/* a cluster's component: the stored name holds the component (shard _id or "config"), not its set */
	snprintf(rec.set_name, sizeof(rec.set_name), "%s", sn->cluster[0] != '\0' ? sn->component : sn->set);
	snprintf(rec.member, sizeof(rec.member), "%s", sn->member);
	snprintf(rec.job, sizeof(rec.job), "%s", r->job_name);
	mbh_cmd_env_fill(&x, &rec);
	while (x.env[n] != NULL && n < 6) {
		env[n] = x.env[n];
		n++;
	}
	if (asprintf(&where_env, "MONGO_BACKUP_WHERE=%s", r->where) < 0) {
		where_env = NULL;
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	env[n++] = where_env;
	if (sn->cluster[0] != '\0') {
		snprintf(env_cluster, sizeof(env_cluster), "MONGO_BACKUP_CLUSTER=%s", sn->cluster);
		snprintf(env_comp, sizeof(env_comp), "MONGO_BACKUP_COMPONENT=%s", sn->component);
		env[n++] = env_cluster;
		env[n++] = env_comp;
	}
	env[n] = NULL;
	if ((r->target = strdup(base_name(r->cfg->script.restore[0]))) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	if (mbh_run_expand(&argv, (const char *const *)r->cfg->script.restore, &x.vars, err) != 0 ||
	    mbh_child_spawn(&r->child, (const char *const *)argv, env, MBH_RUN_PIPE_STDIN, err) != 0) {
		mbh_error_prefix(err, "the restore command did not start");
		goto out;
	}
	r->started_ms = mbh_now_ms();
	mbh_logf(r->log, MBH_LOG_INFO, "restoring into %s (pid %ld)", r->cfg->script.restore[0], mbh_child_pid(r->child));
	rc = 0;
out:
	mbh_strv_free(argv);
	free(where_env);
	return rc;
}

/* See restore.h. */
int
mbh_restore_open(mbh_restore *r, const char *path, mbh_error *err)
{
	mbh_stream_name sn;
	char *base = NULL;
	int rc = -1;

	if (r->child != NULL || r->fd >= 0)
		return mbh_error_set(err, EX_SOFTWARE, "a restore is already open");
	if (mbh_stream_name_parse(path, &sn, err) != 0)
		return -1;
	if (r->cfg->script.restore != NULL)
		return open_command(r, &sn, err);
	if ((base = strndup(path, sn.base_len)) == NULL || (r->target = strdup(path)) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	if (mbh_safefile_create(&r->fd, base, path + sn.base_len, err) != 0)
		goto out;
	mbh_logf(r->log, MBH_LOG_INFO, "writing %s (no script.restore in %s)", path, r->cfg->source);
	rc = 0;
out:
	free(base);
	return rc;
}

/* The deadline of the command's writes and wait: script.timeout from its start (0 = none). */
static int64_t
deadline_ms(const mbh_restore *r)
{
	return r->cfg->script.timeout > 0 ? r->started_ms + mbh_seconds_ms(r->cfg->script.timeout) : 0;
}

/* How much the command read: what was written minus what it left in the pipe. */
static int64_t
read_by_child(const mbh_restore *r)
{
	long long unread = mbh_child_stdin_unread(r->child);

	return unread < 0 ? r->bytes : r->bytes - unread;
}

/* Stop the command and reap it; *status its status. */
static void
stop_child(mbh_restore *r, int *status)
{
	mbh_child_kill_wait(r->child, 3000);
	mbh_child_reap(r->child, status, NULL);
}

/* The verdict on a command that exited by itself (reaped here) having read got of the offered bytes. */
static int
gone_error(mbh_restore *r, int64_t got, int64_t offered, mbh_error *err)
{
	int status = -1;

	mbh_child_reap(r->child, &status, NULL);
	return mbh_error_set(err, EX_DATAERR, "the restore command %s exited with status %d after reading %lld of %lld "
			     "bytes; the restore is incomplete", r->target, status, (long long)got, (long long)offered);
}

/* See restore.h. */
int
mbh_restore_write(mbh_restore *r, const char *buf, size_t len, mbh_error *err)
{
	size_t in = 0;
	int64_t offered;
	int rc, status;

	if (r->fd >= 0) {
		if (mbh_fdio_write_all(r->fd, buf, len) != 0)
			return mbh_error_set(err, EX_IOERR, "writing %s failed: %s", r->target, strerror(errno));
		r->bytes += (int64_t)len;
		return 0;
	}
	if (r->child == NULL)
		return mbh_error_set(err, EX_SOFTWARE, "no restore is open");
	rc = mbh_child_feed(r->child, buf, len, &in, deadline_ms(r), r->cancel_pipe[0], err);
	offered = r->bytes + (int64_t)len;
	r->bytes += (int64_t)in; /* what went into the pipe: read_by_child counts from it */
	if (rc < 0)
		return -1;
	if (rc == MBH_FEED_CANCELLED)
		return mbh_error_set(err, EX_TEMPFAIL, "the restore was cancelled");
	if (rc == MBH_FEED_TIMEOUT) {
		stop_child(r, &status);
		return mbh_error_set(err, EX_TEMPFAIL, "the restore command %s did not finish within script.timeout (%d s): "
				     "it was stopped; the restore is incomplete", r->target, r->cfg->script.timeout);
	}
	if (rc == MBH_FEED_GONE)
		return gone_error(r, read_by_child(r), offered, err);
	return 0;
}

/* See restore.h. */
int
mbh_restore_close(mbh_restore *r, mbh_error *err)
{
	int64_t deadline, left, got;
	mbh_error e;
	int status = -1;

	if (r->fd >= 0) {
		int fd = r->fd;

		r->fd = -1;
		if (fsync(fd) != 0 || close(fd) != 0)
			return mbh_error_set(err, EX_IOERR, "writing %s failed: %s", r->target, strerror(errno));
		mbh_logf(r->log, MBH_LOG_INFO, "wrote %lld bytes to %s", (long long)r->bytes, r->target);
		return 0;
	}
	if (r->child == NULL)
		return mbh_error_set(err, EX_SOFTWARE, "no restore is open");
	mbh_child_close_stdin(r->child);
	deadline = deadline_ms(r);
	left = 0;
	if (deadline > 0) {
		left = deadline - mbh_now_ms();
		left = left < 1 ? 1 : left;
	}
	mbh_error_init(&e);
	if (mbh_child_await(r->child, left, r->cancel_pipe[0], -1, &e) != 0) {
		stop_child(r, &status);
		if (strstr(e.msg, "cancelled") != NULL)
			return mbh_error_set(err, EX_TEMPFAIL, "the restore was cancelled");
		return mbh_error_set(err, EX_TEMPFAIL, "the restore command %s did not finish within script.timeout (%d s): "
				     "it was stopped; the restore is incomplete", r->target, r->cfg->script.timeout);
	}
	got = read_by_child(r);
	if (got < r->bytes)
		return gone_error(r, got, r->bytes, err);
	mbh_child_reap(r->child, &status, NULL);
	if (status != 0)
		return mbh_error_set(err, EX_DATAERR, "the restore command %s exited with status %d: the restore failed; "
				     "see its own output", r->target, status);
	mbh_logf(r->log, MBH_LOG_INFO, "%s accepted %lld bytes (status 0) after %.3f s", r->target, (long long)r->bytes,
		 (double)(mbh_now_ms() - r->started_ms) / 1000.0);
	return 0;
}

/* See restore.h. */
void
mbh_restore_cancel(mbh_restore *r)
{
	char b = 1;

	if (write(r->cancel_pipe[1], &b, 1) < 0)
		b = 0;
}

int64_t
mbh_restore_bytes(const mbh_restore *r)
{
	return r->bytes;
}

/* See restore.h. */
void
mbh_restore_free(mbh_restore *r)
{
	if (r == NULL)
		return;
	mbh_child_free(r->child);
	if (r->fd >= 0)
		close(r->fd);
	if (r->cancel_pipe[0] >= 0)
		close(r->cancel_pipe[0]);
	if (r->cancel_pipe[1] >= 0)
		close(r->cancel_pipe[1]);
	free(r->job_name);
	free(r->where);
	free(r->target);
	free(r);
}
