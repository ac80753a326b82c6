/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* metrics.c: the Prometheus textfile of one replica set: render it from the record and the counters, write it atomically. */
#include "autoconfig.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "fdio.h"
#include "metrics.h"

#define COUNTERS_MAX 4096
#define LOCK_TRIES 20 /* the counters file replaced under us this many times in a row: give up the flock */

static const char *const reason_names[MBH_METRICS_FAIL_N] = { "lock", "command", "cancelled", "unlock", "stream" };

const char *
mbh_metrics_reason_name(mbh_metrics_reason r)
{
	return r >= 0 && r < MBH_METRICS_FAIL_N ? reason_names[r] : "unknown";
}

void
mbh_metrics_init(mbh_metrics *m, const mbh_config *cfg, mbh_logger *lg)
{
	memset(m, 0, sizeof(*m));
	m->textfile = cfg->metrics.textfile;
	m->state_dir = cfg->state_dir;
	m->fsync = cfg->metrics.fsync > 0;
	m->log = lg;
}

void
mbh_metrics_counters_init(mbh_metrics_counters *c)
{
	memset(c, 0, sizeof(*c));
	c->last_run_ok = -1;
	c->last_run_duration = -1;
	c->last_lock_duration = -1;
	c->last_run_bytes = -1;
}

void
mbh_metrics_apply(mbh_metrics_counters *c, const mbh_metrics_event *ev, double now)
{
	switch (ev->kind) {
	case MBH_METRICS_CHANGED:
		break;
	case MBH_METRICS_RELEASED:
		c->last_lock_duration = ev->since > 0 && now >= ev->since ? now - ev->since : -1;
		if (ev->by_watchdog)
			c->watchdog_unlocks++;
		break;
	case MBH_METRICS_SUCCESS:
	case MBH_METRICS_FAILURE:
		if (ev->kind == MBH_METRICS_SUCCESS) {
			c->successes++;
			c->last_success = now;
		} else if (ev->reason >= 0 && ev->reason < MBH_METRICS_FAIL_N) {
			c->failures[ev->reason]++;
		}
		c->last_run = now;
		c->last_run_ok = ev->kind == MBH_METRICS_SUCCESS;
		c->last_run_duration = ev->since > 0 && now >= ev->since ? now - ev->since : -1;
		c->last_run_bytes = ev->bytes;
		if (ev->bytes > 0)
			c->streamed_bytes += (uint64_t)ev->bytes;
		break;
	}
}

int
mbh_metrics_counters_format(const mbh_metrics_counters *c, char *buf, size_t len)
{
	size_t off = 0;
	int n, i;

#define PUT(...)                                                                 \
	do {                                                                     \
		n = snprintf(buf + off, len - off, __VA_ARGS__);                 \
		if (n < 0 || (size_t)n >= len - off)                             \
			return -1;                                               \
		off += (size_t)n;                                                \
	} while (0)
	PUT("successes_total %llu\n", (unsigned long long)c->successes);
	for (i = 0; i < MBH_METRICS_FAIL_N; i++)
		PUT("failures_total.%s %llu\n", reason_names[i], (unsigned long long)c->failures[i]);
	PUT("watchdog_unlocks_total %llu\n", (unsigned long long)c->watchdog_unlocks);
	PUT("streamed_bytes_total %llu\n", (unsigned long long)c->streamed_bytes);
	PUT("last_success %.3f\n", c->last_success);
	PUT("last_run %.3f\n", c->last_run);
	PUT("last_run_ok %d\n", c->last_run_ok);
	PUT("last_run_duration %.3f\n", c->last_run_duration);
	PUT("last_lock_duration %.3f\n", c->last_lock_duration);
	PUT("last_run_bytes %lld\n", (long long)c->last_run_bytes);
#undef PUT
	return (int)off;
}

int
mbh_metrics_counters_parse(mbh_metrics_counters *c, const char *text, mbh_error *err)
{
	char name[64], value[64], *end;
	const char *p = text, *nl;
	unsigned long long u;
	double d;
	int line = 0, i;

	mbh_metrics_counters_init(c);
	for (; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		line++;
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		if (nl == p)
			continue;
		if (nl - p >= 120 || sscanf(p, "%63s %63s", name, value) != 2)
			return mbh_error_set(err, EX_DATAERR, "line %d: not \"name value\"", line);
		errno = 0;
		d = strtod(value, &end);
		if (errno != 0 || *end != '\0')
			return mbh_error_set(err, EX_DATAERR, "line %d: %s is not a number", line, name);
		u = d >= 0 ? strtoull(value, NULL, 10) : 0;
		if (strcmp(name, "successes_total") == 0)
			c->successes = u;
		else if (strcmp(name, "watchdog_unlocks_total") == 0)
			c->watchdog_unlocks = u;
		else if (strcmp(name, "streamed_bytes_total") == 0)
			c->streamed_bytes = u;
		else if (strcmp(name, "last_success") == 0)
			c->last_success = d;
		else if (strcmp(name, "last_run") == 0)
			c->last_run = d;
		else if (strcmp(name, "last_run_ok") == 0)
			c->last_run_ok = d > 0 ? 1 : d < 0 ? -1 : 0;
		else if (strcmp(name, "last_run_duration") == 0)
			c->last_run_duration = d;
		else if (strcmp(name, "last_lock_duration") == 0)
			c->last_lock_duration = d;
		else if (strcmp(name, "last_run_bytes") == 0)
			c->last_run_bytes = (int64_t)d;
		else if (strncmp(name, "failures_total.", 15) == 0)
			for (i = 0; i < MBH_METRICS_FAIL_N; i++)
				if (strcmp(name + 15, reason_names[i]) == 0)
					c->failures[i] = u;
	}
	return 0;
}

/* Append the exposition escape of s (backslash and quote; no newline in s) to f. */
static void
put_quoted_part(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		fputc(*s, f);
	}
}

char *
mbh_metrics_label_escape(const char *value)
{
	char *out = NULL, *part;
	const char *p = value != NULL ? value : "", *nl;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&out, &len)) == NULL)
		return NULL;
	for (;;) {
		nl = strchr(p, '\n');
		if ((part = mbh_escape_dup(p, nl != NULL ? (size_t)(nl - p) : strlen(p))) == NULL) {
			fclose(f);
			free(out);
			return NULL;
		}
		put_quoted_part(f, part);
		free(part);
		if (nl == NULL)
			break;
		fputs("\\n", f);
		p = nl + 1;
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* One family's HELP and TYPE lines. */
static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int
mbh_metrics_render(char **out, const char *set, const mbh_state_rec *rec, bool present, bool rec_ok,
		   const mbh_metrics_counters *c, mbh_error *err)
{
	char *text = NULL, *s = NULL, *member = NULL, *job = NULL, *lk = NULL;
	bool locked = !rec_ok || (present && rec->phase != MBH_PHASE_SNAPSHOT);
	bool snap = rec_ok && present && rec->snapshot[0] != '\0';
	size_t len = 0;
	FILE *f = NULL;
	int rc = -1, i;

	*out = NULL;
	s = mbh_metrics_label_escape(set);
	member = mbh_metrics_label_escape(!rec_ok ? "unknown" : present ? rec->member : "");
	job = mbh_metrics_label_escape(rec_ok && present ? rec->job : "");
	if (s == NULL || member == NULL || job == NULL ||
	    asprintf(&lk, "set=\"%s\",member=\"%s\",job=\"%s\"", s, member, job) < 0 || (f = open_memstream(&text, &len)) == NULL) {
		lk = NULL;
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	family(f, "mongo_backup_locked", "gauge",
	       "1 while a member of the set is fsync-locked by mongo-backup (or may be: the lock is being taken).");
	if (locked)
		fprintf(f, "mongo_backup_locked{%s} 1\n", lk);
	else
		fprintf(f, "mongo_backup_locked{set=\"%s\"} 0\n", s);
	if (locked && rec_ok) {
		family(f, "mongo_backup_lock_start_timestamp_seconds", "gauge",
		       "When the lock that is held was started (its intent recorded), unix seconds.");
		fprintf(f, "mongo_backup_lock_start_timestamp_seconds{%s} %lld\n", lk, (long long)rec->since);
		if (rec->deadline > 0) {
			family(f, "mongo_backup_lock_deadline_timestamp_seconds", "gauge",
			       "When the lock that is held ends at the latest (lock.max_seconds: the watchdog unlocks), unix seconds.");
			fprintf(f, "mongo_backup_lock_deadline_timestamp_seconds{%s} %lld\n", lk, (long long)rec->deadline);
		}
	}
	family(f, "mongo_backup_snapshot_present", "gauge",
	       "1 while a snapshot taken in snapshot mode exists and mongo-postbackup has not removed it.");
	if (snap) {
		fprintf(f, "mongo_backup_snapshot_present{%s} 1\n", lk);
		family(f, "mongo_backup_snapshot_timestamp_seconds", "gauge", "When the snapshot that exists was taken, unix seconds.");
		fprintf(f, "mongo_backup_snapshot_timestamp_seconds{%s} %lld\n", lk, (long long)rec->snapshot_since);
	} else {
		fprintf(f, "mongo_backup_snapshot_present{set=\"%s\"} 0\n", s);
	}
	family(f, "mongo_backup_last_success_timestamp_seconds", "gauge",
	       "When the last successful run ended, unix seconds; 0 when none has yet.");
	fprintf(f, "mongo_backup_last_success_timestamp_seconds{set=\"%s\"} %.3f\n", s, c->last_success);
	if (c->last_run_ok >= 0) {
		family(f, "mongo_backup_last_run_timestamp_seconds", "gauge", "When the last run ended, unix seconds.");
		fprintf(f, "mongo_backup_last_run_timestamp_seconds{set=\"%s\"} %.3f\n", s, c->last_run);
		family(f, "mongo_backup_last_run_success", "gauge", "1 when the last run succeeded, 0 when it failed.");
		fprintf(f, "mongo_backup_last_run_success{set=\"%s\"} %d\n", s, c->last_run_ok);
	}
	if (c->last_run_duration >= 0) {
		family(f, "mongo_backup_last_run_duration_seconds", "gauge",
		       "How long the last run took, from the lock's start to its end.");
		fprintf(f, "mongo_backup_last_run_duration_seconds{set=\"%s\"} %.3f\n", s, c->last_run_duration);
	}
	if (c->last_lock_duration >= 0) {
		family(f, "mongo_backup_last_lock_duration_seconds", "gauge",
		       "How long the last released lock was held, from its intent to the unlock.");
		fprintf(f, "mongo_backup_last_lock_duration_seconds{set=\"%s\"} %.3f\n", s, c->last_lock_duration);
	}
	if (c->last_run_bytes >= 0) {
		family(f, "mongo_backup_last_run_streamed_bytes", "gauge",
		       "Bytes the last run streamed into the Bacula job (plugin mode).");
		fprintf(f, "mongo_backup_last_run_streamed_bytes{set=\"%s\"} %lld\n", s, (long long)c->last_run_bytes);
	}
	family(f, "mongo_backup_streamed_bytes_total", "counter", "Bytes streamed into Bacula jobs (plugin mode).");
	fprintf(f, "mongo_backup_streamed_bytes_total{set=\"%s\"} %llu\n", s, (unsigned long long)c->streamed_bytes);
	family(f, "mongo_backup_successes_total", "counter", "Runs that ended well.");
	fprintf(f, "mongo_backup_successes_total{set=\"%s\"} %llu\n", s, (unsigned long long)c->successes);
	family(f, "mongo_backup_failures_total", "counter", "Runs that failed, by reason.");
	for (i = 0; i < MBH_METRICS_FAIL_N; i++)
		fprintf(f, "mongo_backup_failures_total{set=\"%s\",reason=\"%s\"} %llu\n", s, reason_names[i],
			(unsigned long long)c->failures[i]);
	family(f, "mongo_backup_watchdog_unlocks_total", "counter",
	       "Locks the watchdog released because they outlived lock.max_seconds.");
	fprintf(f, "mongo_backup_watchdog_unlocks_total{set=\"%s\"} %llu\n", s, (unsigned long long)c->watchdog_unlocks);
	if (fclose(f) != 0) {
		f = NULL;
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	f = NULL;
	*out = text;
	text = NULL;
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(text);
	free(s);
	free(member);
	free(job);
	free(lk);
	return rc;
}

/* Temp file beside path, mode, fsync when durable, rename, fsync the directory when durable. */
static int
replace_file(const char *path, const char *text, mode_t mode, bool durable, mbh_error *err)
{
	char *dir = NULL, *base = NULL, *d = NULL, *b = NULL, *tmp = NULL;
	int fd = -1, dfd, rc = -1, e;

	if ((d = strdup(path)) == NULL || (b = strdup(path)) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	dir = dirname(d);
	base = basename(b);
	if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, base) < 0) {
		tmp = NULL;
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		e = errno;
		free(tmp);
		tmp = NULL;
		mbh_error_set(err, EX_CANTCREAT, "cannot write %s: %s", path, strerror(e));
		goto out;
	}
	if (fchmod(fd, mode) != 0 || mbh_fdio_write_all(fd, text, strlen(text)) != 0 || (durable && fsync(fd) != 0)) {
		mbh_error_set(err, EX_CANTCREAT, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		mbh_error_set(err, EX_CANTCREAT, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		mbh_error_set(err, EX_CANTCREAT, "cannot replace %s: %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if (durable && (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(d);
	free(b);
	return rc;
}

int
mbh_metrics_write_file(const char *path, const char *text, bool durable, mbh_error *err)
{
	/* the node exporter reads it as another user */
	return replace_file(path, text, 0644, durable, err);
}

char *
mbh_metrics_path(const char *templ, const char *set)
{
	const char *pct = strstr(templ, "%s");
	char *out = NULL;

	if (pct == NULL)
		return strdup(templ);
	if (asprintf(&out, "%.*s%s%s", (int)(pct - templ), templ, set, pct + 2) < 0)
		return NULL;
	return out;
}

/* Warn once per run. */
static void
warn_once(mbh_metrics *m, const mbh_error *e)
{
	if (atomic_exchange(&m->warned, true))
		return;
	mbh_logf(m->log, MBH_LOG_WARNING, "metrics: %s (the backup goes on without them: check metrics.textfile and its directory)", e->msg);
}

/*
 * Open and flock DIR/SET.metrics, the one that is in place: a writer
 * replaces it by rename, so a flock won on a file no longer at that path is
 * dropped and taken again.  -1 with err when it cannot be opened.
 */
static int
lock_counters(const char *path, mbh_error *err)
{
	struct stat a, b;
	int fd, tries;

	for (tries = 0; tries < LOCK_TRIES; tries++) {
		if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
			return mbh_error_set(err, EX_CANTCREAT, "cannot open %s: %s", path, strerror(errno));
		while (flock(fd, LOCK_EX) != 0 && errno == EINTR)
			;
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		close(fd);
	}
	return mbh_error_set(err, EX_TEMPFAIL, "%s keeps being replaced", path);
}

/* Read what fd holds (at most COUNTERS_MAX bytes) into c; an empty file is no counts yet. */
static int
read_counters(int fd, mbh_metrics_counters *c, mbh_error *err)
{
	char buf[COUNTERS_MAX + 1];
	size_t used = 0;
	ssize_t r;

	while (used < COUNTERS_MAX && (r = pread(fd, buf + used, COUNTERS_MAX - used, (off_t)used)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return mbh_error_set(err, EX_IOERR, "cannot read: %s", strerror(errno));
		used += (size_t)r;
	}
	buf[used] = '\0';
	return mbh_metrics_counters_parse(c, buf, err);
}

void
mbh_metrics_note(mbh_metrics *m, const char *set, const mbh_metrics_event *ev)
{
	mbh_metrics_counters c;
	mbh_state_rec rec;
	mbh_error e;
	struct timespec now;
	char *cpath = NULL, *ppath = NULL, *text = NULL, buf[COUNTERS_MAX];
	bool present = false, rec_ok;
	int fd = -1, n;

	if (m == NULL || m->textfile == NULL || !mbh_state_set_name_ok(set))
		return;
	mbh_error_init(&e);
	mbh_metrics_counters_init(&c);
	if (asprintf(&cpath, "%s/%s.metrics", m->state_dir, set) < 0) {
		cpath = NULL;
		goto out;
	}
	if ((ppath = mbh_metrics_path(m->textfile, set)) == NULL)
		goto out;
	/* the counters: a file that cannot be kept is a warning; the textfile is still written */
	if ((fd = lock_counters(cpath, &e)) < 0) {
		warn_once(m, &e);
	} else if (read_counters(fd, &c, &e) != 0) {
		mbh_error_prefix(&e, "%s: counting again from zero", cpath);
		warn_once(m, &e);
		mbh_metrics_counters_init(&c);
	}
	clock_gettime(CLOCK_REALTIME, &now);
	mbh_metrics_apply(&c, ev, (double)now.tv_sec + (double)now.tv_nsec / 1e9);
	mbh_error_init(&e);
	if (fd >= 0 && ev->kind != MBH_METRICS_CHANGED &&
	    ((n = mbh_metrics_counters_format(&c, buf, sizeof(buf))) < 0 || replace_file(cpath, buf, 0600, m->fsync, &e) != 0))
		warn_once(m, &e);
	/* the lock: from the record, read now, under the same flock as every other writer of the textfile */
	mbh_error_init(&e);
	rec_ok = mbh_state_peek(m->state_dir, set, &rec, &present, &e) == 0;
	mbh_error_init(&e);
	if (mbh_metrics_render(&text, set, &rec, present, rec_ok, &c, &e) != 0 ||
	    mbh_metrics_write_file(ppath, text, m->fsync, &e) != 0)
		warn_once(m, &e);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(cpath);
	free(ppath);
}

/* See metrics.h. */
void
mbh_metrics_note_release(mbh_metrics *m, const mbh_state_rec *rec, bool released, bool by_watchdog)
{
	mbh_metrics_note(m, rec->set_name,
			 &(mbh_metrics_event){ .kind = released ? MBH_METRICS_RELEASED : MBH_METRICS_CHANGED,
					       .since = (double)rec->since, .by_watchdog = released && by_watchdog });
}
