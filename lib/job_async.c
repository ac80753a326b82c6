/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* job_async.c: a job's helper thread: unlocks asked for by threads that must not wait (a cancel, a shutdown), and a stream that makes no progress. */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jobint.h"

/*
 * One thread per job, started on first use and joined by mbh_job_free.  It
 * takes j->mu only through mbh_job_unlock, so a caller that asked for an
 * unlock while the owner holds j->mu across a network call (the lock flow)
 * returns at once; the unlock follows when the flow lets go (and the flow
 * itself undoes a lock it took after a cancel).
 */

/* An absolute CLOCK_MONOTONIC time ms from now's clock value at. */
static struct timespec
at_ms(int64_t at)
{
	struct timespec ts = { .tv_sec = at / 1000, .tv_nsec = (at % 1000) * 1000000L };

	return ts;
}

/* The stream made no progress for script.idle_timeout: say so, stop the command and unlock (without async.mu). */
static void
end_idle_stream(mbh_job *j)
{
	mbh_error e;
	char member[300];

	pthread_mutex_lock(&j->mu);
	snprintf(member, sizeof(member), "%s", j->rec.member);
	pthread_mutex_unlock(&j->mu);
	pthread_mutex_lock(&j->async.mu);
	mbh_error_set(&j->async.idle_err, EX_TEMPFAIL,
		      "the stream of %s made no progress for %lld s (script.idle_timeout) while %s was locked: the "
		      "command was stopped and the member unlocked; if Bacula waits for a volume, let it spool the data "
		      "(SpoolData = yes in the Job) or use snapshot mode, which holds no lock while the stream runs",
		      j->cmd_name, (long long)j->cfg->script.idle_timeout, member);
	j->async.idle_fired = true;
	pthread_mutex_unlock(&j->async.mu);
	mbh_logf(j->log, MBH_LOG_ERROR, "%s", j->async.idle_err.msg);
	mbh_error_init(&e);
	if (mbh_job_unlock(j, &e) != 0)
		mbh_logf(j->log, MBH_LOG_ERROR, "unlocking after the stream stalled failed: %s", e.msg);
	if (j->after_idle != NULL)
		j->after_idle(j->after_idle_ctx);
}

static void *
helper(void *arg)
{
	mbh_job *j = arg;
	mbh_error e;
	struct timespec ts;
	int64_t due, idle;

	pthread_mutex_lock(&j->async.mu);
	while (!j->async.stop) {
		if (j->async.releases > 0) {
			pthread_mutex_unlock(&j->async.mu);
			mbh_error_init(&e);
			if (mbh_job_unlock(j, &e) != 0)
				mbh_logf(j->log, MBH_LOG_ERROR, "unlocking failed: %s", e.msg);
			pthread_mutex_lock(&j->async.mu);
			j->async.releases = 0;
			pthread_cond_broadcast(&j->async.cv);
			continue;
		}
		idle = j->async.idle_fired ? 0 : j->async.idle_ms;
		if (idle > 0) {
			due = j->async.last_ms + idle;
			if (mbh_now_ms() >= due) {
				j->async.idle_ms = 0;
				pthread_mutex_unlock(&j->async.mu);
				end_idle_stream(j);
				pthread_mutex_lock(&j->async.mu);
				continue;
			}
			ts = at_ms(due);
			pthread_cond_timedwait(&j->async.cv, &j->async.mu, &ts);
		} else {
			pthread_cond_wait(&j->async.cv, &j->async.mu);
		}
	}
	pthread_mutex_unlock(&j->async.mu);
	return NULL;
}

/* Start the thread if it is not running; caller holds async.mu. */
static int
ensure_thread(mbh_job *j, mbh_error *err)
{
	sigset_t all, old;
	int rc;

	if (j->async.started)
		return 0;
	/* no signal of the host's is ours to take on this thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&j->async.thread, NULL, helper, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return mbh_error_set(err, EX_OSERR, "cannot start the job's helper thread: %s", strerror(rc));
	j->async.started = true;
	return 0;
}

void
mbh_job_async_init(mbh_job *j)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&j->async.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->async.cv, &ca);
	pthread_condattr_destroy(&ca);
}

void
mbh_job_async_fini(mbh_job *j)
{
	pthread_mutex_lock(&j->async.mu);
	j->async.stop = true;
	pthread_cond_broadcast(&j->async.cv);
	pthread_mutex_unlock(&j->async.mu);
	if (j->async.started)
		pthread_join(j->async.thread, NULL);
	j->async.started = false;
	pthread_mutex_destroy(&j->async.mu);
	pthread_cond_destroy(&j->async.cv);
}

int
mbh_job_async_watch(mbh_job *j, int64_t idle_ms, mbh_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&j->async.mu);
	j->async.idle_ms = idle_ms;
	j->async.last_ms = mbh_now_ms();
	if (idle_ms > 0)
		rc = ensure_thread(j, err);
	pthread_cond_broadcast(&j->async.cv);
	pthread_mutex_unlock(&j->async.mu);
	return rc;
}

void
mbh_job_async_progress(mbh_job *j)
{
	pthread_mutex_lock(&j->async.mu);
	j->async.last_ms = mbh_now_ms();
	pthread_mutex_unlock(&j->async.mu);
}

bool
mbh_job_async_idle(mbh_job *j, mbh_error *err)
{
	bool fired;

	pthread_mutex_lock(&j->async.mu);
	fired = j->async.idle_fired;
	if (fired && err != NULL)
		*err = j->async.idle_err;
	pthread_mutex_unlock(&j->async.mu);
	return fired;
}

/* See job.h. */
int
mbh_job_unlock_async(mbh_job *j, mbh_error *err)
{
	int rc;

	pthread_mutex_lock(&j->async.mu);
	if ((rc = ensure_thread(j, err)) == 0) {
		j->async.releases++;
		pthread_cond_broadcast(&j->async.cv);
	}
	pthread_mutex_unlock(&j->async.mu);
	return rc;
}

/* See job.h. */
bool
mbh_job_unlock_wait(mbh_job *j, int timeout_ms)
{
	struct timespec ts = at_ms(mbh_now_ms() + timeout_ms);
	bool done;

	pthread_mutex_lock(&j->async.mu);
	while (j->async.releases > 0 && j->async.started &&
	       pthread_cond_timedwait(&j->async.cv, &j->async.mu, &ts) != ETIMEDOUT)
		;
	done = j->async.releases == 0;
	pthread_mutex_unlock(&j->async.mu);
	return done;
}
