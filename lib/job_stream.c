/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* job_stream.c: the backup command's stdout read as one stream, under the one deadline rule and the idle watch. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jobint.h"
#include "testtime.h"

/* See job.h. */
int
mbh_job_stream_open(mbh_job *j, mbh_error *err)
{
	int fd = -1, rc = -1;
	bool watch;

	pthread_mutex_lock(&j->mu);
	if (j->stream.fd >= 0) {
		mbh_error_set(err, EX_SOFTWARE, "the stream is already open");
		goto out;
	}
	if (j->child == NULL || mbh_child_stdout_fd(j->child) < 0) {
		mbh_error_set(err, EX_SOFTWARE, "no command output to read");
		goto out;
	}
	/* our own descriptor: only the owner's mbh_job_wait frees the child, but this one is never closed under a reader */
	if ((fd = fcntl(mbh_child_stdout_fd(j->child), F_DUPFD_CLOEXEC, 3)) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		mbh_error_set(err, EX_OSERR, "cannot read the output of %s: %s", j->cmd_name, strerror(errno));
		goto out;
	}
	j->stream.fd = fd;
	fd = -1;
	j->stream.at_end = false;
	j->stream.bytes = 0;
	mbh_error_init(&j->stream.failed);
	rc = 0;
out:
	watch = rc == 0 && j->held && !j->snap && j->cfg->script.idle_timeout > 0;
	pthread_mutex_unlock(&j->mu);
	if (fd >= 0)
		close(fd);
	if (watch && mbh_job_async_watch(j, mbh_seconds_ms(j->cfg->script.idle_timeout), err) != 0)
		return -1;
	return rc;
}

/* The deadline rule ended the stream: stop the command (SIGTERM; the close kills what is left) and say why. */
static int
deadline_passed(mbh_job *j, int rule, mbh_error *err)
{
	char what[100];

	snprintf(what, sizeof(what), "the backup command %s", j->cmd_name);
	mbh_job_deadline_error(j, rule, what, &j->stream.failed);
	pthread_mutex_lock(&j->mu);
	if (j->child != NULL && j->child_pgid != 0)
		mbh_child_kill(j->child, SIGTERM);
	pthread_mutex_unlock(&j->mu);
	*err = j->stream.failed;
	return -1;
}

/* See job.h. */
int
mbh_job_stream_read(mbh_job *j, char *buf, size_t len, size_t *got, mbh_error *err)
{
	struct pollfd pf[3];
	int64_t deadline, left;
	ssize_t n;
	int rule, nfds, rc = -1;

	*got = 0;
	if (j->stream.fd < 0)
		return mbh_error_set(err, EX_SOFTWARE, "the stream is not open");
	if (j->stream.failed.code != 0) {
		*err = j->stream.failed;
		return -1;
	}
	while (*got < len) {
		if (mbh_job_async_idle(j, err))
			goto out;
		if (mbh_job_cancelled(j)) {
			mbh_error_set(err, EX_TEMPFAIL, "cancelled");
			goto out;
		}
		deadline = mbh_job_deadline_ms(j, &rule);
		left = deadline > 0 ? deadline - mbh_now_ms() : -1;
		if (deadline > 0 && left <= 0) {
			deadline_passed(j, rule, err);
			goto out;
		}
		n = read(j->stream.fd, buf + *got, len - *got);
		if (n > 0) {
			*got += (size_t)n;
			continue;
		}
		if (n == 0) {
			j->stream.at_end = true;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			mbh_error_set(err, EX_IOERR, "reading the output of %s failed: %s", j->cmd_name, strerror(errno));
			goto out;
		}
		/* the pipe is empty: wait for more, its end, a cancel or the deadline */
		nfds = 0;
		pf[nfds].fd = j->stream.fd;
		pf[nfds++].events = POLLIN;
		pf[nfds].fd = j->cancel_pipe[0];
		pf[nfds++].events = POLLIN;
		if (j->cancel_fd >= 0) {
			pf[nfds].fd = j->cancel_fd;
			pf[nfds++].events = POLLIN;
		}
		if (poll(pf, (nfds_t)nfds, left < 0 || left > INT_MAX ? -1 : (int)left) < 0 && errno != EINTR) {
			mbh_error_set(err, EX_OSERR, "waiting for the output of %s failed: %s", j->cmd_name, strerror(errno));
			goto out;
		}
	}
	/* an end that the idle rule's unlock caused (it killed the command) is no end */
	if (j->stream.at_end && mbh_job_async_idle(j, err))
		goto out;
	if (*got > 0)
		mbh_job_async_progress(j);
	rc = 0;
out:
	j->stream.bytes += (int64_t)*got;
	if (rc != 0)
		*got = 0;
	return rc;
}

/* See job.h. */
int
mbh_job_stream_close(mbh_job *j, int *status, mbh_error *err)
{
	mbh_error e;
	bool early = !j->stream.at_end;
	int rc;

	*status = -1;
	mbh_job_async_watch(j, 0, NULL);
	if (j->stream.fd >= 0)
		close(j->stream.fd);
	j->stream.fd = -1;
	if (j->child == NULL)
		return mbh_error_set(err, EX_SOFTWARE, "no command runs under this lock");
	if (early) {
		/* the stream is over before its end: so is the command, at once */
		pthread_mutex_lock(&j->mu);
		if (j->child_pgid != 0)
			mbh_child_kill_wait(j->child, 3000);
		pthread_mutex_unlock(&j->mu);
	}
	mbh_error_init(&e);
	rc = mbh_job_wait(j, status, &e);
	if (mbh_job_async_idle(j, err))
		return -1;
	if (j->stream.failed.code != 0) {
		*err = j->stream.failed;
		return -1;
	}
	if (mbh_job_cancelled(j))
		return mbh_error_set(err, EX_TEMPFAIL, "the backup command %s was cancelled", j->cmd_name);
	if (early)
		return mbh_error_set(err, EX_TEMPFAIL, "the stream of %s was closed after %lld bytes, before its end: the "
				     "command was stopped; the backup is incomplete", j->cmd_name,
				     (long long)j->stream.bytes);
	if (rc != 0) {
		*err = e;
		return mbh_error_prefix(err, "the backup command %s", j->cmd_name);
	}
	if (*status > 128)
		return mbh_error_set(err, EX_TEMPFAIL, "the backup command %s was killed by signal %d; the backup is "
				     "incomplete", j->cmd_name, *status - 128);
	if (*status != 0)
		return mbh_error_set(err, EX_DATAERR, "the backup command %s exited with status %d; the backup is "
				     "incomplete; see its error output with: mongo-prebackup -c %s --exec >/dev/null",
				     j->cmd_name, *status, j->cfg->source);
	if (j->stream.bytes == 0 && j->cfg->script.allow_empty <= 0)
		return mbh_error_set(err, EX_DATAERR, "the backup command %s wrote nothing and exited with status 0: the "
				     "backup would be empty; fix the command, or set script.allow_empty = true in %s if "
				     "an empty backup is right", j->cmd_name, j->cfg->source);
	return 0;
}

int64_t
mbh_job_stream_bytes(const mbh_job *j)
{
	return j->stream.bytes;
}
